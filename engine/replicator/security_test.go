package replicator

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"github.com/p2psync/libp2psync/engine/blip"
	"github.com/p2psync/libp2psync/engine/listener"
	"github.com/p2psync/libp2psync/engine/store"
	"github.com/p2psync/libp2psync/engine/tlsid"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// End-to-end security of a replicator against a listener over wss://: listener
// authentication (passwords, client certificates), the trust modes, pinning the anonymous
// identity, TLS versions, and the configuration errors of the TLS settings. Helpers and
// fixtures: security_helpers_test.go.

// Password authentication end to end: accepted credentials replicate; refused or missing
// ones stop the replicator at once with ErrUnauthorized (HTTP 401 with a Basic challenge),
// after exactly one attempt, and the listener's callback was asked exactly once.
func TestPasswordAuthentication(t *testing.T) {
	static := listener.StaticPasswords(map[string]string{"alice": "correct horse", "bob": "battery staple"})
	tests := []struct {
		name     string
		tlsOff   bool
		auth     Authenticator
		panicky  bool
		wantOK   bool
		wantAsks int64 // calls of the password callback; -1 = not counted
	}{
		{name: "accepted", auth: BasicAuthenticator{Username: "alice", Password: "correct horse"}, wantOK: true, wantAsks: 1},
		{name: "accepted over ws", tlsOff: true, auth: BasicAuthenticator{Username: "bob", Password: "battery staple"}, wantOK: true, wantAsks: 1},
		{name: "wrong password", auth: BasicAuthenticator{Username: "alice", Password: "battery staple"}, wantAsks: 1},
		{name: "unknown user", auth: BasicAuthenticator{Username: "carol", Password: "correct horse"}, wantAsks: 1},
		{name: "empty password", auth: BasicAuthenticator{Username: "alice"}, wantAsks: 1},
		{name: "no credentials", wantAsks: 0},
		{name: "session cookie instead", auth: SessionAuthenticator{SessionID: "abc"}, wantAsks: 0},
		{name: "panicking callback refuses", auth: BasicAuthenticator{Username: "alice", Password: "correct horse"}, panicky: true, wantAsks: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			local, remote := upAndDown(t)
			var asks atomic.Int64
			check := func(user, pass string) bool {
				asks.Add(1)
				if tt.panicky {
					panic("authenticator bug")
				}
				return static(user, pass)
			}
			lcfg := listener.Config{Database: remote, Password: check, DisableTLS: tt.tlsOff}
			rcfg := Config{Database: local, Authenticator: tt.auth}
			if !tt.tlsOff {
				lcfg.Identity = fx.selfSigned
				rcfg.TrustMode = tlsid.TrustSelfSignedOnly
			}
			l := startSecureListener(t, lcfg)
			res := replicate(t, l, rcfg)
			if tt.wantOK {
				expectSynced(t, res, local, remote, "up", "down")
			} else {
				expectPermanent(t, res, ErrUnauthorized)
				var he *blip.HTTPError
				if !errors.As(res.status.Error, &he) || he.Status != http.StatusUnauthorized {
					t.Errorf("no HTTP 401 in the error chain: %v", res.status.Error)
				} else if got := he.Header.Get("WWW-Authenticate"); got != `Basic charset="UTF-8"` {
					t.Errorf("WWW-Authenticate %q", got)
				}
				if hasDoc(t, local, "down") || hasDoc(t, remote, "up") {
					t.Error("a document crossed a refused connection")
				}
			}
			if got := asks.Load(); got != tt.wantAsks {
				t.Errorf("password callback called %d times, want %d", got, tt.wantAsks)
			}
			if tt.panicky {
				// The listener survived the panic and still serves.
				res := replicate(t, l, Config{Database: local, TrustMode: tlsid.TrustSelfSignedOnly, Authenticator: tt.auth})
				if !errors.Is(res.status.Error, ErrUnauthorized) {
					t.Errorf("after a panic: %v", res.status.Error)
				}
			}
		})
	}
}

// Client-certificate authentication end to end, by trusted roots and by callback. Refusals
// are permanent and name their cause: no certificate (ErrClientCertRequired) or a refused
// one (ErrClientCertUntrusted). Refused cases run both through the counting proxy and
// directly, since with TLS 1.3 the refusal arrives after the client's handshake, racing the
// HTTP request.
func TestClientCertificateAuthentication(t *testing.T) {
	byRoots := &listener.CertificateAuthenticator{Roots: []*x509.Certificate{fx.ca.Certificate()}}
	var strangerOK atomic.Int64
	allowStranger := &listener.CertificateAuthenticator{Verify: func(chain []*x509.Certificate) bool {
		strangerOK.Add(1)
		return tlsid.CertificateFingerprint(chain[0]) == fx.strangerCl.Fingerprint()
	}}
	rootsAndAlice := &listener.CertificateAuthenticator{Roots: byRoots.Roots, Verify: func(chain []*x509.Certificate) bool {
		return chain[0].Subject.CommonName == "alice"
	}}
	panicky := &listener.CertificateAuthenticator{Verify: func([]*x509.Certificate) bool { panic("verifier bug") }}
	tests := []struct {
		name    string
		auth    *listener.CertificateAuthenticator
		client  *tlsid.Identity
		wantErr error
	}{
		{name: "roots/accepted", auth: byRoots, client: fx.client},
		{name: "roots/untrusted", auth: byRoots, client: fx.strangerCl, wantErr: tlsid.ErrClientCertUntrusted},
		{name: "roots/expired", auth: byRoots, client: fx.expiredCl, wantErr: tlsid.ErrClientCertUntrusted},
		{name: "roots/missing", auth: byRoots, wantErr: tlsid.ErrClientCertRequired},
		{name: "callback/accepted", auth: allowStranger, client: fx.strangerCl},
		{name: "callback/refused", auth: allowStranger, client: fx.client, wantErr: tlsid.ErrClientCertUntrusted},
		{name: "callback/missing", auth: allowStranger, wantErr: tlsid.ErrClientCertRequired},
		{name: "roots and callback/accepted", auth: rootsAndAlice, client: fx.client},
		{name: "roots and callback/stranger", auth: rootsAndAlice, client: fx.strangerCl, wantErr: tlsid.ErrClientCertUntrusted},
		{name: "panicking callback refuses", auth: panicky, client: fx.client, wantErr: tlsid.ErrClientCertUntrusted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			local, remote := upAndDown(t)
			l := startSecureListener(t, listener.Config{Database: remote, ClientCertificate: tt.auth})
			cfg := Config{Database: local, TrustMode: tlsid.TrustSelfSignedOnly, ClientIdentity: tt.client}
			if tt.wantErr == nil {
				expectSynced(t, replicate(t, l, cfg), local, remote, "up", "down")
				return
			}
			expectPermanent(t, replicate(t, l, cfg), tt.wantErr)
			for range 5 {
				expectPermanent(t, replicateDirect(t, l, cfg), tt.wantErr)
			}
			if hasDoc(t, local, "down") || hasDoc(t, remote, "up") {
				t.Error("a document crossed a refused connection")
			}
		})
	}
	t.Cleanup(func() {
		if strangerOK.Load() == 0 {
			t.Error("the certificate callback was never called")
		}
	})
}

// A continuous replicator (unlimited attempts for transient errors) also stops at once on
// a security failure instead of retrying forever.
func TestContinuousStopsOnSecurityFailure(t *testing.T) {
	tests := []struct {
		name    string
		lcfg    listener.Config
		rcfg    Config
		wantErr error
	}{
		{"wrong password", listener.Config{Password: listener.StaticPasswords(map[string]string{"alice": "x"})},
			Config{TrustMode: tlsid.TrustSelfSignedOnly, Authenticator: BasicAuthenticator{Username: "alice", Password: "y"}},
			ErrUnauthorized},
		{"pin mismatch", listener.Config{},
			Config{TrustMode: tlsid.TrustPinned, PinnedCertificate: fx.otherSelf.Certificate().Raw},
			tlsid.ErrPinMismatch},
		{"client certificate missing", listener.Config{ClientCertificate: &listener.CertificateAuthenticator{Roots: []*x509.Certificate{fx.ca.Certificate()}}},
			Config{TrustMode: tlsid.TrustSelfSignedOnly},
			tlsid.ErrClientCertRequired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.lcfg.Database, tt.lcfg.Identity = openDB(t, "remote"), fx.selfSigned
			tt.rcfg.Database, tt.rcfg.Continuous, tt.rcfg.MaxAttempts = openDB(t, "local"), true, -1
			l := startSecureListener(t, tt.lcfg)
			expectPermanent(t, replicate(t, l, tt.rcfg), tt.wantErr)
		})
	}
}

// A listener without an identity serves the database's anonymous identity: the same
// certificate after a Stop/Start and after the database is closed and reopened (a process
// restart), so a replicator that pinned it on first use keeps connecting.
func TestAnonymousIdentityPinOnFirstUse(t *testing.T) {
	remoteDir := filepath.Join(t.TempDir(), "remote")
	local := openDB(t, "local")
	remote := openDBIn(t, remoteDir)
	saveDoc(t, remote, "first", `{"n":1}`)

	l := startSecureListener(t, listener.Config{Database: remote})
	id := l.TLSIdentity()
	if id == nil {
		t.Fatal("TLSIdentity is nil on a running TLS listener")
	}
	fp := id.Fingerprint()
	if st, err := os.Stat(filepath.Join(remoteDir, tlsid.AnonymousIdentityFile)); err != nil {
		t.Fatalf("anonymous identity not stored in the database directory: %v", err)
	} else if st.Mode().Perm() != 0o600 {
		t.Errorf("identity file mode %v, want 0600", st.Mode().Perm())
	}
	for _, u := range l.URLs() {
		if !strings.HasPrefix(u, "wss://") {
			t.Errorf("URL %q is not wss://", u)
		}
	}

	// First use: the user accepts the self-signed certificate (after comparing the
	// fingerprint the listener prints) and the application pins what it got.
	res := replicate(t, l, Config{Database: local, Type: Pull, TrustMode: tlsid.TrustSelfSignedOnly})
	if res.status.Error != nil || !hasDoc(t, local, "first") {
		t.Fatalf("first replication: %v", res.status.Error)
	}
	cert := res.repl.ServerCertificate()
	if cert == nil || tlsid.CertificateFingerprint(cert) != fp {
		t.Fatalf("ServerCertificate fingerprint does not match the listener's %s", fp)
	}
	pinned := bytes.Clone(cert.Raw)

	// Restart the same Listener object.
	l.Stop()
	if l.TLSIdentity() != nil || l.Port() != 0 || l.URLs() != nil {
		t.Error("a stopped listener still reports an identity, a port or URLs")
	}
	if err := l.Start(); err != nil {
		t.Fatal(err)
	}
	if got := l.TLSIdentity().Fingerprint(); got != fp {
		t.Fatalf("fingerprint after Stop/Start %s, want %s", got, fp)
	}
	l.Stop()

	// Restart the process: close the database, reopen it, new listener.
	if err := remote.Close(); err != nil {
		t.Fatal(err)
	}
	remote = openDBIn(t, remoteDir)
	saveDoc(t, remote, "second", `{"n":2}`)
	l2 := startSecureListener(t, listener.Config{Database: remote})
	if got := l2.TLSIdentity().Fingerprint(); got != fp {
		t.Fatalf("fingerprint after reopening the database %s, want %s", got, fp)
	}
	res = replicate(t, l2, Config{Database: local, Type: Pull, TrustMode: tlsid.TrustPinned, PinnedCertificate: pinned})
	if res.status.Error != nil {
		t.Fatalf("pinned replication after restart: %v", res.status.Error)
	}
	if !hasDoc(t, local, "second") {
		t.Error("document saved after the restart was not pulled")
	}

	// A listener of another database has another anonymous identity: the pin refuses it.
	other := openDB(t, "other")
	l3 := startSecureListener(t, listener.Config{Database: other})
	if l3.TLSIdentity().Fingerprint() == fp {
		t.Fatal("two databases share an anonymous identity")
	}
	res = replicate(t, l3, Config{Database: local, Type: Pull, TrustMode: tlsid.TrustPinned, PinnedCertificate: pinned})
	expectPermanent(t, res, tlsid.ErrPinMismatch)
}

// Users exchange fingerprints, not certificates: a replicator pins the listener's anonymous
// identity by the fingerprint the listener shows, in any accepted form; another listener's
// certificate stops it at the first connection with a pin mismatch naming both fingerprints.
func TestPinnedFingerprint(t *testing.T) {
	local := openDB(t, "local")
	remote := openDB(t, "remote")
	saveDoc(t, remote, "doc", `{"n":1}`)
	l := startSecureListener(t, listener.Config{Database: remote})
	fp := l.TLSIdentity().Fingerprint()
	for i, form := range []string{fp, tlsid.FingerprintColons(fp), strings.ToUpper(fp)} {
		res := replicate(t, l, Config{Database: local, Type: Pull, TrustMode: tlsid.TrustPinned,
			PinnedFingerprint: form})
		if res.status.Error != nil {
			t.Fatalf("pinned by fingerprint %q: %v", form, res.status.Error)
		}
		if i == 0 && !hasDoc(t, local, "doc") {
			t.Fatal("the document was not pulled")
		}
	}

	other := openDB(t, "other")
	l2 := startSecureListener(t, listener.Config{Database: other})
	res := replicate(t, l2, Config{Database: local, Type: Pull, TrustMode: tlsid.TrustPinned,
		PinnedFingerprint: fp})
	expectPermanent(t, res, tlsid.ErrPinMismatch)
	msg := res.status.Error.Error()
	if !strings.Contains(msg, fp) || !strings.Contains(msg, l2.TLSIdentity().Fingerprint()) {
		t.Errorf("mismatch error %q does not name the expected and the presented fingerprints", msg)
	}
	if cert := res.repl.ServerCertificate(); cert == nil || tlsid.CertificateFingerprint(cert) != l2.TLSIdentity().Fingerprint() {
		t.Error("ServerCertificate is not the refused certificate")
	}
}

// A replicator refuses a server that only speaks TLS 1.1, permanently.
func TestReplicatorRefusesOldTLSServer(t *testing.T) {
	cert := fx.selfSigned.TLSCertificate()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11,
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			_ = c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	defer func() { ln.Close(); <-done }()

	local := openDB(t, "local")
	res := replicateTo(t, ln.Addr().(*net.TCPAddr).Port, "db", true,
		Config{Database: local, TrustMode: tlsid.TrustSelfSignedOnly}, true)
	expectPermanent(t, res, tlsid.ErrTLSVersion)
}

// Every trust mode of the replicator, against a real listener over wss://: the positive
// case replicates a document each way; the negative case stops at once with the sentinel
// of its cause, and the server's certificate is readable either way.
func TestServerTrust(t *testing.T) {
	tests := []struct {
		name     string
		server   *tlsid.Identity
		mode     tlsid.TrustMode
		roots    []*x509.Certificate
		pinned   *tlsid.Identity
		wantErr  error // nil = must replicate
		wantCert bool  // ServerCertificate must be the server's leaf afterwards
	}{
		{name: "system roots/trusted", server: fx.caServer, mode: tlsid.TrustSystemRoots},
		{name: "system roots/self-signed refused", server: fx.selfSigned, mode: tlsid.TrustSystemRoots,
			wantErr: tlsid.ErrUntrustedCertificate},
		{name: "system roots/hostname mismatch", server: fx.wrongHost, mode: tlsid.TrustSystemRoots,
			wantErr: tlsid.ErrHostnameMismatch},
		{name: "system roots/expired", server: fx.expiredServer, mode: tlsid.TrustSystemRoots,
			wantErr: tlsid.ErrCertificateExpired},

		{name: "app roots/trusted", server: fx.caServer, mode: tlsid.TrustRoots, roots: []*x509.Certificate{fx.ca.Certificate()}},
		{name: "app roots/other CA refused", server: fx.caServer, mode: tlsid.TrustRoots, roots: []*x509.Certificate{fx.otherCA.Certificate()},
			wantErr: tlsid.ErrUntrustedCertificate},
		{name: "app roots/hostname mismatch", server: fx.wrongHost, mode: tlsid.TrustRoots, roots: []*x509.Certificate{fx.ca.Certificate()},
			wantErr: tlsid.ErrHostnameMismatch},
		{name: "app roots/expired", server: fx.expiredServer, mode: tlsid.TrustRoots, roots: []*x509.Certificate{fx.ca.Certificate()},
			wantErr: tlsid.ErrCertificateExpired},

		{name: "self-signed only/accepted", server: fx.selfSigned, mode: tlsid.TrustSelfSignedOnly},
		{name: "self-signed only/CA-issued refused", server: fx.caServer, mode: tlsid.TrustSelfSignedOnly,
			wantErr: tlsid.ErrUntrustedCertificate},
		{name: "self-signed only/expired", server: fx.expiredSelf, mode: tlsid.TrustSelfSignedOnly,
			wantErr: tlsid.ErrCertificateExpired},

		{name: "pinned/match", server: fx.selfSigned, mode: tlsid.TrustPinned, pinned: fx.selfSigned},
		{name: "pinned/CA-issued match", server: fx.wrongHost, mode: tlsid.TrustPinned, pinned: fx.wrongHost},
		{name: "pinned/mismatch", server: fx.selfSigned, mode: tlsid.TrustPinned, pinned: fx.otherSelf,
			wantErr: tlsid.ErrPinMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			local, remote := openDB(t, "local"), openDB(t, "remote")
			saveDoc(t, local, "from-replicator", `{"side":"active"}`)
			saveDoc(t, remote, "from-listener", `{"side":"passive"}`)
			l := startSecureListener(t, listener.Config{Database: remote, Identity: tt.server})
			cfg := Config{Database: local, TrustMode: tt.mode, TrustedRoots: tt.roots}
			if tt.pinned != nil {
				cfg.PinnedCertificate = tt.pinned.Certificate().Raw
			}
			res := replicate(t, l, cfg)
			if tt.wantErr == nil {
				expectSynced(t, res, local, remote, "from-replicator", "from-listener")
			} else {
				expectPermanent(t, res, tt.wantErr)
				if hasDoc(t, local, "from-listener") || hasDoc(t, remote, "from-replicator") {
					t.Error("a document crossed a connection that should have been refused")
				}
			}
			got := res.repl.ServerCertificate()
			if got == nil || !bytes.Equal(got.Raw, tt.server.Certificate().Raw) {
				t.Errorf("ServerCertificate = %v, want the listener's leaf %q", got, tt.server.Certificate().Subject)
			}
		})
	}
}
func TestConfigErrors(t *testing.T) {
	db := openDB(t, "db")
	const wss, ws = "wss://127.0.0.1:1/db", "ws://127.0.0.1:1/db"
	pin := fx.selfSigned.Certificate().Raw
	tests := []struct {
		name    string
		cfg     Config
		want    error // besides ErrInvalidConfig
		message string
	}{
		{"client identity over ws", Config{Database: db, URL: ws, ClientIdentity: fx.client}, nil, "client certificate"},
		{"pinned over ws", Config{Database: db, URL: ws, TrustMode: tlsid.TrustPinned, PinnedCertificate: pin}, nil, "wss://"},
		{"roots over ws", Config{Database: db, URL: ws, TrustedRoots: []*x509.Certificate{fx.ca.Certificate()}}, nil, "trusted roots"},
		{"TrustRoots without roots", Config{Database: db, URL: wss, TrustMode: tlsid.TrustRoots}, tlsid.ErrInvalidArgument, "root"},
		{"roots in self-signed mode", Config{Database: db, URL: wss, TrustMode: tlsid.TrustSelfSignedOnly,
			TrustedRoots: []*x509.Certificate{fx.ca.Certificate()}}, tlsid.ErrInvalidArgument, "TrustRoots"},
		{"pinned without a certificate", Config{Database: db, URL: wss, TrustMode: tlsid.TrustPinned}, tlsid.ErrInvalidArgument, "pinned"},
		{"pinned garbage", Config{Database: db, URL: wss, TrustMode: tlsid.TrustPinned, PinnedCertificate: []byte("not DER")},
			tlsid.ErrCorruptInput, "pinned"},
		{"fingerprint over ws", Config{Database: db, URL: ws, PinnedFingerprint: fx.selfSigned.Fingerprint()},
			nil, "pinned fingerprint"},
		{"fingerprint without pinned mode", Config{Database: db, URL: wss, TrustMode: tlsid.TrustSelfSignedOnly,
			PinnedFingerprint: fx.selfSigned.Fingerprint()}, tlsid.ErrInvalidArgument, "TrustPinned"},
		{"certificate and fingerprint", Config{Database: db, URL: wss, TrustMode: tlsid.TrustPinned, PinnedCertificate: pin,
			PinnedFingerprint: fx.selfSigned.Fingerprint()}, tlsid.ErrInvalidArgument, "not both"},
		{"malformed fingerprint", Config{Database: db, URL: wss, TrustMode: tlsid.TrustPinned, PinnedFingerprint: "AB:CD"},
			tlsid.ErrInvalidArgument, "fingerprint"},
		{"unknown mode", Config{Database: db, URL: wss, TrustMode: 42}, tlsid.ErrInvalidArgument, "mode"},
		{"empty client identity", Config{Database: db, URL: wss, ClientIdentity: &tlsid.Identity{}}, tlsid.ErrInvalidArgument, "identity"},
		{"bad scheme", Config{Database: db, URL: "https://127.0.0.1/db"}, nil, "scheme"},
		{"unparsable URL", Config{Database: db, URL: "wss://[::1"}, nil, "URL"},
		{"no database", Config{URL: wss}, nil, "database"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := New(tt.cfg)
			if !errors.Is(err, ErrInvalidConfig) || (tt.want != nil && !errors.Is(err, tt.want)) ||
				!strings.Contains(err.Error(), tt.message) {
				t.Fatalf("NewReplicator: %v; want ErrInvalidConfig (and %v) mentioning %q", err, tt.want, tt.message)
			}
			if IsTransient(err) {
				t.Errorf("a configuration error is transient: %v", err)
			}
			if r != nil {
				t.Error("a replicator was returned with the error")
			}
		})
	}
}

// upAndDown opens a local database holding "up" and a remote one holding "down": a run
// that synced both ways moved each.
func upAndDown(t testing.TB) (local, remote *store.Database) {
	t.Helper()
	local, remote = openDB(t, "local"), openDB(t, "remote")
	saveDoc(t, local, "up", `{}`)
	saveDoc(t, remote, "down", `{}`)
	return local, remote
}
