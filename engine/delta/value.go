package delta

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/p2psync/libp2psync/engine/internal/jsonscan"
)

// A decoded JSON value is one of:
//
//	*object      JSON object, member order kept
//	[]any        JSON array
//	string       JSON string (always valid UTF-8)
//	json.Number  JSON number, exactly as written in the input
//	bool         true / false
//	nil          null
//
// Keeping the number text (instead of float64) is what makes deltas exact: a 64-bit
// integer or a long decimal survives create and apply byte for byte.

// object is a JSON object that remembers the order of its members, so that applying
// a delta to a document leaves the untouched members where they were.
type object struct {
	keys []string
	vals []any
	// index maps key -> position; built on first lookup once the object is large
	// enough that a linear scan would be slow. Objects are never shared between
	// goroutines (each Create/Apply call decodes its own), so lazy filling is safe.
	index map[string]int
}

// linearLookupMax is the member count up to which lookups scan the keys instead of
// building an index map.
const linearLookupMax = 8

func (o *object) find(key string) int {
	if len(o.keys) <= linearLookupMax {
		for i, k := range o.keys {
			if k == key {
				return i
			}
		}
		return -1
	}
	if o.index == nil || len(o.index) != len(o.keys) {
		o.index = make(map[string]int, len(o.keys))
		for i, k := range o.keys {
			o.index[k] = i
		}
	}
	if i, ok := o.index[key]; ok {
		return i
	}
	return -1
}

func (o *object) lookup(key string) (any, bool) {
	if i := o.find(key); i >= 0 {
		return o.vals[i], true
	}
	return nil, false
}

// put adds a member, or replaces the value of an existing one in place (a repeated
// key in the input: the last value wins, as with encoding/json).
func (o *object) put(key string, v any) {
	if i := o.find(key); i >= 0 {
		o.vals[i] = v
		return
	}
	o.keys = append(o.keys, key)
	o.vals = append(o.vals, v)
	if o.index != nil {
		o.index[key] = len(o.keys) - 1
	}
}

// tooDeep describes nesting beyond limit; the caller wraps it with its sentinel.
func tooDeep(limit int) error {
	return fmt.Errorf("nesting deeper than %d levels", limit)
}

// appendJSON writes v as compact JSON. depth is the nesting level of v if it is a
// container; nesting beyond limit fails, so that no output of this package is
// deeper than what it accepts as input.
func appendJSON(b []byte, v any, depth, limit int) ([]byte, error) {
	switch v := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case bool:
		return strconv.AppendBool(b, v), nil
	case json.Number:
		return append(b, v...), nil
	case string:
		return appendString(b, v), nil
	case rawValue:
		return append(b, v...), nil
	case []any:
		if depth > limit {
			return nil, tooDeep(limit)
		}
		b = append(b, '[')
		for i, item := range v {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = appendJSON(b, item, depth+1, limit); err != nil {
				return nil, err
			}
		}
		return append(b, ']'), nil
	case *object:
		if depth > limit {
			return nil, tooDeep(limit)
		}
		b = append(b, '{')
		for i, k := range v.keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, k)
			b = append(b, ':')
			var err error
			if b, err = appendJSON(b, v.vals[i], depth+1, limit); err != nil {
				return nil, err
			}
		}
		return append(b, '}'), nil
	}
	// Only values built by this package reach here; anything else is a bug.
	return nil, fmt.Errorf("unexpected value of type %T", v)
}

const hexDigits = "0123456789abcdef"

// appendString writes s as a JSON string. s is valid UTF-8 (decoded input or bytes
// checked by the string-diff code), so only quotes, backslashes and control
// characters need escaping.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if jsonscan.PlainByte[c] {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"':
			b = append(b, '\\', '"')
		case '\\':
			b = append(b, '\\', '\\')
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		case '\b':
			b = append(b, '\\', 'b')
		case '\f':
			b = append(b, '\\', 'f')
		default:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// encodedStringLen is len(appendString(nil, s)) without building it.
func encodedStringLen(s string) int {
	n := 2
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\' || c == '\n' || c == '\r' || c == '\t' || c == '\b' || c == '\f':
			n += 2
		case c < 0x20:
			n += 6
		default:
			n++
		}
	}
	return n
}

// equal reports whether two decoded values are the same JSON value. Member order
// does not matter; numbers are compared by their text, so 1 and 1.0 differ (a delta
// then carries the new spelling and the result is exact).
func equal(a, b any) bool {
	switch a := a.(type) {
	case *object:
		b, ok := b.(*object)
		if !ok || len(a.keys) != len(b.keys) {
			return false
		}
		for i, k := range a.keys {
			bv, ok := b.lookup(k)
			if !ok || !equal(a.vals[i], bv) {
				return false
			}
		}
		return true
	case []any:
		b, ok := b.([]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for i := range a {
			if !equal(a[i], b[i]) {
				return false
			}
		}
		return true
	case string:
		b, ok := b.(string)
		return ok && a == b
	case json.Number:
		b, ok := b.(json.Number)
		return ok && a == b
	case bool:
		b, ok := b.(bool)
		return ok && a == b
	case nil:
		return b == nil
	case rawValue:
		b, ok := b.(rawValue)
		return ok && string(a) == string(b)
	}
	return false
}

// isContainer reports whether v is an object or an array.
func isContainer(v any) bool {
	switch v.(type) {
	case *object, []any:
		return true
	}
	return false
}
