/* Private to the service module: what its files share. */
#ifndef UNMARK_SERVICE_INTERNAL_H
#define UNMARK_SERVICE_INTERNAL_H

#include <jansson.h>
#include <pthread.h>

#include "unmark/pipeline.h"
#include "unmark/service.h"
#include "unmark/store.h"

typedef struct um_http um_http;

typedef struct {
    const um_service_config *config;
    um_store *store;
    int listen_port;              /* the port bound (config may ask for 0) */
    double started_at;
    /* counters for /metrics, under lock */
    pthread_mutex_t lock;
    int64_t requests;
    int64_t jobs_run, jobs_failed;
    pthread_cond_t wake;          /* signalled when a job is queued */
} service_state;

/* Wakes an idle worker at once rather than at its next poll. */
void service_wake_workers(service_state *s);

/* ---- job_json.c: the API's JSON <-> jobs --------------------------------- */
/* Builds a queued job from a POST /jobs body; on a bad body returns -1 with
 * field (JOB_FIELD_SIZE bytes) naming the offending field and err the
 * reason (UM_ERR_USAGE). The job's target_uri is NULL when the body has
 * none (the API picks one), and its source a data: URI when the body
 * carries the bytes (the API decodes them before storing the job). */
#define JOB_FIELD_SIZE 96
int job_from_json(json_t *body, um_job *job, char *field, um_error *err);
/* The local path a source or target URI names (a path or file:// URL), or
 * NULL for other schemes. */
const char *job_local_path(const char *uri);
/* The file name a result gets when the job names no target: the source's
 * (sanitised) with "_clean" before its extension. */
void job_result_name(const char *source_uri, char *out, size_t cap);
/* A job as the API shows it. */
json_t *job_to_json(const um_job *job);
/* The options a job carries (its config JSON), parsed: a removal's, or a
 * transcode's (trim, size, quality). */
#define JOB_MAX_REGIONS 64
typedef struct {
    double max_bbox_percent;      /* 0: default */
    int detect;                   /* 1 auto, 0 none */
    const char *force_format;     /* NULL: by extension */
    int overwrite, transparent;
    int nb_regions;
    int regions[JOB_MAX_REGIONS][4];
    double start, end;            /* transcode: trim, seconds (end 0: none) */
    int width, height;            /* transcode: new size, 0 keeps */
    int crf;                      /* transcode: libx264 CRF, -1 the server's */
    const char *preset;           /* transcode: libx264 preset, NULL the server's */
} job_options;
int job_options_parse(const char *config, job_options *o, json_t **holder, um_error *err);
/* Checks a job's options object: a removal's (watermark_removal_config) or,
 * for job_type "transcode", a transcode's (transcode_config); a bad option
 * is named "PREFIX.KEY" in field. */
int job_config_check(json_t *config, const char *job_type, const char *prefix, char *field, um_error *err);
/* The pipeline job that a job and its parsed options describe; the
 * pipeline job's regions point into regions[JOB_MAX_REGIONS]. */
void job_describe(const um_job *job, const job_options *o, const um_media_options *media,
                  um_region *regions, um_pipeline_job *pj);

/* ---- worker.c ------------------------------------------------------------ */
typedef struct worker_pool worker_pool;
/* Starts count worker threads and their keeper (lease renewal, reaping, and
 * waking on new jobs); NULL when count is 0: the API alone. */
worker_pool *worker_pool_start(service_state *s, int count);
/* Stops the workers: their running jobs are interrupted and released to the
 * queue (not counted as attempts); joins them. */
void worker_pool_stop(worker_pool **pool);
/* "HOST:PID": what this process's worker ids start with (each thread adds
 * ":N"). */
void service_worker_base_id(char *out, size_t cap);

/* ---- service.c ---------------------------------------------------------- */
/* Opens what serve and worker share: the data folder, the store (its
 * location, without a password, into shown), the lock and the wake-up. */
int service_open(service_state *s, const um_service_config *c, char *shown, size_t cap,
                 um_error *err);
void service_close(service_state *s);
/* DATA/KIND/ID (uploads, results, work), created if missing, into out. */
int service_job_dir(const service_state *s, const char *kind, const char *id, char *out, size_t cap,
                    um_error *err);
/* DIR/NAME followed by suffix (often ""): a new string. */
char *service_path_join(const char *dir, const char *name, const char *suffix);
/* Removes a job's folder and what is in it (best effort: for clean-up). */
void service_remove_tree(const char *dir);
struct sockaddr_in;
/* "HOST:PORT" (an IPv4 address or "localhost") into addr; UM_ERR_USAGE. */
int service_parse_listen(const char *listen, struct sockaddr_in *addr, um_error *err);

/* ---- http.c: the server, routing and answers ----------------------------- */
int http_start(um_http **http, service_state *s, um_error *err);
void http_stop(um_http **http);

struct MHD_Connection;
/* Each queues an answer and frees what it is given; the value is libmicrohttpd's
 * (enum MHD_Result) as an int, so that this header needs not include it. */
int http_send_text(struct MHD_Connection *c, unsigned status, char *text, const char *type);
int http_send_json(struct MHD_Connection *c, unsigned status, json_t *v);
int http_send_error(struct MHD_Connection *c, unsigned status, const char *message,
                    const char *field);
/* A 500 for a store failure; the cause goes to the log, not to the client. */
int http_store_failure(struct MHD_Connection *c, const um_error *err);

/* ---- api_jobs.c: the job endpoints ------------------------------------------ */
int api_post_job(struct MHD_Connection *c, service_state *s, const char *body, size_t size);
int api_list_jobs(struct MHD_Connection *c, service_state *s);
int api_get_job(struct MHD_Connection *c, service_state *s, const char *id);
int api_cancel_job(struct MHD_Connection *c, service_state *s, const char *id);
int api_patch_job(struct MHD_Connection *c, service_state *s, const char *id, const char *body,
                  size_t size);
int api_job_result(struct MHD_Connection *c, service_state *s, const char *id);
/* Sets the job's target to DATA/results/ID/NAME (the folder created). */
int service_result_target(service_state *s, um_job *job, const char *name, um_error *err);
/* Checks a job built by job_from_json, stores it, wakes a worker and
 * answers 202 with it. */
int api_submit(struct MHD_Connection *c, service_state *s, um_job *job);

/* ---- api_upload.c: POST /jobs/upload, a multipart body streamed to disk ------ */
typedef struct api_upload api_upload;
/* At the request's first call; NULL after an answer was queued (bad content type). */
api_upload *api_upload_begin(struct MHD_Connection *c, service_state *s);
/* Feeds a piece of the body. */
void api_upload_feed(api_upload *u, const char *data, size_t size);
/* At the body's end: makes the job and answers. */
int api_upload_finish(struct MHD_Connection *c, api_upload *u);
/* Frees the upload; the file is removed unless a job took it. */
void api_upload_free(api_upload *u);

/* ---- openapi.c ------------------------------------------------------------- */
/* The API described in OpenAPI 3.0 (JSON text). */
extern const char api_openapi_json[];

#endif
