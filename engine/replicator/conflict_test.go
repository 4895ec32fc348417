package replicator

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/p2psync/libp2psync/engine/store"
	"github.com/p2psync/libp2psync/engine/syncproto"
)

func TestDefaultResolverRule(t *testing.T) {
	body := func(rev string) *ConflictRevision { return &ConflictRevision{RevID: rev, Body: []byte(`{}`)} }
	tests := []struct {
		name          string
		local, remote *ConflictRevision
		lrev, rrev    string
		want          ResolutionKind
	}{
		{"remote deleted wins", body("5-aa"), nil, "5-aa", "2-bb", UseRemote},
		{"local deleted wins", nil, body("5-aa"), "2-bb", "5-aa", UseLocal},
		{"higher remote generation", body("2-ff"), body("3-00"), "2-ff", "3-00", UseRemote},
		{"higher local generation", body("4-00"), body("3-ff"), "4-00", "3-ff", UseLocal},
		{"tie: larger digest remote", body("3-aa"), body("3-bb"), "3-aa", "3-bb", UseRemote},
		{"tie: larger digest local", body("3-cc"), body("3-bb"), "3-cc", "3-bb", UseLocal},
	}
	for _, tt := range tests {
		res, err := DefaultConflictResolver(context.Background(), Conflict{Local: tt.local, Remote: tt.remote, localRev: tt.lrev, remoteRev: tt.rrev})
		if err != nil || res.Kind != tt.want {
			t.Errorf("%s: got %v %v, want %v", tt.name, res.Kind, err, tt.want)
		}
	}
}

// makeConflict creates doc "c" on both sides with diverging edits: localEdits and
// remoteEdits updates after a common first revision (0 edits + delete when negative).
func makeConflict(t *testing.T, local, remote *store.Database, url string, localEdits, remoteEdits int) {
	t.Helper()
	ctx := context.Background()
	save(t, local.DefaultCollection(), "c", `{"v":"base"}`)
	r := newRepl(t, Config{Database: local, URL: url, Type: Push})
	if st := runOneShot(t, r); st.Error != nil {
		t.Fatal(st.Error)
	}
	edit := func(c *store.Collection, n int, who string) {
		if n < 0 {
			if _, err := c.Delete(ctx, "c", store.SaveOptions{}); err != nil {
				t.Fatal(err)
			}
			return
		}
		for i := 0; i < n; i++ {
			save(t, c, "c", `{"v":"`+who+`","i":`+string(rune('0'+i))+`}`)
		}
	}
	edit(local.DefaultCollection(), localEdits, "local")
	edit(remote.DefaultCollection(), remoteEdits, "remote")
}

func TestConflictResolution(t *testing.T) {
	tests := []struct {
		name        string
		localEdits  int
		remoteEdits int
		resolver    ConflictResolver
		wantDeleted bool
		wantBody    string
		wantDocErr  bool
	}{
		{name: "default: higher local generation", localEdits: 2, remoteEdits: 1, wantBody: `{"v":"local","i":1}`},
		{name: "default: higher remote generation", localEdits: 1, remoteEdits: 3, wantBody: `{"v":"remote","i":2}`},
		{name: "default: remote deletion wins", localEdits: 3, remoteEdits: -1, wantDeleted: true},
		{name: "default: local deletion wins", localEdits: -1, remoteEdits: 3, wantDeleted: true},
		{name: "custom merge", localEdits: 1, remoteEdits: 1, resolver: func(_ context.Context, c Conflict) (Resolution, error) {
			return Resolution{Kind: UseMerged, Body: []byte(`{"v":"merged"}`)}, nil
		}, wantBody: `{"v":"merged"}`},
		{name: "custom local", localEdits: 1, remoteEdits: 2, resolver: func(_ context.Context, c Conflict) (Resolution, error) {
			return Resolution{Kind: UseLocal}, nil
		}, wantBody: `{"v":"local","i":0}`},
		{name: "custom deletion", localEdits: 1, remoteEdits: 1, resolver: func(_ context.Context, c Conflict) (Resolution, error) {
			return Resolution{Kind: UseDeletion}, nil
		}, wantDeleted: true},
		{name: "failing resolver", localEdits: 1, remoteEdits: 1, resolver: func(_ context.Context, c Conflict) (Resolution, error) {
			return Resolution{}, errors.New("cannot decide")
		}, wantDocErr: true},
		{name: "panicking resolver", localEdits: 1, remoteEdits: 1, resolver: func(_ context.Context, c Conflict) (Resolution, error) {
			panic("resolver bug")
		}, wantDocErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			local, remote := openDB(t, "local"), openDB(t, "remote")
			l := startListener(t, remote, nil)
			makeConflict(t, local, remote, localURL(l), tt.localEdits, tt.remoteEdits)
			r := newRepl(t, Config{Database: local, URL: localURL(l),
				Collections: []CollectionConfig{{Collection: local.DefaultCollection(), ConflictResolver: tt.resolver}}})
			var rec docRecorder
			rec.listen(r)
			st := runOneShot(t, r)
			if st.Error != nil {
				t.Fatalf("status %+v", st)
			}
			lc, rc := local.DefaultCollection(), remote.DefaultCollection()
			if tt.wantDocErr {
				errs := rec.errors()
				if len(errs) == 0 || !strings.Contains(strings.Join(errs, ";"), "resolver") {
					t.Fatalf("want a resolver document error, got %v", errs)
				}
				if c, err := lc.Conflicts(ctx, "c"); err != nil || len(c) == 0 {
					t.Fatalf("document should stay conflicted: %v %v", c, err)
				}
				return
			}
			if errs := rec.errors(); len(errs) > 0 {
				t.Errorf("document errors: %v", errs)
			}
			for _, c := range []*store.Collection{lc, rc} {
				d, err := c.GetWithDeleted(ctx, "c")
				if err != nil {
					t.Fatal(err)
				}
				if d.Deleted != tt.wantDeleted || (!tt.wantDeleted && string(d.Body) != tt.wantBody) {
					t.Errorf("%s: got deleted=%v body %s, want deleted=%v %s", c.Database().Name(), d.Deleted, d.Body, tt.wantDeleted, tt.wantBody)
				}
				if cf, _ := c.Conflicts(ctx, "c"); len(cf) != 0 {
					t.Errorf("%s still conflicted: %v", c.Database().Name(), cf)
				}
			}
			// Another round changes nothing and reports no errors.
			if st := runOneShot(t, r); st.Error != nil {
				t.Fatal(st.Error)
			}
			a, _ := lc.GetWithDeleted(ctx, "c")
			b, _ := rc.GetWithDeleted(ctx, "c")
			if a.Deleted != b.Deleted || (!a.Deleted && a.RevID != b.RevID) {
				t.Errorf("diverged: local %s %v remote %s %v", a.RevID, a.Deleted, b.RevID, b.Deleted)
			}
		})
	}
}

// A revision extending the local leaf can be saved (e.g. pushed by another peer to this
// database's listener) while the resolver runs. The resolution read before it is stale
// and the store refuses it; the conflict must then be resolved again from the new
// state, not left behind with a document error (TestRingConverges failed this way: a
// third live leaf stayed for ever on one peer).
func TestConflictResolutionRetriesWhenTreeChanges(t *testing.T) {
	ctx := context.Background()
	local, remote := openDB(t, "local"), openDB(t, "remote")
	l := startListener(t, remote, nil)
	lc := local.DefaultCollection()
	base := save(t, lc, "c", `{"v":"local"}`)
	save(t, remote.DefaultCollection(), "c", `{"v":"remote"}`)
	// A revision on top of the local one, made elsewhere, arriving mid-resolution.
	other := openDB(t, "other")
	oc := other.DefaultCollection()
	if _, err := oc.PutExistingRevision(ctx, store.RemoteRevision{DocID: "c", RevID: base.RevID, Body: []byte(`{"v":"local"}`)}); err != nil {
		t.Fatal(err)
	}
	next, err := oc.Save(ctx, "c", []byte(`{"v":"from another peer"}`), store.SaveOptions{ParentRevID: base.RevID})
	if err != nil {
		t.Fatal(err)
	}
	var calls []string
	resolver := func(ctx context.Context, c Conflict) (Resolution, error) {
		calls = append(calls, c.LocalRevID())
		if len(calls) == 1 {
			if _, err := lc.PutExistingRevision(ctx, store.RemoteRevision{DocID: "c", RevID: next.RevID,
				History: []string{base.RevID}, Body: next.Body, NoConflicts: true}); err != nil {
				return Resolution{}, err
			}
		}
		return Resolution{Kind: UseLocal}, nil
	}
	r := newRepl(t, Config{Database: local, URL: localURL(l),
		Collections: []CollectionConfig{{Collection: lc, ConflictResolver: resolver}}})
	var rec docRecorder
	rec.listen(r)
	if st := runOneShot(t, r); st.Error != nil {
		t.Fatalf("status %+v", st)
	}
	if errs := rec.errors(); len(errs) > 0 {
		t.Errorf("document errors: %v", errs)
	}
	if len(calls) != 2 || calls[0] != base.RevID || calls[1] != next.RevID {
		t.Errorf("resolver called with local revisions %v, want [%s %s]", calls, base.RevID, next.RevID)
	}
	for _, c := range []*store.Collection{lc, remote.DefaultCollection()} {
		if cf, _ := c.Conflicts(ctx, "c"); len(cf) != 0 {
			t.Errorf("%s still conflicted: %v", c.Database().Name(), cf)
		}
		d, err := c.Get(ctx, "c")
		if err != nil || string(d.Body) != `{"v":"from another peer"}` {
			t.Errorf("%s: got %v %v, want the newer local body", c.Database().Name(), d, err)
		}
	}
}

// Two conflict events for one document can be queued; by the time the second runs, the
// branch of its pulled revision may already be closed with a tombstone (by the first
// resolution, or by another peer's resolution that arrived meanwhile). That tombstone is
// not a remote deletion: the live leaf is the outcome and must stay. TestRingConverges
// failed this way: "deletion wins" closed the live leaf and the shared document ended
// deleted on every peer although nobody deleted it.
func TestConflictEventForClosedBranchKeepsLiveLeaf(t *testing.T) {
	ctx := context.Background()
	db := openDB(t, "local")
	c := db.DefaultCollection()
	root, pulled, closer := "1-"+strings.Repeat("0", 32), "2-"+strings.Repeat("b", 32), "3-"+strings.Repeat("d", 32)
	local, merged := "2-"+strings.Repeat("a", 32), "3-"+strings.Repeat("c", 32)
	for _, rev := range []store.RemoteRevision{
		{DocID: "doc", RevID: local, History: []string{root}, Body: []byte(`{"v":"local"}`)},
		{DocID: "doc", RevID: pulled, History: []string{root}, Body: []byte(`{"v":"pulled"}`)},
		{DocID: "doc", RevID: closer, History: []string{pulled, root}, Deleted: true},
		{DocID: "doc", RevID: merged, History: []string{local, root}, Body: []byte(`{"v":"merged"}`)},
	} {
		if _, err := c.PutExistingRevision(ctx, rev); err != nil {
			t.Fatal(err)
		}
	}
	r := newRepl(t, Config{Database: db, URL: "ws://127.0.0.1:1/unused"})
	seq, err := r.resolve(ctx, syncproto.ConflictEvent{Collection: c, DocID: "doc", LocalRevID: local, RemoteRevID: pulled})
	if err != nil || seq != 0 {
		t.Fatalf("resolve = %d, %v; want nothing written", seq, err)
	}
	d, err := c.Get(ctx, "doc")
	if err != nil || d.RevID != merged || string(d.Body) != `{"v":"merged"}` {
		t.Fatalf("current = %+v, %v; want the live merged revision", d, err)
	}
	// A pulled revision that is itself a deletion still wins (Couchbase Lite's rule).
	deletion := "2-" + strings.Repeat("e", 32)
	if _, err := c.PutExistingRevision(ctx, store.RemoteRevision{DocID: "doc", RevID: deletion, History: []string{root}, Deleted: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.resolve(ctx, syncproto.ConflictEvent{Collection: c, DocID: "doc", LocalRevID: merged, RemoteRevID: deletion}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(ctx, "doc"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("after a pulled deletion: %v, want the document deleted", err)
	}
}
