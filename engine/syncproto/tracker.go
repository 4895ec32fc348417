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
	lastKey trackKey // key of the last popped row
	popped  bool
	base    S // starting position (setBase)
	hasBase bool
	pending int
	// before, if set, returns a position just before pos; used to step back when a row
	// registers after later rows were already counted (ok=false: fall back to the base).
	before func(pos S) (S, bool)
	// atOrBefore, if set, reports that position a is at or before b (false when they
	// cannot be compared). With it, the position also stays before a pending row whose
	// position is not after it, whatever their keys (see position).
	atOrBefore func(a, b S) bool
}

type trackKey struct{ major, minor uint64 }

func (a trackKey) less(b trackKey) bool {
	return a.major < b.major || (a.major == b.major && a.minor < b.minor)
}

type trackEntry[S any] struct {
	key     trackKey
	pos     S
	done    bool
	held    bool // not done, but no longer awaited (hold): the position stays before it
	barrier bool // placeholder holding the position back; carries no position
}

// add registers a pending row.
func (t *progressTracker[S]) add(key trackKey, pos S) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.insertLocked(trackEntry[S]{key: key, pos: pos})
}

// addBarrier registers a placeholder that holds the position back until completed.
func (t *progressTracker[S]) addBarrier(key trackKey) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.insertLocked(trackEntry[S]{key: key, barrier: true})
	t.pending-- // barriers are not rows
}

func (t *progressTracker[S]) insertLocked(e trackEntry[S]) {
	key := e.key
	if t.popped && key.less(t.lastKey) && !e.barrier {
		// Registered after later rows were counted: step the position back before it.
		if p, ok := t.stepBack(e.pos); ok {
			t.last, t.hasLast = p, true
		} else {
			t.last, t.hasLast = t.base, t.hasBase
		}
	}
	i := len(t.entries)
	for i > 0 && key.less(t.entries[i-1].key) {
		i--
	}
	t.entries = append(t.entries, trackEntry[S]{})
	copy(t.entries[i+1:], t.entries[i:])
	t.entries[i] = e
	t.pending++
}

func (t *progressTracker[S]) stepBack(pos S) (S, bool) {
	if t.before == nil {
		var zero S
		return zero, false
	}
	return t.before(pos)
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
				if !t.entries[i].barrier && !t.entries[i].held { // a held row no longer counts
					t.pending--
				}
				t.mergeDone(i)
			}
			break
		}
		if key.less(t.entries[i].key) {
			break
		}
	}
	n := 0
	for n < len(t.entries) && t.entries[n].done {
		if !t.entries[n].barrier {
			t.last, t.hasLast = t.entries[n].pos, true
			t.lastKey, t.popped = t.entries[n].key, true
		}
		n++
	}
	if n > 0 {
		// Dropped from the front by reslicing: copying the rest down cost a move of every
		// pending entry each time the head advanced (a pusher keeps hundreds pending).
		clear(t.entries[:n])
		t.entries = t.entries[n:]
		if len(t.entries) == 0 {
			t.entries = t.entries[:0:0] // let the array go with the last entry
		}
	}
}

// removeAt deletes entry i, moving the shorter side: completions come near the head,
// where moving the entries before i is cheap and moving those after it is not.
func (t *progressTracker[S]) removeAt(i int) {
	e := t.entries
	if i < len(e)/2 {
		copy(e[1:i+1], e[:i])
		clear(e[:1])
		t.entries = e[1:]
		return
	}
	copy(e[i:], e[i+1:])
	clear(e[len(e)-1:])
	t.entries = e[:len(e)-1]
}

// mergeDone folds the done row at i into its done neighbours: of a run of done rows
// behind an unfinished one, only the last matters (its position is the one the run
// reaches once popped). Without it, one row left pending or held kept every later row in
// memory, one entry per change, for the rest of the session.
func (t *progressTracker[S]) mergeDone(i int) {
	mergeable := func(j int) bool {
		return j >= 0 && j < len(t.entries) && t.entries[j].done && !t.entries[j].barrier
	}
	if !mergeable(i) {
		return
	}
	if mergeable(i + 1) {
		t.removeAt(i)
	}
	if mergeable(i - 1) {
		t.removeAt(i - 1)
	}
}

// size returns the number of entries held (tests).
func (t *progressTracker[S]) size() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.entries)
}

// hold marks the row with key as finished without being done: it no longer counts as
// outstanding, but the position never passes it (a document to retry later).
func (t *progressTracker[S]) hold(key trackKey) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for i := range t.entries {
		if t.entries[i].key == key {
			if !t.entries[i].done && !t.entries[i].held && !t.entries[i].barrier {
				t.entries[i].held = true
				t.pending--
			}
			return
		}
	}
}

// settled returns the position past every row that is done or held: how far the rows
// have been dealt with, retries aside.
func (t *progressTracker[S]) settled() (S, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	pos, ok := t.last, t.hasLast
	for _, e := range t.entries {
		if !e.done && !e.held {
			break
		}
		if !e.barrier {
			pos, ok = e.pos, true
		}
	}
	return pos, ok
}

// position returns the last position whose whole prefix is handled.
func (t *progressTracker[S]) position() (S, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	pos, ok := t.last, t.hasLast
	if !ok || t.atOrBefore == nil {
		return pos, ok
	}
	// Keys order the rows as the peer sent them, which is the order of their positions
	// for a peer that sends its lists in sequence order. For one that does not, a row of
	// a later list can have an earlier position than rows already counted: stay before it
	// while it is pending (held rows included).
	for _, e := range t.entries {
		if e.done || e.barrier || !t.atOrBefore(e.pos, pos) {
			continue
		}
		p, stepped := t.stepBack(e.pos)
		if !stepped {
			return t.base, t.hasBase
		}
		pos = p
	}
	return pos, ok
}

// setBase sets the starting position (from a checkpoint) when nothing is pending.
func (t *progressTracker[S]) setBase(pos S) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.last, t.hasLast = pos, true
	t.base, t.hasBase = pos, true
}

// outstanding returns the number of registered rows not yet completed.
func (t *progressTracker[S]) outstanding() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.pending
}
