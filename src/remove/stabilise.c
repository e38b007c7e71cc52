/*
 * Keeps restored areas steady in time. After a frame's marks are restored
 * (inverted, their residue filled), each mark's area is merged with its
 * result one frame before, followed along the camera's motion, by the
 * temporal kernel (see src/kernels/temporal.c for why and how): a forward
 * pass, which sees only the past. The motion is measured on the untouched
 * pixels around the mark, a margin that is kept with each result for that
 * purpose.
 *
 * A frame is settled a few frames later, when what came after it is known:
 * a backward pass runs the same filter from the newest frame down to it,
 * along the same motion reversed, and its result is merged with the
 * forward one (a two-filter smoother). Each sample then draws on frames on
 * both sides: half the variance of the forward pass alone where both saw
 * as much, and no lag. A backward pass serves the frames it passes at least
 * LOOKAHEAD / 2 frames ahead of its start, so it runs once every
 * LOOKAHEAD / 2 frames, not once per frame.
 *
 * A mark is followed from frame to frame while it stays where it is; when
 * it hops, or a frame is skipped, its area starts afresh. Images have no
 * previous frame and pass through unchanged.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "remove/remove_internal.h"
#include "unmark/kernels.h"

/* Luma pixels kept around a mark's area: the untouched picture the motion
 * is measured on, and room for the prediction to be read from. */
#define MARGIN 32
/* How far (luma pixels) the motion may change from one frame to the next,
 * and how far it may reach: the inner half of the margin is compared. */
#define SEARCH_RADIUS 6
#define REACH (MARGIN / 2)
#define MAX_TRACKS UM_REMOVE_MAX_BOXES
/* The least coding noise believed, as a share of the most assumed (0.3 of
 * 2.5 levels): a perfect match says little about a single frame. */
#define MIN_NOISE_SHARE 0.12f
/* The motion is followed when it explains the picture around the mark to
 * within a few times the coding noise's variance, or, on a detailed
 * picture (a handheld camera over rock leaves tens of levels^2 however well
 * it is followed), leaves less than this share of the difference two
 * unrelated frames of it would show (twice its variance). Beyond that (a
 * crowd, a cut) the restored area starts afresh; within it the drift left
 * is the prediction's extra variance, so the filter trusts it less. */
#define MAX_DRIFT 4.0f
#define MAX_UNEXPLAINED 0.05f
/* The coding noise is the median of what the last this many matches left. */
#define NOISE_WINDOW 64
/* Frames of a track kept for settling: the newest and LOOKAHEAD before. */
#define HISTORY (UM_REMOVE_LOOKAHEAD + 1)

/* One frame of a track: what the restoration left, the forward pass's
 * result, and the settled one once a backward pass has reached it. */
typedef struct {
    int64_t frame;                    /* -1: empty */
    float *measured[MATTE_MAX_PLANES]; /* the restored samples, before merging */
    float *value[MATTE_MAX_PLANES], *var[MATTE_MAX_PLANES]; /* the forward result */
    float *settled[MATTE_MAX_PLANES]; /* the two passes merged */
    int ahead;                        /* frames after this one settled[] drew on; -1: not settled */
    int linked;                       /* the forward pass merged it with the frame before */
    float dx, dy, drift;              /* the motion from the frame before, and what it leaves */
    float noise[MATTE_MAX_PLANES];    /* the coding noise believed on each plane, sample units */
} moment;

typedef struct {
    const um_matte *matte;      /* NULL: the slot is free */
    int64_t frame;              /* the newest frame filtered */
    um_box region;              /* luma pixels kept: the matte's crop and the margin */
    int x[MATTE_MAX_PLANES], y[MATTE_MAX_PLANES]; /* the region's corner on each plane */
    int w[MATTE_MAX_PLANES], h[MATTE_MAX_PLANES]; /* and its size */
    int log2_w[MATTE_MAX_PLANES], log2_h[MATTE_MAX_PLANES]; /* each plane's subsampling */
    moment history[HISTORY];    /* frame k in history[k % HISTORY] */
    float *back[2][MATTE_MAX_PLANES], *back_var[2][MATTE_MAX_PLANES]; /* the backward pass */
    float *merge_var[MATTE_MAX_PLANES]; /* scratch for settling */
    float *store[MATTE_MAX_PLANES];     /* one allocation per plane that all the above point into */
    uint8_t *still[MATTE_MAX_PLANES]; /* region-sized: samples the restoration left alone */
    float *ring[MATTE_MAX_PLANES];    /* region-sized: the untouched samples merged too */
    float a_max;                /* the restoration's opacity limit (filled above) */
    /* Each plane's coding noise: its variance as measured (-1: not yet),
     * from what the last matches left, halved (a ring), and how many. */
    float noise2[MATTE_MAX_PLANES];
    double seen[MATTE_MAX_PLANES][NOISE_WINDOW];
    int nb_seen[MATTE_MAX_PLANES];
} track;

struct um_stabiliser {
    track tracks[MAX_TRACKS];
};

um_stabiliser *um_stabiliser_new(void)
{
    return um_xcalloc(1, sizeof(um_stabiliser));
}

static void track_clear(track *t)
{
    for (int p = 0; p < MATTE_MAX_PLANES; p++) {
        free(t->store[p]);
        free(t->still[p]);
        free(t->ring[p]);
    }
    memset(t, 0, sizeof(*t));
}

void um_stabiliser_free(um_stabiliser **s)
{
    if (!*s)
        return;
    for (int i = 0; i < MAX_TRACKS; i++)
        track_clear(&(*s)->tracks[i]);
    free(*s);
    *s = NULL;
}

/* The matte's crop grown by the margin, inside the frame and on the chroma
 * grid. */
static um_box region_of(const um_matte *m, const um_frame *f)
{
    int ax = (1 << f->log2_chroma_w) - 1, ay = (1 << f->log2_chroma_h) - 1;
    um_box r = {m->crop.x1 - MARGIN, m->crop.y1 - MARGIN, m->crop.x2 + MARGIN, m->crop.y2 + MARGIN};
    r.x1 = r.x1 < 0 ? 0 : r.x1 & ~ax;
    r.y1 = r.y1 < 0 ? 0 : r.y1 & ~ay;
    r.x2 = r.x2 > f->width ? f->width : r.x2;
    r.y2 = r.y2 > f->height ? f->height : r.y2;
    return r;
}

/* Matte m on plane p of the track's region, for the temporal kernel. */
static um_kernel_mark mark_of(const track *t, const um_matte *m, int p)
{
    return (um_kernel_mark){.alpha = m->alpha[p], .colour_map = m->colour_map[p], .a_stride = m->pw[p],
                            .ax = m->px[p] - t->x[p], .ay = m->py[p] - t->y[p], .aw = m->pw[p],
                            .ah = m->ph[p], .colour = m->colour[p], .a_max = t->a_max, .ring = t->ring[p]};
}

/* Which samples of plane p of the track's region the restoration leaves
 * alone (1): those the matte does not cover, or covers with no opacity. */
static uint8_t *still_samples(const track *t, const um_matte *m, int p)
{
    uint8_t *still = um_xmalloc((size_t)t->w[p] * t->h[p]);
    for (int y = 0; y < t->h[p]; y++)
        for (int x = 0; x < t->w[p]; x++) {
            int mx = x + t->x[p] - m->px[p], my = y + t->y[p] - m->py[p];
            int inside = mx >= 0 && my >= 0 && mx < m->pw[p] && my < m->ph[p];
            still[(size_t)y * t->w[p] + x] = !inside || m->alpha[p][(size_t)my * m->pw[p] + mx] < UM_KERNEL_MIN_ALPHA;
        }
    return still;
}

/* Sets up a track for matte m at frame f's size (its buffers allocated,
 * nothing to merge with yet). */
static void track_start(track *t, const um_matte *m, const um_frame *f)
{
    track_clear(t);
    t->matte = m;
    t->frame = -1;
    t->region = region_of(m, f);
    for (int p = 0; p < m->nb_planes; p++) {
        int sw = t->log2_w[p] = um_frame_plane_log2_w(f, p), sh = t->log2_h[p] = um_frame_plane_log2_h(f, p);
        t->x[p] = t->region.x1 >> sw;
        t->y[p] = t->region.y1 >> sh;
        t->w[p] = -(-t->region.x2 >> sw) - t->x[p];
        t->h[p] = -(-t->region.y2 >> sh) - t->y[p];
        size_t n = (size_t)t->w[p] * t->h[p];
        float *at = t->store[p] = um_xmalloc(n * (4 * HISTORY + 5) * sizeof(float));
        for (int k = 0; k < HISTORY; k++) {
            moment *h = &t->history[k];
            h->measured[p] = at, at += n;
            h->value[p] = at, at += n;
            h->var[p] = at, at += n;
            h->settled[p] = at, at += n;
        }
        for (int k = 0; k < 2; k++) {
            t->back[k][p] = at, at += n;
            t->back_var[k][p] = at, at += n;
        }
        t->merge_var[p] = at;
        t->still[p] = still_samples(t, m, p);
        /* The ring depends only on the matte and the region: built once,
         * not at each of the four or so merges per frame and plane. */
        um_kernel_mark mark = mark_of(t, m, p);
        t->ring[p] = um_kernel_temporal_ring(&mark, t->w[p], t->h[p]);
        t->noise2[p] = -1;
    }
    for (int k = 0; k < HISTORY; k++)
        t->history[k].frame = -1;
}

/* The track following matte m: its own, or a free (else the stalest) slot
 * started for it. */
static track *track_for(um_stabiliser *s, const um_matte *m, const um_frame *f)
{
    track *stalest = &s->tracks[0];
    for (int i = 0; i < MAX_TRACKS; i++) {
        track *t = &s->tracks[i];
        if (t->matte == m)
            return t;
        if (!t->matte || (stalest->matte && t->frame < stalest->frame))
            stalest = t;
    }
    track_start(stalest, m, f);
    return stalest;
}

static void read_region(const um_frame *f, int p, int x0, int y0, int w, int h, float *out)
{
    for (int y = 0; y < h; y++) {
        const uint8_t *row = f->data[p] + (ptrdiff_t)(y0 + y) * f->linesize[p];
        for (int x = 0; x < w; x++)
            out[(size_t)y * w + x] = f->depth > 8 ? ((const uint16_t *)row)[x0 + x] : row[x0 + x];
    }
}

static void write_region(um_frame *f, int p, int x0, int y0, int w, int h, const float *in)
{
    float top = (float)((1 << f->depth) - 1);
    for (int y = 0; y < h; y++) {
        uint8_t *row = f->data[p] + (ptrdiff_t)(y0 + y) * f->linesize[p];
        for (int x = 0; x < w; x++) {
            float v = in[(size_t)y * w + x];
            long q = lrintf(v < 0 ? 0 : v > top ? top : v);
            if (f->depth > 8)
                ((uint16_t *)row)[x0 + x] = (uint16_t)q;
            else
                row[x0 + x] = (uint8_t)q;
        }
    }
}

/* The variance of the untouched picture around the mark in samples. */
static float still_variance(const track *t, const float *samples)
{
    double sum = 0, sum2 = 0;
    size_t n = 0;
    for (size_t k = 0; k < (size_t)t->w[0] * t->h[0]; k++)
        if (t->still[0][k]) {
            sum += samples[k];
            sum2 += (double)samples[k] * samples[k];
            n++;
        }
    return n ? (float)(sum2 / n - (sum / n) * (sum / n)) : 0;
}

/* The coding noise's variance as the track's matches show it: the median
 * of what the last NOISE_WINDOW of them left (both frames carry their own
 * noise, hence the half), at most what the restoration assumed. Not the
 * least a match ever left: the least of many noisy measurements keeps
 * falling as a track grows longer, and a noise believed too small trusts
 * each frame's amplified noise over the merged history (measured: 0.3 to
 * 0.75 dB in the box on p1, p2 and p4, lossless). */
static void learn_noise(track *t, int p, float left, float noise)
{
    float floor = MIN_NOISE_SHARE * noise;
    t->seen[p][t->nb_seen[p]++ % NOISE_WINDOW] = left / 2 > floor * floor ? left / 2 : floor * floor;
    int n = t->nb_seen[p] < NOISE_WINDOW ? t->nb_seen[p] : NOISE_WINDOW;
    double sorted[NOISE_WINDOW];
    memcpy(sorted, t->seen[p], (size_t)n * sizeof(double));
    float median = (float)um_median_in_place(sorted, (size_t)n);
    t->noise2[p] = median < noise * noise ? median : noise * noise;
}

/* The colour planes' coding noise, learned like luma's from what the
 * motion luma found leaves of them. A picture whose colour varies more
 * than its brightness is coded with more error in colour (measured on the
 * first encode next to a bug over a smooth painting, levels^2: luma 0.33,
 * colour 0.60 and 0.53), and a colour noise believed too small lets its
 * restored samples go rather than merge them. */
static void learn_colour_noise(track *t, const moment *before, const moment *now, float noise)
{
    for (int p = 1; p < t->matte->nb_planes; p++) {
        float left = um_kernel_shift_residual(now->measured[p], before->measured[p], t->still[p], t->w[p], t->h[p],
                                              now->dx / (float)(1 << t->log2_w[p]),
                                              now->dy / (float)(1 << t->log2_h[p]));
        if (isfinite(left))
            learn_noise(t, p, left, noise);
    }
}

/* The coding noise plane p's merging believes (sample units): as learned,
 * and on a colour plane at least luma's. The filter's gate and its check
 * of the motion were tuned with luma's noise, which covers the matte's own
 * error too; with the colour planes' own noise where it was less, p1's box
 * lost 0.29 dB. The assumed noise until one is learned. */
static float believed_noise(const track *t, int p, float assumed)
{
    float n2 = t->noise2[p] > t->noise2[0] ? t->noise2[p] : t->noise2[0];
    return t->noise2[p] > 0 ? sqrtf(n2) : assumed;
}

/* The motion from the frame before into now, into now->dx, dy; the
 * coding noise's variance; and the drift the motion leaves unexplained
 * (variance, luma units), or -1 when the two frames cannot be matched.
 * Both frames are read as the restoration left them, not as merged (the
 * filter merges the samples beside the mark too, which would hide their
 * noise). What the match leaves is the variance of the difference (its
 * mean, a change of brightness, the filter follows); beyond twice the
 * noise it is drift. */
static float follow(track *t, const moment *before, moment *now, float noise)
{
    float left = um_kernel_shift_estimate(now->measured[0], before->measured[0], t->still[0], t->w[0], t->h[0],
                                         before->dx, before->dy, SEARCH_RADIUS, REACH, &now->dx, &now->dy);
    if (!isfinite(left))
        return -1;
    learn_noise(t, 0, left, noise);
    float drift = left - 2.0f * t->noise2[0];
    if (drift > MAX_DRIFT * t->noise2[0] && left > MAX_UNEXPLAINED * 2.0f * still_variance(t, now->measured[0]))
        return -1;
    learn_colour_noise(t, before, now, noise);
    return drift > 0 ? drift : 0;
}

/* Frame k of the track, NULL when it is not kept (never filtered, or
 * overwritten by a newer one). */
static moment *moment_of(track *t, int64_t k)
{
    if (k < 0)
        return NULL;
    moment *m = &t->history[k % HISTORY];
    return m->frame == k ? m : NULL;
}

/* One step of the temporal kernel on plane p of the track: cur (with its
 * variance in var when known, else a fresh measurement) merged with prev
 * moved by (dx, dy) luma pixels. */
static int merge_plane(const track *t, int p, float *cur, float *var, int known, const float *prev,
                       const float *prev_var, float dx, float dy, float drift, float noise)
{
    um_kernel_mark mark = mark_of(t, t->matte, p);
    float sx = dx / (float)(1 << t->log2_w[p]), sy = dy / (float)(1 << t->log2_h[p]);
    return known ? um_kernel_temporal_merge(cur, var, prev, prev_var, t->w[p], t->h[p], sx, sy, &mark, noise, drift)
                 : um_kernel_temporal_filter(cur, var, prev, prev_var, t->w[p], t->h[p], sx, sy, &mark, noise, drift);
}

/* The forward pass: frame f's area, as the restoration left it, merged
 * with the track's result one frame before. */
void um_stabiliser_run(um_stabiliser *s, const um_matte *m, um_frame *f, float a_max, float noise)
{
    if (m->nb_planes > f->nb_planes)
        return;
    track *t = track_for(s, m, f);
    moment *now = &t->history[f->index % HISTORY], *before = moment_of(t, f->index - 1);
    now->frame = f->index;
    now->ahead = -1;
    t->a_max = a_max;
    for (int p = 0; p < m->nb_planes; p++)
        read_region(f, p, t->x[p], t->y[p], t->w[p], t->h[p], now->measured[p]);
    float drift = before ? follow(t, before, now, noise) : -1;
    if (drift < 0)
        now->dx = now->dy = 0;
    now->drift = drift > 0 ? drift : 0;
    for (int p = 0; p < m->nb_planes; p++)
        now->noise[p] = believed_noise(t, p, noise);
    now->linked = drift >= 0;
    for (int p = 0; p < m->nb_planes; p++) {
        size_t n = (size_t)t->w[p] * t->h[p];
        memcpy(now->value[p], now->measured[p], n * sizeof(float));
        /* Luma decides whether the motion holds; chroma follows. */
        now->linked = merge_plane(t, p, now->value[p], now->var[p], 0, now->linked ? before->value[p] : NULL,
                                  now->linked ? before->var[p] : NULL, now->dx, now->dy, now->drift, now->noise[p]);
        write_region(f, p, t->x[p], t->y[p], t->w[p], t->h[p], now->value[p]);
    }
    t->frame = f->index;
}

/* The last frame the chain of merged frames from k reaches. */
static int64_t chain_end(track *t, int64_t k)
{
    for (;;) {
        moment *next = moment_of(t, k + 1);
        if (!next || !next->linked)
            return k;
        k++;
    }
}

/* Settles frame at: its forward result merged with the backward pass's
 * at the frame after it, next (back, back_var), moved back along next's
 * motion; without a frame after it (next NULL), the forward result. */
static void settle_with(track *t, moment *at, const moment *next, float *const *back, float *const *back_var,
                        int ahead)
{
    int linked = next != NULL;
    for (int p = 0; p < t->matte->nb_planes; p++) {
        size_t n = (size_t)t->w[p] * t->h[p];
        memcpy(at->settled[p], at->value[p], n * sizeof(float));
        memcpy(t->merge_var[p], at->var[p], n * sizeof(float));
        /* Luma decides whether the motion holds; chroma follows. */
        if (linked)
            linked = merge_plane(t, p, at->settled[p], t->merge_var[p], 1, back[p], back_var[p], -next->dx,
                                 -next->dy, next->drift, at->noise[p]);
    }
    at->ahead = ahead;
}

/* The backward pass from frame last down to frame first, settling first
 * and every frame it passes with at least LOOKAHEAD / 2 frames after it
 * (or, where the chain breaks after last, with all there will ever be).
 * The pass runs the forward filter's steps in reverse: frame k's area
 * merged with the pass's result at k + 1, moved back along the motion the
 * forward pass measured from k to k + 1. */
static void settle_backward(track *t, int64_t first, int64_t last)
{
    moment *at = moment_of(t, last);
    if (first == last) {
        settle_with(t, at, NULL, NULL, NULL, 0);
        return;
    }
    int b = 0, final = last < t->frame;
    for (int p = 0; p < t->matte->nb_planes; p++) {
        memcpy(t->back[b][p], at->measured[p], (size_t)t->w[p] * t->h[p] * sizeof(float));
        merge_plane(t, p, t->back[b][p], t->back_var[b][p], 0, NULL, NULL, 0, 0, 0, at->noise[p]);
    }
    for (int64_t k = last - 1; k >= first; k--) {
        moment *next = at;
        at = moment_of(t, k);
        int ahead = (int)(last - k);
        if (k == first || final || 2 * ahead >= UM_REMOVE_LOOKAHEAD)
            settle_with(t, at, next, t->back[b], t->back_var[b], ahead);
        if (k == first)
            break;
        int linked = 1;
        for (int p = 0; p < t->matte->nb_planes; p++) {
            size_t n = (size_t)t->w[p] * t->h[p];
            memcpy(t->back[!b][p], at->measured[p], n * sizeof(float));
            linked = merge_plane(t, p, t->back[!b][p], t->back_var[!b][p], 0, linked ? t->back[b][p] : NULL,
                                 t->back_var[b][p], -next->dx, -next->dy, next->drift, at->noise[p]);
        }
        b = !b;
    }
}

/* Writes each of frame f's tracked areas as settled: reusing a result
 * that drew on LOOKAHEAD / 2 frames after it or more (or on all the chain
 * will ever have), else from a backward pass over what is kept now. */
void um_stabiliser_settle(um_stabiliser *s, um_frame *f)
{
    for (int i = 0; i < MAX_TRACKS; i++) {
        track *t = &s->tracks[i];
        moment *at = t->matte ? moment_of(t, f->index) : NULL;
        if (!at)
            continue;
        int64_t last = chain_end(t, f->index);
        int best = (int)(last - f->index);
        if (at->ahead < 0 || (2 * at->ahead < UM_REMOVE_LOOKAHEAD && at->ahead < best))
            settle_backward(t, f->index, last);
        for (int p = 0; p < t->matte->nb_planes; p++)
            write_region(f, p, t->x[p], t->y[p], t->w[p], t->h[p], at->settled[p]);
    }
}
