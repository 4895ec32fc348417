package syncproto

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/p2psync/libp2psync/engine/blip"
	"github.com/p2psync/libp2psync/engine/blobstore"
	"github.com/p2psync/libp2psync/engine/store"
	"github.com/p2psync/libp2psync/engine/syncproto/wire"
)

// A received revision's blobs are fetched from its sender before it is saved: the bytes
// must match the digest and length the body announces, or the revision is not saved, is
// reported, and the checkpoint stays before it.

// peerBlob makes content a blob in a scratch store and returns its dictionary.
func peerBlob(t *testing.T, content string) (blobstore.Blob, string) {
	t.Helper()
	w, err := openDB(t).Blobs().Create()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte(content)); err != nil {
		t.Fatal(err)
	}
	b, err := w.Commit()
	_ = w.Close()
	if err != nil {
		t.Fatal(err)
	}
	return b, string(blobstore.Properties(b, "application/octet-stream"))
}

func TestPullerFetchesBlobs(t *testing.T) {
	good, goodDict := peerBlob(t, "the right bytes")
	_, badDict := peerBlob(t, "what the body announces") // the peer serves other bytes
	_, bigDict := peerBlob(t, "a blob longer than the cap of 24 bytes")
	var mu sync.Mutex
	asked := map[string]int{}
	var p *Puller
	var events eventLog
	s, coll, peer := scriptedPeer(t, SessionConfig{OnDocument: events.add, Limits: Limits{MaxBlobSize: 24}}, map[string]blip.Handler{
		wire.ProfileGetAttachment: func(ctx context.Context, req *blip.Message) (*blip.Message, error) {
			mu.Lock()
			asked[req.Properties.Get("docID")]++
			mu.Unlock()
			switch req.Properties.Get("docID") {
			case "good":
				if req.Properties.Get("digest") != good.Digest.String() {
					return nil, &blip.Error{Domain: "HTTP", Code: 404}
				}
				return &blip.Message{Type: blip.TypeResponse, Body: []byte("the right bytes")}, nil
			case "bad":
				return &blip.Message{Type: blip.TypeResponse, Body: []byte("WHAT THE BODY ANNOUNCES")}, nil
			}
			return nil, &blip.Error{Domain: "HTTP", Code: 404, Message: "missing"}
		},
	}, func(s *Session) {
		var err error
		if p, err = s.AddPuller(0, PullOptions{Active: true}); err != nil {
			t.Fatal(err)
		}
	})
	ctx := context.Background()
	sendChanges(t, peer, `[[1,"good","1-aa"],[2,"bad","1-bb"],[3,"big","1-cc"],[4,"missing","1-dd"]]`)
	if err := sendRev(t, peer, revProps("good", "1-aa", "1"), `{"f":`+goodDict+`}`); err != nil {
		t.Fatal(err)
	}
	if n, err := s.cfg.Database.Blobs().Stat(good.Digest); err != nil || n != good.Length {
		t.Fatalf("fetched blob: %d, %v", n, err)
	}
	if got := bodyOf(t, coll, "good"); got != `{"f":`+goodDict+`}` {
		t.Fatalf("good stored as %s", got)
	}
	for _, tc := range []struct {
		id, rev, seq, dict string
		code               int
	}{
		{"bad", "1-bb", "2", badDict, 502},
		{"big", "1-cc", "3", bigDict, 413},
		{"missing", "1-dd", "4", `{"@type":"blob","digest":"sha1-AAAAAAAAAAAAAAAAAAAAAAAAAAA=","length":3}`, 502},
	} {
		err := sendRev(t, peer, revProps(tc.id, tc.rev, tc.seq), `{"f":`+tc.dict+`}`)
		replyError(t, err, "HTTP", tc.code)
		if _, err := coll.GetWithDeleted(ctx, tc.id); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("%s saved without its blob: %v", tc.id, err)
		}
		var de *DocError
		if evs := events.byDoc(tc.id); len(evs) != 1 || !errors.As(evs[0].Err, &de) || de.Code != tc.code {
			t.Fatalf("%s events %+v, want one %d", tc.id, evs, tc.code)
		}
	}
	mu.Lock()
	if asked["big"] != 0 || asked["good"] != 1 || asked["bad"] != 1 {
		t.Errorf("getAttachment asked %v; want good and bad once, big never (its length is over the cap)", asked)
	}
	mu.Unlock()
	// The failed rows are held: nothing pending, but the checkpoint stays before them.
	if cp, ok := p.Checkpoint(); !ok || cp != "1" || p.Pending() != 0 {
		t.Fatalf("checkpoint %q %v pending %d; want 1 and nothing pending", cp, ok, p.Pending())
	}
}
