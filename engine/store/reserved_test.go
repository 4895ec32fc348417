package store

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// reservedBodies are document bodies with a reserved top-level key, and the key.
var reservedBodies = []struct{ body, key string }{
	{`{"_id":"x","a":1}`, "_id"},
	{`{"a":1,"_rev":"1-abc"}`, "_rev"},
	{`{"_deleted":true}`, "_deleted"},
	{`{"a":1,"_attachments":{}}`, "_attachments"},
	{`{"_exp":1700000000}`, "_exp"},
	{`{"_removed":true}`, "_removed"},
	{`{"_revisions":{"start":1,"ids":["a"]}}`, "_revisions"},
	{`{"a":1, "_sync":{}}`, "_sync"},
	{`{"_":0}`, "_"},
	{` { "b" : 2 , "_x" : 1 } `, "_x"},
	{`{"\u005fid":"x"}`, "_id"}, // an escaped underscore is still one
	{`{"\u005Fremoved":true}`, "_removed"},
}

// allowedBodies have "_" only where it is not a top-level key.
var allowedBodies = []string{
	`{"a_b":1}`,
	`{"a":"_id"}`,
	`{"nested":{"_id":1,"_removed":true}}`,
	`{"list":[{"_rev":"x"}]}`,
	`{"\u0061_":1}`,
	`{"@type":"x"}`,
}

func TestSaveRefusesReservedKeys(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, Config{})
	c := db.DefaultCollection()
	for _, tt := range reservedBodies {
		_, err := c.Save(ctx, "doc", []byte(tt.body), SaveOptions{})
		if !errors.Is(err, ErrReservedProperty) || !strings.Contains(err.Error(), `"`+tt.key+`"`) {
			t.Errorf("Save(%s) = %v; want ErrReservedProperty naming %q", tt.body, err, tt.key)
		}
	}
	if _, err := c.Get(ctx, "doc"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a refused save left a document: %v", err)
	}
	for _, body := range allowedBodies {
		if _, err := c.Save(ctx, "doc", []byte(body), SaveOptions{}); err != nil {
			t.Errorf("Save(%s): %v", body, err)
		}
	}
	// An update of an existing document is refused too (not only the first-insert path).
	big := `{"pad":"` + strings.Repeat("x", insertFirstMaxBody) + `","_id":"x"}`
	for _, body := range []string{`{"_rev":"2-x"}`, big} {
		if _, err := c.Save(ctx, "doc", []byte(body), SaveOptions{}); !errors.Is(err, ErrReservedProperty) {
			t.Errorf("update with %.20s...: %v", body, err)
		}
	}
}

func TestBatchSaveRefusesReservedKeys(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, Config{})
	c := db.DefaultCollection()
	err := db.InBatch(ctx, func(b *Batch) error {
		if _, err := b.Save(c, "ok", []byte(`{"a":1}`), SaveOptions{}); err != nil {
			return err
		}
		_, err := b.Save(c, "bad", []byte(`{"_removed":true}`), SaveOptions{})
		if !errors.Is(err, ErrReservedProperty) || !strings.Contains(err.Error(), `"_removed"`) {
			t.Errorf("batch save: %v", err)
		}
		return nil // the batch stays usable: commit the good one
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(ctx, "ok"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(ctx, "bad"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("refused document stored: %v", err)
	}
}

func TestPutExistingAndResolveRefuseReservedKeys(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, Config{})
	c := db.DefaultCollection()
	_, err := c.PutExistingRevision(ctx, RemoteRevision{DocID: "r", RevID: "1-aa", Body: []byte(`{"_foo":1}`)})
	if !errors.Is(err, ErrReservedProperty) {
		t.Fatalf("PutExistingRevision: %v", err)
	}
	// A conflict, then a merge whose body has a reserved key.
	if _, err := c.PutExistingRevision(ctx, RemoteRevision{DocID: "r", RevID: "1-aa", Body: []byte(`{"v":1}`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutExistingRevision(ctx, RemoteRevision{DocID: "r", RevID: "1-bb", Body: []byte(`{"v":2}`)}); err != nil {
		t.Fatal(err)
	}
	_, err = c.ResolveConflict(ctx, "r", "1-bb", "1-aa", []byte(`{"v":3,"_rev":"x"}`), false)
	if !errors.Is(err, ErrReservedProperty) {
		t.Fatalf("ResolveConflict: %v", err)
	}
	if conflicts, err := c.Conflicts(ctx, "r"); err != nil || len(conflicts) != 1 {
		t.Fatalf("refused resolution changed the document: %v %v", conflicts, err)
	}
}

func TestCheckDocumentBody(t *testing.T) {
	for _, tt := range reservedBodies {
		if tt.key == AttachmentsProperty {
			continue // a stored body may hold it (received, or carried over)
		}
		if err := CheckDocumentBody([]byte(tt.body)); !errors.Is(err, ErrReservedProperty) || !strings.Contains(err.Error(), tt.key) {
			t.Errorf("CheckDocumentBody(%s) = %v", tt.body, err)
		}
	}
	for _, body := range append(allowedBodies, `{}`, `{"a":1}`, `{"a":1,"_attachments":{}}`) {
		if err := CheckDocumentBody([]byte(body)); err != nil {
			t.Errorf("CheckDocumentBody(%s) = %v", body, err)
		}
	}
}

// A received _attachments is kept as sent; a local save may carry it over unchanged
// (key order aside) but not introduce, change or drop-and-readd it; a merged
// resolution refuses it like any reserved key.
func TestAttachmentsKeptAndCarriedOver(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, Config{})
	c := db.DefaultCollection()
	stubs := `{"hello.txt":{"content_type":"text/plain","digest":"sha1-gyVDxtgNqLc9qt2O+DDtfuD1dQY=","length":33,"revpos":1,"stub":true}}`
	body := `{"_attachments":` + stubs + `,"title":"inline"}`
	if _, err := c.PutExistingRevision(ctx, RemoteRevision{DocID: "sg", RevID: "1-d98127bcfdbadbd82818ec6de6125b98", Body: []byte(body)}); err != nil {
		t.Fatal(err)
	}
	doc, err := c.Get(ctx, "sg")
	if err != nil || string(doc.Body) != body {
		t.Fatalf("received body stored as %s (%v), want %s", doc.Body, err, body)
	}
	// Carried over, with its keys in another order and other spacing: accepted.
	reordered := `{"title":"edited","_attachments":{"hello.txt":{"stub":true,"revpos":1.0,"length":33,"digest":"sha1-gyVDxtgNqLc9qt2O+DDtfuD1dQY=","content_type":"text/plain"}}}`
	doc2, err := c.Save(ctx, "sg", []byte(reordered), SaveOptions{ParentRevID: doc.RevID})
	if err != nil {
		t.Fatalf("edit keeping the stubs: %v", err)
	}
	// Changed, invented, or re-added after being dropped: refused.
	changed := strings.Replace(reordered, `"length":33`, `"length":34`, 1)
	for name, tc := range map[string]struct{ id, body string }{
		"changed":  {"sg", changed},
		"invented": {"new", `{"_attachments":` + stubs + `}`},
		"added":    {"plain", `{"a":2,"_attachments":{}}`},
	} {
		if tc.id == "plain" {
			if _, err := c.Save(ctx, "plain", []byte(`{"a":1}`), SaveOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		_, err := c.Save(ctx, tc.id, []byte(tc.body), SaveOptions{})
		if !errors.Is(err, ErrReservedProperty) || !strings.Contains(err.Error(), `"_attachments"`) {
			t.Errorf("%s: Save = %v, want ErrReservedProperty naming _attachments", name, err)
		}
	}
	if cur, _ := c.Get(ctx, "sg"); cur.RevID != doc2.RevID {
		t.Fatalf("a refused save changed the document")
	}
	// Dropping the stubs is an ordinary edit; putting them back afterwards is refused.
	doc3, err := c.Save(ctx, "sg", []byte(`{"title":"no more"}`), SaveOptions{ParentRevID: doc2.RevID})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Save(ctx, "sg", []byte(reordered), SaveOptions{ParentRevID: doc3.RevID}); !errors.Is(err, ErrReservedProperty) {
		t.Fatalf("stubs re-added: %v", err)
	}
}

// A merged conflict resolution may keep the legacy _attachments of either side unchanged,
// and no other: the same rule as a save.
func TestResolveConflictKeepsOnlyCarriedAttachments(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, Config{})
	c := db.DefaultCollection()
	stubs := `{"a.txt":{"digest":"sha1-gyVDxtgNqLc9qt2O+DDtfuD1dQY=","length":33,"revpos":1,"stub":true}}`
	put := func(rev string, history []string, body string) {
		t.Helper()
		if _, err := c.PutExistingRevision(ctx, RemoteRevision{DocID: "d", RevID: rev, History: history, Body: []byte(body)}); err != nil {
			t.Fatal(err)
		}
	}
	put("1-aa", nil, `{"_attachments":`+stubs+`,"v":1}`)
	put("2-bb", []string{"1-aa"}, `{"_attachments":`+stubs+`,"v":2}`)
	put("2-cc", []string{"1-aa"}, `{"_attachments":`+stubs+`,"v":3}`)
	changed := strings.Replace(stubs, `"length":33`, `"length":34`, 1)
	for _, body := range []string{`{"_attachments":` + changed + `,"v":4}`, `{"_other":1,"v":4}`} {
		if _, err := c.ResolveConflict(ctx, "d", "2-cc", "2-bb", []byte(body), false); !errors.Is(err, ErrReservedProperty) {
			t.Fatalf("merged body %s: %v, want ErrReservedProperty", body, err)
		}
	}
	doc, err := c.ResolveConflict(ctx, "d", "2-cc", "2-bb", []byte(`{"v":4,"_attachments":`+stubs+`}`), false)
	if err != nil {
		t.Fatalf("merged body keeping the stubs: %v", err)
	}
	if !strings.Contains(string(doc.Body), `"_attachments"`) || doc.RevID[:2] != "3-" {
		t.Fatalf("resolved to %s %s", doc.RevID, doc.Body)
	}
}
