package blobstore

import (
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
)

// Digest identifies a blob's content: the SHA-1 of its bytes. Its text form is
// "sha1-" followed by the standard base64 (with padding) of the 20 bytes, the form
// Couchbase Lite, LiteCore and Sync Gateway use.
type Digest [sha1.Size]byte

const digestPrefix = "sha1-"

// String returns "sha1-<base64>".
func (d Digest) String() string { return digestPrefix + base64.StdEncoding.EncodeToString(d[:]) }

// fileName is the name of the blob's file in the store directory.
func (d Digest) fileName() string { return hex.EncodeToString(d[:]) + blobSuffix }

// ParseDigest parses "sha1-<base64 of 20 bytes>". Anything else is ErrInvalid.
func ParseDigest(s string) (Digest, error) {
	var d Digest
	rest, ok := strings.CutPrefix(s, digestPrefix)
	if !ok {
		return d, fmt.Errorf("%w: digest %q does not start with %q", ErrInvalid, s, digestPrefix)
	}
	raw, err := base64.StdEncoding.Strict().DecodeString(rest)
	if err != nil || len(raw) != len(d) {
		return d, fmt.Errorf("%w: digest %q is not sha1- and the base64 of 20 bytes", ErrInvalid, s)
	}
	copy(d[:], raw)
	return d, nil
}

// DigestOf returns the digest of data (for small inputs and tests; the Writer computes it
// while streaming).
func DigestOf(data []byte) Digest { return Digest(sha1.Sum(data)) }

// parseFileName is the inverse of fileName; ok is false for any other name.
func parseFileName(name string) (Digest, bool) {
	var d Digest
	hexPart, ok := strings.CutSuffix(name, blobSuffix)
	if !ok || len(hexPart) != 2*len(d) || strings.ToLower(hexPart) != hexPart {
		return d, false
	}
	if _, err := hex.Decode(d[:], []byte(hexPart)); err != nil {
		return d, false
	}
	return d, true
}
