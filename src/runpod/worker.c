/*
 * The worker loop, as the SDK's JobScaler (rp_scale.py) runs it with one
 * job at a time: take a job (a long poll of up to 90 s), run it, post its
 * result, take the next. No job (204, or 400 as FlashBoot answers) is
 * asked again after a second; 429 waits 5 s, as the SDK's debounce; other
 * failures wait 1, 2, 4 ... 30 s. A result post is tried three times (the
 * SDK's aiohttp-retry FibonacciRetry: 2 s, then 3 s between), and each
 * retry and wait is logged with its reason.
 *
 * Draining: once *stop is set no job is taken (a take in flight is
 * abandoned), but the running job finishes and its result is posted
 * before the worker returns. The heartbeat and the progress reporter run
 * in threads of their own.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "runpod/runpod_internal.h"
#include "unmark/store.h"

#define TAKE_TIMEOUT_MS 90000L    /* the SDK's jobs_fetcher_timeout */
#define IDLE_PAUSE_MS 1000L       /* after "no job" */
#define THROTTLE_PAUSE_MS 5000L   /* after 429 */
#define BACKOFF_MAX_S 30
#define POST_ATTEMPTS 3
#define POST_TIMEOUT_MS 30000L

typedef struct {
    const um_runpod_config *config;
    volatile int *stop;
    char *worker_id;
    runpod_http http;             /* takes and result posts */
    runpod_jobs jobs;             /* taken, not yet answered */
    runpod_reporter *reporter;
    int backoff_s;                /* the last wait after a failed take; 0 after a good one */
} worker;

/* Sleeps ms, waking early when the worker is told to stop. */
static void pause_ms(const worker *w, long ms)
{
    for (long left = ms; left > 0 && !*w->stop; left -= 100) {
        struct timespec t = {0, (left < 100 ? left : 100) * 1000000L};
        nanosleep(&t, NULL);
    }
}

/* A failed take: waits twice as long as the last time, up to 30 s. */
static void back_off(worker *w, const char *why)
{
    w->backoff_s = w->backoff_s ? w->backoff_s * 2 : 1;
    if (w->backoff_s > BACKOFF_MAX_S)
        w->backoff_s = BACKOFF_MAX_S;
    um_log(UM_LOG_WARN, "runpod: get-job failed (%s); retrying in %d s", why, w->backoff_s);
    pause_ms(w, w->backoff_s * 1000L);
}

/* One request to job-take: the jobs it gave (an array, maybe empty). */
static json_t *take_jobs(worker *w)
{
    char *ids = runpod_jobs_list(&w->jobs), why[256];
    char *url = runpod_job_take_url(w->config->get_job_url, w->worker_id, *ids != 0);
    runpod_reply reply;
    um_error err = {0};
    json_t *jobs = NULL;
    if (runpod_http_request(&w->http, url, NULL, NULL, TAKE_TIMEOUT_MS, w->stop, &reply, &err) < 0) {
        if (!*w->stop)
            back_off(w, err.msg);
    } else if (reply.status == 204 || reply.status == 400) {
        um_log(UM_LOG_DEBUG, "runpod: get-job: no job (HTTP %ld)", reply.status);
        w->backoff_s = 0;
        pause_ms(w, IDLE_PAUSE_MS);
    } else if (reply.status == 429) {
        um_log(UM_LOG_WARN, "runpod: get-job answered HTTP 429 (too many requests); backing off %ld s",
               THROTTLE_PAUSE_MS / 1000);
        pause_ms(w, THROTTLE_PAUSE_MS);
    } else if (reply.status != 200) {
        snprintf(why, sizeof(why), "HTTP %ld", reply.status);
        back_off(w, why);
    } else {
        w->backoff_s = 0;
        jobs = runpod_take_answer(reply.content_type, reply.body, reply.size, why, sizeof(why));
        if (*why)
            um_log(UM_LOG_WARN, "runpod: get-job: %s; ignored", why);
    }
    runpod_reply_clear(&reply);
    free(url);
    free(ids);
    return jobs ? jobs : json_array();
}

/* What the progress callback needs. */
typedef struct {
    worker *w;
    int detecting;                /* the job has a detection pass before removal */
} job_progress;

/* The pipeline's progress as the whole job's: detection and the matte
 * pass take about a third of a job that has them (as the job service
 * counts it). */
static void on_progress(void *opaque, const um_progress *p)
{
    job_progress *jp = opaque;
    double f = p->frames_total > 0 ? (double)p->frames_done / (double)p->frames_total : 0;
    f = f > 1 ? 1 : f;
    if (strcmp(p->stage, "remove") != 0)
        jp->detecting = 1;
    double overall = !jp->detecting                  ? f
                     : strcmp(p->stage, "detect") == 0 ? 0.25 * f
                     : strcmp(p->stage, "matte") == 0  ? 0.25 + 0.1 * f
                                                       : 0.35 + 0.65 * f;
    runpod_reporter_update(jp->w->reporter, overall, p->stage);
}

static void sleep_s(int seconds)
{
    struct timespec t = {seconds, 0};
    nanosleep(&t, NULL);
}

/* Posts a job's result, retrying transport failures, 429 and 5xx. Not cut
 * short by stop: draining means posting what was done. */
static void post_result(worker *w, const char *job_id, const char *body)
{
    static const int waits[POST_ATTEMPTS - 1] = {2, 3};
    char *url = runpod_job_done_url(w->config->post_output_url, w->worker_id, job_id), why[1100];
    for (int attempt = 1;; attempt++) {
        runpod_reply reply;
        um_error err = {0};
        int rc = runpod_http_request(&w->http, url, body, job_id, POST_TIMEOUT_MS, NULL, &reply, &err);
        long status = rc == 0 ? reply.status : 0;
        runpod_reply_clear(&reply);
        if (rc == 0 && status < 400) {
            um_log(UM_LOG_DEBUG, "runpod: job %s: result posted (HTTP %ld)", job_id, status);
            break;
        }
        if (rc < 0)
            snprintf(why, sizeof(why), "%s", err.msg);
        else
            snprintf(why, sizeof(why), "HTTP %ld", status);
        if (attempt == POST_ATTEMPTS || (rc == 0 && status < 500 && status != 429)) {
            um_log(UM_LOG_ERROR, "runpod: job %s: the result could not be posted (%s)", job_id, why);
            break;
        }
        um_log(UM_LOG_WARN, "runpod: job %s: posting the result failed (%s); retrying in %d s (attempt %d of %d)",
               job_id, why, waits[attempt - 1], attempt + 1, POST_ATTEMPTS);
        sleep_s(waits[attempt - 1]);
    }
    free(url);
}

/* Runs one taken job and posts what the SDK would post for its output. */
static void run_one(worker *w, json_t *job)
{
    const char *id = json_string_value(json_object_get(job, "id"));
    json_t *input = runpod_job_input(job);
    char *text = um_check_alloc(json_dumps(input, JSON_COMPACT | JSON_ENCODE_ANY), "a job's input");
    char *output = NULL;
    um_error err = {0};
    job_progress jp = {w, 0};
    um_log(UM_LOG_INFO, "runpod: job %s: taken", id);
    runpod_reporter_begin(w->reporter, id);
    int ok = runpod_run_job(w->config, id, text, on_progress, &jp, &output, &err) == 0;
    runpod_reporter_end(w->reporter);
    if (ok)
        um_log(UM_LOG_INFO, "runpod: job %s: done", id);
    else
        um_log(UM_LOG_WARN, "runpod: job %s: failed: %s", id, err.msg);
    json_t *answer = json_loads(output, 0, NULL);
    char *body = runpod_result_body(answer);
    post_result(w, id, body);
    runpod_jobs_remove(&w->jobs, id);
    free(body);
    json_decref(answer);
    free(output);
    free(text);
    json_decref(input);
}

/* The worker's id: the pod's, else a random one (as the SDK makes it). */
static char *make_worker_id(const um_runpod_config *c)
{
    if (c->pod_id && *c->pod_id)
        return um_xstrdup(c->pod_id);
    um_job job;
    um_job_new_id(&job);
    return um_xstrdup(job.id);
}

/* The start's one line: who, from where, pings, data, hardware. */
static void log_start(const worker *w, int pinging)
{
    const um_runpod_config *c = w->config;
    um_media_hw hw;
    char hw_text[512], take[512], pings[64];
    um_media_hw_probe(&hw);
    um_media_hw_describe(&hw, hw_text, sizeof(hw_text));
    runpod_url_for_log(c->get_job_url, take, sizeof(take));
    if (pinging)
        snprintf(pings, sizeof(pings), "pinging every %d ms", c->ping_interval_ms);
    else
        snprintf(pings, sizeof(pings), "no pings");
    um_log(UM_LOG_INFO, "runpod: worker %s taking jobs from %s, one at a time; %s; data %s/runpod; hardware: %s",
           w->worker_id, take, pings, c->data_dir, hw_text);
}

static int check_urls(const um_runpod_config *c, um_error *err)
{
    if (!c->get_job_url || !*c->get_job_url) {
        um_error_set(err, UM_ERR_USAGE, "RUNPOD_WEBHOOK_GET_JOB is not set: where the worker takes jobs from");
        return -1;
    }
    if (!c->post_output_url || !*c->post_output_url) {
        um_error_set(err, UM_ERR_USAGE, "RUNPOD_WEBHOOK_POST_OUTPUT is not set: where results go");
        return -1;
    }
    return 0;
}

int um_runpod_run_worker(const um_runpod_config *c, um_error *err)
{
    static volatile int never;
    worker w = {.config = c, .stop = c->stop ? c->stop : &never};
    runpod_heartbeat *hb = NULL;
    int result = -1;
    if (check_urls(c, err) < 0)
        return -1;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        um_error_set(err, UM_ERR_OTHER, "libcurl cannot start");
        return -1;
    }
    w.worker_id = make_worker_id(c);
    runpod_jobs_init(&w.jobs);
    if (runpod_http_open(&w.http, c->api_key, err) < 0 ||
        runpod_reporter_start(&w.reporter, c, w.worker_id, err) < 0 ||
        runpod_heartbeat_start(&hb, c, w.worker_id, &w.jobs, err) < 0)
        goto fail;
    log_start(&w, hb != NULL);
    while (!*w.stop) {
        json_t *jobs = take_jobs(&w);
        for (size_t i = 0; i < json_array_size(jobs); i++)
            runpod_jobs_add(&w.jobs, json_string_value(json_object_get(json_array_get(jobs, i), "id")));
        for (size_t i = 0; i < json_array_size(jobs); i++)
            run_one(&w, json_array_get(jobs, i));
        json_decref(jobs);
    }
    um_log(UM_LOG_INFO, "runpod: stopping: no job running, none is taken any more");
    result = 0;
fail:
    runpod_heartbeat_stop(&hb);
    runpod_reporter_stop(&w.reporter);
    runpod_http_close(&w.http);
    runpod_jobs_destroy(&w.jobs);
    free(w.worker_id);
    curl_global_cleanup();
    return result;
}
