package workload

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"testing"
)

func TestDocShape(t *testing.T) {
	id, body := Doc("doc-", 1, SmallPayload)
	if id != "doc-000001" {
		t.Fatalf("id = %q", id)
	}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("body is not JSON: %v", err)
	}
	if m["n"] != 1.0 || m["kind"] != "bench" || m["group"] != "g1" || m["score"] != 79.19 ||
		m["created"] != "2024-01-01T00:00:00.000Z" || len(m["payload"].(string)) != SmallPayload {
		t.Fatalf("unexpected body %s", body)
	}
	keys := []string{`"n"`, `"kind"`, `"group"`, `"score"`, `"created"`, `"payload"`}
	last := -1
	for _, k := range keys {
		at := strings.Index(string(body), k)
		if at <= last {
			t.Fatalf("key %s out of spec order in %s", k, body)
		}
		last = at
	}
}

func TestPayloadKnownValues(t *testing.T) {
	// Checked against an independent, literal transcription of the spec's
	// arithmetic (mod 2^32 spelled out) rather than against the generator itself.
	tests := []struct {
		i    int
		want string
	}{
		{1, firstChars(1, 8)},
		{100000, firstChars(100000, 8)},
	}
	for _, tt := range tests {
		if got := Payload(tt.i, 8); got != tt.want {
			t.Errorf("Payload(%d) = %q, want %q", tt.i, got, tt.want)
		}
	}
	if Payload(7, 50) != Payload(7, 80)[:50] {
		t.Error("payload is not a prefix-stable stream")
	}
}

// firstChars is an independent, deliberately naive transcription of the spec.
func firstChars(i, n int) string {
	x := (uint64(i) * 2654435761) % (1 << 32)
	x ^= 0x9E3779B9
	if x == 0 {
		x = 1
	}
	out := ""
	for k := 0; k < n; k++ {
		x = (x ^ (x << 13)) % (1 << 32)
		x = x ^ (x >> 17)
		x = (x ^ (x << 5)) % (1 << 32)
		out += string("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"[x&63])
	}
	return out
}

// The spec states: with L = 900 the compact JSON of a body with the id as
// "_id" is 1,017–1,024 bytes.
func TestSmallSetSizeRange(t *testing.T) {
	min, max := 1<<30, 0
	for i := 1; i <= 100000; i++ {
		id, body := Doc("doc-", i, SmallPayload)
		n := len(body) + len(`"_id":"`) + len(id) + len(`",`)
		if n < min {
			min = n
		}
		if n > max {
			max = n
		}
	}
	if min < 1017 || max > 1024 {
		t.Fatalf("sizes with _id span %d..%d, spec says 1017..1024", min, max)
	}
}

func TestBlobContent(t *testing.T) {
	// The first words of blob 1, from a literal transcription of the definition.
	x := uint32((uint64(1)*2246822519)%(1<<32)) ^ 0x85EBCA6B
	var want []byte
	for k := 0; k < 3; k++ {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		want = append(want, byte(x), byte(x>>8), byte(x>>16), byte(x>>24))
	}
	got, err := io.ReadAll(BlobContent(1, 10))
	if err != nil || !bytes.Equal(got, want[:10]) {
		t.Fatalf("BlobContent(1, 10) = %x, %v; want %x", got, err, want[:10])
	}
	// Reading in odd-sized pieces gives the same stream as reading it whole.
	whole, _ := io.ReadAll(BlobContent(7, 100003))
	var pieces []byte
	r := BlobContent(7, 100003)
	buf := make([]byte, 7)
	for {
		n, err := r.Read(buf[:1+len(pieces)%7])
		pieces = append(pieces, buf[:n]...)
		if err == io.EOF {
			break
		}
	}
	if len(whole) != 100003 || !bytes.Equal(whole, pieces) {
		t.Fatalf("stream differs when read in pieces (%d vs %d bytes)", len(whole), len(pieces))
	}
	other, _ := io.ReadAll(BlobContent(8, 100003))
	if bytes.Equal(whole, other) {
		t.Fatal("blobs 7 and 8 are equal")
	}
}

func TestPictureDoc(t *testing.T) {
	id, body := PictureDoc(3, []byte(`{"@type":"blob","digest":"sha1-x","length":1}`))
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("body is not JSON: %v: %s", err, body)
	}
	img, _ := m["image"].(map[string]any)
	if id != "pic-000003" || m["n"] != 3.0 || img["digest"] != "sha1-x" ||
		!strings.HasSuffix(string(body), `"image":{"@type":"blob","digest":"sha1-x","length":1}}`) {
		t.Fatalf("PictureDoc(3) = %q, %s", id, body)
	}
}
