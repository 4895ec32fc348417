package replicator

import (
	"fmt"
	"github.com/p2psync/libp2psync/engine/listener"
	"github.com/p2psync/libp2psync/engine/logging"
	"github.com/p2psync/libp2psync/engine/tlsid"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// logCapture is an application sink of the library log.
type logCapture struct {
	mu   sync.Mutex
	recs []logging.Record
}

func captureLog(t *testing.T, level logging.Level, domains logging.Domain) *logCapture {
	c := &logCapture{}
	logging.SetSink(level, domains, func(r logging.Record) {
		c.mu.Lock()
		c.recs = append(c.recs, r)
		c.mu.Unlock()
	})
	t.Cleanup(func() { logging.SetSink(logging.None, 0, nil) })
	return c
}

// find returns the records whose message contains every part.
func (c *logCapture) find(parts ...string) []logging.Record {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []logging.Record
next:
	for _, r := range c.recs {
		for _, p := range parts {
			if !strings.Contains(r.Message, p) {
				continue next
			}
		}
		out = append(out, r)
	}
	return out
}

func (c *logCapture) dump() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var b strings.Builder
	for _, r := range c.recs {
		fmt.Fprintf(&b, "%v %v: %s\n", r.Level, r.Domain, r.Message)
	}
	return b.String()
}

func (c *logCapture) expect(t *testing.T, level logging.Level, domain logging.Domain, parts ...string) logging.Record {
	t.Helper()
	for _, r := range c.find(parts...) {
		if r.Level == level && r.Domain == domain {
			return r
		}
	}
	t.Fatalf("no %v %v record with %q; log:\n%s", level, domain, parts, c.dump())
	return logging.Record{}
}

// The listener logs each connection (peer, user, subprotocol, collections) and its end,
// and each peer-caused error; the replicator logs its state changes; both go to the
// library log with their domain when no Logger is configured.
func TestLibraryLogListenerAndReplicator(t *testing.T) {
	logs := captureLog(t, logging.Info, logging.All)
	remote := openDB(t, "logserver")
	saveDoc(t, remote, "doc1", `{"n":1}`)
	l := startSecureListener(t, listener.Config{Database: remote, Logger: logging.Logger(logging.Listener),
		Password: listener.StaticPasswords(map[string]string{"alice": "secret"})})

	local := openDB(t, "logclient")
	res := replicateDirect(t, l, Config{Database: local, Type: Pull, TrustMode: tlsid.TrustPinned,
		PinnedFingerprint: l.TLSIdentity().Fingerprint(), Logger: logging.Logger(logging.Replicator),
		Authenticator: BasicAuthenticator{Username: "alice", Password: "secret"}})
	if res.status.Error != nil || !hasDoc(t, local, "doc1") {
		t.Fatalf("pull failed: %+v", res.status)
	}
	opened := logs.expect(t, logging.Info, logging.Listener, "connection opened", "peer=127.0.0.1:", "user=alice", "subprotocol=BLIP_3+CBMobile_4")
	peer := strings.Fields(strings.SplitAfter(opened.Message, "peer=")[1])[0]
	logs.expect(t, logging.Info, logging.Listener, "peer asked for collections", "peer="+peer, "collections=_default._default")
	waitFor(t, func() bool { return len(logs.find("connection closed", "peer="+peer)) > 0 })
	logs.expect(t, logging.Info, logging.Listener, "connection closed", "peer="+peer, "user=alice", "reason=", "docs_sent=1", "collections=_default._default")
	logs.expect(t, logging.Info, logging.Replicator, "replicator state changed", "from=stopped", "to=connecting")
	logs.expect(t, logging.Info, logging.Replicator, "replicator state changed", "to=stopped")

	// A peer-caused error: wrong credentials.
	bad := replicateDirect(t, l, Config{Database: openDB(t, "logbad"), Type: Pull, TrustMode: tlsid.TrustPinned,
		PinnedFingerprint: l.TLSIdentity().Fingerprint(), Logger: logging.Logger(logging.Replicator),
		Authenticator: BasicAuthenticator{Username: "alice", Password: "wrong"}})
	if bad.status.Error == nil {
		t.Fatal("wrong password accepted")
	}
	logs.expect(t, logging.Warning, logging.Listener, "connection refused: credentials not accepted", "username=alice")
	logs.expect(t, logging.Error, logging.Replicator, "replication stopped by a permanent error")
	if c := bad.repl.Counters(); c.LastError == nil || c.Retries != 0 {
		t.Fatalf("counters after a refusal: %+v", c)
	}
}

// The listener's status describes every connection while it is open.
func TestListenerStatusConnections(t *testing.T) {
	remote := openDB(t, "statserver")
	saveDoc(t, remote, "doc1", `{"n":1}`)
	l := startSecureListener(t, listener.Config{Database: remote, DisableTLS: true,
		Password: listener.StaticPasswords(map[string]string{"bob": "pw"})})
	local := openDB(t, "statclient")
	r, err := New(Config{Database: local, Type: PushAndPull, Continuous: true,
		URL:           fmt.Sprintf("ws://127.0.0.1:%d/%s", l.Port(), remote.Name()),
		Authenticator: BasicAuthenticator{Username: "bob", Password: "pw"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Stop)
	saveDoc(t, local, "up", `{"x":1}`)
	if err := r.Start(false); err != nil {
		t.Fatal(err)
	}
	var st = l.Status()
	waitFor(t, func() bool {
		st = l.Status()
		return len(st.Connections) == 1 && st.Connections[0].DocsSent == 1 && st.Connections[0].DocsReceived == 1
	})
	c := st.Connections[0]
	if host, _, _ := net.SplitHostPort(c.Peer); host != "127.0.0.1" || c.User != "bob" || c.Subprotocol != "BLIP_3+CBMobile_4" ||
		len(c.Collections) != 1 || c.Collections[0] != "_default._default" || c.BytesSent == 0 || c.BytesReceived == 0 ||
		time.Since(c.Started) > time.Minute || st.TotalConnections != 1 || st.ConnectionCount != 1 {
		t.Fatalf("status %+v", st)
	}
	r.Stop()
	waitFor(t, func() bool { return l.Status().ConnectionCount == 0 })
	if st := l.Status(); st.TotalConnections != 1 || len(st.Connections) != 0 {
		t.Fatalf("after the replicator stopped: %+v", st)
	}
	if s := r.Stats(); s.RevsSent != 1 || s.RevsReceived != 1 {
		t.Fatalf("replicator stats %+v", s)
	}
}

// Retries are logged with their reason and delay, and counted.
func TestReplicatorRetriesLoggedAndCounted(t *testing.T) {
	logs := captureLog(t, logging.Warning, logging.Replicator)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close() // nothing listens there now
	res := replicateTo(t, port, "nowhere", false, Config{Database: openDB(t, "retry"), Type: Pull,
		Logger: logging.Logger(logging.Replicator)}, false)
	if res.status.Error == nil {
		t.Fatal("replicated with nobody listening")
	}
	logs.expect(t, logging.Warning, logging.Replicator, "replication offline; retrying", "attempt=2", "delay=40ms", "reason=")
	logs.expect(t, logging.Warning, logging.Replicator, "replication offline; retrying", "attempt=3", "delay=50ms")
	if c := res.repl.Counters(); c.Retries != 2 || c.LastError == nil {
		t.Fatalf("counters %+v", c)
	}
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 20 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
