package listener

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"testing"

	"github.com/p2psync/libp2psync/engine/store"
	"github.com/p2psync/libp2psync/engine/syncproto"
)

// A hostile (or careless) peer asks subChanges for the whole feed in one changes message
// (batch far above anything Couchbase Lite or Sync Gateway sends): the listener serves
// lists of at most syncproto.MaxPeerChangesBatch rows, so what one list costs it in memory
// does not depend on the peer. Every row is still sent, in order. Before, the batch
// went to the feed as asked, and the first list held every document.
func TestHostileSubChangesBatchIsCapped(t *testing.T) {
	n := syncproto.MaxPeerChangesBatch + 500
	db := openDB(t, "db")
	c := db.DefaultCollection()
	err := db.InBatch(context.Background(), func(b *store.Batch) error {
		for i := 0; i < n; i++ {
			if _, err := b.Save(c, fmt.Sprintf("d%05d", i), []byte(`{}`), store.SaveOptions{}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	l := start(t, Config{Database: db})
	cl := newClient(t, l, nil) // wants nothing: each list is answered at once
	cl.mustSend("getCollections", `{"checkpoint_ids":["cp-1"],"collections":["_default"]}`)
	cl.mustSend("subChanges", "", "collection", "0", "since", "0", "batch", strconv.Itoa(1<<30))
	cl.waitFor("caught-up", func(r *received) bool { return r.profile == "changes" && r.body == "[]" })
	cl.mu.Lock()
	defer cl.mu.Unlock()
	rows, lists, largest := 0, 0, 0
	for _, r := range cl.got {
		if r.profile != "changes" || r.body == "[]" {
			continue
		}
		var list [][]any
		if err := json.Unmarshal([]byte(r.body), &list); err != nil {
			t.Fatalf("changes body: %v", err)
		}
		for i, row := range list {
			if want := fmt.Sprintf("d%05d", rows+i); len(row) < 2 || row[1] != want {
				t.Fatalf("row %d is %v, want %s", rows+i, row, want)
			}
		}
		rows += len(list)
		lists++
		largest = max(largest, len(list))
	}
	if rows != n {
		t.Errorf("%d rows sent, want %d", rows, n)
	}
	if largest > syncproto.MaxPeerChangesBatch {
		t.Errorf("a changes list of %d rows (batch asked: %d), want at most %d", largest, 1<<30, syncproto.MaxPeerChangesBatch)
	}
	if lists < 2 {
		t.Errorf("%d changes lists for %d rows", lists, n)
	}
}
