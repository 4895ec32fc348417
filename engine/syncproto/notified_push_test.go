package syncproto

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/p2psync/libp2psync/engine/blip"
	"github.com/p2psync/libp2psync/engine/store"
	"github.com/p2psync/libp2psync/engine/syncproto/wire"
)

// A caught-up continuous pusher sends a small locally saved document as its commit
// notification carried it (store.Change.Doc) instead of reading it back, and what it sends
// is what the store holds: a new document, an update, a document saved twice in one
// commit (its latest revision), a deletion, and after a purge; a body over
// store.NotifiedBodyMax is read as before. Under CBMobile_3 (changes, then rev) and
// CBMobile_4 (proposeChanges with versions).
func TestPusherSendsNotifiedDocuments(t *testing.T) {
	t.Run("CBMobile_3", func(t *testing.T) {
		peer := &changesPeer{}
		s, coll, _ := pushPeerWith(t, SessionConfig{}, peer.handlers())
		last := func(id string) (wire.Rev, bool) {
			revs := peer.revsOf(id)
			if len(revs) == 0 {
				return wire.Rev{}, false
			}
			return revs[len(revs)-1], true
		}
		checkNotifiedPush(t, s, coll, PushOptions{Continuous: true}, last, func(d *store.Document) string { return d.RevID })
	})
	t.Run("CBMobile_4", func(t *testing.T) {
		var (
			mu   sync.Mutex
			revs = map[string][]wire.Rev{}
		)
		handlers := map[string]blip.Handler{
			wire.ProfileProposeChanges: func(ctx context.Context, req *blip.Message) (*blip.Message, error) {
				body, err := req.ReadBody()
				if err != nil {
					return nil, err
				}
				rows, err := wire.DecodeProposeChanges(body)
				if err != nil || len(rows) == 0 {
					return nil, err
				}
				return &blip.Message{Type: blip.TypeResponse, Body: wire.EncodeProposeChangesResponse(make([]wire.ProposeAnswer, len(rows)))}, nil
			},
			wire.ProfileRev: func(ctx context.Context, req *blip.Message) (*blip.Message, error) {
				body, err := req.ReadBody()
				if err != nil {
					return nil, err
				}
				rev, err := wire.DecodeRev(req.Properties, body)
				if err != nil {
					return nil, err
				}
				mu.Lock()
				revs[rev.DocID] = append(revs[rev.DocID], rev)
				mu.Unlock()
				return &blip.Message{Type: blip.TypeResponse}, nil
			},
		}
		s, coll := scriptedPeer4(t, handlers)
		saveDoc(t, coll, "a", `{"v":1}`)
		last := func(id string) (wire.Rev, bool) {
			mu.Lock()
			defer mu.Unlock()
			if len(revs[id]) == 0 {
				return wire.Rev{}, false
			}
			return revs[id][len(revs[id])-1], true
		}
		checkNotifiedPush(t, s, coll, PushOptions{Continuous: true, Propose: true}, last, func(d *store.Document) string { return d.Version })
	})
}

// checkNotifiedPush runs the steps of TestPusherSendsNotifiedDocuments; lastRev returns
// the last rev the peer received for a document, wireRev how a document's revision is
// named on the wire.
func checkNotifiedPush(t *testing.T, s *Session, coll *store.Collection, opts PushOptions, lastRev func(string) (wire.Rev, bool), wireRev func(*store.Document) string) {
	t.Helper()
	ctx := context.Background()
	p, err := s.StartPusher(0, opts)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "caught up", p.CaughtUp)
	// step commits with fn, waits until the pusher settled it, and checks that the peer
	// received doc id as the store holds it; notified says whether it was to be sent from
	// the commit notification (nil: either).
	yes, no := true, false
	step := func(what, id string, notified *bool, fn func()) {
		t.Helper()
		n0 := p.notified.Load()
		fn()
		last, _ := coll.LastSequence(ctx)
		waitFor(t, what+" settled", func() bool { return p.Settled() >= last })
		doc, err := coll.GetWithDeleted(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		waitFor(t, what+" received", func() bool {
			r, ok := lastRev(id)
			return ok && r.RevID == wireRev(doc)
		})
		r, _ := lastRev(id)
		body := string(doc.Body)
		if doc.Deleted {
			body = "{}"
		}
		if r.Deleted != doc.Deleted || string(r.Body) != body {
			t.Fatalf("%s: sent %s deleted=%v %.40s, the store holds %s deleted=%v %.40s", what, r.RevID, r.Deleted, r.Body, wireRev(doc), doc.Deleted, doc.Body)
		}
		if got := p.notified.Load() > n0; notified != nil && got != *notified {
			t.Fatalf("%s: sent from the notification: %v, want %v", what, got, *notified)
		}
	}
	step("new document", "n", &yes, func() { saveDoc(t, coll, "n", `{"x":1}`) })
	step("update", "n", &yes, func() { update(t, coll, "n", `{"x":2}`) })
	step("saved twice in one commit", "tw", &yes, func() {
		err := coll.Database().InBatch(ctx, func(b *store.Batch) error {
			d, err := b.Save(coll, "tw", []byte(`{"t":1}`), store.SaveOptions{})
			if err != nil {
				return err
			}
			_, err = b.Save(coll, "tw", []byte(`{"t":2}`), store.SaveOptions{ParentRevID: d.RevID})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	})
	if r, _ := lastRev("tw"); string(r.Body) != `{"t":2}` {
		t.Fatalf("tw sent as %s", r.Body)
	}
	step("deletion", "n", &yes, func() { remove(t, coll, "n") })
	big := fmt.Sprintf(`{"s":%q}`, strings.Repeat("b", store.NotifiedBodyMax))
	step("large body", "big", &no, func() { saveDoc(t, coll, "big", big) })
	// The purge makes the feed give up: the next row may come from a query.
	step("after a purge", "p", nil, func() {
		if err := coll.Purge(ctx, "tw"); err != nil {
			t.Fatal(err)
		}
		last, _ := coll.LastSequence(ctx)
		waitFor(t, "purge settled", func() bool { return p.Settled() >= last && p.CaughtUp() })
		saveDoc(t, coll, "p", `{"p":1}`)
	})
	step("caught up again", "q", &yes, func() { saveDoc(t, coll, "q", `{"q":1}`) })
	s.Close()
	waitDone(t, p)
}

// A one-shot push (rows from a changes query, not from notifications) sends the small
// documents as the query read them with the list (store.ChangesSinceWithDocs) rather
// than reading each one again, and sends what the store holds; a document over the
// per-row read cap is read before it is sent. Before, every row was read a second time.
func TestOneShotPushSendsDocumentsReadWithTheList(t *testing.T) {
	peer := &changesPeer{}
	s, coll, _ := pushPeerWith(t, SessionConfig{}, peer.handlers()) // holds "a"
	for i := 0; i < 30; i++ {
		saveDoc(t, coll, fmt.Sprintf("d%02d", i), fmt.Sprintf(`{"i":%d}`, i))
	}
	remove(t, coll, "d07")
	big := fmt.Sprintf(`{"s":%q}`, strings.Repeat("b", maxPrefetchBytes/200+10)) // over the cap of a 200-row list
	saveDoc(t, coll, "big", big)
	p, err := s.StartPusher(0, PushOptions{})
	if err != nil {
		t.Fatal(err)
	}
	waitDone(t, p)
	if err := p.Err(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	changes, err := coll.ChangesSince(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, ch := range changes {
		doc, err := coll.GetWithDeleted(ctx, ch.DocID)
		if err != nil {
			t.Fatal(err)
		}
		revs := peer.revsOf(ch.DocID)
		if len(revs) != 1 {
			t.Fatalf("%s: %d revs sent", ch.DocID, len(revs))
		}
		body := string(doc.Body)
		if doc.Deleted {
			body = "{}"
		}
		if r := revs[0]; r.RevID != doc.RevID || r.Deleted != doc.Deleted || string(r.Body) != body {
			t.Fatalf("%s: sent %s deleted=%v %.40s, the store holds %s deleted=%v %.40s", ch.DocID, r.RevID, r.Deleted, r.Body, doc.RevID, doc.Deleted, doc.Body)
		}
	}
	if got, want := p.notified.Load(), uint64(len(changes)-1); got != want {
		t.Fatalf("%d of %d documents sent as listed, want all but the big one (%d)", got, len(changes), want)
	}
}
