/* Changes: callback listeners (collection and document), change queues, removal rules. */
#include "check.h"

#include <pthread.h>

static p2p_error err = P2P_ERROR_INIT;

struct recorder {
    pthread_mutex_t mu;
    int events;
    int changes;
    char last[4096];
    p2p_subscription token;
    int remove_inside; /* remove its own subscription from inside the callback */
    int calls_after_remove;
    int removed;
};

static void count_substr(const char *text, const char *needle, int *n)
{
    for (const char *p = strstr(text, needle); p; p = strstr(p + 1, needle))
        (*n)++;
}

static void on_change(p2p_subscription token, const char *event_json, void *user_data)
{
    struct recorder *r = user_data;
    pthread_mutex_lock(&r->mu);
    if (r->removed)
        r->calls_after_remove++;
    r->events++;
    count_substr(event_json, "\"sequence\"", &r->changes);
    snprintf(r->last, sizeof r->last, "%s", event_json);
    r->token = token;
    int remove_now = r->remove_inside && !r->removed;
    pthread_mutex_unlock(&r->mu);
    if (remove_now) {
        p2p_error e = P2P_ERROR_INIT;
        CHECK(p2p_subscription_remove(token, &e) == P2P_OK); /* must not deadlock */
        pthread_mutex_lock(&r->mu);
        r->removed = 1;
        pthread_mutex_unlock(&r->mu);
    }
}

static int events_of(struct recorder *r)
{
    pthread_mutex_lock(&r->mu);
    int n = r->events;
    pthread_mutex_unlock(&r->mu);
    return n;
}

static void wait_events(struct recorder *r, int want)
{
    double deadline = now_seconds() + 10;
    while (events_of(r) < want && now_seconds() < deadline)
        sleep_ms(2);
    CHECK(events_of(r) >= want);
}

static void save(p2p_collection coll, const char *id)
{
    EXPECT(P2P_OK, p2p_collection_save_document(coll, id, "{\"x\":1}", NULL, 0, NULL, &err));
}

static void test_listeners(p2p_db db, p2p_collection coll)
{
    struct recorder all = {PTHREAD_MUTEX_INITIALIZER, 0, 0, "", 0, 0, 0, 0};
    struct recorder one = {PTHREAD_MUTEX_INITIALIZER, 0, 0, "", 0, 0, 0, 0};
    p2p_subscription t_all = 0, t_one = 0;
    EXPECT(P2P_OK, p2p_collection_add_change_listener(coll, on_change, &all, &t_all, &err));
    EXPECT(P2P_OK, p2p_collection_add_document_change_listener(coll, "watched", on_change, &one, &t_one, &err));
    CHECK(t_all != 0 && t_one != 0 && t_all != t_one);
    EXPECT(P2P_ERR_BUSY, p2p_collection_close(coll, &err)); /* subscriptions keep it open */

    save(coll, "other");
    save(coll, "watched");
    wait_events(&all, 2);
    wait_events(&one, 1);
    CHECK(events_of(&one) == 1);
    CHECK_CONTAINS(one.last, "\"event\":\"change\"");
    CHECK_CONTAINS(one.last, "\"collection\":\"_default._default\"");
    CHECK_CONTAINS(one.last, "\"id\":\"watched\"");
    CHECK(one.token == t_one);

    /* a batch is one event with all its changes, after the commit */
    p2p_batch batch = 0;
    EXPECT(P2P_OK, p2p_db_begin_batch(db, &batch, &err));
    EXPECT(P2P_OK, p2p_batch_save_document(batch, coll, "b1", "{}", NULL, 0, NULL, &err));
    EXPECT(P2P_OK, p2p_batch_save_document(batch, coll, "b2", "{}", NULL, 0, NULL, &err));
    sleep_ms(100);
    CHECK(events_of(&all) == 2);
    EXPECT(P2P_OK, p2p_batch_commit(batch, &err));
    wait_events(&all, 3);
    CHECK_CONTAINS(all.last, "\"id\":\"b1\"");
    CHECK_CONTAINS(all.last, "\"id\":\"b2\"");

    /* after remove returns, no further calls */
    EXPECT(P2P_OK, p2p_subscription_remove(t_all, &err));
    EXPECT(P2P_OK, p2p_subscription_remove(t_all, &err)); /* twice is harmless */
    int before = events_of(&all);
    save(coll, "late");
    save(coll, "watched");
    wait_events(&one, 2);
    CHECK(events_of(&all) == before);
    EXPECT(P2P_OK, p2p_subscription_remove(t_one, &err));

    /* removing from inside the callback */
    struct recorder self = {PTHREAD_MUTEX_INITIALIZER, 0, 0, "", 0, 1, 0, 0};
    p2p_subscription t_self = 0;
    EXPECT(P2P_OK, p2p_collection_add_change_listener(coll, on_change, &self, &t_self, &err));
    save(coll, "s1");
    wait_events(&self, 1);
    save(coll, "s2");
    save(coll, "s3");
    sleep_ms(100);
    CHECK(events_of(&self) == 1 && self.calls_after_remove == 0);
    EXPECT(P2P_OK, p2p_subscription_remove(t_self, &err));

    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_collection_add_change_listener(coll, NULL, NULL, &t_self, &err));
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_collection_add_change_listener(coll, on_change, NULL, NULL, &err));
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_collection_add_document_change_listener(coll, "\xff", on_change, NULL, &t_self, &err));
    /* Document IDs are 1-255 bytes, here as everywhere else. */
    size_t huge_len = (size_t)1 << 20;
    char *huge = malloc(huge_len + 1);
    CHECK(huge != NULL);
    memset(huge, 'x', huge_len);
    huge[huge_len] = '\0';
    CHECK(p2p_collection_add_document_change_listener(coll, huge, on_change, NULL, &t_self, &err) == P2P_ERR_INVALID_ARGUMENT);
    CHECK_CONTAINS(err.message, "doc_id");
    p2p_error_dispose(&err);
    huge[256] = '\0';
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_collection_add_document_change_listener(coll, huge, on_change, NULL, &t_self, &err));
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_collection_add_document_change_listener(coll, "", on_change, NULL, &t_self, &err));
    huge[255] = '\0';
    EXPECT(P2P_OK, p2p_collection_add_document_change_listener(coll, huge, on_change, NULL, &t_self, &err));
    EXPECT(P2P_OK, p2p_subscription_remove(t_self, &err));
    free(huge);
    EXPECT(P2P_ERR_INVALID_HANDLE, p2p_collection_add_change_listener(db, on_change, NULL, &t_self, &err));
    EXPECT(P2P_ERR_INVALID_HANDLE, p2p_subscription_remove(coll, &err));
}

static void test_queue(p2p_collection coll)
{
    p2p_subscription q = 0;
    char *json = NULL;
    EXPECT(P2P_OK, p2p_collection_add_change_queue(coll, 3, &q, &err));
    /* timeout: OK with NULL */
    double start = now_seconds();
    EXPECT(P2P_OK, p2p_subscription_next_event(q, 50, &json, &err));
    CHECK(json == NULL && now_seconds() - start >= 0.04);

    save(coll, "q1");
    EXPECT(P2P_OK, p2p_subscription_next_event(q, 5000, &json, &err));
    CHECK_CONTAINS(json, "\"id\":\"q1\"");
    p2p_free(json);

    /* overflow: with the reader idle, the queue keeps 3 events and counts the rest in an
     * overflow event at the gap. Delivery is asynchronous, so the exact split depends on
     * timing; what must hold: every change is either delivered or counted, an overflow
     * is reported, and it comes after the queue had filled. */
    enum { N = 40 };
    for (int i = 0; i < N; i++) {
        char id[16];
        snprintf(id, sizeof id, "o%d", i);
        save(coll, id);
    }
    double deadline = now_seconds() + 20;
    int changes = 0, dropped = 0, overflows = 0, changes_before_overflow = -1;
    while (now_seconds() < deadline && changes + dropped < N) {
        EXPECT(P2P_OK, p2p_subscription_next_event(q, 200, &json, &err));
        if (json == NULL)
            continue;
        if (strstr(json, "\"event\":\"overflow\"")) {
            int n = 0;
            CHECK(sscanf(strstr(json, "\"dropped\":") + 10, "%d", &n) == 1 && n > 0);
            dropped += n;
            if (overflows++ == 0)
                changes_before_overflow = changes;
        } else {
            changes++;
        }
        p2p_free(json);
    }
    CHECK(changes + dropped == N);
    CHECK(overflows >= 1 && changes_before_overflow >= 3);

    /* a callback subscription has no queue */
    p2p_subscription cb = 0;
    struct recorder r = {PTHREAD_MUTEX_INITIALIZER, 0, 0, "", 0, 0, 0, 0};
    EXPECT(P2P_OK, p2p_collection_add_change_listener(coll, on_change, &r, &cb, &err));
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_subscription_next_event(cb, 0, &json, &err));
    EXPECT(P2P_OK, p2p_subscription_remove(cb, &err));
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_subscription_next_event(q, 0, NULL, &err));
    EXPECT(P2P_OK, p2p_subscription_remove(q, &err));
    EXPECT(P2P_ERR_INVALID_HANDLE, p2p_subscription_next_event(q, 0, &json, &err));
}

struct waiter {
    p2p_subscription q;
    int32_t rc;
};

static void *wait_on_queue(void *arg)
{
    struct waiter *w = arg;
    char *json = NULL;
    w->rc = p2p_subscription_next_event(w->q, 30000, &json, NULL);
    p2p_free(json);
    return NULL;
}

/* Removing a queue wakes a waiting reader with P2P_ERR_CANCELLED. */
static void test_queue_remove_wakes(p2p_collection coll)
{
    struct waiter w = {0, 1};
    EXPECT(P2P_OK, p2p_collection_add_change_queue(coll, 0, &w.q, &err));
    pthread_t th;
    CHECK(pthread_create(&th, NULL, wait_on_queue, &w) == 0);
    sleep_ms(100);
    double start = now_seconds();
    EXPECT(P2P_OK, p2p_subscription_remove(w.q, &err));
    CHECK(pthread_join(th, NULL) == 0);
    CHECK(w.rc == P2P_ERR_CANCELLED || w.rc == P2P_ERR_INVALID_HANDLE);
    CHECK(now_seconds() - start < 5);
}

int main(void)
{
    char *dir = make_temp_dir();
    char *path = path_join(dir, "db");
    p2p_db db = 0;
    p2p_collection coll = 0;
    EXPECT(P2P_OK, p2p_db_open(path, NULL, &db, &err));
    EXPECT(P2P_OK, p2p_db_default_collection(db, &coll, &err));
    test_listeners(db, coll);
    test_queue(coll);
    test_queue_remove_wakes(coll);
    EXPECT(P2P_OK, p2p_collection_close(coll, &err));
    EXPECT(P2P_OK, p2p_db_close(db, &err));
    free(path);
    remove_tree(dir);
    return finish("test_changes");
}
