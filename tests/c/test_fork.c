/* Fork: in a child process forked after the library was loaded, every call that returns
 * a status fails at once with P2P_ERR_FORKED (the Go runtime does not survive a fork, so
 * the call must not enter it), the C-only functions keep working, and the parent goes on
 * as if nothing happened. A child that hangs is killed by its alarm and fails the test. */
#include "check.h"

#include <errno.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#define CHILD_SECONDS 20 /* a child still running then is hung: SIGALRM ends it */

static p2p_error err = P2P_ERROR_INIT;

/* EXPECT_FORKED(call): `call` fails with P2P_ERR_FORKED and a message that says what to
 * do instead. */
#define EXPECT_FORKED(call)                                        \
    do {                                                           \
        CHECK((call) == P2P_ERR_FORKED);                           \
        CHECK(err.domain == P2P_DOMAIN_LIBRARY);                   \
        CHECK(err.code == P2P_ERR_FORKED);                         \
        CHECK_CONTAINS(err.message, "fork");                       \
        CHECK_CONTAINS(err.message, "spawn");                      \
        CHECK_CONTAINS(err.message, "after the fork");             \
        p2p_error_dispose(&err);                                   \
    } while (0)

/* Runs in the child: never returns. */
static void child(const char *dir, p2p_db db, p2p_collection coll, p2p_subscription queue)
{
    alarm(CHILD_SECONDS);

    /* opening a database, the call that used to hang */
    char *fresh = path_join(dir, "opened-in-child");
    p2p_db db2 = 0;
    EXPECT_FORKED(p2p_db_open(fresh, NULL, &db2, &err));
    CHECK(db2 == 0); /* out-parameters untouched */
    struct stat st;
    CHECK(stat(fresh, &st) != 0 && errno == ENOENT); /* nothing ran: nothing was created */
    CHECK(p2p_db_open(fresh, NULL, &db2, NULL) == P2P_ERR_FORKED); /* err is optional */

    /* handles inherited from the parent: no use, no close */
    uint64_t count = 99;
    EXPECT_FORKED(p2p_collection_count(coll, &count, &err));
    CHECK(count == 99);
    p2p_document doc = 0;
    EXPECT_FORKED(p2p_collection_save_document(coll, "from-child", "{}", NULL, 0, &doc, &err));
    CHECK(doc == 0);
    char *json = NULL;
    EXPECT_FORKED(p2p_subscription_next_event(queue, 1000, &json, &err));
    CHECK(json == NULL);
    EXPECT_FORKED(p2p_subscription_remove(queue, &err));
    EXPECT_FORKED(p2p_collection_close(coll, &err));
    EXPECT_FORKED(p2p_db_close(db, &err));
    EXPECT_FORKED(p2p_db_close(0, &err)); /* even the no-op close: nothing enters Go */

    /* functions that only fill structs still go through Go, so they fail too */
    p2p_db_options opts;
    memset(&opts, 0, sizeof opts);
    EXPECT_FORKED(p2p_db_options_init(&opts, sizeof opts, &err));
    CHECK(opts.struct_size == 0);
    p2p_tls_identity id = 0;
    EXPECT_FORKED(p2p_tls_identity_create(NULL, &id, &err));

    /* the functions written in C keep working; the handle count is 0 */
    CHECK(p2p_abi_version() == P2P_ABI_VERSION);
    CHECK(strcmp(p2p_version(), P2P_VERSION_STRING) == 0);
    CHECK(strcmp(p2p_status_string(P2P_ERR_FORKED), "P2P_ERR_FORKED") == 0);
    char *copy = p2p_strdup("still here");
    CHECK(copy != NULL && strcmp(copy, "still here") == 0);
    p2p_free(copy);
    CHECK(p2p_debug_live_handles() == 0);

    free(fresh);
    _exit(0);
}

/* Waits for the child; fails the test unless it exited 0. The child's alarm bounds this. */
static void wait_child(pid_t pid)
{
    int status = 0;
    pid_t got;
    do {
        got = waitpid(pid, &status, 0);
    } while (got < 0 && errno == EINTR);
    CHECK(got == pid);
    if (WIFSIGNALED(status)) {
        fprintf(stderr, "forked child killed by signal %d%s\n", WTERMSIG(status),
                WTERMSIG(status) == SIGALRM ? ": a call hung instead of returning P2P_ERR_FORKED" : "");
        exit(1);
    }
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void test_fork(void)
{
    char *dir = make_temp_dir();
    char *path = path_join(dir, "db");
    p2p_db db = 0;
    p2p_collection coll = 0;
    p2p_subscription queue = 0;
    EXPECT(P2P_OK, p2p_db_open(path, NULL, &db, &err));
    EXPECT(P2P_OK, p2p_db_default_collection(db, &coll, &err));
    EXPECT(P2P_OK, p2p_collection_add_change_queue(coll, 0, &queue, &err));
    EXPECT(P2P_OK, p2p_collection_save_document(coll, "before", "{\"n\":1}", NULL, 0, NULL, &err));

    fflush(NULL); /* nothing buffered is written twice */
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0)
        child(dir, db, coll, queue);
    wait_child(pid);

    /* the parent is unaffected: its handles, its queue and new opens all work */
    EXPECT(P2P_OK, p2p_collection_save_document(coll, "after", "{\"n\":2}", NULL, 0, NULL, &err));
    uint64_t count = 0;
    EXPECT(P2P_OK, p2p_collection_count(coll, &count, &err));
    CHECK(count == 2);
    for (int i = 0; i < 2; i++) {
        char *json = NULL;
        EXPECT(P2P_OK, p2p_subscription_next_event(queue, 10000, &json, &err));
        CHECK_CONTAINS(json, i == 0 ? "\"before\"" : "\"after\"");
        p2p_free(json);
    }
    char *other = path_join(dir, "opened-in-parent");
    p2p_db db2 = 0;
    EXPECT(P2P_OK, p2p_db_open(other, NULL, &db2, &err));
    EXPECT(P2P_OK, p2p_db_close(db2, &err));

    /* and it can fork again: each child is refused alike */
    fflush(NULL);
    pid = fork();
    CHECK(pid >= 0);
    if (pid == 0)
        child(dir, db, coll, queue);
    wait_child(pid);

    EXPECT(P2P_OK, p2p_subscription_remove(queue, &err));
    EXPECT(P2P_OK, p2p_collection_close(coll, &err));
    EXPECT(P2P_OK, p2p_db_close(db, &err));
    free(other);
    free(path);
    remove_tree(dir);
}

int main(void)
{
    test_fork();
    return finish("test_fork");
}
