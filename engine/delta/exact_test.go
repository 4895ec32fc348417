package delta

import (
	"bytes"
	"math/rand"
	"testing"
)

// checkExact asserts that CreateExact agrees with Create followed by Apply: exact
// exactly when Apply(old, Create(old, new)) is new byte for byte, and then the same
// delta. It returns exact.
func checkExact(t *testing.T, old, new []byte) bool {
	t.Helper()
	want, err := Create(old, new)
	if err != nil {
		t.Fatalf("Create(%s, %s): %v", old, new, err)
	}
	rebuilt, err := Apply(old, want)
	wantExact := err == nil && bytes.Equal(rebuilt, new)
	d, exact, err := CreateExact(old, new)
	if err != nil {
		t.Fatalf("CreateExact(%s, %s): %v", old, new, err)
	}
	if exact != wantExact {
		t.Fatalf("CreateExact(%s, %s): exact=%v, but Apply(old, Create) gives %s (exact %v)", old, new, exact, rebuilt, wantExact)
	}
	if exact && !bytes.Equal(d, want) {
		t.Fatalf("CreateExact(%s, %s) = %s; Create gives %s", old, new, d, want)
	}
	if !exact && d != nil {
		t.Fatalf("CreateExact(%s, %s): not exact but returned delta %s", old, new, d)
	}
	return exact
}

func TestCreateExactCases(t *testing.T) {
	for _, tc := range []struct {
		old, new string
		exact    bool
	}{
		{`{"a":1,"b":"x"}`, `{"a":1,"b":"y"}`, true},
		{`{"a":1,"b":"x"}`, `{"a":1,"b":"x"}`, true},                      // "{}"
		{`{"a":1,"b":"x"}`, `{"a":1,"b":"x","c":2,"d":3}`, true},          // added after, in delta order
		{`{"a":1,"b":"x"}`, `{"a":1,"b":"x","d":3,"c":2}`, false},         // added, not in delta order
		{`{"b":"x","a":1}`, `{"c":0,"b":"x","a":1}`, false},               // added before the old members
		{`{"a":1,"b":2}`, `{"b":2,"a":1}`, false},                         // reordered
		{`{"a":1,"b":2,"c":3}`, `{"a":1,"c":3}`, true},                    // deleted
		{`{"a":{"x":1,"y":2},"b":2}`, `{"a":{"x":1,"y":3},"b":2}`, true},  // nested change
		{`{"a":{"x":1,"y":2},"b":2}`, `{"a":{"y":3,"x":1},"b":2}`, false}, // nested reorder
		{`{"a":1, "b":2}`, `{"a":1, "b":3}`, false},                       // not compact: rebuilt compact
		{`{"a":1,"b":2}`, `{"a":1, "b":3}`, false},                        // new not compact
		{`{"a":1,"b":"\u00e9"}`, `{"a":2,"b":"\u00e9"}`, false},           // escape Apply does not write
		{`[1,2,3]`, `[1,2,4]`, true},                                      // not an object: general path
		{`{"s":"` + lorem + `"}`, `{"s":"` + loremSed + `"}`, true},       // string diff
		{`{"n":1.50,"m":2}`, `{"n":1.50,"m":3}`, true},                    // numbers kept as written
		{`{"k":[1,{"a":"b"},null,true]}`, `{"k":[1,{"a":"c"},null,true]}`, true},
	} {
		if got := checkExact(t, []byte(tc.old), []byte(tc.new)); got != tc.exact {
			t.Errorf("CreateExact(%s, %s): exact=%v, want %v", tc.old, tc.new, got, tc.exact)
		}
	}
}

func TestCreateExactW4(t *testing.T) {
	old, new := w4Body(7, "bench"), w4Body(7, "edit1")
	if !checkExact(t, old, new) {
		t.Fatal("the W4 edit is not rebuilt exactly")
	}
}

// TestPropertyCreateExact compares CreateExact with Create + Apply on generated edits,
// both as the generator writes them (whitespace, any key order: the general path) and
// in the canonical form Apply writes (the raw path), so both paths are exercised with
// exact and inexact outcomes.
func TestPropertyCreateExact(t *testing.T) {
	g := &gen{rng: rand.New(rand.NewSource(4242))}
	canonical := func(text []byte) []byte {
		c, err := Apply(text, []byte("{}"))
		if err != nil {
			t.Fatalf("Apply(%s, {}): %v", text, err)
		}
		return c
	}
	counts := map[[2]bool]int{}
	for i := 0; i < 2000; i++ {
		v := g.value(4)
		if _, ok := v.(*object); !ok {
			continue
		}
		w := g.edit(v, 4)
		old, new := g.json(v), g.json(w)
		if _, ok := w.(*object); !ok {
			checkExact(t, old, new) // the top level became another kind: general path
			continue
		}
		counts[[2]bool{false, checkExact(t, old, new)}]++
		old, new = canonical(old), canonical(new)
		_, _, raw := topMembers(old)
		if _, _, rawNew := topMembers(new); !raw || !rawNew {
			t.Fatalf("canonical texts not taken by the raw path: %s / %s", old, new)
		}
		counts[[2]bool{true, checkExact(t, old, new)}]++
	}
	t.Logf("outcomes [canonical, exact]: %v", counts)
	if counts[[2]bool{true, true}] < 100 || counts[[2]bool{true, false}] < 10 || counts[[2]bool{false, false}] < 10 {
		t.Errorf("too few cases of some outcome: %v", counts)
	}
}

func BenchmarkCreateExactW4(b *testing.B) {
	old, new := w4Body(1, "bench"), w4Body(1, "edit1")
	b.SetBytes(int64(len(new)))
	b.ReportAllocs()
	for b.Loop() {
		if _, exact, err := CreateExact(old, new); err != nil || !exact {
			b.Fatal(err, exact)
		}
	}
}

// BenchmarkCreateApplyW4 is what a sender did before CreateExact: Create, then Apply
// to check the delta rebuilds the body exactly.
func BenchmarkCreateApplyW4(b *testing.B) {
	old, new := w4Body(1, "bench"), w4Body(1, "edit1")
	b.SetBytes(int64(len(new)))
	b.ReportAllocs()
	for b.Loop() {
		d, err := Create(old, new)
		if err != nil {
			b.Fatal(err)
		}
		if got, err := Apply(old, d); err != nil || !bytes.Equal(got, new) {
			b.Fatal(err)
		}
	}
}
