/* `unmark runpod`: a RunPod serverless worker, or one local test job (see
 * unmark help runpod). */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "unmark/runpod.h"

enum { OPT_TEST_INPUT = 256, OPT_DATA, OPT_HELP };

static const struct option runpod_options[] = {
    {"test_input", required_argument, NULL, OPT_TEST_INPUT},
    {"test-input", required_argument, NULL, OPT_TEST_INPUT},
    {"data", required_argument, NULL, OPT_DATA},
    {"quiet", no_argument, NULL, 'q'},
    {"verbose", no_argument, NULL, 'v'},
    {"help", no_argument, NULL, OPT_HELP},
    {NULL, 0, NULL, 0},
};

#define TEST_INPUT_FILE "test_input.json"
#define MAX_TEST_INPUT (64L << 20)
#define MIN_PING_INTERVAL_MS 50
#define MAX_PING_INTERVAL_MS 3600000

/* The environment: RunPod's variables, UNMARK_DATA, UNMARK_ALLOW_PRIVATE_URLS
 * and UNMARK_RESULT_TTL (read as every command reads them), and the codec
 * defaults. S3 credentials come with each job (s3Config), never from here. */
static int runpod_defaults(um_runpod_config *c, um_error *err)
{
    const char *s;
    cli_storage st;
    if (cli_storage_defaults(&st, err) < 0)
        return -1;
    c->allow_private = st.allow_private_urls;
    c->result_ttl = st.result_ttl;
    c->get_job_url = getenv("RUNPOD_WEBHOOK_GET_JOB");
    c->post_output_url = getenv("RUNPOD_WEBHOOK_POST_OUTPUT");
    c->ping_url = getenv("RUNPOD_WEBHOOK_PING");
    c->pod_id = getenv("RUNPOD_POD_ID");
    c->api_key = getenv("RUNPOD_AI_API_KEY");
    if ((s = getenv("UNMARK_DATA")) && *s)
        c->data_dir = s;
    if ((s = getenv("RUNPOD_PING_INTERVAL")) && *s &&
        cli_parse_int(s, "RUNPOD_PING_INTERVAL (ms)", MIN_PING_INTERVAL_MS, MAX_PING_INTERVAL_MS,
                      &c->ping_interval_ms, err) < 0)
        return -1;
    return cli_media_defaults(&c->media, err);
}

/* ./test_input.json's text, or NULL when there is none (err set when it
 * is there but cannot be read). */
static char *read_test_file(um_error *err)
{
    FILE *f = fopen(TEST_INPUT_FILE, "rb");
    if (!f) {
        if (errno != ENOENT)
            um_error_set(err, UM_ERR_INPUT, "cannot read ./%s: %s", TEST_INPUT_FILE, strerror(errno));
        return NULL;
    }
    char *text = NULL;
    long size = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    if (size >= 0 && size <= MAX_TEST_INPUT && fseek(f, 0, SEEK_SET) == 0) {
        text = um_xmalloc((size_t)size + 1);
        if (fread(text, 1, (size_t)size, f) == (size_t)size) {
            text[size] = 0;
        } else {
            free(text);
            text = NULL;
        }
    }
    fclose(f);
    if (!text)
        um_error_set(err, UM_ERR_INPUT, "cannot read ./%s: unreadable or larger than 64 MiB", TEST_INPUT_FILE);
    return text;
}

/* The SDK's local test: the job's output on stdout; 1 when it failed. */
static int run_local(const um_runpod_config *c, const char *job_json)
{
    char *output = NULL;
    um_error err = {0};
    int rc = um_runpod_run_local(c, job_json, &output, &err);
    printf("%s\n", output);
    fflush(stdout);
    free(output);
    if (rc < 0)
        um_log(UM_LOG_ERROR, "runpod: the test job failed: %s", err.msg);
    return rc < 0 ? 1 : 0;
}

/* Picks the mode as the SDK does: a test input (the flag, else
 * ./test_input.json when RUNPOD_WEBHOOK_GET_JOB is unset) runs locally;
 * otherwise the worker runs. */
static int run(um_runpod_config *c, const char *test_input)
{
    um_error err = {0};
    if (test_input) {
        c->cancel = cli_cancel_on_signals();
        return run_local(c, test_input);
    }
    if (!c->get_job_url || !*c->get_job_url) {
        char *text = read_test_file(&err);
        if (!text && err.status)
            return cli_fail(&err);
        if (!text) {
            um_error_set(&err, UM_ERR_USAGE,
                         "nothing to run: RUNPOD_WEBHOOK_GET_JOB is not set (the worker's job URL, set on "
                         "RunPod), and there is no --test_input JSON or ./%s for a local test",
                         TEST_INPUT_FILE);
            return cli_fail(&err);
        }
        c->cancel = cli_cancel_on_signals();
        int rc = run_local(c, text);
        free(text);
        return rc;
    }
    /* SIGTERM drains: the running job finishes and is posted. */
    c->stop = cli_cancel_on_signals();
    signal(SIGPIPE, SIG_IGN);
    return um_runpod_run_worker(c, &err) < 0 ? cli_fail(&err) : 0;
}

int cli_runpod(int argc, char **argv)
{
    um_runpod_config c;
    um_error err = {0};
    const char *test_input = NULL;
    int opt;
    um_runpod_config_init(&c);
    if (runpod_defaults(&c, &err) < 0)
        return cli_fail(&err);
    optind = 1;
    while ((opt = getopt_long(argc, argv, "qv", runpod_options, NULL)) != -1) {
        switch (opt) {
        case OPT_TEST_INPUT: test_input = optarg; break;
        case OPT_DATA: c.data_dir = optarg; break;
        case 'q': um_log_set_level(UM_LOG_ERROR); break;
        case 'v': um_log_set_level(UM_LOG_DEBUG); break;
        case OPT_HELP: return cli_help("runpod");
        default:
            um_error_set(&err, UM_ERR_USAGE, "unknown option for runpod (see unmark help runpod)");
            return cli_fail(&err);
        }
    }
    if (optind < argc) {
        um_error_set(&err, UM_ERR_USAGE, "runpod takes no arguments, got \"%s\"", argv[optind]);
        return cli_fail(&err);
    }
    return run(&c, test_input);
}
