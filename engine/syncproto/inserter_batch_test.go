package syncproto

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/p2psync/libp2psync/engine/store"
)

// Revisions that stream in a little slower than the store commits are still saved in
// batches: the inserter waits for the next ones while they keep coming, instead of
// committing each handful that arrived during the previous commit. A lone revision is
// saved at once. Every revision is saved, in one commit or another.
func TestInserterBatchesAStream(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	db := openDB(t)
	coll := db.DefaultCollection()
	var commits atomic.Int64
	tok := coll.AddChangeListener(func(store.CollectionChange) { commits.Add(1) })
	defer tok.Remove()
	in := newInserter(db, 200)
	// Wider gaps than the defaults, so that a loaded machine (a goroutine delayed by a
	// few milliseconds) does not look like a pause in the stream. The rule is the same.
	in.streamGap, in.lingerGap, in.maxLinger = 200*time.Millisecond, 200*time.Millisecond, 2*time.Second
	go in.run(ctx)

	rev := func(i int) store.RemoteRevision {
		return store.RemoteRevision{DocID: fmt.Sprintf("doc-%04d", i), RevID: fmt.Sprintf("1-%032x", i), Body: []byte(`{"n":1}`)}
	}
	// A lone revision: committed without waiting for company.
	begin := time.Now()
	if r := in.insert(ctx, coll, rev(0), false, nil); r.err != nil {
		t.Fatal(r.err)
	}
	if d := time.Since(begin); d > time.Second {
		t.Fatalf("a lone revision took %v to commit", d)
	}
	waitFor(t, "the lone revision's notification", func() bool { return commits.Load() == 1 })

	// A stream: 400 revisions, one every 100 µs, each waited for by its own goroutine as
	// the rev handlers do.
	const n = 400
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 1; i <= n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			if r := in.insert(ctx, coll, rev(i), false, nil); r.err != nil {
				errs <- r.err
			}
		}(i)
		time.Sleep(100 * time.Microsecond)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if c, err := coll.Count(ctx); err != nil || c != n+1 {
		t.Fatalf("%d documents saved (%v), want %d", c, err, n+1)
	}
	if err := db.WaitChangesDelivered(ctx); err != nil {
		t.Fatal(err)
	}
	got := commits.Load() - 1
	if avg := float64(n) / float64(got); avg < 8 {
		t.Errorf("the stream of %d revisions took %d commits (%.1f revisions each); want batches of 8 or more", n, got, avg)
	}
}

// A few revisions that arrive together after a pause (a live push that sent a handful
// at once) are committed without waiting the full linger gap meant for a stream: a
// tenth of it, until a batch of bigStreams shows that revisions are streaming in.
func TestInserterFewTogetherNotHeld(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	db := openDB(t)
	coll := db.DefaultCollection()
	in := newInserter(db, 200)
	// A linger gap far longer than any delay of a loaded machine: waiting it would show.
	in.streamGap, in.lingerGap, in.maxLinger = 20*time.Second, 20*time.Second, 60*time.Second
	go in.run(ctx)
	begin := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	for i := 0; i < 3; i++ {
		req := &insertReq{coll: coll, rev: store.RemoteRevision{DocID: fmt.Sprintf("few-%d", i), RevID: fmt.Sprintf("1-%032x", i), Body: []byte(`{}`)}, done: make(chan insertResult, 1)}
		in.queue <- req // queued together before the inserter looks
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case r := <-req.done:
				errs <- r.err
			case <-ctx.Done():
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if d := time.Since(begin); d >= 10*time.Second {
		t.Fatalf("3 revisions sent together took %v: held for the stream's linger gap", d)
	}
}
