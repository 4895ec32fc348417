package delta

import (
	"math/rand"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestStringOps(t *testing.T) {
	tests := []struct {
		name, old, new, ops string
	}{
		{"one word (reference vector)", lorem, loremSed, "149=4-3+sed|78="},
		// Reference vector: the cut may not fall between C7/C6 and the shared 88.
		{"shared continuation byte", "<aaaaaaaaXXX\xC7\x88zzzzzzzz>", "<aaaaaaaaYYY\xC6\x88zzzzzzzz>", "9=5-5+YYY\xC6\x88|9="},
		{"shared lead byte", "xxé", "xxè", "2=2-2+è|"},
		{"append", "abc", "abcdef", "3=3+def|"},
		{"prepend", "abc", "zabc", "1+z|3="},
		{"truncate", "abcdef", "abc", "3=3-"},
		{"drop front", "abcdef", "def", "3-3="},
		{"everything new", "abc", "xyz", "3-3+xyz|"},
		{"repeated letters", "aaaa", "aaaaa", "4=1+a|"},
		{"from empty", "", "abc", "3+abc|"},
		{"to empty", "abc", "", "3-"},
		{"insert with pipe and digits", "ab", "a1|2+b", "1=4+1|2+|1="},
		{"emoji", "hi 😀 there", "hi 😃 there", "3=4-4+😃|6="},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := stringOps(tt.old, tt.new)
			if got != tt.ops {
				t.Errorf("stringOps(%q, %q) = %q, want %q", tt.old, tt.new, got, tt.ops)
			}
			back, err := applyStringOps(tt.old, got)
			if err != nil {
				t.Fatalf("applyStringOps(%q, %q): %v", tt.old, got, err)
			}
			if back != tt.new {
				t.Errorf("applyStringOps(%q, %q) = %q, want %q", tt.old, got, back, tt.new)
			}
		})
	}
}

func TestStringDeltaChoice(t *testing.T) {
	long := strings.Repeat("0123456789", 10)
	tests := []struct {
		name, old, new string
		want           bool
	}{
		{"new shorter than 60 bytes", long, long[:59], false},
		{"one edit in a long string", long, long[:50] + "X" + long[51:], true},
		{"exactly 60 bytes, small edit", long[:60], long[:30] + "Y" + long[31:60], true},
		{"unrelated strings", long, strings.Repeat("abcdefghij", 10), false},
		// Escaping counts: the diff repeats the quotes, the plain value does not.
		{"quotes make both larger", strings.Repeat(`"`, 70), strings.Repeat(`"`, 35) + "x" + strings.Repeat(`"`, 34), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ops, ok := stringDelta(tt.old, tt.new)
			if ok != tt.want {
				t.Fatalf("stringDelta chose diff = %v (ops %q), want %v", ok, ops, tt.want)
			}
			if ok {
				if encodedStringLen(ops)+textDiffOverhead >= encodedStringLen(tt.new) {
					t.Errorf("chosen diff %q is not smaller than the string", ops)
				}
				back, err := applyStringOps(tt.old, ops)
				if err != nil || back != tt.new {
					t.Errorf("applyStringOps = %q, %v; want %q", back, err, tt.new)
				}
			}
		})
	}
}

func TestEncodedStringLen(t *testing.T) {
	for _, s := range []string{"", "abc", "a\"b\\c", "\n\r\t\b\f", "\x00\x1f\x7f", "é😀", "<&>\u2028"} {
		if got, want := encodedStringLen(s), len(appendString(nil, s)); got != want {
			t.Errorf("encodedStringLen(%q) = %d, want %d", s, got, want)
		}
	}
}

// TestStringOpsRandom round-trips random pairs of strings that share a prefix and
// a suffix, made of one-, two-, three- and four-byte characters so that cut points
// land next to and inside multi-byte sequences.
func TestStringOpsRandom(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	alphabet := []rune("ab|+-=0129éèêÀ€₤日本語😀😃🙂\"\\\n")
	randStr := func(n int) string {
		var b strings.Builder
		for i := 0; i < n; i++ {
			b.WriteRune(alphabet[rng.Intn(len(alphabet))])
		}
		return b.String()
	}
	for i := 0; i < 5000; i++ {
		pre, suf := randStr(rng.Intn(20)), randStr(rng.Intn(20))
		old := pre + randStr(rng.Intn(6)) + suf
		new := pre + randStr(rng.Intn(6)) + suf
		if old == new {
			continue // Create never diffs equal strings
		}
		ops := stringOps(old, new)
		got, err := applyStringOps(old, ops)
		if err != nil || got != new {
			t.Fatalf("old %q new %q ops %q: got %q, %v", old, new, ops, got, err)
		}
		// Inserted bytes must be whole characters: the ops text is valid UTF-8.
		if !utf8.ValidString(ops) {
			t.Fatalf("ops %q for %q -> %q is not valid UTF-8", ops, old, new)
		}
	}
}
