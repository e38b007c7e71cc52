/*
 * Downloads over real HTTP on loopback (test_fetch.sh starts http_peer.py
 * and passes its base URL in $UNMARK_FETCH_BASE and the folder it serves at
 * /files/ in $UNMARK_FETCH_ROOT): a file comes back byte for byte when
 * private addresses are allowed and is refused, leaving nothing, when they
 * are not; redirects (same host, another host name, a loop); error
 * statuses named; the size limit, announced or not; custom headers sent;
 * cancel and timeout stopping a stalled transfer; and fetch_source over
 * http, data:, a local path and file://.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "itest.h"
#include "unmark/storage.h"

/* ---- the peer ------------------------------------------------------------- */

static const char *env_or_die(const char *name)
{
    const char *v = getenv(name);
    if (!v || !*v) {
        fprintf(stderr, "test_fetch: $%s is not set (run through test_fetch.sh)\n", name);
        exit(1);
    }
    return v;
}

/* The peer's URL for path (which starts with '/'): a new string. */
static char *peer_url(const char *path)
{
    const char *base = env_or_die("UNMARK_FETCH_BASE");
    size_t n = strlen(base) + strlen(path) + 1;
    char *url = malloc(n);
    snprintf(url, n, "%s%s", base, path);
    return url;
}

/* Puts size pseudo-random bytes (from seed) at /files/name; returns them. */
static unsigned char *serve_file(const char *name, size_t size, unsigned seed)
{
    unsigned char *data = malloc(size ? size : 1);
    uint32_t x = seed;
    for (size_t i = 0; i < size; i++) {
        x = x * 1664525u + 1013904223u;
        data[i] = (unsigned char)(x >> 24);
    }
    assert_int_equal(it_write_file(it_join(env_or_die("UNMARK_FETCH_ROOT"), name), data, size), 0);
    return data;
}

static int file_is(const char *path, const void *want, size_t size)
{
    size_t got_size;
    unsigned char *got = it_read_file(path, &got_size);
    int same = got && got_size == size && memcmp(got, want, size) == 0;
    free(got);
    return same;
}

static um_storage_fetch_options private_ok(void)
{
    um_storage_fetch_options o;
    um_storage_fetch_options_init(&o);
    o.allow_private = 1;
    o.timeout_s = 30;
    return o;
}

/* Fetches path from the peer into dir/out.bin and expects a failure of
 * class status whose message contains needle, with nothing left in dir. */
static void expect_fetch_fails(const char *dir, const char *path, const um_storage_fetch_options *o,
                               um_status status, const char *needle)
{
    char *url = peer_url(path);
    um_error err = {0};
    int rc = um_storage_fetch_url(url, o, it_join(dir, "out.bin"), &err);
    IT_CHECK(rc == -1 && err.status == status, "%s: rc %d, status %d (want %d): %s", url, rc,
             err.status, status, err.msg);
    IT_CHECK(strstr(err.msg, needle) != NULL, "%s: \"%s\" does not say \"%s\"", url, err.msg,
             needle);
    IT_CHECK(it_count_entries(dir) == 0, "%s left %d files in %s", url, it_count_entries(dir), dir);
    free(url);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- fetch_url ------------------------------------------------------------ */

/* Allowed, the file comes back byte for byte; refused (the default), the
 * same URL fails naming the loopback address and leaves nothing. */
static void test_private_allowed_or_refused(void **state)
{
    const char *dir = *state;
    size_t size = 3 * 65536 + 17;
    unsigned char *data = serve_file("blob.bin", size, 1);
    char *url = peer_url("/files/blob.bin");
    const char *out = it_join(dir, "blob.bin");
    um_storage_fetch_options o = private_ok();
    um_error err = {0};
    IT_CHECK(um_storage_fetch_url(url, &o, out, &err) == 0, "%s", err.msg);
    IT_CHECK(file_is(out, data, size), "the download differs from the served file");
    IT_CHECK(it_count_entries(dir) == 1, "%d files, want 1", it_count_entries(dir));
    unlink(out);

    um_storage_fetch_options_init(&o);
    expect_fetch_fails(dir, "/files/blob.bin", &o, UM_ERR_INPUT,
                       "address 127.0.0.1 is loopback; refused");
    free(url);
    free(data);
}

/* Redirects are followed, to another path and to another host name; a
 * loop stops after 5; one to file:// is refused. (That a redirect from a
 * public host to a private one is refused cannot be shown on loopback,
 * where the first host is private already.) */
static void test_redirects(void **state)
{
    const char *dir = *state;
    unsigned char *data = serve_file("small.bin", 1000, 2);
    static const char *const paths[] = {"/redirect", "/redirect-host"};
    um_storage_fetch_options o = private_ok();
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        char *url = peer_url(paths[i]);
        const char *out = it_join(dir, "small.bin");
        um_error err = {0};
        IT_CHECK(um_storage_fetch_url(url, &o, out, &err) == 0, "%s: %s", url, err.msg);
        IT_CHECK(file_is(out, data, 1000), "%s: the download differs", url);
        unlink(out);
        free(url);
    }
    expect_fetch_fails(dir, "/redirect-loop", &o, UM_ERR_INPUT, "redirects");
    expect_fetch_fails(dir, "/redirect-file", &o, UM_ERR_INPUT, "\"file\" not supported");
    free(data);
}

/* An error status fails naming it and the URL (without its query), even
 * when its error page is over the size limit. */
static void test_http_errors(void **state)
{
    const char *dir = *state;
    static const struct {
        const char *path, *needle;
    } cases[] = {
        {"/status/404", "/status/404: HTTP status 404"},
        {"/status/403", "/status/403: HTTP status 403"},
        {"/status/500", "HTTP status 500"},
        {"/status/404?token=secret", "/status/404: HTTP status 404"},
        {"/files/missing.bin", "/files/missing.bin: HTTP status 404"},
    };
    um_storage_fetch_options o = private_ok();
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        expect_fetch_fails(dir, cases[i].path, &o, UM_ERR_INPUT, cases[i].needle);
    o.max_bytes = 10;
    expect_fetch_fails(dir, "/status/404", &o, UM_ERR_INPUT, "HTTP status 404");

    char *url = peer_url("/status/404?token=secret");
    um_error err = {0};
    assert_int_equal(um_storage_fetch_url(url, &o, it_join(dir, "out.bin"), &err), -1);
    IT_CHECK(strstr(err.msg, "secret") == NULL, "the query leaked: %s", err.msg);
    free(url);
}

/* max_bytes: a body announced larger fails before any of it is kept; one
 * that turns out larger fails as it arrives; exactly the limit passes. */
static void test_max_bytes(void **state)
{
    const char *dir = *state;
    um_storage_fetch_options o = private_ok();
    o.max_bytes = 50000;
    expect_fetch_fails(dir, "/large?n=100000", &o, UM_ERR_INPUT, "limit of 50000 bytes");
    expect_fetch_fails(dir, "/large-unsized?n=100000", &o, UM_ERR_INPUT, "limit of 50000 bytes");
    expect_fetch_fails(dir, "/large-unsized?n=50001", &o, UM_ERR_INPUT, "limit of 50000 bytes");
    /* /slow announces a megabyte and sends 10 bytes a second: only the
     * announcement can stop it in time */
    o.max_bytes = 1000;
    double t0 = now_s();
    expect_fetch_fails(dir, "/slow", &o, UM_ERR_INPUT, "limit of 1000 bytes");
    IT_CHECK(now_s() - t0 < 5, "stopped after %.1f s", now_s() - t0);
    o.max_bytes = 50000;

    static const char *const paths[] = {"/large?n=50000", "/large-unsized?n=50000"};
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        char *url = peer_url(paths[i]);
        const char *out = it_join(dir, "large.bin");
        um_error err = {0};
        IT_CHECK(um_storage_fetch_url(url, &o, out, &err) == 0, "%s: %s", url, err.msg);
        size_t size = 0;
        unsigned char *got = it_read_file(out, &size);
        IT_CHECK(got && size == 50000 && got[0] == 0 && got[251] == 0 && got[49999] == 49999 % 251,
                 "%s: %zu bytes, or the wrong ones", url, size);
        free(got);
        unlink(out);
        free(url);
    }
}

/* The caller's headers reach the server. */
static void test_custom_headers(void **state)
{
    const char *dir = *state;
    const char *const headers[] = {"X-Unmark-Test: hello-42", "Accept: image/png", NULL};
    static const struct {
        const char *path, *want;
    } cases[] = {
        {"/echo-header/X-Unmark-Test", "hello-42"},
        {"/echo-header/Accept", "image/png"},
        {"/echo-header/User-Agent", "unmark/" UM_VERSION},
    };
    um_storage_fetch_options o = private_ok();
    o.headers = headers;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *url = peer_url(cases[i].path);
        const char *out = it_join(dir, "echo.txt");
        um_error err = {0};
        IT_CHECK(um_storage_fetch_url(url, &o, out, &err) == 0, "%s: %s", url, err.msg);
        IT_CHECK(file_is(out, cases[i].want, strlen(cases[i].want)), "%s: not \"%s\"", url,
                 cases[i].want);
        free(url);
    }
}

typedef struct {
    volatile int *flag;
    int delay_ms;
} cancel_later;

static void *cancel_thread(void *arg)
{
    cancel_later *c = arg;
    struct timespec ts = {c->delay_ms / 1000, (long)(c->delay_ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
    *c->flag = 1;
    return NULL;
}

/* A stalled transfer (one byte every 100 ms of a megabyte) stops soon
 * after *cancel is set, or after timeout_s, leaving nothing. */
static void test_cancel_and_timeout(void **state)
{
    const char *dir = *state;
    volatile int cancel = 0;
    um_storage_fetch_options o = private_ok();
    o.cancel = &cancel;
    cancel_later c = {&cancel, 500};
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, cancel_thread, &c), 0);
    double t0 = now_s();
    expect_fetch_fails(dir, "/slow", &o, UM_ERR_INPUT, "canceled");
    double took = now_s() - t0;
    pthread_join(thread, NULL);
    IT_CHECK(took >= 0.4 && took < 5, "canceled after %.1f s", took);

    /* already set: nothing is fetched */
    expect_fetch_fails(dir, "/files/small.bin", &o, UM_ERR_INPUT, "canceled");

    o = private_ok();
    o.timeout_s = 1;
    t0 = now_s();
    expect_fetch_fails(dir, "/slow", &o, UM_ERR_INPUT, "timed out");
    took = now_s() - t0;
    IT_CHECK(took >= 0.9 && took < 5, "timed out after %.1f s", took);
}

/* ---- fetch_source ------------------------------------------------------------ */

static void expect_source(const char *uri, const um_storage_context *ctx, const char *dir,
                          const char *want_local, int want_downloaded)
{
    char *local = NULL;
    int downloaded = -1;
    um_error err = {0};
    int rc = um_storage_fetch_source(uri, ctx, dir, &local, &downloaded, &err);
    IT_CHECK(rc == 0, "%s: %s", uri, err.msg);
    IT_CHECK(strcmp(local, want_local) == 0 && downloaded == want_downloaded,
             "%s: \"%s\", downloaded %d; want \"%s\", %d", uri, local, downloaded, want_local,
             want_downloaded);
    free(local);
}

/* http downloads are named from the URL path (query dropped; a name taken
 * gets a counter); data: decodes; local paths and file:// stay where they
 * are. A failed download leaves nothing behind. */
static void test_fetch_source(void **state)
{
    const char *dir = *state;
    unsigned char *data = serve_file("clip one.mp4", 5000, 3);
    um_storage_context ctx;
    um_storage_s3_init(&ctx.s3);
    um_storage_fetch_options_init(&ctx.fetch);
    ctx.fetch.allow_private = 1;
    ctx.fetch.timeout_s = 30;

    char *url = peer_url("/files/clip%20one.mp4?sig=abc");
    char want[4096];
    snprintf(want, sizeof(want), "%s/clip_20one.mp4", dir);
    expect_source(url, &ctx, dir, want, 1);
    IT_CHECK(file_is(want, data, 5000), "the http source differs");
    snprintf(want, sizeof(want), "%s/1-clip_20one.mp4", dir);
    expect_source(url, &ctx, dir, want, 1);
    IT_CHECK(file_is(want, data, 5000), "the second http source differs");
    free(url);

    url = peer_url("/redirect");
    snprintf(want, sizeof(want), "%s/redirect", dir);
    expect_source(url, &ctx, dir, want, 1);
    free(url);

    snprintf(want, sizeof(want), "%s/source.png", dir);
    expect_source("data:image/png;base64,iVBORw0KGgo=", &ctx, dir, want, 1);
    IT_CHECK(file_is(want, "\x89PNG\r\n\x1a\n", 8), "the data: source differs");

    const char *local = it_join(env_or_die("UNMARK_FETCH_ROOT"), "clip one.mp4");
    expect_source(local, &ctx, dir, local, 0);
    char file_url[4096];
    snprintf(file_url, sizeof(file_url), "file://%s", local);
    expect_source(file_url, &ctx, dir, local, 0);
    IT_CHECK(it_count_entries(dir) == 4, "%d files in %s, want 4", it_count_entries(dir), dir);

    /* failures leave the folder as it was */
    static const char *const bad[] = {"/status/404", "/files/missing.mp4"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        url = peer_url(bad[i]);
        char *got = NULL;
        int downloaded = -1;
        um_error err = {0};
        IT_CHECK(um_storage_fetch_source(url, &ctx, dir, &got, &downloaded, &err) == -1,
                 "%s succeeded", url);
        IT_CHECK(err.status == UM_ERR_INPUT && strstr(err.msg, "HTTP status 404"), "%s: %s", url,
                 err.msg);
        IT_CHECK(it_count_entries(dir) == 4, "%s: %d files in %s, want 4", url,
                 it_count_entries(dir), dir);
        free(url);
    }
    ctx.fetch.allow_private = 0;
    url = peer_url("/files/clip%20one.mp4");
    char *got = NULL;
    int downloaded = -1;
    um_error err = {0};
    IT_CHECK(um_storage_fetch_source(url, &ctx, dir, &got, &downloaded, &err) == -1, "%s", url);
    IT_CHECK(strstr(err.msg, "loopback") != NULL, "%s", err.msg);
    IT_CHECK(it_count_entries(dir) == 4, "%d files in %s, want 4", it_count_entries(dir), dir);
    free(url);
    free(data);
}

int main(void)
{
#define TMP_TEST(fn) cmocka_unit_test_setup_teardown(fn, it_setup_tmpdir, it_teardown_tmpdir)
    const struct CMUnitTest tests[] = {
        TMP_TEST(test_private_allowed_or_refused),
        TMP_TEST(test_redirects),
        TMP_TEST(test_http_errors),
        TMP_TEST(test_max_bytes),
        TMP_TEST(test_custom_headers),
        TMP_TEST(test_cancel_and_timeout),
        TMP_TEST(test_fetch_source),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
