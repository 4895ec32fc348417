package store

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"strconv"
	"sync"
)

// Batch is one write transaction: everything saved through it is committed
// together or not at all. Only one batch exists at a time per Database;
// other writers wait for it to end, readers never do. A Batch may be used
// from several goroutines but its operations run one at a time.
//
// Do not call the Collection/Database write methods on the goroutine that
// holds an open Batch: they would wait for the batch forever, so they
// return ErrBusy instead. Use the Batch's own methods.
type Batch struct {
	db   *Database
	ctx  context.Context
	user bool   // opened by BeginBatch/InBatch (Close refuses while open)
	goid uint64 // owner goroutine of a user batch

	mu         sync.Mutex
	done       bool
	err        error // first SQL failure; the batch can then only roll back
	dirty      []dirtyColl
	changes    []pendingChange
	onCommit   []func()
	onRollback []func()
	treeBuf    []byte
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
		b.goid = goroutineID()
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
	if ub != nil && ub.goid == goroutineID() {
		return fmt.Errorf("%w: this goroutine holds an open batch; use the batch's methods", ErrBusy)
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

// goroutineID returns the current goroutine's ID, parsed from the first line
// of its stack trace ("goroutine 123 [running]:"). It is only used to spot
// calls that would wait on themselves (Remove from inside a callback, a
// write on the goroutine holding the batch), never on the hot path.
func goroutineID() uint64 {
	var buf [64]byte
	n := runtime.Stack(buf[:], false)
	line := bytes.TrimPrefix(buf[:n], []byte("goroutine "))
	if i := bytes.IndexByte(line, ' '); i > 0 {
		id, err := strconv.ParseUint(string(line[:i]), 10, 64)
		if err == nil {
			return id
		}
	}
	return 0
}
