package replicator

import (
	"sync"

	"github.com/p2psync/libp2psync/engine/internal/owner"
)

// dispatcher delivers status and document events to listeners on one goroutine, in
// order, never while a replicator lock is held. Consecutive document events of the same
// direction are delivered as one batch.
type dispatcher struct {
	r      *Replicator
	mu     sync.Mutex
	cond   *sync.Cond
	queue  []event
	closed bool
	done   chan struct{}
	thread owner.Thread // the delivering goroutine's OS thread, to recognise calls from listeners
}

type event struct {
	status *Status
	dir    Direction
	doc    ReplicatedDocument
}

func newDispatcher(r *Replicator) *dispatcher {
	d := &dispatcher{r: r, done: make(chan struct{})}
	d.cond = sync.NewCond(&d.mu)
	go d.run()
	return d
}

func (d *dispatcher) post(e event) {
	d.mu.Lock()
	if !d.closed {
		d.queue = append(d.queue, e)
		d.cond.Signal()
	}
	d.mu.Unlock()
}

// onDispatcher reports whether the caller is the delivering goroutine (a listener).
func (d *dispatcher) onDispatcher() bool {
	return d != nil && d.thread.Current()
}

// close delivers what is queued, then stops the goroutine and waits for it.
func (d *dispatcher) close() {
	d.mu.Lock()
	d.closed = true
	d.cond.Signal()
	d.mu.Unlock()
	<-d.done
}

func (d *dispatcher) run() {
	defer close(d.done)
	for {
		d.mu.Lock()
		for len(d.queue) == 0 && !d.closed {
			d.cond.Wait()
		}
		if len(d.queue) == 0 && d.closed {
			d.mu.Unlock()
			return
		}
		batch := d.queue
		d.queue = nil
		d.mu.Unlock()
		d.deliver(batch)
	}
}

// deliver calls the listeners for a batch of events. The goroutine is locked to its
// thread (see onDispatcher) only meanwhile: a goroutine waiting while locked to a thread
// is woken by a switch to that very thread, which a busy machine can delay.
func (d *dispatcher) deliver(batch []event) {
	d.thread.Own()
	defer d.thread.Release()
	for i := 0; i < len(batch); {
		e := batch[i]
		if e.status != nil {
			d.r.callStatus(*e.status)
			i++
			continue
		}
		j := i
		var docs []ReplicatedDocument
		for j < len(batch) && batch[j].status == nil && batch[j].dir == e.dir {
			docs = append(docs, batch[j].doc)
			j++
		}
		d.r.callDocs(DocumentReplication{Direction: e.dir, Documents: docs})
		i = j
	}
}
