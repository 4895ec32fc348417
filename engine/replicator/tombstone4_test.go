package replicator

import (
	"context"
	"testing"
	"time"

	"github.com/p2psync/libp2psync/engine/store"
)

// TestConcurrentTombstonesConvergeCBMobile4: both peers delete the same revision at the
// same time. The two tombstones have one rev-tree ID (it is a digest of the parent and
// the deletion) but two different versions; a one-shot push+pull must leave both sides
// with one version. (The chaos test once ended with each side holding its own
// tombstone version and the replicator idle: the pull judged the peer's tombstone the
// very local revision because the rev-tree IDs matched, and the push left the 409 to
// the pull.)
func TestConcurrentTombstonesConvergeCBMobile4(t *testing.T) {
	for _, localLater := range []bool{true, false} {
		name := map[bool]string{true: "local later", false: "remote later"}[localLater]
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			local, remote := openDB(t, "local"), openDB(t, "remote")
			lc, rc := local.DefaultCollection(), remote.DefaultCollection()
			save(t, lc, "doc", `{"side":"origin"}`)
			l := startListener(t, remote, nil)
			cfg := Config{Database: local, URL: localURL(l), Collections: []CollectionConfig{{Collection: lc}}}
			if st := runOneShot(t, newRepl4(t, cfg)); st.Error != nil {
				t.Fatalf("status %+v", st)
			}
			first, second := rc, lc
			if !localLater {
				first, second = lc, rc
			}
			if _, err := first.Delete(ctx, "doc", store.SaveOptions{}); err != nil {
				t.Fatal(err)
			}
			time.Sleep(2 * time.Millisecond)
			if _, err := second.Delete(ctx, "doc", store.SaveOptions{}); err != nil {
				t.Fatal(err)
			}
			ld, _ := lc.GetWithDeleted(ctx, "doc")
			rd, _ := rc.GetWithDeleted(ctx, "doc")
			if ld.RevID != rd.RevID || ld.Version == rd.Version {
				t.Fatalf("setup: local %s %s, remote %s %s: want one rev-tree ID, two versions", ld.RevID, ld.Version, rd.RevID, rd.Version)
			}
			r := newRepl4(t, cfg)
			var rec docRecorder
			rec.listen(r)
			if st := runOneShot(t, r); st.Error != nil {
				t.Fatalf("status %+v", st)
			}
			if errs := rec.errors(); len(errs) > 0 {
				t.Fatalf("document errors: %v", errs)
			}
			if diff := sameVersions(t, lc, rc, true); diff != "" {
				t.Fatalf("sides differ after one replication: %s", diff)
			}
			got, _ := lc.GetWithDeleted(ctx, "doc")
			if !got.Deleted {
				t.Fatalf("outcome not deleted: %+v", got)
			}
		})
	}
}
