/* Listener: lifecycle (start, port, URLs, status, identity, stop, restart), parent/child
 * rule with its database, options and bad input. Replication through a listener is in
 * test_replicator.c. */
#include "check.h"

static p2p_error err = P2P_ERROR_INIT;

static char *identity_fingerprint(p2p_listener l)
{
    p2p_tls_identity id = 0;
    char *hex = NULL;
    EXPECT(P2P_OK, p2p_listener_tls_identity(l, &id, &err));
    CHECK(id != 0);
    EXPECT(P2P_OK, p2p_tls_identity_fingerprint(id, &hex, &err));
    EXPECT(P2P_OK, p2p_tls_identity_close(id, &err));
    return hex;
}

static void test_lifecycle(p2p_db db)
{
    p2p_listener l = 0;
    EXPECT(P2P_OK, p2p_listener_create(db, NULL, &l, &err));
    uint16_t port = 1;
    char *json = NULL;
    EXPECT(P2P_OK, p2p_listener_port(l, &port, &err));
    CHECK(port == 0);
    EXPECT(P2P_OK, p2p_listener_urls(l, &json, &err));
    CHECK(strcmp(json, "[]") == 0);
    p2p_free(json);
    p2p_tls_identity none = 1;
    EXPECT(P2P_OK, p2p_listener_tls_identity(l, &none, &err));
    CHECK(none == 0);

    EXPECT(P2P_OK, p2p_listener_start(l, &err));
    EXPECT(P2P_ERR_BUSY, p2p_listener_start(l, &err));
    EXPECT(P2P_OK, p2p_listener_port(l, &port, &err));
    CHECK(port != 0);
    EXPECT(P2P_OK, p2p_listener_urls(l, &json, &err));
    char want[64];
    snprintf(want, sizeof want, ":%u/db\"", (unsigned)port);
    CHECK_CONTAINS(json, "\"wss://");
    CHECK_CONTAINS(json, want);
    p2p_free(json);
    EXPECT(P2P_OK, p2p_listener_status(l, &json, &err));
    CHECK(strcmp(json, "{\"connection_count\":0,\"active_connection_count\":0,\"total_connection_count\":0,"
                       "\"connections\":[]}") == 0);
    p2p_free(json);
    char *fp1 = identity_fingerprint(l);

    /* the database cannot close under a listener */
    EXPECT(P2P_ERR_BUSY, p2p_db_close(db, &err));

    /* stop, restart: the anonymous identity (and its fingerprint) stays */
    EXPECT(P2P_OK, p2p_listener_stop(l, &err));
    EXPECT(P2P_OK, p2p_listener_stop(l, &err));
    EXPECT(P2P_OK, p2p_listener_port(l, &port, &err));
    CHECK(port == 0);
    EXPECT(P2P_OK, p2p_listener_start(l, &err));
    char *fp2 = identity_fingerprint(l);
    CHECK(strcmp(fp1, fp2) == 0);
    p2p_free(fp1);
    p2p_free(fp2);

    /* a second listener of the same database serves the same anonymous identity */
    p2p_listener l2 = 0;
    EXPECT(P2P_OK, p2p_listener_create(db, NULL, &l2, &err));
    EXPECT(P2P_OK, p2p_listener_start(l2, &err));
    fp1 = identity_fingerprint(l);
    fp2 = identity_fingerprint(l2);
    CHECK(strcmp(fp1, fp2) == 0);
    p2p_free(fp1);
    p2p_free(fp2);
    EXPECT(P2P_OK, p2p_listener_close(l2, &err));

    EXPECT(P2P_OK, p2p_listener_close(l, &err)); /* stops first */
    EXPECT(P2P_OK, p2p_listener_close(l, &err));
    EXPECT(P2P_ERR_INVALID_HANDLE, p2p_listener_start(l, &err));
    EXPECT(P2P_ERR_INVALID_HANDLE, p2p_listener_port(l, &port, &err));
}

static void test_options(p2p_db db, p2p_db other)
{
    p2p_listener_options opts;
    memset(&opts, 0x5a, sizeof opts);
    EXPECT(P2P_OK, p2p_listener_options_init(&opts, sizeof opts, &err));
    CHECK(opts.struct_size == sizeof opts && opts.port == 0 && opts.identity == 0 && opts.password_auth == NULL);
    CHECK(opts.read_only == 0 && opts.disable_tls == 0 && opts.max_connections == 0 && opts.reserved2 == 0);

    /* an explicit identity, plain-text collection list, loopback only */
    p2p_tls_identity id = 0;
    EXPECT(P2P_OK, p2p_tls_identity_create(NULL, &id, &err));
    p2p_collection coll = 0;
    EXPECT(P2P_OK, p2p_db_create_collection(db, "app", "notes", &coll, &err));
    opts.identity = id;
    opts.collections = &coll;
    opts.collection_count = 1;
    opts.network_interface = "127.0.0.1";
    opts.credentials_json = "{\"alice\":\"pw\"}";
    p2p_listener l = 0;
    EXPECT(P2P_OK, p2p_listener_create(db, &opts, &l, &err));
    EXPECT(P2P_OK, p2p_tls_identity_close(id, &err)); /* the listener keeps its own reference */
    EXPECT(P2P_OK, p2p_listener_start(l, &err));
    char *served = NULL, *urls = NULL;
    served = identity_fingerprint(l);
    CHECK(strlen(served) == 64);
    EXPECT(P2P_OK, p2p_listener_urls(l, &urls, &err));
    CHECK_CONTAINS(urls, "wss://127.0.0.1:");
    CHECK(strstr(urls, "[::") == NULL);
    p2p_free(urls);
    p2p_free(served);
    EXPECT(P2P_OK, p2p_listener_close(l, &err));

    /* plain ws:// */
    p2p_listener_options plain = P2P_LISTENER_OPTIONS_INIT;
    plain.disable_tls = 1;
    plain.network_interface = "127.0.0.1";
    EXPECT(P2P_OK, p2p_listener_create(db, &plain, &l, &err));
    EXPECT(P2P_OK, p2p_listener_start(l, &err));
    EXPECT(P2P_OK, p2p_listener_urls(l, &urls, &err));
    CHECK_CONTAINS(urls, "\"ws://127.0.0.1:");
    p2p_free(urls);
    p2p_tls_identity none = 1;
    EXPECT(P2P_OK, p2p_listener_tls_identity(l, &none, &err));
    CHECK(none == 0);
    EXPECT(P2P_OK, p2p_listener_close(l, &err));

    /* refused configurations */
    p2p_listener_options bad = P2P_LISTENER_OPTIONS_INIT;
    EXPECT(P2P_OK, p2p_tls_identity_create(NULL, &id, &err));
    bad.disable_tls = 1;
    bad.identity = id;
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_listener_create(db, &bad, &l, &err));
    bad.identity = 0;
    bad.client_cert_roots_pem = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_listener_create(db, &bad, &l, &err));
    char *chain = NULL;
    EXPECT(P2P_OK, p2p_tls_identity_chain_pem(id, &chain, &err));
    bad.client_cert_roots_pem = chain; /* valid roots, but TLS is off */
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_listener_create(db, &bad, &l, &err));
    p2p_free(chain);
    bad = (p2p_listener_options)P2P_LISTENER_OPTIONS_INIT;
    bad.credentials_json = "{\"alice\":";
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_listener_create(db, &bad, &l, &err));
    bad.credentials_json = "[\"alice\"]";
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_listener_create(db, &bad, &l, &err));
    bad.credentials_json = NULL;
    bad.collections = NULL;
    bad.collection_count = 2;
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_listener_create(db, &bad, &l, &err));
    p2p_collection foreign = 0;
    EXPECT(P2P_OK, p2p_db_default_collection(other, &foreign, &err));
    bad.collections = &foreign;
    bad.collection_count = 1;
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_listener_create(db, &bad, &l, &err));
    bad.collections = NULL;
    bad.collection_count = 0;
    bad.identity = 0x7700000000000001ULL;
    EXPECT(P2P_ERR_INVALID_HANDLE, p2p_listener_create(db, &bad, &l, &err));
    bad.identity = 0;
    bad.reserved1[1] = 1; /* reserved bytes must be zero */
    EXPECT(P2P_ERR_UNSUPPORTED, p2p_listener_create(db, &bad, &l, &err));
    bad.reserved1[1] = 0;
    bad.reserved2 = 1;
    EXPECT(P2P_ERR_UNSUPPORTED, p2p_listener_create(db, &bad, &l, &err));
    bad.reserved2 = 0;
    bad.struct_size = 3;
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_listener_create(db, &bad, &l, &err));
    EXPECT(P2P_ERR_INVALID_HANDLE, p2p_listener_create(coll, NULL, &l, &err));
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_listener_create(db, NULL, NULL, &err));
    EXPECT(P2P_ERR_INVALID_HANDLE, p2p_listener_close(db, &err));
    EXPECT(P2P_OK, p2p_listener_close(0, &err));

    /* a port in use */
    p2p_listener a = 0, b = 0;
    uint16_t port = 0;
    p2p_listener_options fixed = P2P_LISTENER_OPTIONS_INIT;
    fixed.network_interface = "127.0.0.1";
    EXPECT(P2P_OK, p2p_listener_create(db, &fixed, &a, &err));
    EXPECT(P2P_OK, p2p_listener_start(a, &err));
    EXPECT(P2P_OK, p2p_listener_port(a, &port, &err));
    fixed.port = port;
    EXPECT(P2P_OK, p2p_listener_create(db, &fixed, &b, &err));
    int32_t rc = p2p_listener_start(b, &err);
    CHECK(rc != P2P_OK && rc != P2P_ERR_INTERNAL);
    p2p_error_dispose(&err);
    EXPECT(P2P_OK, p2p_listener_close(b, &err));
    EXPECT(P2P_OK, p2p_listener_close(a, &err));

    EXPECT(P2P_OK, p2p_tls_identity_close(id, &err));
    EXPECT(P2P_OK, p2p_collection_close(foreign, &err));
    EXPECT(P2P_OK, p2p_collection_close(coll, &err));
}

int main(void)
{
    char *dir = make_temp_dir();
    char *path = path_join(dir, "db"), *path2 = path_join(dir, "other");
    p2p_db db = 0, other = 0;
    EXPECT(P2P_OK, p2p_db_open(path, NULL, &db, &err));
    EXPECT(P2P_OK, p2p_db_open(path2, NULL, &other, &err));
    test_lifecycle(db);
    test_options(db, other);
    EXPECT(P2P_OK, p2p_db_close(db, &err));
    EXPECT(P2P_OK, p2p_db_close(other, &err));
    free(path);
    free(path2);
    remove_tree(dir);
    return finish("test_listener");
}
