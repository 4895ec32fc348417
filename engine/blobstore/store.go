package blobstore

import (
	"crypto/rand"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

const (
	blobSuffix = ".blob"
	tmpSuffix  = ".tmp"
	tmpPrefix  = "incoming-"
)

// Store is a directory of blobs named by digest. Its methods are safe for concurrent
// use. The caller guarantees that one Store at a time uses a directory (the document
// store opens it under its database lock).
type Store struct {
	dir string

	mu      sync.Mutex
	closed  bool
	writing map[string]struct{} // temporary file names of open writers
	fresh   map[Digest]struct{} // committed since the last Sweep began (see Sweep)
}

// Open opens (creating if needed) the blob directory dir and removes the temporary
// files a crashed writer left behind: no writer can be open yet, so every one of them
// is abandoned.
func Open(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("open blob store %s: %w: %v", dir, ErrIO, err)
	}
	s := &Store{dir: dir, writing: make(map[string]struct{}), fresh: make(map[Digest]struct{})}
	if _, err := s.removeStrayTemps(); err != nil {
		return nil, fmt.Errorf("open blob store %s: %w", dir, err)
	}
	return s, nil
}

// Dir returns the store's directory.
func (s *Store) Dir() string { return s.dir }

// Close makes every later call fail with ErrClosed. Writers and readers already open
// keep working until they are closed. It is idempotent.
func (s *Store) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	return nil
}

func (s *Store) usable() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	return nil
}

func (s *Store) path(d Digest) string { return filepath.Join(s.dir, d.fileName()) }

// Stat returns the stored length of blob d, or ErrNotFound.
func (s *Store) Stat(d Digest) (int64, error) {
	if err := s.usable(); err != nil {
		return 0, err
	}
	st, err := os.Stat(s.path(d))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return 0, fmt.Errorf("%w: %s", ErrNotFound, d)
	case err != nil:
		return 0, fmt.Errorf("stat blob %s: %w: %v", d, ErrIO, err)
	case !st.Mode().IsRegular():
		return 0, fmt.Errorf("stat blob %s: %w: not a regular file", d, ErrCorrupt)
	}
	return st.Size(), nil
}

// syncDir makes the directory's entries (a rename, an unlink) durable.
func (s *Store) syncDir() error {
	f, err := os.Open(s.dir)
	if err != nil {
		return fmt.Errorf("%w: open blob directory: %v", ErrIO, err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("%w: sync blob directory: %v", ErrIO, err)
	}
	return nil
}

// ---------------------------------------------------------------- writing

// WriterOptions tune NewWriter. The zero value means "nothing expected".
type WriterOptions struct {
	// ExpectDigest, if set, is the digest the content must have (bytes received from a
	// peer for a known digest); Commit fails with ErrMismatch otherwise.
	ExpectDigest *Digest
	// With LengthKnown, ExpectLength is the exact length the content must have: a Write
	// going past it fails at once with ErrMismatch (so a peer cannot make us store more
	// than announced), and Commit fails if less arrived.
	LengthKnown  bool
	ExpectLength int64
}

// Writer streams a new blob into a temporary file, computing its SHA-1 as it goes.
// Nothing is visible under the blob's name until Commit; Close without Commit removes
// the temporary file. A Writer is not safe for concurrent use.
type Writer struct {
	s      *Store
	f      *os.File
	tmp    string // base name
	h      hash.Hash
	n      int64
	opts   WriterOptions
	err    error // sticky failure
	state  writerState
	result Blob
}

type writerState int

const (
	writing writerState = iota
	committed
	abandoned
)

// Blob is what a committed blob is: its digest and length.
type Blob struct {
	Digest Digest
	Length int64
}

// Create is NewWriter with nothing expected.
func (s *Store) Create() (*Writer, error) { return s.NewWriter(WriterOptions{}) }

// NewWriter starts a new blob.
func (s *Store) NewWriter(opts WriterOptions) (*Writer, error) {
	var rnd [12]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return nil, fmt.Errorf("create blob: %w: %v", ErrIO, err)
	}
	name := tmpPrefix + hex.EncodeToString(rnd[:]) + tmpSuffix
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, fmt.Errorf("create blob: %w", ErrClosed)
	}
	s.writing[name] = struct{}{} // before the file exists, so a sweep never sees it unowned
	s.mu.Unlock()
	f, err := os.OpenFile(filepath.Join(s.dir, name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		s.release(name)
		return nil, fmt.Errorf("create blob: %w: %v", ErrIO, err)
	}
	return &Writer{s: s, f: f, tmp: name, h: sha1.New(), opts: opts}, nil
}

func (s *Store) release(tmp string) {
	s.mu.Lock()
	delete(s.writing, tmp)
	s.mu.Unlock()
}

// Write appends p to the blob.
func (w *Writer) Write(p []byte) (int, error) {
	switch {
	case w.state != writing:
		return 0, fmt.Errorf("write blob: %w", ErrClosed)
	case w.err != nil:
		return 0, w.err
	case w.opts.LengthKnown && w.n+int64(len(p)) > w.opts.ExpectLength:
		w.err = fmt.Errorf("write blob: %w: more than the expected %d bytes", ErrMismatch, w.opts.ExpectLength)
		return 0, w.err
	}
	n, err := w.f.Write(p)
	w.h.Write(p[:n])
	w.n += int64(n)
	if err != nil {
		w.err = fmt.Errorf("write blob: %w: %v", ErrIO, err)
		return n, w.err
	}
	return n, nil
}

// ReadFrom streams r into the blob (io.Copy uses it) with a bounded buffer.
func (w *Writer) ReadFrom(r io.Reader) (int64, error) {
	buf := make([]byte, 64<<10)
	var total int64
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return total, werr
			}
			total += int64(n)
		}
		if errors.Is(err, io.EOF) {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// Len returns the number of bytes written so far.
func (w *Writer) Len() int64 { return w.n }

// Commit makes the blob durable and visible under its digest: fsync the temporary
// file, rename it to the digest's name (replacing an existing copy, which has the same
// content unless it was damaged), fsync the directory. A crash before the rename leaves
// only the temporary file, which the next Open or Sweep removes. Committing the same
// content twice is harmless. After Commit the Writer is finished; Close is a no-op.
func (w *Writer) Commit() (Blob, error) {
	switch {
	case w.state == committed && w.err == nil:
		return w.result, nil
	case w.state != writing && w.err != nil:
		return Blob{}, w.err
	case w.state != writing:
		return Blob{}, fmt.Errorf("commit blob: %w", ErrClosed)
	}
	if w.err != nil {
		w.abandon()
		return Blob{}, w.err
	}
	var d Digest
	w.h.Sum(d[:0])
	fail := func(err error) (Blob, error) {
		w.err = err
		w.abandon()
		return Blob{}, err
	}
	if w.opts.LengthKnown && w.n != w.opts.ExpectLength {
		return fail(fmt.Errorf("commit blob: %w: %d bytes, expected %d", ErrMismatch, w.n, w.opts.ExpectLength))
	}
	if w.opts.ExpectDigest != nil && *w.opts.ExpectDigest != d {
		return fail(fmt.Errorf("commit blob: %w: content has digest %s, expected %s", ErrMismatch, d, *w.opts.ExpectDigest))
	}
	if err := w.f.Sync(); err != nil {
		return fail(fmt.Errorf("commit blob: %w: sync: %v", ErrIO, err))
	}
	err := w.f.Close()
	w.f = nil
	if err != nil {
		return fail(fmt.Errorf("commit blob: %w: close: %v", ErrIO, err))
	}
	s := w.s
	// The rename and the fresh mark happen under s.mu, as does a sweep's check-and-unlink,
	// so a sweep can never remove a blob that was just (re)committed.
	s.mu.Lock()
	err = os.Rename(filepath.Join(s.dir, w.tmp), s.path(d))
	if err == nil {
		s.fresh[d] = struct{}{}
		delete(s.writing, w.tmp)
	}
	s.mu.Unlock()
	if err != nil {
		return fail(fmt.Errorf("commit blob: %w: rename: %v", ErrIO, err))
	}
	w.state = committed
	w.result = Blob{Digest: d, Length: w.n}
	if err := s.syncDir(); err != nil {
		// The blob is in place but its name may not survive a power loss; say so.
		w.err = fmt.Errorf("commit blob %s: %w", d, err)
		return Blob{}, w.err
	}
	return w.result, nil
}

// abandon removes the temporary file and finishes the writer.
func (w *Writer) abandon() {
	if w.f != nil {
		w.f.Close()
		w.f = nil
	}
	os.Remove(filepath.Join(w.s.dir, w.tmp))
	w.s.release(w.tmp)
	w.state = abandoned
}

// Close abandons the blob if it was not committed (its temporary file is removed) and
// is a no-op after Commit. It is idempotent.
func (w *Writer) Close() error {
	if w.state == writing {
		w.abandon()
	}
	return nil
}

// ---------------------------------------------------------------- reading

// Reader streams a stored blob and verifies it: when it reaches the end it checks the
// length and the SHA-1 of everything it returned, and a mismatch turns the end into
// ErrCorrupt instead of io.EOF (so does a file longer than the expected length, as soon
// as the excess is read). A consumer must therefore treat the data as good only after
// Read returned io.EOF. A Reader is not safe for concurrent use.
type Reader struct {
	f      *os.File
	d      Digest
	length int64
	h      hash.Hash
	n      int64
	err    error // sticky: io.EOF after a verified end, or the failure
}

// NewReader opens blob d. expectLength >= 0 is the length the caller knows from the
// blob's dictionary and is verified too; a negative value takes the stored size.
func (s *Store) NewReader(d Digest, expectLength int64) (*Reader, error) {
	if err := s.usable(); err != nil {
		return nil, fmt.Errorf("open blob %s: %w", d, err)
	}
	f, err := os.Open(s.path(d))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("open blob: %w: %s", ErrNotFound, d)
	}
	if err != nil {
		return nil, fmt.Errorf("open blob %s: %w: %v", d, ErrIO, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open blob %s: %w: %v", d, ErrIO, err)
	}
	if expectLength < 0 {
		expectLength = st.Size()
	}
	return &Reader{f: f, d: d, length: expectLength, h: sha1.New()}, nil
}

// Digest returns the blob's digest.
func (r *Reader) Digest() Digest { return r.d }

// Length returns the blob's expected length.
func (r *Reader) Length() int64 { return r.length }

// Read reads up to len(p) bytes. See Reader for the verification at the end.
func (r *Reader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	if r.f == nil {
		return 0, fmt.Errorf("read blob %s: %w", r.d, ErrClosed)
	}
	if len(p) == 0 {
		return 0, nil
	}
	n, err := r.f.Read(p)
	if n > 0 {
		r.h.Write(p[:n])
		r.n += int64(n)
		if r.n > r.length {
			r.err = fmt.Errorf("read blob %s: %w: longer than its length %d", r.d, ErrCorrupt, r.length)
			return 0, r.err
		}
	}
	switch {
	case errors.Is(err, io.EOF):
		r.err = r.verify()
		if n > 0 && errors.Is(r.err, io.EOF) {
			return n, nil
		}
		if n > 0 {
			return 0, r.err // do not hand out the last bytes of a corrupt blob as good
		}
		return 0, r.err
	case err != nil:
		r.err = fmt.Errorf("read blob %s: %w: %v", r.d, ErrIO, err)
		return n, r.err
	}
	return n, nil
}

func (r *Reader) verify() error {
	if r.n != r.length {
		return fmt.Errorf("read blob %s: %w: %d bytes stored, expected %d", r.d, ErrCorrupt, r.n, r.length)
	}
	var got Digest
	r.h.Sum(got[:0])
	if got != r.d {
		return fmt.Errorf("read blob %s: %w: content has digest %s", r.d, ErrCorrupt, got)
	}
	return io.EOF
}

// WriteTo streams the rest of the blob to w with a bounded buffer, returning ErrCorrupt
// (after the data was written) if verification fails at the end.
func (r *Reader) WriteTo(w io.Writer) (int64, error) {
	buf := make([]byte, 64<<10)
	var total int64
	for {
		n, err := r.Read(buf)
		if n > 0 {
			m, werr := w.Write(buf[:n])
			total += int64(m)
			if werr != nil {
				return total, werr
			}
		}
		if errors.Is(err, io.EOF) {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// Close releases the file. It is idempotent.
func (r *Reader) Close() error {
	if r.f != nil {
		r.f.Close()
		r.f = nil
	}
	if r.err == nil {
		r.err = fmt.Errorf("read blob %s: %w", r.d, ErrClosed)
	}
	return nil
}

// ---------------------------------------------------------------- sweeping

// SweepStats reports what a Sweep removed.
type SweepStats struct {
	BlobsRemoved int   `json:"blobs_removed"`
	BytesRemoved int64 `json:"bytes_removed"`
	BlobsKept    int   `json:"blobs_kept"`
	TempsRemoved int   `json:"temp_files_removed"`
}

// Sweep removes every blob for which referenced returns false, except blobs committed
// since the previous Sweep began (a blob is thus always kept by the first sweep after
// its commit, which gives its writer time to save the document that refers to it; an
// unreferenced blob goes at the second sweep). It also removes the temporary files of
// writers that are no longer open (left by a crash). Files it does not recognise are
// left alone. The caller must compute referenced from a state in which no document can
// start referring to a blob the sweep would remove (the document store holds its
// write lock during the whole sweep).
func (s *Store) Sweep(referenced func(Digest) bool) (SweepStats, error) {
	var st SweepStats
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return st, fmt.Errorf("sweep blobs: %w", ErrClosed)
	}
	protected := s.fresh
	s.fresh = make(map[Digest]struct{})
	s.mu.Unlock()

	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return st, fmt.Errorf("sweep blobs: %w: %v", ErrIO, err)
	}
	removed := false
	for _, e := range entries {
		d, ok := parseFileName(e.Name())
		if !ok || !e.Type().IsRegular() {
			continue
		}
		if _, p := protected[d]; p || referenced(d) {
			st.BlobsKept++
			continue
		}
		size := int64(0)
		if info, err := e.Info(); err == nil {
			size = info.Size()
		}
		s.mu.Lock()
		_, recommitted := s.fresh[d]
		if !recommitted {
			err = os.Remove(filepath.Join(s.dir, e.Name()))
		}
		s.mu.Unlock()
		switch {
		case recommitted:
			st.BlobsKept++
		case err != nil && !errors.Is(err, fs.ErrNotExist):
			return st, fmt.Errorf("sweep blobs: %w: remove %s: %v", ErrIO, d, err)
		default:
			st.BlobsRemoved++
			st.BytesRemoved += size
			removed = true
		}
	}
	n, err := s.removeStrayTemps()
	st.TempsRemoved = n
	if err != nil {
		return st, fmt.Errorf("sweep blobs: %w", err)
	}
	if removed || n > 0 {
		if err := s.syncDir(); err != nil {
			return st, fmt.Errorf("sweep blobs: %w", err)
		}
	}
	return st, nil
}

// removeStrayTemps removes the temporary files no open writer owns.
func (s *Store) removeStrayTemps() (int, error) {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return 0, fmt.Errorf("%w: list blob directory: %v", ErrIO, err)
	}
	n := 0
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, tmpPrefix) || !strings.HasSuffix(name, tmpSuffix) {
			continue
		}
		s.mu.Lock()
		_, open := s.writing[name]
		if !open {
			err = os.Remove(filepath.Join(s.dir, name))
		}
		s.mu.Unlock()
		if open {
			continue
		}
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return n, fmt.Errorf("%w: remove %s: %v", ErrIO, name, err)
		}
		n++
	}
	return n, nil
}
