package blip

import (
	"encoding/binary"
	"fmt"
	"log/slog"
)

// receiverHost is what the frame receiver needs from its connection.
type receiverHost interface {
	flowHost
	// gotAck handles an ACK of my outgoing message num (a request, or a response if response).
	gotAck(num uint64, response bool, n uint64)
	// openReply is called on the first frame of a reply to my request num; false means no
	// such request is waiting for a reply (a protocol error).
	openReply(num uint64) (ok bool, maxSize int64)
	// begin is called once a message's properties are complete.
	begin(in *inbound)
	// finish is called after a message's last frame.
	finish(in *inbound)
	// refused is called when a message is refused (too large, or the connection's buffer
	// is full); be is the error the refusal reports.
	refused(in *inbound, be *Error)
	// throttle is called after each piece of an inflated frame: it waits while the
	// connection holds too many incoming bytes.
	throttle()
}

// receiver turns the incoming frames of one connection into messages: it checks request
// numbering, matches replies, collects properties and hands body bytes to each message.
// It is used by one goroutine at a time.
type receiver struct {
	host       receiverHost
	dec        decoder
	lastReq    uint64
	reqs       map[uint64]*inbound // incomplete incoming requests
	replies    map[uint64]*inbound // incomplete incoming replies
	maxMessage int64               // cap on a message's decoded size; < 0 = none
	maxBody    int64               // ReadBody cap given to messages
	arrivals   uint64              // messages seen (inbound.seq)
	log        *slog.Logger
}

func newReceiver(host receiverHost, maxMessage, maxBody int64, log *slog.Logger) *receiver {
	return &receiver{
		host:       host,
		reqs:       make(map[uint64]*inbound),
		replies:    make(map[uint64]*inbound),
		maxMessage: maxMessage,
		maxBody:    maxBody,
		log:        log,
	}
}

// handle processes one incoming frame. An error (always wrapping ErrProtocol) is fatal for
// the connection. If buf is a framePool buffer holding b, a message may keep it instead of
// copying the data out; kept reports whether it did, in which case the caller must not
// reuse buf.
func (r *receiver) handle(b []byte, buf *[]byte) (kept bool, err error) {
	f, err := r.dec.decodeHeader(b)
	if err != nil {
		return false, err
	}
	switch t := f.typ(); t {
	case TypeAckRequest, TypeAckResponse:
		r.host.gotAck(f.num, t == TypeAckResponse, f.ack)
		return false, nil
	case TypeRequest:
		in := r.reqs[f.num]
		if in == nil {
			if f.num != r.lastReq+1 {
				return false, protoErrorf("request #%d out of sequence (previous new request was #%d)", f.num, r.lastReq)
			}
			r.lastReq = f.num
			in = r.newInbound(f)
			r.reqs[f.num] = in
		}
		return r.feed(in, f, r.reqs, buf)
	case TypeResponse, TypeError:
		in := r.replies[f.num]
		if in == nil {
			ok, maxSize := r.host.openReply(f.num)
			if !ok {
				return false, protoErrorf("%s #%d answers no pending request", t, f.num)
			}
			in = r.newInbound(f)
			if maxSize > 0 {
				in.maxMessage = maxSize
			}
			r.replies[f.num] = in
		}
		return r.feed(in, f, r.replies, buf)
	default:
		r.log.Warn("blip: ignoring frame of unknown type", "type", int(t), "number", f.num)
		return false, nil
	}
}

func (r *receiver) newInbound(f frame) *inbound {
	in := newInbound(r.host, f.num, f.flags, r.maxBody)
	in.maxMessage = r.maxMessage
	r.arrivals++
	in.seq = r.arrivals
	return in
}

// feed adds one frame to its message. A compressed frame is inflated piece by piece
// straight into the message, so that its inflated size never sits in one buffer; the
// message's last frame only counts as arrived once the checksum matched.
func (r *receiver) feed(in *inbound, f frame, m map[uint64]*inbound, buf *[]byte) (kept bool, err error) {
	if f.flags&flagCompressed != 0 {
		err = r.dec.inflateFrame(f, func(piece []byte) error {
			if _, err := r.feedData(in, piece, nil); err != nil {
				return err
			}
			r.host.throttle()
			return nil
		})
	} else {
		if !f.alias {
			buf = nil
		}
		kept, err = r.feedData(in, f.data, buf)
	}
	if err != nil {
		return false, err
	}
	last := !f.more()
	if last && !in.began && !in.rejected {
		return kept, protoErrorf("%s #%d ends inside its properties", in.typ, in.num)
	}
	in.endFrame(f.raw, last)
	if last {
		delete(m, in.num)
		r.host.finish(in)
	}
	return kept, nil
}

// feedData adds decoded message bytes (properties, then body) to in.
func (r *receiver) feedData(in *inbound, data []byte, buf *[]byte) (kept bool, err error) {
	if in.rejected {
		return false, nil
	}
	in.total += int64(len(data))
	if in.maxMessage >= 0 && in.total > in.maxMessage {
		r.refuse(in, 413, fmt.Sprintf("%s #%d is larger than the limit of %d bytes", in.typ, in.num, in.maxMessage))
		return false, nil
	}
	if !in.began {
		if in.propLen < 0 {
			v, n := binary.Uvarint(data)
			if n <= 0 {
				return false, protoErrorf("%s #%d: bad properties length", in.typ, in.num)
			}
			if v > MaxPropertiesSize {
				return false, tooLargeErrorf("%s #%d: properties are %d bytes (limit %d)", in.typ, in.num, v, MaxPropertiesSize)
			}
			in.propLen = int(v)
			in.props = make([]byte, 0, in.propLen)
			data = data[n:]
		}
		k := min(in.propLen-len(in.props), len(data))
		in.props = append(in.props, data[:k]...)
		in.holdProps(k)
		data = data[k:]
		if len(in.props) < in.propLen {
			return false, nil
		}
		props, err := decodeProperties(in.props)
		if err != nil {
			return false, err
		}
		in.holdProps(-len(in.props))
		in.props = nil
		in.msg.Properties = props
		in.began = true
		r.host.begin(in)
	}
	if len(data) == 0 {
		return false, nil
	}
	return in.push(data, buf), nil
}

// refuse drops the rest of in: a refused request is answered with an error of domain HTTP
// (as Sync Gateway answers a document too large: peers treat it as a per-message failure)
// and code 413 or 503; the reader of a refused reply gets the error.
func (r *receiver) refuse(in *inbound, code int, message string) {
	in.rejected = true
	in.props = nil
	be := &Error{Domain: "HTTP", Code: code, Message: message}
	in.refuse(be)
	r.host.refused(in, be)
}

// unblock is called while the reader is paused because the connection holds more than
// its limit of incoming bytes (total, read before the call). If only incomplete messages
// hold bytes and every one of them has a consumer waiting for more, nothing can be released
// without reading on: then a lone message may go on (it is capped by maxMessage), and of
// several the newest is refused with HTTP/503 to make room. It reports whether the reader
// should read on.
func (r *receiver) unblock(total int64, limit int64) (readOn bool) {
	var sum int64
	holders := 0
	var newest *inbound
	for _, m := range [2]map[uint64]*inbound{r.reqs, r.replies} {
		for _, in := range m {
			held, waiting := in.heldState()
			if held == 0 {
				continue
			}
			if !waiting {
				return false // its consumer will take the bytes
			}
			sum += int64(held)
			holders++
			if newest == nil || in.seq > newest.seq {
				newest = in
			}
		}
	}
	if holders == 0 || sum < total {
		return false // complete messages hold bytes: their handlers will release them
	}
	if holders == 1 {
		return true
	}
	r.refuse(newest, 503, fmt.Sprintf("%s #%d refused: the connection already buffers more than %d bytes of incoming messages",
		newest.typ, newest.num, limit))
	return false
}

// abandon fails every incomplete incoming message with err (the connection ended).
func (r *receiver) abandon(err error) {
	for _, in := range r.reqs {
		in.fail(err)
	}
	for _, in := range r.replies {
		in.fail(err)
	}
	clear(r.reqs)
	clear(r.replies)
}
