package syncproto

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/p2psync/libp2psync/engine/blip"
	"github.com/p2psync/libp2psync/engine/delta"
	"github.com/p2psync/libp2psync/engine/hlv"
	"github.com/p2psync/libp2psync/engine/store"
	"github.com/p2psync/libp2psync/engine/syncproto/wire"
)

// PullOptions configure the receiving side of one collection.
type PullOptions struct {
	// Active: this is the replicator's puller. It tracks the remote checkpoint, fetches
	// only what it needs, allows conflicting revisions and reports them (OnConflict).
	// A passive puller (a listener receiving a push) honours "noconflicts" instead.
	Active bool
	// DocIDs restricts the documents accepted (nil = all).
	DocIDs []string
	// Filter, when set, decides whether a pulled revision is saved.
	Filter func(DocumentInfo) bool
	// AutoPurge purges local documents whose access the remote revoked (default on in
	// CBL): a changes row flagged revoked or removed, or a revision whose body is
	// {"_removed":true}. The purge is local only (no tombstone, nothing to push back);
	// Filter is asked first (DocumentInfo.AccessRemoved) and may keep the document.
	// Either way, or with AutoPurge off (the document is kept), a DocumentEvent with
	// AccessRemoved reports it when the document exists here (active pullers only).
	AutoPurge bool
	// MaxHistory is advertised in changes answers (0 => 20).
	MaxHistory int
}

// Puller receives changes, proposeChanges, rev and norev for one collection.
type Puller struct {
	s    *Session
	idx  int
	coll *store.Collection
	opts PullOptions
	ids  map[string]bool

	tracker  progressTracker[wire.Sequence]
	mu       sync.Mutex
	wanted   map[string]trackKey // docID \x00 revID => tracker key (active)
	caughtUp atomic.Bool
	received atomic.Uint64
	// maxAnswered is the highest changes message number answered with wants.
	maxAnswered atomic.Uint64
}

// AddPuller attaches a puller to collection idx. Call before the peer can send changes.
func (s *Session) AddPuller(idx int, opts PullOptions) (*Puller, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if idx < 0 || idx >= len(s.colls) || s.colls[idx] == nil {
		return nil, ErrUnknownCollection
	}
	if opts.MaxHistory <= 0 {
		opts.MaxHistory = 20
	}
	p := &Puller{s: s, idx: idx, coll: s.colls[idx].coll, opts: opts, wanted: map[string]trackKey{}}
	p.tracker.before = sequenceBefore
	p.tracker.atOrBefore = sequenceAtOrBefore
	if len(opts.DocIDs) > 0 {
		p.ids = make(map[string]bool, len(opts.DocIDs))
		for _, id := range opts.DocIDs {
			p.ids[id] = true
		}
	}
	s.colls[idx].puller = p
	return p, nil
}

// SetStart sets the checkpoint position the pull resumed from.
func (p *Puller) SetStart(since wire.Sequence) {
	if since != "" {
		p.tracker.setBase(since)
	}
}

// Checkpoint returns the remote sequence up to which everything has been handled.
func (p *Puller) Checkpoint() (wire.Sequence, bool) { return p.tracker.position() }

// CaughtUp reports that the pusher said it was caught up and every requested revision
// has been handled, in a session that has not failed (rows a failure left held, such as
// a revision the store did not save, do not make a pull complete).
func (p *Puller) CaughtUp() bool {
	return p.caughtUp.Load() && p.tracker.outstanding() == 0 && p.s.Err() == nil
}

// Pending returns the number of announced revisions not yet handled.
func (p *Puller) Pending() int { return p.tracker.outstanding() }

// Received returns the number of revisions saved so far.
func (p *Puller) Received() uint64 { return p.received.Load() }

func wantKey(docID, revID string) string { return docID + "\x00" + revID }

// complete counts a requested revision as handled (the checkpoint may pass it).
func (p *Puller) complete(docID, revID string) {
	p.settle(docID, revID, p.tracker.complete)
}

// hold gives up on a requested revision for this session without counting it as done
// (see progressTracker.hold): the checkpoint stays before it.
func (p *Puller) hold(docID, revID string) {
	p.settle(docID, revID, p.tracker.hold)
}

// settle takes a requested revision off the wanted list and, if it was there, hands its
// row to the tracker (complete or hold).
func (p *Puller) settle(docID, revID string, outcome func(trackKey)) {
	if !p.opts.Active {
		return
	}
	p.mu.Lock()
	k, ok := p.wanted[wantKey(docID, revID)]
	if ok {
		delete(p.wanted, wantKey(docID, revID))
	}
	p.mu.Unlock()
	if ok {
		outcome(k)
		p.s.progress()
	}
}

// completeRev completes the row that asked for rev: the one naming its revision or, for a
// replacement the pusher sent because the requested revision was gone (replacedRev,
// asked for with sendReplacementRevs), the one naming the replaced revision.
func (p *Puller) completeRev(rev wire.Rev) {
	p.complete(rev.DocID, rev.RevID)
	if rev.ReplacedRev != "" && rev.ReplacedRev != rev.RevID {
		p.complete(rev.DocID, rev.ReplacedRev)
	}
}

// holdRev is hold for the row that asked for rev (see completeRev).
func (p *Puller) holdRev(rev wire.Rev) {
	p.hold(rev.DocID, rev.RevID)
	if rev.ReplacedRev != "" && rev.ReplacedRev != rev.RevID {
		p.hold(rev.DocID, rev.ReplacedRev)
	}
}

// pullerFor returns the puller of a message's collection, or the refusal to send.
func (s *Session) pullerFor(req *blip.Message) (*Puller, error) {
	_, sc, err := s.collection(req)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	p := sc.puller
	ps := s.passive
	s.mu.Unlock()
	if p == nil {
		if ps != nil && !ps.cfg.AllowPush {
			return nil, &blip.Error{Domain: "HTTP", Code: 403, Message: "Attempting to push to a pull-only replicator"}
		}
		return nil, &blip.Error{Domain: "BLIP", Code: 400, Message: "not receiving documents for this collection"}
	}
	return p, nil
}

// sequenceBefore returns a sequence just before seq, for numeric sequences.
func sequenceBefore(seq wire.Sequence) (wire.Sequence, bool) {
	n, ok := seq.Uint()
	if !ok || n == 0 || seq[0] == '"' {
		return "", false
	}
	return wire.UintSequence(n - 1), true
}

// sequenceAtOrBefore reports a <= b for numeric sequences (false when either is not one).
func sequenceAtOrBefore(a, b wire.Sequence) bool {
	x, okA := a.Uint()
	y, okB := b.Uint()
	return okA && okB && a[0] != '"' && b[0] != '"' && x <= y
}

// changesArrived runs when a changes list begins to arrive, before its handler starts
// (see blip.Conn.OnArrival): an active puller holds the checkpoint back until the list's
// rows are registered, since a later list may be handled first (PROTOCOL §7.2). It is
// done here rather than in the handler: handlers start in any order, and a later list
// handled before an earlier one's handler started let the position pass the earlier
// list's rows, for as long as it took that handler to start.
func (s *Session) changesArrived(req *blip.Message) {
	if p, err := s.pullerFor(req); err == nil && p.opts.Active {
		p.tracker.addBarrier(trackKey{req.Number, 0})
	}
}

// listTooLong is the answer to a changes or proposeChanges list of more than
// wire.MaxListRows rows: refused before it is decoded (what decoding it would cost is
// what the bound is for). No peer sends one unasked: the lists of Couchbase Lite, Sync
// Gateway and this library are far shorter.
func listTooLong(profile string) error {
	return &blip.Error{Domain: "HTTP", Code: 413, Message: profile + " list has more than " + strconv.Itoa(wire.MaxListRows) + " rows"}
}

// handleChanges answers a pusher's changes list with the revisions wanted.
func (s *Session) handleChanges(ctx context.Context, req *blip.Message) (*blip.Message, error) {
	p, err := s.pullerFor(req)
	if err != nil {
		return nil, err
	}
	if p.opts.Active {
		// Release the barrier changesArrived set, once the rows (minor keys 1…n) are
		// registered.
		defer p.tracker.complete(trackKey{req.Number, 0})
	}
	body, err := req.ReadBody()
	if err != nil {
		return nil, err
	}
	if wire.ListRowsOver(body, wire.MaxListRows) {
		return nil, listTooLong("changes")
	}
	rows, err := wire.DecodeChanges(body)
	if err != nil {
		return nil, &blip.Error{Domain: "BLIP", Code: 400, Message: err.Error()}
	}
	if len(rows) == 0 {
		s.log.Debug("peer caught up", "collection", p.idx, "pending", p.tracker.outstanding())
		p.caughtUp.Store(true)
		s.progress()
		return nil, nil
	}
	s.log.Debug("changes", "collection", p.idx, "rows", len(rows), "first", string(rows[0].Sequence), "last", string(rows[len(rows)-1].Sequence))
	if err := p.awaitRoom(ctx); err != nil {
		return nil, err
	}
	answers := make([]wire.ChangeAnswer, len(rows))
	for i, row := range rows {
		key := trackKey{req.Number, uint64(i) + 1}
		if p.opts.Active {
			p.tracker.add(key, row.Sequence)
		}
		if s.quiescing.Load() && req.Number > p.maxAnswered.Load() {
			// Stopping: ask for nothing more; the rows stay pending, so the checkpoint
			// stays before them. (A list older than one already answered is still served,
			// so that no gap is left before the checkpoint position.)
			continue
		}
		want, known, err := p.decide(ctx, row)
		if err != nil {
			return nil, blipErrorFor(err)
		}
		if want {
			answers[i] = wire.ChangeAnswer{Want: true, KnownRevs: known}
			if p.opts.Active {
				p.mu.Lock()
				prev, again := p.wanted[wantKey(row.DocID, row.RevID)]
				p.wanted[wantKey(row.DocID, row.RevID)] = key
				p.mu.Unlock()
				if again {
					// The same revision listed again before it arrived (Sync Gateway lists a
					// document anew when a channel grant brings it back): one rev settles
					// this row, which covers the other; left pending, that one would hold
					// the checkpoint and keep the pull from completing for the session.
					p.tracker.complete(prev)
				}
			}
		} else if p.opts.Active {
			p.tracker.complete(key)
		}
	}
	if !s.quiescing.Load() {
		p.noteAnswered(req.Number)
	}
	s.progress()
	resp := &blip.Message{Type: blip.TypeResponse, Compressed: true, Body: wire.EncodeChangesResponse(answers)}
	resp.Properties.Set("maxHistory", strconv.Itoa(p.opts.MaxHistory))
	resp.Properties.Set("blobs", wire.True) // blob dictionaries are understood (no _attachments stubs needed)
	if s.deltas {
		// Sent on every answer, as SG does; CBL reads the first one only.
		resp.Properties.Set("deltas", wire.True)
	}
	return resp, nil
}

// maxPendingRows is how many rows an active puller keeps unfinished (revisions asked for
// and not yet received, mostly) before it answers the next changes list.
var maxPendingRows = 10000

// awaitRoom holds a changes list back while the puller has maxPendingRows rows
// unfinished, as Couchbase Lite's puller queues changes messages while too many of the
// revisions it asked for have not arrived: the pusher waits for the answer, so a peer
// that lists changes without sending the revisions cannot make this side keep a row (and
// a wanted entry) per change without limit; the lists it sends meanwhile wait in the
// connection's buffer, which MaxBufferedBytes bounds. Stopping (Quiesce) lets it through.
// A passive puller tracks no rows and never waits.
func (p *Puller) awaitRoom(ctx context.Context) error {
	if !p.opts.Active || p.tracker.outstanding() < maxPendingRows {
		return nil
	}
	p.s.log.Debug("changes held back: too many rows pending", "collection", p.idx, "pending", p.tracker.outstanding())
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for p.tracker.outstanding() >= maxPendingRows {
		select {
		case <-ctx.Done():
			return blipErrorFor(ctx.Err())
		case <-p.s.failed:
			return blipErrorFor(ErrSessionClosed)
		case <-p.s.quiesceCh:
			return nil
		case <-t.C:
		}
	}
	return nil
}

// noteAnswered raises maxAnswered to the changes message number n.
func (p *Puller) noteAnswered(n uint64) {
	for {
		cur := p.maxAnswered.Load()
		if n <= cur || p.maxAnswered.CompareAndSwap(cur, n) {
			return
		}
	}
}

// decide says whether a changes row's revision is wanted, and which ancestors we have.
func (p *Puller) decide(ctx context.Context, row wire.ChangeRow) (bool, []string, error) {
	if p.ids != nil && !p.ids[row.DocID] {
		return false, nil, nil
	}
	if row.AccessRemoved() {
		// Not requested (answered 0): the row is done once the access loss is handled.
		return false, nil, p.accessLost(ctx, row.DocID, row.RevID)
	}
	if p.s.v4 && wire.IsVersion(row.RevID) {
		return p.decideVersion(ctx, row)
	}
	revs, err := p.coll.Revisions(ctx, row.DocID)
	if errors.Is(err, store.ErrNotFound) {
		return true, nil, nil
	}
	if err != nil {
		return false, nil, err
	}
	gen := revGeneration(row.RevID)
	var known []store.Revision
	for _, r := range revs {
		if r.RevID == row.RevID {
			if p.s.anc != nil {
				p.s.anc.set(p.coll, row.DocID, row.RevID)
			}
			return false, nil, nil
		}
		if r.Leaf && r.HasBody && revGeneration(r.RevID) < gen {
			known = append(known, r)
		}
	}
	// Best ancestor first: live before deleted, then newest.
	sort.SliceStable(known, func(i, j int) bool {
		if known[i].Deleted != known[j].Deleted {
			return !known[i].Deleted
		}
		return revGeneration(known[i].RevID) > revGeneration(known[j].RevID)
	})
	ids := make([]string, 0, len(known))
	for i, r := range known {
		if i == 10 {
			break
		}
		ids = append(ids, r.RevID)
	}
	return true, ids, nil
}

// accessLost handles the remote's revocation of this side's access to docID (a changes
// row flagged revoked/removed, or a "_removed" revision; PROTOCOL §3.5, §4.4), as CBL
// does: with auto-purge on, the pull filter is asked (AccessRemoved set, empty body) and,
// unless it says no, the document is purged — locally only: a purge leaves no tombstone
// and no change for the pusher, so nothing goes back to the remote. With auto-purge off
// the document is kept. In every case the document event carries AccessRemoved; nothing
// is reported for a document this side does not have. A passive puller (a listener
// receiving a push) never purges: there the marker means nothing and is ignored.
func (p *Puller) accessLost(ctx context.Context, docID, revID string) error {
	if !p.opts.Active {
		return nil
	}
	doc, err := p.coll.GetWithDeleted(ctx, docID)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	ev := DocumentEvent{CollectionIndex: p.idx, Collection: p.coll, DocID: docID, RevID: revID, Deleted: doc.Deleted,
		AccessRemoved: true, Direction: DirectionPull}
	if p.opts.AutoPurge && (p.opts.Filter == nil || p.opts.Filter(DocumentInfo{Collection: p.coll, DocID: docID, RevID: revID,
		Deleted: doc.Deleted, Body: []byte("{}"), AccessRemoved: true})) {
		if err := p.coll.Purge(ctx, docID); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		p.s.log.Debug("access removed: purged", "collection", p.idx, "doc", docID, "rev", revID)
	} else {
		p.s.log.Debug("access removed: kept", "collection", p.idx, "doc", docID, "rev", revID, "autoPurge", p.opts.AutoPurge)
	}
	p.s.docEvent(ev)
	return nil
}

// revGeneration returns the generation of "<gen>-<digest>" (0 if malformed).
func revGeneration(rev string) int {
	n := 0
	for i := 0; i < len(rev); i++ {
		c := rev[i]
		if c == '-' {
			return n
		}
		if c < '0' || c > '9' || n > 1<<30 {
			return 0
		}
		n = n*10 + int(c-'0')
	}
	return 0
}

// handleProposeChanges applies the passive decision rule of PROTOCOL §3.6.
func (s *Session) handleProposeChanges(ctx context.Context, req *blip.Message) (*blip.Message, error) {
	p, err := s.pullerFor(req)
	if err != nil {
		return nil, err
	}
	body, err := req.ReadBody()
	if err != nil {
		return nil, err
	}
	if wire.ListRowsOver(body, wire.MaxListRows) {
		return nil, listTooLong("proposeChanges")
	}
	rows, err := wire.DecodeProposeChanges(body)
	if err != nil {
		return nil, &blip.Error{Domain: "BLIP", Code: 400, Message: err.Error()}
	}
	if len(rows) == 0 {
		p.caughtUp.Store(true)
		s.progress()
		return nil, nil
	}
	withRev := wire.ParseBool(req.Properties.Get("conflictIncludesRev"))
	// One store query for the whole list instead of one per row (rows outside the
	// document ID filter are not looked up: they are refused anyway).
	ids := make([]string, 0, len(rows))
	for _, row := range rows {
		if p.ids == nil || p.ids[row.DocID] {
			ids = append(ids, row.DocID)
		}
	}
	found, err := p.coll.CurrentRevisions(ctx, ids)
	if err != nil {
		return nil, blipErrorFor(err)
	}
	curs := make(map[string]store.CurrentRevision, len(ids))
	for i, id := range ids {
		curs[id] = found[i]
	}
	answers := make([]wire.ProposeAnswer, len(rows))
	for i, row := range rows {
		a, err := p.decideProposal(ctx, row, curs[row.DocID])
		if err != nil {
			return nil, blipErrorFor(err)
		}
		if !withRev {
			a.CurrentRev = ""
		}
		answers[i] = a
	}
	resp := &blip.Message{Type: blip.TypeResponse, Compressed: true, Body: wire.EncodeProposeChangesResponse(answers)}
	resp.Properties.Set("blobs", wire.True)
	if s.deltas {
		resp.Properties.Set("deltas", wire.True)
	}
	return resp, nil
}

// decideProposal answers one proposed change given the document's current revision
// (RevID "" when it does not exist).
func (p *Puller) decideProposal(ctx context.Context, row wire.ProposedChange, cur store.CurrentRevision) (wire.ProposeAnswer, error) {
	if p.ids != nil && !p.ids[row.DocID] {
		return wire.ProposeAnswer{Status: wire.ProposeForbidden}, nil
	}
	if p.s.v4 && wire.IsVersion(row.RevID) {
		return decideVersionProposal(row, cur), nil
	}
	if cur.RevID == "" {
		if row.ParentRevID == "" {
			return wire.ProposeAnswer{Status: wire.ProposeAccept}, nil
		}
		return wire.ProposeAnswer{Status: wire.ProposeConflict}, nil
	}
	switch {
	case cur.RevID == row.RevID:
		return wire.ProposeAnswer{Status: wire.ProposeAlreadyHave}, nil
	case cur.RevID == row.ParentRevID:
		return wire.ProposeAnswer{Status: wire.ProposeAccept}, nil
	case row.ParentRevID == "" && cur.Deleted:
		return wire.ProposeAnswer{Status: wire.ProposeAccept}, nil
	}
	// An older revision we already hold (it was superseded here): nothing to send.
	if revGeneration(row.RevID) <= revGeneration(cur.RevID) {
		if revs, err := p.coll.Revisions(ctx, row.DocID); err == nil {
			for _, r := range revs {
				if r.RevID == row.RevID {
					return wire.ProposeAnswer{Status: wire.ProposeAlreadyHave}, nil
				}
			}
		}
	}
	return wire.ProposeAnswer{Status: wire.ProposeConflict, CurrentRev: cur.RevID}, nil
}

// handleRev saves a revision; the reply is sent once it is durable.
func (s *Session) handleRev(ctx context.Context, req *blip.Message) (*blip.Message, error) {
	p, err := s.pullerFor(req)
	if err != nil {
		return nil, err
	}
	body, err := req.ReadBody()
	if err != nil {
		return nil, err
	}
	rev, err := wire.DecodeRev(req.Properties, body)
	if err != nil {
		return nil, refusedRequest("HTTP", err)
	}
	if rev.ErrorStatus != 0 {
		p.noRev(wire.NoRev{DocID: rev.DocID, RevID: rev.RevID, Sequence: rev.Sequence, Error: rev.ErrorStatus})
		return nil, nil
	}
	var vec *hlv.Vector
	if s.v4 && wire.IsVersion(rev.RevID) {
		v, err := wire.RevVector(rev)
		if err != nil {
			// As Sync Gateway answers a rev whose rev/history do not parse.
			return nil, &blip.Error{Domain: "HTTP", Code: 422, Message: "error extracting hlv from blip message: " + err.Error()}
		}
		if err := wire.CheckRevTree(rev.DocID, rev.RevTree); err != nil {
			return nil, &blip.Error{Domain: "HTTP", Code: 422, Message: err.Error()}
		}
		vec = &v
	}
	size := revSizes{wire: len(rev.Body), delta: rev.DeltaSrc != ""}
	var base *store.Document
	var reverse []byte
	if size.delta {
		full, b, r, err := p.applyDelta(ctx, rev)
		if err != nil {
			// The pusher resends the full body (PROTOCOL §6.3); the row stays pending until then.
			s.stats.refused.Add(1)
			s.log.Debug("delta refused", "doc", rev.DocID, "rev", rev.RevID, "deltaSrc", rev.DeltaSrc, "err", err)
			return nil, &blip.Error{Domain: "HTTP", Code: 422, Message: err.Error()}
		}
		rev.Body, base, reverse = full, b, r
	}
	size.full = len(rev.Body)
	clean, keep, err := p.receivedBody(ctx, rev)
	if err != nil || !keep {
		return nil, err
	}
	if base != nil && !rev.Deleted {
		size.base = reverseDelta(base, rev.Body, reverse, clean)
	}
	if !rev.Deleted {
		// Every blob the revision refers to must be here before it is saved (and before the
		// rev is answered: the sender allows getAttachment only until then).
		if err := p.fetchMissingBlobs(ctx, rev.DocID, clean); err != nil {
			s.log.Debug("blobs not obtained", "doc", rev.DocID, "rev", rev.RevID, "err", err)
			// Not saved and not done: the checkpoint stays before it, so the next
			// replication asks for it again.
			var be *blip.Error
			if errors.As(err, &be) {
				p.holdRev(rev)
			}
			s.docEvent(DocumentEvent{CollectionIndex: p.idx, Collection: p.coll, DocID: rev.DocID, RevID: rev.RevID,
				Direction: DirectionPull, Err: docErrorFrom(err)})
			return nil, blipErrorFor(err)
		}
	}
	if vec != nil {
		return nil, p.saveVersion(ctx, rev, *vec, clean, size)
	}
	return nil, p.saveRev(ctx, rev, clean, size)
}

// revSizes are the sizes of a received revision's body: as received (wire), and whole
// (full, after the delta was applied if it was one).
type revSizes struct {
	wire, full int
	delta      bool
	// base, for a rev received as a delta, lets the store keep the base body as a delta
	// against the new one (reverseDelta); nil when it cannot.
	base *store.BaseDelta
}

// reverseDelta returns, for a revision received as a delta against base, rebuilt as
// full and to be stored as body, the delta turning body back into base's body byte for
// byte: reverse (delta.ApplyReverse's, relative to full) when body is full, else one
// made with delta.CreateExact; nil when there is none. Made here, in the rev's handler,
// not in the store's single writer.
func reverseDelta(base *store.Document, full, reverse, body []byte) *store.BaseDelta {
	if base.Deleted {
		return nil
	}
	if reverse == nil || !bytes.Equal(full, body) {
		var exact bool
		var err error
		if reverse, exact, err = delta.CreateExact(body, base.Body); err != nil || !exact {
			return nil
		}
	}
	return &store.BaseDelta{RevID: base.RevID, Delta: reverse}
}

// receivedBody turns a received revision's body into the one to save. keep is false,
// the row settled, when nothing is to be saved: an access removal (handled here), a
// document not asked for or filtered out. An error is the rev's reply (the row settled
// and reported, or left pending when the session is ending).
func (p *Puller) receivedBody(ctx context.Context, rev wire.Rev) (clean []byte, keep bool, err error) {
	s := p.s
	clean, removed, err := wire.CleanBody(rev.Body)
	if err != nil {
		// Refused, not cleaned up: keeping part of the body would give this side another
		// body than the sender's under the same revision ID.
		berr := &blip.Error{Domain: "HTTP", Code: 400, Message: err.Error()}
		p.completeRev(rev)
		s.docEvent(DocumentEvent{CollectionIndex: p.idx, Collection: p.coll, DocID: rev.DocID, RevID: rev.RevID, Deleted: rev.Deleted,
			Direction: DirectionPull, Err: docErrorFrom(berr)})
		return nil, false, berr
	}
	if removed {
		return nil, false, p.removalRev(ctx, rev)
	}
	if rev.Deleted {
		clean = []byte("{}")
	} else if clean, err = FoldLegacyAttachments(clean); err != nil {
		berr := &blip.Error{Domain: "HTTP", Code: 400, Message: err.Error()}
		p.completeRev(rev)
		s.docEvent(DocumentEvent{CollectionIndex: p.idx, Collection: p.coll, DocID: rev.DocID, RevID: rev.RevID,
			Direction: DirectionPull, Err: docErrorFrom(berr)})
		return nil, false, berr
	}
	if p.ids != nil && !p.ids[rev.DocID] {
		p.completeRev(rev)
		return nil, false, nil
	}
	if p.opts.Filter != nil && !p.opts.Filter(DocumentInfo{Collection: p.coll, DocID: rev.DocID, RevID: rev.RevID, Deleted: rev.Deleted, Body: clean}) {
		p.completeRev(rev)
		return nil, false, nil
	}
	return clean, true, nil
}

// removalRev handles Sync Gateway's removal revision ("_removed": true): it is not
// stored, the document's access is gone (see accessLost).
func (p *Puller) removalRev(ctx context.Context, rev wire.Rev) error {
	s := p.s
	if p.ids != nil && !p.ids[rev.DocID] {
		p.completeRev(rev)
		return nil
	}
	if err := p.accessLost(ctx, rev.DocID, rev.RevID); err != nil {
		s.log.Debug("access loss not handled", "doc", rev.DocID, "rev", rev.RevID, "err", err)
		if ctx.Err() != nil || errors.Is(err, context.Canceled) {
			return blipErrorFor(err) // ending: the row stays pending
		}
		if !perItem(err) {
			return p.storeFailed(rev, err) // the purge is retried by the next session
		}
		p.completeRev(rev)
		s.docEvent(DocumentEvent{CollectionIndex: p.idx, Collection: p.coll, DocID: rev.DocID, RevID: rev.RevID,
			AccessRemoved: true, Direction: DirectionPull, Err: docErrorFrom(blipErrorFor(err))})
		return blipErrorFor(err)
	}
	p.completeRev(rev)
	return nil
}

// saveRev saves a received revision with body clean (through the batching inserter),
// reports it and a conflict it created, and settles its row. The error is the rev's
// reply.
func (p *Puller) saveRev(ctx context.Context, rev wire.Rev, clean []byte, size revSizes) error {
	s := p.s
	rr := store.RemoteRevision{
		DocID: rev.DocID, RevID: rev.RevID, History: rev.History, Deleted: rev.Deleted, Body: clean,
		NoConflicts: rev.NoConflicts && !p.opts.Active, Base: size.base,
		// An active pull receives the peer's current revisions, and a push under the
		// no-conflicts rules the pusher's (extending ours or closing a live leaf): a
		// deletion among them that leaves no live leaf is the document's state, and
		// becomes current here even where a tombstone of ours would outrank it (a
		// concurrent deletion, which the passive side refuses and keeps its own, or a
		// branch closed by an earlier resolution): both sides end on one tombstone.
		AdoptDeletion: p.opts.Active || rev.NoConflicts,
	}
	res := s.ins.insert(ctx, p.coll, rr, p.opts.Active, s.anc)
	if res.err != nil {
		return p.revFailed(ctx, rev, res.err)
	}
	p.received.Add(1)
	s.stats.received(size.wire, size.full, size.delta)
	// Queue the conflict before the row counts as done, so that nobody sees the pull
	// complete with a resolution still to come.
	if res.conflictWith != "" && s.cfg.OnConflict != nil {
		s.cfg.OnConflict(ConflictEvent{CollectionIndex: p.idx, Collection: p.coll, DocID: rev.DocID, LocalRevID: res.conflictWith, RemoteRevID: rev.RevID})
	}
	s.docEvent(DocumentEvent{CollectionIndex: p.idx, Collection: p.coll, DocID: rev.DocID, RevID: rev.RevID, Deleted: rev.Deleted, Direction: DirectionPull})
	p.completeRev(rev)
	return nil
}

// storeFailed handles a received revision that the store did not save for a reason of
// its own, not a verdict on the revision (busy, I/O error, disk full, closed: see
// perItem). The revision is not done: an active puller holds its row (the checkpoint
// stays before it) and ends the session with err, so that the replicator retries (a busy
// database) or stops, and the next session asks for the revision again; the reply says
// "retry later" (HTTP 503), so that a pushing peer keeps it pending as well. The failure
// is reported. Counting it as done instead would lose the revision until it changed
// again on the remote.
func (p *Puller) storeFailed(rev wire.Rev, err error) error {
	s := p.s
	reply := &blip.Error{Domain: "HTTP", Code: 503, Message: "revision not saved: " + err.Error()}
	if p.opts.Active {
		// Failed before the row is held: a held row no longer counts as pending, and the
		// pull must not look complete in between (see CaughtUp).
		s.fail(fmt.Errorf("syncproto: revision %q of %q not saved: %w", rev.RevID, rev.DocID, err))
	}
	p.holdRev(rev)
	s.docEvent(DocumentEvent{CollectionIndex: p.idx, Collection: p.coll, DocID: rev.DocID, RevID: rev.RevID, Deleted: rev.Deleted,
		Direction: DirectionPull, Err: &DocError{Domain: "HTTP", Code: 503, Message: reply.Message, Err: err}})
	return reply
}

// applyDelta rebuilds the body of a rev sent as a delta against rev.DeltaSrc from the
// stored body of that revision, and returns that revision too, with the delta that turns
// the body back into it when delta.ApplyReverse made one. Any error means the peer must
// send the full body.
func (p *Puller) applyDelta(ctx context.Context, rev wire.Rev) (body []byte, base *store.Document, reverse []byte, err error) {
	if !p.s.deltas {
		// Deltas are only sent to a puller that advertised them, which this one did not.
		return nil, nil, nil, errors.New("delta not accepted")
	}
	if base, err = p.deltaBase(ctx, rev); err != nil {
		return nil, nil, nil, fmt.Errorf("delta base %s unknown: %w", rev.DeltaSrc, err)
	}
	if base.Deleted {
		return nil, nil, nil, fmt.Errorf("delta base %s is a tombstone", rev.DeltaSrc)
	}
	if body, reverse, err = delta.ApplyReverse(base.Body, rev.Body); err != nil {
		return nil, nil, nil, fmt.Errorf("apply delta against %s: %w", rev.DeltaSrc, err)
	}
	return body, base, reverse, nil
}

func (s *Session) handleNoRev(ctx context.Context, req *blip.Message) (*blip.Message, error) {
	p, err := s.pullerFor(req)
	if err != nil {
		return nil, err
	}
	n, err := wire.DecodeNoRev(req.Properties)
	if err != nil {
		return nil, &blip.Error{Domain: "BLIP", Code: 400, Message: err.Error()}
	}
	p.noRev(n)
	return nil, nil
}

func (p *Puller) noRev(n wire.NoRev) {
	p.complete(n.DocID, n.RevID)
	code := n.Error
	if code == 0 {
		code = 404
	}
	p.s.docEvent(DocumentEvent{CollectionIndex: p.idx, Collection: p.coll, DocID: n.DocID, RevID: n.RevID, Direction: DirectionPull,
		Err: &DocError{Domain: "HTTP", Code: code, Message: n.Reason}})
}

// waiting returns the number of requested revisions not yet received.
func (p *Puller) waiting() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.wanted)
}
