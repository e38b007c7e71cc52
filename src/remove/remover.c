/*
 * The remover: restores regions that come with a matte (inverting the
 * blend, then filling the residue) and fills the others, the user's
 * rectangles and mask, from their surroundings with the inpainting kernel,
 * plane by plane. The set of regions active at a frame's time decides what
 * is filled; kernel plans for each set seen are kept, so a video pays for a
 * plan once per set, not per frame.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "remove/remove_internal.h"
#include "unmark/kernels.h"

#define MAX_REGIONS 64
#define PLAN_CACHE 8
#define LUMA_RADIUS 5
#define CHROMA_RADIUS 3
/* A detected box this close to where its matte was fitted is the same
 * placement (detection works on a coarser grid than the matte). */
#define PLACEMENT_SLACK 4
/* Above this opacity inverting amplifies noise more than 10x (auto) or
 * more than 50x (unblend): fill instead. */
#define RESIDUE_ALPHA_AUTO 0.9f
#define RESIDUE_ALPHA_UNBLEND 0.98f
/* The coding noise of a typical H.264 picture, 8-bit levels: what the
 * inversion amplifies and its smoothing averages away. */
#define UNBLEND_NOISE 2.5f

/* What decides a frame's mask: the user's regions active at its time and
 * the boxes detection found in it. */
typedef struct {
    uint64_t regions;          /* bit i: region i active */
    int nb_boxes;
    um_region boxes[UM_REMOVE_MAX_BOXES];
} mask_key;

typedef struct {
    int used;
    mask_key key;
    uint8_t *mask;             /* width x height, luma grid */
    um_inpaint_plan *luma;     /* also for RGB and alpha planes */
    um_inpaint_plan *chroma;   /* on the subsampled grid; NULL for 4:4:4 */
    unsigned last_use;
} plan_set;

struct um_remover {
    um_region regions[MAX_REGIONS];
    int nb_regions;
    uint8_t *user_mask;        /* width x height or NULL */
    int width, height;
    int transparent;
    um_remove_method method;
    float residue_alpha;
    plan_set cache[PLAN_CACHE];
    unsigned clock;
    void *scratch;             /* the unblending kernel's */
    size_t scratch_size;
    um_stabiliser *stabiliser;
};

/* Clips a region to the frame; fails when nothing of it is inside. */
static int clip_region(um_region *r, int width, int height, um_error *err)
{
    if (r->x >= width || r->y >= height) {
        um_error_set(err, UM_ERR_USAGE, "--region %d,%d,%d,%d lies outside the %dx%d frame", r->x,
                     r->y, r->w, r->h, width, height);
        return -1;
    }
    if (r->x + r->w > width || r->y + r->h > height) {
        um_log(UM_LOG_WARN, "--region %d,%d,%d,%d reaches past the %dx%d frame: clipped", r->x, r->y,
               r->w, r->h, width, height);
        r->w = r->x + r->w > width ? width - r->x : r->w;
        r->h = r->y + r->h > height ? height - r->y : r->h;
    }
    return 0;
}

int um_remove_create(um_remover **remover, const um_remove_config *c, int width, int height,
                     um_error *err)
{
    if (c->nb_regions > MAX_REGIONS) {
        um_error_set(err, UM_ERR_USAGE, "too many --region options: at most %d", MAX_REGIONS);
        return -1;
    }
    if (c->mask && (c->mask_w != width || c->mask_h != height)) {
        um_error_set(err, UM_ERR_USAGE, "the mask is %dx%d but the video is %dx%d: they must match",
                     c->mask_w, c->mask_h, width, height);
        return -1;
    }
    um_remover *r = um_xcalloc(1, sizeof(*r));
    r->width = width;
    r->height = height;
    r->transparent = c->transparent;
    r->method = c->method;
    r->stabiliser = um_stabiliser_new();
    r->residue_alpha = c->method == UM_METHOD_UNBLEND ? RESIDUE_ALPHA_UNBLEND : RESIDUE_ALPHA_AUTO;
    r->nb_regions = c->nb_regions;
    for (int i = 0; i < c->nb_regions; i++) {
        r->regions[i] = c->regions[i];
        if (clip_region(&r->regions[i], width, height, err) < 0) {
            um_remove_free(&r);
            return -1;
        }
    }
    if (c->mask) {
        r->user_mask = um_xmalloc((size_t)width * height);
        memcpy(r->user_mask, c->mask, (size_t)width * height);
    }
    *remover = r;
    return 0;
}

int um_remove_parse_method(const char *text, um_remove_method *method, um_error *err)
{
    static const struct {
        const char *name;
        um_remove_method method;
    } names[] = {{"auto", UM_METHOD_AUTO}, {"unblend", UM_METHOD_UNBLEND}, {"inpaint", UM_METHOD_INPAINT}};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(text, names[i].name) == 0) {
            *method = names[i].method;
            return 0;
        }
    um_error_set(err, UM_ERR_USAGE, "--method %s: expected auto, unblend or inpaint", text);
    return -1;
}

static int region_active(const um_region *r, double t)
{
    return t >= r->start && (r->end < 0 || t < r->end);
}

/* True when box b lies where its matte was fitted, give or take the
 * detection grid. */
static int near_matte(const um_region *b)
{
    const um_box *m = &b->matte->mark;
    return abs(b->x - m->x1) <= PLACEMENT_SLACK && abs(b->y - m->y1) <= PLACEMENT_SLACK &&
           abs(b->x + b->w - m->x2) <= PLACEMENT_SLACK && abs(b->y + b->h - m->y2) <= PLACEMENT_SLACK;
}

/* A region restored with its matte: the matte's area, at its own place. */
static um_region matte_region(const um_matte *m)
{
    return (um_region){m->crop.x1, m->crop.y1, m->crop.x2 - m->crop.x1, m->crop.y2 - m->crop.y1,
                       0, -1, NULL, 0, m};
}

/* Builds the key of a frame; boxes are clipped to the frame (those with a
 * matte lie inside it by construction). */
static void active_key(const um_remover *r, double t, const um_region *boxes, int nb_boxes,
                       mask_key *key)
{
    memset(key, 0, sizeof(*key));
    for (int i = 0; i < r->nb_regions; i++)
        if (region_active(&r->regions[i], t))
            key->regions |= UINT64_C(1) << i;
    for (int i = 0; i < nb_boxes && key->nb_boxes < UM_REMOVE_MAX_BOXES; i++) {
        um_region b = boxes[i];
        if (b.matte && r->method != UM_METHOD_INPAINT && near_matte(&b)) {
            key->boxes[key->nb_boxes++] = matte_region(b.matte);
            continue;
        }
        b.matte = NULL;
        int x2 = b.x + b.w > r->width ? r->width : b.x + b.w;
        int y2 = b.y + b.h > r->height ? r->height : b.y + b.h;
        if (b.shape && (b.x < 0 || b.y < 0))
            b.shape += (b.y < 0 ? -b.y * b.shape_stride : 0) + (b.x < 0 ? -b.x : 0);
        b.x = b.x < 0 ? 0 : b.x;
        b.y = b.y < 0 ? 0 : b.y;
        if (x2 <= b.x || y2 <= b.y)
            continue;
        b.w = x2 - b.x;
        b.h = y2 - b.y;
        b.start = 0;
        b.end = -1;
        key->boxes[key->nb_boxes++] = b;
    }
}

static int same_key(const mask_key *a, const mask_key *b)
{
    return a->regions == b->regions && a->nb_boxes == b->nb_boxes &&
           memcmp(a->boxes, b->boxes, (size_t)a->nb_boxes * sizeof(a->boxes[0])) == 0;
}

/* Marks where a restored region cannot be inverted: opacity above the
 * method's limit. */
static void fill_residue(uint8_t *mask, int stride, const um_region *g, float residue_alpha)
{
    const um_matte *m = g->matte;
    for (int y = 0; y < g->h; y++) {
        uint8_t *row = mask + (size_t)(g->y + y) * stride + g->x;
        const float *alpha = m->alpha[0] + (size_t)y * m->pw[0];
        for (int x = 0; x < g->w; x++)
            row[x] |= alpha[x] > residue_alpha;
    }
}

/* Marks a region in the mask: its rectangle, or its shape within it. */
static void fill_rect(uint8_t *mask, int stride, const um_region *g)
{
    for (int y = 0; y < g->h; y++) {
        uint8_t *row = mask + (size_t)(g->y + y) * stride + g->x;
        if (!g->shape) {
            memset(row, 1, (size_t)g->w);
            continue;
        }
        const uint8_t *shape = g->shape + (ptrdiff_t)y * g->shape_stride;
        for (int x = 0; x < g->w; x++)
            row[x] |= shape[x] != 0;
    }
}

static uint8_t *build_mask(const um_remover *r, const mask_key *key)
{
    size_t n = (size_t)r->width * r->height;
    uint8_t *mask = r->user_mask ? memcpy(um_xmalloc(n), r->user_mask, n) : um_xcalloc(n, 1);
    for (int i = 0; i < r->nb_regions; i++)
        if (key->regions & (UINT64_C(1) << i))
            fill_rect(mask, r->width, &r->regions[i]);
    for (int i = 0; i < key->nb_boxes; i++) {
        if (key->boxes[i].matte)
            fill_residue(mask, r->width, &key->boxes[i], r->residue_alpha);
        else
            fill_rect(mask, r->width, &key->boxes[i]);
    }
    return mask;
}

static void plan_set_clear(plan_set *s)
{
    free(s->mask);
    um_kernel_inpaint_plan_free(s->luma);
    um_kernel_inpaint_plan_free(s->chroma);
    memset(s, 0, sizeof(*s));
}

static void plan_set_build(plan_set *s, const um_remover *r, const mask_key *key, const um_frame *f)
{
    s->used = 1;
    s->key = *key;
    s->mask = build_mask(r, key);
    s->luma = um_kernel_inpaint_plan(s->mask, r->width, r->width, r->height, LUMA_RADIUS);
    if (f->nb_planes >= 3 && !f->is_rgb && (f->log2_chroma_w || f->log2_chroma_h)) {
        int cw = um_frame_plane_width(f, 1), ch = um_frame_plane_height(f, 1);
        uint8_t *cmask = um_xmalloc((size_t)cw * ch);
        um_kernel_mask_subsample(s->mask, r->width, r->width, r->height, f->log2_chroma_w,
                                 f->log2_chroma_h, cmask, cw);
        s->chroma = um_kernel_inpaint_plan(cmask, cw, cw, ch, CHROMA_RADIUS);
        free(cmask);
    }
}

/* The plans for the regions active now: from the cache, or built and put in
 * place of the least recently used set. */
static const plan_set *plans_for(um_remover *r, const mask_key *key, const um_frame *f)
{
    plan_set *victim = &r->cache[0];
    for (int i = 0; i < PLAN_CACHE; i++) {
        plan_set *s = &r->cache[i];
        if (s->used && same_key(&s->key, key)) {
            s->last_use = ++r->clock;
            return s;
        }
        if (!s->used || s->last_use < victim->last_use)
            victim = s;
    }
    plan_set_clear(victim);
    plan_set_build(victim, r, key, f);
    victim->last_use = ++r->clock;
    return victim;
}

static void fill_plane(const um_inpaint_plan *plan, const um_frame *f, int p)
{
    if (!plan)
        return;
    if (f->depth > 8)
        um_kernel_inpaint_u16(plan, (uint16_t *)f->data[p], f->linesize[p], (1 << f->depth) - 1);
    else
        um_kernel_inpaint_u8(plan, f->data[p], f->linesize[p]);
}

/* The kernel's scratch, grown to the largest matte plane seen. */
static void *unblend_scratch(um_remover *r, int w, int h)
{
    size_t need = um_kernel_unblend_scratch(w, h);
    if (need > r->scratch_size) {
        free(r->scratch);
        r->scratch = um_xmalloc(need);
        r->scratch_size = need;
    }
    return r->scratch;
}

/* The coding noise the restoration assumes, in the frame's sample units. */
static float coding_noise(const um_frame *f)
{
    return UNBLEND_NOISE * (float)(1 << (f->depth - 8));
}

/* Inverts the blend of every restored region of the key, on every colour
 * plane the matte has. */
static void unblend_regions(um_remover *r, const mask_key *key, um_frame *f)
{
    float noise = coding_noise(f);
    for (int i = 0; i < key->nb_boxes; i++) {
        const um_matte *m = key->boxes[i].matte;
        for (int p = 0; m && p < m->nb_planes && p < f->nb_planes; p++) {
            void *scratch = unblend_scratch(r, m->pw[p], m->ph[p]);
            if (f->depth > 8) {
                uint16_t *at = (uint16_t *)(f->data[p] + (ptrdiff_t)m->py[p] * f->linesize[p]) + m->px[p];
                um_kernel_unblend_u16(at, f->linesize[p], m->alpha[p], m->pw[p], m->pw[p], m->ph[p],
                                      m->colour[p], m->colour_map[p], r->residue_alpha, noise,
                                      (1 << f->depth) - 1,
                                      scratch);
            } else {
                uint8_t *at = f->data[p] + (ptrdiff_t)m->py[p] * f->linesize[p] + m->px[p];
                um_kernel_unblend_u8(at, f->linesize[p], m->alpha[p], m->pw[p], m->pw[p], m->ph[p],
                                     m->colour[p], m->colour_map[p], r->residue_alpha, noise, scratch);
            }
        }
    }
}

int um_remove_frame(um_remover *r, um_frame *f, const um_region *boxes, int nb_boxes, um_error *err)
{
    if (f->width != r->width || f->height != r->height) {
        um_error_set(err, UM_ERR_INPUT, "frame %lld is %dx%d, not %dx%d", (long long)f->index,
                     f->width, f->height, r->width, r->height);
        return -1;
    }
    mask_key key;
    active_key(r, f->time, boxes, nb_boxes, &key);
    if (key.regions == 0 && key.nb_boxes == 0 && !r->user_mask)
        return 0;
    const plan_set *s = plans_for(r, &key, f);
    unblend_regions(r, &key, f);
    for (int p = 0; p < f->nb_planes; p++) {
        int subsampled = (p == 1 || p == 2) && s->chroma;
        fill_plane(subsampled ? s->chroma : s->luma, f, p);
    }
    for (int i = 0; i < key.nb_boxes; i++)
        if (key.boxes[i].matte)
            um_stabiliser_run(r->stabiliser, key.boxes[i].matte, f, r->residue_alpha, coding_noise(f));
    if (r->transparent) {
        f->removed = s->mask;
        f->removed_stride = r->width;
    }
    return 0;
}

int um_remove_lookahead(const um_remover *r)
{
    return r->transparent ? 0 : UM_REMOVE_LOOKAHEAD;
}

void um_remove_settle(um_remover *r, um_frame *f)
{
    um_stabiliser_settle(r->stabiliser, f);
}

void um_remove_free(um_remover **remover)
{
    um_remover *r = *remover;
    if (!r)
        return;
    for (int i = 0; i < PLAN_CACHE; i++)
        plan_set_clear(&r->cache[i]);
    free(r->user_mask);
    free(r->scratch);
    um_stabiliser_free(&r->stabiliser);
    free(r);
    *remover = NULL;
}
