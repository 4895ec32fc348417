package wire

import (
	"errors"
	"fmt"
)

// Bounds on the lists a peer's message may hold for this end to decode it. Decoding a
// JSON list into Go values costs far more than its bytes when its entries are short (a
// string header, an allocation, slice growth: 10 to 20 times a list of one-character
// strings), so a message within the size cap (Limits.MaxMessageSize, 20 MiB) could still
// cost hundreds of MiB. Each list below is counted before it is decoded
// (ElementsOver, which allocates nothing) and a longer one is refused with an error
// wrapping ErrTooLong (and ErrBadMessage): engine/syncproto answers a request holding one
// HTTP/413. Every bound is far above what Couchbase Lite, Sync Gateway or this library
// send.
const (
	// MaxDocIDs bounds the docIDs filter of a subChanges request. Neither Couchbase Lite
	// nor Sync Gateway bounds it (a list of document IDs configured on the pulling
	// replicator); with this bound the filter costs the serving side a few MiB at most.
	MaxDocIDs = 100000
	// MaxCollections bounds the collections a getCollections request names (and so the
	// checkpoint IDs). Couchbase Server allows 1,000 collections in a cluster.
	MaxCollections = 1000
	// MaxRevHistory bounds the entries of a rev message's "history" property: rev-tree
	// IDs up to the maxHistory the receiver advertised (20 here and in Couchbase Lite),
	// or, with version vectors, the versions of the revision's vector.
	MaxRevHistory = 10000
	// MaxKnownRevs bounds the revisions one entry of a changes answer lists as known to
	// the receiver (Couchbase Lite lists at most 10, this library 1).
	MaxKnownRevs = 1000
	// MaxRemoteCheckpointSize bounds a checkpoint read back from the peer (a
	// getCheckpoint answer, an entry of a getCollections answer). The checkpoints of
	// Couchbase Lite, Sync Gateway and this library are under 200 bytes; a passive peer
	// of this library stores at most Limits.MaxCheckpointSize (16 KiB by default).
	MaxRemoteCheckpointSize = 1 << 20
)

// ErrTooLong: a peer's message holds a list longer than this end decodes (see MaxDocIDs
// and the bounds next to it). Errors wrapping it wrap ErrBadMessage too.
var ErrTooLong = errors.New("syncproto: list too long")

func tooLongf(format string, args ...any) error {
	return fmt.Errorf("%w: %w: "+format, append([]any{ErrBadMessage, ErrTooLong}, args...)...)
}

// ElementsOver reports whether the JSON text b holds more than limit array elements,
// counting the elements of every array at any depth (an object's members are not
// counted; arrays inside them are). It reads only until the count passes limit, does not
// validate (a malformed text is left to the decoder) and allocates only for texts nested
// more than 64 levels deep (a bit per level).
func ElementsOver(b []byte, limit int) bool { return elementsOver(b, limit, -1) }

// ArrayLenOver reports whether the JSON array b has more than limit elements of its own
// (those of arrays inside it are not counted), read as ElementsOver reads.
func ArrayLenOver(b []byte, limit int) bool { return elementsOver(b, limit, 1) }

// elementsOver counts the elements of the arrays at depth maxDepth or less (every array
// when maxDepth < 0; the outermost value is at depth 1).
func elementsOver(b []byte, limit, maxDepth int) bool {
	n := 0
	var fixed [1]uint64
	kinds := fixed[:] // bit d-1: the container at depth d is an array
	depth := 0
	counts := func() bool { // an element of the container at depth is counted
		return depth > 0 && (maxDepth < 0 || depth <= maxDepth) && kinds[(depth-1)/64]&(1<<((depth-1)%64)) != 0
	}
	first := false // just after '[': the next non-blank byte other than ']' starts an element
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch c {
		case ' ', '\t', '\n', '\r':
			continue
		}
		if first {
			first = false
			if c != ']' && counts() {
				if n++; n > limit {
					return true
				}
			}
		}
		switch c {
		case '"':
			i = stringEnd(b, i+1)
		case '[', '{':
			depth++
			w, bit := (depth-1)/64, uint64(1)<<((depth-1)%64)
			if w == len(kinds) {
				kinds = append(kinds, 0)
			}
			if c == '[' {
				kinds[w] |= bit
				first = true
			} else {
				kinds[w] &^= bit
			}
		case ']', '}':
			if depth > 0 {
				depth--
			}
		case ',':
			if counts() {
				if n++; n > limit {
					return true
				}
			}
		}
	}
	return false
}
