/*
 * Keeps restored areas steady in time: after a frame's marks are restored
 * (inverted, their residue filled), each mark's area is merged with its
 * result one frame before, followed along the camera's motion, by the
 * temporal kernel (see src/kernels/temporal.c for why and how). The motion
 * is measured on the untouched pixels around the mark, a margin that is
 * kept with each result for that purpose.
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

typedef struct {
    const um_matte *matte;      /* NULL: the slot is free */
    int64_t frame;              /* the frame last filtered */
    um_box region;              /* luma pixels kept: the matte's crop and the margin */
    int x[MATTE_MAX_PLANES], y[MATTE_MAX_PLANES]; /* the region's corner on each plane */
    int w[MATTE_MAX_PLANES], h[MATTE_MAX_PLANES]; /* and its size */
    float *value[MATTE_MAX_PLANES], *var[MATTE_MAX_PLANES]; /* the last result */
    float *next_value[MATTE_MAX_PLANES], *next_var[MATTE_MAX_PLANES]; /* this frame's */
    uint8_t *still;             /* luma, region-sized: samples the restoration left alone */
    float dx, dy;               /* the last motion, luma pixels */
    float noise2;               /* the coding noise's variance, as measured */
    double seen[NOISE_WINDOW];  /* what the last matches left, halved: a ring */
    int nb_seen;                /* matches so far */
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
        free(t->value[p]);
        free(t->var[p]);
        free(t->next_value[p]);
        free(t->next_var[p]);
    }
    free(t->still);
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

/* Sets up a track for matte m at frame f's size (its buffers allocated,
 * nothing to merge with yet). */
static void track_start(track *t, const um_matte *m, const um_frame *f)
{
    track_clear(t);
    t->matte = m;
    t->frame = -1;
    t->noise2 = -1;
    t->region = region_of(m, f);
    for (int p = 0; p < m->nb_planes; p++) {
        int sw = um_frame_plane_log2_w(f, p), sh = um_frame_plane_log2_h(f, p);
        t->x[p] = t->region.x1 >> sw;
        t->y[p] = t->region.y1 >> sh;
        t->w[p] = -(-t->region.x2 >> sw) - t->x[p];
        t->h[p] = -(-t->region.y2 >> sh) - t->y[p];
        size_t n = (size_t)t->w[p] * t->h[p];
        t->value[p] = um_xmalloc(n * sizeof(float));
        t->var[p] = um_xmalloc(n * sizeof(float));
        t->next_value[p] = um_xmalloc(n * sizeof(float));
        t->next_var[p] = um_xmalloc(n * sizeof(float));
    }
    t->still = um_xmalloc((size_t)t->w[0] * t->h[0]);
    for (int y = 0; y < t->h[0]; y++)
        for (int x = 0; x < t->w[0]; x++) {
            int mx = x + t->x[0] - m->px[0], my = y + t->y[0] - m->py[0];
            int inside = mx >= 0 && my >= 0 && mx < m->pw[0] && my < m->ph[0];
            t->still[(size_t)y * t->w[0] + x] = !inside || m->alpha[0][(size_t)my * m->pw[0] + mx] < UM_KERNEL_MIN_ALPHA;
        }
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

/* The variance of the untouched picture around the mark, this frame. */
static float still_variance(const track *t)
{
    double sum = 0, sum2 = 0;
    size_t n = 0;
    for (size_t k = 0; k < (size_t)t->w[0] * t->h[0]; k++)
        if (t->still[k]) {
            sum += t->next_value[0][k];
            sum2 += (double)t->next_value[0][k] * t->next_value[0][k];
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
static void learn_noise(track *t, float half_left, float noise)
{
    t->seen[t->nb_seen++ % NOISE_WINDOW] = half_left;
    int n = t->nb_seen < NOISE_WINDOW ? t->nb_seen : NOISE_WINDOW;
    double sorted[NOISE_WINDOW];
    memcpy(sorted, t->seen, (size_t)n * sizeof(double));
    float median = (float)um_median_in_place(sorted, (size_t)n);
    t->noise2 = median < noise * noise ? median : noise * noise;
}

/* The motion since the last frame into the track, the coding noise's
 * variance and the drift the motion leaves unexplained (variance, luma
 * units); -1 when the two frames cannot be matched. What the match leaves
 * is the variance of the difference (its mean, a change of brightness, the
 * filter follows); beyond twice the noise it is drift. */
static float follow(track *t, float noise)
{
    float dx, dy;
    float left = um_kernel_shift_estimate(t->next_value[0], t->value[0], t->still, t->w[0], t->h[0], t->dx,
                                         t->dy, SEARCH_RADIUS, REACH, &dx, &dy);
    if (!isfinite(left))
        return -1;
    t->dx = dx;
    t->dy = dy;
    float floor = MIN_NOISE_SHARE * noise;
    learn_noise(t, left / 2 > floor * floor ? left / 2 : floor * floor, noise);
    float drift = left - 2.0f * t->noise2;
    if (drift > MAX_DRIFT * t->noise2 && left > MAX_UNEXPLAINED * 2.0f * still_variance(t))
        return -1;
    return drift > 0 ? drift : 0;
}

void um_stabiliser_run(um_stabiliser *s, const um_matte *m, um_frame *f, float a_max, float noise)
{
    if (m->nb_planes > f->nb_planes)
        return;
    track *t = track_for(s, m, f);
    for (int p = 0; p < m->nb_planes; p++)
        read_region(f, p, t->x[p], t->y[p], t->w[p], t->h[p], t->next_value[p]);
    int continues = t->frame >= 0 && t->frame == f->index - 1;
    float drift = continues ? follow(t, noise) : -1;
    if (drift < 0) {
        t->dx = t->dy = 0;
        continues = 0;
    }
    for (int p = 0; p < m->nb_planes; p++) {
        float dx = t->dx / (float)(1 << um_frame_plane_log2_w(f, p));
        float dy = t->dy / (float)(1 << um_frame_plane_log2_h(f, p));
        /* Luma decides whether the motion holds; chroma follows. */
        continues = um_kernel_temporal_filter(t->next_value[p], t->next_var[p], continues ? t->value[p] : NULL,
                                  t->var[p], t->w[p], t->h[p], dx, dy, m->alpha[p], m->pw[p],
                                  m->px[p] - t->x[p], m->py[p] - t->y[p], m->pw[p], m->ph[p], a_max,
                                  t->noise2 > 0 ? sqrtf(t->noise2) : noise, drift);
        write_region(f, p, t->x[p], t->y[p], t->w[p], t->h[p], t->next_value[p]);
        float *v = t->value[p], *var = t->var[p];
        t->value[p] = t->next_value[p];
        t->var[p] = t->next_var[p];
        t->next_value[p] = v;
        t->next_var[p] = var;
    }
    t->frame = f->index;
}
