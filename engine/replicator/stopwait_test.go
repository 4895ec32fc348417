package replicator

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/p2psync/libp2psync/engine/store"
)

// slowListeners records every document, status and collection-change callback of one
// replicator, slowly (so that a backlog builds up), and notes any call made after the
// test declared the replicator finished.
type slowListeners struct {
	mu       sync.Mutex
	pulled   map[string]bool // document events without error, by ID
	pushed   map[string]bool
	changed  map[string]bool // local collection change listener, by ID
	statuses []ActivityLevel
	finished atomic.Bool
	late     atomic.Int64 // callbacks started after finished was set
	perDoc   time.Duration
	tokens   []*ListenerToken
	storeTok *store.ListenerToken
}

func listenSlowly(r *Replicator, local *store.Collection, perDoc time.Duration) *slowListeners {
	s := &slowListeners{pulled: map[string]bool{}, pushed: map[string]bool{}, changed: map[string]bool{}, perDoc: perDoc}
	s.tokens = append(s.tokens, r.AddDocumentListener(func(dr DocumentReplication) {
		if s.finished.Load() {
			s.late.Add(1)
		}
		for _, d := range dr.Documents {
			time.Sleep(s.perDoc)
			s.mu.Lock()
			if d.Error == nil {
				if dr.Direction == DirectionPull {
					s.pulled[d.ID] = true
				} else {
					s.pushed[d.ID] = true
				}
			}
			s.mu.Unlock()
		}
	}))
	s.tokens = append(s.tokens, r.AddChangeListener(func(st Status) {
		if s.finished.Load() {
			s.late.Add(1)
		}
		time.Sleep(s.perDoc)
		s.mu.Lock()
		s.statuses = append(s.statuses, st.Activity)
		s.mu.Unlock()
	}))
	s.storeTok = local.AddChangeListener(func(ch store.CollectionChange) {
		if s.finished.Load() {
			s.late.Add(1)
		}
		for _, c := range ch.Changes {
			time.Sleep(s.perDoc)
			s.mu.Lock()
			s.changed[c.DocID] = true
			s.mu.Unlock()
		}
	})
	return s
}

func (s *slowListeners) remove() {
	for _, t := range s.tokens {
		t.Remove()
	}
	s.storeTok.Remove()
}

// snapshot returns the counts seen so far and marks the replicator finished: any callback
// starting afterwards is counted as late.
func (s *slowListeners) finish() (pulled, pushed, changed int, last ActivityLevel) {
	s.finished.Store(true)
	s.mu.Lock()
	defer s.mu.Unlock()
	last = ActivityLevel(-1)
	if n := len(s.statuses); n > 0 {
		last = s.statuses[n-1]
	}
	return len(s.pulled), len(s.pushed), len(s.changed), last
}

// checkNoLateCalls gives a late callback time to show up, then fails if one did.
func (s *slowListeners) checkNoLateCalls(t *testing.T, iter int) {
	t.Helper()
	time.Sleep(30 * time.Millisecond)
	if n := s.late.Load(); n > 0 {
		t.Errorf("run %d: %d callbacks ran after the replicator was stopped", iter, n)
	}
}

// waitStoppedByStatus polls Status as a binding's wait does (Python, Kotlin, the CLI).
func waitStoppedByStatus(t *testing.T, r *Replicator) Status {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		st := r.Status()
		if st.Activity == Stopped {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("replicator still %v after 30 s", st.Activity)
		}
		time.Sleep(time.Millisecond)
	}
}

// Once a one-shot replicator reads as stopped (by Wait, by Status, or after Stop), every
// document, status and collection-change callback for what it replicated has run, and
// none runs afterwards.
func TestStopMeansStoppedOneShot(t *testing.T) {
	const docs = 300
	waiters := []struct {
		name string
		wait func(t *testing.T, r *Replicator) Status
	}{
		{"Wait", func(t *testing.T, r *Replicator) Status {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			st, err := r.Wait(ctx)
			if err != nil {
				t.Fatal(err)
			}
			return st
		}},
		{"Status", waitStoppedByStatus},
		// What the CLI does: poll the status, then Stop (which must wait for the listeners).
		{"Status then Stop", func(t *testing.T, r *Replicator) Status {
			waitStoppedByStatus(t, r)
			r.Stop()
			return r.Status()
		}},
	}
	for _, w := range waiters {
		t.Run(w.name, func(t *testing.T) {
			for iter := 0; iter < 3; iter++ {
				local, remote := openDB(t, "local"), openDB(t, "remote")
				saveN(t, remote.DefaultCollection(), "r-", docs)
				saveN(t, local.DefaultCollection(), "l-", docs/3)
				l := startListener(t, remote, nil)
				r := newRepl(t, Config{Database: local, URL: localURL(l)})
				s := listenSlowly(r, local.DefaultCollection(), 200*time.Microsecond)
				if err := r.Start(false); err != nil {
					t.Fatal(err)
				}
				st := w.wait(t, r)
				pulled, pushed, changed, last := s.finish()
				if st.Activity != Stopped || st.Error != nil {
					t.Fatalf("run %d: final status %+v", iter, st)
				}
				if pulled != docs || pushed != docs/3 {
					t.Errorf("run %d: when stopped, the document listener had seen %d of %d pulled and %d of %d pushed",
						iter, pulled, docs, pushed, docs/3)
				}
				if changed < docs {
					t.Errorf("run %d: when stopped, the collection change listener had seen %d of %d pulled documents", iter, changed, docs)
				}
				if last != Stopped {
					t.Errorf("run %d: the last status the listener saw was %v, not stopped", iter, last)
				}
				s.checkNoLateCalls(t, iter)
				s.remove()
			}
		})
	}
}

// Stop in the middle of a continuous pull returns after every callback for what was
// pulled has run: the document listener has seen exactly the documents now stored.
func TestStopMeansStoppedMidway(t *testing.T) {
	const docs = 400
	for iter := 0; iter < 4; iter++ {
		local, remote := openDB(t, "local"), openDB(t, "remote")
		saveN(t, remote.DefaultCollection(), "r-", docs)
		l := startListener(t, remote, nil)
		r := newRepl(t, Config{Database: local, URL: localURL(l), Type: Pull, Continuous: true})
		s := listenSlowly(r, local.DefaultCollection(), 200*time.Microsecond)
		if err := r.Start(false); err != nil {
			t.Fatal(err)
		}
		// Stop once some documents have landed, with more still coming.
		eventually(t, 20*time.Second, "first documents", func() bool { return count(t, local.DefaultCollection()) >= uint64(20+iter*40) })
		r.Stop()
		pulled, _, changed, last := s.finish()
		stored := int(count(t, local.DefaultCollection()))
		if pulled != stored {
			t.Errorf("run %d: Stop returned with %d of %d pulled documents delivered to the listener", iter, pulled, stored)
		}
		if changed != stored {
			t.Errorf("run %d: Stop returned with %d of %d pulled documents delivered to the collection change listener", iter, changed, stored)
		}
		if last != Stopped {
			t.Errorf("run %d: the last status the listener saw was %v, not stopped", iter, last)
		}
		if st := r.Status(); st.Activity != Stopped {
			t.Errorf("run %d: status after Stop %+v", iter, st)
		}
		s.checkNoLateCalls(t, iter)
		s.remove()
	}
}

// Stop called from inside a listener (which the dispatcher or the store's notifier is
// running) cannot wait for that listener: it must not hang, and the run still ends.
func TestStopFromInsideListeners(t *testing.T) {
	for _, where := range []string{"document listener", "status listener", "collection change listener"} {
		t.Run(where, func(t *testing.T) {
			local, remote := openDB(t, "local"), openDB(t, "remote")
			saveN(t, remote.DefaultCollection(), "r-", 100)
			l := startListener(t, remote, nil)
			r := newRepl(t, Config{Database: local, URL: localURL(l), Type: Pull, Continuous: true})
			returned := make(chan struct{})
			var once sync.Once
			stopInside := func() { once.Do(func() { r.Stop(); close(returned) }) }
			switch where {
			case "document listener":
				tok := r.AddDocumentListener(func(DocumentReplication) { stopInside() })
				defer tok.Remove()
			case "status listener":
				tok := r.AddChangeListener(func(st Status) {
					if st.Activity == Busy || st.Activity == Idle {
						stopInside()
					}
				})
				defer tok.Remove()
			default:
				tok := local.DefaultCollection().AddChangeListener(func(store.CollectionChange) { stopInside() })
				defer tok.Remove()
			}
			if err := r.Start(false); err != nil {
				t.Fatal(err)
			}
			select {
			case <-returned:
			case <-time.After(20 * time.Second):
				t.Fatal("Stop called from inside a listener did not return")
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if st, err := r.Wait(ctx); err != nil || st.Activity != Stopped {
				t.Fatalf("after Stop from inside a listener: %+v, %v", st, err)
			}
		})
	}
}
