package hlv

import (
	"bufio"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const (
	srcSG = "pqL3hlqMVKn2VRNcx3X6BA"
	srcA  = "dnZwcm9iZS1zb3VyY2UtQQ"
	srcB  = "dnZwcm9iZS1zb3VyY2UtQg"
	srcC  = "dnZwcm9iZS1zb3VyY2UtQw"
	srcD  = "dnZwcm9iZS1zb3VyY2UtRA"
)

func TestParseVersionRecorded(t *testing.T) {
	v, err := ParseVersion("18ed7b68946d0000@" + srcSG)
	if err != nil {
		t.Fatal(err)
	}
	if v.Time != 0x18ed7b68946d0000 || v.Source != srcSG {
		t.Fatalf("got %+v", v)
	}
	if s := v.String(); s != "18ed7b68946d0000@"+srcSG {
		t.Fatalf("round trip %q", s)
	}
	if !IsCanonicalSourceID(srcSG) || !IsCanonicalSourceID(srcA) || !IsCanonicalSourceID(LegacySource) {
		t.Fatal("recorded sources should be canonical")
	}
	// Upper case and leading zeros are accepted, written canonically.
	v, err = ParseVersion(" 0018ED7B68946D0000@" + srcSG)
	if err != nil || v.String() != "18ed7b68946d0000@"+srcSG {
		t.Fatalf("lenient parse: %v %v", v, err)
	}
}

func TestParseVersionErrors(t *testing.T) {
	for _, s := range []string{"", "@", "1@", "@src", "0@src", "g@src", "1@*", "1@a,b", "1@a;b", "1@a b",
		"1@a@b", "11111111111111111@src", "-1@src", "+1@src", "1-abc", "1@\x00"} {
		if _, err := ParseVersion(s); !errors.Is(err, ErrSyntax) {
			t.Errorf("ParseVersion(%q) = %v, want ErrSyntax", s, err)
		}
	}
}

func TestLegacyVersion(t *testing.T) {
	v, err := LegacyVersion("1-abababababababababababababababababababab")
	if err != nil {
		t.Fatal(err)
	}
	if v.String() != "1ababababab@Revision+Tree+Encoding" { // cbmobile4-pull [34]
		t.Fatalf("got %s", v)
	}
	v, _ = LegacyVersion("2-e95bdc5242ffff")
	if v.String() != "2e95bdc5242@"+LegacySource {
		t.Fatalf("got %s", v)
	}
	v, _ = LegacyVersion("3-ab") // short digest: right-padded with zeros
	if v.String() != "3ab00000000@"+LegacySource {
		t.Fatalf("got %s", v)
	}
	for _, bad := range []string{"0-abc", "x-abc", "1-", "1-xyz", "16777216-ab", "abc"} {
		if _, err := LegacyVersion(bad); err == nil {
			t.Errorf("LegacyVersion(%q) succeeded", bad)
		}
	}
}

func TestVectorRoundTrips(t *testing.T) {
	for _, s := range []string{
		"18ed7b68ac6e0000@" + srcA,
		"18ed7b68ac6f0000@" + srcA + ";18ed7b68ac6e0000@" + srcB,
		"18ed7b68ac700000@" + srcA + ",18ed7b68ac6f0000@" + srcB + ",18ed7b68ac6f0000@" + srcC + ";18ed7b68ac6e0000@" + srcD,
		"18ed7b68ac720000@" + srcA + ";18ed7b689fea0000@" + srcSG,
		"18ed7b68ac700000@" + srcA + ",18ed7b68ac6f0000@" + srcB + ";",
		"18ed7b68e8c20000@" + srcSG + ";1ababababab@Revision+Tree+Encoding",
		"1000@" + srcA + ";900@" + srcB + ",2-abc,1-abc",
		"1000@" + srcA + ";2-abc",
	} {
		v, err := ParseVector(s)
		if err != nil {
			t.Fatalf("ParseVector(%q): %v", s, err)
		}
		if got := v.String(); got != s {
			t.Errorf("round trip %q -> %q", s, got)
		}
		back, err := ParseVector(v.String())
		if err != nil || !back.Equal(v) {
			t.Errorf("reparse of %q: %v %v", s, back, err)
		}
		// The history form glued back to the current version gives the same vector.
		h, err := ParseRevHistory(v.Current.String(), v.History())
		if err != nil || !h.Equal(v) {
			t.Errorf("rev/history of %q (history %q): %v %v", s, v.History(), h, err)
		}
	}
	// Without ';' everything after the current version is a merge version; in a rev
	// message's history without ';' everything is a previous version.
	v, _ := ParseVector("3@" + srcA + ",2@" + srcB + ",1@" + srcC)
	if len(v.Merge) != 2 || len(v.Previous) != 0 {
		t.Fatalf("full form without ';': %+v", v)
	}
	v, _ = ParseRevHistory("3@"+srcA, "2@"+srcB+",1@"+srcC)
	if len(v.Merge) != 0 || len(v.Previous) != 2 {
		t.Fatalf("history without ';': %+v", v)
	}
	// Spaces after separators (Couchbase Lite's own text form) are tolerated.
	v, err := ParseVector("3@" + srcA + ", 2@" + srcB + "; 1@" + srcC)
	if err != nil || len(v.Merge) != 1 || len(v.Previous) != 1 {
		t.Fatalf("spaces: %+v %v", v, err)
	}
}

func TestCurrentVersion(t *testing.T) {
	for _, s := range []string{
		"18ed7b68ac700000@" + srcA + ",18ed7b68ac6f0000@" + srcB + ";18ed7b68ac6e0000@" + srcD,
		"18ed7b68ac700000@" + srcA + ";18ed7b68ac6e0000@" + srcD,
		"18ed7b68ac700000@" + srcA,
	} {
		v, err := CurrentVersion(s)
		if err != nil || v.String() != "18ed7b68ac700000@"+srcA {
			t.Errorf("CurrentVersion(%q) = %v, %v", s, v, err)
		}
	}
	if _, err := CurrentVersion("1-abc;2@x"); !errors.Is(err, ErrSyntax) {
		t.Errorf("rev-tree ID accepted: %v", err)
	}
}

func TestVectorErrors(t *testing.T) {
	for _, s := range []string{
		"", ";", ";1@a", "1@a;;", "1@a;2@b;3@c", "1@a,", "1@a,,2@b", "1@a;2@b,,3@c",
		"2-abc", "1@a,2-abc;", "1@a,1@b,2@b", "1@a;2@a", "5@a,6@a", "5@a,4@a,3@a",
		"1@a;2@b,2@b", "1@a;2-abc,2-abc", "1@a;x-y",
	} {
		if _, err := ParseVector(s); !errors.Is(err, ErrSyntax) {
			t.Errorf("ParseVector(%q) = %v, want ErrSyntax", s, err)
		}
	}
	// The current source may appear once more as an older merge version.
	if _, err := ParseVector("5@a,4@a,3@b"); err != nil {
		t.Errorf("self-merge refused: %v", err)
	}
	if _, err := ParseVector(strings.Repeat("1@a;", 1) + strings.Repeat("2@b,", MaxEntries) + "3@c"); !errors.Is(err, ErrSyntax) {
		t.Errorf("oversized vector accepted: %v", err)
	}
}

type recorded struct {
	Kind       string     `json:"kind"`
	I          int        `json:"i"`
	Properties [][]string `json:"properties"`
	Body       string     `json:"body"`
}

func loadMessages(t *testing.T, name string) []recorded {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "transcripts", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []recorded
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r recorded
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		if r.Kind == "message" {
			out = append(out, r)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func prop(r recorded, key string) (string, bool) {
	for _, p := range r.Properties {
		if len(p) == 2 && p[0] == key {
			return p[1], true
		}
	}
	return "", false
}

// TestRecordedTranscripts parses every version string of the CBMobile_4 recordings —
// changes rows, proposeChanges rows and their answers, rev/history pairs — and checks
// that writing them back gives the recorded bytes.
func TestRecordedTranscripts(t *testing.T) {
	revs, rows := 0, 0
	for _, name := range []string{"cbmobile4-push.jsonl", "cbmobile4-pull.jsonl"} {
		for _, m := range loadMessages(t, name) {
			profile, _ := prop(m, "Profile")
			switch profile {
			case "rev":
				rev, _ := prop(m, "rev")
				history, hasHistory := prop(m, "history")
				if IsLegacyRevID(rev) {
					continue // a CBMobile_3-style rev on a _4 connection ([32])
				}
				v, err := ParseRevHistory(rev, history)
				if err != nil {
					t.Fatalf("%s [%d]: %v", name, m.I, err)
				}
				if v.Current.String() != rev || v.History() != history || (v.History() != "") != hasHistory {
					t.Errorf("%s [%d]: rev %q history %q -> %q %q", name, m.I, rev, history, v.Current, v.History())
				}
				revs++
			case "changes", "proposeChanges":
				var body [][]any
				if m.Body == "null" {
					continue
				}
				if err := json.Unmarshal([]byte(m.Body), &body); err != nil {
					t.Fatalf("%s [%d]: %v", name, m.I, err)
				}
				for _, row := range body {
					for _, cell := range row {
						s, ok := cell.(string)
						if !ok || !strings.Contains(s, "@") {
							continue
						}
						v, err := ParseVector(s)
						if err != nil {
							t.Fatalf("%s [%d]: %q: %v", name, m.I, s, err)
						}
						if v.String() != s {
							t.Errorf("%s [%d]: %q -> %q", name, m.I, s, v)
						}
						rows++
					}
				}
			}
		}
	}
	if revs < 15 || rows < 15 {
		t.Fatalf("too few recorded versions checked: %d revs, %d row cells", revs, rows)
	}
}
