/*
 * Progress posts, as the SDK's progress_update makes them
 * ({"status":"IN_PROGRESS","output":...} to the job-done URL), from a
 * thread of their own: the pipeline's progress callback only records the
 * figure, so that a slow post never slows the job. A job's first figure is
 * posted at once, later ones at most every two seconds; when the job ends,
 * a post in flight is waited for, so that no progress follows the result.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runpod/runpod_internal.h"

#define PERIOD 2.0              /* seconds between a job's progress posts */
#define POLL_NS 200000000L      /* how often a waiting reporter looks again */
#define POST_TIMEOUT_MS 10000L

struct runpod_reporter {
    const um_runpod_config *config;
    char *worker_id;
    runpod_http http;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t changed;     /* progress came, a post ended, or quit */
    int quit;
    char *job_id;               /* the running job, NULL when none */
    int dirty;                  /* progress changed since the last post */
    int posting;                /* a post is in flight */
    double progress;
    char stage[16];
    double last_post;           /* monotonic seconds; 0 before the job's first */
};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Posts one figure; a failure is logged, and the next figure is the retry. */
static void post(runpod_reporter *r, const char *job_id, double progress, const char *stage)
{
    char *url = runpod_job_done_url(r->config->post_output_url, r->worker_id, job_id);
    char *body = runpod_progress_body(progress, stage);
    runpod_reply reply;
    um_error err = {0};
    if (runpod_http_request(&r->http, url, body, job_id, POST_TIMEOUT_MS, NULL, &reply, &err) < 0)
        um_log(UM_LOG_WARN, "runpod: job %s: progress post failed: %s", job_id, err.msg);
    else if (reply.status >= 400)
        um_log(UM_LOG_WARN, "runpod: job %s: progress post answered HTTP %ld", job_id, reply.status);
    else
        um_log(UM_LOG_DEBUG, "runpod: job %s: progress %.2f (%s) posted", job_id, progress, stage);
    runpod_reply_clear(&reply);
    free(body);
    free(url);
}

/* Waits for a change, or the poll period. Called with the lock held. */
static void wait_change(runpod_reporter *r)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += POLL_NS;
    until.tv_sec += until.tv_nsec / 1000000000L;
    until.tv_nsec %= 1000000000L;
    pthread_cond_timedwait(&r->changed, &r->lock, &until);
}

static void *report_loop(void *opaque)
{
    runpod_reporter *r = opaque;
    pthread_mutex_lock(&r->lock);
    while (!r->quit) {
        if (!r->job_id || !r->dirty || (r->last_post > 0 && now() - r->last_post < PERIOD)) {
            wait_change(r);
            continue;
        }
        char *job_id = um_xstrdup(r->job_id), stage[sizeof(r->stage)];
        double progress = r->progress;
        memcpy(stage, r->stage, sizeof(stage));
        r->dirty = 0;
        r->posting = 1;
        pthread_mutex_unlock(&r->lock);
        post(r, job_id, progress, stage);
        free(job_id);
        pthread_mutex_lock(&r->lock);
        r->posting = 0;
        r->last_post = now();
        pthread_cond_broadcast(&r->changed);
    }
    pthread_mutex_unlock(&r->lock);
    return NULL;
}

static void free_reporter(runpod_reporter *r)
{
    runpod_http_close(&r->http);
    pthread_cond_destroy(&r->changed);
    pthread_mutex_destroy(&r->lock);
    free(r->job_id);
    free(r->worker_id);
    free(r);
}

int runpod_reporter_start(runpod_reporter **out, const um_runpod_config *c, const char *worker_id,
                          um_error *err)
{
    runpod_reporter *r = um_xcalloc(1, sizeof(*r));
    r->config = c;
    r->worker_id = um_xstrdup(worker_id);
    pthread_mutex_init(&r->lock, NULL);
    pthread_cond_init(&r->changed, NULL);
    *out = NULL;
    if (runpod_http_open(&r->http, c->api_key, err) < 0)
        goto fail;
    if (pthread_create(&r->thread, NULL, report_loop, r) != 0) {
        um_error_set(err, UM_ERR_OTHER, "cannot start the progress thread");
        goto fail;
    }
    *out = r;
    return 0;
fail:
    free_reporter(r);
    return -1;
}

void runpod_reporter_begin(runpod_reporter *r, const char *job_id)
{
    pthread_mutex_lock(&r->lock);
    free(r->job_id);
    r->job_id = um_xstrdup(job_id);
    r->dirty = 0;
    r->progress = -1;
    r->stage[0] = 0;
    r->last_post = 0;
    pthread_mutex_unlock(&r->lock);
}

void runpod_reporter_update(runpod_reporter *r, double progress, const char *stage)
{
    pthread_mutex_lock(&r->lock);
    if (r->job_id && (progress != r->progress || strcmp(stage, r->stage) != 0)) {
        r->progress = progress;
        snprintf(r->stage, sizeof(r->stage), "%s", stage);
        r->dirty = 1;
        pthread_cond_signal(&r->changed);
    }
    pthread_mutex_unlock(&r->lock);
}

void runpod_reporter_end(runpod_reporter *r)
{
    pthread_mutex_lock(&r->lock);
    free(r->job_id);
    r->job_id = NULL;
    while (r->posting)
        pthread_cond_wait(&r->changed, &r->lock);
    pthread_mutex_unlock(&r->lock);
}

void runpod_reporter_stop(runpod_reporter **r_)
{
    runpod_reporter *r = *r_;
    if (!r)
        return;
    pthread_mutex_lock(&r->lock);
    r->quit = 1;
    pthread_cond_broadcast(&r->changed);
    pthread_mutex_unlock(&r->lock);
    pthread_join(r->thread, NULL);
    free_reporter(r);
    *r_ = NULL;
}
