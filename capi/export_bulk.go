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
	// The documents are saved in order with SaveMany (new documents go several to a SQL
	// statement), exactly as one save each would, bulkChunk at a time. Their bodies are
	// read in place: the store checks them (UTF-8 and JSON), works on them or on compacted
	// copies during the call, and keeps nothing of the input past it. The results report
	// IDs, revisions, sequences and versions only: no copy of a body comes back (NoBody).
	opts := base
	opts.NoBody = true
	var results []byte
	if outResults != nil {
		results = append(make([]byte, 0, 128*len(idv)+2), '[')
	}
	for lo := 0; lo < len(idv); lo += bulkChunk {
		hi := min(lo+bulkChunk, len(idv))
		items, convErr := bulkItems(lo, idv[lo:hi], bodies[lo:hi], parentv)
		docs, err := b.SaveMany(c, items, opts)
		saved += len(docs)
		if outResults != nil {
			results = appendSaved(results, docs)
		}
		if err != nil {
			return fail(cerr, fmt.Errorf("document %d (%q): %w", saved, items[len(docs)].ID, err))
		}
		if convErr != nil {
			return fail(cerr, convErr)
		}
	}
	if outResults != nil {
		*outResults = C.CString(string(append(results, ']')))
	}
	return C.P2P_OK
}

// bulkChunk is how many documents of a bulk save go to one SaveMany call.
const bulkChunk = 1024

// appendSaved appends the result objects of docs (after a '[' or an earlier object) to results.
func appendSaved(results []byte, docs []*store.Document) []byte {
	for _, d := range docs {
		if len(results) > 1 {
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
	return results
}

// bulkItems converts the entries lo, lo+1, ... of a bulk save (idv and bodies from entry
// lo, parents whole) up to the first that cannot be (a NULL or invalid ID, a NULL body, a
// parent ID that is not valid text): the items before it, and an error naming it (nil if
// every entry converts).
func bulkItems(lo int, idv, bodies, parents []*C.char) ([]store.SaveItem, error) {
	items := make([]store.SaveItem, 0, len(idv))
	for k := range idv {
		i := lo + k
		id, err := goDocID(idv[k], fmt.Sprintf("doc_ids[%d]", i))
		if err != nil {
			return items, fmt.Errorf("document %d: %w", i, err)
		}
		if bodies[k] == nil {
			return items, fmt.Errorf("document %d (%q): %w: jsons[%d] is NULL", i, id, errInvalidArgument, i)
		}
		it := store.SaveItem{ID: id, Body: cStringView(bodies[k])}
		if parents != nil {
			if it.ParentRevID, err = goOptText(parents[i], fmt.Sprintf("parent_rev_ids[%d]", i)); err != nil {
				return items, fmt.Errorf("document %d (%q): %w", i, id, err)
			}
		}
		items = append(items, it)
	}
	return items, nil
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
