package syncproto

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/p2psync/libp2psync/engine/store"
)

// inserter saves received revisions in batched transactions (CBL: "insertion batches of
// 100 or every 20 ms"). A rev handler queues its revision and waits for the commit, so the
// reply to the peer is only sent once the revision is durable (PROTOCOL §9 item 18).
type inserter struct {
	db    *store.Database
	max   int
	queue chan *insertReq
	// The batching gaps (see streamGap); fields so that a test on a loaded machine can
	// widen them.
	streamGap, lingerGap, maxLinger time.Duration
}

type insertReq struct {
	coll           *store.Collection
	rev            store.RemoteRevision
	detectConflict bool
	anc            *ancestorCache       // records the revision as the remote's (nil: no tracking)
	version        *store.RemoteVersion // a CBMobile_4 revision (rev then only names the document)
	done           chan insertResult
}

type insertResult struct {
	res          store.InsertResult
	conflictWith string              // local current revision the new one conflicts with ("" = none)
	vres         store.VersionResult // for a version (insertReq.version)
	err          error
}

func newInserter(db *store.Database, max int) *inserter {
	return &inserter{db: db, max: max, queue: make(chan *insertReq, max),
		streamGap: streamGap, lingerGap: lingerGap, maxLinger: maxLinger}
}

// insert queues rev and waits until it is committed (or ctx ends). With anc set, rev is
// recorded as the remote's revision of the document in the same transaction (see commit).
func (in *inserter) insert(ctx context.Context, coll *store.Collection, rev store.RemoteRevision, detectConflict bool, anc *ancestorCache) insertResult {
	req := &insertReq{coll: coll, rev: rev, detectConflict: detectConflict, anc: anc, done: make(chan insertResult, 1)}
	return in.submit(ctx, req)
}

// submit queues req and waits for its result (or for ctx to end).
func (in *inserter) submit(ctx context.Context, req *insertReq) insertResult {
	select {
	case in.queue <- req:
	case <-ctx.Done():
		return insertResult{err: ctx.Err()}
	}
	select {
	case r := <-req.done:
		return r
	case <-ctx.Done():
		return insertResult{err: ctx.Err()}
	}
}

// Batching of received revisions. A revision that arrives while others stream in (others
// are queued behind it, or it came less than streamGap after a commit of several) waits
// for the next ones: the batch is committed once none has arrived for lingerGap (a tenth
// of it while neither it nor the last batch shows a stream: see collect), once it holds max revisions, or
// maxLinger after it started. A lone revision (live replication, after a
// pause) is committed at once. Without the wait, each commit took the few revisions
// that arrived during the previous one (8 on average in W2), and the per-commit cost of
// the store (WAL pages, checkpoints) dominated the receiver's work.
const (
	streamGap  = 2 * time.Millisecond
	lingerGap  = 2 * time.Millisecond
	maxLinger  = 10 * time.Millisecond
	bigStreams = 32 // a batch this big means revisions are streaming in
	smallBatch = 8  // until a batch holds this many (or the last held bigStreams), it waits lingerGap/10
)

func (in *inserter) run(ctx context.Context) {
	var carry *insertReq
	lastSize := 0
	var lastEnd time.Time
	for {
		var first *insertReq
		if carry != nil {
			first, carry = carry, nil
		} else {
			select {
			case first = <-in.queue:
			case <-ctx.Done():
				in.drain(ctx.Err())
				return
			}
		}
		// A peer that sends one revision at a time (last batch of 1) is not kept waiting.
		streaming := lastSize >= bigStreams || len(in.queue) > 0 || (lastSize > 1 && time.Since(lastEnd) < in.streamGap)
		batch, next := in.collect(ctx, first, streaming, lastSize >= bigStreams)
		carry = next
		lastSize = len(batch)
		in.commit(ctx, batch)
		lastEnd = time.Now()
	}
}

// collect gathers a batch starting with first: what is queued, and while streaming what
// arrives until the stream pauses (see streamGap). next is a revision of a document
// already in the batch, which starts the next one (conflict detection reads committed
// state: one revision per document per batch).
func (in *inserter) collect(ctx context.Context, first *insertReq, streaming, bigStream bool) (batch []*insertReq, next *insertReq) {
	batch = []*insertReq{first}
	seen := map[docKey]bool{{first.coll, first.rev.DocID}: true}
	var idle *time.Timer
	var deadline time.Time
	// gap is the pause that ends the batch: a tenth of lingerGap while neither the last
	// batch nor this one shows a stream (a few revisions sent together, as a live push
	// does after a pause, are then not held 2 ms).
	gap := func() time.Duration {
		if bigStream || len(batch) >= smallBatch {
			return in.lingerGap
		}
		return in.lingerGap / 10
	}
	if streaming {
		idle = time.NewTimer(gap())
		defer idle.Stop()
		deadline = time.Now().Add(in.maxLinger)
	}
	for len(batch) < in.max {
		var r *insertReq
		if idle == nil {
			select {
			case r = <-in.queue:
			default:
				return batch, nil
			}
		} else {
			select {
			case r = <-in.queue:
			case <-idle.C:
				return batch, nil
			case <-ctx.Done():
				return batch, nil
			}
		}
		k := docKey{r.coll, r.rev.DocID}
		if seen[k] {
			return batch, r
		}
		seen[k] = true
		batch = append(batch, r)
		if idle != nil {
			if time.Now().After(deadline) {
				return batch, nil
			}
			idle.Reset(gap())
		}
	}
	return batch, nil
}

type docKey struct {
	coll *store.Collection
	id   string
}

// perItem reports store errors that concern one revision, not the transaction.
func perItem(err error) bool {
	return errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrInvalidRevID) ||
		errors.Is(err, store.ErrInvalidID) || errors.Is(err, store.ErrInvalidJSON) || errors.Is(err, store.ErrNotFound) ||
		errors.Is(err, store.ErrReservedProperty)
}

func (in *inserter) commit(ctx context.Context, batch []*insertReq) {
	results := make([]insertResult, len(batch))
	err := in.db.InBatch(ctx, func(b *store.Batch) error {
		for i, r := range batch {
			if r.version != nil {
				if err := commitVersion(b, r, &results[i]); err != nil {
					return err
				}
				continue
			}
			var cur *store.CurrentRevision
			if r.detectConflict {
				// Only the current revision's ID and deletion flag count: no body read.
				revs, err := r.coll.CurrentRevisions(ctx, []string{r.rev.DocID})
				if err == nil && revs[0].RevID != "" {
					cur = &revs[0]
				}
			}
			res, err := b.PutExistingRevision(r.coll, r.rev)
			if err != nil {
				if !perItem(err) {
					return err
				}
				results[i].err = err
				continue
			}
			results[i].res = res
			if r.anc != nil {
				// The remote ancestor is written with the revision, and noted in memory before
				// the commit makes the revision visible: a pusher that sees the new change
				// also sees that the peer has it, so it never echoes it back, and the record
				// survives a connection drop or crash (PendingDocumentIDs reads it).
				if err := b.SetRemoteAncestor(r.coll, r.anc.remote, r.rev.DocID, r.rev.RevID); err != nil {
					return err
				}
				r.anc.noteStored(r.coll, r.rev.DocID, r.rev.RevID)
			}
			switch {
			case cur != nil && res.Inserted && isConflict(cur, r.rev):
				results[i].conflictWith = cur.RevID
			case r.detectConflict && res.Inserted && res.Conflicted:
				// The document still has an unresolved conflict (an earlier resolution was
				// overtaken by this revision): have it resolved again.
				results[i].conflictWith = cur0(cur)
			case r.detectConflict && res.Inserted && r.rev.Deleted && res.Document != nil && !res.Document.Deleted:
				// A deletion extending the current revision (the remote's branch, which had
				// won the winner rule) while a live local leaf remains: that leaf is current
				// now and conflicts with the deletion. The conflicts queued for the branch's
				// earlier revisions no longer count (see conflictLeaves), so this one must.
				results[i].conflictWith = res.Document.RevID
			}
		}
		return nil
	})
	for i, r := range batch {
		if err != nil {
			results[i] = insertResult{err: err}
		}
		r.done <- results[i]
	}
}

// isConflict: the incoming revision does not descend from the local current revision.
// Two tombstones are not worth resolving.
func isConflict(cur *store.CurrentRevision, rev store.RemoteRevision) bool {
	if cur.RevID == rev.RevID {
		return false
	}
	for _, h := range rev.History {
		if h == cur.RevID {
			return false
		}
	}
	return !(cur.Deleted && rev.Deleted)
}

func (in *inserter) drain(err error) {
	for {
		select {
		case r := <-in.queue:
			r.done <- insertResult{err: err}
		default:
			return
		}
	}
}

// ancestorCache records remote ancestors (PROTOCOL §4.6). The pusher and puller note
// them in memory, where they stay for the session (bounded), and a background goroutine
// persists them in batches.
//
// What the pusher records (setPushed: a revision the peer took or already had) is
// dropped from memory once persisted: the pusher never lists that change again in the
// session, and a later revision of the document is a later generation, whose remote
// ancestor is read from the store. So a long push keeps a bounded number of records,
// not one per document sent. Records of received revisions (noteStored) stay: a first
// revision pulled in this session is looked up in memory only.
type ancestorCache struct {
	remote  string
	mu      sync.Mutex
	known   map[docKey]string        // this session's records
	pending map[docKey]pendingRecord // not yet persisted
	kick    chan struct{}
}

// pendingRecord is a remote ancestor waiting to be persisted; transient ones leave
// memory once persisted (see ancestorCache).
type pendingRecord struct {
	rev       string
	transient bool
}

const maxKnownAncestors = 1 << 20

func newAncestorCache(remote string) *ancestorCache {
	return &ancestorCache{remote: remote, known: map[docKey]string{}, pending: map[docKey]pendingRecord{}, kick: make(chan struct{}, 1)}
}

// set records revID as the peer's revision of a document, kept in memory for the session.
func (a *ancestorCache) set(coll *store.Collection, docID, revID string) {
	a.record(coll, docID, revID, false)
}

// setPushed records revID, a revision this session's pusher sent or proposed, as the
// peer's; the record leaves memory once persisted (see ancestorCache).
func (a *ancestorCache) setPushed(coll *store.Collection, docID, revID string) {
	a.record(coll, docID, revID, true)
}

func (a *ancestorCache) record(coll *store.Collection, docID, revID string, transient bool) {
	k := docKey{coll, docID}
	a.mu.Lock()
	if len(a.known) >= maxKnownAncestors {
		a.known = map[docKey]string{}
	}
	a.known[k] = revID
	if p, ok := a.pending[k]; ok && !p.transient {
		transient = false // a record that must stay in memory stays
	}
	a.pending[k] = pendingRecord{revID, transient}
	n := len(a.pending)
	a.mu.Unlock()
	if n >= 1000 {
		select {
		case a.kick <- struct{}{}:
		default:
		}
	}
}

// get returns this session's record for a document, if any.
func (a *ancestorCache) get(coll *store.Collection, docID string) (string, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	rev, ok := a.known[docKey{coll, docID}]
	return rev, ok
}

// noteStored records in memory a remote ancestor that the caller writes to the store
// itself (inside its transaction). A pending older value is replaced so that a later
// flush cannot overwrite the newer record.
func (a *ancestorCache) noteStored(coll *store.Collection, docID, revID string) {
	k := docKey{coll, docID}
	a.mu.Lock()
	if len(a.known) >= maxKnownAncestors {
		a.known = map[docKey]string{}
	}
	a.known[k] = revID
	if _, ok := a.pending[k]; ok {
		a.pending[k] = pendingRecord{rev: revID}
	}
	a.mu.Unlock()
}

// stale reports that a newer value than revID is known for k (so writing revID would
// regress the stored record).
func (a *ancestorCache) stale(k docKey, revID string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	cur, ok := a.known[k]
	return ok && cur != revID
}

// getMany returns the latest known remote revision of each change's document (absent:
// none known). This session's records come from memory; the others, for the changes
// readStore selects, from the store in one query for the whole list.
func (a *ancestorCache) getMany(ctx context.Context, coll *store.Collection, changes []store.Change, readStore func(store.Change) bool) (map[string]string, error) {
	out := make(map[string]string, len(changes))
	var unknown []string
	a.mu.Lock()
	for _, ch := range changes {
		if rev, ok := a.known[docKey{coll, ch.DocID}]; ok {
			out[ch.DocID] = rev
		} else if readStore(ch) {
			unknown = append(unknown, ch.DocID)
		}
	}
	a.mu.Unlock()
	if len(unknown) == 0 {
		return out, nil
	}
	stored, err := coll.RemoteAncestors(ctx, a.remote, unknown)
	if err != nil {
		return nil, err
	}
	for id, rev := range stored {
		out[id] = rev
	}
	return out, nil
}

func (a *ancestorCache) run(ctx context.Context) {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-a.kick:
		}
		a.flush(ctx, nil)
	}
}

// flush persists pending entries, one statement per collection in one transaction.
// db is the database when the caller knows it (session close), else taken from the entries.
func (a *ancestorCache) flush(ctx context.Context, db *store.Database) {
	a.mu.Lock()
	if len(a.pending) == 0 {
		a.mu.Unlock()
		return
	}
	snapshot := a.pending
	a.pending = map[docKey]pendingRecord{}
	a.mu.Unlock()
	if db == nil {
		for k := range snapshot {
			db = k.coll.Database()
			break
		}
	}
	err := db.InBatch(ctx, func(b *store.Batch) error {
		// Decided inside the transaction: the inserter writes its own records in its
		// transactions, which are serialised with this one, so a record it noted before
		// this point is newer and must be kept, and one it writes later overwrites ours.
		byColl := map[*store.Collection]map[string]string{}
		for k, v := range snapshot {
			if a.stale(k, v.rev) {
				continue
			}
			if byColl[k.coll] == nil {
				byColl[k.coll] = map[string]string{}
			}
			byColl[k.coll][k.id] = v.rev
		}
		for coll, revs := range byColl {
			err := b.SetRemoteAncestors(coll, a.remote, revs)
			if errors.Is(err, store.ErrNotFound) {
				continue // the collection was deleted meanwhile: nothing to remember
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		a.forget(snapshot)
		return
	}
	// Keep them for the next flush unless a newer value is pending by now.
	a.mu.Lock()
	for k, v := range snapshot {
		if _, newer := a.pending[k]; !newer {
			a.pending[k] = v
		}
	}
	a.mu.Unlock()
}

// forget drops from memory the persisted transient records of snapshot that nothing
// replaced meanwhile: the store answers for them now.
func (a *ancestorCache) forget(snapshot map[docKey]pendingRecord) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for k, v := range snapshot {
		if !v.transient {
			continue
		}
		if _, newer := a.pending[k]; newer {
			continue
		}
		if a.known[k] == v.rev {
			delete(a.known, k)
		}
	}
}

func cur0(d *store.CurrentRevision) string {
	if d == nil {
		return ""
	}
	return d.RevID
}
