/*
 * Detection over a whole file: one decode pass feeding the detector, with
 * progress. Used by `unmark detect` and by `remove --detect auto` before its
 * removal pass.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "unmark/pipeline.h"

static double seconds_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void report(const um_pipeline_detect_job *job, int64_t done, int64_t total, double started)
{
    if (!job->progress)
        return;
    um_progress p = {.stage = "detect", .frames_done = done, .frames_total = total, .elapsed = seconds_now() - started};
    p.fps = p.elapsed > 0 ? (double)done / p.elapsed : 0;
    p.eta = total > 0 && p.fps > 0 ? (double)(total - done) / p.fps : -1;
    job->progress(job->progress_opaque, &p);
}

int um_pipeline_detect(const um_pipeline_detect_job *job, um_detector **detector, double **times,
                       um_media_info *info_out, um_error *err)
{
    um_media_reader *r = NULL;
    um_detector *d = NULL;
    double *pts = NULL;
    int64_t n = 0, cap = 0;
    int result = -1;
    double started = seconds_now(), last = 0;
    um_media_options media = job->media;
    media.analysis = 1;
    if (um_media_reader_open(&r, job->input, &media, err) < 0)
        goto fail;
    const um_media_info *info = um_media_reader_info(r);
    if (info_out)
        *info_out = *info;
    int64_t total = um_media_reader_expected_frames(r);
    if (um_detect_create(&d, info->width, info->height, info->fps, &job->detect, err) < 0)
        goto fail;
    for (int i = 0; i < job->nb_templates; i++)
        if (um_detect_add_template(d, &job->templates[i], err) < 0)
            goto fail;
    for (;;) {
        if (job->cancel && *job->cancel) {
            um_error_set(err, UM_ERR_OTHER, "interrupted");
            goto fail;
        }
        um_frame *frame = NULL;
        um_media_packet *packet = NULL;
        int item = um_media_reader_next(r, &frame, &packet, err);
        if (item < 0)
            goto fail;
        if (item == UM_MEDIA_EOF)
            break;
        if (item != UM_MEDIA_FRAME)
            continue;
        if (um_detect_push(d, frame, err) < 0)
            goto fail;
        if (n == cap) {
            cap = cap ? cap * 2 : 1024;
            pts = um_xrealloc(pts, (size_t)cap * sizeof(double));
        }
        pts[n++] = frame->time;
        double now = seconds_now();
        if (now - last >= 0.1) {
            report(job, n, total, started);
            last = now;
        }
    }
    if (um_detect_finish(d, err) < 0)
        goto fail;
    report(job, n, n, started);
    *detector = d;
    d = NULL;
    if (times) {
        *times = pts;
        pts = NULL;
    }
    result = 0;
fail:
    um_detect_free(&d);
    um_media_reader_close(&r);
    free(pts);
    return result;
}
