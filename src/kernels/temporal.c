/*
 * unmark — kernels: keeping a restored area steady from frame to frame.
 *
 * Inverting a blend multiplies the coding noise of each frame by
 * 1 / (1 - a), and each frame's noise is different: restored strokes
 * shimmer even when the picture under them stands still. The picture
 * itself changes little from one frame to the next once the camera's
 * motion is followed, so each restored sample is a noisy measurement of
 * something that was also measured, through other noise, one frame
 * before. A per-sample Kalman filter weighs the two by their variances:
 *   - the measurement's: the amplified coding noise (large where the mark
 *     is opaque, larger still where the sample was filled, not inverted),
 *     and the matte's own error;
 *   - the prediction's: the variance the filter already holds for the
 *     sample a frame ago, plus the drift the motion model misses (measured
 *     on the untouched pixels around the mark: over the whole area, more
 *     where they show something moving on its own nearby, and more on
 *     sharp texture, which a motion off by a fraction of a sample misses).
 * The untouched samples just beside the mark are merged too: the first
 * encode left more noise there, spending its bits on the mark's edges.
 * The prediction also takes on the picture's change of brightness, as the
 * untouched samples around the mark show it.
 * Where the two disagree by more than their variances explain (something
 * moved on its own, the scene cut), the prediction is dropped and the
 * sample starts afresh, so nothing is dragged along.
 *
 * The prediction is read from the last result through a Lanczos-3
 * window, which keeps texture sharp over many frames where a bilinear read
 * would blur it a little at every step. A Catmull-Rom cubic still blurs
 * fine texture: against it, on the benchmark (lossless, in the box), p4's
 * rock under a static mark gained 0.19 dB and p2's pan 0.12 dB, the others
 * within 0.05 dB.
 */
#include "unmark/kernels.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "unmark/common.h"

/* A filled sample (opacity above a_max) is a guess: its variance in
 * noise units squared (a deviation of 6 noise levels). */
#define FILLED_VARIANCE 36.0f
/* The matte's own error, in opacity: the fit leaves its opacity off by
 * about this much (0.015 rms on the plate of a bug over a smooth painting,
 * g3). Counted in a restored sample's variance, samples far from the
 * mark's colour (g3's colour planes, dark pictures under a white mark)
 * merge instead of being let go, and lean more on the prediction. On the
 * benchmark (box, as encoded): g3 45.35 -> 46.17 dB, h3 +0.44, h7 +0.43,
 * h6 +0.29, p1 +0.19, h4 +0.16, p5 +0.12, the others within 0.07; p3
 * -0.23, where a bird moving under the mark makes the prediction it leans
 * on wrong on some frames. At 0.005 both halve; 0.02 gains no more on g3. */
#define MATTE_ERROR 0.01f
/* Disagreements beyond this many deviations are real changes. Not 3:
 * the deviation counts the coding noise and MATTE_ERROR's typical share
 * of the matte's error, not where it is worse (thin strokes, edges: see
 * MAX_SCORE), so 3 of them reset samples that only carried that error.
 * Lossless in the box, 4 against 3 (measured before MATTE_ERROR was
 * counted): p1 +0.15 dB, p5 +0.23 dB (flicker 1% less), p2 and p4 about
 * even, p3 -0.07 dB; a sample that really changed
 * (test_temporal_merge_weighs_given_variances: 9 deviations) is still let
 * go. */
#define GATE 4.0f
/* The motion is wrong for the mark's area when the inverted samples
 * disagree with their predictions by this many times the variance
 * expected, on average: nothing is merged then. Not 1 or 2: the variance
 * counts the coding noise and a typical matte error, not the matte's
 * worse error on thin strokes, which moves with the picture under it.
 * On p5 of the benchmark (thin text, the camera's motion followed with
 * no drift left) the luma scored 1 to 4, and at 2 the area was let go on
 * 130 of 300 frames (merged there: +0.6 dB in the box, lossless, and 4%
 * less flicker). A wrong motion scores far more. */
#define MAX_SCORE 4.0f
/* The drift is measured over the whole area; something that moves on its
 * own near the mark (a bird, leaves) makes the prediction miss more there.
 * The untouched samples within LOCAL_RADIUS of a restored one show how
 * much more, when at least MIN_LOCAL_SAMPLES of them are there and they
 * miss by more than LOCAL_FACTOR times what the area leaves on average
 * (drift and coding noise): a texture followed to within a fraction of a
 * sample misses by up to about that much at its sharpest spots, where
 * nothing moves on its own. On the benchmark (box, as encoded): p3 (a bird
 * under the mark) 41.48 -> 42.00 dB, flicker 1.52 -> 1.48; the others
 * within 0.04 dB.
 * Counting any excess: p3 42.11 but g3 -0.11, and the synthetic pan of
 * test_remover_settles_with_later_frames 16-20% more error; factor 4: p3
 * 41.92. Measured on the restored samples themselves instead, the matte's
 * error on thin strokes passed for the picture moving: h3 -1.5 dB. */
#define LOCAL_RADIUS 8
#define MIN_LOCAL_SAMPLES 16
#define LOCAL_FACTOR 3.0f
/* The motion is known to a fraction of a sample, and a prediction off by
 * e samples misses by about e times the picture's gradient: more on sharp
 * texture, nothing on flat areas. Each frame, the untouched samples'
 * squared misses are fitted against their squared gradients; the slope
 * (e^2) times a sample's squared gradient is added to its prediction's
 * variance. Fitted on at least this many samples. On the benchmark (box,
 * as encoded): alone, p3 42.00 -> 42.25 dB, g3 -0.17; with the samples
 * beside the mark merged (RING_RADIUS), p3 41.95 where it was 41.60
 * without. */
#define MIN_FIT_SAMPLES 64
/* The motion's error is fitted on every other row and column: neighbouring
 * samples tell much the same. Read at every sample, with its result added
 * over the whole area, add_motion_error took 4.9% of `remove`'s samples on
 * p1 of the benchmark (perf record, --preset ultrafast); fitted this way
 * and added only where samples are merged, 0.6%. */
#define FIT_STEP 2
/* The change of brightness is fitted (on at least MIN_FIT_SAMPLES
 * untouched samples) as a gain and an offset where the untouched samples'
 * predictions spread by more than this many times the
 * coding noise's variance (a flat area gives a gain no footing: an offset
 * only there), the gain within 1 / MAX_GAIN .. MAX_GAIN. On p3 of the
 * benchmark (a real clip, its exposure drifting), the clean picture under
 * the mark changed by about half what it changed around it from frame to
 * frame (frame 2: +0.66 levels against +1.50; frame 23: -0.60 against
 * -1.62), and an offset alone, the mean change around, made the whole
 * restored area jump by that much more (frame 2: +1.36 levels of error in
 * the change, where a > 0.3; with the gain +0.16). On the benchmark (box,
 * as encoded), against the offset alone: p3 41.95 -> 41.98 dB (flicker
 * 1.557 -> 1.539), g3 46.58 -> 46.69 (1.003 -> 0.997), h4 +0.06 (1.982 ->
 * 1.978), h7 +0.06, p5 +0.04, h3 +0.04, the others within 0.03 but g1
 * -0.11. */
#define MIN_GAIN_SPREAD 10.0
#define MAX_GAIN 1.25
/* The first encode spent its bits on the mark's sharp edges: the picture
 * beside the mark carries more coding noise than elsewhere (g3: untouched
 * samples in the box at 2.4 times the error of the clean clip through the
 * same encodes). Untouched samples within this many of the mark are merged
 * too, as measurements with the plain coding noise. On the benchmark (box,
 * as encoded): g3 46.14 -> 46.58 dB (flicker 1.074 -> 1.003), h6 +0.33,
 * p1 +0.27, p2 +0.21, h5 +0.17, g1 +0.17, p5 +0.14, h7 +0.14, the others
 * within 0.12 but h4 -0.11 and p3 -0.05; flicker lower everywhere but on
 * p3 (1.48 -> 1.56). */
#define RING_RADIUS 8
/* Candidate positions are read on every other row and column: the
 * estimate needs hundreds of samples, not thousands. */
#define SEARCH_STEP 2
#define MIN_SEARCH_SAMPLES 64
/* A shift replaces the guessed motion when it leaves less than this share
 * of the difference the guess leaves; a sub-sample position is sought only where
 * the differences around the best shift rise by this share of it. */
#define MOTION_GAIN 0.85f
/* Texture is what a shift is matched on: the picture less its mean over
 * 9 x 9 samples. */
#define DETAIL_RADIUS 4
#define MIN_CURVATURE 0.2f
/* The sub-sample refinement by gradient: at most this many steps, done
 * when one moves less than STEP_DONE; not tried where the gradients'
 * matrix is this close to singular (its determinant against its trace
 * squared: texture running one way). */
#define GRADIENT_STEPS 6
#define STEP_DONE 0.01
#define MIN_CONDITION 1e-3

/* Taps either side of the sample the Lanczos window is centred on. */
#define LANCZOS_A 3
#define LANCZOS_TAPS (2 * LANCZOS_A)

/* A plane read at every sample moved by the same (dx, dy): the whole
 * shift (ox, oy) and the Lanczos weights of the fraction left, which every
 * sample shares, computed once per merge. */
typedef struct {
    int ox, oy;
    float wx[LANCZOS_TAPS], wy[LANCZOS_TAPS];
} shifted_read;

/* The Lanczos-3 weights of taps -2 .. 3 for a point t in [0, 1) past tap
 * 0, summing to 1 (a flat picture reads flat). */
static void lanczos_weights(float t, float *w)
{
    const float pi = 3.14159265f;
    float sum = 0;
    for (int k = 0; k < LANCZOS_TAPS; k++) {
        float x = (float)(k - LANCZOS_A + 1) - t;
        float px = pi * x;
        w[k] = fabsf(x) < 1e-6f ? 1.0f : LANCZOS_A * sinf(px) * sinf(px / LANCZOS_A) / (px * px);
        sum += w[k];
    }
    for (int k = 0; k < LANCZOS_TAPS; k++)
        w[k] /= sum;
}

static shifted_read shifted_read_of(float dx, float dy)
{
    shifted_read r;
    float fx = floorf(dx), fy = floorf(dy);
    r.ox = (int)fx;
    r.oy = (int)fy;
    lanczos_weights(dx - fx, r.wx);
    lanczos_weights(dy - fy, r.wy);
    return r;
}

/* The value of p at (x + dx, y + dy): 1, or 0 when the taps are not all
 * inside the plane. */
static int read_shifted(const shifted_read *r, const float *p, int w, int h, int x, int y, float *out)
{
    int ix = x + r->ox - (LANCZOS_A - 1), iy = y + r->oy - (LANCZOS_A - 1);
    if (ix < 0 || iy < 0 || ix + LANCZOS_TAPS > w || iy + LANCZOS_TAPS > h)
        return 0;
    float sum = 0;
    for (int k = 0; k < LANCZOS_TAPS; k++) {
        const float *row = p + (size_t)(iy + k) * w + ix;
        float across = 0;
        for (int j = 0; j < LANCZOS_TAPS; j++)
            across += r->wx[j] * row[j];
        sum += r->wy[k] * across;
    }
    *out = sum;
    return 1;
}

/* One pass of a shifted read: each sample of dst (w x h) the sum of the
 * LANCZOS_TAPS samples of src from whole shift o along the rows (rows) or
 * down the columns, weighted by wt; NAN where they are not all inside.
 * The samples whose taps are all inside are a range of columns (rows) or
 * of rows (columns), summed without a test each, across a row at a time. */
static void lanczos_pass(const float *src, float *dst, int w, int h, int rows, int o, const float *wt)
{
    int n = rows ? w : h, first = (LANCZOS_A - 1) - o, end = n - LANCZOS_TAPS + (LANCZOS_A - 1) - o + 1;
    first = first < 0 ? 0 : first > n ? n : first;
    end = end < first ? first : end > n ? n : end;
    for (int y = 0; y < h; y++) {
        float *out = dst + (size_t)y * w;
        if (!rows && (y < first || y >= end)) {
            for (int x = 0; x < w; x++)
                out[x] = NAN;
            continue;
        }
        int x0 = rows ? first : 0, x1 = rows ? end : w;
        for (int x = 0; x < x0; x++)
            out[x] = NAN;
        for (int x = x1; x < w; x++)
            out[x] = NAN;
        /* The first tap of sample x: x + o - (LANCZOS_A - 1) along the row,
         * or that row of the column. */
        const float *line = rows ? src + (size_t)y * w : src + (size_t)(y + o - (LANCZOS_A - 1)) * w;
        ptrdiff_t first_tap = rows ? o - (LANCZOS_A - 1) : 0, step = rows ? 1 : w;
        for (int x = x0; x < x1; x++) {
            float sum = 0;
            for (int k = 0; k < LANCZOS_TAPS; k++)
                sum += wt[k] * line[first_tap + x + k * step];
            out[x] = sum;
        }
    }
}

/* p (w x h) read at every sample moved by r, into a plane of w x h floats
 * (to free), NAN where the taps are not all inside. Each row's sums along
 * the taps first, then down the columns: the sums read_shifted makes, in
 * the same order, at 12 products a sample instead of 36. A merge reads the
 * prediction three times over (its score, the untouched samples' misses,
 * the merge itself). */
static float *moved_plane(const shifted_read *r, const float *p, int w, int h)
{
    size_t n = (size_t)w * h;
    float *across = um_xmalloc(n * sizeof(float)), *out = um_xmalloc(n * sizeof(float));
    lanczos_pass(p, across, w, h, 1, r->ox, r->wx);
    lanczos_pass(across, out, w, h, 0, r->oy, r->wy);
    free(across);
    return out;
}

/* One pass of a bilinear read of src (w x h) moved by o + f samples along
 * the rows (rows) or down the columns, into dst: positions before the
 * first sample read it, those past the last read the last. */
static void bilinear_pass(const float *src, float *dst, int w, int h, int rows, int o, float f)
{
    int n = rows ? w : h;
    size_t step = rows ? 1 : (size_t)w;
    for (int y = 0; y < h; y++) {
        float *out = dst + (size_t)y * w;
        for (int x = 0; x < w; x++) {
            int at = (rows ? x : y) + o;
            const float *line = rows ? src + (size_t)y * w : src + x;
            if (at < 0)
                out[x] = line[0];
            else if (at >= n - 1)
                out[x] = line[(size_t)(n - 1) * step];
            else
                out[x] = line[(size_t)at * step] * (1 - f) + line[(size_t)(at + 1) * step] * f;
        }
    }
}

/* p (w x h) read bilinearly at every sample moved by (dx, dy), the
 * positions clamped inside, into a plane of w x h floats (to free): the
 * prediction's variance, which a sample-exact read need not follow. */
static float *moved_bilinear(const float *p, int w, int h, float dx, float dy)
{
    size_t n = (size_t)w * h;
    float fx = floorf(dx), fy = floorf(dy);
    float *across = um_xmalloc(n * sizeof(float)), *out = um_xmalloc(n * sizeof(float));
    bilinear_pass(p, across, w, h, 1, (int)fx, dx - fx);
    bilinear_pass(across, out, w, h, 0, (int)fy, dy - fy);
    free(across);
    return out;
}

/* Where, within half a sample of (0, 0), the quadratic fitted to the 3x3
 * costs c[dy + 1][dx + 1] around the best shift has its least, into
 * (*x, *y): (0, 0) along an axis whose costs are not clearly curved (a flat
 * picture has no sub-sample position: noise would choose one). The cross
 * term matters: a texture running diagonally ties the axes together.
 * Returns 1 when the costs are curved along either axis: the picture has
 * texture a sub-sample position can be found on. */
static int refine(const float c[3][3], float *x, float *y)
{
    *x = *y = 0;
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            if (!isfinite(c[i][j]))
                return 0;
    float gx = 0, gy = 0, cxx = 0, cyy = 0;
    for (int k = 0; k < 3; k++) {
        gx += (c[k][2] - c[k][0]) / 6;
        gy += (c[2][k] - c[0][k]) / 6;
        cxx += (c[k][2] + c[k][0] - 2 * c[k][1]) / 3;
        cyy += (c[2][k] + c[0][k] - 2 * c[1][k]) / 3;
    }
    float cxy = (c[2][2] - c[0][2] - c[2][0] + c[0][0]) / 4;
    int curved_x = cxx > MIN_CURVATURE * c[1][1], curved_y = cyy > MIN_CURVATURE * c[1][1];
    float det = cxx * cyy - cxy * cxy;
    if (curved_x && curved_y && det > 0) {
        *x = (cxy * gy - cyy * gx) / det;
        *y = (cxy * gx - cxx * gy) / det;
    } else {
        *x = curved_x ? -gx / cxx : 0;
        *y = curved_y ? -gy / cyy : 0;
    }
    *x = *x < -0.5f ? -0.5f : *x > 0.5f ? 0.5f : *x;
    *y = *y < -0.5f ? -0.5f : *y > 0.5f ? 0.5f : *y;
    return curved_x || curved_y;
}

/* The samples a shift's cost is measured on: the used ones on the search
 * grid at least reach from the border, the same for every shift up to
 * reach, listed once per search instead of tested once per shift. */
typedef struct {
    size_t *at; /* y * w + x */
    int n;
} search_grid;

static search_grid grid_of(const uint8_t *use, int w, int h, int reach)
{
    search_grid g = {NULL, 0};
    if (w <= 2 * reach || h <= 2 * reach)
        return g;
    size_t most = (size_t)((w - 2 * reach + SEARCH_STEP - 1) / SEARCH_STEP) *
                  (size_t)((h - 2 * reach + SEARCH_STEP - 1) / SEARCH_STEP);
    g.at = um_xmalloc(most * sizeof(size_t));
    for (int y = reach; y < h - reach; y += SEARCH_STEP)
        for (int x = reach; x < w - reach; x += SEARCH_STEP)
            if (!use || use[(size_t)y * w + x])
                g.at[g.n++] = (size_t)y * w + x;
    return g;
}

/* A shift's cost is checked against the best so far after every this
 * many samples: most shifts of a search are far off, and show it early. */
#define PRUNE_CHUNK 256

/* The variance of the difference between cur and prev moved by (sx, sy)
 * over the grid's samples: its mean squared part but for the mean, which
 * is the picture getting brighter or darker (exposure, the encoder's
 * quality from frame to frame), not motion; over a smooth shading a change
 * of brightness would otherwise pass for a shift. Infinite when too few
 * samples, or beyond reach, and where it is sure to be above `above`
 * (INFINITY: always worked out). */
static float cost_at(const float *cur, const float *prev, const search_grid *g, int w, int reach, int sx,
                     int sy, float above)
{
    if (abs(sx) > reach || abs(sy) > reach || g->n < MIN_SEARCH_SAMPLES)
        return INFINITY;
    const float *moved = prev + (ptrdiff_t)sy * w + sx;
    /* The squared differences from their mean over the first k samples
     * never exceed those over all n: past n times `above`, the cost is
     * past `above` too (the margin covers the sums' rounding). */
    double sum = 0, sum2 = 0, most = (double)above * g->n * (1 + 1e-9);
    for (int start = 0; start < g->n; start += PRUNE_CHUNK) {
        int end = start + PRUNE_CHUNK < g->n ? start + PRUNE_CHUNK : g->n;
        for (int i = start; i < end; i++) {
            float d = cur[g->at[i]] - moved[g->at[i]];
            sum += d;
            sum2 += d * d;
        }
        if (sum2 - sum * sum / end > most)
            return INFINITY;
    }
    double mean = sum / g->n;
    return (float)(sum2 / g->n - mean * mean);
}

/* p minus its mean over the (2 DETAIL_RADIUS + 1)^2 box around each
 * sample (cut at the borders): the picture's texture without its shading.
 * Over a smooth wall a change of light is a change of shading, which a
 * shift along the slope would mimic; texture moves only with the picture. */
static float *detail_of(const float *p, int w, int h)
{
    /* sum[y][x] (rows w + 1 apart): the sum of p over rows < y, columns < x. */
    size_t row = (size_t)w + 1;
    double *sum = um_xcalloc(row * (h + 1), sizeof(double));
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            double *at = sum + (y + 1) * row + x + 1;
            *at = p[(size_t)y * w + x] + at[-(ptrdiff_t)row] + at[-1] - at[-(ptrdiff_t)row - 1];
        }
    float *out = um_xmalloc((size_t)w * h * sizeof(float));
    for (int y = 0; y < h; y++) {
        int y0 = y - DETAIL_RADIUS < 0 ? 0 : y - DETAIL_RADIUS;
        int y1 = y + DETAIL_RADIUS + 1 > h ? h : y + DETAIL_RADIUS + 1;
        for (int x = 0; x < w; x++) {
            int x0 = x - DETAIL_RADIUS < 0 ? 0 : x - DETAIL_RADIUS;
            int x1 = x + DETAIL_RADIUS + 1 > w ? w : x + DETAIL_RADIUS + 1;
            double box = sum[y1 * row + x1] - sum[y0 * row + x1] - sum[y1 * row + x0] + sum[y0 * row + x0];
            out[(size_t)y * w + x] = p[(size_t)y * w + x] - (float)(box / ((y1 - y0) * (x1 - x0)));
        }
    }
    free(sum);
    return out;
}

/* The central-difference gradient of a plane (rows w apart) at c, which
 * has a sample on each side. */
static void gradient_at(const float *c, int w, double *gx, double *gy)
{
    *gx = (c[1] - c[-1]) / 2.0;
    *gy = (c[w] - c[-w]) / 2.0;
}

/* Gauss-Newton steps on the sub-sample shift, from (*dx, *dy) near the
 * whole shift (bx, by): the difference between cur and prev read through
 * the Lanczos window at the shift, against cur's gradient (which prev's
 * matches there). A parabola through the costs at whole shifts is pulled
 * towards the whole shift on fine texture, whose cost is not a parabola.
 * Left as it was where the texture runs one way only (no position along
 * it) or the steps leave the whole shift's neighbourhood. */
static void refine_by_gradient(const float *cur, const float *prev, const search_grid *g, int w, int h, int bx,
                               int by, float *dx, float *dy)
{
    double hxx = 0, hxy = 0, hyy = 0;
    for (int i = 0; i < g->n; i++) {
        double gx, gy;
        gradient_at(cur + g->at[i], w, &gx, &gy);
        hxx += gx * gx;
        hxy += gx * gy;
        hyy += gy * gy;
    }
    double det = hxx * hyy - hxy * hxy;
    if (!(det > MIN_CONDITION * (hxx + hyy) * (hxx + hyy)))
        return;
    float x = *dx, y = *dy;
    for (int step = 0; step < GRADIENT_STEPS; step++) {
        shifted_read moved = shifted_read_of(x, y);
        double bx_sum = 0, by_sum = 0;
        for (int i = 0; i < g->n; i++) {
            int sx = (int)(g->at[i] % (size_t)w), sy = (int)(g->at[i] / (size_t)w);
            float pred;
            if (!read_shifted(&moved, prev, w, h, sx, sy, &pred))
                continue;
            double gx, gy, r = cur[g->at[i]] - pred;
            gradient_at(cur + g->at[i], w, &gx, &gy);
            bx_sum += r * gx;
            by_sum += r * gy;
        }
        double step_x = (hyy * bx_sum - hxy * by_sum) / det, step_y = (hxx * by_sum - hxy * bx_sum) / det;
        x += (float)step_x;
        y += (float)step_y;
        if (fabsf(x - (float)bx) > 1 || fabsf(y - (float)by) > 1)
            return;
        if (fabs(step_x) < STEP_DONE && fabs(step_y) < STEP_DONE)
            break;
    }
    *dx = x;
    *dy = y;
}

float um_kernel_shift_residual(const float *cur, const float *prev, const uint8_t *use, int w, int h, float dx,
                               float dy)
{
    shifted_read moved = shifted_read_of(dx, dy);
    double sum = 0, sum2 = 0;
    int n = 0;
    for (int y = 0; y < h; y += SEARCH_STEP)
        for (int x = 0; x < w; x += SEARCH_STEP) {
            float pred;
            size_t i = (size_t)y * w + x;
            if ((use && !use[i]) || !read_shifted(&moved, prev, w, h, x, y, &pred))
                continue;
            double d = cur[i] - pred;
            sum += d;
            sum2 += d * d;
            n++;
        }
    if (n < MIN_SEARCH_SAMPLES)
        return INFINITY;
    double mean = sum / n;
    return (float)(sum2 / n - mean * mean);
}

float um_kernel_shift_estimate(const float *cur, const float *prev, const uint8_t *use, int w, int h,
                               float guess_x, float guess_y, int radius, int reach, float *dx, float *dy)
{
    int cx = (int)lrintf(guess_x), cy = (int)lrintf(guess_y), bx = cx, by = cy;
    search_grid g = grid_of(use, w, h, reach);
    float *cur_detail = detail_of(cur, w, h), *prev_detail = detail_of(prev, w, h);
    float guessed = cost_at(cur_detail, prev_detail, &g, w, reach, cx, cy, INFINITY), best = guessed;
    for (int sy = cy - radius; sy <= cy + radius; sy++)
        for (int sx = cx - radius; sx <= cx + radius; sx++) {
            float c = cost_at(cur_detail, prev_detail, &g, w, reach, sx, sy, best);
            if (c < best) {
                best = c;
                bx = sx;
                by = sy;
            }
        }
    /* A picture with little texture matches many shifts about as well:
     * only a clearly better match changes the motion. Over a plain
     * painting panning 9.5 px a frame, standing still as the default lost
     * the pan on most frames (the restored area was merged with the
     * picture 9 px away): 1 dB in the box. */
    if (!(best < MOTION_GAIN * guessed)) {
        best = guessed;
        bx = cx;
        by = cy;
    }
    *dx = (float)bx;
    *dy = (float)by;
    float left = INFINITY;
    if (isfinite(best)) {
        float around[3][3], fx, fy;
        for (int j = 0; j < 3; j++)
            for (int i = 0; i < 3; i++)
                around[j][i] = cost_at(cur_detail, prev_detail, &g, w, reach, bx + i - 1, by + j - 1, INFINITY);
        int located = refine(around, &fx, &fy);
        *dx += fx;
        *dy += fy;
        if (located)
            refine_by_gradient(cur_detail, prev_detail, &g, w, h, bx, by, dx, dy);
        left = cost_at(cur, prev, &g, w, reach, bx, by, INFINITY);
    }
    free(cur_detail);
    free(prev_detail);
    free(g.at);
    return left;
}

/* The mark's colour over plane sample (x, y), inside its window. */
static float colour_at(const um_kernel_mark *m, int x, int y)
{
    return m->colour_map ? m->colour_map[(y - m->ay) * m->a_stride + (x - m->ax)] : m->colour;
}

/* The variance of restored sample value v at (x, y), opacity a, in
 * squared sample units: the coding noise amplified by 1 / (1 - a), and the
 * matte's own error. An opacity off by e moves the restored value by
 * e (v - W) / (1 - a): little where the picture is near the mark's colour,
 * much where it is far from it, as a colourful picture is in the colour
 * planes. */
static float measurement_variance(const um_kernel_mark *m, int x, int y, float a, float v, float noise)
{
    if (a > m->a_max)
        return FILLED_VARIANCE * noise * noise;
    float g = noise / (1.0f - a), e = MATTE_ERROR * (v - colour_at(m, x, y)) / (1.0f - a);
    return g * g + e * e;
}

/* The mark's opacity over each sample of the area (w x h floats, to
 * free), 0 outside its window: read once per merge by every pass. */
static float *opacity_of(const um_kernel_mark *m, int w, int h)
{
    float *opacity = um_xcalloc((size_t)w * h, sizeof(float));
    int x0 = m->ax < 0 ? 0 : m->ax, x1 = m->ax + m->aw > w ? w : m->ax + m->aw;
    int y0 = m->ay < 0 ? 0 : m->ay, y1 = m->ay + m->ah > h ? h : m->ay + m->ah;
    for (int y = y0; y < y1 && x0 < x1; y++)
        memcpy(opacity + (size_t)y * w + x0, m->alpha + (y - m->ay) * m->a_stride + (x0 - m->ax),
               (size_t)(x1 - x0) * sizeof(float));
    return opacity;
}

/* The picture's own change of brightness from the prediction (prev
 * moved, from moved_plane) to cur, as the samples the restoration left
 * alone show it, applied to the prediction in place: pred becomes
 * gain * pred + offset. The restored samples share the change, and a
 * prediction that did not follow it would hold the merged area behind the
 * picture around it. A gain, not only an offset: a change of exposure or
 * of the camera's tone curve moves dark and bright parts by different
 * amounts, and the picture under the mark is not as bright as the picture
 * around it (see MIN_GAIN_SPREAD). The gain is the ratio of the two
 * spreads, not a regression's slope: a prediction that misses (a motion
 * off by a fraction of a sample, the coding noise) would pull a slope
 * towards 0 where nothing changed. */
static void follow_brightness(float *pred, const float *cur, const float *opacity, int w, int h, float noise)
{
    double n = 0, sum_p = 0, sum_c = 0, sum_pp = 0, sum_cc = 0;
    for (size_t i = 0; i < (size_t)w * h; i++) {
        if (opacity[i] >= UM_KERNEL_MIN_ALPHA || isnan(pred[i]))
            continue;
        n++;
        sum_p += pred[i];
        sum_c += cur[i];
        sum_pp += (double)pred[i] * pred[i];
        sum_cc += (double)cur[i] * cur[i];
    }
    if (n < MIN_FIT_SAMPLES)
        return;
    double mean_p = sum_p / n, mean_c = sum_c / n;
    double spread_p = sum_pp / n - mean_p * mean_p, spread_c = sum_cc / n - mean_c * mean_c;
    double gain = spread_p > MIN_GAIN_SPREAD * noise * noise ? sqrt(fmax(spread_c, 0) / spread_p) : 1;
    gain = gain < 1 / MAX_GAIN ? 1 / MAX_GAIN : gain > MAX_GAIN ? MAX_GAIN : gain;
    double offset = mean_c - gain * mean_p;
    for (size_t i = 0; i < (size_t)w * h; i++)
        pred[i] = (float)(gain * pred[i] + offset);
}

/* How well the prediction (prev moved, from moved_plane, its brightness
 * followed; its variance pred_var, from moved_bilinear) predicts the
 * inverted samples of cur: their mean squared disagreement in units of the
 * variance expected (about 1 when the motion is right), infinite when no
 * sample can be predicted. */
static float prediction_score(const float *cur, const float *cur_var, const float *pred, const float *pred_var,
                              const float *opacity, int w, int h, const um_kernel_mark *m, float noise,
                              float drift)
{
    double sum = 0;
    int n = 0;
    for (int y = m->ay < 0 ? 0 : m->ay; y < m->ay + m->ah && y < h; y++)
        for (int x = m->ax < 0 ? 0 : m->ax; x < m->ax + m->aw && x < w; x++) {
            size_t i = (size_t)y * w + x;
            float a = opacity[i];
            if (a < UM_KERNEL_MIN_ALPHA || a > m->a_max || isnan(pred[i]))
                continue;
            float r = cur_var ? cur_var[i] : measurement_variance(m, x, y, a, cur[i], noise);
            float d = cur[i] - pred[i];
            sum += d * d / (pred_var[i] + drift + r);
            n++;
        }
    return n ? (float)(sum / n) : INFINITY;
}

/* Rows summed along at once: each row's running sum waits on its own
 * additions, so rows side by side keep the processor busy. */
#define ROW_GROUP 4

/* Rows y0 .. y0 + rows - 1 (rows <= ROW_GROUP) of src (w wide), each
 * sample the sum over the 2r + 1 along its row around it, clipped at the
 * row's ends, into dst. */
static void box_sum_rows(const float *src, float *dst, int w, int y0, int rows, int r)
{
    double sum[ROW_GROUP] = {0};
    for (int k = 0; k < rows; k++)
        for (int i = 0; i < r && i < w; i++)
            sum[k] += src[(size_t)(y0 + k) * w + i];
    for (int i = 0; i < w; i++)
        for (int k = 0; k < rows; k++) {
            const float *row = src + (size_t)(y0 + k) * w;
            if (i + r < w)
                sum[k] += row[i + r];
            if (i - r - 1 >= 0)
                sum[k] -= row[i - r - 1];
            dst[(size_t)(y0 + k) * w + i] = (float)sum[k];
        }
}

/* sum (w doubles) plus sign times row y of p (w x h). */
static void add_row(double *sum, const float *p, int w, int y, double sign)
{
    const float *row = p + (size_t)y * w;
    for (int x = 0; x < w; x++)
        sum[x] += sign * row[x];
}

/* Each sample of p (w x h) replaced by the sum over the (2r + 1)^2 window
 * around it, clipped at the edges: along the rows, then down the columns
 * with a running sum per column, carried a row at a time. Summing a column
 * at a time, every read strode a row: box sums took 2.1% of `remove`'s
 * CPU time on h4 of the hold-outs, 1.4% this way (perf record). */
static void box_sum(float *p, int w, int h, int r)
{
    size_t n = (size_t)w * h;
    float *rows = um_xmalloc(n * sizeof(float));
    memcpy(rows, p, n * sizeof(float));
    for (int y = 0; y < h; y += ROW_GROUP)
        box_sum_rows(rows, p, w, y, h - y < ROW_GROUP ? h - y : ROW_GROUP, r);
    memcpy(rows, p, n * sizeof(float));
    double *sum = um_xcalloc((size_t)w, sizeof(double));
    for (int y = 0; y < r && y < h; y++)
        add_row(sum, rows, w, y, 1);
    for (int y = 0; y < h; y++) {
        if (y + r < h)
            add_row(sum, rows, w, y + r, 1);
        if (y - r - 1 >= 0)
            add_row(sum, rows, w, y - r - 1, -1);
        for (int x = 0; x < w; x++)
            p[(size_t)y * w + x] = (float)sum[x];
    }
    free(rows);
    free(sum);
}

/* What the prediction (from moved_plane, its brightness followed) misses
 * of each untouched sample of the area (w x h floats, to free): NAN where the
 * mark covers the sample or the prediction cannot be read. The local
 * drift and the motion's error are both read from it. */
static float *untouched_misses(const float *cur, const float *pred, const float *opacity, int w, int h)
{
    float *miss = um_xmalloc((size_t)w * h * sizeof(float));
    for (size_t i = 0; i < (size_t)w * h; i++)
        miss[i] = opacity[i] < UM_KERNEL_MIN_ALPHA ? cur[i] - pred[i] : NAN;
    return miss;
}

/* Each sample of p (w x h) outside r set to v. */
static void fill_outside(float *p, int w, int h, um_box r, float v)
{
    for (int y = 0; y < h; y++) {
        int inside = y >= r.y1 && y < r.y2;
        for (int x = 0; x < w; x++)
            if (!inside || x < r.x1 || x >= r.x2)
                p[(size_t)y * w + x] = v;
    }
}

/* Adds to extra (w x h) the prediction's drift beyond drift around each
 * sample of `used`: what the prediction misses (miss, from
 * untouched_misses) of the untouched samples within LOCAL_RADIUS, on
 * average, beyond what the area leaves (drift and both frames' coding
 * noise); nothing where fewer of them are near or they miss no more than
 * LOCAL_FACTOR times that. Only the samples within LOCAL_RADIUS of `used`
 * are summed. */
static void add_local_drift(float *extra, const float *miss, int w, int h, um_box used, float noise,
                            float drift)
{
    um_box near = um_box_grown(used, LOCAL_RADIUS, w, h);
    int nw = near.x2 - near.x1, nh = near.y2 - near.y1;
    if (nw <= 0 || nh <= 0)
        return;
    size_t n = (size_t)nw * nh;
    float *miss2 = um_xmalloc(n * sizeof(float)), *count = um_xmalloc(n * sizeof(float));
    for (int y = 0; y < nh; y++)
        for (int x = 0; x < nw; x++) {
            float d = miss[(size_t)(y + near.y1) * w + x + near.x1];
            int seen = !isnan(d);
            miss2[(size_t)y * nw + x] = seen ? d * d : 0;
            count[(size_t)y * nw + x] = (float)seen;
        }
    box_sum(miss2, nw, nh, LOCAL_RADIUS);
    box_sum(count, nw, nh, LOCAL_RADIUS);
    float expected = drift + 2 * noise * noise;
    for (int y = used.y1; y < used.y2; y++)
        for (int x = used.x1; x < used.x2; x++) {
            size_t k = (size_t)(y - near.y1) * nw + x - near.x1;
            float c = count[k], mean = c >= MIN_LOCAL_SAMPLES ? miss2[k] / c : 0;
            if (mean > LOCAL_FACTOR * expected)
                extra[(size_t)y * w + x] += mean - expected;
        }
    free(miss2);
    free(count);
}

/* The squared central-difference gradient of a plane (rows w apart) at q,
 * which has a sample on each side. */
static float squared_gradient_at(const float *q, int w)
{
    float gx = (q[1] - q[-1]) * 0.5f, gy = (q[w] - q[-w]) * 0.5f;
    return gx * gx + gy * gy;
}

/* Adds to extra (w x h) what the motion's own error makes the prediction
 * miss at each sample of `used` (see MIN_FIT_SAMPLES): the slope of the
 * untouched samples' squared misses (miss, from untouched_misses) over
 * their squared gradients, times the sample's squared gradient, both at
 * the sample's prediction (its nearest sample, moved by (dx, dy)). */
static void add_motion_error(float *extra, const float *miss, const float *prev, int w, int h, um_box used,
                             float dx, float dy)
{
    int mx = (int)lrintf(dx), my = (int)lrintf(dy);
    double count = 0, sum_g = 0, sum_d = 0, sum_gg = 0, sum_gd = 0;
    for (int y = 0; y < h; y += FIT_STEP)
        for (int x = 0; x < w; x += FIT_STEP) {
            size_t i = (size_t)y * w + x;
            if (isnan(miss[i]))
                continue;
            int px = x + mx, py = y + my;
            if (px < 1 || py < 1 || px >= w - 1 || py >= h - 1)
                continue;
            double d = miss[i], g = squared_gradient_at(prev + (size_t)py * w + px, w);
            count++;
            sum_g += g;
            sum_d += d * d;
            sum_gg += g * g;
            sum_gd += g * d * d;
        }
    double spread = count ? sum_gg / count - (sum_g / count) * (sum_g / count) : 0;
    double slope = count >= MIN_FIT_SAMPLES && spread > 0
                       ? (sum_gd / count - (sum_g / count) * (sum_d / count)) / spread
                       : 0;
    /* Where the prediction's gradient can be read: columns and rows whose
     * prediction is inside the border. */
    um_box inside = {1 - mx, 1 - my, w - 1 - mx, h - 1 - my};
    int x0 = used.x1 > inside.x1 ? used.x1 : inside.x1, x1 = used.x2 < inside.x2 ? used.x2 : inside.x2;
    int y0 = used.y1 > inside.y1 ? used.y1 : inside.y1, y1 = used.y2 < inside.y2 ? used.y2 : inside.y2;
    for (int y = y0; slope > 0 && y < y1; y++) {
        const float *q = prev + (size_t)(y + my) * w + mx;
        float *out = extra + (size_t)y * w;
        for (int x = x0; x < x1; x++)
            out[x] += (float)slope * squared_gradient_at(q + x, w);
    }
}

/* 1 where a sample of the area (w x h floats, to free) is untouched but
 * within RING_RADIUS of one the mark covers, else 0. */
float *um_kernel_temporal_ring(const um_kernel_mark *m, int w, int h)
{
    size_t n = (size_t)w * h;
    float *covered = opacity_of(m, w, h);
    for (size_t i = 0; i < n; i++)
        covered[i] = covered[i] >= UM_KERNEL_MIN_ALPHA;
    float *ring = um_xmalloc(n * sizeof(float));
    memcpy(ring, covered, n * sizeof(float));
    box_sum(ring, w, h, RING_RADIUS);
    for (size_t i = 0; i < n; i++)
        ring[i] = !covered[i] && ring[i] > 0.5f;
    free(covered);
    return ring;
}

/* The filter's step; var holds cur's variances on entry when known, else
 * they follow from the opacity (fresh measurements). */
static int merge(float *cur, float *var, int known, const float *prev, const float *prev_var, int w, int h,
                 float dx, float dy, const um_kernel_mark *m, float noise, float drift)
{
    /* Two estimates that each merged many frames still differ by how each
     * was resampled along the motion: within a frame's coding noise, that
     * is no change of the picture. */
    float slack = known ? 4 * noise * noise : 0;
    shifted_read moved = shifted_read_of(dx, dy);
    float *opacity = opacity_of(m, w, h);
    float *pred = prev ? moved_plane(&moved, prev, w, h) : NULL;
    float *pred_var = prev ? moved_bilinear(prev_var, w, h, dx, dy) : NULL;
    if (pred)
        follow_brightness(pred, cur, opacity, w, h, noise);
    if (pred && !(prediction_score(cur, known ? var : NULL, pred, pred_var, opacity, w, h, m, noise,
                                   drift + slack) <= MAX_SCORE)) {
        free(pred);
        pred = NULL;
    }
    /* Samples are merged within the mark's window and the ring beside it;
     * the others keep the plain coding noise. */
    um_box used = um_box_grown((um_box){m->ax, m->ay, m->ax + m->aw, m->ay + m->ah}, RING_RADIUS, w, h);
    fill_outside(var, w, h, used, noise * noise);
    /* What the prediction misses beyond drift, sample by sample. */
    float *extra = NULL;
    if (pred) {
        extra = um_xcalloc((size_t)w * h, sizeof(float));
        float *miss = untouched_misses(cur, pred, opacity, w, h);
        add_local_drift(extra, miss, w, h, used, noise, drift);
        add_motion_error(extra, miss, prev, w, h, used, dx, dy);
        free(miss);
    }
    float *own_ring = m->ring ? NULL : um_kernel_temporal_ring(m, w, h);
    const float *ring = m->ring ? m->ring : own_ring;
    for (int y = used.y1; y < used.y2; y++)
        for (int x = used.x1; x < used.x2; x++) {
            size_t i = (size_t)y * w + x;
            float a = opacity[i];
            if (a < UM_KERNEL_MIN_ALPHA && !ring[i]) {
                var[i] = noise * noise;
                continue;
            }
            float r = known ? var[i] : ring[i] ? noise * noise : measurement_variance(m, x, y, a, cur[i], noise);
            if (!pred || isnan(pred[i])) {
                var[i] = r;
                continue;
            }
            float p = pred_var[i] + drift + extra[i];
            float d = cur[i] - pred[i];
            if (d * d > GATE * GATE * (p + r + slack)) {
                var[i] = r;
                continue;
            }
            float k = p / (p + r);
            cur[i] = pred[i] + k * d;
            var[i] = (1.0f - k) * p;
        }
    int linked = pred != NULL;
    free(opacity);
    free(pred);
    free(pred_var);
    free(extra);
    free(own_ring);
    return linked;
}

int um_kernel_temporal_filter(float *cur, float *var, const float *prev, const float *prev_var, int w, int h,
                              float dx, float dy, const um_kernel_mark *mark, float noise, float drift)
{
    return merge(cur, var, 0, prev, prev_var, w, h, dx, dy, mark, noise, drift);
}

int um_kernel_temporal_merge(float *cur, float *var, const float *prev, const float *prev_var, int w, int h,
                             float dx, float dy, const um_kernel_mark *mark, float noise, float drift)
{
    return merge(cur, var, 1, prev, prev_var, w, h, dx, dy, mark, noise, drift);
}
