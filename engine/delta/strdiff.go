package delta

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// A string diff is a sequence of operations over the UTF-8 bytes of the old string:
//
//	n=        copy the next n old bytes
//	n-        skip the next n old bytes
//	n+BYTES|  insert the n bytes BYTES; the '|' only checks the count, BYTES may
//	          themselves contain digits, '=', '-', '+' or '|'
//
// The copied and skipped counts add up to the length of the old string.

// textDiffOverhead is what wrapping ops as ["ops",0,2] adds to the quoted ops.
const textDiffOverhead = len(`[,0,2]`)

// stringDelta returns the diff operations turning old into new, and false when
// new is too short for a diff to be worth it or the diff would not be smaller than
// sending new whole.
//
// It finds the longest common prefix and suffix and replaces what lies between: one
// edited region, which is the usual case for a document field, at linear cost.
func stringDelta(old, new string) (string, bool) {
	if len(new) < minStringDiffLen {
		return "", false
	}
	ops := stringOps(old, new)
	if encodedStringLen(ops)+textDiffOverhead >= encodedStringLen(new) {
		return "", false
	}
	return ops, true
}

// stringOps builds prefix-copy, delete, insert, suffix-copy operations. Cut points
// never fall inside a multi-byte character, so each operation covers whole
// characters and the inserted bytes are valid UTF-8 on their own.
func stringOps(old, new string) string {
	limit := min(len(old), len(new))
	prefix := 0
	for prefix < limit && old[prefix] == new[prefix] {
		prefix++
	}
	for prefix > 0 && !(isCharStart(old, prefix) && isCharStart(new, prefix)) {
		prefix--
	}
	suffix := 0
	for suffix < limit-prefix && old[len(old)-1-suffix] == new[len(new)-1-suffix] {
		suffix++
	}
	for suffix > 0 && !(isCharStart(old, len(old)-suffix) && isCharStart(new, len(new)-suffix)) {
		suffix--
	}

	var b strings.Builder
	if prefix > 0 {
		b.WriteString(strconv.Itoa(prefix))
		b.WriteByte('=')
	}
	if del := len(old) - prefix - suffix; del > 0 {
		b.WriteString(strconv.Itoa(del))
		b.WriteByte('-')
	}
	if ins := new[prefix : len(new)-suffix]; len(ins) > 0 {
		b.WriteString(strconv.Itoa(len(ins)))
		b.WriteByte('+')
		b.WriteString(ins)
		b.WriteByte('|')
	}
	if suffix > 0 {
		b.WriteString(strconv.Itoa(suffix))
		b.WriteByte('=')
	}
	return b.String()
}

// isCharStart reports whether byte offset i of s is a character boundary.
func isCharStart(s string, i int) bool {
	return i >= len(s) || !isContinuation(s[i])
}

func isContinuation(c byte) bool { return c&0xC0 == 0x80 }

// applyStringOps runs diff operations over old. Every count is checked against what
// remains of old or of ops before use, so hostile input cannot index out of range.
func applyStringOps(old, ops string) (string, error) {
	if ops == "" {
		return "", errors.New("empty string diff")
	}
	var b strings.Builder
	b.Grow(len(old))
	pos := 0 // bytes of old consumed
	for i := 0; i < len(ops); {
		start := i
		n := 0
		for i < len(ops) && ops[i] >= '0' && ops[i] <= '9' {
			// No valid count exceeds len(old)+len(ops); stopping there also rules
			// out overflow.
			n = n*10 + int(ops[i]-'0')
			if n > len(old)+len(ops) {
				return "", fmt.Errorf("string diff offset %d: count too large", start)
			}
			i++
		}
		if i == start {
			return "", fmt.Errorf("string diff offset %d: expected a count", start)
		}
		if i == len(ops) {
			return "", fmt.Errorf("string diff offset %d: count without an operation", start)
		}
		op := ops[i]
		i++
		switch op {
		case '=', '-':
			if n > len(old)-pos {
				return "", fmt.Errorf("string diff offset %d: %d%c runs past the end of the old string (%d bytes left)",
					start, n, op, len(old)-pos)
			}
			if op == '=' {
				b.WriteString(old[pos : pos+n])
			}
			pos += n
		case '+':
			if n > len(ops)-1-i || ops[i+n] != '|' {
				return "", fmt.Errorf("string diff offset %d: insertion of %d bytes not followed by '|'", start, n)
			}
			b.WriteString(ops[i : i+n])
			i += n + 1
		default:
			return "", fmt.Errorf("string diff offset %d: unknown operation %q", i-1, op)
		}
	}
	if pos != len(old) {
		return "", fmt.Errorf("string diff covers %d bytes of a %d-byte old string", pos, len(old))
	}
	s := b.String()
	if !utf8.ValidString(s) {
		return "", errors.New("string diff splits a UTF-8 character")
	}
	return s, nil
}
