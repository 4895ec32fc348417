package main

/*
#include "p2psync.h"
*/
import "C"

import (
	"fmt"
	"unsafe"

	"github.com/p2psync/libp2psync/engine/store"
)

//export p2pgo_db_options_init
func p2pgo_db_options_init(opts *C.p2p_db_options, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	if err := needOut(opts != nil, "opts"); err != nil {
		return fail(cerr, err)
	}
	*opts = C.p2p_db_options{struct_size: C.uint32_t(unsafe.Sizeof(*opts)), create: 1}
	return C.P2P_OK
}

// goPath copies a database directory path; "" is refused rather than taken as the
// current directory.
func goPath(path *C.char) (string, error) {
	dir, err := goText(path, "path")
	if err == nil && dir == "" {
		err = fmt.Errorf("%w: path is empty", errInvalidArgument)
	}
	return dir, err
}

// dbConfig reads the caller's options (NULL = defaults) honouring struct_size.
func dbConfig(opts *C.p2p_db_options) (store.Config, error) {
	if opts == nil {
		return store.Config{}, nil
	}
	known := unsafe.Sizeof(*opts)
	// 1.0 callers end at max_rev_tree_depth; fields after it are read only when present.
	first := unsafe.Offsetof(opts.max_rev_tree_depth) + unsafe.Sizeof(opts.max_rev_tree_depth)
	if err := checkStructSize(unsafe.Pointer(opts), opts.struct_size, first, known); err != nil {
		return store.Config{}, err
	}
	cfg := store.Config{NoCreate: opts.create == 0, MaxRevTreeDepth: int(opts.max_rev_tree_depth)}
	if uintptr(opts.struct_size) > unsafe.Offsetof(opts.disable_delta_sync) {
		cfg.DisableDeltaSync = opts.disable_delta_sync != 0
	}
	return cfg, nil
}

//export p2pgo_db_open
func p2pgo_db_open(path *C.char, opts *C.p2p_db_options, out *C.p2p_db, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	dir, err := goPath(path)
	if err == nil {
		err = needOut(out != nil, "out_db")
	}
	cfg, err := then(err, func() (store.Config, error) { return dbConfig(opts) })
	db, err := then(err, func() (*store.Database, error) { return store.Open(callerContext(), dir, cfg) })
	h, err := then(err, func() (uint64, error) { return dbs.add(&dbObj{db: db}) })
	if err != nil {
		return fail(cerr, err)
	}
	*out = C.p2p_db(h)
	return C.P2P_OK
}

//export p2pgo_db_close
func p2pgo_db_close(db C.p2p_db, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	o, found, err := dbs.remove(uint64(db))
	if err == nil && found {
		err = o.db.Close()
	}
	if err != nil {
		return fail(cerr, err)
	}
	return C.P2P_OK
}

//export p2pgo_db_delete
func p2pgo_db_delete(path *C.char, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	dir, err := goPath(path)
	if err == nil {
		err = store.Delete(dir)
	}
	if err != nil {
		return fail(cerr, err)
	}
	return C.P2P_OK
}

//export p2pgo_db_exists
func p2pgo_db_exists(path *C.char, out *C.uint8_t, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	dir, err := goPath(path)
	if err == nil {
		err = needOut(out != nil, "out_exists")
	}
	if err != nil {
		return fail(cerr, err)
	}
	*out = cBool(store.Exists(dir))
	return C.P2P_OK
}

// dbText serves the text getters of a database.
func dbText(db C.p2p_db, out **C.char, cerr *C.p2p_error, get func(*store.Database) string) C.int32_t {
	o, err := dbs.lookup(uint64(db))
	if err == nil {
		err = needOut(out != nil, "out parameter")
	}
	if err != nil {
		return fail(cerr, err)
	}
	setText(out, get(o.db))
	return C.P2P_OK
}

//export p2pgo_db_name
func p2pgo_db_name(db C.p2p_db, out **C.char, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	return dbText(db, out, cerr, (*store.Database).Name)
}

//export p2pgo_db_path
func p2pgo_db_path(db C.p2p_db, out **C.char, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	return dbText(db, out, cerr, (*store.Database).Path)
}

//export p2pgo_db_uuid
func p2pgo_db_uuid(db C.p2p_db, out **C.char, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	return dbText(db, out, cerr, (*store.Database).UUID)
}

//export p2pgo_db_get_local
func p2pgo_db_get_local(db C.p2p_db, id *C.char, outJSON, outRev **C.char, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	o, err := dbs.lookup(uint64(db))
	docID, err := then(err, func() (string, error) { return goDocID(id, "id") })
	if err == nil {
		err = needOut(outJSON != nil && outRev != nil, "out_json or out_rev")
	}
	body, rev, err := then2(err, func() ([]byte, string, error) { return o.db.GetLocal(callerContext(), docID) })
	if err != nil {
		return fail(cerr, err)
	}
	setText(outJSON, string(body))
	setText(outRev, rev)
	return C.P2P_OK
}

//export p2pgo_db_put_local
func p2pgo_db_put_local(db C.p2p_db, id, body, expectedRev *C.char, outRev **C.char, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	o, err := dbs.lookup(uint64(db))
	docID, err := then(err, func() (string, error) { return goDocID(id, "id") })
	data, err := then(err, func() ([]byte, error) { return goJSON(body, "json") })
	expected, err := then(err, func() (string, error) { return goOptText(expectedRev, "expected_rev") })
	rev, err := then(err, func() (string, error) { return o.db.PutLocal(callerContext(), docID, data, expected) })
	if err != nil {
		return fail(cerr, err)
	}
	if outRev != nil {
		setText(outRev, rev)
	}
	return C.P2P_OK
}

//export p2pgo_db_delete_local
func p2pgo_db_delete_local(db C.p2p_db, id *C.char, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	o, err := dbs.lookup(uint64(db))
	docID, err := then(err, func() (string, error) { return goDocID(id, "id") })
	if err == nil {
		err = o.db.DeleteLocal(callerContext(), docID)
	}
	if err != nil {
		return fail(cerr, err)
	}
	return C.P2P_OK
}
