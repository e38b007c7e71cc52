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
 * reason (UM_ERR_USAGE). */
#define JOB_FIELD_SIZE 96
int job_from_json(json_t *body, um_job *job, char *field, um_error *err);
/* The local path a source or target URI names (a path or file:// URL), or
 * NULL for other schemes. */
const char *job_local_path(const char *uri);
/* A job as the API shows it. */
json_t *job_to_json(const um_job *job);
/* The removal options a job carries (its config JSON), parsed. */
#define JOB_MAX_REGIONS 64
typedef struct {
    double max_bbox_percent;      /* 0: default */
    int detect;                   /* 1 auto, 0 none */
    const char *force_format;     /* NULL: by extension */
    int overwrite, transparent;
    int nb_regions;
    int regions[JOB_MAX_REGIONS][4];
} job_options;
int job_options_parse(const char *config, job_options *o, json_t **holder, um_error *err);
/* Checks a removal options object (watermark_removal_config); a bad option
 * is named "PREFIX.KEY" in field. */
int job_config_check(json_t *config, const char *prefix, char *field, um_error *err);
/* The pipeline job that a job and its parsed options describe; the
 * pipeline job's regions point into regions[JOB_MAX_REGIONS]. */
void job_describe(const um_job *job, const job_options *o, const um_media_options *media,
                  um_region *regions, um_pipeline_job *pj);

/* ---- worker.c ------------------------------------------------------------ */
typedef struct worker_pool worker_pool;
worker_pool *worker_pool_start(service_state *s, int count);
/* Stops the workers (their jobs are interrupted and stay processing, for
 * um_store_recover at the next start) and joins them. */
void worker_pool_stop(worker_pool **pool);

/* ---- service.c ---------------------------------------------------------- */
struct sockaddr_in;
/* "HOST:PORT" (an IPv4 address or "localhost") into addr; UM_ERR_USAGE. */
int service_parse_listen(const char *listen, struct sockaddr_in *addr, um_error *err);

/* ---- http.c -------------------------------------------------------------- */
int http_start(um_http **http, service_state *s, um_error *err);
void http_stop(um_http **http);

#endif
