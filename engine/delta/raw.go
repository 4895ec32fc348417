package delta

import (
	"bytes"
	"fmt"
	"unicode/utf8"

	"github.com/p2psync/libp2psync/engine/internal/jsonscan"
)

// rawValue is the JSON text of a member value that Create and Apply leave untouched,
// kept as bytes instead of being decoded and written out again. It is only used for
// text in canonical form (see canonScanner): exactly what appendJSON writes for the
// decoded value, so copying the bytes gives the same output as re-encoding them.
type rawValue []byte

// topMembers splits a JSON text whose top level is an object into its members, each
// value kept as raw text. ok is false when the text is not an object in the canonical
// form this package writes (compact, strings escaped as appendString escapes them, no
// repeated key at any level, nesting within MaxDepth) or is not valid JSON: the caller
// then takes the general path, which decodes everything (and reports any error).
func topMembers(data []byte) (keys []string, vals []rawValue, ok bool) {
	if len(data) < 2 || data[0] != '{' || !utf8.Valid(data) {
		return nil, nil, false
	}
	s := canonScanner{data: data}
	s.pos = 1
	if data[1] == '}' {
		return nil, nil, len(data) == 2
	}
	seen := map[string]struct{}{}
	for {
		kstart := s.pos
		if !s.str() {
			return nil, nil, false
		}
		key, err := (&parser{data: data[kstart:s.pos], limit: 1}).string()
		if err != nil {
			return nil, nil, false
		}
		k := key.(string)
		if _, dup := seen[k]; dup {
			return nil, nil, false
		}
		seen[k] = struct{}{}
		if s.pos >= len(data) || data[s.pos] != ':' {
			return nil, nil, false
		}
		s.pos++
		vstart := s.pos
		if !s.value(2) {
			return nil, nil, false
		}
		keys = append(keys, k)
		vals = append(vals, rawValue(data[vstart:s.pos]))
		if s.pos >= len(data) {
			return nil, nil, false
		}
		switch data[s.pos] {
		case ',':
			s.pos++
		case '}':
			s.pos++
			return keys, vals, s.pos == len(data)
		default:
			return nil, nil, false
		}
	}
}

// canonScanner checks, without decoding, that JSON text is valid and in canonical
// form. The input is known to be valid UTF-8.
type canonScanner struct {
	data []byte
	pos  int
	// quote and backslash cache where the next '"' and '\\' at or after pos are
	// (len(data) if none; valid while > pos, found again from pos otherwise), so
	// that long strings are searched with bytes.IndexByte, each byte once.
	quote, backslash int
}

// value scans one value at depth (the level a container starting here would have).
func (s *canonScanner) value(depth int) bool {
	if s.pos >= len(s.data) {
		return false
	}
	switch c := s.data[s.pos]; {
	case c == '{':
		return s.object(depth)
	case c == '[':
		return s.array(depth)
	case c == '"':
		return s.str()
	case c == '-' || (c >= '0' && c <= '9'):
		p := parser{data: s.data, pos: s.pos}
		if _, err := p.number(); err != nil {
			return false
		}
		s.pos = p.pos
		return true
	case c == 't':
		return s.word("true")
	case c == 'f':
		return s.word("false")
	case c == 'n':
		return s.word("null")
	}
	return false
}

func (s *canonScanner) word(w string) bool {
	if len(s.data)-s.pos < len(w) || string(s.data[s.pos:s.pos+len(w)]) != w {
		return false
	}
	s.pos += len(w)
	return true
}

func (s *canonScanner) object(depth int) bool {
	if empty, ok := s.enter(depth, '}'); empty || !ok {
		return ok
	}
	// Keys as written: for canonical text, equal text <=> equal key.
	var keys [][]byte
	var many map[string]struct{}
	for {
		kstart := s.pos
		if !s.str() {
			return false
		}
		k := s.data[kstart:s.pos]
		if many == nil {
			for _, seen := range keys {
				if string(seen) == string(k) {
					return false
				}
			}
			keys = append(keys, k)
			if len(keys) > linearLookupMax {
				many = make(map[string]struct{}, 2*len(keys))
				for _, seen := range keys {
					many[string(seen)] = struct{}{}
				}
			}
		} else {
			if _, dup := many[string(k)]; dup {
				return false
			}
			many[string(k)] = struct{}{}
		}
		if s.pos >= len(s.data) || s.data[s.pos] != ':' {
			return false
		}
		s.pos++
		if !s.value(depth + 1) {
			return false
		}
		if more, ok := s.next('}'); !more {
			return ok
		}
	}
}

func (s *canonScanner) array(depth int) bool {
	if empty, ok := s.enter(depth, ']'); empty || !ok {
		return ok
	}
	for {
		if !s.value(depth + 1) {
			return false
		}
		if more, ok := s.next(']'); !more {
			return ok
		}
	}
}

// enter steps past the opening bracket of a container at depth. empty is true when
// close follows at once (and is consumed too); ok is false when depth is too deep.
func (s *canonScanner) enter(depth int, close byte) (empty, ok bool) {
	if depth > MaxDepth {
		return false, false
	}
	s.pos++ // '{' or '['
	if s.pos < len(s.data) && s.data[s.pos] == close {
		s.pos++
		return true, true
	}
	return false, true
}

// next steps past what follows a member or element: more after a comma, !more && ok
// after close; !more && !ok for anything else or the end of the data.
func (s *canonScanner) next(close byte) (more, ok bool) {
	if s.pos >= len(s.data) {
		return false, false
	}
	switch s.data[s.pos] {
	case ',':
		s.pos++
		return true, true
	case close:
		s.pos++
		return false, true
	}
	return false, false
}

// str scans a string at the opening quote, accepting only the escapes appendString
// writes: \" \\ \n \r \t \b \f, and \u00xx (lower-case hex) for the other control
// characters.
func (s *canonScanner) str() bool {
	if s.pos >= len(s.data) || s.data[s.pos] != '"' {
		return false
	}
	s.pos++
	for {
		s.pos = s.plainEnd()
		if s.pos >= len(s.data) {
			return false
		}
		switch s.data[s.pos] {
		case '"':
			s.pos++
			return true
		case '\\':
		default:
			return false // a raw control character
		}
		if s.pos+1 >= len(s.data) {
			return false
		}
		switch s.data[s.pos+1] {
		case '"', '\\', 'n', 'r', 't', 'b', 'f':
			s.pos += 2
		case 'u':
			if len(s.data)-s.pos < 6 || s.data[s.pos+2] != '0' || s.data[s.pos+3] != '0' {
				return false
			}
			hi, lo := s.data[s.pos+4], s.data[s.pos+5]
			if hi != '0' && hi != '1' || !isLowerHex(lo) {
				return false
			}
			c := (hi-'0')<<4 | hexValue(lo)
			switch c {
			case '\n', '\r', '\t', '\b', '\f':
				return false // written with the short escape
			}
			s.pos += 6
		default:
			return false
		}
	}
}

// plainEnd returns the end of the run of plain string bytes at pos (as
// jsonscan.PlainRunEnd): the next quote, backslash or control character.
func (s *canonScanner) plainEnd() int {
	b, i := s.data, s.pos
	if len(b)-i < 32 {
		return jsonscan.PlainRunEnd(b, i)
	}
	if s.quote <= i { // also the zero value: unknown
		s.quote = nextByte(b, i, '"')
	}
	if s.backslash <= i {
		s.backslash = nextByte(b, i, '\\')
	}
	end := min(s.quote, s.backslash)
	if c := jsonscan.ControlIndex(b[i:end]); c >= 0 {
		return i + c
	}
	return end
}

// nextByte returns the index of the first c in b at or after i, or len(b).
func nextByte(b []byte, i int, c byte) int {
	if k := bytes.IndexByte(b[i:], c); k >= 0 {
		return i + k
	}
	return len(b)
}

func isLowerHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' }

func hexValue(c byte) byte {
	if c <= '9' {
		return c - '0'
	}
	return c - 'a' + 10
}

// applyRaw is Apply's path for an object delta on a document in canonical form: only
// the members the delta names are decoded; the others are copied as they are. ok is
// false when the path does not apply (the general path then runs).
func applyRaw(old []byte, d any) (out []byte, ok bool, err error) {
	dobj, isObj := d.(*object)
	if !isObj {
		return nil, false, nil
	}
	keys, raws, ok := topMembers(old)
	if !ok {
		return nil, false, nil
	}
	return applyMembers(keys, raws, len(old), dobj)
}

// applyMembers applies the object delta dobj to the document whose top-level members
// (in canonical form, as topMembers splits them) are keys and raws, oldLen bytes long.
// ok is false when the general path must run instead.
func applyMembers(keys []string, raws []rawValue, oldLen int, dobj *object) (out []byte, ok bool, err error) {
	o := &object{keys: keys, vals: make([]any, len(keys))}
	for i, k := range keys {
		if dobj.find(k) < 0 {
			o.vals[i] = raws[i]
			continue
		}
		v, err := decodeJSON(raws[i], MaxDepth-1)
		if err != nil {
			return nil, false, nil // cannot happen for scanned text; let the general path report
		}
		o.vals[i] = v
	}
	n, err := applyTop(o, dobj)
	if err != nil {
		return nil, true, err
	}
	out, err = appendJSON(make([]byte, 0, oldLen+len(dobj.keys)*16), n, 1, MaxDepth)
	if err != nil {
		return nil, true, fmt.Errorf("encode result: %w: %v", ErrInvalidDelta, err)
	}
	return out, true, nil
}

// createRaw is Create's path for two documents in canonical form: members whose text
// is the same on both sides are not decoded. ok is false when the path does not apply.
// oraws and nraws are old's and new's members as text (o.keys and n.keys are their
// keys), for CreateExact.
func createRaw(old, new []byte) (o, n *object, oraws, nraws []rawValue, ok bool) {
	okeys, oraws, ok := topMembers(old)
	if !ok {
		return nil, nil, nil, nil, false
	}
	nkeys, nraws, ok := topMembers(new)
	if !ok {
		return nil, nil, nil, nil, false
	}
	o = &object{keys: okeys, vals: make([]any, len(okeys))}
	n = &object{keys: nkeys, vals: make([]any, len(nkeys))}
	for i, k := range nkeys {
		j := o.find(k)
		if j >= 0 && string(oraws[j]) == string(nraws[i]) {
			o.vals[j], n.vals[i] = oraws[j], nraws[i]
		}
	}
	decode := func(vals []any, raws []rawValue) bool {
		for i, v := range vals {
			if v != nil {
				continue
			}
			dv, err := decodeJSON(raws[i], MaxDepth-1)
			if err != nil {
				return false
			}
			vals[i] = dv
		}
		return true
	}
	if !decode(o.vals, oraws) || !decode(n.vals, nraws) {
		return nil, nil, nil, nil, false
	}
	return o, n, oraws, nraws, true
}

// rebuildsExactly reports whether applying the object delta dobj to the canonical
// document whose members are okeys/oraws (applyMembers) gives exactly the canonical
// document whose members are nkeys/nraws. Both texts being canonical, that is the case
// when the members applyMembers would write, in its order (old's members in their order,
// patched or removed as dobj says, then the members dobj adds, in its order), are new's
// members one for one, each value the same text. So the output is compared member by
// member as it would be made, without building it: untouched members, usually most of
// the bytes, are compared as they are.
func rebuildsExactly(okeys []string, oraws []rawValue, dobj *object, nkeys []string, nraws []rawValue) bool {
	next := 0
	var buf []byte
	match := func(k string, text []byte) bool {
		if next >= len(nkeys) || nkeys[next] != k || !bytes.Equal(nraws[next], text) {
			return false
		}
		next++
		return true
	}
	// The patched value of a member (old, hasOld) as applyMembers would write it.
	encode := func(old any, hasOld bool, d any) ([]byte, bool) {
		v, deleted, err := applyValue(nil, old, hasOld, d)
		if err != nil || deleted {
			return nil, false
		}
		if buf, err = appendJSON(buf[:0], v, 2, MaxDepth); err != nil {
			return nil, false
		}
		return buf, true
	}
	for i, k := range okeys {
		j := dobj.find(k)
		if j < 0 {
			if !match(k, oraws[i]) {
				return false
			}
			continue
		}
		if isDeletion(dobj.vals[j]) {
			continue
		}
		ov, err := decodeJSON(oraws[i], MaxDepth-1)
		if err != nil {
			return false
		}
		text, ok := encode(ov, true, dobj.vals[j])
		if !ok || !match(k, text) {
			return false
		}
	}
	old := &object{keys: okeys}
	for j, k := range dobj.keys {
		if old.find(k) >= 0 {
			continue
		}
		text, ok := encode(nil, false, dobj.vals[j])
		if !ok || !match(k, text) {
			return false
		}
	}
	return next == len(nkeys)
}
