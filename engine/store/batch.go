package store

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
)

// Batch is one write transaction: everything saved through it is committed
// together or not at all. Only one batch exists at a time per Database;
// other writers wait for it to end, readers never do. A Batch may be used
// from several goroutines but its operations run one at a time.
//
// While a Batch is open, the Collection/Database write methods wait for it to
// end; called by the batch's own holder they would wait forever. To have them
// fail with ErrBusy instead, name the holder: begin the batch with a context
// from WithOwner and pass the same owner to the other calls (the C API names
// the calling thread). Inside a batch, use the Batch's own methods.
type Batch struct {
	db    *Database
	ctx   context.Context
	user  bool // opened by BeginBatch/InBatch (Close refuses while open)
	owner any  // OwnerOf the context a user batch was begun with; nil if none

	mu         sync.Mutex
	done       bool
	err        error // first SQL failure; the batch can then only roll back
	dirty      []dirtyColl
	changes    []pendingChange
	notified   int // bytes of bodies the changes carry (Change.Doc)
	onCommit   []func()
	onRollback []func()
	treeBuf    []byte
	manyArgs   []any // insertMany's statement arguments, reused
	// reverse is the BaseDelta of the revision PutExistingRevision or PutExistingVersion
	// is inserting (keptdelta.go), nil otherwise.
	reverse *pendingBase
}

type dirtyColl struct {
	c     *Collection
	seq   uint64 // values before the batch, restored on rollback
	count int64
}

type pendingChange struct {
	c  *Collection
	ch Change
}

// BeginBatch starts a write transaction. It waits (honouring ctx) while
// another batch or write is in progress. The caller must Commit or Rollback.
func (db *Database) BeginBatch(ctx context.Context) (*Batch, error) {
	b, err := db.begin(ctx, true)
	if err != nil {
		return nil, fmt.Errorf("begin batch: %w", err)
	}
	return b, nil
}

// InBatch runs fn inside a batch and commits it if fn returns nil; otherwise
// (or if fn panics) the batch is rolled back and fn's error returned.
func (db *Database) InBatch(ctx context.Context, fn func(b *Batch) error) (err error) {
	b, err := db.BeginBatch(ctx)
	if err != nil {
		return err
	}
	defer func() {
		if r := recover(); r != nil {
			b.Rollback()
			panic(r)
		}
	}()
	if err := fn(b); err != nil {
		b.Rollback()
		return err
	}
	if b.finished() {
		return nil // fn committed or rolled back itself
	}
	return b.Commit()
}

// write runs fn in an internal single-operation transaction.
func (db *Database) write(ctx context.Context, fn func(b *Batch) error) error {
	b, err := db.begin(ctx, false)
	if err != nil {
		return err
	}
	if err := fn(b); err != nil {
		b.Rollback()
		return err
	}
	return b.Commit()
}

func (db *Database) begin(ctx context.Context, user bool) (*Batch, error) {
	if err := db.enter(); err != nil {
		return nil, err
	}
	if err := db.acquireWriter(ctx); err != nil {
		db.leave()
		return nil, err
	}
	b := &Batch{db: db, ctx: ctx, user: user}
	if user {
		b.owner = OwnerOf(ctx)
		db.mu.Lock()
		db.userBatch = b
		db.mu.Unlock()
	}
	if _, err := db.wconn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		// A cancellation can report failure for a BEGIN that took effect: make sure no
		// transaction stays open on the writer connection.
		_, _ = db.wconn.ExecContext(context.Background(), "ROLLBACK")
		b.release()
		return nil, classify(err)
	}
	return b, nil
}

func (db *Database) acquireWriter(ctx context.Context) error {
	select {
	case db.writeSem <- struct{}{}:
		return nil
	default:
	}
	db.mu.Lock()
	ub := db.userBatch
	db.mu.Unlock()
	if owner := OwnerOf(ctx); ub != nil && owner != nil && ub.owner == owner {
		return fmt.Errorf("%w: the caller holds an open batch (owner %v); use the batch's methods", ErrBusy, owner)
	}
	select {
	case db.writeSem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// release ends the batch's hold on the writer.
func (b *Batch) release() {
	b.done = true
	if b.user {
		b.db.mu.Lock()
		b.db.userBatch = nil
		b.db.mu.Unlock()
	}
	<-b.db.writeSem
	b.db.leave()
}

func (b *Batch) finished() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.done
}

// fail records an SQL failure: the transaction may hold part of an
// operation, so the batch can now only be rolled back.
func (b *Batch) fail(err error) error {
	err = classify(err)
	if b.err == nil {
		b.err = err
	}
	return err
}

// start locks the batch for one operation and checks it can still be used.
func (b *Batch) start() error {
	b.mu.Lock()
	if b.done {
		b.mu.Unlock()
		return fmt.Errorf("%w: batch already committed or rolled back", ErrClosed)
	}
	if b.err != nil {
		err := b.err
		b.mu.Unlock()
		return fmt.Errorf("batch failed earlier, roll it back: %w", err)
	}
	return nil
}

func (b *Batch) end() { b.mu.Unlock() }

// touch records c's pre-batch state the first time the batch writes to it.
func (b *Batch) touch(c *Collection) {
	for _, d := range b.dirty {
		if d.c == c {
			return
		}
	}
	b.dirty = append(b.dirty, dirtyColl{c: c, seq: c.seq, count: c.count})
}

// Commit makes the batch's writes durable and visible, then queues the
// change notifications. On failure everything is rolled back.
func (b *Batch) Commit() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.done {
		return fmt.Errorf("commit batch: %w: batch already committed or rolled back", ErrClosed)
	}
	err := b.err
	if err == nil {
		err = b.ctx.Err()
	}
	if err == nil {
		for _, d := range b.dirty {
			if _, e := b.db.wstmts.updColl.ExecContext(b.ctx, d.c.seq, d.c.count, d.c.id); e != nil {
				err = classify(e)
				break
			}
		}
	}
	if err == nil {
		// Not cancellable: a COMMIT interrupted by the context can still take effect while
		// reporting the cancellation, and the rollback below would then restore sequences
		// the database has already moved past. The context was checked just above.
		if _, e := b.db.wconn.ExecContext(context.Background(), "COMMIT"); e != nil {
			err = classify(e)
		}
	}
	if err != nil {
		b.rollbackLocked()
		return fmt.Errorf("commit batch: %w", err)
	}
	b.db.ckpt.committed()
	for _, d := range b.dirty {
		d.c.committedSeq.Store(d.c.seq)
		d.c.committedCount.Store(d.c.count)
	}
	for _, f := range b.onCommit {
		f()
	}
	if len(b.changes) > 0 {
		b.db.notify.publish(b.changes)
	}
	b.release()
	return nil
}

// Rollback discards the batch. It is a no-op after Commit or Rollback.
func (b *Batch) Rollback() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.done {
		return nil
	}
	return b.rollbackLocked()
}

func (b *Batch) rollbackLocked() error {
	for _, d := range b.dirty {
		d.c.seq = d.seq
		d.c.count = d.count
	}
	for _, f := range b.onRollback {
		f()
	}
	_, err := b.db.wconn.ExecContext(context.Background(), "ROLLBACK")
	if err != nil && containsFold(err.Error(), "no transaction is active") {
		err = nil // SQLite already rolled back (e.g. after an I/O error)
	}
	b.release()
	if err != nil {
		return fmt.Errorf("roll back batch: %w", classify(err))
	}
	return nil
}

type ownerKey struct{}

// WithOwner returns ctx marked as coming from owner, a comparable non-nil value that names
// a caller (a thread of the application, a request): a batch begun with such a context
// belongs to owner, and a write through the Collection or Database methods whose context
// names the same owner fails with ErrBusy while that batch is open, instead of waiting for
// it forever. Writes from other owners, or with no owner, wait for the batch as usual.
func WithOwner(ctx context.Context, owner any) context.Context {
	return context.WithValue(ctx, ownerKey{}, owner)
}

// OwnerOf returns the owner WithOwner put in ctx, or nil.
func OwnerOf(ctx context.Context) any {
	if ctx == nil {
		return nil
	}
	return ctx.Value(ownerKey{})
}

// insertedOne reads the outcome of a single-row INSERT … ON CONFLICT DO NOTHING: true if
// the row was written; false with a nil error if the document already existed; a
// statement failure fails the batch. (int64 sequences are passed to such statements:
// database/sql would convert, and box again, a uint64.)
func (b *Batch) insertedOne(res sql.Result, err error) (bool, error) {
	if err != nil {
		return false, b.fail(err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, b.fail(err)
	}
	return n > 0, nil
}
