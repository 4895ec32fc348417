package store

import (
	"context"
	"reflect"
	"testing"

	"github.com/p2psync/libp2psync/engine/hlv"
)

// newFirstVersion gives what newVersion gives on an empty vector (a later time, as two
// calls would), and persists the clock the same way.
func TestNewFirstVersionIsNewVersionOfNothing(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, t.TempDir(), Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.InBatch(ctx, func(b *Batch) error {
		for i := 0; i < 3; i++ {
			general, err := b.newVersion(hlv.Vector{})
			if err != nil {
				return err
			}
			first, err := b.newFirstVersion()
			if err != nil {
				return err
			}
			if first.Current.Time <= general.Current.Time {
				t.Fatalf("first %v not after %v", first, general)
			}
			first.Current.Time = general.Current.Time
			if !reflect.DeepEqual(first, general) || db.vectorText(first) != general.String() {
				t.Fatalf("newFirstVersion %#v, newVersion %#v", first, general)
			}
			if db.clockMark < db.clock.Last() {
				t.Fatalf("clock mark %d below the clock %d", db.clockMark, db.clock.Last())
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
