package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// AnyRev passed as expectedRev to PutLocal skips the revision check.
const AnyRev = "*"

// GetLocal returns a local (non-replicated) document and its revision.
func (db *Database) GetLocal(ctx context.Context, id string) (body []byte, rev string, err error) {
	if err := validateDocID(id); err != nil {
		return nil, "", fmt.Errorf("get local document: %w", err)
	}
	if err := db.enter(); err != nil {
		return nil, "", fmt.Errorf("get local document %q: %w", id, err)
	}
	defer db.leave()
	err = db.rstmts.getLocal.QueryRowContext(ctx, id).Scan(&rev, &body)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, "", fmt.Errorf("get local document %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, "", fmt.Errorf("get local document %q: %w", id, classify(err))
	}
	return body, rev, nil
}

// PutLocal writes a local document. expectedRev must be its current
// revision ("" if it must not exist yet) unless it is AnyRev; a mismatch is
// ErrConflict. It returns the new revision ("<n>-local").
func (db *Database) PutLocal(ctx context.Context, id string, body []byte, expectedRev string) (newRev string, err error) {
	newRev, _, err = db.putLocal(ctx, id, body, expectedRev, "", 0)
	return newRev, err
}

// PutLocalCapped is PutLocal for a family of local documents whose IDs begin with
// prefix (id must begin with it) and of which at most max are kept: when the write
// creates a new one and more than max would exist, the least recently written others of
// the family are deleted in the same transaction. It returns how many were deleted.
// Replacing an existing document deletes nothing. max <= 0 keeps any number.
func (db *Database) PutLocalCapped(ctx context.Context, id string, body []byte, expectedRev, prefix string, max int) (newRev string, evicted int, err error) {
	if prefix == "" || !strings.HasPrefix(id, prefix) {
		return "", 0, fmt.Errorf("put local document %q: %w: it does not begin with %q", id, ErrInvalidID, prefix)
	}
	return db.putLocal(ctx, id, body, expectedRev, prefix, max)
}

func (db *Database) putLocal(ctx context.Context, id string, body []byte, expectedRev, prefix string, max int) (newRev string, evicted int, err error) {
	if err := validateDocID(id); err != nil {
		return "", 0, fmt.Errorf("put local document: %w", err)
	}
	data, err := compactObject(body)
	if err != nil {
		return "", 0, fmt.Errorf("put local document %q: %w", id, err)
	}
	err = db.write(ctx, func(b *Batch) error {
		var current string
		err := db.wstmts.selLocal.QueryRowContext(b.ctx, id).Scan(&current)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return b.fail(err)
		}
		if expectedRev != AnyRev && expectedRev != current {
			if current == "" {
				return fmt.Errorf("%w: expected revision %s but the document does not exist", ErrConflict, expectedRev)
			}
			return fmt.Errorf("%w: expected revision %q, current is %s", ErrConflict, expectedRev, current)
		}
		n := 0
		if current != "" {
			g, _, _ := strings.Cut(current, "-")
			n, _ = strconv.Atoi(g)
		}
		newRev = strconv.Itoa(n+1) + "-local"
		if current == "" && max > 0 {
			if evicted, err = db.evictLocal(b, prefix, max-1); err != nil {
				return err
			}
		}
		if _, err := db.wstmts.putLocal.ExecContext(b.ctx, id, newRev, data, time.Now().UnixNano()); err != nil {
			return b.fail(err)
		}
		return nil
	})
	if err != nil {
		return "", 0, fmt.Errorf("put local document %q: %w", id, err)
	}
	return newRev, evicted, nil
}

// evictLocal deletes the least recently written local documents whose IDs begin with
// prefix until at most keep remain; it returns how many it deleted. Documents written
// before the written column existed count as the oldest.
func (db *Database) evictLocal(b *Batch, prefix string, keep int) (int, error) {
	lo, hi := prefix, prefixEnd(prefix)
	var count int
	if err := db.wconn.QueryRowContext(b.ctx, `SELECT count(*) FROM local_docs WHERE id >= ? AND id < ?`, lo, hi).Scan(&count); err != nil {
		return 0, b.fail(err)
	}
	if count <= keep {
		return 0, nil
	}
	res, err := db.wconn.ExecContext(b.ctx, `DELETE FROM local_docs WHERE id IN
		(SELECT id FROM local_docs WHERE id >= ? AND id < ? ORDER BY written, id LIMIT ?)`, lo, hi, count-keep)
	if err != nil {
		return 0, b.fail(err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, b.fail(err)
	}
	return int(n), nil
}

// prefixEnd is the least string above every string that begins with prefix (prefix is
// valid UTF-8, so a 0xFF byte is above each of its continuations).
func prefixEnd(prefix string) string {
	return prefix + "\xff"
}

// localWrittenColumn adds local_docs.written (the time of the last write, for
// PutLocalCapped's eviction order) to a database created before it existed. Older
// versions of this library name their columns when they write, so they keep working
// (their writes leave the column as it was).
func (db *Database) localWrittenColumn(ctx context.Context) error {
	return db.addMissingColumns(ctx, "local_docs", [2]string{"written", "INTEGER NOT NULL DEFAULT 0"})
}

// DeleteLocal removes a local document; ErrNotFound if absent.
func (db *Database) DeleteLocal(ctx context.Context, id string) error {
	if err := validateDocID(id); err != nil {
		return fmt.Errorf("delete local document: %w", err)
	}
	err := db.write(ctx, func(b *Batch) error {
		res, err := db.wstmts.delLocal.ExecContext(b.ctx, id)
		if err != nil {
			return b.fail(err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return b.fail(err)
		} else if n == 0 {
			return ErrNotFound
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete local document %q: %w", id, err)
	}
	return nil
}
