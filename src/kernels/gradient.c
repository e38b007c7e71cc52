/*
 * Kernels for detection: downscaling, Sobel gradients, the temporal median
 * of a stack of gradient fields, and gradient cross-correlation. Pure
 * functions on (pointer, stride, width, height).
 */
#include <math.h>
#include <string.h>

#include "unmark/kernels.h"

/* The common case, 2x2 blocks, in a loop the compiler vectorises. */
static void downscale_by_two(const uint8_t *src, ptrdiff_t src_stride, int dw, int dh, uint8_t *dst,
                             ptrdiff_t dst_stride)
{
    for (int y = 0; y < dh; y++) {
        const uint8_t *a = src + (ptrdiff_t)(2 * y) * src_stride, *b = a + src_stride;
        uint8_t *out = dst + y * dst_stride;
        for (int x = 0; x < dw; x++)
            out[x] = (uint8_t)((a[2 * x] + a[2 * x + 1] + b[2 * x] + b[2 * x + 1] + 2) >> 2);
    }
}

void um_kernel_downscale_u8(const uint8_t *src, ptrdiff_t src_stride, int w, int h, int factor,
                            uint8_t *dst, ptrdiff_t dst_stride)
{
    int dw = w / factor, dh = h / factor, area = factor * factor;
    if (factor == 2) {
        downscale_by_two(src, src_stride, dw, dh, dst, dst_stride);
        return;
    }
    for (int y = 0; y < dh; y++) {
        uint8_t *out = dst + y * dst_stride;
        for (int x = 0; x < dw; x++) {
            unsigned sum = 0;
            for (int j = 0; j < factor; j++) {
                const uint8_t *row = src + (ptrdiff_t)(y * factor + j) * src_stride + x * factor;
                for (int i = 0; i < factor; i++)
                    sum += row[i];
            }
            out[x] = (uint8_t)((sum + (unsigned)area / 2) / (unsigned)area);
        }
    }
}

void um_kernel_downscale_u16(const uint16_t *src, ptrdiff_t src_stride, int w, int h, int depth,
                             int factor, uint8_t *dst, ptrdiff_t dst_stride)
{
    int dw = w / factor, dh = h / factor;
    unsigned area = (unsigned)(factor * factor) << (depth - 8);
    for (int y = 0; y < dh; y++) {
        uint8_t *out = dst + y * dst_stride;
        for (int x = 0; x < dw; x++) {
            unsigned sum = 0;
            for (int j = 0; j < factor; j++) {
                const uint16_t *row = (const uint16_t *)((const uint8_t *)src +
                                                         (ptrdiff_t)(y * factor + j) * src_stride) +
                                      x * factor;
                for (int i = 0; i < factor; i++)
                    sum += row[i];
            }
            unsigned v = (sum + area / 2) / area;
            out[x] = (uint8_t)(v > 255 ? 255 : v);
        }
    }
}

/* The first and last chroma samples (inclusive) under detection cell i. */
static void chroma_span(int i, int factor, int log2, int n, int *first, int *last)
{
    *first = (i * factor) >> log2;
    *last = ((i + 1) * factor - 1) >> log2;
    *last = *last >= n ? n - 1 : *last;
    *first = *first > *last ? *last : *first;
}

static unsigned chroma_sample(const uint8_t *row, int depth, int x)
{
    return depth > 8 ? ((const uint16_t *)row)[x] : row[x];
}

/* The chroma samples per cell along each axis when every cell covers the
 * same whole square of them (4:2:0 under a grid at half or quarter size,
 * 4:4:4 under any): the cells are then a plain downscale, which runs at a
 * fraction of the general loop's cost on every frame. 0 otherwise. */
static int whole_square_per_cell(int factor, int log2_w, int log2_h, int cw, int ch, int dw, int dh)
{
    int r = factor >> log2_w;
    if (r < 1 || r << log2_w != factor || r << log2_h != factor || dw * r > cw || dh * r > ch)
        return 0;
    return r;
}

void um_kernel_chroma_to_grid(const uint8_t *src, ptrdiff_t src_stride, int depth, int log2_w, int log2_h,
                              int cw, int ch, int factor, int dw, int dh, uint8_t *dst, ptrdiff_t dst_stride)
{
    int r = whole_square_per_cell(factor, log2_w, log2_h, cw, ch, dw, dh);
    if (r && depth > 8) {
        um_kernel_downscale_u16((const uint16_t *)src, src_stride, dw * r, dh * r, depth, r, dst, dst_stride);
        return;
    }
    if (r == 1) {
        for (int y = 0; y < dh; y++)
            memcpy(dst + (ptrdiff_t)y * dst_stride, src + (ptrdiff_t)y * src_stride, (size_t)dw);
        return;
    }
    if (r) {
        um_kernel_downscale_u8(src, src_stride, dw * r, dh * r, r, dst, dst_stride);
        return;
    }
    int shift = depth > 8 ? depth - 8 : 0;
    for (int y = 0; y < dh; y++) {
        int y0, y1;
        chroma_span(y, factor, log2_h, ch, &y0, &y1);
        for (int x = 0; x < dw; x++) {
            int x0, x1;
            chroma_span(x, factor, log2_w, cw, &x0, &x1);
            unsigned sum = 0, count = (unsigned)((x1 - x0 + 1) * (y1 - y0 + 1));
            for (int j = y0; j <= y1; j++)
                for (int i = x0; i <= x1; i++)
                    sum += chroma_sample(src + (ptrdiff_t)j * src_stride, depth, i);
            unsigned v = ((sum + count / 2) / count) >> shift;
            dst[(ptrdiff_t)y * dst_stride + x] = (uint8_t)(v > 255 ? 255 : v);
        }
    }
}

static void halve_field(const int16_t *g, ptrdiff_t stride, int hw, int hh, int16_t *out, ptrdiff_t out_stride)
{
    for (int y = 0; y < hh; y++) {
        const int16_t *a = g + (ptrdiff_t)(2 * y) * stride, *b = a + stride;
        int16_t *o = out + (ptrdiff_t)y * out_stride;
        for (int x = 0; x < hw; x++) {
            int sum = a[2 * x] + a[2 * x + 1] + b[2 * x] + b[2 * x + 1];
            o[x] = (int16_t)(sum >= 0 ? (sum + 2) >> 2 : -((-sum + 2) >> 2));
        }
    }
}

void um_kernel_halve_gradients(const int16_t *gx, const int16_t *gy, ptrdiff_t stride, int w, int h,
                               int16_t *out_gx, int16_t *out_gy, ptrdiff_t out_stride)
{
    halve_field(gx, stride, w / 2, h / 2, out_gx, out_stride);
    halve_field(gy, stride, w / 2, h / 2, out_gy, out_stride);
}

void um_kernel_sobel(const uint8_t *src, ptrdiff_t src_stride, int w, int h, int16_t *gx,
                     int16_t *gy, ptrdiff_t g_stride)
{
    for (int y = 0; y < h; y++) {
        int16_t *ox = gx + y * g_stride, *oy = gy + y * g_stride;
        if (y == 0 || y == h - 1 || w < 3) {
            memset(ox, 0, (size_t)w * sizeof(*ox));
            memset(oy, 0, (size_t)w * sizeof(*oy));
            continue;
        }
        const uint8_t *a = src + (y - 1) * src_stride, *b = src + y * src_stride,
                      *c = src + (y + 1) * src_stride;
        ox[0] = oy[0] = ox[w - 1] = oy[w - 1] = 0;
        for (int x = 1; x < w - 1; x++) {
            int sx = (a[x + 1] + 2 * b[x + 1] + c[x + 1]) - (a[x - 1] + 2 * b[x - 1] + c[x - 1]);
            int sy = (c[x - 1] + 2 * c[x] + c[x + 1]) - (a[x - 1] + 2 * a[x] + a[x + 1]);
            ox[x] = (int16_t)sx;
            oy[x] = (int16_t)sy;
        }
    }
}

/* Median of n values by insertion sort: n is small (a window of samples)
 * and the values arrive nearly ordered as often as not. */
static int16_t median_of(int16_t *v, int n)
{
    for (int i = 1; i < n; i++) {
        int16_t key = v[i];
        int j = i - 1;
        while (j >= 0 && v[j] > key) {
            v[j + 1] = v[j];
            j--;
        }
        v[j + 1] = key;
    }
    return v[(n - 1) / 2];
}

void um_kernel_median_stack(const int16_t *const *stack, int n, size_t count, int16_t *out)
{
    int16_t v[64] = {0};
    if (n > 64)
        n = 64;
    for (size_t i = 0; i < count; i++) {
        for (int k = 0; k < n; k++)
            v[k] = stack[k][i];
        out[i] = median_of(v, n);
    }
}

void um_kernel_median_stack_where(const int16_t *const *stack, int n, size_t count, int16_t floor_abs,
                                  uint8_t *scratch, int16_t *out)
{
    if (n > 64)
        n = 64;
    /* A median above floor_abs needs more than half the samples above it,
     * and one below -floor_abs more than half below: count both (above in
     * scratch, below in out until it is written), in loops the compiler
     * vectorises. */
    memset(scratch, 0, count);
    memset(out, 0, count * sizeof(*out));
    for (int k = 0; k < n; k++) {
        const int16_t *s = stack[k];
        for (size_t i = 0; i < count; i++) {
            scratch[i] += (uint8_t)(s[i] > floor_abs);
            out[i] += (int16_t)(s[i] < -floor_abs);
        }
    }
    int16_t v[64] = {0};
    for (size_t i = 0; i < count; i++) {
        int above = scratch[i], below = out[i];
        if (above * 2 < n && below * 2 < n) {
            out[i] = 0;
            continue;
        }
        for (int k = 0; k < n; k++)
            v[k] = stack[k][i];
        out[i] = median_of(v, n);
    }
}

void um_kernel_gradient_directions(const int16_t *gx, const int16_t *gy, ptrdiff_t stride, int w, int h,
                                   int floor, int16_t *dx, int16_t *dy)
{
    for (int y = 0; y < h; y++) {
        const int16_t *rx = gx + y * stride, *ry = gy + y * stride;
        int16_t *ox = dx + y * stride, *oy = dy + y * stride;
        for (int x = 0; x < w; x++) {
            float m = sqrtf((float)rx[x] * rx[x] + (float)ry[x] * ry[x]);
            float scale = UM_KERNEL_DIRECTION_UNIT / (m > (float)floor ? m : (float)floor);
            ox[x] = (int16_t)lrintf(rx[x] * scale);
            oy[x] = (int16_t)lrintf(ry[x] * scale);
        }
    }
}

/* Template matching runs this for every placement tried, and it was 30% of
 * detection's CPU time on p2 of the benchmark (perf). An AVX2 build of it,
 * picked when the CPU has AVX2 (glibc's ifunc), gives the same sums
 * (integer arithmetic) in 30% less time: 0.97 -> 0.68 s of CPU on p2. */
#if defined(__GNUC__) && defined(__x86_64__) && defined(__GLIBC__)
#define NCC_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define NCC_CLONES
#endif

NCC_CLONES
um_ncc_sums um_kernel_gradient_ncc_sums(const int16_t *tgx, const int16_t *tgy, ptrdiff_t t_stride,
                                        const uint8_t *weight, ptrdiff_t w_stride, const int16_t *fgx,
                                        const int16_t *fgy, ptrdiff_t f_stride, int w, int h)
{
    um_ncc_sums s = {0, 0, 0};
    for (int y = 0; y < h; y++) {
        const int16_t *ax = tgx + y * t_stride, *ay = tgy + y * t_stride;
        const int16_t *bx = fgx + y * f_stride, *by = fgy + y * f_stride;
        const uint8_t *m = weight + y * w_stride;
        /* A row's sums fit in 32 bits (|g| <= 1020, rows under 1000 px),
         * and a multiply by the 0/1 weight instead of a branch lets the
         * loop vectorise. */
        int32_t rtf = 0, rtt = 0, rff = 0;
        for (int x = 0; x < w; x++) {
            int32_t k = m[x] != 0;
            int32_t px = ax[x] * k, py = ay[x] * k, qx = bx[x] * k, qy = by[x] * k;
            rtf += (px * qx + py * qy) >> 4;
            rtt += (px * px + py * py) >> 4;
            rff += (qx * qx + qy * qy) >> 4;
        }
        s.tf += rtf;
        s.tt += rtt;
        s.ff += rff;
    }
    return s;
}

double um_kernel_gradient_ncc(const int16_t *tgx, const int16_t *tgy, ptrdiff_t t_stride,
                              const uint8_t *weight, ptrdiff_t w_stride, const int16_t *fgx,
                              const int16_t *fgy, ptrdiff_t f_stride, int w, int h)
{
    um_ncc_sums s = um_kernel_gradient_ncc_sums(tgx, tgy, t_stride, weight, w_stride, fgx, fgy, f_stride, w, h);
    if (s.tt <= 0 || s.ff <= 0)
        return 0;
    return s.tf / sqrt(s.tt * s.ff);
}
