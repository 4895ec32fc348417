package store

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// creatingSuffix names the file a new database is built in before it is renamed to
// dbFileName (see createFile).
const creatingSuffix = ".creating"

// sqliteHeaderMagic starts every SQLite database file.
const sqliteHeaderMagic = "SQLite format 3\x00"

// notADB carries SQLite's result code for a file that is not a database, which is what
// SQLite itself reports for one, so that callers see the same SQLite-domain code.
var notADB = &SQLiteError{Code: sqliteNotADB, Err: errors.New("file is not a database")}

// prepareFile makes sure db.sqlite3 is a database file worth opening, or creates it.
//
// A database file is never created empty: createFile builds the whole schema in a
// temporary file and renames it into place, so that a crash during creation leaves at
// most that temporary file, which the next Open discards. An existing db.sqlite3 of zero
// bytes therefore means lost data (a file truncated by a crash, a failing disk or a
// faulty copy), and it is refused with ErrCorrupt rather than taken for a new database;
// so are a file too short or not starting with the SQLite header, and one shorter than
// the size its header records (truncated; checked when no write-ahead log is pending,
// since one may still hold the missing pages).
func (db *Database) prepareFile(ctx context.Context, noCreate bool) error {
	path := filepath.Join(db.dir, dbFileName)
	st, err := os.Stat(path)
	switch {
	case err == nil && !st.Mode().IsRegular():
		return fmt.Errorf("%w: %s is not a regular file", ErrIO, path)
	case err == nil:
		return checkFile(path, st.Size())
	case errors.Is(err, fs.ErrNotExist):
		if noCreate {
			return fmt.Errorf("%w: no database in %s", ErrNotFound, db.dir)
		}
		return db.createFile(ctx, path)
	default:
		return fmt.Errorf("%w: %s: %v", ErrIO, path, err)
	}
}

// checkFile refuses a database file that is empty, too short, not an SQLite file, or
// shorter than its header says (see prepareFile).
func checkFile(path string, size int64) error {
	const restore = "restore it from a backup, or delete the database to start again"
	if size == 0 {
		return fmt.Errorf("%w: database file %s is empty (0 bytes): its content was lost, for example by a crash or a full disk; %s",
			ErrCorrupt, path, restore)
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrIO, path, err)
	}
	defer f.Close()
	var h [100]byte
	if _, err := io.ReadFull(f, h[:]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return fmt.Errorf("%w: database file %s is %d bytes, too short for a database header: it was truncated; %s: %w",
				ErrCorrupt, path, size, restore, notADB)
		}
		return fmt.Errorf("%w: read %s: %v", ErrIO, path, err)
	}
	if string(h[:len(sqliteHeaderMagic)]) != sqliteHeaderMagic {
		return fmt.Errorf("%w: %s is not a database file (no SQLite header); %s: %w", ErrCorrupt, path, restore, notADB)
	}
	pageSize := int64(binary.BigEndian.Uint16(h[16:18]))
	if pageSize == 1 {
		pageSize = 65536
	}
	if pageSize < 512 || pageSize&(pageSize-1) != 0 {
		return fmt.Errorf("%w: database file %s has an invalid page size %d in its header; %s", ErrCorrupt, path, pageSize, restore)
	}
	// The page count at offset 28 is valid when the change counter (24) matches the
	// "version valid for" number (92), as every SQLite since 3.7.0 writes it.
	pages := int64(binary.BigEndian.Uint32(h[28:32]))
	if !bytes.Equal(h[24:28], h[92:96]) || pages == 0 {
		return nil
	}
	if st, err := os.Stat(path + "-wal"); err == nil && st.Size() > 0 {
		// Pages may still be in the write-ahead log (a checkpoint interrupted by a
		// crash is finished by SQLite on open).
		return nil
	}
	if want := pages * pageSize; size < want {
		return fmt.Errorf("%w: database file %s is truncated: %d bytes, but its header records %d pages of %d bytes (%d bytes); %s",
			ErrCorrupt, path, size, pages, pageSize, want, restore)
	}
	return nil
}

// createFile creates the database file at path: the schema is written to a temporary
// file (rollback journal, full sync) which is then synced and renamed into place, and
// the directory synced. What a crash leaves behind is either no database file (the
// temporary one is removed by the next creation) or a complete one.
func (db *Database) createFile(ctx context.Context, path string) error {
	// A write-ahead log or rollback journal without its database holds changes of a
	// database whose file is gone; SQLite would apply them to the new file.
	for _, suffix := range []string{"-wal", "-journal"} {
		if st, err := os.Stat(path + suffix); err == nil && st.Size() > 0 {
			return fmt.Errorf("%w: %s%s holds changes of a database whose file %s is missing; restore the file from a backup, or delete the database to start again",
				ErrCorrupt, path, suffix, path)
		}
	}
	for _, suffix := range []string{"-wal", "-journal", "-shm"} {
		if err := removeIfExists(path + suffix); err != nil {
			return err
		}
	}
	tmp := path + creatingSuffix
	if err := removeSQLiteFiles(tmp); err != nil { // left by a creation interrupted by a crash
		return err
	}
	if err := db.writeSchema(ctx, tmp); err != nil {
		removeSQLiteFiles(tmp)
		return fmt.Errorf("create database: %w", err)
	}
	if err := syncFile(tmp); err != nil {
		removeSQLiteFiles(tmp)
		return fmt.Errorf("create database: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		removeSQLiteFiles(tmp)
		return fmt.Errorf("%w: create database: %v", ErrIO, err)
	}
	if err := syncFile(db.dir); err != nil {
		return fmt.Errorf("create database: %w", err)
	}
	return nil
}

// newPageSize is the SQLite page size of a new database file (an existing one keeps its
// own). SQLite's default, 4096, holds three rows of a ~1 KB document (the body plus its
// revision ID, version vector and keys) where a plain (id, body) table holds four:
// tests/bench/store measured about a fifth more CPU per saved document with 4096 than
// with 8192, whose pages hold seven. A large body also needs half as many overflow
// pages.
const newPageSize = 8192

// writeSchema writes a new database with the schema (initSchema) to path.
func (db *Database) writeSchema(ctx context.Context, path string) (err error) {
	sdb, err := sql.Open("sqlite", sqliteDSN(path, fmt.Sprintf("page_size(%d)", newPageSize), "busy_timeout(5000)", "journal_mode(DELETE)", "synchronous(FULL)"))
	if err != nil {
		return classify(err)
	}
	defer func() {
		if cerr := sdb.Close(); err == nil && cerr != nil {
			err = classify(cerr)
		}
	}()
	conn, err := sdb.Conn(ctx)
	if err != nil {
		return classify(err)
	}
	defer func() {
		if cerr := conn.Close(); err == nil && cerr != nil {
			err = classify(cerr)
		}
	}()
	db.wconn = conn
	defer func() { db.wconn, db.uuid = nil, "" }()
	return db.initSchema(ctx)
}

func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("%w: sync %s: %v", ErrIO, path, err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("%w: sync %s: %v", ErrIO, path, err)
	}
	return nil
}

func removeIfExists(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: remove %s: %v", ErrIO, path, err)
	}
	return nil
}

// removeSQLiteFiles removes the database file path and its companions.
func removeSQLiteFiles(path string) error {
	for _, suffix := range []string{"", "-wal", "-journal", "-shm"} {
		if err := removeIfExists(path + suffix); err != nil {
			return err
		}
	}
	return nil
}
