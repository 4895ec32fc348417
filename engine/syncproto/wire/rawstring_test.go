package wire

import (
	"encoding/json"
	"testing"
)

// rawString gives exactly what json.Unmarshal gives for every value it may meet in a
// validated body: plain strings (its fast path) and everything else (escapes, invalid
// UTF-8, which json replaces with U+FFFD, null, numbers, objects).
func TestRawStringMatchesUnmarshal(t *testing.T) {
	for _, v := range []string{
		`"doc-000001"`, `""`, `"1-abc"`, `"18eedbdff61d0000@EzUEkEjOhkXbbVlic0KAdA"`,
		`"caf\u00e9"`, `"a\"b"`, `"tab\there"`, `"back\\slash"`, `"\ud83d\ude00"`,
		"\"\xff\xfe\"", "\"é\"", `null`, `12`, `true`, `{"a":1}`, `["x"]`,
	} {
		var want, got string
		werr := json.Unmarshal([]byte(v), &want)
		gerr := rawString([]byte(v), &got)
		if got != want || (werr == nil) != (gerr == nil) {
			t.Errorf("%s: rawString %q, %v; json.Unmarshal %q, %v", v, got, gerr, want, werr)
		}
	}
	rows, err := DecodeProposeChanges([]byte(`[["d\u0031","1-a",null,12],["d2","2-b","1-x"]]`))
	if err != nil || len(rows) != 2 || rows[0].DocID != "d1" || rows[0].BodySize != 12 || rows[1].ParentRevID != "1-x" {
		t.Fatalf("rows %+v, %v", rows, err)
	}
}
