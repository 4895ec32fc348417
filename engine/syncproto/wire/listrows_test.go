package wire

import (
	"strings"
	"testing"
)

func TestListRowsOver(t *testing.T) {
	rows := func(n int, row string) string {
		return "[" + strings.TrimSuffix(strings.Repeat(row+",", n), ",") + "]"
	}
	tests := []struct {
		body  string
		limit int
		want  bool
	}{
		{`[]`, 0, false},
		{`null`, 0, false},
		{`[[1,"a","1-a"]]`, 0, true},
		{`[[1,"a","1-a"]]`, 1, false},
		{rows(3, `[1,"a","1-a"]`), 2, true},
		{rows(3, `[1,"a","1-a"]`), 3, false},
		// Brackets and escaped quotes inside strings are not rows.
		{rows(2, `[1,"[[[\"[[","1-a"]`), 2, false},
		{rows(2, `[1,"a\\","[[1-a"]`), 2, false},
		{rows(2, `[1,"a\\\"[[","1-a"]`), 2, false},
		// Nested values inside a row are not rows ({"seq"} sequences, arrays).
		{rows(2, `[{"a":[1,[2]]},"a","1-a",[true]]`), 2, false},
		{`[[1,"unterminated`, 0, true},
		{`["unterminated`, 0, false},
	}
	for _, tt := range tests {
		if got := ListRowsOver([]byte(tt.body), tt.limit); got != tt.want {
			t.Errorf("ListRowsOver(%s, %d) = %v, want %v", tt.body, tt.limit, got, tt.want)
		}
	}
	big := rows(MaxListRows+1, `[1,"d","1-a"]`)
	if !ListRowsOver([]byte(big), MaxListRows) || ListRowsOver([]byte(big[:strings.LastIndex(big, ",[")]+"]"), MaxListRows) {
		t.Error("MaxListRows+1 rows not told from MaxListRows")
	}
}
