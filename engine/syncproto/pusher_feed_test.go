package syncproto

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/p2psync/libp2psync/engine/blip"
	"github.com/p2psync/libp2psync/engine/delta"
	"github.com/p2psync/libp2psync/engine/store"
	"github.com/p2psync/libp2psync/engine/syncproto/wire"
)

// The pusher in "changes" mode (the passive side serving subChanges) against a scripted
// puller: what its lists say, which revisions follow and with what history, what each
// rev reply does to the document and to the checkpoint, and the feed options.

// changesPeer plays a puller: it records every changes row and rev it receives, answers
// rows with want (nil: every row wanted, no known revisions) and revs with revReply
// (nil: accepted). props are set on every changes answer (maxHistory, deltas, blobs).
type changesPeer struct {
	want     func(wire.ChangeRow) (bool, []string)
	revReply func(wire.Rev) error
	props    blip.Properties

	mu       sync.Mutex
	lists    map[uint64][]wire.ChangeRow // by message number: handlers run concurrently
	caughtUp int
	revs     map[string][]wire.Rev // by document, in arrival order
}

func (c *changesPeer) handlers() map[string]blip.Handler {
	c.revs = map[string][]wire.Rev{}
	c.lists = map[uint64][]wire.ChangeRow{}
	return map[string]blip.Handler{
		wire.ProfileChanges: func(ctx context.Context, req *blip.Message) (*blip.Message, error) {
			body, err := req.ReadBody()
			if err != nil {
				return nil, err
			}
			rows, err := wire.DecodeChanges(body)
			if err != nil {
				return nil, err
			}
			c.mu.Lock()
			if len(rows) == 0 {
				c.caughtUp++
			} else {
				c.lists[req.Number] = rows
			}
			c.mu.Unlock()
			if len(rows) == 0 {
				return nil, nil
			}
			ans := make([]wire.ChangeAnswer, len(rows))
			for i, r := range rows {
				ans[i].Want = true
				if c.want != nil {
					ans[i].Want, ans[i].KnownRevs = c.want(r)
				}
			}
			resp := &blip.Message{Type: blip.TypeResponse, Body: wire.EncodeChangesResponse(ans)}
			for _, p := range c.props {
				resp.Properties.Set(p.Key, p.Value)
			}
			return resp, nil
		},
		wire.ProfileRev: func(ctx context.Context, req *blip.Message) (*blip.Message, error) {
			body, err := req.ReadBody()
			if err != nil {
				return nil, err
			}
			r, err := wire.DecodeRev(req.Properties, body)
			if err != nil {
				return nil, err
			}
			c.mu.Lock()
			c.revs[r.DocID] = append(c.revs[r.DocID], r)
			c.mu.Unlock()
			if c.revReply != nil {
				return nil, c.revReply(r)
			}
			return nil, nil
		},
	}
}

// rows returns every row received, in list order.
func (c *changesPeer) rows() []wire.ChangeRow {
	c.mu.Lock()
	defer c.mu.Unlock()
	nums := make([]uint64, 0, len(c.lists))
	for n := range c.lists {
		nums = append(nums, n)
	}
	sort.Slice(nums, func(i, j int) bool { return nums[i] < nums[j] })
	var out []wire.ChangeRow
	for _, n := range nums {
		out = append(out, c.lists[n]...)
	}
	return out
}

func (c *changesPeer) revsOf(id string) []wire.Rev {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]wire.Rev(nil), c.revs[id]...)
}

func rowIDs(rows []wire.ChangeRow) string {
	ids := make([]string, len(rows))
	for i, r := range rows {
		ids[i] = r.DocID
	}
	return strings.Join(ids, ",")
}

// pushToPeer runs a one-shot pusher with opts against peer (a fresh session, doc "a"
// saved first, then setup's documents) and waits until it has settled everything.
func pushToPeer(t *testing.T, peer *changesPeer, cfg SessionConfig, opts PushOptions, setup func(*store.Collection)) (*Session, *store.Collection, *Pusher) {
	t.Helper()
	s, coll, _ := pushPeerWith(t, cfg, peer.handlers())
	if setup != nil {
		setup(coll)
	}
	p := runPush(t, s, opts)
	last, _ := coll.LastSequence(context.Background())
	waitFor(t, "push settled", func() bool { return p.Settled() >= last })
	return s, coll, p
}

func update(t *testing.T, c *store.Collection, id, body string) string {
	t.Helper()
	d, err := c.Save(context.Background(), id, []byte(body), store.SaveOptions{ParentRevID: mustRev(t, c, id)})
	if err != nil {
		t.Fatal(err)
	}
	return d.RevID
}

func remove(t *testing.T, c *store.Collection, id string) string {
	t.Helper()
	d, err := c.Delete(context.Background(), id, store.SaveOptions{ParentRevID: mustRev(t, c, id)})
	if err != nil {
		t.Fatal(err)
	}
	return d.RevID
}

// A one-shot changes feed lists each document once at its current revision, in sequence
// order, tombstones flagged deleted; sends a rev for each wanted row with its history
// cut after the first revision the peer said it has; sends nothing for the others; ends
// with an empty list; and its checkpoint reaches the last sequence.
func TestPusherChangesFeed(t *testing.T) {
	ctx := context.Background()
	var b1, b3, c2 string
	peer := &changesPeer{}
	peer.want = func(r wire.ChangeRow) (bool, []string) {
		switch r.DocID {
		case "b":
			return true, []string{b1}
		case "d":
			return false, nil
		}
		return true, nil
	}
	s, coll, p := pushToPeer(t, peer, SessionConfig{}, PushOptions{}, func(c *store.Collection) {
		b1 = saveDoc(t, c, "b", `{"g":1}`)
		update(t, c, "b", `{"g":2}`)
		saveDoc(t, c, "c", `{}`)
		saveDoc(t, c, "d", `{"d":1}`)
		b3 = update(t, c, "b", `{"g":3}`)
		c2 = remove(t, c, "c")
	})
	rows := peer.rows()
	if got := rowIDs(rows); got != "a,d,b,c" {
		t.Fatalf("rows %s, want a,d,b,c (each document once, by sequence)", got)
	}
	var prev uint64
	for _, r := range rows {
		n, ok := r.Sequence.Uint()
		if !ok || n <= prev {
			t.Fatalf("rows %+v not in sequence order", rows)
		}
		prev = n
		if r.DocID == "b" && r.RevID != b3 || r.DocID == "c" && (r.RevID != c2 || !r.Deleted()) {
			t.Fatalf("row %+v, want the current revision (c deleted)", r)
		}
	}
	if revs := peer.revsOf("b"); len(revs) != 1 || revs[0].RevID != b3 || len(revs[0].History) != 2 || revs[0].History[1] != b1 ||
		string(revs[0].Body) != `{"g":3}` || revs[0].NoConflicts {
		t.Fatalf("rev of b: %+v; want generation 3 with history cut at %s", revs, b1)
	}
	if revs := peer.revsOf("c"); len(revs) != 1 || !revs[0].Deleted || string(revs[0].Body) != `{}` {
		t.Fatalf("rev of c: %+v; want a tombstone", revs)
	}
	if revs := peer.revsOf("d"); len(revs) != 0 {
		t.Fatalf("d was not wanted but sent: %+v", revs)
	}
	last, _ := coll.LastSequence(ctx)
	if p.Checkpoint() != last || p.Sent() != 3 || s.Stats().RevsSent != 3 {
		t.Fatalf("checkpoint %d (want %d), sent %d, stats %+v", p.Checkpoint(), last, p.Sent(), s.Stats())
	}
	// The empty list follows the last answer, so it can still be on its way when the
	// push reports itself settled: wait for it (bounded), then check it came once.
	waitFor(t, "the empty list", func() bool { peer.mu.Lock(); defer peer.mu.Unlock(); return peer.caughtUp > 0 })
	peer.mu.Lock()
	defer peer.mu.Unlock()
	if peer.caughtUp != 1 {
		t.Fatalf("%d empty lists, want one at the end", peer.caughtUp)
	}
}

// The history sent is no longer than the maxHistory the peer answered with.
func TestPusherHonoursMaxHistory(t *testing.T) {
	peer := &changesPeer{props: blip.Properties{{Key: "maxHistory", Value: "2"}}}
	var revs []string
	pushToPeer(t, peer, SessionConfig{}, PushOptions{}, func(c *store.Collection) {
		revs = append(revs, saveDoc(t, c, "h", `{"g":1}`))
		for g := 2; g <= 6; g++ {
			revs = append(revs, update(t, c, "h", fmt.Sprintf(`{"g":%d}`, g)))
		}
	})
	got := peer.revsOf("h")
	if len(got) != 1 || got[0].RevID != revs[5] {
		t.Fatalf("revs of h: %+v", got)
	}
	if h := got[0].History; len(h) == 0 || len(h) > 2 || h[0] != revs[4] {
		t.Fatalf("history %v, want at most 2 entries starting with the parent %s", h, revs[4])
	}
}

// Since, DocIDs, Filter and ActiveOnly decide which documents are listed.
func TestPusherFeedOptions(t *testing.T) {
	setup := func(c *store.Collection) {
		saveDoc(t, c, "b", `{"keep":true}`)
		saveDoc(t, c, "gone", `{}`)
		remove(t, c, "gone")
		saveDoc(t, c, "c", `{"keep":false}`)
	}
	for _, tc := range []struct {
		name string
		opts PushOptions
		want string
	}{
		{"all", PushOptions{}, "a,b,gone,c"},
		{"since", PushOptions{Since: 2}, "gone,c"},
		{"docIDs", PushOptions{DocIDs: []string{"c", "gone", "nothere"}}, "gone,c"},
		{"filter", PushOptions{Filter: func(d DocumentInfo) bool { return !strings.Contains(string(d.Body), `"keep":false`) }}, "a,b,gone"},
		{"activeOnly", PushOptions{ActiveOnly: true}, "a,b,c"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			peer := &changesPeer{want: func(wire.ChangeRow) (bool, []string) { return false, nil }}
			_, coll, p := pushToPeer(t, peer, SessionConfig{}, tc.opts, setup)
			if got := rowIDs(peer.rows()); got != tc.want {
				t.Fatalf("rows %s, want %s", got, tc.want)
			}
			// Rows left out of the feed still count for the checkpoint.
			last, _ := coll.LastSequence(context.Background())
			if p.Checkpoint() != last {
				t.Fatalf("checkpoint %d, want %d", p.Checkpoint(), last)
			}
		})
	}
}

// Each reply to a rev has its outcome: a refusal that is a verdict on the document
// (409, 403, 500) is reported with that status and counted done, so the checkpoint
// passes it; 502 (its blobs could not be fetched) is reported and held, so the
// checkpoint stays before it while the push still settles.
func TestPusherRevReplyStatuses(t *testing.T) {
	for _, code := range []int{409, 403, 500, 502} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			ctx := context.Background()
			var events eventLog
			peer := &changesPeer{revReply: func(r wire.Rev) error {
				if r.DocID == "x" {
					return &blip.Error{Domain: "HTTP", Code: code, Message: "no"}
				}
				return nil
			}}
			_, coll, p := pushToPeer(t, peer, SessionConfig{OnDocument: events.add}, PushOptions{}, func(c *store.Collection) {
				saveDoc(t, c, "x", `{}`)
				saveDoc(t, c, "y", `{}`)
			})
			evs := events.byDoc("x")
			var de *DocError
			if len(evs) != 1 || !errors.As(evs[0].Err, &de) || de.Code != code || evs[0].Direction != DirectionPush {
				t.Fatalf("events of x: %+v, want one document error %d", evs, code)
			}
			if evs := events.byDoc("y"); len(evs) != 1 || evs[0].Err != nil {
				t.Fatalf("events of y: %+v, want a success", evs)
			}
			last, _ := coll.LastSequence(ctx)
			want := last
			if code == 502 {
				want = last - 2 // before x
			}
			if p.Checkpoint() != want || p.Sent() != 2 {
				t.Fatalf("checkpoint %d, sent %d; want %d and 2 (a and y)", p.Checkpoint(), p.Sent(), want)
			}
		})
	}
}

// A delta is sent only to a peer that said deltas=true, against a revision it said it
// has, and only when applying it rebuilds the body byte for byte; a delta the peer
// refuses (422) is sent again whole.
func TestPusherDeltasOnlyWhenOffered(t *testing.T) {
	long := strings.Repeat("x", 300)
	base := `{"text":"` + long + `","n":1}`
	for _, tc := range []struct {
		name       string
		offered    bool
		refuse     bool
		reorder    bool // the new body moves a key: no delta rebuilds it exactly
		wantDeltas int
	}{
		{"offered", true, false, false, 1},
		{"not offered", false, false, false, 0},
		{"refused", true, true, false, 1},
		{"keys moved", true, false, true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			next := `{"text":"` + long + `","n":2}`
			if tc.reorder {
				next = `{"n":2,"text":"` + long + `"}`
			}
			var b1 string
			peer := &changesPeer{want: func(r wire.ChangeRow) (bool, []string) {
				if r.DocID == "big" {
					return true, []string{b1}
				}
				return false, nil
			}}
			if tc.offered {
				peer.props = blip.Properties{{Key: "deltas", Value: "true"}}
			}
			if tc.refuse {
				peer.revReply = func(r wire.Rev) error {
					if r.DeltaSrc != "" {
						return &blip.Error{Domain: "HTTP", Code: 422, Message: "no base"}
					}
					return nil
				}
			}
			s, _, p := pushToPeer(t, peer, SessionConfig{DeltaSync: true}, PushOptions{}, func(c *store.Collection) {
				b1 = saveDoc(t, c, "big", base)
				update(t, c, "big", next)
			})
			revs := peer.revsOf("big")
			deltas := 0
			for _, r := range revs {
				body := r.Body
				if r.DeltaSrc != "" {
					deltas++
					if r.DeltaSrc != b1 {
						t.Fatalf("delta against %s, want %s", r.DeltaSrc, b1)
					}
					var err error
					if body, err = delta.Apply([]byte(base), r.Body); err != nil {
						t.Fatal(err)
					}
				}
				if string(body) != next {
					t.Fatalf("rev rebuilds %s", body)
				}
			}
			if deltas != tc.wantDeltas {
				t.Fatalf("%d deltas among %d revs, want %d", deltas, len(revs), tc.wantDeltas)
			}
			if tc.refuse && (len(revs) != 2 || revs[1].DeltaSrc != "" || s.Stats().DeltaFallbacks != 1) {
				t.Fatalf("after the refused delta: revs %+v, stats %+v; want it sent again whole", revs, s.Stats())
			}
			if p.Sent() != 1 {
				t.Fatalf("sent %d, want 1", p.Sent())
			}
		})
	}
}

// proposeChanges carries each change's parent as the peer's known revision, and the
// accepted rev is sent with noconflicts and its history cut at that parent.
func TestPusherProposesWithRemoteParent(t *testing.T) {
	ctx := context.Background()
	var (
		mu        sync.Mutex
		proposals []wire.ProposedChange
		revs      []wire.Rev
	)
	s, coll, _ := pushPeerWith(t, SessionConfig{}, map[string]blip.Handler{
		wire.ProfileProposeChanges: func(ctx context.Context, req *blip.Message) (*blip.Message, error) {
			body, err := req.ReadBody()
			if err != nil {
				return nil, err
			}
			rows, err := wire.DecodeProposeChanges(body)
			if err != nil || len(rows) == 0 {
				return nil, err
			}
			mu.Lock()
			proposals = append(proposals, rows...)
			mu.Unlock()
			return &blip.Message{Type: blip.TypeResponse, Body: wire.EncodeProposeChangesResponse(make([]wire.ProposeAnswer, len(rows)))}, nil
		},
		wire.ProfileRev: func(ctx context.Context, req *blip.Message) (*blip.Message, error) {
			body, err := req.ReadBody()
			if err != nil {
				return nil, err
			}
			r, err := wire.DecodeRev(req.Properties, body)
			mu.Lock()
			revs = append(revs, r)
			mu.Unlock()
			return nil, err
		},
	})
	p1 := saveDoc(t, coll, "p", `{"g":1}`)
	if err := coll.SetRemoteAncestor(ctx, "peer", "p", p1); err != nil {
		t.Fatal(err)
	}
	p2 := update(t, coll, "p", `{"g":2}`)
	p3 := update(t, coll, "p", `{"g":3}`)
	runPush(t, s, PushOptions{Propose: true})
	waitFor(t, "revs", func() bool { mu.Lock(); defer mu.Unlock(); return len(revs) == 2 })
	mu.Lock()
	defer mu.Unlock()
	sort.Slice(proposals, func(i, j int) bool { return proposals[i].DocID < proposals[j].DocID })
	if len(proposals) != 2 || proposals[1] != (wire.ProposedChange{DocID: "p", RevID: p3, ParentRevID: p1}) || proposals[0].ParentRevID != "" {
		t.Fatalf("proposals %+v; want p %s over the peer's %s, a with no parent", proposals, p3, p1)
	}
	for _, r := range revs {
		if !r.NoConflicts {
			t.Fatalf("rev %+v sent without noconflicts", r)
		}
		if r.DocID == "p" && (len(r.History) != 2 || r.History[0] != p2 || r.History[1] != p1) {
			t.Fatalf("rev of p history %v, want [%s %s]", r.History, p2, p1)
		}
	}
}

// A revision superseded between the changes list and the rev (the document was edited
// meanwhile) is not lost: the peer gets that revision with its own body (or a norev for
// it when its body is gone), then, in a continuous feed, the newer revision in a later
// list, and the checkpoint reaches the last sequence.
func TestPusherRevisionSupersededMidFlight(t *testing.T) {
	ctx := context.Background()
	var coll *store.Collection
	var newer string
	var norevs []wire.NoRev
	peer := &changesPeer{}
	peer.want = func(r wire.ChangeRow) (bool, []string) {
		peer.mu.Lock()
		defer peer.mu.Unlock()
		if r.DocID == "e" && newer == "" {
			newer = update(t, coll, "e", `{"g":2}`)
		}
		return true, nil
	}
	handlers := peer.handlers()
	handlers[wire.ProfileNoRev] = func(ctx context.Context, req *blip.Message) (*blip.Message, error) {
		n, err := wire.DecodeNoRev(req.Properties)
		peer.mu.Lock()
		norevs = append(norevs, n)
		peer.mu.Unlock()
		return nil, err
	}
	s, c, _ := pushPeerWith(t, SessionConfig{}, handlers)
	coll = c
	first := saveDoc(t, coll, "e", `{"g":1}`)
	p, err := s.StartPusher(0, PushOptions{Continuous: true})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the newer revision", func() bool {
		last, _ := coll.LastSequence(ctx)
		return len(peer.revsOf("e")) >= 2 && p.Checkpoint() == last
	})
	peer.mu.Lock()
	defer peer.mu.Unlock()
	var gotFirst, gotNewer bool
	for _, r := range peer.revs["e"] {
		gotFirst = gotFirst || r.RevID == first && string(r.Body) == `{"g":1}`
		gotNewer = gotNewer || r.RevID == newer && string(r.Body) == `{"g":2}`
	}
	for _, n := range norevs {
		gotFirst = gotFirst || n.DocID == "e" && n.RevID == first
	}
	if !gotFirst || !gotNewer {
		t.Fatalf("revs %+v, norevs %+v; want %s answered (rev or norev) and %s sent", peer.revs["e"], norevs, first, newer)
	}
}
