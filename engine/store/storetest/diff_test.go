package storetest_test

import (
	"context"
	"strings"
	"testing"

	"github.com/p2psync/libp2psync/engine/hlv"
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

// Under CBMobile_4 a revision travels by its version, not its rev-tree ID: a peer that
// never saw the first revision of a document stores the second one under a rev-tree ID it
// mints itself (1-<digest>, where the writer has 2-<digest>), as happens when a writer
// is killed after committing a revision it had not pushed, and saves the document again
// after restarting. Same version, same body: converged, not a difference. A different
// body under one version still is one.
func TestDiffSameVersionOtherRevID(t *testing.T) {
	ctx := context.Background()
	a, b := open(t), open(t)
	if _, err := a.Save(ctx, "doc", []byte(`{"life":1}`), store.SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	second, err := a.Save(ctx, "doc", []byte(`{"life":2}`), store.SaveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	vec, err := hlv.ParseVector(second.Vector)
	if err != nil {
		t.Fatal(err)
	}
	res, err := b.PutExistingVersion(ctx, store.RemoteVersion{DocID: "doc", Vector: vec, Body: second.Body})
	if err != nil || !res.Inserted {
		t.Fatalf("PutExistingVersion: %+v, %v", res, err)
	}
	got, err := b.Get(ctx, "doc")
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != second.Version || got.RevID == second.RevID || !strings.HasPrefix(got.RevID, "1-") {
		t.Fatalf("B holds %s at %s; A holds %s at %s: want the same version under a rev-tree ID minted by B",
			got.RevID, got.Version, second.RevID, second.Version)
	}
	diff, err := storetest.Diff(ctx, a, b)
	if err != nil {
		t.Fatal(err)
	}
	if len(diff) != 0 {
		t.Fatalf("same version and body reported as differences: %v", diff)
	}

	// One version, two bodies: a difference.
	c := open(t)
	if _, err := c.PutExistingVersion(ctx, store.RemoteVersion{DocID: "doc", Vector: vec, Body: []byte(`{"life":3}`)}); err != nil {
		t.Fatal(err)
	}
	diff, err = storetest.Diff(ctx, a, c)
	if err != nil {
		t.Fatal(err)
	}
	if len(diff) != 1 || diff[0].Kind != storetest.DiffBody || !strings.Contains(diff[0].Text, second.Version) {
		t.Fatalf("one version with two bodies: got %v", diff)
	}
}
