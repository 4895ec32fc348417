package store

import (
	"context"
	"reflect"
	"testing"
)

// A read of one document ID (its own statement) returns what the same ID returns in a
// longer list (the JSON-array statement): live, deleted and missing documents, and the
// same ID twice.
func TestReadManyOneID(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, Config{})
	c := db.DefaultCollection()
	if _, err := c.Save(ctx, "live", []byte(`{"a":1}`), SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Save(ctx, "gone", []byte(`{"a":2}`), SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Delete(ctx, "gone", SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, ids := range [][]string{{"live"}, {"gone"}, {"missing"}, {"live", "live"}} {
		longer := append(append([]string{}, ids...), "other-missing")
		revs, err := c.CurrentRevisions(ctx, ids)
		if err != nil {
			t.Fatal(err)
		}
		want, err := c.CurrentRevisions(ctx, longer)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(revs, want[:len(ids)]) {
			t.Fatalf("CurrentRevisions(%q) = %+v, in a longer list %+v", ids, revs, want[:len(ids)])
		}
		docs, err := c.GetManyWithDeleted(ctx, ids)
		if err != nil {
			t.Fatal(err)
		}
		wantDocs, err := c.GetManyWithDeleted(ctx, longer)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(docs, wantDocs[:len(ids)]) {
			t.Fatalf("GetManyWithDeleted(%q) = %+v, in a longer list %+v", ids, docs, wantDocs[:len(ids)])
		}
		if ids[0] == "live" && (docs[0] == nil || string(docs[0].Body) != `{"a":1}` || revs[0].RevID == "") {
			t.Fatalf("live document: %+v %+v", docs[0], revs[0])
		}
		if ids[0] == "gone" && (docs[0] == nil || !docs[0].Deleted || !revs[0].Deleted) {
			t.Fatalf("deleted document: %+v %+v", docs[0], revs[0])
		}
		if ids[0] == "missing" && (docs[0] != nil || revs[0].RevID != "") {
			t.Fatalf("missing document: %+v %+v", docs[0], revs[0])
		}
	}
}
