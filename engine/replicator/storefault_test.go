package replicator

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"sync"
	"testing"

	"github.com/p2psync/libp2psync/engine/store"
)

// holdWriteLock takes db's SQLite write lock from a connection of its own, as another
// process writing the file would: the store's writes wait for it (busy timeout), then fail
// with store.ErrBusy. release gives the lock back (safe to call more than once).
func holdWriteLock(t *testing.T, db *store.Database) (release func()) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(db.Path(), "*.sqlite3"))
	if err != nil || len(files) != 1 {
		t.Fatalf("the database file in %s: %v %v", db.Path(), files, err)
	}
	ctx := context.Background()
	sdb, err := sql.Open("sqlite", "file:"+files[0])
	if err != nil {
		t.Fatal(err)
	}
	conn, err := sdb.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	release = func() {
		once.Do(func() {
			_, _ = conn.ExecContext(ctx, "ROLLBACK")
			conn.Close()
			sdb.Close()
		})
	}
	t.Cleanup(release)
	return release
}

// A pulled revision that the local store could not save for a reason of its own (here
// the database was busy: another connection held its write lock) is not done: the
// failure is reported, the checkpoint does not pass it, and once the fault clears the
// replicator (which retries a busy database) pulls it. Before, such a revision counted
// as handled like a malformed one: the run completed without it and saved a checkpoint
// past it, so it was not pulled again until it changed on the remote.
func TestPullStoreBusyRevisionPulledOnceTheFaultClears(t *testing.T) {
	const n = 20
	local, remote := openDB(t, "local"), openDB(t, "remote")
	saveN(t, remote.DefaultCollection(), "r-", n)
	l := startListener(t, remote, nil)
	release := holdWriteLock(t, local)
	r := newRepl(t, Config{Database: local, URL: localURL(l), Type: Pull})
	var mu sync.Mutex
	var failed []error
	r.AddDocumentListener(func(dr DocumentReplication) {
		for _, d := range dr.Documents {
			if d.Error != nil {
				mu.Lock()
				failed = append(failed, d.Error)
				mu.Unlock()
				release() // the fault clears once it has cost a revision
			}
		}
	})
	st := runOneShot(t, r)
	if st.Error != nil || st.Activity != Stopped {
		t.Fatalf("final status %+v", st)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(failed) == 0 {
		t.Fatal("no revision failed: the write lock did not get in the way")
	}
	if !errors.Is(failed[0], store.ErrBusy) {
		t.Errorf("reported failure %v, want one carrying store.ErrBusy", failed[0])
	}
	if got := count(t, local.DefaultCollection()); got != n {
		t.Errorf("local has %d docs, want %d: a revision the busy store did not save was lost", got, n)
	}
	if !sameDocs(t, local.DefaultCollection(), remote.DefaultCollection()) {
		t.Error("collections differ")
	}
}

// The passive side of the same fault: a listener whose store is too busy to save a pushed
// revision answers "retry later" (HTTP 503), so that the pusher keeps it pending and sends
// it again on its next connection. Before, it answered HTTP 500, which the pusher took
// as a verdict on the document: it counted the revision as pushed, and its checkpoint
// passed it.
func TestPushToBusyListenerRevisionPushedOnceTheFaultClears(t *testing.T) {
	const n = 20
	local, remote := openDB(t, "local"), openDB(t, "remote")
	saveN(t, local.DefaultCollection(), "l-", n)
	l := startListener(t, remote, nil)
	release := holdWriteLock(t, remote)
	r := newRepl(t, Config{Database: local, URL: localURL(l), Type: Push})
	var mu sync.Mutex
	var failed []error
	r.AddChangeListener(func(st Status) {
		if st.Error != nil {
			mu.Lock()
			failed = append(failed, st.Error)
			mu.Unlock()
			release()
		}
	})
	r.AddDocumentListener(func(dr DocumentReplication) {
		for _, d := range dr.Documents {
			if d.Error != nil {
				mu.Lock()
				failed = append(failed, d.Error)
				mu.Unlock()
				release()
			}
		}
	})
	st := runOneShot(t, r)
	if st.Error != nil || st.Activity != Stopped {
		t.Fatalf("final status %+v", st)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(failed) == 0 {
		t.Fatal("nothing failed: the write lock did not get in the way")
	}
	if got := count(t, remote.DefaultCollection()); got != n {
		t.Errorf("remote has %d docs, want %d: a revision the busy listener did not save was lost (first failure: %v)", got, n, failed[0])
	}
	if !sameDocs(t, local.DefaultCollection(), remote.DefaultCollection()) {
		t.Error("collections differ")
	}
}
