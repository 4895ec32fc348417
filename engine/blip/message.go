package blip

import (
	"bytes"
	"io"
	"strconv"
)

// Subprotocols (PROTOCOL.md §1.2).
const (
	SubprotocolCBMobile2 = "BLIP_3+CBMobile_2"
	SubprotocolCBMobile3 = "BLIP_3+CBMobile_3"
	// SubprotocolCBMobile4 (version vectors) is recognised but not offered or accepted by default.
	SubprotocolCBMobile4 = "BLIP_3+CBMobile_4"
)

// WebSocket close codes (PROTOCOL.md §1.5).
const (
	CloseNormal        = 1000
	CloseGoingAway     = 1001
	CloseProtocolError = 1002
	CloseAbnormal      = 1006 // never sent: the TCP connection dropped or the peer went silent
	ClosePolicy        = 1008
	CloseInternal      = 1011
	CloseAppTransient  = 4001 // asks the peer to come back later
	CloseAppPermanent  = 4002 // asks the peer not to retry
)

// MessageType is the type field of a BLIP frame.
type MessageType uint8

const (
	TypeRequest     MessageType = 0 // MSG
	TypeResponse    MessageType = 1 // RPY
	TypeError       MessageType = 2 // ERR
	TypeAckRequest  MessageType = 4 // ACKMSG (flow control, internal)
	TypeAckResponse MessageType = 5 // ACKRPY (flow control, internal)
)

func (t MessageType) String() string {
	switch t {
	case TypeRequest:
		return "MSG"
	case TypeResponse:
		return "RPY"
	case TypeError:
		return "ERR"
	case TypeAckRequest:
		return "ACKMSG"
	case TypeAckResponse:
		return "ACKRPY"
	}
	return "type" + strconv.Itoa(int(t))
}

// Message is an incoming or outgoing BLIP request or response.
//
// Outgoing: fill Properties and Body (and the flags) and pass it to Send, or return it from a
// Handler. Do not modify it afterwards; Send sets Number.
//
// Incoming: Properties and flags are set; the body streams in separately — read it with
// ReadBody or BodyReader (Body stays nil).
type Message struct {
	Type       MessageType
	Number     uint64
	Properties Properties
	Urgent     bool // outgoing: sent ahead of normal traffic
	NoReply    bool // requests only: the peer must not answer
	Compressed bool // outgoing: deflate the frames (ignored when Config.CompressionLevel < 0)
	Body       []byte

	// BodyStream, on an outgoing message, supplies the body instead of Body: the writer
	// reads exactly BodyLength bytes from it, one frame at a time as the message's turn
	// comes (so a large body is never whole in memory), then checks that it is at its end
	// (io.EOF). If it fails or ends early or late, the message cannot be completed and
	// the connection is closed (code 1011), since BLIP cannot withdraw a message already
	// partly sent. It is closed (if an io.Closer) once the message is sent or dropped.
	BodyStream io.Reader
	BodyLength int64
	// MaxReplySize, on an outgoing request, replaces Config.MaxMessageSize as the cap on
	// the size of its reply (> 0), for a reply expected to be large and read as a stream
	// with BodyReader (a blob).
	MaxReplySize int64

	in *inbound // incoming messages only
}

// NewRequest returns an outgoing request with its Profile property set.
func NewRequest(profile string) *Message {
	return &Message{Type: TypeRequest, Properties: Properties{{"Profile", profile}}}
}

// Profile returns the Profile property (the request's kind).
func (m *Message) Profile() string { return m.Properties.Get("Profile") }

// IsError reports whether m is an ERR reply.
func (m *Message) IsError() bool { return m.Type == TypeError }

// ErrorDomain returns the Error-Domain of an ERR reply ("BLIP" when absent), or "" if m is
// not an error.
func (m *Message) ErrorDomain() string {
	if !m.IsError() {
		return ""
	}
	if d := m.Properties.Get("Error-Domain"); d != "" {
		return d
	}
	return "BLIP"
}

// ErrorCode returns the Error-Code of an ERR reply (0 if absent or not a number, or if m is
// not an error).
func (m *Message) ErrorCode() int {
	if !m.IsError() {
		return 0
	}
	code, err := strconv.ParseInt(m.Properties.Get("Error-Code"), 10, 32)
	if err != nil {
		return 0
	}
	return int(code)
}

// ReadBody returns the whole body. For an incoming message it blocks until the last frame
// has arrived; it fails with ErrTooLarge beyond Config.MaxBodySize (the rest is discarded),
// and with ErrClosed if the connection ends first. It is idempotent: later calls return the
// same result. If BodyReader was used before, ReadBody returns what the reader has not
// consumed.
func (m *Message) ReadBody() ([]byte, error) {
	if m.in == nil {
		return m.Body, nil
	}
	return m.in.readAll()
}

// BodyReader returns a reader that streams the body frame by frame as it arrives, so that
// a large body never sits whole in memory (no MaxBodySize cap applies). A slow reader slows
// the sender down through flow control. Read returns io.EOF at the end, or an error wrapping
// ErrClosed if the connection ends first. A request's body can only be read while its
// Handler runs; whatever is unread when the Handler returns is discarded.
func (m *Message) BodyReader() io.Reader {
	if m.in == nil {
		return bytes.NewReader(m.Body)
	}
	return m.in
}

// errorFromMessage converts an ERR reply into an *Error.
func errorFromMessage(m *Message, body []byte) *Error {
	return &Error{Domain: m.ErrorDomain(), Code: m.ErrorCode(), Message: string(body)}
}
