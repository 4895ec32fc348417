package wire

import (
	"errors"
	"testing"

	"github.com/p2psync/libp2psync/engine/store"
)

// Every decoder of peer input must return an error or a value, never panic.

func FuzzDecodeChanges(f *testing.F) {
	for _, s := range []string{`null`, `[]`, `[[3,"t1","1-ab"]]`, `[["40:42","x","1-a",2,100]]`, `[[1,"a","1-a",true]]`, `[[1]]`, `{}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		rows, err := DecodeChanges(b)
		if err == nil {
			for _, r := range rows {
				_, _ = r.Sequence.Uint()
				_ = r.AccessRemoved()
			}
			_ = EncodeChanges(rows)
		}
		_, _ = DecodeChangesResponse(b, 3)
	})
}

func FuzzDecodeProposeChanges(f *testing.F) {
	for _, s := range []string{`null`, `[]`, `[["d1","3-c","2-a"],["d9","1-z"]]`, `[0,304,{"status":409,"rev":"2-q"}]`, `[["a"]]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if rows, err := DecodeProposeChanges(b); err == nil {
			_ = EncodeProposeChanges(rows)
		}
		_, _ = DecodeProposeChangesResponse(b, 4)
	})
}

func FuzzDecodeGetCollections(f *testing.F) {
	for _, s := range []string{`{"checkpoint_ids":["a"],"collections":["_default"]}`, `[{"remote":1,"_rev":"0-1"},{},null]`, `[`, `{}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = DecodeGetCollectionsRequest(b)
		_, _ = DecodeGetCollectionsResponse(b, 3)
		_, _ = DecodeCheckpoint(b)
		_, _, _ = CleanBody(b)
	})
}

func FuzzDecodeProps(f *testing.F) {
	f.Add("since", `"40:42"`, "batch", "200", []byte(`{"docIDs":["a"]}`))
	f.Add("history", "1-a, 2-b", "deleted", "YES", []byte(`{}`))
	f.Add("sequence", "x", "error", "nope", []byte(nil))
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2 string, body []byte) {
		p := MapProps{k1: v1, k2: v2, "id": "d", "rev": v1}
		_, _ = DecodeSubChanges(p, body)
		_, _ = DecodeRev(p, body)
		_, _ = DecodeNoRev(p)
		_, _, _ = CollectionIndex(p)
		_ = ParseBool(v2)
		_, _ = NormalizeSequence([]byte(v1)).Uint()
	})
}

// CleanBody never returns a body the store would refuse for a reserved key, and keeps a
// body without "_" keys as it was.
func FuzzCleanBody(f *testing.F) {
	for _, s := range []string{`{"a":1}`, `{"_id":"x","b":[1,{"_c":2}]}`, `{"\u005fid":1,"z":0}`, `{"_foo":1}`, ` { "_removed" : true } `, `{"a":1,"a":2,"_rev":"1-a"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		clean, _, err := CleanBody(b)
		if err != nil {
			return
		}
		if err := store.CheckDocumentBody(clean); errors.Is(err, store.ErrReservedProperty) {
			t.Fatalf("CleanBody(%q) = %q, which has a reserved key: %v", b, clean, err)
		}
	})
}
