package syncproto

import (
	"strconv"
	"strings"
	"testing"

	"github.com/p2psync/libp2psync/engine/blip"
	"github.com/p2psync/libp2psync/engine/store"
	"github.com/p2psync/libp2psync/engine/syncproto/wire"
)

// quotedList is a JSON array of n distinct short strings.
func quotedList(n int) string {
	var b strings.Builder
	b.WriteByte('[')
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Quote(strconv.FormatInt(int64(i), 36)))
	}
	b.WriteByte(']')
	return b.String()
}

// The passive side answers HTTP/413 to a request holding a list over the codec's bounds
// (wire.MaxDocIDs, wire.MaxCollections, wire.MaxRevHistory), refused before the list
// is decoded, and goes on serving the connection.
func TestPassiveRefusesOverlongLists(t *testing.T) {
	db := openDB(t)
	cfg := PassiveConfig{Collections: []*store.Collection{db.DefaultCollection()}, AllowPush: true, AllowPull: true}
	peer := servePassive(t, db, cfg)

	// getCollections (the first request of its connection).
	c := dialBare(t, peer.url, nil)
	gc := `{"checkpoint_ids":` + quotedList(wire.MaxCollections+1) + `,"collections":` + quotedList(wire.MaxCollections+1) + `}`
	_, err := request(t, c, wire.ProfileGetCollections, nil, gc)
	replyError(t, err, "HTTP", 413)

	// subChanges with a docIDs filter.
	c = dialBare(t, peer.url, nil)
	_, err = request(t, c, wire.ProfileSubChanges, nil, `{"docIDs":`+quotedList(wire.MaxDocIDs+1)+`}`)
	replyError(t, err, "HTTP", 413)
	// A rev with a history over the bound.
	hist := strings.TrimSuffix(strings.Repeat("1-a,", wire.MaxRevHistory+1), ",")
	_, err = request(t, c, wire.ProfileRev, blip.Properties{{Key: "id", Value: "d"}, {Key: "rev", Value: "2-b"}, {Key: "history", Value: hist}}, `{}`)
	replyError(t, err, "HTTP", 413)
	// The same connection is still served: a filter at the bound starts the feed.
	if _, err := request(t, c, wire.ProfileSubChanges, nil, `{"docIDs":`+quotedList(wire.MaxDocIDs)+`}`); err != nil {
		t.Fatalf("a filter of wire.MaxDocIDs IDs: %v", err)
	}
}

// setCheckpoint validates a body without decoding it into a map (json.Valid): malformed
// JSON and non-objects are refused HTTP/400; with MaxCheckpointSize negative a large
// checkpoint of many short members is stored as sent.
func TestPassiveCheckpointValidation(t *testing.T) {
	db := openDB(t)
	peer := servePassiveLimits(t, db, PassiveConfig{Collections: []*store.Collection{db.DefaultCollection()}}, Limits{MaxCheckpointSize: -1})
	c := dialBare(t, peer.url, nil)
	for _, body := range []string{`{`, `[]`, `"x"`, `null`, ``, `{"a":1}x`} {
		_, err := setCP(t, c, "A", "", body)
		replyError(t, err, "HTTP", 400)
	}
	var b strings.Builder
	b.WriteString(`{"local":1`)
	for i := 0; b.Len() < 2<<20; i++ {
		b.WriteString(`,"` + strconv.Itoa(i) + `":0`)
	}
	b.WriteByte('}')
	if _, err := setCP(t, c, "A", "", b.String()); err != nil {
		t.Fatalf("a %d-byte checkpoint with no size cap: %v", b.Len(), err)
	}
}
