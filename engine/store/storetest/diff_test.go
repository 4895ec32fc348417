package storetest_test

import (
	"context"
	"strings"
	"testing"

	"github.com/p2psync/libp2psync/engine/store"
	"github.com/p2psync/libp2psync/engine/store/storetest"
)

func open(t *testing.T) *store.Collection {
	t.Helper()
	db, err := store.Open(context.Background(), t.TempDir(), store.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db.DefaultCollection()
}

func put(t *testing.T, c *store.Collection, id, rev, body string, deleted bool, history ...string) {
	t.Helper()
	if _, err := c.PutExistingRevision(context.Background(), store.RemoteRevision{DocID: id, RevID: rev, Body: []byte(body), Deleted: deleted, History: history}); err != nil {
		t.Fatal(err)
	}
}

const (
	rev1  = "1-1111111111111111111111111111111111111111"
	rev2a = "2-2aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	rev2b = "2-2bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	rev3  = "3-3333333333333333333333333333333333333333"
)

// Each kind of difference is reported, once, naming the document; identical
// collections give nothing.
func TestDiff(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name  string
		setup func(a, b *store.Collection)
		kind  storetest.DiffKind
		want  []string // substrings of the one expected line (nil = identical)
	}{
		{"identical", func(a, b *store.Collection) {
			for _, c := range []*store.Collection{a, b} {
				put(t, c, "doc", rev2a, `{"v":2}`, false, rev1)
				put(t, c, "gone", rev2b, `{}`, true, rev1)
			}
		}, 0, nil},
		{"missing document", func(a, b *store.Collection) {
			put(t, a, "doc", rev1, `{}`, false)
		}, storetest.DiffMissing, []string{`"doc": only in A`}},
		{"missing tombstone", func(a, b *store.Collection) {
			put(t, b, "doc", rev1, `{}`, true)
		}, storetest.DiffMissing, []string{`"doc": only in B`, "deleted=true"}},
		{"other current revision", func(a, b *store.Collection) {
			put(t, a, "doc", rev2a, `{}`, false, rev1)
			put(t, b, "doc", rev3, `{}`, false, rev2a, rev1)
		}, storetest.DiffCurrent, []string{`"doc": current revision A ` + rev2a}},
		{"different tombstones", func(a, b *store.Collection) {
			put(t, a, "doc", rev2a, `{}`, true, rev1)
			put(t, b, "doc", rev2b, `{}`, true, rev1)
		}, storetest.DiffTombstone, []string{"different tombstones", rev2a, rev2b}},
		{"deleted on one side", func(a, b *store.Collection) {
			put(t, a, "doc", rev2a, `{}`, true, rev1)
			put(t, b, "doc", rev2a, `{}`, false, rev1)
		}, storetest.DiffCurrent, []string{`"doc": current revision`, "deleted=true", "deleted=false"}},
		{"one revision, two bodies", func(a, b *store.Collection) {
			put(t, a, "doc", rev1, `{"v":"a"}`, false)
			put(t, b, "doc", rev1, `{"v":"b"}`, false)
		}, storetest.DiffBody, []string{"two bodies", `{"v":"a"}`, `{"v":"b"}`}},
		{"open conflict on one side", func(a, b *store.Collection) {
			put(t, a, "doc", rev2a, `{}`, false, rev1)
			put(t, a, "doc", rev2b, `{}`, false, rev1)
			put(t, b, "doc", rev2b, `{}`, false, rev1)
		}, storetest.DiffConflicts, []string{`"doc": open conflicts`, rev2a}},
		{"older revision with two bodies", func(a, b *store.Collection) {
			put(t, a, "doc", rev2a, `{"old":"a"}`, false, rev1)
			put(t, b, "doc", rev2a, `{"old":"b"}`, false, rev1)
			put(t, a, "doc", rev2b, `{}`, false, rev1)
			put(t, b, "doc", rev2b, `{}`, false, rev1)
		}, storetest.DiffBody, []string{"revision " + rev2a + " has two bodies"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := open(t), open(t)
			tt.setup(a, b)
			lines, err := storetest.Diff(ctx, a, b)
			if err != nil {
				t.Fatal(err)
			}
			if tt.want == nil {
				if len(lines) != 0 {
					t.Fatalf("identical collections reported as different: %q", lines)
				}
				return
			}
			if len(lines) != 1 {
				t.Fatalf("want one difference, got %q", lines)
			}
			if lines[0].Kind != tt.kind || lines[0].DocID != "doc" {
				t.Errorf("difference %+v, want kind %d", lines[0], tt.kind)
			}
			for _, w := range tt.want {
				if !strings.Contains(lines[0].Text, w) {
					t.Errorf("difference %q does not mention %q", lines[0], w)
				}
			}
		})
	}
}
