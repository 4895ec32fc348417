package store_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/p2psync/libp2psync/engine/store"
)

// A batch's context may be cancelled at any moment, also while COMMIT runs (a replication
// session ending mid-insert does that). Whatever Commit returns must be the truth: an
// error means nothing was written, success means everything was; and the collection's
// sequence must stay in step with the database, so that later writes still work. Before
// the fix a COMMIT interrupted by the cancellation could succeed while Commit reported
// the context error and rolled the in-memory sequence back, after which every insert
// failed with "UNIQUE constraint failed: seq".
func TestBatchCancelledAtAnyMoment(t *testing.T) {
	ctx := context.Background()
	db := openTempDB(t)
	c := db.DefaultCollection()
	committed := 0
	for i := 0; i < 300; i++ {
		bctx, cancel := context.WithCancel(ctx)
		id := fmt.Sprintf("doc-%03d", i)
		// Cancel from another goroutine after a random short delay: while the batch
		// writes, before its commit, during it or after it.
		delay := time.Duration(rand.IntN(1500)) * time.Microsecond
		err := db.InBatch(bctx, func(b *store.Batch) error {
			go func() {
				time.Sleep(delay)
				cancel()
			}()
			for j := 0; j < 20; j++ {
				if _, err := b.Save(c, fmt.Sprintf("%s-%02d", id, j), []byte(`{"v":1}`), store.SaveOptions{}); err != nil {
					return err
				}
			}
			return nil
		})
		cancel()
		_, getErr := c.Get(ctx, id+"-00")
		switch {
		case err == nil:
			committed++
			if getErr != nil {
				t.Fatalf("round %d: Commit succeeded but the document is missing: %v", i, getErr)
			}
		case !errors.Is(err, context.Canceled):
			t.Fatalf("round %d: batch failed with %v, want a cancellation", i, err)
		case errors.Is(getErr, store.ErrNotFound):
			// Refused and nothing written: fine.
		default:
			t.Fatalf("round %d: Commit returned %v, yet the document reads %v", i, err, getErr)
		}
		// The sequence is still right: an ordinary write works.
		if _, err := c.Save(ctx, "probe", []byte(fmt.Sprintf(`{"round":%d}`, i)), store.SaveOptions{}); err != nil {
			t.Fatalf("round %d: write after the cancelled batch: %v", i, err)
		}
	}
	t.Logf("%d of 300 batches committed", committed)
}
