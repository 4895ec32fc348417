package delta

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"unicode/utf8"
)

// The seed corpora live in testdata/fuzz/<FuzzName>/ (the §10.6 vectors, the
// reference string diffs and malformed deltas); `go test` runs them, and
// `go test -fuzz=FuzzApply ./engine/delta` explores from them.

// FuzzApply feeds arbitrary old values and deltas to Apply: it must return a
// sentinel error or valid JSON, never panic.
func FuzzApply(f *testing.F) {
	f.Add([]byte(`{"a":1,"b":2}`), []byte(`{"b":3}`))
	f.Add([]byte(`{"t":["a","b","c"]}`), []byte(`{"t":{"1":"x","3-":["d"]}}`))
	f.Add([]byte(`{"s":"The fog comes in"}`), []byte(`{"s":["4=1-1+d|11=",0,2]}`))
	f.Fuzz(func(t *testing.T, old, delta []byte) {
		got, err := Apply(old, delta)
		if err != nil {
			if !errors.Is(err, ErrInvalidDelta) && !errors.Is(err, ErrInvalidJSON) {
				t.Fatalf("error without a sentinel: %v", err)
			}
			if got != nil {
				t.Fatalf("output %q returned with error %v", got, err)
			}
			return
		}
		if !json.Valid(got) || !utf8.Valid(got) {
			t.Fatalf("Apply(%q, %q) = %q, not valid JSON", old, delta, got)
		}
		// Whatever Apply produced, the delta between old and it must round-trip.
		d, err := Create(old, got)
		if err != nil {
			t.Fatalf("Create(old, Apply output): %v", err)
		}
		again, err := Apply(old, d)
		if err != nil || !reflect.DeepEqual(canon(t, again), canon(t, got)) {
			t.Fatalf("round trip of Apply output failed: %q, %v", again, err)
		}
	})
}

// FuzzCreateApply: for any two acceptable documents Create succeeds and its delta
// rebuilds the new document; unacceptable documents give ErrInvalidJSON.
func FuzzCreateApply(f *testing.F) {
	f.Add([]byte(`{"a":1}`), []byte(`{"a":1,"c":{"x":true}}`))
	f.Add([]byte(`[1,2,3,5,6,7]`), []byte(`[1,2,3,4,5]`))
	f.Add([]byte(`["`+lorem+`"]`), []byte(`["`+loremSed+`"]`))
	f.Fuzz(func(t *testing.T, old, new []byte) {
		_, oldErr := decodeJSON(old, MaxDepth)
		_, newErr := decodeJSON(new, MaxDepth)
		d, err := Create(old, new)
		if oldErr != nil || newErr != nil {
			if !errors.Is(err, ErrInvalidJSON) {
				t.Fatalf("Create with invalid input: %q, %v; want ErrInvalidJSON", d, err)
			}
			return
		}
		if err != nil {
			t.Fatalf("Create(%q, %q): %v", old, new, err)
		}
		got, err := Apply(old, d)
		if err != nil {
			t.Fatalf("Apply(%q, %q): %v", old, d, err)
		}
		if !reflect.DeepEqual(canon(t, got), canon(t, new)) {
			t.Fatalf("round trip differs:\nold   %q\nnew   %q\ndelta %q\ngot   %q", old, new, d, got)
		}
		checkExact(t, old, new)
	})
}

// FuzzDecode checks the parser against encoding/json: the same texts are accepted
// (this parser also insists on valid UTF-8 and bounded depth) and they mean the
// same values.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{`{"a":[1,2.5e3,"x\u00e9\ud83d\ude00",true,false,null]}`, `"\ud800"`, `-0.0e+1`, `[{}, []]`, ` 1 `} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := decodeJSON(data, MaxDepth)
		if !utf8.Valid(data) {
			if err == nil {
				t.Fatalf("accepted invalid UTF-8 %q", data)
			}
			return
		}
		if (err == nil) != json.Valid(data) {
			if err != nil && bytes.Count(data, []byte("["))+bytes.Count(data, []byte("{")) > MaxDepth {
				return // rejected for depth only
			}
			t.Fatalf("decodeJSON(%q) err = %v, json.Valid = %v", data, err, json.Valid(data))
		}
		if err != nil {
			return
		}
		out, err := appendJSON(nil, v, 1, MaxDepth)
		if err != nil {
			t.Fatalf("appendJSON: %v", err)
		}
		if !reflect.DeepEqual(canon(t, out), canon(t, data)) {
			t.Fatalf("decode/encode changed the value: %q -> %q", data, out)
		}
	})
}
