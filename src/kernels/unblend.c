/*
 * unmark — kernels: reverse alpha blending.
 *
 * A semi-transparent mark does not destroy the picture under it, it mixes
 * with it: J = a W + (1 - a) I, with a the mark's opacity at the pixel and W
 * its colour. Knowing a and W, the picture comes back exactly:
 *     I = (J - a W) / (1 - a).
 * The division multiplies whatever noise J carries (H.264's quantisation,
 * ringing) by g = 1 / (1 - a): 4x at a = 0.75, 10x at 0.9. Two defences:
 *   - pixels whose opacity passes a_max are not inverted at all; the caller
 *     fills them from their surroundings instead (the residue);
 *   - the inverted pixels are smoothed by a small edge-preserving
 *     (bilateral) filter whose range is the amplified noise, noise * g:
 *     differences that noise could explain are averaged away, edges of the
 *     picture, larger than that, stay. Where g is near 1 the filter does
 *     almost nothing, so the transition to the untouched surroundings is
 *     seamless.
 */
#include "unmark/kernels.h"

#include <math.h>

/* Range of the smoothing, in amplified-noise deviations. On the benchmark
 * (box PSNR as encoded; the temporal filter runs after this smoothing),
 * against 2: at 1, p4 +0.59 dB and g1 +0.54 (a bug over texture the range
 * flattens, the picture moving so the temporal filter averages the noise
 * anyway), but p3 -0.32, h4 -0.22, g3 -0.60; without smoothing, p4 +0.34
 * and g1 +0.65, but h1 -3.7 and g3 -3.1 (there the first encode's error
 * stays from frame to frame, and only this filter lowers it) and p3 -2.4.
 * Scaled by the share of the assumed coding noise that the temporal
 * filter did not see renewed from frame to frame (none on p4, 0.3 on g1,
 * nearly all on h1 and g3): p4 +0.50, g1 +0.62, but p3 -0.53. */
#define RANGE_SIGMAS 2.0f

static int inverted(float a, float a_max)
{
    return a >= UM_KERNEL_MIN_ALPHA && a <= a_max;
}

/* Pass 1: the inverted values into out (w x h); others copied. */
static void invert(const float *j, ptrdiff_t j_stride, const float *alpha, ptrdiff_t a_stride, int w,
                   int h, float colour, const float *colour_map, float a_max, float *out)
{
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            float a = alpha[y * a_stride + x], v = j[y * j_stride + x];
            float c = colour_map ? colour_map[y * a_stride + x] : colour;
            out[y * w + x] = inverted(a, a_max) ? (v - a * c) / (1.0f - a) : v;
        }
}

/* Pass 2: the value at x, y after the noise-scaled bilateral filter over
 * its 3x3 neighbourhood (inverted neighbours only). */
static float smoothed(const float *v, const float *alpha, ptrdiff_t a_stride, int w, int h, int x,
                      int y, float a_max, float noise)
{
    float a = alpha[y * a_stride + x], centre = v[y * w + x];
    if (noise <= 0)
        return centre;
    float range = RANGE_SIGMAS * noise / (1.0f - a);
    /* The filter's strength follows the amplification: at g = 1 only the
     * centre counts. */
    float self = 1.0f - a;
    float sum = centre * self, weight = self;
    for (int dy = -1; dy <= 1; dy++)
        for (int dx = -1; dx <= 1; dx++) {
            int nx = x + dx, ny = y + dy;
            if ((!dx && !dy) || nx < 0 || ny < 0 || nx >= w || ny >= h)
                continue;
            float na = alpha[ny * a_stride + nx];
            if (!inverted(na, a_max))
                continue;
            float d = (v[ny * w + nx] - centre) / range;
            float k = a * expf(-0.5f * d * d);
            sum += v[ny * w + nx] * k;
            weight += k;
        }
    return sum / weight;
}

/* The whole operation on float samples, into out where the sample is
 * inverted (the entry points write back only those); the u8/u16 entry
 * points convert. */
static void unblend(const float *j, ptrdiff_t j_stride, const float *alpha, ptrdiff_t a_stride, int w,
                    int h, float colour, const float *colour_map, float a_max, float noise, float *scratch,
                    float *out)
{
    invert(j, j_stride, alpha, a_stride, w, h, colour, colour_map, a_max, scratch);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            if (inverted(alpha[y * a_stride + x], a_max))
                out[y * w + x] = smoothed(scratch, alpha, a_stride, w, h, x, y, a_max, noise);
}

size_t um_kernel_unblend_scratch(int w, int h)
{
    return (size_t)w * h * 3 * sizeof(float);
}

void um_kernel_unblend_u8(uint8_t *plane, ptrdiff_t stride, const float *alpha, ptrdiff_t a_stride,
                          int w, int h, float colour, const float *colour_map, float a_max, float noise,
                          void *scratch)
{
    float *j = scratch, *tmp = j + (size_t)w * h, *out = tmp + (size_t)w * h;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            j[y * w + x] = plane[y * stride + x];
    unblend(j, w, alpha, a_stride, w, h, colour, colour_map, a_max, noise, tmp, out);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            if (!inverted(alpha[y * a_stride + x], a_max))
                continue;
            float v = out[y * w + x];
            plane[y * stride + x] = (uint8_t)lrintf(v < 0 ? 0 : v > 255 ? 255 : v);
        }
}

void um_kernel_unblend_u16(uint16_t *plane, ptrdiff_t stride, const float *alpha, ptrdiff_t a_stride,
                           int w, int h, float colour, const float *colour_map, float a_max, float noise,
                           int max_value, void *scratch)
{
    float *j = scratch, *tmp = j + (size_t)w * h, *out = tmp + (size_t)w * h;
    for (int y = 0; y < h; y++) {
        const uint16_t *row = (const uint16_t *)((const uint8_t *)plane + y * stride);
        for (int x = 0; x < w; x++)
            j[y * w + x] = row[x];
    }
    unblend(j, w, alpha, a_stride, w, h, colour, colour_map, a_max, noise, tmp, out);
    for (int y = 0; y < h; y++) {
        uint16_t *row = (uint16_t *)((uint8_t *)plane + y * stride);
        for (int x = 0; x < w; x++) {
            if (!inverted(alpha[y * a_stride + x], a_max))
                continue;
            float v = out[y * w + x], top = (float)max_value;
            row[x] = (uint16_t)lrintf(v < 0 ? 0 : v > top ? top : v);
        }
    }
}
