package hlv

import (
	"errors"
	"testing"
)

// FuzzParseVector: any input either parses into a valid vector whose text form parses
// back to an equal vector, or fails with ErrSyntax; it never panics.
func FuzzParseVector(f *testing.F) {
	for _, s := range []string{
		"18ed7b68ac700000@" + srcA + ",18ed7b68ac6f0000@" + srcB + ",18ed7b68ac6f0000@" + srcC + ";18ed7b68ac6e0000@" + srcD,
		"18ed7b68e8c20000@" + srcSG + ";1ababababab@Revision+Tree+Encoding",
		"1000@a;900@b,2-abc,1-abc", "5@a,4@a;", "1@a, 2@b; 3@c", ";", "1-abc", "@", "ffffffffffffffff@x",
	} {
		f.Add(s, "")
		f.Add("1@z", s)
	}
	f.Fuzz(func(t *testing.T, s, history string) {
		for _, parse := range []func() (Vector, error){
			func() (Vector, error) { return ParseVector(s) },
			func() (Vector, error) { return ParseRevHistory(s, history) },
		} {
			v, err := parse()
			if err != nil {
				if !errors.Is(err, ErrSyntax) {
					t.Fatalf("error without ErrSyntax: %v", err)
				}
				continue
			}
			if err := v.Validate(); err != nil {
				t.Fatalf("parsed an invalid vector: %v", err)
			}
			back, err := ParseVector(v.String())
			if err != nil || !back.Equal(v) {
				t.Fatalf("%q -> %q -> %v %v", s, v.String(), back, err)
			}
			h, err := ParseRevHistory(v.Current.String(), v.History())
			if err != nil || !h.Equal(v) {
				t.Fatalf("history form of %q: %v %v", v.String(), h, err)
			}
		}
	})
}

func FuzzParseVersion(f *testing.F) {
	f.Add("18ed7b68946d0000@" + srcSG)
	f.Add(" 0Ab@x")
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseVersion(s)
		if err != nil {
			if !errors.Is(err, ErrSyntax) {
				t.Fatalf("error without ErrSyntax: %v", err)
			}
			return
		}
		back, err := ParseVersion(v.String())
		if err != nil || back != v {
			t.Fatalf("%q -> %q -> %v %v", s, v, back, err)
		}
	})
}
