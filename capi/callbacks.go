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
static inline uint8_t p2p_call_password_auth(uintptr_t fn, const char *user, const char *password, uintptr_t user_data) {
	return ((p2p_password_auth_fn)fn)(user, password, (void *)user_data);
}
static inline uint8_t p2p_call_client_cert_auth(uintptr_t fn, const char *chain_pem, uintptr_t user_data) {
	return ((p2p_client_cert_auth_fn)fn)(chain_pem, (void *)user_data);
}
static inline uint8_t p2p_call_filter(uintptr_t fn, const char *coll, const char *id, const char *rev, uint8_t flags, const char *body, uintptr_t user_data) {
	return ((p2p_replication_filter_fn)fn)(coll, id, rev, flags, body, (void *)user_data);
}
static inline uint8_t p2p_call_resolver(uintptr_t fn, const char *coll, const char *id, const char *local, const char *remote, char **merged, uintptr_t user_data) {
	return ((p2p_conflict_resolver_fn)fn)(coll, id, local, remote, merged, (void *)user_data);
}
*/
import "C"

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"
	"unsafe"

	"github.com/p2psync/libp2psync/engine/listener"
	"github.com/p2psync/libp2psync/engine/replicator"
	"github.com/p2psync/libp2psync/engine/store"
	"github.com/p2psync/libp2psync/engine/tlsid"
)

// subObj is a registered listener callback or event queue, of a collection or of a
// replicator. The (fn, user_data) pair lives here, in capi, never in engine objects.
type subObj struct {
	node
	handle   uint64
	fn       C.uintptr_t // NULL for a queue
	userData C.uintptr_t
	queue    *eventQueue // nil for a callback listener
	token    interface{ Remove() }
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
	s.deliverJSON(encodeEvent(eventJSON{Event: "change", Collection: collection, Changes: changesJSON(changes)}), collection)
}

// deliverJSON hands one encoded event to the subscriber (collection labels an overflow).
func (s *subObj) deliverJSON(ev, collection string) {
	if s.queue != nil {
		s.queue.push(ev, collection)
		return
	}
	text := C.CString(ev)
	defer C.free(unsafe.Pointer(text))
	C.p2p_call_change_fn(s.fn, C.p2p_subscription(s.handle), text, s.userData)
}

// newCallbackSub is a subscription that calls fn (any p2p_*_event_fn: same shape).
func newCallbackSub(fn unsafe.Pointer, userData unsafe.Pointer) *subObj {
	return &subObj{fn: C.uintptr_t(uintptr(fn)), userData: C.uintptr_t(uintptr(userData))}
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
	if err != nil {
		return err
	}
	if err := needOut(out != nil, "out_token"); err != nil {
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
	if err := needOut(fn != nil, "fn"); err != nil {
		return fail(cerr, err)
	}
	s := newCallbackSub(unsafe.Pointer(fn), userData)
	err := subscribe(coll, s, out, func(c *store.Collection) *store.ListenerToken {
		return c.AddChangeListener(func(ch store.CollectionChange) { s.deliver(c.FullName(), ch.Changes) })
	})
	if err != nil {
		return fail(cerr, err)
	}
	return C.P2P_OK
}

//export p2pgo_collection_add_document_change_listener
func p2pgo_collection_add_document_change_listener(coll C.p2p_collection, id *C.char, fn C.p2p_change_fn, userData unsafe.Pointer, out *C.p2p_subscription, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	if err := needOut(fn != nil, "fn"); err != nil {
		return fail(cerr, err)
	}
	docID, err := goDocID(id, "doc_id")
	if err != nil {
		return fail(cerr, err)
	}
	s := newCallbackSub(unsafe.Pointer(fn), userData)
	err = subscribe(coll, s, out, func(c *store.Collection) *store.ListenerToken {
		return c.AddDocumentChangeListener(docID, func(ch store.Change) { s.deliver(c.FullName(), []store.Change{ch}) })
	})
	if err != nil {
		return fail(cerr, err)
	}
	return C.P2P_OK
}

//export p2pgo_collection_add_change_queue
func p2pgo_collection_add_change_queue(coll C.p2p_collection, capacity C.uint32_t, out *C.p2p_subscription, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	s := &subObj{queue: newEventQueue(int(capacity), changeOverflow)}
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
	if err != nil {
		return fail(cerr, err)
	}
	if err := needOut(out != nil, "out_json"); err != nil {
		return fail(cerr, err)
	}
	if err := s.needQueue(); err != nil {
		return fail(cerr, err)
	}
	ev, ok, err := s.queue.pop(time.Duration(timeoutMS) * time.Millisecond)
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

// eventQueue is the bounded queue behind change queues and replicator event queues.
// When full, further events are counted in one overflow marker placed where the gap is.
type eventQueue struct {
	mu       sync.Mutex
	items    []queued
	capacity int
	closed   bool
	overflow func(collection string, dropped int) string // encodes an overflow marker
	ready    chan struct{}                               // one-slot "something changed" signal
	done     chan struct{}                               // closed by close()
}

// changeOverflow is the overflow event of a change queue.
func changeOverflow(collection string, dropped int) string {
	return encodeEvent(eventJSON{Event: "overflow", Collection: collection, Dropped: dropped})
}

type queued struct {
	event      string
	collection string
	dropped    int // > 0 for an overflow marker
}

func newEventQueue(capacity int, overflow func(collection string, dropped int) string) *eventQueue {
	if capacity <= 0 {
		capacity = defaultQueueCapacity
	}
	return &eventQueue{capacity: capacity, overflow: overflow, ready: make(chan struct{}, 1), done: make(chan struct{})}
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
			return "", false, fmt.Errorf("%w: the event queue was removed", context.Canceled)
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
				return q.overflow(it.collection, it.dropped), true, nil
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

// ------------------------------------------------------------ application callbacks

// cCallback is a C function pointer with its user data, kept as integers so that Go's
// garbage collector never sees them. Calls go through the owner's gate, so none starts
// after the owner's close returned.
type cCallback struct {
	fn, userData C.uintptr_t
	gate         *callbackGate
}

func newCCallback(fn, userData unsafe.Pointer, gate *callbackGate) cCallback {
	return cCallback{fn: C.uintptr_t(uintptr(fn)), userData: C.uintptr_t(uintptr(userData)), gate: gate}
}

func (c cCallback) set() bool { return c.fn != 0 }

// passwordAuth adapts a p2p_password_auth_fn; nil if none was given.
func (c cCallback) passwordAuth() listener.PasswordAuthenticator {
	if !c.set() {
		return nil
	}
	return func(username, password string) bool {
		return callGated(c.gate, false, func() bool {
			u, p := C.CString(username), C.CString(password)
			defer C.free(unsafe.Pointer(u))
			defer C.free(unsafe.Pointer(p))
			return C.p2p_call_password_auth(c.fn, u, p, c.userData) != 0
		})
	}
}

// clientCertAuth adapts a p2p_client_cert_auth_fn; nil if none was given.
func (c cCallback) clientCertAuth() func(chain []*x509.Certificate) bool {
	if !c.set() {
		return nil
	}
	return func(chain []*x509.Certificate) bool {
		return callGated(c.gate, false, func() bool {
			pem := C.CString(string(tlsid.EncodeCertificatesPEM(chain)))
			defer C.free(unsafe.Pointer(pem))
			return C.p2p_call_client_cert_auth(c.fn, pem, c.userData) != 0
		})
	}
}

// filter adapts a p2p_replication_filter_fn; nil if none was given. A closed gate skips
// the document.
func (c cCallback) filter() replicator.Filter {
	if !c.set() {
		return nil
	}
	return func(d replicator.Document) bool {
		return callGated(c.gate, false, func() bool {
			coll, id, rev, body := C.CString(d.Collection), C.CString(d.ID), C.CString(d.RevID), C.CString(string(d.Body))
			defer freeAll(coll, id, rev, body)
			var flags C.uint8_t
			if d.Deleted {
				flags |= C.P2P_DOC_DELETED
			}
			if d.AccessRemoved {
				flags |= C.P2P_DOC_ACCESS_REMOVED
			}
			return C.p2p_call_filter(c.fn, coll, id, rev, flags, body, c.userData) != 0
		})
	}
}

// errResolverClosed is what a resolver called during close reports.
var errResolverClosed = errors.New("the replicator is closing")

// resolver adapts a p2p_conflict_resolver_fn; nil if none was given.
func (c cCallback) resolver() replicator.ConflictResolver {
	if !c.set() {
		return nil
	}
	return func(_ context.Context, cf replicator.Conflict) (replicator.Resolution, error) {
		type result struct {
			res replicator.Resolution
			err error
		}
		r := callGated(c.gate, result{err: errResolverClosed}, func() result {
			res, err := c.callResolver(cf)
			return result{res, err}
		})
		return r.res, r.err
	}
}

func (c cCallback) callResolver(cf replicator.Conflict) (replicator.Resolution, error) {
	coll, id := C.CString(cf.Collection), C.CString(cf.DocID)
	local, remote := optCString(cf.Local), optCString(cf.Remote)
	defer freeAll(coll, id, local, remote)
	var merged *C.char
	decision := C.p2p_call_resolver(c.fn, coll, id, local, remote, &merged, c.userData)
	var body []byte
	if merged != nil {
		body = []byte(C.GoString(merged))
		C.free(unsafe.Pointer(merged)) // allocated with p2p_strdup: ours now
	}
	return resolution(uint8(decision), body)
}

// resolution turns the C decision into the engine's; the engine checks a merged body.
func resolution(decision uint8, body []byte) (replicator.Resolution, error) {
	switch decision {
	case C.P2P_RESOLVE_REMOTE:
		return replicator.Resolution{Kind: replicator.UseRemote}, nil
	case C.P2P_RESOLVE_LOCAL:
		return replicator.Resolution{Kind: replicator.UseLocal}, nil
	case C.P2P_RESOLVE_DELETE:
		return replicator.Resolution{Kind: replicator.UseDeletion}, nil
	case C.P2P_RESOLVE_MERGED:
		if body == nil {
			return replicator.Resolution{}, fmt.Errorf("resolver chose P2P_RESOLVE_MERGED without a merged body")
		}
		return replicator.Resolution{Kind: replicator.UseMerged, Body: body}, nil
	}
	return replicator.Resolution{}, fmt.Errorf("resolver returned %d: the document stays in conflict", decision)
}

// optCString is the body of one side of a conflict, or NULL for a deletion.
func optCString(rev *replicator.ConflictRevision) *C.char {
	if rev == nil {
		return nil
	}
	return C.CString(string(rev.Body))
}

func freeAll(ps ...*C.char) {
	for _, p := range ps {
		C.free(unsafe.Pointer(p))
	}
}
