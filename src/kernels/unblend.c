/*
 * unmark — kernels: reverse alpha blending.
 *
 * A semi-transparent mark does not destroy the picture under it, it mixes
 * with it: J = a W + (1 - a) I, with a the mark's opacity at the pixel and W
 * its colour. Knowing a and W, the picture comes back exactly:
 *     I = (J - a W) / (1 - a).
 * The division multiplies whatever noise J carries (H.264's quantisation,
 * ringing) by 1 / (1 - a): 4x at a = 0.75, 10x at 0.9. So pixels whose
 * opacity passes a_max are not inverted at all; the caller fills them from
 * their surroundings instead (the residue).
 */
#include "unmark/kernels.h"

#include <math.h>

/* Below this opacity the mark changes a sample by less than a tenth of a
 * level: leave it, so the area around the strokes stays bit-exact. */
#define MIN_ALPHA (0.1f / 255.0f)

static float unblended(float j, float a, float colour)
{
    return (j - a * colour) / (1.0f - a);
}

void um_kernel_unblend_u8(uint8_t *plane, ptrdiff_t stride, const float *alpha, ptrdiff_t a_stride,
                          int w, int h, float colour, float a_max)
{
    for (int y = 0; y < h; y++) {
        uint8_t *row = plane + y * stride;
        const float *arow = alpha + y * a_stride;
        for (int x = 0; x < w; x++) {
            float a = arow[x];
            if (a < MIN_ALPHA || a > a_max)
                continue;
            float v = unblended(row[x], a, colour);
            row[x] = (uint8_t)lrintf(v < 0 ? 0 : v > 255 ? 255 : v);
        }
    }
}

void um_kernel_unblend_u16(uint16_t *plane, ptrdiff_t stride, const float *alpha, ptrdiff_t a_stride,
                           int w, int h, float colour, float a_max, int max_value)
{
    for (int y = 0; y < h; y++) {
        uint16_t *row = (uint16_t *)((uint8_t *)plane + y * stride);
        const float *arow = alpha + y * a_stride;
        for (int x = 0; x < w; x++) {
            float a = arow[x];
            if (a < MIN_ALPHA || a > a_max)
                continue;
            float v = unblended(row[x], a, colour);
            row[x] = (uint16_t)lrintf(v < 0 ? 0 : v > (float)max_value ? (float)max_value : v);
        }
    }
}
