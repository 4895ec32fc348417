package syncproto

import (
	"math/rand"
	"testing"

	"github.com/p2psync/libp2psync/engine/syncproto/wire"
)

func TestProgressTracker(t *testing.T) {
	var tr progressTracker[string]
	if _, ok := tr.position(); ok {
		t.Fatal("empty tracker has a position")
	}
	k := func(a, b uint64) trackKey { return trackKey{a, b} }
	tr.add(k(2, 0), "s20")
	tr.add(k(2, 1), "s21")
	tr.add(k(1, 0), "s10") // late registration of an earlier message
	tr.complete(k(2, 0))
	tr.complete(k(2, 1))
	if _, ok := tr.position(); ok {
		t.Fatal("advanced past a pending earlier row")
	}
	tr.complete(k(1, 0))
	if p, _ := tr.position(); p != "s21" || tr.outstanding() != 0 {
		t.Fatalf("position %q outstanding %d", p, tr.outstanding())
	}
	tr.complete(k(9, 9)) // unknown: ignored
	if p, _ := tr.position(); p != "s21" {
		t.Fatal("unknown completion moved the position")
	}
}

func TestProgressTrackerBarrierAndStepBack(t *testing.T) {
	var tr progressTracker[wire.Sequence]
	tr.before = sequenceBefore
	tr.setBase("10")
	k := func(a, b uint64) trackKey { return trackKey{a, b} }
	// Message 3 is still arriving (barrier) while message 4's rows complete.
	tr.addBarrier(k(3, 0))
	tr.add(k(4, 1), "20")
	tr.complete(k(4, 1))
	if p, _ := tr.position(); p != "10" {
		t.Fatalf("position moved past a barrier: %s", p)
	}
	tr.add(k(3, 1), "15")
	tr.complete(k(3, 0))
	if p, _ := tr.position(); p != "10" || tr.outstanding() != 1 {
		t.Fatalf("position %s outstanding %d", p, tr.outstanding())
	}
	tr.complete(k(3, 1))
	if p, _ := tr.position(); p != "20" {
		t.Fatalf("position %s, want 20", p)
	}
	// A row registering after later rows were counted steps the position back.
	tr.add(k(2, 1), "12")
	if p, _ := tr.position(); p != "11" {
		t.Fatalf("after late registration position %s, want 11", p)
	}
	// Without a numeric predecessor the base is used.
	tr.add(k(1, 1), `"a:b"`)
	if p, _ := tr.position(); p != "10" {
		t.Fatalf("fallback position %s, want base 10", p)
	}
}

// A peer that sends a list after a later one (older versions of this library did, when
// preparing a list took longer than the next) must not get the checkpoint past the
// earlier list's rows while they are pending: the position stays before the earliest
// pending row whose sequence is not after it.
func TestProgressTrackerListsOutOfOrder(t *testing.T) {
	var tr progressTracker[wire.Sequence]
	tr.before, tr.atOrBefore = sequenceBefore, sequenceAtOrBefore
	tr.setBase("10")
	k := func(a, b uint64) trackKey { return trackKey{a, b} }
	tr.add(k(2, 1), "14")
	tr.add(k(2, 2), "15")
	tr.complete(k(2, 1))
	tr.complete(k(2, 2))
	if p, _ := tr.position(); p != "15" {
		t.Fatalf("position %s, want 15", p)
	}
	// Message 3 carries earlier sequences; its rows stay pending (revisions on the way).
	tr.add(k(3, 1), "13")
	tr.add(k(3, 2), "11")
	tr.add(k(3, 3), "16")
	if p, _ := tr.position(); p != "10" {
		t.Fatalf("position %s with 11 and 13 pending, want 10", p)
	}
	tr.complete(k(3, 2))
	if p, _ := tr.position(); p != "12" {
		t.Fatalf("position %s with 13 pending, want 12", p)
	}
	tr.hold(k(3, 1)) // given up for this session: still not passed
	if p, _ := tr.position(); p != "12" {
		t.Fatalf("position %s with 13 held, want 12", p)
	}
	// Opaque sequences cannot be compared: the key order alone decides.
	var opaque progressTracker[wire.Sequence]
	opaque.before, opaque.atOrBefore = sequenceBefore, sequenceAtOrBefore
	opaque.add(k(1, 1), `"5:7"`)
	opaque.complete(k(1, 1))
	opaque.add(k(2, 1), `"5:3"`)
	if p, _ := opaque.position(); p != `"5:7"` {
		t.Fatalf("opaque position %s", p)
	}
}

// Rows done behind a row still pending (or held: for the rest of the session) are folded
// into one entry: the tracker stays small however many changes follow, and the positions
// it reports are the same. Before, it kept an entry per row.
func TestProgressTrackerDoneRowsBehindAPendingOneFold(t *testing.T) {
	for _, held := range []bool{false, true} {
		var tr progressTracker[wire.Sequence]
		tr.before = sequenceBefore
		tr.atOrBefore = sequenceAtOrBefore
		tr.setBase("0")
		tr.add(trackKey{1, 1}, "1")
		if held {
			tr.hold(trackKey{1, 1})
		}
		const n = 10000
		for i := uint64(2); i <= n; i++ {
			tr.add(trackKey{i, 1}, wire.UintSequence(i))
			if i == 5000 {
				tr.add(trackKey{i, 2}, wire.UintSequence(i)+"x") // pending in the middle
				continue
			}
			tr.complete(trackKey{i, 1})
		}
		if got := tr.size(); got > 5 {
			t.Errorf("held=%v: %d entries for 3 unfinished rows among %d", held, got, n)
		}
		if p, _ := tr.position(); p != "0" {
			t.Errorf("held=%v: position %s before the first row is done", held, p)
		}
		if p, _ := tr.settled(); held && p != "4999" {
			t.Errorf("held=%v: settled %s, want 4999", held, p)
		}
		tr.complete(trackKey{1, 1})
		if p, _ := tr.position(); p != "4999" {
			t.Errorf("held=%v: position %s, want 4999 (before the pending row of 5000)", held, p)
		}
		tr.complete(trackKey{5000, 1})
		tr.complete(trackKey{5000, 2})
		if p, _ := tr.position(); p != wire.UintSequence(n) || tr.size() != 0 {
			t.Errorf("held=%v: position %s with %d entries, want %d and none", held, p, tr.size(), n)
		}
	}
}

// The tracker against a plain model under rows completed, held and registered in random
// order (a pusher's pattern: hundreds pending, completions near the head and anywhere
// else): position, settled and outstanding always agree, and completed prefixes and done
// runs leave no more entries than the rows still unfinished can explain.
func TestProgressTrackerMatchesModel(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for round := 0; round < 20; round++ {
		var tr progressTracker[uint64]
		type row struct{ done, held bool }
		var rows []row // index = sequence - 1
		next := uint64(1)
		pending := map[uint64]bool{}
		for step := 0; step < 3000; step++ {
			switch r := rng.Intn(10); {
			case r < 4 || len(pending) == 0:
				tr.add(trackKey{next, 0}, next)
				rows = append(rows, row{})
				pending[next] = true
				next++
			default:
				// Mostly near the head, sometimes anywhere.
				var seq uint64
				for s := range pending {
					if seq == 0 || (rng.Intn(3) > 0 && s < seq) || rng.Intn(50) == 0 {
						seq = s
					}
				}
				if rng.Intn(20) == 0 {
					tr.hold(trackKey{seq, 0})
					rows[seq-1].held = true
				} else {
					tr.complete(trackKey{seq, 0})
					rows[seq-1].done = true
				}
				delete(pending, seq)
			}
			var wantPos, wantSettled uint64
			for i, r := range rows {
				if !r.done {
					break
				}
				wantPos = uint64(i + 1)
			}
			for i, r := range rows {
				if !r.done && !r.held {
					break
				}
				wantSettled = uint64(i + 1)
			}
			if p, _ := tr.position(); p != wantPos {
				t.Fatalf("round %d step %d: position %d, want %d", round, step, p, wantPos)
			}
			if s, _ := tr.settled(); s != wantSettled {
				t.Fatalf("round %d step %d: settled %d, want %d", round, step, s, wantSettled)
			}
			unfinished := 0
			for _, r := range rows[wantPos:] {
				if !r.done {
					unfinished++
				}
			}
			if got := tr.outstanding(); got != len(pending) {
				t.Fatalf("round %d step %d: outstanding %d, want %d", round, step, got, len(pending))
			}
			if tr.size() > 2*unfinished+1 {
				t.Fatalf("round %d step %d: %d entries for %d unfinished rows", round, step, tr.size(), unfinished)
			}
		}
	}
}
