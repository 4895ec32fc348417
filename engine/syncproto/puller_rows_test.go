package syncproto

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/p2psync/libp2psync/engine/blip"
	"github.com/p2psync/libp2psync/engine/store"
	"github.com/p2psync/libp2psync/engine/syncproto/wire"
)

// The active puller against a scripted pusher (Sync Gateway's role): what it asks for,
// what it tells the peer it already has, and how its checkpoint follows revisions that
// arrive in any order.

// The changes answer: a revision already here is not asked for (0); an unknown document
// is asked for with no known revisions; a newer revision of a document here is asked
// for with the leaf revisions this side holds. The answer advertises maxHistory and
// blobs, and deltas only when delta sync is on.
func TestPullerChangesAnswer(t *testing.T) {
	ctx := context.Background()
	p, coll, peer, _ := pullPeer(t, PullOptions{MaxHistory: 7}, "here", "older")
	here, older := mustRev(t, coll, "here"), mustRev(t, coll, "older")
	reply, err := request(t, peer, wire.ProfileChanges, nil,
		`[[1,"here","`+here+`"],[2,"new","1-aa"],[3,"older","3-bb"],[4,"gone","2-cc",true]]`)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := reply.ReadBody()
	ans, err := wire.DecodeChangesResponse(body, 4)
	if err != nil {
		t.Fatalf("answer %s: %v", body, err)
	}
	if ans[0].Want || !ans[1].Want || len(ans[1].KnownRevs) != 0 || !ans[2].Want || !ans[3].Want {
		t.Fatalf("answer %s", body)
	}
	if len(ans[2].KnownRevs) != 1 || ans[2].KnownRevs[0] != older {
		t.Fatalf("known revisions of older: %v, want [%s]", ans[2].KnownRevs, older)
	}
	if reply.Properties.Get("maxHistory") != "7" || reply.Properties.Get("blobs") != "true" || reply.Properties.Get("deltas") != "" {
		t.Fatalf("answer properties %v", reply.Properties)
	}
	// Row 1 is done (already here); 2-4 are awaited.
	if cp, ok := p.Checkpoint(); !ok || cp != "1" || p.Pending() != 3 || p.CaughtUp() {
		t.Fatalf("checkpoint %q %v, pending %d", cp, ok, p.Pending())
	}
	if d, err := coll.Get(ctx, "here"); err != nil || d.RevID != here {
		t.Fatalf("here changed: %+v %v", d, err)
	}
}

// Revisions may arrive in any order: the checkpoint never passes a row whose revision
// has not arrived, and reaches the last row once all have. An empty changes list then
// makes the puller caught up.
func TestPullerRevsOutOfOrder(t *testing.T) {
	p, coll, peer, _ := pullPeer(t, PullOptions{})
	sendChanges(t, peer, `[[10,"a","1-aa"],[11,"b","1-bb"],[12,"c","1-cc"],[13,"d","1-dd"]]`)
	steps := []struct {
		id, rev, seq string
		want         wire.Sequence
		ok           bool
	}{
		{"c", "1-cc", "12", "", false},
		{"d", "1-dd", "13", "", false},
		{"a", "1-aa", "10", "10", true},
		{"b", "1-bb", "11", "13", true},
	}
	for _, st := range steps {
		if err := sendRev(t, peer, revProps(st.id, st.rev, st.seq), `{"id":"`+st.id+`"}`); err != nil {
			t.Fatal(err)
		}
		if cp, ok := p.Checkpoint(); ok != st.ok || cp != st.want {
			t.Fatalf("after %s: checkpoint %q %v, want %q %v", st.id, cp, ok, st.want, st.ok)
		}
	}
	if p.CaughtUp() {
		t.Fatal("caught up before the peer said so")
	}
	if ans := sendChanges(t, peer, `[]`); ans != "" {
		t.Fatalf("answer to the empty list: %q", ans)
	}
	if !p.CaughtUp() || p.Received() != 4 {
		t.Fatalf("caught up %v, received %d", p.CaughtUp(), p.Received())
	}
	for _, id := range []string{"a", "b", "c", "d"} {
		if got := bodyOf(t, coll, id); got != `{"id":"`+id+`"}` {
			t.Fatalf("%s stored as %s", id, got)
		}
	}
}

// A rev whose "error" property is set is a norev in disguise: the row completes with a
// document error carrying that status, and nothing is saved.
func TestPullerRevWithErrorProperty(t *testing.T) {
	ctx := context.Background()
	p, coll, peer, events := pullPeer(t, PullOptions{})
	sendChanges(t, peer, `[[3,"e","1-ee"]]`)
	if err := sendRev(t, peer, revProps("e", "1-ee", "3", blip.Property{Key: "error", Value: "403"}), `{"x":1}`); err != nil {
		t.Fatal(err)
	}
	if _, err := coll.GetWithDeleted(ctx, "e"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("e saved from an error rev: %v", err)
	}
	var de *DocError
	if evs := events.byDoc("e"); len(evs) != 1 || !errors.As(evs[0].Err, &de) || de.Code != 403 {
		t.Fatalf("events %+v, want one 403 document error", evs)
	}
	if cp, ok := p.Checkpoint(); !ok || cp != "3" {
		t.Fatalf("checkpoint %q %v, want 3", cp, ok)
	}
}

// DocIDs: rows of other documents are not asked for and count as done; a rev of another
// document sent anyway is not saved. Filter: a rev it refuses is not saved either, and
// the row is done. Neither reports an error.
func TestPullerDocIDsAndFilter(t *testing.T) {
	ctx := context.Background()
	var mu sync.Mutex
	var asked []string
	filter := func(d DocumentInfo) bool {
		mu.Lock()
		asked = append(asked, d.DocID+":"+string(d.Body))
		mu.Unlock()
		return !strings.Contains(string(d.Body), "secret")
	}
	p, coll, peer, events := pullPeer(t, PullOptions{DocIDs: []string{"in", "filtered"}, Filter: filter})
	if ans := sendChanges(t, peer, `[[1,"out","1-aa"],[2,"in","1-bb"],[3,"filtered","1-cc"]]`); ans != `[0,[],[]]` {
		t.Fatalf("answer %s, want out not asked for", ans)
	}
	if err := sendRev(t, peer, revProps("out", "1-aa", "1"), `{}`); err != nil {
		t.Fatal(err)
	}
	if err := sendRev(t, peer, revProps("filtered", "1-cc", "3"), `{"secret":1}`); err != nil {
		t.Fatal(err)
	}
	if cp, ok := p.Checkpoint(); !ok || cp != "1" {
		t.Fatalf("checkpoint %q %v with row 2 awaited, want 1", cp, ok)
	}
	if err := sendRev(t, peer, revProps("in", "1-bb", "2"), `{"ok":1}`); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"out", "filtered"} {
		if _, err := coll.GetWithDeleted(ctx, id); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("%s saved: %v", id, err)
		}
	}
	if got := bodyOf(t, coll, "in"); got != `{"ok":1}` {
		t.Fatalf("in: %s", got)
	}
	if cp, ok := p.Checkpoint(); !ok || cp != "3" || p.Pending() != 0 {
		t.Fatalf("checkpoint %q %v pending %d, want 3", cp, ok, p.Pending())
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(asked, " ") != `filtered:{"secret":1} in:{"ok":1}` {
		t.Fatalf("filter asked about %v", asked)
	}
	for _, id := range []string{"out", "filtered", "in"} {
		for _, ev := range events.byDoc(id) {
			if ev.Err != nil {
				t.Fatalf("%s: %+v", id, ev)
			}
		}
	}
}

// A pulled revision that does not descend from the local current one is saved and
// reported to OnConflict (local and remote revision IDs) before its row counts as
// done; one that extends the local revision is not a conflict.
func TestPullerReportsConflicts(t *testing.T) {
	ctx := context.Background()
	var mu sync.Mutex
	var conflicts []ConflictEvent
	var p *Puller
	_, coll, peer := scriptedPeer(t, SessionConfig{OnConflict: func(ev ConflictEvent) {
		mu.Lock()
		conflicts = append(conflicts, ev)
		mu.Unlock()
	}}, nil, func(s *Session) {
		var err error
		if p, err = s.AddPuller(0, PullOptions{Active: true}); err != nil {
			t.Fatal(err)
		}
	}, "mine", "ext")
	mine, ext := mustRev(t, coll, "mine"), mustRev(t, coll, "ext")
	theirs := "1-" + strings.Repeat("f", 32)
	child := "2-" + strings.Repeat("e", 32)
	sendChanges(t, peer, `[[1,"mine","`+theirs+`"],[2,"ext","`+child+`"]]`)
	if err := sendRev(t, peer, revProps("mine", theirs, "1"), `{"theirs":true}`); err != nil {
		t.Fatal(err)
	}
	if err := sendRev(t, peer, revProps("ext", child, "2", blip.Property{Key: "history", Value: ext}), `{"g":2}`); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(conflicts) != 1 || conflicts[0].DocID != "mine" || conflicts[0].LocalRevID != mine || conflicts[0].RemoteRevID != theirs {
		t.Fatalf("conflicts %+v, want mine: local %s remote %s", conflicts, mine, theirs)
	}
	revs, err := coll.Revisions(ctx, "mine")
	if err != nil {
		t.Fatal(err)
	}
	leaves := 0
	for _, r := range revs {
		if r.Leaf {
			leaves++
		}
	}
	if leaves != 2 {
		t.Fatalf("mine has %d leaves, want both branches kept: %+v", leaves, revs)
	}
	if cp, ok := p.Checkpoint(); !ok || cp != "2" {
		t.Fatalf("checkpoint %q %v", cp, ok)
	}
}

// A deletion pulled for a document here makes it a tombstone; a row for a document
// deleted on the peer and unknown here is still asked for (its tombstone is kept).
func TestPullerDeletions(t *testing.T) {
	ctx := context.Background()
	p, coll, peer, events := pullPeer(t, PullOptions{}, "del")
	del := mustRev(t, coll, "del")
	tomb := "2-" + strings.Repeat("d", 32)
	if ans := sendChanges(t, peer, `[[1,"del","`+tomb+`",1],[2,"never","1-aa",1]]`); ans != `[["`+del+`"],[]]` {
		t.Fatalf("answer %s", ans)
	}
	if err := sendRev(t, peer, revProps("del", tomb, "1", blip.Property{Key: "history", Value: del}, blip.Property{Key: "deleted", Value: "1"}), `{}`); err != nil {
		t.Fatal(err)
	}
	if err := sendRev(t, peer, revProps("never", "1-aa", "2", blip.Property{Key: "deleted", Value: "true"}), `{"_deleted":true}`); err != nil {
		t.Fatal(err)
	}
	for id, rev := range map[string]string{"del": tomb, "never": "1-aa"} {
		d, err := coll.GetWithDeleted(ctx, id)
		if err != nil || !d.Deleted || d.RevID != rev {
			t.Fatalf("%s: %+v %v, want tombstone %s", id, d, err, rev)
		}
		if evs := events.byDoc(id); len(evs) != 1 || !evs[0].Deleted || evs[0].Err != nil {
			t.Fatalf("%s events %+v", id, evs)
		}
	}
	if cp, ok := p.Checkpoint(); !ok || cp != "2" {
		t.Fatalf("checkpoint %q %v", cp, ok)
	}
}

// A rev for a collection index the session does not have, or a malformed changes body,
// is refused with an error reply and changes nothing.
func TestPullerRefusesMalformedRequests(t *testing.T) {
	p, _, peer, _ := pullPeer(t, PullOptions{})
	_, err := request(t, peer, wire.ProfileChanges, nil, `{"not":"a list"}`)
	replyError(t, err, "BLIP", 400)
	_, err = request(t, peer, wire.ProfileChanges, nil, `[[1,"x"]]`)
	replyError(t, err, "BLIP", 400)
	_, err = request(t, peer, wire.ProfileRev, append(revProps("x", "1-aa", "1"), blip.Property{Key: "collection", Value: "3"}), `{}`)
	if err == nil {
		t.Fatal("rev for an unknown collection accepted")
	}
	_, err = request(t, peer, wire.ProfileNoRev, blip.Properties{{Key: "rev", Value: "1-aa"}}, "")
	replyError(t, err, "BLIP", 400)
	if _, ok := p.Checkpoint(); ok || p.Pending() != 0 {
		t.Fatalf("malformed requests moved the puller: pending %d", p.Pending())
	}
}

// The same revision listed again at a later sequence before it arrived (Sync Gateway
// lists a document anew when a channel grant brings it back): once it has arrived no row
// stays pending, and the checkpoint reaches the later sequence. Before, the second row
// replaced the first in the wanted list, the first row stayed pending for the rest of
// the session, the checkpoint never passed it and a one-shot pull never completed.
func TestPullerSameRevisionListedTwice(t *testing.T) {
	p, coll, peer, _ := pullPeer(t, PullOptions{})
	if ans := sendChanges(t, peer, `[[1,"d","1-aa"]]`); ans != `[[]]` {
		t.Fatalf("first answer %s", ans)
	}
	if ans := sendChanges(t, peer, `[[2,"d","1-aa"]]`); ans != `[[]]` {
		t.Fatalf("second answer %s", ans)
	}
	if cp, ok := p.Checkpoint(); ok && cp != "1" {
		t.Fatalf("checkpoint %q before the revision arrived", cp)
	}
	// The peer answers each request: the second rev is already here.
	for _, seq := range []string{"1", "2"} {
		if err := sendRev(t, peer, revProps("d", "1-aa", seq), `{"v":1}`); err != nil {
			t.Fatal(err)
		}
	}
	if cp, ok := p.Checkpoint(); !ok || cp != "2" || p.Pending() != 0 {
		t.Fatalf("checkpoint %q %v pending %d; want 2 and nothing pending", cp, ok, p.Pending())
	}
	if got := bodyOf(t, coll, "d"); got != `{"v":1}` {
		t.Fatalf("d: %s", got)
	}
	if sendChanges(t, peer, `[]`); !p.CaughtUp() {
		t.Fatal("the pull did not complete")
	}
}

// Quiesce (a clean stop): the revisions already asked for still arrive and are saved,
// a changes list arriving meanwhile is answered with nothing wanted and its rows stay
// pending, so the checkpoint, saved after Quiesce returns, stays before them.
func TestPullerQuiesce(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, coll, peer, _ := pullPeer(t, PullOptions{})
	sendChanges(t, peer, `[[1,"a","1-aa"],[2,"b","1-bb"]]`)
	quiesced := make(chan struct{})
	go func() {
		p.s.Quiesce(ctx)
		close(quiesced)
	}()
	waitFor(t, "quiescing", func() bool { return p.s.quiescing.Load() })
	if ans := sendChanges(t, peer, `[[3,"c","1-cc"]]`); ans != `[]` {
		t.Fatalf("answer while quiescing %s, want nothing asked for", ans)
	}
	select {
	case <-quiesced:
		t.Fatal("Quiesce returned with revisions still on the way")
	default:
	}
	for _, r := range [][2]string{{"a", "1-aa"}, {"b", "1-bb"}} {
		if err := sendRev(t, peer, revProps(r[0], r[1], map[string]string{"a": "1", "b": "2"}[r[0]]), `{}`); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-quiesced:
	case <-ctx.Done():
		t.Fatal("Quiesce did not return once the requested revisions arrived")
	}
	if cp, ok := p.Checkpoint(); !ok || cp != "2" || p.Pending() != 1 {
		t.Fatalf("checkpoint %q %v pending %d; want 2 with row 3 pending", cp, ok, p.Pending())
	}
	if _, err := coll.GetWithDeleted(ctx, "c"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("c: %v", err)
	}
}

// A peer that lists changes without sending the revisions (hostile, or stuck) cannot make
// an active puller keep a row per change without limit: once maxPendingRows rows are
// unfinished, the next changes list is answered only when some settle (here one norev),
// as Couchbase Lite's puller queues changes messages while too many revisions it asked
// for are missing. Before, every list was answered at once and the wanted list grew.
func TestPullerHoldsChangesBackWhileTooManyRowsPending(t *testing.T) {
	old := maxPendingRows
	maxPendingRows = 50
	t.Cleanup(func() { maxPendingRows = old })
	p, _, peer, _ := pullPeer(t, PullOptions{})
	list := func(from int) string {
		var b strings.Builder
		b.WriteString("[")
		for i := from; i < from+maxPendingRows; i++ {
			if i > from {
				b.WriteString(",")
			}
			fmt.Fprintf(&b, `[%d,"d%d","1-aa"]`, i, i)
		}
		b.WriteString("]")
		return b.String()
	}
	if ans := sendChanges(t, peer, list(1)); strings.Count(ans, "[]") != maxPendingRows {
		t.Fatalf("first list answered %s, want every row wanted", ans)
	}
	if p.Pending() != maxPendingRows {
		t.Fatalf("%d rows pending, want %d", p.Pending(), maxPendingRows)
	}
	answered := make(chan error, 1)
	go func() {
		m := blip.NewRequest(wire.ProfileChanges)
		m.Body = []byte(list(1 + maxPendingRows))
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err := peer.Send(ctx, m)
		answered <- err
	}()
	select {
	case err := <-answered:
		t.Fatalf("second list answered (%v) with %d rows pending", err, maxPendingRows)
	case <-time.After(300 * time.Millisecond):
	}
	if _, err := request(t, peer, wire.ProfileNoRev, blip.Properties{{Key: "id", Value: "d1"}, {Key: "rev", Value: "1-aa"}, {Key: "sequence", Value: "1"}}, ""); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-answered:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("second list not answered once a row settled")
	}
	if got := p.Pending(); got != 2*maxPendingRows-1 {
		t.Errorf("%d rows pending, want %d", got, 2*maxPendingRows-1)
	}
}
