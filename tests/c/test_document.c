/* Document module: save/get/delete/purge, snapshots, concurrency control, conflicts,
 * revisions, expiration, changes feed, and bad input. */
#include "check.h"

static p2p_error err = P2P_ERROR_INIT;

static char *doc_text(p2p_document doc, int32_t (*get)(p2p_document, char **, p2p_error *))
{
    char *out = NULL;
    EXPECT(P2P_OK, get(doc, &out, &err));
    return out;
}

static void test_save_get(p2p_collection coll)
{
    p2p_document doc = 0;
    EXPECT(P2P_OK, p2p_collection_save_document(coll, "doc-1", "{ \"name\" : \"Ada\", \"n\": 1 }", NULL,
                                                P2P_CONCURRENCY_LAST_WRITE_WINS, &doc, &err));
    char *rev1 = doc_text(doc, p2p_document_rev_id);
    CHECK(strncmp(rev1, "1-", 2) == 0 && strlen(rev1) == 42);
    uint64_t seq = 0;
    uint8_t deleted = 9;
    EXPECT(P2P_OK, p2p_document_sequence(doc, &seq, &err));
    EXPECT(P2P_OK, p2p_document_deleted(doc, &deleted, &err));
    CHECK(seq == 1 && deleted == 0);
    EXPECT(P2P_OK, p2p_document_close(doc, &err));

    EXPECT(P2P_OK, p2p_collection_get_document(coll, "doc-1", 0, &doc, &err));
    char *json = doc_text(doc, p2p_document_json);
    char *id = doc_text(doc, p2p_document_id);
    char *rev = doc_text(doc, p2p_document_rev_id);
    CHECK(strcmp(json, "{\"name\":\"Ada\",\"n\":1}") == 0); /* stored compact */
    CHECK(strcmp(id, "doc-1") == 0 && strcmp(rev, rev1) == 0);
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_document_json(doc, NULL, &err));
    EXPECT(P2P_OK, p2p_document_close(doc, &err));
    EXPECT(P2P_OK, p2p_document_close(doc, &err));
    EXPECT(P2P_ERR_INVALID_HANDLE, p2p_document_json(doc, &json, &err));
    p2p_free(json);
    p2p_free(id);
    p2p_free(rev);

    /* concurrency control */
    EXPECT(P2P_ERR_CONFLICT, p2p_collection_save_document(coll, "doc-1", "{\"n\":2}", NULL,
                                                          P2P_CONCURRENCY_FAIL_ON_CONFLICT, NULL, &err));
    EXPECT(P2P_OK, p2p_collection_save_document(coll, "doc-1", "{\"n\":2}", rev1,
                                                P2P_CONCURRENCY_FAIL_ON_CONFLICT, &doc, &err));
    char *rev2 = doc_text(doc, p2p_document_rev_id);
    CHECK(strncmp(rev2, "2-", 2) == 0);
    EXPECT(P2P_OK, p2p_document_close(doc, &err));
    EXPECT(P2P_ERR_CONFLICT, p2p_collection_save_document(coll, "doc-1", "{\"n\":3}", rev1,
                                                          P2P_CONCURRENCY_FAIL_ON_CONFLICT, NULL, &err));
    EXPECT(P2P_OK, p2p_collection_save_document(coll, "doc-1", "{\"n\":3}", rev1,
                                                P2P_CONCURRENCY_LAST_WRITE_WINS, NULL, &err));
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_collection_save_document(coll, "doc-1", "{}", NULL, 7, NULL, &err));

    /* old revision still readable (within the kept depth) */
    EXPECT(P2P_OK, p2p_collection_get_revision(coll, "doc-1", rev2, &doc, &err));
    json = doc_text(doc, p2p_document_json);
    CHECK(strcmp(json, "{\"n\":2}") == 0);
    p2p_free(json);
    EXPECT(P2P_OK, p2p_document_close(doc, &err));
    EXPECT(P2P_ERR_NOT_FOUND, p2p_collection_get_revision(coll, "doc-1", "9-0000000000000000000000000000000000000000", &doc, &err));

    char *conflicts = NULL;
    EXPECT(P2P_OK, p2p_collection_get_conflicts(coll, "doc-1", &conflicts, &err));
    CHECK(strcmp(conflicts, "[]") == 0);
    p2p_free(conflicts);
    EXPECT(P2P_ERR_NOT_FOUND, p2p_collection_get_conflicts(coll, "nope", &conflicts, &err));
    p2p_free(rev1);
    p2p_free(rev2);
}

static void test_delete_purge(p2p_collection coll)
{
    p2p_document doc = 0;
    EXPECT(P2P_OK, p2p_collection_save_document(coll, "gone", "{\"a\":1}", NULL, 0, NULL, &err));
    EXPECT(P2P_OK, p2p_collection_delete_document(coll, "gone", NULL, P2P_CONCURRENCY_LAST_WRITE_WINS, &doc, &err));
    uint8_t deleted = 0;
    EXPECT(P2P_OK, p2p_document_deleted(doc, &deleted, &err));
    CHECK(deleted == 1);
    EXPECT(P2P_OK, p2p_document_close(doc, &err));
    EXPECT(P2P_ERR_NOT_FOUND, p2p_collection_get_document(coll, "gone", 0, &doc, &err));
    EXPECT(P2P_OK, p2p_collection_get_document(coll, "gone", 1, &doc, &err));
    char *json = doc_text(doc, p2p_document_json);
    CHECK(strcmp(json, "{}") == 0);
    p2p_free(json);
    EXPECT(P2P_OK, p2p_document_close(doc, &err));
    EXPECT(P2P_ERR_NOT_FOUND, p2p_collection_delete_document(coll, "gone", NULL, 0, NULL, &err));

    EXPECT(P2P_OK, p2p_collection_purge_document(coll, "gone", &err));
    EXPECT(P2P_ERR_NOT_FOUND, p2p_collection_get_document(coll, "gone", 1, &doc, &err));
    EXPECT(P2P_ERR_NOT_FOUND, p2p_collection_purge_document(coll, "gone", &err));
}

static void test_expiration(p2p_collection coll)
{
    int64_t at = -1;
    EXPECT(P2P_OK, p2p_collection_save_document(coll, "temp", "{}", NULL, 0, NULL, &err));
    EXPECT(P2P_OK, p2p_collection_get_document_expiration(coll, "temp", &at, &err));
    CHECK(at == 0);
    int64_t later = (int64_t)time(NULL) * 1000 + 3600 * 1000;
    EXPECT(P2P_OK, p2p_collection_set_document_expiration(coll, "temp", later, &err));
    EXPECT(P2P_OK, p2p_collection_get_document_expiration(coll, "temp", &at, &err));
    CHECK(at == later);
    EXPECT(P2P_OK, p2p_collection_set_document_expiration(coll, "temp", 0, &err));
    EXPECT(P2P_OK, p2p_collection_get_document_expiration(coll, "temp", &at, &err));
    CHECK(at == 0);
    EXPECT(P2P_ERR_NOT_FOUND, p2p_collection_set_document_expiration(coll, "nope", later, &err));

    /* an expiration in the past purges the document */
    EXPECT(P2P_OK, p2p_collection_set_document_expiration(coll, "temp", (int64_t)time(NULL) * 1000 - 1000, &err));
    p2p_document doc = 0;
    double deadline = now_seconds() + 20;
    int32_t rc;
    while ((rc = p2p_collection_get_document(coll, "temp", 1, &doc, NULL)) == P2P_OK && now_seconds() < deadline) {
        EXPECT(P2P_OK, p2p_document_close(doc, &err));
        sleep_ms(50);
    }
    CHECK(rc == P2P_ERR_NOT_FOUND);
}

static void test_changes_feed(p2p_collection coll)
{
    char *json = NULL;
    EXPECT(P2P_OK, p2p_collection_save_document(coll, "c1", "{}", NULL, 0, NULL, &err));
    EXPECT(P2P_OK, p2p_collection_save_document(coll, "c2", "{}", NULL, 0, NULL, &err));
    EXPECT(P2P_OK, p2p_collection_save_document(coll, "c1", "{\"v\":2}", NULL, 0, NULL, &err));
    uint64_t last = 0;
    EXPECT(P2P_OK, p2p_collection_last_sequence(coll, &last, &err));
    EXPECT(P2P_OK, p2p_collection_changes(coll, last - 3, 0, &json, &err));
    /* one row per document at its latest sequence, ascending */
    const char *c2 = strstr(json, "\"id\":\"c2\"");
    const char *c1 = strstr(json, "\"id\":\"c1\"");
    CHECK(c1 != NULL && c2 != NULL && c2 < c1);
    CHECK(strstr(c1 + 1, "\"id\":\"c1\"") == NULL);
    CHECK_CONTAINS(json, "\"deleted\":false");
    CHECK_CONTAINS(json, "\"rev_id\":\"2-");
    p2p_free(json);
    EXPECT(P2P_OK, p2p_collection_changes(coll, last - 3, 1, &json, &err));
    CHECK(strstr(json, "c1") == NULL && strstr(json, "c2") != NULL);
    p2p_free(json);
    EXPECT(P2P_OK, p2p_collection_changes(coll, last, 0, &json, &err));
    CHECK(strcmp(json, "[]") == 0);
    p2p_free(json);
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_collection_changes(coll, 0, 0, NULL, &err));
}

static void test_bad_input(p2p_collection coll)
{
    p2p_document doc = 0;
    char long_id[300];
    memset(long_id, 'x', sizeof long_id - 1);
    long_id[sizeof long_id - 1] = '\0';
    const char *bad_json[] = {"{", "[1,2]", "\"text\"", "42", "null", "", "{\"a\":1} trailing", "{\"a\":\"\xff\"}", NULL};
    for (int i = 0; bad_json[i] != NULL; i++)
        EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_collection_save_document(coll, "bad", bad_json[i], NULL, 0, &doc, &err));
    /* the JSON syntax error says where */
    CHECK(p2p_collection_save_document(coll, "bad", "{\"a\": tru}", NULL, 0, NULL, &err) == P2P_ERR_INVALID_ARGUMENT);
    CHECK_CONTAINS(err.message, "offset");
    p2p_error_dispose(&err);

    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_collection_save_document(coll, "", "{}", NULL, 0, &doc, &err));
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_collection_save_document(coll, long_id, "{}", NULL, 0, &doc, &err));
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_collection_save_document(coll, "bad\xc3", "{}", NULL, 0, &doc, &err));
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_collection_save_document(coll, NULL, "{}", NULL, 0, &doc, &err));
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_collection_save_document(coll, "ok", NULL, NULL, 0, &doc, &err));
    EXPECT(P2P_ERR_CONFLICT, p2p_collection_save_document(coll, "ok", "{}", "1-0123456789abcdef0123456789abcdef01234567", 1, &doc, &err));
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_collection_get_document(coll, NULL, 0, &doc, &err));
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_collection_get_document(coll, "ok", 0, NULL, &err));
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_collection_get_document(coll, long_id, 0, &doc, &err));
    EXPECT(P2P_ERR_INVALID_HANDLE, p2p_collection_save_document(0, "ok", "{}", NULL, 0, &doc, &err));
    CHECK(doc == 0);
    /* 255 bytes is the longest valid ID */
    long_id[255] = '\0';
    EXPECT(P2P_OK, p2p_collection_save_document(coll, long_id, "{}", NULL, 0, NULL, &err));
}

/* Top-level keys starting with "_" are reserved for the sync protocol: refused by every
 * write path, with a message naming the key; nothing is stored. */
static void test_reserved_keys(p2p_db db, p2p_collection coll)
{
    const char *keys[] = {"_id", "_rev", "_deleted", "_removed", "_attachments", "_exp", "_revisions", "_other", NULL};
    for (int i = 0; keys[i] != NULL; i++) {
        char body[128], quoted[64];
        snprintf(body, sizeof body, "{\"a\":1,\"%s\":true}", keys[i]);
        snprintf(quoted, sizeof quoted, "\"%s\"", keys[i]);
        CHECK(p2p_collection_save_document(coll, "reserved", body, NULL, 0, NULL, &err) == P2P_ERR_INVALID_ARGUMENT);
        CHECK_CONTAINS(err.message, quoted);
        p2p_error_dispose(&err);

        p2p_batch batch = 0;
        EXPECT(P2P_OK, p2p_db_begin_batch(db, &batch, &err));
        CHECK(p2p_batch_save_document(batch, coll, "reserved", body, NULL, 0, NULL, &err) == P2P_ERR_INVALID_ARGUMENT);
        CHECK_CONTAINS(err.message, quoted);
        p2p_error_dispose(&err);
        EXPECT(P2P_OK, p2p_batch_commit(batch, &err));
    }
    /* an escaped underscore is one too */
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_collection_save_document(coll, "reserved", "{\"\\u005fid\":1}", NULL, 0, NULL, &err));
    p2p_document doc = 0;
    EXPECT(P2P_ERR_NOT_FOUND, p2p_collection_get_document(coll, "reserved", 1, &doc, &err));
    /* only top-level keys are reserved */
    EXPECT(P2P_OK, p2p_collection_save_document(coll, "reserved", "{\"n\":{\"_id\":1},\"a_b\":\"_x\"}", NULL, 0, NULL, &err));
    EXPECT(P2P_OK, p2p_collection_purge_document(coll, "reserved", &err));
}

/* Versions: every save gets "<hex time>@<source ID>" with the database's source ID, and a
 * timestamp that grows with each save; the snapshot read back carries the same. */
static void test_versions(p2p_db db, p2p_collection coll)
{
    char *source = NULL;
    EXPECT(P2P_OK, p2p_db_source_id(db, &source, &err));
    CHECK(source != NULL && strlen(source) == 22);
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_db_source_id(db, NULL, &err));

    p2p_document doc = 0;
    EXPECT(P2P_OK, p2p_collection_save_document(coll, "versioned", "{\"v\":1}", NULL, 0, &doc, &err));
    char *v1 = doc_text(doc, p2p_document_version);
    uint64_t t1 = 0;
    EXPECT(P2P_OK, p2p_document_timestamp(doc, &t1, &err));
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_document_timestamp(doc, NULL, &err));
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_document_version(doc, NULL, &err));
    EXPECT(P2P_OK, p2p_document_close(doc, &err));
    const char *at = strchr(v1, '@');
    CHECK(at != NULL && strcmp(at + 1, source) == 0);
    CHECK(t1 > 0x176c9a6fd6900000ull); /* a clock time, after mid-2023 */
    char hex[32];
    snprintf(hex, sizeof hex, "%llx", (unsigned long long)t1);
    CHECK(strncmp(v1, hex, strlen(hex)) == 0 && v1[strlen(hex)] == '@');

    EXPECT(P2P_OK, p2p_collection_save_document(coll, "versioned", "{\"v\":2}", NULL, 0, NULL, &err));
    EXPECT(P2P_OK, p2p_collection_get_document(coll, "versioned", 0, &doc, &err));
    char *v2 = doc_text(doc, p2p_document_version);
    char *vector = doc_text(doc, p2p_document_version_vector);
    uint64_t t2 = 0;
    EXPECT(P2P_OK, p2p_document_timestamp(doc, &t2, &err));
    EXPECT(P2P_OK, p2p_document_close(doc, &err));
    CHECK(t2 > t1 && strcmp(v2, v1) != 0);
    CHECK(strcmp(vector, v2) == 0); /* the own older version is replaced, not kept */
    EXPECT(P2P_ERR_INVALID_HANDLE, p2p_document_version(doc, &v2, &err));
    EXPECT(P2P_OK, p2p_collection_purge_document(coll, "versioned", &err));
    p2p_free(v1);
    p2p_free(v2);
    p2p_free(vector);
    p2p_free(source);
}

int main(void)
{
    char *dir = make_temp_dir();
    char *path = path_join(dir, "db");
    p2p_db db = 0;
    p2p_collection coll = 0;
    EXPECT(P2P_OK, p2p_db_open(path, NULL, &db, &err));
    EXPECT(P2P_OK, p2p_db_default_collection(db, &coll, &err));
    test_save_get(coll);
    test_delete_purge(coll);
    test_expiration(coll);
    test_changes_feed(coll);
    test_bad_input(coll);
    test_reserved_keys(db, coll);
    test_versions(db, coll);
    EXPECT(P2P_OK, p2p_collection_close(coll, &err));
    EXPECT(P2P_OK, p2p_db_close(db, &err));
    free(path);
    remove_tree(dir);
    return finish("test_document");
}
