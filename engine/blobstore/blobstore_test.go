package blobstore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

func newStore(t *testing.T) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func put(t *testing.T, s *Store, data []byte) Blob {
	t.Helper()
	w, err := s.Create()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	b, err := w.Commit()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func readAll(s *Store, d Digest, length int64) ([]byte, error) {
	r, err := s.NewReader(d, length)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func TestDigestText(t *testing.T) {
	// The digest SG reported for the 33-byte attachment of the attachment-pull transcript.
	data := []byte("Hello from an inline attachment.\n")
	if got, want := DigestOf(data).String(), "sha1-gyVDxtgNqLc9qt2O+DDtfuD1dQY="; got != want {
		t.Fatalf("digest %s, want %s", got, want)
	}
	d, err := ParseDigest("sha1-gyVDxtgNqLc9qt2O+DDtfuD1dQY=")
	if err != nil || d != DigestOf(data) {
		t.Fatalf("parse: %v %v", d, err)
	}
	for _, bad := range []string{"", "sha1-", "md5-gyVDxtgNqLc9qt2O+DDtfuD1dQY=", "sha1-gyVDxtgNqLc9qt2O+DDtfuD1dQY", "sha1-AAAA", "sha1-gyVDxtgNqLc9qt2O-DDtfuD1dQY="} {
		if _, err := ParseDigest(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseDigest(%q) = %v, want ErrInvalid", bad, err)
		}
	}
	if got, ok := parseFileName(d.fileName()); !ok || got != d {
		t.Fatalf("file name round trip failed")
	}
}

func TestRoundTrip(t *testing.T) {
	s := newStore(t)
	for _, data := range [][]byte{nil, []byte("x"), bytes.Repeat([]byte("abc"), 100000)} {
		b := put(t, s, data)
		if b.Digest != DigestOf(data) || b.Length != int64(len(data)) {
			t.Fatalf("blob %v, want digest %s length %d", b, DigestOf(data), len(data))
		}
		n, err := s.Stat(b.Digest)
		if err != nil || n != int64(len(data)) {
			t.Fatalf("stat: %d %v", n, err)
		}
		got, err := readAll(s, b.Digest, b.Length)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("read back %d bytes, err %v", len(got), err)
		}
	}
	// The same content twice is one file.
	put(t, s, []byte("x"))
	blobs := 0
	for _, n := range listDir(t, s.Dir()) {
		if strings.HasSuffix(n, blobSuffix) {
			blobs++
		} else {
			t.Errorf("unexpected file %s", n)
		}
	}
	if blobs != 3 {
		t.Fatalf("%d blob files, want 3", blobs)
	}
	if _, err := s.Stat(DigestOf([]byte("missing"))); !errors.Is(err, ErrNotFound) {
		t.Fatalf("stat missing: %v", err)
	}
	if _, err := s.NewReader(DigestOf([]byte("missing")), -1); !errors.Is(err, ErrNotFound) {
		t.Fatalf("open missing: %v", err)
	}
}

func TestWriterAbandonLeavesNothing(t *testing.T) {
	s := newStore(t)
	w, err := s.Create()
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("half a blob"))
	if len(listDir(t, s.Dir())) != 1 {
		t.Fatal("expected the temporary file while writing")
	}
	w.Close()
	if names := listDir(t, s.Dir()); len(names) != 0 {
		t.Fatalf("after abandon: %v", names)
	}
	if _, err := w.Write([]byte("more")); !errors.Is(err, ErrClosed) {
		t.Fatalf("write after close: %v", err)
	}
	if _, err := w.Commit(); !errors.Is(err, ErrClosed) {
		t.Fatalf("commit after close: %v", err)
	}
}

func TestWriterExpectations(t *testing.T) {
	data := []byte("expected content")
	d := DigestOf(data)
	other := DigestOf([]byte("other"))
	tests := []struct {
		name  string
		opts  WriterOptions
		write []byte
		ok    bool
	}{
		{"matching", WriterOptions{ExpectDigest: &d, LengthKnown: true, ExpectLength: int64(len(data))}, data, true},
		{"wrong digest", WriterOptions{ExpectDigest: &other}, data, false},
		{"too long", WriterOptions{LengthKnown: true, ExpectLength: 3}, data, false},
		{"too short", WriterOptions{LengthKnown: true, ExpectLength: 100}, data, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			w, err := s.NewWriter(tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			w.Write(tt.write)
			_, err = w.Commit()
			if tt.ok != (err == nil) || (!tt.ok && !errors.Is(err, ErrMismatch)) {
				t.Fatalf("commit: %v", err)
			}
			if !tt.ok {
				if _, err := s.Stat(DigestOf(tt.write)); !errors.Is(err, ErrNotFound) {
					t.Fatalf("a refused blob is visible: %v", err)
				}
			}
		})
	}
}

func TestCorruptionDetected(t *testing.T) {
	s := newStore(t)
	data := bytes.Repeat([]byte("0123456789"), 10000)
	b := put(t, s, data)
	path := filepath.Join(s.Dir(), b.Digest.fileName())
	damage := []struct {
		name   string
		mutate func([]byte) []byte
	}{
		{"flipped byte", func(p []byte) []byte { q := bytes.Clone(p); q[500] ^= 1; return q }},
		{"truncated", func(p []byte) []byte { return p[:len(p)-1] }},
		{"extended", func(p []byte) []byte { return append(bytes.Clone(p), 'x') }},
	}
	for _, dm := range damage {
		t.Run(dm.name, func(t *testing.T) {
			if err := os.WriteFile(path, dm.mutate(data), 0o644); err != nil {
				t.Fatal(err)
			}
			for _, length := range []int64{b.Length, -1} {
				if _, err := readAll(s, b.Digest, length); !errors.Is(err, ErrCorrupt) {
					t.Fatalf("length %d: read of a damaged blob: %v, want ErrCorrupt", length, err)
				}
			}
		})
	}
	// Committing the content again repairs it.
	put(t, s, data)
	if got, err := readAll(s, b.Digest, b.Length); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("after repair: %v", err)
	}
	// A length that disagrees with the stored blob is refused too.
	if _, err := readAll(s, b.Digest, b.Length+1); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("wrong expected length: %v", err)
	}
}

func TestSweep(t *testing.T) {
	s := newStore(t)
	keep := put(t, s, []byte("referenced"))
	drop := put(t, s, []byte("unreferenced"))
	refd := func(d Digest) bool { return d == keep.Digest }
	// First sweep after the commits: both are fresh, nothing goes.
	st, err := s.Sweep(refd)
	if err != nil || st.BlobsRemoved != 0 || st.BlobsKept != 2 {
		t.Fatalf("first sweep: %+v %v", st, err)
	}
	st, err = s.Sweep(refd)
	if err != nil || st.BlobsRemoved != 1 || st.BytesRemoved != int64(len("unreferenced")) {
		t.Fatalf("second sweep: %+v %v", st, err)
	}
	if _, err := s.Stat(drop.Digest); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unreferenced blob still there: %v", err)
	}
	if _, err := s.Stat(keep.Digest); err != nil {
		t.Fatalf("referenced blob gone: %v", err)
	}
	// An open writer's temporary file survives; a stray one goes; unknown files stay.
	w, err := s.Create()
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("in progress"))
	stray := filepath.Join(s.Dir(), tmpPrefix+"deadbeef"+tmpSuffix)
	os.WriteFile(stray, []byte("partial"), 0o644)
	os.WriteFile(filepath.Join(s.Dir(), "README"), []byte("mine"), 0o644)
	st, err = s.Sweep(refd)
	if err != nil || st.TempsRemoved != 1 {
		t.Fatalf("sweep with temps: %+v %v", st, err)
	}
	if _, err := os.Stat(stray); !os.IsNotExist(err) {
		t.Fatal("stray temporary file survived")
	}
	if _, err := os.Stat(filepath.Join(s.Dir(), "README")); err != nil {
		t.Fatal("sweep removed a file it does not own")
	}
	b, err := w.Commit()
	if err != nil {
		t.Fatalf("commit after sweep: %v", err)
	}
	if _, err := s.Stat(b.Digest); err != nil {
		t.Fatal(err)
	}
}

func TestOpenRemovesStrayTemps(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "blobs")
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	w, _ := s.Create()
	w.Write([]byte("never committed")) // the process "dies" here: no Close
	if n := len(listDir(t, dir)); n != 1 {
		t.Fatalf("%d files while writing", n)
	}
	if _, err := Open(dir); err != nil {
		t.Fatal(err)
	}
	if names := listDir(t, dir); len(names) != 0 {
		t.Fatalf("after reopen: %v", names)
	}
}

// TestCrashMidWrite kills a child process with SIGKILL while it streams a blob, then
// checks that no blob became visible and that reopening removes the partial file.
func TestCrashMidWrite(t *testing.T) {
	if dir := os.Getenv("BLOBSTORE_CRASH_CHILD"); dir != "" {
		s, err := Open(dir)
		if err != nil {
			os.Exit(2)
		}
		w, _ := s.Create()
		chunk := bytes.Repeat([]byte{7}, 4096)
		for {
			w.Write(chunk) // until killed
		}
	}
	dir := filepath.Join(t.TempDir(), "blobs")
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashMidWrite$")
	cmd.Env = append(os.Environ(), "BLOBSTORE_CRASH_CHILD="+dir)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		var size int64
		if entries, err := os.ReadDir(dir); err == nil {
			for _, e := range entries {
				if info, err := e.Info(); err == nil {
					size += info.Size()
				}
			}
		}
		if size > 1<<20 {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatal("child never wrote 1 MiB")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	for _, n := range listDir(t, dir) {
		if strings.HasSuffix(n, blobSuffix) {
			t.Fatalf("a blob became visible after a crash mid-write: %s", n)
		}
	}
	if len(listDir(t, dir)) != 1 {
		t.Fatalf("expected exactly the partial temporary file, got %v", listDir(t, dir))
	}
	if _, err := Open(dir); err != nil {
		t.Fatal(err)
	}
	if names := listDir(t, dir); len(names) != 0 {
		t.Fatalf("reopen left %v", names)
	}
}

// pattern is a deterministic stream of n bytes that is never held whole: a fixed
// 64 KiB block of pseudo-random bytes whose first 8 bytes carry the block's number.
type pattern struct {
	n, off int64
}

var patternBlock = func() []byte {
	b := make([]byte, 64<<10)
	x := uint64(88172645463325252)
	for i := range b {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b[i] = byte(x)
	}
	return b
}()

func (p *pattern) Read(b []byte) (int, error) {
	if p.off >= p.n {
		return 0, io.EOF
	}
	if rest := p.n - p.off; int64(len(b)) > rest {
		b = b[:rest]
	}
	n := 0
	for n < len(b) {
		at := int((p.off + int64(n)) % int64(len(patternBlock)))
		block := patternBlock
		if at < 8 {
			var stamped [8]byte
			binary.LittleEndian.PutUint64(stamped[:], uint64((p.off+int64(n))/int64(len(patternBlock))))
			n += copy(b[n:], stamped[at:])
			continue
		}
		n += copy(b[n:], block[at:])
	}
	p.off += int64(n)
	return n, nil
}

// TestLargeBlobBoundedMemory streams 100 MiB in and out and checks that the heap never
// had to hold it: the total allocated during the round trip stays far below its size.
func TestLargeBlobBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 100 MiB")
	}
	const size = 100 << 20
	s := newStore(t)
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)

	w, err := s.Create()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(w, &pattern{n: size}); err != nil {
		t.Fatal(err)
	}
	b, err := w.Commit()
	w.Close()
	if err != nil || b.Length != size {
		t.Fatalf("commit: %+v %v", b, err)
	}
	r, err := s.NewReader(b.Digest, b.Length)
	if err != nil {
		t.Fatal(err)
	}
	// Compare against the same stream, chunk by chunk.
	want := &pattern{n: size}
	got, exp := make([]byte, 256<<10), make([]byte, 256<<10)
	var total int64
	for {
		n, err := r.Read(got)
		if n > 0 {
			if _, err := io.ReadFull(want, exp[:n]); err != nil || !bytes.Equal(got[:n], exp[:n]) {
				t.Fatalf("content differs near offset %d", total)
			}
			total += int64(n)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	r.Close()
	runtime.ReadMemStats(&after)
	if total != size {
		t.Fatalf("read %d bytes", total)
	}
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("allocated %d KiB to stream %d MiB in and out", alloc>>10, size>>20)
	if alloc > 8<<20 {
		t.Fatalf("allocated %d bytes for a %d-byte blob: not streaming", alloc, size)
	}
}
