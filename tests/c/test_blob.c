/* Blob module: create from a buffer, a file or a writer; read in chunks or into a file;
 * info and existence; verification of damaged blobs; documents referring to blobs;
 * compaction; a writer killed mid-blob leaves nothing visible; bad input. */
#include "check.h"

#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

static p2p_error err = P2P_ERROR_INIT;

/* Counts the files of `dir` whose name ends with `suffix`; the last one's path goes to
 * *last (caller frees) when last is not NULL. */
static int count_files(const char *dir, const char *suffix, char **last)
{
    DIR *d = opendir(dir);
    CHECK(d != NULL);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name), sl = strlen(suffix);
        if (len > sl && strcmp(e->d_name + len - sl, suffix) == 0) {
            n++;
            if (last != NULL) {
                free(*last);
                *last = path_join(dir, e->d_name);
            }
        }
    }
    closedir(d);
    return n;
}

static char *read_blob(p2p_db db, const char *blob, size_t chunk, size_t *out_len)
{
    p2p_blob_reader r = 0;
    EXPECT(P2P_OK, p2p_blob_reader_open(db, blob, &r, &err));
    uint64_t length = 0;
    EXPECT(P2P_OK, p2p_blob_reader_length(r, &length, &err));
    char *out = malloc(length + 1);
    CHECK(out != NULL);
    size_t total = 0, n = 0;
    uint8_t buf[64];
    CHECK(chunk <= sizeof buf);
    do {
        EXPECT(P2P_OK, p2p_blob_reader_read(r, buf, chunk, &n, &err));
        CHECK(total + n <= length);
        memcpy(out + total, buf, n);
        total += n;
    } while (n > 0);
    out[total] = '\0';
    EXPECT(P2P_OK, p2p_blob_reader_close(r, &err));
    *out_len = total;
    return out;
}

static void test_round_trips(p2p_db db, const char *dir)
{
    const char *text = "Hello from an inline attachment.\n";
    char *blob = NULL;
    EXPECT(P2P_OK, p2p_blob_create(db, (const uint8_t *)text, strlen(text), "text/plain", &blob, &err));
    CHECK(strcmp(blob, "{\"@type\":\"blob\",\"content_type\":\"text/plain\","
                       "\"digest\":\"sha1-gyVDxtgNqLc9qt2O+DDtfuD1dQY=\",\"length\":33}") == 0);
    size_t n = 0;
    char *back = read_blob(db, blob, 5, &n); /* odd chunks */
    CHECK(n == strlen(text) && memcmp(back, text, n) == 0);
    free(back);
    back = read_blob(db, "sha1-gyVDxtgNqLc9qt2O+DDtfuD1dQY=", 64, &n); /* by digest */
    CHECK(n == strlen(text) && memcmp(back, text, n) == 0);
    free(back);

    char *info = NULL;
    EXPECT(P2P_OK, p2p_blob_info(db, "sha1-gyVDxtgNqLc9qt2O+DDtfuD1dQY=", &info, &err));
    CHECK(strcmp(info, "{\"@type\":\"blob\",\"digest\":\"sha1-gyVDxtgNqLc9qt2O+DDtfuD1dQY=\",\"length\":33}") == 0);
    p2p_free(info);
    uint8_t exists = 9;
    EXPECT(P2P_OK, p2p_blob_exists(db, blob, &exists, &err));
    CHECK(exists == 1);
    EXPECT(P2P_OK, p2p_blob_exists(db, "sha1-AAAAAAAAAAAAAAAAAAAAAAAAAAA=", &exists, &err));
    CHECK(exists == 0);
    EXPECT(P2P_ERR_NOT_FOUND, p2p_blob_info(db, "sha1-AAAAAAAAAAAAAAAAAAAAAAAAAAA=", &info, &err));
    EXPECT(P2P_ERR_CORRUPT, p2p_blob_info(db, "{\"digest\":\"sha1-gyVDxtgNqLc9qt2O+DDtfuD1dQY=\",\"length\":34}", &info, &err));

    /* a writer fed in chunks gives the same dictionary as the whole buffer */
    p2p_blob_writer w = 0;
    EXPECT(P2P_OK, p2p_blob_writer_create(db, "text/plain", &w, &err));
    for (size_t i = 0; i < strlen(text); i += 4) {
        size_t len = strlen(text) - i < 4 ? strlen(text) - i : 4;
        EXPECT(P2P_OK, p2p_blob_writer_write(w, (const uint8_t *)text + i, len, &err));
    }
    EXPECT(P2P_OK, p2p_blob_writer_write(w, NULL, 0, &err));
    char *fromw = NULL, *again = NULL;
    EXPECT(P2P_OK, p2p_blob_writer_finish(w, &fromw, &err));
    CHECK(strcmp(fromw, blob) == 0);
    EXPECT(P2P_OK, p2p_blob_writer_finish(w, &again, &err));
    CHECK(strcmp(again, blob) == 0);
    EXPECT(P2P_ERR_INVALID_HANDLE, p2p_blob_writer_write(w, (const uint8_t *)"x", 1, &err));
    EXPECT(P2P_OK, p2p_blob_writer_close(w, &err));
    EXPECT(P2P_OK, p2p_blob_writer_close(w, &err));
    EXPECT(P2P_ERR_INVALID_HANDLE, p2p_blob_writer_finish(w, &again, &err));
    p2p_free(fromw);
    p2p_free(again);

    /* an abandoned writer stores nothing */
    char *blobs_dir = path_join(dir, "db/blobs");
    int before = count_files(blobs_dir, ".blob", NULL);
    EXPECT(P2P_OK, p2p_blob_writer_create(db, NULL, &w, &err));
    EXPECT(P2P_OK, p2p_blob_writer_write(w, (const uint8_t *)"abandoned", 9, &err));
    CHECK(count_files(blobs_dir, ".tmp", NULL) == 1);
    EXPECT(P2P_OK, p2p_blob_writer_close(w, &err));
    CHECK(count_files(blobs_dir, ".tmp", NULL) == 0);
    CHECK(count_files(blobs_dir, ".blob", NULL) == before);

    /* files in and out */
    char *src = path_join(dir, "in.bin"), *dst = path_join(dir, "out.bin");
    FILE *f = fopen(src, "wb");
    CHECK(f != NULL);
    for (int i = 0; i < 300000; i++)
        fputc((i * 7919) & 0xff, f);
    fclose(f);
    char *fblob = NULL;
    EXPECT(P2P_OK, p2p_blob_create_from_file(db, src, "application/octet-stream", &fblob, &err));
    CHECK_CONTAINS(fblob, "\"length\":300000");
    EXPECT(P2P_OK, p2p_blob_save_to_file(db, fblob, dst, &err));
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "cmp -s '%s' '%s'", src, dst);
    CHECK(system(cmd) == 0);
    EXPECT(P2P_ERR_NOT_FOUND, p2p_blob_create_from_file(db, "/nonexistent/file", NULL, &info, &err));
    p2p_free(fblob);
    free(src);
    free(dst);
    free(blobs_dir);
    p2p_free(blob);
}

static void test_documents_and_compaction(p2p_db db, p2p_collection coll)
{
    char *keep = NULL, *drop = NULL, *loose = NULL;
    EXPECT(P2P_OK, p2p_blob_create(db, (const uint8_t *)"keep", 4, NULL, &keep, &err));
    EXPECT(P2P_OK, p2p_blob_create(db, (const uint8_t *)"drop", 4, NULL, &drop, &err));
    EXPECT(P2P_OK, p2p_blob_create(db, (const uint8_t *)"loose", 5, NULL, &loose, &err));
    char body[1024];
    snprintf(body, sizeof body, "{\"title\":\"t\",\"files\":[%s],\"cover\":%s}", keep, drop);
    EXPECT(P2P_OK, p2p_collection_save_document(coll, "album", body, NULL, 0, NULL, &err));
    /* a body naming a blob the database lacks is refused */
    EXPECT(P2P_ERR_NOT_FOUND, p2p_collection_save_document(coll, "bad", "{\"f\":{\"@type\":\"blob\","
           "\"digest\":\"sha1-AAAAAAAAAAAAAAAAAAAAAAAAAAA=\",\"length\":1}}", NULL, 0, NULL, &err));
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_collection_save_document(coll, "bad", "{\"f\":{\"@type\":\"blob\"}}",
                                                                  NULL, 0, NULL, &err));

    char *stats = NULL;
    EXPECT(P2P_OK, p2p_db_compact(db, &stats, &err)); /* just written: all kept */
    CHECK_CONTAINS(stats, "\"blobs_removed\":0");
    p2p_free(stats);
    EXPECT(P2P_OK, p2p_db_compact(db, &stats, &err));
    CHECK(strstr(stats, "\"blobs_removed\":0") == NULL); /* the loose one, and earlier tests' */
    p2p_free(stats);
    uint8_t exists = 0;
    EXPECT(P2P_OK, p2p_blob_exists(db, loose, &exists, &err));
    CHECK(exists == 0);
    EXPECT(P2P_OK, p2p_blob_exists(db, keep, &exists, &err));
    CHECK(exists == 1);
    EXPECT(P2P_OK, p2p_blob_exists(db, drop, &exists, &err));
    CHECK(exists == 1);

    /* two updates without the cover: its blob leaves every kept body */
    snprintf(body, sizeof body, "{\"title\":\"t2\",\"files\":[%s]}", keep);
    EXPECT(P2P_OK, p2p_collection_save_document(coll, "album", body, NULL, 0, NULL, &err));
    snprintf(body, sizeof body, "{\"title\":\"t3\",\"files\":[%s]}", keep);
    EXPECT(P2P_OK, p2p_collection_save_document(coll, "album", body, NULL, 0, NULL, &err));
    EXPECT(P2P_OK, p2p_db_compact(db, NULL, &err));
    EXPECT(P2P_OK, p2p_blob_exists(db, drop, &exists, &err));
    CHECK(exists == 0);
    EXPECT(P2P_OK, p2p_blob_exists(db, keep, &exists, &err));
    CHECK(exists == 1);

    /* purge: the last reference goes */
    EXPECT(P2P_OK, p2p_collection_purge_document(coll, "album", &err));
    EXPECT(P2P_OK, p2p_db_compact(db, NULL, &err));
    EXPECT(P2P_OK, p2p_blob_exists(db, keep, &exists, &err));
    CHECK(exists == 0);
    p2p_free(keep);
    p2p_free(drop);
    p2p_free(loose);
}

static void test_corruption(const char *dir)
{
    char *path = path_join(dir, "corrupt-db"), *blobs_dir = path_join(dir, "corrupt-db/blobs");
    p2p_db db = 0;
    EXPECT(P2P_OK, p2p_db_open(path, NULL, &db, &err));
    char *blob = NULL;
    EXPECT(P2P_OK, p2p_blob_create(db, (const uint8_t *)"precious bytes", 14, NULL, &blob, &err));
    char *file = NULL;
    CHECK(count_files(blobs_dir, ".blob", &file) == 1);
    FILE *f = fopen(file, "r+b");
    CHECK(f != NULL);
    fseek(f, 3, SEEK_SET);
    fputc('X', f);
    fclose(f);

    p2p_blob_reader r = 0;
    EXPECT(P2P_OK, p2p_blob_reader_open(db, blob, &r, &err));
    uint8_t buf[8];
    size_t n = 0;
    EXPECT(P2P_OK, p2p_blob_reader_read(r, buf, sizeof buf, &n, &err)); /* not the end yet */
    CHECK(n == 8);
    EXPECT(P2P_ERR_CORRUPT, p2p_blob_reader_read(r, buf, sizeof buf, &n, &err));
    EXPECT(P2P_ERR_CORRUPT, p2p_blob_reader_read(r, buf, sizeof buf, &n, &err)); /* sticky */
    /* the database cannot close under an open reader */
    EXPECT(P2P_ERR_BUSY, p2p_db_close(db, &err));
    EXPECT(P2P_OK, p2p_blob_reader_close(r, &err));

    char *dst = path_join(dir, "corrupt-out.bin");
    EXPECT(P2P_ERR_CORRUPT, p2p_blob_save_to_file(db, blob, dst, &err));
    struct stat st;
    CHECK(stat(dst, &st) != 0); /* nothing written */
    CHECK(count_files(dir, ".bin", NULL) == 2); /* in.bin, out.bin: no temporary left */

    /* storing the content again repairs the blob */
    char *again = NULL;
    EXPECT(P2P_OK, p2p_blob_create(db, (const uint8_t *)"precious bytes", 14, NULL, &again, &err));
    EXPECT(P2P_OK, p2p_blob_save_to_file(db, blob, dst, &err));
    p2p_free(again);
    p2p_free(blob);
    free(file);
    free(dst);
    EXPECT(P2P_OK, p2p_db_close(db, &err));
    free(path);
    free(blobs_dir);
}

/* Child mode: open the database and stream a blob until killed. */
static int crash_child(const char *path)
{
    p2p_db db = 0;
    p2p_blob_writer w = 0;
    if (p2p_db_open(path, NULL, &db, NULL) != P2P_OK || p2p_blob_writer_create(db, NULL, &w, NULL) != P2P_OK)
        return 2;
    static uint8_t chunk[4096];
    memset(chunk, 7, sizeof chunk);
    for (;;)
        p2p_blob_writer_write(w, chunk, sizeof chunk, NULL);
}

static void test_crash_mid_write(const char *dir, const char *self)
{
    char *path = path_join(dir, "crash-db"), *blobs_dir = path_join(dir, "crash-db/blobs");
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        execl(self, self, "--crash-child", path, (char *)NULL);
        _exit(3);
    }
    /* wait until the child has streamed at least 1 MiB into its temporary file */
    double deadline = now_seconds() + 60;
    for (;;) {
        char *tmp = NULL;
        struct stat st;
        if (access(blobs_dir, F_OK) == 0 && count_files(blobs_dir, ".tmp", &tmp) == 1 &&
            stat(tmp, &st) == 0 && st.st_size > (1 << 20)) {
            free(tmp);
            break;
        }
        free(tmp);
        CHECK(now_seconds() < deadline);
        CHECK(waitpid(pid, NULL, WNOHANG) == 0); /* the child must still be writing */
        sleep_ms(10);
    }
    CHECK(kill(pid, SIGKILL) == 0);
    int status = 0;
    CHECK(waitpid(pid, &status, 0) == pid && WIFSIGNALED(status));
    CHECK(count_files(blobs_dir, ".blob", NULL) == 0); /* nothing partial is visible */
    CHECK(count_files(blobs_dir, ".tmp", NULL) == 1);

    p2p_db db = 0;
    EXPECT(P2P_OK, p2p_db_open(path, NULL, &db, &err)); /* opening removes the leftover */
    CHECK(count_files(blobs_dir, ".tmp", NULL) == 0);
    CHECK(count_files(blobs_dir, ".blob", NULL) == 0);
    EXPECT(P2P_OK, p2p_db_close(db, &err));
    free(path);
    free(blobs_dir);
}

static void test_bad_input(p2p_db db)
{
    char *out = NULL;
    p2p_blob_reader r = 0;
    p2p_blob_writer w = 0;
    uint8_t buf[4];
    size_t n = 0;
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_blob_create(db, NULL, 3, NULL, &out, &err));
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_blob_create(db, (const uint8_t *)"x", 1, NULL, NULL, &err));
    EXPECT(P2P_ERR_INVALID_HANDLE, p2p_blob_create(0, (const uint8_t *)"x", 1, NULL, &out, &err));
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_blob_reader_open(db, "not a digest", &r, &err));
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_blob_reader_open(db, "{\"@type\":\"blob\"}", &r, &err));
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_blob_reader_open(db, NULL, &r, &err));
    EXPECT(P2P_ERR_NOT_FOUND, p2p_blob_reader_open(db, "sha1-AAAAAAAAAAAAAAAAAAAAAAAAAAA=", &r, &err));
    CHECK(r == 0);
    EXPECT(P2P_ERR_INVALID_HANDLE, p2p_blob_reader_read(db, buf, sizeof buf, &n, &err)); /* wrong kind */
    EXPECT(P2P_ERR_INVALID_HANDLE, p2p_blob_writer_write(db, buf, 1, &err));
    EXPECT(P2P_OK, p2p_blob_writer_create(db, NULL, &w, &err));
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_blob_writer_write(w, NULL, 5, &err));
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_blob_writer_finish(w, NULL, &err));
    EXPECT(P2P_ERR_BUSY, p2p_db_close(db, &err)); /* the writer is a child of the database */
    EXPECT(P2P_ERR_INVALID_HANDLE, p2p_blob_reader_close(w, &err));
    EXPECT(P2P_OK, p2p_blob_writer_close(w, &err));
    EXPECT(P2P_OK, p2p_blob_writer_close(0, &err));
    EXPECT(P2P_OK, p2p_blob_reader_close(0, &err));
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--crash-child") == 0)
        return crash_child(argv[2]);
    char *dir = make_temp_dir();
    char *path = path_join(dir, "db");
    p2p_db db = 0;
    p2p_collection coll = 0;
    EXPECT(P2P_OK, p2p_db_open(path, NULL, &db, &err));
    EXPECT(P2P_OK, p2p_db_default_collection(db, &coll, &err));
    test_round_trips(db, dir);
    test_documents_and_compaction(db, coll);
    test_bad_input(db);
    EXPECT(P2P_OK, p2p_collection_close(coll, &err));
    EXPECT(P2P_OK, p2p_db_close(db, &err));
    test_corruption(dir);
    test_crash_mid_write(dir, "/proc/self/exe");
    free(path);
    remove_tree(dir);
    return finish("test_blob");
}
