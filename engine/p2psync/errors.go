package p2psync

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/p2psync/libp2psync/engine/blip"
	"github.com/p2psync/libp2psync/engine/listener"
	"github.com/p2psync/libp2psync/engine/replicator"
	"github.com/p2psync/libp2psync/engine/syncproto"
	"github.com/p2psync/libp2psync/engine/tlsid"
)

// ErrUnauthorized: the listener refused the replicator's credentials (HTTP 401 on the
// WebSocket upgrade: wrong or missing password). Permanent: the replicator stops without
// retrying. The *blip.HTTPError with the status and the WWW-Authenticate challenge stays in
// the chain.
var ErrUnauthorized = errors.New("p2psync: credentials refused by the listener (HTTP 401)")

// classify gives an error seen by a replicator the sentinels an application tests with
// errors.Is: tlsid's (untrusted certificate, host name mismatch, expiry, pin mismatch,
// client certificate required or refused, TLS version), ErrUnauthorized for an upgrade
// answered 401 and syncproto.ErrForbidden for one answered 403. The original error stays in
// the chain, and an error that already carries the sentinel is returned unchanged.
func classify(err error) error {
	if err == nil {
		return nil
	}
	err = tlsid.Classify(err)
	var he *blip.HTTPError
	if errors.As(err, &he) {
		switch {
		case he.Status == http.StatusUnauthorized && !errors.Is(err, ErrUnauthorized):
			err = fmt.Errorf("%w: %w", ErrUnauthorized, err)
		case he.Status == http.StatusForbidden && !errors.Is(err, syncproto.ErrForbidden):
			err = fmt.Errorf("%w: %w", syncproto.ErrForbidden, err)
		}
	}
	return err
}

// ErrorCategory is a stable, coarse name for why an operation failed, for callers that
// cannot use errors.Is (the C API, event JSON). Values are never renumbered; new ones may be
// appended, so treat an unknown value like CategoryOther.
type ErrorCategory int

// Error categories. The comment of each names the sentinel it stands for.
const (
	CategoryNone                 ErrorCategory = 0  // nil error
	CategoryOther                ErrorCategory = 1  // none of the below
	CategoryInvalidConfig        ErrorCategory = 2  // listener/replicator ErrInvalidConfig, tlsid.ErrInvalidArgument
	CategoryTransient            ErrorCategory = 3  // network trouble the replicator retries (replicator.IsTransient)
	CategoryUntrustedCertificate ErrorCategory = 4  // tlsid.ErrUntrustedCertificate
	CategoryHostnameMismatch     ErrorCategory = 5  // tlsid.ErrHostnameMismatch
	CategoryCertificateExpired   ErrorCategory = 6  // tlsid.ErrCertificateExpired
	CategoryPinMismatch          ErrorCategory = 7  // tlsid.ErrPinMismatch
	CategoryClientCertRequired   ErrorCategory = 8  // tlsid.ErrClientCertRequired
	CategoryClientCertRefused    ErrorCategory = 9  // tlsid.ErrClientCertUntrusted
	CategoryTLSVersion           ErrorCategory = 10 // tlsid.ErrTLSVersion
	CategoryUnauthorized         ErrorCategory = 11 // ErrUnauthorized (HTTP 401)
	CategoryForbidden            ErrorCategory = 12 // syncproto.ErrForbidden (HTTP or BLIP 403)
	CategoryWrongPassword        ErrorCategory = 13 // tlsid.ErrWrongPassword (keystore, PKCS#12, key file)
	CategoryCorruptInput         ErrorCategory = 14 // tlsid.ErrCorruptInput
	CategoryNotFound             ErrorCategory = 15 // tlsid.ErrNotFound (no identity under that keystore label)
)

// categoryTable is searched in order; the first sentinel matched wins. Security conditions
// come first: a pin mismatch is also a TLS failure, but the caller wants to know which.
var categoryTable = []struct {
	target error
	cat    ErrorCategory
	name   string
}{
	{tlsid.ErrPinMismatch, CategoryPinMismatch, "pin_mismatch"},
	{tlsid.ErrCertificateExpired, CategoryCertificateExpired, "certificate_expired"},
	{tlsid.ErrHostnameMismatch, CategoryHostnameMismatch, "hostname_mismatch"},
	{tlsid.ErrUntrustedCertificate, CategoryUntrustedCertificate, "untrusted_certificate"},
	{tlsid.ErrClientCertRequired, CategoryClientCertRequired, "client_certificate_required"},
	{tlsid.ErrClientCertUntrusted, CategoryClientCertRefused, "client_certificate_refused"},
	{tlsid.ErrTLSVersion, CategoryTLSVersion, "tls_version"},
	{ErrUnauthorized, CategoryUnauthorized, "unauthorized"},
	{syncproto.ErrForbidden, CategoryForbidden, "forbidden"},
	// A configuration rejected by New (say, a pinned certificate that is not DER) is a
	// configuration error first, whatever tlsid said about the value.
	{listener.ErrInvalidConfig, CategoryInvalidConfig, "invalid_config"},
	{replicator.ErrInvalidConfig, CategoryInvalidConfig, "invalid_config"},
	{tlsid.ErrWrongPassword, CategoryWrongPassword, "wrong_password"},
	{tlsid.ErrCorruptInput, CategoryCorruptInput, "corrupt_input"},
	{tlsid.ErrNotFound, CategoryNotFound, "not_found"},
	{tlsid.ErrInvalidArgument, CategoryInvalidConfig, "invalid_config"},
}

// Categorize maps any error of this library (a replicator status error, a Start or New
// error, a tlsid error) to its category. It applies the same classification as
// Replicator.Status, so raw engine errors are categorized correctly too.
func Categorize(err error) ErrorCategory {
	if err == nil {
		return CategoryNone
	}
	err = classify(err)
	for _, e := range categoryTable {
		if errors.Is(err, e.target) {
			return e.cat
		}
	}
	if replicator.IsTransient(err) {
		return CategoryTransient
	}
	return CategoryOther
}

// String returns the category's stable snake_case name ("pin_mismatch"), or "other" for
// an unknown value.
func (c ErrorCategory) String() string {
	switch c {
	case CategoryNone:
		return "none"
	case CategoryTransient:
		return "transient"
	}
	for _, e := range categoryTable {
		if e.cat == c {
			return e.name
		}
	}
	return "other"
}
