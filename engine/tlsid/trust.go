package tlsid

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// ClientVerifyFunc decides whether a listener accepts a client certificate. chain is what the
// client presented, leaf first. verifiedChains holds the chains built to
// ServerOptions.ClientRoots, or is nil when no roots were configured (then chain is
// unverified apart from its validity dates and the callback is the whole policy). Return nil
// to accept; any error refuses the connection and is reported wrapped in
// ErrClientCertUntrusted (unless it already wraps one of this package's sentinels).
// It runs on the connection's handshake goroutine and may block, delaying only that handshake.
type ClientVerifyFunc func(chain []*x509.Certificate, verifiedChains [][]*x509.Certificate) error

// ServerOptions is the listener's TLS policy. The zero value means: no client certificate
// requested.
type ServerOptions struct {
	// ClientRoots, when non-empty, requires a client certificate that chains to one of these
	// roots and allows client authentication (extended key usage clientAuth or none).
	ClientRoots []*x509.Certificate
	// VerifyClient, when set, requires a client certificate and is called to accept or refuse
	// it, after the ClientRoots check if there is one.
	VerifyClient ClientVerifyFunc
	// Now is the clock for certificate validity; nil means time.Now.
	Now func() time.Time
}

// ServerTLSConfig returns the listener's TLS configuration: it serves id's certificate chain,
// accepts TLS 1.2 and 1.3 only, and applies opts' client-certificate policy. A client that
// offers only older versions is refused during the handshake (ErrTLSVersion through
// ClassifyListener); a missing client certificate fails with "client didn't provide a
// certificate" (ErrClientCertRequired through ClassifyListener); a refused one with an error
// wrapping ErrClientCertUntrusted.
//
// id must come from this package; if it is nil or empty, every handshake fails with
// ErrInvalidArgument. The returned
// config may be shared by all connections of a listener.
func ServerTLSConfig(id *Identity, opts ServerOptions) *tls.Config {
	now := clock(opts.Now)
	cfg := &tls.Config{
		MinVersion: tls.VersionTLS12,
		Time:       now,
	}
	if id.usable() == nil {
		cfg.Certificates = []tls.Certificate{id.TLSCertificate()}
	} else {
		cfg.GetCertificate = func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return nil, fmt.Errorf("tls server: %w: no identity configured", ErrInvalidArgument)
		}
	}
	if len(opts.ClientRoots) == 0 && opts.VerifyClient == nil {
		return cfg
	}
	var roots *x509.CertPool
	if len(opts.ClientRoots) > 0 {
		roots = x509.NewCertPool()
		for _, c := range opts.ClientRoots {
			roots.AddCert(c)
		}
		// With RequireAnyClientCert the pool is only a hint (the CertificateRequest names
		// these CAs, helping clients with several identities pick one); we verify below.
		cfg.ClientCAs = roots
	}
	cfg.ClientAuth = tls.RequireAnyClientCert
	verify := opts.VerifyClient
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		return verifyClientCertificate(cs.PeerCertificates, roots, verify, now())
	}
	return cfg
}

func verifyClientCertificate(certs []*x509.Certificate, roots *x509.CertPool, verify ClientVerifyFunc, now time.Time) error {
	if len(certs) == 0 {
		return fmt.Errorf("verify client: %w", ErrClientCertRequired)
	}
	leaf := certs[0]
	var verified [][]*x509.Certificate
	if roots != nil {
		inter := x509.NewCertPool()
		for _, c := range certs[1:] {
			inter.AddCert(c)
		}
		chains, err := leaf.Verify(x509.VerifyOptions{
			Roots:         roots,
			Intermediates: inter,
			CurrentTime:   now,
			KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		})
		if err != nil {
			return fmt.Errorf("verify client %q: %w: %w", leaf.Subject.String(), ErrClientCertUntrusted, err)
		}
		verified = chains
	} else if err := checkValidity(leaf, now); err != nil {
		return fmt.Errorf("verify client %q: %w: %v", leaf.Subject.String(), ErrClientCertUntrusted, err)
	}
	if verify == nil {
		return nil
	}
	if err := verify(slices.Clone(certs), verified); err != nil {
		if isOurs(err) {
			return err
		}
		return fmt.Errorf("verify client %q: %w: %w", leaf.Subject.String(), ErrClientCertUntrusted, err)
	}
	return nil
}

// TrustMode selects how a replicator decides to trust a listener's certificate.
type TrustMode uint8

const (
	// TrustSystemRoots verifies the chain against the operating system's roots and checks
	// the host name. This is the default.
	TrustSystemRoots TrustMode = iota
	// TrustRoots verifies the chain against ClientTrust.Roots only (an application CA) and
	// checks the host name.
	TrustRoots
	// TrustSelfSignedOnly accepts a server that presents a single certificate that is
	// self-signed and currently valid, whatever its host names; every other certificate,
	// including one issued by a CA the system trusts, is refused with
	// ErrUntrustedCertificate. This is Couchbase Lite's acceptOnlySelfSignedServerCertificate.
	TrustSelfSignedOnly
	// TrustPinned accepts only a server whose leaf certificate is the pinned one (and is
	// currently valid): byte-for-byte ClientTrust.PinnedCertificate, or the certificate whose
	// SHA-256 fingerprint is ClientTrust.PinnedFingerprint. Exactly one of the two is given.
	// Chain and host name are not checked. Couchbase Lite's pinnedServerCertificate.
	TrustPinned
)

// ClientTrust is the replicator's TLS policy. The zero value trusts the system roots and
// presents no client certificate.
type ClientTrust struct {
	Mode TrustMode
	// Roots are the trusted roots for TrustRoots; they must be empty in every other mode.
	Roots []*x509.Certificate
	// PinnedCertificate is the DER certificate for TrustPinned; it must be empty otherwise.
	PinnedCertificate []byte
	// PinnedFingerprint pins the server certificate by the SHA-256 of its DER instead, in
	// TrustPinned mode, when users exchange fingerprints rather than certificate files (see
	// ParseFingerprint for the accepted forms). It must be empty in other modes and when
	// PinnedCertificate is set.
	PinnedFingerprint string
	// ServerName is sent as SNI and, in TrustSystemRoots and TrustRoots, is the name checked
	// against the certificate. Empty means the host of the address dialled (tls.Dial,
	// net/http and websocket dialers fill it in; with tls.Client set it yourself).
	ServerName string
	// Identity, when set, is presented as the client certificate whenever the server asks.
	Identity *Identity
	// Now is the clock for certificate validity; nil means time.Now.
	Now func() time.Time
}

// ClientTLSConfig returns the replicator's TLS configuration for opts: TLS 1.2 minimum, and
// the server certificate checked as opts.Mode says. In TrustSelfSignedOnly and TrustPinned
// the standard verification is switched off (InsecureSkipVerify) and replaced by this
// package's check in VerifyConnection, which runs on every handshake, including resumed ones,
// and fails with ErrUntrustedCertificate, ErrCertificateExpired or ErrPinMismatch. In the
// other modes crypto/tls verifies and reports x509 errors: pass dial errors through Classify.
//
// Errors: ErrInvalidArgument (unknown mode, roots or pin given in a mode that does not use
// them, missing roots or pin, both a pinned certificate and a pinned fingerprint, malformed
// fingerprint), ErrCorruptInput (pinned certificate is not DER).
func ClientTLSConfig(opts ClientTrust) (*tls.Config, error) {
	cfg, err := clientTLSConfig(opts)
	if err != nil {
		return nil, fmt.Errorf("client tls config: %w", err)
	}
	return cfg, nil
}

func clientTLSConfig(opts ClientTrust) (*tls.Config, error) {
	if opts.Mode > TrustPinned {
		return nil, fmt.Errorf("%w: unknown trust mode %d", ErrInvalidArgument, opts.Mode)
	}
	if len(opts.Roots) > 0 && opts.Mode != TrustRoots {
		// As in Couchbase Lite, trusted roots make no sense with self-signed-only.
		return nil, fmt.Errorf("%w: trusted roots are only used in TrustRoots mode", ErrInvalidArgument)
	}
	if len(opts.PinnedCertificate) > 0 && opts.Mode != TrustPinned {
		return nil, fmt.Errorf("%w: a pinned certificate is only used in TrustPinned mode", ErrInvalidArgument)
	}
	if opts.PinnedFingerprint != "" && opts.Mode != TrustPinned {
		return nil, fmt.Errorf("%w: a pinned fingerprint is only used in TrustPinned mode", ErrInvalidArgument)
	}
	now := clock(opts.Now)
	cfg := &tls.Config{
		MinVersion: tls.VersionTLS12,
		ServerName: opts.ServerName,
		Time:       now,
	}
	if opts.Identity != nil {
		if err := opts.Identity.usable(); err != nil {
			return nil, fmt.Errorf("client identity: %w", err)
		}
		cert := opts.Identity.TLSCertificate()
		// Always offer our certificate: a listener that names no acceptable CAs, or names
		// CAs that do not cover a self-signed client, still gets it and decides itself.
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return &cert, nil
		}
	}
	switch opts.Mode {
	case TrustSystemRoots:
		// RootCAs nil: crypto/tls uses the system pool.
	case TrustRoots:
		for i, c := range opts.Roots {
			if c == nil {
				return nil, fmt.Errorf("%w: root %d is nil", ErrInvalidArgument, i)
			}
		}
		if len(opts.Roots) == 0 {
			return nil, fmt.Errorf("%w: TrustRoots needs at least one root certificate", ErrInvalidArgument)
		}
		pool := x509.NewCertPool()
		for _, c := range opts.Roots {
			pool.AddCert(c)
		}
		cfg.RootCAs = pool
	case TrustSelfSignedOnly:
		cfg.InsecureSkipVerify = true // replaced by VerifyConnection below
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			return verifySelfSignedServer(cs.PeerCertificates, now())
		}
	case TrustPinned:
		verify, err := pinPolicy(opts.PinnedCertificate, opts.PinnedFingerprint)
		if err != nil {
			return nil, err
		}
		cfg.InsecureSkipVerify = true // replaced by VerifyConnection below
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			return verifyPinnedServer(cs.PeerCertificates, verify, now())
		}
	}
	return cfg, nil
}

// pinPolicy checks the pin of TrustPinned (a certificate or a fingerprint, exactly one) and
// returns the comparison of a currently valid leaf against it.
func pinPolicy(cert []byte, fingerprint string) (func(leaf *x509.Certificate) error, error) {
	switch {
	case len(cert) > 0 && fingerprint != "":
		return nil, fmt.Errorf("%w: TrustPinned takes a pinned certificate or a pinned fingerprint, not both", ErrInvalidArgument)
	case len(cert) > 0:
		if _, err := x509.ParseCertificate(cert); err != nil {
			return nil, fmt.Errorf("%w: pinned certificate: %v", ErrCorruptInput, err)
		}
		pinned := bytes.Clone(cert)
		return func(leaf *x509.Certificate) error {
			if !bytes.Equal(leaf.Raw, pinned) {
				return fmt.Errorf("%w: fingerprint %s", ErrPinMismatch, CertificateFingerprint(leaf))
			}
			return nil
		}, nil
	case fingerprint != "":
		want, err := ParseFingerprint(fingerprint)
		if err != nil {
			return nil, fmt.Errorf("pinned fingerprint: %w", err)
		}
		return func(leaf *x509.Certificate) error {
			got := sha256.Sum256(leaf.Raw)
			if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
				return fmt.Errorf("%w: fingerprint mismatch: expected %s, the server presented %s", ErrPinMismatch,
					hex.EncodeToString(want[:]), hex.EncodeToString(got[:]))
			}
			return nil
		}, nil
	}
	return nil, fmt.Errorf("%w: TrustPinned needs a pinned certificate or a pinned fingerprint", ErrInvalidArgument)
}

// ParseFingerprint reads a SHA-256 certificate fingerprint in any of the forms users
// exchange: 64 hex digits in either case, either run together ("ab01...", the one form every
// message and API of this library prints: Identity.Fingerprint, CertificateFingerprint) or
// as 32 pairs separated by colons ("AB:01:...", as `openssl x509 -fingerprint -sha256` and
// browsers show it) or by spaces; optionally after "sha256:" or "sha256 fingerprint=" (any
// case; what `ssh-keygen`-style tools and openssl put before it). Anything else, including
// other digest lengths and stray spaces around it, is refused with ErrInvalidArgument.
func ParseFingerprint(s string) ([sha256.Size]byte, error) {
	var out [sha256.Size]byte
	digits := s
	lower := strings.ToLower(s)
	for _, prefix := range []string{"sha256:", "sha256 fingerprint=", "sha256="} {
		if strings.HasPrefix(lower, prefix) {
			digits = s[len(prefix):]
			break
		}
	}
	for _, sep := range []string{":", " "} {
		if !strings.Contains(digits, sep) {
			continue
		}
		pairs := strings.Split(digits, sep)
		ok := len(pairs) == sha256.Size
		for _, p := range pairs {
			ok = ok && len(p) == 2
		}
		if !ok {
			return out, fmt.Errorf("%w: fingerprint %q: %q must separate 32 pairs of hex digits", ErrInvalidArgument, s, sep)
		}
		digits = strings.Join(pairs, "")
		break
	}
	if len(digits) != 2*sha256.Size {
		return out, fmt.Errorf("%w: fingerprint %q: want the 64 hex digits of a SHA-256 digest, got %d characters",
			ErrInvalidArgument, s, len(digits))
	}
	if _, err := hex.Decode(out[:], []byte(digits)); err != nil {
		return out, fmt.Errorf("%w: fingerprint %q: %v", ErrInvalidArgument, s, err)
	}
	return out, nil
}

// NormalizeFingerprint reads a fingerprint in any form ParseFingerprint accepts and returns
// it in the one form this library prints: 64 lowercase hex digits.
func NormalizeFingerprint(s string) (string, error) {
	b, err := ParseFingerprint(s)
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(b[:]), nil
}

// verifySelfSignedServer is the self-signed-only policy. Like Couchbase Lite's Java trust
// manager it checks validity first, then demands exactly one certificate that signs itself.
func verifySelfSignedServer(certs []*x509.Certificate, now time.Time) error {
	if len(certs) == 0 {
		return fmt.Errorf("verify server: %w: no certificate presented", ErrUntrustedCertificate)
	}
	leaf := certs[0]
	if err := checkValidity(leaf, now); err != nil {
		return fmt.Errorf("verify server %q: %w", leaf.Subject.String(), err)
	}
	if len(certs) != 1 || !isSelfSigned(leaf) {
		return fmt.Errorf("verify server %q: %w: not a self-signed certificate (self-signed-only mode refuses CA-issued certificates)",
			leaf.Subject.String(), ErrUntrustedCertificate)
	}
	if len(leaf.ExtKeyUsage) > 0 && !slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageServerAuth) &&
		!slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageAny) {
		return fmt.Errorf("verify server %q: %w: certificate is not for server authentication",
			leaf.Subject.String(), ErrUntrustedCertificate)
	}
	return nil
}

// verifyPinnedServer is the pinned policy: validity (as Couchbase Lite checks it first),
// then the leaf compared with the pin by match (see pinPolicy).
func verifyPinnedServer(certs []*x509.Certificate, match func(*x509.Certificate) error, now time.Time) error {
	if len(certs) == 0 {
		return fmt.Errorf("verify server: %w: no certificate presented", ErrPinMismatch)
	}
	leaf := certs[0]
	if err := checkValidity(leaf, now); err != nil {
		return fmt.Errorf("verify server %q: %w", leaf.Subject.String(), err)
	}
	if err := match(leaf); err != nil {
		return fmt.Errorf("verify server %q: %w", leaf.Subject.String(), err)
	}
	return nil
}

func checkValidity(cert *x509.Certificate, now time.Time) error {
	if now.Before(cert.NotBefore) {
		return fmt.Errorf("%w: valid from %s", ErrCertificateExpired, cert.NotBefore.UTC().Format(time.RFC3339))
	}
	if now.After(cert.NotAfter) {
		return fmt.Errorf("%w: expired at %s", ErrCertificateExpired, cert.NotAfter.UTC().Format(time.RFC3339))
	}
	return nil
}

func clock(now func() time.Time) func() time.Time {
	if now == nil {
		return time.Now
	}
	return now
}

func isOurs(err error) bool {
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}
