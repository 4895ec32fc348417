package main

/*
#include "p2psync.h"
*/
import "C"

import (
	"sync"

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
	src, err := then(err, func() (string, error) { return goText(text, "text") })
	if err == nil {
		err = needOut(out != nil, "out_query")
	}
	q, err := then(err, func() (*query.Query, error) {
		return query.Prepare(callerContext(), query.StoreSource{DB: o.db}, src)
	})
	h, err := then(err, func() (uint64, error) { return queries.add(&queryObj{node: node{parent: &o.node}, q: q}) })
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
	if err == nil {
		err = needOut(out != nil, "out_json")
	}
	err = then1(err, func() error { return setJSON(out, nonNil(o.q.Columns())) })
	if err != nil {
		return fail(cerr, err)
	}
	return C.P2P_OK
}

//export p2pgo_query_execute
func p2pgo_query_execute(qh C.p2p_query, params *C.char, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	o, err := queries.lookup(uint64(qh))
	p, err := then(err, func() (string, error) { return goOptText(params, "params_json") })
	if err == nil {
		o.mu.Lock()
		defer o.mu.Unlock()
		o.closeResult()
		o.rs, err = o.q.Execute(callerContext(), []byte(p))
	}
	if err != nil {
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
	if err == nil {
		err = needOut(out != nil, "out_text")
	}
	plan, err := then(err, func() (string, error) { return o.q.Explain(callerContext()) })
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
