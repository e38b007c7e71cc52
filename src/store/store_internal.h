/*
 * Private to the store module: the table of operations each backend
 * implements, and the header every backend's store begins with.
 *
 * The public functions (store.c) check their arguments once and then call
 * through store->ops, so a new backend is a new file with one um_store_ops
 * and a line in store.c's table of location prefixes, and the public header
 * does not change.
 */
#ifndef UNMARK_STORE_INTERNAL_H
#define UNMARK_STORE_INTERNAL_H

#include <stdint.h>

#include "unmark/store.h"

/*
 * What a backend does. Arguments reach it already checked (ids non-empty,
 * priorities in range, statuses valid), and the *job of get and claim
 * already cleared. The return values are the public ones.
 */
typedef struct {
    /* Opens the store at target: the location without its prefix, or the
     * whole location for a backend whose library reads it (a URI). */
    int (*open)(um_store **store, const char *target, um_error *err);
    /* Frees everything; store is never NULL. */
    void (*close)(um_store *store);
    int (*insert)(um_store *store, um_job *job, um_error *err);
    int (*get)(um_store *store, const char *id, um_job *job, um_error *err);
    int (*list)(um_store *store, int status, int limit, int offset, um_job **jobs, int *count,
                um_error *err);
    int (*claim)(um_store *store, const char *worker, double lease_seconds, um_job *job,
                 um_error *err);
    int (*heartbeat)(um_store *store, const char *id, const char *worker, double lease_seconds,
                     um_error *err);
    int (*progress)(um_store *store, const char *id, const char *worker, double progress,
                    um_error *err);
    int (*finish)(um_store *store, const char *id, const char *worker, um_job_status status,
                  const char *error, const char *result_url, um_error *err);
    int (*release)(um_store *store, const char *id, const char *worker, um_error *err);
    int (*cancel)(um_store *store, const char *id, um_error *err);
    int (*update)(um_store *store, const char *id, int priority, const char *metadata,
                  um_error *err);
    /* requeued and failed never NULL */
    int (*reap)(um_store *store, int max_attempts, int *requeued, int *failed, um_error *err);
    int (*wait)(um_store *store, double timeout_s, um_error *err);
    int (*counts)(um_store *store, int64_t counts[5], um_error *err);
} um_store_ops;

/* Each backend's store struct embeds this as its first member, so a
 * um_store * is also a pointer to the backend's own struct. */
struct um_store {
    const um_store_ops *ops;
};

extern const um_store_ops um_store_sqlite_ops;
extern const um_store_ops um_store_postgres_ops;

/* The status named name ("queued", ...), or -1 when it names none: how a
 * backend reads back the status it stored as text. */
int um_store_status_from_name(const char *name);
/* Unix time in seconds, with sub-second precision. */
double um_store_now(void);
/* Sleeps for seconds (the wait of a store that cannot be told of new jobs). */
void um_store_sleep(double seconds);

/* Why um_store_reap fails a job, as SQL both backends run: the text for a
 * job whose attempts and worker columns are those named. */
#define UM_STORE_LOST_REASON(attempts, worker)                                                 \
    "'its worker was lost ' || CASE WHEN " attempts " = 1 THEN 'once' ELSE " attempts         \
    " || ' times' END || ' (lease expired; last worker ' || COALESCE(" worker                  \
    ", 'unknown') || ')'"

#endif
