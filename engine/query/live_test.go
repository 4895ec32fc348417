package query

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/p2psync/libp2psync/engine/listener"
	"github.com/p2psync/libp2psync/engine/replicator"
	"github.com/p2psync/libp2psync/engine/store"
)

// liveRecorder collects what a live query's listener receives.
type liveRecorder struct {
	mu    sync.Mutex
	calls []string // rows joined by "|", or "error: ..."
	ch    chan struct{}
}

func newRecorder() *liveRecorder { return &liveRecorder{ch: make(chan struct{}, 100)} }

func (r *liveRecorder) fn(rows [][]byte, err error) {
	var s string
	if err != nil {
		s = "error: " + err.Error()
	} else {
		var parts []string
		for _, row := range rows {
			parts = append(parts, string(row))
		}
		s = strings.Join(parts, "|")
	}
	r.mu.Lock()
	r.calls = append(r.calls, s)
	r.mu.Unlock()
	r.ch <- struct{}{}
}

func (r *liveRecorder) snapshot() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.calls...)
}

// waitFor waits until the last call equals want.
func (r *liveRecorder) waitFor(t *testing.T, want string) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		if c := r.snapshot(); len(c) > 0 && c[len(c)-1] == want {
			return
		}
		select {
		case <-r.ch:
		case <-deadline:
			t.Fatalf("live query: waited for %q; calls %q", want, r.snapshot())
		}
	}
}

func TestLiveQueryLocalChanges(t *testing.T) {
	db, coll, src := openFTSDB(t)
	ctx := context.Background()
	q, err := Prepare(ctx, src, `SELECT meta().id, name FROM _ WHERE name LIKE $p ORDER BY meta().id`)
	if err != nil {
		t.Fatal(err)
	}
	rec := newRecorder()
	lq, err := q.Watch(ctx, []byte(`{"p":"S%"}`), rec.fn)
	if err != nil {
		t.Fatal(err)
	}
	rec.waitFor(t, `{"id":"h3","name":"Sea View"}`)
	// a change that matches
	if _, err := coll.Save(ctx, "s1", []byte(`{"name":"Sunset"}`), store.SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	rec.waitFor(t, `{"id":"h3","name":"Sea View"}|{"id":"s1","name":"Sunset"}`)
	// a change that does not affect the result: no call
	n := len(rec.snapshot())
	if _, err := coll.Save(ctx, "x1", []byte(`{"name":"Other"}`), store.SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := db.WaitChangesDelivered(ctx); err != nil {
		t.Fatal(err)
	}
	// a batch of three writes: one commit, at most one call
	err = db.InBatch(ctx, func(b *store.Batch) error {
		for _, id := range []string{"s2", "s3", "s4"} {
			if _, err := b.Save(coll, id, []byte(`{"name":"S`+id+`"}`), store.SaveOptions{}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	rec.waitFor(t, `{"id":"h3","name":"Sea View"}|{"id":"s1","name":"Sunset"}|{"id":"s2","name":"Ss2"}|{"id":"s3","name":"Ss3"}|{"id":"s4","name":"Ss4"}`)
	if got := len(rec.snapshot()); got != n+1 {
		t.Errorf("%d calls after an unrelated save and a batch, want 1: %q", got-n, rec.snapshot()[n:])
	}
	// deletion and purge
	if _, err := coll.Delete(ctx, "s1", store.SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"s2", "s3", "s4"} {
		if err := coll.Purge(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	rec.waitFor(t, `{"id":"h3","name":"Sea View"}`)
	// expiry purges h3: no rows left
	if err := coll.SetExpiration(ctx, "h3", time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	rec.waitFor(t, ``)
	lq.Stop()
	<-lq.Done()
	n = len(rec.snapshot())
	if _, err := coll.Save(ctx, "s5", []byte(`{"name":"Sand"}`), store.SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := db.WaitChangesDelivered(ctx); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if got := len(rec.snapshot()); got != n {
		t.Errorf("listener called after Stop: %q", rec.snapshot()[n:])
	}
	lq.Stop() // idempotent
}

// Stop from inside the listener returns at once, and the listener is not called again.
func TestLiveQueryStopInsideListener(t *testing.T) {
	db, coll, src := openFTSDB(t)
	ctx := context.Background()
	q, err := Prepare(ctx, src, `SELECT COUNT(*) AS n FROM _`)
	if err != nil {
		t.Fatal(err)
	}
	var lq *LiveQuery
	var mu sync.Mutex
	calls := 0
	ready := make(chan struct{})
	stopped := make(chan struct{})
	lq, err = q.Watch(ctx, nil, func(rows [][]byte, err error) {
		<-ready
		mu.Lock()
		calls++
		mu.Unlock()
		lq.Stop()
		close(stopped)
	})
	if err != nil {
		t.Fatal(err)
	}
	close(ready)
	select {
	case <-stopped:
	case <-time.After(30 * time.Second):
		t.Fatal("Stop inside the listener did not return")
	}
	<-lq.Done()
	if _, err := coll.Save(ctx, "more", []byte(`{}`), store.SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	db.WaitChangesDelivered(ctx)
	mu.Lock()
	defer mu.Unlock()
	if calls != 1 {
		t.Errorf("%d calls", calls)
	}
}

func TestLiveQueryErrors(t *testing.T) {
	_, _, src := openFTSDB(t)
	ctx := context.Background()
	for _, text := range []string{`CREATE INDEX i ON _(name)`, `EXPLAIN SELECT name FROM _`} {
		q, err := Prepare(ctx, src, text)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := q.Watch(ctx, nil, func([][]byte, error) {}); !errors.Is(err, ErrInvalidQuery) {
			t.Errorf("%s: %v", text, err)
		}
	}
	q, err := Prepare(ctx, src, `SELECT name FROM _ WHERE name = $n`)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.Watch(ctx, nil, func([][]byte, error) {}); !errors.Is(err, ErrInvalidQuery) {
		t.Errorf("missing parameter: %v", err)
	}
	if _, err := q.Watch(ctx, []byte(`{"n":1}`), nil); !errors.Is(err, ErrInvalidQuery) {
		t.Errorf("nil listener: %v", err)
	}
}

// A change pulled from another database over loopback reaches a live query,
// full-text MATCH included.
func TestLiveQueryReplicatedChange(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	server, err := store.Open(ctx, filepath.Join(dir, "server"), store.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	client, err := store.Open(ctx, filepath.Join(dir, "client"), store.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	src := StoreSource{client}
	run(t, src, `CREATE INDEX notes ON _(text) USING FTS`, ``)
	q, err := Prepare(ctx, src, `SELECT meta().id FROM _ WHERE MATCH(notes, 'harbour') ORDER BY RANK(notes) DESC`)
	if err != nil {
		t.Fatal(err)
	}
	rec := newRecorder()
	lq, err := q.Watch(ctx, nil, rec.fn)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { lq.Stop(); <-lq.Done() }()
	rec.waitFor(t, ``) // no rows yet

	l, err := listener.New(listener.Config{Database: server, NetworkInterface: "127.0.0.1", DisableTLS: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Start(); err != nil {
		t.Fatal(err)
	}
	defer l.Stop()
	r, err := replicator.New(replicator.Config{
		Database: client, URL: fmt.Sprintf("ws://127.0.0.1:%d/%s", l.Port(), server.Name()),
		Type: replicator.Pull, Continuous: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(false); err != nil {
		t.Fatal(err)
	}
	defer r.Stop()
	if _, err := server.DefaultCollection().Save(ctx, "n1", []byte(`{"text":"boats in the harbour"}`), store.SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	rec.waitFor(t, `{"id":"n1"}`)
	if _, err := server.DefaultCollection().Delete(ctx, "n1", store.SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	rec.waitFor(t, ``)
}

// Closing the database under a live query neither hangs nor panics; Stop
// afterwards returns and the goroutine ends.
func TestLiveQueryDatabaseClosed(t *testing.T) {
	db, coll, src := openFTSDB(t)
	ctx := context.Background()
	q, err := Prepare(ctx, src, `SELECT COUNT(*) AS n FROM _`)
	if err != nil {
		t.Fatal(err)
	}
	rec := newRecorder()
	lq, err := q.Watch(ctx, nil, rec.fn)
	if err != nil {
		t.Fatal(err)
	}
	rec.waitFor(t, `{"n":4}`)
	if _, err := coll.Save(ctx, "more", []byte(`{}`), store.SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	lq.Stop()
	select {
	case <-lq.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("live query did not end after Stop")
	}
	for _, c := range rec.snapshot() {
		if strings.HasPrefix(c, "error: ") && !strings.Contains(c, "closed") {
			t.Errorf("unexpected error call: %s", c)
		}
	}
}
