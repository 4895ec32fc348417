package store

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/p2psync/libp2psync/engine/blobstore"
)

// ConcurrencyControl chooses what a save does when the document changed
// since the caller read it.
type ConcurrencyControl int

const (
	// LastWriteWins makes the new revision a child of the current revision,
	// whatever the caller read.
	LastWriteWins ConcurrencyControl = iota
	// FailOnConflict returns ErrConflict unless SaveOptions.ParentRevID is the
	// current revision ("" requires the document to be absent or deleted).
	FailOnConflict
)

// SaveOptions tunes Save and Delete.
type SaveOptions struct {
	ParentRevID string             // the revision the caller read ("" = new document / don't know)
	Concurrency ConcurrencyControl // see ConcurrencyControl
	// NoBody leaves the returned Document's Body nil, for a caller that does not read
	// the saved body back (a bulk save that reports only IDs, revisions and sequences):
	// it saves a copy of every body. What is stored is the same.
	NoBody bool
}

// Document is one revision of a document as returned to callers. Body is owned by
// the caller and never shares memory the store keeps or reuses; the one exception
// is the result of PutExistingRevision and PutExistingVersion, whose Body may be the
// received body the caller passed in (see InsertResult.Document and
// VersionResult.Document).
type Document struct {
	ID         string
	RevID      string // "<generation>-<40 hex sha1>" for local saves
	Sequence   uint64
	Deleted    bool
	Body       []byte    // compact JSON object text; "{}" for tombstones
	Expiration time.Time // zero = none
	// Version is the revision's current version "<hex time>@<source ID>" (package hlv),
	// Timestamp its time (hybrid-logical-clock nanoseconds since the Unix epoch) and
	// Vector its whole version vector in hlv's full text form. All three are empty for a
	// revision that has no version: one saved before versions existed (or by the previous
	// version of this library) or received as a rev-tree revision; it gains one when it is
	// next saved.
	Version   string
	Timestamp uint64
	Vector    string
}

// Revision describes one kept revision of a document's revision tree.
type Revision struct {
	RevID    string
	Deleted  bool
	Leaf     bool
	HasBody  bool
	Parent   string // "" for a root (first revision, or history pruned above it)
	Sequence uint64 // local sequence at which it was added; 0 for history-only revisions
}

// AnsweredBy reports whether r is a deleted leaf stored here before the live revision
// live: the document was created again (or edited) after the deletion arrived, so live
// answers the deletion instead of conflicting with it. A deletion stored after live
// arrived without having seen it, and is a conflict still to resolve.
func (r Revision) AnsweredBy(live Revision) bool {
	return r.Leaf && r.Deleted && !live.Deleted && r.Sequence < live.Sequence
}

// maxDocIDLen is the longest document ID in bytes (PROTOCOL.md §4.1 / CBL).
const maxDocIDLen = 255

// ValidateDocID is the one rule for document IDs, applied by every call that
// takes one (here, in the C API and in the replicator): 1–255 bytes of valid
// UTF-8 without NUL. It returns nil or an error wrapping ErrInvalidID.
func ValidateDocID(id string) error { return validateDocID(id) }

// validateDocID enforces: 1–255 bytes of valid UTF-8 without NUL.
func validateDocID(id string) error {
	switch {
	case len(id) == 0:
		return fmt.Errorf("%w: empty", ErrInvalidID)
	case len(id) > maxDocIDLen:
		return fmt.Errorf("%w: %d bytes, the limit is %d", ErrInvalidID, len(id), maxDocIDLen)
	case !utf8.ValidString(id):
		return fmt.Errorf("%w: %q is not valid UTF-8", ErrInvalidID, id)
	case bytes.IndexByte([]byte(id), 0) >= 0:
		return fmt.Errorf("%w: %q contains NUL", ErrInvalidID, id)
	}
	return nil
}

func emptyObject() []byte { return []byte{'{', '}'} }

func cloneBytes(b []byte) []byte {
	if b == nil {
		return nil
	}
	if len(b) == 0 {
		return []byte{}
	}
	// Appending to nil allocates without zeroing the bytes the copy overwrites.
	return append([]byte(nil), b...)
}

func expirationTime(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return time.UnixMilli(v.Int64)
}

// docRow is a document as loaded by the writer.
type docRow struct {
	seq        uint64 // the row's key: sequence of the latest change
	deleted    bool
	expiration sql.NullInt64
	tree       *revTree
	vector     storedVector
	refs       []int64 // the kept-table rows the tree referred to when loaded
	bodyLen    int     // length of the body column
}

// checkColl verifies c can be written by this batch.
func (b *Batch) checkColl(c *Collection) error {
	switch {
	case c == nil:
		return fmt.Errorf("%w: nil collection", ErrNotFound)
	case c.db != b.db:
		return fmt.Errorf("%w: collection %s belongs to another database", ErrNotFound, c.FullName())
	case c.dropped.Load():
		return fmt.Errorf("%w: collection %s was deleted", ErrNotFound, c.FullName())
	}
	return nil
}

// loadDoc reads a document's row and tree; nil if absent. A current body of
// keptTableMin bytes or more is not read (its node has col set; see nodeBody), nor are
// the bodies in the kept-bodies table.
func (b *Batch) loadDoc(c *Collection, id string) (*docRow, error) {
	var (
		row        docRow
		seq        int64
		revid      string
		tree, body []byte
		vv, vvRev  sql.NullString
	)
	err := c.w.selDoc.QueryRowContext(b.ctx, id).Scan(&seq, &revid, &row.deleted, &row.expiration, &tree, &body, &row.bodyLen, &vv, &vvRev)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, b.fail(err)
	}
	row.seq = uint64(seq)
	row.vector = scanVector(vv, vvRev, revid)
	row.tree, err = decodeRowTree(tree, body, revid, row.deleted, row.seq, true)
	if err != nil {
		return nil, fmt.Errorf("document %q: %w", id, err)
	}
	for i := range row.tree.nodes {
		if r := row.tree.nodes[i].ref; r > 0 {
			row.refs = append(row.refs, r)
		}
	}
	return &row, nil
}

// nodeBody returns the body of node i of t, the tree of row (nil: a new document),
// reading it if it was not loaded: from the row's body column or the kept-bodies table.
// nil if the revision keeps no body.
func (b *Batch) nodeBody(c *Collection, row *docRow, t *revTree, i int) ([]byte, error) {
	n := &t.nodes[i]
	if n.body != nil || !n.hasBody() {
		return n.body, nil
	}
	var err error
	var body []byte
	switch {
	case n.ref > 0 && n.delta:
		var column []byte
		if row == nil {
			return nil, fmt.Errorf("%w: revision %s: kept delta of a new document", ErrCorrupt, n.id)
		}
		if column, err = b.columnBody(c, row); err != nil {
			return nil, err
		}
		if err = c.w.getKept.QueryRowContext(b.ctx, n.ref).Scan(&body); err == nil {
			if body, err = deltaBody(n.id, n.ref, column, body); err != nil {
				return nil, err
			}
		}
	case n.ref > 0:
		err = c.w.getKept.QueryRowContext(b.ctx, n.ref).Scan(&body)
	case row != nil:
		err = c.w.selBody.QueryRowContext(b.ctx, row.seq).Scan(&body)
	default:
		return nil, fmt.Errorf("%w: revision %s: body column of a new document", ErrCorrupt, n.id)
	}
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: revision %s: kept body %d is missing", ErrCorrupt, n.id, n.ref)
	}
	if err != nil {
		return nil, b.fail(err)
	}
	if body == nil {
		body = []byte{}
	}
	n.body = body
	return body, nil
}

// loadBodies reads (nodeBody) the bodies of the listed nodes of t that were not loaded.
func (b *Batch) loadBodies(c *Collection, row *docRow, t *revTree, nodes ...int) error {
	for _, i := range nodes {
		if i >= 0 {
			if _, err := b.nodeBody(c, row, t, i); err != nil {
				return err
			}
		}
	}
	return nil
}

// storeDoc prunes t, applies the body retention rule, writes the row with
// sequence seq and records the change. It returns the current revision's index.
// vec is the version vector to store; nil keeps the row's (which then still belongs to
// the revision it was written for).
//
// Kept bodies of other revisions of keptTableMin bytes or more go to the kept-bodies
// table (a body that was the row's current one is copied there inside SQLite, without
// being read), rows of that table the tree no longer refers to are deleted, and the
// body column is rewritten only when the current revision changed.
func (b *Batch) storeDoc(c *Collection, id string, row *docRow, t *revTree, seq uint64, vec *storedVector) (int, error) {
	t.prune(b.db.maxDepth)
	cur := t.winner()
	t.dropBodies(cur)
	n := &t.nodes[cur]
	// The body column: unchanged when the current revision still is the one in it.
	keepColumn := row != nil && n.col
	var body []byte
	if !keepColumn {
		var err error
		if body, err = b.nodeBody(c, row, t, cur); err != nil {
			return 0, err
		}
		if body == nil {
			body = emptyObject()
		}
		n.body, n.ref, n.col, n.delta = body, 0, true, false
	}
	if err := b.keepBodies(c, id, row, t, cur, !keepColumn); err != nil {
		return 0, err
	}
	b.treeBuf = encodeTree(t, cur, seq, b.treeBuf)
	if vec == nil && row != nil {
		vec = &row.vector
	}
	vv, vvRev := vec.args(n.id)
	var err error
	switch {
	case row == nil:
		_, err = c.w.insDoc.ExecContext(b.ctx, seq, id, n.id, n.deleted, b.treeBuf, body, vv, vvRev)
	case keepColumn:
		_, err = c.w.updDocMeta.ExecContext(b.ctx, seq, n.id, n.deleted, b.treeBuf, vv, vvRev, row.seq)
	default:
		_, err = c.w.updDoc.ExecContext(b.ctx, seq, n.id, n.deleted, b.treeBuf, body, vv, vvRev, row.seq)
	}
	if err != nil {
		return 0, b.fail(err)
	}
	if err := b.noteKeptVersion(c, id, row, t, cur); err != nil {
		return 0, err
	}
	size := len(body)
	if keepColumn {
		size = row.bodyLen
	}
	b.stored(c, id, seq, n.id, n.deleted, row != nil && !row.deleted, size)
	if row != nil {
		row.seq = seq // the row's key from now on (nodeBody)
	}
	return cur, nil
}

// keepBodies stores the kept bodies of the revisions of t other than cur where the
// format wants them (before the row is rewritten: a body still in the row's column is
// copied from there, or kept as the reverse delta b.reverse gives for it), and deletes the
// kept-table rows row referred to that t no longer does. newColumn says the body column
// is about to be rewritten: bodies kept as deltas against it are then stored in full
// (see keptdelta.go).
func (b *Batch) keepBodies(c *Collection, id string, row *docRow, t *revTree, cur int, newColumn bool) error {
	var live []int64
	for i := range t.nodes {
		n := &t.nodes[i]
		if i == cur || !n.hasBody() {
			continue
		}
		if n.ref > 0 && n.delta && newColumn {
			if err := b.materializeDelta(c, row, t, i); err != nil {
				return err
			}
		}
		switch {
		case n.ref > 0:
			live = append(live, n.ref)
			n.col = false
			continue
		case n.col && (n.body == nil || len(n.body) >= keptTableMin):
			if row == nil {
				return fmt.Errorf("%w: revision %s: body column of a new document", ErrCorrupt, n.id)
			}
			if d := b.reverseFor(id, t, n, cur); d != nil {
				res, err := c.w.keepBody.ExecContext(b.ctx, d)
				if err != nil {
					return b.fail(err)
				}
				if n.ref, err = res.LastInsertId(); err != nil {
					return b.fail(err)
				}
				n.col, n.delta = false, true
				live = append(live, n.ref)
				continue
			}
			res, err := c.w.keepColumn.ExecContext(b.ctx, row.seq)
			if err != nil {
				return b.fail(err)
			}
			if n.ref, err = res.LastInsertId(); err != nil {
				return b.fail(err)
			}
		case len(n.body) >= keptTableMin:
			res, err := c.w.keepBody.ExecContext(b.ctx, n.body)
			if err != nil {
				return b.fail(err)
			}
			if n.ref, err = res.LastInsertId(); err != nil {
				return b.fail(err)
			}
		}
		// A small body stays inline in the tree.
		n.col = false
		if n.ref > 0 {
			live = append(live, n.ref)
		}
	}
	if row == nil {
		return nil
	}
	for _, r := range row.refs {
		if !containsRef(live, r) {
			if _, err := c.w.delKept.ExecContext(b.ctx, r); err != nil {
				return b.fail(err)
			}
		}
	}
	row.refs = live
	return nil
}

func containsRef(refs []int64, r int64) bool {
	for _, x := range refs {
		if x == r {
			return true
		}
	}
	return false
}

// stored updates the in-transaction collection state after a document row
// was written and records the change for the listeners.
func (b *Batch) stored(c *Collection, id string, seq uint64, rev string, deleted, wasLive bool, bodySize int) {
	b.touch(c)
	c.seq = seq
	if wasLive {
		c.count--
	}
	if !deleted {
		c.count++
	}
	b.changes = append(b.changes, pendingChange{c: c, ch: Change{Sequence: seq, DocID: id, RevID: rev, Deleted: deleted, BodySize: bodySize}})
}

// tryInsertFirst enables the single-statement insert of a new document (insertNew,
// insertNewRemote, insertNewVersion); tests turn it off to compare with the general path.
var tryInsertFirst = true

// insertFirstMaxBody is the largest body for which a save first tries to
// insert a new document (see newRevision).
const insertFirstMaxBody = 16 << 10

// insertNew tries to store data as the first revision of a document that
// does not exist yet, in one statement. It reports false (having written
// nothing) if the document exists.
func (b *Batch) insertNew(c *Collection, id string, sb savedBody, noBody bool) (*Document, bool, error) {
	data := sb.data
	rev := newRevID(0, "", false, data)
	seq := c.seq + 1
	vec, err := b.newFirstVersion()
	if err != nil {
		return nil, false, err
	}
	// One revision: the row stores it with an empty tree and the vector as revid's.
	sv := storedVector{text: b.db.vectorText(vec), rev: rev}
	// int64: database/sql would convert (and box again) a uint64.
	if ok, err := b.insertedOne(c.w.insNew.ExecContext(b.ctx, int64(seq), id, rev, data, sv.text)); !ok {
		return nil, false, err
	}
	b.stored(c, id, seq, rev, false, false, len(data))
	doc := &Document{ID: id, RevID: rev, Sequence: seq}
	if !noBody {
		doc.Body = sb.owned()
	}
	doc.setNewVector(vec, sv.text)
	b.notifyDoc(c, doc, data)
	return doc, true, nil
}

// Save adds a new revision of document id with the given JSON object body.
func (b *Batch) Save(c *Collection, id string, body []byte, opts SaveOptions) (*Document, error) {
	doc, err := b.newRevision(c, id, body, false, opts)
	if err != nil {
		return nil, fmt.Errorf("save document %q: %w", id, err)
	}
	return doc, nil
}

// Delete adds a tombstone revision. ErrNotFound if the document is absent
// or already deleted.
func (b *Batch) Delete(c *Collection, id string, opts SaveOptions) (*Document, error) {
	doc, err := b.newRevision(c, id, nil, true, opts)
	if err != nil {
		return nil, fmt.Errorf("delete document %q: %w", id, err)
	}
	return doc, nil
}

func (b *Batch) newRevision(c *Collection, id string, body []byte, deleted bool, opts SaveOptions) (*Document, error) {
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
	sb, err := b.saveBody(body, deleted)
	if err != nil {
		return nil, err
	}
	return b.saveChecked(c, id, sb, deleted, opts)
}

// insertFirst reports whether a save of sb with opts first tries to insert a new document
// in a single statement. Most saves of small documents create them. For large bodies a
// failed attempt would waste a hash of the whole body, while the extra lookup of the
// normal path is cheap next to writing the body, so they take the normal path.
func insertFirst(sb savedBody, deleted bool, opts SaveOptions) bool {
	return !deleted && !sb.attachments && len(sb.unsatisfied) == 0 && tryInsertFirst && len(sb.data) <= insertFirstMaxBody &&
		(opts.Concurrency == LastWriteWins || opts.ParentRevID == "")
}

// saveChecked is newRevision once id and the body (sb) are checked; b is locked.
func (b *Batch) saveChecked(c *Collection, id string, sb savedBody, deleted bool, opts SaveOptions) (*Document, error) {
	data, attachments, unsatisfied := sb.data, sb.attachments, sb.unsatisfied
	if insertFirst(sb, deleted, opts) {
		doc, ok, err := b.insertNew(c, id, sb, opts.NoBody)
		if err != nil || ok {
			return doc, err
		}
	}
	row, err := b.loadDoc(c, id)
	if err != nil {
		return nil, err
	}
	t, cur := &revTree{}, -1
	var exp sql.NullInt64
	if row != nil {
		t, cur, exp = row.tree, row.tree.winner(), row.expiration
	}
	if err := checkSaveParent(t, cur, deleted, opts); err != nil {
		return nil, err
	}
	var prevBody []byte
	if cur >= 0 && (attachments || len(unsatisfied) > 0) {
		if prevBody, err = b.nodeBody(c, row, t, cur); err != nil {
			return nil, err
		}
	}
	if attachments {
		if err := checkAttachmentsCarried(data, prevBody); err != nil {
			return nil, err
		}
	}
	if err := checkBlobRefs(unsatisfied, prevBody); err != nil {
		return nil, err
	}
	var stored storedVector
	if row != nil {
		stored = row.vector
	}
	vec, err := b.newVersion(currentVector(t, cur, stored))
	if err != nil {
		return nil, err
	}
	rev, seq, err := b.addLocalRevision(t, cur, deleted, data, c.seq+1)
	if err != nil {
		return nil, err
	}
	sv := storedVector{text: b.db.vectorText(vec), rev: rev}
	if _, err := b.storeDoc(c, id, row, t, seq, &sv); err != nil {
		return nil, err
	}
	doc := &Document{ID: id, RevID: rev, Sequence: seq, Deleted: deleted, Expiration: expirationTime(exp)}
	if !opts.NoBody {
		doc.Body = sb.owned()
	}
	doc.setNewVector(vec, sv.text)
	b.notifyDoc(c, doc, data)
	return doc, nil
}

// notifyDoc attaches to the change just recorded for doc (a local save's, doc being what
// it returns to its caller, body the compact body saved) a copy of doc with its own copy
// of body for the listeners (Change.Doc), when body is small and the collection has a
// change listener, up to notifiedBatchMax bytes of bodies per commit (a big batch's
// changes do not hold copies of all its bodies) and notifiedQueueMax in the notifier's
// queue (a slow listener). body may be the caller's input (and doc.Body nil: NoBody).
func (b *Batch) notifyDoc(c *Collection, doc *Document, body []byte) {
	if len(b.changes) == 0 || len(body) > NotifiedBodyMax || b.notified+len(body) > notifiedBatchMax {
		return
	}
	pc := &b.changes[len(b.changes)-1]
	if pc.c != c || pc.ch.Sequence != doc.Sequence || pc.ch.DocID != doc.ID || !b.db.notify.mayCarry(c, b.notified, len(body)) {
		return
	}
	cp := *doc
	cp.Body = cloneBytes(body)
	cp.Expiration = time.Time{}
	pc.ch.Doc = &cp
	b.notified += len(cp.Body)
}

// notifiedBatchMax bounds the bodies one commit's notification carries (see notifyDoc).
const notifiedBatchMax = 256 << 10

// saveBody prepares the body of a local save: "{}" for a deletion, else the compact
// body, whether it has a top-level _attachments (accepted only carried over unchanged,
// checked once the replaced revision is known; a body without one takes the fast path)
// and the blob references the blob store cannot back (refused unless carried over from
// the replaced revision, checkBlobRefs).
func (b *Batch) saveBody(body []byte, deleted bool) (savedBody, error) {
	if deleted {
		return savedBody{data: emptyObject()}, nil
	}
	// The compaction pass notes the keys and escapes the blob checks look for, so that a
	// body with none of them (most) is not scanned again.
	data, info, err := compactInfo(body, keysAttachmentsAllowed)
	if err != nil {
		return savedBody{}, err
	}
	sb := savedBody{data: data, inPlace: info.inPlace}
	if info.mayReference() {
		if sb.unsatisfied, err = b.unsatisfiedBlobs(data); err != nil {
			return savedBody{}, err
		}
	}
	sb.attachments = info.mayHaveTopLevelAttachments() && hasTopLevelAttachments(data)
	return sb, nil
}

// savedBody is a local save's body as saveBody prepared it.
type savedBody struct {
	data        []byte // the compact body: a slice of the caller's input when inPlace
	inPlace     bool
	attachments bool            // it has a top-level _attachments
	unsatisfied []blobstore.Ref // blob references the blob store cannot back
}

// owned returns the body for the Document handed back to the caller, which owns it: the
// compact body itself when compaction made it, else a copy of the caller's input (the
// store keeps nothing of the input past the call: the C API passes C memory in place).
func (sb savedBody) owned() []byte {
	if sb.inPlace {
		return cloneBytes(sb.data)
	}
	return sb.data
}

// checkSaveParent applies a save's preconditions to the current revision cur of t (-1:
// no document): a deletion needs a live document, and FailOnConflict needs
// opts.ParentRevID to be the current revision ("" = absent or deleted).
func checkSaveParent(t *revTree, cur int, deleted bool, opts SaveOptions) error {
	curDeleted := cur < 0 || t.nodes[cur].deleted
	if deleted && curDeleted {
		return fmt.Errorf("%w: document is absent or already deleted", ErrNotFound)
	}
	if opts.Concurrency != FailOnConflict {
		return nil
	}
	switch {
	case opts.ParentRevID == "" && !curDeleted:
		return fmt.Errorf("%w: document exists (current revision %s)", ErrConflict, t.nodes[cur].id)
	case opts.ParentRevID != "" && (cur < 0 || t.nodes[cur].id != opts.ParentRevID):
		current := "none"
		if cur >= 0 {
			current = t.nodes[cur].id
		}
		return fmt.Errorf("%w: parent %s is not the current revision (%s)", ErrConflict, opts.ParentRevID, current)
	}
	return nil
}

// addLocalRevision adds to t the revision of a local save with body data as a child of
// cur (-1: none) under sequence seq, and returns its ID and seq.
func (b *Batch) addLocalRevision(t *revTree, cur int, deleted bool, data []byte, seq uint64) (string, uint64, error) {
	parentGen, parentID := 0, ""
	if cur >= 0 {
		parentGen, parentID = t.nodes[cur].gen, t.nodes[cur].id
	}
	rev := newRevID(parentGen, parentID, deleted, data)
	if t.find(rev) >= 0 {
		// Only possible if a peer sent this very ID on another branch.
		return "", 0, fmt.Errorf("%w: revision %s already exists elsewhere in the tree", ErrConflict, rev)
	}
	addChild(t, cur, rev, deleted, data, seq)
	return rev, seq, nil
}

// addChild adds revision rev as a child of cur (-1: a root) and makes a deletion that
// leaves no live leaf the current revision.
func addChild(t *revTree, cur int, rev string, deleted bool, data []byte, seq uint64) {
	gen := 1
	if cur >= 0 {
		gen = t.nodes[cur].gen + 1
	}
	added := t.add(cur, rev, gen, deleted, data, seq)
	if deleted && len(t.liveLeaves()) == 0 {
		// The deletion is the document's new state: a tombstone closing an old branch
		// (a conflict resolved earlier) must not outrank it and stay current.
		t.removeLeaves(t.tombstonesAbove(added))
	}
}

// Purge removes document id and its whole history: no tombstone is left and
// nothing replicates. Listeners see a Change with Purged set.
func (b *Batch) Purge(c *Collection, id string) error {
	if err := b.purge(c, id, time.Time{}); err != nil {
		return fmt.Errorf("purge document %q: %w", id, err)
	}
	return nil
}

// docMeta checks the collection and ID, then reads the document's row key, deleted flag
// and expiration (ErrNotFound if the document is absent). Must run inside b.start/b.end.
func (b *Batch) docMeta(c *Collection, id string) (seq int64, deleted bool, exp sql.NullInt64, err error) {
	if err = b.checkColl(c); err != nil {
		return
	}
	if err = validateDocID(id); err != nil {
		return
	}
	err = c.w.selDocMeta.QueryRowContext(b.ctx, id).Scan(&seq, &deleted, &exp)
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	} else if err != nil {
		err = b.fail(err)
	}
	return
}

// purge deletes the document; with a non-zero expiredBy it only does so if
// the document's expiration is still at or before that time.
func (b *Batch) purge(c *Collection, id string, expiredBy time.Time) error {
	if err := b.start(); err != nil {
		return err
	}
	defer b.end()
	seq, deleted, exp, err := b.docMeta(c, id)
	if err != nil {
		return err
	}
	if !expiredBy.IsZero() && (!exp.Valid || exp.Int64 > expiredBy.UnixMilli()) {
		return ErrNotFound // expiration changed since the purger looked
	}
	if err := b.dropKeptBodies(c, id); err != nil {
		return err
	}
	if _, err := c.w.delDoc.ExecContext(b.ctx, seq); err != nil {
		return b.fail(err)
	}
	if _, err := b.db.wstmts.delDocRem.ExecContext(b.ctx, c.id, id); err != nil {
		return b.fail(err)
	}
	if _, err := b.db.wstmts.delKeptVer.ExecContext(b.ctx, c.id, id); err != nil {
		return b.fail(err)
	}
	b.touch(c)
	if !deleted {
		c.count--
	}
	b.changes = append(b.changes, pendingChange{c: c, ch: Change{DocID: id, Purged: true}})
	return nil
}

// dropKeptBodies deletes the rows of the kept-bodies table that document id refers to
// (the document exists).
func (b *Batch) dropKeptBodies(c *Collection, id string) error {
	var (
		seq     int64
		revid   string
		deleted bool
		tree    []byte
	)
	if err := c.w.selTree.QueryRowContext(b.ctx, id).Scan(&seq, &revid, &deleted, &tree); err != nil {
		return b.fail(err)
	}
	t, err := decodeRowTree(tree, []byte{}, revid, deleted, uint64(seq), false)
	if err != nil {
		// Purging is also how a damaged document is got rid of: it goes, and the kept
		// bodies its tree no longer names stay behind (unreachable, never read).
		return nil
	}
	for i := range t.nodes {
		if r := t.nodes[i].ref; r > 0 {
			if _, err := c.w.delKept.ExecContext(b.ctx, r); err != nil {
				return b.fail(err)
			}
		}
	}
	return nil
}

// SetExpiration sets (or with a zero time clears) the time after which the
// document is purged automatically. It makes no new revision.
func (b *Batch) SetExpiration(c *Collection, id string, at time.Time) error {
	err := func() error {
		if err := b.start(); err != nil {
			return err
		}
		defer b.end()
		seq, _, _, err := b.docMeta(c, id)
		if err != nil {
			return err
		}
		var v any
		if !at.IsZero() {
			v = at.UnixMilli()
		}
		if _, err := c.w.setExpiration.ExecContext(b.ctx, v, seq); err != nil {
			return b.fail(err)
		}
		if v != nil {
			// Once committed, the expiry loop looks for expirations again (expiryLoop).
			b.onCommit = append(b.onCommit, func() { b.db.expirySet.Add(1) })
		}
		return nil
	}()
	if err != nil {
		return fmt.Errorf("set expiration of %q: %w", id, err)
	}
	return nil
}

// Save adds a new revision of document id (see Batch.Save) in its own transaction.
func (c *Collection) Save(ctx context.Context, id string, body []byte, opts SaveOptions) (*Document, error) {
	var doc *Document
	err := c.write(ctx, "save document", func(b *Batch) (err error) {
		doc, err = b.Save(c, id, body, opts)
		return err
	})
	return doc, err
}

// Delete adds a tombstone revision; ErrNotFound if absent or already deleted.
func (c *Collection) Delete(ctx context.Context, id string, opts SaveOptions) (*Document, error) {
	var doc *Document
	err := c.write(ctx, "delete document", func(b *Batch) (err error) {
		doc, err = b.Delete(c, id, opts)
		return err
	})
	return doc, err
}

// Purge removes the document and its history entirely; ErrNotFound if absent.
func (c *Collection) Purge(ctx context.Context, id string) error {
	return c.write(ctx, "purge document", func(b *Batch) error { return b.Purge(c, id) })
}

// SetExpiration sets (zero time: clears) the document's expiration. After
// that time the document is purged automatically.
func (c *Collection) SetExpiration(ctx context.Context, id string, at time.Time) error {
	return c.write(ctx, "set expiration", func(b *Batch) error { return b.SetExpiration(c, id, at) })
}

// write runs fn in an internal transaction; errors from starting or
// committing it are prefixed with what, fn's own errors pass unchanged.
func (c *Collection) write(ctx context.Context, what string, fn func(b *Batch) error) error {
	b, err := c.db.begin(ctx, false)
	if err != nil {
		return fmt.Errorf("%s in %s: %w", what, c.FullName(), err)
	}
	if err := fn(b); err != nil {
		b.Rollback()
		return err
	}
	if err := b.Commit(); err != nil {
		return fmt.Errorf("%s in %s: %w", what, c.FullName(), err)
	}
	return nil
}

// Expiration returns the document's expiration (zero = none); ErrNotFound if absent.
func (c *Collection) Expiration(ctx context.Context, id string) (time.Time, error) {
	r, err := c.enterForDoc(ctx, id)
	if err != nil {
		return time.Time{}, fmt.Errorf("get expiration of %q: %w", id, err)
	}
	defer c.db.leave()
	var exp sql.NullInt64
	err = r.expiration.QueryRowContext(ctx, id).Scan(&exp)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, fmt.Errorf("get expiration of %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("get expiration of %q: %w", id, classify(err))
	}
	return expirationTime(exp), nil
}

// Get returns the current revision; ErrNotFound if the document is missing or deleted.
func (c *Collection) Get(ctx context.Context, id string) (*Document, error) {
	doc, err := c.getCurrent(ctx, id)
	if err == nil && doc.Deleted {
		err = fmt.Errorf("%w: document is deleted", ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get document %q: %w", id, err)
	}
	return doc, nil
}

// GetWithDeleted returns the current revision, tombstones included (Deleted=true).
func (c *Collection) GetWithDeleted(ctx context.Context, id string) (*Document, error) {
	doc, err := c.getCurrent(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("get document %q: %w", id, err)
	}
	return doc, nil
}

// enterForDoc starts a read of document id: it enters the database, checks the
// collection and the ID, and returns the reader statements. On success the caller must
// call c.db.leave(); on failure nothing is left entered.
func (c *Collection) enterForDoc(ctx context.Context, id string) (*collReaderStmts, error) {
	if err := c.usable(); err != nil {
		return nil, err
	}
	err := validateDocID(id)
	var r *collReaderStmts
	if err == nil {
		r, err = c.readers(ctx)
	}
	if err != nil {
		c.db.leave()
		return nil, err
	}
	return r, nil
}

func (c *Collection) getCurrent(ctx context.Context, id string) (*Document, error) {
	r, err := c.enterForDoc(ctx, id)
	if err != nil {
		return nil, err
	}
	defer c.db.leave()
	doc := &Document{ID: id}
	var (
		seq       int64
		exp       sql.NullInt64
		vv, vvRev sql.NullString
	)
	err = r.getDoc.QueryRowContext(ctx, id).Scan(&doc.RevID, &doc.Deleted, &seq, &exp, &doc.Body, &vv, &vvRev)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, classify(err)
	}
	doc.Sequence = uint64(seq)
	doc.Expiration = expirationTime(exp)
	doc.setVector(scanVector(vv, vvRev, doc.RevID))
	return doc, nil
}

// docTree is a document's row with its decoded tree, as read by readers.
type docTree struct {
	revid      string
	deleted    bool
	seq        uint64
	expiration sql.NullInt64
	tree       *revTree
	vector     storedVector
}

func (c *Collection) readTree(ctx context.Context, id string) (*docTree, error) {
	r, err := c.enterForDoc(ctx, id)
	if err != nil {
		return nil, err
	}
	defer c.db.leave()
	var (
		d          docTree
		seq        int64
		tree, body []byte
		vv, vvRev  sql.NullString
	)
	err = r.getTree.QueryRowContext(ctx, id).Scan(&d.revid, &d.deleted, &seq, &d.expiration, &tree, &body, &vv, &vvRev)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, classify(err)
	}
	d.seq = uint64(seq)
	d.vector = scanVector(vv, vvRev, d.revid)
	if d.tree, err = decodeRowTree(tree, body, d.revid, d.deleted, d.seq, true); err != nil {
		return nil, err
	}
	return &d, nil
}

// skippedColumn stands for the docs.body column in a tree read without it
// (readTreeFor): the current revision's node gets it as its body.
var skippedColumn = make([]byte, 0, 1)

func isSkippedColumn(b []byte) bool {
	return cap(b) > 0 && &b[:1][0] == &skippedColumn[:1][0]
}

// readTreeFor reads a document's tree for one revision's sake and hands it to use.
// The body column is read only when revID is the current revision (else the current
// node's body is skippedColumn; with revID "" no body column is read), and the tree
// is decoded from the bytes SQLite holds, without copying them: kept bodies are
// slices of it, valid only until use returns.
func (c *Collection) readTreeFor(ctx context.Context, id, revID string, use func(d *docTree) error) error {
	r, err := c.enterForDoc(ctx, id)
	if err != nil {
		return err
	}
	defer c.db.leave()
	rows, err := r.getTreeRev.QueryContext(ctx, id, revID)
	if err != nil {
		return classify(err)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return classify(err)
		}
		return ErrNotFound
	}
	var (
		d         docTree
		seq       int64
		tree      sql.RawBytes
		body      []byte
		vv, vvRev sql.NullString
	)
	if err := rows.Scan(&d.revid, &d.deleted, &seq, &d.expiration, &tree, &body, &vv, &vvRev); err != nil {
		return classify(err)
	}
	d.seq = uint64(seq)
	d.vector = scanVector(vv, vvRev, d.revid)
	if body == nil {
		body = skippedColumn
	}
	if d.tree, err = decodeRowTree(tree, body, d.revid, d.deleted, d.seq, false); err != nil {
		return err
	}
	return use(&d)
}

// GetRevision returns a specific revision if its body is still kept (see
// the package documentation for what is kept); ErrNotFound otherwise.
func (c *Collection) GetRevision(ctx context.Context, id, revID string) (*Document, error) {
	if _, _, err := parseRevID(revID); err != nil {
		return nil, fmt.Errorf("get revision %s of %q: %w", revID, id, err)
	}
	// A body in the kept-bodies table is read after the tree, in a statement of its own:
	// if a save dropped it in between, the tree is read again (it then says whether the
	// body is still kept), a few times at most.
	for attempt := 1; ; attempt++ {
		doc, gone, err := c.getRevision(ctx, id, revID)
		if gone && attempt < 4 {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("get revision %s of %q: %w", revID, id, err)
		}
		return doc, nil
	}
}

// testAfterTreeRead, when a test sets it, runs between GetRevision's two reads.
var testAfterTreeRead func()

// getRevision is one attempt of GetRevision; gone reports a kept body that was no longer
// in the kept-bodies table when read after the tree (err is then ErrNotFound).
func (c *Collection) getRevision(ctx context.Context, id, revID string) (_ *Document, gone bool, _ error) {
	var doc *Document
	var ref int64 // the body is this row of the kept-bodies table, read after the tree
	var isDelta bool
	pick := func(d *docTree, i int) error {
		if i < 0 {
			return fmt.Errorf("%w: unknown revision", ErrNotFound)
		}
		n := d.tree.nodes[i]
		isDelta = n.ref > 0 && n.delta
		if ref = n.ref; ref > 0 {
			n.body = []byte{}
		}
		if n.body == nil {
			return fmt.Errorf("%w: body no longer kept", ErrNotFound)
		}
		doc = &Document{ID: id, RevID: n.id, Sequence: n.seq, Deleted: n.deleted, Body: n.body, Expiration: expirationTime(d.expiration)}
		doc.setVector(d.vector)
		return nil
	}
	whole := false
	err := c.readTreeFor(ctx, id, revID, func(d *docTree) error {
		i := d.tree.find(revID)
		if i >= 0 && isSkippedColumn(d.tree.nodes[i].body) {
			whole = true // in the column, yet not the row's current revision (not expected)
			return nil
		}
		if err := pick(d, i); err != nil {
			return err
		}
		if d.revid != revID && d.tree.nodes[i].ref == 0 {
			doc.Body = cloneBytes(doc.Body) // a slice of the tree as SQLite holds it
		} // else the column, or the kept body, as read for this call: the caller's own
		return nil
	})
	if err == nil && whole {
		var d *docTree
		if d, err = c.readTree(ctx, id); err == nil {
			if err = pick(d, d.tree.find(revID)); err == nil {
				doc.Body = cloneBytes(doc.Body)
			}
		}
	}
	if err == nil && isDelta {
		// A reverse delta (keptdelta.go): it needs the body column, which this read skipped.
		return c.readDeltaRevision(ctx, id, revID)
	}
	if err == nil && ref > 0 {
		if testAfterTreeRead != nil {
			testAfterTreeRead()
		}
		doc.Body, err = c.keptBody(ctx, ref)
		gone = errors.Is(err, ErrNotFound)
	}
	if err != nil {
		return nil, gone, err
	}
	return doc, false, nil
}

// keptBody reads row ref of the kept-bodies table (see keptTable): the body of a
// revision that is not the current one. An ID is never reused, so a row that is gone
// means the body is no longer kept (the document changed since its tree was read).
func (c *Collection) keptBody(ctx context.Context, ref int64) ([]byte, error) {
	if err := c.usable(); err != nil {
		return nil, err
	}
	defer c.db.leave()
	r, err := c.readers(ctx)
	if err != nil {
		return nil, err
	}
	var body []byte
	err = r.getKept.QueryRowContext(ctx, ref).Scan(&body)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: body no longer kept", ErrNotFound)
	}
	if err != nil {
		return nil, classify(err)
	}
	return body, nil
}

// Revisions returns the kept revision tree, newest generation first.
func (c *Collection) Revisions(ctx context.Context, id string) ([]Revision, error) {
	d, err := c.readTree(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("get revisions of %q: %w", id, err)
	}
	return d.tree.revisions(), nil
}

// History returns the kept ancestors of revID, newest first, excluding
// revID itself; max <= 0 means all.
func (c *Collection) History(ctx context.Context, id, revID string, max int) ([]string, error) {
	if _, _, err := parseRevID(revID); err != nil {
		return nil, fmt.Errorf("get history of %q: %w", id, err)
	}
	var hist []string
	err := c.readTreeFor(ctx, id, "", func(d *docTree) error {
		i := d.tree.find(revID)
		if i < 0 {
			return fmt.Errorf("%w: unknown revision %s", ErrNotFound, revID)
		}
		hist = d.tree.ancestors(i, max)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("get history of %q: %w", id, err)
	}
	return hist, nil
}

// Conflicts returns the live leaf revisions other than the current one
// (best first by the winner rule); empty if the document is not in conflict.
func (c *Collection) Conflicts(ctx context.Context, id string) ([]string, error) {
	d, err := c.readTree(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("get conflicts of %q: %w", id, err)
	}
	return conflictsOf(d.tree), nil
}

func conflictsOf(t *revTree) []string {
	cur := t.winner()
	leaves := t.liveLeaves()
	out := []string{}
	for _, i := range leaves {
		if i != cur {
			out = append(out, t.nodes[i].id)
		}
	}
	// best first by the winner rule
	for i := 1; i < len(out); i++ {
		for j := i; j > 0; j-- {
			a, b := t.find(out[j]), t.find(out[j-1])
			if !t.better(a, b) {
				break
			}
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}
