package hlv

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrSyntax is wrapped by every parse error of this package.
var ErrSyntax = errors.New("hlv: malformed version")

// SourceIDLen is the length of a source ID as Couchbase Lite makes one: 16 bytes in
// standard base64 without padding.
const SourceIDLen = 22

// LegacySource is the source of the stand-in version of a rev-tree revision that has no
// version vector (see LegacyVersion).
const LegacySource = "Revision+Tree+Encoding"

// maxSourceLen bounds a source read from a peer. Couchbase Lite's and Sync Gateway's are
// 22 characters; Sync Gateway keeps a peer's source verbatim, so longer ones are
// tolerated up to this length.
const maxSourceLen = 128

// Version is one entry of a version vector: the hybrid-logical-clock time at which
// Source last changed the document.
type Version struct {
	Time   uint64 // nanoseconds since the Unix epoch, low 16 bits a logical counter
	Source string // the writer's source ID, verbatim
}

// IsZero reports whether v is the zero Version (no version).
func (v Version) IsZero() bool { return v.Time == 0 && v.Source == "" }

// String returns the wire form: the time in lowercase hex without leading zeros, "@",
// the source.
func (v Version) String() string {
	return string(v.append(nil))
}

func (v Version) append(b []byte) []byte {
	b = strconv.AppendUint(b, v.Time, 16)
	b = append(b, '@')
	return append(b, v.Source...)
}

// NewSourceID returns a new random source ID in Couchbase Lite's form: 16 random bytes,
// base64 (standard alphabet) without padding, 22 characters.
func NewSourceID() (string, error) {
	var raw [16]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", fmt.Errorf("hlv: generate source ID: %w", err)
	}
	return SourceIDFromBytes(raw), nil
}

// SourceIDFromBytes encodes 16 bytes as a source ID.
func SourceIDFromBytes(raw [16]byte) string {
	return base64.RawStdEncoding.EncodeToString(raw[:])
}

// IsCanonicalSourceID reports whether s is a source ID Couchbase Lite itself would
// accept: 22 characters of standard base64 decoding to exactly 16 bytes (the unused low
// bits of the last character zero). LegacySource is one.
func IsCanonicalSourceID(s string) bool {
	if len(s) != SourceIDLen {
		return false
	}
	raw, err := base64.RawStdEncoding.Strict().DecodeString(s)
	return err == nil && len(raw) == 16
}

// checkSource validates a source read from text: 1..maxSourceLen printable ASCII
// characters other than the separators ',' ';' '@' and space, and not the bare "*"
// (Couchbase Lite's local shorthand, never valid between peers).
func checkSource(s string) error {
	switch {
	case s == "":
		return fmt.Errorf("%w: empty source", ErrSyntax)
	case len(s) > maxSourceLen:
		return fmt.Errorf("%w: source of %d bytes (limit %d)", ErrSyntax, len(s), maxSourceLen)
	case s == "*":
		return fmt.Errorf("%w: source \"*\" (a local shorthand) is not an absolute source ID", ErrSyntax)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || c == ',' || c == ';' || c == '@' {
			return fmt.Errorf("%w: source %q has the invalid character %q", ErrSyntax, s, c)
		}
	}
	return nil
}

// ParseVersion parses one version "<hex time>@<source>". Upper-case hex and leading
// zeros are accepted (the String form has neither), as is one run of leading spaces;
// the time must be non-zero and fit in 64 bits.
func ParseVersion(s string) (Version, error) {
	t := strings.TrimLeft(s, " ")
	at := strings.IndexByte(t, '@')
	if at < 0 {
		return Version{}, fmt.Errorf("%w: %q has no '@'", ErrSyntax, clip(s))
	}
	hex, src := t[:at], t[at+1:]
	if hex == "" || len(strings.TrimLeft(hex, "0")) > 16 {
		return Version{}, fmt.Errorf("%w: %q: time must be 1 to 16 hex digits", ErrSyntax, clip(s))
	}
	for i := 0; i < len(hex); i++ {
		if !isHex(hex[i]) {
			return Version{}, fmt.Errorf("%w: %q: time is not hexadecimal", ErrSyntax, clip(s))
		}
	}
	n, err := strconv.ParseUint(hex, 16, 64)
	if err != nil {
		return Version{}, fmt.Errorf("%w: %q: %v", ErrSyntax, clip(s), err)
	}
	if n == 0 {
		return Version{}, fmt.Errorf("%w: %q: time is zero", ErrSyntax, clip(s))
	}
	if err := checkSource(src); err != nil {
		return Version{}, fmt.Errorf("%w (in %q)", err, clip(s))
	}
	return Version{Time: n, Source: src}, nil
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// clip shortens text quoted in an error message.
func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// IsLegacyRevID reports whether s has the shape of a rev-tree revision ID: a positive
// decimal generation, '-', then at least one character. This is how Sync Gateway tells
// the two kinds apart inside a CBMobile_4 connection.
func IsLegacyRevID(s string) bool {
	dash := strings.IndexByte(s, '-')
	if dash <= 0 || dash == len(s)-1 || dash > 10 {
		return false
	}
	gen, err := strconv.ParseUint(s[:dash], 10, 32)
	return err == nil && gen > 0 && s[0] != '+'
}

// LegacyVersion returns the stand-in version of a rev-tree revision "<gen>-<hex digest>"
// that has no version vector, as Couchbase Lite and Sync Gateway derive it: the time is
// the generation shifted left by 40 bits, OR the first 40 bits of the digest (its first
// 10 hex digits, right-padded with '0'); the source is LegacySource. In hex this reads as
// the generation followed by exactly 10 digest digits ("2-e95bdc5242…" →
// "2e95bdc5242@Revision+Tree+Encoding").
func LegacyVersion(revID string) (Version, error) {
	dash := strings.IndexByte(revID, '-')
	if !IsLegacyRevID(revID) {
		return Version{}, fmt.Errorf("%w: %q is not a rev-tree revision ID", ErrSyntax, clip(revID))
	}
	gen, _ := strconv.ParseUint(revID[:dash], 10, 32)
	if gen >= 1<<24 {
		return Version{}, fmt.Errorf("%w: %q: generation too large for a legacy version", ErrSyntax, clip(revID))
	}
	digest := revID[dash+1:]
	var d [10]byte
	for i := range d {
		d[i] = '0'
		if i < len(digest) {
			d[i] = digest[i]
		}
	}
	low, err := strconv.ParseUint(string(d[:]), 16, 64)
	if err != nil {
		return Version{}, fmt.Errorf("%w: %q: digest is not hexadecimal", ErrSyntax, clip(revID))
	}
	return Version{Time: gen<<40 | low, Source: LegacySource}, nil
}
