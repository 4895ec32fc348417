package syncproto

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/p2psync/libp2psync/engine/blip"
	"github.com/p2psync/libp2psync/engine/delta"
	"github.com/p2psync/libp2psync/engine/hlv"
	"github.com/p2psync/libp2psync/engine/store"
	"github.com/p2psync/libp2psync/engine/syncproto/wire"
)

// pushToPeer4 is pushToPeer over CBMobile_4, with delta sync on.
func pushToPeer4(t *testing.T, peer *changesPeer, setup func(*store.Collection)) (*Session, *store.Collection, *Pusher) {
	t.Helper()
	s, coll, _ := scriptedPeerOn(t, []string{SubprotocolCBMobile4}, SessionConfig{DeltaSync: true}, peer.handlers(), nil)
	if !s.VersionVectors() {
		t.Fatalf("subprotocol %s, want CBMobile_4", s.Subprotocol())
	}
	setup(coll)
	p := runPush(t, s, PushOptions{})
	last, _ := coll.LastSequence(context.Background())
	waitFor(t, "push settled", func() bool { return p.Settled() >= last })
	return s, coll, p
}

// A pusher serving a pull under CBMobile_4 (changes mode) sends a version as a delta
// against the first revision the puller says it has whose body it still holds: a version
// (its current revision's parent here), named by that version in deltaSrc, or a rev-tree
// ID; with none, or when the puller refuses the delta, the body goes whole.
func TestVersionDeltaPusher(t *testing.T) {
	long := strings.Repeat("x", 300)
	body := func(n int) string { return fmt.Sprintf(`{"text":%q,"n":%d}`, long, n) }
	other := hlv.Version{Time: uint64(time.Now().Add(-time.Hour).UnixNano()), Source: "dnZwcm9iZS1zb3VyY2UtQQ"}.String()
	for _, tc := range []struct {
		name   string
		saves  int                                 // saves of "big" (the last one is sent)
		known  func(vs []*store.Document) []string // the puller's known revisions
		refuse bool                                // the puller answers a delta 422
		base   func(vs []*store.Document) string   // the expected deltaSrc ("" = whole body)
		from   int                                 // the save the delta applies to
	}{
		{"parent's version", 2, func(vs []*store.Document) []string { return []string{vs[0].Version, vs[0].RevID} },
			false, func(vs []*store.Document) string { return vs[0].Version }, 0},
		{"unknown version, then a rev-tree ID", 2, func(vs []*store.Document) []string { return []string{other, vs[0].RevID} },
			false, func(vs []*store.Document) string { return vs[0].RevID }, 0},
		{"unknown version only", 2, func(vs []*store.Document) []string { return []string{other} },
			false, func([]*store.Document) string { return "" }, 0},
		{"body no longer kept", 3, func(vs []*store.Document) []string { return []string{vs[0].Version} },
			false, func([]*store.Document) string { return "" }, 0},
		{"refused", 2, func(vs []*store.Document) []string { return []string{vs[0].Version} },
			true, func(vs []*store.Document) string { return vs[0].Version }, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var vs []*store.Document
			peer := &changesPeer{props: blip.Properties{{Key: "deltas", Value: "true"}}, want: func(r wire.ChangeRow) (bool, []string) {
				return true, tc.known(vs)
			}}
			if tc.refuse {
				peer.revReply = func(r wire.Rev) error {
					if r.DeltaSrc != "" {
						return &blip.Error{Domain: "HTTP", Code: 422, Message: "no base"}
					}
					return nil
				}
			}
			s, _, p := pushToPeer4(t, peer, func(c *store.Collection) {
				for i := 0; i < tc.saves; i++ {
					d, err := c.Save(context.Background(), "big", []byte(body(i)), store.SaveOptions{})
					if err != nil {
						t.Fatal(err)
					}
					vs = append(vs, d)
				}
			})
			last := vs[len(vs)-1]
			if rows := peer.rows(); len(rows) != 1 || rows[0].RevID != last.Version {
				t.Fatalf("rows %+v, want the current version %s", rows, last.Version)
			}
			revs := peer.revsOf("big")
			if len(revs) == 0 || revs[0].RevID != last.Version {
				t.Fatalf("revs %+v", revs)
			}
			if want := tc.base(vs); revs[0].DeltaSrc != want {
				t.Fatalf("deltaSrc %q, want %q", revs[0].DeltaSrc, want)
			}
			for _, r := range revs {
				got := r.Body
				if r.DeltaSrc != "" {
					var err error
					if got, err = delta.Apply([]byte(body(tc.from)), r.Body); err != nil {
						t.Fatal(err)
					}
				}
				if string(got) != string(last.Body) {
					t.Fatalf("rev (deltaSrc %q) rebuilds %s, want %s", r.DeltaSrc, got, last.Body)
				}
			}
			st := s.Stats()
			if tc.refuse {
				if len(revs) != 2 || revs[1].DeltaSrc != "" || st.DeltaFallbacks != 1 || st.DeltasSent != 0 {
					t.Fatalf("after the refused delta: revs %d (second deltaSrc %q), stats %+v; want it sent again whole", len(revs), revs[len(revs)-1].DeltaSrc, st)
				}
			} else if len(revs) != 1 || (revs[0].DeltaSrc != "") != (st.DeltasSent == 1) {
				t.Fatalf("revs %d, stats %+v", len(revs), st)
			}
			if p.Sent() != 1 {
				t.Fatalf("sent %d, want 1", p.Sent())
			}
		})
	}
}

// A puller under CBMobile_4 names its current version first among the revisions it has,
// and applies a delta whose deltaSrc is a version to its body of that version: the
// current revision's, or its parent's (kept); a version whose body it no longer holds
// (pruned by the retention rule), or never had, is refused HTTP/422 and nothing is
// stored, the row waiting for the whole body.
func TestVersionDeltaPuller(t *testing.T) {
	ctx := context.Background()
	var p *Puller
	s, coll, peer := scriptedPeerOn(t, []string{SubprotocolCBMobile4}, SessionConfig{DeltaSync: true}, nil, func(s *Session) {
		var err error
		if p, err = s.AddPuller(0, PullOptions{Active: true}); err != nil {
			t.Fatal(err)
		}
	})
	if !s.VersionVectors() {
		t.Fatalf("subprotocol %s", s.Subprotocol())
	}
	const src = "dnZwcm9iZS1zb3VyY2UtQQ"
	t0 := uint64(time.Now().Add(-time.Hour).UnixNano()) &^ 0xffff
	ver := func(i int) string { return hlv.Version{Time: t0 + uint64(i)<<16, Source: src}.String() }
	long := strings.Repeat("y", 250)
	body := func(i int) string { return fmt.Sprintf(`{"text":%q,"n":%d}`, long, i) }
	deltaFrom := func(from, to int) string {
		d, err := delta.Create([]byte(body(from)), []byte(body(to)))
		if err != nil {
			t.Fatal(err)
		}
		return string(d)
	}
	changes := func(seq, i int) string {
		return sendChanges(t, peer, fmt.Sprintf(`[[%d,"d",%q]]`, seq, ver(i)))
	}
	rev := func(seq, i int, deltaSrc, b string) error {
		props := revProps("d", ver(i), fmt.Sprint(seq))
		if deltaSrc != "" {
			props = append(props, blip.Property{Key: "deltaSrc", Value: deltaSrc})
		}
		return sendRev(t, peer, props, b)
	}
	if ans := changes(1, 1); ans != "[[]]" {
		t.Fatalf("answer for a new document: %s", ans)
	}
	if err := rev(1, 1, "", body(1)); err != nil {
		t.Fatal(err)
	}
	cur, err := coll.Get(ctx, "d")
	if err != nil {
		t.Fatal(err)
	}
	if ans, want := changes(2, 2), fmt.Sprintf(`[[%q,%q]]`, ver(1), cur.RevID); ans != want {
		t.Fatalf("answer %s, want %s (the current version first: the delta base)", ans, want)
	}
	// Against the current version.
	if err := rev(2, 2, ver(1), deltaFrom(1, 2)); err != nil {
		t.Fatal(err)
	}
	if got := bodyOf(t, coll, "d"); got != body(2) {
		t.Fatalf("after the delta against the current version: %s", got)
	}
	changes(3, 3)
	if err := rev(3, 3, "", body(3)); err != nil {
		t.Fatal(err)
	}
	// ver(1) is now the grandparent: its body was dropped. ver(2), the parent, is kept.
	changes(4, 4)
	replyError(t, rev(4, 4, ver(1), deltaFrom(1, 4)), "HTTP", 422)
	replyError(t, rev(4, 4, hlv.Version{Time: t0, Source: "b3RoZXItc291cmNlLWhlcmU"}.String(), deltaFrom(1, 4)), "HTTP", 422)
	if d, err := coll.Get(ctx, "d"); err != nil || d.Version != ver(3) || string(d.Body) != body(3) {
		t.Fatalf("after the refused deltas: %+v, %v; want version 3 unchanged", d, err)
	}
	if p.Pending() != 1 {
		t.Fatalf("pending %d after the refused deltas, want 1", p.Pending())
	}
	if err := rev(4, 4, ver(2), deltaFrom(2, 4)); err != nil {
		t.Fatal(err)
	}
	if d, err := coll.Get(ctx, "d"); err != nil || d.Version != ver(4) || string(d.Body) != body(4) {
		t.Fatalf("after the delta against the kept parent: %+v, %v", d, err)
	}
	st := s.Stats()
	if st.DeltasReceived != 2 || st.DeltasRefused != 2 || st.RevsReceived != 4 {
		t.Fatalf("stats %+v, want 2 deltas received and 2 refused", st)
	}
	waitFor(t, "rows settled", func() bool { return p.Pending() == 0 })
}
