/* Query module: prepare, execute with parameters, iterate rows as JSON, columns, value
 * indexes and EXPLAIN, re-execution, the bound on open results, closing order, bad input. */
#include "check.h"
#include <pthread.h>

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

/* ------------------------------------------------------------ full-text and live queries */

static void test_full_text(p2p_db db)
{
    p2p_collection coll = 0;
    EXPECT(P2P_OK, p2p_db_default_collection(db, &coll, &err));
    save(coll, "t1", "{\"text\":\"Boats in the harbour, boats at sea\"}");
    save(coll, "t2", "{\"text\":\"A harbour caf\xc3\xa9\"}");
    save(coll, "t3", "{\"text\":\"harbour lights\"}");
    EXPECT(P2P_OK, p2p_collection_delete_document(coll, "t3", NULL, P2P_CONCURRENCY_LAST_WRITE_WINS, NULL, &err));
    p2p_query q = 0;
    EXPECT(P2P_OK, p2p_query_prepare(db,
        "CREATE INDEX textFTS ON _(text) USING FTS WITH {\"language\": \"en\", \"ignoreAccents\": true}", &q, &err));
    EXPECT(P2P_OK, p2p_query_execute(q, NULL, &err));
    EXPECT(P2P_OK, p2p_query_close(q, &err));

    EXPECT(P2P_OK, p2p_query_prepare(db,
        "SELECT meta().id FROM _ WHERE MATCH(textFTS, $t) ORDER BY RANK(textFTS) DESC, meta().id", &q, &err));
    EXPECT(P2P_OK, p2p_query_execute(q, "{\"t\": \"boat\"}", &err)); /* stemmed */
    char *rows = all_rows(q);
    CHECK(strcmp(rows, "{\"id\":\"t1\"}") == 0);
    free(rows);
    EXPECT(P2P_OK, p2p_query_execute(q, "{\"t\": \"harbour\"}", &err)); /* t3 is deleted */
    rows = all_rows(q);
    CHECK(strcmp(rows, "{\"id\":\"t2\"}\n{\"id\":\"t1\"}") == 0 || strcmp(rows, "{\"id\":\"t1\"}\n{\"id\":\"t2\"}") == 0);
    free(rows);
    EXPECT(P2P_OK, p2p_query_execute(q, "{\"t\": \"cafe\"}", &err)); /* accents ignored */
    rows = all_rows(q);
    CHECK(strcmp(rows, "{\"id\":\"t2\"}") == 0);
    free(rows);
    /* a malformed full-text query is an invalid argument, reported by execute (or by the
     * first next, when SQLite only parses it at the first step) */
    char *row = NULL;
    int32_t rc = p2p_query_execute(q, "{\"t\": \"harbour AND\"}", &err);
    if (rc == P2P_OK)
        rc = p2p_query_next(q, &row, &err);
    CHECK(rc == P2P_ERR_INVALID_ARGUMENT && row == NULL);
    CHECK_CONTAINS(err.message, "full-text query");
    p2p_error_dispose(&err);
    EXPECT(P2P_OK, p2p_query_close(q, &err));
    EXPECT_MSG(P2P_ERR_INVALID_ARGUMENT, p2p_query_prepare(db, "SELECT meta().id FROM _ ORDER BY RANK(textFTS)", &q, &err), "needs MATCH");
    EXPECT_MSG(P2P_ERR_INVALID_ARGUMENT, p2p_query_prepare(db, "SELECT meta().id FROM _ WHERE MATCH(nope, 'x')", &q, &err), "nope");
    EXPECT(P2P_OK, p2p_query_prepare(db, "DROP INDEX textFTS ON _", &q, &err));
    EXPECT(P2P_OK, p2p_query_execute(q, NULL, &err));
    EXPECT(P2P_ERR_NOT_FOUND, p2p_query_execute(q, NULL, &err));
    p2p_error_dispose(&err);
    EXPECT(P2P_OK, p2p_query_close(q, &err));
    EXPECT(P2P_OK, p2p_collection_close(coll, &err));
}

/* What a query listener received: the last event and the number of calls. */
struct live_log {
    pthread_mutex_t mu;
    int calls;
    char last[4096];
    int remove_self; /* remove the subscription from inside the next call */
    int32_t remove_rc;
};

static void on_live(p2p_subscription token, const char *event_json, void *user_data)
{
    struct live_log *l = user_data;
    pthread_mutex_lock(&l->mu);
    l->calls++;
    snprintf(l->last, sizeof l->last, "%s", event_json);
    int remove_self = l->remove_self;
    pthread_mutex_unlock(&l->mu);
    if (remove_self) {
        int32_t rc = p2p_subscription_remove(token, NULL); /* must not wait for this call */
        pthread_mutex_lock(&l->mu);
        l->remove_rc = rc;
        l->remove_self = 0;
        pthread_mutex_unlock(&l->mu);
    }
}

/* Waits until the last event is `want`; returns the number of calls so far. */
static int wait_event(struct live_log *l, const char *want)
{
    double deadline = now_seconds() + 30;
    for (;;) {
        pthread_mutex_lock(&l->mu);
        int ok = strcmp(l->last, want) == 0, calls = l->calls;
        pthread_mutex_unlock(&l->mu);
        if (ok)
            return calls;
        if (now_seconds() > deadline) {
            fprintf(stderr, "live query: waited for %s, last %s\n", want, l->last);
            CHECK(0);
            return calls;
        }
        sleep_ms(10);
    }
}

static void test_live_query(p2p_db db)
{
    p2p_collection coll = 0;
    EXPECT(P2P_OK, p2p_db_default_collection(db, &coll, &err));
    p2p_query q = 0;
    EXPECT(P2P_OK, p2p_query_prepare(db, "SELECT meta().id FROM _ WHERE kind = $k ORDER BY meta().id", &q, &err));
    static struct live_log log = {PTHREAD_MUTEX_INITIALIZER, 0, "", 0, 0};
    p2p_subscription sub = 0;
    EXPECT_MSG(P2P_ERR_INVALID_ARGUMENT, p2p_query_add_listener(q, NULL, on_live, &log, &sub, &err), "$k");
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_query_add_listener(q, "{\"k\":\"x\"}", NULL, &log, &sub, &err));
    p2p_error_dispose(&err);
    EXPECT(P2P_OK, p2p_query_add_listener(q, "{\"k\":\"live\"}", on_live, &log, &sub, &err));
    wait_event(&log, "{\"event\":\"results\",\"rows\":[]}");
    save(coll, "l1", "{\"kind\":\"live\"}");
    wait_event(&log, "{\"event\":\"results\",\"rows\":[{\"id\":\"l1\"}]}");
    /* the query cannot be closed while it has a listener */
    EXPECT(P2P_ERR_BUSY, p2p_query_close(q, &err));
    p2p_error_dispose(&err);
    /* execute / next on the same query still work */
    EXPECT(P2P_OK, p2p_query_execute(q, "{\"k\":\"live\"}", &err));
    char *rows = all_rows(q);
    CHECK(strcmp(rows, "{\"id\":\"l1\"}") == 0);
    free(rows);
    save(coll, "l2", "{\"kind\":\"live\"}");
    wait_event(&log, "{\"event\":\"results\",\"rows\":[{\"id\":\"l1\"},{\"id\":\"l2\"}]}");
    /* removal from inside the listener returns without waiting for itself */
    pthread_mutex_lock(&log.mu);
    log.remove_self = 1;
    log.remove_rc = -1000;
    pthread_mutex_unlock(&log.mu);
    EXPECT(P2P_OK, p2p_collection_delete_document(coll, "l1", NULL, P2P_CONCURRENCY_LAST_WRITE_WINS, NULL, &err));
    int calls = wait_event(&log, "{\"event\":\"results\",\"rows\":[{\"id\":\"l2\"}]}");
    double deadline = now_seconds() + 30;
    for (;;) {
        pthread_mutex_lock(&log.mu);
        int32_t rc = log.remove_rc;
        pthread_mutex_unlock(&log.mu);
        if (rc != -1000) {
            CHECK(rc == P2P_OK);
            break;
        }
        CHECK(now_seconds() < deadline);
        sleep_ms(10);
    }
    save(coll, "l3", "{\"kind\":\"live\"}");
    sleep_ms(100);
    pthread_mutex_lock(&log.mu);
    CHECK(log.calls == calls); /* not called after its removal */
    pthread_mutex_unlock(&log.mu);
    EXPECT(P2P_OK, p2p_subscription_remove(sub, &err)); /* already removed: OK */
    EXPECT(P2P_OK, p2p_query_close(q, &err));
    EXPECT(P2P_OK, p2p_collection_close(coll, &err));
}

/* A revision pulled over loopback from a second database reaches the live query. */
static void test_live_query_replicated(p2p_db db, const char *dir)
{
    char *spath = path_join(dir, "server");
    p2p_db server = 0;
    p2p_collection scoll = 0;
    EXPECT(P2P_OK, p2p_db_open(spath, NULL, &server, &err));
    EXPECT(P2P_OK, p2p_db_default_collection(server, &scoll, &err));
    p2p_listener_options lo = P2P_LISTENER_OPTIONS_INIT;
    lo.disable_tls = 1;
    lo.network_interface = "127.0.0.1";
    p2p_listener l = 0;
    EXPECT(P2P_OK, p2p_listener_create(server, &lo, &l, &err));
    EXPECT(P2P_OK, p2p_listener_start(l, &err));
    uint16_t port = 0;
    EXPECT(P2P_OK, p2p_listener_port(l, &port, &err));

    p2p_query q = 0;
    EXPECT(P2P_OK, p2p_query_prepare(db, "SELECT meta().id, kind FROM _ WHERE kind = 'pulled'", &q, &err));
    static struct live_log log = {PTHREAD_MUTEX_INITIALIZER, 0, "", 0, 0};
    p2p_subscription sub = 0;
    EXPECT(P2P_OK, p2p_query_add_listener(q, NULL, on_live, &log, &sub, &err));
    wait_event(&log, "{\"event\":\"results\",\"rows\":[]}");

    char url[128];
    snprintf(url, sizeof url, "ws://127.0.0.1:%u/server", (unsigned)port);
    p2p_replicator_options ro = P2P_REPLICATOR_OPTIONS_INIT;
    ro.url = url;
    ro.type = P2P_REPLICATOR_PULL;
    ro.continuous = 1;
    p2p_replicator r = 0;
    EXPECT(P2P_OK, p2p_replicator_create(db, &ro, &r, &err));
    EXPECT(P2P_OK, p2p_replicator_start(r, 0, &err));
    save(scoll, "p1", "{\"kind\":\"pulled\"}");
    wait_event(&log, "{\"event\":\"results\",\"rows\":[{\"id\":\"p1\",\"kind\":\"pulled\"}]}");
    EXPECT(P2P_OK, p2p_replicator_close(r, &err));
    EXPECT(P2P_OK, p2p_subscription_remove(sub, &err));
    EXPECT(P2P_OK, p2p_query_close(q, &err));
    EXPECT(P2P_OK, p2p_listener_close(l, &err));
    EXPECT(P2P_OK, p2p_collection_close(scoll, &err));
    EXPECT(P2P_OK, p2p_db_close(server, &err));
    free(spath);
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
    test_full_text(db);
    test_live_query(db);
    test_live_query_replicated(db, dir);
    EXPECT(P2P_OK, p2p_db_close(db, &err));
    free(path);
    remove_tree(dir);
    return finish("test_query");
}
