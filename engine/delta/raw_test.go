package delta

import (
	"bytes"
	"errors"
	"math/rand"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/p2psync/libp2psync/engine/internal/jsonscan"
)

// The raw paths of Apply and Create (members the delta does not name are copied as
// text) must give exactly what the general paths give, byte for byte, for any input:
// a receiver that rebuilt a body with one and a sender that checked it with the
// other must agree. These inputs cover the forms the raw scanner must turn away
// (whitespace, escapes appendString does not write, repeated keys at any depth) as
// well as the canonical ones it takes.
var rawCases = []struct{ old, delta, new string }{
	{`{"a":1,"b":"x","c":[1,{"d":null}]}`, `{"b":"y"}`, `{"a":1,"b":"y","c":[1,{"d":null}],"e":true}`},
	{`{"a":1, "b":2}`, `{"b":3}`, `{"a":1,"b":3}`},
	{`{"a":"\/","b":2}`, `{"b":3}`, `{"a":"/","b":3}`},
	{`{"a":"\u00e9","b":2}`, `{"b":3}`, `{"a":"é","b":3}`},
	{`{"a":"\u000a","b":2}`, `{"b":3}`, `{"a":"\n","b":3}`},
	{`{"a":"\u001F","b":2}`, `{"b":3}`, `{"a":"\u001f","b":3}`},
	{`{"a":"\u001f\n\"\\","b":2}`, `{"b":3}`, `{"a":"\u001f\n\"\\","b":4}`},
	{`{"a":{"x":1,"x":2},"b":2}`, `{"b":3}`, `{"a":{"x":2},"b":3}`},
	{`{"a":[{"k1":1,"k2":2,"k3":3,"k4":4,"k5":5,"k6":6,"k7":7,"k8":8,"k9":9,"k1":0}],"b":2}`, `{"b":3}`, `{"b":3}`},
	{`{"a":1,"a":2,"b":2}`, `{"b":3}`, `{"a":2,"b":3}`},
	{`{"a":1,"b":2}`, `{"c":[]}`, `{"a":1}`},
	{`{"a":1,"b":2}`, `{"b":[]}`, `{"a":1}`},
	{`{"a":1,"b":2}`, `{"b":{"c":1}}`, `{"a":1,"b":{"c":1}}`},
	{`{"a":1e5,"b":-0.5E+3}`, `{"a":[2]}`, `{"a":1e5,"b":-0.5E+3}`},
	{`{"a":01}`, `{"a":[2]}`, `{"a":2}`},
	{`{"a":1}x`, `{"a":[2]}`, `{"a":2}`},
	{`{"a":1} `, `{"a":[2]}`, `{"a":2}`},
	{`{}`, `{"a":[2]}`, `{}`},
	{`{"a":tru}`, `{}`, `{"a":true}`},
	{`[1,2]`, `{"0":5}`, `[1]`},
	{`{"s":"` + lorem + `","n":1}`, `{"s":["4=1-1+d|11=",0,2]}`, `{"s":"` + loremSed + `","n":1}`},
	{"{\"a\":\"\xff\",\"b\":1}", `{"b":2}`, `{"b":2}`},
	{`{"a":1,"b":2}`, `{"b":3`, `{"a":1}`},
	{`{"a":1,"b":2}`, `[5]`, `{"a":1}`},
	{`{"a":` + strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth) + `,"b":1}`, `{"b":2}`, `{"b":2}`},
	{`{"a":` + strings.Repeat("[", MaxDepth-1) + strings.Repeat("]", MaxDepth-1) + `,"b":1}`, `{"b":2}`, `{"b":2}`},
}

func sameResult(t *testing.T, what string, got, want []byte, gotErr, wantErr error) {
	t.Helper()
	if !bytes.Equal(got, want) || (gotErr == nil) != (wantErr == nil) ||
		errors.Is(gotErr, ErrInvalidJSON) != errors.Is(wantErr, ErrInvalidJSON) ||
		errors.Is(gotErr, ErrInvalidDelta) != errors.Is(wantErr, ErrInvalidDelta) {
		t.Fatalf("%s: got %q, %v; the general path gives %q, %v", what, got, gotErr, want, wantErr)
	}
}

func checkRawPaths(t *testing.T, old, delta, new []byte) {
	got, err := Apply(old, delta)
	want, wantErr := applyDecoded(old, delta)
	sameResult(t, "Apply("+string(old)+", "+string(delta)+")", got, want, err, wantErr)
	got, err = Create(old, new)
	want, wantErr = createDecoded(old, new)
	sameResult(t, "Create("+string(old)+", "+string(new)+")", got, want, err, wantErr)
}

func TestRawPathsMatchGeneralPaths(t *testing.T) {
	for _, c := range rawCases {
		checkRawPaths(t, []byte(c.old), []byte(c.delta), []byte(c.new))
		checkRawPaths(t, []byte(c.new), []byte(c.delta), []byte(c.old))
	}
}

// The raw path must actually be taken for canonical documents (else the test above
// proves nothing about it), and refused for the other forms.
func TestTopMembersTakesCanonicalOnly(t *testing.T) {
	for _, s := range []string{`{}`, `{"a":1,"b":"x\n\u0001","c":[true,false,null,{"d":-1.5e3}]}`} {
		if _, _, ok := topMembers([]byte(s)); !ok {
			t.Errorf("topMembers(%s) refused a canonical document", s)
		}
	}
	for _, s := range []string{`{"a":1, "b":2}`, `{"a":"\/"}`, `{"a":"\u000a"}`, `{"a":"\u001F"}`, `{"a":"\u00e9"}`,
		`{"a":{"x":1,"x":2}}`, `{"a":1,"a":2}`, ` {}`, `{"a":1}x`, `[1]`, `{"a":01}`} {
		if _, _, ok := topMembers([]byte(s)); ok {
			t.Errorf("topMembers(%s) took a document that is not canonical", s)
		}
	}
}

// The fuzz seed corpora of Apply and Create also go through both paths.
func TestRawPathsOnFuzzCorpus(t *testing.T) {
	for _, dir := range []string{"FuzzApply", "FuzzCreateApply"} {
		files, _ := filepath.Glob(filepath.Join("testdata", "fuzz", dir, "*"))
		for _, f := range files {
			a, b, ok := readFuzzPair(t, f)
			if ok {
				checkRawPaths(t, a, b, b)
				checkRawPaths(t, b, a, a)
			}
		}
	}
}

// FuzzRawPaths compares the raw and the general paths on arbitrary input.
func FuzzRawPaths(f *testing.F) {
	for _, c := range rawCases {
		f.Add([]byte(c.old), []byte(c.delta), []byte(c.new))
	}
	f.Fuzz(func(t *testing.T, old, delta, new []byte) { checkRawPaths(t, old, delta, new) })
}

func readFuzzPair(t *testing.T, path string) (a, b []byte, ok bool) {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var vals [][]byte
	for _, line := range strings.Split(string(data), "\n")[1:] {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "[]byte(") {
			continue
		}
		v, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(line, "[]byte("), ")"))
		if err != nil {
			return nil, nil, false
		}
		vals = append(vals, []byte(v))
	}
	if len(vals) != 2 {
		return nil, nil, false
	}
	return vals[0], vals[1], true
}

// plainEnd (the cached IndexByte search of canonScanner) finds what
// jsonscan.PlainRunEnd finds, at positions that only move forward as a scan's do.
func TestPlainEndMatchesPlainRunEnd(t *testing.T) {
	rng := rand.New(rand.NewSource(11))
	alphabet := []byte{'"', '\\', 0x01, 0x1f, '\n', 'a', 'b', ' ', 0x7f, 0x80, 0xe9, '_', '{'}
	for round := 0; round < 3000; round++ {
		n := rng.Intn(300)
		b := make([]byte, n)
		rare := rng.Intn(40) + 1 // 1 in rare bytes is not 'a'
		for i := range b {
			b[i] = 'a'
			if rng.Intn(rare) == 0 {
				b[i] = alphabet[rng.Intn(len(alphabet))]
			}
		}
		s := canonScanner{data: b}
		for s.pos < n {
			if got, want := s.plainEnd(), jsonscan.PlainRunEnd(b, s.pos); got != want {
				t.Fatalf("plainEnd at %d of %q = %d, want %d", s.pos, b, got, want)
			}
			s.pos += 1 + rng.Intn(4)
		}
	}
}
