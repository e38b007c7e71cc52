/*
 * unmark — kernels: pure pixel algorithms on (pointer, stride, width, height,
 * params). No FFmpeg, no frames, no allocation in the per-frame calls.
 *
 * Inpainting (Telea, "An Image Inpainting Technique Based on the Fast
 * Marching Method", 2004) is split in two: a plan, built once per mask, holds
 * the fast-marching order and the geometric weights, which depend on the mask
 * alone; applying the plan to a plane is then a cheap pass that costs
 * pixels x neighbours, the same for every frame of a video.
 */
#ifndef UNMARK_KERNELS_H
#define UNMARK_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct um_inpaint_plan um_inpaint_plan;

/*
 * Builds the plan for filling every pixel where mask != 0 (mask is w x h
 * bytes, mask_stride apart; w * h < 2^31) from the known pixels around it,
 * looking up to radius pixels away (held to 1 .. 255). Returns NULL only
 * when the mask selects nothing; the apply and free calls accept that NULL
 * and do nothing. Pixels of the mask touching the plane's border are filled
 * too, and nothing outside the plane is ever read. A mask covering the whole
 * plane leaves nothing to extend: its plan fills mid-grey, 128 for 8-bit and
 * (max_value + 1) / 2 for 16-bit planes.
 *
 * Each pixel's value is Telea's first-order estimate from the pixels known
 * when it is filled, with OpenCV's weights, except that the gradient in it
 * is the mean over the neighbourhood rather than the one at each neighbour:
 * ramps are still continued exactly, and noise on large marks no longer
 * builds up (see src/kernels/inpaint_telea.c). Builds in time and transient
 * memory about the mask's bounding box; the plan itself holds, per masked
 * pixel, its position and typically pi radius^2 / 2 to pi radius^2 taps of
 * 8 bytes (57 at radius 5).
 */
um_inpaint_plan *um_kernel_inpaint_plan(const uint8_t *mask, ptrdiff_t mask_stride, int w, int h,
                                        int radius);
void um_kernel_inpaint_plan_free(um_inpaint_plan *plan);
/* Number of pixels the plan fills. */
size_t um_kernel_inpaint_plan_size(const um_inpaint_plan *plan);

/*
 * Fills the masked pixels of an 8-bit plane of the plan's size, in place. The
 * stride need not match the mask's. Only masked pixels are written, and
 * their previous contents are never read. Allocates nothing: this is the
 * per-frame call.
 */
void um_kernel_inpaint_u8(const um_inpaint_plan *plan, uint8_t *plane, ptrdiff_t stride);
/* Same for 9..16-bit native-endian samples (stride in bytes, even); results
 * clamp to max_value, the largest valid sample ((1 << depth) - 1). */
void um_kernel_inpaint_u16(const um_inpaint_plan *plan, uint16_t *plane, ptrdiff_t stride,
                           int max_value);

/*
 * Subsamples a luma-sized mask (w x h) to a chroma plane's grid: a chroma
 * sample is masked when any luma pixel it covers is, and takes the largest
 * of their values. out is ceil(w / 2^log2_w) x ceil(h / 2^log2_h) bytes,
 * out_stride apart.
 */
void um_kernel_mask_subsample(const uint8_t *mask, ptrdiff_t mask_stride, int w, int h, int log2_w,
                              int log2_h, uint8_t *out, ptrdiff_t out_stride);

/* Grows a mask by r pixels (square neighbourhood), from src into dst; both
 * w x h; dst may be src itself (same stride). Each output is the largest value within r, so a
 * binary mask keeps its value and r <= 0 copies. Costs the same for any r.
 * Used to cover a mark's soft edge; allocates a scratch line. */
void um_kernel_mask_dilate(const uint8_t *src, ptrdiff_t src_stride, int w, int h, int r,
                           uint8_t *dst, ptrdiff_t dst_stride);

/* Marks (sets to 1) every unmasked pixel of a w x h mask that no path of
 * unmasked pixels (4-connected) links to the mask's border: the holes a
 * detected shape leaves where the picture under the mark happened to look
 * like the mark. Allocates a queue of w x h positions. */
void um_kernel_mask_fill_holes(uint8_t *mask, ptrdiff_t stride, int w, int h);

/* ---- reverse blending ------------------------------------------------- */

/* Below this opacity the mark changes a sample by less than a tenth of a
 * level: unblending leaves such a sample as it is (so the area around the
 * strokes stays bit-exact), and what follows the restoration (the temporal
 * filter, the stabiliser's untouched surroundings) counts it as untouched. */
#define UM_KERNEL_MIN_ALPHA (0.1f / 255.0f)

/*
 * Takes a mark of colour `colour` and opacity alpha (w x h floats in 0..1,
 * a_stride floats apart) out of w x h samples of one plane, in place:
 * I = (J - a W) / (1 - a), then smoothed by a 3x3 bilateral filter whose
 * range is the noise the inversion amplified (noise / (1 - a), noise being
 * the input's own noise in sample units; 0: no smoothing), rounded and
 * clamped. Samples whose opacity is below a tenth of a level's effect or
 * above a_max are left as they are (the caller fills the latter: inverting
 * them would amplify noise too much). colour is in the plane's own units
 * (0..255 for 8-bit); colour_map, when not NULL, gives W per sample
 * instead (laid out as alpha), for a mark whose colour varies: a drop
 * shadow under white strokes. scratch: um_kernel_unblend_scratch(w, h)
 * bytes.
 */
size_t um_kernel_unblend_scratch(int w, int h);
void um_kernel_unblend_u8(uint8_t *plane, ptrdiff_t stride, const float *alpha, ptrdiff_t a_stride,
                          int w, int h, float colour, const float *colour_map, float a_max, float noise,
                          void *scratch);
/* Same for 9..16-bit native-endian samples (stride in bytes). */
void um_kernel_unblend_u16(uint16_t *plane, ptrdiff_t stride, const float *alpha, ptrdiff_t a_stride,
                           int w, int h, float colour, const float *colour_map, float a_max, float noise,
                           int max_value, void *scratch);

/* ---- keeping a restored area steady in time (float planes, dense) ---- */

/*
 * The translation (dx, dy) that best maps prev onto cur, prev(x + dx,
 * y + dy) ~ cur(x, y), to a fraction of a sample: the integer shift, within
 * radius of (guess_x, guess_y) and at most reach either way, whose
 * difference varies least over the samples at least reach from the border
 * where use (w x h, or NULL for all) is nonzero, refined by a parabola
 * through its neighbours and then, where the picture has texture, by
 * Gauss-Newton steps on the difference read through a Lanczos window.
 * The pictures are matched on their texture (less their local mean): a
 * change of light, even or from one side, is not motion. The guess
 * (rounded to whole samples) unless a shift matches clearly better: a
 * picture with little texture cannot tell, and the camera keeps the motion
 * it had.
 * Returns the variance of the plain difference at the integer shift, so
 * it holds what the sub-sample rest of the motion leaves too (measured at
 * the refined shift instead, p1 lost 0.45 dB in the box: the stabiliser
 * takes it as drift, which keeps its merging cautious); infinite when too
 * few samples count (then the shift means nothing).
 */
float um_kernel_shift_estimate(const float *cur, const float *prev, const uint8_t *use, int w, int h,
                               float guess_x, float guess_y, int radius, int reach, float *dx,
                               float *dy);

/*
 * What is left of cur once prev (same size, w x h) is moved by (dx, dy)
 * samples, read through the Lanczos window: the variance of the difference
 * (less its mean, a change of brightness) over the samples where use
 * (NULL: all) is nonzero and the window fits, on every other row and
 * column. Infinite when too few samples count.
 */
float um_kernel_shift_residual(const float *cur, const float *prev, const uint8_t *use, int w, int h, float dx,
                               float dy);

/* The part of a restored area a mark covers: its opacity (aw x ah
 * samples, a_stride floats a row) placed at (ax, ay) of the area, its
 * colour there (colour_map, the same layout, or colour where NULL), and
 * the opacity above which the restoration filled samples instead of
 * inverting them. ring: the area's ring mask from um_kernel_temporal_ring,
 * when the caller keeps one (NULL: each step builds it). */
typedef struct {
    const float *alpha, *colour_map;
    ptrdiff_t a_stride;
    int ax, ay, aw, ah;
    float colour, a_max;
    const float *ring;
} um_kernel_mark;

/*
 * The untouched samples of a restored area (w x h) that the temporal
 * filter merges too: 1 where the mark leaves a sample alone (opacity
 * below UM_KERNEL_MIN_ALPHA) but covers one within a few samples, else 0;
 * w x h floats, to free. It depends only on the mark and the area, so a
 * caller that filters the same area frame after frame builds it once and
 * hands it over in um_kernel_mark.ring.
 */
float *um_kernel_temporal_ring(const um_kernel_mark *mark, int w, int h);

/*
 * One step of a per-sample Kalman filter over a restored area (w x h
 * samples of one plane): each sample the restoration changed (the mark's
 * opacity a not ~0), and each untouched one within a few samples of those
 * (the first encode left more noise beside the mark), is merged with prev
 * (the last result) read at (x + dx, y + dy), weighted by their variances:
 * the sample's is the coding noise (noise, in sample units), amplified by
 * 1 / (1 - a), plus what the matte's own error makes of it (more the
 * further the sample is from the mark's colour), or a guess's where
 * a > a_max (it was filled); the prediction's is prev_var's plus drift,
 * plus what it misses of the untouched samples nearby beyond drift and
 * their coding noise (something moving on its own beside the mark), plus
 * what the motion's own error makes it miss on sharp texture (fitted on
 * the untouched samples).
 * The prediction takes on the change of brightness the samples left alone
 * show (exposure, a fade), as a gain and an offset, so the area does not
 * lag behind the picture.
 * A disagreement beyond four deviations keeps the sample as it is, and
 * when the inverted samples disagree with their predictions far more than
 * their variances explain on average (the motion is wrong here), nothing
 * is merged. var gets every sample's variance after the step (for the
 * next). prev NULL: the first frame, nothing to merge. Returns 1 when
 * merged, 0 when not.
 */
int um_kernel_temporal_filter(float *cur, float *var, const float *prev, const float *prev_var, int w, int h,
                              float dx, float dy, const um_kernel_mark *mark, float noise, float drift);
/*
 * The same step for samples that are not fresh measurements but estimates
 * with a variance of their own, var on entry (a result of earlier merging,
 * as when the results of a forward and a backward pass over the frames
 * are combined); var is updated in place. Such variances shrink with every
 * frame merged, yet two estimates still differ by how each was resampled
 * along the motion: a disagreement is judged against their variances plus
 * 4 noise^2 (2 noise levels), both for the three deviations and for the
 * check that the motion holds.
 */
int um_kernel_temporal_merge(float *cur, float *var, const float *prev, const float *prev_var, int w, int h,
                             float dx, float dy, const um_kernel_mark *mark, float noise, float drift);

/* ---- detection kernels ------------------------------------------------ */

/* Averages factor x factor blocks of an 8-bit plane into dst
 * (floor(w / factor) x floor(h / factor)). */
void um_kernel_downscale_u8(const uint8_t *src, ptrdiff_t src_stride, int w, int h, int factor,
                            uint8_t *dst, ptrdiff_t dst_stride);
/* Same from 9..16-bit samples (stride in bytes), scaled to 8 bits. */
void um_kernel_downscale_u16(const uint16_t *src, ptrdiff_t src_stride, int w, int h, int depth,
                             int factor, uint8_t *dst, ptrdiff_t dst_stride);
/* A chroma plane (cw x ch samples, subsampled by log2_w, log2_h; 8-bit,
 * or 9..16-bit with stride in bytes) onto the grid of a luma plane
 * averaged by factor (dw x dh): each cell the mean of the chroma samples
 * covering the same picture, in 8 bits. */
void um_kernel_chroma_to_grid(const uint8_t *src, ptrdiff_t src_stride, int depth, int log2_w, int log2_h,
                              int cw, int ch, int factor, int dw, int dh, uint8_t *dst, ptrdiff_t dst_stride);

/* A gradient field (gx, gy, w x h, stride elements apart) at half
 * resolution: each 2 x 2 block averaged, into floor(w / 2) x floor(h / 2)
 * at out_stride. Averaging the gradients, not differentiating a halved
 * picture, keeps a template and a frame halved alike comparable however
 * each was made. */
void um_kernel_halve_gradients(const int16_t *gx, const int16_t *gy, ptrdiff_t stride, int w, int h,
                               int16_t *out_gx, int16_t *out_gy, ptrdiff_t out_stride);

/* 3x3 Sobel gradients of an 8-bit plane, signed (range +-1020); the
 * one-pixel border gets 0. gx and gy are w x h, g_stride elements apart. */
void um_kernel_sobel(const uint8_t *src, ptrdiff_t src_stride, int w, int h, int16_t *gx,
                     int16_t *gy, ptrdiff_t g_stride);
/* A gradient field's directions (w x h, stride apart, into dx, dy alike):
 * g * UM_KERNEL_DIRECTION_UNIT / max(|g|, floor), so that every edge counts
 * alike, however strong, and gradients under floor (noise) stay small.
 * Correlated with a template, a faint mark is then not drowned by a strong
 * edge crossing it. */
#define UM_KERNEL_DIRECTION_UNIT 256
void um_kernel_gradient_directions(const int16_t *gx, const int16_t *gy, ptrdiff_t stride, int w, int h,
                                   int floor, int16_t *dx, int16_t *dy);

/* Per-element median of n arrays (n <= 64) of count values each, into out.
 * With an even n, the lower of the two middle values. */
void um_kernel_median_stack(const int16_t *const *stack, int n, size_t count, int16_t *out);
/* Same, but only where the median can exceed floor_abs in magnitude; 0
 * elsewhere. Much faster when most elements are small. scratch: count bytes. */
void um_kernel_median_stack_where(const int16_t *const *stack, int n, size_t count, int16_t floor_abs,
                                  uint8_t *scratch, int16_t *out);

/*
 * Normalised cross-correlation of two gradient fields over the pixels where
 * weight != 0: sum(t.f) / sqrt(sum|t|^2 sum|f|^2), in -1..1 (0 when either is
 * flat). t and f point at the top-left sample of w x h windows.
 */
double um_kernel_gradient_ncc(const int16_t *tgx, const int16_t *tgy, ptrdiff_t t_stride,
                              const uint8_t *weight, ptrdiff_t w_stride, const int16_t *fgx,
                              const int16_t *fgy, ptrdiff_t f_stride, int w, int h);

/* The sums behind it, sum(t.f), sum|t|^2 and sum|f|^2 (each over 16), so
 * that several planes can be correlated as one field. */
typedef struct {
    double tf, tt, ff;
} um_ncc_sums;
um_ncc_sums um_kernel_gradient_ncc_sums(const int16_t *tgx, const int16_t *tgy, ptrdiff_t t_stride,
                                        const uint8_t *weight, ptrdiff_t w_stride, const int16_t *fgx,
                                        const int16_t *fgy, ptrdiff_t f_stride, int w, int h);

#ifdef __cplusplus
}
#endif
#endif
