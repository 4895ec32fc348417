package query

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/p2psync/libp2psync/engine/store"
)

// LiveQuery re-runs a SELECT when its collection changes and reports the new
// result set to its listener (see Query.Watch).
type LiveQuery struct {
	q      *Query
	params []byte
	fn     func(rows [][]byte, err error)

	signal chan struct{} // one slot: a commit happened since the last run
	stopc  chan struct{}
	done   chan struct{}
	once   sync.Once
	unwat  func()

	last    [][]byte
	hasLast bool
}

// Watch runs the query now and again after every committed change (local or
// replicated) of the collection it reads, and calls fn with the rows (each a
// JSON object) when they differ from those fn saw last, or with an error when
// a run fails. The first call has the current rows. Calls are serial, on a
// goroutine of the live query (never a writer's or the store's notifier),
// and coalesced: several commits while a run is in progress cause one more
// run, so fn is called at most once per commit, and not at all when the
// result set did not change. params are bound as for Execute; a query that
// is not a SELECT, or bad params, is ErrInvalidQuery.
func (q *Query) Watch(ctx context.Context, params []byte, fn func(rows [][]byte, err error)) (*LiveQuery, error) {
	if q.index != nil || q.explain {
		return nil, fmt.Errorf("%w: only a SELECT can be watched", ErrInvalidQuery)
	}
	if fn == nil {
		return nil, fmt.Errorf("%w: no listener", ErrInvalidQuery)
	}
	if _, err := q.bindJSON(params); err != nil {
		return nil, err
	}
	lq := &LiveQuery{
		q: q, params: append([]byte(nil), params...), fn: fn,
		signal: make(chan struct{}, 1), stopc: make(chan struct{}), done: make(chan struct{}),
	}
	stop, err := q.src.Watch(ctx, q.scope, q.coll, lq.changed)
	if err != nil {
		return nil, err
	}
	lq.unwat = stop
	lq.changed() // the first run
	go lq.loop()
	return lq, nil
}

// changed is called after each commit of the collection: it asks for a run.
func (lq *LiveQuery) changed() {
	select {
	case lq.signal <- struct{}{}:
	default: // a run is already pending: it will see this commit too
	}
}

func (lq *LiveQuery) loop() {
	defer close(lq.done)
	for {
		select {
		case <-lq.stopc:
			return
		case <-lq.signal:
		}
		rows, err := lq.runWithRetry()
		select {
		case <-lq.stopc:
			return
		default:
		}
		if err != nil {
			lq.hasLast = false
			lq.fn(nil, err)
			continue
		}
		if lq.hasLast && sameRows(lq.last, rows) {
			continue
		}
		lq.last, lq.hasLast = rows, true
		lq.fn(rows, nil)
	}
}

// liveRetries bounds the waits for a reader when all are held by open
// results (store.ErrBusy): about two seconds in all.
const liveRetries = 100

func (lq *LiveQuery) runWithRetry() ([][]byte, error) {
	for i := 0; ; i++ {
		rows, err := lq.run()
		if err == nil || !errors.Is(err, store.ErrBusy) || i == liveRetries {
			return rows, err
		}
		select {
		case <-lq.stopc:
			return nil, err
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (lq *LiveQuery) run() ([][]byte, error) {
	rs, err := lq.q.Execute(context.Background(), lq.params)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	var rows [][]byte
	for rs.Next() {
		rows = append(rows, append([]byte(nil), rs.Row()...))
	}
	return rows, rs.Err()
}

func sameRows(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

// Stop ends the live query: no call of the listener starts after Stop
// returns. It does not wait for a call in progress (so the listener may call
// it); Done tells when the last call has returned. Idempotent.
func (lq *LiveQuery) Stop() {
	lq.once.Do(func() {
		close(lq.stopc)
		lq.unwat()
	})
}

// Done is closed when the live query's goroutine has ended after Stop: no
// listener call is in progress or will start.
func (lq *LiveQuery) Done() <-chan struct{} { return lq.done }
