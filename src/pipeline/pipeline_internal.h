/* Private to the pipeline module: the clock and progress reports that the
 * passes share, and the decoding loop of the passes that only look. */
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

/* How a looking pass reports: its stage name, expected frames (< 0:
 * unknown), where progress goes, what stops it, and the output named when
 * it is stopped (NULL: plain "interrupted"). */
typedef struct {
    const char *stage;
    int64_t total;
    um_progress_fn progress;
    void *opaque;
    volatile int *cancel;
    const char *output;
} um_pass_report;

/* Called with each decoded frame: 0 to go on, 1 to stop after this frame,
 * -1 on failure (err filled). */
typedef int (*um_frame_visit)(void *opaque, um_frame *frame, um_error *err);

/* Decodes reader's frames in display order into visit until the end of the
 * input or until visit stops it, honouring cancel and reporting progress
 * about 10 times a second, then once more at the end. */
int um_pipeline_each_frame(um_media_reader *reader, const um_pass_report *report,
                           um_frame_visit visit, void *opaque, um_error *err);

#endif
