/* check.h — tiny assertion helpers shared by the C tests. */
#ifndef P2PSYNC_TEST_CHECK_H
#define P2PSYNC_TEST_CHECK_H

#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "p2psync.h"

#define CHECK(cond)                                                              \
    do {                                                                         \
        if (!(cond)) {                                                           \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
            exit(1);                                                             \
        }                                                                        \
    } while (0)

/* EXPECT(status, call): `call` must return `status`. The call's last argument is
 * &err (a p2p_error in scope); its message is printed on a mismatch, and disposed. */
#define EXPECT(want, call) expect_status((want), (call), &err, #call, __FILE__, __LINE__)

static inline void expect_status(int32_t want, int32_t got, p2p_error *err, const char *what,
                                 const char *file, int line)
{
    if (got != want) {
        fprintf(stderr, "%s:%d: %s\n  returned %s (%d), expected %s (%d); error: domain %d code %d: %s\n",
                file, line, what, p2p_status_string(got), got, p2p_status_string(want), want,
                err->domain, err->code, err->message ? err->message : "(none)");
        exit(1);
    }
    if (want != P2P_OK) {
        /* every failure must explain itself */
        if (err->message == NULL || err->message[0] == '\0' || err->domain == 0) {
            fprintf(stderr, "%s:%d: %s failed without an error message\n", file, line, what);
            exit(1);
        }
        if (err->domain == P2P_DOMAIN_LIBRARY && err->code != got) {
            fprintf(stderr, "%s:%d: %s: library-domain code %d differs from status %d\n", file, line, what,
                    err->code, got);
            exit(1);
        }
    }
    p2p_error_dispose(err);
}

/* Contains: the text contains the fragment. */
#define CHECK_CONTAINS(text, fragment) CHECK((text) != NULL && strstr((text), (fragment)) != NULL)

/* Makes a fresh temporary directory; the caller removes it with remove_tree. */
static inline char *make_temp_dir(void)
{
    const char *base = getenv("TMPDIR");
    char tmpl[512];
    snprintf(tmpl, sizeof tmpl, "%s/p2psync-test-XXXXXX", base ? base : "/tmp");
    char *dir = mkdtemp(tmpl);
    CHECK(dir != NULL);
    return strdup(dir);
}

static inline char *path_join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    CHECK(p != NULL);
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

static inline void remove_tree(char *dir)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
    free(dir);
}

static inline void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static inline double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Every test ends here: no handle may outlive the test. */
static inline int finish(const char *name)
{
    uint64_t live = p2p_debug_live_handles();
    if (live != 0) {
        fprintf(stderr, "%s: %llu handle(s) still live\n", name, (unsigned long long)live);
        return 1;
    }
    printf("%s: OK\n", name);
    return 0;
}

#endif
