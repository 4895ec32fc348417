package blip

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"

	"github.com/p2psync/libp2psync/engine/logging"
)

// Config tunes a connection. The zero value means defaults.
type Config struct {
	// CompressionLevel for messages sent with Compressed set: 0 => 6; 1..9; -1 => never compress.
	CompressionLevel int
	// HeartbeatInterval: a WebSocket ping is sent after this much silence from the peer.
	// 0 => 300 s; negative disables heartbeats.
	HeartbeatInterval time.Duration
	// PongTimeout: how long to wait for the peer to show life after a ping before the
	// connection is declared dead. 0 => min(20 s, HeartbeatInterval - 1 s).
	PongTimeout time.Duration
	// MaxFrameSize: largest frame sent, header and checksum included. 0 => 16 KiB.
	MaxFrameSize int
	// MaxBodySize caps Message.ReadBody. 0 => 256 MiB. BodyReader streams without it.
	MaxBodySize int64
	// MaxMessageSize caps the decoded (inflated) size, properties + body, of any incoming
	// message, read or streamed. A message passing it is refused: the rest of it is dropped
	// as it arrives (never inflated into memory), a request is answered HTTP/413, and the
	// reader of a reply gets an error wrapping ErrTooLarge. 0 => 1 GiB; negative => no cap.
	MaxMessageSize int64
	// MaxBufferedBytes caps the incoming bytes one connection holds: unread data of incoming
	// messages, properties being collected, and the bodies ReadBody handed to request
	// handlers that have not returned yet. Past it the connection stops reading the socket
	// until bytes are released; if only incomplete messages whose readers wait for more hold
	// them, one of them may go on alone (up to MaxMessageSize) and the newer ones are refused
	// with HTTP/503. 0 => 16 MiB.
	MaxBufferedBytes int64
	// Logger receives diagnostics, in domain Network when it is the library log's; nil =
	// the library log (engine/logging).
	Logger *slog.Logger
}

const (
	defaultCompressionLevel = 6
	defaultHeartbeat        = 300 * time.Second
	defaultFrameSize        = 16 << 10
	smallFrameSize          = 4096 // frame size while an urgent message waits behind this one
	minFrameSize            = 256
	defaultMaxBody          = 256 << 20
	defaultMaxMessage       = 1 << 30
	closeTimeout            = 5 * time.Second // close handshake cap (as CBL)
	controlWriteTimeout     = time.Second
	// defaultMaxBuffered (Config.MaxBufferedBytes): when a connection holds more incoming
	// bytes than this, the reader stops reading the socket until consumers catch up.
	// Compliant senders (which stop at 128,000 unacknowledged bytes per message) rarely get
	// near it; it bounds memory against peers that ignore flow control or send extremely
	// compressible data.
	defaultMaxBuffered = 16 << 20
	// stuckCheck: how often a paused reader looks again at what holds the buffered bytes.
	stuckCheck = 100 * time.Millisecond
	// deflateSlack: room kept in a compressed frame for deflate's overhead on incompressible data.
	deflateSlack = 64
)

func (cfg Config) withDefaults() Config {
	switch {
	case cfg.CompressionLevel == 0:
		cfg.CompressionLevel = defaultCompressionLevel
	case cfg.CompressionLevel < 0:
		cfg.CompressionLevel = -1
	case cfg.CompressionLevel > 9:
		cfg.CompressionLevel = 9
	}
	if cfg.HeartbeatInterval == 0 {
		cfg.HeartbeatInterval = defaultHeartbeat
	}
	if cfg.PongTimeout <= 0 && cfg.HeartbeatInterval > 0 {
		cfg.PongTimeout = min(20*time.Second, cfg.HeartbeatInterval-time.Second)
		if cfg.PongTimeout <= 0 {
			cfg.PongTimeout = cfg.HeartbeatInterval
		}
	}
	switch {
	case cfg.MaxFrameSize == 0:
		cfg.MaxFrameSize = defaultFrameSize
	case cfg.MaxFrameSize < minFrameSize:
		cfg.MaxFrameSize = minFrameSize
	case cfg.MaxFrameSize > maxIncomingFrame:
		cfg.MaxFrameSize = maxIncomingFrame
	}
	if cfg.MaxBodySize <= 0 {
		cfg.MaxBodySize = defaultMaxBody
	}
	switch {
	case cfg.MaxMessageSize == 0:
		cfg.MaxMessageSize = defaultMaxMessage
	case cfg.MaxMessageSize < 0:
		cfg.MaxMessageSize = -1
	}
	if cfg.MaxBufferedBytes <= 0 {
		cfg.MaxBufferedBytes = defaultMaxBuffered
	}
	if cfg.Logger == nil {
		cfg.Logger = logging.Logger(logging.Network)
	}
	return cfg
}

// Handler handles one incoming request on its own goroutine. Return (response, nil) to reply
// RPY (a nil response is an empty RPY), or (nil, err) to reply ERR: a *Error (also wrapped)
// is sent with its domain, code and message, any other error as BLIP/501 with its text. For
// NoReply requests the result is discarded and nothing is sent. A panic is recovered and
// answered BLIP/501. ctx is canceled when the connection ends. The request body can be read
// until the handler returns.
type Handler func(ctx context.Context, req *Message) (*Message, error)

// Reply is the outcome of SendAsync: the reply message, or an error (*Error for an ERR
// reply, in which case Msg holds the ERR message too; ErrClosed if the connection ended).
type Reply struct {
	Msg *Message
	Err error
}

// Stats are counters of a connection. Bytes are BLIP frame bytes (headers included, the
// WebSocket framing excluded); frames include ACKs; messages exclude them.
type Stats struct {
	BytesSent, BytesReceived       uint64
	FramesSent, FramesReceived     uint64
	MessagesSent, MessagesReceived uint64
	// PeakBufferedBytes is the most incoming bytes the connection held at once (what
	// Config.MaxBufferedBytes caps); MessagesRefused counts incoming messages refused for
	// passing MaxMessageSize or MaxBufferedBytes.
	PeakBufferedBytes int64
	MessagesRefused   uint64
}

type pendingReply struct {
	ch        chan Reply
	opened    bool  // the first frame of the reply arrived
	delivered bool  // something was put in ch
	abandoned bool  // the sender stopped waiting
	maxSize   int64 // > 0: the reply's size cap (Message.MaxReplySize)
}

// Conn is a BLIP connection over a WebSocket. It is safe for concurrent use.
type Conn struct {
	ws       *websocket.Conn
	batch    *batchConn // under ws; nil when not available
	cfg      Config
	log      *slog.Logger
	proto    string
	tlsState *tls.ConnectionState

	ctx    context.Context
	cancel context.CancelFunc

	hmu      sync.RWMutex
	handlers map[string]Handler
	fallback Handler
	arrivals map[string]func(*Message) // OnArrival hooks

	mu          sync.Mutex // guards everything below up to the next blank line
	outbox      []*outMsg
	live        map[outKey]*outMsg
	acks        []ackReq
	lastReq     uint64
	pending     map[uint64]*pendingReply
	started     bool
	closeCalled bool
	closing     bool        // no new outgoing messages, no new requests dispatched
	term        *CloseError // why the connection ends (first cause wins)
	flushedSent bool

	wake      chan struct{}
	flushed   chan struct{} // closed by the writer once closing and everything is sent
	closingCh chan struct{} // closed when closing starts
	closingMu sync.Once
	abortCh   chan struct{} // closed when the socket is being torn down
	abortOnce sync.Once

	enc  encoder   // writer goroutine only
	recv *receiver // reader goroutine only

	inflightBytes atomic.Int64
	flowSignal    chan struct{}
	readerPaused  atomic.Bool
	lastRecv      atomic.Int64 // unix nanoseconds of the last sign of life from the peer

	ioWG  sync.WaitGroup // writer and heartbeat goroutines
	hwg   sync.WaitGroup // handler goroutines
	ended chan struct{}  // closed when the socket is closed and I/O goroutines are gone
	done  chan struct{}  // closed after ended, once handlers have returned too
	err   *CloseError

	bytesSent, bytesRecv, framesSent, framesRecv, msgsSent, msgsRecv atomic.Uint64
	// Flow-control observations (for tests and diagnostics).
	peakUnacked  atomic.Uint64 // most unacknowledged bytes of one outgoing message
	freezes      atomic.Uint64 // times an outgoing message paused for an ACK
	peakInflight atomic.Int64  // most incoming bytes held at once (see inbound.held)
	pauses       atomic.Uint64 // times the reader paused because of MaxBufferedBytes
	refusals     atomic.Uint64 // incoming messages refused
}

// newConn wraps an upgraded WebSocket. bc is the batching layer under it (nil if absent).
func newConn(ws *websocket.Conn, bc *batchConn, proto string, cfg Config, tlsState *tls.ConnectionState) *Conn {
	cfg = cfg.withDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	c := &Conn{
		ws:         ws,
		batch:      bc,
		cfg:        cfg,
		log:        cfg.Logger.With(logging.DomainAttr(logging.Network), "blip", ws.RemoteAddr().String()),
		proto:      proto,
		tlsState:   tlsState,
		ctx:        ctx,
		cancel:     cancel,
		handlers:   make(map[string]Handler),
		live:       make(map[outKey]*outMsg),
		pending:    make(map[uint64]*pendingReply),
		wake:       make(chan struct{}, 1),
		flushed:    make(chan struct{}),
		closingCh:  make(chan struct{}),
		abortCh:    make(chan struct{}),
		flowSignal: make(chan struct{}, 1),
		ended:      make(chan struct{}),
		done:       make(chan struct{}),
	}
	c.enc.level = max(cfg.CompressionLevel, 1)
	c.recv = newReceiver(c, cfg.MaxMessageSize, cfg.MaxBodySize, c.log)
	c.lastRecv.Store(time.Now().UnixNano())
	ws.SetPingHandler(func(data string) error {
		c.lastRecv.Store(time.Now().UnixNano())
		err := ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(controlWriteTimeout))
		if err != nil && !errors.Is(err, websocket.ErrCloseSent) {
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				return err
			}
		}
		return nil
	})
	ws.SetPongHandler(func(string) error {
		c.lastRecv.Store(time.Now().UnixNano())
		return nil
	})
	return c
}

// Subprotocol returns the negotiated subprotocol, e.g. SubprotocolCBMobile3.
func (c *Conn) Subprotocol() string { return c.proto }

// RemoteAddr returns the peer's network address.
func (c *Conn) RemoteAddr() net.Addr { return c.ws.RemoteAddr() }

// TLSState returns the TLS connection state, or nil for ws://.
func (c *Conn) TLSState() *tls.ConnectionState { return c.tlsState }

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

// Start begins reading and writing. Call it once, after registering handlers.
func (c *Conn) Start() {
	c.mu.Lock()
	if c.started || c.closeCalled {
		c.mu.Unlock()
		return
	}
	c.started = true
	c.mu.Unlock()
	c.ioWG.Add(1)
	go c.writeLoop()
	if c.cfg.HeartbeatInterval > 0 {
		c.ioWG.Add(1)
		go c.heartbeatLoop()
	}
	go c.readLoop()
}

// Done is closed when the connection has fully ended: socket closed, internal goroutines
// stopped and every handler returned.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err returns why the connection ended (a *CloseError; Code 1000 for a clean close), or nil
// while it is still open.
func (c *Conn) Err() error {
	select {
	case <-c.ended:
		return c.err
	default:
		return nil
	}
}

// Stats returns the connection's counters.
func (c *Conn) Stats() Stats {
	return Stats{
		BytesSent: c.bytesSent.Load(), BytesReceived: c.bytesRecv.Load(),
		FramesSent: c.framesSent.Load(), FramesReceived: c.framesRecv.Load(),
		MessagesSent: c.msgsSent.Load(), MessagesReceived: c.msgsRecv.Load(),
		PeakBufferedBytes: c.peakInflight.Load(), MessagesRefused: c.refusals.Load(),
	}
}

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

// Close closes the connection: messages already queued are sent (within the 5 s budget),
// then the WebSocket close handshake runs with code and reason, then the TCP connection is
// closed. It returns once the socket is closed; handlers may still be returning (see Done).
// Calling it again, or after the connection ended, does nothing. Valid codes are 1000–1003,
// 1007–1011 and 3000–4999.
func (c *Conn) Close(code int, reason string) error {
	if !validCloseCode(code) {
		return fmt.Errorf("close: %w: invalid close code %d", ErrInvalidMessage, code)
	}
	reason = truncateReason(reason)
	c.mu.Lock()
	if c.closeCalled {
		c.mu.Unlock()
		<-c.ended
		return nil
	}
	c.closeCalled = true
	started := c.started
	c.closing = true
	c.mu.Unlock()
	c.markClosing()
	if !started {
		ce := &CloseError{Code: code, Reason: reason}
		c.setTerm(ce)
		_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(controlWriteTimeout))
		c.shutdown(nil)
		return nil
	}
	c.wakeWriter()
	deadline := time.Now().Add(closeTimeout)
	timer := time.NewTimer(closeTimeout)
	defer timer.Stop()
	select {
	case <-c.flushed:
	case <-c.ended:
		return nil
	case <-timer.C:
	}
	if c.setTerm(&CloseError{Code: code, Reason: reason}) {
		err := c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), deadline)
		if err != nil {
			c.abort(nil)
		} else {
			_ = c.ws.SetReadDeadline(deadline)
		}
	}
	// The read deadline ends the wait for the peer's close frame; this is a backstop.
	backstop := time.NewTimer(max(time.Until(deadline), 0) + controlWriteTimeout)
	defer backstop.Stop()
	select {
	case <-c.ended:
	case <-backstop.C:
		c.abort(nil)
		<-c.ended
	}
	return nil
}

func validCloseCode(code int) bool {
	return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1011) || (code >= 3000 && code <= 4999)
}

// truncateReason keeps a close reason within the 123 bytes a close frame allows.
func truncateReason(s string) string {
	const max = 123
	s = strings.ToValidUTF8(s, "?")
	if len(s) <= max {
		return s
	}
	s = s[:max]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

func (c *Conn) markClosing() {
	c.closingMu.Do(func() { close(c.closingCh) })
}

// setTerm records why the connection ends, if nothing did before. It reports whether ce won.
func (c *Conn) setTerm(ce *CloseError) bool {
	c.mu.Lock()
	won := c.term == nil
	if won {
		c.term = ce
		c.closing = true
	}
	c.mu.Unlock()
	c.markClosing()
	c.wakeWriter()
	return won
}

// abort tears the socket down at once (no close handshake). ce, if not nil, is the cause.
func (c *Conn) abort(ce *CloseError) {
	if ce != nil {
		c.setTerm(ce)
	}
	c.abortOnce.Do(func() {
		close(c.abortCh)
		_ = c.ws.Close()
	})
}

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
		if total <= limit || c.recv.unblock(total, limit) {
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

// finalError decides the CloseError reported by Err.
func (c *Conn) finalError(readErr error) *CloseError {
	c.mu.Lock()
	term := c.term
	c.mu.Unlock()
	if term != nil {
		return term
	}
	var wce *websocket.CloseError
	if errors.As(readErr, &wce) && wce.Code != websocket.CloseAbnormalClosure {
		return &CloseError{Code: wce.Code, Reason: wce.Text, Remote: true}
	}
	if readErr == nil {
		readErr = io.ErrUnexpectedEOF
	}
	return &CloseError{Code: CloseAbnormal, Remote: true, Err: readErr}
}

// shutdown ends the connection: records the outcome, fails whatever waits, stops the
// goroutines, closes the socket, then waits for handlers.
func (c *Conn) shutdown(readErr error) {
	ce := c.finalError(readErr)
	c.setTerm(ce)
	c.cancel()
	c.abort(nil)
	closed := fmt.Errorf("%w: %w", ErrClosed, ce)
	c.mu.Lock()
	pending := c.pending
	c.pending = map[uint64]*pendingReply{}
	c.outbox, c.acks = nil, nil
	live := make([]*outMsg, 0, len(c.live))
	for _, m := range c.live {
		live = append(live, m)
	}
	clear(c.live)
	c.mu.Unlock()

	for _, p := range pending {
		if !p.delivered {
			p.ch <- Reply{Err: closed}
		}
	}
	c.recv.abandon(closed)
	c.ioWG.Wait()
	for _, m := range live {
		m.closeSource() // streamed bodies not sent whole (the writer has stopped)
	}
	c.log.Debug("blip: connection ended", "err", ce)
	c.err = ce
	close(c.ended)
	c.hwg.Wait()
	close(c.done)
}

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

// heartbeatLoop pings after HeartbeatInterval of silence and declares the peer dead if it
// stays silent PongTimeout after the ping.
func (c *Conn) heartbeatLoop() {
	defer c.ioWG.Done()
	interval, wait := c.cfg.HeartbeatInterval, c.cfg.PongTimeout
	timer := time.NewTimer(interval)
	defer timer.Stop()
	var pingAt int64
	waiting := false
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-timer.C:
		}
		now := time.Now()
		last := c.lastRecv.Load()
		if c.readerPaused.Load() {
			// Not reading on purpose (back-pressure): pongs cannot be seen, and that is fine.
			waiting = false
			timer.Reset(interval)
			continue
		}
		if waiting {
			if last > pingAt {
				waiting = false
			} else if elapsed := now.Sub(time.Unix(0, pingAt)); elapsed >= wait {
				c.abort(&CloseError{Code: CloseAbnormal, Reason: "peer stopped responding",
					Err: fmt.Errorf("%w: no answer to ping within %v", ErrTimeout, wait)})
				return
			} else {
				timer.Reset(wait - elapsed)
				continue
			}
		}
		idle := now.Sub(time.Unix(0, last))
		if idle < interval {
			timer.Reset(interval - idle)
			continue
		}
		pingAt = now.UnixNano()
		waiting = true
		if err := c.ws.WriteControl(websocket.PingMessage, nil, now.Add(wait)); err != nil {
			c.log.Debug("blip: ping failed", "err", err)
		}
		timer.Reset(wait)
	}
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
		go c.serve(in.msg)
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

// serve runs the handler for one request and queues the reply.
func (c *Conn) serve(req *Message) {
	defer c.hwg.Done()
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

func storeMax(v *atomic.Int64, n int64) {
	for {
		old := v.Load()
		if n <= old || v.CompareAndSwap(old, n) {
			return
		}
	}
}

func storeMaxU(v *atomic.Uint64, n uint64) {
	for {
		old := v.Load()
		if n <= old || v.CompareAndSwap(old, n) {
			return
		}
	}
}
