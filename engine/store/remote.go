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
	if err := checkRemoteAncestor(docID, revID); err != nil {
		return err
	}
	return c.write(ctx, "set remote ancestor", func(b *Batch) error {
		if err := b.start(); err != nil {
			return err
		}
		defer b.end()
		return b.setRemoteAncestor(c, remote, docID, revID)
	})
}

// SetRemoteAncestor is Collection.SetRemoteAncestor inside the batch: the
// record is written with the batch's other changes, committed or rolled
// back together with them. Recording many ancestors in one batch costs one
// transaction instead of one each. An invalid docID or revID fails only this
// call (ErrInvalidID, ErrInvalidRevID); the batch stays usable.
func (b *Batch) SetRemoteAncestor(c *Collection, remote, docID, revID string) error {
	if err := checkRemoteAncestor(docID, revID); err != nil {
		return err
	}
	if err := b.start(); err != nil {
		return fmt.Errorf("set remote ancestor of %q: %w", docID, err)
	}
	defer b.end()
	return b.setRemoteAncestor(c, remote, docID, revID)
}

func checkRemoteAncestor(docID, revID string) error {
	if err := validateDocID(docID); err != nil {
		return fmt.Errorf("set remote ancestor: %w", err)
	}
	if revID != "" {
		if _, _, err := parseRevID(revID); err != nil {
			return fmt.Errorf("set remote ancestor of %q: %w", docID, err)
		}
	}
	return nil
}

// setRemoteAncestor writes the record; the caller holds the batch (start).
func (b *Batch) setRemoteAncestor(c *Collection, remote, docID, revID string) error {
	if err := b.checkColl(c); err != nil {
		return fmt.Errorf("set remote ancestor of %q: %w", docID, err)
	}
	var err error
	if revID == "" {
		_, err = b.db.wstmts.delRemote.ExecContext(b.ctx, c.id, docID, remote)
	} else {
		_, err = b.db.wstmts.setRemote.ExecContext(b.ctx, c.id, docID, remote, revID)
	}
	if err != nil {
		return fmt.Errorf("set remote ancestor of %q: %w", docID, b.fail(err))
	}
	return nil
}
