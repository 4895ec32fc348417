package store

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/p2psync/libp2psync/engine/delta"
	"github.com/p2psync/libp2psync/tests/bench/workload"
)

// reverseTestBodies returns a large base body and an edit of it (one member changed).
func reverseTestBodies(t *testing.T, i int) (id string, base, edit []byte) {
	t.Helper()
	id, base = workload.Doc("rd-", i, 8000)
	edit = bytes.Replace(base, []byte(`"kind":"bench"`), []byte(`"kind":"edit1"`), 1)
	if bytes.Equal(base, edit) {
		t.Fatal("edit changed nothing")
	}
	return id, base, edit
}

// reverseOf is what the puller hands the store for a body received as a delta against
// base (syncproto reverseDelta).
func reverseOf(t *testing.T, revID string, base, body []byte) *BaseDelta {
	t.Helper()
	d, exact, err := delta.CreateExact(body, base)
	if err != nil || !exact {
		t.Fatalf("reverse delta: exact %v, %v", exact, err)
	}
	return &BaseDelta{RevID: revID, Delta: d}
}

// keptSizes returns the lengths of the rows of the default collection's kept-bodies table.
func keptSizes(t *testing.T, db *Database) []int {
	t.Helper()
	rows, err := db.wconn.QueryContext(context.Background(), `SELECT length(body) FROM `+keptTable(db.DefaultCollection().id)+` ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []int
	for rows.Next() {
		var n int
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		out = append(out, n)
	}
	return out
}

func wantRevisionBody(t *testing.T, c *Collection, id, rev string, want []byte) {
	t.Helper()
	d, err := c.GetRevision(context.Background(), id, rev)
	if err != nil {
		t.Fatalf("revision %s: %v", rev, err)
	}
	if !bytes.Equal(d.Body, want) {
		t.Fatalf("revision %s: body of %d bytes differs from the %d saved", rev, len(d.Body), len(want))
	}
}

// A revision received as a delta keeps its base (the previous current revision) as a
// reverse delta, not as a second full copy; the base reads back byte for byte, and so do
// both bodies after the next update (the base dropped) or a conflicting branch that
// wins (the base stored whole first, before the column changes).
func TestReverseDeltaKeptBody(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, Config{})
	c := db.DefaultCollection()
	id, base, edit := reverseTestBodies(t, 1)
	put := func(rev RemoteRevision) {
		t.Helper()
		if _, err := c.PutExistingRevision(ctx, rev); err != nil {
			t.Fatal(err)
		}
	}
	put(RemoteRevision{DocID: id, RevID: "1-aa", Body: base})
	put(RemoteRevision{DocID: id, RevID: "2-bb", History: []string{"1-aa"}, Body: edit, Base: reverseOf(t, "1-aa", base, edit)})
	if k := keptSizes(t, db); len(k) != 1 || k[0] > 100 {
		t.Fatalf("kept rows %v, want one small delta", k)
	}
	wantRevisionBody(t, c, id, "1-aa", base)
	wantRevisionBody(t, c, id, "2-bb", edit)

	// A conflicting branch from 1-aa that wins ("2-ff" > "2-bb"): 1-aa stays the current
	// revision's parent, and its body, a delta against the column about to change, is
	// stored whole; 2-bb, now a losing leaf, keeps its body whole too.
	other := bytes.Replace(base, []byte(`"kind":"bench"`), []byte(`"kind":"other","extra":1`), 1)
	put(RemoteRevision{DocID: id, RevID: "2-ff", History: []string{"1-aa"}, Body: other})
	if cur, err := c.Get(ctx, id); err != nil || cur.RevID != "2-ff" {
		t.Fatalf("current %+v, %v; want 2-ff", cur, err)
	}
	wantRevisionBody(t, c, id, "1-aa", base)
	wantRevisionBody(t, c, id, "2-bb", edit)
	wantRevisionBody(t, c, id, "2-ff", other)
	for _, n := range keptSizes(t, db) {
		if n < len(base)/2 {
			t.Fatalf("kept rows %v: a delta is left against a column that changed", keptSizes(t, db))
		}
	}
}

// The next update drops the base (the parent's parent keeps no body) and its delta row.
func TestReverseDeltaDroppedWithItsBase(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, Config{})
	c := db.DefaultCollection()
	id, base, edit := reverseTestBodies(t, 2)
	third := bytes.Replace(edit, []byte(`"kind":"edit1"`), []byte(`"kind":"edit2"`), 1)
	for _, rev := range []RemoteRevision{
		{DocID: id, RevID: "1-aa", Body: base},
		{DocID: id, RevID: "2-bb", History: []string{"1-aa"}, Body: edit, Base: reverseOf(t, "1-aa", base, edit)},
		{DocID: id, RevID: "3-cc", History: []string{"2-bb", "1-aa"}, Body: third, Base: reverseOf(t, "2-bb", edit, third)},
	} {
		if _, err := c.PutExistingRevision(ctx, rev); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.GetRevision(ctx, id, "1-aa"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("grandparent: %v, want ErrNotFound", err)
	}
	wantRevisionBody(t, c, id, "2-bb", edit)
	if k := keptSizes(t, db); len(k) != 1 || k[0] > 100 {
		t.Fatalf("kept rows %v, want the one small delta of 2-bb", k)
	}
	// A local save on top: 2-bb loses its body, 3-cc is kept whole (copied in SQLite).
	if _, err := c.Save(ctx, id, edit, SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	wantRevisionBody(t, c, id, "3-cc", third)
	if k := keptSizes(t, db); len(k) != 1 || k[0] != len(third) {
		t.Fatalf("kept rows %v, want 3-cc whole (%d bytes)", k, len(third))
	}
	// Purging leaves no row behind.
	if err := c.Purge(ctx, id); err != nil {
		t.Fatal(err)
	}
	if k := keptSizes(t, db); len(k) != 0 {
		t.Fatalf("kept rows %v after purge", k)
	}
}

// A base delta that does not fit is not used: named for another revision than the one
// leaving the column, or for a body that may reference blobs (Compact reads kept rows as
// bodies), or relative to another body than the one stored.
func TestReverseDeltaNotFitting(t *testing.T) {
	ctx := context.Background()
	for name, mk := range map[string]func(id string, base, edit []byte) RemoteRevision{
		"other revision": func(id string, base, edit []byte) RemoteRevision {
			return RemoteRevision{DocID: id, RevID: "2-bb", History: []string{"1-aa"}, Body: edit, Base: reverseOf(t, "1-ee", base, edit)}
		},
		"other body": func(id string, base, edit []byte) RemoteRevision {
			// Whitespace the store compacts away: the delta was made against other bytes.
			spaced := append([]byte(`{ `), edit[1:]...)
			return RemoteRevision{DocID: id, RevID: "2-bb", History: []string{"1-aa"}, Body: spaced, Base: reverseOf(t, "1-aa", base, edit)}
		},
	} {
		t.Run(name, func(t *testing.T) {
			db := openTest(t, Config{})
			c := db.DefaultCollection()
			id, base, edit := reverseTestBodies(t, 3)
			if _, err := c.PutExistingRevision(ctx, RemoteRevision{DocID: id, RevID: "1-aa", Body: base}); err != nil {
				t.Fatal(err)
			}
			if _, err := c.PutExistingRevision(ctx, mk(id, base, edit)); err != nil {
				t.Fatal(err)
			}
			if k := keptSizes(t, db); len(k) != 1 || k[0] != len(base) {
				t.Fatalf("kept rows %v, want the base whole (%d bytes)", k, len(base))
			}
			wantRevisionBody(t, c, id, "1-aa", base)
		})
	}
	t.Run("blob reference", func(t *testing.T) {
		db := openTest(t, Config{})
		c := db.DefaultCollection()
		id, base, _ := reverseTestBodies(t, 4)
		withBlob := append([]byte(`{"photo":{"@type":"blob","digest":"sha1-AAAAAAAAAAAAAAAAAAAAAAAAAAA=","length":1},`), base[1:]...)
		edit := bytes.Replace(withBlob, []byte(`"kind":"bench"`), []byte(`"kind":"edit1"`), 1)
		if _, err := c.PutExistingRevision(ctx, RemoteRevision{DocID: id, RevID: "1-aa", Body: withBlob}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.PutExistingRevision(ctx, RemoteRevision{DocID: id, RevID: "2-bb", History: []string{"1-aa"}, Body: edit, Base: reverseOf(t, "1-aa", withBlob, edit)}); err != nil {
			t.Fatal(err)
		}
		if k := keptSizes(t, db); len(k) != 1 || k[0] != len(withBlob) {
			t.Fatalf("kept rows %v, want the base whole (%d bytes)", k, len(withBlob))
		}
	})
}

// Under CBMobile_4 (PutExistingVersion) the same: the previous version's body is kept as a
// delta and found by its version (GetRevisionByVersion, the delta source of the next rev).
func TestReverseDeltaKeptVersion(t *testing.T) {
	ctx := context.Background()
	src, dst := openTest(t, Config{}), openTest(t, Config{})
	sc, dc := src.DefaultCollection(), dst.DefaultCollection()
	id, base, edit := reverseTestBodies(t, 5)
	d1, err := sc.Save(ctx, id, base, SaveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d2, err := sc.Save(ctx, id, edit, SaveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []*Document{d1, d2} {
		rv := RemoteVersion{DocID: id, Vector: mustParseVector(t, d.Vector), Body: d.Body, RevTree: []string{d.RevID}}
		if d == d2 {
			rv.RevTree = []string{d2.RevID, d1.RevID}
			rv.Base = reverseOf(t, d1.RevID, base, edit)
		}
		if _, err := dc.PutExistingVersion(ctx, rv); err != nil {
			t.Fatal(err)
		}
	}
	if k := keptSizes(t, dst); len(k) != 1 || k[0] > 100 {
		t.Fatalf("kept rows %v, want one small delta", k)
	}
	got, err := dc.GetRevisionByVersion(ctx, id, d1.Version)
	if err != nil || !bytes.Equal(got.Body, base) || got.RevID != d1.RevID {
		t.Fatalf("previous version: %v (body equal %v)", err, got != nil && bytes.Equal(got.Body, base))
	}
}

// A schema-2 database opens as schema 3 (nothing rewritten); a later schema is refused.
func TestSchema2Migrates(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "db")
	db, err := Open(ctx, dir, Config{})
	if err != nil {
		t.Fatal(err)
	}
	c := db.DefaultCollection()
	id, base, edit := reverseTestBodies(t, 6)
	if _, err := c.Save(ctx, id, base, SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	d2, err := c.Save(ctx, id, edit, SaveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.wconn.ExecContext(ctx, `UPDATE meta SET value = '2' WHERE key = 'schema_version'`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if db, err = Open(ctx, dir, Config{}); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var version string
	if err := db.wconn.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'schema_version'`).Scan(&version); err != nil || version != "3" {
		t.Fatalf("schema version %q, %v; want 3", version, err)
	}
	if got, err := db.DefaultCollection().Get(ctx, id); err != nil || got.RevID != d2.RevID || !bytes.Equal(got.Body, edit) {
		t.Fatalf("document after migration: %v", err)
	}
}

// A reader of a body kept as a delta that a save rewrites between the reader's two reads
// (the tree with the column, then the delta row) never applies the row to the wrong
// column: the row is gone by then, and the reader reads the tree again.
func TestReverseDeltaReadRacesSave(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, Config{})
	c := db.DefaultCollection()
	id, base, edit := reverseTestBodies(t, 7)
	for _, rev := range []RemoteRevision{
		{DocID: id, RevID: "1-aa", Body: base},
		{DocID: id, RevID: "2-bb", History: []string{"1-aa"}, Body: edit, Base: reverseOf(t, "1-aa", base, edit)},
	} {
		if _, err := c.PutExistingRevision(ctx, rev); err != nil {
			t.Fatal(err)
		}
	}
	other := bytes.Replace(base, []byte(`"kind":"bench"`), []byte(`"kind":"other","extra":1`), 1)
	saved := false
	testAfterTreeRead = func() {
		if saved {
			return
		}
		saved = true
		// A winning conflict: the column changes, 1-aa is stored whole under a new row.
		if _, err := c.PutExistingRevision(ctx, RemoteRevision{DocID: id, RevID: "2-ff", History: []string{"1-aa"}, Body: other}); err != nil {
			t.Error(err)
		}
	}
	defer func() { testAfterTreeRead = nil }()
	wantRevisionBody(t, c, id, "1-aa", base)
	if !saved {
		t.Fatal("the save between the reads did not run")
	}
}
