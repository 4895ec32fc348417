package main

/*
#include "p2psync.h"
*/
import "C"

import (
	"context"

	"github.com/p2psync/libp2psync/engine/store"
)

// openCollection registers the collection that open finds in database db.
func openCollection(db C.p2p_db, out *C.p2p_collection, open func(*store.Database) (*store.Collection, error)) error {
	o, err := dbs.lookup(uint64(db))
	if err != nil {
		return err
	}
	if err := needOut(out != nil, "out_coll"); err != nil {
		return err
	}
	coll, err := open(o.db)
	if err != nil {
		return err
	}
	h, err := colls.add(&collObj{node: node{parent: &o.node}, coll: coll, owner: o})
	if err != nil {
		return err
	}
	*out = C.p2p_collection(h)
	return nil
}

// scopeAndName copies a (scope, name) pair; a NULL scope means the default scope.
func scopeAndName(scope, name *C.char) (string, string, error) {
	s, err := goOptText(scope, "scope")
	if err != nil {
		return "", "", err
	}
	n, err := goText(name, "name")
	if err != nil {
		return "", "", err
	}
	return s, n, nil
}

//export p2pgo_db_default_collection
func p2pgo_db_default_collection(db C.p2p_db, out *C.p2p_collection, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	err := openCollection(db, out, func(d *store.Database) (*store.Collection, error) { return d.DefaultCollection(), nil })
	if err != nil {
		return fail(cerr, err)
	}
	return C.P2P_OK
}

//export p2pgo_db_create_collection
func p2pgo_db_create_collection(db C.p2p_db, scope, name *C.char, out *C.p2p_collection, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	s, n, err := scopeAndName(scope, name)
	if err == nil {
		err = openCollection(db, out, func(d *store.Database) (*store.Collection, error) {
			return d.CreateCollection(callerContext(), s, n)
		})
	}
	if err != nil {
		return fail(cerr, err)
	}
	return C.P2P_OK
}

//export p2pgo_db_get_collection
func p2pgo_db_get_collection(db C.p2p_db, scope, name *C.char, out *C.p2p_collection, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	s, n, err := scopeAndName(scope, name)
	if err == nil {
		err = openCollection(db, out, func(d *store.Database) (*store.Collection, error) {
			return d.Collection(callerContext(), s, n)
		})
	}
	if err != nil {
		return fail(cerr, err)
	}
	return C.P2P_OK
}

//export p2pgo_db_delete_collection
func p2pgo_db_delete_collection(db C.p2p_db, scope, name *C.char, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	o, err := dbs.lookup(uint64(db))
	if err != nil {
		return fail(cerr, err)
	}
	s, n, err := scopeAndName(scope, name)
	if err != nil {
		return fail(cerr, err)
	}
	if err := o.db.DeleteCollection(callerContext(), s, n); err != nil {
		return fail(cerr, err)
	}
	return C.P2P_OK
}

//export p2pgo_db_collection_names
func p2pgo_db_collection_names(db C.p2p_db, scope *C.char, out **C.char, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	o, err := dbs.lookup(uint64(db))
	if err != nil {
		return fail(cerr, err)
	}
	s, err := goOptText(scope, "scope")
	if err != nil {
		return fail(cerr, err)
	}
	if err := needOut(out != nil, "out_json"); err != nil {
		return fail(cerr, err)
	}
	names, err := o.db.Collections(callerContext(), s)
	if err != nil {
		return fail(cerr, err)
	}
	if err := setJSON(out, nonNil(names)); err != nil {
		return fail(cerr, err)
	}
	return C.P2P_OK
}

//export p2pgo_db_scope_names
func p2pgo_db_scope_names(db C.p2p_db, out **C.char, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	o, err := dbs.lookup(uint64(db))
	if err != nil {
		return fail(cerr, err)
	}
	if err := needOut(out != nil, "out_json"); err != nil {
		return fail(cerr, err)
	}
	names, err := o.db.Scopes(callerContext())
	if err != nil {
		return fail(cerr, err)
	}
	if err := setJSON(out, nonNil(names)); err != nil {
		return fail(cerr, err)
	}
	return C.P2P_OK
}

//export p2pgo_collection_close
func p2pgo_collection_close(coll C.p2p_collection, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	if _, _, err := colls.remove(uint64(coll)); err != nil {
		return fail(cerr, err)
	}
	return C.P2P_OK
}

// collText serves the text getters of a collection.
func collText(coll C.p2p_collection, out **C.char, cerr *C.p2p_error, get func(*store.Collection) string) C.int32_t {
	o, err := colls.lookup(uint64(coll))
	if err == nil {
		err = needOut(out != nil, "out_name")
	}
	if err != nil {
		return fail(cerr, err)
	}
	setText(out, get(o.coll))
	return C.P2P_OK
}

//export p2pgo_collection_scope_name
func p2pgo_collection_scope_name(coll C.p2p_collection, out **C.char, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	return collText(coll, out, cerr, (*store.Collection).Scope)
}

//export p2pgo_collection_name
func p2pgo_collection_name(coll C.p2p_collection, out **C.char, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	return collText(coll, out, cerr, (*store.Collection).Name)
}

// collNumber serves the numeric getters of a collection.
func collNumber(coll C.p2p_collection, out *C.uint64_t, cerr *C.p2p_error, get func(*store.Collection, context.Context) (uint64, error)) C.int32_t {
	o, err := colls.lookup(uint64(coll))
	if err != nil {
		return fail(cerr, err)
	}
	if err := needOut(out != nil, "out parameter"); err != nil {
		return fail(cerr, err)
	}
	n, err := get(o.coll, callerContext())
	if err != nil {
		return fail(cerr, err)
	}
	*out = C.uint64_t(n)
	return C.P2P_OK
}

//export p2pgo_collection_count
func p2pgo_collection_count(coll C.p2p_collection, out *C.uint64_t, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	return collNumber(coll, out, cerr, (*store.Collection).Count)
}

//export p2pgo_collection_last_sequence
func p2pgo_collection_last_sequence(coll C.p2p_collection, out *C.uint64_t, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	return collNumber(coll, out, cerr, (*store.Collection).LastSequence)
}

// changeJSON is the one JSON shape of a change, in feeds and in events alike.
type changeJSON struct {
	Sequence uint64 `json:"sequence"`
	ID       string `json:"id"`
	RevID    string `json:"rev_id"`
	Deleted  bool   `json:"deleted"`
}

func changesJSON(changes []store.Change) []changeJSON {
	out := make([]changeJSON, 0, len(changes))
	for _, c := range changes {
		out = append(out, changeJSON{Sequence: c.Sequence, ID: c.DocID, RevID: c.RevID, Deleted: c.Deleted})
	}
	return out
}

//export p2pgo_collection_changes
func p2pgo_collection_changes(coll C.p2p_collection, since C.uint64_t, limit C.uint32_t, out **C.char, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	o, err := colls.lookup(uint64(coll))
	if err != nil {
		return fail(cerr, err)
	}
	if err := needOut(out != nil, "out_json"); err != nil {
		return fail(cerr, err)
	}
	changes, err := o.coll.ChangesSince(callerContext(), uint64(since), int(limit))
	if err != nil {
		return fail(cerr, err)
	}
	if err := setJSON(out, changesJSON(changes)); err != nil {
		return fail(cerr, err)
	}
	return C.P2P_OK
}
