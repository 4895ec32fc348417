package replicator

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/p2psync/libp2psync/engine/logging"
)

// Conflicts resolved are counted and logged (Info, domain Replicator); a conflict the
// resolver cannot decide is logged as a warning and becomes the last error.
func TestConflictsCountedAndLogged(t *testing.T) {
	var (
		mu   sync.Mutex
		recs []logging.Record
	)
	logging.SetSink(logging.Info, logging.Replicator, func(r logging.Record) {
		mu.Lock()
		recs = append(recs, r)
		mu.Unlock()
	})
	t.Cleanup(func() { logging.SetSink(logging.None, 0, nil) })
	has := func(level logging.Level, parts ...string) bool {
		mu.Lock()
		defer mu.Unlock()
	next:
		for _, r := range recs {
			if r.Level != level || r.Domain != logging.Replicator {
				continue
			}
			for _, p := range parts {
				if !strings.Contains(r.Message, p) {
					continue next
				}
			}
			return true
		}
		return false
	}

	for _, failing := range []bool{false, true} {
		local, remote := openDB(t, "local"), openDB(t, "remote")
		l := startListener(t, remote, nil)
		makeConflict(t, local, remote, localURL(l), 2, 1)
		cc := CollectionConfig{Collection: local.DefaultCollection()}
		if failing {
			cc.ConflictResolver = func(context.Context, Conflict) (Resolution, error) {
				return Resolution{}, errors.New("cannot decide")
			}
		}
		r := newRepl(t, Config{Database: local, URL: localURL(l), Collections: []CollectionConfig{cc}, Logger: logging.Logger(logging.Replicator)})
		if st := runOneShot(t, r); st.Error != nil {
			t.Fatalf("status %+v", st)
		}
		c := r.Counters()
		if failing {
			if c.ConflictsResolved != 0 || c.LastError == nil || !strings.Contains(c.LastError.Error(), "cannot decide") {
				t.Fatalf("failing resolver: counters %+v", c)
			}
			if !has(logging.Warning, "conflict not resolved", "doc=c", "cannot decide") {
				t.Fatal("no warning for the unresolved conflict")
			}
		} else {
			if c.ConflictsResolved != 1 || c.LastError != nil || c.Retries != 0 {
				t.Fatalf("counters %+v", c)
			}
			if !has(logging.Info, "conflict resolved", "collection=_default._default", "doc=c", "local=3-", "remote=2-") {
				t.Fatalf("no log line for the resolved conflict: %+v", recs)
			}
		}
	}
}
