package replicator

import (
	"context"
	"crypto/sha1"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/p2psync/libp2psync/engine/store"
	"github.com/p2psync/libp2psync/engine/store/storetest"
	"github.com/p2psync/libp2psync/engine/syncproto"
)

// pushEventsFor counts the successful push events of document id.
func (d *docRecorder) pushEventsFor(id string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for i, doc := range d.docs {
		if d.dirs[i] == DirectionPush && doc.ID == id && doc.Error == nil {
			n++
		}
	}
	return n
}

// requireSame fails unless the two collections are identical (storetest.Diff, every kind
// of difference, tombstones included).
func requireSame(t *testing.T, a, b *store.Collection) {
	t.Helper()
	d, err := storetest.Diff(context.Background(), a, b)
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range d {
		t.Errorf("A (active) and B (listener) differ: %s", x.Text)
	}
}

func deleteDoc(t *testing.T, c *store.Collection, id string) *store.Document {
	t.Helper()
	d, err := c.Delete(context.Background(), id, store.SaveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// A document ends deleted on both sides of a push-and-pull: its current revision must be
// the same tombstone on both. Each case starts with document "d" saved on the listener's
// side (B) and synced to the replicator's (A), then edits both sides without syncing and
// runs two one-shot push-and-pull replications. Before the fix the resolution closed the
// losing local branch with a tombstone of its own, which outranked the result (the
// remote's deletion, or the tombstone made on top of the remote's revision) whenever the
// local branch was the longer one, and the pusher (rightly) sent nothing: A and B stayed
// deleted by different tombstones.
func TestDeletedOnBothSidesByOneTombstone(t *testing.T) {
	useDeletion := func(context.Context, Conflict) (Resolution, error) { return Resolution{Kind: UseDeletion}, nil }
	tests := []struct {
		name     string
		edit     func(t *testing.T, a, b *store.Collection) (wantRev string)
		resolver ConflictResolver
		// noPush: the outcome is B's own revision, so nothing of d may be pushed.
		noPush bool
	}{
		{name: "remote deletion wins over a longer local branch", noPush: true,
			edit: func(t *testing.T, a, b *store.Collection) string {
				save(t, a, "d", `{"v":1}`)
				save(t, a, "d", `{"v":2}`)
				return deleteDoc(t, b, "d").RevID
			}},
		{name: "local deletion wins over a shorter remote edit",
			edit: func(t *testing.T, a, b *store.Collection) string {
				save(t, a, "d", `{"v":1}`)
				save(t, a, "d", `{"v":2}`)
				deleteDoc(t, a, "d")
				remote := save(t, b, "d", `{"v":"remote"}`)
				return tombstoneOf(remote.RevID)
			}},
		{name: "custom deletion over a longer local branch", resolver: useDeletion,
			edit: func(t *testing.T, a, b *store.Collection) string {
				save(t, a, "d", `{"v":1}`)
				save(t, a, "d", `{"v":2}`)
				remote := save(t, b, "d", `{"v":"remote"}`)
				return tombstoneOf(remote.RevID)
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			a, b := openDB(t, "a"), openDB(t, "b")
			ca, cb := a.DefaultCollection(), b.DefaultCollection()
			save(t, cb, "d", `{"v":0}`)
			l := startListener(t, b, nil)
			cfg := Config{Database: a, URL: localURL(l),
				Collections: []CollectionConfig{{Collection: ca, ConflictResolver: tt.resolver}}}
			if st := runOneShot(t, newRepl(t, cfg)); st.Error != nil {
				t.Fatal(st.Error)
			}
			want := tt.edit(t, ca, cb)
			var rec docRecorder
			for i := 0; i < 2; i++ {
				r := newRepl(t, cfg)
				rec.listen(r)
				if st := runOneShot(t, r); st.Error != nil {
					t.Fatalf("run %d: %+v", i+1, st)
				}
			}
			if errs := rec.errors(); len(errs) > 0 {
				t.Errorf("document errors: %v", errs)
			}
			requireSame(t, ca, cb)
			for side, c := range map[string]*store.Collection{"A": ca, "B": cb} {
				d, err := c.GetWithDeleted(ctx, "d")
				if err != nil || !d.Deleted || d.RevID != want {
					t.Errorf("%s: current %+v, %v; want the tombstone %s", side, d, err, want)
				}
				if cf, _ := c.Conflicts(ctx, "d"); len(cf) != 0 {
					t.Errorf("%s: still conflicted: %v", side, cf)
				}
			}
			if n := rec.pushEventsFor("d"); tt.noPush && n != 0 {
				t.Errorf("%d pushes of d, want none (the listener's revision is the outcome)", n)
			}
		})
	}
}

// tombstoneOf returns the ID of the deletion made on top of parent (the store's digest:
// SHA-1 of the parent's length and ID, the deletion flag and the body "{}").
func tombstoneOf(parent string) string {
	h := sha1.New()
	h.Write([]byte{byte(len(parent))})
	h.Write([]byte(parent))
	h.Write([]byte{1})
	h.Write([]byte("{}"))
	return fmt.Sprintf("%d-%x", generation(parent)+1, h.Sum(nil))
}

// Both sides delete a document concurrently (on different branches, so the tombstones
// differ). The listener refuses the replicator's tombstone (no-conflicts rules, as Sync
// Gateway) and keeps its own; the replicator's side must take the listener's, whichever
// the winner rule prefers: a longer local branch (higher generation), or equal
// generations, either digest order.
func TestConcurrentDeletionsConverge(t *testing.T) {
	ctx := context.Background()
	a, b := openDB(t, "a"), openDB(t, "b")
	ca, cb := a.DefaultCollection(), b.DefaultCollection()
	const n = 8
	id := func(i int) string { return fmt.Sprintf("d%d", i) }
	for i := 0; i < n; i++ {
		save(t, cb, id(i), fmt.Sprintf(`{"v":%d}`, i))
	}
	l := startListener(t, b, nil)
	cfg := Config{Database: a, URL: localURL(l)}
	if st := runOneShot(t, newRepl(t, cfg)); st.Error != nil {
		t.Fatal(st.Error)
	}
	want := map[string]string{}
	localBeats := 0
	for i := 0; i < n; i++ {
		// d0: a longer local branch; the others: one edit on each side, then deletions.
		save(t, ca, id(i), fmt.Sprintf(`{"local":%d}`, i))
		if i == 0 {
			save(t, ca, id(i), `{"local":"again"}`)
		}
		save(t, cb, id(i), fmt.Sprintf(`{"remote":%d}`, i))
		local, remote := deleteDoc(t, ca, id(i)), deleteDoc(t, cb, id(i))
		want[id(i)] = remote.RevID
		if generation(local.RevID) > generation(remote.RevID) ||
			(generation(local.RevID) == generation(remote.RevID) && digest(local.RevID) > digest(remote.RevID)) {
			localBeats++
		}
	}
	if localBeats < 2 || localBeats == n {
		t.Fatalf("precondition: the local tombstone beats the remote one for %d of %d documents; want both orders", localBeats, n)
	}
	var rec docRecorder
	for i := 0; i < 2; i++ {
		r := newRepl(t, cfg)
		rec.listen(r)
		if st := runOneShot(t, r); st.Error != nil {
			t.Fatalf("run %d: %+v", i+1, st)
		}
	}
	if errs := rec.errors(); len(errs) > 0 {
		t.Errorf("document errors: %v", errs)
	}
	requireSame(t, ca, cb)
	for i := 0; i < n; i++ {
		for side, c := range map[string]*store.Collection{"A": ca, "B": cb} {
			d, err := c.GetWithDeleted(ctx, id(i))
			if err != nil || d.RevID != want[id(i)] {
				t.Errorf("%s: %s = %+v, %v; want the listener's tombstone %s", side, id(i), d, err, want[id(i)])
			}
		}
	}
	// The replicator's side changed its current revision: one more run sends nothing.
	r := newRepl(t, cfg)
	var again docRecorder
	again.listen(r)
	if st := runOneShot(t, r); st.Error != nil {
		t.Fatal(st.Error)
	}
	if n := again.count(DirectionPush); n != 0 {
		t.Errorf("a third run pushed %d revisions, want none", n)
	}
	requireSame(t, ca, cb)
}

// A third peer C that pulled the losing local branch before the resolution removed it
// meets the deletion as a conflict of its own when it next syncs, resolves it the same
// way, and all three end on the one tombstone of the listener B.
func TestThirdPeerFollowsPrunedResolution(t *testing.T) {
	ctx := context.Background()
	a, b, c := openDB(t, "a"), openDB(t, "b"), openDB(t, "c")
	ca, cb, cc := a.DefaultCollection(), b.DefaultCollection(), c.DefaultCollection()
	save(t, cb, "d", `{"v":0}`)
	lb, la := startListener(t, b, nil), startListener(t, a, nil)
	aToB := Config{Database: a, URL: localURL(lb)}
	cToA := Config{Database: c, URL: localURL(la)}
	if st := runOneShot(t, newRepl(t, aToB)); st.Error != nil {
		t.Fatal(st.Error)
	}
	save(t, ca, "d", `{"v":1}`)
	save(t, ca, "d", `{"v":2}`)
	if st := runOneShot(t, newRepl(t, cToA)); st.Error != nil { // C pulls A's branch
		t.Fatal(st.Error)
	}
	if d, err := cc.Get(ctx, "d"); err != nil || string(d.Body) != `{"v":2}` {
		t.Fatalf("precondition: C has %+v, %v", d, err)
	}
	want := deleteDoc(t, cb, "d").RevID
	for _, cfg := range []Config{aToB, aToB, cToA, cToA} {
		if st := runOneShot(t, newRepl(t, cfg)); st.Error != nil {
			t.Fatal(st.Error)
		}
	}
	for side, coll := range map[string]*store.Collection{"A": ca, "B": cb, "C": cc} {
		d, err := coll.GetWithDeleted(ctx, "d")
		if err != nil || d.RevID != want {
			t.Errorf("%s: current %+v, %v; want %s", side, d, err, want)
		}
	}
	requireSame(t, ca, cb)
	requireSame(t, cc, ca)
}

// A pulled deletion conflicts with a live local revision that the remote has taken since
// it sent the deletion (the document created again here, and the push acknowledged after
// the deletion was pulled): the remote's latest revision is the local one, so there is
// nothing to resolve. Resolving "deletion wins" would remove the live local branch,
// which the remote holds as its current revision (the chaos test found the two sides
// stuck that way, one live and one deleted).
func TestPulledDeletionAnsweredByRemoteLeftAlone(t *testing.T) {
	ctx := context.Background()
	db := openDB(t, "local")
	c := db.DefaultCollection()
	root, deletion, again := "1-"+strings.Repeat("0", 40), "2-"+strings.Repeat("d", 40), "3-"+strings.Repeat("a", 40)
	for _, rev := range []store.RemoteRevision{
		{DocID: "doc", RevID: root, Body: []byte(`{"v":0}`)},
		{DocID: "doc", RevID: again, History: []string{"2-" + strings.Repeat("1", 40), root}, Body: []byte(`{"v":"again"}`)},
		{DocID: "doc", RevID: deletion, History: []string{root}, Deleted: true},
	} {
		if _, err := c.PutExistingRevision(ctx, rev); err != nil {
			t.Fatal(err)
		}
	}
	r := newRepl(t, Config{Database: db, URL: "ws://127.0.0.1:1/unused"})
	if err := c.SetRemoteAncestor(ctx, r.remoteID, "doc", again); err != nil {
		t.Fatal(err)
	}
	called := false
	r.colls[0].ConflictResolver = func(ctx context.Context, cf Conflict) (Resolution, error) {
		called = true
		return DefaultConflictResolver(ctx, cf)
	}
	seq, err := r.resolve(ctx, syncproto.ConflictEvent{Collection: c, DocID: "doc", LocalRevID: again, RemoteRevID: deletion})
	if err != nil || seq != 0 || called {
		t.Fatalf("resolve = %d, %v (resolver called: %v); want nothing to resolve", seq, err, called)
	}
	if d, err := c.Get(ctx, "doc"); err != nil || d.RevID != again {
		t.Fatalf("current = %+v, %v; want the live %s the remote holds", d, err, again)
	}
	// Without that record the deletion wins, and the live branch is removed.
	if err := c.SetRemoteAncestor(ctx, r.remoteID, "doc", deletion); err != nil {
		t.Fatal(err)
	}
	if _, err := r.resolve(ctx, syncproto.ConflictEvent{Collection: c, DocID: "doc", LocalRevID: again, RemoteRevID: deletion}); err != nil || !called {
		t.Fatal(err)
	}
	d, err := c.GetWithDeleted(ctx, "doc")
	if err != nil || d.RevID != deletion {
		t.Fatalf("current = %+v, %v; want the remote's deletion", d, err)
	}
	if revs, _ := c.Revisions(ctx, "doc"); len(revs) != 2 {
		t.Errorf("tree = %+v, want the root and the deletion", revs)
	}
}

// A side can hold a branch closed by an earlier conflict resolution, whose tombstone
// outranks a later deletion of the live revision (the chaos test found it: the closing
// tombstone had the same generation and a larger digest). A deletion made on the other
// side must still be the current revision on both once replicated, whichever side holds
// the closed branch: pulled by the replicator, or pushed to the listener.
func TestDeletionOverClosedBranchConverges(t *testing.T) {
	for _, tt := range []struct {
		name             string
		closedOnListener bool
	}{{"closed branch on the replicator's side, deletion pulled", false}, {"closed branch on the listener's side, deletion pushed", true}} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			a, b := openDB(t, "a"), openDB(t, "b")
			ca, cb := a.DefaultCollection(), b.DefaultCollection()
			base := save(t, cb, "d", `{"v":0}`)
			l := startListener(t, b, nil)
			cfg := Config{Database: a, URL: localURL(l)}
			if st := runOneShot(t, newRepl(t, cfg)); st.Error != nil {
				t.Fatal(st.Error)
			}
			holder, deleter := ca, cb
			if tt.closedOnListener {
				holder, deleter = cb, ca
			}
			// A closed branch beside the current revision, its tombstone above any
			// deletion of generation 2.
			branch, closed := "1-"+strings.Repeat("1", 40), "2-"+strings.Repeat("f", 40)
			for _, rev := range []store.RemoteRevision{
				{DocID: "d", RevID: branch, Body: []byte(`{"v":"lost"}`)},
				{DocID: "d", RevID: closed, History: []string{branch}, Deleted: true},
			} {
				if _, err := holder.PutExistingRevision(ctx, rev); err != nil {
					t.Fatal(err)
				}
			}
			if d, _ := holder.Get(ctx, "d"); d == nil || d.RevID != base.RevID {
				t.Fatalf("precondition: current %+v, want %s", d, base.RevID)
			}
			want := deleteDoc(t, deleter, "d").RevID
			var rec docRecorder
			for i := 0; i < 2; i++ {
				r := newRepl(t, cfg)
				rec.listen(r)
				if st := runOneShot(t, r); st.Error != nil {
					t.Fatalf("run %d: %+v", i+1, st)
				}
			}
			if errs := rec.errors(); len(errs) > 0 {
				t.Errorf("document errors: %v", errs)
			}
			requireSame(t, ca, cb)
			for side, c := range map[string]*store.Collection{"A": ca, "B": cb} {
				if d, err := c.GetWithDeleted(ctx, "d"); err != nil || d.RevID != want {
					t.Errorf("%s: current %+v, %v; want the deletion %s", side, d, err, want)
				}
			}
		})
	}
}

// The remote's branch wins the winner rule (higher generation) over a live local leaf,
// and the remote deletes it while that conflict awaits resolution: the pulled deletion
// extends the current revision, and the live local leaf becomes current again. The
// conflict queued for the remote's live revision no longer counts (its branch ends in a
// tombstone now), so the deletion must be a conflict of its own: otherwise the document
// stays live here and deleted on the remote (the chaos test found it).
func TestDeletionOfWinningRemoteBranchIsAConflict(t *testing.T) {
	ctx := context.Background()
	a, b := openDB(t, "a"), openDB(t, "b")
	ca, cb := a.DefaultCollection(), b.DefaultCollection()
	save(t, cb, "d", `{"v":0}`)
	l := startListener(t, b, nil)
	if st := runOneShot(t, newRepl(t, Config{Database: a, URL: localURL(l)})); st.Error != nil {
		t.Fatal(st.Error)
	}
	save(t, ca, "d", `{"local":1}`)
	save(t, cb, "d", `{"remote":1}`)
	winner := save(t, cb, "d", `{"remote":2}`)
	deleted := make(chan string, 1)
	calls := 0 // the resolver runs on one goroutine, one call at a time
	resolver := func(ctx context.Context, c Conflict) (Resolution, error) {
		calls++
		if calls == 1 {
			// Hold the first resolution until the remote's deletion of its branch is here.
			d, err := cb.Delete(ctx, "d", store.SaveOptions{})
			if err != nil {
				return Resolution{}, err
			}
			deleted <- d.RevID
			for ctx.Err() == nil {
				if _, err := ca.GetRevision(ctx, "d", d.RevID); err == nil {
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
		}
		return DefaultConflictResolver(ctx, c)
	}
	r := newRepl(t, Config{Database: a, URL: localURL(l), Continuous: true,
		Collections: []CollectionConfig{{Collection: ca, ConflictResolver: resolver}}})
	if err := r.Start(false); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "the deletion to win on both sides", func() bool {
		da, errA := ca.GetWithDeleted(ctx, "d")
		db, errB := cb.GetWithDeleted(ctx, "d")
		return errA == nil && errB == nil && da.Deleted && db.Deleted && da.RevID == db.RevID
	})
	r.Stop()
	requireSame(t, ca, cb)
	deletion := <-deleted
	if d, _ := cb.GetWithDeleted(ctx, "d"); d.RevID != deletion || generation(deletion) != generation(winner.RevID)+1 {
		t.Errorf("B: current %s, want the deletion %s of %s", d.RevID, deletion, winner.RevID)
	}
}
