package store

import (
	"errors"
	"fmt"

	"modernc.org/sqlite"
)

// Sentinel errors. Every error returned by this package wraps exactly one of
// them (plus, for SQLite failures, an *SQLiteError carrying the result code).
var (
	ErrNotFound     = errors.New("store: not found")
	ErrConflict     = errors.New("store: conflict")
	ErrInvalidJSON  = errors.New("store: invalid JSON body")
	ErrInvalidID    = errors.New("store: invalid document ID")
	ErrInvalidName  = errors.New("store: invalid collection or scope name")
	ErrInvalidRevID = errors.New("store: invalid revision ID")
	ErrBusy         = errors.New("store: busy")
	ErrClosed       = errors.New("store: database is closed")
	ErrReadOnly     = errors.New("store: database is read-only") // reserved: this version has no read-only mode
	ErrCorrupt      = errors.New("store: database is corrupt")
	ErrIO           = errors.New("store: I/O error")
	// ErrReservedProperty: a document body has a top-level key starting with "_"
	// (see IsReservedProperty).
	ErrReservedProperty = errors.New("store: reserved top-level property")
)

// SQLiteError carries the (extended) SQLite result code of a failure so that
// callers can report it in the SQLite error domain. It is always wrapped
// together with one of the sentinels above when one applies.
type SQLiteError struct {
	Code int   // extended result code, e.g. 11 (SQLITE_CORRUPT) or 1290 (SQLITE_IOERR_FSYNC)
	Err  error // the driver's error
}

func (e *SQLiteError) Error() string { return fmt.Sprintf("sqlite error %d: %v", e.Code, e.Err) }
func (e *SQLiteError) Unwrap() error { return e.Err }

// Primary SQLite result codes we classify (the low byte of an extended code).
const (
	sqlitePerm     = 3
	sqliteBusy     = 5
	sqliteLocked   = 6
	sqliteReadOnly = 8
	sqliteIOErr    = 10
	sqliteCorrupt  = 11
	sqliteFull     = 13
	sqliteCantOpen = 14
	sqliteNotADB   = 26
)

// classify turns a driver error into our error shape: the SQLite code travels
// in an *SQLiteError and the matching sentinel is attached. Errors that are
// already ours (or context errors) pass through unchanged.
func classify(err error) error {
	if err == nil {
		return nil
	}
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return err
	}
	wrapped := &SQLiteError{Code: se.Code(), Err: se}
	switch se.Code() & 0xff {
	case sqliteCorrupt, sqliteNotADB:
		return fmt.Errorf("%w: %w", ErrCorrupt, wrapped)
	case sqliteIOErr, sqliteFull, sqliteCantOpen, sqlitePerm, sqliteReadOnly:
		// SQLITE_READONLY here means the files are not writable: an I/O
		// problem, not a database opened read-only on purpose.
		return fmt.Errorf("%w: %w", ErrIO, wrapped)
	case sqliteBusy, sqliteLocked:
		return fmt.Errorf("%w: %w", ErrBusy, wrapped)
	}
	return wrapped
}
