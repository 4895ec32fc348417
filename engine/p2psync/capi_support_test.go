package p2psync

import (
	"sync/atomic"
	"testing"
	"time"
)

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

func TestSplitSubjectAltNames(t *testing.T) {
	dns, ips := SplitSubjectAltNames([]string{"localhost", "127.0.0.1", "::1", "peer.local"})
	if len(dns) != 2 || dns[0] != "localhost" || dns[1] != "peer.local" {
		t.Fatalf("dns = %v", dns)
	}
	if len(ips) != 2 || ips[0].String() != "127.0.0.1" || ips[1].String() != "::1" {
		t.Fatalf("ips = %v", ips)
	}
}

func TestCallbackGateWaitsAndRefuses(t *testing.T) {
	var g CallbackGate
	release := make(chan struct{})
	started := make(chan struct{})
	go Call(&g, false, func() bool { close(started); <-release; return true })
	<-started
	closed := make(chan struct{})
	go func() { g.Close(); close(closed) }()
	select {
	case <-closed:
		t.Fatal("Close returned while a call was in flight")
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return after the call ended")
	}
	if Call(&g, false, func() bool { t.Error("called after Close"); return true }) {
		t.Fatal("closed gate let a call through")
	}
}
