package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"

	"github.com/p2psync/libp2psync/engine/store"
)

// Diff compares two collections completely, as two replicas that have converged must
// agree: the same document IDs (tombstones included), and for each document the same
// current revision ID, deletion flag and body, and the same open conflicts (live leaf
// revisions other than the current one). Every revision whose body both collections
// still keep must have the same body and deletion flag in both: one revision ID never
// stands for two bodies.
//
// Under CBMobile_4 a revision travels by its version (Document.Version), and a peer that
// lacks its parent stores it under a rev-tree ID of its own (a writer saves twice before
// pushing; a writer killed after committing a revision it had not pushed saves the
// document again after restarting): two current revisions with the same version and
// deletion flag are the same revision whatever their rev-tree IDs, and must have the
// same body.
//
// It returns the differences in document ID order (nil when the collections are
// identical); each names the document and both values. Run it only while nothing writes
// to either collection: it reads each document separately, not from one snapshot.
func Diff(ctx context.Context, a, b *store.Collection) ([]Difference, error) {
	docsA, err := currentDocs(ctx, a)
	if err != nil {
		return nil, err
	}
	docsB, err := currentDocs(ctx, b)
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(docsA)+len(docsB))
	for id := range docsA {
		ids = append(ids, id)
	}
	for id := range docsB {
		if _, ok := docsA[id]; !ok {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	var out []Difference
	add := func(id string, k DiffKind, format string, args ...any) {
		out = append(out, Difference{DocID: id, Kind: k, Text: fmt.Sprintf("%q: ", id) + fmt.Sprintf(format, args...)})
	}
	for _, id := range ids {
		da, inA := docsA[id]
		db, inB := docsB[id]
		switch {
		case !inB:
			add(id, DiffMissing, "only in A (rev %s deleted=%v body %s)", da.RevID, da.Deleted, clip(da.Body))
			continue
		case !inA:
			add(id, DiffMissing, "only in B (rev %s deleted=%v body %s)", db.RevID, db.Deleted, clip(db.Body))
			continue
		}
		switch {
		case da.RevID != db.RevID && da.Version != "" && da.Version == db.Version && da.Deleted == db.Deleted:
			// One version under two local rev-tree IDs (see the function comment).
			if !bytes.Equal(da.Body, db.Body) {
				add(id, DiffBody, "version %s has two bodies: A %s (rev %s), B %s (rev %s)", da.Version, clip(da.Body), da.RevID, clip(db.Body), db.RevID)
			}
		case da.RevID != db.RevID && da.Deleted && db.Deleted:
			add(id, DiffTombstone, "deleted on both sides by different tombstones: current revision A %s, B %s", da.RevID, db.RevID)
		case da.RevID != db.RevID || da.Deleted != db.Deleted:
			add(id, DiffCurrent, "current revision A %s deleted=%v, B %s deleted=%v", da.RevID, da.Deleted, db.RevID, db.Deleted)
		case !bytes.Equal(da.Body, db.Body):
			add(id, DiffBody, "revision %s has two bodies: A %s, B %s", da.RevID, clip(da.Body), clip(db.Body))
		}
		// A current revision both share is compared above; diffTrees looks at the others.
		skip := ""
		if da.RevID == db.RevID {
			skip = da.RevID
		}
		lines, err := diffTrees(ctx, a, b, id, skip)
		if err != nil {
			return nil, err
		}
		out = append(out, lines...)
	}
	return out, nil
}

// DiffKind classifies a Difference.
type DiffKind int

const (
	// DiffMissing: the document is in one collection only.
	DiffMissing DiffKind = iota
	// DiffCurrent: the current revisions differ (and are not both deletions).
	DiffCurrent
	// DiffTombstone: the document is deleted on both sides, by different tombstone
	// revisions. A divergence like the others: converged replicas have the same current
	// revision, deletions included.
	DiffTombstone
	// DiffBody: one revision ID has two bodies (or two deletion flags).
	DiffBody
	// DiffConflicts: the open conflicts differ.
	DiffConflicts
)

// Difference is one way two collections differ.
type Difference struct {
	DocID string
	Kind  DiffKind
	Text  string // the document and both values
}

func (d Difference) String() string { return d.Text }

// currentDocs reads the current revision of every document (tombstones included).
func currentDocs(ctx context.Context, c *store.Collection) (map[string]*store.Document, error) {
	changes, err := c.ChangesSince(ctx, 0, 0)
	if err != nil {
		return nil, err
	}
	out := make(map[string]*store.Document, len(changes))
	for _, ch := range changes {
		d, err := c.GetWithDeleted(ctx, ch.DocID)
		if err != nil {
			return nil, fmt.Errorf("diff %s: %w", c.FullName(), err)
		}
		out[ch.DocID] = d
	}
	return out, nil
}

// diffTrees compares the open conflicts of one document and the bodies of the revisions
// both sides keep, except skip.
func diffTrees(ctx context.Context, a, b *store.Collection, id, skip string) ([]Difference, error) {
	var out []Difference
	add := func(k DiffKind, format string, args ...any) {
		out = append(out, Difference{DocID: id, Kind: k, Text: fmt.Sprintf("%q: ", id) + fmt.Sprintf(format, args...)})
	}
	ca, err := a.Conflicts(ctx, id)
	if err != nil {
		return nil, err
	}
	cb, err := b.Conflicts(ctx, id)
	if err != nil {
		return nil, err
	}
	slices.Sort(ca)
	slices.Sort(cb)
	if !slices.Equal(ca, cb) {
		add(DiffConflicts, "open conflicts A %v, B %v", ca, cb)
	}
	ra, err := a.Revisions(ctx, id)
	if err != nil {
		return nil, err
	}
	rb, err := b.Revisions(ctx, id)
	if err != nil {
		return nil, err
	}
	inB := map[string]store.Revision{}
	for _, r := range rb {
		inB[r.RevID] = r
	}
	for _, r := range ra {
		other, ok := inB[r.RevID]
		if !ok || r.RevID == skip || !r.HasBody || !other.HasBody {
			continue
		}
		if r.Deleted != other.Deleted {
			add(DiffBody, "revision %s deleted=%v in A, %v in B", r.RevID, r.Deleted, other.Deleted)
			continue
		}
		va, errA := a.GetRevision(ctx, id, r.RevID)
		vb, errB := b.GetRevision(ctx, id, r.RevID)
		if errors.Is(errA, store.ErrNotFound) || errors.Is(errB, store.ErrNotFound) {
			continue // the body was dropped since Revisions (history pruning)
		}
		if errA != nil {
			return nil, errA
		}
		if errB != nil {
			return nil, errB
		}
		if !bytes.Equal(va.Body, vb.Body) {
			add(DiffBody, "revision %s has two bodies: A %s, B %s", r.RevID, clip(va.Body), clip(vb.Body))
		}
	}
	return out, nil
}

func clip(b []byte) string {
	const max = 120
	if len(b) > max {
		return fmt.Sprintf("%s… (%d bytes)", b[:max], len(b))
	}
	return string(b)
}
