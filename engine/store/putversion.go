package store

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/p2psync/libp2psync/engine/hlv"
)

// RemoteVersion is a revision received from a peer under CBMobile_4: a body with its
// version vector (hlv.ParseRevHistory of the rev message's rev and history).
type RemoteVersion struct {
	DocID   string
	Vector  hlv.Vector
	Deleted bool
	Body    []byte // JSON object; "{}"/nil for tombstones
	// RevTree is the sender's rev-tree ID of this revision, then its rev-tree ancestors,
	// newest first, generations descending one by one (the rev message's revTree
	// property, which libp2psync sends); nil when the sender did not say (Couchbase Lite,
	// Sync Gateway), and then the rev-tree IDs listed after the previous versions
	// (Vector.Legacy), if any, serve instead.
	RevTree []string
	// Base: as RemoteRevision.Base.
	Base *BaseDelta
}

// VersionResult reports what PutExistingVersion did.
type VersionResult struct {
	// Order is the received vector compared with the local current revision's
	// (hlv.Vector.Compare; Newer for a document that does not exist here).
	Order    hlv.Order
	Inserted bool   // stored (only when Order is Newer)
	Sequence uint64 // its sequence; 0 if nothing was written
	// Document is the current revision afterwards; nil if the document does not exist.
	// Its Body may share the bytes of RemoteVersion.Body (when the received revision is
	// current, stored as received): the caller must not change those while it uses
	// Document.
	Document *Document
}

// PutExistingVersion stores a revision received with a version vector. Every time in the
// vector advances the database's clock first (see hlv.Clock.Observe). Then the vector is
// compared with the local current revision's (a revision without a vector compares as
// its legacy stand-in, hlv.LegacyVersion):
//
//   - Newer (a fast-forward, or a new document): stored as the new current revision,
//     carrying the received vector (pruned to Config.MaxRevTreeDepth versions);
//   - Same or Older: already known here; nothing is written;
//   - Conflicting: nothing is written; the caller refuses it (a passive peer answers 409)
//     or resolves it with ResolveVersionConflict.
//
// Vector comparison decides whenever the local current revision has a vector of its own,
// with one addition: a received vector that holds the rev-tree stand-in of that
// revision (the sender got it over CBMobile_3, by its rev-tree ID, and saved on top of
// it) descends from it, or is that very revision (Same) when the sender lists our rev-tree
// ID as its own; a sender listing our rev-tree ID as its own without that stand-in made
// the same change independently (two deletions of one revision share a rev-tree ID), and
// its conflicting vector is a conflict. A local current revision without a vector of its own is looked
// up among the sender's rev-tree IDs instead (RevTree, else Vector.Legacy; as Sync
// Gateway judges by the revision tree when its current version is a rev-tree stand-in):
// listed first, it is the very revision received, which keeps its rev-tree ID and gains
// the received vector (Order Same, no new sequence); listed later, the received revision
// descends from it (Newer).
//
// A stored revision takes its place in the revision tree under the sender's rev-tree ID
// when the sender gave its IDs (so that CBMobile_3 peers later see one revision tree):
// a new document gets the sender's whole listed ancestry (as bodiless revisions); an
// existing one the listed revisions above its current revision when that is listed, or
// else the sender's ancestry from the newest listed revision held here, the current
// revision's branch removed (the trees had diverged: the received vector supersedes
// it), or else the received revision's ID as a child of the current revision, or else
// the sender's ancestry as a new root, the current branch removed (see placeFor).
// Without the sender's IDs the rev-tree ID is minted as a local save's, a child of the
// current revision.
//
// A vector that breaks hlv's rules, or a RevTree that is not a list of rev-tree IDs with
// generations descending one by one, is ErrInvalidRevID; a bad body ErrInvalidJSON.
func (b *Batch) PutExistingVersion(c *Collection, rv RemoteVersion) (VersionResult, error) {
	res, err := b.putVersion(c, &rv)
	if err != nil {
		return VersionResult{}, fmt.Errorf("insert version %s of %q: %w", rv.Vector.Current, rv.DocID, err)
	}
	return res, nil
}

// checkRemoteVersion validates rv and returns its compact body, with what the check
// noticed about it (see remoteBody).
func checkRemoteVersion(rv *RemoteVersion) ([]byte, bodyInfo, error) {
	if err := validateDocID(rv.DocID); err != nil {
		return nil, bodyInfo{}, err
	}
	if err := rv.Vector.Validate(); err != nil {
		return nil, bodyInfo{}, fmt.Errorf("%w: %v", ErrInvalidRevID, err)
	}
	if len(rv.RevTree) > 0 && !descendingChain(rv.RevTree) {
		return nil, bodyInfo{}, fmt.Errorf("%w: rev-tree list %q is not rev-tree IDs with generations descending one by one", ErrInvalidRevID, clipList(rv.RevTree))
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
	body, info, err := checkRemoteVersion(rv)
	if err != nil {
		return VersionResult{}, err
	}
	b.reverse = usableBaseDelta(rv.DocID, rv.Base, rv.Body, body, info)
	defer func() { b.reverse = nil }()
	if err := b.observe(rv.Vector); err != nil {
		return VersionResult{}, err
	}
	anc := rv.RevTree
	if len(anc) == 0 {
		anc = rv.Vector.Legacy
	}
	// Most versions received by a new database create their document: try that in a
	// single statement first (see insertFirstMaxBody). The row holds one revision, so
	// only when the sender listed at most its own rev-tree ID (placeFor would store the
	// same: that ID, or a minted one).
	if tryInsertFirst && !rv.Deleted && len(body) <= insertFirstMaxBody && len(anc) <= 1 && descendingChain(anc) {
		res, ok, err := b.insertNewVersion(c, rv, anc, body)
		if err != nil || ok {
			return res, err
		}
	}
	row, err := b.loadDoc(c, rv.DocID)
	if err != nil {
		return VersionResult{}, err
	}
	t, cur := &revTree{}, -1
	j := judgement{order: hlv.Newer, pos: -1}
	if row != nil {
		t, cur = row.tree, row.tree.winner()
		j = compareReceived(rv.Vector, anc, t, cur, row.vector)
	}
	vec := storedForm(rv.Vector, b.db.maxDepth)
	if j.gainsVector {
		// The sender's revision is our current one, which had no vector: it gains this one.
		return b.attachVector(c, rv.DocID, row, t, cur, vec)
	}
	if j.order != hlv.Newer {
		doc, err := b.currentDocument(c, rv.DocID, row, t)
		return VersionResult{Order: j.order, Document: doc}, err
	}
	doc, err := b.storeVersion(c, rv.DocID, row, t, placeFor(t, cur, anc, j.pos), rv.Deleted, body, vec)
	if err != nil {
		return VersionResult{}, err
	}
	return VersionResult{Order: j.order, Inserted: true, Sequence: doc.Sequence, Document: doc}, nil
}

// insertNewVersion stores rv (not deleted, body its compact body) as a document that
// does not exist yet, in one statement, as putVersion would: a revision with the
// sender's rev-tree ID (anc, when it names one) or one minted as a local save's,
// carrying the received vector. It reports false (having written nothing) if the
// document exists.
func (b *Batch) insertNewVersion(c *Collection, rv *RemoteVersion, anc []string, body []byte) (VersionResult, bool, error) {
	var rev string
	if len(anc) == 1 {
		rev = anc[0]
	} else {
		rev = newRevID(0, "", false, body)
	}
	seq := c.seq + 1
	sv := storedVector{text: storedForm(rv.Vector, b.db.maxDepth).String(), rev: rev}
	// A single-row insert on the writer, which this batch holds, never waits: a context
	// that cannot be cancelled spares the driver a watcher goroutine per statement (the
	// batch still ends at the caller's cancellation, at its next step or its commit).
	if ok, err := b.insertedOne(c.w.insNew.ExecContext(context.WithoutCancel(b.ctx), int64(seq), rv.DocID, rev, body, sv.text)); !ok {
		return VersionResult{}, false, err
	}
	b.stored(c, rv.DocID, seq, rev, false, false, len(body))
	doc := &Document{ID: rv.DocID, RevID: rev, Sequence: seq, Body: body}
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

// judgement is how a received revision relates to the local current revision.
type judgement struct {
	order       hlv.Order
	pos         int  // index of the current revision's rev-tree ID in the sender's list; -1: not listed
	gainsVector bool // the received revision is the current one, which has no vector yet
}

// compareReceived compares a received vector, with the sender's rev-tree IDs anc (its
// own first, then its ancestors), with the current revision cur of a loaded document
// (see PutExistingVersion).
func compareReceived(v hlv.Vector, anc []string, t *revTree, cur int, sv storedVector) judgement {
	id := t.nodes[cur].id
	j := judgement{pos: slices.Index(anc, id)}
	if sv.text == "" || sv.rev != id {
		// No vector of its own (saved before versions, or received as a rev-tree
		// revision): the sender's revision tree decides when it lists it.
		switch {
		case j.pos == 0:
			j.order, j.gainsVector = hlv.Same, true
			return j
		case j.pos > 0:
			j.order = hlv.Newer
			return j
		}
		j.order = v.Compare(currentVector(t, cur, sv))
		return j
	}
	j.order = v.Compare(currentVector(t, cur, sv))
	if j.order != hlv.Conflicting {
		return j
	}
	// The sender may know our current revision only by its rev-tree ID (it got it over
	// CBMobile_3, or is a peer that gives such a revision its stand-in version).
	// A sender whose vector lacks that stand-in does not know our revision, even when it
	// lists our rev-tree ID as its own: the two sides made the same change independently
	// (two deletions of one revision get one rev-tree ID), each with its own version, a
	// conflict to resolve like any other, or the two versions would never meet.
	lv, err := hlv.LegacyVersion(id)
	switch {
	case err != nil || !v.Contains(lv):
	case j.pos == 0 || v.Current == lv:
		j.order = hlv.Same // the very revision, named by its rev-tree ID
	default:
		j.order = hlv.Newer // saved on top of it
	}
	return j
}

// placement is where a received revision goes in the revision tree.
type placement struct {
	chain  []string // rev-tree IDs to add, newest first (the revision's own first); nil: mint one as a local save's
	parent int      // the node the chain (or the minted revision) hangs from; -1: a root
	drop   int      // a leaf whose branch the revision supersedes, removed; -1: none
}

// placeFor places a received revision that is newer than the current revision cur of t
// (-1: a new document), given the sender's rev-tree IDs anc (its own first) and the
// position pos of cur's ID in anc. In order of preference:
//
//   - a new document: the whole list;
//   - cur listed: the listed revisions above it, below cur;
//   - else the listed revisions above the newest one t holds, below that one, the branch
//     of cur removed: the sender's vector holds cur's version, so the sender resolved a
//     conflict against cur, or named cur's revision by another rev-tree ID (minted by a
//     peer that did not send its own), and the two trees become one again;
//   - else the revision's own ID when it is one generation above cur;
//   - else, none of the listed IDs being here, the whole list as a new root, the branch of
//     cur removed;
//   - else (nil chain) a minted ID, a child of cur.
func placeFor(t *revTree, cur int, anc []string, pos int) placement {
	mint := placement{parent: cur, drop: -1}
	if len(anc) == 0 || !descendingChain(anc) {
		return mint
	}
	fits := func(chain []string, parent int) bool {
		for _, id := range chain {
			if t.find(id) >= 0 {
				return false
			}
		}
		return parent < 0 || revGen(chain[len(chain)-1]) == t.nodes[parent].gen+1
	}
	switch {
	case cur < 0:
		return placement{chain: anc, parent: -1, drop: -1}
	case pos > 0:
		if fits(anc[:pos], cur) {
			return placement{chain: anc[:pos], parent: cur, drop: -1}
		}
		return mint
	}
	for i := 1; i < len(anc); i++ {
		if g := t.find(anc[i]); g >= 0 {
			if g != cur && fits(anc[:i], g) {
				return placement{chain: anc[:i], parent: g, drop: cur}
			}
			break
		}
	}
	switch {
	case pos >= 0:
	case fits(anc[:1], cur):
		return placement{chain: anc[:1], parent: cur, drop: -1}
	case fits(anc, -1):
		// No listed revision is here and the generations do not allow a child of cur:
		// the sender's ancestry replaces cur's branch, as its vector supersedes cur's.
		return placement{chain: anc, parent: -1, drop: cur}
	}
	return mint
}

// descendingChain reports whether ids are rev-tree IDs whose generations descend one by
// one (newest first).
func descendingChain(ids []string) bool {
	prev := 0
	for i, id := range ids {
		gen, _, err := parseRevID(id)
		if err != nil || (i > 0 && gen != prev-1) {
			return false
		}
		prev = gen
	}
	return true
}

// clipList shortens a list for an error message.
func clipList(ids []string) string {
	s := strings.Join(ids, ",")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
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

// storeVersion adds a revision with body data (deleted: a tombstone) to t where p says
// (placeFor; p.chain nil mints its ID as a local save's, a child of p.parent) and stores
// the document with vector vec for it.
func (b *Batch) storeVersion(c *Collection, id string, row *docRow, t *revTree, p placement, deleted bool, data []byte, vec hlv.Vector) (*Document, error) {
	seq := c.seq + 1
	var rev string
	if len(p.chain) == 0 {
		var err error
		if rev, _, err = b.addLocalRevision(t, p.parent, deleted, data, seq); err != nil {
			return nil, err
		}
	} else {
		parent := p.parent
		for i := len(p.chain) - 1; i >= 1; i-- {
			parent = t.add(parent, p.chain[i], revGen(p.chain[i]), false, nil, 0)
		}
		rev = p.chain[0]
		added := t.add(parent, rev, revGen(rev), deleted, data, seq)
		drop := make([]bool, len(t.nodes))
		if p.drop >= 0 {
			drop[p.drop] = true
		}
		if deleted && !hasLiveLeaf(t, drop) {
			// As addChild: the deletion is the document's new state.
			for i, d := range t.tombstonesAbove(added) {
				drop[i] = drop[i] || d
			}
		}
		t.removeLeaves(drop) // indexes change; storeDoc finds the winner again
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

// hasLiveLeaf reports whether t has a live leaf not marked in drop.
func hasLiveLeaf(t *revTree, drop []bool) bool {
	for _, i := range t.liveLeaves() {
		if !drop[i] {
			return true
		}
	}
	return false
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
// kept as it is (as Couchbase Lite does), and the received revision keeps the sender's
// rev-tree ID where it fits (as PutExistingVersion places a newer one; the local branch
// is then removed when the sender's ancestry meets the tree above it); otherwise the
// vector is hlv.Merge of both with a new version of this database. ErrConflict if the two are no longer in conflict (the
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
	body, _, err := checkRemoteVersion(rv)
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
	p := placement{parent: cur, drop: -1}
	if vec.Current == rv.Vector.Current {
		// The received revision itself is the outcome: it takes the sender's rev-tree ID
		// where that fits (placeFor), so that both peers hold one revision tree.
		anc := rv.RevTree
		if len(anc) == 0 {
			anc = rv.Vector.Legacy
		}
		p = placeFor(t, cur, anc, slices.Index(anc, t.nodes[cur].id))
	}
	doc, err := b.storeVersion(c, rv.DocID, row, t, p, deleted, data, vec)
	if err != nil {
		return nil, err
	}
	doc.Body = cloneBytes(doc.Body) // not the caller's RemoteVersion.Body or MergedBody (see nodeDocumentLoaded)
	return doc, nil
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
