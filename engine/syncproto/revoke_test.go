package syncproto

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/p2psync/libp2psync/engine/blip"
	"github.com/p2psync/libp2psync/engine/store"
)

// Rows flagged revoked (2, 3) or removed (4, 6) are not requested; the document is
// purged (no revision left: not a tombstone), the event and the filter see the flag, and
// the rows count as done for the checkpoint. 5 (deleted+removed) is an ordinary tombstone.
func TestPullerPurgesRevokedRows(t *testing.T) {
	ctx := context.Background()
	var mu sync.Mutex
	filtered := map[string]DocumentInfo{}
	filter := func(d DocumentInfo) bool {
		mu.Lock()
		defer mu.Unlock()
		filtered[d.DocID] = d
		return d.DocID != "keep"
	}
	p, coll, peer, events := pullPeer(t, PullOptions{AutoPurge: true, Filter: filter}, "r2", "r3", "r4", "r6", "d5", "keep")
	last, _ := coll.LastSequence(ctx)
	ans := sendChanges(t, peer, `[[1,"r2","2-a",2],[2,"r3","2-b",3],[3,"r4","2-c",4],[4,"r6","2-d",6],[5,"d5","2-e",5],[6,"keep","2-f",2],[7,"nothere","1-g",2]]`)
	// Only the tombstone row is requested; the revoked rows are answered 0 (trailing 0s omitted).
	if !strings.HasPrefix(ans, `[0,0,0,0,["1-`) || strings.Count(ans, "[") != 2 {
		t.Errorf("changes answer %s; want only row 5 requested", ans)
	}
	for _, id := range []string{"r2", "r3", "r4", "r6"} {
		if d, err := coll.GetWithDeleted(ctx, id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s: %+v %v; want purged", id, d, err)
		}
	}
	if d, err := coll.Get(ctx, "keep"); err != nil || string(d.Body) != `{"id":"keep"}` {
		t.Errorf("keep: %+v %v; the filter kept it", d, err)
	}
	// A purge writes no change: nothing new for the pusher to send back.
	if now, _ := coll.LastSequence(ctx); now != last {
		t.Errorf("last sequence %d -> %d: the purges left changes behind", last, now)
	}
	ev := events.accessRemoved()
	for _, id := range []string{"r2", "r3", "r4", "r6", "keep"} {
		if _, ok := ev[id]; !ok {
			t.Errorf("no access-removed event for %s", id)
		}
	}
	if len(ev) != 5 {
		t.Errorf("access-removed events for %v; want 5 (none for a document not here, none for d5)", ev)
	}
	mu.Lock()
	for _, id := range []string{"r2", "r3", "r4", "r6", "keep"} {
		if d := filtered[id]; !d.AccessRemoved || string(d.Body) != "{}" || d.RevID == "" {
			t.Errorf("filter call for %s: %+v", id, d)
		}
	}
	mu.Unlock()
	// Row 5 is still wanted: the checkpoint stops before it.
	if cp, ok := p.Checkpoint(); !ok || cp != "4" {
		t.Errorf("checkpoint %q %v; want 4 (rows 1-4 done, 5 requested)", cp, ok)
	}
}

// A "_removed" revision purges the document (auto-purge on) and completes its row; with
// auto-purge off the document is kept and still reported.
func TestPullerRemovedRevision(t *testing.T) {
	for _, autoPurge := range []bool{true, false} {
		t.Run(map[bool]string{true: "autopurge", false: "disabled"}[autoPurge], func(t *testing.T) {
			ctx := context.Background()
			var filterCalls int
			var mu sync.Mutex
			p, coll, peer, events := pullPeer(t, PullOptions{AutoPurge: autoPurge, Filter: func(d DocumentInfo) bool {
				mu.Lock()
				defer mu.Unlock()
				if d.AccessRemoved {
					filterCalls++
				}
				return true
			}}, "doc")
			if ans := sendChanges(t, peer, `[[10,"doc","2-x"]]`); ans != `[["`+mustRev(t, coll, "doc")+`"]]` {
				t.Fatalf("changes answer %s", ans)
			}
			err := sendRev(t, peer, blip.Properties{{Key: "id", Value: "doc"}, {Key: "rev", Value: "2-x"},
				{Key: "history", Value: mustRev(t, coll, "doc")}, {Key: "sequence", Value: "10"}}, `{"_removed":true}`)
			if err != nil {
				t.Fatalf("rev: %v", err)
			}
			d, gerr := coll.GetWithDeleted(ctx, "doc")
			if autoPurge && !errors.Is(gerr, store.ErrNotFound) {
				t.Errorf("doc: %+v %v; want purged", d, gerr)
			}
			if !autoPurge && (gerr != nil || d.Deleted || string(d.Body) != `{"id":"doc"}`) {
				t.Errorf("doc: %+v %v; want kept unchanged", d, gerr)
			}
			if _, ok := events.accessRemoved()["doc"]; !ok {
				t.Error("no access-removed event")
			}
			mu.Lock()
			if want := map[bool]int{true: 1, false: 0}[autoPurge]; filterCalls != want {
				t.Errorf("filter asked %d times about the removal; want %d", filterCalls, want)
			}
			mu.Unlock()
			if cp, ok := p.Checkpoint(); !ok || cp != "10" {
				t.Errorf("checkpoint %q %v; want 10", cp, ok)
			}
		})
	}
}

// A replacement revision (replacedRev, sent for sendReplacementRevs) completes the row
// that asked for the replaced one.
func TestPullerReplacementRevision(t *testing.T) {
	ctx := context.Background()
	p, coll, peer, _ := pullPeer(t, PullOptions{})
	if ans := sendChanges(t, peer, `[[3,"n","1-a"]]`); ans != `[[]]` {
		t.Fatalf("changes answer %s", ans)
	}
	err := sendRev(t, peer, blip.Properties{{Key: "id", Value: "n"}, {Key: "rev", Value: "2-b"}, {Key: "history", Value: "1-a"},
		{Key: "replacedRev", Value: "1-a"}, {Key: "sequence", Value: "3"}}, `{"v":2}`)
	if err != nil {
		t.Fatal(err)
	}
	if d, err := coll.Get(ctx, "n"); err != nil || d.RevID != "2-b" {
		t.Errorf("n: %+v %v", d, err)
	}
	if cp, ok := p.Checkpoint(); !ok || cp != "3" || p.Pending() != 0 {
		t.Errorf("checkpoint %q %v, pending %d; want 3 and nothing pending", cp, ok, p.Pending())
	}
}
