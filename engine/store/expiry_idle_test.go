package store

import (
	"context"
	"errors"
	"testing"
	"time"
)

// The expiry loop stops reading the database once no document has an expiration, and
// looks again (and purges) after a commit gives one an expiration.
func TestExpiryLoopIdleWithoutExpirations(t *testing.T) {
	db := openTest(t, Config{ExpiryInterval: 2 * time.Millisecond})
	ctx := context.Background()
	c := db.DefaultCollection()
	if _, err := c.Save(ctx, "plain", []byte(`{"a":1}`), SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	// waitRuns waits (bounded) until the loop has read the database more than n times.
	waitRuns := func(n uint64) {
		t.Helper()
		for i := 0; db.expiryRuns.Load() <= n; i++ {
			if i > 5000 {
				t.Fatalf("the expiry loop did not run (runs %d)", db.expiryRuns.Load())
			}
			time.Sleep(time.Millisecond)
		}
	}
	waitRuns(0)
	// After a pass that found no expiration, many ticks go by without a read.
	time.Sleep(20 * time.Millisecond) // lets a pass that began before the check end
	idle := db.expiryRuns.Load()
	time.Sleep(50 * time.Millisecond) // ~25 ticks
	if got := db.expiryRuns.Load(); got != idle {
		t.Fatalf("the expiry loop read the database %d times with no expiration set", got-idle)
	}
	// An expiration wakes it: the document is purged.
	if _, err := c.Save(ctx, "brief", []byte(`{"a":2}`), SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := c.SetExpiration(ctx, "brief", time.Now().Add(10*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	waitRuns(idle)
	for i := 0; ; i++ {
		if _, err := c.Get(ctx, "brief"); errors.Is(err, ErrNotFound) {
			break
		}
		if i > 5000 {
			t.Fatal("the expiring document was not purged")
		}
		time.Sleep(time.Millisecond)
	}
	if _, err := c.Get(ctx, "plain"); err != nil {
		t.Fatalf("the document without expiration: %v", err)
	}
}
