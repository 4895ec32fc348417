package blip

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

// PROTOCOL.md §10.1
func TestVarintVectors(t *testing.T) {
	tests := []struct {
		v   uint64
		hex string
	}{
		{0, "00"}, {1, "01"}, {127, "7f"}, {128, "80 01"}, {300, "ac 02"},
		{16384, "80 80 01"}, {50000, "d0 86 03"}, {128000, "80 e8 07"},
	}
	for _, tt := range tests {
		want := unhex(t, tt.hex)
		if got := binary.AppendUvarint(nil, tt.v); !bytes.Equal(got, want) {
			t.Errorf("encode %d = % x, want % x", tt.v, got, want)
		}
		v, n := binary.Uvarint(want)
		if n != len(want) || v != tt.v {
			t.Errorf("decode % x = %d (%d bytes), want %d", want, v, n, tt.v)
		}
	}
}

// encodeMessage frames a whole single-frame message the way the writer does.
func encodeMessage(t *testing.T, e *encoder, num uint64, flags byte, props Properties, body string) []byte {
	t.Helper()
	head, err := appendProperties(nil, props)
	if err != nil {
		t.Fatal(err)
	}
	b, err := e.encode(num, flags, head, []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Clone(b)
}

// PROTOCOL.md §10.2–10.4: exact bytes, running checksum per direction.
func TestFrameVectors(t *testing.T) {
	var mine encoder
	req1 := encodeMessage(t, &mine, 1, 0, Properties{{"Profile", "getCheckpoint"}, {"client", "cp-abc"}}, "")
	want1 := unhex(t, `01 00 24 50 72 6f 66 69 6c 65 00 67 65 74 43 68 65 63 6b 70 6f 69 6e 74 00
		63 6c 69 65 6e 74 00 63 70 2d 61 62 63 00 55 75 19 7f`)
	if !bytes.Equal(req1, want1) {
		t.Errorf("request #1 = % x\nwant          % x", req1, want1)
	}
	req2 := encodeMessage(t, &mine, 2, flagUrgent|flagNoReply, Properties{{"Profile", "changes"}}, "[]")
	want2 := unhex(t, "02 30 10 50 72 6f 66 69 6c 65 00 63 68 61 6e 67 65 73 00 5b 5d 98 c4 dd 78")
	if !bytes.Equal(req2, want2) {
		t.Errorf("request #2 = % x\nwant          % x", req2, want2)
	}

	var peer encoder
	rpy := encodeMessage(t, &peer, 1, byte(TypeResponse), Properties{{"rev", "1-cc"}}, `{"remote":42}`)
	wantRpy := unhex(t, "01 01 09 72 65 76 00 31 2d 63 63 00 7b 22 72 65 6d 6f 74 65 22 3a 34 32 7d 72 e8 2f 32")
	if !bytes.Equal(rpy, wantRpy) {
		t.Errorf("RPY = % x\nwant  % x", rpy, wantRpy)
	}
	var peer2 encoder
	errFrame := encodeMessage(t, &peer2, 1, byte(TypeError), Properties{{"Error-Code", "404"}, {"Error-Domain", "HTTP"}}, "missing")
	wantErr := unhex(t, `01 02 21 45 72 72 6f 72 2d 43 6f 64 65 00 34 30 34 00 45 72 72 6f 72 2d 44 6f 6d 61 69 6e 00 48 54 54 50 00
		6d 69 73 73 69 6e 67 ec 76 bd f0`)
	if !bytes.Equal(errFrame, wantErr) {
		t.Errorf("ERR = % x\nwant  % x", errFrame, wantErr)
	}

	// The receiving side decodes the same bytes and checks the running CRC.
	var dec decoder
	for i, fr := range [][]byte{want1, want2} {
		f, err := dec.decode(fr)
		if err != nil {
			t.Fatalf("decode request %d: %v", i+1, err)
		}
		if f.num != uint64(i+1) {
			t.Errorf("request %d decoded as #%d", i+1, f.num)
		}
	}
	// A fresh decoder must reject request #2 alone: its checksum continues request #1's.
	var fresh decoder
	if _, err := fresh.decode(want2); !errors.Is(err, ErrProtocol) {
		t.Errorf("request #2 with a fresh CRC: err = %v, want ErrProtocol", err)
	}
	var dec2 decoder
	f, err := dec2.decode(wantErr)
	if err != nil || f.typ() != TypeError {
		t.Fatalf("decode ERR: %v %v", f.typ(), err)
	}
	props, err := decodeProperties(f.data[1 : 1+0x21])
	if err != nil || props.Get("Error-Domain") != "HTTP" || props.Get("Error-Code") != "404" {
		t.Errorf("ERR properties = %v, %v", props, err)
	}
}

// PROTOCOL.md §10.5
func TestAckAndCompressedVectors(t *testing.T) {
	if got, want := appendAck(nil, 5, TypeRequest, 50000), unhex(t, "05 34 d0 86 03"); !bytes.Equal(got, want) {
		t.Errorf("ACKMSG = % x, want % x", got, want)
	}
	if got, want := appendAck(nil, 5, TypeResponse, 50000), unhex(t, "05 35 d0 86 03"); !bytes.Equal(got, want) {
		t.Errorf("ACKRPY = % x, want % x", got, want)
	}
	var dec decoder
	f, err := dec.decode(unhex(t, "05 34 d0 86 03"))
	if err != nil || f.typ() != TypeAckRequest || f.num != 5 || f.ack != 50000 {
		t.Errorf("decode ACK = %+v, %v", f, err)
	}

	frame := unhex(t, `01 08 12 08 28 ca 4f cb cc 49 65 48 ce 48 cc 4b 4f 2d 66 88 8e 36 d4 51 4a c9 4f 36 54 d2 51 32 d4 4d 4c 4a
		56 8a d5 89 36 02 0b 19 81 85 52 52 d3 94 62 63 01 00 ec ed 42 b8`)
	body := `[[1,"doc1","1-abc"],[2,"doc2","1-def"]]`
	wantPayload := append(append([]byte{0x10}, "Profile\x00changes\x00"...), body...)
	f, err = dec.decode(frame)
	if err != nil {
		t.Fatalf("decode compressed frame: %v", err)
	}
	if !bytes.Equal(f.data, wantPayload) || len(f.data) != 56 {
		t.Errorf("inflated payload = %q, want %q", f.data, wantPayload)
	}

	// Our own deflater: whatever bytes it produces must decode to the same payload and CRC.
	var e encoder
	e.level = 6
	ours := encodeMessage(t, &e, 1, flagCompressed, Properties{{"Profile", "changes"}}, body)
	if got := binary.BigEndian.Uint32(ours[len(ours)-4:]); got != 0xeced42b8 {
		t.Errorf("compressed frame CRC = %08x, want eced42b8", got)
	}
	var d2 decoder
	f, err = d2.decode(ours)
	if err != nil || !bytes.Equal(f.data, wantPayload) {
		t.Errorf("our compressed frame decodes to %q, %v", f.data, err)
	}
}

// Compression context must carry across frames and messages in both directions, and
// uncompressed frames in between must not disturb it.
func TestCompressionContextAcrossFrames(t *testing.T) {
	var e encoder
	e.level = 6
	var d decoder
	doc := []byte(strings.Repeat(`{"type":"airline","name":"Example Air","country":"France"},`, 40))
	for i := 0; i < 50; i++ {
		flags := byte(flagCompressed)
		if i%7 == 3 {
			flags = 0
		}
		part := doc[i%len(doc):]
		b, err := e.encode(uint64(i+1), flags|flagMoreComing, part)
		if err != nil {
			t.Fatal(err)
		}
		if flags != 0 && i > 0 && len(b) > len(part)/4 {
			t.Errorf("frame %d: %d wire bytes for %d input: context not carried over?", i, len(b), len(part))
		}
		f, err := d.decode(b)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if !bytes.Equal(f.data, part) {
			t.Fatalf("frame %d: payload mismatch", i)
		}
	}
}

func TestDecodeFrameErrors(t *testing.T) {
	var good encoder
	valid := encodeMessage(t, &good, 1, 0, Properties{{"Profile", "x"}}, "body")
	badSum := bytes.Clone(valid)
	badSum[len(badSum)-1] ^= 1
	tests := []struct {
		name  string
		frame []byte
		want  error
	}{
		{"empty", nil, ErrProtocol},
		{"truncated varint", []byte{0x80}, ErrProtocol},
		{"overlong varint", bytes.Repeat([]byte{0xff}, 11), ErrProtocol},
		{"no flags", []byte{0x01}, ErrProtocol},
		{"reserved flag bit", []byte{0x01, 0x80, 0x01, 0, 0, 0, 0}, ErrProtocol},
		{"no checksum", []byte{0x01, 0x00, 0x00}, ErrProtocol},
		{"bad checksum", badSum, ErrProtocol},
		{"ack without count", []byte{0x01, 0x34}, ErrProtocol},
		{"ack trailing bytes", []byte{0x01, 0x34, 0x05, 0x00}, ErrProtocol},
		{"bad deflate", []byte{0x01, 0x08, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00}, ErrProtocol},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var d decoder
			if _, err := d.decode(tt.frame); !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
		})
	}
	var d decoder
	if f, err := d.decode([]byte{0x01, 0x03, 0xaa}); err != nil || f.typ() != 3 {
		t.Errorf("unknown type: %+v %v, want it passed through for the caller to drop", f, err)
	}
}

func TestInflateCaps(t *testing.T) {
	var e encoder
	e.level = 9
	zeros := make([]byte, 2<<20)
	b, err := e.encode(1, flagCompressed, zeros)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("2 MiB of zeros deflate to %d bytes", len(b))
	d := decoder{maxInflate: 1 << 20}
	if _, err := d.decode(b); !errors.Is(err, ErrTooLarge) || !errors.Is(err, ErrProtocol) {
		t.Errorf("bomb: err = %v, want ErrTooLarge and ErrProtocol", err)
	}
	d2 := decoder{}
	if f, err := d2.decode(b); err != nil || len(f.data) != len(zeros) {
		t.Errorf("within the default cap: %d bytes, %v", len(f.data), err)
	}
	// A final block inside the frame (the stream would end) is refused.
	var buf bytes.Buffer
	buf.Write([]byte{0x01, 0x08})
	buf.Write([]byte{0x01, 0x00, 0x00, 0xff, 0xff}) // final empty stored block
	buf.Write([]byte{0, 0, 0, 0})
	var d3 decoder
	if _, err := d3.decode(buf.Bytes()); !errors.Is(err, ErrProtocol) {
		t.Errorf("final block inside frame: err = %v, want ErrProtocol", err)
	}
}

func TestProperties(t *testing.T) {
	p := Properties{{"Profile", "rev"}, {"id", "doc1"}}
	p.Set("id", "doc2")
	p.Set("rev", "1-a")
	if p.Get("id") != "doc2" || p.Get("rev") != "1-a" || p.Get("ID") != "" || len(p) != 3 {
		t.Errorf("Set/Get: %v", p)
	}
	if _, ok := p.Lookup("missing"); ok {
		t.Error("Lookup found a missing key")
	}
	enc, err := appendProperties(nil, p)
	if err != nil {
		t.Fatal(err)
	}
	n, k := binary.Uvarint(enc)
	got, err := decodeProperties(enc[k:])
	if err != nil || int(n) != len(enc)-k {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0] != p[0] || got[2] != p[2] {
		t.Errorf("round trip = %v, want %v", got, p)
	}

	encTests := []struct {
		name  string
		props Properties
		want  error
	}{
		{"nul in value", Properties{{"a", "b\x00c"}}, ErrInvalidMessage},
		{"nul in key", Properties{{"a\x00", "b"}}, ErrInvalidMessage},
		{"duplicate", Properties{{"a", "1"}, {"a", "2"}}, ErrInvalidMessage},
		{"too large", Properties{{"a", strings.Repeat("x", MaxPropertiesSize)}}, ErrTooLarge},
	}
	for _, tt := range encTests {
		if _, err := appendProperties(nil, tt.props); !errors.Is(err, tt.want) {
			t.Errorf("encode %s: err = %v, want %v", tt.name, err, tt.want)
		}
	}
	many := make(Properties, 0, 100)
	for i := 0; i < 100; i++ {
		many = append(many, Property{strings.Repeat("k", i+1), "v"})
	}
	if _, err := appendProperties(nil, many); err != nil {
		t.Errorf("100 distinct keys: %v", err)
	}
	many = append(many, Property{"kkk", "dup"})
	if _, err := appendProperties(nil, many); !errors.Is(err, ErrInvalidMessage) {
		t.Errorf("duplicate among many: %v", err)
	}

	decTests := []struct {
		name string
		in   string
		want error
	}{
		{"not terminated", "a\x00b", ErrProtocol},
		{"odd strings", "a\x00b\x00c\x00", ErrProtocol},
		{"duplicate", "a\x001\x00a\x002\x00", ErrProtocol},
		{"too large", strings.Repeat("a\x00", MaxPropertiesSize), ErrTooLarge},
	}
	for _, tt := range decTests {
		if _, err := decodeProperties([]byte(tt.in)); !errors.Is(err, tt.want) {
			t.Errorf("decode %s: err = %v, want %v", tt.name, err, tt.want)
		}
	}
	if got, err := decodeProperties([]byte("\x00\x00")); err != nil || len(got) != 1 || got[0] != (Property{}) {
		t.Errorf("empty key and value: %v %v", got, err)
	}
}
