package store

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
)

// maxRevIDLen bounds a revision ID; real ones are under 50 bytes. The bound
// also keeps byte(len(parent)) in the digest input exact.
const maxRevIDLen = 200

// maxGeneration keeps generations well inside int on every platform.
const maxGeneration = 1<<31 - 1

// parseRevID splits "<generation>-<digest>" and validates it: the generation
// is a positive decimal without leading zeros, the digest 1–128 lowercase hex
// digits (CBL writes 40, Sync Gateway 32).
func parseRevID(rev string) (gen int, digest string, err error) {
	if len(rev) == 0 || len(rev) > maxRevIDLen {
		return 0, "", fmt.Errorf("%w: %q: length must be 1-%d bytes", ErrInvalidRevID, rev, maxRevIDLen)
	}
	genText, digest, ok := strings.Cut(rev, "-")
	if !ok || genText == "" || digest == "" {
		return 0, "", fmt.Errorf("%w: %q: want <generation>-<hex digest>", ErrInvalidRevID, rev)
	}
	if genText[0] == '0' {
		return 0, "", fmt.Errorf("%w: %q: generation must be positive without leading zeros", ErrInvalidRevID, rev)
	}
	for i := 0; i < len(genText); i++ {
		if genText[i] < '0' || genText[i] > '9' {
			return 0, "", fmt.Errorf("%w: %q: generation is not a decimal number", ErrInvalidRevID, rev)
		}
	}
	g, err := strconv.Atoi(genText)
	if err != nil || g > maxGeneration {
		return 0, "", fmt.Errorf("%w: %q: generation out of range", ErrInvalidRevID, rev)
	}
	if len(digest) > 128 {
		return 0, "", fmt.Errorf("%w: %q: digest longer than 128 hex digits", ErrInvalidRevID, rev)
	}
	for i := 0; i < len(digest); i++ {
		c := digest[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return 0, "", fmt.Errorf("%w: %q: digest must be lowercase hex", ErrInvalidRevID, rev)
		}
	}
	return g, digest, nil
}

// revDigest returns the part after the first '-' of an already validated revID.
func revDigest(rev string) string {
	_, d, _ := strings.Cut(rev, "-")
	return d
}

// revGen returns the generation of an already validated revID.
func revGen(rev string) int {
	g, _, _ := parseRevID(rev)
	return g
}

// newRevID computes the revision ID of a new revision with the given parent
// ("" for a first revision), deletion flag and compact JSON body:
// "<gen>-" + hex(SHA-1(byte(len(parent)) || parent || byte(deleted) || body)).
func newRevID(parentGen int, parent string, deleted bool, body []byte) string {
	h := sha1.New()
	var pre [1]byte
	pre[0] = byte(len(parent))
	h.Write(pre[:])
	h.Write([]byte(parent))
	pre[0] = 0
	if deleted {
		pre[0] = 1
	}
	h.Write(pre[:])
	h.Write(body)
	var sum [sha1.Size]byte
	h.Sum(sum[:0])
	var buf [16 + 1 + 2*sha1.Size]byte
	out := strconv.AppendInt(buf[:0], int64(parentGen+1), 10)
	out = append(out, '-')
	n := len(out)
	out = out[:n+2*sha1.Size]
	hex.Encode(out[n:], sum[:])
	return string(out)
}

// compareRevs orders two leaves by the winner rule of PROTOCOL.md §4.7 and
// returns >0 if a wins over b: a live leaf beats a deleted one, then the
// higher generation, then the larger digest (string order).
func compareRevs(aDeleted bool, aGen int, a string, bDeleted bool, bGen int, b string) int {
	if aDeleted != bDeleted {
		if bDeleted {
			return 1
		}
		return -1
	}
	if aGen != bGen {
		if aGen > bGen {
			return 1
		}
		return -1
	}
	return strings.Compare(revDigest(a), revDigest(b))
}
