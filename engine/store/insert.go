package store

import (
	"context"
	"fmt"
)

// RemoteRevision is a revision received from a peer, with its history.
type RemoteRevision struct {
	DocID       string
	RevID       string
	History     []string // ancestors newest first, excluding RevID (may be truncated)
	Deleted     bool
	Body        []byte // JSON object; "{}"/nil for tombstones
	NoConflicts bool   // refuse (ErrConflict) if the result would not extend the current revision
	// AdoptDeletion: the revision is the peer's current one (pulled by an active
	// replicator, or pushed under the no-conflicts rules). If it is a deletion and the
	// document has no live leaf once it is inserted, it becomes the current revision: the
	// other deleted leaves that would beat it by the winner rule are removed, with the
	// branches only they descend from (see "Conflicts" in the package documentation).
	// Only tombstones are ever removed.
	AdoptDeletion bool
	// Base, when the revision was received as a delta against the current revision,
	// lets that revision's body be kept as a small delta instead of a full copy (see
	// BaseDelta). Optional; ignored unless it fits.
	Base *BaseDelta
}

// InsertResult reports what PutExistingRevision did.
type InsertResult struct {
	Sequence   uint64 // new sequence (0 if the revision was already present)
	Inserted   bool   // false => already had it (no-op)
	Conflicted bool   // the document now has more than one live leaf
	// Document is the current revision after the insert. Its Body may share the bytes of
	// RemoteRevision.Body (when the received revision is current, stored as received):
	// the caller must not change those while it uses Document.
	Document *Document
}

// validateRemote checks a remote revision and returns its compact body, with what the
// check noticed about it (see remoteBody).
func validateRemote(rev *RemoteRevision) ([]byte, bodyInfo, error) {
	if err := validateDocID(rev.DocID); err != nil {
		return nil, bodyInfo{}, err
	}
	gen, _, err := parseRevID(rev.RevID)
	if err != nil {
		return nil, bodyInfo{}, err
	}
	if len(rev.History) >= gen {
		return nil, bodyInfo{}, fmt.Errorf("%w: %d history entries for generation %d", ErrInvalidRevID, len(rev.History), gen)
	}
	for i, h := range rev.History {
		hg, _, err := parseRevID(h)
		if err != nil {
			return nil, bodyInfo{}, fmt.Errorf("history[%d]: %w", i, err)
		}
		if hg != gen-1-i {
			return nil, bodyInfo{}, fmt.Errorf("%w: history[%d] %s: generation %d, want %d (generations must be consecutive)",
				ErrInvalidRevID, i, h, hg, gen-1-i)
		}
	}
	// Consecutive generations already make the IDs distinct from each other and from RevID.
	return remoteBody(rev.Deleted, rev.Body)
}

// remoteBody returns the compact body of a received revision: "{}" for a tombstone sent
// without one; and what compacting it noticed (bodyInfo), so that the insert need not
// scan the body again for blob references (usableBaseDelta).
func remoteBody(deleted bool, body []byte) ([]byte, bodyInfo, error) {
	if deleted && len(body) == 0 {
		return emptyObject(), bodyInfo{}, nil
	}
	if len(body) == 0 {
		return nil, bodyInfo{}, fmt.Errorf("%w: missing body", ErrInvalidJSON)
	}
	return compactInfo(body, keysAttachmentsAllowed)
}

// PutExistingRevision inserts a revision received from a peer together with
// its history. It grafts onto the newest ancestor in History that is known;
// if none is known the chain becomes a new branch (a conflict, unless the
// other leaves are deleted). Already-known revisions are a no-op.
func (b *Batch) PutExistingRevision(c *Collection, rev RemoteRevision) (InsertResult, error) {
	res, err := b.putExisting(c, &rev)
	if err != nil {
		return InsertResult{}, fmt.Errorf("insert revision %s of %q: %w", rev.RevID, rev.DocID, err)
	}
	return res, nil
}

func (b *Batch) putExisting(c *Collection, rev *RemoteRevision) (InsertResult, error) {
	if err := b.start(); err != nil {
		return InsertResult{}, err
	}
	defer b.end()
	if err := b.checkColl(c); err != nil {
		return InsertResult{}, err
	}
	body, info, err := validateRemote(rev)
	if err != nil {
		return InsertResult{}, err
	}
	b.reverse = usableBaseDelta(rev.DocID, rev.Base, rev.Body, body, info)
	defer func() { b.reverse = nil }()
	// Most revisions received by a new database create their document: try that in a
	// single statement first (see insertFirstMaxBody).
	if tryInsertFirst && !rev.Deleted && len(body) <= insertFirstMaxBody {
		res, ok, err := b.insertNewRemote(c, rev, body)
		if err != nil || ok {
			return res, err
		}
	}
	row, err := b.loadDoc(c, rev.DocID)
	if err != nil {
		return InsertResult{}, err
	}
	t := &revTree{}
	if row != nil {
		t = row.tree
		if t.find(rev.RevID) >= 0 {
			doc, err := b.currentDocument(c, rev.DocID, row, t)
			return InsertResult{Document: doc}, err
		}
	}
	graft, known := -1, len(rev.History)
	for i, h := range rev.History {
		if j := t.find(h); j >= 0 {
			graft, known = j, i
			break
		}
	}
	if rev.NoConflicts && row != nil {
		// Sync Gateway's no-conflicts rules: the revision extends the current one; or it
		// is a tombstone closing a live leaf (it adds no live branch); or the document is
		// deleted and the revision shares no known ancestry with it (the document created
		// again on a branch of its own).
		cur := t.winner()
		closesLiveLeaf := rev.Deleted && graft >= 0 && known == 0 && !t.nodes[graft].deleted && t.isLeaf(graft)
		revives := t.nodes[cur].deleted && graft < 0 && (!rev.Deleted || len(rev.History) == 0)
		if graft != cur && !closesLiveLeaf && !revives {
			return InsertResult{}, fmt.Errorf("%w: revision does not extend the current revision %s", ErrConflict, t.nodes[cur].id)
		}
	}
	seq := c.seq + 1
	parent := graft
	for i := known - 1; i >= 0; i-- {
		parent = t.add(parent, rev.History[i], revGen(rev.History[i]), false, nil, 0)
	}
	added := t.add(parent, rev.RevID, revGen(rev.RevID), rev.Deleted, body, seq)
	if rev.AdoptDeletion && rev.Deleted && len(t.liveLeaves()) == 0 {
		// The peer's deletion is the document's state: a tombstone of ours that would
		// outrank it (a concurrent deletion, which the peer refuses as Sync Gateway does,
		// or one closing a branch in an earlier resolution) must not stay current.
		t.removeLeaves(t.tombstonesAbove(added))
	}
	cur, err := b.storeDoc(c, rev.DocID, row, t, seq, nil)
	if err != nil {
		return InsertResult{}, err
	}
	doc, err := b.nodeDocument(c, rev.DocID, t, cur, seq, row)
	if err != nil {
		return InsertResult{}, err
	}
	return InsertResult{Sequence: seq, Inserted: true, Conflicted: len(t.liveLeaves()) > 1, Document: doc}, nil
}

// insertNewRemote stores rev (not deleted) with its history as a document that does not
// exist yet, in one statement. It reports false (having written nothing) if the document
// exists.
func (b *Batch) insertNewRemote(c *Collection, rev *RemoteRevision, body []byte) (InsertResult, bool, error) {
	seq := c.seq + 1
	t := &revTree{nodes: make([]revNode, 0, len(rev.History)+1)}
	parent := -1
	for i := len(rev.History) - 1; i >= 0; i-- {
		parent = t.add(parent, rev.History[i], revGen(rev.History[i]), false, nil, 0)
	}
	t.add(parent, rev.RevID, revGen(rev.RevID), false, body, seq)
	t.prune(b.db.maxDepth)
	cur := t.winner()
	t.dropBodies(cur)
	b.treeBuf = encodeTree(t, cur, seq, b.treeBuf)
	// Without a cancellation watcher goroutine per statement, as insertNewVersion.
	if ok, err := b.insertedOne(c.w.insNewTree.ExecContext(context.WithoutCancel(b.ctx), int64(seq), rev.DocID, rev.RevID, b.treeBuf, body)); !ok {
		return InsertResult{}, false, err
	}
	b.stored(c, rev.DocID, seq, rev.RevID, false, false, len(body))
	return InsertResult{Sequence: seq, Inserted: true, Document: nodeDocumentLoaded(rev.DocID, t, cur, seq, nil)}, true, nil
}

// currentDocument builds the current revision of a loaded document.
func (b *Batch) currentDocument(c *Collection, id string, row *docRow, t *revTree) (*Document, error) {
	return b.nodeDocument(c, id, t, t.winner(), row.seq, row)
}

// nodeDocument builds a Document for node i (its body read if it was not loaded) of t,
// the tree of row (nil: a document written by this call from bytes in memory); seq 0
// means "the node's own".
func (b *Batch) nodeDocument(c *Collection, id string, t *revTree, i int, seq uint64, row *docRow) (*Document, error) {
	if err := b.loadBodies(c, row, t, i); err != nil {
		return nil, err
	}
	return nodeDocumentLoaded(id, t, i, seq, row), nil
}

// nodeDocumentLoaded is nodeDocument for a node whose body (if kept) is loaded. The
// Document's Body is the node's body itself, not a copy: either bytes read from the
// database for this call, or the body the caller passed in (a received revision's, as
// stored): a caller that returns the Document to its own caller with a body that may
// be the latter's says so, or copies it (see resolve).
func nodeDocumentLoaded(id string, t *revTree, i int, seq uint64, row *docRow) *Document {
	n := t.nodes[i]
	if seq == 0 {
		seq = n.seq
	}
	body := n.body
	if body == nil {
		body = emptyObject()
	}
	d := &Document{ID: id, RevID: n.id, Sequence: seq, Deleted: n.deleted, Body: body}
	if row != nil {
		d.Expiration = expirationTime(row.expiration)
		d.setVector(row.vector)
	}
	return d
}

// PutExistingRevision inserts a peer's revision in its own transaction (see Batch.PutExistingRevision).
func (c *Collection) PutExistingRevision(ctx context.Context, rev RemoteRevision) (InsertResult, error) {
	var res InsertResult
	err := c.write(ctx, "insert revision", func(b *Batch) (err error) {
		res, err = b.PutExistingRevision(c, rev)
		return err
	})
	return res, err
}

// ResolveConflict closes the losing leaf with a tombstone child and, if
// mergedBody is non-nil or mergedDeleted is set, adds a new revision (child
// of winningRevID) with that body or deletion. Both revisions must be leaves
// and losingRevID must be live; otherwise ErrConflict (the tree changed).
// It returns the resulting current document.
func (b *Batch) ResolveConflict(c *Collection, id, winningRevID, losingRevID string, mergedBody []byte, mergedDeleted bool) (*Document, error) {
	return b.ResolveConflictWith(c, id, winningRevID, losingRevID, ResolveOptions{MergedBody: mergedBody, MergedDeleted: mergedDeleted})
}

// ResolveOptions says how ResolveConflictWith settles a conflict.
type ResolveOptions struct {
	// MergedBody, if non-nil, is saved as a new revision, child of the winning one.
	MergedBody []byte
	// MergedDeleted adds a deletion as that new revision instead.
	MergedDeleted bool
	// PruneLosingBranch removes the losing leaf, and the ancestors no other leaf
	// descends from, instead of closing it with a tombstone child; the losing leaf may
	// then be a tombstone itself. If the result (the new revision, else the winning one)
	// is a deletion, the other deleted leaves that would beat it by the winner rule are
	// removed too, so that it is the current revision unless a live leaf remains. This
	// is what Couchbase Lite's resolution does (LiteCore prunes the losing branch): a
	// closing tombstone can outrank a deletion that won, and the document would end
	// deleted by different tombstones on the two sides.
	PruneLosingBranch bool
}

// ResolveConflictWith resolves a conflict between two leaves as opts says. Both
// revisions must be leaves and, unless opts.PruneLosingBranch, losingRevID must be live;
// otherwise ErrConflict (the tree changed). Everything is written under one new
// sequence. It returns the resulting current document.
func (b *Batch) ResolveConflictWith(c *Collection, id, winningRevID, losingRevID string, opts ResolveOptions) (*Document, error) {
	doc, err := b.resolve(c, id, winningRevID, losingRevID, opts)
	if err != nil {
		return nil, fmt.Errorf("resolve conflict of %q: %w", id, err)
	}
	return doc, nil
}

func (b *Batch) resolve(c *Collection, id, winningRevID, losingRevID string, opts ResolveOptions) (*Document, error) {
	if err := b.start(); err != nil {
		return nil, err
	}
	defer b.end()
	if err := b.checkColl(c); err != nil {
		return nil, err
	}
	if err := validateDocID(id); err != nil {
		return nil, err
	}
	for _, r := range []string{winningRevID, losingRevID} {
		if _, _, err := parseRevID(r); err != nil {
			return nil, err
		}
	}
	if winningRevID == losingRevID {
		return nil, fmt.Errorf("%w: winning and losing revision are the same", ErrInvalidRevID)
	}
	merged, err := mergedBody(opts)
	if err != nil {
		return nil, err
	}
	row, win, lose, err := b.loadConflict(c, id, winningRevID, losingRevID, opts)
	if err != nil {
		return nil, err
	}
	t := row.tree
	if merged != nil && !opts.MergedDeleted && hasTopLevelAttachments(merged) {
		if err := b.loadBodies(c, row, t, win, lose); err != nil {
			return nil, err
		}
		if err := checkAttachmentsCarried(merged, t.nodes[win].body); err != nil {
			if checkAttachmentsCarried(merged, t.nodes[lose].body) != nil {
				return nil, err
			}
		}
	}
	seq := c.seq + 1
	if err := applyResolution(t, win, lose, merged, opts, seq); err != nil {
		return nil, err
	}
	cur, err := b.storeDoc(c, id, row, t, seq, nil)
	if err != nil {
		return nil, err
	}
	doc, err := b.nodeDocument(c, id, t, cur, seq, row)
	if err != nil {
		return nil, err
	}
	doc.Body = cloneBytes(doc.Body) // not the caller's MergedBody (see nodeDocumentLoaded)
	return doc, nil
}

// mergedBody returns the body of the new revision a resolution adds: "{}" for a merged
// deletion, the compact merged body, or nil for none.
func mergedBody(opts ResolveOptions) ([]byte, error) {
	switch {
	case opts.MergedDeleted:
		return emptyObject(), nil
	case opts.MergedBody != nil:
		// A merged body may keep a legacy _attachments dictionary, as a save may: only
		// carried over unchanged from one of the two sides (checked by the caller).
		return compactWithAttachments(opts.MergedBody)
	}
	return nil, nil
}

// loadConflict loads document id and finds the two leaves of a resolution: both must be
// leaves and, unless opts.PruneLosingBranch, the losing one live.
func (b *Batch) loadConflict(c *Collection, id, winningRevID, losingRevID string, opts ResolveOptions) (*docRow, int, int, error) {
	row, err := b.loadDoc(c, id)
	if err != nil {
		return nil, 0, 0, err
	}
	if row == nil {
		return nil, 0, 0, ErrNotFound
	}
	t := row.tree
	win, lose := t.find(winningRevID), t.find(losingRevID)
	if win < 0 || lose < 0 {
		return nil, 0, 0, fmt.Errorf("%w: unknown revision", ErrNotFound)
	}
	if !t.isLeaf(win) || !t.isLeaf(lose) {
		return nil, 0, 0, fmt.Errorf("%w: both revisions must be leaves", ErrConflict)
	}
	if t.nodes[lose].deleted && !opts.PruneLosingBranch {
		return nil, 0, 0, fmt.Errorf("%w: losing revision %s is already deleted", ErrConflict, losingRevID)
	}
	return row, win, lose, nil
}

// applyResolution changes t as a resolution between leaves win and lose does: the merged
// revision (if merged is non-nil) as a child of win, and the losing leaf closed by a
// tombstone or, with opts.PruneLosingBranch, removed (see ResolveOptions).
func applyResolution(t *revTree, win, lose int, merged []byte, opts ResolveOptions, seq uint64) error {
	closing, mergedRev := "", ""
	if !opts.PruneLosingBranch {
		closing = newRevID(t.nodes[lose].gen, t.nodes[lose].id, true, emptyObject())
	}
	if merged != nil {
		mergedRev = newRevID(t.nodes[win].gen, t.nodes[win].id, opts.MergedDeleted, merged)
	}
	for _, r := range []string{closing, mergedRev} {
		if r != "" && t.find(r) >= 0 {
			// Only possible if a peer sent this very ID on another branch.
			return fmt.Errorf("%w: revision %s already exists elsewhere in the tree", ErrConflict, r)
		}
	}
	result := win
	if merged != nil {
		result = t.add(win, mergedRev, t.nodes[win].gen+1, opts.MergedDeleted, merged, seq)
	}
	if opts.PruneLosingBranch {
		drop := make([]bool, len(t.nodes))
		if t.nodes[result].deleted {
			drop = t.tombstonesAbove(result)
		}
		drop[lose] = true
		t.removeLeaves(drop)
	} else {
		t.add(lose, closing, t.nodes[lose].gen+1, true, emptyObject(), seq)
	}
	return nil
}

// ResolveConflict resolves a conflict in its own transaction (see Batch.ResolveConflict).
func (c *Collection) ResolveConflict(ctx context.Context, id, winningRevID, losingRevID string, mergedBody []byte, mergedDeleted bool) (*Document, error) {
	var doc *Document
	err := c.write(ctx, "resolve conflict", func(b *Batch) (err error) {
		doc, err = b.ResolveConflict(c, id, winningRevID, losingRevID, mergedBody, mergedDeleted)
		return err
	})
	return doc, err
}

// ResolveConflictWith resolves a conflict in its own transaction (see
// Batch.ResolveConflictWith).
func (c *Collection) ResolveConflictWith(ctx context.Context, id, winningRevID, losingRevID string, opts ResolveOptions) (*Document, error) {
	var doc *Document
	err := c.write(ctx, "resolve conflict", func(b *Batch) (err error) {
		doc, err = b.ResolveConflictWith(c, id, winningRevID, losingRevID, opts)
		return err
	})
	return doc, err
}
