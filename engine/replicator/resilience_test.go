package replicator

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/p2psync/libp2psync/engine/listener"
	"github.com/p2psync/libp2psync/engine/syncproto"
	"github.com/p2psync/libp2psync/engine/syncproto/wire"
)

// After a stop in the middle of a push, the saved checkpoint is at most one batch behind
// what the remote already has, so a restart re-sends at most one batch; then it completes.
func TestCheckpointResume(t *testing.T) {
	tests := []struct {
		name string
		typ  Type
	}{{"push", Push}, {"pull", Pull}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const n = 1500
			ctx := context.Background()
			local, remote := openDB(t, "local"), openDB(t, "remote")
			src, dst := local.DefaultCollection(), remote.DefaultCollection()
			if tt.typ == Pull {
				src, dst = dst, src
			}
			saveN(t, src, "d-", n)
			l := startListener(t, remote, nil)
			// Few revisions in flight, so that the stop lands in the middle.
			r := newRepl(t, Config{Database: local, URL: localURL(l), Type: tt.typ,
				Limits: syncproto.Limits{MaxRevsInFlight: 2, ChangesBatch: 100}})
			if err := r.Start(false); err != nil {
				t.Fatal(err)
			}
			eventually(t, 30*time.Second, "partial replication", func() bool { return count(t, dst) >= n/5 })
			r.Stop()
			have := count(t, dst)
			if have == n {
				t.Fatalf("replication finished before it could be stopped (%d docs)", have)
			}
			cp, err := r.savedCheckpoint(ctx, 0)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("stopped with %d docs replicated, checkpoint %+v", have, cp)
			// The restart lists again what lies after the checkpoint, but only revisions the
			// destination lacks are sent: at most one batch is re-sent.
			var rec docRecorder
			rec.listen(r)
			if st := runOneShot(t, r); st.Error != nil {
				t.Fatal(st.Error)
			}
			dir := DirectionPush
			if tt.typ == Pull {
				dir = DirectionPull
			}
			if resent := rec.count(dir) - int(n-have); resent > 200 {
				t.Errorf("the restart re-sent %d revisions (more than one batch)", resent)
			}
			if got := count(t, dst); got != n {
				t.Fatalf("after resume: %d docs, want %d", got, n)
			}
			_ = ctx
		})
	}
}

// savedCheckpoint reads the local copy of a collection's checkpoint.
func (r *Replicator) savedCheckpoint(ctx context.Context, idx int) (wire.Checkpoint, error) {
	body, _, err := r.cfg.Database.GetLocal(ctx, localCheckpointID(r.clientIDs[idx]))
	if err != nil {
		return wire.Checkpoint{}, err
	}
	return wire.DecodeCheckpoint(body)
}

// Stopping the listener mid-replication closes with 4001: the replicator goes offline,
// retries with backoff, and completes once a listener is back on the same port.
func TestListenerRestartMidReplication(t *testing.T) {
	const n = 1500
	local, remote := openDB(t, "local"), openDB(t, "remote")
	saveN(t, local.DefaultCollection(), "d-", n)
	l := startListener(t, remote, nil)
	port := l.Port()
	r := newRepl(t, Config{Database: local, URL: localURL(l), Type: Push, MaxAttempts: -1,
		Limits: syncproto.Limits{MaxRevsInFlight: 2, ChangesBatch: 100}})
	var mu sync.Mutex
	var seen []Status
	r.AddChangeListener(func(s Status) { mu.Lock(); seen = append(seen, s); mu.Unlock() })
	if err := r.Start(false); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "partial push", func() bool { return count(t, remote.DefaultCollection()) >= n/5 })
	l.Stop()
	eventually(t, 10*time.Second, "offline", func() bool { return r.Status().Activity == Offline })
	st := r.Status()
	var ce interface{ Error() string } = st.Error
	if st.Error == nil || !IsTransient(st.Error) {
		t.Fatalf("offline status should carry a transient error, got %v", ce)
	}
	if count(t, remote.DefaultCollection()) == n {
		t.Fatal("push finished before the listener stopped")
	}
	l2 := startListener(t, remote, func(c *listener.Config) { c.Port = port })
	if l2.Port() != port {
		t.Fatalf("restarted on port %d, want %d", l2.Port(), port)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	final, err := r.Wait(ctx)
	if err != nil || final.Error != nil {
		t.Fatalf("replicator did not complete after the restart: %v %+v", err, final)
	}
	if got := count(t, remote.DefaultCollection()); got != n {
		t.Fatalf("remote has %d docs, want %d", got, n)
	}
	mu.Lock()
	defer mu.Unlock()
	sawOffline := false
	for _, s := range seen {
		if s.Activity == Offline {
			sawOffline = true
		}
	}
	if !sawOffline {
		t.Error("listeners never saw the offline state")
	}
}

func TestReadOnlyListener(t *testing.T) {
	local, remote := openDB(t, "local"), openDB(t, "remote")
	save(t, local.DefaultCollection(), "mine", `{}`)
	save(t, remote.DefaultCollection(), "theirs", `{}`)
	l := startListener(t, remote, func(c *listener.Config) { c.ReadOnly = true })
	push := newRepl(t, Config{Database: local, URL: localURL(l), Type: Push})
	st := runOneShot(t, push)
	if !errors.Is(st.Error, syncproto.ErrForbidden) || IsTransient(st.Error) {
		t.Fatalf("push to a read-only listener: want a permanent forbidden error, got %v", st.Error)
	}
	if _, err := remote.DefaultCollection().Get(context.Background(), "mine"); err == nil {
		t.Fatal("read-only listener accepted a document")
	}
	pull := newRepl(t, Config{Database: local, URL: localURL(l), Type: Pull})
	if st := runOneShot(t, pull); st.Error != nil {
		t.Fatalf("pull from a read-only listener: %v", st.Error)
	}
	if _, err := local.DefaultCollection().Get(context.Background(), "theirs"); err != nil {
		t.Fatalf("pull did not bring the document: %v", err)
	}
}
