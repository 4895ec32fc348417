package replicator

import (
	"context"
	"testing"

	"github.com/p2psync/libp2psync/engine/listener"
	"github.com/p2psync/libp2psync/engine/store"
	"github.com/p2psync/libp2psync/engine/syncproto"
)

// Delta sync under CBMobile_4: a replicator with delta sync negotiates CBMobile_4 (it
// used to keep to CBMobile_3), and the edits of both sides move as deltas named by
// version, shrinking the bytes on the wire as much as under CBMobile_3; the databases
// end with the same versions and bodies.
func TestDeltaSyncCBMobile4(t *testing.T) {
	const n = 15
	bytes := map[bool]Stats{}
	for _, v3 := range []bool{true, false} {
		name := "CBMobile_4"
		if v3 {
			name = "CBMobile_3"
		}
		t.Run(name, func(t *testing.T) {
			local, remote := openDB(t, "local"), openDB(t, "remote")
			lc, rc := local.DefaultCollection(), remote.DefaultCollection()
			fillDocs(t, lc, "l-", n, "bench", 0)
			fillDocs(t, rc, "r-", n, "bench", 0)
			l := startListener(t, remote, func(c *listener.Config) { c.EnableDeltaSync = true })
			cfg := Config{Database: local, URL: localURL(l), EnableDeltaSync: true, DisableCBMobile4: v3}
			want := syncproto.SubprotocolCBMobile4
			if v3 {
				want = syncproto.SubprotocolCBMobile3
			}
			if p := subprotocolOf(t, l, cfg); p != want {
				t.Fatalf("subprotocol %q with delta sync, want %q", p, want)
			}
			first := newRepl4(t, cfg)
			if st := runOneShot(t, first); st.Error != nil {
				t.Fatalf("first sync: %+v", st)
			}
			fillDocs(t, lc, "l-", n, "edit1", 1)
			fillDocs(t, rc, "r-", n, "edit1", 1)
			for _, c := range []*store.Collection{lc, rc} {
				prefix := "l-"
				if c == rc {
					prefix = "r-"
				}
				if _, err := c.Delete(context.Background(), prefix+"000", store.SaveOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			second := newRepl4(t, cfg)
			var rec docRecorder
			rec.listen(second)
			if st := runOneShot(t, second); st.Error != nil {
				t.Fatalf("second sync: %+v", st)
			}
			if errs := rec.errors(); len(errs) > 0 {
				t.Fatalf("document errors: %v", errs)
			}
			if diff := sameVersions(t, lc, rc, !v3); diff != "" {
				t.Fatalf("databases differ: %s", diff)
			}
			st := second.Stats()
			t.Logf("%s: %+v", name, st)
			if st.RevsSent != n || st.RevsReceived != n {
				t.Fatalf("revisions sent %d received %d, want %d each", st.RevsSent, st.RevsReceived, n)
			}
			// Every edit except the deletion goes as a delta, both ways (push: the
			// replicator's pusher; pull: the listener's).
			if st.DeltasSent != n-1 || st.DeltasReceived != n-1 {
				t.Fatalf("deltas sent %d received %d, want %d", st.DeltasSent, st.DeltasReceived, n-1)
			}
			if st.BytesSent*4 > st.FullBytesSent || st.BytesReceived*4 > st.FullBytesReceived {
				t.Fatalf("deltas did not shrink the bodies: %+v", st)
			}
			if st.DeltaFallbacks != 0 || st.DeltasRefused != 0 {
				t.Fatalf("unexpected fallbacks: %+v", st)
			}
			bytes[v3] = st
		})
	}
	// The same edits cost about the same under both (the delta format is the same; only
	// the base's name differs).
	if s3, s4 := bytes[true], bytes[false]; s3.RevsSent > 0 && s4.RevsSent > 0 {
		if s4.BytesSent > s3.BytesSent*3/2 || s4.BytesReceived > s3.BytesReceived*3/2 {
			t.Fatalf("CBMobile_4 deltas larger than CBMobile_3's: %+v against %+v", s4, s3)
		}
	}
}

// Under CBMobile_4 the pusher names the base by the version it recorded for the peer; a
// peer that no longer has it (the document purged there) refuses the delta and gets the
// full body at once.
func TestDeltaFallbackCBMobile4(t *testing.T) {
	local, remote := openDB(t, "local"), openDB(t, "remote")
	lc, rc := local.DefaultCollection(), remote.DefaultCollection()
	fillDocs(t, lc, "d-", 4, "bench", 0)
	l := startListener(t, remote, func(c *listener.Config) { c.EnableDeltaSync = true })
	cfg := Config{Database: local, URL: localURL(l), Type: Push, EnableDeltaSync: true}
	if st := runOneShot(t, newRepl4(t, cfg)); st.Error != nil {
		t.Fatalf("first push: %+v", st)
	}
	if err := rc.Purge(context.Background(), "d-001"); err != nil {
		t.Fatal(err)
	}
	fillDocs(t, lc, "d-", 4, "edit1", 1)
	second := newRepl4(t, cfg)
	var rec docRecorder
	rec.listen(second)
	if st := runOneShot(t, second); st.Error != nil {
		t.Fatalf("second push: %+v", st)
	}
	if errs := rec.errors(); len(errs) > 0 {
		t.Fatalf("document errors: %v", errs)
	}
	if diff := sameVersions(t, lc, rc, true); diff != "" {
		t.Fatalf("databases differ: %s", diff)
	}
	st := second.Stats()
	if st.DeltaFallbacks != 1 || st.DeltasSent != 3 || st.RevsSent != 4 {
		t.Fatalf("stats %+v, want one fallback and three deltas", st)
	}
}

// A conflict resolved under CBMobile_4 leaves both sides on one version whose body each
// side holds, and later edits of either side move as deltas against it.
func TestDeltaAfterResolvedConflictCBMobile4(t *testing.T) {
	ctx := context.Background()
	local, remote := openDB(t, "local"), openDB(t, "remote")
	lc, rc := local.DefaultCollection(), remote.DefaultCollection()
	fillDocs(t, lc, "c-", 3, "bench", 0)
	l := startListener(t, remote, func(c *listener.Config) { c.EnableDeltaSync = true })
	cfg := Config{Database: local, URL: localURL(l), EnableDeltaSync: true}
	run := func(what string) Stats {
		t.Helper()
		r := newRepl4(t, cfg)
		var rec docRecorder
		rec.listen(r)
		if st := runOneShot(t, r); st.Error != nil {
			t.Fatalf("%s: %+v", what, st)
		}
		if errs := rec.errors(); len(errs) > 0 {
			t.Fatalf("%s: document errors: %v", what, errs)
		}
		if diff := sameVersions(t, lc, rc, true); diff != "" {
			t.Fatalf("%s: databases differ: %s", what, diff)
		}
		return r.Stats()
	}
	run("first sync")
	// Both sides edit c-001: a conflict, resolved by the replicator as it pulls.
	save(t, lc, "c-001", deltaDoc("c-", 1, "local-edit", 2))
	save(t, rc, "c-001", deltaDoc("c-", 1, "remote-edit", 3))
	run("conflict")
	// Then each side edits it once more: each edit is a delta against the resolved
	// version.
	save(t, lc, "c-001", deltaDoc("c-", 1, "local-after", 4))
	if st := run("local edit after the resolution"); st.RevsSent != 1 || st.DeltasSent != 1 || st.DeltaFallbacks != 0 {
		t.Fatalf("local edit after the resolution: %+v, want one delta sent", st)
	}
	d, err := rc.Get(ctx, "c-001")
	if err != nil {
		t.Fatal(err)
	}
	save(t, rc, "c-001", deltaDoc("c-", 1, "remote-after", 5))
	if st := run("remote edit after the resolution"); st.RevsReceived != 1 || st.DeltasReceived != 1 || st.DeltasRefused != 0 {
		t.Fatalf("remote edit after the resolution (on %s): %+v, want one delta received", d.Version, st)
	}
}
