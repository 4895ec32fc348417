package syncproto

import "sync"

// progressTracker computes checkpoint positions (PROTOCOL §7.2): a position may only be
// saved when every row before it has been handled, whatever order they complete in.
// Rows are registered with an ordering key (the changes message number and row index for
// a puller, the local sequence for a pusher); keys normally arrive in increasing order,
// and a late registration of a smaller key is placed where it belongs.
type progressTracker[S any] struct {
	mu      sync.Mutex
	entries []trackEntry[S] // sorted by key; head is entries[0]
	last    S               // position of the last completed prefix row
	hasLast bool
	pending int
}

type trackKey struct{ major, minor uint64 }

func (a trackKey) less(b trackKey) bool {
	return a.major < b.major || (a.major == b.major && a.minor < b.minor)
}

type trackEntry[S any] struct {
	key  trackKey
	pos  S
	done bool
}

// add registers a pending row.
func (t *progressTracker[S]) add(key trackKey, pos S) {
	t.mu.Lock()
	defer t.mu.Unlock()
	i := len(t.entries)
	for i > 0 && key.less(t.entries[i-1].key) {
		i--
	}
	t.entries = append(t.entries, trackEntry[S]{})
	copy(t.entries[i+1:], t.entries[i:])
	t.entries[i] = trackEntry[S]{key: key, pos: pos}
	t.pending++
}

// complete marks the row with key as handled. Unknown keys are ignored.
func (t *progressTracker[S]) complete(key trackKey) {
	t.mu.Lock()
	defer t.mu.Unlock()
	// Completion is usually near the head; search from the front.
	for i := range t.entries {
		if t.entries[i].key == key {
			if !t.entries[i].done {
				t.entries[i].done = true
				t.pending--
			}
			break
		}
		if key.less(t.entries[i].key) {
			break
		}
	}
	n := 0
	for n < len(t.entries) && t.entries[n].done {
		t.last, t.hasLast = t.entries[n].pos, true
		n++
	}
	if n > 0 {
		t.entries = append(t.entries[:0], t.entries[n:]...)
	}
}

// position returns the last position whose whole prefix is handled.
func (t *progressTracker[S]) position() (S, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.last, t.hasLast
}

// setBase sets the starting position (from a checkpoint) when nothing is pending.
func (t *progressTracker[S]) setBase(pos S) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.last, t.hasLast = pos, true
}

// outstanding returns the number of registered rows not yet completed.
func (t *progressTracker[S]) outstanding() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.pending
}
