package p2psync

import (
	"crypto/x509"
	"encoding/pem"
	"net"
	"sync"
)

// This file holds the small helpers the C API (capi/) needs to build configurations from
// flat C options without logic of its own: combining a static password list with an
// application callback, rendering a certificate chain as PEM for a callback, splitting
// subject alternative names, and a gate that lets a closing object wait for callbacks in
// flight.

// PasswordsOrCallback combines the two ways an application can check passwords: the fixed
// credentials (compared as StaticPasswords does) and a callback. A username and password
// listed in credentials are accepted without calling fn; anything else goes to fn. With
// only one of them set it is that one; with neither, nil (no password authentication).
func PasswordsOrCallback(credentials map[string]string, fn PasswordAuthenticator) PasswordAuthenticator {
	if len(credentials) == 0 {
		return fn
	}
	static := StaticPasswords(credentials)
	if fn == nil {
		return static
	}
	return func(username, password string) bool {
		return static(username, password) || fn(username, password)
	}
}

// CertificatesPEM encodes certs as consecutive PEM CERTIFICATE blocks, in order.
func CertificatesPEM(certs []*x509.Certificate) []byte {
	var out []byte
	for _, c := range certs {
		if c != nil {
			out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
		}
	}
	return out
}

// SplitSubjectAltNames sorts subject alternative names given as one list into the DNS
// names and IP addresses that tlsid.CreateOptions takes: every entry that parses as an IP
// address is an IP SAN, every other entry a DNS name.
func SplitSubjectAltNames(names []string) (dnsNames []string, ips []net.IP) {
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			ips = append(ips, ip)
		} else {
			dnsNames = append(dnsNames, n)
		}
	}
	return dnsNames, ips
}

// CallbackGate lets the owner of application callbacks (say, a listener's authenticators
// handed to the C API) promise that none runs after Close returns, even when the engine
// might still call one late (a handshake that began before Stop). Wrap every callback
// call in Enter/Leave: Enter reports false once the gate is closed, and the callback
// must then be skipped (treated as a refusal).
//
// The zero value is an open gate. It is safe for concurrent use. A callback must not call
// Close of its own gate (it would wait for itself).
type CallbackGate struct {
	mu       sync.Mutex
	closed   bool
	inFlight sync.WaitGroup
}

// Enter reports whether the callback may run; on true the caller must call Leave after it.
func (g *CallbackGate) Enter() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return false
	}
	g.inFlight.Add(1)
	return true
}

// Leave ends a call started by a successful Enter.
func (g *CallbackGate) Leave() { g.inFlight.Done() }

// Close refuses every later Enter and waits for the calls in flight to Leave.
// Closing a closed gate only waits.
func (g *CallbackGate) Close() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
	g.inFlight.Wait()
}

// Call runs fn through the gate and returns its result, or refused when the gate is
// closed.
func Call[T any](g *CallbackGate, refused T, fn func() T) T {
	if !g.Enter() {
		return refused
	}
	defer g.Leave()
	return fn()
}
