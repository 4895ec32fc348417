package delta

import (
	"bytes"
	"fmt"
	"sort"
)

// ApplyReverse is Apply, and also returns a delta that turns the result back into old
// byte for byte (Apply(out, reverse) == old), when that comes at little cost: reverse is
// nil otherwise, and the caller that needs one calls CreateExact(out, old). A receiver
// uses it to keep the base of a delta as a delta against the new body (see
// store.BaseDelta) without scanning both documents again.
//
// reverse is made for an object delta applied to a document in the canonical form
// Apply's fast path reads (see "Cost" in the package documentation): only the members
// the delta names can differ, so only those are compared, and each member's reverse is
// checked to rebuild its old text exactly. A delta that deletes a member gives no
// reverse (putting it back would append it after the others).
//
// Errors are Apply's.
func ApplyReverse(old, delta []byte) (out, reverse []byte, err error) {
	if d, derr := decodeJSON(delta, maxDeltaDepth); derr == nil {
		if dobj, isObj := d.(*object); isObj {
			if keys, raws, ok := topMembers(old); ok {
				out, ok, err := applyMembers(keys, raws, len(old), dobj)
				if ok {
					if err != nil {
						return nil, nil, fmt.Errorf("apply delta: %w", err)
					}
					return out, reverseMembers(keys, raws, dobj), nil
				}
			}
		}
	}
	out, err = Apply(old, delta)
	return out, nil, err
}

// reverseMembers returns the delta turning the result of applying the object delta d to
// the canonical document of members keys/raws back into that document, or nil (see
// ApplyReverse). d applied without error.
func reverseMembers(keys []string, raws []rawValue, d *object) []byte {
	doc := &object{keys: keys}
	type member struct {
		key string
		val any
	}
	var changed []member
	var added []string
	for j, k := range d.keys {
		i := doc.find(k)
		if i < 0 {
			added = append(added, k) // appended by d: the reverse deletes it
			continue
		}
		kd := d.vals[j]
		if isDeletion(kd) {
			return nil
		}
		ov, err := decodeJSON(raws[i], MaxDepth-1)
		if err != nil {
			return nil
		}
		p := (*path)(nil).child(k)
		nv, deleted, err := applyValue(p, ov, true, kd)
		if err != nil || deleted {
			return nil
		}
		// ov is not modified by applyValue (it builds new containers), so it is still
		// the old value.
		rd, differs := diff(nv, ov, true)
		if !differs {
			continue
		}
		back, deleted, err := applyValue(p, nv, true, rd)
		if err != nil || deleted {
			return nil
		}
		text, err := appendJSON(make([]byte, 0, len(raws[i])), back, 2, MaxDepth)
		if err != nil || !bytes.Equal(text, raws[i]) {
			return nil
		}
		changed = append(changed, member{k, rd})
	}
	// As Create orders an object delta: changed members, then deleted ones, each by key.
	sort.Slice(changed, func(a, b int) bool { return changed[a].key < changed[b].key })
	sort.Strings(added)
	r := &object{}
	for _, m := range changed {
		r.keys, r.vals = append(r.keys, m.key), append(r.vals, m.val)
	}
	for _, k := range added {
		r.keys, r.vals = append(r.keys, k), append(r.vals, deletion())
	}
	if len(r.keys) == 0 {
		return append([]byte(nil), noChange...)
	}
	out, err := appendJSON(nil, r, 1, maxDeltaDepth)
	if err != nil {
		return nil
	}
	return out
}
