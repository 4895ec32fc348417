package store

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"testing"
)

// GetRevision and History read the tree without the body column unless the revision
// asked for is the current one, and hand out kept bodies without a full copy of the
// tree: each revision still comes with its own body, one the caller may change.
func TestGetRevisionAndHistoryReadOnlyWhatTheyNeed(t *testing.T) {
	ctx := context.Background()
	coll := openTest(t, Config{}).DefaultCollection()
	bodies := [][]byte{[]byte(`{"v":1,"pad":"` + string(bytes.Repeat([]byte("a"), 5000)) + `"}`), []byte(`{"v":2}`), []byte(`{"v":3,"x":"y"}`)}
	var revs []string
	for _, b := range bodies {
		d, err := coll.Save(ctx, "doc", b, SaveOptions{})
		if err != nil {
			t.Fatal(err)
		}
		revs = append(revs, d.RevID)
	}
	for i, rev := range revs {
		d, err := coll.GetRevision(ctx, "doc", rev)
		if errors.Is(err, ErrNotFound) && i == 0 {
			continue // the grandparent's body need not be kept
		}
		if err != nil || !bytes.Equal(d.Body, bodies[i]) || d.RevID != rev {
			t.Fatalf("GetRevision(%s): %+v, %v; want body %s", rev, d, err, bodies[i])
		}
		for j := range d.Body {
			d.Body[j] = 'X' // the caller's own: no later read may see this
		}
		if again, err := coll.GetRevision(ctx, "doc", rev); err != nil || !bytes.Equal(again.Body, bodies[i]) {
			t.Fatalf("GetRevision(%s) after the caller changed its body: %q, %v", rev, again.Body, err)
		}
	}
	if cur, err := coll.Get(ctx, "doc"); err != nil || !bytes.Equal(cur.Body, bodies[2]) {
		t.Fatalf("Get: %+v, %v", cur, err)
	}
	hist, err := coll.History(ctx, "doc", revs[2], 0)
	if err != nil || !slices.Equal(hist, []string{revs[1], revs[0]}) {
		t.Fatalf("History: %v, %v; want %v", hist, err, []string{revs[1], revs[0]})
	}
	if hist, err := coll.History(ctx, "doc", revs[2], 1); err != nil || !slices.Equal(hist, []string{revs[1]}) {
		t.Fatalf("History max 1: %v, %v", hist, err)
	}
	if _, err := coll.History(ctx, "doc", "9-abc", 0); !errors.Is(err, ErrNotFound) {
		t.Fatalf("History of an unknown revision: %v", err)
	}
	if _, err := coll.GetRevision(ctx, "doc", "9-abc"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("GetRevision of an unknown revision: %v", err)
	}
	if _, err := coll.GetRevision(ctx, "nodoc", revs[0]); !errors.Is(err, ErrNotFound) {
		t.Fatalf("GetRevision of a missing document: %v", err)
	}
}
