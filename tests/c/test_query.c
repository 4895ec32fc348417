/* Query module: prepare, execute with parameters, iterate rows as JSON, columns, value
 * indexes and EXPLAIN, re-execution, the bound on open results, closing order, bad input. */
#include "check.h"

static p2p_error err = P2P_ERROR_INIT;

/* The call failed with `want` and a message containing `fragment`. */
#define EXPECT_MSG(want, call, fragment)            \
    do {                                            \
        CHECK((call) == (want));                    \
        CHECK_CONTAINS(err.message, (fragment));    \
        p2p_error_dispose(&err);                    \
    } while (0)

static void save(p2p_collection coll, const char *id, const char *body)
{
    EXPECT(P2P_OK, p2p_collection_save_document(coll, id, body, NULL, P2P_CONCURRENCY_LAST_WRITE_WINS, NULL, &err));
}

/* Reads every row of the last execute into one "\n"-joined string (caller frees). */
static char *all_rows(p2p_query q)
{
    size_t cap = 1, len = 0;
    char *out = calloc(1, 1);
    CHECK(out != NULL);
    for (;;) {
        char *row = NULL;
        EXPECT(P2P_OK, p2p_query_next(q, &row, &err));
        if (row == NULL)
            break;
        size_t n = strlen(row);
        cap += n + 1;
        out = realloc(out, cap);
        CHECK(out != NULL);
        if (len > 0)
            out[len++] = '\n';
        memcpy(out + len, row, n + 1);
        len += n;
        p2p_free(row);
    }
    return out;
}

static void test_select(p2p_db db)
{
    p2p_query q = 0;
    EXPECT(P2P_OK, p2p_query_prepare(db,
        "SELECT meta().id, name, address.city, age * 2 FROM _ WHERE age > $min ORDER BY name", &q, &err));
    char *cols = NULL;
    EXPECT(P2P_OK, p2p_query_columns(q, &cols, &err));
    CHECK(strcmp(cols, "[\"id\",\"name\",\"city\",\"$1\"]") == 0);
    p2p_free(cols);

    EXPECT(P2P_OK, p2p_query_execute(q, "{\"min\": 20}", &err));
    char *rows = all_rows(q);
    CHECK(strcmp(rows, "{\"id\":\"a\",\"name\":\"Ada\",\"city\":\"London\",\"$1\":72}\n"
                       "{\"id\":\"b\",\"name\":\"Bob\",\"$1\":50}") == 0);
    free(rows);
    /* after the end, next keeps answering NULL */
    char *row = (char *)1;
    EXPECT(P2P_OK, p2p_query_next(q, &row, &err));
    CHECK(row == NULL);
    /* executed again with other parameters */
    EXPECT(P2P_OK, p2p_query_execute(q, "{\"min\": 30}", &err));
    rows = all_rows(q);
    CHECK(strcmp(rows, "{\"id\":\"a\",\"name\":\"Ada\",\"city\":\"London\",\"$1\":72}") == 0);
    free(rows);
    /* a missing parameter */
    EXPECT_MSG(P2P_ERR_INVALID_ARGUMENT, p2p_query_execute(q, NULL, &err), "$min");
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_query_execute(q, "[1]", &err));
    /* the database cannot close under a query */
    EXPECT(P2P_ERR_BUSY, p2p_db_close(db, &err));
    EXPECT(P2P_OK, p2p_query_close(q, &err));
    EXPECT(P2P_OK, p2p_query_close(q, &err)); /* closing twice is fine */
}

static void test_index_and_explain(p2p_db db)
{
    p2p_query ix = 0, q = 0;
    EXPECT(P2P_OK, p2p_query_prepare(db, "CREATE INDEX byCity ON _(address.city)", &ix, &err));
    EXPECT(P2P_OK, p2p_query_execute(ix, NULL, &err));
    char *row = (char *)1;
    EXPECT(P2P_OK, p2p_query_next(ix, &row, &err));
    CHECK(row == NULL);
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_query_explain(ix, &row, &err));
    EXPECT(P2P_OK, p2p_query_close(ix, &err));

    EXPECT(P2P_OK, p2p_query_prepare(db, "SELECT meta().id FROM _ WHERE address.city = 'London'", &q, &err));
    char *plan = NULL;
    EXPECT(P2P_OK, p2p_query_explain(q, &plan, &err));
    CHECK_CONTAINS(plan, "USING INDEX qidx_1_byCity");
    p2p_free(plan);
    EXPECT(P2P_OK, p2p_query_execute(q, NULL, &err));
    char *rows = all_rows(q);
    CHECK(strcmp(rows, "{\"id\":\"a\"}") == 0);
    free(rows);
    EXPECT(P2P_OK, p2p_query_close(q, &err));
}

static void test_open_results_bounded(p2p_db db)
{
    p2p_query q[4] = {0};
    for (int i = 0; i < 4; i++)
        EXPECT(P2P_OK, p2p_query_prepare(db, "SELECT meta().id FROM _", &q[i], &err));
    for (int i = 0; i < 3; i++) {
        EXPECT(P2P_OK, p2p_query_execute(q[i], NULL, &err));
        char *row = NULL;
        EXPECT(P2P_OK, p2p_query_next(q[i], &row, &err));
        CHECK(row != NULL);
        p2p_free(row);
    }
    EXPECT(P2P_ERR_BUSY, p2p_query_execute(q[3], NULL, &err));
    EXPECT(P2P_OK, p2p_query_close(q[0], &err));
    EXPECT(P2P_OK, p2p_query_execute(q[3], NULL, &err));
    for (int i = 1; i < 4; i++)
        EXPECT(P2P_OK, p2p_query_close(q[i], &err));
}

static void test_bad_input(p2p_db db)
{
    p2p_query q = 0;
    EXPECT_MSG(P2P_ERR_INVALID_ARGUMENT, p2p_query_prepare(db, "SELECT name\nFROM _ WHERE", &q, &err),
               "line 2, column 13");
    CHECK(q == 0);
    EXPECT_MSG(P2P_ERR_NOT_FOUND, p2p_query_prepare(db, "SELECT name FROM nosuch", &q, &err), "line 1, column 18");
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_query_prepare(db, NULL, &q, &err));
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_query_prepare(db, "SELECT 1 FROM _", NULL, &err));
    EXPECT(P2P_ERR_INVALID_HANDLE, p2p_query_prepare(0, "SELECT 1 FROM _", &q, &err));
    EXPECT(P2P_ERR_INVALID_HANDLE, p2p_query_execute(db, NULL, &err)); /* wrong kind */
    EXPECT(P2P_OK, p2p_query_prepare(db, "SELECT 1 FROM _", &q, &err));
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_query_next(q, NULL, &err));
    EXPECT(P2P_OK, p2p_query_close(q, &err));
    EXPECT(P2P_ERR_INVALID_HANDLE, p2p_query_execute(q, NULL, &err)); /* closed */
}

int main(void)
{
    char *dir = make_temp_dir();
    char *path = path_join(dir, "db");
    p2p_db db = 0;
    p2p_collection coll = 0;
    EXPECT(P2P_OK, p2p_db_open(path, NULL, &db, &err));
    EXPECT(P2P_OK, p2p_db_default_collection(db, &coll, &err));
    save(coll, "a", "{\"name\":\"Ada\",\"age\":36,\"address\":{\"city\":\"London\"}}");
    save(coll, "b", "{\"name\":\"Bob\",\"age\":25}");
    save(coll, "c", "{\"name\":\"Cy\",\"age\":50,\"address\":{\"city\":\"London\"}}");
    EXPECT(P2P_OK, p2p_collection_delete_document(coll, "c", NULL, P2P_CONCURRENCY_LAST_WRITE_WINS, NULL, &err));
    EXPECT(P2P_OK, p2p_collection_close(coll, &err));
    test_select(db);
    test_index_and_explain(db);
    test_open_results_bounded(db);
    test_bad_input(db);
    EXPECT(P2P_OK, p2p_db_close(db, &err));
    free(path);
    remove_tree(dir);
    return finish("test_query");
}
