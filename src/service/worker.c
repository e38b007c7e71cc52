/*
 * Workers: threads that claim queued jobs from the store and run them
 * through the pipeline, one at a time each, in `unmark serve` and in
 * `unmark worker` alike. Any number of them, in any number of processes on
 * any number of machines, may share one store.
 *
 * Each claim is a lease in the thread's own worker id (HOST:PID:N). A keeper
 * thread renews the running jobs' leases (every third of a lease), gives
 * back to the queue the jobs of workers that died (um_store_reap: their
 * leases ran out), and, on a store that can tell (PostgreSQL), wakes idle
 * workers as soon as a job is queued anywhere; otherwise they look at the
 * queue every second, or when this process's API queues one.
 *
 * Progress goes to the store a couple of times a second. A job that is no
 * longer the worker's (canceled through the API in any process, or its
 * lease lost and the job handed to another worker) is seen there or at the
 * next renewal: the pipeline stops and leaves no output. The result is
 * written beside its target under a hidden name and moved into place (or
 * uploaded) only after a renewal has confirmed the lease, so a worker that
 * lost its job never publishes it. On shutdown a running job is
 * interrupted and released to the queue at once, its attempt not counted.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "service/service_internal.h"
#include "unmark/pipeline.h"
#include "unmark/storage.h"

/* How often an idle worker looks at the queue when nothing wakes it. */
#define IDLE_POLL_MS 1000
/* How often a running job's progress is written, seconds. */
#define PROGRESS_PERIOD 0.5
/* How often the keeper looks for lost workers' jobs, at most, seconds. */
#define REAP_PERIOD 1.0
/* The keeper's longest sleep, so that it notices a stop soon, seconds. */
#define KEEPER_TICK 0.25

/* A worker thread and the job it runs (id "" when idle). */
typedef struct {
    worker_pool *pool;
    pthread_t thread;
    char worker[UM_WORKER_ID_SIZE]; /* HOST:PID:N */
    char id[UM_JOB_ID_SIZE];        /* under pool->lock */
    volatile int cancel;            /* stop the running job */
    double last_write;
    int detecting;                  /* the job has a detection pass before removal */
} running_job;

struct worker_pool {
    service_state *state;
    running_job *workers;
    int count;
    volatile int stop;        /* stop taking jobs, release the running ones */
    volatile int keeper_stop; /* set once the workers are gone */
    pthread_t keeper;
    int keeper_started;
    pthread_mutex_t lock;     /* the workers' job ids */
};

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

/* Writes progress now and then; the job stops when the store says it is no
 * longer this worker's (canceled, lease lost) or the service is stopping. */
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
    int held = um_store_progress(r->pool->state->store, r->id, r->worker, overall(r, p), &err);
    if (held < 0)
        um_log(UM_LOG_WARN, "job %s: cannot record progress: %s", r->id, err.msg);
    else if (!held)
        r->cancel = 1;
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

/* Where the pipeline writes. A local target: beside it, as a hidden
 * .unmark-ID-NAME (the same folder, so moving it into place is a rename;
 * the same extension, so the format is the target's). Else a file in the
 * job's work folder named like the target's last part. */
static char *output_path(const um_job *job, const char *workdir)
{
    const char *local = job_local_path(job->target_uri);
    char name[128];
    if (local) {
        char folder[PATH_MAX], base[PATH_MAX];
        snprintf(folder, sizeof(folder), "%s", local);
        snprintf(base, sizeof(base), "%s", local);
        snprintf(name, sizeof(name), ".unmark-%s-", job->id);
        return service_path_join(dirname(folder), name, basename(base));
    }
    const char *slash = strrchr(job->target_uri, '/');
    um_storage_sanitize_filename(slash ? slash + 1 : "", "result.mp4", name, sizeof(name));
    return service_path_join(workdir, name, "");
}

/* Whether the worker still holds its job, renewing the lease as it asks:
 * 0 and err set when it does not (or the store cannot say), so nothing is
 * published. */
static int still_held(running_job *r, um_error *err)
{
    const service_state *s = r->pool->state;
    int held = um_store_heartbeat(s->store, r->id, r->worker, s->config->lease, err);
    if (held == 0)
        um_error_set(err, UM_ERR_OTHER, "the job is no longer this worker's (%s)", r->worker);
    return held == 1;
}

/* Moves a local result into place; without overwrite, never over a file
 * that appeared at the target while the job ran. */
static int place(const char *output, const char *target, int overwrite, um_error *err)
{
    if (renameat2(AT_FDCWD, output, AT_FDCWD, target, overwrite ? 0 : RENAME_NOREPLACE) == 0)
        return 0;
    /* A file system without RENAME_NOREPLACE (NFS): link() does not replace. */
    if (!overwrite && (errno == EINVAL || errno == ENOSYS) && link(output, target) == 0)
        return unlink(output), 0;
    um_error_set(err, UM_ERR_OUTPUT, "cannot move the result into %s: %s", target,
                 strerror(errno));
    return -1;
}

/* Uploads the result at output to the job's s3:// target: *url is a
 * presigned GET URL for it (a new string). */
static int upload(const um_service_config *c, const um_job *job, const char *output, char **url,
                  um_error *err)
{
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

/* Publishes the result at output, once the lease is confirmed: a local
 * target is moved into place (its URL is file://), an s3:// one uploaded.
 * *url is a new string. */
static int publish(running_job *r, const um_job *job, const char *output, int overwrite,
                   char **url, um_error *err)
{
    const char *local = job_local_path(job->target_uri);
    if (!still_held(r, err))
        return -1;
    if (!local)
        return upload(r->pool->state->config, job, output, url, err);
    if (place(output, local, overwrite, err) < 0)
        return -1;
    *url = result_url(local);
    return 0;
}

/* Runs one job: fetch the source, run the pipeline, publish the result.
 * *url gets the result's address on success. */
static int execute(running_job *r, const um_job *job, char **url, um_error *err)
{
    service_state *s = r->pool->state;
    json_t *holder = NULL;
    job_options o;
    um_region regions[JOB_MAX_REGIONS];
    um_storage_context ctx;
    char workdir[4096] = "", **headers = NULL, *input = NULL, *output = NULL;
    int downloaded = 0, result = -1;
    source_context(s->config, job, &r->cancel, &ctx, &headers);
    if (job_options_parse(job->config, &o, &holder, err) < 0 ||
        service_job_dir(s, "work", job->id, workdir, sizeof(workdir), err) < 0 ||
        um_storage_fetch_source(job->source_uri, &ctx, workdir, &input, &downloaded, err) < 0)
        goto fail;
    output = output_path(job, workdir);
    um_pipeline_job pj;
    um_pipeline_result res;
    job_describe(job, &o, &s->config->media, regions, &pj);
    const char *local = job_local_path(job->target_uri);
    if (local && um_pipeline_check_output(input, local, pj.overwrite, err) < 0)
        goto fail;
    pj.input = input;
    pj.output = output;
    pj.overwrite = 1; /* what an earlier attempt left at the hidden name */
    r->detecting = pj.detect;
    pj.progress = on_progress;
    pj.progress_opaque = r;
    pj.cancel = &r->cancel;
    if (um_pipeline_run(&pj, &res, err) < 0)
        goto fail;
    if (publish(r, job, output, o.overwrite, url, err) < 0) {
        unlink(output);
        goto fail;
    }
    um_log(UM_LOG_INFO, "job %s: published by %s", job->id, r->worker);
    result = 0;
fail:
    if (workdir[0])
        service_remove_tree(workdir);
    json_decref(holder);
    free_lines(headers);
    free(input);
    free(output);
    um_memory_give_back(); /* the removal's freed heap, kept for its passes */
    return result;
}

/* Why a job the worker ran was not its own to end: canceled, or its lease
 * lost (and to whom). */
static void log_loss(running_job *r)
{
    um_error err = {0};
    um_job job = {0};
    if (um_store_get(r->pool->state->store, r->id, &job, &err) == 1 &&
        job.status == UM_JOB_CANCELED)
        um_log(UM_LOG_INFO, "job %s: canceled", r->id);
    else
        um_log(UM_LOG_WARN, "job %s: lost its lease (now %s, worker %s); its result is not "
               "recorded", r->id, um_job_status_name(job.status), job.worker ? job.worker : "none");
    um_job_clear(&job);
}

/* Ends a job the service is stopping: back to the queue, unless it was
 * canceled or lost meanwhile. */
static void release(running_job *r)
{
    um_error err = {0};
    int released = um_store_release(r->pool->state->store, r->id, r->worker, &err);
    if (released < 0)
        um_log(UM_LOG_ERROR, "job %s: cannot release it: %s; it runs again once its lease runs "
               "out", r->id, err.msg);
    else if (released)
        um_log(UM_LOG_INFO, "job %s: interrupted by shutdown and released to the queue", r->id);
    else
        log_loss(r);
}

/* Says which job the worker runs (NULL: none), for the keeper. */
static void set_running(running_job *r, const char *id)
{
    pthread_mutex_lock(&r->pool->lock);
    snprintf(r->id, sizeof(r->id), "%s", id ? id : "");
    r->cancel = r->pool->stop;
    r->last_write = 0;
    pthread_mutex_unlock(&r->pool->lock);
}

static void run_job(running_job *r, um_job *job)
{
    service_state *s = r->pool->state;
    um_error err = {0};
    char *url = NULL;
    char source[1024], target[1024];
    set_running(r, job->id);
    um_storage_redact_url(job->source_uri, source, sizeof(source));
    um_storage_redact_url(job->target_uri, target, sizeof(target));
    um_log(UM_LOG_INFO, "job %s: %s %s -> %s (attempt %d, worker %s)", job->id, job->job_type,
           source, target, job->attempts, r->worker);
    int ok = execute(r, job, &url, &err) == 0;
    if (r->pool->stop && !ok) {
        release(r);
        set_running(r, NULL);
        return;
    }
    um_error ferr = {0};
    int ended = um_store_finish(s->store, job->id, r->worker, ok ? UM_JOB_COMPLETED : UM_JOB_FAILED,
                                ok ? NULL : err.msg, url, &ferr);
    if (ended < 0)
        um_log(UM_LOG_ERROR, "job %s: cannot record its end: %s", job->id, ferr.msg);
    else if (ended == 0)
        log_loss(r);
    else
        um_log(ok ? UM_LOG_INFO : UM_LOG_WARN, "job %s: %s%s", job->id, ok ? "completed" : "failed: ",
               ok ? "" : err.msg);
    count(s, !ok);
    free(url);
    set_running(r, NULL);
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
    running_job *r = opaque;
    service_state *s = r->pool->state;
    while (!r->pool->stop) {
        um_job job = {0};
        um_error err = {0};
        int got = um_store_claim(s->store, r->worker, s->config->lease, &job, &err);
        if (got < 0)
            um_log(UM_LOG_ERROR, "worker %s: cannot claim a job: %s", r->worker, err.msg);
        if (got == 1)
            run_job(r, &job);
        else
            idle_wait(s);
        um_job_clear(&job);
    }
    return NULL;
}

/* ---- the keeper ------------------------------------------------------------ */

/* Renews the lease of every running job; one found lost is stopped. The
 * ids are copied out first, so the store's round trips do not hold up the
 * workers. */
static void renew_leases(worker_pool *pool)
{
    service_state *s = pool->state;
    for (int i = 0; i < pool->count; i++) {
        running_job *r = &pool->workers[i];
        char id[UM_JOB_ID_SIZE];
        pthread_mutex_lock(&pool->lock);
        snprintf(id, sizeof(id), "%s", r->id);
        pthread_mutex_unlock(&pool->lock);
        if (!id[0])
            continue;
        um_error err = {0};
        int held = um_store_heartbeat(s->store, id, r->worker, s->config->lease, &err);
        if (held < 0)
            um_log(UM_LOG_WARN, "job %s: cannot renew its lease: %s", id, err.msg);
        pthread_mutex_lock(&pool->lock);
        if (held == 0 && strcmp(r->id, id) == 0)
            r->cancel = 1;
        pthread_mutex_unlock(&pool->lock);
    }
}

/* Queues again (or fails, past the limit) the jobs of workers that died. */
static void reap(worker_pool *pool)
{
    const service_state *s = pool->state;
    um_error err = {0};
    int requeued = 0, failed = 0;
    if (um_store_reap(s->store, s->config->max_attempts, &requeued, &failed, &err) < 0)
        um_log(UM_LOG_WARN, "cannot look for jobs whose worker was lost: %s", err.msg);
    if (requeued)
        um_log(UM_LOG_INFO, "%d job(s) whose worker was lost (lease expired) are queued again",
               requeued);
    if (failed)
        um_log(UM_LOG_WARN, "%d job(s) failed: their worker was lost %d time(s)", failed,
               s->config->max_attempts);
}

/* The keeper: renews leases every third of a lease, reaps every
 * REAP_PERIOD (or third of a lease, if shorter), and in between waits on
 * the store, waking the idle workers when it hears of a new job. */
static void *keeper_main(void *opaque)
{
    worker_pool *pool = opaque;
    service_state *s = pool->state;
    double period = s->config->lease / 3;
    double reap_period = period < REAP_PERIOD ? period : REAP_PERIOD;
    double tick = period < KEEPER_TICK ? period : KEEPER_TICK;
    double next_renew = now() + period, next_reap = now();
    int wait_failing = 0;
    while (!pool->keeper_stop) {
        if (now() >= next_reap) {
            reap(pool);
            next_reap = now() + reap_period;
        }
        if (now() >= next_renew) {
            renew_leases(pool);
            next_renew = now() + period;
        }
        um_error err = {0};
        int told = um_store_wait(s->store, tick, &err);
        if (told < 0 && !wait_failing)
            um_log(UM_LOG_WARN, "%s; idle workers look at the queue every %d ms meanwhile",
                   err.msg, IDLE_POLL_MS);
        if (told < 0)
            nanosleep(&(struct timespec){0, (long)(tick * 1e9)}, NULL);
        wait_failing = told < 0;
        if (told > 0)
            service_wake_workers(s);
    }
    return NULL;
}

/* ---- the pool ------------------------------------------------------------- */

void service_wake_workers(service_state *s)
{
    pthread_mutex_lock(&s->lock);
    pthread_cond_broadcast(&s->wake);
    pthread_mutex_unlock(&s->lock);
}

/* HOST:PID, the host name cut to 80 bytes: with the pid and a worker's
 * number after it, an id fits the 112 bytes a pool gives its base. */
void service_worker_base_id(char *out, size_t cap)
{
    char host[256];
    if (gethostname(host, sizeof(host)) != 0 || !host[0])
        snprintf(host, sizeof(host), "localhost");
    host[sizeof(host) - 1] = '\0';
    snprintf(out, cap, "%.80s:%ld", host, (long)getpid());
}

worker_pool *worker_pool_start(service_state *s, int count_)
{
    if (count_ <= 0)
        return NULL;
    worker_pool *pool = um_xcalloc(1, sizeof(*pool));
    char base[UM_WORKER_ID_SIZE - 16];
    pool->state = s;
    pool->workers = um_xcalloc((size_t)count_, sizeof(running_job));
    pthread_mutex_init(&pool->lock, NULL);
    service_worker_base_id(base, sizeof(base));
    for (int i = 0; i < count_; i++) {
        running_job *r = &pool->workers[pool->count];
        r->pool = pool;
        snprintf(r->worker, sizeof(r->worker), "%s:%d", base, i + 1);
        if (pthread_create(&r->thread, NULL, worker_main, r) != 0) {
            um_log(UM_LOG_ERROR, "worker: cannot start thread %d of %d", i + 1, count_);
            break;
        }
        pool->count++;
    }
    pool->keeper_started = pthread_create(&pool->keeper, NULL, keeper_main, pool) == 0;
    if (!pool->keeper_started)
        um_log(UM_LOG_ERROR, "worker: cannot start the thread that renews leases; jobs run "
               "longer than %g s are given to other workers", s->config->lease);
    return pool;
}

void worker_pool_stop(worker_pool **pool_)
{
    worker_pool *pool = *pool_;
    if (!pool)
        return;
    pthread_mutex_lock(&pool->lock);
    pool->stop = 1;
    for (int i = 0; i < pool->count; i++)
        pool->workers[i].cancel = 1;
    pthread_mutex_unlock(&pool->lock);
    service_wake_workers(pool->state);
    for (int i = 0; i < pool->count; i++)
        pthread_join(pool->workers[i].thread, NULL);
    /* The keeper renews leases until every job is released. */
    pool->keeper_stop = 1;
    if (pool->keeper_started)
        pthread_join(pool->keeper, NULL);
    pthread_mutex_destroy(&pool->lock);
    free(pool->workers);
    free(pool);
    *pool_ = NULL;
}
