/* Progress of a pass: frames done, rate and time left, from one clock; and
 * the decoding loop of the passes that only look at frames. */
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

int um_pipeline_each_frame(um_media_reader *reader, const um_pass_report *report,
                           um_frame_visit visit, void *opaque, um_error *err)
{
    double started = um_pipeline_now(), last = 0;
    int64_t done = 0;
    for (;;) {
        if (report->cancel && *report->cancel) {
            if (report->output)
                um_error_set(err, UM_ERR_OTHER, "interrupted: %s was not written", report->output);
            else
                um_error_set(err, UM_ERR_OTHER, "interrupted");
            return -1;
        }
        um_frame *frame = NULL;
        um_media_packet *packet = NULL;
        int item = um_media_reader_next(reader, &frame, &packet, err);
        if (item < 0)
            return -1;
        if (item == UM_MEDIA_EOF)
            break;
        if (item != UM_MEDIA_FRAME)
            continue;
        int ret = visit(opaque, frame, err);
        if (ret < 0)
            return -1;
        done++;
        if (ret > 0)
            break;
        double now = um_pipeline_now();
        if (now - last >= 0.1) {
            um_pipeline_report(report->progress, report->opaque, report->stage, done, report->total,
                               started);
            last = now;
        }
    }
    um_pipeline_report(report->progress, report->opaque, report->stage, done, done, started);
    return 0;
}
