package delta

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// gen makes random JSON values (as this package's decoded-value types) and random
// edits of them, from a seeded source so that failures reproduce.
type gen struct {
	rng *rand.Rand
}

var trickyNumbers = []string{
	"0", "-0", "1", "-1", "1.5", "1.50", "1e10", "1E+2", "-1.25e-3", "0.1",
	"9007199254740993", "-9223372036854775808", "18446744073709551615",
	"123456789012345678901234567890", "3.141592653589793238462643383279",
	"1e400", "5e-324",
}

var runes = []rune("abcxyz ABC012|+-=\"\\/\n\téèÀ€日本語😀🙂\u2028<&>")

func (g *gen) str(n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		b.WriteRune(runes[g.rng.Intn(len(runes))])
	}
	return b.String()
}

func (g *gen) scalar() any {
	switch g.rng.Intn(7) {
	case 0:
		return nil
	case 1:
		return g.rng.Intn(2) == 0
	case 2:
		return json.Number(trickyNumbers[g.rng.Intn(len(trickyNumbers))])
	case 3:
		return json.Number(strconv.Itoa(g.rng.Intn(2000) - 1000))
	case 4:
		return g.str(60 + g.rng.Intn(200)) // long enough for string diffs
	default:
		return g.str(g.rng.Intn(12))
	}
}

func (g *gen) key() string {
	if g.rng.Intn(4) == 0 {
		return g.str(1 + g.rng.Intn(6))
	}
	return string(rune('a' + g.rng.Intn(12)))
}

// value makes a random value; depth counts down so trees stay small.
func (g *gen) value(depth int) any {
	if depth <= 0 || g.rng.Intn(3) == 0 {
		return g.scalar()
	}
	if g.rng.Intn(2) == 0 {
		o := &object{}
		for n := g.rng.Intn(7); n > 0; n-- {
			o.put(g.key(), g.value(depth-1))
		}
		return o
	}
	a := []any{}
	for n := g.rng.Intn(7); n > 0; n-- {
		a = append(a, g.value(depth-1))
	}
	return a
}

// edit returns a changed copy of v (v itself is never modified). Most edits are
// small, like real document updates; some replace a value with another type.
func (g *gen) edit(v any, depth int) any {
	if g.rng.Intn(8) == 0 {
		return g.value(depth)
	}
	switch v := v.(type) {
	case *object:
		o := &object{}
		for i, k := range v.keys {
			switch g.rng.Intn(6) {
			case 0: // delete
			case 1:
				o.put(k, g.edit(v.vals[i], depth-1))
			default:
				o.put(k, v.vals[i])
			}
		}
		for n := g.rng.Intn(3); n > 0; n-- {
			o.put(g.key(), g.value(depth-1))
		}
		if g.rng.Intn(4) == 0 { // member order is not significant
			g.rng.Shuffle(len(o.keys), func(i, j int) {
				o.keys[i], o.keys[j] = o.keys[j], o.keys[i]
				o.vals[i], o.vals[j] = o.vals[j], o.vals[i]
			})
			o.index = nil
		}
		return o
	case []any:
		a := append([]any{}, v...)
		for i := range a {
			if g.rng.Intn(4) == 0 {
				a[i] = g.edit(a[i], depth-1)
			}
		}
		switch g.rng.Intn(5) {
		case 0:
			a = append(a, g.value(depth-1))
		case 1:
			if len(a) > 0 {
				a = a[:g.rng.Intn(len(a))]
			}
		case 2:
			a = append([]any{g.value(depth - 1)}, a...)
		}
		return a
	case string:
		if len(v) > 0 && g.rng.Intn(3) > 0 {
			r := []rune(v)
			i := g.rng.Intn(len(r))
			j := i + g.rng.Intn(min(len(r)-i, 5)+1)
			return string(r[:i]) + g.str(g.rng.Intn(5)) + string(r[j:])
		}
	}
	return g.scalar()
}

// text writes v as JSON with random whitespace, using encoding/json for strings
// (it escapes differently from this package, which widens what inputs look like).
func (g *gen) text(b *bytes.Buffer, v any) {
	ws := func() {
		if g.rng.Intn(5) == 0 {
			b.WriteString([]string{" ", "\n", "\t", "\r\n  "}[g.rng.Intn(4)])
		}
	}
	ws()
	switch v := v.(type) {
	case *object:
		b.WriteByte('{')
		for i, k := range v.keys {
			if i > 0 {
				b.WriteByte(',')
			}
			ws()
			kb, _ := json.Marshal(k)
			b.Write(kb)
			ws()
			b.WriteByte(':')
			g.text(b, v.vals[i])
		}
		ws()
		b.WriteByte('}')
	case []any:
		b.WriteByte('[')
		for i, item := range v {
			if i > 0 {
				b.WriteByte(',')
			}
			g.text(b, item)
		}
		ws()
		b.WriteByte(']')
	default:
		vb, err := json.Marshal(v)
		if err != nil {
			panic(fmt.Sprintf("test generator: %v", err))
		}
		b.Write(vb)
	}
	ws()
}

func (g *gen) json(v any) []byte {
	var b bytes.Buffer
	g.text(&b, v)
	return b.Bytes()
}

// checkRoundTrip asserts Apply(old, Create(old, new)) == new semantically, that
// Create is deterministic, and that an unchanged value gives "{}".
func checkRoundTrip(t *testing.T, old, new []byte) []byte {
	t.Helper()
	d, err := Create(old, new)
	if err != nil {
		t.Fatalf("Create:\nold %s\nnew %s\nerr %v", old, new, err)
	}
	again, err := Create(old, new)
	if err != nil || !bytes.Equal(again, d) {
		t.Fatalf("Create is not deterministic: %s then %s (%v)", d, again, err)
	}
	got, err := Apply(old, d)
	if err != nil {
		t.Fatalf("Apply:\nold   %s\nnew   %s\ndelta %s\nerr   %v", old, new, d, err)
	}
	if !reflect.DeepEqual(canon(t, got), canon(t, new)) {
		t.Fatalf("round trip differs:\nold   %s\nnew   %s\ndelta %s\ngot   %s", old, new, d, got)
	}
	return d
}

func TestPropertyEditsRoundTrip(t *testing.T) {
	g := &gen{rng: rand.New(rand.NewSource(20240101))}
	stringDiffs := 0
	for i := 0; i < 2000; i++ {
		v := g.value(4)
		w := g.edit(v, 4)
		d := checkRoundTrip(t, g.json(v), g.json(w))
		if bytes.Contains(d, []byte(",0,2]")) {
			stringDiffs++
		}
		if same, err := Create(g.json(v), g.json(v)); err != nil || string(same) != "{}" {
			t.Fatalf("Create(x, x) = %s, %v; want {}", same, err)
		}
	}
	t.Logf("%d of 2000 deltas used a string diff", stringDiffs)
	// The generator makes long strings with small edits; string diffs must have
	// been exercised, or the test is not testing what it claims.
	if stringDiffs < 50 {
		t.Errorf("only %d of 2000 deltas used a string diff", stringDiffs)
	}
}

func TestPropertyUnrelatedRoundTrip(t *testing.T) {
	g := &gen{rng: rand.New(rand.NewSource(7))}
	for i := 0; i < 1000; i++ {
		checkRoundTrip(t, g.json(g.value(4)), g.json(g.value(4)))
	}
}

// TestPropertyChainedEdits applies deltas one after another, as a puller does for
// successive revisions, so errors in the output of Apply would compound.
func TestPropertyChainedEdits(t *testing.T) {
	g := &gen{rng: rand.New(rand.NewSource(99))}
	for chain := 0; chain < 40; chain++ {
		v := g.value(4)
		cur := g.json(v)
		for step := 0; step < 20; step++ {
			v = g.edit(v, 4)
			next := g.json(v)
			d := checkRoundTrip(t, cur, next)
			applied, err := Apply(cur, d)
			if err != nil {
				t.Fatal(err)
			}
			cur = applied // continue from our own output
		}
	}
}
