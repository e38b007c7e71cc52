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

/*
 * The crops the detection pass keeps for the matte pass (crop_cache.c):
 * around the marks found so far (spots, as um_detect_live_spots gives
 * them), what the matte fit may read of each frame, in at most limit bytes
 * (<= 0: nothing is kept). The last `frames` frames are held whole so that
 * a mark found late is kept from where it showed up
 * (um_crop_cache_hold_back, with um_detect_learning_frames). Past the
 * limit the kept frames thin out evenly. um_crop_cache_find gives the kept
 * crop of frame t that covers need (a frame of its own, x0 and y0 its
 * place), or 0.
 */
typedef struct um_crop_cache um_crop_cache;

um_crop_cache *um_crop_cache_new(int64_t limit);
void um_crop_cache_hold_back(um_crop_cache *cache, int frames);
/* Takes over frame: the delay line keeps it, or it is released. */
void um_crop_cache_keep(um_crop_cache *cache, um_media_held *frame, const um_detect_live *spots, int n);
/* After the last frame: the marks the detector found only when it finished
 * (a mark that shows at the very end) were showing in the frames still
 * held back; their crops are kept from there. */
void um_crop_cache_finish(um_crop_cache *cache, const um_detect_live *spots, int n);
int um_crop_cache_find(const um_crop_cache *cache, int64_t t, um_box need, um_frame *crop);
int64_t um_crop_cache_bytes(const um_crop_cache *cache);
/* Lets everything go (a second detection pass starts over). */
void um_crop_cache_clear(um_crop_cache *cache);
void um_crop_cache_free(um_crop_cache **cache);

/* The matte pass (matte_run.c): fits the matte of each of det's spots from
 * the frames that clearly show it, taken from cache (if not NULL) where it
 * kept them, else decoded again. *mattes gets one per spot (NULL where it
 * could not be fitted; free each with um_matte_free, then the array). */
int um_pipeline_fit_mattes(const um_pipeline_job *job, const um_detector *det, const um_crop_cache *cache,
                           um_matte ***mattes, um_error *err);

/* Detection over a whole file (detect_run.c), keeping crops in cache (if
 * not NULL) for the matte pass and its last frames in tail (if not NULL)
 * for the removal pass. */
int um_pipeline_detect_keeping(const um_pipeline_detect_job *job, um_crop_cache *cache, um_media_tail *tail,
                               um_detector **detector, double **times, um_media_info *info,
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

/*
 * A worker thread for what a looking pass does with each frame
 * (frame_worker.c), so that the next frames decode meanwhile. visit gets
 * the frames in the order they are put, and takes each over (releases it
 * or keeps it), also when it fails (-1, err filled); its first failure
 * stops the worker. um_frame_worker_put hands a frame over (waiting while
 * the short queue is full), or returns -1 with the worker's error, the
 * frame released. um_frame_worker_finish waits for every frame put to be
 * visited, frees the worker, and returns -1 with the worker's error if it
 * failed; um_frame_worker_free drops the frames not yet visited instead (a
 * pass that fails). Without a thread the visits are made within put.
 */
typedef struct um_frame_worker um_frame_worker;
typedef int (*um_held_visit)(void *opaque, um_media_held *frame, um_error *err);

um_frame_worker *um_frame_worker_start(um_held_visit visit, void *opaque);
int um_frame_worker_put(um_frame_worker *worker, um_media_held *frame, um_error *err);
int um_frame_worker_finish(um_frame_worker **worker, um_error *err);
void um_frame_worker_free(um_frame_worker **worker);

#endif
