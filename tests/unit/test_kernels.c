/*
 * Tests for the kernels module: Telea inpainting (plan + apply, 8 and 16
 * bit), mask subsampling and mask dilation.
 *
 * Every plane is allocated with padding bytes past its width, filled with a
 * pattern, so each test also checks that nothing outside the masked pixels is
 * written.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "unmark/kernels.h"

enum { PAD_BYTE = 0xA5 };

/* ---- inpainting ---------------------------------------------------------- */

typedef enum { SHAPE_RECT, SHAPE_DISK } mask_shape;

/*
 * The image is the plane base + slope_x * x + slope_y * y (in sample levels)
 * rounded to integers, so a fill that extends it linearly lands within a
 * level or two of the ideal value, while one that only averages its
 * neighbours (zeroth order) misses ramps by tens of levels. Fractional slopes
 * add rounding, whose slope errors the fill carries inwards; their masks are
 * a dozen pixels deep at most. Integer slopes leave nothing to round, so
 * over deep masks the fill must reproduce them exactly.
 */
typedef struct {
    const char *name;
    int w, h;
    int max_value;           /* 255: 8-bit plane; otherwise 16-bit samples */
    double base, slope_x, slope_y;
    mask_shape shape;
    int mx, my, mw, mh;      /* the rectangle, or the disk's bounding box */
    int radius;
    int tolerance;           /* allowed |filled - ideal| in levels */
    int mask_pad, plane_pad; /* samples past the width, per row */
} inpaint_case;

static const inpaint_case inpaint_cases[] = {
    {"constant 8-bit", 64, 48, 255, 173, 0, 0, SHAPE_RECT, 20, 15, 20, 12, 5, 0, 0, 0},
    {"constant 8-bit, radius 1", 64, 48, 255, 173, 0, 0, SHAPE_RECT, 10, 10, 30, 20, 1, 0, 3, 5},
    {"constant 10-bit", 64, 48, 1023, 694, 0, 0, SHAPE_DISK, 12, 8, 30, 30, 5, 0, 0, 6},
    {"constant 16-bit", 40, 30, 65535, 50001, 0, 0, SHAPE_RECT, 5, 5, 30, 20, 4, 0, 0, 2},
    {"ramp x 8-bit", 64, 48, 255, 20, 3.3, 0, SHAPE_RECT, 20, 15, 20, 12, 5, 2, 0, 0},
    {"ramp y 8-bit", 64, 48, 255, 15, 0, 4.1, SHAPE_RECT, 20, 15, 20, 12, 5, 2, 0, 0},
    {"ramp x 8-bit, radius 3", 64, 48, 255, 30, 2.6, 0, SHAPE_RECT, 20, 15, 24, 12, 3, 2, 0, 0},
    {"ramp xy 8-bit, disk", 64, 48, 255, 10, 1.7, 2.2, SHAPE_DISK, 20, 12, 16, 16, 5, 2, 0, 0},
    {"deep ramp x 8-bit", 64, 48, 255, 20, 3, 0, SHAPE_RECT, 8, 8, 40, 30, 3, 0, 0, 0},
    {"deep ramp y 8-bit", 64, 48, 255, 10, 0, 4, SHAPE_RECT, 8, 6, 44, 34, 5, 0, 0, 0},
    {"deep ramp xy 8-bit, disk", 64, 48, 255, 10, 1, 2, SHAPE_DISK, 10, 4, 40, 40, 5, 0, 0, 0},
    {"ramp x 10-bit", 64, 48, 1023, 80, 13.2, 0, SHAPE_RECT, 20, 15, 20, 12, 5, 4, 0, 0},
    {"ramp y 10-bit", 64, 48, 1023, 60, 0, 16.45, SHAPE_RECT, 20, 15, 20, 12, 5, 4, 0, 0},
    {"ramp xy 10-bit, disk", 64, 48, 1023, 40, 6.8, 8.8, SHAPE_DISK, 16, 10, 24, 24, 5, 4, 0, 4},
    {"deep ramp xy 10-bit", 64, 48, 1023, 40, 7, 9, SHAPE_RECT, 6, 6, 50, 36, 5, 0, 0, 0},
    {"left border", 64, 48, 255, 10, 1.7, 2.2, SHAPE_RECT, 0, 10, 9, 20, 5, 2, 0, 0},
    {"right border", 64, 48, 255, 10, 1.7, 2.2, SHAPE_RECT, 54, 10, 10, 20, 5, 2, 0, 0},
    {"top-left corner", 64, 48, 255, 10, 1.7, 2.2, SHAPE_RECT, 0, 0, 10, 8, 5, 2, 0, 0},
    {"bottom-right corner", 64, 48, 255, 10, 1.7, 2.2, SHAPE_RECT, 54, 40, 10, 8, 5, 2, 0, 0},
    {"full-width band", 64, 48, 255, 10, 1.7, 2.2, SHAPE_RECT, 0, 20, 64, 6, 5, 2, 0, 0},
    {"one pixel", 64, 48, 255, 10, 1.7, 2.2, SHAPE_RECT, 30, 20, 1, 1, 5, 1, 0, 0},
    {"one pixel in a corner", 64, 48, 255, 10, 1.7, 2.2, SHAPE_RECT, 63, 0, 1, 1, 5, 1, 0, 0},
    {"mask and plane strides differ", 64, 48, 255, 10, 1.7, 2.2, SHAPE_RECT, 20, 15, 20, 12, 5, 2,
     3, 17},
    {"strides differ, 10-bit", 64, 48, 1023, 40, 6.8, 8.8, SHAPE_DISK, 20, 10, 24, 24, 5, 4, 7,
     10},
};

/* The unrounded image the case's known pixels are sampled from. */
static double ideal_value(const inpaint_case *c, int x, int y)
{
    return c->base + c->slope_x * x + c->slope_y * y;
}

/* Whether the case's mask selects (x, y). */
static int case_masks(const inpaint_case *c, int x, int y)
{
    if (x < c->mx || y < c->my || x >= c->mx + c->mw || y >= c->my + c->mh)
        return 0;
    if (c->shape == SHAPE_RECT)
        return 1;
    double cx = c->mx + (c->mw - 1) / 2.0, cy = c->my + (c->mh - 1) / 2.0;
    double r = c->mw / 2.0;
    return (x - cx) * (x - cx) + (y - cy) * (y - cy) <= r * r;
}

/* A case's mask and plane, each with its own padded stride. */
typedef struct {
    uint8_t *mask;
    ptrdiff_t mask_stride;
    uint8_t *plane; /* bytes; uint16_t samples when the case is not 8-bit */
    ptrdiff_t stride;
    int bytes_per_sample;
} case_planes;

/* The case's mask (nonzero values vary, to show any nonzero byte masks) and
 * its image rounded to integers, with masked pixels set to garbage that must
 * not influence the result, and padding set to PAD_BYTE (in the mask too,
 * where reading past the width would count the padding as masked). */
static case_planes make_case_planes(const inpaint_case *c)
{
    case_planes p;
    p.bytes_per_sample = c->max_value == 255 ? 1 : 2;
    p.mask_stride = c->w + c->mask_pad;
    p.stride = (ptrdiff_t)c->w * p.bytes_per_sample + c->plane_pad * p.bytes_per_sample;
    p.mask = malloc((size_t)p.mask_stride * c->h);
    p.plane = malloc((size_t)p.stride * c->h);
    memset(p.mask, PAD_BYTE, (size_t)p.mask_stride * c->h);
    memset(p.plane, PAD_BYTE, (size_t)p.stride * c->h);
    for (int y = 0; y < c->h; y++)
        for (int x = 0; x < c->w; x++) {
            int masked = case_masks(c, x, y);
            p.mask[y * p.mask_stride + x] = masked ? (uint8_t)(1 + (x * 7 + y) % 255) : 0;
            int v = masked ? (x * 131 + y * 71) % (c->max_value + 1)
                           : (int)lround(ideal_value(c, x, y));
            if (p.bytes_per_sample == 1)
                p.plane[y * p.stride + x] = (uint8_t)v;
            else
                ((uint16_t *)(p.plane + y * p.stride))[x] = (uint16_t)v;
        }
    return p;
}

/* Sample (x, y) of the plane, whatever its depth. */
static int sample_at(const case_planes *p, int x, int y)
{
    if (p->bytes_per_sample == 1)
        return p->plane[y * p->stride + x];
    return ((const uint16_t *)(p->plane + y * p->stride))[x];
}

/* The apply call for the case's depth. */
static void apply_plan(const um_inpaint_plan *plan, const inpaint_case *c, case_planes *p)
{
    if (p->bytes_per_sample == 1)
        um_kernel_inpaint_u8(plan, p->plane, p->stride);
    else
        um_kernel_inpaint_u16(plan, (uint16_t *)p->plane, p->stride, c->max_value);
}

/* How many pixels the plan must fill. */
static size_t count_masked(const inpaint_case *c)
{
    size_t n = 0;
    for (int y = 0; y < c->h; y++)
        for (int x = 0; x < c->w; x++)
            n += (size_t)case_masks(c, x, y);
    return n;
}

/* Every masked sample within tolerance of the rounded ideal image; every
 * other byte, padding included, as it was. */
static void check_case_result(const inpaint_case *c, const case_planes *p, const uint8_t *before)
{
    for (int y = 0; y < c->h; y++) {
        for (int x = 0; x < c->w; x++) {
            if (!case_masks(c, x, y))
                continue;
            long want = lround(ideal_value(c, x, y));
            if (labs(sample_at(p, x, y) - want) > c->tolerance)
                fail_msg("%s: pixel (%d,%d) = %d, want %ld +- %d", c->name, x, y,
                         sample_at(p, x, y), want, c->tolerance);
        }
        for (ptrdiff_t i = 0; i < p->stride; i++) {
            int x = (int)(i / p->bytes_per_sample);
            if (x < c->w && case_masks(c, x, y))
                continue;
            if (p->plane[y * p->stride + i] != before[y * p->stride + i])
                fail_msg("%s: byte %td of row %d changed", c->name, i, y);
        }
    }
}

/* Runs every row of inpaint_cases: plan, apply, check values and bytes. */
static void test_inpaint_cases(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof inpaint_cases / sizeof inpaint_cases[0]; k++) {
        const inpaint_case *c = &inpaint_cases[k];
        case_planes p = make_case_planes(c);
        size_t bytes = (size_t)p.stride * c->h;
        uint8_t *before = malloc(bytes);
        memcpy(before, p.plane, bytes);

        um_inpaint_plan *plan = um_kernel_inpaint_plan(p.mask, p.mask_stride, c->w, c->h, c->radius);
        assert_non_null(plan);
        assert_int_equal(um_kernel_inpaint_plan_size(plan), count_masked(c));
        apply_plan(plan, c, &p);
        check_case_result(c, &p, before);

        um_kernel_inpaint_plan_free(plan);
        free(before);
        free(p.mask);
        free(p.plane);
    }
}

/* The masked pixels' starting values must not leak into the result: the same
 * plan on two planes differing only there gives identical planes. */
static void test_inpaint_ignores_masked_contents(void **state)
{
    (void)state;
    static const inpaint_case disk = {"masked contents", 64, 48, 255, 10, 1.7, 2.2, SHAPE_DISK,
                                      20, 12, 16, 16, 5, 2, 0, 0};
    const inpaint_case *c = &disk;
    case_planes a = make_case_planes(c), b = make_case_planes(c);
    size_t bytes = (size_t)a.stride * c->h;
    for (int y = 0; y < c->h; y++)
        for (int x = 0; x < c->w; x++)
            if (case_masks(c, x, y))
                b.plane[y * b.stride + x] = (uint8_t)(255 - a.plane[y * a.stride + x]);
    assert_memory_not_equal(a.plane, b.plane, bytes);

    um_inpaint_plan *plan = um_kernel_inpaint_plan(a.mask, a.mask_stride, c->w, c->h, c->radius);
    um_kernel_inpaint_u8(plan, a.plane, a.stride);
    um_kernel_inpaint_u8(plan, b.plane, b.stride);
    assert_memory_equal(a.plane, b.plane, bytes);

    um_kernel_inpaint_plan_free(plan);
    free(a.mask);
    free(a.plane);
    free(b.mask);
    free(b.plane);
}

/* A mask selecting nothing has no plan, and applying that NULL plan is a
 * no-op rather than a crash. */
static void test_inpaint_empty_mask_gives_no_plan(void **state)
{
    (void)state;
    uint8_t mask[6 * 4] = {0};
    uint8_t plane[6 * 4];
    memset(plane, 77, sizeof plane);
    um_inpaint_plan *plan = um_kernel_inpaint_plan(mask, 6, 6, 4, 3);
    assert_null(plan);
    assert_int_equal(um_kernel_inpaint_plan_size(plan), 0);
    um_kernel_inpaint_u8(plan, plane, 6);
    for (size_t i = 0; i < sizeof plane; i++)
        assert_int_equal(plane[i], 77);
    um_kernel_inpaint_plan_free(plan);
}

/* All masked: no known pixel to extend, so mid-grey, (max + 1) / 2. */
static void test_inpaint_all_masked_is_mid_grey(void **state)
{
    (void)state;
    enum { W = 7, H = 5, PAD = 3 };
    static const int max_values[] = {255, 1023, 65535};
    uint8_t mask[W * H];
    memset(mask, 255, sizeof mask);
    um_inpaint_plan *plan = um_kernel_inpaint_plan(mask, W, W, H, 5);
    assert_int_equal(um_kernel_inpaint_plan_size(plan), W * H);

    uint8_t plane8[(W + PAD) * H];
    memset(plane8, 3, sizeof plane8);
    um_kernel_inpaint_u8(plan, plane8, W + PAD);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W + PAD; x++)
            assert_int_equal(plane8[y * (W + PAD) + x], x < W ? 128 : 3);

    for (size_t k = 0; k < sizeof max_values / sizeof max_values[0]; k++) {
        uint16_t plane16[(W + PAD) * H];
        for (size_t i = 0; i < (W + PAD) * H; i++)
            plane16[i] = 9;
        um_kernel_inpaint_u16(plan, plane16, (W + PAD) * 2, max_values[k]);
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W + PAD; x++)
                assert_int_equal(plane16[y * (W + PAD) + x], x < W ? (max_values[k] + 1) / 2 : 9);
    }
    um_kernel_inpaint_plan_free(plan);
}

/* A huge mask leaving one known pixel: every pixel still gets filled, with
 * that pixel's value (no gradient can be measured anywhere). */
static void test_inpaint_single_known_pixel_fills_everything(void **state)
{
    (void)state;
    enum { W = 40, H = 30 };
    uint8_t *mask = malloc(W * H), *plane = malloc(W * H);
    memset(mask, 1, W * H);
    mask[17 * W + 33] = 0;
    for (int i = 0; i < W * H; i++)
        plane[i] = (uint8_t)(i * 37);
    plane[17 * W + 33] = 201;

    um_inpaint_plan *plan = um_kernel_inpaint_plan(mask, W, W, H, 2);
    assert_int_equal(um_kernel_inpaint_plan_size(plan), W * H - 1);
    um_kernel_inpaint_u8(plan, plane, W);
    for (int i = 0; i < W * H; i++)
        assert_int_equal(plane[i], 201);
    um_kernel_inpaint_plan_free(plan);
    free(mask);
    free(plane);
}

/*
 * A ramp that the fill extrapolates past the sample range: the pixels whose
 * ideal value lies well beyond it must come out exactly at the range's end
 * (a missing clamp wraps around instead). rising: known on the left, masked
 * from x = 20 to the right border; else mirrored, masked up to x = 11.
 */
static void check_ramp_saturates(int max_value, int rising)
{
    enum { W = 32, H = 8 };
    int slope = max_value == 255 ? 12 : 48;
    uint8_t mask[W * H];
    uint8_t plane8[W * H];
    uint16_t plane16[W * H];
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            int masked = rising ? x >= 20 : x < 12;
            int v = masked ? 0 : rising ? slope * x : slope * (x - 12);
            mask[y * W + x] = (uint8_t)masked;
            plane8[y * W + x] = (uint8_t)v;
            plane16[y * W + x] = (uint16_t)v;
        }
    um_inpaint_plan *plan = um_kernel_inpaint_plan(mask, W, W, H, 5);
    if (max_value == 255)
        um_kernel_inpaint_u8(plan, plane8, W);
    else
        um_kernel_inpaint_u16(plan, plane16, W * 2, max_value);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            int v = max_value == 255 ? plane8[y * W + x] : plane16[y * W + x];
            if (rising ? x >= 24 : x <= 8)
                assert_int_equal(v, rising ? max_value : 0);
            assert_in_range(v, 0, max_value);
        }
    um_kernel_inpaint_plan_free(plan);
}

/* Both ends of the range, 8-bit and 10-bit. */
static void test_inpaint_clamps_to_range(void **state)
{
    (void)state;
    check_ramp_saturates(255, 1);
    check_ramp_saturates(255, 0);
    check_ramp_saturates(1023, 1);
    check_ramp_saturates(1023, 0);
}

/* ---- mask subsampling ---------------------------------------------------- */

typedef struct {
    const char *name;
    int w, h, log2_w, log2_h;
    uint8_t in[16];
    int out_w, out_h;
    uint8_t out[16];
} subsample_case;

static const subsample_case subsample_cases[] = {
    {"4:2:0", 4, 4, 1, 1,
     {1, 0, 0, 0, /**/ 0, 0, 0, 0, /**/ 0, 0, 0, 0, /**/ 0, 0, 0, 9},
     2, 2, {1, 0, /**/ 0, 9}},
    {"4:2:0 takes the block's max", 4, 2, 1, 1,
     {0, 3, 0, 0, /**/ 200, 0, 0, 0},
     2, 1, {200, 0}},
    {"4:2:2", 4, 2, 1, 0,
     {0, 0, 5, 0, /**/ 0, 7, 0, 0},
     2, 2, {0, 5, /**/ 7, 0}},
    {"4:4:4 copies", 3, 2, 0, 0,
     {0, 4, 0, /**/ 6, 0, 255},
     3, 2, {0, 4, 0, /**/ 6, 0, 255}},
    {"odd 5x3 in 4:2:0", 5, 3, 1, 1,
     {0, 0, 0, 0, 1, /**/ 0, 0, 0, 0, 0, /**/ 2, 0, 0, 0, 0},
     3, 2, {0, 0, 1, /**/ 2, 0, 0}},
    {"odd 5x3, last row and column alone", 5, 3, 1, 1,
     {9, 9, 9, 9, 0, /**/ 9, 9, 9, 9, 0, /**/ 0, 0, 0, 0, 8},
     3, 2, {9, 9, 0, /**/ 0, 0, 8}},
    {"4:1:0 (log2 2)", 5, 3, 2, 2,
     {0, 0, 0, 0, 0, /**/ 0, 0, 0, 0, 0, /**/ 0, 0, 0, 3, 0},
     2, 1, {3, 0}},
};

/* Runs every row of subsample_cases into a padded output whose padding and
 * extra rows must stay untouched. */
static void test_mask_subsample_cases(void **state)
{
    (void)state;
    enum { OUT_STRIDE = 8 };
    for (size_t k = 0; k < sizeof subsample_cases / sizeof subsample_cases[0]; k++) {
        const subsample_case *c = &subsample_cases[k];
        uint8_t out[OUT_STRIDE * 4];
        memset(out, PAD_BYTE, sizeof out);
        um_kernel_mask_subsample(c->in, c->w, c->w, c->h, c->log2_w, c->log2_h, out, OUT_STRIDE);
        for (int y = 0; y < 4; y++)
            for (int x = 0; x < OUT_STRIDE; x++) {
                int inside = x < c->out_w && y < c->out_h;
                int want = inside ? c->out[y * c->out_w + x] : PAD_BYTE;
                if (out[y * OUT_STRIDE + x] != want)
                    fail_msg("%s: (%d,%d) = %d, want %d", c->name, x, y, out[y * OUT_STRIDE + x],
                             want);
            }
    }
}

/* ---- mask dilation --------------------------------------------------------- */

/* The definition of dilation at (x, y): the largest value within the square
 * of radius r, clipped to the plane. */
static uint8_t brute_force_dilate_at(const uint8_t *src, ptrdiff_t stride, int w, int h, int r,
                                     int x, int y)
{
    uint8_t m = 0;
    for (int yy = y - r; yy <= y + r; yy++)
        for (int xx = x - r; xx <= x + r; xx++)
            if (xx >= 0 && yy >= 0 && xx < w && yy < h && src[yy * stride + xx] > m)
                m = src[yy * stride + xx];
    return m;
}

/* Sparse random masks, mostly 255 with some grey levels, so both the growth
 * and the max of differing values are checked. */
static void fill_random_mask(uint8_t *mask, ptrdiff_t stride, int w, int h, unsigned *seed,
                             int density_percent)
{
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            *seed = *seed * 1103515245u + 12345u;
            unsigned v = (*seed >> 8) % 100;
            mask[y * stride + x] = v >= (unsigned)density_percent ? 0 : v % 3 == 0 ? (uint8_t)(v + 1) : 255;
        }
}

/* Random masks against the definition, with padded strides whose padding
 * must stay untouched; then the same in place, which must agree. */
static void test_mask_dilate_matches_brute_force(void **state)
{
    (void)state;
    static const int radii[] = {0, 1, 3, 6, 40};
    static const int sizes[][2] = {{37, 23}, {1, 9}, {9, 1}, {64, 64}};
    static const int densities[] = {2, 10, 40};
    unsigned seed = 12345;
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
        for (size_t d = 0; d < sizeof densities / sizeof densities[0]; d++)
            for (size_t k = 0; k < sizeof radii / sizeof radii[0]; k++) {
                int w = sizes[s][0], h = sizes[s][1], r = radii[k];
                ptrdiff_t src_stride = w + 5, dst_stride = w + 11;
                uint8_t *src = malloc((size_t)src_stride * h), *dst = malloc((size_t)dst_stride * h);
                memset(src, PAD_BYTE, (size_t)src_stride * h);
                memset(dst, PAD_BYTE, (size_t)dst_stride * h);
                fill_random_mask(src, src_stride, w, h, &seed, densities[d]);

                um_kernel_mask_dilate(src, src_stride, w, h, r, dst, dst_stride);
                for (int y = 0; y < h; y++)
                    for (int x = 0; x < dst_stride; x++) {
                        int want = x < w ? brute_force_dilate_at(src, src_stride, w, h, r, x, y)
                                         : PAD_BYTE;
                        if (dst[y * dst_stride + x] != want)
                            fail_msg("%dx%d r=%d: (%d,%d) = %d, want %d", w, h, r, x, y,
                                     dst[y * dst_stride + x], want);
                    }
                if (r == 0)
                    for (int y = 0; y < h; y++)
                        assert_memory_equal(dst + y * dst_stride, src + y * src_stride, (size_t)w);
                um_kernel_mask_dilate(src, src_stride, w, h, r, src, src_stride);
                for (int y = 0; y < h; y++)
                    assert_memory_equal(src + y * src_stride, dst + y * dst_stride, (size_t)w);
                free(src);
                free(dst);
            }
}

/* ---- gradient correlation ------------------------------------------------ */

static int16_t random_gradient(unsigned *seed)
{
    *seed = *seed * 1103515245u + 12345u;
    unsigned r = (*seed >> 8) % 2041;
    /* the extremes Sobel reaches on 8-bit planes, often */
    return (int16_t)(r < 100 ? -1020 : r > 1940 ? 1020 : (int)r - 1020);
}

/* sum((t.f) >> 4), sum(|t|^2 >> 4) and sum(|f|^2 >> 4) over weight != 0,
 * pixel by pixel, as um_kernel_gradient_ncc_sums documents them. */
static um_ncc_sums brute_force_ncc_sums(const int16_t *tx, const int16_t *ty, ptrdiff_t ts, const uint8_t *m,
                                        const int16_t *fx, const int16_t *fy, ptrdiff_t fs, int w, int h)
{
    um_ncc_sums s = {0, 0, 0};
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            if (!m[y * ts + x])
                continue;
            long px = tx[y * ts + x], py = ty[y * ts + x], qx = fx[y * fs + x], qy = fy[y * fs + x];
            s.tf += (double)((px * qx + py * qy) >> 4);
            s.tt += (double)((px * px + py * py) >> 4);
            s.ff += (double)((qx * qx + qy * qy) >> 4);
        }
    return s;
}

/* Widths round each of the kernel's paths (16 pixels at a time, 8, and
 * one by one) and the weight's values 0, 1 and 255: the sums are exact. */
static void test_gradient_ncc_sums_match_brute_force(void **state)
{
    (void)state;
    static const int widths[] = {1, 7, 8, 9, 15, 16, 17, 23, 24, 31, 57, 115};
    unsigned seed = 777;
    for (size_t i = 0; i < sizeof widths / sizeof widths[0]; i++) {
        int w = widths[i], h = 5;
        ptrdiff_t ts = w + 3, fs = w + 21;
        int16_t *tx = malloc(sizeof(int16_t) * ts * h), *ty = malloc(sizeof(int16_t) * ts * h);
        int16_t *fx = malloc(sizeof(int16_t) * fs * h), *fy = malloc(sizeof(int16_t) * fs * h);
        uint8_t *m = malloc((size_t)ts * h);
        for (ptrdiff_t k = 0; k < ts * h; k++) {
            tx[k] = random_gradient(&seed);
            ty[k] = random_gradient(&seed);
            m[k] = (uint8_t)(k % 3 == 0 ? 0 : k % 3 == 1 ? 1 : 255);
        }
        for (ptrdiff_t k = 0; k < fs * h; k++) {
            fx[k] = random_gradient(&seed);
            fy[k] = random_gradient(&seed);
        }
        for (int at = 0; at < 3; at++) { /* unaligned placements in the field */
            um_ncc_sums got = um_kernel_gradient_ncc_sums(tx, ty, ts, m, ts, fx + at, fy + at, fs, w, h);
            um_ncc_sums want = brute_force_ncc_sums(tx, ty, ts, m, fx + at, fy + at, fs, w, h);
            if (got.tf != want.tf || got.tt != want.tt || got.ff != want.ff)
                fail_msg("w=%d at %d: %.0f %.0f %.0f, want %.0f %.0f %.0f", w, at, got.tf, got.tt, got.ff, want.tf,
                         want.tt, want.ff);
        }
        double self = um_kernel_gradient_ncc(tx, ty, ts, m, ts, tx, ty, ts, w, h);
        assert_true(fabs(self - 1) < 1e-12);
        free(tx);
        free(ty);
        free(fx);
        free(fy);
        free(m);
    }
}

/* A radius reaching past the plane's size must still cover all of it (the
 * kernel cuts such radii to the line length): one pixel in the bottom-right
 * corner reaches the first column, 36 pixels away, exactly when r >= 36, and
 * the top row, 22 away, in every case here. */
static void test_mask_dilate_radius_past_plane(void **state)
{
    (void)state;
    enum { W = 37, H = 23 };
    static const struct {
        int r;
        uint8_t first_column;
    } cases[] = {{35, 0}, {36, 200}, {40, 200}, {1000, 200}};
    uint8_t src[W * H] = {0}, dst[W * H];
    src[(H - 1) * W + W - 1] = 200;
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        um_kernel_mask_dilate(src, W, W, H, cases[k].r, dst, W);
        assert_int_equal(dst[0], cases[k].first_column);
        assert_int_equal(dst[(H - 1) * W], cases[k].first_column);
        assert_int_equal(dst[W - 1], 200);
    }
}

/* Hole filling, table-driven on 7 x 5 masks drawn as text ('#' masked with
 * 200, '.' clear): a closed ring's inside is filled with 1, a gap to the
 * border (4-connected) keeps it clear, a diagonal gap does not, and masked
 * values are kept. The stride is wider than the mask. */
static void test_mask_fill_holes_table(void **state)
{
    (void)state;
    enum { W = 7, H = 5, STRIDE = 9 };
    static const char *const drawings[][2] = {
        /* ring */
        {"......."
         ".#####."
         ".#...#."
         ".#####."
         ".......",
         "......."
         ".#####."
         ".#111#."
         ".#####."
         "......."},
        /* open to the border above: untouched */
        {"......."
         ".##.##."
         ".#...#."
         ".#####."
         ".......",
         NULL},
        /* closed but for a diagonal step: 4-connectivity does not leak */
        {"......."
         ".###..."
         ".#.#..."
         ".##...."
         "......#",
         "......."
         ".###..."
         ".#1#..."
         ".##...."
         "......#"},
        /* every pixel masked, and none */
        {"#######"
         "#######"
         "#######"
         "#######"
         "#######",
         NULL},
        {"......."
         "......."
         "......."
         "......."
         ".......",
         NULL},
    };
    for (size_t k = 0; k < sizeof drawings / sizeof drawings[0]; k++) {
        uint8_t mask[H * STRIDE];
        memset(mask, 7, sizeof mask);
        const char *in = drawings[k][0], *want = drawings[k][1] ? drawings[k][1] : in;
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++)
                mask[y * STRIDE + x] = in[y * W + x] == '#' ? 200 : 0;
        um_kernel_mask_fill_holes(mask, STRIDE, W, H);
        for (int y = 0; y < H; y++) {
            for (int x = 0; x < W; x++) {
                char c = want[y * W + x];
                int expect = c == '#' ? 200 : c == '1' ? 1 : 0;
                if (mask[y * STRIDE + x] != expect)
                    fail_msg("drawing %zu: (%d, %d) is %d, want %d", k, x, y, mask[y * STRIDE + x], expect);
            }
            assert_int_equal(mask[y * STRIDE + W], 7); /* past the row: untouched */
        }
    }
}

/* ---- the shift estimate ------------------------------------------------ */

typedef struct {
    const char *name;
    double dx, dy;      /* the picture's true motion */
    int textured;       /* 0: a flat picture, whose motion cannot be seen;
                         * 2: a shading; 3: a vignette; 4: fine texture;
                         * 5: a plain painting (faint, broad texture) */
    float brighter;     /* levels the picture gained since prev ... */
    float lit;          /* ... and more by this much a pixel to the right */
    float guess_x, guess_y; /* the motion so far */
    float want_x, want_y;
    float within;       /* pixels the estimate may miss by */
} shift_case;

/* A shading that got brighter matches itself moved along the slope about
 * as well as standing still, and a vignette lit more from one side matches
 * itself moved towards it: light is not motion. A flat picture keeps the
 * motion so far, and so does a plain one, whose faint texture a shift
 * matches hardly better than standing still: the camera keeps panning. */
static const shift_case shift_cases[] = {
    {"still", 0, 0, 1, 0, 0, 1, 1, 0, 0, 0.1f},
    {"integer", 3, -2, 1, 0, 0, 1, 1, 3, -2, 0.1f},
    {"half", 0.5, 0, 1, 0, 0, 1, 1, 0.5f, 0, 0.1f},
    {"fraction", -1.3, 0.7, 1, 0, 0, 1, 1, -1.3f, 0.7f, 0.1f},
    {"flat", 4, 1, 0, 0, 0, 1, 1, 1, 1, 0.1f},
    {"shading, brighter", 0, 0, 2, 3, 0, 0, 0, 0, 0, 0.1f},
    {"moving, brighter", 3, -2, 1, 4, 0, 1, 1, 3, -2, 0.1f},
    {"vignette, lit from the right", 0, 0, 3, 0, 0.1f, 0, 0, 0, 0, 0.1f},
    {"fine texture, half", 0.5, -0.5, 4, 0, 0, 1, 1, 0.5f, -0.5f, 0.02f},
    {"fine texture, fraction", 2.3, 0.4, 4, 0, 0, 1, 1, 2.3f, 0.4f, 0.02f},
    {"plain, panning", 3, -2, 5, 0, 0, 3, -2, 3, -2, 0.3f},
};

/* A smooth texture (wavelength 9..23 px), a fine one (5..12 px), a flat
 * grey with a ramp too gentle to register under the noise, a shading of
 * 0.5 level a pixel, or a vignette (a bowl 0..16 levels deep). */
static float shift_picture(int textured, double x, double y)
{
    if (textured == 4)
        return (float)(128 + 40 * sin(x / 0.9 + 0.5 * sin(y / 1.3)) + 30 * cos(y / 0.8 - x / 1.9));
    if (textured == 3)
        return 60.0f + (float)(0.01 * ((x - 32) * (x - 32) + (y - 24) * (y - 24)));
    if (textured == 2)
        return 60.0f + (float)(0.5 * x + 0.3 * y);
    if (textured == 5)
        return (float)(128 + 0.6 * sin(x / 3.7 + 0.5 * sin(y / 5.1)) + 0.5 * cos(y / 2.9 - x / 7.3));
    if (!textured)
        return 100.0f + (float)(0.01 * x);
    return (float)(128 + 40 * sin(x / 3.7 + 0.5 * sin(y / 5.1)) + 30 * cos(y / 2.9 - x / 7.3));
}

/* Coding noise: +-0.5 level, different in every frame. */
static float shift_noise(uint32_t *rng)
{
    *rng ^= *rng << 13;
    *rng ^= *rng >> 17;
    *rng ^= *rng << 5;
    return (float)(*rng % 1001) / 1000.0f - 0.5f;
}

/* Under noise, the motion of a textured picture is found to a tenth of a
 * pixel, of a finely textured one to a fiftieth (a parabola through the
 * costs at whole shifts alone misses it by 0.03: fine texture's costs are
 * no parabola), a still one stays at (0, 0) whatever the guess; at a
 * whole shift only the noise is left (two frames' of +-0.5: 1/6). */
static void test_shift_estimate_cases(void **state)
{
    (void)state;
    enum { W = 64, H = 48 };
    static float cur[W * H], prev[W * H];
    uint32_t rng = 5u;
    for (size_t i = 0; i < sizeof(shift_cases) / sizeof(shift_cases[0]); i++) {
        const shift_case *c = &shift_cases[i];
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                cur[y * W + x] = shift_picture(c->textured, x, y) + c->brighter + c->lit * (float)x +
                                 shift_noise(&rng);
                prev[y * W + x] = shift_picture(c->textured, x - c->dx, y - c->dy) + shift_noise(&rng);
            }
        float dx = 99, dy = 99;
        float mse = um_kernel_shift_estimate(cur, prev, NULL, W, H, c->guess_x, c->guess_y, 4, 8, &dx, &dy);
        if (!(fabsf(dx - c->want_x) <= c->within && fabsf(dy - c->want_y) <= c->within))
            fail_msg("%s: (%.3f, %.3f), want (%.3f, %.3f)", c->name, dx, dy, c->want_x, c->want_y);
        if (c->dx == floor(c->dx) && c->dy == floor(c->dy) && c->lit == 0) /* a whole shift leaves the noise */
            assert_true(mse < 0.3f);
    }
    /* Too few samples to compare: nothing to go by. */
    float dx, dy;
    assert_true(isinf(um_kernel_shift_estimate(cur, prev, NULL, 20, 20, 0, 0, 2, 8, &dx, &dy)));
}

/*
 * What a known motion leaves: prev moved by a fraction of a sample,
 * read through the Lanczos window, predicts cur to within the two frames'
 * noise (+-0.5 each: 1/6) on the smooth texture, whatever the change of
 * brightness; a shift a sample off leaves far more; samples use excludes
 * (something moving on its own there) do not count; too few samples give
 * nothing to go by.
 */
typedef struct {
    const char *name;
    double dx, dy;          /* the motion: cur(x, y) = prev(x + dx, y + dy) */
    float brighter;         /* levels cur gained */
    float read_x, read_y;   /* the motion the residual is asked for */
    int blotch;             /* a square changed on its own, excluded by use */
    float least, most;      /* bounds on the residual */
} residual_case;

static const residual_case residual_cases[] = {
    {"still", 0, 0, 0, 0, 0, 0, 0.10f, 0.25f},
    {"fraction", 1.3, -0.6, 0, 1.3f, -0.6f, 0, 0.10f, 0.25f},
    {"fraction, brighter", 1.3, -0.6, 6, 1.3f, -0.6f, 0, 0.10f, 0.25f},
    {"a sample off", 1.3, -0.6, 0, 2.3f, -0.6f, 0, 20.0f, 1e9f},
    {"blotch left out", 2.5, 0.5, 0, 2.5f, 0.5f, 1, 0.10f, 0.25f},
};

static void test_shift_residual_cases(void **state)
{
    (void)state;
    enum { W = 64, H = 48 };
    static float cur[W * H], prev[W * H];
    static uint8_t use[W * H];
    uint32_t rng = 9u;
    for (size_t i = 0; i < sizeof(residual_cases) / sizeof(residual_cases[0]); i++) {
        const residual_case *c = &residual_cases[i];
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                int blotch = c->blotch && x >= 20 && x < 36 && y >= 16 && y < 32;
                prev[y * W + x] = shift_picture(1, x, y) + shift_noise(&rng);
                cur[y * W + x] = shift_picture(1, x + c->dx, y + c->dy) + c->brighter + shift_noise(&rng) +
                                 (blotch ? 50.0f : 0.0f);
                use[y * W + x] = !blotch;
            }
        float left = um_kernel_shift_residual(cur, prev, use, W, H, c->read_x, c->read_y);
        if (!(left >= c->least && left <= c->most))
            fail_msg("%s: %.3f, want %.2f .. %.2f", c->name, left, c->least, c->most);
    }
    assert_true(isinf(um_kernel_shift_residual(cur, prev, NULL, 12, 12, 0, 0)));
}

typedef struct {
    int16_t gx, gy;
    int16_t want_x, want_y;
} direction_case;

/* Edges at or above the floor (16) become unit vectors of 256, whatever
 * their strength; weaker ones (noise) are scaled as if they were at the
 * floor, so stay small; none changes its direction. */
static const direction_case direction_cases[] = {
    {1000, 0, 256, 0}, {0, -40, 0, -256}, {300, 400, 154, 205}, {16, 0, 256, 0},
    {8, 0, 128, 0},    {-4, 3, -64, 48},  {0, 0, 0, 0},
};

static void test_gradient_directions_table(void **state)
{
    (void)state;
    enum { N = sizeof(direction_cases) / sizeof(direction_cases[0]) };
    int16_t gx[2 * N], gy[2 * N];
    for (int i = 0; i < N; i++) {
        gx[i] = direction_cases[i].gx;
        gy[i] = direction_cases[i].gy;
        gx[N + i] = gy[N + i] = 7; /* the row past w: untouched */
    }
    um_kernel_gradient_directions(gx, gy, 2 * N, N, 1, 16, gx, gy);
    for (int i = 0; i < N; i++) {
        const direction_case *c = &direction_cases[i];
        if (abs(gx[i] - c->want_x) > 1 || abs(gy[i] - c->want_y) > 1)
            fail_msg("(%d, %d) -> (%d, %d), want (%d, %d)", c->gx, c->gy, gx[i], gy[i], c->want_x, c->want_y);
        assert_int_equal(gx[N + i], 7);
    }
}

/* A mark over an area's (ax, ay) .. (ax + aw, ay + ah), of one colour,
 * filled above 0.9. */
static um_kernel_mark test_mark(const float *alpha, int ax, int ay, int aw, int ah, float colour)
{
    return (um_kernel_mark){.alpha = alpha, .a_stride = aw, .ax = ax, .ay = ay, .aw = aw, .ah = ah,
                            .colour = colour, .a_max = 0.9f};
}

/* A restored area whose picture got brighter (exposure, a fade) follows it
 * at once: the prediction takes on the change the untouched samples around
 * show. Merged with the old brightness instead, the area would lag by half
 * the change (100 + 3 / 2: equal variances). */
static void test_temporal_filter_follows_brightness(void **state)
{
    (void)state;
    enum { W = 48, H = 32, AX = 12, AY = 8, AW = 24, AH = 16 };
    static float cur[W * H], var[W * H], prev[W * H], prev_var[W * H], alpha[AW * AH];
    for (int k = 0; k < AW * AH; k++)
        alpha[k] = 0.75f;
    for (int k = 0; k < W * H; k++) {
        prev[k] = 100;
        prev_var[k] = 4; /* the inverted samples' own: (0.5 / (1 - 0.75))^2 */
        cur[k] = 103;
    }
    /* A mark of the picture's colour: only the coding noise counts. */
    um_kernel_mark mark = test_mark(alpha, AX, AY, AW, AH, 103);
    int merged = um_kernel_temporal_filter(cur, var, prev, prev_var, W, H, 0, 0, &mark, 0.5f, 0.0f);
    assert_int_equal(merged, 1);
    for (int y = AY; y < AY + AH; y++)
        for (int x = AX; x < AX + AW; x++) {
            if (fabsf(cur[y * W + x] - 103) > 0.01f)
                fail_msg("(%d, %d) is %.2f, want 103", x, y, cur[y * W + x]);
            assert_true(var[y * W + x] < 4); /* merged, not started afresh */
        }
}

/* A change of brightness that is a gain (exposure: the bright parts gain
 * more than the dark ones) is followed at once too: over a ramp from 70 to
 * 117 that became 100 + 1.1 (v - 100), the restored samples keep their new
 * values. With the mean change around as an offset only (-0.65), a sample
 * at 82 would be predicted 1.15 off and merged halfway there. */
static void test_temporal_filter_follows_gain(void **state)
{
    (void)state;
    enum { W = 48, H = 32, AX = 12, AY = 8, AW = 24, AH = 16 };
    static float cur[W * H], var[W * H], prev[W * H], prev_var[W * H], alpha[AW * AH];
    for (int k = 0; k < AW * AH; k++)
        alpha[k] = 0.75f;
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            prev[y * W + x] = 70 + (float)x;
            prev_var[y * W + x] = 4;
            cur[y * W + x] = 100 + 1.1f * (prev[y * W + x] - 100);
        }
    um_kernel_mark mark = test_mark(alpha, AX, AY, AW, AH, 100);
    assert_int_equal(um_kernel_temporal_filter(cur, var, prev, prev_var, W, H, 0, 0, &mark, 0.5f, 0.0f), 1);
    for (int y = AY; y < AY + AH; y++)
        for (int x = AX; x < AX + AW; x++) {
            float want = 100 + 1.1f * (float)(x - 30);
            if (fabsf(cur[y * W + x] - want) > 0.02f)
                fail_msg("(%d, %d) is %.2f, want %.2f", x, y, cur[y * W + x], want);
            assert_true(var[y * W + x] < 4); /* merged, not started afresh */
        }
}

/* Merging two estimates (a forward and a backward pass's): each sample is
 * weighted by the variances given with it, not by its opacity; a sample
 * that disagrees far beyond them (9 deviations) keeps its own value, one
 * that disagrees by 3.5 (the matte's own error can) is merged. cur 100
 * (variance 1) and prev 102 (variance 3) merge into 100.5 with variance
 * 0.75; the deviation counts the slack, 4 * 0.5^2, too. */
static void test_temporal_merge_weighs_given_variances(void **state)
{
    (void)state;
    enum { W = 48, H = 32, AX = 12, AY = 8, AW = 24, AH = 16, ODD = (AY + 3) * W + AX + 5,
           SLIGHT = (AY + 9) * W + AX + 14 };
    const float slight = 100 + 3.5f * sqrtf(5.0f);
    static float cur[W * H], var[W * H], prev[W * H], prev_var[W * H], alpha[AW * AH];
    for (int k = 0; k < AW * AH; k++)
        alpha[k] = 0.75f;
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            int inside = x >= AX && y >= AY && x < AX + AW && y < AY + AH;
            cur[y * W + x] = 100;
            prev[y * W + x] = inside ? 102 : 100;
            var[y * W + x] = 1;
            prev_var[y * W + x] = 3;
        }
    prev[ODD] = 120; /* something moved here */
    prev[SLIGHT] = slight;
    um_kernel_mark mark = test_mark(alpha, AX, AY, AW, AH, 100);
    int merged = um_kernel_temporal_merge(cur, var, prev, prev_var, W, H, 0, 0, &mark, 0.5f, 0.0f);
    assert_int_equal(merged, 1);
    for (int y = AY; y < AY + AH; y++)
        for (int x = AX; x < AX + AW; x++) {
            int i = y * W + x;
            float want = i == ODD ? 100.0f : i == SLIGHT ? slight - 0.75f * (slight - 100) : 100.5f;
            float want_var = i == ODD ? 1.0f : 0.75f;
            if (fabsf(cur[i] - want) > 0.01f || fabsf(var[i] - want_var) > 0.01f)
                fail_msg("(%d, %d) is %.2f (variance %.2f), want %.2f (%.2f)", x, y, cur[i], var[i], want, want_var);
        }
}

typedef struct {
    float score; /* the mean squared disagreement, in expected variances */
    int merged;
} disagreement_case;

/* Inverted samples that disagree with their prediction, on average, by a
 * few times the variance expected (the matte's own error, which the
 * variance leaves out) are merged; by more, the motion is wrong and the
 * area starts afresh. Each disagreement stays inside the per-sample gate
 * (4 deviations): only the area's score decides. */
static const disagreement_case disagreement_cases[] = {
    {0.5f, 1}, {3.0f, 1}, {6.0f, 0}, {8.5f, 0},
};

static void test_temporal_filter_lets_go_of_wrong_motion(void **state)
{
    (void)state;
    enum { W = 48, H = 32, AX = 12, AY = 8, AW = 24, AH = 16 };
    static float cur[W * H], var[W * H], prev[W * H], prev_var[W * H], alpha[AW * AH];
    for (int k = 0; k < AW * AH; k++)
        alpha[k] = 0.75f;
    for (size_t c = 0; c < sizeof(disagreement_cases) / sizeof(disagreement_cases[0]); c++) {
        /* Expected: the prediction's 4 and the measurement's (0.5 / 0.25)^2. */
        float d = sqrtf(disagreement_cases[c].score * 8.0f);
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                int inside = x >= AX && y >= AY && x < AX + AW && y < AY + AH;
                prev[y * W + x] = 100;
                prev_var[y * W + x] = 4;
                cur[y * W + x] = inside ? 100 + ((x + y) % 2 ? d : -d) : 100;
            }
        um_kernel_mark mark = test_mark(alpha, AX, AY, AW, AH, 100);
        int merged = um_kernel_temporal_filter(cur, var, prev, prev_var, W, H, 0, 0, &mark, 0.5f, 0.0f);
        if (merged != disagreement_cases[c].merged)
            fail_msg("score %.1f: merged %d, want %d", disagreement_cases[c].score, merged,
                     disagreement_cases[c].merged);
        /* Equal variances: halfway; the matte's error, d from the mark's
         * colour, adds a little to the sample's (0.04 at d = 4.9). */
        float want = merged ? 100 + d / 2 : 100 + d;
        assert_true(fabsf(cur[AY * W + AX + 1] - want) < 0.05f);
    }
}

/* The matte's own error counts where the picture is far from the mark's
 * colour: two samples disagree with their prediction by 12 levels, beyond
 * the gate for the coding noise alone (4 deviations of sqrt(4 + 4)). The
 * one under a mark of its own colour is let go (kept at 112); the one 138
 * levels from the mark's colour carries (0.01 * 138 / 0.25)^2 = 30 more
 * variance and merges, mostly towards the prediction (101.25). */
static void test_temporal_filter_counts_matte_error(void **state)
{
    (void)state;
    enum { W = 48, H = 32, AX = 12, AY = 8, AW = 24, AH = 16, NEAR = (AY + 4) * W + AX + 4,
           FAR = (AY + 10) * W + AX + 16 };
    static float cur[W * H], var[W * H], prev[W * H], prev_var[W * H], alpha[AW * AH], colour[AW * AH];
    for (int k = 0; k < AW * AH; k++) {
        alpha[k] = 0.75f;
        colour[k] = 100;
    }
    colour[(FAR / W - AY) * AW + FAR % W - AX] = 250;
    for (int k = 0; k < W * H; k++) {
        prev[k] = cur[k] = 100;
        prev_var[k] = 4;
    }
    cur[NEAR] = cur[FAR] = 112;
    um_kernel_mark mark = test_mark(alpha, AX, AY, AW, AH, 0);
    mark.colour_map = colour;
    assert_int_equal(um_kernel_temporal_filter(cur, var, prev, prev_var, W, H, 0, 0, &mark, 0.5f, 0.0f), 1);
    assert_float_equal(cur[NEAR], 112, 1e-4);
    if (!(cur[FAR] > 100.5f && cur[FAR] < 102))
        fail_msg("far from the mark's colour: %.2f, want about 101.25", cur[FAR]);
}

/* Something moving on its own beside the mark (a bird, leaves) makes the
 * prediction miss there, not elsewhere: the untouched samples left of the
 * middle change by +-6 levels from the frame before, those right of it do
 * not, with no drift over the area as a whole. The restored samples, 4
 * levels from their predictions, follow their measurement on the left
 * (about 103.6) and merge halfway on the right (102). */
static void test_temporal_filter_follows_local_motion(void **state)
{
    (void)state;
    enum { W = 64, H = 40, AX = 16, AY = 8, AW = 32, AH = 16, LEFT = 20 * W + 18, RIGHT = 20 * W + 45 };
    static float cur[W * H], var[W * H], prev[W * H], prev_var[W * H], alpha[AW * AH];
    for (int k = 0; k < AW * AH; k++)
        alpha[k] = 0.75f;
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            int inside = x >= AX && x < AX + AW && y >= AY && y < AY + AH;
            float moving = x < W / 2 ? (((x >> 1) + (y >> 1)) % 2 ? 6.0f : -6.0f) : 0.0f;
            prev[y * W + x] = 100;
            prev_var[y * W + x] = inside ? 4 : 0.25f;
            cur[y * W + x] = inside ? 104 : 100 + moving;
        }
    um_kernel_mark mark = test_mark(alpha, AX, AY, AW, AH, 104);
    assert_int_equal(um_kernel_temporal_filter(cur, var, prev, prev_var, W, H, 0, 0, &mark, 0.5f, 0.0f), 1);
    if (!(cur[LEFT] > 103.3f && fabsf(cur[RIGHT] - 102) < 0.1f))
        fail_msg("left %.2f (want about 103.6), right %.2f (want 102)", cur[LEFT], cur[RIGHT]);
}

/* The picture beside the mark carries the first encode's extra noise: an
 * untouched sample 3 samples from the mark is merged with its prediction
 * (halfway, equal variances), one 12 samples away is left as it is. */
static void test_temporal_filter_merges_beside_the_mark(void **state)
{
    (void)state;
    enum { W = 64, H = 40, AX = 16, AY = 8, AW = 32, AH = 16, NEAR = 27 * W + 31, FAR = 35 * W + 31 };
    static float cur[W * H], var[W * H], prev[W * H], prev_var[W * H], alpha[AW * AH];
    for (int k = 0; k < AW * AH; k++)
        alpha[k] = 0.75f;
    for (int k = 0; k < W * H; k++) {
        prev[k] = cur[k] = 100;
        prev_var[k] = 0.25f;
    }
    cur[NEAR] = cur[FAR] = 101;
    um_kernel_mark mark = test_mark(alpha, AX, AY, AW, AH, 100);
    assert_int_equal(um_kernel_temporal_filter(cur, var, prev, prev_var, W, H, 0, 0, &mark, 0.5f, 0.0f), 1);
    if (!(fabsf(cur[NEAR] - 100.5f) < 0.01f && cur[FAR] == 101))
        fail_msg("beside the mark %.2f (want 100.5), away from it %.2f (want 101)", cur[NEAR], cur[FAR]);
}

/* The ring is the untouched samples within a few of the mark: one 4 rows
 * below its last row is in, one 12 below and one under the mark are not.
 * A ring handed over in the mark is the one merged: with none of the
 * area in it, the sample beside the mark keeps its own value. */
static void test_temporal_ring_handed_over(void **state)
{
    (void)state;
    enum { W = 64, H = 40, AX = 16, AY = 8, AW = 32, AH = 16, NEAR = 27 * W + 31, FAR = 35 * W + 31,
           UNDER = 12 * W + 31 };
    static float cur[W * H], var[W * H], prev[W * H], prev_var[W * H], alpha[AW * AH], none[W * H];
    for (int k = 0; k < AW * AH; k++)
        alpha[k] = 0.75f;
    um_kernel_mark mark = test_mark(alpha, AX, AY, AW, AH, 100);
    float *ring = um_kernel_temporal_ring(&mark, W, H);
    if (!(ring[NEAR] == 1 && ring[FAR] == 0 && ring[UNDER] == 0))
        fail_msg("ring: beside %.0f (want 1), away %.0f (want 0), under %.0f (want 0)", ring[NEAR], ring[FAR],
                 ring[UNDER]);
    free(ring);
    for (int k = 0; k < W * H; k++) {
        prev[k] = cur[k] = 100;
        prev_var[k] = 0.25f;
    }
    cur[NEAR] = 101;
    mark.ring = none;
    assert_int_equal(um_kernel_temporal_filter(cur, var, prev, prev_var, W, H, 0, 0, &mark, 0.5f, 0.0f), 1);
    if (cur[NEAR] != 101)
        fail_msg("beside the mark, outside the ring handed over: %.2f (want 101, not merged)", cur[NEAR]);
}

/* A motion off by 0.3 samples makes the prediction miss in proportion to
 * the picture's gradient: over stripes (the left half) the untouched
 * samples miss, over a flat picture (the right half) they do not. Four
 * whole periods of stripes from x = STRIPES, where the prediction can be
 * read, so that moving them changes little of their mean and spread (the
 * mark's window cuts some rows short: the brightness followed moves both
 * samples below by about +0.04). A restored sample on
 * a stripe's edge (squared gradient 50) then trusts its prediction less
 * (0.09 * 50 more variance: +0.47 towards its measurement) than one on the
 * flat part (+0.235, the variances alone). */
static void test_temporal_filter_counts_motion_error(void **state)
{
    (void)state;
    enum { W = 64, H = 40, AX = 16, AY = 8, AW = 32, AH = 16, EDGE = 16 * W + 20, FLAT = 16 * W + 40,
           STRIPES = 2 };
    static float cur[W * H], var[W * H], prev[W * H], prev_var[W * H], alpha[AW * AH];
    const float two_pi = 6.2831853f;
    for (int k = 0; k < AW * AH; k++)
        alpha[k] = 0.75f;
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            int inside = x >= AX && x < AX + AW && y >= AY && y < AY + AH;
            int striped = x >= STRIPES && x < STRIPES + 32;
            float stripes = striped ? 10 * sinf(two_pi * (float)x / 8) : 0;
            float moved = striped ? 10 * sinf(two_pi * ((float)x - 0.3f) / 8) : 0;
            prev[y * W + x] = 100 + stripes;
            prev_var[y * W + x] = 4;
            cur[y * W + x] = inside ? 104 + stripes : 100 + moved;
        }
    um_kernel_mark mark = test_mark(alpha, AX, AY, AW, AH, 100);
    assert_int_equal(um_kernel_temporal_filter(cur, var, prev, prev_var, W, H, 0, 0, &mark, 2.0f, 0.0f), 1);
    float edge = cur[EDGE] - prev[EDGE], flat = cur[FLAT] - prev[FLAT];
    if (!(edge - flat > 0.15f && fabsf(flat - 0.235f) < 0.06f))
        fail_msg("on the stripes' edge %+.3f, on the flat part %+.3f (want the edge about 0.235 more, the flat "
                 "part about +0.235)", edge, flat);
}

/* The median where it can pass the floor, against the plain median: for
 * every stack depth from 1 to 20 (the sorting network takes up to 16, in
 * groups of 8 elements; the rest, and the tail past the last whole group,
 * sort one element at a time), on values around the floor, so that some
 * medians are wanted and some are not. */
static void test_median_stack_where_matches_median(void **state)
{
    (void)state;
    enum { COUNT = 37, MAX_N = 20, FLOOR = 100 };
    int16_t values[MAX_N][COUNT], want[COUNT], got[COUNT];
    const int16_t *stack[MAX_N];
    uint8_t scratch[COUNT];
    uint32_t rng = 17u;
    int wanted = 0, zero = 0;
    for (int n = 1; n <= MAX_N; n++) {
        for (int k = 0; k < n; k++) {
            for (int i = 0; i < COUNT; i++) {
                rng ^= rng << 13;
                rng ^= rng >> 17;
                rng ^= rng << 5;
                values[k][i] = (int16_t)((int)(rng % 601) - 300);
            }
            stack[k] = values[k];
        }
        um_kernel_median_stack(stack, n, COUNT, want);
        um_kernel_median_stack_where(stack, n, COUNT, FLOOR, scratch, got);
        for (int i = 0; i < COUNT; i++) {
            int above = 0, below = 0;
            for (int k = 0; k < n; k++) {
                above += values[k][i] > FLOOR;
                below += values[k][i] < -FLOOR;
            }
            int expected = above * 2 >= n || below * 2 >= n ? want[i] : 0;
            if (got[i] != expected)
                fail_msg("n %d, element %d: %d, expected %d", n, i, got[i], expected);
            wanted += expected != 0;
            zero += expected == 0;
        }
    }
    assert_true(wanted > 50 && zero > 50);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_median_stack_where_matches_median),
        cmocka_unit_test(test_inpaint_cases),
        cmocka_unit_test(test_inpaint_ignores_masked_contents),
        cmocka_unit_test(test_inpaint_empty_mask_gives_no_plan),
        cmocka_unit_test(test_inpaint_all_masked_is_mid_grey),
        cmocka_unit_test(test_inpaint_single_known_pixel_fills_everything),
        cmocka_unit_test(test_inpaint_clamps_to_range),
        cmocka_unit_test(test_mask_subsample_cases),
        cmocka_unit_test(test_mask_dilate_matches_brute_force),
        cmocka_unit_test(test_mask_dilate_radius_past_plane),
        cmocka_unit_test(test_mask_fill_holes_table),
        cmocka_unit_test(test_shift_estimate_cases),
        cmocka_unit_test(test_shift_residual_cases),
        cmocka_unit_test(test_temporal_filter_follows_brightness),
        cmocka_unit_test(test_temporal_filter_follows_gain),
        cmocka_unit_test(test_temporal_merge_weighs_given_variances),
        cmocka_unit_test(test_temporal_filter_lets_go_of_wrong_motion),
        cmocka_unit_test(test_temporal_filter_counts_matte_error),
        cmocka_unit_test(test_temporal_filter_follows_local_motion),
        cmocka_unit_test(test_temporal_filter_merges_beside_the_mark),
        cmocka_unit_test(test_temporal_ring_handed_over),
        cmocka_unit_test(test_temporal_filter_counts_motion_error),
        cmocka_unit_test(test_gradient_directions_table),
        cmocka_unit_test(test_gradient_ncc_sums_match_brute_force),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
