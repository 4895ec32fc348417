package main

/*
#include <string.h>
#include "p2psync.h"
*/
import "C"

import (
	"context"
	"fmt"
	"strconv"
	"unicode/utf8"
	"unsafe"

	"github.com/p2psync/libp2psync/engine/store"
)

// maxBulkCount bounds the count of a bulk call, so that a wild count is refused rather
// than turned into a slice over memory the caller does not own. Far above any sensible
// batch; the caller's arrays must hold count entries in any case.
const maxBulkCount = 1 << 24

// cStrings views a borrowed array of count C strings (valid for the call only).
func cStrings(p **C.char, count C.size_t, what string) ([]*C.char, error) {
	if count == 0 {
		return nil, nil
	}
	if p == nil {
		return nil, fmt.Errorf("%w: %s is NULL", errInvalidArgument, what)
	}
	if count > maxBulkCount {
		return nil, fmt.Errorf("%w: count %d is above the limit of %d", errInvalidArgument, uint64(count), maxBulkCount)
	}
	return unsafe.Slice(p, int(count)), nil
}

// cStringView views a borrowed C string without copying it (valid for the call only).
func cStringView(p *C.char) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(p)), int(C.strlen(p)))
}

//export p2pgo_batch_save_documents
func p2pgo_batch_save_documents(batch C.p2p_batch, coll C.p2p_collection, count C.size_t, ids, jsons, parents **C.char, concurrency C.uint8_t, outSaved *C.size_t, outResults **C.char, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	saved := 0
	defer func() {
		if outSaved != nil {
			*outSaved = C.size_t(saved)
		}
	}()
	b, c, err := batchTarget(batch, coll)
	if err != nil {
		return fail(cerr, err)
	}
	base, err := saveOptions(nil, concurrency)
	if err != nil {
		return fail(cerr, err)
	}
	idv, err := cStrings(ids, count, "doc_ids")
	if err != nil {
		return fail(cerr, err)
	}
	bodies, err := cStrings(jsons, count, "jsons")
	if err != nil {
		return fail(cerr, err)
	}
	var parentv []*C.char
	if parents != nil {
		if parentv, err = cStrings(parents, count, "parent_rev_ids"); err != nil {
			return fail(cerr, err)
		}
	}
	var results []byte
	if outResults != nil {
		results = append(make([]byte, 0, 128*len(idv)+2), '[')
	}
	for i := range idv {
		id, d, err := saveOne(b, c, i, idv[i], bodies[i], parentv, base)
		if err != nil {
			if id == "" {
				return fail(cerr, fmt.Errorf("document %d: %w", i, err))
			}
			return fail(cerr, fmt.Errorf("document %d (%q): %w", i, id, err))
		}
		saved++
		if outResults != nil {
			if i > 0 {
				results = append(results, ',')
			}
			results = append(results, `{"id":`...)
			results = appendJSONString(results, d.ID)
			results = append(results, `,"rev_id":`...)
			results = appendJSONString(results, d.RevID)
			results = append(results, `,"sequence":`...)
			results = strconv.AppendUint(results, d.Sequence, 10)
			results = append(results, `,"version":`...)
			results = appendJSONString(results, d.Version)
			results = append(results, '}')
		}
	}
	if outResults != nil {
		*outResults = C.CString(string(append(results, ']')))
	}
	return C.P2P_OK
}

// saveOne saves document i of a bulk save; it returns the document's ID once known.
func saveOne(b *store.Batch, c *store.Collection, i int, idp, bodyp *C.char, parents []*C.char, opts store.SaveOptions) (string, *store.Document, error) {
	id, err := goDocID(idp, fmt.Sprintf("doc_ids[%d]", i))
	if err != nil {
		return "", nil, err
	}
	if bodyp == nil {
		return id, nil, fmt.Errorf("%w: jsons[%d] is NULL", errInvalidArgument, i)
	}
	if parents != nil {
		if opts.ParentRevID, err = goOptText(parents[i], fmt.Sprintf("parent_rev_ids[%d]", i)); err != nil {
			return id, nil, err
		}
	}
	// The body is read in place: the store checks it (UTF-8 and JSON), works on it or on a
	// compacted copy during the call, and keeps nothing of the input past it. The results
	// report IDs, revisions, sequences and versions only: no copy of the body comes back.
	opts.NoBody = true
	d, err := b.Save(c, id, cStringView(bodyp), opts)
	return id, d, err
}

//export p2pgo_collection_get_documents
func p2pgo_collection_get_documents(coll C.p2p_collection, count C.size_t, ids **C.char, includeDeleted C.uint8_t, outJSON **C.char, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	o, err := colls.lookup(uint64(coll))
	if err != nil {
		return fail(cerr, err)
	}
	if err := needOut(outJSON != nil, "out_json"); err != nil {
		return fail(cerr, err)
	}
	idv, err := cStrings(ids, count, "doc_ids")
	if err != nil {
		return fail(cerr, err)
	}
	list := make([]string, len(idv))
	for i, p := range idv {
		if list[i], err = goDocID(p, fmt.Sprintf("doc_ids[%d]", i)); err != nil {
			return fail(cerr, err)
		}
	}
	docs, err := o.coll.GetManyWithDeleted(context.Background(), list)
	if err != nil {
		return fail(cerr, err)
	}
	size := 2
	for _, d := range docs {
		if d != nil {
			size += len(d.Body) + len(d.Body)/4 + 256
		}
	}
	out := append(make([]byte, 0, size), '[')
	for i, d := range docs {
		if i > 0 {
			out = append(out, ',')
		}
		if d == nil || (d.Deleted && includeDeleted == 0) {
			out = append(out, "null"...)
			continue
		}
		out = appendDocumentJSON(out, d)
	}
	*outJSON = C.CString(string(append(out, ']')))
	return C.P2P_OK
}

// appendDocumentJSON appends one entry of p2p_collection_get_documents' result.
func appendDocumentJSON(out []byte, d *store.Document) []byte {
	out = append(out, `{"id":`...)
	out = appendJSONString(out, d.ID)
	out = append(out, `,"rev_id":`...)
	out = appendJSONString(out, d.RevID)
	out = append(out, `,"sequence":`...)
	out = strconv.AppendUint(out, d.Sequence, 10)
	out = append(out, `,"deleted":`...)
	out = strconv.AppendBool(out, d.Deleted)
	out = append(out, `,"version":`...)
	out = appendJSONString(out, d.Version)
	out = append(out, `,"timestamp":`...)
	out = strconv.AppendUint(out, d.Timestamp, 10)
	out = append(out, `,"version_vector":`...)
	out = appendJSONString(out, d.Vector)
	out = append(out, `,"json":`...)
	body := d.Body
	if len(body) == 0 {
		body = []byte("{}")
	}
	out = appendJSONString(out, string(body))
	return append(out, '}')
}

// appendJSONString appends s, valid UTF-8, as a JSON string: the quote, the backslash and
// the control characters escaped, everything else (non-ASCII included) as it is. Invalid
// UTF-8, which the store never holds, would be replaced by U+FFFD.
func appendJSONString(out []byte, s string) []byte {
	out = append(out, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x80 {
			r, n := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && n == 1 {
				out = append(out, s[start:i]...)
				out = append(out, `\ufffd`...)
				i++
				start = i
				continue
			}
			i += n
			continue
		}
		if c >= 0x20 && c != '"' && c != '\\' {
			i++
			continue
		}
		out = append(out, s[start:i]...)
		switch c {
		case '"', '\\':
			out = append(out, '\\', c)
		case '\n':
			out = append(out, '\\', 'n')
		case '\r':
			out = append(out, '\\', 'r')
		case '\t':
			out = append(out, '\\', 't')
		default:
			out = append(out, '\\', 'u', '0', '0', hexDigit[c>>4], hexDigit[c&0xf])
		}
		i++
		start = i
	}
	out = append(out, s[start:]...)
	return append(out, '"')
}

const hexDigit = "0123456789abcdef"
