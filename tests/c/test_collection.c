/* Collection module: create, get, delete, list, names, count, last sequence, bad names. */
#include "check.h"

int main(void)
{
    p2p_error err = P2P_ERROR_INIT;
    char *dir = make_temp_dir();
    char *path = path_join(dir, "db");
    p2p_db db = 0;
    EXPECT(P2P_OK, p2p_db_open(path, NULL, &db, &err));

    p2p_collection def = 0, users = 0, users2 = 0, missing = 0;
    EXPECT(P2P_OK, p2p_db_default_collection(db, &def, &err));
    char *scope = NULL, *name = NULL;
    EXPECT(P2P_OK, p2p_collection_scope_name(def, &scope, &err));
    EXPECT(P2P_OK, p2p_collection_name(def, &name, &err));
    CHECK(strcmp(scope, "_default") == 0 && strcmp(name, "_default") == 0);
    p2p_free(scope);
    p2p_free(name);

    EXPECT(P2P_ERR_NOT_FOUND, p2p_db_get_collection(db, "app", "users", &missing, &err));
    CHECK(missing == 0);
    EXPECT(P2P_OK, p2p_db_create_collection(db, "app", "users", &users, &err));
    EXPECT(P2P_OK, p2p_db_create_collection(db, "app", "users", &users2, &err)); /* idempotent */
    CHECK(users != users2);
    EXPECT(P2P_OK, p2p_collection_close(users2, &err));
    EXPECT(P2P_OK, p2p_db_get_collection(db, "app", "users", &users2, &err));
    EXPECT(P2P_OK, p2p_collection_close(users2, &err));
    p2p_collection other = 0;
    EXPECT(P2P_OK, p2p_db_create_collection(db, NULL, "notes", &other, &err)); /* NULL scope = _default */
    EXPECT(P2P_OK, p2p_collection_scope_name(other, &scope, &err));
    CHECK(strcmp(scope, "_default") == 0);
    p2p_free(scope);
    EXPECT(P2P_OK, p2p_collection_close(other, &err));

    char *json = NULL;
    EXPECT(P2P_OK, p2p_db_collection_names(db, "app", &json, &err));
    CHECK(strcmp(json, "[\"users\"]") == 0);
    p2p_free(json);
    EXPECT(P2P_OK, p2p_db_collection_names(db, "nobody", &json, &err));
    CHECK(strcmp(json, "[]") == 0);
    p2p_free(json);
    EXPECT(P2P_OK, p2p_db_scope_names(db, &json, &err));
    CHECK(strcmp(json, "[\"_default\",\"app\"]") == 0);
    p2p_free(json);

    /* count and last sequence */
    uint64_t count = 99, seq = 99;
    EXPECT(P2P_OK, p2p_collection_count(users, &count, &err));
    EXPECT(P2P_OK, p2p_collection_last_sequence(users, &seq, &err));
    CHECK(count == 0 && seq == 0);
    EXPECT(P2P_OK, p2p_collection_save_document(users, "u1", "{\"n\":1}", NULL, P2P_CONCURRENCY_LAST_WRITE_WINS, NULL, &err));
    EXPECT(P2P_OK, p2p_collection_save_document(users, "u2", "{\"n\":2}", NULL, P2P_CONCURRENCY_LAST_WRITE_WINS, NULL, &err));
    EXPECT(P2P_OK, p2p_collection_count(users, &count, &err));
    EXPECT(P2P_OK, p2p_collection_last_sequence(users, &seq, &err));
    CHECK(count == 2 && seq == 2);
    EXPECT(P2P_OK, p2p_collection_count(def, &count, &err));
    CHECK(count == 0); /* collections are separate */
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_collection_count(users, NULL, &err));

    /* bad names */
    p2p_collection bad = 0;
    const char *bad_names[] = {"", "_hidden", "%pct", "has space", "dot.ted", "x\xff", NULL};
    for (int i = 0; bad_names[i] != NULL; i++) {
        EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_db_create_collection(db, "app", bad_names[i], &bad, &err));
        if (bad_names[i][0] != '\0') /* an empty scope means _default */
            EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_db_create_collection(db, bad_names[i], "ok", &bad, &err));
    }
    char long_name[300];
    memset(long_name, 'a', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_db_create_collection(db, "app", long_name, &bad, &err));
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_db_create_collection(db, "app", NULL, &bad, &err));
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_db_create_collection(db, "app", "fine", NULL, &err));
    CHECK(bad == 0);

    /* delete: the default collection cannot go; handles to a deleted one report NOT_FOUND */
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_db_delete_collection(db, "_default", "_default", &err));
    EXPECT(P2P_OK, p2p_db_delete_collection(db, "app", "users", &err));
    EXPECT(P2P_ERR_NOT_FOUND, p2p_collection_count(users, &count, &err));
    EXPECT(P2P_ERR_NOT_FOUND, p2p_db_delete_collection(db, "app", "users", &err));
    EXPECT(P2P_OK, p2p_db_scope_names(db, &json, &err));
    CHECK(strcmp(json, "[\"_default\"]") == 0);
    p2p_free(json);

    /* a collection keeps its database open */
    EXPECT(P2P_ERR_BUSY, p2p_db_close(db, &err));
    EXPECT(P2P_OK, p2p_collection_close(users, &err));
    EXPECT(P2P_OK, p2p_collection_close(def, &err));
    EXPECT(P2P_OK, p2p_db_close(db, &err));
    free(path);
    remove_tree(dir);
    return finish("test_collection");
}
