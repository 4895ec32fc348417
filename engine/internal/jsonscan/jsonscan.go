// Package jsonscan holds the byte-level scanning shared by the JSON readers of the store
// (body validation) and of delta (canonical-form check): finding where the plain run of a
// JSON string ends, eight bytes at a time.
package jsonscan

import (
	"bytes"
	"encoding/binary"
)

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

// NextQuote returns the index of the first '"' at or after i, or len(b). It uses the
// runtime's vectorised byte search, much faster than a byte loop on long strings.
func NextQuote(b []byte, i int) int {
	if k := bytes.IndexByte(b[i:], '"'); k >= 0 {
		return i + k
	}
	return len(b)
}

// PlainRunEndBefore is PlainRunEnd for a caller that knows q = NextQuote(b, i): it
// returns the same index, the first quote, backslash or control character at or after
// i. It searches b[i:q] for a backslash with the vectorised byte search and for a
// control character 32 bytes at a time, so a string scanner that keeps q while it is
// ahead of its position (a string's next quote does not move while escapes before it
// are read) passes over each byte a bounded number of times.
func PlainRunEndBefore(b []byte, i, q int) int {
	seg := b[i:q]
	if k := bytes.IndexByte(seg, '\\'); k >= 0 {
		seg = seg[:k]
	}
	if k := ControlIndex(seg); k >= 0 {
		return i + k
	}
	return i + len(seg)
}

// ControlIndex returns the index of the first byte of s below 0x20 (a control
// character, which a JSON string may not hold as it is), or -1. It tests four words of
// eight bytes per step; (w - 0x20…) & ^w & 0x80… is non-zero exactly when some byte of
// w is below 0x20.
func ControlIndex(s []byte) int {
	i := 0
	for ; i+32 <= len(s); i += 32 {
		w := s[i : i+32 : i+32]
		a := binary.LittleEndian.Uint64(w[0:8])
		b := binary.LittleEndian.Uint64(w[8:16])
		c := binary.LittleEndian.Uint64(w[16:24])
		d := binary.LittleEndian.Uint64(w[24:32])
		if ((a-0x20*lowBits)&^a|(b-0x20*lowBits)&^b|(c-0x20*lowBits)&^c|(d-0x20*lowBits)&^d)&highBits != 0 {
			break
		}
	}
	for ; i+8 <= len(s); i += 8 {
		if w := binary.LittleEndian.Uint64(s[i:]); (w-0x20*lowBits)&^w&highBits != 0 {
			break
		}
	}
	for ; i < len(s); i++ {
		if s[i] < 0x20 {
			return i
		}
	}
	return -1
}
