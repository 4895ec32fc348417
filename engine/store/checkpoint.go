package store

import (
	"context"
	"database/sql"
	"encoding/binary"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Checkpoints. In WAL mode a commit appends pages to db.sqlite3-wal; a checkpoint copies
// them back into db.sqlite3 and syncs both files, after which the next writer starts the
// WAL over from its beginning. SQLite's default runs that checkpoint inside the commit
// that takes the WAL past 1,000 pages, so one small save now and then waited 5–60 ms for
// the copy and its fsyncs. Here the writer runs with wal_autocheckpoint=0 and a
// checkpointer, on a connection of its own, does the work off the commit path: a commit
// arms it (no wake-up, only a timer), and checkpointDelay later it looks at the WAL's
// header in the -shm file and runs a PASSIVE checkpoint (which never waits for nor blocks
// the writer or the readers) once the WAL holds checkpointPages pages not yet copied.
// Nothing is synced for smaller amounts, as with SQLite's own policy, so an idle or
// lightly written database costs no more I/O than before.
//
// A PASSIVE checkpoint copies only the pages committed before it began, and the WAL
// starts over only when a writer finds every page copied, so under a steady stream of
// commits (a bulk import, a one-shot pull) or while readers hold old snapshots the WAL
// would keep growing. Once it passes walCap (16 MiB, about twice what SQLite's automatic
// checkpoint lets it reach with 8 KB pages) the checkpointer runs a TRUNCATE checkpoint
// holding the database's writer (writeSem, so that a writer committing back to back
// cannot starve it of SQLite's write lock), after a second PASSIVE pass that does not:
// it copies what the passes left, waits for readers still on the WAL (up to
// checkpointBusy) and empties the file. Only that last copy and its fsyncs stall a writer
// (measured: one stall of up to ~40-55 ms per 16 MiB of back-to-back commits, where
// SQLite's own checkpoint stalled one commit 8-30 ms per 8 MiB), and only under such a
// load; small saves spaced in time never meet it. If readers are still there, the next
// TRUNCATE waits truncateBackoff, doubling up to maxTruncateBackoff, so that a long query
// does not stall writers again and again.
// The writer's journal_size_limit is walCap as well. Close stops the checkpointer before
// the last connection closes, and that close checkpoints everything and removes the WAL,
// as before.
//
// Durability is unchanged: synchronous=NORMAL, so a commit is written to the WAL without
// an fsync, and the WAL is synced when a checkpoint runs (now at least as often).
const (
	defaultCheckpointDelay = 250 * time.Millisecond
	checkpointPages        = 1000     // SQLite's default wal_autocheckpoint
	defaultWALCap          = 16 << 20 // bytes of WAL beyond which a TRUNCATE checkpoint runs
	checkpointBusy         = 200      // ms a TRUNCATE checkpoint waits for readers
	truncateBackoff        = time.Second
	maxTruncateBackoff     = time.Minute
)

type checkpointer struct {
	db       *sql.DB       // one connection (not query_only: a checkpoint writes db.sqlite3)
	writeSem chan struct{} // the Database's writer, held during a TRUNCATE checkpoint
	shmPath  string
	log      *slog.Logger
	delay    time.Duration
	walCap   int64
	minPage  int64 // pages of WAL not yet copied that make a checkpoint worth running

	armed  atomic.Bool
	closed atomic.Bool
	timer  *time.Timer
	runMu  sync.Mutex // held while a checkpoint runs; Close waits for it
	// guarded by runMu: no TRUNCATE before nextTruncate; backoff is the next wait
	nextTruncate time.Time
	pageSize     int64 // guarded by runMu; read once (it cannot change in WAL mode)
	backoff      time.Duration

	// counters (tests)
	passive, truncates, emptied, skipped atomic.Uint64
}

// walCapOf is the WAL cap of cfg. The writer's journal_size_limit is set to it as well:
// the first commit after the WAL starts over cuts the file back to that size (the file
// otherwise keeps the size of its largest use).
func walCapOf(cfg Config) int64 {
	if cfg.walCap > 0 {
		return cfg.walCap
	}
	return defaultWALCap
}

func newCheckpointer(dbPath string, writeSem chan struct{}, cfg Config, log *slog.Logger) (*checkpointer, error) {
	delay, walCap, minPage := cfg.checkpointDelay, walCapOf(cfg), cfg.checkpointPages
	if delay <= 0 {
		delay = defaultCheckpointDelay
	}
	if minPage <= 0 {
		minPage = checkpointPages
	}
	db, err := sql.Open("sqlite", sqliteDSN(dbPath, fmt.Sprintf("busy_timeout(%d)", checkpointBusy), "wal_autocheckpoint(0)"))
	if err != nil {
		return nil, fmt.Errorf("open checkpointer: %w", classify(err))
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	c := &checkpointer{db: db, writeSem: writeSem, shmPath: dbPath + "-shm", log: log, delay: delay, walCap: walCap, minPage: minPage}
	c.timer = time.AfterFunc(time.Hour, c.run)
	c.timer.Stop()
	return c, nil
}

// committed is called after every commit: the first one since the last check arms the
// timer. It neither blocks nor wakes a goroutine.
func (c *checkpointer) committed() {
	if c.armed.CompareAndSwap(false, true) {
		c.timer.Reset(c.delay)
	}
}

// close stops the checkpointer, waiting for a checkpoint in progress, and closes its
// connection. Idempotent.
func (c *checkpointer) close() error {
	if c.closed.Swap(true) {
		return nil
	}
	c.timer.Stop()
	c.runMu.Lock()
	defer c.runMu.Unlock()
	return c.db.Close()
}

// run is the timer's function: one check, and a checkpoint if the WAL needs one.
func (c *checkpointer) run() {
	c.runMu.Lock()
	defer c.runMu.Unlock()
	if c.closed.Load() {
		return
	}
	c.armed.Store(false) // commits from now on arm the next check
	if err := c.check(context.Background()); err != nil {
		c.log.Warn("store: background WAL checkpoint failed", "err", err)
	}
}

func (c *checkpointer) check(ctx context.Context) error {
	if pending, ok := c.pendingPages(); ok && pending < c.minPage {
		c.skipped.Add(1)
		return nil
	}
	var busy, logFrames, copied int64
	if err := c.db.QueryRowContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &logFrames, &copied); err != nil {
		return fmt.Errorf("passive checkpoint: %w", classify(err))
	}
	c.passive.Add(1)
	if c.pageSize == 0 {
		if err := c.db.QueryRowContext(ctx, "PRAGMA page_size").Scan(&c.pageSize); err != nil {
			return fmt.Errorf("read page size: %w", classify(err))
		}
	}
	if logFrames*c.pageSize <= c.walCap || time.Now().Before(c.nextTruncate) {
		return nil
	}
	// The WAL is over its cap: a steady stream of commits or readers kept it from being
	// reused. Copy what was committed during the first pass without holding writers, so
	// that the TRUNCATE, which they wait for, has little left to copy; then empty it.
	if err := c.db.QueryRowContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &logFrames, &copied); err != nil {
		return fmt.Errorf("passive checkpoint: %w", classify(err))
	}
	c.passive.Add(1)
	c.writeSem <- struct{}{}
	err := c.db.QueryRowContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &logFrames, &copied)
	<-c.writeSem
	c.truncates.Add(1)
	if err == nil && busy == 0 {
		c.emptied.Add(1)
		c.backoff = 0
		return nil
	}
	c.backoff = min(max(2*c.backoff, truncateBackoff), maxTruncateBackoff)
	c.nextTruncate = time.Now().Add(c.backoff)
	if err != nil {
		return fmt.Errorf("truncate checkpoint: %w", classify(err))
	}
	return fmt.Errorf("truncate checkpoint: readers still use the WAL of %d pages after %d ms; next try in %v", logFrames, checkpointBusy, c.backoff)
}

// pendingPages reads, from the WAL-index header at the start of the -shm file (SQLite's
// file format, section "WAL-Index Format"), the number of WAL frames not yet copied into
// the database: mxFrame (bytes 16..19 of the header) less nBackfill (bytes 96..99), both
// in native byte order. ok is false if the header cannot be read; the caller then
// checkpoints anyway. A read torn by a concurrent commit only shifts the decision to the
// next check.
func (c *checkpointer) pendingPages() (n int64, ok bool) {
	f, err := os.Open(c.shmPath)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	var hdr [100]byte
	if _, err := f.ReadAt(hdr[:], 0); err != nil {
		return 0, false
	}
	mx := binary.NativeEndian.Uint32(hdr[16:20])
	backfilled := binary.NativeEndian.Uint32(hdr[96:100])
	if backfilled > mx {
		return 0, true // the WAL was restarted since the last checkpoint: nothing to copy
	}
	return int64(mx - backfilled), true
}
