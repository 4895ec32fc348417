package syncproto

import (
	"context"
	"strings"
	"testing"

	"github.com/p2psync/libp2psync/engine/blip"
	"github.com/p2psync/libp2psync/engine/store"
	"github.com/p2psync/libp2psync/engine/syncproto/wire"
)

// The passive side (a listener connection) driven by hand, as a Couchbase Lite client
// would: getCollections, checkpoints kept per client and collection, subChanges and its
// options, and a read-only listener refusing what would write.

func collProps(idx string, ps ...blip.Property) blip.Properties {
	return append(blip.Properties{{Key: "collection", Value: idx}}, ps...)
}

// getCollections must come first; it maps each requested path to a served collection or
// null, returns each one's checkpoint, and from then on every request names its
// collection: checkpoints are kept per client ID, a missing collection is refused.
func TestPassiveGetCollections(t *testing.T) {
	ctx := context.Background()
	remote := openDB(t)
	named, err := remote.CreateCollection(ctx, "s", "c")
	if err != nil {
		t.Fatal(err)
	}
	peer := servePassive(t, remote, PassiveConfig{Collections: []*store.Collection{remote.DefaultCollection(), named}, AllowPull: true})

	// Not first: refused.
	late := dialBare(t, peer.url, nil)
	if _, err := request(t, late, wire.ProfileGetCheckpoint, blip.Properties{{Key: "client", Value: "x"}}, ""); err == nil {
		t.Fatal("getCheckpoint on a fresh legacy connection found a checkpoint")
	}
	gc := wire.GetCollectionsRequest{CheckpointIDs: []string{"cp0", "cp1", "cp2"}, Collections: []string{"_default", "s.c", "s.missing"}}
	_, err = request(t, late, wire.ProfileGetCollections, nil, string(gc.Encode()))
	replyError(t, err, "BLIP", 400)

	c := dialBare(t, peer.url, nil)
	reply, err := request(t, c, wire.ProfileGetCollections, nil, string(gc.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := reply.ReadBody()
	entries, err := wire.DecodeGetCollectionsResponse(body, 3)
	if err != nil {
		t.Fatalf("answer %s: %v", body, err)
	}
	if entries[0].Missing || entries[0].Body != nil || entries[1].Missing || !entries[2].Missing {
		t.Fatalf("answer %s, want two served collections without checkpoints and a null", body)
	}
	_, err = request(t, c, wire.ProfileGetCollections, nil, string(gc.Encode()))
	replyError(t, err, "BLIP", 400) // only once
	// Every request names its collection now.
	_, err = request(t, c, wire.ProfileGetCheckpoint, blip.Properties{{Key: "client", Value: "cp1"}}, "")
	replyError(t, err, "BLIP", 400)
	_, err = request(t, c, wire.ProfileGetCheckpoint, collProps("2", blip.Property{Key: "client", Value: "cp2"}), "")
	replyError(t, err, "BLIP", 404)
	_, err = request(t, c, wire.ProfileGetCheckpoint, collProps("x", blip.Property{Key: "client", Value: "cp2"}), "")
	replyError(t, err, "BLIP", 400)
	r, err := request(t, c, wire.ProfileSetCheckpoint, collProps("1", blip.Property{Key: "client", Value: "cp1"}), `{"remote":12}`)
	if err != nil {
		t.Fatal(err)
	}
	rev := r.Properties.Get("rev")

	// A new connection gets the checkpoint back through getCollections.
	c2 := dialBare(t, peer.url, nil)
	reply, err = request(t, c2, wire.ProfileGetCollections, nil, string(gc.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	body, _ = reply.ReadBody()
	entries, err = wire.DecodeGetCollectionsResponse(body, 3)
	if err != nil {
		t.Fatal(err)
	}
	cp, err := wire.DecodeCheckpoint(entries[1].Body)
	if err != nil || entries[1].Rev != rev || string(cp.Remote) != "12" || entries[0].Body != nil {
		t.Fatalf("answer %s: checkpoint of s.c %+v rev %q (want remote 12, rev %q), %v", body, cp, entries[1].Rev, rev, err)
	}
	// Malformed getCollections bodies are refused.
	c3 := dialBare(t, peer.url, nil)
	_, err = request(t, c3, wire.ProfileGetCollections, nil, `{"checkpoint_ids":["a"],"collections":[]}`)
	replyError(t, err, "HTTP", 400)
}

// Checkpoints kept for peers: created without a revision, replaced only with the
// current one (a stale or missing revision is a conflict), separate per client ID;
// client IDs that are empty or oversized are refused.
func TestPassiveCheckpointRevisions(t *testing.T) {
	remote := openDB(t)
	peer := servePassive(t, remote, PassiveConfig{Collections: []*store.Collection{remote.DefaultCollection()}, AllowPull: true})
	c := dialBare(t, peer.url, nil)
	set := func(client, rev, body string) (string, error) {
		props := blip.Properties{{Key: "client", Value: client}}
		if rev != "" {
			props = append(props, blip.Property{Key: "rev", Value: rev})
		}
		r, err := request(t, c, wire.ProfileSetCheckpoint, props, body)
		if err != nil {
			return "", err
		}
		return r.Properties.Get("rev"), nil
	}
	get := func(client string) (string, string, error) {
		r, err := request(t, c, wire.ProfileGetCheckpoint, blip.Properties{{Key: "client", Value: client}}, "")
		if err != nil {
			return "", "", err
		}
		b, _ := r.ReadBody()
		return string(b), r.Properties.Get("rev"), nil
	}
	r1, err := set("A", "", `{"local":1}`)
	if err != nil || r1 == "" {
		t.Fatalf("create: %q %v", r1, err)
	}
	r2, err := set("A", r1, `{"local":2}`)
	if err != nil || r2 == "" || r2 == r1 {
		t.Fatalf("update with the current rev: %q %v", r2, err)
	}
	_, err = set("A", r1, `{"local":3}`)
	replyError(t, err, "HTTP", 409)
	_, err = set("A", "", `{"local":3}`)
	replyError(t, err, "HTTP", 409)
	if body, rev, err := get("A"); err != nil || body != `{"local":2}` || rev != r2 {
		t.Fatalf("A: %s %q %v, want the second one", body, rev, err)
	}
	if _, err := set("B", "", `{"local":9}`); err != nil {
		t.Fatal(err)
	}
	if body, _, err := get("A"); err != nil || body != `{"local":2}` {
		t.Fatalf("A after B was saved: %s %v", body, err)
	}
	_, err = set(strings.Repeat("k", maxClientIDLen+1), "", `{}`)
	replyError(t, err, "BLIP", 400)
	_, _, err = get(strings.Repeat("k", maxClientIDLen+1))
	replyError(t, err, "BLIP", 400)
	// A body that is not a checkpoint is the client's mistake (400), not a reason to
	// retry later: before, an empty or null body reached the store and was answered 503,
	// which a client takes as transient and retries for ever.
	for _, body := range []string{`[1,2]`, ``, `null`, `"text"`} {
		_, err = set("A", r2, body)
		replyError(t, err, "HTTP", 400)
	}
	if body, rev, err := get("A"); err != nil || body != `{"local":2}` || rev != r2 {
		t.Fatalf("A after refused bodies: %s %q %v", body, rev, err)
	}
}

// listen returns a changes peer asking for nothing, for a bare client's subChanges.
func listen() *changesPeer {
	return &changesPeer{want: func(wire.ChangeRow) (bool, []string) { return false, nil }}
}

// subscribe sends subChanges on a new bare connection answered by cc and waits until
// the feed has caught up.
func subscribe(t *testing.T, url string, cc *changesPeer, props blip.Properties, body string) {
	t.Helper()
	c := dialBare(t, url, cc.handlers())
	if _, err := request(t, c, wire.ProfileSubChanges, props, body); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "caught up", func() bool { cc.mu.Lock(); defer cc.mu.Unlock(); return cc.caughtUp > 0 })
}

// subChanges options reach the feed: since, docIDs (body), activeOnly, batch; a
// continuous feed sends changes made after it caught up.
func TestPassiveSubChangesOptions(t *testing.T) {
	ctx := context.Background()
	remote := openDB(t)
	rc := remote.DefaultCollection()
	saveDoc(t, rc, "a", `{}`)
	saveDoc(t, rc, "b", `{}`)
	saveDoc(t, rc, "gone", `{}`)
	if _, err := rc.Delete(ctx, "gone", store.SaveOptions{ParentRevID: mustRev(t, rc, "gone")}); err != nil {
		t.Fatal(err)
	}
	saveDoc(t, rc, "c", `{}`)
	peer := servePassive(t, remote, PassiveConfig{Collections: []*store.Collection{rc}, AllowPull: true})
	for _, tc := range []struct {
		name string
		sub  wire.SubChanges
		want string
	}{
		{"all", wire.SubChanges{}, "a,b,gone,c"},
		{"since", wire.SubChanges{Since: "2"}, "gone,c"},
		{"docIDs", wire.SubChanges{DocIDs: []string{"b", "c"}}, "b,c"},
		{"activeOnly", wire.SubChanges{ActiveOnly: true}, "a,b,c"},
		{"batch", wire.SubChanges{Batch: 1}, "a,b,gone,c"},
		{"future", wire.SubChanges{Future: true}, ""}, // only changes made from now on
	} {
		t.Run(tc.name, func(t *testing.T) {
			cc := listen()
			props := blip.Properties{}
			for _, p := range tc.sub.Props() {
				props = append(props, blip.Property{Key: p.Key, Value: p.Value})
			}
			subscribe(t, peer.url, cc, props, string(tc.sub.Body()))
			if got := rowIDs(cc.rows()); got != tc.want {
				t.Fatalf("rows %s, want %s", got, tc.want)
			}
		})
	}
	t.Run("continuous", func(t *testing.T) {
		cc := listen()
		subscribe(t, peer.url, cc, blip.Properties{{Key: "continuous", Value: "true"}, {Key: "since", Value: "4"}}, "")
		saveDoc(t, rc, "later", `{}`)
		waitFor(t, "the later change", func() bool { return rowIDs(cc.rows()) == "c,later" })
	})
}

// A pull-only listener refuses every request that would write: proposeChanges, changes
// and rev are answered HTTP/403 and nothing is saved.
func TestPassiveReadOnlyRefusesWrites(t *testing.T) {
	ctx := context.Background()
	remote := openDB(t)
	peer := servePassive(t, remote, PassiveConfig{Collections: []*store.Collection{remote.DefaultCollection()}, AllowPull: true})
	c := dialBare(t, peer.url, nil)
	_, err := request(t, c, wire.ProfileChanges, nil, `[[1,"d","1-aa"]]`)
	replyError(t, err, "HTTP", 403)
	_, err = request(t, c, wire.ProfileRev, revProps("d", "1-aa", "1"), `{}`)
	replyError(t, err, "HTTP", 403)
	_, err = request(t, c, wire.ProfileProposeChanges, nil, `[["d","1-aa"]]`)
	replyError(t, err, "HTTP", 403)
	if _, err := remote.DefaultCollection().GetWithDeleted(ctx, "d"); err == nil {
		t.Fatal("a read-only listener saved a pushed document")
	}
}

// The passive puller's proposeChanges rule: a new document without a parent is
// accepted, with a parent it is a conflict; a revision held already is 304 (also an
// older one); the current revision as parent is accepted, as is a new document over a
// tombstone; anything else is a conflict naming the current revision when asked
// (conflictIncludesRev). Then a rev with noconflicts is saved only where it extends
// the current revision.
func TestPassiveProposeChangesRule(t *testing.T) {
	ctx := context.Background()
	remote := openDB(t)
	rc := remote.DefaultCollection()
	cur1 := saveDoc(t, rc, "cur", `{}`)
	cur2, err := rc.Save(ctx, "cur", []byte(`{"g":2}`), store.SaveOptions{ParentRevID: cur1})
	if err != nil {
		t.Fatal(err)
	}
	dead := saveDoc(t, rc, "dead", `{}`)
	if _, err := rc.Delete(ctx, "dead", store.SaveOptions{ParentRevID: dead}); err != nil {
		t.Fatal(err)
	}
	peer := servePassive(t, remote, PassiveConfig{Collections: []*store.Collection{rc}, AllowPush: true})
	c := dialBare(t, peer.url, nil)
	other := "2-" + strings.Repeat("0", 32)
	next := "3-" + strings.Repeat("3", 32)
	rows := []wire.ProposedChange{
		{DocID: "new", RevID: "1-" + strings.Repeat("1", 32)},                        // accepted
		{DocID: "orphan", RevID: other, ParentRevID: "1-" + strings.Repeat("9", 32)}, // 409
		{DocID: "cur", RevID: cur2.RevID, ParentRevID: cur1},                         // 304
		{DocID: "cur", RevID: cur1},                                                  // 304 (older, held)
		{DocID: "cur", RevID: next, ParentRevID: cur2.RevID},                         // accepted
		{DocID: "dead", RevID: "1-" + strings.Repeat("5", 32)},                       // accepted over the tombstone
		{DocID: "cur", RevID: other, ParentRevID: cur1},                              // 409, current named
	}
	reply, err := request(t, c, wire.ProfileProposeChanges, blip.Properties{{Key: "conflictIncludesRev", Value: "true"}}, string(wire.EncodeProposeChanges(rows)))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := reply.ReadBody()
	ans, err := wire.DecodeProposeChangesResponse(body, len(rows))
	if err != nil {
		t.Fatalf("answer %s: %v", body, err)
	}
	want := []int{0, 409, 304, 304, 0, 0, 409}
	for i, a := range ans {
		if a.Status != want[i] {
			t.Fatalf("answer %s: row %d (%+v) got %d, want %d", body, i, rows[i], a.Status, want[i])
		}
	}
	if ans[6].CurrentRev != cur2.RevID {
		t.Fatalf("conflict answer %+v, want the current revision %s", ans[6], cur2.RevID)
	}
	// Without conflictIncludesRev the current revision is not named.
	reply, err = request(t, c, wire.ProfileProposeChanges, nil, string(wire.EncodeProposeChanges(rows[6:])))
	if err != nil {
		t.Fatal(err)
	}
	body, _ = reply.ReadBody()
	if ans, err := wire.DecodeProposeChangesResponse(body, 1); err != nil || ans[0].Status != 409 || ans[0].CurrentRev != "" {
		t.Fatalf("answer %s without conflictIncludesRev: %+v %v", body, ans, err)
	}
	nc := blip.Property{Key: "noconflicts", Value: "true"}
	if err := sendRevReq(t, c, revProps("cur", next, "5", nc, blip.Property{Key: "history", Value: cur2.RevID + "," + cur1}), `{"g":3}`); err != nil {
		t.Fatal(err)
	}
	err = sendRevReq(t, c, revProps("cur", "3-"+strings.Repeat("4", 32), "6", nc, blip.Property{Key: "history", Value: other + "," + cur1}), `{"g":"x"}`)
	replyError(t, err, "HTTP", 409)
	if d, err := rc.Get(ctx, "cur"); err != nil || d.RevID != next || string(d.Body) != `{"g":3}` {
		t.Fatalf("cur: %+v %v, want %s", d, err, next)
	}
}

func sendRevReq(t *testing.T, c *blip.Conn, props blip.Properties, body string) error {
	t.Helper()
	_, err := request(t, c, wire.ProfileRev, props, body)
	return err
}

// A continuous feed opened with activeOnly skips the tombstones already there but sends
// deletions made later; with docIDs it sends later changes of those documents only.
func TestPassiveContinuousFeedFilters(t *testing.T) {
	remote := openDB(t)
	rc := remote.DefaultCollection()
	saveDoc(t, rc, "old", `{}`)
	remove(t, rc, "old")
	saveDoc(t, rc, "live", `{}`)
	peer := servePassive(t, remote, PassiveConfig{Collections: []*store.Collection{rc}, AllowPull: true})
	open := func(props blip.Properties, body string) *changesPeer {
		cc := listen()
		subscribe(t, peer.url, cc, props, body)
		return cc
	}
	active := open(blip.Properties{{Key: "continuous", Value: "true"}, {Key: "activeOnly", Value: "true"}}, "")
	only := open(blip.Properties{{Key: "continuous", Value: "true"}}, `{"docIDs":["live"]}`)
	if rowIDs(active.rows()) != "live" || rowIDs(only.rows()) != "live" {
		t.Fatalf("initial rows %v and %v, want live", active.rows(), only.rows())
	}
	saveDoc(t, rc, "other", `{}`)
	remove(t, rc, "live")
	waitFor(t, "the later deletion", func() bool { return rowIDs(active.rows()) == "live,other,live" })
	waitFor(t, "the later deletion (docIDs)", func() bool { return rowIDs(only.rows()) == "live,live" })
	if rows := active.rows(); !rows[2].Deleted() || rows[0].Deleted() {
		t.Fatalf("rows %+v: the later row of live must be its deletion", rows)
	}
}

// A legacy client (no getCollections) of a listener that does not serve the default
// collection gets every request refused (BLIP/404), not another collection's data.
func TestPassiveLegacyWithoutDefaultCollection(t *testing.T) {
	ctx := context.Background()
	remote := openDB(t)
	named, err := remote.CreateCollection(ctx, "s", "c")
	if err != nil {
		t.Fatal(err)
	}
	saveDoc(t, named, "n", `{}`)
	peer := servePassive(t, remote, PassiveConfig{Collections: []*store.Collection{named}, AllowPull: true, AllowPush: true})
	c := dialBare(t, peer.url, nil)
	_, err = request(t, c, wire.ProfileGetCheckpoint, blip.Properties{{Key: "client", Value: "x"}}, "")
	replyError(t, err, "BLIP", 404)
	_, err = request(t, c, wire.ProfileSubChanges, nil, "")
	replyError(t, err, "BLIP", 404)
	_, err = request(t, c, wire.ProfileProposeChanges, nil, `[["d","1-aa"]]`)
	replyError(t, err, "BLIP", 404)
}
