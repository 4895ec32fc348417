package syncproto

import (
	"context"
	"fmt"
	"reflect"
	"testing"

	"github.com/p2psync/libp2psync/engine/store"
)

// The live feed gives what ChangesSince would: after since, the latest change of each
// document, none for one purged since, in sequence order; past its bound it says the
// store must be read.
func TestLiveFeedTake(t *testing.T) {
	f := newLiveFeed(6)
	f.add(store.CollectionChange{Changes: []store.Change{{Sequence: 3, DocID: "old"}, {Sequence: 4, DocID: "a", RevID: "1-a"}}})
	f.add(store.CollectionChange{Changes: []store.Change{{Sequence: 5, DocID: "b"}, {Sequence: 6, DocID: "a", RevID: "2-a"}}})
	f.add(store.CollectionChange{Changes: []store.Change{{Sequence: 7, DocID: "c"}, {DocID: "b", Purged: true}}})
	got, ok := f.take(3)
	want := []store.Change{{Sequence: 6, DocID: "a", RevID: "2-a"}, {Sequence: 7, DocID: "c"}}
	if !ok || !reflect.DeepEqual(got, want) {
		t.Fatalf("take = %+v, %v; want %+v", got, ok, want)
	}
	if got, ok := f.take(7); !ok || len(got) != 0 {
		t.Fatalf("second take = %+v, %v; want nothing", got, ok)
	}
	select {
	case <-f.notify:
	default:
		t.Fatal("no notification pending")
	}
	for i := 0; i < 7; i++ {
		f.add(store.CollectionChange{Changes: []store.Change{{Sequence: uint64(10 + i), DocID: fmt.Sprint(i)}}})
	}
	if got, ok := f.take(7); ok {
		t.Fatalf("take after overflow = %+v, ok; want the store to be read", got)
	}
	f.add(store.CollectionChange{Changes: []store.Change{{Sequence: 20, DocID: "d"}}})
	if got, ok := f.take(17); !ok || len(got) != 1 || got[0].DocID != "d" {
		t.Fatalf("take after reading the store = %+v, %v", got, ok)
	}
}

// A continuous push that has caught up sends what is committed afterwards, whether it
// comes through the live feed (single saves, a document saved twice, a purge) or, past
// its bound, from the store (a batch of more than one list): the peer ends with exactly
// the local documents.
func TestPusherContinuousLiveFeed(t *testing.T) {
	ctx := context.Background()
	local, remote := openDB(t), openDB(t)
	lc, rc := local.DefaultCollection(), remote.DefaultCollection()
	saveDoc(t, lc, "first", `{"n":0}`)
	peer := servePassive(t, remote, PassiveConfig{Collections: []*store.Collection{rc}, AllowPush: true, AllowPull: true})
	s := dialActive(t, peer.url, local, SessionConfig{})
	s.SetCollections([]*store.Collection{lc}, true)
	s.Start()
	if _, err := s.Handshake(ctx, []string{"cp"}); err != nil {
		t.Fatal(err)
	}
	p, err := s.StartPusher(0, PushOptions{Propose: true, Continuous: true, BatchSize: 5})
	if err != nil {
		t.Fatal(err)
	}
	settled := func(what string) {
		waitFor(t, what, func() bool {
			last, _ := lc.LastSequence(ctx)
			return p.CaughtUp() && p.Checkpoint() == last
		})
	}
	settled("first push")
	for i := 0; i < 3; i++ { // one at a time: the live feed
		saveDoc(t, lc, fmt.Sprintf("live-%d", i), fmt.Sprintf(`{"n":%d}`, i))
		settled("live save")
	}
	err = local.InBatch(ctx, func(b *store.Batch) error { // more than the feed holds
		for i := 0; i < 12; i++ {
			if _, err := b.Save(lc, fmt.Sprintf("bulk-%02d", i), []byte(fmt.Sprintf(`{"n":%d}`, i)), store.SaveOptions{}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	settled("bulk save")
	err = local.InBatch(ctx, func(b *store.Batch) error { // saved twice in one commit
		for _, body := range []string{`{"n":"x"}`, `{"n":"y"}`} {
			if _, err := b.Save(lc, "twice", []byte(body), store.SaveOptions{}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	settled("double save")
	saveDoc(t, lc, "gone", `{}`)
	if err := lc.Purge(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	saveDoc(t, lc, "last", `{"n":"z"}`)
	settled("last save")
	if got := bodyOf(t, rc, "twice"); got != `{"n":"y"}` {
		t.Errorf("twice arrived as %s", got)
	}
	for _, id := range []string{"first", "live-0", "live-2", "bulk-00", "bulk-11", "last"} {
		if _, err := rc.Get(ctx, id); err != nil {
			t.Errorf("%s not pushed: %v", id, err)
		}
	}
}
