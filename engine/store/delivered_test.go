package store_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/p2psync/libp2psync/engine/store"
)

// WaitChangesDelivered returns only after every listener call for the commits made before
// it has returned; from inside a listener it returns at once; ctx bounds the wait.
func TestWaitChangesDelivered(t *testing.T) {
	db := openTempDB(t)
	c := db.DefaultCollection()
	ctx := context.Background()
	if err := db.WaitChangesDelivered(ctx); err != nil { // nothing committed yet
		t.Fatal(err)
	}
	var heard atomic.Int64
	release := make(chan struct{})
	insideErr := make(chan error, 1)
	tok := c.AddChangeListener(func(ch store.CollectionChange) {
		if ch.Changes[0].DocID == "first" {
			insideErr <- db.WaitChangesDelivered(ctx) // would wait for itself
			<-release
		}
		time.Sleep(2 * time.Millisecond)
		heard.Add(int64(len(ch.Changes)))
	})
	defer tok.Remove()
	for _, id := range []string{"first", "a", "b", "c"} {
		if _, err := c.Save(ctx, id, []byte(`{}`), store.SaveOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case err := <-insideErr:
		if err != nil {
			t.Fatalf("from inside a listener: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("WaitChangesDelivered from inside a listener did not return")
	}
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if err := db.WaitChangesDelivered(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("with the listener held, WaitChangesDelivered returned %v", err)
	}
	close(release)
	if err := db.WaitChangesDelivered(ctx); err != nil {
		t.Fatal(err)
	}
	if n := heard.Load(); n != 4 {
		t.Fatalf("WaitChangesDelivered returned with %d of 4 changes heard", n)
	}
	if db.InChangeListener() {
		t.Fatal("the test goroutine is not a change listener")
	}
}
