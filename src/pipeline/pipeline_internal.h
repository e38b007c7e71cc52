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

/* The matte pass (matte_run.c): fits the matte of each of det's spots from
 * the frames that clearly show it. *mattes gets one per spot (NULL where it
 * could not be fitted; free each with um_matte_free, then the array). */
int um_pipeline_fit_mattes(const um_pipeline_job *job, const um_detector *det, um_matte ***mattes,
                           um_error *err);

#endif
