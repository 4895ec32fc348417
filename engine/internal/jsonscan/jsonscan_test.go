package jsonscan

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// The eight-bytes-at-a-time test agrees with the byte table for every byte value in
// every position, among plain neighbours.
func TestSpecialInWord(t *testing.T) {
	for _, fill := range []byte{'a', 0x7f, 0x80, 0xff, ' '} {
		for pos := 0; pos < 8; pos++ {
			for c := 0; c < 256; c++ {
				var w [8]byte
				for k := range w {
					w[k] = fill
				}
				w[pos] = byte(c)
				want := false
				for _, b := range w {
					if !PlainByte[b] {
						want = true
					}
				}
				if got := specialInWord(binary.LittleEndian.Uint64(w[:])); got != want {
					t.Fatalf("word % x: specialInWord = %v, want %v", w, got, want)
				}
			}
		}
	}
}

func TestPlainByte(t *testing.T) {
	for c := 0; c < 256; c++ {
		want := c >= 0x20 && c != '"' && c != '\\'
		if PlainByte[c] != want {
			t.Fatalf("PlainByte[%#x] = %v, want %v", c, PlainByte[c], want)
		}
	}
}

// PlainRunEnd's eight-byte skip must stop exactly where the byte loop stops.
func TestPlainRunEndMatchesByteLoop(t *testing.T) {
	for _, special := range []byte{'"', '\\', 0, 0x1f, '\n'} {
		for n := 0; n < 40; n++ {
			for _, filler := range []byte{'a', 0x7f, 0x80, 0xff, 0x20, '!', '#', '[', ']'} {
				b := append(bytes.Repeat([]byte{filler}, n), special, 'x')
				if got := PlainRunEnd(b, 0); got != n {
					t.Fatalf("PlainRunEnd(%q) = %d, want %d", b, got, n)
				}
			}
		}
	}
	b := bytes.Repeat([]byte("é€😀 plain"), 50)
	if got := PlainRunEnd(b, 3); got != len(b) {
		t.Fatalf("PlainRunEnd over plain bytes = %d, want %d", got, len(b))
	}
}

// PlainRunEndBefore, given the next quote, stops where PlainRunEnd stops.
func TestPlainRunEndBeforeMatches(t *testing.T) {
	for _, special := range []byte{'"', '\\', 0, 0x1f, '\n'} {
		for n := 0; n < 80; n++ {
			for _, filler := range []byte{'a', 0x7f, 0x80, 0xff, 0x20, '!'} {
				b := append(bytes.Repeat([]byte{filler}, n), special, 'x', '"')
				for i := 0; i <= n; i += 7 {
					checkRunEnd(t, b, i)
				}
			}
		}
	}
}

func checkRunEnd(t *testing.T, b []byte, i int) {
	t.Helper()
	want := PlainRunEnd(b, i)
	if got := PlainRunEndBefore(b, i, NextQuote(b, i)); got != want {
		t.Fatalf("PlainRunEndBefore(%q, %d) = %d, PlainRunEnd %d", b, i, got, want)
	}
	c := -1
	for k, x := range b[i:] {
		if x < 0x20 {
			c = k
			break
		}
	}
	if got := ControlIndex(b[i:]); got != c {
		t.Fatalf("ControlIndex(%q) = %d, want %d", b[i:], got, c)
	}
}

func FuzzPlainRunEndBefore(f *testing.F) {
	f.Add([]byte(`plain text "quote`), 0)
	f.Add([]byte("esc\\\"aped\x01 and so on, long enough for a word or four ........"), 3)
	f.Fuzz(func(t *testing.T, b []byte, i int) {
		if i < 0 || i > len(b) {
			return
		}
		checkRunEnd(t, b, i)
	})
}

// Every length up to 70 (the 32- and 8-byte steps and the tail), every position, and
// three control bytes.
func TestControlIndexEveryPosition(t *testing.T) {
	for n := 0; n < 70; n++ {
		for at := -1; at < n; at++ {
			for _, c := range []byte{0, 0x1f, '\n'} {
				b := bytes.Repeat([]byte{0x20}, n)
				if at >= 0 {
					b[at] = c
				}
				if got := ControlIndex(b); got != at {
					t.Fatalf("ControlIndex(%q) = %d, want %d", b, got, at)
				}
			}
		}
	}
}
