/*
 * The matte pass: between detection and removal, takes the frames in which
 * each detected mark clearly stands (up to a few dozen per spot, spread
 * over the video) and fits the mark's matte from them, so that the removal
 * pass can restore the picture under it instead of filling it. The frames
 * come from the crops the detection pass kept (crop_cache.c); only what
 * those miss is decoded again, and decoding stops after the last frame
 * that needs it. Memory: crops of the spots, never whole frames.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/pipeline_internal.h"

/* Frames sampled per spot: enough for the inpainting errors to average
 * out, few enough to stay cheap. */
#define SAMPLES_PER_SPOT 48
/* A spot present in this share of the frames never leaves: the scene
 * behind it is learnt from the camera's motion. */
#define STATIC_SHARE 0.9

typedef struct {
    int64_t frame;
    int spot;
    int clear; /* a frame with no mark over the spot (um_matte_fit_add_clear) */
} sample_ref;

static int same_box(um_box a, um_box b)
{
    return a.x1 == b.x1 && a.y1 == b.y1 && a.x2 == b.x2 && a.y2 == b.y2;
}

/* The box spot s stands at most often (its placements differ from run to
 * run by a detection pixel or two at most), with a frame showing it there. */
#define MAX_PLACEMENTS 64
static um_box usual_box(const um_detector *det, int s, int64_t *example)
{
    um_box seen[MAX_PLACEMENTS];
    int64_t counts[MAX_PLACEMENTS], first[MAX_PLACEMENTS], frames = um_detect_frame_count(det);
    int nb = 0, best = -1;
    for (int64_t t = 0; t < frames; t++) {
        const um_box *boxes;
        int n = um_detect_frame_boxes(det, t, &boxes);
        for (int i = 0; i < n; i++) {
            if (um_detect_box_spot(det, t, i, NULL) != s)
                continue;
            int k = 0;
            while (k < nb && !same_box(seen[k], boxes[i]))
                k++;
            if (k == nb && nb == MAX_PLACEMENTS)
                continue;
            if (k == nb) {
                seen[nb] = boxes[i];
                counts[nb] = 0;
                first[nb++] = t;
            }
            if (++counts[k] > (best >= 0 ? counts[best] : 0))
                best = k;
        }
    }
    *example = best >= 0 ? first[best] : -1;
    return best >= 0 ? seen[best] : (um_box){0, 0, 0, 0};
}

/* Index of spot s's box in frame t when it is `box`, else -1; its score. */
static int box_at(const um_detector *det, int64_t t, int s, um_box box, double *score)
{
    const um_box *boxes;
    int n = um_detect_frame_boxes(det, t, &boxes);
    for (int i = 0; i < n; i++)
        if (um_detect_box_spot(det, t, i, score) == s && same_box(boxes[i], box))
            return i;
    return -1;
}

/* Whether spot s stands in nearly every frame. */
static int never_leaves(const um_detector *det, int s)
{
    int64_t frames = um_detect_frame_count(det), present = 0;
    for (int64_t t = 0; t < frames; t++) {
        const um_box *boxes;
        int n = um_detect_frame_boxes(det, t, &boxes);
        for (int i = 0; i < n; i++)
            if (um_detect_box_spot(det, t, i, NULL) == s) {
                present++;
                break;
            }
    }
    return frames > 0 && (double)present >= STATIC_SHARE * (double)frames;
}

/* Appends up to SAMPLES_PER_SPOT of the n frames at[], evenly spread. */
static void take_evenly(const int64_t *at, int64_t n, int s, sample_ref **refs, int *count)
{
    int want = n < SAMPLES_PER_SPOT ? (int)n : SAMPLES_PER_SPOT;
    *refs = um_xrealloc(*refs, (size_t)(*count + want + 1) * sizeof(sample_ref));
    for (int k = 0; k < want; k++)
        (*refs)[(*count)++] = (sample_ref){at[(int64_t)k * n / want], s, 0};
}

/* Moves the frames of at[] whose crop around need the cache kept to the
 * front (in order) and returns how many there are. */
static int64_t kept_first(const um_crop_cache *cache, um_box need, int64_t *at, int64_t n)
{
    int64_t kept = 0;
    um_frame crop;
    for (int64_t k = 0; k < n && cache; k++)
        if (um_crop_cache_find(cache, at[k], need, &crop)) {
            int64_t t = at[k];
            memmove(at + kept + 1, at + kept, (size_t)(k - kept) * sizeof(int64_t));
            at[kept++] = t;
        }
    return kept;
}

/* Frames where spot s clearly stands at `box`: matched (not filled in by
 * the timeline) at least as well as half of its matches. Up to
 * SAMPLES_PER_SPOT of them, evenly spread, appended to refs: of those the
 * cache kept (around need) when they are enough, else of all. */
static void pick_samples(const um_detector *det, int s, um_box box, const um_crop_cache *cache, um_box need,
                         sample_ref **refs, int *count)
{
    int64_t frames = um_detect_frame_count(det), n = 0;
    double *scores = um_xmalloc((size_t)(frames ? frames : 1) * sizeof(double));
    int64_t *at = um_xmalloc((size_t)(frames ? frames : 1) * sizeof(int64_t));
    for (int64_t t = 0; t < frames; t++) {
        double score;
        if (box_at(det, t, s, box, &score) >= 0 && !isnan(score)) {
            scores[n] = score;
            at[n++] = t;
        }
    }
    double *sorted = um_xmalloc((size_t)(n ? n : 1) * sizeof(double));
    memcpy(sorted, scores, (size_t)n * sizeof(double));
    double floor = um_median_in_place(sorted, (size_t)n);
    int64_t clear = 0;
    for (int64_t k = 0; k < n; k++)
        if (scores[k] >= floor)
            at[clear++] = at[k];
    int64_t kept = kept_first(cache, need, at, clear);
    /* Fewer samples, or samples bunched late in each stay, cost more than a
     * decode saves (measured: up to 1.6 dB in the box). */
    int64_t enough = clear < SAMPLES_PER_SPOT ? clear : SAMPLES_PER_SPOT;
    take_evenly(at, kept >= enough ? kept : clear, s, refs, count);
    free(sorted);
    free(scores);
    free(at);
}

/* Frames this far from any box over a spot's crop have no mark over it:
 * none fading in or out that detection did not box. */
#define CLEAR_DISTANCE 8
/* Clear frames given to the fit per spot (it keeps up to 8). */
#define CLEAR_PER_SPOT 8

/* Whether frame t has a box over area. */
static int boxed_over(const um_detector *det, int64_t t, um_box area)
{
    const um_box *boxes;
    int n = um_detect_frame_boxes(det, t, &boxes);
    for (int i = 0; i < n; i++)
        if (um_box_overlap(boxes[i], area) > 0)
            return 1;
    return 0;
}

/* Frames with no mark over spot s's crop (need): up to CLEAR_PER_SPOT of
 * them, evenly spread, appended to refs. Only those the cache kept when
 * there is one: the picture under the mark is worth a second decode only
 * over a still camera, which these frames are to tell. */
static void pick_clear(const um_detector *det, int s, um_box need, const um_crop_cache *cache, sample_ref **refs,
                       int *count)
{
    int64_t frames = um_detect_frame_count(det), n = 0, last_boxed = -CLEAR_DISTANCE - 1;
    uint8_t *boxed = um_xcalloc((size_t)(frames ? frames : 1), 1);
    int64_t *at = um_xmalloc((size_t)(frames ? frames : 1) * sizeof(int64_t));
    for (int64_t t = 0; t < frames; t++)
        boxed[t] = (uint8_t)boxed_over(det, t, need);
    um_frame crop;
    for (int64_t t = 0, next_boxed = 0; t < frames; t++) {
        if (boxed[t])
            last_boxed = t;
        if (next_boxed <= t)
            for (next_boxed = t; next_boxed < frames && !boxed[next_boxed]; next_boxed++)
                ;
        int away = t - last_boxed > CLEAR_DISTANCE && next_boxed - t > CLEAR_DISTANCE;
        if (away && (!cache || um_crop_cache_find(cache, t, need, &crop)))
            at[n++] = t;
    }
    int want = n < CLEAR_PER_SPOT ? (int)n : CLEAR_PER_SPOT;
    *refs = um_xrealloc(*refs, (size_t)(*count + want + 1) * sizeof(sample_ref));
    for (int k = 0; k < want; k++)
        (*refs)[(*count)++] = (sample_ref){at[(int64_t)k * n / want], s, 1};
    free(boxed);
    free(at);
}

static int compare_refs(const void *a, const void *b)
{
    const sample_ref *x = a, *y = b;
    return (x->frame > y->frame) - (x->frame < y->frame);
}

typedef struct {
    um_matte_fit *fit;
    const um_crop_cache *cache;
    const sample_ref *refs;
    int count, next;
    int spots;
} collect_state;

/* The frame to give spot s for frame t: whole (decoded) or, when NULL, the
 * crop the cache kept of what the fit needs. */
static const um_frame *frame_for(const collect_state *c, int64_t t, int s, int following, const um_frame *whole,
                                 um_frame *crop)
{
    if (whole)
        return whole;
    return c->cache && um_crop_cache_find(c->cache, t, um_matte_fit_needs(c->fit, s, following), crop) ? crop
                                                                                                      : NULL;
}

/* Gives the fit frame t: to the backgrounds being learnt, then as a sample
 * of every spot sampled in it. */
static void feed(collect_state *c, int64_t t, const um_frame *whole)
{
    um_frame crop;
    const um_frame *f;
    for (int s = 0; s < c->spots; s++)
        if (um_matte_fit_tracks_background(c->fit, s) && (f = frame_for(c, t, s, 1, whole, &crop)))
            um_matte_fit_add_frame(c->fit, s, f);
    for (; c->next < c->count && c->refs[c->next].frame == t; c->next++) {
        const sample_ref *r = &c->refs[c->next];
        if (!(f = frame_for(c, t, r->spot, 0, whole, &crop)))
            continue;
        if (r->clear)
            um_matte_fit_add_clear(c->fit, r->spot, f);
        else
            um_matte_fit_add_sample(c->fit, r->spot, f);
    }
}

/* The last frame up to `last` that the cache does not hold all the fit
 * needs of (-1: none): the matte pass decodes up to there. */
static int64_t last_missing(const collect_state *c, int64_t last)
{
    int64_t missing = -1;
    um_frame crop;
    for (int64_t t = 0, k = 0; t <= last; t++) {
        for (int s = 0; s < c->spots; s++)
            if (um_matte_fit_tracks_background(c->fit, s) && !frame_for(c, t, s, 1, NULL, &crop))
                missing = t;
        for (; k < c->count && c->refs[k].frame == t; k++)
            if (!frame_for(c, t, c->refs[k].spot, 0, NULL, &crop))
                missing = t;
    }
    return missing;
}

typedef struct {
    collect_state *c;
    int64_t until;
} decode_state;

static int take_decoded(void *opaque, um_frame *frame, um_error *err)
{
    (void)err;
    decode_state *d = opaque;
    feed(d->c, frame->index, frame);
    return frame->index >= d->until;
}

/* Hands the samples over: decoded again up to the last frame the cache
 * misses, from the cache after that. */
static int collect(const um_pipeline_job *job, um_media_reader *reader, collect_state *c, um_error *err)
{
    if (!c->count)
        return 0;
    int64_t last = c->refs[c->count - 1].frame, until = last_missing(c, last);
    if (until >= 0) {
        if (c->cache)
            um_log(UM_LOG_INFO, "matte: decoding frames 0-%lld again: detection did not keep all the fit "
                   "needs of frame %lld (the mark was found after it, or the crops thinned out)",
                   (long long)until, (long long)until);
        decode_state d = {c, until};
        um_pass_report report = {"matte", until + 1, job->progress, job->progress_opaque, job->cancel,
                                 job->output};
        if (um_pipeline_each_frame(reader, &report, take_decoded, &d, err) < 0)
            return -1;
    }
    for (int64_t t = until + 1; t <= last; t++)
        feed(c, t, NULL);
    return 0;
}

static void log_matte(const um_detector *det, int s, const um_matte *m, int samples, int given)
{
    const um_detect_spot *spot = um_detect_spot_get(det, s);
    if (!m) {
        um_log(UM_LOG_INFO, "matte: mark %d at %d,%d: %d clear frames are too few to fit its matte; it is filled instead",
               spot->mark, spot->box.x1, spot->box.y1, samples);
        return;
    }
    double colour[3];
    um_box crop;
    um_matte_describe(m, colour, &crop);
    if (given)
        um_log(UM_LOG_INFO, "matte: mark %d at %d,%d: its template, placed on %d frame%s: colour %.1f %.1f %.1f",
               spot->mark, crop.x1, crop.y1, samples, samples == 1 ? "" : "s", colour[0], colour[1], colour[2]);
    else
        um_log(UM_LOG_INFO, "matte: mark %d at %d,%d fitted from %d frames: colour %.1f %.1f %.1f",
               spot->mark, crop.x1, crop.y1, samples, colour[0], colour[1], colour[2]);
}

/* The matte template of spot s, when it was found as a given template
 * whose matte the job has; else NULL. */
static const um_matte_template *given_matte(const um_pipeline_job *job, const um_detector *det, int s)
{
    int t = um_detect_spot_get(det, s)->template;
    return job->matte_templates && t >= 0 && t < job->nb_templates ? &job->matte_templates[t] : NULL;
}

/* Declares every spot to the fit (with its template, when it was found as
 * one) and lists the frames to sample, in decoding order. */
static void plan_samples(const um_pipeline_job *job, const um_detector *det, um_matte_fit *fit,
                         const um_crop_cache *cache, sample_ref **refs, int *count)
{
    for (int s = 0; s < um_detect_spot_count(det); s++) {
        int64_t example;
        um_box box = usual_box(det, s, &example);
        const uint8_t *shape = NULL;
        ptrdiff_t stride = 0;
        if (example >= 0)
            um_detect_box_shape(det, example, box_at(det, example, s, box, NULL), &shape, &stride);
        int index = um_matte_fit_add_spot(fit, box, um_detect_spot_get(det, s)->mark, shape, stride);
        const um_matte_template *given = given_matte(job, det, s);
        if (given)
            um_matte_fit_set_template(fit, index, given, um_detect_spot_get(det, s)->template_scale);
        /* A tracked background follows every frame from the first, so its
         * samples need not favour the kept ones. */
        int tracked = never_leaves(det, s);
        if (tracked)
            um_matte_fit_track_background(fit, index);
        pick_samples(det, s, box, tracked ? NULL : cache, um_matte_fit_needs(fit, index, 0), refs, count);
        if (!tracked)
            pick_clear(det, s, um_matte_fit_needs(fit, index, 0), cache, refs, count);
    }
    qsort(*refs, (size_t)*count, sizeof(sample_ref), compare_refs);
}

int um_pipeline_fit_mattes(const um_pipeline_job *job, const um_detector *det, const um_crop_cache *cache,
                           um_matte ***out, um_error *err)
{
    int spots = um_detect_spot_count(det), count = 0, result = -1;
    um_media_reader *reader = NULL;
    sample_ref *refs = NULL;
    um_matte **mattes = um_xcalloc((size_t)(spots ? spots : 1), sizeof(um_matte *));
    um_matte_fit *fit = NULL;
    if (um_media_reader_open(&reader, job->input, &job->media, err) < 0)
        goto fail;
    const um_media_info *info = um_media_reader_info(reader);
    fit = um_matte_fit_new(info->width, info->height);
    plan_samples(job, det, fit, cache, &refs, &count);
    collect_state c = {fit, cache, refs, count, 0, spots};
    if (collect(job, reader, &c, err) < 0)
        goto fail;
    um_matte_fit_solve(fit, mattes);
    for (int s = 0; s < spots; s++)
        log_matte(det, s, mattes[s], um_matte_fit_samples(fit, s),
                  mattes[s] && given_matte(job, det, s) && um_matte_fit_samples(fit, s) < UM_MATTE_FIT_MIN_SAMPLES);
    *out = mattes;
    mattes = NULL;
    result = 0;
fail:
    for (int s = 0; mattes && s < spots; s++)
        um_matte_free(&mattes[s]);
    free(mattes);
    free(refs);
    um_matte_fit_free(&fit);
    um_media_reader_close(&reader);
    return result;
}

int um_pipeline_fit_spot_mattes(const um_pipeline_detect_job *detect, const um_detector *det,
                                um_matte ***mattes, um_error *err)
{
    um_pipeline_job job;
    um_pipeline_job_init(&job);
    job.input = detect->input;
    job.media = detect->media;
    job.progress = detect->progress;
    job.progress_opaque = detect->progress_opaque;
    job.cancel = detect->cancel;
    return um_pipeline_fit_mattes(&job, det, NULL, mattes, err);
}
