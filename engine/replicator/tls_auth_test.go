package replicator

import (
	"errors"
	"fmt"
	"testing"

	"github.com/p2psync/libp2psync/engine/blip"
	"github.com/p2psync/libp2psync/engine/listener"
	"github.com/p2psync/libp2psync/engine/tlsid"
)

func TestTLSAndBasicAuth(t *testing.T) {
	local, remote := openDB(t, "local"), openDB(t, "remote")
	save(t, local.DefaultCollection(), "secret-doc", `{"x":1}`)
	l := startListener(t, remote, func(c *listener.Config) {
		c.DisableTLS, c.Identity = false, fx.selfSigned
		c.Password = listener.StaticPasswords(map[string]string{"bob": "pw"})
	})
	url := fmt.Sprintf("wss://127.0.0.1:%d/remote", l.Port())
	for _, u := range l.URLs() {
		if u[:6] != "wss://" {
			t.Errorf("listener URL %s", u)
		}
	}
	pin := fx.selfSigned.Certificate().Raw
	tests := []struct {
		name  string
		mode  tlsid.TrustMode
		pin   []byte
		auth  Authenticator
		check func(err error) bool
	}{
		{"trusted, right password", tlsid.TrustPinned, pin, BasicAuthenticator{"bob", "pw"}, func(err error) bool { return err == nil }},
		{"wrong password", tlsid.TrustPinned, pin, BasicAuthenticator{"bob", "nope"}, func(err error) bool {
			var he *blip.HTTPError
			return errors.As(err, &he) && he.Status == 401 && errors.Is(err, ErrUnauthorized) && !IsTransient(err)
		}},
		{"untrusted certificate", tlsid.TrustSystemRoots, nil, BasicAuthenticator{"bob", "pw"}, func(err error) bool {
			return errors.Is(err, ErrTLS) && errors.Is(err, tlsid.ErrUntrustedCertificate) && !IsTransient(err)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRepl(t, Config{Database: local, URL: url, Type: Push, TrustMode: tt.mode, PinnedCertificate: tt.pin, Authenticator: tt.auth})
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
