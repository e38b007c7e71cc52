/*
 * Marks over a still picture. When the camera does not move, every edge of
 * the picture stands still as well as the mark's, and the temporal median of
 * gradients cannot tell them apart. A mark that hops can still be seen: the
 * long-term median of the luma (12 s) is the picture without it, wherever it
 * shows less than half of the time; the median of the current window minus
 * that background is the mark alone, D = a (W - B). A mark that never moves
 * over a picture that never moves leaves no trace to learn from.
 */
#include <stdlib.h>
#include <string.h>

#include "detect/detect_internal.h"
#include "unmark/kernels.h"

/* The background: a luma sample every half second, 24 of them. */
#define LONG_SAMPLES 24
#define LONG_MIN_SAMPLES 12
/* At the end of a clip shorter than that, its samples span all of it: the
 * mark is in fewer than half of them wherever it hopped (the background of
 * a 5 s clip with the mark at six places). */
#define FINAL_MIN_SAMPLES 6
#define LONG_SECONDS 0.5
/* |D| above this (luma levels) is the mark. */
#define DIFF_THRESHOLD 12

void det_keep_background_sample(um_detector *d, const uint8_t *luma)
{
    size_t grid = (size_t)d->dw * d->dh;
    if (!d->long_ring) {
        d->long_ring = um_xcalloc(LONG_SAMPLES, sizeof(*d->long_ring));
        for (int i = 0; i < LONG_SAMPLES; i++)
            d->long_ring[i] = um_xmalloc(grid);
    }
    memcpy(d->long_ring[d->long_head], luma, grid);
    d->long_head = (d->long_head + 1) % LONG_SAMPLES;
    d->long_count += d->long_count < LONG_SAMPLES;
}

int det_background_step(const um_detector *d)
{
    int step = (int)(d->fps * LONG_SECONDS + 0.5);
    return step > 1 ? step : 1;
}

/* Per-pixel median of uint8 planes (n <= 64). */
static void median_u8(const uint8_t *const *planes, int n, size_t count, uint8_t *out)
{
    uint8_t v[64] = {0};
    for (size_t i = 0; i < count; i++) {
        for (int k = 0; k < n; k++) {
            uint8_t key = planes[k][i];
            int j = k - 1;
            while (j >= 0 && v[j] > key) {
                v[j + 1] = v[j];
                j--;
            }
            v[j + 1] = key;
        }
        out[i] = v[(n - 1) / 2];
    }
}

int det_still_differences(um_detector *d, int nsamples)
{
    if (d->long_count < (d->finishing ? FINAL_MIN_SAMPLES : LONG_MIN_SAMPLES))
        return -1;
    size_t grid = (size_t)d->dw * d->dh;
    const uint8_t *window[DET_SAMPLES], *longer[LONG_SAMPLES];
    int nw = 0;
    for (int k = 0; k < nsamples; k++) {
        int64_t frame = d->frames - (int64_t)k * d->sample_step;
        if (frame < 0 || frame <= d->frames - d->ring_cap)
            break;
        window[nw++] = d->ring[frame % d->ring_cap];
    }
    for (int k = 0; k < d->long_count; k++)
        longer[k] = d->long_ring[k];
    uint8_t *now = um_xmalloc(grid), *background = um_xmalloc(grid), *lifted = um_xmalloc(grid);
    median_u8(window, nw, grid, now);
    median_u8(longer, d->long_count, grid, background);
    if (!d->diff)
        d->diff = um_xmalloc(grid * sizeof(int16_t));
    for (size_t i = 0; i < grid; i++) {
        int diff = (int)now[i] - (int)background[i];
        d->diff[i] = (int16_t)diff;
        d->bin[i] = diff > DIFF_THRESHOLD || diff < -DIFF_THRESHOLD;
        lifted[i] = (uint8_t)((diff + 256) / 2);
    }
    /* The template is the mark's own edges: those of D. */
    um_kernel_sobel(lifted, d->dw, d->dw, d->dh, d->mgx, d->mgy, d->dw);
    free(now);
    free(background);
    free(lifted);
    return 0;
}

void det_still_inherit(um_detector *d, const um_detector *from)
{
    if (from->long_count >= LONG_SAMPLES)
        return;
    for (int k = 0; k < from->long_count; k++)
        det_keep_background_sample(d, from->long_ring[k]);
}

void det_still_free(um_detector *d)
{
    if (d->long_ring)
        for (int i = 0; i < LONG_SAMPLES; i++)
            free(d->long_ring[i]);
    free(d->long_ring);
    free(d->diff);
}
