package blobstore

import "errors"

// Sentinel errors. Every error returned by this package wraps one of them; test with
// errors.Is.
var (
	// ErrNotFound: no blob with that digest is stored.
	ErrNotFound = errors.New("blobstore: blob not found")
	// ErrCorrupt: a stored blob's bytes do not match its digest or expected length.
	ErrCorrupt = errors.New("blobstore: blob is corrupt")
	// ErrMismatch: bytes given to a Writer do not match the digest or length it was told
	// to expect (WriterOptions); nothing was stored.
	ErrMismatch = errors.New("blobstore: data does not match the expected digest or length")
	// ErrInvalid: a malformed digest or blob dictionary.
	ErrInvalid = errors.New("blobstore: invalid blob reference")
	// ErrIO: the file system failed.
	ErrIO = errors.New("blobstore: I/O error")
	// ErrClosed: the store, writer or reader was closed.
	ErrClosed = errors.New("blobstore: closed")
)
