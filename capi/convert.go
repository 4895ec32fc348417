package main

// The conversions between C and Go that every export shares, in one place: C text,
// JSON and bytes in; C text, JSON and flags out; and the one reader of options structs
// (the rules are the header's "options structs" section).

/*
#include <stdlib.h>
#include <string.h>
#include "p2psync.h"
*/
import "C"

import (
	"crypto/x509"
	"encoding/json"
	"fmt"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/p2psync/libp2psync/engine/store"
	"github.com/p2psync/libp2psync/engine/tlsid"
)

// ------------------------------------------------------------------ C to Go

// goText copies a required C string, checking that it is valid UTF-8.
func goText(p *C.char, what string) (string, error) {
	if p == nil {
		return "", fmt.Errorf("%w: %s is NULL", errInvalidArgument, what)
	}
	return goOptText(p, what)
}

// goOptText copies an optional C string; NULL gives "".
func goOptText(p *C.char, what string) (string, error) {
	if p == nil {
		return "", nil
	}
	s := C.GoString(p)
	if !utf8.ValidString(s) {
		return "", fmt.Errorf("%w: %s is not valid UTF-8 (at byte offset %d)", errInvalidArgument, what, invalidUTF8Offset(s))
	}
	return s, nil
}

func invalidUTF8Offset(s string) int {
	for i, r := range s {
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(s[i:]); size <= 1 {
				return i
			}
		}
	}
	return len(s)
}

// goDocID copies a document ID and checks it with store.ValidateDocID, the one rule
// for document IDs: every export taking one reads it with this.
func goDocID(p *C.char, what string) (string, error) {
	id, err := goText(p, what)
	if err != nil {
		return "", err
	}
	if err := store.ValidateDocID(id); err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	return id, nil
}

// goPath copies a database directory path; "" is refused rather than taken as the
// current directory.
func goPath(path *C.char) (string, error) {
	dir, err := goText(path, "path")
	if err != nil {
		return "", err
	}
	if dir == "" {
		return "", fmt.Errorf("%w: path is empty", errInvalidArgument)
	}
	return dir, nil
}

// goJSON copies a required JSON text. Syntax errors are reported with their offset;
// the engine decides what shape is acceptable.
func goJSON(p *C.char, what string) ([]byte, error) {
	s, err := goText(p, what)
	if err != nil {
		return nil, err
	}
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		if se, ok := err.(*json.SyntaxError); ok {
			return nil, fmt.Errorf("%w: %s is not valid JSON at byte offset %d: %v", errInvalidArgument, what, se.Offset, se)
		}
		return nil, fmt.Errorf("%w: %s is not valid JSON: %v", errInvalidArgument, what, err)
	}
	return []byte(s), nil
}

// goOptJSONInto decodes optional JSON text (NULL = leave v alone) into v.
func goOptJSONInto(p *C.char, what string, v any) error {
	if p == nil {
		return nil
	}
	data, err := goJSON(p, what)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%w: %s has the wrong shape: %v", errInvalidArgument, what, err)
	}
	return nil
}

// goBytes copies a borrowed (data, len) input; lengths beyond what any input may have are
// clamped so that the engine's own size check reports them.
func goBytes(data *C.uint8_t, n C.size_t) []byte {
	if limit := C.size_t(tlsid.MaxInputSize + 1); n > limit {
		n = limit
	}
	return append([]byte(nil), unsafe.Slice((*byte)(unsafe.Pointer(data)), int(n))...)
}

// cBytes views a borrowed (data, len) input without copying it; valid for the call only.
func cBytes(p *C.uint8_t, n C.size_t) []byte {
	if n == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(p)), int(n))
}

// optCertificates parses optional PEM certificates (NULL = none).
func optCertificates(p *C.char, what string) ([]*x509.Certificate, error) {
	if p == nil {
		return nil, nil
	}
	pem, err := goOptText(p, what)
	if err != nil {
		return nil, err
	}
	certs, err := tlsid.ParseCertificates([]byte(pem))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return certs, nil
}

// pinnedDER turns the optional pinned certificate PEM into the DER the engine compares.
func pinnedDER(p *C.char) ([]byte, error) {
	certs, err := optCertificates(p, "pinned_certificate_pem")
	if err != nil || len(certs) == 0 {
		return nil, err
	}
	if len(certs) > 1 {
		return nil, fmt.Errorf("%w: pinned_certificate_pem holds %d certificates; pin exactly one", errInvalidArgument, len(certs))
	}
	return certs[0].Raw, nil
}

// optSize reads a byte-count option: 0 = the default, at most 1 TiB.
func optSize(v C.uint64_t, name string) (int64, error) {
	if v > 1<<40 {
		return 0, fmt.Errorf("%w: %s %d is too large", errInvalidArgument, name, uint64(v))
	}
	return int64(v), nil
}

func millis(ms C.uint32_t) time.Duration { return time.Duration(ms) * time.Millisecond }

// needOut reports a NULL out-parameter.
func needOut(ok bool, what string) error {
	if !ok {
		return fmt.Errorf("%w: %s is NULL", errInvalidArgument, what)
	}
	return nil
}

// ------------------------------------------------------------------ Go to C

// setText hands out a copy of s that the caller releases with p2p_free.
func setText(out **C.char, s string) {
	*out = C.CString(s)
}

// setJSON hands out v encoded as JSON text that the caller releases with p2p_free.
func setJSON(out **C.char, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("%w: encode result: %v", errInternal, err)
	}
	*out = C.CString(string(b))
	return nil
}

// nonNil makes an empty list encode as [] rather than null.
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// cBool converts a flag for C.
func cBool(b bool) C.uint8_t {
	if b {
		return 1
	}
	return 0
}

func unixMillis(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// ------------------------------------------------------------------ options structs

// checkOptionsSize applies the header's size rule to a caller's struct_size (or the size
// passed to an init function).
func checkOptionsSize(size uintptr, what string) error {
	switch {
	case size < C.P2P_OPTIONS_MIN_SIZE:
		return fmt.Errorf("%w: %s struct_size %d is below the minimum %d", errInvalidArgument, what, size, C.P2P_OPTIONS_MIN_SIZE)
	case size > C.P2P_OPTIONS_MAX_SIZE:
		return fmt.Errorf("%w: %s struct_size %d is above the maximum %d", errInvalidArgument, what, size, C.P2P_OPTIONS_MAX_SIZE)
	case size%8 != 0:
		return fmt.Errorf("%w: %s struct_size %d is not a multiple of 8", errInvalidArgument, what, size)
	}
	return nil
}

// initOptions is every p2p_*_init: it zeroes the caller's size bytes (every default is
// zero) and records size in struct_size, the struct's first field.
func initOptions(p unsafe.Pointer, size C.size_t, what string) error {
	if p == nil {
		return fmt.Errorf("%w: %s is NULL", errInvalidArgument, what)
	}
	if err := checkOptionsSize(uintptr(size), what); err != nil {
		return err
	}
	C.memset(p, 0, size)
	*(*C.uint32_t)(p) = C.uint32_t(size)
	return nil
}

// readOptions is the one reader of options structs. p points at a caller's struct whose
// first field is struct_size; the result is the library's layout T with every field the
// caller's struct lacks left zero (the default). A caller's tail beyond T must be zero:
// it holds options this library does not know.
func readOptions[T any](p unsafe.Pointer, what string) (T, error) {
	var out T
	size := uintptr(*(*C.uint32_t)(p))
	if err := checkOptionsSize(size, what); err != nil {
		return out, err
	}
	known := unsafe.Sizeof(out)
	if size > known {
		for i, b := range unsafe.Slice((*byte)(p), size)[known:] {
			if b != 0 {
				return out, fmt.Errorf("%w: %s has a field at byte offset %d that this library version does not know", errUnsupported, what, known+uintptr(i))
			}
		}
	}
	// The copy goes through C memory, so that pointer fields land in out with a typed copy.
	buf := C.calloc(1, C.size_t(known))
	if buf == nil {
		return out, fmt.Errorf("%w: out of memory", errInternal)
	}
	defer C.free(buf)
	C.memcpy(buf, p, C.size_t(min(size, known)))
	out = *(*T)(buf)
	return out, nil
}

// checkReserved refuses non-zero reserved bytes: a later version may give them a meaning.
func checkReserved(p unsafe.Pointer, n uintptr, what string) error {
	for i, b := range unsafe.Slice((*byte)(p), n) {
		if b != 0 {
			return fmt.Errorf("%w: %s byte %d is not zero", errUnsupported, what, i)
		}
	}
	return nil
}
