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

/* Elements whose medians a sorting network finds side by side, and the
 * most values it sorts. */
#define NETWORK_LANES 8
#define NETWORK_VALUES 16
#define NETWORK_PAIRS 63

/* Batcher's odd-even merge network for NETWORK_VALUES values: the pairs
 * it compares and exchanges, in order. */
typedef struct {
    uint8_t a[NETWORK_PAIRS], b[NETWORK_PAIRS];
} sort_network;

static sort_network batcher_network(void)
{
    sort_network net = {{0}, {0}};
    int n = 0;
    for (int p = 1; p < NETWORK_VALUES; p <<= 1)
        for (int k = p; k >= 1; k >>= 1)
            for (int j = k % p; j + k < NETWORK_VALUES; j += 2 * k)
                for (int i = 0; i < k && i + j + k < NETWORK_VALUES; i++)
                    if ((i + j) / (2 * p) == (i + j + k) / (2 * p) && n < NETWORK_PAIRS) {
                        net.a[n] = (uint8_t)(i + j);
                        net.b[n++] = (uint8_t)(i + j + k);
                    }
    return net;
}

/* The lower median of each of NETWORK_LANES elements i0 .. of n <=
 * NETWORK_VALUES arrays, into out[i0 ..]. The values are padded to
 * NETWORK_VALUES with the lowest and highest int16 so that the median
 * lands at the middle, and sorted by the network: the same
 * compare-exchanges for every element, which the compiler runs on all
 * lanes at once. On a picture textured all over (hold-out h3), where most
 * medians are wanted, this function took 10% of `unmark detect`'s CPU
 * time sorting one element at a time, 3% this way (perf record). */
static void network_medians(const sort_network *net, const int16_t *const *stack, int n, size_t i0,
                            int16_t *out)
{
    int16_t v[NETWORK_VALUES][NETWORK_LANES];
    int low = (NETWORK_VALUES / 2 - 1) - (n - 1) / 2;
    for (int k = 0; k < NETWORK_VALUES; k++)
        for (int l = 0; l < NETWORK_LANES; l++)
            v[k][l] = k < low ? INT16_MIN : k < low + n ? stack[k - low][i0 + l] : INT16_MAX;
    for (int c = 0; c < NETWORK_PAIRS; c++) {
        int16_t *x = v[net->a[c]], *y = v[net->b[c]];
        int16_t lo[NETWORK_LANES], hi[NETWORK_LANES];
        for (int l = 0; l < NETWORK_LANES; l++) {
            lo[l] = x[l] < y[l] ? x[l] : y[l];
            hi[l] = x[l] < y[l] ? y[l] : x[l];
        }
        memcpy(x, lo, sizeof(lo));
        memcpy(y, hi, sizeof(hi));
    }
    for (int l = 0; l < NETWORK_LANES; l++)
        out[i0 + l] = v[NETWORK_VALUES / 2 - 1][l];
}

/* Whether an element's median can pass the floor: at least half of its
 * n samples above it, or at least half below its negative. */
static int median_wanted(int above, int below, int n)
{
    return above * 2 >= n || below * 2 >= n;
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
    sort_network net = batcher_network();
    for (size_t i = 0; i < count; i++) {
        /* Whole groups of elements, any of whose medians is wanted, by the
         * network (its medians replace the counts of all of them). */
        if (n <= NETWORK_VALUES && i % NETWORK_LANES == 0 && i + NETWORK_LANES <= count) {
            uint8_t keep[NETWORK_LANES];
            int wanted = 0;
            for (int l = 0; l < NETWORK_LANES; l++) {
                keep[l] = (uint8_t)median_wanted(scratch[i + l], out[i + l], n);
                wanted += keep[l];
            }
            if (wanted) {
                network_medians(&net, stack, n, i, out);
                for (int l = 0; l < NETWORK_LANES; l++)
                    out[i + l] = keep[l] ? out[i + l] : 0;
                i += NETWORK_LANES - 1;
                continue;
            }
        }
        if (!median_wanted(scratch[i], out[i], n)) {
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

/* One row's sums, over 16: a row's sums fit in 32 bits (|g| <= 1020, rows
 * under 1000 px), and a multiply by the 0/1 weight instead of a branch
 * lets the loop vectorise. */
static void ncc_row(const int16_t *ax, const int16_t *ay, const uint8_t *m, const int16_t *bx, const int16_t *by,
                    int from, int to, int32_t *rtf, int32_t *rtt, int32_t *rff)
{
    for (int x = from; x < to; x++) {
        int32_t k = m[x] != 0;
        int32_t px = ax[x] * k, py = ay[x] * k, qx = bx[x] * k, qy = by[x] * k;
        *rtf += (px * qx + py * qy) >> 4;
        *rtt += (px * px + py * py) >> 4;
        *rff += (qx * qx + qy * qy) >> 4;
    }
}

/*
 * Template matching runs this for every placement tried: the whole-frame
 * search for a mark learnt late (or handed over as a template) tries every
 * placement of the frame at half resolution, at three scales, twice a
 * second, and was half of `unmark detect`'s CPU time on hold-out h1.
 * Compiled, the loop works in 32-bit lanes, 8 pixels at a time, with
 * 32-bit multiplies. With AVX2, each pixel's x and y gradients are
 * interleaved so that one 16-bit multiply-add gives px*qx + py*qy, as the
 * loop's own sums: 16 pixels at a time, the same integers.
 */
#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>

__attribute__((target("avx2"))) static int32_t sum_lanes(__m256i v)
{
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtsi128_si32(s);
}

/* (a.b) >> 4 for each pixel of the interleaved pairs a and b, added to acc. */
__attribute__((target("avx2"))) static __m256i add_products(__m256i acc, __m256i a, __m256i b)
{
    return _mm256_add_epi32(acc, _mm256_srai_epi32(_mm256_madd_epi16(a, b), 4));
}

__attribute__((target("avx2"))) static void ncc_row_avx2(const int16_t *ax, const int16_t *ay, const uint8_t *m,
                                                         const int16_t *bx, const int16_t *by, int w, int32_t *rtf,
                                                         int32_t *rtt, int32_t *rff)
{
    __m256i tf = _mm256_setzero_si256(), tt = tf, ff = tf, zero = tf;
    int x = 0;
    for (; x + 16 <= w; x += 16) {
        __m256i weight = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(m + x)));
        __m256i keep = _mm256_cmpgt_epi16(weight, zero);
        __m256i px = _mm256_and_si256(keep, _mm256_loadu_si256((const __m256i *)(ax + x)));
        __m256i py = _mm256_and_si256(keep, _mm256_loadu_si256((const __m256i *)(ay + x)));
        __m256i qx = _mm256_and_si256(keep, _mm256_loadu_si256((const __m256i *)(bx + x)));
        __m256i qy = _mm256_and_si256(keep, _mm256_loadu_si256((const __m256i *)(by + x)));
        __m256i t_lo = _mm256_unpacklo_epi16(px, py), t_hi = _mm256_unpackhi_epi16(px, py);
        __m256i f_lo = _mm256_unpacklo_epi16(qx, qy), f_hi = _mm256_unpackhi_epi16(qx, qy);
        tf = add_products(add_products(tf, t_lo, f_lo), t_hi, f_hi);
        tt = add_products(add_products(tt, t_lo, t_lo), t_hi, t_hi);
        ff = add_products(add_products(ff, f_lo, f_lo), f_hi, f_hi);
    }
    if (x + 8 <= w) { /* 8 more, in half a register */
        __m128i keep = _mm_cmpgt_epi16(_mm_cvtepu8_epi16(_mm_loadl_epi64((const __m128i *)(m + x))),
                                       _mm_setzero_si128());
        __m128i px = _mm_and_si128(keep, _mm_loadu_si128((const __m128i *)(ax + x)));
        __m128i py = _mm_and_si128(keep, _mm_loadu_si128((const __m128i *)(ay + x)));
        __m128i qx = _mm_and_si128(keep, _mm_loadu_si128((const __m128i *)(bx + x)));
        __m128i qy = _mm_and_si128(keep, _mm_loadu_si128((const __m128i *)(by + x)));
        /* pixels 0-3 in the low lane, 4-7 in the high one */
        __m256i t = _mm256_set_m128i(_mm_unpackhi_epi16(px, py), _mm_unpacklo_epi16(px, py));
        __m256i f = _mm256_set_m128i(_mm_unpackhi_epi16(qx, qy), _mm_unpacklo_epi16(qx, qy));
        tf = add_products(tf, t, f);
        tt = add_products(tt, t, t);
        ff = add_products(ff, f, f);
        x += 8;
    }
    *rtf = sum_lanes(tf);
    *rtt = sum_lanes(tt);
    *rff = sum_lanes(ff);
    ncc_row(ax, ay, m, bx, by, x, w, rtf, rtt, rff);
}
#define NCC_HAS_AVX2 1
#endif

um_ncc_sums um_kernel_gradient_ncc_sums(const int16_t *tgx, const int16_t *tgy, ptrdiff_t t_stride,
                                        const uint8_t *weight, ptrdiff_t w_stride, const int16_t *fgx,
                                        const int16_t *fgy, ptrdiff_t f_stride, int w, int h)
{
    um_ncc_sums s = {0, 0, 0};
#ifdef NCC_HAS_AVX2
    int avx2 = __builtin_cpu_supports("avx2");
#else
    int avx2 = 0;
#endif
    for (int y = 0; y < h; y++) {
        const int16_t *ax = tgx + y * t_stride, *ay = tgy + y * t_stride;
        const int16_t *bx = fgx + y * f_stride, *by = fgy + y * f_stride;
        const uint8_t *m = weight + y * w_stride;
        int32_t rtf = 0, rtt = 0, rff = 0;
#ifdef NCC_HAS_AVX2
        if (avx2)
            ncc_row_avx2(ax, ay, m, bx, by, w, &rtf, &rtt, &rff);
        else
#endif
            ncc_row(ax, ay, m, bx, by, 0, w, &rtf, &rtt, &rff);
        s.tf += rtf;
        s.tt += rtt;
        s.ff += rff;
    }
    (void)avx2;
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
