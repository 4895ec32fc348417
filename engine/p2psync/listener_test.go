package p2psync

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/p2psync/libp2psync/engine/listener"
	"github.com/p2psync/libp2psync/engine/replicator"
	"github.com/p2psync/libp2psync/engine/tlsid"
)

// A listener without an identity serves the database's anonymous identity: the same
// certificate after a Stop/Start and after the database is closed and reopened (a process
// restart), so a replicator that pinned it on first use keeps connecting.
func TestAnonymousIdentityPinOnFirstUse(t *testing.T) {
	remoteDir := filepath.Join(t.TempDir(), "remote")
	local := newDB(t, "local")
	remote := openDB(t, remoteDir)
	save(t, remote, "first", `{"n":1}`)

	l := startListener(t, ListenerConfig{Database: remote})
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
	res := replicate(t, l, ReplicatorConfig{Database: local, Type: replicator.Pull, TrustMode: tlsid.TrustSelfSignedOnly})
	if res.status.Error != nil || !has(t, local, "first") {
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
	remote = openDB(t, remoteDir)
	save(t, remote, "second", `{"n":2}`)
	l2 := startListener(t, ListenerConfig{Database: remote})
	if got := l2.TLSIdentity().Fingerprint(); got != fp {
		t.Fatalf("fingerprint after reopening the database %s, want %s", got, fp)
	}
	res = replicate(t, l2, ReplicatorConfig{Database: local, Type: replicator.Pull, TrustMode: tlsid.TrustPinned, PinnedCertificate: pinned})
	if res.status.Error != nil {
		t.Fatalf("pinned replication after restart: %v", res.status.Error)
	}
	if !has(t, local, "second") {
		t.Error("document saved after the restart was not pulled")
	}

	// A listener of another database has another anonymous identity: the pin refuses it.
	other := newDB(t, "other")
	l3 := startListener(t, ListenerConfig{Database: other})
	if l3.TLSIdentity().Fingerprint() == fp {
		t.Fatal("two databases share an anonymous identity")
	}
	res = replicate(t, l3, ReplicatorConfig{Database: local, Type: replicator.Pull, TrustMode: tlsid.TrustPinned, PinnedCertificate: pinned})
	expectPermanent(t, res, tlsid.ErrPinMismatch, CategoryPinMismatch)
}

// Users exchange fingerprints, not certificates: a replicator pins the listener's anonymous
// identity by the fingerprint the listener shows, in any accepted form; another listener's
// certificate stops it at the first connection with a pin mismatch naming both fingerprints.
func TestPinnedFingerprint(t *testing.T) {
	local := newDB(t, "local")
	remote := newDB(t, "remote")
	save(t, remote, "doc", `{"n":1}`)
	l := startListener(t, ListenerConfig{Database: remote})
	fp := l.TLSIdentity().Fingerprint()
	for i, form := range []string{fp, tlsid.FingerprintColons(fp), strings.ToUpper(fp)} {
		res := replicate(t, l, ReplicatorConfig{Database: local, Type: replicator.Pull, TrustMode: tlsid.TrustPinned,
			PinnedFingerprint: form})
		if res.status.Error != nil {
			t.Fatalf("pinned by fingerprint %q: %v", form, res.status.Error)
		}
		if i == 0 && !has(t, local, "doc") {
			t.Fatal("the document was not pulled")
		}
	}

	other := newDB(t, "other")
	l2 := startListener(t, ListenerConfig{Database: other})
	res := replicate(t, l2, ReplicatorConfig{Database: local, Type: replicator.Pull, TrustMode: tlsid.TrustPinned,
		PinnedFingerprint: fp})
	expectPermanent(t, res, tlsid.ErrPinMismatch, CategoryPinMismatch)
	msg := res.status.Error.Error()
	if !strings.Contains(msg, fp) || !strings.Contains(msg, l2.TLSIdentity().Fingerprint()) {
		t.Errorf("mismatch error %q does not name the expected and the presented fingerprints", msg)
	}
	if cert := res.repl.ServerCertificate(); cert == nil || tlsid.CertificateFingerprint(cert) != l2.TLSIdentity().Fingerprint() {
		t.Error("ServerCertificate is not the refused certificate")
	}
}

// The anonymous identity file is protected by AnonymousIdentity.Password: a listener that
// starts with another password reports ErrWrongPassword and leaves the file alone.
func TestAnonymousIdentityPassword(t *testing.T) {
	db := newDB(t, "db")
	cfg := ListenerConfig{Database: db, NetworkInterface: "127.0.0.1", AnonymousIdentity: tlsid.AnonymousOptions{Password: "s3cret"}}
	l, err := NewListener(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Start(); err != nil {
		t.Fatal(err)
	}
	fp := l.TLSIdentity().Fingerprint()
	l.Stop()

	cfg.AnonymousIdentity.Password = "guess"
	l, err = NewListener(cfg)
	if err != nil {
		t.Fatal(err)
	}
	err = l.Start()
	if !errors.Is(err, tlsid.ErrWrongPassword) || Categorize(err) != CategoryWrongPassword {
		t.Fatalf("start with the wrong identity password: %v, want ErrWrongPassword", err)
	}
	if l.Port() != 0 {
		t.Error("listener is running after a failed Start")
	}

	cfg.AnonymousIdentity.Password = "s3cret"
	l, err = NewListener(cfg)
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
	if err := l.Start(); !errors.Is(err, listener.ErrRunning) {
		t.Errorf("second Start: %v, want listener.ErrRunning", err)
	}
}

// The listener refuses every TLS version below 1.2 during the handshake.
func TestListenerRefusesOldTLS(t *testing.T) {
	db := newDB(t, "db")
	l := startListener(t, ListenerConfig{Database: db, Identity: fx.selfSigned})
	addr := fmt.Sprintf("127.0.0.1:%d", l.Port())
	for _, v := range []uint16{tls.VersionTLS10, tls.VersionTLS11} {
		t.Run(tls.VersionName(v), func(t *testing.T) {
			conn, err := tls.DialWithDialer(dialer(), "tcp", addr, &tls.Config{
				MinVersion: tls.VersionTLS10, MaxVersion: v, InsecureSkipVerify: true,
			})
			if err == nil {
				state := conn.ConnectionState()
				conn.Close()
				t.Fatalf("handshake succeeded with %s", tls.VersionName(state.Version))
			}
			if err := tlsid.Classify(err); !errors.Is(err, tlsid.ErrTLSVersion) || Categorize(err) != CategoryTLSVersion {
				t.Fatalf("error %v does not wrap ErrTLSVersion", err)
			}
		})
	}
	// The same listener still serves modern clients.
	conn, err := tls.DialWithDialer(dialer(), "tcp", addr, &tls.Config{MaxVersion: tls.VersionTLS12, InsecureSkipVerify: true})
	if err != nil {
		t.Fatalf("TLS 1.2 refused: %v", err)
	}
	conn.Close()
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

	local := newDB(t, "local")
	res := replicateTo(t, ln.Addr().(*net.TCPAddr).Port, "db", true,
		ReplicatorConfig{Database: local, TrustMode: tlsid.TrustSelfSignedOnly}, true)
	expectPermanent(t, res, tlsid.ErrTLSVersion, CategoryTLSVersion)
}

func dialer() *net.Dialer { return &net.Dialer{Timeout: 5 * time.Second} }
