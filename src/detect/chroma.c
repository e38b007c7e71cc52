/*
 * A spot's chroma edges: a second way to see a coloured mark.
 *
 * Detection learns and finds marks by their luma edges. A coloured mark
 * over a picture of nearly its own brightness (a yellow TV bug over a
 * light-yellow wall) has almost none there: the wall's texture swamps them
 * and the mark goes unseen for seconds, then flashes back in the output.
 * Its chroma edges still stand out. So each spot also sums the chroma
 * gradients of the frames in which its luma clearly matches: the moving
 * picture's chroma averages out, the mark's own stays. Once the sums hold a
 * steady pattern (a coloured mark), a frame is scored by the chroma too, and
 * the better of the two scores counts.
 *
 * Only the samples where the spot's luma template has the mark count. A
 * white mark's chroma edges (it washes out the colour under it) can be
 * steady too, over a still picture, and then match where the mark has
 * hopped away: timeline.c drops a chroma match wherever another spot of the
 * same mark sees it by its luma.
 *
 * The chroma planes are kept in the detector's ring on the detection grid
 * (det_chroma_keep), beside the luma.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "detect/detect_internal.h"
#include "unmark/kernels.h"

/* Frames summed before the pattern is trusted. */
#define MIN_FRAMES 8
/* A template sample counts when steady (DET_MIN_STEADINESS, as the luma
 * evidence's) and strong: its mean magnitude at least MIN_EDGE (Sobel units,
 * both planes: a step of about 2 levels). */
#define MIN_EDGE 8.0f
/* A pattern is used when at least this many samples, and this share of
 * the luma template's, are steady and strong. */
#define MIN_SUPPORT 24
#define MIN_SUPPORT_SHARE 0.25

struct det_chroma {
    float *sum_gx[2], *sum_gy[2], *sum_abs; /* w x h of the spot's window */
    int n;                                  /* frames summed */
    int64_t summed_to;                      /* frames before this were looked at */
    int16_t *tgx[2], *tgy[2];               /* the mean, where steady and strong */
    uint8_t *support;
    int ready;
};

void det_chroma_free(det_spot *s)
{
    det_chroma *c = s->chroma;
    if (!c)
        return;
    for (int p = 0; p < 2; p++) {
        free(c->sum_gx[p]);
        free(c->sum_gy[p]);
        free(c->tgx[p]);
        free(c->tgy[p]);
    }
    free(c->sum_abs);
    free(c->support);
    free(c);
    s->chroma = NULL;
}

static det_chroma *chroma_of(det_spot *s)
{
    if (!s->chroma) {
        size_t n = (size_t)s->w * s->h;
        det_chroma *c = um_xcalloc(1, sizeof(*c));
        for (int p = 0; p < 2; p++) {
            c->sum_gx[p] = um_xcalloc(n, sizeof(float));
            c->sum_gy[p] = um_xcalloc(n, sizeof(float));
            c->tgx[p] = um_xcalloc(n, sizeof(int16_t));
            c->tgy[p] = um_xcalloc(n, sizeof(int16_t));
        }
        c->sum_abs = um_xcalloc(n, sizeof(float));
        c->support = um_xcalloc(n, 1);
        s->chroma = c;
    }
    return s->chroma;
}

void det_chroma_copy(det_spot *to, const det_spot *from)
{
    const det_chroma *c = from->chroma;
    if (!c || to->w != from->w || to->h != from->h)
        return;
    det_chroma *d = chroma_of(to);
    size_t n = (size_t)from->w * from->h;
    for (int p = 0; p < 2; p++) {
        memcpy(d->sum_gx[p], c->sum_gx[p], n * sizeof(float));
        memcpy(d->sum_gy[p], c->sum_gy[p], n * sizeof(float));
        memcpy(d->tgx[p], c->tgx[p], n * sizeof(int16_t));
        memcpy(d->tgy[p], c->tgy[p], n * sizeof(int16_t));
    }
    memcpy(d->sum_abs, c->sum_abs, n * sizeof(float));
    memcpy(d->support, c->support, n);
    d->n = c->n;
    d->ready = c->ready;
}

/* The chroma of frame f onto the detection grid: each cell the mean of the
 * chroma samples covering the same frame pixels. */
void det_chroma_keep(um_detector *d, const um_frame *f, int slot)
{
    if (!d->ring_chroma[0])
        return;
    for (int p = 0; p < 2; p++)
        um_kernel_chroma_to_grid(f->data[p + 1], f->linesize[p + 1], f->depth, f->log2_chroma_w,
                                 f->log2_chroma_h, um_frame_plane_width(f, p + 1),
                                 um_frame_plane_height(f, p + 1), d->factor, d->dw, d->dh,
                                 d->ring_chroma[p][slot], d->dw);
}

/* Where the spot's window is searched (det_search_crop), with its unmoved
 * corner at ix, iy in the crop. 0 when the grid cannot hold it. */
typedef struct {
    det_crop at;
    int ix, iy;
} search_crop;

static int crop_for(const um_detector *d, const det_spot *s, search_crop *c)
{
    if (!det_search_crop(d, s->x, s->y, s->w, s->h, &c->at))
        return 0;
    c->ix = s->x - c->at.x0;
    c->iy = s->y - c->at.y0;
    return 1;
}

/* Whether the window moved by dx, dy lies inside the crop, off the border
 * the gradients lose; then its corner's index in the crop. */
static int moved_inside(const search_crop *c, const det_spot *s, int dx, int dy, size_t *at)
{
    int x = c->ix + dx, y = c->iy + dy;
    if (x < 1 || y < 1 || x + s->w > c->at.w - 1 || y + s->h > c->at.h - 1)
        return 0;
    *at = (size_t)y * c->at.w + x;
    return 1;
}

/* Sobel gradients of both chroma planes of ring frame t over a crop, into
 * the detector's scratch. */
static void crop_gradients(um_detector *d, int64_t t, const det_crop *c)
{
    size_t need = (size_t)c->w * c->h;
    if (need > d->cg_cap) {
        for (int p = 0; p < 2; p++) {
            d->cgx[p] = um_xrealloc(d->cgx[p], need * sizeof(int16_t));
            d->cgy[p] = um_xrealloc(d->cgy[p], need * sizeof(int16_t));
        }
        d->cg_cap = need;
    }
    for (int p = 0; p < 2; p++)
        um_kernel_sobel(d->ring_chroma[p][t % d->ring_cap] + (size_t)c->y0 * d->dw + c->x0, d->dw, c->w, c->h,
                        d->cgx[p], d->cgy[p], c->w);
}

/* Whether the sums hold a coloured mark's pattern; builds the template
 * when they do. Only the samples where the spot's luma template has the
 * mark count (its support, learnt from a moving picture or against a
 * still one's background): a still picture's own chroma edges elsewhere
 * in the window are no part of the mark. */
static int build_template(det_chroma *c, const det_spot *s)
{
    size_t n = (size_t)s->w * s->h;
    int strong = 0, support = 0;
    for (size_t i = 0; i < n; i++) {
        float steady = 0;
        for (int p = 0; p < 2; p++)
            steady += fabsf(c->sum_gx[p][i]) + fabsf(c->sum_gy[p][i]);
        support += s->support[i] != 0;
        c->support[i] = s->support[i] && steady >= DET_MIN_STEADINESS * c->sum_abs[i] &&
                        c->sum_abs[i] >= MIN_EDGE * (float)c->n;
        strong += c->support[i];
        for (int p = 0; p < 2; p++) {
            c->tgx[p][i] = c->support[i] ? (int16_t)lrintf(c->sum_gx[p][i] / (float)c->n) : 0;
            c->tgy[p][i] = c->support[i] ? (int16_t)lrintf(c->sum_gy[p][i] / (float)c->n) : 0;
        }
    }
    return strong >= MIN_SUPPORT && strong >= MIN_SUPPORT_SHARE * support;
}

/* Adds ring frame t's chroma gradients, the spot's window moved by dx, dy
 * (where its luma matched). */
static void add_frame(um_detector *d, det_spot *s, int64_t t, int dx, int dy)
{
    search_crop crop;
    size_t at;
    if (!crop_for(d, s, &crop) || !moved_inside(&crop, s, dx, dy, &at))
        return;
    det_chroma *c = chroma_of(s);
    crop_gradients(d, t, &crop.at);
    for (int y = 0; y < s->h; y++)
        for (int x = 0; x < s->w; x++) {
            size_t i = (size_t)y * s->w + x, j = at + (size_t)y * crop.at.w + x;
            for (int p = 0; p < 2; p++) {
                c->sum_gx[p][i] += d->cgx[p][j];
                c->sum_gy[p][i] += d->cgy[p][j];
                c->sum_abs[i] += (float)(abs(d->cgx[p][j]) + abs(d->cgy[p][j]));
            }
        }
    c->n++;
    if (c->n >= MIN_FRAMES)
        c->ready = build_template(c, s);
}

void det_chroma_learn(um_detector *d, det_spot *s, int64_t t, int clear, int dx, int dy)
{
    if (!d->ring_chroma[0] || (s->chroma && t < s->chroma->summed_to))
        return;
    if (clear)
        add_frame(d, s, t, dx, dy);
    chroma_of(s)->summed_to = t + 1;
}

/* The chroma correlation with the template, its corner at index at of the
 * crop's gradients. */
static double correlation_at(const um_detector *d, const det_chroma *c, const det_spot *s, int crop_w, size_t at)
{
    double tf = 0, tt = 0, ff = 0;
    for (int p = 0; p < 2; p++) {
        um_ncc_sums sums = um_kernel_gradient_ncc_sums(c->tgx[p], c->tgy[p], s->w, c->support, s->w,
                                                       d->cgx[p] + at, d->cgy[p] + at, crop_w, s->w, s->h);
        tf += sums.tf;
        tt += sums.tt;
        ff += sums.ff;
    }
    return tt > 0 && ff > 0 ? tf / sqrt(tt * ff) : 0;
}

double det_chroma_score(um_detector *d, const det_spot *s, int64_t t, int *best_dx, int *best_dy)
{
    const det_chroma *c = s->chroma;
    *best_dx = *best_dy = 0;
    if (!c || !c->ready || !d->ring_chroma[0])
        return 0;
    search_crop crop;
    if (!crop_for(d, s, &crop))
        return 0;
    crop_gradients(d, t, &crop.at);
    double best = 0;
    for (int dy = -DET_SEARCH; dy <= DET_SEARCH; dy++)
        for (int dx = -DET_SEARCH; dx <= DET_SEARCH; dx++) {
            size_t at;
            double v = moved_inside(&crop, s, dx, dy, &at) ? correlation_at(d, c, s, crop.at.w, at) : 0;
            if (v > best) {
                best = v;
                *best_dx = dx;
                *best_dy = dy;
            }
        }
    return best;
}
