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
	// inflight adds delta to the count of unread bytes buffered for incomplete messages.
	inflight(delta int64)
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
	began   bool

	mu        sync.Mutex
	cond      sync.Cond
	q         []chunk
	buffered  int  // unread body bytes in q
	counted   int  // part of buffered counted in the connection's in-flight total
	done      bool // the last frame has arrived
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

// push adds one frame's body bytes (possibly none). raw is the frame's wire size after the
// header; last marks the final frame. If buf is the pooled buffer data lives in, push may
// keep data without copying, and reports whether it did (the buffer is then the message's).
func (in *inbound) push(data []byte, raw int, last bool, buf *[]byte) (kept bool) {
	in.mu.Lock()
	var credit uint64
	var delta int64
	switch {
	case in.discarded || len(data) == 0:
		credit = uint64(raw)
	case in.keepLimit > 0:
		credit = uint64(raw)
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
		if in.buffered <= creditSoftLimit {
			credit = uint64(raw)
		} else {
			c.raw = uint64(raw)
		}
		in.q = append(in.q, c)
		if !last {
			in.counted += len(data)
			delta += int64(len(data))
		}
		if in.buffered > in.peak {
			in.peak = in.buffered
		}
	}
	if last {
		in.done = true
		delta -= int64(in.counted)
		in.counted = 0
	}
	ack := in.creditLocked(credit)
	in.cond.Broadcast()
	in.mu.Unlock()
	in.notify(delta, ack)
	return kept
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
// consumed chunks.
func (in *inbound) consumedLocked(n int, credit uint64) (delta int64, ack uint64) {
	in.buffered -= n
	if d := min(n, in.counted); d > 0 {
		in.counted -= d
		delta = -int64(d)
	}
	return delta, in.creditLocked(credit)
}

// waitLocked blocks until there is data, the end, an error or a discard.
func (in *inbound) waitLocked() {
	for len(in.q) == 0 && !in.done && in.err == nil && !in.discarded {
		in.cond.Wait()
	}
}

// endLocked returns the error to report once q is empty.
func (in *inbound) endLocked() error {
	switch {
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
	delta, ack := in.consumedLocked(n, credit)
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
		delta, ack := in.consumedLocked(len(c.b), c.raw)
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
	var body []byte
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
			if in.maxBody >= 0 && int64(len(body))+int64(len(c.b)) > in.maxBody {
				err = fmt.Errorf("read body of %s #%d: %w: more than %d bytes", in.typ, in.num, ErrTooLarge, in.maxBody)
				break
			}
			if body == nil {
				body = c.b // chunks are private: take the first one as is (its buffer goes with it)
			} else {
				body = append(body, c.b...)
				putFrameBuf(c.pool)
			}
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
		delta, ack := in.consumedLocked(n, credit)
		in.mu.Unlock()
		in.notify(delta, ack)
		if err != nil {
			in.discard()
			break
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

// discard drops the unread body and everything still to come, crediting it all.
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
	delta, ack := in.consumedLocked(n, credit)
	in.buffered = 0
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
	delta := -int64(in.counted)
	in.counted = 0
	in.cond.Broadcast()
	in.mu.Unlock()
	in.notify(delta, 0)
}

// peakBuffered returns the largest number of unread body bytes buffered at once.
func (in *inbound) peakBuffered() int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.peak
}
