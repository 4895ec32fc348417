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

// The sending side of CBMobile_4 (version vectors; CBMOBILE4-AND-BLOBS.md §A): a
// revision that has a version is listed by its current version (changes rows) or its
// whole vector (proposeChanges rows, with the remote's known version or rev-tree ID as
// parent), and sent with rev = current version, history = the rest of the vector. A
// revision without a version (saved before versions existed, or received as a rev-tree
// revision) is listed and sent in its rev-tree form, as under CBMobile_3.

// currentVersions reads the current version and vector of each listed change's
// document, in one query (nil unless the session runs CBMobile_4).
func (p *Pusher) currentVersions(ctx context.Context, changes []store.Change) (map[string]store.CurrentRevision, error) {
	if !p.s.v4 || len(changes) == 0 {
		return nil, nil
	}
	out := make(map[string]store.CurrentRevision, len(changes))
	ids := make([]string, 0, len(changes))
	seqs := make([]uint64, 0, len(changes))
	for _, ch := range changes {
		if reads := p.opts.reads; reads != nil {
			if cur, ok := reads.current(p.coll, ch.DocID, ch.Sequence); ok {
				out[ch.DocID] = cur
				continue
			}
		}
		ids, seqs = append(ids, ch.DocID), append(seqs, ch.Sequence)
	}
	if len(ids) == 0 {
		return out, nil
	}
	curs, err := p.coll.CurrentRevisions(ctx, ids)
	if err != nil {
		return nil, fmt.Errorf("read versions: %w", err)
	}
	for i, id := range ids {
		out[id] = curs[i]
		if reads := p.opts.reads; reads != nil && curs[i].Sequence == seqs[i] {
			reads.putCurrent(p.coll, id, curs[i])
		}
	}
	return out, nil
}

// versionConflict handles a proposal refused with 409 (the peer's current version remote,
// which ours does not contain): the pull side brings the peer's version in and resolves
// the conflict as it arrives, the outcome being a new local change; without a pull it is
// a document error.
func (p *Pusher) versionConflict(row pushRow, remote string) {
	if p.opts.PullResolvesConflicts {
		p.s.log.Debug("version conflict left to the pull", "doc", row.change.DocID, "local", row.version, "remote", remote)
		p.done(row.change)
		return
	}
	p.failDoc(row.change, &DocError{Domain: "HTTP", Code: 409, Message: "conflict: the peer has a different version"})
}

// sendVersionOf sends the revision of row, which has a version, to a peer that knows the
// revisions known (its current version, or a rev-tree ID for a copy saved without a
// version, or nothing), given the document's current revision if already read. The reply
// is handled as for sendRevOf.
func (p *Pusher) sendVersionOf(ctx context.Context, row pushRow, known []string, cur *store.Document) error {
	ch := row.change
	doc, err := p.readForSending(ctx, ch, cur, row.version)
	if doc == nil || err != nil {
		return err
	}
	if doc.Version != row.version {
		// Saved again since it was listed: that newer change follows in the feed.
		if !p.opts.Propose {
			p.sendNoRev(ctx, store.Change{DocID: ch.DocID, RevID: row.version, Sequence: ch.Sequence}, 404, "version superseded")
		}
		p.done(ch)
		return nil
	}
	vec, err := hlv.ParseVector(doc.Vector)
	if err != nil {
		p.failDoc(ch, &DocError{Domain: "LiteCore", Code: liteCoreCorruptRevisionData, Message: err.Error(), Err: err})
		return nil
	}
	if vec.Legacy, err = p.legacyAncestry(ctx, ch, known); err != nil {
		return err
	}
	rev := wire.Rev{DocID: ch.DocID, Deleted: doc.Deleted, Sequence: wire.UintSequence(ch.Sequence), NoConflicts: p.opts.Propose, Body: doc.Body}
	wire.SetRevVector(&rev, vec)
	if rev.RevTree, err = p.revTreeToSend(ctx, ch, known, vec.Legacy); err != nil {
		return err
	}
	if doc.Deleted || len(rev.Body) == 0 {
		rev.Body = []byte("{}")
	}
	out := &outgoingRev{ch: ch, known: known, version: row.version}
	if !doc.Deleted {
		out.digests = bodyDigests(rev.Body)
		if len(out.digests) > 0 && !p.peerBlobs.Load() {
			// As under CBMobile_3 but without revpos, which has no meaning with versions.
			b, err := AddLegacyAttachments(rev.Body, 0)
			if err != nil {
				p.failDoc(ch, &DocError{Domain: "LiteCore", Code: liteCoreCorruptRevisionData, Message: err.Error(), Err: err})
				return nil
			}
			rev.Body = b
		}
	}
	out.fullBody = rev.Body
	if !doc.Deleted && rev.Body != nil && (len(out.digests) == 0 || p.peerBlobs.Load()) {
		p.deltaEncode(ctx, &rev, known) // against a version the peer has (versions_delta.go)
	}
	out.rev = rev
	return p.sendOutgoing(ctx, out)
}

// legacyAncestry returns the rev-tree ancestry to send after a version's previous
// versions when the peer's copy has no version (it answered, or is recorded with, a
// rev-tree ID): the revision's own rev-tree ID, then its ancestors down to the one the
// peer has, so that the peer finds its revision there (store.PutExistingVersion). nil
// when the peer named no rev-tree ID.
func (p *Pusher) legacyAncestry(ctx context.Context, ch store.Change, known []string) ([]string, error) {
	legacy := false
	for _, k := range known {
		if !wire.IsVersion(k) {
			legacy = true
		}
	}
	if !legacy {
		return nil, nil
	}
	if contains(known, ch.RevID) {
		return []string{ch.RevID}, nil // the peer has this very revision, without its version
	}
	hist, err := p.coll.History(ctx, ch.DocID, ch.RevID, int(p.maxHistory.Load()))
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("read history of %q: %w", ch.DocID, err)
	}
	out := []string{ch.RevID}
	for _, h := range hist {
		out = append(out, h)
		if contains(known, h) {
			break
		}
	}
	return out, nil
}

// revTreeToSend returns the revTree property of a revision sent by version (see
// wire.RevTreeProperty): its rev-tree ID, then its ancestors, newest first, down to the
// first one the peer is known to have (known), at most the peer's maxHistory, so that
// the peer stores it under the same rev-tree ID and a later CBMobile_3 session between
// the two sees one revision, not a conflict. legacy, the same list when already read
// for a peer that named a rev-tree ID (legacyAncestry), is reused.
func (p *Pusher) revTreeToSend(ctx context.Context, ch store.Change, known, legacy []string) ([]string, error) {
	if len(legacy) > 0 {
		return legacy, nil
	}
	if revGeneration(ch.RevID) <= 1 {
		return []string{ch.RevID}, nil
	}
	hist, err := p.coll.History(ctx, ch.DocID, ch.RevID, int(p.maxHistory.Load()))
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("read history of %q: %w", ch.DocID, err)
	}
	out := make([]string, 0, len(hist)+1)
	out = append(out, ch.RevID)
	for _, h := range hist {
		out = append(out, h)
		if contains(known, h) {
			break
		}
	}
	return out, nil
}

// sendOutgoing sends a built rev, the blobs it names granted to the peer until it is
// answered; the pusher's settle loop handles the reply (revWG counts the rev until then).
func (p *Pusher) sendOutgoing(ctx context.Context, out *outgoingRev) error {
	ch := out.ch
	size := int64(len(out.rev.Body))
	if !p.acquire(ctx, size) {
		return nil
	}
	p.s.grants.add(ch.DocID, out.digests)
	replies, err := p.sendRevMessage(out.rev)
	if err != nil {
		p.s.grants.remove(ch.DocID, out.digests)
		p.release(size)
		return fmt.Errorf("send rev %q: %w", ch.DocID, err)
	}
	p.revWG.Add(1)
	// Never blocks: each queued rev holds one of the MaxRevsInFlight rev slots (acquire),
	// and the queue has room for that many.
	p.settleQ <- revInFlight{out: out, replies: replies, size: size}
	return nil
}

// revInFlight is a rev sent and not answered yet, queued for the settle loop.
type revInFlight struct {
	out     *outgoingRev
	replies <-chan blip.Reply
	size    int64 // its bytes of the in-flight budget
}

// settleLoop handles the replies to the pusher's revs in the order they were sent, until
// the pusher closes settleQ. One goroutine for every rev in flight, rather than one per
// rev: replies come back in bursts (the peer commits received revisions in batches) and
// mostly in order, so the loop takes a burst without a goroutine to start, grow and wake
// per revision. A reply that asks for the revision to be sent again (a refused delta, a
// conflict on a stale parent) is followed up on a goroutine of its own, so that its round
// trip holds up no other rev's settlement.
func (p *Pusher) settleLoop(ctx context.Context) {
	for it := range p.settleQ {
		r, ok := awaitReply(ctx, it.replies)
		if ok && p.needsFollowUp(it.out, r) {
			go func(it revInFlight, r blip.Reply) {
				defer p.settled(it)
				if r, ok := p.followUpRevReply(ctx, it.out, r); ok {
					p.settleRev(it.out, r)
				}
			}(it, r)
			continue
		}
		if ok {
			p.settleRev(it.out, r)
		}
		p.settled(it)
	}
}

// settled ends what a rev held while in flight: its blob grants, its slot and bytes, its
// count in revWG.
func (p *Pusher) settled(it revInFlight) {
	p.s.grants.remove(it.out.ch.DocID, it.out.digests)
	p.release(it.size)
	p.revWG.Done()
}
