package blip

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"sync"
)

// batchLimit is how many bytes of consecutive frames are coalesced into one socket write.
const batchLimit = 64 << 10

// batchConn sits under the WebSocket and lets the writer goroutine coalesce consecutive
// frames into one write system call: each BLIP frame is its own WebSocket message, which
// gorilla/websocket writes out individually, and on a busy connection the per-write cost
// dominates. While the writer holds the batch, writes accumulate (up to batchLimit); the
// writer releases it — flushing — as soon as it has nothing more to send right away, and
// right after ACKs. Writes from other goroutines (pongs, pings, close) go straight through
// when no batch is held, and with the batch otherwise, which is flushed moments later.
type batchConn struct {
	net.Conn
	mu   sync.Mutex
	buf  []byte
	hold bool
	err  error
}

func (b *batchConn) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err != nil {
		return 0, b.err
	}
	if !b.hold && len(b.buf) == 0 {
		return b.Conn.Write(p)
	}
	b.buf = append(b.buf, p...)
	if !b.hold || len(b.buf) >= batchLimit {
		if err := b.flushLocked(); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

func (b *batchConn) flushLocked() error {
	if len(b.buf) == 0 {
		return nil
	}
	_, err := b.Conn.Write(b.buf)
	b.buf = b.buf[:0]
	if err != nil {
		b.err = err
	}
	return err
}

// holdBatch starts coalescing writes.
func (b *batchConn) holdBatch() {
	b.mu.Lock()
	b.hold = true
	b.mu.Unlock()
}

// release writes out what was coalesced and stops coalescing.
func (b *batchConn) release() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.hold = false
	if b.err != nil {
		return b.err
	}
	return b.flushLocked()
}

// hijackWrapper makes the server side's hijacked connection a batchConn.
type hijackWrapper struct {
	http.ResponseWriter
	conn *batchConn
}

func (h *hijackWrapper) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := h.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("blip: response does not implement http.Hijacker")
	}
	c, rw, err := hj.Hijack()
	if err != nil {
		return nil, nil, err
	}
	h.conn = &batchConn{Conn: c}
	return h.conn, rw, nil
}
