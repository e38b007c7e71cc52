/*
 * unmark — service: the job API and its workers (`unmark serve`), and
 * workers alone (`unmark worker`).
 *
 * An HTTP/1.1 JSON API under /api/v1 (libmicrohttpd) takes jobs and answers
 * for them; jobs live in a store (unmark/store.h), so they survive a
 * restart; worker threads, in the API's process or in any number of worker
 * processes sharing the store, claim queued jobs under leases and run them
 * through the pipeline, reporting progress to the store and stopping when a
 * job is canceled or its lease lost.
 */
#ifndef UNMARK_SERVICE_H
#define UNMARK_SERVICE_H

#include <stdint.h>

#include "unmark/common.h"
#include "unmark/media.h"
#include "unmark/storage.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Defaults `unmark runpod` shares: where local data goes, and how long a
 * presigned result URL works (seconds). */
#define UM_SERVICE_DEFAULT_DATA_DIR "unmark-data"
#define UM_SERVICE_DEFAULT_RESULT_TTL 3600

typedef struct {
    const char *listen;        /* HOST:PORT; default 127.0.0.1:8000 */
    const char *data_dir;      /* job store, uploads and results; created if missing */
    const char *store;         /* store location; NULL: SQLite at DATA/jobs.db */
    int workers;               /* worker threads; 0 runs the API alone */
    double lease;              /* seconds a claimed job's lease lasts unless renewed */
    int max_attempts;          /* claims of a job whose worker keeps being lost before
                                  it fails */
    const char *api_token;     /* NULL or "": no authentication */
    int64_t max_body;          /* largest JSON body, bytes */
    int64_t max_upload;        /* largest upload or downloaded source, bytes */
    um_storage_s3 s3;          /* endpoint and credentials for s3:// sources and targets */
    int allow_private_urls;    /* URL sources may name loopback and private addresses */
    int result_ttl;            /* how long a presigned result URL works, seconds */
    um_media_options media;    /* codec settings for every job */
    /* Set to nonzero (from a signal handler) to stop: the API closes, workers
     * stop their jobs and release them to the queue. */
    volatile int *stop;
} um_service_config;

void um_service_config_init(um_service_config *config);
/* Runs until *config->stop. 0, or -1 when it could not start (port taken,
 * store unreadable ...), with err saying why. */
int um_service_run(const um_service_config *config, um_error *err);
/* Runs config->workers worker threads without the API (`unmark worker`)
 * until *config->stop. 0, or -1 when it could not start (store unreadable
 * ...), with err saying why. */
int um_worker_run(const um_service_config *config, um_error *err);

#ifdef __cplusplus
}
#endif
#endif
