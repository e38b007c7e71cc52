/*
 * Templates given from outside (a matte saved by detect --save-template and
 * handed to remove --template): a video or a still need not teach the
 * detector the mark. Every half second the whole frame is searched for each
 * template at every scale; a find not already a spot becomes one, carrying
 * the template, and is then scored and followed like any other spot.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "detect/detect_internal.h"
#include "unmark/kernels.h"

/* A given template found this well is the mark. */
#define SEED_MATCH 0.5
#define SEED_SUPPORT_FLOOR 8
#define SEED_COARSE_STEP 4

void det_add_seed(um_detector *d, const int16_t *gx, const int16_t *gy, const uint8_t *support, int w,
                  int h, int given)
{
    if (d->nb_seeds >= DET_MAX_SEEDS)
        return;
    d->seed_given[d->nb_seeds] = given;
    for (int k = 0; k < det_scales_in_use(d); k++)
        det_resample(gx, gy, support, w, h, d->o.scales[k], &d->seeds[d->nb_seeds][k]);
    d->nb_seeds++;
}

int um_detect_add_template(um_detector *d, const um_detect_template *t, um_error *err)
{
    if (d->nb_seeds >= DET_MAX_SEEDS) {
        um_error_set(err, UM_ERR_USAGE, "at most %d templates", DET_MAX_SEEDS);
        return -1;
    }
    int w = t->width / d->factor, h = t->height / d->factor;
    if (w < 4 || h < 3 || w + 2 * DET_SEARCH + 2 > d->dw || h + 2 * DET_SEARCH + 2 > d->dh) {
        um_error_set(err, UM_ERR_USAGE, "the template (%dx%d) does not fit the %dx%d frames",
                     t->width, t->height, d->width, d->height);
        return -1;
    }
    size_t n = (size_t)w * h;
    uint8_t *alpha = um_xmalloc(n), *strong = um_xcalloc(n, 1), *support = um_xmalloc(n);
    int16_t *gx = um_xmalloc(n * sizeof(int16_t)), *gy = um_xmalloc(n * sizeof(int16_t));
    um_kernel_downscale_u8(t->alpha, t->stride, t->width, t->height, d->factor, alpha, w);
    um_kernel_sobel(alpha, w, w, h, gx, gy, w);
    /* A mark darker than the picture under it has its edges the other way. */
    int sign = t->colour < 128 ? -1 : 1, peak = 0;
    for (size_t i = 0; i < n; i++) {
        gx[i] = (int16_t)(sign * gx[i]);
        gy[i] = (int16_t)(sign * gy[i]);
        int m = abs(gx[i]) + abs(gy[i]);
        peak = m > peak ? m : peak;
    }
    int thr = peak / 5 > SEED_SUPPORT_FLOOR ? peak / 5 : SEED_SUPPORT_FLOOR;
    for (size_t i = 0; i < n; i++)
        strong[i] = abs(gx[i]) + abs(gy[i]) > thr;
    um_kernel_mask_dilate(strong, w, w, h, 1, support, w);
    det_add_seed(d, gx, gy, support, w, h, d->nb_given++);
    free(alpha);
    free(strong);
    free(support);
    free(gx);
    free(gy);
    return 0;
}

/* Best placement of t over the whole gradient field (gx, gy: the frame's
 * gradients or their directions): a coarse grid first (a mark's edges
 * correlate over a few pixels), then ever finer around the best. */
static double search_frame(const um_detector *d, const det_scaled *t, const int16_t *gx, const int16_t *gy,
                           int *bx, int *by)
{
    double best = -2;
    int cx = 1, cy = 1;
    for (int step = SEED_COARSE_STEP; step >= 1; step /= 2) {
        int first = step == SEED_COARSE_STEP;
        int x0 = first ? 1 : cx - step, x1 = first ? d->dw - t->w - 1 : cx + step;
        int y0 = first ? 1 : cy - step, y1 = first ? d->dh - t->h - 1 : cy + step;
        int bestx = cx, besty = cy;
        for (int y = y0; y <= y1; y += step)
            for (int x = x0; x <= x1; x += step) {
                if (y < 1 || x < 1 || y > d->dh - t->h - 1 || x > d->dw - t->w - 1)
                    continue;
                size_t at = (size_t)y * d->dw + x;
                double v = um_kernel_gradient_ncc(t->gx, t->gy, t->w, t->support, t->w, gx + at, gy + at,
                                                  d->dw, t->w, t->h);
                if (v > best) {
                    best = v;
                    bestx = x;
                    besty = y;
                }
            }
        cx = bestx;
        cy = besty;
    }
    *bx = cx;
    *by = cy;
    return best;
}

static int known_spot_at(const um_detector *d, int cx, int cy)
{
    for (int i = 0; i < d->nb_spots; i++) {
        const det_spot *s = &d->spots[i];
        if (cx >= s->x && cx < s->x + s->w && cy >= s->y && cy < s->y + s->h)
            return 1;
    }
    return 0;
}

/* A spot at the find, its template seed `seed` at scale k. */
static void spot_from_seed(um_detector *d, int seed, int k, int x, int y)
{
    const det_scaled *t = &d->seeds[seed][k];
    det_spot *s = det_spot_new_at(d, x, y, x + t->w, y + t->h);
    if (!s)
        return;
    s->given = d->seed_given[seed];
    s->given_scale = d->o.scales[k];
    for (int j = 0; j < t->h; j++)
        for (int i = 0; i < t->w; i++) {
            int wx = x + i - s->x, wy = y + j - s->y;
            if (wx < 0 || wy < 0 || wx >= s->w || wy >= s->h)
                continue;
            s->acc_gx[(size_t)wy * s->w + wx] = t->gx[(size_t)j * t->w + i];
            s->acc_gy[(size_t)wy * s->w + wx] = t->gy[(size_t)j * t->w + i];
        }
    s->nacc = 1;
    s->template_dirty = 1;
}

void det_search_seeds(um_detector *d, const uint8_t *luma)
{
    size_t grid = (size_t)d->dw * d->dh;
    if (!d->full_gx) {
        d->full_gx = um_xmalloc(grid * sizeof(int16_t));
        d->full_gy = um_xmalloc(grid * sizeof(int16_t));
    }
    um_kernel_sobel(luma, d->dw, d->dw, d->dh, d->full_gx, d->full_gy, d->dw);
    if (d->nb_given && d->o.single_picture) {
        if (!d->full_dx) {
            d->full_dx = um_xmalloc(grid * sizeof(int16_t));
            d->full_dy = um_xmalloc(grid * sizeof(int16_t));
        }
        um_kernel_gradient_directions(d->full_gx, d->full_gy, d->dw, d->dw, d->dh, DET_DIRECTION_FLOOR,
                                      d->full_dx, d->full_dy);
    }
    for (int i = 0; i < d->nb_seeds; i++) {
        double best = -2;
        int bx = 0, by = 0, bk = 0;
        int by_directions = d->seed_given[i] >= 0 && d->o.single_picture;
        for (int k = 0; k < det_scales_in_use(d); k++) {
            int x = 0, y = 0;
            double v = search_frame(d, &d->seeds[i][k], by_directions ? d->full_dx : d->full_gx,
                                    by_directions ? d->full_dy : d->full_gy, &x, &y);
            if (v > best + (k ? 0.05 : 0)) {
                best = v;
                bx = x;
                by = y;
                bk = k;
            }
        }
        const det_scaled *t = &d->seeds[i][bk];
        um_log(UM_LOG_DEBUG, "detection: template %d matches best at %d,%d, scale %.2f: %.2f (needs %.2f)", i,
               bx * d->factor, by * d->factor, d->o.scales[bk], best, SEED_MATCH);
        if (best >= SEED_MATCH && !known_spot_at(d, bx + t->w / 2, by + t->h / 2))
            spot_from_seed(d, i, bk, bx, by);
    }
}

void det_seeds_free(um_detector *d)
{
    for (int i = 0; i < d->nb_seeds; i++)
        for (int k = 0; k < UM_DETECT_MAX_SCALES; k++)
            det_scaled_free(&d->seeds[i][k]);
    free(d->full_gx);
    free(d->full_gy);
    free(d->full_dx);
    free(d->full_dy);
}
