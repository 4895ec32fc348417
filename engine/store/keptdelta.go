package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/p2psync/libp2psync/engine/blobstore"
	"github.com/p2psync/libp2psync/engine/delta"
)

// Reverse deltas (schema 3).
//
// The body retention rule keeps the parent of the current revision, so an update of a
// large document used to write two full bodies: the new one into the documents row and
// the old one into the kept-bodies table. When a revision arrives as a delta, the
// receiver has both bodies in memory anyway and can cheaply express the old body as a
// delta against the new one (usually a few bytes): the kept-bodies row then holds that
// reverse delta, and its tree node carries flagBodyDelta. Reading such a body applies the
// row to the documents row's body column (delta.Apply), which rebuilds it byte for byte
// (the caller made the delta with delta.CreateExact, which checks exactly that).
//
// The invariant that keeps this correct: a node with a delta row is only ever relative to
// the body column as it is while that node keeps its body. storeDoc rewrites the column
// only when the current revision changes, and keepBodies then either drops such a node's
// body (the usual case: the parent's parent loses its body) or stores it in full first
// (materializeDelta), reading the column before it is rewritten. A delta row's ID is never
// reused (AUTOINCREMENT) and every rewrite of the column deletes every delta row of the
// document, so a reader who finds a delta row after reading the column read the column it
// belongs to (getRevision). Bodies that may reference blobs are never stored as deltas, so
// that Compact, which looks for blob references in the kept rows as they are, finds all
// of them.

// BaseDelta is what a receiver of a revision sent as a delta can hand to
// PutExistingRevision and PutExistingVersion so that the base revision's body, when it
// is the current revision's and the received one replaces it, is kept as a delta instead
// of a second full copy.
type BaseDelta struct {
	// RevID is the rev-tree ID of the base revision (the current revision when the
	// received one was applied to it).
	RevID string
	// Delta turns the received revision's Body into the base revision's body, byte for
	// byte, under delta.Apply; make it with delta.CreateExact(received body, base body)
	// and pass it only when exact is true.
	Delta []byte
}

// pendingBase is the BaseDelta of the revision being inserted (Batch.reverse), with the
// body it is relative to.
type pendingBase struct {
	docID string
	base  BaseDelta
	body  []byte // the received body the delta applies to (as stored)
}

// usableBaseDelta returns the pending base delta for a revision of document id and its
// stored body (info: what compacting it noticed), or nil when there is none or it does
// not fit: a body that may reference blobs (see the package comment above; the stored
// body is judged by info, which the compaction pass already gathered, instead of a
// second scan), or a body the store rewrote (compacted).
func usableBaseDelta(id string, bd *BaseDelta, received, stored []byte, info bodyInfo) *pendingBase {
	if bd == nil || len(bd.Delta) == 0 || len(bd.Delta) >= len(stored) || !sameBytes(received, stored) ||
		info.mayReference() || blobstore.MayReference(bd.Delta) {
		return nil
	}
	return &pendingBase{docID: id, base: *bd, body: stored}
}

// sameBytes is bytes.Equal, at once for a slice compared with itself (the stored body is
// usually the received one as it was).
func sameBytes(a, b []byte) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0] || bytes.Equal(a, b))
}

// reverseFor returns the delta row to keep for node n of t, the body leaving the column
// for the current revision cur of document id; nil when n's body is to be copied whole.
func (b *Batch) reverseFor(id string, t *revTree, n *revNode, cur int) []byte {
	r := b.reverse
	if r == nil || r.docID != id || n.id != r.base.RevID || n.deleted || !sameBytes(t.nodes[cur].body, r.body) {
		return nil
	}
	return r.base.Delta
}

// deltaBody rebuilds a body kept as a delta row against column, the body column it
// belongs to. Failing is damage: the row was checked when it was written.
func deltaBody(revID string, ref int64, column, d []byte) ([]byte, error) {
	body, err := delta.Apply(column, d)
	if err != nil {
		return nil, fmt.Errorf("%w: revision %s: kept delta %d does not apply: %v", ErrCorrupt, revID, ref, err)
	}
	return body, nil
}

// columnBody reads the body column of document row as the writer sees it: the body of the
// row's current revision until storeDoc rewrites it, the new one after (row.seq follows).
func (b *Batch) columnBody(c *Collection, row *docRow) ([]byte, error) {
	var body []byte
	if err := c.w.selBody.QueryRowContext(b.ctx, row.seq).Scan(&body); err != nil {
		return nil, b.fail(err)
	}
	return body, nil
}

// materializeDelta stores node n's body, kept as a delta row against the column about to
// be rewritten, as a full kept row (the delta row is then no longer referred to, and
// keepBodies deletes it).
func (b *Batch) materializeDelta(c *Collection, row *docRow, t *revTree, i int) error {
	body, err := b.nodeBody(c, row, t, i)
	if err != nil {
		return err
	}
	res, err := c.w.keepBody.ExecContext(b.ctx, body)
	if err != nil {
		return b.fail(err)
	}
	n := &t.nodes[i]
	if n.ref, err = res.LastInsertId(); err != nil {
		return b.fail(err)
	}
	n.delta = false
	return nil
}

// readDeltaRevision is getRevision for a revision whose body is a delta row: the tree is
// read again with the body column, then the row; gone when the row was deleted in
// between (the column changed: GetRevision reads the tree again).
func (c *Collection) readDeltaRevision(ctx context.Context, id, revID string) (_ *Document, gone bool, _ error) {
	d, err := c.readTree(ctx, id)
	if err != nil {
		return nil, false, err
	}
	i := d.tree.find(revID)
	if i < 0 || !d.tree.nodes[i].hasBody() {
		return nil, false, fmt.Errorf("%w: body no longer kept", ErrNotFound)
	}
	n := d.tree.nodes[i]
	doc := &Document{ID: id, RevID: n.id, Sequence: n.seq, Deleted: n.deleted, Body: n.body, Expiration: expirationTime(d.expiration)}
	doc.setVector(d.vector)
	if n.ref == 0 {
		doc.Body = cloneBytes(n.body)
		return doc, false, nil
	}
	if testAfterTreeRead != nil {
		testAfterTreeRead()
	}
	kept, err := c.keptBody(ctx, n.ref)
	if err != nil {
		return nil, errors.Is(err, ErrNotFound), err
	}
	if !n.delta {
		doc.Body = kept
		return doc, false, nil
	}
	cur := d.tree.find(d.revid)
	if cur < 0 || d.tree.nodes[cur].body == nil {
		return nil, false, fmt.Errorf("%w: revision %s: kept delta without a body column", ErrCorrupt, revID)
	}
	if doc.Body, err = deltaBody(revID, n.ref, d.tree.nodes[cur].body, kept); err != nil {
		return nil, false, err
	}
	return doc, false, nil
}
