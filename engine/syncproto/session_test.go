package syncproto

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/p2psync/libp2psync/engine/blip"
	"github.com/p2psync/libp2psync/engine/store"
	"github.com/p2psync/libp2psync/engine/syncproto/wire"
)

// These tests drive two sessions against each other over loopback, set up as
// engine/replicator and engine/listener do it: Dial (active) and Accept (passive), Start,
// Handshake, then pushers and pullers.

// The lifecycle as the replicator runs it: Dial, SetCollections, Start, Handshake (no
// checkpoint yet), push with proposeChanges, save the checkpoint with SetCheckpoint; a
// second connection's Handshake finds it, and replacing it with a stale revision is
// refused with ErrCheckpointConflict.
func TestSessionPushAndCheckpointLifecycle(t *testing.T) {
	ctx := context.Background()
	local, remote := openDB(t), openDB(t)
	saveDoc(t, local.DefaultCollection(), "a", `{"z":1,"a":2}`)
	saveDoc(t, local.DefaultCollection(), "b", `{"n":"b"}`)
	peer := servePassive(t, remote, PassiveConfig{Collections: []*store.Collection{remote.DefaultCollection()}, AllowPush: true, AllowPull: true})

	s := dialActive(t, peer.url, local, SessionConfig{})
	if s.Legacy() || s.Subprotocol() != SubprotocolCBMobile4 || !s.VersionVectors() {
		t.Fatalf("subprotocol %q, legacy %v", s.Subprotocol(), s.Legacy())
	}
	s.SetCollections([]*store.Collection{local.DefaultCollection()}, true)
	s.Start()
	cps, err := s.Handshake(ctx, []string{"cp-1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(cps) != 1 || cps[0].Found || cps[0].Rev != "" {
		t.Fatalf("fresh peer returned checkpoints %+v", cps)
	}
	p := runPush(t, s, PushOptions{Propose: true})
	waitFor(t, "push settled", func() bool { return p.Settled() >= 2 && p.Checkpoint() >= 2 })
	if got := bodyOf(t, remote.DefaultCollection(), "a"); got != `{"z":1,"a":2}` {
		t.Fatalf("pushed body arrived as %s", got)
	}
	if got := bodyOf(t, remote.DefaultCollection(), "b"); got != `{"n":"b"}` {
		t.Fatalf("pushed body arrived as %s", got)
	}
	if st := s.Stats(); st.RevsSent != 2 {
		t.Fatalf("stats %+v, want 2 revisions sent", st)
	}
	rev1, err := s.SetCheckpoint(ctx, 0, "cp-1", "", wire.Checkpoint{Local: p.Checkpoint()})
	if err != nil || rev1 == "" {
		t.Fatalf("setCheckpoint: rev %q, %v", rev1, err)
	}
	cp, rev, err := s.GetCheckpoint(ctx, 0, "cp-1")
	if err != nil || rev != rev1 || cp.Local != p.Checkpoint() {
		t.Fatalf("getCheckpoint = %+v, %q, %v; want local %d, rev %q", cp, rev, err, p.Checkpoint(), rev1)
	}
	if _, _, err := s.GetCheckpoint(ctx, 0, "other"); !errors.Is(err, ErrNoCheckpoint) {
		t.Fatalf("missing checkpoint: %v, want ErrNoCheckpoint", err)
	}
	if _, err := s.SetCheckpoint(ctx, 0, "cp-1", "", wire.Checkpoint{Local: 1}); !errors.Is(err, ErrCheckpointConflict) {
		t.Fatalf("stale setCheckpoint: %v, want ErrCheckpointConflict", err)
	}
	if err := s.Disconnect(CloseNormal, "done"); err != nil {
		t.Fatal(err)
	}
	<-s.Done()
	var ce *CloseError
	if !errors.As(s.ConnErr(), &ce) || ce.Code != CloseNormal || ce.Remote {
		t.Fatalf("ConnErr = %v, want a local normal close", s.ConnErr())
	}
	if st := s.ConnStats(); st.BytesSent == 0 || st.BytesReceived == 0 {
		t.Fatalf("conn stats %+v", st)
	}

	s2 := dialActive(t, peer.url, local, SessionConfig{})
	s2.SetCollections([]*store.Collection{local.DefaultCollection()}, true)
	s2.Start()
	cps, err = s2.Handshake(ctx, []string{"cp-1"})
	if err != nil {
		t.Fatal(err)
	}
	if !cps[0].Found || cps[0].Rev != rev1 || cps[0].Checkpoint.Local != p.Checkpoint() {
		t.Fatalf("second handshake = %+v, want the saved checkpoint (rev %q)", cps[0], rev1)
	}
}

// Pull through the lifecycle: AddPuller before Start, Handshake, SubChanges; the
// passive side answers with a changes-mode pusher, the puller saves the revisions and
// its checkpoint reaches the peer's last sequence.
func TestSessionPullLifecycle(t *testing.T) {
	ctx := context.Background()
	local, remote := openDB(t), openDB(t)
	rc := remote.DefaultCollection()
	saveDoc(t, rc, "x", `{"b":1,"a":[1,2]}`)
	revY := saveDoc(t, rc, "y", `{"y":true}`)
	if _, err := rc.Delete(ctx, "y", store.SaveOptions{ParentRevID: revY}); err != nil {
		t.Fatal(err)
	}
	peer := servePassive(t, remote, PassiveConfig{Collections: []*store.Collection{rc}, AllowPull: true})
	var evs eventLog
	s := dialActive(t, peer.url, local, SessionConfig{OnDocument: evs.add})
	s.SetCollections([]*store.Collection{local.DefaultCollection()}, true)
	pl, err := s.AddPuller(0, PullOptions{Active: true})
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	if _, err := s.Handshake(ctx, []string{"cp-pull"}); err != nil {
		t.Fatal(err)
	}
	if err := s.SubChanges(ctx, 0, wire.SubChanges{Versioning: wire.VersioningRevTrees}); err != nil {
		t.Fatal(err)
	}
	last, err := rc.LastSequence(ctx)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "pull caught up", func() bool {
		seq, ok := pl.Checkpoint()
		n, _ := seq.Uint()
		return pl.CaughtUp() && ok && n == last
	})
	if got := bodyOf(t, local.DefaultCollection(), "x"); got != `{"b":1,"a":[1,2]}` {
		t.Fatalf("pulled body %s", got)
	}
	d, err := local.DefaultCollection().GetWithDeleted(ctx, "y")
	if err != nil || !d.Deleted {
		t.Fatalf("tombstone of y: %+v, %v", d, err)
	}
	if pl.Received() != 2 {
		t.Fatalf("received %d revisions, want 2", pl.Received())
	}
	evs.mu.Lock()
	defer evs.mu.Unlock()
	if len(evs.evs) != 2 {
		t.Fatalf("events %+v", evs.evs)
	}
	for _, ev := range evs.evs {
		if ev.Err != nil || ev.Direction != DirectionPull {
			t.Fatalf("event %+v", ev)
		}
	}
}

// A read-only passive peer refuses the push: the pusher ends with ErrForbidden; a
// push-only one refuses subChanges with ErrForbidden too.
func TestSessionRefusedDirections(t *testing.T) {
	ctx := context.Background()
	local, remote := openDB(t), openDB(t)
	saveDoc(t, local.DefaultCollection(), "a", `{}`)
	readOnly := servePassive(t, remote, PassiveConfig{Collections: []*store.Collection{remote.DefaultCollection()}, AllowPull: true})
	s := dialActive(t, readOnly.url, local, SessionConfig{})
	s.SetCollections([]*store.Collection{local.DefaultCollection()}, true)
	s.Start()
	if _, err := s.Handshake(ctx, []string{"c"}); err != nil {
		t.Fatal(err)
	}
	p, err := s.StartPusher(0, PushOptions{Propose: true})
	if err != nil {
		t.Fatal(err)
	}
	waitDone(t, p)
	if !errors.Is(p.Err(), ErrForbidden) {
		t.Fatalf("push to a read-only peer: %v, want ErrForbidden", p.Err())
	}
	if _, err := remote.DefaultCollection().Get(ctx, "a"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("read-only peer stored the document: %v", err)
	}

	pushOnly := servePassive(t, openDB(t), PassiveConfig{Collections: []*store.Collection{remote.DefaultCollection()}, AllowPush: true})
	s2 := dialActive(t, pushOnly.url, local, SessionConfig{})
	s2.SetCollections([]*store.Collection{local.DefaultCollection()}, true)
	if _, err := s2.AddPuller(0, PullOptions{Active: true}); err != nil {
		t.Fatal(err)
	}
	s2.Start()
	if _, err := s2.Handshake(ctx, []string{"c"}); err != nil {
		t.Fatal(err)
	}
	if err := s2.SubChanges(ctx, 0, wire.SubChanges{}); !errors.Is(err, ErrForbidden) {
		t.Fatalf("subChanges on a push-only peer: %v, want ErrForbidden", err)
	}
}

// Handshake errors: a collection the peer does not serve is ErrRemoteCollectionMissing
// naming it; a peer without getCollections is ErrPeerIncompatible.
func TestSessionHandshakeErrors(t *testing.T) {
	ctx := context.Background()
	local, remote := openDB(t), openDB(t)
	named, err := local.CreateCollection(ctx, "s", "c")
	if err != nil {
		t.Fatal(err)
	}
	peer := servePassive(t, remote, PassiveConfig{Collections: []*store.Collection{remote.DefaultCollection()}, AllowPull: true})
	s := dialActive(t, peer.url, local, SessionConfig{})
	s.SetCollections([]*store.Collection{local.DefaultCollection(), named}, true)
	s.Start()
	_, err = s.Handshake(ctx, []string{"c0", "c1"})
	if !errors.Is(err, ErrRemoteCollectionMissing) || !strings.Contains(err.Error(), "s.c") {
		t.Fatalf("handshake with a missing collection: %v", err)
	}
	if _, err := s.Handshake(ctx, []string{"only-one"}); err == nil {
		t.Fatal("handshake accepted one checkpoint ID for two collections")
	}

	// A bare BLIP peer: no getCollections handler (answers BLIP/404).
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := blip.Upgrade(w, r, blip.UpgradeOptions{})
		if err != nil {
			return
		}
		c.Start()
		<-c.Done()
	}))
	t.Cleanup(srv.Close)
	s2 := dialActive(t, "ws"+strings.TrimPrefix(srv.URL, "http")+"/db/_blipsync", local, SessionConfig{})
	s2.SetCollections([]*store.Collection{local.DefaultCollection()}, true)
	s2.Start()
	if _, err := s2.Handshake(ctx, []string{"c"}); !errors.Is(err, ErrPeerIncompatible) {
		t.Fatalf("handshake with a peer without getCollections: %v, want ErrPeerIncompatible", err)
	}
}

// A CBMobile_2 peer: the session is in legacy mode, Handshake reads the checkpoint with
// getCheckpoint (none, then the one saved with setCheckpoint), and a push works.
func TestSessionLegacyHandshake(t *testing.T) {
	ctx := context.Background()
	local, remote := openDB(t), openDB(t)
	saveDoc(t, local.DefaultCollection(), "a", `{"v":1}`)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := blip.Upgrade(w, r, blip.UpgradeOptions{Subprotocols: []string{blip.SubprotocolCBMobile2}})
		if err != nil {
			return
		}
		s := NewSession(conn, SessionConfig{Role: RolePassive, Database: remote})
		s.ServePassive(PassiveConfig{Collections: []*store.Collection{remote.DefaultCollection()}, AllowPush: true, AllowPull: true})
		s.Start()
		<-s.Done()
		s.Close()
	}))
	t.Cleanup(srv.Close)
	url := "ws" + strings.TrimPrefix(srv.URL, "http") + "/db/_blipsync"
	s := dialActive(t, url, local, SessionConfig{})
	if !s.Legacy() {
		t.Fatalf("subprotocol %q: not legacy", s.Subprotocol())
	}
	s.SetCollections([]*store.Collection{local.DefaultCollection()}, false)
	s.Start()
	cps, err := s.Handshake(ctx, []string{"legacy-cp"})
	if err != nil || cps[0].Found {
		t.Fatalf("legacy handshake: %+v, %v", cps, err)
	}
	p := runPush(t, s, PushOptions{Propose: true})
	waitFor(t, "push settled", func() bool { return p.Settled() >= 1 })
	if got := bodyOf(t, remote.DefaultCollection(), "a"); got != `{"v":1}` {
		t.Fatalf("legacy push stored %s", got)
	}
	rev, err := s.SetCheckpoint(ctx, 0, "legacy-cp", "", wire.Checkpoint{Local: 7})
	if err != nil {
		t.Fatal(err)
	}
	cps, err = s.Handshake(ctx, []string{"legacy-cp"})
	if err != nil || !cps[0].Found || cps[0].Rev != rev || cps[0].Checkpoint.Local != 7 {
		t.Fatalf("legacy handshake after setCheckpoint: %+v, %v", cps, err)
	}
}

// Connection errors reach the caller through syncproto's names (the same values as
// blip's): a refused upgrade is an *HTTPError, transient for 503 and permanent for 401;
// a peer's normal close fails the session with ErrSessionClosed and RemoteClose sees it.
func TestSessionConnectionErrors(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	db := openDB(t)
	for _, status := range []int{http.StatusUnauthorized, http.StatusServiceUnavailable} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "no", status)
		}))
		_, err := Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/db/_blipsync", DialOptions{}, SessionConfig{Database: db})
		srv.Close()
		var he *HTTPError
		if !errors.As(err, &he) || he.Status != status {
			t.Fatalf("status %d: %v, want an *HTTPError", status, err)
		}
		var bhe *blip.HTTPError
		if !errors.As(err, &bhe) {
			t.Fatalf("status %d: not a blip.HTTPError either: %v", status, err)
		}
	}
	if ErrProtocol != blip.ErrProtocol || ErrNoSubprotocol != blip.ErrNoSubprotocol || ErrTimeout != blip.ErrTimeout {
		t.Fatal("re-exported sentinels differ from blip's")
	}

	remote := openDB(t)
	peer := servePassive(t, remote, PassiveConfig{Collections: []*store.Collection{remote.DefaultCollection()}, AllowPull: true})
	s := dialActive(t, peer.url, db, SessionConfig{})
	s.SetCollections([]*store.Collection{db.DefaultCollection()}, true)
	s.Start()
	if _, err := s.Handshake(ctx, []string{"c"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "passive session", func() bool { return peer.session() != nil })
	if err := peer.session().Disconnect(CloseGoingAway, "bye"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.Failed():
	case <-time.After(10 * time.Second):
		t.Fatal("session did not fail when the peer closed")
	}
	err := s.Err()
	if !errors.Is(err, ErrSessionClosed) {
		t.Fatalf("session error %v, want ErrSessionClosed", err)
	}
	ce, ok := RemoteClose(err)
	if !ok || ce.Code != CloseGoingAway || ce.Reason != "bye" {
		t.Fatalf("RemoteClose(%v) = %+v, %v", err, ce, ok)
	}
	if _, ok := RemoteClose(&CloseError{Code: CloseInternal, Remote: true}); ok {
		t.Fatal("RemoteClose took an internal-error close for a deliberate hang-up")
	}
}
