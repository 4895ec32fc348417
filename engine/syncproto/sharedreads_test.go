package syncproto

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/p2psync/libp2psync/engine/blip"
	"github.com/p2psync/libp2psync/engine/store"
)

// Continuous feeds of several sessions of one listener share their reads: after a
// commit, one session reads the documents and the others take them from the cache, and
// every session still sends each revision with its own body (a later revision of a
// document, a deletion included, is another entry).
func TestSharedReadsAcrossSessions(t *testing.T) {
	ctx := context.Background()
	remote := openDB(t)
	rc := remote.DefaultCollection()
	reads := NewSharedReads()
	peer := servePassive(t, remote, PassiveConfig{Collections: []*store.Collection{rc}, AllowPull: true, Reads: reads})
	var subs []*changesPeer
	for i := 0; i < 4; i++ {
		cc := &changesPeer{} // wants every row
		subscribe(t, peer.url, cc, blip.Properties{{Key: "continuous", Value: "true"}}, "")
		subs = append(subs, cc)
	}
	// Bodies over store.NotifiedBodyMax: smaller ones come with their commit notification
	// and are not read at all.
	pad := strings.Repeat("p", store.NotifiedBodyMax)
	for i := 0; i < 10; i++ {
		saveDoc(t, rc, fmt.Sprintf("d%d", i), fmt.Sprintf(`{"i":%d,"pad":%q}`, i, pad))
	}
	update(t, rc, "d3", fmt.Sprintf(`{"i":33,"pad":%q}`, pad))
	remove(t, rc, "d4")
	for k, cc := range subs {
		waitFor(t, fmt.Sprintf("subscriber %d got every current revision", k), func() bool {
			for i := 0; i < 10; i++ {
				id := fmt.Sprintf("d%d", i)
				cur := mustRevWithDeleted(t, rc, id)
				has := false
				for _, rev := range cc.revsOf(id) {
					has = has || rev.RevID == cur
				}
				if !has {
					return false
				}
			}
			return true
		})
		for i := 0; i < 10; i++ {
			id := fmt.Sprintf("d%d", i)
			doc, err := rc.GetWithDeleted(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			// Rev handlers run concurrently: find the current revision among those received.
			found := false
			for _, rev := range cc.revsOf(id) {
				if rev.RevID == doc.RevID {
					found = true
					if rev.Deleted != doc.Deleted || (!doc.Deleted && string(rev.Body) != string(doc.Body)) {
						t.Errorf("subscriber %d: %s %s arrived as %q (deleted %v), want %q (deleted %v)",
							k, id, rev.RevID, rev.Body, rev.Deleted, doc.Body, doc.Deleted)
					}
				}
			}
			if !found {
				t.Errorf("subscriber %d: current revision %s of %s never arrived", k, doc.RevID, id)
			}
		}
	}
	reads.mu.Lock()
	hits := reads.hits
	reads.mu.Unlock()
	if hits == 0 {
		t.Error("no session took a document from the shared reads")
	}
	t.Logf("shared reads: %d hits", hits)
}

// The cache stays within its bounds, and what it hands out is a copy.
func TestSharedReadsBoundsAndCopies(t *testing.T) {
	var c store.Collection
	coll := &c
	r := NewSharedReads()
	for i := 0; i < 3*sharedMaxEntries; i++ {
		r.putCurrent(coll, fmt.Sprintf("d%d", i), store.CurrentRevision{RevID: "1-a", Sequence: uint64(i + 1)})
	}
	if len(r.entries) > sharedMaxEntries || len(r.fifo) > sharedMaxEntries {
		t.Fatalf("%d entries (%d queued) kept, want at most %d", len(r.entries), len(r.fifo), sharedMaxEntries)
	}
	if _, ok := r.current(coll, "d0", 1); ok {
		t.Error("the oldest entry was not evicted")
	}
	if cur, ok := r.current(coll, fmt.Sprintf("d%d", 3*sharedMaxEntries-1), uint64(3*sharedMaxEntries)); !ok || cur.RevID != "1-a" {
		t.Error("the newest entry is missing")
	}
	big := make([]byte, sharedMaxBytes/64)
	for i := 0; i < 100; i++ {
		r.putDocument(coll, &store.Document{ID: fmt.Sprintf("b%d", i), RevID: "1-b", Sequence: uint64(100000 + i), Body: big})
	}
	if r.bytes > sharedMaxBytes {
		t.Fatalf("%d bytes of bodies kept, want at most %d", r.bytes, sharedMaxBytes)
	}
	r.putDocument(coll, &store.Document{ID: "x", RevID: "1-x", Sequence: 7, Body: []byte(`{"a":1}`)})
	d := r.document(coll, "x", 7)
	d.Body[2] = 'b'
	if again := r.document(coll, "x", 7); string(again.Body) != `{"a":1}` {
		t.Fatalf("a change to a document handed out reached the cache: %s", again.Body)
	}
	if r.document(coll, "x", 8) != nil {
		t.Fatal("a hit at another sequence")
	}
}

func mustRevWithDeleted(t *testing.T, c *store.Collection, id string) string {
	t.Helper()
	d, err := c.GetWithDeleted(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return d.RevID
}
