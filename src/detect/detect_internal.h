/*
 * Private to the detect module: the detector's state, shared by the window
 * analysis (spots.c), the per-frame scoring (detector.c) and the timeline
 * (timeline.c).
 */
#ifndef UNMARK_DETECT_INTERNAL_H
#define UNMARK_DETECT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "unmark/detect.h"

#define DET_MAX_SPOTS 16
#define DET_SAMPLES 16         /* gradient samples in a window */
#define DET_MIN_SAMPLES 8      /* fewest samples a window is analysed with */
/* In a single picture a given template (remove --template) is matched
 * against the frame's gradient directions too (um_kernel_gradient_directions,
 * see detector.c and seeds.c): the user says the mark is there, and a faint
 * mark over a bright sky must not be drowned by a strong edge crossing it.
 * Gradients under this (Sobel units: a step of about 4 levels) are taken
 * for noise. */
#define DET_DIRECTION_FLOOR 16
#define DET_SEARCH 3           /* +- detection pixels searched around a spot */
/* Summed over frames that show a mark, its edges keep their direction and a
 * moving picture's do not: a sample is steady where its mean gradient is at
 * least this share of its mean magnitude. */
#define DET_MIN_STEADINESS 0.6f
#define DET_MAX_SEEDS 4

/* A spot's chroma edges (chroma.c). */
typedef struct det_chroma det_chroma;

/* One scale of a spot's template, resampled from the base template. */
typedef struct {
    int w, h;
    int16_t *gx, *gy;
    uint8_t *support;
} det_scaled;

/* The mark's shape at frame resolution for one scale: w x h from the
 * unclipped box's top-left corner (see shape.c). */
typedef struct {
    int w, h;
    uint8_t *mask;
} det_shape;

/* A place where a mark was seen: its gradient template and, per frame, how
 * well the frame matches it. */
typedef struct {
    int x, y, w, h;              /* template window, detection grid */
    int fx1, fy1, fx2, fy2;      /* the first sighting's box, exclusive */
    float *acc_gx, *acc_gy;      /* sums of the window medians seen here */
    int nacc;
    int16_t *tgx, *tgy;          /* template = acc / nacc */
    uint8_t *support;            /* template pixels that carry the mark */
    int tx1, ty1, tx2, ty2;      /* bbox of the support, detection grid, exclusive */
    det_scaled scaled[UM_DETECT_MAX_SCALES];
    int template_dirty;
    /* Frame gradients summed over frames that clearly show the mark: the
     * moving picture averages out, the mark stays; its box comes from here. */
    float *ev_gx, *ev_gy, *ev_abs;
    int ev_n;
    /* Luma statistics over the window: where the mark shows (j) and where
     * it clearly does not (i); and the matte estimated from them, over the
     * box (tx1..ty2), with the mark's luma. */
    double *sum_j, *sum_jj, *sum_i, *sum_ii;
    int n_j, n_i;
    float *alpha;
    double colour;
    uint8_t *shape;              /* w x h: where the mark can be (from evidence) */
    det_shape shapes[UM_DETECT_MAX_SCALES];
    float *score;                /* per frame; NAN where not scored */
    int8_t *scale_idx;           /* per frame: best scale */
    int8_t *off_x, *off_y;       /* per frame: best offset, detection pixels */
    uint8_t *by_chroma;          /* per frame: 1 where the score is the chroma's */
    int64_t cap;
    int64_t present_frames;
    int mark;
    int discarded;
    int from_still;              /* learnt over a still picture: its box is the template's */
    int given;                   /* found as given template `given` (-1: learnt) ... */
    double given_scale;          /* ... at this size against it */
    int64_t born;                /* frames pushed when it was found */
    int64_t scored, missed;      /* frames scored against it, and clearly missed */
    det_chroma *chroma;          /* NULL until the frames' chroma is summed */
} det_spot;

struct um_detector {
    int width, height;
    double fps;
    um_detect_options o;
    int factor;                  /* detection grid = frame / factor */
    int dw, dh;
    int single_scale;            /* multi-scale dropped for memory */
    /* recent frames at detection resolution, scored when they leave */
    uint8_t **ring;
    int ring_cap;
    /* the same frames' two chroma planes on the detection grid: NULL
     * without chroma (a grey picture), or until the first frame */
    uint8_t **ring_chroma[2];
    int16_t *cgx[2], *cgy[2];    /* their gradients around a spot */
    size_t cg_cap;
    int64_t frames;              /* pushed so far */
    int64_t scored;              /* frames scored so far (all below this index) */
    /* gradient samples for the temporal median */
    int16_t **sgx, **sgy;
    int nsamples;                /* filled, up to DET_SAMPLES */
    int sample_head;             /* next slot */
    int sample_step;             /* a sample every this many frames */
    int window_stride;           /* analyse after this many new samples */
    int since_window;
    /* scratch, detection grid */
    int16_t *mgx, *mgy;          /* window medians */
    uint8_t *bin, *dil;
    int32_t *labels, *stack;
    void *components;            /* spots.c's scratch for a window's components */
    int16_t *fgx, *fgy;          /* a frame's gradients around a spot */
    int16_t *fdx, *fdy;          /* and their directions, for a given template's spot */
    size_t fg_cap;
    det_spot spots[DET_MAX_SPOTS];
    int nb_spots;
    int finished;
    int finishing;               /* the last window, in um_detect_finish */
    /* results */
    um_box *boxes;
    int64_t *box_first;          /* frames + 1 offsets into boxes */
    int8_t *box_spot;            /* per box: its spot */
    int8_t *box_scale;           /* per box: the scale it matched at */
    int32_t *box_dx, *box_dy;    /* per box: its clipped corner inside the unclipped one */
    /* templates given from outside, per scale, searched every
     * seed_interval frames over the whole frame */
    det_scaled seeds[DET_MAX_SEEDS][UM_DETECT_MAX_SCALES];
    det_scaled seeds_half[DET_MAX_SEEDS][UM_DETECT_MAX_SCALES]; /* the same halved, for the coarse search */
    int seed_given[DET_MAX_SEEDS];   /* the given template a seed is, -1: a learnt spot's */
    int nb_seeds, nb_given;
    int seed_interval;
    int16_t *full_gx, *full_gy;
    int16_t *full_dx, *full_dy;  /* the same as directions, for given templates */
    int16_t *half_gx, *half_gy, *half_dx, *half_dy; /* the frame's fields halved */
    uint8_t *searched_luma;      /* the frame the seeds were last searched in, NULL before */
    /* still pictures (still.c): long-term luma samples and, in a still
     * window, the window's median minus the background */
    uint8_t **long_ring;
    int long_head, long_count;
    int16_t *diff;
    int still_window;
    um_detect_spot public_spots[DET_MAX_SPOTS];
    int public_index[DET_MAX_SPOTS];   /* public spot -> spots[] */
    int nb_public;
};

/* Where a w x h window with its corner at x, y (detection grid) is
 * searched: a crop of the grid holding the window moved by up to
 * DET_SEARCH, with the one-sample border the gradients lose, moved inside
 * the grid at its edges. 0 when the grid is too small to hold it. */
typedef struct {
    int x0, y0, w, h;
} det_crop;
int det_search_crop(const um_detector *d, int x, int y, int w, int h, det_crop *c);
/* timeline.c: b (frame pixels) cut to the frame. */
um_box det_clip_box(const um_detector *d, um_box b);
/* spots.c: finds the still, many-directional structures of the current
 * sample window and files them under spots. */
void det_analyze_window(um_detector *d, int nsamples);
void det_spot_rebuild_template(um_detector *d, det_spot *s);
/* The area boxes a and b share over the smaller one's: 0 when they do not
 * overlap, 1 when one holds the other. */
double det_overlap_of_smaller(um_box a, um_box b);
/* Where spot s's template, cut to its box, matches the gradient field gx,
 * gy (stride apart) best with the box's corner at x0..x1, y0..y1: that
 * correlation (-1 when there is no such place), the corner in *bx, *by. */
double det_match_box(const det_spot *s, const int16_t *gx, const int16_t *gy, ptrdiff_t stride, int x0,
                     int y0, int x1, int y1, int *bx, int *by);
void det_spot_free(det_spot *s);
void det_scaled_free(det_scaled *t);
void det_spot_reserve(det_spot *s, int64_t frames);
/* Adds a frame's gradients (a w x h window of the spot, stride apart). */
void det_spot_add_evidence(det_spot *s, const int16_t *gx, const int16_t *gy, ptrdiff_t stride);
/* Sets the spot's box (tx1..ty2) from its evidence, when it has enough. */
void det_spot_box_from_evidence(um_detector *d, det_spot *s);
void det_resample(const int16_t *gx, const int16_t *gy, const uint8_t *support, int w, int h,
                  double scale, det_scaled *t);
int det_scales_in_use(const um_detector *d);
/* A spot whose first sighting is the box x1,y1-x2,y2 (detection grid). */
det_spot *det_spot_new_at(um_detector *d, int x1, int y1, int x2, int y2);
/* Same, with the template window given rather than grown around the box. */
det_spot *det_spot_new_window(um_detector *d, int x1, int y1, int x2, int y2, int wx, int wy, int ww,
                              int wh);
/* seeds.c: given templates, searched for over whole frames. */
void det_search_seeds(um_detector *d, const uint8_t *luma);
/* A template to search for, as gradients over w x h (detection grid);
 * given: which given template it is (-1: a learnt spot's). */
void det_add_seed(um_detector *d, const int16_t *gx, const int16_t *gy, const uint8_t *support, int w,
                  int h, int given);
void det_seeds_free(um_detector *d);
/* still.c: the background of a still picture, and a still window's
 * difference from it (into diff, bin, mgx, mgy). -1 until enough samples. */
void det_keep_background_sample(um_detector *d, const uint8_t *luma);
int det_background_step(const um_detector *d);
int det_still_differences(um_detector *d, int nsamples);
/* A second pass over a clip whose whole length the first pass's background
 * samples span (at most 12 s) starts out with them: over a short still
 * clip it would otherwise have no background for its first 6 s, and find
 * no mark that showed only then. */
void det_still_inherit(um_detector *d, const um_detector *from);
void det_still_free(um_detector *d);
/* matte.c: the statistics of a sighting (present: dx, dy is where the mark
 * matched) and the matte and colour from them. */
void det_spot_add_sighting(um_detector *d, det_spot *s, const uint8_t *luma, int present, int dx,
                           int dy);
void det_spot_estimate_matte(um_detector *d, det_spot *s);
/* shape.c: the spot's shapes at frame resolution, per scale. */
void det_build_shapes(um_detector *d, det_spot *s);
void det_shapes_free(det_spot *s);
/* chroma.c: the frame's chroma into ring slot `slot`; a spot learning its
 * chroma edges from ring frame t (clear: its luma matched there, at dx,
 * dy; each frame is looked at once); and t's chroma correlation with them,
 * 0 until they hold a coloured mark's (the best offset in *dx, *dy). */
void det_chroma_keep(um_detector *d, const um_frame *f, int slot);
void det_chroma_learn(um_detector *d, det_spot *s, int64_t t, int clear, int dx, int dy);
double det_chroma_score(um_detector *d, const det_spot *s, int64_t t, int *dx, int *dy);
/* A second pass's spot starts with what the first pass's learnt. */
void det_chroma_copy(det_spot *to, const det_spot *from);
void det_chroma_free(det_spot *s);
/* timeline.c: per-frame boxes from the spots' scores. */
void det_build_timeline(um_detector *d);

#endif
