package delta

import (
	"bytes"
	"errors"
	"fmt"
)

// Sentinel errors. Every error returned by this package wraps exactly one of them.
var (
	// ErrInvalidDelta: the delta is not JSON, is not a well-formed delta, or does not
	// fit the old value (wrong type at a path, array index out of range, string
	// operations that do not add up to the old string, deletion of a missing key, ...).
	// A receiver treats it like an unknown delta base: ask for the full body.
	ErrInvalidDelta = errors.New("delta: invalid delta")

	// ErrInvalidJSON: an old or new document given to Create, or the old document
	// given to Apply, is not one complete JSON text in UTF-8, or nests deeper than
	// MaxDepth.
	ErrInvalidJSON = errors.New("delta: invalid JSON")
)

// MaxDepth is the deepest nesting of objects and arrays accepted in documents (and
// produced by Apply); the top-level container is at depth 1. Deeper documents fail
// with ErrInvalidJSON instead of using unbounded stack. A delta may nest one level
// more (maxDeltaDepth), because replacing a container wraps it in an array.
const MaxDepth = 512

// maxDeltaDepth bounds the nesting of deltas: a replaced container X at depth k of
// the new value travels as [X], so X sits at depth k+1 of the delta.
const maxDeltaDepth = MaxDepth + 1

// minStringDiffLen is the shortest new string for which Create tries a string diff;
// shorter strings are always replaced whole. Same threshold as Couchbase Lite.
const minStringDiffLen = 60

// noChange is the delta of two equal values: an empty object delta, which leaves
// any value unchanged (the reference encoder writes the same).
var noChange = []byte("{}")

// Create returns a delta that turns the JSON text old into the JSON text new.
//
// Equal values (member order and insignificant whitespace aside) give "{}", which
// Apply maps back to old unchanged. The output is compact JSON whose member order is
// deterministic: within each object delta, changed and added keys in byte order,
// then deleted keys in byte order.
//
// Errors wrap ErrInvalidJSON.
func Create(old, new []byte) ([]byte, error) {
	if ro, rn, _, _, ok := createRaw(old, new); ok {
		// Both are objects in canonical form: members equal as text stay undecoded.
		return encodeDiff(ro, rn)
	}
	return createDecoded(old, new)
}

// CreateExact returns a delta d that Apply(old, d) turns into exactly the bytes of new,
// as Create makes it; exact is false (and d nil) when Apply would rebuild another text
// (the format cannot move a member, so added members land after the old ones and kept
// members keep their old order; a text not in the canonical form Apply writes is
// rebuilt in that form). It is what a sender checks before sending a delta, cheaper
// than Create followed by Apply: for two documents in canonical form the members
// scanned by Create are reused, not scanned a second time.
//
// Errors wrap ErrInvalidJSON, as Create's.
func CreateExact(old, new []byte) (d []byte, exact bool, err error) {
	ro, rn, oraws, nraws, raw := createRaw(old, new)
	if !raw {
		if d, err = createDecoded(old, new); err != nil {
			return nil, false, err
		}
		rebuilt, err := Apply(old, d)
		if err != nil || !bytes.Equal(rebuilt, new) {
			return nil, false, nil
		}
		return d, true, nil
	}
	// The receiver's Apply decodes d and splices it into old's members (applyRaw):
	// the same here, with old's and new's members as createRaw split them, compared
	// member by member (rebuildsExactly) rather than as a rebuilt copy of new.
	keys, nkeys := ro.keys, rn.keys
	if d, err = encodeDiff(ro, rn); err != nil {
		return nil, false, err
	}
	dv, err := decodeJSON(d, maxDeltaDepth)
	if err != nil {
		return nil, false, nil
	}
	dobj, isObj := dv.(*object)
	if !isObj {
		return nil, false, nil // a document delta is an object (encodeDiff of two objects)
	}
	if !rebuildsExactly(keys, oraws, dobj, nkeys, nraws) {
		return nil, false, nil
	}
	return d, true, nil
}

// createDecoded is Create's general path: both texts are decoded whole.
func createDecoded(old, new []byte) ([]byte, error) {
	o, err := decodeJSON(old, MaxDepth)
	if err != nil {
		return nil, fmt.Errorf("create delta: decode old value: %w: %v", ErrInvalidJSON, err)
	}
	n, err := decodeJSON(new, MaxDepth)
	if err != nil {
		return nil, fmt.Errorf("create delta: decode new value: %w: %v", ErrInvalidJSON, err)
	}
	return encodeDiff(o, n)
}

// encodeDiff writes the delta turning the decoded value o into n.
func encodeDiff(o, n any) ([]byte, error) {
	d, changed := diff(o, n, false)
	if !changed {
		return append([]byte(nil), noChange...), nil
	}
	// The delta is at most one level deeper than new (see maxDeltaDepth), so this
	// cannot fail for values that decoded; the check guards against a bug producing
	// a delta that Apply would refuse.
	out, err := appendJSON(nil, d, 1, maxDeltaDepth)
	if err != nil {
		return nil, fmt.Errorf("create delta: encode delta: %w: %v", ErrInvalidJSON, err)
	}
	return out, nil
}

// Apply returns the JSON text obtained by applying delta to the JSON text old.
// Members of old that the delta does not touch keep their order; added members
// follow them in the delta's order. The output is compact JSON; numbers are
// written exactly as they appear in old or in the delta.
//
// Errors wrap ErrInvalidJSON (old is not valid JSON) or ErrInvalidDelta (the delta
// is malformed or does not fit old).
func Apply(old, delta []byte) ([]byte, error) {
	if d, err := decodeJSON(delta, maxDeltaDepth); err == nil {
		// An object delta on a document in canonical form (as this package and the
		// store write them): only the members it names are decoded, the others are
		// copied as they are, which is byte for byte what re-encoding them gives.
		if out, ok, err := applyRaw(old, d); ok {
			if err != nil {
				return nil, fmt.Errorf("apply delta: %w", err)
			}
			return out, nil
		}
	}
	return applyDecoded(old, delta)
}

// applyDecoded is Apply's general path: both texts are decoded whole.
func applyDecoded(old, delta []byte) ([]byte, error) {
	o, err := decodeJSON(old, MaxDepth)
	if err != nil {
		return nil, fmt.Errorf("apply delta: decode old value: %w: %v", ErrInvalidJSON, err)
	}
	d, err := decodeJSON(delta, maxDeltaDepth)
	if err != nil {
		return nil, fmt.Errorf("apply delta: decode delta: %w: %v", ErrInvalidDelta, err)
	}
	n, err := applyTop(o, d)
	if err != nil {
		return nil, fmt.Errorf("apply delta: %w", err)
	}
	// The result is usually about the size of old; starting there avoids regrowing
	// the buffer while long strings are copied. The depth check is a safety net: a
	// value carried by a delta sits one level deeper in the delta than in the
	// result, so a delta within maxDeltaDepth cannot build a result deeper than
	// MaxDepth.
	out, err := appendJSON(make([]byte, 0, len(old)+len(delta)), n, 1, MaxDepth)
	if err != nil {
		return nil, fmt.Errorf("apply delta: encode result: %w: %v", ErrInvalidDelta, err)
	}
	return out, nil
}
