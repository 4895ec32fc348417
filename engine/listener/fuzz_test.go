package listener

import (
	"encoding/base64"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParseBasicAuth feeds arbitrary Authorization headers (peer input) to the parser: it
// must never panic, and whatever it accepts must be credentials a C callback can take
// (valid UTF-8, no NUL, no ':' in the username) that survive a re-encoding unchanged.
// Seeds: the cases below and testdata/fuzz/FuzzParseBasicAuth.
func FuzzParseBasicAuth(f *testing.F) {
	for _, seed := range []string{
		"Basic " + base64.StdEncoding.EncodeToString([]byte("alice:secret")),
		"basic " + base64.RawStdEncoding.EncodeToString([]byte("zoë:naïve:x")),
		"Basic\t" + base64.StdEncoding.EncodeToString([]byte(":")),
		"Basic " + base64.StdEncoding.EncodeToString([]byte("a\x00:b")),
		"Basic ====",
		"Basic YQ",
		"Bearer abc",
		"",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, header string) {
		user, pass, ok := parseBasicAuth(header)
		if !ok {
			if user != "" || pass != "" {
				t.Fatalf("refused header returned credentials %q, %q", user, pass)
			}
			return
		}
		for _, s := range []string{user, pass} {
			if !utf8.ValidString(s) || strings.IndexByte(s, 0) >= 0 {
				t.Fatalf("accepted credentials unfit for C: %q", s)
			}
		}
		if strings.Contains(user, ":") {
			t.Fatalf("username %q contains ':'", user)
		}
		again := "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
		u2, p2, ok2 := parseBasicAuth(again)
		if !ok2 || u2 != user || p2 != pass {
			t.Fatalf("re-encoded credentials parse as %q, %q, %v; want %q, %q", u2, p2, ok2, user, pass)
		}
	})
}
