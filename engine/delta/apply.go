package delta

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// path locates a value inside the document, for error messages only. It is a
// linked list from the innermost key outwards and is formatted only on failure.
type path struct {
	parent *path
	key    string
}

func (p *path) String() string {
	if p == nil {
		return "/"
	}
	var parts []string
	for q := p; q != nil; q = q.parent {
		parts = append(parts, q.key)
	}
	// JSON Pointer escaping, so that keys containing '/' stay readable.
	esc := strings.NewReplacer("~", "~0", "/", "~1")
	var b strings.Builder
	for i := len(parts) - 1; i >= 0; i-- {
		b.WriteByte('/')
		b.WriteString(esc.Replace(parts[i]))
	}
	return b.String()
}

func (p *path) child(key string) *path { return &path{parent: p, key: key} }

func invalid(p *path, format string, args ...any) error {
	return fmt.Errorf("at %s: %w: %s", p, ErrInvalidDelta, fmt.Sprintf(format, args...))
}

// applyTop applies a whole-document delta. Deleting the document itself is not
// something a delta can express.
func applyTop(old, d any) (any, error) {
	n, deleted, err := applyValue(nil, old, true, d)
	if err != nil {
		return nil, err
	}
	if deleted {
		return nil, invalid(nil, "a delta cannot delete the whole value")
	}
	return n, nil
}

// applyValue applies delta d to old (hasOld false: the member does not exist yet).
// deleted reports that d removes the value; only an object member can be removed,
// which the caller checks.
func applyValue(p *path, old any, hasOld bool, d any) (n any, deleted bool, err error) {
	switch d := d.(type) {
	case *object:
		if !hasOld {
			return nil, false, invalid(p, "object delta for a missing value")
		}
		switch o := old.(type) {
		case *object:
			n, err := patchObject(p, o, d)
			return n, false, err
		case []any:
			n, err := patchArray(p, o, d)
			return n, false, err
		}
		if len(d.keys) == 0 {
			return old, false, nil // {} leaves a scalar unchanged
		}
		return nil, false, invalid(p, "object delta applied to a %s", kindOf(old))
	case []any:
		return applyArrayDelta(p, old, hasOld, d)
	}
	// A bare scalar replaces whatever was there.
	return d, false, nil
}

// applyArrayDelta handles the array forms:
//
//	[]            delete
//	[X]           replace with X
//	[old, new]    replace with new (JsonDiffPatch)
//	[old, 0, 0]   delete (JsonDiffPatch)
//	[ops, 0, 2]   string diff
func applyArrayDelta(p *path, old any, hasOld bool, d []any) (any, bool, error) {
	switch len(d) {
	case 0:
		if !hasOld {
			return nil, false, invalid(p, "deletion of a missing value")
		}
		return nil, true, nil
	case 1:
		return d[0], false, nil
	case 2:
		if !hasOld {
			return nil, false, invalid(p, "[old, new] replacement of a missing value")
		}
		return d[1], false, nil
	case 3:
		code, ok := arrayDeltaCode(d)
		if !ok {
			return nil, false, invalid(p, "unknown three-item delta code %v", d[2])
		}
		if code == deletionCode {
			if !hasOld {
				return nil, false, invalid(p, "deletion of a missing value")
			}
			return nil, true, nil
		}
		oldStr, ok := old.(string)
		if !hasOld || !ok {
			return nil, false, invalid(p, "string diff applied to a %s", kindOfMaybe(old, hasOld))
		}
		ops, ok := d[0].(string)
		if !ok {
			return nil, false, invalid(p, "string diff operations are a %s, not a string", kindOf(d[0]))
		}
		s, err := applyStringOps(oldStr, ops)
		if err != nil {
			return nil, false, invalid(p, "%v", err)
		}
		return s, false, nil
	}
	return nil, false, invalid(p, "array delta with %d items", len(d))
}

// arrayDeltaCode returns the code of a three-item array delta when it is one this
// package knows (deletion or text diff). Array moves (code 3) are not part of the
// Couchbase format.
func arrayDeltaCode(d []any) (int, bool) {
	num, ok := d[2].(json.Number)
	if !ok {
		return 0, false
	}
	f, err := strconv.ParseFloat(string(num), 64)
	if err != nil {
		return 0, false
	}
	switch f {
	case deletionCode:
		return deletionCode, true
	case textDiffCode:
		return textDiffCode, true
	}
	return 0, false
}

// isDeletion reports whether d removes the value it applies to.
func isDeletion(d any) bool {
	a, ok := d.([]any)
	if !ok {
		return false
	}
	if len(a) == 0 {
		return true
	}
	if len(a) == 3 {
		code, ok := arrayDeltaCode(a)
		return ok && code == deletionCode
	}
	return false
}

// patchObject applies an object delta to an object. Members keep their order;
// members the delta adds are appended in the delta's order.
func patchObject(p *path, old, d *object) (*object, error) {
	out := &object{
		keys: make([]string, len(old.keys), len(old.keys)+len(d.keys)),
		vals: make([]any, len(old.vals), len(old.vals)+len(d.keys)),
	}
	copy(out.keys, old.keys)
	copy(out.vals, old.vals)
	var removed []bool // by index into old; allocated on the first deletion
	for j, k := range d.keys {
		kd := d.vals[j]
		i := old.find(k)
		if i < 0 {
			nv, _, err := applyValue(p.child(k), nil, false, kd)
			if err != nil {
				return nil, err
			}
			out.keys = append(out.keys, k)
			out.vals = append(out.vals, nv)
			continue
		}
		if isDeletion(kd) {
			if removed == nil {
				removed = make([]bool, len(old.keys))
			}
			removed[i] = true
			continue
		}
		nv, _, err := applyValue(p.child(k), old.vals[i], true, kd)
		if err != nil {
			return nil, err
		}
		out.vals[i] = nv
	}
	if removed != nil {
		w := 0
		for r := range out.keys {
			if r < len(removed) && removed[r] {
				continue
			}
			out.keys[w], out.vals[w] = out.keys[r], out.vals[r]
			w++
		}
		out.keys, out.vals = out.keys[:w], out.vals[:w]
	}
	return out, nil
}

// patchArray applies an object delta to an array: "i" keys patch item i, one
// "n-" key replaces everything from index n on. The reference decoder silently
// ignores keys it does not reach; this one rejects them, because a delta with such
// keys was not made from this old value (the encoder never writes them).
func patchArray(p *path, old []any, d *object) ([]any, error) {
	cut := len(old) // where the tail replacement starts
	var tail []any
	hasTail := false
	for j, k := range d.keys {
		if strings.HasSuffix(k, "-") {
			n, ok := parseIndex(k[:len(k)-1])
			if !ok {
				return nil, invalid(p, "bad array delta key %q", k)
			}
			if hasTail {
				return nil, invalid(p, "array delta with two tail keys")
			}
			if n > len(old) {
				return nil, invalid(p, "tail key %q beyond the %d-item array", k, len(old))
			}
			t, ok := d.vals[j].([]any)
			if !ok {
				return nil, invalid(p.child(k), "array tail is a %s, not an array", kindOf(d.vals[j]))
			}
			cut, tail, hasTail = n, t, true
		}
	}
	out := make([]any, cut, cut+len(tail))
	copy(out, old[:cut])
	for j, k := range d.keys {
		if hasTail && strings.HasSuffix(k, "-") {
			continue
		}
		i, ok := parseIndex(k)
		if !ok {
			return nil, invalid(p, "bad array delta key %q", k)
		}
		if i >= cut {
			return nil, invalid(p, "index %d beyond the %d array items it may patch", i, cut)
		}
		nv, deleted, err := applyValue(p.child(k), old[i], true, d.vals[j])
		if err != nil {
			return nil, err
		}
		if deleted {
			return nil, invalid(p.child(k), "array items cannot be deleted; use a tail key")
		}
		out[i] = nv
	}
	return append(out, tail...), nil
}

// parseIndex accepts the decimal form the encoder writes: digits only, no sign, no
// leading zero (except "0" itself).
func parseIndex(s string) (int, bool) {
	if s == "" || len(s) > 10 || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

func kindOf(v any) string {
	switch v.(type) {
	case *object:
		return "object"
	case []any:
		return "array"
	case string:
		return "string"
	case json.Number:
		return "number"
	case bool:
		return "boolean"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", v)
}

func kindOfMaybe(v any, present bool) string {
	if !present {
		return "missing value"
	}
	return kindOf(v)
}
