package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"

	"github.com/p2psync/libp2psync/engine/blobstore"

	"github.com/p2psync/libp2psync/engine/internal/jsonscan"
)

// blobDirName is the blob store's directory inside the database directory.
const blobDirName = "blobs"

// Blobs returns the database's blob store (the directory "blobs" inside the database
// directory). Its calls fail with blobstore.ErrClosed after Close.
func (db *Database) Blobs() *blobstore.Store { return db.blobs }

// CompactStats reports what Compact removed.
type CompactStats = blobstore.SweepStats

// Compact removes the blobs that no kept revision refers to, and the temporary files of
// blob writers that crashed. A blob is referenced when a revision whose body the
// database still keeps mentions its digest, either in a "@type":"blob" dictionary
// anywhere in the body or in a top-level "_attachments" entry: the current revision,
// every other leaf (conflicting branches, deleted leaves) and the parent of the current
// revision (kept for deltas); see "Documents and revisions" for which bodies are kept.
// Blobs committed since the previous Compact began are kept too (see
// blobstore.Store.Sweep), so a blob written for a document not saved yet survives a
// Compact running in between.
//
// Compact holds the write lock for its whole run: saves wait, and no save can start
// referring to a blob while the sweep decides to remove it. A crash at any point
// removes nothing that is referenced: the references are read before anything is
// deleted, and files are only ever removed.
func (db *Database) Compact(ctx context.Context) (CompactStats, error) {
	var st CompactStats
	err := db.write(ctx, func(b *Batch) error {
		refs, err := b.referencedBlobs()
		if err != nil {
			return err
		}
		st, err = db.blobs.Sweep(func(d blobstore.Digest) bool {
			_, ok := refs[d]
			return ok
		})
		if err != nil {
			return fmt.Errorf("%w: %w", ErrIO, err)
		}
		return nil
	})
	if err != nil {
		return st, fmt.Errorf("compact database: %w", err)
	}
	return st, nil
}

// referencedBlobs reads, inside the batch's transaction, the digests referred to by
// every kept revision body of every collection.
func (b *Batch) referencedBlobs() (map[blobstore.Digest]struct{}, error) {
	rows, err := b.db.wconn.QueryContext(b.ctx, `SELECT id FROM collections`)
	if err != nil {
		return nil, b.fail(err)
	}
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, b.fail(err)
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, b.fail(err)
	}
	refs := make(map[blobstore.Digest]struct{})
	for _, id := range ids {
		if err := b.collectBlobRefs(id, refs); err != nil {
			return nil, err
		}
	}
	return refs, nil
}

// collectKeptBlobRefs adds the blobs referenced by the bodies of the collection's
// kept-bodies table to refs.
func (b *Batch) collectKeptBlobRefs(collID int64, refs map[blobstore.Digest]struct{}) error {
	rows, err := b.db.wconn.QueryContext(b.ctx, `SELECT id, body FROM `+keptTable(collID))
	if err != nil {
		return b.fail(err)
	}
	defer rows.Close()
	var (
		ref  int64
		body []byte
	)
	for rows.Next() {
		if err := rows.Scan(&ref, &body); err != nil {
			return b.fail(err)
		}
		if !blobstore.MayReference(body) {
			continue
		}
		if err := addBlobDigests(refs, body); err != nil {
			return fmt.Errorf("%w: kept body %d of collection %d: %v", ErrCorrupt, ref, collID, err)
		}
	}
	if err := rows.Err(); err != nil {
		return b.fail(err)
	}
	return nil
}

// addBlobDigests adds to refs the digest of each blob body references.
func addBlobDigests(refs map[blobstore.Digest]struct{}, body []byte) error {
	found, err := blobstore.References(body)
	if err != nil {
		return err
	}
	for _, r := range found {
		if r.HasDigest {
			refs[r.Digest] = struct{}{}
		}
	}
	return nil
}

func (b *Batch) collectBlobRefs(collID int64, refs map[blobstore.Digest]struct{}) error {
	if err := b.collectKeptBlobRefs(collID, refs); err != nil {
		return err
	}
	rows, err := b.db.wconn.QueryContext(b.ctx, `SELECT docid, revid, deleted, seq, tree, body FROM `+docsTable(collID))
	if err != nil {
		return b.fail(err)
	}
	defer rows.Close()
	var (
		id, revid  string
		deleted    bool
		seq        int64
		tree, body []byte
	)
	for rows.Next() {
		if err := rows.Scan(&id, &revid, &deleted, &seq, &tree, &body); err != nil {
			return b.fail(err)
		}
		// Most documents hold no blob: skip decoding them.
		if !blobstore.MayReference(tree) && !blobstore.MayReference(body) {
			continue
		}
		t, err := decodeRowTree(tree, body, revid, deleted, uint64(seq), true)
		if err != nil {
			return fmt.Errorf("document %q: %w", id, err)
		}
		for i := range t.nodes {
			if t.nodes[i].body == nil {
				continue // no body, or one in the kept-bodies table (collectKeptBlobRefs)
			}
			if err := addBlobDigests(refs, t.nodes[i].body); err != nil {
				// A stored body that does not parse is damage: never guess, never sweep.
				return fmt.Errorf("%w: document %q revision %s: %v", ErrCorrupt, id, t.nodes[i].id, err)
			}
		}
	}
	if err := rows.Err(); err != nil {
		return b.fail(err)
	}
	return nil
}

// unsatisfiedBlobs returns the "@type":"blob" references of a body about to be saved
// locally that the blob store cannot back: malformed dictionaries and digests it does
// not hold. Whether they are refused depends on the revision replaced (checkBlobRefs).
// Legacy _attachments entries are not checked here.
func (b *Batch) unsatisfiedBlobs(data []byte) ([]blobstore.Ref, error) {
	if !blobstore.MayReference(data) {
		return nil, nil
	}
	refs, err := blobstore.References(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidJSON, err)
	}
	var out []blobstore.Ref
	for _, r := range refs {
		if r.Legacy {
			continue
		}
		if r.Problem != "" {
			out = append(out, r)
			continue
		}
		size, err := b.db.blobs.Stat(r.Digest)
		switch {
		case errors.Is(err, blobstore.ErrNotFound):
			out = append(out, r)
		case err != nil:
			return nil, fmt.Errorf("%w: %w", ErrIO, err)
		case r.Length >= 0 && r.Length != size:
			return nil, fmt.Errorf("%w: blob at %s says length %d but blob %s has %d bytes",
				ErrInvalidJSON, r.Pointer, r.Length, r.Digest, size)
		}
	}
	return out, nil
}

// checkBlobRefs refuses the unsatisfied references of a new local revision unless the
// revision it replaces (prev, nil for none) carries the same reference: a document
// pulled from a peer whose blob content has not arrived can still be edited, but a save
// cannot introduce a blob this database does not hold, nor a malformed blob dictionary.
func checkBlobRefs(unsatisfied []blobstore.Ref, prev []byte) error {
	if len(unsatisfied) == 0 {
		return nil
	}
	carried := map[string]bool{}
	if prev != nil && blobstore.MayReference(prev) {
		if refs, err := blobstore.References(prev); err == nil {
			for _, r := range refs {
				carried[refKey(r)] = true
			}
		}
	}
	for _, r := range unsatisfied {
		if carried[refKey(r)] {
			continue
		}
		if r.Problem != "" {
			return fmt.Errorf("%w: blob dictionary at %s: %s", ErrInvalidJSON, r.Pointer, r.Problem)
		}
		return fmt.Errorf("%w: blob %s (at %s) is not in this database; store its content first",
			ErrNotFound, r.Digest, r.Pointer)
	}
	return nil
}

func refKey(r blobstore.Ref) string {
	if r.Problem != "" {
		return "problem:" + r.Pointer + ":" + r.Problem
	}
	return r.Digest.String()
}

func openBlobs(dir string) (*blobstore.Store, error) {
	s, err := blobstore.Open(filepath.Join(dir, blobDirName))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrIO, err)
	}
	return s, nil
}

// hasTopLevelAttachments reports whether the compact document body data has a
// top-level "_attachments" member.
func hasTopLevelAttachments(data []byte) bool {
	if !jsonscan.ContainsRare(data, []byte(`"_attachments"`)) && !jsonscan.ContainsRare(data, []byte(`"\u005`)) {
		return false
	}
	_, ok := topLevelValue(data, AttachmentsProperty)
	return ok
}

// topLevelValue returns the value of the top-level member name of the JSON object
// data (a compact, valid body), decoded names compared.
func topLevelValue(data []byte, name string) (json.RawMessage, bool) {
	var members map[string]json.RawMessage
	if err := json.Unmarshal(data, &members); err != nil {
		return nil, false
	}
	v, ok := members[name]
	return v, ok
}

// checkAttachmentsCarried refuses a local body whose top-level "_attachments" is not the
// one of the revision it replaces (prev, nil for none), compared as JSON values (key
// order and number spelling aside): the legacy attachment metadata comes from a peer
// (Sync Gateway) and describes content this database fetched or will fetch under those
// digests, so an application may keep it when it edits the document, but not make it up
// or change it (a peer would take the stubs as attachments the document has).
func checkAttachmentsCarried(data, prev []byte) error {
	mine, _ := topLevelValue(data, AttachmentsProperty)
	var theirs json.RawMessage
	ok := false
	if prev != nil {
		theirs, ok = topLevelValue(prev, AttachmentsProperty)
	}
	if ok && sameJSON(mine, theirs) {
		return nil
	}
	return fmt.Errorf("%w: %q (only carried over unchanged from the revision it replaces; local blobs are \"@type\":\"blob\" dictionaries)",
		ErrReservedProperty, AttachmentsProperty)
}

func sameJSON(a, b []byte) bool {
	var x, y any
	da, db := json.NewDecoder(bytes.NewReader(a)), json.NewDecoder(bytes.NewReader(b))
	da.UseNumber()
	db.UseNumber()
	if da.Decode(&x) != nil || db.Decode(&y) != nil {
		return false
	}
	return reflect.DeepEqual(normalizeNumbers(x), normalizeNumbers(y))
}

// normalizeNumbers replaces json.Number values by their float64 (so 1 and 1.0 match).
func normalizeNumbers(v any) any {
	switch t := v.(type) {
	case json.Number:
		f, err := t.Float64()
		if err != nil {
			return t.String()
		}
		return f
	case map[string]any:
		for k, e := range t {
			t[k] = normalizeNumbers(e)
		}
	case []any:
		for i, e := range t {
			t[i] = normalizeNumbers(e)
		}
	}
	return v
}
