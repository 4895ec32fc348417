// Package workload generates the benchmark documents of
// shared/bench/WORKLOAD.md, so that every benchmark (W1–W4) moves exactly
// the same bytes and figures can be compared across systems.
package workload

import (
	"strconv"
)

// Payload lengths of the two document sets.
const (
	SmallPayload = 900    // the ~1 KB set (prefix "doc-")
	LargePayload = 100000 // the ~100 KB set (prefix "big-")
)

const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// Doc returns document i (i >= 1) of a set: its ID (prefix + i zero-padded
// to 6 digits; the ID is not a body property) and its compact JSON body with
// keys in spec order: n, kind, group, score, created, payload.
func Doc(prefix string, i, payloadLen int) (id string, body []byte) {
	id = prefix + pad6(i)
	body = make([]byte, 0, 128+payloadLen)
	body = append(body, `{"n":`...)
	body = strconv.AppendInt(body, int64(i), 10)
	body = append(body, `,"kind":"bench","group":"g`...)
	body = strconv.AppendInt(body, int64(i%100), 10)
	body = append(body, `","score":`...)
	body = strconv.AppendFloat(body, float64((i*7919)%100000)/100, 'f', -1, 64)
	body = append(body, `,"created":"2024-01-01T00:00:00.000Z","payload":"`...)
	body = appendPayload(body, i, payloadLen)
	body = append(body, `"}`...)
	return id, body
}

// Payload returns payload(i, L) of the spec: L characters from a 32-bit
// xorshift generator seeded from i.
func Payload(i, length int) string {
	return string(appendPayload(nil, i, length))
}

func appendPayload(dst []byte, i, length int) []byte {
	x := uint32(uint64(i)*2654435761) ^ 0x9E3779B9
	if x == 0 {
		x = 1
	}
	for k := 0; k < length; k++ {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		dst = append(dst, alphabet[x&63])
	}
	return dst
}

func pad6(i int) string {
	s := strconv.Itoa(i)
	for len(s) < 6 {
		s = "0" + s
	}
	return s
}
