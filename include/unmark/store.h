/*
 * unmark — store: where jobs live between being submitted and being done.
 *
 * One interface, several stores: SQLite (one file, WAL; the embedded
 * default) and PostgreSQL (one database for workers on many machines). A
 * store hands each queued job to exactly one worker (um_store_claim: highest
 * priority first, then oldest) under a lease the worker renews
 * (um_store_heartbeat), records its progress and its end for the lease's
 * holder only, and survives restarts: a job whose worker died (its lease ran
 * out) is queued again, or failed once it has been lost too often, by
 * um_store_reap, which every worker runs now and then.
 *
 * Every call returns 0 on success and -1 with err set on failure; lookups
 * return 1 when found and 0 when not.
 */
#ifndef UNMARK_STORE_H
#define UNMARK_STORE_H

#include <stdint.h>

#include "unmark/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    UM_JOB_QUEUED = 0,
    UM_JOB_PROCESSING,
    UM_JOB_COMPLETED,
    UM_JOB_FAILED,
    UM_JOB_CANCELED
} um_job_status;

/* "queued", "processing", ... */
const char *um_job_status_name(um_job_status status);

#define UM_JOB_ID_SIZE 37   /* a UUID's 36 characters and the terminator */

/* A job as stored. Strings are owned by the job (um_job_clear frees them);
 * optional ones may be NULL. Times are Unix seconds, 0 when not yet. */
typedef struct {
    char id[UM_JOB_ID_SIZE];
    char *job_type;       /* "watermark_removal" or "transcode" */
    char *source_uri;
    char *target_uri;
    char *metadata;       /* JSON text, or NULL */
    char *config;         /* the job's options as JSON text, or NULL */
    char *source_options; /* how to fetch the source as JSON text ({"headers":{..},
                             "verify_tls":bool}), or NULL */
    int priority;         /* 1 (lowest) .. 10 (highest) */
    um_job_status status;
    double progress;      /* 0..1 */
    char *error;          /* why it failed, or NULL */
    char *result_url;     /* where the result is, or NULL */
    int attempts;         /* times a worker claimed it (releases not counted) */
    char *worker;         /* the worker that holds it (processing) or last held it,
                             or NULL */
    double lease_expires_at; /* processing: when its lease runs out unless renewed */
    double created_at, started_at, finished_at;
} um_job;

void um_job_clear(um_job *job);
/* Fills job->id with a new random UUID (version 4). */
void um_job_new_id(um_job *job);

typedef struct um_store um_store;

/* Opens the store that location names: "sqlite:PATH" or a plain path is a
 * SQLite file (created with its schema when missing); a libpq connection URI,
 * "postgres://USER:PASSWORD@HOST[:PORT]/DATABASE" (or "postgresql://", with
 * any of libpq's ?key=value parameters), is a PostgreSQL database, where
 * unmark creates or migrates its tables (unmark_jobs and
 * unmark_schema_version) in the connection's default schema. Errors show the
 * location without user info or query, never the password. */
int um_store_open(um_store **store, const char *location, um_error *err);
void um_store_close(um_store **store);

/* Adds a job as queued. job->id must be set; created_at is set here. */
int um_store_insert(um_store *store, um_job *job, um_error *err);
/* The job with this id into *job (cleared first): 1, or 0 when none. */
int um_store_get(um_store *store, const char *id, um_job *job, um_error *err);
/* Up to limit jobs, newest first, skipping offset; *jobs is an array of *count
 * (free each with um_job_clear, then the array with free). status < 0: any. */
int um_store_list(um_store *store, int status, int limit, int offset, um_job **jobs, int *count,
                  um_error *err);
/* A worker's id, as claims record it: at most this long, terminator included. */
#define UM_WORKER_ID_SIZE 128

/* Takes the next queued job (highest priority, then oldest) and marks it
 * processing for worker (an id naming it, such as HOST:PID:THREAD), attempts
 * + 1, started now, its lease running out lease_seconds from now: 1 and the
 * job in *job, or 0 when the queue is empty. Two callers never get the same
 * job. */
int um_store_claim(um_store *store, const char *worker, double lease_seconds, um_job *job,
                   um_error *err);
/* Renews worker's lease on a job: lease_seconds from now. 1 while the worker
 * holds it and it is processing; 0 when it has lost it (canceled, or its
 * lease ran out and the job went back to the queue or to another worker):
 * then the worker must stop the job and not publish its result. */
int um_store_heartbeat(um_store *store, const char *id, const char *worker, double lease_seconds,
                       um_error *err);
/* Records a processing job's progress (0..1) for the lease's holder: 1, or 0
 * when worker does not hold it (as for um_store_heartbeat): nothing
 * changes then. */
int um_store_progress(um_store *store, const char *id, const char *worker, double progress,
                      um_error *err);
/* Ends a processing job that worker holds: completed (result_url may be
 * NULL), failed (error says why) or canceled. Returns 1, or 0 when the job
 * was not processing under worker's lease (canceled meanwhile, or lost):
 * then nothing changes, so a job's end is recorded once. */
int um_store_finish(um_store *store, const char *id, const char *worker, um_job_status status,
                    const char *error, const char *result_url, um_error *err);
/* Gives a job worker holds back to the queue at once (a worker stopping
 * gracefully), its attempt not counted: 1, or 0 when worker did not hold it. */
int um_store_release(um_store *store, const char *id, const char *worker, um_error *err);
/* Cancels a queued or processing job: 1, or 0 when it had already ended or
 * does not exist. A worker running it sees the status at its next progress
 * check. */
int um_store_cancel(um_store *store, const char *id, um_error *err);
/* Changes a queued job's priority and/or metadata (NULL: unchanged, priority
 * 0: unchanged): 1, or 0 when it is not queued or does not exist. */
int um_store_update(um_store *store, const char *id, int priority, const char *metadata,
                    um_error *err);
/* Processing jobs whose lease ran out (their worker died or was cut off):
 * each goes back to the queue, or, once it has been claimed max_attempts
 * times, fails saying so ("its worker was lost 3 times (lease expired; last
 * worker HOST:PID:1)"). *requeued and *failed (either may be NULL) get how
 * many. Any process may run it at any time; two at once do not collide. */
int um_store_reap(um_store *store, int max_attempts, int *requeued, int *failed, um_error *err);
/* Waits up to timeout_s seconds to be told that a job was queued (by any
 * process): 1 when told, 0 at the timeout. A store that cannot tell
 * (SQLite) sleeps the whole timeout and returns 0: its callers poll. A
 * notice may come for a job someone else has claimed already; waiting is
 * for idle workers, so only one thread should wait on a store at a time. */
int um_store_wait(um_store *store, double timeout_s, um_error *err);
/* Jobs per status, indexed by um_job_status (for /metrics). */
int um_store_counts(um_store *store, int64_t counts[5], um_error *err);

#ifdef __cplusplus
}
#endif
#endif
