package store

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// ChangesSinceWithDocs lists what ChangesSince lists, with each small document as
// GetWithDeleted reads it (tombstones and received versions included) and no document
// for a body over the cap.
func TestChangesSinceWithDocs(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, Config{})
	c := db.DefaultCollection()
	for _, id := range []string{"a", "b", "c"} {
		if _, err := c.Save(ctx, id, []byte(`{"v":"`+id+`"}`), SaveOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	big := []byte(`{"big":"` + strings.Repeat("x", 500) + `"}`)
	if _, err := c.Save(ctx, "big", big, SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Delete(ctx, "b", SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	want, err := c.ChangesSince(ctx, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.ChangesSinceWithDocs(ctx, 1, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) || len(got) != 3 {
		t.Fatalf("got %d changes, ChangesSince %d (want 3: c, big, b)", len(got), len(want))
	}
	for i, ch := range got {
		w := want[i]
		if ch.Sequence != w.Sequence || ch.DocID != w.DocID || ch.RevID != w.RevID || ch.Deleted != w.Deleted || ch.BodySize != w.BodySize {
			t.Errorf("change %d = %+v, ChangesSince's %+v", i, ch, w)
		}
		if ch.DocID == "big" {
			if ch.Doc != nil {
				t.Errorf("big: a %d-byte body over the cap was read", ch.BodySize)
			}
			continue
		}
		d, err := c.GetWithDeleted(ctx, ch.DocID)
		if err != nil {
			t.Fatal(err)
		}
		if ch.Doc == nil {
			t.Fatalf("%s: no document", ch.DocID)
		}
		g := ch.Doc
		if g.ID != d.ID || g.RevID != d.RevID || g.Deleted != d.Deleted || g.Sequence != d.Sequence || !bytes.Equal(g.Body, d.Body) ||
			g.Version != d.Version || g.Vector != d.Vector || g.Timestamp != d.Timestamp || !g.Expiration.Equal(d.Expiration) {
			t.Errorf("%s: document %+v, GetWithDeleted %+v", ch.DocID, g, d)
		}
	}
	// A limit cuts the list as ChangesSince's does.
	if got, err := c.ChangesSinceWithDocs(ctx, 0, 2, 1<<20); err != nil || len(got) != 2 || got[0].DocID != "a" || got[0].Doc == nil {
		t.Fatalf("limit 2: %+v, %v", got, err)
	}
}
