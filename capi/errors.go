package main

/*
#cgo CFLAGS: -I${SRCDIR}/../include -Wall
#include "p2psync.h"
#include "forked.h"
*/
import "C"

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"runtime/debug"
	"syscall"

	"github.com/p2psync/libp2psync/engine/blip"
	"github.com/p2psync/libp2psync/engine/blobstore"
	"github.com/p2psync/libp2psync/engine/listener"
	"github.com/p2psync/libp2psync/engine/query"
	"github.com/p2psync/libp2psync/engine/replicator"
	"github.com/p2psync/libp2psync/engine/store"
	"github.com/p2psync/libp2psync/engine/syncproto"
	"github.com/p2psync/libp2psync/engine/tlsid"
)

// Conditions detected by capi itself (before any engine call).
var (
	errInvalidArgument = errors.New("invalid argument")
	errInvalidHandle   = errors.New("invalid handle")
	errBusy            = errors.New("busy")
	errUnsupported     = errors.New("unsupported")
	errInternal        = errors.New("internal error")
)

// errForked is P2P_ERR_FORKED. Go never produces it: in a child process created by
// fork() the Go runtime is gone, so abi.c answers every call there itself, in C, with
// the same text. The row keeps the table complete, so that Go, the header and the
// bindings agree on every code.
var errForked = errors.New(C.P2P_FORKED_MESSAGE)

// status is a C status code; the alias lets tests (which cannot import "C") name it.
type status = C.int32_t

// statusFor is the one table that turns Go errors into C status codes. The first
// entry matched by errors.Is wins; anything unmatched becomes P2P_ERR_INTERNAL.
// TestEverySentinelMapped fails when an engine package used by capi exports a
// sentinel missing here.
var statusFor = []struct {
	target error
	status C.int32_t
}{
	{errInvalidArgument, C.P2P_ERR_INVALID_ARGUMENT},
	{errInvalidHandle, C.P2P_ERR_INVALID_HANDLE},
	{errBusy, C.P2P_ERR_BUSY},
	{errUnsupported, C.P2P_ERR_UNSUPPORTED},
	{errInternal, C.P2P_ERR_INTERNAL},

	{store.ErrNotFound, C.P2P_ERR_NOT_FOUND},
	{store.ErrConflict, C.P2P_ERR_CONFLICT},
	{store.ErrInvalidJSON, C.P2P_ERR_INVALID_ARGUMENT},
	{store.ErrInvalidID, C.P2P_ERR_INVALID_ARGUMENT},
	{store.ErrInvalidName, C.P2P_ERR_INVALID_ARGUMENT},
	{store.ErrInvalidRevID, C.P2P_ERR_INVALID_ARGUMENT},
	{store.ErrBusy, C.P2P_ERR_BUSY},
	{store.ErrClosed, C.P2P_ERR_INVALID_HANDLE},
	{store.ErrReadOnly, C.P2P_ERR_IO},
	{store.ErrCorrupt, C.P2P_ERR_CORRUPT},
	{store.ErrIO, C.P2P_ERR_IO},
	{store.ErrReservedProperty, C.P2P_ERR_INVALID_ARGUMENT}, // a document body with a top-level "_" key

	// Security first: a pin mismatch is also a TLS failure, but the caller wants to know
	// which one.
	{tlsid.ErrPinMismatch, C.P2P_ERR_TLS_PIN_MISMATCH},
	{tlsid.ErrCertificateExpired, C.P2P_ERR_TLS_EXPIRED},
	{tlsid.ErrHostnameMismatch, C.P2P_ERR_TLS_HOSTNAME},
	{tlsid.ErrUntrustedCertificate, C.P2P_ERR_TLS_UNTRUSTED},
	{tlsid.ErrClientCertRequired, C.P2P_ERR_TLS_CLIENT_CERT},
	{tlsid.ErrClientCertUntrusted, C.P2P_ERR_TLS_CLIENT_CERT},
	{tlsid.ErrTLSVersion, C.P2P_ERR_TLS_VERSION},
	{tlsid.ErrWrongPassword, C.P2P_ERR_WRONG_PASSWORD},
	{replicator.ErrUnauthorized, C.P2P_ERR_AUTH},
	{syncproto.ErrForbidden, C.P2P_ERR_AUTH},
	{replicator.ErrTLS, C.P2P_ERR_TLS},
	// Configuration errors: what the caller passed cannot work.
	{listener.ErrInvalidConfig, C.P2P_ERR_INVALID_ARGUMENT},
	{replicator.ErrInvalidConfig, C.P2P_ERR_INVALID_ARGUMENT},
	{listener.ErrUnsupported, C.P2P_ERR_UNSUPPORTED},
	{replicator.ErrUnsupported, C.P2P_ERR_UNSUPPORTED},
	{tlsid.ErrInvalidArgument, C.P2P_ERR_INVALID_ARGUMENT},
	{tlsid.ErrCorruptInput, C.P2P_ERR_INVALID_ARGUMENT}, // undecodable PEM, PKCS#12, keystore file
	{tlsid.ErrNotFound, C.P2P_ERR_NOT_FOUND},
	{listener.ErrRunning, C.P2P_ERR_BUSY},
	{replicator.ErrRunning, C.P2P_ERR_BUSY},
	{listener.ErrNotRunning, C.P2P_ERR_INVALID_ARGUMENT},
	{replicator.ErrNotPushing, C.P2P_ERR_INVALID_ARGUMENT},
	{replicator.ErrUnknownCollection, C.P2P_ERR_INVALID_ARGUMENT},
	{replicator.ErrResolverFailed, C.P2P_ERR_CONFLICT},
	// The peer and the connection.
	{replicator.ErrPeerClosed, C.P2P_ERR_NETWORK},
	{syncproto.ErrSessionClosed, C.P2P_ERR_NETWORK},
	{syncproto.ErrRetryLater, C.P2P_ERR_NETWORK}, // the peer said "not now": retried like a dropped connection
	{syncproto.ErrBadMessage, C.P2P_ERR_PROTOCOL},
	{syncproto.ErrUnknownCollection, C.P2P_ERR_PROTOCOL},
	{syncproto.ErrPeerIncompatible, C.P2P_ERR_PROTOCOL},
	{syncproto.ErrRemoteCollectionMissing, C.P2P_ERR_NOT_FOUND},
	{syncproto.ErrNoCheckpoint, C.P2P_ERR_NOT_FOUND},
	{syncproto.ErrCheckpointConflict, C.P2P_ERR_CONFLICT},
	{blip.ErrProtocol, C.P2P_ERR_PROTOCOL},
	{blip.ErrTooLarge, C.P2P_ERR_PROTOCOL},
	{blip.ErrNoSubprotocol, C.P2P_ERR_PROTOCOL},
	{blip.ErrInvalidMessage, C.P2P_ERR_PROTOCOL},
	{blip.ErrTimeout, C.P2P_ERR_TIMEOUT},
	{blip.ErrClosed, C.P2P_ERR_NETWORK},
	{blip.ErrHandshakeCut, C.P2P_ERR_NETWORK},

	{context.Canceled, C.P2P_ERR_CANCELLED},
	{context.DeadlineExceeded, C.P2P_ERR_TIMEOUT},

	{errForked, C.P2P_ERR_FORKED},

	// Blobs.
	{blobstore.ErrNotFound, C.P2P_ERR_NOT_FOUND},
	{blobstore.ErrCorrupt, C.P2P_ERR_CORRUPT},
	{blobstore.ErrMismatch, C.P2P_ERR_CORRUPT}, // bytes that do not match the digest they were sent for
	{blobstore.ErrInvalid, C.P2P_ERR_INVALID_ARGUMENT},
	{blobstore.ErrIO, C.P2P_ERR_IO},
	{blobstore.ErrClosed, C.P2P_ERR_INVALID_HANDLE},

	// Queries: the message gives the line and column of the problem.
	{query.ErrInvalidQuery, C.P2P_ERR_INVALID_ARGUMENT},
	{store.ErrIndexName, C.P2P_ERR_INVALID_ARGUMENT},
	{store.ErrIndexDefinition, C.P2P_ERR_INVALID_ARGUMENT},
}

func statusOf(err error) C.int32_t {
	for _, e := range statusFor {
		if errors.Is(err, e.target) {
			return e.status
		}
	}
	// Peer errors without a sentinel: an HTTP status (upgrade refused, per-document error)
	// or a WebSocket close code.
	if status, ok := httpStatusOf(err); ok {
		return statusForHTTP(status)
	}
	var ce *blip.CloseError
	if errors.As(err, &ce) && !replicator.IsTransient(ce) {
		return C.P2P_ERR_PROTOCOL
	}
	if replicator.IsTransient(err) {
		return C.P2P_ERR_NETWORK // refused, reset, dropped, DNS: retried by replicators
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return C.P2P_ERR_IO // local system calls: a port in use, an unknown address
	}
	return C.P2P_ERR_INTERNAL
}

// httpStatusOf finds an HTTP status a peer answered with, if any.
func httpStatusOf(err error) (int, bool) {
	var he *blip.HTTPError
	if errors.As(err, &he) {
		return he.Status, true
	}
	var de *syncproto.DocError
	if errors.As(err, &de) && de.Domain == "HTTP" {
		return de.Code, true
	}
	return 0, false
}

func statusForHTTP(status int) C.int32_t {
	switch status {
	case http.StatusUnauthorized, http.StatusForbidden:
		return C.P2P_ERR_AUTH
	case http.StatusNotFound:
		return C.P2P_ERR_NOT_FOUND
	case http.StatusConflict:
		return C.P2P_ERR_CONFLICT
	}
	if syncproto.RetryLaterStatus(status) {
		return C.P2P_ERR_NETWORK // "not now": retried like a dropped connection
	}
	return C.P2P_ERR_PROTOCOL
}

// domainOf keeps a foreign cause: an SQLite result code, an HTTP status or WebSocket
// close code of a peer, or an errno travels in the error's domain/code; everything else
// is reported in the library domain.
func domainOf(err error, status C.int32_t) (domain, code C.int32_t) {
	var sqliteErr *store.SQLiteError
	if errors.As(err, &sqliteErr) {
		return C.P2P_DOMAIN_SQLITE, C.int32_t(sqliteErr.Code)
	}
	if status, ok := httpStatusOf(err); ok {
		return C.P2P_DOMAIN_WEBSOCKET, C.int32_t(status)
	}
	var ce *blip.CloseError
	if errors.As(err, &ce) {
		return C.P2P_DOMAIN_WEBSOCKET, C.int32_t(ce.Code)
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return C.P2P_DOMAIN_POSIX, C.int32_t(errno)
	}
	return C.P2P_DOMAIN_LIBRARY, status
}

// errorJSON is the one JSON shape of an error in status and events: the p2p_error fields
// plus the status the call would have returned.
type errorJSON struct {
	Status  int32  `json:"status"`
	Domain  int32  `json:"domain"`
	Code    int32  `json:"code"`
	Message string `json:"message"`
}

// errorObject describes err for JSON; nil for no error.
func errorObject(err error) *errorJSON {
	if err == nil {
		return nil
	}
	status := statusOf(err)
	domain, code := domainOf(err, status)
	return &errorJSON{Status: int32(status), Domain: int32(domain), Code: int32(code), Message: err.Error()}
}

// fail fills the optional caller-owned error and returns the status for err.
func fail(cerr *C.p2p_error, err error) C.int32_t {
	status := statusOf(err)
	if cerr != nil {
		domain, code := domainOf(err, status)
		cerr.code, cerr.domain = code, domain
		cerr.message = C.CString(err.Error())
	}
	return status
}

// logger reports recovered panics; the stack goes to stderr because a panic is our bug.
var logger = slog.New(slog.NewTextHandler(os.Stderr, nil))

// guard must be deferred directly by each export so that recover() sees the panic.
// No panic may unwind into C.
func guard(rc *C.int32_t, cerr *C.p2p_error) {
	if r := recover(); r != nil {
		logger.Error("libp2psync: recovered panic", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
		*rc = fail(cerr, fmt.Errorf("%w: recovered panic: %v", errInternal, r))
	}
}

// guardValue is the firewall of the few infallible exports that return a value.
func guardValue() {
	if r := recover(); r != nil {
		logger.Error("libp2psync: recovered panic", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
	}
}
