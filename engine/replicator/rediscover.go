package replicator

import (
	"context"
	"errors"

	"github.com/p2psync/libp2psync/engine/store"
	"github.com/p2psync/libp2psync/engine/syncproto"
)

// requeueConflicts queues, for resolution, every document of a pulled collection that
// is still in conflict with a revision pulled from this remote (a live one, or a
// deletion): conflicts whose resolution was still queued or running when an earlier
// connection ended, or whose resolver failed. As Couchbase Lite does when its replicator
// starts, they are resolved again (and the results pushed) before a one-shot replication
// counts as complete.
//
// A conflict is this replicator's when the remote ancestor recorded for the document
// (the latest revision known to be on this remote, written together with every pulled
// revision) is one of its leaves, the best other live leaf being the local side; or
// when the remote ancestor has since been extended here (edited, or deleted while it
// was the current revision) and a live leaf that does not descend from it remains.
// Conflicts with other remotes (no leaf on this remote's branch) are left to their
// replicators.
func (cs *connState) requeueConflicts(ctx context.Context) {
	r := cs.r
	if !r.cfg.Type.pulls() {
		return
	}
	for i, cc := range r.colls {
		ids, err := cc.Collection.BranchedDocuments(ctx)
		if err != nil {
			r.log.Warn("cannot look for unresolved conflicts", "collection", cc.Collection.FullName(), "err", err)
			continue
		}
		var only map[string]bool
		if len(cc.DocumentIDs) > 0 {
			only = make(map[string]bool, len(cc.DocumentIDs))
			for _, id := range cc.DocumentIDs {
				only[id] = true
			}
		}
		for _, id := range ids {
			if only != nil && !only[id] {
				continue
			}
			ev, ok, err := cs.unresolved(ctx, i, cc.Collection, id)
			if err != nil {
				if !errors.Is(err, store.ErrNotFound) {
					r.log.Warn("cannot read a conflicted document", "collection", cc.Collection.FullName(), "doc", id, "err", err)
				}
				continue
			}
			if ok {
				r.log.Debug("re-resolving a conflict left unresolved", "doc", id, "local", ev.LocalRevID, "remote", ev.RemoteRevID)
				cs.resolver.add(ev)
			}
		}
	}
}

// unresolved builds the conflict event of document id if its conflict involves a
// revision pulled from this remote: the remote ancestor is still a leaf beside another
// live leaf. That leaf may be a deletion: a pulled tombstone on its own branch loses the
// storage-level winner rule to the live local revision, so only the resolver (where the
// deletion wins by default) settles it — unless the live revision is newer locally than
// the deletion.
func (cs *connState) unresolved(ctx context.Context, idx int, c *store.Collection, id string) (syncproto.ConflictEvent, bool, error) {
	none := syncproto.ConflictEvent{}
	anc, err := c.RemoteAncestor(ctx, cs.r.remoteID, id)
	if err != nil || anc == "" {
		return none, false, err
	}
	doc, err := c.GetWithDeleted(ctx, id)
	if err != nil || doc.Deleted {
		return none, false, err
	}
	revs, err := c.Revisions(ctx, id)
	if err != nil {
		return none, false, err
	}
	var ancRev, curRev *store.Revision
	for i := range revs {
		switch revs[i].RevID {
		case anc:
			ancRev = &revs[i]
		case doc.RevID:
			curRev = &revs[i]
		}
	}
	if ancRev == nil {
		return none, false, nil
	}
	if !ancRev.Leaf {
		ev, ok := branchConflict(idx, c, id, anc, doc.RevID, revs)
		return ev, ok, nil
	}
	if ancRev.Deleted && (curRev == nil || ancRev.AnsweredBy(*curRev)) {
		// The live revision was saved after the deletion arrived (e.g. the document was
		// created again): the deletion must not win over it.
		return none, false, nil
	}
	local := doc.RevID
	if anc == doc.RevID {
		// The pulled revision won the storage rule: the local side is the best other live leaf.
		others, err := c.Conflicts(ctx, id)
		if err != nil || len(others) == 0 {
			return none, false, err
		}
		local = others[0]
	}
	return syncproto.ConflictEvent{CollectionIndex: idx, Collection: c, DocID: id, LocalRevID: local, RemoteRevID: anc}, true, nil
}

// branchConflict builds the conflict event of a document whose remote ancestor anc is
// no longer a leaf: the remote's branch was extended here (a local edit or deletion of
// the pulled revision) while the conflict was still to resolve. Its leaves that descend
// from anc are the remote's side; a live leaf that does not is the local side (the
// current revision if it is one). Without such a live leaf there is no conflict with
// this remote; without a leaf above anc the remote's branch was removed.
func branchConflict(idx int, c *store.Collection, id, anc, current string, revs []store.Revision) (syncproto.ConflictEvent, bool) {
	parent := make(map[string]string, len(revs))
	for _, r := range revs {
		parent[r.RevID] = r.Parent
	}
	above := func(rev string) bool {
		for n := 0; rev != "" && n <= len(revs); n++ {
			if rev == anc {
				return true
			}
			rev = parent[rev]
		}
		return false
	}
	remoteSide, local := false, ""
	for _, r := range revs {
		switch {
		case !r.Leaf:
		case above(r.RevID):
			remoteSide = true
		case !r.Deleted && (local == "" || r.RevID == current):
			local = r.RevID
		}
	}
	if !remoteSide || local == "" {
		return syncproto.ConflictEvent{}, false
	}
	return syncproto.ConflictEvent{CollectionIndex: idx, Collection: c, DocID: id, LocalRevID: local, RemoteRevID: anc}, true
}
