package syncproto

import (
	"sync"

	"github.com/p2psync/libp2psync/engine/store"
)

// changeFeed collects the changes that the collection's commits report (its change
// listener) while a continuous pusher runs, so that once caught up the pusher takes its
// next rows from them instead of querying the database after every commit. A listener
// serving many continuous replicators otherwise runs one changes query per commit per
// connection, all for the same rows.
//
// The rows taken are those ChangesSince would return: the changes after since, one per
// document (its latest), in sequence order. That holds only while every commit after
// the last query's snapshot has been collected, which the pusher ensures by calling
// restart just before each query (the listener was registered before the first) and by
// trusting the feed only after a query that returned less than a full batch (nothing
// older is left in the database). A purge, or more changes than max before the pusher
// takes them, make the feed give up until the next restart: the pusher queries again.
// maxFeedChanges bounds what a feed collects (it also stops at the batch size): a larger
// burst is read by a query, whatever batch size the peer asked for.
const maxFeedChanges = 256

type changeFeed struct {
	mu       sync.Mutex
	changes  []store.Change
	overflow bool
	max      int
}

// add records the changes of one commit (called by the collection's change listener).
func (f *changeFeed) add(changes []store.Change) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.overflow {
		return
	}
	for _, c := range changes {
		if c.Purged || c.Sequence == 0 || len(f.changes) >= f.max {
			f.overflow, f.changes = true, nil
			return
		}
		f.changes = append(f.changes, c)
	}
}

// restart forgets what was collected; the caller queries the database next.
func (f *changeFeed) restart() {
	f.mu.Lock()
	f.changes, f.overflow = f.changes[:0], false
	f.mu.Unlock()
}

// take returns the collected changes after since, one per document (the latest), in
// sequence order, and forgets them; ok is false when the feed gave up (query instead).
func (f *changeFeed) take(since uint64) (out []store.Change, ok bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.overflow {
		return nil, false
	}
	var seen map[string]bool
	for i := len(f.changes) - 1; i >= 0; i-- {
		c := f.changes[i]
		if c.Sequence <= since {
			continue // already read by the query that the feed restarted for
		}
		if len(f.changes) > 1 {
			if seen == nil {
				seen = make(map[string]bool, len(f.changes))
			}
			if seen[c.DocID] {
				continue
			}
			seen[c.DocID] = true
		}
		out = append(out, c)
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	clear(f.changes)
	f.changes = f.changes[:0]
	return out, true
}
