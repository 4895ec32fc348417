/* sync_two_databases.c — two databases in one process, synced over TLS.
 *
 * Database "alpha" is served by a listener (TLS with its anonymous identity, password
 * authentication, a port the system picks); database "beta" runs a one-shot push-and-pull
 * replicator that pins alpha's certificate and logs in. Each side writes documents first;
 * afterwards both hold all of them.
 *
 * Build and run (from the repository root, after `make build`):
 *   cc -std=c99 examples/c/sync_two_databases.c -Iinclude -Lbuild/lib -lp2psync \
 *      -Wl,-rpath,$PWD/build/lib -o build/sync_two_databases && build/sync_two_databases
 * CMake builds it too (target sync_two_databases) and ctest runs it.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "p2psync.h"

#define DOCS_PER_SIDE 50

/* Prints the failure and leaves: every step below is checked with this. */
#define CHECK(call)                                                                    \
    do {                                                                               \
        int32_t rc_ = (call);                                                          \
        if (rc_ != P2P_OK) {                                                           \
            fprintf(stderr, "%s failed: %s: %s\n", #call, p2p_status_string(rc_),      \
                    err.message ? err.message : "");                                   \
            p2p_error_dispose(&err);                                                   \
            exit(1);                                                                   \
        }                                                                              \
    } while (0)

static p2p_error err = P2P_ERROR_INIT;

/* The string value of "key" in a flat JSON object (enough for status events). */
static void json_string(const char *json, const char *key, char *out, size_t size)
{
    char pattern[64];
    const char *p;
    size_t n = 0;
    snprintf(pattern, sizeof pattern, "\"%s\"", key);
    out[0] = '\0';
    p = strstr(json, pattern);
    if (p == NULL)
        return;
    p = strchr(p + strlen(pattern), '"');
    if (p == NULL)
        return;
    for (p++; *p && *p != '"' && n + 1 < size; p++)
        out[n++] = *p;
    out[n] = '\0';
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void write_documents(p2p_db db, p2p_collection coll, const char *prefix)
{
    p2p_batch batch = 0;
    char id[64], body[128];
    int i;
    CHECK(p2p_db_begin_batch(db, &batch, &err));
    for (i = 0; i < DOCS_PER_SIDE; i++) {
        snprintf(id, sizeof id, "%s-%03d", prefix, i);
        snprintf(body, sizeof body, "{\"from\":\"%s\",\"n\":%d}", prefix, i);
        CHECK(p2p_batch_save_document(batch, coll, id, body, NULL, P2P_CONCURRENCY_LAST_WRITE_WINS, NULL, &err));
    }
    CHECK(p2p_batch_commit(batch, &err));
}

int main(void)
{
    char dir_template[] = "/tmp/p2psync-example-XXXXXX";
    char alpha_path[256], beta_path[256], url[256], activity[32] = "";
    const char *dir = mkdtemp(dir_template);
    p2p_db alpha = 0, beta = 0;
    p2p_collection alpha_docs = 0, beta_docs = 0;
    p2p_listener listener = 0;
    p2p_tls_identity identity = 0;
    p2p_replicator repl = 0;
    p2p_subscription events = 0;
    char *fingerprint = NULL, *certificate = NULL, *name = NULL, *event = NULL;
    uint16_t port = 0;
    uint64_t alpha_count = 0, beta_count = 0;
    double started, deadline;

    if (dir == NULL) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(alpha_path, sizeof alpha_path, "%s/alpha", dir);
    snprintf(beta_path, sizeof beta_path, "%s/beta", dir);
    CHECK(p2p_db_open(alpha_path, NULL, &alpha, &err));
    CHECK(p2p_db_open(beta_path, NULL, &beta, &err));
    CHECK(p2p_db_default_collection(alpha, &alpha_docs, &err));
    CHECK(p2p_db_default_collection(beta, &beta_docs, &err));
    write_documents(alpha, alpha_docs, "alpha");
    write_documents(beta, beta_docs, "beta");

    /* The passive peer: TLS with the database's anonymous identity (the default), one
     * accepted user, loopback only, any free port. */
    {
        p2p_listener_options opts = P2P_LISTENER_OPTIONS_INIT;
        opts.network_interface = "127.0.0.1";
        opts.credentials_json = "{\"beta\":\"s3cret\"}";
        CHECK(p2p_listener_create(alpha, &opts, &listener, &err));
    }
    CHECK(p2p_listener_start(listener, &err));
    CHECK(p2p_listener_port(listener, &port, &err));
    CHECK(p2p_db_name(alpha, &name, &err));
    CHECK(p2p_listener_tls_identity(listener, &identity, &err));
    CHECK(p2p_tls_identity_fingerprint(identity, &fingerprint, &err));
    CHECK(p2p_tls_identity_chain_pem(identity, &certificate, &err));
    snprintf(url, sizeof url, "wss://127.0.0.1:%u/%s", (unsigned)port, name);
    printf("alpha listening on %s\ncertificate SHA-256 %s\n", url, fingerprint);

    /* The active peer: both directions, once; trusts exactly alpha's certificate (in two
     * processes it would be saved from a first connection; see the header). */
    {
        p2p_replicator_options opts = P2P_REPLICATOR_OPTIONS_INIT;
        opts.url = url;
        opts.type = P2P_REPLICATOR_PUSH_AND_PULL;
        opts.username = "beta";
        opts.password = "s3cret";
        opts.trust_mode = P2P_TRUST_PINNED;
        opts.pinned_certificate_pem = certificate;
        CHECK(p2p_replicator_create(beta, &opts, &repl, &err));
    }
    CHECK(p2p_replicator_add_event_queue(repl, 0, &events, &err));
    started = now_seconds();
    CHECK(p2p_replicator_start(repl, 0, &err));

    /* Status events arrive in order; a one-shot replicator ends "stopped". */
    deadline = started + 60;
    while (strcmp(activity, "stopped") != 0 && now_seconds() < deadline) {
        CHECK(p2p_subscription_next_event(events, 1000, &event, &err));
        if (event != NULL && strstr(event, "\"status\"") != NULL) {
            json_string(event, "activity", activity, sizeof activity);
            if (strstr(event, "\"error\":null") == NULL && strstr(event, "\"error\": null") == NULL &&
                strcmp(activity, "stopped") == 0) {
                fprintf(stderr, "replication failed: %s\n", event);
                return 1;
            }
        }
        p2p_free(event);
        event = NULL;
    }
    if (strcmp(activity, "stopped") != 0) {
        fprintf(stderr, "replication did not finish within 60 s\n");
        return 1;
    }
    CHECK(p2p_collection_count(alpha_docs, &alpha_count, &err));
    CHECK(p2p_collection_count(beta_docs, &beta_count, &err));
    printf("synced in %.2f s: alpha has %llu documents, beta has %llu\n", now_seconds() - started,
           (unsigned long long)alpha_count, (unsigned long long)beta_count);

    CHECK(p2p_subscription_remove(events, &err));
    CHECK(p2p_replicator_close(repl, &err));
    CHECK(p2p_listener_close(listener, &err));
    CHECK(p2p_tls_identity_close(identity, &err));
    CHECK(p2p_collection_close(alpha_docs, &err));
    CHECK(p2p_collection_close(beta_docs, &err));
    CHECK(p2p_db_close(alpha, &err));
    CHECK(p2p_db_close(beta, &err));
    CHECK(p2p_db_delete(alpha_path, &err));
    CHECK(p2p_db_delete(beta_path, &err));
    p2p_free(fingerprint);
    p2p_free(certificate);
    p2p_free(name);
    remove(dir);
    if (alpha_count != 2 * DOCS_PER_SIDE || beta_count != 2 * DOCS_PER_SIDE) {
        fprintf(stderr, "expected %d documents on each side\n", 2 * DOCS_PER_SIDE);
        return 1;
    }
    if (p2p_debug_live_handles() != 0) {
        fprintf(stderr, "%llu handles left open\n", (unsigned long long)p2p_debug_live_handles());
        return 1;
    }
    printf("example OK\n");
    return 0;
}
