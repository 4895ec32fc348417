package delta

import (
	"bytes"
	"strconv"
	"strings"
	"testing"
)

// w4Body builds document i of the 100 KB set of shared/bench/WORKLOAD.md (keys in
// the order given there; the document ID is not a body property) with the given
// kind.
func w4Body(i int, kind string) []byte {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	const payloadLen = 100000
	x := uint32(uint64(i)*2654435761) ^ 0x9E3779B9
	if x == 0 {
		x = 1
	}
	payload := make([]byte, payloadLen)
	for j := range payload {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		payload[j] = alphabet[x&63]
	}
	score := strconv.FormatFloat(float64((i*7919)%100000)/100, 'f', -1, 64)
	var b strings.Builder
	b.WriteString(`{"n":` + strconv.Itoa(i))
	b.WriteString(`,"kind":"` + kind + `"`)
	b.WriteString(`,"group":"g` + strconv.Itoa(i%100) + `"`)
	b.WriteString(`,"score":` + score)
	b.WriteString(`,"created":"2024-01-01T00:00:00.000Z"`)
	b.WriteString(`,"payload":"` + string(payload) + `"}`)
	return []byte(b.String())
}

func TestW4Body(t *testing.T) {
	body := w4Body(1, "bench")
	if !bytes.HasPrefix(body, []byte(`{"n":1,"kind":"bench","group":"g1","score":79.19,"created":`)) {
		t.Fatalf("unexpected body start %.80s", body)
	}
	if len(body) < 100000 || len(body) > 100200 {
		t.Fatalf("body is %d bytes, want about 100 KB", len(body))
	}
}

// TestW4DeltaIsSmall: the W4 edit (kind "bench" -> "edit1") of a 100 KB document
// must travel as a delta under 1% of the body, and rebuild the body byte for byte.
func TestW4DeltaIsSmall(t *testing.T) {
	for _, i := range []int{1, 2, 500, 1000} {
		old, new := w4Body(i, "bench"), w4Body(i, "edit1")
		d, err := Create(old, new)
		if err != nil {
			t.Fatal(err)
		}
		if string(d) != `{"kind":"edit1"}` {
			t.Errorf("doc %d: delta %s, want {\"kind\":\"edit1\"}", i, d)
		}
		if limit := len(new) / 100; len(d) >= limit {
			t.Errorf("doc %d: delta is %d bytes, not under 1%% of %d", i, len(d), len(new))
		}
		got, err := Apply(old, d)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, new) {
			t.Errorf("doc %d: Apply output differs from the new body", i)
		}
		t.Logf("doc %d: body %d bytes, delta %d bytes (%.4f%%)", i, len(new), len(d), 100*float64(len(d))/float64(len(new)))
	}
}

// TestW4PayloadEditUsesStringDiff: a small edit inside the 100 KB payload string
// gives a string diff, not the whole string.
func TestW4PayloadEditUsesStringDiff(t *testing.T) {
	old := w4Body(3, "bench")
	new := bytes.Replace(old, old[50000:50010], []byte("0123456789"), 1)
	d, err := Create(old, new)
	if err != nil {
		t.Fatal(err)
	}
	if len(d) >= len(new)/100 {
		t.Errorf("delta for a 10-byte payload edit is %d bytes: %.200s", len(d), d)
	}
	got, err := Apply(old, d)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, new) {
		t.Errorf("Apply output differs from the new body")
	}
	t.Logf("payload edit delta: %s", d)
}

func BenchmarkCreateW4(b *testing.B) {
	old, new := w4Body(1, "bench"), w4Body(1, "edit1")
	b.SetBytes(int64(len(new)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Create(old, new); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkApplyW4(b *testing.B) {
	old, new := w4Body(1, "bench"), w4Body(1, "edit1")
	d, err := Create(old, new)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(new)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Apply(old, d); err != nil {
			b.Fatal(err)
		}
	}
}
