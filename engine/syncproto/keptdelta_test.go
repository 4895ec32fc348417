package syncproto

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"

	"github.com/p2psync/libp2psync/engine/blip"
	"github.com/p2psync/libp2psync/engine/delta"
	"github.com/p2psync/libp2psync/engine/store"
)

// keptRowSizes reads the lengths of every row of the database's kept-bodies tables
// straight from its file (a second, read-only connection).
func keptRowSizes(t *testing.T, db *store.Database) []int {
	t.Helper()
	f, err := sql.Open("sqlite", "file:"+filepath.Join(db.Path(), "db.sqlite3")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var tables []string
	rows, err := f.Query(`SELECT name FROM sqlite_master WHERE type = 'table' AND name GLOB 'kept_[0-9]*'`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, n)
	}
	rows.Close()
	var sizes []int
	for _, tb := range tables {
		rows, err := f.Query(`SELECT length(body) FROM ` + tb)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var n int
			if err := rows.Scan(&n); err != nil {
				t.Fatal(err)
			}
			sizes = append(sizes, n)
		}
		rows.Close()
	}
	return sizes
}

// A revision received as a delta keeps the base it replaced as a small reverse delta
// (store.BaseDelta), not as a second full copy, and the base still reads back byte for
// byte (it is the next delta's base, and a conflict's).
func TestPullerKeepsBaseAsReverseDelta(t *testing.T) {
	ctx := context.Background()
	s, coll, peer := scriptedPeer(t, SessionConfig{DeltaSync: true}, nil, func(s *Session) {
		if _, err := s.AddPuller(0, PullOptions{Active: true}); err != nil {
			t.Fatal(err)
		}
	})
	long := strings.Repeat("y", 5000)
	baseBody := `{"text":"` + long + `","n":1}`
	base := saveDoc(t, coll, "d", baseBody)
	if _, err := request(t, peer, "changes", nil, `[[1,"d","2-aa"]]`); err != nil {
		t.Fatal(err)
	}
	next := `{"text":"` + long + `","n":2}`
	d, err := delta.Create([]byte(baseBody), []byte(next))
	if err != nil {
		t.Fatal(err)
	}
	if err := sendRev(t, peer, revProps("d", "2-aa", "1", blip.Property{Key: "history", Value: base}, blip.Property{Key: "deltaSrc", Value: base}), string(d)); err != nil {
		t.Fatal(err)
	}
	if got := bodyOf(t, coll, "d"); got != next {
		t.Fatalf("d after the delta: %s", got)
	}
	if st := s.Stats(); st.DeltasReceived != 1 {
		t.Fatalf("stats %+v, want 1 delta received", st)
	}
	old, err := coll.GetRevision(ctx, "d", base)
	if err != nil || string(old.Body) != baseBody {
		t.Fatalf("base revision: %v (body %d bytes)", err, len(old.Body))
	}
	if k := keptRowSizes(t, coll.Database()); len(k) != 1 || k[0] > 100 {
		t.Fatalf("kept rows %v, want one small reverse delta", k)
	}
}
