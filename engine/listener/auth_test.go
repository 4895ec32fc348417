package listener

import (
	"encoding/base64"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/p2psync/libp2psync/engine/replicator"
)

func TestParseBasicAuth(t *testing.T) {
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	raw := func(s string) string { return base64.RawStdEncoding.EncodeToString([]byte(s)) }
	tests := []struct {
		name       string
		header     string
		user, pass string
		ok         bool
	}{
		{"plain", "Basic " + b64("alice:secret"), "alice", "secret", true},
		{"lowercase scheme", "basic " + b64("alice:secret"), "alice", "secret", true},
		{"upper scheme", "BASIC " + b64("alice:secret"), "alice", "secret", true},
		{"extra spaces and tab", "  Basic \t " + b64("alice:secret") + "  ", "alice", "secret", true},
		{"no padding", "Basic " + raw("alice:secre"), "alice", "secre", true},
		{"colon in password", "Basic " + b64("alice:a:b:c"), "alice", "a:b:c", true},
		{"empty password", "Basic " + b64("alice:"), "alice", "", true},
		{"empty username", "Basic " + b64(":secret"), "", "secret", true},
		{"utf-8", "Basic " + b64("zoë:naïve"), "zoë", "naïve", true},
		{"empty header", "", "", "", false},
		{"scheme only", "Basic", "", "", false},
		{"other scheme", "Bearer " + b64("alice:secret"), "", "", false},
		{"two tokens", "Basic " + b64("alice:secret") + " " + b64("x:y"), "", "", false},
		{"not base64", "Basic !!!!", "", "", false},
		{"bad padding", "Basic " + b64("alice:secret") + "==", "", "", false},
		{"no colon", "Basic " + b64("alicesecret"), "", "", false},
		{"NUL byte", "Basic " + b64("alice:sec\x00ret"), "", "", false},
		{"invalid utf-8", "Basic " + b64("alice:\xff\xfe"), "", "", false},
		{"oversized", "Basic " + b64("alice:"+string(make([]byte, maxAuthorizationLen))), "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			user, pass, ok := parseBasicAuth(tt.header)
			if ok != tt.ok || user != tt.user || pass != tt.pass {
				t.Errorf("parseBasicAuth(%.60q) = %q, %q, %v; want %q, %q, %v", tt.header, user, pass, ok, tt.user, tt.pass, tt.ok)
			}
		})
	}
}

// What the replicator's BasicAuthenticator sends is what the listener parses.
func TestBasicAuthRoundTrip(t *testing.T) {
	for _, cred := range [][2]string{{"alice", "secret"}, {"", ""}, {"u", "p:with:colons"}, {"ünï", "cödé ✓"}} {
		h := http.Header{}
		replicator.BasicAuthenticator{Username: cred[0], Password: cred[1]}.Authorize(h)
		user, pass, ok := parseBasicAuth(h.Get("Authorization"))
		if !ok || user != cred[0] || pass != cred[1] {
			t.Errorf("round trip of %q: got %q, %q, %v", cred, user, pass, ok)
		}
	}
}

func TestStaticPasswords(t *testing.T) {
	check := StaticPasswords(map[string]string{"alice": "secret", "bob": ""})
	tests := []struct {
		user, pass string
		want       bool
	}{
		{"alice", "secret", true},
		{"bob", "", true},
		{"alice", "Secret", false},
		{"alice", "secret ", false},
		{"alice", "", false},
		{"bob", "secret", false},
		{"carol", "secret", false},
		{"", "", false},
	}
	for _, tt := range tests {
		if got := check(tt.user, tt.pass); got != tt.want {
			t.Errorf("check(%q, %q) = %v, want %v", tt.user, tt.pass, got, tt.want)
		}
	}
	if StaticPasswords(nil)("", "") {
		t.Error("an empty credential list accepted someone")
	}
	creds := map[string]string{"alice": "secret"}
	check = StaticPasswords(creds)
	creds["alice"] = "changed"
	if !check("alice", "secret") || check("alice", "changed") {
		t.Error("StaticPasswords did not copy its map")
	}
}

// A request with two Authorization headers is refused before the callback runs.
func TestPasswordCheckHeaders(t *testing.T) {
	var asked atomic.Int64
	hook := passwordCheck(func(string, string) bool { asked.Add(1); return true }, testLogger(t))
	good := "Basic " + base64.StdEncoding.EncodeToString([]byte("a:b"))
	tests := []struct {
		name   string
		values []string
		want   bool
	}{
		{"one", []string{good}, true},
		{"none", nil, false},
		{"two", []string{good, good}, false},
		{"malformed", []string{"Basic"}, false},
	}
	for _, tt := range tests {
		r, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1/db/_blipsync", nil)
		for _, v := range tt.values {
			r.Header.Add("Authorization", v)
		}
		before := asked.Load()
		if got := hook(r); got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
		if calls := asked.Load() - before; (calls == 1) != tt.want {
			t.Errorf("%s: callback called %d times", tt.name, calls)
		}
	}
}

func TestPasswordsOrCallback(t *testing.T) {
	var calls atomic.Int32
	fn := PasswordAuthenticator(func(u, p string) bool { calls.Add(1); return u == "bob" && p == "cb" })
	static := map[string]string{"alice": "pw"}
	tests := []struct {
		name     string
		creds    map[string]string
		fn       PasswordAuthenticator
		user, pw string
		want     bool
		nilAuth  bool
	}{
		{"neither", nil, nil, "", "", false, true},
		{"static accepts", static, nil, "alice", "pw", true, false},
		{"static refuses", static, nil, "alice", "no", false, false},
		{"callback only", nil, fn, "bob", "cb", true, false},
		{"both: static match", static, fn, "alice", "pw", true, false},
		{"both: callback match", static, fn, "bob", "cb", true, false},
		{"both: none", static, fn, "eve", "x", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			auth := PasswordsOrCallback(tt.creds, tt.fn)
			if (auth == nil) != tt.nilAuth {
				t.Fatalf("nil authenticator = %v, want %v", auth == nil, tt.nilAuth)
			}
			if auth != nil && auth(tt.user, tt.pw) != tt.want {
				t.Fatalf("auth(%q, %q) = %v, want %v", tt.user, tt.pw, !tt.want, tt.want)
			}
		})
	}
}

// testLogger routes logs to the test log (shown with -v or on failure).
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	defer func() { _ = recover() }() // a log line after the test ended must not crash
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}
