package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestCompactObject(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{`{}`, `{}`, true},
		{" \t\r\n{ } \n", `{}`, true},
		{`{"a" : [ 1 , -2.5e+3 , true , false , null , "x" , { } , [ ] ] }`, `{"a":[1,-2.5e+3,true,false,null,"x",{},[]]}`, true},
		{`{"s":"  spaces kept  ","e":"\"\\\/\b\f\n\r\t\u00e9"}`, `{"s":"  spaces kept  ","e":"\"\\\/\b\f\n\r\t\u00e9"}`, true},
		{`{"dup":1,"dup":2}`, `{"dup":1,"dup":2}`, true},
		{`{"n":0,"m":-0,"f":0.5,"E":1E9}`, `{"n":0,"m":-0,"f":0.5,"E":1E9}`, true},
		{`{"deep":[[[[{"x":[]}]]]]}`, `{"deep":[[[[{"x":[]}]]]]}`, true},
		{`{"ü":"😀"}`, `{"ü":"😀"}`, true},
		{``, ``, false},
		{`[]`, ``, false},
		{`{"a":1}x`, ``, false},
		{`{"a":1,}`, ``, false},
		{`{"a"}`, ``, false},
		{`{"a":}`, ``, false},
		{`{,}`, ``, false},
		{`{"a":[1,]}`, ``, false},
		{`{"a":[1 2]}`, ``, false},
		{`{"a":1.}`, ``, false},
		{`{"a":.5}`, ``, false},
		{`{"a":1e}`, ``, false},
		{`{"a":-}`, ``, false},
		{`{"a":00}`, ``, false},
		{`{"a":tru}`, ``, false},
		{`{"a":"\u12"}`, ``, false},
		{`{"a":"\x"}`, ``, false},
		{"{\"a\":\"\t\"}", ``, false},
		{`{"a":"unterminated}`, ``, false},
		{`{"a":1]`, ``, false},
		{`{"a":[1}`, ``, false},
		{"{\"a\":\"\xc3\"}", ``, false},
		{strings.Repeat(`{"a":`, maxJSONDepth+1) + "1" + strings.Repeat("}", maxJSONDepth+1), ``, false},
	}
	for _, tt := range tests {
		name := tt.in
		if len(name) > 40 {
			name = name[:40]
		}
		t.Run(name, func(t *testing.T) {
			got, err := compactObject([]byte(tt.in))
			if !tt.ok {
				if !errors.Is(err, ErrInvalidJSON) {
					t.Fatalf("compactObject(%q) = %q, %v; want ErrInvalidJSON", tt.in, got, err)
				}
				return
			}
			if err != nil || string(got) != tt.want {
				t.Fatalf("compactObject(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}

// referenceCompact is what compactObject must agree with: encoding/json's
// validation and compaction, restricted to UTF-8 objects.
func referenceCompact(in []byte) ([]byte, bool) {
	if !utf8.Valid(in) || !json.Valid(in) {
		return nil, false
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, in); err != nil {
		return nil, false
	}
	if buf.Len() == 0 || buf.Bytes()[0] != '{' {
		return nil, false
	}
	return buf.Bytes(), true
}

func FuzzCompactObject(f *testing.F) {
	for _, s := range []string{`{}`, ` {"a" : [1, 2.5e-3, "x\u0041"], "b": {"c": null}} `, `[1]`, `{"a":01}`, "{\"a\":\"\xff\"}", `{"a":1}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		got, err := compactObject(in)
		want, ok := referenceCompact(in)
		if ok != (err == nil) {
			t.Fatalf("compactObject(%q): err %v, encoding/json valid object %v", in, err, ok)
		}
		if ok && !bytes.Equal(got, want) {
			t.Fatalf("compactObject(%q) = %q, encoding/json gives %q", in, got, want)
		}
		if err != nil && !errors.Is(err, ErrInvalidJSON) {
			t.Fatalf("error %v is not ErrInvalidJSON", err)
		}
	})
}

func TestObjectMembers(t *testing.T) {
	in := ` { "z" : 1 , "a":[ 2, {"y":3,"b":4} ],"\u005fid":"x","m":"\"q\"", "z":5 } `
	ms, err := ObjectMembers([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []struct{ key, text, value string }{
		{"z", `"z" : 1`, `1`},
		{"a", `"a":[ 2, {"y":3,"b":4} ]`, `[ 2, {"y":3,"b":4} ]`},
		{"_id", `"\u005fid":"x"`, `"x"`},
		{"m", `"m":"\"q\""`, `"\"q\""`},
		{"z", `"z":5`, `5`},
	}
	if len(ms) != len(want) {
		t.Fatalf("%d members, want %d: %+v", len(ms), len(want), ms)
	}
	for i, w := range want {
		if ms[i].Key != w.key || string(ms[i].Text) != w.text || string(ms[i].Value) != w.value {
			t.Errorf("member %d = %q %q %q, want %q %q %q", i, ms[i].Key, ms[i].Text, ms[i].Value, w.key, w.text, w.value)
		}
	}
	if ms, err := ObjectMembers([]byte(" {  } ")); err != nil || len(ms) != 0 {
		t.Fatalf("empty object: %v, %v", ms, err)
	}
	for _, bad := range []string{``, `[]`, `{`, `{"a"}`, `{"a":1,}`, `{"a":1}x`, `{"a":1 "b":2}`, `{1:2}`, "{\"a\":\"\xff\"}", `{"a":[}`} {
		if _, err := ObjectMembers([]byte(bad)); !errors.Is(err, ErrInvalidJSON) {
			t.Errorf("ObjectMembers(%q) error %v, want ErrInvalidJSON", bad, err)
		}
	}
}

// ObjectMembers accepts exactly the objects compactObject accepts, and its members'
// texts, joined in order, are the same object.
func FuzzObjectMembers(f *testing.F) {
	for _, s := range []string{`{}`, ` {"b" : [1, 2.5e-3, "x\u0041"], "a": {"c": null}} `, `[1]`, `{"\u005f":1,"a":1,"a":2}`, `{"a":1}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		ms, err := ObjectMembers(in)
		compact, cerr := compactObject(in)
		if (err == nil) != (cerr == nil) {
			t.Fatalf("ObjectMembers(%q) error %v, compactObject error %v", in, err, cerr)
		}
		if err != nil {
			return
		}
		texts := make([][]byte, len(ms))
		for i, m := range ms {
			texts[i] = m.Text
		}
		rebuilt, err := compactObject(append(append([]byte{'{'}, bytes.Join(texts, []byte{','})...), '}'))
		if err != nil || !bytes.Equal(rebuilt, compact) {
			t.Fatalf("members of %q rebuild %q (%v), want %q", in, rebuilt, err, compact)
		}
	})
}
