package main

/*
#include "p2psync.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/p2psync/libp2psync/engine/blobstore"
)

// blobWriterObj and blobReaderObj are children of their database. mu serialises the
// calls made on one handle from several threads.
type blobWriterObj struct {
	node
	mu          sync.Mutex
	w           *blobstore.Writer
	contentType string
}

type blobReaderObj struct {
	node
	mu sync.Mutex
	r  *blobstore.Reader
}

// blobSpec reads the `blob` argument: a blob dictionary as JSON, or a bare digest.
func blobSpec(p *C.char) (blobstore.Ref, error) {
	s, err := goText(p, "blob")
	if err != nil {
		return blobstore.Ref{}, err
	}
	return blobstore.ParseBlobSpec(s)
}

// commitBlob copies src into a new blob of db and returns its dictionary.
func commitBlob(o *dbObj, src io.Reader, contentType string) (string, error) {
	w, err := o.db.Blobs().Create()
	if err != nil {
		return "", err
	}
	defer w.Close()
	if _, err := io.Copy(w, src); err != nil {
		return "", err
	}
	b, err := w.Commit()
	if err != nil {
		return "", err
	}
	return string(blobstore.Properties(b, contentType)), nil
}

//export p2pgo_blob_create
func p2pgo_blob_create(db C.p2p_db, data *C.uint8_t, n C.size_t, contentType *C.char, out **C.char, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	o, err := dbs.lookup(uint64(db))
	if err != nil {
		return fail(cerr, err)
	}
	if data == nil && n > 0 {
		return fail(cerr, fmt.Errorf("%w: data is NULL with len %d", errInvalidArgument, n))
	}
	ct, err := goOptText(contentType, "content_type")
	if err != nil {
		return fail(cerr, err)
	}
	if err := needOut(out != nil, "out_blob_json"); err != nil {
		return fail(cerr, err)
	}
	props, err := commitBlob(o, bytesReader(cBytes(data, n)), ct)
	if err != nil {
		return fail(cerr, err)
	}
	setText(out, props)
	return C.P2P_OK
}

// bytesReader reads C memory in place (io.Copy then writes it straight to the file).
type sliceReader struct{ b []byte }

func bytesReader(b []byte) *sliceReader { return &sliceReader{b: b} }

func (r *sliceReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}

// WriteTo lets io.Copy hand the whole buffer to the blob writer in one call, without
// copying it through an intermediate buffer.
func (r *sliceReader) WriteTo(w io.Writer) (int64, error) {
	n, err := w.Write(r.b)
	r.b = r.b[n:]
	return int64(n), err
}

//export p2pgo_blob_create_from_file
func p2pgo_blob_create_from_file(db C.p2p_db, path, contentType *C.char, out **C.char, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	o, err := dbs.lookup(uint64(db))
	if err != nil {
		return fail(cerr, err)
	}
	name, err := goText(path, "path")
	if err != nil {
		return fail(cerr, err)
	}
	ct, err := goOptText(contentType, "content_type")
	if err != nil {
		return fail(cerr, err)
	}
	if err := needOut(out != nil, "out_blob_json"); err != nil {
		return fail(cerr, err)
	}
	props, err := commitFile(o, name, ct)
	if err != nil {
		return fail(cerr, err)
	}
	setText(out, props)
	return C.P2P_OK
}

// commitFile copies the caller's file at path into a new blob of db.
func commitFile(o *dbObj, path, contentType string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fileError("open "+path, err)
	}
	defer f.Close()
	return commitBlob(o, f, contentType)
}

// fileError classifies a failure on a caller's file: a missing file is NOT_FOUND, the
// rest I/O (the errno travels in the POSIX domain).
func fileError(what string, err error) error {
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%s: %w: %w", what, blobstore.ErrNotFound, err)
	}
	return fmt.Errorf("%s: %w: %w", what, blobstore.ErrIO, err)
}

//export p2pgo_blob_writer_create
func p2pgo_blob_writer_create(db C.p2p_db, contentType *C.char, out *C.p2p_blob_writer, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	o, err := dbs.lookup(uint64(db))
	if err != nil {
		return fail(cerr, err)
	}
	ct, err := goOptText(contentType, "content_type")
	if err != nil {
		return fail(cerr, err)
	}
	if err := needOut(out != nil, "out_writer"); err != nil {
		return fail(cerr, err)
	}
	w, err := o.db.Blobs().Create()
	if err != nil {
		return fail(cerr, err)
	}
	h, err := blobWriters.add(&blobWriterObj{node: node{parent: &o.node}, w: w, contentType: ct})
	if err != nil {
		w.Close()
		return fail(cerr, err)
	}
	*out = C.p2p_blob_writer(h)
	return C.P2P_OK
}

//export p2pgo_blob_writer_write
func p2pgo_blob_writer_write(writer C.p2p_blob_writer, data *C.uint8_t, n C.size_t, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	o, err := blobWriters.lookup(uint64(writer))
	if err != nil {
		return fail(cerr, err)
	}
	if data == nil && n > 0 {
		return fail(cerr, fmt.Errorf("%w: data is NULL with len %d", errInvalidArgument, n))
	}
	o.mu.Lock()
	_, err = o.w.Write(cBytes(data, n))
	o.mu.Unlock()
	if err != nil {
		return fail(cerr, err)
	}
	return C.P2P_OK
}

//export p2pgo_blob_writer_finish
func p2pgo_blob_writer_finish(writer C.p2p_blob_writer, out **C.char, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	o, err := blobWriters.lookup(uint64(writer))
	if err != nil {
		return fail(cerr, err)
	}
	if err := needOut(out != nil, "out_blob_json"); err != nil {
		return fail(cerr, err)
	}
	o.mu.Lock()
	b, err := o.w.Commit()
	o.mu.Unlock()
	if err != nil {
		return fail(cerr, err)
	}
	setText(out, string(blobstore.Properties(b, o.contentType)))
	return C.P2P_OK
}

//export p2pgo_blob_writer_close
func p2pgo_blob_writer_close(writer C.p2p_blob_writer, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	o, found, err := blobWriters.remove(uint64(writer))
	if err != nil {
		return fail(cerr, err)
	}
	if found {
		o.mu.Lock()
		o.w.Close()
		o.mu.Unlock()
	}
	return C.P2P_OK
}

//export p2pgo_blob_reader_open
func p2pgo_blob_reader_open(db C.p2p_db, blob *C.char, out *C.p2p_blob_reader, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	o, err := dbs.lookup(uint64(db))
	if err != nil {
		return fail(cerr, err)
	}
	ref, err := blobSpec(blob)
	if err != nil {
		return fail(cerr, err)
	}
	if err := needOut(out != nil, "out_reader"); err != nil {
		return fail(cerr, err)
	}
	r, err := o.db.Blobs().NewReader(ref.Digest, ref.Length)
	if err != nil {
		return fail(cerr, err)
	}
	h, err := blobReaders.add(&blobReaderObj{node: node{parent: &o.node}, r: r})
	if err != nil {
		r.Close()
		return fail(cerr, err)
	}
	*out = C.p2p_blob_reader(h)
	return C.P2P_OK
}

//export p2pgo_blob_reader_read
func p2pgo_blob_reader_read(reader C.p2p_blob_reader, buf *C.uint8_t, capacity C.size_t, outRead *C.size_t, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	o, err := blobReaders.lookup(uint64(reader))
	if err != nil {
		return fail(cerr, err)
	}
	if err := needOut(outRead != nil && (buf != nil || capacity == 0), "buf or out_read"); err != nil {
		return fail(cerr, err)
	}
	if capacity == 0 {
		return fail(cerr, fmt.Errorf("%w: capacity is 0", errInvalidArgument))
	}
	n, err := o.fill(cBytes(buf, capacity))
	if err != nil {
		return fail(cerr, err)
	}
	*outRead = C.size_t(n)
	return C.P2P_OK
}

// fill reads as much of p as the blob gives, so that 0 means the end and nothing else.
func (o *blobReaderObj) fill(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	total := 0
	for total < len(p) {
		n, err := o.r.Read(p[total:])
		total += n
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return 0, err
		}
	}
	return total, nil
}

//export p2pgo_blob_reader_length
func p2pgo_blob_reader_length(reader C.p2p_blob_reader, out *C.uint64_t, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	o, err := blobReaders.lookup(uint64(reader))
	if err == nil {
		err = needOut(out != nil, "out_length")
	}
	if err != nil {
		return fail(cerr, err)
	}
	*out = C.uint64_t(o.r.Length())
	return C.P2P_OK
}

//export p2pgo_blob_reader_close
func p2pgo_blob_reader_close(reader C.p2p_blob_reader, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	o, found, err := blobReaders.remove(uint64(reader))
	if err != nil {
		return fail(cerr, err)
	}
	if found {
		o.mu.Lock()
		o.r.Close()
		o.mu.Unlock()
	}
	return C.P2P_OK
}

//export p2pgo_blob_save_to_file
func p2pgo_blob_save_to_file(db C.p2p_db, blob, path *C.char, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	o, err := dbs.lookup(uint64(db))
	if err != nil {
		return fail(cerr, err)
	}
	ref, err := blobSpec(blob)
	if err != nil {
		return fail(cerr, err)
	}
	name, err := goText(path, "path")
	if err != nil {
		return fail(cerr, err)
	}
	if err := saveBlobToFile(o, ref, name); err != nil {
		return fail(cerr, err)
	}
	return C.P2P_OK
}

// saveBlobToFile streams a verified copy to a temporary file beside path and renames it
// into place, so that path never holds a partial or unverified copy.
func saveBlobToFile(o *dbObj, ref blobstore.Ref, path string) error {
	r, err := o.db.Blobs().NewReader(ref.Digest, ref.Length)
	if err != nil {
		return err
	}
	defer r.Close()
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fileError("create a file beside "+path, err)
	}
	defer os.Remove(tmp.Name()) // finds nothing after the rename
	_, err = r.WriteTo(tmp)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil && cerr != nil {
		err = fileError("write "+path, cerr)
	}
	if err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fileError("rename to "+path, err)
	}
	return nil
}

//export p2pgo_blob_info
func p2pgo_blob_info(db C.p2p_db, blob *C.char, out **C.char, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	o, err := dbs.lookup(uint64(db))
	if err != nil {
		return fail(cerr, err)
	}
	ref, err := blobSpec(blob)
	if err != nil {
		return fail(cerr, err)
	}
	if err := needOut(out != nil, "out_blob_json"); err != nil {
		return fail(cerr, err)
	}
	size, err := o.db.Blobs().Stat(ref.Digest)
	if err != nil {
		return fail(cerr, err)
	}
	if ref.Length >= 0 && ref.Length != size {
		return fail(cerr, fmt.Errorf("%w: blob %s has %d bytes, the dictionary says %d", blobstore.ErrCorrupt, ref.Digest, size, ref.Length))
	}
	setText(out, string(blobstore.Properties(blobstore.Blob{Digest: ref.Digest, Length: size}, ref.ContentType)))
	return C.P2P_OK
}

//export p2pgo_blob_exists
func p2pgo_blob_exists(db C.p2p_db, blob *C.char, out *C.uint8_t, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	o, err := dbs.lookup(uint64(db))
	if err != nil {
		return fail(cerr, err)
	}
	ref, err := blobSpec(blob)
	if err != nil {
		return fail(cerr, err)
	}
	if err := needOut(out != nil, "out_exists"); err != nil {
		return fail(cerr, err)
	}
	_, err = o.db.Blobs().Stat(ref.Digest)
	if err != nil && !errors.Is(err, blobstore.ErrNotFound) {
		return fail(cerr, err)
	}
	*out = cBool(err == nil)
	return C.P2P_OK
}

//export p2pgo_db_compact
func p2pgo_db_compact(db C.p2p_db, out **C.char, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	o, err := dbs.lookup(uint64(db))
	if err != nil {
		return fail(cerr, err)
	}
	st, err := o.db.Compact(callerContext())
	if err != nil {
		return fail(cerr, err)
	}
	if out != nil {
		if err := setJSON(out, st); err != nil {
			return fail(cerr, err)
		}
	}
	return C.P2P_OK
}
