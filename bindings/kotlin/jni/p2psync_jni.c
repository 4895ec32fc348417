/* p2psync_jni.c — JNI glue of the Kotlin binding. It calls only the public C API
 * (include/p2psync.h) and converts: UTF-8 byte[] <-> NUL-terminated text, handles <->
 * jlong, failures -> org.p2psync.P2PSyncException (built by its Kotlin factory, after
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
    g_exception_create = (*env)->GetStaticMethodID(env, cls, "create", "(III[B)Lorg/p2psync/P2PSyncException;");
    jclass bytes = (*env)->FindClass(env, "[B");
    jclass sink = (*env)->FindClass(env, "org/p2psync/ChangeSink");
    if (g_exception_create == NULL || bytes == NULL || sink == NULL)
        return JNI_ERR;
    g_bytes_class = (*env)->NewGlobalRef(env, bytes);
    g_sink_on_event = (*env)->GetMethodID(env, sink, "onEvent", "(J[B)V");
    if (g_sink_on_event == NULL)
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

FN(jlong, dbOpen)(ARGS, jbyteArray path, jboolean create, jint max_depth)
{
    (void)cls;
    TEXTS3(path, NULL, NULL)
    p2p_db_options opts = P2P_DB_OPTIONS_INIT;
    opts.create = create ? 1 : 0;
    opts.max_rev_tree_depth = (uint32_t)max_depth;
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

static void on_change(p2p_subscription token, const char *event_json, void *user_data)
{
    struct jni_subscription *sub = user_data;
    JNIEnv *env = NULL;
    int attached_here = 0;
    jint got = (*g_vm)->GetEnv(g_vm, (void **)&env, JNI_VERSION_1_8);
    if (got == JNI_EDETACHED) {
        if ((*g_vm)->AttachCurrentThreadAsDaemon(g_vm, (void **)&env, NULL) != JNI_OK)
            return;
        attached_here = 1;
    } else if (got != JNI_OK) {
        return;
    }
    jbyteArray json = bytes_of(env, event_json); /* NULL => OOM already pending */
    if (json != NULL) {
        (*env)->CallVoidMethod(env, sub->sink, g_sink_on_event, (jlong)token, json);
        (*env)->DeleteLocalRef(env, json);
    }
    if ((*env)->ExceptionCheck(env)) { /* never let it escape into a library thread */
        (*env)->ExceptionDescribe(env);
        (*env)->ExceptionClear(env);
    }
    if (attached_here)
        (*g_vm)->DetachCurrentThread(g_vm);
}

/* Returns {token, user_data pointer}; the pointer comes back to subscriptionRemove. */
FN(jlongArray, collectionAddChangeListener)(ARGS, jlong coll, jbyteArray doc_id, jobject sink)
{
    (void)cls;
    TEXTS3(doc_id, NULL, NULL)
    struct jni_subscription *sub = malloc(sizeof *sub);
    if (sub == NULL) {
        FREE_TEXTS();
        return NULL;
    }
    sub->sink = (*env)->NewGlobalRef(env, sink);
    p2p_subscription token = 0;
    int32_t rc = t1 == NULL
        ? p2p_collection_add_change_listener((uint64_t)coll, on_change, sub, &token, &err)
        : p2p_collection_add_document_change_listener((uint64_t)coll, t1, on_change, sub, &token, &err);
    FREE_TEXTS();
    if (check(env, rc, &err)) {
        (*env)->DeleteGlobalRef(env, sub->sink);
        free(sub);
        return NULL;
    }
    jlongArray out = (*env)->NewLongArray(env, 2);
    jlong values[2] = {(jlong)token, (jlong)(intptr_t)sub};
    if (out != NULL)
        (*env)->SetLongArrayRegion(env, out, 0, 2, values);
    return out;
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
    struct jni_subscription *sub = (struct jni_subscription *)(intptr_t)user_data;
    if (sub != NULL) {
        (*env)->DeleteGlobalRef(env, sub->sink);
        free(sub);
    }
}
