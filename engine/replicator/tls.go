package replicator

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"

	"github.com/p2psync/libp2psync/engine/tlsid"
)

// This file is the replicator's side of TLS: the trust policy of a wss:// replicator,
// built once by New with tlsid, and the listener certificate seen at the last handshake.

// clientTLS returns the TLS configuration for cfg's URL: nil for ws:// (where every TLS
// setting is refused), else tlsid's client policy for the trust settings, with a hook that
// records the listener's certificate at every handshake before the policy judges it.
func (r *Replicator) clientTLS(cfg Config) (*tls.Config, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("%w: endpoint URL: %v", ErrInvalidConfig, err)
	}
	if u.Scheme != "wss" {
		if what := tlsOnlySetting(cfg); what != "" {
			return nil, fmt.Errorf("%w: %s needs a wss:// URL, and %q does not use TLS", ErrInvalidConfig, what, cfg.URL)
		}
		return nil, nil
	}
	tc, err := tlsid.ClientTLSConfig(tlsid.ClientTrust{
		Mode:              cfg.TrustMode,
		Roots:             cfg.TrustedRoots,
		PinnedCertificate: cfg.PinnedCertificate,
		PinnedFingerprint: cfg.PinnedFingerprint,
		ServerName:        cfg.ServerName,
		Identity:          cfg.ClientIdentity,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	policy := tc.VerifyConnection
	tc.VerifyConnection = func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) > 0 {
			r.noteServerCertificate(cs.PeerCertificates[0])
		}
		if policy != nil {
			return policy(cs)
		}
		return nil
	}
	return tc, nil
}

// tlsOnlySetting names the first setting that only makes sense over TLS, or "".
func tlsOnlySetting(cfg Config) string {
	switch {
	case cfg.ClientIdentity != nil:
		return "a client certificate (ClientIdentity)"
	case cfg.TrustMode != tlsid.TrustSystemRoots:
		return "a trust mode other than system roots"
	case len(cfg.TrustedRoots) > 0:
		return "trusted roots"
	case len(cfg.PinnedCertificate) > 0:
		return "a pinned certificate"
	case cfg.PinnedFingerprint != "":
		return "a pinned fingerprint"
	case cfg.ServerName != "":
		return "a TLS server name"
	}
	return ""
}

func (r *Replicator) noteServerCertificate(c *x509.Certificate) {
	r.certMu.Lock()
	r.serverCert = c
	r.certMu.Unlock()
}

// noteRefusedCertificate records the certificate crypto/tls refused before the
// VerifyConnection hook could see it (the CA modes), from a run's error.
func (r *Replicator) noteRefusedCertificate(err error) {
	var cve *tls.CertificateVerificationError
	if errors.As(err, &cve) && len(cve.UnverifiedCertificates) > 0 {
		r.noteServerCertificate(cve.UnverifiedCertificates[0])
	}
}

// ServerCertificate returns the certificate the listener presented at the most recent TLS
// handshake of the current or last run, whether or not it was accepted; nil before any
// handshake reached that point (and right after Start). Treat it as read-only.
//
// Pin on first use: connect once (say in tlsid.TrustSelfSignedOnly mode, after the user
// checked the fingerprint), then save ServerCertificate().Raw and pass it as
// PinnedCertificate with tlsid.TrustPinned from then on. Pin only a certificate from a run
// that succeeded or that the user confirmed: after a trust failure this is the refused
// certificate, shown so the user can decide.
func (r *Replicator) ServerCertificate() *x509.Certificate {
	r.certMu.Lock()
	defer r.certMu.Unlock()
	return r.serverCert
}
