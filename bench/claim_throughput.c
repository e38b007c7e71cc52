/*
 * Claim throughput of a job store: inserts N empty jobs, then C threads,
 * each on a connection of its own (as C worker processes would be), claim
 * and finish them until the queue is empty. Prints inserts/s and
 * claims+finishes/s (the goal on PostgreSQL: 500 jobs/s or more), and checks
 * that every job was completed once.
 *
 *   bench_claims LOCATION [JOBS] [CONNECTIONS]     (defaults 2000, 4)
 *
 * LOCATION is a store as --store takes it: a PostgreSQL database
 * (bench/chaos.sh starts a throwaway server: tests/integration/pg_server.sh)
 * or a SQLite file. Jobs already there are counted out: run it on an empty
 * store for exact figures.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "unmark/store.h"

typedef struct {
    const char *location;
    int index;
    int done;
    int failed;
} claimer;

static double seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One worker: claims and finishes until the queue is empty. */
static void *claim_all(void *arg)
{
    claimer *c = arg;
    um_error err = {0};
    um_store *store = NULL;
    char worker[64];
    snprintf(worker, sizeof(worker), "bench:%d", c->index);
    if (um_store_open(&store, c->location, &err) < 0) {
        fprintf(stderr, "bench: %s\n", err.msg);
        c->failed = 1;
        return NULL;
    }
    for (;;) {
        um_job job = {0};
        int got = um_store_claim(store, worker, 60, &job, &err);
        if (got == 1 &&
            um_store_finish(store, job.id, worker, UM_JOB_COMPLETED, NULL, NULL, &err) != 1)
            got = -1;
        um_job_clear(&job);
        if (got < 0) {
            fprintf(stderr, "bench: %s\n", err.msg);
            c->failed = 1;
        }
        if (got <= 0)
            break;
        c->done++;
    }
    um_store_close(&store);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 4) {
        fprintf(stderr, "usage: bench_claims LOCATION [JOBS] [CONNECTIONS]\n");
        return 2;
    }
    int jobs = argc > 2 ? atoi(argv[2]) : 2000, threads = argc > 3 ? atoi(argv[3]) : 4;
    if (jobs < 1 || threads < 1 || threads > 64) {
        fprintf(stderr, "bench_claims: JOBS must be 1 or more, CONNECTIONS 1 to 64\n");
        return 2;
    }
    um_error err = {0};
    um_store *store = NULL;
    if (um_store_open(&store, argv[1], &err) < 0) {
        fprintf(stderr, "bench: %s\n", err.msg);
        return 1;
    }
    int64_t before[5];
    double t0 = seconds();
    for (int i = 0; i < jobs; i++) {
        um_job job = {0};
        um_job_new_id(&job);
        job.job_type = um_xstrdup("transcode");
        job.source_uri = um_xstrdup("bench.mp4");
        job.target_uri = um_xstrdup("bench-out.mp4");
        job.priority = 1 + i % 10;
        int ret = um_store_insert(store, &job, &err);
        um_job_clear(&job);
        if (ret < 0) {
            fprintf(stderr, "bench: %s\n", err.msg);
            return 1;
        }
    }
    double inserted = seconds() - t0;
    if (um_store_counts(store, before, &err) < 0) {
        fprintf(stderr, "bench: %s\n", err.msg);
        return 1;
    }
    claimer c[64];
    pthread_t tid[64];
    t0 = seconds();
    for (int t = 0; t < threads; t++) {
        c[t] = (claimer){.location = argv[1], .index = t + 1};
        pthread_create(&tid[t], NULL, claim_all, &c[t]);
    }
    int done = 0, failed = 0;
    for (int t = 0; t < threads; t++) {
        pthread_join(tid[t], NULL);
        done += c[t].done;
        failed |= c[t].failed;
    }
    double claimed = seconds() - t0;
    printf("inserted %d jobs in %.2f s: %.0f jobs/s (one connection)\n", jobs, inserted,
           jobs / inserted);
    printf("claimed and finished %d jobs in %.2f s with %d connections: %.0f jobs/s\n", done,
           claimed, threads, done / claimed);
    um_store_close(&store);
    if (failed || done != before[UM_JOB_QUEUED]) {
        fprintf(stderr, "bench: %d of %lld queued jobs were claimed and finished\n", done,
                (long long)before[UM_JOB_QUEUED]);
        return 1;
    }
    return 0;
}
