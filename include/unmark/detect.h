/*
 * unmark — detect: finds a visible watermark in a video by learning it from
 * the video itself, with no model to download.
 *
 * A watermark is an overlay whose look stays put while the picture under it
 * moves (after Dekel et al., "On the Effectiveness of Visible Watermarks",
 * CVPR 2017, adapted to video). The detector watches the luma of every frame
 * once, in display order:
 *   1. over sliding windows of sampled frames, the per-pixel temporal median
 *      of the signed gradients keeps what stays still: the mark's edges;
 *      components with gradients in many directions (text, logos — not a
 *      static background edge) become candidates, and candidates that recur
 *      at one place become a "spot" with a gradient template;
 *   2. every frame is then scored against every spot's template (normalised
 *      cross-correlation of gradients, at several scales, near the spot);
 *   3. per spot, the scores become runs of presence (hysteresis, gaps
 *      filled, short blips dropped except at the clip's ends), so that no
 *      frame where the mark shows is left without a box.
 * Memory: a ring of recent frames at detection resolution, whatever the
 * video's length, plus a few bytes a frame for the scores.
 */
#ifndef UNMARK_DETECT_H
#define UNMARK_DETECT_H

#include <stddef.h>
#include <stdint.h>

#include "unmark/common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define UM_DETECT_MAX_SCALES 8

typedef struct {
    double scales[UM_DETECT_MAX_SCALES]; /* template scales tried; default 1.0, 0.8, 1.2 */
    int nb_scales;
    double max_area;          /* largest box, as a fraction of the frame; default 0.10 */
    int64_t memory_limit;     /* bytes the detector may use; 0: from the machine */
    int extend_back;          /* frames a run may grow backwards at a jump; default 9 */
    double extend_ahead;      /* seconds a run may grow forwards at a jump; default 1.5 */
    int max_gap;              /* frames of missed detection filled inside a run; default 5 */
    double jump_threshold;    /* a move farther than this fraction of the frame
                                 diagonal is a jump to another spot; default 0.15 */
    int single_picture;       /* the input is one picture (the pipeline sets it): a
                                 given template is then also matched by the
                                 directions of its edges, so that a faint mark
                                 crossed by a strong edge is found; default 0 */
} um_detect_options;

void um_detect_options_init(um_detect_options *o);
/* Parses "1.0,0.8,1.2" into o->scales. UM_ERR_USAGE when malformed. */
int um_detect_parse_scales(const char *text, um_detect_options *o, um_error *err);

typedef struct um_detector um_detector;

/* width x height frames at fps (for the time-based defaults). */
int um_detect_create(um_detector **det, int width, int height, double fps,
                     const um_detect_options *o, um_error *err);
/* A mark to look for, given rather than learnt (detect --save-template):
 * its alpha matte at frame resolution (0..255) and colour (luma). */
typedef struct {
    int width, height;
    const uint8_t *alpha;
    ptrdiff_t stride;
    double colour;
} um_detect_template;

/* Adds a template, before the first frame: the whole frame is searched for
 * it every half second, at every scale, and each place it is found becomes
 * a spot. This finds a mark in a single picture too. */
int um_detect_add_template(um_detector *det, const um_detect_template *t, um_error *err);

/* Feeds the next frame in display order (only its luma plane is read). */
int um_detect_push(um_detector *det, const um_frame *frame, um_error *err);
/* While frames are still coming: the spots found so far, in the order they
 * were found (a spot keeps its place), so that a caller can keep what is
 * around them of frames it will not see again. box: where the spot could
 * put a box (frame pixels, every scale and offset the search tries);
 * steady: the mark has clearly been missing from few of the frames scored
 * so far (it may never leave). Fills up to cap and returns how many. */
typedef struct {
    um_box box;
    int steady;
} um_detect_live;

int um_detect_live_spots(const um_detector *det, um_detect_live *spots, int cap);
/* The most frames a mark can show at a new place before the detector finds
 * it there (a caller keeping frames for it keeps this many back). */
int um_detect_learning_frames(const um_detector *det);
/* After the last frame: scores what is still buffered and builds the
 * per-frame boxes. */
int um_detect_finish(um_detector *det, um_error *err);

/* The results, valid after um_detect_finish. */
int64_t um_detect_frame_count(const um_detector *det);
/* Boxes of frame i (display order); returns how many, *boxes points inside
 * the detector. */
int um_detect_frame_boxes(const um_detector *det, int64_t i, const um_box **boxes);

/* Which pixels of box i of frame `frame` the mark touches (the mark's
 * strokes and what they enclose, grown two pixels): *shape points at the
 * box's top-left pixel, rows *stride apart, nonzero = mark. *shape is NULL
 * when only the box is known (fill it all). Valid while det lives. */
int um_detect_box_shape(const um_detector *det, int64_t frame, int i, const uint8_t **shape,
                        ptrdiff_t *stride);

/* Which spot box i of frame `frame` belongs to (an index for
 * um_detect_spot_get), or -1 when there is no such box; *score (if not
 * NULL) is how well the frame matched the spot's template there, 0..1, or
 * NAN for a box the timeline filled in without a match. */
int um_detect_box_spot(const um_detector *det, int64_t frame, int i, double *score);

typedef struct {
    um_box box;           /* where it sits (the union of its frames' boxes) */
    int mark;             /* which mark it is: spots whose templates match share one */
    int64_t frames;       /* frames it is present in */
    double scale;         /* scale the template matched best at */
    int template;         /* the given template it was found as (um_detect_add_template
                           * order), -1 when learnt */
    double template_scale; /* the mark's size against that template's */
} um_detect_spot;

int um_detect_spot_count(const um_detector *det);
const um_detect_spot *um_detect_spot_get(const um_detector *det, int i);
/*
 * A spot's first estimate of the mark's alpha matte and colour (J = a W +
 * (1 - a) I, luma). The matte is on the detection grid: grid x grid frame
 * pixels per sample, covering box's top-left corner onwards. alpha is NULL
 * when there were too few frames to estimate it. The removal issue refines
 * both per video.
 */
typedef struct {
    int width, height;        /* samples */
    int grid;                 /* frame pixels per sample */
    const float *alpha;       /* width x height, 0..1 */
    double colour;            /* W, luma 0..255 */
    um_box box;               /* a placement of the matte, frame pixels */
} um_detect_matte;

int um_detect_spot_matte(const um_detector *det, int i, um_detect_matte *matte);

/* A mark may be learnt only after frames it showed in have gone by: over a
 * still picture once it has hopped (see still.c), and a static mark whose
 * picture moves little may take seconds. Then a second pass over the
 * video, with a detector that starts out knowing the spots, finds it from
 * the first frame. */
int um_detect_wants_second_pass(const um_detector *det);
int um_detect_create_from(um_detector **det, const um_detector *learnt, um_error *err);

/* True when the multi-scale search was turned off to stay under the memory
 * limit (it is logged too). */
int um_detect_single_scale_fallback(const um_detector *det);
void um_detect_free(um_detector **det);

#ifdef __cplusplus
}
#endif
#endif
