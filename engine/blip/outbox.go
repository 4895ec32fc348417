package blip

import (
	"errors"
	"fmt"
	"io"
)

// outKey identifies an outgoing message: my requests and my responses have separate numbers.
type outKey struct {
	num      uint64
	response bool // RPY or ERR
}

// outMsg is an outgoing message being cut into frames.
type outMsg struct {
	key    outKey
	typ    MessageType
	flags  byte   // flagCompressed | flagUrgent | flagNoReply
	head   []byte // uvarint(properties length) + properties
	body   []byte
	src    io.Reader // streamed body of srcLen bytes instead of body (Message.BodyStream)
	srcLen int
	srcBuf []byte // one frame's worth of src (writer only)
	off    int    // message bytes already framed (writer only)
	sent   uint64 // wire bytes sent after frame headers, checksums included
	acked  uint64 // highest byte count the peer acknowledged
	frozen bool   // paused until an ACK opens the window
}

func (m *outMsg) urgent() bool  { return m.flags&flagUrgent != 0 }
func (m *outMsg) started() bool { return m.off > 0 }
func (m *outMsg) size() int {
	if m.src != nil {
		return len(m.head) + m.srcLen
	}
	return len(m.head) + len(m.body)
}

// closeSource closes a streamed body's source, once.
func (m *outMsg) closeSource() {
	if m.src == nil {
		return
	}
	if cl, ok := m.src.(io.Closer); ok {
		_ = cl.Close()
	}
	m.src = nil
}

// setBody takes the body of msg: its bytes or its stream.
func (m *outMsg) setBody(msg *Message) error {
	if msg.BodyStream == nil {
		m.body = msg.Body
		return nil
	}
	if msg.BodyLength < 0 || int64(int(msg.BodyLength)) != msg.BodyLength {
		return fmt.Errorf("%w: body stream length %d", ErrInvalidMessage, msg.BodyLength)
	}
	m.src, m.srcLen = msg.BodyStream, int(msg.BodyLength)
	return nil
}

// readSource reads the next k body bytes of a streamed message; last says they end the
// body, after which the source must be at its end.
func (m *outMsg) readSource(k int, last bool) ([]byte, error) {
	if cap(m.srcBuf) < k {
		m.srcBuf = make([]byte, k)
	}
	buf := m.srcBuf[:k]
	if _, err := io.ReadFull(m.src, buf); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("body stream ended before its %d bytes", m.srcLen)
		}
		return nil, fmt.Errorf("body stream: %w", err)
	}
	if last {
		var probe [1]byte
		n, err := m.src.Read(probe[:])
		for n == 0 && err == nil {
			n, err = m.src.Read(probe[:])
		}
		if n > 0 {
			return nil, fmt.Errorf("body stream is longer than its %d bytes", m.srcLen)
		}
		if !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("body stream: %w", err)
		}
	}
	return buf, nil
}

// ackReq is an ACK waiting to be written.
type ackReq struct {
	num   uint64
	typ   MessageType // type of the message being acknowledged
	bytes uint64
}

// insertLocked puts m into the outbox. The outbox is round-robin: the writer takes the head,
// sends one frame and re-inserts the message if it has more. Normal messages go to the tail.
// An urgent message goes after the last urgent one, leaving one normal message in between
// where possible (so normal traffic is not starved), or right behind the head; and a request
// that has not started yet never passes an earlier request that has not started either,
// which keeps first frames in request-number order (PROTOCOL.md §2.1, §2.8).
// Caller holds c.mu.
func (c *Conn) insertLocked(m *outMsg) {
	q := c.outbox
	pos := len(q)
	if m.urgent() && len(q) > 1 {
		fresh := !m.started() && !m.key.response
		pos = 1
		for j := len(q) - 1; j >= 0; j-- {
			if q[j].urgent() {
				pos = min(j+2, len(q))
				break
			}
			if fresh && !q[j].started() && !q[j].key.response {
				pos = j + 1
				break
			}
		}
	}
	q = append(q, nil)
	copy(q[pos+1:], q[pos:])
	q[pos] = m
	c.outbox = q
}

// popLocked removes and returns the head of the outbox, and whether the next message after
// it is urgent. Caller holds c.mu.
func (c *Conn) popLocked() (m *outMsg, nextUrgent bool) {
	if len(c.outbox) == 0 {
		return nil, false
	}
	m = c.outbox[0]
	copy(c.outbox, c.outbox[1:])
	c.outbox[len(c.outbox)-1] = nil
	c.outbox = c.outbox[:len(c.outbox)-1]
	return m, len(c.outbox) > 0 && c.outbox[0].urgent()
}

// requeueLocked puts m back after one of its frames was written: into the outbox, or on ice
// while its unacknowledged bytes exceed the send window. Caller holds c.mu.
func (c *Conn) requeueLocked(m *outMsg) {
	if m.sent > m.acked && m.sent-m.acked > sendWindow {
		m.frozen = true
		c.freezes.Add(1)
		return
	}
	c.insertLocked(m)
}

// gotAck records the peer's acknowledgement of my message and thaws it if the window opened.
func (c *Conn) gotAck(num uint64, response bool, n uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.live[outKey{num, response}]
	if m == nil || n <= m.acked {
		return // finished already, or a stale ACK
	}
	m.acked = n
	if m.frozen && (m.sent <= m.acked || m.sent-m.acked <= sendWindow) {
		m.frozen = false
		c.insertLocked(m)
		c.wakeWriter()
	}
}

// sendAck queues an ACK frame for the writer; a newer count for the same message replaces
// a queued one. (The reader never writes itself: a reader blocked on a full socket while
// the peer's reader is blocked the same way would deadlock both.)
func (c *Conn) sendAck(num uint64, typ MessageType, n uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.term != nil {
		return
	}
	for i := range c.acks {
		if c.acks[i].num == num && (c.acks[i].typ == TypeRequest) == (typ == TypeRequest) {
			c.acks[i].bytes = max(c.acks[i].bytes, n)
			return
		}
	}
	c.acks = append(c.acks, ackReq{num, typ, n})
	c.wakeWriter()
}

func (c *Conn) wakeWriter() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}
