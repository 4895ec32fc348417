package main

/*
#include "p2psync.h"
*/
import "C"

import (
	"context"
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
	q, err := query.Prepare(context.Background(), query.StoreSource{DB: o.db}, src)
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
	if o.rs, err = o.q.Execute(context.Background(), []byte(p)); err != nil {
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
	plan, err := o.q.Explain(context.Background())
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
