package listener

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"

	"github.com/p2psync/libp2psync/engine/logging"
	"github.com/p2psync/libp2psync/engine/tlsid"
)

// validateSecurity checks the TLS and authentication settings of cfg and keeps its own
// copy of the client-certificate roots (the application may reuse its slice).
func validateSecurity(cfg *Config) error {
	if cfg.DisableTLS {
		if cfg.ClientCertificate != nil {
			return fmt.Errorf("%w: client-certificate authentication requires TLS: remove DisableTLS or the ClientCertificate authenticator", ErrInvalidConfig)
		}
		if cfg.Identity != nil {
			return fmt.Errorf("%w: a TLS identity was given but TLS is disabled: remove DisableTLS or the Identity", ErrInvalidConfig)
		}
	}
	if cfg.Identity != nil && len(cfg.Identity.Chain()) == 0 {
		return fmt.Errorf("%w: the TLS identity is empty (create it with the tlsid package)", ErrInvalidConfig)
	}
	if cc := cfg.ClientCertificate; cc != nil {
		if len(cc.Roots) == 0 && cc.Verify == nil {
			return fmt.Errorf("%w: the client-certificate authenticator needs trusted roots, a verify callback, or both", ErrInvalidConfig)
		}
		for i, c := range cc.Roots {
			if c == nil {
				return fmt.Errorf("%w: client-certificate root %d is nil", ErrInvalidConfig, i)
			}
		}
		cfg.ClientCertificate = &CertificateAuthenticator{Roots: append([]*x509.Certificate(nil), cc.Roots...), Verify: cc.Verify}
	}
	return nil
}

// serverTLS is the TLS configuration of a run and the identity it serves; both nil with
// DisableTLS. Without Config.Identity it loads (or, the first time, creates) the anonymous
// identity of the database directory.
func (l *Listener) serverTLS() (*tls.Config, *tlsid.Identity, error) {
	if l.cfg.DisableTLS {
		return nil, nil, nil
	}
	id := l.cfg.Identity
	if id == nil {
		opts := l.cfg.AnonymousIdentity
		if opts.Logger == nil {
			opts.Logger = l.log.With(logging.DomainAttr(logging.TLS))
		}
		var err error
		if id, err = tlsid.LoadOrCreateAnonymous(l.cfg.Database.Path(), opts); err != nil {
			return nil, nil, err
		}
	}
	return tlsid.ServerTLSConfig(id, l.serverOptions()), id, nil
}

// TLSIdentity returns the identity the running listener serves (its certificate, whose
// Fingerprint a replicator may pin), or nil when stopped or with TLS disabled.
func (l *Listener) TLSIdentity() *tlsid.Identity {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.identity
}
