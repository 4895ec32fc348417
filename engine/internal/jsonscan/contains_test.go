package jsonscan

import (
	"bytes"
	"math/rand"
	"strings"
	"testing"
)

func TestContainsRareMatchesBytesContains(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	seps := []string{`"`, `"_`, `"@type"`, `"_attachments"`, `\u`, `"\u005`, `"blob_`}
	alphabet := `"_\u005@typeblo{}:,ab`
	for i := 0; i < 20000; i++ {
		n := rng.Intn(40)
		var b strings.Builder
		for k := 0; k < n; k++ {
			b.WriteByte(alphabet[rng.Intn(len(alphabet))])
		}
		s := []byte(b.String())
		for _, sep := range seps {
			if got, want := ContainsRare(s, []byte(sep)), bytes.Contains(s, []byte(sep)); got != want {
				t.Fatalf("ContainsRare(%q, %q) = %v, want %v", s, sep, got, want)
			}
		}
	}
}

// The W4 shape: keys at the start, then a long string without the first byte of sep.
func BenchmarkContainsRareLongString(b *testing.B) {
	doc := []byte(`{"n":1,"kind":"edit1","group":"g1","score":79.19,"created":"2024-01-01T00:00:00.000Z","payload":"` +
		strings.Repeat("abcdefgh_ABCDEFGH-0123456", 4000) + `"}`)
	b.Run("ContainsRare", func(b *testing.B) {
		b.SetBytes(int64(len(doc)))
		for b.Loop() {
			if ContainsRare(doc, []byte(`"_attachments"`)) {
				b.Fatal("found")
			}
		}
	})
	b.Run("bytes.Contains", func(b *testing.B) {
		b.SetBytes(int64(len(doc)))
		for b.Loop() {
			if bytes.Contains(doc, []byte(`"_attachments"`)) {
				b.Fatal("found")
			}
		}
	})
}
