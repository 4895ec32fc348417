package replicator

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/p2psync/libp2psync/engine/blobstore"
	"github.com/p2psync/libp2psync/engine/listener"
	"github.com/p2psync/libp2psync/engine/store"
	"github.com/p2psync/libp2psync/engine/syncproto"
)

// A blob longer than the receiver's Limits.MaxBlobSize is refused before anything is
// written: the revision is answered HTTP/413 and reported, neither it nor the blob is
// stored, the other documents go on. Pulling, the row is held, so a later pull with a
// higher cap brings it; a blob of unknown length (a legacy attachment without "length")
// is cut off at the cap as it arrives. Pushing, the listener's cap refuses it the same way.
func TestBlobLargerThanMaxBlobSizeRefused(t *testing.T) {
	const limit = 64 << 10
	big := bytes.Repeat([]byte("0123456789abcdef"), 200<<10/16) // 200 KiB
	noTemp := func(t *testing.T, db *store.Database) {
		if left, _ := filepath.Glob(filepath.Join(db.Blobs().Dir(), "*.tmp")); len(left) > 0 {
			t.Errorf("temporary files left: %v", left)
		}
	}
	refused := func(t *testing.T, rec *docRecorder, id string) {
		t.Helper()
		errs := rec.errors()
		if len(errs) != 1 || !strings.HasPrefix(errs[0], id+": ") || !strings.Contains(errs[0], "413") || !strings.Contains(errs[0], "MaxBlobSize") {
			t.Fatalf("document errors %v, want one HTTP 413 for %s", errs, id)
		}
	}

	t.Run("pull", func(t *testing.T) {
		ctx := context.Background()
		a, b := openDB(t, "a"), openDB(t, "b")
		dict, d := putBlob(t, b, big, "application/octet-stream")
		save(t, b.DefaultCollection(), "big", `{"att":`+dict+`}`)
		save(t, b.DefaultCollection(), "small", `{"n":1}`)
		// A legacy attachment that announces no length, as a peer may send.
		other := append(bytes.Clone(big), '!')
		_, d2 := putBlob(t, b, other, "application/octet-stream")
		if _, err := b.DefaultCollection().PutExistingRevision(ctx, store.RemoteRevision{DocID: "nolength", RevID: "1-abc",
			Body: []byte(`{"_attachments":{"x.bin":{"digest":"` + d2.String() + `","stub":true}}}`)}); err != nil {
			t.Fatal(err)
		}
		l := startListener(t, b, nil)
		cfg := Config{Database: a, URL: localURL(l), Type: Pull, Limits: syncproto.Limits{MaxBlobSize: limit}}
		st, rec := oneShot(t, cfg)
		if st.Error != nil {
			t.Fatal(st.Error)
		}
		errs := rec.errors()
		if len(errs) != 2 || !strings.Contains(strings.Join(errs, "\n"), "big: ") || !strings.Contains(strings.Join(errs, "\n"), "nolength: ") {
			t.Fatalf("document errors %v, want big and nolength refused", errs)
		}
		for _, e := range errs {
			if !strings.Contains(e, "413") || !strings.Contains(e, "MaxBlobSize") {
				t.Errorf("document error %q, want HTTP 413 naming MaxBlobSize", e)
			}
		}
		for _, id := range []string{"big", "nolength"} {
			if _, err := a.DefaultCollection().Get(ctx, id); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("%s stored: %v", id, err)
			}
		}
		for _, dg := range []blobstore.Digest{d, d2} {
			if _, err := a.Blobs().Stat(dg); !errors.Is(err, blobstore.ErrNotFound) {
				t.Fatalf("blob %s stored: %v", dg, err)
			}
		}
		getDoc(t, a.DefaultCollection(), "small")
		noTemp(t, a)
		// The rows were held: with the default cap the next pull brings them.
		cfg.Limits = syncproto.Limits{}
		if st, rec := oneShot(t, cfg); st.Error != nil || len(rec.errors()) > 0 {
			t.Fatalf("second pull: %v %v", st.Error, rec.errors())
		}
		if got, err := blobContent(a, d); err != nil || !bytes.Equal(got, big) {
			t.Fatalf("blob after the second pull: %d bytes, %v", len(got), err)
		}
		if got, err := blobContent(a, d2); err != nil || !bytes.Equal(got, other) {
			t.Fatalf("legacy attachment after the second pull: %d bytes, %v", len(got), err)
		}
		getDoc(t, a.DefaultCollection(), "big")
		getDoc(t, a.DefaultCollection(), "nolength")
	})

	t.Run("push", func(t *testing.T) {
		a, b := openDB(t, "a"), openDB(t, "b")
		dict, d := putBlob(t, a, big, "application/octet-stream")
		save(t, a.DefaultCollection(), "big", `{"att":`+dict+`}`)
		save(t, a.DefaultCollection(), "small", `{"n":1}`)
		l := startListener(t, b, func(c *listener.Config) { c.Limits.MaxBlobSize = limit })
		st, rec := oneShot(t, Config{Database: a, URL: localURL(l), Type: Push})
		if st.Error != nil {
			t.Fatal(st.Error)
		}
		refused(t, rec, "big")
		if _, err := b.DefaultCollection().Get(context.Background(), "big"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("big stored: %v", err)
		}
		if _, err := b.Blobs().Stat(d); !errors.Is(err, blobstore.ErrNotFound) {
			t.Fatalf("blob stored: %v", err)
		}
		getDoc(t, b.DefaultCollection(), "small")
		noTemp(t, b)
	})
}
