package syncproto

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/p2psync/libp2psync/engine/blip"
	"github.com/p2psync/libp2psync/engine/store"
)

// pushPeer starts a session against a test peer whose proposeChanges and rev handlers
// are the given ones, with doc "a" saved locally. cfg's Role, Database and RemoteID are
// filled in.
func pushPeer(t *testing.T, cfg SessionConfig, propose, rev blip.Handler) (*Session, *store.Collection) {
	t.Helper()
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
	serverConn := make(chan *blip.Conn, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := blip.Upgrade(w, r, blip.UpgradeOptions{})
		if err != nil {
			close(serverConn)
			return
		}
		c.Handle(ProfileProposeChanges, propose)
		if rev != nil {
			c.Handle(ProfileRev, rev)
		}
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
	cfg.Role, cfg.Database, cfg.RemoteID = RoleActive, db, "peer"
	s := NewSession(conn, cfg)
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
	return s, coll
}

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
