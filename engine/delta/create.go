package delta

import (
	"encoding/json"
	"sort"
	"strconv"
)

// Delta values built by diff use the decoded-value types of value.go: an object
// delta is an *object, a wrapped replacement or deletion is a []any, a scalar
// replacement is the scalar itself.

// deletion is the delta of a removed object member.
func deletion() any { return []any{} }

// textDiffCode and deletionCode are the third item of a three-item array delta
// (JsonDiffPatch conventions kept by the Couchbase format).
const (
	deletionCode = 0
	textDiffCode = 2
)

// diff returns the delta turning old into new and whether there is any change.
// inContainer is false only for the top-level call: there a scalar replacement must
// be wrapped as [value], because a bare scalar is not a document delta.
func diff(old, new any, inContainer bool) (any, bool) {
	switch o := old.(type) {
	case *object:
		if n, ok := new.(*object); ok {
			return diffObject(o, n)
		}
	case []any:
		if n, ok := new.([]any); ok {
			if len(o) > 0 && len(n) > 0 {
				return diffArray(o, n)
			}
			if len(o) == 0 && len(n) == 0 {
				return nil, false
			}
			// One side empty: nothing to compare index-wise; replace the whole array.
		}
	case string:
		if n, ok := new.(string); ok {
			if o == n {
				return nil, false
			}
			if ops, ok := stringDelta(o, n); ok {
				return []any{ops, json.Number("0"), json.Number(strconv.Itoa(textDiffCode))}, true
			}
		}
	default:
		if equal(old, new) {
			return nil, false
		}
	}
	return replacement(new, inContainer), true
}

// replacement is the delta that sets a value regardless of the old one.
func replacement(new any, inContainer bool) any {
	if inContainer && !isContainer(new) {
		return new
	}
	return []any{new}
}

// diffObject emits changed and added members, then deleted ones, each group in key
// byte order so that equal inputs always give byte-identical deltas.
func diffObject(old, new *object) (any, bool) {
	keys := append([]string(nil), new.keys...)
	sort.Strings(keys)
	d := &object{}
	seen := 0
	for _, k := range keys {
		nv, _ := new.lookup(k)
		ov, ok := old.lookup(k)
		if !ok {
			d.keys = append(d.keys, k)
			d.vals = append(d.vals, replacement(nv, true))
			continue
		}
		seen++
		if kd, changed := diff(ov, nv, true); changed {
			d.keys = append(d.keys, k)
			d.vals = append(d.vals, kd)
		}
	}
	if seen < len(old.keys) {
		gone := make([]string, 0, len(old.keys)-seen)
		for _, k := range old.keys {
			if _, ok := new.lookup(k); !ok {
				gone = append(gone, k)
			}
		}
		sort.Strings(gone)
		for _, k := range gone {
			d.keys = append(d.keys, k)
			d.vals = append(d.vals, deletion())
		}
	}
	return d, len(d.keys) > 0
}

// diffArray compares items at equal indexes only (no move or insert detection, as
// in the reference encoder), then replaces the tail when the lengths differ.
func diffArray(old, new []any) (any, bool) {
	d := &object{}
	common := min(len(old), len(new))
	for i := 0; i < common; i++ {
		if id, changed := diff(old[i], new[i], true); changed {
			d.keys = append(d.keys, strconv.Itoa(i))
			d.vals = append(d.vals, id)
		}
	}
	if len(old) != len(new) {
		d.keys = append(d.keys, strconv.Itoa(common)+"-")
		d.vals = append(d.vals, append([]any{}, new[common:]...))
	}
	return d, len(d.keys) > 0
}
