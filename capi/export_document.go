package main

/*
#include "p2psync.h"
*/
import "C"

import (
	"fmt"
	"time"

	"github.com/p2psync/libp2psync/engine/store"
)

// saveOptions converts a (parent revision, concurrency) pair.
func saveOptions(parent *C.char, concurrency C.uint8_t) (store.SaveOptions, error) {
	rev, err := goOptText(parent, "parent_rev_id")
	opts := store.SaveOptions{ParentRevID: rev}
	switch concurrency {
	case C.P2P_CONCURRENCY_LAST_WRITE_WINS:
		opts.Concurrency = store.LastWriteWins
	case C.P2P_CONCURRENCY_FAIL_ON_CONFLICT:
		opts.Concurrency = store.FailOnConflict
	default:
		err = fmt.Errorf("%w: unknown concurrency %d", errInvalidArgument, concurrency)
	}
	return opts, err
}

// putDocument hands a snapshot to the caller when it asked for one (out may be NULL).
func putDocument(out *C.p2p_document, d *store.Document) error {
	if out == nil {
		return nil
	}
	h, err := docs.add(&docObj{doc: d})
	if err == nil {
		*out = C.p2p_document(h)
	}
	return err
}

// docArgs is what a write needs besides the target: ID, body and save options.
type docArgs struct {
	id   string
	body []byte
	opts store.SaveOptions
}

// writeArgs copies the arguments of a save (body != NULL) or a delete (body == NULL).
func writeArgs(id, body, parent *C.char, concurrency C.uint8_t, isSave bool) (docArgs, error) {
	var a docArgs
	var err error
	if a.id, err = goDocID(id, "doc_id"); err != nil {
		return a, err
	}
	if isSave {
		// Copied as text only: the store validates the body (JSON object, UTF-8) as it
		// compacts it, so decoding it here as well (goJSON) would parse it twice.
		text, err := goText(body, "json")
		if err != nil {
			return a, err
		}
		a.body = []byte(text)
	}
	if a.opts, err = saveOptions(parent, concurrency); err != nil {
		return a, err
	}
	return a, nil
}

//export p2pgo_collection_save_document
func p2pgo_collection_save_document(coll C.p2p_collection, id, body, parent *C.char, concurrency C.uint8_t, out *C.p2p_document, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	o, err := colls.lookup(uint64(coll))
	if err != nil {
		return fail(cerr, err)
	}
	a, err := writeArgs(id, body, parent, concurrency, true)
	if err != nil {
		return fail(cerr, err)
	}
	d, err := o.coll.Save(callerContext(), a.id, a.body, a.opts)
	if err != nil {
		return fail(cerr, err)
	}
	if err := putDocument(out, d); err != nil {
		return fail(cerr, err)
	}
	return C.P2P_OK
}

//export p2pgo_collection_delete_document
func p2pgo_collection_delete_document(coll C.p2p_collection, id, parent *C.char, concurrency C.uint8_t, out *C.p2p_document, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	o, err := colls.lookup(uint64(coll))
	if err != nil {
		return fail(cerr, err)
	}
	a, err := writeArgs(id, nil, parent, concurrency, false)
	if err != nil {
		return fail(cerr, err)
	}
	d, err := o.coll.Delete(callerContext(), a.id, a.opts)
	if err != nil {
		return fail(cerr, err)
	}
	if err := putDocument(out, d); err != nil {
		return fail(cerr, err)
	}
	return C.P2P_OK
}

// withDocID runs fn on the collection and the validated document ID.
func withDocID(coll C.p2p_collection, id *C.char, fn func(c *store.Collection, docID string) error) error {
	o, err := colls.lookup(uint64(coll))
	if err != nil {
		return err
	}
	docID, err := goDocID(id, "doc_id")
	if err != nil {
		return err
	}
	return fn(o.coll, docID)
}

//export p2pgo_collection_purge_document
func p2pgo_collection_purge_document(coll C.p2p_collection, id *C.char, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	err := withDocID(coll, id, func(c *store.Collection, docID string) error { return c.Purge(callerContext(), docID) })
	if err != nil {
		return fail(cerr, err)
	}
	return C.P2P_OK
}

//export p2pgo_collection_get_document
func p2pgo_collection_get_document(coll C.p2p_collection, id *C.char, includeDeleted C.uint8_t, out *C.p2p_document, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	err := withDocID(coll, id, func(c *store.Collection, docID string) error {
		get := c.Get
		if includeDeleted != 0 {
			get = c.GetWithDeleted
		}
		if err := needOut(out != nil, "out_doc"); err != nil {
			return err
		}
		d, err := get(callerContext(), docID)
		if err != nil {
			return err
		}
		return putDocument(out, d)
	})
	if err != nil {
		return fail(cerr, err)
	}
	return C.P2P_OK
}

//export p2pgo_collection_get_revision
func p2pgo_collection_get_revision(coll C.p2p_collection, id, revID *C.char, out *C.p2p_document, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	err := withDocID(coll, id, func(c *store.Collection, docID string) error {
		rev, err := goText(revID, "rev_id")
		if err != nil {
			return err
		}
		if err := needOut(out != nil, "out_doc"); err != nil {
			return err
		}
		d, err := c.GetRevision(callerContext(), docID, rev)
		if err != nil {
			return err
		}
		return putDocument(out, d)
	})
	if err != nil {
		return fail(cerr, err)
	}
	return C.P2P_OK
}

//export p2pgo_collection_get_conflicts
func p2pgo_collection_get_conflicts(coll C.p2p_collection, id *C.char, out **C.char, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	err := withDocID(coll, id, func(c *store.Collection, docID string) error {
		if err := needOut(out != nil, "out_json"); err != nil {
			return err
		}
		revs, err := c.Conflicts(callerContext(), docID)
		if err != nil {
			return err
		}
		return setJSON(out, nonNil(revs))
	})
	if err != nil {
		return fail(cerr, err)
	}
	return C.P2P_OK
}

//export p2pgo_collection_set_document_expiration
func p2pgo_collection_set_document_expiration(coll C.p2p_collection, id *C.char, unixMS C.int64_t, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	err := withDocID(coll, id, func(c *store.Collection, docID string) error {
		var at time.Time // zero clears
		if unixMS != 0 {
			at = time.UnixMilli(int64(unixMS))
		}
		return c.SetExpiration(callerContext(), docID, at)
	})
	if err != nil {
		return fail(cerr, err)
	}
	return C.P2P_OK
}

//export p2pgo_collection_get_document_expiration
func p2pgo_collection_get_document_expiration(coll C.p2p_collection, id *C.char, out *C.int64_t, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	err := withDocID(coll, id, func(c *store.Collection, docID string) error {
		if err := needOut(out != nil, "out_unix_ms"); err != nil {
			return err
		}
		at, err := c.Expiration(callerContext(), docID)
		if err != nil {
			return err
		}
		*out = C.int64_t(unixMillis(at))
		return nil
	})
	if err != nil {
		return fail(cerr, err)
	}
	return C.P2P_OK
}

//export p2pgo_document_close
func p2pgo_document_close(doc C.p2p_document, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	if _, _, err := docs.remove(uint64(doc)); err != nil {
		return fail(cerr, err)
	}
	return C.P2P_OK
}

// docField serves the getters of a document snapshot.
func docField(doc C.p2p_document, outOK bool, cerr *C.p2p_error, set func(*store.Document)) C.int32_t {
	o, err := docs.lookup(uint64(doc))
	if err == nil {
		err = needOut(outOK, "out parameter")
	}
	if err != nil {
		return fail(cerr, err)
	}
	set(o.doc)
	return C.P2P_OK
}

//export p2pgo_document_json
func p2pgo_document_json(doc C.p2p_document, out **C.char, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	return docField(doc, out != nil, cerr, func(d *store.Document) { setText(out, string(d.Body)) })
}

//export p2pgo_document_id
func p2pgo_document_id(doc C.p2p_document, out **C.char, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	return docField(doc, out != nil, cerr, func(d *store.Document) { setText(out, d.ID) })
}

//export p2pgo_document_rev_id
func p2pgo_document_rev_id(doc C.p2p_document, out **C.char, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	return docField(doc, out != nil, cerr, func(d *store.Document) { setText(out, d.RevID) })
}

//export p2pgo_document_sequence
func p2pgo_document_sequence(doc C.p2p_document, out *C.uint64_t, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	return docField(doc, out != nil, cerr, func(d *store.Document) { *out = C.uint64_t(d.Sequence) })
}

//export p2pgo_document_deleted
func p2pgo_document_deleted(doc C.p2p_document, out *C.uint8_t, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	return docField(doc, out != nil, cerr, func(d *store.Document) { *out = cBool(d.Deleted) })
}
