/*
 * Workers: threads that claim queued jobs from the store and run them
 * through the pipeline, one at a time each. Progress goes to the store a
 * couple of times a second, and each time the worker looks whether the job
 * was canceled meanwhile: the pipeline then stops and leaves no output. On
 * shutdown a running job is interrupted and left processing, so the next
 * start queues it again (um_store_recover).
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "service/service_internal.h"
#include "unmark/pipeline.h"
#include "unmark/storage.h"

/* How often an idle worker looks at the queue when nothing wakes it. */
#define IDLE_POLL_MS 500
/* How often a running job's progress is written, seconds. */
#define PROGRESS_PERIOD 0.5

struct worker_pool {
    service_state *state;
    pthread_t *threads;
    int count;
    volatile int stop;
};

typedef struct {
    worker_pool *pool;
    const char *id;
    volatile int cancel;
    double last_write;
    int detecting;            /* the job has a detection pass before removal */
} running_job;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The whole job's progress from a stage's: detection and the matte pass
 * take about a third of a job that has them. */
static double overall(const running_job *r, const um_progress *p)
{
    double f = p->frames_total > 0 ? (double)p->frames_done / (double)p->frames_total : 0;
    f = f > 1 ? 1 : f;
    if (!r->detecting)
        return f;
    if (strcmp(p->stage, "detect") == 0)
        return 0.25 * f;
    if (strcmp(p->stage, "matte") == 0)
        return 0.25 + 0.1 * f;
    return 0.35 + 0.65 * f;
}

/* Writes progress now and then, and stops the job when it was canceled or
 * the service is stopping. */
static void on_progress(void *opaque, const um_progress *p)
{
    running_job *r = opaque;
    if (r->pool->stop)
        r->cancel = 1;
    double t = now();
    if (t - r->last_write < PROGRESS_PERIOD)
        return;
    r->last_write = t;
    um_error err = {0};
    um_job job = {0};
    if (um_store_progress(r->pool->state->store, r->id, overall(r, p), &err) < 0)
        um_log(UM_LOG_WARN, "job %s: cannot record progress: %s", r->id, err.msg);
    else if (um_store_get(r->pool->state->store, r->id, &job, &err) == 1 &&
             job.status == UM_JOB_CANCELED)
        r->cancel = 1;
    um_job_clear(&job);
}

/* The result's address: the target as an absolute file:// URL. */
static char *result_url(const char *path)
{
    char abs[PATH_MAX];
    if (!realpath(path, abs))
        snprintf(abs, sizeof(abs), "%s", path);
    size_t n = strlen(abs) + 8;
    char *url = um_xmalloc(n);
    snprintf(url, n, "file://%s", abs);
    return url;
}

static void count(service_state *s, int failed)
{
    pthread_mutex_lock(&s->lock);
    s->jobs_run++;
    s->jobs_failed += failed;
    pthread_mutex_unlock(&s->lock);
}

/* How the job's source is fetched: the server's settings, then the job's
 * own source_options (request headers, TLS verification). *headers is
 * the NULL-terminated "Name: value" list the options point into. */
static void source_context(const um_service_config *c, const um_job *job, volatile int *stop,
                           um_storage_context *ctx, char ***headers)
{
    memset(ctx, 0, sizeof(*ctx));
    ctx->s3 = c->s3;
    um_storage_fetch_options_init(&ctx->fetch);
    ctx->fetch.allow_private = c->allow_private_urls;
    ctx->fetch.max_bytes = c->max_upload;
    ctx->fetch.cancel = stop;
    *headers = NULL;
    json_t *o = job->source_options ? json_loads(job->source_options, 0, NULL) : NULL;
    json_t *h = json_object_get(o, "headers"), *v;
    const char *name;
    if (json_is_false(json_object_get(o, "verify_tls")))
        ctx->fetch.verify_tls = 0;
    if (json_object_size(h)) {
        size_t i = 0;
        *headers = um_xcalloc(json_object_size(h) + 1, sizeof(char *));
        json_object_foreach(h, name, v) {
            size_t n = strlen(name) + json_string_length(v) + 3;
            (*headers)[i] = um_xmalloc(n);
            snprintf((*headers)[i++], n, "%s: %s", name, json_string_value(v));
        }
        ctx->fetch.headers = (const char *const *)*headers;
    }
    json_decref(o);
}

static void free_lines(char **lines)
{
    for (size_t i = 0; lines && lines[i]; i++)
        free(lines[i]);
    free(lines);
}

/* Where the pipeline writes: the target itself when it is local, else a
 * file in the job's work folder named like the target's last part. */
static char *output_path(const um_job *job, const char *workdir)
{
    const char *local = job_local_path(job->target_uri);
    if (local)
        return um_xstrdup(local);
    char name[128];
    const char *slash = strrchr(job->target_uri, '/');
    um_storage_sanitize_filename(slash ? slash + 1 : "", "result.mp4", name, sizeof(name));
    return service_path_join(workdir, name, "");
}

/* Publishes the result at output: a local target is already in place
 * (its URL is file://); an s3:// one is uploaded and answered with a
 * presigned GET URL. *url is a new string. */
static int publish(const um_service_config *c, const um_job *job, const char *output, char **url,
                   um_error *err)
{
    if (job_local_path(job->target_uri)) {
        *url = result_url(output);
        return 0;
    }
    char *bucket = NULL, *key = NULL;
    um_storage_s3 s3 = c->s3;
    int result = -1;
    if (um_storage_parse_s3_uri(job->target_uri, &bucket, &key, err) < 0)
        goto fail;
    s3.bucket = bucket;
    if (um_storage_s3_put(&s3, key, output, um_storage_content_type(output), err) < 0 ||
        um_storage_s3_presign_get(&s3, key, c->result_ttl, time(NULL), url, err) < 0)
        goto fail;
    result = 0;
fail:
    free(bucket);
    free(key);
    return result;
}

/* Runs one job: fetch the source, run the pipeline, publish the result.
 * *url gets the result's address on success. */
static int execute(worker_pool *pool, const um_job *job, running_job *r, char **url, um_error *err)
{
    service_state *s = pool->state;
    json_t *holder = NULL;
    job_options o;
    um_region regions[JOB_MAX_REGIONS];
    um_storage_context ctx;
    char workdir[4096] = "", **headers = NULL, *input = NULL, *output = NULL;
    int downloaded = 0, result = -1;
    source_context(s->config, job, &pool->stop, &ctx, &headers);
    if (job_options_parse(job->config, &o, &holder, err) < 0 ||
        service_job_dir(s, "work", job->id, workdir, sizeof(workdir), err) < 0 ||
        um_storage_fetch_source(job->source_uri, &ctx, workdir, &input, &downloaded, err) < 0)
        goto fail;
    output = output_path(job, workdir);
    um_pipeline_job pj;
    um_pipeline_result res;
    job_describe(job, &o, &s->config->media, regions, &pj);
    pj.input = input;
    pj.output = output;
    r->detecting = pj.detect;
    pj.progress = on_progress;
    pj.progress_opaque = r;
    pj.cancel = &r->cancel;
    if (um_pipeline_run(&pj, &res, err) < 0 || publish(s->config, job, output, url, err) < 0)
        goto fail;
    result = 0;
fail:
    if (workdir[0])
        service_remove_tree(workdir);
    json_decref(holder);
    free_lines(headers);
    free(input);
    free(output);
    return result;
}

static void run_job(worker_pool *pool, um_job *job)
{
    service_state *s = pool->state;
    um_error err = {0};
    running_job r = {pool, job->id, 0, 0, 0};
    char *url = NULL;
    char source[1024], target[1024];
    um_storage_redact_url(job->source_uri, source, sizeof(source));
    um_storage_redact_url(job->target_uri, target, sizeof(target));
    um_log(UM_LOG_INFO, "job %s: %s %s -> %s (attempt %d)", job->id, job->job_type, source, target,
           job->attempts);
    int ok = execute(pool, job, &r, &url, &err) == 0;
    if (pool->stop && !ok) {
        um_log(UM_LOG_INFO, "job %s: interrupted by shutdown; it runs again at the next start", job->id);
        return;
    }
    um_error ferr = {0};
    int ended = um_store_finish(s->store, job->id, ok ? UM_JOB_COMPLETED : UM_JOB_FAILED,
                                ok ? NULL : err.msg, url, &ferr);
    if (ended < 0)
        um_log(UM_LOG_ERROR, "job %s: cannot record its end: %s", job->id, ferr.msg);
    else if (ended == 0)
        um_log(UM_LOG_INFO, "job %s: canceled", job->id);
    else
        um_log(ok ? UM_LOG_INFO : UM_LOG_WARN, "job %s: %s%s", job->id, ok ? "completed" : "failed: ",
               ok ? "" : err.msg);
    count(s, !ok);
    free(url);
}

/* Waits for a wake-up or the poll period, whichever comes first. */
static void idle_wait(service_state *s)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += IDLE_POLL_MS * 1000000L;
    until.tv_sec += until.tv_nsec / 1000000000L;
    until.tv_nsec %= 1000000000L;
    pthread_mutex_lock(&s->lock);
    pthread_cond_timedwait(&s->wake, &s->lock, &until);
    pthread_mutex_unlock(&s->lock);
}

static void *worker_main(void *opaque)
{
    worker_pool *pool = opaque;
    while (!pool->stop) {
        um_job job = {0};
        um_error err = {0};
        int got = um_store_claim(pool->state->store, &job, &err);
        if (got < 0)
            um_log(UM_LOG_ERROR, "worker: cannot claim a job: %s", err.msg);
        if (got == 1)
            run_job(pool, &job);
        else
            idle_wait(pool->state);
        um_job_clear(&job);
    }
    return NULL;
}

void service_wake_workers(service_state *s)
{
    pthread_mutex_lock(&s->lock);
    pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->lock);
}

worker_pool *worker_pool_start(service_state *s, int count_)
{
    worker_pool *pool = um_xcalloc(1, sizeof(*pool));
    pool->state = s;
    pool->threads = um_xcalloc((size_t)(count_ > 0 ? count_ : 1), sizeof(pthread_t));
    for (int i = 0; i < count_; i++) {
        if (pthread_create(&pool->threads[i], NULL, worker_main, pool) != 0) {
            um_log(UM_LOG_ERROR, "worker: cannot start thread %d of %d", i + 1, count_);
            break;
        }
        pool->count++;
    }
    return pool;
}

void worker_pool_stop(worker_pool **pool_)
{
    worker_pool *pool = *pool_;
    if (!pool)
        return;
    pool->stop = 1;
    pthread_mutex_lock(&pool->state->lock);
    pthread_cond_broadcast(&pool->state->wake);
    pthread_mutex_unlock(&pool->state->lock);
    for (int i = 0; i < pool->count; i++)
        pthread_join(pool->threads[i], NULL);
    free(pool->threads);
    free(pool);
    *pool_ = NULL;
}
