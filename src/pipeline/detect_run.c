/*
 * Detection over a whole file: a decode pass feeding the detector, with
 * progress. Used by `unmark detect` and by `remove` before its removal pass.
 * A mark learnt only after frames it showed in have gone by (over a still
 * picture it must have hopped first; a static mark over a slow zoom may
 * take seconds) is found from the first frame by a second pass, which
 * starts out knowing the spots. Inside `remove`, the pass also keeps crops around the marks it has
 * found for the matte pass (crop_cache.c) and its last frames whole for the
 * removal pass (media/tail.c), and so decodes exactly as the removal pass
 * will (no shortcuts). A second pass sees the same frames: it keeps crops
 * anew, but leaves the first pass's tail as it is.
 */
#include <stdlib.h>
#include <string.h>

#include "pipeline/pipeline_internal.h"

static void append_time(double **times, int64_t *n, int64_t *cap, double t)
{
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 1024;
        *times = um_xrealloc(*times, (size_t)*cap * sizeof(double));
    }
    (*times)[(*n)++] = t;
}

/* Opens the input and makes the detector: a new one, or (learnt != NULL) one
 * that starts out knowing learnt's spots. Only a pass whose frames are kept
 * must decode them in full. */
static int open_pass(const um_pipeline_detect_job *job, const um_detector *learnt, int keeping,
                     um_media_reader **r, um_detector **d, um_error *err)
{
    um_media_options media = job->media;
    media.analysis = keeping ? UM_MEDIA_LOOK_EXACT : 1;
    if (um_media_reader_open(r, job->input, &media, err) < 0)
        return -1;
    const um_media_info *info = um_media_reader_info(*r);
    if (learnt)
        return um_detect_create_from(d, learnt, err);
    um_detect_options o = job->detect;
    o.single_picture = info->is_image;
    if (um_detect_create(d, info->width, info->height, info->fps, &o, err) < 0)
        return -1;
    for (int i = 0; i < job->nb_templates; i++)
        if (um_detect_add_template(*d, &job->templates[i], err) < 0)
            return -1;
    return 0;
}

typedef struct {
    um_detector *detector;
    um_crop_cache *cache;
    um_media_tail *tail;
    const um_media_reader *reader;
    um_frame_worker *worker;
    double *times;
    int64_t n, cap;
} pass_state;

/* Room for the spots handed to the crop cache. */
#define LIVE_SPOTS 16

/* On the worker thread: the detector looks at a frame, and the crop cache
 * keeps what it needs of it. */
static int look_at_frame(void *opaque, um_media_held *held, um_error *err)
{
    pass_state *p = opaque;
    if (um_detect_push(p->detector, um_media_held_frame(held), err) < 0) {
        um_media_held_release(&held);
        return -1;
    }
    if (!p->cache) {
        um_media_held_release(&held);
        return 0;
    }
    um_detect_live spots[LIVE_SPOTS];
    int n = um_detect_live_spots(p->detector, spots, LIVE_SPOTS);
    um_crop_cache_keep(p->cache, held, spots, n);
    return 0;
}

/* On the decoding thread: what needs the reader (the tail's copy), then
 * the frame over to the worker. */
static int push_frame(void *opaque, um_frame *frame, um_error *err)
{
    pass_state *p = opaque;
    if (p->tail)
        um_media_tail_keep(p->tail, p->reader);
    append_time(&p->times, &p->n, &p->cap, frame->time);
    return um_frame_worker_put(p->worker, um_media_reader_hold(p->reader), err);
}

/* One decoding pass into a detector (exact: decoding as the removal pass
 * will); its frames' times into *times. */
static int run_pass(const um_pipeline_detect_job *job, const um_detector *learnt, um_crop_cache *cache,
                    um_media_tail *tail, int exact, um_detector **out, double **times, um_media_info *info_out,
                    um_error *err)
{
    um_media_reader *r = NULL;
    pass_state p = {.cache = cache, .tail = tail, .times = *times};
    int result = -1;
    if (cache)
        um_crop_cache_clear(cache);
    if (tail)
        um_media_tail_clear(tail);
    if (open_pass(job, learnt, exact, &r, &p.detector, err) < 0)
        goto fail;
    p.reader = r;
    if (cache)
        um_crop_cache_hold_back(cache, um_detect_learning_frames(p.detector));
    if (info_out)
        *info_out = *um_media_reader_info(r);
    um_pass_report report = {"detect", um_media_reader_expected_frames(r), job->progress,
                             job->progress_opaque, job->cancel, NULL};
    p.worker = um_frame_worker_start(look_at_frame, &p);
    if (um_pipeline_each_frame(r, &report, push_frame, &p, err) < 0 ||
        um_frame_worker_finish(&p.worker, err) < 0 || um_detect_finish(p.detector, err) < 0)
        goto fail;
    if (cache) {
        um_detect_live spots[LIVE_SPOTS];
        um_crop_cache_finish(cache, spots, um_detect_live_spots(p.detector, spots, LIVE_SPOTS));
        um_crop_cache_hold_back(cache, 0); /* the frames held whole are done with */
    }
    *out = p.detector;
    p.detector = NULL;
    result = 0;
fail:
    um_frame_worker_free(&p.worker);
    *times = p.times;
    um_detect_free(&p.detector);
    um_media_reader_close(&r);
    return result;
}

int um_pipeline_detect(const um_pipeline_detect_job *job, um_detector **detector, double **times,
                       um_media_info *info, um_error *err)
{
    return um_pipeline_detect_keeping(job, NULL, NULL, detector, times, info, err);
}

int um_pipeline_detect_keeping(const um_pipeline_detect_job *job, um_crop_cache *cache, um_media_tail *tail,
                               um_detector **detector, double **times, um_media_info *info,
                               um_error *err)
{
    um_detector *first = NULL, *second = NULL;
    double *pts = NULL;
    int exact = cache || tail;
    if (run_pass(job, NULL, cache, tail, exact, &first, &pts, info, err) < 0)
        goto fail;
    if (um_detect_wants_second_pass(first)) {
        um_log(UM_LOG_INFO, "detection: a mark was learnt only after frames it showed in had gone by (over a "
               "still picture, or slowly); a second pass finds it from the start");
        free(pts);
        pts = NULL;
        /* The first pass decoded the same frames exactly: its tail stands. */
        if (run_pass(job, first, cache, NULL, exact, &second, &pts, NULL, err) < 0)
            goto fail;
        um_detect_free(&first);
        first = second;
    }
    *detector = first;
    if (times)
        *times = pts;
    else
        free(pts);
    return 0;
fail:
    um_detect_free(&first);
    free(pts);
    return -1;
}
