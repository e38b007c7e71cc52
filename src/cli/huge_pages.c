/*
 * glibc's malloc for the whole process: transparent huge pages, one arena,
 * zeros in every block it hands out, and large blocks kept for reuse.
 *
 * A removal touches a few hundred MB of fresh memory: the decoders' frame
 * pools, the frames detection holds back, the crops kept for the matte
 * fit, x264's own buffers. The kernel maps fresh memory a 4 KiB page at a
 * time, and on a virtual machine each fault is dear: p1 of the benchmark
 * took 120,000 faults, 90,000 more than a plain transcode, for about 0.4 s
 * of its 12. glibc asks for transparent huge pages (2 MiB a fault) when
 * its tunable glibc.malloc.hugetlb is 1, and reads tunables only when a
 * program starts; so unmark starts itself once more with it set.
 *
 * Only the main arena's memory got huge pages here: a thread that
 * allocates gets an arena of its own, grown a small page at a time. Once
 * detection ran on a thread of its own, `remove` of p5 took 96,000 page
 * faults, and 9,000 to 27,000 with one arena for every thread
 * (glibc.malloc.arena_max=1; `perf stat`, two runs each), 0.5-1.3 s less
 * CPU time. The threads allocate per frame, not per pixel: they hardly
 * wait for the arena's lock.
 *
 * x264 reads some memory it allocated before writing it: re-encoding the
 * same frames of p5 (`ffmpeg -c:v libx264 -preset slow -crf 16 -tune
 * film`) gives other bytes with glibc.malloc.perturb=85 than with 170.
 * ffmpeg starts x264 on a fresh heap, which is all zeros; unmark starts it
 * after detection and the matte fit have freed hundreds of MB, and
 * `remove` of p5 wrote different bytes from run to run (three outcomes in
 * four runs). With glibc.malloc.perturb=255 every block malloc hands out
 * is zeros, as a fresh heap's are: six runs wrote the same bytes, and no
 * cost showed in wall or CPU time (three alternating runs).
 *
 * Blocks of 128 KiB and more came from mmap() of their own at first, and
 * munmap() gave them back on free(): glibc raises that threshold to a
 * freed block's size as it goes, but x264 and the decoders ask for frames
 * of many sizes, each fresh mapping faulted in and zeroed anew. On h3 of
 * the hold-outs `remove` took 46,000 page faults, 8% of its CPU time in
 * the kernel's clear_page; with the threshold fixed at 32 MiB (the most
 * glibc's own raising reaches), blocks below it come from the heap and are
 * used again: 5,200 faults, 0.3-0.7 s less wall time of 7.8-8.5 (perf
 * stat, two runs each), the same bytes written, and a smaller peak.
 *
 * And freed memory at the top of the heap stays there: glibc gives it back
 * to the kernel once 128 KiB of it is free (when mmap_threshold is set,
 * that threshold no longer rises with it), and the next pass, which needs
 * as much again, has the kernel fault it in and zero it once more. On h4
 * the heap grew by 590 MB in all for a peak of 450 (strace of brk), and
 * `remove` faulted in 263 huge pages; keeping up to 1 GiB free, 205 (the
 * kernel's thp_fault_alloc count, the same bytes written). A long-lived
 * worker gives it back after each job (um_memory_give_back).
 *
 * The user's own GLIBC_TUNABLES setting of any of them wins, and
 * UNMARK_HUGE_PAGES=0 leaves them all alone.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

#define HUGETLB_TUNABLE "glibc.malloc.hugetlb"
#define ARENA_TUNABLE "glibc.malloc.arena_max"
#define PERTURB_TUNABLE "glibc.malloc.perturb"
#define MMAP_TUNABLE "glibc.malloc.mmap_threshold"
#define TRIM_TUNABLE "glibc.malloc.trim_threshold"
#define TUNABLES_CAP 4096

/* perturb=255: malloc fills a block with 255 ^ 0xff, zeros (free fills it
 * with 255, which no one reads). mmap_threshold: 32 MiB. trim_threshold:
 * 1 GiB. */
static const char *const wanted_tunables[] = {HUGETLB_TUNABLE "=1", ARENA_TUNABLE "=1", PERTURB_TUNABLE "=255",
                                              MMAP_TUNABLE "=33554432", TRIM_TUNABLE "=1073741824"};

/* The value a GLIBC_TUNABLES string (may be NULL) gives the tunable whose
 * name is name's first len characters, or NULL. */
static const char *tunable_value(const char *tunables, const char *name, size_t len)
{
    for (const char *item = tunables; item && *item; item += strcspn(item, ":"), item += *item == ':')
        if (strncmp(item, name, len) == 0 && item[len] == '=')
            return item + len + 1;
    return NULL;
}

/* tunables, if any, with the wanted settings it lacks appended, into out;
 * 0 when it lacks none (or they do not fit). */
static int with_wanted_tunables(const char *tunables, char *out, size_t cap)
{
    int n = snprintf(out, cap, "%s", tunables ? tunables : ""), added = 0;
    for (size_t i = 0; i < sizeof(wanted_tunables) / sizeof(wanted_tunables[0]); i++) {
        if (tunable_value(tunables, wanted_tunables[i], strcspn(wanted_tunables[i], "=")))
            continue;
        if (n < 0 || (size_t)n >= cap)
            return 0;
        n += snprintf(out + n, cap - (size_t)n, "%s%s", n ? ":" : "", wanted_tunables[i]);
        added = 1;
    }
    return added && n >= 0 && (size_t)n < cap;
}

void cli_use_huge_pages(char **argv)
{
#if defined(__linux__) && defined(__GLIBC__)
    const char *wanted = getenv("UNMARK_HUGE_PAGES");
    int on = 1;
    um_error err = {0};
    if (wanted && cli_parse_bool(wanted, "UNMARK_HUGE_PAGES", &on, &err) < 0) {
        um_log(UM_LOG_WARN, "%s; huge pages stay off", err.msg);
        return;
    }
    const char *tunables = getenv("GLIBC_TUNABLES");
    char before[TUNABLES_CAP], value[TUNABLES_CAP];
    int had = tunables != NULL;
    int n = snprintf(before, sizeof(before), "%s", had ? tunables : "");
    if (!on || n < 0 || (size_t)n >= sizeof(before) ||
        !with_wanted_tunables(had ? before : NULL, value, sizeof(value)) || setenv("GLIBC_TUNABLES", value, 1) < 0)
        return;
    execv("/proc/self/exe", argv);
    /* Still here (/proc is not mounted, say): run on with small pages, and
     * let the environment say so again. */
    um_log(UM_LOG_DEBUG, "huge pages: cannot restart with %s: %s", value, strerror(errno));
    if (had)
        setenv("GLIBC_TUNABLES", before, 1);
    else
        unsetenv("GLIBC_TUNABLES");
#else
    (void)argv;
#endif
}

int cli_huge_pages_on(void)
{
    const char *v = tunable_value(getenv("GLIBC_TUNABLES"), HUGETLB_TUNABLE, strlen(HUGETLB_TUNABLE));
    return v && *v != '0';
}

/* 1 when the process's GLIBC_TUNABLES sets tunable name to exactly value. */
static int tunable_is(const char *name, const char *value)
{
    const char *v = tunable_value(getenv("GLIBC_TUNABLES"), name, strlen(name));
    size_t len = strlen(value);
    return v && strncmp(v, value, len) == 0 && (v[len] == ':' || v[len] == '\0');
}

int cli_one_malloc_arena(void)
{
    return tunable_is(ARENA_TUNABLE, "1");
}

int cli_malloc_zeroes(void)
{
    return tunable_is(PERTURB_TUNABLE, "255");
}

int cli_malloc_reuses_large_blocks(void)
{
    return tunable_is(MMAP_TUNABLE, "33554432");
}

int cli_malloc_keeps_freed_memory(void)
{
    return tunable_is(TRIM_TUNABLE, "1073741824");
}
