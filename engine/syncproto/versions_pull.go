package syncproto

import (
	"context"
	"errors"
	"fmt"

	"github.com/p2psync/libp2psync/engine/blip"
	"github.com/p2psync/libp2psync/engine/hlv"
	"github.com/p2psync/libp2psync/engine/store"
	"github.com/p2psync/libp2psync/engine/syncproto/wire"
)

// The receiving side of CBMobile_4 (version vectors; CBMOBILE4-AND-BLOBS.md §A): changes
// rows and proposals naming a version are judged by the local version vector, rev
// messages carrying one are stored with store.PutExistingVersion. Rows and revs that
// name a rev-tree ID follow the CBMobile_3 code, on either subprotocol.

// VersionConflict is a pulled version that conflicts with the local current revision
// (neither vector contains the other's current version), for SessionConfig.ResolveVersion.
type VersionConflict struct {
	CollectionIndex int
	Collection      *store.Collection
	DocID           string
	// Local is the local current revision (Version and Vector are "" for a revision
	// saved without one; it then stands as hlv.LegacyVersion of its RevID).
	Local *store.Document
	// Remote is the received revision (body cleaned, blobs present).
	Remote store.RemoteVersion
}

// LocalVersion is the local side's current version (its legacy stand-in when it has none).
func (c VersionConflict) LocalVersion() hlv.Version {
	if v, err := hlv.ParseVersion(c.Local.Version); err == nil {
		return v
	}
	v, _ := hlv.LegacyVersion(c.Local.RevID)
	return v
}

// DefaultVersionResolution is Couchbase Lite 4's default rule (hlv.LocalWins): a deletion
// wins, else the later current version, ties broken by source ID; both peers choose alike.
func DefaultVersionResolution(c VersionConflict) store.VersionResolution {
	local := hlv.LocalWins(c.LocalVersion(), c.Local.Deleted, c.Remote.Vector.Current, c.Remote.Deleted)
	return store.VersionResolution{RemoteWins: !local}
}

// decideVersion answers a changes row naming a version: not wanted when the local vector
// already contains it; else wanted, with the local current version and rev-tree ID as
// the known revisions (the version first: the delta base), or only the rev-tree ID when
// the local revision has no version (either way the pusher adds its rev-tree ancestry,
// so that the revision attaches to ours), or nothing when the document is not here.
func (p *Puller) decideVersion(ctx context.Context, row wire.ChangeRow) (bool, []string, error) {
	ver, err := hlv.ParseVersion(row.RevID)
	if err != nil {
		return false, nil, fmt.Errorf("%w: changes row %q: %w", ErrBadMessage, row.DocID, err)
	}
	curs, err := p.coll.CurrentRevisions(ctx, []string{row.DocID})
	if err != nil {
		return false, nil, err
	}
	cur := curs[0]
	if cur.RevID == "" {
		return true, nil, nil
	}
	if localVector(cur).Contains(ver) {
		if p.s.anc != nil {
			p.s.anc.set(p.coll, row.DocID, row.RevID)
		}
		return false, nil, nil
	}
	if cur.Version == "" {
		return true, []string{cur.RevID}, nil
	}
	// The current version and rev-tree ID (Sync Gateway's two-entry form): the sender
	// adds its rev-tree ancestry, so that a revision this side knows under another
	// version (received over CBMobile_3, saved here later) is found as an ancestor.
	return true, []string{cur.Version, cur.RevID}, nil
}

// localVector is the vector of a current revision: its stored one, or its legacy
// stand-in (hlv.LegacyVersion) when it has none.
func localVector(cur store.CurrentRevision) hlv.Vector {
	if cur.Vector != "" {
		if v, err := hlv.ParseVector(cur.Vector); err == nil {
			return v
		}
	}
	v, _ := hlv.LegacyVersion(cur.RevID)
	return hlv.Vector{Current: v}
}

// decideVersionProposal answers a proposeChanges row whose proposed revision is a
// version vector, by Sync Gateway's rules (CBMOBILE4-AND-BLOBS.md §A.6), first match
// wins: 500 when it does not parse; accepted for a document not here; a rev-tree parent
// equal to our current rev-tree ID: 304 if the proposal is that revision's stand-in, else
// accepted; our revision has no version: 409; parent equal to our current version:
// accepted; our vector already holds the proposed version: 304; our current version is
// an older one of the proposal's source, or the proposed vector holds ours: accepted;
// otherwise 409 with our current version.
func decideVersionProposal(row wire.ProposedChange, cur store.CurrentRevision) wire.ProposeAnswer {
	proposed, err := hlv.CurrentVersion(row.RevID)
	if err != nil {
		return wire.ProposeAnswer{Status: wire.ProposeServerFailed}
	}
	parentLegacy := hlv.IsLegacyRevID(row.ParentRevID)
	if row.ParentRevID != "" && !parentLegacy {
		if _, err := hlv.ParseVersion(row.ParentRevID); err != nil {
			return wire.ProposeAnswer{Status: wire.ProposeServerFailed}
		}
	}
	switch {
	case cur.RevID == "":
		return wire.ProposeAnswer{Status: wire.ProposeAccept}
	case parentLegacy && row.ParentRevID == cur.RevID:
		if lv, err := hlv.LegacyVersion(cur.RevID); err == nil && lv == proposed {
			return wire.ProposeAnswer{Status: wire.ProposeAlreadyHave}
		}
		return wire.ProposeAnswer{Status: wire.ProposeAccept}
	case cur.Vector == "":
		return wire.ProposeAnswer{Status: wire.ProposeConflict, CurrentRev: cur.RevID}
	case row.ParentRevID != "" && row.ParentRevID == cur.Version:
		return wire.ProposeAnswer{Status: wire.ProposeAccept}
	}
	local := localVector(cur)
	if local.Contains(proposed) {
		return wire.ProposeAnswer{Status: wire.ProposeAlreadyHave}
	}
	if local.Current.Source == proposed.Source && local.Current.Time < proposed.Time {
		return wire.ProposeAnswer{Status: wire.ProposeAccept}
	}
	if full, err := hlv.ParseVector(row.RevID); err == nil && full.Contains(local.Current) {
		return wire.ProposeAnswer{Status: wire.ProposeAccept}
	}
	return wire.ProposeAnswer{Status: wire.ProposeConflict, CurrentRev: cur.Version}
}

// deltaBase returns the stored revision a received delta applies to: rev.DeltaSrc names
// it by rev-tree ID or, under CBMobile_4, by version (the current revision's, or its
// parent's while its body is kept: see versions_delta.go).
// The base is normally the current revision here (the sender names what this side has
// now), so that is looked at first.
func (p *Puller) deltaBase(ctx context.Context, rev wire.Rev) (*store.Document, error) {
	if p.s.v4 && wire.IsVersion(rev.DeltaSrc) {
		return p.coll.GetVersionCurrentFirst(ctx, rev.DocID, rev.DeltaSrc)
	}
	return p.coll.GetRevision(ctx, rev.DocID, rev.DeltaSrc)
}

// commitVersion stores a received version inside the inserter's transaction and, unless
// it conflicts, records it as the remote's revision of the document (the remote has it,
// whether or not it was new here).
func commitVersion(b *store.Batch, r *insertReq, out *insertResult) error {
	res, err := b.PutExistingVersion(r.coll, *r.version)
	if err != nil {
		if !perItem(err) {
			return err
		}
		out.err = err
		return nil
	}
	out.vres = res
	if r.anc != nil && res.Order != hlv.Conflicting {
		cv := r.version.Vector.Current.String()
		if err := b.SetRemoteAncestor(r.coll, r.anc.remote, r.version.DocID, cv); err != nil {
			return err
		}
		r.anc.noteStored(r.coll, r.version.DocID, cv)
	}
	return nil
}

// insertVersion queues a received version for the inserter and waits for its commit.
func (in *inserter) insertVersion(ctx context.Context, coll *store.Collection, rv store.RemoteVersion, anc *ancestorCache) insertResult {
	req := &insertReq{coll: coll, rev: store.RemoteRevision{DocID: rv.DocID}, version: &rv, anc: anc, done: make(chan insertResult, 1)}
	return in.submit(ctx, req)
}

// maxResolveAttempts bounds the retries of a version conflict whose document changed
// while it was being resolved.
const maxResolveAttempts = 3

// saveVersion stores a received revision that carries a version vector (body clean),
// reports it and settles its row; the error is the rev's reply. A known version (the
// local vector already holds it) writes nothing and is answered with success, as Sync
// Gateway does. A conflicting one is refused HTTP/409 by a passive puller (the active
// peer resolves) and resolved here by an active one (see resolveVersion).
func (p *Puller) saveVersion(ctx context.Context, rev wire.Rev, vec hlv.Vector, clean []byte, size revSizes) error {
	s := p.s
	rv := store.RemoteVersion{DocID: rev.DocID, Vector: vec, Deleted: rev.Deleted, Body: clean, RevTree: rev.RevTree, Base: size.base}
	for attempt := 0; ; attempt++ {
		res := s.ins.insertVersion(ctx, p.coll, rv, s.anc)
		if res.err != nil {
			return p.revFailed(ctx, rev, res.err)
		}
		if res.vres.Order != hlv.Conflicting {
			if res.vres.Inserted {
				p.received.Add(1)
				s.stats.received(size.wire, size.full, size.delta)
			}
			p.revDone(rev)
			return nil
		}
		if !p.opts.Active {
			err := &blip.Error{Domain: "HTTP", Code: 409, Message: "Document revision conflict"}
			s.docEvent(DocumentEvent{CollectionIndex: p.idx, Collection: p.coll, DocID: rev.DocID, RevID: rev.RevID, Deleted: rev.Deleted,
				Direction: DirectionPull, Err: docErrorFrom(err)})
			return err
		}
		err := p.resolveVersion(ctx, rv, res.vres.Document)
		if errors.Is(err, store.ErrConflict) && attempt+1 < maxResolveAttempts {
			continue // the document changed meanwhile: judge the revision again
		}
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, context.Canceled) {
				return blipErrorFor(err)
			}
			// Not resolved: the revision is not kept, and the checkpoint stays before
			// it, so the next replication brings it again.
			p.holdRev(rev)
			s.docEvent(DocumentEvent{CollectionIndex: p.idx, Collection: p.coll, DocID: rev.DocID, RevID: rev.RevID, Deleted: rev.Deleted,
				Direction: DirectionPull, Err: &DocError{Domain: "LiteCore", Code: 26, Message: err.Error(), Err: err}})
			return blipErrorFor(err)
		}
		p.received.Add(1)
		s.stats.received(size.wire, size.full, size.delta)
		p.revDone(rev)
		return nil
	}
}

// revDone reports a received revision handled and settles its row.
func (p *Puller) revDone(rev wire.Rev) {
	p.s.docEvent(DocumentEvent{CollectionIndex: p.idx, Collection: p.coll, DocID: rev.DocID, RevID: rev.RevID, Deleted: rev.Deleted, Direction: DirectionPull})
	p.completeRev(rev)
}

// revFailed handles a received revision the store refused: the row is settled and the
// failure reported, unless the session is ending (the row then stays pending) or the
// store failed for a reason of its own (see storeFailed).
func (p *Puller) revFailed(ctx context.Context, rev wire.Rev, err error) error {
	s := p.s
	s.log.Debug("revision not saved", "doc", rev.DocID, "rev", rev.RevID, "err", err)
	if ctx.Err() != nil || errors.Is(err, context.Canceled) {
		return blipErrorFor(err)
	}
	if !perItem(err) {
		return p.storeFailed(rev, err)
	}
	p.completeRev(rev)
	s.docEvent(DocumentEvent{CollectionIndex: p.idx, Collection: p.coll, DocID: rev.DocID, RevID: rev.RevID, Deleted: rev.Deleted,
		Direction: DirectionPull, Err: docErrorFrom(blipErrorFor(err))})
	return blipErrorFor(err)
}

// resolveVersion settles a conflict between the received version rv and the local
// revision local (an active puller): SessionConfig.ResolveVersion, or the default rule,
// chooses; store.ResolveVersionConflict stores the outcome with a vector recording both
// sides (so that neither peer sees the conflict again), and in the same transaction the
// received version is recorded as the remote's revision, so that the outcome is pushed
// as a child of it. store.ErrConflict means the document changed meanwhile.
func (p *Puller) resolveVersion(ctx context.Context, rv store.RemoteVersion, local *store.Document) error {
	s := p.s
	if local == nil {
		return fmt.Errorf("resolve version conflict of %q: %w", rv.DocID, store.ErrConflict)
	}
	c := VersionConflict{CollectionIndex: p.idx, Collection: p.coll, DocID: rv.DocID, Local: local, Remote: rv}
	how := DefaultVersionResolution(c)
	if s.cfg.ResolveVersion != nil {
		var err error
		if how, err = callVersionResolver(ctx, s.cfg.ResolveVersion, c); err != nil {
			return err
		}
	}
	var doc *store.Document
	cv := rv.Vector.Current.String()
	err := s.cfg.Database.InBatch(ctx, func(b *store.Batch) error {
		var err error
		if doc, err = b.ResolveVersionConflict(p.coll, rv, how); err != nil {
			return err
		}
		if s.anc != nil {
			if err := b.SetRemoteAncestor(p.coll, s.anc.remote, rv.DocID, cv); err != nil {
				return err
			}
			s.anc.noteStored(p.coll, rv.DocID, cv)
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.log.Debug("version conflict resolved", "doc", rv.DocID, "local", local.Version, "remote", cv, "result", doc.Version)
	if s.cfg.OnResolved != nil {
		s.cfg.OnResolved(c, doc)
	}
	return nil
}

// callVersionResolver runs a resolver callback; a panic becomes its error.
func callVersionResolver(ctx context.Context, fn func(context.Context, VersionConflict) (store.VersionResolution, error), c VersionConflict) (how store.VersionResolution, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("conflict resolver panicked: %v", r)
		}
	}()
	return fn(ctx, c)
}
