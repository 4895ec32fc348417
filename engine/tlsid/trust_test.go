package tlsid

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestClientTrustModes(t *testing.T) {
	tests := []struct {
		name   string
		server *Identity
		trust  ClientTrust
		want   error // after Classify; nil = connection succeeds
		// typed: the raw dial error already wraps want, without Classify (custom modes)
		typed bool
	}{
		{name: "system roots/trusted chain", server: fx.leaf, trust: ClientTrust{}},
		{name: "system roots/unknown CA", server: fx.otherLeaf, trust: ClientTrust{}, want: ErrUntrustedCertificate},
		{name: "system roots/self-signed refused", server: fx.selfSignedIP, trust: ClientTrust{}, want: ErrUntrustedCertificate},
		{name: "system roots/wrong host", server: fx.wrongHost, trust: ClientTrust{}, want: ErrHostnameMismatch},
		{name: "system roots/expired", server: fx.expiredLeaf, trust: ClientTrust{}, want: ErrCertificateExpired},

		{name: "CA roots/trusted chain", server: fx.leaf, trust: ClientTrust{Mode: TrustRoots, Roots: []*x509.Certificate{fx.ca.Certificate()}}},
		{name: "CA roots/other CA", server: fx.otherLeaf, trust: ClientTrust{Mode: TrustRoots, Roots: []*x509.Certificate{fx.ca.Certificate()}}, want: ErrUntrustedCertificate},
		{name: "CA roots/wrong host", server: fx.wrongHost, trust: ClientTrust{Mode: TrustRoots, Roots: []*x509.Certificate{fx.ca.Certificate()}}, want: ErrHostnameMismatch},
		{name: "CA roots/server name override", server: fx.wrongHost, trust: ClientTrust{Mode: TrustRoots, Roots: []*x509.Certificate{fx.ca.Certificate()}, ServerName: "other.example"}},
		{name: "CA roots/expired", server: fx.expiredLeaf, trust: ClientTrust{Mode: TrustRoots, Roots: []*x509.Certificate{fx.ca.Certificate()}}, want: ErrCertificateExpired},
		{name: "CA roots/self-signed server refused", server: fx.selfSignedIP, trust: ClientTrust{Mode: TrustRoots, Roots: []*x509.Certificate{fx.ca.Certificate()}}, want: ErrUntrustedCertificate},
		{name: "CA roots/self-signed server trusted as its own root", server: fx.selfSignedIP, trust: ClientTrust{Mode: TrustRoots, Roots: []*x509.Certificate{fx.selfSignedIP.Certificate()}}},

		{name: "self-signed/accepted whatever its host", server: fx.selfSigned, trust: ClientTrust{Mode: TrustSelfSignedOnly}},
		{name: "self-signed/CA-signed chain refused even if the system trusts it", server: fx.leaf, trust: ClientTrust{Mode: TrustSelfSignedOnly}, want: ErrUntrustedCertificate, typed: true},
		{name: "self-signed/expired", server: fx.expiredSelf, trust: ClientTrust{Mode: TrustSelfSignedOnly}, want: ErrCertificateExpired, typed: true},
		{name: "self-signed/not a server certificate", server: fx.clientOnlySelf, trust: ClientTrust{Mode: TrustSelfSignedOnly}, want: ErrUntrustedCertificate, typed: true},

		{name: "pinned/exact match, host not checked", server: fx.wrongHost, trust: ClientTrust{Mode: TrustPinned, PinnedCertificate: fx.wrongHost.Certificate().Raw}},
		{name: "pinned/self-signed match", server: fx.selfSigned, trust: ClientTrust{Mode: TrustPinned, PinnedCertificate: fx.selfSigned.Certificate().Raw}},
		{name: "pinned/other certificate", server: fx.leaf, trust: ClientTrust{Mode: TrustPinned, PinnedCertificate: fx.otherLeaf.Certificate().Raw}, want: ErrPinMismatch, typed: true},
		{name: "pinned/expired", server: fx.expiredSelf, trust: ClientTrust{Mode: TrustPinned, PinnedCertificate: fx.expiredSelf.Certificate().Raw}, want: ErrCertificateExpired, typed: true},

		{name: "fingerprint/lowercase match, host not checked", server: fx.wrongHost, trust: ClientTrust{Mode: TrustPinned, PinnedFingerprint: fx.wrongHost.Fingerprint()}},
		{name: "fingerprint/uppercase colons match", server: fx.selfSigned, trust: ClientTrust{Mode: TrustPinned, PinnedFingerprint: FingerprintColons(fx.selfSigned.Fingerprint())}},
		{name: "fingerprint/uppercase match", server: fx.leaf, trust: ClientTrust{Mode: TrustPinned, PinnedFingerprint: strings.ToUpper(fx.leaf.Fingerprint())}},
		{name: "fingerprint/lowercase colons match", server: fx.leaf, trust: ClientTrust{Mode: TrustPinned, PinnedFingerprint: strings.ToLower(FingerprintColons(fx.leaf.Fingerprint()))}},
		{name: "fingerprint/other certificate", server: fx.leaf, trust: ClientTrust{Mode: TrustPinned, PinnedFingerprint: fx.otherLeaf.Fingerprint()}, want: ErrPinMismatch, typed: true},
		{name: "fingerprint/one digit off", server: fx.selfSigned, trust: ClientTrust{Mode: TrustPinned, PinnedFingerprint: flipLastDigit(fx.selfSigned.Fingerprint())}, want: ErrPinMismatch, typed: true},
		{name: "fingerprint/expired checked before the digest", server: fx.expiredSelf, trust: ClientTrust{Mode: TrustPinned, PinnedFingerprint: fx.expiredSelf.Fingerprint()}, want: ErrCertificateExpired, typed: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := ClientTLSConfig(tt.trust)
			if err != nil {
				t.Fatalf("ClientTLSConfig: %v", err)
			}
			res := handshake(t, ServerTLSConfig(tt.server, ServerOptions{}), cfg)
			if tt.want == nil {
				if res.client != nil || res.server != nil {
					t.Fatalf("want success; client error %v, server error %v", res.client, res.server)
				}
				return
			}
			t.Logf("client: %v\nserver: %v", res.client, res.server)
			if res.client == nil {
				t.Fatalf("connection succeeded; want %v", tt.want)
			}
			if tt.typed && !errors.Is(res.client, tt.want) {
				t.Fatalf("raw client error = %v; want it to wrap %v without Classify", res.client, tt.want)
			}
			wantIs(t, Classify(res.client), tt.want)
			// The listener learns that the client refused its certificate.
			wantIs(t, ClassifyListener(res.server), ErrUntrustedCertificate)
		})
	}
}

func TestClientTLSConfigInvalid(t *testing.T) {
	root := []*x509.Certificate{fx.ca.Certificate()}
	tests := []struct {
		name  string
		trust ClientTrust
		want  error
	}{
		{"roots with self-signed-only", ClientTrust{Mode: TrustSelfSignedOnly, Roots: root}, ErrInvalidArgument},
		{"roots with system mode", ClientTrust{Roots: root}, ErrInvalidArgument},
		{"pin outside pinned mode", ClientTrust{Mode: TrustRoots, Roots: root, PinnedCertificate: fx.leaf.Certificate().Raw}, ErrInvalidArgument},
		{"CA mode without roots", ClientTrust{Mode: TrustRoots}, ErrInvalidArgument},
		{"CA mode with nil root", ClientTrust{Mode: TrustRoots, Roots: []*x509.Certificate{nil}}, ErrInvalidArgument},
		{"pinned mode without pin", ClientTrust{Mode: TrustPinned}, ErrInvalidArgument},
		{"pin is not DER", ClientTrust{Mode: TrustPinned, PinnedCertificate: []byte("not a certificate")}, ErrCorruptInput},
		{"fingerprint outside pinned mode", ClientTrust{Mode: TrustSelfSignedOnly, PinnedFingerprint: fx.leaf.Fingerprint()}, ErrInvalidArgument},
		{"certificate and fingerprint", ClientTrust{Mode: TrustPinned, PinnedCertificate: fx.leaf.Certificate().Raw, PinnedFingerprint: fx.leaf.Fingerprint()}, ErrInvalidArgument},
		{"fingerprint too short", ClientTrust{Mode: TrustPinned, PinnedFingerprint: fx.leaf.Fingerprint()[:62]}, ErrInvalidArgument},
		{"fingerprint not hex", ClientTrust{Mode: TrustPinned, PinnedFingerprint: "zz" + fx.leaf.Fingerprint()[2:]}, ErrInvalidArgument},
		{"unknown mode", ClientTrust{Mode: TrustPinned + 1}, ErrInvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := ClientTLSConfig(tt.trust)
			if cfg != nil {
				t.Fatalf("got a config; want error %v", tt.want)
			}
			wantIs(t, err, tt.want)
		})
	}
}

func TestParseFingerprint(t *testing.T) {
	fp := fx.leaf.Fingerprint()
	want, _ := hex.DecodeString(fp)
	colons := FingerprintColons(fp)
	tests := []struct {
		name, in string
		ok       bool
	}{
		{"lowercase", fp, true},
		{"uppercase", strings.ToUpper(fp), true},
		{"uppercase colons", colons, true},
		{"lowercase colons", strings.ToLower(colons), true},
		{"mixed case", strings.ToUpper(fp[:10]) + fp[10:], true},
		{"empty", "", false},
		{"63 digits", fp[:63], false},
		{"65 digits", fp + "0", false},
		{"SHA-1 length", fp[:40], false},
		{"not hex", "g" + fp[1:], false},
		{"leading space", " " + fp, false},
		{"trailing newline", fp + "\n", false},
		{"colons misplaced", fp[:3] + ":" + fp[3:], false},
		{"some colons", colons[:6] + strings.ReplaceAll(colons[6:], ":", ""), false},
		{"trailing colon", colons + ":", false},
		{"prefixed", "sha256:" + fp, true},
		{"prefixed uppercase colons", "SHA256:" + colons, true},
		{"openssl line", "sha256 Fingerprint=" + colons, true},
		{"space pairs", strings.ReplaceAll(colons, ":", " "), true},
		{"other digest prefix", "sha1:" + fp, false},
		{"colons and spaces", strings.Replace(colons, ":", " ", 1), false},
		{"prefix only", "sha256:", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseFingerprint(tt.in)
			if !tt.ok {
				wantIs(t, err, ErrInvalidArgument)
				return
			}
			if err != nil || !bytes.Equal(got[:], want) {
				t.Fatalf("ParseFingerprint(%q) = %x, %v; want %x", tt.in, got, err, want)
			}
		})
	}
}

// A pin mismatch names both fingerprints in the one form the library prints (lowercase hex),
// whichever form the pin was given in.
func TestPinMismatchMessage(t *testing.T) {
	for _, pin := range []string{fx.otherLeaf.Fingerprint(), FingerprintColons(fx.otherLeaf.Fingerprint())} {
		cfg, err := ClientTLSConfig(ClientTrust{Mode: TrustPinned, PinnedFingerprint: pin})
		if err != nil {
			t.Fatal(err)
		}
		res := handshake(t, ServerTLSConfig(fx.leaf, ServerOptions{}), cfg)
		wantIs(t, res.client, ErrPinMismatch)
		want := "expected " + fx.otherLeaf.Fingerprint() + ", the server presented " + fx.leaf.Fingerprint()
		if msg := res.client.Error(); !strings.Contains(msg, want) {
			t.Fatalf("pin %q: message %q does not contain %q", pin, msg, want)
		}
	}
}

func TestNormalizeAndPEMFingerprint(t *testing.T) {
	fp := fx.leaf.Fingerprint()
	for _, in := range []string{fp, strings.ToUpper(fp), FingerprintColons(fp), "SHA256:" + FingerprintColons(fp)} {
		if got, err := NormalizeFingerprint(in); err != nil || got != fp {
			t.Fatalf("NormalizeFingerprint(%q) = %q, %v; want %q", in, got, err, fp)
		}
	}
	if _, err := NormalizeFingerprint("abc"); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("NormalizeFingerprint(abc) error %v", err)
	}
	certPEM, _, err := fx.leaf.ExportPEM("")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := PEMFingerprint(certPEM); err != nil || got != fp {
		t.Fatalf("PEMFingerprint = %q, %v; want the leaf's %q", got, err, fp)
	}
	if got, err := PEMFingerprint(fx.leaf.Certificate().Raw); err != nil || got != fp {
		t.Fatalf("PEMFingerprint(DER) = %q, %v", got, err)
	}
	if _, err := PEMFingerprint([]byte("no certificate here")); err == nil {
		t.Fatal("PEMFingerprint of text without a certificate succeeded")
	}
}

// flipLastDigit returns fp with its last hex digit changed.
func flipLastDigit(fp string) string {
	last := "1"
	if fp[len(fp)-1] == '1' {
		last = "2"
	}
	return fp[:len(fp)-1] + last
}

func TestClientTLSConfigMinVersion(t *testing.T) {
	for _, mode := range []ClientTrust{{}, {Mode: TrustSelfSignedOnly}} {
		cfg, err := ClientTLSConfig(mode)
		if err != nil {
			t.Fatal(err)
		}
		if cfg.MinVersion != tls.VersionTLS12 {
			t.Errorf("mode %d: MinVersion = %x; want TLS 1.2", mode.Mode, cfg.MinVersion)
		}
		if mode.Mode == TrustSystemRoots && cfg.InsecureSkipVerify {
			t.Error("system-roots mode must keep standard verification")
		}
	}
	if cfg := ServerTLSConfig(fx.leaf, ServerOptions{}); cfg.MinVersion != tls.VersionTLS12 || cfg.ClientAuth != tls.NoClientCert {
		t.Errorf("server config: MinVersion %x ClientAuth %v", cfg.MinVersion, cfg.ClientAuth)
	}
}

func TestClientCertificateAuth(t *testing.T) {
	caRoots := []*x509.Certificate{fx.ca.Certificate()}
	var seenVerified [][]*x509.Certificate
	strangerFP := fx.strangerClient.Fingerprint()
	allowStranger := func(chain []*x509.Certificate, verified [][]*x509.Certificate) error {
		if verified != nil {
			return fmt.Errorf("verified chains without roots")
		}
		if CertificateFingerprint(chain[0]) != strangerFP {
			return fmt.Errorf("fingerprint %s is not on the list", CertificateFingerprint(chain[0]))
		}
		return nil
	}
	recordVerified := func(chain []*x509.Certificate, verified [][]*x509.Certificate) error {
		seenVerified = verified
		return nil
	}
	tests := []struct {
		name       string
		server     ServerOptions
		client     *Identity
		wantServer error // nil = accepted
		wantClient error // after Classify
		check      func(t *testing.T)
	}{
		{name: "roots/accepted", server: ServerOptions{ClientRoots: caRoots, VerifyClient: recordVerified}, client: fx.client,
			check: func(t *testing.T) {
				if len(seenVerified) != 1 || len(seenVerified[0]) != 2 || !seenVerified[0][1].Equal(fx.ca.Certificate()) {
					t.Fatalf("callback saw verified chains %v; want one chain ending at the CA", seenVerified)
				}
			}},
		{name: "roots/untrusted client", server: ServerOptions{ClientRoots: caRoots}, client: fx.strangerClient,
			wantServer: ErrClientCertUntrusted, wantClient: ErrClientCertUntrusted},
		{name: "roots/expired client", server: ServerOptions{ClientRoots: caRoots}, client: fx.expiredClient,
			wantServer: ErrClientCertUntrusted, wantClient: ErrClientCertUntrusted},
		{name: "roots/server certificate used as client", server: ServerOptions{ClientRoots: caRoots}, client: fx.leaf,
			wantServer: ErrClientCertUntrusted, wantClient: ErrClientCertUntrusted},
		{name: "roots/no client certificate", server: ServerOptions{ClientRoots: caRoots}, client: nil,
			wantServer: ErrClientCertRequired, wantClient: ErrClientCertRequired},
		{name: "callback/accepted unverified chain", server: ServerOptions{VerifyClient: allowStranger}, client: fx.strangerClient},
		{name: "callback/refused", server: ServerOptions{VerifyClient: allowStranger}, client: fx.client,
			wantServer: ErrClientCertUntrusted, wantClient: ErrClientCertUntrusted},
		{name: "callback/expired refused before callback", server: ServerOptions{VerifyClient: func([]*x509.Certificate, [][]*x509.Certificate) error { return nil }},
			client: fx.expiredClient, wantServer: ErrClientCertUntrusted, wantClient: ErrClientCertUntrusted},
		{name: "callback/no client certificate", server: ServerOptions{VerifyClient: allowStranger}, client: nil,
			wantServer: ErrClientCertRequired, wantClient: ErrClientCertRequired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seenVerified = nil
			cfg, err := ClientTLSConfig(ClientTrust{Mode: TrustRoots, Roots: caRoots, Identity: tt.client})
			if err != nil {
				t.Fatal(err)
			}
			res := handshake(t, ServerTLSConfig(fx.leaf, tt.server), cfg)
			if tt.wantServer == nil {
				if res.server != nil || res.client != nil {
					t.Fatalf("want success; server error %v, client error %v", res.server, res.client)
				}
				if tt.check != nil {
					tt.check(t)
				}
				return
			}
			t.Logf("client: %v\nserver: %v", res.client, res.server)
			wantIs(t, ClassifyListener(res.server), tt.wantServer)
			wantIs(t, Classify(res.client), tt.wantClient)
		})
	}
}

func TestTLSVersionBelow12Refused(t *testing.T) {
	server := ServerTLSConfig(fx.leaf, ServerOptions{})
	roots := x509.NewCertPool()
	roots.AddCert(fx.ca.Certificate())

	old := &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}
	res := handshake(t, server, old)
	t.Logf("client: %v\nserver: %v", res.client, res.server)
	if res.client == nil {
		t.Fatal("a TLS 1.1-only client was accepted")
	}
	wantIs(t, Classify(res.client), ErrTLSVersion)
	wantIs(t, ClassifyListener(res.server), ErrTLSVersion)

	// The same client allowed to speak 1.2 gets through: the refusal was about the version.
	tls12 := &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS12}
	res = handshake(t, server, tls12)
	if res.client != nil || res.server != nil {
		t.Fatalf("TLS 1.2 client: client error %v, server error %v", res.client, res.server)
	}

	// And our client refuses a server that only speaks 1.1.
	oldServer := ServerTLSConfig(fx.leaf, ServerOptions{})
	oldServer.MinVersion, oldServer.MaxVersion = tls.VersionTLS10, tls.VersionTLS11
	cfg, err := ClientTLSConfig(ClientTrust{Mode: TrustRoots, Roots: []*x509.Certificate{fx.ca.Certificate()}})
	if err != nil {
		t.Fatal(err)
	}
	res = handshake(t, oldServer, cfg)
	wantIs(t, Classify(res.client), ErrTLSVersion)
}

func TestServerTLSConfigWithoutIdentity(t *testing.T) {
	cfg, err := ClientTLSConfig(ClientTrust{Mode: TrustSelfSignedOnly})
	if err != nil {
		t.Fatal(err)
	}
	res := handshake(t, ServerTLSConfig(nil, ServerOptions{}), cfg)
	wantIs(t, res.server, ErrInvalidArgument)
	if res.client == nil {
		t.Fatal("client connected to a server without identity")
	}
}

// TestHTTPSWithHelpers drives the helpers through net/http, the way the listener and the
// replicator's websocket dialer use them.
func TestHTTPSWithHelpers(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
			http.Error(w, "no client certificate", http.StatusForbidden)
			return
		}
		io.WriteString(w, r.TLS.PeerCertificates[0].Subject.CommonName)
	}))
	srv.TLS = ServerTLSConfig(fx.selfSigned, ServerOptions{ClientRoots: []*x509.Certificate{fx.ca.Certificate()}})
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	defer srv.Close()

	get := func(trust ClientTrust) (string, error) {
		cfg, err := ClientTLSConfig(trust)
		if err != nil {
			return "", err
		}
		tr := &http.Transport{TLSClientConfig: cfg}
		defer tr.CloseIdleConnections()
		client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
		resp, err := client.Get(srv.URL)
		if err != nil {
			return "", Classify(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		return string(body), err
	}

	body, err := get(ClientTrust{Mode: TrustSelfSignedOnly, Identity: fx.client})
	if err != nil || body != "client" {
		t.Fatalf("self-signed mode with client identity: body %q, error %v", body, err)
	}
	_, err = get(ClientTrust{Mode: TrustPinned, PinnedCertificate: fx.leaf.Certificate().Raw, Identity: fx.client})
	wantIs(t, err, ErrPinMismatch)
	_, err = get(ClientTrust{Identity: fx.client})
	wantIs(t, err, ErrHostnameMismatch) // crypto/x509 checks the name before the chain
	_, err = get(ClientTrust{Identity: fx.client, ServerName: "unrelated.example"})
	wantIs(t, err, ErrUntrustedCertificate)
	_, err = get(ClientTrust{Mode: TrustSelfSignedOnly, Identity: fx.strangerClient})
	wantIs(t, err, ErrClientCertUntrusted)
}
