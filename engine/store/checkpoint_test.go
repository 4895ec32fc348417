package store

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func walSize(t *testing.T, dir string) int64 {
	t.Helper()
	st, err := os.Stat(filepath.Join(dir, dbFileName+"-wal"))
	if os.IsNotExist(err) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

// saveMany saves n documents of about size bytes, one commit each.
func saveMany(t *testing.T, c *Collection, prefix string, n, size int) {
	t.Helper()
	body := []byte(fmt.Sprintf(`{"text":%q}`, strings.Repeat("x", size)))
	for i := 0; i < n; i++ {
		if _, err := c.Save(context.Background(), fmt.Sprintf("%s%d", prefix, i), body, SaveOptions{}); err != nil {
			t.Fatal(err)
		}
	}
}

// A commit never checkpoints: with the checkpointer held back, the WAL keeps every page
// written (SQLite's automatic checkpoint would have copied it back at 1,000 pages, inside
// a commit); one check of the checkpointer then copies it all.
func TestCommitsDoNotCheckpoint(t *testing.T) {
	db := openTest(t, Config{checkpointDelay: time.Hour, walCap: 1 << 30})
	var auto int
	if err := db.wconn.QueryRowContext(context.Background(), "PRAGMA wal_autocheckpoint").Scan(&auto); err != nil || auto != 0 {
		t.Fatalf("writer wal_autocheckpoint %d %v, want 0", auto, err)
	}
	saveMany(t, db.DefaultCollection(), "d", 600, 9000) // two pages or more each
	pending, ok := db.ckpt.pendingPages()
	if !ok || pending < 1200 {
		t.Fatalf("WAL pages not checkpointed: %d %v, want all of them (>= 1200)", pending, ok)
	}
	db.ckpt.run()
	if pending, ok = db.ckpt.pendingPages(); !ok || pending != 0 || db.ckpt.passive.Load() != 1 {
		t.Fatalf("after one check: %d pages pending (%v), %d passive checkpoints", pending, ok, db.ckpt.passive.Load())
	}
	// Below the threshold a check copies nothing (and syncs nothing).
	saveMany(t, db.DefaultCollection(), "e", 3, 100)
	db.ckpt.run()
	if db.ckpt.passive.Load() != 1 || db.ckpt.skipped.Load() != 1 {
		t.Fatalf("small WAL: %d passive checkpoints, %d skipped checks", db.ckpt.passive.Load(), db.ckpt.skipped.Load())
	}
}

// Under a sustained write load the background checkpoints keep the WAL file bounded, also
// when a reader held a snapshot for a while (the cap's TRUNCATE checkpoint empties the WAL
// once it is released), and Close leaves a consistent database with no WAL.
func TestWALStaysBounded(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "db")
	const walCap = 1 << 20
	db, err := Open(ctx, dir, Config{checkpointDelay: time.Millisecond, walCap: walCap, checkpointPages: 16})
	if err != nil {
		t.Fatal(err)
	}
	c := db.DefaultCollection()
	// About 16 MB of WAL frames (400 commits of five 8 KB pages or so).
	var peak int64
	for round := 0; round < 20; round++ {
		saveMany(t, c, fmt.Sprintf("r%d-", round), 20, 4000)
		time.Sleep(3 * time.Millisecond) // let a check run now and then
		peak = max(peak, walSize(t, dir))
	}
	if db.ckpt.passive.Load() == 0 {
		t.Fatal("no background checkpoint ran")
	}
	// How far past the cap the file gets depends on how late the checks run on a busy
	// machine (the race detector and other tests); that it goes back under the cap while
	// writes continue does not.
	t.Logf("WAL peak %d bytes for about 16 MB written (cap %d; %d passive, %d truncate, %d skipped checks)",
		peak, walCap, db.ckpt.passive.Load(), db.ckpt.truncates.Load(), db.ckpt.skipped.Load())
	settleUnderCap := func(what string) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for walSize(t, dir) > walCap {
			if time.Now().After(deadline) {
				t.Fatalf("WAL still %d bytes %s (%d truncates)", walSize(t, dir), what, db.ckpt.truncates.Load())
			}
			saveMany(t, c, "settle-", 1, 100) // a commit arms the next check
			time.Sleep(5 * time.Millisecond)
		}
	}
	settleUnderCap("after the load")

	// A reader holding a snapshot keeps the WAL from being reused: it grows past the cap.
	tx, err := db.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := tx.QueryRow(`SELECT count(*) FROM ` + docsTable(c.id)).Scan(&n); err != nil {
		t.Fatal(err)
	}
	saveMany(t, c, "pinned-", 200, 8000)
	if size := walSize(t, dir); size <= walCap {
		t.Fatalf("WAL %d bytes with a snapshot held, expected it past the cap %d", size, walCap)
	}
	tx.Rollback()
	settleUnderCap("after the reader left")
	if db.ckpt.truncates.Load() == 0 {
		t.Fatal("the WAL went back under its cap without a TRUNCATE checkpoint")
	}
	count, err := c.Count(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if size := walSize(t, dir); size != 0 {
		t.Fatalf("WAL of %d bytes left after Close", size)
	}
	raw, err := sql.Open("sqlite", sqliteDSN(filepath.Join(dir, dbFileName)))
	if err != nil {
		t.Fatal(err)
	}
	var check string
	if err := raw.QueryRow("PRAGMA integrity_check").Scan(&check); err != nil || check != "ok" {
		t.Fatalf("integrity check: %q %v", check, err)
	}
	raw.Close()
	db, err = Open(ctx, dir, Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if again, err := db.DefaultCollection().Count(ctx); err != nil || again != count {
		t.Fatalf("after reopening: %d documents (%v), want %d", again, err, count)
	}
}

// A writer committing back to back, never letting go of SQLite's write lock for long,
// does not starve the TRUNCATE checkpoint: the WAL is emptied while the writes go on.
func TestWALEmptiedUnderBackToBackCommits(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "db")
	const walCap = 1 << 20
	db, err := Open(ctx, dir, Config{checkpointDelay: time.Millisecond, walCap: walCap, checkpointPages: 16})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	c := db.DefaultCollection()
	body := []byte(`{"text":"` + strings.Repeat("y", 1000) + `"}`)
	var peak int64
	for i := 0; i < 300 && db.ckpt.emptied.Load() < 3; i++ {
		err := db.InBatch(ctx, func(b *Batch) error {
			for k := 0; k < 20; k++ {
				if _, err := b.Save(c, fmt.Sprintf("b%d-%d", i, k), body, SaveOptions{}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		peak = max(peak, walSize(t, dir))
	}
	if db.ckpt.emptied.Load() < 3 {
		t.Fatalf("WAL emptied %d times under back-to-back commits (%d TRUNCATE tries, %d passive; peak %d bytes)",
			db.ckpt.emptied.Load(), db.ckpt.truncates.Load(), db.ckpt.passive.Load(), peak)
	}
	t.Logf("WAL peak %d bytes (cap %d)", peak, walCap)
}
