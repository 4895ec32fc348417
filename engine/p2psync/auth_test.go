package p2psync

import (
	"crypto/x509"
	"encoding/base64"
	"errors"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/p2psync/libp2psync/engine/blip"
	"github.com/p2psync/libp2psync/engine/replicator"
	"github.com/p2psync/libp2psync/engine/tlsid"
)

// Password authentication end to end: accepted credentials replicate; refused or missing
// ones stop the replicator at once with ErrUnauthorized (HTTP 401 with a Basic challenge),
// after exactly one attempt, and the listener's callback was asked exactly once.
func TestPasswordAuthentication(t *testing.T) {
	static := StaticPasswords(map[string]string{"alice": "correct horse", "bob": "battery staple"})
	tests := []struct {
		name     string
		tlsOff   bool
		auth     replicator.Authenticator
		panicky  bool
		wantOK   bool
		wantAsks int64 // calls of the password callback; -1 = not counted
	}{
		{name: "accepted", auth: replicator.BasicAuthenticator{Username: "alice", Password: "correct horse"}, wantOK: true, wantAsks: 1},
		{name: "accepted over ws", tlsOff: true, auth: replicator.BasicAuthenticator{Username: "bob", Password: "battery staple"}, wantOK: true, wantAsks: 1},
		{name: "wrong password", auth: replicator.BasicAuthenticator{Username: "alice", Password: "battery staple"}, wantAsks: 1},
		{name: "unknown user", auth: replicator.BasicAuthenticator{Username: "carol", Password: "correct horse"}, wantAsks: 1},
		{name: "empty password", auth: replicator.BasicAuthenticator{Username: "alice"}, wantAsks: 1},
		{name: "no credentials", wantAsks: 0},
		{name: "session cookie instead", auth: replicator.SessionAuthenticator{SessionID: "abc"}, wantAsks: 0},
		{name: "panicking callback refuses", auth: replicator.BasicAuthenticator{Username: "alice", Password: "correct horse"}, panicky: true, wantAsks: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			local, remote := newDB(t, "local"), newDB(t, "remote")
			save(t, local, "up", `{}`)
			save(t, remote, "down", `{}`)
			var asks atomic.Int64
			check := func(user, pass string) bool {
				asks.Add(1)
				if tt.panicky {
					panic("authenticator bug")
				}
				return static(user, pass)
			}
			lcfg := ListenerConfig{Database: remote, Password: check, DisableTLS: tt.tlsOff}
			rcfg := ReplicatorConfig{Database: local, Authenticator: tt.auth}
			if !tt.tlsOff {
				lcfg.Identity = fx.selfSigned
				rcfg.TrustMode = tlsid.TrustSelfSignedOnly
			}
			l := startListener(t, lcfg)
			res := replicate(t, l, rcfg)
			if tt.wantOK {
				expectSynced(t, res, local, remote, "up", "down")
			} else {
				expectPermanent(t, res, ErrUnauthorized, CategoryUnauthorized)
				var he *blip.HTTPError
				if !errors.As(res.status.Error, &he) || he.Status != http.StatusUnauthorized {
					t.Errorf("no HTTP 401 in the error chain: %v", res.status.Error)
				} else if got := he.Header.Get("WWW-Authenticate"); got != `Basic charset="UTF-8"` {
					t.Errorf("WWW-Authenticate %q", got)
				}
				if has(t, local, "down") || has(t, remote, "up") {
					t.Error("a document crossed a refused connection")
				}
			}
			if got := asks.Load(); got != tt.wantAsks {
				t.Errorf("password callback called %d times, want %d", got, tt.wantAsks)
			}
			if tt.panicky {
				// The listener survived the panic and still serves.
				res := replicate(t, l, ReplicatorConfig{Database: local, TrustMode: tlsid.TrustSelfSignedOnly, Authenticator: tt.auth})
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
	byRoots := &CertificateAuthenticator{Roots: []*x509.Certificate{fx.ca.Certificate()}}
	var strangerOK atomic.Int64
	allowStranger := &CertificateAuthenticator{Verify: func(chain []*x509.Certificate) bool {
		strangerOK.Add(1)
		return tlsid.CertificateFingerprint(chain[0]) == fx.strangerCl.Fingerprint()
	}}
	rootsAndAlice := &CertificateAuthenticator{Roots: byRoots.Roots, Verify: func(chain []*x509.Certificate) bool {
		return chain[0].Subject.CommonName == "alice"
	}}
	panicky := &CertificateAuthenticator{Verify: func([]*x509.Certificate) bool { panic("verifier bug") }}
	tests := []struct {
		name    string
		auth    *CertificateAuthenticator
		client  *tlsid.Identity
		wantErr error
		wantCat ErrorCategory
	}{
		{name: "roots/accepted", auth: byRoots, client: fx.client},
		{name: "roots/untrusted", auth: byRoots, client: fx.strangerCl, wantErr: tlsid.ErrClientCertUntrusted, wantCat: CategoryClientCertRefused},
		{name: "roots/expired", auth: byRoots, client: fx.expiredCl, wantErr: tlsid.ErrClientCertUntrusted, wantCat: CategoryClientCertRefused},
		{name: "roots/missing", auth: byRoots, wantErr: tlsid.ErrClientCertRequired, wantCat: CategoryClientCertRequired},
		{name: "callback/accepted", auth: allowStranger, client: fx.strangerCl},
		{name: "callback/refused", auth: allowStranger, client: fx.client, wantErr: tlsid.ErrClientCertUntrusted, wantCat: CategoryClientCertRefused},
		{name: "callback/missing", auth: allowStranger, wantErr: tlsid.ErrClientCertRequired, wantCat: CategoryClientCertRequired},
		{name: "roots and callback/accepted", auth: rootsAndAlice, client: fx.client},
		{name: "roots and callback/stranger", auth: rootsAndAlice, client: fx.strangerCl, wantErr: tlsid.ErrClientCertUntrusted, wantCat: CategoryClientCertRefused},
		{name: "panicking callback refuses", auth: panicky, client: fx.client, wantErr: tlsid.ErrClientCertUntrusted, wantCat: CategoryClientCertRefused},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			local, remote := newDB(t, "local"), newDB(t, "remote")
			save(t, local, "up", `{}`)
			save(t, remote, "down", `{}`)
			l := startListener(t, ListenerConfig{Database: remote, ClientCertificate: tt.auth})
			cfg := ReplicatorConfig{Database: local, TrustMode: tlsid.TrustSelfSignedOnly, ClientIdentity: tt.client}
			if tt.wantErr == nil {
				expectSynced(t, replicate(t, l, cfg), local, remote, "up", "down")
				return
			}
			expectPermanent(t, replicate(t, l, cfg), tt.wantErr, tt.wantCat)
			for range 5 {
				expectPermanent(t, replicateDirect(t, l, cfg), tt.wantErr, tt.wantCat)
			}
			if has(t, local, "down") || has(t, remote, "up") {
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

func TestParseBasicAuth(t *testing.T) {
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	raw := func(s string) string { return base64.RawStdEncoding.EncodeToString([]byte(s)) }
	tests := []struct {
		name       string
		header     string
		user, pass string
		ok         bool
	}{
		{"plain", "Basic " + b64("alice:secret"), "alice", "secret", true},
		{"lowercase scheme", "basic " + b64("alice:secret"), "alice", "secret", true},
		{"upper scheme", "BASIC " + b64("alice:secret"), "alice", "secret", true},
		{"extra spaces and tab", "  Basic \t " + b64("alice:secret") + "  ", "alice", "secret", true},
		{"no padding", "Basic " + raw("alice:secre"), "alice", "secre", true},
		{"colon in password", "Basic " + b64("alice:a:b:c"), "alice", "a:b:c", true},
		{"empty password", "Basic " + b64("alice:"), "alice", "", true},
		{"empty username", "Basic " + b64(":secret"), "", "secret", true},
		{"utf-8", "Basic " + b64("zoë:naïve"), "zoë", "naïve", true},
		{"empty header", "", "", "", false},
		{"scheme only", "Basic", "", "", false},
		{"other scheme", "Bearer " + b64("alice:secret"), "", "", false},
		{"two tokens", "Basic " + b64("alice:secret") + " " + b64("x:y"), "", "", false},
		{"not base64", "Basic !!!!", "", "", false},
		{"bad padding", "Basic " + b64("alice:secret") + "==", "", "", false},
		{"no colon", "Basic " + b64("alicesecret"), "", "", false},
		{"NUL byte", "Basic " + b64("alice:sec\x00ret"), "", "", false},
		{"invalid utf-8", "Basic " + b64("alice:\xff\xfe"), "", "", false},
		{"oversized", "Basic " + b64("alice:"+string(make([]byte, maxAuthorizationLen))), "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			user, pass, ok := parseBasicAuth(tt.header)
			if ok != tt.ok || user != tt.user || pass != tt.pass {
				t.Errorf("parseBasicAuth(%.60q) = %q, %q, %v; want %q, %q, %v", tt.header, user, pass, ok, tt.user, tt.pass, tt.ok)
			}
		})
	}
}

// What the replicator's BasicAuthenticator sends is what the listener parses.
func TestBasicAuthRoundTrip(t *testing.T) {
	for _, cred := range [][2]string{{"alice", "secret"}, {"", ""}, {"u", "p:with:colons"}, {"ünï", "cödé ✓"}} {
		h := http.Header{}
		replicator.BasicAuthenticator{Username: cred[0], Password: cred[1]}.Authorize(h)
		user, pass, ok := parseBasicAuth(h.Get("Authorization"))
		if !ok || user != cred[0] || pass != cred[1] {
			t.Errorf("round trip of %q: got %q, %q, %v", cred, user, pass, ok)
		}
	}
}

func TestStaticPasswords(t *testing.T) {
	check := StaticPasswords(map[string]string{"alice": "secret", "bob": ""})
	tests := []struct {
		user, pass string
		want       bool
	}{
		{"alice", "secret", true},
		{"bob", "", true},
		{"alice", "Secret", false},
		{"alice", "secret ", false},
		{"alice", "", false},
		{"bob", "secret", false},
		{"carol", "secret", false},
		{"", "", false},
	}
	for _, tt := range tests {
		if got := check(tt.user, tt.pass); got != tt.want {
			t.Errorf("check(%q, %q) = %v, want %v", tt.user, tt.pass, got, tt.want)
		}
	}
	if StaticPasswords(nil)("", "") {
		t.Error("an empty credential list accepted someone")
	}
	creds := map[string]string{"alice": "secret"}
	check = StaticPasswords(creds)
	creds["alice"] = "changed"
	if !check("alice", "secret") || check("alice", "changed") {
		t.Error("StaticPasswords did not copy its map")
	}
}

// A request with two Authorization headers is refused before the callback runs.
func TestPasswordCheckHeaders(t *testing.T) {
	var asked atomic.Int64
	hook := passwordCheck(func(string, string) bool { asked.Add(1); return true }, testLogger(t))
	good := "Basic " + base64.StdEncoding.EncodeToString([]byte("a:b"))
	tests := []struct {
		name   string
		values []string
		want   bool
	}{
		{"one", []string{good}, true},
		{"none", nil, false},
		{"two", []string{good, good}, false},
		{"malformed", []string{"Basic"}, false},
	}
	for _, tt := range tests {
		r, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1/db/_blipsync", nil)
		for _, v := range tt.values {
			r.Header.Add("Authorization", v)
		}
		before := asked.Load()
		if got := hook(r); got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
		if calls := asked.Load() - before; (calls == 1) != tt.want {
			t.Errorf("%s: callback called %d times", tt.name, calls)
		}
	}
}

// A continuous replicator (unlimited attempts for transient errors) also stops at once on
// a security failure instead of retrying forever.
func TestContinuousStopsOnSecurityFailure(t *testing.T) {
	tests := []struct {
		name    string
		lcfg    ListenerConfig
		rcfg    ReplicatorConfig
		wantErr error
		wantCat ErrorCategory
	}{
		{"wrong password", ListenerConfig{Password: StaticPasswords(map[string]string{"alice": "x"})},
			ReplicatorConfig{TrustMode: tlsid.TrustSelfSignedOnly, Authenticator: replicator.BasicAuthenticator{Username: "alice", Password: "y"}},
			ErrUnauthorized, CategoryUnauthorized},
		{"pin mismatch", ListenerConfig{},
			ReplicatorConfig{TrustMode: tlsid.TrustPinned, PinnedCertificate: fx.otherSelf.Certificate().Raw},
			tlsid.ErrPinMismatch, CategoryPinMismatch},
		{"client certificate missing", ListenerConfig{ClientCertificate: &CertificateAuthenticator{Roots: []*x509.Certificate{fx.ca.Certificate()}}},
			ReplicatorConfig{TrustMode: tlsid.TrustSelfSignedOnly},
			tlsid.ErrClientCertRequired, CategoryClientCertRequired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.lcfg.Database, tt.lcfg.Identity = newDB(t, "remote"), fx.selfSigned
			tt.rcfg.Database, tt.rcfg.Continuous, tt.rcfg.MaxAttempts = newDB(t, "local"), true, -1
			l := startListener(t, tt.lcfg)
			expectPermanent(t, replicate(t, l, tt.rcfg), tt.wantErr, tt.wantCat)
		})
	}
}
