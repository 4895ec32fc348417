package blip

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
)

// MaxPropertiesSize is the largest encoded property block accepted or sent (100 KiB, as LiteCore).
const MaxPropertiesSize = 100 * 1024

// Property is one key/value pair of a message.
type Property struct{ Key, Value string }

// Properties are a message's properties in wire order. Keys are case-sensitive and unique.
type Properties []Property

// Get returns the value of key, or "" if it is absent.
func (p Properties) Get(key string) string {
	v, _ := p.Lookup(key)
	return v
}

// Lookup returns the value of key and whether it is present.
func (p Properties) Lookup(key string) (string, bool) {
	for _, kv := range p {
		if kv.Key == key {
			return kv.Value, true
		}
	}
	return "", false
}

// Set replaces the value of key, or appends the pair if key is absent.
func (p *Properties) Set(key, value string) {
	for i := range *p {
		if (*p)[i].Key == key {
			(*p)[i].Value = value
			return
		}
	}
	*p = append(*p, Property{key, value})
}

// appendProperties appends uvarint(size) + encoded properties to dst.
func appendProperties(dst []byte, p Properties) ([]byte, error) {
	size := 0
	seen := newKeySet(len(p))
	for i, kv := range p {
		if strings.IndexByte(kv.Key, 0) >= 0 || strings.IndexByte(kv.Value, 0) >= 0 {
			return dst, fmt.Errorf("%w: property %q contains a NUL byte", ErrInvalidMessage, kv.Key)
		}
		if !seen.add(p[:i], kv.Key) {
			return dst, fmt.Errorf("%w: duplicate property %q", ErrInvalidMessage, kv.Key)
		}
		size += len(kv.Key) + len(kv.Value) + 2
	}
	if size > MaxPropertiesSize {
		return dst, fmt.Errorf("%w: properties are %d bytes (limit %d)", ErrTooLarge, size, MaxPropertiesSize)
	}
	dst = slices.Grow(dst, size+binary.MaxVarintLen32) // one allocation, not one per growth
	dst = binary.AppendUvarint(dst, uint64(size))
	for _, kv := range p {
		dst = append(dst, kv.Key...)
		dst = append(dst, 0)
		dst = append(dst, kv.Value...)
		dst = append(dst, 0)
	}
	return dst, nil
}

// decodeProperties parses an encoded property block (without its length prefix).
func decodeProperties(b []byte) (Properties, error) {
	if len(b) == 0 {
		return nil, nil
	}
	if len(b) > MaxPropertiesSize {
		return nil, tooLargeErrorf("properties are %d bytes (limit %d)", len(b), MaxPropertiesSize)
	}
	if b[len(b)-1] != 0 {
		return nil, protoErrorf("properties not NUL-terminated")
	}
	n := bytes.Count(b, []byte{0})
	if n%2 != 0 {
		return nil, protoErrorf("properties have a key without a value")
	}
	props := make(Properties, 0, n/2)
	seen := newKeySet(n / 2)
	for len(b) > 0 {
		k := bytes.IndexByte(b, 0)
		key := string(b[:k])
		b = b[k+1:]
		v := bytes.IndexByte(b, 0)
		value := string(b[:v])
		b = b[v+1:]
		if !seen.add(props, key) {
			return nil, protoErrorf("duplicate property %q", key)
		}
		props = append(props, Property{key, value})
	}
	return props, nil
}

// keySet detects duplicate keys: a linear scan for the usual handful of properties, a map
// when there are many (a 100 KiB block can hold ~25,000 pairs).
type keySet struct{ m map[string]struct{} }

func newKeySet(n int) keySet {
	if n > 16 {
		return keySet{m: make(map[string]struct{}, n)}
	}
	return keySet{}
}

// add records key and reports false if it was already present. prior holds the keys added
// so far, in order (used by the linear scan).
func (s keySet) add(prior Properties, key string) bool {
	if s.m != nil {
		if _, dup := s.m[key]; dup {
			return false
		}
		s.m[key] = struct{}{}
		return true
	}
	_, dup := prior.Lookup(key)
	return !dup
}
