/*
 * Fresh heap faulted in ahead of need, on a thread of its own.
 *
 * The kernel zeroes every page a process touches for the first time, and
 * on this project's virtual machines a fresh huge page costs about 4 ms
 * (some 0.5 GB/s): a `remove` of a 720p clip faults in about 200 of them,
 * one core-second. Left to themselves, the decoder's threads pay for their
 * frame pools, detection for its buffers and x264 for its own, each where
 * it is needed next. But detection decodes at about one core, and the
 * other idles. So a thread of its own allocates about as much as the job
 * will use at its peak, touches it and frees it again: glibc keeps freed
 * heap for reuse (glibc.malloc.trim_threshold, set in src/cli/huge_pages.c
 * together with one arena for every thread), and hands it out again with
 * no page fault. Hold-out h4: `remove` faster with the head start in all
 * of eight alternating rounds, by 0.71 s on average of about 7; README,
 * "Restoring", for h1, h2 and h3.
 *
 * Only where freed memory is kept (um_memory_prefault_enable); never under
 * AddressSanitizer, whose allocator keeps nothing for reuse this way.
 */
#include <pthread.h>
#include <stdlib.h>

#include "unmark/common.h"

/* Blocks below glibc's mmap threshold (32 MiB, set with the others), so
 * that they come from the heap. Not much smaller: in blocks of 2 MiB, each
 * its own growth of the heap, the head start gained next to nothing (h4:
 * 6.78 s against 6.19 s in blocks of 24 MiB, minimum of eight alternating
 * runs, the 24 MiB run faster in all eight). */
#define PREFAULT_BLOCK ((size_t)24 << 20)
#define PAGE_BYTES 4096

struct um_prefault {
    pthread_t thread;
    size_t (*size)(void *ctx);
    void *ctx;
};

static int enabled;

void um_memory_prefault_enable(int on)
{
#if defined(__SANITIZE_ADDRESS__)
    (void)on;
#else
    enabled = on;
#endif
}

/* At most a quarter of the machine's memory: a head start is not worth
 * pushing anything else out. */
static size_t at_most(size_t bytes)
{
    size_t quarter = (size_t)(um_physical_memory() / 4);
    return bytes < quarter ? bytes : quarter;
}

/* The thread: size the memory, take it block by block and touch every
 * page, then give it all back to malloc. A block malloc refuses ends the
 * taking: this is a head start, never a need. */
static void *fault_in(void *opaque)
{
    um_prefault *p = opaque;
    size_t count = at_most(p->size(p->ctx)) / PREFAULT_BLOCK, taken = 0;
    void **blocks = count ? malloc(count * sizeof(void *)) : NULL;
    for (; blocks && taken < count; taken++) {
        volatile char *b = blocks[taken] = malloc(PREFAULT_BLOCK);
        if (!b)
            break;
        for (size_t k = 0; k < PREFAULT_BLOCK; k += PAGE_BYTES)
            b[k] = 0;
    }
    while (taken > 0)
        free(blocks[--taken]);
    free(blocks);
    return NULL;
}

um_prefault *um_memory_prefault(size_t (*size)(void *ctx), void *ctx)
{
    if (!enabled)
        return NULL;
    um_prefault *p = um_xcalloc(1, sizeof(*p));
    p->size = size;
    p->ctx = ctx;
    if (pthread_create(&p->thread, NULL, fault_in, p) != 0) {
        um_log(UM_LOG_DEBUG, "memory: no thread to fault in the heap ahead; the passes fault in their own");
        free(p);
        return NULL;
    }
    return p;
}

void um_memory_prefault_join(um_prefault **prefault)
{
    um_prefault *p = *prefault;
    if (!p)
        return;
    pthread_join(p->thread, NULL);
    free(p);
    *prefault = NULL;
}
