package replicator

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/p2psync/libp2psync/engine/store"
)

// interruptedResolution starts a push-pull replicator of local's default collection whose
// resolver's first call waits until the connection ends, and stops the replicator once
// that call has begun (after beforeStop, if given): a conflict left unresolved by an
// earlier connection. Later calls use the default rule. calls counts them.
func interruptedResolution(t *testing.T, local *store.Database, url string, beforeStop func()) (r *Replicator, calls *atomic.Int32) {
	t.Helper()
	calls = new(atomic.Int32)
	entered := make(chan struct{})
	resolver := func(ctx context.Context, c Conflict) (Resolution, error) {
		if calls.Add(1) == 1 {
			close(entered)
			<-ctx.Done() // the connection ends before this resolution is made
			return Resolution{}, ctx.Err()
		}
		return DefaultConflictResolver(ctx, c)
	}
	r = newRepl(t, Config{Database: local, URL: url,
		Collections: []CollectionConfig{{Collection: local.DefaultCollection(), ConflictResolver: resolver}}})
	if err := r.Start(false); err != nil {
		t.Fatal(err)
	}
	select {
	case <-entered:
	case <-time.After(20 * time.Second):
		t.Fatal("the conflict never reached the resolver")
	}
	if beforeStop != nil {
		beforeStop()
	}
	r.Stop()
	return r, calls
}

// rerunResolves runs r once more (one-shot) and checks that it completes without document
// errors, having called the resolver a second time.
func rerunResolves(t *testing.T, r *Replicator, calls *atomic.Int32) {
	t.Helper()
	var rec docRecorder
	rec.listen(r)
	if st := runOneShot(t, r); st.Error != nil {
		t.Fatalf("second run: %+v", st)
	}
	if errs := rec.errors(); len(errs) > 0 {
		t.Fatalf("document errors: %v", errs)
	}
	if calls.Load() != 2 {
		t.Errorf("resolver called %d times, want 2", calls.Load())
	}
}

// A conflict whose resolution is still pending when the connection ends (here the
// replicator is stopped while the resolver runs) is found again and resolved by the
// next connection, although its pulled revision is behind the saved checkpoint.
func TestConflictResolvedAfterDisconnect(t *testing.T) {
	ctx := context.Background()
	local, remote := openDB(t, "local"), openDB(t, "remote")
	lc, rc := local.DefaultCollection(), remote.DefaultCollection()
	l := startListener(t, remote, nil)
	makeConflict(t, local, remote, localURL(l), 1, 2) // the remote branch wins
	save(t, rc, "other", `{"v":1}`)                   // a row after the conflict's

	r, calls := interruptedResolution(t, local, localURL(l), func() {
		eventually(t, 10*time.Second, "the pull to finish", func() bool {
			_, err := lc.Get(ctx, "other")
			return err == nil
		})
	})
	if cf, err := lc.Conflicts(ctx, "c"); err != nil || len(cf) == 0 {
		t.Fatalf("precondition: the document should still be conflicted: %v %v", cf, err)
	}

	// The next run has nothing new to pull, yet resolves the conflict and pushes the result.
	rerunResolves(t, r, calls)
	for _, c := range []*store.Collection{lc, rc} {
		if cf, err := c.Conflicts(ctx, "c"); err != nil || len(cf) != 0 {
			t.Errorf("%s: still conflicted: %v %v", c.Database().Name(), cf, err)
		}
		d, err := c.Get(ctx, "c")
		if err != nil || string(d.Body) != `{"v":"remote","i":1}` {
			t.Errorf("%s: c = %+v, %v", c.Database().Name(), d, err)
		}
	}
	a, _ := lc.Get(ctx, "c")
	b, _ := rc.Get(ctx, "c")
	if a == nil || b == nil || a.RevID != b.RevID {
		t.Errorf("diverged: local %+v remote %+v", a, b)
	}
	// A third run finds nothing to resolve.
	if st := runOneShot(t, r); st.Error != nil || calls.Load() != 2 {
		t.Fatalf("third run: %+v, resolver calls %d", st, calls.Load())
	}
}

// Conflicts with another remote (or made locally) are not this replicator's to resolve.
func TestConflictOfOtherRemoteLeftAlone(t *testing.T) {
	ctx := context.Background()
	local, remote := openDB(t, "local"), openDB(t, "remote")
	lc := local.DefaultCollection()
	if _, err := lc.PutExistingRevision(ctx, store.RemoteRevision{DocID: "x", RevID: "1-aa", Body: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	for _, rev := range []string{"2-bb", "2-cc"} {
		if _, err := lc.PutExistingRevision(ctx, store.RemoteRevision{DocID: "x", RevID: rev, History: []string{"1-aa"}, Body: []byte(`{}`)}); err != nil {
			t.Fatal(err)
		}
	}
	l := startListener(t, remote, nil)
	var calls atomic.Int32
	r := newRepl(t, Config{Database: local, URL: localURL(l), Type: Pull,
		Collections: []CollectionConfig{{Collection: lc, ConflictResolver: func(ctx context.Context, c Conflict) (Resolution, error) {
			calls.Add(1)
			return DefaultConflictResolver(ctx, c)
		}}}})
	if st := runOneShot(t, r); st.Error != nil {
		t.Fatal(st.Error)
	}
	if calls.Load() != 0 {
		t.Errorf("resolver called %d times for a conflict that is not this remote's", calls.Load())
	}
	if cf, _ := lc.Conflicts(ctx, "x"); len(cf) != 1 {
		t.Errorf("conflicts = %v", cf)
	}
}

// A deletion pulled onto its own branch loses the storage winner rule to the live local
// revision, so the document does not count as conflicted. If the connection ends before
// the resolver runs, the next connection must still resolve it (the deletion wins by
// default); otherwise the local document stays live for ever while the peer has it
// deleted, and every push of it is refused as a conflict.
func TestPulledDeletionResolvedAfterDisconnect(t *testing.T) {
	ctx := context.Background()
	local, remote := openDB(t, "local"), openDB(t, "remote")
	lc, rc := local.DefaultCollection(), remote.DefaultCollection()
	l := startListener(t, remote, nil)
	makeConflict(t, local, remote, localURL(l), 1, -1) // edited here, deleted there

	r, calls := interruptedResolution(t, local, localURL(l), nil)
	if d, err := lc.Get(ctx, "c"); err != nil || d.Deleted {
		t.Fatalf("precondition: the local document should still be live: %+v %v", d, err)
	}
	rerunResolves(t, r, calls)
	for _, c := range []*store.Collection{lc, rc} {
		if d, err := c.Get(ctx, "c"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s: c = %+v, %v; want it deleted", c.Database().Name(), d, err)
		}
	}
	// Created again afterwards: the old deletion must not win over the new revision.
	save(t, lc, "c", `{"v":"again"}`)
	if st := runOneShot(t, r); st.Error != nil || calls.Load() != 2 {
		t.Fatalf("third run: %+v, resolver calls %d", st, calls.Load())
	}
	for _, c := range []*store.Collection{lc, rc} {
		if d, err := c.Get(ctx, "c"); err != nil || string(d.Body) != `{"v":"again"}` {
			t.Errorf("%s: c = %+v, %v; want the new revision", c.Database().Name(), d, err)
		}
	}
}
