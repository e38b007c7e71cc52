/*
 * unmark — pipeline: one job from an input file to an output file.
 *
 * Streams the input through decode -> remove -> encode -> mux with memory
 * bounded by the codecs' own delay, never by the video's length. The output
 * is written to a temporary file beside the target and renamed into place
 * only on success, so a failed or interrupted run leaves nothing behind and
 * never touches the input.
 */
#ifndef UNMARK_PIPELINE_H
#define UNMARK_PIPELINE_H

#include <stdint.h>

#include "unmark/common.h"
#include "unmark/detect.h"
#include "unmark/media.h"
#include "unmark/remove.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    const char *stage;      /* "detect" or "remove" */
    int64_t frames_done;
    int64_t frames_total;   /* -1 unknown */
    double elapsed;         /* seconds */
    double fps;             /* frames per second so far */
    double eta;             /* seconds left; < 0 unknown */
} um_progress;

typedef void (*um_progress_fn)(void *opaque, const um_progress *progress);

/* 384 MiB: at 256, the crops of a mark that hops between three places in
 * a 10 s 720p clip thinned out, and the matte pass decoded most of the
 * clip again (p5, h2, g2 of the benchmark; README, "Restoring"). */
#define UM_PIPELINE_MATTE_CACHE_DEFAULT ((int64_t)384 << 20)
/* Off: on this project's virtual machines the copies cost more than
 * decoding the frames again (README, "Restoring"). */
#define UM_PIPELINE_FRAME_CACHE_DEFAULT 0

typedef struct {
    const char *input;
    const char *output;
    int overwrite;
    um_media_options media;
    um_remove_config remove;
    /* Find the watermark first, in a decoding pass of its own, and remove it
     * wherever it shows (videos only: a still has no time to learn from). */
    int detect;
    um_detect_options detect_options;
    /* Marks to look for, given (remove --template); with them, stills are
     * searched too. matte_templates (optional) are the same marks' mattes,
     * one per template: a mark found as one of them in too few frames to
     * fit its own matte (a still) is un-blended with the template's. */
    const um_detect_template *templates;
    const um_matte_template *matte_templates;
    int nb_templates;
    /* Optional: detection already made (borrowed, not freed); no pass of
     * its own then. */
    const um_detector *detections;
    /* Draw the detected boxes instead of removing the mark (--overlay). */
    int outline;
    /* Bytes the detection pass may keep of the frames around the marks, so
     * that the matte fit needs no decoding pass of its own (0: keep none,
     * decode again). Default UM_PIPELINE_MATTE_CACHE_DEFAULT. */
    int64_t matte_cache;
    /* Bytes the detection pass may keep of the last frames it decoded,
     * whole, so that the removal pass need not decode them again (0: keep
     * none). Default UM_PIPELINE_FRAME_CACHE_DEFAULT. */
    int64_t frame_cache;
    um_progress_fn progress;    /* optional, called about 10 times a second */
    void *progress_opaque;
    /* Optional: set to nonzero (from a signal handler, say) to stop the job;
     * it then fails with "interrupted" and leaves no output. */
    volatile int *cancel;
} um_pipeline_job;

typedef struct {
    int64_t frames;
    int64_t frames_with_mark;   /* frames detection found a mark in */
    int marks;                  /* spots detection found */
    double seconds;
    char decode_path[128];
    char encode_path[128];
} um_pipeline_result;

void um_pipeline_job_init(um_pipeline_job *job);
/* Runs the job. On failure nothing exists at job->output that was not there
 * before, and err says what failed. */
int um_pipeline_run(const um_pipeline_job *job, um_pipeline_result *result, um_error *err);

/* The output checks on their own (used before any work starts): the target's
 * folder exists, the target is not the input, and it does not exist unless
 * overwrite. */
int um_pipeline_check_output(const char *input, const char *output, int overwrite, um_error *err);

/* ---- detection over a whole file ----------------------------------------- */
typedef struct {
    const char *input;
    um_media_options media;
    um_detect_options detect;
    const um_detect_template *templates;
    int nb_templates;
    um_progress_fn progress;
    void *progress_opaque;
    volatile int *cancel;
} um_pipeline_detect_job;

/* Decodes the input once and runs the detector over every frame. On success
 * *detector holds the results (free with um_detect_free), *times (if not
 * NULL) each frame's time in seconds (free with free()), and *info (if not
 * NULL) what the input is. */
int um_pipeline_detect(const um_pipeline_detect_job *job, um_detector **detector, double **times,
                       um_media_info *info, um_error *err);

/* The matte pass on its own, after um_pipeline_detect (detect
 * --save-template): decodes the input again and fits the matte of each of
 * det's spots. *mattes gets one per spot (NULL where the mark shows clearly
 * in too few frames); free each with um_matte_free, then the array. */
int um_pipeline_fit_spot_mattes(const um_pipeline_detect_job *job, const um_detector *det,
                                um_matte ***mattes, um_error *err);

#ifdef __cplusplus
}
#endif
#endif
