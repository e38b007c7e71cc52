/*
 * A parallel loop for the passes that run while nothing else does.
 *
 * The matte fit runs between the detection pass and the removal pass, when
 * the decoder and the encoder are idle; its work comes in independent
 * items (one spot on one plane) of a few hundred milliseconds each, too
 * few and too uneven to split evenly up front. So the items are handed out
 * one at a time from a shared counter to the calling thread and up to one
 * helper per other core: whoever is free takes the next. Callers list the
 * biggest items first.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "unmark/common.h"

#define MAX_HELPERS 63

typedef struct {
    void (*fn)(void *ctx, int item);
    void *ctx;
    int n;
    atomic_int next;
} loop;

static void *take_items(void *opaque)
{
    loop *l = opaque;
    for (int i = atomic_fetch_add(&l->next, 1); i < l->n; i = atomic_fetch_add(&l->next, 1))
        l->fn(l->ctx, i);
    return NULL;
}

int um_parallel_threads(void)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    return cores < 1 ? 1 : cores > MAX_HELPERS + 1 ? MAX_HELPERS + 1 : (int)cores;
}

void um_parallel_for(int n, void (*fn)(void *ctx, int item), void *ctx)
{
    loop l = {fn, ctx, n, 0};
    pthread_t helpers[MAX_HELPERS];
    int wanted = (n < um_parallel_threads() ? n : um_parallel_threads()) - 1, started = 0;
    /* A helper that cannot start leaves its share to the others. */
    while (started < wanted && pthread_create(&helpers[started], NULL, take_items, &l) == 0)
        started++;
    take_items(&l);
    for (int i = 0; i < started; i++)
        pthread_join(helpers[i], NULL);
}
