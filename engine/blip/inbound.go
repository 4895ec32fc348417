package blip

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"
)

// Flow-control constants (PROTOCOL.md §2.9; both reference peers use these numbers).
const (
	// ackInterval: send an ACK each time this many more bytes of a message have been credited.
	ackInterval = 50000
	// sendWindow: stop sending a message's frames while more than this many of its bytes are
	// unacknowledged.
	sendWindow = 128000
	// creditSoftLimit: an arriving frame is credited (counted for ACKs) at once while its
	// message has at most this many unread body bytes buffered; beyond that, only when the
	// reader consumes it. This is what makes a slow reader slow the sender down.
	creditSoftLimit = 256 << 10
	// maxErrorBody: ERR bodies are kept up to this size; the rest is dropped.
	maxErrorBody = 64 << 10
)

var errBodyDiscarded = errors.New("blip: message body was discarded")

// flowHost is what an incoming message needs from its connection.
type flowHost interface {
	// sendAck queues an ACK telling the peer that n bytes of its message num (of type typ)
	// have been received.
	sendAck(num uint64, typ MessageType, n uint64)
	// inflight adds delta to the count of incoming bytes the connection holds (see
	// inbound.held).
	inflight(delta int64)
	// poke tells a paused reader to look again at what holds the buffered bytes (a
	// consumer started waiting for data).
	poke()
}

type chunk struct {
	b    []byte
	raw  uint64  // wire bytes not yet credited for ACKs; credited when the chunk is consumed
	pool *[]byte // frame buffer b lives in, returned to framePool once b is consumed
}

// framePool recycles the buffers incoming frames are read into; a message keeps the
// buffer of an uncompressed frame as its body chunk instead of copying the data out.
var framePool = sync.Pool{New: func() any {
	// A whole default-size frame plus room for the read that sees EOF.
	b := make([]byte, 0, defaultFrameSize+64)
	return &b
}}

func getFrameBuf() *[]byte { return framePool.Get().(*[]byte) }

func putFrameBuf(p *[]byte) {
	if p != nil && cap(*p) <= 2*defaultFrameSize {
		*p = (*p)[:0]
		framePool.Put(p)
	}
}

// inbound is the receiving state of one incoming message. The reader goroutine pushes frames
// into it; the consumer (ReadBody / BodyReader) pulls from it. Bytes are "credited" to the
// sender — counted in the ACKs — when they are consumed, or at once while little is buffered.
type inbound struct {
	host    flowHost
	num     uint64
	typ     MessageType
	msg     *Message
	maxBody int64

	// Owned by the reader goroutine.
	propLen int // -1 until the properties length has been read
	props   []byte
	total   int64
	// maxMessage caps total (< 0: none): the connection's cap, or for a reply the one
	// its request asked for (Message.MaxReplySize).
	maxMessage int64
	began      bool
	rejected   bool   // refused (see refuse): the rest of the message is dropped
	seq        uint64 // arrival order among incoming messages

	mu       sync.Mutex
	cond     sync.Cond
	q        []chunk
	buffered int // unread body bytes in q
	// held: bytes counted in the connection's total (Config.MaxBufferedBytes): the
	// unread bytes in q, properties still being collected, and, for a request, the
	// bytes ReadBody handed to its handler, until the handler returns.
	held      int
	waiting   bool   // a consumer is blocked waiting for data
	refusal   *Error // why the message was refused (the reply sent for a request)
	done      bool   // the last frame has arrived
	err       error
	discarded bool
	keepLimit int // > 0: keep at most this many body bytes and credit everything at once
	kept      int
	credited  uint64
	acked     uint64
	peak      int // largest buffered value seen (tests)

	readMu   sync.Mutex // serializes readAll
	haveBody bool
	body     []byte
	bodyErr  error
}

func newInbound(host flowHost, num uint64, flags byte, maxBody int64) *inbound {
	in := &inbound{host: host, num: num, typ: MessageType(flags & flagTypeMask), propLen: -1, maxBody: maxBody}
	in.cond.L = &in.mu
	if in.typ == TypeError {
		in.keepLimit = maxErrorBody
	}
	in.msg = &Message{
		Type:       in.typ,
		Number:     num,
		Urgent:     flags&flagUrgent != 0,
		NoReply:    flags&flagNoReply != 0,
		Compressed: flags&flagCompressed != 0,
		in:         in,
	}
	return in
}

// push adds body bytes of one frame (possibly a piece of an inflated frame). If buf is the
// pooled buffer data lives in, push may keep data without copying, and reports whether it
// did (the buffer is then the message's). Credit for the frame is given by endFrame.
func (in *inbound) push(data []byte, buf *[]byte) (kept bool) {
	in.mu.Lock()
	var delta int64
	switch {
	case in.discarded || len(data) == 0:
	case in.keepLimit > 0:
		if room := in.keepLimit - in.kept; room > 0 {
			if len(data) > room {
				data = data[:room]
			}
			in.q = append(in.q, chunk{b: bytes.Clone(data)})
			in.kept += len(data)
			in.buffered += len(data)
		}
	default:
		c := chunk{b: data, pool: buf}
		// Keep the frame buffer only if it is not much bigger than the data.
		if kept = buf != nil && cap(*buf) <= len(data)+len(data)/4+64; !kept {
			c = chunk{b: bytes.Clone(data)}
		}
		in.buffered += len(data)
		in.held += len(data)
		delta = int64(len(data))
		in.q = append(in.q, c)
		if in.buffered > in.peak {
			in.peak = in.buffered
		}
	}
	in.cond.Broadcast()
	in.mu.Unlock()
	in.notify(delta, 0)
	return kept
}

// endFrame credits a frame whose data was pushed: raw is its wire size after the header,
// last marks the message's final frame. The frame is credited (counted for ACKs) at once
// while the message has at most creditSoftLimit unread bytes buffered, else when the
// reader consumes the frame's last chunk.
func (in *inbound) endFrame(raw int, last bool) {
	in.mu.Lock()
	credit := uint64(raw)
	if !in.discarded && in.keepLimit == 0 && in.buffered > creditSoftLimit && len(in.q) > 0 {
		in.q[len(in.q)-1].raw += credit
		credit = 0
	}
	if last {
		in.done = true
	}
	ack := in.creditLocked(credit)
	in.cond.Broadcast()
	in.mu.Unlock()
	in.notify(0, ack)
}

// holdProps counts n bytes of properties being collected (negative: released).
func (in *inbound) holdProps(n int) {
	in.mu.Lock()
	if in.discarded {
		in.mu.Unlock()
		return
	}
	n = max(n, -in.held)
	in.held += n
	in.mu.Unlock()
	in.notify(int64(n), 0)
}

// heldState reports the bytes held and whether a consumer waits for more.
func (in *inbound) heldState() (held int, waiting bool) {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.held, in.waiting
}

// refuse drops the message: what is buffered is released and credited, the rest will be
// dropped as it arrives (and credited, so the sender finishes), and the consumer gets err.
// be is the error a refused request is answered with.
func (in *inbound) refuse(be *Error) {
	in.mu.Lock()
	if in.refusal != nil {
		in.mu.Unlock()
		return
	}
	in.refusal = be
	in.discarded = true
	var credit uint64
	for _, c := range in.q {
		credit += c.raw
		putFrameBuf(c.pool)
	}
	in.q = nil
	in.buffered = 0
	delta := -int64(in.held)
	in.held = 0
	ack := in.creditLocked(credit)
	in.cond.Broadcast()
	in.mu.Unlock()
	in.notify(delta, ack)
}

// refusalWhenDone returns the refusal of the message (nil if it was not refused), once its
// last frame has arrived or the connection has ended.
func (in *inbound) refusalWhenDone() *Error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.refusal == nil {
		return nil
	}
	for !in.done && in.err == nil {
		in.cond.Wait()
	}
	return in.refusal
}

// creditLocked adds n credited bytes and returns the value to ACK, or 0 for no ACK now.
func (in *inbound) creditLocked(n uint64) uint64 {
	in.credited += n
	if !in.done && in.credited-in.acked >= ackInterval {
		in.acked = in.credited
		return in.credited
	}
	return 0
}

func (in *inbound) notify(delta int64, ack uint64) {
	if delta != 0 {
		in.host.inflight(delta)
	}
	if ack != 0 {
		in.host.sendAck(in.num, in.typ, ack)
	}
}

// consumedLocked accounts for n bytes taken by the consumer plus the credit of fully
// consumed chunks. release says whether the bytes stop counting in the connection's
// total now (ReadBody of a request keeps them counted until its handler returns).
func (in *inbound) consumedLocked(n int, credit uint64, release bool) (delta int64, ack uint64) {
	in.buffered -= n
	if d := min(n, in.held); release && d > 0 {
		in.held -= d
		delta = -int64(d)
	}
	return delta, in.creditLocked(credit)
}

// waitLocked blocks until there is data, the end, an error or a discard.
func (in *inbound) waitLocked() {
	for len(in.q) == 0 && !in.done && in.err == nil && !in.discarded {
		if !in.waiting {
			in.waiting = true
			in.host.poke()
		}
		in.cond.Wait()
	}
	in.waiting = false
}

// endLocked returns the error to report once q is empty.
func (in *inbound) endLocked() error {
	switch {
	case in.refusal != nil:
		return fmt.Errorf("%s #%d refused: %w: %w", in.typ, in.num, ErrTooLarge, in.refusal)
	case in.discarded && !in.done:
		return errBodyDiscarded
	case in.done:
		return io.EOF
	case in.err != nil:
		return in.err
	}
	return io.EOF
}

// Read streams the body (see Message.BodyReader).
func (in *inbound) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	in.mu.Lock()
	in.waitLocked()
	if len(in.q) == 0 {
		err := in.endLocked()
		in.mu.Unlock()
		return 0, err
	}
	c := &in.q[0]
	n := copy(p, c.b)
	c.b = c.b[n:]
	var credit uint64
	var done *[]byte
	if len(c.b) == 0 {
		credit, done = c.raw, c.pool
		in.q[0] = chunk{}
		in.q = in.q[1:]
	}
	delta, ack := in.consumedLocked(n, credit, true)
	in.mu.Unlock()
	putFrameBuf(done)
	in.notify(delta, ack)
	return n, nil
}

// WriteTo streams the body into w chunk by chunk, without copying it through an
// intermediate buffer (io.Copy uses it).
func (in *inbound) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for {
		in.mu.Lock()
		in.waitLocked()
		if len(in.q) == 0 {
			err := in.endLocked()
			in.mu.Unlock()
			if err == io.EOF {
				err = nil
			}
			return total, err
		}
		c := in.q[0]
		in.q[0] = chunk{}
		if len(in.q) == 1 {
			in.q = in.q[:0]
		} else {
			in.q = in.q[1:]
		}
		delta, ack := in.consumedLocked(len(c.b), c.raw, true)
		in.mu.Unlock()
		in.notify(delta, ack)
		n, err := w.Write(c.b)
		putFrameBuf(c.pool) // io.Writer must not keep c.b
		total += int64(n)
		if err != nil {
			return total, err
		}
	}
}

// readAll implements Message.ReadBody.
func (in *inbound) readAll() ([]byte, error) {
	in.readMu.Lock()
	defer in.readMu.Unlock()
	if in.haveBody {
		return in.body, in.bodyErr
	}
	// The chunks are taken (and credited) as they arrive, so that the sender is not held
	// back, and joined once at the end: growing one buffer as they come would allocate
	// about twice the body.
	var parts []chunk
	size := int64(0)
	var err error
	for {
		in.mu.Lock()
		in.waitLocked()
		if len(in.q) == 0 {
			err = in.endLocked()
			in.mu.Unlock()
			break
		}
		n, taken := 0, 0
		var credit uint64
		for _, c := range in.q {
			if in.maxBody >= 0 && size+int64(len(c.b)) > in.maxBody {
				err = fmt.Errorf("read body of %s #%d: %w: more than %d bytes", in.typ, in.num, ErrTooLarge, in.maxBody)
				break
			}
			parts = append(parts, chunk{b: c.b, pool: c.pool})
			size += int64(len(c.b))
			n += len(c.b)
			credit += c.raw
			taken++
		}
		clear(in.q[:taken])
		if taken == len(in.q) {
			in.q = in.q[:0]
		} else {
			in.q = in.q[taken:] // what is left after a cap error is credited by discard below
		}
		delta, ack := in.consumedLocked(n, credit, in.typ != TypeRequest)
		in.mu.Unlock()
		in.notify(delta, ack)
		if err != nil {
			in.discard()
			break
		}
	}
	var body []byte
	switch len(parts) {
	case 0:
	case 1:
		body = parts[0].b // chunks are private: take it as is (its buffer goes with it)
	default:
		body = make([]byte, 0, size)
		for i, c := range parts {
			body = append(body, c.b...)
			putFrameBuf(c.pool)
			parts[i] = chunk{}
		}
	}
	if err == io.EOF {
		err = nil
	}
	if body == nil && err == nil {
		body = []byte{}
	}
	in.haveBody, in.body, in.bodyErr = true, body, err
	return body, err
}

// discard drops the unread body and everything still to come, crediting it all, and stops
// counting the bytes held for the message (its handler is done with them).
func (in *inbound) discard() {
	in.mu.Lock()
	if in.discarded {
		in.mu.Unlock()
		return
	}
	in.discarded = true
	var credit uint64
	n := 0
	for _, c := range in.q {
		credit += c.raw
		n += len(c.b)
		putFrameBuf(c.pool)
	}
	in.q = nil
	delta, ack := in.consumedLocked(n, credit, true)
	in.buffered = 0
	delta -= int64(in.held)
	in.held = 0
	in.cond.Broadcast()
	in.mu.Unlock()
	in.notify(delta, ack)
}

// fail ends an incomplete message with err (the connection ended).
func (in *inbound) fail(err error) {
	in.mu.Lock()
	if !in.done && in.err == nil {
		in.err = err
	}
	in.cond.Broadcast()
	in.mu.Unlock()
}

// peakBuffered returns the largest number of unread body bytes buffered at once.
func (in *inbound) peakBuffered() int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.peak
}
