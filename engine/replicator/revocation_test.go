package replicator

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/p2psync/libp2psync/engine/store"
)

// Access revocation and channel removal against a Sync Gateway-style peer (PROTOCOL §3.5,
// §4.4): changes rows flagged 2 (revoked), 3 (revoked+deleted), 4 (removed from the
// user's channels) and a "_removed" revision. Rows flagged 5 (deleted+removed) are plain
// tombstones, as in CBL.

// revocationFeed is the changes list the fake gateway serves, with the local documents
// each test starts from.
const revocationFeed = `[["7:1","rev2","3-aa",2],["7:2","rem4","2-bb",4],["7:3","rev3","4-cc",3],` +
	`["7:4","gone5","2-dd",5],["7:5","removedRev","2-ee"],["7:6","kept","2-ff",2],["7:7","absent","1-00",2],` +
	`["7:8","plain","1-11"]]`

var revokedIDs = []string{"rev2", "rem4", "rev3", "removedRev", "kept"}

func revocationPeer(t *testing.T) (*fakeSG, *store.Database) {
	sg := newFakeSG(t)
	sg.feed = revocationFeed
	sg.feedRevs = map[string]string{"gone5": `{}`, "removedRev": `{"_removed":true}`, "plain": `{"p":1}`}
	local := openDB(t, "local")
	lc := local.DefaultCollection()
	for _, id := range []string{"rev2", "rem4", "rev3", "gone5", "removedRev", "kept", "untouched"} {
		save(t, lc, id, `{"id":"`+id+`"}`)
	}
	return sg, local
}

type filterLog struct {
	mu   sync.Mutex
	seen map[string]Document
}

func (f *filterLog) filter(keep string) Filter {
	return func(d Document) bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.seen == nil {
			f.seen = map[string]Document{}
		}
		d.Body = append([]byte(nil), d.Body...)
		f.seen[d.ID] = d
		return d.ID != keep
	}
}

func subChangesProps(t *testing.T, sg *fakeSG) map[string]string {
	t.Helper()
	sg.mu.Lock()
	defer sg.mu.Unlock()
	for _, q := range sg.requests {
		if q["Profile"] == "subChanges" {
			return q
		}
	}
	t.Fatal("no subChanges sent")
	return nil
}

func accessEvents(rec *docRecorder) map[string]ReplicatedDocument {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	out := map[string]ReplicatedDocument{}
	for i, d := range rec.docs {
		if d.AccessRemoved {
			if rec.dirs[i] != DirectionPull {
				panic("access-removed event in the push direction")
			}
			out[d.ID] = d
		}
	}
	return out
}

func TestRevocationPurgesWithoutTombstone(t *testing.T) {
	ctx := context.Background()
	sg, local := revocationPeer(t)
	lc := local.DefaultCollection()
	var fl filterLog
	r := newRepl(t, Config{Database: local, URL: sg.url(), Type: Pull,
		Collections: []CollectionConfig{{Collection: lc, PullFilter: fl.filter("kept")}}})
	var rec docRecorder
	rec.listen(r)
	if st := runOneShot(t, r); st.Error != nil {
		t.Fatalf("status %+v", st)
	}

	q := subChangesProps(t, sg)
	if q["revocations"] != "true" || q["sendReplacementRevs"] != "true" || q["versioning"] != "rev-trees" {
		t.Errorf("subChanges properties %v: want revocations, sendReplacementRevs and versioning as CBL sends them", q)
	}
	// Purged, not tombstoned: no revision of them is left at all.
	for _, id := range []string{"rev2", "rem4", "rev3", "removedRev"} {
		if d, err := lc.GetWithDeleted(ctx, id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s: %+v %v; want it purged", id, d, err)
		}
	}
	// The pull filter saw each revocation with the flag and an empty body; saying no kept "kept".
	fl.mu.Lock()
	for _, id := range revokedIDs {
		if d, ok := fl.seen[id]; !ok || !d.AccessRemoved || string(d.Body) != "{}" {
			t.Errorf("filter call for %s: %+v (seen %v)", id, d, ok)
		}
	}
	if d := fl.seen["plain"]; d.AccessRemoved {
		t.Errorf("filter saw an ordinary revision as access-removed: %+v", d)
	}
	fl.mu.Unlock()
	if d, err := lc.Get(ctx, "kept"); err != nil || string(d.Body) != `{"id":"kept"}` {
		t.Errorf("kept: %+v %v; the pull filter asked to keep it", d, err)
	}
	// 5 = deleted+removed is an ordinary tombstone.
	if d, err := lc.GetWithDeleted(ctx, "gone5"); err != nil || !d.Deleted || d.RevID != "2-dd" {
		t.Errorf("gone5: %+v %v; want the tombstone 2-dd", d, err)
	}
	if d, err := lc.Get(ctx, "plain"); err != nil || d.RevID != "1-11" {
		t.Errorf("plain: %+v %v", d, err)
	}
	// One access-removed event per revoked document present here; none for "absent".
	ev := accessEvents(&rec)
	for _, id := range revokedIDs {
		if d, ok := ev[id]; !ok || d.Error != nil {
			t.Errorf("access-removed event for %s: %+v %v", id, d, ok)
		}
	}
	if len(ev) != len(revokedIDs) {
		t.Errorf("access-removed events %v; want exactly %v", ev, revokedIDs)
	}
	if errs := rec.errors(); len(errs) != 0 {
		t.Errorf("document errors %v", errs)
	}
	// The checkpoint passed every row, revoked ones included.
	sg.mu.Lock()
	for _, c := range sg.checkpoints {
		if !strings.Contains(string(c.body), `"remote":"7:8"`) {
			t.Errorf("checkpoint %s; want remote 7:8", c.body)
		}
	}
	sg.feed, sg.pushed, sg.proposed = "", map[string]map[string]string{}, nil
	sg.mu.Unlock()

	// Nothing goes back: a push and pull afterwards proposes and sends every local
	// document, but nothing about the purged ones (a purge is no change to push).
	rp := newRepl(t, Config{Database: local, URL: sg.url()})
	if st := runOneShot(t, rp); st.Error != nil {
		t.Fatalf("push run %+v", st)
	}
	sg.mu.Lock()
	defer sg.mu.Unlock()
	for _, body := range sg.proposed {
		for _, id := range []string{"rev2", "rem4", "rev3", "removedRev"} {
			if strings.Contains(body, `"`+id+`"`) {
				t.Errorf("push run proposed %s: %s", id, body)
			}
		}
	}
	for id := range sg.pushed {
		if id != "untouched" && id != "kept" && id != "gone5" && id != "plain" {
			t.Errorf("pushed %s back to the gateway", id)
		}
	}
	if sg.pushed["untouched"] == nil {
		t.Errorf("the push run pushed %v; want at least the untouched document (is the check blind?)", sg.pushed)
	}
}

func TestRevocationWithAutoPurgeDisabled(t *testing.T) {
	ctx := context.Background()
	sg, local := revocationPeer(t)
	lc := local.DefaultCollection()
	var fl filterLog
	r := newRepl(t, Config{Database: local, URL: sg.url(), Type: Pull, DisableAutoPurge: true,
		Collections: []CollectionConfig{{Collection: lc, PullFilter: fl.filter("")}}})
	var rec docRecorder
	rec.listen(r)
	if st := runOneShot(t, r); st.Error != nil {
		t.Fatalf("status %+v", st)
	}
	// Asked for, because a document listener wants to know (as CBL does).
	if q := subChangesProps(t, sg); q["revocations"] != "true" {
		t.Errorf("subChanges %v: revocations not asked for although a document listener is registered", q)
	}
	for _, id := range []string{"rev2", "rem4", "rev3", "removedRev", "kept"} {
		if d, err := lc.Get(ctx, id); err != nil || string(d.Body) != `{"id":"`+id+`"}` {
			t.Errorf("%s: %+v %v; auto-purge is off, it must be kept unchanged", id, d, err)
		}
	}
	ev := accessEvents(&rec)
	for _, id := range revokedIDs {
		if _, ok := ev[id]; !ok {
			t.Errorf("no access-removed event for %s", id)
		}
	}
	fl.mu.Lock()
	for id, d := range fl.seen {
		if d.AccessRemoved {
			t.Errorf("filter asked about %s although nothing is purged", id)
		}
	}
	fl.mu.Unlock()
}

func TestRevocationsNotAskedWhenNeitherPurgedNorReported(t *testing.T) {
	sg, local := revocationPeer(t)
	sg.feed = ""
	r := newRepl(t, Config{Database: local, URL: sg.url(), Type: Pull, DisableAutoPurge: true})
	if st := runOneShot(t, r); st.Error != nil {
		t.Fatalf("status %+v", st)
	}
	if q := subChangesProps(t, sg); q["revocations"] != "" {
		t.Errorf("subChanges %v: revocations asked for with auto-purge off and no document listener", q)
	}
}

// A gateway asked for sendReplacementRevs sends a newer revision, naming the requested one
// in replacedRev: the row is complete (the one-shot pull ends, the checkpoint passes it).
func TestReplacementRevisionCompletesTheRow(t *testing.T) {
	ctx := context.Background()
	sg := newFakeSG(t)
	sg.feed = `[["9:1","doc","1-aa"],["9:2","other","1-bb"]]`
	sg.feedRevs = map[string]string{"doc": `{"v":2}`, "other": `{"v":1}`}
	sg.feedReplace = map[string][2]string{"doc": {"2-cc", "1-aa"}}
	local := openDB(t, "local")
	r := newRepl(t, Config{Database: local, URL: sg.url(), Type: Pull})
	if st := runOneShot(t, r); st.Error != nil {
		t.Fatalf("status %+v", st)
	}
	if d, err := local.DefaultCollection().Get(ctx, "doc"); err != nil || d.RevID != "2-cc" || string(d.Body) != `{"v":2}` {
		t.Errorf("doc: %+v %v; want the replacement 2-cc", d, err)
	}
	sg.mu.Lock()
	defer sg.mu.Unlock()
	for _, c := range sg.checkpoints {
		if !strings.Contains(string(c.body), `"remote":"9:2"`) {
			t.Errorf("checkpoint %s; want remote 9:2", c.body)
		}
	}
}
