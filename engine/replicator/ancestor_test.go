package replicator

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/p2psync/libp2psync/engine/store"
)

// A pulled revision is recorded as the remote's revision in the same transaction that
// saves it: whoever sees the change (the pusher's feed, PendingDocumentIDs) already sees
// that the peer has it. Before, the record followed asynchronously, so a pusher could
// propose the revision straight back to its source and a document could be reported as
// pending push for a moment (or for good, when the record was only kept in memory).
func TestPulledRevisionAncestorRecordedWithIt(t *testing.T) {
	local, remote := openDB(t, "local"), openDB(t, "remote")
	lc, rc := local.DefaultCollection(), remote.DefaultCollection()
	saveN(t, rc, "r-", 60)
	l := startListener(t, remote, nil)
	r := newRepl(t, Config{Database: local, URL: localURL(l), Type: Pull})

	var mu sync.Mutex
	var bad []string
	seen := 0
	tok := lc.AddChangeListener(func(cc store.CollectionChange) {
		for _, ch := range cc.Changes {
			anc, err := lc.RemoteAncestor(context.Background(), r.remoteID, ch.DocID)
			mu.Lock()
			seen++
			if err != nil || anc != ch.RevID {
				bad = append(bad, fmt.Sprintf("%s %s: remote ancestor %q, %v", ch.DocID, ch.RevID, anc, err))
			}
			mu.Unlock()
		}
	})
	defer tok.Remove()
	if st := runOneShot(t, r); st.Error != nil {
		t.Fatalf("pull: %+v", st)
	}
	eventually(t, 10e9, "every change notified", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return seen >= 60
	})
	mu.Lock()
	defer mu.Unlock()
	if len(bad) > 0 {
		t.Fatalf("%d of %d pulled revisions were visible before their remote ancestor record, e.g. %s", len(bad), seen, bad[0])
	}
}
