package wire

import (
	"errors"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

func TestElementsOver(t *testing.T) {
	tests := []struct {
		body        string
		limit       int
		all, outers bool // ElementsOver, ArrayLenOver
	}{
		{`[]`, 0, false, false},
		{`[ ]`, 0, false, false},
		{`null`, 0, false, false},
		{`{}`, 0, false, false},
		{`[1]`, 0, true, true},
		{`[1]`, 1, false, false},
		{`[1,2,3]`, 2, true, true},
		{`[ "a" , "b" ]`, 2, false, false},
		// Elements of inner arrays count for ElementsOver only.
		{`[[1,2],[3]]`, 2, true, false},
		{`[[1,2],[3]]`, 5, false, false},
		{`[[],[]]`, 2, false, false},
		// Object members are not elements; arrays inside objects are.
		{`{"a":1,"b":2,"c":3}`, 0, false, false},
		{`{"docIDs":["a","b","c"],"x":{"y":[1]}}`, 3, true, false},
		{`{"docIDs":["a","b","c"],"x":{"y":[1]}}`, 4, false, false},
		{`[{"a":1,"b":2}]`, 1, false, false},
		// Commas and brackets inside strings are not structure.
		{`["a,b,[c]","d\",e"]`, 2, false, false},
		{`["a\\",["b"]]`, 2, true, false},
	}
	for _, tt := range tests {
		if got := ElementsOver([]byte(tt.body), tt.limit); got != tt.all {
			t.Errorf("ElementsOver(%s, %d) = %v, want %v", tt.body, tt.limit, got, tt.all)
		}
		if got := ArrayLenOver([]byte(tt.body), tt.limit); got != tt.outers {
			t.Errorf("ArrayLenOver(%s, %d) = %v, want %v", tt.body, tt.limit, got, tt.outers)
		}
	}
	// Arrays nested deeper than the fixed bit set are told from objects as well.
	deep := strings.Repeat(`{"a":[`, 100) + `1,2,3` + strings.Repeat(`]}`, 100)
	if !ElementsOver([]byte(deep), 101) || ElementsOver([]byte(deep), 102) {
		t.Errorf("100 nested arrays, 99 holding one object and one 3 numbers: want 102 elements")
	}
	if ArrayLenOver([]byte(deep), 0) {
		t.Errorf("an object is no array")
	}
}

// idList is a JSON array of n short distinct strings.
func idList(n int) string {
	var b strings.Builder
	b.WriteByte('[')
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('"')
		b.WriteString(strconv.FormatInt(int64(i), 36))
		b.WriteByte('"')
	}
	b.WriteByte(']')
	return b.String()
}

// allocated runs f and returns the bytes it allocated (runtime.MemStats.TotalAlloc: an
// upper bound, whatever else runs meanwhile adds to it).
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// A subChanges docIDs filter of more than MaxDocIDs IDs is refused (ErrTooLong) before it
// is decoded: a 20 MiB list of short IDs allocated ~220 MiB to decode before the bound,
// and now costs less than its size. A filter of MaxDocIDs IDs is decoded.
func TestDecodeSubChangesDocIDsBound(t *testing.T) {
	body := []byte(`{"docIDs":` + idList(MaxDocIDs) + `}`)
	s, err := DecodeSubChanges(MapProps{}, body)
	if err != nil || len(s.DocIDs) != MaxDocIDs || s.DocIDs[MaxDocIDs-1] != strconv.FormatInt(MaxDocIDs-1, 36) {
		t.Fatalf("MaxDocIDs IDs: %d decoded, %v", len(s.DocIDs), err)
	}
	body = []byte(`{"docIDs":` + idList(MaxDocIDs+1) + `}`)
	if _, err := DecodeSubChanges(MapProps{}, body); !errors.Is(err, ErrTooLong) || !errors.Is(err, ErrBadMessage) {
		t.Fatalf("MaxDocIDs+1 IDs: %v, want ErrTooLong", err)
	}

	big := []byte(`{"docIDs":` + idList(20<<20/6) + `}`) // ~20 MiB
	var derr error
	n := allocated(func() { _, derr = DecodeSubChanges(MapProps{}, big) })
	if !errors.Is(derr, ErrTooLong) {
		t.Fatalf("a %d-byte filter: %v, want ErrTooLong", len(big), derr)
	}
	if n > uint64(len(big)) {
		t.Fatalf("refusing a %d-byte filter allocated %d bytes", len(big), n)
	}
}

// A getCollections request naming more than MaxCollections collections is refused
// (ErrTooLong) without decoding a long list; MaxCollections are accepted.
func TestDecodeGetCollectionsRequestBound(t *testing.T) {
	req := func(n int) []byte {
		ids, colls := make([]string, n), make([]string, n)
		for i := range colls {
			ids[i], colls[i] = "cp", "s.c"+strconv.Itoa(i)
		}
		return GetCollectionsRequest{CheckpointIDs: ids, Collections: colls}.Encode()
	}
	if r, err := DecodeGetCollectionsRequest(req(MaxCollections)); err != nil || len(r.Collections) != MaxCollections {
		t.Fatalf("MaxCollections collections: %v", err)
	}
	if _, err := DecodeGetCollectionsRequest(req(MaxCollections + 1)); !errors.Is(err, ErrTooLong) {
		t.Fatalf("MaxCollections+1: %v, want ErrTooLong", err)
	}
	// More collections than checkpoint IDs (within twice the bound in all) is refused too.
	lop := []byte(`{"checkpoint_ids":[],"collections":` + idList(MaxCollections+1) + `}`)
	if _, err := DecodeGetCollectionsRequest(lop); !errors.Is(err, ErrTooLong) {
		t.Fatalf("MaxCollections+1 collections, no checkpoint IDs: %v, want ErrTooLong", err)
	}
	big := []byte(`{"checkpoint_ids":` + idList(10<<20/6) + `,"collections":` + idList(10<<20/6) + `}`)
	var derr error
	n := allocated(func() { _, derr = DecodeGetCollectionsRequest(big) })
	if !errors.Is(derr, ErrTooLong) || n > uint64(len(big)) {
		t.Fatalf("a %d-byte request: %v, %d bytes allocated", len(big), derr, n)
	}
}

// A rev history of more than MaxRevHistory entries, or a revTree of more than
// MaxRevTree, is refused (ErrTooLong) before it is split.
func TestDecodeRevListBounds(t *testing.T) {
	hist := func(n int) string { return strings.TrimSuffix(strings.Repeat("1-a,", n), ",") }
	if r, err := DecodeRev(MapProps{"id": "d", "rev": "2-b", "history": hist(MaxRevHistory)}, nil); err != nil || len(r.History) != MaxRevHistory {
		t.Fatalf("MaxRevHistory entries: %v", err)
	}
	if _, err := DecodeRev(MapProps{"id": "d", "rev": "2-b", "history": hist(MaxRevHistory + 1)}, nil); !errors.Is(err, ErrTooLong) {
		t.Fatalf("MaxRevHistory+1 entries: %v, want ErrTooLong", err)
	}
	if _, err := DecodeRev(MapProps{"id": "d", "rev": "2-b", RevTreeProperty: hist(MaxRevTree)}, nil); err != nil {
		t.Fatalf("MaxRevTree revTree entries: %v", err)
	}
	if _, err := DecodeRev(MapProps{"id": "d", "rev": "2-b", RevTreeProperty: hist(MaxRevTree + 1)}, nil); !errors.Is(err, ErrTooLong) {
		t.Fatalf("MaxRevTree+1 revTree entries: %v, want ErrTooLong", err)
	}
	big := strings.Repeat("a,", 10<<20)
	var derr error
	n := allocated(func() { _, derr = DecodeRev(MapProps{"id": "d", "rev": "2-b", "history": big}, nil) })
	if !errors.Is(derr, ErrTooLong) || n > uint64(len(big)) {
		t.Fatalf("a %d-byte history: %v, %d bytes allocated", len(big), derr, n)
	}
}

// The answers the active side reads are bounded the same way: no more entries than rows
// asked, at most MaxKnownRevs known revisions per changes answer entry, checkpoints of at
// most MaxRemoteCheckpointSize.
func TestDecodeAnswerBounds(t *testing.T) {
	many := []byte("[" + strings.Repeat("0,", 5<<20) + "0]")
	var derr error
	n := allocated(func() { _, derr = DecodeChangesResponse(many, 200) })
	if !errors.Is(derr, ErrTooLong) || n > 1<<20 {
		t.Fatalf("changes answer of 5M entries for 200 rows: %v, %d bytes allocated", derr, n)
	}
	if _, err := DecodeChangesResponse([]byte(`[0,0,0]`), 2); !errors.Is(err, ErrTooLong) {
		t.Fatalf("3 entries for 2 rows: %v", err)
	}
	if a, err := DecodeChangesResponse([]byte(`[[],0]`), 2); err != nil || !a[0].Want {
		t.Fatalf("2 entries for 2 rows: %v", err)
	}
	if a, err := DecodeChangesResponse([]byte(`[`+idList(MaxKnownRevs)+`]`), 1); err != nil || len(a[0].KnownRevs) != MaxKnownRevs {
		t.Fatalf("MaxKnownRevs known revisions: %v", err)
	}
	if _, err := DecodeChangesResponse([]byte(`[`+idList(MaxKnownRevs+1)+`]`), 1); !errors.Is(err, ErrTooLong) {
		t.Fatalf("MaxKnownRevs+1 known revisions: %v, want ErrTooLong", err)
	}
	n = allocated(func() { _, derr = DecodeProposeChangesResponse(many, 200) })
	if !errors.Is(derr, ErrTooLong) || n > 1<<20 {
		t.Fatalf("proposeChanges answer of 5M entries for 200 rows: %v, %d bytes allocated", derr, n)
	}
	n = allocated(func() { _, derr = DecodeGetCollectionsResponse(many, 1) })
	if !errors.Is(derr, ErrTooLong) || n > 1<<20 {
		t.Fatalf("getCollections answer of 5M entries for 1 collection: %v, %d bytes allocated", derr, n)
	}

	members := func(size int) string { // a JSON object of many short members, about size bytes
		var b strings.Builder
		b.WriteString(`{"local":5`)
		for i := 0; b.Len() < size; i++ {
			b.WriteString(`,"` + strconv.FormatInt(int64(i), 36) + `":0`)
		}
		b.WriteByte('}')
		return b.String()
	}
	if c, err := DecodeCheckpoint([]byte(members(MaxRemoteCheckpointSize - 100))); err != nil || c.Local != 5 {
		t.Fatalf("a checkpoint under MaxRemoteCheckpointSize: %+v, %v", c, err)
	}
	big := []byte(members(10 << 20))
	n = allocated(func() { _, derr = DecodeCheckpoint(big) })
	if !errors.Is(derr, ErrTooLong) || n > 1<<20 {
		t.Fatalf("a %d-byte checkpoint: %v, %d bytes allocated", len(big), derr, n)
	}
	big = append(append([]byte("["), big...), ']')
	n = allocated(func() { _, derr = DecodeGetCollectionsResponse(big, 1) })
	if !errors.Is(derr, ErrTooLong) || n > 2*uint64(len(big)) { // the entry is copied once
		t.Fatalf("a getCollections answer holding a %d-byte checkpoint: %v, %d bytes allocated", len(big), derr, n)
	}
}
