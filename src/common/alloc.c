/* Allocation that aborts on out-of-memory: a media job that cannot get a few
 * kilobytes cannot usefully go on, and aborting keeps error paths for errors
 * a user can act on. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "unmark/common.h"

static void out_of_memory(size_t n)
{
    fprintf(stderr, "unmark: fatal: out of memory allocating %zu bytes\n", n);
    abort();
}

void *um_check_alloc(void *p, const char *what)
{
    if (!p) {
        fprintf(stderr, "unmark: fatal: out of memory allocating %s\n", what);
        abort();
    }
    return p;
}

void *um_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        out_of_memory(n);
    return p;
}

void *um_xcalloc(size_t count, size_t size)
{
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p)
        out_of_memory(count * size);
    return p;
}

void *um_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        out_of_memory(n);
    return q;
}

char *um_xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = um_xmalloc(n);
    memcpy(p, s, n);
    return p;
}

void um_memory_give_back(void)
{
#if defined(__GLIBC__)
    malloc_trim(0);
#endif
}

int64_t um_physical_memory(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGE_SIZE);
    return pages > 0 && size > 0 ? (int64_t)pages * size : 0;
}
