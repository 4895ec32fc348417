/* Old and new callers of ABI 2 (header "options structs").
 *
 * An old caller is a program compiled against an earlier, shorter version of an options
 * struct: here, copies of the public structs truncated to a prefix of their fields, each
 * followed in memory by poison bytes that would break the call if the library read past
 * the caller's struct_size (garbage pointers, an unknown replicator type, a disable_create
 * flag). It opens databases, serves a listener and replicates through them with those
 * shorter structs, with the fields they lack taking their defaults.
 *
 * A newer caller passes a longer struct: a zero tail is accepted, a non-zero one (an
 * option this library does not know) is refused with P2P_ERR_UNSUPPORTED. */
#include "check.h"

#include <stddef.h>

static p2p_error err = P2P_ERROR_INIT;

#define POISON 0xFF

/* p2p_db_options as an older header might have declared it: the 8-byte minimum. */
struct old_db_options {
    uint32_t struct_size;
    uint32_t max_rev_tree_depth;
};

/* p2p_listener_options up to and including `identity`. */
struct old_listener_options {
    uint32_t struct_size;
    uint32_t collection_count;
    const p2p_collection *collections;
    const char *network_interface;
    uint16_t port;
    uint8_t read_only;
    uint8_t disable_tls;
    uint8_t enable_delta_sync;
    uint8_t reserved1[3];
    p2p_tls_identity identity;
};

/* p2p_replication_collection up to and including `doc_ids_json`. */
struct old_replication_collection {
    uint32_t struct_size;
    uint32_t reserved1;
    p2p_collection collection;
    const char *doc_ids_json;
};

/* p2p_replicator_options up to and including `server_name`. */
struct old_replicator_options {
    uint32_t struct_size;
    uint32_t collection_count;
    const void *collections;
    const char *url;
    const char *headers_json;
    const char *username;
    const char *password;
    p2p_tls_identity client_identity;
    const char *trusted_roots_pem;
    const char *pinned_certificate_pem;
    const char *pinned_fingerprint;
    const char *server_name;
};

/* The truncated copies must be prefixes of the current structs, field for field. */
#define SAME(OLD, NEW, f) (offsetof(OLD, f) == offsetof(NEW, f))
static void check_prefixes(void)
{
    CHECK(SAME(struct old_db_options, p2p_db_options, max_rev_tree_depth));
    CHECK(SAME(struct old_listener_options, p2p_listener_options, identity));
    CHECK(SAME(struct old_listener_options, p2p_listener_options, disable_tls));
    CHECK(SAME(struct old_replication_collection, p2p_replication_collection, doc_ids_json));
    CHECK(SAME(struct old_replicator_options, p2p_replicator_options, server_name));
    CHECK(sizeof(struct old_listener_options) < sizeof(p2p_listener_options));
    CHECK(sizeof(struct old_replication_collection) < sizeof(p2p_replication_collection));
    CHECK(sizeof(struct old_replicator_options) < sizeof(p2p_replicator_options));
}

/* An old struct followed by poison: what the library must never read. */
struct db_mem {
    struct old_db_options o;
    uint8_t poison[sizeof(p2p_db_options)];
};
struct listener_mem {
    struct old_listener_options o;
    uint8_t poison[sizeof(p2p_listener_options)];
};
struct collections_mem {
    struct old_replication_collection c[2];
    uint8_t poison[sizeof(p2p_replication_collection)];
};
struct replicator_mem {
    struct old_replicator_options o;
    uint8_t poison[sizeof(p2p_replicator_options)];
};

static p2p_db open_old(const char *path)
{
    struct db_mem m;
    memset(&m, POISON, sizeof m); /* disable_create would be set if it were read */
    EXPECT(P2P_OK, p2p_db_options_init((p2p_db_options *)(void *)&m.o, sizeof m.o, &err));
    CHECK(m.o.struct_size == sizeof m.o && m.o.max_rev_tree_depth == 0);
    CHECK(m.poison[0] == POISON); /* init wrote only the caller's bytes */
    p2p_db db = 0;
    EXPECT(P2P_OK, p2p_db_open(path, (const p2p_db_options *)(const void *)&m.o, &db, &err));
    return db;
}

static void save(p2p_collection c, const char *id)
{
    EXPECT(P2P_OK, p2p_collection_save_document(c, id, "{\"v\":1}", NULL, P2P_CONCURRENCY_LAST_WRITE_WINS, NULL, &err));
}

static int has(p2p_collection c, const char *id)
{
    p2p_document doc = 0;
    int32_t rc = p2p_collection_get_document(c, id, 0, &doc, &err);
    p2p_error_dispose(&err);
    if (rc == P2P_OK)
        EXPECT(P2P_OK, p2p_document_close(doc, &err));
    return rc == P2P_OK;
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

static void test_old_caller(const char *dir)
{
    char *pa = path_join(dir, "a"), *pb = path_join(dir, "b");
    p2p_db a = open_old(pa), b = open_old(pb);
    p2p_collection da = 0, db_ = 0, na = 0, nb = 0;
    EXPECT(P2P_OK, p2p_db_default_collection(a, &da, &err));
    EXPECT(P2P_OK, p2p_db_default_collection(b, &db_, &err));
    EXPECT(P2P_OK, p2p_db_create_collection(a, "app", "notes", &na, &err));
    EXPECT(P2P_OK, p2p_db_create_collection(b, "app", "notes", &nb, &err));
    save(db_, "d1");
    save(db_, "d2");
    save(nb, "n1");

    /* the listener: plain ws:// on loopback, serving both collections */
    struct listener_mem lm;
    memset(&lm, POISON, sizeof lm); /* credentials, callbacks, limits: garbage if read */
    EXPECT(P2P_OK, p2p_listener_options_init((p2p_listener_options *)(void *)&lm.o, sizeof lm.o, &err));
    CHECK(lm.poison[0] == POISON);
    p2p_collection served[2] = {da, na};
    lm.o.collections = served;
    lm.o.collection_count = 2;
    lm.o.network_interface = "127.0.0.1";
    lm.o.disable_tls = 1;
    p2p_listener l = 0;
    EXPECT(P2P_OK, p2p_listener_create(a, (const p2p_listener_options *)(const void *)&lm.o, &l, &err));
    EXPECT(P2P_OK, p2p_listener_start(l, &err));
    uint16_t port = 0;
    EXPECT(P2P_OK, p2p_listener_port(l, &port, &err));
    char url[64];
    snprintf(url, sizeof url, "ws://127.0.0.1:%u/a", (unsigned)port);

    /* the replicator: elements of collections are struct_size (24) bytes apart */
    struct collections_mem cm;
    memset(&cm, POISON, sizeof cm); /* filters and resolvers: garbage pointers if read */
    for (int i = 0; i < 2; i++)
        EXPECT(P2P_OK, p2p_replication_collection_init((p2p_replication_collection *)(void *)&cm.c[i],
                                                       sizeof cm.c[i], &err));
    cm.c[0].collection = db_;
    cm.c[0].doc_ids_json = "[\"d1\"]";
    cm.c[1].collection = nb;
    struct replicator_mem rm;
    memset(&rm, POISON, sizeof rm); /* type 0xFF, limits, flags: refused or garbage if read */
    EXPECT(P2P_OK, p2p_replicator_options_init((p2p_replicator_options *)(void *)&rm.o, sizeof rm.o, &err));
    CHECK(rm.o.struct_size == sizeof rm.o && rm.poison[0] == POISON);
    rm.o.url = url;
    rm.o.collections = cm.c;
    rm.o.collection_count = 2;
    p2p_replicator r = 0;
    EXPECT(P2P_OK, p2p_replicator_create(b, (const p2p_replicator_options *)(const void *)&rm.o, &r, &err));
    EXPECT(P2P_OK, p2p_replicator_start(r, 0, &err));
    char *st = wait_stopped(r);
    CHECK_CONTAINS(st, "\"error\":null");
    p2p_free(st);
    EXPECT(P2P_OK, p2p_replicator_close(r, &err));

    /* pushed (the default type, push and pull): d1 (the doc_ids filter) and n1, not d2 */
    CHECK(has(da, "d1") && !has(da, "d2") && has(na, "n1"));

    EXPECT(P2P_OK, p2p_listener_close(l, &err));
    EXPECT(P2P_OK, p2p_collection_close(da, &err));
    EXPECT(P2P_OK, p2p_collection_close(db_, &err));
    EXPECT(P2P_OK, p2p_collection_close(na, &err));
    EXPECT(P2P_OK, p2p_collection_close(nb, &err));
    EXPECT(P2P_OK, p2p_db_close(a, &err));
    EXPECT(P2P_OK, p2p_db_close(b, &err));
    free(pa);
    free(pb);
}

/* A newer caller: its struct is longer than this library's. */
static void test_newer_caller(const char *dir)
{
    char *path = path_join(dir, "newer");
    p2p_db db = 0;
    EXPECT(P2P_OK, p2p_db_open(path, NULL, &db, &err));

    struct {
        p2p_listener_options known;
        uint64_t from_the_future[2];
    } lo;
    EXPECT(P2P_OK, p2p_listener_options_init(&lo.known, sizeof lo, &err));
    CHECK(lo.known.struct_size == sizeof lo && lo.from_the_future[1] == 0);
    lo.known.disable_tls = 1;
    lo.known.network_interface = "127.0.0.1";
    p2p_listener l = 0;
    EXPECT(P2P_OK, p2p_listener_create(db, &lo.known, &l, &err)); /* zero tail: accepted */
    EXPECT(P2P_OK, p2p_listener_close(l, &err));
    lo.from_the_future[1] = 7;
    l = 0;
    CHECK(p2p_listener_create(db, &lo.known, &l, &err) == P2P_ERR_UNSUPPORTED);
    CHECK(l == 0 && err.domain == P2P_DOMAIN_LIBRARY && err.code == P2P_ERR_UNSUPPORTED);
    CHECK_CONTAINS(err.message, "does not know");
    p2p_error_dispose(&err);

    struct {
        p2p_replicator_options known;
        uint8_t from_the_future[8];
    } ro;
    EXPECT(P2P_OK, p2p_replicator_options_init(&ro.known, sizeof ro, &err));
    ro.known.url = "ws://127.0.0.1:1/newer";
    p2p_replicator r = 0;
    EXPECT(P2P_OK, p2p_replicator_create(db, &ro.known, &r, &err));
    EXPECT(P2P_OK, p2p_replicator_close(r, &err));
    ro.from_the_future[0] = 1;
    EXPECT(P2P_ERR_UNSUPPORTED, p2p_replicator_create(db, &ro.known, &r, &err));

    struct {
        p2p_tls_identity_options known;
        uint64_t from_the_future;
    } io;
    EXPECT(P2P_OK, p2p_tls_identity_options_init(&io.known, sizeof io, &err));
    io.from_the_future = 1;
    p2p_tls_identity id = 0;
    EXPECT(P2P_ERR_UNSUPPORTED, p2p_tls_identity_create(&io.known, &id, &err));
    CHECK(id == 0);

    EXPECT(P2P_OK, p2p_db_close(db, &err));
    free(path);
}

int main(void)
{
    char *dir = make_temp_dir();
    check_prefixes();
    test_old_caller(dir);
    test_newer_caller(dir);
    remove_tree(dir);
    return finish("test_abi_old_caller");
}
