package p2psync

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"syscall"
	"testing"

	"github.com/p2psync/libp2psync/engine/blip"
	"github.com/p2psync/libp2psync/engine/listener"
	"github.com/p2psync/libp2psync/engine/replicator"
	"github.com/p2psync/libp2psync/engine/store"
	"github.com/p2psync/libp2psync/engine/syncproto"
	"github.com/p2psync/libp2psync/engine/tlsid"
)

func TestListenerConfigErrors(t *testing.T) {
	db := newDB(t, "db")
	other := newDB(t, "other")
	roots := &CertificateAuthenticator{Roots: []*x509.Certificate{fx.ca.Certificate()}}
	tests := []struct {
		name    string
		cfg     ListenerConfig
		want    error
		message string // must appear in the error text
	}{
		{"client certificate without TLS", ListenerConfig{Database: db, DisableTLS: true, ClientCertificate: roots},
			listener.ErrInvalidConfig, "client-certificate authentication requires TLS"},
		{"identity without TLS", ListenerConfig{Database: db, DisableTLS: true, Identity: fx.selfSigned},
			listener.ErrInvalidConfig, "TLS is disabled"},
		{"empty identity", ListenerConfig{Database: db, Identity: &tlsid.Identity{}},
			listener.ErrInvalidConfig, "identity is empty"},
		{"empty certificate authenticator", ListenerConfig{Database: db, ClientCertificate: &CertificateAuthenticator{}},
			listener.ErrInvalidConfig, "needs trusted roots"},
		{"nil root", ListenerConfig{Database: db, ClientCertificate: &CertificateAuthenticator{Roots: []*x509.Certificate{nil}}},
			listener.ErrInvalidConfig, "root 0 is nil"},
		{"no database", ListenerConfig{}, listener.ErrInvalidConfig, "no database"},
		{"foreign collection", ListenerConfig{Database: db, Collections: []*store.Collection{other.DefaultCollection()}},
			listener.ErrInvalidConfig, "collections"},
		{"bad port", ListenerConfig{Database: db, Port: 70000}, listener.ErrInvalidConfig, "port"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := NewListener(tt.cfg)
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.message) {
				t.Fatalf("NewListener: %v; want %v mentioning %q", err, tt.want, tt.message)
			}
			if l != nil {
				t.Error("a listener was returned with the error")
			}
		})
	}
	// Plain ws:// with a password is allowed (the application's choice).
	l := startListener(t, ListenerConfig{Database: db, DisableTLS: true, Password: StaticPasswords(nil)})
	if l.TLSIdentity() != nil {
		t.Error("TLSIdentity is set with TLS disabled")
	}
	for _, u := range l.URLs() {
		if !strings.HasPrefix(u, "ws://") {
			t.Errorf("URL %q with TLS disabled", u)
		}
	}
}

func TestReplicatorConfigErrors(t *testing.T) {
	db := newDB(t, "db")
	const wss, ws = "wss://127.0.0.1:1/db", "ws://127.0.0.1:1/db"
	pin := fx.selfSigned.Certificate().Raw
	tests := []struct {
		name    string
		cfg     ReplicatorConfig
		want    error // besides replicator.ErrInvalidConfig
		message string
	}{
		{"client identity over ws", ReplicatorConfig{Database: db, URL: ws, ClientIdentity: fx.client}, nil, "client certificate"},
		{"pinned over ws", ReplicatorConfig{Database: db, URL: ws, TrustMode: tlsid.TrustPinned, PinnedCertificate: pin}, nil, "wss://"},
		{"roots over ws", ReplicatorConfig{Database: db, URL: ws, TrustedRoots: []*x509.Certificate{fx.ca.Certificate()}}, nil, "trusted roots"},
		{"TrustRoots without roots", ReplicatorConfig{Database: db, URL: wss, TrustMode: tlsid.TrustRoots}, tlsid.ErrInvalidArgument, "root"},
		{"roots in self-signed mode", ReplicatorConfig{Database: db, URL: wss, TrustMode: tlsid.TrustSelfSignedOnly,
			TrustedRoots: []*x509.Certificate{fx.ca.Certificate()}}, tlsid.ErrInvalidArgument, "TrustRoots"},
		{"pinned without a certificate", ReplicatorConfig{Database: db, URL: wss, TrustMode: tlsid.TrustPinned}, tlsid.ErrInvalidArgument, "pinned"},
		{"pinned garbage", ReplicatorConfig{Database: db, URL: wss, TrustMode: tlsid.TrustPinned, PinnedCertificate: []byte("not DER")},
			tlsid.ErrCorruptInput, "pinned"},
		{"fingerprint over ws", ReplicatorConfig{Database: db, URL: ws, PinnedFingerprint: fx.selfSigned.Fingerprint()},
			nil, "pinned fingerprint"},
		{"fingerprint without pinned mode", ReplicatorConfig{Database: db, URL: wss, TrustMode: tlsid.TrustSelfSignedOnly,
			PinnedFingerprint: fx.selfSigned.Fingerprint()}, tlsid.ErrInvalidArgument, "TrustPinned"},
		{"certificate and fingerprint", ReplicatorConfig{Database: db, URL: wss, TrustMode: tlsid.TrustPinned, PinnedCertificate: pin,
			PinnedFingerprint: fx.selfSigned.Fingerprint()}, tlsid.ErrInvalidArgument, "not both"},
		{"malformed fingerprint", ReplicatorConfig{Database: db, URL: wss, TrustMode: tlsid.TrustPinned, PinnedFingerprint: "AB:CD"},
			tlsid.ErrInvalidArgument, "fingerprint"},
		{"unknown mode", ReplicatorConfig{Database: db, URL: wss, TrustMode: 42}, tlsid.ErrInvalidArgument, "mode"},
		{"empty client identity", ReplicatorConfig{Database: db, URL: wss, ClientIdentity: &tlsid.Identity{}}, tlsid.ErrInvalidArgument, "identity"},
		{"bad scheme", ReplicatorConfig{Database: db, URL: "https://127.0.0.1/db"}, nil, "scheme"},
		{"unparsable URL", ReplicatorConfig{Database: db, URL: "wss://[::1"}, nil, "URL"},
		{"no database", ReplicatorConfig{URL: wss}, nil, "database"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := NewReplicator(tt.cfg)
			if !errors.Is(err, replicator.ErrInvalidConfig) || (tt.want != nil && !errors.Is(err, tt.want)) ||
				!strings.Contains(err.Error(), tt.message) {
				t.Fatalf("NewReplicator: %v; want ErrInvalidConfig (and %v) mentioning %q", err, tt.want, tt.message)
			}
			if got := Categorize(err); got != CategoryInvalidConfig {
				t.Errorf("Categorize = %v", got)
			}
			if r != nil {
				t.Error("a replicator was returned with the error")
			}
		})
	}
}

func TestCategorize(t *testing.T) {
	http401 := &blip.HTTPError{Status: http.StatusUnauthorized}
	tests := []struct {
		name string
		err  error
		want ErrorCategory
	}{
		{"nil", nil, CategoryNone},
		{"plain", errors.New("something"), CategoryOther},
		{"401", fmt.Errorf("connect: %w", http401), CategoryUnauthorized},
		{"401 already classified", classify(fmt.Errorf("connect: %w", http401)), CategoryUnauthorized},
		{"403 at upgrade", &blip.HTTPError{Status: http.StatusForbidden}, CategoryForbidden},
		{"403 from the session", fmt.Errorf("push: %w", syncproto.ErrForbidden), CategoryForbidden},
		{"404", &blip.HTTPError{Status: http.StatusNotFound}, CategoryOther},
		{"503", &blip.HTTPError{Status: http.StatusServiceUnavailable}, CategoryTransient},
		{"connection refused", fmt.Errorf("dial: %w", syscall.ECONNREFUSED), CategoryTransient},
		{"abnormal close", &blip.CloseError{Code: blip.CloseAbnormal}, CategoryTransient},
		{"x509 unknown authority", fmt.Errorf("dial: %w", x509.UnknownAuthorityError{}), CategoryUntrustedCertificate},
		{"x509 hostname", fmt.Errorf("dial: %w", x509.HostnameError{Certificate: fx.wrongHost.Certificate(), Host: "127.0.0.1"}), CategoryHostnameMismatch},
		{"x509 expired", x509.CertificateInvalidError{Reason: x509.Expired}, CategoryCertificateExpired},
		{"pin", fmt.Errorf("verify: %w", tlsid.ErrPinMismatch), CategoryPinMismatch},
		{"client cert required", tlsid.ErrClientCertRequired, CategoryClientCertRequired},
		{"client cert refused", tlsid.ErrClientCertUntrusted, CategoryClientCertRefused},
		{"tls version", tlsid.ErrTLSVersion, CategoryTLSVersion},
		{"wrong password", tlsid.ErrWrongPassword, CategoryWrongPassword},
		{"corrupt", tlsid.ErrCorruptInput, CategoryCorruptInput},
		{"no such identity", tlsid.ErrNotFound, CategoryNotFound},
		{"listener config", listener.ErrInvalidConfig, CategoryInvalidConfig},
		{"replicator config", replicator.ErrInvalidConfig, CategoryInvalidConfig},
		{"cancelled", context.Canceled, CategoryOther},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Categorize(tt.err); got != tt.want {
				t.Errorf("Categorize(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
	// Names are stable and distinct.
	names := map[string]ErrorCategory{}
	for c := CategoryNone; c <= CategoryNotFound; c++ {
		n := c.String()
		if prev, dup := names[n]; dup && prev != c {
			t.Errorf("categories %d and %d share the name %q", prev, c, n)
		}
		names[n] = c
	}
	if ErrorCategory(999).String() != "other" || CategoryPinMismatch.String() != "pin_mismatch" {
		t.Error("unexpected category names")
	}
}

// Every sentinel an application can meet through the facade has its own category, so the
// C API can map each to its own code.
func TestEveryTLSSentinelCategorized(t *testing.T) {
	seen := map[ErrorCategory]error{}
	for _, s := range append(tlsid.Sentinels(), ErrUnauthorized, syncproto.ErrForbidden) {
		c := Categorize(s)
		if c == CategoryOther || c == CategoryNone {
			t.Errorf("%v has no category", s)
			continue
		}
		if prev, dup := seen[c]; dup && c != CategoryInvalidConfig {
			t.Errorf("%v and %v share category %v", prev, s, c)
		}
		seen[c] = s
	}
}
