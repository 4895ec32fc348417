package main

/*
#include "p2psync.h"
*/
import "C"

import (
	"unsafe"

	"github.com/p2psync/libp2psync/engine/store"
)

//export p2pgo_db_options_init
func p2pgo_db_options_init(opts *C.p2p_db_options, size C.size_t, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	if err := initOptions(unsafe.Pointer(opts), size, "opts"); err != nil {
		return fail(cerr, err)
	}
	return C.P2P_OK
}

// dbConfig reads the caller's options (NULL = defaults).
func dbConfig(p *C.p2p_db_options) (store.Config, error) {
	if p == nil {
		return store.Config{}, nil
	}
	opts, err := readOptions[C.p2p_db_options](unsafe.Pointer(p), "p2p_db_options")
	if err != nil {
		return store.Config{}, err
	}
	if err := checkReserved(unsafe.Pointer(&opts.reserved), unsafe.Sizeof(opts.reserved), "p2p_db_options.reserved"); err != nil {
		return store.Config{}, err
	}
	return store.Config{
		NoCreate:         opts.disable_create != 0,
		MaxRevTreeDepth:  int(opts.max_rev_tree_depth),
		DisableDeltaSync: opts.disable_delta_sync != 0,
	}, nil
}

//export p2pgo_db_open
func p2pgo_db_open(path *C.char, opts *C.p2p_db_options, out *C.p2p_db, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	dir, err := goPath(path)
	if err != nil {
		return fail(cerr, err)
	}
	if err := needOut(out != nil, "out_db"); err != nil {
		return fail(cerr, err)
	}
	cfg, err := dbConfig(opts)
	if err != nil {
		return fail(cerr, err)
	}
	db, err := store.Open(callerContext(), dir, cfg)
	if err != nil {
		return fail(cerr, err)
	}
	h, err := dbs.add(&dbObj{db: db})
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
	if err != nil {
		return fail(cerr, err)
	}
	docID, err := goDocID(id, "id")
	if err != nil {
		return fail(cerr, err)
	}
	if err := needOut(outJSON != nil && outRev != nil, "out_json or out_rev"); err != nil {
		return fail(cerr, err)
	}
	body, rev, err := o.db.GetLocal(callerContext(), docID)
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
	if err != nil {
		return fail(cerr, err)
	}
	docID, err := goDocID(id, "id")
	if err != nil {
		return fail(cerr, err)
	}
	data, err := goJSON(body, "json")
	if err != nil {
		return fail(cerr, err)
	}
	expected, err := goOptText(expectedRev, "expected_rev")
	if err != nil {
		return fail(cerr, err)
	}
	rev, err := o.db.PutLocal(callerContext(), docID, data, expected)
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
	if err != nil {
		return fail(cerr, err)
	}
	docID, err := goDocID(id, "id")
	if err != nil {
		return fail(cerr, err)
	}
	if err := o.db.DeleteLocal(callerContext(), docID); err != nil {
		return fail(cerr, err)
	}
	return C.P2P_OK
}
