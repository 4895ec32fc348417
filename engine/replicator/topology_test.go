package replicator

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/p2psync/libp2psync/engine/listener"
	"github.com/p2psync/libp2psync/engine/store"
)

// A → B → C: A pushes to B's listener, B pushes to C's listener, continuously. A document
// saved on A reaches C; B runs a listener and its own replicator on one database.
func TestChain(t *testing.T) {
	a, b, c := openDB(t, "a"), openDB(t, "b"), openDB(t, "c")
	lb, lc := startListener(t, b, nil), startListener(t, c, nil)
	ab := newRepl(t, Config{Database: a, URL: localURL(lb), Type: Push, Continuous: true})
	bc := newRepl(t, Config{Database: b, URL: localURL(lc), Type: Push, Continuous: true})
	for _, r := range []*Replicator{ab, bc} {
		if err := r.Start(false); err != nil {
			t.Fatal(err)
		}
	}
	saveN(t, a.DefaultCollection(), "chain-", 50)
	eventually(t, 20*time.Second, "docs reach C", func() bool { return count(t, c.DefaultCollection()) == 50 })
	save(t, a.DefaultCollection(), "chain-0001", `{"edited":true}`)
	eventually(t, 10*time.Second, "edit reaches C", func() bool {
		d, err := c.DefaultCollection().Get(context.Background(), "chain-0001")
		return err == nil && string(d.Body) == `{"edited":true}`
	})
	if !sameDocs(t, a.DefaultCollection(), c.DefaultCollection()) {
		t.Error("A and C differ")
	}
}

// A ring of three peers, each pushing and pulling continuously with the next one, with
// documents created everywhere (and one edited concurrently on two peers): all converge.
func TestRingConverges(t *testing.T) {
	dbs := []*store.Database{openDB(t, "p0"), openDB(t, "p1"), openDB(t, "p2")}
	ls := make([]*listener.Listener, 3)
	for i, db := range dbs {
		ls[i] = startListener(t, db, nil)
	}
	for i, db := range dbs {
		saveN(t, db.DefaultCollection(), fmt.Sprintf("p%d-", i), 30)
		save(t, db.DefaultCollection(), "shared", fmt.Sprintf(`{"by":%d}`, i))
	}
	var reps []*Replicator
	for i, db := range dbs {
		r := newRepl(t, Config{Database: db, URL: localURL(ls[(i+1)%3]), Continuous: true})
		reps = append(reps, r)
		if err := r.Start(false); err != nil {
			t.Fatal(err)
		}
	}
	converged := func() bool {
		for i := 1; i < 3; i++ {
			if !sameDocs(t, dbs[0].DefaultCollection(), dbs[i].DefaultCollection()) {
				return false
			}
		}
		return count(t, dbs[0].DefaultCollection()) == 91
	}
	eventually(t, 30*time.Second, "ring convergence", converged)
	// Later edits keep converging.
	save(t, dbs[1].DefaultCollection(), "p0-0003", `{"late":1}`)
	eventually(t, 20*time.Second, "edit convergence", func() bool {
		for _, db := range dbs {
			d, err := db.DefaultCollection().Get(context.Background(), "p0-0003")
			if err != nil || string(d.Body) != `{"late":1}` {
				return false
			}
		}
		return converged()
	})
	// A resolution that keeps the current revision only closes the other branch, which
	// may land just after the current revisions agree.
	resolved := func() bool {
		for _, db := range dbs {
			if cf, _ := db.DefaultCollection().Conflicts(context.Background(), "shared"); len(cf) != 0 {
				return false
			}
		}
		return true
	}
	deadline := time.Now().Add(10 * time.Second)
	ok := resolved()
	for !ok && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
		ok = resolved()
	}
	if !ok {
		// Say what each peer holds, for whoever meets this next. (It timed out about
		// once in 10-25 runs under load while a resolution that read a leaf extended
		// meanwhile failed with "body no longer kept" instead of deciding again.)
		ctx := context.Background()
		for i, db := range dbs {
			c := db.DefaultCollection()
			d, err := c.GetWithDeleted(ctx, "shared")
			if err != nil {
				t.Logf("p%d: shared: %v", i, err)
				continue
			}
			hist, _ := c.History(ctx, "shared", d.RevID, 20)
			t.Logf("p%d: current %s deleted=%v body %s history %v", i, d.RevID, d.Deleted, d.Body, hist)
			cf, _ := c.Conflicts(ctx, "shared")
			for _, rev := range cf {
				h, _ := c.History(ctx, "shared", rev, 20)
				t.Logf("p%d:   open branch %s history %v", i, rev, h)
			}
		}
		for i, r := range reps {
			t.Logf("replicator p%d -> p%d: status %+v counters %+v", i, (i+1)%3, r.Status(), r.Counters())
		}
		t.Fatal("timed out waiting for conflicts resolved everywhere")
	}
	for _, r := range reps {
		if st := r.Status(); st.Error != nil {
			t.Errorf("replicator error %v", st.Error)
		}
	}
}

// One listener serves 100 replicators at once.
func TestHundredConcurrentReplicators(t *testing.T) {
	const peers, per = 100, 5
	hub := openDB(t, "hub")
	save(t, hub.DefaultCollection(), "from-hub", `{"hello":"all"}`)
	l := startListener(t, hub, nil)
	var wg sync.WaitGroup
	errs := make(chan error, peers)
	maxConns := 0
	var mu sync.Mutex
	var retried []string
	stopWatch := make(chan struct{})
	go func() {
		for {
			select {
			case <-stopWatch:
				return
			case <-time.After(2 * time.Millisecond):
			}
			n := l.Status().ConnectionCount
			mu.Lock()
			maxConns = max(maxConns, n)
			mu.Unlock()
		}
	}()
	locals := make([]*store.Database, peers)
	for i := range locals {
		locals[i] = openDB(t, fmt.Sprintf("peer%03d", i))
		saveN(t, locals[i].DefaultCollection(), fmt.Sprintf("peer%03d-", i), per)
	}
	began := time.Now()
	defer func() { t.Logf("replication phase took %v", time.Since(began)) }()
	for i := 0; i < peers; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			// Push this peer's documents; pull only the hub's greeting (keeps the test light).
			// Each peer pushes its own documents and pulls the hub's greeting (a document ID
			// filter keeps the volume small: the point is 100 connections at once).
			ids := []string{"from-hub"}
			for j := 0; j < per; j++ {
				ids = append(ids, fmt.Sprintf("peer%03d-%04d", i, j))
			}
			r, err := New(Config{Database: locals[i], URL: localURL(l), RetryBase: 20 * time.Millisecond, MaxAttemptWait: 200 * time.Millisecond,
				Collections: []CollectionConfig{{Collection: locals[i].DefaultCollection(), DocumentIDs: ids}}})
			if err != nil {
				errs <- err
				return
			}
			defer r.Stop()
			r.AddChangeListener(func(s Status) {
				if s.Error != nil {
					mu.Lock()
					retried = append(retried, fmt.Sprintf("peer %d: %v", i, s.Error))
					mu.Unlock()
				}
			})
			if err := r.Start(false); err != nil {
				errs <- err
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
			defer cancel()
			st, err := r.Wait(ctx)
			if err == nil {
				err = st.Error
			}
			if err != nil {
				errs <- fmt.Errorf("peer %d: %w (status %+v)", i, err, st)
				return
			}
			if _, err := locals[i].DefaultCollection().Get(context.Background(), "from-hub"); err != nil {
				errs <- fmt.Errorf("peer %d did not pull: %w", i, err)
			}
		}(i)
	}
	wg.Wait()
	close(stopWatch)
	close(errs)
	failed := false
	for err := range errs {
		t.Error(err)
		failed = true
	}
	if failed {
		buf := make([]byte, 16<<20)
		n := runtime.Stack(buf, true)
		_ = os.WriteFile(filepath.Join(os.TempDir(), "p2p-hundred-goroutines.txt"), buf[:n], 0o644)
	}
	if got := count(t, hub.DefaultCollection()); got != peers*per+1 {
		t.Errorf("hub has %d docs, want %d", got, peers*per+1)
	}
	mu.Lock()
	t.Logf("peak concurrent connections: %d; transient errors: %d %v", maxConns, len(retried), retried[:min(len(retried), 5)])
	mu.Unlock()
}
