/*
 * A first estimate of a spot's alpha matte and colour, at detection
 * resolution, from the blend model J = a W + (1 - a) I. Over many frames the
 * picture I under the mark varies while a and W do not, so per pixel
 *     std(J) = (1 - a) std(I)      mean(J) = a W + (1 - a) mean(I).
 * Frames where the spot clearly shows the mark give J's statistics; frames
 * where it clearly does not (the mark hopped away) give I's at the same
 * pixels. A mark that never leaves borrows I's statistics from the ring of
 * pixels just outside it. W is pooled over the pixels where a is large,
 * where it is best determined. The removal issue refines both.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "detect/detect_internal.h"

/* Frames of each kind needed before statistics mean anything. */
#define MIN_STAT_FRAMES 8
/* Below this temporal spread (luma levels) the picture is too still for
 * the spread to tell the matte; and the means need the mark this much
 * brighter or darker than the picture. */
#define MIN_SPREAD 6.0
#define MIN_LIFT 24.0

static void add_stats(const uint8_t *luma, int stride, int x0, int y0, int w, int h, double *sum,
                      double *sum2)
{
    for (int y = 0; y < h; y++) {
        const uint8_t *row = luma + (size_t)(y0 + y) * stride + x0;
        for (int x = 0; x < w; x++) {
            sum[(size_t)y * w + x] += row[x];
            sum2[(size_t)y * w + x] += (double)row[x] * row[x];
        }
    }
}

void det_spot_add_sighting(um_detector *d, det_spot *s, const uint8_t *luma, int present, int dx,
                           int dy)
{
    size_t n = (size_t)s->w * s->h;
    if (!s->sum_j) {
        s->sum_j = um_xcalloc(n, sizeof(double));
        s->sum_jj = um_xcalloc(n, sizeof(double));
        s->sum_i = um_xcalloc(n, sizeof(double));
        s->sum_ii = um_xcalloc(n, sizeof(double));
    }
    int x0 = s->x + (present ? dx : 0), y0 = s->y + (present ? dy : 0);
    if (x0 < 0 || y0 < 0 || x0 + s->w > d->dw || y0 + s->h > d->dh)
        return;
    if (present) {
        add_stats(luma, d->dw, x0, y0, s->w, s->h, s->sum_j, s->sum_jj);
        s->n_j++;
    } else {
        add_stats(luma, d->dw, x0, y0, s->w, s->h, s->sum_i, s->sum_ii);
        s->n_i++;
    }
}

static double mean_of(const double *sum, size_t i, int n) { return sum[i] / n; }

static double std_of(const double *sum, const double *sum2, size_t i, int n)
{
    double m = sum[i] / n;
    return sqrt(fmax(0, sum2[i] / n - m * m));
}

/* I's statistics for a mark that never leaves: the median over the pixels
 * just outside its box (within the window) of their J statistics. */
static void surrounding_stats(const det_spot *s, double *mean_i, double *std_i)
{
    size_t n = (size_t)s->w * s->h, k = 0;
    double *means = um_xmalloc(n * sizeof(double)), *stds = um_xmalloc(n * sizeof(double));
    for (int y = 0; y < s->h; y++)
        for (int x = 0; x < s->w; x++) {
            int inside = x >= s->tx1 - 1 && x < s->tx2 + 1 && y >= s->ty1 - 1 && y < s->ty2 + 1;
            if (inside)
                continue;
            size_t i = (size_t)y * s->w + x;
            means[k] = mean_of(s->sum_j, i, s->n_j);
            stds[k++] = std_of(s->sum_j, s->sum_jj, i, s->n_j);
        }
    *mean_i = um_median_in_place(means, k);
    *std_i = um_median_in_place(stds, k);
    free(means);
    free(stds);
}

void det_spot_estimate_matte(um_detector *d, det_spot *s)
{
    (void)d;
    if (s->n_j < MIN_STAT_FRAMES || s->tx2 <= s->tx1)
        return;
    int own_background = s->n_i >= MIN_STAT_FRAMES;
    double ring_mean = 0, ring_std = 0;
    if (!own_background)
        surrounding_stats(s, &ring_mean, &ring_std);
    int w = s->tx2 - s->tx1, h = s->ty2 - s->ty1;
    free(s->alpha);
    s->alpha = um_xcalloc((size_t)w * h, sizeof(float));
    double *colours = um_xmalloc((size_t)w * h * sizeof(double));
    size_t nc = 0;
    /* First the spread: good where the picture under the mark varies. */
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            size_t i = (size_t)(s->ty1 + y) * s->w + (s->tx1 + x);
            if (s->shape && !s->shape[i])
                continue; /* not the mark: alpha stays 0 */
            double mean_i = own_background ? mean_of(s->sum_i, i, s->n_i) : ring_mean;
            double std_i = own_background ? std_of(s->sum_i, s->sum_ii, i, s->n_i) : ring_std;
            double std_j = std_of(s->sum_j, s->sum_jj, i, s->n_j);
            double a = std_i > MIN_SPREAD ? fmin(1, fmax(0, 1 - std_j / std_i)) : -1;
            s->alpha[(size_t)y * w + x] = (float)a;
            if (a > 0.5)
                colours[nc++] = (mean_of(s->sum_j, i, s->n_j) - (1 - a) * mean_i) / a;
        }
    s->colour = nc ? fmin(255, fmax(0, um_median_in_place(colours, nc))) : 235;
    /* Then, where the picture hardly varies (sky, walls), the means: with W
     * known, mean(J) - mean(I) = a (W - mean(I)). */
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            float *a = &s->alpha[(size_t)y * w + x];
            if (*a >= 0)
                continue;
            size_t i = (size_t)(s->ty1 + y) * s->w + (s->tx1 + x);
            double mean_i = own_background ? mean_of(s->sum_i, i, s->n_i) : ring_mean;
            double lift = s->colour - mean_i;
            *a = fabs(lift) > MIN_LIFT
                     ? (float)fmin(1, fmax(0, (mean_of(s->sum_j, i, s->n_j) - mean_i) / lift))
                     : 0;
        }
    free(colours);
}
