package main

import "sync"

// callbackGate lets the owner of application callbacks (say, a listener's authenticators
// given through the C API) promise that none runs after Close returns, even when the engine
// might still call one late (a handshake that began before Stop). Wrap every callback
// call in Enter/Leave: Enter reports false once the gate is closed, and the callback
// must then be skipped (treated as a refusal).
//
// The zero value is an open gate. It is safe for concurrent use. A callback must not call
// Close of its own gate (it would wait for itself).
type callbackGate struct {
	mu       sync.Mutex
	closed   bool
	inFlight sync.WaitGroup
}

// Enter reports whether the callback may run; on true the caller must call Leave after it.
func (g *callbackGate) Enter() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return false
	}
	g.inFlight.Add(1)
	return true
}

// Leave ends a call started by a successful Enter.
func (g *callbackGate) Leave() { g.inFlight.Done() }

// Close refuses every later Enter and waits for the calls in flight to Leave.
// Closing a closed gate only waits.
func (g *callbackGate) Close() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
	g.inFlight.Wait()
}

// callGated runs fn through the gate and returns its result, or refused when the gate is
// closed.
func callGated[T any](g *callbackGate, refused T, fn func() T) T {
	if !g.Enter() {
		return refused
	}
	defer g.Leave()
	return fn()
}
