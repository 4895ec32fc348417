package blip

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Sentinel errors. Test with errors.Is; the returned errors carry details.
var (
	// ErrProtocol: the peer sent something BLIP does not allow (malformed frame, bad varint,
	// bad properties, checksum mismatch, bad deflate data, text message, out-of-order request
	// number, reply to an unknown request). The connection is closed with code 1002.
	ErrProtocol = errors.New("blip: protocol error")
	// ErrClosed: the connection is closed or closing (Send after Close, or a request still
	// waiting for its reply when the connection ended).
	ErrClosed = errors.New("blip: connection closed")
	// ErrTimeout: dial/handshake timeout, or the peer did not answer a heartbeat ping in time.
	ErrTimeout = errors.New("blip: timeout")
	// ErrTooLarge: a size cap was exceeded (properties > 100 KiB, inflated frame or message
	// too large, ReadBody beyond Config.MaxBodySize).
	ErrTooLarge = errors.New("blip: too large")
	// ErrNoSubprotocol: client and server have no BLIP subprotocol in common, or the server
	// answered with one the client did not offer.
	ErrNoSubprotocol = errors.New("blip: no common subprotocol")
	// ErrInvalidMessage: an outgoing message cannot be encoded (NUL byte in a property,
	// duplicate property key, wrong message type for the call).
	ErrInvalidMessage = errors.New("blip: invalid message")
	// ErrHandshakeCut: the connection ended (EOF or a read error) before the server's
	// upgrade response was complete, so what was read of it is cut off (a malformed status
	// line or header is then the network's doing, not the server's).
	ErrHandshakeCut = errors.New("blip: connection ended during the WebSocket handshake")
)

// HTTPError reports that the server refused the WebSocket upgrade with a non-101 status.
type HTTPError struct {
	Status int         // HTTP status code, e.g. 401
	Body   string      // start of the response body (at most 1 KiB), for diagnostics
	Header http.Header // response headers (WWW-Authenticate, Set-Cookie, ...)
}

func (e *HTTPError) Error() string {
	msg := fmt.Sprintf("blip: websocket upgrade refused: HTTP %d %s", e.Status, http.StatusText(e.Status))
	// One line: the body's line breaks and runs of spaces become single spaces (Body
	// keeps it as sent).
	if body := strings.Join(strings.Fields(e.Body), " "); body != "" {
		if len(body) > 200 {
			body = body[:200] + "..."
		}
		msg += ": " + body
	}
	return msg
}

// CloseError describes how a connection ended; Conn.Err returns one after Done.
type CloseError struct {
	Code   int    // WebSocket close code; 1006 when the TCP connection dropped or the peer went silent
	Reason string // close reason sent or received
	Remote bool   // true when the peer (or the network) ended the connection
	Err    error  // underlying cause, if any (a protocol error, ErrTimeout, a socket error)
}

func (e *CloseError) Error() string {
	who := "local"
	if e.Remote {
		who = "remote"
	}
	msg := fmt.Sprintf("blip: connection closed (%s, code %d", who, e.Code)
	if e.Reason != "" {
		msg += ", " + e.Reason
	}
	msg += ")"
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *CloseError) Unwrap() error { return e.Err }

// Error is a BLIP error reply (an ERR message). A Handler returns one to answer with ERR;
// Send returns one when the peer answered ERR.
type Error struct {
	Domain  string // "BLIP", "HTTP", "LiteCore", ...; empty means "BLIP"
	Code    int
	Message string
}

func (e *Error) Error() string {
	domain := e.Domain
	if domain == "" {
		domain = "BLIP"
	}
	if e.Message == "" {
		return fmt.Sprintf("blip: error reply %s/%d", domain, e.Code)
	}
	return fmt.Sprintf("blip: error reply %s/%d: %s", domain, e.Code, e.Message)
}

// protoErrorf builds an ErrProtocol error.
func protoErrorf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrProtocol}, args...)...)
}

// tooLargeErrorf builds an error that is both ErrProtocol and ErrTooLarge (a peer exceeded a cap).
func tooLargeErrorf(format string, args ...any) error {
	return fmt.Errorf("%w: %w: "+format, append([]any{ErrProtocol, ErrTooLarge}, args...)...)
}
