package replicator

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/p2psync/libp2psync/engine/blip"
	"github.com/p2psync/libp2psync/engine/listener"
)

func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
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
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}

func TestTLSAndBasicAuth(t *testing.T) {
	cert, pool := selfSigned(t)
	local, remote := openDB(t, "local"), openDB(t, "remote")
	save(t, local.DefaultCollection(), "secret-doc", `{"x":1}`)
	l := startListener(t, remote, func(c *listener.Config) {
		c.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
		c.Authenticate = func(r *http.Request) bool {
			u, p, ok := r.BasicAuth()
			return ok && u == "bob" && p == "pw"
		}
	})
	url := fmt.Sprintf("wss://127.0.0.1:%d/remote", l.Port())
	for _, u := range l.URLs() {
		if u[:6] != "wss://" {
			t.Errorf("listener URL %s", u)
		}
	}
	tests := []struct {
		name  string
		tls   *tls.Config
		auth  Authenticator
		check func(err error) bool
	}{
		{"trusted, right password", &tls.Config{RootCAs: pool}, BasicAuthenticator{"bob", "pw"}, func(err error) bool { return err == nil }},
		{"wrong password", &tls.Config{RootCAs: pool}, BasicAuthenticator{"bob", "nope"}, func(err error) bool {
			var he *blip.HTTPError
			return errors.As(err, &he) && he.Status == 401 && !IsTransient(err)
		}},
		{"untrusted certificate", &tls.Config{}, BasicAuthenticator{"bob", "pw"}, func(err error) bool {
			return errors.Is(err, ErrTLS) && !IsTransient(err)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRepl(t, Config{Database: local, URL: url, Type: Push, TLSConfig: tt.tls, Authenticator: tt.auth})
			st := runOneShot(t, r)
			if !tt.check(st.Error) {
				t.Fatalf("status %+v", st)
			}
		})
	}
	if _, err := remote.DefaultCollection().Get(t.Context(), "secret-doc"); err != nil {
		t.Fatalf("document not pushed over TLS: %v", err)
	}
}
