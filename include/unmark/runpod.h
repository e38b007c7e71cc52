/*
 * unmark — runpod: a RunPod serverless worker (`unmark runpod`).
 *
 * Speaks RunPod's pull protocol as runpod-python, the official SDK, does:
 * takes jobs from the job-take URL, posts each one's result (and progress
 * on the way) to the job-done URL, and pings the heartbeat URL from a
 * thread of its own with the ids of the jobs in progress. A job's input is
 * the one the Python handler it replaces took: a source (path, URL,
 * base64, S3 object), output naming, removal options and an optional S3
 * destination; its output {"status":"success","result":{...}} or
 * {"status":"error","error":"..."}. The video's bytes never travel in an
 * answer: a result is a local path or a presigned S3 URL.
 *
 * Every call returns 0 on success and -1 with err set on failure. Secrets
 * (the API key, S3 secrets) never appear in err or in logs.
 */
#ifndef UNMARK_RUNPOD_H
#define UNMARK_RUNPOD_H

#include "unmark/common.h"
#include "unmark/media.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    const char *get_job_url;      /* RUNPOD_WEBHOOK_GET_JOB; "$ID" is the worker id */
    const char *post_output_url;  /* RUNPOD_WEBHOOK_POST_OUTPUT; "$RUNPOD_POD_ID" the worker
                                     id, "$ID" the job id */
    const char *ping_url;         /* RUNPOD_WEBHOOK_PING; "$RUNPOD_POD_ID" the worker id */
    const char *pod_id;           /* RUNPOD_POD_ID; NULL: a random worker id, and no pings */
    const char *api_key;          /* RUNPOD_AI_API_KEY: the Authorization header's value as is;
                                     NULL: none, and no pings */
    int ping_interval_ms;         /* RUNPOD_PING_INTERVAL; default 10000 */
    const char *data_dir;         /* local results and downloads go to DIR/runpod/JOB_ID/;
                                     default "unmark-data" */
    um_media_options media;       /* codec settings for every job */
    int allow_private;            /* sources may be on loopback or private addresses */
    int result_ttl;               /* seconds a presigned result URL is valid; default 3600 */
    /* Worker: set to nonzero (from a signal handler) to drain: no more jobs
     * are taken, the running one finishes and is posted, then the worker
     * returns. */
    volatile int *stop;
    /* Set to nonzero to stop a running job (it fails, leaving no output);
     * the local run's Ctrl-C. May be NULL. */
    volatile int *cancel;
} um_runpod_config;

void um_runpod_config_init(um_runpod_config *config);

/* Runs one job: input_json is the job's "input" object as JSON text. On
 * success returns 0 and *output_json (a new string) is
 * {"status":"success","result":{"result_url"|"local_path":...,"filename":...}};
 * on failure returns -1, err says why (a bad field named first, as
 * "source_s3.bucket: missing") and *output_json is
 * {"status":"error","error":"<the same text>"}. */
int um_runpod_handle_job(const um_runpod_config *config, const char *job_id, const char *input_json,
                         char **output_json, um_error *err);

/* The SDK's local test: job_json is a whole job, {"input": {...}} with an
 * optional "id" (default "local_test"). Runs it as um_runpod_handle_job
 * does; *output_json is set whenever the job ran or its JSON was wrong. */
int um_runpod_run_local(const um_runpod_config *config, const char *job_json, char **output_json,
                        um_error *err);

/* The worker: takes jobs one at a time and runs them until *config->stop,
 * then returns 0 once the running job's result is posted. -1 only when it
 * cannot start (a URL missing, no libcurl). */
int um_runpod_run_worker(const um_runpod_config *config, um_error *err);

#ifdef __cplusplus
}
#endif
#endif
