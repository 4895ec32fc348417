package replicator

import (
	"context"
	"testing"

	"github.com/p2psync/libp2psync/engine/listener"
	"github.com/p2psync/libp2psync/engine/syncproto"
)

// With the listener's peer checkpoints capped, a replicator still saves its checkpoint
// on the listener and resumes from it (a second run sends nothing). When other clients
// push its checkpoint out (the cap counts every client ID), its next run finds none and
// compares every document again, but re-sends nothing and loses nothing, and its
// checkpoint is stored again.
func TestCheckpointCapResumeAndEviction(t *testing.T) {
	const n = 300
	ctx := context.Background()
	local, remote := openDB(t, "local"), openDB(t, "remote")
	saveN(t, local.DefaultCollection(), "d-", n)
	l := startListener(t, remote, func(c *listener.Config) { c.Limits = syncproto.Limits{MaxPeerCheckpoints: 2} })
	r := newRepl(t, Config{Database: local, URL: localURL(l), Type: Push})
	var rec docRecorder
	rec.listen(r)
	peerCP := "peer-checkpoint/" + r.clientIDs[0]
	extra := 0 // documents the other clients pushed
	run := func(what string, wantSent int) {
		t.Helper()
		before := rec.count(DirectionPush)
		if st := runOneShot(t, r); st.Error != nil {
			t.Fatalf("%s: %v", what, st.Error)
		}
		if sent := rec.count(DirectionPush) - before; sent != wantSent {
			t.Fatalf("%s: %d revisions sent, want %d", what, sent, wantSent)
		}
		if got := count(t, remote.DefaultCollection()); got != uint64(n+extra) {
			t.Fatalf("%s: the listener has %d documents, want %d", what, got, n+extra)
		}
		if _, _, err := remote.GetLocal(ctx, peerCP); err != nil {
			t.Fatalf("%s: the listener holds no checkpoint for the replicator: %v", what, err)
		}
	}
	run("first run", n)
	run("resumed run", 0)
	for _, name := range []string{"other1", "other2"} {
		other := openDB(t, name)
		saveN(t, other.DefaultCollection(), name+"-", 1)
		ro := newRepl(t, Config{Database: other, URL: localURL(l), Type: Push})
		if st := runOneShot(t, ro); st.Error != nil {
			t.Fatal(st.Error)
		}
		extra++
	}
	if _, _, err := remote.GetLocal(ctx, peerCP); err == nil {
		t.Fatal("two other clients' checkpoints did not evict the replicator's (cap 2)")
	}
	run("run after eviction", 0)
}
