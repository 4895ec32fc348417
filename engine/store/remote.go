package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/p2psync/libp2psync/engine/hlv"
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

// RemoteAncestors is RemoteAncestor for many documents in one statement:
// the result maps each listed document that has a record to its revision
// (documents without one are absent). A replicator reads the records of a
// whole list of changes this way instead of one query per document. An
// invalid ID fails the whole call (ErrInvalidID).
func (c *Collection) RemoteAncestors(ctx context.Context, remote string, docIDs []string) (map[string]string, error) {
	out := make(map[string]string)
	if len(docIDs) == 0 {
		return out, nil
	}
	for _, id := range docIDs {
		if err := validateDocID(id); err != nil {
			return nil, fmt.Errorf("get remote ancestors: %w", err)
		}
	}
	list, err := json.Marshal(docIDs)
	if err != nil {
		return nil, fmt.Errorf("get remote ancestors: %w", err)
	}
	if err := c.usable(); err != nil {
		return nil, fmt.Errorf("get remote ancestors: %w", err)
	}
	defer c.db.leave()
	rows, err := c.db.rstmts.getRemotes.QueryContext(ctx, c.id, remote, string(list))
	if err != nil {
		return nil, fmt.Errorf("get remote ancestors: %w", classify(err))
	}
	defer rows.Close()
	for rows.Next() {
		var id, rev string
		if err := rows.Scan(&id, &rev); err != nil {
			return nil, fmt.Errorf("get remote ancestors: %w", classify(err))
		}
		out[id] = rev
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("get remote ancestors: %w", classify(err))
	}
	return out, nil
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

// SetRemoteAncestors is SetRemoteAncestor for many documents of one
// collection in one statement: revs maps document IDs to revision IDs ("" clears
// that document's record). A replicator records the acknowledgements of a
// whole list this way. Every entry is checked first; an invalid one fails the
// call with nothing written (ErrInvalidID, ErrInvalidRevID), and the batch
// stays usable.
func (b *Batch) SetRemoteAncestors(c *Collection, remote string, revs map[string]string) error {
	set := make(map[string]string, len(revs))
	var clear []string
	for id, rev := range revs {
		if err := checkRemoteAncestor(id, rev); err != nil {
			return err
		}
		if rev == "" {
			clear = append(clear, id)
		} else {
			set[id] = rev
		}
	}
	if err := b.start(); err != nil {
		return fmt.Errorf("set remote ancestors: %w", err)
	}
	defer b.end()
	for _, id := range clear {
		if err := b.setRemoteAncestor(c, remote, id, ""); err != nil {
			return err
		}
	}
	if len(set) == 0 {
		return nil
	}
	if err := b.checkColl(c); err != nil {
		return fmt.Errorf("set remote ancestors: %w", err)
	}
	list, err := json.Marshal(set)
	if err != nil {
		return fmt.Errorf("set remote ancestors: %w", err)
	}
	if _, err := b.db.wstmts.setRemotes.ExecContext(b.ctx, c.id, remote, string(list)); err != nil {
		return fmt.Errorf("set remote ancestors: %w", b.fail(err))
	}
	return nil
}

func checkRemoteAncestor(docID, revID string) error {
	if err := validateDocID(docID); err != nil {
		return fmt.Errorf("set remote ancestor: %w", err)
	}
	if revID != "" {
		// A rev-tree ID, or under CBMobile_4 the remote's current version.
		if _, _, err := parseRevID(revID); err != nil {
			if _, verr := hlv.ParseVersion(revID); verr != nil || hlv.IsLegacyRevID(revID) {
				return fmt.Errorf("set remote ancestor of %q: %w", docID, err)
			}
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
