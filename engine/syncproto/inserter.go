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
	return &inserter{db: db, max: max, queue: make(chan *insertReq, max)}
}

// insert queues rev and waits until it is committed (or ctx ends). With anc set, rev is
// recorded as the remote's revision of the document in the same transaction (see commit).
func (in *inserter) insert(ctx context.Context, coll *store.Collection, rev store.RemoteRevision, detectConflict bool, anc *ancestorCache) insertResult {
	req := &insertReq{coll: coll, rev: rev, detectConflict: detectConflict, anc: anc, done: make(chan insertResult, 1)}
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

func (in *inserter) run(ctx context.Context) {
	var carry *insertReq
	lastSize := 0
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
		batch := []*insertReq{first}
		seen := map[docKey]bool{{first.coll, first.rev.DocID}: true}
		// While revisions stream in (the last batch was big), give the next ones a moment
		// to arrive so that commits stay large; a lone revision is saved at once.
		var linger <-chan time.Time
		var timer *time.Timer
		if lastSize >= 32 {
			timer = time.NewTimer(500 * time.Microsecond)
			linger = timer.C
		}
	collect:
		for len(batch) < in.max {
			var r *insertReq
			if linger == nil {
				select {
				case r = <-in.queue:
				default:
					break collect
				}
			} else {
				select {
				case r = <-in.queue:
				case <-linger:
					linger = nil
					continue
				case <-ctx.Done():
					break collect
				}
			}
			k := docKey{r.coll, r.rev.DocID}
			if seen[k] {
				// Conflict detection reads committed state: keep one revision per doc per batch.
				carry = r
				break collect
			}
			seen[k] = true
			batch = append(batch, r)
		}
		if timer != nil {
			timer.Stop()
		}
		lastSize = len(batch)
		in.commit(ctx, batch)
	}
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
			var cur *store.Document
			if r.detectConflict {
				d, err := r.coll.GetWithDeleted(ctx, r.rev.DocID)
				if err == nil {
					cur = d
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
func isConflict(cur *store.Document, rev store.RemoteRevision) bool {
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
type ancestorCache struct {
	remote  string
	mu      sync.Mutex
	known   map[docKey]string // this session's records
	pending map[docKey]string // not yet persisted
	kick    chan struct{}
}

const maxKnownAncestors = 1 << 20

func newAncestorCache(remote string) *ancestorCache {
	return &ancestorCache{remote: remote, known: map[docKey]string{}, pending: map[docKey]string{}, kick: make(chan struct{}, 1)}
}

func (a *ancestorCache) set(coll *store.Collection, docID, revID string) {
	k := docKey{coll, docID}
	a.mu.Lock()
	if len(a.known) >= maxKnownAncestors {
		a.known = map[docKey]string{}
	}
	a.known[k] = revID
	a.pending[k] = revID
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
		a.pending[k] = revID
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
	a.pending = map[docKey]string{}
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
			if a.stale(k, v) {
				continue
			}
			if byColl[k.coll] == nil {
				byColl[k.coll] = map[string]string{}
			}
			byColl[k.coll][k.id] = v
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

func cur0(d *store.Document) string {
	if d == nil {
		return ""
	}
	return d.RevID
}
