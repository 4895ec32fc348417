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
 *            collections, batches, listeners or replicators; a collection or a
 *            replicator with live subscriptions) returns P2P_ERR_BUSY and closes
 *            nothing.
 *  Status    Functions that can fail return int32_t: P2P_OK (0) or a negative
 *            P2P_ERR_* code. A code is a primary code (-1..-255) or an extended code
 *            that refines one: -(primary | n << 8), as SQLite's extended result codes;
 *            P2P_ERR_PRIMARY(rc) gives the primary code of either (see "status codes").
 *            New codes may be appended in later versions; treat an unknown negative
 *            code by its primary code, and an unknown primary like P2P_ERR_INTERNAL.
 *  Errors    The last parameter `p2p_error *err` is optional (NULL allowed). On
 *            failure it receives {code, domain, message}; release it with
 *            p2p_error_dispose. On success it is left untouched. There is no global
 *            or thread-local "last error".
 *  Ownership Inputs are borrowed for the duration of the call; the library copies
 *            what it keeps. Text returned through `char **out_*` is owned by the
 *            caller and released with p2p_free. On failure out-parameters are left
 *            untouched.
 *  Binary    The one exception to "all text": PKCS#12 files are binary, so they
 *            travel as (const uint8_t *data, size_t len) inputs and
 *            (uint8_t **out_data, size_t *out_len) outputs released with p2p_free.
 *            Certificates and keys are always PEM text.
 *  JSON      Document bodies, lists, change events are JSON text. Document bodies
 *            must be JSON objects.
 *  Threads   Every function is thread-safe: it may be called from any thread,
 *            concurrently with any other, unless its comment says otherwise. Calls on
 *            one handle that must not overlap are serialised by the library (the second
 *            waits). The restrictions are about callbacks: a function that waits for a
 *            callback to return must not be called from inside that callback; each such
 *            case is named below ("Must not be called from inside ..." or "Not from
 *            inside ...").
 *  Blocking  Every function returns promptly unless its comment says "Blocks:",
 *            naming what it waits for: disk I/O (files, fsync, SQLite), another thread
 *            (an open batch, a callback in flight, connections ending), or time (a
 *            timeout, key generation). "Promptly" means it takes at most short internal
 *            locks and does no file or network I/O. Listeners and replicators do their
 *            network work on library threads and report by status and events; only the
 *            functions that stop them wait for that work to end, as they say.
 *  Options   Options structs (p2p_*_options, p2p_replication_collection) can grow. See
 *            "options structs" below: a struct starts with its size, every default is
 *            zero, and P2P_*_INIT / p2p_*_init fill it.
 *  Fork      The library cannot be used in a child process created by fork() after it
 *            was loaded (its Go runtime does not survive a fork). There every function
 *            that returns a status returns P2P_ERR_FORKED at once (never hangs, never
 *            enters the runtime); p2p_abi_version, p2p_version, p2p_status_string,
 *            p2p_error_dispose, p2p_free and p2p_strdup keep working, and
 *            p2p_debug_live_handles returns 0. The parent is unaffected. Start workers
 *            with exec or posix_spawn (Python multiprocessing: the "spawn" or
 *            "forkserver" start method), or load the library only after the fork.
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

#define P2P_ABI_VERSION 2u     /* bumped only on an incompatible change; = SONAME major */
#define P2P_VERSION_STRING "2.0.0" /* version of this header; the library reports its own */

/* ABI version of the loaded library; compare with P2P_ABI_VERSION. Never fails. */
P2P_API uint32_t p2p_abi_version(void);

/* Version of the loaded library, e.g. "2.0.0". Static storage: do not free. Never fails. */
P2P_API const char *p2p_version(void);

/* ---------------------------------------------------------------- handles */

typedef uint64_t p2p_db;           /* an open database */
typedef uint64_t p2p_collection;   /* a collection of one open database */
typedef uint64_t p2p_document;     /* an immutable snapshot of one document revision */
typedef uint64_t p2p_batch;        /* an open write transaction of one database */
typedef uint64_t p2p_subscription; /* token of a listener callback or event queue */
typedef uint64_t p2p_tls_identity; /* a private key with its certificate chain (immutable) */
typedef uint64_t p2p_keystore;     /* an open password-protected file of identities */
typedef uint64_t p2p_listener;     /* serves one open database to replicators */
typedef uint64_t p2p_replicator;   /* syncs one open database with one listener */
typedef uint64_t p2p_blob_writer;  /* a blob being written into one open database */
typedef uint64_t p2p_blob_reader;  /* a blob of one open database being read */
typedef uint64_t p2p_query;        /* a compiled query of one open database */

/* Number of live handles of every kind. Tests assert it is 0 at the end. Never fails.
 * In a child forked after the library was loaded it returns 0: no handle works there. */
P2P_API uint64_t p2p_debug_live_handles(void);

/* ---------------------------------------------------------------- status codes */

/* A status is 0 or negative. Primary codes are -1..-255; an extended code refines one
 * primary code and is -(primary | n << 8) with n = 1..0x7fffff, in the manner of SQLite's
 * extended result codes. So one test answers "is this a TLS problem?" for every TLS
 * code, those of today and those added later, without knowing them:
 *     if (P2P_ERR_PRIMARY(rc) == P2P_ERR_TLS) ...
 * Codes stay negative (rather than SQLite's positive ones) so that `rc < 0` keeps
 * meaning "failed" and `rc == P2P_OK` success; P2P_ERR_PRIMARY is the mask applied to
 * the magnitude. A primary code never has extended bits; the value of every code is
 * written out below (the compositions are in the comments). */
#define P2P_ERR_PRIMARY(rc) \
    ((int32_t)(rc) < 0 ? (int32_t) - ((-(int64_t)(rc)) & 0xff) : (int32_t)(rc))

#define P2P_OK                      0
#define P2P_ERR_INVALID_ARGUMENT   -1   /* NULL where not allowed, bad UTF-8, bad JSON, bad ID or name */
#define P2P_ERR_INVALID_HANDLE     -2   /* 0, stale, unknown or wrong-kind handle; object already closed */
#define P2P_ERR_NOT_FOUND          -3   /* document, revision, collection or database missing */
#define P2P_ERR_CONFLICT           -4   /* revision conflict on save */
#define P2P_ERR_BUSY               -5   /* live children, database in use by another opener */
#define P2P_ERR_IO                 -6   /* file system or disk error */
#define P2P_ERR_CORRUPT            -7   /* database file unreadable */
#define P2P_ERR_NETWORK            -8   /* connection failed or dropped, or the peer asked to retry later */
#define P2P_ERR_TLS                -9   /* TLS handshake or certificate failure; primary code of
                                         * the P2P_ERR_TLS_* codes */
#define P2P_ERR_AUTH              -10   /* credentials refused: by the peer (this code itself), or
                                         * a password that opens no local secret
                                         * (P2P_ERR_WRONG_PASSWORD); primary code of both */
#define P2P_ERR_PROTOCOL          -11   /* peer broke the sync protocol */
#define P2P_ERR_CANCELLED         -12   /* operation stopped by a close or stop */
#define P2P_ERR_TIMEOUT           -13   /* deadline passed */
#define P2P_ERR_UNSUPPORTED       -14   /* option or feature not available in this build */
#define P2P_ERR_FORKED            -22   /* called in a child process forked after the library was
                                         * loaded: unusable there (see "Fork" above) */
/* Primary codes -15..-21 (used by ABI 1) and -23..-98, -100..-255 are reserved. */
#define P2P_ERR_INTERNAL          -99   /* a bug in the library, including recovered panics */

/* Extended codes of P2P_ERR_TLS: each names exactly what was refused. */
#define P2P_ERR_TLS_UNTRUSTED    -265   /* -(TLS | 1 << 8): peer certificate not trusted in this trust mode */
#define P2P_ERR_TLS_HOSTNAME     -521   /* -(TLS | 2 << 8): trusted certificate, but not issued for the
                                         * host dialled */
#define P2P_ERR_TLS_EXPIRED      -777   /* -(TLS | 3 << 8): certificate expired or not yet valid */
#define P2P_ERR_TLS_PIN_MISMATCH -1033  /* -(TLS | 4 << 8): server certificate is not the pinned one */
#define P2P_ERR_TLS_CLIENT_CERT  -1289  /* -(TLS | 5 << 8): listener requires a client certificate,
                                         * or refused ours */
#define P2P_ERR_TLS_VERSION      -1545  /* -(TLS | 6 << 8): peer speaks only TLS versions below 1.2 */
/* Extended codes of P2P_ERR_AUTH. */
#define P2P_ERR_WRONG_PASSWORD   -266   /* -(AUTH | 1 << 8): password does not open a keystore,
                                         * PKCS#12 file or key */

/* Static English name of a status, e.g. "P2P_ERR_BUSY" or "P2P_ERR_TLS_EXPIRED";
 * "P2P_ERR_UNKNOWN" for codes this library does not know. Never NULL, never freed. Never fails. */
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

/* Releases memory the library handed out through a `char **out_*` or `uint8_t **out_*`
 * parameter. p2p_free(NULL) is a no-op. */
P2P_API void p2p_free(void *ptr);

/* Copies `text` into memory from the library's allocator, or returns NULL for NULL text or
 * when memory is exhausted. It is how a callback hands text over to the library through an
 * out-parameter (the conflict resolver's merged body): the library takes ownership and
 * releases it. Text obtained here and not handed over is released with p2p_free. */
P2P_API char *p2p_strdup(const char *text);

/* ---------------------------------------------------------------- options structs */

/* Every options struct (p2p_db_options, p2p_tls_identity_options, p2p_listener_options,
 * p2p_replication_collection, p2p_replicator_options) follows these rules, which let it
 * grow in later 2.x versions without breaking programs built against an older header:
 *
 *  - Its first field is `uint32_t struct_size`, the size of the struct as the caller's
 *    header declared it. The library reads exactly struct_size bytes, never more.
 *  - Every default is zero: a field the caller leaves zero means "the default", and a
 *    flag is named for what setting it to 1 does (`read_only`, `continuous`,
 *    `enable_delta_sync`, or `disable_*` for what is on by default). So the fields a
 *    shorter (older) struct lacks simply take their defaults.
 *  - Fill one with its INIT macro, which is {sizeof(the struct)} with every other field
 *    zero (P2P_OPTIONS_INIT_ below), or with its init function
 *    p2p_X_init(opts, sizeof *opts, err), which zeroes `size` bytes and sets
 *    struct_size = size.
 *  - The library accepts any struct_size from P2P_OPTIONS_MIN_SIZE up: it zero-fills its
 *    own copy, copies the smaller of the caller's and its own size, and refuses a caller's
 *    tail beyond its own size unless every byte of it is zero (P2P_ERR_UNSUPPORTED: the
 *    caller set an option this library does not know). A struct_size below
 *    P2P_OPTIONS_MIN_SIZE, not a multiple of 8 (it would cut a field in two), or above
 *    P2P_OPTIONS_MAX_SIZE is refused with P2P_ERR_INVALID_ARGUMENT.
 *  - No struct has implicit padding: holes and tails are explicit `reserved*` fields,
 *    which must be zero (else P2P_ERR_UNSUPPORTED). A later version may give a reserved
 *    field a meaning whose default is zero. tests/c/test_abi_layout.c holds every public
 *    struct's offsets and size against tests/c/abi_layout.golden (LP64).
 *  - New fields are only ever appended (or carved out of reserved bytes); fields are
 *    never removed, reordered or retyped within ABI 2.
 * The minimum is the one layout every options struct of ABI 2 starts with, its first 8
 * bytes (struct_size and the 4 bytes beside it): since every default is zero, every
 * whole-field prefix of a struct is a layout an older header may have had. */
#define P2P_OPTIONS_MIN_SIZE 8u
#define P2P_OPTIONS_MAX_SIZE 65536u

/* P2P_OPTIONS_INIT_(T): the value of an options struct T with struct_size = sizeof(T) and
 * every other field zero, that is {sizeof(T)}. Written with a designated initializer in
 * C (so that -Wextra's missing-field-initializers stays quiet) and as a value-initialised
 * copy in C++, which has designated initializers only from C++20. The P2P_*_INIT macros
 * below use it. */
#ifdef __cplusplus
#  define P2P_OPTIONS_INIT_(T) ([]() { T o_ = T(); o_.struct_size = (uint32_t)sizeof(T); return o_; }())
#else
#  define P2P_OPTIONS_INIT_(T) { .struct_size = (uint32_t)sizeof(T) }
#endif

/* ---------------------------------------------------------------- database */

typedef struct p2p_db_options {
    uint32_t struct_size;        /* sizeof(p2p_db_options); set by the INIT macro */
    uint32_t max_rev_tree_depth; /* revisions kept per document branch; 0 = default (20) */
    uint8_t  disable_create;     /* 1 = a missing database is P2P_ERR_NOT_FOUND; 0 = it is
                                  * created (default) */
    uint8_t  disable_delta_sync; /* 1 = this database never sends nor accepts delta-encoded
                                  * revisions, whatever its listeners and replicators ask;
                                  * 0 = permitted (default): deltas are then used where both
                                  * the listener and the replicator enable them */
    uint8_t  reserved[6];        /* zero */
    /* new fields are appended below this line, never above */
} p2p_db_options;

#define P2P_DB_OPTIONS_INIT P2P_OPTIONS_INIT_(p2p_db_options)

/* Fills the caller's `size` bytes at *opts with zeroes (the defaults) and sets
 * struct_size = size. Pass sizeof *opts. For callers that cannot use the macro.
 *   opts  required; written (size bytes).
 * Returns P2P_OK, P2P_ERR_INVALID_ARGUMENT (opts NULL, size outside the rules above). */
P2P_API int32_t p2p_db_options_init(p2p_db_options *opts, size_t size, p2p_error *err);

/* Opens the database stored in directory `path`, creating it unless
 * options->disable_create is set. One database may be open by one opener at a time (in
 * any process).
 *   path     borrowed; directory path, created if missing (unless disable_create).
 *   options  borrowed; NULL means defaults. Read as "options structs" says.
 *   out_db   receives a new handle owned by the caller; release with p2p_db_close.
 * Returns P2P_OK; P2P_ERR_INVALID_ARGUMENT (NULL, bad UTF-8, bad struct_size);
 * P2P_ERR_UNSUPPORTED (non-zero unknown or reserved option fields); P2P_ERR_NOT_FOUND
 * (missing and disable_create); P2P_ERR_BUSY (open elsewhere); P2P_ERR_IO (path is a file, not writable);
 * P2P_ERR_CORRUPT (the database file is empty, truncated, not a database or from a newer
 * version; the message says which, and the file is left untouched). A new database file is
 * written whole before it takes its name, so an empty one is lost data, never a database
 * whose creation was interrupted.
 * Blocks: disk I/O (opening or creating the database file). */
P2P_API int32_t p2p_db_open(const char *path, const p2p_db_options *options,
                            p2p_db *out_db, p2p_error *err);

/* Closes the database. Closing 0 or a closed handle returns P2P_OK.
 * Returns P2P_OK, P2P_ERR_INVALID_HANDLE (wrong kind or never issued), P2P_ERR_BUSY
 * (collections or batches of it are still open: nothing is closed), P2P_ERR_IO.
 * Blocks: disk I/O (the database file is flushed and closed). */
P2P_API int32_t p2p_db_close(p2p_db db, p2p_error *err);

/* Deletes the closed database stored in directory `path` with everything in it.
 *   path  borrowed.
 * Returns P2P_OK, P2P_ERR_INVALID_ARGUMENT, P2P_ERR_BUSY (still open somewhere),
 * P2P_ERR_IO. Deleting a database that does not exist returns P2P_OK.
 * Blocks: disk I/O. */
P2P_API int32_t p2p_db_delete(const char *path, p2p_error *err);

/* Sets *out_exists to 1 if a database is stored in directory `path`, else 0.
 * Returns P2P_OK, P2P_ERR_INVALID_ARGUMENT.
 * Blocks: disk I/O (one stat). */
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
 * Returns P2P_OK, P2P_ERR_INVALID_ARGUMENT (bad name), P2P_ERR_INVALID_HANDLE, P2P_ERR_IO.
 * Blocks: disk I/O; waits while a batch of the database is open. */
P2P_API int32_t p2p_db_create_collection(p2p_db db, const char *scope, const char *name,
                                         p2p_collection *out_coll, p2p_error *err);

/* Opens the existing collection `scope`.`name`.
 * Returns P2P_OK, P2P_ERR_NOT_FOUND, P2P_ERR_INVALID_ARGUMENT, P2P_ERR_INVALID_HANDLE.
 * Blocks: disk I/O. */
P2P_API int32_t p2p_db_get_collection(p2p_db db, const char *scope, const char *name,
                                      p2p_collection *out_coll, p2p_error *err);

/* Deletes collection `scope`.`name` and all its documents. Open handles to it then fail
 * with P2P_ERR_NOT_FOUND. _default._default cannot be deleted (P2P_ERR_INVALID_ARGUMENT).
 * Returns P2P_OK, P2P_ERR_NOT_FOUND, P2P_ERR_INVALID_ARGUMENT, P2P_ERR_INVALID_HANDLE.
 * Blocks: disk I/O; waits while a batch of the database is open. */
P2P_API int32_t p2p_db_delete_collection(p2p_db db, const char *scope, const char *name,
                                         p2p_error *err);

/* Lists the collection names of `scope` (sorted), or the scopes that hold at least one
 * collection (sorted), as a JSON array of strings.
 *   out_json  receives text owned by the caller; release with p2p_free.
 * Return P2P_OK, P2P_ERR_INVALID_ARGUMENT, P2P_ERR_INVALID_HANDLE.
 * Blocks: disk I/O. */
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
 * (collection deleted), P2P_ERR_IO.
 * Blocks: disk I/O. */
P2P_API int32_t p2p_collection_count(p2p_collection coll, uint64_t *out_count, p2p_error *err);
P2P_API int32_t p2p_collection_last_sequence(p2p_collection coll, uint64_t *out_sequence,
                                             p2p_error *err);

/* ---------------------------------------------------------------- documents */

/* Document IDs are 1-255 bytes of UTF-8. Every function taking a document ID (or the IDs
 * of a replicator's doc_ids_json, or a local document ID) refuses any other with
 * P2P_ERR_INVALID_ARGUMENT. Revision IDs look like "3-<40 hex digits>". */

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
 * Top-level keys starting with "_" are reserved for the sync protocol ("_id", "_rev",
 * "_deleted", "_removed", "_attachments", "_exp", "_revisions", and any other): a body
 * with one is refused with P2P_ERR_INVALID_ARGUMENT and a message naming the key, because
 * a peer would strip it (or take "_removed" as a revocation) and hold another body under
 * the same revision ID. Nested keys are not restricted. One exception: a document received
 * from Sync Gateway keeps its "_attachments" (attachment stubs); a save may carry that
 * value over unchanged (compared as JSON) from the revision it replaces, so such a document
 * can be edited, but introducing or changing "_attachments" is refused the same way.
 * Returns P2P_OK; P2P_ERR_INVALID_ARGUMENT (NULL, bad UTF-8, bad ID, body not a JSON
 * object, a reserved top-level key, unknown concurrency, malformed blob dictionary);
 * P2P_ERR_CONFLICT; P2P_ERR_INVALID_HANDLE; P2P_ERR_NOT_FOUND (collection deleted, or the
 * body refers to a blob the database does not hold: see "blobs"); P2P_ERR_IO.
 * A write waits while a batch of the same database is open; on the thread that holds
 * the open batch it fails with P2P_ERR_BUSY instead (write through the batch).
 * Blocks: disk I/O; waits while a batch of the database is open on another thread. */
P2P_API int32_t p2p_collection_save_document(p2p_collection coll, const char *doc_id,
                                             const char *json, const char *parent_rev_id,
                                             uint8_t concurrency, p2p_document *out_doc,
                                             p2p_error *err);

/* Deletes document `doc_id` by saving a tombstone revision (replicated as a deletion).
 * Parameters as for p2p_collection_save_document.
 * Returns as p2p_collection_save_document, and P2P_ERR_NOT_FOUND if the document is
 * missing or already deleted.
 * Blocks: as p2p_collection_save_document. */
P2P_API int32_t p2p_collection_delete_document(p2p_collection coll, const char *doc_id,
                                               const char *parent_rev_id, uint8_t concurrency,
                                               p2p_document *out_doc, p2p_error *err);

/* Removes document `doc_id` and its history entirely: no tombstone, nothing replicated.
 * Returns P2P_OK, P2P_ERR_NOT_FOUND, P2P_ERR_INVALID_ARGUMENT, P2P_ERR_INVALID_HANDLE, P2P_ERR_IO.
 * Blocks: disk I/O; waits while a batch of the database is open. */
P2P_API int32_t p2p_collection_purge_document(p2p_collection coll, const char *doc_id,
                                              p2p_error *err);

/* Reads the current revision of document `doc_id`.
 *   include_deleted  0: a deleted document is P2P_ERR_NOT_FOUND; 1: its tombstone is returned.
 *   out_doc          receives a snapshot owned by the caller; release with p2p_document_close.
 * Returns P2P_OK, P2P_ERR_NOT_FOUND, P2P_ERR_INVALID_ARGUMENT, P2P_ERR_INVALID_HANDLE, P2P_ERR_IO.
 * Blocks: disk I/O. */
P2P_API int32_t p2p_collection_get_document(p2p_collection coll, const char *doc_id,
                                            uint8_t include_deleted, p2p_document *out_doc,
                                            p2p_error *err);

/* Reads revision `rev_id` of document `doc_id`, if its body is still kept.
 * Returns as p2p_collection_get_document.
 * Blocks: disk I/O. */
P2P_API int32_t p2p_collection_get_revision(p2p_collection coll, const char *doc_id,
                                            const char *rev_id, p2p_document *out_doc,
                                            p2p_error *err);

/* Lists the revision IDs of the live conflicting leaves of `doc_id` (all but the current
 * revision) as a JSON array of strings; "[]" when there is no conflict.
 *   out_json  receives text owned by the caller; release with p2p_free.
 * Returns P2P_OK, P2P_ERR_NOT_FOUND, P2P_ERR_INVALID_ARGUMENT, P2P_ERR_INVALID_HANDLE.
 * Blocks: disk I/O. */
P2P_API int32_t p2p_collection_get_conflicts(p2p_collection coll, const char *doc_id,
                                             char **out_json, p2p_error *err);

/* Sets the time at which `doc_id` is purged automatically, in milliseconds since the Unix
 * epoch; 0 clears it. p2p_collection_get_document_expiration reads it back (0 = none).
 * Return P2P_OK, P2P_ERR_NOT_FOUND, P2P_ERR_INVALID_ARGUMENT, P2P_ERR_INVALID_HANDLE.
 * Blocks: disk I/O (the setter also waits while a batch of the database is open). */
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
 *   Returns P2P_OK, P2P_ERR_NOT_FOUND, P2P_ERR_INVALID_ARGUMENT, P2P_ERR_INVALID_HANDLE.
 * Blocks: disk I/O (writers also wait while a batch of the database is open). */
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
 *   Returns P2P_OK, P2P_ERR_INVALID_ARGUMENT, P2P_ERR_INVALID_HANDLE, P2P_ERR_IO.
 * Blocks: waits until the database's open batch, if any, ends (do not call it on the thread that
 *   holds that batch: it would wait for itself); disk I/O. */
P2P_API int32_t p2p_db_begin_batch(p2p_db db, p2p_batch *out_batch, p2p_error *err);

/* Writes inside a batch; parameters and codes as for the p2p_collection_* equivalents.
 * `coll` must belong to the batch's database (else P2P_ERR_INVALID_ARGUMENT). A failed
 * write leaves the batch open: the caller decides to commit the rest or abort.
 * Blocks: disk I/O. */
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
 * Returns P2P_OK, P2P_ERR_INVALID_HANDLE (0, stale, already ended), P2P_ERR_IO.
 * Blocks: disk I/O (the commit is flushed to disk). */
P2P_API int32_t p2p_batch_commit(p2p_batch batch, p2p_error *err);

/* Discards the batch's writes and releases its handle. Aborting 0 or an ended batch
 * returns P2P_OK. Returns P2P_OK, P2P_ERR_INVALID_HANDLE (wrong kind), P2P_ERR_IO.
 * Blocks: disk I/O. */
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
 * Returns P2P_OK, P2P_ERR_INVALID_ARGUMENT, P2P_ERR_INVALID_HANDLE, P2P_ERR_NOT_FOUND, P2P_ERR_IO.
 * Blocks: disk I/O. */
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

/* Pops the next event of a change queue or a replicator event queue
 * (p2p_replicator_add_event_queue), waiting up to `timeout_ms` (0 = do not wait).
 *   out_json  receives an event owned by the caller (p2p_free), or NULL on timeout.
 * Returns P2P_OK (also on timeout), P2P_ERR_INVALID_ARGUMENT (NULL out_json, or the
 * token is a callback listener), P2P_ERR_INVALID_HANDLE, P2P_ERR_CANCELLED (the
 * subscription was removed while waiting).
 * Blocks: up to timeout_ms for an event. */
P2P_API int32_t p2p_subscription_next_event(p2p_subscription token, uint32_t timeout_ms,
                                            char **out_json, p2p_error *err);

/* Unregisters a listener or event queue (of a collection, a replicator or a query). Waits until
 * calls in flight return, so that user_data may be freed afterwards; called from inside
 * its own callback it returns without waiting. Removing 0 or a removed token returns P2P_OK.
 * Returns P2P_OK, P2P_ERR_INVALID_HANDLE (wrong kind).
 * Blocks: waits for the subscription's callbacks in flight (not when called from inside one). */
P2P_API int32_t p2p_subscription_remove(p2p_subscription token, p2p_error *err);

/* ---------------------------------------------------------------- TLS identities */

/* A TLS identity is a private key with its certificate chain (leaf first). It is
 * immutable: a listener or replicator given one keeps its own reference, so the handle
 * may be closed right after p2p_listener_create / p2p_replicator_create. Identities
 * have no parent. */

#define P2P_KEY_EC_P256  0   /* ECDSA on NIST P-256 (default) */
#define P2P_KEY_RSA_2048 1
#define P2P_KEY_RSA_3072 2   /* generation takes seconds */

#define P2P_TLS_USAGE_SERVER            0 /* TLS server authentication (default) */
#define P2P_TLS_USAGE_CLIENT            1 /* TLS client authentication */
#define P2P_TLS_USAGE_SERVER_AND_CLIENT 2

typedef struct p2p_tls_identity_options {
    uint32_t struct_size;          /* sizeof(p2p_tls_identity_options); set by the INIT macro */
    uint32_t validity_days;        /* 0 = 365 */
    p2p_tls_identity issuer;       /* 0 = self-signed; otherwise a CA identity that signs */
    const char *common_name;       /* subject fields; NULL or "" = left out */
    const char *organization;
    const char *organizational_unit;
    const char *country;
    const char *locality;
    const char *province;
    /* Subject alternative names: a JSON array of strings, e.g. ["localhost","127.0.0.1"];
     * entries that are IP addresses become IP SANs, the others DNS names. NULL = none. */
    const char *subject_alt_names_json;
    uint8_t  key_type;             /* P2P_KEY_* (0 = EC P-256) */
    uint8_t  usage;                /* P2P_TLS_USAGE_* (0 = server); ignored with is_ca */
    uint8_t  is_ca;                /* 1 = a certificate authority that can sign other identities */
    uint8_t  reserved[5];          /* zero */
    /* new fields are appended below this line, never above */
} p2p_tls_identity_options;

#define P2P_TLS_IDENTITY_OPTIONS_INIT P2P_OPTIONS_INIT_(p2p_tls_identity_options)

/* Fills *opts with defaults (zeroes) and sets struct_size = size (pass sizeof *opts).
 * Returns P2P_OK, P2P_ERR_INVALID_ARGUMENT (opts NULL, bad size). */
P2P_API int32_t p2p_tls_identity_options_init(p2p_tls_identity_options *opts, size_t size,
                                              p2p_error *err);

/* Generates a key pair and a certificate (self-signed, or signed by options->issuer).
 *   options       borrowed; NULL means defaults (a self-signed EC P-256 server identity).
 *   out_identity  receives a new handle owned by the caller; release with p2p_tls_identity_close.
 * Returns P2P_OK; P2P_ERR_INVALID_ARGUMENT (NULL out, bad UTF-8 or JSON, unknown key type
 * or usage, issuer not a CA, bad struct_size); P2P_ERR_INVALID_HANDLE (issuer);
 * P2P_ERR_UNSUPPORTED (non-zero unknown or reserved option fields).
 * Blocks: key generation (milliseconds for EC, seconds for RSA 3072). */
P2P_API int32_t p2p_tls_identity_create(const p2p_tls_identity_options *options,
                                        p2p_tls_identity *out_identity, p2p_error *err);

/* Reads a PKCS#12 (.p12/.pfx) file holding one key and its chain (openssl, keytool, or
 * p2p_tls_identity_export_pkcs12).
 *   data, len     borrowed; the file's bytes.
 *   password      borrowed; NULL means "".
 *   out_identity  receives a new handle owned by the caller (p2p_tls_identity_close).
 * Returns P2P_OK, P2P_ERR_WRONG_PASSWORD, P2P_ERR_INVALID_ARGUMENT (NULL, malformed file,
 * no key, too large).
 * Blocks: key derivation from the password (milliseconds). */
P2P_API int32_t p2p_tls_identity_import_pkcs12(const uint8_t *data, size_t len, const char *password,
                                               p2p_tls_identity *out_identity, p2p_error *err);

/* Writes the identity as a PKCS#12 file (PBES2/AES-256, HMAC-SHA-256; OpenSSL 1.1.1+ and
 * Java 12+ read it).
 *   password            borrowed; NULL means "".
 *   out_data, out_len   receive bytes owned by the caller; release *out_data with p2p_free.
 * Returns P2P_OK, P2P_ERR_INVALID_ARGUMENT, P2P_ERR_INVALID_HANDLE.
 * Blocks: key derivation from the password (milliseconds). */
P2P_API int32_t p2p_tls_identity_export_pkcs12(p2p_tls_identity identity, const char *password,
                                               uint8_t **out_data, size_t *out_len, p2p_error *err);

/* Builds an identity from PEM text: `cert_pem` holds the chain (any order), `key_pem` the
 * private key (PKCS#8, encrypted PKCS#8, PKCS#1 or SEC 1), or NULL when cert_pem holds
 * the key too.
 *   password      borrowed; for an ENCRYPTED PRIVATE KEY; NULL means "".
 *   out_identity  receives a new handle owned by the caller (p2p_tls_identity_close).
 * Returns P2P_OK, P2P_ERR_WRONG_PASSWORD (wrong or missing password for an encrypted key),
 * P2P_ERR_INVALID_ARGUMENT (NULL cert_pem, undecodable PEM, no certificate or key, key
 * matching no certificate, legacy OpenSSL-encrypted key).
 * Blocks: key derivation when the key is encrypted (milliseconds). */
P2P_API int32_t p2p_tls_identity_import_pem(const char *cert_pem, const char *key_pem,
                                            const char *password, p2p_tls_identity *out_identity,
                                            p2p_error *err);

/* Writes the chain as CERTIFICATE blocks (leaf first) and the key as PKCS#8: "PRIVATE KEY"
 * when password is NULL or "", else "ENCRYPTED PRIVATE KEY" (PBES2, AES-256-CBC).
 *   out_cert_pem, out_key_pem  receive text owned by the caller; release each with p2p_free.
 * Returns P2P_OK, P2P_ERR_INVALID_ARGUMENT, P2P_ERR_INVALID_HANDLE.
 * Blocks: key derivation when a password is given (milliseconds). */
P2P_API int32_t p2p_tls_identity_export_pem(p2p_tls_identity identity, const char *password,
                                            char **out_cert_pem, char **out_key_pem, p2p_error *err);

/* SHA-256 of the leaf certificate (DER) as 64 lowercase hex digits: what peers pin and
 * what users compare.
 *   out_hex  receives text owned by the caller; release with p2p_free.
 * Returns P2P_OK, P2P_ERR_INVALID_ARGUMENT, P2P_ERR_INVALID_HANDLE. */
P2P_API int32_t p2p_tls_identity_fingerprint(p2p_tls_identity identity, char **out_hex,
                                             p2p_error *err);

/* End of the leaf certificate's validity, in milliseconds since the Unix epoch.
 * Returns P2P_OK, P2P_ERR_INVALID_ARGUMENT, P2P_ERR_INVALID_HANDLE. */
P2P_API int32_t p2p_tls_identity_not_after(p2p_tls_identity identity, int64_t *out_unix_ms,
                                           p2p_error *err);

/* The certificate chain as PEM CERTIFICATE blocks, leaf first (no key).
 *   out_pem  receives text owned by the caller; release with p2p_free.
 * Returns P2P_OK, P2P_ERR_INVALID_ARGUMENT, P2P_ERR_INVALID_HANDLE. */
P2P_API int32_t p2p_tls_identity_chain_pem(p2p_tls_identity identity, char **out_pem,
                                           p2p_error *err);

/* SHA-256 fingerprint of the first certificate in cert_pem (PEM CERTIFICATE blocks, as
 * p2p_replicator_server_certificate and p2p_tls_identity_chain_pem give them), as 64
 * lowercase hex digits: the one form every function and message of this library prints.
 *   out_hex  receives text owned by the caller; release with p2p_free.
 * Thread-safe. Returns P2P_OK, P2P_ERR_INVALID_ARGUMENT (NULL, no certificate, undecodable). */
P2P_API int32_t p2p_tls_certificate_fingerprint(const char *cert_pem, char **out_hex,
                                                p2p_error *err);

/* Reads a fingerprint in any form users exchange and writes it as 64 lowercase hex digits.
 * Accepted: 64 hex digits in either case, run together or as 32 pairs separated by colons
 * ("AB:01:...", as openssl prints it) or spaces, optionally after "sha256:" (any case);
 * pinned_fingerprint accepts the same forms.
 *   out_hex  receives text owned by the caller; release with p2p_free.
 * Thread-safe. Returns P2P_OK, P2P_ERR_INVALID_ARGUMENT (any other text). */
P2P_API int32_t p2p_tls_fingerprint_normalize(const char *fingerprint, char **out_hex,
                                              p2p_error *err);

/* Releases an identity handle. Listeners and replicators created with it keep working.
 * Closing 0 or a closed handle returns P2P_OK.
 * Returns P2P_OK, P2P_ERR_INVALID_HANDLE (wrong kind). */
P2P_API int32_t p2p_tls_identity_close(p2p_tls_identity identity, p2p_error *err);

/* ---------------------------------------------------------------- keystores */

/* A keystore is a password-protected file of identities under labels. Every change
 * rewrites the file atomically. Open one keystore per file (another process's changes
 * are not noticed). Keystores have no parent; identities read from one are independent
 * handles.
 *
 * p2p_keystore_open: opens the keystore file `path` with `password`, creating an empty one
 *   (mode 0600) if missing.
 *   path, password  borrowed; password must not be empty.
 *   out_keystore    receives a new handle owned by the caller (p2p_keystore_close).
 *   Returns P2P_OK, P2P_ERR_WRONG_PASSWORD (file untouched), P2P_ERR_INVALID_ARGUMENT
 *   (NULL, empty password, not a keystore or damaged file), P2P_ERR_IO.
 * p2p_keystore_store: saves `identity` under `label` (1-255 bytes), replacing any there.
 *   Returns P2P_OK, P2P_ERR_INVALID_ARGUMENT (bad label, keystore full),
 *   P2P_ERR_INVALID_HANDLE, P2P_ERR_IO (then nothing changed).
 * p2p_keystore_get: reads the identity under `label`.
 *   out_identity  receives a new handle owned by the caller (p2p_tls_identity_close).
 *   Returns P2P_OK, P2P_ERR_NOT_FOUND, P2P_ERR_INVALID_ARGUMENT, P2P_ERR_INVALID_HANDLE.
 * p2p_keystore_list: the labels, sorted, as a JSON array of strings.
 *   out_json  receives text owned by the caller; release with p2p_free.
 *   Returns P2P_OK, P2P_ERR_INVALID_ARGUMENT, P2P_ERR_INVALID_HANDLE.
 * p2p_keystore_delete: removes the identity under `label`.
 *   Returns P2P_OK, P2P_ERR_NOT_FOUND, P2P_ERR_INVALID_ARGUMENT, P2P_ERR_INVALID_HANDLE,
 *   P2P_ERR_IO.
 * p2p_keystore_close: forgets the derived keys. Closing 0 or a closed handle returns P2P_OK.
 *   Returns P2P_OK, P2P_ERR_INVALID_HANDLE (wrong kind).
 * Blocks: disk I/O and key derivation from the password (p2p_keystore_open and every
 * change rewrite or read the file); p2p_keystore_list and p2p_keystore_close return promptly. */
P2P_API int32_t p2p_keystore_open(const char *path, const char *password,
                                  p2p_keystore *out_keystore, p2p_error *err);
P2P_API int32_t p2p_keystore_store(p2p_keystore keystore, const char *label,
                                   p2p_tls_identity identity, p2p_error *err);
P2P_API int32_t p2p_keystore_get(p2p_keystore keystore, const char *label,
                                 p2p_tls_identity *out_identity, p2p_error *err);
P2P_API int32_t p2p_keystore_list(p2p_keystore keystore, char **out_json, p2p_error *err);
P2P_API int32_t p2p_keystore_delete(p2p_keystore keystore, const char *label, p2p_error *err);
P2P_API int32_t p2p_keystore_close(p2p_keystore keystore, p2p_error *err);

/* ---------------------------------------------------------------- listener */

/* P2P_LIMITS: what one connection may cost. Every connection, listener or replicator side,
 * refuses an incoming message larger than max_message_size (default 20 MiB, measured
 * after decompression: a compressed frame is inflated in 64 KiB pieces and dropped as soon
 * as its message passes the limit, so a "compression bomb" costs CPU, not memory). A
 * refused request is answered HTTP error 413; for a revision the document fails with that
 * error (its document event carries it) and replication goes on. The store itself has no
 * document size limit: the default leaves room for documents up to Couchbase's 20 MB
 * (20,000,000 bytes) with their revision history. A connection also holds at most
 * max_connection_buffer incoming bytes (default 8 MiB: messages arriving or not yet read,
 * and documents waiting to be saved); past it, it stops reading the socket until they are
 * released, and if only partly received messages that are all waited for hold the bytes,
 * the newest is refused with HTTP error 503. A listener serves at most max_connections at
 * once (default 256) and answers more with HTTP 503. Refusals are logged. Measured (see
 * README "Resource limits"), a listener stays within about 80 MiB plus 16 MiB per
 * connection under attack at the defaults and gives the memory back when its last
 * connection closes. */

/* A listener serves one open database to replicators (ours, Couchbase Lite peers) over
 * wss://host:port/<database name> (ws:// with TLS disabled). It is a child of the
 * database: close it before the database.
 *
 * Authentication callbacks below run on a library thread, once per connection attempt,
 * never with a library lock held, possibly concurrently for several connections. They
 * MAY block (to look a user up), delaying only that connection. They must not close
 * their own listener. After p2p_listener_close returns they are never called again, so
 * user_data may be freed then. */

/* Decides whether HTTP Basic credentials are accepted: return 1 to accept, 0 to refuse
 * (answered 401). username and password are borrowed for the call. */
typedef uint8_t (*p2p_password_auth_fn)(const char *username, const char *password,
                                        void *user_data);

/* Decides whether a client certificate is accepted: return 1 to accept, 0 to refuse.
 * chain_pem (borrowed) holds the chain the client presented as PEM, leaf first; with
 * trusted roots configured, it is called only after the chain was verified against them. */
typedef uint8_t (*p2p_client_cert_auth_fn)(const char *chain_pem, void *user_data);

typedef struct p2p_listener_options {
    uint32_t struct_size;                 /* sizeof(p2p_listener_options); set by the INIT macro */
    uint32_t collection_count;            /* number of collections; 0 = the default collection */
    const p2p_collection *collections;    /* collections served (of the same database) */
    const char *network_interface;        /* interface name ("lo") or IP address; NULL = all */
    uint16_t port;                        /* 0 = the system picks one (p2p_listener_port) */
    uint8_t  read_only;                   /* 1 = refuse pushes (403); pulls are served */
    uint8_t  disable_tls;                 /* 1 = plain ws:// (no identity, no client certs) */
    uint8_t  enable_delta_sync;           /* 1 = offer delta sync to clients (if the database permits) */
    uint8_t  disable_version_vectors;     /* 1 = accept CBMobile_3/2 only (revision trees, as
                                             before versions); 0 = also accept BLIP_3+CBMobile_4
                                             (version vectors, Couchbase Lite 4). README
                                             "Versions" (ABI 2: this byte was
                                             enable_version_vectors) */
    uint8_t  reserved1[2];                /* zero */
    p2p_tls_identity identity;            /* server identity; 0 = the database's anonymous
                                             identity, created at the first start and kept in
                                             the database directory (same fingerprint across
                                             restarts) */
    /* Password authentication: set credentials_json, password_auth, or both. A JSON
     * object {"user":"password",...} of accepted credentials (compared in constant
     * time); with password_auth too, credentials it does not list go to the callback. */
    const char *credentials_json;
    p2p_password_auth_fn password_auth;
    void *password_auth_user_data;
    /* Client-certificate authentication (needs TLS): trusted roots as PEM, a callback,
     * or both (then a client must pass both). */
    const char *client_cert_roots_pem;
    p2p_client_cert_auth_fn client_cert_auth;
    void *client_cert_auth_user_data;
    /* Resource limits per connection (0 = the default). See P2P_LIMITS above. */
    uint64_t max_message_size;            /* largest incoming message in bytes, measured
                                             inflated (properties + body); 0 = 20 MiB. A
                                             larger one is refused with HTTP error 413 (a
                                             pushed document fails, the connection goes on) */
    uint64_t max_connection_buffer;       /* incoming bytes one connection may hold (messages
                                             arriving or unread, documents being saved);
                                             0 = 8 MiB. Past it the connection stops reading
                                             until they are released */
    uint32_t max_connections;             /* connections served at once; 0 = 256. More are
                                             answered HTTP 503 before the WebSocket upgrade */
    uint32_t reserved2;                   /* zero */
    /* new fields are appended below this line, never above */
    /* Peer checkpoints: what connected replicators store in this database to resume from
     * (README "Resource limits"). Appended in 2.x: a caller whose struct_size ends before
     * them gets the defaults. */
    int32_t  max_checkpoint_size;         /* largest checkpoint a peer may store, in bytes;
                                             0 = 16 KiB; negative = only max_message_size
                                             caps it. A larger one is refused with HTTP error
                                             413 and not stored: the peer's replication goes
                                             on, and its next one starts from the last
                                             checkpoint it stored (from the beginning if none) */
    int32_t  max_peer_checkpoints;        /* checkpoints kept for peers, one per client ID;
                                             0 = 10,000; negative = no cap. Storing one under a
                                             new client ID past it deletes the least recently
                                             written other one (that peer's next replication
                                             compares every document again) */
} p2p_listener_options;

#define P2P_LISTENER_OPTIONS_INIT P2P_OPTIONS_INIT_(p2p_listener_options)

/* Fills *opts with defaults (zeroes) and sets struct_size = size (pass sizeof *opts).
 * Returns P2P_OK, P2P_ERR_INVALID_ARGUMENT (opts NULL, bad size). */
P2P_API int32_t p2p_listener_options_init(p2p_listener_options *opts, size_t size, p2p_error *err);

/* Creates a stopped listener for `db`. Nothing is opened until p2p_listener_start.
 *   options       borrowed (strings, arrays and roots are copied); NULL means defaults: TLS
 *                 with the anonymous identity, no authentication, default collection, any
 *                 port. The callbacks and their user_data are kept until close.
 *   out_listener  receives a new handle owned by the caller; release with p2p_listener_close.
 * Returns P2P_OK; P2P_ERR_INVALID_ARGUMENT (NULL out; bad JSON, UTF-8 or PEM; identity or
 * client-certificate authentication with disable_tls; collection of another database;
 * bad struct_size); P2P_ERR_INVALID_HANDLE (db, a collection or the identity);
 * P2P_ERR_UNSUPPORTED (non-zero unknown or reserved option fields). */
P2P_API int32_t p2p_listener_create(p2p_db db, const p2p_listener_options *options,
                                    p2p_listener *out_listener, p2p_error *err);

/* Starts listening (loading or creating the anonymous identity first if needed).
 * Returns P2P_OK, P2P_ERR_BUSY (already running), P2P_ERR_INVALID_HANDLE,
 * P2P_ERR_WRONG_PASSWORD or P2P_ERR_INVALID_ARGUMENT (anonymous identity file unreadable:
 * delete it to start over), P2P_ERR_IO (port in use, unknown interface).
 * Blocks: disk I/O and key generation the first time (the anonymous identity); binding
 * the port. Not from inside one of the listener's own callbacks. */
P2P_API int32_t p2p_listener_start(p2p_listener listener, p2p_error *err);

/* Stops listening: connected replicators are told to come back later (close code 4001).
 * Returns when every connection has ended. Stopping a stopped listener returns P2P_OK; a
 * stopped listener may be started again (same anonymous identity).
 * Returns P2P_OK, P2P_ERR_INVALID_HANDLE.
 * Blocks: until every connection has ended. Not from inside one of the listener's own
 * callbacks. */
P2P_API int32_t p2p_listener_stop(p2p_listener listener, p2p_error *err);

/* TCP port while running, 0 when stopped.
 * Returns P2P_OK, P2P_ERR_INVALID_ARGUMENT, P2P_ERR_INVALID_HANDLE. */
P2P_API int32_t p2p_listener_port(p2p_listener listener, uint16_t *out_port, p2p_error *err);

/* URLs replicators can use, one per address, as a JSON array of strings
 * (["wss://127.0.0.1:50123/notes", ...]); [] when stopped.
 *   out_json  receives text owned by the caller; release with p2p_free.
 * Returns P2P_OK, P2P_ERR_INVALID_ARGUMENT, P2P_ERR_INVALID_HANDLE. */
P2P_API int32_t p2p_listener_urls(p2p_listener listener, char **out_json, p2p_error *err);

/* Connection counts and connections as the JSON object
 *   {"connection_count": 1, "active_connection_count": 1, "total_connection_count": 7,
 *    "connections": [{"peer": "127.0.0.1:50412", "user": "alice",
 *                     "subprotocol": "BLIP_3+CBMobile_3", "collections": ["_default._default"],
 *                     "started": "2025-01-31T12:00:00.123Z", "active": true,
 *                     "bytes_sent": 5120, "bytes_received": 812,
 *                     "docs_sent": 10, "docs_received": 0}]}
 *   connection_count         replicators connected now (0 when stopped);
 *   active_connection_count  of which transferring documents now;
 *   total_connection_count   (since 1.1) connections served since the listener was
 *                            created, across starts and stops;
 *   connections              (since 1.1) one object per connected replicator, oldest first:
 *     peer         its address, "host:port" ("[v6]:port" for IPv6);
 *     user         its HTTP Basic user name, else its client certificate's common name,
 *                  else "";
 *     subprotocol  the negotiated WebSocket subprotocol;
 *     collections  "scope.name" of the collections it replicates ([] until it has asked);
 *     started      when it connected, RFC 3339 UTC;
 *     active       transferring documents now;
 *     bytes_sent, bytes_received  BLIP frame bytes of the connection (compressed);
 *     docs_sent    revisions it acknowledged; docs_received  revisions saved from it.
 *   out_json  receives text owned by the caller; release with p2p_free.
 * Returns P2P_OK, P2P_ERR_INVALID_ARGUMENT, P2P_ERR_INVALID_HANDLE. */
P2P_API int32_t p2p_listener_status(p2p_listener listener, char **out_json, p2p_error *err);

/* The identity the running listener serves (show its fingerprint to users who will pin it).
 *   out_identity  receives a new handle owned by the caller (p2p_tls_identity_close), or 0
 *                 when the listener is stopped or has TLS disabled.
 * Returns P2P_OK, P2P_ERR_INVALID_ARGUMENT, P2P_ERR_INVALID_HANDLE. */
P2P_API int32_t p2p_listener_tls_identity(p2p_listener listener, p2p_tls_identity *out_identity,
                                          p2p_error *err);

/* Stops the listener (as p2p_listener_stop) and releases it; its callbacks are not called
 * after this returns. Closing 0 or a closed handle returns P2P_OK. Must not be called from
 * inside one of its own callbacks.
 * Returns P2P_OK, P2P_ERR_INVALID_HANDLE (wrong kind).
 * Blocks: as p2p_listener_stop. */
P2P_API int32_t p2p_listener_close(p2p_listener listener, p2p_error *err);

/* ---------------------------------------------------------------- replicator */

/* A replicator syncs one open database with one listener. It is a child of the database
 * (close it first), and its subscriptions are its children.
 *
 * Status, as returned by p2p_replicator_status and carried by status events:
 *   {"activity": "busy", "progress": {"completed": 3, "total": 10}, "error": null}
 * activity is "stopped", "offline" (waiting to retry), "connecting", "idle" (continuous,
 * caught up) or "busy". A run that ends (stopped, caught up, failed) reads "stopped" only
 * once every status, document and collection change callback for its work has returned
 * (the last of them is the "stopped" status event), so polling the status until
 * "stopped" is a complete wait. error is null or
 *   {"status": -1033, "domain": 1, "code": -1033, "message": "..."}
 * where status is the P2P_ERR_* code and domain/code keep the cause as in p2p_error: a
 * peer refusing the upgrade gives domain P2P_DOMAIN_WEBSOCKET with the HTTP status (401),
 * a peer closing gives the WebSocket close code.
 *
 * Events (callbacks and event queues; one JSON object each):
 *   {"event": "status", "activity": ..., "progress": ..., "error": ...}
 *   {"event": "document", "direction": "push"|"pull", "documents": [
 *       {"collection": "scope.name", "id": "doc-1", "rev_id": "2-...", "deleted": false,
 *        "access_removed": false, "error": null or an error object as above}, ...]}
 *   {"event": "overflow", "dropped": 17}        (event queues only)
 *
 * Errors that stop a replicator (status "stopped" with an error): security failures
 * (P2P_ERR_TLS_*, P2P_ERR_AUTH for 401/403) are never retried; network failures
 * (P2P_ERR_NETWORK, P2P_ERR_TIMEOUT) are retried with backoff up to max_attempts first. */

#define P2P_REPLICATOR_PUSH_AND_PULL 0
#define P2P_REPLICATOR_PUSH          1
#define P2P_REPLICATOR_PULL          2

#define P2P_TRUST_SYSTEM_ROOTS    0 /* the system's roots, host name checked (default) */
#define P2P_TRUST_ROOTS           1 /* only trusted_roots_pem (an application CA), host name checked */
#define P2P_TRUST_SELF_SIGNED_ONLY 2 /* a lone valid self-signed certificate, any host name */
#define P2P_TRUST_PINNED          3 /* exactly the pinned certificate, given by pinned_certificate_pem
                                       or by pinned_fingerprint (one of the two); chain and
                                       host name not checked */

/* Conflict resolutions returned by p2p_conflict_resolver_fn. */
#define P2P_RESOLVE_REMOTE 0 /* keep the remote revision */
#define P2P_RESOLVE_LOCAL  1 /* keep the local revision (its body, or its deletion) */
#define P2P_RESOLVE_MERGED 2 /* save *out_merged_json as the result */
#define P2P_RESOLVE_DELETE 3 /* delete the document */
/* Any other value means the resolver failed: the document stays in conflict and its
 * document event carries an error with status P2P_ERR_CONFLICT. */

/* Replication filter and conflict resolver: called on a library thread, never with a
 * library lock held, while the replicator runs; they MAY block (the replication of that
 * collection waits). They must not call the same replicator. Every pointer argument is
 * borrowed for the call. After p2p_replicator_close returns they are never called again,
 * so user_data may be freed then. */

/* Returns 1 to replicate the revision, 0 to skip it. body_json is the document body ("{}"
 * for a deletion). flags is a set of P2P_DOC_* bits (before ABI 1.1 it was a 0/1
 * "deleted" value, which P2P_DOC_DELETED keeps; testing it for non-zero still means "the
 * document goes away here").
 * P2P_DOC_ACCESS_REMOVED (pull filters only): the remote revoked access to the document
 * (Sync Gateway channel removal or access revocation) and, auto-purge being on, it is
 * about to be purged here; body_json is "{}". Returning 0 keeps the local copy. */
#define P2P_DOC_DELETED        1
#define P2P_DOC_ACCESS_REMOVED 2
typedef uint8_t (*p2p_replication_filter_fn)(const char *collection, const char *doc_id,
                                             const char *rev_id, uint8_t flags,
                                             const char *body_json, void *user_data);

/* Decides a conflict between the local revision and a pulled remote one.
 *   local_json, remote_json  the bodies; NULL when that side is a deletion.
 *   out_merged_json          for P2P_RESOLVE_MERGED, set it to a JSON object allocated with
 *                            p2p_strdup; the library takes ownership (also if it is set with
 *                            another resolution) and frees it. Initially NULL.
 * Returns a P2P_RESOLVE_* value. */
typedef uint8_t (*p2p_conflict_resolver_fn)(const char *collection, const char *doc_id,
                                            const char *local_json, const char *remote_json,
                                            char **out_merged_json, void *user_data);

/* One replicated collection. In an array, every element has the same struct_size, which
 * is the distance between elements. */
typedef struct p2p_replication_collection {
    uint32_t struct_size;                   /* sizeof(p2p_replication_collection) */
    uint32_t reserved1;                     /* zero */
    p2p_collection collection;              /* required; of the replicator's database */
    const char *doc_ids_json;               /* JSON array of document IDs; NULL = all.
                                               An invalid ID, or more than 100,000 IDs,
                                               is P2P_ERR_INVALID_ARGUMENT. */
    const char *channels_json;              /* JSON array of Sync Gateway channels; NULL = all */
    p2p_replication_filter_fn push_filter;  /* NULL = push everything */
    void *push_filter_user_data;
    p2p_replication_filter_fn pull_filter;  /* NULL = accept everything */
    void *pull_filter_user_data;
    p2p_conflict_resolver_fn conflict_resolver; /* NULL = default rule: a deletion wins, else
                                                   the higher generation, else the larger
                                                   revision ID */
    void *conflict_resolver_user_data;
    /* new fields are appended below this line, never above */
} p2p_replication_collection;

#define P2P_REPLICATION_COLLECTION_INIT P2P_OPTIONS_INIT_(p2p_replication_collection)

/* Fills *coll with defaults (zeroes) and sets struct_size = size (pass sizeof *coll).
 * Returns P2P_OK, P2P_ERR_INVALID_ARGUMENT (coll NULL, bad size). */
P2P_API int32_t p2p_replication_collection_init(p2p_replication_collection *coll, size_t size,
                                                p2p_error *err);

typedef struct p2p_replicator_options {
    uint32_t struct_size;            /* sizeof(p2p_replicator_options); set by the INIT macro */
    uint32_t collection_count;       /* number of collections; 0 = the default collection */
    const p2p_replication_collection *collections; /* NULL/0 = the default collection */
    const char *url;                 /* required: wss://host:port/<db> (ws:// without TLS) */
    const char *headers_json;        /* JSON object of extra HTTP headers; NULL = none */
    const char *username;            /* HTTP Basic credentials, sent pre-emptively; */
    const char *password;            /*   NULL username = none */
    p2p_tls_identity client_identity; /* client certificate presented when asked; 0 = none */
    const char *trusted_roots_pem;   /* for P2P_TRUST_ROOTS; NULL otherwise */
    const char *pinned_certificate_pem; /* for P2P_TRUST_PINNED (e.g. saved from
                                        p2p_replicator_server_certificate); NULL otherwise */
    const char *pinned_fingerprint;  /* for P2P_TRUST_PINNED instead of
                                        pinned_certificate_pem (set one, not both): the
                                        SHA-256 fingerprint of the listener's certificate as
                                        users exchange it (p2p_tls_identity_fingerprint on the
                                        listener side), in any form
                                        p2p_tls_fingerprint_normalize reads (64 hex digits,
                                        "AB:01:...", "sha256:..."). The mismatch message
                                        names both as lowercase hex. The certificate must be currently valid
                                        and its fingerprint equal this one, else the replicator
                                        stops with P2P_ERR_TLS_PIN_MISMATCH (or _EXPIRED).
                                        NULL otherwise. */
    const char *server_name;         /* SNI and name checked in the CA modes; NULL = URL host */
    /* Resource limits of the connection (0 = the default), as in p2p_listener_options. */
    uint64_t max_message_size;       /* largest incoming message (inflated); 0 = 20 MiB. A
                                        larger pulled revision fails that document */
    uint64_t max_connection_buffer;  /* incoming bytes the connection may hold; 0 = 8 MiB */
    uint32_t heartbeat_ms;           /* WebSocket ping interval; 0 = 300 s */
    int32_t  max_attempts;           /* connection attempts after network errors; 0 = 10
                                        one-shot, unlimited continuous; negative = unlimited */
    uint32_t max_attempt_wait_ms;    /* cap of the wait between attempts; 0 = 300 s */
    uint32_t retry_base_ms;          /* unit of the exponential backoff; 0 = 1 s */
    uint8_t  type;                   /* P2P_REPLICATOR_* (0 = push and pull) */
    uint8_t  trust_mode;             /* P2P_TRUST_* (0 = system roots; wss:// only) */
    uint8_t  continuous;             /* 1 = keep replicating until stopped; 0 = stop when caught up */
    uint8_t  disable_auto_purge;     /* 1 = keep documents whose access the remote revoked
                                        (still reported, access_removed true); 0 = purge
                                        them locally (no tombstone, nothing pushed back),
                                        unless the pull filter returns 0 for them */
    uint8_t  enable_delta_sync;      /* 1 = use delta sync where the listener and database permit */
    uint8_t  disable_version_vectors; /* 1 = offer CBMobile_3/2 only (revision trees, as before
                                        versions); 0 = offer BLIP_3+CBMobile_4 (version vectors)
                                        first, then CBMobile_3 (delta sync works over
                                        either). README "Versions" (ABI 2: this byte was
                                        enable_version_vectors) */
    uint8_t  reserved1[2];           /* zero */
    /* new fields are appended below this line, never above */
} p2p_replicator_options;

#define P2P_REPLICATOR_OPTIONS_INIT P2P_OPTIONS_INIT_(p2p_replicator_options)

/* Fills *opts with defaults (zeroes) and sets struct_size = size (pass sizeof *opts).
 * Returns P2P_OK, P2P_ERR_INVALID_ARGUMENT (opts NULL, bad size). */
P2P_API int32_t p2p_replicator_options_init(p2p_replicator_options *opts, size_t size,
                                            p2p_error *err);

/* Creates a stopped replicator for `db`.
 *   options         borrowed and required (url); strings, arrays and PEM are copied, the
 *                   callbacks and their user_data are kept until close.
 *   out_replicator  receives a new handle owned by the caller; release with
 *                   p2p_replicator_close.
 * Returns P2P_OK; P2P_ERR_INVALID_ARGUMENT (NULL, bad URL, bad JSON or PEM, unknown type or
 * trust mode, roots or pin given in a mode that does not use them, both a pinned
 * certificate and a pinned fingerprint, a malformed fingerprint, TLS settings with a
 * ws:// URL, collection of another database, bad struct_size, elements of collections
 * of different struct_size); P2P_ERR_INVALID_HANDLE (db, a collection, the client
 * identity); P2P_ERR_UNSUPPORTED (non-zero unknown or reserved option fields). */
P2P_API int32_t p2p_replicator_create(p2p_db db, const p2p_replicator_options *options,
                                      p2p_replicator *out_replicator, p2p_error *err);

/* Starts replicating in the background; reset_checkpoint = 1 starts over from the
 * beginning. Progress and the outcome are reported by status and events.
 * Returns P2P_OK, P2P_ERR_BUSY (already running), P2P_ERR_INVALID_HANDLE. */
P2P_API int32_t p2p_replicator_start(p2p_replicator repl, uint8_t reset_checkpoint, p2p_error *err);

/* Stops replicating, saves the checkpoint, and returns once stopped and every callback for
 * the work done has returned: the replicator's status and document listeners (and event
 * queues have received every event), and the database's collection change listeners
 * for the revisions it saved. None of them is called for this run afterwards. This holds
 * also when the run had already ended on its own and was still delivering its last
 * events. Stopping a stopped replicator returns P2P_OK. Must not be called from inside
 * the replicator's own filter or resolver. Called from inside one of its own status or
 * document listeners it cannot wait for itself: it ends the run and returns at once;
 * from inside a collection change listener it does not wait for change listeners.
 * Returns P2P_OK, P2P_ERR_INVALID_HANDLE.
 * Blocks: until the run has ended and its callbacks have returned (see above). */
P2P_API int32_t p2p_replicator_stop(p2p_replicator repl, p2p_error *err);

/* Current status (the JSON object described above).
 *   out_json  receives text owned by the caller; release with p2p_free.
 * Returns P2P_OK, P2P_ERR_INVALID_ARGUMENT, P2P_ERR_INVALID_HANDLE. */
P2P_API int32_t p2p_replicator_status(p2p_replicator repl, char **out_json, p2p_error *err);

/* Revision statistics since the replicator was created, over every connection, as JSON:
 *   {"revs_sent": 10, "deltas_sent": 9, "bytes_sent": 2100, "full_bytes_sent": 99000,
 *    "delta_fallbacks": 0, "revs_received": 4, "deltas_received": 0, "bytes_received": 800,
 *    "full_bytes_received": 800, "deltas_refused": 0}
 * revs_* count revisions acknowledged by the peer (sent) or saved (received); deltas_* how
 * many of them went as deltas (delta sync, see enable_delta_sync); bytes_* their rev bodies
 * as they went over the connection (before compression) and full_bytes_* what the full
 * bodies take. delta_fallbacks counts deltas the peer refused and that were resent whole;
 * deltas_refused deltas this side could not apply (the peer resent them whole).
 * Appended in 1.1:
 *   "delta_bytes_saved_sent": 96900, "delta_bytes_saved_received": 0,
 *   "wire_bytes_sent": 3000, "wire_bytes_received": 1900,
 *   "conflicts_resolved": 1, "retries": 2, "last_error": null
 * delta_bytes_saved_* are full_bytes_* minus bytes_* (what deltas saved each way);
 * wire_bytes_* count every BLIP frame byte of every connection (all messages, after
 * compression); conflicts_resolved counts conflicts settled by the resolver or the default
 * rule and saved; retries counts connection attempts made again after a transient error;
 * last_error is null or the last error met (a retry's reason, an unresolved conflict or
 * the error that stopped a run), as an error object of the status.
 * Every figure is final once a run is over: when p2p_replicator_status reads "stopped" (what
 * the bindings' wait polls for), when p2p_replicator_stop returns and in the final status
 * event (as are the progress and the document events). A revision whose acknowledgement was lost with its
 * connection and that a later connection found on the peer is not in revs_sent (its bytes
 * are in wire_bytes_sent).
 *   out_json  receives text owned by the caller; release with p2p_free.
 * Returns P2P_OK, P2P_ERR_INVALID_ARGUMENT, P2P_ERR_INVALID_HANDLE. */
P2P_API int32_t p2p_replicator_stats(p2p_replicator repl, char **out_json, p2p_error *err);

/* Receives replicator events: typedef identical in shape to p2p_change_fn. Called on a
 * library thread, never with a library lock held, serially and in order per
 * subscription; must return within milliseconds and must not block on the library (it
 * may call p2p_subscription_remove on its own token).
 *   event_json  borrowed for the call. */
typedef void (*p2p_replicator_event_fn)(p2p_subscription token, const char *event_json,
                                        void *user_data);

/* Registers `fn` for status events (p2p_replicator_add_status_listener) or document events
 * (p2p_replicator_add_document_listener).
 *   fn, user_data  user_data must stay valid until p2p_subscription_remove returns.
 *   out_token      receives the subscription, owned by the caller; release with
 *                  p2p_subscription_remove (before closing the replicator).
 * Return P2P_OK, P2P_ERR_INVALID_ARGUMENT (NULL fn or out_token), P2P_ERR_INVALID_HANDLE. */
P2P_API int32_t p2p_replicator_add_status_listener(p2p_replicator repl, p2p_replicator_event_fn fn,
                                                   void *user_data, p2p_subscription *out_token,
                                                   p2p_error *err);
P2P_API int32_t p2p_replicator_add_document_listener(p2p_replicator repl, p2p_replicator_event_fn fn,
                                                     void *user_data, p2p_subscription *out_token,
                                                     p2p_error *err);

/* Pull-style alternative to both listeners: status and document events go to a bounded
 * queue read with p2p_subscription_next_event. When it is full, later events are dropped
 * and counted in one "overflow" event at the point of the gap.
 *   capacity   maximum queued events; 0 = default (1024).
 *   out_token  receives the subscription, owned by the caller; release with
 *              p2p_subscription_remove.
 * Returns P2P_OK, P2P_ERR_INVALID_ARGUMENT, P2P_ERR_INVALID_HANDLE. */
P2P_API int32_t p2p_replicator_add_event_queue(p2p_replicator repl, uint32_t capacity,
                                               p2p_subscription *out_token, p2p_error *err);

/* IDs of the documents of `coll` with local changes not yet pushed, as a JSON array of
 * strings; and whether one document has such changes.
 *   out_json  receives text owned by the caller; release with p2p_free.
 * Return P2P_OK, P2P_ERR_INVALID_ARGUMENT (NULL, a pull-only replicator, a collection not
 * replicated, an invalid doc_id), P2P_ERR_INVALID_HANDLE, P2P_ERR_IO.
 * Blocks: disk I/O. */
P2P_API int32_t p2p_replicator_pending_document_ids(p2p_replicator repl, p2p_collection coll,
                                                    char **out_json, p2p_error *err);
P2P_API int32_t p2p_replicator_is_document_pending(p2p_replicator repl, p2p_collection coll,
                                                   const char *doc_id, uint8_t *out_pending,
                                                   p2p_error *err);

/* The certificate the listener presented at the most recent TLS handshake of the current
 * or last run, whether or not it was trusted, as PEM. Pin on first use: connect once
 * with P2P_TRUST_SELF_SIGNED_ONLY after the user compared fingerprints, then save this
 * and use it as pinned_certificate_pem with P2P_TRUST_PINNED (or pin the fingerprint the
 * user compared directly, with pinned_fingerprint, and skip the first connection).
 *   out_pem  receives text owned by the caller (p2p_free), or NULL before any handshake.
 * Returns P2P_OK, P2P_ERR_INVALID_ARGUMENT, P2P_ERR_INVALID_HANDLE. */
P2P_API int32_t p2p_replicator_server_certificate(p2p_replicator repl, char **out_pem,
                                                  p2p_error *err);

/* Stops the replicator (as p2p_replicator_stop) and releases it; its filters and resolvers
 * are not called after this returns. Closing 0 or a closed handle returns P2P_OK. Must not
 * be called from inside one of its own callbacks.
 * Returns P2P_OK, P2P_ERR_INVALID_HANDLE (wrong kind), P2P_ERR_BUSY (subscriptions on it
 * are still registered: nothing is closed or stopped).
 * Blocks: as p2p_replicator_stop. */
P2P_API int32_t p2p_replicator_close(p2p_replicator repl, p2p_error *err);

/* ---------------------------------------------------------------- blobs */

/* A blob is binary content kept outside the JSON of a document (a photo, a PDF). A
 * document refers to it with a blob dictionary, anywhere in its body:
 *   {"@type":"blob","content_type":"image/png","digest":"sha1-<base64>","length":12345}
 * The digest is "sha1-" and the standard base64 (with padding) of the SHA-1 of the bytes;
 * it names the content, so identical content is stored once. content_type is optional.
 * The functions that create a blob return this dictionary (keys in this order, no
 * spaces): put it into a document body and save the document.
 *
 * Storage: each blob is a file in the directory "blobs" inside the database directory.
 * Content is written to a temporary file, flushed to disk (fsync), renamed to its final
 * name and the directory flushed, so no partial blob is ever visible; a crash leaves only
 * a temporary file, removed by the next p2p_db_open or p2p_db_compact. Memory use is
 * bounded: nothing here holds a whole blob in memory.
 *
 * Saving a document: a local save (p2p_collection_save_document, p2p_batch_save_document)
 * refuses a body that introduces a blob dictionary the database cannot back: a digest
 * that is not stored gives P2P_ERR_NOT_FOUND, a malformed dictionary ("@type":"blob" with
 * a missing or invalid digest, a length that is not a non-negative integer or does not
 * match the stored blob) gives P2P_ERR_INVALID_ARGUMENT. A dictionary carried over
 * unchanged from the revision being replaced is accepted as it is.
 *
 * Naming a blob (the `blob` parameter below): either its dictionary as JSON text (as
 * found in a document body; only "digest" is required, "length" is verified when
 * present) or its bare digest "sha1-...".
 *
 * Removal: blobs are removed only by p2p_db_compact, when no revision whose body the
 * database keeps refers to them (see p2p_db_compact).
 *
 * Replication: blob content travels with the documents that refer to it, in both
 * directions (README "Blobs"): the receiving side fetches each blob it lacks, verifies
 * its digest and length, and saves the revision only once every blob is stored; a blob
 * that cannot be fetched gives that document an error event and it is retried. A
 * document whose blob content is absent here (e.g. a peer that could not serve it) can
 * still be edited and saved as long as the dictionary is kept unchanged.
 *
 * Threads: every function may be called from any thread. Calls on one writer or reader
 * handle are serialised (a second call waits for the first); different handles run in
 * parallel. All of them block on file I/O. */

/* Stores `len` bytes of `data` as a blob and returns its dictionary.
 *   data           borrowed; may be NULL when len is 0.
 *   content_type   borrowed; optional (NULL or "" = none), e.g. "image/png".
 *   out_blob_json  receives the blob dictionary, owned by the caller (p2p_free).
 * Returns P2P_OK, P2P_ERR_INVALID_ARGUMENT, P2P_ERR_INVALID_HANDLE, P2P_ERR_IO.
 * Blocks: file I/O, as every function of this section. */
P2P_API int32_t p2p_blob_create(p2p_db db, const uint8_t *data, size_t len,
                                const char *content_type, char **out_blob_json, p2p_error *err);

/* Stores the content of the file at `path` as a blob (streamed, never read whole) and
 * returns its dictionary. Parameters as for p2p_blob_create.
 * Returns P2P_OK, P2P_ERR_NOT_FOUND (no such file), P2P_ERR_INVALID_ARGUMENT,
 * P2P_ERR_INVALID_HANDLE, P2P_ERR_IO (unreadable file; errno in the POSIX domain). */
P2P_API int32_t p2p_blob_create_from_file(p2p_db db, const char *path, const char *content_type,
                                          char **out_blob_json, p2p_error *err);

/* Starts a blob written in chunks with p2p_blob_writer_write, then
 * p2p_blob_writer_finish. Its content goes to a temporary file; nothing is visible
 * until finish.
 *   content_type  borrowed; optional (NULL or "" = none), copied into the dictionary.
 *   out_writer    receives a handle owned by the caller; release it with
 *                 p2p_blob_writer_close, after finish or to abandon the blob. The
 *                 database cannot be closed while it is open (P2P_ERR_BUSY).
 * Returns P2P_OK, P2P_ERR_INVALID_ARGUMENT, P2P_ERR_INVALID_HANDLE, P2P_ERR_IO. */
P2P_API int32_t p2p_blob_writer_create(p2p_db db, const char *content_type,
                                       p2p_blob_writer *out_writer, p2p_error *err);

/* Appends `len` bytes of `data` to the blob (copied to its temporary file before the
 * call returns; the SHA-1 is computed as the bytes pass).
 *   data  borrowed; may be NULL when len is 0.
 * Returns P2P_OK, P2P_ERR_INVALID_ARGUMENT, P2P_ERR_INVALID_HANDLE (closed, or already
 * finished), P2P_ERR_IO (e.g. disk full; the writer then only accepts close). */
P2P_API int32_t p2p_blob_writer_write(p2p_blob_writer writer, const uint8_t *data, size_t len,
                                      p2p_error *err);

/* Makes the blob durable and visible under its digest and returns its dictionary.
 * Finishing again returns the same dictionary. The handle stays open: close it with
 * p2p_blob_writer_close.
 *   out_blob_json  receives the blob dictionary, owned by the caller (p2p_free).
 * A blob finished here survives the next p2p_db_compact even before a document refers to
 * it (the one after that removes it if still unreferenced): save the document first.
 * Returns P2P_OK, P2P_ERR_INVALID_ARGUMENT, P2P_ERR_INVALID_HANDLE, P2P_ERR_IO. */
P2P_API int32_t p2p_blob_writer_finish(p2p_blob_writer writer, char **out_blob_json,
                                       p2p_error *err);

/* Releases the writer. If it was not finished, the blob is abandoned: its temporary file
 * is removed and nothing is stored. Closing 0 or a closed handle returns P2P_OK.
 * Returns P2P_OK, P2P_ERR_INVALID_HANDLE (wrong kind). */
P2P_API int32_t p2p_blob_writer_close(p2p_blob_writer writer, p2p_error *err);

/* Opens a stored blob for reading in chunks with p2p_blob_reader_read.
 *   blob        borrowed; the blob's dictionary (JSON) or its digest (see above).
 *   out_reader  receives a handle owned by the caller; release with p2p_blob_reader_close.
 *               The database cannot be closed while it is open (P2P_ERR_BUSY).
 * Returns P2P_OK, P2P_ERR_NOT_FOUND (no such blob), P2P_ERR_INVALID_ARGUMENT (malformed
 * dictionary or digest), P2P_ERR_INVALID_HANDLE, P2P_ERR_IO. */
P2P_API int32_t p2p_blob_reader_open(p2p_db db, const char *blob, p2p_blob_reader *out_reader,
                                     p2p_error *err);

/* Reads the next bytes of the blob into `buf`, filling it unless the end comes first.
 *   buf       caller's buffer of `capacity` (> 0) bytes; written.
 *   out_read  receives the number of bytes written to buf; 0 means the end, reached and
 *             verified.
 * Verification: when the end is reached the length and SHA-1 of everything read are
 * checked against the digest (and the dictionary's length, if one was given); a mismatch
 * (a damaged blob file) fails with P2P_ERR_CORRUPT instead of reporting the end, and so
 * do all later reads. Treat the bytes as good only once a read returned 0.
 * Returns P2P_OK, P2P_ERR_CORRUPT, P2P_ERR_INVALID_ARGUMENT (NULL, capacity 0),
 * P2P_ERR_INVALID_HANDLE, P2P_ERR_IO. */
P2P_API int32_t p2p_blob_reader_read(p2p_blob_reader reader, uint8_t *buf, size_t capacity,
                                     size_t *out_read, p2p_error *err);

/* Length of the blob in bytes (from its dictionary if one was given, else the stored size).
 * Returns P2P_OK, P2P_ERR_INVALID_ARGUMENT, P2P_ERR_INVALID_HANDLE. */
P2P_API int32_t p2p_blob_reader_length(p2p_blob_reader reader, uint64_t *out_length,
                                       p2p_error *err);

/* Releases the reader. Closing 0 or a closed handle returns P2P_OK.
 * Returns P2P_OK, P2P_ERR_INVALID_HANDLE (wrong kind). */
P2P_API int32_t p2p_blob_reader_close(p2p_blob_reader reader, p2p_error *err);

/* Writes the content of a stored blob to the file `path`, verified: it is streamed to a
 * temporary file beside `path`, checked, flushed and renamed over `path`, so `path` never
 * holds a partial or damaged copy (an existing file is replaced only on success).
 *   blob  borrowed; dictionary or digest.  path  borrowed.
 * Returns P2P_OK, P2P_ERR_NOT_FOUND (no such blob, or path's directory missing),
 * P2P_ERR_CORRUPT (the stored blob is damaged; nothing written), P2P_ERR_INVALID_ARGUMENT,
 * P2P_ERR_INVALID_HANDLE, P2P_ERR_IO. */
P2P_API int32_t p2p_blob_save_to_file(p2p_db db, const char *blob, const char *path,
                                      p2p_error *err);

/* Returns the dictionary of a stored blob: its digest and stored length (and the
 * content_type of `blob` if it is a dictionary that has one). Reads no content.
 *   out_blob_json  receives text owned by the caller (p2p_free).
 * Returns P2P_OK, P2P_ERR_NOT_FOUND (not stored), P2P_ERR_CORRUPT (the dictionary's
 * length differs from the stored size), P2P_ERR_INVALID_ARGUMENT, P2P_ERR_INVALID_HANDLE,
 * P2P_ERR_IO. */
P2P_API int32_t p2p_blob_info(p2p_db db, const char *blob, char **out_blob_json, p2p_error *err);

/* Sets *out_exists to 1 if the blob is stored, else 0. Reads no content.
 * Returns P2P_OK, P2P_ERR_INVALID_ARGUMENT, P2P_ERR_INVALID_HANDLE, P2P_ERR_IO. */
P2P_API int32_t p2p_blob_exists(p2p_db db, const char *blob, uint8_t *out_exists, p2p_error *err);

/* Compacts the database: removes every blob that no kept revision refers to, and the
 * temporary files of blob writers that crashed. A blob is referenced when the body of a
 * revision the database keeps names its digest, in a "@type":"blob" dictionary anywhere
 * or in a top-level "_attachments" entry. Kept bodies are those of the current revision,
 * of every other leaf (conflicting branches, deleted leaves) and of the current
 * revision's parent (kept for deltas); after an update drops a reference the blob
 * therefore goes only once a second update has made the old body obsolete, and after a
 * purge at once. Blobs finished since the previous compaction are kept in any case (a
 * writer may not have saved its document yet). Local documents do not count.
 * Document writes wait while it runs. A crash during compaction never removes a
 * referenced blob.
 *   out_json  optional; receives {"blobs_removed":N,"bytes_removed":N,"blobs_kept":N,
 *             "temp_files_removed":N}, owned by the caller (p2p_free).
 * Returns P2P_OK, P2P_ERR_INVALID_HANDLE, P2P_ERR_CORRUPT (a stored body does not
 * parse: nothing removed), P2P_ERR_IO.
 * Blocks: disk I/O over every blob and kept body; document writes wait meanwhile. */
P2P_API int32_t p2p_db_compact(p2p_db db, char **out_json, p2p_error *err);

/* ---------------------------------------------------------------- logging */

/* The library log, in the manner of Couchbase Lite's log sinks. Every record has a level
 * and a domain; two sinks take them, each with its own level and domain mask: the
 * application's callback (p2p_log_set_callback) and the console, which writes one line
 * per record to standard error (p2p_log_set_console). Both are off by default, except
 * that the console is configured when the library loads from the environment variable
 *
 *   P2PSYNC_LOG=level[,domain...]     e.g. P2PSYNC_LOG=info  or  P2PSYNC_LOG=debug,replicator,network
 *
 * with level one of debug, verbose, info, warning, error, none and domains among
 * database, replicator, listener, network, tls, all (no domain = all). A value that does
 * not parse leaves the console off and prints one line saying why on standard error.
 * Console lines read "2025-01-31T12:00:00.000Z p2psync Info listener: connection opened ...".
 *
 * A sink at level L receives the records of level L and above in its domains. A record no
 * sink wants costs one comparison (it is not even formatted).
 *
 * What is logged (the message is one line of text: a fixed phrase, then key=value pairs,
 * values quoted when they contain spaces):
 *   Listener  Info: "connection opened peer=<host:port> user=<name> subprotocol=<...>"
 *             (CBMobile_2 peers: also collections=_default._default), "peer asked for
 *             collections peer=... collections=<scope.name,...>", "connection closed
 *             peer=... user=... reason=... duration=... collections=... docs_sent=N
 *             docs_received=N bytes_sent=N bytes_received=N" (Warning instead when the
 *             peer caused the end: protocol error, abnormal close).
 *             Warning, for every error a peer caused: "connection refused: credentials not
 *             accepted", "...: malformed Basic credentials", "...: too many connections",
 *             "...: WebSocket upgrade failed", "...: client certificate not accepted"
 *             (domain tls), "TLS handshake failed" (domain tls).
 *             Info: "peer checkpoint cap reached: least recently written checkpoints
 *             deleted deleted=N cap=N" (max_peer_checkpoints).
 *   Replicator Info: "replicator state changed from=<activity> to=<activity> url=...",
 *             "conflict resolved collection=... doc=... local=<rev> remote=<rev>".
 *             Warning: "replication offline; retrying url=... attempt=N delay=<duration>
 *             reason=<error>", "conflict not resolved ... err=...", "remote checkpoint
 *             refused by the peer: ... collection=... status=HTTP/413 err=..." (progress is
 *             then not checkpointed: the next run starts from the last checkpoint saved).
 *             Error: "replication stopped by a permanent error", "replication gave up
 *             after max attempts".
 *   Network   Warning: BLIP protocol errors; Debug: connection ends, failed pings.
 *   Database  Error: failed expiry purges; Debug: open, close.
 *   TLS       Info: anonymous identity created or renewed.
 *   Verbose/Debug: per-message detail of a sync (changes, revisions, checkpoints).
 * The phrases are for people; they may gain key=value pairs in later versions. Programs
 * should read statistics (p2p_listener_status, p2p_replicator_stats) instead. */

#define P2P_LOG_DEBUG   0
#define P2P_LOG_VERBOSE 1
#define P2P_LOG_INFO    2
#define P2P_LOG_WARNING 3
#define P2P_LOG_ERROR   4
#define P2P_LOG_NONE    5   /* as a sink's level: the sink is off */

#define P2P_LOG_DOMAIN_DATABASE   1u   /* the store: open, close, expiry */
#define P2P_LOG_DOMAIN_REPLICATOR 2u   /* the active side */
#define P2P_LOG_DOMAIN_LISTENER   4u   /* the passive side: connections, refused peers */
#define P2P_LOG_DOMAIN_NETWORK    8u   /* BLIP and WebSocket */
#define P2P_LOG_DOMAIN_TLS       16u   /* identities, handshakes */
#define P2P_LOG_DOMAIN_ALL       31u

/* Receives one log record.
 *   level    a P2P_LOG_* level (DEBUG..ERROR).
 *   domain   exactly one P2P_LOG_DOMAIN_* bit.
 *   message  borrowed for the call; one line of UTF-8 text without a newline.
 * Threads: called on the library thread that logged, with no library lock held. Calls may
 * come from any thread and SEVERAL AT ONCE (they are not serialised): the function must be
 * thread-safe. It should return quickly (the logging thread waits). It may call library
 * functions, except p2p_log_set_callback (which returns P2P_ERR_BUSY there); records those
 * calls produce are delivered to it too, so it must not loop on them. */
typedef void (*p2p_log_fn)(uint32_t level, uint32_t domain, const char *message, void *user_data);

/* Installs `fn` as the application's log sink for records of `level` and above in
 * `domains` (a mask of P2P_LOG_DOMAIN_* bits), replacing any previous one; fn NULL or
 * level P2P_LOG_NONE removes it. Returns after the previous callback has been uninstalled
 * and every call of it in flight has returned, so the previous user_data may be freed
 * then.
 *   fn, user_data  kept until replaced; user_data is passed back unchanged.
 * Returns P2P_OK, P2P_ERR_INVALID_ARGUMENT (level above P2P_LOG_NONE, unknown domain
 * bits), P2P_ERR_BUSY (called from inside a log callback: it would wait for itself).
 * Blocks: until calls of the previous callback in flight have returned (see above). */
P2P_API int32_t p2p_log_set_callback(uint32_t level, uint32_t domains, p2p_log_fn fn, void *user_data,
                                     p2p_error *err);

/* Sets the console sink (standard error): records of `level` and above in `domains`;
 * level P2P_LOG_NONE turns it off. Overrides what P2PSYNC_LOG set.
 * Returns P2P_OK, P2P_ERR_INVALID_ARGUMENT (level above P2P_LOG_NONE, unknown domain bits). */
P2P_API int32_t p2p_log_set_console(uint32_t level, uint32_t domains, p2p_error *err);

/* Current settings of the two sinks as JSON:
 *   {"callback": {"level": 2, "domains": 31}, "console": {"level": 5, "domains": 0}}
 * (level P2P_LOG_NONE when a sink is off).
 *   out_json  receives text owned by the caller; release with p2p_free.
 * Returns P2P_OK, P2P_ERR_INVALID_ARGUMENT (out_json NULL). */
P2P_API int32_t p2p_log_settings(char **out_json, p2p_error *err);

/* ---------------------------------------------------------------- queries
 *
 * A query finds documents by their content, in a subset of SQL++ for mobile (Couchbase
 * Lite's query language), compiled to SQLite over one collection:
 *
 *   SELECT name, address.city FROM _ WHERE age > $min ORDER BY name LIMIT 10
 *   SELECT meta().id, COUNT(*) FROM inventory.parts AS p GROUP BY p.kind HAVING COUNT(*) > 1
 *   CREATE INDEX byCity ON _(address.city)      DROP INDEX byCity ON _
 *   EXPLAIN SELECT ...
 *   CREATE INDEX textFTS ON _(text) USING FTS WITH {"language": "en", "ignoreAccents": true}
 *   SELECT meta().id FROM _ WHERE MATCH(textFTS, 'boat*') ORDER BY RANK(textFTS) DESC
 *
 * The language, the MISSING/NULL rules and the column names are described in the README
 * ("Queries") and in engine/query/doc.go. Deleted documents never match. Each row is a JSON
 * object; a property MISSING from a document is left out of its row.
 *
 * Lifecycle: p2p_query_prepare compiles once; p2p_query_execute runs it (again) with
 * parameters; p2p_query_next returns the rows one by one; p2p_query_close releases it.
 * An executed query whose rows were not all read holds one of the database's reader
 * connections: at most 3 may be open at once per database (the next execute returns
 * P2P_ERR_BUSY), so read to the end or close the query. A query is a child of its
 * database: the database cannot be closed while a query of it is open (P2P_ERR_BUSY).
 * Calls on one query are serialised; different queries may be used from different threads.
 * A query can also be watched (p2p_query_add_listener, at the end of this section). */

/* Parses and compiles a statement against db.
 *   text       borrowed; the statement (UTF-8, at most 64 KiB).
 *   out_query  receives a handle owned by the caller; release with p2p_query_close.
 * Returns P2P_OK; P2P_ERR_INVALID_ARGUMENT (NULL, bad UTF-8, or a statement that does not
 * parse or compile: the message reads "invalid query at line L, column C: ..."),
 * P2P_ERR_NOT_FOUND (the collection of FROM does not exist; the message has its position),
 * P2P_ERR_INVALID_HANDLE.
 * Blocks: disk I/O (the schema is read). */
P2P_API int32_t p2p_query_prepare(p2p_db db, const char *text, p2p_query *out_query, p2p_error *err);

/* The result column names as a JSON array, e.g. ["name","city","$1"]; ["plan"] for an
 * EXPLAIN; [] for CREATE/DROP INDEX.
 *   out_json  receives text owned by the caller; release with p2p_free.
 * Returns P2P_OK, P2P_ERR_INVALID_ARGUMENT (out_json NULL), P2P_ERR_INVALID_HANDLE. */
P2P_API int32_t p2p_query_columns(p2p_query query, char **out_json, p2p_error *err);

/* Runs the query, replacing the rows of a previous execute that were not read. A SELECT
 * reads the last committed state; CREATE INDEX / DROP INDEX are applied here (and have no
 * rows); an EXPLAIN has one row {"plan": "..."}.
 *   params_json  borrowed, may be NULL; a JSON object of parameter values, e.g.
 *                {"min": 30, "names": ["a", "b"]}. Every $name of the query must be given.
 * Returns P2P_OK; P2P_ERR_INVALID_ARGUMENT (params not a JSON object, a parameter missing,
 * a LIKE parameter not a string, a bad index name); P2P_ERR_BUSY (3 queries of this
 * database have unread rows); P2P_ERR_NOT_FOUND (DROP INDEX of a missing index, collection
 * deleted); P2P_ERR_INVALID_HANDLE; P2P_ERR_IO. May block while another thread writes, for
 * CREATE/DROP INDEX only.
 * Blocks: disk I/O. */
P2P_API int32_t p2p_query_execute(p2p_query query, const char *params_json, p2p_error *err);

/* The next row of the last execute as a JSON object, or NULL after the last row (and when
 * the query was not executed). Reaching the end releases the rows.
 *   out_row_json  receives text owned by the caller (release with p2p_free), or NULL.
 * Returns P2P_OK, P2P_ERR_INVALID_ARGUMENT (out_row_json NULL), P2P_ERR_INVALID_HANDLE,
 * P2P_ERR_IO.
 * Blocks: disk I/O (rows are read as they are asked for). */
P2P_API int32_t p2p_query_next(p2p_query query, char **out_row_json, p2p_error *err);

/* The compiled SQLite statement followed by SQLite's EXPLAIN QUERY PLAN, one step a line,
 * e.g. "SEARCH docs_1 USING INDEX qidx_1_byCity (<expr>=?)" when an index serves the WHERE.
 *   out_text  receives text owned by the caller; release with p2p_free.
 * Returns P2P_OK, P2P_ERR_INVALID_ARGUMENT (out_text NULL, or the query is CREATE/DROP
 * INDEX), P2P_ERR_BUSY (as for execute), P2P_ERR_INVALID_HANDLE.
 * Blocks: disk I/O. */
P2P_API int32_t p2p_query_explain(p2p_query query, char **out_text, p2p_error *err);

/* Releases the query and its unread rows. Closing 0 or a closed handle returns P2P_OK.
 * Returns P2P_OK, P2P_ERR_INVALID_HANDLE (wrong kind). */
P2P_API int32_t p2p_query_close(p2p_query query, p2p_error *err);

/* ---------------------------------------------------------------- versions */

/* Version of a document snapshot, as Couchbase Lite 4 identifies revisions (besides the
 * rev_id, which stays): p2p_document_version gives the current version
 * "<time in lowercase hex>@<source ID>", e.g. "18ed7b68946d0000@pqL3hlqMVKn2VRNcx3X6BA";
 * p2p_document_timestamp its time, nanoseconds since the Unix epoch from the database's
 * hybrid logical clock (low 16 bits a logical counter; it never goes back, even when the
 * system clock does); p2p_document_version_vector the whole version vector
 * ("cv[,merge versions][;previous versions]"). A revision without a version — saved
 * before versions existed, or received from a CBMobile_3 peer — gives "" and 0; it gains
 * one when it is next saved.
 *   out_*  text is owned by the caller; release with p2p_free.
 * Return P2P_OK, P2P_ERR_INVALID_ARGUMENT (NULL out), P2P_ERR_INVALID_HANDLE. */
P2P_API int32_t p2p_document_version(p2p_document doc, char **out_version, p2p_error *err);
P2P_API int32_t p2p_document_timestamp(p2p_document doc, uint64_t *out_timestamp, p2p_error *err);
P2P_API int32_t p2p_document_version_vector(p2p_document doc, char **out_vector, p2p_error *err);

/* The database's source ID: the name its versions carry after the '@', 22 characters of
 * base64 (16 random bytes), created with the database (or when a database from before
 * versions is first opened) and never changed.
 *   out_source_id  receives text owned by the caller; release with p2p_free.
 * Returns P2P_OK, P2P_ERR_INVALID_ARGUMENT (NULL out), P2P_ERR_INVALID_HANDLE. */
P2P_API int32_t p2p_db_source_id(p2p_db db, char **out_source_id, p2p_error *err);

/* Live queries. A listener receives the query's rows when they change:
 *   {"event": "results", "rows": [row, ...]}   (each row a JSON object, as p2p_query_next)
 *   {"event": "error", "code": P2P_ERR_..., "message": "..."}   (a run failed)
 * The first event has the current rows. The query runs again after every commit (local
 * write, batch, replicated revision, deletion, purge, expiry) of the collection it reads;
 * commits that arrive during a run are coalesced into one more run, so the listener is
 * called at most once per commit, and not at all when the rows did not change.
 * Called on a library thread of this subscription (not the thread that wrote, and never
 * with a library lock held), serially. It may call the API, including
 * p2p_subscription_remove on its own token (which then returns without waiting).
 *   event_json  borrowed for the duration of the call. */
typedef void (*p2p_query_listener_fn)(p2p_subscription token, const char *event_json, void *user_data);

/* Watches a SELECT: runs it with params_json (as p2p_query_execute) now and after each
 * change, independently of p2p_query_execute / p2p_query_next on the same query.
 *   params_json  borrowed, may be NULL; checked now.
 *   fn, user_data  user_data is passed back untouched; it must stay valid until
 *                  p2p_subscription_remove returns.
 *   out_token    receives the subscription, owned by the caller; release with
 *                p2p_subscription_remove (which waits for a call in progress, unless called
 *                from inside it). The query cannot be closed while it has listeners
 *                (P2P_ERR_BUSY).
 * Returns P2P_OK; P2P_ERR_INVALID_ARGUMENT (NULL fn or out_token, the query is not a
 * SELECT, bad or missing parameters); P2P_ERR_INVALID_HANDLE; P2P_ERR_NOT_FOUND (the
 * collection was deleted). The first run happens on the listener's thread, not here. */
P2P_API int32_t p2p_query_add_listener(p2p_query query, const char *params_json,
                                       p2p_query_listener_fn fn, void *user_data,
                                       p2p_subscription *out_token, p2p_error *err);

/* ---------------------------------------------------------------- bulk documents */

/* Many documents in one call, for loading and reading in bulk: one crossing of the ABI
 * (and, from Python or the JVM, one binding call) instead of one or more per document.
 *
 * p2p_batch_save_documents: saves documents doc_ids[i] with bodies jsons[i], i = 0 ..
 * count-1, in that order, in `batch`, exactly as count calls of p2p_batch_save_document
 * would (the same checks, revisions, sequences and codes); a document ID may repeat (its
 * later body is saved on top of the earlier one).
 *   doc_ids, jsons   borrowed; arrays of count non-NULL strings (may be NULL when count is 0).
 *   parent_rev_ids   borrowed, may be NULL (no parent for any document); else an array of
 *                    count entries, each the parent revision or NULL/"" (as parent_rev_id).
 *   concurrency      P2P_CONCURRENCY_*, for every document.
 *   out_saved        optional; receives the number of documents this call saved. It is
 *                    written on failure too (an exception to the rule that a failure leaves
 *                    out-parameters untouched): saving stops at the first document that
 *                    fails, the ones before it stay saved in the batch (which stays open,
 *                    as after a failed p2p_batch_save_document), and *out_saved is its
 *                    index. The error message starts with "document <index> (<ID>): ".
 *   out_results_json optional; on success receives, owned by the caller (p2p_free), a JSON
 *                    array with one object per document, in order:
 *                    {"id": ..., "rev_id": ..., "sequence": N, "version": ...}
 *                    (version as p2p_document_version). Pass NULL when not needed.
 * Returns P2P_OK, or the code of the failing document as p2p_batch_save_document returns
 * it; P2P_ERR_INVALID_ARGUMENT also for a NULL array or entry.
 * Blocks: disk I/O. */
P2P_API int32_t p2p_batch_save_documents(p2p_batch batch, p2p_collection coll, size_t count,
                                         const char *const *doc_ids, const char *const *jsons,
                                         const char *const *parent_rev_ids, uint8_t concurrency,
                                         size_t *out_saved, char **out_results_json,
                                         p2p_error *err);

/* p2p_collection_get_documents: reads the current revisions of doc_ids[0 .. count-1] from
 * one snapshot of the collection, as count calls of p2p_collection_get_document would.
 *   doc_ids          borrowed; array of count non-NULL document IDs (may repeat; NULL when
 *                    count is 0).
 *   include_deleted  0: a deleted document is given as null; 1: as its tombstone.
 *   out_json         receives, owned by the caller (p2p_free), a JSON array with one entry
 *                    per ID, in order: null for a missing (or, without include_deleted,
 *                    deleted) document, else
 *                    {"id": ..., "rev_id": ..., "sequence": N, "deleted": false,
 *                     "version": ..., "timestamp": N, "version_vector": ..., "json": "..."}
 *                    where "json" is the body, as p2p_document_json gives it, as a JSON
 *                    string, and the version fields are as the p2p_document_* getters.
 * Returns P2P_OK; P2P_ERR_INVALID_ARGUMENT (NULL array, entry or out_json, an invalid ID:
 * the message names its index); P2P_ERR_INVALID_HANDLE; P2P_ERR_NOT_FOUND (collection
 * deleted); P2P_ERR_IO. A missing document is not an error.
 * Blocks: disk I/O. */
P2P_API int32_t p2p_collection_get_documents(p2p_collection coll, size_t count,
                                             const char *const *doc_ids, uint8_t include_deleted,
                                             char **out_json, p2p_error *err);

#ifdef __cplusplus
}
#endif
#endif /* P2PSYNC_H */
