/* Progress of a pass: frames done, rate and time left, from one clock. */
#include <time.h>

#include "pipeline/pipeline_internal.h"

double um_pipeline_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

void um_pipeline_report(um_progress_fn fn, void *opaque, const char *stage, int64_t done, int64_t total,
                        double started)
{
    if (!fn)
        return;
    um_progress p = {.stage = stage, .frames_done = done, .frames_total = total,
                     .elapsed = um_pipeline_now() - started};
    p.fps = p.elapsed > 0 ? (double)done / p.elapsed : 0;
    p.eta = total > 0 && p.fps > 0 ? (double)(total - done) / p.fps : -1;
    if (p.eta < 0 && total > 0 && done >= total)
        p.eta = 0;
    fn(opaque, &p);
}
