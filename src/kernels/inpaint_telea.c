/*
 * unmark — kernels: Telea inpainting (A. Telea, "An Image Inpainting
 * Technique Based on the Fast Marching Method", 2004, with the weights of
 * OpenCV's cv::inpaint INPAINT_TELEA), split into a plan built once per mask
 * and a cheap apply run on every frame.
 *
 * Building the plan, on a window (the mask's bounding box grown by radius + 1
 * and clipped to the plane: nothing outside it can be a neighbour or a
 * gradient sample):
 *  1. Fast marching outwards from the mask's edge, over the unmasked pixels
 *     within radius of the mask, gives them T = -(distance to the mask), as
 *     OpenCV does, so the level-set weight knows how far out a known pixel is.
 *  2. Fast marching inwards over the masked pixels gives their T (distance to
 *     the known region) and the fill order: a pixel is filled when it leaves
 *     the narrow band, from the pixels known at that moment.
 *  3. Telea's estimate for a pixel p,
 *        I(p) = sum_q w(p,q) * [I(q) + G . (p - q)] / sum_q w(p,q),
 *     over the known q within radius, is linear in the samples once the
 *     weights and the finite differences used for the gradient G are fixed,
 *     and both depend on the mask alone. So the plan stores each pixel's
 *     estimate as a list of taps (offset, coefficient), the contributions of
 *     every q and of every difference merged per sample position. (Telea
 *     takes G = grad I(q), per neighbour; here G is the neighbourhood's mean
 *     gradient, which keeps ramps exact but stays stable on noisy video:
 *     see add_pixel_taps.)
 * Applying the plan evaluates the pixels' taps in fill order, in place. Taps
 * only point at pixels known before the pixel they fill, so pixels filled
 * earlier feed later ones exactly as in the sequential algorithm, and the
 * starting contents of masked pixels never matter.
 */
#include "unmark/kernels.h"

/* How far (8-bit levels) a filled pixel may go past the range of the
 * pixels it is made from. */
#define OVERSHOOT_U8 8

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "unmark/common.h"

/* Neighbours per pixel grow as radius^2 and tap offsets are 16-bit; radii
 * past this only cost time. */
enum { MAX_RADIUS = 255 };

/* One term of a filled pixel's value: coef times the sample dx, dy away. */
typedef struct {
    float coef;
    int16_t dx, dy;
} inpaint_tap;

struct um_inpaint_plan {
    size_t count;      /* pixels filled */
    int32_t *x, *y;    /* their positions in the plane, in fill order */
    size_t *first_tap; /* pixel i's taps are taps[first_tap[i] .. first_tap[i + 1]) */
    inpaint_tap *taps; /* NULL when no pixel has taps (an all-masked plane) */
};

/* ---- binary min-heap for the narrow band ------------------------------ */

typedef struct {
    float t;
    int32_t at;
} heap_entry;

typedef struct {
    heap_entry *v;
    size_t n, cap;
} min_heap;

/* Queues pixel at with tentative distance t, growing the heap as needed. */
static void heap_push(min_heap *heap, float t, int32_t at)
{
    if (heap->n == heap->cap) {
        heap->cap = heap->cap ? 2 * heap->cap : 256;
        heap->v = um_xrealloc(heap->v, heap->cap * sizeof *heap->v);
    }
    size_t i = heap->n++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (heap->v[parent].t <= t)
            break;
        heap->v[i] = heap->v[parent];
        i = parent;
    }
    heap->v[i] = (heap_entry){t, at};
}

/* Removes and returns the entry with the smallest t; the heap is not empty. */
static heap_entry heap_pop(min_heap *heap)
{
    heap_entry top = heap->v[0], last = heap->v[--heap->n];
    size_t i = 0;
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= heap->n)
            break;
        if (child + 1 < heap->n && heap->v[child + 1].t < heap->v[child].t)
            child++;
        if (last.t <= heap->v[child].t)
            break;
        heap->v[i] = heap->v[child];
        i = child;
    }
    if (heap->n > 0)
        heap->v[i] = last;
    return top;
}

/* ---- fast marching ------------------------------------------------------ */

/* Fast-marching states. BLOCKED pixels take no part in a march. */
enum { BLOCKED, FREE, BAND, KNOWN };

/* Transient state of a plan build; the arrays but order are window-sized
 * and indexed y * w + x in window coordinates. */
typedef struct {
    int x0, y0, w, h; /* the window, in plane coordinates */
    int radius;
    uint8_t *masked;  /* 1 where the mask selects */
    uint8_t *state;
    float *t;         /* T: > 0 inside the mask, 0 on its edge, < 0 outside */
    int32_t *rank;    /* fill position of a masked pixel; -1 for unmasked */
    int32_t *edge;    /* unmasked pixels with a masked 4-neighbour */
    size_t edge_count;
    int32_t *order;   /* masked pixels in fill order */
    size_t masked_count;
    min_heap heap;
} plan_builder;

static const int neighbour_dx[4] = {-1, 1, 0, 0};
static const int neighbour_dy[4] = {0, 0, -1, 1};

/* The window holds every pixel the plan can read, so outside it is treated
 * like outside the plane: never known, never a neighbour. */
static int in_window(const plan_builder *b, int x, int y)
{
    return x >= 0 && y >= 0 && x < b->w && y < b->h;
}

/* T at (x, y) if that pixel is known in the current march, else FLT_MAX. */
static float known_t(const plan_builder *b, int x, int y)
{
    if (!in_window(b, x, y) || b->state[y * b->w + x] != KNOWN)
        return FLT_MAX;
    return b->t[y * b->w + x];
}

/*
 * Upwind solution of |grad T| = 1 from the smallest known T along each axis
 * (FLT_MAX when an axis has none), as OpenCV's FastMarching_solve: the
 * quadratic's root when the two are within 1 of each other, else one step
 * past the smaller. Taking the smaller neighbour per axis first gives the
 * same result as OpenCV's minimum over the four neighbour pairs, since the
 * solution only grows with either input.
 */
static float upwind_distance(float along_x, float along_y)
{
    double a = along_x, c = along_y;
    double lo = a < c ? a : c, hi = a < c ? c : a;
    if (hi - lo >= 1.0)
        return (float)(1.0 + lo);
    return (float)((a + c + sqrt(2.0 - (a - c) * (a - c))) * 0.5);
}

/* Tentative T for window pixel (x, y) from its known 4-neighbours. */
static float solve_t(const plan_builder *b, int x, int y)
{
    float along_x = fminf(known_t(b, x - 1, y), known_t(b, x + 1, y));
    float along_y = fminf(known_t(b, x, y - 1), known_t(b, x, y + 1));
    return upwind_distance(along_x, along_y);
}

/* After (x, y) becomes known, lowers the tentative T of its free and band
 * neighbours and (re)queues them. A pixel may sit in the heap more than once;
 * only its first pop, which carries its smallest T, counts. */
static void relax_neighbours(plan_builder *b, int32_t at)
{
    int x = at % b->w, y = at / b->w;
    for (int k = 0; k < 4; k++) {
        int nx = x + neighbour_dx[k], ny = y + neighbour_dy[k];
        if (!in_window(b, nx, ny))
            continue;
        int32_t n = ny * b->w + nx;
        if (b->state[n] != FREE && b->state[n] != BAND)
            continue;
        float t = solve_t(b, nx, ny);
        if (t < b->t[n]) {
            b->t[n] = t;
            b->state[n] = BAND;
            heap_push(&b->heap, t, n);
        }
    }
}

/* Marches from the edge pixels (already KNOWN) over the FREE ones, freezing
 * them by increasing T; writes the freezing order to order when not NULL.
 * Returns how many pixels it froze. */
static size_t march(plan_builder *b, int32_t *order)
{
    size_t frozen = 0;
    for (size_t i = 0; i < b->edge_count; i++)
        relax_neighbours(b, b->edge[i]);
    while (b->heap.n > 0) {
        heap_entry e = heap_pop(&b->heap);
        if (b->state[e.at] == KNOWN)
            continue;
        b->state[e.at] = KNOWN;
        if (order)
            order[frozen] = e.at;
        frozen++;
        relax_neighbours(b, e.at);
    }
    return frozen;
}

/*
 * Outward march: T for the unmasked pixels within radius of the mask (the
 * only ones that can be neighbours), stored negated as OpenCV does, so that
 * |T(q) - T(p)| grows with how far q lies on either side of the edge.
 */
static void march_outside(plan_builder *b)
{
    size_t n = (size_t)b->w * (size_t)b->h;
    uint8_t *near = um_xmalloc(n);
    um_kernel_mask_dilate(b->masked, b->w, b->w, b->h, b->radius, near, b->w);
    for (size_t i = 0; i < n; i++) {
        b->state[i] = !b->masked[i] && near[i] ? FREE : BLOCKED;
        b->t[i] = FLT_MAX;
    }
    for (size_t i = 0; i < b->edge_count; i++) {
        b->state[b->edge[i]] = KNOWN;
        b->t[b->edge[i]] = 0.0f;
    }
    march(b, NULL);
    for (size_t i = 0; i < n; i++)
        if (!b->masked[i] && b->state[i] == KNOWN)
            b->t[i] = -b->t[i];
    free(near);
}

/*
 * Inward march: T and the fill order of the masked pixels. Every masked pixel
 * is reached: the window is connected and holds an unmasked pixel (the plan
 * handles the all-masked plane apart), so a path leads from each masked pixel
 * through masked pixels to the edge.
 */
static void march_inside(plan_builder *b)
{
    size_t n = (size_t)b->w * (size_t)b->h;
    for (size_t i = 0; i < n; i++) {
        b->state[i] = b->masked[i] ? FREE : KNOWN;
        if (b->masked[i])
            b->t[i] = FLT_MAX;
    }
    size_t filled = march(b, b->order);
    for (size_t r = 0; r < filled; r++)
        b->rank[b->order[r]] = (int32_t)r;
}

/* ---- building the plan -------------------------------------------------- */

/* Bounding box [x0, x1] x [y0, y1] of the mask; returns how many pixels it
 * selects. */
static size_t mask_bounds(const uint8_t *mask, ptrdiff_t stride, int w, int h, int box[4])
{
    size_t count = 0;
    box[0] = w, box[1] = h, box[2] = -1, box[3] = -1;
    for (int y = 0; y < h; y++) {
        const uint8_t *row = mask + y * stride;
        for (int x = 0; x < w; x++) {
            if (!row[x])
                continue;
            count++;
            box[0] = x < box[0] ? x : box[0];
            box[2] = x > box[2] ? x : box[2];
            box[1] = y < box[1] ? y : box[1];
            box[3] = y;
        }
    }
    return count;
}

/* v limited to lo .. hi. */
static int clamp_int(int v, int lo, int hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* Lists the unmasked window pixels with a masked 4-neighbour: the known side
 * of the mask's edge, where both marches start (T = 0). */
static void list_edge_pixels(plan_builder *b)
{
    for (int y = 0; y < b->h; y++)
        for (int x = 0; x < b->w; x++) {
            if (b->masked[y * b->w + x])
                continue;
            for (int k = 0; k < 4; k++) {
                int nx = x + neighbour_dx[k], ny = y + neighbour_dy[k];
                if (in_window(b, nx, ny) && b->masked[ny * b->w + nx]) {
                    b->edge[b->edge_count++] = y * b->w + x;
                    break;
                }
            }
        }
}

/*
 * Sets up the build on a window: the mask's bounding box grown by radius + 1
 * (neighbours lie within radius, their finite differences one pixel further)
 * and clipped to the plane, so the transient arrays follow the mask's size,
 * not the plane's.
 */
static void builder_open(plan_builder *b, const uint8_t *mask, ptrdiff_t stride, int w, int h,
                         int radius, const int box[4], size_t masked_count)
{
    memset(b, 0, sizeof *b);
    b->radius = radius;
    b->x0 = clamp_int(box[0] - radius - 1, 0, w - 1);
    b->y0 = clamp_int(box[1] - radius - 1, 0, h - 1);
    b->w = clamp_int(box[2] + radius + 1, 0, w - 1) - b->x0 + 1;
    b->h = clamp_int(box[3] + radius + 1, 0, h - 1) - b->y0 + 1;
    b->masked_count = masked_count;

    size_t n = (size_t)b->w * (size_t)b->h;
    b->masked = um_xmalloc(n);
    b->state = um_xmalloc(n);
    b->t = um_xmalloc(n * sizeof *b->t);
    b->rank = um_xmalloc(n * sizeof *b->rank);
    b->edge = um_xmalloc(n * sizeof *b->edge);
    b->order = um_xmalloc(masked_count * sizeof *b->order);
    for (int y = 0; y < b->h; y++) {
        const uint8_t *row = mask + (y + b->y0) * stride + b->x0;
        for (int x = 0; x < b->w; x++) {
            b->masked[y * b->w + x] = row[x] != 0;
            b->rank[y * b->w + x] = -1;
        }
    }
    list_edge_pixels(b);
}

/* Frees the transient arrays; the plan keeps none of them. */
static void builder_close(plan_builder *b)
{
    free(b->masked);
    free(b->state);
    free(b->t);
    free(b->rank);
    free(b->edge);
    free(b->order);
    free(b->heap.v);
}

/* Whether window pixel (x, y) holds a value when the pixel of the given fill
 * rank is filled: it is unmasked (rank -1), or masked and filled earlier. */
static int known_before(const plan_builder *b, int x, int y, int32_t rank)
{
    return in_window(b, x, y) && b->rank[y * b->w + x] < rank;
}

/* One component of grad T at window pixel at, from its neighbours step apart
 * that are already known: central difference when both are, one-sided with
 * the pixel itself when one is, 0 when neither. */
static double t_difference(const plan_builder *b, int32_t at, int32_t step, int lo_known,
                           int hi_known)
{
    if (lo_known && hi_known)
        return (b->t[at + step] - b->t[at - step]) * 0.5;
    if (hi_known)
        return b->t[at + step] - b->t[at];
    if (lo_known)
        return b->t[at] - b->t[at - step];
    return 0.0;
}

/*
 * Telea's weight of a known pixel q for the pixel p, with (dx, dy) = p - q:
 * direction |cos| between p - q and grad T (the normal of the front),
 * floored as OpenCV does so that no neighbour drops out entirely; distance
 * 1 / |p - q|^2; level set 1 / (1 + |T(p) - T(q)|). Always > 0.
 */
static double telea_weight(int dx, int dy, double grad_tx, double grad_ty, double grad_t_len,
                           double t_gap)
{
    double len2 = (double)(dx * dx + dy * dy);
    double dir = 0.0;
    if (grad_t_len > 0.0)
        dir = fabs(dx * grad_tx + dy * grad_ty) / (sqrt(len2) * grad_t_len);
    if (dir <= 0.01)
        dir = 1e-6;
    return dir / len2 / (1.0 + fabs(t_gap));
}

/* Offsets (dx, dy) with 0 < dx^2 + dy^2 <= radius^2: the neighbourhood. */
typedef struct {
    int16_t *dx, *dy;
    size_t count;
} disk_offsets;

/* Lists the disk row by row, so taps come out in memory order. */
static disk_offsets disk_make(int radius)
{
    size_t side = 2 * (size_t)radius + 1;
    disk_offsets d = {um_xmalloc(side * side * sizeof *d.dx), um_xmalloc(side * side * sizeof *d.dy),
                      0};
    for (int dy = -radius; dy <= radius; dy++)
        for (int dx = -radius; dx <= radius; dx++) {
            int len2 = dx * dx + dy * dy;
            if (len2 == 0 || len2 > radius * radius)
                continue;
            d.dx[d.count] = (int16_t)dx;
            d.dy[d.count] = (int16_t)dy;
            d.count++;
        }
    return d;
}

/*
 * One pixel's estimate under construction, as coefficients per sample offset
 * over the square the taps can reach (the disk plus one pixel for the
 * finite differences), in three parts combined at the end: the Telea weights
 * of the values I(q), and the sums of the x and y finite differences.
 */
typedef struct {
    double *value, *diff_x, *diff_y;
    int reach, side; /* offsets -reach .. reach; side = 2 * reach + 1 */
} tap_grid;

/* A zeroed grid for neighbourhoods of the given radius (one allocation). */
static tap_grid grid_make(int radius)
{
    tap_grid g = {NULL, NULL, NULL, radius + 1, 2 * radius + 3};
    size_t cells = (size_t)g.side * (size_t)g.side;
    g.value = um_xcalloc(3 * cells, sizeof *g.value);
    g.diff_x = g.value + cells;
    g.diff_y = g.value + 2 * cells;
    return g;
}

/* The cell of one of the grid's parts for sample offset (dx, dy). */
static double *grid_cell(const tap_grid *g, double *part, int dx, int dy)
{
    return &part[(dy + g->reach) * g->side + dx + g->reach];
}

typedef struct {
    inpaint_tap *v;
    size_t n, cap;
} tap_buffer;

/* Appends one tap, growing the buffer as needed. */
static void tap_append(tap_buffer *buf, float coef, int dx, int dy)
{
    if (buf->n == buf->cap) {
        buf->cap = buf->cap ? 2 * buf->cap : 4096;
        buf->v = um_xrealloc(buf->v, buf->cap * sizeof *buf->v);
    }
    buf->v[buf->n++] = (inpaint_tap){coef, (int16_t)dx, (int16_t)dy};
}

/*
 * Moves value * value_scale + diff_x * x_scale + diff_y * y_scale to buf as
 * taps, skipping zeros, in row-major order (the order apply reads memory),
 * and clears the grid for the next pixel.
 */
static void grid_flush(tap_grid *g, double value_scale, double x_scale, double y_scale,
                       tap_buffer *buf)
{
    for (int dy = -g->reach; dy <= g->reach; dy++)
        for (int dx = -g->reach; dx <= g->reach; dx++) {
            double *v = grid_cell(g, g->value, dx, dy);
            double *gx = grid_cell(g, g->diff_x, dx, dy);
            double *gy = grid_cell(g, g->diff_y, dx, dy);
            double c = *v * value_scale + *gx * x_scale + *gy * y_scale;
            if (c != 0.0)
                tap_append(buf, (float)c, dx, dy);
            *v = *gx = *gy = 0.0;
        }
}

/*
 * Adds to part the finite difference of I along axis (ax, ay) at q = p +
 * (ox, oy), over q's neighbours on that axis known by then: central when
 * both are, one-sided with q when one is. Returns 0, adding nothing, when
 * neither is and the derivative cannot be measured there.
 */
static int add_difference(const plan_builder *b, const tap_grid *g, double *part, int qx, int qy,
                          int ox, int oy, int ax, int ay, int32_t rank)
{
    int hi = known_before(b, qx + ax, qy + ay, rank);
    int lo = known_before(b, qx - ax, qy - ay, rank);
    if (hi + lo == 0)
        return 0;
    *grid_cell(g, part, ox + hi * ax, oy + hi * ay) += 1.0 / (hi + lo);
    *grid_cell(g, part, ox - lo * ax, oy - lo * ay) -= 1.0 / (hi + lo);
    return 1;
}

/* Direction of the front at window pixel at: grad T from its known
 * neighbours. */
static void front_normal(const plan_builder *b, int32_t at, double *gx, double *gy)
{
    int x = at % b->w, y = at / b->w;
    int32_t rank = b->rank[at];
    *gx = t_difference(b, at, 1, known_before(b, x - 1, y, rank), known_before(b, x + 1, y, rank));
    *gy = t_difference(b, at, b->w, known_before(b, x, y - 1, rank),
                       known_before(b, x, y + 1, rank));
}

/*
 * Telea's first-order estimate for masked window pixel at, as taps appended
 * to buf, with one change: every neighbour's term I(q) + G . (p - q) uses G,
 * the mean of the finite-difference gradients measured over the known
 * neighbourhood, instead of the gradient at q alone. The sum then reads
 *     I(p) = Ibar + G . (p - qbar)
 * with Ibar and qbar the Telea-weighted mean value and position. Why: with
 * per-q gradients, each pixel extrapolates the slope between the last two
 * filled pixels, so noise in those slopes is integrated twice as the front
 * moves in; over a 300x120 mark on a background with noise of sigma 3 the
 * fill swings to 0 and 255. The mean gradient keeps linear ramps exact (every
 * difference equals the slope) while averaging the noise away. An axis with
 * no measurable difference anywhere in the disk gets no first-order term.
 * The weight sum is never 0: the pixel entered the band from a known
 * 4-neighbour, which lies within any radius >= 1 and has a positive weight.
 */
static void add_pixel_taps(const plan_builder *b, const disk_offsets *disk, tap_grid *g,
                           int32_t at, tap_buffer *buf)
{
    int x = at % b->w, y = at / b->w;
    int32_t rank = b->rank[at];
    double grad_tx, grad_ty;
    front_normal(b, at, &grad_tx, &grad_ty);
    double grad_t_len = hypot(grad_tx, grad_ty);
    double weight_sum = 0.0, offset_x = 0.0, offset_y = 0.0;
    int x_differences = 0, y_differences = 0;

    for (size_t k = 0; k < disk->count; k++) {
        int ox = disk->dx[k], oy = disk->dy[k];
        int qx = x + ox, qy = y + oy;
        if (!known_before(b, qx, qy, rank))
            continue;
        double w = telea_weight(-ox, -oy, grad_tx, grad_ty, grad_t_len,
                                (double)b->t[qy * b->w + qx] - b->t[at]);
        weight_sum += w;
        offset_x -= w * ox;
        offset_y -= w * oy;
        *grid_cell(g, g->value, ox, oy) += w;
        x_differences += add_difference(b, g, g->diff_x, qx, qy, ox, oy, 1, 0, rank);
        y_differences += add_difference(b, g, g->diff_y, qx, qy, ox, oy, 0, 1, rank);
    }
    /* (p - qbar) on each axis, times the mean difference's 1 / count. */
    double x_scale = x_differences ? offset_x / weight_sum / x_differences : 0.0;
    double y_scale = y_differences ? offset_y / weight_sum / y_differences : 0.0;
    grid_flush(g, 1.0 / weight_sum, x_scale, y_scale, buf);
}

/* A plan for count pixels with their positions unset and no taps yet. */
static um_inpaint_plan *plan_alloc(size_t count)
{
    um_inpaint_plan *plan = um_xcalloc(1, sizeof *plan);
    plan->count = count;
    plan->x = um_xmalloc(count * sizeof *plan->x);
    plan->y = um_xmalloc(count * sizeof *plan->y);
    plan->first_tap = um_xcalloc(count + 1, sizeof *plan->first_tap);
    return plan;
}

/* The plan proper: every masked pixel's position and taps, in fill order.
 * Only this outlives the build, so the plan's memory is the masked pixels
 * times their taps. */
static um_inpaint_plan *plan_from_builder(const plan_builder *b)
{
    um_inpaint_plan *plan = plan_alloc(b->masked_count);
    disk_offsets disk = disk_make(b->radius);
    tap_grid grid = grid_make(b->radius);
    /* Sized for about one tap per disk offset, which the taps rarely pass,
     * so the buffer is not copied over and over while it grows. */
    tap_buffer buf = {NULL, 0, b->masked_count * disk.count};
    buf.v = um_xmalloc(buf.cap * sizeof *buf.v);

    for (size_t i = 0; i < b->masked_count; i++) {
        int32_t at = b->order[i];
        plan->x[i] = b->x0 + at % b->w;
        plan->y[i] = b->y0 + at / b->w;
        add_pixel_taps(b, &disk, &grid, at, &buf);
        plan->first_tap[i + 1] = buf.n;
    }
    plan->taps = um_xrealloc(buf.v, buf.n * sizeof *buf.v);
    free(grid.value);
    free(disk.dx);
    free(disk.dy);
    return plan;
}

/* With no known pixel anywhere there is nothing to extend: every pixel is
 * listed with no taps, which apply fills with mid-grey. */
static um_inpaint_plan *plan_all_grey(int w, int h)
{
    um_inpaint_plan *plan = plan_alloc((size_t)w * (size_t)h);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            plan->x[(size_t)y * w + x] = x;
            plan->y[(size_t)y * w + x] = y;
        }
    return plan;
}

/*
 * Radius is held to 1 .. MAX_RADIUS: at least the 4-neighbours, so every
 * pixel has a known neighbour when it is filled. A plane masked whole has no
 * known pixel to extend and gets a plan that paints it mid-grey.
 */
um_inpaint_plan *um_kernel_inpaint_plan(const uint8_t *mask, ptrdiff_t mask_stride, int w, int h,
                                        int radius)
{
    if (!mask || w <= 0 || h <= 0)
        return NULL;
    int box[4];
    size_t masked_count = mask_bounds(mask, mask_stride, w, h, box);
    if (masked_count == 0)
        return NULL;
    if (masked_count == (size_t)w * (size_t)h)
        return plan_all_grey(w, h);

    plan_builder b;
    builder_open(&b, mask, mask_stride, w, h, clamp_int(radius, 1, MAX_RADIUS), box, masked_count);
    march_outside(&b);
    march_inside(&b);
    um_inpaint_plan *plan = plan_from_builder(&b);
    builder_close(&b);
    return plan;
}

/* Accepts NULL, the plan of a mask that selects nothing. */
void um_kernel_inpaint_plan_free(um_inpaint_plan *plan)
{
    if (!plan)
        return;
    free(plan->x);
    free(plan->y);
    free(plan->first_tap);
    free(plan->taps);
    free(plan);
}

/* Pixels the plan fills; 0 for NULL. */
size_t um_kernel_inpaint_plan_size(const um_inpaint_plan *plan)
{
    return plan ? plan->count : 0;
}

/* ---- applying the plan --------------------------------------------------- */

/* Nearest integer sample value, clamped to 0 .. max_value. */
static int round_clamp(double v, int max_value)
{
    if (!(v > 0.0))
        return 0;
    if (v >= max_value)
        return max_value;
    return (int)(v + 0.5);
}

/*
 * Evaluates each pixel's taps in fill order and writes the rounded, clamped
 * result in place, so later pixels read earlier ones. Sums run in double so
 * that the u16 variant, with samples up to 65535 and tens of taps of either
 * sign, cannot drift by a level; the u8 variant matches it.
 */
void um_kernel_inpaint_u8(const um_inpaint_plan *plan, uint8_t *plane, ptrdiff_t stride)
{
    if (!plan)
        return;
    const inpaint_tap *taps = plan->taps;
    for (size_t i = 0; i < plan->count; i++) {
        uint8_t *p = plane + (ptrdiff_t)plan->y[i] * stride + plan->x[i];
        size_t k = plan->first_tap[i], end = plan->first_tap[i + 1];
        if (k == end) {
            *p = 128;
            continue;
        }
        double v = 0.0;
        int lo = 255, hi = 0;
        for (; k < end; k++) {
            int q = p[taps[k].dy * stride + taps[k].dx];
            v += taps[k].coef * q;
            lo = q < lo ? q : lo;
            hi = q > hi ? q : hi;
        }
        /* The gradient term extrapolates: a ramp may go on a little past its
         * neighbours, but across a strong edge it would overshoot into
         * colours that are nowhere around. */
        lo -= OVERSHOOT_U8;
        hi += OVERSHOOT_U8;
        *p = (uint8_t)round_clamp(v < lo ? lo : v > hi ? hi : v, 255);
    }
}

/* As um_kernel_inpaint_u8 on native 16-bit samples; stride is in bytes and a
 * multiple of 2, as FFmpeg's linesizes are. */
void um_kernel_inpaint_u16(const um_inpaint_plan *plan, uint16_t *plane, ptrdiff_t stride,
                           int max_value)
{
    if (!plan)
        return;
    const inpaint_tap *taps = plan->taps;
    ptrdiff_t step = stride / (ptrdiff_t)sizeof *plane;
    max_value = clamp_int(max_value, 1, UINT16_MAX);
    for (size_t i = 0; i < plan->count; i++) {
        uint16_t *p = plane + (ptrdiff_t)plan->y[i] * step + plan->x[i];
        size_t k = plan->first_tap[i], end = plan->first_tap[i + 1];
        if (k == end) {
            *p = (uint16_t)((max_value + 1) / 2);
            continue;
        }
        double v = 0.0;
        int lo = max_value, hi = 0;
        for (; k < end; k++) {
            int q = p[taps[k].dy * step + taps[k].dx];
            v += taps[k].coef * q;
            lo = q < lo ? q : lo;
            hi = q > hi ? q : hi;
        }
        /* As in the 8-bit variant: little overshoot past the neighbours. */
        int margin = OVERSHOOT_U8 * (max_value + 1) / 256;
        lo -= margin;
        hi += margin;
        *p = (uint16_t)round_clamp(v < lo ? lo : v > hi ? hi : v, max_value);
    }
}
