/*
 * The job store's public face: picks the backend from the location's prefix,
 * checks every call's arguments once (so each backend can trust them and
 * all backends refuse the same things with the same words), and dispatches
 * through the backend's ops. Also the job helpers that need no store:
 * status names, clearing a job, and new random ids.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "store/store_internal.h"
#include "unmark/storage.h"

#define PRIORITY_MIN 1
#define PRIORITY_MAX 10
#define STATUS_COUNT 5

static const char *const status_names[STATUS_COUNT] = {
    [UM_JOB_QUEUED] = "queued",         [UM_JOB_PROCESSING] = "processing",
    [UM_JOB_COMPLETED] = "completed",   [UM_JOB_FAILED] = "failed",
    [UM_JOB_CANCELED] = "canceled",
};

/*
 * The backends, by the prefix their locations start with. A location with
 * no scheme at all is a SQLite file, the embedded default; usage is what
 * the error for an unknown scheme lists. whole: the backend gets the whole
 * location, prefix included (a connection URI its library reads), not what
 * follows the prefix.
 */
static const struct {
    const char *prefix;
    const char *usage;
    int whole;
    const um_store_ops *ops;
} backends[] = {
    {"sqlite:", "sqlite:PATH (or a plain file path)", 0, &um_store_sqlite_ops},
    {"postgres://", "postgres://USER:PASSWORD@HOST[:PORT]/DATABASE", 1, &um_store_postgres_ops},
    {"postgresql://", "postgresql://USER:PASSWORD@HOST[:PORT]/DATABASE", 1,
     &um_store_postgres_ops},
};

#define BACKEND_COUNT (sizeof(backends) / sizeof(backends[0]))

const char *um_job_status_name(um_job_status status)
{
    if ((int)status < 0 || (int)status >= STATUS_COUNT)
        return "unknown";
    return status_names[status];
}

int um_store_status_from_name(const char *name)
{
    for (int i = 0; i < STATUS_COUNT; i++)
        if (strcmp(name, status_names[i]) == 0)
            return i;
    return -1;
}

double um_store_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void um_store_sleep(double seconds)
{
    struct timespec ts = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

void um_job_clear(um_job *job)
{
    if (!job)
        return;
    free(job->job_type);
    free(job->source_uri);
    free(job->target_uri);
    free(job->metadata);
    free(job->config);
    free(job->source_options);
    free(job->error);
    free(job->result_url);
    free(job->worker);
    memset(job, 0, sizeof(*job));
}

/* /dev/urandom read directly, for kernels older than getrandom(2) (3.17). */
static int read_urandom(unsigned char *buf, size_t n)
{
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    return got == n ? 0 : -1;
}

/* Fills buf with n bytes from the kernel's generator (urandom's pool). A
 * signal can cut getrandom short, so it loops. */
static int random_bytes(unsigned char *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = getrandom(buf + got, n - got, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return errno == ENOSYS ? read_urandom(buf, n) : -1;
        got += (size_t)r;
    }
    return 0;
}

void um_job_new_id(um_job *job)
{
    unsigned char b[16];
    /* Ids must not collide, and this call cannot fail: without the kernel's
     * randomness nothing sound is left to do, as with out-of-memory. */
    if (random_bytes(b, sizeof(b)) < 0) {
        fprintf(stderr, "unmark: fatal: no random bytes for a job id: %s\n", strerror(errno));
        abort();
    }
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4: random */
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* variant 1 (RFC 4122) */
    snprintf(job->id, sizeof(job->id),
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
             b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
             b[15]);
}

/* ---- opening ------------------------------------------------------------ */

/*
 * Whether location starts with a URI scheme ("postgres:", "file:"): a
 * letter, then letters, digits, '+', '-' or '.', then ':'. Such a location
 * is never taken for a file path, so a mistyped scheme ("sqlit:jobs.db")
 * is refused instead of quietly creating an oddly named file; a file whose
 * name looks like that can be given as "./NAME" or "sqlite:NAME".
 */
static int has_scheme(const char *location)
{
    const char *p = location;
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
        return 0;
    for (p++; *p && *p != ':'; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '+' || *p == '-' || *p == '.'))
            return 0;
    return *p == ':';
}

/* The error for a location no backend takes, listing those that exist. The
 * location is shown without user info or query, where a password could be. */
static void unknown_store(const char *location, um_error *err)
{
    char known[512] = "", shown[512];
    size_t len = 0;
    for (size_t i = 0; i < BACKEND_COUNT && len < sizeof(known); i++)
        len += (size_t)snprintf(known + len, sizeof(known) - len, "%s%s", i ? ", " : "",
                                backends[i].usage);
    um_storage_redact_url(location, shown, sizeof(shown));
    um_error_set(err, UM_ERR_USAGE, "cannot open job store %s: no such kind of store; known: %s",
                 shown, known);
}

int um_store_open(um_store **store, const char *location, um_error *err)
{
    *store = NULL;
    if (!location || !*location) {
        um_error_set(err, UM_ERR_USAGE,
                     "no job store given: expected sqlite:PATH, a file path or postgres://...");
        return -1;
    }
    for (size_t i = 0; i < BACKEND_COUNT; i++) {
        size_t n = strlen(backends[i].prefix);
        if (strncmp(location, backends[i].prefix, n) != 0)
            continue;
        if (!location[n]) {
            um_error_set(err, UM_ERR_USAGE, "cannot open job store %s: it names no %s", location,
                         backends[i].usage);
            return -1;
        }
        return backends[i].ops->open(store, backends[i].whole ? location : location + n, err);
    }
    if (has_scheme(location)) {
        unknown_store(location, err);
        return -1;
    }
    return um_store_sqlite_ops.open(store, location, err);
}

void um_store_close(um_store **store)
{
    if (!store || !*store)
        return;
    (*store)->ops->close(*store);
    *store = NULL;
}

/* ---- checks shared by every backend --------------------------------- */

/* A usable id (what: "job id", "worker id"): non-empty, and terminated
 * within size bytes, the size of the buffers that hold one. */
static int check_name(const char *value, size_t size, const char *what, um_error *err)
{
    if (!value || !*value || strnlen(value, size) == size) {
        um_error_set(err, UM_ERR_USAGE, "%s is missing or longer than %d characters", what,
                     (int)size - 1);
        return -1;
    }
    return 0;
}

static int check_id(const char *id, um_error *err)
{
    return check_name(id, UM_JOB_ID_SIZE, "job id", err);
}

static int check_priority(int priority, um_error *err)
{
    if (priority < PRIORITY_MIN || priority > PRIORITY_MAX) {
        um_error_set(err, UM_ERR_USAGE, "job priority %d is out of range (%d to %d)", priority,
                     PRIORITY_MIN, PRIORITY_MAX);
        return -1;
    }
    return 0;
}

static int check_required(const char *value, const char *what, um_error *err)
{
    if (!value || !*value) {
        um_error_set(err, UM_ERR_USAGE, "job has no %s", what);
        return -1;
    }
    return 0;
}

/* ---- dispatch ----------------------------------------------------------- */

/*
 * A new job is queued, untouched by any worker: whatever status, progress,
 * attempts, times, error or result the caller left in *job are reset, so
 * *job afterwards is what um_store_get would return.
 */
int um_store_insert(um_store *store, um_job *job, um_error *err)
{
    if (check_id(job->id, err) < 0 || check_required(job->job_type, "type", err) < 0 ||
        check_required(job->source_uri, "source", err) < 0 ||
        check_required(job->target_uri, "target", err) < 0 || check_priority(job->priority, err) < 0)
        return -1;
    free(job->error);
    free(job->result_url);
    job->error = job->result_url = NULL;
    job->status = UM_JOB_QUEUED;
    job->progress = 0;
    job->attempts = 0;
    job->created_at = job->started_at = job->finished_at = 0;
    return store->ops->insert(store, job, err);
}

int um_store_get(um_store *store, const char *id, um_job *job, um_error *err)
{
    if (check_id(id, err) < 0)
        return -1;
    /* id may be job->id itself, which clearing the job wipes. */
    char key[UM_JOB_ID_SIZE];
    snprintf(key, sizeof(key), "%s", id);
    um_job_clear(job);
    return store->ops->get(store, key, job, err);
}

int um_store_list(um_store *store, int status, int limit, int offset, um_job **jobs, int *count,
                  um_error *err)
{
    *jobs = NULL;
    *count = 0;
    if (status >= STATUS_COUNT) {
        um_error_set(err, UM_ERR_USAGE, "no job status %d", status);
        return -1;
    }
    if (limit < 0 || offset < 0) {
        um_error_set(err, UM_ERR_USAGE, "job list limit (%d) and offset (%d) cannot be negative",
                     limit, offset);
        return -1;
    }
    if (limit == 0)
        return 0;
    return store->ops->list(store, status < 0 ? -1 : status, limit, offset, jobs, count, err);
}

static int check_worker(const char *worker, um_error *err)
{
    return check_name(worker, UM_WORKER_ID_SIZE, "worker id", err);
}

/* A lease from a tenth of a second to a day: shorter could not be renewed
 * in time, longer would leave a dead worker's job stuck for days. */
static int check_lease(double lease_seconds, um_error *err)
{
    if (!(lease_seconds >= 0.1 && lease_seconds <= 86400)) { /* also refuses NaN */
        um_error_set(err, UM_ERR_USAGE, "job lease %g s is outside 0.1 to 86400 seconds",
                     lease_seconds);
        return -1;
    }
    return 0;
}

/* The checks of a call a lease holder makes on its job. */
static int check_holder(const char *id, const char *worker, um_error *err)
{
    return check_id(id, err) < 0 || check_worker(worker, err) < 0 ? -1 : 0;
}

int um_store_claim(um_store *store, const char *worker, double lease_seconds, um_job *job,
                   um_error *err)
{
    um_job_clear(job);
    if (check_worker(worker, err) < 0 || check_lease(lease_seconds, err) < 0)
        return -1;
    return store->ops->claim(store, worker, lease_seconds, job, err);
}

int um_store_heartbeat(um_store *store, const char *id, const char *worker, double lease_seconds,
                       um_error *err)
{
    if (check_holder(id, worker, err) < 0 || check_lease(lease_seconds, err) < 0)
        return -1;
    return store->ops->heartbeat(store, id, worker, lease_seconds, err);
}

int um_store_progress(um_store *store, const char *id, const char *worker, double progress,
                      um_error *err)
{
    if (check_holder(id, worker, err) < 0)
        return -1;
    if (!(progress >= 0 && progress <= 1)) { /* also refuses NaN */
        um_error_set(err, UM_ERR_USAGE, "job progress %g is outside 0..1", progress);
        return -1;
    }
    return store->ops->progress(store, id, worker, progress, err);
}

int um_store_finish(um_store *store, const char *id, const char *worker, um_job_status status,
                    const char *error, const char *result_url, um_error *err)
{
    if (check_holder(id, worker, err) < 0)
        return -1;
    if (status != UM_JOB_COMPLETED && status != UM_JOB_FAILED && status != UM_JOB_CANCELED) {
        um_error_set(err, UM_ERR_USAGE, "a job cannot finish as %s",
                     um_job_status_name(status));
        return -1;
    }
    return store->ops->finish(store, id, worker, status, error, result_url, err);
}

int um_store_release(um_store *store, const char *id, const char *worker, um_error *err)
{
    if (check_holder(id, worker, err) < 0)
        return -1;
    return store->ops->release(store, id, worker, err);
}

int um_store_cancel(um_store *store, const char *id, um_error *err)
{
    if (check_id(id, err) < 0)
        return -1;
    return store->ops->cancel(store, id, err);
}

int um_store_update(um_store *store, const char *id, int priority, const char *metadata,
                    um_error *err)
{
    if (check_id(id, err) < 0 || (priority != 0 && check_priority(priority, err) < 0))
        return -1;
    return store->ops->update(store, id, priority, metadata, err);
}

int um_store_reap(um_store *store, int max_attempts, int *requeued, int *failed, um_error *err)
{
    int r = 0, f = 0, ret = -1;
    if (max_attempts < 1)
        um_error_set(err, UM_ERR_USAGE, "a job's attempts limit %d is below 1", max_attempts);
    else
        ret = store->ops->reap(store, max_attempts, &r, &f, err);
    if (requeued)
        *requeued = ret < 0 ? 0 : r;
    if (failed)
        *failed = ret < 0 ? 0 : f;
    return ret;
}

int um_store_wait(um_store *store, double timeout_s, um_error *err)
{
    if (!(timeout_s >= 0 && timeout_s <= 3600)) {
        um_error_set(err, UM_ERR_USAGE, "a store wait of %g s is outside 0 to 3600 seconds",
                     timeout_s);
        return -1;
    }
    return store->ops->wait(store, timeout_s, err);
}

int um_store_counts(um_store *store, int64_t counts[5], um_error *err)
{
    memset(counts, 0, sizeof(int64_t) * STATUS_COUNT);
    return store->ops->counts(store, counts, err);
}
