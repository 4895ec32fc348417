package blobstore

import (
	"errors"
	"testing"
)

func TestReferences(t *testing.T) {
	d1 := DigestOf([]byte("one")).String()
	d2 := DigestOf([]byte("two")).String()
	body := `{"photo":{"@type":"blob","content_type":"image/png","digest":"` + d1 + `","length":3},
		"album":[{"x":1},{"@type":"blob","digest":"` + d2 + `","length":3}],
		"a/b":{"deep":{"@type":"blob","digest":"` + d1 + `"}},
		"broken":{"@type":"blob","length":-1},
		"notblob":{"@type":"image","digest":"` + d2 + `"},
		"_attachments":{"hello.txt":{"digest":"` + d2 + `","length":3,"stub":true,"revpos":1}}}`
	refs, err := References([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		ptr    string
		digest string
		legacy bool
		bad    bool
	}{
		{"/_attachments/hello.txt", d2, true, false},
		{"/album/1", d2, false, false},
		{"/a~1b/deep", d1, false, false},
		{"/broken", "", false, true},
		{"/photo", d1, false, false},
	}
	if len(refs) != len(want) {
		t.Fatalf("%d refs: %+v", len(refs), refs)
	}
	for i, w := range want {
		r := refs[i]
		if r.Pointer != w.ptr || r.Legacy != w.legacy || (r.Problem != "") != w.bad || (!w.bad && r.Digest.String() != w.digest) {
			t.Errorf("ref %d = %+v, want %+v", i, r, w)
		}
	}
	if refs[4].ContentType != "image/png" || refs[4].Length != 3 || refs[1].Length != 3 || refs[2].Length != -1 {
		t.Errorf("metadata: %+v", refs)
	}
	if refs[0].Name != "hello.txt" {
		t.Errorf("legacy name %q", refs[0].Name)
	}
	if _, err := References([]byte(`{"a":`)); !errors.Is(err, ErrInvalid) {
		t.Errorf("bad JSON: %v", err)
	}
	for _, b := range []string{`{"plain":"document","n":1}`, `{"mail":"ada@example.com","q":"\"x\""}`,
		`{"my_attachments":{"a":1},"type":"blob","s":"_attachments is a key"}`} {
		if MayReference([]byte(b)) {
			t.Errorf("MayReference(%s) = true", b)
		}
	}
	for _, b := range []string{body, `{"\u0040type":"blob"}`, `{"@\u0074ype":"blob"}`, `{"_attachments":{}}`, `{"_\u0061ttachments":{}}`} {
		if !MayReference([]byte(b)) {
			t.Errorf("MayReference(%s) = false", b)
		}
	}
	// An escaped key is still found.
	refs, _ = References([]byte(`{"p":{"\u0040type":"blob","digest":"` + d1 + `"}}`))
	if len(refs) != 1 || refs[0].Digest.String() != d1 {
		t.Errorf("escaped @type: %+v", refs)
	}
}

func TestParseBlobSpec(t *testing.T) {
	d := DigestOf([]byte("x"))
	props := Properties(Blob{Digest: d, Length: 1}, "text/plain")
	if string(props) != `{"@type":"blob","content_type":"text/plain","digest":"`+d.String()+`","length":1}` {
		t.Fatalf("properties %s", props)
	}
	for _, spec := range []string{d.String(), string(props), ` {"digest":"` + d.String() + `"} `} {
		r, err := ParseBlobSpec(spec)
		if err != nil || r.Digest != d {
			t.Errorf("ParseBlobSpec(%s) = %+v, %v", spec, r, err)
		}
	}
	for _, bad := range []string{"", "nonsense", `{"@type":"image","digest":"` + d.String() + `"}`, `{"length":1}`, `{"digest":"` + d.String() + `","length":"1"}`, `{"digest":"` + d.String() + `"} x`, "[1]"} {
		if _, err := ParseBlobSpec(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseBlobSpec(%q) = %v, want ErrInvalid", bad, err)
		}
	}
}
