package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
)

// This file is the store's side of engine/query: it tells the query compiler
// which table holds a collection and runs the compiled, read-only SQL. The
// compiler may rely on these columns of a documents table and nothing else:
//
//	docid      TEXT     the document ID
//	revid      TEXT     the current revision ID
//	deleted    INTEGER  1 when the current revision is a tombstone
//	seq        INTEGER  the sequence of the document's latest change
//	expiration INTEGER  expiry time (Unix milliseconds) or NULL
//	body       BLOB     the current revision's body, compact JSON text
//
// One row per document, holding its current revision.

// QueryTable returns the name of the SQLite table holding the documents of
// scope.name (scope "" = "_default"), or ErrNotFound.
func (db *Database) QueryTable(ctx context.Context, scope, name string) (string, error) {
	c, err := db.Collection(ctx, scope, name)
	if err != nil {
		return "", err
	}
	return docsTable(c.id), nil
}

// QueryRows is the result of Database.Query: an *sql.Rows whose Close also
// ends the call (Close of the Database waits for open QueryRows).
type QueryRows struct {
	*sql.Rows
	once  sync.Once
	db    *Database
	conn  *sql.Conn // pinned connection of an EXPLAIN, closed with the rows
	close error
}

// Close closes the rows; it may be called more than once.
func (r *QueryRows) Close() error {
	r.once.Do(func() {
		r.close = r.Rows.Close()
		if r.conn != nil {
			r.conn.Close()
		}
		r.db.openQueries.Add(-1)
		r.db.leave()
	})
	return r.close
}

// Query runs one read-only SQL statement (compiled by engine/query) with
// positional args on a reader connection, which sees the last committed
// state. A statement that would write fails (the readers are query_only).
// The caller must Close the rows; Database.Close waits for that.
func (db *Database) Query(ctx context.Context, sqlText string, args ...any) (*QueryRows, error) {
	if err := db.enter(); err != nil {
		return nil, err
	}
	if n := db.openQueries.Add(1); n > MaxOpenQueries {
		db.openQueries.Add(-1)
		db.leave()
		return nil, fmt.Errorf("%w: %d query results are open; close one first", ErrBusy, MaxOpenQueries)
	}
	rows, err := db.query(ctx, sqlText, args)
	if err != nil {
		db.openQueries.Add(-1)
		db.leave()
		return nil, err
	}
	return rows, nil
}

// MaxOpenQueries is how many QueryRows may be open at once; one more is refused
// with ErrBusy. Each open result holds a reader connection, and one reader is
// always left for the other calls, which would otherwise wait for a result the
// application may never close.
const MaxOpenQueries = readerConns - 1

func (db *Database) query(ctx context.Context, sqlText string, args []any) (*QueryRows, error) {
	if strings.HasPrefix(sqlText, "EXPLAIN") {
		return db.explain(ctx, sqlText, args)
	}
	rows, err := db.rdb.QueryContext(ctx, sqlText, args...)
	if err != nil {
		return nil, classify(err)
	}
	return &QueryRows{Rows: rows, db: db}, nil
}

// explain runs an EXPLAIN statement on a reader connection whose schema is
// current. A statement that reads the database notices a schema changed by the
// writer (a new index) and reloads it; EXPLAIN alone does not, and would show
// the plan of the schema the connection loaded last.
func (db *Database) explain(ctx context.Context, sqlText string, args []any) (*QueryRows, error) {
	conn, err := db.rdb.Conn(ctx)
	if err != nil {
		return nil, classify(err)
	}
	var n int64
	err = conn.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master`).Scan(&n)
	if err == nil {
		var rows *sql.Rows
		rows, err = conn.QueryContext(ctx, sqlText, args...)
		if err == nil {
			return &QueryRows{Rows: rows, db: db, conn: conn}, nil
		}
	}
	conn.Close()
	return nil, classify(err)
}

var indexNameRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]{0,63}$`)

// ErrIndexName is returned for an index name that is not 1-64 characters of
// A-Z a-z 0-9 _ starting with a letter.
var ErrIndexName = errors.New("store: invalid index name")

func valueIndexName(collID int64, name string) string {
	return fmt.Sprintf("qidx_%d_%s", collID, name)
}

// CreateValueIndex creates (or, when its definition changed, replaces) the
// index name of collection scope.coll on the SQL expressions exprs, which
// engine/query generated over the columns listed above. Only live documents
// are indexed (a partial index WHERE deleted = 0, which the compiled queries
// always state). Creating the same index again is a no-op. A full-text index
// of the same name is replaced.
func (db *Database) CreateValueIndex(ctx context.Context, scope, coll, name string, exprs []string) error {
	if !indexNameRE.MatchString(name) {
		return fmt.Errorf("create index %q: %w", name, ErrIndexName)
	}
	if len(exprs) == 0 {
		return fmt.Errorf("create index %q: %w: no expressions", name, ErrIndexName)
	}
	c, err := db.Collection(ctx, scope, coll)
	if err != nil {
		return fmt.Errorf("create index %q: %w", name, err)
	}
	idx := valueIndexName(c.id, name)
	ddl := `CREATE INDEX ` + idx + ` ON ` + docsTable(c.id) + ` (` + strings.Join(exprs, ", ") + `) WHERE deleted = 0`
	err = db.write(ctx, func(b *Batch) error {
		var old string
		err := db.wconn.QueryRowContext(b.ctx, `SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?`, idx).Scan(&old)
		switch {
		case err == nil && old == ddl:
			return nil
		case err == nil:
			if _, err := db.wconn.ExecContext(b.ctx, `DROP INDEX `+idx); err != nil {
				return b.fail(err)
			}
		case !errors.Is(err, sql.ErrNoRows):
			return b.fail(err)
		}
		if err := db.dropFullText(b, c.id, name); err != nil {
			return err
		}
		if _, err := db.wconn.ExecContext(b.ctx, ddl); err != nil {
			return b.fail(err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("create index %q on %s.%s: %w", name, c.scope, c.name, err)
	}
	return nil
}

// DeleteValueIndex drops the index name of scope.coll; ErrNotFound if there is none.
func (db *Database) DeleteValueIndex(ctx context.Context, scope, coll, name string) error {
	return db.deleteIndex(ctx, scope, coll, name, "index", "index", valueIndexName, db.dropValueIndex)
}

// deleteIndex drops the index name of scope.coll, whose schema object is the
// sqlite_master row of type typ named object(collection ID, name), with drop;
// ErrNotFound if there is none. what names the kind of index in errors.
func (db *Database) deleteIndex(ctx context.Context, scope, coll, name, what, typ string,
	object func(collID int64, name string) string, drop func(b *Batch, collID int64, name string) error) error {
	if !indexNameRE.MatchString(name) {
		return fmt.Errorf("delete %s %q: %w", what, name, ErrIndexName)
	}
	c, err := db.Collection(ctx, scope, coll)
	if err != nil {
		return fmt.Errorf("delete %s %q: %w", what, name, err)
	}
	obj := object(c.id, name)
	err = db.write(ctx, func(b *Batch) error {
		var n int
		if err := db.wconn.QueryRowContext(b.ctx, `SELECT count(*) FROM sqlite_master WHERE type = ? AND name = ?`, typ, obj).Scan(&n); err != nil {
			return b.fail(err)
		}
		if n == 0 {
			return ErrNotFound
		}
		return drop(b, c.id, name)
	})
	if err != nil {
		return fmt.Errorf("delete %s %q on %s.%s: %w", what, name, c.scope, c.name, err)
	}
	return nil
}

// ValueIndexes returns the names of the value indexes of scope.coll, sorted.
func (db *Database) ValueIndexes(ctx context.Context, scope, coll string) ([]string, error) {
	c, err := db.Collection(ctx, scope, coll)
	if err != nil {
		return nil, err
	}
	prefix := valueIndexName(c.id, "")
	rows, err := db.Query(ctx, `SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ? ORDER BY name`, docsTable(c.id))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, classify(err)
		}
		if strings.HasPrefix(n, prefix) {
			out = append(out, n[len(prefix):])
		}
	}
	return out, classify(rows.Err())
}
