package store

import (
	"context"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/p2psync/libp2psync/engine/blobstore"
)

// openFuzzDB opens one database shared by all iterations of a fuzz target.
func openFuzzDB(f *testing.F) *Database {
	db, err := Open(context.Background(), f.TempDir(), Config{})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { db.Close() })
	return db
}

// FuzzSaveBody: any byte string is either saved (and read back as its
// compact form) or refused with ErrInvalidJSON without writing anything.
func FuzzSaveBody(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":[1,{"b":null}]}`, ` { "x" : "y" } `, `[]`, `"s"`, `{"a":`, "{\"\xff\":1}", `{"a":1} {}`, `{"\u0040type":1}`, `{"n":{"_attachments":{}}}`} {
		f.Add([]byte(s))
	}
	db := openFuzzDB(f)
	ctx := context.Background()
	c := db.DefaultCollection()
	f.Fuzz(func(t *testing.T, body []byte) {
		if data, info, err := compactInfo(body, keysAttachmentsAllowed); err == nil {
			// The save path trusts these flags to skip the blob checks.
			if refs, rerr := blobstore.References(data); rerr == nil && len(refs) > 0 && !info.mayReference() {
				t.Fatalf("%q: References finds %d references, mayReference is false", body, len(refs))
			}
			if hasTopLevelAttachments(data) && !info.mayHaveTopLevelAttachments() {
				t.Fatalf("%q: top-level _attachments not flagged", body)
			}
		}
		seq, _ := c.LastSequence(ctx)
		doc, err := c.Save(ctx, "fuzz", body, SaveOptions{})
		want, ok := referenceCompact(body)
		if !ok {
			if !errors.Is(err, ErrInvalidJSON) {
				t.Fatalf("Save(%q) = %v, want ErrInvalidJSON", body, err)
			}
			if after, _ := c.LastSequence(ctx); after != seq {
				t.Fatalf("refused save changed the sequence %d -> %d", seq, after)
			}
			return
		}
		if err != nil {
			t.Fatalf("Save(%q): %v", body, err)
		}
		got, err := c.Get(ctx, "fuzz")
		if err != nil || got.RevID != doc.RevID || string(got.Body) != string(want) {
			t.Fatalf("read back %v %v, want body %q", got, err, want)
		}
	})
}

// FuzzDocID: IDs are accepted exactly when they are 1–255 bytes of UTF-8
// without NUL, and then round-trip byte for byte.
func FuzzDocID(f *testing.F) {
	for _, s := range []string{"doc", "", "a\x00b", "\xff", strings.Repeat("x", 255), strings.Repeat("y", 256), "ключ/😀", "_local/x"} {
		f.Add(s)
	}
	db := openFuzzDB(f)
	ctx := context.Background()
	c := db.DefaultCollection()
	f.Fuzz(func(t *testing.T, id string) {
		valid := len(id) >= 1 && len(id) <= 255 && utf8.ValidString(id) && !strings.ContainsRune(id, 0)
		_, err := c.Save(ctx, id, []byte(`{"v":1}`), SaveOptions{})
		if !valid {
			if !errors.Is(err, ErrInvalidID) {
				t.Fatalf("Save(%q) = %v, want ErrInvalidID", id, err)
			}
			return
		}
		if err != nil {
			t.Fatalf("Save(%q): %v", id, err)
		}
		got, err := c.Get(ctx, id)
		if err != nil || got.ID != id {
			t.Fatalf("Get(%q) = %v, %v", id, got, err)
		}
		changes, err := c.ChangesSince(ctx, got.Sequence-1, 1)
		if err != nil || len(changes) != 1 || changes[0].DocID != id {
			t.Fatalf("changes for %q = %v, %v", id, changes, err)
		}
	})
}

// FuzzPutExistingRevision feeds peer-supplied revision IDs and histories
// (comma separated) into the rev tree. Errors must be the documented
// sentinels; successes must leave a consistent tree.
func FuzzPutExistingRevision(f *testing.F) {
	f.Add("3-cc", "2-bb,1-aa", false, []byte(`{"a":1}`))
	f.Add("2-bb", "1-aa", true, []byte(nil))
	f.Add("4-dd", "3-cc", false, []byte(`{}`))
	f.Add("2-ee", "1-ff", false, []byte(`{"branch":true}`))
	f.Add("1-", "", false, []byte(`{}`))
	f.Add("5-ab", "3-ab", false, []byte(`{}`))
	f.Add("2-ab", "1-ab,0-ab", false, []byte(`{}`))
	db := openFuzzDB(f)
	ctx := context.Background()
	c := db.DefaultCollection()
	f.Fuzz(func(t *testing.T, rev, history string, deleted bool, body []byte) {
		var hist []string
		if history != "" {
			hist = strings.Split(history, ",")
		}
		res, err := c.PutExistingRevision(ctx, RemoteRevision{DocID: "d", RevID: rev, History: hist, Deleted: deleted, Body: body})
		if err != nil {
			if !errors.Is(err, ErrInvalidRevID) && !errors.Is(err, ErrInvalidJSON) {
				t.Fatalf("PutExistingRevision(%q, %q): unexpected error %v", rev, history, err)
			}
			return
		}
		if res.Document == nil {
			t.Fatal("nil document")
		}
		revs, err := c.Revisions(ctx, "d")
		if err != nil {
			t.Fatalf("Revisions: %v", err)
		}
		found, leaves := false, 0
		for _, r := range revs {
			if r.RevID == rev {
				found = true
			}
			if r.Leaf {
				leaves++
				if !r.HasBody {
					t.Fatalf("leaf %s without body", r.RevID)
				}
			}
		}
		if !found || leaves == 0 || len(revs) > 20*leaves {
			t.Fatalf("tree after inserting %s: %+v", rev, revs)
		}
		if _, err := c.History(ctx, "d", rev, 0); err != nil {
			t.Fatalf("History(%s): %v", rev, err)
		}
		// Keep the tree small so iterations stay fast.
		if len(revs) > 60 {
			if err := c.Purge(ctx, "d"); err != nil {
				t.Fatal(err)
			}
		}
	})
}
