/* The library log and statistics from C: a callback captures the listener's connection
 * lines (peer, user, subprotocol, collections, close) and its peer-caused errors (a wrong
 * password), and the replicator's state changes and retries, each with its level and
 * domain; levels and domains filter; p2p_log_set_callback is refused from inside a
 * callback and waits for calls in flight; P2PSYNC_LOG configures the console at load;
 * p2p_listener_status lists connections and p2p_replicator_stats the new counters. */
#include "check.h"

#include <pthread.h>

static p2p_error err = P2P_ERROR_INIT;

struct capture {
    pthread_mutex_t mu;
    char text[1 << 16]; /* "level domain message\n" lines, truncated when full */
    size_t len;
    int lines;
    int nested_status; /* what p2p_log_set_callback returned from inside the callback */
    int try_nested;
    uint32_t min_level, domains; /* lowest level and union of domains received */
};

static void on_log(uint32_t level, uint32_t domain, const char *message, void *user_data)
{
    struct capture *c = user_data;
    pthread_mutex_lock(&c->mu);
    int nested = c->try_nested;
    c->try_nested = 0;
    if (c->len < sizeof c->text - 1) {
        int n = snprintf(c->text + c->len, sizeof c->text - c->len, "%u %u %s\n", level, domain, message);
        if (n > 0)
            c->len += (size_t)n < sizeof c->text - c->len ? (size_t)n : sizeof c->text - c->len - 1;
    }
    c->lines++;
    if (level < c->min_level)
        c->min_level = level;
    c->domains |= domain;
    pthread_mutex_unlock(&c->mu);
    if (nested) {
        p2p_error e = P2P_ERROR_INIT;
        int st = p2p_log_set_callback(P2P_LOG_DEBUG, P2P_LOG_DOMAIN_ALL, on_log, user_data, &e);
        p2p_error_dispose(&e);
        pthread_mutex_lock(&c->mu);
        c->nested_status = st;
        pthread_mutex_unlock(&c->mu);
    }
}

/* Returns the first captured line holding every fragment (static copy), or NULL. */
static const char *find_line(struct capture *c, const char *a, const char *b, const char *d)
{
    static char line[4096];
    const char *found = NULL;
    pthread_mutex_lock(&c->mu);
    const char *p = c->text;
    while (*p) {
        const char *end = strchr(p, '\n');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n < sizeof line) {
            memcpy(line, p, n);
            line[n] = 0;
            if (strstr(line, a) && (!b || strstr(line, b)) && (!d || strstr(line, d))) {
                found = line;
                break;
            }
        }
        p += n + (end ? 1 : 0);
    }
    pthread_mutex_unlock(&c->mu);
    return found;
}

/* Counts the captured lines holding `a`. */
static int count_lines(struct capture *c, const char *a)
{
    int n = 0;
    pthread_mutex_lock(&c->mu);
    for (const char *p = strstr(c->text, a); p; p = strstr(p + 1, a))
        n++;
    pthread_mutex_unlock(&c->mu);
    return n;
}

static void expect_line(struct capture *c, const char *a, const char *b, const char *d)
{
    for (int i = 0; i < 500 && !find_line(c, a, b, d); i++)
        sleep_ms(10);
    if (!find_line(c, a, b, d)) {
        fprintf(stderr, "no log line with \"%s\" \"%s\" \"%s\"; captured:\n%s\n", a, b ? b : "", d ? d : "", c->text);
        exit(1);
    }
}

static char *wait_stopped(p2p_replicator r)
{
    double deadline = now_seconds() + 60;
    for (;;) {
        char *json = NULL;
        EXPECT(P2P_OK, p2p_replicator_status(r, &json, &err));
        if (strstr(json, "\"activity\":\"stopped\""))
            return json;
        p2p_free(json);
        CHECK(now_seconds() < deadline);
        sleep_ms(20);
    }
}

static p2p_replicator run_once(p2p_db db, const char *url, const char *user, const char *password, int attempts)
{
    p2p_replicator_options o = P2P_REPLICATOR_OPTIONS_INIT;
    o.url = url;
    o.username = user;
    o.password = password;
    o.max_attempts = attempts;
    o.retry_base_ms = 10;
    o.max_attempt_wait_ms = 20;
    p2p_replicator r = 0;
    EXPECT(P2P_OK, p2p_replicator_create(db, &o, &r, &err));
    EXPECT(P2P_OK, p2p_replicator_start(r, 0, &err));
    p2p_free(wait_stopped(r));
    return r;
}

/* Runs a one-shot replication of `type` from db to url and returns its final status. */
static char *run_type(p2p_db db, const char *url, int type)
{
    p2p_replicator_options o = P2P_REPLICATOR_OPTIONS_INIT;
    o.url = url;
    o.type = type;
    o.max_attempts = 1;
    p2p_replicator r = 0;
    EXPECT(P2P_OK, p2p_replicator_create(db, &o, &r, &err));
    EXPECT(P2P_OK, p2p_replicator_start(r, 0, &err));
    char *st = wait_stopped(r);
    char *stats = NULL;
    EXPECT(P2P_OK, p2p_replicator_stats(r, &stats, &err));
    size_t n = strlen(st) + strlen(stats) + 2;
    char *both = malloc(n);
    CHECK(both != NULL);
    snprintf(both, n, "%s %s", st, stats);
    p2p_free(st);
    p2p_free(stats);
    EXPECT(P2P_OK, p2p_replicator_close(r, &err));
    return both;
}

static p2p_listener start_plain(p2p_db db, const p2p_listener_options *lo, char *url, size_t url_size)
{
    p2p_listener l = 0;
    EXPECT(P2P_OK, p2p_listener_create(db, lo, &l, &err));
    EXPECT(P2P_OK, p2p_listener_start(l, &err));
    uint16_t port = 0;
    EXPECT(P2P_OK, p2p_listener_port(l, &port, &err));
    snprintf(url, url_size, "ws://127.0.0.1:%u/a", (unsigned)port);
    return l;
}

static void checkpoint_limits(p2p_db a, p2p_collection ca, p2p_db b, struct capture *cap)
{
    p2p_listener_options lo = P2P_LISTENER_OPTIONS_INIT;
    CHECK(lo.max_checkpoint_size == 0 && lo.max_peer_checkpoints == 0);
    lo.network_interface = "127.0.0.1";
    lo.disable_tls = 1;
    lo.max_checkpoint_size = 8; /* every checkpoint is longer */
    char url[64];
    p2p_listener l = start_plain(a, &lo, url, sizeof url);
    EXPECT(P2P_OK, p2p_collection_save_document(ca, "cp-doc", "{\"n\":2}", NULL, P2P_CONCURRENCY_LAST_WRITE_WINS, NULL, &err));
    char *out = run_type(b, url, P2P_REPLICATOR_PULL);
    CHECK_CONTAINS(out, "\"error\":null");
    CHECK_CONTAINS(out, "\"revs_received\":1");
    free(out);
    expect_line(cap, "3 2 remote checkpoint refused by the peer", "collection=_default._default", "status=HTTP/413");
    EXPECT(P2P_OK, p2p_listener_close(l, &err));

    lo.max_checkpoint_size = 0;
    lo.max_peer_checkpoints = 1;
    l = start_plain(a, &lo, url, sizeof url);
    free(run_type(b, url, P2P_REPLICATOR_PULL)); /* may already evict the earlier runs' */
    int evictions = count_lines(cap, "2 4 peer checkpoint cap reached");
    out = run_type(b, url, P2P_REPLICATOR_PUSH);
    CHECK_CONTAINS(out, "\"error\":null");
    free(out);
    for (int i = 0; i < 500 && count_lines(cap, "2 4 peer checkpoint cap reached") == evictions; i++)
        sleep_ms(10);
    CHECK(count_lines(cap, "2 4 peer checkpoint cap reached") == evictions + 1);
    expect_line(cap, "2 4 peer checkpoint cap reached", "deleted=1", "cap=1");
    EXPECT(P2P_OK, p2p_listener_close(l, &err));
}

/* Runs this program again with P2PSYNC_LOG set; the child prints p2p_log_settings. */
static void check_env(const char *self, const char *value, const char *want)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "P2PSYNC_LOG='%s' '%s' --print-settings 2>&1", value, self);
    FILE *f = popen(cmd, "r");
    CHECK(f != NULL);
    char out[1024] = "";
    size_t n = fread(out, 1, sizeof out - 1, f);
    out[n] = 0;
    CHECK(pclose(f) == 0);
    if (!strstr(out, want)) {
        fprintf(stderr, "P2PSYNC_LOG=%s gave %s, expected %s\n", value, out, want);
        exit(1);
    }
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--print-settings") == 0) {
        char *json = NULL;
        EXPECT(P2P_OK, p2p_log_settings(&json, &err));
        printf("%s\n", json);
        p2p_free(json);
        return 0;
    }
    /* Bad arguments. */
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_log_set_callback(6, P2P_LOG_DOMAIN_ALL, on_log, NULL, &err));
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_log_set_callback(P2P_LOG_INFO, 64, on_log, NULL, &err));
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_log_set_console(9, P2P_LOG_DOMAIN_ALL, &err));
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_log_settings(NULL, &err));

    /* The environment variable, read when the library loads. */
    check_env(argv[0], "info", "\"console\":{\"level\":2,\"domains\":31}");
    check_env(argv[0], "debug,replicator,tls", "\"console\":{\"level\":0,\"domains\":18}");
    check_env(argv[0], "loud", "ignoring P2PSYNC_LOG=\"loud\"");
    check_env(argv[0], "loud", "\"console\":{\"level\":5,\"domains\":0}");

    static struct capture cap = {PTHREAD_MUTEX_INITIALIZER, "", 0, 0, 0, 0, 99, 0};
    EXPECT(P2P_OK, p2p_log_set_callback(P2P_LOG_INFO, P2P_LOG_DOMAIN_LISTENER | P2P_LOG_DOMAIN_REPLICATOR, on_log,
                                        &cap, &err));
    char *settings = NULL;
    EXPECT(P2P_OK, p2p_log_settings(&settings, &err));
    CHECK_CONTAINS(settings, "\"callback\":{\"level\":2,\"domains\":6}");
    p2p_free(settings);

    char *dir = make_temp_dir();
    char *pa = path_join(dir, "a"), *pb = path_join(dir, "b");
    p2p_db a = 0, b = 0;
    p2p_collection ca = 0;
    EXPECT(P2P_OK, p2p_db_open(pa, NULL, &a, &err));
    EXPECT(P2P_OK, p2p_db_open(pb, NULL, &b, &err));
    EXPECT(P2P_OK, p2p_db_default_collection(a, &ca, &err));
    EXPECT(P2P_OK, p2p_collection_save_document(ca, "doc1", "{\"n\":1}", NULL, P2P_CONCURRENCY_LAST_WRITE_WINS, NULL, &err));

    p2p_listener_options lo = P2P_LISTENER_OPTIONS_INIT;
    lo.network_interface = "127.0.0.1";
    lo.disable_tls = 1;
    lo.credentials_json = "{\"alice\":\"pw\"}";
    p2p_listener l = 0;
    EXPECT(P2P_OK, p2p_listener_create(a, &lo, &l, &err));
    EXPECT(P2P_OK, p2p_listener_start(l, &err));
    uint16_t port = 0;
    EXPECT(P2P_OK, p2p_listener_port(l, &port, &err));
    char url[64];
    snprintf(url, sizeof url, "ws://127.0.0.1:%u/a", (unsigned)port);

    /* A good replication: connection lines and state changes. */
    p2p_replicator r = run_once(b, url, "alice", "pw", 1);
    expect_line(&cap, "2 4 connection opened peer=127.0.0.1:", "user=alice", "subprotocol=BLIP_3+CBMobile_4"); /* the default */
    expect_line(&cap, "2 4 peer asked for collections", "collections=_default._default", NULL);
    expect_line(&cap, "2 4 connection closed", "user=alice", "docs_sent=1");
    expect_line(&cap, "2 2 replicator state changed from=stopped to=connecting", NULL, NULL);
    expect_line(&cap, "2 2 replicator state changed", "to=stopped", NULL);
    CHECK(cap.min_level == P2P_LOG_INFO); /* nothing below the level */
    CHECK(cap.domains == (P2P_LOG_DOMAIN_LISTENER | P2P_LOG_DOMAIN_REPLICATOR)); /* nor other domains */
    char *stats = NULL;
    EXPECT(P2P_OK, p2p_replicator_stats(r, &stats, &err));
    CHECK_CONTAINS(stats, "\"revs_received\":1");
    CHECK_CONTAINS(stats, "\"retries\":0");
    CHECK_CONTAINS(stats, "\"conflicts_resolved\":0");
    CHECK_CONTAINS(stats, "\"last_error\":null");
    CHECK_CONTAINS(stats, "\"delta_bytes_saved_received\":0");
    CHECK(strstr(stats, "\"wire_bytes_received\":0") == NULL);
    p2p_free(stats);
    EXPECT(P2P_OK, p2p_replicator_close(r, &err));

    char *st = NULL;
    EXPECT(P2P_OK, p2p_listener_status(l, &st, &err));
    CHECK_CONTAINS(st, "\"total_connection_count\":1");
    CHECK_CONTAINS(st, "\"connections\":[]");
    p2p_free(st);

    /* A peer-caused error: the wrong password, logged as a warning by the listener; the
     * replicator's stopping error is an error record. */
    r = run_once(b, url, "alice", "wrong", 1);
    expect_line(&cap, "3 4 connection refused: credentials not accepted", "username=alice", NULL);
    expect_line(&cap, "4 2 replication stopped by a permanent error", NULL, NULL);
    EXPECT(P2P_OK, p2p_replicator_stats(r, &stats, &err));
    CHECK_CONTAINS(stats, "\"last_error\":{\"status\":-10");
    p2p_free(stats);
    EXPECT(P2P_OK, p2p_replicator_close(r, &err));

    /* Retries with reason and delay, counted. */
    EXPECT(P2P_OK, p2p_listener_stop(l, &err));
    r = run_once(b, url, NULL, NULL, 3);
    expect_line(&cap, "3 2 replication offline; retrying", "attempt=2", "delay=20ms");
    expect_line(&cap, "3 2 replication offline; retrying", "attempt=3", "reason=");
    EXPECT(P2P_OK, p2p_replicator_stats(r, &stats, &err));
    CHECK_CONTAINS(stats, "\"retries\":2");
    p2p_free(stats);
    EXPECT(P2P_OK, p2p_replicator_close(r, &err));

    /* The peer checkpoint limits of p2p_listener_options take effect. A checkpoint over
     * max_checkpoint_size is refused (HTTP 413): the replication still completes and
     * receives the document, and the replicator warns that its progress was not
     * checkpointed. max_peer_checkpoints = 1: a second client ID (a push after a pull of
     * the same database: the client ID depends on the direction) deletes the first
     * one's checkpoint, which the listener reports. */
    checkpoint_limits(a, ca, b, &cap);

    /* Setting the callback from inside a callback is refused (it would wait for itself). */
    pthread_mutex_lock(&cap.mu);
    cap.try_nested = 1;
    int before = cap.lines;
    pthread_mutex_unlock(&cap.mu);
    EXPECT(P2P_OK, p2p_listener_start(l, &err)); /* logs "listener started" */
    for (int i = 0; i < 500 && cap.nested_status == 0; i++)
        sleep_ms(10);
    CHECK(cap.nested_status == P2P_ERR_BUSY);

    /* Removed: nothing more arrives. */
    EXPECT(P2P_OK, p2p_log_set_callback(P2P_LOG_NONE, 0, NULL, NULL, &err));
    pthread_mutex_lock(&cap.mu);
    before = cap.lines;
    pthread_mutex_unlock(&cap.mu);
    EXPECT(P2P_OK, p2p_listener_stop(l, &err));
    r = run_once(b, url, NULL, NULL, 1);
    EXPECT(P2P_OK, p2p_replicator_close(r, &err));
    CHECK(cap.lines == before);
    EXPECT(P2P_OK, p2p_log_settings(&settings, &err));
    CHECK_CONTAINS(settings, "\"callback\":{\"level\":5,\"domains\":0}");
    p2p_free(settings);

    EXPECT(P2P_OK, p2p_listener_close(l, &err));
    EXPECT(P2P_OK, p2p_collection_close(ca, &err));
    EXPECT(P2P_OK, p2p_db_close(a, &err));
    EXPECT(P2P_OK, p2p_db_close(b, &err));
    free(pa);
    free(pb);
    remove_tree(dir);
    return finish("test_log");
}
