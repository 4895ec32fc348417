package delta

import (
	"errors"
	"strings"
	"testing"
)

// nested returns n arrays nested around inner: [[[...inner...]]].
func nested(n int, inner string) string {
	return strings.Repeat("[", n) + inner + strings.Repeat("]", n)
}

// nestedObjects returns n objects nested under key "a" around inner.
func nestedObjects(n int, inner string) string {
	return strings.Repeat(`{"a":`, n) + inner + strings.Repeat("}", n)
}

func TestDepthLimit(t *testing.T) {
	const huge = 1_000_000 // far beyond any stack a naive recursive parser survives
	tests := []struct {
		name       string
		old, delta string
		want       error
	}{
		{"huge old", nested(huge, "1"), `{}`, ErrInvalidJSON},
		{"huge delta", `{}`, nestedObjects(huge, "1"), ErrInvalidDelta},
		{"unterminated huge old", strings.Repeat("[", huge), `{}`, ErrInvalidJSON},
		{"old one level too deep", nested(MaxDepth+1, ""), `{}`, ErrInvalidJSON},
		{"delta one level too deep", `[1]`, nested(maxDeltaDepth+1, ""), ErrInvalidDelta},
		// No delta within maxDeltaDepth can make Apply's result deeper than
		// MaxDepth: every value a delta carries sits one level deeper in the delta
		// than in the result, and untouched parts of old are no deeper than old.
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Apply([]byte(tt.old), []byte(tt.delta))
			if !errors.Is(err, tt.want) {
				t.Fatalf("Apply = %.40s, %v; want %v", got, err, tt.want)
			}
			if !strings.Contains(err.Error(), "nesting deeper than") {
				t.Errorf("error %q does not say the nesting is too deep", err)
			}
		})
	}

	if _, err := Create([]byte(nested(huge, "")), []byte(`{}`)); !errors.Is(err, ErrInvalidJSON) {
		t.Errorf("Create(huge old) err = %v, want ErrInvalidJSON", err)
	}
	if _, err := Create([]byte(`{}`), []byte(nestedObjects(huge, "{}"))); !errors.Is(err, ErrInvalidJSON) {
		t.Errorf("Create(huge new) err = %v, want ErrInvalidJSON", err)
	}
}

// TestDepthAtLimit: documents exactly MaxDepth deep are accepted everywhere, and
// Create's deltas for them (one level deeper when a container is replaced) apply.
func TestDepthAtLimit(t *testing.T) {
	deepOld := nested(MaxDepth, `1`)
	deepNew := nested(MaxDepth, `2`)
	deepObj := nested(MaxDepth-1, `{"x":1}`)
	pairs := []struct{ name, old, new string }{
		{"scalar at the bottom", deepOld, deepNew},
		{"container replaced at the bottom", nested(MaxDepth-1, "5"), nested(MaxDepth-1, "[7]")},
		{"whole value replaced", `{}`, deepObj},
		{"array to object at the bottom", deepOld, deepObj},
	}
	for _, tt := range pairs {
		t.Run(tt.name, func(t *testing.T) {
			d := checkRoundTrip(t, []byte(tt.old), []byte(tt.new))
			t.Logf("delta depth %d", strings.Count(string(d), "[")+strings.Count(string(d), "{"))
		})
	}
}
