package main

// Package main is the C ABI of libp2psync (built with -buildmode=c-shared).
//
// Core module: the live-handle count. p2p_abi_version, p2p_version, p2p_status_string,
// p2p_free and p2p_error_dispose need no Go and are written in abi.c; the conversions
// every export shares are in convert.go.

/*
#include "p2psync.h"
*/
import "C"

//export p2pgo_debug_live_handles
func p2pgo_debug_live_handles() C.uint64_t {
	defer guardValue()
	return C.uint64_t(liveHandles())
}

// main is required by -buildmode=c-shared and never runs.
func main() {}
