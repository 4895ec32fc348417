package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// makeDB creates a closed database with n documents and returns its directory.
func makeDB(t *testing.T, n int) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "db")
	db, err := Open(context.Background(), dir, Config{})
	if err != nil {
		t.Fatal(err)
	}
	err = db.InBatch(context.Background(), func(b *Batch) error {
		for i := 0; i < n; i++ {
			body := fmt.Sprintf(`{"n":%d,"text":%q}`, i, strings.Repeat("x", 300))
			if _, err := b.Save(db.DefaultCollection(), fmt.Sprintf("doc-%05d", i), []byte(body), SaveOptions{}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, dbFileName+"-wal")); err == nil {
		t.Fatal("the write-ahead log was not checkpointed on close")
	}
	return dir
}

// openCorrupt opens dir and expects ErrCorrupt with a message containing msg; it must
// return promptly and leave the file as it was.
func openCorrupt(t *testing.T, dir, msg string) {
	t.Helper()
	path := filepath.Join(dir, dbFileName)
	before, _ := os.ReadFile(path)
	for _, cfg := range []Config{{}, {NoCreate: true}} {
		start := time.Now()
		db, err := Open(context.Background(), dir, cfg)
		if err == nil {
			db.Close()
			t.Fatalf("Open(%+v) succeeded", cfg)
		}
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), msg) {
			t.Fatalf("Open(%+v) = %v; want ErrCorrupt mentioning %q", cfg, err, msg)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Fatalf("Open took %v", d)
		}
	}
	after, err := os.ReadFile(path)
	if err != nil || string(after) != string(before) {
		t.Fatalf("a refused open changed the file (%v)", err)
	}
}

func TestOpenZeroLengthFileIsCorrupt(t *testing.T) {
	dir := makeDB(t, 10)
	if err := os.Truncate(filepath.Join(dir, dbFileName), 0); err != nil {
		t.Fatal(err)
	}
	openCorrupt(t, dir, "empty (0 bytes)")

	// A zero-length file in a fresh directory (no database ever opened there) too.
	dir2 := filepath.Join(t.TempDir(), "fresh")
	os.Mkdir(dir2, 0o755)
	os.WriteFile(filepath.Join(dir2, dbFileName), nil, 0o644)
	openCorrupt(t, dir2, "empty (0 bytes)")
}

func TestOpenTruncatedFileIsCorrupt(t *testing.T) {
	dir := makeDB(t, 300)
	path := filepath.Join(dir, dbFileName)
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	full, _ := os.ReadFile(path)
	for _, size := range []int64{1, 50, 99, 100, 4096, st.Size() / 2, st.Size()/2 + 123, st.Size() - 4096, st.Size() - 1} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			if err := os.WriteFile(path, full[:size], 0o644); err != nil {
				t.Fatal(err)
			}
			msg := "truncated"
			if size < 100 {
				msg = "too short"
			}
			openCorrupt(t, dir, msg)
		})
	}
	// Restored, it opens again with every document.
	if err := os.WriteFile(path, full, 0o644); err != nil {
		t.Fatal(err)
	}
	db, err := Open(context.Background(), dir, Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if n, err := db.DefaultCollection().Count(context.Background()); err != nil || n != 300 {
		t.Fatalf("count %d %v", n, err)
	}
}

func TestOpenGarbageFileIsCorrupt(t *testing.T) {
	dir := makeDB(t, 10)
	path := filepath.Join(dir, dbFileName)
	garbage := make([]byte, 64<<10)
	for i := range garbage {
		garbage[i] = byte(i*7919 + i>>8)
	}
	os.WriteFile(path, garbage, 0o644)
	openCorrupt(t, dir, "not a database file")

	// A real SQLite file that is not ours is refused, not taken over.
	foreign := filepath.Join(t.TempDir(), "foreign")
	os.Mkdir(foreign, 0o755)
	other, err := Open(context.Background(), filepath.Join(t.TempDir(), "other"), Config{})
	if err != nil {
		t.Fatal(err)
	}
	other.wconn.ExecContext(context.Background(), `CREATE TABLE app (x)`)
	other.wconn.ExecContext(context.Background(), `DROP TABLE meta`)
	other.Close()
	data, _ := os.ReadFile(filepath.Join(other.dir, dbFileName))
	os.WriteFile(filepath.Join(foreign, dbFileName), data, 0o644)
	openCorrupt(t, foreign, "not a libp2psync database")
}

// A crash while a database is created leaves at most the temporary file, never an
// empty db.sqlite3; the next Open discards it and creates the database.
func TestCreationInterruptedByCrash(t *testing.T) {
	for _, leftover := range [][]byte{nil, []byte("partial garbage")} {
		dir := filepath.Join(t.TempDir(), "db")
		os.Mkdir(dir, 0o755)
		tmp := filepath.Join(dir, dbFileName+creatingSuffix)
		os.WriteFile(tmp, leftover, 0o644)
		os.WriteFile(tmp+"-journal", []byte("stale"), 0o644)
		if Exists(dir) {
			t.Fatal("a leftover temporary file counts as a database")
		}
		if _, err := Open(context.Background(), dir, Config{NoCreate: true}); !errors.Is(err, ErrNotFound) {
			t.Fatalf("NoCreate: %v", err)
		}
		db, err := Open(context.Background(), dir, Config{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.DefaultCollection().Save(context.Background(), "a", []byte(`{}`), SaveOptions{}); err != nil {
			t.Fatal(err)
		}
		db.Close()
		for _, name := range []string{dbFileName + creatingSuffix, dbFileName + creatingSuffix + "-journal"} {
			if _, err := os.Stat(filepath.Join(dir, name)); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("%s left behind: %v", name, err)
			}
		}
	}
}

// A write-ahead log whose database file is missing is not applied to a new database.
func TestOrphanWALRefused(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	os.Mkdir(dir, 0o755)
	os.WriteFile(filepath.Join(dir, dbFileName+"-wal"), []byte("frames of a lost database"), 0o644)
	_, err := Open(context.Background(), dir, Config{})
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("Open = %v", err)
	}
	if Exists(dir) {
		t.Fatal("a database file was created")
	}
	// An empty one is only a leftover.
	os.WriteFile(filepath.Join(dir, dbFileName+"-wal"), nil, 0o644)
	db, err := Open(context.Background(), dir, Config{})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
}
