package replicator

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/p2psync/libp2psync/engine/hlv"
	"github.com/p2psync/libp2psync/engine/listener"
	"github.com/p2psync/libp2psync/engine/logging"
	"github.com/p2psync/libp2psync/engine/store"
	"github.com/p2psync/libp2psync/engine/syncproto"
	"github.com/p2psync/libp2psync/engine/tlsid"
)

// sameVersions reports the first document whose current revision differs between a and
// b (version, deletion or body), or "" when both hold the same documents. With
// needVersion, every document must have a version.
func sameVersions(t testing.TB, a, b *store.Collection, needVersion bool) string {
	t.Helper()
	ctx := context.Background()
	ca, err := a.ChangesSince(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if n, m := len(ca), int(countAll(t, b)); n != m {
		return fmt.Sprintf("%d documents against %d", n, m)
	}
	for _, ch := range ca {
		da, err := a.GetWithDeleted(ctx, ch.DocID)
		if err != nil {
			t.Fatal(err)
		}
		db, err := b.GetWithDeleted(ctx, ch.DocID)
		if err != nil {
			return ch.DocID + ": " + err.Error()
		}
		if needVersion && da.Version == "" {
			return ch.DocID + " has no version"
		}
		same := da.Version == db.Version
		if da.Version == "" || db.Version == "" {
			// Received over CBMobile_3 on one side: the rev-tree ID is the identity.
			same = !needVersion && da.RevID == db.RevID
		}
		if !same || da.Deleted != db.Deleted || string(da.Body) != string(db.Body) {
			return fmt.Sprintf("%s: %s %v %s against %s %v %s", ch.DocID, da.Version, da.Deleted, da.Body, db.Version, db.Deleted, db.Body)
		}
	}
	return ""
}

func countAll(t testing.TB, c *store.Collection) uint64 {
	t.Helper()
	ch, err := c.ChangesSince(context.Background(), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	return uint64(len(ch))
}

// subprotocolOf runs a continuous replicator with cfg against l until it is connected
// and returns the subprotocol the listener agreed.
func subprotocolOf(t *testing.T, l *listener.Listener, cfg Config) string {
	t.Helper()
	cfg.Continuous = true
	r := newRepl4(t, cfg)
	if err := r.Start(false); err != nil {
		t.Fatal(err)
	}
	defer r.Stop()
	proto := ""
	eventually(t, 10*time.Second, "a connection", func() bool {
		for _, c := range l.Status().Connections {
			proto = c.Subprotocol
		}
		return proto != ""
	})
	return proto
}

// Two libp2psync peers over TLS speak CBMobile_4: documents of both sides, their
// updates and deletions replicate one-shot, and every document ends with the same
// version and body on both sides (the received ones carry the sender's version, which
// only the CBMobile_4 path stores).
func TestCBMobile4OneShotOverTLS(t *testing.T) {
	local, remote := openDB(t, "local"), openDB(t, "remote")
	lc, rc := local.DefaultCollection(), remote.DefaultCollection()
	saveN(t, lc, "l-", 40)
	saveN(t, rc, "r-", 30)
	l := startListener(t, remote, func(c *listener.Config) {
		c.DisableTLS, c.Identity = false, fx.selfSigned
	})
	url := fmt.Sprintf("wss://127.0.0.1:%d/remote", l.Port())
	cfg := Config{Database: local, URL: url, TrustMode: tlsid.TrustPinned, PinnedCertificate: fx.selfSigned.Certificate().Raw}
	if p := subprotocolOf(t, l, cfg); p != syncproto.SubprotocolCBMobile4 {
		t.Fatalf("subprotocol %q", p)
	}
	r := newRepl4(t, cfg)
	var rec docRecorder
	rec.listen(r)
	if st := runOneShot(t, r); st.Error != nil {
		t.Fatalf("status %+v", st)
	}
	if diff := sameVersions(t, lc, rc, true); diff != "" {
		t.Fatalf("after the first run: %s", diff)
	}
	if errs := rec.errors(); len(errs) > 0 {
		t.Fatalf("document errors: %v", errs)
	}
	d, _ := lc.Get(context.Background(), "r-0003")
	if !strings.HasSuffix(d.Version, "@"+remote.SourceID()) {
		t.Fatalf("pulled version %q is not the remote's", d.Version)
	}

	// Updates and deletions on both sides.
	save(t, lc, "l-0001", `{"edited":"local"}`)
	save(t, rc, "r-0002", `{"edited":"remote"}`)
	if _, err := lc.Delete(context.Background(), "r-0005", store.SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := rc.Delete(context.Background(), "l-0007", store.SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	r2 := newRepl4(t, cfg)
	var rec2 docRecorder
	rec2.listen(r2)
	if st := runOneShot(t, r2); st.Error != nil {
		t.Fatalf("status %+v", st)
	}
	if diff := sameVersions(t, lc, rc, true); diff != "" {
		t.Fatalf("after the second run: %s", diff)
	}
	// From the checkpoints: only what changed moved.
	if p, q := rec2.count(DirectionPush), rec2.count(DirectionPull); p != 2 || q != 2 {
		t.Fatalf("second run pushed %d and pulled %d documents, want 2 and 2", p, q)
	}
}

// A continuous CBMobile_4 replication keeps both sides equal as either side saves,
// updates and deletes.
func TestCBMobile4Continuous(t *testing.T) {
	local, remote := openDB(t, "local"), openDB(t, "remote")
	lc, rc := local.DefaultCollection(), remote.DefaultCollection()
	l := startListener(t, remote, nil)
	r := newRepl4(t, Config{Database: local, URL: localURL(l), Continuous: true})
	if err := r.Start(false); err != nil {
		t.Fatal(err)
	}
	converge := func(what string) {
		t.Helper()
		eventually(t, 15*time.Second, what, func() bool { return sameVersions(t, lc, rc, true) == "" })
	}
	save(t, lc, "a", `{"from":"local"}`)
	save(t, rc, "b", `{"from":"remote"}`)
	converge("new documents")
	save(t, rc, "a", `{"from":"remote","v":2}`)
	save(t, lc, "b", `{"from":"local","v":2}`)
	converge("updates")
	if _, err := rc.Delete(context.Background(), "a", store.SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	converge("a deletion")
	d, err := lc.GetWithDeleted(context.Background(), "a")
	if err != nil || !d.Deleted {
		t.Fatalf("a: %+v %v", d, err)
	}
	for _, c := range l.Status().Connections {
		if c.Subprotocol != syncproto.SubprotocolCBMobile4 {
			t.Fatalf("subprotocol %q", c.Subprotocol)
		}
	}
}

// Conflicts under CBMobile_4 are decided by Couchbase Lite 4's rule (a deletion wins,
// else the later version) or the custom resolver, and both sides end with the same
// version and body; a further replication finds nothing to do.
func TestCBMobile4ConflictsResolvedIdentically(t *testing.T) {
	merge := func(_ context.Context, c Conflict) (Resolution, error) {
		return Resolution{Kind: UseMerged, Body: []byte(`{"merged":true}`)}, nil
	}
	tests := []struct {
		name     string
		first    string // side edited first ("local" or "remote"); the other edits later
		delete   string // side that deletes instead of editing ("" none)
		resolver ConflictResolver
		want     string // body expected on both sides ("" = deleted)
		merged   bool   // the outcome is a new version recording both sides
	}{
		{"remote later wins", "local", "", nil, `{"side":"remote"}`, false},
		{"local later wins", "remote", "", nil, `{"side":"local"}`, true},
		{"remote deletion wins", "remote", "remote", nil, "", false},
		{"local deletion wins", "local", "local", nil, "", true},
		{"custom merge", "local", "", merge, `{"merged":true}`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			local, remote := openDB(t, "local"), openDB(t, "remote")
			lc, rc := local.DefaultCollection(), remote.DefaultCollection()
			save(t, lc, "doc", `{"side":"origin"}`)
			l := startListener(t, remote, nil)
			cfg := Config{Database: local, URL: localURL(l), Collections: []CollectionConfig{{Collection: lc, ConflictResolver: tt.resolver}}}
			if st := runOneShot(t, newRepl4(t, cfg)); st.Error != nil {
				t.Fatalf("status %+v", st)
			}
			edit := func(side string) {
				c := lc
				if side == "remote" {
					c = rc
				}
				if tt.delete == side {
					if _, err := c.Delete(ctx, "doc", store.SaveOptions{}); err != nil {
						t.Fatal(err)
					}
					return
				}
				save(t, c, "doc", fmt.Sprintf(`{"side":%q}`, side))
			}
			second := map[string]string{"local": "remote", "remote": "local"}[tt.first]
			edit(tt.first)
			time.Sleep(2 * time.Millisecond)
			edit(second)
			ld, _ := lc.GetWithDeleted(ctx, "doc")
			rd, _ := rc.GetWithDeleted(ctx, "doc")
			r := newRepl4(t, cfg)
			var rec docRecorder
			rec.listen(r)
			if st := runOneShot(t, r); st.Error != nil {
				t.Fatalf("status %+v", st)
			}
			if errs := rec.errors(); len(errs) > 0 {
				t.Fatalf("document errors: %v", errs)
			}
			if diff := sameVersions(t, lc, rc, true); diff != "" {
				t.Fatalf("sides differ: %s", diff)
			}
			got, _ := lc.GetWithDeleted(ctx, "doc")
			if tt.want == "" && !got.Deleted || tt.want != "" && string(got.Body) != tt.want {
				t.Fatalf("outcome %s deleted=%v, want %s", got.Body, got.Deleted, tt.want)
			}
			vec, err := hlv.ParseVector(got.Vector)
			if err != nil {
				t.Fatal(err)
			}
			if tt.merged != (len(vec.Merge) == 2) {
				t.Fatalf("outcome vector %s (merged: want %v)", got.Vector, tt.merged)
			}
			if tt.merged {
				// A new version recording both sides as merge versions.
				for _, side := range []*store.Document{ld, rd} {
					if v, _ := hlv.ParseVersion(side.Version); !vec.Contains(v) {
						t.Fatalf("outcome %s does not contain %s", got.Vector, side.Version)
					}
				}
			} else if got.Vector != rd.Vector {
				// The remote revision won unchanged: its vector is kept as it was.
				t.Fatalf("outcome vector %s, want the remote's %s", got.Vector, rd.Vector)
			}
			// Nothing left to do: neither side sees the conflict again.
			r2 := newRepl4(t, cfg)
			var rec2 docRecorder
			rec2.listen(r2)
			if st := runOneShot(t, r2); st.Error != nil {
				t.Fatalf("status %+v", st)
			}
			if n := rec2.count(DirectionPush) + rec2.count(DirectionPull); n != 0 {
				t.Fatalf("a further replication moved %d documents", n)
			}
			if again, _ := lc.GetWithDeleted(ctx, "doc"); again.Version != got.Version {
				t.Fatalf("version moved from %s to %s", got.Version, again.Version)
			}
		})
	}
}

// A replicator offering only CBMobile_3 still syncs with a listener that speaks
// CBMobile_4: the listener picks CBMobile_3, and revisions travel as revision trees
// (received documents have no version until saved again).
func TestCBMobile3OnlyReplicatorWithCBMobile4Listener(t *testing.T) {
	local, remote := openDB(t, "local"), openDB(t, "remote")
	lc, rc := local.DefaultCollection(), remote.DefaultCollection()
	saveN(t, lc, "l-", 20)
	saveN(t, rc, "r-", 20)
	l := startListener(t, remote, nil)
	cfg := Config{Database: local, URL: localURL(l), DisableCBMobile4: true}
	if p := subprotocolOf(t, l, cfg); p != syncproto.SubprotocolCBMobile3 {
		t.Fatalf("subprotocol %q", p)
	}
	if st := runOneShot(t, newRepl4(t, cfg)); st.Error != nil {
		t.Fatalf("status %+v", st)
	}
	if !sameDocs(t, lc, rc) {
		t.Fatal("collections differ")
	}
	d, err := lc.Get(context.Background(), "r-0001")
	if err != nil || d.Version != "" {
		t.Fatalf("pulled over CBMobile_3: %+v %v (want no version)", d, err)
	}
	// A listener that refuses CBMobile_4 serves a default replicator over CBMobile_3.
	l3 := startListener(t, openDB(t, "old"), func(c *listener.Config) { c.DisableCBMobile4 = true })
	if p := subprotocolOf(t, l3, Config{Database: local, URL: localURL(l3)}); p != syncproto.SubprotocolCBMobile3 {
		t.Fatalf("subprotocol with an old listener %q", p)
	}
}

// A database replicated over CBMobile_3 and then over CBMobile_4 converges, and the
// CBMobile_4 run continues from the CBMobile_3 checkpoints: only what changed since
// moves, including documents that were received without a version.
func TestDatabaseOver3Then4Converges(t *testing.T) {
	ctx := context.Background()
	local, remote := openDB(t, "local"), openDB(t, "remote")
	lc, rc := local.DefaultCollection(), remote.DefaultCollection()
	saveN(t, lc, "l-", 30)
	saveN(t, rc, "r-", 30)
	l := startListener(t, remote, nil)
	cfg3 := Config{Database: local, URL: localURL(l), DisableCBMobile4: true}
	if st := runOneShot(t, newRepl4(t, cfg3)); st.Error != nil {
		t.Fatalf("status %+v", st)
	}
	if !sameDocs(t, lc, rc) {
		t.Fatal("collections differ after CBMobile_3")
	}
	// Changes on both sides, including documents each side received without a version.
	save(t, lc, "r-0004", `{"edited":"local"}`)
	save(t, rc, "l-0006", `{"edited":"remote"}`)
	save(t, lc, "l-0008", `{"edited":"local"}`)
	save(t, rc, "new-remote", `{"n":1}`)
	cfg4 := Config{Database: local, URL: localURL(l)}
	r := newRepl4(t, cfg4)
	var rec docRecorder
	rec.listen(r)
	if st := runOneShot(t, r); st.Error != nil {
		t.Fatalf("status %+v", st)
	}
	if errs := rec.errors(); len(errs) > 0 {
		t.Fatalf("document errors: %v", errs)
	}
	if p, q := rec.count(DirectionPush), rec.count(DirectionPull); p != 2 || q != 2 {
		t.Fatalf("CBMobile_4 run pushed %d and pulled %d documents, want 2 and 2", p, q)
	}
	if diff := sameVersions(t, lc, rc, false); diff != "" {
		t.Fatalf("sides differ: %s", diff)
	}
	for _, id := range []string{"r-0004", "l-0006", "l-0008", "new-remote"} {
		d, err := rc.Get(ctx, id)
		if err != nil || d.Version == "" {
			t.Fatalf("%s on the remote: %+v %v", id, d, err)
		}
	}
	// The edited documents kept one revision tree on both sides.
	for _, id := range []string{"r-0004", "l-0006"} {
		a, _ := lc.Get(ctx, id)
		b, _ := rc.Get(ctx, id)
		if a.RevID != b.RevID {
			t.Errorf("%s: rev-tree IDs %s and %s", id, a.RevID, b.RevID)
		}
	}
	var zero error
	_ = errors.Is(zero, nil)
}

// Three peers in a ring over CBMobile_4 (each replicates continuously with the next
// one's listener), each with its own documents and a concurrent edit of one shared
// document: all converge on the same versions and bodies, and a later edit follows.
func TestCBMobile4RingConverges(t *testing.T) {
	dbs := []*store.Database{openDB(t, "p0"), openDB(t, "p1"), openDB(t, "p2")}
	ls := make([]*listener.Listener, 3)
	for i, db := range dbs {
		ls[i] = startListener(t, db, nil)
	}
	for i, db := range dbs {
		saveN(t, db.DefaultCollection(), fmt.Sprintf("p%d-", i), 20)
		save(t, db.DefaultCollection(), "shared", fmt.Sprintf(`{"by":%d}`, i))
	}
	for i, db := range dbs {
		r := newRepl4(t, Config{Database: db, URL: localURL(ls[(i+1)%3]), Continuous: true})
		if err := r.Start(false); err != nil {
			t.Fatal(err)
		}
	}
	converged := func() bool {
		for i := 1; i < 3; i++ {
			if sameVersions(t, dbs[0].DefaultCollection(), dbs[i].DefaultCollection(), true) != "" {
				return false
			}
		}
		return count(t, dbs[0].DefaultCollection()) == 61
	}
	deadline := time.Now().Add(30 * time.Second)
	for !converged() {
		if time.Now().After(deadline) {
			for i := 1; i < 3; i++ {
				t.Logf("p0 against p%d: %s", i, sameVersions(t, dbs[0].DefaultCollection(), dbs[i].DefaultCollection(), true))
			}
			t.Fatal("no convergence")
		}
		time.Sleep(20 * time.Millisecond)
	}
	save(t, dbs[1].DefaultCollection(), "p0-0003", `{"late":1}`)
	eventually(t, 20*time.Second, "edit convergence", func() bool {
		return converged() && strings.Contains(bodyOf(dbs[2].DefaultCollection(), "p0-0003"), "late")
	})
}

func bodyOf(c *store.Collection, id string) string {
	d, err := c.Get(context.Background(), id)
	if err != nil {
		return ""
	}
	return string(d.Body)
}

// versionDiffs lists the documents whose current version, deletion or body differ
// between a and b (either way), with their IDs.
func versionDiffs(t testing.TB, a, b *store.Collection) (diff, ids []string) {
	t.Helper()
	ctx := context.Background()
	seen := map[string]bool{}
	for _, c := range []*store.Collection{a, b} {
		chs, err := c.ChangesSince(ctx, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, ch := range chs {
			if seen[ch.DocID] {
				continue
			}
			seen[ch.DocID] = true
			da, errA := a.GetWithDeleted(ctx, ch.DocID)
			db, errB := b.GetWithDeleted(ctx, ch.DocID)
			switch {
			case errA != nil || errB != nil:
				diff = append(diff, fmt.Sprintf("%q: A %v, B %v", ch.DocID, errA, errB))
			case da.Version != db.Version || da.Deleted != db.Deleted || string(da.Body) != string(db.Body):
				diff = append(diff, fmt.Sprintf("%q: A %s deleted=%v, B %s deleted=%v", ch.DocID, da.Version, da.Deleted, db.Version, db.Deleted))
			default:
				continue
			}
			ids = append(ids, ch.DocID)
		}
	}
	return diff, ids
}

// A peer that saved a document twice before one CBMobile_4 session, each way (pushed and
// pulled), gives the other side the revision under its own rev-tree ID with the one it
// skipped (the revTree property), so that when the two later replicate over CBMobile_3
// (a 3.x peer would) they hold one revision tree: no conflict, no document error, the
// same rev-tree IDs. Before the rev-tree ancestry travelled with versions, the receiver
// minted an ID of its own for the same version, and CBMobile_3 then saw two branches.
func TestMissedRevisionOver4Then3(t *testing.T) {
	ctx := context.Background()
	local, remote := openDB(t, "local"), openDB(t, "remote")
	lc, rc := local.DefaultCollection(), remote.DefaultCollection()
	save(t, lc, "pushed", `{"v":1}`)
	save(t, rc, "pulled", `{"v":1}`)
	l := startListener(t, remote, nil)
	cfg4 := Config{Database: local, URL: localURL(l)}
	run := func(cfg Config, what string) {
		t.Helper()
		r := newRepl4(t, cfg)
		var rec docRecorder
		rec.listen(r)
		if st := runOneShot(t, r); st.Error != nil {
			t.Fatalf("%s: status %+v", what, st)
		}
		if errs := rec.errors(); len(errs) > 0 {
			t.Fatalf("%s: document errors: %v", what, errs)
		}
	}
	sameTrees := func(what string) {
		t.Helper()
		for _, id := range []string{"pushed", "pulled"} {
			a, errA := lc.GetWithDeleted(ctx, id)
			b, errB := rc.GetWithDeleted(ctx, id)
			if errA != nil || errB != nil {
				t.Fatalf("%s: %s: %v %v", what, id, errA, errB)
			}
			if a.RevID != b.RevID || string(a.Body) != string(b.Body) {
				t.Errorf("%s: %s: local %s %s, remote %s %s", what, id, a.RevID, a.Body, b.RevID, b.Body)
			}
			for _, c := range []*store.Collection{lc, rc} {
				if cs, err := c.Conflicts(ctx, id); err != nil || len(cs) > 0 {
					t.Errorf("%s: %s: conflicts %v %v", what, id, cs, err)
				}
			}
		}
	}
	run(cfg4, "first CBMobile_4 run")
	// Two saves on each side before the next session: the other side never sees the middle one.
	save(t, lc, "pushed", `{"v":2}`)
	save(t, lc, "pushed", `{"v":3}`)
	save(t, rc, "pulled", `{"v":2}`)
	save(t, rc, "pulled", `{"v":3}`)
	run(cfg4, "second CBMobile_4 run")
	if diff := sameVersions(t, lc, rc, true); diff != "" {
		t.Fatalf("after CBMobile_4: %s", diff)
	}
	sameTrees("after CBMobile_4")
	for _, c := range []*store.Collection{lc, rc} {
		if d, _ := c.Get(ctx, "pushed"); !strings.HasPrefix(d.RevID, "3-") {
			t.Errorf("generation of %s: %s", "pushed", d.RevID)
		}
	}
	// Now over CBMobile_3, each side editing the document it received (it skipped the
	// middle revision): the edit extends the other side's current revision, no conflict.
	save(t, rc, "pushed", `{"v":4}`)
	save(t, lc, "pulled", `{"v":4}`)
	var conflicts []string
	var mu sync.Mutex
	resolver := func(ctx context.Context, c Conflict) (Resolution, error) {
		mu.Lock()
		conflicts = append(conflicts, c.DocID+" "+c.LocalRevID()+" against "+c.RemoteRevID())
		mu.Unlock()
		return DefaultConflictResolver(ctx, c)
	}
	run(Config{Database: local, URL: localURL(l), DisableCBMobile4: true,
		Collections: []CollectionConfig{{Collection: lc, ConflictResolver: resolver}}}, "CBMobile_3 run")
	if len(conflicts) > 0 {
		t.Errorf("CBMobile_3 saw conflicts: %v", conflicts)
	}
	sameTrees("after CBMobile_3")
	for _, id := range []string{"pushed", "pulled"} {
		for _, c := range []*store.Collection{lc, rc} {
			if b := bodyOf(c, id); b != `{"v":4}` {
				t.Errorf("%s: body %s, want the edit", id, b)
			}
		}
	}
}

// A conflict resolved over CBMobile_4, the remote's revision winning unchanged or the
// local one winning with a merged vector, leaves one revision tree on both sides (the
// outcome travels with its rev-tree ancestry and replaces the losing branch), so a later
// CBMobile_3 session sees no conflict and an edit on either side wins.
func TestConflictOver4ThenOver3(t *testing.T) {
	ctx := context.Background()
	local, remote := openDB(t, "local"), openDB(t, "remote")
	lc, rc := local.DefaultCollection(), remote.DefaultCollection()
	l := startListener(t, remote, nil)
	cfg4 := Config{Database: local, URL: localURL(l)}
	for _, id := range []string{"remote-wins", "local-wins"} {
		save(t, rc, id, `{"v":0}`)
	}
	if st := runOneShot(t, newRepl4(t, cfg4)); st.Error != nil {
		t.Fatalf("status %+v", st)
	}
	// Later edits win (Couchbase Lite 4's rule); the remote's side has two edits of
	// "remote-wins", so the generations differ too.
	save(t, lc, "remote-wins", `{"v":"local"}`)
	save(t, lc, "local-wins", `{"v":"remote"}`) // overwritten below: the local edit is later
	save(t, rc, "remote-wins", `{"v":"remote-1"}`)
	save(t, rc, "remote-wins", `{"v":"remote"}`)
	save(t, rc, "local-wins", `{"v":"remote"}`)
	time.Sleep(2 * time.Millisecond)
	save(t, lc, "local-wins", `{"v":"local"}`)
	if st := runOneShot(t, newRepl4(t, cfg4)); st.Error != nil {
		t.Fatalf("status %+v", st)
	}
	if diff := sameVersions(t, lc, rc, true); diff != "" {
		t.Fatalf("after CBMobile_4: %s", diff)
	}
	for id, want := range map[string]string{"remote-wins": `{"v":"remote"}`, "local-wins": `{"v":"local"}`} {
		a, _ := lc.Get(ctx, id)
		b, _ := rc.Get(ctx, id)
		if string(a.Body) != want || a.RevID != b.RevID {
			t.Errorf("%s after CBMobile_4: local %s %s, remote %s %s", id, a.RevID, a.Body, b.RevID, b.Body)
		}
	}
	// Over CBMobile_3 an edit on either side extends the other's current revision.
	save(t, lc, "remote-wins", `{"v":"local again"}`)
	save(t, rc, "local-wins", `{"v":"remote again"}`)
	var conflicts []string
	var mu sync.Mutex
	resolver := func(ctx context.Context, c Conflict) (Resolution, error) {
		mu.Lock()
		conflicts = append(conflicts, c.DocID)
		mu.Unlock()
		return DefaultConflictResolver(ctx, c)
	}
	st := runOneShot(t, newRepl4(t, Config{Database: local, URL: localURL(l), DisableCBMobile4: true,
		Collections: []CollectionConfig{{Collection: lc, ConflictResolver: resolver}}}))
	if st.Error != nil || len(conflicts) > 0 {
		t.Fatalf("CBMobile_3 run: %+v, conflicts %v", st, conflicts)
	}
	for id, want := range map[string]string{"remote-wins": `{"v":"local again"}`, "local-wins": `{"v":"remote again"}`} {
		for _, c := range []*store.Collection{lc, rc} {
			if b := bodyOf(c, id); b != want {
				t.Errorf("%s: %s, want %s", id, b, want)
			}
		}
	}
}

// A version conflict resolved under CBMobile_4 counts in Counters.ConflictsResolved and is
// logged as a revision-tree one is; a failing resolver sets LastError and logs a warning.
func TestVersionConflictsCountedAndLogged(t *testing.T) {
	var mu sync.Mutex
	var recs []logging.Record
	logging.SetSink(logging.Info, logging.Replicator, func(r logging.Record) {
		mu.Lock()
		recs = append(recs, r)
		mu.Unlock()
	})
	t.Cleanup(func() { logging.SetSink(logging.None, 0, nil) })
	logged := func(level logging.Level, parts ...string) bool {
		mu.Lock()
		defer mu.Unlock()
		for _, r := range recs {
			all := r.Level == level
			for _, p := range parts {
				all = all && strings.Contains(r.Message, p)
			}
			if all {
				return true
			}
		}
		return false
	}
	for _, failing := range []bool{false, true} {
		local, remote := openDB(t, "local"), openDB(t, "remote")
		l := startListener(t, remote, nil)
		save(t, local.DefaultCollection(), "c", `{"v":"base"}`)
		if st := runOneShot(t, newRepl4(t, Config{Database: local, URL: localURL(l), Type: Push})); st.Error != nil {
			t.Fatal(st.Error)
		}
		loc := save(t, local.DefaultCollection(), "c", `{"v":"local"}`)
		rem := save(t, remote.DefaultCollection(), "c", `{"v":"remote"}`)
		cc := CollectionConfig{Collection: local.DefaultCollection()}
		if failing {
			cc.ConflictResolver = func(context.Context, Conflict) (Resolution, error) {
				return Resolution{}, errors.New("cannot decide")
			}
		}
		r := newRepl4(t, Config{Database: local, URL: localURL(l), Collections: []CollectionConfig{cc}, Logger: logging.Logger(logging.Replicator)})
		if st := runOneShot(t, r); st.Error != nil {
			t.Fatalf("status %+v", st)
		}
		c := r.Counters()
		if failing {
			if c.ConflictsResolved != 0 || c.LastError == nil || !strings.Contains(c.LastError.Error(), "cannot decide") {
				t.Fatalf("failing resolver: counters %+v", c)
			}
			if !logged(logging.Warning, "conflict not resolved", "doc=c", "cannot decide") {
				t.Fatal("no warning for the unresolved conflict")
			}
			continue
		}
		if c.ConflictsResolved != 1 || c.LastError != nil {
			t.Fatalf("counters %+v", c)
		}
		if !logged(logging.Info, "conflict resolved", "doc=c", "local="+loc.Version, "remote="+rem.Version) {
			t.Fatal("no log line for the resolved conflict")
		}
	}
}
