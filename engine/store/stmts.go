package store

import (
	"context"
	"database/sql"
	"fmt"
)

// writerStmts are prepared once on the single writer connection. A save of a
// new document costs selDoc + insDoc; an update selDoc + updDoc.
type writerStmts struct {
	selDoc        *sql.Stmt
	selDocMeta    *sql.Stmt
	insDoc        *sql.Stmt
	updDoc        *sql.Stmt
	delDoc        *sql.Stmt
	delDocRemotes *sql.Stmt
	setExpiration *sql.Stmt
	updColl       *sql.Stmt
	setRemote     *sql.Stmt
	delRemote     *sql.Stmt
	selLocal      *sql.Stmt
	putLocal      *sql.Stmt
	delLocal      *sql.Stmt
}

func (s *writerStmts) prepare(ctx context.Context, c *sql.Conn) error {
	list := []struct {
		dst **sql.Stmt
		sql string
	}{
		{&s.selDoc, `SELECT key, revid, deleted, seq, expiration, tree, body FROM docs WHERE coll = ? AND docid = ?`},
		{&s.selDocMeta, `SELECT key, deleted, expiration FROM docs WHERE coll = ? AND docid = ?`},
		{&s.insDoc, `INSERT INTO docs (coll, docid, revid, deleted, seq, tree, body) VALUES (?, ?, ?, ?, ?, ?, ?)`},
		{&s.updDoc, `UPDATE docs SET revid = ?, deleted = ?, seq = ?, tree = ?, body = ? WHERE key = ?`},
		{&s.delDoc, `DELETE FROM docs WHERE key = ?`},
		{&s.delDocRemotes, `DELETE FROM remote_ancestors WHERE coll = ? AND docid = ?`},
		{&s.setExpiration, `UPDATE docs SET expiration = ? WHERE key = ?`},
		{&s.updColl, `UPDATE collections SET last_seq = ?, doc_count = ? WHERE id = ?`},
		{&s.setRemote, `INSERT INTO remote_ancestors (coll, docid, remote, revid) VALUES (?, ?, ?, ?)
			ON CONFLICT (coll, docid, remote) DO UPDATE SET revid = excluded.revid`},
		{&s.delRemote, `DELETE FROM remote_ancestors WHERE coll = ? AND docid = ? AND remote = ?`},
		{&s.selLocal, `SELECT rev FROM local_docs WHERE id = ?`},
		{&s.putLocal, `INSERT INTO local_docs (id, rev, body) VALUES (?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET rev = excluded.rev, body = excluded.body`},
		{&s.delLocal, `DELETE FROM local_docs WHERE id = ?`},
	}
	for _, p := range list {
		st, err := c.PrepareContext(ctx, p.sql)
		if err != nil {
			return fmt.Errorf("prepare %q: %w", p.sql, classify(err))
		}
		*p.dst = st
	}
	return nil
}

func (s *writerStmts) close() {
	for _, st := range []*sql.Stmt{s.selDoc, s.selDocMeta, s.insDoc, s.updDoc, s.delDoc, s.delDocRemotes,
		s.setExpiration, s.updColl, s.setRemote, s.delRemote, s.selLocal, s.putLocal, s.delLocal} {
		if st != nil {
			st.Close()
		}
	}
}

// readerStmts are prepared on the reader pool (database/sql prepares them
// lazily on each pooled connection).
type readerStmts struct {
	getDoc     *sql.Stmt
	getTree    *sql.Stmt
	changes    *sql.Stmt
	getLocal   *sql.Stmt
	getRemote  *sql.Stmt
	expired    *sql.Stmt
	expiration *sql.Stmt
}

func (s *readerStmts) prepare(ctx context.Context, db *sql.DB) error {
	list := []struct {
		dst **sql.Stmt
		sql string
	}{
		{&s.getDoc, `SELECT revid, deleted, seq, expiration, body FROM docs WHERE coll = ? AND docid = ?`},
		{&s.getTree, `SELECT revid, deleted, seq, expiration, tree, body FROM docs WHERE coll = ? AND docid = ?`},
		{&s.changes, `SELECT seq, docid, revid, deleted, length(body) FROM docs WHERE coll = ? AND seq > ? ORDER BY seq LIMIT ?`},
		{&s.getLocal, `SELECT rev, body FROM local_docs WHERE id = ?`},
		{&s.getRemote, `SELECT revid FROM remote_ancestors WHERE coll = ? AND docid = ? AND remote = ?`},
		{&s.expired, `SELECT coll, docid FROM docs WHERE expiration IS NOT NULL AND expiration <= ? ORDER BY expiration LIMIT 256`},
		{&s.expiration, `SELECT expiration FROM docs WHERE coll = ? AND docid = ?`},
	}
	for _, p := range list {
		st, err := db.PrepareContext(ctx, p.sql)
		if err != nil {
			return fmt.Errorf("prepare %q: %w", p.sql, classify(err))
		}
		*p.dst = st
	}
	return nil
}

func (s *readerStmts) close() {
	for _, st := range []*sql.Stmt{s.getDoc, s.getTree, s.changes, s.getLocal, s.getRemote, s.expired, s.expiration} {
		if st != nil {
			st.Close()
		}
	}
}
