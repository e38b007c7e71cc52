/*
 * The crops the detection pass keeps for the matte pass. Around every place
 * detection has found a mark so far, it keeps the part of each frame that
 * the matte fit may read, at full resolution: for a sample of the mark, and
 * while the mark has not been seen to leave, for following the scene behind
 * it too. The matte pass then fits from these crops instead of decoding the
 * video a second time. It decodes only up to the last frame the crops miss.
 *
 * Detection finds a mark only a second or two after it shows up at a new
 * place, when those frames have gone by. So the last frames are held whole
 * for that long (a delay line of the decoder's own frames, not copies), and
 * a newly found mark's crops are taken from them too.
 *
 * Memory stays under a set number of bytes. When the crops would pass it,
 * every other kept frame is let go, and from then on only every other
 * frame is kept, so the crops thin out evenly over the video instead of
 * stopping at some point.
 */
#include <stdlib.h>
#include <string.h>

#include "pipeline/pipeline_internal.h"

/* Crops start on this grid, which every FFmpeg chroma grid divides. */
#define CROP_ALIGN 4
#define MAX_CROPS 16

typedef struct {
    um_frame view;      /* the crop, x0 and y0 its place in the frame */
    uint8_t *data;
    size_t size;
} kept_crop;

typedef struct {
    kept_crop crops[MAX_CROPS];
    int n;
} kept_frame;

struct um_crop_cache {
    int64_t limit, bytes;
    int64_t step;               /* frames kept: those whose index it divides */
    kept_frame *frames;         /* by frame index */
    int64_t nb_frames, cap;
    int given_up;               /* one frame's crops alone pass the limit */
    int spots;                  /* live spots seen so far */
    /* the delay line: the last frames whole, oldest first from head */
    um_media_held **delayed;
    int64_t frame_bytes;
    int delay, nb_delayed, head;
};

um_crop_cache *um_crop_cache_new(int64_t limit)
{
    um_crop_cache *c = um_xcalloc(1, sizeof(*c));
    c->limit = limit;
    c->step = 1;
    return c;
}

static void drop_frame(um_crop_cache *c, kept_frame *f)
{
    for (int i = 0; i < f->n; i++) {
        free(f->crops[i].data);
        c->bytes -= (int64_t)f->crops[i].size;
    }
    f->n = 0;
}

static void drop_delayed(um_crop_cache *c)
{
    for (int i = 0; i < c->nb_delayed; i++)
        um_media_held_release(&c->delayed[i]);
    c->bytes -= c->nb_delayed * c->frame_bytes;
    c->nb_delayed = c->head = 0;
}

void um_crop_cache_clear(um_crop_cache *c)
{
    for (int64_t t = 0; t < c->nb_frames; t++)
        drop_frame(c, &c->frames[t]);
    drop_delayed(c);
    c->nb_frames = 0;
    c->step = 1;
    c->given_up = 0;
    c->spots = 0;
}

void um_crop_cache_hold_back(um_crop_cache *c, int frames)
{
    drop_delayed(c);
    free(c->delayed);
    c->delayed = NULL;
    c->delay = frames > 0 ? frames : 0;
}

void um_crop_cache_free(um_crop_cache **cache)
{
    if (!*cache)
        return;
    um_crop_cache_clear(*cache);
    free((*cache)->frames);
    free((*cache)->delayed);
    free(*cache);
    *cache = NULL;
}

static um_box union_of(um_box a, um_box b)
{
    return (um_box){a.x1 < b.x1 ? a.x1 : b.x1, a.y1 < b.y1 ? a.y1 : b.y1, a.x2 > b.x2 ? a.x2 : b.x2,
                    a.y2 > b.y2 ? a.y2 : b.y2};
}

/* What to keep of a frame for spots[first..n): the fit's reach around each
 * (with the scene around it for a steady one), on the chroma grid,
 * overlapping ones merged into one. */
static int areas_to_keep(const um_frame *frame, const um_detect_live *spots, int first, int n, um_box *areas)
{
    int count = 0;
    for (int i = first; i < n && count < MAX_CROPS; i++) {
        um_box a = um_matte_fit_reach(spots[i].box, frame->width, frame->height, spots[i].steady);
        a.x1 = a.x1 / CROP_ALIGN * CROP_ALIGN;
        a.y1 = a.y1 / CROP_ALIGN * CROP_ALIGN;
        areas[count++] = a;
    }
    for (int merged = 1; merged;) {
        merged = 0;
        for (int i = 0; i < count && !merged; i++)
            for (int j = i + 1; j < count && !merged; j++)
                if (um_box_overlap(areas[i], areas[j]) > 0) {
                    areas[i] = union_of(areas[i], areas[j]);
                    areas[j] = areas[--count];
                    merged = 1;
                }
    }
    return count;
}

/* Lays out a copy of area of frame, as a frame of its own placed at area's
 * corner, in k->size bytes (no data yet). */
static void lay_out(const um_frame *frame, um_box area, kept_crop *k)
{
    memset(k, 0, sizeof(*k));
    um_frame *v = &k->view;
    v->width = area.x2 - area.x1;
    v->height = area.y2 - area.y1;
    v->nb_planes = frame->nb_planes;
    v->depth = frame->depth;
    v->log2_chroma_w = frame->log2_chroma_w;
    v->log2_chroma_h = frame->log2_chroma_h;
    v->is_rgb = frame->is_rgb;
    v->full_range = frame->full_range;
    v->has_alpha = frame->has_alpha;
    v->x0 = area.x1;
    v->y0 = area.y1;
    int bytes = frame->depth > 8 ? 2 : 1;
    for (int p = 0; p < frame->nb_planes; p++) {
        v->linesize[p] = (ptrdiff_t)um_frame_plane_width(v, p) * bytes;
        k->size += (size_t)v->linesize[p] * um_frame_plane_height(v, p);
    }
}

/* Copies area of frame into k (laid out for it, data allocated). */
static void fill(const um_frame *frame, um_box area, kept_crop *k)
{
    um_frame *v = &k->view;
    v->index = frame->index;
    v->time = frame->time;
    uint8_t *at = k->data;
    for (int p = 0; p < frame->nb_planes; p++) {
        int lw = um_frame_plane_log2_w(frame, p), lh = um_frame_plane_log2_h(frame, p);
        const uint8_t *src = frame->data[p] + (ptrdiff_t)(area.y1 >> lh) * frame->linesize[p] +
                             (ptrdiff_t)(area.x1 >> lw) * (frame->depth > 8 ? 2 : 1);
        v->data[p] = at;
        for (int r = 0; r < um_frame_plane_height(v, p); r++)
            memcpy(at + r * v->linesize[p], src + r * frame->linesize[p], (size_t)v->linesize[p]);
        at += v->linesize[p] * um_frame_plane_height(v, p);
    }
}

static kept_crop copy_area(const um_frame *frame, um_box area)
{
    kept_crop k;
    lay_out(frame, area, &k);
    k.data = um_xmalloc(k.size);
    fill(frame, area, &k);
    return k;
}

/* Lets every other kept frame go until the crops fit the limit again; when
 * even one frame's crops do not, keeps nothing more. */
static void thin_out(um_crop_cache *c)
{
    while (c->bytes > c->limit && !c->given_up) {
        if (c->step > c->nb_frames) {
            um_crop_cache_clear(c);
            c->given_up = 1;
            um_log(UM_LOG_INFO, "matte: one frame's crops pass the %lld MiB the detection pass may keep; "
                   "the matte pass decodes the video again", (long long)(c->limit >> 20));
            return;
        }
        c->step *= 2;
        for (int64_t t = 0; t < c->nb_frames; t++)
            if (t % c->step)
                drop_frame(c, &c->frames[t]);
        um_log(UM_LOG_DEBUG, "matte: keeping crops of every %lld-th frame to stay under %lld MiB",
               (long long)c->step, (long long)(c->limit >> 20));
    }
}

/* The kept crops of frame index t (grown to hold it). */
static kept_frame *frame_slot(um_crop_cache *c, int64_t t)
{
    if (t >= c->cap) {
        int64_t cap = c->cap ? c->cap : 1024;
        while (cap <= t)
            cap *= 2;
        c->frames = um_xrealloc(c->frames, (size_t)cap * sizeof(kept_frame));
        memset(c->frames + c->cap, 0, (size_t)(cap - c->cap) * sizeof(kept_frame));
        c->cap = cap;
    }
    if (t >= c->nb_frames)
        c->nb_frames = t + 1;
    return &c->frames[t];
}

/* Keeps the crops of frame for spots[first..n). */
static void keep_areas(um_crop_cache *c, const um_frame *frame, const um_detect_live *spots, int first, int n)
{
    if (frame->index % c->step)
        return;
    kept_frame *f = frame_slot(c, frame->index);
    um_box areas[MAX_CROPS];
    int count = areas_to_keep(frame, spots, first, n, areas);
    for (int i = 0; i < count && f->n < MAX_CROPS; i++) {
        f->crops[f->n] = copy_area(frame, areas[i]);
        c->bytes += (int64_t)f->crops[f->n++].size;
    }
}

/* Holds the reader's frame in the delay line, in place of the oldest once
 * it is full. The line is shortened to take at most half the limit. */
static void delay_frame(um_crop_cache *c, um_media_held *held)
{
    const um_frame *frame = um_media_held_frame(held);
    if (!c->delayed) {
        kept_crop whole;
        lay_out(frame, (um_box){0, 0, frame->width, frame->height}, &whole);
        c->frame_bytes = (int64_t)whole.size;
        int64_t fits = c->limit / 2 / c->frame_bytes;
        c->delay = fits < c->delay ? (int)fits : c->delay;
        c->delayed = um_xcalloc((size_t)(c->delay ? c->delay : 1), sizeof(*c->delayed));
    }
    if (!c->delay) {
        um_media_held_release(&held);
        return;
    }
    if (c->nb_delayed == c->delay) {
        um_media_held_release(&c->delayed[c->head]);
        c->delayed[c->head] = held;
        c->head = (c->head + 1) % c->delay;
        return;
    }
    c->delayed[(c->head + c->nb_delayed++) % c->delay] = held;
    c->bytes += c->frame_bytes;
}

/* Newly found marks (spots[c->spots..n)) were showing in the frames held
 * back: keeps their crops from there. */
static void keep_new_spots(um_crop_cache *c, const um_detect_live *spots, int n)
{
    if (n <= c->spots)
        return;
    for (int i = 0; i < c->nb_delayed; i++)
        keep_areas(c, um_media_held_frame(c->delayed[(c->head + i) % c->delay]), spots, c->spots, n);
    c->spots = n;
}

void um_crop_cache_keep(um_crop_cache *c, um_media_held *held, const um_detect_live *spots, int n)
{
    const um_frame *frame = um_media_held_frame(held);
    if (c->limit <= 0 || c->given_up || frame->index < 0) {
        um_media_held_release(&held);
        return;
    }
    keep_new_spots(c, spots, n);
    keep_areas(c, frame, spots, 0, n);
    delay_frame(c, held);
    thin_out(c);
}

void um_crop_cache_finish(um_crop_cache *c, const um_detect_live *spots, int n)
{
    if (c->limit <= 0 || c->given_up)
        return;
    keep_new_spots(c, spots, n);
    thin_out(c);
}

int um_crop_cache_find(const um_crop_cache *c, int64_t t, um_box need, um_frame *crop)
{
    if (t < 0 || t >= c->nb_frames)
        return 0;
    const kept_frame *f = &c->frames[t];
    for (int i = 0; i < f->n; i++) {
        if (um_frame_covers(&f->crops[i].view, need)) {
            *crop = f->crops[i].view;
            return 1;
        }
    }
    return 0;
}

int64_t um_crop_cache_bytes(const um_crop_cache *c) { return c->bytes; }
