package replicator

import (
	"bytes"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
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
	goid   atomic.Uint64 // the delivering goroutine's ID
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
	return d != nil && d.goid.Load() == goroutineID()
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
	d.goid.Store(goroutineID())
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
}

// goroutineID returns the current goroutine's ID, parsed from the first line of its
// stack trace ("goroutine 123 [running]:"). It only serves to spot a Stop made from a
// listener (which would wait for itself), never on the hot path.
func goroutineID() uint64 {
	var buf [64]byte
	n := runtime.Stack(buf[:], false)
	line := bytes.TrimPrefix(buf[:n], []byte("goroutine "))
	if i := bytes.IndexByte(line, ' '); i > 0 {
		if id, err := strconv.ParseUint(string(line[:i]), 10, 64); err == nil {
			return id
		}
	}
	return 0
}
