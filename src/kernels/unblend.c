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
#include <stdint.h>
#include <string.h>

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

/* Both comparisons, not a short cut: the smoothing's loop takes this as a
 * weight of 0 or 1, without a branch the compiler must keep. */
static int inverted(float a, float a_max)
{
    return (a >= UM_KERNEL_MIN_ALPHA) & (a <= a_max);
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

/* e^-q for q >= 0, to about 3e-6 of it: 2^t split into a whole power,
 * set in the exponent's bits, and the rest, within half of 0, by its
 * Taylor series. A filter weight needs no more, and unlike expf() the
 * compiler runs it on four samples at once: the un-blend of h4 of the
 * hold-outs took 0.21-0.24 s of `remove`'s main thread with expf() per
 * sample, 0.09 s this way (CPU time of the thread, --preset ultrafast). */
static inline float exp_neg(float q)
{
    float t = -q * 1.44269504f;
    t = t < -126.0f ? -126.0f : t;
    int n = (int)(t - 0.5f); /* rounds t to the nearest whole number: t - 0.5 <= 0 truncates upwards */
    float x = (t - (float)n) * 0.69314718f;
    float p = 1.0f + x * (1.0f + x * (0.5f + x * (1.0f / 6 + x * (1.0f / 24 + x * (1.0f / 120)))));
    union {
        int32_t i;
        float f;
    } scale = {.i = (n + 127) * (1 << 23)};
    return p * scale.f;
}

/* Pass 2: the inverted samples (v, w x h) after the noise-scaled bilateral
 * filter over the 3x3 around each (inverted neighbours only), into out
 * where the sample is inverted; weight: w x h floats of scratch. A
 * neighbour weighs a e^(-d^2 / 2 range^2), d its difference from the
 * centre, range = RANGE_SIGMAS noise / (1 - a) at the centre; the centre
 * weighs 1 - a: at a = 0 only the centre counts. Row by row, one
 * neighbour's direction at a time over the whole row. */
static void smooth(const float *v, const float *alpha, ptrdiff_t a_stride, int w, int h, float a_max,
                   float noise, float *weight, float *out)
{
    float spread = 2.0f * RANGE_SIGMAS * RANGE_SIGMAS * noise * noise;
    for (int y = 0; y < h; y++) {
        const float *centre = v + (size_t)y * w, *a = alpha + y * a_stride;
        float *sum = out + (size_t)y * w, *total = weight + (size_t)y * w;
        for (int x = 0; x < w; x++) {
            total[x] = 1.0f - a[x];
            sum[x] = centre[x] * total[x];
        }
        for (int dy = -1; dy <= 1; dy++) {
            if (y + dy < 0 || y + dy >= h)
                continue;
            const float *near = v + (size_t)(y + dy) * w, *near_a = alpha + (y + dy) * a_stride;
            for (int dx = -1; dx <= 1; dx++) {
                if (!dx && !dy)
                    continue;
                int x0 = dx < 0 ? 1 : 0, x1 = dx > 0 ? w - 1 : w;
                for (int x = x0; x < x1; x++) {
                    float d = near[x + dx] - centre[x], g = 1.0f - a[x];
                    float k = (float)inverted(near_a[x + dx], a_max) * a[x] * exp_neg(d * d * g * g / spread);
                    sum[x] += near[x + dx] * k;
                    total[x] += k;
                }
            }
        }
        /* Only a sample the mark covers fully (not inverted) weighs 0. */
        for (int x = 0; x < w; x++) {
            float t = total[x] > 0 ? total[x] : 1.0f;
            sum[x] = total[x] > 0 ? sum[x] / t : centre[x];
        }
    }
}

/* The whole operation on float samples, into out where the sample is
 * inverted (the entry points write back only those); the u8/u16 entry
 * points convert. scratch: two planes of w x h floats. */
static void unblend(const float *j, ptrdiff_t j_stride, const float *alpha, ptrdiff_t a_stride, int w,
                    int h, float colour, const float *colour_map, float a_max, float noise, float *scratch,
                    float *out)
{
    float *inverted_values = scratch, *weight = scratch + (size_t)w * h;
    invert(j, j_stride, alpha, a_stride, w, h, colour, colour_map, a_max, inverted_values);
    if (noise > 0)
        smooth(inverted_values, alpha, a_stride, w, h, a_max, noise, weight, out);
    else
        memcpy(out, inverted_values, (size_t)w * h * sizeof(float));
}

size_t um_kernel_unblend_scratch(int w, int h)
{
    return (size_t)w * h * 4 * sizeof(float);
}

void um_kernel_unblend_u8(uint8_t *plane, ptrdiff_t stride, const float *alpha, ptrdiff_t a_stride,
                          int w, int h, float colour, const float *colour_map, float a_max, float noise,
                          void *scratch)
{
    float *j = scratch, *tmp = j + (size_t)w * h, *out = tmp + 2 * (size_t)w * h;
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
    float *j = scratch, *tmp = j + (size_t)w * h, *out = tmp + 2 * (size_t)w * h;
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
