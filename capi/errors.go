package main

/*
#cgo CFLAGS: -I${SRCDIR}/../include -Wall
#include "p2psync.h"
*/
import "C"

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"syscall"

	"github.com/p2psync/libp2psync/engine/store"
)

// Conditions detected by capi itself (before any engine call).
var (
	errInvalidArgument = errors.New("invalid argument")
	errInvalidHandle   = errors.New("invalid handle")
	errBusy            = errors.New("busy")
	errUnsupported     = errors.New("unsupported")
	errInternal        = errors.New("internal error")
)

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

	{context.Canceled, C.P2P_ERR_CANCELLED},
	{context.DeadlineExceeded, C.P2P_ERR_TIMEOUT},
}

func statusOf(err error) C.int32_t {
	for _, e := range statusFor {
		if errors.Is(err, e.target) {
			return e.status
		}
	}
	return C.P2P_ERR_INTERNAL
}

// domainOf keeps a foreign cause: an SQLite result code or an errno travels in the
// error's domain/code; everything else is reported in the library domain.
func domainOf(err error, status C.int32_t) (domain, code C.int32_t) {
	var sqliteErr *store.SQLiteError
	if errors.As(err, &sqliteErr) {
		return C.P2P_DOMAIN_SQLITE, C.int32_t(sqliteErr.Code)
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return C.P2P_DOMAIN_POSIX, C.int32_t(errno)
	}
	return C.P2P_DOMAIN_LIBRARY, status
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
