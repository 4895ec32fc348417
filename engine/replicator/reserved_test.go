package replicator

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	_ "modernc.org/sqlite"

	"github.com/p2psync/libp2psync/engine/store"
)

// saveLegacy stores a document whose body has a reserved top-level key, as a database
// written before the store refused them may hold: the document is saved with a clean
// body, then its stored body is replaced behind the store's back.
func saveLegacy(t *testing.T, db *store.Database, dir, id, body string) {
	t.Helper()
	save(t, db.DefaultCollection(), id, `{"placeholder":true}`)
	raw, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "db.sqlite3")+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var collID int64
	if err := raw.QueryRow(`SELECT id FROM collections WHERE scope = '_default' AND name = '_default'`).Scan(&collID); err != nil {
		t.Fatal(err)
	}
	res, err := raw.Exec(`UPDATE docs_`+strconv.FormatInt(collID, 10)+` SET body = ? WHERE docid = ?`, []byte(body), id)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		t.Fatalf("updated %d rows", n)
	}
	d, err := db.DefaultCollection().Get(context.Background(), id)
	if err != nil || string(d.Body) != body {
		t.Fatalf("legacy body not in place: %v %s", err, d.Body)
	}
}

// openDBAt is openDB that also returns the database directory.
func openDBAt(t *testing.T, name string) (*store.Database, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), name)
	db, err := store.Open(context.Background(), dir, store.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, dir
}

// A document stored with a reserved key (before the store refused them) is not sent:
// the peer would strip the key and keep another body under the same revision ID, or
// take "_removed" as an access revocation. It is reported as a document error, in both
// the active push (proposeChanges) and the passive push serving an active pull (changes,
// answered with norev naming the revision as listed: its version under CBMobile_4), and
// the other documents replicate.
func TestLegacyReservedKeyNotPushed(t *testing.T) {
	for _, tc := range []struct {
		typ Type
		v4  bool
	}{{Push, false}, {Pull, false}, {Push, true}, {Pull, true}} {
		typ := tc.typ
		t.Run(fmt.Sprintf("%s/CBMobile4=%v", typ, tc.v4), func(t *testing.T) {
			a, aDir := openDBAt(t, "a")
			b := openDB(t, "b")
			saveLegacy(t, a, aDir, "legacy", `{"text":"hello","_removed":true}`)
			save(t, a.DefaultCollection(), "plain", `{"text":"plain"}`)
			// The database holding the legacy document pushes: as the active side (Push)
			// or as the listener serving the other side's pull.
			local, remote := a, b
			if typ == Pull {
				local, remote = b, a
			}
			l := startListener(t, remote, nil)
			r := newRepl4(t, Config{Database: local, URL: localURL(l), Type: typ, DisableCBMobile4: !tc.v4})
			var rec docRecorder
			rec.listen(r)
			st := runOneShot(t, r)
			if st.Activity != Stopped {
				t.Fatalf("final status %+v", st)
			}
			if _, err := b.DefaultCollection().GetWithDeleted(context.Background(), "legacy"); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("the legacy document reached the peer (%v)", err)
			}
			if _, err := b.DefaultCollection().Get(context.Background(), "plain"); err != nil {
				t.Fatalf("plain document not replicated: %v", err)
			}
			errs := rec.errors()
			if len(errs) != 1 || !strings.HasPrefix(errs[0], "legacy: ") || !strings.Contains(errs[0], "_removed") {
				t.Fatalf("document errors %v; want one for legacy naming _removed", errs)
			}
			rec.mu.Lock()
			defer rec.mu.Unlock()
			for _, d := range rec.docs {
				if d.ID != "legacy" {
					continue
				}
				if d.Error == nil {
					t.Fatalf("legacy reported as replicated: %+v", d)
				}
				if typ == Push && !errors.Is(d.Error, store.ErrReservedProperty) {
					t.Errorf("push error %v does not wrap store.ErrReservedProperty", d.Error)
				}
			}
		})
	}
}
