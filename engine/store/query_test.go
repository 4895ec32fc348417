package store

import (
	"context"
	"errors"
	"testing"
	"time"
)

// Query runs read-only SQL on a reader: writes are refused, rows can be closed
// twice, and Close of the database waits until open rows are closed.
func TestQueryEntryPoint(t *testing.T) {
	db := openTest(t, Config{})
	ctx := context.Background()
	if _, err := db.DefaultCollection().Save(ctx, "a", []byte(`{"x":1}`), SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	table, err := db.QueryTable(ctx, "", "_default")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.QueryTable(ctx, "", "nosuch"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("QueryTable of a missing collection: %v", err)
	}
	if rows, err := db.Query(ctx, `DELETE FROM `+table); err == nil {
		rows.Close()
		t.Fatal("a write through Query was accepted")
	}
	rows, err := db.Query(ctx, `SELECT json_extract(CAST(body AS TEXT), '$.x') FROM `+table+` WHERE docid = ?`, "a")
	if err != nil {
		t.Fatal(err)
	}
	if !rows.Next() {
		t.Fatal("no row")
	}
	var x int
	if err := rows.Scan(&x); err != nil || x != 1 {
		t.Fatalf("x = %d, %v", x, err)
	}
	closed := make(chan error, 1)
	go func() { closed <- db.Close() }()
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) while rows were open", err)
	case <-time.After(50 * time.Millisecond):
	}
	rows.Close()
	rows.Close()
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	if _, err := db.Query(ctx, `SELECT 1`); !errors.Is(err, ErrClosed) {
		t.Fatalf("Query after Close: %v", err)
	}
}

// Open results are bounded below the reader pool: one more is ErrBusy, and the
// other reads never wait for a result the caller keeps open.
func TestQueryOpenResultsBounded(t *testing.T) {
	db := openTest(t, Config{})
	ctx := context.Background()
	coll := db.DefaultCollection()
	if _, err := coll.Save(ctx, "a", []byte(`{"x":1}`), SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	var open []*QueryRows
	for i := 0; i < MaxOpenQueries; i++ {
		r, err := db.Query(ctx, `SELECT 1 UNION ALL SELECT 2`)
		if err != nil {
			t.Fatal(err)
		}
		r.Next()
		open = append(open, r)
	}
	if _, err := db.Query(ctx, `SELECT 1`); !errors.Is(err, ErrBusy) {
		t.Fatalf("one result too many: %v", err)
	}
	done := make(chan error, 1)
	go func() { _, err := coll.Get(ctx, "a"); done <- err }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Get waited for the open query results")
	}
	open[0].Close()
	r, err := db.Query(ctx, `SELECT 1`)
	if err != nil {
		t.Fatalf("after closing one: %v", err)
	}
	r.Close()
	for _, r := range open {
		r.Close()
	}
}
