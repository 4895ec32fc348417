package listener

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/p2psync/libp2psync/engine/store"
	"github.com/p2psync/libp2psync/engine/tlsid"
)

// newIdentity makes a test identity (ECDSA: cheap).
func newIdentity(t testing.TB, opts tlsid.CreateOptions) *tlsid.Identity {
	t.Helper()
	id, err := tlsid.CreateIdentity(opts)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// selfSignedLoopback is a self-signed server identity for 127.0.0.1.
func selfSignedLoopback(t testing.TB) *tlsid.Identity {
	return newIdentity(t, tlsid.CreateOptions{Subject: tlsid.Subject{CommonName: "self"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}})
}

func TestSecurityConfigErrors(t *testing.T) {
	db, other := openDB(t, "db"), openDB(t, "other")
	ca := newIdentity(t, tlsid.CreateOptions{Subject: tlsid.Subject{CommonName: "test CA"}, IsCA: true})
	self := selfSignedLoopback(t)
	roots := &CertificateAuthenticator{Roots: []*x509.Certificate{ca.Certificate()}}
	tests := []struct {
		name    string
		cfg     Config
		message string // must appear in the error text
	}{
		{"client certificate without TLS", Config{Database: db, DisableTLS: true, ClientCertificate: roots}, "client-certificate authentication requires TLS"},
		{"identity without TLS", Config{Database: db, DisableTLS: true, Identity: self}, "TLS is disabled"},
		{"empty identity", Config{Database: db, Identity: &tlsid.Identity{}}, "identity is empty"},
		{"empty certificate authenticator", Config{Database: db, ClientCertificate: &CertificateAuthenticator{}}, "needs trusted roots"},
		{"nil root", Config{Database: db, ClientCertificate: &CertificateAuthenticator{Roots: []*x509.Certificate{nil}}}, "root 0 is nil"},
		{"no database", Config{}, "no database"},
		{"foreign collection", Config{Database: db, Collections: []*store.Collection{other.DefaultCollection()}}, "collections"},
		{"bad port", Config{Database: db, Port: 70000}, "port"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := New(tt.cfg)
			if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tt.message) {
				t.Fatalf("New: %v; want ErrInvalidConfig mentioning %q", err, tt.message)
			}
			if l != nil {
				t.Error("a listener was returned with the error")
			}
		})
	}
	// Plain ws:// with a password is allowed (the application's choice).
	l := start(t, Config{Database: db, NetworkInterface: "127.0.0.1", Password: StaticPasswords(nil)})
	if l.TLSIdentity() != nil {
		t.Error("TLSIdentity is set with TLS disabled")
	}
	for _, u := range l.URLs() {
		if !strings.HasPrefix(u, "ws://") {
			t.Errorf("URL %q with TLS disabled", u)
		}
	}
}

// startTLS starts a listener on 127.0.0.1 with TLS on (the default).
func startTLS(t testing.TB, cfg Config) *Listener {
	t.Helper()
	cfg.NetworkInterface = "127.0.0.1"
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t)
	}
	return startAs(t, cfg)
}

// Without an Identity the listener serves the database's anonymous identity, the same one
// after a Stop and Start; its URLs are wss://.
func TestAnonymousIdentityKept(t *testing.T) {
	db := openDB(t, "db")
	l := startTLS(t, Config{Database: db})
	id := l.TLSIdentity()
	if id == nil {
		t.Fatal("no identity served with TLS on")
	}
	for _, u := range l.URLs() {
		if !strings.HasPrefix(u, "wss://") {
			t.Errorf("URL %q with TLS on", u)
		}
	}
	l.Stop()
	if l.TLSIdentity() != nil || l.Port() != 0 {
		t.Error("identity or port still set after Stop")
	}
	if err := l.Start(); err != nil {
		t.Fatal(err)
	}
	if l.TLSIdentity().Fingerprint() != id.Fingerprint() {
		t.Error("the anonymous identity changed across Stop and Start")
	}
}

// The anonymous identity file is protected by AnonymousIdentity.Password: a listener that
// starts with another password reports ErrWrongPassword and leaves the file alone.
func TestAnonymousIdentityPassword(t *testing.T) {
	db := openDB(t, "db")
	cfg := Config{Database: db, NetworkInterface: "127.0.0.1", AnonymousIdentity: tlsid.AnonymousOptions{Password: "s3cret"}}
	l, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Start(); err != nil {
		t.Fatal(err)
	}
	fp := l.TLSIdentity().Fingerprint()
	l.Stop()

	cfg.AnonymousIdentity.Password = "guess"
	l, err = New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Start(); !errors.Is(err, tlsid.ErrWrongPassword) {
		t.Fatalf("start with the wrong identity password: %v, want ErrWrongPassword", err)
	}
	if l.Port() != 0 {
		t.Error("listener is running after a failed Start")
	}

	cfg.AnonymousIdentity.Password = "s3cret"
	l, err = New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Start(); err != nil {
		t.Fatal(err)
	}
	defer l.Stop()
	if l.TLSIdentity().Fingerprint() != fp {
		t.Error("identity changed after a start with the wrong password")
	}
	if err := l.Start(); !errors.Is(err, ErrRunning) {
		t.Errorf("second Start: %v, want ErrRunning", err)
	}
}

// The listener refuses every TLS version below 1.2 during the handshake.
func TestListenerRefusesOldTLS(t *testing.T) {
	db := openDB(t, "db")
	l := startTLS(t, Config{Database: db, Identity: selfSignedLoopback(t)})
	addr := fmt.Sprintf("127.0.0.1:%d", l.Port())
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	for _, v := range []uint16{tls.VersionTLS10, tls.VersionTLS11} {
		t.Run(tls.VersionName(v), func(t *testing.T) {
			conn, err := tls.DialWithDialer(dialer, "tcp", addr, &tls.Config{
				MinVersion: tls.VersionTLS10, MaxVersion: v, InsecureSkipVerify: true,
			})
			if err == nil {
				state := conn.ConnectionState()
				conn.Close()
				t.Fatalf("handshake succeeded with %s", tls.VersionName(state.Version))
			}
			if err := tlsid.Classify(err); !errors.Is(err, tlsid.ErrTLSVersion) {
				t.Fatalf("error %v does not wrap ErrTLSVersion", err)
			}
		})
	}
	// The same listener still serves modern clients.
	conn, err := tls.DialWithDialer(dialer, "tcp", addr, &tls.Config{MaxVersion: tls.VersionTLS12, InsecureSkipVerify: true})
	if err != nil {
		t.Fatalf("TLS 1.2 refused: %v", err)
	}
	conn.Close()
}
