package syncproto

import (
	"context"
	"sort"
	"sync"
	"testing"

	"github.com/p2psync/libp2psync/engine/blip"
	"github.com/p2psync/libp2psync/engine/store"
	"github.com/p2psync/libp2psync/engine/syncproto/wire"
)

// scriptedPeer4 is scriptedPeer over CBMobile_4, with no documents and no pullers.
func scriptedPeer4(t *testing.T, handlers map[string]blip.Handler) (*Session, *store.Collection) {
	t.Helper()
	s, coll, _ := scriptedPeerOn(t, []string{SubprotocolCBMobile4}, SessionConfig{}, handlers, nil)
	if !s.VersionVectors() {
		t.Fatal("no CBMobile_4 connection")
	}
	return s, coll
}

// Under CBMobile_4 a small document is read whole with its version when its list is
// prepared, and sent as read: the version the peer accepted, with that version's body,
// even if the document was saved again while the list was on its way (the newer
// version follows as its own change). Before, the pusher read the versions, then read
// the document again after the peer's answer, and dropped the accepted version when it
// had been superseded meanwhile.
func TestPusherV4SendsTheProposedVersionAsRead(t *testing.T) {
	ctx := context.Background()
	var (
		mu    sync.Mutex
		coll  *store.Collection
		revs  []wire.Rev
		saved bool
	)
	handlers := map[string]blip.Handler{
		wire.ProfileProposeChanges: func(ctx context.Context, req *blip.Message) (*blip.Message, error) {
			body, err := req.ReadBody()
			if err != nil {
				return nil, err
			}
			rows, err := wire.DecodeProposeChanges(body)
			if err != nil || len(rows) == 0 {
				return nil, err
			}
			mu.Lock()
			defer mu.Unlock()
			answers := make([]wire.ProposeAnswer, len(rows))
			if !saved {
				saved = true
				if _, err := coll.Save(ctx, "e", []byte(`{"g":2}`), store.SaveOptions{}); err != nil {
					t.Error(err)
				}
			}
			return &blip.Message{Type: blip.TypeResponse, Body: wire.EncodeProposeChangesResponse(answers)}, nil
		},
		wire.ProfileRev: func(ctx context.Context, req *blip.Message) (*blip.Message, error) {
			body, err := req.ReadBody()
			if err != nil {
				return nil, err
			}
			rev, err := wire.DecodeRev(req.Properties, body)
			if err != nil {
				return nil, err
			}
			mu.Lock()
			revs = append(revs, rev)
			mu.Unlock()
			return &blip.Message{Type: blip.TypeResponse}, nil
		},
	}
	s, c := scriptedPeer4(t, handlers)
	coll = c
	saveDoc(t, coll, "e", `{"g":1}`)
	first, err := coll.Get(ctx, "e")
	if err != nil || first.Version == "" {
		t.Fatalf("no version: %+v, %v", first, err)
	}
	p, err := s.StartPusher(0, PushOptions{Propose: true, Continuous: true})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "every change settled", func() bool {
		last, _ := coll.LastSequence(ctx)
		mu.Lock()
		defer mu.Unlock()
		return len(revs) >= 1 && p.Checkpoint() == last
	})
	mu.Lock()
	defer mu.Unlock()
	// The peer's rev handlers run concurrently, so the two may be recorded in either
	// order: match them by sequence.
	sort.Slice(revs, func(i, j int) bool {
		a, _ := revs[i].Sequence.Uint()
		b, _ := revs[j].Sequence.Uint()
		return a < b
	})
	if len(revs) != 2 || revs[0].RevID != first.Version || string(revs[0].Body) != `{"g":1}` || string(revs[1].Body) != `{"g":2}` {
		t.Fatalf("revs sent %+v; want version %s with {\"g\":1}, and the newer one", revs, first.Version)
	}
}
