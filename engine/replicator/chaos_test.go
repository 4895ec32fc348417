package replicator

import (
	"context"
	"fmt"
	"github.com/p2psync/libp2psync/engine/tlsid"
	"net"
	"sort"
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
// committed lost. Over TLS (the listener's default) and plain WebSocket.
func TestChaosTwoWayReplication(t *testing.T) {
	seed := faultSeed(t)
	for i, tc := range []struct {
		name string
		tls  bool
	}{{"wss", true}, {"ws", false}} {
		t.Run(tc.name, func(t *testing.T) {
			runChaos(t, seed+int64(i), tc.tls, 14, false)
		})
	}
}

// The same over CBMobile_4: convergence means the same versions and bodies (rev-tree IDs
// are minted on each side).
func TestChaosTwoWayReplicationCBMobile4(t *testing.T) {
	runChaos(t, faultSeed(t), false, 14, true)
}

func runChaos(t *testing.T, seed int64, useTLS bool, faults int, v4 bool) {
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
	var pin []byte
	scheme := "ws"
	var lcfg func(*listener.Config)
	if useTLS {
		lcfg = func(c *listener.Config) { c.DisableTLS, c.Identity = false, fx.selfSigned }
		pin = fx.selfSigned.Certificate().Raw
		scheme = "wss"
	}
	l := startListener(t, b, lcfg)
	proxy := startFaultProxy(t, net.JoinHostPort("127.0.0.1", strconv.Itoa(l.Port())), seed, faults)
	rcfg := Config{Database: a, URL: fmt.Sprintf("%s://127.0.0.1:%d/b", scheme, proxy.Port()),
		Continuous: true, CheckpointInterval: 100 * time.Millisecond}
	if useTLS {
		rcfg.TrustMode, rcfg.PinnedCertificate = tlsid.TrustPinned, pin
	}
	var r *Replicator
	if v4 {
		r = newRepl4(t, rcfg)
	} else {
		r = newRepl(t, rcfg)
	}
	var mu sync.Mutex
	errs := map[string]int{}
	var errTimes []string // when each error was reported, for matching with document events
	began := time.Now()
	r.AddChangeListener(func(s Status) {
		if s.Error != nil {
			mu.Lock()
			errs[s.Error.Error()]++
			if len(errTimes) < 100 {
				errTimes = append(errTimes, fmt.Sprintf("%v %s", time.Since(began).Round(time.Millisecond), s.Error))
			}
			mu.Unlock()
		}
	})
	docs := newDocLog(began)
	r.AddDocumentListener(docs.record)
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
	for proxy.remaining() > 0 && time.Since(began) < 60*time.Second && r.Status().Activity != Stopped {
		time.Sleep(20 * time.Millisecond)
	}
	proxy.stopFaults()
	time.Sleep(300 * time.Millisecond)
	close(stopWriters)
	wg.Wait()
	chaos := time.Since(began)
	t.Logf("chaos phase %v: %s; writes a=%d b=%d", chaos.Round(time.Millisecond), proxy.summary(), wa.Ops(), wb.Ops())
	var ids []string // the documents that differ, for the failure report
	defer func() {
		if t.Failed() {
			proxy.mu.Lock()
			t.Logf("faults injected:\n  %s", strings.Join(proxy.injected, "\n  "))
			proxy.mu.Unlock()
			mu.Lock()
			t.Logf("replicator errors seen: %v\nin order:\n  %s", errs, strings.Join(errTimes, "\n  "))
			mu.Unlock()
			t.Logf("document events:\n%s", docs.report(ids))
			t.Logf("revision trees (latest local sequence first; @0: history only):\n%s", revisionTrees(ca, cb, ids))
		}
	}()
	if proxy.remaining() > 0 {
		t.Errorf("only %d of %d faults struck", faults-proxy.remaining(), faults)
	}

	// Convergence: identical databases, no conflict left, the replicator still running.
	var diff []string
	diff, ids = waitConverged(t, r, ca, cb, 60*time.Second, v4)
	if len(diff) > 0 {
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
func waitConverged(t *testing.T, r *Replicator, ca, cb *store.Collection, timeout time.Duration, versions bool) (diff, ids []string) {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(timeout)
	for {
		if st := r.Status(); st.Activity == Stopped {
			t.Fatalf("the continuous replicator stopped: %+v", st)
		}
		diff, ids = nil, nil
		if versions {
			diff, ids = versionDiffs(t, ca, cb)
		} else {
			d, err := storetest.Diff(ctx, ca, cb)
			if err != nil {
				t.Fatal(err)
			}
			for _, x := range d {
				diff, ids = append(diff, x.Text), append(ids, x.DocID)
			}
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

// docLog records a replicator's document events for a failure report: per direction the
// number of documents replicated and failed, the errors (the first 100), and the last
// events of each document, with the time since the start.
type docLog struct {
	began  time.Time
	mu     sync.Mutex
	ok     map[Direction]int
	failed map[Direction]int
	errors []string
	recent map[string][]string // document ID => its last docLogRecent events, oldest first
}

const docLogRecent = 8

func newDocLog(began time.Time) *docLog {
	return &docLog{began: began, ok: map[Direction]int{}, failed: map[Direction]int{}, recent: map[string][]string{}}
}

func (l *docLog) record(d DocumentReplication) {
	at := time.Since(l.began).Round(time.Millisecond)
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, doc := range d.Documents {
		line := fmt.Sprintf("%v %v %s deleted=%v", at, d.Direction, doc.RevID, doc.Deleted)
		if doc.AccessRemoved {
			line += " access-removed"
		}
		if doc.Error != nil {
			line += " error: " + doc.Error.Error()
			l.failed[d.Direction]++
			if len(l.errors) < 100 {
				l.errors = append(l.errors, fmt.Sprintf("%q %s", doc.ID, line))
			}
		} else {
			l.ok[d.Direction]++
		}
		ev := append(l.recent[doc.ID], line)
		if len(ev) > docLogRecent {
			ev = ev[len(ev)-docLogRecent:]
		}
		l.recent[doc.ID] = ev
	}
}

// report describes the events, with the last ones of each document of ids.
func (l *docLog) report(ids []string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var b strings.Builder
	for _, dir := range []Direction{DirectionPush, DirectionPull} {
		fmt.Fprintf(&b, "  %v: %d replicated, %d failed\n", dir, l.ok[dir], l.failed[dir])
	}
	if len(l.errors) > 0 {
		fmt.Fprintf(&b, "  document errors:\n    %s\n", strings.Join(l.errors, "\n    "))
	}
	for _, id := range ids[:min(len(ids), 40)] {
		ev := l.recent[id]
		if len(ev) == 0 {
			fmt.Fprintf(&b, "  %q: no event\n", id)
			continue
		}
		fmt.Fprintf(&b, "  %q:\n    %s\n", id, strings.Join(ev, "\n    "))
	}
	return b.String()
}

// revisionTrees describes the stored revisions of the first documents of ids on both
// sides (generation, digest prefix, deleted/leaf/body flags, parent, local sequence).
func revisionTrees(ca, cb *store.Collection, ids []string) string {
	ctx := context.Background()
	var b strings.Builder
	for _, id := range ids[:min(len(ids), 10)] {
		for _, side := range []struct {
			name string
			c    *store.Collection
		}{{"A", ca}, {"B", cb}} {
			revs, err := side.c.Revisions(ctx, id)
			if err != nil {
				fmt.Fprintf(&b, "  %q %s: %v\n", id, side.name, err)
				continue
			}
			sort.Slice(revs, func(i, j int) bool { return revs[i].Sequence > revs[j].Sequence })
			var parts []string
			for _, r := range revs[:min(len(revs), 8)] {
				flags := ""
				if r.Deleted {
					flags += " deleted"
				}
				if r.Leaf {
					flags += " leaf"
				}
				if !r.HasBody {
					flags += " nobody"
				}
				parts = append(parts, fmt.Sprintf("%s%s <- %s @%d", clipRev(r.RevID), flags, clipRev(r.Parent), r.Sequence))
			}
			fmt.Fprintf(&b, "  %q %s:\n    %s\n", id, side.name, strings.Join(parts, "\n    "))
		}
	}
	return b.String()
}

func clipRev(rev string) string {
	if i := strings.IndexByte(rev, '-'); i >= 0 && len(rev) > i+9 {
		return rev[:i+9]
	}
	return rev
}
