package p2psync

import (
	"bytes"
	"crypto/x509"
	"testing"

	"github.com/p2psync/libp2psync/engine/tlsid"
)

// Every trust mode of the replicator, against a real listener over wss://: the positive
// case replicates a document each way; the negative case stops at once with the sentinel
// of its cause, and the server's certificate is readable either way.
func TestServerTrust(t *testing.T) {
	tests := []struct {
		name     string
		server   *tlsid.Identity
		mode     tlsid.TrustMode
		roots    []*x509.Certificate
		pinned   *tlsid.Identity
		wantErr  error // nil = must replicate
		wantCat  ErrorCategory
		wantCert bool // ServerCertificate must be the server's leaf afterwards
	}{
		{name: "system roots/trusted", server: fx.caServer, mode: tlsid.TrustSystemRoots},
		{name: "system roots/self-signed refused", server: fx.selfSigned, mode: tlsid.TrustSystemRoots,
			wantErr: tlsid.ErrUntrustedCertificate, wantCat: CategoryUntrustedCertificate},
		{name: "system roots/hostname mismatch", server: fx.wrongHost, mode: tlsid.TrustSystemRoots,
			wantErr: tlsid.ErrHostnameMismatch, wantCat: CategoryHostnameMismatch},
		{name: "system roots/expired", server: fx.expiredServer, mode: tlsid.TrustSystemRoots,
			wantErr: tlsid.ErrCertificateExpired, wantCat: CategoryCertificateExpired},

		{name: "app roots/trusted", server: fx.caServer, mode: tlsid.TrustRoots, roots: []*x509.Certificate{fx.ca.Certificate()}},
		{name: "app roots/other CA refused", server: fx.caServer, mode: tlsid.TrustRoots, roots: []*x509.Certificate{fx.otherCA.Certificate()},
			wantErr: tlsid.ErrUntrustedCertificate, wantCat: CategoryUntrustedCertificate},
		{name: "app roots/hostname mismatch", server: fx.wrongHost, mode: tlsid.TrustRoots, roots: []*x509.Certificate{fx.ca.Certificate()},
			wantErr: tlsid.ErrHostnameMismatch, wantCat: CategoryHostnameMismatch},
		{name: "app roots/expired", server: fx.expiredServer, mode: tlsid.TrustRoots, roots: []*x509.Certificate{fx.ca.Certificate()},
			wantErr: tlsid.ErrCertificateExpired, wantCat: CategoryCertificateExpired},

		{name: "self-signed only/accepted", server: fx.selfSigned, mode: tlsid.TrustSelfSignedOnly},
		{name: "self-signed only/CA-issued refused", server: fx.caServer, mode: tlsid.TrustSelfSignedOnly,
			wantErr: tlsid.ErrUntrustedCertificate, wantCat: CategoryUntrustedCertificate},
		{name: "self-signed only/expired", server: fx.expiredSelf, mode: tlsid.TrustSelfSignedOnly,
			wantErr: tlsid.ErrCertificateExpired, wantCat: CategoryCertificateExpired},

		{name: "pinned/match", server: fx.selfSigned, mode: tlsid.TrustPinned, pinned: fx.selfSigned},
		{name: "pinned/CA-issued match", server: fx.wrongHost, mode: tlsid.TrustPinned, pinned: fx.wrongHost},
		{name: "pinned/mismatch", server: fx.selfSigned, mode: tlsid.TrustPinned, pinned: fx.otherSelf,
			wantErr: tlsid.ErrPinMismatch, wantCat: CategoryPinMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			local, remote := newDB(t, "local"), newDB(t, "remote")
			save(t, local, "from-replicator", `{"side":"active"}`)
			save(t, remote, "from-listener", `{"side":"passive"}`)
			l := startListener(t, ListenerConfig{Database: remote, Identity: tt.server})
			cfg := ReplicatorConfig{Database: local, TrustMode: tt.mode, TrustedRoots: tt.roots}
			if tt.pinned != nil {
				cfg.PinnedCertificate = tt.pinned.Certificate().Raw
			}
			res := replicate(t, l, cfg)
			if tt.wantErr == nil {
				expectSynced(t, res, local, remote, "from-replicator", "from-listener")
			} else {
				expectPermanent(t, res, tt.wantErr, tt.wantCat)
				if has(t, local, "from-listener") || has(t, remote, "from-replicator") {
					t.Error("a document crossed a connection that should have been refused")
				}
			}
			got := res.repl.ServerCertificate()
			if got == nil || !bytes.Equal(got.Raw, tt.server.Certificate().Raw) {
				t.Errorf("ServerCertificate = %v, want the listener's leaf %q", got, tt.server.Certificate().Subject)
			}
		})
	}
}
