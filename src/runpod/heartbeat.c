/*
 * The heartbeat (the SDK's rp_ping.py): a GET of the ping URL every
 * interval, from a thread of its own with its own connection, so that a
 * long job or a slow result post never delays it. Each ping names the jobs
 * in progress (job_id, comma-joined) and the version; one that follows a
 * failed ping says retry_ping=1. As in the SDK, pings are sent only on
 * RunPod: with the API key, the pod id and the ping URL all set.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runpod/runpod_internal.h"

struct runpod_heartbeat {
    const um_runpod_config *config;
    char *worker_id;
    runpod_jobs *jobs;
    runpod_http http;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;       /* signalled to stop */
    volatile int quit;
};

/* One ping; returns whether it failed (so that the next says retry_ping). */
static int send_ping(runpod_heartbeat *hb, int retry)
{
    int interval = hb->config->ping_interval_ms;
    char *ids = runpod_jobs_list(hb->jobs);
    char *url = runpod_ping_url(hb->config->ping_url, hb->worker_id, ids, retry);
    runpod_reply reply;
    um_error err = {0};
    int failed = runpod_http_request(&hb->http, url, NULL, NULL, 2L * interval, &hb->quit, &reply, &err) < 0;
    if (failed && !hb->quit)
        um_log(UM_LOG_WARN, "runpod: ping failed: %s; the next one, in %d ms, says retry_ping=1", err.msg,
               interval);
    else if (!failed && reply.status >= 400) {
        um_log(UM_LOG_WARN, "runpod: ping answered HTTP %ld; the next one, in %d ms, says retry_ping=1",
               reply.status, interval);
        failed = 1;
    } else if (!failed)
        um_log(UM_LOG_DEBUG, "runpod: ping sent (jobs in progress: %s)", *ids ? ids : "none");
    runpod_reply_clear(&reply);
    free(url);
    free(ids);
    return failed;
}

/* Sleeps one interval, or less when told to stop. */
static void wait_interval(runpod_heartbeat *hb)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    long ns = until.tv_nsec + (long)(hb->config->ping_interval_ms % 1000) * 1000000L;
    until.tv_sec += hb->config->ping_interval_ms / 1000 + ns / 1000000000L;
    until.tv_nsec = ns % 1000000000L;
    pthread_mutex_lock(&hb->lock);
    while (!hb->quit && pthread_cond_timedwait(&hb->wake, &hb->lock, &until) != ETIMEDOUT)
        ;
    pthread_mutex_unlock(&hb->lock);
}

static void *ping_loop(void *opaque)
{
    runpod_heartbeat *hb = opaque;
    int failed = 0;
    while (!hb->quit) {
        failed = send_ping(hb, failed);
        wait_interval(hb);
    }
    return NULL;
}

/* Why no pings are sent, as the SDK decides it; NULL when they are. */
static const char *no_ping_reason(const um_runpod_config *c)
{
    if (!c->api_key || !*c->api_key)
        return "no API key (RUNPOD_AI_API_KEY)";
    if (!c->pod_id || !*c->pod_id)
        return "not on RunPod (no RUNPOD_POD_ID)";
    if (!c->ping_url || !*c->ping_url)
        return "no ping URL (RUNPOD_WEBHOOK_PING)";
    return NULL;
}

static void free_heartbeat(runpod_heartbeat *hb)
{
    runpod_http_close(&hb->http);
    pthread_cond_destroy(&hb->wake);
    pthread_mutex_destroy(&hb->lock);
    free(hb->worker_id);
    free(hb);
}

int runpod_heartbeat_start(runpod_heartbeat **out, const um_runpod_config *c, const char *worker_id,
                           runpod_jobs *jobs, um_error *err)
{
    const char *why = no_ping_reason(c);
    *out = NULL;
    if (why) {
        um_log(UM_LOG_INFO, "runpod: no heartbeat: %s", why);
        return 0;
    }
    runpod_heartbeat *hb = um_xcalloc(1, sizeof(*hb));
    hb->config = c;
    hb->worker_id = um_xstrdup(worker_id);
    hb->jobs = jobs;
    pthread_mutex_init(&hb->lock, NULL);
    pthread_cond_init(&hb->wake, NULL);
    if (runpod_http_open(&hb->http, c->api_key, err) < 0)
        goto fail;
    if (pthread_create(&hb->thread, NULL, ping_loop, hb) != 0) {
        um_error_set(err, UM_ERR_OTHER, "cannot start the heartbeat thread");
        goto fail;
    }
    *out = hb;
    return 0;
fail:
    free_heartbeat(hb);
    return -1;
}

void runpod_heartbeat_stop(runpod_heartbeat **hb_)
{
    runpod_heartbeat *hb = *hb_;
    if (!hb)
        return;
    pthread_mutex_lock(&hb->lock);
    hb->quit = 1;
    pthread_cond_broadcast(&hb->wake);
    pthread_mutex_unlock(&hb->lock);
    pthread_join(hb->thread, NULL);
    free_heartbeat(hb);
    *hb_ = NULL;
}
