/* Private to the pipeline module: the clock and progress reports that the
 * detection pass and the removal pass share. */
#ifndef UNMARK_PIPELINE_INTERNAL_H
#define UNMARK_PIPELINE_INTERNAL_H

#include "unmark/pipeline.h"

/* Seconds on a monotonic clock. */
double um_pipeline_now(void);
/* Calls fn (if any) with stage's progress: done of total frames (total < 0:
 * unknown) since started. */
void um_pipeline_report(um_progress_fn fn, void *opaque, const char *stage, int64_t done, int64_t total,
                        double started);

#endif
