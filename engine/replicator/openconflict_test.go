package replicator

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/p2psync/libp2psync/engine/store"
	"github.com/p2psync/libp2psync/engine/syncproto"
)

// checkSettled checks that document c is the same revision on both sides (deleted or
// not, as wantDeleted says) and has at most one live leaf on either side.
func checkSettled(t *testing.T, lc, rc *store.Collection, wantDeleted bool) {
	t.Helper()
	ctx := context.Background()
	var cur [2]*store.Document
	for i, c := range []*store.Collection{lc, rc} {
		d, err := c.GetWithDeleted(ctx, "c")
		if err != nil {
			t.Fatalf("%s: %v", c.Database().Name(), err)
		}
		cur[i] = d
		revs, err := c.Revisions(ctx, "c")
		if err != nil {
			t.Fatal(err)
		}
		var live []string
		for _, r := range revs {
			if r.Leaf && !r.Deleted {
				live = append(live, r.RevID)
			}
		}
		if len(live) > 1 {
			t.Errorf("%s: still %d live leaves %v (tree %+v)", c.Database().Name(), len(live), live, revs)
		}
		if d.Deleted != wantDeleted {
			t.Errorf("%s: current %s deleted=%v, want deleted=%v", c.Database().Name(), d.RevID, d.Deleted, wantDeleted)
		}
	}
	if cur[0].RevID != cur[1].RevID {
		t.Errorf("diverged: local current %s (deleted=%v), remote current %s (deleted=%v)",
			cur[0].RevID, cur[0].Deleted, cur[1].RevID, cur[1].Deleted)
	}
}

// The pulled revision wins the storage rule here and is the current revision; the
// application deletes the document while the conflict waits for its resolution, which
// closes the remote's branch with a local tombstone and leaves the local branch live and
// current (what the application reads from then on). The remote has neither: the live
// outcome must reach it, carried onto the remote's branch (a child of the tombstone).
// It used to be left as it was (taken for another peer's resolution): the document
// stayed live here on the local branch, the pusher dropped it (the remote's revision is
// not in its history) and the remote kept its own revision for good (chaos test,
// "shared-08").
func TestConflictDeletedLocallyWhileResolving(t *testing.T) {
	local, remote := openDB(t, "local"), openDB(t, "remote")
	lc, rc := local.DefaultCollection(), remote.DefaultCollection()
	l := startListener(t, remote, nil)
	makeConflict(t, local, remote, localURL(l), 1, 2) // the remote branch wins the storage rule
	var calls atomic.Int32
	resolver := func(ctx context.Context, c Conflict) (Resolution, error) {
		if calls.Add(1) == 1 {
			cur, err := lc.Get(ctx, "c")
			if err != nil || cur.RevID != c.RemoteRevID() {
				t.Errorf("precondition: the pulled revision %s should be current: %+v %v", c.RemoteRevID(), cur, err)
			}
			if _, err := lc.Delete(ctx, "c", store.SaveOptions{}); err != nil {
				t.Error(err)
			}
		}
		return DefaultConflictResolver(ctx, c)
	}
	r := newRepl(t, Config{Database: local, URL: localURL(l),
		Collections: []CollectionConfig{{Collection: lc, ConflictResolver: resolver}}})
	var rec docRecorder
	rec.listen(r)
	if st := runOneShot(t, r); st.Error != nil {
		t.Fatal(st.Error)
	}
	if errs := rec.errors(); len(errs) > 0 {
		t.Fatalf("document errors: %v", errs)
	}
	checkSettled(t, lc, rc, false)
	for _, c := range []*store.Collection{lc, rc} {
		if d, err := c.Get(context.Background(), "c"); err != nil || string(d.Body) != `{"v":"local","i":0}` {
			t.Errorf("%s: c = %+v, %v; want the live local body", c.Database().Name(), d, err)
		}
	}
}

// A conflict whose resolution is cancelled by the end of the connection, after which the
// pulled revision (the current one here) is edited locally: the remote ancestor is no
// longer a leaf, but the document is still in conflict with the remote's branch. The
// next connection must find and resolve it; it used to look only for conflicts whose
// remote ancestor is itself a leaf.
func TestCancelledConflictResolvedAfterLocalEditOfRemoteBranch(t *testing.T) {
	ctx := context.Background()
	local, remote := openDB(t, "local"), openDB(t, "remote")
	lc, rc := local.DefaultCollection(), remote.DefaultCollection()
	l := startListener(t, remote, nil)
	makeConflict(t, local, remote, localURL(l), 1, 2) // the remote branch wins the storage rule
	r, calls := interruptedResolution(t, local, localURL(l), nil)
	if cf, err := lc.Conflicts(ctx, "c"); err != nil || len(cf) == 0 {
		t.Fatalf("precondition: the document should still be conflicted: %v %v", cf, err)
	}
	save(t, lc, "c", `{"v":"edited here"}`) // a child of the pulled revision
	rerunResolves(t, r, calls)
	checkSettled(t, lc, rc, false)
}

// A document with three live leaves: a resolution settles one pair, and the remaining
// live leaf must be resolved too (in the same run), not left in conflict.
func TestConflictWithThirdLiveLeafResolved(t *testing.T) {
	ctx := context.Background()
	local, remote := openDB(t, "local"), openDB(t, "remote")
	lc, rc := local.DefaultCollection(), remote.DefaultCollection()
	l := startListener(t, remote, nil)
	makeConflict(t, local, remote, localURL(l), 1, 2)
	r, calls := interruptedResolution(t, local, localURL(l), nil)
	revs, err := lc.Revisions(ctx, "c")
	if err != nil {
		t.Fatal(err)
	}
	root := ""
	for _, rv := range revs {
		if strings.HasPrefix(rv.RevID, "1-") {
			root = rv.RevID
		}
	}
	// A third branch, as another peer would have written it.
	if _, err := lc.PutExistingRevision(ctx, store.RemoteRevision{DocID: "c", RevID: "2-" + strings.Repeat("0", 40),
		History: []string{root}, Body: []byte(`{"v":"third"}`)}); err != nil {
		t.Fatal(err)
	}
	var rec docRecorder
	rec.listen(r)
	if st := runOneShot(t, r); st.Error != nil {
		t.Fatal(st.Error)
	}
	if errs := rec.errors(); len(errs) > 0 {
		t.Fatalf("document errors: %v", errs)
	}
	if calls.Load() < 3 {
		t.Errorf("resolver called %d times, want 3 (one cancelled, then each of two pairs)", calls.Load())
	}
	checkSettled(t, lc, rc, false)
}

// In a continuous replication, a conflict left unresolved (here the resolver failed once)
// is met again by the pusher when the document changes locally: its change does not
// descend from the remote's revision and cannot be sent. The pusher must not just drop
// it (leaving the pull side to resolve a conflict that nothing will bring again before
// the next connection): it reports the conflict, which is then resolved and pushed in
// the same connection.
func TestConflictMetByPusherIsResolved(t *testing.T) {
	ctx := context.Background()
	local, remote := openDB(t, "local"), openDB(t, "remote")
	lc, rc := local.DefaultCollection(), remote.DefaultCollection()
	l := startListener(t, remote, nil)
	makeConflict(t, local, remote, localURL(l), 2, 1) // the local branch is current
	var calls atomic.Int32
	failed := make(chan struct{})
	resolver := func(ctx context.Context, c Conflict) (Resolution, error) {
		if calls.Add(1) == 1 {
			close(failed)
			return Resolution{}, errors.New("not now")
		}
		return DefaultConflictResolver(ctx, c)
	}
	r := newRepl(t, Config{Database: local, URL: localURL(l), Continuous: true,
		Collections: []CollectionConfig{{Collection: lc, ConflictResolver: resolver}}})
	if err := r.Start(false); err != nil {
		t.Fatal(err)
	}
	defer r.Stop()
	select {
	case <-failed:
	case <-time.After(20 * time.Second):
		t.Fatal("the conflict never reached the resolver")
	}
	eventually(t, 10*time.Second, "the replicator to be idle", func() bool { return r.Status().Activity == Idle })
	save(t, lc, "c", `{"v":"local again"}`)
	eventually(t, 20*time.Second, "the conflict to be resolved and pushed", func() bool {
		a, errA := lc.GetWithDeleted(ctx, "c")
		b, errB := rc.GetWithDeleted(ctx, "c")
		cf, _ := lc.Conflicts(ctx, "c")
		return errA == nil && errB == nil && a.RevID == b.RevID && len(cf) == 0
	})
	checkSettled(t, lc, rc, false)
	if d, err := rc.Get(ctx, "c"); err != nil || string(d.Body) != `{"v":"local again"}` {
		t.Errorf("remote: c = %+v, %v; want the local edit", d, err)
	}
}

// A deletion pulled from the remote, after which the remote took the live local branch
// (the document created again here and pushed over it), and the local leaf is a later
// edit of what the remote took: the deletion is answered, nothing is to resolve (the
// pusher reports such a leaf as a conflict when the remote refused it for a stale
// parent). Resolving used to delete the document here, while the remote kept it live.
func TestDeletionAnsweredByRemoteAncestorOfLocalLeaf(t *testing.T) {
	ctx := context.Background()
	db := openDB(t, "local")
	c := db.DefaultCollection()
	root, deletion := "1-"+strings.Repeat("0", 32), "2-"+strings.Repeat("d", 32)
	taken, edit := "2-"+strings.Repeat("a", 32), "3-"+strings.Repeat("b", 32)
	for _, rev := range []store.RemoteRevision{
		{DocID: "doc", RevID: deletion, History: []string{root}, Deleted: true},
		{DocID: "doc", RevID: taken, History: []string{root}, Body: []byte(`{"v":"again"}`)},
		{DocID: "doc", RevID: edit, History: []string{taken, root}, Body: []byte(`{"v":"edited"}`)},
	} {
		if _, err := c.PutExistingRevision(ctx, rev); err != nil {
			t.Fatal(err)
		}
	}
	r := newRepl(t, Config{Database: db, URL: "ws://127.0.0.1:1/unused"})
	held := func(context.Context, *store.Collection, string) (string, error) { return taken, nil }
	seq, n, err := r.resolveWith(ctx, syncproto.ConflictEvent{Collection: c, DocID: "doc", LocalRevID: edit, RemoteRevID: deletion}, held)
	if err != nil || seq != 0 || n != 0 {
		t.Fatalf("resolve = %d, %d, %v; want nothing done", seq, n, err)
	}
	if d, err := c.Get(ctx, "doc"); err != nil || d.RevID != edit {
		t.Fatalf("current = %+v, %v; want the live edit", d, err)
	}
}
