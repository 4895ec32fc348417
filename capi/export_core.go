package main

// Package main is the C ABI of libp2psync (built with -buildmode=c-shared).
//
// Core module: live-handle count and the conversions every export shares.
// p2p_abi_version, p2p_version, p2p_status_string, p2p_free and p2p_error_dispose
// need no Go and are written in abi.c.

/*
#include <stdlib.h>
#include "p2psync.h"
*/
import "C"

import (
	"encoding/json"
	"fmt"
	"unicode/utf8"
	"unsafe"

	"github.com/p2psync/libp2psync/engine/store"
)

//export p2pgo_debug_live_handles
func p2pgo_debug_live_handles() C.uint64_t {
	defer guardValue()
	return C.uint64_t(liveHandles())
}

// goText copies a required C string, checking that it is valid UTF-8.
func goText(p *C.char, what string) (string, error) {
	if p == nil {
		return "", fmt.Errorf("%w: %s is NULL", errInvalidArgument, what)
	}
	return goOptText(p, what)
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

// needOut reports a NULL out-parameter.
func needOut(ok bool, what string) error {
	if !ok {
		return fmt.Errorf("%w: %s is NULL", errInvalidArgument, what)
	}
	return nil
}

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

// cBool converts a flag for C.
func cBool(b bool) C.uint8_t {
	if b {
		return 1
	}
	return 0
}

// then runs step only if every earlier step succeeded, so that an export reads as a
// straight list of steps with one error exit.
func then[T any](err error, step func() (T, error)) (T, error) {
	if err != nil {
		var zero T
		return zero, err
	}
	return step()
}

// then2 is then for steps with two results.
func then2[T, U any](err error, step func() (T, U, error)) (T, U, error) {
	if err != nil {
		var t T
		var u U
		return t, u, err
	}
	return step()
}

// has reports whether an options struct of the caller's struct_size contains the field
// at offset off of size n.
func has(structSize C.uint32_t, off, n uintptr) bool { return uintptr(structSize) >= off+n }

// optSize reads a byte-count option: 0 = the default, at most 1 TiB.
func optSize(v C.uint64_t, name string) (int64, error) {
	if v > 1<<40 {
		return 0, fmt.Errorf("%w: %s %d is too large", errInvalidArgument, name, uint64(v))
	}
	return int64(v), nil
}

// checkStructSize applies the options-struct rule: a size below the first released
// size is invalid; a size beyond what this library knows is accepted only if the
// unknown tail is all zero.
func checkStructSize(p unsafe.Pointer, size C.uint32_t, minSize, known uintptr) error {
	n := uintptr(size)
	if n < minSize {
		return fmt.Errorf("%w: struct_size %d is below the minimum %d", errInvalidArgument, n, minSize)
	}
	if n > known {
		for i, b := range unsafe.Slice((*byte)(p), n)[known:] {
			if b != 0 {
				return fmt.Errorf("%w: options field at byte offset %d is unknown to this library version", errUnsupported, known+uintptr(i))
			}
		}
	}
	return nil
}

// then1 is then for steps with no result.
func then1(err error, step func() error) error {
	if err != nil {
		return err
	}
	return step()
}

// main is required by -buildmode=c-shared and never runs.
func main() {}
