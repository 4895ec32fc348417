package blip

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

const (
	defaultHandshakeTimeout = 15 * time.Second
	wsBufferSize            = 32 << 10 // holds a whole 16 KiB frame plus WebSocket framing
)

// wsWriteBuffers lends WebSocket write buffers to connections for the time of one frame
// (gorilla/websocket's WriteBufferPool), instead of one buffer held per connection.
var wsWriteBuffers = &sync.Pool{}

// defaultSubprotocols are offered by Dial and accepted by Upgrade when none are given:
// rev-tree replication, newest first (PROTOCOL.md §1.2). Read-only.
var defaultSubprotocols = []string{SubprotocolCBMobile3, SubprotocolCBMobile2}

// DialOptions configure Dial.
type DialOptions struct {
	Config
	// Subprotocols offered, most preferred first; nil => [CBMobile_3, CBMobile_2].
	Subprotocols []string
	// Header holds extra request headers (Authorization, Cookie, User-Agent, ...).
	Header http.Header
	// TLSConfig is used for wss:// URLs.
	TLSConfig *tls.Config
	// HandshakeTimeout bounds TCP connect + TLS + HTTP upgrade. 0 => 15 s.
	HandshakeTimeout time.Duration
	// NetDial, if set, opens the TCP connection.
	NetDial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Dial opens a BLIP connection to a ws:// or wss:// URL (e.g. ws://host:4984/db/_blipsync).
// The returned Conn is not reading yet: register handlers, then call Start. The HTTP
// response of the upgrade is returned when there was one (for Set-Cookie and the like).
//
// Errors: a non-101 answer is an *HTTPError with its status; a 101 whose
// Sec-WebSocket-Protocol is missing or was not offered wraps ErrNoSubprotocol; running out of
// time (HandshakeTimeout or ctx's deadline) wraps ErrTimeout.
func Dial(ctx context.Context, url string, opts DialOptions) (*Conn, *http.Response, error) {
	offered := opts.Subprotocols
	if offered == nil {
		offered = defaultSubprotocols
	}
	timeout := opts.HandshakeTimeout
	if timeout <= 0 {
		timeout = defaultHandshakeTimeout
	}
	var bc *batchConn
	netDial := opts.NetDial
	if netDial == nil {
		var nd net.Dialer
		netDial = nd.DialContext
	}
	d := websocket.Dialer{
		NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := netDial(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			bc = &batchConn{Conn: c}
			return bc, nil
		},
		TLSClientConfig:  opts.TLSConfig,
		HandshakeTimeout: timeout,
		Subprotocols:     offered,
		ReadBufferSize:   wsBufferSize,
		WriteBufferSize:  wsBufferSize,
		WriteBufferPool:  wsWriteBuffers,
	}
	ws, resp, err := d.DialContext(ctx, url, opts.Header)
	if err != nil {
		if errors.Is(err, websocket.ErrBadHandshake) && resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
			resp.Body = io.NopCloser(bytes.NewReader(body))
			return nil, resp, &HTTPError{Status: resp.StatusCode, Body: string(body), Header: resp.Header}
		}
		if isTimeout(err) {
			return nil, resp, fmt.Errorf("dial %s: %w: %w", url, ErrTimeout, err)
		}
		if bc != nil && bc.readEnded.Load() {
			return nil, resp, fmt.Errorf("dial %s: %w: %w", url, ErrHandshakeCut, err)
		}
		return nil, resp, fmt.Errorf("dial %s: %w", url, err)
	}
	proto := ws.Subprotocol()
	if proto == "" || !slices.Contains(offered, proto) {
		reason := "missing Sec-WebSocket-Protocol"
		if proto != "" {
			reason = fmt.Sprintf("server chose %q, which was not offered", proto)
		}
		_ = ws.WriteControl(websocket.CloseMessage,
			websocket.FormatCloseMessage(CloseProtocolError, "bad subprotocol"), time.Now().Add(controlWriteTimeout))
		_ = ws.Close()
		return nil, resp, fmt.Errorf("dial %s: %w: %s", url, ErrNoSubprotocol, reason)
	}
	var state *tls.ConnectionState
	if tc, ok := ws.NetConn().(*tls.Conn); ok {
		s := tc.ConnectionState()
		state = &s
	}
	return newConn(ws, bc, proto, opts.Config, state), resp, nil
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

// UpgradeOptions configure Upgrade.
type UpgradeOptions struct {
	Config
	// Subprotocols accepted; nil => [CBMobile_3, CBMobile_2]. The first entry of the CLIENT's
	// list that appears here wins (the rule of Couchbase Lite's listener and Sync Gateway).
	Subprotocols []string
	// ResponseHeader holds extra headers for the 101 response (Set-Cookie, ...).
	ResponseHeader http.Header
	// CheckOrigin vets the Origin header of browser clients; nil => accept requests without
	// Origin or with an Origin matching Host (gorilla/websocket's default).
	CheckOrigin func(r *http.Request) bool
}

// Upgrade answers an HTTP request with a WebSocket upgrade and returns the connection, not
// reading yet: register handlers, then call Start. If the client offers no accepted
// subprotocol it answers HTTP 500 with a text body (as Sync Gateway does) and returns an
// error wrapping ErrNoSubprotocol. Other upgrade failures have already been answered with an
// HTTP error by the time the error is returned.
func Upgrade(w http.ResponseWriter, r *http.Request, opts UpgradeOptions) (*Conn, error) {
	accepted := opts.Subprotocols
	if accepted == nil {
		accepted = defaultSubprotocols
	}
	up := websocket.Upgrader{
		ReadBufferSize:  wsBufferSize,
		WriteBufferSize: wsBufferSize,
		// A connection holds a write buffer only while it writes a frame.
		WriteBufferPool: wsWriteBuffers,
		CheckOrigin:     opts.CheckOrigin,
	}
	proto := ""
	if websocket.IsWebSocketUpgrade(r) {
		offered := websocket.Subprotocols(r)
		for _, p := range offered {
			if slices.Contains(accepted, p) {
				proto = p
				break
			}
		}
		if proto == "" {
			http.Error(w, "I only speak "+strings.Join(accepted, ",")+" protocols", http.StatusInternalServerError)
			return nil, fmt.Errorf("upgrade: %w: client offered %q", ErrNoSubprotocol, offered)
		}
		up.Subprotocols = []string{proto}
	}
	hw := &hijackWrapper{ResponseWriter: w}
	ws, err := up.Upgrade(hw, r, opts.ResponseHeader)
	if err != nil {
		return nil, fmt.Errorf("upgrade: %w", err)
	}
	return newConn(ws, hw.conn, proto, opts.Config, r.TLS), nil
}
