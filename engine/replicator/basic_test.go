package replicator

import (
	"testing"
	"time"

	"github.com/p2psync/libp2psync/engine/listener"
	"github.com/p2psync/libp2psync/engine/syncproto"
)

func TestOneShot(t *testing.T) {
	tests := []struct {
		name               string
		typ                Type
		localN, remoteN    int
		wantLocal, wantRem uint64
	}{
		{"push", Push, 250, 0, 250, 250},
		{"pull", Pull, 0, 300, 300, 300},
		{"push and pull", PushAndPull, 120, 80, 200, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			local, remote := openDB(t, "local"), openDB(t, "remote")
			saveN(t, local.DefaultCollection(), "l-", tt.localN)
			saveN(t, remote.DefaultCollection(), "r-", tt.remoteN)
			l := startListener(t, remote, nil)
			r := newRepl(t, Config{Database: local, URL: localURL(l), Type: tt.typ})
			var rec docRecorder
			rec.listen(r)
			st := runOneShot(t, r)
			if st.Error != nil || st.Activity != Stopped {
				t.Fatalf("final status %+v", st)
			}
			if got := count(t, local.DefaultCollection()); got != tt.wantLocal {
				t.Errorf("local has %d docs, want %d", got, tt.wantLocal)
			}
			if got := count(t, remote.DefaultCollection()); got != tt.wantRem {
				t.Errorf("remote has %d docs, want %d", got, tt.wantRem)
			}
			if tt.typ == PushAndPull && !sameDocs(t, local.DefaultCollection(), remote.DefaultCollection()) {
				t.Error("collections differ")
			}
			if errs := rec.errors(); len(errs) > 0 {
				t.Errorf("document errors: %v", errs)
			}
			if got := rec.count(DirectionPush); got != tt.localN {
				t.Errorf("push events %d, want %d", got, tt.localN)
			}
			if got := rec.count(DirectionPull); got != tt.remoteN {
				t.Errorf("pull events %d, want %d", got, tt.remoteN)
			}
		})
	}
}

func TestContinuous(t *testing.T) {
	local, remote := openDB(t, "local"), openDB(t, "remote")
	l := startListener(t, remote, nil)
	r := newRepl(t, Config{Database: local, URL: localURL(l), Continuous: true})
	if err := r.Start(false); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "idle", func() bool { return r.Status().Activity == Idle })
	lc, rc := local.DefaultCollection(), remote.DefaultCollection()
	save(t, lc, "from-local", `{"a":1}`)
	eventually(t, 5*time.Second, "push propagation", func() bool { _, err := rc.Get(t.Context(), "from-local"); return err == nil })
	save(t, rc, "from-remote", `{"b":2}`)
	eventually(t, 5*time.Second, "pull propagation", func() bool { _, err := lc.Get(t.Context(), "from-remote"); return err == nil })
	// An update of a pulled document goes back as a child revision.
	d, _ := lc.Get(t.Context(), "from-remote")
	save(t, lc, "from-remote", `{"b":3}`)
	eventually(t, 5*time.Second, "update propagation", func() bool {
		got, err := rc.Get(t.Context(), "from-remote")
		return err == nil && string(got.Body) == `{"b":3}`
	})
	_ = d
	eventually(t, 5*time.Second, "converged", func() bool { return sameDocs(t, lc, rc) })
	r.Stop()
	if st := r.Status(); st.Activity != Stopped || st.Error != nil {
		t.Fatalf("after stop: %+v", st)
	}
}

// Any deflate level (or none) on either end is understood by the other.
func TestCompressionLevels(t *testing.T) {
	tests := []struct {
		name            string
		local, listener int
	}{
		{"fastest, uncompressed listener", 1, -1},
		{"smallest, level 3 listener", 9, 3},
		{"uncompressed, default listener", -1, 0},
	}
	sent := map[int]uint64{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			local, remote := openDB(t, "local"), openDB(t, "remote")
			saveN(t, local.DefaultCollection(), "l-compressible-document-", 150)
			saveN(t, remote.DefaultCollection(), "r-", 100)
			l := startListener(t, remote, func(c *listener.Config) { c.Limits.CompressionLevel = tt.listener })
			r := newRepl(t, Config{Database: local, URL: localURL(l), Limits: syncproto.Limits{CompressionLevel: tt.local}})
			st := runOneShot(t, r)
			if st.Error != nil || st.Activity != Stopped {
				t.Fatalf("final status %+v", st)
			}
			if !sameDocs(t, local.DefaultCollection(), remote.DefaultCollection()) {
				t.Error("collections differ")
			}
			sent[tt.local] = r.TransferStats().BytesSent
		})
	}
	if sent[-1] <= sent[9] {
		t.Errorf("bytes sent uncompressed %d, at level 9 %d", sent[-1], sent[9])
	}
}
