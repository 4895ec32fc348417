package main

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestEveryForwardChecksFork fails when a public p2p_* function in abi.c calls into Go
// without the GO(err, ...) fork check: in a child process forked after the library was
// loaded, such a call would enter the dead Go runtime and hang instead of returning
// P2P_ERR_FORKED.
func TestEveryForwardChecksFork(t *testing.T) {
	src, err := os.ReadFile("abi.c")
	if err != nil {
		t.Fatal(err)
	}
	definition := regexp.MustCompile(`^\w[\w\s\*]*\b(p2p_\w+)\(.*\)\s*\{(.*)\}\s*$`)
	checked := 0
	for _, line := range strings.Split(string(src), "\n") {
		m := definition.FindStringSubmatch(line)
		if m == nil || !strings.Contains(m[2], "p2pgo_") {
			continue
		}
		checked++
		body := strings.TrimSpace(m[2])
		switch {
		case m[1] == "p2p_debug_live_handles":
			if !strings.HasPrefix(body, "return forked ? 0 : p2pgo_") {
				t.Errorf("%s calls into Go without checking for a fork: %s", m[1], body)
			}
		case !strings.HasPrefix(body, "return GO(err, p2pgo_") || !strings.HasSuffix(body, "err));"):
			t.Errorf("%s calls into Go without GO(err, ...): %s", m[1], body)
		}
	}
	if checked < 80 {
		t.Fatalf("found only %d forwards in abi.c: the pattern no longer matches the file", checked)
	}
	// Every p2pgo_ call in the file is on a checked line: none hides in a multi-line body.
	if calls := len(regexp.MustCompile(`\bp2pgo_\w+\(`).FindAllIndex(src, -1)); calls != checked {
		t.Errorf("abi.c has %d p2pgo_ calls but %d one-line forwards: write each forward on one line", calls, checked)
	}
}
