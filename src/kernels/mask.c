/*
 * unmark — kernels: mask preparation (subsampling to a chroma grid, growing,
 * filling holes).
 *
 * Masks are bytes where nonzero means "masked". Both operations take the
 * maximum over a neighbourhood rather than writing a fixed 255, so a binary
 * mask keeps its own "on" value and a soft mask keeps its grey levels; either
 * way a result is nonzero exactly when some covered source pixel is.
 */
#include "unmark/kernels.h"

#include <stdlib.h>
#include <string.h>

#include "unmark/common.h"

/* The larger of two mask values. */
static uint8_t max_u8(uint8_t a, uint8_t b)
{
    return a > b ? a : b;
}

/* The smaller of two ints. */
static int min_int(int a, int b)
{
    return a < b ? a : b;
}

/* Number of subsampled positions along a line of n samples: a partial
 * block at the end still gets its own sample, as FFmpeg's chroma sizes do. */
static int subsampled_length(int n, int log2_factor)
{
    return (n + (1 << log2_factor) - 1) >> log2_factor;
}

/* Largest mask value in the rectangle [x0, x1) x [y0, y1). */
static uint8_t block_max(const uint8_t *mask, ptrdiff_t stride, int x0, int x1, int y0, int y1)
{
    uint8_t m = 0;
    for (int y = y0; y < y1; y++) {
        const uint8_t *row = mask + y * stride;
        for (int x = x0; x < x1; x++)
            m = max_u8(m, row[x]);
    }
    return m;
}

/*
 * Each chroma sample takes the maximum of the luma block it covers, clipped
 * to the mask: a chroma sample must be filled as soon as any of the luma
 * pixels it contributes to is, or the mark's colour would leak back in.
 */
void um_kernel_mask_subsample(const uint8_t *mask, ptrdiff_t mask_stride, int w, int h, int log2_w,
                              int log2_h, uint8_t *out, ptrdiff_t out_stride)
{
    int out_w = subsampled_length(w, log2_w), out_h = subsampled_length(h, log2_h);
    for (int oy = 0; oy < out_h; oy++) {
        int y0 = oy << log2_h, y1 = min_int(y0 + (1 << log2_h), h);
        uint8_t *out_row = out + oy * out_stride;
        for (int ox = 0; ox < out_w; ox++) {
            int x0 = ox << log2_w, x1 = min_int(x0 + (1 << log2_w), w);
            out_row[ox] = block_max(mask, mask_stride, x0, x1, y0, y1);
        }
    }
}

/*
 * Sliding maximum over windows [i - r, i + r] of a line of n samples, read
 * and written with a step (1 for a row, the stride for a column), using van
 * Herk / Gil-Werman: with the line padded by r zeros at each end and cut into
 * blocks of 2r + 1, every window spans at most two blocks, so its maximum is
 * max(suffix max of its first block from its start, prefix max of the next
 * block up to its end). Three comparisons per sample whatever r is. The line
 * is copied into scratch first, so in and out may be the same line.
 * scratch holds 3 * (n + 2r) bytes.
 */
static void max_filter_line(const uint8_t *in, ptrdiff_t in_step, int n, int r, uint8_t *out,
                            ptrdiff_t out_step, uint8_t *scratch)
{
    int len = n + 2 * r, block = 2 * r + 1;
    uint8_t *padded = scratch, *prefix = scratch + len, *suffix = scratch + 2 * len;

    memset(padded, 0, (size_t)len);
    for (int i = 0; i < n; i++)
        padded[r + i] = in[i * in_step];

    for (int start = 0; start < len; start += block) {
        int end = min_int(start + block, len);
        prefix[start] = padded[start];
        for (int i = start + 1; i < end; i++)
            prefix[i] = max_u8(prefix[i - 1], padded[i]);
        suffix[end - 1] = padded[end - 1];
        for (int i = end - 2; i >= start; i--)
            suffix[i] = max_u8(suffix[i + 1], padded[i]);
    }
    for (int i = 0; i < n; i++)
        out[i * out_step] = max_u8(suffix[i], prefix[i + 2 * r]);
}

/* Row-by-row copy: dilating by 0 leaves the mask as it is. */
static void copy_plane(const uint8_t *src, ptrdiff_t src_stride, int w, int h, uint8_t *dst,
                       ptrdiff_t dst_stride)
{
    for (int y = 0; y < h; y++)
        memcpy(dst + y * dst_stride, src + y * src_stride, (size_t)w);
}

/*
 * Square dilation is separable: a maximum over rows of row-wise maxima. Each
 * pass is a sliding maximum whose cost does not depend on r, so growing a
 * mask by 50 pixels costs the same as by 1. A radius past the line's length
 * is cut to it, since the window then already covers the whole line.
 * Allocates a scratch line (this runs once per mask, not per frame).
 */
void um_kernel_mask_dilate(const uint8_t *src, ptrdiff_t src_stride, int w, int h, int r,
                           uint8_t *dst, ptrdiff_t dst_stride)
{
    if (w <= 0 || h <= 0)
        return;
    if (r <= 0) {
        copy_plane(src, src_stride, w, h, dst, dst_stride);
        return;
    }
    int rx = min_int(r, w - 1), ry = min_int(r, h - 1);
    int longest = w + 2 * rx > h + 2 * ry ? w + 2 * rx : h + 2 * ry;
    uint8_t *scratch = um_xmalloc(3 * (size_t)longest);

    for (int y = 0; y < h; y++)
        max_filter_line(src + y * src_stride, 1, w, rx, dst + y * dst_stride, 1, scratch);
    for (int x = 0; x < w; x++)
        max_filter_line(dst + x, dst_stride, h, ry, dst + x, dst_stride, scratch);
    free(scratch);
}

/* Visits (x, y) from outside when it is unmasked and not yet reached, and
 * queues it for its neighbours. */
static void reach(const uint8_t *mask, ptrdiff_t stride, int x, int y, int w, uint8_t *reached,
                  int32_t *queue, size_t *n)
{
    size_t k = (size_t)y * w + x;
    if (mask[(ptrdiff_t)y * stride + x] || reached[k])
        return;
    reached[k] = 1;
    queue[(*n)++] = (int32_t)k;
}

/* A flood from the border over unmasked pixels: what it cannot reach is a
 * hole, and is masked with 1. */
void um_kernel_mask_fill_holes(uint8_t *mask, ptrdiff_t stride, int w, int h)
{
    if (w <= 0 || h <= 0)
        return;
    uint8_t *reached = um_xcalloc((size_t)w * h, 1);
    int32_t *queue = um_xmalloc((size_t)w * h * sizeof(int32_t));
    size_t n = 0;
    for (int x = 0; x < w; x++) {
        reach(mask, stride, x, 0, w, reached, queue, &n);
        reach(mask, stride, x, h - 1, w, reached, queue, &n);
    }
    for (int y = 0; y < h; y++) {
        reach(mask, stride, 0, y, w, reached, queue, &n);
        reach(mask, stride, w - 1, y, w, reached, queue, &n);
    }
    for (size_t next = 0; next < n; next++) {
        int x = (int)(queue[next] % w), y = (int)(queue[next] / w);
        if (x > 0)
            reach(mask, stride, x - 1, y, w, reached, queue, &n);
        if (x < w - 1)
            reach(mask, stride, x + 1, y, w, reached, queue, &n);
        if (y > 0)
            reach(mask, stride, x, y - 1, w, reached, queue, &n);
        if (y < h - 1)
            reach(mask, stride, x, y + 1, w, reached, queue, &n);
    }
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            if (!reached[(size_t)y * w + x] && !mask[(ptrdiff_t)y * stride + x])
                mask[(ptrdiff_t)y * stride + x] = 1;
    free(queue);
    free(reached);
}
