package main

/*
#include "p2psync.h"
*/
import "C"

import "github.com/p2psync/libp2psync/engine/store"

// Versions (version vectors, issue 16): the document's current version and its time, and
// the database's source ID.

//export p2pgo_document_version
func p2pgo_document_version(doc C.p2p_document, out **C.char, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	return docField(doc, out != nil, cerr, func(d *store.Document) { setText(out, d.Version) })
}

//export p2pgo_document_timestamp
func p2pgo_document_timestamp(doc C.p2p_document, out *C.uint64_t, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	return docField(doc, out != nil, cerr, func(d *store.Document) { *out = C.uint64_t(d.Timestamp) })
}

//export p2pgo_document_version_vector
func p2pgo_document_version_vector(doc C.p2p_document, out **C.char, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	return docField(doc, out != nil, cerr, func(d *store.Document) { setText(out, d.Vector) })
}

//export p2pgo_db_source_id
func p2pgo_db_source_id(db C.p2p_db, out **C.char, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	return dbText(db, out, cerr, (*store.Database).SourceID)
}
