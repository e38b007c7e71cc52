/*
 * The detector: frames in, at detection resolution, into a ring; gradient
 * samples into a window whose temporal median finds the spots (spots.c);
 * every frame scored against every spot as it leaves the ring; boxes per
 * frame at the end (timeline.c).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "detect/detect_internal.h"
#include "unmark/kernels.h"

/* Gradient samples a second: 16 samples span 1.6 s, long enough for a
 * moving picture to move and short enough to fit one stay of a hopping mark. */
#define SAMPLES_PER_SECOND 10.0
#define RING_FRAMES 96
#define CLEAR_MATCH 0.8
#define CLEAR_MISS 0.2
/* How often a given template is searched for over the whole frame. */
#define SEED_SEARCH_SECONDS 0.5
/* Frames matching this well feed the spot's evidence. */
#define EVIDENCE_SCORE 0.6
/* The most a given template's spot scores by its directions alone. */
#define DIRECTIONS_CAP 0.6
#define DETECTION_SHORT_SIDE 320

void um_detect_options_init(um_detect_options *o)
{
    memset(o, 0, sizeof(*o));
    o->scales[0] = 1.0;
    o->scales[1] = 0.8;
    o->scales[2] = 1.2;
    o->nb_scales = 3;
    o->max_area = 0.10;
    o->extend_back = 9;
    o->extend_ahead = 1.5;
    o->max_gap = 5;
    o->jump_threshold = 0.15;
}

int um_detect_parse_scales(const char *text, um_detect_options *o, um_error *err)
{
    double scales[UM_DETECT_MAX_SCALES];
    int n = 0;
    const char *p = text;
    while (*p) {
        char *end;
        double v = strtod(p, &end);
        if (end == p || !(v >= 0.25 && v <= 4.0) || (*end && *end != ',') || n == UM_DETECT_MAX_SCALES)
            goto bad;
        scales[n++] = v;
        p = *end ? end + 1 : end;
        if (*end && !*p)
            goto bad;
    }
    if (n == 0)
        goto bad;
    memcpy(o->scales, scales, sizeof(double) * (size_t)n);
    o->nb_scales = n;
    return 0;
bad:
    um_error_set(err, UM_ERR_USAGE,
                 "bad --scales \"%s\": expected up to %d numbers from 0.25 to 4, comma-separated (e.g. 1.0,0.8,1.2)",
                 text, UM_DETECT_MAX_SCALES);
    return -1;
}

static int64_t default_memory_limit(void)
{
    int64_t memory = um_physical_memory();
    return memory > 0 ? memory / 4 : (int64_t)1 << 30;
}

/* What the detector holds: the ring, the gradient samples and scratch, and
 * per scale the resampled templates and their gradient crops. */
static void memory_needs(const um_detector *d, int64_t *single, int64_t *multi)
{
    int64_t grid = (int64_t)d->dw * d->dh;
    int64_t base = grid * RING_FRAMES * 3 + grid * DET_SAMPLES * 4 + grid * 18;
    int64_t per_scale = (int64_t)(d->o.max_area * (double)grid) * 9 * DET_MAX_SPOTS;
    *single = base + per_scale;
    *multi = base + per_scale * d->o.nb_scales;
}

static int budget_memory(um_detector *d, um_error *err)
{
    int64_t single, multi, limit = d->o.memory_limit > 0 ? d->o.memory_limit : default_memory_limit();
    memory_needs(d, &single, &multi);
    if (limit < single) {
        um_error_set(err, UM_ERR_USAGE,
                     "--memory-limit %lld bytes is too small: detection at %dx%d needs at least %.1f MiB",
                     (long long)limit, d->width, d->height, (double)single / 1048576.0);
        return -1;
    }
    if (limit < multi && d->o.nb_scales > 1) {
        d->single_scale = 1;
        um_log(UM_LOG_WARN,
               "multi-scale detection needs %.1f MiB, over the memory limit of %.1f MiB: falling back to single-scale",
               (double)multi / 1048576.0, (double)limit / 1048576.0);
    }
    return 0;
}

int um_detect_create(um_detector **det, int width, int height, double fps,
                     const um_detect_options *o, um_error *err)
{
    if (width < 16 || height < 16) {
        um_error_set(err, UM_ERR_INPUT, "cannot detect in %dx%d frames: too small", width, height);
        return -1;
    }
    um_detector *d = um_xcalloc(1, sizeof(*d));
    d->width = width;
    d->height = height;
    d->fps = fps > 0 ? fps : 30;
    d->o = *o;
    int short_side = width < height ? width : height;
    d->factor = short_side / DETECTION_SHORT_SIDE > 1 ? short_side / DETECTION_SHORT_SIDE : 1;
    d->dw = width / d->factor;
    d->dh = height / d->factor;
    if (budget_memory(d, err) < 0) {
        free(d);
        return -1;
    }
    size_t grid = (size_t)d->dw * d->dh;
    d->ring_cap = RING_FRAMES;
    d->ring = um_xcalloc((size_t)d->ring_cap, sizeof(*d->ring));
    for (int i = 0; i < d->ring_cap; i++)
        d->ring[i] = um_xmalloc(grid);
    d->sgx = um_xcalloc(DET_SAMPLES, sizeof(*d->sgx));
    d->sgy = um_xcalloc(DET_SAMPLES, sizeof(*d->sgy));
    for (int i = 0; i < DET_SAMPLES; i++) {
        d->sgx[i] = um_xmalloc(grid * sizeof(int16_t));
        d->sgy[i] = um_xmalloc(grid * sizeof(int16_t));
    }
    d->sample_step = (int)lround(d->fps / SAMPLES_PER_SECOND) > 1 ? (int)lround(d->fps / SAMPLES_PER_SECOND) : 1;
    d->window_stride = DET_SAMPLES * 3 / 4;
    d->mgx = um_xmalloc(grid * sizeof(int16_t));
    d->mgy = um_xmalloc(grid * sizeof(int16_t));
    d->bin = um_xmalloc(grid);
    d->dil = um_xmalloc(grid);
    d->labels = um_xmalloc(grid * sizeof(int32_t));
    d->stack = um_xmalloc(grid * sizeof(int32_t));
    d->seed_interval = (int)lround(d->fps * SEED_SEARCH_SECONDS) > 1 ? (int)lround(d->fps * SEED_SEARCH_SECONDS) : 1;
    *det = d;
    return 0;
}

/* ---- scoring ---------------------------------------------------------- */

/* Resamples a gradient template about its centre (nearest neighbour: the
 * correlation is normalised, so gradient magnitudes need no rescaling). */
void det_resample(const int16_t *gx, const int16_t *gy, const uint8_t *support, int w, int h,
                  double scale, det_scaled *t)
{
    det_scaled_free(t);
    t->w = (int)lround(w * scale);
    t->h = (int)lround(h * scale);
    size_t n = (size_t)t->w * t->h;
    t->gx = um_xmalloc(n * sizeof(int16_t));
    t->gy = um_xmalloc(n * sizeof(int16_t));
    t->support = um_xmalloc(n);
    for (int y = 0; y < t->h; y++) {
        int sy = (int)floor((y + 0.5 - t->h / 2.0) / scale + h / 2.0);
        sy = sy < 0 ? 0 : sy >= h ? h - 1 : sy;
        for (int x = 0; x < t->w; x++) {
            int sx = (int)floor((x + 0.5 - t->w / 2.0) / scale + w / 2.0);
            sx = sx < 0 ? 0 : sx >= w ? w - 1 : sx;
            size_t from = (size_t)sy * w + sx, to = (size_t)y * t->w + x;
            t->gx[to] = gx[from];
            t->gy[to] = gy[from];
            t->support[to] = support[from];
        }
    }
}

int det_scales_in_use(const um_detector *d) { return d->single_scale ? 1 : d->o.nb_scales; }

static void refresh_templates(um_detector *d, det_spot *s)
{
    det_spot_rebuild_template(d, s);
    for (int k = 0; k < det_scales_in_use(d); k++)
        det_resample(s->tgx, s->tgy, s->support, s->w, s->h, d->o.scales[k], &s->scaled[k]);
}

static void try_offset(const det_scaled *t, const int16_t *gx, const int16_t *gy, int cw, int ch,
                       int ideal_x, int ideal_y, int dx, int dy, double *best, int *bx, int *by)
{
    int ox = ideal_x + dx, oy = ideal_y + dy;
    if (ox < 1 || oy < 1 || ox + t->w > cw - 1 || oy + t->h > ch - 1)
        return;
    size_t at = (size_t)oy * cw + ox;
    double v = um_kernel_gradient_ncc(t->gx, t->gy, t->w, t->support, t->w, gx + at, gy + at, cw, t->w, t->h);
    if (v > *best) {
        *best = v;
        *bx = dx;
        *by = dy;
    }
}

/* The offset (within DET_SEARCH of the ideal place) where t correlates
 * best with the gradient field gx, gy (cw x ch), and that correlation:
 * every other offset, then the neighbours of the best. */
static double best_offset(const det_scaled *t, const int16_t *gx, const int16_t *gy, int cw, int ch,
                          int ideal_x, int ideal_y, int *bx, int *by)
{
    double best = -2;
    *bx = *by = 0;
    for (int dy = -DET_SEARCH + 1; dy <= DET_SEARCH; dy += 2)
        for (int dx = -DET_SEARCH + 1; dx <= DET_SEARCH; dx += 2)
            try_offset(t, gx, gy, cw, ch, ideal_x, ideal_y, dx, dy, &best, bx, by);
    int cx0 = *bx, cy0 = *by;
    for (int dy = cy0 - 1; dy <= cy0 + 1; dy++)
        for (int dx = cx0 - 1; dx <= cx0 + 1; dx++)
            if ((dx != cx0 || dy != cy0) && abs(dx) <= DET_SEARCH && abs(dy) <= DET_SEARCH)
                try_offset(t, gx, gy, cw, ch, ideal_x, ideal_y, dx, dy, &best, bx, by);
    return best;
}

int det_search_crop(const um_detector *d, int x, int y, int w, int h, det_crop *c)
{
    c->w = w + 2 * DET_SEARCH + 2;
    c->h = h + 2 * DET_SEARCH + 2;
    c->x0 = x - DET_SEARCH - 1;
    c->y0 = y - DET_SEARCH - 1;
    /* Near the border: keep the crop inside the frame. */
    c->x0 = c->x0 < 0 ? 0 : c->x0 + c->w > d->dw ? d->dw - c->w : c->x0;
    c->y0 = c->y0 < 0 ? 0 : c->y0 + c->h > d->dh ? d->dh - c->h : c->y0;
    return c->x0 >= 0 && c->y0 >= 0;
}

/* Best correlation of one scaled template with the frame near its spot,
 * and (*shown) how surely the mark shows: the same, but in a single picture
 * for a given template's spot that matches less than DIRECTIONS_CAP, where
 * the match of the frame's gradient directions counts up to DIRECTIONS_CAP:
 * enough for the timeline to find a mark whose gradients never match well
 * (a still of it over a bright sky, crossed by a strong edge). Where the
 * mark stands, and what the spot learns from the frame, stay the
 * gradients'. (Videos keep the gradients alone: spots found by the
 * directions were placed worse than those learnt, p1 lost 0.8 dB.) */
static double score_scale(um_detector *d, const det_spot *s, const det_scaled *t, const uint8_t *luma,
                          int *best_dx, int *best_dy, int *window_at, double *shown)
{
    *shown = 0;
    int cx = s->x + s->w / 2, cy = s->y + s->h / 2;
    det_crop crop;
    if (!det_search_crop(d, cx - t->w / 2, cy - t->h / 2, t->w, t->h, &crop))
        return 0;
    int x0 = crop.x0, y0 = crop.y0, cw = crop.w, ch = crop.h;
    size_t need = (size_t)cw * ch;
    if (need > d->fg_cap) {
        d->fgx = um_xrealloc(d->fgx, need * sizeof(int16_t));
        d->fgy = um_xrealloc(d->fgy, need * sizeof(int16_t));
        d->fdx = um_xrealloc(d->fdx, need * sizeof(int16_t));
        d->fdy = um_xrealloc(d->fdy, need * sizeof(int16_t));
        d->fg_cap = need;
    }
    um_kernel_sobel(luma + (size_t)y0 * d->dw + x0, d->dw, cw, ch, d->fgx, d->fgy, cw);
    int ideal_x = cx - t->w / 2 - x0, ideal_y = cy - t->h / 2 - y0, bx, by;
    double best = best_offset(t, d->fgx, d->fgy, cw, ch, ideal_x, ideal_y, &bx, &by);
    best = best < -1 ? 0 : best;
    *shown = best;
    if (s->given >= 0 && d->o.single_picture && best < DIRECTIONS_CAP) {
        um_kernel_gradient_directions(d->fgx, d->fgy, cw, cw, ch, DET_DIRECTION_FLOOR, d->fdx, d->fdy);
        int dx, dy;
        double directions = best_offset(t, d->fdx, d->fdy, cw, ch, ideal_x, ideal_y, &dx, &dy);
        *shown = fmax(best, fmin(DIRECTIONS_CAP, directions));
    }
    *best_dx = bx;
    *best_dy = by;
    *window_at = (ideal_y + by) * cw + ideal_x + bx;
    return best;
}

/* How well ring frame t matches spot s at its learnt size, by luma. */
static double luma_match(um_detector *d, det_spot *s, int64_t t, int *dx, int *dy)
{
    int at;
    double shown;
    return score_scale(d, s, &s->scaled[0], d->ring[t % d->ring_cap], dx, dy, &at, &shown);
}

/* A spot is found seconds after its mark showed up: before any frame still
 * in the ring is scored, the spot learns its chroma edges from those that
 * clearly show it, so that the older ones, where the luma may not see the
 * mark, are scored by the chroma too. */
static void learn_chroma_from_ring(um_detector *d, det_spot *s)
{
    if (!d->ring_chroma[0])
        return; /* a grey picture: nothing to learn, spare the luma matches */
    for (int64_t t = d->scored; t < d->frames; t++) {
        int dx = 0, dy = 0;
        int clear = luma_match(d, s, t, &dx, &dy) >= EVIDENCE_SCORE;
        det_chroma_learn(d, s, t, clear, dx, dy);
    }
}

/* A frame the luma does not clearly match may show a coloured mark over a
 * picture of its brightness: the chroma's score counts when higher. */
static double try_chroma(um_detector *d, det_spot *s, int64_t frame, double luma, double *shown)
{
    int dx, dy;
    if (luma >= CLEAR_MATCH)
        return 0;
    double v = det_chroma_score(d, s, frame, &dx, &dy);
    if (v > 0 && v > *shown) {
        *shown = v;
        s->by_chroma[frame] = 1;
        s->scale_idx[frame] = 0;
        s->off_x[frame] = (int8_t)dx;
        s->off_y[frame] = (int8_t)dy;
    }
    return v;
}

static void score_frame(um_detector *d, int64_t frame)
{
    const uint8_t *luma = d->ring[frame % d->ring_cap];
    for (int i = 0; i < d->nb_spots; i++) {
        det_spot *s = &d->spots[i];
        if (s->template_dirty)
            refresh_templates(d, s);
        if (s->scored == 0)
            learn_chroma_from_ring(d, s);
        det_spot_reserve(s, frame + 1);
        double best = -2, shown = 0;
        for (int k = 0; k < det_scales_in_use(d); k++) {
            /* A clear match at the learnt size needs no other scale, and a
             * clear miss means the mark is not there at any nearby size. */
            if (k > 0 && (best >= CLEAR_MATCH || best < CLEAR_MISS))
                break;
            int dx = 0, dy = 0, at = -1;
            double v_shown, v = score_scale(d, s, &s->scaled[k], luma, &dx, &dy, &at, &v_shown);
            if (k == 0 && v >= EVIDENCE_SCORE && at >= 0 && s->scaled[0].w == s->w && s->scaled[0].h == s->h)
                det_spot_add_evidence(s, d->fgx + at, d->fgy + at, s->scaled[0].w + 2 * DET_SEARCH + 2);
            /* Another scale must do clearly better to be believed. */
            if (v > best + (k ? 0.05 : 0)) {
                best = v;
                shown = v_shown;
                s->scale_idx[frame] = (int8_t)k;
                s->off_x[frame] = (int8_t)dx;
                s->off_y[frame] = (int8_t)dy;
            }
        }
        int clear = best >= EVIDENCE_SCORE && s->scale_idx[frame] == 0;
        det_chroma_learn(d, s, frame, clear, s->off_x[frame], s->off_y[frame]);
        double chroma = try_chroma(d, s, frame, best, &shown);
        s->score[frame] = (float)shown;
        s->scored++;
        s->missed += best < CLEAR_MISS && chroma < CLEAR_MISS;
        if (clear)
            det_spot_add_sighting(d, s, luma, 1, s->off_x[frame], s->off_y[frame]);
        else if (best < CLEAR_MISS)
            det_spot_add_sighting(d, s, luma, 0, 0, 0);
    }
}

/* ---- frames in ---------------------------------------------------------- */

static void to_detection_grid(const um_detector *d, const um_frame *f, uint8_t *dst)
{
    if (f->depth > 8)
        um_kernel_downscale_u16((const uint16_t *)f->data[0], f->linesize[0], f->width, f->height,
                                f->depth, d->factor, dst, d->dw);
    else
        um_kernel_downscale_u8(f->data[0], f->linesize[0], f->width, f->height, d->factor, dst,
                               d->dw);
}

static void take_sample(um_detector *d, const uint8_t *luma)
{
    um_kernel_sobel(luma, d->dw, d->dw, d->dh, d->sgx[d->sample_head], d->sgy[d->sample_head], d->dw);
    d->sample_head = (d->sample_head + 1) % DET_SAMPLES;
    d->nsamples += d->nsamples < DET_SAMPLES;
    if (++d->since_window >= d->window_stride && d->nsamples >= DET_MIN_SAMPLES) {
        det_analyze_window(d, d->nsamples);
        d->since_window = 0;
    }
}

static void alloc_chroma_ring(um_detector *d)
{
    for (int p = 0; p < 2; p++) {
        d->ring_chroma[p] = um_xcalloc((size_t)d->ring_cap, sizeof(*d->ring_chroma[p]));
        for (int i = 0; i < d->ring_cap; i++)
            d->ring_chroma[p][i] = um_xmalloc((size_t)d->dw * d->dh);
    }
}

int um_detect_push(um_detector *d, const um_frame *f, um_error *err)
{
    if (d->finished || f->width != d->width || f->height != d->height) {
        um_error_set(err, UM_ERR_OTHER, "detector: frame %lld is %dx%d, expected %dx%d",
                     (long long)f->index, f->width, f->height, d->width, d->height);
        return -1;
    }
    if (d->frames >= d->ring_cap) {
        score_frame(d, d->frames - d->ring_cap);
        d->scored = d->frames - d->ring_cap + 1;
    }
    uint8_t *slot = d->ring[d->frames % d->ring_cap];
    to_detection_grid(d, f, slot);
    if (d->frames == 0 && f->nb_planes >= 3)
        alloc_chroma_ring(d);
    det_chroma_keep(d, f, (int)(d->frames % d->ring_cap));
    if (d->nb_seeds && d->frames % d->seed_interval == 0)
        det_search_seeds(d, slot);
    if (d->frames % det_background_step(d) == 0)
        det_keep_background_sample(d, slot);
    if (d->frames % d->sample_step == 0)
        take_sample(d, slot);
    d->frames++;
    return 0;
}

/* A steady spot was clearly missed in at most this share of the frames
 * scored since it was found (and a few frames more). */
#define STEADY_MISSES 0.1
#define STEADY_SLACK 3

static int steady(const det_spot *s)
{
    return (double)s->missed <= STEADY_SLACK + STEADY_MISSES * (double)s->scored;
}

int um_detect_learning_frames(const um_detector *d)
{
    return (d->window_stride + DET_MIN_SAMPLES) * d->sample_step;
}

int um_detect_live_spots(const um_detector *d, um_detect_live *spots, int cap)
{
    double largest = 0;
    for (int k = 0; k < det_scales_in_use(d); k++)
        largest = fmax(largest, d->o.scales[k]);
    int n = 0;
    for (int i = 0; i < d->nb_spots && n < cap; i++) {
        /* As timeline.c places a box: the template window scaled about its
         * centre, moved by up to the search range. */
        const det_spot *s = &d->spots[i];
        double cx = s->x + s->w / 2.0, cy = s->y + s->h / 2.0;
        double hw = s->w / 2.0 * largest + DET_SEARCH, hh = s->h / 2.0 * largest + DET_SEARCH;
        int f = d->factor;
        um_box b = det_clip_box(d, (um_box){(int)floor((cx - hw) * f), (int)floor((cy - hh) * f),
                                            (int)ceil((cx + hw) * f), (int)ceil((cy + hh) * f)});
        if (b.x2 > b.x1 && b.y2 > b.y1)
            spots[n++] = (um_detect_live){b, steady(s)};
    }
    return n;
}

/* Frees what the detector keeps per frame and per sample on its grid: the
 * ring of frames still to be scored, their chroma, the gradient samples
 * and the window's scratch; NULL after. About 370 grid-sized buffers (85
 * MB for a 720x1280 video): once detection has finished, the timeline and
 * the spots are all that is read, and inside `remove` the removal pass
 * reuses the memory instead of growing the heap, which the kernel must
 * zero afresh (hold-out h4: the heap still held 87 MB after detection). */
static void free_frame_buffers(um_detector *d)
{
    for (int i = 0; d->ring && i < d->ring_cap; i++)
        free(d->ring[i]);
    free(d->ring);
    d->ring = NULL;
    for (int p = 0; p < 2; p++) {
        for (int i = 0; d->ring_chroma[p] && i < d->ring_cap; i++)
            free(d->ring_chroma[p][i]);
        free(d->ring_chroma[p]);
        d->ring_chroma[p] = NULL;
    }
    for (int i = 0; d->sgx && i < DET_SAMPLES; i++) {
        free(d->sgx[i]);
        free(d->sgy[i]);
    }
    free(d->sgx);
    free(d->sgy);
    d->sgx = d->sgy = NULL;
    free(d->mgx);
    free(d->mgy);
    free(d->bin);
    free(d->dil);
    free(d->labels);
    free(d->stack);
    d->mgx = d->mgy = NULL;
    d->bin = d->dil = NULL;
    d->labels = d->stack = NULL;
}

int um_detect_finish(um_detector *d, um_error *err)
{
    (void)err;
    if (d->finished)
        return 0;
    /* A mark that shows only at the very end gets a window of its own. */
    d->finishing = 1;
    if (d->nsamples >= DET_MIN_SAMPLES / 2 + 2)
        det_analyze_window(d, d->nsamples < DET_MIN_SAMPLES ? d->nsamples : DET_MIN_SAMPLES);
    for (int64_t t = d->scored; t < d->frames; t++)
        score_frame(d, t);
    d->scored = d->frames;
    det_build_timeline(d);
    d->finished = 1;
    free_frame_buffers(d);
    return 0;
}

int64_t um_detect_frame_count(const um_detector *d) { return d->finished ? d->frames : 0; }

int um_detect_frame_boxes(const um_detector *d, int64_t i, const um_box **boxes)
{
    if (!d->finished || i < 0 || i >= d->frames) {
        *boxes = NULL;
        return 0;
    }
    *boxes = d->boxes + d->box_first[i];
    return (int)(d->box_first[i + 1] - d->box_first[i]);
}

int um_detect_box_shape(const um_detector *d, int64_t frame, int i, const uint8_t **shape,
                        ptrdiff_t *stride)
{
    *shape = NULL;
    *stride = 0;
    if (!d->finished || frame < 0 || frame >= d->frames || i < 0 ||
        i >= d->box_first[frame + 1] - d->box_first[frame])
        return -1;
    int64_t k = d->box_first[frame] + i;
    const det_shape *sh = &d->spots[d->box_spot[k]].shapes[d->box_scale[k]];
    const um_box *b = &d->boxes[k];
    if (!sh->mask || d->box_dx[k] + (b->x2 - b->x1) > sh->w || d->box_dy[k] + (b->y2 - b->y1) > sh->h)
        return 0;
    *shape = sh->mask + (size_t)d->box_dy[k] * sh->w + d->box_dx[k];
    *stride = sh->w;
    return 0;
}

int um_detect_box_spot(const um_detector *d, int64_t frame, int i, double *score)
{
    if (!d->finished || frame < 0 || frame >= d->frames || i < 0 ||
        i >= d->box_first[frame + 1] - d->box_first[frame])
        return -1;
    int64_t k = d->box_first[frame] + i;
    if (score)
        *score = d->spots[d->box_spot[k]].score[frame];
    for (int p = 0; p < d->nb_public; p++)
        if (d->public_index[p] == d->box_spot[k])
            return p;
    return -1;
}

int um_detect_spot_count(const um_detector *d) { return d->nb_public; }

const um_detect_spot *um_detect_spot_get(const um_detector *d, int i)
{
    return i >= 0 && i < d->nb_public ? &d->public_spots[i] : NULL;
}

int um_detect_single_scale_fallback(const um_detector *d) { return d->single_scale; }

/* The first frames a spot scores, which must all show it for the mark to
 * have been there before the spot was found. */
#define SHOWN_BEFORE_FRAMES 3

/* Whether spot s clearly showed in the oldest frames the ring still held
 * when it was found: the mark was there before them too, in frames it can
 * no longer score (a static mark learnt late, over a slow zoom). A mark
 * that has just hopped there was not: the ring reaches back past its
 * arrival. */
static int showed_before_found(const um_detector *d, const det_spot *s)
{
    int64_t first = s->born - d->ring_cap + 1;
    if (first <= 0 || first + SHOWN_BEFORE_FRAMES > d->frames)
        return 0;
    for (int64_t t = first; t < first + SHOWN_BEFORE_FRAMES; t++)
        if (isnan(s->score[t]) || s->score[t] < EVIDENCE_SCORE)
            return 0;
    return 1;
}

/* Whether a spot found before spot i stands where it does (their windows
 * overlap over half the smaller): then the frames before were scored by
 * that one all along (a late spot over part of a known mark). */
static int known_place(const um_detector *d, int i)
{
    const det_spot *s = &d->spots[i];
    um_box window = {s->x, s->y, s->x + s->w, s->y + s->h};
    for (int j = 0; j < i; j++) {
        const det_spot *o = &d->spots[j];
        um_box other = {o->x, o->y, o->x + o->w, o->y + o->h};
        if (!o->discarded && det_overlap_of_smaller(window, other) >= 0.5)
            return 1;
    }
    return 0;
}

int um_detect_wants_second_pass(const um_detector *d)
{
    for (int i = 0; i < d->nb_spots; i++) {
        const det_spot *s = &d->spots[i];
        if (!s->discarded && s->born > d->ring_cap &&
            (s->from_still || (showed_before_found(d, s) && !known_place(d, i))))
            return 1;
    }
    return 0;
}

/* True when a spot before i shows the same mark as spot i. */
static int seeded_mark(const um_detector *d, int i)
{
    for (int j = 0; j < i; j++)
        if (!d->spots[j].discarded && d->spots[j].from_still && d->spots[j].mark == d->spots[i].mark)
            return 1;
    return 0;
}

/* The spot's template, cut to its box, as a seed. */
static void add_spot_as_seed(um_detector *d, const det_spot *s)
{
    int w = s->tx2 - s->tx1, h = s->ty2 - s->ty1;
    if (w < 4 || h < 3)
        return;
    size_t n = (size_t)w * h;
    int16_t *gx = um_xmalloc(n * sizeof(int16_t)), *gy = um_xmalloc(n * sizeof(int16_t));
    uint8_t *support = um_xmalloc(n);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            size_t from = (size_t)(s->ty1 + y) * s->w + s->tx1 + x, to = (size_t)y * w + x;
            gx[to] = s->tgx[from];
            gy[to] = s->tgy[from];
            support[to] = s->support[from];
        }
    det_add_seed(d, gx, gy, support, w, h, -1);
    free(gx);
    free(gy);
    free(support);
}

int um_detect_create_from(um_detector **det, const um_detector *learnt, um_error *err)
{
    if (um_detect_create(det, learnt->width, learnt->height, learnt->fps, &learnt->o, err) < 0)
        return -1;
    um_detector *d = *det;
    det_still_inherit(d, learnt);
    for (int i = 0; i < learnt->nb_spots; i++) {
        const det_spot *from = &learnt->spots[i];
        if (from->discarded)
            continue;
        det_spot *s = det_spot_new_window(d, from->fx1, from->fy1, from->fx2, from->fy2, from->x,
                                          from->y, from->w, from->h);
        if (!s)
            break;
        size_t n = (size_t)from->w * from->h;
        memcpy(s->acc_gx, from->acc_gx, n * sizeof(float));
        memcpy(s->acc_gy, from->acc_gy, n * sizeof(float));
        s->nacc = from->nacc;
        s->from_still = from->from_still;
        s->given = from->given;
        s->given_scale = from->given_scale;
        s->template_dirty = 1;
        det_chroma_copy(s, from);
        /* The mark may have stood elsewhere before it was learnt: look for
         * it everywhere, once per mark. */
        if (from->from_still && !seeded_mark(learnt, i))
            add_spot_as_seed(d, from);
    }
    return 0;
}

int um_detect_spot_matte(const um_detector *d, int i, um_detect_matte *m)
{
    if (i < 0 || i >= d->nb_public)
        return -1;
    const det_spot *s = &d->spots[d->public_index[i]];
    memset(m, 0, sizeof(*m));
    m->width = s->tx2 - s->tx1;
    m->height = s->ty2 - s->ty1;
    m->grid = d->factor;
    m->alpha = s->alpha;
    m->colour = s->alpha ? s->colour : 255;
    m->box = d->public_spots[i].box;
    return 0;
}

void um_detect_free(um_detector **det)
{
    um_detector *d = *det;
    if (!d)
        return;
    free_frame_buffers(d);
    for (int p = 0; p < 2; p++) {
        free(d->cgx[p]);
        free(d->cgy[p]);
    }
    for (int i = 0; i < d->nb_spots; i++)
        det_spot_free(&d->spots[i]);
    free(d->components);
    free(d->fgx);
    free(d->fdx);
    free(d->fdy);
    free(d->fgy);
    free(d->boxes);
    free(d->box_first);
    free(d->box_spot);
    free(d->box_scale);
    free(d->box_dx);
    free(d->box_dy);
    det_seeds_free(d);
    det_still_free(d);
    free(d);
    *det = NULL;
}
