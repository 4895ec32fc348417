package syncproto

import (
	"context"
	"fmt"
	"testing"

	"github.com/p2psync/libp2psync/engine/store"
)

// The feed returns what ChangesSince would: the changes after since, one row per
// document at its latest change, in sequence order; a purge or more changes than it
// holds make it give up until restarted.
func TestChangeFeedRows(t *testing.T) {
	ch := func(seq uint64, id string) store.Change {
		return store.Change{Sequence: seq, DocID: id, RevID: fmt.Sprintf("%d-x", seq)}
	}
	f := &changeFeed{max: 5}
	f.add([]store.Change{ch(3, "a"), ch(4, "b")})
	f.add([]store.Change{ch(5, "a"), ch(6, "c")})
	got, ok := f.take(3) // seq 3 was read by the query
	if !ok || fmt.Sprint(got) != fmt.Sprint([]store.Change{ch(4, "b"), ch(5, "a"), ch(6, "c")}) {
		t.Fatalf("take = %v, %v; want b@4, a@5, c@6", got, ok)
	}
	if got, ok := f.take(6); !ok || len(got) != 0 {
		t.Fatalf("second take = %v, %v; want nothing new", got, ok)
	}
	f.add([]store.Change{ch(7, "a"), {DocID: "b", Purged: true}})
	if _, ok := f.take(6); ok {
		t.Fatal("a purge must make the feed give up (the query leaves purged documents out)")
	}
	f.add([]store.Change{ch(8, "d")})
	if _, ok := f.take(6); ok {
		t.Fatal("the feed must stay given up until restarted")
	}
	f.restart()
	f.add([]store.Change{ch(9, "a"), ch(10, "b"), ch(11, "c"), ch(12, "d"), ch(13, "e")})
	if got, ok := f.take(8); !ok || len(got) != 5 {
		t.Fatalf("take after restart = %v, %v", got, ok)
	}
	f.add([]store.Change{ch(14, "a"), ch(15, "b"), ch(16, "c"), ch(17, "d"), ch(18, "e"), ch(19, "f")})
	if _, ok := f.take(13); ok {
		t.Fatal("more changes than max must make the feed give up")
	}
}

// A caught-up continuous pusher takes the rows of later commits from the commits'
// change notifications, not from one changes query per commit (what limits a listener
// serving many replicators); every revision still goes out, a document changed twice in
// one commit once at its latest revision, and a purge or a burst larger than a batch
// falls back to querying.
func TestContinuousPusherFromCommits(t *testing.T) {
	ctx := context.Background()
	peer := &changesPeer{}
	s, coll, _ := pushPeerWith(t, SessionConfig{}, peer.handlers())
	p, err := s.StartPusher(0, PushOptions{Continuous: true, BatchSize: 10})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "caught up", p.CaughtUp)
	q0 := p.queries.Load()
	for i := 0; i < 20; i++ {
		saveDoc(t, coll, fmt.Sprintf("d%02d", i), `{"i":1}`)
		last, _ := coll.LastSequence(ctx)
		waitFor(t, "settled", func() bool { return p.Settled() >= last })
	}
	if q := p.queries.Load() - q0; q > 2 {
		t.Errorf("%d changes queries for 20 commits after catching up; want the rows from the commits", q)
	}
	// One commit changing a document twice: one row, the latest revision.
	var twice string
	err = coll.Database().InBatch(ctx, func(b *store.Batch) error {
		d, err := b.Save(coll, "tw", []byte(`{"v":1}`), store.SaveOptions{})
		if err != nil {
			return err
		}
		d, err = b.Save(coll, "tw", []byte(`{"v":2}`), store.SaveOptions{ParentRevID: d.RevID})
		twice = d.RevID
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	// A purge, then a burst of more documents than a batch in one commit.
	if err := coll.Purge(ctx, "d00"); err != nil {
		t.Fatal(err)
	}
	err = coll.Database().InBatch(ctx, func(b *store.Batch) error {
		for i := 0; i < 25; i++ {
			if _, err := b.Save(coll, fmt.Sprintf("e%02d", i), []byte(`{}`), store.SaveOptions{}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	last, _ := coll.LastSequence(ctx)
	waitFor(t, "settled", func() bool { return p.Settled() >= last })
	seen := map[string]int{}
	for _, r := range peer.rows() {
		seen[r.DocID]++
		if r.DocID == "tw" && r.RevID != twice {
			t.Errorf("row of tw at %s, want the latest revision %s", r.RevID, twice)
		}
	}
	for i := 0; i < 25; i++ {
		if id := fmt.Sprintf("e%02d", i); seen[id] != 1 {
			t.Errorf("%s listed %d times, want once", id, seen[id])
		}
	}
	if seen["tw"] != 1 || len(peer.revsOf("tw")) != 1 {
		t.Errorf("tw listed %d times with %d revs; want once", seen["tw"], len(peer.revsOf("tw")))
	}
	for i := 0; i < 20; i++ {
		if id := fmt.Sprintf("d%02d", i); seen[id] != 1 || len(peer.revsOf(id)) != 1 {
			t.Errorf("%s listed %d times, %d revs; want once", id, seen[id], len(peer.revsOf(id)))
		}
	}
}
