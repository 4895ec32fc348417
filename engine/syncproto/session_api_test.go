package syncproto

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/p2psync/libp2psync/engine/blip"
	"github.com/p2psync/libp2psync/engine/delta"
	"github.com/p2psync/libp2psync/engine/store"
	"github.com/p2psync/libp2psync/engine/syncproto/wire"
)

// Misuse of the session API is refused with a named error, not a second feed or a panic.
func TestSessionAPIMisuse(t *testing.T) {
	s, _, _ := pushPeerWith(t, SessionConfig{}, nil)
	if _, err := s.StartPusher(3, PushOptions{}); !errors.Is(err, ErrUnknownCollection) {
		t.Fatalf("pusher on collection 3: %v", err)
	}
	if _, err := s.StartPusher(-1, PushOptions{}); !errors.Is(err, ErrUnknownCollection) {
		t.Fatalf("pusher on collection -1: %v", err)
	}
	if _, err := s.AddPuller(1, PullOptions{}); !errors.Is(err, ErrUnknownCollection) {
		t.Fatalf("puller on collection 1: %v", err)
	}
	if _, err := s.StartPusher(0, PushOptions{Continuous: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.StartPusher(0, PushOptions{}); !errors.Is(err, ErrPeerIncompatible) {
		t.Fatalf("second pusher on one collection: %v", err)
	}
}

// A peer answering a list with something that is not an answer ends the push with
// ErrBadMessage (no hang, nothing sent, nothing counted done).
func TestPusherMalformedAnswers(t *testing.T) {
	for name, tc := range map[string]struct {
		profile, answer string
		propose         bool
	}{
		"changes known revs not strings": {wire.ProfileChanges, `[[1,2]]`, false},
		"changes answer too long":        {wire.ProfileChanges, `[0,0,0,0]`, false},
		"proposeChanges object":          {wire.ProfileProposeChanges, `{"a":1}`, true},
	} {
		t.Run(name, func(t *testing.T) {
			var revs atomic.Int32
			s, _, _ := pushPeerWith(t, SessionConfig{}, map[string]blip.Handler{
				tc.profile: func(ctx context.Context, req *blip.Message) (*blip.Message, error) {
					body, err := req.ReadBody()
					if err != nil || string(body) == "[]" {
						return nil, err
					}
					return &blip.Message{Type: blip.TypeResponse, Body: []byte(tc.answer)}, nil
				},
				wire.ProfileRev: func(ctx context.Context, req *blip.Message) (*blip.Message, error) {
					revs.Add(1)
					return nil, nil
				},
			})
			p, err := s.StartPusher(0, PushOptions{Propose: tc.propose})
			if err != nil {
				t.Fatal(err)
			}
			waitDone(t, p)
			if !errors.Is(p.Err(), ErrBadMessage) {
				t.Fatalf("push ended with %v, want ErrBadMessage", p.Err())
			}
			if p.Checkpoint() != 0 || p.Sent() != 0 || revs.Load() != 0 {
				t.Fatalf("checkpoint %d, sent %d, %d revs after a malformed answer", p.Checkpoint(), p.Sent(), revs.Load())
			}
		})
	}
}

// Deltas received with delta sync on: applied against the stored base and saved whole;
// a delta against a base this side lacks, a tombstone, or one that does not apply is
// answered 422 and leaves the row pending for the full body.
func TestPullerAppliesDeltas(t *testing.T) {
	ctx := context.Background()
	var p *Puller
	s, coll, peer := scriptedPeer(t, SessionConfig{DeltaSync: true}, nil, func(s *Session) {
		var err error
		if p, err = s.AddPuller(0, PullOptions{Active: true}); err != nil {
			t.Fatal(err)
		}
	})
	long := strings.Repeat("y", 250)
	baseBody := `{"text":"` + long + `","n":1}`
	base := saveDoc(t, coll, "d", baseBody)
	saveDoc(t, coll, "t", `{}`)
	tomb := remove(t, coll, "t")
	reply, err := request(t, peer, wire.ProfileChanges, nil, `[[1,"d","2-aa"],[2,"t","3-bb"],[3,"d2","1-cc"]]`)
	if err != nil {
		t.Fatal(err)
	}
	if reply.Properties.Get("deltas") != "true" {
		t.Fatalf("changes answer without deltas=true: %v", reply.Properties)
	}
	next := `{"text":"` + long + `","n":2}`
	d, err := delta.Create([]byte(baseBody), []byte(next))
	if err != nil {
		t.Fatal(err)
	}
	if err := sendRev(t, peer, revProps("d", "2-aa", "1", blip.Property{Key: "history", Value: base}, blip.Property{Key: "deltaSrc", Value: base}), string(d)); err != nil {
		t.Fatal(err)
	}
	if got := bodyOf(t, coll, "d"); got != next {
		t.Fatalf("d after the delta: %s", got)
	}
	err = sendRev(t, peer, revProps("t", "3-bb", "2", blip.Property{Key: "history", Value: tomb}, blip.Property{Key: "deltaSrc", Value: tomb}), `{"n":3}`)
	replyError(t, err, "HTTP", 422)
	err = sendRev(t, peer, revProps("d2", "1-cc", "3", blip.Property{Key: "deltaSrc", Value: "1-zz"}), `{"n":3}`)
	replyError(t, err, "HTTP", 422)
	if _, err := coll.GetWithDeleted(ctx, "d2"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("d2 saved from a delta without base: %v", err)
	}
	st := s.Stats()
	if st.DeltasReceived != 1 || st.DeltasRefused != 2 {
		t.Fatalf("stats %+v, want 1 delta received and 2 refused", st)
	}
	if cp, ok := p.Checkpoint(); !ok || cp != "1" || p.Pending() != 2 {
		t.Fatalf("checkpoint %q %v pending %d; want 1 with two rows awaiting full bodies", cp, ok, p.Pending())
	}
}

// The default compression level leaves a connection to a peer on the same host
// uncompressed; an explicit level compresses on any connection.
func TestLimitsBlipConfigLoopback(t *testing.T) {
	if cfg := (Limits{}).BlipConfig(blip.Config{}); !cfg.UncompressedOnLoopback {
		t.Error("default level: loopback connections compressed")
	}
	for _, level := range []int{-1, 1, 6, 9} {
		if cfg := (Limits{CompressionLevel: level}).BlipConfig(blip.Config{}); cfg.UncompressedOnLoopback || cfg.CompressionLevel != level {
			t.Errorf("level %d: %+v", level, cfg)
		}
	}
}
