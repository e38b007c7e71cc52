/*
 * The PostgreSQL job store: one database shared by every server and worker
 * on any number of machines, where SQLite's file serves one. Jobs queued
 * (inserted, released, reaped) are announced with NOTIFY, which idle
 * workers wait for on a connection of their own (um_store_wait).
 *
 * Chosen by a libpq connection URI ("postgres://USER:PASSWORD@HOST/DB" or
 * "postgresql://..."), passed to libpq whole. It keeps the jobs in one table,
 * unmark_jobs, with the SQLite store's columns and meanings (status as its
 * name, times as double precision Unix seconds, NULL for "not yet"), so it
 * can share a database with other applications. unmark creates and migrates
 * the schema itself: the version is in unmark_schema_version, and the steps
 * run in one transaction under an advisory lock, so servers starting at once
 * on an empty database create it once.
 *
 * A claim is one statement: the next queued job is picked with FOR UPDATE
 * SKIP LOCKED and marked processing in the same UPDATE, so any number of
 * processes claiming at once never get the same job and never wait on each
 * other's choice.
 *
 * One connection per store, shared by every thread of the process behind the
 * store's mutex (a PGconn must not be used by two threads at once); each call
 * is one statement, so the lock is held for one round trip. A connection
 * found lost (server restarted, idle connection cut) is re-established once
 * before a call fails; see run().
 *
 * Every value reaches the server as a parameter (PQexecParams), never in the
 * SQL text. Errors name the store by its location without user name,
 * password or query, and never quote the password.
 */
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "store/store_internal.h"
#include "unmark/storage.h"

/* Oldest server this store talks to. The SQL needs 10 (identity columns);
 * 10 and 11 are past their end of life and untested here, so an older
 * server is refused with a clear error rather than a syntax error. */
#define MIN_SERVER_VERSION 120000
/* How long opening (and reconnecting) waits for the server, unless the URI
 * says otherwise (connect_timeout=...). */
#define CONNECT_TIMEOUT "10"

/*
 * The schema, as steps: migrations[v] brings a version v schema to v + 1,
 * and a new database runs them all. A new version is a new step at the end;
 * old steps never change, since databases already ran them.
 */
static const char *const migrations[] = {
    /* 0 -> 1: the jobs. seq is the insertion order that breaks ties between
     * equal created_at (two servers inserting in the same microsecond). The
     * claim index holds only queued jobs, in claim order, so the claim reads
     * its first unlocked entry and the index stays as small as the queue;
     * the created index serves listing newest first and the next
     * created_at. */
    "CREATE TABLE unmark_jobs ("
    "  seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    "  id text NOT NULL UNIQUE,"
    "  job_type text NOT NULL,"
    "  source_uri text NOT NULL,"
    "  target_uri text NOT NULL,"
    "  metadata text,"
    "  config text,"
    "  source_options text,"
    "  priority integer NOT NULL CHECK (priority BETWEEN 1 AND 10),"
    "  status text NOT NULL"
    "    CHECK (status IN ('queued', 'processing', 'completed', 'failed', 'canceled')),"
    "  progress double precision NOT NULL DEFAULT 0,"
    "  error text,"
    "  result_url text,"
    "  attempts integer NOT NULL DEFAULT 0,"
    "  created_at double precision NOT NULL,"
    "  started_at double precision,"
    "  finished_at double precision"
    ");"
    "CREATE INDEX unmark_jobs_claim ON unmark_jobs (priority DESC, created_at, seq)"
    "  WHERE status = 'queued';"
    "CREATE INDEX unmark_jobs_created ON unmark_jobs (created_at, seq);",
    /* 1 -> 2: leases. worker names who holds a processing job (or last held
     * it); lease_expires_at is when its lease runs out unless renewed. The
     * lease index holds only processing jobs, so reaping reads the few
     * running ones. Jobs left processing by an older unmark have no lease,
     * which reaping takes as run out. */
    "ALTER TABLE unmark_jobs ADD COLUMN worker text,"
    "  ADD COLUMN lease_expires_at double precision;"
    "CREATE INDEX unmark_jobs_lease ON unmark_jobs (lease_expires_at)"
    "  WHERE status = 'processing';",
};

#define SCHEMA_VERSION ((int)(sizeof(migrations) / sizeof(migrations[0])))

/* The advisory lock that serialises migrations ("unmark" in ASCII). Held to
 * the end of the migration's transaction; per database, so unmark stores in
 * different databases do not wait for each other. */
#define MIGRATION_LOCK "128978290811499"

/* Every column of a job, in the order read_job reads them. */
#define JOB_COLUMNS                                                                              \
    "id, job_type, source_uri, target_uri, metadata, config, priority, status, progress, error, " \
    "result_url, attempts, created_at, started_at, finished_at, source_options, worker, "        \
    "lease_expires_at"

/* The channel a job queued (inserted, released, reaped) is announced on,
 * for idle workers blocked in um_store_wait, and the expression that
 * announces it (sent when the statement's transaction commits). */
#define CHANNEL "unmark_jobs"
#define NOTIFY "pg_notify('" CHANNEL "', '')"

/* Whether a statement may run a second time after the connection was lost
 * during its first run, when it may or may not have taken effect. */
enum { ONCE = 0, REPEATABLE = 1 };

typedef struct {
    struct um_store base; /* first: see store_internal.h */
    PGconn *conn;
    char *uri;   /* the location, for the listening connection */
    char *shown; /* the location without user info or query, for messages */
    pthread_mutex_t lock;
    /* um_store_wait's own connection, LISTENing on CHANNEL: opened at the
     * first wait, and again after it was lost. Its notices queue on it
     * between waits, so none is missed while a worker runs a job. */
    PGconn *listener;
    pthread_mutex_t listen_lock;
} pg_store;

/* ---- messages --------------------------------------------------------- */

typedef struct {
    const char *text;
    size_t len;
} span;

/* Where uri spells a password: in its user info (USER:PASSWORD@HOST) and in
 * a password= parameter. Returns how many of the two it has. */
static int find_passwords(const char *uri, span found[2])
{
    int n = 0;
    const char *scheme_end = strstr(uri, "://");
    const char *auth = scheme_end ? scheme_end + 3 : uri;
    size_t auth_len = strcspn(auth, "/?#");
    const char *at = memrchr(auth, '@', auth_len);
    const char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
    if (colon && at > colon + 1)
        found[n++] = (span){colon + 1, (size_t)(at - colon - 1)};
    for (const char *p = strchr(uri, '?'); p; p = strchr(p + 1, '&'))
        if (strncmp(p + 1, "password=", 9) == 0 && strcspn(p + 10, "&#") > 0) {
            found[n++] = (span){p + 10, strcspn(p + 10, "&#")};
            break;
        }
    return n;
}

/*
 * libpq's message msg as one line into out: its lines ("ERROR:  ...",
 * "DETAIL:  ...") joined by single spaces, without the final newline. When
 * uri is given, every place the message quotes its password becomes "***":
 * libpq's complaints about a malformed URI quote the URI, or the part it
 * could not read.
 */
static void message_line(char *out, size_t cap, const char *msg, const char *uri)
{
    span secret[2];
    int secrets = uri ? find_passwords(uri, secret) : 0;
    size_t len = 0;
    int space = 0;
    for (const char *p = msg; *p && len + 4 < cap;) {
        int hidden = 0;
        for (int i = 0; i < secrets && !hidden; i++)
            if (strncmp(p, secret[i].text, secret[i].len) == 0) {
                p += secret[i].len;
                hidden = 1;
            }
        if (!hidden && (*p == ' ' || *p == '\t' || *p == '\n')) {
            space = len > 0;
            p++;
            continue;
        }
        if (space)
            out[len++] = ' ';
        space = 0;
        if (hidden) {
            memcpy(out + len, "***", 3);
            len += 3;
        } else {
            out[len++] = *p++;
        }
    }
    out[len] = '\0';
}

/* Records why a call failed: the statement's error when it has one, else the
 * connection's. Called with the lock held, since the connection's message
 * is the last call's, whichever thread made it. */
static int pg_fail(const pg_store *s, const PGresult *res, const char *what, um_error *err)
{
    const char *msg = res ? PQresultErrorMessage(res) : "";
    char line[768];
    message_line(line, sizeof(line), *msg ? msg : PQerrorMessage(s->conn), NULL);
    if (!*line)
        snprintf(line, sizeof(line), "unexpected %s", PQresStatus(PQresultStatus(res)));
    um_error_set(err, UM_ERR_OTHER, "job store %s: cannot %s: %s", s->shown, what, line);
    return -1;
}

/* Server notices ("relation already exists, skipping") go to the debug log,
 * not to stderr where libpq prints them by default. */
static void on_notice(void *arg, const char *message)
{
    const pg_store *s = arg;
    char line[512];
    message_line(line, sizeof(line), message, NULL);
    um_log(UM_LOG_DEBUG, "job store %s: %s", s->shown, line);
}

/* ---- the connection ------------------------------------------------------ */

/*
 * What every new session needs, at open and after a reconnection: doubles
 * printed exactly (the server's default can be set lower, and times must
 * come back as stored: claim order and equality depend on them).
 */
static int start_session(pg_store *s, const char *what, um_error *err)
{
    PGresult *res = PQexec(s->conn, "SET extra_float_digits = 3");
    int result = PQresultStatus(res) == PGRES_COMMAND_OK ? 0 : pg_fail(s, res, what, err);
    PQclear(res);
    return result;
}

/* Re-establishes a connection known to be lost, once. Called with the lock
 * held. */
static int reconnect(pg_store *s, const char *what, um_error *err)
{
    PQreset(s->conn);
    if (PQstatus(s->conn) != CONNECTION_OK) {
        char line[512];
        message_line(line, sizeof(line), PQerrorMessage(s->conn), NULL);
        um_error_set(err, UM_ERR_OTHER, "job store %s: cannot %s: the connection was lost and "
                     "reconnecting failed: %s", s->shown, what, line);
        return -1;
    }
    um_log(UM_LOG_WARN, "job store %s: the connection was lost; reconnected", s->shown);
    return start_session(s, what, err);
}

/*
 * Runs one statement, params[n] its values as text (NULL ones are SQL
 * NULL): its result, to PQclear, or NULL with err set. Without params it
 * runs sql as a script (the schema's steps hold several statements).
 *
 * A connection found lost before the call is re-established first. One lost
 * during the call leaves it unknown whether the statement took effect, so it
 * runs again on a new connection only when running it twice does no harm
 * (REPEATABLE: reads, and updates that set what they set); a claim, say,
 * fails instead, and the next call reconnects.
 */
static PGresult *run(pg_store *s, const char *sql, int n, const char *const *params, int repeatable,
                     const char *what, um_error *err)
{
    PGresult *res = NULL;
    pthread_mutex_lock(&s->lock);
    for (int attempt = 0;; attempt++) {
        if (PQstatus(s->conn) != CONNECTION_OK && reconnect(s, what, err) < 0)
            break;
        res = params ? PQexecParams(s->conn, sql, n, NULL, params, NULL, NULL, 0)
                     : PQexec(s->conn, sql);
        ExecStatusType status = PQresultStatus(res);
        if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK)
            break;
        int again = attempt == 0 && repeatable && PQstatus(s->conn) == CONNECTION_BAD;
        if (!again)
            pg_fail(s, res, what, err);
        PQclear(res);
        res = NULL;
        if (!again)
            break;
    }
    pthread_mutex_unlock(&s->lock);
    return res;
}

/* Runs a statement that changes one job at most: 1 when it changed it, 0
 * when the job was not as the statement needs (the worker does not hold
 * it, it has ended ...), or -1. A SELECT over a change's RETURNING counts
 * the rows it selects. */
static int run_one(pg_store *s, const char *sql, int n, const char *const *params, int repeatable,
                   const char *what, um_error *err)
{
    PGresult *res = run(s, sql, n, params, repeatable, what, err);
    if (!res)
        return -1;
    int changed = atoi(PQcmdTuples(res));
    PQclear(res);
    return changed > 0;
}

/* ---- values -------------------------------------------------------------- */

/* A number as a parameter's text; %.17g gives a double back exactly. */
static const char *format_double(char *buf, size_t cap, double value)
{
    snprintf(buf, cap, "%.17g", value);
    return buf;
}

static const char *format_int(char *buf, size_t cap, int value)
{
    snprintf(buf, cap, "%d", value);
    return buf;
}

/* A copy of a text value, or NULL when the value is NULL. */
static char *value_dup(const PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? NULL : um_xstrdup(PQgetvalue(res, row, col));
}

/* A number value; NULL reads as 0 ("not yet" for times). */
static double value_double(const PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? 0 : strtod(PQgetvalue(res, row, col), NULL);
}

/* Row row (columns JOB_COLUMNS) into *job. */
static int read_job(const pg_store *s, const PGresult *res, int row, um_job *job, um_error *err)
{
    const char *id = PQgetvalue(res, row, 0);
    const char *status = PQgetvalue(res, row, 7);
    int code = um_store_status_from_name(status);
    if (strlen(id) >= sizeof(job->id) || code < 0) {
        um_error_set(err, UM_ERR_OTHER, "job store %s: job %s has an invalid id or status (%s)",
                     s->shown, id, status);
        return -1;
    }
    snprintf(job->id, sizeof(job->id), "%s", id);
    job->job_type = value_dup(res, row, 1);
    job->source_uri = value_dup(res, row, 2);
    job->target_uri = value_dup(res, row, 3);
    job->metadata = value_dup(res, row, 4);
    job->config = value_dup(res, row, 5);
    job->priority = atoi(PQgetvalue(res, row, 6));
    job->status = (um_job_status)code;
    job->progress = value_double(res, row, 8);
    job->error = value_dup(res, row, 9);
    job->result_url = value_dup(res, row, 10);
    job->attempts = atoi(PQgetvalue(res, row, 11));
    job->created_at = value_double(res, row, 12);
    job->started_at = value_double(res, row, 13);
    job->finished_at = value_double(res, row, 14);
    job->source_options = value_dup(res, row, 15);
    job->worker = value_dup(res, row, 16);
    job->lease_expires_at = value_double(res, row, 17);
    return 0;
}

/* Runs a statement that returns one job at most (a lookup, a claim's
 * RETURNING): 1 with it in *job, 0 when none, or -1. */
static int run_job(pg_store *s, const char *sql, int n, const char *const *params, int repeatable,
                   const char *what, um_job *job, um_error *err)
{
    PGresult *res = run(s, sql, n, params, repeatable, what, err);
    if (!res)
        return -1;
    int found = PQntuples(res) > 0;
    int result = found && read_job(s, res, 0, job, err) < 0 ? -1 : found;
    PQclear(res);
    if (result < 0)
        um_job_clear(job);
    return result;
}

/* ---- opening: connection, schema ------------------------------------------ */

/* The schema's version: 0 for a database unmark has not used yet. */
static int read_version(pg_store *s, int *version, um_error *err)
{
    PGresult *res = run(s, "SELECT version FROM unmark_schema_version", 0, NULL, ONCE,
                        "read its schema version", err);
    if (!res)
        return -1;
    *version = PQntuples(res) > 0 ? atoi(PQgetvalue(res, 0, 0)) : 0;
    PQclear(res);
    return 0;
}

/* Runs statements that return nothing, in order (the schema's
 * transaction). */
static int run_all(pg_store *s, const char *const *sql, int count, const char *what, um_error *err)
{
    for (int i = 0; i < count; i++) {
        PGresult *res = run(s, sql[i], 0, NULL, ONCE, what, err);
        if (!res)
            return -1;
        PQclear(res);
    }
    return 0;
}

/*
 * Brings the schema to SCHEMA_VERSION in one transaction that first takes
 * the migration lock: processes opening a new database at once wait for the
 * first, then find the schema made; a failed step leaves the previous
 * version whole. A database from a newer unmark is refused rather than used
 * with a schema this one does not know.
 */
static int migrate(pg_store *s, um_error *err)
{
    static const char *const begin[] = {
        "BEGIN",
        "SELECT pg_advisory_xact_lock(" MIGRATION_LOCK ")",
        /* one row at most: its key can only be true */
        "CREATE TABLE IF NOT EXISTS unmark_schema_version ("
        "  one boolean PRIMARY KEY DEFAULT true CHECK (one),"
        "  version integer NOT NULL)",
    };
    int result = -1, version;
    if (run_all(s, begin, (int)(sizeof(begin) / sizeof(begin[0])), "start its schema transaction",
                err) < 0 ||
        read_version(s, &version, err) < 0)
        goto fail;
    if (version > SCHEMA_VERSION || version < 0) {
        um_error_set(err, UM_ERR_OTHER,
                     "job store %s: its schema version is %d; this unmark knows up to %d",
                     s->shown, version, SCHEMA_VERSION);
        goto fail;
    }
    if (run_all(s, migrations + version, SCHEMA_VERSION - version, "update its schema", err) < 0)
        goto fail;
    char text[16];
    const char *params[] = {format_int(text, sizeof(text), SCHEMA_VERSION)};
    PGresult *res = run(s,
                        "INSERT INTO unmark_schema_version (version) VALUES ($1) "
                        "ON CONFLICT (one) DO UPDATE SET version = excluded.version",
                        1, params, ONCE, "record its schema version", err);
    if (!res)
        goto fail;
    PQclear(res);
    res = run(s, "COMMIT", 0, NULL, ONCE, "commit its schema", err);
    if (!res)
        goto fail;
    PQclear(res);
    result = 0;
fail:
    /* The error that got here is already recorded; rollback only undoes
     * (and does nothing on a connection that is gone). */
    if (result < 0)
        PQclear(PQexec(s->conn, "ROLLBACK"));
    return result;
}

/* A new connection to uri, with unmark's defaults before the URI's settings
 * so the URI can override them: NULL with err set ("cannot WHAT: ...") when
 * it fails. */
static PGconn *open_connection(const pg_store *s, const char *uri, const char *what,
                               um_error *err)
{
    static const char *const keys[] = {"connect_timeout", "fallback_application_name", "dbname",
                                       NULL};
    const char *const values[] = {CONNECT_TIMEOUT, "unmark", uri, NULL};
    PGconn *conn = um_check_alloc(PQconnectdbParams(keys, values, 1), "a PostgreSQL connection");
    if (PQstatus(conn) != CONNECTION_OK) {
        char line[768];
        message_line(line, sizeof(line), PQerrorMessage(conn), uri);
        um_error_set(err, UM_ERR_OTHER, "cannot %s job store %s: %s", what, s->shown, line);
        PQfinish(conn);
        return NULL;
    }
    PQsetNoticeProcessor(conn, on_notice, (void *)s);
    return conn;
}

/* Connects the store's connection and checks the server. */
static int connect_to(pg_store *s, const char *uri, um_error *err)
{
    s->conn = open_connection(s, uri, "open", err);
    if (!s->conn)
        return -1;
    if (PQserverVersion(s->conn) < MIN_SERVER_VERSION) {
        const char *version = PQparameterStatus(s->conn, "server_version");
        um_error_set(err, UM_ERR_OTHER,
                     "cannot open job store %s: its server is PostgreSQL %s; unmark needs %d "
                     "or newer", s->shown, version ? version : "(unknown)",
                     MIN_SERVER_VERSION / 10000);
        return -1;
    }
    return start_session(s, "start its session", err);
}

static void pg_close(um_store *store)
{
    pg_store *s = (pg_store *)store;
    PQfinish(s->conn);
    PQfinish(s->listener);
    pthread_mutex_destroy(&s->lock);
    pthread_mutex_destroy(&s->listen_lock);
    free(s->uri);
    free(s->shown);
    free(s);
}

static int pg_open(um_store **store, const char *uri, um_error *err)
{
    int result = -1;
    pg_store *s = um_xcalloc(1, sizeof(*s));
    s->base.ops = &um_store_postgres_ops;
    s->uri = um_xstrdup(uri);
    size_t cap = strlen(uri) + 1;
    s->shown = um_xmalloc(cap);
    um_storage_redact_url(uri, s->shown, cap);
    int rc = pthread_mutex_init(&s->lock, NULL);
    if (rc == 0 && (rc = pthread_mutex_init(&s->listen_lock, NULL)) != 0)
        pthread_mutex_destroy(&s->lock);
    if (rc != 0) {
        um_error_set(err, UM_ERR_OTHER, "job store %s: cannot create its lock: %s", s->shown,
                     strerror(rc));
        free(s->uri);
        free(s->shown);
        free(s);
        return -1;
    }
    if (connect_to(s, uri, err) < 0 || migrate(s, err) < 0)
        goto fail;
    *store = &s->base;
    result = 0;
fail:
    if (result < 0)
        pg_close(&s->base);
    return result;
}

/* ---- operations -------------------------------------------------------- */

static int pg_insert(um_store *store, um_job *job, um_error *err)
{
    pg_store *s = (pg_store *)store;
    char priority[16], now[32];
    const char *params[] = {
        job->id,       job->job_type, job->source_uri,
        job->target_uri, job->metadata, job->config,
        format_int(priority, sizeof(priority), job->priority),
        format_double(now, sizeof(now), um_store_now()),
        job->source_options,
    };
    /* created_at is now, or just after the newest job when the clock has
     * not moved on (same microsecond, or set back), so creation order is
     * strict within one server and survives into claims and listings. Idle
     * workers hear of it once it is committed. */
    PGresult *res = run(s,
                        "WITH j AS (INSERT INTO unmark_jobs (id, job_type, source_uri, "
                        "target_uri, metadata, config, priority, source_options, status, "
                        "progress, attempts, created_at) "
                        "VALUES ($1, $2, $3, $4, $5, $6, $7, $9, 'queued', 0, 0, "
                        "GREATEST($8::double precision, "
                        "COALESCE((SELECT MAX(created_at) FROM unmark_jobs), 0) + 0.000001)) "
                        "RETURNING created_at) "
                        "SELECT created_at, " NOTIFY " FROM j",
                        9, params, ONCE, "add a job", err);
    if (!res)
        return -1;
    job->created_at = value_double(res, 0, 0);
    PQclear(res);
    return 0;
}

static int pg_get(um_store *store, const char *id, um_job *job, um_error *err)
{
    const char *params[] = {id};
    return run_job((pg_store *)store, "SELECT " JOB_COLUMNS " FROM unmark_jobs WHERE id = $1", 1,
                   params, REPEATABLE, "read a job", job, err);
}

static int pg_list(um_store *store, int status, int limit, int offset, um_job **jobs, int *count,
                   um_error *err)
{
    pg_store *s = (pg_store *)store;
    char limit_text[16], offset_text[16];
    const char *params[] = {
        status < 0 ? NULL : um_job_status_name((um_job_status)status),
        format_int(limit_text, sizeof(limit_text), limit),
        format_int(offset_text, sizeof(offset_text), offset),
    };
    PGresult *res = run(s,
                        "SELECT " JOB_COLUMNS " FROM unmark_jobs "
                        "WHERE $1::text IS NULL OR status = $1::text "
                        "ORDER BY created_at DESC, seq DESC LIMIT $2 OFFSET $3",
                        3, params, REPEATABLE, "list jobs", err);
    if (!res)
        return -1;
    int result = -1, n = PQntuples(res);
    um_job *v = n > 0 ? um_xcalloc((size_t)n, sizeof(*v)) : NULL;
    for (int i = 0; i < n; i++)
        if (read_job(s, res, i, &v[i], err) < 0)
            goto fail;
    *jobs = v;
    *count = n;
    v = NULL;
    result = 0;
fail:
    PQclear(res);
    if (v) {
        for (int i = 0; i < n; i++)
            um_job_clear(&v[i]);
        free(v);
    }
    return result;
}

static int pg_claim(um_store *store, const char *worker, double lease_seconds, um_job *job,
                    um_error *err)
{
    char now[32], lease[32];
    const char *params[] = {format_double(now, sizeof(now), um_store_now()), worker,
                            format_double(lease, sizeof(lease), lease_seconds)};
    /* SKIP LOCKED: a job another claim has locked (and is taking) is passed
     * over, not waited for; the row is re-checked once locked, so a job
     * claimed meanwhile is never taken twice. */
    return run_job((pg_store *)store,
                   "UPDATE unmark_jobs SET status = 'processing', attempts = attempts + 1, "
                   "started_at = $1, worker = $2, lease_expires_at = $1 + $3::double precision "
                   "WHERE seq = (SELECT seq FROM unmark_jobs WHERE status = 'queued' "
                   "ORDER BY priority DESC, created_at, seq LIMIT 1 FOR UPDATE SKIP LOCKED) "
                   "RETURNING " JOB_COLUMNS,
                   3, params, ONCE, "claim a job", job, err);
}

/* The calls of a lease's holder act only while it holds the lease. Renewing
 * it and recording progress set what they set, so they may run twice. */
static int pg_heartbeat(um_store *store, const char *id, const char *worker, double lease_seconds,
                        um_error *err)
{
    char until[32];
    const char *params[] = {id, worker,
                            format_double(until, sizeof(until), um_store_now() + lease_seconds)};
    return run_one((pg_store *)store,
                   "UPDATE unmark_jobs SET lease_expires_at = $3 "
                   "WHERE id = $1 AND worker = $2 AND status = 'processing'",
                   3, params, REPEATABLE, "renew a job's lease", err);
}

static int pg_progress(um_store *store, const char *id, const char *worker, double progress,
                       um_error *err)
{
    char value[32];
    const char *params[] = {id, worker, format_double(value, sizeof(value), progress)};
    return run_one((pg_store *)store,
                   "UPDATE unmark_jobs SET progress = $3 "
                   "WHERE id = $1 AND worker = $2 AND status = 'processing'",
                   3, params, REPEATABLE, "record a job's progress", err);
}

static int pg_finish(um_store *store, const char *id, const char *worker, um_job_status status,
                     const char *error, const char *result_url, um_error *err)
{
    char now[32];
    const char *params[] = {id, um_job_status_name(status), error, result_url,
                            format_double(now, sizeof(now), um_store_now()), worker};
    return run_one(
        (pg_store *)store,
        "UPDATE unmark_jobs SET status = $2::text, error = $3, result_url = $4, finished_at = $5, "
        "lease_expires_at = NULL, "
        "progress = CASE WHEN $2::text = 'completed' THEN 1.0 ELSE progress END "
        "WHERE id = $1 AND worker = $6 AND status = 'processing'",
        6, params, ONCE, "finish a job", err);
}

static int pg_release(um_store *store, const char *id, const char *worker, um_error *err)
{
    const char *params[] = {id, worker};
    /* A row for the job released, announced to idle workers. */
    return run_one((pg_store *)store,
                   "WITH r AS (UPDATE unmark_jobs SET status = 'queued', "
                   "attempts = attempts - 1, progress = 0, started_at = NULL, "
                   "lease_expires_at = NULL "
                   "WHERE id = $1 AND worker = $2 AND status = 'processing' RETURNING id) "
                   "SELECT " NOTIFY " FROM r",
                   2, params, ONCE, "release a job", err);
}

static int pg_cancel(um_store *store, const char *id, um_error *err)
{
    char now[32];
    const char *params[] = {id, format_double(now, sizeof(now), um_store_now())};
    return run_one((pg_store *)store,
                   "UPDATE unmark_jobs SET status = 'canceled', finished_at = $2, "
                   "lease_expires_at = NULL WHERE id = $1 AND status IN ('queued', 'processing')",
                   2, params, ONCE, "cancel a job", err);
}

static int pg_update(um_store *store, const char *id, int priority, const char *metadata,
                     um_error *err)
{
    char text[16];
    /* NULL parameters leave their column as it is (COALESCE). */
    const char *params[] = {id, priority ? format_int(text, sizeof(text), priority) : NULL,
                            metadata};
    return run_one((pg_store *)store,
                   "UPDATE unmark_jobs SET priority = COALESCE($2::integer, priority), "
                   "metadata = COALESCE($3::text, metadata) "
                   "WHERE id = $1 AND status = 'queued'",
                   3, params, REPEATABLE, "update a job", err);
}

static int pg_reap(um_store *store, int max_attempts, int *requeued, int *failed, um_error *err)
{
    pg_store *s = (pg_store *)store;
    char now[32], limit[16];
    const char *params[] = {format_double(now, sizeof(now), um_store_now()),
                            format_int(limit, sizeof(limit), max_attempts)};
    /* A lease that ran out (or a job from before leases, with none): the job
     * is queued again, or fails once claimed $2 times. SKIP LOCKED: a job
     * another process is reaping, finishing or renewing just now is left to
     * it, so reapers never wait on each other. */
    PGresult *res = run(s,
                        "UPDATE unmark_jobs SET "
                        "status = CASE WHEN attempts >= $2 THEN 'failed' ELSE 'queued' END, "
                        "error = CASE WHEN attempts >= $2 THEN "
                        UM_STORE_LOST_REASON("attempts", "worker") " ELSE error END, "
                        "finished_at = CASE WHEN attempts >= $2 THEN $1 END, "
                        "progress = CASE WHEN attempts >= $2 THEN progress ELSE 0 END, "
                        "started_at = CASE WHEN attempts >= $2 THEN started_at END, "
                        "lease_expires_at = NULL "
                        "WHERE seq IN (SELECT seq FROM unmark_jobs WHERE status = 'processing' "
                        "AND COALESCE(lease_expires_at, 0) < $1 FOR UPDATE SKIP LOCKED) "
                        "RETURNING status",
                        2, params, ONCE, "requeue jobs whose worker was lost", err);
    if (!res)
        return -1;
    for (int i = 0; i < PQntuples(res); i++)
        (*(strcmp(PQgetvalue(res, i, 0), "failed") == 0 ? failed : requeued))++;
    PQclear(res);
    if (*requeued == 0)
        return 0;
    res = run(s, "SELECT " NOTIFY, 0, NULL, REPEATABLE, "announce requeued jobs", err);
    PQclear(res);
    return res ? 0 : -1;
}

/* Hands out the notices that have arrived on the listening connection:
 * whether there was one. */
static int take_notices(PGconn *conn)
{
    int got = 0;
    PGnotify *n;
    while ((n = PQnotifies(conn)) != NULL) {
        PQfreemem(n);
        got = 1;
    }
    return got;
}

/* Opens the listening connection, LISTENing on CHANNEL. Under listen_lock. */
static int open_listener(pg_store *s, um_error *err)
{
    s->listener = open_connection(s, s->uri, "wait for jobs in", err);
    if (!s->listener)
        return -1;
    PGresult *res = PQexec(s->listener, "LISTEN " CHANNEL);
    int ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    if (!ok) {
        char line[512];
        message_line(line, sizeof(line), PQerrorMessage(s->listener), NULL);
        um_error_set(err, UM_ERR_OTHER, "job store %s: cannot listen for new jobs: %s", s->shown,
                     line);
        PQfinish(s->listener);
        s->listener = NULL;
    }
    PQclear(res);
    return ok ? 0 : -1;
}

/*
 * Blocks on the listening connection's socket until a notice comes or the
 * timeout passes. A connection found lost is dropped with an error; the
 * next wait opens a new one (and the caller's polling covers the gap).
 */
static int pg_wait(um_store *store, double timeout_s, um_error *err)
{
    pg_store *s = (pg_store *)store;
    int result = -1;
    pthread_mutex_lock(&s->listen_lock);
    if (!s->listener && open_listener(s, err) < 0)
        goto fail;
    if (!PQconsumeInput(s->listener))
        goto lost;
    result = take_notices(s->listener);
    if (result)
        goto fail;
    struct pollfd pfd = {.fd = PQsocket(s->listener), .events = POLLIN};
    int ready = poll(&pfd, 1, (int)(timeout_s * 1000));
    if (ready > 0) {
        if (!PQconsumeInput(s->listener))
            goto lost;
        result = take_notices(s->listener);
    }
    /* ready 0 is the timeout; a signal (-1, EINTR) ends the wait early,
     * as a timeout: the caller looks at the queue either way. */
    goto fail;
lost:;
    char line[512];
    message_line(line, sizeof(line), PQerrorMessage(s->listener), NULL);
    um_error_set(err, UM_ERR_OTHER, "job store %s: lost the connection that waits for new jobs: %s",
                 s->shown, line);
    PQfinish(s->listener);
    s->listener = NULL;
    result = -1;
fail:
    pthread_mutex_unlock(&s->listen_lock);
    return result;
}

static int pg_counts(um_store *store, int64_t counts[5], um_error *err)
{
    pg_store *s = (pg_store *)store;
    PGresult *res = run(s, "SELECT status, COUNT(*) FROM unmark_jobs GROUP BY status", 0, NULL,
                        REPEATABLE, "count jobs", err);
    if (!res)
        return -1;
    int result = -1;
    for (int i = 0; i < PQntuples(res); i++) {
        const char *name = PQgetvalue(res, i, 0);
        int code = um_store_status_from_name(name);
        if (code < 0) {
            um_error_set(err, UM_ERR_OTHER, "job store %s: unknown job status %s", s->shown, name);
            goto fail;
        }
        counts[code] = strtoll(PQgetvalue(res, i, 1), NULL, 10);
    }
    result = 0;
fail:
    PQclear(res);
    return result;
}

const um_store_ops um_store_postgres_ops = {
    .open = pg_open,
    .close = pg_close,
    .insert = pg_insert,
    .get = pg_get,
    .list = pg_list,
    .claim = pg_claim,
    .heartbeat = pg_heartbeat,
    .progress = pg_progress,
    .finish = pg_finish,
    .release = pg_release,
    .cancel = pg_cancel,
    .update = pg_update,
    .reap = pg_reap,
    .wait = pg_wait,
    .counts = pg_counts,
};
