package replicator

import (
	"fmt"
	"io"
	"math/rand"
	"net"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"
)

// faultSeedEnv overrides the seed of the fault schedules (the tests print the seed
// they use, so that a failure can be replayed).
const faultSeedEnv = "P2P_FAULT_SEED"

// faultSeed returns the seed for a fault schedule: $P2P_FAULT_SEED if set, else a fresh
// one. It is logged either way.
func faultSeed(t testing.TB) int64 {
	t.Helper()
	seed := time.Now().UnixNano()
	if s := os.Getenv(faultSeedEnv); s != "" {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			t.Fatalf("%s=%q: %v", faultSeedEnv, s, err)
		}
		seed = v
	}
	t.Logf("fault seed %d (replay with %s=%d)", seed, faultSeedEnv, seed)
	return seed
}

// faultKind is what the proxy does to a connection.
type faultKind int

const (
	// faultDrop forwards the chunk it holds, then closes both sides cleanly (FIN).
	faultDrop faultKind = iota
	// faultTruncate forwards only part of the chunk it holds (cutting a WebSocket frame
	// or TLS record in two), then closes both sides.
	faultTruncate
	// faultReset forwards part of the chunk, then resets both sides (RST: SO_LINGER 0).
	faultReset
	// faultDelay holds one direction for a while; the connection survives.
	faultDelay
	numFaultKinds
)

func (k faultKind) String() string {
	return [...]string{"drop", "truncate", "reset", "delay"}[k]
}

// faultProxy is a TCP proxy to one target that injects faults on a schedule drawn from a
// seeded RNG: each proxied connection gets a plan (a fault, a direction, and the number
// of bytes after which it strikes), until the budget of faults is spent; later
// connections are forwarded untouched. Striking after a byte count rather than a time
// keeps a schedule close to reproducible under the same seed.
type faultProxy struct {
	t      testing.TB
	ln     net.Listener
	target string

	mu       sync.Mutex
	rng      *rand.Rand
	budget   int
	injected []string
	counts   [numFaultKinds]int
	conns    map[*proxiedConn]struct{}
	closed   bool
	wg       sync.WaitGroup
	maxDelay time.Duration
}

// startFaultProxy listens on a loopback port and forwards to target, injecting budget
// faults in all.
func startFaultProxy(t testing.TB, target string, seed int64, budget int) *faultProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &faultProxy{t: t, ln: ln, target: target, rng: rand.New(rand.NewSource(seed)), budget: budget,
		conns: map[*proxiedConn]struct{}{}, maxDelay: 400 * time.Millisecond}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

// Port is the proxy's listening port.
func (p *faultProxy) Port() int { return p.ln.Addr().(*net.TCPAddr).Port }

// remaining is the number of faults still to inject.
func (p *faultProxy) remaining() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.budget
}

// stopFaults ends the chaos: connections made from now on are forwarded untouched, and
// plans not carried out yet are cancelled.
func (p *faultProxy) stopFaults() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.budget = 0
	for c := range p.conns {
		c.mu.Lock()
		c.plan = nil
		c.mu.Unlock()
	}
}

// summary lists the faults injected, in order.
func (p *faultProxy) summary() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := fmt.Sprintf("%d faults:", len(p.injected))
	for k := faultKind(0); k < numFaultKinds; k++ {
		s += fmt.Sprintf(" %s=%d", k, p.counts[k])
	}
	return s
}

func (p *faultProxy) close() {
	p.mu.Lock()
	p.closed = true
	conns := make([]*proxiedConn, 0, len(p.conns))
	for c := range p.conns {
		conns = append(conns, c)
	}
	p.mu.Unlock()
	p.ln.Close()
	for _, c := range conns {
		c.closeBoth(false)
	}
	p.wg.Wait()
}

func (p *faultProxy) accept() {
	defer p.wg.Done()
	for {
		down, err := p.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			down.Close()
			continue
		}
		c := &proxiedConn{p: p, down: down.(*net.TCPConn), up: up.(*net.TCPConn)}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			c.closeBoth(false)
			return
		}
		c.plan = p.newPlanLocked()
		p.conns[c] = struct{}{}
		p.wg.Add(2)
		p.mu.Unlock()
		go c.pump(0, c.down, c.up)
		go c.pump(1, c.up, c.down)
	}
}

// faultPlan is the next fault of one connection.
type faultPlan struct {
	kind  faultKind
	dir   int   // 0: client to server, 1: server to client
	after int64 // strike when this many bytes have gone in dir
	delay time.Duration
}

// newPlanLocked draws the next fault (nil when the budget is spent). A quarter of the
// faults strike in the first 2 KB (the TLS and WebSocket handshakes, the first
// messages), the rest within 48 KB.
func (p *faultProxy) newPlanLocked() *faultPlan {
	if p.budget <= 0 {
		return nil
	}
	pl := &faultPlan{kind: faultKind(p.rng.Intn(int(numFaultKinds))), dir: p.rng.Intn(2)}
	if p.rng.Intn(4) == 0 {
		pl.after = int64(p.rng.Intn(2 << 10))
	} else {
		pl.after = int64(2<<10 + p.rng.Intn(46<<10))
	}
	pl.delay = time.Duration(20+p.rng.Intn(int(p.maxDelay/time.Millisecond))) * time.Millisecond
	return pl
}

type proxiedConn struct {
	p        *faultProxy
	down, up *net.TCPConn

	mu         sync.Mutex
	plan       *faultPlan
	sent       [2]int64
	halfClosed int
	closed     bool
}

// pump copies one direction, carrying out the connection's plan when it is due.
func (c *proxiedConn) pump(dir int, src, dst *net.TCPConn) {
	defer c.p.wg.Done()
	buf := make([]byte, 16<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			chunk := buf[:n]
			c.mu.Lock()
			pl := c.plan
			due := pl != nil && pl.dir == dir && c.sent[dir]+int64(n) > pl.after
			var cut int
			if due {
				cut = int(pl.after - c.sent[dir])
				if cut < 0 {
					cut = 0
				}
				c.plan = nil
			}
			c.sent[dir] += int64(n)
			c.mu.Unlock()
			if due && !c.strike(pl, dir, chunk, cut, dst) {
				return
			}
			if !due {
				if _, werr := dst.Write(chunk); werr != nil {
					c.closeBoth(false)
					return
				}
			}
		}
		if err != nil {
			if err == io.EOF {
				// Pass the half-close on; once both directions ended, close.
				_ = dst.CloseWrite()
				c.mu.Lock()
				c.halfClosed++
				both := c.halfClosed == 2
				c.mu.Unlock()
				if both {
					c.closeBoth(false)
				}
				return
			}
			c.closeBoth(false)
			return
		}
	}
}

// strike carries out a due fault on chunk; it reports whether the connection lives on.
func (c *proxiedConn) strike(pl *faultPlan, dir int, chunk []byte, cut int, dst *net.TCPConn) bool {
	p := c.p
	p.mu.Lock()
	if p.budget <= 0 { // stopFaults raced with this plan: forward untouched
		p.mu.Unlock()
		_, err := dst.Write(chunk)
		return err == nil
	}
	p.budget--
	p.counts[pl.kind]++
	// A truncation must cut inside the chunk: at least one byte in, one byte short.
	if pl.kind == faultTruncate && len(chunk) > 1 {
		cut = 1 + p.rng.Intn(len(chunk)-1)
	}
	if cut > len(chunk) {
		cut = len(chunk)
	}
	p.injected = append(p.injected, fmt.Sprintf("%s dir=%d at byte %d (+%d of a %d-byte chunk) delay=%v", pl.kind, dir, pl.after, cut, len(chunk), pl.delay))
	var next *faultPlan
	if pl.kind == faultDelay {
		next = p.newPlanLocked()
	}
	p.mu.Unlock()
	switch pl.kind {
	case faultDelay:
		time.Sleep(pl.delay)
		if next != nil {
			c.mu.Lock()
			next.after += c.sent[next.dir]
			c.plan = next
			c.mu.Unlock()
		}
		_, err := dst.Write(chunk)
		if err != nil {
			c.closeBoth(false)
		}
		return err == nil
	case faultDrop:
		_, _ = dst.Write(chunk)
		c.closeBoth(false)
	case faultTruncate:
		_, _ = dst.Write(chunk[:cut])
		c.closeBoth(false)
	case faultReset:
		_, _ = dst.Write(chunk[:cut])
		c.closeBoth(true)
	}
	return false
}

// closeBoth closes both sides; with reset, the kernel sends RST instead of FIN.
func (c *proxiedConn) closeBoth(reset bool) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	c.mu.Unlock()
	if reset {
		_ = c.down.SetLinger(0)
		_ = c.up.SetLinger(0)
	}
	c.down.Close()
	c.up.Close()
	c.p.mu.Lock()
	delete(c.p.conns, c)
	c.p.mu.Unlock()
}
