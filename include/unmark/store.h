/*
 * unmark — store: where jobs live between being submitted and being done.
 *
 * One interface, several stores: SQLite (one file, WAL; the embedded
 * default) now, PostgreSQL for many machines next. A store hands each queued
 * job to exactly one worker (um_store_claim: highest priority first, then
 * oldest), records its progress and its end, and survives restarts: a job
 * that was processing when its server died is queued again by
 * um_store_recover.
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
    int attempts;         /* times a worker claimed it */
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
/* Takes the next queued job (highest priority, then oldest) and marks it
 * processing, attempts + 1, started now: 1 and the job in *job, or 0 when
 * the queue is empty. Two callers never get the same job. */
int um_store_claim(um_store *store, um_job *job, um_error *err);
/* Records a processing job's progress (0..1). */
int um_store_progress(um_store *store, const char *id, double progress, um_error *err);
/* Ends a processing job: completed (result_url may be NULL), failed (error
 * says why) or canceled. Returns 1, or 0 when the job was not processing
 * (canceled meanwhile, say): then nothing changes. */
int um_store_finish(um_store *store, const char *id, um_job_status status, const char *error,
                    const char *result_url, um_error *err);
/* Cancels a queued or processing job: 1, or 0 when it had already ended or
 * does not exist. A worker running it sees the status at its next progress
 * check. */
int um_store_cancel(um_store *store, const char *id, um_error *err);
/* Changes a queued job's priority and/or metadata (NULL: unchanged, priority
 * 0: unchanged): 1, or 0 when it is not queued or does not exist. */
int um_store_update(um_store *store, const char *id, int priority, const char *metadata,
                    um_error *err);
/* At start-up: every job left processing by a server that died goes back
 * to the queue. *requeued (if not NULL) gets how many. */
int um_store_recover(um_store *store, int *requeued, um_error *err);
/* Jobs per status, indexed by um_job_status (for /metrics). */
int um_store_counts(um_store *store, int64_t counts[5], um_error *err);

#ifdef __cplusplus
}
#endif
#endif
