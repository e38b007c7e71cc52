/*
 * The RunPod worker's pure parts, table by table: the URLs built from
 * RunPod's templates as runpod-python builds them, the bodies it posts for
 * a handler's output and for progress, what it takes from a job-take
 * answer, the job input's checks (each bad field named), and the list of
 * jobs in progress the heartbeat reports.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "runpod/runpod_internal.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static void test_urls(void **state)
{
    (void)state;
    static const struct {
        const char *kind, *tmpl, *a, *b, *want;
    } cases[] = {
        {"take", "https://api.runpod.ai/v2/ep/job-take/$ID?gpu=H100", "pod1", "0",
         "https://api.runpod.ai/v2/ep/job-take/pod1?gpu=H100&job_in_progress=0"},
        {"take", "http://h/job-take/$ID", "pod1", "1", "http://h/job-take/pod1?job_in_progress=1"},
        {"take", "http://h/job-take/$ID?", "a b/c", "0", "http://h/job-take/a%20b%2Fc?job_in_progress=0"},
        {"done", "https://h/job-done/$RUNPOD_POD_ID/$ID?gpu=x", "pod1", "job-9",
         "https://h/job-done/pod1/job-9?gpu=x&isStream=false"},
        {"done", "http://h/done/$ID/$ID", "pod1", "j&1", "http://h/done/j%261/j%261?isStream=false"},
        {"ping", "http://h/ping/$RUNPOD_POD_ID", "pod1", "", "http://h/ping/pod1?runpod_version=unmark-" UM_VERSION},
        {"ping", "http://h/ping/$RUNPOD_POD_ID?x=1", "pod1", "j1,j2",
         "http://h/ping/pod1?x=1&job_id=j1%2Cj2&runpod_version=unmark-" UM_VERSION},
        {"retry", "http://h/ping/$RUNPOD_POD_ID", "pod1", "j1",
         "http://h/ping/pod1?job_id=j1&runpod_version=unmark-" UM_VERSION "&retry_ping=1"},
    };
    for (size_t i = 0; i < COUNT(cases); i++) {
        char *url = strcmp(cases[i].kind, "take") == 0
                        ? runpod_job_take_url(cases[i].tmpl, cases[i].a, strcmp(cases[i].b, "1") == 0)
                    : strcmp(cases[i].kind, "done") == 0
                        ? runpod_job_done_url(cases[i].tmpl, cases[i].a, cases[i].b)
                        : runpod_ping_url(cases[i].tmpl, cases[i].a, cases[i].b,
                                          strcmp(cases[i].kind, "retry") == 0);
        assert_string_equal(url, cases[i].want);
        free(url);
    }
}

/* A handler's output, and the body the SDK posts for it (run_job). */
static void test_result_body(void **state)
{
    (void)state;
    static const struct {
        const char *output, *want;
    } cases[] = {
        {"{\"status\":\"success\",\"result\":{\"local_path\":\"/x\"}}",
         "{\"output\":{\"status\":\"success\",\"result\":{\"local_path\":\"/x\"}}}"},
        {"{\"status\":\"error\",\"error\":\"source: missing\"}",
         "{\"output\":{\"status\":\"error\"},\"error\":\"source: missing\"}"},
        {"{\"error\":\"boom\"}", "{\"error\":\"boom\"}"},
        {"{\"error\":\"\",\"a\":1}", "{\"output\":{\"a\":1}}"},
        {"{}", "{}"},
        {"[1,2]", "{\"output\":[1,2]}"},
        {"true", "{\"output\":true}"},
    };
    for (size_t i = 0; i < COUNT(cases); i++) {
        json_t *output = json_loads(cases[i].output, JSON_DECODE_ANY, NULL);
        assert_non_null(output);
        char *body = runpod_result_body(output);
        assert_string_equal(body, cases[i].want);
        free(body);
        json_decref(output);
    }
}

static void test_progress_body(void **state)
{
    (void)state;
    char *body = runpod_progress_body(0.4242, "remove");
    json_t *v = json_loads(body, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(v, "status")), "IN_PROGRESS");
    json_t *output = json_object_get(v, "output");
    assert_float_equal(json_real_value(json_object_get(output, "progress")), 0.42, 1e-9);
    assert_string_equal(json_string_value(json_object_get(output, "stage")), "remove");
    json_decref(v);
    free(body);
}

/* What a job-take answer gives: how many jobs, and the reason for what was
 * left out ("" when nothing was). */
static void test_take_answer(void **state)
{
    (void)state;
    static const struct {
        const char *type, *body;
        size_t jobs;
        const char *why;
    } cases[] = {
        {"application/json", "{\"id\":\"j1\",\"input\":{\"source\":\"a\"}}", 1, ""},
        {"application/json; charset=utf-8", "{\"id\":\"j1\",\"input\":{}}", 1, ""},
        {"application/json", "[{\"id\":\"j1\",\"input\":{}},{\"id\":\"j2\",\"input\":{}}]", 2, ""},
        {"application/json", "[{\"id\":\"j1\",\"input\":{}},{\"input\":{}}]", 1, "job has missing field(s): id"},
        {"application/json", "{\"input\":{}}", 0, "job has missing field(s): id"},
        {"application/json", "{\"id\":\"j1\"}", 0, "job has missing field(s): input"},
        {"application/json", "{}", 0, "job has missing field(s): id, input"},
        {"application/json", "{\"id\":7,\"input\":{}}", 0, "job id is not a non-empty string"},
        {"application/json", "\"text\"", 0, "neither a job nor a list of jobs"},
        {"application/json", "{nope", 0, "not JSON"},
        {"application/json", "", 0, "no content"},
        {"text/html", "{\"id\":\"j1\",\"input\":{}}", 0, "unexpected content type \"text/html\""},
        {"", "{\"id\":\"j1\",\"input\":{}}", 0, "unexpected content type \"\""},
    };
    for (size_t i = 0; i < COUNT(cases); i++) {
        char why[256];
        json_t *jobs = runpod_take_answer(cases[i].type, cases[i].body, strlen(cases[i].body), why, sizeof(why));
        if (json_array_size(jobs) != cases[i].jobs || strncmp(why, cases[i].why, strlen(cases[i].why)) != 0 ||
            (!*cases[i].why && *why))
            fail_msg("answer %s (%s): %zu job(s), \"%s\"; want %zu, \"%s\"", cases[i].body, cases[i].type,
                     json_array_size(jobs), why, cases[i].jobs, cases[i].why);
        json_decref(jobs);
    }
}

/* RunPod puts s3Config beside input; the input gets it unless it has its own. */
static void test_job_input(void **state)
{
    (void)state;
    static const struct {
        const char *job, *want;
    } cases[] = {
        {"{\"id\":\"j\",\"input\":{\"a\":1}}", "{\"a\":1}"},
        {"{\"id\":\"j\",\"input\":{\"a\":1},\"s3Config\":{\"bucketName\":\"b\"}}",
         "{\"a\":1,\"s3Config\":{\"bucketName\":\"b\"}}"},
        {"{\"id\":\"j\",\"input\":{\"s3Config\":{\"bucketName\":\"mine\"}},\"s3Config\":{\"bucketName\":\"b\"}}",
         "{\"s3Config\":{\"bucketName\":\"mine\"}}"},
        {"{\"id\":\"j\",\"input\":\"text\",\"s3Config\":{}}", "\"text\""},
    };
    for (size_t i = 0; i < COUNT(cases); i++) {
        json_t *job = json_loads(cases[i].job, 0, NULL);
        json_t *input = runpod_job_input(job);
        char *text = json_dumps(input, JSON_COMPACT | JSON_ENCODE_ANY);
        assert_string_equal(text, cases[i].want);
        free(text);
        json_decref(input);
        json_decref(job);
    }
}

/* Inputs that fail, each with the start of its error. */
static void test_input_errors(void **state)
{
    (void)state;
    static const struct {
        const char *input, *want;
    } cases[] = {
        {"[1]", "input: must be a JSON object"},
        {"{nope", "input: not JSON"},
        {"{}", "source: missing: give one of source, source_url"},
        {"{\"source\":null}", "source: missing"},
        {"{\"source\":\"\"}", "source: must be a non-empty string"},
        {"{\"source\":3}", "source: must be a non-empty string"},
        {"{\"source\":\"a.mp4\",\"source_base64\":\"AAAA\"}", "source_base64: give one source only, not both source and source_base64"},
        {"{\"source_url\":\"file:///etc/passwd\"}", "source_url: must be an http:// or https:// URL"},
        {"{\"source_s3\":\"s3://b/k\"}", "source_s3: must be an object"},
        {"{\"source_s3\":{\"key\":\"k\"}}", "source_s3.bucket: missing"},
        {"{\"source_s3\":{\"bucket\":\"b\"}}", "source_s3.key: missing"},
        {"{\"source_s3\":{\"bucket\":\"b\",\"key\":\"k\"}}", "source_s3: needs s3Config"},
        {"{\"source_s3_key\":\"k\",\"s3Config\":{\"accessId\":\"a\",\"accessSecret\":\"s\"}}",
         "source_s3_key: needs s3Config.bucketName"},
        {"{\"source\":\"a.mp4\",\"s3Config\":[]}", "s3Config: must be an object"},
        {"{\"source\":\"a.mp4\",\"s3Config\":{\"accessSecret\":\"s\"}}", "s3Config.accessId: missing"},
        {"{\"source\":\"a.mp4\",\"s3Config\":{\"accessId\":\"a\"}}", "s3Config.accessSecret: missing"},
        {"{\"source\":\"a.mp4\",\"s3Config\":{\"accessId\":\"a\",\"accessSecret\":\"s\",\"endpointUrl\":\"ftp://x\"}}",
         "s3Config.endpointUrl: must be an http"},
        {"{\"source\":\"a.mp4\",\"s3Config\":{\"accessId\":\"a\",\"accessSecret\":\"s\",\"forcePathStyle\":1}}",
         "s3Config.forcePathStyle: must be true or false"},
        {"{\"source_url\":\"http://h/a.mp4\",\"source_headers\":[\"X: y\"]}", "source_headers: must be an object"},
        {"{\"source_url\":\"http://h/a.mp4\",\"source_headers\":{\"Bad Name\":\"y\"}}",
         "source_headers.Bad Name: not an HTTP header name"},
        {"{\"source_url\":\"http://h/a.mp4\",\"source_headers\":{\"X\":\"a\\r\\nB: c\"}}",
         "source_headers.X: must be a string of one line"},
        {"{\"source_url\":\"http://h/a.mp4\",\"source_verify_ssl\":\"no\"}", "source_verify_ssl: must be true or false"},
        {"{\"source\":\"a.mp4\",\"filename\":7}", "filename: must be a non-empty string"},
        {"{\"source\":\"a.mp4\",\"output_filename\":\"out.avi\"}", "output_filename: the extension must be one of"},
        {"{\"source\":\"a.mp4\",\"output_filename\":\"noext\"}", "output_filename: the extension must be one of"},
        {"{\"source\":\"a.mp4\",\"s3_prefix\":5}", "s3_prefix: must be a non-empty string"},
        {"{\"source\":\"a.mp4\",\"watermark_config\":[]}", "watermark_config: must be an object"},
        {"{\"source\":\"a.mp4\",\"watermark_config\":{\"colour\":1}}", "watermark_config.colour: unknown option"},
        {"{\"source\":\"a.mp4\",\"watermark_config\":{\"regions\":[[1,2,0,4]]}}", "watermark_config.regions: each must be"},
    };
    for (size_t i = 0; i < COUNT(cases); i++) {
        runpod_input in;
        um_error err = {0};
        assert_int_equal(runpod_input_parse("job-1", cases[i].input, &in, &err), -1);
        if (strncmp(err.msg, cases[i].want, strlen(cases[i].want)) != 0)
            fail_msg("input %s: error \"%s\", want \"%s...\"", cases[i].input, err.msg, cases[i].want);
        assert_int_equal(err.status, UM_ERR_USAGE);
        runpod_input_clear(&in);
    }
}

/* Inputs that pass: the names and the S3 key made from them. */
static void test_input_names(void **state)
{
    (void)state;
    static const struct {
        const char *input, *input_name, *output_name, *key;
    } cases[] = {
        {"{\"source\":\"/data/clip.mov\"}", "clip.mov", "clip_clean.mov", NULL},
        {"{\"source\":\"https://h/v/a.webm?sig=1#t\"}", "a.webm", "a_clean.mp4", NULL},
        {"{\"source_url\":\"https://h/dl?id=3\",\"filename\":\"holiday.mkv\"}", "holiday.mkv", "holiday_clean.mkv", NULL},
        {"{\"source_base64\":\"AAAA\"}", "input", "input_clean.mp4", NULL},
        {"{\"source_base64\":\"AAAA\",\"filename\":\"pic.PNG\"}", "pic.PNG", "pic_clean.PNG", NULL},
        {"{\"source\":\"a.mp4\",\"output_filename\":\"../../etc/x.mp4\"}", "a.mp4", "x.mp4", NULL},
        {"{\"source_s3_key\":\"in/v.mp4\",\"s3Config\":{\"accessId\":\"a\",\"accessSecret\":\"s\",\"bucketName\":\"b\"}}",
         "v.mp4", "v_clean.mp4", "jobs/job-1/v_clean.mp4"},
        {"{\"source\":\"a.mp4\",\"s3_prefix\":\"/out/{job_id}/x/\",\"s3Config\":{\"accessId\":\"a\",\"accessSecret\":\"s\",\"bucketName\":\"b\"}}",
         "a.mp4", "a_clean.mp4", "out/job-1/x/a_clean.mp4"},
        {"{\"source\":\"a.mp4\",\"s3_prefix\":\"/\",\"s3Config\":{\"accessId\":\"a\",\"accessSecret\":\"s\",\"bucketName\":\"b\"}}",
         "a.mp4", "a_clean.mp4", "a_clean.mp4"},
    };
    for (size_t i = 0; i < COUNT(cases); i++) {
        runpod_input in;
        um_error err = {0};
        if (runpod_input_parse("job-1", cases[i].input, &in, &err) < 0)
            fail_msg("input %s: %s", cases[i].input, err.msg);
        assert_string_equal(in.input_name, cases[i].input_name);
        assert_string_equal(in.output_name, cases[i].output_name);
        if (cases[i].key)
            assert_string_equal(in.s3_key, cases[i].key);
        else
            assert_null(in.s3_key);
        runpod_input_clear(&in);
    }
}

/* The fields a full input carries through. */
static void test_input_fields(void **state)
{
    (void)state;
    const char *text =
        "{\"source_url\":\"https://h/a.mp4\",\"source_headers\":{\"Authorization\":\"Bearer t\",\"X-A\":\"1\"},"
        "\"source_verify_ssl\":false,\"s3Config\":{\"accessId\":\"AK\",\"accessSecret\":\"SK\","
        "\"bucketName\":\"bk\",\"endpointUrl\":\"http://127.0.0.1:4568\",\"region\":\"eu-west-1\"},"
        "\"watermark_config\":{\"detector\":\"none\",\"regions\":[[1,2,3,4]]},\"extra\":1}";
    runpod_input in;
    um_error err = {0};
    um_log_set_level(UM_LOG_QUIET);
    assert_int_equal(runpod_input_parse("j", text, &in, &err), 0);
    assert_int_equal(in.kind, RUNPOD_SOURCE_URL);
    assert_string_equal(in.source, "https://h/a.mp4");
    assert_string_equal(in.headers[0], "Authorization: Bearer t");
    assert_string_equal(in.headers[1], "X-A: 1");
    assert_null(in.headers[2]);
    assert_int_equal(in.verify_tls, 0);
    assert_string_equal(in.s3.access_key, "AK");
    assert_string_equal(in.s3.secret_key, "SK");
    assert_string_equal(in.s3.bucket, "bk");
    assert_string_equal(in.s3.endpoint, "http://127.0.0.1:4568");
    assert_string_equal(in.s3.region, "eu-west-1");
    assert_int_equal(in.s3.path_style, 1); /* an endpoint of its own: path style unless told */
    assert_string_equal(in.config, "{\"detector\":\"none\",\"regions\":[[1,2,3,4]]}");
    runpod_input_clear(&in);
    um_log_set_level(UM_LOG_INFO);
}

static void test_jobs_list(void **state)
{
    (void)state;
    runpod_jobs jobs;
    runpod_jobs_init(&jobs);
    static const struct {
        char op;
        const char *id, *want;
    } steps[] = {
        {'+', "a", "a"}, {'+', "bb", "a,bb"}, {'+', "c", "a,bb,c"}, {'-', "b", "a,bb,c"},
        {'-', "bb", "a,c"}, {'-', "a", "c"}, {'-', "c", ""}, {'-', "c", ""}, {'+', "d", "d"},
    };
    for (size_t i = 0; i < COUNT(steps); i++) {
        if (steps[i].op == '+')
            runpod_jobs_add(&jobs, steps[i].id);
        else
            runpod_jobs_remove(&jobs, steps[i].id);
        char *list = runpod_jobs_list(&jobs);
        assert_string_equal(list, steps[i].want);
        free(list);
    }
    runpod_jobs_destroy(&jobs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_urls),          cmocka_unit_test(test_result_body),
        cmocka_unit_test(test_progress_body), cmocka_unit_test(test_take_answer),
        cmocka_unit_test(test_job_input),     cmocka_unit_test(test_input_errors),
        cmocka_unit_test(test_input_names),   cmocka_unit_test(test_input_fields),
        cmocka_unit_test(test_jobs_list),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
