package wire

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
)

// Props is the read side of a message's properties. blip.Properties satisfies it;
// tests can use a map.
type Props interface {
	Lookup(key string) (string, bool)
}

// MapProps is a Props backed by a map, handy for tests and fuzzing.
type MapProps map[string]string

// Lookup implements Props.
func (m MapProps) Lookup(k string) (string, bool) { v, ok := m[k]; return v, ok }

// ParseBool reads a boolean property the way Couchbase Lite does (PROTOCOL §3.0):
// "true"/"yes"/"t"/"y" in any case are true, "false"/"no"/"f"/"n" false, otherwise a
// decimal integer that is true when non-zero. Anything else (including "") is false.
func ParseBool(s string) bool {
	s = strings.TrimSpace(s)
	switch strings.ToLower(s) {
	case "true", "yes", "t", "y":
		return true
	case "false", "no", "f", "n", "":
		return false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return err == nil && n != 0
}

// propBool looks a boolean up; absent => false.
func propBool(p Props, key string) bool {
	v, ok := p.Lookup(key)
	return ok && ParseBool(v)
}

// Wire spellings for booleans (PROTOCOL §9 item 11): "true" everywhere, "1" for deleted.
const (
	True         = "true"
	DeletedValue = "1"
)

// Sequence is a peer's sequence kept as raw JSON text (a number like 42 or a string like
// "40:42"), never interpreted except for ordering hints (PROTOCOL §9 item 9).
type Sequence string

// NormalizeSequence turns a property or row value into compact JSON. Valid JSON numbers
// and strings are kept as they are; any other non-empty text (an unquoted "40:42") is
// quoted. "" and JSON null give "".
func NormalizeSequence(raw []byte) Sequence {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	if plainUint(raw) {
		return Sequence(raw) // the common case, kept as is without a JSON decoder
	}
	switch raw[0] {
	case '"':
		var s string
		if json.Unmarshal(raw, &s) == nil {
			b, _ := json.Marshal(s)
			return Sequence(b)
		}
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		var n json.Number
		if json.Unmarshal(raw, &n) == nil {
			return Sequence(n.String())
		}
	}
	b, _ := json.Marshal(string(raw))
	return Sequence(b)
}

// plainUint reports whether raw is a JSON number made of digits only ("0" or no leading
// zero), which NormalizeSequence keeps unchanged.
func plainUint(raw []byte) bool {
	if len(raw) == 0 || (raw[0] == '0' && len(raw) > 1) {
		return false
	}
	for _, c := range raw {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// Uint returns the sequence as an unsigned integer when it is one, either a JSON number or
// a string holding only digits; a compound SG sequence "a:b" or "a::b" yields its last
// component, which is the part that orders it. ok is false otherwise.
func (s Sequence) Uint() (uint64, bool) {
	str := string(s)
	if str == "" {
		return 0, false
	}
	if str[0] == '"' {
		var u string
		if json.Unmarshal([]byte(str), &u) != nil {
			return 0, false
		}
		str = u
		if i := strings.LastIndexByte(str, ':'); i >= 0 {
			str = str[i+1:]
		}
	}
	n, err := strconv.ParseUint(str, 10, 64)
	if err != nil {
		return 0, false
	}
	return n, true
}

// UintSequence returns the JSON form of a local (integer) sequence.
func UintSequence(n uint64) Sequence { return Sequence(strconv.FormatUint(n, 10)) }

// JSON returns the raw JSON bytes (nil for the empty sequence).
func (s Sequence) JSON() json.RawMessage {
	if s == "" {
		return nil
	}
	return json.RawMessage(s)
}
