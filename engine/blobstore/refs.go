package blobstore

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/p2psync/libp2psync/engine/internal/jsonscan"
)

// Ref is one blob reference found in a document body.
type Ref struct {
	// Pointer is the JSON pointer (RFC 6901) of the referring dictionary: "/photo",
	// "/album/0", or "/_attachments/<name>" for a legacy attachment.
	Pointer string
	// Legacy is set for an entry of the top-level _attachments object (the CouchDB /
	// Sync Gateway form); Name is then its attachment name.
	Legacy bool
	Name   string
	// Digest is valid when Problem is empty or names something other than the digest.
	Digest      Digest
	HasDigest   bool
	Length      int64 // -1 when absent
	ContentType string
	// Problem describes what is malformed ("" when nothing is): a missing or invalid
	// digest, a length that is not a non-negative integer, a content_type that is not a
	// string.
	Problem string
}

// MayReference is a cheap pre-check: it reports false only when body certainly holds no
// blob reference, so that the full parse of References can be skipped for most
// documents. A reference needs the key "@type" or "_attachments"; written without
// \u escapes they appear literally, quotes included (no other JSON escape spells a
// character of theirs), and any other spelling contains `\u`. Each pattern starts
// with a byte that is rare in document text (a quote, a backslash), which keeps the
// search fast on long strings.
func MayReference(body []byte) bool {
	return jsonscan.ContainsRare(body, []byte(`"@type"`)) || jsonscan.ContainsRare(body, []byte(`"_attachments"`)) ||
		jsonscan.ContainsRare(body, []byte(`\u`))
}

// References returns every blob reference in a JSON document body, sorted by pointer:
// each dictionary anywhere in the body whose "@type" is "blob" (Couchbase Lite's blob
// form), and each entry of a top-level "_attachments" object (the legacy form).
// Malformed references are returned with Problem set; only a body that is not JSON is
// an error (ErrInvalid).
func References(body []byte) ([]Ref, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var root any
	if err := dec.Decode(&root); err != nil {
		return nil, fmt.Errorf("%w: body is not JSON: %v", ErrInvalid, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: body has trailing data", ErrInvalid)
	}
	var refs []Ref
	walk(root, "", &refs)
	if obj, ok := root.(map[string]any); ok {
		if atts, ok := obj["_attachments"].(map[string]any); ok {
			for name, v := range atts {
				if m, ok := v.(map[string]any); ok {
					r := parseRef(m, "/_attachments/"+escapePointer(name))
					r.Legacy, r.Name = true, name
					refs = append(refs, r)
				}
			}
		}
	}
	sort.Slice(refs, func(i, j int) bool { return refs[i].Pointer < refs[j].Pointer })
	return refs, nil
}

// walk collects the "@type":"blob" dictionaries under v.
func walk(v any, ptr string, refs *[]Ref) {
	switch x := v.(type) {
	case map[string]any:
		if t, ok := x["@type"].(string); ok && t == "blob" {
			*refs = append(*refs, parseRef(x, ptr))
			return // a blob's own properties are metadata, not more blobs
		}
		for k, child := range x {
			walk(child, ptr+"/"+escapePointer(k), refs)
		}
	case []any:
		for i, child := range x {
			walk(child, ptr+"/"+strconv.Itoa(i), refs)
		}
	}
}

func parseRef(m map[string]any, ptr string) Ref {
	r := Ref{Pointer: ptr, Length: -1}
	var problems []string
	switch d := m["digest"].(type) {
	case string:
		if dg, err := ParseDigest(d); err == nil {
			r.Digest, r.HasDigest = dg, true
		} else {
			problems = append(problems, fmt.Sprintf("digest %q is not sha1-<base64 of 20 bytes>", d))
		}
	case nil:
		problems = append(problems, "no digest")
	default:
		problems = append(problems, "digest is not a string")
	}
	if l, present := m["length"]; present {
		n, ok := l.(json.Number)
		v, err := strconv.ParseInt(string(n), 10, 64)
		if !ok || err != nil || v < 0 {
			problems = append(problems, "length is not a non-negative integer")
		} else {
			r.Length = v
		}
	}
	if ct, present := m["content_type"]; present {
		if s, ok := ct.(string); ok {
			r.ContentType = s
		} else {
			problems = append(problems, "content_type is not a string")
		}
	}
	r.Problem = strings.Join(problems, "; ")
	return r
}

func escapePointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

// Properties returns the blob dictionary of a stored blob, as placed in a document
// body: {"@type":"blob","content_type":…,"digest":…,"length":…} (content_type omitted
// when empty), keys in this (sorted) order.
func Properties(b Blob, contentType string) []byte {
	var buf bytes.Buffer
	buf.WriteString(`{"@type":"blob",`)
	if contentType != "" {
		ct, _ := json.Marshal(contentType)
		buf.WriteString(`"content_type":`)
		buf.Write(ct)
		buf.WriteByte(',')
	}
	fmt.Fprintf(&buf, `"digest":%q,"length":%d}`, b.Digest.String(), b.Length)
	return buf.Bytes()
}

// ParseBlobSpec reads how an API caller names a blob: either its dictionary as JSON
// text (the "@type" key is optional there; digest is required, length and content_type
// are checked when present) or its bare digest "sha1-…". A digest never starts with
// '{', so the two cannot be confused.
func ParseBlobSpec(spec string) (Ref, error) {
	t := strings.TrimSpace(spec)
	if !strings.HasPrefix(t, "{") {
		d, err := ParseDigest(t)
		if err != nil {
			return Ref{}, err
		}
		return Ref{Digest: d, HasDigest: true, Length: -1}, nil
	}
	dec := json.NewDecoder(strings.NewReader(t))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return Ref{}, fmt.Errorf("%w: blob is neither a digest nor a JSON object: %v", ErrInvalid, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Ref{}, fmt.Errorf("%w: blob JSON has trailing data", ErrInvalid)
	}
	if ty, present := m["@type"]; present && ty != "blob" {
		return Ref{}, fmt.Errorf("%w: \"@type\" is %v, not \"blob\"", ErrInvalid, ty)
	}
	r := parseRef(m, "")
	if r.Problem != "" {
		return Ref{}, fmt.Errorf("%w: %s", ErrInvalid, r.Problem)
	}
	return r, nil
}
