/*
 * Transparent huge pages for the whole process.
 *
 * A removal touches a few hundred MB of fresh memory: the decoders' frame
 * pools, the frames detection holds back, the crops kept for the matte
 * fit, x264's own buffers. The kernel maps fresh memory a 4 KiB page at a
 * time, and on a virtual machine each fault is dear: p1 of the benchmark
 * took 120,000 faults, 90,000 more than a plain transcode, for about 0.4 s
 * of its 12. glibc asks for transparent huge pages (2 MiB a fault) when
 * its tunable glibc.malloc.hugetlb is 1, and reads tunables only when a
 * program starts; so unmark starts itself once more with it set. The
 * user's own GLIBC_TUNABLES setting of it wins, and UNMARK_HUGE_PAGES=0
 * turns this off.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

#define HUGETLB_TUNABLE "glibc.malloc.hugetlb"
#define TUNABLES_CAP 4096

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
    if (!on || (tunables && strstr(tunables, HUGETLB_TUNABLE)))
        return;
    char before[TUNABLES_CAP], value[TUNABLES_CAP];
    int had = tunables != NULL;
    int n = snprintf(before, sizeof(before), "%s", had ? tunables : "");
    int m = snprintf(value, sizeof(value), "%s%s" HUGETLB_TUNABLE "=1", before, *before ? ":" : "");
    if (n < 0 || (size_t)n >= sizeof(before) || m < 0 || (size_t)m >= sizeof(value) ||
        setenv("GLIBC_TUNABLES", value, 1) < 0)
        return;
    execv("/proc/self/exe", argv);
    /* Still here (/proc is not mounted, say): run on with small pages, and
     * let the environment say so again. */
    um_log(UM_LOG_DEBUG, "huge pages: cannot restart with " HUGETLB_TUNABLE "=1: %s", strerror(errno));
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
    const char *tunables = getenv("GLIBC_TUNABLES");
    const char *at = tunables ? strstr(tunables, HUGETLB_TUNABLE "=") : NULL;
    return at && at[sizeof(HUGETLB_TUNABLE)] != '0';
}
