package replicator

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/p2psync/libp2psync/engine/listener"
	"github.com/p2psync/libp2psync/engine/store"
)

func openDB(t testing.TB, name string) *store.Database {
	t.Helper()
	dir := t.TempDir() + "/" + name
	db, err := store.Open(context.Background(), dir, store.Config{})
	if err != nil {
		t.Fatalf("open %s: %v", name, err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func startListener(t testing.TB, db *store.Database, mutate func(*listener.Config)) *listener.Listener {
	t.Helper()
	cfg := listener.Config{Database: db, Logger: testLogger(t), DisableTLS: true} // mutate may turn TLS on
	if mutate != nil {
		mutate(&cfg)
	}
	l, err := listener.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Stop)
	return l
}

func localURL(l *listener.Listener) string {
	return fmt.Sprintf("ws://127.0.0.1:%d/%s", l.Port(), l.Database().Name())
}

// newRepl makes a replicator for the tests written for revision trees: it offers only
// CBMobile_3, whose behaviour they check (rev-tree IDs, generations, tombstone branches,
// deltas against rev-tree bases). CBMobile_4 (the default) is tested with newRepl4.
// P2P_TEST_CBMOBILE4=1 runs them over CBMobile_4 instead (to see which hold there too).
func newRepl(t testing.TB, cfg Config) *Replicator {
	t.Helper()
	if os.Getenv("P2P_TEST_CBMOBILE4") == "" {
		cfg.DisableCBMobile4 = true
	}
	return newRepl4(t, cfg)
}

// newRepl4 makes a replicator with cfg as given (CBMobile_4 unless DisableCBMobile4).
func newRepl4(t testing.TB, cfg Config) *Replicator {
	t.Helper()
	if cfg.RetryBase == 0 {
		cfg.RetryBase = 20 * time.Millisecond
	}
	if cfg.MaxAttemptWait == 0 {
		cfg.MaxAttemptWait = 200 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t)
	}
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Stop)
	return r
}

// testLogger logs to the test output when P2P_TEST_LOG is set.
func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("P2P_TEST_LOG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// runOnce starts a one-shot replicator and waits for it to stop.
func runOneShot(t testing.TB, r *Replicator) Status {
	t.Helper()
	if err := r.Start(false); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := r.Wait(ctx)
	if err != nil {
		buf := make([]byte, 8<<20)
		n := runtime.Stack(buf, true)
		path := filepath.Join(os.TempDir(), "p2p-goroutines-"+strings.ReplaceAll(t.Name(), "/", "_")+".txt")
		_ = os.WriteFile(path, buf[:n], 0o644)
		t.Fatalf("replicator did not stop: %v (status %+v); goroutines in %s", err, st, path)
	}
	return st
}

func save(t testing.TB, c *store.Collection, id, body string) *store.Document {
	t.Helper()
	d, err := c.Save(context.Background(), id, []byte(body), store.SaveOptions{})
	if err != nil {
		t.Fatalf("save %s: %v", id, err)
	}
	return d
}

func saveN(t testing.TB, c *store.Collection, prefix string, n int) {
	t.Helper()
	err := c.Database().InBatch(context.Background(), func(b *store.Batch) error {
		for i := 0; i < n; i++ {
			if _, err := b.Save(c, fmt.Sprintf("%s%04d", prefix, i), []byte(fmt.Sprintf(`{"n":%d,"p":%q}`, i, prefix)), store.SaveOptions{}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func count(t testing.TB, c *store.Collection) uint64 {
	t.Helper()
	n, err := c.Count(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// sameDocs checks both collections hold the same current revisions.
func sameDocs(t testing.TB, a, b *store.Collection) bool {
	t.Helper()
	ca, err := a.ChangesSince(context.Background(), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	cb, err := b.ChangesSince(context.Background(), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(ca) != len(cb) {
		return false
	}
	m := map[string]string{}
	for _, c := range ca {
		m[c.DocID] = c.RevID + fmt.Sprint(c.Deleted)
	}
	for _, c := range cb {
		if m[c.DocID] != c.RevID+fmt.Sprint(c.Deleted) {
			return false
		}
	}
	return true
}

type docRecorder struct {
	mu   sync.Mutex
	docs []ReplicatedDocument
	dirs []Direction
}

func (d *docRecorder) listen(r *Replicator) {
	r.AddDocumentListener(func(dr DocumentReplication) {
		d.mu.Lock()
		defer d.mu.Unlock()
		for _, doc := range dr.Documents {
			d.docs = append(d.docs, doc)
			d.dirs = append(d.dirs, dr.Direction)
		}
	})
}

func (d *docRecorder) errors() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []string
	for _, doc := range d.docs {
		if doc.Error != nil {
			out = append(out, doc.ID+": "+doc.Error.Error())
		}
	}
	return out
}

func (d *docRecorder) count(dir Direction) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for i := range d.docs {
		if d.dirs[i] == dir && d.docs[i].Error == nil {
			n++
		}
	}
	return n
}

var _ = strings.Contains
