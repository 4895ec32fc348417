package replicator

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/p2psync/libp2psync/engine/store"
	"github.com/p2psync/libp2psync/engine/syncproto/wire"
)

// Document IDs given to a replicator follow the store's rule (1–255 bytes of UTF-8
// without NUL): a filter ID or a pending-document query with another is refused.
func TestReplicatorDocIDRule(t *testing.T) {
	db := openDB(t, "local")
	c := db.DefaultCollection()
	for _, bad := range []string{"", strings.Repeat("x", 256), strings.Repeat("y", 1<<20), "a\x00b", "\xff"} {
		_, err := New(Config{Database: db, URL: "ws://127.0.0.1:1/db", Collections: []CollectionConfig{{Collection: c, DocumentIDs: []string{"ok", bad}}}})
		if !errors.Is(err, ErrInvalidConfig) || !errors.Is(err, store.ErrInvalidID) {
			t.Errorf("DocumentIDs with %.10q: %v", bad, err)
		}
	}
	r := newRepl(t, Config{Database: db, URL: "ws://127.0.0.1:1/db", Type: Push})
	for _, bad := range []string{"", strings.Repeat("x", 1<<20)} {
		if _, err := r.IsDocumentPending(context.Background(), c, bad); !errors.Is(err, store.ErrInvalidID) {
			t.Errorf("IsDocumentPending(%.10q): %v", bad, err)
		}
	}
	if _, err := r.IsDocumentPending(context.Background(), c, strings.Repeat("x", 255)); err != nil {
		t.Fatal(err)
	}
}

// A document ID filter longer than a listener decodes (wire.MaxDocIDs) is refused when
// the replicator is made, not by the peer's HTTP/413 once it runs.
func TestReplicatorDocIDFilterBound(t *testing.T) {
	db := openDB(t, "local")
	c := db.DefaultCollection()
	ids := make([]string, wire.MaxDocIDs+1)
	for i := range ids {
		ids[i] = fmt.Sprintf("d%d", i)
	}
	_, err := New(Config{Database: db, URL: "ws://127.0.0.1:1/db", Collections: []CollectionConfig{{Collection: c, DocumentIDs: ids}}})
	if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "document ID filter") {
		t.Fatalf("%d IDs: %v", len(ids), err)
	}
	r := newRepl(t, Config{Database: db, URL: "ws://127.0.0.1:1/db", Collections: []CollectionConfig{{Collection: c, DocumentIDs: ids[:wire.MaxDocIDs]}}})
	_ = r
}
