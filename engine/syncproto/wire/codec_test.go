package wire

import (
	"errors"
	"reflect"
	"testing"
)

func props(ps []Prop) MapProps {
	m := MapProps{}
	for _, p := range ps {
		m[p.Key] = p.Value
	}
	return m
}

// What the Props methods write, the decoders read back unchanged.
func TestPropsRoundTrip(t *testing.T) {
	r := Rev{DocID: "d", RevID: "4-d", History: []string{"3-c"}, Sequence: `"7:9"`, DeltaSrc: "3-c", ReplacedRev: "2-b", Body: []byte(`{"x":1}`)}
	got, err := DecodeRev(props(r.Props()), r.Body)
	if err != nil || !reflect.DeepEqual(got, r) {
		t.Fatalf("rev round trip: %+v, %v", got, err)
	}
	n := NoRev{DocID: "d", RevID: "1-a", Sequence: "12", Error: 403, Reason: "forbidden"}
	gotN, err := DecodeNoRev(props(n.Props()))
	if err != nil || gotN != n {
		t.Fatalf("norev round trip: %+v, %v", gotN, err)
	}
	// An "error" property that is not a status still marks a norev-like rev.
	got, err = DecodeRev(MapProps{"id": "d", "rev": "1-a", "error": "oops"}, nil)
	if err != nil || got.ErrorStatus != 500 {
		t.Fatalf("rev with a bad error property: %+v, %v", got, err)
	}
}

// Every decoder refuses malformed peer input with an error wrapping ErrBadMessage,
// never a bare decoding error and never a panic.
func TestDecodersWrapErrBadMessage(t *testing.T) {
	cases := map[string]func() error{
		"changes object":       func() error { _, err := DecodeChanges([]byte(`{}`)); return err },
		"changes short row":    func() error { _, err := DecodeChanges([]byte(`[[1]]`)); return err },
		"changes answer":       func() error { _, err := DecodeChangesResponse([]byte(`{`), 1); return err },
		"propose short row":    func() error { _, err := DecodeProposeChanges([]byte(`[["a"]]`)); return err },
		"propose answer":       func() error { _, err := DecodeProposeChangesResponse([]byte(`["x"]`), 1); return err },
		"getCollections":       func() error { _, err := DecodeGetCollectionsRequest([]byte(`[]`)); return err },
		"getCollections reply": func() error { _, err := DecodeGetCollectionsResponse([]byte(`{}`), 1); return err },
		"checkpoint":           func() error { _, err := DecodeCheckpoint([]byte(`[`)); return err },
		"subChanges batch":     func() error { _, err := DecodeSubChanges(MapProps{"batch": "x"}, nil); return err },
		"subChanges body":      func() error { _, err := DecodeSubChanges(MapProps{}, []byte(`{"docIDs":5}`)); return err },
		"rev without id":       func() error { _, err := DecodeRev(MapProps{"rev": "1-a"}, nil); return err },
		"norev without id":     func() error { _, err := DecodeNoRev(MapProps{"rev": "1-a"}); return err },
		"body not an object":   func() error { _, _, err := CleanBody([]byte(`[1]`)); return err },
	}
	for name, f := range cases {
		if err := f(); !errors.Is(err, ErrBadMessage) {
			t.Errorf("%s: %v, want ErrBadMessage", name, err)
		}
	}
}

// TopLevelMembers keeps each member as sent (order, spacing inside values, escapes)
// and decodes the keys.
func TestTopLevelMembers(t *testing.T) {
	ms, err := TopLevelMembers([]byte(`{"b": [1, 2] , "\u0061":{"z":0},"c":"x"}`))
	if err != nil {
		t.Fatal(err)
	}
	var keys, texts, values []string
	for _, m := range ms {
		keys, texts, values = append(keys, m.Key), append(texts, string(m.Text)), append(values, string(m.Value))
	}
	if !reflect.DeepEqual(keys, []string{"b", "a", "c"}) {
		t.Errorf("keys %q", keys)
	}
	if !reflect.DeepEqual(texts, []string{`"b": [1, 2]`, `"\u0061":{"z":0}`, `"c":"x"`}) {
		t.Errorf("texts %q", texts)
	}
	if !reflect.DeepEqual(values, []string{`[1, 2]`, `{"z":0}`, `"x"`}) {
		t.Errorf("values %q", values)
	}
	for _, bad := range []string{`{"a":1} x`, `{"a":}`, `{`} {
		if _, err := TopLevelMembers([]byte(bad)); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}
