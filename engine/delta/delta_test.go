package delta

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// canon decodes JSON with encoding/json (an independent decoder) for semantic
// comparison: member order and whitespace aside, numbers compared by their text.
func canon(t testing.TB, data []byte) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("output %q is not JSON: %v", data, err)
	}
	if dec.More() {
		t.Fatalf("output %q has trailing data", data)
	}
	return v
}

func sameJSON(t testing.TB, got, want []byte) bool {
	t.Helper()
	return reflect.DeepEqual(canon(t, got), canon(t, want))
}

const (
	lorem    = "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore magna aliqua. Ut enim ad minim veniam, quis nostrud exercitation ullamco laboris nisi ut aliquip ex ea commodo consequat."
	loremSed = "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore magna aliqua. Ut enim ad minim veniam, sed nostrud exercitation ullamco laboris nisi ut aliquip ex ea commodo consequat."
)

// TestCreateSpecVectors checks every row of PROTOCOL.md §10.6 whose delta the
// encoder produces, plus further cases from the reference encoder's unit tests.
func TestCreateSpecVectors(t *testing.T) {
	tests := []struct {
		name, old, new, delta string
	}{
		{"scalar member changed", `{"a":1,"b":2}`, `{"a":1,"b":3}`, `{"b":3}`},
		{"member deleted", `{"a":1,"b":2}`, `{"a":1}`, `{"b":[]}`},
		{"object member added", `{"a":1}`, `{"a":1,"c":{"x":true}}`, `{"c":[{"x":true}]}`},
		{"nested member changed", `{"n":{"f":"Bo","l":"Li"}}`, `{"n":{"f":"Al","l":"Li"}}`, `{"n":{"f":"Al"}}`},
		{"array item changed and appended", `{"t":["a","b","c"]}`, `{"t":["a","x","c","d"]}`, `{"t":{"1":"x","3-":["d"]}}`},
		{"array truncated", `{"t":["a","b","c"]}`, `{"t":["a"]}`, `{"t":{"1-":[]}}`},
		{"empty array filled", `{"t":[]}`, `{"t":["a"]}`, `{"t":[["a"]]}`},
		{"added before deleted", `{"foo":1}`, `{"bar":2}`, `{"bar":2,"foo":[]}`},
		{"top-level array emptied", `[1,2,3]`, `[]`, `[[]]`},
		{"index-wise not optimal", `[1,2,3,5,6,7]`, `[1,2,3,4,5]`, `{"3":4,"4":5,"5-":[]}`},
		{"nested array appended", `[1,[21,22],3]`, `[1,[21,22,23],3]`, `{"1":{"2-":[23]}}`},
		{"top-level scalar wrapped", `5`, `6`, `[6]`},
		{"short string replaced whole", `{"s":"The fog comes in"}`, `{"s":"The dog comes in"}`, `{"s":"The dog comes in"}`},
		{"long string diff", `["` + lorem + `"]`, `["` + loremSed + `"]`, `{"0":["149=4-3+sed|78=",0,2]}`},

		// From the reference encoder's tests (couchbase/fleece Tests/DeltaTests.cc).
		{"equal null", `null`, `null`, `{}`},
		{"equal empty strings", `""`, `""`, `{}`},
		{"equal objects, other order", `{"foo":1,"bar":2,"baz":3}`, `{"baz":3,"foo":1,"bar":2}`, `{}`},
		{"equal nested arrays", `[[[]]]`, `[[[]]]`, `{}`},
		{"false to empty array", `false`, `[]`, `[[]]`},
		{"top-level string", `"hi"`, `"Hi"`, `["Hi"]`},
		{"object to array", `{"foo":1}`, `[2]`, `[[2]]`},
		{"array to object", `[2]`, `{"foo":1}`, `[{"foo":1}]`},
		{"member object to array", `{"top":{"foo":1}}`, `{"top":[2]}`, `{"top":[[2]]}`},
		{"member array to object", `{"top":[2]}`, `{"top":{"foo":1}}`, `{"top":[{"foo":1}]}`},
		{"empty to one member", `{}`, `{"bar":2}`, `{"bar":2}`},
		{"nested object added", `{}`, `{"bar":{"baz":9}}`, `{"bar":[{"baz":9}]}`},
		{"array in member", `{"foo":{"bar":[1]},"goo":2}`, `{"foo":{"bar":[2]},"goo":2}`, `{"foo":{"bar":{"0":2}}}`},
		{"two members", `{"foo":{"bar":[1]},"goo":[2]}`, `{"foo":{"bar":[2]},"goo":[3]}`, `{"foo":{"bar":{"0":2}},"goo":{"0":3}}`},
		{"array of strings to object", `{"foo":1,"bar":2,"baz":["A","B","C"]}`, `{"foo":1,"bar":2,"baz":{"A":1,"B":2,"C":3}}`, `{"baz":[{"A":1,"B":2,"C":3}]}`},
		{"every item", `[1,2,3]`, `[4,5,6]`, `{"0":4,"1":5,"2":6}`},
		{"tail added", `[1,2,3]`, `[1,2,3,4,5]`, `{"3-":[4,5]}`},
		{"tail removed", `[1,2,3,4,5]`, `[1,2,3]`, `{"3-":[]}`},
		{"empty array filled top-level", `[]`, `[1,2,3]`, `[[1,2,3]]`},
		{"object in array", `[1,{"hi":"there"},3]`, `[1,{"hi":"ho"},3]`, `{"1":{"hi":"ho"}}`},
		{"nested item", `[1,[21,22],3]`, `[1,[21,222],3]`, `{"1":{"1":222}}`},
		{"glossary", glossary("esse"), glossary("sint"),
			`{"glossary":{"GlossDiv":{"GlossList":{"GlossEntry":{"0":{"GlossDef":{"para":["290=4-4+sint|151=",0,2]}}}}}}}`},

		// Our own choices, stated by the package documentation.
		{"number spelling is a change", `{"x":1.0}`, `{"x":1}`, `{"x":1}`},
		{"big integer kept exactly", `{"x":1}`, `{"x":123456789012345678901234567890}`, `{"x":123456789012345678901234567890}`},
		{"null member", `{"x":1}`, `{"x":null}`, `{"x":null}`},
		{"deleted keys sorted", `{"c":1,"a":2,"b":3}`, `{}`, `{"a":[],"b":[],"c":[]}`},
		{"whitespace ignored", " {\"a\" : [1, 2]}\n", `{"a":[1,2]}`, `{}`},
		{"escaped key", `{"a\"b":1}`, `{"a\"b":2,"<&>":"\u2028"}`, "{\"<&>\":\"\u2028\",\"a\\\"b\":2}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Create([]byte(tt.old), []byte(tt.new))
			if err != nil {
				t.Fatalf("Create: %v", err)
			}
			if string(got) != tt.delta {
				t.Errorf("Create(%s, %s)\n got %s\nwant %s", tt.old, tt.new, got, tt.delta)
			}
			applied, err := Apply([]byte(tt.old), got)
			if err != nil {
				t.Fatalf("Apply(%s, %s): %v", tt.old, got, err)
			}
			if !sameJSON(t, applied, []byte(tt.new)) {
				t.Errorf("Apply(%s, %s) = %s, want %s", tt.old, got, applied, tt.new)
			}
		})
	}
}

// glossary is the nested document of the reference tests with one word of the
// long paragraph chosen by the caller.
func glossary(word string) string {
	para := "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore magna aliqua. Ut enim ad minim veniam, quis nostrud exercitation ullamco laboris nisi ut aliquip ex ea commodo consequat. Duis aute irure dolor in reprehenderit in voluptate velit " +
		word + " cillum dolore eu fugiat nulla pariatur. Excepteur sint occaecat cupidatat non proident, sunt in culpa qui officia deserunt mollit anim id est laborum."
	return `{"glossary":{"title":"example glossary","GlossDiv":{"title":"S","GlossList":{"GlossEntry":[` +
		`{"ID":"SGML","SortAs":"SGML","GlossTerm":"Standard Generalized Markup Language","Acronym":"SGML","Abbrev":"ISO 8879:1986","GlossDef":{"para":"` + para + `","GlossSeeAlso":["GML","XML"]}},` +
		`{"ID":"SGML","SortAs":"SGML","GlossTerm":"Standard Generalized Markup Language","Acronym":"SGML","Abbrev":"ISO 8879:1986","GlossDef":{"para":"A meta-markup language, used to create markup languages such as DocBook.","GlossSeeAlso":["GML","XML"]}}` +
		`],"GlossSee":"markup"}}}}`
}

// TestApplyForms checks the delta forms of §6.2 that the encoder never writes or
// writes only for some inputs, against exact expected output.
func TestApplyForms(t *testing.T) {
	tests := []struct {
		name, old, delta, want string
	}{
		{"short string diff (§10.6)", `{"s":"The fog comes in"}`, `{"s":["4=1-1+d|11=",0,2]}`, `{"s":"The dog comes in"}`},
		{"long string diff (§10.6)", `["` + lorem + `"]`, `{"0":["149=4-3+sed|78=",0,2]}`, `["` + loremSed + `"]`},
		{"inserted bytes contain op characters", `"ABC+DEF-HIJ=KLM|NOP *******************************"`,
			`["1=7-7+bC-def+|3=1-7=1+=|32=",0,2]`, `"AbC-def+HIJKLM|NOP= *******************************"`},
		{"several edits", `"to wound the autumnal city. So howled out for the world to give him a name.  The in-dark answered with the wind."`,
			`["1-1+T|12=5-4+eter|13=3+he |37=1-3+its|6=1-27=4-5=",0,2]`,
			`"To wound the eternal city. So he howled out for the world to give him its name. The in-dark answered with wind."`},
		{"insert in middle", `"to wound the autumnal city. The in-dark answered with the wind."`,
			`["27=48+ So howled out for the world to give him a name.|36=",0,2]`,
			`"to wound the autumnal city. So howled out for the world to give him a name. The in-dark answered with the wind."`},
		{"multi-byte characters", `"<aaaaaaaaXXXǈzzzzzzzz>"`, "[\"9=5-5+YYY\u0188|9=\",0,2]", "\"<aaaaaaaaYYY\u0188zzzzzzzz>\""},
		{"japanese", `"モバイルデータベースは将来のものです。 ある日、私たちのデータが端に集まります。"`,
			`["30=49-37+がここにあります。 あなた|12=3-12+はすべて|6=3-3-3+あ|12=",0,2]`,
			`"モバイルデータベースがここにあります。 あなたのデータはすべて端にあります。"`},
		{"insert pipe only", `"ab"`, `["1=1+||1=",0,2]`, `"a|b"`},
		{"text diff code as 2.0", `"ab"`, `["1=1-",0,2.0]`, `"a"`},
		{"json diff patch replace", `{"a":1}`, `{"a":[1,2]}`, `{"a":2}`},
		{"json diff patch delete", `{"a":1,"b":2}`, `{"a":[1,0,0]}`, `{"b":2}`},
		{"replace with array", `{"a":1}`, `{"a":[[1,2]]}`, `{"a":[1,2]}`},
		{"replace with object", `{"a":1}`, `{"a":[{"b":1}]}`, `{"a":{"b":1}}`},
		{"insert scalar", `{"a":1}`, `{"b":"x"}`, `{"a":1,"b":"x"}`},
		{"insert wrapped scalar", `{"a":1}`, `{"b":["x"]}`, `{"a":1,"b":"x"}`},
		{"empty delta on scalar", `7`, `{}`, `7`},
		{"empty delta on object", `{"a":1}`, `{}`, `{"a":1}`},
		{"empty delta on array", `[1]`, `{}`, `[1]`},
		{"top-level bare scalar", `{"a":1}`, `3`, `3`},
		{"top-level string diff", `"abc"`, `["1=1-1=",0,2]`, `"ac"`},
		{"order kept, additions appended", `{"z":1,"m":2,"a":3}`, `{"b":4,"m":[],"a":5}`, `{"z":1,"a":5,"b":4}`},
		{"tail at end appends", `[1,2]`, `{"2-":[3]}`, `[1,2,3]`},
		{"tail at zero replaces all", `[1,2]`, `{"0-":[]}`, `[]`},
		{"tail on empty array", `[]`, `{"0-":[1]}`, `[1]`},
		{"index and tail", `[1,2,3,4]`, `{"0":9,"2-":[7]}`, `[9,2,7]`},
		{"nested patch in array item", `[{"a":1},2]`, `{"0":{"a":[],"b":2}}`, `[{"b":2},2]`},
		{"numbers kept as written", `{"a":1.50,"b":1e400}`, `{"c":-0.0}`, `{"a":1.50,"b":1e400,"c":-0.0}`},
		{"no HTML escaping", `{}`, `{"a":"<&>"}`, `{"a":"<&>"}`},
		{"control characters escaped", `{}`, `{"a":"\u0001\n\t\"\\"}`, `{"a":"\u0001\n\t\"\\"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Apply([]byte(tt.old), []byte(tt.delta))
			if err != nil {
				t.Fatalf("Apply(%s, %s): %v", tt.old, tt.delta, err)
			}
			if string(got) != tt.want {
				t.Errorf("Apply(%s, %s)\n got %s\nwant %s", tt.old, tt.delta, got, tt.want)
			}
		})
	}
}

// TestApplyRejects checks that deltas that are malformed or made from another base
// fail with ErrInvalidDelta, and bad documents with ErrInvalidJSON.
func TestApplyRejects(t *testing.T) {
	tests := []struct {
		name, old, delta string
		want             error
	}{
		{"delta not JSON", `{}`, `{"a":`, ErrInvalidDelta},
		{"delta empty", `{}`, ``, ErrInvalidDelta},
		{"delta trailing data", `{}`, `{} {}`, ErrInvalidDelta},
		{"delta invalid UTF-8", `{}`, "{\"a\":\"\xff\"}", ErrInvalidDelta},
		{"old not JSON", `{"a"}`, `{}`, ErrInvalidJSON},
		{"old invalid UTF-8", "\"\xc3\"", `{}`, ErrInvalidJSON},
		{"old empty", ``, `{}`, ErrInvalidJSON},
		{"delete top level", `{"a":1}`, `[]`, ErrInvalidDelta},
		{"jdp delete top level", `{"a":1}`, `[1,0,0]`, ErrInvalidDelta},
		{"delete missing key", `{"a":1}`, `{"b":[]}`, ErrInvalidDelta},
		{"jdp delete missing key", `{"a":1}`, `{"b":[1,0,0]}`, ErrInvalidDelta},
		{"jdp replace missing key", `{"a":1}`, `{"b":[1,2]}`, ErrInvalidDelta},
		{"object delta for missing key", `{"a":1}`, `{"b":{}}`, ErrInvalidDelta},
		{"object delta on scalar", `{"a":1}`, `{"a":{"x":1}}`, ErrInvalidDelta},
		{"object delta on string top", `"s"`, `{"x":1}`, ErrInvalidDelta},
		{"four-item array", `{"a":1}`, `{"a":[1,2,3,4]}`, ErrInvalidDelta},
		{"unknown code", `{"a":1}`, `{"a":[1,0,3]}`, ErrInvalidDelta},
		{"code not a number", `{"a":"x"}`, `{"a":["1=",0,"2"]}`, ErrInvalidDelta},
		{"string diff on number", `{"a":1}`, `{"a":["1=",0,2]}`, ErrInvalidDelta},
		{"string diff on missing", `{"a":1}`, `{"b":["1=",0,2]}`, ErrInvalidDelta},
		{"string diff ops not string", `{"a":"x"}`, `{"a":[1,0,2]}`, ErrInvalidDelta},
		{"string diff empty", `{"a":"x"}`, `{"a":["",0,2]}`, ErrInvalidDelta},
		{"string diff short", `{"a":"abc"}`, `{"a":["2=",0,2]}`, ErrInvalidDelta},
		{"string diff long", `{"a":"abc"}`, `{"a":["4=",0,2]}`, ErrInvalidDelta},
		{"string diff skip too far", `{"a":"abc"}`, `{"a":["4-",0,2]}`, ErrInvalidDelta},
		{"string diff missing op", `{"a":"abc"}`, `{"a":["3",0,2]}`, ErrInvalidDelta},
		{"string diff missing count", `{"a":"abc"}`, `{"a":["=3=",0,2]}`, ErrInvalidDelta},
		{"string diff unknown op", `{"a":"abc"}`, `{"a":["3*",0,2]}`, ErrInvalidDelta},
		{"string diff insert no bar", `{"a":"abc"}`, `{"a":["3=2+xy",0,2]}`, ErrInvalidDelta},
		{"string diff insert wrong bar", `{"a":"abc"}`, `{"a":["3=1+xy|",0,2]}`, ErrInvalidDelta},
		{"string diff insert past end", `{"a":"abc"}`, `{"a":["3=9+x|",0,2]}`, ErrInvalidDelta},
		{"string diff huge count", `{"a":"abc"}`, `{"a":["99999999999999999999999=",0,2]}`, ErrInvalidDelta},
		{"string diff splits character", `{"a":"é"}`, `{"a":["1=1-",0,2]}`, ErrInvalidDelta},
		{"array index past end", `[1,2]`, `{"2":5}`, ErrInvalidDelta},
		{"array index past tail", `[1,2,3]`, `{"1-":[],"2":5}`, ErrInvalidDelta},
		{"array tail past end", `[1,2]`, `{"3-":[]}`, ErrInvalidDelta},
		{"array two tails", `[1,2]`, `{"1-":[],"2-":[]}`, ErrInvalidDelta},
		{"array tail not array", `[1,2]`, `{"1-":5}`, ErrInvalidDelta},
		{"array key leading zero", `[1,2]`, `{"01":5}`, ErrInvalidDelta},
		{"array key negative", `[1,2]`, `{"-1":5}`, ErrInvalidDelta},
		{"array key word", `[1,2]`, `{"x":5}`, ErrInvalidDelta},
		{"array key huge", `[1,2]`, `{"99999999999999999999":5}`, ErrInvalidDelta},
		{"array item deleted", `[1,2]`, `{"0":[]}`, ErrInvalidDelta},
		{"error deep inside", `{"a":{"b":[1,{"c":"x"}]}}`, `{"a":{"b":{"1":{"c":["9=",0,2]}}}}`, ErrInvalidDelta},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Apply([]byte(tt.old), []byte(tt.delta))
			if !errors.Is(err, tt.want) {
				t.Fatalf("Apply(%q, %q) = %s, %v; want %v", tt.old, tt.delta, got, err, tt.want)
			}
			if got != nil {
				t.Errorf("Apply returned output %q with an error", got)
			}
		})
	}
}

func TestApplyErrorNamesPath(t *testing.T) {
	_, err := Apply([]byte(`{"a/b":{"c":[1,"xy"]}}`), []byte(`{"a/b":{"c":{"1":["5=",0,2]}}}`))
	if !errors.Is(err, ErrInvalidDelta) {
		t.Fatalf("err = %v, want ErrInvalidDelta", err)
	}
	if !strings.Contains(err.Error(), "/a~1b/c/1") {
		t.Errorf("error %q does not name the path /a~1b/c/1", err)
	}
}

func TestCreateRejectsInvalidJSON(t *testing.T) {
	tests := []struct{ name, old, new string }{
		{"old syntax", `{`, `{}`},
		{"new syntax", `{}`, `[1,]`},
		{"old empty", ``, `{}`},
		{"new trailing", `{}`, `{}x`},
		{"new invalid UTF-8", `{}`, "\"\xe2\x82\""},
		{"old bare word", `nul`, `{}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Create([]byte(tt.old), []byte(tt.new))
			if !errors.Is(err, ErrInvalidJSON) {
				t.Fatalf("Create(%q, %q) = %s, %v; want ErrInvalidJSON", tt.old, tt.new, d, err)
			}
		})
	}
}

func TestInvalidJSONErrorHasOffset(t *testing.T) {
	_, err := Create([]byte(`{"a":1,"b":tru}`), []byte(`{}`))
	if !errors.Is(err, ErrInvalidJSON) || !strings.Contains(err.Error(), "offset") {
		t.Fatalf("err = %v, want ErrInvalidJSON with an offset", err)
	}
}

func TestDuplicateKeysLastWins(t *testing.T) {
	got, err := Apply([]byte(`{"a":1,"b":2,"a":3}`), []byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != `{"a":3,"b":2}` {
		t.Errorf("got %s, want {\"a\":3,\"b\":2}", got)
	}
}

// TestLargeObjectLookup exercises the indexed lookup used for objects with many
// members, including members added after the index exists.
func TestLargeObjectLookup(t *testing.T) {
	var oldB, newB strings.Builder
	oldB.WriteString("{")
	newB.WriteString("{")
	for i := 0; i < 50; i++ {
		if i > 0 {
			oldB.WriteString(",")
			newB.WriteString(",")
		}
		k := string(rune('A'+i%26)) + strings.Repeat("x", i/26)
		oldB.WriteString(`"` + k + `":` + "1")
		v := "1"
		if i%7 == 0 {
			v = "2"
		}
		newB.WriteString(`"` + k + `":` + v)
	}
	oldB.WriteString(`,"gone":true}`)
	newB.WriteString(`,"new":false}`)
	d, err := Create([]byte(oldB.String()), []byte(newB.String()))
	if err != nil {
		t.Fatal(err)
	}
	// Changed members: i = 0,7,...,49, keys A,H,O,V,Cx,Jx,Qx,Xx, in byte order.
	want := `{"A":2,"Cx":2,"H":2,"Jx":2,"O":2,"Qx":2,"V":2,"Xx":2,"new":false,"gone":[]}`
	if string(d) != want {
		t.Errorf("Create\n got %s\nwant %s", d, want)
	}
	got, err := Apply([]byte(oldB.String()), d)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != newB.String() {
		t.Errorf("Apply(old, Create(old, new))\n got %s\nwant %s\ndelta %s", got, newB.String(), d)
	}
}
