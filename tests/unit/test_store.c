/*
 * The job store: every public call, the claim order and its atomicity under
 * concurrent claims, persistence across reopening, and the errors for
 * locations that cannot be opened.
 *
 * The same cases run on each backend. Without UNMARK_TEST_POSTGRES they run
 * on SQLite, each test on a new store in its own folder under /tmp, with the
 * SQLite-only cases (its old schema, its files). With UNMARK_TEST_POSTGRES,
 * the URI of a PostgreSQL server without a database
 * (tests/integration/pg_server.sh starts a throwaway one and sets it), they
 * run there, each test in a database of its own, dropped afterwards, with
 * the PostgreSQL-only cases: migrations racing, claims from many
 * connections, a lost connection, and connection errors that must not show
 * the password.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>
#include <sqlite3.h>

#include "itest.h"
#include "unmark/storage.h"
#include "unmark/store.h"

/* The worker the tests claim as, another one, and a lease that does not run
 * out during a test. */
#define WORKER "test-host:1:1"
#define STRANGER "other-host:2:1"
#define LEASE 600.0
/* A lease that runs out at once, for reaping (SHORT_WAIT later). */
#define SHORT_LEASE 0.1
#define SHORT_WAIT_US 200000

typedef struct {
    char dir[64];       /* SQLite: the store's folder */
    char path[128];     /* SQLite: its file */
    char db[64];        /* PostgreSQL: the test's database */
    char location[512]; /* what um_store_open is given */
    char shown[512];    /* how errors name the store */
    um_store *store;
} fixture;

/* The PostgreSQL server the tests run on (UNMARK_TEST_POSTGRES), or NULL:
 * they run on SQLite. */
static const char *pg_server;

/* Runs sql (set-up without values) on a connection of its own to database
 * db of the server: its result (to PQclear), or NULL after printing why. */
static PGresult *pg_run(const char *db, const char *sql)
{
    char uri[600];
    snprintf(uri, sizeof(uri), "%s/%s", pg_server, db);
    PGconn *conn = PQconnectdb(uri);
    PGresult *res = PQexec(conn, sql);
    ExecStatusType status = PQresultStatus(res);
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
        fprintf(stderr, "%s: %s", sql, PQerrorMessage(conn));
        PQclear(res);
        res = NULL;
    }
    PQfinish(conn);
    return res;
}

/* Runs sql in database db: 0, or -1 after printing why. */
static int pg_exec(const char *db, const char *sql)
{
    PGresult *res = pg_run(db, sql);
    PQclear(res);
    return res ? 0 : -1;
}

/* The number a one-value query in database db answers, or -1. */
static int pg_query_int(const char *db, const char *sql)
{
    PGresult *res = pg_run(db, sql);
    int value = res && PQntuples(res) == 1 ? atoi(PQgetvalue(res, 0, 0)) : -1;
    PQclear(res);
    return value;
}

/* Fails the test when msg shows the server's password. */
static void assert_no_password(const char *msg)
{
    const char *user = strstr(pg_server, "://") + 3;
    const char *colon = strchr(user, ':'), *at = strrchr(user, '@');
    assert_true(colon && at && at > colon + 1);
    char password[128];
    snprintf(password, sizeof(password), "%.*s", (int)(at - colon - 1), colon + 1);
    if (strstr(msg, password))
        fail_msg("\"%s\" shows the password", msg);
}

/* A new, empty place for a store: a folder for SQLite, a database for
 * PostgreSQL. */
static int make_place(fixture *f)
{
    static int serial;
    if (!pg_server) {
        snprintf(f->dir, sizeof(f->dir), "/tmp/test_store.XXXXXX");
        if (!mkdtemp(f->dir))
            return -1;
        snprintf(f->path, sizeof(f->path), "%s/jobs.db", f->dir);
        snprintf(f->location, sizeof(f->location), "%s", f->path);
        snprintf(f->shown, sizeof(f->shown), "%s", f->path);
        return 0;
    }
    char sql[128];
    snprintf(f->db, sizeof(f->db), "unmark_test_%d_%d", (int)getpid(), serial++);
    snprintf(sql, sizeof(sql), "CREATE DATABASE %s", f->db);
    snprintf(f->location, sizeof(f->location), "%s/%s", pg_server, f->db);
    um_storage_redact_url(f->location, f->shown, sizeof(f->shown));
    return pg_exec("postgres", sql);
}

static void remove_place(fixture *f)
{
    if (!pg_server) {
        it_rmtree(f->dir);
        return;
    }
    char sql[128];
    snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", f->db);
    pg_exec("postgres", sql);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    if (make_place(f) < 0)
        return -1;
    um_error err = {0};
    if (um_store_open(&f->store, f->location, &err) < 0) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    um_store_close(&f->store);
    remove_place(f);
    free(f);
    return 0;
}

/* A job with these fields and a new id; optional strings may be NULL. */
static um_job make_job(const char *type, const char *metadata, const char *config, int priority)
{
    um_job job = {0};
    um_job_new_id(&job);
    job.job_type = strdup(type);
    job.source_uri = strdup("s3://in/video.mp4");
    job.target_uri = strdup("s3://out/video.mp4");
    job.metadata = metadata ? strdup(metadata) : NULL;
    job.config = config ? strdup(config) : NULL;
    job.priority = priority;
    return job;
}

/* Inserts a job and returns its id in id. */
static void add_job(um_store *store, int priority, char id[UM_JOB_ID_SIZE])
{
    um_error err = {0};
    um_job job = make_job("transcode", NULL, NULL, priority);
    assert_int_equal(um_store_insert(store, &job, &err), 0);
    memcpy(id, job.id, UM_JOB_ID_SIZE);
    um_job_clear(&job);
}

static um_job_status status_of(um_store *store, const char *id)
{
    um_error err = {0};
    um_job job = {0};
    assert_int_equal(um_store_get(store, id, &job, &err), 1);
    um_job_status status = job.status;
    um_job_clear(&job);
    return status;
}

/* Monotonic seconds, for timing waits. */
static double test_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void assert_str_or_null(const char *got, const char *want)
{
    if (!want)
        assert_null(got);
    else
        assert_string_equal(got, want);
}

/* ---- helpers without a store ------------------------------------------ */

static void test_status_names(void **state)
{
    (void)state;
    static const struct {
        um_job_status status;
        const char *name;
    } cases[] = {
        {UM_JOB_QUEUED, "queued"},       {UM_JOB_PROCESSING, "processing"},
        {UM_JOB_COMPLETED, "completed"}, {UM_JOB_FAILED, "failed"},
        {UM_JOB_CANCELED, "canceled"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_string_equal(um_job_status_name(cases[i].status), cases[i].name);
    assert_string_equal(um_job_status_name((um_job_status)42), "unknown");
}

static void test_new_id_is_uuid_v4(void **state)
{
    (void)state;
    um_job a = {0}, b = {0};
    um_job_new_id(&a);
    um_job_new_id(&b);
    assert_int_equal(strlen(a.id), 36);
    assert_string_not_equal(a.id, b.id);
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23)
            assert_int_equal(a.id[i], '-');
        else
            assert_non_null(strchr("0123456789abcdef", a.id[i]));
    }
    assert_int_equal(a.id[14], '4');
    assert_non_null(strchr("89ab", a.id[19]));
}

/* ---- the store ---------------------------------------------------------- */

/* Every field comes back as stored, NULL optionals included, both when
 * queued and after a worker has claimed and finished the job. */
static void test_insert_get_round_trip(void **state)
{
    fixture *f = *state;
    static const struct {
        const char *type, *metadata, *config;
        int priority;
        um_job_status end;
        const char *error, *result_url, *source_options;
    } cases[] = {
        {"watermark_removal", "{\"user\":\"a\"}", "{\"method\":\"auto\"}", 7, UM_JOB_COMPLETED,
         NULL, "s3://out/done.mp4", "{\"verify_tls\":false}"},
        {"transcode", NULL, NULL, 1, UM_JOB_FAILED, "decoder broke", NULL, NULL},
        {"transcode", "{}", NULL, 10, UM_JOB_COMPLETED, NULL, NULL, NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        um_error err = {0};
        um_job job = make_job(cases[i].type, cases[i].metadata, cases[i].config, cases[i].priority);
        job.status = UM_JOB_FAILED; /* reset by insert */
        if (cases[i].source_options)
            job.source_options = strdup(cases[i].source_options);
        job.attempts = 9;
        double before = (double)time(NULL) - 1;
        assert_int_equal(um_store_insert(f->store, &job, &err), 0);
        assert_true(job.created_at >= before);
        assert_int_equal(job.status, UM_JOB_QUEUED);
        assert_int_equal(job.attempts, 0);

        um_job got = {0};
        assert_int_equal(um_store_get(f->store, job.id, &got, &err), 1);
        assert_string_equal(got.id, job.id);
        assert_string_equal(got.job_type, cases[i].type);
        assert_string_equal(got.source_uri, job.source_uri);
        assert_string_equal(got.target_uri, job.target_uri);
        assert_str_or_null(got.metadata, cases[i].metadata);
        assert_str_or_null(got.config, cases[i].config);
        assert_str_or_null(got.source_options, cases[i].source_options);
        assert_int_equal(got.priority, cases[i].priority);
        assert_int_equal(got.status, UM_JOB_QUEUED);
        assert_true(got.progress == 0);
        assert_null(got.error);
        assert_null(got.result_url);
        assert_int_equal(got.attempts, 0);
        assert_true(got.created_at == job.created_at);
        assert_true(got.started_at == 0 && got.finished_at == 0);

        /* Claim and finish it: the worker's fields come back too. */
        um_job claimed = {0};
        assert_int_equal(um_store_claim(f->store, WORKER, LEASE, &claimed, &err), 1);
        assert_string_equal(claimed.id, job.id);
        assert_int_equal(um_store_finish(f->store, job.id, WORKER, cases[i].end, cases[i].error,
                                         cases[i].result_url, &err),
                         1);
        /* get into the job it reads the id from: the id survives clearing */
        assert_int_equal(um_store_get(f->store, got.id, &got, &err), 1);
        assert_string_equal(got.id, job.id);
        assert_int_equal(got.status, cases[i].end);
        assert_int_equal(got.attempts, 1);
        assert_str_or_null(got.error, cases[i].error);
        assert_str_or_null(got.result_url, cases[i].result_url);
        assert_str_or_null(got.metadata, cases[i].metadata);
        assert_true(got.started_at >= got.created_at);
        assert_true(got.finished_at >= got.started_at);
        um_job_clear(&got);
        um_job_clear(&claimed);
        um_job_clear(&job);
    }
}

static void test_insert_rejects_bad_jobs(void **state)
{
    fixture *f = *state;
    static const struct {
        int priority;
        int drop_type;
        int empty_id;
    } cases[] = {{0, 0, 0}, {11, 0, 0}, {5, 1, 0}, {5, 0, 1}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        um_error err = {0};
        um_job job = make_job("transcode", NULL, NULL, cases[i].priority);
        if (cases[i].drop_type) {
            free(job.job_type);
            job.job_type = NULL;
        }
        if (cases[i].empty_id)
            job.id[0] = '\0';
        assert_int_equal(um_store_insert(f->store, &job, &err), -1);
        assert_int_equal(err.status, UM_ERR_USAGE);
        um_job_clear(&job);
    }
    /* the same id twice */
    um_error err = {0};
    um_job job = make_job("transcode", NULL, NULL, 5);
    assert_int_equal(um_store_insert(f->store, &job, &err), 0);
    assert_int_equal(um_store_insert(f->store, &job, &err), -1);
    assert_int_equal(err.status, UM_ERR_OTHER);
    assert_non_null(strstr(err.msg, f->shown));
    um_job_clear(&job);
}

static void test_get_missing(void **state)
{
    fixture *f = *state;
    um_error err = {0};
    um_job job = {0};
    assert_int_equal(um_store_get(f->store, "00000000-0000-4000-8000-000000000000", &job, &err), 0);
    assert_int_equal(err.status, UM_OK);
    assert_null(job.job_type);
}

/* Highest priority first, then oldest; created_at strictly increases even
 * for jobs inserted within the same microsecond. */
static void test_claim_order(void **state)
{
    fixture *f = *state;
    static const int priorities[] = {5, 1, 10, 5, 7, 10, 1, 5};
    /* indexes into priorities, in the order claims must return them */
    static const int order[] = {2, 5, 4, 0, 3, 7, 1, 6};
    enum { N = sizeof(priorities) / sizeof(priorities[0]) };
    char ids[N][UM_JOB_ID_SIZE];
    double last = 0;
    for (int i = 0; i < N; i++) {
        um_error err = {0};
        um_job job = make_job("transcode", NULL, NULL, priorities[i]);
        assert_int_equal(um_store_insert(f->store, &job, &err), 0);
        assert_true(job.created_at > last);
        last = job.created_at;
        memcpy(ids[i], job.id, UM_JOB_ID_SIZE);
        um_job_clear(&job);
    }
    for (int i = 0; i < N; i++) {
        um_error err = {0};
        um_job job = {0};
        assert_int_equal(um_store_claim(f->store, WORKER, LEASE, &job, &err), 1);
        assert_string_equal(job.id, ids[order[i]]);
        assert_int_equal(job.priority, priorities[order[i]]);
        assert_int_equal(job.status, UM_JOB_PROCESSING);
        assert_int_equal(job.attempts, 1);
        assert_true(job.started_at > 0);
        um_job_clear(&job);
    }
    um_error err = {0};
    um_job job = {0};
    assert_int_equal(um_store_claim(f->store, WORKER, LEASE, &job, &err), 0);
}

static void test_claim_empty(void **state)
{
    fixture *f = *state;
    um_error err = {0};
    um_job job = {0};
    assert_int_equal(um_store_claim(f->store, WORKER, LEASE, &job, &err), 0);
    assert_int_equal(err.status, UM_OK);
}

/* ---- workers claiming at once ------------------------------------------- */

enum { CONCURRENT_JOBS = 200, MAX_CLAIMERS = 4 };

typedef struct {
    um_store *store;
    char (*ids)[UM_JOB_ID_SIZE]; /* what this worker claimed */
    int count;
    int failed;
} claimer;

static void *claim_all(void *arg)
{
    claimer *c = arg;
    for (;;) {
        um_error err = {0};
        um_job job = {0};
        int ret = um_store_claim(c->store, WORKER, LEASE, &job, &err);
        if (ret < 0) {
            fprintf(stderr, "claim: %s\n", err.msg);
            c->failed = 1;
        }
        if (ret <= 0)
            break;
        memcpy(c->ids[c->count++], job.id, UM_JOB_ID_SIZE);
        um_job_clear(&job);
    }
    return NULL;
}

static int compare_ids(const void *a, const void *b) { return strcmp(a, b); }

/*
 * threads threads claim from 200 jobs until the queue is empty: together
 * they get every job, and no job twice. shared: all on one store handle
 * (HTTP and worker threads in one server); else each on its own connection
 * to the store (servers sharing it).
 */
static void run_concurrent_claims(fixture *f, int shared, int threads)
{
    char(*inserted)[UM_JOB_ID_SIZE] = calloc(CONCURRENT_JOBS, UM_JOB_ID_SIZE);
    for (int i = 0; i < CONCURRENT_JOBS; i++)
        add_job(f->store, 1 + i % 10, inserted[i]);
    claimer c[MAX_CLAIMERS] = {{0}};
    um_store *own[MAX_CLAIMERS] = {NULL};
    for (int t = 0; t < threads; t++) {
        um_error err = {0};
        c[t].ids = calloc(CONCURRENT_JOBS, UM_JOB_ID_SIZE);
        if (!shared)
            assert_int_equal(um_store_open(&own[t], f->location, &err), 0);
        c[t].store = shared ? f->store : own[t];
    }
    pthread_t tid[MAX_CLAIMERS];
    for (int t = 0; t < threads; t++)
        assert_int_equal(pthread_create(&tid[t], NULL, claim_all, &c[t]), 0);
    for (int t = 0; t < threads; t++)
        assert_int_equal(pthread_join(tid[t], NULL), 0);

    char(*all)[UM_JOB_ID_SIZE] = calloc(CONCURRENT_JOBS, UM_JOB_ID_SIZE);
    int total = 0;
    for (int t = 0; t < threads; t++) {
        assert_false(c[t].failed);
        assert_true(total + c[t].count <= CONCURRENT_JOBS);
        memcpy(all[total], c[t].ids, (size_t)c[t].count * UM_JOB_ID_SIZE);
        total += c[t].count;
    }
    assert_int_equal(total, CONCURRENT_JOBS);
    qsort(all, CONCURRENT_JOBS, UM_JOB_ID_SIZE, compare_ids);
    qsort(inserted, CONCURRENT_JOBS, UM_JOB_ID_SIZE, compare_ids);
    for (int i = 0; i < CONCURRENT_JOBS; i++)
        assert_string_equal(all[i], inserted[i]); /* all of them, each once */

    int64_t counts[5];
    um_error err = {0};
    assert_int_equal(um_store_counts(f->store, counts, &err), 0);
    assert_int_equal(counts[UM_JOB_PROCESSING], CONCURRENT_JOBS);
    for (int t = 0; t < threads; t++) {
        um_store_close(&own[t]);
        free(c[t].ids);
    }
    free(all);
    free(inserted);
}

static void test_claim_concurrent_shared(void **state) { run_concurrent_claims(*state, 1, 2); }
static void test_claim_concurrent_connections(void **state) { run_concurrent_claims(*state, 0, 2); }

/* ---- the rest of a job's life ----------------------------------------- */

static void test_progress(void **state)
{
    fixture *f = *state;
    um_error err = {0};
    char queued[UM_JOB_ID_SIZE], running[UM_JOB_ID_SIZE];
    add_job(f->store, 9, running);
    add_job(f->store, 1, queued);
    um_job job = {0};
    assert_int_equal(um_store_claim(f->store, WORKER, LEASE, &job, &err), 1);
    assert_int_equal(um_store_progress(f->store, running, WORKER, 0.25, &err), 1);
    assert_int_equal(um_store_progress(f->store, queued, WORKER, 0.5, &err), 0); /* not processing */
    assert_int_equal(um_store_get(f->store, running, &job, &err), 1);
    assert_true(job.progress == 0.25);
    assert_int_equal(um_store_get(f->store, queued, &job, &err), 1);
    assert_true(job.progress == 0);
    um_job_clear(&job);

    static const double bad[] = {-0.1, 1.5};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        um_error_clear(&err);
        assert_int_equal(um_store_progress(f->store, running, WORKER, bad[i], &err), -1);
        assert_int_equal(err.status, UM_ERR_USAGE);
    }
}

/* Finishing: completed (with result) and failed (with error) record their
 * end; a job not processing (never claimed, or already ended) is left as
 * it is; finishing as queued is a usage error. */
static void test_finish(void **state)
{
    fixture *f = *state;
    static const struct {
        um_job_status status;
        const char *error, *result_url;
        double progress;
    } cases[] = {
        {UM_JOB_COMPLETED, NULL, "https://cdn/x.mp4", 1.0},
        {UM_JOB_FAILED, "no video stream", NULL, 0.5},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        um_error err = {0};
        char id[UM_JOB_ID_SIZE];
        add_job(f->store, 5, id);
        um_job job = {0};
        assert_int_equal(um_store_finish(f->store, id, WORKER, cases[i].status, NULL, NULL, &err), 0);
        assert_int_equal(um_store_claim(f->store, WORKER, LEASE, &job, &err), 1);
        assert_int_equal(um_store_progress(f->store, id, WORKER, 0.5, &err), 1);
        assert_int_equal(
            um_store_finish(f->store, id, WORKER, cases[i].status, cases[i].error, cases[i].result_url, &err),
            1);
        assert_int_equal(um_store_get(f->store, id, &job, &err), 1);
        assert_int_equal(job.status, cases[i].status);
        assert_str_or_null(job.error, cases[i].error);
        assert_str_or_null(job.result_url, cases[i].result_url);
        assert_true(job.progress == cases[i].progress);
        assert_true(job.finished_at > 0);
        /* already ended: a second finish changes nothing */
        assert_int_equal(um_store_finish(f->store, id, WORKER, UM_JOB_FAILED, "late", NULL, &err), 0);
        assert_int_equal(status_of(f->store, id), cases[i].status);
        um_job_clear(&job);
        assert_int_equal(err.status, UM_OK);
    }
    um_error err = {0};
    assert_int_equal(um_store_finish(f->store, "x", WORKER, UM_JOB_QUEUED, NULL, NULL, &err), -1);
    assert_int_equal(err.status, UM_ERR_USAGE);
}

/* A worker finishing a job canceled while it ran: 0, and the job stays
 * canceled with no result. */
static void test_finish_after_cancel(void **state)
{
    fixture *f = *state;
    um_error err = {0};
    um_job job = {0};
    char id[UM_JOB_ID_SIZE];
    add_job(f->store, 5, id);
    assert_int_equal(um_store_claim(f->store, WORKER, LEASE, &job, &err), 1);
    assert_int_equal(um_store_cancel(f->store, id, &err), 1);
    assert_int_equal(um_store_finish(f->store, id, WORKER, UM_JOB_COMPLETED, NULL, "s3://out/x", &err), 0);
    assert_int_equal(um_store_get(f->store, id, &job, &err), 1);
    assert_int_equal(job.status, UM_JOB_CANCELED);
    assert_null(job.result_url);
    assert_true(job.progress == 0);
    um_job_clear(&job);
}

static void test_cancel(void **state)
{
    fixture *f = *state;
    um_error err = {0};
    um_job job = {0};
    char processing[UM_JOB_ID_SIZE], queued[UM_JOB_ID_SIZE], done[UM_JOB_ID_SIZE];
    add_job(f->store, 10, processing);
    add_job(f->store, 9, done);
    add_job(f->store, 1, queued);
    assert_int_equal(um_store_claim(f->store, WORKER, LEASE, &job, &err), 1);
    assert_int_equal(um_store_claim(f->store, WORKER, LEASE, &job, &err), 1);
    assert_int_equal(um_store_finish(f->store, done, WORKER, UM_JOB_COMPLETED, NULL, NULL, &err), 1);
    um_job_clear(&job);

    const struct {
        const char *id;
        int want;
        um_job_status after;
    } cases[] = {
        {queued, 1, UM_JOB_CANCELED},
        {processing, 1, UM_JOB_CANCELED},
        {done, 0, UM_JOB_COMPLETED},
        {queued, 0, UM_JOB_CANCELED}, /* twice */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(um_store_cancel(f->store, cases[i].id, &err), cases[i].want);
        assert_int_equal(status_of(f->store, cases[i].id), cases[i].after);
    }
    assert_int_equal(um_store_cancel(f->store, "no-such-job", &err), 0);
    assert_int_equal(err.status, UM_OK);
    /* a canceled queued job is never claimed */
    assert_int_equal(um_store_claim(f->store, WORKER, LEASE, &job, &err), 0);
}

/* Priority and metadata change while queued, each alone or both; not once
 * the job is processing. */
static void test_update(void **state)
{
    fixture *f = *state;
    um_error err = {0};
    um_job job = make_job("transcode", "{\"a\":1}", NULL, 3);
    assert_int_equal(um_store_insert(f->store, &job, &err), 0);
    static const struct {
        int priority;
        const char *metadata;
        int want_priority;
        const char *want_metadata;
    } cases[] = {
        {8, NULL, 8, "{\"a\":1}"},
        {0, "{\"b\":2}", 8, "{\"b\":2}"},
        {2, "{\"c\":3}", 2, "{\"c\":3}"},
        {0, NULL, 2, "{\"c\":3}"},
    };
    um_job got = {0};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(um_store_update(f->store, job.id, cases[i].priority, cases[i].metadata, &err),
                         1);
        assert_int_equal(um_store_get(f->store, job.id, &got, &err), 1);
        assert_int_equal(got.priority, cases[i].want_priority);
        assert_string_equal(got.metadata, cases[i].want_metadata);
    }
    assert_int_equal(um_store_update(f->store, job.id, 11, NULL, &err), -1);
    assert_int_equal(err.status, UM_ERR_USAGE);
    um_error_clear(&err);
    assert_int_equal(um_store_update(f->store, "no-such-job", 4, NULL, &err), 0);

    assert_int_equal(um_store_claim(f->store, WORKER, LEASE, &got, &err), 1);
    assert_int_equal(um_store_update(f->store, job.id, 9, "{\"d\":4}", &err), 0);
    assert_int_equal(um_store_get(f->store, job.id, &got, &err), 1);
    assert_int_equal(got.priority, 2);
    assert_string_equal(got.metadata, "{\"c\":3}");
    assert_int_equal(err.status, UM_OK);
    um_job_clear(&got);
    um_job_clear(&job);
}

/* ---- leases ------------------------------------------------------------ */

/* A claim records the worker and a lease; the holder renews it, a stranger
 * can neither renew it, record progress nor finish the job; once the job is
 * canceled the holder's renewal says it is lost. */
static void test_heartbeat(void **state)
{
    fixture *f = *state;
    um_error err = {0};
    um_job job = {0};
    char id[UM_JOB_ID_SIZE];
    add_job(f->store, 5, id);
    double before = (double)time(NULL) - 1;
    assert_int_equal(um_store_claim(f->store, WORKER, LEASE, &job, &err), 1);
    assert_string_equal(job.worker, WORKER);
    assert_true(job.lease_expires_at >= before + LEASE && job.lease_expires_at <= before + LEASE + 60);
    double first = job.lease_expires_at;

    usleep(10000);
    assert_int_equal(um_store_heartbeat(f->store, id, WORKER, LEASE, &err), 1);
    assert_int_equal(um_store_get(f->store, id, &job, &err), 1);
    assert_true(job.lease_expires_at > first);
    double renewed = job.lease_expires_at;

    assert_int_equal(um_store_heartbeat(f->store, id, STRANGER, LEASE * 2, &err), 0);
    assert_int_equal(um_store_progress(f->store, id, STRANGER, 0.5, &err), 0);
    assert_int_equal(um_store_finish(f->store, id, STRANGER, UM_JOB_COMPLETED, NULL, "x", &err), 0);
    assert_int_equal(um_store_release(f->store, id, STRANGER, &err), 0);
    assert_int_equal(um_store_get(f->store, id, &job, &err), 1);
    assert_int_equal(job.status, UM_JOB_PROCESSING);
    assert_string_equal(job.worker, WORKER);
    assert_true(job.lease_expires_at == renewed && job.progress == 0);
    assert_null(job.result_url);
    assert_int_equal(err.status, UM_OK);

    assert_int_equal(um_store_cancel(f->store, id, &err), 1);
    assert_int_equal(um_store_heartbeat(f->store, id, WORKER, LEASE, &err), 0);
    assert_int_equal(um_store_progress(f->store, id, WORKER, 0.5, &err), 0);
    assert_int_equal(um_store_get(f->store, id, &job, &err), 1);
    assert_true(job.lease_expires_at == 0);
    um_job_clear(&job);

    /* bad arguments: usage errors, whatever the store holds */
    static const struct {
        const char *worker;
        double lease;
    } bad[] = {{NULL, LEASE}, {"", LEASE}, {WORKER, 0}, {WORKER, -1}, {WORKER, 1e9}};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        um_error_clear(&err);
        assert_int_equal(um_store_heartbeat(f->store, id, bad[i].worker, bad[i].lease, &err), -1);
        assert_int_equal(err.status, UM_ERR_USAGE);
        um_error_clear(&err);
        assert_int_equal(um_store_claim(f->store, bad[i].worker, bad[i].lease, &job, &err), -1);
        assert_int_equal(err.status, UM_ERR_USAGE);
    }
}

/* Reaps with max_attempts: how many came back and how many failed. */
static void reap(um_store *store, int max_attempts, int want_requeued, int want_failed)
{
    um_error err = {0};
    int requeued = -1, failed = -1;
    assert_int_equal(um_store_reap(store, max_attempts, &requeued, &failed, &err), 0);
    assert_int_equal(requeued, want_requeued);
    assert_int_equal(failed, want_failed);
}

/* A lease that runs out: the job goes back to the queue (progress and start
 * reset, attempts and last worker kept), is claimed by another worker, and
 * the first one can no longer renew, report or finish it; the new holder
 * finishes it, once. Jobs with live leases, queued or ended are left alone. */
static void test_reap_requeues(void **state)
{
    fixture *f = *state;
    um_error err = {0};
    um_job job = {0};
    char lost[UM_JOB_ID_SIZE], live[UM_JOB_ID_SIZE], done[UM_JOB_ID_SIZE], queued[UM_JOB_ID_SIZE];
    add_job(f->store, 10, lost);
    add_job(f->store, 9, live);
    add_job(f->store, 8, done);
    add_job(f->store, 1, queued);
    assert_int_equal(um_store_claim(f->store, WORKER, SHORT_LEASE, &job, &err), 1);
    assert_int_equal(um_store_progress(f->store, lost, WORKER, 0.75, &err), 1);
    assert_int_equal(um_store_claim(f->store, STRANGER, LEASE, &job, &err), 1);
    assert_int_equal(um_store_claim(f->store, WORKER, SHORT_LEASE, &job, &err), 1);
    assert_int_equal(um_store_finish(f->store, done, WORKER, UM_JOB_COMPLETED, NULL, NULL, &err), 1);
    usleep(SHORT_WAIT_US);

    reap(f->store, 3, 1, 0);
    static const um_job_status want[4] = {UM_JOB_QUEUED, UM_JOB_PROCESSING, UM_JOB_COMPLETED,
                                          UM_JOB_QUEUED};
    const char *ids[4] = {lost, live, done, queued};
    for (int i = 0; i < 4; i++)
        assert_int_equal(status_of(f->store, ids[i]), want[i]);
    assert_int_equal(um_store_get(f->store, lost, &job, &err), 1);
    assert_true(job.progress == 0 && job.started_at == 0 && job.lease_expires_at == 0);
    assert_int_equal(job.attempts, 1);
    assert_string_equal(job.worker, WORKER);
    assert_null(job.error);
    reap(f->store, 3, 0, 0); /* nothing left to reap */

    /* claimed again, first in line as before, by another worker */
    assert_int_equal(um_store_claim(f->store, STRANGER, LEASE, &job, &err), 1);
    assert_string_equal(job.id, lost);
    assert_int_equal(job.attempts, 2);
    assert_int_equal(um_store_heartbeat(f->store, lost, WORKER, LEASE, &err), 0);
    assert_int_equal(um_store_progress(f->store, lost, WORKER, 0.5, &err), 0);
    assert_int_equal(um_store_finish(f->store, lost, WORKER, UM_JOB_COMPLETED, NULL, "a", &err), 0);
    assert_int_equal(um_store_finish(f->store, lost, STRANGER, UM_JOB_COMPLETED, NULL, "b", &err), 1);
    assert_int_equal(um_store_get(f->store, lost, &job, &err), 1);
    assert_int_equal(job.status, UM_JOB_COMPLETED);
    assert_string_equal(job.result_url, "b");
    um_job_clear(&job);

    /* the counts are optional; the limit must be 1 or more */
    assert_int_equal(um_store_reap(f->store, 3, NULL, NULL, &err), 0);
    assert_int_equal(um_store_reap(f->store, 0, NULL, NULL, &err), -1);
    assert_int_equal(err.status, UM_ERR_USAGE);
}

/* A job whose worker is lost max_attempts times fails, saying so and naming
 * the last worker; "once" when the limit is 1. */
static void test_reap_fails_at_limit(void **state)
{
    fixture *f = *state;
    um_error err = {0};
    um_job job = {0};
    char id[UM_JOB_ID_SIZE], single[UM_JOB_ID_SIZE];
    add_job(f->store, 5, id);
    assert_int_equal(um_store_claim(f->store, WORKER, SHORT_LEASE, &job, &err), 1);
    usleep(SHORT_WAIT_US);
    reap(f->store, 2, 1, 0);
    assert_int_equal(um_store_claim(f->store, STRANGER, SHORT_LEASE, &job, &err), 1);
    assert_int_equal(um_store_progress(f->store, id, STRANGER, 0.5, &err), 1);
    usleep(SHORT_WAIT_US);
    reap(f->store, 2, 0, 1);
    assert_int_equal(um_store_get(f->store, id, &job, &err), 1);
    assert_int_equal(job.status, UM_JOB_FAILED);
    assert_int_equal(job.attempts, 2);
    assert_string_equal(job.error,
                        "its worker was lost 2 times (lease expired; last worker " STRANGER ")");
    assert_true(job.finished_at > 0 && job.lease_expires_at == 0 && job.progress == 0.5);
    assert_int_equal(um_store_finish(f->store, id, STRANGER, UM_JOB_COMPLETED, NULL, NULL, &err), 0);
    assert_int_equal(um_store_claim(f->store, WORKER, LEASE, &job, &err), 0);

    add_job(f->store, 5, single);
    assert_int_equal(um_store_claim(f->store, WORKER, SHORT_LEASE, &job, &err), 1);
    usleep(SHORT_WAIT_US);
    reap(f->store, 1, 0, 1);
    assert_int_equal(um_store_get(f->store, single, &job, &err), 1);
    assert_string_equal(job.error, "its worker was lost once (lease expired; last worker " WORKER ")");
    um_job_clear(&job);
}

/* A worker stopping gives its job back at once: queued, its attempt not
 * counted, so releases never bring a job to the limit; only the holder
 * can, and only while it holds it. */
static void test_release(void **state)
{
    fixture *f = *state;
    um_error err = {0};
    um_job job = {0};
    char id[UM_JOB_ID_SIZE];
    add_job(f->store, 5, id);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(um_store_claim(f->store, WORKER, LEASE, &job, &err), 1);
        assert_int_equal(job.attempts, 1);
        assert_int_equal(um_store_progress(f->store, id, WORKER, 0.5, &err), 1);
        assert_int_equal(um_store_release(f->store, id, STRANGER, &err), 0);
        assert_int_equal(um_store_release(f->store, id, WORKER, &err), 1);
        assert_int_equal(um_store_release(f->store, id, WORKER, &err), 0); /* twice */
        assert_int_equal(um_store_get(f->store, id, &job, &err), 1);
        assert_int_equal(job.status, UM_JOB_QUEUED);
        assert_int_equal(job.attempts, 0);
        assert_true(job.progress == 0 && job.started_at == 0 && job.lease_expires_at == 0);
        reap(f->store, 1, 0, 0);
    }
    assert_int_equal(um_store_release(f->store, id, "", &err), -1);
    assert_int_equal(err.status, UM_ERR_USAGE);
    um_job_clear(&job);
}

/* A store that cannot be told of new jobs (SQLite) sleeps the timeout; on
 * PostgreSQL nothing was queued since the wait began listening, so it
 * times out too. */
static void test_wait_times_out(void **state)
{
    fixture *f = *state;
    um_error err = {0};
    assert_int_equal(um_store_wait(f->store, 0, &err), 0); /* PostgreSQL: starts listening */
    double start = test_now();
    assert_int_equal(um_store_wait(f->store, 0.2, &err), 0);
    double took = test_now() - start;
    assert_true(took >= 0.15 && took < 2);
    assert_int_equal(um_store_wait(f->store, -1, &err), -1);
    assert_int_equal(err.status, UM_ERR_USAGE);
}

static void test_counts(void **state)
{
    fixture *f = *state;
    um_error err = {0};
    um_job job = {0};
    char ids[7][UM_JOB_ID_SIZE];
    for (int i = 0; i < 7; i++)
        add_job(f->store, 10 - i, ids[i]);
    for (int i = 0; i < 4; i++)
        assert_int_equal(um_store_claim(f->store, WORKER, LEASE, &job, &err), 1);
    assert_int_equal(um_store_finish(f->store, ids[0], WORKER, UM_JOB_COMPLETED, NULL, NULL, &err), 1);
    assert_int_equal(um_store_finish(f->store, ids[1], WORKER, UM_JOB_FAILED, "x", NULL, &err), 1);
    assert_int_equal(um_store_cancel(f->store, ids[6], &err), 1);
    um_job_clear(&job);

    int64_t counts[5];
    assert_int_equal(um_store_counts(f->store, counts, &err), 0);
    static const int64_t want[5] = {
        [UM_JOB_QUEUED] = 2,   [UM_JOB_PROCESSING] = 2, [UM_JOB_COMPLETED] = 1,
        [UM_JOB_FAILED] = 1,   [UM_JOB_CANCELED] = 1,
    };
    for (int s = 0; s < 5; s++)
        assert_int_equal(counts[s], want[s]);
}

/* Newest first; a status filter; limit and offset page through. */
static void test_list(void **state)
{
    fixture *f = *state;
    um_error err = {0};
    enum { N = 6 };
    char ids[N][UM_JOB_ID_SIZE];
    for (int i = 0; i < N; i++)
        add_job(f->store, 5, ids[i]);
    um_job job = {0};
    assert_int_equal(um_store_claim(f->store, WORKER, LEASE, &job, &err), 1); /* ids[0], the oldest */
    assert_int_equal(um_store_claim(f->store, WORKER, LEASE, &job, &err), 1); /* ids[1] */
    um_job_clear(&job);

    static const struct {
        int status, limit, offset;
        int count;
        int first; /* index into ids of the first listed */
    } cases[] = {
        {-1, 100, 0, 6, 5},
        {-1, 2, 0, 2, 5},
        {-1, 2, 2, 2, 3},
        {-1, 10, 5, 1, 0},
        {-1, 10, 6, 0, -1},
        {UM_JOB_QUEUED, 100, 0, 4, 5},
        {UM_JOB_PROCESSING, 100, 0, 2, 1},
        {UM_JOB_PROCESSING, 1, 1, 1, 0},
        {UM_JOB_FAILED, 100, 0, 0, -1},
        {-1, 0, 0, 0, -1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        um_job *jobs = NULL;
        int count = -1;
        assert_int_equal(um_store_list(f->store, cases[i].status, cases[i].limit, cases[i].offset,
                                       &jobs, &count, &err),
                         0);
        assert_int_equal(count, cases[i].count);
        for (int j = 0; j < count; j++) {
            /* consecutive in insertion order, newest first */
            if (cases[i].status < 0)
                assert_string_equal(jobs[j].id, ids[cases[i].first - j]);
            if (j == 0)
                assert_string_equal(jobs[j].id, ids[cases[i].first]);
            if (j > 0)
                assert_true(jobs[j].created_at < jobs[j - 1].created_at);
            if (cases[i].status >= 0)
                assert_int_equal(jobs[j].status, cases[i].status);
        }
        for (int j = 0; j < count; j++)
            um_job_clear(&jobs[j]);
        free(jobs);
    }
    um_job *jobs = NULL;
    int count = 0;
    assert_int_equal(um_store_list(f->store, 5, 10, 0, &jobs, &count, &err), -1);
    assert_int_equal(err.status, UM_ERR_USAGE);
}

/* Jobs outlive the store handle. SQLite: the file is in WAL mode at schema
 * version 3, and "sqlite:PATH" opens the same file as PATH. PostgreSQL: the
 * schema is at version 2, and "postgresql://" opens what "postgres://"
 * does. */
static void test_persistence(void **state)
{
    fixture *f = *state;
    um_error err = {0};
    char id[UM_JOB_ID_SIZE];
    add_job(f->store, 4, id);
    um_store_close(&f->store);
    assert_null(f->store);

    char location[600];
    if (pg_server)
        snprintf(location, sizeof(location), "postgresql://%s",
                 f->location + strlen("postgres://"));
    else
        snprintf(location, sizeof(location), "sqlite:%s", f->path);
    assert_int_equal(um_store_open(&f->store, location, &err), 0);
    um_job job = {0};
    assert_int_equal(um_store_get(f->store, id, &job, &err), 1);
    assert_int_equal(job.priority, 4);
    assert_string_equal(job.job_type, "transcode");
    um_job_clear(&job);
    if (pg_server) {
        assert_int_equal(pg_query_int(f->db, "SELECT version FROM unmark_schema_version"), 2);
        return;
    }

    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_open_v2(f->path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), 3);
    sqlite3_finalize(st);
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
    sqlite3_finalize(st);
    sqlite3_close(db);
}

/* A store made by the first schema (before source_options and leases) is
 * brought up to date when opened, its jobs intact. */
static void test_migrates_version_1(void **state)
{
    fixture *f = *state;
    um_store_close(&f->store);
    remove(f->path);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(
        sqlite3_exec(db,
                     "CREATE TABLE jobs (seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE,"
                     " job_type TEXT NOT NULL, source_uri TEXT NOT NULL, target_uri TEXT NOT NULL,"
                     " metadata TEXT, config TEXT, priority INTEGER NOT NULL, status TEXT NOT NULL,"
                     " progress REAL NOT NULL DEFAULT 0, error TEXT, result_url TEXT,"
                     " attempts INTEGER NOT NULL DEFAULT 0, created_at REAL NOT NULL,"
                     " started_at REAL, finished_at REAL);"
                     "INSERT INTO jobs (id, job_type, source_uri, target_uri, priority, status,"
                     " created_at) VALUES ('old-job', 'transcode', 'a.mp4', 'b.mp4', 3, 'queued', 1);"
                     "INSERT INTO jobs (id, job_type, source_uri, target_uri, priority, status,"
                     " attempts, created_at) VALUES ('running-job', 'transcode', 'a.mp4', 'c.mp4',"
                     " 3, 'processing', 1, 2);"
                     "PRAGMA user_version = 1;",
                     NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(db);
    um_error err = {0};
    assert_int_equal(um_store_open(&f->store, f->path, &err), 0);
    um_job job = {0};
    assert_int_equal(um_store_get(f->store, "old-job", &job, &err), 1);
    assert_int_equal(job.priority, 3);
    assert_null(job.source_options);
    /* a job left processing before leases has none: reaping requeues it */
    assert_int_equal(um_store_get(f->store, "running-job", &job, &err), 1);
    assert_null(job.worker);
    assert_true(job.lease_expires_at == 0);
    reap(f->store, 3, 1, 0);
    assert_int_equal(status_of(f->store, "running-job"), UM_JOB_QUEUED);
    um_job_clear(&job);
}

/* A file from a newer schema is refused, naming the file. */
static void test_newer_schema_refused(void **state)
{
    fixture *f = *state;
    um_store_close(&f->store);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    um_error err = {0};
    assert_int_equal(um_store_open(&f->store, f->path, &err), -1);
    assert_null(f->store);
    assert_non_null(strstr(err.msg, f->path));
    assert_non_null(strstr(err.msg, "99"));
}

/* Locations that cannot be opened: the error's class and a piece of its
 * message. */
static void test_open_errors(void **state)
{
    fixture *f = *state;
    char missing[200], not_db[200], not_db_loc[220];
    snprintf(missing, sizeof(missing), "%s/no-such-folder/jobs.db", f->dir);
    snprintf(not_db, sizeof(not_db), "%s/not-a-database", f->dir);
    FILE *fp = fopen(not_db, "w");
    assert_non_null(fp);
    fputs("this is not a SQLite database, just some text long enough to be read as a header\n", fp);
    fclose(fp);
    snprintf(not_db_loc, sizeof(not_db_loc), "sqlite:%s", not_db);
    const struct {
        const char *location;
        um_status status;
        const char *says;
    } cases[] = {
        {"mysql://x", UM_ERR_USAGE, "sqlite:PATH"},
        {"mysql://x", UM_ERR_USAGE, "postgres://USER:PASSWORD@HOST"},
        {"mysql://user:hunter2@host/db?password=hunter2", UM_ERR_USAGE, "mysql://host/db"},
        {"postgres://", UM_ERR_USAGE, "names no postgres://"},
        {"postgresql://", UM_ERR_USAGE, "names no postgresql://"},
        {"sqlit:jobs.db", UM_ERR_USAGE, "sqlite:PATH"},
        {"", UM_ERR_USAGE, "sqlite:PATH"},
        {"sqlite:", UM_ERR_USAGE, "sqlite:"},
        {missing, UM_ERR_OTHER, missing},
        {not_db_loc, UM_ERR_OTHER, not_db},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        um_error err = {0};
        um_store *store = (um_store *)&err; /* must be set to NULL */
        assert_int_equal(um_store_open(&store, cases[i].location, &err), -1);
        assert_null(store);
        assert_int_equal(err.status, cases[i].status);
        if (!strstr(err.msg, cases[i].says))
            fail_msg("\"%s\": \"%s\" does not say \"%s\"", cases[i].location, err.msg,
                     cases[i].says);
        assert_null(strstr(err.msg, "hunter2"));
    }
}

/* ---- PostgreSQL only ---------------------------------------------------- */

/* A database whose schema a newer unmark made is refused, naming the store
 * and the version, and not the password. */
static void test_pg_newer_schema_refused(void **state)
{
    fixture *f = *state;
    um_store_close(&f->store);
    assert_int_equal(pg_exec(f->db, "UPDATE unmark_schema_version SET version = 99"), 0);
    um_error err = {0};
    assert_int_equal(um_store_open(&f->store, f->location, &err), -1);
    assert_null(f->store);
    assert_non_null(strstr(err.msg, f->shown));
    assert_non_null(strstr(err.msg, "99"));
    assert_no_password(err.msg);
}

enum { OPENERS = 4 };

typedef struct {
    pthread_barrier_t *start;
    const char *location;
    um_store *store;
    um_error err;
    int ret;
} opener;

static void *open_store(void *arg)
{
    opener *o = arg;
    pthread_barrier_wait(o->start);
    o->ret = um_store_open(&o->store, o->location, &o->err);
    return NULL;
}

/* Servers starting at once on an empty database: every one opens it, the
 * schema is made once (without the migration lock, concurrent CREATE
 * TABLEs collide), and they share one table. */
static void test_pg_concurrent_migration(void **state)
{
    fixture *f = *state;
    um_store_close(&f->store);
    remove_place(f);
    assert_int_equal(make_place(f), 0);

    pthread_barrier_t start;
    assert_int_equal(pthread_barrier_init(&start, NULL, OPENERS), 0);
    opener o[OPENERS];
    pthread_t tid[OPENERS];
    for (int t = 0; t < OPENERS; t++) {
        o[t] = (opener){.start = &start, .location = f->location};
        assert_int_equal(pthread_create(&tid[t], NULL, open_store, &o[t]), 0);
    }
    for (int t = 0; t < OPENERS; t++)
        assert_int_equal(pthread_join(tid[t], NULL), 0);
    pthread_barrier_destroy(&start);
    for (int t = 0; t < OPENERS; t++)
        if (o[t].ret != 0)
            fail_msg("opener %d: %s", t, o[t].err.msg);
    assert_int_equal(pg_query_int(f->db, "SELECT version FROM unmark_schema_version"), 2);
    assert_int_equal(pg_query_int(f->db, "SELECT COUNT(*) FROM unmark_schema_version"), 1);

    char id[UM_JOB_ID_SIZE];
    add_job(o[0].store, 3, id);
    um_error err = {0};
    um_job job = {0};
    assert_int_equal(um_store_claim(o[OPENERS - 1].store, WORKER, LEASE, &job, &err), 1);
    assert_string_equal(job.id, id);
    um_job_clear(&job);
    for (int t = 0; t < OPENERS; t++)
        um_store_close(&o[t].store);
}

/* Waits on store until told (at most 5 s): how long it took, or fails. */
static double wait_told(um_store *store)
{
    um_error err = {0};
    double start = test_now();
    int told = um_store_wait(store, 5, &err);
    if (told != 1)
        fail_msg("wait: %d %s", told, err.msg);
    return test_now() - start;
}

/* An idle worker's wait on one connection hears at once of jobs queued on
 * another: inserted, released, or reaped; a notice is taken once. */
static void test_pg_wait_notified(void **state)
{
    fixture *f = *state;
    um_error err = {0};
    um_store *other = NULL;
    um_job job = {0};
    char id[UM_JOB_ID_SIZE];
    assert_int_equal(um_store_open(&other, f->location, &err), 0);
    assert_int_equal(um_store_wait(f->store, 0, &err), 0); /* starts listening */

    add_job(other, 5, id);
    assert_true(wait_told(f->store) < 1);
    assert_int_equal(um_store_wait(f->store, 0.1, &err), 0);

    assert_int_equal(um_store_claim(other, WORKER, LEASE, &job, &err), 1);
    assert_int_equal(um_store_wait(f->store, 0.1, &err), 0); /* a claim queues nothing */
    assert_int_equal(um_store_release(other, id, WORKER, &err), 1);
    assert_true(wait_told(f->store) < 1);

    assert_int_equal(um_store_claim(other, WORKER, SHORT_LEASE, &job, &err), 1);
    usleep(SHORT_WAIT_US);
    reap(other, 3, 1, 0);
    assert_true(wait_told(f->store) < 1);
    um_job_clear(&job);
    um_store_close(&other);
}

/* Four servers' connections claim 200 jobs at once. */
static void test_pg_claim_four_connections(void **state) { run_concurrent_claims(*state, 0, 4); }

/* Ends every connection to the test's database, as a server restart or a
 * cut network does, and waits until they are gone. */
static void cut_connections(const fixture *f)
{
    char sql[256];
    snprintf(sql, sizeof(sql),
             "SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity WHERE datname = '%s'",
             f->db);
    assert_int_equal(pg_exec("postgres", sql), 0);
}

/* Whether the test's database takes new connections. */
static void allow_connections(const fixture *f, int allow)
{
    char sql[128];
    snprintf(sql, sizeof(sql), "ALTER DATABASE %s WITH ALLOW_CONNECTIONS %s", f->db,
             allow ? "true" : "false");
    assert_int_equal(pg_exec("postgres", sql), 0);
}

/* A connection lost between calls: a read runs again on a new connection,
 * unseen by the caller; a claim, which must not run twice, fails naming
 * what it was doing, and the next call reconnects. While the server takes
 * no connections, calls fail saying so, and work again once it does. */
static void test_pg_reconnect(void **state)
{
    fixture *f = *state;
    char id[UM_JOB_ID_SIZE];
    add_job(f->store, 5, id);
    um_error err = {0};
    um_job job = {0};
    cut_connections(f);
    assert_int_equal(um_store_get(f->store, id, &job, &err), 1);
    assert_string_equal(job.id, id);

    allow_connections(f, 0);
    cut_connections(f);
    assert_int_equal(um_store_get(f->store, id, &job, &err), -1);
    assert_non_null(strstr(err.msg, "cannot read a job: the connection was lost and reconnecting "
                                    "failed"));
    assert_non_null(strstr(err.msg, "not currently accepting connections"));
    assert_no_password(err.msg);
    um_error_clear(&err);
    allow_connections(f, 1);
    assert_int_equal(um_store_get(f->store, id, &job, &err), 1);

    cut_connections(f);
    assert_int_equal(um_store_claim(f->store, WORKER, LEASE, &job, &err), -1);
    assert_non_null(strstr(err.msg, f->shown));
    assert_non_null(strstr(err.msg, "cannot claim a job"));
    um_error_clear(&err);
    assert_int_equal(um_store_claim(f->store, WORKER, LEASE, &job, &err), 1);
    assert_string_equal(job.id, id);
    assert_int_equal(job.attempts, 1); /* the failed claim took nothing */
    um_job_clear(&job);
}

/* Locations that cannot be opened: the error's class and a piece of its
 * message, which never shows a password, however the URI gives it. */
static void test_pg_open_errors(void **state)
{
    (void)state;
    const char *host = strrchr(pg_server, '@') + 1; /* 127.0.0.1:PORT */
    char wrong[256], wrong_query[256], no_db[600], bad_escape[256];
    snprintf(wrong, sizeof(wrong), "postgres://postgres:hunter2@%s/postgres", host);
    snprintf(wrong_query, sizeof(wrong_query),
             "postgresql://postgres@%s/postgres?connect_timeout=5&password=hunter2", host);
    snprintf(no_db, sizeof(no_db), "%s/no_such_database", pg_server);
    snprintf(bad_escape, sizeof(bad_escape), "postgres://postgres:hunter2%%zz@%s/postgres", host);
    const struct {
        const char *location;
        const char *says;
    } cases[] = {
        {"postgres://postgres:hunter2@127.0.0.1:1/db", "Connection refused"},
        {wrong, "password authentication failed"},
        {wrong_query, "password authentication failed"},
        {no_db, "\"no_such_database\" does not exist"},
        {bad_escape, "percent-encoded"},
        {"postgresql://postgres:hunter2@[::1/db", "IPv6 host address"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        um_error err = {0};
        um_store *store = (um_store *)&err; /* must be set to NULL */
        char shown[600], opening[700];
        um_storage_redact_url(cases[i].location, shown, sizeof(shown));
        snprintf(opening, sizeof(opening), "cannot open job store %s: ", shown);
        assert_int_equal(um_store_open(&store, cases[i].location, &err), -1);
        assert_null(store);
        assert_int_equal(err.status, UM_ERR_OTHER);
        if (!strstr(err.msg, opening) || !strstr(err.msg, cases[i].says))
            fail_msg("\"%s\": \"%s\" does not say \"%s\" and \"%s\"", shown, err.msg, opening,
                     cases[i].says);
        assert_null(strstr(err.msg, "hunter2"));
        assert_no_password(err.msg);
    }
}

int main(void)
{
    const char *server = getenv("UNMARK_TEST_POSTGRES");
    pg_server = server && *server ? server : NULL;
#define STORE_TEST(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    /* What every backend must do alike. */
#define COMMON_STORE_TESTS                          \
    STORE_TEST(test_insert_get_round_trip),         \
    STORE_TEST(test_insert_rejects_bad_jobs),       \
    STORE_TEST(test_get_missing),                   \
    STORE_TEST(test_claim_order),                   \
    STORE_TEST(test_claim_empty),                   \
    STORE_TEST(test_claim_concurrent_shared),       \
    STORE_TEST(test_claim_concurrent_connections),  \
    STORE_TEST(test_progress),                      \
    STORE_TEST(test_finish),                        \
    STORE_TEST(test_finish_after_cancel),           \
    STORE_TEST(test_cancel),                        \
    STORE_TEST(test_update),                        \
    STORE_TEST(test_heartbeat),                     \
    STORE_TEST(test_reap_requeues),                 \
    STORE_TEST(test_reap_fails_at_limit),           \
    STORE_TEST(test_release),                       \
    STORE_TEST(test_wait_times_out),                \
    STORE_TEST(test_counts),                        \
    STORE_TEST(test_list),                          \
    STORE_TEST(test_persistence)
    const struct CMUnitTest sqlite_tests[] = {
        cmocka_unit_test(test_status_names),
        cmocka_unit_test(test_new_id_is_uuid_v4),
        COMMON_STORE_TESTS,
        STORE_TEST(test_migrates_version_1),
        STORE_TEST(test_newer_schema_refused),
        STORE_TEST(test_open_errors),
    };
    const struct CMUnitTest postgres_tests[] = {
        COMMON_STORE_TESTS,
        STORE_TEST(test_pg_newer_schema_refused),
        STORE_TEST(test_pg_concurrent_migration),
        STORE_TEST(test_pg_claim_four_connections),
        STORE_TEST(test_pg_wait_notified),
        STORE_TEST(test_pg_reconnect),
        STORE_TEST(test_pg_open_errors),
    };
    if (pg_server)
        return cmocka_run_group_tests_name("store on PostgreSQL", postgres_tests, NULL, NULL);
    return cmocka_run_group_tests_name("store on SQLite", sqlite_tests, NULL, NULL);
}
