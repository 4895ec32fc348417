/* p2psync_jni.c — JNI glue of the Kotlin binding. It calls only the public C API
 * (include/p2psync.h) and converts: UTF-8 byte[] <-> NUL-terminated text, handles <->
 * jlong, failures -> org.p2psync.P2PError exceptions (built by P2PSyncException.create, after
 * the p2p_error is disposed). No logic lives here. */
#include <jni.h>
#include <stdlib.h>
#include <string.h>

#include "p2psync.h"

static JavaVM *g_vm;
static jclass g_exception_class;  /* org.p2psync.P2PSyncException */
static jmethodID g_exception_create;
static jclass g_bytes_class;      /* byte[] */
static jmethodID g_sink_on_event; /* org.p2psync.ChangeSink.onEvent(long, byte[]) */
static jmethodID g_password_auth; /* org.p2psync.PasswordSink.authenticate(byte[], byte[]) */
static jmethodID g_cert_auth;     /* org.p2psync.ClientCertSink.authenticate(byte[]) */
static jmethodID g_filter;        /* org.p2psync.FilterSink.include(byte[], byte[], byte[], boolean, byte[], boolean) */
static jmethodID g_resolve;       /* org.p2psync.ResolverSink.resolve(byte[], byte[], byte[], byte[]) */
static jfieldID g_resolved_decision; /* org.p2psync.ResolvedConflict.decision (int) */
static jfieldID g_resolved_merged;   /* org.p2psync.ResolvedConflict.merged (byte[] or null) */

JNIEXPORT jint JNICALL JNI_OnLoad(JavaVM *vm, void *reserved)
{
    (void)reserved;
    JNIEnv *env = NULL;
    g_vm = vm;
    if ((*vm)->GetEnv(vm, (void **)&env, JNI_VERSION_1_8) != JNI_OK)
        return JNI_ERR;
    if (p2p_abi_version() != P2P_ABI_VERSION) {
        jclass err = (*env)->FindClass(env, "java/lang/UnsatisfiedLinkError");
        if (err != NULL)
            (*env)->ThrowNew(env, err, "libp2psync ABI version does not match the JNI glue");
        return JNI_ERR;
    }
    jclass cls = (*env)->FindClass(env, "org/p2psync/P2PSyncException");
    if (cls == NULL)
        return JNI_ERR;
    g_exception_class = (*env)->NewGlobalRef(env, cls);
    g_exception_create = (*env)->GetStaticMethodID(env, cls, "create", "(III[B)Lorg/p2psync/P2PError;");
    jclass bytes = (*env)->FindClass(env, "[B");
    jclass sink = (*env)->FindClass(env, "org/p2psync/ChangeSink");
    if (g_exception_create == NULL || bytes == NULL || sink == NULL)
        return JNI_ERR;
    g_bytes_class = (*env)->NewGlobalRef(env, bytes);
    g_sink_on_event = (*env)->GetMethodID(env, sink, "onEvent", "(J[B)V");
    if (g_sink_on_event == NULL)
        return JNI_ERR;
    jclass password = (*env)->FindClass(env, "org/p2psync/PasswordSink");
    jclass cert = password == NULL ? NULL : (*env)->FindClass(env, "org/p2psync/ClientCertSink");
    jclass filter = cert == NULL ? NULL : (*env)->FindClass(env, "org/p2psync/FilterSink");
    jclass resolver = filter == NULL ? NULL : (*env)->FindClass(env, "org/p2psync/ResolverSink");
    jclass resolved = resolver == NULL ? NULL : (*env)->FindClass(env, "org/p2psync/ResolvedConflict");
    if (resolved == NULL)
        return JNI_ERR;
    g_password_auth = (*env)->GetMethodID(env, password, "authenticate", "([B[B)Z");
    g_cert_auth = (*env)->GetMethodID(env, cert, "authenticate", "([B)Z");
    g_filter = (*env)->GetMethodID(env, filter, "include", "([B[B[BZ[BZ)Z");
    g_resolve = (*env)->GetMethodID(env, resolver, "resolve", "([B[B[B[B)Lorg/p2psync/ResolvedConflict;");
    g_resolved_decision = (*env)->GetFieldID(env, resolved, "decision", "I");
    g_resolved_merged = (*env)->GetFieldID(env, resolved, "merged", "[B");
    if (g_password_auth == NULL || g_cert_auth == NULL || g_filter == NULL || g_resolve == NULL ||
        g_resolved_decision == NULL || g_resolved_merged == NULL)
        return JNI_ERR;
    return JNI_VERSION_1_8;
}

/* ------------------------------------------------------------ conversions */

/* Copies a Java byte[] (UTF-8) into a malloc'd NUL-terminated string; NULL for null. */
static char *text_in(JNIEnv *env, jbyteArray bytes)
{
    if (bytes == NULL)
        return NULL;
    jsize n = (*env)->GetArrayLength(env, bytes);
    char *s = malloc((size_t)n + 1);
    if (s == NULL)
        return NULL;
    (*env)->GetByteArrayRegion(env, bytes, 0, n, (jbyte *)s);
    s[n] = '\0';
    return s;
}

/* Copies C text into a new byte[]; NULL text gives null. Does not free. */
static jbyteArray bytes_of(JNIEnv *env, const char *s)
{
    if (s == NULL)
        return NULL;
    jsize n = (jsize)strlen(s);
    jbyteArray out = (*env)->NewByteArray(env, n);
    if (out != NULL)
        (*env)->SetByteArrayRegion(env, out, 0, n, (const jbyte *)s);
    return out;
}

/* Library-owned text -> byte[], then p2p_free. */
static jbyteArray take_text(JNIEnv *env, char *s)
{
    jbyteArray out = bytes_of(env, s);
    p2p_free(s);
    return out;
}

/* Throws the exception for a failed call and disposes err. Returns 1 if it threw. */
static int check(JNIEnv *env, int32_t rc, p2p_error *err)
{
    if (rc == P2P_OK)
        return 0;
    jbyteArray msg = bytes_of(env, err->message ? err->message : "");
    jint domain = err->domain, code = err->code;
    p2p_error_dispose(err);
    jobject ex = (*env)->CallStaticObjectMethod(env, g_exception_class, g_exception_create, (jint)rc, domain, code, msg);
    if (ex != NULL && !(*env)->ExceptionCheck(env))
        (*env)->Throw(env, (jthrowable)ex);
    return 1;
}

/* Declares the usual locals of a native method: the error and up to three texts. */
#define TEXTS3(a, b, c)                   \
    p2p_error err = P2P_ERROR_INIT;       \
    char *t1 = text_in(env, a);           \
    char *t2 = text_in(env, b);           \
    char *t3 = text_in(env, c);
#define FREE_TEXTS() (free(t1), free(t2), free(t3))

#define FN(ret, name) JNIEXPORT ret JNICALL Java_org_p2psync_Native_##name
#define ARGS JNIEnv *env, jclass cls

/* ------------------------------------------------------------ core */

FN(jint, abiVersion)(ARGS) { (void)env; (void)cls; return (jint)p2p_abi_version(); }
FN(jbyteArray, version)(ARGS) { (void)cls; return bytes_of(env, p2p_version()); }
FN(jlong, liveHandles)(ARGS) { (void)env; (void)cls; return (jlong)p2p_debug_live_handles(); }
FN(jbyteArray, statusString)(ARGS, jint status) { (void)cls; return bytes_of(env, p2p_status_string(status)); }

/* ------------------------------------------------------------ database */

FN(jlong, dbOpen)(ARGS, jbyteArray path, jboolean create, jint max_depth, jboolean delta_sync)
{
    (void)cls;
    TEXTS3(path, NULL, NULL)
    p2p_db_options opts = P2P_DB_OPTIONS_INIT;
    opts.disable_create = create ? 0 : 1;
    opts.max_rev_tree_depth = (uint32_t)max_depth;
    opts.disable_delta_sync = delta_sync ? 0 : 1;
    p2p_db db = 0;
    int32_t rc = p2p_db_open(t1, &opts, &db, &err);
    FREE_TEXTS();
    return check(env, rc, &err) ? 0 : (jlong)db;
}

/* Functions of the shape f(handle, err). */
#define CLOSE_FN(name, cfn) \
    FN(void, name)(ARGS, jlong h) { (void)cls; p2p_error err = P2P_ERROR_INIT; check(env, cfn((uint64_t)h, &err), &err); }
CLOSE_FN(dbClose, p2p_db_close)
CLOSE_FN(collectionClose, p2p_collection_close)
CLOSE_FN(documentClose, p2p_document_close)
CLOSE_FN(batchCommit, p2p_batch_commit)
CLOSE_FN(batchAbort, p2p_batch_abort)

FN(void, dbDelete)(ARGS, jbyteArray path)
{
    (void)cls;
    TEXTS3(path, NULL, NULL)
    int32_t rc = p2p_db_delete(t1, &err);
    FREE_TEXTS();
    check(env, rc, &err);
}

FN(jboolean, dbExists)(ARGS, jbyteArray path)
{
    (void)cls;
    TEXTS3(path, NULL, NULL)
    uint8_t exists = 0;
    int32_t rc = p2p_db_exists(t1, &exists, &err);
    FREE_TEXTS();
    return check(env, rc, &err) ? JNI_FALSE : (exists ? JNI_TRUE : JNI_FALSE);
}

/* Functions of the shape f(handle, char **out, err). */
#define TEXT_GETTER(name, cfn)                                     \
    FN(jbyteArray, name)(ARGS, jlong h)                            \
    {                                                              \
        (void)cls;                                                 \
        p2p_error err = P2P_ERROR_INIT;                            \
        char *out = NULL;                                          \
        int32_t rc = cfn((uint64_t)h, &out, &err);                 \
        return check(env, rc, &err) ? NULL : take_text(env, out);  \
    }
TEXT_GETTER(dbName, p2p_db_name)
TEXT_GETTER(dbPath, p2p_db_path)
TEXT_GETTER(dbUuid, p2p_db_uuid)
TEXT_GETTER(dbScopeNames, p2p_db_scope_names)
TEXT_GETTER(collectionName, p2p_collection_name)
TEXT_GETTER(collectionScopeName, p2p_collection_scope_name)
TEXT_GETTER(documentJson, p2p_document_json)
TEXT_GETTER(documentId, p2p_document_id)
TEXT_GETTER(documentRevId, p2p_document_rev_id)

/* Functions of the shape f(handle, uint64_t *out, err). */
#define U64_GETTER(name, cfn)                                  \
    FN(jlong, name)(ARGS, jlong h)                             \
    {                                                          \
        (void)cls;                                             \
        p2p_error err = P2P_ERROR_INIT;                        \
        uint64_t out = 0;                                      \
        int32_t rc = cfn((uint64_t)h, &out, &err);             \
        return check(env, rc, &err) ? 0 : (jlong)out;          \
    }
U64_GETTER(collectionCount, p2p_collection_count)
U64_GETTER(collectionLastSequence, p2p_collection_last_sequence)
U64_GETTER(documentSequence, p2p_document_sequence)
U64_GETTER(dbDefaultCollection, p2p_db_default_collection)
U64_GETTER(dbBeginBatch, p2p_db_begin_batch)

FN(jboolean, documentDeleted)(ARGS, jlong h)
{
    (void)cls;
    p2p_error err = P2P_ERROR_INIT;
    uint8_t out = 0;
    int32_t rc = p2p_document_deleted((uint64_t)h, &out, &err);
    return check(env, rc, &err) ? JNI_FALSE : (out ? JNI_TRUE : JNI_FALSE);
}

/* ------------------------------------------------------------ collections */

FN(jlong, dbCreateCollection)(ARGS, jlong db, jbyteArray scope, jbyteArray name)
{
    (void)cls;
    TEXTS3(scope, name, NULL)
    p2p_collection out = 0;
    int32_t rc = p2p_db_create_collection((uint64_t)db, t1, t2, &out, &err);
    FREE_TEXTS();
    return check(env, rc, &err) ? 0 : (jlong)out;
}

FN(jlong, dbGetCollection)(ARGS, jlong db, jbyteArray scope, jbyteArray name)
{
    (void)cls;
    TEXTS3(scope, name, NULL)
    p2p_collection out = 0;
    int32_t rc = p2p_db_get_collection((uint64_t)db, t1, t2, &out, &err);
    FREE_TEXTS();
    return check(env, rc, &err) ? 0 : (jlong)out;
}

FN(void, dbDeleteCollection)(ARGS, jlong db, jbyteArray scope, jbyteArray name)
{
    (void)cls;
    TEXTS3(scope, name, NULL)
    int32_t rc = p2p_db_delete_collection((uint64_t)db, t1, t2, &err);
    FREE_TEXTS();
    check(env, rc, &err);
}

FN(jbyteArray, dbCollectionNames)(ARGS, jlong db, jbyteArray scope)
{
    (void)cls;
    TEXTS3(scope, NULL, NULL)
    char *out = NULL;
    int32_t rc = p2p_db_collection_names((uint64_t)db, t1, &out, &err);
    FREE_TEXTS();
    return check(env, rc, &err) ? NULL : take_text(env, out);
}

/* ------------------------------------------------------------ documents */

FN(jlong, collectionSave)(ARGS, jlong coll, jbyteArray id, jbyteArray json, jbyteArray parent, jint concurrency)
{
    (void)cls;
    TEXTS3(id, json, parent)
    p2p_document doc = 0;
    int32_t rc = p2p_collection_save_document((uint64_t)coll, t1, t2, t3, (uint8_t)concurrency, &doc, &err);
    FREE_TEXTS();
    return check(env, rc, &err) ? 0 : (jlong)doc;
}

FN(jlong, collectionDelete)(ARGS, jlong coll, jbyteArray id, jbyteArray parent, jint concurrency)
{
    (void)cls;
    TEXTS3(id, parent, NULL)
    p2p_document doc = 0;
    int32_t rc = p2p_collection_delete_document((uint64_t)coll, t1, t2, (uint8_t)concurrency, &doc, &err);
    FREE_TEXTS();
    return check(env, rc, &err) ? 0 : (jlong)doc;
}

FN(void, collectionPurge)(ARGS, jlong coll, jbyteArray id)
{
    (void)cls;
    TEXTS3(id, NULL, NULL)
    int32_t rc = p2p_collection_purge_document((uint64_t)coll, t1, &err);
    FREE_TEXTS();
    check(env, rc, &err);
}

FN(jlong, collectionGet)(ARGS, jlong coll, jbyteArray id, jboolean include_deleted)
{
    (void)cls;
    TEXTS3(id, NULL, NULL)
    p2p_document doc = 0;
    int32_t rc = p2p_collection_get_document((uint64_t)coll, t1, include_deleted ? 1 : 0, &doc, &err);
    FREE_TEXTS();
    return check(env, rc, &err) ? 0 : (jlong)doc;
}

FN(jlong, collectionGetRevision)(ARGS, jlong coll, jbyteArray id, jbyteArray rev)
{
    (void)cls;
    TEXTS3(id, rev, NULL)
    p2p_document doc = 0;
    int32_t rc = p2p_collection_get_revision((uint64_t)coll, t1, t2, &doc, &err);
    FREE_TEXTS();
    return check(env, rc, &err) ? 0 : (jlong)doc;
}

FN(jbyteArray, collectionConflicts)(ARGS, jlong coll, jbyteArray id)
{
    (void)cls;
    TEXTS3(id, NULL, NULL)
    char *out = NULL;
    int32_t rc = p2p_collection_get_conflicts((uint64_t)coll, t1, &out, &err);
    FREE_TEXTS();
    return check(env, rc, &err) ? NULL : take_text(env, out);
}

FN(void, collectionSetExpiration)(ARGS, jlong coll, jbyteArray id, jlong unix_ms)
{
    (void)cls;
    TEXTS3(id, NULL, NULL)
    int32_t rc = p2p_collection_set_document_expiration((uint64_t)coll, t1, (int64_t)unix_ms, &err);
    FREE_TEXTS();
    check(env, rc, &err);
}

FN(jlong, collectionGetExpiration)(ARGS, jlong coll, jbyteArray id)
{
    (void)cls;
    TEXTS3(id, NULL, NULL)
    int64_t out = 0;
    int32_t rc = p2p_collection_get_document_expiration((uint64_t)coll, t1, &out, &err);
    FREE_TEXTS();
    return check(env, rc, &err) ? 0 : (jlong)out;
}

FN(jbyteArray, collectionChanges)(ARGS, jlong coll, jlong since, jint limit)
{
    (void)cls;
    p2p_error err = P2P_ERROR_INIT;
    char *out = NULL;
    int32_t rc = p2p_collection_changes((uint64_t)coll, (uint64_t)since, (uint32_t)limit, &out, &err);
    return check(env, rc, &err) ? NULL : take_text(env, out);
}

/* ------------------------------------------------------------ local documents */

FN(jobjectArray, dbGetLocal)(ARGS, jlong db, jbyteArray id)
{
    (void)cls;
    TEXTS3(id, NULL, NULL)
    char *json = NULL, *rev = NULL;
    int32_t rc = p2p_db_get_local((uint64_t)db, t1, &json, &rev, &err);
    FREE_TEXTS();
    if (check(env, rc, &err))
        return NULL;
    jobjectArray out = (*env)->NewObjectArray(env, 2, g_bytes_class, NULL);
    if (out != NULL) {
        (*env)->SetObjectArrayElement(env, out, 0, bytes_of(env, json));
        (*env)->SetObjectArrayElement(env, out, 1, bytes_of(env, rev));
    }
    p2p_free(json);
    p2p_free(rev);
    return out;
}

FN(jbyteArray, dbPutLocal)(ARGS, jlong db, jbyteArray id, jbyteArray json, jbyteArray expected)
{
    (void)cls;
    TEXTS3(id, json, expected)
    char *rev = NULL;
    int32_t rc = p2p_db_put_local((uint64_t)db, t1, t2, t3, &rev, &err);
    FREE_TEXTS();
    return check(env, rc, &err) ? NULL : take_text(env, rev);
}

FN(void, dbDeleteLocal)(ARGS, jlong db, jbyteArray id)
{
    (void)cls;
    TEXTS3(id, NULL, NULL)
    int32_t rc = p2p_db_delete_local((uint64_t)db, t1, &err);
    FREE_TEXTS();
    check(env, rc, &err);
}

/* ------------------------------------------------------------ batches */

FN(jlong, batchSave)(ARGS, jlong batch, jlong coll, jbyteArray id, jbyteArray json, jbyteArray parent, jint concurrency)
{
    (void)cls;
    TEXTS3(id, json, parent)
    p2p_document doc = 0;
    int32_t rc = p2p_batch_save_document((uint64_t)batch, (uint64_t)coll, t1, t2, t3, (uint8_t)concurrency, &doc, &err);
    FREE_TEXTS();
    return check(env, rc, &err) ? 0 : (jlong)doc;
}

FN(jlong, batchDelete)(ARGS, jlong batch, jlong coll, jbyteArray id, jbyteArray parent, jint concurrency)
{
    (void)cls;
    TEXTS3(id, parent, NULL)
    p2p_document doc = 0;
    int32_t rc = p2p_batch_delete_document((uint64_t)batch, (uint64_t)coll, t1, t2, (uint8_t)concurrency, &doc, &err);
    FREE_TEXTS();
    return check(env, rc, &err) ? 0 : (jlong)doc;
}

FN(void, batchPurge)(ARGS, jlong batch, jlong coll, jbyteArray id)
{
    (void)cls;
    TEXTS3(id, NULL, NULL)
    int32_t rc = p2p_batch_purge_document((uint64_t)batch, (uint64_t)coll, t1, &err);
    FREE_TEXTS();
    check(env, rc, &err);
}

/* ------------------------------------------------------------ change listeners */

/* user_data of a listener: a global ref to the Kotlin ChangeSink. Freed by
 * subscriptionRemove once p2p_subscription_remove has returned. */
struct jni_subscription {
    jobject sink;
};

/* ------------------------------------------------------------ up-calls */

/* Every call from a library thread into Kotlin goes through upcall_begin/upcall_end.
 * Go calls from threads the JVM has never seen: attach those (as daemons, so that they
 * never hold the JVM open) and detach them again, but leave alone a thread that was
 * attached already. The local frame keeps an attached thread from piling up refs. */
struct upcall {
    JNIEnv *env;
    int attached_here;
};

static int upcall_begin(struct upcall *up)
{
    up->env = NULL;
    up->attached_here = 0;
    jint got = (*g_vm)->GetEnv(g_vm, (void **)&up->env, JNI_VERSION_1_8);
    if (got == JNI_EDETACHED) {
        if ((*g_vm)->AttachCurrentThreadAsDaemon(g_vm, (void **)&up->env, NULL) != JNI_OK)
            return 0;
        up->attached_here = 1;
    } else if (got != JNI_OK) {
        return 0;
    }
    if ((*up->env)->PushLocalFrame(up->env, 16) != 0) {
        (*up->env)->ExceptionClear(up->env);
        if (up->attached_here)
            (*g_vm)->DetachCurrentThread(g_vm);
        return 0;
    }
    return 1;
}

/* Returns 1 if the up-call threw, after reporting and clearing the exception: it must
 * never escape into a library thread. The caller then answers with its safe default. */
static int upcall_threw(struct upcall *up)
{
    JNIEnv *env = up->env;
    if (!(*env)->ExceptionCheck(env))
        return 0;
    (*env)->ExceptionDescribe(env);
    (*env)->ExceptionClear(env);
    return 1;
}

static void upcall_end(struct upcall *up)
{
    upcall_threw(up);
    (*up->env)->PopLocalFrame(up->env, NULL);
    if (up->attached_here)
        (*g_vm)->DetachCurrentThread(g_vm);
}

static void on_change(p2p_subscription token, const char *event_json, void *user_data)
{
    struct jni_subscription *sub = user_data;
    struct upcall up;
    if (!upcall_begin(&up))
        return;
    JNIEnv *env = up.env;
    jbyteArray json = bytes_of(env, event_json); /* NULL => OOM already pending */
    if (json != NULL)
        (*env)->CallVoidMethod(env, sub->sink, g_sink_on_event, (jlong)token, json);
    upcall_end(&up);
}

/* Allocates the user_data of a listener: a global ref to `sink`. NULL when memory ran out. */
static struct jni_subscription *subscription_new(JNIEnv *env, jobject sink)
{
    struct jni_subscription *sub = malloc(sizeof *sub);
    if (sub == NULL)
        return NULL;
    sub->sink = (*env)->NewGlobalRef(env, sink);
    if (sub->sink == NULL) {
        free(sub);
        return NULL;
    }
    return sub;
}

static void subscription_free(JNIEnv *env, struct jni_subscription *sub)
{
    if (sub != NULL) {
        (*env)->DeleteGlobalRef(env, sub->sink);
        free(sub);
    }
}

/* {first, second} as a new long[2]; NULL with an exception pending when out of memory. */
static jlongArray long_pair(JNIEnv *env, jlong first, jlong second)
{
    jlongArray out = (*env)->NewLongArray(env, 2);
    jlong values[2] = {first, second};
    if (out != NULL)
        (*env)->SetLongArrayRegion(env, out, 0, 2, values);
    return out;
}

/* Returns {token, user_data pointer}; the pointer comes back to subscriptionRemove. */
FN(jlongArray, collectionAddChangeListener)(ARGS, jlong coll, jbyteArray doc_id, jobject sink)
{
    (void)cls;
    TEXTS3(doc_id, NULL, NULL)
    struct jni_subscription *sub = subscription_new(env, sink);
    if (sub == NULL) {
        FREE_TEXTS();
        return NULL;
    }
    p2p_subscription token = 0;
    int32_t rc = t1 == NULL
        ? p2p_collection_add_change_listener((uint64_t)coll, on_change, sub, &token, &err)
        : p2p_collection_add_document_change_listener((uint64_t)coll, t1, on_change, sub, &token, &err);
    FREE_TEXTS();
    if (check(env, rc, &err)) {
        subscription_free(env, sub);
        return NULL;
    }
    return long_pair(env, (jlong)token, (jlong)(intptr_t)sub);
}

FN(jlong, collectionAddChangeQueue)(ARGS, jlong coll, jint capacity)
{
    (void)cls;
    p2p_error err = P2P_ERROR_INIT;
    p2p_subscription token = 0;
    int32_t rc = p2p_collection_add_change_queue((uint64_t)coll, (uint32_t)capacity, &token, &err);
    return check(env, rc, &err) ? 0 : (jlong)token;
}

FN(jbyteArray, subscriptionNextEvent)(ARGS, jlong token, jint timeout_ms)
{
    (void)cls;
    p2p_error err = P2P_ERROR_INIT;
    char *out = NULL;
    int32_t rc = p2p_subscription_next_event((uint64_t)token, (uint32_t)timeout_ms, &out, &err);
    return check(env, rc, &err) ? NULL : take_text(env, out);
}

/* Removes the subscription; after p2p_subscription_remove returns no call is in flight
 * (unless removed from inside its own callback), so the sink ref can go. */
FN(void, subscriptionRemove)(ARGS, jlong token, jlong user_data)
{
    (void)cls;
    p2p_error err = P2P_ERROR_INIT;
    int32_t rc = p2p_subscription_remove((uint64_t)token, &err);
    if (check(env, rc, &err))
        return;
    subscription_free(env, (struct jni_subscription *)(intptr_t)user_data);
}

/* ------------------------------------------------------------ more conversions */

/* Copies a Java byte[] (binary) into a malloc'd buffer of *len bytes; NULL for null. */
static uint8_t *binary_in(JNIEnv *env, jbyteArray bytes, size_t *len)
{
    *len = 0;
    if (bytes == NULL)
        return NULL;
    jsize n = (*env)->GetArrayLength(env, bytes);
    uint8_t *b = malloc((size_t)n + 1);
    if (b == NULL)
        return NULL;
    (*env)->GetByteArrayRegion(env, bytes, 0, n, (jbyte *)b);
    *len = (size_t)n;
    return b;
}

static void texts_free(char **texts, jsize n)
{
    if (texts == NULL)
        return;
    for (jsize i = 0; i < n; i++)
        free(texts[i]);
    free(texts);
}

/* Copies the n elements of a byte[][] (null elements stay NULL); NULL when out of memory. */
static char **texts_in(JNIEnv *env, jobjectArray arr, jsize n)
{
    char **out = calloc((size_t)n + 1, sizeof *out);
    for (jsize i = 0; out != NULL && i < n; i++) {
        jbyteArray b = (*env)->GetObjectArrayElement(env, arr, i);
        out[i] = text_in(env, b);
        if (b != NULL && out[i] == NULL) { /* a null here would mean "all" or "none" */
            texts_free(out, n);
            out = NULL;
        }
        (*env)->DeleteLocalRef(env, b);
    }
    return out;
}

/* Copies a long[] of handles; NULL for an empty array or when out of memory. */
static uint64_t *handles_in(JNIEnv *env, jlongArray arr, jsize n)
{
    if (n == 0)
        return NULL;
    uint64_t *out = malloc((size_t)n * sizeof *out);
    if (out != NULL)
        (*env)->GetLongArrayRegion(env, arr, 0, n, (jlong *)out);
    return out;
}

/* Throws OutOfMemoryError for a failed malloc in the glue. */
static void throw_oom(JNIEnv *env)
{
    jclass oom = (*env)->FindClass(env, "java/lang/OutOfMemoryError");
    if (oom != NULL)
        (*env)->ThrowNew(env, oom, "p2psync JNI glue");
}

/* ------------------------------------------------------------ TLS identities */

/* subject: byte[6] of common name, organization, organizational unit, country, locality,
 * province (elements may be null). */
FN(jlong, tlsIdentityCreate)(ARGS, jint key_type, jint usage, jboolean is_ca, jint validity_days,
                             jobjectArray subject, jbyteArray sans_json, jlong issuer)
{
    (void)cls;
    TEXTS3(sans_json, NULL, NULL)
    char **names = texts_in(env, subject, 6);
    if (names == NULL) {
        FREE_TEXTS();
        throw_oom(env);
        return 0;
    }
    p2p_tls_identity_options opts = P2P_TLS_IDENTITY_OPTIONS_INIT;
    opts.key_type = (uint8_t)key_type;
    opts.usage = (uint8_t)usage;
    opts.is_ca = is_ca ? 1 : 0;
    opts.validity_days = (uint32_t)validity_days;
    opts.common_name = names[0];
    opts.organization = names[1];
    opts.organizational_unit = names[2];
    opts.country = names[3];
    opts.locality = names[4];
    opts.province = names[5];
    opts.subject_alt_names_json = t1;
    opts.issuer = (uint64_t)issuer;
    p2p_tls_identity out = 0;
    int32_t rc = p2p_tls_identity_create(&opts, &out, &err);
    texts_free(names, 6);
    FREE_TEXTS();
    return check(env, rc, &err) ? 0 : (jlong)out;
}

FN(jlong, tlsIdentityImportPkcs12)(ARGS, jbyteArray data, jbyteArray password)
{
    (void)cls;
    TEXTS3(password, NULL, NULL)
    size_t len = 0;
    uint8_t *bytes = binary_in(env, data, &len);
    p2p_tls_identity out = 0;
    int32_t rc = p2p_tls_identity_import_pkcs12(bytes, len, t1, &out, &err);
    free(bytes);
    FREE_TEXTS();
    return check(env, rc, &err) ? 0 : (jlong)out;
}

FN(jbyteArray, tlsIdentityExportPkcs12)(ARGS, jlong identity, jbyteArray password)
{
    (void)cls;
    TEXTS3(password, NULL, NULL)
    uint8_t *data = NULL;
    size_t len = 0;
    int32_t rc = p2p_tls_identity_export_pkcs12((uint64_t)identity, t1, &data, &len, &err);
    FREE_TEXTS();
    if (check(env, rc, &err))
        return NULL;
    jbyteArray out = (*env)->NewByteArray(env, (jsize)len);
    if (out != NULL)
        (*env)->SetByteArrayRegion(env, out, 0, (jsize)len, (const jbyte *)data);
    p2p_free(data);
    return out;
}

FN(jlong, tlsIdentityImportPem)(ARGS, jbyteArray cert_pem, jbyteArray key_pem, jbyteArray password)
{
    (void)cls;
    TEXTS3(cert_pem, key_pem, password)
    p2p_tls_identity out = 0;
    int32_t rc = p2p_tls_identity_import_pem(t1, t2, t3, &out, &err);
    FREE_TEXTS();
    return check(env, rc, &err) ? 0 : (jlong)out;
}

/* Returns {certificate chain PEM, private key PEM}. */
FN(jobjectArray, tlsIdentityExportPem)(ARGS, jlong identity, jbyteArray password)
{
    (void)cls;
    TEXTS3(password, NULL, NULL)
    char *cert = NULL, *key = NULL;
    int32_t rc = p2p_tls_identity_export_pem((uint64_t)identity, t1, &cert, &key, &err);
    FREE_TEXTS();
    if (check(env, rc, &err))
        return NULL;
    jobjectArray out = (*env)->NewObjectArray(env, 2, g_bytes_class, NULL);
    if (out != NULL) {
        (*env)->SetObjectArrayElement(env, out, 0, bytes_of(env, cert));
        (*env)->SetObjectArrayElement(env, out, 1, bytes_of(env, key));
    }
    p2p_free(cert);
    p2p_free(key);
    return out;
}

TEXT_GETTER(tlsIdentityFingerprint, p2p_tls_identity_fingerprint)
TEXT_GETTER(tlsIdentityChainPem, p2p_tls_identity_chain_pem)

/* Functions of the shape f(const char *in, char **out, err). */
#define TEXT_TO_TEXT(name, cfn)                                    \
    FN(jbyteArray, name)(ARGS, jbyteArray in)                      \
    {                                                              \
        (void)cls;                                                 \
        TEXTS3(in, NULL, NULL);                                    \
        char *out = NULL;                                          \
        int32_t rc = cfn(t1, &out, &err);                          \
        FREE_TEXTS();                                              \
        return check(env, rc, &err) ? NULL : take_text(env, out);  \
    }
TEXT_TO_TEXT(tlsCertificateFingerprint, p2p_tls_certificate_fingerprint)
TEXT_TO_TEXT(tlsFingerprintNormalize, p2p_tls_fingerprint_normalize)
CLOSE_FN(tlsIdentityClose, p2p_tls_identity_close)

FN(jlong, tlsIdentityNotAfter)(ARGS, jlong identity)
{
    (void)cls;
    p2p_error err = P2P_ERROR_INIT;
    int64_t out = 0;
    int32_t rc = p2p_tls_identity_not_after((uint64_t)identity, &out, &err);
    return check(env, rc, &err) ? 0 : (jlong)out;
}

/* ------------------------------------------------------------ keystores */

FN(jlong, keystoreOpen)(ARGS, jbyteArray path, jbyteArray password)
{
    (void)cls;
    TEXTS3(path, password, NULL)
    p2p_keystore out = 0;
    int32_t rc = p2p_keystore_open(t1, t2, &out, &err);
    FREE_TEXTS();
    return check(env, rc, &err) ? 0 : (jlong)out;
}

FN(void, keystoreStore)(ARGS, jlong keystore, jbyteArray label, jlong identity)
{
    (void)cls;
    TEXTS3(label, NULL, NULL)
    int32_t rc = p2p_keystore_store((uint64_t)keystore, t1, (uint64_t)identity, &err);
    FREE_TEXTS();
    check(env, rc, &err);
}

FN(jlong, keystoreGet)(ARGS, jlong keystore, jbyteArray label)
{
    (void)cls;
    TEXTS3(label, NULL, NULL)
    p2p_tls_identity out = 0;
    int32_t rc = p2p_keystore_get((uint64_t)keystore, t1, &out, &err);
    FREE_TEXTS();
    return check(env, rc, &err) ? 0 : (jlong)out;
}

FN(void, keystoreDelete)(ARGS, jlong keystore, jbyteArray label)
{
    (void)cls;
    TEXTS3(label, NULL, NULL)
    int32_t rc = p2p_keystore_delete((uint64_t)keystore, t1, &err);
    FREE_TEXTS();
    check(env, rc, &err);
}

TEXT_GETTER(keystoreList, p2p_keystore_list)
CLOSE_FN(keystoreClose, p2p_keystore_close)

/* ------------------------------------------------------------ application callbacks */

/* The callbacks of one listener or replicator: global refs to Kotlin sinks (null
 * elements stay NULL). The user_data of callback i is &refs[i]. Allocated by the create
 * glue, freed by the close glue once p2p_listener_close / p2p_replicator_close has
 * returned, after which the library never calls them again. */
struct jni_callbacks {
    jsize count;
    jobject refs[];
};

static void callbacks_free(JNIEnv *env, struct jni_callbacks *cbs)
{
    if (cbs == NULL)
        return;
    for (jsize i = 0; i < cbs->count; i++) {
        if (cbs->refs[i] != NULL)
            (*env)->DeleteGlobalRef(env, cbs->refs[i]);
    }
    free(cbs);
}

/* NULL when out of memory: a callback silently left out would filter nothing. */
static struct jni_callbacks *callbacks_new(JNIEnv *env, jobjectArray sinks)
{
    jsize n = (*env)->GetArrayLength(env, sinks);
    struct jni_callbacks *cbs = calloc(1, sizeof *cbs + (size_t)n * sizeof(jobject));
    if (cbs == NULL)
        return NULL;
    cbs->count = n;
    for (jsize i = 0; i < n; i++) {
        jobject sink = (*env)->GetObjectArrayElement(env, sinks, i);
        if (sink != NULL) {
            cbs->refs[i] = (*env)->NewGlobalRef(env, sink);
            (*env)->DeleteLocalRef(env, sink);
            if (cbs->refs[i] == NULL) {
                callbacks_free(env, cbs);
                return NULL;
            }
        }
    }
    return cbs;
}

/* user_data for callback i, or NULL when Kotlin gave no sink for it. */
static void *callback_data(struct jni_callbacks *cbs, jsize i)
{
    return cbs->refs[i] == NULL ? NULL : (void *)&cbs->refs[i];
}

/* bytes_of for up-call arguments: once one failed (out of memory, exception pending) no
 * further JNI call may be made, so the rest give NULL and the up-call is skipped. */
static jbyteArray arg_bytes(JNIEnv *env, const char *s)
{
    return (*env)->ExceptionCheck(env) ? NULL : bytes_of(env, s);
}

/* A sink that throws refuses: the connection is answered 401. */
static uint8_t on_password_auth(const char *username, const char *password, void *user_data)
{
    jobject sink = *(jobject *)user_data;
    struct upcall up;
    if (!upcall_begin(&up))
        return 0;
    JNIEnv *env = up.env;
    jboolean accepted = JNI_FALSE;
    jbyteArray u = arg_bytes(env, username), p = arg_bytes(env, password);
    if (!(*env)->ExceptionCheck(env))
        accepted = (*env)->CallBooleanMethod(env, sink, g_password_auth, u, p);
    if (upcall_threw(&up))
        accepted = JNI_FALSE;
    upcall_end(&up);
    return accepted ? 1 : 0;
}

/* A sink that throws refuses the client certificate. */
static uint8_t on_client_cert_auth(const char *chain_pem, void *user_data)
{
    jobject sink = *(jobject *)user_data;
    struct upcall up;
    if (!upcall_begin(&up))
        return 0;
    JNIEnv *env = up.env;
    jboolean accepted = JNI_FALSE;
    jbyteArray chain = arg_bytes(env, chain_pem);
    if (!(*env)->ExceptionCheck(env))
        accepted = (*env)->CallBooleanMethod(env, sink, g_cert_auth, chain);
    if (upcall_threw(&up))
        accepted = JNI_FALSE;
    upcall_end(&up);
    return accepted ? 1 : 0;
}

/* A filter that throws rejects the revision. */
static uint8_t on_filter(const char *collection, const char *doc_id, const char *rev_id,
                         uint8_t flags, const char *body_json, void *user_data)
{
    jobject sink = *(jobject *)user_data;
    struct upcall up;
    if (!upcall_begin(&up))
        return 0;
    JNIEnv *env = up.env;
    jboolean include = JNI_FALSE;
    jbyteArray c = arg_bytes(env, collection), id = arg_bytes(env, doc_id);
    jbyteArray rev = arg_bytes(env, rev_id), body = arg_bytes(env, body_json);
    if (!(*env)->ExceptionCheck(env))
        include = (*env)->CallBooleanMethod(env, sink, g_filter, c, id, rev,
                                            (flags & P2P_DOC_DELETED) ? JNI_TRUE : JNI_FALSE, body,
                                            (flags & P2P_DOC_ACCESS_REMOVED) ? JNI_TRUE : JNI_FALSE);
    if (upcall_threw(&up))
        include = JNI_FALSE;
    upcall_end(&up);
    return include ? 1 : 0;
}

/* Not a P2P_RESOLVE_* value: the resolver failed, the document stays in conflict. */
#define RESOLVER_FAILED 0xFF

/* A resolver that throws (or returns null) fails: the library reports a document error. */
static uint8_t on_resolve(const char *collection, const char *doc_id, const char *local_json,
                          const char *remote_json, char **out_merged_json, void *user_data)
{
    jobject sink = *(jobject *)user_data;
    struct upcall up;
    if (!upcall_begin(&up))
        return RESOLVER_FAILED;
    JNIEnv *env = up.env;
    uint8_t decision = RESOLVER_FAILED;
    jbyteArray c = arg_bytes(env, collection), id = arg_bytes(env, doc_id);
    jbyteArray local = arg_bytes(env, local_json), remote = arg_bytes(env, remote_json);
    jobject answer = NULL;
    if (!(*env)->ExceptionCheck(env))
        answer = (*env)->CallObjectMethod(env, sink, g_resolve, c, id, local, remote);
    if (!upcall_threw(&up) && answer != NULL) {
        jint d = (*env)->GetIntField(env, answer, g_resolved_decision);
        jbyteArray merged = (*env)->GetObjectField(env, answer, g_resolved_merged);
        char *text = text_in(env, merged);
        if (text != NULL) {
            *out_merged_json = p2p_strdup(text); /* the library owns and frees it */
            free(text);
        }
        decision = d >= 0 && d < RESOLVER_FAILED ? (uint8_t)d : RESOLVER_FAILED;
    }
    upcall_end(&up);
    return decision;
}

/* ------------------------------------------------------------ listener */

/* sinks: {PasswordSink or null, ClientCertSink or null}. Returns {listener, callbacks
 * pointer}; the pointer comes back to listenerClose. */
FN(jlongArray, listenerCreate)(ARGS, jlong db, jlongArray collections, jint port, jbyteArray network_interface,
                               jboolean read_only, jboolean disable_tls, jlong identity, jbyteArray credentials_json,
                               jbyteArray client_cert_roots_pem, jboolean enable_delta_sync,
                               jboolean disable_version_vectors, jlong max_message_size,
                               jlong max_connection_buffer, jint max_connections, jint max_checkpoint_size,
                               jint max_peer_checkpoints, jobjectArray sinks)
{
    (void)cls;
    TEXTS3(network_interface, credentials_json, client_cert_roots_pem)
    jsize ncoll = (*env)->GetArrayLength(env, collections);
    uint64_t *colls = handles_in(env, collections, ncoll);
    struct jni_callbacks *cbs = callbacks_new(env, sinks);
    if ((ncoll > 0 && colls == NULL) || cbs == NULL || cbs->count != 2) {
        FREE_TEXTS();
        free(colls);
        callbacks_free(env, cbs);
        throw_oom(env);
        return NULL;
    }
    p2p_listener_options opts = P2P_LISTENER_OPTIONS_INIT;
    opts.collections = colls;
    opts.collection_count = (uint32_t)ncoll;
    opts.port = (uint16_t)port;
    opts.network_interface = t1;
    opts.read_only = read_only ? 1 : 0;
    opts.disable_tls = disable_tls ? 1 : 0;
    opts.identity = (uint64_t)identity;
    opts.credentials_json = t2;
    opts.client_cert_roots_pem = t3;
    opts.enable_delta_sync = enable_delta_sync ? 1 : 0;
    opts.disable_version_vectors = disable_version_vectors ? 1 : 0;
    opts.max_message_size = (uint64_t)max_message_size; /* not negative: checked by ListenerConfig */
    opts.max_connection_buffer = (uint64_t)max_connection_buffer;
    opts.max_connections = (uint32_t)max_connections;
    opts.max_checkpoint_size = (int32_t)max_checkpoint_size; /* negative: no cap (see the header) */
    opts.max_peer_checkpoints = (int32_t)max_peer_checkpoints;
    if (cbs->refs[0] != NULL) {
        opts.password_auth = on_password_auth;
        opts.password_auth_user_data = callback_data(cbs, 0);
    }
    if (cbs->refs[1] != NULL) {
        opts.client_cert_auth = on_client_cert_auth;
        opts.client_cert_auth_user_data = callback_data(cbs, 1);
    }
    p2p_listener out = 0;
    int32_t rc = p2p_listener_create((uint64_t)db, &opts, &out, &err);
    FREE_TEXTS();
    free(colls);
    if (check(env, rc, &err)) {
        callbacks_free(env, cbs);
        return NULL;
    }
    return long_pair(env, (jlong)out, (jlong)(intptr_t)cbs);
}

/* Closes the listener, then frees its callbacks: none runs after the close returned. */
FN(void, listenerClose)(ARGS, jlong listener, jlong callbacks)
{
    (void)cls;
    p2p_error err = P2P_ERROR_INIT;
    if (!check(env, p2p_listener_close((uint64_t)listener, &err), &err))
        callbacks_free(env, (struct jni_callbacks *)(intptr_t)callbacks);
}

CLOSE_FN(listenerStart, p2p_listener_start)
CLOSE_FN(listenerStop, p2p_listener_stop)
TEXT_GETTER(listenerUrls, p2p_listener_urls)
TEXT_GETTER(listenerStatus, p2p_listener_status)
U64_GETTER(listenerTlsIdentity, p2p_listener_tls_identity)

FN(jint, listenerPort)(ARGS, jlong listener)
{
    (void)cls;
    p2p_error err = P2P_ERROR_INIT;
    uint16_t out = 0;
    int32_t rc = p2p_listener_port((uint64_t)listener, &out, &err);
    return check(env, rc, &err) ? 0 : (jint)out;
}

/* ------------------------------------------------------------ replicator */

/* One element per replicated collection: collections[i] with doc_ids_json[i] and
 * channels_json[i] (null = all), and sinks[3i..3i+2] = {push FilterSink, pull
 * FilterSink, ResolverSink}, each possibly null. Returns {replicator, callbacks pointer};
 * the pointer comes back to replicatorClose. */
FN(jlongArray, replicatorCreate)(ARGS, jlong db, jbyteArray url, jint type, jboolean continuous,
                                 jbyteArray headers_json, jint heartbeat_ms, jint max_attempts,
                                 jint max_attempt_wait_ms, jint retry_base_ms, jboolean disable_auto_purge,
                                 jboolean enable_delta_sync, jboolean disable_version_vectors,
                                 jbyteArray username, jbyteArray password,
                                 jlong client_identity, jint trust_mode, jbyteArray trusted_roots_pem,
                                 jbyteArray pinned_certificate_pem, jbyteArray pinned_fingerprint,
                                 jbyteArray server_name,
                                 jlongArray collections, jobjectArray doc_ids_json,
                                 jobjectArray channels_json, jobjectArray sinks, jlong max_message_size,
                                 jlong max_connection_buffer)
{
    (void)cls;
    TEXTS3(url, headers_json, username)
    char *password_t = text_in(env, password), *roots = text_in(env, trusted_roots_pem);
    char *pinned = text_in(env, pinned_certificate_pem), *server = text_in(env, server_name);
    char *fingerprint = text_in(env, pinned_fingerprint);
    jsize n = (*env)->GetArrayLength(env, collections);
    uint64_t *handles = handles_in(env, collections, n);
    char **doc_ids = texts_in(env, doc_ids_json, n), **channels = texts_in(env, channels_json, n);
    p2p_replication_collection *colls = calloc((size_t)n + 1, sizeof *colls);
    struct jni_callbacks *cbs = callbacks_new(env, sinks);
    p2p_replicator out = 0;
    int failed = 1; /* with an exception pending */
    if ((n > 0 && handles == NULL) || doc_ids == NULL || channels == NULL || colls == NULL ||
        cbs == NULL || cbs->count != 3 * n) {
        throw_oom(env);
    } else {
        for (jsize i = 0; i < n; i++) {
            p2p_replication_collection c = P2P_REPLICATION_COLLECTION_INIT;
            c.collection = handles[i];
            c.doc_ids_json = doc_ids[i];
            c.channels_json = channels[i];
            if (cbs->refs[3 * i] != NULL) {
                c.push_filter = on_filter;
                c.push_filter_user_data = callback_data(cbs, 3 * i);
            }
            if (cbs->refs[3 * i + 1] != NULL) {
                c.pull_filter = on_filter;
                c.pull_filter_user_data = callback_data(cbs, 3 * i + 1);
            }
            if (cbs->refs[3 * i + 2] != NULL) {
                c.conflict_resolver = on_resolve;
                c.conflict_resolver_user_data = callback_data(cbs, 3 * i + 2);
            }
            colls[i] = c;
        }
        p2p_replicator_options opts = P2P_REPLICATOR_OPTIONS_INIT;
        opts.url = t1;
        opts.type = (uint8_t)type;
        opts.continuous = continuous ? 1 : 0;
        opts.headers_json = t2;
        opts.heartbeat_ms = (uint32_t)heartbeat_ms;
        opts.max_attempts = (int32_t)max_attempts;
        opts.max_attempt_wait_ms = (uint32_t)max_attempt_wait_ms;
        opts.retry_base_ms = (uint32_t)retry_base_ms;
        opts.disable_auto_purge = disable_auto_purge ? 1 : 0;
        opts.enable_delta_sync = enable_delta_sync ? 1 : 0;
        opts.disable_version_vectors = disable_version_vectors ? 1 : 0;
        opts.username = t3;
        opts.password = password_t;
        opts.client_identity = (uint64_t)client_identity;
        opts.trust_mode = (uint8_t)trust_mode;
        opts.trusted_roots_pem = roots;
        opts.pinned_certificate_pem = pinned;
        opts.pinned_fingerprint = fingerprint;
        opts.server_name = server;
        opts.collections = n > 0 ? colls : NULL;
        opts.collection_count = (uint32_t)n;
        opts.max_message_size = (uint64_t)max_message_size; /* not negative: checked by ReplicatorConfig */
        opts.max_connection_buffer = (uint64_t)max_connection_buffer;
        failed = check(env, p2p_replicator_create((uint64_t)db, &opts, &out, &err), &err);
    }
    FREE_TEXTS();
    free(password_t);
    free(roots);
    free(pinned);
    free(fingerprint);
    free(server);
    free(handles);
    texts_free(doc_ids, n);
    texts_free(channels, n);
    free(colls);
    if (failed) {
        callbacks_free(env, cbs);
        return NULL;
    }
    return long_pair(env, (jlong)out, (jlong)(intptr_t)cbs);
}

/* Closes the replicator, then frees its callbacks: none runs after the close returned.
 * On P2P_ERR_BUSY (subscriptions left) nothing is closed, so the callbacks stay. */
FN(void, replicatorClose)(ARGS, jlong replicator, jlong callbacks)
{
    (void)cls;
    p2p_error err = P2P_ERROR_INIT;
    if (!check(env, p2p_replicator_close((uint64_t)replicator, &err), &err))
        callbacks_free(env, (struct jni_callbacks *)(intptr_t)callbacks);
}

FN(void, replicatorStart)(ARGS, jlong replicator, jboolean reset_checkpoint)
{
    (void)cls;
    p2p_error err = P2P_ERROR_INIT;
    check(env, p2p_replicator_start((uint64_t)replicator, reset_checkpoint ? 1 : 0, &err), &err);
}

CLOSE_FN(replicatorStop, p2p_replicator_stop)
TEXT_GETTER(replicatorStatus, p2p_replicator_status)
TEXT_GETTER(replicatorStats, p2p_replicator_stats)
TEXT_GETTER(replicatorServerCertificate, p2p_replicator_server_certificate)

/* Registers a ChangeSink for status events (documents false) or document events; the
 * events have the shape of change events, so on_change delivers them. Returns {token,
 * user_data pointer} for subscriptionRemove. */
FN(jlongArray, replicatorAddListener)(ARGS, jlong replicator, jboolean documents, jobject sink)
{
    (void)cls;
    p2p_error err = P2P_ERROR_INIT;
    struct jni_subscription *sub = subscription_new(env, sink);
    if (sub == NULL) {
        throw_oom(env);
        return NULL;
    }
    p2p_subscription token = 0;
    int32_t rc = documents
        ? p2p_replicator_add_document_listener((uint64_t)replicator, on_change, sub, &token, &err)
        : p2p_replicator_add_status_listener((uint64_t)replicator, on_change, sub, &token, &err);
    if (check(env, rc, &err)) {
        subscription_free(env, sub);
        return NULL;
    }
    return long_pair(env, (jlong)token, (jlong)(intptr_t)sub);
}

FN(jlong, replicatorAddEventQueue)(ARGS, jlong replicator, jint capacity)
{
    (void)cls;
    p2p_error err = P2P_ERROR_INIT;
    p2p_subscription token = 0;
    int32_t rc = p2p_replicator_add_event_queue((uint64_t)replicator, (uint32_t)capacity, &token, &err);
    return check(env, rc, &err) ? 0 : (jlong)token;
}

FN(jbyteArray, replicatorPendingDocumentIds)(ARGS, jlong replicator, jlong coll)
{
    (void)cls;
    p2p_error err = P2P_ERROR_INIT;
    char *out = NULL;
    int32_t rc = p2p_replicator_pending_document_ids((uint64_t)replicator, (uint64_t)coll, &out, &err);
    return check(env, rc, &err) ? NULL : take_text(env, out);
}

FN(jboolean, replicatorIsDocumentPending)(ARGS, jlong replicator, jlong coll, jbyteArray doc_id)
{
    (void)cls;
    TEXTS3(doc_id, NULL, NULL)
    uint8_t out = 0;
    int32_t rc = p2p_replicator_is_document_pending((uint64_t)replicator, (uint64_t)coll, t1, &out, &err);
    FREE_TEXTS();
    return check(env, rc, &err) ? JNI_FALSE : (out ? JNI_TRUE : JNI_FALSE);
}

/* ------------------------------------------------------------ blobs */

/* Chunk through which blob bytes cross between a Java byte[] and the library: the JVM
 * array is copied region by region, never pinned while the library does file I/O. */
#define BLOB_CHUNK 65536

FN(jbyteArray, blobCreate)(ARGS, jlong db, jbyteArray data, jbyteArray content_type)
{
    (void)cls;
    TEXTS3(content_type, NULL, NULL)
    size_t len = 0;
    uint8_t *bytes = binary_in(env, data, &len);
    if (bytes == NULL) {
        FREE_TEXTS();
        throw_oom(env);
        return NULL;
    }
    char *out = NULL;
    int32_t rc = p2p_blob_create((uint64_t)db, bytes, len, t1, &out, &err);
    free(bytes);
    FREE_TEXTS();
    return check(env, rc, &err) ? NULL : take_text(env, out);
}

FN(jbyteArray, blobCreateFromFile)(ARGS, jlong db, jbyteArray path, jbyteArray content_type)
{
    (void)cls;
    TEXTS3(path, content_type, NULL)
    char *out = NULL;
    int32_t rc = p2p_blob_create_from_file((uint64_t)db, t1, t2, &out, &err);
    FREE_TEXTS();
    return check(env, rc, &err) ? NULL : take_text(env, out);
}

FN(jlong, blobWriterCreate)(ARGS, jlong db, jbyteArray content_type)
{
    (void)cls;
    TEXTS3(content_type, NULL, NULL)
    p2p_blob_writer out = 0;
    int32_t rc = p2p_blob_writer_create((uint64_t)db, t1, &out, &err);
    FREE_TEXTS();
    return check(env, rc, &err) ? 0 : (jlong)out;
}

/* Writes data[off, off+len) (bounds checked by the Kotlin caller). */
FN(void, blobWriterWrite)(ARGS, jlong writer, jbyteArray data, jint off, jint len)
{
    (void)cls;
    uint8_t buf[BLOB_CHUNK];
    while (len > 0) {
        jint n = len < BLOB_CHUNK ? len : BLOB_CHUNK;
        (*env)->GetByteArrayRegion(env, data, off, n, (jbyte *)buf);
        if ((*env)->ExceptionCheck(env))
            return;
        p2p_error err = P2P_ERROR_INIT;
        if (check(env, p2p_blob_writer_write((uint64_t)writer, buf, (size_t)n, &err), &err))
            return;
        off += n;
        len -= n;
    }
}

TEXT_GETTER(blobWriterFinish, p2p_blob_writer_finish)
CLOSE_FN(blobWriterClose, p2p_blob_writer_close)

FN(jlong, blobReaderOpen)(ARGS, jlong db, jbyteArray blob)
{
    (void)cls;
    TEXTS3(blob, NULL, NULL)
    p2p_blob_reader out = 0;
    int32_t rc = p2p_blob_reader_open((uint64_t)db, t1, &out, &err);
    FREE_TEXTS();
    return check(env, rc, &err) ? 0 : (jlong)out;
}

/* Reads up to len bytes into buf[off...]; returns the count, or -1 at the verified end. */
FN(jint, blobReaderRead)(ARGS, jlong reader, jbyteArray buf, jint off, jint len)
{
    (void)cls;
    if (len <= 0)
        return 0;
    uint8_t chunk[BLOB_CHUNK];
    size_t n = 0;
    p2p_error err = P2P_ERROR_INIT;
    int32_t rc = p2p_blob_reader_read((uint64_t)reader, chunk, len < BLOB_CHUNK ? (size_t)len : BLOB_CHUNK, &n, &err);
    if (check(env, rc, &err))
        return 0;
    if (n == 0)
        return -1;
    (*env)->SetByteArrayRegion(env, buf, off, (jsize)n, (const jbyte *)chunk);
    return (jint)n;
}

U64_GETTER(blobReaderLength, p2p_blob_reader_length)
CLOSE_FN(blobReaderClose, p2p_blob_reader_close)

FN(void, blobSaveToFile)(ARGS, jlong db, jbyteArray blob, jbyteArray path)
{
    (void)cls;
    TEXTS3(blob, path, NULL)
    int32_t rc = p2p_blob_save_to_file((uint64_t)db, t1, t2, &err);
    FREE_TEXTS();
    check(env, rc, &err);
}

FN(jbyteArray, blobInfo)(ARGS, jlong db, jbyteArray blob)
{
    (void)cls;
    TEXTS3(blob, NULL, NULL)
    char *out = NULL;
    int32_t rc = p2p_blob_info((uint64_t)db, t1, &out, &err);
    FREE_TEXTS();
    return check(env, rc, &err) ? NULL : take_text(env, out);
}

FN(jboolean, blobExists)(ARGS, jlong db, jbyteArray blob)
{
    (void)cls;
    TEXTS3(blob, NULL, NULL)
    uint8_t exists = 0;
    int32_t rc = p2p_blob_exists((uint64_t)db, t1, &exists, &err);
    FREE_TEXTS();
    return check(env, rc, &err) ? JNI_FALSE : (exists ? JNI_TRUE : JNI_FALSE);
}

TEXT_GETTER(dbCompact, p2p_db_compact)

/* ------------------------------------------------------------ logging */

/* user_data of the log callback: a global ref to the Kotlin LogSink and its method. The
 * current one is freed when it is replaced, after p2p_log_set_callback has returned (no
 * call of it is in flight then). Setters are serialised by P2PLog (Kotlin). */
struct jni_log_sink {
    jobject sink;
    jmethodID on_log;
};
static struct jni_log_sink *g_log_sink;

/* Called on any library thread, possibly several at once (see p2p_log_fn). */
static void on_log(uint32_t level, uint32_t domain, const char *message, void *user_data)
{
    struct jni_log_sink *s = user_data;
    struct upcall up;
    if (!upcall_begin(&up))
        return;
    JNIEnv *env = up.env;
    jbyteArray msg = bytes_of(env, message); /* NULL => OOM already pending */
    if (msg != NULL)
        (*env)->CallVoidMethod(env, s->sink, s->on_log, (jint)level, (jint)domain, msg);
    upcall_end(&up);
}

FN(void, logSetCallback)(ARGS, jint level, jint domains, jobject sink)
{
    (void)cls;
    struct jni_log_sink *s = NULL;
    if (sink != NULL) {
        jclass c = (*env)->GetObjectClass(env, sink);
        jmethodID m = c == NULL ? NULL : (*env)->GetMethodID(env, c, "onLog", "(II[B)V");
        if (m == NULL)
            return; /* NoSuchMethodError pending */
        s = malloc(sizeof *s);
        if (s == NULL || (s->sink = (*env)->NewGlobalRef(env, sink)) == NULL) {
            free(s);
            jclass oom = (*env)->FindClass(env, "java/lang/OutOfMemoryError");
            if (oom != NULL)
                (*env)->ThrowNew(env, oom, "log sink");
            return;
        }
        s->on_log = m;
    }
    p2p_error err = P2P_ERROR_INIT;
    int32_t rc = p2p_log_set_callback((uint32_t)level, (uint32_t)domains, s != NULL ? on_log : NULL, s, &err);
    if (check(env, rc, &err)) {
        if (s != NULL) {
            (*env)->DeleteGlobalRef(env, s->sink);
            free(s);
        }
        return;
    }
    struct jni_log_sink *old = g_log_sink;
    g_log_sink = s;
    if (old != NULL) {
        (*env)->DeleteGlobalRef(env, old->sink);
        free(old);
    }
}

FN(void, logSetConsole)(ARGS, jint level, jint domains)
{
    (void)cls;
    p2p_error err = P2P_ERROR_INIT;
    check(env, p2p_log_set_console((uint32_t)level, (uint32_t)domains, &err), &err);
}

FN(jbyteArray, logSettings)(ARGS)
{
    (void)cls;
    p2p_error err = P2P_ERROR_INIT;
    char *out = NULL;
    int32_t rc = p2p_log_settings(&out, &err);
    return check(env, rc, &err) ? NULL : take_text(env, out);
}

/* ------------------------------------------------------------ versions */
TEXT_GETTER(documentVersion, p2p_document_version)
TEXT_GETTER(documentVersionVector, p2p_document_version_vector)
TEXT_GETTER(dbSourceId, p2p_db_source_id)
U64_GETTER(documentTimestamp, p2p_document_timestamp)

/* ------------------------------------------------------------ queries */

FN(jlong, queryPrepare)(ARGS, jlong db, jbyteArray text)
{
    (void)cls;
    TEXTS3(text, NULL, NULL)
    p2p_query q = 0;
    int32_t rc = p2p_query_prepare((uint64_t)db, t1, &q, &err);
    FREE_TEXTS();
    return check(env, rc, &err) ? 0 : (jlong)q;
}

FN(jbyteArray, queryColumns)(ARGS, jlong q)
{
    (void)cls;
    p2p_error err = P2P_ERROR_INIT;
    char *out = NULL;
    int32_t rc = p2p_query_columns((uint64_t)q, &out, &err);
    return check(env, rc, &err) ? NULL : take_text(env, out);
}

FN(void, queryExecute)(ARGS, jlong q, jbyteArray params)
{
    (void)cls;
    TEXTS3(params, NULL, NULL)
    int32_t rc = p2p_query_execute((uint64_t)q, t1, &err);
    FREE_TEXTS();
    check(env, rc, &err);
}

/* The next row as UTF-8 JSON, or null after the last. */
FN(jbyteArray, queryNext)(ARGS, jlong q)
{
    (void)cls;
    p2p_error err = P2P_ERROR_INIT;
    char *out = NULL;
    int32_t rc = p2p_query_next((uint64_t)q, &out, &err);
    if (check(env, rc, &err) || out == NULL)
        return NULL;
    return take_text(env, out);
}

FN(jbyteArray, queryExplain)(ARGS, jlong q)
{
    (void)cls;
    p2p_error err = P2P_ERROR_INIT;
    char *out = NULL;
    int32_t rc = p2p_query_explain((uint64_t)q, &out, &err);
    return check(env, rc, &err) ? NULL : take_text(env, out);
}

FN(void, queryClose)(ARGS, jlong q)
{
    (void)cls;
    p2p_error err = P2P_ERROR_INIT;
    int32_t rc = p2p_query_close((uint64_t)q, &err);
    check(env, rc, &err);
}

/* Returns {token, user_data pointer}; the pointer comes back to subscriptionRemove. */
FN(jlongArray, queryAddListener)(ARGS, jlong q, jbyteArray params, jobject sink)
{
    (void)cls;
    TEXTS3(params, NULL, NULL)
    struct jni_subscription *sub = subscription_new(env, sink);
    if (sub == NULL) {
        FREE_TEXTS();
        return NULL;
    }
    p2p_subscription token = 0;
    int32_t rc = p2p_query_add_listener((uint64_t)q, t1, on_change, sub, &token, &err);
    FREE_TEXTS();
    if (check(env, rc, &err)) {
        subscription_free(env, sub);
        return NULL;
    }
    return long_pair(env, (jlong)token, (jlong)(intptr_t)sub);
}

/* ------------------------------------------------------------ bulk documents */

/* Unpacks `count` NUL-terminated strings laid end to end in a byte[] (as Native.pack
 * writes them) into one copy and an array of pointers into it. Returns 0 and throws
 * (IllegalArgumentException, or OutOfMemoryError) if the array does not hold them. */
static int unpack_texts(JNIEnv *env, jbyteArray packed, jint count, char **out_buf, const char ***out_ptrs)
{
    *out_buf = NULL;
    *out_ptrs = NULL;
    if (count <= 0)
        return 1;
    jsize n = packed == NULL ? 0 : (*env)->GetArrayLength(env, packed);
    char *buf = malloc((size_t)n + 1);
    const char **ptrs = malloc((size_t)count * sizeof *ptrs);
    if (buf == NULL || ptrs == NULL) {
        free(buf);
        free((void *)ptrs);
        throw_oom(env);
        return 0;
    }
    if (n > 0)
        (*env)->GetByteArrayRegion(env, packed, 0, n, (jbyte *)buf);
    buf[n] = '\0';
    size_t at = 0;
    for (jint k = 0; k < count; k++) {
        if (at >= (size_t)n) {
            free(buf);
            free((void *)ptrs);
            jclass iae = (*env)->FindClass(env, "java/lang/IllegalArgumentException");
            if (iae != NULL)
                (*env)->ThrowNew(env, iae, "p2psync JNI glue: packed texts shorter than their count");
            return 0;
        }
        ptrs[k] = buf + at;
        at += strlen(buf + at) + 1;
    }
    *out_buf = buf;
    *out_ptrs = ptrs;
    return 1;
}

FN(jbyteArray, batchSaveMany)(ARGS, jlong batch, jlong coll, jint count, jbyteArray ids, jbyteArray jsons,
                              jbyteArray parents, jint concurrency, jlongArray saved_out)
{
    (void)cls;
    p2p_error err = P2P_ERROR_INIT;
    char *id_buf = NULL, *json_buf = NULL, *parent_buf = NULL, *out = NULL;
    const char **id_ptrs = NULL, **json_ptrs = NULL, **parent_ptrs = NULL;
    jbyteArray result = NULL;
    if (unpack_texts(env, ids, count, &id_buf, &id_ptrs) && unpack_texts(env, jsons, count, &json_buf, &json_ptrs) &&
        (parents == NULL || unpack_texts(env, parents, count, &parent_buf, &parent_ptrs))) {
        size_t saved = 0;
        int32_t rc = p2p_batch_save_documents((uint64_t)batch, (uint64_t)coll, (size_t)(count < 0 ? 0 : count),
                                              id_ptrs, json_ptrs, parent_ptrs, (uint8_t)concurrency, &saved, &out, &err);
        if (saved_out != NULL) {
            jlong s = (jlong)saved;
            (*env)->SetLongArrayRegion(env, saved_out, 0, 1, &s);
        }
        if (!check(env, rc, &err))
            result = take_text(env, out);
    }
    free(id_buf);
    free(json_buf);
    free(parent_buf);
    free((void *)id_ptrs);
    free((void *)json_ptrs);
    free((void *)parent_ptrs);
    return result;
}

FN(jbyteArray, collectionGetMany)(ARGS, jlong coll, jint count, jbyteArray ids, jboolean include_deleted)
{
    (void)cls;
    p2p_error err = P2P_ERROR_INIT;
    char *id_buf = NULL, *out = NULL;
    const char **id_ptrs = NULL;
    jbyteArray result = NULL;
    if (unpack_texts(env, ids, count, &id_buf, &id_ptrs)) {
        int32_t rc = p2p_collection_get_documents((uint64_t)coll, (size_t)(count < 0 ? 0 : count), id_ptrs,
                                                  include_deleted ? 1 : 0, &out, &err);
        if (!check(env, rc, &err))
            result = take_text(env, out);
    }
    free(id_buf);
    free((void *)id_ptrs);
    return result;
}
