/*
 * Private to the remove module: a mark's matte as the fit leaves it and the
 * remover uses it.
 */
#ifndef UNMARK_REMOVE_INTERNAL_H
#define UNMARK_REMOVE_INTERNAL_H

#include "unmark/remove.h"

#define MATTE_MAX_PLANES 3

struct um_matte {
    um_box crop;                    /* frame pixels covered, aligned to the chroma grid */
    um_box mark;                    /* the detected box the matte was fitted at */
    int nb_planes;                  /* colour planes with an alpha below */
    int px[MATTE_MAX_PLANES], py[MATTE_MAX_PLANES]; /* the crop's corner in each plane */
    int pw[MATTE_MAX_PLANES], ph[MATTE_MAX_PLANES]; /* its size in each plane */
    float *alpha[MATTE_MAX_PLANES]; /* opacity per plane sample, 0..1 */
    float colour[MATTE_MAX_PLANES]; /* W per plane, in sample units */
    float *colour_map[MATTE_MAX_PLANES]; /* W per plane sample where it varies (a shadow), else NULL */
    int depth;                      /* bits per sample */
    int is_rgb;                     /* planes are G, B, R */
    int full_range;                 /* YUV spanning 0-255 */
};

/* Placing a known matte (matte_template.c). A template's colours are in
 * 8-bit units; a depth-bit sample is this many of them. */
double um_matte_unit(int depth);
/* The template's W on a picture's planes (is_rgb: G, B, R; else YUV,
 * full_range or not), in units of depth-bit samples. */
void um_template_colours(const um_matte_template *t, int is_rgb, int full_range, int depth, double out[3]);
/* Places template t on n samples of a mark (their plane-0 crops, w x h),
 * whose detected box within the crop is `near`, at first `scale` times the
 * template's size, with W = colour (sample units); writes the placed
 * opacity over the crop to out. */
void um_template_place(const um_matte_template *t, double scale, double colour, const uint16_t *const *luma,
                       int n, int w, int h, um_box near, float *out);

/*
 * The background behind a mark that never leaves its place (background.c):
 * a mosaic of the scene around the mark, each frame registered against the
 * one before by a similarity. um_background_add registers a frame (the
 * first one defines the origin) and adds its pixels around the mark: 1 and
 * the frame's pose, or 0 when it does not register (nothing added; the
 * chain of poses is broken from there on). um_background_lookup fills out (crop's size on plane p's grid)
 * with the scene at a frame position, UM_BACKGROUND_UNKNOWN where it was
 * never seen, and returns how many samples it knows.
 */
#define UM_BACKGROUND_UNKNOWN 0xFFFF
typedef struct um_background um_background;
/* Where a frame lies in the mosaic: luma pixel (x, y) shows the scene at
 * (a x - b y + tx, b x + a y + ty) (a similarity: the camera pans, zooms
 * and turns a little). */
typedef struct {
    float a, b, tx, ty;
} um_background_pose;

/* A mark at box in width x height frames; layout gives the planes. The
 * frames added may be crops (um_frame x0, y0) that cover what
 * um_background_reads says: the box's surroundings. */
um_box um_background_reads(um_box box, int width, int height);
um_background *um_background_new(um_box box, int width, int height, const um_frame *layout);
int um_background_add(um_background *bg, const um_frame *frame, um_background_pose *pose);
int um_background_lookup(const um_background *bg, int p, const um_background_pose *pose, um_box crop,
                         uint16_t *out);
void um_background_free(um_background **bg);

/*
 * Keeps restored areas steady in time (stabilise.c): after a frame's marks
 * are restored and their residue filled, um_stabiliser_run merges matte m's
 * area with its result on the frame before, moved by the picture's motion,
 * and keeps this frame's result for the next. a_max and noise are the
 * restoration's (the opacity above which samples were filled, the coding
 * noise in sample units). Frames must come in order.
 * um_stabiliser_settle rewrites a frame's restored areas with what the
 * frames after it add (up to UM_REMOVE_LOOKAHEAD of them, those run so
 * far); a frame it no longer keeps is left as it is.
 */
typedef struct um_stabiliser um_stabiliser;

um_stabiliser *um_stabiliser_new(void);
void um_stabiliser_run(um_stabiliser *s, const um_matte *m, um_frame *f, float a_max, float noise);
void um_stabiliser_settle(um_stabiliser *s, um_frame *f);
void um_stabiliser_free(um_stabiliser **s);

/*
 * A drop shadow under a mark (matte_shadow.c): a dark copy of its opacity
 * m, blurred and moved, s = k (G_blur * m)(x - d), laid under it. Fitted
 * from a spot's sums of J - Î = a (Wx - Î) (um_matte_sums, per pixel of
 * the crop, n = 0 where the mark is not) and m fitted with one W:
 * um_shadow_fit returns 1 when a shadow explains the samples clearly
 * better, with its layout and both colours (W's refitted). The sums may
 * reach past the strokes (over the shadow's fringe, which is not the
 * mark's): strokes says where m is fitted. For any spot of the mark,
 * um_shadow_place refits m (in place) with the shadow and gives its layer
 * s; um_shadow_layer gives s from m; um_shadow_compose gives the blend's
 * opacity and colour per pixel.
 */
/* A pixel's sums of (1) over its samples, d = J - Î: of 1, Î, Î^2, d,
 * d Î and d^2 (weighted, where the fit weighs them). */
typedef struct {
    double n, i, ii, d, di, dd;
} um_matte_sums;

typedef struct {
    int w, h;
    const um_matte_sums *sums;
    const uint8_t *strokes; /* where m may be nonzero; NULL: wherever there are sums */
} um_shadow_spot;

typedef struct {
    double strength;     /* k */
    double blur;         /* the Gaussian's sigma, pixels */
    int dx, dy;          /* where the shadow lies from the mark, pixels */
    double colour, dark; /* W and the shadow's colour K, sample units */
} um_shadow;

int um_shadow_fit(const um_shadow_spot *spot, const float *mark, double colour, int max_value, um_shadow *out);
void um_shadow_place(const um_shadow *s, const um_shadow_spot *spot, float *mark, float *layer);
void um_shadow_layer(const um_shadow *s, const float *mark, int w, int h, float *layer);
void um_shadow_compose(const um_shadow *s, const float *mark, const float *layer, size_t n, float *alpha,
                       float *colour);

#endif
