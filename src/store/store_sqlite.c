/*
 * The SQLite job store: one database file, the embedded default.
 *
 * WAL journal, so readers (the HTTP threads listing jobs) do not wait for a
 * writer; synchronous=NORMAL, which in WAL mode loses at most the last
 * commits on a power cut, never the file; a busy timeout, so a second
 * process on the same file waits for the write lock instead of failing.
 *
 * One connection per store, shared by every thread of the process: each
 * call holds the store's mutex from its first bind to its last read, since
 * the prepared statements and sqlite3_errmsg belong to the connection, not
 * to a thread (so the connection itself needs no SQLite mutex: NOMUTEX).
 * Claiming is one UPDATE ... RETURNING, atomic in SQLite, so two workers in
 * different processes cannot take the same job either.
 *
 * Status is stored as its name, times as REAL Unix seconds (NULL for "not
 * yet"), and the schema's version in PRAGMA user_version, which the
 * migrations below bring up to date when a store is opened.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "store/store_internal.h"

/* How long a call waits for another process's write lock. */
#define BUSY_TIMEOUT_MS 5000

/*
 * The schema, as steps: migrations[v] brings a version v store to v + 1,
 * and a new store runs them all. A new version is a new step at the end;
 * old steps never change, since stores already ran them.
 */
static const char *const migrations[] = {
    /* 0 -> 1: the jobs. seq is the insertion order (an alias of the rowid,
     * so VACUUM keeps it) that breaks ties between equal created_at. The
     * claim index serves "highest priority, then oldest" among queued jobs;
     * the created index serves listing newest first and the next
     * created_at. */
    "CREATE TABLE jobs ("
    "  seq INTEGER PRIMARY KEY,"
    "  id TEXT NOT NULL UNIQUE,"
    "  job_type TEXT NOT NULL,"
    "  source_uri TEXT NOT NULL,"
    "  target_uri TEXT NOT NULL,"
    "  metadata TEXT,"
    "  config TEXT,"
    "  priority INTEGER NOT NULL CHECK (priority BETWEEN 1 AND 10),"
    "  status TEXT NOT NULL"
    "    CHECK (status IN ('queued', 'processing', 'completed', 'failed', 'canceled')),"
    "  progress REAL NOT NULL DEFAULT 0,"
    "  error TEXT,"
    "  result_url TEXT,"
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  created_at REAL NOT NULL,"
    "  started_at REAL,"
    "  finished_at REAL"
    ");"
    "CREATE INDEX jobs_claim ON jobs (status, priority DESC, created_at);"
    "CREATE INDEX jobs_created ON jobs (created_at);",
    /* 1 -> 2: how to fetch the source (request headers, TLS verification),
     * as JSON text. */
    "ALTER TABLE jobs ADD COLUMN source_options TEXT;",
    /* 2 -> 3: leases. worker names who holds a processing job (or last
     * held it); lease_expires_at is when its lease runs out unless renewed.
     * Jobs left processing by an older unmark have no lease, which reaping
     * takes as run out. */
    "ALTER TABLE jobs ADD COLUMN worker TEXT;"
    "ALTER TABLE jobs ADD COLUMN lease_expires_at REAL;",
};

#define SCHEMA_VERSION ((int)(sizeof(migrations) / sizeof(migrations[0])))

/* Every column of a job, in the order read_job reads them. */
#define JOB_COLUMNS                                                                              \
    "id, job_type, source_uri, target_uri, metadata, config, priority, status, progress, error, " \
    "result_url, attempts, created_at, started_at, finished_at, source_options, worker, "        \
    "lease_expires_at"

enum {
    ST_INSERT,
    ST_GET,
    ST_LIST,
    ST_CLAIM,
    ST_HEARTBEAT,
    ST_PROGRESS,
    ST_FINISH,
    ST_RELEASE,
    ST_CANCEL,
    ST_UPDATE,
    ST_REAP,
    ST_COUNTS,
    ST_COUNT
};

/* The statements, prepared once per store. */
static const char *const statement_sql[ST_COUNT] = {
    /* created_at is now, or just after the newest job when the clock has
     * not moved on (same microsecond, or set back), so creation order is
     * strict and survives into claims and listings. */
    [ST_INSERT] = "INSERT INTO jobs (id, job_type, source_uri, target_uri, metadata, config, "
                  "priority, source_options, status, progress, attempts, created_at) "
                  "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?9, 'queued', 0, 0, "
                  "MAX(?8, COALESCE((SELECT MAX(created_at) FROM jobs), 0) + 0.000001)) "
                  "RETURNING created_at",
    [ST_GET] = "SELECT " JOB_COLUMNS " FROM jobs WHERE id = ?1",
    [ST_LIST] = "SELECT " JOB_COLUMNS " FROM jobs WHERE ?1 IS NULL OR status = ?1 "
                "ORDER BY created_at DESC, seq DESC LIMIT ?2 OFFSET ?3",
    [ST_CLAIM] = "UPDATE jobs SET status = 'processing', attempts = attempts + 1, started_at = ?1, "
                 "worker = ?2, lease_expires_at = ?1 + ?3 "
                 "WHERE seq = (SELECT seq FROM jobs WHERE status = 'queued' "
                 "ORDER BY priority DESC, created_at, seq LIMIT 1) "
                 "RETURNING " JOB_COLUMNS,
    /* The calls of a lease's holder act only while it holds the lease. */
    [ST_HEARTBEAT] = "UPDATE jobs SET lease_expires_at = ?3 "
                     "WHERE id = ?1 AND worker = ?2 AND status = 'processing'",
    [ST_PROGRESS] = "UPDATE jobs SET progress = ?3 "
                    "WHERE id = ?1 AND worker = ?2 AND status = 'processing'",
    [ST_FINISH] = "UPDATE jobs SET status = ?2, error = ?3, result_url = ?4, finished_at = ?5, "
                  "lease_expires_at = NULL, "
                  "progress = CASE WHEN ?2 = 'completed' THEN 1.0 ELSE progress END "
                  "WHERE id = ?1 AND worker = ?6 AND status = 'processing'",
    [ST_RELEASE] = "UPDATE jobs SET status = 'queued', attempts = attempts - 1, progress = 0, "
                   "started_at = NULL, lease_expires_at = NULL "
                   "WHERE id = ?1 AND worker = ?2 AND status = 'processing'",
    [ST_CANCEL] = "UPDATE jobs SET status = 'canceled', finished_at = ?2, lease_expires_at = NULL "
                  "WHERE id = ?1 AND status IN ('queued', 'processing')",
    [ST_UPDATE] = "UPDATE jobs SET priority = COALESCE(?2, priority), "
                  "metadata = COALESCE(?3, metadata) WHERE id = ?1 AND status = 'queued'",
    /* A lease that ran out (or a job from before leases, with none): the
     * job is queued again, or fails once claimed ?2 times. */
    [ST_REAP] = "UPDATE jobs SET "
                "status = CASE WHEN attempts >= ?2 THEN 'failed' ELSE 'queued' END, "
                "error = CASE WHEN attempts >= ?2 THEN "
                UM_STORE_LOST_REASON("attempts", "worker") " ELSE error END, "
                "finished_at = CASE WHEN attempts >= ?2 THEN ?1 END, "
                "progress = CASE WHEN attempts >= ?2 THEN progress ELSE 0 END, "
                "started_at = CASE WHEN attempts >= ?2 THEN started_at END, "
                "lease_expires_at = NULL "
                "WHERE status = 'processing' AND COALESCE(lease_expires_at, 0) < ?1 "
                "RETURNING status",
    [ST_COUNTS] = "SELECT status, COUNT(*) FROM jobs GROUP BY status",
};

typedef struct {
    struct um_store base; /* first: see store_internal.h */
    sqlite3 *db;
    char *path;
    pthread_mutex_t lock;
    sqlite3_stmt *stmt[ST_COUNT];
} sqlite_store;

/* ---- helpers --------------------------------------------------------- */

static void lock(sqlite_store *s) { pthread_mutex_lock(&s->lock); }
static void unlock(sqlite_store *s) { pthread_mutex_unlock(&s->lock); }

/* Records the connection's last error as what failed. Called with the lock
 * held, since errmsg is the connection's, and any thread's call sets it. */
static int db_fail(const sqlite_store *s, const char *what, um_error *err)
{
    um_error_set(err, UM_ERR_OTHER, "job store %s: cannot %s: %s", s->path, what,
                 sqlite3_errmsg(s->db));
    return -1;
}

/* Binds text, or NULL when text is NULL. The caller's string outlives the
 * statement's run (bindings are cleared before each call returns), so
 * SQLite need not copy it. */
static int bind_text(sqlite3_stmt *st, int index, const char *text)
{
    return sqlite3_bind_text(st, index, text, -1, SQLITE_STATIC);
}

/* Readies a statement for the next call. reset's result repeats the last
 * step's error, which the caller has already reported, so it is not
 * checked again; clear_bindings cannot fail. */
static void done_with(sqlite3_stmt *st)
{
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

/* Runs a statement that returns no rows: the rows it changed, or -1. */
static int run_change(sqlite_store *s, sqlite3_stmt *st, const char *what, um_error *err)
{
    if (sqlite3_step(st) != SQLITE_DONE)
        return db_fail(s, what, err);
    return sqlite3_changes(s->db);
}

/* Ends a call that changes rows, under the lock, with its parameters bound
 * (rc: how the binding went): runs the statement unless binding failed,
 * readies it for the next call and unlocks. The rows changed, or -1. */
static int end_change(sqlite_store *s, sqlite3_stmt *st, int rc, const char *what, um_error *err)
{
    int changed = rc == SQLITE_OK ? run_change(s, st, what, err) : db_fail(s, what, err);
    done_with(st);
    unlock(s);
    return changed;
}

/* Ends a call that changes one job at most (as end_change): 1 when it
 * changed the job, 0 when the job was not as the call needs (the worker
 * does not hold it, it has ended ...), or -1. */
static int end_one(sqlite_store *s, sqlite3_stmt *st, int rc, const char *what, um_error *err)
{
    int changed = end_change(s, st, rc, what, err);
    return changed < 0 ? -1 : changed > 0;
}

/* Runs a statement whose result is one row at most (the row RETURNING
 * gives, a lookup): 1 with the row current, 0 when none, or -1. */
static int step_row(sqlite_store *s, sqlite3_stmt *st, const char *what, um_error *err)
{
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        return 1;
    if (rc == SQLITE_DONE)
        return 0;
    return db_fail(s, what, err);
}

/* Steps past a statement's last row: an UPDATE or INSERT ... RETURNING has
 * made its change with the first row, but is only committed, and its errors
 * only known, once it runs to the end. */
static int step_done(sqlite_store *s, sqlite3_stmt *st, const char *what, um_error *err)
{
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        ;
    return rc == SQLITE_DONE ? 0 : db_fail(s, what, err);
}

/* A copy of a text column, or NULL when the column is NULL. */
static char *column_strdup(sqlite3_stmt *st, int col)
{
    if (sqlite3_column_type(st, col) == SQLITE_NULL)
        return NULL;
    /* NULL from a non-NULL column means SQLite ran out of memory. */
    const char *text = (const char *)sqlite3_column_text(st, col);
    return um_xstrdup(um_check_alloc((void *)text, "a job store value"));
}

/* The current row (columns JOB_COLUMNS) into *job. */
static int read_job(const sqlite_store *s, sqlite3_stmt *st, um_job *job, um_error *err)
{
    const char *id = (const char *)sqlite3_column_text(st, 0);
    const char *status = (const char *)sqlite3_column_text(st, 7);
    int code = status ? um_store_status_from_name(status) : -1;
    if (!id || strlen(id) >= sizeof(job->id) || code < 0) {
        um_error_set(err, UM_ERR_OTHER, "job store %s: job %s has an invalid id or status (%s)",
                     s->path, id ? id : "(none)", status ? status : "none");
        return -1;
    }
    snprintf(job->id, sizeof(job->id), "%s", id);
    job->job_type = column_strdup(st, 1);
    job->source_uri = column_strdup(st, 2);
    job->target_uri = column_strdup(st, 3);
    job->metadata = column_strdup(st, 4);
    job->config = column_strdup(st, 5);
    job->priority = sqlite3_column_int(st, 6);
    job->status = (um_job_status)code;
    job->progress = sqlite3_column_double(st, 8);
    job->error = column_strdup(st, 9);
    job->result_url = column_strdup(st, 10);
    job->attempts = sqlite3_column_int(st, 11);
    job->created_at = sqlite3_column_double(st, 12);
    job->started_at = sqlite3_column_double(st, 13); /* NULL reads as 0: not yet */
    job->finished_at = sqlite3_column_double(st, 14);
    job->source_options = column_strdup(st, 15);
    job->worker = column_strdup(st, 16);
    job->lease_expires_at = sqlite3_column_double(st, 17);
    return 0;
}

/* ---- opening: settings, schema, statements ---------------------------- */

/* Runs SQL that returns nothing (settings, schema, transactions). */
static int exec(sqlite_store *s, const char *sql, const char *what, um_error *err)
{
    if (sqlite3_exec(s->db, sql, NULL, NULL, NULL) != SQLITE_OK)
        return db_fail(s, what, err);
    return 0;
}

/* Reads a one-row, one-column PRAGMA as text into out. */
static int pragma_text(sqlite_store *s, const char *sql, char *out, size_t cap, um_error *err)
{
    int result = -1;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) {
        db_fail(s, "read its settings", err);
        goto fail;
    }
    if (step_row(s, st, "read its settings", err) != 1) {
        um_error_set(err, UM_ERR_OTHER, "job store %s: %s gave no answer", s->path, sql);
        goto fail;
    }
    const char *text = (const char *)sqlite3_column_text(st, 0);
    snprintf(out, cap, "%s", text ? text : "");
    if (step_done(s, st, "read its settings", err) < 0)
        goto fail;
    result = 0;
fail:
    sqlite3_finalize(st); /* repeats the error already reported */
    return result;
}

/* The connection's settings; they are not stored in the file (except the
 * journal mode), so every open sets them. */
static int configure(sqlite_store *s, um_error *err)
{
    if (sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS) != SQLITE_OK)
        return db_fail(s, "set its busy timeout", err);
    char mode[32];
    if (pragma_text(s, "PRAGMA journal_mode=WAL", mode, sizeof(mode), err) < 0)
        return -1;
    /* A filesystem without shared memory (some network mounts) keeps the
     * rollback journal: slower under load, still correct. An in-memory
     * database has no journal file at all. */
    if (strcmp(mode, "wal") != 0 && strcmp(mode, "memory") != 0)
        um_log(UM_LOG_WARN, "job store %s: WAL journal not available, using %s", s->path, mode);
    return exec(s, "PRAGMA synchronous=NORMAL", "set synchronous=NORMAL", err);
}

/*
 * Brings the schema to SCHEMA_VERSION in one write transaction, so two
 * processes opening a new file at once create it once, and a failed step
 * leaves the previous version whole. A file from a newer unmark is
 * refused rather than used with a schema this one does not know.
 */
static int migrate(sqlite_store *s, um_error *err)
{
    int result = -1;
    char text[32];
    if (exec(s, "BEGIN IMMEDIATE", "start its schema transaction", err) < 0)
        goto fail;
    if (pragma_text(s, "PRAGMA user_version", text, sizeof(text), err) < 0)
        goto fail;
    int version = atoi(text);
    if (version > SCHEMA_VERSION || version < 0) {
        um_error_set(err, UM_ERR_OTHER,
                     "job store %s: its schema version is %d; this unmark knows up to %d", s->path,
                     version, SCHEMA_VERSION);
        goto fail;
    }
    for (int v = version; v < SCHEMA_VERSION; v++)
        if (exec(s, migrations[v], "update its schema", err) < 0)
            goto fail;
    if (version < SCHEMA_VERSION) {
        char sql[64];
        snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", SCHEMA_VERSION);
        if (exec(s, sql, "record its schema version", err) < 0)
            goto fail;
    }
    if (exec(s, "COMMIT", "commit its schema", err) < 0)
        goto fail;
    result = 0;
fail:
    /* The error that got here is already recorded; rollback only undoes. */
    if (result < 0 && !sqlite3_get_autocommit(s->db))
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return result;
}

static int prepare_all(sqlite_store *s, um_error *err)
{
    for (int i = 0; i < ST_COUNT; i++)
        if (sqlite3_prepare_v3(s->db, statement_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->stmt[i],
                               NULL) != SQLITE_OK)
            return db_fail(s, "prepare its statements", err);
    return 0;
}

static void sqlite_close(um_store *store)
{
    sqlite_store *s = (sqlite_store *)store;
    /* finalize returns the statement's last error, already reported. */
    for (int i = 0; i < ST_COUNT; i++)
        sqlite3_finalize(s->stmt[i]);
    if (s->db && sqlite3_close(s->db) != SQLITE_OK)
        um_log(UM_LOG_WARN, "job store %s: closing: %s", s->path, sqlite3_errmsg(s->db));
    pthread_mutex_destroy(&s->lock);
    free(s->path);
    free(s);
}

static int sqlite_open(um_store **store, const char *path, um_error *err)
{
    int result = -1;
    sqlite_store *s = um_xcalloc(1, sizeof(*s));
    s->base.ops = &um_store_sqlite_ops;
    s->path = um_xstrdup(path);
    int rc = pthread_mutex_init(&s->lock, NULL);
    if (rc != 0) {
        um_error_set(err, UM_ERR_OTHER, "job store %s: cannot create its lock: %s", path,
                     strerror(rc));
        free(s->path);
        free(s);
        return -1;
    }
    rc = sqlite3_open_v2(path, &s->db,
                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    um_check_alloc(s->db, "a SQLite connection");
    if (rc != SQLITE_OK) {
        /* SQLite's "unable to open database file" does not say why; the
         * system's error (no such directory, permission) does. */
        int sys = sqlite3_system_errno(s->db);
        um_error_set(err, UM_ERR_OTHER, "cannot open job store %s: %s%s%s%s", path,
                     sqlite3_errmsg(s->db), sys ? " (" : "", sys ? strerror(sys) : "",
                     sys ? ")" : "");
        goto fail;
    }
    if (configure(s, err) < 0 || migrate(s, err) < 0 || prepare_all(s, err) < 0)
        goto fail;
    *store = &s->base;
    result = 0;
fail:
    if (result < 0)
        sqlite_close(&s->base);
    return result;
}

/* ---- operations -------------------------------------------------------- */

static int sqlite_insert(um_store *store, um_job *job, um_error *err)
{
    sqlite_store *s = (sqlite_store *)store;
    sqlite3_stmt *st = s->stmt[ST_INSERT];
    const char *what = "add a job";
    int result = -1;
    lock(s);
    int rc = bind_text(st, 1, job->id);
    if (rc == SQLITE_OK)
        rc = bind_text(st, 2, job->job_type);
    if (rc == SQLITE_OK)
        rc = bind_text(st, 3, job->source_uri);
    if (rc == SQLITE_OK)
        rc = bind_text(st, 4, job->target_uri);
    if (rc == SQLITE_OK)
        rc = bind_text(st, 5, job->metadata);
    if (rc == SQLITE_OK)
        rc = bind_text(st, 6, job->config);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int(st, 7, job->priority);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_double(st, 8, um_store_now());
    if (rc == SQLITE_OK)
        rc = bind_text(st, 9, job->source_options);
    if (rc != SQLITE_OK) {
        db_fail(s, what, err);
        goto fail;
    }
    if (step_row(s, st, what, err) != 1) {
        um_error_set(err, UM_ERR_OTHER, "job store %s: cannot %s: no row came back", s->path, what);
        goto fail;
    }
    double created = sqlite3_column_double(st, 0);
    if (step_done(s, st, what, err) < 0)
        goto fail;
    job->created_at = created;
    result = 0;
fail:
    done_with(st);
    unlock(s);
    return result;
}

static int sqlite_get(um_store *store, const char *id, um_job *job, um_error *err)
{
    sqlite_store *s = (sqlite_store *)store;
    sqlite3_stmt *st = s->stmt[ST_GET];
    const char *what = "read a job";
    int result = -1;
    lock(s);
    if (bind_text(st, 1, id) != SQLITE_OK) {
        db_fail(s, what, err);
        goto fail;
    }
    int found = step_row(s, st, what, err);
    if (found < 0 || (found && read_job(s, st, job, err) < 0))
        goto fail;
    result = found;
fail:
    if (result < 0)
        um_job_clear(job);
    done_with(st);
    unlock(s);
    return result;
}

static int sqlite_list(um_store *store, int status, int limit, int offset, um_job **jobs,
                       int *count, um_error *err)
{
    sqlite_store *s = (sqlite_store *)store;
    sqlite3_stmt *st = s->stmt[ST_LIST];
    const char *what = "list jobs";
    int result = -1;
    um_job *v = NULL;
    int n = 0, cap = 0;
    lock(s);
    int rc = bind_text(st, 1, status < 0 ? NULL : um_job_status_name((um_job_status)status));
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int(st, 2, limit);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int(st, 3, offset);
    if (rc != SQLITE_OK) {
        db_fail(s, what, err);
        goto fail;
    }
    for (;;) {
        int row = step_row(s, st, what, err);
        if (row < 0)
            goto fail;
        if (!row)
            break;
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            v = um_xrealloc(v, (size_t)cap * sizeof(*v));
        }
        memset(&v[n], 0, sizeof(v[n]));
        if (read_job(s, st, &v[n], err) < 0) {
            um_job_clear(&v[n]);
            goto fail;
        }
        n++;
    }
    *jobs = v;
    *count = n;
    v = NULL;
    result = 0;
fail:
    if (v) {
        for (int i = 0; i < n; i++)
            um_job_clear(&v[i]);
        free(v);
    }
    done_with(st);
    unlock(s);
    return result;
}

static int sqlite_claim(um_store *store, const char *worker, double lease_seconds, um_job *job,
                        um_error *err)
{
    sqlite_store *s = (sqlite_store *)store;
    sqlite3_stmt *st = s->stmt[ST_CLAIM];
    const char *what = "claim a job";
    int result = -1;
    lock(s);
    int rc = sqlite3_bind_double(st, 1, um_store_now());
    if (rc == SQLITE_OK)
        rc = bind_text(st, 2, worker);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_double(st, 3, lease_seconds);
    if (rc != SQLITE_OK) {
        db_fail(s, what, err);
        goto fail;
    }
    int found = step_row(s, st, what, err);
    if (found < 0 || (found && read_job(s, st, job, err) < 0))
        goto fail;
    if (found && step_done(s, st, what, err) < 0)
        goto fail;
    result = found;
fail:
    if (result < 0)
        um_job_clear(job);
    done_with(st);
    unlock(s);
    return result;
}

/* Binds a lease holder's call's first two parameters: the job and the
 * worker. Under the lock. */
static int bind_holder(sqlite3_stmt *st, const char *id, const char *worker)
{
    int rc = bind_text(st, 1, id);
    return rc == SQLITE_OK ? bind_text(st, 2, worker) : rc;
}

static int sqlite_heartbeat(um_store *store, const char *id, const char *worker,
                            double lease_seconds, um_error *err)
{
    sqlite_store *s = (sqlite_store *)store;
    sqlite3_stmt *st = s->stmt[ST_HEARTBEAT];
    lock(s);
    int rc = bind_holder(st, id, worker);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_double(st, 3, um_store_now() + lease_seconds);
    return end_one(s, st, rc, "renew a job's lease", err);
}

static int sqlite_progress(um_store *store, const char *id, const char *worker, double progress,
                           um_error *err)
{
    sqlite_store *s = (sqlite_store *)store;
    sqlite3_stmt *st = s->stmt[ST_PROGRESS];
    lock(s);
    int rc = bind_holder(st, id, worker);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_double(st, 3, progress);
    return end_one(s, st, rc, "record a job's progress", err);
}

static int sqlite_finish(um_store *store, const char *id, const char *worker,
                         um_job_status status, const char *error, const char *result_url,
                         um_error *err)
{
    sqlite_store *s = (sqlite_store *)store;
    sqlite3_stmt *st = s->stmt[ST_FINISH];
    lock(s);
    int rc = bind_text(st, 1, id);
    if (rc == SQLITE_OK)
        rc = bind_text(st, 2, um_job_status_name(status));
    if (rc == SQLITE_OK)
        rc = bind_text(st, 3, error);
    if (rc == SQLITE_OK)
        rc = bind_text(st, 4, result_url);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_double(st, 5, um_store_now());
    if (rc == SQLITE_OK)
        rc = bind_text(st, 6, worker);
    return end_one(s, st, rc, "finish a job", err);
}

static int sqlite_release(um_store *store, const char *id, const char *worker, um_error *err)
{
    sqlite_store *s = (sqlite_store *)store;
    sqlite3_stmt *st = s->stmt[ST_RELEASE];
    lock(s);
    return end_one(s, st, bind_holder(st, id, worker), "release a job", err);
}

static int sqlite_cancel(um_store *store, const char *id, um_error *err)
{
    sqlite_store *s = (sqlite_store *)store;
    sqlite3_stmt *st = s->stmt[ST_CANCEL];
    lock(s);
    int rc = bind_text(st, 1, id);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_double(st, 2, um_store_now());
    return end_one(s, st, rc, "cancel a job", err);
}

static int sqlite_update(um_store *store, const char *id, int priority, const char *metadata,
                         um_error *err)
{
    sqlite_store *s = (sqlite_store *)store;
    sqlite3_stmt *st = s->stmt[ST_UPDATE];
    lock(s);
    /* NULL parameters leave their column as it is (COALESCE). */
    int rc = bind_text(st, 1, id);
    if (rc == SQLITE_OK)
        rc = priority ? sqlite3_bind_int(st, 2, priority) : sqlite3_bind_null(st, 2);
    if (rc == SQLITE_OK)
        rc = bind_text(st, 3, metadata);
    return end_one(s, st, rc, "update a job", err);
}

static int sqlite_reap(um_store *store, int max_attempts, int *requeued, int *failed,
                       um_error *err)
{
    sqlite_store *s = (sqlite_store *)store;
    sqlite3_stmt *st = s->stmt[ST_REAP];
    const char *what = "requeue jobs whose worker was lost";
    int result = -1;
    lock(s);
    int rc = sqlite3_bind_double(st, 1, um_store_now());
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int(st, 2, max_attempts);
    if (rc != SQLITE_OK) {
        db_fail(s, what, err);
        goto fail;
    }
    /* one row per job reaped: its new status */
    int row;
    while ((row = step_row(s, st, what, err)) == 1) {
        const char *status = (const char *)sqlite3_column_text(st, 0);
        (*(status && strcmp(status, "failed") == 0 ? failed : requeued))++;
    }
    result = row;
fail:
    done_with(st);
    unlock(s);
    return result;
}

static int sqlite_wait(um_store *store, double timeout_s, um_error *err)
{
    (void)store;
    (void)err;
    um_store_sleep(timeout_s);
    return 0;
}

static int sqlite_counts(um_store *store, int64_t counts[5], um_error *err)
{
    sqlite_store *s = (sqlite_store *)store;
    sqlite3_stmt *st = s->stmt[ST_COUNTS];
    const char *what = "count jobs";
    int result = -1;
    lock(s);
    for (;;) {
        int row = step_row(s, st, what, err);
        if (row < 0)
            goto fail;
        if (!row)
            break;
        const char *name = (const char *)sqlite3_column_text(st, 0);
        int code = name ? um_store_status_from_name(name) : -1;
        if (code < 0) {
            um_error_set(err, UM_ERR_OTHER, "job store %s: unknown job status %s", s->path,
                         name ? name : "NULL");
            goto fail;
        }
        counts[code] = sqlite3_column_int64(st, 1);
    }
    result = 0;
fail:
    done_with(st);
    unlock(s);
    return result;
}

const um_store_ops um_store_sqlite_ops = {
    .open = sqlite_open,
    .close = sqlite_close,
    .insert = sqlite_insert,
    .get = sqlite_get,
    .list = sqlite_list,
    .claim = sqlite_claim,
    .heartbeat = sqlite_heartbeat,
    .progress = sqlite_progress,
    .finish = sqlite_finish,
    .release = sqlite_release,
    .cancel = sqlite_cancel,
    .update = sqlite_update,
    .reap = sqlite_reap,
    .wait = sqlite_wait,
    .counts = sqlite_counts,
};
