package syncproto

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/p2psync/libp2psync/engine/blip"
	"github.com/p2psync/libp2psync/engine/blobstore"
	"github.com/p2psync/libp2psync/engine/delta"
	"github.com/p2psync/libp2psync/engine/store"
	"github.com/p2psync/libp2psync/engine/syncproto/wire"
)

// PushOptions configure the sending side of one collection.
type PushOptions struct {
	// Propose selects proposeChanges (an active pusher, as current CBL does) instead of
	// changes (a passive pusher serving subChanges).
	Propose bool
	// Since: only local sequences after it are sent.
	Since uint64
	// Continuous keeps the feed open and sends new changes as they are committed.
	Continuous bool
	// BatchSize: rows per message (0 => the session limit, 200).
	BatchSize int
	// ActiveOnly skips the tombstones already in the collection when the pusher starts (a
	// first pull asks for it: the peer has none of those documents). Deletions made later
	// are sent, so that a continuous feed keeps the peer up to date.
	ActiveOnly bool
	// DocIDs restricts the feed (nil = all).
	DocIDs []string
	// Filter, when set, decides whether a document revision is sent.
	Filter func(DocumentInfo) bool
	// PullResolvesConflicts: the same replicator also pulls, so a proposal refused with 409
	// is not a document error: the puller brings the remote revision in, the conflict is
	// resolved locally and the resolution is pushed as a new change.
	PullResolvesConflicts bool

	// reads is the listener's SharedReads (passive pushers; nil = none).
	reads *SharedReads
}

// Pusher sends one collection's changes to the peer.
type Pusher struct {
	s    *Session
	idx  int
	coll *store.Collection
	opts PushOptions
	ids  map[string]bool

	tracker    progressTracker[uint64]
	caughtUp   atomic.Bool
	finished   chan struct{}
	quiet      chan struct{} // closed when quiescing and nothing is in flight
	err        error
	sent       atomic.Uint64
	queries    atomic.Uint64 // changes queries run (the others came from the changeFeed)
	notified   atomic.Uint64 // documents sent as their commit notification carried them (not read)
	maxHistory atomic.Int64
	peerDeltas atomic.Bool // the puller advertised deltas=true (sticky: CBL says it once)
	peerBlobs  atomic.Bool // the puller advertised blobs=true: no _attachments stubs needed

	// sessionStart is the collection's last sequence before this session could insert
	// anything: a first revision changed after it can only have come from this
	// session's pull, whose remote ancestors are noted in memory before they commit.
	// ActiveOnly skips only the tombstones up to it.
	sessionStart uint64

	revSlots chan struct{}
	settleQ  chan revInFlight // revs sent and not answered, for settleLoop (room for MaxRevsInFlight)
	byteMu   sync.Mutex
	byteCond *sync.Cond
	bytes    int64
	revWG    sync.WaitGroup
}

// StartPusher starts sending collection idx. The pusher stops when its feed is done (one
// shot: every change sent and acknowledged), on a fatal error, or when the session ends.
func (s *Session) StartPusher(idx int, opts PushOptions) (*Pusher, error) {
	s.mu.Lock()
	if idx < 0 || idx >= len(s.colls) || s.colls[idx] == nil {
		s.mu.Unlock()
		return nil, ErrUnknownCollection
	}
	sc := s.colls[idx]
	if sc.pusher != nil {
		s.mu.Unlock()
		return nil, fmt.Errorf("%w: collection %d is already being sent", ErrPeerIncompatible, idx)
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = s.limits.ChangesBatch
	}
	p := &Pusher{s: s, idx: idx, coll: sc.coll, opts: opts, finished: make(chan struct{}), quiet: make(chan struct{}),
		revSlots: make(chan struct{}, s.limits.MaxRevsInFlight), settleQ: make(chan revInFlight, s.limits.MaxRevsInFlight)}
	p.byteCond = sync.NewCond(&p.byteMu)
	if len(opts.DocIDs) > 0 {
		p.ids = make(map[string]bool, len(opts.DocIDs))
		for _, id := range opts.DocIDs {
			p.ids[id] = true
		}
	}
	p.tracker.setBase(opts.Since)
	p.sessionStart = math.MaxUint64 // unknown: always read the database
	if last, err := sc.coll.LastSequence(s.ctx); err == nil {
		p.sessionStart = last
	}
	sc.pusher = p
	s.mu.Unlock()
	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		p.settleLoop(s.ctx)
	}()
	go func() {
		defer s.wg.Done()
		err := p.run(s.ctx)
		p.revWG.Wait()
		close(p.settleQ) // every rev settled, and run's batches (which send them) are over
		if err != nil && s.ctx.Err() == nil {
			p.err = err
			s.fail(err)
		}
		close(p.finished)
		s.progress()
	}()
	return p, nil
}

// Done is closed when the pusher has stopped.
func (p *Pusher) Done() <-chan struct{} { return p.finished }

// Err returns why the pusher stopped early (nil after a completed one-shot feed).
func (p *Pusher) Err() error {
	select {
	case <-p.finished:
		return p.err
	default:
		return nil
	}
}

// CaughtUp reports that every change existing so far was sent and acknowledged.
func (p *Pusher) CaughtUp() bool { return p.caughtUp.Load() && p.tracker.outstanding() == 0 }

// Checkpoint returns the local sequence up to which every change is done.
func (p *Pusher) Checkpoint() uint64 { v, _ := p.tracker.position(); return v }

// Pending returns the number of changes read but not yet done.
func (p *Pusher) Pending() int { return p.tracker.outstanding() }

// Sent returns the number of revisions acknowledged by the peer.
func (p *Pusher) Sent() uint64 { return p.sent.Load() }

type pushRow struct {
	change store.Change
	parent string // remote ancestor (propose mode)
	// CBMobile_4: the revision's current version and whole vector ("" when it has none:
	// it then travels in its rev-tree form).
	version, vector string
	// doc is the document as read with its version (see currentState), to be sent
	// without reading it again; nil when it is to be read at sending time.
	doc *store.Document
}

// wireRev is how the row names its revision on the wire: its version, else its rev-tree ID.
func (r pushRow) wireRev() string {
	if r.version != "" {
		return r.version
	}
	return r.change.RevID
}

func (p *Pusher) run(ctx context.Context) error {
	notify := make(chan struct{}, 1)
	feed := &changeFeed{max: min(max(p.opts.BatchSize, 1), maxFeedChanges)}
	token := p.coll.AddChangeListener(func(ev store.CollectionChange) {
		if p.opts.Continuous {
			feed.add(ev.Changes)
		}
		select {
		case notify <- struct{}{}:
		default:
		}
	})
	defer token.Remove()
	b := newPushBatches(p.s.limits.MaxChangesInFlight)
	defer b.wg.Wait()

	since := p.opts.Since
	sentCaughtUp := false
	fromFeed := false // the feed holds every change after since (see changeFeed)
	for {
		if err := b.error(); err != nil {
			return err
		}
		if p.s.quiescing.Load() {
			b.wg.Wait()
			p.revWG.Wait()
			close(p.quiet)
			<-ctx.Done()
			return nil
		}
		changes, err := p.nextChanges(ctx, feed, since, &fromFeed)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("read changes: %w", err)
		}
		if len(changes) == 0 {
			if !sentCaughtUp {
				if end, err := p.sendCaughtUp(ctx, b); end {
					return err
				}
				sentCaughtUp = true
			}
			if !p.opts.Continuous {
				p.revWG.Wait()
				return nil
			}
			select {
			case <-notify:
			case <-p.s.quiesceCh:
			case <-b.failed:
			case <-ctx.Done():
				return nil
			}
			continue
		}
		since = changes[len(changes)-1].Sequence
		for _, ch := range changes {
			p.tracker.add(trackKey{ch.Sequence, 0}, ch.Sequence)
		}
		p.s.progress()
		select {
		case b.slots <- struct{}{}:
		case <-p.s.quiesceCh:
			continue // rows stay pending: the checkpoint stays before them
		case <-b.failed:
			continue
		case <-ctx.Done():
			return nil
		}
		p.startBatch(ctx, b, changes)
	}
}

// nextChanges returns the changes after since: from the feed when it holds all of them
// (*fromFeed, and the feed did not give up), else from the database; a query that
// returned less than a full batch lets a continuous pusher trust the feed next time.
func (p *Pusher) nextChanges(ctx context.Context, feed *changeFeed, since uint64, fromFeed *bool) ([]store.Change, error) {
	if *fromFeed {
		if changes, ok := feed.take(since); ok {
			return changes, nil
		}
	}
	feed.restart() // before the query: every later commit is collected
	p.queries.Add(1)
	// The documents are read with the list (small ones: the list's bodies stay within
	// maxPrefetchBytes), as the rows the peer asks for are sent as read then (see
	// notifiedDoc): one store query per list instead of two.
	changes, err := p.coll.ChangesSinceWithDocs(ctx, since, p.opts.BatchSize, maxPrefetchBytes/max(p.opts.BatchSize, 1))
	*fromFeed = err == nil && p.opts.Continuous && len(changes) < p.opts.BatchSize
	return changes, err
}

// pushBatches are the batches of one run of a pusher: at most MaxChangesInFlight at
// once, their lists sent in sequence order; the first failure ends the run.
//
// Lists leave in sequence order. The peer's puller may only checkpoint a sequence once
// every row before it is handled (PROTOCOL §7.2), and it knows the rows' order only by
// the order of the messages: a later list overtaking an earlier one let the peer save a
// checkpoint past rows it had not received yet, and skip them after a reconnection.
// Batches still prepare their rows concurrently; each one sends its list only once the
// list before it has been queued (or given up).
type pushBatches struct {
	slots chan struct{} // one per batch in flight
	wg    sync.WaitGroup
	err   atomic.Pointer[error]
	// failed wakes the loop wherever it waits: a list can fail after "caught up" went
	// out, while the loop waits for local changes that may never come.
	failed     chan struct{}
	prevQueued chan struct{} // closed once the last batch's list is queued or given up
}

func newPushBatches(inFlight int) *pushBatches {
	b := &pushBatches{slots: make(chan struct{}, inFlight), failed: make(chan struct{}), prevQueued: make(chan struct{})}
	close(b.prevQueued)
	return b
}

// fail records the first failure of a batch.
func (b *pushBatches) fail(err error) {
	if b.err.CompareAndSwap(nil, &err) {
		close(b.failed)
	}
}

// error is the first failure of a batch, if any.
func (b *pushBatches) error() error {
	if e := b.err.Load(); e != nil {
		return *e
	}
	return nil
}

// sendCaughtUp tells the peer the pusher has caught up (an empty list)
// once every earlier list is answered, so the peer has registered every row it asked
// for. end is true when the run must end (with err, nil when ctx ended).
func (p *Pusher) sendCaughtUp(ctx context.Context, b *pushBatches) (end bool, err error) {
	b.wg.Wait()
	if err := b.error(); err != nil {
		return true, err
	}
	profile := wire.ProfileChanges
	if p.opts.Propose {
		profile = wire.ProfileProposeChanges
	}
	msg := p.s.newRequest(profile, p.idx, nil)
	msg.NoReply, msg.Urgent = true, true
	msg.Body = []byte("[]")
	if _, err := p.s.conn.Send(ctx, msg); err != nil {
		if ctx.Err() != nil {
			return true, nil
		}
		return true, fmt.Errorf("send caught-up %s: %w", profile, err)
	}
	p.caughtUp.Store(true)
	p.s.progress()
	return false, nil
}

// startBatch prepares and sends one batch of changes on a goroutine of its own, which
// holds one of b.slots (taken by the caller).
func (p *Pusher) startBatch(ctx context.Context, b *pushBatches, changes []store.Change) {
	order := listOrder{turn: b.prevQueued, queued: make(chan struct{})}
	b.prevQueued = order.queued
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		defer func() { <-b.slots }()
		defer order.done()
		// Filtering reads the database; doing it here lets batches overlap.
		rows, err := p.prepareRows(ctx, changes)
		if err != nil {
			if ctx.Err() == nil {
				b.fail(err)
			}
			return
		}
		if len(rows) == 0 {
			return
		}
		if err := p.sendBatch(ctx, rows, &order); err != nil && ctx.Err() == nil {
			b.fail(err)
		}
	}()
}

// prepareRows turns a batch of changes into the rows to list, settling at once those
// that are not to be sent (filtered out, already on the peer).
func (p *Pusher) prepareRows(ctx context.Context, changes []store.Change) ([]pushRow, error) {
	ancestors, err := p.remoteAncestors(ctx, changes)
	if err != nil {
		return nil, err
	}
	versions, docs, err := p.currentState(ctx, changes)
	if err != nil {
		return nil, err
	}
	rows := make([]pushRow, 0, len(changes))
	for _, ch := range changes {
		row, keep, err := p.prepare(ctx, ch, ancestors, versions[ch.DocID])
		if err != nil {
			return nil, err
		}
		if !keep {
			p.done(ch)
			continue
		}
		row.doc = docs[ch.DocID]
		rows = append(rows, row)
	}
	return rows, nil
}

// currentState reads, under CBMobile_4, the current version and vector of each listed
// change's document (nil maps otherwise). When the documents are small (their bodies
// together within maxPrefetchBytes) it reads them whole in the same query and returns
// them too, so that the rows the peer accepts are sent without reading them again: one
// store query per list instead of two (W3: the rev left ~50 us sooner after the answer on this machine).
// A document is then sent as read here, its body and version from one snapshot.
func (p *Pusher) currentState(ctx context.Context, changes []store.Change) (map[string]store.CurrentRevision, map[string]*store.Document, error) {
	if !p.s.v4 || len(changes) == 0 {
		return nil, nil, nil
	}
	size := 0
	for _, ch := range changes {
		size += ch.BodySize
	}
	if size > maxPrefetchBytes {
		versions, err := p.currentVersions(ctx, changes)
		return versions, nil, err
	}
	versions := make(map[string]store.CurrentRevision, len(changes))
	docs := make(map[string]*store.Document, len(changes))
	var ids []string
	for _, ch := range changes {
		if d := notifiedDoc(ch); d != nil {
			p.notified.Add(1)
			versions[ch.DocID] = currentOf(d)
			docs[ch.DocID] = d
			continue
		}
		ids = append(ids, ch.DocID)
	}
	if len(ids) == 0 {
		return versions, docs, nil
	}
	found, err := p.coll.GetManyWithDeleted(ctx, ids)
	if err != nil {
		return nil, nil, fmt.Errorf("read versions: %w", err)
	}
	for i, d := range found {
		if d == nil {
			continue // purged since the feed listed it: prepare drops the row
		}
		versions[ids[i]] = currentOf(d)
		docs[ids[i]] = d
	}
	return versions, docs, nil
}

// notifiedDoc returns the revision that change ch committed, as its commit notification
// carried it (store.Change.Doc: what a read at ch.Sequence returns), or nil when it
// carried none (a query's row, a large body, a remote revision) and the document must be
// read. The copy is the caller's; its body is shared with other listeners and never written.
func notifiedDoc(ch store.Change) *store.Document {
	if ch.Doc == nil || ch.Doc.Sequence != ch.Sequence || ch.Doc.ID != ch.DocID {
		return nil
	}
	d := *ch.Doc
	return &d
}

// remoteAncestors reads the peer's known revision of each listed change's document
// (nil without remote-ancestor tracking). A first revision's remote ancestor can only be
// itself (an echo of a pull); those this session pulled are in memory (see
// ancestorCache), so the store is read only for older ones (pulled by an earlier session,
// after the saved checkpoint) and for later revisions.
func (p *Pusher) remoteAncestors(ctx context.Context, changes []store.Change) (map[string]string, error) {
	if p.s.anc == nil {
		return nil, nil
	}
	anc, err := p.s.anc.getMany(ctx, p.coll, changes, func(ch store.Change) bool {
		return revGeneration(ch.RevID) > 1 || ch.Sequence <= p.sessionStart
	})
	if err != nil {
		return nil, fmt.Errorf("read remote ancestors: %w", err)
	}
	return anc, nil
}

// prepare applies the filters to one change, given the remote ancestors of its list.
// keep=false means it is done without sending.
func (p *Pusher) prepare(ctx context.Context, ch store.Change, ancestors map[string]string, cur store.CurrentRevision) (pushRow, bool, error) {
	row := pushRow{change: ch}
	if p.s.v4 {
		if cur.RevID != ch.RevID {
			// Saved again (or purged) since the feed listed it: the later change carries
			// the document. (Sent now, this revision would have no version to travel
			// with, and go in its rev-tree form as if it had none.)
			return row, false, nil
		}
		row.version, row.vector = cur.Version, cur.Vector
	}
	if p.ids != nil && !p.ids[ch.DocID] {
		return row, false, nil
	}
	if p.opts.ActiveOnly && ch.Deleted && ch.Sequence <= p.sessionStart {
		return row, false, nil
	}
	if p.s.anc != nil {
		anc := ancestors[ch.DocID]
		if anc == ch.RevID || (row.version != "" && anc == row.version) {
			return row, false, nil // the peer already has it
		}
		row.parent = anc
		if ch.Deleted && anc != "" && row.version == "" {
			// A resolved conflict can leave two tombstone leaves; send the one that extends
			// what the peer has, or nothing if the peer's revision is itself a deleted leaf.
			leaf, skip, err := p.tombstoneFor(ctx, ch.DocID, anc)
			if err != nil {
				return row, false, err
			}
			if skip {
				return row, false, nil
			}
			if leaf != "" {
				row.change.RevID = leaf
			}
		}
	}
	if p.opts.Filter != nil {
		doc, err := p.coll.GetWithDeleted(ctx, ch.DocID)
		if errors.Is(err, store.ErrNotFound) {
			return row, false, nil
		}
		if err != nil {
			return row, false, fmt.Errorf("read %q for the push filter: %w", ch.DocID, err)
		}
		if !p.opts.Filter(DocumentInfo{Collection: p.coll, DocID: doc.ID, RevID: doc.RevID, Deleted: doc.Deleted, Body: doc.Body}) {
			return row, false, nil
		}
	}
	return row, true, nil
}

// listOrder makes a batch's list wait for the previous batch's list (see run).
type listOrder struct {
	turn   <-chan struct{} // closed once the previous list is queued or given up
	queued chan struct{}   // closed by done
	once   sync.Once
}

// done lets the next list go; called once this batch's list is queued, and in any case
// when the batch ends.
func (o *listOrder) done() { o.once.Do(func() { close(o.queued) }) }

// sendList sends a changes or proposeChanges list once the previous list has been
// queued, and waits for its reply (as blip.Conn.Send does).
func (p *Pusher) sendList(ctx context.Context, msg *blip.Message, order *listOrder) (*blip.Message, error) {
	select {
	case <-order.turn:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	replies, err := p.s.conn.SendAsync(msg)
	order.done()
	if err != nil {
		return nil, err
	}
	select {
	case r := <-replies:
		return r.Msg, r.Err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (p *Pusher) sendBatch(ctx context.Context, rows []pushRow, order *listOrder) error {
	if p.opts.Propose {
		return p.sendProposals(ctx, rows, order)
	}
	return p.sendChanges(ctx, rows, order)
}

func (p *Pusher) sendChanges(ctx context.Context, rows []pushRow, order *listOrder) error {
	list := make([]wire.ChangeRow, len(rows))
	for i, r := range rows {
		list[i] = wire.ChangeRow{Sequence: wire.UintSequence(r.change.Sequence), DocID: r.change.DocID, RevID: r.wireRev()}
		if r.change.Deleted {
			list[i].Flags = wire.FlagDeleted
		}
	}
	msg := p.s.newRequest(wire.ProfileChanges, p.idx, nil)
	msg.Urgent, msg.Compressed = true, true
	msg.Body = wire.EncodeChanges(list)
	reply, err := p.sendList(ctx, msg, order)
	if err != nil {
		return p.listError(wire.ProfileChanges, err)
	}
	if wire.ParseBool(reply.Properties.Get("deltas")) {
		p.peerDeltas.Store(true)
	}
	if wire.ParseBool(reply.Properties.Get("blobs")) {
		p.peerBlobs.Store(true)
	}
	if v := reply.Properties.Get("maxHistory"); v != "" {
		if n, err := strconv.Atoi(v); err == nil && n >= 0 {
			p.maxHistory.Store(int64(n))
		}
	}
	body, err := reply.ReadBody()
	if err != nil {
		return fmt.Errorf("read changes answer: %w", err)
	}
	answers, err := wire.DecodeChangesResponse(body, len(rows))
	if err != nil {
		return err
	}
	docs := newPrefetcher(p, rows, func(i int) bool { return answers[i].Want })
	for i, a := range answers {
		if !a.Want {
			p.done(rows[i].change)
			continue
		}
		if rows[i].version != "" {
			if err := p.sendVersionOf(ctx, rows[i], a.KnownRevs, docs.get(ctx, i)); err != nil {
				return err
			}
			continue
		}
		if err := p.sendRevOf(ctx, rows[i].change, a.KnownRevs, docs.get(ctx, i)); err != nil {
			return err
		}
	}
	return nil
}

func (p *Pusher) sendProposals(ctx context.Context, rows []pushRow, order *listOrder) error {
	list := make([]wire.ProposedChange, len(rows))
	for i, r := range rows {
		list[i] = wire.ProposedChange{DocID: r.change.DocID, RevID: r.change.RevID, ParentRevID: r.parent}
		if r.vector != "" {
			list[i].RevID = r.vector // the whole vector, as Couchbase Lite 4 proposes
		}
	}
	msg := p.s.newRequest(wire.ProfileProposeChanges, p.idx, []wire.Prop{{Key: "conflictIncludesRev", Value: wire.True}})
	msg.Urgent, msg.Compressed = true, true
	msg.Body = wire.EncodeProposeChanges(list)
	reply, err := p.sendList(ctx, msg, order)
	if err != nil {
		return p.listError(wire.ProfileProposeChanges, err)
	}
	if wire.ParseBool(reply.Properties.Get("deltas")) {
		p.peerDeltas.Store(true)
	}
	if wire.ParseBool(reply.Properties.Get("blobs")) {
		p.peerBlobs.Store(true)
	}
	body, err := reply.ReadBody()
	if err != nil {
		return fmt.Errorf("read proposeChanges answer: %w", err)
	}
	answers, err := wire.DecodeProposeChangesResponse(body, len(rows))
	if err != nil {
		return err
	}
	docs := newPrefetcher(p, rows, func(i int) bool { return answers[i].Status == wire.ProposeAccept })
	for i, a := range answers {
		ch := rows[i].change
		switch a.Status {
		case wire.ProposeAccept:
			var known []string
			if rows[i].parent != "" {
				known = []string{rows[i].parent}
			}
			if rows[i].version != "" {
				if err := p.sendVersionOf(ctx, rows[i], known, docs.get(ctx, i)); err != nil {
					return err
				}
				continue
			}
			if err := p.sendRevOf(ctx, ch, known, docs.get(ctx, i)); err != nil {
				return err
			}
		case wire.ProposeAlreadyHave:
			if p.s.anc != nil {
				p.s.anc.setPushed(p.coll, ch.DocID, rows[i].wireRev())
			}
			p.done(ch)
		case wire.ProposeConflict:
			if rows[i].version != "" {
				p.versionConflict(rows[i], a.CurrentRev)
				continue
			}
			if err := p.proposalConflict(ctx, rows[i], a.CurrentRev); err != nil {
				return err
			}
		default:
			if RetryLaterStatus(a.Status) {
				// Not now rather than no: this row and the rest of the list stay pending.
				return fmt.Errorf("%w: proposal of %q answered %d", ErrRetryLater, ch.DocID, a.Status)
			}
			p.failDoc(ch, &DocError{Domain: "HTTP", Code: a.Status, Message: "proposal rejected"})
		}
	}
	return nil
}

// proposalConflict handles a proposal the peer answered 409 with its current revision
// remote (may be ""): a deletion is sent on top of it instead if one of our tombstones
// extends it, our revision is sent on top of it if it is one of our ancestors; otherwise
// the change is left to the pull side or fails as a conflict.
func (p *Pusher) proposalConflict(ctx context.Context, row pushRow, remote string) error {
	ch := row.change
	if ch.Deleted && remote != "" {
		// A deletion: any of our tombstones on top of the peer's revision will do.
		leaf, skip, err := p.tombstoneFor(ctx, ch.DocID, remote)
		if err != nil {
			return err
		}
		if skip {
			p.done(ch)
			return nil
		}
		if leaf != "" && leaf != ch.RevID {
			alt := ch
			alt.RevID = leaf
			return p.sendRev(ctx, alt, []string{remote})
		}
	}
	// If the peer's revision is an ancestor of ours, send ours on top of it.
	if remote != "" && remote != row.parent {
		hist, err := p.coll.History(ctx, ch.DocID, ch.RevID, 0)
		if err == nil && contains(hist, remote) {
			return p.sendRev(ctx, ch, []string{remote})
		}
	}
	if p.opts.PullResolvesConflicts && remote != "" {
		// A real conflict (the peer's revision is not ours): the pull brings it in,
		// the resolution becomes a new local change and is pushed then.
		p.leaveToPull(ch, remote)
		return nil
	}
	p.failDoc(ch, &DocError{Domain: "HTTP", Code: 409, Message: "conflict: the peer has a different revision"})
	return nil
}

// listError turns a failed changes/proposeChanges exchange into the pusher's fatal error.
func (p *Pusher) listError(profile string, err error) error {
	var be *blip.Error
	if errors.As(err, &be) && be.Code == 403 {
		return fmt.Errorf("%w: %s refused: %s", ErrForbidden, profile, be.Message)
	}
	if askedToRetryLater(err) {
		return fmt.Errorf("%w: %s refused: %w", ErrRetryLater, profile, err)
	}
	return fmt.Errorf("send %s: %w", profile, err)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (p *Pusher) done(ch store.Change) {
	p.tracker.complete(trackKey{ch.Sequence, 0})
	p.s.progress()
}

// holdDoc reports a document error for ch without counting it as done: the checkpoint
// stays before it, so the next replication sends it again.
func (p *Pusher) holdDoc(ch store.Change, err *DocError) {
	p.s.docEvent(DocumentEvent{CollectionIndex: p.idx, Collection: p.coll, DocID: ch.DocID, RevID: ch.RevID, Deleted: ch.Deleted,
		Direction: DirectionPush, Err: err})
	p.tracker.hold(trackKey{ch.Sequence, 0})
	p.s.progress()
}

// Settled returns the local sequence up to which every change is done or held for a
// later replication (see holdDoc): a one-shot push is over once it reaches its target.
func (p *Pusher) Settled() uint64 { v, _ := p.tracker.settled(); return v }

func (p *Pusher) failDoc(ch store.Change, err *DocError) {
	p.s.docEvent(DocumentEvent{CollectionIndex: p.idx, Collection: p.coll, DocID: ch.DocID, RevID: ch.RevID, Deleted: ch.Deleted,
		Direction: DirectionPush, Err: err})
	p.done(ch)
}

// acquire takes a rev slot and n bytes of the in-flight budget; false (nothing held)
// when the session ends first. The byte wait always ends: every rev in flight releases
// its bytes when answered or when the session ends.
func (p *Pusher) acquire(ctx context.Context, n int64) bool {
	select {
	case p.revSlots <- struct{}{}:
	case <-ctx.Done():
		return false
	}
	p.byteMu.Lock()
	for p.bytes > 0 && p.bytes+n > p.s.limits.MaxRevBytesInFlight {
		p.byteCond.Wait()
	}
	p.bytes += n
	p.byteMu.Unlock()
	return true
}

func (p *Pusher) release(n int64) {
	p.byteMu.Lock()
	p.bytes -= n
	p.byteCond.Broadcast()
	p.byteMu.Unlock()
	<-p.revSlots
}

// sendRev sends one revision with its history cut after the first revision the peer
// said it has, and handles the reply asynchronously.
func (p *Pusher) sendRev(ctx context.Context, ch store.Change, known []string) error {
	return p.sendRevOf(ctx, ch, known, nil)
}

// outgoingRev is one revision being sent, with what handling its reply needs.
type outgoingRev struct {
	ch       store.Change
	known    []string           // the peer's revisions it was sent against
	fullHist []string           // its history before the cut after known
	rev      wire.Rev           // as sent (changed when it is sent again)
	fullBody []byte             // its whole body (rev.Body may be a delta)
	digests  []blobstore.Digest // its blobs, which the peer may fetch until it answers
	version  string             // CBMobile_4: the version sent ("" for a rev-tree revision)
}

// wireRev is how the revision was named on the wire (its version, else its rev-tree ID).
func (o *outgoingRev) wireRev() string {
	if o.version != "" {
		return o.version
	}
	return o.ch.RevID
}

// sendRevOf is sendRev given the document's current revision if already read (nil: read
// it here). It reads the revision, cuts its history, builds its body, then sends it; the
// reply is handled by the settle loop (settleLoop; revWG counts the rev until then).
func (p *Pusher) sendRevOf(ctx context.Context, ch store.Change, known []string, cur *store.Document) error {
	doc, err := p.readForSending(ctx, ch, cur, ch.RevID)
	if doc == nil || err != nil {
		return err
	}
	hist, fullHist, send, err := p.historyToSend(ctx, ch, doc, known)
	if !send || err != nil {
		return err
	}
	out := p.buildRev(ctx, ch, doc, known, hist)
	if out == nil {
		return nil
	}
	out.fullHist = fullHist
	// The peer may fetch this revision's blobs until it answers the rev.
	return p.sendOutgoing(ctx, out)
}

// readForSending reads the revision of change ch (cur if it is the document's current
// one). It returns nil, having settled the change, when the revision is gone or holds
// a body this side must not send (a norev names it wireRev, as it was listed).
func (p *Pusher) readForSending(ctx context.Context, ch store.Change, cur *store.Document, wireRev string) (*store.Document, error) {
	doc, err := cur, error(nil)
	if doc == nil {
		doc, err = p.coll.GetWithDeleted(ctx, ch.DocID)
	}
	if err == nil && doc.RevID != ch.RevID {
		doc, err = p.coll.GetRevision(ctx, ch.DocID, ch.RevID)
	}
	if errors.Is(err, store.ErrNotFound) {
		// Superseded or purged: a later sequence carries the newer state, if any.
		if !p.opts.Propose {
			p.sendNoRev(ctx, store.Change{DocID: ch.DocID, RevID: wireRev, Sequence: ch.Sequence}, 404, "revision no longer available")
		}
		p.done(ch)
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %q for sending: %w", ch.DocID, err)
	}
	if !doc.Deleted {
		if err := store.CheckDocumentBody(doc.Body); err != nil {
			// Saved before the store refused reserved keys: the peer would strip the key
			// (keeping another body under this revision ID) or, for "_removed", take the
			// revision as an access revocation. Report it instead of sending it.
			if !p.opts.Propose {
				// The peer asked for it: do not leave it waiting.
				p.sendNoRev(ctx, store.Change{DocID: ch.DocID, RevID: wireRev, Sequence: ch.Sequence}, 400, err.Error())
			}
			p.failDoc(ch, &DocError{Domain: "LiteCore", Code: liteCoreCorruptRevisionData, Message: err.Error(), Err: err})
			return nil, nil
		}
	}
	return doc, nil
}

// historyToSend reads the history of the revision and cuts it after the first revision
// the peer has (known). send is false, the change settled, when the revision conflicts
// with the peer's (propose mode): sending it would be refused.
func (p *Pusher) historyToSend(ctx context.Context, ch store.Change, doc *store.Document, known []string) (hist, fullHist []string, send bool, err error) {
	if revGeneration(ch.RevID) > 1 { // a first revision has no history to read
		hist, err = p.coll.History(ctx, ch.DocID, ch.RevID, int(p.maxHistory.Load()))
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, nil, false, fmt.Errorf("read history of %q: %w", ch.DocID, err)
		}
	}
	fullHist = hist
	if len(known) == 0 {
		return hist, fullHist, true, nil
	}
	cut := -1
	for i, h := range hist {
		if contains(known, h) {
			cut = i
			break
		}
	}
	if cut >= 0 {
		return hist[:cut+1], fullHist, true, nil
	}
	if !p.opts.Propose {
		return hist, fullHist, true, nil
	}
	if !doc.Deleted {
		// The peer's revision is not an ancestor of ours. If it is a deletion that this
		// database has too, as a leaf beside our live branch (a deletion that won a
		// conflict, after which the document was created again here), the peer takes
		// our revision as the document created again, provided it shares no ancestry
		// with what the peer has (Sync Gateway's no-conflicts rule): send no history.
		revives, err := p.revivesOver(ctx, ch.DocID, ch.RevID, known)
		if err != nil {
			return nil, nil, false, err
		}
		if revives {
			return nil, fullHist, true, nil
		}
	}
	// The peer's revision is not an ancestor of ours: a conflict. Sending would be
	// refused (noconflicts); the pull side brings the peer's revision in instead.
	if p.opts.PullResolvesConflicts {
		p.leaveToPull(ch, known[0])
	} else {
		p.failDoc(ch, &DocError{Domain: "HTTP", Code: 409, Message: "conflict: the peer has a different revision"})
	}
	return nil, nil, false, nil
}

// buildRev builds the rev message of the revision: its body, with legacy _attachments
// stubs for a peer that does not take blobs, or a delta when one is worth it. nil, the
// change settled, when the stubs cannot be made.
func (p *Pusher) buildRev(ctx context.Context, ch store.Change, doc *store.Document, known, hist []string) *outgoingRev {
	rev := wire.Rev{DocID: ch.DocID, RevID: ch.RevID, History: hist, Deleted: doc.Deleted,
		Sequence: wire.UintSequence(ch.Sequence), NoConflicts: p.opts.Propose, Body: doc.Body}
	if doc.Deleted || len(rev.Body) == 0 {
		rev.Body = []byte("{}")
	}
	var digests []blobstore.Digest
	legacy := false
	if !doc.Deleted {
		digests = bodyDigests(rev.Body)
		if len(digests) > 0 && !p.peerBlobs.Load() {
			// A peer that did not say blobs=true (Sync Gateway) only knows attachments: announce
			// each blob in _attachments as Couchbase Lite does (PROTOCOL §4.5).
			b, err := AddLegacyAttachments(rev.Body, revGeneration(ch.RevID))
			if err != nil {
				p.failDoc(ch, &DocError{Domain: "LiteCore", Code: liteCoreCorruptRevisionData, Message: err.Error(), Err: err})
				return nil
			}
			rev.Body, legacy = b, true
		}
	}
	out := &outgoingRev{ch: ch, known: known, fullBody: rev.Body, digests: digests}
	if !doc.Deleted && !legacy {
		p.deltaEncode(ctx, &rev, known)
	}
	out.rev = rev
	return out
}

// needsFollowUp reports whether reply r to out's rev asks for the revision to be sent
// again (see followUpRevReply).
func (p *Pusher) needsFollowUp(out *outgoingRev, r blip.Reply) bool {
	if r.Err == nil {
		return false
	}
	return (out.rev.DeltaSrc != "" && deltaRefused(r.Err)) || (p.opts.PullResolvesConflicts && docErrorFrom(r.Err).Code == 409)
}

// followUpRevReply acts on the first reply r to out's rev, sending the revision again
// when the reply asks for it: whole when its delta was refused (PROTOCOL §6.3), or on a
// newer parent when it was refused as a conflict after the peer took an earlier revision
// of the document meanwhile. It returns the final reply; ok is false when the session or
// connection ended first.
func (p *Pusher) followUpRevReply(ctx context.Context, out *outgoingRev, r blip.Reply) (blip.Reply, bool) {
	ch, rev := out.ch, &out.rev
	ok := true
	if rev.DeltaSrc != "" && r.Err != nil && deltaRefused(r.Err) {
		// PROTOCOL §6.3: resend the same revision as a full body at once.
		p.s.stats.deltaFallbacks.Add(1)
		p.s.log.Debug("delta refused, resending the full body", "doc", ch.DocID, "rev", ch.RevID, "err", r.Err)
		rev.DeltaSrc, rev.Body = "", out.fullBody
		replies, err := p.sendRevMessage(*rev)
		if err != nil {
			return r, false // the connection is gone: not acknowledged, the checkpoint stays behind
		}
		if r, ok = awaitReply(ctx, replies); !ok {
			return r, false
		}
	}
	if r.Err != nil && p.opts.PullResolvesConflicts && docErrorFrom(r.Err).Code == 409 {
		// Refused as a conflict: the peer may have taken an earlier revision of this
		// document meanwhile (a change sent in a list still in flight when this one was
		// proposed on the peer's previous revision, or over its deletion). This one then
		// extends what the peer has now: send it again on top of that.
		if base := p.peerTookAncestor(ctx, ch.DocID, out.known, out.fullHist); base >= 0 {
			p.s.log.Debug("rev refused on a stale parent, sending it again", "doc", ch.DocID, "rev", ch.RevID, "parent", out.fullHist[base])
			rev.History, rev.DeltaSrc, rev.Body = out.fullHist[:base+1], "", out.fullBody
			replies, err := p.sendRevMessage(*rev)
			if err != nil {
				return r, false // the connection is gone: not acknowledged, the checkpoint stays behind
			}
			if r, ok = awaitReply(ctx, replies); !ok {
				return r, false
			}
		}
	}
	return r, true
}

// settleRev acts on the final reply to out's rev: acknowledged, held, left to the pull
// side, failed, or (asked to retry later) ending the session with the change pending.
func (p *Pusher) settleRev(out *outgoingRev, r blip.Reply) {
	ch := out.ch
	if r.Err != nil {
		if isConnectionGone(r.Err) {
			return // not acknowledged: the checkpoint stays behind this change
		}
		if de := docErrorFrom(r.Err); de.Domain == "HTTP" && de.Code == blobCodeUnavailable {
			// The peer could not get this revision's blobs from us (missing or damaged
			// here, or refused): report it, and keep it for the next replication.
			p.holdDoc(ch, de)
			return
		}
		if askedToRetryLater(r.Err) {
			// The peer could not take it now (shutting down, overloaded): not a verdict on
			// this document. It stays pending (the checkpoint stays behind it) and the
			// session ends, so that the replicator reconnects with backoff and sends it again.
			p.s.fail(fmt.Errorf("%w: rev %q refused: %w", ErrRetryLater, ch.DocID, r.Err))
			return
		}
		if de := docErrorFrom(r.Err); de.Code == 409 && p.opts.PullResolvesConflicts {
			// A conflict the pull side will bring in and resolve (see PushOptions).
			remote := ""
			if len(out.known) > 0 {
				remote = out.known[0]
			}
			p.leaveToPull(ch, remote)
			return
		}
		p.failDoc(ch, docErrorFrom(r.Err))
		return
	}
	if p.s.anc != nil {
		p.s.anc.setPushed(p.coll, ch.DocID, out.wireRev())
	}
	p.sent.Add(1)
	p.s.stats.sent(len(out.rev.Body), len(out.fullBody), out.rev.DeltaSrc != "")
	p.s.docEvent(DocumentEvent{CollectionIndex: p.idx, Collection: p.coll, DocID: ch.DocID, RevID: out.wireRev(),
		Deleted: out.rev.Deleted, Direction: DirectionPush})
	p.done(ch)
}

// peerTookAncestor returns the index in hist (a revision's history, newest first) of the
// latest revision now known to be on the peer if it is there and is not one of known
// (what the revision was sent against), else -1.
func (p *Pusher) peerTookAncestor(ctx context.Context, docID string, known, hist []string) int {
	cur, err := p.s.RemoteRevision(ctx, p.coll, docID)
	if err != nil || cur == "" || contains(known, cur) {
		return -1
	}
	for i, h := range hist {
		if h == cur {
			return i
		}
	}
	return -1
}

// leaveToPull finishes change ch without sending it: it conflicts with the peer's
// revision remoteRev, which the pull side brings in and resolves (PushOptions.
// PullResolvesConflicts), the resolution being pushed as a new change. The conflict is
// also reported (SessionConfig.OnConflict) when remoteRev is known, so that it is
// resolved even if the pull side has nothing more to bring: the peer's revision may be
// here already, on a branch that no pending resolution handles (extended or closed
// here since it was pulled), and the document would otherwise stay different on the
// two sides for good.
func (p *Pusher) leaveToPull(ch store.Change, remoteRev string) {
	// A version conflict is resolved by the puller as the revision arrives; the event is
	// for rev-tree conflicts, which the store keeps as branches.
	if remoteRev != "" && !wire.IsVersion(remoteRev) && p.s.cfg.OnConflict != nil {
		p.s.cfg.OnConflict(ConflictEvent{CollectionIndex: p.idx, Collection: p.coll, DocID: ch.DocID,
			LocalRevID: ch.RevID, RemoteRevID: remoteRev})
	}
	p.done(ch)
}

// liteCoreCorruptRevisionData is LiteCore's error code for a revision body it cannot
// store, which it also gives for a forbidden top-level key.
const liteCoreCorruptRevisionData = 5

// revivesOver reports whether revision revID, live and not descending from any of the
// peer's revisions (known), is the document created again over one of them: a deleted
// leaf here that arrived before revID was saved. A deletion that arrived after it is a
// conflict still to be resolved instead (the live revision was made without seeing it).
func (p *Pusher) revivesOver(ctx context.Context, docID, revID string, known []string) (bool, error) {
	revs, err := p.coll.Revisions(ctx, docID)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read revisions of %q: %w", docID, err)
	}
	var own store.Revision
	for _, r := range revs {
		if r.RevID == revID {
			own = r
		}
	}
	for _, r := range revs {
		if contains(known, r.RevID) && r.AnsweredBy(own) {
			return true, nil
		}
	}
	return false, nil
}

// maxPrefetchBytes bounds the bodies one prefetch query reads (by the sizes the change
// feed reported), so that the documents of a list of big ones are not all held at once.
const maxPrefetchBytes = 1 << 20

// prefetcher reads the current revisions of a list's rows to be sent, a chunk of rows per
// store query, just before they are sent: one query per list of small documents instead
// of one per document. A row whose commit notification carried its revision
// (notifiedDoc) is not read.
type prefetcher struct {
	coll  *store.Collection
	reads *SharedReads // nil = none
	rows  []pushRow
	want  func(i int) bool
	docs  []*store.Document
	next  int // rows before next have been considered
	// notified counts the rows taken from their commit notification (Pusher.notified).
	notified *atomic.Uint64
}

func newPrefetcher(p *Pusher, rows []pushRow, want func(i int) bool) *prefetcher {
	return &prefetcher{coll: p.coll, reads: p.opts.reads, rows: rows, want: want, docs: make([]*store.Document, len(rows)), notified: &p.notified}
}

// get returns row i's current document, or nil when it could not be read in a batch (the
// caller then reads it alone, which reports any error).
func (f *prefetcher) get(ctx context.Context, i int) *store.Document {
	if i >= f.next {
		var (
			ids  []string
			idx  []int
			size int
		)
		for j := i; j < len(f.rows); j++ {
			if !f.want(j) || f.rows[j].doc != nil {
				f.next = j + 1
				continue
			}
			ch := f.rows[j].change
			if d := notifiedDoc(ch); d != nil {
				f.notified.Add(1)
				f.docs[j] = d
				f.next = j + 1
				continue
			}
			if f.reads != nil {
				if d := f.reads.document(f.coll, ch.DocID, ch.Sequence); d != nil {
					f.docs[j] = d
					f.next = j + 1
					continue
				}
			}
			n := ch.BodySize
			if len(ids) > 0 && size+n > maxPrefetchBytes {
				break
			}
			ids, idx, size = append(ids, ch.DocID), append(idx, j), size+n
			f.next = j + 1
		}
		if len(ids) > 0 {
			docs, err := f.coll.GetManyWithDeleted(ctx, ids)
			if err == nil {
				for k, j := range idx {
					f.docs[j] = docs[k]
					if d := docs[k]; f.reads != nil && d != nil && d.Sequence == f.rows[j].change.Sequence {
						f.reads.putDocument(f.coll, d)
					}
				}
			}
		}
	}
	if d := f.rows[i].doc; d != nil {
		f.rows[i].doc = nil // the sender owns it now
		return d
	}
	d := f.docs[i]
	f.docs[i] = nil // the sender owns it now
	return d
}

// Delta policy of Couchbase Lite (PROTOCOL §6.1).
const (
	minDeltaBodySize = 200 // smaller bodies are always sent whole
	maxDeltaRatio    = 1.2 // a delta larger than this times the body is not worth it
)

// deltaEncode replaces rev's full body by a delta when the peer accepts deltas and a
// base is available: the first of known (the remote ancestor in propose mode, else the
// revisions the puller listed, best first) whose body is still kept and is not a
// tombstone, named by rev-tree ID or, under CBMobile_4, by version (deltaSource).
// rev.DeltaSrc is then that entry as the peer named it. rev is left unchanged when no
// delta is worth sending.
func (p *Pusher) deltaEncode(ctx context.Context, rev *wire.Rev, known []string) {
	if !p.s.deltas || !p.peerDeltas.Load() || len(known) == 0 || len(rev.Body) < minDeltaBodySize {
		return
	}
	for _, baseID := range known {
		base, err := p.s.deltaSource(ctx, p.coll, rev.DocID, baseID)
		if err != nil {
			continue // body no longer kept here: try the next one
		}
		if base.Deleted {
			return
		}
		// The format cannot say where an added key goes (the receiver appends it) nor
		// reorder keys: a delta that would rebuild another body than ours under this
		// revision ID is not sent, the full body is.
		d, exact, err := delta.CreateExact(base.Body, rev.Body)
		if err != nil {
			p.s.log.Debug("no delta", "doc", rev.DocID, "base", baseID, "err", err)
			return
		}
		if !exact {
			p.s.log.Debug("no delta: it does not rebuild the body exactly", "doc", rev.DocID, "base", baseID)
			return
		}
		if float64(len(d)) > maxDeltaRatio*float64(len(rev.Body)) {
			return
		}
		rev.DeltaSrc, rev.Body = baseID, d
		return
	}
}

// sendRevMessage sends rev (requesting a reply) and returns the reply channel.
func (p *Pusher) sendRevMessage(rev wire.Rev) (<-chan blip.Reply, error) {
	msg := p.s.newRequest(wire.ProfileRev, p.idx, rev.Props())
	msg.Compressed = true
	msg.Body = rev.Body
	return p.s.conn.SendAsync(msg)
}

// awaitReply waits for a rev reply; an error reply becomes r.Err. ok is false when the
// session ended first without a reply waiting.
func awaitReply(ctx context.Context, replies <-chan blip.Reply) (r blip.Reply, ok bool) {
	select {
	case r = <-replies:
	case <-ctx.Done():
		// A reply that arrived before the end still counts (select picks at random
		// among ready cases): the peer took the revision, and the session's counters
		// and the document event say so.
		select {
		case r = <-replies:
		default:
			return r, false
		}
	}
	if r.Err == nil && r.Msg != nil && r.Msg.IsError() {
		r.Err = &blip.Error{Domain: r.Msg.ErrorDomain(), Code: r.Msg.ErrorCode()}
	}
	return r, true
}

// deltaRefused reports the answers after which a delta rev is resent whole: HTTP/422
// (CBL, SG), HTTP/404 (SG), LiteCore/31 DeltaBaseUnknown and LiteCore/32 CorruptDelta.
func deltaRefused(err error) bool {
	var be *blip.Error
	if !errors.As(err, &be) {
		return false
	}
	switch be.Domain {
	case "HTTP":
		return be.Code == 422 || be.Code == 404
	case "LiteCore":
		return be.Code == 31 || be.Code == 32
	}
	return false
}

func (p *Pusher) sendNoRev(ctx context.Context, ch store.Change, code int, reason string) {
	n := wire.NoRev{DocID: ch.DocID, RevID: ch.RevID, Sequence: wire.UintSequence(ch.Sequence), Error: code, Reason: reason}
	msg := p.s.newRequest(wire.ProfileNoRev, p.idx, n.Props())
	msg.NoReply = true
	_, _ = p.s.conn.Send(ctx, msg)
}

// tombstoneFor picks, for a deleted document, the tombstone leaf descending from the
// peer's revision anc. skip is true when anc is itself a deleted leaf (both sides agree).
func (p *Pusher) tombstoneFor(ctx context.Context, docID, anc string) (leaf string, skip bool, err error) {
	revs, err := p.coll.Revisions(ctx, docID)
	if errors.Is(err, store.ErrNotFound) {
		return "", true, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("read revisions of %q: %w", docID, err)
	}
	for _, r := range revs {
		if r.Leaf && r.Deleted && r.RevID == anc {
			return "", true, nil
		}
	}
	for _, r := range revs {
		if !r.Leaf || !r.Deleted {
			continue
		}
		hist, err := p.coll.History(ctx, docID, r.RevID, 0)
		if err != nil {
			continue
		}
		if contains(hist, anc) {
			return r.RevID, false, nil
		}
	}
	return "", false, nil
}

// currentOf is the current-revision summary of document d.
func currentOf(d *store.Document) store.CurrentRevision {
	return store.CurrentRevision{RevID: d.RevID, Deleted: d.Deleted, Sequence: d.Sequence, Version: d.Version, Vector: d.Vector}
}
