package store

import (
	"encoding/binary"
	"fmt"
	"sort"
)

// revNode is one revision of a document's revision tree.
type revNode struct {
	id      string // "<gen>-<digest>"
	gen     int
	parent  int // index into revTree.nodes, -1 for a root (first revision or pruned history)
	deleted bool
	seq     uint64 // sequence at which this revision was added locally (0 for history-only revisions)
	body    []byte // the kept body when loaded; nil when not kept or not loaded (ref, col)
	// ref > 0: the body is row ref of the collection's kept-bodies table (a large body of
	// a revision that is not the current one; see "Storage" in doc.go). body is nil
	// until loaded (Batch.nodeBody).
	ref int64
	// col: the body is the docs.body column of the row as loaded (the node was the
	// current revision); body is nil when the column was not read (a large body).
	col bool
	// delta (schema 3, with ref): the kept-table row holds not the body but a delta that
	// turns the row's body column into it, byte for byte (see "Reverse deltas" in
	// document.go). Valid only while the column holds what it held when the row was
	// written: storeDoc never rewrites the column while such a node keeps its body.
	delta bool
}

// hasBody reports whether the revision's body is kept (loaded or not).
func (n *revNode) hasBody() bool { return n.body != nil || n.ref > 0 || n.col }

// dropBody forgets the revision's body (a kept-table row it had is deleted by storeDoc).
func (n *revNode) dropBody() { n.body, n.ref, n.col, n.delta = nil, 0, false, false }

// revTree is a document's revision tree. Invariant: a node's parent has a
// smaller index and a generation exactly one lower; IDs are unique.
type revTree struct {
	nodes []revNode
}

func (t *revTree) find(rev string) int {
	for i := range t.nodes {
		if t.nodes[i].id == rev {
			return i
		}
	}
	return -1
}

// isParent reports, for each node, whether some node has it as parent (i.e.
// whether it is NOT a leaf).
func (t *revTree) isParent() []bool {
	p := make([]bool, len(t.nodes))
	for i := range t.nodes {
		if t.nodes[i].parent >= 0 {
			p[t.nodes[i].parent] = true
		}
	}
	return p
}

func (t *revTree) isLeaf(i int) bool {
	for j := i + 1; j < len(t.nodes); j++ {
		if t.nodes[j].parent == i {
			return false
		}
	}
	return true
}

// winner returns the index of the current revision: the best leaf by the
// winner rule. -1 for an empty tree.
func (t *revTree) winner() int {
	nonLeaf := t.isParent()
	best := -1
	for i := range t.nodes {
		if nonLeaf[i] {
			continue
		}
		if best < 0 || t.better(i, best) {
			best = i
		}
	}
	return best
}

func (t *revTree) better(i, j int) bool {
	a, b := &t.nodes[i], &t.nodes[j]
	return compareRevs(a.deleted, a.gen, a.id, b.deleted, b.gen, b.id) > 0
}

// liveLeaves returns the non-deleted leaves.
func (t *revTree) liveLeaves() []int {
	nonLeaf := t.isParent()
	var out []int
	for i := range t.nodes {
		if !nonLeaf[i] && !t.nodes[i].deleted {
			out = append(out, i)
		}
	}
	return out
}

// add appends a revision as a child of parent (-1 for a root) and returns its index.
func (t *revTree) add(parent int, id string, gen int, deleted bool, body []byte, seq uint64) int {
	t.nodes = append(t.nodes, revNode{id: id, gen: gen, parent: parent, deleted: deleted, body: body, seq: seq})
	return len(t.nodes) - 1
}

// ancestors returns the revision IDs of the ancestors of node i, newest
// first; max <= 0 means all that are kept.
func (t *revTree) ancestors(i, max int) []string {
	var out []string
	for p := t.nodes[i].parent; p >= 0; p = t.nodes[p].parent {
		if max > 0 && len(out) >= max {
			break
		}
		out = append(out, t.nodes[p].id)
	}
	return out
}

// prune keeps, for every leaf, the leaf and its maxDepth-1 nearest ancestors,
// and removes every other revision. Children of removed revisions become roots.
// It reports whether anything was removed.
func (t *revTree) prune(maxDepth int) bool {
	if maxDepth <= 0 || len(t.nodes) <= maxDepth {
		return false
	}
	nonLeaf := t.isParent()
	keep := make([]bool, len(t.nodes))
	for i := range t.nodes {
		if nonLeaf[i] {
			continue
		}
		d := 0
		for p := i; p >= 0 && d < maxDepth; p = t.nodes[p].parent {
			keep[p] = true
			d++
		}
	}
	return t.keepOnly(keep)
}

// keepOnly removes every revision not marked in keep. Children of removed revisions
// become roots. It reports whether anything was removed.
func (t *revTree) keepOnly(keep []bool) bool {
	removed := false
	newIndex := make([]int, len(t.nodes))
	out := t.nodes[:0]
	for i := range t.nodes {
		if !keep[i] {
			newIndex[i] = -1
			removed = true
			continue
		}
		n := t.nodes[i]
		if n.parent >= 0 {
			n.parent = newIndex[n.parent]
		}
		newIndex[i] = len(out)
		out = append(out, n)
	}
	t.nodes = out
	return removed
}

// removeLeaves removes the leaves marked in drop together with their branches: every
// ancestor that no remaining leaf descends from. A revision shared with a kept branch
// (the branch point and everything above it) stays. Indexes change: look nodes up by
// ID afterwards.
func (t *revTree) removeLeaves(drop []bool) {
	nonLeaf := t.isParent()
	keep := make([]bool, len(t.nodes))
	for i := range t.nodes {
		if nonLeaf[i] || drop[i] {
			continue
		}
		for p := i; p >= 0 && !keep[p]; p = t.nodes[p].parent {
			keep[p] = true
		}
	}
	t.keepOnly(keep)
}

// tombstonesAbove marks, for the deleted leaf w, the other deleted leaves that beat it
// by the winner rule: the ones to remove so that w becomes the current revision of a
// document without live leaves.
func (t *revTree) tombstonesAbove(w int) []bool {
	nonLeaf := t.isParent()
	drop := make([]bool, len(t.nodes))
	for i := range t.nodes {
		if i != w && !nonLeaf[i] && t.nodes[i].deleted && t.better(i, w) {
			drop[i] = true
		}
	}
	return drop
}

// dropBodies applies the body retention rule: a revision keeps its body if
// it is a leaf, or if it is the parent of the current revision (so a delta
// against the previous version can still be made). Everything else loses it.
func (t *revTree) dropBodies(current int) {
	nonLeaf := t.isParent()
	keepParent := -1
	if current >= 0 {
		keepParent = t.nodes[current].parent
	}
	for i := range t.nodes {
		if nonLeaf[i] && i != keepParent {
			t.nodes[i].dropBody()
		}
	}
}

// sortedRevisions returns the tree as Revision values, newest generation
// first, ties by revID descending.
func (t *revTree) revisions() []Revision {
	nonLeaf := t.isParent()
	out := make([]Revision, 0, len(t.nodes))
	for i, n := range t.nodes {
		r := Revision{RevID: n.id, Deleted: n.deleted, Leaf: !nonLeaf[i], HasBody: n.hasBody(), Sequence: n.seq}
		if n.parent >= 0 {
			r.Parent = t.nodes[n.parent].id
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool {
		gi, gj := revGen(out[i].RevID), revGen(out[j].RevID)
		if gi != gj {
			return gi > gj
		}
		return out[i].RevID > out[j].RevID
	})
	return out
}

// Tree encoding (our own storage format, version 1):
//
//	byte     version (1)
//	uvarint  node count
//	per node:
//	  uvarint  len(id), id bytes
//	  uvarint  parent index + 1 (0 = root)
//	  byte     flags: 1 deleted, 2 has body, 4 body is the docs.body column (current
//	           revision), 8 body is a row of the kept-bodies table (schema 2),
//	           16 (with 8) that row is a delta against the body column (schema 3)
//	  uvarint  sequence
//	  if flag 8: uvarint row ID in the kept-bodies table
//	  else if has body and not in column: uvarint len, body bytes
//
// Schema 2 also stores the commonest tree, one revision (a root) added under the row's
// own sequence with its body in the column, as an empty blob: the row's revid, deleted
// and seq columns say everything (see singleTree).
const (
	treeFormatVersion = 1
	flagDeleted       = 1
	flagHasBody       = 2
	flagBodyInColumn  = 4
	flagBodyKept      = 8
	flagBodyDelta     = 16
)

// isSingle reports whether t is the tree encodeTree stores as an empty blob for a row of
// sequence rowSeq: one root revision, added under rowSeq, its body in the column.
func (t *revTree) isSingle(rowSeq uint64) bool {
	if len(t.nodes) != 1 {
		return false
	}
	n := &t.nodes[0]
	return n.parent < 0 && n.seq == rowSeq && n.ref == 0 && (n.body != nil || n.col)
}

// singleTree is the tree an empty tree blob stands for (see isSingle).
func singleTree(revid string, deleted bool, rowSeq uint64, column []byte) (*revTree, error) {
	gen, _, err := parseRevID(revid)
	if err != nil {
		return nil, fmt.Errorf("%w: revision tree: %v", ErrCorrupt, err)
	}
	return &revTree{nodes: []revNode{{id: revid, gen: gen, parent: -1, deleted: deleted, seq: rowSeq, body: column, col: true}}}, nil
}

// encodeTree serialises t, the tree of a row of sequence rowSeq whose current revision
// is node current; that node's body (if kept) is not written because it lives in the
// docs.body column. Nodes with a kept-table row are written by reference.
func encodeTree(t *revTree, current int, rowSeq uint64, buf []byte) []byte {
	if buf == nil {
		buf = make([]byte, 0, 256) // never nil: an empty tree is an empty blob, not NULL
	}
	buf = buf[:0]
	if current == 0 && t.isSingle(rowSeq) {
		return buf
	}
	buf = append(buf, treeFormatVersion)
	buf = binary.AppendUvarint(buf, uint64(len(t.nodes)))
	for i := range t.nodes {
		n := &t.nodes[i]
		buf = binary.AppendUvarint(buf, uint64(len(n.id)))
		buf = append(buf, n.id...)
		buf = binary.AppendUvarint(buf, uint64(n.parent+1))
		var flags byte
		if n.deleted {
			flags |= flagDeleted
		}
		if n.hasBody() {
			flags |= flagHasBody
			switch {
			case i == current:
				flags |= flagBodyInColumn
			case n.ref > 0:
				flags |= flagBodyKept
				if n.delta {
					flags |= flagBodyDelta
				}
			}
		}
		buf = append(buf, flags)
		buf = binary.AppendUvarint(buf, n.seq)
		switch {
		case flags&(flagHasBody|flagBodyInColumn) != flagHasBody:
		case n.ref > 0:
			buf = binary.AppendUvarint(buf, uint64(n.ref))
		default:
			buf = binary.AppendUvarint(buf, uint64(len(n.body)))
			buf = append(buf, n.body...)
		}
	}
	return buf
}

// decodeTree parses an encoded tree (not the empty form of schema 2, see decodeRowTree);
// column is the docs.body value, given to the node flagged as the current revision.
// Malformed input is ErrCorrupt; the decoder never panics and checks every invariant of
// revTree.
func decodeTree(data, column []byte) (*revTree, error) {
	return decodeTreeBodies(data, column, true)
}

// decodeRowTree decodes the tree column of a documents row whose revid, deleted and seq
// columns are given: an empty blob is the row's one revision (singleTree). column is the
// body column, nil when it was not read (the current node then has col set and no body).
func decodeRowTree(data, column []byte, revid string, deleted bool, seq uint64, copyBodies bool) (*revTree, error) {
	if len(data) == 0 {
		return singleTree(revid, deleted, seq, column)
	}
	return decodeTreeBodies(data, column, copyBodies)
}

// decodeNodeBody reads what node n's flags say about its body from p (a kept-table
// reference or an inline body; the body column is column, which only one node may
// claim) and returns the rest of p, or what is wrong with it.
func decodeNodeBody(n *revNode, flags byte, p, column []byte, columnSeen *bool, copyBodies bool) ([]byte, string) {
	switch {
	case flags&flagHasBody == 0:
		if flags&(flagBodyInColumn|flagBodyKept|flagBodyDelta) != 0 {
			return p, "body flag without body"
		}
	case flags&flagBodyDelta != 0 && flags&(flagBodyKept|flagBodyInColumn) != flagBodyKept:
		return p, "delta flag without a kept body"
	case flags&flagBodyInColumn != 0:
		if flags&flagBodyKept != 0 || *columnSeen {
			return p, "body column claimed twice"
		}
		*columnSeen = true
		n.body, n.col = column, true
	case flags&flagBodyKept != 0:
		ref, k := binary.Uvarint(p)
		if k <= 0 || ref == 0 || ref > 1<<62 {
			return p, "bad kept body reference"
		}
		n.ref, n.delta = int64(ref), flags&flagBodyDelta != 0
		p = p[k:]
	default:
		bl, k := binary.Uvarint(p)
		if k <= 0 || bl > uint64(len(p)-k) {
			return p, "truncated body"
		}
		n.body = p[k : k+int(bl) : k+int(bl)]
		if copyBodies {
			n.body = append([]byte{}, n.body...)
		}
		p = p[k+int(bl):]
	}
	return p, ""
}

// decodeTreeBodies is decodeTree; with copyBodies false the kept bodies of the
// nodes are slices of data instead of copies (data must then be the caller's own).
func decodeTreeBodies(data, column []byte, copyBodies bool) (*revTree, error) {
	bad := func(what string) error { return fmt.Errorf("%w: revision tree: %s", ErrCorrupt, what) }
	if len(data) < 2 || data[0] != treeFormatVersion {
		return nil, bad("unknown format")
	}
	p := data[1:]
	count, k := binary.Uvarint(p)
	if k <= 0 || count == 0 || count > uint64(len(p)) {
		return nil, bad("bad node count")
	}
	p = p[k:]
	t := &revTree{nodes: make([]revNode, 0, count)}
	seen := make(map[string]struct{}, count)
	columnSeen := false
	for i := 0; i < int(count); i++ {
		l, k := binary.Uvarint(p)
		if k <= 0 || l > uint64(len(p)-k) {
			return nil, bad("truncated revision ID")
		}
		id := string(p[k : k+int(l)])
		p = p[k+int(l):]
		gen, _, err := parseRevID(id)
		if err != nil {
			return nil, bad(err.Error())
		}
		if _, dup := seen[id]; dup {
			return nil, bad("duplicate revision " + id)
		}
		seen[id] = struct{}{}
		par, k := binary.Uvarint(p)
		if k <= 0 || par > uint64(i) {
			return nil, bad("bad parent index")
		}
		p = p[k:]
		parent := int(par) - 1
		if parent >= 0 && t.nodes[parent].gen != gen-1 {
			return nil, bad("parent generation mismatch")
		}
		if len(p) < 1 {
			return nil, bad("truncated flags")
		}
		flags := p[0]
		p = p[1:]
		if flags&^(flagDeleted|flagHasBody|flagBodyInColumn|flagBodyKept|flagBodyDelta) != 0 {
			return nil, bad("unknown flags")
		}
		seq, k := binary.Uvarint(p)
		if k <= 0 {
			return nil, bad("bad sequence")
		}
		p = p[k:]
		n := revNode{id: id, gen: gen, parent: parent, deleted: flags&flagDeleted != 0, seq: seq}
		var what string
		if p, what = decodeNodeBody(&n, flags, p, column, &columnSeen, copyBodies); what != "" {
			return nil, bad(what)
		}
		t.nodes = append(t.nodes, n)
	}
	if len(p) != 0 {
		return nil, bad("trailing bytes")
	}
	return t, nil
}
