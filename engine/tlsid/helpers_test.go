package tlsid

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/p2psync/libp2psync/engine/internal/testpki"
)

// fixtures are identities shared by every test of the binary (ECDSA keys: cheap to make).
type fixtures struct {
	ca, otherCA     *Identity // roots
	leaf            *Identity // server, signed by ca, SAN 127.0.0.1 + localhost
	otherLeaf       *Identity // server, signed by otherCA, SAN 127.0.0.1
	wrongHost       *Identity // server, signed by ca, SAN other.example only
	expiredLeaf     *Identity // server, signed by ca, expired yesterday
	selfSigned      *Identity // server, self-signed, SAN unrelated.example only
	selfSignedIP    *Identity // server, self-signed, SAN 127.0.0.1
	expiredSelf     *Identity // server, self-signed, expired
	client          *Identity // client, signed by ca
	expiredClient   *Identity // client, signed by ca, expired
	strangerClient  *Identity // client, self-signed
	clientOnlySelf  *Identity // self-signed with clientAuth only (not a server certificate)
	systemRootsFile string    // PEM of ca, installed as SSL_CERT_FILE
}

var fx fixtures

// TestMain builds the fixtures and makes ca the "system" root store of this process
// (testpki.InstallSystemRoots), so that TrustSystemRoots can be tested positively without
// touching the machine's trust store.
func TestMain(m *testing.M) {
	testpki.Main(m, "tlsid-test-", buildFixtures, nil)
}

func buildFixtures(dir string) error {
	now := time.Now()
	var firstErr error
	mk := testpki.Make(CreateIdentity, &firstErr)
	loopback := []net.IP{net.ParseIP("127.0.0.1")}
	fx.ca = mk(CreateOptions{IsCA: true, Subject: Subject{CommonName: "Test Root CA", Organization: "p2psync tests"}})
	fx.otherCA = mk(CreateOptions{IsCA: true, Subject: Subject{CommonName: "Other Root CA"}})
	if firstErr != nil {
		return firstErr
	}
	fx.leaf = mk(CreateOptions{Issuer: fx.ca, Subject: Subject{CommonName: "leaf"}, DNSNames: []string{"localhost"}, IPAddresses: loopback})
	fx.otherLeaf = mk(CreateOptions{Issuer: fx.otherCA, Subject: Subject{CommonName: "other leaf"}, IPAddresses: loopback})
	fx.wrongHost = mk(CreateOptions{Issuer: fx.ca, Subject: Subject{CommonName: "wrong host"}, DNSNames: []string{"other.example"}})
	fx.expiredLeaf = mk(CreateOptions{Issuer: fx.ca, Subject: Subject{CommonName: "expired leaf"}, IPAddresses: loopback,
		NotBefore: now.Add(-72 * time.Hour), Validity: 48 * time.Hour})
	fx.selfSigned = mk(CreateOptions{Subject: Subject{CommonName: "self-signed"}, DNSNames: []string{"unrelated.example"}})
	fx.selfSignedIP = mk(CreateOptions{Subject: Subject{CommonName: "self-signed ip"}, IPAddresses: loopback})
	fx.expiredSelf = mk(CreateOptions{Subject: Subject{CommonName: "expired self-signed"}, IPAddresses: loopback,
		NotBefore: now.Add(-72 * time.Hour), Validity: 48 * time.Hour})
	fx.client = mk(CreateOptions{Issuer: fx.ca, Subject: Subject{CommonName: "client"}, Usage: UsageClient})
	fx.expiredClient = mk(CreateOptions{Issuer: fx.ca, Subject: Subject{CommonName: "expired client"}, Usage: UsageClient,
		NotBefore: now.Add(-72 * time.Hour), Validity: 48 * time.Hour})
	fx.strangerClient = mk(CreateOptions{Subject: Subject{CommonName: "stranger"}, Usage: UsageClient})
	fx.clientOnlySelf = mk(CreateOptions{Subject: Subject{CommonName: "client-only"}, Usage: UsageClient, IPAddresses: loopback})

	if firstErr != nil {
		return firstErr
	}
	var err error
	fx.systemRootsFile, err = testpki.InstallSystemRoots(dir, fx.ca.Certificate().Raw)
	return err
}

var (
	rsa3072Once sync.Once
	rsa3072ID   *Identity
	rsa3072Err  error
)

// rsa3072Identity generates one RSA-3072 identity per test binary (it takes seconds).
func rsa3072Identity(t *testing.T) *Identity {
	t.Helper()
	rsa3072Once.Do(func() {
		rsa3072ID, rsa3072Err = CreateIdentity(CreateOptions{Key: KeyRSA3072, Subject: Subject{CommonName: "rsa3072"}})
	})
	if rsa3072Err != nil {
		t.Fatalf("create RSA-3072 identity: %v", rsa3072Err)
	}
	return rsa3072ID
}

// handshakeResult is what each side saw of one connection.
type handshakeResult struct {
	client error // from dial, or from reading the server's greeting
	server error // from the server's handshake
}

// handshake runs one TLS connection over loopback between a listener using serverCfg and a
// client using clientCfg; the client must read the server's "ok" line, which makes a TLS 1.3
// client-certificate refusal (sent after the client's handshake completes) visible.
func handshake(t *testing.T, serverCfg, clientCfg *tls.Config) handshakeResult {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", serverCfg)
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	defer ln.Close()
	serverDone := make(chan error, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			serverDone <- fmt.Errorf("accept: %w", err)
			return
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		tc := conn.(*tls.Conn)
		if err := tc.Handshake(); err != nil {
			serverDone <- err
			return
		}
		_, err = io.WriteString(tc, "ok\n")
		serverDone <- err
	}()

	var res handshakeResult
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	conn, err := tls.DialWithDialer(dialer, "tcp", ln.Addr().String(), clientCfg)
	if err != nil {
		res.client = err
	} else {
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		buf := make([]byte, 3)
		if _, err := io.ReadFull(conn, buf); err != nil {
			res.client = err
		} else if string(buf) != "ok\n" {
			res.client = fmt.Errorf("unexpected greeting %q", buf)
		}
		conn.Close()
	}
	select {
	case res.server = <-serverDone:
	case <-time.After(15 * time.Second):
		t.Fatal("server side of the handshake did not finish")
	}
	return res
}

// requireOpenSSL returns the openssl binary. Missing openssl is a failure, not a skip: CI
// installs it, and these interoperability tests are the point.
func requireOpenSSL(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("openssl")
	if err != nil {
		t.Fatalf("openssl is required for the PKCS#12/PKCS#8 interoperability tests but is not in PATH (install the openssl package): %v", err)
	}
	return path
}

// runOpenSSL runs openssl in dir and returns stdout; it fails the test on a non-zero exit.
func runOpenSSL(t *testing.T, dir string, args ...string) string {
	t.Helper()
	out, err := tryOpenSSL(t, dir, args...)
	if err != nil {
		t.Fatalf("openssl %s: %v", strings.Join(args, " "), err)
	}
	return out
}

func tryOpenSSL(t *testing.T, dir string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(requireOpenSSL(t), args...)
	cmd.Dir = dir
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%w; stderr: %s", err, stderr.String())
	}
	return stdout.String(), nil
}

// wantIs fails the test unless err wraps want.
func wantIs(t *testing.T, err, want error) {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	if !errors.Is(err, want) {
		t.Fatalf("error = %v; want one wrapping %v", err, want)
	}
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
