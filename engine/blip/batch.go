package blip

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"sync/atomic"
)

// batchLimit is how many bytes of consecutive frames are coalesced into one socket write.
const batchLimit = 64 << 10

// batchConn sits under the WebSocket and lets the writer goroutine coalesce consecutive
// frames into one write system call: each BLIP frame is its own WebSocket message, which
// gorilla/websocket writes out individually, and on a busy connection the per-write cost
// dominates.
//
// gorilla/websocket serializes every write to this connection (data and control frames)
// under its own lock and sets the write deadline just before, so Write is never called
// concurrently and always flushes under the deadline of the frame being written; nothing is
// ever written outside gorilla's lock. The rules:
//   - While the writer holds the batch (it knows more frames follow at once), data frames
//     are appended, and flushed once batchLimit bytes have accumulated.
//   - A data frame written without hold flushes everything (the writer releases the hold
//     for the last frame it has ready).
//   - Ping and pong frames are appended when data is pending (the writer is about to flush
//     it) and written straight through otherwise; a close frame always flushes, since
//     gorilla refuses data frames after it.
type batchConn struct {
	net.Conn
	hold  atomic.Bool  // set by the writer goroutine before each data frame
	force atomic.Bool  // the next write flushes, whatever it is
	queue atomic.Int64 // bytes waiting in buf
	buf   []byte       // only touched inside Write, under gorilla's write lock
	// readEnded: a Read of the socket has failed (EOF included); Dial uses it to tell a
	// handshake response cut off by the network from a malformed one.
	readEnded atomic.Bool
}

func (b *batchConn) Read(p []byte) (int, error) {
	n, err := b.Conn.Read(p)
	if err != nil {
		b.readEnded.Store(true)
	}
	return n, err
}

const (
	wsOpcodeMask  = 0x0f
	wsOpcodeClose = 0x8
)

func (b *batchConn) Write(p []byte) (int, error) {
	var opcode byte
	if len(p) > 0 {
		opcode = p[0] & wsOpcodeMask
	}
	control := opcode >= wsOpcodeClose
	var flush bool
	switch {
	case b.force.Swap(false) || opcode == wsOpcodeClose:
		flush = true
	case control:
		flush = len(b.buf) == 0
	default:
		flush = !b.hold.Load() || len(b.buf)+len(p) >= batchLimit
	}
	if flush && len(b.buf) == 0 {
		return b.Conn.Write(p)
	}
	b.buf = append(b.buf, p...)
	if !flush {
		b.queue.Store(int64(len(b.buf)))
		return len(p), nil
	}
	_, err := b.Conn.Write(b.buf)
	b.buf = b.buf[:0]
	b.queue.Store(0)
	if err != nil {
		return 0, err
	}
	return len(p), nil
}

// pending reports whether coalesced bytes are waiting to be written.
func (b *batchConn) pending() bool { return b.queue.Load() > 0 }

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
