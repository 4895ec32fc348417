package testpki

import (
	"crypto/x509"
	"errors"
	"os"
	"testing"
)

func TestInstallSystemRoots(t *testing.T) {
	cert, _ := SelfSigned(t)
	dir := t.TempDir()
	t.Setenv("SSL_CERT_FILE", "")
	t.Setenv("SSL_CERT_DIR", "")
	file, err := InstallSystemRoots(dir, cert.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	if os.Getenv("SSL_CERT_FILE") != file {
		t.Fatalf("SSL_CERT_FILE = %q, want %q", os.Getenv("SSL_CERT_FILE"), file)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		t.Fatalf("roots file holds no certificate:\n%s", data)
	}
}

func TestMakeKeepsFirstError(t *testing.T) {
	var firstErr error
	first, second := errors.New("first"), errors.New("second")
	mk := Make(func(n int) (int, error) {
		switch n {
		case 1:
			return 0, first
		case 2:
			return 0, second
		}
		return n * 10, nil
	}, &firstErr)
	if got := mk(3); got != 30 || firstErr != nil {
		t.Fatalf("mk(3) = %d, err %v", got, firstErr)
	}
	mk(1)
	mk(2)
	if firstErr != first {
		t.Fatalf("kept %v, want the first error", firstErr)
	}
}
