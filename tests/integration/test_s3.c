/*
 * S3 transfers over loopback, run by test_s3.sh, which starts the servers
 * and passes their endpoints:
 *
 *   S3_ENDPOINT, S3_VHOST_ENDPOINT   s3rver, path-style and virtual-hosted
 *                                    (bucket unmark-test; credentials
 *                                    S3RVER/S3RVER, its built-in ones)
 *   S3_VERIFY_ENDPOINT,              a server that answers only requests
 *   S3_VERIFY_VHOST_ENDPOINT         whose SigV4 signature botocore agrees
 *                                    with (VERIFY_ACCESS/VERIFY_SECRET)
 *
 * With "presign ENDPOINT PATH_STYLE BUCKET KEY WHEN TTL TOKEN" it prints a
 * presigned GET URL instead, for test_s3.sh to compare with botocore's.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "itest.h"
#include "unmark/storage.h"

#define BUCKET "unmark-test"

/* An endpoint from the environment test_s3.sh sets. */
static const char *endpoint(const char *name)
{
    const char *value = getenv(name);
    if (!value || !*value)
        fail_msg("$%s is not set: run this test through test_s3.sh", name);
    return value;
}

/* Settings for s3rver; vhost picks the virtual-hosted endpoint. */
static um_storage_s3 s3rver(int vhost)
{
    um_storage_s3 s3;
    um_storage_s3_init(&s3);
    s3.endpoint = endpoint(vhost ? "S3_VHOST_ENDPOINT" : "S3_ENDPOINT");
    s3.path_style = !vhost;
    s3.bucket = BUCKET;
    s3.access_key = "S3RVER";
    s3.secret_key = "S3RVER";
    return s3;
}

/* Writes n pseudo-random bytes (a fixed sequence) to path. */
static void write_random(const char *path, size_t n, uint32_t seed)
{
    unsigned char *data = malloc(n);
    assert_non_null(data);
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        data[i] = (unsigned char)(seed >> 24);
    }
    assert_int_equal(it_write_file(path, data, n), 0);
    free(data);
}

/* Fails unless the two files hold the same bytes. */
static void assert_same_file(const char *a, const char *b)
{
    size_t na, nb;
    unsigned char *da = it_read_file(a, &na), *db = it_read_file(b, &nb);
    assert_non_null(da);
    assert_non_null(db);
    assert_int_equal(na, nb);
    assert_memory_equal(da, db, na);
    free(da);
    free(db);
}

/* Fails unless the call failed with this status and every needle is in
 * its message. */
static void assert_failed(int rc, const um_error *err, um_status status, const char *const *needles)
{
    assert_int_equal(rc, -1);
    if (err->status != status)
        fail_msg("status %d, want %d: %s", err->status, status, err->msg);
    for (const char *const *n = needles; *n; n++)
        if (!strstr(err->msg, *n))
            fail_msg("\"%s\" does not say %s", err->msg, *n);
}
#define ASSERT_FAILED(rc, err, status, ...)                                                        \
    assert_failed((rc), (err), (status), (const char *const[]){__VA_ARGS__, NULL})

/* ---- s3rver ---------------------------------------------------------------- */

/* A few megabytes up and back, byte for byte, with a key that needs
 * encoding; nothing but the two files is left in the folder. */
static void test_put_get_roundtrip(void **state)
{
    const char *dir = *state;
    const char *src = it_join(dir, "src.bin"), *back = it_join(dir, "back.bin");
    write_random(src, 3 * 1024 * 1024 + 17, 1);
    um_storage_s3 s3 = s3rver(0);
    um_error err = {0};
    if (um_storage_s3_put(&s3, "clips/round trip+1 (ü).bin", src, "application/octet-stream",
                          &err) < 0)
        fail_msg("put: %s", err.msg);
    if (um_storage_s3_get(&s3, "clips/round trip+1 (ü).bin", back, 0, &err) < 0)
        fail_msg("get: %s", err.msg);
    assert_same_file(src, back);
    assert_int_equal(it_count_entries(dir), 2);

    /* A second get replaces the file whole. */
    assert_int_equal(it_write_file(back, "old", 3), 0);
    assert_int_equal(um_storage_s3_get(&s3, "clips/round trip+1 (ü).bin", back, 0, &err), 0);
    assert_same_file(src, back);
}

/* A missing key is the source's fault, named with S3's code; no file. */
static void test_get_missing_key(void **state)
{
    const char *dir = *state;
    const char *out = it_join(dir, "missing.bin");
    um_storage_s3 s3 = s3rver(0);
    um_error err = {0};
    ASSERT_FAILED(um_storage_s3_get(&s3, "no/such/key.mp4", out, 0, &err), &err, UM_ERR_INPUT,
                  "s3://" BUCKET "/no/such/key.mp4", "404", "NoSuchKey");
    assert_null(strstr(err.msg, "S3RVER"));
    assert_int_equal(it_count_entries(dir), 0);

    /* The same through the other bucket addressing, and a missing bucket. */
    s3 = s3rver(1);
    um_error_clear(&err);
    ASSERT_FAILED(um_storage_s3_get(&s3, "no/such/key.mp4", out, 0, &err), &err, UM_ERR_INPUT,
                  "NoSuchKey");
    s3 = s3rver(0);
    s3.bucket = "no-such-bucket";
    um_error_clear(&err);
    ASSERT_FAILED(um_storage_s3_get(&s3, "k", out, 0, &err), &err, UM_ERR_INPUT,
                  "s3://no-such-bucket/k", "NoSuchBucket");
    assert_int_equal(it_count_entries(dir), 0);
}

/* An object over the limit fails and leaves nothing; one at the limit
 * is fine. */
static void test_get_over_limit(void **state)
{
    const char *dir = *state;
    const char *src = it_join(dir, "src.bin"), *out = it_join(dir, "out.bin");
    write_random(src, 200000, 2);
    um_storage_s3 s3 = s3rver(0);
    um_error err = {0};
    assert_int_equal(um_storage_s3_put(&s3, "limit.bin", src, NULL, &err), 0);
    ASSERT_FAILED(um_storage_s3_get(&s3, "limit.bin", out, 199999, &err), &err, UM_ERR_INPUT,
                  "s3://" BUCKET "/limit.bin", "199999");
    assert_false(it_exists(out));
    assert_int_equal(it_count_entries(dir), 1);
    um_error_clear(&err);
    assert_int_equal(um_storage_s3_get(&s3, "limit.bin", out, 200000, &err), 0);
    assert_same_file(src, out);
}

/* Upload errors are output errors naming the object and S3's code. */
static void test_put_errors(void **state)
{
    const char *dir = *state;
    const char *src = it_join(dir, "src.bin");
    write_random(src, 1000, 3);
    um_storage_s3 s3 = s3rver(0);
    s3.bucket = "no-such-bucket";
    um_error err = {0};
    ASSERT_FAILED(um_storage_s3_put(&s3, "a/b.mp4", src, "video/mp4", &err), &err, UM_ERR_OUTPUT,
                  "s3://no-such-bucket/a/b.mp4", "404", "NoSuchBucket");
    s3 = s3rver(0);
    um_error_clear(&err);
    ASSERT_FAILED(um_storage_s3_put(&s3, "k", it_join(dir, "absent.bin"), NULL, &err), &err,
                  UM_ERR_OUTPUT, "absent.bin");
    um_error_clear(&err);
    ASSERT_FAILED(um_storage_s3_put(&s3, "k", dir, NULL, &err), &err, UM_ERR_OUTPUT,
                  "not a regular file");
}

/* Collects a response body. */
typedef struct {
    unsigned char *data;
    size_t size;
} buffer;

static size_t collect(char *data, size_t size, size_t nmemb, void *opaque)
{
    buffer *b = opaque;
    size_t n = size * nmemb;
    unsigned char *grown = realloc(b->data, b->size + n);
    if (!grown)
        return 0;
    memcpy(grown + b->size, data, n);
    b->data = grown;
    b->size += n;
    return n;
}

/* A plain GET of url with libcurl (no credentials): the status, and the
 * body in *body. */
static long plain_get(const char *url, buffer *body)
{
    CURL *curl = curl_easy_init();
    assert_non_null(curl);
    long status = 0;
    assert_int_equal(curl_easy_setopt(curl, CURLOPT_URL, url), CURLE_OK);
    assert_int_equal(curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect), CURLE_OK);
    assert_int_equal(curl_easy_setopt(curl, CURLOPT_WRITEDATA, body), CURLE_OK);
    assert_int_equal(curl_easy_perform(curl), CURLE_OK);
    assert_int_equal(curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status), CURLE_OK);
    curl_easy_cleanup(curl);
    return status;
}

/* A presigned URL fetches the object with no credentials of its own,
 * path-style and virtual-hosted; an expired one is refused. */
static void test_presigned_get(void **state)
{
    const char *dir = *state;
    const char *src = it_join(dir, "src.bin");
    write_random(src, 300000, 4);
    for (int vhost = 0; vhost <= 1; vhost++) {
        um_storage_s3 s3 = s3rver(vhost);
        um_error err = {0};
        assert_int_equal(um_storage_s3_put(&s3, "shared/result file.bin", src, NULL, &err), 0);
        char *url = NULL;
        assert_int_equal(
            um_storage_s3_presign_get(&s3, "shared/result file.bin", 600, time(NULL), &url, &err),
            0);
        buffer body = {0};
        assert_int_equal(plain_get(url, &body), 200);
        size_t n;
        unsigned char *want = it_read_file(src, &n);
        assert_int_equal(body.size, n);
        assert_memory_equal(body.data, want, n);
        free(want);
        free(body.data);
        free(url);

        /* Signed an hour ago for a minute: expired. */
        assert_int_equal(um_storage_s3_presign_get(&s3, "shared/result file.bin", 60,
                                                   time(NULL) - 3600, &url, &err),
                         0);
        body = (buffer){0};
        assert_int_equal(plain_get(url, &body), 403);
        free(body.data);
        free(url);
    }
}

/* Virtual-hosted requests name the bucket in the host, and reach the same
 * bucket as path-style ones. */
static void test_virtual_hosted(void **state)
{
    const char *dir = *state;
    um_storage_s3 vhost = s3rver(1), path = s3rver(0);
    char want[256];
    const char *ep = endpoint("S3_VHOST_ENDPOINT");
    snprintf(want, sizeof(want), "http://%s.%s/a%%20b/c.mp4", BUCKET, ep + strlen("http://"));
    char *url = um_storage_s3_object_url(&vhost, "a b/c.mp4");
    assert_string_equal(url, want);
    free(url);

    const char *src = it_join(dir, "src.bin"), *back = it_join(dir, "back.bin");
    write_random(src, 50000, 5);
    um_error err = {0};
    if (um_storage_s3_put(&vhost, "vhost/obj.bin", src, NULL, &err) < 0)
        fail_msg("put: %s", err.msg);
    assert_int_equal(um_storage_s3_get(&path, "vhost/obj.bin", back, 0, &err), 0);
    assert_same_file(src, back);
}

/* ---- signatures checked by botocore ---------------------------------------- */

static um_storage_s3 verifier(int vhost)
{
    um_storage_s3 s3;
    um_storage_s3_init(&s3);
    s3.endpoint = endpoint(vhost ? "S3_VERIFY_VHOST_ENDPOINT" : "S3_VERIFY_ENDPOINT");
    s3.path_style = !vhost;
    s3.region = "eu-central-1";
    s3.bucket = BUCKET;
    s3.access_key = endpoint("VERIFY_ACCESS");
    s3.secret_key = endpoint("VERIFY_SECRET");
    return s3;
}

/* The requests get and put send are signed as botocore signs them, with
 * a key that needs encoding, a content type and a session token, in both
 * addressings; with the wrong secret they are refused, so the server
 * does check. */
static void test_signatures_match_botocore(void **state)
{
    const char *dir = *state;
    const char *src = it_join(dir, "src.bin"), *back = it_join(dir, "back.bin");
    write_random(src, 70000, 6);
    for (int vhost = 0; vhost <= 1; vhost++) {
        um_storage_s3 s3 = verifier(vhost);
        const char *key = "in/a b+c~(1)%=ü.mp4";
        for (int token = 0; token <= 1; token++) {
            s3.session_token = token ? "FwoGZXIvYXdzEJr//token+/=" : NULL;
            um_error err = {0};
            if (um_storage_s3_put(&s3, key, src, token ? "video/mp4" : NULL, &err) < 0)
                fail_msg("put (vhost %d, token %d): %s", vhost, token, err.msg);
            if (um_storage_s3_get(&s3, key, back, 0, &err) < 0)
                fail_msg("get (vhost %d, token %d): %s", vhost, token, err.msg);
            assert_same_file(src, back);
        }
        s3.secret_key = "not-the-secret";
        um_error err = {0};
        ASSERT_FAILED(um_storage_s3_get(&s3, key, back, 0, &err), &err, UM_ERR_INPUT, "403",
                      "SignatureDoesNotMatch");
        assert_null(strstr(err.msg, "not-the-secret"));
        um_error_clear(&err);
        ASSERT_FAILED(um_storage_s3_put(&s3, key, src, NULL, &err), &err, UM_ERR_OUTPUT, "403",
                      "SignatureDoesNotMatch");
    }
}

/* ---- presign mode ---------------------------------------------------------- */

/* Prints the presigned GET URL for test_s3.sh, with the credentials and
 * region its presign.py gives botocore. */
static int print_presigned(char **argv)
{
    um_storage_s3 s3;
    um_storage_s3_init(&s3);
    s3.endpoint = argv[0];
    s3.path_style = atoi(argv[1]);
    s3.bucket = argv[2];
    s3.region = "eu-west-3";
    s3.access_key = "AKIDEXAMPLE";
    s3.secret_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    s3.session_token = *argv[6] ? argv[6] : NULL;
    char *url = NULL;
    um_error err = {0};
    if (um_storage_s3_presign_get(&s3, argv[3], atoi(argv[5]), (time_t)atoll(argv[4]), &url, &err) <
        0) {
        fprintf(stderr, "presign: %s\n", err.msg);
        return 1;
    }
    printf("%s\n", url);
    free(url);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 9 && strcmp(argv[1], "presign") == 0)
        return print_presigned(argv + 2);
    if (argc != 1) {
        fprintf(stderr, "usage: %s [presign ENDPOINT PATH_STYLE BUCKET KEY WHEN TTL TOKEN]\n",
                argv[0]);
        return 2;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_put_get_roundtrip, it_setup_tmpdir,
                                        it_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(test_get_missing_key, it_setup_tmpdir, it_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(test_get_over_limit, it_setup_tmpdir, it_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(test_put_errors, it_setup_tmpdir, it_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(test_presigned_get, it_setup_tmpdir, it_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(test_virtual_hosted, it_setup_tmpdir, it_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(test_signatures_match_botocore, it_setup_tmpdir,
                                        it_teardown_tmpdir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
