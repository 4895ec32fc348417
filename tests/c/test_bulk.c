/* Bulk documents: p2p_batch_save_documents and p2p_collection_get_documents. */
#include "check.h"

static p2p_error err = P2P_ERROR_INIT;

/* The revision ID of doc_id read one at a time (caller frees). */
static char *rev_of(p2p_collection coll, const char *doc_id)
{
    p2p_document doc = 0;
    char *rev = NULL;
    EXPECT(P2P_OK, p2p_collection_get_document(coll, doc_id, 0, &doc, &err));
    EXPECT(P2P_OK, p2p_document_rev_id(doc, &rev, &err));
    EXPECT(P2P_OK, p2p_document_close(doc, &err));
    return rev;
}

static void test_save_and_read(p2p_db db, p2p_collection coll)
{
    const char *ids[] = {"a", "b", "c"};
    const char *bodies[] = {"{\"n\": 1}", "{\"n\":2,\"q\":\"x\\\"y\"}", "{ \"n\" : 3 }"};
    p2p_batch batch = 0;
    size_t saved = 99;
    char *results = NULL;
    EXPECT(P2P_OK, p2p_db_begin_batch(db, &batch, &err));
    EXPECT(P2P_OK, p2p_batch_save_documents(batch, coll, 3, ids, bodies, NULL, 0, &saved, &results, &err));
    CHECK(saved == 3);
    CHECK_CONTAINS(results, "[{\"id\":\"a\",\"rev_id\":\"1-");
    CHECK_CONTAINS(results, ",\"sequence\":1,\"version\":\"");
    CHECK_CONTAINS(results, "{\"id\":\"c\",\"rev_id\":\"1-");
    CHECK_CONTAINS(results, ",\"sequence\":3,");
    p2p_free(results);
    EXPECT(P2P_OK, p2p_batch_commit(batch, &err));

    /* Each revision is the one a single save gives: same ID for the same body. */
    char *rev_a = rev_of(coll, "a");
    p2p_document one = 0;
    char *rev_one = NULL;
    EXPECT(P2P_OK, p2p_collection_save_document(coll, "a2", "{\"n\":1}", NULL, 0, &one, &err));
    EXPECT(P2P_OK, p2p_document_rev_id(one, &rev_one, &err));
    EXPECT(P2P_OK, p2p_document_close(one, &err));
    CHECK(strcmp(rev_a, rev_one) == 0);
    p2p_free(rev_one);

    /* Bulk read: order kept, missing IDs null, repeated IDs answered each time. */
    const char *want[] = {"c", "missing", "a", "b", "a"};
    char *json = NULL;
    EXPECT(P2P_OK, p2p_collection_get_documents(coll, 5, want, 0, &json, &err));
    CHECK(strncmp(json, "[{\"id\":\"c\",", 11) == 0);
    CHECK_CONTAINS(json, "},null,{\"id\":\"a\",\"rev_id\":\"");
    CHECK_CONTAINS(json, rev_a);
    CHECK_CONTAINS(json, "\"deleted\":false,\"version\":\"");
    CHECK_CONTAINS(json, "\"json\":\"{\\\"n\\\":1}\"}");             /* compact body, as a string */
    CHECK_CONTAINS(json, "\"json\":\"{\\\"n\\\":2,\\\"q\\\":\\\"x\\\\\\\"y\\\"}\"}"); /* escapes kept */
    CHECK_CONTAINS(json, "\"json\":\"{\\\"n\\\":3}\"},null,");
    CHECK_CONTAINS(json, "\"json\":\"{\\\"n\\\":1}\"}]");
    p2p_free(json);
    p2p_free(rev_a);

    /* Deleted documents: null unless include_deleted. */
    EXPECT(P2P_OK, p2p_collection_delete_document(coll, "b", NULL, 0, NULL, &err));
    const char *b_only[] = {"b"};
    EXPECT(P2P_OK, p2p_collection_get_documents(coll, 1, b_only, 0, &json, &err));
    CHECK(strcmp(json, "[null]") == 0);
    p2p_free(json);
    EXPECT(P2P_OK, p2p_collection_get_documents(coll, 1, b_only, 1, &json, &err));
    CHECK_CONTAINS(json, "\"rev_id\":\"2-");
    CHECK_CONTAINS(json, "\"deleted\":true,");
    CHECK_CONTAINS(json, "\"json\":\"{}\"}]");
    p2p_free(json);

    /* Nothing asked, nothing read. */
    EXPECT(P2P_OK, p2p_collection_get_documents(coll, 0, NULL, 0, &json, &err));
    CHECK(strcmp(json, "[]") == 0);
    p2p_free(json);
}

static void test_failure_midway(p2p_db db, p2p_collection coll)
{
    const char *ids[] = {"m1", "m2", "m3"};
    const char *bodies[] = {"{\"v\":1}", "[1]", "{\"v\":3}"};
    p2p_batch batch = 0;
    size_t saved = 99;
    char *results = NULL;
    uint64_t before = 0, after = 0;
    EXPECT(P2P_OK, p2p_collection_count(coll, &before, &err));
    EXPECT(P2P_OK, p2p_db_begin_batch(db, &batch, &err));
    int32_t rc = p2p_batch_save_documents(batch, coll, 3, ids, bodies, NULL, 0, &saved, &results, &err);
    CHECK(rc == P2P_ERR_INVALID_ARGUMENT);
    CHECK(saved == 1);
    CHECK(results == NULL);
    CHECK(err.message != NULL && strncmp(err.message, "document 1 (\"m2\"): ", 19) == 0);
    p2p_error_dispose(&err);
    /* The batch stays open with the documents before the failure. */
    EXPECT(P2P_OK, p2p_batch_save_documents(batch, coll, 1, ids + 2, bodies + 2, NULL, 0, NULL, NULL, &err));
    EXPECT(P2P_OK, p2p_batch_commit(batch, &err));
    EXPECT(P2P_OK, p2p_collection_count(coll, &after, &err));
    CHECK(after == before + 2);
    const char *check[] = {"m1", "m2", "m3"};
    char *json = NULL;
    EXPECT(P2P_OK, p2p_collection_get_documents(coll, 3, check, 0, &json, &err));
    CHECK_CONTAINS(json, "\"m1\"");
    CHECK_CONTAINS(json, ",null,");
    CHECK_CONTAINS(json, "\"m3\"");
    p2p_free(json);

    /* A reserved key and an invalid ID fail at their index too. */
    const char *bad_ids[] = {"ok1", ""};
    const char *bad_bodies[] = {"{\"_id\":1}", "{}"};
    EXPECT(P2P_OK, p2p_db_begin_batch(db, &batch, &err));
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_batch_save_documents(batch, coll, 2, bad_ids, bad_bodies, NULL, 0, &saved, NULL, &err));
    CHECK(saved == 0);
    const char *good_bodies[] = {"{}", "{}"};
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_batch_save_documents(batch, coll, 2, bad_ids, good_bodies, NULL, 0, &saved, NULL, &err));
    CHECK(saved == 1);
    EXPECT(P2P_OK, p2p_batch_abort(batch, &err));
}

static void test_repeats_and_parents(p2p_db db, p2p_collection coll)
{
    const char *ids[] = {"r", "r"};
    const char *bodies[] = {"{\"v\":1}", "{\"v\":2}"};
    p2p_batch batch = 0;
    char *results = NULL;
    EXPECT(P2P_OK, p2p_db_begin_batch(db, &batch, &err));
    EXPECT(P2P_OK, p2p_batch_save_documents(batch, coll, 2, ids, bodies, NULL, 0, NULL, &results, &err));
    CHECK_CONTAINS(results, "{\"id\":\"r\",\"rev_id\":\"1-");
    CHECK_CONTAINS(results, "{\"id\":\"r\",\"rev_id\":\"2-");
    p2p_free(results);
    EXPECT(P2P_OK, p2p_batch_commit(batch, &err));

    /* FAIL_ON_CONFLICT with per-document parents. */
    char *cur = rev_of(coll, "r");
    const char *one_id[] = {"r"};
    const char *one_body[] = {"{\"v\":3}"};
    const char *stale[] = {"1-0000000000000000000000000000000000000000"};
    const char *right[] = {cur};
    size_t saved = 99;
    EXPECT(P2P_OK, p2p_db_begin_batch(db, &batch, &err));
    EXPECT(P2P_ERR_CONFLICT, p2p_batch_save_documents(batch, coll, 1, one_id, one_body, stale,
                                                      P2P_CONCURRENCY_FAIL_ON_CONFLICT, &saved, NULL, &err));
    CHECK(saved == 0);
    EXPECT(P2P_ERR_CONFLICT, p2p_batch_save_documents(batch, coll, 1, one_id, one_body, NULL,
                                                      P2P_CONCURRENCY_FAIL_ON_CONFLICT, NULL, NULL, &err));
    EXPECT(P2P_OK, p2p_batch_save_documents(batch, coll, 1, one_id, one_body, right,
                                            P2P_CONCURRENCY_FAIL_ON_CONFLICT, &saved, NULL, &err));
    CHECK(saved == 1);
    EXPECT(P2P_OK, p2p_batch_commit(batch, &err));
    p2p_free(cur);
    cur = rev_of(coll, "r");
    CHECK(strncmp(cur, "3-", 2) == 0);
    p2p_free(cur);
}

static void test_bad_input(p2p_db db, p2p_collection coll)
{
    const char *ids[] = {"x"};
    const char *bodies[] = {"{}"};
    const char *null_entry[] = {NULL};
    p2p_batch batch = 0;
    char *json = NULL;
    size_t saved = 99;
    EXPECT(P2P_OK, p2p_db_begin_batch(db, &batch, &err));
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_batch_save_documents(batch, coll, 1, NULL, bodies, NULL, 0, NULL, NULL, &err));
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_batch_save_documents(batch, coll, 1, ids, NULL, NULL, 0, NULL, NULL, &err));
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_batch_save_documents(batch, coll, 1, null_entry, bodies, NULL, 0, NULL, NULL, &err));
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_batch_save_documents(batch, coll, 1, ids, null_entry, NULL, 0, NULL, NULL, &err));
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_batch_save_documents(batch, coll, 1, ids, bodies, NULL, 7, NULL, NULL, &err));
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_batch_save_documents(batch, coll, (size_t)1 << 40, ids, bodies, NULL, 0, NULL, NULL, &err));
    EXPECT(P2P_ERR_INVALID_HANDLE, p2p_batch_save_documents(0, coll, 1, ids, bodies, NULL, 0, &saved, NULL, &err));
    CHECK(saved == 0);
    EXPECT(P2P_OK, p2p_batch_save_documents(batch, coll, 0, NULL, NULL, NULL, 0, &saved, &json, &err));
    CHECK(saved == 0 && strcmp(json, "[]") == 0);
    p2p_free(json);
    EXPECT(P2P_OK, p2p_batch_abort(batch, &err));

    json = NULL;
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_collection_get_documents(coll, 1, ids, 0, NULL, &err));
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_collection_get_documents(coll, 1, NULL, 0, &json, &err));
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_collection_get_documents(coll, 1, null_entry, 0, &json, &err));
    const char *bad_id[] = {"x", ""};
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_collection_get_documents(coll, 2, bad_id, 0, &json, &err));
    EXPECT(P2P_ERR_INVALID_HANDLE, p2p_collection_get_documents(db, 1, ids, 0, &json, &err));
    CHECK(json == NULL);
}

int main(void)
{
    char *dir = make_temp_dir();
    char *path = path_join(dir, "db");
    p2p_db db = 0;
    p2p_collection coll = 0;
    EXPECT(P2P_OK, p2p_db_open(path, NULL, &db, &err));
    EXPECT(P2P_OK, p2p_db_default_collection(db, &coll, &err));
    test_save_and_read(db, coll);
    test_failure_midway(db, coll);
    test_repeats_and_parents(db, coll);
    test_bad_input(db, coll);
    EXPECT(P2P_OK, p2p_collection_close(coll, &err));
    EXPECT(P2P_OK, p2p_db_close(db, &err));
    free(path);
    remove_tree(dir);
    return finish("test_bulk");
}
