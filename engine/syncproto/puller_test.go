package syncproto

import (
	"context"
	"testing"
	"time"

	"github.com/p2psync/libp2psync/engine/blip"
	"github.com/p2psync/libp2psync/engine/syncproto/wire"
)

// The handlers of two changes lists may start in either order. When the later list is
// handled first (here its rows are all known, so they are done at once), the checkpoint
// must stay before the earlier list, which has arrived but whose handler has not started
// yet. Before, the earlier list's barrier was set by its handler: in between, the
// position passed rows that were not even registered, and a checkpoint saved then made
// the next connection skip them.
func TestPullerCheckpointWaitsForListsNotYetHandled(t *testing.T) {
	ctx := context.Background()
	s, coll, peer := pushPeerWith(t, SessionConfig{}, nil)
	a, err := coll.GetWithDeleted(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.AddPuller(0, PullOptions{Active: true})
	if err != nil {
		t.Fatal(err)
	}
	p.SetStart("4")
	// The first list's handler starts only once the second list has been handled; the
	// position is read in between.
	secondHandled := make(chan struct{})
	between := make(chan wire.Sequence, 1)
	s.Conn().Handle(wire.ProfileChanges, func(ctx context.Context, req *blip.Message) (*blip.Message, error) {
		body, err := req.ReadBody()
		if err != nil {
			return nil, err
		}
		req.Body = body
		if string(body) == `[[5,"x","1-0000000000000000000000000000000000000001"]]` {
			select {
			case <-secondHandled:
			case <-time.After(10 * time.Second):
				t.Error("the second list was never handled")
			}
			return s.handleChanges(ctx, req)
		}
		resp, err := s.handleChanges(ctx, req)
		pos, _ := p.Checkpoint()
		between <- pos
		close(secondHandled)
		return resp, err
	})
	var replies []<-chan blip.Reply
	for _, body := range []string{
		`[[5,"x","1-0000000000000000000000000000000000000001"]]`, // not here: wanted
		`[[6,"a","` + a.RevID + `"]]`,                            // already here: done at once
	} {
		msg := blip.NewRequest(wire.ProfileChanges)
		msg.Body = []byte(body)
		ch, err := peer.SendAsync(msg)
		if err != nil {
			t.Fatal(err)
		}
		replies = append(replies, ch)
	}
	for _, ch := range replies {
		select {
		case r := <-ch:
			if r.Err != nil {
				t.Fatal(r.Err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no answer to a changes list")
		}
	}
	if pos := <-between; pos != "4" {
		t.Errorf("position %s while the list with sequence 5 was not handled yet, want 4", pos)
	}
	if pos, _ := p.Checkpoint(); pos != "4" {
		t.Errorf("position %s while sequence 5 is wanted, want 4", pos)
	}
}
