package main

/*
#include "p2psync.h"
*/
import "C"

import (
	"unsafe"

	"github.com/p2psync/libp2psync/engine/logging"
)

//export p2pgo_log_set_callback
func p2pgo_log_set_callback(level, domains C.uint32_t, fn C.p2p_log_fn, userData unsafe.Pointer, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	l, d, err := logLevelAndDomains(level, domains)
	if err != nil {
		return fail(cerr, err)
	}
	if err := setLogCallback(l, d, unsafe.Pointer(fn), userData); err != nil {
		return fail(cerr, err)
	}
	return C.P2P_OK
}

//export p2pgo_log_set_console
func p2pgo_log_set_console(level, domains C.uint32_t, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	l, d, err := logLevelAndDomains(level, domains)
	if err != nil {
		return fail(cerr, err)
	}
	logging.SetConsole(l, d)
	return C.P2P_OK
}

type logSinkJSON struct {
	Level   int32  `json:"level"`
	Domains uint32 `json:"domains"`
}

//export p2pgo_log_settings
func p2pgo_log_settings(out **C.char, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	if err := needOut(out != nil, "out_json"); err != nil {
		return fail(cerr, err)
	}
	cl, cd := logging.SinkSettings()
	ol, od := logging.ConsoleSettings()
	if ol == logging.None {
		od = 0
	}
	settings := struct {
		Callback logSinkJSON `json:"callback"`
		Console  logSinkJSON `json:"console"`
	}{logSinkJSON{int32(cl), uint32(cd)}, logSinkJSON{int32(ol), uint32(od)}}
	if err := setJSON(out, settings); err != nil {
		return fail(cerr, err)
	}
	return C.P2P_OK
}
