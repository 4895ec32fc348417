package replicator

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/p2psync/libp2psync/engine/store"
	"github.com/p2psync/libp2psync/engine/syncproto"
)

// ConflictRevision is one side of a conflict. A nil *ConflictRevision means that side is
// a deletion.
type ConflictRevision struct {
	RevID string
	Body  []byte
}

// Conflict describes a document whose local revision and a pulled remote revision
// diverged.
type Conflict struct {
	Collection string // "scope.name"
	DocID      string
	Local      *ConflictRevision // nil = deleted locally
	Remote     *ConflictRevision // nil = deleted remotely
	localRev   string
	remoteRev  string
}

// LocalRevID and RemoteRevID name the conflicting revisions (also for deletions).
func (c Conflict) LocalRevID() string  { return c.localRev }
func (c Conflict) RemoteRevID() string { return c.remoteRev }

// ResolutionKind says which outcome a resolver chose.
type ResolutionKind int

const (
	// UseRemote keeps the remote revision.
	UseRemote ResolutionKind = iota
	// UseLocal keeps the local revision (its body, or its deletion).
	UseLocal
	// UseMerged saves Resolution.Body as the result.
	UseMerged
	// UseDeletion deletes the document.
	UseDeletion
)

// Resolution is a resolver's decision.
type Resolution struct {
	Kind ResolutionKind
	Body []byte // JSON object, for UseMerged
}

// ConflictResolver decides a conflict. It runs on a library goroutine, may block, and may
// read the database; returning an error (or panicking) leaves the document unresolved and
// reports a document error.
type ConflictResolver func(ctx context.Context, c Conflict) (Resolution, error)

// DefaultConflictResolver is Couchbase Lite's default rule (PROTOCOL §4.7): a deletion
// wins; otherwise the revision with the higher generation; otherwise the larger revision
// ID, which every peer computes the same way.
func DefaultConflictResolver(_ context.Context, c Conflict) (Resolution, error) {
	switch {
	case c.Remote == nil:
		return Resolution{Kind: UseRemote}, nil
	case c.Local == nil:
		return Resolution{Kind: UseLocal}, nil
	}
	lg, rg := generation(c.localRev), generation(c.remoteRev)
	switch {
	case rg > lg:
		return Resolution{Kind: UseRemote}, nil
	case lg > rg:
		return Resolution{Kind: UseLocal}, nil
	case digest(c.remoteRev) >= digest(c.localRev):
		return Resolution{Kind: UseRemote}, nil
	default:
		return Resolution{Kind: UseLocal}, nil
	}
}

func generation(rev string) int {
	n := 0
	for i := 0; i < len(rev) && rev[i] != '-'; i++ {
		if rev[i] < '0' || rev[i] > '9' {
			return 0
		}
		n = n*10 + int(rev[i]-'0')
	}
	return n
}

func digest(rev string) string {
	if i := strings.IndexByte(rev, '-'); i >= 0 {
		return rev[i+1:]
	}
	return rev
}

// ErrResolverFailed wraps a resolver's error or panic in the document event.
var ErrResolverFailed = errors.New("replicator: conflict resolver failed")

// resolverQueue runs conflict resolutions one at a time on its own goroutine.
type resolverQueue struct {
	r      *Replicator
	mu     sync.Mutex
	cond   *sync.Cond
	queue  []syncproto.ConflictEvent
	busy   bool
	closed bool
	done   chan struct{}
	// resolvedSeq records the sequence of each resolution so a one-shot push includes it.
	onResolved func(idx int, seq uint64)
	// remoteRev reads the latest revision known to be on the remote (the session's view,
	// see syncproto.Session.RemoteRevision); nil reads the stored record.
	remoteRev remoteRevFunc
}

// remoteRevFunc returns the latest revision of a document known to be on the remote.
type remoteRevFunc func(ctx context.Context, coll *store.Collection, docID string) (string, error)

func newResolverQueue(r *Replicator, onResolved func(int, uint64)) *resolverQueue {
	q := &resolverQueue{r: r, done: make(chan struct{}), onResolved: onResolved}
	q.cond = sync.NewCond(&q.mu)
	return q
}

func (q *resolverQueue) add(ev syncproto.ConflictEvent) {
	q.mu.Lock()
	if !q.closed {
		q.queue = append(q.queue, ev)
		q.cond.Signal()
	}
	q.mu.Unlock()
}

// idle reports nothing queued or running.
func (q *resolverQueue) idle() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.queue) == 0 && !q.busy
}

func (q *resolverQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.cond.Signal()
	q.mu.Unlock()
	<-q.done
}

func (q *resolverQueue) run(ctx context.Context, kick func()) {
	defer close(q.done)
	for {
		q.mu.Lock()
		for len(q.queue) == 0 && !q.closed {
			q.cond.Wait()
		}
		if q.closed {
			q.mu.Unlock()
			return
		}
		ev := q.queue[0]
		q.queue = q.queue[1:]
		q.busy = true
		q.mu.Unlock()
		seq, n, err := q.r.resolveWith(ctx, ev, q.remoteRev)
		if err != nil && ctx.Err() != nil && errors.Is(err, ctx.Err()) {
			// Stopped mid-resolution: nothing was written, the conflict stays in the
			// database and is found again by the next run. Not the replication's error.
			q.r.log.Info("conflict resolution interrupted by stop", "collection", ev.Collection.FullName(), "doc", ev.DocID)
			return
		}
		if err != nil {
			q.r.log.Warn("conflict not resolved", "collection", ev.Collection.FullName(), "doc", ev.DocID,
				"local", ev.LocalRevID, "remote", ev.RemoteRevID, "err", err)
			q.r.count(func(c *Counters) { c.LastError = err })
		}
		if n > 0 {
			q.r.log.Info("conflict resolved", "collection", ev.Collection.FullName(), "doc", ev.DocID,
				"local", ev.LocalRevID, "remote", ev.RemoteRevID)
			q.r.count(func(c *Counters) { c.ConflictsResolved += uint64(n) })
		}
		if err != nil {
			q.r.docEvent(DirectionPull, ReplicatedDocument{Collection: ev.Collection.FullName(), ID: ev.DocID, RevID: ev.RemoteRevID, Error: err})
		}
		if seq != 0 && q.onResolved != nil {
			q.onResolved(ev.CollectionIndex, seq)
		}
		q.mu.Lock()
		q.busy = false
		q.mu.Unlock()
		kick()
	}
}

// maxResolveAttempts bounds how often one conflict is decided again because its
// revision tree changed between the read and the write.
const maxResolveAttempts = 8

// resolve applies the configured resolver to one conflict. It returns the sequence of
// the resulting change (0 if nothing was written).
//
// The leaves are read, the resolver runs, and the result is written in a separate
// transaction; a revision saved meanwhile (typically one pushed by another peer to this
// database's listener, extending the local leaf) makes the store refuse the stale
// result with ErrConflict. The conflict is then decided again from the new tree, as
// Couchbase Lite does when a document changes during resolution; giving up would leave
// the document conflicted until the next connection.
func (r *Replicator) resolve(ctx context.Context, ev syncproto.ConflictEvent) (uint64, error) {
	seq, _, err := r.resolveWith(ctx, ev, nil)
	return seq, err
}

// resolveWith is resolve with the remote's revisions read by remoteRev (nil: from the
// store's remote-ancestor records). It also returns how many resolutions it made
// (none when the event finds nothing left to resolve).
func (r *Replicator) resolveWith(ctx context.Context, ev syncproto.ConflictEvent, remoteRev remoteRevFunc) (uint64, int, error) {
	if remoteRev == nil {
		remoteRev = func(ctx context.Context, coll *store.Collection, docID string) (string, error) {
			return coll.RemoteAncestor(ctx, r.remoteID, docID)
		}
	}
	var last uint64
	n := 0
	for round := 0; round < maxResolveRounds; round++ {
		seq, decided, err := r.resolveRetrying(ctx, ev, remoteRev)
		if decided {
			n++
		}
		if err != nil || seq == 0 {
			return max(seq, last), n, err // what was written is pushed even if a later round failed
		}
		// A resolution settles one pair of leaves. A document can hold more live leaves
		// (a third branch, e.g. a local edit of the remote's branch beside a newer pulled
		// revision): read it again and resolve what is left, rather than leaving it
		// conflicted until some later connection.
		last = seq
	}
	return last, n, nil
}

// maxResolveRounds bounds the resolutions one conflict event makes in a row (each one
// removes a live leaf from the document, so a document with n live leaves needs n-1).
const maxResolveRounds = 16

// resolveRetrying is one resolution, made again while the store refuses it as stale.
func (r *Replicator) resolveRetrying(ctx context.Context, ev syncproto.ConflictEvent, remoteRev remoteRevFunc) (seq uint64, decided bool, err error) {
	for attempt := 1; ; attempt++ {
		decided = false
		var stale bool
		seq, stale, err = r.resolveOnce(ctx, ev, remoteRev, &decided)
		// A revision read a moment ago that is gone (a leaf extended meanwhile, whose
		// body or whole node is no longer kept) means the tree changed too: decide
		// again from the new one. Reported as a failure, the conflict stayed open until
		// some later event (TestRingConverges, TestConcurrentDeletionsConverge under load).
		stale = stale || errors.Is(err, store.ErrNotFound)
		if err == nil || !stale || attempt == maxResolveAttempts || ctx.Err() != nil {
			return seq, decided && err == nil, err
		}
		r.log.Debug("document changed during conflict resolution; resolving again", "doc", ev.DocID, "attempt", attempt, "err", err)
	}
}

// resolveOnce is one attempt of resolve: it reads the conflict, asks the resolver and
// writes the result. stale reports that the write was refused (store.ErrConflict)
// because the document's revision tree changed after it was read (resolveRetrying also
// takes a store.ErrNotFound from its reads as stale). *decided is set
// when an outcome was settled (written, or found already in place by the resolver's
// choice).
func (r *Replicator) resolveOnce(ctx context.Context, ev syncproto.ConflictEvent, remoteRev remoteRevFunc, decided *bool) (uint64, bool, error) {
	coll := ev.Collection
	revs, err := coll.Revisions(ctx, ev.DocID)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return 0, false, nil
		}
		return 0, false, fmt.Errorf("resolve conflict of %q: %w", ev.DocID, err)
	}
	local, remote, carry, err := r.conflictLeaves(ctx, coll, ev, revs, remoteRev)
	if err != nil {
		return 0, false, err
	}
	if local == nil || remote == nil {
		return 0, false, nil // nothing left to resolve
	}
	w := writer{coll: coll, docID: ev.DocID, decided: decided}
	if carry {
		return w.carryLocal(ctx, local, remote)
	}
	if remote.Deleted && !local.Deleted {
		live, err := remoteTookLocal(ctx, coll, ev.DocID, local, remote, remoteRev)
		if err != nil || live {
			return 0, false, err
		}
	}
	c, err := conflictOf(ctx, coll, ev.DocID, local, remote)
	if err != nil {
		return 0, false, err
	}
	resolver := r.colls[ev.CollectionIndex].ConflictResolver
	if resolver == nil {
		resolver = DefaultConflictResolver
	}
	res, err := callResolver(ctx, resolver, c)
	if err != nil {
		return 0, false, fmt.Errorf("%w: document %q: %w", ErrResolverFailed, ev.DocID, err)
	}
	return w.apply(ctx, c, res, local, remote)
}

// remoteTookLocal reports, for a remote deletion in conflict with a live local leaf, that
// the remote has taken the live local leaf since it sent its deletion (the document
// created again here and pushed, the push acknowledged after the deletion was pulled): its
// latest revision then answers its own deletion, and the document is live on both sides.
// Resolving would delete it (and a deletion removes the losing branch, which the remote
// holds as its current revision: the sides would never agree again).
func remoteTookLocal(ctx context.Context, coll *store.Collection, docID string, local, remote *store.Revision, remoteRev remoteRevFunc) (bool, error) {
	held, err := remoteRev(ctx, coll, docID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return false, fmt.Errorf("resolve conflict of %q: %w", docID, err)
	}
	if held == local.RevID {
		return true, nil
	}
	if held == "" || held == remote.RevID || generation(held) >= generation(local.RevID) {
		return false, nil
	}
	// Or an ancestor of it: the remote took the live branch and the local leaf is a later
	// edit of it (the pusher reports such a leaf when the remote refused it for a stale
	// parent; it is still to be pushed, not deleted).
	hist, err := coll.History(ctx, docID, local.RevID, 0)
	if err != nil {
		return false, fmt.Errorf("resolve conflict of %q: %w", docID, err)
	}
	for _, h := range hist {
		if h == held {
			return true, nil
		}
	}
	return false, nil
}

// conflictOf is what the resolver is given: the two leaves, with the body of each live one.
func conflictOf(ctx context.Context, coll *store.Collection, docID string, local, remote *store.Revision) (Conflict, error) {
	c := Conflict{Collection: coll.FullName(), DocID: docID, localRev: local.RevID, remoteRev: remote.RevID}
	if !local.Deleted {
		d, err := coll.GetRevision(ctx, docID, local.RevID)
		if err != nil {
			return c, fmt.Errorf("resolve conflict of %q: read local revision: %w", docID, err)
		}
		c.Local = &ConflictRevision{RevID: local.RevID, Body: d.Body}
	}
	if !remote.Deleted {
		d, err := coll.GetRevision(ctx, docID, remote.RevID)
		if err != nil {
			return c, fmt.Errorf("resolve conflict of %q: read remote revision: %w", docID, err)
		}
		c.Remote = &ConflictRevision{RevID: remote.RevID, Body: d.Body}
	}
	return c, nil
}

// writer writes the outcome of one conflict of one document. Every write goes through
// written, which records that the outcome was settled and reports a write refused because
// the revision tree changed meanwhile (stale).
type writer struct {
	coll    *store.Collection
	docID   string
	decided *bool
}

func (w writer) written(doc *store.Document, err error) (seq uint64, stale bool, _ error) {
	*w.decided = true
	if err != nil {
		return 0, errors.Is(err, store.ErrConflict), fmt.Errorf("resolve conflict of %q: %w", w.docID, err)
	}
	return doc.Sequence, false, nil
}

// carryLocal handles a remote branch closed here by a tombstone the remote does not have
// (see conflictLeaves): the live local leaf is the document's state here, and it is
// carried onto the remote's branch, a child of that tombstone (which the remote accepts as
// extending its revision), the local leaf being closed. Left as it was, the document would
// stay live here and unchanged on the remote for good: the pusher cannot send a revision
// that does not descend from the remote's.
func (w writer) carryLocal(ctx context.Context, local, remote *store.Revision) (uint64, bool, error) {
	d, err := w.coll.GetRevision(ctx, w.docID, local.RevID)
	if err != nil {
		return 0, false, fmt.Errorf("resolve conflict of %q: read local revision: %w", w.docID, err)
	}
	return w.written(w.coll.ResolveConflictWith(ctx, w.docID, remote.RevID, local.RevID, store.ResolveOptions{MergedBody: d.Body}))
}

// apply writes the resolver's choice. The result always becomes a child of the remote
// revision (or is the remote revision), so that pushing it back extends what the remote
// has (as Couchbase Lite does).
func (w writer) apply(ctx context.Context, c Conflict, res Resolution, local, remote *store.Revision) (uint64, bool, error) {
	if res.Kind == UseRemote && !remote.Deleted {
		if local.Deleted {
			*w.decided = true
			return 0, false, nil // the live remote revision already wins over the local tombstone
		}
		return w.written(w.coll.ResolveConflict(ctx, w.docID, remote.RevID, local.RevID, nil, false))
	}
	body, deleted, err := outcomeOf(w.docID, c, res)
	if err != nil {
		return 0, false, err
	}
	if deleted {
		// The document ends deleted. Its current revision must then be the remote's
		// tombstone (the remote revision is a deletion) or a tombstone child of the remote
		// revision, which the remote accepts: the same on both sides. Closing the local
		// branch with a tombstone of its own would not do: that tombstone outranks the
		// result whenever the local branch is as long as the remote's (the winner rule
		// compares generations), the document would end deleted by different tombstones
		// on the two sides, and the pusher rightly sends nothing (the remote's revision is
		// already a deleted leaf here; it would refuse ours anyway, Sync Gateway's
		// no-conflicts rules). So the losing local branch is removed from the tree
		// instead, as Couchbase Lite's resolution does, together with any other tombstone
		// that would outrank the result; nothing live is lost, the outcome being a
		// deletion. (A peer that pulled the losing branch meets the deletion as a
		// conflict of its own and resolves it the same way.)
		opts := store.ResolveOptions{PruneLosingBranch: true, MergedDeleted: !remote.Deleted}
		return w.written(w.coll.ResolveConflictWith(ctx, w.docID, remote.RevID, local.RevID, opts))
	}
	if local.Deleted {
		// The store's current revision is the live remote one: write on top of it.
		opts := store.SaveOptions{ParentRevID: remote.RevID, Concurrency: store.FailOnConflict}
		return w.written(w.coll.Save(ctx, w.docID, body, opts))
	}
	// A live outcome is the only live leaf left, hence the current revision whatever
	// tombstones the tree holds: the losing branch is closed with a tombstone rather
	// than removed. That keeps the revisions the other mechanisms rely on (a closed
	// branch tells a later conflict event that its pulled revision already lost, see
	// conflictLeaves; a pulled revision coming back finds itself already known instead
	// of making a new conflict) and changes nothing for live documents.
	return w.written(w.coll.ResolveConflict(ctx, w.docID, remote.RevID, local.RevID, body, false))
}

// outcomeOf is the body of the resolution, or deleted when it is a deletion. UseRemote
// reaches it only for a remote tombstone.
func outcomeOf(docID string, c Conflict, res Resolution) (body []byte, deleted bool, err error) {
	switch res.Kind {
	case UseRemote:
		return nil, true, nil
	case UseLocal:
		if c.Local == nil {
			return nil, true, nil
		}
		return c.Local.Body, false, nil
	case UseMerged:
		if res.Body == nil {
			return nil, false, fmt.Errorf("%w: document %q: merged resolution without a body", ErrResolverFailed, docID)
		}
		return res.Body, false, nil
	case UseDeletion:
		return nil, true, nil
	}
	return nil, false, fmt.Errorf("%w: document %q: unknown resolution %d", ErrResolverFailed, docID, res.Kind)
}

func callResolver(ctx context.Context, fn ConflictResolver, c Conflict) (res Resolution, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	return fn(ctx, c)
}

// conflictLeaves finds the two leaves to resolve for a conflict event. Revisions may have
// moved on since the event: the remote leaf is the leaf at or above the pulled revision,
// the local leaf the other live leaf (or the local tombstone the pulled revision
// conflicted with). Both nil means there is nothing left to resolve. carry reports a
// remote leaf that is a tombstone made after the latest revision known to be on the
// remote (remoteRev), with a live local leaf: the live leaf is the outcome, to be
// carried onto the remote's branch rather than decided by the resolver.
func (r *Replicator) conflictLeaves(ctx context.Context, coll *store.Collection, ev syncproto.ConflictEvent, revs []store.Revision, remoteRev remoteRevFunc) (local, remote *store.Revision, carry bool, err error) {
	var leaves []*store.Revision
	for i := range revs {
		if revs[i].Leaf {
			leaves = append(leaves, &revs[i])
		}
	}
	if remote, err = remoteLeaf(ctx, coll, ev, leaves); remote == nil || err != nil {
		return nil, nil, false, err
	}
	if remote.Deleted && remote.RevID != ev.RemoteRevID {
		// The pulled revision's branch has since been closed with a tombstone (another
		// peer resolved this conflict and its resolution arrived first, or a resolution
		// here closed it, or the application deleted the pulled revision while it was
		// the current one): the live leaf is already the outcome. A deletion wins only
		// when it is what was pulled. But if the remote does not have that tombstone
		// (it was made after the latest revision known to be on the remote), nothing
		// would ever bring the outcome to the remote: the live leaf does not descend
		// from the remote's revision, so the pusher cannot send it. It is then carried
		// onto the remote's branch.
		if carry, err = tombstoneAheadOfRemote(ctx, coll, ev.DocID, remote, remoteRev); !carry || err != nil {
			return nil, nil, false, err
		}
	}
	if local, err = localLeaf(ctx, coll, ev, leaves, remote); err != nil {
		return nil, nil, false, err
	}
	if local != nil && local.Deleted && remote.Deleted {
		return nil, nil, false, nil
	}
	if carry && (local == nil || local.Deleted) {
		return nil, nil, false, nil
	}
	return local, remote, carry, nil
}

// descends reports whether leaf is ancestor or a descendant of it.
func descends(ctx context.Context, coll *store.Collection, docID string, leaf store.Revision, ancestor string) (bool, error) {
	if leaf.RevID == ancestor {
		return true, nil
	}
	if generation(leaf.RevID) <= generation(ancestor) {
		return false, nil
	}
	hist, err := coll.History(ctx, docID, leaf.RevID, 0)
	if err != nil {
		return false, fmt.Errorf("resolve conflict of %q: %w", docID, err)
	}
	for _, h := range hist {
		if h == ancestor {
			return true, nil
		}
	}
	return false, nil
}

// remoteLeaf is the leaf at or above the pulled revision, a live one if there is one; nil
// when the pulled revision is no longer below any leaf.
func remoteLeaf(ctx context.Context, coll *store.Collection, ev syncproto.ConflictEvent, leaves []*store.Revision) (*store.Revision, error) {
	var remote *store.Revision
	for _, l := range leaves {
		ok, err := descends(ctx, coll, ev.DocID, *l, ev.RemoteRevID)
		if err != nil {
			return nil, err
		}
		if ok && (remote == nil || (!l.Deleted && remote.Deleted)) {
			remote = l
		}
	}
	return remote, nil
}

// tombstoneAheadOfRemote reports that the tombstone closing the pulled revision's branch
// was made after the latest revision known to be on the remote (remoteRev), so that the
// remote does not have it.
func tombstoneAheadOfRemote(ctx context.Context, coll *store.Collection, docID string, tomb *store.Revision, remoteRev remoteRevFunc) (bool, error) {
	if remoteRev == nil {
		return false, nil
	}
	anc, err := remoteRev(ctx, coll, docID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return false, fmt.Errorf("resolve conflict of %q: %w", docID, err)
	}
	if anc == "" || anc == tomb.RevID {
		return false, nil
	}
	return descends(ctx, coll, docID, *tomb, anc)
}

// localLeaf is the local side: the event's local revision if still a leaf, else a live
// leaf that descends from it, else any other live leaf (nil if there is none).
func localLeaf(ctx context.Context, coll *store.Collection, ev syncproto.ConflictEvent, leaves []*store.Revision, remote *store.Revision) (*store.Revision, error) {
	var local *store.Revision
	for _, l := range leaves {
		if l != remote && l.RevID == ev.LocalRevID {
			local = l
		}
	}
	if local != nil {
		return local, nil
	}
	for _, l := range leaves {
		if l == remote || l.Deleted {
			continue
		}
		ok, err := descends(ctx, coll, ev.DocID, *l, ev.LocalRevID)
		if err != nil {
			return nil, err
		}
		if ok || local == nil {
			local = l
		}
	}
	return local, nil
}
