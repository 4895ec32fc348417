package storetest_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/p2psync/libp2psync/engine/store"
	"github.com/p2psync/libp2psync/engine/store/storetest"
)

// A long churn over a fixed set of document IDs remembers one entry per document, not
// one per write: the soak benchmark runs a writer for many minutes, and a record of every
// shared body written was the whole of its heap growth (issue 12).
func TestChurnMemoryBoundedByDocuments(t *testing.T) {
	ctx := context.Background()
	c := open(t)
	w := storetest.NewChurn(c, "a", 7)
	w.Own, w.Shared = 20, 4
	const steps = 1500
	for i := 0; i < steps; i++ {
		if err := w.Step(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if w.Ops() < steps/2 {
		t.Fatalf("only %d of %d steps wrote", w.Ops(), steps)
	}
	if n := w.Remembered(); n > w.Own+w.Shared {
		t.Fatalf("after %d writes to %d document IDs the writer remembers %d entries", w.Ops(), w.Own+w.Shared, n)
	}
	// Still checks: the collection holds what was written.
	problems, err := storetest.CheckChurn(ctx, c, w)
	if err != nil {
		t.Fatal(err)
	}
	if len(problems) > 0 {
		t.Fatalf("a collection checked against its own writer: %v", problems)
	}
}

// CheckChurn still tells a shared body some writer committed from any other: an
// invented body, a real body moved to another document, a write number not reached, an
// extra field, and a deletion no writer made.
func TestCheckChurnSharedBodies(t *testing.T) {
	ctx := context.Background()
	c := open(t)
	a := storetest.NewChurn(c, "a", 11)
	b := storetest.NewChurn(c, "b", 12)
	a.Own, a.Shared, b.Own, b.Shared = 5, 3, 5, 3
	for i := 0; i < 300; i++ {
		if err := a.Step(ctx); err != nil {
			t.Fatal(err)
		}
		if err := b.Step(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if p, err := storetest.CheckChurn(ctx, c, a, b); err != nil || len(p) > 0 {
		t.Fatalf("untouched: %v %v", p, err)
	}
	// A live shared document and another one's body.
	var live, other string
	var otherBody []byte
	for i := 0; i < 3; i++ {
		id := fmt.Sprintf("shared-%02d", i)
		d, err := c.GetWithDeleted(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if d.Deleted {
			continue
		}
		if live == "" {
			live = id
		} else {
			other, otherBody = id, d.Body
		}
	}
	if live == "" || other == "" {
		t.Fatal("the churn left fewer than two live shared documents")
	}
	orig, err := c.Get(ctx, live)
	if err != nil {
		t.Fatal(err)
	}
	bad := []string{
		`{"by":"a","op":1,"pad":"0123456789abcdef"}`, // invented padding
		string(otherBody), // another document's body
		strings.Replace(string(orig.Body), `"op":`, `"x":1,"op":`, 1), // extra field
		`{"by":"c","op":1,"pad":"0123456789abcdef"}`,                  // no such writer
		`{"merged":true}`,
	}
	for _, body := range bad {
		if _, err := c.Save(ctx, live, []byte(body), store.SaveOptions{}); err != nil {
			t.Fatal(err)
		}
		p, err := storetest.CheckChurn(ctx, c, a, b)
		if err != nil {
			t.Fatal(err)
		}
		if len(p) != 1 || !strings.Contains(p[0], live) || !strings.Contains(p[0], "written by no one") {
			t.Errorf("body %s of %s: problems %v, want one naming it", body, live, p)
		}
	}
	// The genuine body again passes.
	if _, err := c.Save(ctx, live, orig.Body, store.SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	if p, err := storetest.CheckChurn(ctx, c, a, b); err != nil || len(p) > 0 {
		t.Fatalf("restored %s: %v %v", live, p, err)
	}
	// A deletion is accepted only if some writer deleted that document.
	_, delA := a.SharedWritten(live)
	_, delB := b.SharedWritten(live)
	if _, err := c.Delete(ctx, live, store.SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	p, err := storetest.CheckChurn(ctx, c, a, b)
	if err != nil {
		t.Fatal(err)
	}
	if flagged := len(p) == 1 && strings.Contains(p[0], live); flagged == (delA || delB) {
		t.Errorf("%s deleted (writers deleted it: %v): problems %v", live, delA || delB, p)
	}
}
