package wire

import (
	"errors"
	"reflect"
	"testing"
)

// Every message this package encodes decodes back to what was encoded (what one peer
// writes, the other reads), and malformed input of each kind is refused with
// ErrBadMessage rather than read as something else.

func TestEveryMessageRoundTrips(t *testing.T) {
	gc := GetCollectionsRequest{CheckpointIDs: []string{"cp-a", "cp-b"}, Collections: []string{"_default", "s.c"}}
	if got, err := DecodeGetCollectionsRequest(gc.Encode()); err != nil || !reflect.DeepEqual(got, gc) {
		t.Errorf("getCollections: %+v, %v", got, err)
	}

	entries := []RemoteCheckpoint{{Missing: true}, {}, {Body: []byte(`{"local":5,"remote":"9:1"}`), Rev: "0-3"}}
	body, err := EncodeGetCollectionsResponse(entries)
	if err != nil {
		t.Fatal(err)
	}
	back, err := DecodeGetCollectionsResponse(body, 3)
	if err != nil || !back[0].Missing || back[1].Missing || back[1].Body != nil || back[2].Rev != "0-3" {
		t.Fatalf("getCollections answer %s: %+v, %v", body, back, err)
	}
	if cp, err := DecodeCheckpoint(back[2].Body); err != nil || cp.Local != 5 || cp.Remote != `"9:1"` {
		t.Errorf("checkpoint inside the answer %s: %+v, %v", back[2].Body, cp, err)
	}

	for _, cp := range []Checkpoint{{}, {Local: 7}, {Remote: "12"}, {Remote: `"40:42"`, Local: 3, Time: 1700000000}} {
		if got, err := DecodeCheckpoint(cp.Encode()); err != nil || got != cp {
			t.Errorf("checkpoint %s: %+v, %v; want %+v", cp.Encode(), got, err, cp)
		}
	}

	sub := SubChanges{Since: `"5:9"`, Continuous: true, Batch: 50, ActiveOnly: true, Filter: "sync_gateway/bychannel",
		Channels: []string{"a", "b"}, Versioning: VersioningRevTrees, SendReplacementRevs: true, Revocations: true,
		RequestPlus: true, Future: true, DocIDs: []string{"x", "y"}}
	if got, err := DecodeSubChanges(props(sub.Props()), sub.Body()); err != nil || !reflect.DeepEqual(got, sub) {
		t.Errorf("subChanges: %+v, %v; want %+v", got, err, sub)
	}

	rows := []ChangeRow{
		{Sequence: "1", DocID: "a", RevID: "1-a"},
		{Sequence: `"2:7"`, DocID: "b\"quoted\"", RevID: "2-b", Flags: FlagDeleted},
		{Sequence: "3", DocID: "c", RevID: "3-c", BodySize: 120},
		{Sequence: "4", DocID: "é/ü", RevID: "4-d", Flags: FlagDeleted, BodySize: 9},
	}
	if got, err := DecodeChanges(EncodeChanges(rows)); err != nil || !reflect.DeepEqual(got, rows) {
		t.Errorf("changes %s: %+v, %v", EncodeChanges(rows), got, err)
	}

	ans := []ChangeAnswer{{Want: true, KnownRevs: []string{"1-a", "1-b"}}, {}, {Status: 409}, {Want: true, KnownRevs: []string{}}, {}}
	enc := EncodeChangesResponse(ans)
	got, err := DecodeChangesResponse(enc, len(ans))
	if err != nil || len(got) != 5 || !got[0].Want || got[1].Want || got[2].Status != 409 || !got[3].Want || len(got[3].KnownRevs) != 0 || got[4].Want {
		t.Errorf("changes answer %s: %+v, %v", enc, got, err)
	}

	props2 := []ProposedChange{{DocID: "a", RevID: "1-a"}, {DocID: "b", RevID: "2-b", ParentRevID: "1-b"}, {DocID: "c", RevID: "3-c", ParentRevID: "2-c", BodySize: 77}}
	if got, err := DecodeProposeChanges(EncodeProposeChanges(props2)); err != nil || !reflect.DeepEqual(got, props2) {
		t.Errorf("proposeChanges %s: %+v, %v", EncodeProposeChanges(props2), got, err)
	}
	pans := []ProposeAnswer{{Status: ProposeConflict, CurrentRev: "5-x"}, {Status: ProposeAlreadyHave}, {}, {Status: ProposeForbidden}, {}}
	if got, err := DecodeProposeChangesResponse(EncodeProposeChangesResponse(pans), len(pans)); err != nil || !reflect.DeepEqual(got, pans) {
		t.Errorf("proposeChanges answer %s: %+v, %v", EncodeProposeChangesResponse(pans), got, err)
	}

	rev := Rev{DocID: "d", RevID: "3-c", History: []string{"2-b", "1-a"}, Deleted: true, Sequence: `"7:8"`, NoConflicts: true,
		DeltaSrc: "2-b", ReplacedRev: "3-z", Body: []byte(`{}`)}
	if got, err := DecodeRev(props(rev.Props()), rev.Body); err != nil || !reflect.DeepEqual(got, rev) {
		t.Errorf("rev: %+v, %v; want %+v", got, err, rev)
	}
	nr := NoRev{DocID: "d", RevID: "1-a", Sequence: "9", Error: 404, Reason: "missing"}
	if got, err := DecodeNoRev(props(nr.Props())); err != nil || got != nr {
		t.Errorf("norev: %+v, %v", got, err)
	}
}

// Malformed peer input, one case per way a message can be wrong: refused with
// ErrBadMessage, never taken for something else.
func TestMalformedMessagesRefused(t *testing.T) {
	cases := map[string]func() error{
		"changes row without sequence": func() error { _, err := DecodeChanges([]byte(`[[null,"a","1-a"]]`)); return err },
		"changes docID not a string":   func() error { _, err := DecodeChanges([]byte(`[[1,2,"1-a"]]`)); return err },
		"changes empty docID":          func() error { _, err := DecodeChanges([]byte(`[[1,"","1-a"]]`)); return err },
		"changes empty revID":          func() error { _, err := DecodeChanges([]byte(`[[1,"a",""]]`)); return err },
		"changes bad deleted flag":     func() error { _, err := DecodeChanges([]byte(`[[1,"a","1-a","yes"]]`)); return err },
		"changes flag out of range":    func() error { _, err := DecodeChanges([]byte(`[[1,"a","1-a",4096]]`)); return err },
		"changes row not an array":     func() error { _, err := DecodeChanges([]byte(`[{"seq":1}]`)); return err },
		"changes answer too long":      func() error { _, err := DecodeChangesResponse([]byte(`[0,0,0]`), 2); return err },
		"changes answer known not str": func() error { _, err := DecodeChangesResponse([]byte(`[[1,2]]`), 1); return err },
		"changes answer boolean":       func() error { _, err := DecodeChangesResponse([]byte(`[true]`), 1); return err },
		"propose parent not a string":  func() error { _, err := DecodeProposeChanges([]byte(`[["a","2-a",5]]`)); return err },
		"propose empty revID":          func() error { _, err := DecodeProposeChanges([]byte(`[["a",""]]`)); return err },
		"propose answer too long":      func() error { _, err := DecodeProposeChangesResponse([]byte(`[0,0]`), 1); return err },
		"propose answer bad object":    func() error { _, err := DecodeProposeChangesResponse([]byte(`[{"status":"x"}]`), 1); return err },
		"getCollections count":         func() error { _, err := DecodeGetCollectionsResponse([]byte(`[{}]`), 2); return err },
		"getCollections entry":         func() error { _, err := DecodeGetCollectionsResponse([]byte(`[5]`), 1); return err },
		"getCollections ids mismatch": func() error {
			_, err := DecodeGetCollectionsRequest([]byte(`{"checkpoint_ids":["a"],"collections":["x","y"]}`))
			return err
		},
		"getCollections duplicate": func() error {
			_, err := DecodeGetCollectionsRequest([]byte(`{"checkpoint_ids":["a","b"],"collections":["_default","_default._default"]}`))
			return err
		},
		"checkpoint not an object":  func() error { _, err := DecodeCheckpoint([]byte(`[1]`)); return err },
		"subChanges negative batch": func() error { _, err := DecodeSubChanges(MapProps{"batch": "-1"}, nil); return err },
		"rev without rev":           func() error { _, err := DecodeRev(MapProps{"id": "d"}, nil); return err },
	}
	for name, f := range cases {
		if err := f(); !errors.Is(err, ErrBadMessage) {
			t.Errorf("%s: %v, want ErrBadMessage", name, err)
		}
	}
	if _, _, err := CollectionIndex(MapProps{"collection": "-2"}); !errors.Is(err, ErrUnknownCollection) {
		t.Errorf("negative collection index: %v", err)
	}
}

// Odd but valid forms are read as the peers mean them: sequences as strings or numbers
// with spaces, a deleted flag as an integer bit set, history with spaces, an empty
// body as caught up.
func TestLenientForms(t *testing.T) {
	rows, err := DecodeChanges([]byte(` [ [ "12" , "a" , "1-a" , 5 ] , [ 13 , "b" , "2-b" , false , 40 ] ] `))
	if err != nil || len(rows) != 2 || rows[0].Sequence != `"12"` || !rows[0].Deleted() || rows[0].AccessRemoved() || rows[1].BodySize != 40 {
		t.Fatalf("rows %+v, %v", rows, err)
	}
	if n, ok := rows[0].Sequence.Uint(); !ok || n != 12 {
		t.Fatalf("sequence %q as a number: %d %v", rows[0].Sequence, n, ok)
	}
	for _, empty := range []string{"", "null", " [] "} {
		if rows, err := DecodeChanges([]byte(empty)); err != nil || len(rows) != 0 {
			t.Errorf("changes %q: %+v %v, want caught up", empty, rows, err)
		}
		if rows, err := DecodeProposeChanges([]byte(empty)); err != nil || len(rows) != 0 {
			t.Errorf("proposeChanges %q: %+v %v, want caught up", empty, rows, err)
		}
	}
	r, err := DecodeRev(MapProps{"id": "d", "rev": "3-c", "history": "2-b, 1-a,", "deleted": "0", "noconflicts": "YES"}, nil)
	if err != nil || !reflect.DeepEqual(r.History, []string{"2-b", "1-a"}) || r.Deleted || !r.NoConflicts {
		t.Fatalf("rev %+v, %v", r, err)
	}
	n, err := DecodeNoRev(MapProps{"id": "d", "rev": "1-a", "seq": "44"})
	if err != nil || n.Sequence != "44" {
		t.Fatalf("norev with the old seq property: %+v, %v", n, err)
	}
}
