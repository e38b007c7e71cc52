/*
 * Fitting a mark's matte from the video: its opacity a(x, y) and colour W
 * in the blend model J = a W + (1 - a) I, per plane, at frame resolution.
 *
 * Every sample is a crop of a frame in which the mark clearly stands at a
 * known place. Inside the mark's shape the picture I is unknown, but an
 * inpainting of the shape from around it, Î, guesses it; the guess is wrong
 * a little differently on every frame, so over many frames the errors
 * average out. Per pixel the model says
 *     J - Î = a (W - Î)                                   (1)
 * so for a given W the least-squares a is
 *     a(W) = sum (J - Î)(W - Î) / sum (W - Î)^2,
 * computable for any W from five running sums.
 *
 * W is shared by every pixel of a mark and every place it hops to. Fitted
 * together with a through (1), it comes out low (Î's errors are not
 * independent of I: an inpainting is smoother than the picture). Where the
 * mark hops away, the frames without it give I's own statistics at the
 * same pixels, and the blend scales I's spread around W:
 *     std J = (1 - a) std I,    mean J = a W + (1 - a) mean I,
 * which gives W per pixel with no inpainting at all; their median over the
 * mark is W. A mark that never leaves falls back to the joint fit, of every
 * plane where the colour planes tell a from W better (joint_colour). Chroma
 * takes the luma opacity averaged onto its grid (the encoder averaged the
 * blended picture the same way) and gets its own W from (1) with a fixed.
 *
 * Where the picture under the mark is known (the scene behind a mark that
 * never leaves, followed along the camera's motion; over a still camera,
 * the frames with the mark elsewhere), (1) takes the true I instead of Î.
 *
 * A mark with a drop shadow has no one W: a dark layer lies under its
 * white strokes and fringes them. Its pixels darken the picture, so the
 * region keeps pixels the first fit finds clearly darker as well as
 * brighter. A shadow that is the mark's own opacity blurred and moved (how
 * drop shadows are made) is fitted as a layer of its own (matte_shadow.c);
 * the region then grows over it and the fit runs again. Failing that,
 * where the samples show a pixel's own colour plainly (see shade_pixels)
 * it gets one.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "remove/remove_internal.h"
#include "unmark/kernels.h"

/* Pixels around the detected box kept in a crop: room for the mark's soft
 * edge and for the inpainting to see the picture around it. */
#define CROP_MARGIN 8
/* The chroma grid of every FFmpeg format divides this. */
#define CROP_ALIGN 4
/* The detected shape grown by this much is where a may be nonzero. */
#define SHAPE_GROWTH 2
/* The first fit's opacity above which a pixel is taken for the mark's. */
#define TIGHT_ALPHA 0.1f
/* Spots of one mark are aligned within this many pixels of where detection
 * put them, and pooled when their opacities correlate this well. */
#define ALIGN_RANGE 3
#define MIN_ALIGNMENT 0.8
#define INPAINT_RADIUS 5
#define MAX_SAMPLES 64
/* Frames with the spot clear kept, and the fewest that make a plate. */
#define MAX_CLEAR 8
#define MIN_CLEAR 3
/* Two frames of a still picture differ by their coding noise alone: a
 * mean squared difference (8-bit levels^2) below this, twice a noise of
 * 2.8 levels (a textured picture at the benchmark's quality). */
#define STILL_MATCH 16.0

typedef struct {
    int mark;
    um_box box;                 /* the detected box */
    um_box crop;
    uint8_t *region;            /* crop-sized luma mask: where a may be nonzero */
    uint16_t *samples[MATTE_MAX_PLANES][MAX_SAMPLES];
    int n;
    /* Frames with no mark over the spot (see um_matte_fit_add_clear). */
    uint16_t *clear[MATTE_MAX_PLANES][MAX_CLEAR];
    int nclear;
    /* A mark that never leaves: the scene behind it, from the camera's
     * motion, and each sample's place in it. */
    int track;
    um_background *background;
    int64_t last_frame;         /* the frame last registered, -1 none */
    um_background_pose last_pose;
    um_background_pose at[MAX_SAMPLES];
    uint8_t placed[MAX_SAMPLES];
    /* The mark's matte known beforehand (its alpha a copy), for a spot
     * with too few samples to fit its own; scale: its size here. */
    um_matte_template given;
    double given_scale;
} fit_spot;

struct um_matte_fit {
    int width, height;
    /* plane layout, from the first sample */
    int nb_planes, depth, log2_w, log2_h, is_rgb, full_range, known_layout;
    fit_spot *spots;
    int nb_spots;
};

/* Per-pixel sums of (1) over the samples; d = J - Î. exact marks the
 * pixels whose Î is the true picture (seen behind the mark), not a guess. */
typedef struct {
    double *n, *i, *ii, *d, *di, *dd;
    uint8_t *exact;
} fit_sums;

um_matte_fit *um_matte_fit_new(int width, int height)
{
    um_matte_fit *f = um_xcalloc(1, sizeof(*f));
    f->width = width;
    f->height = height;
    return f;
}

static int align_down(int v) { return v / CROP_ALIGN * CROP_ALIGN; }
static int align_up(int v) { return (v + CROP_ALIGN - 1) / CROP_ALIGN * CROP_ALIGN; }
static int clamp_int(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

static um_box crop_around(int width, int height, um_box b)
{
    um_box c = {align_down(b.x1 - CROP_MARGIN), align_down(b.y1 - CROP_MARGIN),
                align_up(b.x2 + CROP_MARGIN), align_up(b.y2 + CROP_MARGIN)};
    c.x1 = clamp_int(c.x1, 0, width);
    c.y1 = clamp_int(c.y1, 0, height);
    c.x2 = clamp_int(c.x2, 0, width);
    c.y2 = clamp_int(c.y2, 0, height);
    return c;
}

int um_matte_fit_add_spot(um_matte_fit *f, um_box box, int mark, const uint8_t *shape,
                          ptrdiff_t shape_stride)
{
    f->spots = um_xrealloc(f->spots, (size_t)(f->nb_spots + 1) * sizeof(*f->spots));
    fit_spot *s = &f->spots[f->nb_spots];
    memset(s, 0, sizeof(*s));
    s->last_frame = -1;
    s->mark = mark;
    s->box = box;
    s->crop = crop_around(f->width, f->height, box);
    int cw = s->crop.x2 - s->crop.x1, ch = s->crop.y2 - s->crop.y1;
    if (cw > 0 && ch > 0) {
        s->region = um_xcalloc((size_t)cw * ch, 1);
        for (int y = box.y1 > s->crop.y1 ? box.y1 : s->crop.y1; y < box.y2 && y < s->crop.y2; y++)
            for (int x = box.x1 > s->crop.x1 ? box.x1 : s->crop.x1; x < box.x2 && x < s->crop.x2; x++)
                s->region[(size_t)(y - s->crop.y1) * cw + (x - s->crop.x1)] =
                    !shape || shape[(ptrdiff_t)(y - box.y1) * shape_stride + (x - box.x1)] != 0;
        um_kernel_mask_dilate(s->region, cw, cw, ch, SHAPE_GROWTH, s->region, cw);
        um_kernel_mask_fill_holes(s->region, cw, cw, ch);
    }
    return f->nb_spots++;
}

void um_matte_fit_set_template(um_matte_fit *f, int spot, const um_matte_template *t, double scale)
{
    if (spot < 0 || spot >= f->nb_spots)
        return;
    fit_spot *s = &f->spots[spot];
    free((void *)s->given.alpha);
    s->given = *t;
    uint8_t *alpha = um_xmalloc((size_t)t->width * t->height);
    for (int y = 0; y < t->height; y++)
        memcpy(alpha + (size_t)y * t->width, t->alpha + (ptrdiff_t)y * t->stride, (size_t)t->width);
    s->given.alpha = alpha;
    s->given.stride = t->width;
    s->given_scale = scale > 0 ? scale : 1;
}

/* Plane p's subsampling against the luma grid. */
static void plane_shift(const um_matte_fit *f, int p, int *lw, int *lh)
{
    int chroma = (p == 1 || p == 2) && !f->is_rgb;
    *lw = chroma ? f->log2_w : 0;
    *lh = chroma ? f->log2_h : 0;
}

/* Plane p's view of a luma-grid rectangle. */
static void plane_rect(const um_matte_fit *f, int p, um_box b, int *x, int *y, int *w, int *h)
{
    int lw, lh;
    plane_shift(f, p, &lw, &lh);
    *x = b.x1 >> lw;
    *y = b.y1 >> lh;
    *w = ((b.x2 + (1 << lw) - 1) >> lw) - *x;
    *h = ((b.y2 + (1 << lh) - 1) >> lh) - *y;
}

static int colour_planes(const um_frame *frame)
{
    int n = frame->nb_planes - (frame->has_alpha ? 1 : 0);
    return n > MATTE_MAX_PLANES ? MATTE_MAX_PLANES : n;
}

static uint16_t *copy_crop(const um_matte_fit *f, int p, um_box crop, const um_frame *frame)
{
    int x, y, w, h, lw, lh;
    plane_rect(f, p, crop, &x, &y, &w, &h);
    plane_shift(f, p, &lw, &lh);
    x -= frame->x0 >> lw;
    y -= frame->y0 >> lh;
    uint16_t *out = um_xmalloc((size_t)w * h * sizeof(uint16_t));
    for (int r = 0; r < h; r++) {
        const uint8_t *row = frame->data[p] + (ptrdiff_t)(y + r) * frame->linesize[p];
        for (int c = 0; c < w; c++)
            out[(size_t)r * w + c] =
                frame->depth > 8 ? ((const uint16_t *)row)[x + c] : row[x + c];
    }
    return out;
}

/* The plane layout, from the first frame seen. */
static void learn_layout(um_matte_fit *f, const um_frame *frame)
{
    if (f->known_layout)
        return;
    f->nb_planes = colour_planes(frame);
    f->depth = frame->depth;
    f->log2_w = frame->log2_chroma_w;
    f->log2_h = frame->log2_chroma_h;
    f->is_rgb = frame->is_rgb;
    f->full_range = frame->full_range;
    f->known_layout = 1;
}

void um_matte_fit_track_background(um_matte_fit *f, int spot)
{
    if (spot >= 0 && spot < f->nb_spots)
        f->spots[spot].track = 1;
}

int um_matte_fit_tracks_background(const um_matte_fit *f, int spot)
{
    return spot >= 0 && spot < f->nb_spots && f->spots[spot].track && f->spots[spot].region;
}

um_box um_matte_fit_reach(um_box box, int width, int height, int following)
{
    return following ? um_background_reads(box, width, height) : crop_around(width, height, box);
}

um_box um_matte_fit_needs(const um_matte_fit *f, int spot, int following)
{
    return um_matte_fit_reach(f->spots[spot].box, f->width, f->height, following);
}

void um_matte_fit_add_frame(um_matte_fit *f, int spot, const um_frame *frame)
{
    if (!um_matte_fit_tracks_background(f, spot))
        return;
    learn_layout(f, frame);
    fit_spot *s = &f->spots[spot];
    if (!s->background)
        s->background = um_background_new(s->box, f->width, f->height, frame);
    s->last_frame = um_background_add(s->background, frame, &s->last_pose) ? frame->index : -1;
}

/* Spot `spot`, when frame covers its crop and it has a shape to fit (the
 * plane layout learnt from the frame); else NULL. */
static fit_spot *spot_cropped_by(um_matte_fit *f, int spot, const um_frame *frame)
{
    if (spot < 0 || spot >= f->nb_spots || !um_frame_covers(frame, f->spots[spot].crop))
        return NULL;
    learn_layout(f, frame);
    return f->spots[spot].region ? &f->spots[spot] : NULL;
}

void um_matte_fit_add_sample(um_matte_fit *f, int spot, const um_frame *frame)
{
    fit_spot *s = spot_cropped_by(f, spot, frame);
    if (!s || s->n == MAX_SAMPLES)
        return;
    for (int p = 0; p < f->nb_planes; p++)
        s->samples[p][s->n] = copy_crop(f, p, s->crop, frame);
    s->placed[s->n] = s->background && s->last_frame == frame->index;
    s->at[s->n] = s->last_pose;
    s->n++;
}

void um_matte_fit_add_clear(um_matte_fit *f, int spot, const um_frame *frame)
{
    fit_spot *s = spot_cropped_by(f, spot, frame);
    if (!s || s->nclear == MAX_CLEAR)
        return;
    for (int p = 0; p < f->nb_planes; p++)
        s->clear[p][s->nclear] = copy_crop(f, p, s->crop, frame);
    s->nclear++;
}

/* The region on plane p's grid: a sample is in when any luma pixel it
 * covers is. */
static uint8_t *plane_region(const um_matte_fit *f, const fit_spot *s, int p)
{
    int x, y, w, h;
    plane_rect(f, p, s->crop, &x, &y, &w, &h);
    int cw = s->crop.x2 - s->crop.x1, ch = s->crop.y2 - s->crop.y1;
    uint8_t *out = um_xmalloc((size_t)w * h);
    if (w == cw && h == ch) {
        memcpy(out, s->region, (size_t)w * h);
        return out;
    }
    um_kernel_mask_subsample(s->region, cw, cw, ch, f->log2_w, f->log2_h, out, w);
    return out;
}

/* Adds sample value j with picture guess g to the sums at pixel k. */
static void add_term(fit_sums *sums, size_t k, double j, double g)
{
    double d = j - g;
    sums->n[k] += 1;
    sums->i[k] += g;
    sums->ii[k] += g * g;
    sums->d[k] += d;
    sums->di[k] += d * g;
    sums->dd[k] += d * d;
}

/* Adds one sample's (1) to the sums: to `guessed` with its guess Î (the
 * inpainting), and, where the background knows the picture (known, may be
 * NULL), to `seen` with the true I. */
static void add_sample_sums(const uint8_t *region, const uint16_t *j, const uint16_t *guess, const uint16_t *known,
                            size_t n, fit_sums *guessed, fit_sums *seen)
{
    for (size_t k = 0; k < n; k++) {
        if (!region[k])
            continue;
        add_term(guessed, k, j[k], guess[k]);
        if (known && known[k] != UM_BACKGROUND_UNKNOWN)
            add_term(seen, k, j[k], known[k]);
    }
}

static void sums_alloc(fit_sums *s, size_t n)
{
    s->n = um_xcalloc(n, sizeof(double));
    s->i = um_xcalloc(n, sizeof(double));
    s->ii = um_xcalloc(n, sizeof(double));
    s->d = um_xcalloc(n, sizeof(double));
    s->di = um_xcalloc(n, sizeof(double));
    s->dd = um_xcalloc(n, sizeof(double));
    s->exact = um_xcalloc(n, 1);
}

static void sums_free(fit_sums *s)
{
    free(s->n);
    free(s->i);
    free(s->ii);
    free(s->d);
    free(s->di);
    free(s->dd);
    free(s->exact);
    memset(s, 0, sizeof(*s));
}

/* Where at least this many samples saw the true picture (the background
 * of a mark that never leaves), a pixel's sums use those samples only. */
#define MIN_SEEN 12

/* Takes pixel k's sums from `from`. */
static void take_sums(fit_sums *to, const fit_sums *from, size_t k)
{
    to->n[k] = from->n[k];
    to->i[k] = from->i[k];
    to->ii[k] = from->ii[k];
    to->d[k] = from->d[k];
    to->di[k] = from->di[k];
    to->dd[k] = from->dd[k];
    to->exact[k] = 1;
}

/* A value given in 8-bit levels, at the fit's depth. */
static double levels(const um_matte_fit *f, double value)
{
    return value * (1 << (f->depth - 8));
}

/* A variance given in 8-bit levels squared, at the fit's depth. */
static double squared_levels(const um_matte_fit *f, double variance)
{
    return levels(f, levels(f, variance));
}

/* The mean squared difference between a and b moved by (dx, dy), over the
 * samples of the w x h planes where mask is 0 and b moved stays inside. */
static double shifted_difference(const uint16_t *a, const uint16_t *b, const uint8_t *mask, int w, int h, int dx,
                                 int dy)
{
    double sum = 0;
    size_t count = 0;
    for (int y = 1; y + 1 < h; y++)
        for (int x = 1; x + 1 < w; x++) {
            size_t k = (size_t)y * w + x;
            if (mask[k])
                continue;
            double d = (double)a[k] - b[(size_t)(y + dy) * w + x + dx];
            sum += d * d;
            count++;
        }
    return count ? sum / count : INFINITY;
}

/* Whether a sample stands over the plate's picture: around the mark (mask
 * 0) it differs from the plate by coding noise at most, and by clearly
 * less than from the plate moved a pixel either way. Over a smooth picture
 * (a clear sky) a moving camera changes little, but no less than a pixel's
 * move does: it does not pass. */
static int over_plate(const um_matte_fit *f, const uint16_t *sample, const uint16_t *plate, const uint8_t *mask,
                      int w, int h)
{
    static const int moves[4][2] = {{1, 0}, {-1, 0}, {0, 1}, {0, -1}};
    double still = shifted_difference(sample, plate, mask, w, h, 0, 0);
    if (!(still <= squared_levels(f, STILL_MATCH)))
        return 0;
    for (int i = 0; i < 4; i++)
        if (!(2 * still < shifted_difference(sample, plate, mask, w, h, moves[i][0], moves[i][1])))
            return 0;
    return 1;
}

/*
 * The picture under spot s on plane p (w x h) when the camera stands still:
 * the per-pixel median of the frames with no mark over the spot. NULL when
 * there are too few of them, or when they do not all stand over it (the
 * camera moves, and no frame shows what lies under the mark in another).
 */
static uint16_t *still_plate(const um_matte_fit *f, const fit_spot *s, int p, const uint8_t *mask, int w, int h)
{
    size_t size = (size_t)w * h;
    if (s->nclear < MIN_CLEAR)
        return NULL;
    uint16_t *plate = um_xmalloc(size * sizeof(uint16_t));
    for (size_t k = 0; k < size; k++) {
        uint16_t v[MAX_CLEAR] = {0};
        for (int t = 0; t < s->nclear; t++) {
            uint16_t key = s->clear[p][t][k];
            int j = t - 1;
            while (j >= 0 && v[j] > key) {
                v[j + 1] = v[j];
                j--;
            }
            v[j + 1] = key;
        }
        plate[k] = v[(s->nclear - 1) / 2];
    }
    int still = 1;
    for (int t = 0; t < s->nclear && still; t++)
        still = over_plate(f, s->clear[p][t], plate, mask, w, h);
    if (!still) {
        free(plate);
        return NULL;
    }
    return plate;
}

/*
 * Samples whose guesses (an inpainting each, the dearest part of the fit)
 * are worked out side by side, a batch at a time, before they are added to
 * the sums in order, which keeps the sums' rounding. A mark that never
 * hops has one spot, and its luma was one item of the sums pass, on one
 * core: the solve took 0.19 s of wall time for 0.20 s of CPU time on h4
 * and g1 of the benchmark, and 0.14-0.18 and 0.15 s side by side (the same
 * bytes written).
 */
#define GUESS_BATCH 8

typedef struct {
    const um_matte_fit *f;
    const fit_spot *s;
    int p, w, h, first;
    const uint8_t *region;
    const uint16_t *plate;
    const um_inpaint_plan *plan;
    uint16_t *guess[GUESS_BATCH], *known[GUESS_BATCH];
    const uint16_t *truth[GUESS_BATCH];
} guess_batch;

/* Sample first + i's guess Î, and the true picture under it where the
 * background or the still plate knows it (else NULL). */
static void guess_sample(void *opaque, int i)
{
    guess_batch *b = opaque;
    const fit_spot *s = b->s;
    int t = b->first + i;
    const uint16_t *j = s->samples[b->p][t];
    memcpy(b->guess[i], j, (size_t)b->w * b->h * sizeof(uint16_t));
    um_kernel_inpaint_u16(b->plan, b->guess[i], (ptrdiff_t)b->w * (ptrdiff_t)sizeof(uint16_t),
                          (1 << b->f->depth) - 1);
    b->truth[i] = NULL;
    if (s->placed[t] && um_background_lookup(s->background, b->p, &s->at[t], s->crop, b->known[i]) > 0)
        b->truth[i] = b->known[i];
    else if (b->plate && over_plate(b->f, j, b->plate, b->region, b->w, b->h))
        b->truth[i] = b->plate;
}

/*
 * The sums of (1) over a spot's samples on plane p, the guesses side by
 * side on every core when side_by_side. Where the background saw the
 * picture under the mark often enough, only those samples count: an
 * inpainting's error e biases the fitted opacity up by about
 * (1 - a) sum e^2 / sum (W - Î)^2, which on textured ground (e the size of
 * the texture) is tenths, and drags the joint W down with it. Returns the
 * share of the region's pixels fitted from the true picture.
 */
static double spot_sums(const um_matte_fit *f, const fit_spot *s, int p, const uint8_t *region, int side_by_side,
                        fit_sums *sums)
{
    int x, y, w, h;
    plane_rect(f, p, s->crop, &x, &y, &w, &h);
    size_t size = (size_t)w * h;
    fit_sums seen = {0};
    uint16_t *plate = still_plate(f, s, p, region, w, h);
    sums_alloc(sums, size);
    if (s->background || plate)
        sums_alloc(&seen, size);
    um_inpaint_plan *plan = um_kernel_inpaint_plan(region, w, w, h, INPAINT_RADIUS);
    guess_batch b = {.f = f, .s = s, .p = p, .w = w, .h = h, .region = region, .plate = plate, .plan = plan};
    int batch = side_by_side ? GUESS_BATCH : 1;
    for (int i = 0; i < batch; i++) {
        b.guess[i] = um_xmalloc(size * sizeof(uint16_t));
        b.known[i] = s->background ? um_xmalloc(size * sizeof(uint16_t)) : NULL;
    }
    for (b.first = 0; b.first < s->n && plan; b.first += batch) {
        int n = s->n - b.first < batch ? s->n - b.first : batch;
        if (n > 1)
            um_parallel_for(n, guess_sample, &b);
        else
            guess_sample(&b, 0);
        for (int i = 0; i < n; i++)
            add_sample_sums(region, s->samples[p][b.first + i], b.guess[i], b.truth[i], size, sums, &seen);
    }
    size_t in_region = 0, fitted_seen = 0;
    for (size_t k = 0; k < size; k++) {
        in_region += region[k] != 0;
        if (region[k] && (s->background || plate) && seen.n[k] >= MIN_SEEN) {
            take_sums(sums, &seen, k);
            fitted_seen++;
        }
    }
    for (int i = 0; i < batch; i++) {
        free(b.guess[i]);
        free(b.known[i]);
    }
    sums_free(&seen);
    free(plate);
    um_kernel_inpaint_plan_free(plan);
    return in_region ? (double)fitted_seen / (double)in_region : 0;
}

/* sum (J - Î)(W - Î) and sum (W - Î)^2 at pixel k. */
static void alpha_terms(const fit_sums *s, size_t k, double colour, double *num, double *den)
{
    *num = colour * s->d[k] - s->di[k];
    *den = colour * colour * s->n[k] - 2 * colour * s->i[k] + s->ii[k];
}

/* How much the guess Î changes over pixel k's samples, sum (Î - mean Î)^2
 * (0 without samples): what tells a from W there. */
static double guess_change(const fit_sums *s, size_t k)
{
    return s->n[k] > 0 ? s->ii[k] - s->i[k] * s->i[k] / s->n[k] : 0;
}

/* How much of (1)'s variation W explains over the spots of one mark: the
 * sum over pixels of num^2 / den (the least-squares residual is the total
 * minus this). */
static double explained(const fit_sums *sums, const size_t *sizes, int count, double colour)
{
    double total = 0;
    for (int i = 0; i < count; i++)
        for (size_t k = 0; k < sizes[i]; k++) {
            double num, den;
            alpha_terms(&sums[i], k, colour, &num, &den);
            if (den > 0 && num > 0)
                total += num * num / den;
        }
    return total;
}

/* A fit's score for a colour W: how much of (1)'s variation it explains. */
typedef double (*colour_score)(const void *ctx, double colour);

/* The W in [lo, hi] that scores best, on a grid and then by
 * golden-section search between the grid's neighbours. */
static double best_in_range(colour_score score, const void *ctx, double lo, double hi)
{
    const int steps = 128;
    double step = (hi - lo) / steps, best = hi, best_score = -1;
    for (int i = 0; i <= steps; i++) {
        double c = lo + i * step, v = score(ctx, c);
        if (v > best_score) {
            best_score = v;
            best = c;
        }
    }
    double a0 = fmax(lo, best - step), b0 = fmin(hi, best + step);
    const double ratio = 0.6180339887;
    while (b0 - a0 > 0.05) {
        double a = b0 - ratio * (b0 - a0), b = a0 + ratio * (b0 - a0);
        if (score(ctx, a) > score(ctx, b))
            b0 = b;
        else
            a0 = a;
    }
    return (a0 + b0) / 2;
}

/* The W that scores best over the sample range. */
static double best_scoring_colour(colour_score score, const void *ctx, int max_value)
{
    return best_in_range(score, ctx, 0, max_value);
}

/* The spots of one mark, each with its own opacity. */
typedef struct {
    const fit_sums *sums;
    const size_t *sizes;
    int count;
} separate_fit;

static double separate_score(const void *ctx, double colour)
{
    const separate_fit *s = ctx;
    return explained(s->sums, s->sizes, s->count, colour);
}

/* The W that explains most with every spot's opacity its own. */
static double best_colour(const fit_sums *sums, const size_t *sizes, int count, int max_value)
{
    separate_fit s = {sums, sizes, count};
    return best_scoring_colour(separate_score, &s, max_value);
}

/* Below this temporal spread (in 8-bit levels) the picture is too still for
 * the spread to tell the opacity; and W per pixel is only trusted where the
 * opacity is at least this. */
#define MIN_SPREAD 6.0
#define MIN_SPREAD_ALPHA 0.3

static void mean_std(uint16_t *const *crops, int n, size_t k, double *mean, double *std)
{
    double sum = 0, sum2 = 0;
    for (int t = 0; t < n; t++) {
        sum += crops[t][k];
        sum2 += (double)crops[t][k] * crops[t][k];
    }
    *mean = sum / n;
    *std = sqrt(fmax(0, sum2 / n - *mean * *mean));
}

/* A per-pixel map over the crop, inpainted over the region: what the map
 * would be without the mark. Maps are kept in 1/16ths in 16 bits. */
static void inpaint_map(const um_inpaint_plan *plan, const double *map, size_t n, int w,
                        double *out)
{
    uint16_t *q = um_xmalloc(n * sizeof(uint16_t));
    for (size_t k = 0; k < n; k++)
        q[k] = (uint16_t)fmin(65535, fmax(0, map[k] * 16 + 0.5));
    um_kernel_inpaint_u16(plan, q, (ptrdiff_t)w * (ptrdiff_t)sizeof(uint16_t), 65535);
    for (size_t k = 0; k < n; k++)
        out[k] = q[k] / 16.0;
    free(q);
}

/* Appends spot s's per-pixel estimates of W to colours: the temporal mean
 * and spread of J, against those of I guessed by inpainting the mean and
 * spread maps (they are far smoother than any one frame). */
static size_t spread_colours(const um_matte_fit *f, const fit_spot *s, double *colours)
{
    int w = s->crop.x2 - s->crop.x1, h = s->crop.y2 - s->crop.y1;
    size_t size = (size_t)w * h, n = 0;
    double *mean = um_xmalloc(size * sizeof(double)), *std = um_xmalloc(size * sizeof(double));
    double *mean_i = um_xmalloc(size * sizeof(double)), *std_i = um_xmalloc(size * sizeof(double));
    for (size_t k = 0; k < size; k++)
        mean_std(s->samples[0], s->n, k, &mean[k], &std[k]);
    um_inpaint_plan *plan = um_kernel_inpaint_plan(s->region, w, w, h, INPAINT_RADIUS);
    inpaint_map(plan, mean, size, w, mean_i);
    inpaint_map(plan, std, size, w, std_i);
    um_kernel_inpaint_plan_free(plan);
    double min_spread = levels(f, MIN_SPREAD);
    for (size_t k = 0; k < size; k++) {
        if (!s->region[k] || std_i[k] <= min_spread)
            continue;
        double a = 1 - std[k] / std_i[k];
        if (a >= MIN_SPREAD_ALPHA && a < 1)
            colours[n++] = (mean[k] - (1 - a) * mean_i[k]) / a;
    }
    free(mean);
    free(std);
    free(mean_i);
    free(std_i);
    return n;
}

/* Spots whose spread gave at least this many estimates of W count in
 * telling whether the spots agree, and agree when their medians lie
 * within SPREAD_AGREEMENT 8-bit levels of each other. */
#define SPREAD_MIN_PIXELS 200
#define SPREAD_AGREEMENT 8.0

/*
 * W from the spread, per pixel, then the median over the mark's spots; -1
 * when the picture under the mark was too still everywhere. range: the
 * lowest and highest of the medians of the spots that gave many estimates
 * (range[0] > range[1]: none did). *agree: they lie close together; where
 * they do not, the spread's assumption failed at one of them (the picture
 * under the mark spread unlike the picture around it: a horizon crossing
 * it on a shaking camera took W 27 levels apart at two spots).
 */
static double spread_colour(const um_matte_fit *f, const int *ids, int count, double range[2], int *agree)
{
    size_t cap = 0, n = 0;
    for (int i = 0; i < count; i++)
        cap += (size_t)(f->spots[ids[i]].crop.x2 - f->spots[ids[i]].crop.x1) *
               (f->spots[ids[i]].crop.y2 - f->spots[ids[i]].crop.y1);
    double *colours = um_xmalloc((cap ? cap : 1) * sizeof(double));
    double *spot_median = um_xmalloc((cap ? cap : 1) * sizeof(double));
    double lowest = INFINITY, highest = -INFINITY;
    for (int i = 0; i < count; i++) {
        size_t m = spread_colours(f, &f->spots[ids[i]], colours + n);
        if (m >= SPREAD_MIN_PIXELS) {
            memcpy(spot_median, colours + n, m * sizeof(double));
            double median = um_median_in_place(spot_median, m);
            lowest = fmin(lowest, median);
            highest = fmax(highest, median);
        }
        n += m;
    }
    range[0] = lowest;
    range[1] = highest;
    *agree = lowest <= highest && highest - lowest <= levels(f, SPREAD_AGREEMENT);
    double colour = n ? um_median_in_place(colours, n) : -1;
    um_log(UM_LOG_DEBUG, "matte: W from the spread of %zu pixels: %.1f (the spots' %.1f to %.1f)", n, colour,
           lowest, highest);
    free(spot_median);
    free(colours);
    return colour;
}

static float *alpha_from_sums(const fit_sums *s, size_t n, double colour)
{
    float *alpha = um_xcalloc(n, sizeof(float));
    for (size_t k = 0; k < n; k++) {
        double num, den;
        alpha_terms(s, k, colour, &num, &den);
        if (s->n[k] > 0 && den > 0)
            alpha[k] = (float)fmin(1, fmax(0, num / den));
    }
    return alpha;
}

/*
 * Whether pixel k is darker than its guessed picture by more than the
 * samples' own spread (mean J - Î below minus its deviation): a dark layer
 * under the mark (a drop shadow) shows so on every sample. A guess that is
 * poor on average over a detailed picture (a pattern panning under a text
 * mark) leaves a mean offset too, but one its samples scatter around: taken
 * for the mark, those pixels cost that hold-out 7 dB.
 */
static int darker_than_guessed(const fit_sums *s, size_t k)
{
    double mean = s->d[k] / s->n[k], spread = sqrt(fmax(0, s->dd[k] / s->n[k] - mean * mean));
    return mean < -spread;
}

/* The positive part of each of count opacities (sizes[i] pixels each), new
 * arrays: what aligning them compares. */
static float **positive_parts(float *const *alphas, const size_t *sizes, int count)
{
    float **out = um_xcalloc((size_t)count, sizeof(float *));
    for (int i = 0; i < count; i++) {
        out[i] = um_xmalloc(sizes[i] * sizeof(float));
        for (size_t k = 0; k < sizes[i]; k++)
            out[i][k] = alphas[i][k] > 0 ? alphas[i][k] : 0;
    }
    return out;
}

/*
 * The first fit's opacity at W = colour, which decides where the mark is:
 * the moments' a = sum (J - Î) / sum (W - Î), not (1)'s least squares.
 * With e = I - Î the inpainting's error, J - Î = a (W - Î) + (1 - a) e, so
 * the least squares are off by (1 - a) sum e (W - Î) / sum (W - Î)^2: up,
 * wherever e follows the picture (an inpainting is smoother than what it
 * guesses). Over a detailed picture that lifted every pixel of the box
 * over TIGHT_ALPHA (a pattern panning under a text mark: 0.3 where the
 * true opacity is 0), so the region stayed the whole box and the guess
 * stayed poor. The moments are off by (1 - a) sum e / sum (W - Î): nothing
 * where the guess is right on average. Where it is not (a spot over a part
 * of the picture the inpainting cannot continue) the spots' median decides
 * (tighten_regions). The final opacity keeps the least squares: over the
 * tighter region their bias is small, and they weigh each sample by how
 * far W stands from the picture. Negative where the pixel is plainly darker
 * than its guess (darker_than_guessed): a shadow's, which the region keeps.
 *
 * Where the picture under the mark was seen (exact), there is no guess to
 * be biased by, and the least squares decide here too. The moments need W
 * on one side of the picture, sum (W - I) adding up what the least squares
 * add as squares: a yellow bug over a light yellow wall, then over grey,
 * has that sum near nothing whatever its opacity, and the moments gave 0
 * or less over a third of its plate, which the region then lost for good.
 */
static float *first_alpha(const fit_sums *s, size_t n, double colour)
{
    float *alpha = um_xcalloc(n, sizeof(float));
    for (size_t k = 0; k < n; k++) {
        if (s->n[k] <= 0)
            continue;
        double least = darker_than_guessed(s, k) ? -1 : 0, num, den;
        if (s->exact[k])
            alpha_terms(s, k, colour, &num, &den);
        else
            num = s->d[k], den = colour * s->n[k] - s->i[k];
        if (den > 0)
            alpha[k] = (float)fmin(1, fmax(least, num / den));
    }
    return alpha;
}

/* Luma opacity averaged onto plane p's grid (the crop is aligned to it). */
static float *plane_alpha(const um_matte_fit *f, const fit_spot *s, const float *luma, int p)
{
    int x, y, w, h, lw, lh;
    plane_rect(f, p, s->crop, &x, &y, &w, &h);
    plane_shift(f, p, &lw, &lh);
    int cw = s->crop.x2 - s->crop.x1, ch = s->crop.y2 - s->crop.y1;
    float *out = um_xcalloc((size_t)w * h, sizeof(float));
    for (int r = 0; r < h; r++)
        for (int c = 0; c < w; c++) {
            double sum = 0;
            int count = 0;
            for (int ly = r << lh; ly < (r + 1) << lh && ly < ch; ly++)
                for (int lx = c << lw; lx < (c + 1) << lw && lx < cw; lx++, count++)
                    sum += luma[(size_t)ly * cw + lx];
            out[(size_t)r * w + c] = count ? (float)(sum / count) : 0;
        }
    return out;
}

/* W of a chroma (or other colour) plane with a known: minimises the
 * residual of (1), sum a (d + a Î) / sum a^2 n over the mark's spots. */
static double colour_with_alpha(const fit_sums *sums, float *const *alphas, const size_t *sizes,
                                int count, double fallback)
{
    double num = 0, den = 0;
    for (int i = 0; i < count; i++)
        for (size_t k = 0; k < sizes[i]; k++) {
            double a = alphas[i][k];
            num += a * (sums[i].d[k] + a * sums[i].i[k]);
            den += a * a * sums[i].n[k];
        }
    return den > 0 ? num / den : fallback;
}

static um_matte *matte_new(const um_matte_fit *f, const fit_spot *s)
{
    um_matte *m = um_xcalloc(1, sizeof(*m));
    m->crop = s->crop;
    m->mark = s->box;
    m->nb_planes = f->nb_planes;
    m->depth = f->depth;
    m->is_rgb = f->is_rgb;
    m->full_range = f->full_range;
    for (int p = 0; p < f->nb_planes; p++)
        plane_rect(f, p, s->crop, &m->px[p], &m->py[p], &m->pw[p], &m->ph[p]);
    return m;
}

/* Keeps of a spot's region only what the first fit found opaque at all
 * (brighter or darker), grown back a little: the detected shape is
 * generous, and every pixel of the region that is not the mark's costs the
 * inpainting precision. */
static void tighten_region(fit_spot *s, const float *alpha)
{
    int w = s->crop.x2 - s->crop.x1, h = s->crop.y2 - s->crop.y1;
    size_t n = (size_t)w * h;
    uint8_t *opaque = um_xmalloc(n);
    for (size_t k = 0; k < n; k++)
        opaque[k] = fabsf(alpha[k]) > TIGHT_ALPHA;
    um_kernel_mask_dilate(opaque, w, w, h, SHAPE_GROWTH, opaque, w);
    for (size_t k = 0; k < n; k++)
        s->region[k] = s->region[k] && opaque[k];
    free(opaque);
}

/* The sums pass over a mark's spots on some planes: one item per spot and
 * plane, the spots with the most samples first. */
typedef struct {
    const um_matte_fit *f;
    const int *ids;
    int count, first_plane, planes;
    int *order;    /* positions in ids, most samples first */
    fit_sums *sums; /* [(p - first_plane) * count + position] */
    double *seen;   /* the same, the share fitted from the true picture */
    int samples_side_by_side; /* fewer items than cores: each spreads its samples */
} sums_pass;

static void sums_item(void *opaque, int item)
{
    sums_pass *pass = opaque;
    int i = pass->order[item / pass->planes], p = pass->first_plane + item % pass->planes;
    size_t at = (size_t)(p - pass->first_plane) * pass->count + i;
    const fit_spot *s = &pass->f->spots[pass->ids[i]];
    uint8_t *region = plane_region(pass->f, s, p);
    pass->seen[at] = spot_sums(pass->f, s, p, region, pass->samples_side_by_side, &pass->sums[at]);
    free(region);
}

/* Positions 0 .. count - 1 of ids, the spots with the most samples first
 * (an insertion sort: a mark has a handful of spots). */
static int *rank_by_samples(const um_matte_fit *f, const int *ids, int count)
{
    int *order = um_xmalloc((size_t)(count ? count : 1) * sizeof(int));
    for (int i = 0; i < count; i++) {
        int j = i;
        for (; j > 0 && f->spots[ids[order[j - 1]]].n < f->spots[ids[i]].n; j--)
            order[j] = order[j - 1];
        order[j] = i;
    }
    return order;
}

/*
 * The sums of (1) for every spot of a mark on planes first .. first +
 * planes - 1, into sums[(p - first) * count + i], the items spread over
 * the cores (the decoder and encoder are idle while the matte is fitted).
 * Returns the share of their pixels fitted from the true picture.
 */
static double mark_sums(const um_matte_fit *f, int first, int planes, const int *ids, int count,
                        fit_sums *sums)
{
    int items = count * planes;
    sums_pass pass = {f, ids, count, first, planes, rank_by_samples(f, ids, count), sums,
                      um_xcalloc((size_t)(items ? items : 1), sizeof(double)), items < um_parallel_threads()};
    if (pass.samples_side_by_side)
        for (int item = 0; item < items; item++)
            sums_item(&pass, item);
    else
        um_parallel_for(items, sums_item, &pass);
    double seen = 0;
    for (int k = 0; k < items; k++)
        seen += pass.seen[k];
    free(pass.order);
    free(pass.seen);
    return items ? seen / items : 0;
}

/* The number of samples of plane p in each spot's matte. */
static void plane_sizes(const int *ids, int count, um_matte **mattes, int p, size_t *sizes)
{
    for (int i = 0; i < count; i++)
        sizes[i] = (size_t)mattes[ids[i]]->pw[p] * mattes[ids[i]]->ph[p];
}

/* NCC of spot a's opacity with spot b's shifted by (dx, dy), over a's crop. */
static double alpha_match(const float *a, um_box ca, const float *b, um_box cb, int dx, int dy)
{
    int aw = ca.x2 - ca.x1, ah = ca.y2 - ca.y1, bw = cb.x2 - cb.x1, bh = cb.y2 - cb.y1;
    double ab = 0, aa = 0, bb = 0;
    for (int y = 0; y < ah; y++)
        for (int x = 0; x < aw; x++) {
            int bx = x + dx, by = y + dy;
            double va = a[(size_t)y * aw + x];
            double vb = bx >= 0 && by >= 0 && bx < bw && by < bh ? b[(size_t)by * bw + bx] : 0;
            ab += va * vb;
            aa += va * va;
            bb += vb * vb;
        }
    return aa > 0 && bb > 0 ? ab / sqrt(aa * bb) : 0;
}

/* Whether two detected boxes have one size, to the alignment's reach. */
static int same_box_size(um_box a, um_box b)
{
    return abs((a.x2 - a.x1) - (b.x2 - b.x1)) <= ALIGN_RANGE && abs((a.y2 - a.y1) - (b.y2 - b.y1)) <= ALIGN_RANGE;
}

/*
 * Where each spot's pixels lie in the first spot's crop: the same pixel of
 * the mark sits at crop position x in spot i and x - shift[i] in spot 0.
 * Detection places boxes to a pixel or two; the opacities themselves,
 * matched, place them exactly. A spot whose opacity does not match the
 * first's well gets no shift and pooled[i] = 0 when its box is of another
 * size (another mark, or scale). With a box of the first's size it is the
 * same mark, and its own first fit is what is poor (a place seen for 21
 * frames over a flat part of the picture): it pools at the boxes' shift,
 * borrowing the others' precision, instead of keeping an opacity near 0
 * that leaves the mark in place. Measured on hold-out h6 (lossless): that
 * place's frames untouched, 21.7 dB, before; 25.2 dB pooled, and the box
 * 24.3 -> 27.6 dB; h3 32.9 -> 35.5 dB; the public cases the same.
 */
static void align_spots(const um_matte_fit *f, const int *ids, int count, float *const *alphas,
                        int (*shift)[2], uint8_t *pooled)
{
    const fit_spot *r = &f->spots[ids[0]];
    for (int i = 0; i < count; i++) {
        const fit_spot *s = &f->spots[ids[i]];
        int bx = (s->box.x1 - s->crop.x1) - (r->box.x1 - r->crop.x1);
        int by = (s->box.y1 - s->crop.y1) - (r->box.y1 - r->crop.y1);
        double best = -1;
        for (int dy = -ALIGN_RANGE; dy <= ALIGN_RANGE; dy++)
            for (int dx = -ALIGN_RANGE; dx <= ALIGN_RANGE; dx++) {
                double score = alpha_match(alphas[0], r->crop, alphas[i], s->crop, bx + dx, by + dy);
                if (score > best) {
                    best = score;
                    shift[i][0] = bx + dx;
                    shift[i][1] = by + dy;
                }
            }
        pooled[i] = best >= MIN_ALIGNMENT;
        if (!pooled[i] && same_box_size(s->box, r->box)) {
            shift[i][0] = bx;
            shift[i][1] = by;
            pooled[i] = 1;
        }
    }
}

/* Where pixel (x, y) of spot i's crop lies in spot j's crop, with the
 * spots shifted as align_spots found: its index there, or -1 when it
 * falls outside. */
static ptrdiff_t aligned_pixel(const um_matte_fit *f, const int *ids, int (*shift)[2], int i, int j, int x, int y)
{
    const fit_spot *o = &f->spots[ids[j]];
    int ox = x + shift[j][0] - shift[i][0], oy = y + shift[j][1] - shift[i][1];
    int ow = o->crop.x2 - o->crop.x1, oh = o->crop.y2 - o->crop.y1;
    return ox >= 0 && oy >= 0 && ox < ow && oy < oh ? (ptrdiff_t)oy * ow + ox : -1;
}

/* The median of spot i's first opacity at (x, y) and of the aligned
 * spots' at the same pixel of the mark (see align_spots); v: room for
 * count values. */
static float median_over_spots(const um_matte_fit *f, const int *ids, int count, float *const *alphas,
                               int (*shift)[2], const uint8_t *pooled, int i, int x, int y, double *v)
{
    size_t n = 0;
    for (int j = 0; j < count; j++) {
        if (j != i && !(pooled[i] && pooled[j]))
            continue;
        ptrdiff_t k = aligned_pixel(f, ids, shift, i, j, x, y);
        if (k >= 0)
            v[n++] = alphas[j][k];
    }
    return n ? (float)um_median_in_place(v, n) : 0;
}

/*
 * Tightens every spot's region to where the first fit (first_alpha at W =
 * colour) found the mark, taking at each pixel the median over the mark's
 * aligned spots: the mark has one shape, and one spot whose inpainting is
 * wrong on average (the bottom-left spot of a zoom over a portrait: 5 dB
 * lost there) is outvoted by the others.
 */
static void tighten_regions(um_matte_fit *f, const int *ids, int count, const fit_sums *sums, const size_t *sizes,
                            double colour)
{
    float **first = um_xcalloc((size_t)count, sizeof(float *));
    int(*shift)[2] = um_xcalloc((size_t)count, sizeof(*shift));
    uint8_t *pooled = um_xcalloc((size_t)count, 1);
    double *values = um_xmalloc((size_t)count * sizeof(double));
    for (int i = 0; i < count; i++)
        first[i] = first_alpha(&sums[i], sizes[i], colour);
    /* Aligned by the strokes alone: matching the shadows' negative
     * opacities too moved p1's spots (-1.6 dB in the box, lossless). */
    float **strokes = positive_parts(first, sizes, count);
    align_spots(f, ids, count, strokes, shift, pooled);
    for (int i = 0; i < count; i++)
        free(strokes[i]);
    free(strokes);
    for (int i = 0; i < count; i++) {
        const fit_spot *s = &f->spots[ids[i]];
        int w = s->crop.x2 - s->crop.x1, h = s->crop.y2 - s->crop.y1;
        float *median = um_xmalloc(sizes[i] * sizeof(float));
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                median[(size_t)y * w + x] = median_over_spots(f, ids, count, first, shift, pooled, i, x, y, values);
        tighten_region(&f->spots[ids[i]], median);
        free(median);
    }
    for (int i = 0; i < count; i++)
        free(first[i]);
    free(first);
    free(shift);
    free(pooled);
    free(values);
}

/* A pixel's own residual variance gets this much added (8-bit levels
 * squared, about the noise of a quantised and encoded sample), so that a
 * pixel that happens to fit perfectly does not outweigh every other. */
#define RESIDUAL_FLOOR 4.0

/* A mark's spots, aligned, with their sums of (1) on luma and a weight for
 * each pixel of each: what pooling them reads. */
typedef struct {
    const um_matte_fit *f;
    const int *ids;
    int count;
    const fit_sums *sums;
    int (*shift)[2];        /* see align_spots */
    const uint8_t *pooled;
    float **weight;         /* per spot, per pixel of its crop */
} mark_pool;

/*
 * Weighs every pixel of every spot by 1 / how far its samples stray from
 * (1) with its own best opacity at W = colour. The guess of the picture
 * under the mark is what strays: far off where the mark stands over a
 * moving edge (a horizon swept across it by a shaking camera), close over
 * smooth ground. Weighing by spot alone let one spot's pixels over the
 * edge decide W for the whole mark (a synthetic horizon took it 12 levels
 * low) and let its poor pixels into the pooled opacity.
 */
static void weigh_pixels(mark_pool *mp, const size_t *sizes, double colour)
{
    double noise_floor = squared_levels(mp->f, RESIDUAL_FLOOR);
    for (int j = 0; j < mp->count; j++) {
        const fit_sums *s = &mp->sums[j];
        float *weight = mp->weight[j];
        for (size_t k = 0; k < sizes[j]; k++) {
            double num, den;
            alpha_terms(s, k, colour, &num, &den);
            weight[k] = s->n[k] > 0 && den > 0
                            ? (float)(1 / (fmax(0, s->dd[k] - num * num / den) / s->n[k] + noise_floor))
                            : 0;
        }
    }
}

/* Whether pooled spot j's region holds pixel (x, y) of spot i, the spots
 * aligned: 1 (its index there in *k), 0 where j's crop holds the pixel but
 * its region leaves it out, -1 where j is not pooled or its crop ends. */
static int held_by_region(const mark_pool *mp, int i, int j, int x, int y, ptrdiff_t *k)
{
    *k = mp->pooled[j] ? aligned_pixel(mp->f, mp->ids, mp->shift, i, j, x, y) : -1;
    if (*k < 0)
        return -1;
    return mp->f->spots[mp->ids[j]].region[*k] ? 1 : 0;
}

/* The sums of (1) at W = colour for pixel (x, y) of spot i, pooled over
 * the aligned spots of its mark, each weighted. Counts the spots whose
 * region holds the pixel (*in) and those whose crop does but region does
 * not (*out). */
static void pooled_terms(const mark_pool *mp, int i, int x, int y, double colour, double *num, double *den,
                         int *in, int *out)
{
    *num = *den = 0;
    *in = *out = 0;
    for (int j = 0; j < mp->count; j++) {
        ptrdiff_t ok;
        int held = held_by_region(mp, i, j, x, y, &ok);
        if (held <= 0) {
            *out += held == 0;
            continue;
        }
        double n, d;
        alpha_terms(&mp->sums[j], ok, colour, &n, &d);
        *num += mp->weight[j][ok] * n;
        *den += mp->weight[j][ok] * d;
        (*in)++;
    }
}

/* Each spot's opacity from the sums of every aligned spot of its mark,
 * each pixel weighted by how well it fits: a spot seen over a few or flat
 * frames borrows the precision of the others, and a pixel whose guessed
 * picture was poor at one spot is taken from the others. A pixel most
 * spots leave out of their region is not the mark's. */
static void pool_alpha(const mark_pool *mp, double colour, um_matte **mattes)
{
    for (int i = 0; i < mp->count; i++) {
        const fit_spot *s = &mp->f->spots[mp->ids[i]];
        int w = s->crop.x2 - s->crop.x1, h = s->crop.y2 - s->crop.y1;
        float *alpha = mattes[mp->ids[i]]->alpha[0];
        for (int y = 0; y < h && mp->pooled[i]; y++)
            for (int x = 0; x < w; x++) {
                size_t k = (size_t)y * w + x;
                if (!s->region[k])
                    continue;
                double num, den;
                int in, out;
                pooled_terms(mp, i, x, y, colour, &num, &den, &in, &out);
                alpha[k] = den > 0 && in >= out ? (float)fmin(1, fmax(0, num / den)) : 0;
            }
    }
}

/* A pixel's sums of (1), pooled over the aligned spots (see pooled_sums). */
typedef struct {
    um_matte_sums sum;          /* weighted as pooled_terms weighs */
    double within;              /* the weighted spread of Î within each spot, summed */
    double samples;             /* samples, unweighted */
} pixel_sums;

/* Adds spot sums s at pixel k, times weight, to t. */
static void add_pixel_sums(um_matte_sums *t, const fit_sums *s, ptrdiff_t k, double weight)
{
    t->n += weight * s->n[k];
    t->i += weight * s->i[k];
    t->ii += weight * s->ii[k];
    t->d += weight * s->d[k];
    t->di += weight * s->di[k];
    t->dd += weight * s->dd[k];
}

/* The sums of (1) for pixel (x, y) of spot i, over the aligned spots whose
 * region holds it, each weighted. Returns 0 where most spots leave the
 * pixel out of their region (not the mark's: pool_alpha left it 0). */
static int pooled_sums(const mark_pool *mp, int i, int x, int y, pixel_sums *t)
{
    int in = 0, left_out = 0;
    memset(t, 0, sizeof(*t));
    for (int j = 0; j < mp->count; j++) {
        ptrdiff_t k;
        int held = held_by_region(mp, i, j, x, y, &k);
        if (held <= 0) {
            left_out += held == 0;
            continue;
        }
        const fit_sums *s = &mp->sums[j];
        double w = mp->weight[j][k];
        add_pixel_sums(&t->sum, s, k, w);
        t->within += w * guess_change(s, k);
        t->samples += s->n[k];
        in++;
    }
    return in > 0 && in >= left_out;
}

/* A pixel's own colour must explain this many times more of its samples
 * than a residual's share (an F statistic, about 1 where one W is right,
 * but the samples are not independent: consecutive frames share their
 * picture and much of their coding noise), and is shrunk towards W by
 * SHADE_F / F. At 9, half of p1's and p3's mark took colours of its own
 * (-0.05 dB in the box, lossless), and h4 lost 0.24 dB. */
#define SHADE_F 30.0
/* The guess's errors may lift the pixel's own opacity by at most this
 * share of how far it moves from the opacity with the mark's W (see
 * shade_pixel): over a pattern panning under a text mark errors of 0.44
 * to 0.55, as large as the move, took its box from 32.9 to 19.8 dB. */
#define MAX_SHADE_BIAS (1.0 / 3)
/* The least share of the picture's variation under a pixel that happens
 * at the spots themselves, over time, rather than from one spot to the
 * next. */
#define MIN_MOVING_SHARE 0.005

/*
 * A pixel's own opacity a and colour, J - Î = a W(x) - a Î, fitted freely
 * instead of with the mark's W, when its samples plainly ask for it: a
 * drop shadow's pixels are dark, not W (with one W, hold-out h2's shadow
 * stayed, 9 to 25 levels too dark). Writes them and returns 1, else returns 0 and the
 * pooled opacity stays.
 *
 * Two unknowns per pixel are told apart only by the picture under it
 * changing, and fitted on the guessed picture Î they are biased: with
 * e = I - Î independent of I, the opacity comes out high by about
 * var(e) / ((1 - a) var(Î)), which the free fit's residual measures. Where
 * that is not small against the change the free fit makes (num / den is
 * the opacity with the mark's W), the pixel keeps the mark's W. So it does
 * over a still camera, whose spots each see one picture: a few spots'
 * pictures cannot tell a pixel's colour from the fit's own misfit
 * (measured: the edges of a still clip's mark took colours of 30 to 370
 * and lost 0.8 dB).
 */
static int shade_pixel(const pixel_sums *p, double colour, int max_value, float *alpha, float *colour_out)
{
    const um_matte_sums *t = &p->sum;
    double det = t->n * t->ii - t->i * t->i;
    double u = colour * t->n - t->i, den = colour * colour * t->n - 2 * colour * t->i + t->ii;
    double num = colour * t->d - t->di;
    if (p->samples < 3 || !(det > 0) || !(den > 0))
        return 0;
    /* The least squares of (d, Î) with an intercept: a = a_free, a W(x) = a W + shift. */
    double a_free = (num * t->n - u * t->d) / det, shift_free = (den * t->d - u * num) / det;
    double left_one = t->dd - num * num / den, left_free = fmax(0, t->dd - (a_free * num + shift_free * t->d));
    double f = (left_one - left_free) * (p->samples - 2) / fmax(left_free, 1e-12 * (t->dd + 1));
    double spread = det / (t->n * t->n);
    double bias = left_free / t->n / (fmax(0.05, 1 - a_free) * spread);
    int plain = f > SHADE_F, unbiased = bias < MAX_SHADE_BIAS * fabs(a_free - num / den);
    if (!plain || !unbiased || !(p->within / t->n >= MIN_MOVING_SHARE * spread))
        return 0;
    double shift = (1 - SHADE_F / f) * shift_free, a = fmin(1, fmax(0, (num - shift * u) / den));
    if (a < UM_KERNEL_MIN_ALPHA)
        return 0;
    *alpha = (float)a;
    *colour_out = (float)fmin(max_value, fmax(0, colour + shift / a));
    return 1;
}

/* Gives the pixels of each pooled spot that ask for it their own colour
 * (shade_pixel), in the matte's colour map, made only when one does. */
static void shade_pixels(const mark_pool *mp, double colour, int max_value, um_matte **mattes)
{
    for (int i = 0; i < mp->count; i++) {
        if (!mp->pooled[i])
            continue;
        const fit_spot *s = &mp->f->spots[mp->ids[i]];
        int w = s->crop.x2 - s->crop.x1, h = s->crop.y2 - s->crop.y1, shaded = 0;
        um_matte *m = mattes[mp->ids[i]];
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                size_t k = (size_t)y * w + x;
                pixel_sums t;
                float a, c;
                if (!s->region[k] || !pooled_sums(mp, i, x, y, &t) || !shade_pixel(&t, colour, max_value, &a, &c))
                    continue;
                if (!m->colour_map[0]) {
                    m->colour_map[0] = um_xmalloc((size_t)w * h * sizeof(float));
                    for (size_t q = 0; q < (size_t)w * h; q++)
                        m->colour_map[0][q] = (float)fmin(max_value, fmax(0, colour));
                }
                m->alpha[0][k] = a;
                m->colour_map[0][k] = c;
                shaded++;
            }
        um_log(UM_LOG_DEBUG, "matte: spot %d: %d pixels of their own colour", mp->ids[i], shaded);
    }
}

/* A mark's drop shadow, once fitted (matte_shadow.c): its layout, and
 * each spot's two layers (the mark's opacity and the shadow's, on its luma
 * crop, in the order of the mark's spots), for the colour planes. */
typedef struct {
    int found;
    um_shadow model;
    float **mark, **layer;
} mark_shadow;

static void mark_shadow_free(mark_shadow *sh, int count)
{
    for (int i = 0; i < count && sh->found; i++) {
        free(sh->mark[i]);
        free(sh->layer[i]);
    }
    free(sh->mark);
    free(sh->layer);
    memset(sh, 0, sizeof(*sh));
}

/* Spot i's sums of (1) per pixel of its crop, over the aligned spots whose
 * region holds the pixel (its own alone when it did not pool); weighted as
 * weigh_pixels weighs, or not. Not while a shadow is looked for on the
 * strokes' region: weigh_pixels weighs by how well one W fits, and a
 * shadow's pixels are those it fits worst. Once the region covers the
 * shadow, the weights (taken again) leave out the spots whose guessed
 * picture is poor, as pool_alpha does: hold-out h6's box went from 34.5
 * to 39.8 dB (the benchmark's score). */
static um_matte_sums *shadow_sums(const mark_pool *mp, int i, int weighted)
{
    const fit_spot *s = &mp->f->spots[mp->ids[i]];
    int w = s->crop.x2 - s->crop.x1, h = s->crop.y2 - s->crop.y1;
    um_matte_sums *out = um_xcalloc((size_t)w * h, sizeof(*out));
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            um_matte_sums *t = &out[(size_t)y * w + x];
            for (int j = 0; j < mp->count; j++) {
                ptrdiff_t k = (size_t)y * w + x;
                if (mp->pooled[i] ? held_by_region(mp, i, j, x, y, &k) <= 0 : j != i || !s->region[k])
                    continue;
                add_pixel_sums(t, &mp->sums[j], k, weighted ? mp->weight[j][k] : 1);
            }
        }
    return out;
}

/* Fits a drop shadow under the mark from its first spot, whose sums pool
 * every aligned spot's: 1 when one explains the samples clearly better
 * than the one W (see um_shadow_fit). */
static int fit_shadow(const mark_pool *mp, double colour, int max_value, um_matte **mattes, uint8_t *const *strokes,
                      int weighted, um_shadow *model)
{
    const fit_spot *r = &mp->f->spots[mp->ids[0]];
    um_shadow_spot first = {r->crop.x2 - r->crop.x1, r->crop.y2 - r->crop.y1, shadow_sums(mp, 0, weighted),
                            strokes ? strokes[0] : NULL};
    int found = um_shadow_fit(&first, mattes[mp->ids[0]]->alpha[0], colour, max_value, model);
    free((void *)first.sums);
    return found;
}

/* The shadow's opacity above which a pixel joins the region. */
#define SHADOW_REACH 0.02f

/*
 * Grows each spot's region over the shadow the model lays under its
 * opacity (one W's): the strokes' region ends a pixel or two past them,
 * and the shadow, moved and blurred, reaches further. Pixels it darkens
 * outside the region are read as the picture's and darken the guess Î
 * inside: on hold-out h6 that took the shadow's strength to half its
 * truth. Returns whether any region grew.
 */
static int cover_shadow(um_matte_fit *f, const int *ids, int count, const um_shadow *model, um_matte **mattes)
{
    int grew = 0;
    for (int i = 0; i < count; i++) {
        fit_spot *s = &f->spots[ids[i]];
        int w = s->crop.x2 - s->crop.x1, h = s->crop.y2 - s->crop.y1;
        size_t n = (size_t)w * h;
        float *layer = um_xmalloc(n * sizeof(float));
        uint8_t *reach = um_xmalloc(n);
        um_shadow_layer(model, mattes[ids[i]]->alpha[0], w, h, layer);
        for (size_t k = 0; k < n; k++)
            reach[k] = layer[k] > SHADOW_REACH;
        um_kernel_mask_dilate(reach, w, w, h, SHAPE_GROWTH, reach, w);
        for (size_t k = 0; k < n; k++) {
            grew |= reach[k] && !s->region[k];
            s->region[k] |= reach[k];
        }
        free(layer);
        free(reach);
    }
    return grew;
}

/* Lays the fitted shadow under every spot of the mark: each gets the
 * mark's opacity refitted with the shadow, and the blend's opacity and
 * colour per pixel; sh keeps the layers for the colour planes. */
static void lay_shadow(const mark_pool *mp, const um_shadow *model, int max_value, um_matte **mattes,
                       uint8_t *const *strokes, mark_shadow *sh)
{
    sh->found = 1;
    sh->model = *model;
    sh->mark = um_xcalloc((size_t)mp->count, sizeof(float *));
    sh->layer = um_xcalloc((size_t)mp->count, sizeof(float *));
    for (int i = 0; i < mp->count; i++) {
        const fit_spot *s = &mp->f->spots[mp->ids[i]];
        um_matte *m = mattes[mp->ids[i]];
        um_shadow_spot spot = {s->crop.x2 - s->crop.x1, s->crop.y2 - s->crop.y1, shadow_sums(mp, i, 1), strokes[i]};
        size_t n = (size_t)spot.w * spot.h;
        sh->mark[i] = um_xmalloc(n * sizeof(float));
        sh->layer[i] = um_xmalloc(n * sizeof(float));
        memcpy(sh->mark[i], m->alpha[0], n * sizeof(float));
        um_shadow_place(model, &spot, sh->mark[i], sh->layer[i]);
        free(m->colour_map[0]);
        m->colour_map[0] = um_xmalloc(n * sizeof(float));
        um_shadow_compose(model, sh->mark[i], sh->layer[i], n, m->alpha[0], m->colour_map[0]);
        for (size_t k = 0; k < n; k++)
            m->colour_map[0][k] = (float)fmin(max_value, fmax(0, m->colour_map[0][k]));
        free((void *)spot.sums);
    }
}

/* How much of (1)'s variation W explains with one opacity per pixel of
 * the mark, shared by its spots: over the first spot's pixels that two
 * spots or more hold. */
static double hop_score(const void *ctx, double colour)
{
    const mark_pool *mp = ctx;
    const fit_spot *r = &mp->f->spots[mp->ids[0]];
    int w = r->crop.x2 - r->crop.x1, h = r->crop.y2 - r->crop.y1;
    double total = 0;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            double num, den;
            int in, out;
            pooled_terms(mp, 0, x, y, colour, &num, &den, &in, &out);
            if (in >= 2 && den > 0 && num > 0)
                total += num * num / den;
        }
    return total;
}

/* Spots of a mark that pool: the first, and those aligned with it. */
static int pooled_spots(const mark_pool *mp)
{
    int n = 0;
    for (int i = 0; i < mp->count; i++)
        n += mp->pooled[i];
    return n;
}

/* A mark whose background was seen behind this share of its pixels has W
 * fitted jointly with a from the true picture: exact where the spread's
 * assumption (the picture's spread is the same under the mark as around
 * it) is only close. */
#define MIN_SEEN_SHARE 0.5

/*
 * A mark whose W neither the picture seen under it nor the spread gives
 * (one that never leaves, over a picture too plain to follow the camera
 * on): W of every plane fitted together, with one opacity per pixel shared
 * by the planes.
 * Luma alone ties a and W together through the picture's brightness
 * changing under the mark; a picture that changes colour more than
 * brightness (a smooth scene panning from blue to orange) pins them down in
 * the colour planes, and the shared opacity carries that to luma. Over a
 * grey picture, or for a white mark, the colour planes explain nothing
 * either way and luma decides as before.
 *
 * A colour plane's sample covers a block of luma pixels: the block's luma
 * opacities a_k and the plane's a, their mean, minimise
 *     sum_k (A_k a_k^2 - 2 B_k a_k) + A_c abar^2 - 2 B_c abar
 * with A = sum (W - Î)^2 and B = sum (J - Î)(W - Î) of each pixel (the
 * colour planes' added up), a diagonal plus rank-one system whose explained
 * part, b' M^-1 b, has a closed form (Sherman-Morrison).
 */
typedef struct {
    const um_matte_fit *f;
    const int *ids;
    int count;
    const fit_sums *luma;   /* [i] */
    const fit_sums *colour; /* [(p - 1) * count + i] */
    double w[MATTE_MAX_PLANES];
    int plane;              /* the plane whose W the score varies */
} joint_fit;

/* How much of (1)'s variation, on every plane, one colour block explains
 * at the joint fit's W: luma pixels (x0, y0) .. (x1, y1) of spot i, its
 * colour planes' sample k. 0 where the block's mean opacity is not
 * positive. */
static double block_explained(const joint_fit *j, int i, int w, int x0, int y0, int x1, int y1, size_t k)
{
    double ac = 0, bc = 0, s = 0, t = 0, bb = 0;
    int m = 0;
    for (int p = 1; p < j->f->nb_planes; p++) {
        double num, den;
        alpha_terms(&j->colour[(size_t)(p - 1) * j->count + i], k, j->w[p], &num, &den);
        ac += den;
        bc += num;
    }
    for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++)
            m += j->luma[i].n[(size_t)y * w + x] > 0;
    if (!m)
        return 0;
    double c = ac / ((double)m * m);
    for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++) {
            double num, den;
            size_t at = (size_t)y * w + x;
            if (!(j->luma[i].n[at] > 0))
                continue;
            alpha_terms(&j->luma[i], at, j->w[0], &num, &den);
            if (!(den > 0))
                return 0;
            double b = num + bc / m;
            s += b / den;
            t += 1 / den;
            bb += b * b / den;
        }
    return s > 0 ? bb - c * s * s / (1 + c * t) : 0;
}

static double joint_score(const void *ctx, double colour)
{
    joint_fit j = *(const joint_fit *)ctx;
    j.w[j.plane] = colour;
    int lw, lh;
    plane_shift(j.f, 1, &lw, &lh);
    double total = 0;
    for (int i = 0; i < j.count; i++) {
        um_box crop = j.f->spots[j.ids[i]].crop;
        int w = crop.x2 - crop.x1, h = crop.y2 - crop.y1, cx, cy, cw, ch;
        plane_rect(j.f, 1, crop, &cx, &cy, &cw, &ch);
        for (int y = 0; y < ch; y++)
            for (int x = 0; x < cw; x++) {
                int x0 = x << lw, y0 = y << lh;
                int x1 = (x + 1) << lw < w ? (x + 1) << lw : w, y1 = (y + 1) << lh < h ? (y + 1) << lh : h;
                total += block_explained(&j, i, w, x0, y0, x1, y1, (size_t)y * cw + x);
            }
    }
    return total;
}

/* What a plane's own fit at W leaves of its samples (coding noise, and
 * the guess Î's errors), against how much the picture under the mark
 * changes from sample to sample (what tells a from W): the lower, the more
 * the plane's W can be trusted. */
static double unexplained_share(const fit_sums *sums, const size_t *sizes, int count, double colour)
{
    double left = 0, change = 0;
    for (int i = 0; i < count; i++)
        for (size_t k = 0; k < sizes[i]; k++) {
            const fit_sums *s = &sums[i];
            double num, den;
            if (!(s->n[k] > 0))
                continue;
            alpha_terms(s, k, colour, &num, &den);
            left += s->dd[k] - (den > 0 ? num * num / den : 0);
            change += guess_change(s, k);
        }
    return change > 0 ? left / change : INFINITY;
}

/* The colour planes join luma's fit when one of them leaves this many
 * times less unexplained: a smooth scene whose colour changes under the
 * mark (the benchmark's generator: a bug at 0.8 in a corner of a portrait
 * pan over a painting) 0.005 against luma's 0.25; a picture
 * whose colour detail is finer than its brightness's makes them worse
 * (test_fit_takes_w_from_colour_planes: 0.10 against 0.08). */
#define COLOUR_PLANES_TRUST 4.0

/* Rounds of the joint fit: each plane's W in turn, the others held. */
#define JOINT_ROUNDS 3
/* How far (8-bit levels) a round may move a plane's W: the fit starts at
 * each plane's own, and far from it the colour planes of a picture that
 * hardly changes colour explain about as much at any W. */
#define JOINT_REACH 24.0

/* W of luma from the joint fit, starting at luma's own W (colour) and
 * each colour plane's own; colour when the colour planes do not join. The
 * colour planes' W are fitted again after luma, from its opacity. */
static double joint_colour(const um_matte_fit *f, const int *ids, int count, um_matte **mattes,
                           const fit_sums *luma, double colour)
{
    int planes = f->nb_planes - 1, max_value = (1 << f->depth) - 1;
    if (planes < 1)
        return colour;
    fit_sums *sums = um_xcalloc((size_t)count * planes, sizeof(*sums));
    size_t *sizes = um_xcalloc((size_t)count, sizeof(size_t));
    mark_sums(f, 1, planes, ids, count, sums);
    joint_fit j = {f, ids, count, luma, sums, {colour}, 0};
    plane_sizes(ids, count, mattes, 0, sizes);
    double luma_share = unexplained_share(luma, sizes, count, colour), colour_share = INFINITY;
    for (int p = 1; p <= planes; p++) {
        const fit_sums *own = &sums[(size_t)(p - 1) * count];
        plane_sizes(ids, count, mattes, p, sizes);
        j.w[p] = best_colour(own, sizes, count, max_value);
        colour_share = fmin(colour_share, unexplained_share(own, sizes, count, j.w[p]));
    }
    if (COLOUR_PLANES_TRUST * colour_share < luma_share) {
        double reach = levels(f, JOINT_REACH);
        for (int round = 0; round < JOINT_ROUNDS; round++)
            for (j.plane = 0; j.plane <= planes; j.plane++) {
                double lo = fmax(0, j.w[j.plane] - reach), hi = fmin(max_value, j.w[j.plane] + reach);
                j.w[j.plane] = best_in_range(joint_score, &j, lo, hi);
            }
    }
    um_log(UM_LOG_DEBUG, "matte: W %.1f with the colour planes (luma alone %.1f, unexplained %.3f, theirs %.3f)",
           j.w[0], colour, luma_share, colour_share);
    for (int i = 0; i < count * planes; i++)
        sums_free(&sums[i]);
    free(sums);
    free(sizes);
    return j.w[0];
}

/* Luma: where the mark is (a first, joint fit), then W (from the seen
 * background or the spread) and a from (1) over that tighter region, pooled
 * over the mark's spots. */
static void solve_luma(um_matte_fit *f, const int *ids, int count, um_matte **mattes, mark_shadow *shadow)
{
    fit_sums *sums = um_xcalloc((size_t)count, sizeof(*sums));
    size_t *sizes = um_xcalloc((size_t)count, sizeof(size_t));
    int max_value = (1 << f->depth) - 1;
    plane_sizes(ids, count, mattes, 0, sizes);
    mark_sums(f, 0, 1, ids, count, sums);
    double joint = best_colour(sums, sizes, count, max_value);
    tighten_regions(f, ids, count, sums, sizes, joint);
    for (int i = 0; i < count; i++)
        sums_free(&sums[i]);
    double seen = mark_sums(f, 0, 1, ids, count, sums);
    int agree = 1;
    double range[2] = {INFINITY, -INFINITY};
    double colour = seen >= MIN_SEEN_SHARE ? best_colour(sums, sizes, count, max_value)
                                           : spread_colour(f, ids, count, range, &agree);
    if (colour < 0)
        colour = joint_colour(f, ids, count, mattes, sums, best_colour(sums, sizes, count, max_value));
    float **alphas = um_xcalloc((size_t)count, sizeof(float *));
    int(*shift)[2] = um_xcalloc((size_t)count, sizeof(*shift));
    uint8_t *pooled = um_xcalloc((size_t)count, 1);
    for (int i = 0; i < count; i++)
        alphas[i] = mattes[ids[i]]->alpha[0] = alpha_from_sums(&sums[i], sizes[i], colour);
    align_spots(f, ids, count, alphas, shift, pooled);
    mark_pool mp = {f, ids, count, sums, shift, pooled, um_xmalloc((size_t)count * sizeof(float *))};
    for (int i = 0; i < count; i++)
        mp.weight[i] = um_xmalloc(sizes[i] * sizeof(float));
    weigh_pixels(&mp, sizes, colour);
    /*
     * Where the spread's spots disagree, the mark's hops decide: one
     * opacity per pixel of the mark, seen over a different picture at
     * every spot, fits only at the true W (at another, a pixel over a
     * bright picture wants another opacity than over a dark one). So they
     * do where a mark that hops was seen behind: over a still camera each
     * pixel's picture never changes at one spot, and a and W trade off
     * there at every W. Their fit is (1)'s least squares, biased where the
     * guess of the picture is poor (see first_alpha), and W with it: when
     * it lies further than SPREAD_AGREEMENT outside the spots' spread
     * estimates, it is that bias (a pattern panning under a text mark: 183
     * against the spots' 223 to 231, truly 235), and the spread's median
     * stays.
     */
    if ((!agree || seen >= MIN_SEEN_SHARE) && pooled_spots(&mp) >= 2) {
        double hop = best_scoring_colour(hop_score, &mp, max_value);
        um_log(UM_LOG_DEBUG, "matte: W from the hops: %.1f", hop);
        double slack = levels(f, SPREAD_AGREEMENT);
        if (range[0] <= range[1] && (hop < range[0] - slack || hop > range[1] + slack)) {
            um_log(UM_LOG_DEBUG, "matte: the hops' W is outside the spots' spread estimates: the spread's stays");
        } else {
            colour = hop;
            for (int i = 0; i < count; i++) {
                free(alphas[i]);
                alphas[i] = mattes[ids[i]]->alpha[0] = alpha_from_sums(&sums[i], sizes[i], colour);
            }
            weigh_pixels(&mp, sizes, colour);
        }
    }
    um_log(UM_LOG_DEBUG, "matte: W %.1f (first joint fit %.1f, %.0f%% of the mark seen behind it)",
           colour, joint, 100 * seen);
    pool_alpha(&mp, colour, mattes);
    um_shadow model;
    if (fit_shadow(&mp, colour, max_value, mattes, NULL, 0, &model)) {
        uint8_t **strokes = um_xcalloc((size_t)count, sizeof(uint8_t *));
        for (int i = 0; i < count; i++) {
            strokes[i] = um_xmalloc(sizes[i]);
            memcpy(strokes[i], f->spots[ids[i]].region, sizes[i]);
        }
        if (cover_shadow(f, ids, count, &model, mattes)) {
            for (int i = 0; i < count; i++)
                sums_free(&sums[i]);
            mark_sums(f, 0, 1, ids, count, sums);
            weigh_pixels(&mp, sizes, colour);
            fit_shadow(&mp, colour, max_value, mattes, strokes, 1, &model);
        }
        lay_shadow(&mp, &model, max_value, mattes, strokes, shadow);
        colour = model.colour;
        for (int i = 0; i < count; i++)
            free(strokes[i]);
        free(strokes);
    } else {
        shade_pixels(&mp, colour, max_value, mattes);
    }
    for (int i = 0; i < count; i++) {
        um_matte *m = mattes[ids[i]];
        m->colour[0] = (float)fmin(max_value, fmax(0, colour));
        um_log(UM_LOG_DEBUG, "matte: spot %d at shift %d,%d from the first%s", ids[i], shift[i][0],
               shift[i][1], pooled[i] ? ", pooled" : ", on its own");
        sums_free(&sums[i]);
        free(mp.weight[i]);
    }
    free(mp.weight);
    free(alphas);
    free(shift);
    free(pooled);
    free(sums);
    free(sizes);
}

/* The shadow's share of each sample of plane p, (1 - m) s averaged onto
 * its grid, for spot i of the mark. */
static float *plane_shadow(const um_matte_fit *f, int i, const int *ids, const mark_shadow *sh, int p)
{
    const fit_spot *s = &f->spots[ids[i]];
    size_t n = (size_t)(s->crop.x2 - s->crop.x1) * (s->crop.y2 - s->crop.y1);
    float *under = um_xmalloc(n * sizeof(float));
    for (size_t k = 0; k < n; k++)
        under[k] = (1 - sh->mark[i][k]) * sh->layer[i][k];
    float *out = plane_alpha(f, s, under, p);
    free(under);
    return out;
}

/*
 * A colour plane under a shadow: the blend's a Wx = m W + (1 - m) s K, with
 * the two layers averaged onto the plane's grid, gives W and K of the plane
 * in (1)'s least squares (two unknowns, over every sample of the mark), and
 * each sample its colour Wx. Returns W, or -1 when the layers cannot be
 * told apart (the colours stay one).
 */
static double shadow_colours(const um_matte_fit *f, int p, const int *ids, int count, const fit_sums *sums,
                             const size_t *sizes, float *const *alphas, const mark_shadow *sh, um_matte **mattes)
{
    int max_value = (1 << f->depth) - 1;
    float **marks = um_xcalloc((size_t)count, sizeof(float *)), **unders = um_xcalloc((size_t)count, sizeof(float *));
    double mm = 0, mu = 0, uu = 0, bm = 0, bu = 0;
    for (int i = 0; i < count; i++) {
        marks[i] = plane_alpha(f, &f->spots[ids[i]], sh->mark[i], p);
        unders[i] = plane_shadow(f, i, ids, sh, p);
        for (size_t k = 0; k < sizes[i]; k++) {
            double m = marks[i][k], u = unders[i][k], n = sums[i].n[k];
            double rhs = sums[i].d[k] + alphas[i][k] * sums[i].i[k];
            mm += m * m * n;
            mu += m * u * n;
            uu += u * u * n;
            bm += m * rhs;
            bu += u * rhs;
        }
    }
    double det = mm * uu - mu * mu, colour = -1;
    if (det > 1e-9 * mm * uu) {
        colour = fmin(max_value, fmax(0, (bm * uu - bu * mu) / det));
        double dark = fmin(max_value, fmax(0, (mm * bu - mu * bm) / det));
        for (int i = 0; i < count; i++) {
            um_matte *m = mattes[ids[i]];
            m->colour_map[p] = um_xmalloc(sizes[i] * sizeof(float));
            for (size_t k = 0; k < sizes[i]; k++) {
                double a = alphas[i][k];
                m->colour_map[p][k] = (float)(a > 0 ? (marks[i][k] * colour + unders[i][k] * dark) / a : colour);
            }
        }
        um_log(UM_LOG_DEBUG, "matte: plane %d under the shadow: W %.1f, K %.1f", p, colour, dark);
    }
    for (int i = 0; i < count; i++) {
        free(marks[i]);
        free(unders[i]);
    }
    free(marks);
    free(unders);
    return colour;
}

/* A colour plane after luma, from its sums: a from luma, W from (1) (and
 * the shadow's colour K, under a shadow). */
static void solve_colour_plane(const um_matte_fit *f, int p, const int *ids, int count, fit_sums *sums,
                               const mark_shadow *sh, um_matte **mattes)
{
    size_t *sizes = um_xcalloc((size_t)count, sizeof(size_t));
    float **alphas = um_xcalloc((size_t)count, sizeof(float *));
    int max_value = (1 << f->depth) - 1;
    plane_sizes(ids, count, mattes, p, sizes);
    for (int i = 0; i < count; i++)
        alphas[i] = plane_alpha(f, &f->spots[ids[i]], mattes[ids[i]]->alpha[0], p);
    double colour = sh->found ? shadow_colours(f, p, ids, count, sums, sizes, alphas, sh, mattes) : -1;
    if (colour < 0)
        colour = colour_with_alpha(sums, alphas, sizes, count, (max_value + 1) / 2);
    for (int i = 0; i < count; i++) {
        um_matte *m = mattes[ids[i]];
        m->colour[p] = (float)fmin(max_value, fmax(0, colour));
        m->alpha[p] = alphas[i];
        sums_free(&sums[i]);
    }
    free(sizes);
    free(alphas);
}

/* The colour planes after luma; their sums are taken in one pass, for
 * the cores to share. */
static void solve_colour_planes(const um_matte_fit *f, const int *ids, int count, const mark_shadow *sh,
                                um_matte **mattes)
{
    int planes = f->nb_planes - 1;
    if (planes < 1)
        return;
    fit_sums *sums = um_xcalloc((size_t)count * planes, sizeof(*sums));
    mark_sums(f, 1, planes, ids, count, sums);
    for (int p = 1; p < f->nb_planes; p++)
        solve_colour_plane(f, p, ids, count, &sums[(size_t)(p - 1) * count], sh, mattes);
    free(sums);
}

/* A spot's matte from its template, placed on its samples: its planes'
 * opacities the placed one averaged onto their grids, as a fit's. */
static um_matte *matte_from_template(const um_matte_fit *f, const fit_spot *s)
{
    um_matte *m = matte_new(f, s);
    double colour[3];
    um_template_colours(&s->given, f->is_rgb, f->full_range, f->depth, colour);
    int w = s->crop.x2 - s->crop.x1, h = s->crop.y2 - s->crop.y1;
    um_box near = {s->box.x1 - s->crop.x1, s->box.y1 - s->crop.y1, s->box.x2 - s->crop.x1,
                   s->box.y2 - s->crop.y1};
    m->alpha[0] = um_xmalloc((size_t)w * h * sizeof(float));
    um_template_place(&s->given, s->given_scale, colour[0], (const uint16_t *const *)s->samples[0], s->n, w, h,
                      near, m->alpha[0]);
    m->colour[0] = (float)colour[0];
    for (int p = 1; p < f->nb_planes; p++) {
        m->alpha[p] = plane_alpha(f, s, m->alpha[0], p);
        m->colour[p] = (float)colour[p];
    }
    return m;
}

void um_matte_fit_solve(um_matte_fit *f, um_matte **mattes)
{
    int *ids = um_xmalloc((size_t)(f->nb_spots ? f->nb_spots : 1) * sizeof(int));
    uint8_t *done = um_xcalloc((size_t)(f->nb_spots ? f->nb_spots : 1), 1);
    for (int i = 0; i < f->nb_spots; i++)
        mattes[i] = NULL;
    for (int first = 0; first < f->nb_spots && f->known_layout; first++) {
        if (done[first])
            continue;
        int count = 0;
        for (int i = first; i < f->nb_spots; i++)
            if (!done[i] && f->spots[i].mark == f->spots[first].mark) {
                done[i] = 1;
                if (f->spots[i].n >= UM_MATTE_FIT_MIN_SAMPLES)
                    ids[count++] = i;
            }
        for (int i = 0; i < count; i++)
            mattes[ids[i]] = matte_new(f, &f->spots[ids[i]]);
        if (count) {
            mark_shadow shadow = {0};
            solve_luma(f, ids, count, mattes, &shadow);
            solve_colour_planes(f, ids, count, &shadow, mattes);
            mark_shadow_free(&shadow, count);
        }
    }
    for (int i = 0; i < f->nb_spots && f->known_layout; i++)
        if (!mattes[i] && f->spots[i].given.alpha && f->spots[i].n > 0 && f->spots[i].region)
            mattes[i] = matte_from_template(f, &f->spots[i]);
    free(ids);
    free(done);
}

int um_matte_fit_samples(const um_matte_fit *f, int spot)
{
    return spot >= 0 && spot < f->nb_spots ? f->spots[spot].n : 0;
}

void um_matte_fit_free(um_matte_fit **fit)
{
    um_matte_fit *f = *fit;
    if (!f)
        return;
    for (int i = 0; i < f->nb_spots; i++) {
        for (int p = 0; p < MATTE_MAX_PLANES; p++) {
            for (int t = 0; t < f->spots[i].n; t++)
                free(f->spots[i].samples[p][t]);
            for (int t = 0; t < f->spots[i].nclear; t++)
                free(f->spots[i].clear[p][t]);
        }
        free(f->spots[i].region);
        free((void *)f->spots[i].given.alpha);
        um_background_free(&f->spots[i].background);
    }
    free(f->spots);
    free(f);
    *fit = NULL;
}

void um_matte_free(um_matte **matte)
{
    um_matte *m = *matte;
    if (!m)
        return;
    for (int p = 0; p < MATTE_MAX_PLANES; p++) {
        free(m->alpha[p]);
        free(m->colour_map[p]);
    }
    free(m);
    *matte = NULL;
}

/* The luma opacity a template, which has one W, carries for pixel k: where
 * the pixel has its own colour (a shadow's), the one that takes off as
 * much, a W(x) / W. A still un-blended with the template then keeps the
 * shadow's darkening, as one W always did, instead of having the mark's
 * full colour taken off a dark fringe. */
static double exported_alpha(const um_matte *m, size_t k)
{
    double a = m->alpha[0][k];
    if (m->colour_map[0] && m->colour[0] > 0)
        a *= m->colour_map[0][k] / m->colour[0];
    return fmin(1, fmax(0, a));
}

void um_matte_export(const um_matte *m, um_matte_template *t)
{
    int w = m->pw[0], h = m->ph[0];
    uint8_t *alpha = um_xmalloc((size_t)w * h);
    for (size_t k = 0; k < (size_t)w * h; k++)
        alpha[k] = (uint8_t)lrint(255 * exported_alpha(m, k));
    memset(t, 0, sizeof(*t));
    t->width = w;
    t->height = h;
    t->alpha = alpha;
    t->stride = w;
    t->rgb = m->is_rgb;
    t->full_range = m->full_range;
    for (int p = 0; p < 3; p++)
        t->colour[p] = p < m->nb_planes ? m->colour[p] / um_matte_unit(m->depth) : -1;
}

void um_matte_describe(const um_matte *m, double colour[3], um_box *crop)
{
    for (int p = 0; p < 3; p++)
        colour[p] = p < m->nb_planes ? m->colour[p] : 0;
    *crop = m->crop;
}
