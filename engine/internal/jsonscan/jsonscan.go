// Package jsonscan holds the byte-level scanning shared by the JSON readers of the store
// (body validation) and of delta (canonical-form check): finding where the plain run of a
// JSON string ends, eight bytes at a time.
package jsonscan

import "encoding/binary"

// PlainByte[c] is true for the bytes a JSON string holds as they are: all but the quote,
// the backslash and the control characters (below 0x20).
var PlainByte = func() (t [256]bool) {
	for c := range t {
		t[c] = c >= 0x20 && c != '"' && c != '\\'
	}
	return t
}()

// PlainRunEnd returns the index of the first byte at or after i that a JSON string does
// not hold as it is (quote, backslash, control character), or len(b). Plain bytes are
// skipped eight at a time first, then one by one.
func PlainRunEnd(b []byte, i int) int {
	for i+8 <= len(b) && !specialInWord(binary.LittleEndian.Uint64(b[i:])) {
		i += 8
	}
	for i < len(b) && PlainByte[b[i]] {
		i++
	}
	return i
}

const (
	lowBits  = 0x0101010101010101
	highBits = 0x8080808080808080
)

// specialInWord reports whether one of the eight bytes of w is a quote, a backslash or
// below 0x20. For any x, (x - 0x01…) & ^x & 0x80… is non-zero exactly when some byte of x
// is zero; with x = w XOR the byte repeated, when some byte equals it; and
// (w - 0x20…) & ^w & 0x80… is non-zero exactly when some byte of w is below 0x20.
func specialInWord(w uint64) bool {
	q := w ^ ('"' * lowBits)
	bs := w ^ ('\\' * lowBits)
	return ((q-lowBits)&^q|(bs-lowBits)&^bs|(w-0x20*lowBits)&^w)&highBits != 0
}
