package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// Every collection has its own documents table, docs_<collection id>, whose
// rowid is the sequence of the document's latest change. Inserting a new
// document therefore appends to the table b-tree and adds one index entry
// (docid), the same work as a plain "id TEXT PRIMARY KEY" table.
func docsTable(collID int64) string { return fmt.Sprintf("docs_%d", collID) }

// keptTable names a collection's kept-bodies table (schema 2): the bodies of revisions
// other than the current one that are kept (as delta sources, or as conflicting leaves)
// and at least keptTableMin bytes long. A tree node refers to its row by ID
// (flagBodyKept), so that saving a new revision of a large document neither reads nor
// rewrites the bodies its older revisions keep. AUTOINCREMENT: an ID is never used
// twice, so a reader holding an old tree can never be handed another revision's body.
func keptTable(collID int64) string { return fmt.Sprintf("kept_%d", collID) }

// keptTableMin is the size from which a kept non-current body is stored in the
// kept-bodies table rather than inside the tree blob; it is also the size up to which
// the writer reads the current body with the tree (larger ones are read when needed).
const keptTableMin = 2048

// docsSchema returns the statements creating a collection's table.
func docsSchema(collID int64) []string {
	t := docsTable(collID)
	return []string{
		docsTableDDL(t),
		`CREATE UNIQUE INDEX IF NOT EXISTS ` + t + `_docid ON ` + t + ` (docid)`,
		`CREATE INDEX IF NOT EXISTS ` + t + `_expiration ON ` + t + ` (expiration) WHERE expiration IS NOT NULL`,
		`CREATE TABLE IF NOT EXISTS ` + keptTable(collID) + ` (id INTEGER PRIMARY KEY AUTOINCREMENT, body BLOB NOT NULL)`,
	}
}

// docsColumns are the columns of a documents table, in their schema-2 order.
const docsColumns = `seq, docid, revid, deleted, expiration, vv, vv_rev, tree, body`

// docsTableDDL creates documents table t.
//
// Small columns first and the body last, so that reading any other column never walks
// the body's overflow pages (SQLite stores a row's columns in order, and reaching a
// column after a large body means following its whole overflow chain). Schema 1 had vv
// and vv_rev after the body (they were added to existing tables, see vectorColumns), so
// every read of a version walked the body; migrateSchema1 rebuilds such tables.
// tree is the encoded revision tree (revtree.go; schema 2: an empty blob for a document
// of one revision). vv is the version vector of revision vv_rev, or (schema 2) of revid
// when vv_rev is NULL.
func docsTableDDL(t string) string {
	return `CREATE TABLE IF NOT EXISTS ` + t + ` (
			seq INTEGER PRIMARY KEY,
			docid TEXT NOT NULL,
			revid TEXT NOT NULL,
			deleted INTEGER NOT NULL,
			expiration INTEGER,
			vv TEXT,
			vv_rev TEXT,
			tree BLOB NOT NULL,
			body BLOB NOT NULL)`
}

type stmtSpec struct {
	dst **sql.Stmt
	sql string
}

type preparer interface {
	PrepareContext(ctx context.Context, query string) (*sql.Stmt, error)
}

func prepareAll(ctx context.Context, p preparer, specs []stmtSpec) error {
	for _, s := range specs {
		st, err := p.PrepareContext(ctx, s.sql)
		if err != nil {
			for _, done := range specs {
				if *done.dst != nil {
					(*done.dst).Close()
					*done.dst = nil
				}
			}
			return fmt.Errorf("prepare %q: %w", s.sql, classify(err))
		}
		*s.dst = st
	}
	return nil
}

func closeAll(specs []stmtSpec) {
	for _, s := range specs {
		if *s.dst != nil {
			(*s.dst).Close()
			*s.dst = nil
		}
	}
}

// writerStmts are the database-wide statements prepared once on the writer connection.
type writerStmts struct {
	updColl    *sql.Stmt
	setRemote  *sql.Stmt
	setRemotes *sql.Stmt
	delRemote  *sql.Stmt
	delDocRem  *sql.Stmt
	selLocal   *sql.Stmt
	putLocal   *sql.Stmt
	delLocal   *sql.Stmt
	setMeta    *sql.Stmt
	putKeptVer *sql.Stmt // keptversion.go (kept_versions)
	delKeptVer *sql.Stmt
}

func (s *writerStmts) specs() []stmtSpec {
	return []stmtSpec{
		{&s.updColl, `UPDATE collections SET last_seq = ?, doc_count = ? WHERE id = ?`},
		{&s.setRemote, `INSERT INTO remote_ancestors (coll, docid, remote, revid) VALUES (?, ?, ?, ?)
			ON CONFLICT (coll, docid, remote) DO UPDATE SET revid = excluded.revid`},
		{&s.setRemotes, `INSERT INTO remote_ancestors (coll, docid, remote, revid)
			SELECT ?, key, ?, value FROM json_each(?) WHERE true
			ON CONFLICT (coll, docid, remote) DO UPDATE SET revid = excluded.revid`},
		{&s.delRemote, `DELETE FROM remote_ancestors WHERE coll = ? AND docid = ? AND remote = ?`},
		{&s.delDocRem, `DELETE FROM remote_ancestors WHERE coll = ? AND docid = ?`},
		{&s.selLocal, `SELECT rev FROM local_docs WHERE id = ?`},
		{&s.putLocal, `INSERT INTO local_docs (id, rev, body, written) VALUES (?, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET rev = excluded.rev, body = excluded.body, written = excluded.written`},
		{&s.delLocal, `DELETE FROM local_docs WHERE id = ?`},
		{&s.setMeta, `INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`},
		{&s.putKeptVer, keptVersionPutSQL},
		{&s.delKeptVer, keptVersionDelSQL},
	}
}

// readerStmts are the database-wide statements on the reader pool.
type readerStmts struct {
	getLocal   *sql.Stmt
	getRemote  *sql.Stmt
	getRemotes *sql.Stmt
	getKeptVer *sql.Stmt // keptversion.go (kept_versions)
}

func (s *readerStmts) specs() []stmtSpec {
	return []stmtSpec{
		{&s.getLocal, `SELECT rev, body FROM local_docs WHERE id = ?`},
		{&s.getRemote, `SELECT revid FROM remote_ancestors WHERE coll = ? AND docid = ? AND remote = ?`},
		{&s.getRemotes, `SELECT docid, revid FROM remote_ancestors
			WHERE coll = ? AND remote = ? AND docid IN (SELECT value FROM json_each(?))`},
		{&s.getKeptVer, keptVersionGetSQL},
	}
}

// collWriterStmts are a collection's statements on the writer connection.
// A save of a new document costs one insNew; an update selDoc + updDoc.
type collWriterStmts struct {
	insNew        *sql.Stmt
	insMany       *sql.Stmt // manyRows insNew rows in one statement (SaveMany)
	insNewTree    *sql.Stmt
	selDoc        *sql.Stmt
	selDocMeta    *sql.Stmt
	selTree       *sql.Stmt
	selBody       *sql.Stmt
	insDoc        *sql.Stmt
	updDoc        *sql.Stmt
	updDocMeta    *sql.Stmt
	delDoc        *sql.Stmt
	setExpiration *sql.Stmt
	setVector     *sql.Stmt
	keepColumn    *sql.Stmt
	keepBody      *sql.Stmt
	getKept       *sql.Stmt
	delKept       *sql.Stmt
}

func (s *collWriterStmts) specs(collID int64) []stmtSpec {
	t, k := docsTable(collID), keptTable(collID)
	return []stmtSpec{
		// A new document of one revision: the empty tree and the vector of revid (vv_rev
		// NULL) take no parameter.
		{&s.insNew, `INSERT INTO ` + t + ` (seq, docid, revid, deleted, tree, body, vv) VALUES (?, ?, ?, 0, x'', ?, ?) ON CONFLICT (docid) DO NOTHING`},
		{&s.insMany, `INSERT INTO ` + t + ` (seq, docid, revid, deleted, tree, body, vv) VALUES ` + manyValues() + ` ON CONFLICT (docid) DO NOTHING`},
		{&s.insNewTree, `INSERT INTO ` + t + ` (seq, docid, revid, deleted, tree, body) VALUES (?, ?, ?, 0, ?, ?) ON CONFLICT (docid) DO NOTHING`},
		// The body column only when small; a larger one is read if needed (selBody).
		{&s.selDoc, fmt.Sprintf(`SELECT seq, revid, deleted, expiration, tree, CASE WHEN length(body) < %d THEN body END, length(body), vv, vv_rev FROM %s WHERE docid = ?`, keptTableMin, t)},
		{&s.selDocMeta, `SELECT seq, deleted, expiration FROM ` + t + ` WHERE docid = ?`},
		{&s.selTree, `SELECT seq, revid, deleted, tree FROM ` + t + ` WHERE docid = ?`},
		{&s.selBody, `SELECT body FROM ` + t + ` WHERE seq = ?`},
		{&s.insDoc, `INSERT INTO ` + t + ` (seq, docid, revid, deleted, tree, body, vv, vv_rev) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`},
		{&s.updDoc, `UPDATE ` + t + ` SET seq = ?, revid = ?, deleted = ?, tree = ?, body = ?, vv = ?, vv_rev = ? WHERE seq = ?`},
		// An update whose current revision keeps its body (already in the column).
		{&s.updDocMeta, `UPDATE ` + t + ` SET seq = ?, revid = ?, deleted = ?, tree = ?, vv = ?, vv_rev = ? WHERE seq = ?`},
		{&s.delDoc, `DELETE FROM ` + t + ` WHERE seq = ?`},
		{&s.setExpiration, `UPDATE ` + t + ` SET expiration = ? WHERE seq = ?`},
		{&s.setVector, `UPDATE ` + t + ` SET vv = ?, vv_rev = ? WHERE seq = ?`},
		// The body column of a row moves to the kept-bodies table inside SQLite.
		{&s.keepColumn, `INSERT INTO ` + k + ` (body) SELECT body FROM ` + t + ` WHERE seq = ?`},
		{&s.keepBody, `INSERT INTO ` + k + ` (body) VALUES (?)`},
		{&s.getKept, `SELECT body FROM ` + k + ` WHERE id = ?`},
		{&s.delKept, `DELETE FROM ` + k + ` WHERE id = ?`},
	}
}

// manyValues is the VALUES list of insMany: manyRows rows of insNew's parameters.
func manyValues() string {
	const row = `(?, ?, ?, 0, x'', ?, ?)`
	return strings.TrimSuffix(strings.Repeat(row+`, `, manyRows), `, `)
}

// collReaderStmts are a collection's statements on the reader pool.
type collReaderStmts struct {
	getDoc     *sql.Stmt
	getMany    *sql.Stmt
	getRevs    *sql.Stmt
	getOne     *sql.Stmt // getMany and getRevs for a single ID (getmany.go)
	getRevOne  *sql.Stmt
	getTree    *sql.Stmt
	getTreeRev *sql.Stmt
	changes    *sql.Stmt
	expiration *sql.Stmt
	// changesDocs is changes with the document columns, the body only up to ?3 bytes.
	changesDocs *sql.Stmt
	expired     *sql.Stmt
	getKept     *sql.Stmt
}

// expiryPage is how many expired documents one purge transaction handles.
const expiryPage = 256

func (s *collReaderStmts) specs(collID int64) []stmtSpec {
	t := docsTable(collID)
	return []stmtSpec{
		{&s.getDoc, `SELECT revid, deleted, seq, expiration, body, vv, vv_rev FROM ` + t + ` WHERE docid = ?`},
		// Many documents in one statement (one read transaction): the IDs come as one
		// JSON array, each looked up in the docid index.
		{&s.getMany, `SELECT docid, revid, deleted, seq, expiration, body, vv, vv_rev FROM ` + t + ` WHERE docid IN (SELECT value FROM json_each(?))`},
		{&s.getRevs, `SELECT docid, revid, deleted, seq, vv, vv_rev FROM ` + t + ` WHERE docid IN (SELECT value FROM json_each(?))`},
		// The same for one ID, without the JSON array and its table-valued function.
		{&s.getOne, `SELECT docid, revid, deleted, seq, expiration, body, vv, vv_rev FROM ` + t + ` WHERE docid = ?`},
		{&s.getRevOne, `SELECT docid, revid, deleted, seq, vv, vv_rev FROM ` + t + ` WHERE docid = ?`},
		{&s.getTree, `SELECT revid, deleted, seq, expiration, tree, body, vv, vv_rev FROM ` + t + ` WHERE docid = ?`},
		// The tree, and the body column only when it is the body of revision ?2 (reads of
		// one revision or of a history, which need no other body).
		{&s.getTreeRev, `SELECT revid, deleted, seq, expiration, tree, CASE WHEN revid = ?2 THEN body END, vv, vv_rev FROM ` + t + ` WHERE docid = ?1`},
		{&s.changes, `SELECT seq, docid, revid, deleted, length(body) FROM ` + t + ` WHERE seq > ? ORDER BY seq LIMIT ?`},
		{&s.changesDocs, `SELECT seq, docid, revid, deleted, length(body), expiration, CASE WHEN length(body) <= ?3 THEN body END, vv, vv_rev FROM ` + t + ` WHERE seq > ?1 ORDER BY seq LIMIT ?2`},
		{&s.expiration, `SELECT expiration FROM ` + t + ` WHERE docid = ?`},
		{&s.getKept, `SELECT body FROM ` + keptTable(collID) + ` WHERE id = ?`},
		{&s.expired, fmt.Sprintf(`SELECT docid FROM %s WHERE expiration IS NOT NULL AND expiration <= ? ORDER BY expiration LIMIT %d`, t, expiryPage)},
	}
}
