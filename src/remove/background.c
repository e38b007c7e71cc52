/*
 * The background behind a mark that never leaves its place (a TV bug over a
 * moving camera): a mosaic of what the camera saw around the mark, in the
 * scene's own coordinates.
 *
 * Each frame is registered against the one before by blocks of the picture
 * around the mark (a similarity: pan, zoom, a little rotation, to a
 * fraction of a pixel), and its pixels around the mark are added to the
 * mosaic there. As the camera moves, the part of the
 * scene that is under the mark in one frame shows beside it in others: the
 * mosaic then knows the true picture I under the mark, which no inpainting
 * can guess, and the matte fit gets exact pairs (J, I) instead of guesses.
 *
 * A frame that does not register (a cut, a crowd walking by) is neither
 * added nor positioned, and ends the chain of poses.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "remove/remove_internal.h"

/* Pixels around the mark's box that register each frame and feed the
 * mosaic: wide enough for texture, near enough to move with the mark's
 * surroundings. A bug sits in a corner, where the frame's edges cut the
 * ring to two sides: at 64 pixels, a bug in a corner over a zoom kept too
 * few textured blocks (27 at most, fewer as a flat wall came in) and lost
 * the camera at frame 75 of 180, before the picture under it had shown. */
#define RING 128
/* The mark's box grown by this much is never read: its soft edge. */
#define GUARD 4
/* Beyond the region, how far a block may be searched for: a camera moving
 * up to about this many pixels a frame (a block searched beyond a crop
 * given instead of a frame counts as off the picture). */
#define REACH 32
/* How far the camera may wander from where it began, in pixels. */
#define EXCURSION 256
/* Blocks matched from one frame to the next: their size, the spacing of
 * their centres along the ring, and how far (pixels) each is searched
 * around where the last motion predicts it. */
#define BLOCK 24
#define BLOCK_SPACING 16
#define SEARCH 6
#define MAX_BLOCKS 128
/* A block flatter than this (mean absolute deviation, 8-bit levels) cannot
 * be placed; a match further than this (pixels) from the fitted motion is
 * an outlier (something moving on its own). */
#define MIN_TEXTURE 3.0
#define MAX_RESIDUAL 1.0
#define MIN_BLOCKS 4

typedef struct {
    float *mean;        /* running mean per cell */
    uint16_t *count;    /* observations per cell (saturating) */
    int w, h;           /* cells */
    int lw, lh;         /* subsampling against luma */
} canvas;

struct um_background {
    um_box region;      /* frame pixels read: the box grown by RING */
    um_box inner;       /* frame pixels never read: the box grown by GUARD */
    int nb_planes, depth;
    canvas planes[MATTE_MAX_PLANES];
    uint16_t *prev;     /* the last frame's luma, region-sized */
    um_background_pose pose;  /* the last frame's */
    um_background_pose step;  /* the last motion, previous frame -> last frame */
    int frames;         /* frames added */
    int lost;           /* a frame did not register: the chain of poses is broken */
    int nb_blocks;
    float block_x[MAX_BLOCKS], block_y[MAX_BLOCKS];  /* block corners, frame pixels */
};

static int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

/* Whether luma pixel (x, y) is one the background reads: in the region,
 * outside the mark. */
static int in_ring(const um_background *bg, int x, int y)
{
    return x >= bg->region.x1 && x < bg->region.x2 && y >= bg->region.y1 && y < bg->region.y2 &&
           !(x >= bg->inner.x1 && x < bg->inner.x2 && y >= bg->inner.y1 && y < bg->inner.y2);
}

/* Whether a block at (x, y) and its search window lie in the region and
 * off the mark. */
static int block_in_ring(const um_background *bg, int x, int y)
{
    int pad = SEARCH + 1;
    if (x - pad < bg->region.x1 || y - pad < bg->region.y1 || x + BLOCK + pad > bg->region.x2 ||
        y + BLOCK + pad > bg->region.y2)
        return 0;
    return !(x + BLOCK + pad > bg->inner.x1 && x - pad < bg->inner.x2 && y + BLOCK + pad > bg->inner.y1 &&
             y - pad < bg->inner.y2);
}

/* Blocks on a grid over the ring, wherever one fits whole with its search
 * window. */
static void place_blocks(um_background *bg)
{
    for (int y = bg->region.y1; y + BLOCK <= bg->region.y2; y += BLOCK_SPACING)
        for (int x = bg->region.x1; x + BLOCK <= bg->region.x2 && bg->nb_blocks < MAX_BLOCKS; x += BLOCK_SPACING)
            if (block_in_ring(bg, x, y)) {
                bg->block_x[bg->nb_blocks] = (float)x;
                bg->block_y[bg->nb_blocks++] = (float)y;
            }
}

um_box um_background_reads(um_box box, int width, int height) { return um_box_grown(box, RING + REACH, width, height); }

um_background *um_background_new(um_box box, int width, int height, const um_frame *layout)
{
    um_background *bg = um_xcalloc(1, sizeof(*bg));
    bg->region = um_box_grown(box, RING, width, height);
    bg->inner = um_box_grown(box, GUARD, width, height);
    bg->nb_planes = layout->nb_planes - (layout->has_alpha ? 1 : 0);
    bg->nb_planes = bg->nb_planes > MATTE_MAX_PLANES ? MATTE_MAX_PLANES : bg->nb_planes;
    bg->depth = layout->depth;
    int rw = bg->region.x2 - bg->region.x1, rh = bg->region.y2 - bg->region.y1;
    for (int p = 0; p < bg->nb_planes; p++) {
        canvas *c = &bg->planes[p];
        int chroma = (p == 1 || p == 2) && !layout->is_rgb;
        c->lw = chroma ? layout->log2_chroma_w : 0;
        c->lh = chroma ? layout->log2_chroma_h : 0;
        c->w = (rw + 2 * EXCURSION) >> c->lw;
        c->h = (rh + 2 * EXCURSION) >> c->lh;
        c->mean = um_xcalloc((size_t)c->w * c->h, sizeof(float));
        c->count = um_xcalloc((size_t)c->w * c->h, sizeof(uint16_t));
    }
    bg->prev = um_xmalloc((size_t)rw * rh * sizeof(uint16_t));
    /* The first frame's region sits EXCURSION cells into the canvas. */
    bg->pose = (um_background_pose){1, 0, (float)(EXCURSION - bg->region.x1), (float)(EXCURSION - bg->region.y1)};
    bg->step = (um_background_pose){1, 0, 0, 0};
    place_blocks(bg);
    return bg;
}

void um_background_free(um_background **bg)
{
    if (!*bg)
        return;
    for (int p = 0; p < (*bg)->nb_planes; p++) {
        free((*bg)->planes[p].mean);
        free((*bg)->planes[p].count);
    }
    free((*bg)->prev);
    free(*bg);
    *bg = NULL;
}

/* The sample at (x, y) of plane p of f, counted from f's own corner. */
static float sample_at(const um_frame *f, int p, int x, int y)
{
    const uint8_t *row = f->data[p] + (ptrdiff_t)y * f->linesize[p];
    return f->depth > 8 ? ((const uint16_t *)row)[x] : row[x];
}

/* Applies a pose: (x, y) -> (a x - b y + tx, b x + a y + ty). */
static void apply(const um_background_pose *m, float x, float y, float *ox, float *oy)
{
    *ox = m->a * x - m->b * y + m->tx;
    *oy = m->b * x + m->a * y + m->ty;
}

static um_background_pose invert(const um_background_pose *m)
{
    float d = m->a * m->a + m->b * m->b;
    um_background_pose r = {m->a / d, -m->b / d, 0, 0};
    r.tx = -(r.a * m->tx - r.b * m->ty);
    r.ty = -(r.b * m->tx + r.a * m->ty);
    return r;
}

/* m then n. */
static um_background_pose compose(const um_background_pose *n, const um_background_pose *m)
{
    um_background_pose r = {n->a * m->a - n->b * m->b, n->b * m->a + n->a * m->b, 0, 0};
    apply(n, m->tx, m->ty, &r.tx, &r.ty);
    return r;
}

/* The vertex of the parabola through (-1, a), (0, b), (1, c): the
 * sub-pixel offset of a minimum at 0. */
static float vertex(double a, double b, double c)
{
    double d = a - 2 * b + c;
    if (!isfinite(d) || d <= 0)
        return 0;
    double v = 0.5 * (a - c) / d;
    return (float)(v < -0.5 ? -0.5 : v > 0.5 ? 0.5 : v);
}

/* The square of the frame a block's search reads: the block and SEARCH
 * samples around it. */
#define WINDOW (BLOCK + 2 * SEARCH)

/* Whether a block with its corner at (x, y) lies inside the frame (or the
 * crop of it that f is). */
static int block_inside(const um_frame *f, int x, int y)
{
    return x >= f->x0 && y >= f->y0 && x + BLOCK <= f->x0 + f->width && y + BLOCK <= f->y0 + f->height;
}

/* Copies the frame's luma in the window with its corner at (wx, wy) into
 * win as whole numbers of one width, whatever the depth, so that the
 * searches' sums vectorise; what lies outside the frame is left unset
 * (no block inside the frame reads it). */
static void read_window(const um_frame *f, int wx, int wy, uint16_t *win)
{
    for (int r = 0; r < WINDOW; r++)
        for (int c = 0; c < WINDOW; c++) {
            int x = wx + c - f->x0, y = wy + r - f->y0;
            if (x >= 0 && y >= 0 && x < f->width && y < f->height)
                win[r * WINDOW + c] = (uint16_t)sample_at(f, 0, x, y);
        }
}

/* Sum of absolute differences between the previous frame's block at
 * (bx, by) and the window's at (ox, oy); INFINITY once the rows summed so
 * far pass `above` (the sum only grows: the whole would pass it too). It
 * runs (2 SEARCH + 1)^2 times per block and frame, the most of anything
 * in the matte pass, and most positions of a search are far off. */
static double block_sad(const um_background *bg, int bx, int by, const uint16_t *win, int ox, int oy,
                        double above)
{
    int rw = bg->region.x2 - bg->region.x1;
    uint32_t sum = 0;
    for (int r = 0; r < BLOCK; r++) {
        const uint16_t *prev = bg->prev + (size_t)(by - bg->region.y1 + r) * rw + (bx - bg->region.x1);
        const uint16_t *cur = win + (oy + r) * WINDOW + ox;
        for (int c = 0; c < BLOCK; c++)
            sum += (uint32_t)abs((int)prev[c] - (int)cur[c]);
        if (sum > above)
            return INFINITY;
    }
    return sum;
}

/* The cost of the search's position (dx, dy), both within SEARCH: the
 * block's difference there, INFINITY where the block would leave the
 * frame or its difference passes `above`. */
static double search_cost(const um_background *bg, const um_frame *f, int i, const uint16_t *win, int cx, int cy,
                          int dx, int dy, double above)
{
    if (!block_inside(f, cx + dx, cy + dy))
        return INFINITY;
    return block_sad(bg, (int)bg->block_x[i], (int)bg->block_y[i], win, dx + SEARCH, dy + SEARCH, above);
}

/* How textured the previous frame's block is (its mean absolute deviation,
 * 8-bit levels): flat blocks cannot be placed. */
static double block_texture(const um_background *bg, int bx, int by)
{
    int rw = bg->region.x2 - bg->region.x1;
    const uint16_t *block = bg->prev + (size_t)(by - bg->region.y1) * rw + (bx - bg->region.x1);
    double mean = 0, dev = 0;
    for (int r = 0; r < BLOCK; r++)
        for (int c = 0; c < BLOCK; c++)
            mean += block[(size_t)r * rw + c];
    mean /= BLOCK * BLOCK;
    for (int r = 0; r < BLOCK; r++)
        for (int c = 0; c < BLOCK; c++)
            dev += fabs(block[(size_t)r * rw + c] - mean);
    return dev / (BLOCK * BLOCK) / (1 << (bg->depth - 8));
}

/* Where block i of the previous frame went in this one, to a fraction of
 * a pixel: 1 and (*x, *y) its new corner, or 0 when it cannot be told. */
static int match_block(const um_background *bg, const um_frame *f, int i, float *x, float *y)
{
    int bx = (int)bg->block_x[i], by = (int)bg->block_y[i];
    if (block_texture(bg, bx, by) < MIN_TEXTURE)
        return 0;
    float px, py;
    apply(&bg->step, (float)bx, (float)by, &px, &py);
    int cx = (int)lrintf(px), cy = (int)lrintf(py);
    double costs[2 * SEARCH + 1][2 * SEARCH + 1], best = INFINITY;
    int bi = 0, bj = 0;
    uint16_t win[WINDOW * WINDOW];
    read_window(f, cx - SEARCH, cy - SEARCH, win);
    /* The predicted position first, as a bound: a position that costs more
     * cannot be the least, and its sum stops early. The first least
     * position in scan order wins, as it would without the bound. */
    double predicted = search_cost(bg, f, i, win, cx, cy, 0, 0, INFINITY);
    for (int dy = -SEARCH; dy <= SEARCH; dy++)
        for (int dx = -SEARCH; dx <= SEARCH; dx++) {
            double c = dx || dy ? search_cost(bg, f, i, win, cx, cy, dx, dy, fmin(best, predicted)) : predicted;
            costs[dy + SEARCH][dx + SEARCH] = c;
            if (c < best) {
                best = c;
                bi = dy + SEARCH;
                bj = dx + SEARCH;
            }
        }
    if (!isfinite(best) || bi == 0 || bj == 0 || bi == 2 * SEARCH || bj == 2 * SEARCH)
        return 0;
    /* The sub-pixel vertex needs the best's neighbours' whole costs. */
    const int around[4][2] = {{-1, 0}, {1, 0}, {0, -1}, {0, 1}};
    for (int k = 0; k < 4; k++) {
        int ni = bi + around[k][0], nj = bj + around[k][1];
        if (!isfinite(costs[ni][nj]))
            costs[ni][nj] = search_cost(bg, f, i, win, cx, cy, nj - SEARCH, ni - SEARCH, INFINITY);
    }
    *x = (float)(cx + bj - SEARCH) + vertex(costs[bi][bj - 1], best, costs[bi][bj + 1]);
    *y = (float)(cy + bi - SEARCH) + vertex(costs[bi - 1][bj], best, costs[bi + 1][bj]);
    return 1;
}

/* The similarity (scale, rotation, shift) taking the points (x, y) to
 * (u, v), least squares over the used ones: 0 when too few. */
static int fit_similarity(const float *x, const float *y, const float *u, const float *v, const uint8_t *use,
                          int n, um_background_pose *m)
{
    double sx = 0, sy = 0, su = 0, sv = 0, k = 0;
    for (int i = 0; i < n; i++)
        if (use[i]) {
            sx += x[i], sy += y[i], su += u[i], sv += v[i];
            k++;
        }
    if (k < MIN_BLOCKS)
        return 0;
    sx /= k, sy /= k, su /= k, sv /= k;
    double num_a = 0, num_b = 0, den = 0;
    for (int i = 0; i < n; i++)
        if (use[i]) {
            double dx = x[i] - sx, dy = y[i] - sy, du = u[i] - su, dv = v[i] - sv;
            num_a += dx * du + dy * dv;
            num_b += dx * dv - dy * du;
            den += dx * dx + dy * dy;
        }
    if (den <= 0)
        return 0;
    m->a = (float)(num_a / den);
    m->b = (float)(num_b / den);
    m->tx = (float)(su - (m->a * sx - m->b * sy));
    m->ty = (float)(sv - (m->b * sx + m->a * sy));
    return 1;
}

/* The blocks' matches in one frame, one item per block: the matte pass
 * runs them on every core (the decoder and encoder are idle then). */
typedef struct {
    const um_background *bg;
    const um_frame *f;
    float *u, *v;
    uint8_t *use;
} block_matches;

static void match_item(void *opaque, int i)
{
    block_matches *m = opaque;
    m->use[i] = (uint8_t)match_block(m->bg, m->f, i, &m->u[i], &m->v[i]);
}

/* The motion from the previous frame to this one, from the blocks that
 * agree with it: 0 when it cannot be told. */
static int estimate_step(um_background *bg, const um_frame *f, um_background_pose *step)
{
    float x[MAX_BLOCKS], y[MAX_BLOCKS], u[MAX_BLOCKS], v[MAX_BLOCKS];
    uint8_t use[MAX_BLOCKS];
    for (int i = 0; i < bg->nb_blocks; i++) {
        x[i] = bg->block_x[i];
        y[i] = bg->block_y[i];
    }
    block_matches matches = {bg, f, u, v, use};
    um_parallel_for(bg->nb_blocks, match_item, &matches);
    /* Fit, drop the blocks far from the fit, twice; the third fit stands. */
    for (int round = 0;; round++) {
        if (!fit_similarity(x, y, u, v, use, bg->nb_blocks, step))
            return 0;
        if (round == 2)
            return 1;
        for (int i = 0; i < bg->nb_blocks; i++) {
            float px, py;
            apply(step, x[i], y[i], &px, &py);
            if (use[i] && hypotf(px - u[i], py - v[i]) > MAX_RESIDUAL)
                use[i] = 0;
        }
    }
}

/* Bilinear sample of plane p of the frame at plane coordinates (x, y). */
static float frame_bilinear(const um_frame *f, int p, float x, float y)
{
    int x0 = (int)floorf(x), y0 = (int)floorf(y);
    float ax = x - (float)x0, ay = y - (float)y0;
    float a = sample_at(f, p, x0, y0), b = sample_at(f, p, x0 + 1, y0);
    float c = sample_at(f, p, x0, y0 + 1), d = sample_at(f, p, x0 + 1, y0 + 1);
    return (a + (b - a) * ax) * (1 - ay) + (c + (d - c) * ax) * ay;
}

/* Bands of canvas rows a plane is pasted in, side by side on the cores
 * (the matte pass has them to itself): on a bug that never leaves, pasting
 * took about as much of the pass as matching the blocks did (perf record
 * of `remove` on h4 and p4 of the benchmark). */
#define PASTE_BANDS 8

/* One frame's paste into its canvases: per plane, the canvas cells the
 * region can reach and the pose from the canvas back to the frame. */
typedef struct {
    um_background *bg;
    const um_frame *f;
    um_background_pose back;
    int cu1[MATTE_MAX_PLANES], cu2[MATTE_MAX_PLANES], cv1[MATTE_MAX_PLANES], cv2[MATTE_MAX_PLANES];
} paste_job;

/* The canvas cells of plane p the region can reach at the pose: its
 * corners' images. */
static void paste_area(paste_job *j, int p)
{
    const um_background *bg = j->bg;
    const canvas *c = &bg->planes[p];
    float s = (float)(1 << c->lw), t = (float)(1 << c->lh);
    float u1 = INFINITY, v1 = INFINITY, u2 = -INFINITY, v2 = -INFINITY;
    for (int k = 0; k < 4; k++) {
        float cu, cv;
        apply(&bg->pose, (float)(k & 1 ? bg->region.x2 : bg->region.x1),
              (float)(k & 2 ? bg->region.y2 : bg->region.y1), &cu, &cv);
        u1 = fminf(u1, cu), v1 = fminf(v1, cv), u2 = fmaxf(u2, cu), v2 = fmaxf(v2, cv);
    }
    j->cu1[p] = clampi((int)floorf(u1 / s), 0, c->w), j->cu2[p] = clampi((int)ceilf(u2 / s), 0, c->w);
    j->cv1[p] = clampi((int)floorf(v1 / t), 0, c->h), j->cv2[p] = clampi((int)ceilf(v2 / t), 0, c->h);
}

/* Adds canvas rows v1 .. v2 - 1 of plane p: every cell that shows a frame
 * point in the ring (a pixel's margin inside it) takes the frame's value
 * there into its running mean. */
static void paste_rows(const paste_job *j, int p, int v1, int v2)
{
    um_background *bg = j->bg;
    const um_frame *f = j->f;
    canvas *c = &bg->planes[p];
    float s = (float)(1 << c->lw), t = (float)(1 << c->lh);
    int pw = um_frame_plane_width(f, p), ph = um_frame_plane_height(f, p);
    float ox = (float)(f->x0 >> c->lw), oy = (float)(f->y0 >> c->lh);
    for (int v = v1; v < v2; v++)
        for (int u = j->cu1[p]; u < j->cu2[p]; u++) {
            float lx, ly;
            apply(&j->back, (float)u * s, (float)v * t, &lx, &ly);
            int ix = (int)floorf(lx), iy = (int)floorf(ly);
            if (!in_ring(bg, ix - 1, iy - 1) || !in_ring(bg, ix + 2, iy - 1) || !in_ring(bg, ix - 1, iy + 2) ||
                !in_ring(bg, ix + 2, iy + 2))
                continue;
            float fx = lx / s - ox, fy = ly / t - oy;
            if (fx < 0 || fy < 0 || fx + 1 >= (float)pw || fy + 1 >= (float)ph)
                continue;
            size_t k = (size_t)v * c->w + u;
            float value = frame_bilinear(f, p, fx, fy);
            if (c->count[k] < UINT16_MAX)
                c->count[k]++;
            c->mean[k] += (value - c->mean[k]) / (float)c->count[k];
        }
}

/* Item i: band i % PASTE_BANDS of plane i / PASTE_BANDS (luma's first:
 * the biggest). */
static void paste_item(void *opaque, int i)
{
    const paste_job *j = opaque;
    int p = i / PASTE_BANDS, band = i % PASTE_BANDS, rows = j->cv2[p] - j->cv1[p];
    paste_rows(j, p, j->cv1[p] + band * rows / PASTE_BANDS, j->cv1[p] + (band + 1) * rows / PASTE_BANDS);
}

/* Adds every plane of a frame at its pose to its canvas. */
static void paste(um_background *bg, const um_frame *f)
{
    paste_job j = {.bg = bg, .f = f, .back = invert(&bg->pose)};
    for (int p = 0; p < bg->nb_planes; p++)
        paste_area(&j, p);
    um_parallel_for(bg->nb_planes * PASTE_BANDS, paste_item, &j);
}

static void keep_luma(um_background *bg, const um_frame *f)
{
    int rw = bg->region.x2 - bg->region.x1;
    for (int y = bg->region.y1; y < bg->region.y2; y++)
        for (int x = bg->region.x1; x < bg->region.x2; x++)
            bg->prev[(size_t)(y - bg->region.y1) * rw + (x - bg->region.x1)] =
                (uint16_t)sample_at(f, 0, x - f->x0, y - f->y0);
}

int um_background_add(um_background *bg, const um_frame *f, um_background_pose *pose)
{
    if (bg->lost)
        return 0;
    if (!um_frame_covers(f, bg->region)) {
        um_log(UM_LOG_INFO, "matte: frame %lld lacks the picture around the mark at %d,%d: "
               "from there on the mark's matte is fitted without the scene behind it",
               (long long)f->index, bg->inner.x1 + GUARD, bg->inner.y1 + GUARD);
        bg->lost = 1;
        return 0;
    }
    if (bg->frames > 0) {
        um_background_pose step;
        if (!estimate_step(bg, f, &step)) {
            um_log(UM_LOG_INFO, "matte: frame %lld does not follow the camera's motion around the mark at %d,%d: "
                   "from there on the mark's matte is fitted without the scene behind it",
                   (long long)f->index, bg->inner.x1 + GUARD, bg->inner.y1 + GUARD);
            bg->lost = 1;
            return 0;
        }
        /* this frame -> the previous one -> the canvas */
        um_background_pose back = invert(&step);
        bg->pose = compose(&bg->pose, &back);
        bg->step = step;
    }
    paste(bg, f);
    keep_luma(bg, f);
    bg->frames++;
    *pose = bg->pose;
    return 1;
}

int um_background_lookup(const um_background *bg, int p, const um_background_pose *pose, um_box crop,
                         uint16_t *out)
{
    const canvas *c = &bg->planes[p];
    float s = (float)(1 << c->lw), t = (float)(1 << c->lh);
    int cx = crop.x1 >> c->lw, cy = crop.y1 >> c->lh;
    int w = ((crop.x2 + (1 << c->lw) - 1) >> c->lw) - cx, h = ((crop.y2 + (1 << c->lh) - 1) >> c->lh) - cy;
    int known = 0;
    for (int r = 0; r < h; r++)
        for (int q = 0; q < w; q++) {
            float lu, lv;
            apply(pose, (float)(cx + q) * s, (float)(cy + r) * t, &lu, &lv);
            float u = lu / s, v = lv / t;
            int iu = (int)floorf(u), iv = (int)floorf(v);
            uint16_t *o = &out[(size_t)r * w + q];
            *o = UM_BACKGROUND_UNKNOWN;
            if (iu < 0 || iv < 0 || iu + 1 >= c->w || iv + 1 >= c->h)
                continue;
            size_t k = (size_t)iv * c->w + iu;
            if (!c->count[k] || !c->count[k + 1] || !c->count[k + c->w] || !c->count[k + c->w + 1])
                continue;
            float au = u - (float)iu, av = v - (float)iv;
            float value = (c->mean[k] + (c->mean[k + 1] - c->mean[k]) * au) * (1 - av) +
                          (c->mean[k + c->w] + (c->mean[k + c->w + 1] - c->mean[k + c->w]) * au) * av;
            *o = (uint16_t)lrintf(value);
            known++;
        }
    return known;
}
