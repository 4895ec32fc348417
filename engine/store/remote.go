package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// RemoteAncestor returns the latest revision of docID known to be on the
// given remote (PROTOCOL.md §4.6), or "" if none is recorded.
func (c *Collection) RemoteAncestor(ctx context.Context, remote string, docID string) (string, error) {
	if err := validateDocID(docID); err != nil {
		return "", fmt.Errorf("get remote ancestor: %w", err)
	}
	if err := c.usable(); err != nil {
		return "", fmt.Errorf("get remote ancestor of %q: %w", docID, err)
	}
	defer c.db.leave()
	var rev string
	err := c.db.rstmts.getRemote.QueryRowContext(ctx, c.id, docID, remote).Scan(&rev)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("get remote ancestor of %q: %w", docID, classify(err))
	}
	return rev, nil
}

// SetRemoteAncestor records revID as the latest revision of docID on the
// remote; "" clears the record. The document need not exist. Purging the
// document or deleting the collection removes its records.
func (c *Collection) SetRemoteAncestor(ctx context.Context, remote string, docID, revID string) error {
	if err := validateDocID(docID); err != nil {
		return fmt.Errorf("set remote ancestor: %w", err)
	}
	if revID != "" {
		if _, _, err := parseRevID(revID); err != nil {
			return fmt.Errorf("set remote ancestor of %q: %w", docID, err)
		}
	}
	return c.write(ctx, "set remote ancestor", func(b *Batch) error {
		if err := b.start(); err != nil {
			return err
		}
		defer b.end()
		if err := b.checkColl(c); err != nil {
			return fmt.Errorf("set remote ancestor of %q: %w", docID, err)
		}
		var err error
		if revID == "" {
			_, err = c.db.wstmts.delRemote.ExecContext(b.ctx, c.id, docID, remote)
		} else {
			_, err = c.db.wstmts.setRemote.ExecContext(b.ctx, c.id, docID, remote, revID)
		}
		if err != nil {
			return fmt.Errorf("set remote ancestor of %q: %w", docID, b.fail(err))
		}
		return nil
	})
}
