package syncproto

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"

	"github.com/p2psync/libp2psync/engine/store"
)

// A revision the store fails to save for a reason of its own (here busy: another
// connection holds the database's write lock) is answered "retry later" (HTTP 503),
// reported with the store error, and not counted as handled: the checkpoint stays before
// it, the pull does not count as caught up, and the session fails with the store error
// (the replicator then reconnects and asks for it again). Before, the row counted as
// done, like a malformed revision: the checkpoint passed it and it was not pulled again
// until it changed on the remote.
func TestPullerStoreFailureIsNotHandled(t *testing.T) {
	p, coll, peer, events := pullPeer(t, PullOptions{})
	files, err := filepath.Glob(filepath.Join(coll.Database().Path(), "*.sqlite3"))
	if err != nil || len(files) != 1 {
		t.Fatalf("database file: %v %v", files, err)
	}
	lock, err := sql.Open("sqlite", "file:"+files[0])
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	conn, err := lock.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(context.Background(), "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	sendChanges(t, peer, `[[1,"a","1-aa"]]`)
	err = sendRev(t, peer, revProps("a", "1-aa", "1"), `{"v":1}`) // waits out the busy timeout
	replyError(t, err, "HTTP", 503)
	if _, err := conn.ExecContext(context.Background(), "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	sendChanges(t, peer, `[]`)
	if cp, ok := p.Checkpoint(); ok && cp != "" {
		t.Errorf("checkpoint %q passed a revision that was not saved", cp)
	}
	if p.CaughtUp() {
		t.Error("the pull counts as caught up with a revision not saved")
	}
	if err := p.s.Err(); !errors.Is(err, store.ErrBusy) {
		t.Errorf("session error %v, want one carrying store.ErrBusy", err)
	}
	evs := events.byDoc("a")
	if len(evs) != 1 || evs[0].Err == nil || !errors.Is(evs[0].Err, store.ErrBusy) {
		t.Fatalf("document events %+v, want one error carrying store.ErrBusy", evs)
	}
	if _, err := coll.Get(context.Background(), "a"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a: %v, want not found", err)
	}
}
