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
	if err != nil {
		return fail(cerr, err)
	}
	if err := needOut(out != nil, "out_batch"); err != nil {
		return fail(cerr, err)
	}
	b, err := o.db.BeginBatch(callerContext())
	if err != nil {
		return fail(cerr, err)
	}
	h, err := batches.add(&batchObj{node: node{parent: &o.node}, batch: b, owner: o})
	if err != nil {
		_ = b.Rollback() // the parent closed meanwhile: undo the begin
		return fail(cerr, err)
	}
	*out = C.p2p_batch(h)
	return C.P2P_OK
}

// batchTarget resolves a (batch, collection) pair, which must share a database.
func batchTarget(batch C.p2p_batch, coll C.p2p_collection) (*store.Batch, *store.Collection, error) {
	b, err := batches.lookup(uint64(batch))
	if err != nil {
		return nil, nil, err
	}
	c, err := colls.lookup(uint64(coll))
	if err != nil {
		return nil, nil, err
	}
	if c.owner != b.owner {
		return nil, nil, fmt.Errorf("%w: the collection belongs to another database than the batch", errInvalidArgument)
	}
	return b.batch, c.coll, nil
}

//export p2pgo_batch_save_document
func p2pgo_batch_save_document(batch C.p2p_batch, coll C.p2p_collection, id, body, parent *C.char, concurrency C.uint8_t, out *C.p2p_document, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	b, c, err := batchTarget(batch, coll)
	if err != nil {
		return fail(cerr, err)
	}
	a, err := writeArgs(id, body, parent, concurrency, true)
	if err != nil {
		return fail(cerr, err)
	}
	d, err := b.Save(c, a.id, a.body, a.opts)
	if err != nil {
		return fail(cerr, err)
	}
	if err := putDocument(out, d); err != nil {
		return fail(cerr, err)
	}
	return C.P2P_OK
}

//export p2pgo_batch_delete_document
func p2pgo_batch_delete_document(batch C.p2p_batch, coll C.p2p_collection, id, parent *C.char, concurrency C.uint8_t, out *C.p2p_document, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	b, c, err := batchTarget(batch, coll)
	if err != nil {
		return fail(cerr, err)
	}
	a, err := writeArgs(id, nil, parent, concurrency, false)
	if err != nil {
		return fail(cerr, err)
	}
	d, err := b.Delete(c, a.id, a.opts)
	if err != nil {
		return fail(cerr, err)
	}
	if err := putDocument(out, d); err != nil {
		return fail(cerr, err)
	}
	return C.P2P_OK
}

//export p2pgo_batch_purge_document
func p2pgo_batch_purge_document(batch C.p2p_batch, coll C.p2p_collection, id *C.char, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	b, c, err := batchTarget(batch, coll)
	if err != nil {
		return fail(cerr, err)
	}
	docID, err := goDocID(id, "doc_id")
	if err != nil {
		return fail(cerr, err)
	}
	if err := b.Purge(c, docID); err != nil {
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
