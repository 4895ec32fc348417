package store_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/p2psync/libp2psync/engine/blobstore"
	"github.com/p2psync/libp2psync/engine/store"
)

func putBlob(t *testing.T, db *store.Database, content string) blobstore.Blob {
	t.Helper()
	w, err := db.Blobs().Create()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	w.Write([]byte(content))
	b, err := w.Commit()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func blobJSON(b blobstore.Blob) string { return string(blobstore.Properties(b, "text/plain")) }

func hasBlob(db *store.Database, b blobstore.Blob) bool {
	_, err := db.Blobs().Stat(b.Digest)
	return err == nil
}

// compactTwice runs Compact twice: the first run keeps blobs committed since the last
// one (writers may not have saved their documents yet); the second applies references.
// It returns the second run's stats with the removals of both.
func compactTwice(t *testing.T, db *store.Database) store.CompactStats {
	t.Helper()
	first, err := db.Compact(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	st, err := db.Compact(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	st.BlobsRemoved += first.BlobsRemoved
	return st
}

func TestSaveChecksBlobReferences(t *testing.T) {
	ctx := context.Background()
	db := openTempDB(t)
	c := db.DefaultCollection()
	b := putBlob(t, db, "content")
	missing := blobstore.DigestOf([]byte("never stored"))
	tests := []struct {
		name string
		body string
		want error
	}{
		{"stored blob", `{"f":` + blobJSON(b) + `}`, nil},
		{"nested in array", `{"list":[1,{"x":` + blobJSON(b) + `}]}`, nil},
		{"digest only", `{"f":{"@type":"blob","digest":"` + b.Digest.String() + `"}}`, nil},
		{"missing blob", `{"f":{"@type":"blob","digest":"` + missing.String() + `","length":3}}`, store.ErrNotFound},
		{"no digest", `{"f":{"@type":"blob","length":3}}`, store.ErrInvalidJSON},
		{"bad digest", `{"f":{"@type":"blob","digest":"md5-xyz"}}`, store.ErrInvalidJSON},
		{"wrong length", `{"f":{"@type":"blob","digest":"` + b.Digest.String() + `","length":99}}`, store.ErrInvalidJSON},
		{"not a blob type", `{"f":{"@type":"photo","digest":"whatever"}}`, nil},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, id := range []string{fmt.Sprint("new-", i), "existing"} {
				_, err := c.Save(ctx, id, []byte(tt.body), store.SaveOptions{})
				if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
					t.Fatalf("save %s: %v, want %v", id, err, tt.want)
				}
			}
		})
	}
}

func TestSaveKeepsCarriedOverBlobReferences(t *testing.T) {
	ctx := context.Background()
	db := openTempDB(t)
	c := db.DefaultCollection()
	// A revision stored without its blob content (received from a peer that could not
	// serve it): editing the document locally must still work.
	absent := blobstore.DigestOf([]byte("on the peer only"))
	body := `{"photo":{"@type":"blob","digest":"` + absent.String() + `","length":16},"n":1}`
	if _, err := c.PutExistingRevision(ctx, store.RemoteRevision{DocID: "d", RevID: "1-" + fmt.Sprintf("%040x", 1), Body: []byte(body)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Save(ctx, "d", []byte(`{"photo":{"@type":"blob","digest":"`+absent.String()+`","length":16},"n":2}`), store.SaveOptions{}); err != nil {
		t.Fatalf("edit keeping the peer's blob: %v", err)
	}
	other := blobstore.DigestOf([]byte("nowhere"))
	_, err := c.Save(ctx, "d", []byte(`{"photo":{"@type":"blob","digest":"`+absent.String()+`"},"new":{"@type":"blob","digest":"`+other.String()+`"}}`), store.SaveOptions{})
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("adding an absent blob: %v", err)
	}
}

func TestCompactRemovesOnlyUnreferencedBlobs(t *testing.T) {
	ctx := context.Background()
	db := openTempDB(t)
	c := db.DefaultCollection()
	a, b, loose := putBlob(t, db, "blob a"), putBlob(t, db, "blob b"), putBlob(t, db, "loose")
	if _, err := c.Save(ctx, "doc1", []byte(`{"a":`+blobJSON(a)+`}`), store.SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Save(ctx, "doc2", []byte(`{"b":[`+blobJSON(b)+`]}`), store.SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	// The first compaction after the blobs were written keeps them all.
	st, err := db.Compact(ctx)
	if err != nil || st.BlobsRemoved != 0 || !hasBlob(db, loose) {
		t.Fatalf("first compact: %+v %v", st, err)
	}
	st, err = db.Compact(ctx)
	if err != nil || st.BlobsRemoved != 1 || hasBlob(db, loose) || !hasBlob(db, a) || !hasBlob(db, b) {
		t.Fatalf("second compact: %+v %v", st, err)
	}

	// An update dropping the reference: the previous revision's body is still kept (for
	// deltas), so the blob stays until a further revision makes that body obsolete.
	if _, err := c.Save(ctx, "doc1", []byte(`{"a":null}`), store.SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	compactTwice(t, db)
	if !hasBlob(db, a) {
		t.Fatal("blob of the kept parent revision was removed")
	}
	if _, err := c.Save(ctx, "doc1", []byte(`{"a":null,"n":2}`), store.SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	if st := compactTwice(t, db); st.BlobsRemoved != 1 || hasBlob(db, a) || !hasBlob(db, b) {
		t.Fatalf("after the reference left every kept body: %+v", st)
	}

	// A purge forgets the document and its references.
	if err := c.Purge(ctx, "doc2"); err != nil {
		t.Fatal(err)
	}
	if st := compactTwice(t, db); st.BlobsRemoved != 1 || hasBlob(db, b) {
		t.Fatalf("after purge: %+v", st)
	}
}

func TestCompactKeepsBlobsOfLeavesAndLegacyAttachments(t *testing.T) {
	ctx := context.Background()
	db := openTempDB(t)
	c := db.DefaultCollection()
	mine, theirs, legacy := putBlob(t, db, "mine"), putBlob(t, db, "theirs"), putBlob(t, db, "legacy")
	doc, err := c.Save(ctx, "d", []byte(`{"f":`+blobJSON(mine)+`}`), store.SaveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	local, err := c.Save(ctx, "d", []byte(`{"f":`+blobJSON(mine)+`,"edit":1}`), store.SaveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// A conflicting branch from a peer, off the first revision, refers to another blob.
	conflict := "2-" + fmt.Sprintf("%040x", 7)
	if _, err := c.PutExistingRevision(ctx, store.RemoteRevision{DocID: "d", RevID: conflict,
		History: []string{doc.RevID}, Body: []byte(`{"f":` + blobJSON(theirs) + `}`)}); err != nil {
		t.Fatal(err)
	}
	// A document pulled from Sync Gateway with a legacy attachment stub.
	if _, err := c.PutExistingRevision(ctx, store.RemoteRevision{DocID: "sg", RevID: "1-" + fmt.Sprintf("%040x", 9),
		Body: []byte(`{"_attachments":{"a.txt":{"digest":"` + legacy.Digest.String() + `","length":6,"revpos":1,"stub":true}}}`)}); err != nil {
		t.Fatal(err)
	}
	compactTwice(t, db)
	if !hasBlob(db, mine) || !hasBlob(db, theirs) || !hasBlob(db, legacy) {
		t.Fatal("a blob of a kept leaf or a legacy attachment was removed")
	}
	// Resolving the conflict closes the peer's branch: its body is dropped, and its blob.
	cur, err := c.Get(ctx, "d")
	if err != nil {
		t.Fatal(err)
	}
	losing := conflict
	if cur.RevID == conflict {
		losing = local.RevID
	}
	if _, err := c.ResolveConflict(ctx, "d", cur.RevID, losing, nil, false); err != nil {
		t.Fatal(err)
	}
	compactTwice(t, db)
	gone := theirs
	if losing != conflict {
		gone = mine
	}
	if hasBlob(db, gone) {
		t.Fatal("the closed branch's blob survived")
	}
}

func TestBlobWrittenBeforeCompactionSurvivesUntilSaved(t *testing.T) {
	ctx := context.Background()
	db := openTempDB(t)
	b := putBlob(t, db, "written, document not saved yet")
	if _, err := db.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := db.DefaultCollection().Save(ctx, "d", []byte(`{"f":`+blobJSON(b)+`}`), store.SaveOptions{}); err != nil {
		t.Fatalf("save after a compaction: %v", err)
	}
	compactTwice(t, db)
	if !hasBlob(db, b) {
		t.Fatal("referenced blob removed")
	}
}

func TestBlobFilesAcrossOpenAndDelete(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "db")
	db, err := store.Open(ctx, dir, store.Config{})
	if err != nil {
		t.Fatal(err)
	}
	b := putBlob(t, db, "kept")
	w, _ := db.Blobs().Create()
	w.Write([]byte("a writer that crashed")) // never committed nor closed
	db.Close()
	tmps, _ := filepath.Glob(filepath.Join(dir, "blobs", "*.tmp"))
	if len(tmps) != 1 {
		t.Fatalf("temporary files: %v", tmps)
	}
	db, err = store.Open(ctx, dir, store.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if tmps, _ := filepath.Glob(filepath.Join(dir, "blobs", "*.tmp")); len(tmps) != 0 {
		t.Fatalf("reopen left %v", tmps)
	}
	if !hasBlob(db, b) {
		t.Fatal("committed blob lost across reopen")
	}
	db.Close()
	if _, err := db.Blobs().Stat(b.Digest); !errors.Is(err, blobstore.ErrClosed) {
		t.Fatalf("blob store after close: %v", err)
	}
	if err := store.Delete(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("database directory left behind: %v", err)
	}
}
