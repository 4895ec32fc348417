package main

import (
	"io"
	"net"
	"sync"
	"time"
)

// shaper is a TCP proxy on 127.0.0.1 that forwards to target at most rate bytes per
// second in each direction (a token bucket per direction, shared by its connections,
// with at most burst bytes of credit): a slow link on loopback.
type shaper struct {
	ln     net.Listener
	target string
	up     *bucket // client -> target
	down   *bucket // target -> client
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  []net.Conn
}

const shaperChunk = 4096 // bytes forwarded at a time

func newShaper(target string, rate float64) (*shaper, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &shaper{ln: ln, target: target, up: newBucket(rate), down: newBucket(rate)}
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

// SetRate sets the limit of each direction (bytes per second; 0 = none).
func (s *shaper) SetRate(rate float64) {
	for _, b := range []*bucket{s.up, s.down} {
		b.mu.Lock()
		b.rate, b.burst, b.tokens, b.last = rate, max(rate/50, 2*shaperChunk), 0, time.Now()
		b.mu.Unlock()
	}
}

// Port is the proxy's port.
func (s *shaper) Port() int { return s.ln.Addr().(*net.TCPAddr).Port }

func (s *shaper) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		t, err := net.Dial("tcp", s.target)
		if err != nil {
			c.Close()
			continue
		}
		s.mu.Lock()
		s.conns = append(s.conns, c, t)
		s.mu.Unlock()
		s.wg.Add(2)
		go s.pipe(t, c, s.up)
		go s.pipe(c, t, s.down)
	}
}

// pipe copies src to dst through bucket b, then closes dst's writing side.
func (s *shaper) pipe(dst, src net.Conn, b *bucket) {
	defer s.wg.Done()
	buf := make([]byte, shaperChunk)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			b.take(n)
			if _, werr := dst.Write(buf[:n]); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	if tc, ok := dst.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	} else {
		dst.Close()
	}
	_, _ = io.Copy(io.Discard, src)
}

// Close stops the proxy and its connections.
func (s *shaper) Close() {
	s.ln.Close()
	s.mu.Lock()
	for _, c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// bucket is a token bucket of rate bytes per second.
type bucket struct {
	mu     sync.Mutex
	rate   float64
	burst  float64
	tokens float64
	last   time.Time
}

func newBucket(rate float64) *bucket {
	return &bucket{rate: rate, burst: max(rate/50, 2*shaperChunk), last: time.Now()} // 20 ms of credit
}

// take waits until n bytes may pass.
func (b *bucket) take(n int) {
	b.mu.Lock()
	if b.rate <= 0 {
		b.mu.Unlock()
		return // not limited (yet)
	}
	now := time.Now()
	b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	b.last = now
	b.tokens -= float64(n)
	wait := time.Duration(0)
	if b.tokens < 0 {
		wait = time.Duration(-b.tokens / b.rate * float64(time.Second))
	}
	b.mu.Unlock()
	if wait > 0 {
		time.Sleep(wait)
	}
}
