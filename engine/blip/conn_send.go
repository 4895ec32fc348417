package blip

import (
	"context"
	"fmt"
)

// Sending runs on the callers' goroutines (Send, SendAsync): a request is encoded there,
// numbered and queued under mu (lastReq, pending, live, outbox), and the writer woken.
// The reply arrives through the pendingReply's channel, filled by conn_dispatch.go or
// by shutdown.

// Send sends a request and waits for its reply. It returns the RPY message once the reply's
// properties have arrived (read its body with ReadBody or BodyReader), the ERR reply as an
// *Error (with the message), or an error wrapping ErrClosed if the connection ends first.
// For a NoReply request it returns (nil, nil) once the request is queued. Canceling ctx stops
// the wait (the request is still sent; its reply will be discarded). Send sets req.Number.
func (c *Conn) Send(ctx context.Context, req *Message) (*Message, error) {
	num, ch, err := c.sendRequest(req)
	if err != nil {
		return nil, err
	}
	select {
	case r := <-ch:
		return r.Msg, r.Err
	case <-ctx.Done():
		c.abandon(num, ch)
		return nil, fmt.Errorf("send %q #%d: %w", req.Profile(), num, ctx.Err())
	}
}

// SendAsync queues a request and returns a channel that receives its single Reply (at once
// with an empty Reply for a NoReply request). Read the channel, and the reply's body, or the
// reply's remaining frames pile up until flow control stalls that message.
func (c *Conn) SendAsync(req *Message) (<-chan Reply, error) {
	_, ch, err := c.sendRequest(req)
	return ch, err
}

func (c *Conn) sendRequest(req *Message) (uint64, chan Reply, error) {
	if req == nil || req.Type != TypeRequest {
		return 0, nil, fmt.Errorf("send: %w: not a request", ErrInvalidMessage)
	}
	head, err := appendProperties(nil, req.Properties)
	if err != nil {
		return 0, nil, fmt.Errorf("send %q: %w", req.Profile(), err)
	}
	m := &outMsg{typ: TypeRequest, flags: c.outFlags(req.Urgent, req.Compressed), head: head}
	if err := m.setBody(req); err != nil {
		return 0, nil, fmt.Errorf("send %q: %w", req.Profile(), err)
	}
	if req.NoReply {
		m.flags |= flagNoReply
	}
	ch := make(chan Reply, 1)
	c.mu.Lock()
	if c.closing || c.term != nil {
		err := c.closedErrLocked()
		c.mu.Unlock()
		m.closeSource()
		return 0, nil, fmt.Errorf("send %q: %w", req.Profile(), err)
	}
	c.lastReq++
	num := c.lastReq
	req.Number = num
	m.key = outKey{num, false}
	if req.NoReply {
		ch <- Reply{}
	} else {
		c.pending[num] = &pendingReply{ch: ch, maxSize: req.MaxReplySize}
	}
	c.live[m.key] = m
	c.insertLocked(m)
	c.wakeWriter()
	c.mu.Unlock()
	return num, ch, nil
}

func (c *Conn) outFlags(urgent, compressed bool) byte {
	var f byte
	if urgent {
		f |= flagUrgent
	}
	if compressed && c.cfg.CompressionLevel > 0 {
		f |= flagCompressed
	}
	return f
}

func (c *Conn) closedErrLocked() error {
	if c.term != nil {
		return fmt.Errorf("%w: %w", ErrClosed, c.term)
	}
	return ErrClosed
}

// abandon stops waiting for the reply to request num; a reply that arrives is discarded.
func (c *Conn) abandon(num uint64, ch chan Reply) {
	c.mu.Lock()
	if p := c.pending[num]; p != nil {
		p.abandoned = true
	}
	c.mu.Unlock()
	select {
	case r := <-ch:
		if r.Msg != nil && r.Msg.in != nil {
			r.Msg.in.discard()
		}
	default:
	}
}
