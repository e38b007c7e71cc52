/* Private to the runpod module: what its files share, and what the unit
 * tests check directly. */
#ifndef UNMARK_RUNPOD_INTERNAL_H
#define UNMARK_RUNPOD_INTERNAL_H

#include <jansson.h>
#include <pthread.h>
#include <stddef.h>

#include "unmark/pipeline.h"
#include "unmark/runpod.h"
#include "unmark/storage.h"

/* ---- protocol.c: URLs and bodies as runpod-python makes them ------------- */

/* tmpl with every occurrence of token replaced by value, percent-encoded
 * (RFC 3986 unreserved characters kept): a new string. */
char *runpod_url_expand(const char *tmpl, const char *token, const char *value);
/* url with name=value (value percent-encoded) appended after '?', or after
 * '&' when url has a query already: a new string. */
char *runpod_url_add_param(const char *url, const char *name, const char *value);
/* The job-take URL: "$ID" is the worker id; &job_in_progress=0|1. */
char *runpod_job_take_url(const char *tmpl, const char *worker_id, int job_in_progress);
/* The job-done URL: "$RUNPOD_POD_ID" is the worker id, "$ID" the job id;
 * &isStream=false. */
char *runpod_job_done_url(const char *tmpl, const char *worker_id, const char *job_id);
/* The heartbeat URL: "$RUNPOD_POD_ID" is the worker id; job_id (the
 * comma-joined ids in progress) when there are any, runpod_version, and
 * retry_ping=1 after a failed ping. */
char *runpod_ping_url(const char *tmpl, const char *worker_id, const char *job_ids, int retry);

/* The body the SDK posts for a handler's output (run_job): an object's
 * "error" member moves beside "output", which is left out when nothing
 * else remains; any other value is {"output": value}. A new string. */
char *runpod_result_body(json_t *handler_output);
/* {"status":"IN_PROGRESS","output":{"progress":P,"stage":S}}: a new string. */
char *runpod_progress_body(double progress, const char *stage);

/* The jobs a job-take answer holds (a new array; each an object with a
 * string "id" and an "input"). Anything else in it is left out, as the SDK
 * leaves it, and why (the first reason) goes into why, "" when nothing was. */
json_t *runpod_take_answer(const char *content_type, const char *body, size_t size, char *why,
                           size_t cap);
/* A job's input (a new reference), with the job's own s3Config copied in
 * when the input has none: RunPod puts s3Config beside "input". */
json_t *runpod_job_input(json_t *job);

/* ---- input.c: a job's input, checked field by field ---------------------- */

typedef enum {
    RUNPOD_SOURCE_URI,       /* source: a path or any URI um_storage_fetch_source takes */
    RUNPOD_SOURCE_URL,       /* source_url: http(s), with source_headers and source_verify_ssl */
    RUNPOD_SOURCE_BASE64,    /* source_base64 */
    RUNPOD_SOURCE_S3,        /* source_s3 {bucket, key} */
    RUNPOD_SOURCE_S3_KEY     /* source_s3_key, in s3Config's bucket */
} runpod_source_kind;

#define RUNPOD_NAME_SIZE 128

typedef struct {
    json_t *root;                    /* the input; the strings below point into it */
    runpod_source_kind kind;
    const char *source_field;        /* the field the source came from */
    const char *source;              /* path or URI, URL, base64 text or S3 key */
    const char *source_bucket;       /* source_s3's bucket */
    char **headers;                  /* "Name: value" lines, NULL-terminated, or NULL */
    int verify_tls;
    char input_name[RUNPOD_NAME_SIZE];   /* the input's file name, sanitised */
    char output_name[RUNPOD_NAME_SIZE];
    char *s3_key;                    /* where an uploaded result goes: s3_prefix/output_name */
    um_storage_s3 s3;                /* s3Config: credentials, endpoint; bucket NULL when none */
    char *config;                    /* watermark_config as JSON text, or NULL */
} runpod_input;

/* Parses and checks a job's input (JSON text); a bad field is named first
 * in err (UM_ERR_USAGE), e.g. "source_s3.bucket: missing". Touches no file. */
int runpod_input_parse(const char *job_id, const char *input_json, runpod_input *in, um_error *err);
void runpod_input_clear(runpod_input *in);

/* ---- handler.c ------------------------------------------------------------- */

/* um_runpod_handle_job with the pipeline's progress reported to progress
 * (may be NULL). */
int runpod_run_job(const um_runpod_config *c, const char *job_id, const char *input_json,
                   um_progress_fn progress, void *opaque, char **output_json, um_error *err);

/* ---- http.c: libcurl, one handle per thread -------------------------------- */

typedef struct {
    void *curl;                      /* CURL * */
    const char *api_key;             /* the Authorization header's value, or NULL */
} runpod_http;

typedef struct {
    long status;
    char *body;                      /* NUL-terminated; NULL when empty */
    size_t size;
    char content_type[128];
} runpod_reply;

int runpod_http_open(runpod_http *h, const char *api_key, um_error *err);
void runpod_http_close(runpod_http *h);
/* GET url (body NULL) or POST body as the SDK posts results (with
 * X-Request-ID: request_id). Any answer is 0 with *reply filled; -1 only
 * when no answer came (err names the transport's failure, never the key).
 * A nonzero *abort stops the transfer. */
int runpod_http_request(runpod_http *h, const char *url, const char *body, const char *request_id,
                        long timeout_ms, volatile int *abort, runpod_reply *reply, um_error *err);
void runpod_reply_clear(runpod_reply *reply);
/* url without its query (for logs). */
void runpod_url_for_log(const char *url, char *out, size_t cap);

/* ---- jobs.c: the ids of the jobs in progress (the heartbeat reports them) -- */

typedef struct {
    pthread_mutex_t lock;
    char *ids;                       /* comma-joined; "" when none */
} runpod_jobs;

void runpod_jobs_init(runpod_jobs *jobs);
void runpod_jobs_destroy(runpod_jobs *jobs);
void runpod_jobs_add(runpod_jobs *jobs, const char *id);
void runpod_jobs_remove(runpod_jobs *jobs, const char *id);
/* The comma-joined ids, a new string ("" when none). */
char *runpod_jobs_list(runpod_jobs *jobs);

/* ---- heartbeat.c ------------------------------------------------------------- */

typedef struct runpod_heartbeat runpod_heartbeat;
/* Starts pinging in a thread of its own, as the SDK does only when the API
 * key, the pod id and the ping URL are all set (else logs which is not and
 * leaves *hb NULL). */
int runpod_heartbeat_start(runpod_heartbeat **hb, const um_runpod_config *c, const char *worker_id,
                           runpod_jobs *jobs, um_error *err);
void runpod_heartbeat_stop(runpod_heartbeat **hb);

/* ---- reporter.c: progress posts, off the job's thread ---------------------- */

typedef struct runpod_reporter runpod_reporter;
int runpod_reporter_start(runpod_reporter **r, const um_runpod_config *c, const char *worker_id,
                          um_error *err);
/* A job starts: its progress is posted from now on. */
void runpod_reporter_begin(runpod_reporter *r, const char *job_id);
/* The job's progress (0..1) and stage; cheap, for the pipeline's thread. */
void runpod_reporter_update(runpod_reporter *r, double progress, const char *stage);
/* The job ended: nothing more is posted for it, and a post in flight is
 * waited for, so that no progress arrives after the result. */
void runpod_reporter_end(runpod_reporter *r);
void runpod_reporter_stop(runpod_reporter **r);

#endif
