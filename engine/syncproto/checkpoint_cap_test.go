package syncproto

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/p2psync/libp2psync/engine/blip"
	"github.com/p2psync/libp2psync/engine/store"
	"github.com/p2psync/libp2psync/engine/syncproto/wire"
)

// setCP stores a checkpoint for client on c and returns the new revision.
func setCP(t *testing.T, c *blip.Conn, client, rev, body string) (string, error) {
	t.Helper()
	props := blip.Properties{{Key: "client", Value: client}}
	if rev != "" {
		props = append(props, blip.Property{Key: "rev", Value: rev})
	}
	r, err := request(t, c, wire.ProfileSetCheckpoint, props, body)
	if err != nil {
		return "", err
	}
	return r.Properties.Get("rev"), nil
}

// storedPeerCheckpoints lists which of the client IDs have a checkpoint stored in db.
func storedPeerCheckpoints(t *testing.T, db *store.Database, clients []string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, id := range clients {
		_, _, err := db.GetLocal(context.Background(), peerCheckpointPrefix+id)
		switch {
		case err == nil:
			out[id] = true
		case errors.Is(err, store.ErrNotFound):
		default:
			t.Fatal(err)
		}
	}
	return out
}

// A peer naming ever new client IDs keeps at most Limits.MaxPeerCheckpoints checkpoints
// stored: each new one deletes the least recently written other, so the most recent
// ones stay (rewriting an old one makes it recent again), and what a peer reads back is
// either its own checkpoint or none (404: it starts over), never another's.
func TestPassiveCheckpointCap(t *testing.T) {
	db := openDB(t)
	peer := servePassiveLimits(t, db, PassiveConfig{Collections: []*store.Collection{db.DefaultCollection()}}, Limits{MaxPeerCheckpoints: 5})
	c := dialBare(t, peer.url, nil)
	var ids []string
	revs := map[string]string{}
	for i := 0; i < 12; i++ {
		id := fmt.Sprintf("client-%02d", i)
		ids = append(ids, id)
		rev, err := setCP(t, c, id, "", fmt.Sprintf(`{"local":%d}`, i))
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		revs[id] = rev
	}
	got := storedPeerCheckpoints(t, db, ids)
	if len(got) != 5 {
		t.Fatalf("%d checkpoints stored (%v), want the cap of 5", len(got), got)
	}
	for _, id := range ids[7:] {
		if !got[id] {
			t.Fatalf("stored %v: the most recent %s was evicted", got, id)
		}
	}
	// Rewriting client-07 (the oldest kept) makes it the most recent: the next new ID
	// evicts client-08 instead.
	if _, err := setCP(t, c, "client-07", revs["client-07"], `{"local":70}`); err != nil {
		t.Fatal(err)
	}
	if _, err := setCP(t, c, "client-new", "", `{"local":1}`); err != nil {
		t.Fatal(err)
	}
	got = storedPeerCheckpoints(t, db, append(ids, "client-new"))
	if len(got) != 5 || !got["client-07"] || got["client-08"] || !got["client-new"] {
		t.Fatalf("after rewriting client-07 and adding client-new: %v, want client-07, 09..11, new", got)
	}
	// An evicted client reads no checkpoint (and starts over); it can store one again
	// (creating it, without a revision).
	_, err := request(t, c, wire.ProfileGetCheckpoint, blip.Properties{{Key: "client", Value: "client-00"}}, "")
	replyError(t, err, "HTTP", 404)
	if _, err := setCP(t, c, "client-00", "", `{"local":5}`); err != nil {
		t.Fatal(err)
	}
	// Local documents other than peer checkpoints are never evicted.
	if _, err := db.PutLocal(context.Background(), "mine", []byte(`{"a":1}`), store.AnyRev); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 6; i++ {
		if _, err := setCP(t, c, fmt.Sprintf("more-%d", i), "", `{}`); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := db.GetLocal(context.Background(), "mine"); err != nil {
		t.Fatalf("a local document outside the peer checkpoints: %v", err)
	}
}

// A checkpoint body over Limits.MaxCheckpointSize is refused HTTP/413 and leaves the
// stored one as it was; one at the limit is stored. The default cap (16 KiB) applies when
// the limit is left zero.
func TestPassiveCheckpointSize(t *testing.T) {
	body := func(n int) string { // a JSON object of exactly n bytes
		return `{"remote":"` + strings.Repeat("x", n-len(`{"remote":""}`)) + `"}`
	}
	db := openDB(t)
	peer := servePassiveLimits(t, db, PassiveConfig{Collections: []*store.Collection{db.DefaultCollection()}}, Limits{MaxCheckpointSize: 1000})
	c := dialBare(t, peer.url, nil)
	rev, err := setCP(t, c, "A", "", body(1000))
	if err != nil {
		t.Fatalf("a checkpoint at the limit: %v", err)
	}
	_, err = setCP(t, c, "A", rev, body(1001))
	replyError(t, err, "HTTP", 413)
	_, err = setCP(t, c, "B", "", body(1001))
	replyError(t, err, "HTTP", 413)
	if got, cur, err := db.GetLocal(context.Background(), peerCheckpointPrefix+"A"); err != nil || string(got) != body(1000) || cur != rev {
		t.Fatalf("A after a refused checkpoint: %d bytes rev %q, %v", len(got), cur, err)
	}
	if got := storedPeerCheckpoints(t, db, []string{"B"}); got["B"] {
		t.Fatal("a refused checkpoint was stored")
	}

	db2 := openDB(t)
	peer2 := servePassive(t, db2, PassiveConfig{Collections: []*store.Collection{db2.DefaultCollection()}})
	c2 := dialBare(t, peer2.url, nil)
	if _, err := setCP(t, c2, "A", "", body(DefaultMaxCheckpointSize)); err != nil {
		t.Fatalf("a checkpoint at the default limit: %v", err)
	}
	_, err = setCP(t, c2, "B", "", body(DefaultMaxCheckpointSize+1))
	replyError(t, err, "HTTP", 413)
}

// A changes or proposeChanges list of more than wire.MaxListRows rows is refused
// HTTP/413 before it is decoded (decoding a 20 MiB list of short rows allocated
// ~370 MiB); one of MaxListRows rows is answered. The connection goes on.
func TestPassiveListRowsCap(t *testing.T) {
	db := openDB(t)
	peer := servePassive(t, db, PassiveConfig{Collections: []*store.Collection{db.DefaultCollection()}, AllowPush: true})
	c := dialBare(t, peer.url, nil)
	list := func(n int, row func(i int) string) string {
		var b strings.Builder
		b.WriteByte('[')
		for i := 0; i < n; i++ {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(row(i))
		}
		b.WriteByte(']')
		return b.String()
	}
	proposed := func(i int) string { return fmt.Sprintf(`["d%d","1-a"]`, i) }
	change := func(i int) string { return fmt.Sprintf(`[%d,"d%d","1-a"]`, i+1, i) }
	_, err := request(t, c, wire.ProfileProposeChanges, nil, list(wire.MaxListRows+1, proposed))
	replyError(t, err, "HTTP", 413)
	_, err = request(t, c, wire.ProfileChanges, nil, list(wire.MaxListRows+1, change))
	replyError(t, err, "HTTP", 413)
	if _, err := request(t, c, wire.ProfileProposeChanges, nil, list(wire.MaxListRows, proposed)); err != nil {
		t.Fatalf("a list of MaxListRows rows: %v", err)
	}
}
