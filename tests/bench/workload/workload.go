// Package workload generates the benchmark documents of
// shared/bench/WORKLOAD.md, so that every benchmark (W1–W4) moves exactly
// the same bytes and figures can be compared across systems, and the
// documents and blobs of W5 (tests/bench/WORKLOAD.md).
package workload

import (
	"encoding/binary"
	"io"
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

// Blob workload (W5, tests/bench/WORKLOAD.md): document i of the picture set has the
// ID PicturePrefix + i zero-padded, the body of the ~1 KB set plus an "image" blob
// dictionary, and BlobContent(i, size) as its blob.
const (
	PicturePrefix      = "pic-"
	PictureBlobSize    = 10 << 20 // 10 MiB per blob in the full workload
	PictureContentType = "image/jpeg"
)

// BlobContent is the content of blob i: size bytes from a 32-bit xorshift generator
// (shifts 13, 17, 5) seeded with ((i × 2246822519) mod 2³²) XOR 0x85EBCA6B (1 if that is
// 0); each step yields the generator's 32-bit state as 4 bytes, least significant first
// (the last step is cut short when size is not a multiple of 4). Like a photo it does
// not compress. The reader generates the bytes as they are read (nothing is buffered).
func BlobContent(i int, size int64) io.Reader {
	x := uint32(uint64(i)*2246822519) ^ 0x85EBCA6B
	if x == 0 {
		x = 1
	}
	return &blobContent{x: x, left: size}
}

type blobContent struct {
	x    uint32
	left int64
	// pending holds the bytes of the current 32-bit word not returned yet.
	pending [4]byte
	npend   int
}

func (r *blobContent) Read(p []byte) (int, error) {
	if r.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > r.left {
		p = p[:r.left]
	}
	n := 0
	for n < len(p) && r.npend > 0 {
		p[n] = r.pending[4-r.npend]
		r.npend--
		n++
	}
	for len(p)-n >= 4 {
		r.step()
		binary.LittleEndian.PutUint32(p[n:], r.x)
		n += 4
	}
	if n < len(p) {
		r.step()
		binary.LittleEndian.PutUint32(r.pending[:], r.x)
		r.npend = 4
		for n < len(p) {
			p[n] = r.pending[4-r.npend]
			r.npend--
			n++
		}
	}
	r.left -= int64(n)
	return n, nil
}

func (r *blobContent) step() {
	r.x ^= r.x << 13
	r.x ^= r.x >> 17
	r.x ^= r.x << 5
}

// PictureDoc returns document i of the picture set: its ID and its body, the ~1 KB
// document of Doc with the blob dictionary blobJSON (as the blob store wrote it) added
// as the last key, "image".
func PictureDoc(i int, blobJSON []byte) (id string, body []byte) {
	_, doc := Doc(PicturePrefix, i, SmallPayload)
	body = append(doc[:len(doc)-1:len(doc)-1], `,"image":`...)
	body = append(body, blobJSON...)
	body = append(body, '}')
	return PicturePrefix + pad6(i), body
}
