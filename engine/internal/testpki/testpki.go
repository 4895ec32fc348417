// Package testpki is the certificate plumbing the engine's packages' tests share: running a
// test binary with a temporary fixture directory, making a test CA the process's "system"
// root store, building a set of identities while keeping the first error, and a throwaway
// self-signed server certificate for tests that only need TLS to be on.
//
// It imports no engine package, so tlsid's own (internal) tests can use it too; each
// package keeps its own fixture set, built with its own identity constructor through Make.
// Only tests import it.
package testpki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Main runs m with a fresh temporary directory (named after prefix) in which build creates
// the package's fixtures; the directory is removed before the process exits. after, if not
// nil, gets the exit code of a run and returns the one to exit with (a leak check, say).
// A failing build exits with 2 and the error on standard error.
func Main(m *testing.M, prefix string, build func(dir string) error, after func(code int) int) {
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	code := func() int {
		defer os.RemoveAll(dir)
		if err := build(dir); err != nil {
			fmt.Fprintln(os.Stderr, "build fixtures:", err)
			return 2
		}
		return m.Run()
	}()
	if after != nil {
		code = after(code)
	}
	os.Exit(code)
}

// InstallSystemRoots makes the certificates roots (DER) the process's system root store:
// crypto/x509 reads SSL_CERT_FILE and SSL_CERT_DIR the first time the system pool is used,
// so a system-roots trust mode can be tested both ways without touching the machine. It
// writes roots.pem and an empty directory under dir, and returns the file's path. Call it
// before anything uses the system pool (from TestMain).
func InstallSystemRoots(dir string, roots ...[]byte) (string, error) {
	var text []byte
	for _, der := range roots {
		text = append(text, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	file := filepath.Join(dir, "roots.pem")
	if err := os.WriteFile(file, text, 0o600); err != nil {
		return "", err
	}
	emptyDir := filepath.Join(dir, "no-more-roots")
	if err := os.Mkdir(emptyDir, 0o700); err != nil {
		return "", err
	}
	os.Setenv("SSL_CERT_FILE", file)
	os.Setenv("SSL_CERT_DIR", emptyDir)
	return file, nil
}

// Make returns create without its error: a fixture list reads as a list of calls, and the
// first error is kept in *firstErr (later ones are dropped) for the builder to return.
func Make[O, T any](create func(O) (T, error), firstErr *error) func(O) T {
	return func(opts O) T {
		v, err := create(opts)
		if err != nil && *firstErr == nil {
			*firstErr = err
		}
		return v
	}
}

// SelfSigned is a throwaway self-signed ECDSA server certificate for 127.0.0.1, valid from an
// hour ago to an hour from now, and a pool trusting exactly it: for tests that need TLS on
// but test nothing about certificates.
func SelfSigned(t testing.TB) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "listener"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}
