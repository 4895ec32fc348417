package replicator

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/p2psync/libp2psync/engine/listener"
	"github.com/p2psync/libp2psync/engine/store"
	"github.com/p2psync/libp2psync/engine/store/storetest"
)

// Continuous push-and-pull through a proxy that drops, delays, truncates and resets the
// connection (a bounded number of faults from a seeded schedule), while both databases
// keep writing: inserts, updates, deletions, and concurrent edits of shared documents.
// Once the faults stop, the two databases converge to identical contents with nothing
// committed lost. Over TLS (the default of the p2psync layer) and plain WebSocket.
func TestChaosTwoWayReplication(t *testing.T) {
	seed := faultSeed(t)
	for i, tc := range []struct {
		name string
		tls  bool
	}{{"wss", true}, {"ws", false}} {
		t.Run(tc.name, func(t *testing.T) {
			runChaos(t, seed+int64(i), tc.tls, 14)
		})
	}
}

func runChaos(t *testing.T, seed int64, useTLS bool, faults int) {
	t.Logf("schedule seed %d", seed)
	ctx := context.Background()
	a, b := openDB(t, "a"), openDB(t, "b")
	ca, cb := a.DefaultCollection(), b.DefaultCollection()
	wa := storetest.NewChurn(ca, "a", seed)
	wb := storetest.NewChurn(cb, "b", seed+1)
	// A first state on both sides, conflicts included, before the replicator starts.
	for i := 0; i < 200; i++ {
		for _, w := range []*storetest.Churn{wa, wb} {
			if err := w.Step(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	var tlsConf *tls.Config
	scheme := "ws"
	var lcfg func(*listener.Config)
	if useTLS {
		cert, pool := selfSigned(t)
		lcfg = func(c *listener.Config) { c.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}} }
		tlsConf = &tls.Config{RootCAs: pool}
		scheme = "wss"
	}
	l := startListener(t, b, lcfg)
	proxy := startFaultProxy(t, net.JoinHostPort("127.0.0.1", strconv.Itoa(l.Port())), seed, faults)
	r := newRepl(t, Config{Database: a, URL: fmt.Sprintf("%s://127.0.0.1:%d/b", scheme, proxy.Port()),
		Continuous: true, TLSConfig: tlsConf, CheckpointInterval: 100 * time.Millisecond})
	var mu sync.Mutex
	errs := map[string]int{}
	r.AddChangeListener(func(s Status) {
		if s.Error != nil {
			mu.Lock()
			errs[s.Error.Error()]++
			mu.Unlock()
		}
	})
	if err := r.Start(false); err != nil {
		t.Fatal(err)
	}

	// Both sides write until the faults are spent (or 60 s pass), then a little longer.
	stopWriters := make(chan struct{})
	var wg sync.WaitGroup
	for _, w := range []*storetest.Churn{wa, wb} {
		wg.Add(1)
		go func(w *storetest.Churn) {
			defer wg.Done()
			for {
				select {
				case <-stopWriters:
					return
				case <-time.After(2 * time.Millisecond):
				}
				if err := w.Step(ctx); err != nil {
					t.Error(err)
					return
				}
			}
		}(w)
	}
	began := time.Now()
	for proxy.remaining() > 0 && time.Since(began) < 60*time.Second && r.Status().Activity != Stopped {
		time.Sleep(20 * time.Millisecond)
	}
	proxy.stopFaults()
	time.Sleep(300 * time.Millisecond)
	close(stopWriters)
	wg.Wait()
	chaos := time.Since(began)
	t.Logf("chaos phase %v: %s; writes a=%d b=%d", chaos.Round(time.Millisecond), proxy.summary(), wa.Ops(), wb.Ops())
	defer func() {
		if t.Failed() {
			proxy.mu.Lock()
			t.Logf("faults injected:\n  %s", strings.Join(proxy.injected, "\n  "))
			proxy.mu.Unlock()
			mu.Lock()
			t.Logf("replicator errors seen: %v", errs)
			mu.Unlock()
		}
	}()
	if proxy.remaining() > 0 {
		t.Errorf("only %d of %d faults struck", faults-proxy.remaining(), faults)
	}

	// Convergence: identical databases, no conflict left, the replicator still running.
	diff, ids := waitConverged(t, r, ca, cb, 60*time.Second)
	if len(diff) > 0 {
		for _, id := range ids[:min(len(ids), 5)] {
			logTrees(t, r, id, ca, cb)
		}
		t.Fatalf("no convergence 60 s after the faults stopped (status %+v); %d differences (A = active, B = listener):\n  %s",
			r.Status(), len(diff), strings.Join(diff[:min(len(diff), 40)], "\n  "))
	}
	t.Logf("converged %v after the faults stopped; %d documents", time.Since(began)-chaos, count(t, ca))
	for side, c := range map[string]*store.Collection{"A": ca, "B": cb} {
		lost, err := storetest.CheckChurn(ctx, c, wa, wb)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range lost {
			t.Errorf("%s: %s", side, line)
		}
	}
}

// waitConverged polls until the two collections are identical with no conflict left, or
// the timeout passes; it fails at once if the replicator stopped. It returns the
// remaining differences (nil once converged). Every difference counts, a document
// deleted on both sides by different tombstones included: the current revisions must be
// the same.
func waitConverged(t *testing.T, r *Replicator, ca, cb *store.Collection, timeout time.Duration) (diff, ids []string) {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(timeout)
	for {
		if st := r.Status(); st.Activity == Stopped {
			t.Fatalf("the continuous replicator stopped: %+v", st)
		}
		diff, ids = nil, nil
		d, err := storetest.Diff(ctx, ca, cb)
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range d {
			diff, ids = append(diff, x.Text), append(ids, x.DocID)
		}
		for side, c := range map[string]*store.Collection{"A": ca, "B": cb} {
			conflicted, err := c.ConflictedDocuments(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, id := range conflicted {
				diff, ids = append(diff, fmt.Sprintf("%q: still in conflict in %s", id, side)), append(ids, id)
			}
		}
		if len(diff) == 0 || time.Now().After(deadline) {
			return diff, ids
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// logTrees logs, for a failed convergence, document id's revision tree on both sides and
// the revision A records as the listener's.
func logTrees(t *testing.T, r *Replicator, id string, ca, cb *store.Collection) {
	t.Helper()
	ctx := context.Background()
	anc, _ := ca.RemoteAncestor(ctx, r.remoteID, id)
	t.Logf("%q: A's remote ancestor %s", id, anc)
	for side, c := range map[string]*store.Collection{"A": ca, "B": cb} {
		revs, err := c.Revisions(ctx, id)
		if err != nil {
			t.Logf("%q in %s: %v", id, side, err)
			continue
		}
		var lines []string
		for _, rv := range revs {
			lines = append(lines, fmt.Sprintf("%s parent=%s deleted=%v leaf=%v body=%v seq=%d", rv.RevID, rv.Parent, rv.Deleted, rv.Leaf, rv.HasBody, rv.Sequence))
		}
		t.Logf("%q in %s:\n    %s", id, side, strings.Join(lines, "\n    "))
	}
}

// A first pull into an empty database asks the peer to skip tombstones (activeOnly), but
// only the deletions that were already there: a continuous replication must still
// receive documents deleted later on. (The soak benchmark found that every deletion
// made on the listener's side during the first connection was lost.)
func TestContinuousFirstPullReceivesLaterDeletions(t *testing.T) {
	ctx := context.Background()
	a, b := openDB(t, "a"), openDB(t, "b")
	cb := b.DefaultCollection()
	save(t, cb, "kept", `{"v":1}`)
	save(t, cb, "old", `{"v":1}`)
	if _, err := cb.Delete(ctx, "old", store.SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	l := startListener(t, b, nil)
	r := newRepl(t, Config{Database: a, URL: localURL(l), Continuous: true})
	if err := r.Start(false); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "first pull", func() bool { return count(t, a.DefaultCollection()) == 1 })
	if _, err := a.DefaultCollection().GetWithDeleted(ctx, "old"); err == nil {
		t.Error("the first pull brought a tombstone it asked to skip")
	}
	if _, err := cb.Delete(ctx, "kept", store.SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "the deletion to arrive", func() bool {
		d, err := a.DefaultCollection().GetWithDeleted(ctx, "kept")
		return err == nil && d.Deleted
	})
}
