package blip

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"sync"

	"github.com/klauspost/compress/flate"
)

// Frame flag bits (PROTOCOL.md §2.4; the values of both reference implementations).
const (
	flagTypeMask   = 0x07
	flagCompressed = 0x08
	flagUrgent     = 0x10
	flagNoReply    = 0x20
	flagMoreComing = 0x40
	flagReserved   = 0x80 // would turn the flags varint into two bytes; never valid
)

const (
	checksumSize = 4
	// maxFrameHeader is the longest frame header: a 10-byte uvarint number plus the flags byte.
	maxFrameHeader = binary.MaxVarintLen64 + 1
	// maxInflatedFrame caps one compressed frame's inflated size. LiteCore fills 16 KiB frames
	// with compressed output, and deflate expands at most ~1032:1, so a legitimate frame from a
	// reference peer stays below ~16.6 MiB.
	maxInflatedFrame = 17 << 20
	// maxIncomingFrame caps one incoming WebSocket message (= one BLIP frame) on the wire.
	// Reference peers send at most 16 KiB.
	maxIncomingFrame = 1 << 20
	// deflateWindow is the deflate history size (window bits 15).
	deflateWindow = 32 << 10
	// inflatePiece is the most inflated output handled at a time: a compressed frame reaches
	// its message in pieces of this size.
	inflatePiece = 64 << 10
)

// syncTrailer is what a sync flush ends with; BLIP drops it on the wire.
var syncTrailer = []byte{0x00, 0x00, 0xff, 0xff}

// finalEmptyBlock is an empty stored block with BFINAL set. The inflater appends it after
// the restored sync trailer so that each frame decodes as a complete deflate stream (see
// inflater).
var finalEmptyBlock = []byte{0x01, 0x00, 0x00, 0xff, 0xff}

var crcTable = crc32.IEEETable

// frame is one decoded incoming frame.
type frame struct {
	num   uint64
	flags byte
	data  []byte // MSG/RPY/ERR: decoded (inflated) payload; valid until the next decode
	ack   uint64 // ACK frames: the acknowledged byte count
	raw   int    // wire bytes after the header, checksum included (flow-control unit)
	alias bool   // data points into the decoded input (not into decoder scratch space)
	sum   uint32 // compressed frames from decodeHeader: the checksum still to verify
}

func (f frame) typ() MessageType { return MessageType(f.flags & flagTypeMask) }
func (f frame) more() bool       { return f.flags&flagMoreComing != 0 }

// decoder decodes the frames of one direction: header, running checksum, inflate context.
type decoder struct {
	crc        uint32
	inf        inflater
	maxInflate int // per-frame cap on inflated bytes; 0 means maxInflatedFrame
}

// decode parses one frame, inflating a compressed one whole into f.data. Errors wrap
// ErrProtocol (and ErrTooLarge for caps). The receiver uses decodeHeader and inflateFrame
// instead, which never hold a frame's inflated data in one buffer.
func (d *decoder) decode(b []byte) (frame, error) {
	f, err := d.decodeHeader(b)
	if err != nil || f.flags&flagCompressed == 0 || f.typ() > TypeError {
		return f, err
	}
	var out []byte
	err = d.inflateFrame(f, func(p []byte) error {
		out = append(out, p...)
		return nil
	})
	f.data, f.alias = out, false
	return f, err
}

// inflateFrame inflates a compressed frame from decodeHeader, handing its data to emit in
// pieces of at most inflatePiece bytes (each valid until emit returns), and then checks the
// running checksum. It stops, with an error wrapping ErrTooLarge, as soon as the frame's
// output passes the per-frame cap: the output is never allocated whole. An error from
// emit is returned as is.
func (d *decoder) inflateFrame(f frame, emit func([]byte) error) error {
	limit := d.maxInflate
	if limit <= 0 {
		limit = maxInflatedFrame
	}
	err := d.inf.inflate(f.data, limit, func(p []byte) error {
		d.crc = crc32.Update(d.crc, crcTable, p)
		return emit(p)
	})
	if err != nil {
		if errors.Is(err, ErrProtocol) {
			return fmt.Errorf("inflate frame #%d: %w", f.num, err)
		}
		return err
	}
	if d.crc != f.sum {
		return protoErrorf("checksum mismatch in frame #%d: got %08x, computed %08x", f.num, f.sum, d.crc)
	}
	return nil
}

// decodeHeader parses one frame. Uncompressed frames are complete (checksum verified);
// for a compressed MSG/RPY/ERR frame, f.data is the compressed payload and f.sum its
// checksum: call inflateFrame next, before decoding another frame.
func (d *decoder) decodeHeader(b []byte) (frame, error) {
	var f frame
	num, n := binary.Uvarint(b)
	if n == 0 {
		return f, protoErrorf("frame too short for its message number")
	}
	if n < 0 {
		return f, protoErrorf("message number varint overflows")
	}
	b = b[n:]
	if len(b) == 0 {
		return f, protoErrorf("frame has no flags")
	}
	f.num, f.flags = num, b[0]
	if f.flags&flagReserved != 0 {
		return f, protoErrorf("unknown flag bits 0x%02x in frame #%d", f.flags, num)
	}
	b = b[1:]
	f.raw = len(b)
	switch f.typ() {
	case TypeAckRequest, TypeAckResponse:
		v, n := binary.Uvarint(b)
		if n <= 0 || n != len(b) {
			return f, protoErrorf("malformed ACK frame for #%d", num)
		}
		f.ack = v
		return f, nil
	case TypeRequest, TypeResponse, TypeError:
	default:
		return f, nil // unknown type: the caller drops it (PROTOCOL.md §2.4)
	}
	if len(b) < checksumSize {
		return f, protoErrorf("frame #%d too short for its checksum", num)
	}
	payload, sum := b[:len(b)-checksumSize], binary.BigEndian.Uint32(b[len(b)-checksumSize:])
	if f.flags&flagCompressed != 0 {
		f.data, f.sum = payload, sum
		return f, nil
	}
	d.crc = crc32.Update(d.crc, crcTable, payload)
	if d.crc != sum {
		return f, protoErrorf("checksum mismatch in frame #%d: got %08x, computed %08x", num, sum, d.crc)
	}
	f.data = payload
	f.alias = true
	return f, nil
}

// inflater is the receiving half of one direction's deflate stream.
//
// The sender keeps one deflate context for the whole connection and sync-flushes after each
// frame. Go's flate readers pull input from an io.Reader and fail for good when it runs dry
// mid-stream, so instead of one long-lived reader this resets a reader for every frame with
// the last 32 KiB of output as its preset dictionary (the deflate window), and terminates the
// frame's input with the stripped sync trailer plus an empty final block. Each frame then
// decodes as a complete stream, with exactly the context a continuous inflater would have.
//
// The history is the only state a connection keeps between frames: the reader and its
// buffers (some 200 KiB) come from a pool shared by every connection for the length of
// one frame, so that thousands of mostly idle connections do not hold one each.
type inflater struct {
	hist []byte // last <= 64 KiB of inflated output (the window is its last 32 KiB)
}

// inflateWork is what inflating one frame needs besides the history (pooled).
type inflateWork struct {
	fr  io.ReadCloser
	src bytes.Reader
	in  []byte
	out []byte
}

var inflateWorks = sync.Pool{New: func() any { return &inflateWork{out: make([]byte, inflatePiece)} }}

// inflate decodes one frame's compressed payload (sync trailer stripped), handing the
// output to emit in pieces of at most inflatePiece bytes. More than limit output bytes =>
// ErrTooLarge, detected within one piece of the limit.
func (f *inflater) inflate(payload []byte, limit int, emit func([]byte) error) error {
	if len(payload) == 0 {
		return nil
	}
	w := inflateWorks.Get().(*inflateWork)
	defer func() {
		if cap(w.in) > 2*inflatePiece {
			w.in = nil // a rare large frame's buffer is not kept
		}
		w.src.Reset(nil)
		inflateWorks.Put(w)
	}()
	w.in = append(append(append(w.in[:0], payload...), syncTrailer...), finalEmptyBlock...)
	w.src.Reset(w.in)
	if w.fr == nil {
		w.fr = flate.NewReaderDict(&w.src, f.window())
	} else if err := w.fr.(flate.Resetter).Reset(&w.src, f.window()); err != nil {
		return protoErrorf("reset inflater: %v", err)
	}
	total := 0
	for {
		out := w.out[:inflatePiece]
		n := 0
		var err error
		for n < len(out) && err == nil {
			var k int
			k, err = w.fr.Read(out[n:])
			n += k
		}
		if n > 0 {
			total += n
			if total > limit {
				return tooLargeErrorf("frame inflates to more than %d bytes", limit)
			}
			f.remember(out[:n])
			if eerr := emit(out[:n]); eerr != nil {
				return eerr
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return protoErrorf("bad deflate data: %v", err)
		}
	}
	if w.src.Len() != 0 {
		return protoErrorf("deflate stream ended inside a frame")
	}
	return nil
}

// remember appends output to the history, which keeps at least the last 32 KiB and at most
// 64 KiB (so that sliding it costs one copy every 32 KiB of output).
func (f *inflater) remember(out []byte) {
	if len(out) >= deflateWindow {
		f.hist = append(f.hist[:0], out[len(out)-deflateWindow:]...)
		return
	}
	if len(f.hist)+len(out) > 2*deflateWindow {
		n := copy(f.hist, f.hist[len(f.hist)-deflateWindow:])
		f.hist = f.hist[:n]
	}
	f.hist = append(f.hist, out...)
}

// window returns the dictionary to seed the next frame with (at most 32 KiB).
func (f *inflater) window() []byte {
	if len(f.hist) > deflateWindow {
		return f.hist[len(f.hist)-deflateWindow:]
	}
	return f.hist
}

// deflaters holds idle deflate writers by level (1..9), shared by every connection. A
// writer holds about 1 MiB whatever its level; a connection takes one for the frames it
// sends back to back and gives it back once it has nothing more to send (encoder.idle).
var deflaters [10]sync.Pool

// newDeflater returns a deflate writer of level (fresh: no history) writing to dst.
func newDeflater(dst io.Writer, level int) (*flate.Writer, error) {
	if w, ok := deflaters[level].Get().(*flate.Writer); ok {
		// Not Reset: after a ResetDict (useLevel) Reset would preload that old dictionary.
		w.ResetDict(dst, nil)
		return w, nil
	}
	return flate.NewWriter(dst, level)
}

// encoder produces the frames of one direction: header, running checksum, deflate context.
type encoder struct {
	crc    uint32
	level  int // 1..9: the configured level
	def    *flate.Writer
	defOut bytes.Buffer
	hdr    [maxFrameHeader]byte
	sum    [checksumSize]byte
	pieces [][]byte
	buf    []byte
	adapt  adaptive
}

// Adaptive compression. Frames of messages sent with Compressed set are deflated only
// while it pays: the encoder measures what a sample of such frames shrinks by and
//
//   - sends the frames of the next skipBytes uncompressed when the sample shrank by less
//     than minSaving (already compressed data: photographs, encrypted or random bytes),
//     then samples again;
//   - otherwise also samples level 1 (when the configured level is higher), and keeps the
//     cheaper level for the next runBytes when its output is at most levelSlack larger
//     than the configured level's (data whose gain is in the symbols, not in repeated strings, such as
//     random identifiers or base64: deflate's match search then costs time for nothing).
//
// This stays wire-compatible: BLIP's compressed flag is per frame, and both reference
// implementations inflate a frame only when its own flag says so, through one context
// per direction that uncompressed frames do not touch (LiteCore's MessageIn picks the
// codec mode from each frame's flags; the BLIP 3 specification says the context is used
// for the frames with the Compressed flag). The encoder keeps the last 32 KiB it
// deflated, so that a deflater started at another level continues from exactly the
// history the peer's inflater holds.
type adaptive struct {
	off      bool // never adapt (Config.CompressionLevel set explicitly)
	state    adaptState
	cur      int   // level of the writer in use
	left     int64 // bytes still to send in the current state
	in, out  int64 // sample so far
	ratioCfg float64
	other    *flate.Writer // the writer of the other level, when one was made
	otherLvl int
	hist     []byte // last <= 64 KiB of deflated input (the shared window is its last 32 KiB)
	// Counters for tests and diagnostics: frames sent compressed and uncompressed among
	// those whose message asked for compression.
	compressed, plain uint64
}

type adaptState int

const (
	sampleConfigured adaptState = iota // deflating at the configured level, measuring
	sampleFast                         // deflating at level 1, measuring
	running                            // deflating at the chosen level for runBytes
	skipping                           // sending uncompressed for skipBytes
)

const (
	sampleBytes = 64 << 10
	runBytes    = 4 << 20
	skipBytes   = 1 << 20
	minSaving   = 0.10
	levelSlack  = 0.05 // level 1's output may be this much larger (relative) than the configured level's
)

// compressFrame reports whether the next frame, of n payload bytes, of a message sent
// with Compressed set is to be deflated, and switches the deflater's level if the policy
// says so.
func (e *encoder) compressFrame(n int) (bool, error) {
	a := &e.adapt
	if a.off {
		return true, nil
	}
	if a.cur == 0 {
		a.cur = e.level
	}
	if a.state == skipping {
		a.left -= int64(n)
		if a.left <= 0 {
			a.state, a.in, a.out = sampleConfigured, 0, 0
			if err := e.useLevel(e.level); err != nil {
				return false, err
			}
		}
		return false, nil
	}
	return true, nil
}

// compressed records a deflated frame's sizes and moves the policy on.
func (e *encoder) compressed(in, out int) error {
	a := &e.adapt
	a.compressed++
	if a.off {
		return nil
	}
	a.in, a.out = a.in+int64(in), a.out+int64(out)
	switch a.state {
	case running:
		a.left -= int64(in)
		if a.left <= 0 {
			a.state, a.in, a.out = sampleConfigured, 0, 0
			return e.useLevel(e.level)
		}
	case sampleConfigured, sampleFast:
		if a.in < sampleBytes {
			return nil
		}
		ratio := float64(a.out) / float64(a.in)
		a.in, a.out = 0, 0
		switch {
		case ratio > 1-minSaving:
			a.state, a.left = skipping, skipBytes
		case a.state == sampleConfigured && e.level > 1:
			a.state, a.ratioCfg = sampleFast, ratio
			return e.useLevel(1)
		case a.state == sampleFast && ratio <= a.ratioCfg*(1+levelSlack):
			a.state, a.left = running, runBytes // level 1 does as well: keep it
		case a.state == sampleFast:
			a.state, a.left = running, runBytes
			return e.useLevel(e.level)
		default:
			a.state, a.left = running, runBytes
		}
	}
	return nil
}

// useLevel makes the deflater of level current, continuing from the shared history.
func (e *encoder) useLevel(level int) error {
	a := &e.adapt
	if a.cur == level || e.def == nil {
		a.cur = level
		return nil
	}
	w := a.other
	if w == nil || a.otherLvl != level {
		if w != nil {
			deflaters[a.otherLvl].Put(w)
		}
		var err error
		if w, err = newDeflater(&e.defOut, level); err != nil {
			return fmt.Errorf("create deflater: %w", err)
		}
	}
	hist := a.hist
	if len(hist) > deflateWindow {
		hist = hist[len(hist)-deflateWindow:]
	}
	w.ResetDict(&e.defOut, hist)
	a.other, a.otherLvl = e.def, a.cur
	e.def, a.cur = w, level
	return nil
}

// remember keeps the last 32 KiB (at most 64 KiB) of deflated input.
func (a *adaptive) remember(p []byte) {
	if a.off {
		return
	}
	if len(p) >= deflateWindow {
		a.hist = append(a.hist[:0], p[len(p)-deflateWindow:]...)
		return
	}
	if len(a.hist)+len(p) > 2*deflateWindow {
		n := copy(a.hist, a.hist[len(a.hist)-deflateWindow:])
		a.hist = a.hist[:n]
	}
	a.hist = append(a.hist, p...)
}

// idle gives the deflate writers back to the pool when the connection has nothing more to
// send, with the history kept for them, so that an idle connection holds no deflate state.
// The next compressed frame starts a writer without history: its output continues the
// stream validly (a sync flush leaves it byte-aligned with no block open, and an encoder
// need not refer to earlier bytes; the peer's inflater keeps its window regardless), at
// the cost of not referring to what was sent before the pause.
func (e *encoder) idle() {
	a := &e.adapt
	if e.def != nil {
		deflaters[a.cur].Put(e.def)
		e.def = nil
	}
	if a.other != nil {
		deflaters[a.otherLvl].Put(a.other)
		a.other = nil
	}
	a.hist = nil
	if e.defOut.Cap() > 0 {
		e.defOut = bytes.Buffer{}
	}
}

// encodeParts encodes one MSG/RPY/ERR frame carrying the message bytes parts (concatenated)
// and returns it as consecutive pieces: header, payload, checksum. Uncompressed payload
// pieces are the caller's parts themselves (no copy); if flags has flagCompressed the payload
// is deflated. The pieces are valid until the next call.
func (e *encoder) encodeParts(num uint64, flags byte, parts ...[]byte) ([][]byte, error) {
	if flags&flagCompressed != 0 {
		n := 0
		for _, p := range parts {
			n += len(p)
		}
		deflate, err := e.compressFrame(n)
		if err != nil {
			return nil, err
		}
		if !deflate {
			flags &^= flagCompressed
			e.adapt.plain++
		}
	}
	h := binary.AppendUvarint(e.hdr[:0], num)
	h = append(h, flags)
	e.pieces = append(e.pieces[:0], h)
	if flags&flagCompressed != 0 {
		if e.def == nil {
			if e.adapt.cur == 0 {
				e.adapt.cur = e.level
			}
			w, err := newDeflater(&e.defOut, e.adapt.cur)
			if err != nil {
				return nil, fmt.Errorf("create deflater: %w", err)
			}
			e.def = w
		}
		e.defOut.Reset()
		n := 0
		for _, p := range parts {
			e.crc = crc32.Update(e.crc, crcTable, p)
			if _, err := e.def.Write(p); err != nil {
				return nil, fmt.Errorf("deflate: %w", err)
			}
			e.adapt.remember(p)
			n += len(p)
		}
		if err := e.def.Flush(); err != nil {
			return nil, fmt.Errorf("deflate: %w", err)
		}
		out := e.defOut.Bytes()
		if !bytes.HasSuffix(out, syncTrailer) {
			return nil, errors.New("blip: deflate output lacks the sync trailer")
		}
		out = out[:len(out)-len(syncTrailer)]
		e.pieces = append(e.pieces, out)
		if err := e.compressed(n, len(out)); err != nil {
			return nil, err
		}
	} else {
		for _, p := range parts {
			if len(p) > 0 {
				e.crc = crc32.Update(e.crc, crcTable, p)
				e.pieces = append(e.pieces, p)
			}
		}
	}
	binary.BigEndian.PutUint32(e.sum[:], e.crc)
	e.pieces = append(e.pieces, e.sum[:])
	return e.pieces, nil
}

// encode is encodeParts joined into one slice, valid until the next call.
func (e *encoder) encode(num uint64, flags byte, parts ...[]byte) ([]byte, error) {
	pieces, err := e.encodeParts(num, flags, parts...)
	if err != nil {
		return nil, err
	}
	e.buf = e.buf[:0]
	for _, p := range pieces {
		e.buf = append(e.buf, p...)
	}
	return e.buf, nil
}

// appendAck appends an ACK frame for message num of type typ (TypeRequest or TypeResponse/
// TypeError: what is being acknowledged) reporting n bytes received.
func appendAck(dst []byte, num uint64, acked MessageType, n uint64) []byte {
	t := TypeAckRequest
	if acked != TypeRequest {
		t = TypeAckResponse
	}
	dst = binary.AppendUvarint(dst, num)
	dst = append(dst, byte(t)|flagUrgent|flagNoReply)
	return binary.AppendUvarint(dst, n)
}
