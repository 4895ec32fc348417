/* Core module: versions, status names, errors, memory, and the handle rules that hold
 * for every kind. */
#include "check.h"

static void test_versions(void)
{
    CHECK(p2p_abi_version() == P2P_ABI_VERSION);
    CHECK(strcmp(p2p_version(), P2P_VERSION_STRING) == 0);
}

static void test_status_strings(void)
{
    CHECK(strcmp(p2p_status_string(P2P_OK), "P2P_OK") == 0);
    CHECK(strcmp(p2p_status_string(P2P_ERR_INVALID_ARGUMENT), "P2P_ERR_INVALID_ARGUMENT") == 0);
    CHECK(strcmp(p2p_status_string(P2P_ERR_UNSUPPORTED), "P2P_ERR_UNSUPPORTED") == 0);
    CHECK(strcmp(p2p_status_string(P2P_ERR_INTERNAL), "P2P_ERR_INTERNAL") == 0);
    CHECK(strcmp(p2p_status_string(-42), "P2P_ERR_UNKNOWN") == 0);
    CHECK(strcmp(p2p_status_string(7), "P2P_ERR_UNKNOWN") == 0);
}

static void test_error_and_free(void)
{
    p2p_error err = P2P_ERROR_INIT;
    p2p_error_dispose(NULL);
    p2p_error_dispose(&err); /* never filled */
    p2p_free(NULL);

    p2p_db db = 0;
    CHECK(p2p_db_open(NULL, NULL, &db, &err) == P2P_ERR_INVALID_ARGUMENT);
    CHECK(err.domain == P2P_DOMAIN_LIBRARY && err.code == P2P_ERR_INVALID_ARGUMENT);
    CHECK_CONTAINS(err.message, "path");
    CHECK(db == 0); /* out-parameters untouched on failure */
    p2p_error_dispose(&err);
    CHECK(err.message == NULL && err.code == 0 && err.domain == 0);
    p2p_error_dispose(&err); /* twice is harmless */

    /* err is optional */
    CHECK(p2p_db_open(NULL, NULL, &db, NULL) == P2P_ERR_INVALID_ARGUMENT);
}

static void test_handle_rules(void)
{
    p2p_error err = P2P_ERROR_INIT;
    /* closing 0 is a no-op for every kind */
    EXPECT(P2P_OK, p2p_db_close(0, &err));
    EXPECT(P2P_OK, p2p_collection_close(0, &err));
    EXPECT(P2P_OK, p2p_document_close(0, &err));
    EXPECT(P2P_OK, p2p_batch_abort(0, &err));
    EXPECT(P2P_OK, p2p_subscription_remove(0, &err));

    /* never-issued and wrong-kind handles */
    uint64_t garbage[] = {1, 42, UINT64_MAX, (1ull << 56) | 999999, (9ull << 56) | 1, (0x7full << 56) | 5};
    for (size_t i = 0; i < sizeof garbage / sizeof garbage[0]; i++) {
        char *name = NULL;
        EXPECT(P2P_ERR_INVALID_HANDLE, p2p_db_name(garbage[i], &name, &err));
        CHECK(name == NULL);
        uint64_t count = 0;
        EXPECT(P2P_ERR_INVALID_HANDLE, p2p_collection_count(garbage[i], &count, &err));
        EXPECT(P2P_ERR_INVALID_HANDLE, p2p_db_close(garbage[i], &err));
    }

    /* a database handle is not a collection handle and vice versa */
    char *dir = make_temp_dir();
    char *path = path_join(dir, "db");
    p2p_db db = 0;
    p2p_collection coll = 0;
    EXPECT(P2P_OK, p2p_db_open(path, NULL, &db, &err));
    CHECK(db != 0 && (int64_t)db > 0); /* positive as a JVM long */
    EXPECT(P2P_OK, p2p_db_default_collection(db, &coll, &err));
    CHECK(coll != db);
    uint64_t count = 0;
    EXPECT(P2P_ERR_INVALID_HANDLE, p2p_collection_count(db, &count, &err));
    EXPECT(P2P_ERR_INVALID_HANDLE, p2p_db_close(coll, &err));
    EXPECT(P2P_ERR_INVALID_HANDLE, p2p_collection_close(db, &err));
    EXPECT(P2P_ERR_INVALID_HANDLE, p2p_document_close(coll, &err));
    CHECK(p2p_debug_live_handles() == 2);

    /* parent with live children: BUSY, nothing closed */
    EXPECT(P2P_ERR_BUSY, p2p_db_close(db, &err));
    EXPECT(P2P_OK, p2p_collection_count(coll, &count, &err));
    EXPECT(P2P_OK, p2p_collection_close(coll, &err));
    EXPECT(P2P_OK, p2p_collection_close(coll, &err)); /* double close is harmless */
    EXPECT(P2P_ERR_INVALID_HANDLE, p2p_collection_count(coll, &count, &err)); /* stale */
    EXPECT(P2P_OK, p2p_db_close(db, &err));
    EXPECT(P2P_OK, p2p_db_close(db, &err));
    char *name = NULL;
    EXPECT(P2P_ERR_INVALID_HANDLE, p2p_db_name(db, &name, &err));

    /* serials are never reused */
    p2p_db db2 = 0;
    EXPECT(P2P_OK, p2p_db_open(path, NULL, &db2, &err));
    CHECK(db2 != db);
    EXPECT(P2P_OK, p2p_db_close(db2, &err));
    free(path);
    remove_tree(dir);
}

int main(void)
{
    test_versions();
    test_status_strings();
    test_error_and_free();
    test_handle_rules();
    return finish("test_core");
}
