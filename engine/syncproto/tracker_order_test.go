package syncproto

import (
	"math/rand"
	"testing"

	"github.com/p2psync/libp2psync/engine/syncproto/wire"
)

// The checkpoint rule (PROTOCOL §7.2) over many completion orders: whatever order rows
// complete or are held in, the position is exactly the last row of the completed
// prefix (never past a row not done, held ones included), settled is the last row of
// the prefix that is done or held, and outstanding counts the rows neither done nor
// held.
func TestProgressTrackerAnyCompletionOrder(t *testing.T) {
	rng := rand.New(rand.NewSource(7))
	for round := 0; round < 200; round++ {
		n := 1 + rng.Intn(30)
		var tr progressTracker[uint64]
		const base = 100
		tr.setBase(base)
		state := make([]int, n) // 0 pending, 1 done, 2 held
		for i := 0; i < n; i++ {
			tr.add(trackKey{base + 1 + uint64(i), 0}, base+1+uint64(i))
		}
		for step, i := range rng.Perm(n) {
			key := trackKey{base + 1 + uint64(i), 0}
			if rng.Intn(5) == 0 {
				tr.hold(key)
				state[i] = 2
			} else {
				tr.complete(key)
				state[i] = 1
			}
			wantPos, wantSettled, pending := uint64(base), uint64(base), 0
			donePrefix, settledPrefix := true, true
			for j, st := range state {
				donePrefix = donePrefix && st == 1
				settledPrefix = settledPrefix && st != 0
				if donePrefix {
					wantPos = base + 1 + uint64(j)
				}
				if settledPrefix {
					wantSettled = base + 1 + uint64(j)
				}
				if st == 0 {
					pending++
				}
			}
			pos, ok := tr.position()
			set, _ := tr.settled()
			if !ok || pos != wantPos || set != wantSettled || tr.outstanding() != pending {
				t.Fatalf("round %d step %d states %v: position %d settled %d outstanding %d; want %d %d %d",
					round, step, state, pos, set, tr.outstanding(), wantPos, wantSettled, pending)
			}
		}
		// Completing a held row later (a retry that succeeded) lets the position pass it.
		for i, st := range state {
			if st == 2 {
				tr.complete(trackKey{base + 1 + uint64(i), 0})
			}
		}
		if pos, _ := tr.position(); pos != base+uint64(n) || tr.outstanding() != 0 {
			t.Fatalf("round %d: everything done, position %d outstanding %d", round, pos, tr.outstanding())
		}
	}
}

// The puller's tracker with numeric sequences, lists completing in any order and a late
// list registered after later ones were counted: the position never passes a pending
// row's sequence.
func TestProgressTrackerNeverPassesPendingSequence(t *testing.T) {
	rng := rand.New(rand.NewSource(11))
	for round := 0; round < 100; round++ {
		var tr progressTracker[wire.Sequence]
		tr.before, tr.atOrBefore = sequenceBefore, sequenceAtOrBefore
		tr.setBase("0")
		// Up to 4 lists of up to 5 rows; sequences increase with the list, but the lists
		// register in a shuffled order (a peer whose lists overtook each other).
		type row struct {
			key  trackKey
			seq  uint64
			done bool
		}
		var rows []row
		seq := uint64(0)
		lists := 1 + rng.Intn(4)
		for l := 0; l < lists; l++ {
			for r := 0; r < 1+rng.Intn(5); r++ {
				seq += 1 + uint64(rng.Intn(3))
				rows = append(rows, row{key: trackKey{uint64(l + 1), uint64(r + 1)}, seq: seq})
			}
		}
		order := rng.Perm(len(rows))
		registered := map[int]bool{}
		check := func(when string) {
			pos, ok := tr.position()
			n, numeric := pos.Uint()
			if !ok || !numeric {
				t.Fatalf("round %d %s: position %q %v", round, when, pos, ok)
			}
			for i, r := range rows {
				if registered[i] && !r.done && n >= r.seq {
					t.Fatalf("round %d %s: position %d passes pending sequence %d", round, when, n, r.seq)
				}
			}
		}
		// Register every row (in a shuffled order) and complete each one right after a
		// random later registration.
		for _, i := range order {
			tr.add(rows[i].key, wire.UintSequence(rows[i].seq))
			registered[i] = true
			check("after a registration")
			for j := range rows {
				if registered[j] && !rows[j].done && rng.Intn(2) == 0 {
					tr.complete(rows[j].key)
					rows[j].done = true
					check("after a completion")
				}
			}
		}
		for j := range rows {
			if !rows[j].done {
				tr.complete(rows[j].key)
				rows[j].done = true
			}
		}
		// Late registrations may leave the position behind the last row (it stepped back
		// before them): safe, and the next completed row brings it forward.
		if pos, _ := tr.position(); !sequenceAtOrBefore(pos, wire.UintSequence(seq)) {
			t.Fatalf("round %d: all done, position %s past the last row %d", round, pos, seq)
		}
		tr.add(trackKey{99, 1}, wire.UintSequence(seq+1))
		tr.complete(trackKey{99, 1})
		if pos, _ := tr.position(); pos != wire.UintSequence(seq+1) || tr.outstanding() != 0 {
			t.Fatalf("round %d: position %s outstanding %d after one more row, want %d", round, pos, tr.outstanding(), seq+1)
		}
	}
}
