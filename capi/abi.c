/* abi.c — the public symbols of libp2psync.
 *
 * Go exports internal names (p2pgo_*) because cgo's generated prototypes drop
 * `const` and would clash with the hand-written header in one translation unit.
 * Each public p2p_* function below is a one-line forward, so the compiler checks
 * every prototype of include/p2psync.h against what Go exports. The few functions
 * that need no Go (versions, status names, freeing) are written here directly: they
 * cannot panic, and keeping them in C avoids a needless trip through cgo. */
#include <stdlib.h>
#include <string.h>

#include "p2psync.h"
#include "_cgo_export.h"

/* ------------------------------------------------------------ written in C */

uint32_t p2p_abi_version(void) { return P2P_ABI_VERSION; }

const char *p2p_version(void) { return P2P_VERSION_STRING; }

const char *p2p_status_string(int32_t status)
{
    switch (status) {
    case P2P_OK: return "P2P_OK";
    case P2P_ERR_INVALID_ARGUMENT: return "P2P_ERR_INVALID_ARGUMENT";
    case P2P_ERR_INVALID_HANDLE: return "P2P_ERR_INVALID_HANDLE";
    case P2P_ERR_NOT_FOUND: return "P2P_ERR_NOT_FOUND";
    case P2P_ERR_CONFLICT: return "P2P_ERR_CONFLICT";
    case P2P_ERR_BUSY: return "P2P_ERR_BUSY";
    case P2P_ERR_IO: return "P2P_ERR_IO";
    case P2P_ERR_CORRUPT: return "P2P_ERR_CORRUPT";
    case P2P_ERR_NETWORK: return "P2P_ERR_NETWORK";
    case P2P_ERR_TLS: return "P2P_ERR_TLS";
    case P2P_ERR_AUTH: return "P2P_ERR_AUTH";
    case P2P_ERR_PROTOCOL: return "P2P_ERR_PROTOCOL";
    case P2P_ERR_CANCELLED: return "P2P_ERR_CANCELLED";
    case P2P_ERR_TIMEOUT: return "P2P_ERR_TIMEOUT";
    case P2P_ERR_UNSUPPORTED: return "P2P_ERR_UNSUPPORTED";
    case P2P_ERR_INTERNAL: return "P2P_ERR_INTERNAL";
    default: return "P2P_ERR_UNKNOWN";
    }
}

void p2p_free(void *ptr) { free(ptr); }

void p2p_error_dispose(p2p_error *err)
{
    if (err == NULL)
        return;
    free(err->message);
    memset(err, 0, sizeof *err);
}

/* ------------------------------------------------------------ forwards to Go */

uint64_t p2p_debug_live_handles(void) { return p2pgo_debug_live_handles(); }

/* database */
int32_t p2p_db_options_init(p2p_db_options *opts, p2p_error *err) { return p2pgo_db_options_init(opts, err); }
int32_t p2p_db_open(const char *path, const p2p_db_options *options, p2p_db *out_db, p2p_error *err) { return p2pgo_db_open((char *)path, (p2p_db_options *)options, out_db, err); }
int32_t p2p_db_close(p2p_db db, p2p_error *err) { return p2pgo_db_close(db, err); }
int32_t p2p_db_delete(const char *path, p2p_error *err) { return p2pgo_db_delete((char *)path, err); }
int32_t p2p_db_exists(const char *path, uint8_t *out_exists, p2p_error *err) { return p2pgo_db_exists((char *)path, out_exists, err); }
int32_t p2p_db_name(p2p_db db, char **out_name, p2p_error *err) { return p2pgo_db_name(db, out_name, err); }
int32_t p2p_db_path(p2p_db db, char **out_path, p2p_error *err) { return p2pgo_db_path(db, out_path, err); }
int32_t p2p_db_uuid(p2p_db db, char **out_uuid, p2p_error *err) { return p2pgo_db_uuid(db, out_uuid, err); }

/* collections */
int32_t p2p_db_default_collection(p2p_db db, p2p_collection *out_coll, p2p_error *err) { return p2pgo_db_default_collection(db, out_coll, err); }
int32_t p2p_db_create_collection(p2p_db db, const char *scope, const char *name, p2p_collection *out_coll, p2p_error *err) { return p2pgo_db_create_collection(db, (char *)scope, (char *)name, out_coll, err); }
int32_t p2p_db_get_collection(p2p_db db, const char *scope, const char *name, p2p_collection *out_coll, p2p_error *err) { return p2pgo_db_get_collection(db, (char *)scope, (char *)name, out_coll, err); }
int32_t p2p_db_delete_collection(p2p_db db, const char *scope, const char *name, p2p_error *err) { return p2pgo_db_delete_collection(db, (char *)scope, (char *)name, err); }
int32_t p2p_db_collection_names(p2p_db db, const char *scope, char **out_json, p2p_error *err) { return p2pgo_db_collection_names(db, (char *)scope, out_json, err); }
int32_t p2p_db_scope_names(p2p_db db, char **out_json, p2p_error *err) { return p2pgo_db_scope_names(db, out_json, err); }
int32_t p2p_collection_close(p2p_collection coll, p2p_error *err) { return p2pgo_collection_close(coll, err); }
int32_t p2p_collection_scope_name(p2p_collection coll, char **out_name, p2p_error *err) { return p2pgo_collection_scope_name(coll, out_name, err); }
int32_t p2p_collection_name(p2p_collection coll, char **out_name, p2p_error *err) { return p2pgo_collection_name(coll, out_name, err); }
int32_t p2p_collection_count(p2p_collection coll, uint64_t *out_count, p2p_error *err) { return p2pgo_collection_count(coll, out_count, err); }
int32_t p2p_collection_last_sequence(p2p_collection coll, uint64_t *out_sequence, p2p_error *err) { return p2pgo_collection_last_sequence(coll, out_sequence, err); }

/* documents */
int32_t p2p_collection_save_document(p2p_collection coll, const char *doc_id, const char *json, const char *parent_rev_id, uint8_t concurrency, p2p_document *out_doc, p2p_error *err) { return p2pgo_collection_save_document(coll, (char *)doc_id, (char *)json, (char *)parent_rev_id, concurrency, out_doc, err); }
int32_t p2p_collection_delete_document(p2p_collection coll, const char *doc_id, const char *parent_rev_id, uint8_t concurrency, p2p_document *out_doc, p2p_error *err) { return p2pgo_collection_delete_document(coll, (char *)doc_id, (char *)parent_rev_id, concurrency, out_doc, err); }
int32_t p2p_collection_purge_document(p2p_collection coll, const char *doc_id, p2p_error *err) { return p2pgo_collection_purge_document(coll, (char *)doc_id, err); }
int32_t p2p_collection_get_document(p2p_collection coll, const char *doc_id, uint8_t include_deleted, p2p_document *out_doc, p2p_error *err) { return p2pgo_collection_get_document(coll, (char *)doc_id, include_deleted, out_doc, err); }
int32_t p2p_collection_get_revision(p2p_collection coll, const char *doc_id, const char *rev_id, p2p_document *out_doc, p2p_error *err) { return p2pgo_collection_get_revision(coll, (char *)doc_id, (char *)rev_id, out_doc, err); }
int32_t p2p_collection_get_conflicts(p2p_collection coll, const char *doc_id, char **out_json, p2p_error *err) { return p2pgo_collection_get_conflicts(coll, (char *)doc_id, out_json, err); }
int32_t p2p_collection_set_document_expiration(p2p_collection coll, const char *doc_id, int64_t unix_ms, p2p_error *err) { return p2pgo_collection_set_document_expiration(coll, (char *)doc_id, unix_ms, err); }
int32_t p2p_collection_get_document_expiration(p2p_collection coll, const char *doc_id, int64_t *out_unix_ms, p2p_error *err) { return p2pgo_collection_get_document_expiration(coll, (char *)doc_id, out_unix_ms, err); }
int32_t p2p_document_close(p2p_document doc, p2p_error *err) { return p2pgo_document_close(doc, err); }
int32_t p2p_document_json(p2p_document doc, char **out_json, p2p_error *err) { return p2pgo_document_json(doc, out_json, err); }
int32_t p2p_document_id(p2p_document doc, char **out_id, p2p_error *err) { return p2pgo_document_id(doc, out_id, err); }
int32_t p2p_document_rev_id(p2p_document doc, char **out_rev_id, p2p_error *err) { return p2pgo_document_rev_id(doc, out_rev_id, err); }
int32_t p2p_document_sequence(p2p_document doc, uint64_t *out_sequence, p2p_error *err) { return p2pgo_document_sequence(doc, out_sequence, err); }
int32_t p2p_document_deleted(p2p_document doc, uint8_t *out_deleted, p2p_error *err) { return p2pgo_document_deleted(doc, out_deleted, err); }

/* local documents */
int32_t p2p_db_get_local(p2p_db db, const char *id, char **out_json, char **out_rev, p2p_error *err) { return p2pgo_db_get_local(db, (char *)id, out_json, out_rev, err); }
int32_t p2p_db_put_local(p2p_db db, const char *id, const char *json, const char *expected_rev, char **out_rev, p2p_error *err) { return p2pgo_db_put_local(db, (char *)id, (char *)json, (char *)expected_rev, out_rev, err); }
int32_t p2p_db_delete_local(p2p_db db, const char *id, p2p_error *err) { return p2pgo_db_delete_local(db, (char *)id, err); }

/* batches */
int32_t p2p_db_begin_batch(p2p_db db, p2p_batch *out_batch, p2p_error *err) { return p2pgo_db_begin_batch(db, out_batch, err); }
int32_t p2p_batch_save_document(p2p_batch batch, p2p_collection coll, const char *doc_id, const char *json, const char *parent_rev_id, uint8_t concurrency, p2p_document *out_doc, p2p_error *err) { return p2pgo_batch_save_document(batch, coll, (char *)doc_id, (char *)json, (char *)parent_rev_id, concurrency, out_doc, err); }
int32_t p2p_batch_delete_document(p2p_batch batch, p2p_collection coll, const char *doc_id, const char *parent_rev_id, uint8_t concurrency, p2p_document *out_doc, p2p_error *err) { return p2pgo_batch_delete_document(batch, coll, (char *)doc_id, (char *)parent_rev_id, concurrency, out_doc, err); }
int32_t p2p_batch_purge_document(p2p_batch batch, p2p_collection coll, const char *doc_id, p2p_error *err) { return p2pgo_batch_purge_document(batch, coll, (char *)doc_id, err); }
int32_t p2p_batch_commit(p2p_batch batch, p2p_error *err) { return p2pgo_batch_commit(batch, err); }
int32_t p2p_batch_abort(p2p_batch batch, p2p_error *err) { return p2pgo_batch_abort(batch, err); }

/* changes */
int32_t p2p_collection_changes(p2p_collection coll, uint64_t since, uint32_t limit, char **out_json, p2p_error *err) { return p2pgo_collection_changes(coll, since, limit, out_json, err); }
int32_t p2p_collection_add_change_listener(p2p_collection coll, p2p_change_fn fn, void *user_data, p2p_subscription *out_token, p2p_error *err) { return p2pgo_collection_add_change_listener(coll, fn, user_data, out_token, err); }
int32_t p2p_collection_add_document_change_listener(p2p_collection coll, const char *doc_id, p2p_change_fn fn, void *user_data, p2p_subscription *out_token, p2p_error *err) { return p2pgo_collection_add_document_change_listener(coll, (char *)doc_id, fn, user_data, out_token, err); }
int32_t p2p_collection_add_change_queue(p2p_collection coll, uint32_t capacity, p2p_subscription *out_token, p2p_error *err) { return p2pgo_collection_add_change_queue(coll, capacity, out_token, err); }
int32_t p2p_subscription_next_event(p2p_subscription token, uint32_t timeout_ms, char **out_json, p2p_error *err) { return p2pgo_subscription_next_event(token, timeout_ms, out_json, err); }
int32_t p2p_subscription_remove(p2p_subscription token, p2p_error *err) { return p2pgo_subscription_remove(token, err); }
