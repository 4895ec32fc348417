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
