/*
 * Reverse blending and the matte fit, on synthetic pictures with a known
 * mark: J = a W + (1 - a) I composed here, so every result can be compared
 * with the picture I that was under the mark.
 *
 * The bounds below come from the blend model, not from the implementation:
 * J is rounded to a level (error e, |e| <= 0.5) or carries noise, and
 * inverting divides that error by (1 - a) before the result is rounded
 * again, so |I' - I| <= |e| / (1 - a) + 0.5. Where a bound is empirical
 * (the fit), the comment says what was measured.
 *
 * Set UNMARK_TEST_VERBOSE=1 to print the measured values.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "itest.h"

#include "remove/remove_internal.h"
#include "unmark/kernels.h"
#include "unmark/remove.h"

/* ---- helpers ---------------------------------------------------------- */

#define assert_below(value, bound)                                                        \
    do {                                                                                 \
        double v_ = (value), b_ = (bound);                                               \
        if (!(v_ < b_))                                                                  \
            fail_msg("%s = %.4f, not below %.4f", #value, v_, b_);                       \
    } while (0)

static void report(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void report(const char *fmt, ...)
{
    if (!getenv("UNMARK_TEST_VERBOSE"))
        return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* Uniform integer in lo..hi. */
static int rng_int(uint32_t *s, int lo, int hi)
{
    return lo + (int)(it_rng_next(s) % (uint32_t)(hi - lo + 1));
}

/* 0..1 from a lattice point: the corners of the value noise below. */
static double lattice(int x, int y, uint32_t seed)
{
    uint32_t h = (uint32_t)x * 0x8da6b343u ^ (uint32_t)y * 0xd8163841u ^ seed * 0xcb1ab31fu;
    h ^= h >> 15;
    h *= 0x2c1b3c6du;
    h ^= h >> 12;
    h *= 0x297a2d39u;
    h ^= h >> 15;
    return (h & 0xffffff) / (double)0xffffff;
}

/* Smooth value noise of cell size `cell`, 0..1, defined on the whole plane
 * (a picture can be moved by any offset without running out of it). */
static double value_noise(double x, double y, double cell, uint32_t seed)
{
    double fx = x / cell, fy = y / cell;
    int ix = (int)floor(fx), iy = (int)floor(fy);
    double tx = fx - ix, ty = fy - iy;
    tx = tx * tx * (3 - 2 * tx);
    ty = ty * ty * (3 - 2 * ty);
    double top = lattice(ix, iy, seed) * (1 - tx) + lattice(ix + 1, iy, seed) * tx;
    double bottom = lattice(ix, iy + 1, seed) * (1 - tx) + lattice(ix + 1, iy + 1, seed) * tx;
    return top * (1 - ty) + bottom * ty;
}

/* A textured picture: two octaves of value noise mapped onto lo..hi. */
typedef struct {
    double lo, hi;
    double coarse, fine; /* cell sizes, pixels */
    uint32_t seed;
} texture;

static int texture_at(const texture *t, double x, double y)
{
    double v = 0.65 * value_noise(x, y, t->coarse, t->seed) +
               0.35 * value_noise(x, y, t->fine, t->seed + 101);
    return (int)lrint(t->lo + (t->hi - t->lo) * v);
}

/*
 * The mark's opacity, text-like: a few letters of strokes 5 px wide inside
 * a 50 x 24 box at (x0, y0), softened by a [1 2 3 2 1] / 9 blur in both
 * directions (a 2 px ramp on every edge, as an anti-aliased logo has) and
 * scaled so its flat parts reach `peak`. alpha is w x h floats, stride
 * apart, and is written over the box only.
 */
enum { MARK_W = 50, MARK_H = 24 };

static void draw_mark(float *alpha, ptrdiff_t stride, int x0, int y0, float peak)
{
    static const struct { int x, y, w, h; } strokes[] = {
        /* "U" */ {2, 2, 5, 20}, {12, 2, 5, 20}, {2, 17, 15, 5},
        /* "n" */ {20, 8, 5, 14}, {20, 8, 12, 5}, {27, 8, 5, 14},
        /* "T" */ {34, 2, 14, 4}, {39, 2, 5, 20},
    };
    float hard[MARK_H][MARK_W] = {{0}}, tmp[MARK_H][MARK_W] = {{0}};
    for (size_t i = 0; i < sizeof(strokes) / sizeof(strokes[0]); i++)
        for (int y = strokes[i].y; y < strokes[i].y + strokes[i].h; y++)
            for (int x = strokes[i].x; x < strokes[i].x + strokes[i].w; x++)
                hard[y][x] = 1;
    static const float k[5] = {1 / 9.f, 2 / 9.f, 3 / 9.f, 2 / 9.f, 1 / 9.f};
    for (int y = 0; y < MARK_H; y++)
        for (int x = 0; x < MARK_W; x++)
            for (int d = -2; d <= 2; d++)
                if (x + d >= 0 && x + d < MARK_W)
                    tmp[y][x] += k[d + 2] * hard[y][x + d];
    for (int y = 0; y < MARK_H; y++)
        for (int x = 0; x < MARK_W; x++) {
            float v = 0;
            for (int d = -2; d <= 2; d++)
                if (y + d >= 0 && y + d < MARK_H)
                    v += k[d + 2] * tmp[y + d][x];
            /* Where no stroke reaches, exactly 0; the flat inside of a
             * stroke is peak, up to float rounding. */
            alpha[(ptrdiff_t)(y0 + y) * stride + x0 + x] = v < 1e-6f ? 0 : fminf(v, 1) * peak;
        }
}

/* The bound the blend model gives for one pixel: J off by up to j_error
 * levels, divided by (1 - a), then rounded to a level. */
static int inversion_bound(double a, double j_error)
{
    return (int)floor(j_error / (1 - a) + 0.5 + 1e-6);
}

/* ---- 1, 2: the kernel ------------------------------------------------- */

/* The kernel's test plane: a mark at (10, 8), a few opaque pixels beside it
 * (which the kernel must leave for the caller to fill) and padded strides
 * for both the plane and the opacity, so a stride mix-up shows. */
enum { KW = 72, KH = 40, K_STRIDE = 80, KA_STRIDE = 76, K_MARK_X = 10, K_MARK_Y = 8 };

static float *kernel_alpha(void)
{
    float *alpha = calloc((size_t)KA_STRIDE * KH, sizeof(float));
    draw_mark(alpha, KA_STRIDE, K_MARK_X, K_MARK_Y, 0.75f);
    /* Above a_max = 0.9: left as they are. */
    alpha[34 * KA_STRIDE + 64] = 0.95f;
    alpha[34 * KA_STRIDE + 65] = 1.0f;
    alpha[35 * KA_STRIDE + 64] = 0.9001f;
    /* At a_max exactly: still inverted. */
    alpha[35 * KA_STRIDE + 65] = 0.9f;
    return alpha;
}

/* Texture: a random level in lo..hi per pixel (the kernel works pixel by
 * pixel, so no smoothness is needed, and every level gets exercised). */
static void random_plane(int *truth, int lo, int hi, uint32_t seed)
{
    for (int k = 0; k < KW * KH; k++)
        truth[k] = rng_int(&seed, lo, hi);
}

/* J = round(a W + (1 - a) I) + noise in -noise..noise, clamped to 0..max. */
static int compose(double a, double colour, int picture, int noise, uint32_t *rng, int max_value)
{
    long j = lrint(a * colour + (1 - a) * picture) + (noise ? rng_int(rng, -noise, noise) : 0);
    return j < 0 ? 0 : j > max_value ? max_value : (int)j;
}

/* One run of the kernel on the test plane: the picture, the marked plane
 * and the restored one (KW x KH each), and the opacity (KA_STRIDE apart). */
typedef struct {
    int depth;
    float *alpha;
    int truth[KW * KH], marked[KW * KH], out[KW * KH];
} kernel_run;

static const float kernel_a_max = 0.9f;

/* Composes the plane at run->depth bits from run->truth (+-noise levels on
 * J) and unblends it with the u8 or u16 kernel, whose own smoothing is
 * told kernel_noise (0: the bare inversion). */
static void run_unblend(kernel_run *run, double colour, int noise, float kernel_noise)
{
    int max_value = (1 << run->depth) - 1;
    uint32_t rng = 777u;
    uint8_t *p8 = calloc((size_t)K_STRIDE * KH, 1);
    uint16_t *p16 = calloc((size_t)K_STRIDE * KH, sizeof(uint16_t));
    void *scratch = malloc(um_kernel_unblend_scratch(KW, KH));
    for (int y = 0; y < KH; y++)
        for (int x = 0; x < KW; x++) {
            int k = y * KW + x;
            run->marked[k] =
                compose(run->alpha[y * KA_STRIDE + x], colour, run->truth[k], noise, &rng, max_value);
            if (run->depth == 8)
                p8[y * K_STRIDE + x] = (uint8_t)run->marked[k];
            else
                p16[y * K_STRIDE + x] = (uint16_t)run->marked[k];
        }
    if (run->depth == 8)
        um_kernel_unblend_u8(p8, K_STRIDE, run->alpha, KA_STRIDE, KW, KH, (float)colour, NULL,
                             kernel_a_max, kernel_noise, scratch);
    else
        um_kernel_unblend_u16(p16, K_STRIDE * (ptrdiff_t)sizeof(uint16_t), run->alpha, KA_STRIDE,
                              KW, KH, (float)colour, NULL, kernel_a_max, kernel_noise, max_value, scratch);
    for (int y = 0; y < KH; y++) {
        for (int x = 0; x < KW; x++)
            run->out[y * KW + x] = run->depth == 8 ? p8[y * K_STRIDE + x] : p16[y * K_STRIDE + x];
        /* The padding past w in each row is never written. */
        for (int x = KW; x < K_STRIDE; x++)
            assert_int_equal(run->depth == 8 ? p8[y * K_STRIDE + x] : p16[y * K_STRIDE + x], 0);
    }
    free(scratch);
    free(p8);
    free(p16);
}

/* Where the kernel must not touch the plane: a == 0 (no mark) and
 * a > a_max (the residue, the caller's to fill). */
static int left_alone(float a) { return a == 0 || a > kernel_a_max; }

static void check_left_alone(const kernel_run *run)
{
    for (int y = 0; y < KH; y++)
        for (int x = 0; x < KW; x++) {
            int k = y * KW + x;
            float a = run->alpha[y * KA_STRIDE + x];
            if (left_alone(a) && run->out[k] != run->marked[k])
                fail_msg("(%d,%d) a=%.4f: changed from %d to %d; must be left as it was", x, y, a,
                         run->marked[k], run->out[k]);
        }
}

typedef struct {
    int max_error;          /* over 0 < a <= a_max */
    double mean_error;      /* over the same pixels */
    double amplification;   /* mean 1 / (1 - a) over them */
} unblend_result;

/*
 * The bare inversion, pixel by pixel, against two references:
 *   - the model: J off by up to j_error levels gives I within
 *     inversion_bound(a, j_error);
 *   - the formula itself, I' = round((J - a W) / (1 - a)) in double: the
 *     same level, except where the exact value is a half (a = 1/3 makes
 *     many) and float rounding may fall either way. A kernel that
 *     truncates, or gets W or a slightly wrong, fails this at once.
 */
static unblend_result check_inversion(const kernel_run *run, double colour, double j_error)
{
    unblend_result res = {0, 0, 0};
    double sum = 0;
    int count = 0, max_value = (1 << run->depth) - 1;
    for (int y = 0; y < KH; y++)
        for (int x = 0; x < KW; x++) {
            int k = y * KW + x;
            float a = run->alpha[y * KA_STRIDE + x];
            if (left_alone(a))
                continue;
            int error = abs(run->out[k] - run->truth[k]), bound = inversion_bound(a, j_error);
            if (error > bound)
                fail_msg("(%d,%d) a=%.4f J=%d: restored %d, truth %d, error %d > bound %d", x, y, a,
                         run->marked[k], run->out[k], run->truth[k], error, bound);
            double v = (run->marked[k] - (double)a * colour) / (1 - (double)a);
            long want = lrint(v < 0 ? 0 : v > max_value ? max_value : v);
            int at_half = fabs(v - floor(v) - 0.5) < 1e-3;
            if (run->out[k] != want && !(at_half && labs(run->out[k] - want) == 1))
                fail_msg("(%d,%d) a=%.4f J=%d: restored %d, the formula gives %ld (%.4f)", x, y, a,
                         run->marked[k], run->out[k], want, v);
            res.max_error = error > res.max_error ? error : res.max_error;
            res.amplification += 1 / (1 - (double)a);
            sum += error;
            count++;
        }
    res.mean_error = sum / count;
    res.amplification /= count;
    return res;
}

static kernel_run *kernel_run_new(int depth, int lo, int hi)
{
    kernel_run *run = calloc(1, sizeof(*run));
    run->depth = depth;
    run->alpha = kernel_alpha();
    random_plane(run->truth, lo, hi, 12345u + (uint32_t)depth);
    return run;
}

static void kernel_run_free(kernel_run *run)
{
    free(run->alpha);
    free(run);
}

/*
 * Exact recovery: with J only rounded, every restored pixel is within
 * floor(0.5 / (1 - a) + 0.5) levels of I: 1 level up to a = 0.5, 2 at the
 * mark's a = 0.75 (J's half-level rounding, times 4) and 5 at a = 0.9. That
 * holds in 8 bits as in 10 (the bound is in levels of either), so 8-bit
 * marks above a = 0.5 may be 2 levels off too, and are allowed to be. The
 * mean error shows that most pixels are exact. Pixels where a == 0 or
 * a > a_max are left bit-exact. The kernel's smoothing is off (noise 0):
 * this is the inversion itself. Measured: max 2 in both depths, mean 0.39
 * (8-bit) and 0.43 (10-bit); truncating instead of rounding adds about 0.5.
 */
static void test_unblend_exact_recovery(void **state)
{
    (void)state;
    kernel_run *r8 = kernel_run_new(8, 30, 200), *r10 = kernel_run_new(10, 120, 800);
    run_unblend(r8, 235, 0, 0);
    run_unblend(r10, 940, 0, 0);
    check_left_alone(r8);
    check_left_alone(r10);
    unblend_result e8 = check_inversion(r8, 235, 0.5), e10 = check_inversion(r10, 940, 0.5);
    report("unblend lossless: 8-bit max %d mean %.3f; 10-bit max %d mean %.3f", e8.max_error,
           e8.mean_error, e10.max_error, e10.mean_error);
    assert_in_range(e8.max_error, 1, 2);
    assert_in_range(e10.max_error, 1, 2);
    assert_below(e8.mean_error, 0.6);
    assert_below(e10.mean_error, 0.6);
    kernel_run_free(r8);
    kernel_run_free(r10);
}

/*
 * Bounded error under noise: J carries +-2 levels of uniform noise on top of
 * its rounding, so |e| <= 2.5 and each pixel of the bare inversion is within
 * floor(2.5 / (1 - a) + 0.5) of I (10 at a = 0.75, 25 at a = 0.9). On
 * average, E|e| = 1.25 (0.25, 1, 1, 2, 2 for noise 0, +-1, +-2), times the
 * mean amplification 1 / (1 - a) over the mark, 2.0 on this one (strokes
 * flat at 0.75, 4x): a mean error of about 2.5, so not below 2 levels. The
 * bound is that expectation plus 15%. Measured: max 22 (at a = 0.9, bound
 * 25), mean 2.53 (8-bit) and 2.52 (10-bit), mean amplification 1.99.
 */
static void test_unblend_bounded_under_noise(void **state)
{
    (void)state;
    kernel_run *r8 = kernel_run_new(8, 30, 200), *r10 = kernel_run_new(10, 120, 800);
    run_unblend(r8, 235, 2, 0);
    run_unblend(r10, 940, 2, 0);
    check_left_alone(r8);
    check_left_alone(r10);
    unblend_result e8 = check_inversion(r8, 235, 2.5), e10 = check_inversion(r10, 940, 2.5);
    report("unblend noisy: 8-bit max %d mean %.3f; 10-bit max %d mean %.3f; amplification %.3f",
           e8.max_error, e8.mean_error, e10.max_error, e10.mean_error, e8.amplification);
    assert_below(e8.mean_error, 1.15 * 1.25 * e8.amplification);
    assert_below(e10.mean_error, 1.15 * 1.25 * e10.amplification);
    kernel_run_free(r8);
    kernel_run_free(r10);
}

/*
 * The kernel's smoothing (noise > 0) on a noisy J over a smooth picture
 * with a sharp edge (a step of 100 levels down the middle of the mark):
 * it averages away part of the amplified noise, so the mean error over the
 * mark falls well below the bare inversion's, yet it does not smear the
 * edge: each pixel stays within the worst inversion bound of its 3 x 3
 * neighbours on its own side of the edge, plus their spread in the picture.
 * Measured: mean 1.04 against the bare inversion's 2.56 (ratio 0.41; the
 * bound is 0.6), max 20 for both (at a = 0.9).
 */
static void test_unblend_smoothing(void **state)
{
    (void)state;
    enum { EDGE_X = K_MARK_X + 22 };
    kernel_run *bare = kernel_run_new(8, 0, 0), *smooth = kernel_run_new(8, 0, 0);
    for (int y = 0; y < KH; y++)
        for (int x = 0; x < KW; x++)
            bare->truth[y * KW + x] = smooth->truth[y * KW + x] =
                (x < EDGE_X ? 50 : 150) + (x + y) / 4;
    run_unblend(bare, 235, 2, 0);
    run_unblend(smooth, 235, 2, 2.0f);
    check_left_alone(smooth);
    unblend_result eb = check_inversion(bare, 235, 2.5);
    double sum = 0;
    int count = 0, max_error = 0;
    for (int y = 0; y < KH; y++)
        for (int x = 0; x < KW; x++) {
            int k = y * KW + x;
            float a = smooth->alpha[y * KA_STRIDE + x];
            if (left_alone(a))
                continue;
            int bound = 0, lo = INT32_MAX, hi = 0;
            for (int dy = -1; dy <= 1; dy++)
                for (int dx = -1; dx <= 1; dx++) {
                    int nx = x + dx, ny = y + dy;
                    if (nx < 0 || ny < 0 || nx >= KW || ny >= KH || (nx < EDGE_X) != (x < EDGE_X))
                        continue;
                    float na = smooth->alpha[ny * KA_STRIDE + nx];
                    int nb = left_alone(na) ? 0 : inversion_bound(na, 2.5);
                    bound = nb > bound ? nb : bound;
                    lo = smooth->truth[ny * KW + nx] < lo ? smooth->truth[ny * KW + nx] : lo;
                    hi = smooth->truth[ny * KW + nx] > hi ? smooth->truth[ny * KW + nx] : hi;
                }
            bound += hi - lo + 1;
            int error = abs(smooth->out[k] - smooth->truth[k]);
            if (error > bound)
                fail_msg("(%d,%d) a=%.4f: smoothed %d, truth %d, error %d > bound %d", x, y, a,
                         smooth->out[k], smooth->truth[k], error, bound);
            max_error = error > max_error ? error : max_error;
            sum += error;
            count++;
        }
    report("unblend smoothing: mean %.3f max %d, bare mean %.3f max %d", sum / count, max_error,
           eb.mean_error, eb.max_error);
    assert_below(sum / count, 0.6 * eb.mean_error);
    kernel_run_free(bare);
    kernel_run_free(smooth);
}

/* The smoothing is the bilateral filter kernels.h and unblend.c describe,
 * computed here the plain way (expf per neighbour) from the inverted
 * samples: each neighbour inverted too weighs a e^(-d^2 / 2 range^2), d
 * its difference from the centre, range = 2 noise / (1 - a) at the
 * centre, and the centre 1 - a. The kernel may round differently (its
 * exponential is its own), never by more than a level: every inverted
 * sample of a noisy, textured plane in 8 bits is checked. */
static void test_unblend_smoothing_is_the_bilateral(void **state)
{
    (void)state;
    const double colour = 235;
    const float noise = 2.0f;
    kernel_run *r = kernel_run_new(8, 30, 200);
    run_unblend(r, colour, 2, noise);
    float *inverted = calloc((size_t)KW * KH, sizeof(float));
    for (int y = 0; y < KH; y++)
        for (int x = 0; x < KW; x++) {
            float a = r->alpha[y * KA_STRIDE + x];
            inverted[y * KW + x] = (r->marked[y * KW + x] - a * (float)colour) / (1.0f - a);
        }
    int checked = 0;
    for (int y = 0; y < KH; y++)
        for (int x = 0; x < KW; x++) {
            float a = r->alpha[y * KA_STRIDE + x];
            if (left_alone(a))
                continue;
            float centre = inverted[y * KW + x], range = 2.0f * noise / (1.0f - a);
            double sum = centre * (1.0f - a), weight = 1.0f - a;
            for (int dy = -1; dy <= 1; dy++)
                for (int dx = -1; dx <= 1; dx++) {
                    int nx = x + dx, ny = y + dy;
                    if ((!dx && !dy) || nx < 0 || ny < 0 || nx >= KW || ny >= KH ||
                        left_alone(r->alpha[ny * KA_STRIDE + nx]))
                        continue;
                    float d = (inverted[ny * KW + nx] - centre) / range;
                    double k = a * expf(-0.5f * d * d);
                    sum += inverted[ny * KW + nx] * k;
                    weight += k;
                }
            double v = sum / weight;
            long expected = lrint(v < 0 ? 0 : v > 255 ? 255 : v);
            if (labs(r->out[y * KW + x] - expected) > 1)
                fail_msg("(%d,%d) a=%.4f: smoothed %d, the bilateral filter gives %ld", x, y, a,
                         r->out[y * KW + x], expected);
            checked++;
        }
    assert_true(checked > 100);
    free(inverted);
    kernel_run_free(r);
}

/* A colour per sample (a mark over its own drop shadow): each sample is
 * inverted with its own W, exactly, in 8 and 10 bits; the scalar colour is
 * then not used. */
static void test_unblend_colour_map(void **state)
{
    (void)state;
    const float alpha[4] = {0.2f, 0.4f, 0.5f, 0.75f}, colours[4] = {16, 60, 150, 235};
    const int truth[4] = {90, 200, 30, 120};
    uint8_t p8[4];
    uint16_t p16[4];
    for (int x = 0; x < 4; x++) {
        p8[x] = (uint8_t)lrintf(alpha[x] * colours[x] + (1 - alpha[x]) * truth[x]);
        p16[x] = (uint16_t)lrintf(4 * (alpha[x] * colours[x] + (1 - alpha[x]) * truth[x]));
    }
    char scratch[256];
    assert_true(um_kernel_unblend_scratch(4, 1) <= sizeof(scratch));
    um_kernel_unblend_u8(p8, 4, alpha, 4, 4, 1, 255.0f, colours, 0.9f, 0, scratch);
    float colours16[4];
    for (int x = 0; x < 4; x++)
        colours16[x] = 4 * colours[x];
    um_kernel_unblend_u16(p16, sizeof(p16), alpha, 4, 4, 1, 0.0f, colours16, 0.9f, 0, 1023, scratch);
    for (int x = 0; x < 4; x++) {
        assert_in_range(p8[x], truth[x] - 2, truth[x] + 2);
        assert_in_range(p16[x], 4 * truth[x] - 4, 4 * truth[x] + 4);
    }
}

/* Results clamp to the sample range: a colour of 0 at a = 0.5 doubles J, so
 * the top levels would land past max_value (255, or 1023 in 10 bits, not
 * 65535). */
static void test_unblend_clamps(void **state)
{
    (void)state;
    const float alpha[4] = {0.5f, 0.5f, 0.5f, 0.5f};
    uint8_t p8[4] = {10, 127, 128, 255};
    char scratch[256];
    assert_true(um_kernel_unblend_scratch(4, 1) <= sizeof(scratch));
    um_kernel_unblend_u8(p8, 4, alpha, 4, 4, 1, 0.0f, NULL, 0.9f, 0, scratch);
    assert_int_equal(p8[0], 20);
    assert_int_equal(p8[1], 254);
    assert_int_equal(p8[2], 255);
    assert_int_equal(p8[3], 255);
    uint16_t p16[4] = {10, 511, 512, 1023};
    um_kernel_unblend_u16(p16, sizeof(p16), alpha, 4, 4, 1, 0.0f, NULL, 0.9f, 0, 1023, scratch);
    assert_int_equal(p16[0], 20);
    assert_int_equal(p16[1], 1022);
    assert_int_equal(p16[2], 1023);
    assert_int_equal(p16[3], 1023);
    /* And below 0: a white mark over black, J slightly under a W. */
    uint8_t dark[1] = {100};
    um_kernel_unblend_u8(dark, 1, alpha, 1, 1, 1, 255.0f, NULL, 0.9f, 0, scratch);
    assert_int_equal(dark[0], 0);
}

/* ---- frames for the fit and the remover -------------------------------- */

/* A 4:2:0 8-bit frame over caller-owned planes with padded strides. */
enum { FW = 160, FH = 96, F_STRIDE = 176, FC_STRIDE = 96, MARK_X = 40, MARK_Y = 30 };

typedef struct {
    um_frame f;
    uint8_t *planes[3];
} test_frame;

static void frame_init(test_frame *t)
{
    memset(t, 0, sizeof(*t));
    t->f.width = FW;
    t->f.height = FH;
    t->f.nb_planes = 3;
    t->f.depth = 8;
    t->f.log2_chroma_w = t->f.log2_chroma_h = 1;
    for (int p = 0; p < 3; p++) {
        ptrdiff_t stride = p ? FC_STRIDE : F_STRIDE;
        t->planes[p] = calloc((size_t)stride * (p ? FH / 2 : FH), 1);
        t->f.data[p] = t->planes[p];
        t->f.linesize[p] = stride;
    }
}

static void frame_free(test_frame *t)
{
    for (int p = 0; p < 3; p++)
        free(t->planes[p]);
}

static uint8_t *sample(const test_frame *t, int p, int x, int y)
{
    return t->planes[p] + (ptrdiff_t)y * t->f.linesize[p] + x;
}

/* A picture: luma and two chroma textures seen through a window moved by
 * (ox, oy) luma pixels. */
typedef struct {
    texture luma, chroma[2];
    /* With horizon > 0, a second picture below that row of the scene:
     * ground under a sky. */
    int horizon;
    texture ground;
} scene;

static int scene_luma(const scene *s, double x, double y)
{
    return texture_at(s->horizon && y >= s->horizon ? &s->ground : &s->luma, x, y);
}

static void paint(test_frame *t, const scene *s, double ox, double oy)
{
    for (int y = 0; y < FH; y++)
        for (int x = 0; x < FW; x++)
            *sample(t, 0, x, y) = (uint8_t)scene_luma(s, x + ox, y + oy);
    for (int p = 1; p < 3; p++)
        for (int y = 0; y < FH / 2; y++)
            for (int x = 0; x < FW / 2; x++)
                *sample(t, p, x, y) = (uint8_t)texture_at(&s->chroma[p - 1], 2 * x + ox, 2 * y + oy);
}

/* The mark's opacity at frame resolution (FW x FH, 0 outside the mark) and
 * on the chroma grid (the average of the 2 x 2 luma pixels, as an encoder
 * averages the blended picture). */
typedef struct {
    float luma[FH][FW];
    float chroma[FH / 2][FW / 2];
    double colour[3];
    int shaded;                /* luma W per pixel below instead of colour[0] */
    float luma_colour[FH][FW];
} mark;

static void mark_subsample(mark *m)
{
    for (int y = 0; y < FH / 2; y++)
        for (int x = 0; x < FW / 2; x++)
            m->chroma[y][x] = (m->luma[2 * y][2 * x] + m->luma[2 * y][2 * x + 1] +
                               m->luma[2 * y + 1][2 * x] + m->luma[2 * y + 1][2 * x + 1]) / 4;
}

/* The mark with its box's corner at (x0, y0). */
static void mark_init_at(mark *m, float peak, int x0, int y0)
{
    memset(m, 0, sizeof(*m));
    draw_mark(&m->luma[0][0], FW, x0, y0, peak);
    m->colour[0] = 235;
    m->colour[1] = m->colour[2] = 128;
    mark_subsample(m);
}

static void mark_init(mark *m, float peak)
{
    mark_init_at(m, peak, MARK_X, MARK_Y);
}

/* Blends the mark into every plane: J = round(a W + (1 - a) I). */
static void blend(test_frame *t, const mark *m)
{
    for (int y = 0; y < FH; y++)
        for (int x = 0; x < FW; x++) {
            double a = m->luma[y][x], w = m->shaded ? m->luma_colour[y][x] : m->colour[0];
            *sample(t, 0, x, y) = (uint8_t)lrint(a * w + (1 - a) * *sample(t, 0, x, y));
        }
    for (int p = 1; p < 3; p++)
        for (int y = 0; y < FH / 2; y++)
            for (int x = 0; x < FW / 2; x++) {
                double a = m->chroma[y][x];
                *sample(t, p, x, y) =
                    (uint8_t)lrint(a * m->colour[p] + (1 - a) * *sample(t, p, x, y));
            }
}

/* Adds noise of -noise..noise levels to every sample of plane p, clamped. */
static void add_noise(test_frame *t, int p, int noise, uint32_t *rng)
{
    int w = p ? FW / 2 : FW, h = p ? FH / 2 : FH;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            int v = *sample(t, p, x, y) + rng_int(rng, -noise, noise);
            *sample(t, p, x, y) = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
        }
}

/* The pictures the fit sees. Both move by (5, 3) px per frame, so what
 * lies under the mark changes from frame to frame. The detailed one has
 * texture down to 5 px, finer than the strokes, which the fit's inpainted
 * guesses cannot follow; the smooth one's detail is 12 px and up. */
static const scene detailed_scene = {
    .luma = {30, 200, 12, 5, 11u},
    .chroma = {{78, 178, 14, 6, 23u}, {78, 178, 14, 6, 37u}},
};
static const scene smooth_moving_scene = {
    .luma = {30, 200, 24, 12, 11u},
    .chroma = {{78, 178, 24, 12, 23u}, {78, 178, 24, 12, 37u}},
};

static void fit_frame_offset(int t, double *ox, double *oy)
{
    *ox = 5.0 * t;
    *oy = 3.0 * t;
}

/* Paints sc seen from (ox, oy) into t, blends mark m and gives the frame
 * to the fit as a sample of spot. */
static void add_painted_sample(um_matte_fit *fit, int spot, test_frame *t, const scene *sc, double ox, double oy,
                               const mark *m)
{
    paint(t, sc, ox, oy);
    blend(t, m);
    um_matte_fit_add_sample(fit, spot, &t->f);
}

static const um_box mark_box = {MARK_X, MARK_Y, MARK_X + MARK_W, MARK_Y + MARK_H};

/* A view of the part of t's frame that holds box (its corner moved down
 * and left onto the chroma grid), as the matte pass's crops are. */
static um_frame crop_view(const test_frame *t, um_box box)
{
    um_frame v = t->f;
    v.x0 = box.x1 & ~1;
    v.y0 = box.y1 & ~1;
    v.width = box.x2 - v.x0;
    v.height = box.y2 - v.y0;
    for (int p = 0; p < 3; p++)
        v.data[p] = sample(t, p, p ? v.x0 / 2 : v.x0, p ? v.y0 / 2 : v.y0);
    return v;
}

/* Fits the mark from `frames` frames of a moving scene: one spot at the
 * true box, the whole box as its shape; with track, the fit also learns
 * the scene behind the mark from every frame; with crops, the fit is given
 * only the parts of the frames it says it needs. NULL when the fit
 * declines. */
static um_matte *fit_mark_tracked(const mark *m, int frames, const scene *sc, int track, int crops)
{
    um_matte_fit *fit = um_matte_fit_new(FW, FH);
    int spot = um_matte_fit_add_spot(fit, mark_box, 0, NULL, 0);
    if (track)
        um_matte_fit_track_background(fit, spot);
    test_frame t;
    frame_init(&t);
    for (int i = 0; i < frames; i++) {
        double ox, oy;
        fit_frame_offset(i, &ox, &oy);
        paint(&t, sc, ox, oy);
        blend(&t, m);
        um_frame follow = crops ? crop_view(&t, um_matte_fit_needs(fit, spot, 1)) : t.f;
        um_frame take = crops ? crop_view(&t, um_matte_fit_needs(fit, spot, 0)) : t.f;
        um_matte_fit_add_frame(fit, spot, &follow);
        um_matte_fit_add_sample(fit, spot, &take);
    }
    assert_int_equal(um_matte_fit_samples(fit, spot), frames < 64 ? frames : 64);
    um_matte *matte = NULL;
    um_matte_fit_solve(fit, &matte);
    um_matte_fit_free(&fit);
    assert_null(fit);
    frame_free(&t);
    return matte;
}

static um_matte *fit_mark(const mark *m, int frames, const scene *sc)
{
    return fit_mark_tracked(m, frames, sc, 0, 0);
}

/* The fitted luma opacity at frame pixel (x, y); 0 outside the crop. */
static float fitted_alpha(const um_matte *m, int x, int y)
{
    um_box c = m->crop;
    if (x < c.x1 || y < c.y1 || x >= c.x2 || y >= c.y2)
        return 0;
    return m->alpha[0][(size_t)(y - c.y1) * m->pw[0] + (x - c.x1)];
}

typedef struct {
    double mark_error;   /* mean |a' - a| where a > 0.05 */
    double clear_alpha;  /* mean a' over the crop where a == 0 */
    double max_error;    /* max |a' - a| where a > 0.05 */
} alpha_errors;

static alpha_errors compare_alpha(const um_matte *fitted, const mark *m)
{
    alpha_errors e = {0, 0, 0};
    int in = 0, out = 0;
    for (int y = fitted->crop.y1; y < fitted->crop.y2; y++)
        for (int x = fitted->crop.x1; x < fitted->crop.x2; x++) {
            double truth = m->luma[y][x], got = fitted_alpha(fitted, x, y);
            if (truth > 0.05) {
                e.mark_error += fabs(got - truth);
                e.max_error = fmax(e.max_error, fabs(got - truth));
                in++;
            } else if (truth == 0) {
                e.clear_alpha += got;
                out++;
            }
        }
    e.mark_error /= in;
    e.clear_alpha /= out;
    return e;
}

/* ---- 3, 4: the fit ----------------------------------------------------- */

typedef struct {
    const char *name;
    const scene *picture;
    double colour_tolerance; /* levels, every plane */
    double alpha_error;      /* bound on mean |a' - a| over the mark */
    double clear_alpha;      /* bound on mean a' where a == 0 */
} fit_case;

/*
 * The bounds are about 1.5x what was measured (below). For scale: the true
 * matte one pixel off its place is 0.11 off on average, and W taken from
 * the joint fit alone (no spread) comes out at 198 with a 0.20 error.
 *   detailed: W 230.01 / 127.70 / 126.40 [4.99 off], mean |a' - a| 0.0429
 *             (max 0.19), mean a' 0.0020 where a == 0. The fit's inpainted
 *             guess of the picture cannot follow 5 px detail, and its errors
 *             bias a up (W down in step). With the first fit (the region's)
 *             by least squares it was W 233.16, 0.0346: the moments' region
 *             (see first_alpha in matte_fit.c) costs this case a little and
 *             gains 12 dB on a pattern panning under a text mark (the
 *             hold-out h3 of bench/holdouts.sh);
 *   smooth:   W 234.05 / 127.45 / 128.72 [0.95 off], mean |a' - a| 0.0058
 *             (max 0.03), mean a' 0.0003 where a == 0.
 */
static const fit_case fit_cases[] = {
    {"detailed", &detailed_scene, 6.0, 0.055, 0.004},
    {"smooth", &smooth_moving_scene, 1.5, 0.009, 0.0005},
};

/*
 * The fit recovers a known mark from 40 frames of a moving picture: W on
 * every plane, and the opacity over the mark and around it. The crop covers
 * the box with 8 px around it, on the 4-pixel grid, and the chroma planes
 * carry the fitted luma opacity averaged 2 x 2.
 */
static void test_fit_recovers_known_mark(void **state)
{
    (void)state;
    static mark m;
    mark_init(&m, 0.75f);
    for (size_t i = 0; i < sizeof(fit_cases) / sizeof(fit_cases[0]); i++) {
        const fit_case *c = &fit_cases[i];
        um_matte *matte = fit_mark(&m, 40, c->picture);
        assert_non_null(matte);

        double colour[3];
        um_box crop;
        um_matte_describe(matte, colour, &crop);
        alpha_errors e = compare_alpha(matte, &m);
        report("fit %s: W %.2f %.2f %.2f, mean |a'-a| %.4f (max %.3f) over the mark, mean a' %.4f "
               "where a = 0", c->name, colour[0], colour[1], colour[2], e.mark_error, e.max_error,
               e.clear_alpha);
        for (int p = 0; p < 3; p++)
            if (fabs(colour[p] - m.colour[p]) > c->colour_tolerance)
                fail_msg("%s: W[%d] = %.2f, not within %.1f of %.0f", c->name, p, colour[p],
                         c->colour_tolerance, m.colour[p]);
        assert_below(e.mark_error, c->alpha_error);
        assert_below(e.clear_alpha, c->clear_alpha);

        /* The box with 8 px around it, rounded out to multiples of 4. */
        assert_int_equal(crop.x1, 32);
        assert_int_equal(crop.y1, 20);
        assert_int_equal(crop.x2, 100);
        assert_int_equal(crop.y2, 64);
        assert_int_equal(matte->nb_planes, 3);
        assert_int_equal(matte->pw[0], crop.x2 - crop.x1);
        assert_int_equal(matte->ph[0], crop.y2 - crop.y1);
        for (int p = 1; p < 3; p++) {
            assert_int_equal(matte->px[p], crop.x1 / 2);
            assert_int_equal(matte->py[p], crop.y1 / 2);
            assert_int_equal(matte->pw[p], (crop.x2 - crop.x1) / 2);
            assert_int_equal(matte->ph[p], (crop.y2 - crop.y1) / 2);
        }
        /* Chroma: the fitted luma opacity averaged onto the chroma grid. */
        for (int y = 0; y < matte->ph[1]; y++)
            for (int x = 0; x < matte->pw[1]; x++) {
                int lx = crop.x1 + 2 * x, ly = crop.y1 + 2 * y;
                float want = (fitted_alpha(matte, lx, ly) + fitted_alpha(matte, lx + 1, ly) +
                              fitted_alpha(matte, lx, ly + 1) + fitted_alpha(matte, lx + 1, ly + 1)) /
                             4;
                assert_float_equal(matte->alpha[1][y * matte->pw[1] + x], want, 1e-5);
                assert_float_equal(matte->alpha[2][y * matte->pw[1] + x], want, 1e-5);
            }
        um_matte_free(&matte);
        assert_null(matte);
    }
}

/*
 * A mark that never leaves, over a moving camera: the fit learns the scene
 * behind it from the frames around it and fits against the true picture,
 * not an inpainted guess, so the detailed scene's bias (0.0346 without
 * tracking, above) goes. Pixels seen behind the mark in enough samples use
 * only those, and W is fitted with a from them. Measured: W 235.31 (true
 * 235), mean |a' - a| 0.0011 (max 0.003); mixing in the guessed samples
 * had left W at 231.47 and the error at 0.0117.
 */
static void test_fit_tracks_background(void **state)
{
    (void)state;
    static mark m;
    mark_init(&m, 0.75f);
    um_matte *guessed = fit_mark_tracked(&m, 40, &detailed_scene, 0, 0);
    um_matte *tracked = fit_mark_tracked(&m, 40, &detailed_scene, 1, 0);
    assert_non_null(guessed);
    assert_non_null(tracked);
    alpha_errors g = compare_alpha(guessed, &m), e = compare_alpha(tracked, &m);
    double colour[3];
    um_box crop;
    um_matte_describe(tracked, colour, &crop);
    report("tracked fit: W %.2f %.2f %.2f, mean |a'-a| %.4f (max %.3f), without tracking %.4f", colour[0],
           colour[1], colour[2], e.mark_error, e.max_error, g.mark_error);
    assert_below(fabs(colour[0] - m.colour[0]), 1.5);
    assert_below(e.mark_error, 0.1 * g.mark_error);
    assert_below(e.clear_alpha, 0.004);
    um_matte_free(&guessed);
    um_matte_free(&tracked);
}

/*
 * A mark of a middling grey (W 115) that never leaves, over a moving
 * camera whose picture (30 to 200) lies now above, now below it: the first
 * fit, which decides where the mark is, fits the pixels seen behind the
 * mark by least squares, as the final one does. Its moments, sum (J - Î) /
 * sum (W - Î), add up samples on both sides of W to almost nothing there
 * whatever the opacity, and cut the pixels they put under 0.1 out of the
 * mark. Measured: W 114.99, mean |a' - a| 0.0023 (max 0.012); with the
 * moments there, 0.2587 (max 0.750).
 */
static void test_fit_tracks_background_middling_colour(void **state)
{
    (void)state;
    static mark m;
    mark_init(&m, 0.75f);
    m.colour[0] = 115;
    um_matte *tracked = fit_mark_tracked(&m, 40, &detailed_scene, 1, 0);
    assert_non_null(tracked);
    alpha_errors e = compare_alpha(tracked, &m);
    double colour[3];
    um_box crop;
    um_matte_describe(tracked, colour, &crop);
    report("middling colour: W %.2f, mean |a'-a| %.4f (max %.3f)", colour[0], e.mark_error, e.max_error);
    assert_below(fabs(colour[0] - m.colour[0]), 1.5);
    assert_below(e.mark_error, 0.01);
    um_matte_free(&tracked);
}

/* Smooth pictures whose colour changes under the mark far more than their
 * brightness (luma within 4 or 10 levels, chroma 40 to 216), as a scene
 * panning from blue to orange does: in the first, the colour's detail is as
 * coarse as a sky's; in the second, finer than the brightness's. */
static const scene colourful_scene = {
    .luma = {118, 122, 24, 12, 11u},
    .chroma = {{40, 216, 48, 24, 23u}, {40, 216, 48, 24, 37u}},
};
static const scene colour_detail_scene = {
    .luma = {115, 125, 24, 12, 11u},
    .chroma = {{40, 216, 24, 12, 23u}, {40, 216, 24, 12, 37u}},
};

/*
 * A yellow mark (W 200 / 60 / 150) that never leaves, with no frame in
 * which its picture was seen. Over colourful_scene luma alone can hardly
 * tell a from W (W 183.26, mean |a' - a| 0.1156), the colour planes can,
 * and the fit takes W of every plane together with one opacity shared by
 * the planes: W 199.21, 0.0318. Over colour_detail_scene the colour planes'
 * guesses are the worse (W 196.07, 0.0206, taken together), and luma
 * decides alone: W 198.85, 0.0059. The bounds are about 1.5x these.
 */
static void test_fit_takes_w_from_colour_planes(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        const scene *picture;
        double alpha_error;
    } cases[] = {
        {"colour changes", &colourful_scene, 0.05},
        {"colour detail", &colour_detail_scene, 0.01},
    };
    static mark m;
    mark_init(&m, 0.75f);
    m.colour[0] = 200;
    m.colour[1] = 60;
    m.colour[2] = 150;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        um_matte *matte = fit_mark(&m, 40, cases[i].picture);
        assert_non_null(matte);
        alpha_errors e = compare_alpha(matte, &m);
        double colour[3];
        um_box crop;
        um_matte_describe(matte, colour, &crop);
        report("%s: W %.2f %.2f %.2f, mean |a'-a| %.4f (max %.3f)", cases[i].name, colour[0], colour[1],
               colour[2], e.mark_error, e.max_error);
        assert_below(fabs(colour[0] - m.colour[0]), 2.0);
        assert_below(e.mark_error, cases[i].alpha_error);
        um_matte_free(&matte);
    }
}

/* The matte pass hands the fit crops that detection kept instead of whole
 * frames: given just what it says it needs, the fit (the scene behind the
 * mark included) comes out the same, sample for sample. */
static void test_fit_from_crops(void **state)
{
    (void)state;
    static mark m;
    mark_init(&m, 0.75f);
    um_matte *whole = fit_mark_tracked(&m, 40, &detailed_scene, 1, 0);
    um_matte *cropped = fit_mark_tracked(&m, 40, &detailed_scene, 1, 1);
    assert_non_null(whole);
    assert_non_null(cropped);
    assert_memory_equal(&whole->crop, &cropped->crop, sizeof(um_box));
    for (int p = 0; p < whole->nb_planes; p++) {
        assert_true(whole->colour[p] == cropped->colour[p]);
        assert_memory_equal(whole->alpha[p], cropped->alpha[p],
                            (size_t)whole->pw[p] * whole->ph[p] * sizeof(float));
    }
    um_matte_free(&whole);
    um_matte_free(&cropped);
}

/*
 * Too few samples: a spot seen in 3 frames gets no matte (it is filled
 * instead), while another mark's spot in the same fit, seen often enough,
 * still gets one; 6 samples, the documented minimum, is enough.
 */
static void test_fit_needs_enough_samples(void **state)
{
    (void)state;
    static mark m;
    mark_init(&m, 0.75f);
    um_matte *few = fit_mark(&m, 3, &detailed_scene);
    assert_null(few);
    um_matte *five = fit_mark(&m, 5, &detailed_scene);
    assert_null(five);
    um_matte *six = fit_mark(&m, 6, &detailed_scene);
    assert_non_null(six);
    um_matte_free(&six);

    /* Two marks in one fit: only the starved one is left out. */
    um_matte_fit *fit = um_matte_fit_new(FW, FH);
    int starved = um_matte_fit_add_spot(fit, mark_box, 0, NULL, 0);
    int fed = um_matte_fit_add_spot(fit, mark_box, 1, NULL, 0);
    test_frame t;
    frame_init(&t);
    for (int i = 0; i < 12; i++) {
        double ox, oy;
        fit_frame_offset(i, &ox, &oy);
        paint(&t, &detailed_scene, ox, oy);
        blend(&t, &m);
        if (i < 3)
            um_matte_fit_add_sample(fit, starved, &t.f);
        um_matte_fit_add_sample(fit, fed, &t.f);
    }
    assert_int_equal(um_matte_fit_samples(fit, starved), 3);
    assert_int_equal(um_matte_fit_samples(fit, fed), 12);
    /* Not NULL beforehand: the solve must set both. */
    um_matte *mattes[2] = {(um_matte *)&mattes, (um_matte *)&mattes};
    um_matte_fit_solve(fit, mattes);
    assert_null(mattes[starved]);
    assert_non_null(mattes[fed]);
    um_matte_free(&mattes[fed]);
    um_matte_fit_free(&fit);
    frame_free(&t);
}

/* The mark at two spots, A and B, for the fits of a mark that hops. */
enum { A_X = 8, A_Y = 30, B_X = 100, B_Y = 60 };

typedef struct {
    mark at_a, at_b;
    um_box a_box, b_box;
} two_spots;

static const two_spots *hop_spots(void)
{
    static two_spots sp;
    static int ready;
    if (!ready) {
        mark_init_at(&sp.at_a, 0.75f, A_X, A_Y);
        mark_init_at(&sp.at_b, 0.75f, B_X, B_Y);
        sp.a_box = (um_box){A_X, A_Y, A_X + MARK_W, A_Y + MARK_H};
        sp.b_box = (um_box){B_X, B_Y, B_X + MARK_W, B_Y + MARK_H};
        ready = 1;
    }
    return &sp;
}

/* A fit of sp's two spots, a first (*a) and b (*b). */
static um_matte_fit *fit_of_two_spots(const two_spots *sp, int *a, int *b)
{
    um_matte_fit *fit = um_matte_fit_new(FW, FH);
    *a = um_matte_fit_add_spot(fit, sp->a_box, 0, NULL, 0);
    *b = um_matte_fit_add_spot(fit, sp->b_box, 0, NULL, 0);
    return fit;
}

/* Solves a fit of spots a and b: a's matte (b's must come out too, and is
 * freed with the fit). */
static um_matte *solve_first(um_matte_fit **fit, int a, int b)
{
    um_matte *mattes[2] = {NULL, NULL};
    um_matte_fit_solve(*fit, mattes);
    assert_non_null(mattes[a]);
    assert_non_null(mattes[b]);
    um_matte_free(&mattes[b]);
    um_matte_fit_free(fit);
    return mattes[a];
}

/*
 * A mark that hops between two spots, over a different picture at each:
 * at one, a shaking camera sweeps a horizon (a bright sky over dark ground)
 * across its upper strokes; at the other, smooth ground moves under it.
 * Over the horizon the picture under the strokes spreads unlike the
 * picture around them (the swept rows against the still rows above and
 * below), so that spot's spread puts W 20 to 50 levels low, and the
 * spots disagree. W then comes from the hops, each pixel weighted by how
 * well its guessed picture let it fit.
 * Measured (horizon at row, sway): W and mean |a' - a| from the spread's
 * median, from the hops with one weight per spot, and with the region's
 * first fit by least squares:
 *   34, 3 px: 229.1 0.068, 223.1 0.083, 234.9 0.051;
 *   30, 3 px: 226.9,       224.8,       236.6 0.051.
 * Now (the region's first fit by moments, pooled over the spots):
 *   34, 3 px: 230.5 0.021;   30, 3 px: 229.2 0.026.
 * W is further off, but the opacity (what the removal divides by) is
 * twice as close; the bound on it fails with the least-squares region.
 */
typedef struct {
    int horizon; /* scene row; the mark's box spans frame rows 30-53 */
    double sway; /* rows up and down */
} hop_case;

static const hop_case hop_cases[] = {{34, 3}, {30, 3}};

static const scene horizon_scene = {
    .luma = {150, 230, 24, 6, 51u},
    .chroma = {{78, 178, 24, 12, 23u}, {78, 178, 24, 12, 37u}},
    .ground = {20, 70, 24, 6, 61u},
};

/* Fits the mark from 40 frames at each of two spots, over the horizon at
 * one and smooth ground at the other; returns the first spot's matte. */
static um_matte *fit_hops(const hop_case *c, const two_spots *sp)
{
    scene sky = horizon_scene;
    sky.horizon = c->horizon;
    int a, b;
    um_matte_fit *fit = fit_of_two_spots(sp, &a, &b);
    test_frame t;
    frame_init(&t);
    for (int i = 0; i < 40; i++) {
        add_painted_sample(fit, a, &t, &sky, 3.0 * i, c->sway * sin(0.7 * i), &sp->at_a);
        double ox, oy;
        fit_frame_offset(i, &ox, &oy);
        add_painted_sample(fit, b, &t, &smooth_moving_scene, ox, oy, &sp->at_b);
    }
    frame_free(&t);
    return solve_first(&fit, a, b);
}

static void test_fit_hops_decide_colour(void **state)
{
    (void)state;
    const two_spots *sp = hop_spots();
    for (size_t i = 0; i < sizeof(hop_cases) / sizeof(hop_cases[0]); i++) {
        um_matte *matte = fit_hops(&hop_cases[i], sp);
        double colour[3];
        um_box crop;
        um_matte_describe(matte, colour, &crop);
        alpha_errors e = compare_alpha(matte, &sp->at_a);
        report("hops, horizon at %d, sway %.0f: W %.2f, mean |a'-a| %.4f", hop_cases[i].horizon,
               hop_cases[i].sway, colour[0], e.mark_error);
        assert_below(fabs(colour[0] - sp->at_a.colour[0]), 6.0);
        assert_below(e.mark_error, 0.04);
        um_matte_free(&matte);
    }
}

/*
 * A still camera: the picture never moves, and the mark hops between two
 * spots, 20 frames at each, with +-1 level of noise in every frame. The
 * picture under the mark never changes, so its spread says nothing, and the
 * inpainted guesses cannot follow the 5 px texture; but the frames with the
 * mark at the other spot show the very picture under it, and the hops
 * part a from W. Measured: W 235.26, mean |a' - a| 0.0026 with the clear
 * frames; without them W 208.28, 0.147. Over a moving camera the clear
 * frames must change nothing.
 */
static um_matte *fit_hopping(const two_spots *sp, const scene *sc, int moving, int with_clear)
{
    int a, b;
    um_matte_fit *fit = fit_of_two_spots(sp, &a, &b);
    test_frame t;
    frame_init(&t);
    uint32_t rng = 7u;
    for (int i = 0; i < 40; i++) {
        int at_first = i < 20;
        double ox = 0, oy = 0;
        if (moving)
            fit_frame_offset(i, &ox, &oy);
        paint(&t, sc, ox, oy);
        blend(&t, at_first ? &sp->at_a : &sp->at_b);
        add_noise(&t, 0, 1, &rng);
        um_matte_fit_add_sample(fit, at_first ? a : b, &t.f);
        if (with_clear)
            um_matte_fit_add_clear(fit, at_first ? b : a, &t.f);
    }
    frame_free(&t);
    return solve_first(&fit, a, b);
}

static void test_fit_still_camera(void **state)
{
    (void)state;
    const two_spots *sp = hop_spots();
    um_matte *with = fit_hopping(sp, &detailed_scene, 0, 1);
    um_matte *without = fit_hopping(sp, &detailed_scene, 0, 0);
    double colour[3], guessed[3];
    um_box crop;
    um_matte_describe(with, colour, &crop);
    um_matte_describe(without, guessed, &crop);
    alpha_errors e = compare_alpha(with, &sp->at_a), g = compare_alpha(without, &sp->at_a);
    report("still camera: W %.2f, mean |a'-a| %.4f; without the clear frames W %.2f, %.4f", colour[0],
           e.mark_error, guessed[0], g.mark_error);
    assert_below(fabs(colour[0] - sp->at_a.colour[0]), 1.5);
    assert_below(e.mark_error, 0.01);
    um_matte_free(&with);
    um_matte_free(&without);

    /* A moving camera: the clear frames show another picture than the
     * samples, and change nothing. */
    with = fit_hopping(sp, &smooth_moving_scene, 1, 1);
    without = fit_hopping(sp, &smooth_moving_scene, 1, 0);
    assert_true(with->colour[0] == without->colour[0]);
    assert_memory_equal(with->alpha[0], without->alpha[0], (size_t)with->pw[0] * with->ph[0] * sizeof(float));
    um_matte_free(&with);
    um_matte_free(&without);
}

/*
 * A mark that hops to a place where it cannot be seen on its own: 40
 * frames at spot A over a moving picture, 8 at spot B over a flat white
 * one (the mark's own colour, so J = I there and B's own first fit finds
 * nothing to match A's). B's box is A's size, so it is the same mark: it
 * pools with A at the boxes' shift and gets the mark's opacity, where on
 * its own it kept about none and left the mark in place (hold-out h6's
 * third place). Measured: mean |a' - a| at B 0.0039 pooled; 0.4000 on its
 * own.
 */
static void test_fit_pools_spot_by_its_box(void **state)
{
    (void)state;
    static const scene white = {
        .luma = {235, 235, 24, 12, 3u},
        .chroma = {{128, 128, 24, 12, 5u}, {128, 128, 24, 12, 7u}},
    };
    const two_spots *sp = hop_spots();
    int a, b;
    um_matte_fit *fit = fit_of_two_spots(sp, &a, &b);
    test_frame t;
    frame_init(&t);
    for (int i = 0; i < 40; i++) {
        double ox, oy;
        fit_frame_offset(i, &ox, &oy);
        add_painted_sample(fit, a, &t, &smooth_moving_scene, ox, oy, &sp->at_a);
        if (i < 8)
            add_painted_sample(fit, b, &t, &white, 0, 0, &sp->at_b);
    }
    frame_free(&t);
    um_matte *matte = solve_first(&fit, b, a);
    alpha_errors e = compare_alpha(matte, &sp->at_b);
    report("spot over white: mean |a'-a| %.4f", e.mark_error);
    assert_below(e.mark_error, 0.05);
    um_matte_free(&matte);
}

/*
 * A mark with a drop shadow, as the benchmark's generator draws one: under
 * the strokes a dark layer (W 16) of their shape, blurred (5 x 5 box),
 * moved 2 px right and down, at 0.4 opacity. The composite's opacity is
 * a + s (1 - a) and its colour (a 235 + (1 - a) s 16) / that: black in the
 * fringe where only the shadow lies, a little darker than 235 over it.
 */
enum { SHADOW_OFFSET = 2, SHADOW_BLUR = 2 };

static void mark_with_shadow(mark *m, int x0, int y0)
{
    const float peak = 0.75f, shadow = 0.4f, dark = 16;
    mark_init_at(m, peak, x0, y0);
    static float strokes[FH][FW];
    memcpy(strokes, m->luma, sizeof(strokes));
    m->shaded = 1;
    for (int y = 0; y < FH; y++)
        for (int x = 0; x < FW; x++) {
            double sum = 0;
            for (int dy = -SHADOW_BLUR; dy <= SHADOW_BLUR; dy++)
                for (int dx = -SHADOW_BLUR; dx <= SHADOW_BLUR; dx++) {
                    int sx = x - SHADOW_OFFSET + dx, sy = y - SHADOW_OFFSET + dy;
                    if (sx >= 0 && sy >= 0 && sx < FW && sy < FH)
                        sum += strokes[sy][sx] / peak;
                }
            float a = strokes[y][x];
            float s = shadow * (float)(sum / ((2 * SHADOW_BLUR + 1) * (2 * SHADOW_BLUR + 1)));
            float total = a + s * (1 - a);
            m->luma[y][x] = total;
            m->luma_colour[y][x] = total > 0 ? (a * 235 + (1 - a) * s * dark) / total : 235;
        }
    mark_subsample(m);
}

typedef struct {
    double fringe; /* mean |I' - I| where only the shadow lies */
    double strokes; /* mean |I' - I| where the strokes lie (a > 0.05) */
} shadow_errors;

/* The fitted luma colour at frame pixel (x, y), inside the crop. */
static double fitted_colour(const um_matte *m, int x, int y)
{
    if (!m->colour_map[0])
        return m->colour[0];
    return m->colour_map[0][(size_t)(y - m->crop.y1) * m->pw[0] + (x - m->crop.x1)];
}

/* What restoring through the fitted matte gets wrong, per pixel: the
 * picture I under the true composite J = a W + (1 - a) I, inverted with
 * the fitted a' and W', (J - a' W') / (1 - a') - I, averaged over pictures
 * of 40, 128 and 200 levels. Pixels past the remover's inversion limit
 * (0.9) are left out: they are filled, not inverted. */
static shadow_errors compare_shadow(const um_matte *fitted, const mark *m, const float (*strokes)[FW])
{
    static const double pictures[] = {40, 128, 200};
    shadow_errors e = {0, 0};
    int in_fringe = 0, in_strokes = 0;
    for (int y = fitted->crop.y1; y < fitted->crop.y2; y++)
        for (int x = fitted->crop.x1; x < fitted->crop.x2; x++) {
            double a = m->luma[y][x], got = fitted_alpha(fitted, x, y), w = fitted_colour(fitted, x, y);
            if (a < 0.05 || got > 0.9)
                continue;
            double error = 0;
            for (int i = 0; i < 3; i++) {
                double j = a * m->luma_colour[y][x] + (1 - a) * pictures[i];
                error += fabs((j - got * w) / (1 - got) - pictures[i]) / 3;
            }
            if (strokes[y][x] == 0) {
                e.fringe += error;
                in_fringe++;
            } else if (strokes[y][x] > 0.05) {
                e.strokes += error;
                in_strokes++;
            }
        }
    e.fringe /= in_fringe;
    e.strokes /= in_strokes;
    return e;
}

/*
 * The shadowed mark hops between two spots over a moving picture, 40
 * frames at each, with +-1 level of noise. One W cannot explain it: the
 * fit's W comes out 206.9, between the strokes' and the shadow's, and
 * with it alone the fringe kept much of its shadow (restored 11.6 levels
 * off on average, the strokes 15.4). With a colour of their own for the
 * pixels whose pictures tell it (shade_pixels): 6.1 and 11.5. With the
 * shadow fitted as a layer (matte_shadow.c: the box blur drawn here taken
 * for a Gaussian): 1.9 and 8.1.
 */
static void test_fit_gives_shadow_its_colour(void **state)
{
    (void)state;
    static mark at_a, at_b, plain;
    mark_with_shadow(&at_a, A_X, A_Y);
    mark_with_shadow(&at_b, B_X, B_Y);
    mark_init_at(&plain, 0.75f, A_X, A_Y);
    int grow = SHADOW_OFFSET + SHADOW_BLUR;
    um_box a_box = {A_X, A_Y, A_X + MARK_W + grow, A_Y + MARK_H + grow};
    um_box b_box = {B_X, B_Y, B_X + MARK_W + grow, B_Y + MARK_H + grow};
    um_matte_fit *fit = um_matte_fit_new(FW, FH);
    int a = um_matte_fit_add_spot(fit, a_box, 0, NULL, 0);
    int b = um_matte_fit_add_spot(fit, b_box, 0, NULL, 0);
    test_frame t;
    frame_init(&t);
    uint32_t rng = 3u;
    for (int i = 0; i < 40; i++) {
        double ox, oy;
        fit_frame_offset(i, &ox, &oy);
        paint(&t, &smooth_moving_scene, ox, oy);
        blend(&t, &at_a);
        add_noise(&t, 0, 1, &rng);
        um_matte_fit_add_sample(fit, a, &t.f);
        paint(&t, &smooth_moving_scene, 300 - ox, 200 + oy);
        blend(&t, &at_b);
        add_noise(&t, 0, 1, &rng);
        um_matte_fit_add_sample(fit, b, &t.f);
    }
    frame_free(&t);
    um_matte *matte = solve_first(&fit, a, b);
    shadow_errors e = compare_shadow(matte, &at_a, plain.luma);
    report("shadow: restored off by %.2f levels in the fringe, %.2f over the strokes; W %.1f%s", e.fringe,
           e.strokes, matte->colour[0], matte->colour_map[0] ? ", a colour per pixel" : "");
    assert_non_null(matte->colour_map[0]);
    assert_below(e.fringe, 3.0);
    assert_below(e.strokes, 9.5);

    /* Exported as a template (one W), the fringe's opacity is what takes
     * off as much as its own dark colour did: far less than fitted. */
    um_matte_template exported;
    um_matte_export(matte, &exported);
    double fitted = 0, written = 0;
    for (int y = matte->crop.y1; y < matte->crop.y2; y++)
        for (int x = matte->crop.x1; x < matte->crop.x2; x++)
            if (plain.luma[y][x] == 0 && at_a.luma[y][x] > 0.05) {
                fitted += fitted_alpha(matte, x, y);
                written += exported.alpha[(y - matte->crop.y1) * exported.stride + (x - matte->crop.x1)] / 255.0;
            }
    report("shadow exported: the fringe's opacity %.1f against %.1f fitted (summed)", written, fitted);
    assert_below(written, 0.5 * fitted);
    free((void *)exported.alpha);
    um_matte_free(&matte);
}

/* ---- 5, 6: the remover with a matte ------------------------------------- */

/* The box a detection hands the remover for the mark, with its matte. */
static um_region matte_box(const um_matte *matte)
{
    return (um_region){MARK_X, MARK_Y, MARK_W, MARK_H, 0, -1, NULL, 0, matte};
}

/* A smooth, static picture for the remover to restore: its luma keeps 75+
 * levels below W, so a pixel left at W shows. */
static const scene still_scene = {
    .luma = {40, 150, 24, 12, 51u},
    .chroma = {{98, 158, 24, 12, 53u}, {98, 158, 24, 12, 57u}},
};

/* The mark of the residue test: 0.6 with an opaque 4 x 4 core in the flat
 * middle of the "U"'s left stroke (x 42..46). */
enum { CORE_X = MARK_X + 3, CORE_Y = MARK_Y + 8, CORE = 4 };

static void mark_with_core(mark *m)
{
    mark_init(m, 0.6f);
    for (int y = CORE_Y; y < CORE_Y + CORE; y++)
        for (int x = CORE_X; x < CORE_X + CORE; x++)
            m->luma[y][x] = 1.0f;
    mark_subsample(m);
}

static um_remover *remover_new(um_remove_method method, int transparent)
{
    um_remover *r = NULL;
    um_error err = {0};
    um_remove_config c = {.method = method, .transparent = transparent};
    assert_int_equal(um_remove_create(&r, &c, FW, FH, &err), 0);
    return r;
}

typedef struct {
    int core_max, soft_max;
    double core_mean, soft_mean;
} restore_errors;

/* Luma errors against the truth on the core (a == 1) and on the rest of the
 * mark (a > 0.05); outside the matte's crop nothing may have changed. */
static restore_errors luma_errors(const test_frame *got, const test_frame *truth, const mark *m,
                                  um_box crop)
{
    restore_errors e = {0, 0, 0, 0};
    int core_n = 0, soft_n = 0;
    for (int y = 0; y < FH; y++)
        for (int x = 0; x < FW; x++) {
            int error = abs(*sample(got, 0, x, y) - *sample(truth, 0, x, y));
            float a = m->luma[y][x];
            if (a == 1.0f) {
                e.core_max = error > e.core_max ? error : e.core_max;
                e.core_mean += error;
                core_n++;
            } else if (a > 0.05f) {
                e.soft_max = error > e.soft_max ? error : e.soft_max;
                e.soft_mean += error;
                soft_n++;
            } else if (x < crop.x1 || x >= crop.x2 || y < crop.y1 || y >= crop.y2) {
                if (error)
                    fail_msg("(%d,%d) outside the matte changed by %d", x, y, error);
            }
        }
    e.core_mean = core_n ? e.core_mean / core_n : 0;
    e.soft_mean /= soft_n;
    return e;
}

typedef struct {
    um_remove_method method;
    const char *name;
} method_run;

/*
 * Residue where a = 1: a mark of 0.6 with an opaque 4 x 4 core (the fit
 * clamps a to 1 there) is fitted from the smooth moving picture; on a
 * marked frame of another picture, the remover restores the
 * semi-transparent part by inverting the blend and fills the core, whose
 * picture is gone, from around it; both with the auto method (residue
 * above a = 0.9) and with unblend (above 0.98). Chroma is restored too.
 * The inpaint method ignores the matte and fills the whole box.
 * Measured (both methods): core mean 0.69, max 2 (a core left at W would be
 * 75+ off); the rest mean 1.03, max 5; chroma max 2.
 */
static void test_remover_fills_opaque_core(void **state)
{
    (void)state;
    static mark m;
    mark_with_core(&m);
    um_matte *matte = fit_mark(&m, 40, &smooth_moving_scene);
    assert_non_null(matte);
    for (int y = CORE_Y; y < CORE_Y + CORE; y++)
        for (int x = CORE_X; x < CORE_X + CORE; x++)
            assert_true(fitted_alpha(matte, x, y) > 0.98f);

    test_frame truth, t;
    frame_init(&truth);
    frame_init(&t);
    paint(&truth, &still_scene, 0, 0);
    um_region box = matte_box(matte);
    um_error err = {0};
    static const method_run methods[] = {{UM_METHOD_AUTO, "auto"}, {UM_METHOD_UNBLEND, "unblend"}};
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
        um_remover *r = remover_new(methods[i].method, 0);
        paint(&t, &still_scene, 0, 0);
        blend(&t, &m);
        assert_int_equal(um_remove_frame(r, &t.f, &box, 1, &err), 0);
        restore_errors e = luma_errors(&t, &truth, &m, matte->crop);
        int chroma_max = 0;
        for (int p = 1; p < 3; p++)
            for (int y = 0; y < FH / 2; y++)
                for (int x = 0; x < FW / 2; x++) {
                    int error = abs(*sample(&t, p, x, y) - *sample(&truth, p, x, y));
                    chroma_max = error > chroma_max ? error : chroma_max;
                }
        report("residue %s: core max %d mean %.2f; restored max %d mean %.2f; chroma max %d",
               methods[i].name, e.core_max, e.core_mean, e.soft_max, e.soft_mean, chroma_max);
        assert_in_range(e.core_max, 0, 4);
        assert_below(e.core_mean, 1.2);
        assert_in_range(e.soft_max, 0, 8);
        assert_below(e.soft_mean, 1.6);
        assert_in_range(chroma_max, 0, 4);
        um_remove_free(&r);
        assert_null(r);
    }

    /* inpaint: the matte is ignored, the whole box is filled. */
    um_remover *r = remover_new(UM_METHOD_INPAINT, 1);
    paint(&t, &still_scene, 0, 0);
    blend(&t, &m);
    assert_int_equal(um_remove_frame(r, &t.f, &box, 1, &err), 0);
    assert_non_null(t.f.removed);
    for (int y = 0; y < FH; y++)
        for (int x = 0; x < FW; x++) {
            int in_box = x >= MARK_X && x < MARK_X + MARK_W && y >= MARK_Y && y < MARK_Y + MARK_H;
            assert_int_equal(t.f.removed[(ptrdiff_t)y * t.f.removed_stride + x] != 0, in_box);
        }
    um_remove_free(&r);

    um_matte_free(&matte);
    frame_free(&truth);
    frame_free(&t);
}

/* ---- a still, un-blended with a known template --------------------------- */

/* The template: the mark drawn at (TPL_MARGIN, TPL_MARGIN) of a picture
 * TPL_MARGIN larger all round, as detect --save-template writes it
 * (opacity x 255). */
enum { TPL_MARGIN = 4, TPL_W = MARK_W + 2 * TPL_MARGIN, TPL_H = MARK_H + 2 * TPL_MARGIN };

static void template_init(uint8_t *pixels, float peak)
{
    static float a[TPL_H * TPL_W];
    memset(a, 0, sizeof(a));
    draw_mark(a, TPL_W, TPL_MARGIN, TPL_MARGIN, peak);
    for (int k = 0; k < TPL_W * TPL_H; k++)
        pixels[k] = (uint8_t)lrint(255 * a[k]);
}

/* The template's opacity at template position (tx, ty), bilinear. */
static double template_sample(const uint8_t *pixels, double tx, double ty)
{
    int x0 = (int)floor(tx), y0 = (int)floor(ty);
    double fx = tx - x0, fy = ty - y0, v = 0;
    for (int j = 0; j < 2; j++)
        for (int i = 0; i < 2; i++)
            if (x0 + i >= 0 && y0 + j >= 0 && x0 + i < TPL_W && y0 + j < TPL_H)
                v += (i ? fx : 1 - fx) * (j ? fy : 1 - fy) * pixels[(y0 + j) * TPL_W + x0 + i];
    return v / 255;
}

/* The mark of a still: the template with its corner at the true one moved
 * by (dx, dy) and `scale` times its size about its centre. */
static void mark_from_template(mark *m, const uint8_t *pixels, double dx, double dy, double scale)
{
    memset(m, 0, sizeof(*m));
    double cx = MARK_X - TPL_MARGIN + dx + TPL_W / 2.0, cy = MARK_Y - TPL_MARGIN + dy + TPL_H / 2.0;
    for (int y = 0; y < FH; y++)
        for (int x = 0; x < FW; x++)
            m->luma[y][x] = (float)template_sample(pixels, (x + 0.5 - cx) / scale + TPL_W / 2.0 - 0.5,
                                                   (y + 0.5 - cy) / scale + TPL_H / 2.0 - 0.5);
    m->colour[0] = 235;
    m->colour[1] = m->colour[2] = 128;
    mark_subsample(m);
}

typedef struct {
    double dx, dy, scale;
} still_case;

/* Off by whole pixels, by fractions, and a little larger than the template. */
static const still_case still_cases[] = {
    {0, 0, 1}, {0.25, 0.5, 1}, {-1.75, 1.25, 1}, {2.5, -0.75, 1.06},
};

/*
 * remove --template on a still: one sample, too few to fit a matte, but the
 * spot carries the template; the fit places it (to the sub-pixel, and its
 * size) on the sample and the remover un-blends. The detected box is the
 * unmoved one (detection is coarser). Against the picture under the mark,
 * the restored pixels where a < 0.6 are within the blend model's bound
 * (0.5 / 0.4 + 0.5: 2 levels). Measured: max 1, mean 0.24 in every case,
 * the placement exact. Over the detailed scene (texture as fine as the
 * strokes, 170 levels deep) one picture places the mark only to 1/16 px
 * and 1% of its size: max 4-16, mean 0.7-3.6.
 */
static void test_template_unblends_still(void **state)
{
    (void)state;
    static uint8_t pixels[TPL_W * TPL_H];
    static mark m;
    template_init(pixels, 0.75f);
    um_matte_template tpl = {TPL_W, TPL_H, pixels, TPL_W, {235, 128, 128}, 0, 0};
    for (size_t i = 0; i < sizeof(still_cases) / sizeof(still_cases[0]); i++) {
        const still_case *c = &still_cases[i];
        mark_from_template(&m, pixels, c->dx, c->dy, c->scale);
        test_frame truth, t;
        frame_init(&truth);
        frame_init(&t);
        paint(&truth, &smooth_moving_scene, 0, 0);
        paint(&t, &smooth_moving_scene, 0, 0);
        blend(&t, &m);
        um_matte_fit *fit = um_matte_fit_new(FW, FH);
        int spot = um_matte_fit_add_spot(fit, mark_box, 0, NULL, 0);
        um_matte_fit_add_sample(fit, spot, &t.f);
        um_matte *matte = NULL;
        um_matte_fit_solve(fit, &matte);
        assert_null(matte); /* one sample, no template: nothing to restore with */
        um_matte_fit_set_template(fit, spot, &tpl, 1.0);
        um_matte_fit_solve(fit, &matte);
        assert_non_null(matte);
        um_matte_fit_free(&fit);

        um_remover *r = remover_new(UM_METHOD_AUTO, 0);
        um_region box = matte_box(matte);
        um_error err = {0};
        assert_int_equal(um_remove_frame(r, &t.f, &box, 1, &err), 0);
        int max_error = 0;
        double sum = 0;
        int n = 0;
        for (int y = 0; y < FH; y++)
            for (int x = 0; x < FW; x++) {
                float a = m.luma[y][x];
                int error = abs(*sample(&t, 0, x, y) - *sample(&truth, 0, x, y));
                if (a > 0.05f && a < 0.6f)
                    max_error = error > max_error ? error : max_error;
                if (a > 0.05f) {
                    sum += error;
                    n++;
                }
            }
        report("still %+.2f,%+.2f x%.2f: max %d where a < 0.6, mean %.2f over the mark", c->dx, c->dy,
               c->scale, max_error, sum / n);
        assert_in_range(max_error, 0, 2);
        assert_below(sum / n, 0.5);
        um_remove_free(&r);
        um_matte_free(&matte);
        frame_free(&truth);
        frame_free(&t);
    }
}

typedef struct {
    double given[3];
    int rgb, full_range;           /* the template's colour */
    int is_rgb, to_full, depth;    /* the picture's planes */
    double want[3];
} colour_case;

/* White and grey through every kind of plane: limited and full range YUV,
 * RGB, 10 bits; an unknown chroma W is a white mark's. */
static const colour_case colour_cases[] = {
    {{235, 128, 128}, 0, 0, 0, 0, 8, {235, 128, 128}},
    {{235, 128, 128}, 0, 0, 0, 1, 8, {255, 128, 128}},
    {{235, 128, 128}, 0, 0, 1, 0, 8, {255, 255, 255}},
    {{255, 128, 128}, 0, 1, 0, 0, 8, {235, 128, 128}},
    {{255, 128, 128}, 0, 1, 1, 0, 8, {255, 255, 255}},
    {{255, 255, 255}, 1, 0, 0, 0, 8, {235, 128, 128}},
    {{255, 255, 255}, 1, 0, 0, 1, 8, {255, 128, 128}},
    {{126, 126, 126}, 1, 0, 1, 0, 8, {126, 126, 126}},
    {{126, -1, -1}, 0, 0, 0, 0, 8, {126, 128, 128}},
    {{235, 128, 128}, 0, 0, 0, 0, 10, {940, 512, 512}},
};

static void test_template_colours_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(colour_cases) / sizeof(colour_cases[0]); i++) {
        const colour_case *c = &colour_cases[i];
        um_matte_template t = {0};
        memcpy(t.colour, c->given, sizeof(t.colour));
        t.rgb = c->rgb;
        t.full_range = c->full_range;
        double got[3];
        um_template_colours(&t, c->is_rgb, c->to_full, c->depth, got);
        for (int p = 0; p < 3; p++)
            if (fabs(got[p] - c->want[p]) > 1.5 * (1 << (c->depth - 8)))
                fail_msg("case %zu plane %d: %.2f, want %.2f", i, p, got[p], c->want[p]);
    }
}

/* Mean |A - B| over the luma pixels where want(a) holds. */
typedef int (*alpha_filter)(float a);
static int in_mark(float a) { return a > 0.05f; }
static int outside_mark(float a) { return a == 0; }

static double mean_change(const test_frame *a, const test_frame *b, const mark *m,
                          alpha_filter want)
{
    double sum = 0;
    int n = 0;
    for (int y = 0; y < FH; y++)
        for (int x = 0; x < FW; x++)
            if (want(m->luma[y][x])) {
                sum += abs(*sample(a, 0, x, y) - *sample(b, 0, x, y));
                n++;
            }
    return sum / n;
}

/*
 * Stable in time on a static picture: ten copies of one marked frame, each
 * with its own +-1 level of noise, restored with the matte fitted from the
 * smooth moving picture (test_fit_recovers_known_mark's "smooth" case).
 * Inverting multiplies the noise by 1 / (1 - a) (4 on the strokes, about 2
 * on average over the mark); the kernel's smoothing averages it down
 * within the frame and the stabiliser across frames, so the restored mark
 * must change less from frame to frame than half what the picture around
 * it does. Measured: input change 0.88 per frame outside the mark,
 * restored 0.27 (ratio 0.30; without the stabiliser 0.78, ratio 0.88; with
 * the smoothing off too, 2.0), mean error against the clean picture 1.26
 * levels (bound 2); 1.29 since the noise believed is the median of what
 * the matches left, not the least.
 */
static void test_remover_stable_in_time(void **state)
{
    (void)state;
    static mark m;
    mark_init(&m, 0.75f);
    um_matte *matte = fit_mark(&m, 40, &smooth_moving_scene);
    assert_non_null(matte);
    um_remover *r = remover_new(UM_METHOD_AUTO, 0);
    um_region box = matte_box(matte);
    um_error err = {0};

    test_frame clean, frames[2];
    frame_init(&clean);
    paint(&clean, &still_scene, 0, 0);
    frame_init(&frames[0]);
    frame_init(&frames[1]);
    uint32_t rng = 99u;
    double in_sum = 0, out_sum = 0, error_sum = 0;
    for (int i = 0; i < 10; i++) {
        test_frame *t = &frames[i % 2], *prev = &frames[(i + 1) % 2];
        paint(t, &still_scene, 0, 0);
        blend(t, &m);
        add_noise(t, 0, 1, &rng);
        t->f.index = i;
        t->f.time = i / 25.0;
        assert_int_equal(um_remove_frame(r, &t->f, &box, 1, &err), 0);
        error_sum += mean_change(t, &clean, &m, in_mark);
        if (i > 0) {
            in_sum += mean_change(t, prev, &m, outside_mark);
            out_sum += mean_change(t, prev, &m, in_mark);
        }
    }
    double input = in_sum / 9, restored = out_sum / 9, error = error_sum / 10;
    report("flicker: input %.3f, restored %.3f (ratio %.2f), mean error %.2f", input, restored,
           restored / input, error);
    assert_true(input > 0.5); /* the noise is there to be amplified */
    assert_below(restored, 0.5 * input);
    assert_below(error, 2.0);

    um_remove_free(&r);
    um_matte_free(&matte);
    frame_free(&clean);
    frame_free(&frames[0]);
    frame_free(&frames[1]);
}

/* Paints frame t of a scene moving by (vx, vy) px a frame: clean into c,
 * marked and with +-noise levels of noise into f. */
static void paint_marked(const scene *sc, double vx, double vy, const mark *m, int t, int noise, uint32_t *rng,
                         test_frame *f, test_frame *c)
{
    paint(c, sc, vx * t, vy * t);
    paint(f, sc, vx * t, vy * t);
    blend(f, m);
    add_noise(f, 0, noise, rng);
    f->f.index = t;
    f->f.time = t / 25.0;
}

/* The flicker of plane p of restored frame f after pf: the mean
 * |restored change - clean change| (c after pc) over the mark. */
static double mark_flicker(const test_frame *f, const test_frame *pf, const test_frame *c, const test_frame *pc,
                           const mark *m, int p)
{
    double sum = 0;
    int n = 0;
    int w = p ? FW / 2 : FW, h = p ? FH / 2 : FH;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            if (in_mark(p ? m->chroma[y][x] : m->luma[y][x])) {
                int got = *sample(f, p, x, y) - *sample(pf, p, x, y);
                int want = *sample(c, p, x, y) - *sample(pc, p, x, y);
                sum += abs(got - want);
                n++;
            }
    return sum / n;
}

/* Restores frame t of a scene moving by (vx, vy) px a frame, marked and
 * with +-noise levels of noise; returns the luma's mean error over the
 * mark, and adds its flicker from the frame before (kept in prev and
 * prev_clean) to *flicker. */
static double restore_moving(um_remover *r, const scene *sc, double vx, double vy, const mark *m,
                             const um_region *box, int t, int noise, uint32_t *rng, test_frame frames[2],
                             test_frame clean[2], double *flicker)
{
    test_frame *f = &frames[t % 2], *c = &clean[t % 2];
    paint_marked(sc, vx, vy, m, t, noise, rng, f, c);
    um_error err = {0};
    assert_int_equal(um_remove_frame(r, &f->f, box, 1, &err), 0);
    if (t > 0)
        *flicker += mark_flicker(f, &frames[(t + 1) % 2], c, &clean[(t + 1) % 2], m, 0);
    return mean_change(f, c, m, in_mark);
}

/* What the moving tests share: a 0.75 mark, its matte fitted from the
 * smooth moving picture, and two frames each of restored and clean
 * pictures (this one and the one before). */
typedef struct {
    mark m;
    um_matte *matte;
    um_region box;
    test_frame frames[2], clean[2];
} moving_rig;

static moving_rig *moving_rig_new(void)
{
    moving_rig *g = calloc(1, sizeof(*g));
    assert_non_null(g);
    mark_init(&g->m, 0.75f);
    g->matte = fit_mark(&g->m, 40, &smooth_moving_scene);
    assert_non_null(g->matte);
    g->box = matte_box(g->matte);
    for (int i = 0; i < 2; i++) {
        frame_init(&g->frames[i]);
        frame_init(&g->clean[i]);
    }
    return g;
}

static void moving_rig_free(moving_rig *g)
{
    for (int i = 0; i < 2; i++) {
        frame_free(&g->frames[i]);
        frame_free(&g->clean[i]);
    }
    um_matte_free(&g->matte);
    free(g);
}

typedef struct {
    const char *name;
    const scene *pan, *cut;     /* the picture panned, the one cut to */
    double vx, vy;              /* the pan, luma pixels a frame */
    double flicker_ratio;       /* bound on flicker merged / alone */
} motion_case;

/*
 * Measured (flicker merged vs alone; error merged vs alone; at the cut):
 *   smooth: 0.57 vs 0.88; 1.10 vs 1.30; 1.44 vs 1.44 (0.58 and 1.04
 *   merged when the noise believed was the least a match had left).
 *   fine: a sub-pixel pan over 3 px detail leaves a drift many times the
 *   coding noise, yet the motion explains nearly all of the picture's
 *   change, so it is followed with the drift as the prediction's extra
 *   variance: 1.80 vs 2.24; 1.74 vs 2.02; 1.32 vs 1.32 (when the drift
 *   was judged against the noise alone, every frame let go: 2.24 vs 2.24).
 */
/* Rock-like detail down to 3 px under a handheld camera. */
static const scene fine_scene = {
    .luma = {20, 200, 8, 3, 61u},
    .chroma = {{78, 178, 8, 3, 67u}, {78, 178, 8, 3, 71u}},
};

static const motion_case motion_cases[] = {
    {"smooth", &still_scene, &detailed_scene, 2.0, 1.0, 0.8},
    {"fine", &fine_scene, &still_scene, 1.5, 0.5, 0.9},
};

/*
 * The stabiliser follows the camera and lets go at a cut: twelve frames of
 * a panning picture, then a cut to another picture, restored once by one
 * remover (frames in order: merged along the motion) and once by a new
 * remover per frame (nothing to merge). Merging must steady the mark
 * without blurring or dragging it: less flicker, no more error; right
 * after the cut, nothing of the old picture may be dragged in.
 */
static void test_remover_follows_motion(void **state)
{
    (void)state;
    enum { PAN = 12 };
    moving_rig *g = moving_rig_new();
    for (size_t k = 0; k < sizeof motion_cases / sizeof motion_cases[0]; k++) {
        const motion_case *c = &motion_cases[k];
        double flicker[2] = {0, 0}, error[2] = {0, 0}, cut[2];
        for (int merged = 0; merged < 2; merged++) {
            uint32_t rng = 7u;
            um_remover *r = merged ? remover_new(UM_METHOD_AUTO, 0) : NULL;
            for (int t = 0; t <= PAN; t++) {
                um_remover *once = merged ? NULL : remover_new(UM_METHOD_AUTO, 0);
                double e = restore_moving(merged ? r : once, t < PAN ? c->pan : c->cut, c->vx, c->vy, &g->m,
                                          &g->box, t, 1, &rng, g->frames, g->clean,
                                          t < PAN ? &flicker[merged] : &(double){0});
                if (t < PAN)
                    error[merged] += e / PAN;
                else
                    cut[merged] = e;
                um_remove_free(&once);
            }
            um_remove_free(&r);
        }
        report("moving %s: flicker %.2f merged vs %.2f alone; error %.2f vs %.2f; at the cut %.2f vs %.2f",
               c->name, flicker[1] / (PAN - 1), flicker[0] / (PAN - 1), error[1], error[0], cut[1], cut[0]);
        if (!(flicker[1] < c->flicker_ratio * flicker[0]))
            fail_msg("%s: flicker %.2f merged, %.2f alone", c->name, flicker[1], flicker[0]);
        if (!(error[1] < error[0] + 0.1))
            fail_msg("%s: error %.2f merged, %.2f alone", c->name, error[1], error[0]);
        if (!(cut[1] < cut[0] + 0.2))
            fail_msg("%s: at the cut %.2f merged, %.2f alone", c->name, cut[1], cut[0]);
    }
    moving_rig_free(g);
}

/* How noisy the frames of a pan are: +-quiet_noise levels of luma noise
 * for the first quiet frames, +-noise after, and +-colour_noise on the
 * colour planes. */
typedef struct {
    int quiet, quiet_noise, noise, colour_noise;
} pan_noise;

/* The flicker (mark_flicker, averaged over planes first..last) of the
 * last `measured` of `frames` frames of still_scene panning by (2, 1) px a
 * frame, restored by one remover ([1], merged) and by a new remover per
 * frame ([0], alone). */
static void pan_flicker(moving_rig *g, uint32_t seed, int frames, int measured, const pan_noise *n, int first,
                        int last, double flicker[2])
{
    int planes = last - first + 1;
    for (int merged = 0; merged < 2; merged++) {
        uint32_t rng = seed;
        flicker[merged] = 0;
        um_remover *r = merged ? remover_new(UM_METHOD_AUTO, 0) : NULL;
        for (int t = 0; t < frames; t++) {
            um_remover *once = merged ? NULL : remover_new(UM_METHOD_AUTO, 0);
            test_frame *f = &g->frames[t % 2], *c = &g->clean[t % 2];
            paint_marked(&still_scene, 2.0, 1.0, &g->m, t, t < n->quiet ? n->quiet_noise : n->noise, &rng, f, c);
            for (int p = 1; n->colour_noise && p < 3; p++)
                add_noise(f, p, n->colour_noise, &rng);
            um_error err = {0};
            assert_int_equal(um_remove_frame(merged ? r : once, &f->f, &g->box, 1, &err), 0);
            for (int p = first; t > 0 && t >= frames - measured && p <= last; p++)
                flicker[merged] += mark_flicker(f, &g->frames[(t + 1) % 2], c, &g->clean[(t + 1) % 2], &g->m, p) /
                                   (planes * measured);
            um_remove_free(&once);
        }
        um_remove_free(&r);
    }
}

/*
 * The stabiliser believes the noise the video has now: a panning picture
 * with +-1 level of noise for its first QUIET frames, +-3 after (an
 * encoder's quality changing), restored by one remover (merged) and by a
 * new remover per frame (alone). Over the last frames, merging must still
 * steady the mark. When the noise believed was the least any match had
 * left, the quiet start set it for good: the noisy frames' difference then
 * passed for drift, and the prediction was trusted less than it deserved
 * (flicker 1.80 merged vs 2.10 alone; with the median of the last
 * matches, 1.45 vs 2.10; 1.00 vs 2.09 since the stabiliser keeps the
 * motion it had and learns each plane's noise; 0.69 vs 2.09 with the
 * samples beside the mark merged too).
 */
static void test_remover_learns_noise_level(void **state)
{
    (void)state;
    moving_rig *g = moving_rig_new();
    double flicker[2];
    pan_flicker(g, 11u, 60, 10, &(pan_noise){.quiet = 10, .quiet_noise = 1, .noise = 3}, 0, 0, flicker);
    report("noise level changing: flicker %.2f merged vs %.2f alone", flicker[1], flicker[0]);
    if (!(flicker[1] < 0.8 * flicker[0]))
        fail_msg("flicker %.2f merged, %.2f alone", flicker[1], flicker[0]);
    moving_rig_free(g);
}

/*
 * Each plane's own coding noise: a panning picture whose colour carries
 * +-5 levels of noise and its brightness +-1 (a colourful picture is coded
 * with more error in colour), restored by one remover (merged) and by a
 * new remover per frame (alone). The colour planes must steady as luma
 * does. With luma's noise believed for them, their restored samples
 * disagreed with the prediction far more than that noise explains, and
 * the filter let them go every frame (measured: colour flicker 3.71
 * merged vs 3.71 alone; with their own noise learned, 1.42 vs 3.71; with
 * the samples beside the mark merged too, 1.20 vs 3.71).
 */
static void test_remover_learns_colour_noise(void **state)
{
    (void)state;
    moving_rig *g = moving_rig_new();
    double flicker[2];
    pan_flicker(g, 13u, 24, 12, &(pan_noise){.noise = 1, .colour_noise = 5}, 1, 2, flicker);
    report("colour noise: flicker %.2f merged vs %.2f alone", flicker[1], flicker[0]);
    if (!(flicker[1] < 0.7 * flicker[0]))
        fail_msg("colour flicker %.2f merged, %.2f alone", flicker[1], flicker[0]);
    moving_rig_free(g);
}

/*
 * Settling: a panning picture with +-1 level of noise, restored by one
 * remover, each frame measured as um_remove_frame leaves it (what the
 * frames before tell) and, in a second run, once settled with the
 * remover's look-ahead (what the frames after tell too). The settled frames
 * must be steadier and closer to the clean picture. Measured: flicker 0.39
 * settled vs 0.47 not, error 0.46 vs 0.78 (when the two passes' results
 * were merged only within their own variances, which merging many frames
 * makes small, most frames kept the forward result: once flicker 0.56 vs
 * 0.58).
 */
static void test_remover_settles_with_later_frames(void **state)
{
    (void)state;
    enum { FRAMES = 30, NOISE = 1 };
    moving_rig *g = moving_rig_new();
    test_frame *frames = calloc(FRAMES, sizeof(*frames)), *clean = calloc(FRAMES, sizeof(*clean));
    assert_true(frames && clean);
    for (int i = 0; i < FRAMES; i++) {
        frame_init(&frames[i]);
        frame_init(&clean[i]);
    }
    double flicker[2] = {0, 0}, error[2] = {0, 0};
    for (int settled = 0; settled < 2; settled++) {
        uint32_t rng = 5u;
        um_remover *r = remover_new(UM_METHOD_AUTO, 0);
        int ahead = settled ? um_remove_lookahead(r) : 0;
        assert_true(!settled || ahead > 0);
        for (int t = 0; t < FRAMES + ahead; t++) {
            if (t < FRAMES) {
                paint_marked(&still_scene, 2.0, 1.0, &g->m, t, NOISE, &rng, &frames[t], &clean[t]);
                um_error err = {0};
                assert_int_equal(um_remove_frame(r, &frames[t].f, &g->box, 1, &err), 0);
            }
            int done = t - ahead;
            if (done < 0)
                continue;
            if (settled)
                um_remove_settle(r, &frames[done].f);
            error[settled] += mean_change(&frames[done], &clean[done], &g->m, in_mark) / FRAMES;
            if (done > 0)
                flicker[settled] += mark_flicker(&frames[done], &frames[done - 1], &clean[done], &clean[done - 1],
                                                 &g->m, 0) / (FRAMES - 1);
        }
        um_remove_free(&r);
    }
    report("settled: flicker %.2f vs %.2f not; error %.2f vs %.2f", flicker[1], flicker[0], error[1], error[0]);
    if (!(flicker[1] < 0.9 * flicker[0]))
        fail_msg("flicker %.2f settled, %.2f not", flicker[1], flicker[0]);
    if (!(error[1] < 0.9 * error[0]))
        fail_msg("error %.2f settled, %.2f not", error[1], error[0]);
    for (int i = 0; i < FRAMES; i++) {
        frame_free(&frames[i]);
        frame_free(&clean[i]);
    }
    free(frames);
    free(clean);
    moving_rig_free(g);
}

/* ---- 7: the method's name ---------------------------------------------- */

typedef struct {
    const char *text;
    int ok;
    um_remove_method want;
} method_case;

static const method_case method_cases[] = {
    {"auto", 1, UM_METHOD_AUTO},
    {"unblend", 1, UM_METHOD_UNBLEND},
    {"inpaint", 1, UM_METHOD_INPAINT},
    {"", 0, UM_METHOD_AUTO},
    {"AUTO", 0, UM_METHOD_AUTO},
    {"blend", 0, UM_METHOD_AUTO},
    {"inpaint ", 0, UM_METHOD_AUTO},
    {"unblendx", 0, UM_METHOD_AUTO},
};

/* The three names parse, exactly as written; anything else is a usage
 * error that names the option. */
static void test_parse_method_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(method_cases) / sizeof(method_cases[0]); i++) {
        const method_case *c = &method_cases[i];
        um_remove_method method = (um_remove_method)-1;
        um_error err = {0};
        int ret = um_remove_parse_method(c->text, &method, &err);
        if (!c->ok) {
            assert_int_equal(ret, -1);
            assert_int_equal(err.status, UM_ERR_USAGE);
            assert_non_null(strstr(err.msg, "--method"));
            if (c->text[0])
                assert_non_null(strstr(err.msg, c->text)); /* says what was given */
            continue;
        }
        assert_int_equal(ret, 0);
        assert_int_equal(method, c->want);
        assert_int_equal(err.status, UM_OK);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unblend_exact_recovery),
        cmocka_unit_test(test_unblend_bounded_under_noise),
        cmocka_unit_test(test_unblend_smoothing),
        cmocka_unit_test(test_unblend_smoothing_is_the_bilateral),
        cmocka_unit_test(test_unblend_clamps),
        cmocka_unit_test(test_unblend_colour_map),
        cmocka_unit_test(test_fit_recovers_known_mark),
        cmocka_unit_test(test_fit_needs_enough_samples),
        cmocka_unit_test(test_fit_hops_decide_colour),
        cmocka_unit_test(test_fit_still_camera),
        cmocka_unit_test(test_fit_gives_shadow_its_colour),
        cmocka_unit_test(test_fit_pools_spot_by_its_box),
        cmocka_unit_test(test_fit_tracks_background),
        cmocka_unit_test(test_fit_tracks_background_middling_colour),
        cmocka_unit_test(test_fit_takes_w_from_colour_planes),
        cmocka_unit_test(test_fit_from_crops),
        cmocka_unit_test(test_remover_fills_opaque_core),
        cmocka_unit_test(test_remover_stable_in_time),
        cmocka_unit_test(test_remover_follows_motion),
        cmocka_unit_test(test_remover_learns_noise_level),
        cmocka_unit_test(test_remover_learns_colour_noise),
        cmocka_unit_test(test_remover_settles_with_later_frames),
        cmocka_unit_test(test_template_unblends_still),
        cmocka_unit_test(test_template_colours_table),
        cmocka_unit_test(test_parse_method_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
