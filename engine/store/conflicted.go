package store

import (
	"context"
	"encoding/binary"
	"fmt"
)

// ConflictedDocuments returns the IDs of the documents of c that are in
// conflict — more than one live leaf revision, as reported by Conflicts — in
// sequence order. It reads the revision tree of every live document in one
// statement (one snapshot), so it costs a scan of the collection: it is meant
// for occasional use, such as a replicator looking, when it (re)connects, for
// conflicts it has not resolved yet.
func (c *Collection) ConflictedDocuments(ctx context.Context) ([]string, error) {
	return c.scanLiveTrees(ctx, "list conflicted documents", func(t *revTree) bool {
		return len(t.liveLeaves()) > 1
	})
}

// BranchedDocuments returns the IDs of the live documents of c whose
// revision tree has more than one leaf, live or deleted, in sequence order: the
// conflicted ones (see ConflictedDocuments) and those with a deleted branch
// beside the live current revision — a branch closed by a conflict
// resolution, or a deletion pulled from a peer whose conflict with the local
// revision has not been resolved yet. It costs a scan of the collection, like
// ConflictedDocuments.
func (c *Collection) BranchedDocuments(ctx context.Context) ([]string, error) {
	return c.scanLiveTrees(ctx, "list branched documents", func(t *revTree) bool {
		leaves := 0
		for _, parent := range t.isParent() {
			if !parent {
				leaves++
			}
		}
		return leaves > 1
	})
}

// scanLiveTrees returns, in sequence order, the live documents whose tree has
// more than one revision and satisfies keep.
func (c *Collection) scanLiveTrees(ctx context.Context, what string, keep func(*revTree) bool) ([]string, error) {
	if err := c.usable(); err != nil {
		return nil, fmt.Errorf("%s of %s: %w", what, c.FullName(), err)
	}
	defer c.db.leave()
	// The current revision of a document with a live leaf is live (a live leaf beats a
	// deleted one), so tombstoned documents need not be read.
	rows, err := c.db.rdb.QueryContext(ctx, `SELECT docid, tree FROM `+docsTable(c.id)+` WHERE deleted = 0 ORDER BY seq`)
	if err != nil {
		return nil, fmt.Errorf("%s of %s: %w", what, c.FullName(), classify(err))
	}
	defer rows.Close()
	var (
		out  []string
		id   string
		tree []byte
	)
	for rows.Next() {
		if err := rows.Scan(&id, &tree); err != nil {
			return nil, fmt.Errorf("%s of %s: %w", what, c.FullName(), classify(err))
		}
		// A tree of one revision has one leaf: skip decoding it (schema 2 stores most
		// as an empty blob).
		if len(tree) == 0 {
			continue
		}
		if len(tree) > 1 && tree[0] == treeFormatVersion {
			if n, k := binary.Uvarint(tree[1:]); k > 0 && n == 1 {
				continue
			}
		}
		t, err := decodeTree(tree, []byte{})
		if err != nil {
			return nil, fmt.Errorf("%s of %s: document %q: %w", what, c.FullName(), id, err)
		}
		if keep(t) {
			out = append(out, id)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s of %s: %w", what, c.FullName(), classify(err))
	}
	return out, nil
}
