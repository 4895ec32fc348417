package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func rid(gen int, c byte) string { return fmt.Sprintf("%d-%s", gen, strings.Repeat(string(c), 40)) }

// chain builds a linear tree 1..n with digests of byte c, bodies on every node.
func chain(n int, c byte) *revTree {
	t := &revTree{}
	parent := -1
	for g := 1; g <= n; g++ {
		parent = t.add(parent, rid(g, c), g, false, []byte(fmt.Sprintf(`{"g":%d}`, g)), uint64(g))
	}
	return t
}

func TestParseRevID(t *testing.T) {
	tests := []struct {
		in   string
		gen  int
		ok   bool
		desc string
	}{
		{"1-abc", 1, true, "short digest"},
		{rid(12, 'f'), 12, true, "sha1"},
		{"3-" + strings.Repeat("0", 32), 3, true, "md5 length"},
		{"", 0, false, "empty"},
		{"1", 0, false, "no dash"},
		{"-abc", 0, false, "no generation"},
		{"0-abc", 0, false, "zero"},
		{"01-abc", 0, false, "leading zero"},
		{"1-", 0, false, "no digest"},
		{"1-ABC", 0, false, "upper case"},
		{"1-ab-c", 0, false, "second dash"},
		{"x-abc", 0, false, "letters"},
		{"2147483648-ab", 0, false, "generation too large"},
		{"1-" + strings.Repeat("a", 129), 0, false, "digest too long"},
		{"+1-ab", 0, false, "sign"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			gen, _, err := parseRevID(tt.in)
			if tt.ok != (err == nil) || gen != tt.gen {
				t.Fatalf("parseRevID(%q) = %d, %v", tt.in, gen, err)
			}
			if err != nil && !errors.Is(err, ErrInvalidRevID) {
				t.Fatalf("error %v does not wrap ErrInvalidRevID", err)
			}
		})
	}
}

func TestWinnerRule(t *testing.T) {
	tests := []struct {
		name   string
		leaves []struct {
			rev     string
			deleted bool
		}
		want string
	}{
		{"higher generation", leaves(rid(2, 'a'), false, rid(3, '1'), false), rid(3, '1')},
		{"larger digest at same generation", leaves(rid(2, 'a'), false, rid(2, 'b'), false), rid(2, 'b')},
		{"live beats deleted of higher generation", leaves(rid(2, 'a'), false, rid(9, 'f'), true), rid(2, 'a')},
		{"all deleted: higher generation", leaves(rid(4, 'a'), true, rid(3, 'f'), true), rid(4, 'a')},
		{"all deleted: larger digest", leaves(rid(4, 'a'), true, rid(4, 'c'), true), rid(4, 'c')},
		{"md5 vs sha1 digests compare as strings", leaves("2-ffff", false, "2-fffe"+strings.Repeat("0", 36), false), "2-ffff"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := &revTree{}
			root := tr.add(-1, "1-00", 1, false, nil, 1)
			for _, l := range tt.leaves {
				// Build a chain from the root to each leaf's generation.
				g, _, _ := parseRevID(l.rev)
				p := root
				for k := 2; k < g; k++ {
					p = tr.add(p, fmt.Sprintf("%d-%s%02x", k, l.rev[len(l.rev)-1:], k), k, false, nil, 0)
				}
				tr.add(p, l.rev, g, l.deleted, []byte("{}"), 0)
			}
			if got := tr.nodes[tr.winner()].id; got != tt.want {
				t.Fatalf("winner = %s, want %s", got, tt.want)
			}
		})
	}
}

func leaves(a string, ad bool, b string, bd bool) []struct {
	rev     string
	deleted bool
} {
	return []struct {
		rev     string
		deleted bool
	}{{a, ad}, {b, bd}}
}

func TestBranchingAndConflicts(t *testing.T) {
	tr := chain(2, 'a')                                    // 1-a, 2-a
	b := tr.add(0, rid(2, 'b'), 2, false, []byte(`{}`), 3) // second child of 1-a
	if tr.isLeaf(0) || !tr.isLeaf(1) || !tr.isLeaf(b) {
		t.Fatal("leaf detection wrong")
	}
	if got := tr.nodes[tr.winner()].id; got != rid(2, 'b') {
		t.Fatalf("winner = %s", got)
	}
	if c := conflictsOf(tr); len(c) != 1 || c[0] != rid(2, 'a') {
		t.Fatalf("conflicts = %v", c)
	}
	// Closing the winner with a tombstone makes the other branch current.
	tr.add(b, rid(3, 'b'), 3, true, []byte(`{}`), 4)
	if got := tr.nodes[tr.winner()].id; got != rid(2, 'a') {
		t.Fatalf("winner after tombstone = %s", got)
	}
	if c := conflictsOf(tr); len(c) != 0 {
		t.Fatalf("conflicts after tombstone = %v", c)
	}
}

func TestPrune(t *testing.T) {
	tests := []struct {
		name     string
		build    func() *revTree
		depth    int
		wantKept []string
	}{
		{"short chain untouched", func() *revTree { return chain(5, 'a') }, 20, []string{rid(1, 'a'), rid(2, 'a'), rid(3, 'a'), rid(4, 'a'), rid(5, 'a')}},
		{"long chain cut", func() *revTree { return chain(6, 'a') }, 3, []string{rid(4, 'a'), rid(5, 'a'), rid(6, 'a')}},
		{"depth one keeps leaves only", func() *revTree { return chain(4, 'a') }, 1, []string{rid(4, 'a')}},
		{"short branch keeps shared ancestors", func() *revTree {
			tr := chain(6, 'a')
			tr.add(1, rid(3, 'b'), 3, false, nil, 9) // branch from 2-a
			return tr
		}, 3, []string{rid(1, 'a'), rid(2, 'a'), rid(4, 'a'), rid(5, 'a'), rid(6, 'a'), rid(3, 'b')}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := tt.build()
			tr.prune(tt.depth)
			var got []string
			for _, n := range tr.nodes {
				got = append(got, n.id)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.wantKept) {
				t.Fatalf("kept %v, want %v", got, tt.wantKept)
			}
			checkInvariants(t, tr)
		})
	}
	// Roots left by pruning have no parent.
	tr := chain(6, 'a')
	tr.prune(3)
	if tr.nodes[0].parent != -1 || tr.ancestors(2, 0)[1] != rid(4, 'a') {
		t.Fatalf("pruned tree links wrong: %+v", tr.nodes)
	}
}

func checkInvariants(t *testing.T, tr *revTree) {
	t.Helper()
	seen := map[string]bool{}
	for i, n := range tr.nodes {
		if seen[n.id] {
			t.Fatalf("duplicate %s", n.id)
		}
		seen[n.id] = true
		if n.parent >= i {
			t.Fatalf("node %d has parent %d (must be earlier)", i, n.parent)
		}
		if n.parent >= 0 && tr.nodes[n.parent].gen != n.gen-1 {
			t.Fatalf("node %s parent generation mismatch", n.id)
		}
	}
}

func TestDropBodies(t *testing.T) {
	tr := chain(4, 'a')
	b := tr.add(1, rid(3, 'b'), 3, false, []byte(`{"b":1}`), 5) // conflicting leaf
	tr.dropBodies(tr.winner())
	has := func(i int) bool { return tr.nodes[i].body != nil }
	// winner 4-a (leaf), its parent 3-a kept, 3-b leaf kept; 1-a and 2-a dropped.
	if has(0) || has(1) || !has(2) || !has(3) || !has(b) {
		t.Fatalf("bodies kept: %v %v %v %v %v", has(0), has(1), has(2), has(3), has(b))
	}
}

func TestTreeEncoding(t *testing.T) {
	tr := chain(3, 'a')
	tr.add(0, rid(2, 'b'), 2, true, []byte(`{}`), 7)
	tr.nodes[0].body = nil
	cur := tr.winner()
	column := tr.nodes[cur].body
	tr.nodes[1].ref = 0 // inline (a kept-table reference is TestTreeEncodingKeptRefs')
	enc := encodeTree(tr, cur, 1000, nil)
	got, err := decodeTree(enc, column)
	if err != nil {
		t.Fatal(err)
	}
	tr.nodes[cur].col = true // the decoder marks the column's node
	if fmt.Sprint(got.nodes) != fmt.Sprint(tr.nodes) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got.nodes, tr.nodes)
	}
	if got.nodes[1].body == nil || string(got.nodes[1].body) != `{"g":2}` {
		t.Fatalf("non-current body lost: %q", got.nodes[1].body)
	}
	// Every truncation and every single-byte corruption is rejected or decodes
	// to a tree that still satisfies the invariants; never a panic.
	for i := 0; i < len(enc); i++ {
		if _, err := decodeTree(enc[:i], column); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("truncation at %d: %v", i, err)
		}
		for _, delta := range []byte{1, 0x80, 0xff} {
			bad := append([]byte(nil), enc...)
			bad[i] += delta
			if tr2, err := decodeTree(bad, column); err == nil {
				checkInvariants(t, tr2)
			} else if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("corruption at %d: %v", i, err)
			}
		}
	}
	if _, err := decodeTree(append(enc, 0), column); !errors.Is(err, ErrCorrupt) {
		t.Fatal("trailing byte accepted")
	}
}

// TestTreeEncodingKeptRefs: a body in the kept-bodies table is written as its row ID, and
// a one-revision tree under the row's own sequence as an empty blob, which the row's
// columns decode again.
func TestTreeEncodingKeptRefs(t *testing.T) {
	tr := chain(3, 'a')
	tr.nodes[0].body = nil
	tr.nodes[1].body, tr.nodes[1].ref = nil, 1<<40
	enc := encodeTree(tr, 2, 99, nil)
	got, err := decodeTree(enc, []byte(`{"g":3}`))
	if err != nil {
		t.Fatal(err)
	}
	if n := got.nodes[1]; n.ref != 1<<40 || n.body != nil || !n.hasBody() {
		t.Fatalf("kept reference decoded as %+v", n)
	}
	if n := got.nodes[2]; !n.col || string(n.body) != `{"g":3}` {
		t.Fatalf("current node decoded as %+v", n)
	}
	if got.nodes[0].hasBody() {
		t.Fatal("dropped body came back")
	}
	one := chain(1, 'c')
	one.nodes[0].seq = 42
	if enc := encodeTree(one, 0, 42, nil); len(enc) != 0 {
		t.Fatalf("one revision under the row's sequence encoded as %d bytes, want 0", len(enc))
	}
	if enc := encodeTree(one, 0, 43, nil); len(enc) == 0 {
		t.Fatal("one revision under another sequence encoded as empty")
	}
	got, err = decodeRowTree(nil, []byte(`{"g":1}`), one.nodes[0].id, true, 42, true)
	if err != nil {
		t.Fatal(err)
	}
	if n := got.nodes[0]; len(got.nodes) != 1 || n.id != one.nodes[0].id || n.gen != 1 || n.parent != -1 || !n.deleted || n.seq != 42 || string(n.body) != `{"g":1}` || !n.col {
		t.Fatalf("empty tree decoded as %+v", got.nodes)
	}
	if _, err := decodeRowTree(nil, nil, "bad", false, 1, true); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("empty tree of a row with a bad revid: %v", err)
	}
}

func FuzzDecodeTree(f *testing.F) {
	tr := chain(3, 'a')
	tr.add(0, rid(2, 'b'), 2, true, []byte(`{}`), 7)
	f.Add(encodeTree(tr, tr.winner(), 1000, nil))
	f.Add(encodeTree(chain(1, 'c'), 0, 1000, nil))
	tr.nodes[1].ref, tr.nodes[1].body = 12, nil
	f.Add(encodeTree(tr, tr.winner(), 1000, nil))
	f.Add([]byte{1, 1, 5, '1', '-', 'a', 'b', 'c', 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		tr, err := decodeTree(data, []byte(`{}`))
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v is not ErrCorrupt", err)
			}
			return
		}
		checkInvariants(t, tr)
		// A decoded tree supports every operation the store performs on it.
		w := tr.winner()
		tr.revisions()
		conflictsOf(tr)
		tr.ancestors(w, 0)
		tr.prune(2)
		tr.dropBodies(tr.winner())
		w = tr.winner()
		n := tr.nodes[w]
		if _, err := decodeRowTree(encodeTree(tr, w, n.seq, nil), n.body, n.id, n.deleted, n.seq, true); err != nil {
			t.Fatalf("re-encoded tree does not decode: %v", err)
		}
	})
}

func TestNewRevIDMatchesFormula(t *testing.T) {
	// sha1(0x00 || "" || 0x00 || "{}") computed with sha1sum:
	// printf '\x00\x00{}' | sha1sum
	const want = "1-a5bb2524156f3e56dcc4e5c52c73c46f82c2efb0"
	if got := newRevID(0, "", false, []byte(`{}`)); got != want {
		t.Fatalf("newRevID = %s, want %s", got, want)
	}
}

// A peer can send a revision whose ID equals the one a local save would
// compute, on another branch; the save must refuse rather than store a tree
// with a duplicate ID.
func TestLocalRevisionIDClash(t *testing.T) {
	db := openTest(t, Config{})
	c := db.DefaultCollection()
	ctx := context.Background()
	d1, err := c.Save(ctx, "d", []byte(`{"v":1}`), SaveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	next := newRevID(1, d1.RevID, false, []byte(`{"v":2}`))
	// Insert "next" as a child of an unrelated root, then make it lose by
	// deleting it so that d1 stays current.
	if _, err := c.PutExistingRevision(ctx, RemoteRevision{DocID: "d", RevID: next, History: []string{rid(1, 'e')}, Body: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutExistingRevision(ctx, RemoteRevision{DocID: "d", RevID: rid(3, 'e'), History: []string{next}, Deleted: true}); err != nil {
		t.Fatal(err)
	}
	if cur, _ := c.Get(ctx, "d"); cur.RevID != d1.RevID {
		t.Fatalf("current = %s, want %s", cur.RevID, d1.RevID)
	}
	_, err = c.Save(ctx, "d", []byte(`{"v":2}`), SaveOptions{})
	if !errors.Is(err, ErrConflict) {
		t.Fatalf("save clashing with a remote revision ID = %v", err)
	}
	if _, err := c.Revisions(ctx, "d"); err != nil {
		t.Fatalf("tree unreadable after the refused save: %v", err)
	}
}
