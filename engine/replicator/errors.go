package replicator

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"syscall"

	"github.com/p2psync/libp2psync/engine/store"
	"github.com/p2psync/libp2psync/engine/syncproto"
	"github.com/p2psync/libp2psync/engine/tlsid"
)

// This file is the library's one transient/permanent classifier. It decides on the typed
// errors the layers below produce (blip's HTTPError, CloseError and sentinels as syncproto re-exports them, syncproto's
// sentinels, tlsid's sentinels, crypto/x509's and crypto/tls's error types, errnos),
// with errors.Is and errors.As only. The C API maps errors to public codes in one table
// (capi/errors.go) and asks IsTransient only for errors no sentinel names.

// classify gives a run's error the sentinels an application tests with errors.Is: tlsid's
// (untrusted certificate, host name mismatch, expiry, pin mismatch, client certificate
// required or refused, TLS version; see tlsid.Classify), ErrUnauthorized for an upgrade
// answered 401 and syncproto.ErrForbidden for one answered 403. The original error stays in
// the chain, and an error that already carries the sentinel keeps its chain as it is. The
// replicator classifies every error before it reaches Status, Counters or a listener.
func classify(err error) error {
	if err == nil {
		return nil
	}
	err = tlsid.Classify(err)
	var he *syncproto.HTTPError
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

// IsTransient reports whether err is worth retrying later, following Couchbase Lite's
// rules (PROTOCOL §8.1). Transient: the peer asked to retry later (syncproto.ErrRetryLater,
// an upgrade refused with a syncproto.RetryLaterStatus: 408, 429, 502, 503, 504), an
// abnormal close (1006) or an app-transient close (4001), timeouts (syncproto.ErrTimeout,
// context.DeadlineExceeded, a network timeout), a connection cut during the WebSocket
// handshake or refused, reset or aborted, DNS failures other than "no such host", and a
// local database too busy to save a pulled revision (store.ErrBusy: the session ends with
// the revision not done, see syncproto's Puller).
// Everything else is permanent: security failures (every tlsid sentinel, ErrTLS, x509 and
// TLS alert errors, ErrUnauthorized, syncproto.ErrForbidden), other HTTP statuses and
// close codes, protocol errors, an incompatible peer, a missing remote collection, a peer
// that closed cleanly (ErrPeerClosed), BLIP error replies, and anything unknown.
func IsTransient(err error) bool {
	if err == nil || isSecurityFailure(err) {
		return false
	}
	if errors.Is(err, syncproto.ErrRetryLater) || errors.Is(err, store.ErrBusy) {
		return true
	}
	for _, permanent := range []error{syncproto.ErrForbidden, syncproto.ErrPeerIncompatible,
		syncproto.ErrRemoteCollectionMissing, ErrPeerClosed, ErrUnauthorized,
		syncproto.ErrProtocol, syncproto.ErrNoSubprotocol} {
		if errors.Is(err, permanent) {
			return false
		}
	}
	var he *syncproto.HTTPError
	if errors.As(err, &he) {
		return syncproto.RetryLaterStatus(he.Status)
	}
	var ce *syncproto.CloseError
	if errors.As(err, &ce) {
		return ce.Code == syncproto.CloseAbnormal || ce.Code == syncproto.CloseAppTransient
	}
	return !errors.Is(err, syncproto.ErrTooLarge) && isNetworkTrouble(err)
}

// isNetworkTrouble: the network or the peer's host failed us, not the peer's judgement.
func isNetworkTrouble(err error) bool {
	if errors.Is(err, syncproto.ErrTimeout) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, syncproto.ErrHandshakeCut) {
		return true
	}
	for _, errno := range []syscall.Errno{syscall.ECONNREFUSED, syscall.ECONNRESET,
		syscall.ECONNABORTED, syscall.ENETRESET, syscall.ETIMEDOUT, syscall.EPIPE} {
		if errors.Is(err, errno) {
			return true
		}
	}
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return !dns.IsNotFound
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	// The peer hung up in the middle of the handshake.
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// isSecurityFailure: retrying cannot make a certificate trusted or a TLS version spoken.
func isSecurityFailure(err error) bool {
	for _, s := range tlsid.Sentinels() {
		if errors.Is(err, s) {
			return true
		}
	}
	return isTLSFailure(err)
}

// isTLSFailure reports a failed TLS handshake in the typed errors of crypto/x509 and
// crypto/tls (a dial error; runOnce wraps it with ErrTLS).
func isTLSFailure(err error) bool {
	var (
		unknownAuth x509.UnknownAuthorityError
		invalid     x509.CertificateInvalidError
		hostname    x509.HostnameError
		recordHdr   tls.RecordHeaderError
		verify      *tls.CertificateVerificationError
		alert       tls.AlertError
	)
	return errors.Is(err, ErrTLS) || errors.As(err, &unknownAuth) || errors.As(err, &invalid) || errors.As(err, &hostname) ||
		errors.As(err, &recordHdr) || errors.As(err, &verify) || errors.As(err, &alert)
}
