package wire

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/p2psync/libp2psync/engine/store"
)

func TestParseBool(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"true", true}, {"TRUE", true}, {"True", true}, {"YES", true}, {"yes", true}, {"1", true}, {"2", true}, {"-1", true},
		{"t", true}, {"false", false}, {"NO", false}, {"0", false}, {"", false}, {"garbage", false}, {" true ", true},
	}
	for _, tt := range tests {
		if got := ParseBool(tt.in); got != tt.want {
			t.Errorf("ParseBool(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestNormalizeSequence(t *testing.T) {
	tests := []struct {
		in   string
		want Sequence
		uint uint64
		ok   bool
	}{
		{"42", "42", 42, true},
		{"0", "0", 0, true},
		{"007", `"007"`, 7, true},
		{"123456789012345678901234567890", "123456789012345678901234567890", 0, false},
		{"1e3", "1e3", 0, false},
		{`"40:42"`, `"40:42"`, 42, true},
		{`"7::42"`, `"7::42"`, 42, true},
		{`40:42`, `"40:42"`, 42, true},
		{`"17"`, `"17"`, 17, true},
		{"", "", 0, false},
		{"null", "", 0, false},
		{" 5 ", "5", 5, true},
		{`"abc"`, `"abc"`, 0, false},
	}
	for _, tt := range tests {
		got := NormalizeSequence([]byte(tt.in))
		if got != tt.want {
			t.Errorf("NormalizeSequence(%q) = %q, want %q", tt.in, got, tt.want)
		}
		n, ok := got.Uint()
		if ok != tt.ok || n != tt.uint {
			t.Errorf("%q.Uint() = %d,%v want %d,%v", got, n, ok, tt.uint, tt.ok)
		}
	}
}

func TestDecodeChanges(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		want    []ChangeRow
		wantErr bool
	}{
		{"null caught up (SG)", "null", nil, false},
		{"empty caught up", "[]", []ChangeRow{}, false},
		{"empty body", "", nil, false},
		{"three elements", `[[3,"t1","1-ab"]]`, []ChangeRow{{Sequence: "3", DocID: "t1", RevID: "1-ab"}}, false},
		{"bool deleted", `[[4,"t2","2-cd",true]]`, []ChangeRow{{Sequence: "4", DocID: "t2", RevID: "2-cd", Flags: 1}}, false},
		{"false deleted with size", `[[5,"t3","1-ef",false,120]]`, []ChangeRow{{Sequence: "5", DocID: "t3", RevID: "1-ef", BodySize: 120}}, false},
		{"int flags and string seq", `[["40:42","x","1-a",2],["40:43","y","1-b",5]]`,
			[]ChangeRow{{Sequence: `"40:42"`, DocID: "x", RevID: "1-a", Flags: 2}, {Sequence: `"40:43"`, DocID: "y", RevID: "1-b", Flags: 5}}, false},
		{"short row", `[[1,"a"]]`, nil, true},
		{"not array", `{"a":1}`, nil, true},
		{"bad flag", `[[1,"a","1-a","x"]]`, nil, true},
		{"empty id", `[[1,"","1-a"]]`, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeChanges([]byte(tt.body))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if err != nil {
				if !errors.Is(err, ErrBadMessage) {
					t.Fatalf("error %v is not ErrBadMessage", err)
				}
				return
			}
			if len(got) != len(tt.want) || (len(got) > 0 && !reflect.DeepEqual(got, tt.want)) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestChangeRowFlags(t *testing.T) {
	tests := []struct {
		flags            int
		deleted, removed bool
	}{
		{0, false, false}, {1, true, false}, {2, false, true}, {3, true, true}, {4, false, true}, {5, true, false}, {6, false, true},
	}
	for _, tt := range tests {
		r := ChangeRow{Flags: tt.flags}
		if r.Deleted() != tt.deleted || r.AccessRemoved() != tt.removed {
			t.Errorf("flags %d: deleted=%v removed=%v, want %v %v", tt.flags, r.Deleted(), r.AccessRemoved(), tt.deleted, tt.removed)
		}
	}
}

func TestEncodeChangesRoundTrip(t *testing.T) {
	rows := []ChangeRow{
		{Sequence: "1", DocID: "a", RevID: "1-aa"},
		{Sequence: `"3:4"`, DocID: "b\"q", RevID: "2-bb", Flags: FlagDeleted},
		{Sequence: "9", DocID: "ü", RevID: "3-cc", BodySize: 77},
	}
	enc := EncodeChanges(rows)
	want := `[[1,"a","1-aa"],["3:4","b\"q","2-bb",true],[9,"\u00fc","3-cc",false,77]]`
	if string(enc) != want && string(enc) != `[[1,"a","1-aa"],["3:4","b\"q","2-bb",true],[9,"ü","3-cc",false,77]]` {
		t.Fatalf("encoded %s", enc)
	}
	got, err := DecodeChanges(enc)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, rows) {
		t.Fatalf("round trip: %+v", got)
	}
}

func TestChangesResponse(t *testing.T) {
	ans := []ChangeAnswer{{Want: true, KnownRevs: []string{"2-a", "1-b"}}, {}, {Want: true}, {Status: 409}, {}, {}}
	enc := EncodeChangesResponse(ans)
	if string(enc) != `[["2-a","1-b"],0,[],409]` {
		t.Fatalf("encoded %s", enc)
	}
	got, err := DecodeChangesResponse(enc, len(ans))
	if err != nil {
		t.Fatal(err)
	}
	for i := range ans {
		if got[i].Want != ans[i].Want || got[i].Status != ans[i].Status || len(got[i].KnownRevs) != len(ans[i].KnownRevs) {
			t.Fatalf("entry %d: %+v want %+v", i, got[i], ans[i])
		}
	}
	// null entries and an empty array
	got, err = DecodeChangesResponse([]byte(`[null,[],0]`), 4)
	if err != nil || got[0].Want || !got[1].Want || got[2].Want || got[3].Want {
		t.Fatalf("null handling: %+v %v", got, err)
	}
	if _, err := DecodeChangesResponse([]byte(`[[],[],[]]`), 2); err == nil {
		t.Fatal("too many entries accepted")
	}
}

func TestProposeChanges(t *testing.T) {
	rows := []ProposedChange{{DocID: "d1", RevID: "3-c", ParentRevID: "2-a"}, {DocID: "d9", RevID: "1-z"}, {DocID: "d2", RevID: "2-x", BodySize: 10}}
	enc := EncodeProposeChanges(rows)
	if string(enc) != `[["d1","3-c","2-a"],["d9","1-z"],["d2","2-x","",10]]` {
		t.Fatalf("encoded %s", enc)
	}
	got, err := DecodeProposeChanges(enc)
	if err != nil || !reflect.DeepEqual(got, rows) {
		t.Fatalf("decoded %+v, %v", got, err)
	}
	ans := []ProposeAnswer{{Status: 0}, {Status: 304}, {Status: 409, CurrentRev: "2-q"}, {Status: 0}}
	enc = EncodeProposeChangesResponse(ans)
	if string(enc) != `[0,304,{"status":409,"rev":"2-q"}]` {
		t.Fatalf("encoded answer %s", enc)
	}
	back, err := DecodeProposeChangesResponse(enc, 4)
	if err != nil || !reflect.DeepEqual(back, ans) {
		t.Fatalf("decoded answer %+v %v", back, err)
	}
	// "[]" means send everything.
	back, err = DecodeProposeChangesResponse([]byte(`[]`), 2)
	if err != nil || back[0].Status != 0 || back[1].Status != 0 {
		t.Fatalf("[] answer %+v %v", back, err)
	}
	back, err = DecodeProposeChangesResponse([]byte(`[409,403]`), 2)
	if err != nil || back[0].Status != 409 || back[1].Status != 403 {
		t.Fatalf("int answer %+v %v", back, err)
	}
}

func TestGetCollections(t *testing.T) {
	req := GetCollectionsRequest{CheckpointIDs: []string{"cp-1", "cp-2"}, Collections: []string{"_default", "inv.hotels"}}
	got, err := DecodeGetCollectionsRequest(req.Encode())
	if err != nil || !reflect.DeepEqual(got, req) {
		t.Fatalf("%+v %v", got, err)
	}
	bad := []string{
		`{"checkpoint_ids":["a"],"collections":[]}`,
		`{"checkpoint_ids":["a","b"],"collections":["x"]}`,
		`{"checkpoint_ids":["a","b"],"collections":["x","_default.x"]}`,
		`{"checkpoint_ids":["a"],"collections":["a.b.c"]}`,
		`[]`,
	}
	for _, b := range bad {
		if _, err := DecodeGetCollectionsRequest([]byte(b)); !errors.Is(err, ErrBadMessage) {
			t.Errorf("%s: err %v", b, err)
		}
	}
	enc, err := EncodeGetCollectionsResponse([]RemoteCheckpoint{{Body: []byte(`{"local":5}`), Rev: "3-cc"}, {}, {Missing: true}})
	if err != nil {
		t.Fatal(err)
	}
	if string(enc) != `[{"_rev":"3-cc","local":5,"rev":"3-cc"},{},null]` {
		t.Fatalf("encoded %s", enc)
	}
	// SG style: "_rev" only.
	dec, err := DecodeGetCollectionsResponse([]byte(`[{"remote":1234,"_rev":"0-3"},{},null]`), 3)
	if err != nil {
		t.Fatal(err)
	}
	if dec[0].Rev != "0-3" || string(dec[0].Body) != `{"remote":1234}` || dec[1].Body != nil || !dec[2].Missing {
		t.Fatalf("decoded %+v", dec)
	}
	if _, err := DecodeGetCollectionsResponse([]byte(`[{}]`), 2); err == nil {
		t.Fatal("count mismatch accepted")
	}
}

func TestSplitCollectionPath(t *testing.T) {
	tests := []struct{ in, scope, name string }{
		{"_default", "_default", "_default"},
		{"_default._default", "_default", "_default"},
		{"hotels", "_default", "hotels"},
		{"inv.hotels", "inv", "hotels"},
	}
	for _, tt := range tests {
		s, n, err := SplitCollectionPath(tt.in)
		if err != nil || s != tt.scope || n != tt.name {
			t.Errorf("%q => %q %q %v", tt.in, s, n, err)
		}
	}
	for _, b := range []string{"", ".x", "x.", "a.b.c"} {
		if _, _, err := SplitCollectionPath(b); err == nil {
			t.Errorf("%q accepted", b)
		}
	}
	if CollectionPath("_default", "_default") != "_default" || CollectionPath("inv", "h") != "inv.h" || CollectionPath("", "h") != "h" {
		t.Error("CollectionPath")
	}
}

func TestCheckpoint(t *testing.T) {
	c := Checkpoint{Local: 18, Remote: `"40:42"`, Time: 1732544000}
	enc := c.Encode()
	if string(enc) != `{"time":1732544000,"local":18,"remote":"40:42"}` {
		t.Fatalf("encoded %s", enc)
	}
	got, err := DecodeCheckpoint(enc)
	if err != nil || got != c {
		t.Fatalf("%+v %v", got, err)
	}
	got, err = DecodeCheckpoint([]byte(`{"local":"17","remote":1236,"localCompleted":[[1,5]]}`))
	if err != nil || got.Local != 17 || got.Remote != "1236" {
		t.Fatalf("%+v %v", got, err)
	}
	if string((Checkpoint{}).Encode()) != `{}` {
		t.Fatal("empty checkpoint")
	}
	if _, err := DecodeCheckpoint([]byte(`[`)); err == nil {
		t.Fatal("bad JSON accepted")
	}
}

func TestSubChanges(t *testing.T) {
	s := SubChanges{Since: `"40:42"`, Continuous: true, Batch: 200, ActiveOnly: true, Versioning: VersioningRevTrees, SendReplacementRevs: true, DocIDs: []string{"a", "b"}}
	props := MapProps{}
	for _, p := range s.Props() {
		props[p.Key] = p.Value
	}
	if props["continuous"] != "true" || props["since"] != `"40:42"` || props["batch"] != "200" {
		t.Fatalf("props %v", props)
	}
	got, err := DecodeSubChanges(props, s.Body())
	if err != nil || !reflect.DeepEqual(got, s) {
		t.Fatalf("%+v %v", got, err)
	}
	// CBL spellings, properties in any order.
	got, err = DecodeSubChanges(MapProps{"sendReplacementRevs": "1", "activeOnly": "YES", "continuous": "1", "since": "1234", "filter": "sync_gateway/bychannel", "channels": "a, b"}, nil)
	if err != nil || !got.SendReplacementRevs || !got.ActiveOnly || !got.Continuous || got.Since != "1234" || got.Filter == "" || !reflect.DeepEqual(got.Channels, []string{"a", "b"}) {
		t.Fatalf("%+v %v", got, err)
	}
	if _, err := DecodeSubChanges(MapProps{"batch": "x"}, nil); err == nil {
		t.Fatal("bad batch accepted")
	}
	if _, err := DecodeSubChanges(MapProps{}, []byte(`{"docIDs":5}`)); err == nil {
		t.Fatal("bad body accepted")
	}
}

func TestRevAndNoRev(t *testing.T) {
	r := Rev{DocID: "d1", RevID: "3-c", History: []string{"2-a", "1-x"}, Deleted: true, Sequence: "18", NoConflicts: true}
	props := MapProps{}
	for _, p := range r.Props() {
		props[p.Key] = p.Value
	}
	if props["deleted"] != "1" || props["noconflicts"] != "true" || props["history"] != "2-a,1-x" {
		t.Fatalf("props %v", props)
	}
	got, err := DecodeRev(props, nil)
	if err != nil || !reflect.DeepEqual(got, r) {
		t.Fatalf("%+v %v", got, err)
	}
	got, err = DecodeRev(MapProps{"id": "x", "rev": "2-b", "history": "1-a, 0-z", "deleted": "true", "sequence": `"4:5"`, "error": "404"}, []byte("{}"))
	if err != nil || !reflect.DeepEqual(got.History, []string{"1-a", "0-z"}) || !got.Deleted || got.Sequence != `"4:5"` || got.ErrorStatus != 404 {
		t.Fatalf("%+v %v", got, err)
	}
	if _, err := DecodeRev(MapProps{"rev": "1-a"}, nil); !errors.Is(err, ErrBadMessage) {
		t.Fatal("missing id accepted")
	}
	n, err := DecodeNoRev(MapProps{"id": "a", "rev": "1-a", "seq": "7", "error": "404", "reason": "missing"})
	if err != nil || n.Sequence != "7" || n.Error != 404 || n.Reason != "missing" {
		t.Fatalf("%+v %v", n, err)
	}
}

func TestCleanBody(t *testing.T) {
	tests := []struct {
		in, out string
		removed bool
		err     bool
	}{
		{`{"a":1}`, `{"a":1}`, false, false},
		{``, `{}`, false, false},
		{`{"_id":"x","_rev":"1-a","a":1}`, `{"a":1}`, false, false},
		{`{"_removed":true}`, `{}`, true, false},
		{`[1]`, ``, false, true},
		{`{"_x":`, ``, false, true},
		{`{"_removed":false,"a":1}`, `{"a":1}`, false, false},
		{`{"_removed": true ,"a":1}`, `{"a":1}`, true, false},
		// The rest of the body is kept as sent: order, escapes, numbers.
		{`{ "z" : 1 , "_attachments" : {"x":{"stub":true}} , "b":"<\u0026>", "n":1.50, "_exp":3, "a":[ 1 ] }`, `{"z" : 1,"_attachments" : {"x":{"stub":true}},"b":"<\u0026>","n":1.50,"a":[ 1 ]}`, false, false},
		{`{"\u005fid":"x","a":1}`, `{"a":1}`, false, false},
		{`{"_deleted":true}`, `{}`, false, false},
		{`{"nested":{"_foo":1},"a":"_bar"}`, `{"nested":{"_foo":1},"a":"_bar"}`, false, false},
		{`{"_id":"x"}trailing`, ``, false, true},
	}
	for _, tt := range tests {
		got, removed, err := CleanBody([]byte(tt.in))
		if (err != nil) != tt.err || string(got) != tt.out || removed != tt.removed {
			t.Errorf("CleanBody(%s) = %s,%v,%v", tt.in, got, removed, err)
		}
	}
	// A "_" key the protocol does not define is refused, named, not dropped.
	for _, in := range []string{`{"a":1,"_foo":2}`, `{"_sync":{}}`, `{"_":1}`, `{"\u005Fpurged":true}`, `{"_purged":true,"_id":"x"}`} {
		got, _, err := CleanBody([]byte(in))
		if !errors.Is(err, store.ErrReservedProperty) || got != nil {
			t.Errorf("CleanBody(%s) = %s, %v; want ErrReservedProperty", in, got, err)
		}
	}
	if _, _, err := CleanBody([]byte(`{"_foo":1}`)); err == nil || !strings.Contains(err.Error(), `"_foo"`) {
		t.Errorf("error does not name the key: %v", err)
	}
}

func TestCollectionIndex(t *testing.T) {
	if _, present, err := CollectionIndex(MapProps{}); present || err != nil {
		t.Fatal("absent")
	}
	if i, present, err := CollectionIndex(MapProps{"collection": "2"}); !present || err != nil || i != 2 {
		t.Fatal("2")
	}
	if _, _, err := CollectionIndex(MapProps{"collection": "-1"}); !errors.Is(err, ErrUnknownCollection) {
		t.Fatal("-1 accepted")
	}
}

// A CBMobile_4 rev's vector read from its rev and history (the recorded shapes: cv only,
// pv only, mv;pv, legacy rev-tree IDs after the pv) and written back the same.
func TestRevVectorRoundTrip(t *testing.T) {
	for _, tc := range []struct{ rev, history string }{
		{"18ed7b689f580000@pqL3hlqMVKn2VRNcx3X6BA", ""},
		{"18ed7b68ac720000@dnZwcm9iZS1zb3VyY2UtQQ", "18ed7b689fea0000@pqL3hlqMVKn2VRNcx3X6BA"},
		{"18ed7b68ac700000@dnZwcm9iZS1zb3VyY2UtQQ", "18ed7b68ac6f0000@dnZwcm9iZS1zb3VyY2UtQg,18ed7b68ac6f0000@dnZwcm9iZS1zb3VyY2UtQw;18ed7b68ac6e0000@dnZwcm9iZS1zb3VyY2UtRA"},
		{"18ed7b68e8c20000@pqL3hlqMVKn2VRNcx3X6BA", "1ababababab@Revision+Tree+Encoding,2-cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd,1-abababababababababababababababababababab"},
	} {
		props := MapProps{"id": "d", "rev": tc.rev}
		if tc.history != "" {
			props["history"] = tc.history
		}
		r, err := DecodeRev(props, nil)
		if err != nil {
			t.Fatal(err)
		}
		v, err := RevVector(r)
		if err != nil {
			t.Fatalf("%s / %s: %v", tc.rev, tc.history, err)
		}
		var out Rev
		SetRevVector(&out, v)
		got := ""
		if len(out.History) > 0 {
			got = out.History[0]
		}
		if out.RevID != tc.rev || got != tc.history {
			t.Fatalf("written back as %s / %s, read %s / %s", out.RevID, got, tc.rev, tc.history)
		}
		if !IsVersion(r.RevID) {
			t.Fatalf("%s not a version", r.RevID)
		}
	}
	if IsVersion("1-abab") || IsVersion("") {
		t.Fatal("rev-tree ID taken for a version")
	}
	if _, err := RevVector(Rev{DocID: "d", RevID: "18ed7b68ac720000@A", History: []string{"a;b;c"}}); err == nil {
		t.Fatal("bad history accepted")
	}
}

// The revTree property of a rev sent by version: written comma-separated, read back
// (spaces tolerated); CheckRevTree wants rev-tree IDs with generations descending one by one.
func TestRevTreeProperty(t *testing.T) {
	r := Rev{DocID: "d", RevID: "18ed7b68ac700000@dnZwcm9iZS1zb3VyY2UtQQ", RevTree: []string{"3-c", "2-b", "1-a"}}
	props := MapProps{}
	for _, p := range r.Props() {
		props[p.Key] = p.Value
	}
	if props[RevTreeProperty] != "3-c,2-b,1-a" || RevTreeProperty != "revTree" {
		t.Fatalf("props %v", props)
	}
	got, err := DecodeRev(props, nil)
	if err != nil || !reflect.DeepEqual(got, r) {
		t.Fatalf("%+v %v", got, err)
	}
	props[RevTreeProperty] = "5-e, 4-d"
	if got, err = DecodeRev(props, nil); err != nil || !reflect.DeepEqual(got.RevTree, []string{"5-e", "4-d"}) {
		t.Fatalf("%+v %v", got, err)
	}
	if err := CheckRevTree("d", got.RevTree); err != nil {
		t.Fatal(err)
	}
	if err := CheckRevTree("d", nil); err != nil {
		t.Fatal(err)
	}
	for _, bad := range [][]string{{"5-e", "3-c"}, {"2-b", "3-c"}, {"1@x"}, {"0-a"}, {"2-b", "1-a", "x"}} {
		if err := CheckRevTree("d", bad); !errors.Is(err, ErrBadMessage) {
			t.Errorf("%v accepted: %v", bad, err)
		}
	}
	if r := (Rev{DocID: "d", RevID: "1-a"}); len(r.Props()) != 2 {
		t.Fatalf("props without revTree: %v", r.Props())
	}
}
