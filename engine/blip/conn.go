package blip

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"

	"github.com/p2psync/libp2psync/engine/logging"
)

// Lifecycle of a connection: newConn builds it (not reading), Start starts the reader,
// writer and heartbeat goroutines, Close runs the closing handshake from the caller's
// goroutine, and shutdown — on the reader goroutine once reading ends, or on Close's for
// a connection never started — fails what waits, stops the I/O goroutines, closes ended,
// waits for handlers and closes done. setTerm records the first cause of the end (under
// mu) and abort tears the socket down; both may be called from any goroutine.

// Config tunes a connection. The zero value means defaults.
type Config struct {
	// CompressionLevel for messages sent with Compressed set: 0 => 6; 1..9; -1 => never compress.
	// Compression adapts to what it gains (see doc.go, "Compression and checksums").
	CompressionLevel int
	// FixedCompression turns the adaptation off: every frame of a message sent with
	// Compressed set is deflated at CompressionLevel.
	FixedCompression bool
	// UncompressedOnLoopback sends every frame uncompressed when both ends of the
	// connection have loopback addresses (the peer runs on this host), unless
	// FixedCompression is set: bytes cost nothing there, and deflating them costs both
	// processes CPU (about 30 us per ~1 KB revision in W2, a quarter of the total).
	UncompressedOnLoopback bool
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
//
// Its code is split by goroutine, one file each (see doc.go, "Goroutines and ownership"):
// conn.go the lifecycle (newConn, Start, Close, shutdown), conn_read.go the reader,
// conn_write.go the writer, conn_heartbeat.go the heartbeat, conn_send.go the callers of
// Send, conn_dispatch.go the hand-over of incoming messages to handlers and waiting
// senders. Each field below names its owner: the goroutine that writes it, or the lock
// that guards it.
type Conn struct {
	// Set by newConn, read-only afterwards.
	ws       *websocket.Conn // reader: NextReader; writer: NextWriter; anyone: WriteControl, Close (gorilla allows these concurrently)
	batch    *batchConn      // under ws; nil when not available. Writer only.
	cfg      Config
	log      *slog.Logger
	proto    string
	tlsState *tls.ConnectionState

	ctx    context.Context    // handlers' context; the writer and heartbeat stop on it
	cancel context.CancelFunc // called by shutdown

	hmu      sync.RWMutex              // guards the handler tables: written by Handle*/OnArrival, read by dispatch
	handlers map[string]Handler        // guarded by hmu
	fallback Handler                   // guarded by hmu
	arrivals map[string]func(*Message) // OnArrival hooks; guarded by hmu

	mu          sync.Mutex // guards everything below up to the next blank line; shared by all goroutines
	outbox      []*outMsg  // messages with frames to send, in send order (outbox.go)
	live        map[outKey]*outMsg
	acks        []ackReq // ACK frames to send (queued by whoever consumes incoming bytes, sent by the writer)
	lastReq     uint64   // number of the last request sent (conn_send.go)
	pending     map[uint64]*pendingReply
	started     bool
	closeCalled bool
	closing     bool        // no new outgoing messages, no new requests dispatched
	term        *CloseError // why the connection ends (first cause wins, see setTerm)
	flushedSent bool

	// Channels, each with one closer or one receiver.
	wake      chan struct{} // buffered 1: anyone queueing work pokes it (wakeWriter); the writer receives
	flushed   chan struct{} // closed by the writer once closing and everything is sent; Close waits on it
	closingCh chan struct{} // closed (once, markClosing) when closing starts; the paused reader waits on it
	closingMu sync.Once
	abortCh   chan struct{} // closed (once, abort) when the socket is being torn down; the paused reader waits on it
	abortOnce sync.Once

	enc  encoder   // writer goroutine only
	recv *receiver // reader goroutine only (shutdown runs on it, or before it ever started)

	inflightBytes atomic.Int64  // incoming bytes held: added by the receiver, released by readers of bodies and handlers
	handlersLive  atomic.Int64  // request handlers running, each counted handlerCharge in inflightBytes
	flowSignal    chan struct{} // buffered 1: poked when held bytes are released; the paused reader receives
	readerPaused  atomic.Bool   // written by the reader, read by the heartbeat
	lastRecv      atomic.Int64  // unix nanoseconds of the last sign of life from the peer: reader (and ping/pong handlers, which run on it); read by the heartbeat

	ioWG  sync.WaitGroup // writer and heartbeat goroutines; waited by shutdown
	hwg   sync.WaitGroup // handler goroutines (added by begin under mu); waited by shutdown before done
	ended chan struct{}  // closed by shutdown when the socket is closed and I/O goroutines are gone
	done  chan struct{}  // closed by shutdown after ended, once handlers have returned too
	err   *CloseError    // written by shutdown before ended is closed; read after

	// Counters: bytes/frames sent, msgsSent, peakUnacked by the writer; bytes/frames
	// received, msgsRecv, pauses, refusals by the reader; freezes under mu (outbox.go);
	// peakInflight by whoever changes inflightBytes. Read by Stats at any time.
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
	if cfg.UncompressedOnLoopback && !cfg.FixedCompression && isLoopback(ws.LocalAddr()) && isLoopback(ws.RemoteAddr()) {
		cfg.CompressionLevel = -1
	}
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
	c.enc.adapt.off = cfg.FixedCompression
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

// WaitHandlers waits until no request handler of c is running (each running one has
// returned and queued its reply), for at most timeout, and reports whether none is. Call
// it before a normal Close so that the answers to requests already taken on go out
// before the close frame; requests arriving meanwhile start handlers of their own.
func (c *Conn) WaitHandlers(timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for c.handlersLive.Load() > 0 {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(time.Millisecond)
	}
	return true
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

// isLoopback reports whether a is a loopback IP address (127.0.0.0/8, ::1).
func isLoopback(a net.Addr) bool {
	switch a := a.(type) {
	case *net.TCPAddr:
		return a.IP.IsLoopback()
	case nil:
		return false
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
