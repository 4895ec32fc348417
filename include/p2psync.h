/* p2psync.h — public C API of libp2psync, an embeddable peer-to-peer JSON document
 * database with sync. All text is NUL-terminated UTF-8.
 *
 * Conventions that hold for every function below (details in README.md):
 *
 *  Handles   Every object is a 64-bit integer handle of its own type (p2p_db,
 *            p2p_collection, ...). 0 is never a valid handle. A stale, unknown or
 *            wrong-kind handle gives P2P_ERR_INVALID_HANDLE and changes nothing.
 *            Closing 0 or an already-closed handle is a no-op returning P2P_OK.
 *            Closing a parent that still has live children (a database with open
 *            collections or batches, a collection with live subscriptions) returns
 *            P2P_ERR_BUSY and closes nothing.
 *  Status    Functions that can fail return int32_t: P2P_OK (0) or a negative
 *            P2P_ERR_* code. New codes may be appended in later versions; treat an
 *            unknown negative code like P2P_ERR_INTERNAL.
 *  Errors    The last parameter `p2p_error *err` is optional (NULL allowed). On
 *            failure it receives {code, domain, message}; release it with
 *            p2p_error_dispose. On success it is left untouched. There is no global
 *            or thread-local "last error".
 *  Ownership Inputs are borrowed for the duration of the call; the library copies
 *            what it keeps. Text returned through `char **out_*` is owned by the
 *            caller and released with p2p_free. On failure out-parameters are left
 *            untouched.
 *  JSON      Document bodies, lists, change events are JSON text. Document bodies
 *            must be JSON objects.
 *  Threads   Every function may be called from any thread, concurrently.
 */
#ifndef P2PSYNC_H
#define P2PSYNC_H

#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__) || defined(__clang__)
#  define P2P_API __attribute__((visibility("default")))
#else
#  define P2P_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- versions */

#define P2P_ABI_VERSION 1u     /* bumped only on an incompatible change; = SONAME major */
#define P2P_VERSION_STRING "1.0.0" /* version of this header; the library reports its own */

/* ABI version of the loaded library; compare with P2P_ABI_VERSION. Never fails. */
P2P_API uint32_t p2p_abi_version(void);

/* Version of the loaded library, e.g. "1.0.0". Static storage: do not free. Never fails. */
P2P_API const char *p2p_version(void);

/* ---------------------------------------------------------------- handles */

typedef uint64_t p2p_db;           /* an open database */
typedef uint64_t p2p_collection;   /* a collection of one open database */
typedef uint64_t p2p_document;     /* an immutable snapshot of one document revision */
typedef uint64_t p2p_batch;        /* an open write transaction of one database */
typedef uint64_t p2p_subscription; /* token of a change listener or change queue */

/* Number of live handles of every kind. Tests assert it is 0 at the end. Never fails. */
P2P_API uint64_t p2p_debug_live_handles(void);

/* ---------------------------------------------------------------- status codes */

#define P2P_OK                      0
#define P2P_ERR_INVALID_ARGUMENT   -1   /* NULL where not allowed, bad UTF-8, bad JSON, bad ID or name */
#define P2P_ERR_INVALID_HANDLE     -2   /* 0, stale, unknown or wrong-kind handle; object already closed */
#define P2P_ERR_NOT_FOUND          -3   /* document, revision, collection or database missing */
#define P2P_ERR_CONFLICT           -4   /* revision conflict on save */
#define P2P_ERR_BUSY               -5   /* live children, database in use by another opener */
#define P2P_ERR_IO                 -6   /* file system or disk error */
#define P2P_ERR_CORRUPT            -7   /* database file unreadable */
#define P2P_ERR_NETWORK            -8   /* connection failed or dropped */
#define P2P_ERR_TLS                -9   /* TLS handshake or certificate failure */
#define P2P_ERR_AUTH              -10   /* peer refused the credentials */
#define P2P_ERR_PROTOCOL          -11   /* peer broke the sync protocol */
#define P2P_ERR_CANCELLED         -12   /* operation stopped by a close or stop */
#define P2P_ERR_TIMEOUT           -13   /* deadline passed */
#define P2P_ERR_UNSUPPORTED       -14   /* option or feature not available in this build */
/* Codes between -15 and -98 are reserved for later versions. */
#define P2P_ERR_INTERNAL          -99   /* a bug in the library, including recovered panics */

/* Static English name of a status, e.g. "P2P_ERR_BUSY"; "P2P_ERR_UNKNOWN" for codes this
 * library does not know. Never NULL, never freed. Never fails. */
P2P_API const char *p2p_status_string(int32_t status);

/* ---------------------------------------------------------------- errors */

#define P2P_DOMAIN_LIBRARY   1   /* code is one of P2P_ERR_* */
#define P2P_DOMAIN_POSIX     2   /* code is an errno value */
#define P2P_DOMAIN_SQLITE    3   /* code is an SQLite (extended) result code */
#define P2P_DOMAIN_WEBSOCKET 4   /* code is a WebSocket close code or HTTP status */

typedef struct p2p_error {
    int32_t code;    /* meaning depends on domain */
    int32_t domain;  /* P2P_DOMAIN_* */
    char   *message; /* owned by the library; release with p2p_error_dispose */
} p2p_error;
#define P2P_ERROR_INIT { 0, 0, NULL }

/* Frees err->message and zeroes *err. Accepts NULL and an already-disposed error. */
P2P_API void p2p_error_dispose(p2p_error *err);

/* Releases memory the library handed out through a `char **out_*` parameter.
 * p2p_free(NULL) is a no-op. */
P2P_API void p2p_free(void *ptr);

/* ---------------------------------------------------------------- database */

typedef struct p2p_db_options {
    uint32_t struct_size;        /* sizeof(p2p_db_options); set by the INIT macro */
    uint8_t  create;             /* 1 = create the database if missing (default); 0 = P2P_ERR_NOT_FOUND */
    uint32_t max_rev_tree_depth; /* revisions kept per document branch; 0 = default (20) */
    /* new fields are appended below this line, never above */
} p2p_db_options;

#define P2P_DB_OPTIONS_INIT { (uint32_t)sizeof(p2p_db_options), 1, 0 }

/* Fills *opts with defaults, including struct_size. For callers that cannot use the macro.
 *   opts  required; written.
 * Returns P2P_OK, P2P_ERR_INVALID_ARGUMENT (opts NULL). */
P2P_API int32_t p2p_db_options_init(p2p_db_options *opts, p2p_error *err);

/* Opens the database stored in directory `path`, creating it if options->create is set.
 * One database may be open by one opener at a time (in any process).
 *   path     borrowed; directory path, created if missing (when create is set).
 *   options  borrowed; NULL means defaults. struct_size is honoured: fields the caller's
 *            struct lacks take their defaults; unknown trailing fields must be zero.
 *   out_db   receives a new handle owned by the caller; release with p2p_db_close.
 * Returns P2P_OK; P2P_ERR_INVALID_ARGUMENT (NULL, bad UTF-8, struct_size too small);
 * P2P_ERR_UNSUPPORTED (non-zero unknown option fields); P2P_ERR_NOT_FOUND (missing and
 * create == 0); P2P_ERR_BUSY (open elsewhere); P2P_ERR_IO (path is a file, not writable);
 * P2P_ERR_CORRUPT. */
P2P_API int32_t p2p_db_open(const char *path, const p2p_db_options *options,
                            p2p_db *out_db, p2p_error *err);

/* Closes the database. Closing 0 or a closed handle returns P2P_OK.
 * Returns P2P_OK, P2P_ERR_INVALID_HANDLE (wrong kind or never issued), P2P_ERR_BUSY
 * (collections or batches of it are still open: nothing is closed), P2P_ERR_IO. */
P2P_API int32_t p2p_db_close(p2p_db db, p2p_error *err);

/* Deletes the closed database stored in directory `path` with everything in it.
 *   path  borrowed.
 * Returns P2P_OK, P2P_ERR_INVALID_ARGUMENT, P2P_ERR_BUSY (still open somewhere),
 * P2P_ERR_IO. Deleting a database that does not exist returns P2P_OK. */
P2P_API int32_t p2p_db_delete(const char *path, p2p_error *err);

/* Sets *out_exists to 1 if a database is stored in directory `path`, else 0.
 * Returns P2P_OK, P2P_ERR_INVALID_ARGUMENT. */
P2P_API int32_t p2p_db_exists(const char *path, uint8_t *out_exists, p2p_error *err);

/* Name of the database (base name of its directory), its directory path, and its
 * UUID (32 lowercase hex characters, fixed at creation).
 *   out_*  receives text owned by the caller; release with p2p_free.
 * Return P2P_OK, P2P_ERR_INVALID_ARGUMENT, P2P_ERR_INVALID_HANDLE. */
P2P_API int32_t p2p_db_name(p2p_db db, char **out_name, p2p_error *err);
P2P_API int32_t p2p_db_path(p2p_db db, char **out_path, p2p_error *err);
P2P_API int32_t p2p_db_uuid(p2p_db db, char **out_uuid, p2p_error *err);

/* ---------------------------------------------------------------- collections */

/* Scope and collection names: 1-251 characters of A-Z a-z 0-9 _ - %, not starting with
 * _ or % (except "_default"). A NULL or empty scope means "_default". */

/* Opens the default collection (_default._default), which always exists.
 *   out_coll  receives a new handle owned by the caller; release with p2p_collection_close.
 * Returns P2P_OK, P2P_ERR_INVALID_ARGUMENT, P2P_ERR_INVALID_HANDLE. */
P2P_API int32_t p2p_db_default_collection(p2p_db db, p2p_collection *out_coll, p2p_error *err);

/* Creates the collection `scope`.`name` if missing (idempotent) and opens it.
 *   scope, name  borrowed.
 *   out_coll     receives a new handle owned by the caller; release with p2p_collection_close.
 * Returns P2P_OK, P2P_ERR_INVALID_ARGUMENT (bad name), P2P_ERR_INVALID_HANDLE, P2P_ERR_IO. */
P2P_API int32_t p2p_db_create_collection(p2p_db db, const char *scope, const char *name,
                                         p2p_collection *out_coll, p2p_error *err);

/* Opens the existing collection `scope`.`name`.
 * Returns P2P_OK, P2P_ERR_NOT_FOUND, P2P_ERR_INVALID_ARGUMENT, P2P_ERR_INVALID_HANDLE. */
P2P_API int32_t p2p_db_get_collection(p2p_db db, const char *scope, const char *name,
                                      p2p_collection *out_coll, p2p_error *err);

/* Deletes collection `scope`.`name` and all its documents. Open handles to it then fail
 * with P2P_ERR_NOT_FOUND. _default._default cannot be deleted (P2P_ERR_INVALID_ARGUMENT).
 * Returns P2P_OK, P2P_ERR_NOT_FOUND, P2P_ERR_INVALID_ARGUMENT, P2P_ERR_INVALID_HANDLE. */
P2P_API int32_t p2p_db_delete_collection(p2p_db db, const char *scope, const char *name,
                                         p2p_error *err);

/* Lists the collection names of `scope` (sorted), or the scopes that hold at least one
 * collection (sorted), as a JSON array of strings.
 *   out_json  receives text owned by the caller; release with p2p_free.
 * Return P2P_OK, P2P_ERR_INVALID_ARGUMENT, P2P_ERR_INVALID_HANDLE. */
P2P_API int32_t p2p_db_collection_names(p2p_db db, const char *scope, char **out_json,
                                        p2p_error *err);
P2P_API int32_t p2p_db_scope_names(p2p_db db, char **out_json, p2p_error *err);

/* Releases a collection handle. Closing 0 or a closed handle returns P2P_OK.
 * Returns P2P_OK, P2P_ERR_INVALID_HANDLE (wrong kind), P2P_ERR_BUSY (subscriptions
 * on it are still registered: nothing is closed). */
P2P_API int32_t p2p_collection_close(p2p_collection coll, p2p_error *err);

/* Scope name and collection name of `coll`.
 *   out_name  receives text owned by the caller; release with p2p_free.
 * Return P2P_OK, P2P_ERR_INVALID_ARGUMENT, P2P_ERR_INVALID_HANDLE. */
P2P_API int32_t p2p_collection_scope_name(p2p_collection coll, char **out_name, p2p_error *err);
P2P_API int32_t p2p_collection_name(p2p_collection coll, char **out_name, p2p_error *err);

/* Number of live (non-deleted) documents; last sequence number assigned (0 if none).
 * Return P2P_OK, P2P_ERR_INVALID_ARGUMENT, P2P_ERR_INVALID_HANDLE, P2P_ERR_NOT_FOUND
 * (collection deleted), P2P_ERR_IO. */
P2P_API int32_t p2p_collection_count(p2p_collection coll, uint64_t *out_count, p2p_error *err);
P2P_API int32_t p2p_collection_last_sequence(p2p_collection coll, uint64_t *out_sequence,
                                             p2p_error *err);

/* ---------------------------------------------------------------- documents */

/* Document IDs are 1-255 bytes of UTF-8. Revision IDs look like "3-<40 hex digits>". */

#define P2P_CONCURRENCY_LAST_WRITE_WINS 0 /* the new revision always follows the current one */
#define P2P_CONCURRENCY_FAIL_ON_CONFLICT 1 /* P2P_ERR_CONFLICT unless parent_rev_id is current */

/* Saves a new revision of document `doc_id` in `coll`.
 *   doc_id         borrowed; document ID.
 *   json           borrowed; the body, a JSON object.
 *   parent_rev_id  borrowed; the revision the caller read, or NULL/"" for a new document.
 *   concurrency    P2P_CONCURRENCY_*. With FAIL_ON_CONFLICT, a NULL parent requires the
 *                  document to be absent or deleted.
 *   out_doc        optional; receives a snapshot of the saved revision, owned by the caller,
 *                  release with p2p_document_close.
 * Returns P2P_OK; P2P_ERR_INVALID_ARGUMENT (NULL, bad UTF-8, bad ID, body not a JSON
 * object, unknown concurrency); P2P_ERR_CONFLICT; P2P_ERR_INVALID_HANDLE;
 * P2P_ERR_NOT_FOUND (collection deleted); P2P_ERR_IO.
 * A write waits while a batch of the same database is open: do not call this on the
 * thread that holds an open batch; write through the batch instead. */
P2P_API int32_t p2p_collection_save_document(p2p_collection coll, const char *doc_id,
                                             const char *json, const char *parent_rev_id,
                                             uint8_t concurrency, p2p_document *out_doc,
                                             p2p_error *err);

/* Deletes document `doc_id` by saving a tombstone revision (replicated as a deletion).
 * Parameters as for p2p_collection_save_document.
 * Returns as p2p_collection_save_document, and P2P_ERR_NOT_FOUND if the document is
 * missing or already deleted. */
P2P_API int32_t p2p_collection_delete_document(p2p_collection coll, const char *doc_id,
                                               const char *parent_rev_id, uint8_t concurrency,
                                               p2p_document *out_doc, p2p_error *err);

/* Removes document `doc_id` and its history entirely: no tombstone, nothing replicated.
 * Returns P2P_OK, P2P_ERR_NOT_FOUND, P2P_ERR_INVALID_ARGUMENT, P2P_ERR_INVALID_HANDLE, P2P_ERR_IO. */
P2P_API int32_t p2p_collection_purge_document(p2p_collection coll, const char *doc_id,
                                              p2p_error *err);

/* Reads the current revision of document `doc_id`.
 *   include_deleted  0: a deleted document is P2P_ERR_NOT_FOUND; 1: its tombstone is returned.
 *   out_doc          receives a snapshot owned by the caller; release with p2p_document_close.
 * Returns P2P_OK, P2P_ERR_NOT_FOUND, P2P_ERR_INVALID_ARGUMENT, P2P_ERR_INVALID_HANDLE, P2P_ERR_IO. */
P2P_API int32_t p2p_collection_get_document(p2p_collection coll, const char *doc_id,
                                            uint8_t include_deleted, p2p_document *out_doc,
                                            p2p_error *err);

/* Reads revision `rev_id` of document `doc_id`, if its body is still kept.
 * Returns as p2p_collection_get_document. */
P2P_API int32_t p2p_collection_get_revision(p2p_collection coll, const char *doc_id,
                                            const char *rev_id, p2p_document *out_doc,
                                            p2p_error *err);

/* Lists the revision IDs of the live conflicting leaves of `doc_id` (all but the current
 * revision) as a JSON array of strings; "[]" when there is no conflict.
 *   out_json  receives text owned by the caller; release with p2p_free.
 * Returns P2P_OK, P2P_ERR_NOT_FOUND, P2P_ERR_INVALID_ARGUMENT, P2P_ERR_INVALID_HANDLE. */
P2P_API int32_t p2p_collection_get_conflicts(p2p_collection coll, const char *doc_id,
                                             char **out_json, p2p_error *err);

/* Sets the time at which `doc_id` is purged automatically, in milliseconds since the Unix
 * epoch; 0 clears it. p2p_collection_get_document_expiration reads it back (0 = none).
 * Return P2P_OK, P2P_ERR_NOT_FOUND, P2P_ERR_INVALID_ARGUMENT, P2P_ERR_INVALID_HANDLE. */
P2P_API int32_t p2p_collection_set_document_expiration(p2p_collection coll, const char *doc_id,
                                                       int64_t unix_ms, p2p_error *err);
P2P_API int32_t p2p_collection_get_document_expiration(p2p_collection coll, const char *doc_id,
                                                       int64_t *out_unix_ms, p2p_error *err);

/* Releases a document snapshot. Closing 0 or a closed handle returns P2P_OK.
 * Returns P2P_OK, P2P_ERR_INVALID_HANDLE (wrong kind). */
P2P_API int32_t p2p_document_close(p2p_document doc, p2p_error *err);

/* Getters of a document snapshot: body as a compact JSON object ("{}" for a tombstone),
 * document ID, revision ID, sequence, and deleted flag (1 = tombstone).
 *   out_*  text is owned by the caller; release with p2p_free.
 * Return P2P_OK, P2P_ERR_INVALID_ARGUMENT (NULL out), P2P_ERR_INVALID_HANDLE. */
P2P_API int32_t p2p_document_json(p2p_document doc, char **out_json, p2p_error *err);
P2P_API int32_t p2p_document_id(p2p_document doc, char **out_id, p2p_error *err);
P2P_API int32_t p2p_document_rev_id(p2p_document doc, char **out_rev_id, p2p_error *err);
P2P_API int32_t p2p_document_sequence(p2p_document doc, uint64_t *out_sequence, p2p_error *err);
P2P_API int32_t p2p_document_deleted(p2p_document doc, uint8_t *out_deleted, p2p_error *err);

/* ---------------------------------------------------------------- local documents */

/* Local documents belong to one database and are never replicated (checkpoints, app
 * metadata). Their revision IDs are opaque strings.
 *
 * p2p_db_get_local: reads local document `id`.
 *   out_json, out_rev  receive text owned by the caller; release each with p2p_free.
 *   Returns P2P_OK, P2P_ERR_NOT_FOUND, P2P_ERR_INVALID_ARGUMENT, P2P_ERR_INVALID_HANDLE.
 * p2p_db_put_local: writes local document `id`.
 *   expected_rev  NULL or "": the document must not exist; "*": no check; otherwise the
 *                 current revision. A mismatch is P2P_ERR_CONFLICT.
 *   out_rev       optional; receives the new revision, owned by the caller (p2p_free).
 *   Returns P2P_OK, P2P_ERR_CONFLICT, P2P_ERR_INVALID_ARGUMENT, P2P_ERR_INVALID_HANDLE, P2P_ERR_IO.
 * p2p_db_delete_local: removes local document `id`.
 *   Returns P2P_OK, P2P_ERR_NOT_FOUND, P2P_ERR_INVALID_ARGUMENT, P2P_ERR_INVALID_HANDLE. */
P2P_API int32_t p2p_db_get_local(p2p_db db, const char *id, char **out_json, char **out_rev,
                                 p2p_error *err);
P2P_API int32_t p2p_db_put_local(p2p_db db, const char *id, const char *json,
                                 const char *expected_rev, char **out_rev, p2p_error *err);
P2P_API int32_t p2p_db_delete_local(p2p_db db, const char *id, p2p_error *err);

/* ---------------------------------------------------------------- batches */

/* A batch is one write transaction: all of its writes become durable together at
 * p2p_batch_commit, or none do (abort, error, or the process dying first). One batch is
 * open per database at a time; p2p_db_begin_batch and other writers wait until it ends.
 * Change listeners hear of the writes after the commit.
 *
 * p2p_db_begin_batch: opens a batch.
 *   out_batch  receives a handle owned by the caller; it is released by p2p_batch_commit
 *              or p2p_batch_abort.
 *   Returns P2P_OK, P2P_ERR_INVALID_ARGUMENT, P2P_ERR_INVALID_HANDLE, P2P_ERR_IO. */
P2P_API int32_t p2p_db_begin_batch(p2p_db db, p2p_batch *out_batch, p2p_error *err);

/* Writes inside a batch; parameters and codes as for the p2p_collection_* equivalents.
 * `coll` must belong to the batch's database (else P2P_ERR_INVALID_ARGUMENT). A failed
 * write leaves the batch open: the caller decides to commit the rest or abort. */
P2P_API int32_t p2p_batch_save_document(p2p_batch batch, p2p_collection coll,
                                        const char *doc_id, const char *json,
                                        const char *parent_rev_id, uint8_t concurrency,
                                        p2p_document *out_doc, p2p_error *err);
P2P_API int32_t p2p_batch_delete_document(p2p_batch batch, p2p_collection coll,
                                          const char *doc_id, const char *parent_rev_id,
                                          uint8_t concurrency, p2p_document *out_doc,
                                          p2p_error *err);
P2P_API int32_t p2p_batch_purge_document(p2p_batch batch, p2p_collection coll,
                                         const char *doc_id, p2p_error *err);

/* Commits the batch and releases its handle, whether the commit succeeds or not (a failed
 * commit leaves nothing written).
 * Returns P2P_OK, P2P_ERR_INVALID_HANDLE (0, stale, already ended), P2P_ERR_IO. */
P2P_API int32_t p2p_batch_commit(p2p_batch batch, p2p_error *err);

/* Discards the batch's writes and releases its handle. Aborting 0 or an ended batch
 * returns P2P_OK. Returns P2P_OK, P2P_ERR_INVALID_HANDLE (wrong kind), P2P_ERR_IO. */
P2P_API int32_t p2p_batch_abort(p2p_batch batch, p2p_error *err);

/* ---------------------------------------------------------------- changes */

/* A change is the JSON object
 *   {"sequence": 12, "id": "doc-1", "rev_id": "2-...", "deleted": false}
 * and an event is the JSON object
 *   {"event": "change", "collection": "scope.name", "changes": [change, ...]}
 * or, from a change queue that overflowed,
 *   {"event": "overflow", "collection": "scope.name", "dropped": 17}.
 */

/* Lists the changes with a sequence above `since`, one per document at its latest
 * sequence, ascending, at most `limit` (0 = no limit), as a JSON array of changes.
 *   out_json  receives text owned by the caller; release with p2p_free.
 * Returns P2P_OK, P2P_ERR_INVALID_ARGUMENT, P2P_ERR_INVALID_HANDLE, P2P_ERR_NOT_FOUND, P2P_ERR_IO. */
P2P_API int32_t p2p_collection_changes(p2p_collection coll, uint64_t since, uint32_t limit,
                                       char **out_json, p2p_error *err);

/* Receives one event per committed write that touched the collection (or the document).
 * Called on a library thread, never with a library lock held, serially and in commit
 * order per subscription. Must return within milliseconds and must not block on the
 * library; it may call the API, including p2p_subscription_remove on its own token.
 *   event_json  borrowed for the duration of the call. */
typedef void (*p2p_change_fn)(p2p_subscription token, const char *event_json, void *user_data);

/* Registers `fn` for changes of the whole collection, or of document `doc_id` only.
 *   fn, user_data  user_data is passed back untouched; it must stay valid until
 *                  p2p_subscription_remove returns.
 *   out_token      receives the subscription, owned by the caller; release with
 *                  p2p_subscription_remove (before closing the collection).
 * Return P2P_OK, P2P_ERR_INVALID_ARGUMENT (NULL fn or out_token, bad doc_id),
 * P2P_ERR_INVALID_HANDLE. */
P2P_API int32_t p2p_collection_add_change_listener(p2p_collection coll, p2p_change_fn fn,
                                                   void *user_data, p2p_subscription *out_token,
                                                   p2p_error *err);
P2P_API int32_t p2p_collection_add_document_change_listener(p2p_collection coll,
                                                            const char *doc_id,
                                                            p2p_change_fn fn, void *user_data,
                                                            p2p_subscription *out_token,
                                                            p2p_error *err);

/* Pull-style alternative to a change listener: collects the collection's events in a
 * bounded queue read with p2p_subscription_next_event. When the queue is full, later
 * events are dropped and counted in one "overflow" event at the point of the gap.
 *   capacity   maximum queued events; 0 = default (1024).
 *   out_token  receives the subscription, owned by the caller; release with
 *              p2p_subscription_remove.
 * Returns P2P_OK, P2P_ERR_INVALID_ARGUMENT, P2P_ERR_INVALID_HANDLE. */
P2P_API int32_t p2p_collection_add_change_queue(p2p_collection coll, uint32_t capacity,
                                                p2p_subscription *out_token, p2p_error *err);

/* Pops the next event of a change queue, waiting up to `timeout_ms` (0 = do not wait).
 *   out_json  receives an event owned by the caller (p2p_free), or NULL on timeout.
 * Returns P2P_OK (also on timeout), P2P_ERR_INVALID_ARGUMENT (NULL out_json, or the
 * token is a callback listener), P2P_ERR_INVALID_HANDLE, P2P_ERR_CANCELLED (the
 * subscription was removed while waiting). */
P2P_API int32_t p2p_subscription_next_event(p2p_subscription token, uint32_t timeout_ms,
                                            char **out_json, p2p_error *err);

/* Unregisters a listener or change queue. Waits until calls in flight return, so that
 * user_data may be freed afterwards; called from inside its own callback it returns
 * without waiting. Removing 0 or a removed token returns P2P_OK.
 * Returns P2P_OK, P2P_ERR_INVALID_HANDLE (wrong kind). */
P2P_API int32_t p2p_subscription_remove(p2p_subscription token, p2p_error *err);

#ifdef __cplusplus
}
#endif
#endif /* P2PSYNC_H */
