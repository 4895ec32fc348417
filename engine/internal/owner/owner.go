// Package owner marks the goroutines that run callbacks (a database's change notifier, a
// replicator's event dispatcher), so that a call made from inside one of their callbacks
// (removing a listener, stopping a replicator, waiting for deliveries) can tell that it
// runs on the goroutine it would otherwise wait for, and return instead of deadlocking.
//
// The owner goroutine locks itself to its OS thread for as long as it owns it
// (runtime.LockOSThread: no other goroutine runs on that thread meanwhile) and records the
// thread's ID. Code on that thread is therefore the owner goroutine, or a callback it
// made, including one made from C through cgo (which runs on the goroutine and thread that
// called into C). Checking costs one gettid system call; nothing parses stack traces.
package owner

import (
	"runtime"
	"sync/atomic"
)

// Thread is the OS thread of one owner goroutine. The zero value owns nothing.
type Thread struct {
	tid atomic.Int64 // 0 while not owned
}

// Own locks the calling goroutine to its OS thread and records that thread; the same
// goroutine must call Release when it stops delivering (typically deferred).
func (t *Thread) Own() {
	runtime.LockOSThread()
	t.tid.Store(int64(threadID()))
}

// Release forgets the thread and unlocks the calling goroutine from it.
func (t *Thread) Release() {
	t.tid.Store(0)
	runtime.UnlockOSThread()
}

// Current reports whether the caller runs on the owner goroutine (directly or in a callback
// it made). It is false for a nil Thread and before Own or after Release.
func (t *Thread) Current() bool {
	if t == nil {
		return false
	}
	id := t.tid.Load()
	return id != 0 && id == int64(threadID())
}

// Owned reports whether a goroutine owns the thread at the moment (between Own and
// Release).
func (t *Thread) Owned() bool { return t != nil && t.tid.Load() != 0 }
