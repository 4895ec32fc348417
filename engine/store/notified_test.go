package store_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/p2psync/libp2psync/engine/store"
)

// A collection listener's notification of a local save or deletion carries the committed
// revision (Change.Doc) exactly as a read at that sequence returns it, with a body of its
// own; a body over NotifiedBodyMax and a purge carry none, and one
// commit's bodies are bounded.
func TestChangeNotificationCarriesDocument(t *testing.T) {
	db := openTempDB(t)
	c := db.DefaultCollection()
	ctx := context.Background()
	var (
		mu    sync.Mutex
		heard []store.Change
	)
	tok := c.AddChangeListener(func(ev store.CollectionChange) {
		mu.Lock()
		heard = append(heard, ev.Changes...)
		mu.Unlock()
	})
	defer tok.Remove()
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
	// same checks that the notified document is what a read returns now.
	same := func(what string, ch store.Change) {
		t.Helper()
		if ch.Doc == nil {
			t.Fatalf("%s: the notification carries no document: %+v", what, ch)
		}
		got, err := c.GetWithDeleted(ctx, ch.DocID)
		if err != nil {
			t.Fatal(err)
		}
		d := ch.Doc
		if d.ID != got.ID || d.RevID != got.RevID || d.Sequence != got.Sequence || d.Sequence != ch.Sequence ||
			d.Deleted != got.Deleted || !bytes.Equal(d.Body, got.Body) || d.Version != got.Version ||
			d.Timestamp != got.Timestamp || d.Vector != got.Vector || d.Version == "" {
			t.Fatalf("%s: notified %+v, read %+v", what, *d, *got)
		}
	}

	// A new document (the single-statement insert); the caller's copy is its own.
	saved, err := c.Save(ctx, "a", []byte(`{"v": 1}`), store.SaveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	saved.Body[0] = 'X'
	chs := take()
	if len(chs) != 1 {
		t.Fatalf("%d changes", len(chs))
	}
	same("new document", chs[0])

	// An update, then a deletion (the general path).
	if _, err := c.Save(ctx, "a", []byte(`{"v":2}`), store.SaveOptions{ParentRevID: chs[0].RevID}); err != nil {
		t.Fatal(err)
	}
	chs = take()
	same("update", chs[0])
	if _, err := c.Delete(ctx, "a", store.SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	chs = take()
	same("deletion", chs[0])
	if !chs[0].Doc.Deleted || string(chs[0].Doc.Body) != "{}" {
		t.Fatalf("deletion notified as %+v", *chs[0].Doc)
	}

	// Saved twice in one commit: each change carries its own revision.
	err = db.InBatch(ctx, func(b *store.Batch) error {
		d, err := b.Save(c, "tw", []byte(`{"n":1}`), store.SaveOptions{})
		if err != nil {
			return err
		}
		_, err = b.Save(c, "tw", []byte(`{"n":2}`), store.SaveOptions{ParentRevID: d.RevID})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	chs = take()
	if len(chs) != 2 || chs[0].Doc == nil || string(chs[0].Doc.Body) != `{"n":1}` || chs[0].Doc.Sequence != chs[0].Sequence ||
		chs[0].Doc.RevID != chs[0].RevID {
		t.Fatalf("first save of the commit: %+v", chs)
	}
	same("second save of one commit", chs[1])

	// A body over the limit carries none (the listener reads it).
	big := fmt.Sprintf(`{"s":%q}`, strings.Repeat("x", store.NotifiedBodyMax))
	if _, err := c.Save(ctx, "big", []byte(big), store.SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	if chs = take(); chs[0].Doc != nil {
		t.Fatalf("a %d-byte body was notified", len(big))
	}

	// A purge carries none.
	if err := c.Purge(ctx, "tw"); err != nil {
		t.Fatal(err)
	}
	if chs = take(); !chs[0].Purged || chs[0].Doc != nil {
		t.Fatalf("purge notified as %+v", chs[0])
	}

	// One commit of many bodies: only the first ones up to the bound carry theirs.
	body := fmt.Sprintf(`{"s":%q}`, strings.Repeat("y", 10<<10))
	err = db.InBatch(ctx, func(b *store.Batch) error {
		for i := 0; i < 100; i++ {
			if _, err := b.Save(c, fmt.Sprintf("m%03d", i), []byte(body), store.SaveOptions{}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	chs = take()
	carried := 0
	for _, ch := range chs {
		if ch.Doc != nil {
			carried++
			same("batch of many", ch)
		}
	}
	if carried == 0 || carried == len(chs) || carried*len(body) > 256<<10 {
		t.Fatalf("%d of %d bodies of %d bytes notified in one commit; want some, bounded", carried, len(chs), len(body))
	}
}

// While a listener is slow, the queued commits carry bodies only up to a bound (the queue
// does not hold a copy of every body written meanwhile); once delivered, changes carry
// them again.
func TestChangeNotificationQueueBound(t *testing.T) {
	db := openTempDB(t)
	c := db.DefaultCollection()
	ctx := context.Background()
	release := make(chan struct{})
	var (
		mu    sync.Mutex
		heard []store.Change
	)
	tok := c.AddChangeListener(func(ev store.CollectionChange) {
		if ev.Changes[0].DocID == "first" {
			<-release
		}
		mu.Lock()
		heard = append(heard, ev.Changes...)
		mu.Unlock()
	})
	defer tok.Remove()
	body := []byte(fmt.Sprintf(`{"s":%q}`, strings.Repeat("z", 10<<10)))
	for i, id := 0, "first"; i < 300; i, id = i+1, fmt.Sprintf("d%03d", i) {
		if _, err := c.Save(ctx, id, body, store.SaveOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	close(release)
	if err := db.WaitChangesDelivered(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Save(ctx, "after", body, store.SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := db.WaitChangesDelivered(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	carried := 0
	for _, ch := range heard[:300] {
		if ch.Doc != nil {
			carried++
		}
	}
	if carried == 0 || carried*len(body) > 1<<20+len(body) {
		t.Fatalf("%d of 300 queued changes of %d bytes carried their body; want some, at most 1 MiB", carried, len(body))
	}
	if last := heard[len(heard)-1]; last.DocID != "after" || last.Doc == nil {
		t.Fatalf("after delivery: %+v carries no body", last)
	}
}
