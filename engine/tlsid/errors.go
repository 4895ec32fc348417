package tlsid

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"reflect"
	"strings"
)

// Sentinel errors. Every error this package returns, other than operating-system I/O errors
// (*fs.PathError and the like), wraps one of them with %w, so callers test with errors.Is and
// the C API maps each to its own code.
var (
	// ErrUntrustedCertificate: the peer's certificate does not chain to a trusted root, or
	// (self-signed mode) it is not self-signed.
	ErrUntrustedCertificate = errors.New("tlsid: untrusted certificate")
	// ErrHostnameMismatch: the certificate is trusted but not valid for the host dialled.
	ErrHostnameMismatch = errors.New("tlsid: certificate hostname mismatch")
	// ErrCertificateExpired: the certificate is outside its validity period (expired or not yet valid).
	ErrCertificateExpired = errors.New("tlsid: certificate expired or not yet valid")
	// ErrPinMismatch: the server's certificate is not the pinned one.
	ErrPinMismatch = errors.New("tlsid: certificate does not match the pinned certificate")
	// ErrWrongPassword: a password did not decrypt a keystore, PKCS#12 file or encrypted key.
	ErrWrongPassword = errors.New("tlsid: wrong password")
	// ErrClientCertRequired: the server requires a client certificate and none was presented.
	ErrClientCertRequired = errors.New("tlsid: client certificate required")
	// ErrClientCertUntrusted: a client certificate was presented but refused.
	ErrClientCertUntrusted = errors.New("tlsid: client certificate refused")
	// ErrTLSVersion: the peer offered or selected only TLS versions below 1.2.
	ErrTLSVersion = errors.New("tlsid: TLS version not supported")
	// ErrCorruptInput: PKCS#12, PEM, DER or keystore data is malformed or fails its integrity check.
	ErrCorruptInput = errors.New("tlsid: corrupt input")
	// ErrNotFound: no identity under that label.
	ErrNotFound = errors.New("tlsid: not found")
	// ErrInvalidArgument: a caller-supplied option or value is not acceptable.
	ErrInvalidArgument = errors.New("tlsid: invalid argument")
)

// sentinels lists every sentinel, for Classify's "already ours" test.
var sentinels = []error{
	ErrUntrustedCertificate, ErrHostnameMismatch, ErrCertificateExpired, ErrPinMismatch,
	ErrWrongPassword, ErrClientCertRequired, ErrClientCertUntrusted, ErrTLSVersion,
	ErrCorruptInput, ErrNotFound, ErrInvalidArgument,
}

// Sentinels returns every sentinel error of this package, so that the C API can check that its
// status table covers them all.
func Sentinels() []error { return append([]error(nil), sentinels...) }

// TLS alert numbers (RFC 8446 §6, RFC 5246 §7.2) that Classify looks at.
const (
	alertBadCertificate          = 42
	alertUnsupportedCertificate  = 43
	alertCertificateRevoked      = 44
	alertCertificateExpired      = 45
	alertCertificateUnknown      = 46
	alertUnknownCA               = 48
	alertAccessDenied            = 49
	alertProtocolVersion         = 70
	alertCertificateRequired     = 116
	alertBadCertificateHashValue = 114
)

// Classify maps an error seen by a dialer (the replicator side) during or right after a TLS
// handshake to this package's sentinels, keeping the original error in the chain:
//
//   - an error that already wraps one of our sentinels is returned unchanged;
//   - x509.UnknownAuthorityError, SystemRootsError, ConstraintViolationError, other
//     CertificateInvalidError reasons, UnhandledCriticalExtension, InsecureAlgorithmError
//     => ErrUntrustedCertificate;
//   - x509.HostnameError => ErrHostnameMismatch;
//   - x509.CertificateInvalidError with reason Expired => ErrCertificateExpired;
//   - a protocol_version alert or a local "unsupported versions" failure => ErrTLSVersion;
//   - a certificate_required alert, or the server's "client didn't provide a certificate"
//     => ErrClientCertRequired;
//   - bad_certificate, unknown_ca, certificate_unknown/expired/revoked/unsupported, access_denied
//     alerts from the peer => ErrClientCertUntrusted (the peer refused the certificate we sent).
//
// Anything else (network errors, timeouts, nil) is returned unchanged. With TLS 1.3 a server
// refuses a client certificate after the client's handshake has completed, so pass the error of
// the first read or write through Classify as well.
func Classify(err error) error { return classify(err, false) }

// ClassifyListener is Classify from the listener's point of view: a certificate alert sent by
// the peer means the client refused our server certificate, so it maps to
// ErrUntrustedCertificate instead of ErrClientCertUntrusted. Everything else is as in Classify.
func ClassifyListener(err error) error { return classify(err, true) }

func classify(err error, listener bool) error {
	if err == nil {
		return nil
	}
	if isOurs(err) {
		return err
	}
	wrap := func(s error) error { return fmt.Errorf("%w: %w", s, err) }

	var hostErr x509.HostnameError
	if errors.As(err, &hostErr) {
		return wrap(ErrHostnameMismatch)
	}
	var invalid x509.CertificateInvalidError
	if errors.As(err, &invalid) {
		if invalid.Reason == x509.Expired {
			return wrap(ErrCertificateExpired)
		}
		return wrap(ErrUntrustedCertificate)
	}
	var (
		unknownCA  x509.UnknownAuthorityError
		sysRoots   x509.SystemRootsError
		constraint x509.ConstraintViolationError
		critical   x509.UnhandledCriticalExtension
		insecure   x509.InsecureAlgorithmError
		verifyErr  *tls.CertificateVerificationError
	)
	if errors.As(err, &unknownCA) || errors.As(err, &sysRoots) || errors.As(err, &constraint) ||
		errors.As(err, &critical) || errors.As(err, &insecure) || errors.As(err, &verifyErr) {
		return wrap(ErrUntrustedCertificate)
	}

	if code, remote, ok := alertCode(err); ok {
		switch code {
		case alertProtocolVersion:
			return wrap(ErrTLSVersion)
		case alertCertificateRequired:
			if remote {
				return wrap(ErrClientCertRequired)
			}
		case alertBadCertificate, alertUnsupportedCertificate, alertCertificateRevoked,
			alertCertificateExpired, alertCertificateUnknown, alertUnknownCA, alertAccessDenied,
			alertBadCertificateHashValue:
			if listener {
				return wrap(ErrUntrustedCertificate)
			}
			return wrap(ErrClientCertUntrusted)
		}
	}

	// crypto/tls reports these local failures as plain errors; their texts are stable API in
	// practice (they appear in the standard library's own tests).
	msg := err.Error()
	switch {
	case strings.Contains(msg, "tls: client offered only unsupported versions"),
		strings.Contains(msg, "tls: server selected unsupported protocol version"),
		strings.Contains(msg, "tls: no supported versions satisfy MinVersion and MaxVersion"):
		return wrap(ErrTLSVersion)
	case strings.Contains(msg, "tls: client didn't provide a certificate"):
		return wrap(ErrClientCertRequired)
	}
	return err
}

// alertCode finds a TLS alert in err's chain. Alerts received from the peer arrive as a
// *net.OpError with Op "remote error" whose Err has crypto/tls's unexported alert type, so the
// numeric code is read through reflection rather than by matching its text. Local alerts
// (QUIC) arrive as tls.AlertError.
func alertCode(err error) (code uint8, remote bool, ok bool) {
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Op == "remote error" && opErr.Err != nil {
		v := reflect.ValueOf(opErr.Err)
		if v.Kind() == reflect.Uint8 && v.Type().PkgPath() == "crypto/tls" {
			return uint8(v.Uint()), true, true
		}
	}
	var local tls.AlertError
	if errors.As(err, &local) {
		return uint8(local), false, true
	}
	return 0, false, false
}
