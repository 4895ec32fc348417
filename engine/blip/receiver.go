package blip

import (
	"encoding/binary"
	"log/slog"
)

// receiverHost is what the frame receiver needs from its connection.
type receiverHost interface {
	flowHost
	// gotAck handles an ACK of my outgoing message num (a request, or a response if response).
	gotAck(num uint64, response bool, n uint64)
	// openReply is called on the first frame of a reply to my request num; false means no
	// such request is waiting for a reply (a protocol error).
	openReply(num uint64) bool
	// begin is called once a message's properties are complete.
	begin(in *inbound)
	// finish is called after a message's last frame.
	finish(in *inbound)
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
	f, err := r.dec.decode(b)
	if err != nil {
		return false, err
	}
	if !f.alias {
		buf = nil
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
			in = newInbound(r.host, f.num, f.flags, r.maxBody)
			r.reqs[f.num] = in
		}
		return r.feed(in, f, r.reqs, buf)
	case TypeResponse, TypeError:
		in := r.replies[f.num]
		if in == nil {
			if !r.host.openReply(f.num) {
				return false, protoErrorf("%s #%d answers no pending request", t, f.num)
			}
			in = newInbound(r.host, f.num, f.flags, r.maxBody)
			r.replies[f.num] = in
		}
		return r.feed(in, f, r.replies, buf)
	default:
		r.log.Warn("blip: ignoring frame of unknown type", "type", int(t), "number", f.num)
		return false, nil
	}
}

// feed adds one frame's data to its message.
func (r *receiver) feed(in *inbound, f frame, m map[uint64]*inbound, buf *[]byte) (kept bool, err error) {
	data := f.data
	last := !f.more()
	in.total += int64(len(data))
	if r.maxMessage >= 0 && in.total > r.maxMessage {
		return false, tooLargeErrorf("%s #%d exceeds %d bytes", in.typ, in.num, r.maxMessage)
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
		data = data[k:]
		if len(in.props) < in.propLen {
			if last {
				return false, protoErrorf("%s #%d ends inside its properties", in.typ, in.num)
			}
			in.push(nil, f.raw, false, nil)
			return false, nil
		}
		props, err := decodeProperties(in.props)
		if err != nil {
			return false, err
		}
		in.props = nil
		in.msg.Properties = props
		in.began = true
		r.host.begin(in)
	}
	kept = in.push(data, f.raw, last, buf)
	if last {
		delete(m, in.num)
		r.host.finish(in)
	}
	return kept, nil
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
