package replicator

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/p2psync/libp2psync/engine/listener"
	"github.com/p2psync/libp2psync/engine/store"
)

// openSchema1Fixture opens a copy of the store's schema-1 fixture (a database written
// by the library before schema 2; engine/store/testdata/schema1), which Open migrates.
func openSchema1Fixture(t *testing.T) *store.Database {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "old")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	src, err := os.Open("../store/testdata/schema1/db.sqlite3")
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.Create(filepath.Join(dir, "db.sqlite3"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(context.Background(), dir, store.Config{})
	if err != nil {
		t.Fatalf("open the schema-1 fixture: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// A database migrated from schema 1 replicates: pushed whole to a new database, then edited and pushed again with deltas computed against the
// previous bodies it kept in the old format; and pulled back into it.
func TestSchema1DatabaseReplicates(t *testing.T) {
	ctx := context.Background()
	old := openSchema1Fixture(t)
	peer := openDB(t, "peer")
	oc, pc := old.DefaultCollection(), peer.DefaultCollection()
	l := startListener(t, peer, func(c *listener.Config) { c.EnableDeltaSync = true })
	first := newRepl(t, Config{Database: old, URL: localURL(l), Type: Push, EnableDeltaSync: true})
	if st := runOneShot(t, first); st.Error != nil {
		t.Fatalf("first push: %+v", st)
	}
	if a, b := snapshot(t, oc), snapshot(t, pc); !sameSnapshot(a, b) {
		t.Fatalf("databases differ after the first push:\nold  %v\npeer %v", a, b)
	}
	if conf, err := oc.Conflicts(ctx, "conflict"); err != nil || len(conf) != 1 {
		t.Fatalf("the migrated conflict: %v (%v)", conf, err) // a push sends current revisions only
	}
	// Edit documents whose previous bodies were kept in schema 1's form (inside the
	// tree): the push sends deltas against them.
	for _, id := range []string{"large", "small", "versioned"} {
		d, err := oc.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		body := bytes.Replace(d.Body, []byte(`"kind":"fixture"`), []byte(`"kind":"edited"`), 1)
		if _, err := oc.Save(ctx, id, body, store.SaveOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	second := newRepl(t, Config{Database: old, URL: localURL(l), Type: Push, EnableDeltaSync: true})
	if st := runOneShot(t, second); st.Error != nil {
		t.Fatalf("second push: %+v", st)
	}
	if st := second.Stats(); st.RevsSent != 3 || st.DeltasSent != 3 {
		t.Fatalf("second push stats %+v, want 3 revisions, all as deltas", st)
	}
	if a, b := snapshot(t, oc), snapshot(t, pc); !sameSnapshot(a, b) {
		t.Fatalf("databases differ after the delta push:\nold  %v\npeer %v", a, b)
	}
	// And back: an edit on the peer pulled into the migrated database as a delta.
	d := getDoc(t, pc, "large")
	if _, err := pc.Save(ctx, "large", bytes.Replace(d.Body, []byte(`"kind":"edited"`), []byte(`"kind":"again"`), 1), store.SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	pull := newRepl(t, Config{Database: old, URL: localURL(l), Type: Pull, EnableDeltaSync: true})
	if st := runOneShot(t, pull); st.Error != nil {
		t.Fatalf("pull: %+v", st)
	}
	if st := pull.Stats(); st.RevsReceived != 1 || st.DeltasReceived != 1 {
		t.Fatalf("pull stats %+v, want 1 revision as a delta", st)
	}
	if a, b := snapshot(t, oc), snapshot(t, pc); !sameSnapshot(a, b) {
		t.Fatalf("databases differ after the pull:\nold  %v\npeer %v", a, b)
	}
	if prev, err := oc.GetRevision(ctx, "large", d.RevID); err != nil || !bytes.Equal(prev.Body, d.Body) {
		t.Fatalf("previous body of the pulled document not kept: %v", err)
	}
}
