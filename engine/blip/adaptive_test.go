package blip

import (
	"bytes"
	"fmt"
	"math/rand"
	"testing"
)

// roundTrip encodes msgs as compressed frames of one direction and decodes them, checking
// every payload; it returns the encoder for its counters.
func roundTrip(t *testing.T, level int, msgs [][]byte) (*encoder, []bool) {
	t.Helper()
	e := &encoder{level: level}
	var d decoder
	deflated := make([]bool, len(msgs))
	for i, m := range msgs {
		b, err := e.encode(uint64(i+1), byte(TypeRequest)|flagCompressed, m)
		if err != nil {
			t.Fatal(err)
		}
		f, err := d.decode(b)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if !bytes.Equal(f.data, m) {
			t.Fatalf("frame %d: payload differs after the round trip", i)
		}
		deflated[i] = f.flags&flagCompressed != 0
	}
	return e, deflated
}

// Frames that deflate does not shrink by 10% are sent uncompressed after a sample, then
// sampled again; the peer decodes every one.
func TestAdaptiveCompressionSkipsIncompressible(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	var msgs [][]byte
	for i := 0; i < 400; i++ { // 400 × 4 KiB random = 1.6 MiB
		m := make([]byte, 4096)
		rng.Read(m)
		msgs = append(msgs, m)
	}
	// Then compressible frames again: compression must come back after skipBytes.
	for i := 0; i < 800; i++ { // 800 × 2 KiB
		msgs = append(msgs, []byte(fmt.Sprintf(`{"n":%d,"kind":"bench","text":"%s"}`, i, bytes.Repeat([]byte("abc "), 500))))
	}
	e, deflated := roundTrip(t, 6, msgs)
	if e.adapt.plain < 300 {
		t.Errorf("%d frames sent uncompressed; want most of the 400 random ones (deflate cannot shrink them)", e.adapt.plain)
	}
	for i := len(msgs) - 100; i < len(msgs); i++ {
		if !deflated[i] {
			t.Fatalf("frame %d of the compressible tail sent uncompressed: compression did not come back", i)
		}
	}
	fixed := &encoder{level: 6}
	fixed.adapt.off = true
	var d decoder
	for i, m := range msgs[:50] {
		b, err := fixed.encode(uint64(i+1), byte(TypeRequest)|flagCompressed, m)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := d.decode(b); err != nil {
			t.Fatal(err)
		}
	}
	if fixed.adapt.plain != 0 {
		t.Errorf("with adaptation off %d frames went uncompressed", fixed.adapt.plain)
	}
}

// Data whose gain is in the symbols (W2's random payloads) is deflated at level 1 once a
// sample shows level 1 does as well; switching levels keeps the shared window, so frames
// that refer back to earlier ones still decode, and still shrink.
func TestAdaptiveCompressionLowersLevel(t *testing.T) {
	msgs := w2Frames(300)
	// Every 10th message repeats an earlier one: a back-reference across the switch.
	for i := 10; i < len(msgs); i += 10 {
		msgs[i] = append([]byte(nil), msgs[i-1]...)
	}
	e, _ := roundTrip(t, 6, msgs)
	if e.adapt.cur != 1 {
		t.Errorf("deflating at level %d after %d W2-like frames; want 1", e.adapt.cur, len(msgs))
	}
	if e.adapt.plain != 0 {
		t.Errorf("%d frames sent uncompressed; W2-like bodies shrink by ~30%%", e.adapt.plain)
	}
	// Repetitive JSON gains much more from level 6's match search: it stays at 6.
	var rep [][]byte
	for i := 0; i < 200; i++ {
		rep = append(rep, []byte(fmt.Sprintf(`{"n":%d,"items":[%s]}`, i, bytes.Repeat([]byte(fmt.Sprintf(`{"id":%d,"name":"item","tags":["a","b"]},`, i%7)), 40))))
	}
	e, _ = roundTrip(t, 6, rep)
	if e.adapt.compressed != uint64(len(rep)) || e.adapt.cur != 6 {
		t.Errorf("%d of %d repetitive frames deflated, at level %d; want all, at 6", e.adapt.compressed, len(rep), e.adapt.cur)
	}
}
