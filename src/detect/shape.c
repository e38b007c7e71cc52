/*
 * The mark's shape inside its box, at frame resolution: which pixels a
 * remover must treat. A box is mostly picture; filling only the mark's
 * strokes (and what they enclose) keeps the rest of the box untouched.
 * Built once per spot and scale from the spot's shape on the detection grid
 * (its steady edges grown over the strokes), with enclosed holes filled (a
 * glyph's counter, the icon's body) and grown by two pixels for the soft edge
 * and the upsampling.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "detect/detect_internal.h"
#include "unmark/kernels.h"

#define SHAPE_MARGIN 2

/* The shape with every region it encloses filled: what the border of the
 * window cannot reach without crossing the shape. */
static uint8_t *filled_shape(const det_spot *s)
{
    int w = s->w, h = s->h;
    size_t n = (size_t)w * h;
    uint8_t *outside = um_xcalloc(n, 1), *filled = um_xmalloc(n);
    int32_t *stack = um_xmalloc(n * sizeof(int32_t));
    size_t top = 0;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            if ((x == 0 || y == 0 || x == w - 1 || y == h - 1) && !s->shape[(size_t)y * w + x]) {
                outside[(size_t)y * w + x] = 1;
                stack[top++] = y * w + x;
            }
    while (top) {
        int32_t p = stack[--top];
        int x = p % w, y = p / w;
        static const int step[4][2] = {{1, 0}, {-1, 0}, {0, 1}, {0, -1}};
        for (int k = 0; k < 4; k++) {
            int nx = x + step[k][0], ny = y + step[k][1];
            if (nx < 0 || ny < 0 || nx >= w || ny >= h)
                continue;
            size_t q = (size_t)ny * w + nx;
            if (!outside[q] && !s->shape[q]) {
                outside[q] = 1;
                stack[top++] = (int32_t)q;
            }
        }
    }
    for (size_t i = 0; i < n; i++)
        filled[i] = !outside[i];
    free(outside);
    free(stack);
    return filled;
}

void det_build_shapes(um_detector *d, det_spot *s)
{
    if (!s->shape)
        return;
    uint8_t *filled = filled_shape(s);
    for (int k = 0; k < det_scales_in_use(d); k++) {
        det_shape *out = &s->shapes[k];
        double scale = d->o.scales[k] * d->factor;
        out->w = (int)ceil((s->tx2 - s->tx1) * scale) + 1;
        out->h = (int)ceil((s->ty2 - s->ty1) * scale) + 1;
        uint8_t *raw = um_xmalloc((size_t)out->w * out->h);
        for (int y = 0; y < out->h; y++) {
            int wy = s->ty1 + (int)floor((y + 0.5) / scale);
            wy = wy >= s->h ? s->h - 1 : wy;
            for (int x = 0; x < out->w; x++) {
                int wx = s->tx1 + (int)floor((x + 0.5) / scale);
                wx = wx >= s->w ? s->w - 1 : wx;
                raw[(size_t)y * out->w + x] = filled[(size_t)wy * s->w + wx];
            }
        }
        free(out->mask);
        out->mask = um_xmalloc((size_t)out->w * out->h);
        um_kernel_mask_dilate(raw, out->w, out->w, out->h, SHAPE_MARGIN, out->mask, out->w);
        free(raw);
    }
    free(filled);
}

void det_shapes_free(det_spot *s)
{
    for (int k = 0; k < UM_DETECT_MAX_SCALES; k++) {
        free(s->shapes[k].mask);
        s->shapes[k].mask = NULL;
    }
}
