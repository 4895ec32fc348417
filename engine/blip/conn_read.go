package blip

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/gorilla/websocket"
)

// The reader goroutine (readLoop, started by Start) is the only one to call
// ws.NextReader and to use c.recv; it decodes frames and hands them to the receiver
// (receiver.go), which calls back into conn_dispatch.go. It owns readerPaused and the
// received-side counters, and pauses itself (pauseReading) while inflightBytes is over
// Config.MaxBufferedBytes, woken by flowSignal, closingCh or abortCh. When reading ends
// it runs shutdown (conn.go). throttle, inflight, poke and refused are its host callbacks
// (inflight and poke are also called by goroutines releasing held bytes).

// readLoop reads frames until the connection ends, then shuts everything down.
func (c *Conn) readLoop() {
	buf := getFrameBuf()
	defer func() { putFrameBuf(buf) }()
	var readErr error
	draining := false // after a protocol error: read until the peer's close, ignore frames
	for {
		if !draining && c.inflightBytes.Load() > c.cfg.MaxBufferedBytes {
			c.pauseReading()
		}
		mt, r, err := c.ws.NextReader()
		if err != nil {
			readErr = err
			break
		}
		c.lastRecv.Store(time.Now().UnixNano())
		*buf, err = readMessage(r, (*buf)[:0], maxIncomingFrame)
		if err != nil && !errors.Is(err, ErrTooLarge) {
			readErr = err
			break
		}
		if draining {
			continue
		}
		if err == nil && mt != websocket.BinaryMessage {
			err = protoErrorf("non-binary WebSocket message")
		}
		if err == nil {
			c.bytesRecv.Add(uint64(len(*buf)))
			c.framesRecv.Add(1)
			var kept bool
			if kept, err = c.recv.handle(*buf, buf); kept {
				buf = getFrameBuf() // a message owns the old one now
			}
		}
		if err != nil {
			c.protocolFailure(err)
			draining = true
		}
		if cap(*buf) > 2*defaultFrameSize {
			*buf = nil // don't keep a big buffer around after one large frame
		}
	}
	c.shutdown(readErr)
}

// readMessage reads one WebSocket message into buf, failing beyond limit bytes.
func readMessage(r io.Reader, buf []byte, limit int) ([]byte, error) {
	if cap(buf) == 0 {
		buf = make([]byte, 0, defaultFrameSize+64)
	}
	for {
		if len(buf) == cap(buf) {
			if len(buf) > limit {
				return buf, tooLargeErrorf("frame larger than %d bytes", limit)
			}
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			if len(buf) > limit {
				return buf, tooLargeErrorf("frame larger than %d bytes", limit)
			}
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// pauseReading waits while the connection holds more incoming bytes than
// Config.MaxBufferedBytes (reader goroutine only).
func (c *Conn) pauseReading() {
	limit := c.cfg.MaxBufferedBytes
	paused := false
	defer func() {
		if paused {
			c.readerPaused.Store(false)
			c.lastRecv.Store(time.Now().UnixNano())
		}
	}()
	var timer *time.Timer
	for {
		total := c.inflightBytes.Load()
		// The handlers' charges are not message bytes: unblock weighs what messages hold.
		if total <= limit || c.recv.unblock(total-c.handlersLive.Load()*handlerCharge, limit) {
			return
		}
		if !paused {
			paused = true
			c.readerPaused.Store(true)
			c.pauses.Add(1)
		}
		if c.inflightBytes.Load() <= limit {
			return
		}
		if timer == nil {
			timer = time.NewTimer(stuckCheck)
			defer timer.Stop()
		} else {
			timer.Reset(stuckCheck)
		}
		select {
		case <-c.flowSignal:
		case <-timer.C:
		case <-c.abortCh:
			return
		case <-c.closingCh:
			return
		}
	}
}

// throttle implements receiverHost.
func (c *Conn) throttle() {
	if c.inflightBytes.Load() > c.cfg.MaxBufferedBytes {
		c.pauseReading()
	}
}

func (c *Conn) inflight(delta int64) {
	n := c.inflightBytes.Add(delta)
	if delta > 0 {
		storeMax(&c.peakInflight, n)
	}
	if n <= c.cfg.MaxBufferedBytes && delta < 0 {
		c.poke()
	}
}

// poke implements flowHost.
func (c *Conn) poke() {
	select {
	case c.flowSignal <- struct{}{}:
	default:
	}
}

// refused implements receiverHost: a message was refused (see receiver.refuse).
func (c *Conn) refused(in *inbound, be *Error) {
	c.refusals.Add(1)
	c.log.Warn("blip: refusing incoming message", "type", in.typ.String(), "number", in.num,
		"profile", in.msg.Properties.Get("Profile"), "reason", be.Message)
	if in.typ == TypeRequest || in.began {
		return // answered by serve or finish; a begun reply's reader gets the error
	}
	if p := c.claimReply(in.num); p != nil {
		p.ch <- Reply{Err: fmt.Errorf("reply to #%d refused: %w: %w", in.num, ErrTooLarge, be)}
	}
}

// protocolFailure closes the connection with 1002 because the peer broke the protocol.
func (c *Conn) protocolFailure(err error) {
	c.log.Warn("blip: protocol error; closing", "err", err)
	ce := &CloseError{Code: CloseProtocolError, Reason: truncateReason(err.Error()), Err: err}
	if !c.setTerm(ce) {
		return
	}
	now := time.Now()
	if werr := c.ws.WriteControl(websocket.CloseMessage,
		websocket.FormatCloseMessage(CloseProtocolError, ce.Reason), now.Add(controlWriteTimeout)); werr != nil {
		c.abort(nil)
		return
	}
	_ = c.ws.SetReadDeadline(now.Add(closeTimeout))
}
