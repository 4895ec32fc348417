/* Batch module: commit, abort, handle rules, and atomicity across a SIGKILL. */
#include "check.h"

#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>

#define BATCH_DOCS 50

static p2p_error err = P2P_ERROR_INIT;

static uint64_t count_docs(p2p_collection coll)
{
    uint64_t n = 0;
    EXPECT(P2P_OK, p2p_collection_count(coll, &n, &err));
    return n;
}

static void test_commit_abort(p2p_db db, p2p_collection coll)
{
    p2p_batch batch = 0;
    p2p_document doc = 0;
    EXPECT(P2P_OK, p2p_db_begin_batch(db, &batch, &err));
    EXPECT(P2P_OK, p2p_batch_save_document(batch, coll, "a", "{\"v\":1}", NULL, 0, &doc, &err));
    EXPECT(P2P_OK, p2p_document_close(doc, &err));
    EXPECT(P2P_OK, p2p_batch_save_document(batch, coll, "b", "{\"v\":2}", NULL, 0, NULL, &err));
    /* a failed write leaves the batch usable */
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_batch_save_document(batch, coll, "c", "[]", NULL, 0, NULL, &err));
    EXPECT(P2P_ERR_BUSY, p2p_db_close(db, &err)); /* the open batch keeps the database open */
    EXPECT(P2P_OK, p2p_batch_commit(batch, &err));
    EXPECT(P2P_ERR_INVALID_HANDLE, p2p_batch_commit(batch, &err)); /* ended */
    EXPECT(P2P_OK, p2p_batch_abort(batch, &err));                  /* aborting an ended batch is harmless */
    CHECK(count_docs(coll) == 2);

    EXPECT(P2P_OK, p2p_db_begin_batch(db, &batch, &err));
    EXPECT(P2P_OK, p2p_batch_delete_document(batch, coll, "a", NULL, 0, NULL, &err));
    EXPECT(P2P_OK, p2p_batch_purge_document(batch, coll, "b", &err));
    EXPECT(P2P_OK, p2p_batch_save_document(batch, coll, "z", "{}", NULL, 0, NULL, &err));
    EXPECT(P2P_OK, p2p_batch_abort(batch, &err));
    CHECK(count_docs(coll) == 2);

    EXPECT(P2P_OK, p2p_db_begin_batch(db, &batch, &err));
    EXPECT(P2P_OK, p2p_batch_delete_document(batch, coll, "a", NULL, 0, NULL, &err));
    EXPECT(P2P_OK, p2p_batch_purge_document(batch, coll, "b", &err));
    EXPECT(P2P_OK, p2p_batch_commit(batch, &err));
    CHECK(count_docs(coll) == 0);
}

static void test_bad_input(p2p_db db, p2p_collection coll, const char *dir)
{
    p2p_batch batch = 0;
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_db_begin_batch(db, NULL, &err));
    EXPECT(P2P_ERR_INVALID_HANDLE, p2p_db_begin_batch(coll, &batch, &err));
    EXPECT(P2P_ERR_INVALID_HANDLE, p2p_batch_save_document(0, coll, "x", "{}", NULL, 0, NULL, &err));

    /* a collection of another database does not belong in this batch */
    char *other_path = path_join(dir, "other");
    p2p_db other = 0;
    p2p_collection other_coll = 0;
    EXPECT(P2P_OK, p2p_db_open(other_path, NULL, &other, &err));
    EXPECT(P2P_OK, p2p_db_default_collection(other, &other_coll, &err));
    EXPECT(P2P_OK, p2p_db_begin_batch(db, &batch, &err));
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_batch_save_document(batch, other_coll, "x", "{}", NULL, 0, NULL, &err));
    EXPECT(P2P_ERR_INVALID_HANDLE, p2p_batch_save_document(batch, db, "x", "{}", NULL, 0, NULL, &err));
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_batch_save_document(batch, coll, "", "{}", NULL, 0, NULL, &err));
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_batch_purge_document(batch, coll, NULL, &err));
    EXPECT(P2P_ERR_INVALID_HANDLE, p2p_batch_abort(db, &err));
    EXPECT(P2P_OK, p2p_batch_abort(batch, &err));
    EXPECT(P2P_OK, p2p_collection_close(other_coll, &err));
    EXPECT(P2P_OK, p2p_db_close(other, &err));
    free(other_path);
}

/* Child process: writes batches of BATCH_DOCS documents forever, reporting each commit
 * on stdout, until the parent kills it. */
static int run_writer(const char *path)
{
    p2p_db db = 0;
    p2p_collection coll = 0;
    EXPECT(P2P_OK, p2p_db_open(path, NULL, &db, &err));
    EXPECT(P2P_OK, p2p_db_default_collection(db, &coll, &err));
    for (int k = 0; k < 100000; k++) {
        p2p_batch batch = 0;
        EXPECT(P2P_OK, p2p_db_begin_batch(db, &batch, &err));
        for (int i = 0; i < BATCH_DOCS; i++) {
            char id[64];
            snprintf(id, sizeof id, "batch%d-doc%d", k, i);
            EXPECT(P2P_OK, p2p_batch_save_document(batch, coll, id, "{\"payload\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}", NULL, 0, NULL, &err));
        }
        EXPECT(P2P_OK, p2p_batch_commit(batch, &err));
        printf("%d\n", k + 1);
        fflush(stdout);
    }
    return 0; /* not reached in practice: the parent kills it long before */
}

/* Kills a writer with SIGKILL after `after` committed batches, at whatever point it has
 * reached, then checks that every batch is there entirely or not at all. */
static void kill_during_batches(const char *dir, int round, int after)
{
    char name[32];
    snprintf(name, sizeof name, "killed-%d", round);
    char *path = path_join(dir, name);
    int fds[2];
    CHECK(pipe(fds) == 0);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        /* exec afresh: the Go runtime does not survive fork() in a child */
        dup2(fds[1], STDOUT_FILENO);
        close(fds[0]);
        execl("/proc/self/exe", "test_batch", "--writer", path, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    FILE *in = fdopen(fds[0], "r");
    CHECK(in != NULL);
    int committed = 0;
    while (committed < after && fscanf(in, "%d", &committed) == 1) {
    }
    CHECK(committed >= after);
    sleep_ms(round * 3); /* land at different points inside a batch */
    CHECK(kill(pid, SIGKILL) == 0);
    int status = 0;
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    int reported = committed;
    while (fscanf(in, "%d", &reported) == 1) {
    }
    fclose(in);

    p2p_db db = 0;
    p2p_collection coll = 0;
    EXPECT(P2P_OK, p2p_db_open(path, NULL, &db, &err)); /* the dead process's lock is gone */
    EXPECT(P2P_OK, p2p_db_default_collection(db, &coll, &err));
    uint64_t n = count_docs(coll);
    if (n % BATCH_DOCS != 0 || n < (uint64_t)reported * BATCH_DOCS) {
        fprintf(stderr, "round %d: %llu documents after %d reported commits: a batch was torn\n", round,
                (unsigned long long)n, reported);
        exit(1);
    }
    EXPECT(P2P_OK, p2p_collection_close(coll, &err));
    EXPECT(P2P_OK, p2p_db_close(db, &err));
    free(path);
}

/* A write through the collection on the thread holding an open batch would wait for that
 * batch forever: it fails with P2P_ERR_BUSY at once. Another thread's write waits for
 * the batch and then succeeds. */
struct waiting_writer {
    p2p_collection coll;
    volatile int done;
    int32_t rc;
};

static void *write_elsewhere(void *arg)
{
    struct waiting_writer *w = arg;
    p2p_error e = P2P_ERROR_INIT;
    w->rc = p2p_collection_save_document(w->coll, "elsewhere", "{}", NULL, 0, NULL, &e);
    p2p_error_dispose(&e);
    __atomic_store_n(&w->done, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

static void test_holder_write_is_busy(p2p_db db, p2p_collection coll)
{
    p2p_batch batch = 0;
    EXPECT(P2P_OK, p2p_db_begin_batch(db, &batch, &err));
    EXPECT(P2P_ERR_BUSY, p2p_collection_save_document(coll, "self", "{}", NULL, 0, NULL, &err));
    EXPECT(P2P_ERR_BUSY, p2p_collection_purge_document(coll, "self", &err));
    struct waiting_writer w = {coll, 0, -1};
    pthread_t th;
    CHECK(pthread_create(&th, NULL, write_elsewhere, &w) == 0);
    sleep_ms(100);
    CHECK(!__atomic_load_n(&w.done, __ATOMIC_SEQ_CST)); /* waiting for the batch */
    EXPECT(P2P_OK, p2p_batch_save_document(batch, coll, "in-batch", "{}", NULL, 0, NULL, &err));
    EXPECT(P2P_OK, p2p_batch_commit(batch, &err));
    CHECK(pthread_join(th, NULL) == 0);
    CHECK(w.rc == P2P_OK);
    EXPECT(P2P_OK, p2p_collection_save_document(coll, "self", "{}", NULL, 0, NULL, &err)); /* batch over */
    EXPECT(P2P_OK, p2p_collection_purge_document(coll, "self", &err));
    EXPECT(P2P_OK, p2p_collection_purge_document(coll, "elsewhere", &err));
    EXPECT(P2P_OK, p2p_collection_purge_document(coll, "in-batch", &err));
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--writer") == 0)
        return run_writer(argv[2]);

    char *dir = make_temp_dir();
    char *path = path_join(dir, "db");
    p2p_db db = 0;
    p2p_collection coll = 0;
    EXPECT(P2P_OK, p2p_db_open(path, NULL, &db, &err));
    EXPECT(P2P_OK, p2p_db_default_collection(db, &coll, &err));
    test_commit_abort(db, coll);
    test_bad_input(db, coll, dir);
    test_holder_write_is_busy(db, coll);
    EXPECT(P2P_OK, p2p_collection_close(coll, &err));
    EXPECT(P2P_OK, p2p_db_close(db, &err));
    for (int round = 1; round <= 4; round++)
        kill_during_batches(dir, round, round);
    free(path);
    remove_tree(dir);
    return finish("test_batch");
}
