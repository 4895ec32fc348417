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

// The inserter's promises, as a puller relies on them: every queued revision is saved
// or answered with its own error (one bad revision never costs the others their save),
// a revision's result is only returned once it is durable, revisions of one document
// are applied in the order they were queued, conflicts with the local current revision
// are reported, and a cancelled wait returns an error instead of hanging.

func rev1(digit string) string { return "1-" + strings.Repeat(digit, 32) }

// queueInserts starts inserts of revs (one goroutine each, in order) on in, waits until
// all are queued, and returns their results once run commits them.
func queueInserts(t *testing.T, in *inserter, coll *store.Collection, detect bool, revs ...store.RemoteRevision) func() []insertResult {
	t.Helper()
	results := make([]insertResult, len(revs))
	base := len(in.queue)
	var wg sync.WaitGroup
	for i, r := range revs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = in.insert(context.Background(), coll, r, detect, nil)
		}()
		// Queue them one by one so that the queue order is the slice order.
		waitFor(t, "revision queued", func() bool { return len(in.queue) == base+i+1 })
	}
	return func() []insertResult {
		wg.Wait()
		return results
	}
}

func startInserter(t *testing.T, in *inserter) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		in.run(ctx)
		close(done)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
}

// Revisions queued together are all saved; a revision the store refuses (a malformed
// revision ID, a body that is not an object) gets its own error and the others in its
// batch are saved all the same. Each result is returned only once the revision can be
// read back.
func TestInserterBadRevisionDoesNotLoseTheOthers(t *testing.T) {
	ctx := context.Background()
	db := openDB(t)
	coll := db.DefaultCollection()
	in := newInserter(db, 16)
	revs := []store.RemoteRevision{
		{DocID: "a", RevID: rev1("a"), Body: []byte(`{"n":1}`)},
		{DocID: "bad", RevID: "not-a-revid", Body: []byte(`{}`)},
		{DocID: "b", RevID: rev1("b"), Body: []byte(`{"n":2}`)},
		{DocID: "notobj", RevID: rev1("c"), Body: []byte(`[1]`)},
		{DocID: "c", RevID: rev1("c"), Body: []byte(`{"n":3}`), Deleted: true},
	}
	wait := queueInserts(t, in, coll, false, revs...)
	startInserter(t, in)
	results := wait()
	for i, r := range revs {
		res := results[i]
		switch r.DocID {
		case "bad":
			if !errors.Is(res.err, store.ErrInvalidRevID) {
				t.Errorf("bad: %+v, want ErrInvalidRevID", res)
			}
		case "notobj":
			if res.err == nil || !perItem(res.err) {
				t.Errorf("notobj: %+v, want a per-revision error", res)
			}
		default:
			if res.err != nil || !res.res.Inserted || res.res.Sequence == 0 {
				t.Errorf("%s: %+v, want inserted", r.DocID, res)
				continue
			}
			d, err := coll.GetWithDeleted(ctx, r.DocID)
			if err != nil || d.RevID != r.RevID || d.Deleted != r.Deleted {
				t.Errorf("%s after its result: %+v, %v", r.DocID, d, err)
			}
		}
	}
	for _, id := range []string{"bad", "notobj"} {
		if _, err := coll.GetWithDeleted(ctx, id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s stored despite its error: %v", id, err)
		}
	}
	// The same revision again is a no-op, not an error.
	if again := in.insert(ctx, coll, revs[0], false, nil); again.err != nil || again.res.Inserted {
		t.Errorf("second insert of a: %+v, want a no-op", again)
	}
}

// Two revisions of one document queued back to back are applied in order: the child
// after its parent (a batch keeps one revision per document, the next one waits for
// the commit), so neither is refused and the child ends current.
func TestInserterKeepsPerDocumentOrder(t *testing.T) {
	ctx := context.Background()
	db := openDB(t)
	coll := db.DefaultCollection()
	in := newInserter(db, 16)
	p1, p2, p3 := rev1("1"), "2-"+strings.Repeat("2", 32), "3-"+strings.Repeat("3", 32)
	wait := queueInserts(t, in, coll, true,
		store.RemoteRevision{DocID: "d", RevID: p1, Body: []byte(`{"g":1}`)},
		store.RemoteRevision{DocID: "e", RevID: p1, Body: []byte(`{}`)},
		store.RemoteRevision{DocID: "d", RevID: p2, History: []string{p1}, Body: []byte(`{"g":2}`)},
		store.RemoteRevision{DocID: "d", RevID: p3, History: []string{p2, p1}, Body: []byte(`{"g":3}`)},
	)
	startInserter(t, in)
	var prevSeq uint64
	for i, res := range wait() {
		if res.err != nil || !res.res.Inserted || res.conflictWith != "" {
			t.Fatalf("insert %d: %+v", i, res)
		}
		if i != 1 {
			if res.res.Sequence <= prevSeq {
				t.Errorf("insert %d got sequence %d after %d: not in queue order", i, res.res.Sequence, prevSeq)
			}
			prevSeq = res.res.Sequence
		}
	}
	d, err := coll.Get(ctx, "d")
	if err != nil || d.RevID != p3 || string(d.Body) != `{"g":3}` {
		t.Fatalf("d: %+v, %v; want generation 3 current", d, err)
	}
}

// With conflict detection, a revision that does not descend from the local current one
// reports it (the resolver's input); one that extends it, one already held, and a
// tombstone over a tombstone do not. Without detection nothing is reported.
func TestInserterReportsConflicts(t *testing.T) {
	ctx := context.Background()
	db := openDB(t)
	coll := db.DefaultCollection()
	local := saveDoc(t, coll, "c", `{"local":true}`)
	ext := saveDoc(t, coll, "x", `{}`)
	delRev := saveDoc(t, coll, "t", `{}`)
	tomb, err := coll.Delete(ctx, "t", store.SaveOptions{ParentRevID: delRev})
	if err != nil {
		t.Fatal(err)
	}
	in := newInserter(db, 16)
	startInserter(t, in)
	insert := func(detect bool, r store.RemoteRevision) insertResult {
		t.Helper()
		res := in.insert(ctx, coll, r, detect, nil)
		if res.err != nil {
			t.Fatalf("%s %s: %v", r.DocID, r.RevID, res.err)
		}
		return res
	}
	remote := rev1("f")
	if res := insert(true, store.RemoteRevision{DocID: "c", RevID: remote, Body: []byte(`{"remote":true}`)}); res.conflictWith != local {
		t.Errorf("concurrent revision: conflictWith %q, want the local %q", res.conflictWith, local)
	}
	if res := insert(true, store.RemoteRevision{DocID: "x", RevID: "2-" + strings.Repeat("e", 32), History: []string{ext}, Body: []byte(`{}`)}); res.conflictWith != "" {
		t.Errorf("extending revision reported as a conflict with %q", res.conflictWith)
	}
	if res := insert(true, store.RemoteRevision{DocID: "x", RevID: ext, Body: []byte(`{}`)}); res.conflictWith != "" || res.res.Inserted {
		t.Errorf("revision already held: %+v", res)
	}
	other := "2-" + strings.Repeat("9", 32)
	if res := insert(true, store.RemoteRevision{DocID: "t", RevID: other, History: []string{rev1("8")}, Deleted: true}); res.conflictWith != "" {
		t.Errorf("tombstone over tombstone %s reported as a conflict with %q", tomb.RevID, res.conflictWith)
	}
	saveDoc(t, coll, "n", `{}`)
	if res := insert(false, store.RemoteRevision{DocID: "n", RevID: rev1("7"), Body: []byte(`{}`)}); res.conflictWith != "" {
		t.Errorf("conflict reported without detection: %q", res.conflictWith)
	}
}

// A waiter whose context ends gets the context's error at once, whether its revision
// is still queued or the inserter has stopped; revisions left in the queue when the
// inserter stops are answered with the stop's error and not saved.
func TestInserterCancellation(t *testing.T) {
	ctx := context.Background()
	db := openDB(t)
	coll := db.DefaultCollection()
	in := newInserter(db, 4)
	cctx, cancel := context.WithCancel(ctx)
	got := make(chan insertResult, 1)
	go func() {
		got <- in.insert(cctx, coll, store.RemoteRevision{DocID: "w", RevID: rev1("1"), Body: []byte(`{}`)}, false, nil)
	}()
	waitFor(t, "revision queued", func() bool { return len(in.queue) == 1 })
	cancel()
	select {
	case r := <-got:
		if !errors.Is(r.err, context.Canceled) {
			t.Fatalf("cancelled wait: %+v, want context.Canceled", r)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a cancelled wait hung")
	}
	if _, err := coll.GetWithDeleted(ctx, "w"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("w saved before the inserter ran: %v", err)
	}
	// The inserter stops with revisions queued: their waiters get its error.
	wait := queueInserts(t, in, coll, false, store.RemoteRevision{DocID: "q", RevID: rev1("2"), Body: []byte(`{}`)})
	rctx, stop := context.WithCancel(ctx)
	stop()
	in.run(rctx)
	for _, r := range wait() {
		if !errors.Is(r.err, context.Canceled) {
			t.Fatalf("queued when the inserter stopped: %+v, want context.Canceled", r)
		}
	}
	if _, err := coll.GetWithDeleted(ctx, "q"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("q saved by a stopped inserter: %v", err)
	}
	// A wait on a stopped inserter with a full queue ends with its context.
	for len(in.queue) < cap(in.queue) {
		in.queue <- &insertReq{done: make(chan insertResult, 1)}
	}
	tctx, tcancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer tcancel()
	if r := in.insert(tctx, coll, store.RemoteRevision{DocID: "z", RevID: rev1("3")}, false, nil); !errors.Is(r.err, context.DeadlineExceeded) {
		t.Fatalf("wait on a full queue: %+v, want its deadline", r)
	}
}

// Through the session: many revs sent at once (as Sync Gateway streams them) are each
// answered only when the revision is in the store, a bad one among them is refused with
// HTTP/400 and reported, and the checkpoint reaches the last sequence once all are
// answered.
func TestPullerConcurrentRevsAnsweredWhenDurable(t *testing.T) {
	ctx := context.Background()
	p, coll, peer, events := pullPeer(t, PullOptions{})
	const n = 40
	var rows []string
	for i := 1; i <= n; i++ {
		rows = append(rows, fmt.Sprintf(`[%d,"doc%02d","%s"]`, i, i, rev1("a")))
	}
	sendChanges(t, peer, "["+strings.Join(rows, ",")+"]")
	type sent struct {
		id    string
		reply <-chan blip.Reply
	}
	var all []sent
	for i := 1; i <= n; i++ {
		id := fmt.Sprintf("doc%02d", i)
		body := fmt.Sprintf(`{"i":%d}`, i)
		if i == 17 {
			body = `{"i":17,"_bad":1}` // a reserved key the store cannot hold
		}
		m := blip.NewRequest(wire.ProfileRev)
		for _, pr := range revProps(id, rev1("a"), fmt.Sprint(i)) {
			m.Properties.Set(pr.Key, pr.Value)
		}
		m.Body = []byte(body)
		ch, err := peer.SendAsync(m)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, sent{id, ch})
	}
	for i, s := range all {
		var r blip.Reply
		select {
		case r = <-s.reply:
		case <-time.After(10 * time.Second):
			t.Fatalf("no reply to the rev of %s", s.id)
		}
		if i+1 == 17 {
			replyError(t, r.Err, "HTTP", 400)
			continue
		}
		if r.Err != nil {
			t.Fatalf("rev of %s: %v", s.id, r.Err)
		}
		// Acknowledged: the revision must be readable now.
		d, err := coll.Get(ctx, s.id)
		if err != nil || string(d.Body) != fmt.Sprintf(`{"i":%d}`, i+1) {
			t.Fatalf("%s acknowledged but stored as %+v, %v", s.id, d, err)
		}
	}
	if _, err := coll.GetWithDeleted(ctx, "doc17"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("doc17 stored despite its refusal: %v", err)
	}
	if evs := events.byDoc("doc17"); len(evs) != 1 || evs[0].Err == nil {
		t.Errorf("doc17 events %+v, want one error", evs)
	}
	if p.Received() != n-1 {
		t.Errorf("received %d, want %d", p.Received(), n-1)
	}
	if cp, ok := p.Checkpoint(); !ok || cp != wire.UintSequence(n) || p.Pending() != 0 {
		t.Errorf("checkpoint %q %v pending %d; want %d and nothing pending", cp, ok, p.Pending(), n)
	}
}
