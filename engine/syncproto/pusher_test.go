package syncproto

import (
	"context"
	"errors"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/p2psync/libp2psync/engine/blip"
	"github.com/p2psync/libp2psync/engine/store"
	"github.com/p2psync/libp2psync/engine/syncproto/wire"
)

// A list the peer refuses after the pusher has caught up (here a transient 503) must
// stop the pusher with that error. Before, the failing batch goroutine recorded the
// error while the pusher waited for new local changes, nobody looked at it, and the
// list's rows stayed outstanding for ever: a one-shot replication never completed.
func TestPusherBatchFailureAfterCaughtUp(t *testing.T) {
	ctx := context.Background()
	var lists atomic.Int32
	s, coll := pushPeer(t, SessionConfig{}, func(ctx context.Context, req *blip.Message) (*blip.Message, error) {
		body, err := req.ReadBody()
		if err != nil {
			return nil, err
		}
		if string(body) == "[]" {
			return nil, nil // caught up
		}
		if lists.Add(1) == 1 {
			return &blip.Message{Type: blip.TypeResponse, Body: []byte("[304]")}, nil
		}
		return nil, &blip.Error{Domain: "HTTP", Code: 503, Message: "try later"}
	}, nil)
	p, err := s.StartPusher(0, PushOptions{Propose: true, Continuous: true})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !p.CaughtUp() {
		if time.Now().After(deadline) {
			t.Fatal("pusher never caught up")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if _, err := coll.Save(ctx, "b", []byte(`{"v":2}`), store.SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.Done():
	case <-time.After(10 * time.Second):
		t.Fatalf("pusher still running with %d rows outstanding after its list was refused", p.Pending())
	}
	if p.Err() == nil || !strings.Contains(p.Err().Error(), "503") || !errors.Is(p.Err(), ErrRetryLater) {
		t.Fatalf("pusher error = %v, want the refusal as ErrRetryLater", p.Err())
	}
	select {
	case <-s.Failed():
	default:
		t.Fatal("session not failed")
	}
}

// A rev the peer answers with a transient status (it is shutting down: its store refused
// the write) is not a verdict on the document. It must stay pending — no document error,
// the checkpoint behind it — and the session must end with ErrRetryLater so that the
// replicator reconnects and sends it again. Before, it was reported as a failed document
// and counted as done, and a one-shot replication completed without it.
func TestPusherRevRefusedTransiently(t *testing.T) {
	var docErrors atomic.Int32
	cfg := SessionConfig{OnDocument: func(ev DocumentEvent) {
		if ev.Err != nil {
			docErrors.Add(1)
		}
	}}
	s, _ := pushPeer(t, cfg, func(ctx context.Context, req *blip.Message) (*blip.Message, error) {
		body, err := req.ReadBody()
		if err != nil || string(body) == "[]" {
			return nil, err
		}
		return &blip.Message{Type: blip.TypeResponse, Body: []byte("[0]")}, nil
	}, func(ctx context.Context, req *blip.Message) (*blip.Message, error) {
		return nil, &blip.Error{Domain: "HTTP", Code: 503, Message: "shutting down"}
	})
	p, err := s.StartPusher(0, PushOptions{Propose: true})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.Failed():
	case <-time.After(10 * time.Second):
		t.Fatal("session did not fail after the transient refusal")
	}
	if err := s.Err(); !errors.Is(err, ErrRetryLater) {
		t.Errorf("session error = %v, want ErrRetryLater", err)
	}
	if p.Checkpoint() != 0 || docErrors.Load() != 0 {
		t.Errorf("checkpoint %d, %d document errors: the refused revision must stay pending", p.Checkpoint(), docErrors.Load())
	}
}

// A pusher prepares several lists at once, but must send them in sequence order: the
// peer's puller knows the order of the rows only by the order of the messages, and
// checkpoints a sequence once every row of the messages before it is handled. Before, a
// later list could overtake an earlier one whose preparation took longer (here a filter
// that waits; in the chaos test, a busy machine); the peer then saved a checkpoint past
// the earlier list's rows while their revisions were still on the way, and after a
// reconnection never asked for them again (documents stayed at older revisions there,
// with no error on either side).
func TestPusherSendsListsInSequenceOrder(t *testing.T) {
	ctx := context.Background()
	type list struct {
		number uint64
		seqs   []wire.Sequence
	}
	var (
		mu    sync.Mutex
		lists []list
	)
	secondListArrived := make(chan struct{})
	var arrivedOnce sync.Once
	s, coll, _ := pushPeerWith(t, SessionConfig{}, map[string]blip.Handler{
		wire.ProfileChanges: func(ctx context.Context, req *blip.Message) (*blip.Message, error) {
			body, err := req.ReadBody()
			if err != nil {
				return nil, err
			}
			rows, err := wire.DecodeChanges(body)
			if err != nil {
				return nil, err
			}
			if len(rows) == 0 {
				return nil, nil // caught up
			}
			l := list{number: req.Number}
			for _, r := range rows {
				l.seqs = append(l.seqs, r.Sequence)
				if r.DocID == "b" {
					arrivedOnce.Do(func() { close(secondListArrived) })
				}
			}
			mu.Lock()
			lists = append(lists, l)
			mu.Unlock()
			return &blip.Message{Type: blip.TypeResponse, Body: []byte("[]")}, nil // nothing wanted
		},
	})
	for _, id := range []string{"b", "c"} {
		if _, err := coll.Save(ctx, id, []byte(`{"v":1}`), store.SaveOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// One row per list: "a" (sequence 1) is the first list, "b" the second. The first
	// list's preparation waits until the second list reaches the peer, or 2 s (a pusher
	// that keeps the order never sends it first).
	p, err := s.StartPusher(0, PushOptions{BatchSize: 1, Filter: func(d DocumentInfo) bool {
		if d.DocID == "a" {
			select {
			case <-secondListArrived:
			case <-time.After(2 * time.Second):
			}
		}
		return true
	}})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.Done():
	case <-time.After(20 * time.Second):
		t.Fatal("the pusher did not finish")
	}
	if err := p.Err(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	sort.Slice(lists, func(i, j int) bool { return lists[i].number < lists[j].number })
	var prev uint64
	for _, l := range lists {
		for _, seq := range l.seqs {
			n, _ := seq.Uint()
			if n <= prev {
				t.Errorf("lists by message number: %+v; sequence %d sent after %d", lists, n, prev)
			}
			prev = n
		}
	}
	if prev != 3 {
		t.Errorf("lists %+v, want the sequences 1 to 3", lists)
	}
}

// A revision sent over the peer's deletion (as the document created again) while an
// earlier revision of the same branch, sent in another list, reaches the peer first: the
// peer refuses the later one as a conflict, although by then it holds its parent. The
// pusher must send it again on top of what the peer took, not drop it as a conflict for
// the pull side (which has nothing to bring: the document then stayed different on the
// two sides for good, chaos test "shared-09").
func TestPusherResendsRevRefusedOnStaleParent(t *testing.T) {
	ctx := context.Background()
	var (
		mu    sync.Mutex
		sends [][]string // histories of the revs of "d" received
		s     *Session
		coll  *store.Collection
	)
	ready := make(chan struct{})
	propose := func(ctx context.Context, req *blip.Message) (*blip.Message, error) {
		body, err := req.ReadBody()
		if err != nil {
			return nil, err
		}
		rows, err := wire.DecodeProposeChanges(body)
		if err != nil || len(rows) == 0 {
			return nil, err
		}
		return &blip.Message{Type: blip.TypeResponse, Body: wire.EncodeProposeChangesResponse(make([]wire.ProposeAnswer, len(rows)))}, nil
	}
	rev := func(ctx context.Context, req *blip.Message) (*blip.Message, error) {
		<-ready
		body, err := req.ReadBody()
		if err != nil {
			return nil, err
		}
		r, err := wire.DecodeRev(req.Properties, body)
		if err != nil || r.DocID != "d" {
			return nil, err
		}
		mu.Lock()
		sends = append(sends, r.History)
		first := len(sends) == 1
		mu.Unlock()
		if first {
			// The earlier revision of the branch arrived first and was acknowledged.
			s.anc.set(coll, "d", "2-"+strings.Repeat("a", 32))
			return nil, &blip.Error{Domain: "HTTP", Code: 409, Message: "conflict"}
		}
		return nil, nil
	}
	s, coll = pushPeer(t, SessionConfig{}, propose, rev)
	close(ready)
	root, deletion, taken := "1-"+strings.Repeat("0", 32), "2-"+strings.Repeat("d", 32), "2-"+strings.Repeat("a", 32)
	for _, r := range []store.RemoteRevision{
		{DocID: "d", RevID: root, Body: []byte(`{}`)},
		{DocID: "d", RevID: taken, History: []string{root}, Body: []byte(`{"v":"again"}`)},
		{DocID: "d", RevID: deletion, History: []string{root}, Deleted: true},
	} {
		if _, err := coll.PutExistingRevision(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := coll.SetRemoteAncestor(ctx, "peer", "d", deletion); err != nil {
		t.Fatal(err)
	}
	edit, err := coll.Save(ctx, "d", []byte(`{"v":"edited"}`), store.SaveOptions{ParentRevID: taken})
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.StartPusher(0, PushOptions{Propose: true, PullResolvesConflicts: true})
	if err != nil {
		t.Fatal(err)
	}
	waitDone(t, p)
	mu.Lock()
	defer mu.Unlock()
	if len(sends) != 2 || len(sends[1]) == 0 || sends[1][0] != taken {
		t.Fatalf("revs of %s received with histories %v; want it sent again on top of %s", edit.RevID, sends, taken)
	}
}
