package syncproto

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/p2psync/libp2psync/engine/blip"
	"github.com/p2psync/libp2psync/engine/blobstore"
	"github.com/p2psync/libp2psync/engine/syncproto/wire"
)

// A pushed revision's blobs may be fetched by the peer only while the peer has not
// answered its rev, and only under that document's ID: getAttachment answers the bytes
// then, 403 for another document or after the reply, 400 without a digest.
func TestPusherGrantsBlobsUntilRevAnswered(t *testing.T) {
	ctx := context.Background()
	content := []byte("blob content, streamed from the store")
	var peer atomic.Pointer[blip.Conn]
	type result struct {
		body      string
		otherDoc  error
		noDigest  error
		fetchErr  error
		callsMade bool
	}
	var got atomic.Pointer[result]
	var digest blobstore.Digest
	getAttachment := func(ctx context.Context, props blip.Properties) ([]byte, error) {
		m := blip.NewRequest(wire.ProfileGetAttachment)
		for _, p := range props {
			m.Properties.Set(p.Key, p.Value)
		}
		reply, err := peer.Load().Send(ctx, m)
		if err != nil {
			return nil, err
		}
		return reply.ReadBody()
	}
	s, coll, server := pushPeerWith(t, SessionConfig{}, map[string]blip.Handler{
		wire.ProfileProposeChanges: func(ctx context.Context, req *blip.Message) (*blip.Message, error) {
			if _, err := req.ReadBody(); err != nil {
				return nil, err
			}
			resp := &blip.Message{Type: blip.TypeResponse, Body: []byte("[]")}
			resp.Properties.Set("blobs", "true")
			return resp, nil
		},
		wire.ProfileRev: func(ctx context.Context, req *blip.Message) (*blip.Message, error) {
			if req.Properties.Get("id") != "b" {
				return nil, nil
			}
			r := &result{callsMade: true}
			body, err := getAttachment(ctx, blip.Properties{{Key: "digest", Value: digest.String()}, {Key: "docID", Value: "b"}})
			r.body, r.fetchErr = string(body), err
			_, r.otherDoc = getAttachment(ctx, blip.Properties{{Key: "digest", Value: digest.String()}, {Key: "docID", Value: "a"}})
			_, r.noDigest = getAttachment(ctx, blip.Properties{{Key: "docID", Value: "b"}})
			got.Store(r)
			return nil, nil
		},
	})
	peer.Store(server)
	w, err := s.cfg.Database.Blobs().Create()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(content); err != nil {
		t.Fatal(err)
	}
	b, err := w.Commit()
	_ = w.Close()
	if err != nil {
		t.Fatal(err)
	}
	digest = b.Digest
	saveDoc(t, coll, "b", `{"file":`+string(blobstore.Properties(b, "text/plain"))+`}`)
	p, err := s.StartPusher(0, PushOptions{Propose: true})
	if err != nil {
		t.Fatal(err)
	}
	waitDone(t, p)
	last, _ := coll.LastSequence(ctx)
	waitFor(t, "push settled", func() bool { return p.Settled() >= last })
	r := got.Load()
	if r == nil || !r.callsMade {
		t.Fatal("the peer never received the rev of b")
	}
	if r.fetchErr != nil || r.body != string(content) {
		t.Fatalf("getAttachment while the rev was unanswered: %q, %v", r.body, r.fetchErr)
	}
	replyError(t, r.otherDoc, "HTTP", 403)
	replyError(t, r.noDigest, "HTTP", 400)
	_, err = getAttachment(ctx, blip.Properties{{Key: "digest", Value: digest.String()}, {Key: "docID", Value: "b"}})
	replyError(t, err, "HTTP", 403)
}
