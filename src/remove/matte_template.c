/*
 * Placing a known matte on a picture (remove --template on a still): a
 * single picture has no time axis to fit the mark's opacity from, but the
 * opacity learnt from a video of the same mark (detect --save-template) can
 * be placed on it. Detection puts it within a few pixels; this finds where
 * exactly, to a sixteenth of a pixel, and at what size.
 *
 * The criterion is the result itself: un-blending the picture with the
 * template misplaced leaves the mark's edges behind, doubled (a dark edge
 * where the template is, a bright one where the mark is), while the right
 * placement leaves only the picture's own texture. So the placement is the
 * one whose un-blended picture has the least total variation (the sum of
 * absolute differences between neighbours, a robust measure of edges) over
 * the samples' crop, where the opacity still lets the picture through.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "remove/remove_internal.h"

/* Above this opacity a pixel is left out: un-blending it mostly amplifies
 * coding noise. */
#define PLACE_MAX_ALPHA 0.85
/* Detection's box and the template's own extent agree to within this many
 * pixels (the detection grid is coarser than the frame). */
#define PLACE_RANGE 8
/* Opacity (0..1) above which a template pixel counts for its extent. */
#define EXTENT_ALPHA 0.1
/* The finest position step, in pixels: on a mark's soft edge the opacity
 * changes by about a third a pixel, so a sixteenth misplaces it by 0.02. */
#define SUBPIXEL_STEP 0.0625
/* Sizes tried: within ±SIZE_STEPS steps of the size detection matched. */
#define SIZE_STEP 0.01
#define SIZE_STEPS 10

/* BT.601, limited range luma and chroma, full range RGB: what a white or
 * grey mark's colour comes out as either way (the matrix only matters for
 * coloured marks). The ranges: luma 16-235 against 0-255, chroma 16-240
 * about 128 against 0-255. */
static void yuv_to_full(double yuv[3])
{
    yuv[0] = (yuv[0] - 16) * 255 / 219;
    yuv[1] = (yuv[1] - 128) * 255 / 224 + 128;
    yuv[2] = (yuv[2] - 128) * 255 / 224 + 128;
}

static void yuv_to_limited(double yuv[3])
{
    yuv[0] = 16 + yuv[0] * 219 / 255;
    yuv[1] = (yuv[1] - 128) * 224 / 255 + 128;
    yuv[2] = (yuv[2] - 128) * 224 / 255 + 128;
}

static void yuv_to_gbr(const double yuv[3], double gbr[3])
{
    double y = 1.164 * (yuv[0] - 16), u = yuv[1] - 128, v = yuv[2] - 128;
    gbr[0] = y - 0.392 * u - 0.813 * v;
    gbr[1] = y + 2.017 * u;
    gbr[2] = y + 1.596 * v;
}

static void gbr_to_yuv(const double gbr[3], double yuv[3])
{
    double g = gbr[0], b = gbr[1], r = gbr[2];
    yuv[0] = 16 + 0.257 * r + 0.504 * g + 0.098 * b;
    yuv[1] = 128 - 0.148 * r - 0.291 * g + 0.439 * b;
    yuv[2] = 128 + 0.439 * r - 0.368 * g - 0.071 * b;
}

double um_matte_unit(int depth)
{
    return (double)(1 << depth) / 256;
}

void um_template_colours(const um_matte_template *t, int is_rgb, int full_range, int depth, double out[3])
{
    double given[3] = {t->colour[0], t->colour[1], t->colour[2]};
    for (int p = 1; p < 3; p++)
        if (given[p] < 0)
            given[p] = t->rgb ? given[0] : 128;
    /* Through limited range YUV, unless both sides are RGB. */
    if (t->rgb && !is_rgb)
        gbr_to_yuv(given, given);
    else if (!t->rgb && t->full_range)
        yuv_to_limited(given);
    if (is_rgb && !t->rgb)
        yuv_to_gbr(given, out);
    else
        memcpy(out, given, sizeof(given));
    if (!is_rgb && full_range)
        yuv_to_full(out);
    double unit = um_matte_unit(depth), max_value = (1 << depth) - 1;
    for (int p = 0; p < 3; p++)
        out[p] = fmin(max_value, fmax(0, out[p] * unit));
}

typedef struct {
    double x, y;     /* where the template's corner lies in the crop */
    double scale;    /* template pixels are scale crop pixels wide */
} placement;

typedef struct {
    const um_matte_template *t;
    const uint16_t *const *luma;
    int n, w, h;
    double colour;   /* W in sample units */
    float *alpha;    /* w x h scratch: the placed opacity */
    float *flat;     /* w x h scratch: one un-blended sample */
} place_state;

/* Template opacity at (tx, ty), template pixels, bilinear, 0 outside. */
static double template_at(const um_matte_template *t, double tx, double ty)
{
    int x0 = (int)floor(tx), y0 = (int)floor(ty);
    double fx = tx - x0, fy = ty - y0, sum = 0;
    for (int j = 0; j < 2; j++)
        for (int i = 0; i < 2; i++) {
            int x = x0 + i, y = y0 + j;
            if (x < 0 || y < 0 || x >= t->width || y >= t->height)
                continue;
            double weight = (i ? fx : 1 - fx) * (j ? fy : 1 - fy);
            sum += weight * t->alpha[(ptrdiff_t)y * t->stride + x];
        }
    return sum / 255.0;
}

/* The template with its corner at (x, y), scale crop pixels a template
 * pixel, as opacity over the crop (pixel centres map to pixel centres). */
static void render(const um_matte_template *t, placement p, float *out, int w, int h)
{
    for (int r = 0; r < h; r++) {
        double ty = (r + 0.5 - p.y) / p.scale - 0.5;
        for (int c = 0; c < w; c++)
            out[(size_t)r * w + c] = (float)template_at(t, (c + 0.5 - p.x) / p.scale - 0.5, ty);
    }
}

/* One sample un-blended with the rendered opacity, into s->flat; NAN where
 * the opacity is too strong to un-blend. */
static void unblend_sample(const place_state *s, const uint16_t *j)
{
    const float *a = s->alpha;
    for (size_t k = 0; k < (size_t)s->w * s->h; k++)
        s->flat[k] = a[k] < PLACE_MAX_ALPHA ? (float)((j[k] - a[k] * s->colour) / (1 - a[k])) : NAN;
}

/* Total variation of s->flat, and the number of neighbour pairs it is over. */
static void variation(const place_state *s, double *total, double *pairs)
{
    const float *flat = s->flat;
    for (int r = 0; r < s->h; r++)
        for (int c = 0; c < s->w; c++) {
            size_t k = (size_t)r * s->w + c;
            if (isnan(flat[k]))
                continue;
            if (c + 1 < s->w && !isnan(flat[k + 1])) {
                *total += fabsf(flat[k + 1] - flat[k]);
                *pairs += 1;
            }
            if (r + 1 < s->h && !isnan(flat[k + s->w])) {
                *total += fabsf(flat[k + s->w] - flat[k]);
                *pairs += 1;
            }
        }
}

/* How much of the mark un-blending at p leaves: the mean variation. */
static double trace_left(place_state *s, placement p)
{
    render(s->t, p, s->alpha, s->w, s->h);
    double total = 0, pairs = 0;
    for (int i = 0; i < s->n; i++) {
        unblend_sample(s, s->luma[i]);
        variation(s, &total, &pairs);
    }
    return pairs > 0 ? total / pairs : INFINITY;
}

/* The template's extent (opacity above EXTENT_ALPHA), its centre in
 * template pixels; the middle of the template when nothing is opaque. */
static void template_centre(const um_matte_template *t, double *cx, double *cy)
{
    int x1 = t->width, y1 = t->height, x2 = -1, y2 = -1;
    for (int y = 0; y < t->height; y++)
        for (int x = 0; x < t->width; x++)
            if (t->alpha[(ptrdiff_t)y * t->stride + x] > EXTENT_ALPHA * 255) {
                x1 = x < x1 ? x : x1;
                y1 = y < y1 ? y : y1;
                x2 = x > x2 ? x : x2;
                y2 = y > y2 ? y : y2;
            }
    *cx = x2 >= 0 ? (x1 + x2 + 1) / 2.0 : t->width / 2.0;
    *cy = y2 >= 0 ? (y1 + y2 + 1) / 2.0 : t->height / 2.0;
}

/* Moves p's corner by steps of `step` within ±reach, keeping the best. */
static double refine_position(place_state *s, placement *p, double cost, double step, double reach)
{
    placement centre = *p;
    for (double dy = -reach; dy <= reach + 1e-9; dy += step)
        for (double dx = -reach; dx <= reach + 1e-9; dx += step) {
            placement q = centre;
            q.x += dx;
            q.y += dy;
            double c = trace_left(s, q);
            if (c < cost) {
                cost = c;
                *p = q;
            }
        }
    return cost;
}

/* Halves the step down to SUBPIXEL_STEP, moving p's corner a step each way
 * at each. */
static double refine_subpixel(place_state *s, placement *p, double cost)
{
    for (double step = 0.5; step >= SUBPIXEL_STEP; step /= 2)
        cost = refine_position(s, p, cost, step, step);
    return cost;
}

/* Tries sizes around p's (about the template's centre, which stays put),
 * keeping the best. */
static double refine_size(place_state *s, placement *p, double cost, double cx, double cy)
{
    placement centre = *p;
    for (int k = -SIZE_STEPS; k <= SIZE_STEPS; k++) {
        placement q = centre;
        q.scale = centre.scale * (1 + k * SIZE_STEP);
        q.x = centre.x + cx * (centre.scale - q.scale);
        q.y = centre.y + cy * (centre.scale - q.scale);
        double c = trace_left(s, q);
        if (c < cost) {
            cost = c;
            *p = q;
        }
    }
    return cost;
}

void um_template_place(const um_matte_template *t, double scale, double colour, const uint16_t *const *luma,
                       int n, int w, int h, um_box near, float *out)
{
    place_state s = {t, luma, n, w, h, colour, out, um_xmalloc((size_t)w * h * sizeof(float))};
    double cx, cy;
    template_centre(t, &cx, &cy);
    placement p = {(near.x1 + near.x2) / 2.0 - cx * scale, (near.y1 + near.y2) / 2.0 - cy * scale, scale};
    p.x = round(p.x);
    p.y = round(p.y);
    double cost = trace_left(&s, p);
    cost = refine_position(&s, &p, cost, 2, PLACE_RANGE);
    cost = refine_position(&s, &p, cost, 1, 1);
    cost = refine_subpixel(&s, &p, cost);
    cost = refine_size(&s, &p, cost, cx, cy);
    cost = refine_subpixel(&s, &p, cost);
    um_log(UM_LOG_DEBUG, "matte: template placed at %.2f,%.2f in the crop, size %.3f (variation left %.2f)",
           p.x, p.y, p.scale, cost);
    render(t, p, out, w, h);
    free(s.flat);
}
