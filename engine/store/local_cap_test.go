package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
)

// PutLocalCapped keeps at most max documents of its prefix, deleting the least
// recently written ones when a new ID arrives; replacing one deletes nothing, and
// documents outside the prefix are never touched.
func TestPutLocalCapped(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, Config{})
	if _, err := db.PutLocal(ctx, "other", []byte(`{}`), AnyRev); err != nil {
		t.Fatal(err)
	}
	has := func(id string) bool {
		_, _, err := db.GetLocal(ctx, id)
		if err != nil && !errors.Is(err, ErrNotFound) {
			t.Fatal(err)
		}
		return err == nil
	}
	revs := map[string]string{}
	for i := 0; i < 4; i++ {
		id := fmt.Sprintf("p/%d", i)
		rev, ev, err := db.PutLocalCapped(ctx, id, []byte(`{"i":1}`), "", "p/", 3)
		if err != nil {
			t.Fatal(err)
		}
		if want := max(0, i-2); ev != want {
			t.Fatalf("%s: %d evicted, want %d", id, ev, want)
		}
		revs[id] = rev
	}
	if has("p/0") || !has("p/1") || !has("p/3") || !has("other") {
		t.Fatal("p/0 should be the one evicted, and only it")
	}
	// Replacing p/1 (now the oldest) evicts nothing and makes it the most recent.
	if _, ev, err := db.PutLocalCapped(ctx, "p/1", []byte(`{"i":2}`), revs["p/1"], "p/", 3); err != nil || ev != 0 {
		t.Fatalf("replace: %d evicted, %v", ev, err)
	}
	if _, _, err := db.PutLocalCapped(ctx, "p/4", []byte(`{}`), "", "p/", 3); err != nil {
		t.Fatal(err)
	}
	if has("p/2") || !has("p/1") || !has("p/3") || !has("p/4") {
		t.Fatal("p/2 should have been evicted, p/1 kept")
	}
	// A conflicting write evicts nothing (the transaction fails first).
	if _, _, err := db.PutLocalCapped(ctx, "p/5", []byte(`{}`), "1-local", "p/", 3); !errors.Is(err, ErrConflict) {
		t.Fatalf("conflict: %v", err)
	}
	if !has("p/1") || !has("p/3") || !has("p/4") {
		t.Fatal("a refused write evicted a document")
	}
	if _, _, err := db.PutLocalCapped(ctx, "q/1", []byte(`{}`), "", "p/", 3); !errors.Is(err, ErrInvalidID) {
		t.Fatalf("an ID outside the prefix: %v", err)
	}
}

// A schema-2 database whose local_docs table predates the written column gains it when it
// is migrated on open; its documents count as the least recently written.
func TestLocalWrittenColumnAdded(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "db")
	db, err := Open(ctx, dir, Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"p/old1", "p/old2"} {
		if _, err := db.PutLocal(ctx, id, []byte(`{}`), AnyRev); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	raw, err := sql.Open("sqlite", sqliteDSN(filepath.Join(dir, dbFileName)))
	if err != nil {
		t.Fatal(err)
	}
	// What a schema-2 library before the column wrote (the column is added by the
	// migration to schema 3, not looked for on every open).
	if _, err := raw.Exec(`ALTER TABLE local_docs DROP COLUMN written`); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`UPDATE meta SET value = '2' WHERE key = 'schema_version'`); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	db, err = Open(ctx, dir, Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, _, err := db.PutLocalCapped(ctx, "p/new", []byte(`{}`), "", "p/", 2); err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.GetLocal(ctx, "p/new"); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, id := range []string{"p/old1", "p/old2"} {
		if _, _, err := db.GetLocal(ctx, id); err == nil {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d of the old documents kept, want 1", n)
	}
}
