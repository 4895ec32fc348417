package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/p2psync/libp2psync/engine/hlv"
)

// Kept versions: the version of a kept body that is no longer current.
//
// The vv/vv_rev columns hold the vector of the current revision only. The body retention
// rule (revTree.dropBodies) also keeps the body of the current revision's parent, so that
// a delta against the previous revision can be made; under CBMobile_4 a peer names that
// revision by its version (the delta source of a rev, the version a changes answer or a
// remote ancestor names), which the parent node no longer carries once a child is saved
// on top of it. The kept_versions table records it: one row per document, written in the
// same transaction as the save (storeDoc), naming the parent (revid) and its version. A
// row states a fact that stays true (a revision's version never changes; a rev-tree ID
// names one body), so it is used whenever revid still has its body here, whatever was
// saved since; a row left behind (a later save whose parent had no version writes none)
// names a revision whose body is gone by then, or still the right one. Purging a document
// or deleting its collection deletes its row. Nothing else reads or writes the table; a
// database without it gains it when opened (schemaSQL), and deleting it loses nothing
// but deltas against parents.

// keptVersionsSchema creates the table (run with schemaSQL on every open).
const keptVersionsSchema = `CREATE TABLE IF NOT EXISTS kept_versions (
		coll INTEGER NOT NULL,
		docid TEXT NOT NULL,
		revid TEXT NOT NULL,
		version TEXT NOT NULL,
		PRIMARY KEY (coll, docid)) WITHOUT ROWID`

// SQL of the statements on kept_versions (writerStmts / readerStmts).
const (
	keptVersionPutSQL = `INSERT INTO kept_versions (coll, docid, revid, version) VALUES (?, ?, ?, ?)
			ON CONFLICT (coll, docid) DO UPDATE SET revid = excluded.revid, version = excluded.version`
	keptVersionDelSQL = `DELETE FROM kept_versions WHERE coll = ? AND docid = ?`
	keptVersionGetSQL = `SELECT revid, version FROM kept_versions WHERE coll = ? AND docid = ?`
)

// noteKeptVersion records, when a save made revision cur of t current, the version of its
// parent if the parent was the previous current revision (row.vector belongs to it), had
// a version, and keeps its body. Nothing is written otherwise (a row left from an earlier
// save still names a revision with that version), nor when the database does not permit
// delta sync (the record serves only deltas).
func (b *Batch) noteKeptVersion(c *Collection, id string, row *docRow, t *revTree, cur int) error {
	if b.db.noDeltas || row == nil || row.vector.text == "" || cur < 0 {
		return nil
	}
	parent := t.nodes[cur].parent
	if parent < 0 || t.nodes[parent].id != row.vector.rev || !t.nodes[parent].hasBody() {
		return nil
	}
	cv, err := hlv.CurrentVersion(row.vector.text)
	if err != nil {
		return nil // not written by this package: the parent is left without a version
	}
	if _, err := b.db.wstmts.putKeptVer.ExecContext(b.ctx, c.id, id, row.vector.rev, cv.String()); err != nil {
		return b.fail(err)
	}
	return nil
}

// GetRevisionByVersion returns the revision of document id whose version is version: the
// current revision when it has that version, or the current revision's parent when it
// had that version and its body is still kept (the body retention rule keeps the
// parent's, for deltas). The returned Document has Version and Timestamp set (Vector only
// for the current revision). ErrNotFound when no revision with a kept body has that
// version here (another peer's version of the document not stored as such, an older one
// whose body is gone, or a parent saved while the database did not permit delta sync); a
// version that does not parse is ErrInvalidRevID.
func (c *Collection) GetRevisionByVersion(ctx context.Context, id, version string) (*Document, error) {
	want, err := hlv.ParseVersion(version)
	if err != nil {
		return nil, fmt.Errorf("get version %s of %q: %w: %v", version, id, ErrInvalidRevID, err)
	}
	v := want.String()
	// The record first: it is small, and a delta base is usually the parent. Each path
	// then reads the document's row once.
	rev, err := c.keptVersionOf(ctx, id, v)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("get version %s of %q: %w", version, id, err)
	}
	if err == nil {
		kept, err := c.GetRevision(ctx, id, rev)
		if err == nil {
			kept.Version, kept.Timestamp, kept.Vector = v, want.Time, ""
			return kept, nil
		}
		if !errors.Is(err, ErrNotFound) {
			return nil, fmt.Errorf("get version %s of %q: %w", version, id, err)
		}
	}
	doc, err := c.GetWithDeleted(ctx, id)
	if err == nil && doc.Version != v {
		err = fmt.Errorf("%w: no revision with a kept body has this version", ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get version %s of %q: %w", version, id, err)
	}
	return doc, nil
}

// GetVersionCurrentFirst is GetRevisionByVersion for a caller that expects version to be
// the current revision's (a receiver of a delta: its base is normally what it has now): the
// current revision is read first, without looking at the record of the kept parent's
// version, which is read only when the current revision has another version.
func (c *Collection) GetVersionCurrentFirst(ctx context.Context, id, version string) (*Document, error) {
	want, err := hlv.ParseVersion(version)
	if err != nil {
		return nil, fmt.Errorf("get version %s of %q: %w: %v", version, id, ErrInvalidRevID, err)
	}
	doc, err := c.GetWithDeleted(ctx, id)
	if err == nil && doc.Version == want.String() {
		return doc, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get version %s of %q: %w", version, id, err)
	}
	return c.GetRevisionByVersion(ctx, id, version)
}

// keptVersionOf returns the rev-tree ID of the kept revision recorded with version;
// ErrNotFound when none is.
func (c *Collection) keptVersionOf(ctx context.Context, id, version string) (string, error) {
	if err := c.usable(); err != nil {
		return "", err
	}
	defer c.db.leave()
	var rev, ver string
	err := c.db.rstmts.getKeptVer.QueryRowContext(ctx, c.id, id).Scan(&rev, &ver)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && ver != version) {
		return "", fmt.Errorf("%w: no kept revision has this version", ErrNotFound)
	}
	if err != nil {
		return "", classify(err)
	}
	return rev, nil
}
