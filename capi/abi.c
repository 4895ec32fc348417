/* abi.c — the public symbols of libp2psync.
 *
 * Go exports internal names (p2pgo_*) because cgo's generated prototypes drop
 * `const` and would clash with the hand-written header in one translation unit.
 * Each public p2p_* function below is a one-line forward, so the compiler checks
 * every prototype of include/p2psync.h against what Go exports. The few functions
 * that need no Go (versions, status names, freeing) are written here directly: they
 * cannot panic, and keeping them in C avoids a needless trip through cgo.
 *
 * Fork: the Go runtime inside the library does not survive fork() (the child has one
 * thread, the runtime's other threads are gone, and the first call into Go waits for
 * them forever). A pthread_atfork child handler, registered when the library loads,
 * marks the child; from then on every forward returns P2P_ERR_FORKED from C without
 * entering Go. The functions written in C keep working in the child; the one
 * non-failing forward, p2p_debug_live_handles, answers 0 there (no handle is usable). */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "p2psync.h"
#include "forked.h"
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
    case P2P_ERR_FORKED: return "P2P_ERR_FORKED";
    case P2P_ERR_INTERNAL: return "P2P_ERR_INTERNAL";
    case P2P_ERR_TLS_UNTRUSTED: return "P2P_ERR_TLS_UNTRUSTED";
    case P2P_ERR_TLS_HOSTNAME: return "P2P_ERR_TLS_HOSTNAME";
    case P2P_ERR_TLS_EXPIRED: return "P2P_ERR_TLS_EXPIRED";
    case P2P_ERR_TLS_PIN_MISMATCH: return "P2P_ERR_TLS_PIN_MISMATCH";
    case P2P_ERR_TLS_CLIENT_CERT: return "P2P_ERR_TLS_CLIENT_CERT";
    case P2P_ERR_TLS_VERSION: return "P2P_ERR_TLS_VERSION";
    case P2P_ERR_WRONG_PASSWORD: return "P2P_ERR_WRONG_PASSWORD";
    default: return "P2P_ERR_UNKNOWN";
    }
}

void p2p_free(void *ptr) { free(ptr); }

char *p2p_strdup(const char *text)
{
    if (text == NULL)
        return NULL;
    size_t n = strlen(text) + 1;
    char *copy = malloc(n);
    if (copy != NULL)
        memcpy(copy, text, n);
    return copy;
}

void p2p_error_dispose(p2p_error *err)
{
    if (err == NULL)
        return;
    free(err->message);
    memset(err, 0, sizeof *err);
}

/* ------------------------------------------------------------ fork */

static volatile sig_atomic_t forked; /* set in the child of a fork(); never in the parent */

static void mark_forked(void) { forked = 1; }

/* Registered once per load (glibc unregisters it if the library is unloaded). If the
 * registration fails (out of memory) a child behaves as before: its calls into Go hang. */
__attribute__((constructor)) static void watch_for_fork(void) { pthread_atfork(NULL, NULL, mark_forked); }

/* The failure of every forward in a forked child, filled in C: the message comes from
 * malloc, as p2p_error_dispose expects. */
static int32_t forked_status(p2p_error *err)
{
    if (err != NULL) {
        err->code = P2P_ERR_FORKED;
        err->domain = P2P_DOMAIN_LIBRARY;
        err->message = p2p_strdup(P2P_FORKED_MESSAGE);
    }
    return P2P_ERR_FORKED;
}

/* GO(err, call): makes `call` into Go, or fails with P2P_ERR_FORKED in a forked child. */
#define GO(err, call) (forked ? forked_status(err) : (call))

/* ------------------------------------------------------------ forwards to Go */

uint64_t p2p_debug_live_handles(void) { return forked ? 0 : p2pgo_debug_live_handles(); }

/* database */
int32_t p2p_db_options_init(p2p_db_options *opts, size_t size, p2p_error *err) { return GO(err, p2pgo_db_options_init(opts, size, err)); }
int32_t p2p_db_open(const char *path, const p2p_db_options *options, p2p_db *out_db, p2p_error *err) { return GO(err, p2pgo_db_open((char *)path, (p2p_db_options *)options, out_db, err)); }
int32_t p2p_db_close(p2p_db db, p2p_error *err) { return GO(err, p2pgo_db_close(db, err)); }
int32_t p2p_db_delete(const char *path, p2p_error *err) { return GO(err, p2pgo_db_delete((char *)path, err)); }
int32_t p2p_db_exists(const char *path, uint8_t *out_exists, p2p_error *err) { return GO(err, p2pgo_db_exists((char *)path, out_exists, err)); }
int32_t p2p_db_name(p2p_db db, char **out_name, p2p_error *err) { return GO(err, p2pgo_db_name(db, out_name, err)); }
int32_t p2p_db_path(p2p_db db, char **out_path, p2p_error *err) { return GO(err, p2pgo_db_path(db, out_path, err)); }
int32_t p2p_db_uuid(p2p_db db, char **out_uuid, p2p_error *err) { return GO(err, p2pgo_db_uuid(db, out_uuid, err)); }

/* collections */
int32_t p2p_db_default_collection(p2p_db db, p2p_collection *out_coll, p2p_error *err) { return GO(err, p2pgo_db_default_collection(db, out_coll, err)); }
int32_t p2p_db_create_collection(p2p_db db, const char *scope, const char *name, p2p_collection *out_coll, p2p_error *err) { return GO(err, p2pgo_db_create_collection(db, (char *)scope, (char *)name, out_coll, err)); }
int32_t p2p_db_get_collection(p2p_db db, const char *scope, const char *name, p2p_collection *out_coll, p2p_error *err) { return GO(err, p2pgo_db_get_collection(db, (char *)scope, (char *)name, out_coll, err)); }
int32_t p2p_db_delete_collection(p2p_db db, const char *scope, const char *name, p2p_error *err) { return GO(err, p2pgo_db_delete_collection(db, (char *)scope, (char *)name, err)); }
int32_t p2p_db_collection_names(p2p_db db, const char *scope, char **out_json, p2p_error *err) { return GO(err, p2pgo_db_collection_names(db, (char *)scope, out_json, err)); }
int32_t p2p_db_scope_names(p2p_db db, char **out_json, p2p_error *err) { return GO(err, p2pgo_db_scope_names(db, out_json, err)); }
int32_t p2p_collection_close(p2p_collection coll, p2p_error *err) { return GO(err, p2pgo_collection_close(coll, err)); }
int32_t p2p_collection_scope_name(p2p_collection coll, char **out_name, p2p_error *err) { return GO(err, p2pgo_collection_scope_name(coll, out_name, err)); }
int32_t p2p_collection_name(p2p_collection coll, char **out_name, p2p_error *err) { return GO(err, p2pgo_collection_name(coll, out_name, err)); }
int32_t p2p_collection_count(p2p_collection coll, uint64_t *out_count, p2p_error *err) { return GO(err, p2pgo_collection_count(coll, out_count, err)); }
int32_t p2p_collection_last_sequence(p2p_collection coll, uint64_t *out_sequence, p2p_error *err) { return GO(err, p2pgo_collection_last_sequence(coll, out_sequence, err)); }

/* documents */
int32_t p2p_collection_save_document(p2p_collection coll, const char *doc_id, const char *json, const char *parent_rev_id, uint8_t concurrency, p2p_document *out_doc, p2p_error *err) { return GO(err, p2pgo_collection_save_document(coll, (char *)doc_id, (char *)json, (char *)parent_rev_id, concurrency, out_doc, err)); }
int32_t p2p_collection_delete_document(p2p_collection coll, const char *doc_id, const char *parent_rev_id, uint8_t concurrency, p2p_document *out_doc, p2p_error *err) { return GO(err, p2pgo_collection_delete_document(coll, (char *)doc_id, (char *)parent_rev_id, concurrency, out_doc, err)); }
int32_t p2p_collection_purge_document(p2p_collection coll, const char *doc_id, p2p_error *err) { return GO(err, p2pgo_collection_purge_document(coll, (char *)doc_id, err)); }
int32_t p2p_collection_get_document(p2p_collection coll, const char *doc_id, uint8_t include_deleted, p2p_document *out_doc, p2p_error *err) { return GO(err, p2pgo_collection_get_document(coll, (char *)doc_id, include_deleted, out_doc, err)); }
int32_t p2p_collection_get_revision(p2p_collection coll, const char *doc_id, const char *rev_id, p2p_document *out_doc, p2p_error *err) { return GO(err, p2pgo_collection_get_revision(coll, (char *)doc_id, (char *)rev_id, out_doc, err)); }
int32_t p2p_collection_get_conflicts(p2p_collection coll, const char *doc_id, char **out_json, p2p_error *err) { return GO(err, p2pgo_collection_get_conflicts(coll, (char *)doc_id, out_json, err)); }
int32_t p2p_collection_set_document_expiration(p2p_collection coll, const char *doc_id, int64_t unix_ms, p2p_error *err) { return GO(err, p2pgo_collection_set_document_expiration(coll, (char *)doc_id, unix_ms, err)); }
int32_t p2p_collection_get_document_expiration(p2p_collection coll, const char *doc_id, int64_t *out_unix_ms, p2p_error *err) { return GO(err, p2pgo_collection_get_document_expiration(coll, (char *)doc_id, out_unix_ms, err)); }
int32_t p2p_document_close(p2p_document doc, p2p_error *err) { return GO(err, p2pgo_document_close(doc, err)); }
int32_t p2p_document_json(p2p_document doc, char **out_json, p2p_error *err) { return GO(err, p2pgo_document_json(doc, out_json, err)); }
int32_t p2p_document_id(p2p_document doc, char **out_id, p2p_error *err) { return GO(err, p2pgo_document_id(doc, out_id, err)); }
int32_t p2p_document_rev_id(p2p_document doc, char **out_rev_id, p2p_error *err) { return GO(err, p2pgo_document_rev_id(doc, out_rev_id, err)); }
int32_t p2p_document_sequence(p2p_document doc, uint64_t *out_sequence, p2p_error *err) { return GO(err, p2pgo_document_sequence(doc, out_sequence, err)); }
int32_t p2p_document_deleted(p2p_document doc, uint8_t *out_deleted, p2p_error *err) { return GO(err, p2pgo_document_deleted(doc, out_deleted, err)); }

/* local documents */
int32_t p2p_db_get_local(p2p_db db, const char *id, char **out_json, char **out_rev, p2p_error *err) { return GO(err, p2pgo_db_get_local(db, (char *)id, out_json, out_rev, err)); }
int32_t p2p_db_put_local(p2p_db db, const char *id, const char *json, const char *expected_rev, char **out_rev, p2p_error *err) { return GO(err, p2pgo_db_put_local(db, (char *)id, (char *)json, (char *)expected_rev, out_rev, err)); }
int32_t p2p_db_delete_local(p2p_db db, const char *id, p2p_error *err) { return GO(err, p2pgo_db_delete_local(db, (char *)id, err)); }

/* batches */
int32_t p2p_db_begin_batch(p2p_db db, p2p_batch *out_batch, p2p_error *err) { return GO(err, p2pgo_db_begin_batch(db, out_batch, err)); }
int32_t p2p_batch_save_document(p2p_batch batch, p2p_collection coll, const char *doc_id, const char *json, const char *parent_rev_id, uint8_t concurrency, p2p_document *out_doc, p2p_error *err) { return GO(err, p2pgo_batch_save_document(batch, coll, (char *)doc_id, (char *)json, (char *)parent_rev_id, concurrency, out_doc, err)); }
int32_t p2p_batch_delete_document(p2p_batch batch, p2p_collection coll, const char *doc_id, const char *parent_rev_id, uint8_t concurrency, p2p_document *out_doc, p2p_error *err) { return GO(err, p2pgo_batch_delete_document(batch, coll, (char *)doc_id, (char *)parent_rev_id, concurrency, out_doc, err)); }
int32_t p2p_batch_purge_document(p2p_batch batch, p2p_collection coll, const char *doc_id, p2p_error *err) { return GO(err, p2pgo_batch_purge_document(batch, coll, (char *)doc_id, err)); }
int32_t p2p_batch_commit(p2p_batch batch, p2p_error *err) { return GO(err, p2pgo_batch_commit(batch, err)); }
int32_t p2p_batch_abort(p2p_batch batch, p2p_error *err) { return GO(err, p2pgo_batch_abort(batch, err)); }

/* changes */
int32_t p2p_collection_changes(p2p_collection coll, uint64_t since, uint32_t limit, char **out_json, p2p_error *err) { return GO(err, p2pgo_collection_changes(coll, since, limit, out_json, err)); }
int32_t p2p_collection_add_change_listener(p2p_collection coll, p2p_change_fn fn, void *user_data, p2p_subscription *out_token, p2p_error *err) { return GO(err, p2pgo_collection_add_change_listener(coll, fn, user_data, out_token, err)); }
int32_t p2p_collection_add_document_change_listener(p2p_collection coll, const char *doc_id, p2p_change_fn fn, void *user_data, p2p_subscription *out_token, p2p_error *err) { return GO(err, p2pgo_collection_add_document_change_listener(coll, (char *)doc_id, fn, user_data, out_token, err)); }
int32_t p2p_collection_add_change_queue(p2p_collection coll, uint32_t capacity, p2p_subscription *out_token, p2p_error *err) { return GO(err, p2pgo_collection_add_change_queue(coll, capacity, out_token, err)); }
int32_t p2p_subscription_next_event(p2p_subscription token, uint32_t timeout_ms, char **out_json, p2p_error *err) { return GO(err, p2pgo_subscription_next_event(token, timeout_ms, out_json, err)); }
int32_t p2p_subscription_remove(p2p_subscription token, p2p_error *err) { return GO(err, p2pgo_subscription_remove(token, err)); }

/* TLS identities */
int32_t p2p_tls_identity_options_init(p2p_tls_identity_options *opts, size_t size, p2p_error *err) { return GO(err, p2pgo_tls_identity_options_init(opts, size, err)); }
int32_t p2p_tls_identity_create(const p2p_tls_identity_options *options, p2p_tls_identity *out_identity, p2p_error *err) { return GO(err, p2pgo_tls_identity_create((p2p_tls_identity_options *)options, out_identity, err)); }
int32_t p2p_tls_identity_import_pkcs12(const uint8_t *data, size_t len, const char *password, p2p_tls_identity *out_identity, p2p_error *err) { return GO(err, p2pgo_tls_identity_import_pkcs12((uint8_t *)data, len, (char *)password, out_identity, err)); }
int32_t p2p_tls_identity_export_pkcs12(p2p_tls_identity identity, const char *password, uint8_t **out_data, size_t *out_len, p2p_error *err) { return GO(err, p2pgo_tls_identity_export_pkcs12(identity, (char *)password, out_data, out_len, err)); }
int32_t p2p_tls_identity_import_pem(const char *cert_pem, const char *key_pem, const char *password, p2p_tls_identity *out_identity, p2p_error *err) { return GO(err, p2pgo_tls_identity_import_pem((char *)cert_pem, (char *)key_pem, (char *)password, out_identity, err)); }
int32_t p2p_tls_identity_export_pem(p2p_tls_identity identity, const char *password, char **out_cert_pem, char **out_key_pem, p2p_error *err) { return GO(err, p2pgo_tls_identity_export_pem(identity, (char *)password, out_cert_pem, out_key_pem, err)); }
int32_t p2p_tls_identity_fingerprint(p2p_tls_identity identity, char **out_hex, p2p_error *err) { return GO(err, p2pgo_tls_identity_fingerprint(identity, out_hex, err)); }
int32_t p2p_tls_identity_not_after(p2p_tls_identity identity, int64_t *out_unix_ms, p2p_error *err) { return GO(err, p2pgo_tls_identity_not_after(identity, out_unix_ms, err)); }
int32_t p2p_tls_identity_chain_pem(p2p_tls_identity identity, char **out_pem, p2p_error *err) { return GO(err, p2pgo_tls_identity_chain_pem(identity, out_pem, err)); }
int32_t p2p_tls_certificate_fingerprint(const char *cert_pem, char **out_hex, p2p_error *err) { return GO(err, p2pgo_tls_certificate_fingerprint((char *)cert_pem, out_hex, err)); }
int32_t p2p_tls_fingerprint_normalize(const char *fingerprint, char **out_hex, p2p_error *err) { return GO(err, p2pgo_tls_fingerprint_normalize((char *)fingerprint, out_hex, err)); }
int32_t p2p_tls_identity_close(p2p_tls_identity identity, p2p_error *err) { return GO(err, p2pgo_tls_identity_close(identity, err)); }

/* keystores */
int32_t p2p_keystore_open(const char *path, const char *password, p2p_keystore *out_keystore, p2p_error *err) { return GO(err, p2pgo_keystore_open((char *)path, (char *)password, out_keystore, err)); }
int32_t p2p_keystore_store(p2p_keystore keystore, const char *label, p2p_tls_identity identity, p2p_error *err) { return GO(err, p2pgo_keystore_store(keystore, (char *)label, identity, err)); }
int32_t p2p_keystore_get(p2p_keystore keystore, const char *label, p2p_tls_identity *out_identity, p2p_error *err) { return GO(err, p2pgo_keystore_get(keystore, (char *)label, out_identity, err)); }
int32_t p2p_keystore_list(p2p_keystore keystore, char **out_json, p2p_error *err) { return GO(err, p2pgo_keystore_list(keystore, out_json, err)); }
int32_t p2p_keystore_delete(p2p_keystore keystore, const char *label, p2p_error *err) { return GO(err, p2pgo_keystore_delete(keystore, (char *)label, err)); }
int32_t p2p_keystore_close(p2p_keystore keystore, p2p_error *err) { return GO(err, p2pgo_keystore_close(keystore, err)); }

/* listener */
int32_t p2p_listener_options_init(p2p_listener_options *opts, size_t size, p2p_error *err) { return GO(err, p2pgo_listener_options_init(opts, size, err)); }
int32_t p2p_listener_create(p2p_db db, const p2p_listener_options *options, p2p_listener *out_listener, p2p_error *err) { return GO(err, p2pgo_listener_create(db, (p2p_listener_options *)options, out_listener, err)); }
int32_t p2p_listener_start(p2p_listener listener, p2p_error *err) { return GO(err, p2pgo_listener_start(listener, err)); }
int32_t p2p_listener_stop(p2p_listener listener, p2p_error *err) { return GO(err, p2pgo_listener_stop(listener, err)); }
int32_t p2p_listener_port(p2p_listener listener, uint16_t *out_port, p2p_error *err) { return GO(err, p2pgo_listener_port(listener, out_port, err)); }
int32_t p2p_listener_urls(p2p_listener listener, char **out_json, p2p_error *err) { return GO(err, p2pgo_listener_urls(listener, out_json, err)); }
int32_t p2p_listener_status(p2p_listener listener, char **out_json, p2p_error *err) { return GO(err, p2pgo_listener_status(listener, out_json, err)); }
int32_t p2p_listener_tls_identity(p2p_listener listener, p2p_tls_identity *out_identity, p2p_error *err) { return GO(err, p2pgo_listener_tls_identity(listener, out_identity, err)); }
int32_t p2p_listener_close(p2p_listener listener, p2p_error *err) { return GO(err, p2pgo_listener_close(listener, err)); }

/* replicator */
int32_t p2p_replication_collection_init(p2p_replication_collection *coll, size_t size, p2p_error *err) { return GO(err, p2pgo_replication_collection_init(coll, size, err)); }
int32_t p2p_replicator_options_init(p2p_replicator_options *opts, size_t size, p2p_error *err) { return GO(err, p2pgo_replicator_options_init(opts, size, err)); }
int32_t p2p_replicator_create(p2p_db db, const p2p_replicator_options *options, p2p_replicator *out_replicator, p2p_error *err) { return GO(err, p2pgo_replicator_create(db, (p2p_replicator_options *)options, out_replicator, err)); }
int32_t p2p_replicator_start(p2p_replicator repl, uint8_t reset_checkpoint, p2p_error *err) { return GO(err, p2pgo_replicator_start(repl, reset_checkpoint, err)); }
int32_t p2p_replicator_stop(p2p_replicator repl, p2p_error *err) { return GO(err, p2pgo_replicator_stop(repl, err)); }
int32_t p2p_replicator_status(p2p_replicator repl, char **out_json, p2p_error *err) { return GO(err, p2pgo_replicator_status(repl, out_json, err)); }
int32_t p2p_replicator_stats(p2p_replicator repl, char **out_json, p2p_error *err) { return GO(err, p2pgo_replicator_stats(repl, out_json, err)); }
int32_t p2p_replicator_add_status_listener(p2p_replicator repl, p2p_replicator_event_fn fn, void *user_data, p2p_subscription *out_token, p2p_error *err) { return GO(err, p2pgo_replicator_add_status_listener(repl, fn, user_data, out_token, err)); }
int32_t p2p_replicator_add_document_listener(p2p_replicator repl, p2p_replicator_event_fn fn, void *user_data, p2p_subscription *out_token, p2p_error *err) { return GO(err, p2pgo_replicator_add_document_listener(repl, fn, user_data, out_token, err)); }
int32_t p2p_replicator_add_event_queue(p2p_replicator repl, uint32_t capacity, p2p_subscription *out_token, p2p_error *err) { return GO(err, p2pgo_replicator_add_event_queue(repl, capacity, out_token, err)); }
int32_t p2p_replicator_pending_document_ids(p2p_replicator repl, p2p_collection coll, char **out_json, p2p_error *err) { return GO(err, p2pgo_replicator_pending_document_ids(repl, coll, out_json, err)); }
int32_t p2p_replicator_is_document_pending(p2p_replicator repl, p2p_collection coll, const char *doc_id, uint8_t *out_pending, p2p_error *err) { return GO(err, p2pgo_replicator_is_document_pending(repl, coll, (char *)doc_id, out_pending, err)); }
int32_t p2p_replicator_server_certificate(p2p_replicator repl, char **out_pem, p2p_error *err) { return GO(err, p2pgo_replicator_server_certificate(repl, out_pem, err)); }
int32_t p2p_replicator_close(p2p_replicator repl, p2p_error *err) { return GO(err, p2pgo_replicator_close(repl, err)); }

/* blobs */
int32_t p2p_blob_create(p2p_db db, const uint8_t *data, size_t len, const char *content_type, char **out_blob_json, p2p_error *err) { return GO(err, p2pgo_blob_create(db, (uint8_t *)data, len, (char *)content_type, out_blob_json, err)); }
int32_t p2p_blob_create_from_file(p2p_db db, const char *path, const char *content_type, char **out_blob_json, p2p_error *err) { return GO(err, p2pgo_blob_create_from_file(db, (char *)path, (char *)content_type, out_blob_json, err)); }
int32_t p2p_blob_writer_create(p2p_db db, const char *content_type, p2p_blob_writer *out_writer, p2p_error *err) { return GO(err, p2pgo_blob_writer_create(db, (char *)content_type, out_writer, err)); }
int32_t p2p_blob_writer_write(p2p_blob_writer writer, const uint8_t *data, size_t len, p2p_error *err) { return GO(err, p2pgo_blob_writer_write(writer, (uint8_t *)data, len, err)); }
int32_t p2p_blob_writer_finish(p2p_blob_writer writer, char **out_blob_json, p2p_error *err) { return GO(err, p2pgo_blob_writer_finish(writer, out_blob_json, err)); }
int32_t p2p_blob_writer_close(p2p_blob_writer writer, p2p_error *err) { return GO(err, p2pgo_blob_writer_close(writer, err)); }
int32_t p2p_blob_reader_open(p2p_db db, const char *blob, p2p_blob_reader *out_reader, p2p_error *err) { return GO(err, p2pgo_blob_reader_open(db, (char *)blob, out_reader, err)); }
int32_t p2p_blob_reader_read(p2p_blob_reader reader, uint8_t *buf, size_t capacity, size_t *out_read, p2p_error *err) { return GO(err, p2pgo_blob_reader_read(reader, buf, capacity, out_read, err)); }
int32_t p2p_blob_reader_length(p2p_blob_reader reader, uint64_t *out_length, p2p_error *err) { return GO(err, p2pgo_blob_reader_length(reader, out_length, err)); }
int32_t p2p_blob_reader_close(p2p_blob_reader reader, p2p_error *err) { return GO(err, p2pgo_blob_reader_close(reader, err)); }
int32_t p2p_blob_save_to_file(p2p_db db, const char *blob, const char *path, p2p_error *err) { return GO(err, p2pgo_blob_save_to_file(db, (char *)blob, (char *)path, err)); }
int32_t p2p_blob_info(p2p_db db, const char *blob, char **out_blob_json, p2p_error *err) { return GO(err, p2pgo_blob_info(db, (char *)blob, out_blob_json, err)); }
int32_t p2p_blob_exists(p2p_db db, const char *blob, uint8_t *out_exists, p2p_error *err) { return GO(err, p2pgo_blob_exists(db, (char *)blob, out_exists, err)); }
int32_t p2p_db_compact(p2p_db db, char **out_json, p2p_error *err) { return GO(err, p2pgo_db_compact(db, out_json, err)); }

/* logging */
int32_t p2p_log_set_callback(uint32_t level, uint32_t domains, p2p_log_fn fn, void *user_data, p2p_error *err) { return GO(err, p2pgo_log_set_callback(level, domains, fn, user_data, err)); }
int32_t p2p_log_set_console(uint32_t level, uint32_t domains, p2p_error *err) { return GO(err, p2pgo_log_set_console(level, domains, err)); }
int32_t p2p_log_settings(char **out_json, p2p_error *err) { return GO(err, p2pgo_log_settings(out_json, err)); }

/* queries */
int32_t p2p_query_prepare(p2p_db db, const char *text, p2p_query *out_query, p2p_error *err) { return GO(err, p2pgo_query_prepare(db, (char *)text, out_query, err)); }
int32_t p2p_query_columns(p2p_query query, char **out_json, p2p_error *err) { return GO(err, p2pgo_query_columns(query, out_json, err)); }
int32_t p2p_query_execute(p2p_query query, const char *params_json, p2p_error *err) { return GO(err, p2pgo_query_execute(query, (char *)params_json, err)); }
int32_t p2p_query_next(p2p_query query, char **out_row_json, p2p_error *err) { return GO(err, p2pgo_query_next(query, out_row_json, err)); }
int32_t p2p_query_explain(p2p_query query, char **out_text, p2p_error *err) { return GO(err, p2pgo_query_explain(query, out_text, err)); }
int32_t p2p_query_close(p2p_query query, p2p_error *err) { return GO(err, p2pgo_query_close(query, err)); }

/* versions */
int32_t p2p_document_version(p2p_document doc, char **out_version, p2p_error *err) { return GO(err, p2pgo_document_version(doc, out_version, err)); }
int32_t p2p_document_timestamp(p2p_document doc, uint64_t *out_timestamp, p2p_error *err) { return GO(err, p2pgo_document_timestamp(doc, out_timestamp, err)); }
int32_t p2p_document_version_vector(p2p_document doc, char **out_vector, p2p_error *err) { return GO(err, p2pgo_document_version_vector(doc, out_vector, err)); }
int32_t p2p_db_source_id(p2p_db db, char **out_source_id, p2p_error *err) { return GO(err, p2pgo_db_source_id(db, out_source_id, err)); }

int32_t p2p_query_add_listener(p2p_query query, const char *params_json, p2p_query_listener_fn fn, void *user_data, p2p_subscription *out_token, p2p_error *err) { return GO(err, p2pgo_query_add_listener(query, (char *)params_json, fn, user_data, out_token, err)); }

/* bulk documents */
int32_t p2p_batch_save_documents(p2p_batch batch, p2p_collection coll, size_t count, const char *const *doc_ids, const char *const *jsons, const char *const *parent_rev_ids, uint8_t concurrency, size_t *out_saved, char **out_results_json, p2p_error *err) { return GO(err, p2pgo_batch_save_documents(batch, coll, count, (char **)doc_ids, (char **)jsons, (char **)parent_rev_ids, concurrency, out_saved, out_results_json, err)); }
int32_t p2p_collection_get_documents(p2p_collection coll, size_t count, const char *const *doc_ids, uint8_t include_deleted, char **out_json, p2p_error *err) { return GO(err, p2pgo_collection_get_documents(coll, count, (char **)doc_ids, include_deleted, out_json, err)); }
