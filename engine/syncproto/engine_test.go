package syncproto

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/p2psync/libp2psync/engine/blip"
	"github.com/p2psync/libp2psync/engine/store"
	"github.com/p2psync/libp2psync/engine/syncproto/wire"
)

// Direct tests of the session engine against a scripted peer (a bare blip.Conn playing
// Sync Gateway or Couchbase Lite): what a puller does with each kind of rev and norev,
// what a pusher does with each proposeChanges answer and rev reply.

// A rev whose body the store cannot hold is refused HTTP/400, reported as a document
// error and counted done (asking again would get the same body); nothing is saved.
func TestPullerRefusesReservedKey(t *testing.T) {
	ctx := context.Background()
	p, coll, peer, events := pullPeer(t, PullOptions{})
	if ans := sendChanges(t, peer, `[[1,"bad","1-a"],[2,"notobj","1-b"]]`); ans != `[[],[]]` {
		t.Fatalf("changes answer %s", ans)
	}
	err := sendRev(t, peer, revProps("bad", "1-a", "1"), `{"ok":1,"_secret":2}`)
	replyError(t, err, "HTTP", 400)
	if !strings.Contains(err.Error(), "_secret") {
		t.Fatalf("refusal %q does not name the key", err)
	}
	err = sendRev(t, peer, revProps("notobj", "1-b", "2"), `[1,2]`)
	replyError(t, err, "HTTP", 400)
	for _, id := range []string{"bad", "notobj"} {
		if _, err := coll.GetWithDeleted(ctx, id); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("%s saved despite the refusal: %v", id, err)
		}
		evs := events.byDoc(id)
		var de *DocError
		if len(evs) != 1 || !errors.As(evs[0].Err, &de) || de.Code != 400 || evs[0].Direction != DirectionPull {
			t.Fatalf("%s: events %+v, want one HTTP/400 document error", id, evs)
		}
	}
	if cp, ok := p.Checkpoint(); !ok || cp != "2" || p.Pending() != 0 {
		t.Fatalf("checkpoint %q %v, pending %d; want 2, nothing pending", cp, ok, p.Pending())
	}
}

// The protocol's own keys are taken out of a received body and everything else is
// stored as sent, in its order.
func TestPullerStripsProtocolKeys(t *testing.T) {
	ctx := context.Background()
	_, coll, peer, events := pullPeer(t, PullOptions{})
	sendChanges(t, peer, `[[1,"d","1-a"]]`)
	err := sendRev(t, peer, revProps("d", "1-a", "1"), `{"_id":"d","z":1,"_rev":"1-a","a":{"y":2,"x":3},"_revisions":{"start":1,"ids":["a"]}}`)
	if err != nil {
		t.Fatal(err)
	}
	d, err := coll.Get(ctx, "d")
	if err != nil || d.RevID != "1-a" {
		t.Fatalf("d: %+v, %v", d, err)
	}
	if string(d.Body) != `{"z":1,"a":{"y":2,"x":3}}` {
		t.Fatalf("stored body %s", d.Body)
	}
	if evs := events.byDoc("d"); len(evs) != 1 || evs[0].Err != nil || evs[0].RevID != "1-a" {
		t.Fatalf("events %+v", evs)
	}
}

// Malformed revs are answered with an error and leave nothing behind: no docID (400),
// a delta against a base this side lacks (422, counted, the row stays pending so the
// sender's full body completes it).
func TestPullerMalformedAndDeltaRefused(t *testing.T) {
	ctx := context.Background()
	p, coll, peer, _ := pullPeer(t, PullOptions{})
	sendChanges(t, peer, `[[1,"d","2-b"]]`)
	err := sendRev(t, peer, blip.Properties{{Key: "rev", Value: "2-b"}, {Key: "sequence", Value: "1"}}, `{}`)
	replyError(t, err, "HTTP", 400)

	err = sendRev(t, peer, revProps("d", "2-b", "1", blip.Property{Key: "deltaSrc", Value: "1-a"}, blip.Property{Key: "history", Value: "1-a"}), `{"v":2}`)
	replyError(t, err, "HTTP", 422)
	if p.s.Stats().DeltasRefused != 1 {
		t.Fatalf("stats %+v, want one refused delta", p.s.Stats())
	}
	if p.Pending() != 1 {
		t.Fatalf("pending %d after the refused delta, want 1", p.Pending())
	}
	if _, ok := p.Checkpoint(); ok {
		t.Fatal("checkpoint moved past a row still pending")
	}
	// The full body, as a pusher resends it after 422.
	if err := sendRev(t, peer, revProps("d", "2-b", "1", blip.Property{Key: "history", Value: "1-a"}), `{"v":2}`); err != nil {
		t.Fatal(err)
	}
	if d, err := coll.Get(ctx, "d"); err != nil || d.RevID != "2-b" || string(d.Body) != `{"v":2}` {
		t.Fatalf("d: %+v, %v", d, err)
	}
	if cp, ok := p.Checkpoint(); !ok || cp != "1" {
		t.Fatalf("checkpoint %q %v, want 1", cp, ok)
	}
}

// A norev (the peer no longer has the revision it listed) completes the row and
// reports the document with the peer's status.
func TestPullerNoRev(t *testing.T) {
	p, _, peer, events := pullPeer(t, PullOptions{})
	sendChanges(t, peer, `[[5,"gone","1-a"],[6,"gone2","1-b"]]`)
	m := blip.NewRequest(wire.ProfileNoRev)
	for _, pr := range (wire.NoRev{DocID: "gone", RevID: "1-a", Sequence: "5", Error: 410, Reason: "purged"}).Props() {
		m.Properties.Set(pr.Key, pr.Value)
	}
	m.NoReply = true
	if _, err := peer.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "norev handled", func() bool { return len(events.byDoc("gone")) == 1 })
	var de *DocError
	if ev := events.byDoc("gone")[0]; !errors.As(ev.Err, &de) || de.Code != 410 || de.Message != "purged" {
		t.Fatalf("norev event %+v", ev)
	}
	if cp, ok := p.Checkpoint(); !ok || cp != "5" || p.Pending() != 1 {
		t.Fatalf("checkpoint %q %v, pending %d; want 5 and gone2 pending", cp, ok, p.Pending())
	}
}

// Each proposeChanges answer leads to its own outcome: accepted => rev sent and
// acknowledged; 304 => done without sending; 409 (no pull side to resolve it) => a
// conflict document error; 403 => rejected; a rev answered with an error => that error.
func TestPusherProposalAnswers(t *testing.T) {
	ctx := context.Background()
	var mu sync.Mutex
	revsSeen := map[string]string{}
	var events eventLog
	s, coll, _ := pushPeerWith(t, SessionConfig{OnDocument: events.add}, map[string]blip.Handler{
		wire.ProfileProposeChanges: func(ctx context.Context, req *blip.Message) (*blip.Message, error) {
			body, err := req.ReadBody()
			if err != nil || string(body) == "[]" {
				return nil, err
			}
			rows, err := wire.DecodeProposeChanges(body)
			if err != nil {
				return nil, err
			}
			ans := make([]wire.ProposeAnswer, len(rows))
			for i, r := range rows {
				switch r.DocID {
				case "have":
					ans[i].Status = wire.ProposeAlreadyHave
				case "conflict":
					ans[i] = wire.ProposeAnswer{Status: wire.ProposeConflict, CurrentRev: "9-other"}
				case "forbidden":
					ans[i].Status = wire.ProposeForbidden
				}
			}
			return &blip.Message{Type: blip.TypeResponse, Body: wire.EncodeProposeChangesResponse(ans)}, nil
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
			revsSeen[rev.DocID] = string(rev.Body)
			mu.Unlock()
			if rev.DocID == "refused" {
				return nil, &blip.Error{Domain: "HTTP", Code: 500, Message: "disk full"}
			}
			return nil, nil
		},
	})
	for _, id := range []string{"have", "conflict", "forbidden", "refused"} {
		saveDoc(t, coll, id, `{"id":"`+id+`"}`)
	}
	p := runPush(t, s, PushOptions{Propose: true})
	last, _ := coll.LastSequence(ctx)
	waitFor(t, "push settled", func() bool { return p.Settled() >= last && p.Pending() == 0 })
	mu.Lock()
	if len(revsSeen) != 2 || revsSeen["a"] != `{"v":1}` || revsSeen["refused"] != `{"id":"refused"}` {
		t.Errorf("revs sent %v, want a and refused only", revsSeen)
	}
	mu.Unlock()
	want := map[string]int{"a": 0, "conflict": 409, "forbidden": 403, "refused": 500}
	for id, code := range want {
		evs := events.byDoc(id)
		if len(evs) != 1 || evs[0].Direction != DirectionPush {
			t.Errorf("%s: events %+v", id, evs)
			continue
		}
		var de *DocError
		switch {
		case code == 0 && evs[0].Err != nil:
			t.Errorf("%s: %v, want success", id, evs[0].Err)
		case code != 0 && (!errors.As(evs[0].Err, &de) || de.Code != code):
			t.Errorf("%s: %v, want a document error %d", id, evs[0].Err, code)
		}
	}
	if evs := events.byDoc("have"); len(evs) != 0 {
		t.Errorf("have: events %+v, want none (the peer had it)", evs)
	}
	if p.Sent() != 1 {
		t.Errorf("sent %d, want 1 acknowledged revision", p.Sent())
	}
}

// The passive handlers refuse what they cannot serve with the status a Couchbase Lite
// client expects, and keep checkpoints per client ID with revision checks.
func TestPassiveHandlersRefuse(t *testing.T) {
	remote := openDB(t)
	peer := servePassive(t, remote, PassiveConfig{Collections: []*store.Collection{remote.DefaultCollection()}, AllowPull: true})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := blip.Dial(ctx, peer.url, blip.DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c.Start()
	t.Cleanup(func() { _ = c.Close(blip.CloseNormal, "") })
	send := func(profile string, props blip.Properties, body string) (*blip.Message, error) {
		m := blip.NewRequest(profile)
		for _, p := range props {
			m.Properties.Set(p.Key, p.Value)
		}
		m.Body = []byte(body)
		return c.Send(ctx, m)
	}
	// Legacy mode (no getCollections): a collection property is refused.
	_, err = send(wire.ProfileGetCheckpoint, blip.Properties{{Key: "client", Value: "x"}, {Key: "collection", Value: "0"}}, "")
	replyError(t, err, "BLIP", 400)
	_, err = send(wire.ProfileGetCheckpoint, nil, "")
	replyError(t, err, "BLIP", 400) // no client ID
	_, err = send(wire.ProfileGetCheckpoint, blip.Properties{{Key: "client", Value: "x"}}, "")
	replyError(t, err, "HTTP", 404)
	_, err = send(wire.ProfileSetCheckpoint, blip.Properties{{Key: "client", Value: "x"}}, "not json")
	replyError(t, err, "HTTP", 400)
	r, err := send(wire.ProfileSetCheckpoint, blip.Properties{{Key: "client", Value: "x"}}, `{"local":3}`)
	if err != nil {
		t.Fatal(err)
	}
	rev := r.Properties.Get("rev")
	_, err = send(wire.ProfileSetCheckpoint, blip.Properties{{Key: "client", Value: "x"}, {Key: "rev", Value: "0-stale"}}, `{"local":4}`)
	replyError(t, err, "HTTP", 409)
	r, err = send(wire.ProfileGetCheckpoint, blip.Properties{{Key: "client", Value: "x"}}, "")
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := r.ReadBody(); r.Properties.Get("rev") != rev || string(b) != `{"local":3}` {
		t.Fatalf("checkpoint %s rev %q, want the first one (rev %q)", b, r.Properties.Get("rev"), rev)
	}
	// Pushing to a pull-only listener.
	_, err = send(wire.ProfileProposeChanges, nil, `[["d","1-a"]]`)
	replyError(t, err, "HTTP", 403)
	// subChanges: filters and other versionings are not served; one feed per collection.
	_, err = send(wire.ProfileSubChanges, blip.Properties{{Key: "filter", Value: "app/f"}}, "")
	replyError(t, err, "LiteCore", 18)
	_, err = send(wire.ProfileSubChanges, blip.Properties{{Key: "versioning", Value: "version-vectors"}}, "")
	replyError(t, err, "LiteCore", 501)
	if _, err := send(wire.ProfileSubChanges, nil, ""); err != nil {
		t.Fatal(err)
	}
	_, err = send(wire.ProfileSubChanges, nil, "")
	replyError(t, err, "LiteCore", 501)
}
