package blip

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/gorilla/websocket"
)

// The writer goroutine (writeLoop, started by Start) is the only one to write message
// and ACK frames (ws.NextWriter), to use c.enc and c.batch, and to advance an outMsg's
// off/sent. It takes work from the outbox and acks under mu, sleeps on wake, closes
// flushed once closing and nothing is left, and stops on ctx or a write error (abort).

// writeLoop writes ACKs and message frames, one frame per WebSocket message. Consecutive
// frames are coalesced into one socket write while more are ready (see batchConn).
func (c *Conn) writeLoop() {
	defer c.ioWG.Done()
	for {
		c.mu.Lock()
		acks := c.acks
		c.acks = nil
		var m *outMsg
		nextUrgent := false
		if len(acks) == 0 {
			m, nextUrgent = c.popLocked()
			if m == nil && c.closing && len(c.live) == 0 && !c.flushedSent {
				c.flushedSent = true
				close(c.flushed)
			}
		}
		c.mu.Unlock()

		switch {
		case len(acks) > 0:
			var buf [2*binary.MaxVarintLen64 + 1]byte
			for i, a := range acks {
				// ACKs are what the peer's sender waits for: out with the last one.
				c.setHold(i < len(acks)-1)
				if !c.writeFrame(appendAck(buf[:0], a.num, a.typ, a.bytes)) {
					return
				}
			}
		case m != nil:
			if !c.writeNextFrame(m, nextUrgent) {
				return
			}
		default:
			// Nothing to send: an idle connection keeps no deflate writer (~1 MiB).
			c.enc.idle()
			if c.batch != nil && c.batch.pending() {
				// More work was expected but none came (a message froze, say): push out what
				// is coalesced with an unsolicited pong, which peers ignore (RFC 6455 §5.5.3).
				c.batch.force.Store(true)
				if err := c.ws.WriteControl(websocket.PongMessage, nil, time.Now().Add(controlWriteTimeout)); err != nil {
					c.abort(&CloseError{Code: CloseAbnormal, Remote: true, Err: fmt.Errorf("write frames: %w", err)})
					return
				}
			}
			select {
			case <-c.wake:
			case <-c.ctx.Done():
				return
			}
		}
	}
}

// setHold tells the batching layer whether another frame follows at once.
func (c *Conn) setHold(more bool) {
	if c.batch != nil {
		c.batch.hold.Store(more)
	}
}

// writeNextFrame sends m's next frame and puts m back in line (or on ice, or retires it).
func (c *Conn) writeNextFrame(m *outMsg, nextUrgent bool) bool {
	limit := c.cfg.MaxFrameSize
	if nextUrgent && !m.urgent() {
		limit = min(limit, smallFrameSize)
	}
	limit -= maxFrameHeader + checksumSize
	if m.flags&flagCompressed != 0 {
		limit -= deflateSlack
	}
	n := min(m.size()-m.off, limit)
	var parts [2][]byte
	more := m.off+n < m.size()
	if m.off < len(m.head) {
		end := min(m.off+n, len(m.head))
		parts[0] = m.head[m.off:end]
		if m.src == nil {
			parts[1] = m.body[:n-(end-m.off)]
		} else if k := n - (end - m.off); k > 0 || !more {
			var err error
			if parts[1], err = m.readSource(k, !more); err != nil {
				return c.sourceFailed(m, err)
			}
		}
	} else {
		start := m.off - len(m.head)
		if m.src == nil {
			parts[1] = m.body[start : start+n]
		} else {
			var err error
			if parts[1], err = m.readSource(n, !more); err != nil {
				return c.sourceFailed(m, err)
			}
		}
	}
	flags := byte(m.typ) | m.flags
	if more {
		flags |= flagMoreComing
	}
	pieces, err := c.enc.encodeParts(m.key.num, flags, parts[0], parts[1])
	if err != nil {
		c.log.Error("blip: encoding frame failed", "err", err)
		c.abort(&CloseError{Code: CloseInternal, Reason: "internal error", Err: err})
		return false
	}
	m.off += n
	size := 0
	for _, p := range pieces {
		size += len(p)
	}
	raw := uint64(size - len(pieces[0]))
	c.mu.Lock()
	c.setHold(len(c.outbox) > 0 || len(c.acks) > 0 || (more && m.sent+raw-m.acked <= sendWindow))
	c.mu.Unlock()
	_, ok := c.writePieces(pieces)
	if !ok {
		return false
	}
	c.mu.Lock()
	m.sent += raw
	if m.sent > m.acked {
		storeMaxU(&c.peakUnacked, m.sent-m.acked)
	}
	if more {
		if c.live[m.key] == m {
			c.requeueLocked(m)
		}
	} else {
		delete(c.live, m.key)
		c.msgsSent.Add(1)
	}
	c.mu.Unlock()
	if !more {
		m.closeSource()
	}
	return true
}

// sourceFailed ends the connection because a streamed body could not be read: the
// message is partly sent and BLIP has no way to withdraw it.
func (c *Conn) sourceFailed(m *outMsg, err error) bool {
	c.log.Warn("blip: streamed body failed; closing", "message", m.key.num, "err", err)
	m.closeSource()
	c.abort(&CloseError{Code: CloseInternal, Reason: "streamed body failed", Err: err})
	return false
}

// writeFrame writes one frame. It reports false when the writer must stop.
func (c *Conn) writeFrame(b []byte) bool {
	_, ok := c.writePieces([][]byte{b})
	return ok
}

// writePieces writes one frame given as consecutive pieces, as one WebSocket message,
// copying each piece once (into the WebSocket's buffer). It returns the frame size and
// false when the writer must stop.
func (c *Conn) writePieces(pieces [][]byte) (int, bool) {
	size := 0
	w, err := c.ws.NextWriter(websocket.BinaryMessage)
	for _, p := range pieces {
		if err != nil {
			break
		}
		_, err = w.Write(p)
		size += len(p)
	}
	if w != nil {
		if cerr := w.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		if !errors.Is(err, websocket.ErrCloseSent) {
			c.abort(&CloseError{Code: CloseAbnormal, Remote: true, Err: fmt.Errorf("write frame: %w", err)})
		}
		return 0, false
	}
	c.bytesSent.Add(uint64(size))
	c.framesSent.Add(1)
	return size, true
}
