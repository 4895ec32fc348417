package syncproto

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/p2psync/libp2psync/engine/blip"
	"github.com/p2psync/libp2psync/engine/store"
	"github.com/p2psync/libp2psync/engine/syncproto/wire"
)

// The setup shared by syncproto's tests. Two shapes:
//   - two sessions over loopback, as engine/replicator and engine/listener run them
//     (servePassive + dialActive);
//   - one session against a scripted peer: a bare blip.Conn whose handlers play Sync
//     Gateway or Couchbase Lite (scriptedPeer, and pushPeer/pullPeer built on it).

func openDB(t *testing.T) *store.Database {
	t.Helper()
	db, err := store.Open(context.Background(), t.TempDir()+"/db", store.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func saveDoc(t *testing.T, c *store.Collection, id, body string) string {
	t.Helper()
	d, err := c.Save(context.Background(), id, []byte(body), store.SaveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return d.RevID
}

func mustRev(t *testing.T, c *store.Collection, id string) string {
	t.Helper()
	d, err := c.GetWithDeleted(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return d.RevID
}

func bodyOf(t *testing.T, c *store.Collection, id string) string {
	t.Helper()
	d, err := c.Get(context.Background(), id)
	if err != nil {
		t.Fatalf("get %q: %v", id, err)
	}
	return string(d.Body)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// replyError checks that err is a BLIP error reply domain/code.
func replyError(t *testing.T, err error, domain string, code int) {
	t.Helper()
	var be *blip.Error
	if !errors.As(err, &be) || be.Domain != domain || be.Code != code {
		t.Fatalf("reply %v, want %s/%d", err, domain, code)
	}
}

// eventLog records a session's document events (SessionConfig.OnDocument).
type eventLog struct {
	mu  sync.Mutex
	evs []DocumentEvent
}

func (l *eventLog) add(ev DocumentEvent) {
	l.mu.Lock()
	l.evs = append(l.evs, ev)
	l.mu.Unlock()
}

func (l *eventLog) byDoc(id string) []DocumentEvent {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []DocumentEvent
	for _, ev := range l.evs {
		if ev.DocID == id {
			out = append(out, ev)
		}
	}
	return out
}

func (l *eventLog) accessRemoved() map[string]DocumentEvent {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string]DocumentEvent{}
	for _, ev := range l.evs {
		if ev.AccessRemoved {
			out[ev.DocID] = ev
		}
	}
	return out
}

// passivePeer serves db's collections with passive sessions made by Accept (as
// engine/listener does) and returns the URL to dial and the last accepted session.
type passivePeer struct {
	url  string
	mu   sync.Mutex
	sess *Session
	evs  eventLog
}

func (p *passivePeer) session() *Session {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.sess
}

func servePassive(t *testing.T, db *store.Database, cfg PassiveConfig) *passivePeer {
	t.Helper()
	return servePassiveLimits(t, db, cfg, Limits{})
}

// servePassiveLimits is servePassive with the sessions' Limits.
func servePassiveLimits(t *testing.T, db *store.Database, cfg PassiveConfig, limits Limits) *passivePeer {
	t.Helper()
	peer := &passivePeer{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := Accept(w, r, SessionConfig{Database: db, OnDocument: peer.evs.add, Limits: limits})
		if err != nil {
			return
		}
		s.ServePassive(cfg)
		peer.mu.Lock()
		peer.sess = s
		peer.mu.Unlock()
		s.Start()
		<-s.Done()
		s.Close()
	}))
	t.Cleanup(srv.Close)
	peer.url = wsURL(srv)
	return peer
}

func wsURL(srv *httptest.Server) string {
	return "ws" + strings.TrimPrefix(srv.URL, "http") + "/db/_blipsync"
}

// dialActive opens an active session to url (not started).
func dialActive(t *testing.T, url string, db *store.Database, cfg SessionConfig) *Session {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cfg.Database = db
	s, err := Dial(ctx, url, DialOptions{}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = s.Disconnect(CloseNormal, "")
		s.Close()
	})
	return s
}

// dialBare opens a bare BLIP connection to url (a passive session), playing the active
// peer by hand; handlers answer the session's requests.
func dialBare(t *testing.T, url string, handlers map[string]blip.Handler) *blip.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := blip.Dial(ctx, url, blip.DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for profile, h := range handlers {
		c.Handle(profile, h)
	}
	c.Start()
	t.Cleanup(func() { _ = c.Close(blip.CloseNormal, "") })
	return c
}

// request sends profile with props and body on c and waits for the reply.
func request(t *testing.T, c *blip.Conn, profile string, props blip.Properties, body string) (*blip.Message, error) {
	t.Helper()
	m := blip.NewRequest(profile)
	for _, p := range props {
		m.Properties.Set(p.Key, p.Value)
	}
	m.Body = []byte(body)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return c.Send(ctx, m)
}

// scriptedPeer starts an active session (cfg's Role, Database and RemoteID filled in) on
// a fresh database holding docs (body {"id":<id>}), connected to a bare blip.Conn whose
// handlers are the given ones, and returns the peer's end. before runs on the session
// before the connection starts (to add pullers).
func scriptedPeer(t *testing.T, cfg SessionConfig, handlers map[string]blip.Handler, before func(*Session), docs ...string) (*Session, *store.Collection, *blip.Conn) {
	t.Helper()
	return scriptedPeerOn(t, nil, cfg, handlers, before, docs...)
}

// scriptedPeerOn is scriptedPeer over the subprotocols protos, offered and accepted (nil:
// blip's default, CBMobile_3 and 2).
func scriptedPeerOn(t *testing.T, protos []string, cfg SessionConfig, handlers map[string]blip.Handler, before func(*Session), docs ...string) (*Session, *store.Collection, *blip.Conn) {
	t.Helper()
	db := openDB(t)
	coll := db.DefaultCollection()
	for _, id := range docs {
		saveDoc(t, coll, id, `{"id":"`+id+`"}`)
	}
	serverConn := make(chan *blip.Conn, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := blip.Upgrade(w, r, blip.UpgradeOptions{Subprotocols: protos})
		if err != nil {
			close(serverConn)
			return
		}
		for profile, h := range handlers {
			c.Handle(profile, h)
		}
		c.Start()
		serverConn <- c
	}))
	t.Cleanup(srv.Close)
	dctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, _, err := blip.Dial(dctx, wsURL(srv), blip.DialOptions{Subprotocols: protos})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Role, cfg.Database, cfg.RemoteID = RoleActive, db, "peer"
	s := NewSession(conn, cfg)
	s.SetCollections([]*store.Collection{coll}, false)
	if before != nil {
		before(s)
	}
	conn.Start()
	server := <-serverConn
	t.Cleanup(func() {
		_ = conn.Close(blip.CloseNormal, "")
		s.Close()
		if server != nil {
			_ = server.Close(blip.CloseNormal, "")
		}
	})
	if server == nil {
		t.Fatal("no server connection")
	}
	return s, coll, server
}

// pushPeer starts a session against a test peer whose proposeChanges and rev handlers
// are the given ones, with doc "a" saved locally. cfg's Role, Database and RemoteID are
// filled in.
func pushPeer(t *testing.T, cfg SessionConfig, propose, rev blip.Handler) (*Session, *store.Collection) {
	t.Helper()
	handlers := map[string]blip.Handler{wire.ProfileProposeChanges: propose}
	if rev != nil {
		handlers[wire.ProfileRev] = rev
	}
	s, coll, _ := pushPeerWith(t, cfg, handlers)
	return s, coll
}

// pushPeerWith is pushPeer with the test peer's handlers given by profile; it also
// returns the test peer's end of the connection. Doc "a" holds {"v":1}.
func pushPeerWith(t *testing.T, cfg SessionConfig, handlers map[string]blip.Handler) (*Session, *store.Collection, *blip.Conn) {
	t.Helper()
	s, coll, server := scriptedPeer(t, cfg, handlers, nil)
	saveDoc(t, coll, "a", `{"v":1}`)
	return s, coll, server
}

// pullPeer starts an active session with one puller (opts) on a fresh database holding
// docs, and returns the peer's end of the connection to drive it with changes and rev
// messages, as Sync Gateway would.
func pullPeer(t *testing.T, opts PullOptions, docs ...string) (*Puller, *store.Collection, *blip.Conn, *eventLog) {
	t.Helper()
	events := &eventLog{}
	var p *Puller
	_, coll, server := scriptedPeer(t, SessionConfig{OnDocument: events.add}, nil, func(s *Session) {
		opts.Active = true
		var err error
		if p, err = s.AddPuller(0, opts); err != nil {
			t.Fatal(err)
		}
	}, docs...)
	return p, coll, server, events
}

// runPush starts a pusher on collection 0 and waits until it has ended without error
// and has settled every sequence of the collection.
func runPush(t *testing.T, s *Session, opts PushOptions) *Pusher {
	t.Helper()
	p, err := s.StartPusher(0, opts)
	if err != nil {
		t.Fatal(err)
	}
	waitDone(t, p)
	if err := p.Err(); err != nil {
		t.Fatal(err)
	}
	return p
}

// waitDone waits until p has ended.
func waitDone(t *testing.T, p *Pusher) {
	t.Helper()
	select {
	case <-p.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the pusher did not end")
	}
}

func revProps(id, rev, seq string, extra ...blip.Property) blip.Properties {
	return append(blip.Properties{{Key: "id", Value: id}, {Key: "rev", Value: rev}, {Key: "sequence", Value: seq}}, extra...)
}

// sendChanges sends a changes list as the peer and returns the puller's answer.
func sendChanges(t *testing.T, peer *blip.Conn, body string) string {
	t.Helper()
	reply, err := request(t, peer, wire.ProfileChanges, nil, body)
	if err != nil {
		t.Fatalf("changes: %v", err)
	}
	b, err := reply.ReadBody()
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func sendRev(t *testing.T, peer *blip.Conn, props blip.Properties, body string) error {
	t.Helper()
	_, err := request(t, peer, wire.ProfileRev, props, body)
	return err
}
