package replicator

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/p2psync/libp2psync/engine/internal/testpki"
	"github.com/p2psync/libp2psync/engine/listener"
	"github.com/p2psync/libp2psync/engine/store"
	"github.com/p2psync/libp2psync/engine/tlsid"
)

// Helpers of the end-to-end security tests (trust modes, pinning, listener
// authentication, library log), which run a replicator against a listener over wss://.

// fixtures are the certificates every test shares (ECDSA keys: cheap to make).
type fixtures struct {
	ca            *tlsid.Identity // the application CA, also installed as the "system" root
	otherCA       *tlsid.Identity // a CA nobody trusts
	caServer      *tlsid.Identity // server for 127.0.0.1 and localhost, issued by ca
	wrongHost     *tlsid.Identity // server for elsewhere.invalid only, issued by ca
	expiredServer *tlsid.Identity // server for 127.0.0.1, issued by ca, expired yesterday
	selfSigned    *tlsid.Identity // self-signed server for 127.0.0.1
	otherSelf     *tlsid.Identity // another self-signed server
	expiredSelf   *tlsid.Identity // self-signed server, expired
	client        *tlsid.Identity // client certificate issued by ca
	strangerCl    *tlsid.Identity // client certificate issued by otherCA
	expiredCl     *tlsid.Identity // client certificate issued by ca, expired
}

var fx fixtures

// setupSecurityFixtures builds the fixtures and makes fx.ca the process's system root store
// (crypto/x509 reads SSL_CERT_FILE and SSL_CERT_DIR the first time the system pool is used,
// so TrustSystemRoots can be tested both ways without touching the machine). TestMain calls
// it before any test; the returned function removes the files.
func setupSecurityFixtures() (cleanup func(), err error) {
	dir, err := os.MkdirTemp("", "replicator-test-")
	if err != nil {
		return nil, err
	}
	if err := buildFixtures(dir); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return func() { os.RemoveAll(dir) }, nil
}

func buildFixtures(dir string) error {
	var firstErr error
	mk := testpki.Make(tlsid.CreateIdentity, &firstErr)
	loopback := []net.IP{net.ParseIP("127.0.0.1")}
	past := time.Now().Add(-72 * time.Hour)
	fx.ca = mk(tlsid.CreateOptions{Subject: tlsid.Subject{CommonName: "test CA"}, IsCA: true})
	fx.otherCA = mk(tlsid.CreateOptions{Subject: tlsid.Subject{CommonName: "other CA"}, IsCA: true})
	if firstErr != nil {
		return firstErr
	}
	fx.caServer = mk(tlsid.CreateOptions{Subject: tlsid.Subject{CommonName: "server"}, IPAddresses: loopback,
		DNSNames: []string{"localhost"}, Issuer: fx.ca})
	fx.wrongHost = mk(tlsid.CreateOptions{Subject: tlsid.Subject{CommonName: "elsewhere"},
		DNSNames: []string{"elsewhere.invalid"}, Issuer: fx.ca})
	fx.expiredServer = mk(tlsid.CreateOptions{Subject: tlsid.Subject{CommonName: "expired"}, IPAddresses: loopback,
		Issuer: fx.ca, NotBefore: past, Validity: 24 * time.Hour})
	fx.selfSigned = mk(tlsid.CreateOptions{Subject: tlsid.Subject{CommonName: "self"}, IPAddresses: loopback})
	fx.otherSelf = mk(tlsid.CreateOptions{Subject: tlsid.Subject{CommonName: "other self"}, IPAddresses: loopback})
	fx.expiredSelf = mk(tlsid.CreateOptions{Subject: tlsid.Subject{CommonName: "expired self"}, IPAddresses: loopback,
		NotBefore: past, Validity: 24 * time.Hour})
	fx.client = mk(tlsid.CreateOptions{Subject: tlsid.Subject{CommonName: "alice"}, Usage: tlsid.UsageClient, Issuer: fx.ca})
	fx.strangerCl = mk(tlsid.CreateOptions{Subject: tlsid.Subject{CommonName: "mallory"}, Usage: tlsid.UsageClient, Issuer: fx.otherCA})
	fx.expiredCl = mk(tlsid.CreateOptions{Subject: tlsid.Subject{CommonName: "old alice"}, Usage: tlsid.UsageClient,
		Issuer: fx.ca, NotBefore: past, Validity: 24 * time.Hour})
	if firstErr != nil {
		return firstErr
	}
	_, err := testpki.InstallSystemRoots(dir, fx.ca.Certificate().Raw)
	return err
}

// waitNoLeaks polls until no goroutine runs listener, replicator or connection code.
func waitNoLeaks(d time.Duration) string {
	deadline := time.Now().Add(d)
	for {
		buf := make([]byte, 4<<20)
		buf = buf[:runtime.Stack(buf, true)]
		var leaked []string
		for _, g := range strings.Split(string(buf), "\n\n") {
			if strings.Contains(g, "TestMain") || strings.Contains(g, "waitNoLeaks") {
				continue
			}
			for _, pkg := range []string{"engine/blip.", "engine/listener.", "engine/replicator.", "engine/syncproto."} {
				if strings.Contains(g, pkg) {
					leaked = append(leaked, g)
					break
				}
			}
		}
		if len(leaked) == 0 {
			return ""
		}
		if time.Now().After(deadline) {
			return strings.Join(leaked, "\n\n")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// openDBIn opens (or reopens) the database in dir, closed when the test ends.
func openDBIn(t testing.TB, dir string) *store.Database {
	t.Helper()
	db, err := store.Open(context.Background(), dir, store.Config{})
	if err != nil {
		t.Fatalf("open %s: %v", dir, err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// startSecureListener starts a listener on 127.0.0.1, TLS on unless cfg disables it.
func startSecureListener(t testing.TB, cfg listener.Config) *listener.Listener {
	t.Helper()
	cfg.NetworkInterface = "127.0.0.1"
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t)
	}
	l, err := listener.New(cfg)
	if err != nil {
		t.Fatalf("new listener: %v", err)
	}
	if err := l.Start(); err != nil {
		t.Fatalf("start listener: %v", err)
	}
	t.Cleanup(l.Stop)
	return l
}

func saveDoc(t testing.TB, db *store.Database, id, body string) {
	t.Helper()
	save(t, db.DefaultCollection(), id, body)
}

func hasDoc(t testing.TB, db *store.Database, id string) bool {
	t.Helper()
	_, err := db.DefaultCollection().Get(context.Background(), id)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("get %s: %v", id, err)
	}
	return err == nil
}

// run is one replication attempt's outcome.
type run struct {
	status   Status
	statuses []Status // every status the change listener saw
	attempts int64    // TCP connections the listener received
	elapsed  time.Duration
	repl     *Replicator
}

func (r run) wentOffline() bool {
	for _, s := range r.statuses {
		if s.Activity == Offline {
			return true
		}
	}
	return false
}

// replicate runs a one-shot replicator through a counting proxy to l and waits for it to
// stop. Retries are made fast (and limited to 3 attempts) so that an error wrongly treated
// as transient shows up as more than one attempt and an Offline status, quickly.
func replicate(t testing.TB, l *listener.Listener, cfg Config) run {
	t.Helper()
	return replicateTo(t, l.Port(), l.Database().Name(), l.TLSIdentity() != nil, cfg, true)
}

// replicateDirect is replicate without the proxy (attempts is then -1: unknown), for the
// cases where the exact timing of a refused connection matters.
func replicateDirect(t testing.TB, l *listener.Listener, cfg Config) run {
	t.Helper()
	return replicateTo(t, l.Port(), l.Database().Name(), l.TLSIdentity() != nil, cfg, false)
}

// replicateTo runs a one-shot replicator against 127.0.0.1:port/dbName.
func replicateTo(t testing.TB, port int, dbName string, useTLS bool, cfg Config, viaProxy bool) run {
	t.Helper()
	scheme := "ws"
	if useTLS {
		scheme = "wss"
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	var p *countingProxy
	if viaProxy {
		p = newCountingProxy(t, port)
		addr = p.addr()
	}
	cfg.URL = fmt.Sprintf("%s://%s/%s", scheme, addr, dbName)
	if cfg.RetryBase == 0 {
		cfg.RetryBase = 20 * time.Millisecond
	}
	if cfg.MaxAttemptWait == 0 {
		cfg.MaxAttemptWait = 50 * time.Millisecond
	}
	if cfg.MaxAttempts == 0 {
		cfg.MaxAttempts = 3
	}
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t)
	}
	r, err := New(cfg)
	if err != nil {
		t.Fatalf("new replicator: %v", err)
	}
	t.Cleanup(r.Stop)
	var (
		mu       sync.Mutex
		statuses []Status
	)
	tok := r.AddChangeListener(func(s Status) {
		mu.Lock()
		statuses = append(statuses, s)
		mu.Unlock()
	})
	defer tok.Remove()
	start := time.Now()
	st := runOneShot(t, r)
	out := run{status: st, attempts: -1, elapsed: time.Since(start), repl: r}
	if p != nil {
		out.attempts = p.count.Load()
	}
	mu.Lock()
	out.statuses = append(out.statuses, statuses...)
	mu.Unlock()
	return out
}

// expectSynced asserts a clean run that moved a document each way.
func expectSynced(t testing.TB, res run, local, remote *store.Database, localDoc, remoteDoc string) {
	t.Helper()
	if res.status.Error != nil {
		t.Fatalf("replication failed: %v", res.status.Error)
	}
	if !hasDoc(t, remote, localDoc) {
		t.Errorf("pushed document %q is not on the listener's side", localDoc)
	}
	if !hasDoc(t, local, remoteDoc) {
		t.Errorf("pulled document %q is not on the replicator's side", remoteDoc)
	}
}

// expectPermanent asserts a run stopped by an error wrapping want, which IsTransient calls
// permanent, after a single connection attempt, without going offline to retry.
func expectPermanent(t testing.TB, res run, want error) {
	t.Helper()
	err := res.status.Error
	if err == nil {
		t.Fatalf("replication succeeded; want an error wrapping %v", want)
	}
	if !errors.Is(err, want) {
		t.Fatalf("error %v does not wrap %v", err, want)
	}
	if IsTransient(err) {
		t.Errorf("IsTransient(%v) = true, want a permanent error", err)
	}
	if res.status.Activity != Stopped {
		t.Errorf("activity %v, want stopped", res.status.Activity)
	}
	if (res.attempts >= 0 && res.attempts != 1) || res.wentOffline() {
		t.Errorf("%d connection attempts (offline seen: %v); a permanent error must not be retried", res.attempts, res.wentOffline())
	}
	if res.elapsed > 10*time.Second {
		t.Errorf("took %v to fail", res.elapsed)
	}
}

// countingProxy forwards TCP connections to a local port and counts them, so that tests
// can tell how many times a replicator tried to connect.
type countingProxy struct {
	ln    net.Listener
	count atomic.Int64
	wg    sync.WaitGroup
	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

func newCountingProxy(t testing.TB, port int) *countingProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &countingProxy{ln: ln, conns: map[net.Conn]struct{}{}}
	target := fmt.Sprintf("127.0.0.1:%d", port)
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.count.Add(1)
			up, err := net.DialTimeout("tcp", target, 5*time.Second)
			if err != nil {
				c.Close()
				continue
			}
			p.track(c, up)
			p.wg.Add(2)
			go p.pipe(c, up)
			go p.pipe(up, c)
		}
	}()
	t.Cleanup(p.close)
	return p
}

func (p *countingProxy) addr() string { return p.ln.Addr().String() }

func (p *countingProxy) track(cs ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range cs {
		p.conns[c] = struct{}{}
	}
}

// pipe copies one direction; when it ends, the write side is half-closed so that the other
// direction can still drain (a TLS alert followed by a close must arrive intact).
// A reset is passed on as a reset, so the replicator sees what it would see directly.
func (p *countingProxy) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	_, err := io.Copy(dst, src)
	tc, ok := dst.(*net.TCPConn)
	switch {
	case !ok:
		dst.Close()
	case errors.Is(err, syscall.ECONNRESET):
		_ = tc.SetLinger(0)
		_ = tc.Close()
	default:
		_ = tc.CloseWrite()
	}
}

func (p *countingProxy) close() {
	p.ln.Close()
	p.mu.Lock()
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}
