package main

/*
#include <stdint.h>
#include <stdlib.h>
#include "p2psync.h"

// The subscription whose query listener this thread is running (0: none), so that
// p2p_subscription_remove called from inside that listener does not wait for it.
static __thread uint64_t p2p_in_query_listener;

static inline void p2p_call_query_fn(uintptr_t fn, p2p_subscription token, const char *json, uintptr_t user_data) {
	uint64_t outer = p2p_in_query_listener;
	p2p_in_query_listener = token;
	((p2p_query_listener_fn)fn)(token, json, (void *)user_data);
	p2p_in_query_listener = outer;
}
static inline uint64_t p2p_query_listener_running(void) { return p2p_in_query_listener; }
*/
import "C"

import (
	"encoding/json"
	"sync"
	"unsafe"

	"github.com/p2psync/libp2psync/engine/query"
)

// queryObj is a compiled query, a child of its database. mu serialises the calls on
// one query: execute replaces the running result, next reads it.
type queryObj struct {
	node
	mu sync.Mutex
	q  *query.Query
	rs *query.ResultSet
}

// closeResult ends the running result, if any (mu held).
func (o *queryObj) closeResult() {
	if o.rs != nil {
		o.rs.Close()
		o.rs = nil
	}
}

//export p2pgo_query_prepare
func p2pgo_query_prepare(db C.p2p_db, text *C.char, out *C.p2p_query, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	o, err := dbs.lookup(uint64(db))
	if err != nil {
		return fail(cerr, err)
	}
	src, err := goText(text, "text")
	if err != nil {
		return fail(cerr, err)
	}
	if err := needOut(out != nil, "out_query"); err != nil {
		return fail(cerr, err)
	}
	q, err := query.Prepare(callerContext(), query.StoreSource{DB: o.db}, src)
	if err != nil {
		return fail(cerr, err)
	}
	h, err := queries.add(&queryObj{node: node{parent: &o.node}, q: q})
	if err != nil {
		return fail(cerr, err)
	}
	*out = C.p2p_query(h)
	return C.P2P_OK
}

//export p2pgo_query_columns
func p2pgo_query_columns(qh C.p2p_query, out **C.char, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	o, err := queries.lookup(uint64(qh))
	if err != nil {
		return fail(cerr, err)
	}
	if err := needOut(out != nil, "out_json"); err != nil {
		return fail(cerr, err)
	}
	if err := setJSON(out, nonNil(o.q.Columns())); err != nil {
		return fail(cerr, err)
	}
	return C.P2P_OK
}

//export p2pgo_query_execute
func p2pgo_query_execute(qh C.p2p_query, params *C.char, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	o, err := queries.lookup(uint64(qh))
	if err != nil {
		return fail(cerr, err)
	}
	p, err := goOptText(params, "params_json")
	if err != nil {
		return fail(cerr, err)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.closeResult()
	if o.rs, err = o.q.Execute(callerContext(), []byte(p)); err != nil {
		return fail(cerr, err)
	}
	return C.P2P_OK
}

//export p2pgo_query_next
func p2pgo_query_next(qh C.p2p_query, out **C.char, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	o, err := queries.lookup(uint64(qh))
	if err == nil {
		err = needOut(out != nil, "out_row_json")
	}
	if err != nil {
		return fail(cerr, err)
	}
	*out = nil
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.rs == nil {
		return C.P2P_OK // not executed, or finished: no row
	}
	if o.rs.Next() {
		setText(out, string(o.rs.Row()))
		return C.P2P_OK
	}
	err = o.rs.Err()
	o.closeResult()
	if err != nil {
		return fail(cerr, err)
	}
	return C.P2P_OK
}

//export p2pgo_query_explain
func p2pgo_query_explain(qh C.p2p_query, out **C.char, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	o, err := queries.lookup(uint64(qh))
	if err != nil {
		return fail(cerr, err)
	}
	if err := needOut(out != nil, "out_text"); err != nil {
		return fail(cerr, err)
	}
	plan, err := o.q.Explain(callerContext())
	if err != nil {
		return fail(cerr, err)
	}
	setText(out, plan)
	return C.P2P_OK
}

//export p2pgo_query_close
func p2pgo_query_close(qh C.p2p_query, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	o, found, err := queries.remove(uint64(qh))
	if err != nil {
		return fail(cerr, err)
	}
	if found {
		o.mu.Lock()
		o.closeResult()
		o.mu.Unlock()
	}
	return C.P2P_OK
}

// liveToken is the engine side of a query listener subscription.
type liveToken struct {
	lq     *query.LiveQuery
	handle uint64
}

// Remove stops the live query and waits for a listener call in progress, unless
// it is called from inside that call.
func (t *liveToken) Remove() {
	t.lq.Stop()
	if uint64(C.p2p_query_listener_running()) != t.handle {
		<-t.lq.Done()
	}
}

// liveEvent is the JSON a query listener receives.
type liveEvent struct {
	Event   string             `json:"event"`
	Rows    *[]json.RawMessage `json:"rows,omitempty"` // present (maybe empty) for results
	Code    int32              `json:"code,omitempty"`
	Message string             `json:"message,omitempty"`
}

func encodeLiveEvent(rows [][]byte, err error) string {
	if err != nil {
		b, _ := json.Marshal(liveEvent{Event: "error", Code: int32(statusOf(err)), Message: err.Error()})
		return string(b)
	}
	out := make([]json.RawMessage, len(rows))
	for i, r := range rows {
		out[i] = json.RawMessage(r)
	}
	ev := liveEvent{Event: "results", Rows: &out}
	b, _ := json.Marshal(ev) // rows are JSON objects the engine encoded
	return string(b)
}

//export p2pgo_query_add_listener
func p2pgo_query_add_listener(qh C.p2p_query, params *C.char, fn C.p2p_query_listener_fn, userData unsafe.Pointer, out *C.p2p_subscription, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	o, err := queries.lookup(uint64(qh))
	if err != nil {
		return fail(cerr, err)
	}
	p, err := goOptText(params, "params_json")
	if err != nil {
		return fail(cerr, err)
	}
	if err := needOut(fn != nil, "fn"); err != nil {
		return fail(cerr, err)
	}
	if err := needOut(out != nil, "out_token"); err != nil {
		return fail(cerr, err)
	}
	s := newCallbackSub(unsafe.Pointer(fn), userData)
	s.node.parent = &o.node
	if s.handle, err = subs.add(s); err != nil {
		return fail(cerr, err)
	}
	lq, err := o.q.Watch(callerContext(), []byte(p), func(rows [][]byte, err error) {
		text := C.CString(encodeLiveEvent(rows, err))
		defer C.free(unsafe.Pointer(text))
		C.p2p_call_query_fn(s.fn, C.p2p_subscription(s.handle), text, s.userData)
	})
	if err != nil {
		subs.remove(s.handle)
		return fail(cerr, err)
	}
	s.token = &liveToken{lq: lq, handle: s.handle}
	*out = C.p2p_subscription(s.handle)
	return C.P2P_OK
}
