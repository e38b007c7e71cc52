/*
 * Workers: threads that claim queued jobs from the store and run them
 * through the pipeline, one at a time each. Progress goes to the store a
 * couple of times a second, and each time the worker looks whether the job
 * was canceled meanwhile: the pipeline then stops and leaves no output. On
 * shutdown a running job is interrupted and left processing, so the next
 * start queues it again (um_store_recover).
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "service/service_internal.h"
#include "unmark/pipeline.h"

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

static void run_job(worker_pool *pool, um_job *job)
{
    service_state *s = pool->state;
    um_error err = {0};
    json_t *holder = NULL;
    job_options o;
    um_region regions[JOB_MAX_REGIONS];
    running_job r = {pool, job->id, 0, 0, 0};
    um_log(UM_LOG_INFO, "job %s: %s %s -> %s (attempt %d)", job->id, job->job_type, job->source_uri,
           job->target_uri, job->attempts);
    int ok = job_options_parse(job->config, &o, &holder, &err) == 0;
    if (ok) {
        um_pipeline_job pj;
        um_pipeline_result res;
        job_describe(job, &o, &s->config->media, regions, &pj);
        r.detecting = pj.detect;
        pj.progress = on_progress;
        pj.progress_opaque = &r;
        pj.cancel = &r.cancel;
        ok = um_pipeline_run(&pj, &res, &err) == 0;
    }
    json_decref(holder);
    if (pool->stop && !ok) {
        um_log(UM_LOG_INFO, "job %s: interrupted by shutdown; it runs again at the next start", job->id);
        return;
    }
    char *url = ok ? result_url(job_local_path(job->target_uri)) : NULL;
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
