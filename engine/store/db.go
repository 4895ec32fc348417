package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/p2psync/libp2psync/engine/blobstore"
	"github.com/p2psync/libp2psync/engine/hlv"
	"github.com/p2psync/libp2psync/engine/logging"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// File names inside a database directory.
const (
	dbFileName   = "db.sqlite3"
	lockFileName = "db.lock"
)

// Config configures Open. The zero value means defaults.
type Config struct {
	MaxRevTreeDepth int           // 0 => 20; older revisions are pruned beyond this depth
	NoCreate        bool          // true => ErrNotFound if the database does not exist
	Logger          *slog.Logger  // nil => the library log (engine/logging), domain Database
	ExpiryInterval  time.Duration // how often the expiry purger runs; 0 => 1s
	// DisableDeltaSync forbids delta sync for every listener and replicator using this
	// database (PROTOCOL §6). By default the database permits it; deltas are then used
	// only where the listener and the replicator also enable them.
	DisableDeltaSync bool
	// WallClock is the wall clock of the database's hybrid logical clock (versions); nil
	// means time.Now. Tests set it to make the clock step back.
	WallClock func() time.Time

	// tests: the checkpointer's delay after a commit and WAL cap (0 => defaults,
	// checkpoint.go)
	checkpointDelay time.Duration
	walCap          int64
	checkpointPages int64
}

const (
	defaultMaxRevTreeDepth = 20
	defaultExpiryInterval  = time.Second
	readerConns            = 4
)

// Database is an open database directory. All methods are safe for
// concurrent use. See the package documentation.
type Database struct {
	dir      string
	name     string
	uuid     string
	maxDepth int
	noDeltas bool
	log      *slog.Logger

	// Versions (versions.go): the source ID and the hybrid logical clock. The clock marks
	// are the persisted clock state (clockMark: written in the open transaction, if any;
	// clockCommitted: committed), guarded like the writer connection.
	sourceID       string
	versionSuffix  string // "@" + sourceID (vectorText)
	wall           func() time.Time
	clock          *hlv.Clock
	clockMark      uint64
	clockCommitted uint64
	clockBatch     *Batch // the batch whose commit or rollback settles clockMark

	lock *os.File // flock'ed for the lifetime of the Database

	blobs *blobstore.Store // the "blobs" directory, opened under the lock

	ckpt *checkpointer // WAL checkpoints off the commit path (checkpoint.go)

	// Writer: one connection, owned by whoever holds writeSem.
	wdb      *sql.DB
	wconn    *sql.Conn
	wstmts   writerStmts
	writeSem chan struct{}

	// Readers: a pool of query_only connections; never blocked by the writer (WAL).
	rdb    *sql.DB
	rstmts readerStmts
	// query results open (QueryRows): bounded so that they never hold every reader
	openQueries atomic.Int32

	mu        sync.Mutex // guards the fields below
	closed    bool
	userBatch *Batch                  // the open BeginBatch/InBatch batch, if any
	colls     map[collKey]*Collection // authoritative: only this process writes (flock)
	byID      map[int64]*Collection
	ops       sync.WaitGroup // in-flight public calls; Close waits for them

	notify     *notifier
	stopExpiry chan struct{}
	// expirySet counts the commits that gave a document an expiration (expiryLoop).
	expirySet  atomic.Uint64
	expiryRuns atomic.Uint64 // passes of the expiry loop that read the database (tests)
	expiryDone chan struct{}
}

type collKey struct{ scope, name string }

// Exists reports whether dir holds a database.
func Exists(dir string) bool {
	st, err := os.Stat(filepath.Join(dir, dbFileName))
	return err == nil && st.Mode().IsRegular()
}

// Open opens the database in directory dir, creating the directory and the
// database unless cfg.NoCreate is set. Another process (or another Open in
// this process) holding the database gets ErrBusy.
func Open(ctx context.Context, dir string, cfg Config) (*Database, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("open database %q: %w: %v", dir, ErrIO, err)
	}
	if err := prepareDir(abs, cfg.NoCreate); err != nil {
		return nil, fmt.Errorf("open database %q: %w", dir, err)
	}
	lock, err := lockDir(abs)
	if err != nil {
		return nil, fmt.Errorf("open database %q: %w", dir, err)
	}
	db := &Database{
		dir:        abs,
		name:       filepath.Base(abs),
		maxDepth:   cfg.MaxRevTreeDepth,
		noDeltas:   cfg.DisableDeltaSync,
		wall:       cfg.WallClock,
		log:        cfg.Logger,
		lock:       lock,
		writeSem:   make(chan struct{}, 1),
		colls:      make(map[collKey]*Collection),
		byID:       make(map[int64]*Collection),
		stopExpiry: make(chan struct{}),
		expiryDone: make(chan struct{}),
	}
	if db.maxDepth <= 0 {
		db.maxDepth = defaultMaxRevTreeDepth
	}
	if db.log == nil {
		db.log = logging.Logger(logging.Database)
	}
	if err := db.prepareFile(ctx, cfg.NoCreate); err != nil {
		unlockDir(lock)
		return nil, fmt.Errorf("open database %q: %w", dir, err)
	}
	if db.blobs, err = openBlobs(abs); err != nil {
		unlockDir(lock)
		return nil, fmt.Errorf("open database %q: %w", dir, err)
	}
	if err := db.openSQL(ctx, cfg); err != nil {
		db.closeSQL()
		unlockDir(lock)
		return nil, fmt.Errorf("open database %q: %w", dir, err)
	}
	interval := cfg.ExpiryInterval
	if interval <= 0 {
		interval = defaultExpiryInterval
	}
	db.notify = newNotifier(db.log)
	go db.notify.run()
	go db.expiryLoop(interval)
	db.log.Debug("store: opened database", "dir", abs, "uuid", db.uuid)
	return db, nil
}

// prepareDir checks (and if allowed creates) the database directory.
func prepareDir(dir string, noCreate bool) error {
	st, err := os.Stat(dir)
	switch {
	case err == nil && !st.IsDir():
		return fmt.Errorf("%w: %s is a regular file, not a database directory", ErrIO, dir)
	case err == nil:
		if noCreate && !Exists(dir) {
			return fmt.Errorf("%w: no database in %s", ErrNotFound, dir)
		}
		return nil
	case errors.Is(err, fs.ErrNotExist):
		if noCreate {
			return fmt.Errorf("%w: directory %s does not exist", ErrNotFound, dir)
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("%w: create directory: %v", ErrIO, err)
		}
		return nil
	default:
		return fmt.Errorf("%w: cannot use %s as a database directory: %v", ErrIO, dir, err)
	}
}

// lockDir takes an exclusive flock on the directory's lock file. flock locks
// belong to an open file description, so a second Open in the same process
// conflicts just like one in another process. The inode check guards against
// a concurrent Delete that unlinked the lock file we opened.
func lockDir(dir string) (*os.File, error) {
	path := filepath.Join(dir, lockFileName)
	for attempt := 0; attempt < 5; attempt++ {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			if errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.EROFS) {
				return nil, fmt.Errorf("%w: directory %s is not writable: %v", ErrIO, dir, err)
			}
			return nil, fmt.Errorf("%w: open lock file: %v", ErrIO, err)
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			f.Close()
			if errors.Is(err, syscall.EWOULDBLOCK) {
				return nil, fmt.Errorf("%w: database %s is already open (in this or another process)", ErrBusy, dir)
			}
			return nil, fmt.Errorf("%w: lock %s: %v", ErrIO, path, err)
		}
		held, err1 := f.Stat()
		named, err2 := os.Stat(path)
		if err1 == nil && err2 == nil && os.SameFile(held, named) {
			return f, nil
		}
		f.Close() // the file was replaced under us; try again with the new one
	}
	return nil, fmt.Errorf("%w: lock file %s keeps changing", ErrBusy, path)
}

func unlockDir(f *os.File) {
	if f != nil {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}
}

func sqliteDSN(path string, pragmas ...string) string {
	u := url.URL{Scheme: "file", Path: path}
	v := url.Values{}
	for _, p := range pragmas {
		v.Add("_pragma", p)
	}
	return u.String() + "?" + v.Encode()
}

func (db *Database) openSQL(ctx context.Context, cfg Config) error {
	path := filepath.Join(db.dir, dbFileName)
	var err error
	db.wdb, err = sql.Open("sqlite", sqliteDSN(path,
		"busy_timeout(5000)", "journal_mode(WAL)", "synchronous(NORMAL)", "cache_size(-16000)",
		"wal_autocheckpoint(0)", // the checkpointer does it (checkpoint.go)
		fmt.Sprintf("journal_size_limit(%d)", walCapOf(cfg))))
	if err != nil {
		return fmt.Errorf("open writer: %w", classify(err))
	}
	db.wdb.SetMaxOpenConns(1)
	db.wdb.SetMaxIdleConns(1)
	db.wdb.SetConnMaxLifetime(0)
	db.wdb.SetConnMaxIdleTime(0)
	db.wconn, err = db.wdb.Conn(ctx)
	if err != nil {
		return fmt.Errorf("open writer: %w", classify(err))
	}
	var mode string
	if err := db.wconn.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return fmt.Errorf("read journal mode: %w", classify(err))
	}
	if mode != "wal" {
		return fmt.Errorf("%w: journal mode is %q, WAL unavailable", ErrIO, mode)
	}
	if err := db.initSchema(ctx); err != nil {
		return err
	}
	if err := prepareAll(ctx, db.wconn, db.wstmts.specs()); err != nil {
		return err
	}
	db.rdb, err = sql.Open("sqlite", sqliteDSN(path, "busy_timeout(5000)", "query_only(1)"))
	if err != nil {
		return fmt.Errorf("open readers: %w", classify(err))
	}
	db.rdb.SetMaxOpenConns(readerConns)
	db.rdb.SetMaxIdleConns(readerConns)
	if err := prepareAll(ctx, db.rdb, db.rstmts.specs()); err != nil {
		return err
	}
	if db.ckpt, err = newCheckpointer(path, db.writeSem, cfg, db.log); err != nil {
		return err
	}
	return db.loadCollections(ctx)
}

// schemaVersion is the format this library writes. Version 1 kept every body of a
// revision other than the current one inside the tree blob, stored the tree of every
// document and wrote vv_rev with every vector; version 2 (migrateSchema1) adds a
// kept-bodies table per collection (keptTable), stores a one-revision tree as an empty
// blob and leaves vv_rev NULL for a vector of the row's revid. Version 2 reads every
// row version 1 wrote, so migrating rewrites no document: an old row takes the new
// form the next time its document is saved. Version 3 may keep a body as a reverse delta
// (flagBodyDelta, keptdelta.go), which a version-2 library would not understand; it reads
// every version-2 row as it is, so migrating 2 to 3 only records the new version.
const (
	schemaVersion   = "3"
	schemaVersionV2 = "2"
	schemaVersionV1 = "1"
)

var schemaSQL = []string{
	`CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID`,
	`CREATE TABLE IF NOT EXISTS collections (
		id INTEGER PRIMARY KEY AUTOINCREMENT,
		scope TEXT NOT NULL,
		name TEXT NOT NULL,
		last_seq INTEGER NOT NULL DEFAULT 0,
		doc_count INTEGER NOT NULL DEFAULT 0,
		UNIQUE (scope, name))`,
	`CREATE TABLE IF NOT EXISTS remote_ancestors (
		coll INTEGER NOT NULL,
		docid TEXT NOT NULL,
		remote TEXT NOT NULL,
		revid TEXT NOT NULL,
		PRIMARY KEY (coll, docid, remote)) WITHOUT ROWID`,
	`CREATE TABLE IF NOT EXISTS local_docs (id TEXT PRIMARY KEY, rev TEXT NOT NULL, body BLOB NOT NULL) WITHOUT ROWID`,
	`INSERT OR IGNORE INTO collections (scope, name) VALUES ('_default', '_default')`,
	keptVersionsSchema,
}

func (db *Database) initSchema(ctx context.Context) (err error) {
	if _, err := db.wconn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return fmt.Errorf("begin schema transaction: %w", classify(err))
	}
	defer func() {
		if err != nil {
			db.wconn.ExecContext(context.Background(), "ROLLBACK")
		}
	}()
	var version string
	err = db.wconn.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'schema_version'`).Scan(&version)
	switch {
	case err == nil:
		if version != schemaVersion && version != schemaVersionV2 && version != schemaVersionV1 {
			return fmt.Errorf("%w: unsupported schema version %q (this library reads %s to %s)", ErrCorrupt, version, schemaVersionV1, schemaVersion)
		}
	case errors.Is(err, sql.ErrNoRows):
		// new database (or one interrupted before its first commit)
	case isNoSuchTable(err):
		// No meta table: a database file with no table at all is new (createFile,
		// or one an older version began creating in place and was interrupted
		// before its first commit); one holding other tables is not ours.
		var tables int
		if err := db.wconn.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master`).Scan(&tables); err != nil {
			return fmt.Errorf("read schema: %w", classify(err))
		}
		if tables != 0 {
			return fmt.Errorf("%w: not a libp2psync database (it has %d schema objects but no meta table)", ErrCorrupt, tables)
		}
	default:
		return fmt.Errorf("read schema version: %w", classify(err))
	}
	for _, stmt := range schemaSQL {
		if _, err := db.wconn.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("create schema: %w", classify(err))
		}
	}
	if version != schemaVersion {
		// A new file, or one of schema 1 or 2, which may predate local_docs.written; a
		// schema-3 file was created or migrated by a library that added it, so a
		// current file is opened without a PRAGMA for it.
		if err := db.localWrittenColumn(ctx); err != nil {
			return err
		}
	}
	var defaultID int64
	if err := db.wconn.QueryRowContext(ctx, `SELECT id FROM collections WHERE scope = '_default' AND name = '_default'`).Scan(&defaultID); err != nil {
		return fmt.Errorf("%w: find default collection: %w", ErrCorrupt, classify(err))
	}
	for _, stmt := range docsSchema(defaultID) {
		if _, err := db.wconn.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("create default collection: %w", classify(err))
		}
	}
	if version == "" {
		var raw [16]byte
		if _, err := rand.Read(raw[:]); err != nil {
			return fmt.Errorf("generate database UUID: %w", err)
		}
		if _, err := db.wconn.ExecContext(ctx,
			`INSERT INTO meta (key, value) VALUES ('schema_version', ?), ('uuid', ?)`,
			schemaVersion, hex.EncodeToString(raw[:])); err != nil {
			return fmt.Errorf("write schema version: %w", classify(err))
		}
	}
	if err := db.migrateFrom(ctx, version); err != nil {
		return err
	}
	if err := db.wconn.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'uuid'`).Scan(&db.uuid); err != nil {
		return fmt.Errorf("%w: read database UUID: %w", ErrCorrupt, classify(err))
	}
	if err := db.initVersioning(ctx); err != nil {
		return err
	}
	if _, err := db.wconn.ExecContext(ctx, "COMMIT"); err != nil {
		return fmt.Errorf("commit schema: %w", classify(err))
	}
	return nil
}

// migrateFrom brings a database of an older schema version to the current one inside
// initSchema's transaction (nothing to do for a new or current one).
func (db *Database) migrateFrom(ctx context.Context, version string) error {
	switch version {
	case schemaVersionV1:
		return db.migrateSchema1(ctx)
	case schemaVersionV2:
		// Nothing to rewrite (see schemaVersion).
		if _, err := db.wconn.ExecContext(ctx, `UPDATE meta SET value = ? WHERE key = 'schema_version'`, schemaVersion); err != nil {
			return fmt.Errorf("migrate schema: %w", classify(err))
		}
	}
	return nil
}

// migrateSchema1 brings a database of schema version 1 to version 2 (recorded as the
// current version, which reads every version-2 row as it is) inside initSchema's
// transaction, so that a crash or an error leaves the file as it was: every collection
// gains its version-vector columns (if it predates them) and its kept-bodies table, and
// the schema version is updated. No document row is rewritten (see schemaVersion).
func (db *Database) migrateSchema1(ctx context.Context) error {
	rows, err := db.wconn.QueryContext(ctx, `SELECT id FROM collections`)
	if err != nil {
		return fmt.Errorf("migrate schema: %w", classify(err))
	}
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return fmt.Errorf("migrate schema: %w", classify(err))
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("migrate schema: %w", classify(err))
	}
	for _, id := range ids {
		if err := db.vectorColumns(ctx, id); err != nil {
			return fmt.Errorf("migrate schema: %w", err)
		}
		if err := db.rebuildDocsTable(ctx, id); err != nil {
			return fmt.Errorf("migrate schema: collection %d: %w", id, err)
		}
		for _, stmt := range docsSchema(id) {
			if _, err := db.wconn.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("migrate schema: collection %d: %w", id, classify(err))
			}
		}
	}
	if migrateFault != nil {
		if err := migrateFault(); err != nil {
			return fmt.Errorf("migrate schema: %w", err)
		}
	}
	if _, err := db.wconn.ExecContext(ctx, `UPDATE meta SET value = ? WHERE key = 'schema_version'`, schemaVersion); err != nil {
		return fmt.Errorf("migrate schema: %w", classify(err))
	}
	return nil
}

// rebuildDocsTable rewrites a schema-1 documents table with the columns in schema 2's
// order (docsTableDDL), keeping every row as it is (same sequences, so full-text
// indexes, which are keyed by sequence, stay valid) and recreating the indexes and
// triggers defined on it (the docid and expiration indexes, value indexes, full-text
// triggers). Runs inside the migration's transaction.
func (db *Database) rebuildDocsTable(ctx context.Context, collID int64) error {
	t := docsTable(collID)
	rows, err := db.wconn.QueryContext(ctx,
		`SELECT sql FROM sqlite_master WHERE tbl_name = ? AND type IN ('index', 'trigger') AND sql IS NOT NULL ORDER BY type, name`, t)
	if err != nil {
		return classify(err)
	}
	var ddl []string
	for rows.Next() {
		var stmt string
		if err := rows.Scan(&stmt); err != nil {
			rows.Close()
			return classify(err)
		}
		ddl = append(ddl, stmt)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return classify(err)
	}
	tmp := t + "_rebuild"
	steps := []string{
		`DROP TABLE IF EXISTS ` + tmp,
		docsTableDDL(tmp),
		`INSERT INTO ` + tmp + ` (` + docsColumns + `) SELECT ` + docsColumns + ` FROM ` + t + ` ORDER BY seq`,
		`DROP TABLE ` + t,
		`ALTER TABLE ` + tmp + ` RENAME TO ` + t,
	}
	for _, stmt := range append(steps, ddl...) {
		if _, err := db.wconn.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("rebuild %s: %w", t, classify(err))
		}
	}
	return nil
}

// migrateFault, when set by a test, fails migrateSchema1 after its changes and before it
// records the new version.
var migrateFault func() error

func isNoSuchTable(err error) bool {
	return err != nil && containsFold(err.Error(), "no such table")
}

func containsFold(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if equalFoldASCII(s[i:i+len(sub)], sub) {
			return true
		}
	}
	return false
}

func equalFoldASCII(a, b string) bool {
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

func (db *Database) loadCollections(ctx context.Context) error {
	rows, err := db.wconn.QueryContext(ctx, `SELECT id, scope, name, last_seq, doc_count FROM collections`)
	if err != nil {
		return fmt.Errorf("load collections: %w", classify(err))
	}
	defer rows.Close()
	for rows.Next() {
		var (
			id          int64
			scope, name string
			seq         int64
			count       int64
		)
		if err := rows.Scan(&id, &scope, &name, &seq, &count); err != nil {
			return fmt.Errorf("load collections: %w", classify(err))
		}
		c := newCollection(db, id, scope, name, uint64(seq), count)
		db.colls[collKey{scope, name}] = c
		db.byID[id] = c
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("load collections: %w", classify(err))
	}
	rows.Close()
	for _, c := range db.byID {
		if err := prepareAll(ctx, db.wconn, c.w.specs(c.id)); err != nil {
			return fmt.Errorf("%w: collection %s: %w", ErrCorrupt, c.FullName(), err)
		}
	}
	if db.colls[collKey{defaultName, defaultName}] == nil {
		return fmt.Errorf("%w: default collection missing", ErrCorrupt)
	}
	return nil
}

// closeSQL closes whatever SQL handles are open.
func (db *Database) closeSQL() error {
	var errs []error
	if db.ckpt != nil {
		errs = append(errs, db.ckpt.close()) // before the last connection closes
	}
	for _, c := range db.byID {
		c.closeStmts()
	}
	closeAll(db.rstmts.specs())
	closeAll(db.wstmts.specs())
	if db.rdb != nil {
		errs = append(errs, db.rdb.Close())
	}
	if db.wconn != nil {
		errs = append(errs, db.wconn.Close())
	}
	if db.wdb != nil {
		errs = append(errs, db.wdb.Close())
	}
	if err := errors.Join(errs...); err != nil {
		return classify(err)
	}
	return nil
}

// Close closes the database: it waits for calls in progress, delivers the
// pending change notifications, stops the expiry purger and releases the
// lock. It is idempotent. With a Batch open it returns ErrBusy and closes nothing.
func (db *Database) Close() error {
	db.mu.Lock()
	if db.closed {
		db.mu.Unlock()
		return nil
	}
	if db.userBatch != nil {
		db.mu.Unlock()
		return fmt.Errorf("close database: %w: a batch is open; commit or roll it back first", ErrBusy)
	}
	db.closed = true
	db.mu.Unlock()

	close(db.stopExpiry)
	db.ops.Wait()
	<-db.expiryDone
	db.notify.close() // delivers what was committed, then stops (unless called from a callback)
	db.settleClock()
	err := db.closeSQL()
	db.blobs.Close()
	unlockDir(db.lock)
	db.log.Debug("store: closed database", "dir", db.dir)
	if err != nil {
		return fmt.Errorf("close database: %w", err)
	}
	return nil
}

// Delete removes the database in dir. It returns ErrBusy if the database is
// open (in this or another process) and ErrNotFound if there is none.
func Delete(dir string) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("delete database %q: %w: %v", dir, ErrIO, err)
	}
	st, err := os.Stat(abs)
	if err != nil || !st.IsDir() {
		return fmt.Errorf("delete database %q: %w: no database directory", dir, ErrNotFound)
	}
	if !Exists(abs) {
		return fmt.Errorf("delete database %q: %w: no database in directory", dir, ErrNotFound)
	}
	lock, err := lockDir(abs)
	if err != nil {
		return fmt.Errorf("delete database %q: %w", dir, err)
	}
	defer unlockDir(lock)
	for _, name := range []string{dbFileName, dbFileName + "-wal", dbFileName + "-shm", dbFileName + "-journal",
		dbFileName + creatingSuffix, dbFileName + creatingSuffix + "-journal"} {
		if err := os.Remove(filepath.Join(abs, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("delete database %q: %w: %v", dir, ErrIO, err)
		}
	}
	if err := os.RemoveAll(filepath.Join(abs, blobDirName)); err != nil {
		return fmt.Errorf("delete database %q: %w: remove blobs: %v", dir, ErrIO, err)
	}
	// Unlink the lock file while still holding it; an opener that raced us
	// notices the inode change and retries on a fresh file.
	if err := os.Remove(filepath.Join(abs, lockFileName)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete database %q: %w: %v", dir, ErrIO, err)
	}
	os.Remove(abs) // only succeeds if the directory is now empty; other files are the caller's
	return nil
}

// Path returns the absolute path of the database directory.
func (db *Database) Path() string { return db.dir }

// Name returns the base name of the database directory.
func (db *Database) Name() string { return db.name }

// UUID returns the database's random identifier (32 lowercase hex digits),
// fixed when the database was created.
func (db *Database) UUID() string { return db.uuid }

// DeltaSyncEnabled reports whether the database permits delta sync (Config.DisableDeltaSync
// not set). Listeners and replicators use deltas only when it does.
func (db *Database) DeltaSyncEnabled() bool { return !db.noDeltas }

// enter registers a public call in progress; Close waits for it. Every
// successful enter must be paired with leave.
func (db *Database) enter() error {
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.closed {
		return ErrClosed
	}
	db.ops.Add(1)
	return nil
}

func (db *Database) leave() { db.ops.Done() }

// collection lookups from the in-memory catalogue.
func (db *Database) lookup(scope, name string) *Collection {
	db.mu.Lock()
	defer db.mu.Unlock()
	return db.colls[collKey{scope, name}]
}

func sortedKeys(m map[string]struct{}) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
