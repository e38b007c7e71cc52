/*
 * Templates given from outside (a matte saved by detect --save-template and
 * handed to remove --template): a video or a still need not teach the
 * detector the mark. Every half second the whole frame is searched for each
 * template at every scale, unless the frame is the one searched last; a
 * find not already a spot becomes one, carrying the template, and is then
 * scored and followed like any other spot.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "detect/detect_internal.h"
#include "unmark/kernels.h"

/* A given template found this well is the mark. */
#define SEED_MATCH 0.5
#define SEED_SUPPORT_FLOOR 8
/* The coarse search's best placements refined at full resolution, and how
 * far (detection pixels) around each. */
#define COARSE_CANDIDATES 4
#define FINE_REACH 2

/* Template t at half resolution: gradients averaged over 2 x 2 blocks, a
 * block supported where any of its pixels is. */
static void halve_template(const det_scaled *t, det_scaled *half)
{
    half->w = t->w / 2;
    half->h = t->h / 2;
    size_t n = (size_t)(half->w > 0 ? half->w : 1) * (half->h > 0 ? half->h : 1);
    half->gx = um_xcalloc(n, sizeof(int16_t));
    half->gy = um_xcalloc(n, sizeof(int16_t));
    half->support = um_xcalloc(n, 1);
    um_kernel_halve_gradients(t->gx, t->gy, t->w, t->w, t->h, half->gx, half->gy, half->w);
    for (int y = 0; y < half->h; y++)
        for (int x = 0; x < half->w; x++) {
            const uint8_t *a = t->support + (size_t)(2 * y) * t->w + 2 * x, *b = a + t->w;
            half->support[(size_t)y * half->w + x] = a[0] || a[1] || b[0] || b[1];
        }
}

void det_add_seed(um_detector *d, const int16_t *gx, const int16_t *gy, const uint8_t *support, int w,
                  int h, int given)
{
    if (d->nb_seeds >= DET_MAX_SEEDS)
        return;
    d->seed_given[d->nb_seeds] = given;
    for (int k = 0; k < det_scales_in_use(d); k++) {
        det_resample(gx, gy, support, w, h, d->o.scales[k], &d->seeds[d->nb_seeds][k]);
        halve_template(&d->seeds[d->nb_seeds][k], &d->seeds_half[d->nb_seeds][k]);
    }
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

typedef struct {
    double score;
    int x, y;
} placement;

/* Keeps p among the best placements so far (best first): in the place of a
 * kept one within two pixels of it (the same peak), else of the worst. */
static void keep_placement(placement *best, int n, placement p)
{
    int at = n - 1;
    for (int i = 0; i < n; i++)
        if (abs(best[i].x - p.x) <= 2 && abs(best[i].y - p.y) <= 2) {
            at = i;
            break;
        }
    if (p.score <= best[at].score)
        return;
    best[at] = p;
    for (int i = at; i > 0 && best[i].score > best[i - 1].score; i--) {
        placement swap = best[i];
        best[i] = best[i - 1];
        best[i - 1] = swap;
    }
}

/* The NCC of t placed at every position of [x0, x1] x [y0, y1] within a
 * w x h field (stride w) that t fits at, each offered to keep_placement. */
static void scan(const det_scaled *t, const int16_t *gx, const int16_t *gy, int w, int h, int x0, int x1, int y0,
                 int y1, placement *best, int n)
{
    x0 = x0 < 1 ? 1 : x0;
    y0 = y0 < 1 ? 1 : y0;
    x1 = x1 > w - t->w - 1 ? w - t->w - 1 : x1;
    y1 = y1 > h - t->h - 1 ? h - t->h - 1 : y1;
    for (int y = y0; y <= y1; y++)
        for (int x = x0; x <= x1; x++) {
            size_t at = (size_t)y * w + x;
            double v = um_kernel_gradient_ncc(t->gx, t->gy, t->w, t->support, t->w, gx + at, gy + at, w, t->w,
                                              t->h);
            keep_placement(best, n, (placement){v, x, y});
        }
}

/*
 * Best placement of template t over the whole gradient field (gx, gy):
 * every placement of its halved version (half) over the halved field
 * (hgx, hgy), then the best few refined at full resolution. Not a coarse
 * grid over the full field: a text mark's edges correlate over a pixel or
 * two at detection resolution, so a grid position beside the mark scores
 * no better than texture. A hopping mark over a still sky, seen again where
 * it stood before it was learnt, scored 0.22 at such a grid's best (every
 * fourth position) and 0.84 where it was; halved, the edges are as wide as
 * the step.
 */
static double search_frame(const um_detector *d, const det_scaled *t, const det_scaled *half, const int16_t *gx,
                           const int16_t *gy, const int16_t *hgx, const int16_t *hgy, int *bx, int *by)
{
    placement coarse[COARSE_CANDIDATES], fine[1] = {{-2, 1, 1}};
    for (int i = 0; i < COARSE_CANDIDATES; i++)
        coarse[i] = (placement){-2, -100, -100};
    if (half->w >= 2 && half->h >= 2)
        scan(half, hgx, hgy, d->dw / 2, d->dh / 2, 1, d->dw / 2, 1, d->dh / 2, coarse, COARSE_CANDIDATES);
    for (int i = 0; i < COARSE_CANDIDATES; i++)
        if (coarse[i].score > -2) {
            int x = 2 * coarse[i].x, y = 2 * coarse[i].y;
            scan(t, gx, gy, d->dw, d->dh, x - FINE_REACH, x + 1 + FINE_REACH, y - FINE_REACH, y + 1 + FINE_REACH,
                 fine, 1);
        }
    *bx = fine[0].x;
    *by = fine[0].y;
    return fine[0].score;
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

/* A frame-sized field (gx, gy) halved into *hx, *hy, allocated on first use. */
static void halve_frame_field(const um_detector *d, const int16_t *gx, const int16_t *gy, int16_t **hx,
                              int16_t **hy)
{
    if (!*hx) {
        size_t half_grid = (size_t)(d->dw / 2) * (d->dh / 2);
        *hx = um_xmalloc(half_grid * sizeof(int16_t));
        *hy = um_xmalloc(half_grid * sizeof(int16_t));
    }
    um_kernel_halve_gradients(gx, gy, d->dw, d->dw, d->dh, *hx, *hy, d->dw / 2);
}

/* Whether seed i is looked for at scale k. A mark learnt from this video
 * (given < 0) shows at the size it was learnt at wherever it stands, so
 * only at scale 1 where the scales have it: the other two would treble
 * the search, the dearest part of a second pass over a still picture. */
static int searched_at_scale(const um_detector *d, int i, int k)
{
    if (d->seed_given[i] >= 0)
        return 1;
    for (int j = 0; j < det_scales_in_use(d); j++)
        if (d->o.scales[j] == 1.0)
            return j == k;
    return 1;
}

/* A pixel that moved by more than this (luma levels) changed the frame. */
#define SEARCH_CHANGE_LEVELS 12
/* A frame with fewer changed pixels than this share of the smallest
 * searched seed's support is the frame searched last. */
#define SEARCH_CHANGE_SHARE 16

/* Pixels of the smallest seed at a scale it is searched at. */
static int64_t smallest_support(const um_detector *d)
{
    int64_t least = INT64_MAX;
    for (int i = 0; i < d->nb_seeds; i++)
        for (int k = 0; k < det_scales_in_use(d); k++) {
            if (!searched_at_scale(d, i, k))
                continue;
            const det_scaled *t = &d->seeds[i][k];
            int64_t n = 0;
            for (size_t j = 0; j < (size_t)t->w * t->h; j++)
                n += t->support[j] != 0;
            least = n < least ? n : least;
        }
    return least;
}

/*
 * Whether luma is, for the search, the frame the seeds were last searched
 * in: every placement would score as it did then, and what that search
 * found is a spot now, so a search would find nothing new. Over a still
 * picture the frame changes only where the mark hops, and the searches were
 * the dearest part of the second pass. On hold-out h1, of twelve
 * whole-frame searches three follow a hop, which changes about 2,000
 * pixels by more than 12 levels; between hops no pixel changed by more
 * than 4. Skipping the other nine took `remove --preset ultrafast` from
 * 3.82 to 3.64 s of CPU time (user + system, mean of five runs each).
 */
static int unchanged_since_search(const um_detector *d, const uint8_t *luma)
{
    if (!d->searched_luma)
        return 0;
    size_t grid = (size_t)d->dw * d->dh;
    int64_t changed = 0;
    for (size_t i = 0; i < grid; i++)
        changed += abs(luma[i] - d->searched_luma[i]) > SEARCH_CHANGE_LEVELS;
    return changed * SEARCH_CHANGE_SHARE < smallest_support(d);
}

void det_search_seeds(um_detector *d, const uint8_t *luma)
{
    size_t grid = (size_t)d->dw * d->dh;
    if (unchanged_since_search(d, luma))
        return;
    if (!d->searched_luma)
        d->searched_luma = um_xmalloc(grid);
    memcpy(d->searched_luma, luma, grid);
    if (!d->full_gx) {
        d->full_gx = um_xmalloc(grid * sizeof(int16_t));
        d->full_gy = um_xmalloc(grid * sizeof(int16_t));
    }
    um_kernel_sobel(luma, d->dw, d->dw, d->dh, d->full_gx, d->full_gy, d->dw);
    halve_frame_field(d, d->full_gx, d->full_gy, &d->half_gx, &d->half_gy);
    if (d->nb_given && d->o.single_picture) {
        if (!d->full_dx) {
            d->full_dx = um_xmalloc(grid * sizeof(int16_t));
            d->full_dy = um_xmalloc(grid * sizeof(int16_t));
        }
        um_kernel_gradient_directions(d->full_gx, d->full_gy, d->dw, d->dw, d->dh, DET_DIRECTION_FLOOR,
                                      d->full_dx, d->full_dy);
        halve_frame_field(d, d->full_dx, d->full_dy, &d->half_dx, &d->half_dy);
    }
    for (int i = 0; i < d->nb_seeds; i++) {
        double best = -2;
        int bx = 0, by = 0, bk = 0;
        int by_directions = d->seed_given[i] >= 0 && d->o.single_picture;
        for (int k = 0; k < det_scales_in_use(d); k++) {
            if (!searched_at_scale(d, i, k))
                continue;
            int x = 0, y = 0;
            double v = search_frame(d, &d->seeds[i][k], &d->seeds_half[i][k],
                                    by_directions ? d->full_dx : d->full_gx, by_directions ? d->full_dy : d->full_gy,
                                    by_directions ? d->half_dx : d->half_gx, by_directions ? d->half_dy : d->half_gy,
                                    &x, &y);
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
        for (int k = 0; k < UM_DETECT_MAX_SCALES; k++) {
            det_scaled_free(&d->seeds[i][k]);
            det_scaled_free(&d->seeds_half[i][k]);
        }
    free(d->full_gx);
    free(d->full_gy);
    free(d->full_dx);
    free(d->full_dy);
    free(d->half_gx);
    free(d->half_gy);
    free(d->half_dx);
    free(d->half_dy);
    free(d->searched_luma);
}
