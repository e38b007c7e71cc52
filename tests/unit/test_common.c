/* Unit tests of src/common: the parallel loop, boxes and the heap faulted in ahead. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#if defined(__GLIBC__)
#include <malloc.h>
#include <sys/resource.h>
#endif

#include <cmocka.h>

#include "unmark/common.h"

#define MAX_ITEMS 1000

typedef struct {
    atomic_int runs[MAX_ITEMS];
    pthread_t ran_on[MAX_ITEMS];
    int sleep_us;
} loop_record;

static void record_item(void *ctx, int item)
{
    loop_record *r = ctx;
    atomic_fetch_add(&r->runs[item], 1);
    r->ran_on[item] = pthread_self();
    if (r->sleep_us) {
        struct timespec pause = {0, (long)r->sleep_us * 1000};
        nanosleep(&pause, NULL);
    }
}

/* Items of a loop and how long each takes. */
static const struct {
    int n, sleep_us;
} loop_cases[] = {{0, 0}, {1, 0}, {2, 0}, {7, 100}, {MAX_ITEMS, 0}, {40, 2000}};

/* Every item runs exactly once, and the loop returns only after all. */
static void test_parallel_for_runs_each_item_once(void **state)
{
    (void)state;
    for (size_t c = 0; c < sizeof loop_cases / sizeof loop_cases[0]; c++) {
        loop_record *r = calloc(1, sizeof(*r));
        r->sleep_us = loop_cases[c].sleep_us;
        um_parallel_for(loop_cases[c].n, record_item, r);
        for (int i = 0; i < MAX_ITEMS; i++)
            assert_int_equal(atomic_load(&r->runs[i]), i < loop_cases[c].n ? 1 : 0);
        free(r);
    }
}

/* Slow items are shared: with more than one core, some run on a helper. */
static void test_parallel_for_shares_slow_items(void **state)
{
    (void)state;
    if (um_parallel_threads() < 2)
        skip();
    loop_record *r = calloc(1, sizeof(*r));
    r->sleep_us = 5000;
    um_parallel_for(20, record_item, r);
    int on_helpers = 0;
    for (int i = 0; i < 20; i++)
        on_helpers += !pthread_equal(r->ran_on[i], pthread_self());
    assert_true(on_helpers > 0 && on_helpers < 20);
    free(r);
}

/* A box grown on every side, each edge clamped to the area on its own:
 * inside, at the edges, and a box past the area's end. */
static void test_box_grown_clamps_each_edge(void **state)
{
    (void)state;
    static const struct {
        um_box box;
        int by;
        um_box want;
    } cases[] = {
        {{10, 20, 30, 40}, 5, {5, 15, 35, 45}},
        {{2, 3, 98, 47}, 8, {0, 0, 100, 50}},
        {{10, 20, 30, 40}, 0, {10, 20, 30, 40}},
        {{120, 60, 130, 70}, 4, {100, 50, 100, 50}},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        um_box got = um_box_grown(cases[i].box, cases[i].by, 100, 50);
        if (got.x1 != cases[i].want.x1 || got.y1 != cases[i].want.y1 || got.x2 != cases[i].want.x2 ||
            got.y2 != cases[i].want.y2)
            fail_msg("case %zu: %d,%d-%d,%d", i, got.x1, got.y1, got.x2, got.y2);
    }
}

#if defined(__GLIBC__) && !defined(__SANITIZE_ADDRESS__)
#define PREFAULT_TEST_BYTES ((size_t)48 << 20)
#define PREFAULT_TEST_BLOCK ((size_t)24 << 20)

static size_t prefault_test_size(void *ctx)
{
    (*(int *)ctx)++;
    return PREFAULT_TEST_BYTES;
}

/* Page faults taken while allocating PREFAULT_TEST_BYTES in blocks and
 * touching every page; the blocks into held[]. */
static long faults_taking(void **held)
{
    struct rusage before, after;
    getrusage(RUSAGE_SELF, &before);
    for (size_t i = 0; i < PREFAULT_TEST_BYTES / PREFAULT_TEST_BLOCK; i++) {
        volatile char *b = held[i] = malloc(PREFAULT_TEST_BLOCK);
        assert_non_null(held[i]);
        for (size_t k = 0; k < PREFAULT_TEST_BLOCK; k += 4096)
            b[k] = 1;
    }
    getrusage(RUSAGE_SELF, &after);
    return after.ru_minflt - before.ru_minflt;
}
#endif

/* Heap faulted in ahead, on the prefault thread, is handed out again with
 * no page fault: taking as much right after faults less than a quarter as
 * often as taking as much again, fresh (malloc set up as the program sets
 * it: one arena, large blocks from the heap, freed memory kept). Once
 * disabled, no thread starts. */
static void test_prefault_hands_out_touched_heap(void **state)
{
    (void)state;
#if defined(__GLIBC__) && !defined(__SANITIZE_ADDRESS__)
    mallopt(M_ARENA_MAX, 1);
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
    um_memory_prefault_enable(1);
    int asked = 0;
    um_prefault *p = um_memory_prefault(prefault_test_size, &asked);
    assert_non_null(p);
    um_memory_prefault_join(&p);
    assert_null(p);
    assert_int_equal(asked, 1);
    void *ahead[PREFAULT_TEST_BYTES / PREFAULT_TEST_BLOCK], *fresh[PREFAULT_TEST_BYTES / PREFAULT_TEST_BLOCK];
    long reused = faults_taking(ahead), taken = faults_taking(fresh);
    if (reused * 4 >= taken)
        fail_msg("%ld page faults in memory faulted in ahead, %ld in fresh memory", reused, taken);
    for (size_t i = 0; i < PREFAULT_TEST_BYTES / PREFAULT_TEST_BLOCK; i++) {
        free(ahead[i]);
        free(fresh[i]);
    }
    um_memory_prefault_enable(0);
    assert_null(um_memory_prefault(prefault_test_size, &asked));
    assert_int_equal(asked, 1);
#else
    skip();
#endif
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_box_grown_clamps_each_edge),
        cmocka_unit_test(test_parallel_for_runs_each_item_once),
        cmocka_unit_test(test_parallel_for_shares_slow_items),
        cmocka_unit_test(test_prefault_hands_out_touched_heap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
