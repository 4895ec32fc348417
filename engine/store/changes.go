package store

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/p2psync/libp2psync/engine/internal/owner"
)

// Change describes one committed change of a document.
type Change struct {
	Sequence uint64 // 0 for a purge
	DocID    string
	RevID    string // current revision after the change ("" for a purge)
	Deleted  bool   // the current revision is a tombstone
	BodySize int    // bytes of the current revision's body
	Purged   bool   // the document was purged (explicitly or by expiry); only seen by listeners
	// Doc, in a listener's notification only, is the revision this change committed as a
	// read at Sequence returns it (ID, RevID, Sequence, Deleted, Body, Version, Timestamp,
	// Vector; Expiration is left zero), so that a listener sending it on need not read it
	// back. It is set for local saves and deletions (Save, Delete) of at most
	// NotifiedBodyMax bytes while the collection has a change listener, and nil otherwise:
	// the listener then reads the document. Shared by every listener: read-only.
	// ChangesSinceWithDocs sets it too, for the bodies it was asked to read.
	Doc *Document
}

// NotifiedBodyMax is the largest body a change notification carries (Change.Doc).
const NotifiedBodyMax = 16 << 10

// CollectionChange is what a collection listener receives: the changes one
// committed write made to that collection, in order.
type CollectionChange struct {
	Collection *Collection
	Changes    []Change
}

// ChangesSince returns one row per document whose latest sequence is
// greater than since, ascending by sequence; limit <= 0 means no limit.
// Purged documents do not appear.
func (c *Collection) ChangesSince(ctx context.Context, since uint64, limit int) ([]Change, error) {
	return c.changesQuery(ctx, since, limit, -1, func(rows *sql.Rows) (Change, error) {
		var ch Change
		var seq int64
		err := rows.Scan(&seq, &ch.DocID, &ch.RevID, &ch.Deleted, &ch.BodySize)
		ch.Sequence = uint64(seq)
		return ch, err
	})
}

// ChangesSinceWithDocs is ChangesSince that also reads, in the same statement, each
// listed document whose body is at most maxBody bytes: such a change's Doc is the
// document as GetWithDeleted would have returned it in that snapshot (the row is the
// document's current state, at Sequence). A change with a larger body has a nil Doc. It
// spares a sender that sends what it lists (a pusher) a second read of each document.
func (c *Collection) ChangesSinceWithDocs(ctx context.Context, since uint64, limit, maxBody int) ([]Change, error) {
	return c.changesQuery(ctx, since, limit, max(maxBody, 0), func(rows *sql.Rows) (Change, error) {
		var (
			ch        Change
			seq       int64
			exp       sql.NullInt64
			body      []byte
			vv, vvRev sql.NullString
		)
		if err := rows.Scan(&seq, &ch.DocID, &ch.RevID, &ch.Deleted, &ch.BodySize, &exp, &body, &vv, &vvRev); err != nil {
			return ch, err
		}
		ch.Sequence = uint64(seq)
		if body != nil || ch.BodySize == 0 {
			d := &Document{ID: ch.DocID, RevID: ch.RevID, Deleted: ch.Deleted, Sequence: ch.Sequence, Expiration: expirationTime(exp), Body: body}
			d.setVector(scanVector(vv, vvRev, d.RevID))
			ch.Doc = d
		}
		return ch, nil
	})
}

// changesQuery runs the changes statement (maxBody < 0) or the one with documents
// (bodies up to maxBody bytes) and scans each row with scan.
func (c *Collection) changesQuery(ctx context.Context, since uint64, limit, maxBody int, scan func(*sql.Rows) (Change, error)) ([]Change, error) {
	if err := c.usable(); err != nil {
		return nil, fmt.Errorf("changes of %s: %w", c.FullName(), err)
	}
	defer c.db.leave()
	if limit <= 0 {
		limit = -1
	}
	r, err := c.readers(ctx)
	if err != nil {
		return nil, fmt.Errorf("changes of %s: %w", c.FullName(), err)
	}
	var rows *sql.Rows
	if maxBody < 0 {
		rows, err = r.changes.QueryContext(ctx, int64(since), limit)
	} else {
		rows, err = r.changesDocs.QueryContext(ctx, int64(since), limit, maxBody)
	}
	if err != nil {
		return nil, fmt.Errorf("changes of %s: %w", c.FullName(), classify(err))
	}
	defer rows.Close()
	var out []Change
	for rows.Next() {
		ch, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("changes of %s: %w", c.FullName(), classify(err))
		}
		out = append(out, ch)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("changes of %s: %w", c.FullName(), classify(err))
	}
	return out, nil
}

// ListenerToken identifies a registered listener.
type ListenerToken struct {
	n       *notifier
	coll    *Collection
	docID   string // "" for a collection listener
	collFn  func(CollectionChange)
	docFn   func(Change)
	removed bool   // guarded by n.mu
	after   uint64 // commits numbered up to this one were published before registration
}

// Remove unregisters the listener. It waits for a call in progress to
// return, unless it is called from inside a listener callback (then it
// returns at once; the listener is not called again). Idempotent.
func (t *ListenerToken) Remove() {
	if t == nil || t.n == nil {
		return
	}
	n := t.n
	onNotifier := n.thread.Current()
	n.mu.Lock()
	defer n.mu.Unlock()
	if !t.removed {
		t.removed = true
		n.unregister(t)
	}
	if onNotifier {
		return
	}
	for n.running == t {
		n.cond.Wait()
	}
}

// AddChangeListener calls fn after every committed write that changed the
// collection, on the notifier goroutine, serially and in commit order.
func (c *Collection) AddChangeListener(fn func(CollectionChange)) *ListenerToken {
	t := &ListenerToken{n: c.db.notify, coll: c, collFn: fn}
	c.db.notify.register(t)
	return t
}

// AddDocumentChangeListener calls fn for every committed change of document
// docID, on the notifier goroutine, serially and in commit order.
func (c *Collection) AddDocumentChangeListener(docID string, fn func(Change)) *ListenerToken {
	t := &ListenerToken{n: c.db.notify, coll: c, docID: docID, docFn: fn}
	c.db.notify.register(t)
	return t
}

// published is one commit's changes, numbered in commit order.
type published struct {
	n       uint64
	changes []pendingChange
}

// notifier delivers change notifications on its own goroutine so that no
// callback ever runs on a writer's goroutine or under a lock. Commits append
// to an unbounded queue (a writer never waits for a slow listener).
type notifier struct {
	log    *slog.Logger
	thread owner.Thread // the run goroutine's OS thread, to recognise calls from its callbacks
	done   chan struct{}

	mu       sync.Mutex
	cond     *sync.Cond // queue grew, closing set, or running changed
	queue    []published
	numbered uint64 // number of the last published commit
	// carried is the bytes of bodies the queued commits carry (Change.Doc); new ones are
	// attached only while it is under notifiedQueueMax, so a slow listener does not make
	// the queue hold copies of every body written meanwhile.
	carried int
	// delivered is the number of the last commit whose listener calls have all returned;
	// waiters are released when it reaches their commit (see waitDelivered).
	delivered uint64
	waiters   []deliveryWaiter
	closing   bool
	running   *ListenerToken
	collSubs  map[*Collection][]*ListenerToken
	docSubs   map[*Collection]map[string][]*ListenerToken
	// anyCollSubs is len(collSubs) > 0, kept under mu and read without it: a save checks
	// it before taking mu (mayCarry), which most saves (no listener) then skip.
	anyCollSubs atomic.Bool
}

func newNotifier(log *slog.Logger) *notifier {
	n := &notifier{
		log:      log,
		done:     make(chan struct{}),
		collSubs: make(map[*Collection][]*ListenerToken),
		docSubs:  make(map[*Collection]map[string][]*ListenerToken),
	}
	n.cond = sync.NewCond(&n.mu)
	return n
}

// notifiedQueueMax bounds the bodies the queued commits carry (notifier.carried).
const notifiedQueueMax = 1 << 20

// mayCarry reports whether a change of c may carry a body of n bytes more than the
// commit being written already does (pending): c has a collection change listener and
// the queue's bodies stay within notifiedQueueMax.
func (n *notifier) mayCarry(c *Collection, pending, size int) bool {
	if !n.anyCollSubs.Load() {
		return false // a listener added meanwhile hears of this commit without bodies
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.collSubs[c]) > 0 && n.carried+pending+size <= notifiedQueueMax
}

// carriedBytes returns the bytes of bodies changes carry (Change.Doc).
func carriedBytes(changes []pendingChange) int {
	size := 0
	for i := range changes {
		if d := changes[i].ch.Doc; d != nil {
			size += len(d.Body)
		}
	}
	return size
}

func (n *notifier) register(t *ListenerToken) {
	n.mu.Lock()
	defer n.mu.Unlock()
	t.after = n.numbered // a listener only hears of commits after it was added
	if t.docID == "" {
		n.collSubs[t.coll] = append(n.collSubs[t.coll], t)
		n.anyCollSubs.Store(true)
		return
	}
	m := n.docSubs[t.coll]
	if m == nil {
		m = make(map[string][]*ListenerToken)
		n.docSubs[t.coll] = m
	}
	m[t.docID] = append(m[t.docID], t)
}

// unregister removes t from the subscription lists; n.mu is held.
func (n *notifier) unregister(t *ListenerToken) {
	without := func(list []*ListenerToken) []*ListenerToken {
		out := list[:0:0]
		for _, x := range list {
			if x != t {
				out = append(out, x)
			}
		}
		return out
	}
	if t.docID == "" {
		n.collSubs[t.coll] = without(n.collSubs[t.coll])
		if len(n.collSubs[t.coll]) == 0 {
			delete(n.collSubs, t.coll)
		}
		n.anyCollSubs.Store(len(n.collSubs) > 0)
		return
	}
	if m := n.docSubs[t.coll]; m != nil {
		m[t.docID] = without(m[t.docID])
		if len(m[t.docID]) == 0 {
			delete(m, t.docID)
		}
		if len(m) == 0 {
			delete(n.docSubs, t.coll)
		}
	}
}

// publish queues the changes of one commit. Called by the writer after
// COMMIT while it still holds the writer, so the queue is in commit order.
func (n *notifier) publish(changes []pendingChange) {
	n.mu.Lock()
	n.numbered++
	n.carried += carriedBytes(changes)
	n.queue = append(n.queue, published{n: n.numbered, changes: changes})
	n.mu.Unlock()
	n.cond.Broadcast()
}

// close makes run deliver what is queued and exit, and waits for that
// unless called from a callback (which runs on the notifier goroutine).
func (n *notifier) close() {
	n.mu.Lock()
	n.closing = true
	n.mu.Unlock()
	n.cond.Broadcast()
	if !n.thread.Current() {
		<-n.done
	}
}

func (n *notifier) run() {
	defer close(n.done)
	for {
		n.mu.Lock()
		for len(n.queue) == 0 && !n.closing {
			n.cond.Wait()
		}
		if len(n.queue) == 0 {
			n.mu.Unlock()
			return
		}
		batch := n.queue[0]
		n.queue[0] = published{}
		n.queue = n.queue[1:]
		n.carried -= carriedBytes(batch.changes)
		n.mu.Unlock()
		n.deliver(batch)
		n.mu.Lock()
		n.delivered = batch.n
		kept := n.waiters[:0]
		for _, w := range n.waiters {
			if w.commit <= n.delivered {
				close(w.ch)
			} else {
				kept = append(kept, w)
			}
		}
		n.waiters = kept
		n.mu.Unlock()
	}
}

// deliveryWaiter is released when commit has been delivered.
type deliveryWaiter struct {
	commit uint64
	ch     chan struct{}
}

// waitDelivered waits until every listener call for the commits published so far has
// returned, ctx ends or the notifier stops. On the notifier goroutine it returns at once:
// the caller is itself one of those calls.
func (n *notifier) waitDelivered(ctx context.Context) error {
	if n.thread.Current() {
		return nil
	}
	n.mu.Lock()
	if n.delivered >= n.numbered {
		n.mu.Unlock()
		return nil
	}
	w := deliveryWaiter{commit: n.numbered, ch: make(chan struct{})}
	n.waiters = append(n.waiters, w)
	n.mu.Unlock()
	select {
	case <-w.ch:
		return nil
	case <-n.done:
		return nil // closed: Close delivered everything that was committed
	case <-ctx.Done():
		return ctx.Err()
	}
}

// WaitChangesDelivered returns once every change-listener call for the commits made
// before it was called has returned, or ctx ends (ctx's error), or the database was
// closed (Close delivers what was committed). Called from inside a change listener it
// returns at once, as it would otherwise wait for itself.
func (db *Database) WaitChangesDelivered(ctx context.Context) error {
	return db.notify.waitDelivered(ctx)
}

// InChangeListener reports whether the calling goroutine is running one of db's change
// listeners (and so must not wait for change notifications of db to be delivered).
func (db *Database) InChangeListener() bool {
	return db.notify.thread.Current()
}

// deliver calls the listeners for one commit: per collection, first the
// collection listeners with all its changes, then document listeners.
func (n *notifier) deliver(batch published) {
	n.mu.Lock()
	none := len(n.collSubs) == 0 && len(n.docSubs) == 0
	n.mu.Unlock()
	if none {
		return // nobody listens (a listener added later does not see earlier commits)
	}
	// The goroutine is locked to its thread only while it calls listeners (which is when
	// Current must recognise it), not while it waits for the next commit: waking a
	// goroutine locked to a thread takes a switch to that very thread, which a loaded
	// machine can delay by milliseconds (W3's p99), where any thread runs an unlocked one.
	n.thread.Own()
	defer n.thread.Release()
	var order []*Collection
	byColl := make(map[*Collection][]Change)
	for _, p := range batch.changes {
		if _, ok := byColl[p.c]; !ok {
			order = append(order, p.c)
		}
		byColl[p.c] = append(byColl[p.c], p.ch)
	}
	for _, c := range order {
		changes := byColl[c]
		n.mu.Lock()
		subs := append([]*ListenerToken(nil), n.collSubs[c]...)
		docSubs := n.docSubs[c]
		var docCalls []func()
		for _, ch := range changes {
			for _, t := range docSubs[ch.DocID] {
				t, ch := t, ch
				docCalls = append(docCalls, func() { n.call(t, batch.n, func() { t.docFn(ch) }) })
			}
		}
		n.mu.Unlock()
		event := CollectionChange{Collection: c, Changes: changes}
		for _, t := range subs {
			n.call(t, batch.n, func() { t.collFn(event) })
		}
		for _, f := range docCalls {
			f()
		}
	}
}

// call runs one callback unless its token was removed (or registered after
// the commit was published), marking it running
// so Remove can wait for it. A panicking listener is logged, not fatal.
func (n *notifier) call(t *ListenerToken, commit uint64, fn func()) {
	n.mu.Lock()
	if t.removed || commit <= t.after {
		n.mu.Unlock()
		return
	}
	n.running = t
	n.mu.Unlock()
	defer func() {
		if r := recover(); r != nil {
			n.log.Error("store: change listener panicked", "panic", r)
		}
		n.mu.Lock()
		n.running = nil
		n.mu.Unlock()
		n.cond.Broadcast()
	}()
	fn()
}
