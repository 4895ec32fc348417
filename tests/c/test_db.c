/* Database module: open options, names, delete, exclusive opening, bad paths, local
 * documents. */
#include "check.h"

#include <sys/stat.h>

static void test_open_close(const char *dir)
{
    p2p_error err = P2P_ERROR_INIT;
    char *path = path_join(dir, "main-db");
    p2p_db db = 0;
    uint8_t exists = 9;
    EXPECT(P2P_OK, p2p_db_exists(path, &exists, &err));
    CHECK(exists == 0);

    p2p_db_options opts;
    memset(&opts, 0xAB, sizeof opts); /* init must overwrite every byte */
    EXPECT(P2P_OK, p2p_db_options_init(&opts, sizeof opts, &err));
    CHECK(opts.struct_size == sizeof opts && opts.disable_create == 0 && opts.max_rev_tree_depth == 0);
    CHECK(opts.disable_delta_sync == 0); /* delta sync permitted by default */
    opts.disable_create = 1;
    EXPECT(P2P_ERR_NOT_FOUND, p2p_db_open(path, &opts, &db, &err));
    CHECK(db == 0);

    opts.disable_create = 0;
    opts.max_rev_tree_depth = 5;
    EXPECT(P2P_OK, p2p_db_open(path, &opts, &db, &err));
    EXPECT(P2P_OK, p2p_db_exists(path, &exists, &err));
    CHECK(exists == 1);

    char *name = NULL, *got_path = NULL, *uuid = NULL;
    EXPECT(P2P_OK, p2p_db_name(db, &name, &err));
    CHECK(strcmp(name, "main-db") == 0);
    EXPECT(P2P_OK, p2p_db_path(db, &got_path, &err));
    CHECK_CONTAINS(got_path, "main-db");
    EXPECT(P2P_OK, p2p_db_uuid(db, &uuid, &err));
    CHECK(strlen(uuid) == 32);
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_db_uuid(db, NULL, &err));

    /* a second opener of the same database is refused */
    p2p_db second = 0;
    EXPECT(P2P_ERR_BUSY, p2p_db_open(path, NULL, &second, &err));
    CHECK(second == 0);
    /* nor can an open database be deleted */
    EXPECT(P2P_ERR_BUSY, p2p_db_delete(path, &err));
    EXPECT(P2P_OK, p2p_db_close(db, &err));

    /* reopened: same UUID */
    opts.disable_create = 1;
    EXPECT(P2P_OK, p2p_db_open(path, &opts, &db, &err));
    char *uuid2 = NULL;
    EXPECT(P2P_OK, p2p_db_uuid(db, &uuid2, &err));
    CHECK(strcmp(uuid, uuid2) == 0);
    EXPECT(P2P_OK, p2p_db_close(db, &err));

    EXPECT(P2P_OK, p2p_db_delete(path, &err));
    EXPECT(P2P_OK, p2p_db_exists(path, &exists, &err));
    CHECK(exists == 0);
    p2p_free(name);
    p2p_free(got_path);
    p2p_free(uuid);
    p2p_free(uuid2);
    free(path);
}

/* Old and future callers: struct_size is honoured (header "options structs"). */
static void test_options_struct_size(const char *dir)
{
    p2p_error err = P2P_ERROR_INIT;
    char *path = path_join(dir, "sized");
    p2p_db db = 0;
    struct {
        p2p_db_options known;
        uint64_t future_field;
    } bigger;
    memset(&bigger, 0xAB, sizeof bigger);
    EXPECT(P2P_OK, p2p_db_options_init(&bigger.known, sizeof bigger, &err)); /* a newer caller */
    CHECK(bigger.known.struct_size == sizeof bigger && bigger.future_field == 0);
    EXPECT(P2P_OK, p2p_db_open(path, &bigger.known, &db, &err)); /* zero tail: accepted */
    EXPECT(P2P_OK, p2p_db_close(db, &err));

    bigger.future_field = 1;
    CHECK(p2p_db_open(path, &bigger.known, &db, &err) == P2P_ERR_UNSUPPORTED);
    CHECK_CONTAINS(err.message, "byte offset 16");
    p2p_error_dispose(&err);

    /* reserved bytes must be zero */
    p2p_db_options reserved = P2P_DB_OPTIONS_INIT;
    reserved.reserved[5] = 1;
    EXPECT(P2P_ERR_UNSUPPORTED, p2p_db_open(path, &reserved, &db, &err));

    /* A shorter (older) caller: fields it lacks take their defaults (zero). The byte
     * beyond its struct_size is never read: disable_create there would refuse the open. */
    p2p_db_options older = P2P_DB_OPTIONS_INIT;
    older.struct_size = P2P_OPTIONS_MIN_SIZE;
    older.disable_create = 1;
    EXPECT(P2P_OK, p2p_db_open(path, &older, &db, &err));
    EXPECT(P2P_OK, p2p_db_close(db, &err));

    /* sizes the rules refuse */
    db = 0;
    p2p_db_options bad = P2P_DB_OPTIONS_INIT;
    bad.struct_size = 4; /* below P2P_OPTIONS_MIN_SIZE */
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_db_open(path, &bad, &db, &err));
    bad.struct_size = 12; /* not a multiple of 8: cuts a field */
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_db_open(path, &bad, &db, &err));
    bad.struct_size = 0;
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_db_open(path, &bad, &db, &err));
    CHECK(db == 0);
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_db_options_init(NULL, sizeof bad, &err));
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_db_options_init(&bad, 4, &err));
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_db_options_init(&bad, (size_t)P2P_OPTIONS_MAX_SIZE + 8, &err));
    /* init writes exactly `size` bytes: an older caller's smaller struct is not overrun */
    struct {
        uint8_t head[P2P_OPTIONS_MIN_SIZE];
        uint8_t guard[8];
    } small;
    memset(&small, 0xAB, sizeof small);
    EXPECT(P2P_OK, p2p_db_options_init((p2p_db_options *)(void *)&small, sizeof small.head, &err));
    CHECK(small.guard[0] == 0xAB && small.guard[7] == 0xAB);
    free(path);
}

static void test_bad_paths(const char *dir)
{
    p2p_error err = P2P_ERROR_INIT;
    p2p_db db = 0;
    /* a path that is a regular file */
    char *file = path_join(dir, "plain-file");
    FILE *f = fopen(file, "w");
    CHECK(f != NULL);
    fputs("not a database", f);
    fclose(f);
    EXPECT(P2P_ERR_IO, p2p_db_open(file, NULL, &db, &err));
    /* a directory nobody can create, not even root */
    EXPECT(P2P_ERR_IO, p2p_db_open("/proc/p2psync-cannot-exist/db", NULL, &db, &err));
    /* not UTF-8 */
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_db_open("/tmp/\xff\xfe-db", NULL, &db, &err));
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_db_open("", NULL, &db, &err));
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_db_open(file, NULL, NULL, &err));
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_db_delete(NULL, &err));
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_db_exists(file, NULL, &err));
    CHECK(db == 0);
    free(file);
}

static void test_local_documents(const char *dir)
{
    p2p_error err = P2P_ERROR_INIT;
    char *path = path_join(dir, "local");
    p2p_db db = 0;
    EXPECT(P2P_OK, p2p_db_open(path, NULL, &db, &err));
    char *json = NULL, *rev = NULL, *rev2 = NULL, *rev3 = NULL;
    EXPECT(P2P_ERR_NOT_FOUND, p2p_db_get_local(db, "checkpoint", &json, &rev, &err));
    EXPECT(P2P_OK, p2p_db_put_local(db, "checkpoint", "{\"seq\":1}", NULL, &rev, &err));
    CHECK(rev != NULL && rev[0] != '\0');
    /* must not exist yet: conflict */
    EXPECT(P2P_ERR_CONFLICT, p2p_db_put_local(db, "checkpoint", "{\"seq\":2}", NULL, NULL, &err));
    EXPECT(P2P_ERR_CONFLICT, p2p_db_put_local(db, "checkpoint", "{\"seq\":2}", "99-local", NULL, &err));
    EXPECT(P2P_OK, p2p_db_put_local(db, "checkpoint", "{\"seq\":2}", rev, &rev2, &err));
    EXPECT(P2P_OK, p2p_db_put_local(db, "checkpoint", "{\"seq\":3}", "*", NULL, &err));
    EXPECT(P2P_OK, p2p_db_get_local(db, "checkpoint", &json, &rev3, &err));
    CHECK_CONTAINS(json, "\"seq\":3");
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_db_put_local(db, "x", "{broken", "*", NULL, &err));
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_db_get_local(db, "checkpoint", NULL, &rev, &err));
    EXPECT(P2P_OK, p2p_db_delete_local(db, "checkpoint", &err));
    EXPECT(P2P_ERR_NOT_FOUND, p2p_db_delete_local(db, "checkpoint", &err));
    p2p_free(json);
    p2p_free(rev);
    p2p_free(rev2);
    p2p_free(rev3);
    EXPECT(P2P_OK, p2p_db_close(db, &err));
    free(path);
}

static long file_size(const char *path)
{
    FILE *f = fopen(path, "rb");
    CHECK(f != NULL);
    CHECK(fseek(f, 0, SEEK_END) == 0);
    long n = ftell(f);
    fclose(f);
    return n;
}

/* Opening a damaged database file reports P2P_ERR_CORRUPT with a message saying what is
 * wrong, promptly, and leaves the file as it was. */
static void expect_corrupt(const char *path, const char *file, const char *fragment)
{
    p2p_error err = P2P_ERROR_INIT;
    p2p_db db = 0;
    long before = file_size(file);
    double start = now_seconds();
    CHECK(p2p_db_open(path, NULL, &db, &err) == P2P_ERR_CORRUPT);
    CHECK(now_seconds() - start < 10);
    CHECK(db == 0);
    CHECK_CONTAINS(err.message, fragment);
    p2p_error_dispose(&err);
    CHECK(file_size(file) == before);
}

static void test_corrupt_files(const char *dir)
{
    p2p_error err = P2P_ERROR_INIT;
    char *path = path_join(dir, "damaged");
    char *file = path_join(path, "db.sqlite3");
    p2p_db db = 0;
    p2p_collection coll = 0;
    p2p_batch batch = 0;
    EXPECT(P2P_OK, p2p_db_open(path, NULL, &db, &err));
    EXPECT(P2P_OK, p2p_db_default_collection(db, &coll, &err));
    EXPECT(P2P_OK, p2p_db_begin_batch(db, &batch, &err));
    for (int i = 0; i < 500; i++) {
        char id[32];
        snprintf(id, sizeof id, "doc-%04d", i);
        EXPECT(P2P_OK, p2p_batch_save_document(batch, coll, id,
                                               "{\"text\":\"0123456789012345678901234567890123456789012345678901234567890123456789\"}",
                                               NULL, 0, NULL, &err));
    }
    EXPECT(P2P_OK, p2p_batch_commit(batch, &err));
    EXPECT(P2P_OK, p2p_collection_close(coll, &err));
    EXPECT(P2P_OK, p2p_db_close(db, &err));
    long size = file_size(file);
    CHECK(size > 8 * 4096);

    CHECK(truncate(file, size / 2) == 0); /* cut in the middle */
    expect_corrupt(path, file, "truncated");
    CHECK(truncate(file, 0) == 0); /* a zero-length file is lost data, not a new database */
    expect_corrupt(path, file, "empty");
    FILE *f = fopen(file, "wb"); /* garbage where the database was */
    CHECK(f != NULL);
    for (int i = 0; i < 3 * 4096; i++)
        fputc((i * 7919) & 0xff, f);
    fclose(f);
    expect_corrupt(path, file, "not a database");
    free(file);
    free(path);
}

int main(void)
{
    char *dir = make_temp_dir();
    test_open_close(dir);
    test_options_struct_size(dir);
    test_bad_paths(dir);
    test_local_documents(dir);
    test_corrupt_files(dir);
    remove_tree(dir);
    return finish("test_db");
}
