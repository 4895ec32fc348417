package replicator

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/p2psync/libp2psync/engine/listener"
	"github.com/p2psync/libp2psync/engine/store"
)

func openDBConfig(t testing.TB, name string, cfg store.Config) *store.Database {
	t.Helper()
	db, err := store.Open(context.Background(), t.TempDir()+"/"+name, cfg)
	if err != nil {
		t.Fatalf("open %s: %v", name, err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// deltaDoc is a body well over the 200-byte delta threshold, with nested arrays.
func deltaDoc(prefix string, i int, kind string, edit int) string {
	tags := make([]string, 12)
	for j := range tags {
		tags[j] = fmt.Sprintf("%q", fmt.Sprintf("tag-%s-%d-%d", prefix, i, j))
	}
	matrix := fmt.Sprintf(`[[1,2,3],[4,5,%d],[7,8,9]]`, 6+edit)
	extra := ""
	if edit == 0 {
		extra = `,"removedLater":{"a":[1,2,{"b":"c"}]}`
	}
	return fmt.Sprintf(`{"kind":%q,"n":%d,"tags":[%s],"matrix":%s,"text":%q%s}`,
		kind, i, strings.Join(tags, ","), matrix, strings.Repeat("lorem ipsum ", 20), extra)
}

// fillDocs writes n documents named prefix+i.
func fillDocs(t testing.TB, c *store.Collection, prefix string, n int, kind string, edit int) {
	t.Helper()
	for i := 0; i < n; i++ {
		save(t, c, fmt.Sprintf("%s%03d", prefix, i), deltaDoc(prefix, i, kind, edit))
	}
}

// snapshot returns every document (current revision, deletion flag and body).
func snapshot(t testing.TB, c *store.Collection) map[string]string {
	t.Helper()
	chs, err := c.ChangesSince(context.Background(), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, ch := range chs {
		d, err := c.GetWithDeleted(context.Background(), ch.DocID)
		if err != nil {
			t.Fatal(err)
		}
		out[d.ID] = fmt.Sprintf("%s %v %s", d.RevID, d.Deleted, d.Body)
	}
	return out
}

func sameSnapshot(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// Deltas are used only when the database, the listener and the replicator all permit
// them; the databases come out identical either way.
func TestDeltaSyncEnablement(t *testing.T) {
	const n = 15
	tests := []struct {
		name                     string
		localNoDeltas, remNoDelt bool
		listenerOn, replOn       bool
		wantDeltas               bool
	}{
		{"all enabled", false, false, true, true, true},
		{"replicator off", false, false, true, false, false},
		{"listener off", false, false, false, true, false},
		{"local database forbids", true, false, true, true, false},
		{"remote database forbids", false, true, true, true, false},
	}
	var reference map[string]string
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			local := openDBConfig(t, "local", store.Config{DisableDeltaSync: tt.localNoDeltas})
			remote := openDBConfig(t, "remote", store.Config{DisableDeltaSync: tt.remNoDelt})
			lc, rc := local.DefaultCollection(), remote.DefaultCollection()
			fillDocs(t, lc, "l-", n, "bench", 0)
			fillDocs(t, rc, "r-", n, "bench", 0)
			l := startListener(t, remote, func(c *listener.Config) { c.EnableDeltaSync = tt.listenerOn })
			first := newRepl(t, Config{Database: local, URL: localURL(l), EnableDeltaSync: tt.replOn})
			if st := runOneShot(t, first); st.Error != nil {
				t.Fatalf("first sync: %+v", st)
			}
			if st := first.Stats(); st.DeltasSent != 0 || st.DeltasReceived != 0 || st.RevsSent != n || st.RevsReceived != n {
				t.Fatalf("first sync (new documents, no base) stats %+v", st)
			}
			// Edits on both sides: a changed scalar, a changed nested array item, a deleted
			// member; and deletions.
			fillDocs(t, lc, "l-", n, "edit1", 1)
			fillDocs(t, rc, "r-", n, "edit1", 1)
			for _, c := range []*store.Collection{lc, rc} {
				prefix := "l-"
				if c == rc {
					prefix = "r-"
				}
				if _, err := c.Delete(context.Background(), prefix+"000", store.SaveOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			second := newRepl(t, Config{Database: local, URL: localURL(l), EnableDeltaSync: tt.replOn})
			var rec docRecorder
			rec.listen(second)
			if st := runOneShot(t, second); st.Error != nil {
				t.Fatalf("second sync: %+v", st)
			}
			if errs := rec.errors(); len(errs) > 0 {
				t.Fatalf("document errors: %v", errs)
			}
			ls, rs := snapshot(t, lc), snapshot(t, rc)
			if !sameSnapshot(ls, rs) {
				t.Fatalf("databases differ:\nlocal  %v\nremote %v", ls, rs)
			}
			if reference == nil {
				reference = ls
			} else if !sameSnapshot(reference, ls) {
				t.Fatalf("result differs from the run with deltas")
			}
			st := second.Stats()
			t.Logf("stats %+v", st)
			// Exactly the edits of each side move: a pulled revision is never sent back.
			if st.RevsSent != n || st.RevsReceived != n {
				t.Fatalf("revisions sent %d received %d, want %d each", st.RevsSent, st.RevsReceived, n)
			}
			if tt.wantDeltas {
				// Every edit except the deletion goes as a delta, both ways.
				if st.DeltasSent != n-1 || st.DeltasReceived != n-1 {
					t.Fatalf("deltas sent %d received %d, want %d", st.DeltasSent, st.DeltasReceived, n-1)
				}
				if st.BytesSent*4 > st.FullBytesSent || st.BytesReceived*4 > st.FullBytesReceived {
					t.Fatalf("deltas did not shrink the bodies: %+v", st)
				}
			} else {
				if st.DeltasSent != 0 || st.DeltasReceived != 0 || st.BytesSent != st.FullBytesSent || st.BytesReceived != st.FullBytesReceived {
					t.Fatalf("deltas used although disabled: %+v", st)
				}
			}
			if st.DeltaFallbacks != 0 || st.DeltasRefused != 0 {
				t.Fatalf("unexpected fallbacks: %+v", st)
			}
		})
	}
}

// A receiver whose copy of the delta base is not what the sender thinks (purged and
// re-inserted with another body) refuses the delta with HTTP/422; the sender resends the
// full body at once and the databases converge (PROTOCOL §6.3, §9 item 22).
func TestDeltaFallbackWhenBaseDiffers(t *testing.T) {
	local, remote := openDB(t, "local"), openDB(t, "remote")
	lc, rc := local.DefaultCollection(), remote.DefaultCollection()
	fillDocs(t, lc, "d-", 4, "bench", 0)
	l := startListener(t, remote, func(c *listener.Config) { c.EnableDeltaSync = true })
	first := newRepl(t, Config{Database: local, URL: localURL(l), Type: Push, EnableDeltaSync: true})
	if st := runOneShot(t, first); st.Error != nil {
		t.Fatalf("first push: %+v", st)
	}
	// The remote loses d-001's base body: purge it and re-insert the same revision ID with
	// an unrelated body.
	base, err := rc.Get(context.Background(), "d-001")
	if err != nil {
		t.Fatal(err)
	}
	if err := rc.Purge(context.Background(), "d-001"); err != nil {
		t.Fatal(err)
	}
	if _, err := rc.PutExistingRevision(context.Background(), store.RemoteRevision{DocID: "d-001", RevID: base.RevID, Body: []byte(`{"unrelated":true}`)}); err != nil {
		t.Fatal(err)
	}
	fillDocs(t, lc, "d-", 4, "edit1", 1)
	second := newRepl(t, Config{Database: local, URL: localURL(l), Type: Push, EnableDeltaSync: true})
	var rec docRecorder
	rec.listen(second)
	if st := runOneShot(t, second); st.Error != nil {
		t.Fatalf("second push: %+v", st)
	}
	if errs := rec.errors(); len(errs) > 0 {
		t.Fatalf("document errors: %v", errs)
	}
	if ls, rs := snapshot(t, lc), snapshot(t, rc); !sameSnapshot(ls, rs) {
		t.Fatalf("databases differ:\nlocal  %v\nremote %v", ls, rs)
	}
	st := second.Stats()
	if st.DeltaFallbacks != 1 || st.DeltasSent != 3 || st.RevsSent != 4 {
		t.Fatalf("stats %+v, want one fallback and three deltas", st)
	}
}
