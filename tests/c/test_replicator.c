/* Replicator against a listener in the same process: two databases, TLS with the
 * listener's anonymous identity, password authentication; push and pull reaching
 * "stopped" without error; wrong password (P2P_ERR_AUTH, no retry); untrusted and
 * mismatched certificates (TLS codes); status and document listeners; the pull-style
 * event queue; a conflict resolver choosing a merged body; filters; pending documents;
 * bad input; blobs both ways. */
#include "check.h"

#include <ctype.h>
#include <pthread.h>
#include <stddef.h>

#define CHECK_STATUS(st, fragment)                                              \
    do {                                                                         \
        if (!strstr((st), (fragment)))                                           \
            fprintf(stderr, "%s:%d: status %s lacks %s\n", __FILE__, __LINE__, (st), (fragment)); \
        CHECK(strstr((st), (fragment)) != NULL);                                 \
    } while (0)

static p2p_error err = P2P_ERROR_INIT;

/* ------------------------------------------------------------ helpers */

struct counter {
    pthread_mutex_t mu;
    int calls;
};

static void bump(struct counter *c)
{
    pthread_mutex_lock(&c->mu);
    c->calls++;
    pthread_mutex_unlock(&c->mu);
}

static int count_of(struct counter *c)
{
    pthread_mutex_lock(&c->mu);
    int n = c->calls;
    pthread_mutex_unlock(&c->mu);
    return n;
}

/* Accepts bob/cb (alice/pw is in the listener's static list); counts every call. */
static uint8_t password_auth(const char *user, const char *password, void *user_data)
{
    bump(user_data);
    return strcmp(user, "bob") == 0 && strcmp(password, "cb") == 0;
}

static char *status_of(p2p_replicator r)
{
    char *json = NULL;
    EXPECT(P2P_OK, p2p_replicator_status(r, &json, &err));
    return json;
}

/* Polls until the replicator is stopped; returns its final status JSON (p2p_free). */
static char *wait_stopped(p2p_replicator r)
{
    double deadline = now_seconds() + 60;
    for (;;) {
        char *json = status_of(r);
        if (strstr(json, "\"activity\":\"stopped\""))
            return json;
        p2p_free(json);
        CHECK(now_seconds() < deadline);
        sleep_ms(20);
    }
}

static void save(p2p_collection c, const char *id, const char *json)
{
    EXPECT(P2P_OK, p2p_collection_save_document(c, id, json, NULL, P2P_CONCURRENCY_LAST_WRITE_WINS, NULL, &err));
}

static char *body_of(p2p_collection c, const char *id)
{
    p2p_document doc = 0;
    char *json = NULL;
    EXPECT(P2P_OK, p2p_collection_get_document(c, id, 0, &doc, &err));
    EXPECT(P2P_OK, p2p_document_json(doc, &json, &err));
    EXPECT(P2P_OK, p2p_document_close(doc, &err));
    return json;
}

static char *version_of(p2p_collection c, const char *id)
{
    p2p_document doc = 0;
    char *v = NULL;
    EXPECT(P2P_OK, p2p_collection_get_document(c, id, 0, &doc, &err));
    EXPECT(P2P_OK, p2p_document_version(doc, &v, &err));
    EXPECT(P2P_OK, p2p_document_close(doc, &err));
    return v;
}

/* Both sides hold document id under the same, non-empty version: it travelled over
 * CBMobile_4 (over CBMobile_3 the receiving side would show no version). */
static void check_same_version(p2p_collection a, p2p_collection b, const char *id)
{
    char *va = version_of(a, id), *vb = version_of(b, id);
    CHECK(va != NULL && vb != NULL && va[0] != '\0' && strcmp(va, vb) == 0);
    p2p_free(va);
    p2p_free(vb);
}

static int has_doc(p2p_collection c, const char *id)
{
    p2p_document doc = 0;
    int32_t rc = p2p_collection_get_document(c, id, 0, &doc, NULL);
    p2p_document_close(doc, NULL);
    return rc == P2P_OK;
}

struct env {
    p2p_db a, b;              /* a is served by the listener, b replicates */
    p2p_collection ca, cb;    /* their default collections */
    p2p_listener listener;
    char url[128];
    char *server_pem;         /* the listener's certificate (PEM) */
    char *server_fp;          /* its SHA-256 fingerprint (64 lowercase hex digits) */
    struct counter auth_calls;
};

/* Runs a one-shot replicator to completion and returns its final status (p2p_free). */
static char *run_once(struct env *e, p2p_replicator_options *opts)
{
    p2p_replicator r = 0;
    EXPECT(P2P_OK, p2p_replicator_create(e->b, opts, &r, &err));
    EXPECT(P2P_OK, p2p_replicator_start(r, 0, &err));
    char *st = wait_stopped(r);
    EXPECT(P2P_OK, p2p_replicator_close(r, &err));
    return st;
}

static p2p_replicator_options base_options(struct env *e)
{
    p2p_replicator_options o = P2P_REPLICATOR_OPTIONS_INIT;
    o.url = e->url;
    o.username = "alice";
    o.password = "pw";
    o.trust_mode = P2P_TRUST_PINNED;
    o.pinned_certificate_pem = e->server_pem;
    o.max_attempts = 2;
    o.retry_base_ms = 50;
    return o;
}

/* ------------------------------------------------------------ tests */

/* Reads a whole blob through the public reader (verified at its end). */
static uint8_t *blob_bytes(p2p_db db, const char *blob, size_t *out_len)
{
    p2p_blob_reader r = 0;
    EXPECT(P2P_OK, p2p_blob_reader_open(db, blob, &r, &err));
    uint64_t length = 0;
    EXPECT(P2P_OK, p2p_blob_reader_length(r, &length, &err));
    uint8_t *out = malloc(length + 1);
    CHECK(out != NULL);
    size_t total = 0, n = 0;
    do {
        CHECK(total <= length);
        EXPECT(P2P_OK, p2p_blob_reader_read(r, out + total, length + 1 - total, &n, &err));
        total += n;
    } while (n > 0);
    EXPECT(P2P_OK, p2p_blob_reader_close(r, &err));
    *out_len = total;
    return out;
}

/* A blob made on each side (one streamed through a writer in several chunks, one from a
 * buffer with zero bytes in it) crosses the TLS listener with its document, both ways in
 * one push-and-pull; the received blobs read back byte for byte, under the same
 * dictionary; the document bodies are unchanged. */
static void test_blob_round_trip(struct env *e)
{
    enum { BIG = 300000 };
    uint8_t *big = malloc(BIG);
    CHECK(big != NULL);
    uint32_t x = 12345;
    for (size_t i = 0; i < BIG; i++) {
        x = x * 1103515245u + 12345u;
        big[i] = (uint8_t)(x >> 16);
    }
    p2p_blob_writer w = 0;
    EXPECT(P2P_OK, p2p_blob_writer_create(e->a, "application/octet-stream", &w, &err));
    for (size_t off = 0; off < BIG; off += 70000)
        EXPECT(P2P_OK, p2p_blob_writer_write(w, big + off, off + 70000 <= BIG ? 70000 : BIG - off, &err));
    char *blob_a = NULL;
    EXPECT(P2P_OK, p2p_blob_writer_finish(w, &blob_a, &err));
    EXPECT(P2P_OK, p2p_blob_writer_close(w, &err));
    static const uint8_t small[] = {0x89, 'P', 'N', 'G', 0, 0, 1, 2, 0, 3};
    char *blob_b = NULL;
    EXPECT(P2P_OK, p2p_blob_create(e->b, small, sizeof small, "image/png", &blob_b, &err));

    char json[512];
    snprintf(json, sizeof json, "{\"title\":\"from a\",\"att\":%s}", blob_a);
    save(e->ca, "blob-a", json);
    snprintf(json, sizeof json, "{\"pics\":[%s]}", blob_b);
    save(e->cb, "blob-b", json);
    uint8_t exists = 9;
    EXPECT(P2P_OK, p2p_blob_exists(e->b, blob_a, &exists, &err));
    CHECK(exists == 0);

    p2p_replicator_options o = base_options(e);
    char *st = run_once(e, &o);
    CHECK_STATUS(st, "\"error\":null");
    p2p_free(st);

    size_t n = 0;
    uint8_t *got = blob_bytes(e->b, blob_a, &n);
    CHECK(n == BIG && memcmp(got, big, BIG) == 0);
    free(got);
    got = blob_bytes(e->a, blob_b, &n);
    CHECK(n == sizeof small && memcmp(got, small, sizeof small) == 0);
    free(got);
    char *info = NULL;
    EXPECT(P2P_OK, p2p_blob_info(e->b, blob_a, &info, &err));
    CHECK(strstr(info, "\"length\":300000") != NULL);
    p2p_free(info);
    char *body = body_of(e->cb, "blob-a");
    snprintf(json, sizeof json, "{\"title\":\"from a\",\"att\":%s}", blob_a);
    CHECK(strcmp(body, json) == 0);
    p2p_free(body);
    body = body_of(e->ca, "blob-b");
    snprintf(json, sizeof json, "{\"pics\":[%s]}", blob_b);
    CHECK(strcmp(body, json) == 0);
    p2p_free(body);
    p2p_free(blob_a);
    p2p_free(blob_b);
    free(big);
}

/* First contact in self-signed-only mode (pin on first use), then pinned. */
static void test_push_pull(struct env *e)
{
    save(e->ca, "from-a", "{\"side\":\"a\"}");
    save(e->cb, "from-b", "{\"side\":\"b\"}");

    p2p_replicator_options o = P2P_REPLICATOR_OPTIONS_INIT;
    o.url = e->url;
    o.username = "alice";
    o.password = "pw";
    o.trust_mode = P2P_TRUST_SELF_SIGNED_ONLY;
    /* CBMobile_4 by default (disable_version_vectors 0): both sides hold one version */
    p2p_replicator r = 0;
    EXPECT(P2P_OK, p2p_replicator_create(e->b, &o, &r, &err));
    char *pem = NULL;
    EXPECT(P2P_OK, p2p_replicator_server_certificate(r, &pem, &err));
    CHECK(pem == NULL); /* no handshake yet */
    EXPECT(P2P_ERR_BUSY, p2p_db_close(e->b, &err));
    EXPECT(P2P_OK, p2p_replicator_start(r, 0, &err));
    EXPECT(P2P_ERR_BUSY, p2p_replicator_start(r, 0, &err));
    char *st = wait_stopped(r);
    CHECK_STATUS(st, "\"error\":null");
    p2p_free(st);
    CHECK(has_doc(e->ca, "from-b") && has_doc(e->cb, "from-a"));
    char *body = body_of(e->ca, "from-b");
    CHECK(strcmp(body, "{\"side\":\"b\"}") == 0);
    p2p_free(body);
    check_same_version(e->ca, e->cb, "from-a");
    check_same_version(e->ca, e->cb, "from-b");

    /* the certificate it saw is the listener's */
    EXPECT(P2P_OK, p2p_replicator_server_certificate(r, &pem, &err));
    CHECK(pem != NULL && strncmp(pem, e->server_pem, strlen(pem)) == 0);
    p2p_free(pem);
    EXPECT(P2P_OK, p2p_replicator_close(r, &err));

    /* pinned from now on: a second round carries new documents both ways */
    save(e->ca, "a2", "{\"n\":2}");
    save(e->cb, "b2", "{\"n\":2}");
    p2p_replicator_options pinned = base_options(e);
    st = run_once(e, &pinned);
    CHECK_STATUS(st, "\"error\":null");
    CHECK_STATUS(st, "\"completed\":");
    p2p_free(st);
    CHECK(has_doc(e->ca, "b2") && has_doc(e->cb, "a2"));
    check_same_version(e->ca, e->cb, "a2");

    /* disable_version_vectors: CBMobile_3 only, so a received revision has no version */
    save(e->cb, "b3", "{\"n\":3}");
    pinned.disable_version_vectors = 1;
    st = run_once(e, &pinned);
    CHECK_STATUS(st, "\"error\":null");
    p2p_free(st);
    char *v3 = version_of(e->ca, "b3");
    CHECK(v3 != NULL && v3[0] == '\0');
    p2p_free(v3);
    pinned.disable_version_vectors = 0;

    /* the password callback admits a user the static list does not know */
    pinned.username = "bob";
    pinned.password = "cb";
    pinned.type = P2P_REPLICATOR_PULL;
    int before = count_of(&e->auth_calls);
    st = run_once(e, &pinned);
    CHECK_STATUS(st, "\"error\":null");
    p2p_free(st);
    CHECK(count_of(&e->auth_calls) == before + 1);
}

/* Accepts any chain the roots let through (it arrives as PEM); counts every call. */
static uint8_t client_cert_auth(const char *chain_pem, void *user_data)
{
    bump(user_data);
    return strstr(chain_pem, "-----BEGIN CERTIFICATE-----") != NULL;
}

/* A listener serving a certificate issued by an application CA for 127.0.0.1. */
static void test_ca_modes(struct env *e)
{
    p2p_tls_identity_options co = P2P_TLS_IDENTITY_OPTIONS_INIT;
    co.is_ca = 1;
    co.common_name = "app CA";
    p2p_tls_identity ca = 0, stranger = 0, leaf = 0;
    EXPECT(P2P_OK, p2p_tls_identity_create(&co, &ca, &err));
    EXPECT(P2P_OK, p2p_tls_identity_create(&co, &stranger, &err));
    p2p_tls_identity_options lo = P2P_TLS_IDENTITY_OPTIONS_INIT;
    lo.issuer = ca;
    lo.subject_alt_names_json = "[\"127.0.0.1\"]";
    EXPECT(P2P_OK, p2p_tls_identity_create(&lo, &leaf, &err));
    char *ca_pem = NULL, *stranger_pem = NULL;
    EXPECT(P2P_OK, p2p_tls_identity_chain_pem(ca, &ca_pem, &err));
    EXPECT(P2P_OK, p2p_tls_identity_chain_pem(stranger, &stranger_pem, &err));

    p2p_listener_options lopts = P2P_LISTENER_OPTIONS_INIT;
    lopts.network_interface = "127.0.0.1";
    lopts.identity = leaf;
    p2p_listener l = 0;
    uint16_t port = 0;
    EXPECT(P2P_OK, p2p_listener_create(e->a, &lopts, &l, &err));
    EXPECT(P2P_OK, p2p_listener_start(l, &err));
    EXPECT(P2P_OK, p2p_listener_port(l, &port, &err));
    char url[128];
    snprintf(url, sizeof url, "wss://127.0.0.1:%u/a", (unsigned)port);

    p2p_replicator_options o = P2P_REPLICATOR_OPTIONS_INIT;
    o.url = url;
    o.type = P2P_REPLICATOR_PULL;
    o.max_attempts = 1;
    char *st = run_once(e, &o); /* system roots do not know the app CA */
    CHECK_STATUS(st, "\"status\":-265");
    p2p_free(st);
    o.trust_mode = P2P_TRUST_ROOTS;
    o.trusted_roots_pem = stranger_pem;
    st = run_once(e, &o);
    CHECK_STATUS(st, "\"status\":-265");
    p2p_free(st);
    o.trusted_roots_pem = ca_pem;
    st = run_once(e, &o);
    CHECK_STATUS(st, "\"error\":null");
    p2p_free(st);
    o.trust_mode = P2P_TRUST_SELF_SIGNED_ONLY; /* CA-issued: refused in this mode */
    o.trusted_roots_pem = NULL;
    st = run_once(e, &o);
    CHECK_STATUS(st, "\"status\":-265");
    p2p_free(st);

    EXPECT(P2P_OK, p2p_listener_close(l, &err));

    /* client certificates: issued by the CA and accepted by the callback */
    p2p_tls_identity_options cl = P2P_TLS_IDENTITY_OPTIONS_INIT;
    cl.issuer = ca;
    cl.usage = P2P_TLS_USAGE_CLIENT;
    cl.common_name = "good client";
    p2p_tls_identity client = 0, rogue = 0;
    EXPECT(P2P_OK, p2p_tls_identity_create(&cl, &client, &err));
    cl.issuer = stranger;
    EXPECT(P2P_OK, p2p_tls_identity_create(&cl, &rogue, &err));
    struct counter seen = {PTHREAD_MUTEX_INITIALIZER, 0};
    lopts.client_cert_roots_pem = ca_pem;
    lopts.client_cert_auth = client_cert_auth;
    lopts.client_cert_auth_user_data = &seen;
    EXPECT(P2P_OK, p2p_listener_create(e->a, &lopts, &l, &err));
    EXPECT(P2P_OK, p2p_listener_start(l, &err));
    EXPECT(P2P_OK, p2p_listener_port(l, &port, &err));
    snprintf(url, sizeof url, "wss://127.0.0.1:%u/a", (unsigned)port);
    o.trust_mode = P2P_TRUST_ROOTS;
    o.trusted_roots_pem = ca_pem;
    st = run_once(e, &o); /* no client certificate */
    CHECK_STATUS(st, "\"status\":-1289");
    p2p_free(st);
    o.client_identity = rogue;
    st = run_once(e, &o);
    CHECK_STATUS(st, "\"status\":-1289");
    p2p_free(st);
    CHECK(count_of(&seen) == 0); /* refused by the roots before the callback */
    o.client_identity = client;
    st = run_once(e, &o);
    CHECK_STATUS(st, "\"error\":null");
    p2p_free(st);
    CHECK(count_of(&seen) == 1);
    EXPECT(P2P_OK, p2p_listener_close(l, &err));
    EXPECT(P2P_OK, p2p_tls_identity_close(client, &err));
    EXPECT(P2P_OK, p2p_tls_identity_close(rogue, &err));

    p2p_free(ca_pem);
    p2p_free(stranger_pem);
    EXPECT(P2P_OK, p2p_tls_identity_close(ca, &err));
    EXPECT(P2P_OK, p2p_tls_identity_close(stranger, &err));
    EXPECT(P2P_OK, p2p_tls_identity_close(leaf, &err));
}

static void test_refusals(struct env *e)
{
    /* wrong password: AUTH with the HTTP status as cause, and no retry */
    p2p_replicator_options o = base_options(e);
    o.password = "wrong";
    o.max_attempts = 5;
    int before = count_of(&e->auth_calls);
    char *st = run_once(e, &o);
    CHECK_STATUS(st, "\"status\":-10");
    CHECK_STATUS(st, "\"domain\":4");
    CHECK_STATUS(st, "\"code\":401");
    p2p_free(st);
    CHECK(count_of(&e->auth_calls) == before + 1);

    /* no credentials at all */
    o = base_options(e);
    o.username = NULL;
    st = run_once(e, &o);
    CHECK_STATUS(st, "\"status\":-10");
    p2p_free(st);

    /* in the CA modes the host name is checked: the anonymous certificate names no IP */
    o = base_options(e);
    o.trust_mode = P2P_TRUST_SYSTEM_ROOTS;
    o.pinned_certificate_pem = NULL;
    st = run_once(e, &o);
    CHECK_STATUS(st, "\"status\":-521");
    p2p_free(st);

    /* pinned to another certificate */
    p2p_tls_identity other = 0;
    char *other_pem = NULL;
    EXPECT(P2P_OK, p2p_tls_identity_create(NULL, &other, &err));
    EXPECT(P2P_OK, p2p_tls_identity_chain_pem(other, &other_pem, &err));
    o = base_options(e);
    o.pinned_certificate_pem = other_pem;
    p2p_replicator r = 0;
    EXPECT(P2P_OK, p2p_replicator_create(e->b, &o, &r, &err));
    EXPECT(P2P_OK, p2p_replicator_start(r, 0, &err));
    st = wait_stopped(r);
    CHECK_STATUS(st, "\"status\":-1033");
    p2p_free(st);
    /* the refused certificate is still shown, for the user to decide */
    char *seen = NULL;
    EXPECT(P2P_OK, p2p_replicator_server_certificate(r, &seen, &err));
    CHECK(seen != NULL && strncmp(seen, e->server_pem, strlen(seen)) == 0);
    p2p_free(seen);
    EXPECT(P2P_OK, p2p_replicator_close(r, &err));

    p2p_free(other_pem);
    EXPECT(P2P_OK, p2p_tls_identity_close(other, &err));
    test_ca_modes(e);

    /* nobody listening: a network error after the allowed attempts */
    o = base_options(e);
    o.url = "wss://127.0.0.1:1/a";
    o.max_attempts = 1;
    st = run_once(e, &o);
    CHECK_STATUS(st, "\"status\":-8");
    p2p_free(st);
}

struct recorder {
    pthread_mutex_t mu;
    int statuses, documents, stopped;
    char docs[8192];
};

static void on_status(p2p_subscription token, const char *json, void *user_data)
{
    struct recorder *r = user_data;
    (void)token;
    pthread_mutex_lock(&r->mu);
    CHECK(strstr(json, "\"event\":\"status\"") != NULL);
    r->statuses++;
    if (strstr(json, "\"activity\":\"stopped\""))
        r->stopped++;
    pthread_mutex_unlock(&r->mu);
}

static void on_documents(p2p_subscription token, const char *json, void *user_data)
{
    struct recorder *r = user_data;
    (void)token;
    pthread_mutex_lock(&r->mu);
    CHECK(strstr(json, "\"event\":\"document\"") != NULL);
    r->documents++;
    size_t used = strlen(r->docs);
    snprintf(r->docs + used, sizeof r->docs - used, "%s", json);
    pthread_mutex_unlock(&r->mu);
}

static void test_listeners_and_queue(struct env *e)
{
    save(e->cb, "evt-push", "{\"e\":1}");
    save(e->ca, "evt-pull", "{\"e\":2}");
    p2p_replicator_options o = base_options(e);
    p2p_replicator r = 0;
    EXPECT(P2P_OK, p2p_replicator_create(e->b, &o, &r, &err));
    struct recorder rec = {PTHREAD_MUTEX_INITIALIZER, 0, 0, 0, ""};
    p2p_subscription ts = 0, td = 0, q = 0;
    EXPECT(P2P_OK, p2p_replicator_add_status_listener(r, on_status, &rec, &ts, &err));
    EXPECT(P2P_OK, p2p_replicator_add_document_listener(r, on_documents, &rec, &td, &err));
    EXPECT(P2P_OK, p2p_replicator_add_event_queue(r, 0, &q, &err));
    EXPECT(P2P_ERR_BUSY, p2p_replicator_close(r, &err)); /* subscriptions keep it open */

    /* pending documents before the push */
    char *ids = NULL;
    uint8_t pending = 0;
    EXPECT(P2P_OK, p2p_replicator_pending_document_ids(r, e->cb, &ids, &err));
    CHECK_CONTAINS(ids, "\"evt-push\"");
    p2p_free(ids);
    EXPECT(P2P_OK, p2p_replicator_is_document_pending(r, e->cb, "evt-push", &pending, &err));
    CHECK(pending == 1);

    EXPECT(P2P_OK, p2p_replicator_start(r, 0, &err));
    char *st = wait_stopped(r);
    CHECK_STATUS(st, "\"error\":null");
    p2p_free(st);
    EXPECT(P2P_OK, p2p_replicator_stop(r, &err)); /* every listener call has been made */

    pthread_mutex_lock(&rec.mu);
    CHECK(rec.statuses >= 2 && rec.stopped >= 1 && rec.documents >= 2);
    CHECK_CONTAINS(rec.docs, "\"direction\":\"push\"");
    CHECK_CONTAINS(rec.docs, "\"direction\":\"pull\"");
    CHECK_CONTAINS(rec.docs, "\"id\":\"evt-push\"");
    CHECK_CONTAINS(rec.docs, "\"id\":\"evt-pull\"");
    CHECK_CONTAINS(rec.docs, "\"collection\":\"_default._default\"");
    CHECK_CONTAINS(rec.docs, "\"access_removed\":false");
    pthread_mutex_unlock(&rec.mu);
    EXPECT(P2P_OK, p2p_replicator_is_document_pending(r, e->cb, "evt-push", &pending, &err));
    CHECK(pending == 0);

    /* the queue saw the same story, in order, ending with "stopped" */
    int statuses = 0, documents = 0, last_stopped = 0;
    char *json = NULL;
    for (;;) {
        EXPECT(P2P_OK, p2p_subscription_next_event(q, 100, &json, &err));
        if (json == NULL)
            break;
        if (strstr(json, "\"event\":\"status\"")) {
            statuses++;
            last_stopped = strstr(json, "\"activity\":\"stopped\"") != NULL;
        } else {
            CHECK_CONTAINS(json, "\"event\":\"document\"");
            documents++;
            last_stopped = 0;
        }
        p2p_free(json);
    }
    CHECK(statuses >= 2 && documents >= 2 && last_stopped);

    EXPECT(P2P_OK, p2p_subscription_remove(ts, &err));
    EXPECT(P2P_OK, p2p_subscription_remove(td, &err));
    EXPECT(P2P_OK, p2p_subscription_remove(q, &err));
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_replicator_pending_document_ids(r, e->ca, &ids, &err)); /* other db */
    EXPECT(P2P_OK, p2p_replicator_close(r, &err));
}

/* An event queue of capacity 1 overflows, and says so. */
static void test_queue_overflow(struct env *e)
{
    for (int i = 0; i < 30; i++) {
        char id[16];
        snprintf(id, sizeof id, "ovf-%d", i);
        save(e->cb, id, "{}");
    }
    p2p_replicator_options o = base_options(e);
    o.type = P2P_REPLICATOR_PUSH;
    p2p_replicator r = 0;
    p2p_subscription q = 0;
    EXPECT(P2P_OK, p2p_replicator_create(e->b, &o, &r, &err));
    EXPECT(P2P_OK, p2p_replicator_add_event_queue(r, 1, &q, &err));
    EXPECT(P2P_OK, p2p_replicator_start(r, 0, &err));
    char *st = wait_stopped(r);
    p2p_free(st);
    EXPECT(P2P_OK, p2p_replicator_stop(r, &err));
    char *first = NULL, *second = NULL, *third = NULL;
    EXPECT(P2P_OK, p2p_subscription_next_event(q, 1000, &first, &err));
    EXPECT(P2P_OK, p2p_subscription_next_event(q, 1000, &second, &err));
    EXPECT(P2P_OK, p2p_subscription_next_event(q, 50, &third, &err));
    CHECK_CONTAINS(first, "\"event\":\"status\"");
    CHECK_CONTAINS(second, "\"event\":\"overflow\"");
    CHECK_CONTAINS(second, "\"dropped\":");
    CHECK(third == NULL);
    p2p_free(first);
    p2p_free(second);
    EXPECT(P2P_OK, p2p_subscription_remove(q, &err));
    EXPECT(P2P_OK, p2p_replicator_close(r, &err));
}

struct resolver_log {
    pthread_mutex_t mu;
    int calls, saw_both;
};

static uint8_t merge(const char *collection, const char *doc_id, const char *local_json,
                     const char *remote_json, char **out_merged_json, void *user_data)
{
    struct resolver_log *log = user_data;
    (void)collection;
    pthread_mutex_lock(&log->mu);
    log->calls++;
    log->saw_both += local_json != NULL && remote_json != NULL && strstr(local_json, "\"local\"") &&
                     strstr(remote_json, "\"remote\"") && strcmp(doc_id, "clash") == 0;
    pthread_mutex_unlock(&log->mu);
    *out_merged_json = p2p_strdup("{\"merged\":true}");
    return P2P_RESOLVE_MERGED;
}

/* Skips documents whose ID starts with "secret". */
static uint8_t no_secrets(const char *collection, const char *doc_id, const char *rev_id, uint8_t deleted,
                          const char *body_json, void *user_data)
{
    (void)collection, (void)rev_id, (void)deleted, (void)body_json;
    bump(user_data);
    return strncmp(doc_id, "secret", 6) != 0;
}

static void test_resolver_and_filters(struct env *e)
{
    save(e->ca, "clash", "{\"v\":\"remote\"}");
    save(e->cb, "clash", "{\"v\":\"local\"}");
    save(e->ca, "secret-1", "{}");
    save(e->ca, "public-1", "{}");

    struct resolver_log log = {PTHREAD_MUTEX_INITIALIZER, 0, 0};
    struct counter filtered = {PTHREAD_MUTEX_INITIALIZER, 0};
    p2p_replication_collection coll;
    EXPECT(P2P_OK, p2p_replication_collection_init(&coll, sizeof coll, &err));
    CHECK(coll.struct_size == sizeof coll);
    coll.collection = e->cb;
    coll.conflict_resolver = merge;
    coll.conflict_resolver_user_data = &log;
    coll.pull_filter = no_secrets;
    coll.pull_filter_user_data = &filtered;
    p2p_replicator_options o = base_options(e);
    o.type = P2P_REPLICATOR_PULL;
    o.collections = &coll;
    o.collection_count = 1;
    char *st = run_once(e, &o);
    CHECK_STATUS(st, "\"error\":null");
    p2p_free(st);

    CHECK(log.calls >= 1 && log.saw_both >= 1);
    char *body = body_of(e->cb, "clash");
    CHECK(strcmp(body, "{\"merged\":true}") == 0);
    p2p_free(body);
    CHECK(has_doc(e->cb, "public-1") && !has_doc(e->cb, "secret-1"));
    CHECK(count_of(&filtered) >= 2);

    /* doc_ids restricts a push to the listed documents */
    save(e->cb, "only-this", "{}");
    save(e->cb, "not-this", "{}");
    p2p_replication_collection some = P2P_REPLICATION_COLLECTION_INIT;
    some.collection = e->cb;
    some.doc_ids_json = "[\"only-this\"]";
    o = base_options(e);
    o.type = P2P_REPLICATOR_PUSH;
    o.collections = &some;
    o.collection_count = 1;
    st = run_once(e, &o);
    CHECK_STATUS(st, "\"error\":null");
    p2p_free(st);
    CHECK(has_doc(e->ca, "only-this") && !has_doc(e->ca, "not-this"));
}

static void test_bad_input(struct env *e)
{
    p2p_replicator r = 0;
    p2p_replicator_options o;
    memset(&o, 0x77, sizeof o);
    EXPECT(P2P_OK, p2p_replicator_options_init(&o, sizeof o, &err));
    CHECK(o.struct_size == sizeof o && o.url == NULL && o.collections == NULL && o.trust_mode == 0);
    CHECK(o.type == 0 && o.continuous == 0 && o.max_message_size == 0 && o.reserved1[1] == 0 && o.disable_version_vectors == 0);
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_replicator_create(e->b, &o, &r, &err)); /* no URL */
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_replicator_create(e->b, NULL, &r, &err));
    o.url = "not a url";
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_replicator_create(e->b, &o, &r, &err));
    o.url = "http://127.0.0.1:1/a";
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_replicator_create(e->b, &o, &r, &err));
    o.url = "ws://127.0.0.1:1/a";
    o.trust_mode = P2P_TRUST_PINNED; /* TLS settings on a ws:// URL */
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_replicator_create(e->b, &o, &r, &err));
    o = base_options(e);
    o.pinned_certificate_pem = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_replicator_create(e->b, &o, &r, &err));
    o.pinned_certificate_pem = "garbage";
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_replicator_create(e->b, &o, &r, &err));
    o = base_options(e);
    o.trusted_roots_pem = e->server_pem; /* roots in pinned mode */
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_replicator_create(e->b, &o, &r, &err));
    o = base_options(e);
    o.pinned_certificate_pem = NULL; /* pinned mode without a pin */
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_replicator_create(e->b, &o, &r, &err));
    o = base_options(e);
    o.type = 7;
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_replicator_create(e->b, &o, &r, &err));
    o = base_options(e);
    o.headers_json = "{\"X-A\":1}";
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_replicator_create(e->b, &o, &r, &err));
    o = base_options(e);
    o.client_identity = 0x0800000000000999ULL;
    EXPECT(P2P_ERR_INVALID_HANDLE, p2p_replicator_create(e->b, &o, &r, &err));
    p2p_replication_collection c = P2P_REPLICATION_COLLECTION_INIT;
    c.collection = e->ca; /* of the other database */
    o = base_options(e);
    o.collections = &c;
    o.collection_count = 1;
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_replicator_create(e->b, &o, &r, &err));
    c.collection = e->cb;
    c.doc_ids_json = "not json";
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_replicator_create(e->b, &o, &r, &err));
    c.doc_ids_json = "[\"ok\", \"\"]"; /* an empty ID can match no document */
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_replicator_create(e->b, &o, &r, &err));
    c.doc_ids_json = NULL;
    c.struct_size = 2;
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_replicator_create(e->b, &o, &r, &err));
    o.collections = NULL;
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_replicator_create(e->b, &o, &r, &err));
    o = base_options(e);
    o.struct_size = 4; /* below P2P_OPTIONS_MIN_SIZE */
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_replicator_create(e->b, &o, &r, &err));
    o = base_options(e);
    o.reserved1[0] = 1; /* reserved bytes must be zero */
    EXPECT(P2P_ERR_UNSUPPORTED, p2p_replicator_create(e->b, &o, &r, &err));
    c.struct_size = sizeof c;
    c.reserved1 = 1;
    o = base_options(e);
    o.collections = &c;
    o.collection_count = 1;
    EXPECT(P2P_ERR_UNSUPPORTED, p2p_replicator_create(e->b, &o, &r, &err));
    o = base_options(e);
    EXPECT(P2P_ERR_INVALID_HANDLE, p2p_replicator_create(e->cb, &o, &r, &err));
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_replicator_create(e->b, &o, NULL, &err));

    /* closed and wrong-kind handles */
    EXPECT(P2P_OK, p2p_replicator_create(e->b, &o, &r, &err));
    char *json = NULL;
    p2p_subscription t = 0;
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_replicator_status(r, NULL, &err));
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_replicator_add_status_listener(r, NULL, NULL, &t, &err));
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_replicator_is_document_pending(r, e->cb, NULL, NULL, &err));
    {
        char long_id[300];
        uint8_t pending = 7;
        memset(long_id, 'x', sizeof long_id - 1);
        long_id[sizeof long_id - 1] = '\0';
        EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_replicator_is_document_pending(r, e->cb, long_id, &pending, &err));
        EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_replicator_is_document_pending(r, e->cb, "", &pending, &err));
        CHECK(pending == 7);
    }
    EXPECT(P2P_OK, p2p_replicator_close(r, &err));
    EXPECT(P2P_OK, p2p_replicator_close(r, &err));
    EXPECT(P2P_ERR_INVALID_HANDLE, p2p_replicator_start(r, 0, &err));
    EXPECT(P2P_ERR_INVALID_HANDLE, p2p_replicator_status(r, &json, &err));
    EXPECT(P2P_ERR_INVALID_HANDLE, p2p_replicator_add_event_queue(r, 0, &t, &err));
    EXPECT(P2P_ERR_INVALID_HANDLE, p2p_replicator_status(e->listener, &json, &err));
    EXPECT(P2P_ERR_INVALID_HANDLE, p2p_replicator_close(e->listener, &err));
    EXPECT(P2P_OK, p2p_replicator_close(0, &err));
}

/* "ab01..." -> "AB:01:..." (how users read a fingerprint); out holds 96 bytes. */
static void colon_form(const char *hex, char *out)
{
    for (size_t i = 0; i < 32; i++) {
        out[3 * i] = (char)toupper((unsigned char)hex[2 * i]);
        out[3 * i + 1] = (char)toupper((unsigned char)hex[2 * i + 1]);
        out[3 * i + 2] = i == 31 ? '\0' : ':';
    }
}

/* P2P_TRUST_PINNED with pinned_fingerprint: the fingerprint users exchange pins the
 * listener's certificate with no certificate file and no first connection. */
static void test_pinned_fingerprint(struct env *e)
{
    char colons[96];
    colon_form(e->server_fp, colons);
    const char *forms[] = {e->server_fp, colons};
    for (size_t i = 0; i < 2; i++) {
        save(e->ca, i == 0 ? "fp-1" : "fp-2", "{\"pinned\":\"fingerprint\"}");
        p2p_replicator_options o = base_options(e);
        o.pinned_certificate_pem = NULL;
        o.pinned_fingerprint = forms[i];
        o.type = P2P_REPLICATOR_PULL;
        char *st = run_once(e, &o);
        CHECK_STATUS(st, "\"error\":null");
        p2p_free(st);
        CHECK(has_doc(e->cb, i == 0 ? "fp-1" : "fp-2"));
    }

    /* another certificate's fingerprint: pin mismatch, naming the presented fingerprint */
    char wrong[65];
    memcpy(wrong, e->server_fp, sizeof wrong);
    wrong[63] = wrong[63] == '0' ? '1' : '0';
    p2p_replicator_options o = base_options(e);
    o.pinned_certificate_pem = NULL;
    o.pinned_fingerprint = wrong;
    o.max_attempts = 5;
    int before = count_of(&e->auth_calls);
    char *st = run_once(e, &o);
    CHECK_STATUS(st, "\"status\":-1033");
    /* one fingerprint form everywhere: both named as p2p_tls_identity_fingerprint gives them */
    char named[200];
    snprintf(named, sizeof named, "expected %s, the server presented %s", wrong, e->server_fp);
    CHECK_STATUS(st, named);
    p2p_free(st);
    CHECK(count_of(&e->auth_calls) == before); /* refused in the handshake: no credentials sent */

    /* configuration errors */
    p2p_replicator r = 0;
    o = base_options(e);
    o.pinned_fingerprint = e->server_fp; /* both a certificate and a fingerprint */
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_replicator_create(e->b, &o, &r, &err));
    o.pinned_certificate_pem = NULL;
    o.pinned_fingerprint = "AB:CD"; /* colons, but not 32 pairs */
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_replicator_create(e->b, &o, &r, &err));
    o.pinned_fingerprint = "ab01cd"; /* too short: the message says what is expected */
    CHECK(p2p_replicator_create(e->b, &o, &r, &err) == P2P_ERR_INVALID_ARGUMENT);
    CHECK_CONTAINS(err.message, "64 hex digits");
    p2p_error_dispose(&err);
    o.pinned_fingerprint = e->server_fp;
    o.trust_mode = P2P_TRUST_SELF_SIGNED_ONLY; /* a fingerprint outside pinned mode */
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_replicator_create(e->b, &o, &r, &err));
    o = base_options(e);
    o.url = "ws://127.0.0.1:1/a";
    o.trust_mode = P2P_TRUST_SYSTEM_ROOTS;
    o.pinned_certificate_pem = NULL;
    o.pinned_fingerprint = e->server_fp; /* TLS settings on a ws:// URL */
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_replicator_create(e->b, &o, &r, &err));

    /* a newer caller's larger struct: a zero tail is accepted, a set unknown field refused */
    struct {
        p2p_replicator_options known;
        uint64_t newer;
    } big;
    memset(&big, 0, sizeof big);
    big.known = base_options(e);
    big.known.struct_size = sizeof big;
    big.known.type = P2P_REPLICATOR_PULL;
    st = run_once(e, &big.known);
    CHECK_STATUS(st, "\"error\":null");
    p2p_free(st);
    big.newer = 1;
    EXPECT(P2P_ERR_UNSUPPORTED, p2p_replicator_create(e->b, &big.known, &r, &err));
    o = base_options(e);
    o.struct_size = (uint32_t)offsetof(p2p_replicator_options, url) + 4; /* cuts a field */
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_replicator_create(e->b, &o, &r, &err));
}

/* The number after "key": in a stats object (-1 when missing). */
static long long stat_of(const char *json, const char *key)
{
    char pattern[64];
    snprintf(pattern, sizeof pattern, "\"%s\":", key);
    const char *p = strstr(json, pattern);
    return p ? strtoll(p + strlen(pattern), NULL, 10) : -1;
}

/* Runs a push with the given delta setting; returns its stats JSON (p2p_free). */
static char *push_stats(struct env *e, uint8_t deltas)
{
    p2p_replicator_options o = base_options(e);
    o.type = P2P_REPLICATOR_PUSH;
    o.enable_delta_sync = deltas;
    p2p_replicator r = 0;
    EXPECT(P2P_OK, p2p_replicator_create(e->b, &o, &r, &err));
    EXPECT(P2P_OK, p2p_replicator_start(r, 0, &err));
    char *st = wait_stopped(r);
    CHECK(strstr(st, "\"error\":null") != NULL);
    p2p_free(st);
    char *json = NULL;
    EXPECT(P2P_OK, p2p_replicator_stats(r, &json, &err));
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_replicator_stats(r, NULL, &err));
    EXPECT(P2P_OK, p2p_replicator_close(r, &err));
    EXPECT(P2P_ERR_INVALID_HANDLE, p2p_replicator_stats(r, &json, &err));
    return json;
}

/* Delta sync (the listener enables it): an edit of a large document goes as a delta when
 * the replicator enables it too, whole otherwise; p2p_replicator_stats shows which. */
static void test_delta_stats(struct env *e)
{
    char body[2048], pad[1501];
    memset(pad, 'x', sizeof pad - 1);
    pad[sizeof pad - 1] = 0;
    snprintf(body, sizeof body, "{\"kind\":\"bench\",\"pad\":\"%s\"}", pad);
    save(e->cb, "delta-doc", body);
    char *json = push_stats(e, 1);
    CHECK(stat_of(json, "revs_sent") >= 1);
    CHECK(stat_of(json, "deltas_sent") == 0); /* a new document has no base */
    p2p_free(json);

    for (int round = 0; round < 2; round++) {
        snprintf(body, sizeof body, "{\"kind\":\"edit%d\",\"pad\":\"%s\"}", round + 1, pad);
        save(e->cb, "delta-doc", body);
        json = push_stats(e, round == 0);
        CHECK(stat_of(json, "revs_sent") == 1);
        long long sent = stat_of(json, "bytes_sent"), full = stat_of(json, "full_bytes_sent");
        CHECK(full >= 1500);
        if (round == 0) {
            CHECK(stat_of(json, "deltas_sent") == 1);
            CHECK(sent > 0 && sent < 100);
        } else {
            CHECK(stat_of(json, "deltas_sent") == 0);
            CHECK(sent == full);
        }
        CHECK(stat_of(json, "revs_received") == 0);
        CHECK(stat_of(json, "delta_fallbacks") == 0);
        p2p_free(json);
        char *got = body_of(e->ca, "delta-doc");
        CHECK(strcmp(got, body) == 0);
        p2p_free(got);
    }
}

/* ------------------------------------------------------------ stop means stopped */

/* Counts, slowly, the documents whose IDs start with `prefix` in document events and in
 * change events of the replicating database; any call made after `finished` was set is
 * counted as late. */
struct slow_counter {
    pthread_mutex_t mu;
    const char *prefix; /* "\"id\":\"<prefix>": the same in document and change events */
    int documents, changes, statuses, last_stopped, late, finished;
};

static void sleep_us(long us)
{
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000L};
    nanosleep(&ts, NULL);
}

static int occurrences(const char *text, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(text, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

static void slow_documents(p2p_subscription token, const char *json, void *user_data)
{
    struct slow_counter *c = user_data;
    (void)token;
    int n = strstr(json, "\"error\":{") ? 0 : occurrences(json, c->prefix);
    pthread_mutex_lock(&c->mu);
    c->late += c->finished;
    pthread_mutex_unlock(&c->mu);
    sleep_us(200L * n); /* a slow listener: 0.2 ms a document */
    pthread_mutex_lock(&c->mu);
    c->documents += n;
    pthread_mutex_unlock(&c->mu);
}

static void slow_status(p2p_subscription token, const char *json, void *user_data)
{
    struct slow_counter *c = user_data;
    (void)token;
    sleep_us(200);
    pthread_mutex_lock(&c->mu);
    c->late += c->finished;
    c->statuses++;
    c->last_stopped = strstr(json, "\"activity\":\"stopped\"") != NULL;
    pthread_mutex_unlock(&c->mu);
}

static void slow_changes(p2p_subscription token, const char *json, void *user_data)
{
    struct slow_counter *c = user_data;
    (void)token;
    int n = occurrences(json, c->prefix);
    pthread_mutex_lock(&c->mu);
    c->late += c->finished;
    pthread_mutex_unlock(&c->mu);
    sleep_us(200L * n);
    pthread_mutex_lock(&c->mu);
    c->changes += n;
    pthread_mutex_unlock(&c->mu);
}

/* Saves `n` documents prefix000.. in one batch. */
static void save_many(p2p_db db, p2p_collection c, const char *prefix, int n)
{
    p2p_batch b = 0;
    EXPECT(P2P_OK, p2p_db_begin_batch(db, &b, &err));
    for (int i = 0; i < n; i++) {
        char id[32], json[64];
        snprintf(id, sizeof id, "%s%03d", prefix, i);
        snprintf(json, sizeof json, "{\"n\":%d}", i);
        EXPECT(P2P_OK, p2p_batch_save_document(b, c, id, json, NULL, P2P_CONCURRENCY_LAST_WRITE_WINS, NULL, &err));
    }
    EXPECT(P2P_OK, p2p_batch_commit(b, &err));
}

static int docs_with_prefix(p2p_collection c, const char *prefix, int n)
{
    int found = 0;
    for (int i = 0; i < n; i++) {
        char id[32];
        snprintf(id, sizeof id, "%s%03d", prefix, i);
        found += has_doc(c, id);
    }
    return found;
}

/* When p2p_replicator_stop returns (and when a one-shot replicator's status reads
 * "stopped"), every document, status and change callback for what was replicated has
 * run, and none runs afterwards. Run last: it adds many documents to the served database. */
static void test_stop_means_stopped(struct env *e)
{
    enum { DOCS = 300 };
    for (int iter = 0; iter < 4; iter++) {
        int continuous = iter % 2; /* one-shot: poll the status, then stop; continuous: stop midway */
        char prefix[16], needle[32];
        snprintf(prefix, sizeof prefix, "stop%d-", iter);
        snprintf(needle, sizeof needle, "\"id\":\"%s", prefix);
        save_many(e->a, e->ca, prefix, DOCS);

        p2p_replicator_options o = base_options(e);
        o.type = P2P_REPLICATOR_PULL;
        o.continuous = (uint8_t)continuous;
        p2p_replicator r = 0;
        EXPECT(P2P_OK, p2p_replicator_create(e->b, &o, &r, &err));
        struct slow_counter c;
        memset(&c, 0, sizeof c);
        pthread_mutex_init(&c.mu, NULL);
        c.prefix = needle;
        p2p_subscription td = 0, ts = 0, tc = 0;
        EXPECT(P2P_OK, p2p_replicator_add_document_listener(r, slow_documents, &c, &td, &err));
        EXPECT(P2P_OK, p2p_replicator_add_status_listener(r, slow_status, &c, &ts, &err));
        EXPECT(P2P_OK, p2p_collection_add_change_listener(e->cb, slow_changes, &c, &tc, &err));
        EXPECT(P2P_OK, p2p_replicator_start(r, 0, &err));
        if (continuous) {
            double deadline = now_seconds() + 60;
            while (docs_with_prefix(e->cb, prefix, 40) < 40) {
                CHECK(now_seconds() < deadline);
                sleep_ms(2);
            }
        } else {
            p2p_free(wait_stopped(r));
            pthread_mutex_lock(&c.mu);
            int docs = c.documents, changes = c.changes, last_stopped = c.last_stopped;
            pthread_mutex_unlock(&c.mu);
            if (docs != DOCS || changes != DOCS || !last_stopped)
                fprintf(stderr, "run %d: status read stopped with %d document and %d change callbacks of %d, "
                        "last status stopped %d\n", iter, docs, changes, DOCS, last_stopped);
            CHECK(docs == DOCS && changes == DOCS && last_stopped);
        }
        EXPECT(P2P_OK, p2p_replicator_stop(r, &err));
        pthread_mutex_lock(&c.mu);
        c.finished = 1;
        int docs = c.documents, changes = c.changes, last_stopped = c.last_stopped;
        pthread_mutex_unlock(&c.mu);
        int stored = docs_with_prefix(e->cb, prefix, DOCS);
        if (docs != stored || changes != stored || !last_stopped)
            fprintf(stderr, "run %d: stop returned with %d document and %d change callbacks for %d pulled "
                    "documents, last status stopped %d\n", iter, docs, changes, stored, last_stopped);
        CHECK(docs == stored && changes == stored && last_stopped);
        CHECK(continuous || stored == DOCS);
        sleep_ms(50);
        pthread_mutex_lock(&c.mu);
        int late = c.late;
        pthread_mutex_unlock(&c.mu);
        if (late)
            fprintf(stderr, "run %d: %d callbacks after stop returned\n", iter, late);
        CHECK(late == 0);
        EXPECT(P2P_OK, p2p_subscription_remove(td, &err));
        EXPECT(P2P_OK, p2p_subscription_remove(ts, &err));
        EXPECT(P2P_OK, p2p_subscription_remove(tc, &err));
        EXPECT(P2P_OK, p2p_replicator_close(r, &err));
        pthread_mutex_destroy(&c.mu);
    }
}

/* Resource limits: a listener with a small max_message_size refuses a larger document
 * (its document event carries HTTP 413) and keeps the others; max_connections = 1 answers
 * a second connection 503; a caller built before the limit fields (smaller struct_size)
 * gets the defaults. */
static void test_resource_limits(struct env *e)
{
    p2p_listener_options lo = P2P_LISTENER_OPTIONS_INIT;
    CHECK(lo.max_message_size == 0 && lo.max_connection_buffer == 0 && lo.max_connections == 0);
    lo.network_interface = "127.0.0.1";
    lo.disable_tls = 1;
    lo.max_message_size = 64 * 1024;
    lo.max_connection_buffer = 1 << 20;
    lo.max_connections = 1;
    p2p_listener l = 0;
    EXPECT(P2P_OK, p2p_listener_create(e->a, &lo, &l, &err));
    EXPECT(P2P_OK, p2p_listener_start(l, &err));
    uint16_t port = 0;
    EXPECT(P2P_OK, p2p_listener_port(l, &port, &err));
    char url[64];
    snprintf(url, sizeof url, "ws://127.0.0.1:%u/a", (unsigned)port);

    static char big[200 * 1024 + 32];
    memcpy(big, "{\"pad\":\"", 8);
    memset(big + 8, 'y', 200 * 1024);
    memcpy(big + 8 + 200 * 1024, "\"}", 3);
    save(e->cb, "lim-huge", big);
    save(e->cb, "lim-small", "{\"pad\":\"small\"}");

    p2p_replicator_options o = P2P_REPLICATOR_OPTIONS_INIT;
    o.url = url;
    o.type = P2P_REPLICATOR_PUSH;
    o.max_attempts = 1;
    o.max_message_size = 1 << 20;
    p2p_replicator r = 0;
    EXPECT(P2P_OK, p2p_replicator_create(e->b, &o, &r, &err));
    struct recorder rec = {PTHREAD_MUTEX_INITIALIZER, 0, 0, 0, ""};
    p2p_subscription td = 0;
    EXPECT(P2P_OK, p2p_replicator_add_document_listener(r, on_documents, &rec, &td, &err));
    EXPECT(P2P_OK, p2p_replicator_start(r, 0, &err));
    p2p_free(wait_stopped(r));
    EXPECT(P2P_OK, p2p_subscription_remove(td, &err));
    EXPECT(P2P_OK, p2p_replicator_close(r, &err));
    CHECK(has_doc(e->ca, "lim-small"));
    CHECK(!has_doc(e->ca, "lim-huge"));
    CHECK_CONTAINS(rec.docs, "\"id\":\"lim-huge\"");
    CHECK_CONTAINS(rec.docs, "\"code\":413");
    CHECK_CONTAINS(rec.docs, "larger than the limit");

    /* One connection at a time: a continuous pull holds it, a second one gets 503. */
    o.type = P2P_REPLICATOR_PULL;
    o.continuous = 1;
    p2p_replicator first = 0, second = 0;
    EXPECT(P2P_OK, p2p_replicator_create(e->b, &o, &first, &err));
    EXPECT(P2P_OK, p2p_replicator_start(first, 0, &err));
    for (int i = 0; i < 1000; i++) {
        char *st = NULL;
        EXPECT(P2P_OK, p2p_listener_status(l, &st, &err));
        int one = strstr(st, "\"connection_count\":1") != NULL;
        p2p_free(st);
        if (one) {
            break;
        }
        sleep_ms(10);
    }
    o.continuous = 0;
    EXPECT(P2P_OK, p2p_replicator_create(e->b, &o, &second, &err));
    EXPECT(P2P_OK, p2p_replicator_start(second, 0, &err));
    char *st = wait_stopped(second);
    CHECK_CONTAINS(st, "\"code\":503");
    p2p_free(st);
    EXPECT(P2P_OK, p2p_replicator_close(second, &err));
    EXPECT(P2P_OK, p2p_replicator_close(first, &err));
    EXPECT(P2P_OK, p2p_listener_close(l, &err));

    /* An older caller's struct ends before the limit fields: accepted, defaults apply. */
    p2p_listener_options old = P2P_LISTENER_OPTIONS_INIT;
    old.struct_size = (uint32_t)offsetof(p2p_listener_options, max_message_size);
    old.disable_tls = 1;
    old.max_message_size = 1; /* beyond the caller's struct_size: never read */
    EXPECT(P2P_OK, p2p_listener_create(e->a, &old, &l, &err));
    EXPECT(P2P_OK, p2p_listener_close(l, &err));
    lo.max_message_size = (uint64_t)1 << 50; /* past 1 TiB */
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_listener_create(e->a, &lo, &l, &err));
}

int main(void)
{
    char *dir = make_temp_dir();
    char *pa = path_join(dir, "a"), *pb = path_join(dir, "b");
    struct env e;
    memset(&e, 0, sizeof e);
    pthread_mutex_init(&e.auth_calls.mu, NULL);
    EXPECT(P2P_OK, p2p_db_open(pa, NULL, &e.a, &err));
    EXPECT(P2P_OK, p2p_db_open(pb, NULL, &e.b, &err));
    EXPECT(P2P_OK, p2p_db_default_collection(e.a, &e.ca, &err));
    EXPECT(P2P_OK, p2p_db_default_collection(e.b, &e.cb, &err));

    p2p_listener_options lo = P2P_LISTENER_OPTIONS_INIT;
    lo.network_interface = "127.0.0.1";
    lo.credentials_json = "{\"alice\":\"pw\"}";
    lo.password_auth = password_auth;
    lo.password_auth_user_data = &e.auth_calls;
    lo.enable_delta_sync = 1;
    EXPECT(P2P_OK, p2p_listener_create(e.a, &lo, &e.listener, &err));
    EXPECT(P2P_OK, p2p_listener_start(e.listener, &err));
    uint16_t port = 0;
    EXPECT(P2P_OK, p2p_listener_port(e.listener, &port, &err));
    snprintf(e.url, sizeof e.url, "wss://127.0.0.1:%u/a", (unsigned)port);
    p2p_tls_identity id = 0;
    EXPECT(P2P_OK, p2p_listener_tls_identity(e.listener, &id, &err));
    EXPECT(P2P_OK, p2p_tls_identity_chain_pem(id, &e.server_pem, &err));
    EXPECT(P2P_OK, p2p_tls_identity_fingerprint(id, &e.server_fp, &err));
    EXPECT(P2P_OK, p2p_tls_identity_close(id, &err));

    test_push_pull(&e);
    test_refusals(&e);
    test_listeners_and_queue(&e);
    test_queue_overflow(&e);
    test_resolver_and_filters(&e);
    test_bad_input(&e);
    test_pinned_fingerprint(&e);
    test_delta_stats(&e);
    test_resource_limits(&e);
    test_stop_means_stopped(&e);
    test_blob_round_trip(&e);

    EXPECT(P2P_OK, p2p_listener_close(e.listener, &err));
    p2p_free(e.server_pem);
    p2p_free(e.server_fp);
    EXPECT(P2P_OK, p2p_collection_close(e.ca, &err));
    EXPECT(P2P_OK, p2p_collection_close(e.cb, &err));
    EXPECT(P2P_OK, p2p_db_close(e.a, &err));
    EXPECT(P2P_OK, p2p_db_close(e.b, &err));
    free(pa);
    free(pb);
    remove_tree(dir);
    return finish("test_replicator");
}
