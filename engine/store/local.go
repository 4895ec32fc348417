package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
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
	if err := validateDocID(id); err != nil {
		return "", fmt.Errorf("put local document: %w", err)
	}
	data, err := compactObject(body)
	if err != nil {
		return "", fmt.Errorf("put local document %q: %w", id, err)
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
		if _, err := db.wstmts.putLocal.ExecContext(b.ctx, id, newRev, data); err != nil {
			return b.fail(err)
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("put local document %q: %w", id, err)
	}
	return newRev, nil
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
