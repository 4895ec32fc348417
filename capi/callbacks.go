package main

/*
#include <stdint.h>
#include <stdlib.h>
#include "p2psync.h"

// Go cannot call a C function pointer; this trampoline does. The pointer and the
// user data travel as integers so that Go's garbage collector never sees them.
static inline void p2p_call_change_fn(uintptr_t fn, p2p_subscription token, const char *json, uintptr_t user_data) {
	((p2p_change_fn)fn)(token, json, (void *)user_data);
}
*/
import "C"

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"
	"unsafe"

	"github.com/p2psync/libp2psync/engine/store"
)

// subObj is a registered change listener or change queue. The (fn, user_data) pair
// lives here, in capi, never in engine objects.
type subObj struct {
	node
	handle   uint64
	fn       C.uintptr_t // NULL for a queue
	userData C.uintptr_t
	queue    *eventQueue // nil for a callback listener
	token    *store.ListenerToken
}

// eventJSON is the one JSON shape of a change event (see the header).
type eventJSON struct {
	Event      string       `json:"event"`
	Collection string       `json:"collection"`
	Changes    []changeJSON `json:"changes,omitempty"`
	Dropped    int          `json:"dropped,omitempty"`
}

func encodeEvent(ev eventJSON) string {
	b, err := json.Marshal(ev)
	if err != nil { // cannot happen for these field types
		panic(fmt.Sprintf("encode change event: %v", err))
	}
	return string(b)
}

// deliver hands one event to the subscriber: a call into C, or a queue push.
// It runs on the store's notifier goroutine with no lock held.
func (s *subObj) deliver(collection string, changes []store.Change) {
	ev := encodeEvent(eventJSON{Event: "change", Collection: collection, Changes: changesJSON(changes)})
	if s.queue != nil {
		s.queue.push(ev, collection)
		return
	}
	text := C.CString(ev)
	defer C.free(unsafe.Pointer(text))
	C.p2p_call_change_fn(s.fn, C.p2p_subscription(s.handle), text, s.userData)
}

// needQueue refuses to pop events from a callback listener.
func (s *subObj) needQueue() error {
	if s.queue == nil {
		return fmt.Errorf("%w: subscription %#x is a callback listener, not a change queue", errInvalidArgument, s.handle)
	}
	return nil
}

// subscribe registers s under coll, then attaches it to the engine with attach.
func subscribe(coll C.p2p_collection, s *subObj, out *C.p2p_subscription, attach func(*store.Collection) *store.ListenerToken) error {
	c, err := colls.lookup(uint64(coll))
	err = then1(err, func() error { return needOut(out != nil, "out_token") })
	if err != nil {
		return err
	}
	s.node.parent = &c.node
	if s.handle, err = subs.add(s); err != nil {
		return err
	}
	s.token = attach(c.coll) // the handle is set before the first event can arrive
	*out = C.p2p_subscription(s.handle)
	return nil
}

//export p2pgo_collection_add_change_listener
func p2pgo_collection_add_change_listener(coll C.p2p_collection, fn C.p2p_change_fn, userData unsafe.Pointer, out *C.p2p_subscription, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	s := &subObj{fn: C.uintptr_t(uintptr(unsafe.Pointer(fn))), userData: C.uintptr_t(uintptr(userData))}
	err := then1(needOut(fn != nil, "fn"), func() error {
		return subscribe(coll, s, out, func(c *store.Collection) *store.ListenerToken {
			return c.AddChangeListener(func(ch store.CollectionChange) { s.deliver(c.FullName(), ch.Changes) })
		})
	})
	if err != nil {
		return fail(cerr, err)
	}
	return C.P2P_OK
}

//export p2pgo_collection_add_document_change_listener
func p2pgo_collection_add_document_change_listener(coll C.p2p_collection, id *C.char, fn C.p2p_change_fn, userData unsafe.Pointer, out *C.p2p_subscription, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	s := &subObj{fn: C.uintptr_t(uintptr(unsafe.Pointer(fn))), userData: C.uintptr_t(uintptr(userData))}
	docID, err := then(needOut(fn != nil, "fn"), func() (string, error) { return goText(id, "doc_id") })
	err = then1(err, func() error {
		return subscribe(coll, s, out, func(c *store.Collection) *store.ListenerToken {
			return c.AddDocumentChangeListener(docID, func(ch store.Change) { s.deliver(c.FullName(), []store.Change{ch}) })
		})
	})
	if err != nil {
		return fail(cerr, err)
	}
	return C.P2P_OK
}

//export p2pgo_collection_add_change_queue
func p2pgo_collection_add_change_queue(coll C.p2p_collection, capacity C.uint32_t, out *C.p2p_subscription, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	s := &subObj{queue: newEventQueue(int(capacity))}
	err := subscribe(coll, s, out, func(c *store.Collection) *store.ListenerToken {
		return c.AddChangeListener(func(ch store.CollectionChange) { s.deliver(c.FullName(), ch.Changes) })
	})
	if err != nil {
		return fail(cerr, err)
	}
	return C.P2P_OK
}

//export p2pgo_subscription_next_event
func p2pgo_subscription_next_event(token C.p2p_subscription, timeoutMS C.uint32_t, out **C.char, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	s, err := subs.lookup(uint64(token))
	err = then1(err, func() error { return needOut(out != nil, "out_json") })
	err = then1(err, func() error { return s.needQueue() })
	ev, ok, err := then2(err, func() (string, bool, error) { return s.queue.pop(time.Duration(timeoutMS) * time.Millisecond) })
	if err != nil {
		return fail(cerr, err)
	}
	*out = nil // timeout
	if ok {
		setText(out, ev)
	}
	return C.P2P_OK
}

//export p2pgo_subscription_remove
func p2pgo_subscription_remove(token C.p2p_subscription, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	s, found, err := subs.remove(uint64(token))
	if err != nil {
		return fail(cerr, err)
	}
	if found {
		s.token.Remove() // waits for calls in flight, unless called from inside one
		if s.queue != nil {
			s.queue.close()
		}
	}
	return C.P2P_OK
}

// defaultQueueCapacity is used when the caller passes 0.
const defaultQueueCapacity = 1024

// eventQueue is the bounded queue behind p2p_collection_add_change_queue. When full,
// further events are counted in one overflow marker placed where the gap is.
type eventQueue struct {
	mu       sync.Mutex
	items    []queued
	capacity int
	closed   bool
	ready    chan struct{} // one-slot "something changed" signal
	done     chan struct{} // closed by close()
}

type queued struct {
	event      string
	collection string
	dropped    int // > 0 for an overflow marker
}

func newEventQueue(capacity int) *eventQueue {
	if capacity <= 0 {
		capacity = defaultQueueCapacity
	}
	return &eventQueue{capacity: capacity, ready: make(chan struct{}, 1), done: make(chan struct{})}
}

func (q *eventQueue) push(event, collection string) {
	q.mu.Lock()
	n := len(q.items)
	switch {
	case n < q.capacity:
		q.items = append(q.items, queued{event: event})
	case q.items[n-1].dropped > 0:
		q.items[n-1].dropped++
	default:
		q.items = append(q.items, queued{collection: collection, dropped: 1})
	}
	q.mu.Unlock()
	q.signal()
}

func (q *eventQueue) signal() {
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

// pop returns the next event, waiting up to timeout; ok is false on timeout.
func (q *eventQueue) pop(timeout time.Duration) (event string, ok bool, err error) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		q.mu.Lock()
		if q.closed {
			q.mu.Unlock()
			return "", false, fmt.Errorf("%w: the change queue was removed", context.Canceled)
		}
		if len(q.items) > 0 {
			it := q.items[0]
			q.items = q.items[1:]
			more := len(q.items) > 0
			q.mu.Unlock()
			if more {
				q.signal() // another waiter may be sleeping
			}
			if it.dropped > 0 {
				return encodeEvent(eventJSON{Event: "overflow", Collection: it.collection, Dropped: it.dropped}), true, nil
			}
			return it.event, true, nil
		}
		q.mu.Unlock()
		select {
		case <-q.ready:
		case <-q.done:
		case <-timer.C:
			return "", false, nil
		}
	}
}

func (q *eventQueue) close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.closed {
		q.closed = true
		close(q.done)
	}
}
