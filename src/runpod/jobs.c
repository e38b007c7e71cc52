/*
 * The ids of the jobs this worker has taken and not yet answered, shared
 * by the loop (which adds and removes them) and the heartbeat (which
 * reports them, comma-joined, as the SDK's JobsProgress.get_job_list does).
 */
#include <stdlib.h>
#include <string.h>

#include "runpod/runpod_internal.h"

void runpod_jobs_init(runpod_jobs *jobs)
{
    pthread_mutex_init(&jobs->lock, NULL);
    jobs->ids = um_xstrdup("");
}

void runpod_jobs_destroy(runpod_jobs *jobs)
{
    pthread_mutex_destroy(&jobs->lock);
    free(jobs->ids);
    jobs->ids = NULL;
}

void runpod_jobs_add(runpod_jobs *jobs, const char *id)
{
    pthread_mutex_lock(&jobs->lock);
    size_t n = strlen(jobs->ids);
    jobs->ids = um_xrealloc(jobs->ids, n + strlen(id) + 2);
    if (n)
        jobs->ids[n++] = ',';
    strcpy(jobs->ids + n, id);
    pthread_mutex_unlock(&jobs->lock);
}

void runpod_jobs_remove(runpod_jobs *jobs, const char *id)
{
    pthread_mutex_lock(&jobs->lock);
    char *kept = um_xmalloc(strlen(jobs->ids) + 1), *k = kept;
    size_t idlen = strlen(id);
    int removed = 0;
    for (const char *p = jobs->ids; *p;) {
        size_t n = strcspn(p, ",");
        if (!removed && n == idlen && strncmp(p, id, n) == 0) {
            removed = 1;
        } else {
            if (k != kept)
                *k++ = ',';
            memcpy(k, p, n);
            k += n;
        }
        p += n + (p[n] == ',');
    }
    *k = 0;
    free(jobs->ids);
    jobs->ids = kept;
    pthread_mutex_unlock(&jobs->lock);
}

char *runpod_jobs_list(runpod_jobs *jobs)
{
    pthread_mutex_lock(&jobs->lock);
    char *copy = um_xstrdup(jobs->ids);
    pthread_mutex_unlock(&jobs->lock);
    return copy;
}
