/*
 * A drop shadow under a mark: a dark copy of the mark's own opacity,
 * blurred, moved by a few pixels and laid under it (how marks are made to
 * read over bright pictures: CSS's text-shadow, an editor's "drop
 * shadow", a glow when it is not moved). Over the picture the two layers
 * give
 *     J = m W + (1 - m) (s K + (1 - s) I),   s = k (G_sigma * m)(x - d),
 * with m the mark's opacity, W its colour, K the shadow's, and s the
 * shadow's opacity: k times the mark's opacity blurred by a Gaussian of
 * sigma and moved by d. That is the blend J = a Wx + (1 - a) I with
 *     a = m + s (1 - m),   a Wx = m W + (1 - m) s K,
 * a colour Wx of each pixel's own between W and K.
 *
 * Fitted freely, pixel by pixel, an opacity and a colour are told apart
 * only by the picture under the pixel changing, and on guessed pictures
 * (the inpainting Î) both come out noisy and biased: hold-out h6 (a mark at
 * 0.7 over a 0.5 shadow) kept blotches 15 to 30 levels dark in its strokes.
 * The shadow's layout has five numbers for the whole mark (k, sigma, d, and
 * K beside W), and the mark's opacity one per pixel as without a shadow:
 * the samples pin them down far better.
 *
 * Everything works on the sums of (1), J - Î = a (Wx - Î), per pixel (see
 * matte_fit.c), so no sample is read again. A quick look first (the
 * one-W opacity held, the best k of each blur and offset in closed form)
 * tells a shadowed mark from a plain one; only then does the full fit
 * alternate four steps, each lowering the residual of (1): the layout
 * (blur, offset and k on a grid, m refitted under each), the colours W and
 * K (on a grid, m refitted), k and K together, and m per pixel (in closed
 * form, the shadow held). A shadow is kept only when it explains clearly
 * more of the samples than the one W did.
 *
 * Measured (the benchmark's scores, in the box): hold-out h6, 27.6 ->
 * 41.0 dB (its clean transcode 42.1); h2 (0.4 shadow, another font),
 * 36.2 -> 41.5 dB (ceiling 41.4); every case without a shadow writes the
 * same bytes as before.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "remove/remove_internal.h"

/* The blurs tried (pixels, 0: a hard shadow) and how far the shadow may
 * lie from the mark. */
static const double BLURS[] = {0, 0.75, 1.5, 2, 3};
#define NB_BLURS (int)(sizeof(BLURS) / sizeof(BLURS[0]))
#define MAX_OFFSET 3
/* k is tried in steps of 4 / STRENGTH_STEPS over [0, 1], then of
 * 1 / STRENGTH_STEPS around the best. */
#define STRENGTH_STEPS 20
/* Rounds of the four steps. */
#define ROUNDS 3
/* The colours' grid: steps of COARSE_STEP 8-bit levels, then a quarter of
 * that around the best, down to single levels; a later round looks within
 * NEAR_COLOURS of the last. W is searched from BELOW_ONE_W under the
 * one-W fit (a shadow pulls that fit down, never up) to the top. */
#define COARSE_STEP 8
/* k and K are searched together within DARK_REACH levels of K, by
 * DARK_STEP. */
#define DARK_REACH 16
#define DARK_STEP 2
#define NEAR_COLOURS 16
#define BELOW_ONE_W 16
/* A shadow is looked for in full when a quick look (quick_look) leaves at
 * most this share of the residual the one W left: on the benchmark's
 * cases and hold-outs 0.37 to 0.42 with a shadow, 0.92 to 1 without. */
#define MAX_GLANCE_SHARE 0.8
/* A shadow is kept when it leaves at most this share of the residual the
 * one W left, and is at least this opaque against the mark. */
#define MAX_RESIDUAL_SHARE 0.5
#define MIN_STRENGTH 0.05

typedef struct {
    const um_shadow_spot *spot;
    int max_value;
    float *mark;   /* m, being fitted */
    float *layer;  /* s at the current layout */
    float *blur;   /* scratch: m blurred */
} fit_state;

/* sum over pixel's samples of (d - c + a Î)^2: what (1) leaves with
 * opacity a and a Wx = c. */
static double pixel_residual(const um_matte_sums *t, double a, double c)
{
    return t->dd - 2 * c * t->d + 2 * a * t->di + c * c * t->n - 2 * a * c * t->i + a * a * t->ii;
}

/* The residual of (1) over the spot with one colour W: a = m. */
static double one_colour_residual(const um_shadow_spot *sp, const float *mark, double colour)
{
    double total = 0;
    for (size_t k = 0; k < (size_t)sp->w * sp->h; k++)
        if (sp->sums[k].n > 0)
            total += pixel_residual(&sp->sums[k], mark[k], mark[k] * colour);
    return total;
}

/* m blurred by a Gaussian of sigma (none at 0), into out; outside the
 * crop m is 0. */
static void blur_mark(const float *mark, int w, int h, double sigma, float *out)
{
    if (sigma <= 0) {
        memcpy(out, mark, (size_t)w * h * sizeof(float));
        return;
    }
    int r = (int)ceil(3 * sigma);
    double *taps = um_xmalloc((size_t)(2 * r + 1) * sizeof(double)), sum = 0;
    for (int i = -r; i <= r; i++)
        sum += taps[i + r] = exp(-0.5 * i * i / (sigma * sigma));
    float *rows = um_xmalloc((size_t)w * h * sizeof(float));
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            double v = 0;
            for (int i = -r; i <= r; i++)
                if (x + i >= 0 && x + i < w)
                    v += taps[i + r] * mark[(size_t)y * w + x + i];
            rows[(size_t)y * w + x] = (float)(v / sum);
        }
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            double v = 0;
            for (int i = -r; i <= r; i++)
                if (y + i >= 0 && y + i < h)
                    v += taps[i + r] * rows[(size_t)(y + i) * w + x];
            out[(size_t)y * w + x] = (float)(v / sum);
        }
    free(rows);
    free(taps);
}

/* The blurred mark at pixel (x, y) moved by (dx, dy): 0 from outside. */
static float moved(const float *blurred, int w, int h, int x, int y, int dx, int dy)
{
    int sx = x - dx, sy = y - dy;
    return sx >= 0 && sy >= 0 && sx < w && sy < h ? blurred[(size_t)sy * w + sx] : 0;
}

/* The shadow's opacity from the mark already blurred by s->blur. */
static void layer_from_blurred(const um_shadow *s, const float *blurred, int w, int h, float *layer)
{
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            layer[(size_t)y * w + x] = (float)fmin(1, s->strength * moved(blurred, w, h, x, y, s->dx, s->dy));
}

void um_shadow_layer(const um_shadow *s, const float *mark, int w, int h, float *layer)
{
    float *blurred = um_xmalloc((size_t)w * h * sizeof(float));
    blur_mark(mark, w, h, s->blur, blurred);
    layer_from_blurred(s, blurred, w, h, layer);
    free(blurred);
}

/* The two layers' blend at a pixel: a and a Wx. */
static void compose(double m, double s, double colour, double dark, double *a, double *c)
{
    *a = m + s * (1 - m);
    *c = m * colour + (1 - m) * s * dark;
}

/* The mark's opacity at a pixel with the shadow s held: (1) reads
 * d - s (K - Î) = m ((W - s K) - (1 - s) Î), a least squares in m. */
static double refit_pixel(const um_matte_sums *t, double s, double colour, double dark)
{
    double u = colour - s * dark, v = 1 - s;
    double num = (u * t->d - v * t->di) - s * dark * (u * t->n - v * t->i) + s * (u * t->i - v * t->ii);
    double den = u * u * t->n - 2 * u * v * t->i + v * v * t->ii;
    return den > 0 ? fmin(1, fmax(0, num / den)) : 0;
}

/* The mark's opacity at pixel k under the shadow s: fitted where the
 * strokes may lie, else 0. Fitted freely over the shadow's fringe too, it
 * would take up the guess's errors there (the fringe of hold-out h6 came
 * out twice as opaque as it is, in the picture's mean colour). */
static double mark_at(const um_shadow_spot *sp, size_t k, double s, double colour, double dark)
{
    return sp->sums[k].n > 0 && (!sp->strokes || sp->strokes[k]) ? refit_pixel(&sp->sums[k], s, colour, dark) : 0;
}

/* m per pixel with the shadow layer held. */
static void refit_mark(const um_shadow *s, const um_shadow_spot *sp, const float *layer, float *mark)
{
    for (size_t k = 0; k < (size_t)sp->w * sp->h; k++)
        mark[k] = (float)mark_at(sp, k, layer[k], s->colour, s->dark);
}

/* The residual with the mark refitted per pixel under colours W and K. */
static double refitted_residual(const fit_state *st, double colour, double dark)
{
    const um_shadow_spot *sp = st->spot;
    double total = 0;
    for (size_t k = 0; k < (size_t)sp->w * sp->h; k++) {
        const um_matte_sums *t = &sp->sums[k];
        if (t->n <= 0)
            continue;
        double a, c, m = mark_at(sp, k, st->layer[k], colour, dark);
        compose(m, st->layer[k], colour, dark, &a, &c);
        total += pixel_residual(t, a, c);
    }
    return total;
}

/* The residual of a layout: the shadow k b (b: the mark blurred, moved),
 * the mark refitted per pixel under it, W and K held; over every
 * row_step-th row. */
static double layout_residual(const fit_state *st, const float *blurred, int dx, int dy, double k, double colour,
                              double dark, int row_step)
{
    const um_shadow_spot *sp = st->spot;
    double total = 0;
    for (int y = 0; y < sp->h; y += row_step)
        for (int x = 0; x < sp->w; x++) {
            size_t at = (size_t)y * sp->w + x;
            const um_matte_sums *t = &sp->sums[at];
            if (t->n <= 0)
                continue;
            double a, c, s = fmin(1, k * moved(blurred, sp->w, sp->h, x, y, dx, dy));
            compose(mark_at(sp, at, s, colour, dark), s, colour, dark, &a, &c);
            total += pixel_residual(t, a, c);
        }
    return total;
}

/*
 * The best k for a layout (the mark blurred, at offset dx, dy) with the
 * mark held as it is: a = a0 + k a1 and c = c0 + k c1 are linear in k, so
 * the residual is E0 + L k + Q k^2; returns it at the best k in [0, 1].
 */
static double held_residual(const fit_state *st, const float *blurred, int dx, int dy, double colour, double dark)
{
    const um_shadow_spot *sp = st->spot;
    double e0 = 0, lin = 0, quad = 0;
    for (int y = 0; y < sp->h; y++)
        for (int x = 0; x < sp->w; x++) {
            size_t k = (size_t)y * sp->w + x;
            const um_matte_sums *t = &sp->sums[k];
            if (t->n <= 0)
                continue;
            double m = st->mark[k], b = moved(blurred, sp->w, sp->h, x, y, dx, dy);
            double a0 = m, c0 = m * colour, a1 = b * (1 - m), c1 = b * (1 - m) * dark;
            e0 += pixel_residual(t, a0, c0);
            lin += 2 * (-c1 * t->d + a1 * t->di + c0 * c1 * t->n - (a0 * c1 + a1 * c0) * t->i + a0 * a1 * t->ii);
            quad += c1 * c1 * t->n - 2 * a1 * c1 * t->i + a1 * a1 * t->ii;
        }
    double k = quad > 0 ? fmin(1, fmax(0, -lin / (2 * quad))) : 0;
    return e0 + lin * k + quad * k * k;
}

/* A quick look's rows, one blur and offset dy each, spread over the cores
 * (the decoder and encoder are idle while the matte is fitted): a hold-out
 * with a shadow (h7) spent about 0.3 s in two shadow fits whose grid
 * searches, but for the layout's, ran on one core. */
#define GLANCE_ROWS (NB_BLURS * (2 * MAX_OFFSET + 1))

typedef struct {
    const fit_state *st;
    double colour;
    float *blurred[NB_BLURS];
    double best[GLANCE_ROWS];
} glance_search;

static void glance_row(void *opaque, int item)
{
    glance_search *g = opaque;
    int b = item / (2 * MAX_OFFSET + 1), dy = item % (2 * MAX_OFFSET + 1) - MAX_OFFSET;
    g->best[item] = INFINITY;
    for (int dx = -MAX_OFFSET; dx <= MAX_OFFSET; dx++)
        g->best[item] = fmin(g->best[item], held_residual(g->st, g->blurred[b], dx, dy, g->colour, 0));
}

/* A quick look: the least any layout leaves with the one-W mark held and
 * a black shadow (see MAX_GLANCE_SHARE). */
static double quick_look(const fit_state *st, double colour)
{
    const um_shadow_spot *sp = st->spot;
    glance_search g = {.st = st, .colour = colour};
    for (int b = 0; b < NB_BLURS; b++) {
        g.blurred[b] = um_xmalloc((size_t)sp->w * sp->h * sizeof(float));
        blur_mark(st->mark, sp->w, sp->h, BLURS[b], g.blurred[b]);
    }
    um_parallel_for(GLANCE_ROWS, glance_row, &g);
    double best = INFINITY;
    for (int i = 0; i < GLANCE_ROWS; i++)
        best = fmin(best, g.best[i]);
    for (int b = 0; b < NB_BLURS; b++)
        free(g.blurred[b]);
    return best;
}

/* Where a layout search looks: blurs [blur_lo, blur_hi] (indices into
 * BLURS), offsets within reach of (dx, dy), k in [k_lo, k_hi] by k_step;
 * the residual over every row_step-th row. */
typedef struct {
    int blur_lo, blur_hi, dx, dy, reach;
    double k_lo, k_hi, k_step;
    int row_step;
} layout_range;

/* One row of a layout search: blur b, offset dy, every dx and k in range;
 * the rows are spread over the cores (the decoder and encoder are idle
 * while the matte is fitted). */
typedef struct {
    const fit_state *st;
    const layout_range *r;
    const um_shadow *s;
    float **blurred; /* per blur in range */
    double *best;    /* per row */
    um_shadow *found;
} layout_search;

static void search_layout_row(void *opaque, int item)
{
    layout_search *ls = opaque;
    const layout_range *r = ls->r;
    int rows = 2 * r->reach + 1, b = item / rows, dy = r->dy - r->reach + item % rows;
    ls->best[item] = INFINITY;
    for (int dx = r->dx - r->reach; dx <= r->dx + r->reach; dx++)
        for (double k = r->k_lo; k <= r->k_hi + 1e-9; k += r->k_step) {
            double left = layout_residual(ls->st, ls->blurred[b], dx, dy, k, ls->s->colour, ls->s->dark, r->row_step);
            if (left < ls->best[item]) {
                ls->best[item] = left;
                ls->found[item] = (um_shadow){k, BLURS[r->blur_lo + b], dx, dy, ls->s->colour, ls->s->dark};
            }
        }
}

/* The layout in range that leaves the least, the mark refitted under each
 * (held as it was, the mark's opacity favours the layout it was fitted
 * under: on hold-out h6 the fit stopped at half the shadow's strength, a
 * pixel too far); into s, with its residual returned. */
static double search_layout(fit_state *st, const layout_range *r, um_shadow *s)
{
    const um_shadow_spot *sp = st->spot;
    int blurs = r->blur_hi - r->blur_lo + 1, items = blurs * (2 * r->reach + 1);
    layout_search ls = {st, r, s, um_xcalloc((size_t)blurs, sizeof(float *)), um_xmalloc((size_t)items * sizeof(double)),
                        um_xmalloc((size_t)items * sizeof(um_shadow))};
    for (int b = 0; b < blurs; b++) {
        ls.blurred[b] = um_xmalloc((size_t)sp->w * sp->h * sizeof(float));
        blur_mark(st->mark, sp->w, sp->h, BLURS[r->blur_lo + b], ls.blurred[b]);
    }
    um_parallel_for(items, search_layout_row, &ls);
    double best = INFINITY;
    for (int i = 0; i < items; i++)
        if (ls.best[i] < best) {
            best = ls.best[i];
            *s = ls.found[i];
        }
    for (int b = 0; b < blurs; b++)
        free(ls.blurred[b]);
    free(ls.blurred);
    free(ls.best);
    free(ls.found);
    return best;
}

static int blur_index(double blur)
{
    int b = 0;
    while (b < NB_BLURS - 1 && BLURS[b] < blur)
        b++;
    return b;
}

/* Step 1: the layout. Everywhere (k in coarse steps, on every other row),
 * then around the best (a pixel either way, k finer, on every row); or,
 * near (the last round's), around it, over the neighbouring blurs too. */
static void fit_layout(fit_state *st, int near, um_shadow *s)
{
    const um_shadow_spot *sp = st->spot;
    double fine = 1.0 / STRENGTH_STEPS, coarse = 4 * fine;
    layout_range everywhere = {0, NB_BLURS - 1, 0, 0, MAX_OFFSET, coarse, 1, coarse, 2};
    if (!near)
        search_layout(st, &everywhere, s);
    int b = blur_index(s->blur);
    layout_range around = {near && b > 0 ? b - 1 : b,
                           near && b < NB_BLURS - 1 ? b + 1 : b,
                           s->dx,
                           s->dy,
                           1,
                           fmax(fine, s->strength - coarse),
                           fmin(1, s->strength + coarse),
                           fine,
                           1};
    search_layout(st, &around, s);
    um_shadow_layer(s, st->mark, sp->w, sp->h, st->layer);
}

/*
 * A grid search of (a, b) spread over the cores a row (one a) at a time:
 * each row's first least residual, then the rows in order, so that the
 * first least in scan order wins, as on one core.
 */
typedef struct {
    const fit_state *st;
    const um_shadow *s;
    const double *rows;    /* a per row */
    double lo, hi, step;   /* b's range, for the colours' search */
    double *left, *best_b; /* per row */
} grid_rows;

/* The least of rows' residuals, its row's a in *a and b in *b; INFINITY
 * (and *a, *b untouched) when no row had one. */
static double grid_least(const grid_rows *g, int n, double *a, double *b)
{
    double least = INFINITY;
    for (int i = 0; i < n; i++)
        if (g->left[i] < least) {
            least = g->left[i];
            *a = g->rows[i];
            *b = g->best_b[i];
        }
    return least;
}

/* Row i of the colours' search: W = rows[i], K from lo to at most W. */
static void colour_row(void *opaque, int i)
{
    grid_rows *g = opaque;
    double w = g->rows[i];
    g->left[i] = INFINITY;
    for (double k = g->lo; k <= fmin(w, g->hi); k += g->step) {
        double left = refitted_residual(g->st, w, k);
        if (left < g->left[i]) {
            g->left[i] = left;
            g->best_b[i] = k;
        }
    }
}

/* The values lo, lo + step, ... up to hi (+ slack), summed as the one-core
 * loops summed them; their count in *n. */
static double *grid_values(double lo, double hi, double step, double slack, int *n)
{
    *n = 0;
    for (double v = lo; v <= hi + slack; v += step)
        (*n)++;
    double *values = um_xmalloc((size_t)(*n ? *n : 1) * sizeof(double));
    int i = 0;
    for (double v = lo; v <= hi + slack; v += step)
        values[i++] = v;
    return values;
}

/* Runs the rows of g over the cores and takes the least into *a, *b. */
static double run_grid(grid_rows *g, int n, void (*row)(void *opaque, int i), double *a, double *b)
{
    g->left = um_xmalloc((size_t)(n ? n : 1) * sizeof(double));
    g->best_b = um_xmalloc((size_t)(n ? n : 1) * sizeof(double));
    um_parallel_for(n, row, g);
    double least = grid_least(g, n, a, b);
    free(g->left);
    free(g->best_b);
    return least;
}

/* The best (W, K) with W in [w_lo, w_hi] and K in [k_lo, k_hi], K at
 * most W, on a grid of the given step; returns the residual. */
static double search_colours(const fit_state *st, const double w_range[2], const double k_range[2], double step,
                             um_shadow *s)
{
    int n;
    double *ws = grid_values(w_range[0], w_range[1], step, 0, &n);
    grid_rows g = {.st = st, .rows = ws, .lo = k_range[0], .hi = k_range[1], .step = step};
    double least = run_grid(&g, n, colour_row, &s->colour, &s->dark);
    free(ws);
    return least;
}

/* Step 2: W and K. Everywhere (coarsely over their range, then finer
 * around the best), or, near, around the last round's. */
static double fit_colours(const fit_state *st, int near, double one_colour, um_shadow *s)
{
    double unit = st->max_value / 255.0, step = (near ? NEAR_COLOURS : COARSE_STEP) * unit, left = INFINITY;
    double w_all[2] = {fmax(0, one_colour - BELOW_ONE_W * unit), st->max_value}, k_all[2] = {0, st->max_value};
    if (!near)
        left = search_colours(st, w_all, k_all, step, s);
    while (step > unit) {
        double reach = step;
        step = fmax(unit, step / 4);
        double w[2] = {fmax(w_all[0], s->colour - reach), fmin(w_all[1], s->colour + reach)};
        double k[2] = {fmax(0, s->dark - reach), s->dark + reach};
        left = search_colours(st, w, k, step, s);
    }
    return left;
}

/* Row i of the strength and darkness search: k = rows[i], every K
 * within DARK_REACH of the last round's. */
static void strength_row(void *opaque, int i)
{
    grid_rows *g = opaque;
    const um_shadow *s = g->s;
    double unit = g->st->max_value / 255.0;
    g->left[i] = INFINITY;
    for (double dark = fmax(0, s->dark - DARK_REACH * unit); dark <= fmin(s->colour, s->dark + DARK_REACH * unit);
         dark += DARK_STEP * unit) {
        double left = layout_residual(g->st, g->st->blur, s->dx, s->dy, g->rows[i], s->colour, dark, 1);
        if (left < g->left[i]) {
            g->left[i] = left;
            g->best_b[i] = dark;
        }
    }
}

/*
 * Step 3: k and K together, around the last round's. Searched one at a
 * time they trade off (a weaker, darker shadow darkens the fringe almost
 * as much) and the alternation stops short: on pictures known exactly, k
 * 0.55 and K 8 for a truth of 0.6 and 16.
 */
static double fit_strength_and_dark(fit_state *st, um_shadow *s)
{
    const um_shadow_spot *sp = st->spot;
    double step = 1.0 / (2 * STRENGTH_STEPS);
    um_shadow found = *s;
    blur_mark(st->mark, sp->w, sp->h, s->blur, st->blur);
    int n;
    double *ks = grid_values(fmax(step, s->strength - 4 * step), fmin(1, s->strength + 4 * step), step, 1e-9, &n);
    grid_rows g = {.st = st, .s = s, .rows = ks};
    double least = run_grid(&g, n, strength_row, &found.strength, &found.dark);
    free(ks);
    *s = found;
    layer_from_blurred(s, st->blur, sp->w, sp->h, st->layer);
    return least;
}

int um_shadow_fit(const um_shadow_spot *sp, const float *mark, double colour, int max_value, um_shadow *out)
{
    size_t n = (size_t)sp->w * sp->h;
    fit_state st = {sp, max_value, um_xmalloc(n * sizeof(float)), um_xmalloc(n * sizeof(float)),
                    um_xmalloc(n * sizeof(float))};
    double one = one_colour_residual(sp, mark, colour), left = INFINITY;
    um_shadow s = {0, 0, 0, 0, colour, 0};
    memcpy(st.mark, mark, n * sizeof(float));
    double glance = quick_look(&st, colour);
    um_log(UM_LOG_DEBUG, "matte: a shadow at a glance leaves %.3g of the one W's residual", glance / one);
    for (int round = 0; round < ROUNDS && glance <= MAX_GLANCE_SHARE * one; round++) {
        fit_layout(&st, round > 0, &s);
        fit_colours(&st, round > 0, colour, &s);
        left = fit_strength_and_dark(&st, &s);
        refit_mark(&s, sp, st.layer, st.mark);
        if (round == ROUNDS - 1)
            um_log(UM_LOG_DEBUG, "matte: shadow %.2f blur %.2f at %d,%d, W %.1f, K %.1f: it leaves %.3g", s.strength,
                   s.blur, s.dx, s.dy, s.colour, s.dark, left / one);
    }
    free(st.mark);
    free(st.layer);
    free(st.blur);
    *out = s;
    return s.strength >= MIN_STRENGTH && left <= MAX_RESIDUAL_SHARE * one;
}

void um_shadow_place(const um_shadow *s, const um_shadow_spot *sp, float *mark, float *layer)
{
    for (int round = 0; round < ROUNDS; round++) {
        um_shadow_layer(s, mark, sp->w, sp->h, layer);
        refit_mark(s, sp, layer, mark);
    }
    um_shadow_layer(s, mark, sp->w, sp->h, layer);
}

void um_shadow_compose(const um_shadow *s, const float *mark, const float *layer, size_t n, float *alpha,
                       float *colour)
{
    for (size_t k = 0; k < n; k++) {
        double a, c;
        compose(mark[k], layer[k], s->colour, s->dark, &a, &c);
        alpha[k] = (float)a;
        colour[k] = (float)(a > 0 ? c / a : s->colour);
    }
}
