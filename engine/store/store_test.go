package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/p2psync/libp2psync/engine/store"
	"github.com/p2psync/libp2psync/engine/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) *store.Database {
		db, err := store.Open(context.Background(), t.TempDir()+"/db", store.Config{ExpiryInterval: 20 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		return db
	})
}

// openTempDB opens a new database in a temporary directory, closed when the test ends.
func openTempDB(t *testing.T) *store.Database {
	t.Helper()
	db, err := store.Open(context.Background(), t.TempDir()+"/db", store.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
