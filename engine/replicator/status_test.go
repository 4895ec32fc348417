package replicator

import (
	"context"
	"errors"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/p2psync/libp2psync/engine/syncproto"
)

func TestNewValidation(t *testing.T) {
	db, other := openDB(t, "db"), openDB(t, "other")
	tests := []struct {
		name string
		cfg  Config
		want error
	}{
		{"no database", Config{URL: "ws://h/db"}, ErrInvalidConfig},
		{"bad scheme", Config{Database: db, URL: "http://h/db"}, ErrInvalidConfig},
		{"no db name", Config{Database: db, URL: "ws://h:1/"}, ErrInvalidConfig},
		{"foreign collection", Config{Database: db, URL: "ws://h/db", Collections: []CollectionConfig{{Collection: other.DefaultCollection()}}}, ErrInvalidConfig},
		{"duplicate collection", Config{Database: db, URL: "ws://h/db", Collections: []CollectionConfig{{Collection: db.DefaultCollection()}, {Collection: db.DefaultCollection()}}}, ErrInvalidConfig},
		{"bad type", Config{Database: db, URL: "ws://h/db", Type: 7}, ErrInvalidConfig},
		{"bad compression level", Config{Database: db, URL: "ws://h/db", Limits: syncproto.Limits{CompressionLevel: 10}}, ErrInvalidConfig},
	}
	for _, tt := range tests {
		if _, err := New(tt.cfg); !errors.Is(err, tt.want) {
			t.Errorf("%s: got %v, want %v", tt.name, err, tt.want)
		}
	}
	urls := map[string]string{
		"ws://h:4984/travel":       "ws://h:4984/travel/_blipsync",
		"ws://h:4984/travel/":      "ws://h:4984/travel/_blipsync",
		"wss://h/travel/_blipsync": "wss://h/travel/_blipsync",
		"ws://u:p@h:1/db?x=1":      "ws://u:p@h:1/db/_blipsync?x=1",
	}
	for in, want := range urls {
		r, err := New(Config{Database: db, URL: in})
		if err != nil || r.URL() != want {
			t.Errorf("URL %q => %q %v, want %q", in, r.URL(), err, want)
		}
	}
	// Checkpoint IDs are stable and depend on the remote, direction and filters.
	id := func(cfg Config) string {
		cfg.Database = db
		r, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return r.clientIDs[0]
	}
	a := id(Config{URL: "ws://h/db"})
	if a != id(Config{URL: "ws://h/db/"}) || a[:3] != "cp-" {
		t.Errorf("unstable checkpoint ID %s", a)
	}
	for _, c := range []Config{{URL: "ws://h/other"}, {URL: "ws://h/db", Type: Push},
		{URL: "ws://h/db", Collections: []CollectionConfig{{Collection: db.DefaultCollection(), DocumentIDs: []string{"x"}}}}} {
		if id(c) == a {
			t.Errorf("checkpoint ID does not depend on %+v", c)
		}
	}
}

func TestStatusEventsAndPending(t *testing.T) {
	ctx := context.Background()
	local, remote := openDB(t, "local"), openDB(t, "remote")
	lc := local.DefaultCollection()
	saveN(t, lc, "p-", 20)
	l := startListener(t, remote, nil)
	r := newRepl(t, Config{Database: local, URL: localURL(l), Type: Push,
		Collections: []CollectionConfig{{Collection: lc, PushFilter: func(d Document) bool { return d.ID != "p-0003" }}}})
	ids, err := r.PendingDocumentIDs(ctx, lc)
	if err != nil || len(ids) != 19 {
		t.Fatalf("pending before the first run: %d %v", len(ids), err)
	}
	if ok, _ := r.IsDocumentPending(ctx, lc, "p-0001"); !ok {
		t.Error("p-0001 should be pending")
	}
	if ok, _ := r.IsDocumentPending(ctx, lc, "p-0003"); ok {
		t.Error("filtered p-0003 should not be pending")
	}
	var mu sync.Mutex
	var levels []ActivityLevel
	r.AddChangeListener(func(s Status) {
		mu.Lock()
		defer mu.Unlock()
		if len(levels) == 0 || levels[len(levels)-1] != s.Activity {
			levels = append(levels, s.Activity)
		}
	})
	var rec docRecorder
	rec.listen(r)
	st := runOneShot(t, r)
	if st.Error != nil || st.Progress.Completed < 19 || st.Progress.Completed != st.Progress.Total {
		t.Fatalf("final status %+v", st)
	}
	mu.Lock()
	if len(levels) < 2 || levels[0] != Connecting || levels[len(levels)-1] != Stopped {
		t.Errorf("activity sequence %v", levels)
	}
	mu.Unlock()
	rec.mu.Lock()
	var got []string
	for i, d := range rec.docs {
		if rec.dirs[i] != DirectionPush || d.Collection != "_default._default" || d.RevID == "" || d.Error != nil {
			t.Errorf("document event %+v", d)
		}
		got = append(got, d.ID)
	}
	rec.mu.Unlock()
	sort.Strings(got)
	if len(got) != 19 {
		t.Errorf("pushed %v", got)
	}
	if ids, _ := r.PendingDocumentIDs(ctx, lc); len(ids) != 0 {
		t.Errorf("pending after the run: %v", ids)
	}
	save(t, lc, "p-0001", `{"changed":true}`)
	if ids, _ := r.PendingDocumentIDs(ctx, lc); len(ids) != 1 || ids[0] != "p-0001" {
		t.Errorf("pending after an edit: %v", ids)
	}
	pull := newRepl(t, Config{Database: local, URL: localURL(l), Type: Pull})
	if _, err := pull.PendingDocumentIDs(ctx, lc); !errors.Is(err, ErrNotPushing) {
		t.Errorf("pull replicator pending: %v", err)
	}
	if _, err := r.PendingDocumentIDs(ctx, remote.DefaultCollection()); err == nil {
		t.Error("foreign collection accepted")
	}
	// Listeners can be removed; a stopped replicator can be started again.
	tok := r.AddChangeListener(func(Status) { t.Error("removed listener called") })
	tok.Remove()
	if st := runOneShot(t, r); st.Error != nil {
		t.Fatal(st.Error)
	}
	// A second Start while running is refused: a continuous replicator runs until
	// stopped (a one-shot run with nothing to do may already have ended, and may then
	// be started again).
	cont := newRepl(t, Config{Database: local, URL: localURL(l), Type: Push, Continuous: true})
	if err := cont.Start(false); err != nil {
		t.Fatal(err)
	}
	if err := cont.Start(false); !errors.Is(err, ErrRunning) {
		t.Errorf("second Start: %v", err)
	}
	cont.Stop()
	cont.Stop() // idempotent
	_ = time.Second
}
