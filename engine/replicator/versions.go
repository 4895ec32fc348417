package replicator

import (
	"context"
	"fmt"

	"github.com/p2psync/libp2psync/engine/store"
	"github.com/p2psync/libp2psync/engine/syncproto"
	"github.com/p2psync/libp2psync/engine/syncproto/wire"
)

// Conflicts under CBMobile_4 (version vectors): the session's puller meets them as a
// pulled version arrives and asks resolveVersion for the outcome before answering it.
// Without a custom resolver the outcome is Couchbase Lite 4's rule
// (syncproto.DefaultVersionResolution: a deletion wins, else the later version); a
// custom ConflictResolver is called as for revision trees, with the two current
// versions as the revision IDs. The store records both sides in the result's vector.

// resolveVersion decides a version conflict of collection c.CollectionIndex.
func (r *Replicator) resolveVersion(ctx context.Context, c syncproto.VersionConflict) (store.VersionResolution, error) {
	resolver := r.colls[c.CollectionIndex].ConflictResolver
	if resolver == nil {
		return syncproto.DefaultVersionResolution(c), nil
	}
	conflict := Conflict{Collection: c.Collection.FullName(), DocID: c.DocID,
		localRev: c.LocalVersion().String(), remoteRev: c.Remote.Vector.Current.String()}
	if !c.Local.Deleted {
		conflict.Local = &ConflictRevision{RevID: conflict.localRev, Body: c.Local.Body}
	}
	if !c.Remote.Deleted {
		conflict.Remote = &ConflictRevision{RevID: conflict.remoteRev, Body: c.Remote.Body}
	}
	res, err := callResolver(ctx, resolver, conflict)
	if err != nil {
		err = fmt.Errorf("%w: document %q: %w", ErrResolverFailed, c.DocID, err)
		if ctx.Err() == nil {
			// As for a revision-tree conflict (resolverQueue.run).
			r.log.Warn("conflict not resolved", "collection", conflict.Collection, "doc", c.DocID,
				"local", conflict.localRev, "remote", conflict.remoteRev, "err", err)
			r.count(func(c *Counters) { c.LastError = err })
		}
		return store.VersionResolution{}, err
	}
	switch res.Kind {
	case UseRemote:
		return store.VersionResolution{RemoteWins: true}, nil
	case UseLocal:
		return store.VersionResolution{}, nil
	case UseMerged:
		if res.Body == nil {
			return store.VersionResolution{}, fmt.Errorf("%w: document %q: merged resolution without a body", ErrResolverFailed, c.DocID)
		}
		return store.VersionResolution{MergedBody: res.Body}, nil
	case UseDeletion:
		return store.VersionResolution{MergedDeleted: true}, nil
	}
	return store.VersionResolution{}, fmt.Errorf("%w: document %q: unknown resolution %d", ErrResolverFailed, c.DocID, res.Kind)
}

// versionResolved counts and logs a version conflict resolution the session saved, as
// resolverQueue.run does for a revision-tree one, and notes its sequence for the push.
func (cs *connState) versionResolved(c syncproto.VersionConflict, outcome *store.Document) {
	r := cs.r
	r.log.Info("conflict resolved", "collection", c.Collection.FullName(), "doc", c.DocID,
		"local", c.LocalVersion().String(), "remote", c.Remote.Vector.Current.String(), "result", outcome.Version)
	r.count(func(c *Counters) { c.ConflictsResolved++ })
	cs.noteResolved(c.CollectionIndex, outcome.Sequence)
}

// isCurrentVersion reports whether anc, a document's remote-ancestor record, is the
// current version of change ch's revision (CBMobile_4 records the remote's version).
func (r *Replicator) isCurrentVersion(ctx context.Context, c *store.Collection, ch store.Change, anc string) bool {
	if !wire.IsVersion(anc) {
		return false
	}
	curs, err := c.CurrentRevisions(ctx, []string{ch.DocID})
	return err == nil && curs[0].RevID == ch.RevID && curs[0].Version == anc
}
