/*
 * Window analysis: the temporal median of signed gradients keeps what stays
 * still while the picture moves. Its strong, many-directional components are
 * mark candidates; candidates at one place make a spot, whose template is the
 * mean of the medians seen there.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "detect/detect_internal.h"
#include "unmark/kernels.h"

/* A median gradient (L1, Sobel scale) below this is texture or noise. */
#define ABS_THRESHOLD 48
/* ...and it must stand this far above the frame's typical gradient. */
#define REL_THRESHOLD 2.0
/* Smallest eigenvalue over largest of the structure tensor: text and
 * logos have edges every way; a background edge along a pan has one. */
#define MIN_DIRECTIONALITY 0.45
/* ...unless a known mark's template matches it this well (see
 * shows_known_mark), placed within this many pixels of it. */
#define KNOWN_MARK_MATCH 0.6
#define KNOWN_MARK_SLACK 3
#define MIN_PIXELS 24
/* Below this the picture is still (see scene_motion). */
#define MIN_MOTION 0.5
#define MAX_COMPONENTS 4096
/* Frames that must clearly show a mark before its box is taken from them. */
#define MIN_EVIDENCE_FRAMES 5
/* A halo's edges: steady, above a twelfth of the mark's strongest and a
 * small floor. */
#define HALO_FRACTION 12
#define HALO_FLOOR 10

typedef struct {
    int x1, y1, x2, y2;          /* exclusive */
    int64_t n;
    double jxx, jyy, jxy;        /* structure tensor of the gradients */
    double mass;                 /* summed gradient magnitude */
    int64_t brighter;            /* still windows: pixels above the background */
    int alive;
} component;

static int l1(int a, int b) { return abs(a) + abs(b); }

/* The frame's typical gradient: mean L1 over the newest sample. */
static double typical_gradient(const um_detector *d, const int16_t *gx, const int16_t *gy)
{
    int64_t sum = 0;
    size_t n = (size_t)d->dw * d->dh;
    for (size_t i = 0; i < n; i++)
        sum += l1(gx[i], gy[i]);
    return (double)sum / (double)n;
}

/* How much the picture moved across the window: the change of the textured
 * pixels' gradients between its first and last sample, against their size
 * (about 0 for a still camera, about 1 and more for a moving one). Still
 * edges (the mark's among them) are left out. */
static double scene_motion(const um_detector *d, const int16_t *gx_new, const int16_t *gy_new,
                           const int16_t *gx_old, const int16_t *gy_old)
{
    int64_t change = 0, size = 0;
    size_t n = (size_t)d->dw * d->dh;
    for (size_t i = 0; i < n; i++) {
        int g = l1(gx_new[i], gy_new[i]);
        if (d->bin[i] || g <= ABS_THRESHOLD / 2)
            continue;
        change += l1(gx_new[i] - gx_old[i], gy_new[i] - gy_old[i]);
        size += g;
    }
    return size ? (double)change / (double)size : 1.0;
}

static void threshold_medians(um_detector *d, double typical)
{
    int thr = (int)fmax(ABS_THRESHOLD, REL_THRESHOLD * typical);
    size_t n = (size_t)d->dw * d->dh;
    for (size_t i = 0; i < n; i++)
        d->bin[i] = l1(d->mgx[i], d->mgy[i]) > thr;
}

static void add_pixel(component *c, int x, int y, int gx, int gy)
{
    if (c->n == 0) {
        c->x1 = x;
        c->y1 = y;
        c->x2 = x + 1;
        c->y2 = y + 1;
    }
    c->x1 = x < c->x1 ? x : c->x1;
    c->y1 = y < c->y1 ? y : c->y1;
    c->x2 = x + 1 > c->x2 ? x + 1 : c->x2;
    c->y2 = y + 1 > c->y2 ? y + 1 : c->y2;
    c->n++;
    c->jxx += (double)gx * gx;
    c->jyy += (double)gy * gy;
    c->jxy += (double)gx * gy;
}

/* What a component gathers from each of its pixels. */
typedef void (*pixel_visit)(component *c, int x, int y, size_t p, const void *ctx);

/* Labels the 8-connected components of map (w x h, nonzero = in) into
 * labels (1-based), calling visit for every pixel of each. labels and stack
 * are w x h scratch. Returns how many components (at most max). */
static int flood_components(const uint8_t *map, int w, int h, int32_t *labels, int32_t *stack,
                            component *out, int max, pixel_visit visit, const void *ctx)
{
    size_t n = (size_t)w * h;
    int count = 0;
    memset(labels, 0, n * sizeof(*labels));
    for (size_t start = 0; start < n && count < max; start++) {
        if (!map[start] || labels[start])
            continue;
        component *c = &out[count++];
        memset(c, 0, sizeof(*c));
        c->alive = 1;
        size_t top = 0;
        stack[top++] = (int32_t)start;
        labels[start] = count;
        while (top) {
            int32_t p = stack[--top];
            int x = p % w, y = p / w;
            visit(c, x, y, (size_t)p, ctx);
            for (int dy = -1; dy <= 1; dy++)
                for (int dx = -1; dx <= 1; dx++) {
                    int nx = x + dx, ny = y + dy;
                    if (nx < 0 || ny < 0 || nx >= w || ny >= h)
                        continue;
                    int32_t q = ny * w + nx;
                    if (map[q] && !labels[q]) {
                        labels[q] = count;
                        stack[top++] = q;
                    }
                }
        }
    }
    return count;
}

/* Window components: the undilated pixels' median gradients. */
static void visit_median(component *c, int x, int y, size_t p, const void *ctx)
{
    const um_detector *d = ctx;
    if (!d->bin[p])
        return;
    add_pixel(c, x, y, d->mgx[p], d->mgy[p]);
    if (d->still_window)
        c->brighter += d->diff[p] > 0;
}

/* Template pieces: their extent and gradient mass. */
static void visit_mass(component *c, int x, int y, size_t p, const void *ctx)
{
    add_pixel(c, x, y, 0, 0);
    c->mass += ((const int *)ctx)[p];
}

static int gap_between(const component *a, const component *b)
{
    int gx = a->x2 <= b->x1 ? b->x1 - a->x2 : b->x2 <= a->x1 ? a->x1 - b->x2 : 0;
    int gy = a->y2 <= b->y1 ? b->y1 - a->y2 : b->y2 <= a->y1 ? a->y1 - b->y2 : 0;
    return gx > gy ? gx : gy;
}

static void absorb(component *a, component *b)
{
    a->x1 = b->x1 < a->x1 ? b->x1 : a->x1;
    a->y1 = b->y1 < a->y1 ? b->y1 : a->y1;
    a->x2 = b->x2 > a->x2 ? b->x2 : a->x2;
    a->y2 = b->y2 > a->y2 ? b->y2 : a->y2;
    a->n += b->n;
    a->jxx += b->jxx;
    a->jyy += b->jyy;
    a->jxy += b->jxy;
    a->mass += b->mass;
    a->brighter += b->brighter;
    b->alive = 0;
}

/* Icon, word and handle come out as separate pieces: merge pieces closer
 * than gap, as long as the union stays small enough to be a watermark. */
static void merge_close(component *c, int count, int gap, int64_t max_area)
{
    for (int changed = 1; changed;) {
        changed = 0;
        for (int i = 0; i < count; i++) {
            if (!c[i].alive || c[i].n < 4)
                continue;
            for (int j = i + 1; j < count; j++) {
                if (!c[j].alive || c[j].n < 4 || gap_between(&c[i], &c[j]) > gap)
                    continue;
                component u = c[i];
                absorb(&u, &c[j]);
                c[j].alive = 1;
                if ((int64_t)(u.x2 - u.x1) * (u.y2 - u.y1) > max_area)
                    continue;
                absorb(&c[i], &c[j]);
                changed = 1;
            }
        }
    }
}

static double directionality(const component *c)
{
    double tr = c->jxx + c->jyy, det = c->jxx * c->jyy - c->jxy * c->jxy;
    double disc = sqrt(fmax(0, tr * tr / 4 - det));
    double big = tr / 2 + disc, small = tr / 2 - disc;
    return big > 0 ? small / big : 0;
}

/* Over a still picture, an overlay lifts (or darkens) the background the
 * same way all over (D = a (W - B)); something that moved in the picture
 * changes it both ways. */
static int one_way(const um_detector *d, const component *c)
{
    if (!d->still_window)
        return 1;
    int64_t darker = c->n - c->brighter;
    return (c->brighter > darker ? c->brighter : darker) >= c->n * 4 / 5;
}

/* Where spot s's template (its box) matches the window medians best, over
 * the places that put its box over c's, within KNOWN_MARK_SLACK (the box
 * inside c's or c's inside it): that correlation, its box's corner in *x,
 * *y. */
static double match_at_component(const um_detector *d, const det_spot *s, const component *c, int *x,
                                 int *y)
{
    int w = s->tx2 - s->tx1, h = s->ty2 - s->ty1;
    int x0 = (c->x1 < c->x2 - w ? c->x1 : c->x2 - w) - KNOWN_MARK_SLACK;
    int y0 = (c->y1 < c->y2 - h ? c->y1 : c->y2 - h) - KNOWN_MARK_SLACK;
    int x1 = (c->x1 > c->x2 - w ? c->x1 : c->x2 - w) + KNOWN_MARK_SLACK;
    int y1 = (c->y1 > c->y2 - h ? c->y1 : c->y2 - h) + KNOWN_MARK_SLACK;
    x0 = x0 < 1 ? 1 : x0;
    y0 = y0 < 1 ? 1 : y0;
    x1 = x1 > d->dw - w - 1 ? d->dw - w - 1 : x1;
    y1 = y1 > d->dh - h - 1 ? d->dh - h - 1 : y1;
    return det_match_box(s, d->mgx, d->mgy, d->dw, x0, y0, x1, y1, x, y);
}

/* The known spot whose mark the window medians show over c (its
 * template matching at least KNOWN_MARK_MATCH), or NULL; its box's place
 * there in *x, *y. A component less than half the mark's size either way
 * is not taken for it. Spots whose template waits to be rebuilt (scoring
 * rebuilds them) are left out. */
static const det_spot *known_mark_at(const um_detector *d, const component *c, int *x, int *y)
{
    for (int i = 0; i < d->nb_spots; i++) {
        const det_spot *s = &d->spots[i];
        int w = s->tx2 - s->tx1, h = s->ty2 - s->ty1;
        if (s->template_dirty || s->nacc == 0 || w < 4 || h < 3 || 2 * (c->x2 - c->x1) < w ||
            2 * (c->y2 - c->y1) < h)
            continue;
        if (match_at_component(d, s, c, x, y) >= KNOWN_MARK_MATCH)
            return s;
    }
    return NULL;
}

/*
 * A hopping mark learnt at one place is known wherever it lands next. Over
 * a bright background some of its edges sink under the threshold and
 * those left may lean one way (a Sora cloud lost its directionality there,
 * 0.34 against 0.59 at its first place, and was learnt only after it had
 * gone): a component that fails the directionality test alone still counts
 * when a known spot's template matches it.
 */
static int shows_known_mark(const um_detector *d, const component *c)
{
    int x, y;
    return known_mark_at(d, c, &x, &y) != NULL;
}

static int is_candidate(const um_detector *d, const component *c)
{
    int64_t area = (int64_t)(c->x2 - c->x1) * (c->y2 - c->y1);
    if (!c->alive || !one_way(d, c) || c->n < MIN_PIXELS || area > d->o.max_area * d->dw * d->dh ||
        c->x2 - c->x1 < 4 || c->y2 - c->y1 < 3)
        return 0;
    return directionality(c) >= MIN_DIRECTIONALITY || shows_known_mark(d, c);
}

/* ---- spots ------------------------------------------------------------ */

/* The window around a candidate that a template keeps: room for the soft
 * edge and a little drift. */
static void template_window(const um_detector *d, const component *c, int *x, int *y, int *w, int *h)
{
    int mx = (c->x2 - c->x1) / 4 + 6, my = (c->y2 - c->y1) / 4 + 6;
    int x1 = c->x1 - mx < 1 ? 1 : c->x1 - mx, y1 = c->y1 - my < 1 ? 1 : c->y1 - my;
    int x2 = c->x2 + mx > d->dw - 1 ? d->dw - 1 : c->x2 + mx;
    int y2 = c->y2 + my > d->dh - 1 ? d->dh - 1 : c->y2 + my;
    *x = x1;
    *y = y1;
    *w = x2 - x1;
    *h = y2 - y1;
}

/* A spot whose first sighting is the box x1,y1-x2,y2, keeping the window
 * wx,wy (ww x wh), all on the detection grid. NULL when there are enough. */
det_spot *det_spot_new_window(um_detector *d, int x1, int y1, int x2, int y2, int wx, int wy, int ww,
                              int wh)
{
    if (d->nb_spots >= DET_MAX_SPOTS)
        return NULL;
    det_spot *s = &d->spots[d->nb_spots++];
    memset(s, 0, sizeof(*s));
    s->x = wx;
    s->y = wy;
    s->w = ww;
    s->h = wh;
    s->fx1 = x1;
    s->fy1 = y1;
    s->fx2 = x2;
    s->fy2 = y2;
    size_t n = (size_t)s->w * s->h;
    s->acc_gx = um_xcalloc(n, sizeof(float));
    s->acc_gy = um_xcalloc(n, sizeof(float));
    s->tgx = um_xcalloc(n, sizeof(int16_t));
    s->tgy = um_xcalloc(n, sizeof(int16_t));
    s->support = um_xcalloc(n, 1);
    s->mark = -1;
    s->given = -1;
    s->given_scale = 1;
    s->born = d->frames;
    return s;
}

/* A new spot's first sighting c, grown to the whole of a known mark that
 * shows over it: a hopping mark may first show at a new place only in
 * part (its icon faint over a bright sky there), and a window sized on
 * the part would cut the rest off for good. */
static component whole_known_mark(const um_detector *d, const component *c)
{
    component whole = *c;
    int x, y;
    const det_spot *s = known_mark_at(d, c, &x, &y);
    if (!s)
        return whole;
    whole.x1 = x < c->x1 ? x : c->x1;
    whole.y1 = y < c->y1 ? y : c->y1;
    whole.x2 = x + s->tx2 - s->tx1 > c->x2 ? x + s->tx2 - s->tx1 : c->x2;
    whole.y2 = y + s->ty2 - s->ty1 > c->y2 ? y + s->ty2 - s->ty1 : c->y2;
    return whole;
}

static det_spot *new_spot(um_detector *d, const component *c)
{
    int x, y, w, h;
    template_window(d, c, &x, &y, &w, &h);
    return det_spot_new_window(d, c->x1, c->y1, c->x2, c->y2, x, y, w, h);
}

det_spot *det_spot_new_at(um_detector *d, int x1, int y1, int x2, int y2)
{
    component c = {.x1 = x1, .y1 = y1, .x2 = x2, .y2 = y2, .alive = 1};
    return new_spot(d, &c);
}

double det_overlap_of_smaller(um_box a, um_box b)
{
    int64_t area_a = (int64_t)(a.x2 - a.x1) * (a.y2 - a.y1), area_b = (int64_t)(b.x2 - b.x1) * (b.y2 - b.y1);
    int64_t smaller = area_a < area_b ? area_a : area_b;
    return smaller > 0 ? (double)um_box_overlap(a, b) / (double)smaller : 0;
}

/* A sighting belongs to the spot whose first sighting it mostly overlaps
 * (a later sighting may carry a piece of still background along, but the
 * mark in it is the same) and whose centre it is near: farther than the
 * jump threshold (a fraction of the frame's diagonal) it is a mark that
 * jumped, a spot of its own. */
static det_spot *spot_for(um_detector *d, const component *c)
{
    double diagonal = sqrt((double)d->dw * d->dw + (double)d->dh * d->dh);
    double cx = (c->x1 + c->x2) / 2.0, cy = (c->y1 + c->y2) / 2.0;
    for (int i = 0; i < d->nb_spots; i++) {
        det_spot *s = &d->spots[i];
        double sx = (s->fx1 + s->fx2) / 2.0, sy = (s->fy1 + s->fy2) / 2.0;
        um_box first = {s->fx1, s->fy1, s->fx2, s->fy2}, seen = {c->x1, c->y1, c->x2, c->y2};
        if (det_overlap_of_smaller(first, seen) >= 0.5 &&
            hypot(cx - sx, cy - sy) <= d->o.jump_threshold * diagonal)
            return s;
    }
    component whole = whole_known_mark(d, c);
    return new_spot(d, &whole);
}

/* The part of the window median inside the spot's window is all a spot
 * keeps; its box comes from the evidence of the frames later on. */

static void accumulate(const um_detector *d, det_spot *s)
{
    for (int j = 0; j < s->h; j++) {
        const int16_t *gx = d->mgx + (size_t)(s->y + j) * d->dw + s->x;
        const int16_t *gy = d->mgy + (size_t)(s->y + j) * d->dw + s->x;
        float *ax = s->acc_gx + (size_t)j * s->w, *ay = s->acc_gy + (size_t)j * s->w;
        for (int i = 0; i < s->w; i++) {
            ax[i] += gx[i];
            ay[i] += gy[i];
        }
    }
    s->nacc++;
    s->template_dirty = 1;
}

void det_analyze_window(um_detector *d, int nsamples)
{
    const int16_t *gx[DET_SAMPLES], *gy[DET_SAMPLES];
    for (int k = 0; k < nsamples; k++) {
        int slot = (d->sample_head - 1 - k + DET_SAMPLES) % DET_SAMPLES;
        gx[k] = d->sgx[slot];
        gy[k] = d->sgy[slot];
    }
    size_t n = (size_t)d->dw * d->dh;
    /* |mgx| + |mgy| > ABS_THRESHOLD needs one of them above half of it. */
    um_kernel_median_stack_where(gx, nsamples, n, ABS_THRESHOLD / 2, d->bin, d->mgx);
    um_kernel_median_stack_where(gy, nsamples, n, ABS_THRESHOLD / 2, d->bin, d->mgy);
    threshold_medians(d, typical_gradient(d, gx[0], gy[0]));
    /* In a still picture its edges stand still too and hide the mark's: the
     * mark is what differs from the long-term background then. */
    d->still_window = scene_motion(d, gx[0], gy[0], gx[nsamples - 1], gy[nsamples - 1]) < MIN_MOTION;
    if (d->still_window && det_still_differences(d, nsamples) < 0)
        return;
    um_kernel_mask_dilate(d->bin, d->dw, d->dw, d->dh, 1, d->dil, d->dw);
    if (!d->components)
        d->components = um_xmalloc(MAX_COMPONENTS * sizeof(component));
    component *comps = d->components;
    int count = flood_components(d->dil, d->dw, d->dh, d->labels, d->stack, comps, MAX_COMPONENTS,
                                 visit_median, d);
    int gap = (d->dw < d->dh ? d->dw : d->dh) / 40 + 2;
    merge_close(comps, count, gap, (int64_t)(d->o.max_area * d->dw * d->dh));
    for (int i = 0; i < count; i++) {
        if (!is_candidate(d, &comps[i]))
            continue;
        det_spot *s = spot_for(d, &comps[i]);
        if (s) {
            accumulate(d, s);
            s->from_still |= d->still_window;
        }
    }
}

/* ---- templates -------------------------------------------------------- */

static int compare_int(const void *a, const void *b)
{
    return *(const int *)a - *(const int *)b;
}

/* A piece joins the mark's cluster when it is close and carries some of
 * the mass; a light piece must be very close (a letter's dot, not a stray
 * bit of background a few pixels off). */
static int joins_cluster(const component *cluster, const component *piece, double total, int gap)
{
    int g = gap_between(cluster, piece);
    double share = piece->mass / total;
    return share >= 0.01 && (g <= 2 || (share >= 0.03 && g <= gap));
}

/* Keeps the support's main cluster: the piece with the most gradient mass
 * and the pieces near it, dropping stray bits of background that stood
 * still in some window. Returns the cluster's bbox in *c. */
static void keep_main_cluster(um_detector *d, det_spot *s, const int *mags, uint8_t *strong,
                              component *c)
{
    size_t n = (size_t)s->w * s->h;
    component *pieces = um_xmalloc(MAX_COMPONENTS * sizeof(*pieces));
    int32_t *label = um_xmalloc(n * sizeof(int32_t)), *stack = um_xmalloc(n * sizeof(int32_t));
    int count = flood_components(strong, s->w, s->h, label, stack, pieces, MAX_COMPONENTS, visit_mass, mags);
    double total = 0;
    for (int i = 0; i < count; i++)
        total += pieces[i].mass;
    int main_piece = 0;
    for (int i = 1; i < count; i++)
        if (pieces[i].mass > pieces[main_piece].mass)
            main_piece = i;
    component cluster = pieces[main_piece];
    int gap = (d->dw < d->dh ? d->dw : d->dh) / 40 + 2;
    uint8_t *keep = um_xcalloc((size_t)count + 1, 1);
    keep[main_piece] = 1;
    for (int grew = 1; grew;) {
        grew = 0;
        for (int i = 0; i < count; i++)
            if (!keep[i] && joins_cluster(&cluster, &pieces[i], total, gap)) {
                absorb(&cluster, &pieces[i]);
                keep[i] = grew = 1;
            }
    }
    for (size_t i = 0; i < n; i++)
        strong[i] = strong[i] && keep[label[i] - 1];
    *c = cluster;
    free(keep);
    free(label);
    free(stack);
    free(pieces);
}

/* det_match_box over the rows y0..y1: the first best place in scan order. */
static double match_rows(const det_spot *s, const int16_t *gx, const int16_t *gy, ptrdiff_t stride, int x0, int y0,
                         int x1, int y1, int *bx, int *by)
{
    int w = s->tx2 - s->tx1, h = s->ty2 - s->ty1;
    size_t at = (size_t)s->ty1 * s->w + s->tx1;
    double best = -1;
    for (int y = y0; y <= y1; y++)
        for (int x = x0; x <= x1; x++) {
            const int16_t *fx = gx + (ptrdiff_t)y * stride + x, *fy = gy + (ptrdiff_t)y * stride + x;
            double v = um_kernel_gradient_ncc(s->tgx + at, s->tgy + at, s->w, s->support + at, s->w, fx, fy,
                                              stride, w, h);
            if (v > best) {
                best = v;
                *bx = x;
                *by = y;
            }
        }
    return best;
}

/*
 * A search of at least this many template samples over all its places is
 * split into bands of rows, one core each. The last window of a clip is
 * analysed after decoding has ended, with the other core idle, and on
 * hold-out h2 it matched 43 components against six templates over up to
 * 158 x 96 places: 0.49 s on one thread.
 */
#define MATCH_SPLIT_SAMPLES ((int64_t)1 << 22)
#define MATCH_BANDS 8

typedef struct {
    const det_spot *s;
    const int16_t *gx, *gy;
    ptrdiff_t stride;
    int x0, y0, x1, y1;
    double best[MATCH_BANDS];
    int bx[MATCH_BANDS], by[MATCH_BANDS];
} match_split;

static void match_band(void *ctx, int band)
{
    match_split *m = ctx;
    int rows = m->y1 - m->y0 + 1;
    int first = m->y0 + rows * band / MATCH_BANDS, last = m->y0 + rows * (band + 1) / MATCH_BANDS - 1;
    m->best[band] = match_rows(m->s, m->gx, m->gy, m->stride, m->x0, first, m->x1, last, &m->bx[band],
                               &m->by[band]);
}

double det_match_box(const det_spot *s, const int16_t *gx, const int16_t *gy, ptrdiff_t stride, int x0,
                     int y0, int x1, int y1, int *bx, int *by)
{
    int64_t samples = (int64_t)(x1 - x0 + 1) * (y1 - y0 + 1) * (s->tx2 - s->tx1) * (s->ty2 - s->ty1);
    if (samples < MATCH_SPLIT_SAMPLES || y1 - y0 + 1 < MATCH_BANDS)
        return match_rows(s, gx, gy, stride, x0, y0, x1, y1, bx, by);
    match_split m = {.s = s, .gx = gx, .gy = gy, .stride = stride, .x0 = x0, .y0 = y0, .x1 = x1, .y1 = y1};
    um_parallel_for(MATCH_BANDS, match_band, &m);
    /* The bands in scan order, each its first best: the first best of all. */
    double best = -1;
    for (int band = 0; band < MATCH_BANDS; band++)
        if (m.best[band] > best) {
            best = m.best[band];
            *bx = m.bx[band];
            *by = m.by[band];
        }
    return best;
}

/* The strong pixels of a gradient field: above a fifth of its peak (its
 * 98th percentile). Returns whether there are any. */
static int strong_pixels(const int *mags, size_t n, uint8_t *strong)
{
    int *sorted = um_xmalloc(n * sizeof(int));
    memcpy(sorted, mags, n * sizeof(int));
    qsort(sorted, n, sizeof(int), compare_int);
    int peak = sorted[(n * 98) / 100];
    free(sorted);
    int thr = peak / 5 > ABS_THRESHOLD / 2 ? peak / 5 : ABS_THRESHOLD / 2;
    int any = 0;
    for (size_t i = 0; i < n; i++)
        any |= strong[i] = mags[i] > thr;
    return any;
}

/* The box of the main cluster of a gradient field's strong pixels, left
 * in strong. */
static void cluster_box(um_detector *d, det_spot *s, const int *mags, uint8_t *strong)
{
    component c = {0};
    if (strong_pixels(mags, (size_t)s->w * s->h, strong))
        keep_main_cluster(d, s, mags, strong, &c);
    s->tx1 = c.x1;
    s->ty1 = c.y1;
    s->tx2 = c.x2;
    s->ty2 = c.y2;
}

/* A soft shadow or glow fades out over several pixels: its steady but weak
 * edges, connected to the mark's strong ones, belong to the box too (a box
 * must cover every pixel the mark touches). Adds them to strong and grows
 * the box over them. */
static void grow_into_halo(det_spot *s, const int *mags, uint8_t *strong)
{
    size_t n = (size_t)s->w * s->h;
    int peak = 0;
    for (size_t i = 0; i < n; i++)
        peak = strong[i] && mags[i] > peak ? mags[i] : peak;
    int low = peak / HALO_FRACTION > HALO_FLOOR ? peak / HALO_FRACTION : HALO_FLOOR;
    int32_t *stack = um_xmalloc(n * sizeof(int32_t));
    size_t top = 0;
    for (size_t i = 0; i < n; i++)
        if (strong[i])
            stack[top++] = (int32_t)i;
    while (top) {
        int32_t p = stack[--top];
        int x = p % s->w, y = p / s->w;
        s->tx1 = x < s->tx1 ? x : s->tx1;
        s->ty1 = y < s->ty1 ? y : s->ty1;
        s->tx2 = x + 1 > s->tx2 ? x + 1 : s->tx2;
        s->ty2 = y + 1 > s->ty2 ? y + 1 : s->ty2;
        for (int dy = -1; dy <= 1; dy++)
            for (int dx = -1; dx <= 1; dx++) {
                int nx = x + dx, ny = y + dy;
                if (nx < 0 || ny < 0 || nx >= s->w || ny >= s->h)
                    continue;
                size_t q = (size_t)ny * s->w + nx;
                if (!strong[q] && mags[q] > low) {
                    strong[q] = 1;
                    stack[top++] = (int32_t)q;
                }
            }
    }
    free(stack);
}

/* The template is the mean median gradient; its support is the main
 * cluster of pixels strong against the template's own peak (Sobel already
 * reaches a pixel past the mark's soft edge), grown by one pixel for the
 * correlation's sake. */
void det_spot_rebuild_template(um_detector *d, det_spot *s)
{
    size_t n = (size_t)s->w * s->h;
    int *mags = um_xmalloc(n * sizeof(int));
    for (size_t i = 0; i < n; i++) {
        s->tgx[i] = (int16_t)lrintf(s->acc_gx[i] / (float)s->nacc);
        s->tgy[i] = (int16_t)lrintf(s->acc_gy[i] / (float)s->nacc);
        mags[i] = l1(s->tgx[i], s->tgy[i]);
    }
    uint8_t *strong = um_xcalloc(n, 1);
    cluster_box(d, s, mags, strong);
    if (s->from_still) /* no evidence will set its box: take the halo in here */
        grow_into_halo(s, mags, strong);
    um_kernel_mask_dilate(strong, s->w, s->w, s->h, 1, s->support, s->w);
    free(strong);
    free(mags);
    s->template_dirty = 0;
}

void det_spot_add_evidence(det_spot *s, const int16_t *gx, const int16_t *gy, ptrdiff_t stride)
{
    size_t n = (size_t)s->w * s->h;
    if (!s->ev_gx) {
        s->ev_gx = um_xcalloc(n, sizeof(float));
        s->ev_gy = um_xcalloc(n, sizeof(float));
        s->ev_abs = um_xcalloc(n, sizeof(float));
    }
    for (int y = 0; y < s->h; y++)
        for (int x = 0; x < s->w; x++) {
            int16_t vx = gx[y * stride + x], vy = gy[y * stride + x];
            s->ev_gx[(size_t)y * s->w + x] += vx;
            s->ev_gy[(size_t)y * s->w + x] += vy;
            s->ev_abs[(size_t)y * s->w + x] += (float)l1(vx, vy);
        }
    s->ev_n++;
}

void det_spot_box_from_evidence(um_detector *d, det_spot *s)
{
    /* Over a still picture the picture's edges are steady too: the box
     * learnt from the background difference stands. */
    if (s->ev_n < MIN_EVIDENCE_FRAMES || s->from_still)
        return;
    size_t n = (size_t)s->w * s->h;
    int *mags = um_xmalloc(n * sizeof(int));
    /* The mark's edges keep their direction from frame to frame; a moving
     * picture's do not, so its mean gradient is small against its mean
     * magnitude. Only the steady part counts. */
    for (size_t i = 0; i < n; i++) {
        float steady = fabsf(s->ev_gx[i]) + fabsf(s->ev_gy[i]);
        mags[i] = steady >= DET_MIN_STEADINESS * s->ev_abs[i] ? (int)lrintf(steady / (float)s->ev_n) : 0;
    }
    uint8_t *strong = um_xcalloc(n, 1);
    cluster_box(d, s, mags, strong);
    grow_into_halo(s, mags, strong);
    /* The mark's shape: its steady edges, grown over the thin strokes
     * between them. */
    free(s->shape);
    s->shape = um_xmalloc(n);
    um_kernel_mask_dilate(strong, s->w, s->w, s->h, 2, s->shape, s->w);
    free(strong);
    free(mags);
}

/* Room for per-frame scores of frames 0..frames-1; new ones are NAN (not
 * scored). */
void det_spot_reserve(det_spot *s, int64_t frames)
{
    if (frames <= s->cap)
        return;
    int64_t cap = s->cap ? s->cap : 256;
    while (cap < frames)
        cap *= 2;
    s->score = um_xrealloc(s->score, (size_t)cap * sizeof(float));
    s->scale_idx = um_xrealloc(s->scale_idx, (size_t)cap);
    s->off_x = um_xrealloc(s->off_x, (size_t)cap);
    s->off_y = um_xrealloc(s->off_y, (size_t)cap);
    s->by_chroma = um_xrealloc(s->by_chroma, (size_t)cap);
    memset(s->by_chroma + s->cap, 0, (size_t)(cap - s->cap));
    for (int64_t i = s->cap; i < cap; i++)
        s->score[i] = NAN;
    s->cap = cap;
}

void det_scaled_free(det_scaled *t)
{
    free(t->gx);
    free(t->gy);
    free(t->support);
    memset(t, 0, sizeof(*t));
}

void det_spot_free(det_spot *s)
{
    free(s->acc_gx);
    free(s->acc_gy);
    free(s->tgx);
    free(s->tgy);
    free(s->support);
    free(s->ev_gx);
    free(s->ev_gy);
    free(s->ev_abs);
    free(s->sum_j);
    free(s->sum_jj);
    free(s->sum_i);
    free(s->sum_ii);
    free(s->alpha);
    free(s->shape);
    det_shapes_free(s);
    det_chroma_free(s);
    for (int k = 0; k < UM_DETECT_MAX_SCALES; k++)
        det_scaled_free(&s->scaled[k]);
    free(s->score);
    free(s->scale_idx);
    free(s->off_x);
    free(s->off_y);
    free(s->by_chroma);
    memset(s, 0, sizeof(*s));
}
