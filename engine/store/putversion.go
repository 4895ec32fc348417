package store

import (
	"context"
	"fmt"

	"github.com/p2psync/libp2psync/engine/hlv"
)

// RemoteVersion is a revision received from a peer under CBMobile_4: a body with its
// version vector (hlv.ParseRevHistory of the rev message's rev and history).
type RemoteVersion struct {
	DocID   string
	Vector  hlv.Vector
	Deleted bool
	Body    []byte // JSON object; "{}"/nil for tombstones
}

// VersionResult reports what PutExistingVersion did.
type VersionResult struct {
	// Order is the received vector compared with the local current revision's
	// (hlv.Vector.Compare; Newer for a document that does not exist here).
	Order    hlv.Order
	Inserted bool      // stored (only when Order is Newer)
	Sequence uint64    // its sequence; 0 if nothing was written
	Document *Document // the current revision afterwards; nil if the document does not exist
}

// PutExistingVersion stores a revision received with a version vector. Every time in the
// vector advances the database's clock first (see hlv.Clock.Observe). Then the vector is
// compared with the local current revision's (a revision without a vector compares as
// its legacy stand-in, hlv.LegacyVersion):
//
//   - Newer (a fast-forward, or a new document): stored as the new current revision, a
//     child of the old one in the revision tree with a rev-tree ID minted as a local
//     save's, carrying the received vector (pruned to Config.MaxRevTreeDepth versions);
//   - Same or Older: already known here; nothing is written;
//   - Conflicting: nothing is written; the caller refuses it (a passive peer answers 409)
//     or resolves it with ResolveVersionConflict.
//
// A local current revision without a vector is also looked up among the rev-tree IDs the
// sender listed after its previous versions (Vector.Legacy, newest first, the sender's
// rev-tree ancestry of the revision it sends): listed first, it is the very revision
// received, which keeps its rev-tree ID and gains the received vector (Order Same, no
// new sequence); listed later, the received revision descends from it (Newer), and when
// the first listed ID is a child of it that ID is kept instead of a minted one. This is
// how a document replicated under CBMobile_3 meets its own versions under CBMobile_4.
//
// A vector that breaks hlv's rules is ErrInvalidRevID; a bad body ErrInvalidJSON.
func (b *Batch) PutExistingVersion(c *Collection, rv RemoteVersion) (VersionResult, error) {
	res, err := b.putVersion(c, &rv)
	if err != nil {
		return VersionResult{}, fmt.Errorf("insert version %s of %q: %w", rv.Vector.Current, rv.DocID, err)
	}
	return res, nil
}

// checkRemoteVersion validates rv and returns its compact body.
func checkRemoteVersion(rv *RemoteVersion) ([]byte, error) {
	if err := validateDocID(rv.DocID); err != nil {
		return nil, err
	}
	if err := rv.Vector.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidRevID, err)
	}
	return remoteBody(rv.Deleted, rv.Body)
}

func (b *Batch) putVersion(c *Collection, rv *RemoteVersion) (VersionResult, error) {
	if err := b.start(); err != nil {
		return VersionResult{}, err
	}
	defer b.end()
	if err := b.checkColl(c); err != nil {
		return VersionResult{}, err
	}
	body, err := checkRemoteVersion(rv)
	if err != nil {
		return VersionResult{}, err
	}
	if err := b.observe(rv.Vector); err != nil {
		return VersionResult{}, err
	}
	// Most versions received by a new database create their document: try that in a
	// single statement first (see insertFirstMaxBody).
	if tryInsertFirst && !rv.Deleted && len(body) <= insertFirstMaxBody {
		res, ok, err := b.insertNewVersion(c, rv, body)
		if err != nil || ok {
			return res, err
		}
	}
	row, err := b.loadDoc(c, rv.DocID)
	if err != nil {
		return VersionResult{}, err
	}
	t, cur := &revTree{}, -1
	order, legacy := hlv.Newer, -1
	if row != nil {
		t, cur = row.tree, row.tree.winner()
		order, legacy = compareReceived(rv.Vector, t, cur, row.vector)
	}
	vec := storedForm(rv.Vector, b.db.maxDepth)
	if legacy == 0 {
		// The sender's revision is our current one, which had no vector: it gains this one.
		return b.attachVector(c, rv.DocID, row, t, cur, vec)
	}
	if order != hlv.Newer {
		doc, err := b.currentDocument(c, rv.DocID, row, t)
		return VersionResult{Order: order, Document: doc}, err
	}
	if legacy == 1 && cur >= 0 && usableRevID(t, cur, rv.Vector.Legacy[0]) {
		// The sender named the rev-tree ID of this revision, a child of our current one:
		// keep it, so that rev-tree peers see one revision ID on both sides.
		doc, err := b.storeVersion(c, rv.DocID, row, t, cur, rv.Vector.Legacy[0], rv.Deleted, body, vec)
		if err != nil {
			return VersionResult{}, err
		}
		return VersionResult{Order: order, Inserted: true, Sequence: doc.Sequence, Document: doc}, nil
	}
	doc, err := b.storeVersion(c, rv.DocID, row, t, cur, "", rv.Deleted, body, vec)
	if err != nil {
		return VersionResult{}, err
	}
	return VersionResult{Order: order, Inserted: true, Sequence: doc.Sequence, Document: doc}, nil
}

// insertNewVersion stores rv (not deleted, body its compact body) as a document that
// does not exist yet, in one statement, as putVersion would: a revision with a rev-tree
// ID minted as a local save's, carrying the received vector. It reports false (having
// written nothing) if the document exists.
func (b *Batch) insertNewVersion(c *Collection, rv *RemoteVersion, body []byte) (VersionResult, bool, error) {
	rev := newRevID(0, "", false, body)
	seq := c.seq + 1
	sv := storedVector{text: storedForm(rv.Vector, b.db.maxDepth).String(), rev: rev}
	res, err := c.w.insNew.ExecContext(b.ctx, seq, rv.DocID, rev, body, sv.text)
	if err != nil {
		return VersionResult{}, false, b.fail(err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return VersionResult{}, false, b.fail(err)
	} else if n == 0 {
		return VersionResult{}, false, nil
	}
	b.stored(c, rv.DocID, seq, rev, false, false, len(body))
	doc := &Document{ID: rv.DocID, RevID: rev, Sequence: seq, Body: cloneBytes(body)}
	doc.setVector(sv)
	return VersionResult{Order: hlv.Newer, Inserted: true, Sequence: seq, Document: doc}, true, nil
}

// storedForm is a received or merged vector as stored: pruned, and without the rev-tree
// IDs a sender listed after its previous versions (the revision tree keeps those).
func storedForm(v hlv.Vector, maxDepth int) hlv.Vector {
	v = v.Prune(maxDepth, 0)
	v.Legacy = nil
	return v
}

// usableRevID reports whether rev can be added as a child of node cur: a valid rev-tree
// ID one generation above it, not already in the tree.
func usableRevID(t *revTree, cur int, rev string) bool {
	gen, _, err := parseRevID(rev)
	return err == nil && gen == t.nodes[cur].gen+1 && t.find(rev) < 0
}

// compareReceived compares a received vector with the current revision cur of a loaded
// document. A current revision without a vector (saved before versions, or received as a
// rev-tree revision) may appear among the rev-tree IDs a sender lists after its previous
// versions (Vector.Legacy: its rev-tree ancestry, newest first, as Sync Gateway sends it
// to a peer that answered with a rev-tree ID): first means the same revision (legacy 0,
// Order Same), later means the received one descends from it (Newer). Otherwise the
// vectors decide (legacy -1).
func compareReceived(v hlv.Vector, t *revTree, cur int, sv storedVector) (hlv.Order, int) {
	id := t.nodes[cur].id
	for i, l := range v.Legacy {
		if l != id {
			continue
		}
		if i > 0 {
			// Our current revision is an ancestor in the sender's rev tree: whatever the
			// vectors say (ours may be a version minted here for a revision the sender
			// knows only by its rev-tree ID), the received revision descends from it.
			return hlv.Newer, i
		}
		if sv.rev != id || sv.text == "" {
			return hlv.Same, 0
		}
		return hlv.Same, -1 // the same revision, which has its own vector here
	}
	return v.Compare(currentVector(t, cur, sv)), -1
}

// attachVector stores vec as the vector of the current revision cur, which had none. The
// revision itself does not change, so it takes no new sequence.
func (b *Batch) attachVector(c *Collection, id string, row *docRow, t *revTree, cur int, vec hlv.Vector) (VersionResult, error) {
	sv := storedVector{text: vec.String(), rev: t.nodes[cur].id}
	vv, vvRev := sv.args(sv.rev)
	if _, err := c.w.setVector.ExecContext(b.ctx, vv, vvRev, row.seq); err != nil {
		return VersionResult{}, b.fail(err)
	}
	row.vector = sv
	doc, err := b.currentDocument(c, id, row, t)
	return VersionResult{Order: hlv.Same, Document: doc}, err
}

// storeVersion adds a revision with body data (deleted: a tombstone) as a child of the
// current revision cur of t (-1: none) and stores the document with vector vec for it.
// rev is its rev-tree ID ("": minted as a local save's; else checked by usableRevID).
func (b *Batch) storeVersion(c *Collection, id string, row *docRow, t *revTree, cur int, rev string, deleted bool, data []byte, vec hlv.Vector) (*Document, error) {
	seq := c.seq + 1
	if rev == "" {
		var err error
		if rev, _, err = b.addLocalRevision(t, cur, deleted, data, seq); err != nil {
			return nil, err
		}
	} else {
		addChild(t, cur, rev, deleted, data, seq)
	}
	sv := storedVector{text: vec.String(), rev: rev}
	i, err := b.storeDoc(c, id, row, t, seq, &sv)
	if err != nil {
		return nil, err
	}
	doc, err := b.nodeDocument(c, id, t, i, seq, row)
	if err != nil {
		return nil, err
	}
	doc.setVector(sv)
	return doc, nil
}

// PutExistingVersion stores a received revision in its own transaction (see
// Batch.PutExistingVersion).
func (c *Collection) PutExistingVersion(ctx context.Context, rv RemoteVersion) (VersionResult, error) {
	var res VersionResult
	err := c.write(ctx, "insert version", func(b *Batch) (err error) {
		res, err = b.PutExistingVersion(c, rv)
		return err
	})
	return res, err
}

// VersionResolution says how ResolveVersionConflict settles a conflict between the local
// current revision and a received one.
type VersionResolution struct {
	// RemoteWins keeps the received revision's body (else the local one's) when there is
	// no merged body. hlv.LocalWins is Couchbase Lite 4's default choice.
	RemoteWins bool
	// MergedBody, if non-nil, is the resolved body instead (a top-level _attachments only
	// carried over unchanged from one of the two sides).
	MergedBody []byte
	// MergedDeleted resolves to a deletion.
	MergedDeleted bool
}

// ResolveVersionConflict resolves a conflict PutExistingVersion reported: it stores the
// chosen body as the new current revision (a child of the local one in the revision
// tree) with a vector recording both sides, so that neither peer sees the conflict again.
// When the received revision wins unchanged and the local revision holds nothing the
// received vector lacks apart from this database's own versions, the received vector is
// kept as it is (as Couchbase Lite does); otherwise the vector is hlv.Merge of both with
// a new version of this database. ErrConflict if the two are no longer in conflict (the
// document changed meanwhile); ErrNotFound if the document is gone.
func (b *Batch) ResolveVersionConflict(c *Collection, rv RemoteVersion, how VersionResolution) (*Document, error) {
	doc, err := b.resolveVersion(c, &rv, how)
	if err != nil {
		return nil, fmt.Errorf("resolve version conflict of %q: %w", rv.DocID, err)
	}
	return doc, nil
}

func (b *Batch) resolveVersion(c *Collection, rv *RemoteVersion, how VersionResolution) (*Document, error) {
	if err := b.start(); err != nil {
		return nil, err
	}
	defer b.end()
	if err := b.checkColl(c); err != nil {
		return nil, err
	}
	body, err := checkRemoteVersion(rv)
	if err != nil {
		return nil, err
	}
	merged, err := mergedBody(ResolveOptions{MergedBody: how.MergedBody, MergedDeleted: how.MergedDeleted})
	if err != nil {
		return nil, err
	}
	if err := b.observe(rv.Vector); err != nil {
		return nil, err
	}
	row, err := b.loadDoc(c, rv.DocID)
	if err != nil {
		return nil, err
	}
	if row == nil {
		return nil, ErrNotFound
	}
	t := row.tree
	cur := t.winner()
	local := currentVector(t, cur, row.vector)
	if o := rv.Vector.Compare(local); o != hlv.Conflicting {
		return nil, fmt.Errorf("%w: the received version is %v than the local one, not in conflict", ErrConflict, o)
	}
	if err := b.loadBodies(c, row, t, cur); err != nil {
		return nil, err
	}
	data, deleted := t.nodes[cur].body, t.nodes[cur].deleted
	switch {
	case merged != nil:
		data, deleted = merged, how.MergedDeleted
		if !deleted && hasTopLevelAttachments(merged) && checkAttachmentsCarried(merged, t.nodes[cur].body) != nil {
			if err := checkAttachmentsCarried(merged, body); err != nil {
				return nil, err
			}
		}
	case how.RemoteWins:
		data, deleted = body, rv.Deleted
	}
	vec, err := b.resolvedVector(local, rv.Vector, merged == nil && how.RemoteWins)
	if err != nil {
		return nil, err
	}
	return b.storeVersion(c, rv.DocID, row, t, cur, "", deleted, data, vec)
}

// resolvedVector returns the vector of a conflict resolution between local and remote.
func (b *Batch) resolvedVector(local, remote hlv.Vector, remoteUnchanged bool) (hlv.Vector, error) {
	db := b.db
	if remoteUnchanged && !newerIgnoring(local, remote, db.sourceID) {
		return storedForm(remote, db.maxDepth), nil
	}
	for _, v := range []hlv.Version{local.Current, remote.Current} {
		if v.Source == db.sourceID || db.clock.Check(v.Time) == nil {
			db.clock.AdvancePast(v.Time)
		}
	}
	if t, ok := local.TimeOf(db.sourceID); ok {
		db.clock.AdvancePast(t)
	}
	vec, err := hlv.Merge(local, remote, hlv.Version{Time: db.clock.Now(), Source: db.sourceID})
	if err != nil {
		return hlv.Vector{}, fmt.Errorf("%w: %v", ErrInvalidRevID, err)
	}
	if err := b.persistClock(); err != nil {
		return hlv.Vector{}, err
	}
	return storedForm(vec, db.maxDepth), nil
}

// newerIgnoring reports whether a holds a version of a source other than ignore that is
// newer than what b holds for that source.
func newerIgnoring(a, b hlv.Vector, ignore string) bool {
	for _, group := range [][]hlv.Version{{a.Current}, a.Merge, a.Previous} {
		for _, e := range group {
			if e.Source == ignore {
				continue
			}
			if t, _ := b.TimeOf(e.Source); e.Time > t {
				return true
			}
		}
	}
	return false
}

// ResolveVersionConflict resolves a version conflict in its own transaction (see
// Batch.ResolveVersionConflict).
func (c *Collection) ResolveVersionConflict(ctx context.Context, rv RemoteVersion, how VersionResolution) (*Document, error) {
	var doc *Document
	err := c.write(ctx, "resolve version conflict", func(b *Batch) (err error) {
		doc, err = b.ResolveVersionConflict(c, rv, how)
		return err
	})
	return doc, err
}
