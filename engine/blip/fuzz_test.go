package blip

import (
	"bytes"
	stdflate "compress/flate"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"testing"
)

// Fuzz inputs that carry several frames use a simple container: each frame is preceded by
// its length as 2 bytes big-endian; a short or overlong tail is taken as one last frame.
func splitFrames(data []byte) [][]byte {
	var out [][]byte
	for len(data) > 0 {
		if len(data) < 2 {
			return append(out, data)
		}
		n := int(binary.BigEndian.Uint16(data))
		data = data[2:]
		if n > len(data) {
			return append(out, data)
		}
		out = append(out, data[:n])
		data = data[n:]
	}
	return out
}

func joinFrames(frames [][]byte) []byte {
	var out []byte
	for _, f := range frames {
		out = binary.BigEndian.AppendUint16(out, uint16(len(f)))
		out = append(out, f...)
	}
	return out
}

// transcriptFrames returns the recorded frames of each session direction.
func transcriptFrames(t testing.TB) [][][]byte {
	var seqs [][][]byte
	for _, path := range sessions(t) {
		byDir := map[string][][]byte{}
		for _, e := range loadSession(t, path) {
			if e.Kind == "frame" {
				byDir[e.Dir] = append(byDir[e.Dir], unhex(t, e.FrameHex))
			}
		}
		seqs = append(seqs, byDir["in"], byDir["out"])
	}
	return seqs
}

// fuzzHost is a permissive receiverHost: any request number may be answered once.
type fuzzHost struct {
	recordHost
	opened map[uint64]bool
}

func (h *fuzzHost) openReply(num uint64) (bool, int64) {
	if h.opened[num] {
		return false, 0
	}
	h.opened[num] = true
	return true, 0
}

func FuzzDecodeFrame(f *testing.F) {
	for _, seq := range transcriptFrames(f) {
		f.Add(joinFrames(seq))
	}
	var e encoder
	e.level = 6
	big := bytes.Repeat([]byte("0123456789abcdef"), 3000)
	head, _ := appendProperties(nil, Properties{{"Profile", "rev"}, {"id", "doc"}})
	f1, _ := e.encode(1, flagCompressed|flagMoreComing, head, big[:20000])
	f1 = bytes.Clone(f1)
	f2, _ := e.encode(1, flagCompressed, big[20000:])
	f.Add(joinFrames([][]byte{f1, f2, appendAck(nil, 3, TypeRequest, 50000)}))
	f.Add(unhex(f, "01 00 24 50 72 6f 66 69 6c 65 00 67 65 74 43 68 65 63 6b 70 6f 69 6e 74 00 63 6c 69 65 6e 74 00 63 70 2d 61 62 63 00 55 75 19 7f"))
	f.Add([]byte{0x01, 0x80})
	f.Add([]byte{0x00, 0x02, 0x01, 0x34})
	f.Fuzz(func(t *testing.T, data []byte) {
		h := &fuzzHost{opened: map[uint64]bool{}}
		r := newReceiver(h, 1<<20, 1<<20, slog.New(slog.DiscardHandler))
		r.dec.maxInflate = 1 << 20
		for _, fr := range splitFrames(data) {
			// Hand the receiver its own buffer, as the connection does, so messages may keep it.
			own := bytes.Clone(fr)
			if _, err := r.handle(own, &own); err != nil {
				if !errors.Is(err, ErrProtocol) {
					t.Fatalf("error %v does not wrap ErrProtocol", err)
				}
				break
			}
		}
		for _, in := range h.done {
			body, err := in.msg.ReadBody()
			if err != nil && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("ReadBody of a complete message: %v", err)
			}
			if in.total < int64(len(body)) {
				t.Fatalf("body of %d bytes from %d decoded bytes", len(body), in.total)
			}
		}
		r.abandon(ErrClosed)
	})
}

func FuzzDecodeProperties(f *testing.F) {
	for _, path := range sessions(f) {
		for _, e := range loadSession(f, path) {
			if e.Kind == "message" {
				p, _ := appendProperties(nil, e.props())
				_, n := binary.Uvarint(p)
				f.Add(p[n:])
			}
		}
	}
	f.Add([]byte("Profile\x00getCheckpoint\x00client\x00cp-abc\x00"))
	f.Add([]byte("a\x00b"))
	f.Add([]byte("a\x00b\x00a\x00c\x00"))
	f.Add([]byte("\x00\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		props, err := decodeProperties(data)
		if err != nil {
			if !errors.Is(err, ErrProtocol) {
				t.Fatalf("error %v does not wrap ErrProtocol", err)
			}
			return
		}
		enc, err := appendProperties(nil, props)
		if err != nil {
			t.Fatalf("decoded properties do not re-encode: %v", err)
		}
		size, n := binary.Uvarint(enc)
		if int(size) != len(data) || !bytes.Equal(enc[n:], data) {
			t.Fatalf("round trip changed %q into %q", data, enc[n:])
		}
	})
}

func FuzzInflate(f *testing.F) {
	// Seeds: the compressed payloads of the recorded sessions, per direction.
	for _, seq := range transcriptFrames(f) {
		var payloads [][]byte
		for _, fr := range seq {
			_, n := binary.Uvarint(fr)
			if len(fr) > n+1+checksumSize && fr[n]&flagCompressed != 0 {
				payloads = append(payloads, fr[n+1:len(fr)-checksumSize])
			}
		}
		if len(payloads) > 0 {
			f.Add(joinFrames(payloads))
		}
	}
	f.Add(unhex(f, `00 36 12 08 28 ca 4f cb cc 49 65 48 ce 48 cc 4b 4f 2d 66 88 8e 36 d4 51 4a c9 4f 36 54 d2 51 32 d4 4d 4c 4a
		56 8a d5 89 36 02 0b 19 81 85 52 52 d3 94 62 63 01 00`))
	f.Add([]byte{0x00, 0x01, 0x00})
	f.Fuzz(func(t *testing.T, data []byte) {
		// 1. Arbitrary input as compressed frames: no panic; same output as the standard
		//    library decoding each frame the same way.
		var inf inflater
		var window []byte
		for _, p := range splitFrames(data) {
			var out []byte
			err := inf.inflate(p, 1<<20, func(b []byte) error { out = append(out, b...); return nil })
			if err != nil {
				if !errors.Is(err, ErrProtocol) {
					t.Fatalf("error %v does not wrap ErrProtocol", err)
				}
				break
			}
			if len(p) > 0 {
				src := append(append(bytes.Clone(p), syncTrailer...), finalEmptyBlock...)
				want, err := io.ReadAll(io.LimitReader(stdflate.NewReaderDict(bytes.NewReader(src), window), 1<<20+1))
				if err != nil || !bytes.Equal(out, want) {
					t.Fatalf("inflate differs from compress/flate (%v): %d vs %d bytes", err, len(out), len(want))
				}
			}
			window = append(window, out...)
			if len(window) > deflateWindow {
				window = window[len(window)-deflateWindow:]
			}
		}
		// 2. Arbitrary input as plaintext: deflating and inflating frame by frame
		//    (one context per direction, mixed with uncompressed frames) gives it back.
		var e encoder
		e.level = 1 + len(data)%9
		var d decoder
		for i, p := range splitFrames(data) {
			flags := byte(flagCompressed)
			if i%3 == 2 {
				flags = 0
			}
			b, err := e.encode(uint64(i+1), flags|flagMoreComing, p)
			if err != nil {
				t.Fatal(err)
			}
			fr, err := d.decode(b)
			if err != nil || !bytes.Equal(fr.data, p) {
				t.Fatalf("round trip of frame %d failed: %v", i, err)
			}
		}
	})
}
