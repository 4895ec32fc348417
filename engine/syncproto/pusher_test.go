package syncproto

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/p2psync/libp2psync/engine/blip"
	"github.com/p2psync/libp2psync/engine/store"
)

// A list the peer refuses after the pusher has caught up (here a transient 503) must
// stop the pusher with that error. Before, the failing batch goroutine recorded the
// error while the pusher waited for new local changes, nobody looked at it, and the
// list's rows stayed outstanding for ever: a one-shot replication never completed.
func TestPusherBatchFailureAfterCaughtUp(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, t.TempDir()+"/db", store.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	coll := db.DefaultCollection()
	if _, err := coll.Save(ctx, "a", []byte(`{"v":1}`), store.SaveOptions{}); err != nil {
		t.Fatal(err)
	}

	var lists atomic.Int32
	serverConn := make(chan *blip.Conn, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := blip.Upgrade(w, r, blip.UpgradeOptions{})
		if err != nil {
			close(serverConn)
			return
		}
		c.Handle(ProfileProposeChanges, func(ctx context.Context, req *blip.Message) (*blip.Message, error) {
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
		})
		c.Start()
		serverConn <- c
	}))
	t.Cleanup(srv.Close)
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, _, err := blip.Dial(dctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/db/_blipsync", blip.DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s := NewSession(conn, SessionConfig{Role: RoleActive, Database: db, RemoteID: "peer"})
	s.SetCollections([]*store.Collection{coll}, false)
	conn.Start()
	server := <-serverConn
	t.Cleanup(func() {
		_ = conn.Close(blip.CloseNormal, "")
		s.Close()
		if server != nil {
			_ = server.Close(blip.CloseNormal, "")
		}
	})
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
	if p.Err() == nil || !strings.Contains(p.Err().Error(), "503") {
		t.Fatalf("pusher error = %v, want the refusal", p.Err())
	}
	select {
	case <-s.Failed():
	default:
		t.Fatal("session not failed")
	}
}
