package syncproto

import (
	"context"
	"fmt"
	"testing"

	"github.com/p2psync/libp2psync/engine/store"
)

// The pusher's records of what the peer has leave memory once persisted, so that a long
// push does not keep one per document (W6); the store answers for them afterwards.
// Records of received revisions stay in memory for the session.
func TestAncestorCacheForgetsPersistedPushRecords(t *testing.T) {
	ctx := context.Background()
	db := openDB(t)
	coll := db.DefaultCollection()
	a := newAncestorCache("peer")
	var changes []store.Change
	for i := 0; i < 1000; i++ {
		id := fmt.Sprintf("doc-%04d", i)
		rev := saveDoc(t, coll, id, `{"v":1}`)
		a.setPushed(coll, id, rev)
		changes = append(changes, store.Change{DocID: id, RevID: rev})
	}
	a.noteStored(coll, "pulled", "1-"+fmt.Sprintf("%032x", 7))
	a.set(coll, "listed", "1-"+fmt.Sprintf("%032x", 8))
	if n := len(a.known); n != 1002 {
		t.Fatalf("%d records in memory before the flush, want 1002", n)
	}
	a.flush(ctx, db)
	a.mu.Lock()
	n := len(a.known)
	_, pulled := a.known[docKey{coll, "pulled"}]
	_, listed := a.known[docKey{coll, "listed"}]
	a.mu.Unlock()
	if n != 2 || !pulled || !listed {
		t.Fatalf("after the flush %d records in memory (pulled kept %v, listed kept %v); want only the 2 that are not the pusher's", n, pulled, listed)
	}
	// The pusher still learns that the peer has them: from the store.
	got, err := a.getMany(ctx, coll, changes, func(store.Change) bool { return true })
	if err != nil {
		t.Fatal(err)
	}
	for _, ch := range changes {
		if got[ch.DocID] != ch.RevID {
			t.Fatalf("remote ancestor of %s = %q after the flush, want %s", ch.DocID, got[ch.DocID], ch.RevID)
		}
	}
	// A newer record noted before the flush of an older one is never dropped or regressed.
	a.setPushed(coll, "doc-0000", changes[0].RevID)
	snap := map[docKey]pendingRecord{{coll, "doc-0000"}: {rev: "1-old", transient: true}}
	a.forget(snap)
	if rev, ok := a.get(coll, "doc-0000"); !ok || rev != changes[0].RevID {
		t.Fatalf("record of doc-0000 = %q, %v; a newer pending record must stay", rev, ok)
	}
}
