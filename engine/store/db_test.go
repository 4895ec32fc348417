package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"sync"
	"testing"
	"time"
)

func openTest(t *testing.T, cfg Config) *Database {
	t.Helper()
	db, err := Open(context.Background(), filepath.Join(t.TempDir(), "db"), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	base := t.TempDir()
	file := filepath.Join(base, "file")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	corruptDir := filepath.Join(base, "corrupt")
	os.Mkdir(corruptDir, 0o755)
	os.WriteFile(filepath.Join(corruptDir, dbFileName), []byte(strings.Repeat("this is not a database ", 100)), 0o644)

	newerDir := filepath.Join(base, "newer")
	db, err := Open(ctx, newerDir, Config{})
	if err != nil {
		t.Fatal(err)
	}
	db.wconn.ExecContext(ctx, `UPDATE meta SET value = '99' WHERE key = 'schema_version'`)
	db.Close()

	tests := []struct {
		name string
		dir  string
		cfg  Config
		want error
		msg  string
	}{
		{"regular file", file, Config{}, ErrIO, "regular file"},
		{"below a regular file", filepath.Join(file, "db"), Config{}, ErrIO, "cannot use"},
		{"missing with NoCreate", filepath.Join(base, "missing"), Config{NoCreate: true}, ErrNotFound, "does not exist"},
		{"empty dir with NoCreate", base, Config{NoCreate: true}, ErrNotFound, "no database"},
		{"not a database", corruptDir, Config{}, ErrCorrupt, ""},
		{"newer schema", newerDir, Config{}, ErrCorrupt, "schema version"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db, err := Open(ctx, tt.dir, tt.cfg)
			if err == nil {
				db.Close()
			}
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("Open = %v, want %v mentioning %q", err, tt.want, tt.msg)
			}
		})
	}
	// The SQLite result code travels with the sentinel.
	_, err = Open(ctx, corruptDir, Config{})
	var se *SQLiteError
	if !errors.As(err, &se) || se.Code&0xff != sqliteNotADB {
		t.Fatalf("corrupt file error %v carries no SQLITE_NOTADB code", err)
	}
	// A failed open leaves no lock behind.
	os.Remove(filepath.Join(corruptDir, dbFileName))
	db, err = Open(ctx, corruptDir, Config{})
	if err != nil {
		t.Fatalf("open after removing the corrupt file: %v", err)
	}
	db.Close()
}

func TestOpenReadOnlyDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ro")
	os.Mkdir(dir, 0o500)
	defer os.Chmod(dir, 0o700)
	if os.Geteuid() == 0 {
		// Root ignores permission bits; sysfs refuses new files even to root.
		dir = "/sys/kernel"
		if f, err := os.Create(filepath.Join(dir, lockFileName)); err == nil || !errors.Is(err, os.ErrPermission) {
			if f != nil {
				f.Close()
			}
			t.Skip("running as root without a directory root cannot write to")
		}
	}
	_, err := Open(context.Background(), dir, Config{})
	if !errors.Is(err, ErrIO) || !strings.Contains(err.Error(), "not writable") {
		t.Fatalf("Open of a read-only directory = %v", err)
	}
}

func TestDeleteAndExists(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "db")
	if Exists(dir) {
		t.Fatal("Exists before creation")
	}
	if err := Delete(dir); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Delete of nothing = %v", err)
	}
	db, err := Open(ctx, dir, Config{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.DefaultCollection().Save(ctx, "a", []byte(`{}`), SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := Delete(dir); !errors.Is(err, ErrBusy) {
		t.Fatalf("Delete of an open database = %v", err)
	}
	db.Close()
	if err := Delete(dir); err != nil {
		t.Fatal(err)
	}
	if Exists(dir) {
		t.Fatal("Exists after Delete")
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("empty database directory left behind: %v", err)
	}
	db, err = Open(ctx, dir, Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if n, _ := db.DefaultCollection().Count(ctx); n != 0 {
		t.Fatalf("recreated database has %d documents", n)
	}
}

func TestCloseWithOpenBatch(t *testing.T) {
	db := openTest(t, Config{})
	b, err := db.BeginBatch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); !errors.Is(err, ErrBusy) {
		t.Fatalf("Close with open batch = %v", err)
	}
	if err := b.Rollback(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

// A batch whose SQL fails part-way (here: its context is cancelled) can only
// roll back, and leaves nothing behind.
func TestFailingBatchLeavesNothing(t *testing.T) {
	db := openTest(t, Config{})
	c := db.DefaultCollection()
	bg := context.Background()
	if _, err := c.Save(bg, "before", []byte(`{"v":1}`), SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(bg)
	b, err := db.BeginBatch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 100; i++ {
		if _, err := b.Save(c, fmt.Sprintf("d%d", i), []byte(`{}`), SaveOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.Save(c, "before", []byte(`{"v":2}`), SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	cancel()
	if _, err := b.Save(c, "after-cancel", []byte(`{}`), SaveOptions{}); err == nil {
		t.Fatal("save with a cancelled context succeeded")
	}
	if err := b.Commit(); err == nil {
		t.Fatal("commit of a failed batch succeeded")
	}
	if n, _ := c.Count(bg); n != 1 {
		t.Fatalf("count after failed batch = %d", n)
	}
	if d, _ := c.Get(bg, "before"); string(d.Body) != `{"v":1}` {
		t.Fatalf("failed batch changed a document: %s", d.Body)
	}
	if seq, _ := c.LastSequence(bg); seq != 1 {
		t.Fatalf("last sequence after failed batch = %d", seq)
	}
	// The writer is free again.
	if d, err := c.Save(bg, "next", []byte(`{}`), SaveOptions{}); err != nil || d.Sequence != 2 {
		t.Fatalf("save after failed batch: %v %v", d, err)
	}
	var rows int
	db.rdb.QueryRow("SELECT count(*) FROM " + docsTable(c.id)).Scan(&rows)
	if rows != 2 {
		t.Fatalf("%d rows in docs, want 2", rows)
	}
}

// Readers keep answering quickly while a long batch holds the writer.
func TestReadersNotBlockedByLongBatch(t *testing.T) {
	db := openTest(t, Config{})
	c := db.DefaultCollection()
	bg := context.Background()
	if _, err := c.Save(bg, "x", []byte(`{"v":1}`), SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	b, err := db.BeginBatch(bg)
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // keep the batch busy writing
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := b.Save(c, fmt.Sprintf("bulk%d", i), []byte(`{"pad":"................................"}`), SaveOptions{}); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	var worst time.Duration
	for i := 0; i < 200; i++ {
		start := time.Now()
		d, err := c.Get(bg, "x")
		if err != nil || string(d.Body) != `{"v":1}` {
			t.Fatalf("read during batch: %v %v", d, err)
		}
		worst = max(worst, time.Since(start))
	}
	close(stop)
	wg.Wait()
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	if worst > 2*time.Second {
		t.Fatalf("a read took %v while a batch was open", worst)
	}
}

func TestCountMatchesRows(t *testing.T) {
	db := openTest(t, Config{})
	c := db.DefaultCollection()
	ctx := context.Background()
	ops := []func(i int) error{
		func(i int) error { _, err := c.Save(ctx, fmt.Sprint(i%7), []byte(`{}`), SaveOptions{}); return err },
		func(i int) error { _, err := c.Delete(ctx, fmt.Sprint(i%7), SaveOptions{}); return err },
		func(i int) error { return c.Purge(ctx, fmt.Sprint(i%5)) },
		func(i int) error {
			_, err := c.PutExistingRevision(ctx, RemoteRevision{DocID: fmt.Sprint(i % 7), RevID: rid(40+i, 'c'), Deleted: i%2 == 0})
			return err
		},
	}
	for i := 0; i < 200; i++ {
		err := ops[(i*31)%len(ops)](i)
		if err != nil && !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrInvalidJSON) {
			t.Fatal(err)
		}
		var rows int64
		db.rdb.QueryRow("SELECT count(*) FROM " + docsTable(c.id) + " WHERE deleted = 0").Scan(&rows)
		if n, _ := c.Count(ctx); int64(n) != rows {
			t.Fatalf("step %d: Count = %d, live rows = %d", i, n, rows)
		}
	}
}

func TestMaxRevTreeDepthConfig(t *testing.T) {
	db := openTest(t, Config{MaxRevTreeDepth: 3})
	c := db.DefaultCollection()
	ctx := context.Background()
	for i := 0; i < 10; i++ {
		if _, err := c.Save(ctx, "d", []byte(fmt.Sprintf(`{"i":%d}`, i)), SaveOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	revs, err := c.Revisions(ctx, "d")
	if err != nil || len(revs) != 3 || !strings.HasPrefix(revs[0].RevID, "10-") {
		t.Fatalf("revisions with depth 3: %+v %v", revs, err)
	}
}

func TestCloseFromListenerDoesNotDeadlock(t *testing.T) {
	db, err := Open(context.Background(), t.TempDir(), Config{})
	if err != nil {
		t.Fatal(err)
	}
	closed := make(chan error, 1)
	db.DefaultCollection().AddChangeListener(func(CollectionChange) { closed <- db.Close() })
	if _, err := db.DefaultCollection().Save(context.Background(), "a", []byte(`{}`), SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close from a listener deadlocked")
	}
	// The notifier goroutine finishes once the callback returns.
	select {
	case <-db.notify.done:
	case <-time.After(10 * time.Second):
		t.Fatal("notifier goroutine still running after Close")
	}
}

// TestCloseLeavesNoGoroutines: every goroutine a database starts (change notifier,
// expiry purger, the SQL driver's) and everything they start in turn ends with Close.
// The test counts only those goroutines: Open and the calls run under a pprof label,
// which every goroutine they start inherits, so the databases of other tests (and what
// they start meanwhile, such as their own expiry purgers) do not count.
func TestCloseLeavesNoGoroutines(t *testing.T) {
	const label = "TestCloseLeavesNoGoroutines"
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		var err error
		pprof.Do(ctx, pprof.Labels("test", label), func(ctx context.Context) {
			err = openUseClose(ctx, filepath.Join(t.TempDir(), "db"))
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, stacks := labelledGoroutines("test", label)
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines started by the databases still run after Close:\n%s", n, stacks)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// openUseClose opens a database with a fast expiry purger, uses it (a change listener, a
// write, a read) and closes it.
func openUseClose(ctx context.Context, dir string) error {
	db, err := Open(ctx, dir, Config{ExpiryInterval: time.Millisecond})
	if err != nil {
		return err
	}
	c := db.DefaultCollection()
	tok := c.AddChangeListener(func(CollectionChange) {})
	if _, err := c.Save(ctx, "a", []byte(`{}`), SaveOptions{}); err != nil {
		db.Close()
		return err
	}
	if _, err := c.Get(ctx, "a"); err != nil {
		db.Close()
		return err
	}
	tok.Remove()
	time.Sleep(5 * time.Millisecond) // let the purger run at least once
	return db.Close()
}

// labelledGoroutines returns the number of live goroutines carrying the pprof label
// key=value, and their stacks.
func labelledGoroutines(key, value string) (int, string) {
	var buf bytes.Buffer
	if err := pprof.Lookup("goroutine").WriteTo(&buf, 1); err != nil {
		return -1, err.Error()
	}
	want := fmt.Sprintf("# labels: {%q:%q}", key, value)
	// debug=1: one record per distinct stack and labels: "<count> @ <pcs>", then
	// "# labels: {…}" when there are labels, then the frames.
	n := 0
	var stacks []string
	var rec []string
	flush := func() {
		if len(rec) > 1 && rec[1] == want {
			var count int
			if _, err := fmt.Sscanf(rec[0], "%d @", &count); err != nil {
				count = 1
			}
			n += count
			stacks = append(stacks, strings.Join(rec, "\n"))
		}
		rec = nil
	}
	for _, line := range strings.Split(buf.String(), "\n") {
		if strings.Contains(line, " @ ") && !strings.HasPrefix(line, "#") {
			flush()
		}
		if rec != nil || (strings.Contains(line, " @ ") && !strings.HasPrefix(line, "#")) {
			rec = append(rec, line)
		}
	}
	flush()
	return n, strings.Join(stacks, "\n")
}
