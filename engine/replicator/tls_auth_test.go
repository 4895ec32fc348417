package replicator

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/p2psync/libp2psync/engine/blip"
	"github.com/p2psync/libp2psync/engine/internal/testpki"
	"github.com/p2psync/libp2psync/engine/listener"
)

// selfSigned is a throwaway self-signed certificate for 127.0.0.1 and a pool trusting it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) { return testpki.SelfSigned(t) }

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
