package delta

import (
	"bytes"
	"math/rand"
	"testing"
)

// checkReverse asserts that ApplyReverse(old, d) gives Apply's result, and that a reverse
// it returns rebuilds old byte for byte. It reports whether there was a reverse.
func checkReverse(t *testing.T, old, d []byte) bool {
	t.Helper()
	want, wantErr := Apply(old, d)
	out, rev, err := ApplyReverse(old, d)
	if (err != nil) != (wantErr != nil) || !bytes.Equal(out, want) {
		t.Fatalf("ApplyReverse differs from Apply:\nold   %s\ndelta %s\ngot   %s (%v)\nwant  %s (%v)", old, d, out, err, want, wantErr)
	}
	if rev == nil {
		return false
	}
	back, err := Apply(out, rev)
	if err != nil || !bytes.Equal(back, old) {
		t.Fatalf("reverse does not rebuild old:\nold     %s\ndelta   %s\nnew     %s\nreverse %s\nback    %s (%v)", old, d, out, rev, back, err)
	}
	return true
}

// Random edits of random documents in canonical form (the output of Apply, as a store
// holds them): every reverse returned is exact, and most edits get one.
func TestApplyReverseProperty(t *testing.T) {
	g := &gen{rng: rand.New(rand.NewSource(4242))}
	withReverse, objects := 0, 0
	for i := 0; i < 3000; i++ {
		v := g.value(4)
		w := g.edit(v, 4)
		old, err := Apply(g.json(v), []byte("{}")) // canonical form
		if err != nil {
			t.Fatal(err)
		}
		d, err := Create(old, g.json(w))
		if err != nil {
			t.Fatal(err)
		}
		if _, isObj := v.(*object); isObj {
			objects++
		}
		if checkReverse(t, old, d) {
			withReverse++
		}
	}
	t.Logf("%d of %d edits of objects had a reverse", withReverse, objects)
	if withReverse < objects/3 {
		t.Errorf("only %d of %d edits of objects had a reverse", withReverse, objects)
	}
}

func TestApplyReverseCases(t *testing.T) {
	for _, c := range []struct {
		old, d  string
		reverse string // "" = none expected
	}{
		{`{"kind":"bench","n":1}`, `{"kind":"edit1"}`, `{"kind":"bench"}`},
		{`{"a":1}`, `{"b":2}`, `{"b":[]}`},                                      // added member: deleted again
		{`{"a":1,"b":2}`, `{"a":[]}`, ""},                                       // deleted member: no reverse
		{`{"a":{"y":1,"x":2}}`, `{"a":{"y":[]}}`, ""},                           // nested deletion: re-added at the end, not exact
		{`{"a":{"x":1,"y":2}}`, `{"a":{"y":[]}}`, `{"a":{"y":2}}`},              // the last one: exact
		{`{"a":{"x":1,"y":2}}`, `{"a":{"z":3}}`, `{"a":{"z":[]}}`},              // nested addition
		{`{"a":[1,2,3]}`, `{"a":{"1-":[]}}`, `{"a":{"1-":[2,3]}}`},              // array tail
		{`{"a":1}`, `{}`, `{}`},                                                 // no change
		{`{"s":"` + long('x') + `"}`, `{"s":"y"}`, `{"s":"` + long('x') + `"}`}, // replaced string
		{`{ "a":1}`, `{"a":2}`, ""},                                             // not canonical: general path
		{`[1,2]`, `{"0":3}`, ""},                                                // not an object
	} {
		out, rev, err := ApplyReverse([]byte(c.old), []byte(c.d))
		if err != nil {
			t.Fatalf("%s + %s: %v", c.old, c.d, err)
		}
		if string(rev) != c.reverse {
			t.Errorf("%s + %s = %s: reverse %s, want %q", c.old, c.d, out, rev, c.reverse)
		}
		if c.reverse != "" {
			checkReverse(t, []byte(c.old), []byte(c.d))
		}
	}
	if _, _, err := ApplyReverse([]byte(`{"a":1}`), []byte(`{"b":[]}`)); err == nil {
		t.Error("a delta deleting a missing member applied")
	}
}

func long(c byte) string { return string(bytes.Repeat([]byte{c}, 80)) }

// The W4 edit: the reverse is the old kind, a few bytes, and exact.
func TestApplyReverseW4(t *testing.T) {
	old, next := w4Body(7, "bench"), w4Body(7, "edit1")
	d, err := Create(old, next)
	if err != nil {
		t.Fatal(err)
	}
	out, rev, err := ApplyReverse(old, d)
	if err != nil || !bytes.Equal(out, next) {
		t.Fatalf("apply: %v", err)
	}
	if string(rev) != `{"kind":"bench"}` {
		t.Fatalf("reverse %s", rev)
	}
}

func BenchmarkApplyReverseW4(b *testing.B) {
	old, next := w4Body(7, "bench"), w4Body(7, "edit1")
	d, _ := Create(old, next)
	b.SetBytes(int64(len(old)))
	for i := 0; i < b.N; i++ {
		if _, rev, err := ApplyReverse(old, d); err != nil || rev == nil {
			b.Fatal(err)
		}
	}
}
