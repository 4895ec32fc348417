package blip

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"strconv"
	"sync/atomic"
	"time"
)

// Dispatch: the receiver (on the reader goroutine) calls openReply, begin and finish
// here as messages arrive; a request gets a handler goroutine of its own (serve, counted
// in hwg), a reply goes to the pendingReply its sender waits on (claimReply, under mu).
// Handler goroutines queue their replies under mu (queueReply). The handler tables are
// written by Handle/HandleDefault/OnArrival on any goroutine, under hmu.

// Handle registers h for requests whose Profile is profile (replacing any previous one).
// Register before Start so that no request finds the handler missing; later is safe too.
func (c *Conn) Handle(profile string, h Handler) {
	c.hmu.Lock()
	defer c.hmu.Unlock()
	if h == nil {
		delete(c.handlers, profile)
		return
	}
	c.handlers[profile] = h
}

// HandleDefault registers h for requests with no registered profile. Without one they are
// answered BLIP/404 "no handler for message" (LiteCore's text, which CBL peers look for).
func (c *Conn) HandleDefault(h Handler) {
	c.hmu.Lock()
	defer c.hmu.Unlock()
	c.fallback = h
}

// OnArrival registers fn to run for each request of profile as soon as its properties
// are complete, before its handler starts (replacing any previous one; nil removes it).
// Handlers run concurrently and may start in any order; fn runs on the connection's
// reading goroutine, in the order the requests began to arrive, which is their number
// order (first frames are sent in request-number order). A request whose fn ran gets
// its handler. fn must return quickly, must not block and must not read the body.
func (c *Conn) OnArrival(profile string, fn func(req *Message)) {
	c.hmu.Lock()
	defer c.hmu.Unlock()
	if fn == nil {
		delete(c.arrivals, profile)
		return
	}
	if c.arrivals == nil {
		c.arrivals = make(map[string]func(*Message))
	}
	c.arrivals[profile] = fn
}

func (c *Conn) arrivalFor(profile string) func(*Message) {
	c.hmu.RLock()
	defer c.hmu.RUnlock()
	return c.arrivals[profile]
}

func (c *Conn) handlerFor(profile string) Handler {
	c.hmu.RLock()
	defer c.hmu.RUnlock()
	if h := c.handlers[profile]; h != nil {
		return h
	}
	if c.fallback != nil {
		return c.fallback
	}
	return notFound
}

func notFound(context.Context, *Message) (*Message, error) {
	return nil, &Error{Domain: "BLIP", Code: 404, Message: "no handler for message"}
}

// openReply implements receiverHost.
func (c *Conn) openReply(num uint64) (bool, int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.pending[num]
	if p == nil || p.opened {
		return false, 0
	}
	p.opened = true
	return true, p.maxSize
}

// begin implements receiverHost: a message's properties are complete.
func (c *Conn) begin(in *inbound) {
	if in.typ == TypeRequest {
		c.mu.Lock()
		closing := c.closing
		if !closing {
			c.hwg.Add(1)
		}
		c.mu.Unlock()
		if closing {
			in.discard()
			return
		}
		if fn := c.arrivalFor(in.msg.Profile()); fn != nil {
			fn(in.msg)
		}
		// Charged before counted, and uncounted before released (serve), so that the
		// stuck-reader check never takes a charge for message bytes.
		c.inflight(handlerCharge)
		c.handlersLive.Add(1)
		startServe(c, in.msg)
		return
	}
	if in.typ == TypeError {
		return // delivered by finish, with its body
	}
	if p := c.claimReply(in.num); p != nil {
		p.ch <- Reply{Msg: in.msg}
	} else {
		in.discard()
	}
}

// finish implements receiverHost: a message's last frame has arrived.
func (c *Conn) finish(in *inbound) {
	c.msgsRecv.Add(1)
	if in.typ == TypeRequest {
		if in.rejected && !in.began && !in.msg.NoReply {
			// Refused before its properties were complete: no handler ran.
			c.queueReply(c.buildReply(in.msg, nil, in.refusal))
		}
		return
	}
	var p *pendingReply
	if in.typ == TypeError {
		p = c.claimReply(in.num) // an RPY was delivered by begin
	}
	c.mu.Lock()
	delete(c.pending, in.num)
	c.mu.Unlock()
	if p != nil {
		body, _ := in.readAll()
		p.ch <- Reply{Msg: in.msg, Err: errorFromMessage(in.msg, body)}
	}
}

// claimReply returns the request waiting for reply num if its reply is still to be
// delivered (not abandoned, not delivered yet), marking it delivered; nil otherwise.
func (c *Conn) claimReply(num uint64) *pendingReply {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.pending[num]
	if p == nil || p.abandoned || p.delivered {
		return nil
	}
	p.delivered = true
	return p
}

// Handler goroutines are reused. A request handler that reads and saves a revision runs
// deep (inflating, parsing, SQLite), so a new goroutine's small stack was grown by copying
// several times for each request: 6-8% of a receiving peer's CPU in W2. A goroutine
// that has run a handler waits up to workerIdle for the next request (of any
// connection) before it exits, and at most maxIdleWorkers wait at once, so an idle
// process keeps no more than that many (whose stacks the garbage collector shrinks).
const (
	workerIdle     = 250 * time.Millisecond
	maxIdleWorkers = 512
)

// serveJob is one request for a handler goroutine.
type serveJob struct {
	c   *Conn
	req *Message
}

var (
	idleJobs    = make(chan serveJob) // unbuffered: a job goes only to a waiting worker
	idleWorkers atomic.Int32
)

// startServe runs c.serve(req) on a waiting handler goroutine, or on a new one.
func startServe(c *Conn, req *Message) {
	select {
	case idleJobs <- serveJob{c, req}:
	default:
		go serveWorker(serveJob{c, req})
	}
}

// serveWorker serves job, then the jobs handed to it while it waits (see workerIdle).
func serveWorker(job serveJob) {
	var timer *time.Timer
	for {
		job.c.serve(job.req)
		job = serveJob{}
		if idleWorkers.Add(1) > maxIdleWorkers {
			idleWorkers.Add(-1)
			return
		}
		if timer == nil {
			timer = time.NewTimer(workerIdle)
		} else {
			timer.Reset(workerIdle)
		}
		select {
		case job = <-idleJobs:
			idleWorkers.Add(-1)
		case <-timer.C:
			idleWorkers.Add(-1)
			return
		}
	}
}

// serve runs the handler for one request and queues the reply.
// handlerCharge is what a running request handler counts toward Config.MaxBufferedBytes,
// besides the bytes of its message: its goroutine, and what it holds while it waits. A
// peer sending tiny requests whose handlers wait (for the store, for the peer's own
// replies) would otherwise start a goroutine per request without limit; this way the
// reader pauses after MaxBufferedBytes/handlerCharge of them (2048 at 8 MiB) until some
// return.
const handlerCharge = 4 << 10

func (c *Conn) serve(req *Message) {
	defer c.hwg.Done()
	defer func() {
		c.handlersLive.Add(-1)
		c.inflight(-handlerCharge)
	}()
	h := c.handlerFor(req.Profile())
	resp, err := c.callHandler(h, req)
	if be := req.in.refusalWhenDone(); be != nil {
		resp, err = nil, be // whatever the handler made of the refused body
	}
	req.in.discard()
	if req.NoReply {
		return
	}
	c.queueReply(c.buildReply(req, resp, err))
}

// queueReply queues a reply unless the connection is closing.
func (c *Conn) queueReply(m *outMsg) {
	c.mu.Lock()
	if !c.closing && c.term == nil {
		c.live[m.key] = m
		c.insertLocked(m)
		c.wakeWriter()
	} else {
		m.closeSource()
	}
	c.mu.Unlock()
}

func (c *Conn) callHandler(h Handler, req *Message) (resp *Message, err error) {
	defer func() {
		if p := recover(); p != nil {
			c.log.Error("blip: handler panicked", "profile", req.Profile(), "panic", p, "stack", string(debug.Stack()))
			resp, err = nil, &Error{Domain: "BLIP", Code: 501, Message: fmt.Sprintf("handler panicked: %v", p)}
		}
	}()
	return h(c.ctx, req)
}

// buildReply encodes a handler's result as an RPY or ERR for req.
func (c *Conn) buildReply(req *Message, resp *Message, herr error) *outMsg {
	typ := TypeResponse
	var props Properties
	var body []byte
	urgent, compressed := req.Urgent, false
	if herr != nil {
		typ = TypeError
		var be *Error
		if !errors.As(herr, &be) {
			be = &Error{Domain: "BLIP", Code: 501, Message: herr.Error()}
		}
		domain := be.Domain
		if domain == "" {
			domain = "BLIP"
		}
		props = Properties{{"Error-Domain", domain}, {"Error-Code", strconv.Itoa(be.Code)}}
		body = []byte(be.Message)
	} else if resp != nil {
		if resp.Type == TypeError {
			typ = TypeError
		}
		props, body = resp.Properties, resp.Body
		urgent = urgent || resp.Urgent
		compressed = resp.Compressed
		if resp.BodyStream != nil {
			head, err := appendProperties(nil, props)
			m := &outMsg{key: outKey{req.Number, true}, typ: typ, flags: c.outFlags(urgent, compressed), head: head}
			if err == nil {
				err = m.setBody(resp)
			}
			if err == nil {
				return m
			}
			if cl, ok := resp.BodyStream.(io.Closer); ok {
				_ = cl.Close()
			}
			c.log.Error("blip: handler returned an invalid reply", "profile", req.Profile(), "err", err)
			typ, body = TypeError, []byte("invalid reply: "+err.Error())
			props = Properties{{"Error-Domain", "BLIP"}, {"Error-Code", "501"}}
		}
	}
	head, err := appendProperties(nil, props)
	if err != nil {
		c.log.Error("blip: handler returned an invalid reply", "profile", req.Profile(), "err", err)
		typ, body = TypeError, []byte("invalid reply: "+err.Error())
		head, _ = appendProperties(nil, Properties{{"Error-Domain", "BLIP"}, {"Error-Code", "501"}})
	}
	return &outMsg{key: outKey{req.Number, true}, typ: typ, flags: c.outFlags(urgent, compressed), head: head, body: body}
}
