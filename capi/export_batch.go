package main

/*
#include "p2psync.h"
*/
import "C"

import (
	"errors"
	"fmt"

	"github.com/p2psync/libp2psync/engine/store"
)

//export p2pgo_db_begin_batch
func p2pgo_db_begin_batch(db C.p2p_db, out *C.p2p_batch, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	o, err := dbs.lookup(uint64(db))
	err = then1(err, func() error { return needOut(out != nil, "out_batch") })
	b, err := then(err, func() (*store.Batch, error) { return o.db.BeginBatch(callerContext()) })
	h, err := then(err, func() (uint64, error) { return batches.add(&batchObj{node: node{parent: &o.node}, batch: b, owner: o}) })
	if err != nil {
		if b != nil {
			_ = b.Rollback() // the parent closed meanwhile: undo the begin
		}
		return fail(cerr, err)
	}
	*out = C.p2p_batch(h)
	return C.P2P_OK
}

// batchTarget resolves a (batch, collection) pair, which must share a database.
func batchTarget(batch C.p2p_batch, coll C.p2p_collection) (*store.Batch, *store.Collection, error) {
	b, err := batches.lookup(uint64(batch))
	c, err := then(err, func() (*collObj, error) { return colls.lookup(uint64(coll)) })
	if err == nil && c.owner != b.owner {
		err = fmt.Errorf("%w: the collection belongs to another database than the batch", errInvalidArgument)
	}
	if err != nil {
		return nil, nil, err
	}
	return b.batch, c.coll, nil
}

//export p2pgo_batch_save_document
func p2pgo_batch_save_document(batch C.p2p_batch, coll C.p2p_collection, id, body, parent *C.char, concurrency C.uint8_t, out *C.p2p_document, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	b, c, err := batchTarget(batch, coll)
	a, err := then(err, func() (docArgs, error) { return writeArgs(id, body, parent, concurrency, true) })
	d, err := then(err, func() (*store.Document, error) { return b.Save(c, a.id, a.body, a.opts) })
	err = then1(err, func() error { return putDocument(out, d) })
	if err != nil {
		return fail(cerr, err)
	}
	return C.P2P_OK
}

//export p2pgo_batch_delete_document
func p2pgo_batch_delete_document(batch C.p2p_batch, coll C.p2p_collection, id, parent *C.char, concurrency C.uint8_t, out *C.p2p_document, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	b, c, err := batchTarget(batch, coll)
	a, err := then(err, func() (docArgs, error) { return writeArgs(id, nil, parent, concurrency, false) })
	d, err := then(err, func() (*store.Document, error) { return b.Delete(c, a.id, a.opts) })
	err = then1(err, func() error { return putDocument(out, d) })
	if err != nil {
		return fail(cerr, err)
	}
	return C.P2P_OK
}

//export p2pgo_batch_purge_document
func p2pgo_batch_purge_document(batch C.p2p_batch, coll C.p2p_collection, id *C.char, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	b, c, err := batchTarget(batch, coll)
	docID, err := then(err, func() (string, error) { return goDocID(id, "doc_id") })
	err = then1(err, func() error { return b.Purge(c, docID) })
	if err != nil {
		return fail(cerr, err)
	}
	return C.P2P_OK
}

//export p2pgo_batch_commit
func p2pgo_batch_commit(batch C.p2p_batch, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	o, found, err := batches.remove(uint64(batch))
	if err == nil && !found {
		err = fmt.Errorf("%w: batch %#x has already ended", errInvalidHandle, uint64(batch))
	}
	if err == nil {
		if err = o.batch.Commit(); err != nil {
			err = errors.Join(err, o.batch.Rollback()) // nothing stays half-written
		}
	}
	if err != nil {
		return fail(cerr, err)
	}
	return C.P2P_OK
}

//export p2pgo_batch_abort
func p2pgo_batch_abort(batch C.p2p_batch, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	o, found, err := batches.remove(uint64(batch))
	if err == nil && found {
		err = o.batch.Rollback()
	}
	if err != nil {
		return fail(cerr, err)
	}
	return C.P2P_OK
}
