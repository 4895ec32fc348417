package store_test

import (
	"bytes"
	"context"
	"sync"
	"testing"

	"github.com/p2psync/libp2psync/engine/store"
)

// A save with SaveOptions.NoBody stores what a save without it stores and returns the
// same revision without a body, while a collection listener's notification still carries
// the body as committed, with a copy of its own (the caller's input may change after the
// call). A listener added after saves made without one is told of later saves' bodies.
func TestSaveNoBody(t *testing.T) {
	db := openTempDB(t)
	c := db.DefaultCollection()
	ctx := context.Background()

	// No listener yet: the new-document path and the update path.
	in := []byte(`{"v": 1}`)
	d, err := c.Save(ctx, "a", in, store.SaveOptions{NoBody: true})
	if err != nil {
		t.Fatal(err)
	}
	check := func(what string, d *store.Document, want string) {
		t.Helper()
		if d.Body != nil {
			t.Fatalf("%s: NoBody save returned body %q", what, d.Body)
		}
		got, err := c.Get(ctx, d.ID)
		if err != nil {
			t.Fatal(err)
		}
		if string(got.Body) != want || got.RevID != d.RevID || got.Sequence != d.Sequence ||
			got.Version != d.Version || got.Vector != d.Vector || got.Timestamp != d.Timestamp || d.Version == "" {
			t.Fatalf("%s: returned %+v, read %+v (body want %s)", what, *d, *got, want)
		}
	}
	check("new", d, `{"v":1}`)
	d, err = c.Save(ctx, "a", []byte(`{"v":2}`), store.SaveOptions{NoBody: true, ParentRevID: d.RevID, Concurrency: store.FailOnConflict})
	if err != nil {
		t.Fatal(err)
	}
	check("update", d, `{"v":2}`)
	plain, err := c.Save(ctx, "b", []byte(`{"v":2}`), store.SaveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if string(plain.Body) != `{"v":2}` {
		t.Fatalf("save without NoBody returned body %q", plain.Body)
	}

	var (
		mu    sync.Mutex
		heard []store.Change
	)
	tok := c.AddChangeListener(func(ev store.CollectionChange) {
		mu.Lock()
		heard = append(heard, ev.Changes...)
		mu.Unlock()
	})
	take := func() []store.Change {
		t.Helper()
		if err := db.WaitChangesDelivered(ctx); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		defer mu.Unlock()
		out := heard
		heard = nil
		return out
	}
	// A compact input is saved in place: overwriting it after the call must not reach
	// the notification.
	in = []byte(`{"v":3}`)
	err = db.InBatch(ctx, func(b *store.Batch) error {
		_, err := b.Save(c, "new", in, store.SaveOptions{NoBody: true})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	copy(in, `{"x":0}`)
	in2 := []byte(`{"v":4}`)
	if _, err := c.Save(ctx, "a", in2, store.SaveOptions{NoBody: true}); err != nil {
		t.Fatal(err)
	}
	copy(in2, `{"x":0}`)
	chs := take()
	if len(chs) != 2 {
		t.Fatalf("%d changes, want 2", len(chs))
	}
	for i, want := range []string{`{"v":3}`, `{"v":4}`} {
		if chs[i].Doc == nil || !bytes.Equal(chs[i].Doc.Body, []byte(want)) {
			t.Fatalf("change %d: %+v carries %v, want body %s", i, chs[i], chs[i].Doc, want)
		}
	}
	// Once the listener is gone, saves carry nothing (no one would read it).
	tok.Remove()
	if _, err := c.Save(ctx, "c", []byte(`{}`), store.SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	tok = c.AddChangeListener(func(ev store.CollectionChange) {
		mu.Lock()
		heard = append(heard, ev.Changes...)
		mu.Unlock()
	})
	defer tok.Remove()
	if _, err := c.Save(ctx, "d", []byte(`{"d":1}`), store.SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	if chs := take(); len(chs) != 1 || chs[0].Doc == nil || string(chs[0].Doc.Body) != `{"d":1}` {
		t.Fatalf("listener added again: %+v", chs)
	}
}
