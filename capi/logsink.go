package main

/*
#include <stdint.h>
#include <stdlib.h>
#include "p2psync.h"

// Depth of log callbacks running on this thread: p2p_log_set_callback made from inside
// one would wait for itself, so it is refused. A cgo call and the Go callbacks it makes
// stay on one OS thread, so a thread-local flag sees them.
static __thread int p2p_log_depth;

static inline void p2p_call_log_fn(uintptr_t fn, uint32_t level, uint32_t domain, const char *msg, uintptr_t user_data) {
	p2p_log_depth++;
	((p2p_log_fn)fn)(level, domain, msg, (void *)user_data);
	p2p_log_depth--;
}

static inline int p2p_in_log_fn(void) { return p2p_log_depth > 0; }
*/
import "C"

import (
	"fmt"
	"sync"
	"unsafe"

	"github.com/p2psync/libp2psync/engine/logging"
)

// The console follows P2PSYNC_LOG from the moment the library loads.
func init() { logging.ConfigureFromEnv() }

// logSink is the application's C log callback. The (fn, user_data) pair stays in capi as
// integers; the gate lets a replacement wait for calls in flight.
type logSink struct {
	fn, userData C.uintptr_t
	gate         callbackGate
}

func (s *logSink) deliver(r logging.Record) {
	if !s.gate.Enter() {
		return // being replaced
	}
	defer s.gate.Leave()
	msg := C.CString(r.Message)
	defer C.free(unsafe.Pointer(msg))
	C.p2p_call_log_fn(s.fn, C.uint32_t(r.Level), C.uint32_t(r.Domain), msg, s.userData)
}

var (
	logSinkMu sync.Mutex // serialises p2p_log_set_callback
	logSinkOn *logSink
)

// setLogCallback installs (or with fn 0 removes) the C sink and waits for the previous
// one's calls in flight.
func setLogCallback(level logging.Level, domains logging.Domain, fn unsafe.Pointer, userData unsafe.Pointer) error {
	if C.p2p_in_log_fn() != 0 {
		return fmt.Errorf("%w: p2p_log_set_callback called from inside a log callback", errBusy)
	}
	logSinkMu.Lock()
	defer logSinkMu.Unlock()
	old := logSinkOn
	if fn == nil || level == logging.None || domains == 0 {
		logging.SetSink(logging.None, 0, nil)
		logSinkOn = nil
	} else {
		s := &logSink{fn: C.uintptr_t(uintptr(fn)), userData: C.uintptr_t(uintptr(userData))}
		logging.SetSink(level, domains, s.deliver)
		logSinkOn = s
	}
	if old != nil {
		old.gate.Close()
	}
	return nil
}

// logLevelAndDomains checks the C arguments.
func logLevelAndDomains(level, domains C.uint32_t) (logging.Level, logging.Domain, error) {
	if level > C.P2P_LOG_NONE {
		return 0, 0, fmt.Errorf("%w: log level %d (expected P2P_LOG_DEBUG..P2P_LOG_NONE)", errInvalidArgument, level)
	}
	if domains&^C.P2P_LOG_DOMAIN_ALL != 0 {
		return 0, 0, fmt.Errorf("%w: unknown log domain bits 0x%x", errInvalidArgument, uint32(domains&^C.P2P_LOG_DOMAIN_ALL))
	}
	return logging.Level(level), logging.Domain(domains), nil
}
