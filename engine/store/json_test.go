package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/p2psync/libp2psync/engine/blobstore"
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

// TestBodyInfoCoversBlobChecks: the save path skips the blob pre-checks when the
// compaction pass saw none of their keys or escapes (bodyInfo), so the flags must be
// set whenever References finds something or the body has a top-level _attachments.
func TestBodyInfoCoversBlobChecks(t *testing.T) {
	bodies := []string{
		`{}`,
		`{"a":"plain text with \n and \" escapes","b":[1,2,{"c":null}]}`,
		`{"pic":{"@type":"blob","digest":"sha1-AAAAAAAAAAAAAAAAAAAAAAAAAAA=","length":1}}`,
		`{"deep":[{"x":{"@type":"blob","digest":"sha1-AAAAAAAAAAAAAAAAAAAAAAAAAAA="}}]}`,
		`{"pic":{"\u0040type":"blob","digest":"sha1-AAAAAAAAAAAAAAAAAAAAAAAAAAA="}}`,
		`{"_attachments":{"a.txt":{"stub":true,"digest":"sha1-AAAAAAAAAAAAAAAAAAAAAAAAAAA=","length":1}}}`,
		`{"\u005fattachments":{"a.txt":{"stub":true,"digest":"sha1-AAAAAAAAAAAAAAAAAAAAAAAAAAA="}}}`,
		`{"n":{"_attachments":{}},"s":"\u00e9"}`,
		`{"text":"@type is not a key here","k":"_attachments"}`,
	}
	for _, body := range bodies {
		data, info, err := compactInfo([]byte(body), keysAttachmentsAllowed)
		if err != nil {
			t.Fatalf("compactInfo(%s): %v", body, err)
		}
		refs, err := blobstore.References(data)
		if err != nil {
			t.Fatalf("References(%s): %v", data, err)
		}
		if len(refs) > 0 && !info.mayReference() {
			t.Errorf("%s: References finds %d references but mayReference is false", body, len(refs))
		}
		if hasTopLevelAttachments(data) && !info.mayHaveTopLevelAttachments() {
			t.Errorf("%s: top-level _attachments not flagged", body)
		}
		if !blobstore.MayReference(data) && info.mayReference() {
			t.Errorf("%s: flagged although MayReference rules it out (the flags should be no looser)", body)
		}
	}
	// The flags are not set by values, only by keys and \u escapes.
	if _, info, _ := compactInfo([]byte(bodies[8]), keysAttachmentsAllowed); info.mayReference() {
		t.Errorf("%s: values flagged as keys", bodies[8])
	}

	// And the save path does run the checks such bodies need.
	db, err := Open(context.Background(), t.TempDir(), Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	c := db.DefaultCollection()
	for _, body := range []string{`{"p":{"\u0040type":"blob"}}`, `{"p":[{"@type":"blob","length":3}]}`} {
		if _, err := c.Save(context.Background(), "d", []byte(body), SaveOptions{}); !errors.Is(err, ErrInvalidJSON) {
			t.Errorf("Save(%s) = %v, want ErrInvalidJSON (malformed blob dictionary)", body, err)
		}
	}
	for _, body := range []string{`{"_attachments":{}}`, `{"\u005fattachments":{}}`} {
		if _, err := c.Save(context.Background(), "d", []byte(body), SaveOptions{}); !errors.Is(err, ErrReservedProperty) {
			t.Errorf("Save(%s) = %v, want ErrReservedProperty", body, err)
		}
	}
}
