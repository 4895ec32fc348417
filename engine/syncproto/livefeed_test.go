package syncproto

import (
	"context"
	"fmt"
	"testing"

	"github.com/p2psync/libp2psync/engine/store"
)

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
