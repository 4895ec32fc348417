package store

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/p2psync/libp2psync/tests/bench/workload"
)

// compactCopying is the general path of compactInfo: the compactor copies from the
// first byte, whatever the input. The in-place path (an input already compact is only
// validated) must give the same bytes, errors and bodyInfo.
func compactCopying(body []byte, rule keyRule) ([]byte, bodyInfo, error) {
	var info bodyInfo
	if !utf8.Valid(body) {
		return compactInfo(body, rule) // the same UTF-8 error, before any parsing
	}
	i := skipSpace(body, 0)
	if i >= len(body) || body[i] != '{' {
		return compactInfo(body, rule)
	}
	out, end, err := compactValue(body, i, make([]byte, 0, len(body)), rule, &info)
	if err != nil {
		return nil, info, err
	}
	if j := skipSpace(body, end); j != len(body) {
		return nil, info, syntaxError(j, "data after the top-level value")
	}
	return out, info, nil
}

// checkSamePaths compares compactInfo with compactCopying on in, for every key rule.
func checkSamePaths(t *testing.T, in []byte) {
	t.Helper()
	for _, rule := range []keyRule{keysAny, keysNoReserved, keysAttachmentsAllowed} {
		orig := bytes.Clone(in)
		got, info, err := compactInfo(in, rule)
		want, winfo, werr := compactCopying(in, rule)
		if !bytes.Equal(in, orig) {
			t.Fatalf("compactInfo changed its input %q", orig)
		}
		if (err == nil) != (werr == nil) || (err != nil && err.Error() != werr.Error()) {
			t.Fatalf("rule %d, %q: error %v, general path %v", rule, in, err, werr)
		}
		if err != nil {
			continue
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("rule %d, %q: %q, general path %q", rule, in, got, want)
		}
		inPlace := info.inPlace
		info.inPlace = false
		if info != winfo {
			t.Fatalf("rule %d, %q: info %+v, general path %+v", rule, in, info, winfo)
		}
		// In place exactly when nothing was dropped but whitespace around the object.
		if compact := bytes.Equal(got, bytes.TrimSpace(in)); inPlace != compact {
			t.Fatalf("rule %d, %q: inPlace %v, input compact %v", rule, in, inPlace, compact)
		}
		if inPlace && cap(got) != len(got) {
			t.Fatalf("rule %d, %q: in-place result has spare capacity %d (an append would write into the input)", rule, in, cap(got)-len(got))
		}
	}
}

func TestCompactInPlaceMatchesCopying(t *testing.T) {
	deep := strings.Repeat(`{"a":[`, 40) + `1` + strings.Repeat(`]}`, 40)
	deepSpaced := strings.Repeat(`{"a": [`, 40) + ` 1` + strings.Repeat(`] }`, 40)
	_, w1 := workload.Doc("doc-", 7, workload.SmallPayload)
	inputs := []string{
		`{}`, ` {} `, "\n{\"a\":1}\t", `{"a":1}`, `{"a" :1}`, `{"a": 1}`, `{"a":1 }`, `{ "a":1}`,
		`{"a":[1,2, 3]}`, `{"a":[1,2,3 ]}`, `{"a":{"b":{}}}`, `{"a":{"b":{ }}}`, `{"a":[ ]}`,
		`{"s":"  spaces \" \\ inside  ","t":true,"f":false,"n":null,"x":-1.5e+3}`,
		`{"_id":1}`, `{"_attachments":{}}`, `{"\u005fid":1}`, `{"@type":"blob","k":"\u00e9"}`,
		`{"a":1,}`, `{"a":1} x`, `{"a":"` + "\x01" + `"}`, `{"a":"\q"}`, `{"a":[1}`, `{"a"` + " \n:" + `1}`,
		deep, deepSpaced, deep[:len(deep)-3], string(w1), " " + string(w1),
		`{"long":"` + strings.Repeat(`abc\"def\\`, 100) + `","ctl":"` + strings.Repeat("x", 70) + "\x1f" + `"}`,
		`{"long":"` + strings.Repeat(`plain text `, 100) + `"}`,
	}
	for _, in := range inputs {
		checkSamePaths(t, []byte(in))
	}
}

func FuzzCompactInPlace(f *testing.F) {
	for _, s := range []string{`{}`, ` {"a" : [1, 2.5e-3, "x\u0041"], "b": {"c": null}} `, `{"a":[1,2,{"b":"c"}]}`,
		`{"_x":1}`, `{"s":"a\"b\\c"}`, "{\"a\":\"\xff\"}", `{"a":1}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		checkSamePaths(t, in)
	})
}

// A compact body is saved without a copy of its own; the Document returned must still
// own its body, and the stored revision must not change when the caller reuses its
// buffer.
func TestSaveDoesNotKeepCompactInput(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, t.TempDir(), Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	c := db.DefaultCollection()
	for _, first := range []bool{true, false} {
		id := "fresh"
		if !first {
			id = "updated"
			if _, err := c.Save(ctx, id, []byte(`{"v":0}`), SaveOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		in := []byte(`{"v":1,"s":"kept"}`)
		doc, err := c.Save(ctx, id, in, SaveOptions{})
		if err != nil {
			t.Fatal(err)
		}
		copy(in, `{"v":2,"s":"XXXX"}`)
		if string(doc.Body) != `{"v":1,"s":"kept"}` {
			t.Fatalf("%s: returned body %q changed with the caller's buffer", id, doc.Body)
		}
		got, err := c.Get(ctx, id)
		if err != nil || string(got.Body) != `{"v":1,"s":"kept"}` || got.RevID != doc.RevID {
			t.Fatalf("%s: stored %+v, %v", id, got, err)
		}
	}
}
