package replicator

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/p2psync/libp2psync/engine/store"
)

func TestFilters(t *testing.T) {
	tests := []struct {
		name      string
		typ       Type
		coll      func(c *store.Collection) CollectionConfig
		wantIDs   []string // expected at the destination
		wantNotIn []string
	}{
		{"push doc IDs", Push, func(c *store.Collection) CollectionConfig {
			return CollectionConfig{Collection: c, DocumentIDs: []string{"a", "c"}}
		}, []string{"a", "c"}, []string{"b", "d"}},
		{"pull doc IDs", Pull, func(c *store.Collection) CollectionConfig {
			return CollectionConfig{Collection: c, DocumentIDs: []string{"b"}}
		}, []string{"b"}, []string{"a", "c", "d"}},
		{"push filter", Push, func(c *store.Collection) CollectionConfig {
			return CollectionConfig{Collection: c, PushFilter: func(d Document) bool { return bytes.Contains(d.Body, []byte(`"keep":true`)) }}
		}, []string{"a", "d"}, []string{"b", "c"}},
		{"pull filter", Pull, func(c *store.Collection) CollectionConfig {
			return CollectionConfig{Collection: c, PullFilter: func(d Document) bool { return d.ID != "a" && d.Collection == "_default._default" }}
		}, []string{"b", "c", "d"}, []string{"a"}},
		{"panicking filter rejects", Push, func(c *store.Collection) CollectionConfig {
			return CollectionConfig{Collection: c, PushFilter: func(d Document) bool {
				if d.ID == "b" {
					panic("boom")
				}
				return true
			}}
		}, []string{"a", "c", "d"}, []string{"b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			local, remote := openDB(t, "local"), openDB(t, "remote")
			src := local
			if tt.typ == Pull {
				src = remote
			}
			for _, d := range []struct{ id, body string }{{"a", `{"keep":true}`}, {"b", `{"keep":false}`}, {"c", `{}`}, {"d", `{"keep":true}`}} {
				save(t, src.DefaultCollection(), d.id, d.body)
			}
			l := startListener(t, remote, nil)
			r := newRepl(t, Config{Database: local, URL: localURL(l), Type: tt.typ,
				Collections: []CollectionConfig{tt.coll(local.DefaultCollection())}})
			if st := runOneShot(t, r); st.Error != nil {
				t.Fatalf("status %+v", st)
			}
			dst := remote
			if tt.typ == Pull {
				dst = local
			}
			for _, id := range tt.wantIDs {
				if _, err := dst.DefaultCollection().Get(context.Background(), id); err != nil {
					t.Errorf("%s missing at destination: %v", id, err)
				}
			}
			for _, id := range tt.wantNotIn {
				if _, err := dst.DefaultCollection().Get(context.Background(), id); !errors.Is(err, store.ErrNotFound) {
					t.Errorf("%s should not have been replicated (err %v)", id, err)
				}
			}
		})
	}
}

func TestDeletesAndPurges(t *testing.T) {
	local, remote := openDB(t, "local"), openDB(t, "remote")
	lc, rc := local.DefaultCollection(), remote.DefaultCollection()
	l := startListener(t, remote, nil)
	for _, id := range []string{"keep", "del-local", "del-remote", "purge-local"} {
		save(t, lc, id, `{"v":1}`)
	}
	r := newRepl(t, Config{Database: local, URL: localURL(l)})
	for i := 0; i < 2; i++ { // the second round moves the pull checkpoint past the pushed docs
		if st := runOneShot(t, r); st.Error != nil {
			t.Fatal(st.Error)
		}
	}
	ctx := context.Background()
	if _, err := lc.Delete(ctx, "del-local", store.SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := rc.Delete(ctx, "del-remote", store.SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := lc.Purge(ctx, "purge-local"); err != nil {
		t.Fatal(err)
	}
	var rec docRecorder
	rec.listen(r)
	if st := runOneShot(t, r); st.Error != nil {
		t.Fatal(st.Error)
	}
	for _, c := range []*store.Collection{lc, rc} {
		for _, id := range []string{"del-local", "del-remote"} {
			d, err := c.GetWithDeleted(ctx, id)
			if err != nil || !d.Deleted {
				t.Errorf("%s in %s: want tombstone, got %+v %v", id, c.Database().Name(), d, err)
			}
		}
	}
	// A purge is local only: the remote keeps the document...
	if _, err := rc.Get(ctx, "purge-local"); err != nil {
		t.Errorf("purge replicated: %v", err)
	}
	// ...and it is not pulled back, since the pull checkpoint is past it.
	if _, err := lc.GetWithDeleted(ctx, "purge-local"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("purged doc came back: %v", err)
	}
	deleted := 0
	rec.mu.Lock()
	for _, d := range rec.docs {
		if d.Deleted && d.Error == nil {
			deleted++
		}
	}
	rec.mu.Unlock()
	if deleted != 2 {
		t.Errorf("deleted document events: %d, want 2", deleted)
	}
	// A reset pull brings the purged document back.
	rp := newRepl(t, Config{Database: local, URL: localURL(l), Type: Pull})
	if err := rp.Start(true); err != nil {
		t.Fatal(err)
	}
	if st, _ := rp.Wait(context.Background()); st.Error != nil {
		t.Fatal(st.Error)
	}
	if _, err := lc.Get(ctx, "purge-local"); err != nil {
		t.Errorf("reset pull did not restore the purged doc: %v", err)
	}
	if !strings.HasPrefix(r.URL(), "ws://127.0.0.1:") {
		t.Errorf("URL %s", r.URL())
	}
}
