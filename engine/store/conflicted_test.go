package store_test

import (
	"context"
	"reflect"
	"testing"

	"github.com/p2psync/libp2psync/engine/store"
)

func TestConflictedDocuments(t *testing.T) {
	ctx := context.Background()
	db := openTempDB(t)
	c := db.DefaultCollection()
	const r1, r2a, r2b, r2d = "1-aaaa", "2-bbbb", "2-cccc", "2-dddd"
	put := func(id, rev string, deleted bool, hist ...string) {
		t.Helper()
		if _, err := c.PutExistingRevision(ctx, store.RemoteRevision{DocID: id, RevID: rev, History: hist, Deleted: deleted, Body: []byte(`{}`)}); err != nil {
			t.Fatalf("put %s %s: %v", id, rev, err)
		}
	}
	if got, err := c.ConflictedDocuments(ctx); err != nil || len(got) != 0 {
		t.Fatalf("empty collection: %v, %v", got, err)
	}
	put("single", r1, false)          // one revision
	put("linear", r1, false)          // a chain
	put("linear", r2a, false, r1)     //
	put("two-live", r1, false)        // two live leaves
	put("two-live", r2a, false, r1)   //
	put("two-live", r2b, false, r1)   //
	put("closed", r1, false)          // the other branch is a tombstone
	put("closed", r2a, false, r1)     //
	put("closed", r2d, true, r1)      //
	put("gone", r1, false)            // every leaf deleted
	put("gone", r2d, true, r1)        //
	put("later", r1, false)           // conflicted last
	put("later", "2-eeee", false, r1) //
	put("later", "2-ffff", false, r1) //
	want := []string{"two-live", "later"}
	got, err := c.ConflictedDocuments(ctx)
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("conflicted = %v, %v; want %v", got, err, want)
	}
	// Branched: the conflicted ones plus a live document with a deleted branch.
	if got, err := c.BranchedDocuments(ctx); err != nil || !reflect.DeepEqual(got, []string{"two-live", "closed", "later"}) {
		t.Fatalf("branched = %v, %v", got, err)
	}
	for _, id := range want {
		if cs, err := c.Conflicts(ctx, id); err != nil || len(cs) != 1 {
			t.Errorf("Conflicts(%s) = %v, %v", id, cs, err)
		}
	}
	// Resolving removes the document from the list.
	if _, err := c.ResolveConflict(ctx, "two-live", r2b, r2a, nil, false); err != nil {
		t.Fatal(err)
	}
	if got, err := c.ConflictedDocuments(ctx); err != nil || !reflect.DeepEqual(got, []string{"later"}) {
		t.Fatalf("after resolving: %v, %v", got, err)
	}
	db.Close()
	if _, err := c.ConflictedDocuments(ctx); err == nil {
		t.Fatal("closed database: no error")
	}
	if _, err := c.BranchedDocuments(ctx); err == nil {
		t.Fatal("closed database: no error from BranchedDocuments")
	}
}
