/*
 * From scores to boxes: per spot, frames that match its template well are
 * seeds; runs grow from them into neighbouring frames that still match a
 * little (up to extend_back frames before and extend_ahead seconds after),
 * gaps of a few frames inside a run are filled, and blips shorter than three
 * frames are dropped — except at the clip's ends, where a short run is a mark
 * cut by the edit, not noise.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "detect/detect_internal.h"
#include "unmark/kernels.h"

/* A spot whose best frames correlate below this is not a mark. */
#define MIN_PEAK_SCORE 0.6
#define MIN_RUN 3
/* A mark is at least this many detection pixels across either way: a
 * sliver is an edge that stood still, not an overlay. */
#define MIN_SIDE 4
/* Templates correlating this well show the same mark. */
#define SAME_MARK_SCORE 0.6
/* A spot whose clear matches sit more than WANDER_SLACK detection pixels
 * from their usual place in more than this share of its frames follows
 * the picture (see follows_picture). */
#define MAX_WANDER_SHARE 0.25
#define WANDER_SLACK 1

static int compare_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* The score that most frames showing the mark reach: the 90th percentile. */
static double peak_score(const det_spot *s, int64_t frames)
{
    float *v = um_xmalloc((size_t)(frames ? frames : 1) * sizeof(float));
    int64_t n = 0;
    for (int64_t t = 0; t < frames; t++)
        if (!isnan(s->score[t]))
            v[n++] = s->score[t];
    double p = 0;
    if (n) {
        qsort(v, (size_t)n, sizeof(float), compare_float);
        p = v[(n * 9) / 10];
    }
    free(v);
    return p;
}

static int score_at_least(const det_spot *s, int64_t t, double thr)
{
    return !isnan(s->score[t]) && s->score[t] >= thr;
}

static void fill_gaps(uint8_t *on, int64_t frames, int max_gap)
{
    int64_t last_on = -1;
    for (int64_t t = 0; t < frames; t++) {
        if (!on[t])
            continue;
        if (last_on >= 0 && t - last_on - 1 <= max_gap)
            memset(on + last_on + 1, 1, (size_t)(t - last_on - 1));
        last_on = t;
    }
}

static void drop_blips(uint8_t *on, int64_t frames)
{
    for (int64_t a = 0; a < frames;) {
        if (!on[a]) {
            a++;
            continue;
        }
        int64_t b = a;
        while (b < frames && on[b])
            b++;
        if (b - a < MIN_RUN && a > 0 && b < frames)
            memset(on + a, 0, (size_t)(b - a));
        a = b;
    }
}

static void extend_runs(const um_detector *d, const det_spot *s, uint8_t *on, double low)
{
    int64_t frames = d->frames, ahead = (int64_t)lround(d->o.extend_ahead * d->fps);
    uint8_t *seed = um_xmalloc((size_t)frames);
    memcpy(seed, on, (size_t)frames);
    for (int64_t t = 0; t < frames; t++) {
        if (!seed[t])
            continue;
        if (t == 0 || !seed[t - 1])
            for (int64_t u = t - 1; u >= 0 && u >= t - d->o.extend_back && score_at_least(s, u, low); u--)
                on[u] = 1;
        if (t == frames - 1 || !seed[t + 1])
            for (int64_t u = t + 1; u < frames && u <= t + ahead && score_at_least(s, u, low); u++)
                on[u] = 1;
    }
    free(seed);
}

/* The median of a spot's best offsets (-DET_SEARCH .. DET_SEARCH) along
 * one axis over the n frames clear[] marks. */
static int median_offset(const int8_t *off, const uint8_t *clear, int64_t frames, int64_t n)
{
    int64_t count[2 * DET_SEARCH + 1] = {0}, seen = 0;
    for (int64_t t = 0; t < frames; t++)
        if (clear[t])
            count[off[t] + DET_SEARCH]++;
    for (int k = 0; k <= 2 * DET_SEARCH; k++) {
        seen += count[k];
        if (2 * seen > n)
            return k - DET_SEARCH;
    }
    return 0;
}

/*
 * An overlay stands still in the frame: wherever it clearly shows, its
 * template matches at one place. Something in the picture that held still
 * long enough to be learnt as a spot (a blurred ball of light while a
 * handheld camera turned round) is matched wherever the camera carries it
 * next, up to the search range: its best offsets wander, and un-blending
 * it would wipe it out of the picture. True when more than
 * MAX_WANDER_SHARE of the frames clear[] marks (those matching well)
 * sit off the usual place.
 */
static int follows_picture(const det_spot *s, const uint8_t *clear, int64_t frames)
{
    int64_t n = 0, off = 0;
    for (int64_t t = 0; t < frames; t++)
        n += clear[t];
    int mx = median_offset(s->off_x, clear, frames, n), my = median_offset(s->off_y, clear, frames, n);
    for (int64_t t = 0; t < frames; t++)
        off += clear[t] && (abs(s->off_x[t] - mx) > WANDER_SLACK || abs(s->off_y[t] - my) > WANDER_SLACK);
    return off > MAX_WANDER_SHARE * (double)n;
}

/* Which frames show the spot's mark. Returns how many. */
static int64_t presence(const um_detector *d, const det_spot *s, uint8_t *on)
{
    int64_t frames = d->frames;
    memset(on, 0, (size_t)frames);
    double peak = peak_score(s, frames);
    if (peak < MIN_PEAK_SCORE || s->tx2 - s->tx1 < MIN_SIDE || s->ty2 - s->ty1 < MIN_SIDE)
        return 0;
    double high = fmax(0.25, 0.5 * peak), low = fmax(0.15, 0.3 * peak);
    for (int64_t t = 0; t < frames; t++)
        on[t] = score_at_least(s, t, high);
    if (follows_picture(s, on, frames)) {
        memset(on, 0, (size_t)frames);
        return 0;
    }
    fill_gaps(on, frames, d->o.max_gap);
    drop_blips(on, frames);
    extend_runs(d, s, on, low);
    fill_gaps(on, frames, d->o.max_gap);
    int64_t n = 0;
    for (int64_t t = 0; t < frames; t++)
        n += on[t];
    return n;
}

/* The box of spot s in frame t, in frame pixels: the template's strong
 * cluster at the scale and offset that matched. */
static um_box unclipped_box(const um_detector *d, const det_spot *s, int64_t t)
{
    double scale = d->o.scales[s->scale_idx[t]];
    double cx = s->x + s->w / 2.0 + s->off_x[t], cy = s->y + s->h / 2.0 + s->off_y[t];
    double x1 = cx + (s->tx1 - s->w / 2.0) * scale, x2 = cx + (s->tx2 - s->w / 2.0) * scale;
    double y1 = cy + (s->ty1 - s->h / 2.0) * scale, y2 = cy + (s->ty2 - s->h / 2.0) * scale;
    int f = d->factor;
    um_box b = {(int)floor(x1 * f), (int)floor(y1 * f), (int)ceil(x2 * f), (int)ceil(y2 * f)};
    return b;
}

um_box det_clip_box(const um_detector *d, um_box b)
{
    b.x1 = b.x1 < 0 ? 0 : b.x1;
    b.y1 = b.y1 < 0 ? 0 : b.y1;
    b.x2 = b.x2 > d->width ? d->width : b.x2;
    b.y2 = b.y2 > d->height ? d->height : b.y2;
    return b;
}

static um_box spot_box(const um_detector *d, const det_spot *s, int64_t t)
{
    return det_clip_box(d, unclipped_box(d, s, t));
}

/* Frames a spot was unsure about (no score, or a scale/offset from a bad
 * match) take the run's most common placement. */
static void settle_placement(det_spot *s, const uint8_t *on, int64_t frames)
{
    for (int64_t a = 0; a < frames;) {
        if (!on[a]) {
            a++;
            continue;
        }
        int64_t b = a, best = -1;
        while (b < frames && on[b]) {
            if (!isnan(s->score[b]) && (best < 0 || s->score[b] > s->score[best]))
                best = b;
            b++;
        }
        for (int64_t t = a; t < b && best >= 0; t++) {
            s->scale_idx[t] = s->scale_idx[best];
            s->off_x[t] = s->off_x[best];
            s->off_y[t] = s->off_y[best];
        }
        a = b;
    }
}

static void add_public_spot(um_detector *d, const det_spot *s, const uint8_t *on, int64_t count)
{
    um_detect_spot *p = &d->public_spots[d->nb_public++];
    memset(p, 0, sizeof(*p));
    p->frames = count;
    p->mark = s->mark;
    p->template = s->given;
    int first = 1;
    for (int64_t t = 0; t < d->frames; t++) {
        if (!on[t])
            continue;
        um_box b = spot_box(d, s, t);
        if (first) {
            p->box = b;
            p->scale = d->o.scales[s->scale_idx[t]];
            p->template_scale = s->given_scale * p->scale;
            first = 0;
        }
        p->box.x1 = b.x1 < p->box.x1 ? b.x1 : p->box.x1;
        p->box.y1 = b.y1 < p->box.y1 ? b.y1 : p->box.y1;
        p->box.x2 = b.x2 > p->box.x2 ? b.x2 : p->box.x2;
        p->box.y2 = b.y2 > p->box.y2 ? b.y2 : p->box.y2;
    }
}

/* How well spot a's mark (its template inside its box) matches spot b's
 * template, at the best placement of a's box inside b's window. */
static double match_mark(const det_spot *a, const det_spot *b, int *bx, int *by)
{
    return det_match_box(a, b->tgx, b->tgy, b->w, 0, 0, b->w - (a->tx2 - a->tx1), b->h - (a->ty2 - a->ty1), bx,
                         by);
}

static int64_t box_area(const det_spot *s) { return (int64_t)(s->tx2 - s->tx1) * (s->ty2 - s->ty1); }

/* Gives spot b the box of spot a's mark, placed at (x, y) in b's window. */
static void take_box(det_spot *b, const det_spot *a, int x, int y)
{
    b->tx1 = x;
    b->ty1 = y;
    b->tx2 = x + a->tx2 - a->tx1;
    b->ty2 = y + a->ty2 - a->ty1;
}

/* Spots whose templates match are one mark seen at several places (Sora's
 * hops). The tightest spot's box is the mark's shape, placed where it
 * matches in the others: a spot that took some still background into its
 * box gets the mark's own box back. Not a spot learnt over a still
 * picture's: its box may be a part of the mark (see
 * complete_partial_still_spots), which gives it to the others once whole. */
static void group_marks(um_detector *d)
{
    int order[DET_MAX_SPOTS], n = 0, marks = 0;
    for (int i = 0; i < d->nb_spots; i++) {
        d->spots[i].mark = -1;
        if (!d->spots[i].discarded && box_area(&d->spots[i]) > 0)
            order[n++] = i;
    }
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && box_area(&d->spots[order[j]]) < box_area(&d->spots[order[j - 1]]); j--) {
            int t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    for (int i = 0; i < n; i++) {
        det_spot *a = &d->spots[order[i]];
        if (a->mark >= 0)
            continue;
        a->mark = marks++;
        for (int j = i + 1; j < n; j++) {
            det_spot *b = &d->spots[order[j]];
            int x = 0, y = 0;
            if (b->mark >= 0 || match_mark(a, b, &x, &y) < SAME_MARK_SCORE)
                continue;
            b->mark = a->mark;
            if (box_area(b) * 5 <= box_area(a) * 6 || b->from_still || a->from_still)
                continue; /* its own box is as tight (or learnt from the background): keep it */
            take_box(b, a, x, y);
        }
    }
}

/* The largest spot of spot i's mark learnt over a still picture, other
 * than i: NULL when none is. */
static const det_spot *largest_still_spot(const um_detector *d, int i)
{
    const det_spot *whole = NULL;
    for (int j = 0; j < d->nb_spots; j++) {
        const det_spot *c = &d->spots[j];
        if (j != i && !c->discarded && c->from_still && c->mark == d->spots[i].mark &&
            (!whole || box_area(c) > box_area(whole)))
            whole = c;
    }
    return whole;
}

/* Over a still picture a spot may have learnt only part of the mark (the
 * background estimate fails where the mark showed half of the time, and
 * where it differs from a bright picture by less than the threshold): the
 * largest still spot of the mark has it whole, so the part is placed
 * within it and takes its box. Then that box is the mark's shape for the
 * spots not learnt over the still picture (found by a template, their box
 * the window), as group_marks would have placed it. */
static void complete_partial_still_spots(um_detector *d)
{
    for (int i = 0; i < d->nb_spots; i++) {
        det_spot *part = &d->spots[i];
        if (part->discarded || !part->from_still)
            continue;
        const det_spot *whole = largest_still_spot(d, i);
        int x = 0, y = 0;
        if (!whole || box_area(whole) * 4 <= box_area(part) * 5 ||
            match_mark(part, whole, &x, &y) < SAME_MARK_SCORE)
            continue;
        /* part's box sits at x, y in whole's window; whole's box in part's
         * window coordinates follows. */
        int dx = part->tx1 - x, dy = part->ty1 - y;
        part->tx1 = whole->tx1 + dx;
        part->ty1 = whole->ty1 + dy;
        part->tx2 = whole->tx2 + dx;
        part->ty2 = whole->ty2 + dy;
    }
    for (int i = 0; i < d->nb_spots; i++) {
        det_spot *other = &d->spots[i];
        const det_spot *shape = other->discarded || other->from_still ? NULL : largest_still_spot(d, i);
        int x = 0, y = 0;
        if (shape && box_area(other) * 5 > box_area(shape) * 6 &&
            match_mark(shape, other, &x, &y) >= SAME_MARK_SCORE)
            take_box(other, shape, x, y);
    }
}

static int other_spot_of_mark_present(const um_detector *d, uint8_t *const *on, int self, int64_t a,
                                      int64_t b)
{
    for (int j = 0; j < d->nb_spots; j++) {
        if (j == self || d->spots[j].discarded || d->spots[j].mark != d->spots[self].mark)
            continue;
        for (int64_t t = a; t < b; t++)
            if (on[j][t])
                return 1;
    }
    return 0;
}

/* A spot's chroma may match in frames its mark has left for another place
 * (its chroma edges learnt partly from the picture under it, which stayed):
 * where another spot sees the mark by its luma, that one has it. */
static void drop_chroma_sightings_elsewhere(um_detector *d, uint8_t **on)
{
    for (int i = 0; i < d->nb_spots; i++) {
        det_spot *s = &d->spots[i];
        for (int64_t t = 0; t < d->frames && !s->discarded; t++) {
            if (!on[i][t] || !s->by_chroma[t])
                continue;
            for (int j = 0; j < d->nb_spots; j++)
                if (j != i && !d->spots[j].discarded && d->spots[j].mark == s->mark && on[j][t] &&
                    !d->spots[j].by_chroma[t])
                    on[i][t] = 0;
        }
    }
}

/* A mark seen at one place before and after a stretch, and nowhere else
 * meanwhile, stayed there: its edges only faded against a background of
 * its own brightness. Filling such gaps keeps it from flashing back. */
static void fill_unexplained_gaps(um_detector *d, uint8_t **on)
{
    for (int i = 0; i < d->nb_spots; i++) {
        if (d->spots[i].discarded)
            continue;
        int64_t last_on = -1;
        for (int64_t t = 0; t < d->frames; t++) {
            if (!on[i][t])
                continue;
            if (last_on >= 0 && t - last_on > 1 &&
                !other_spot_of_mark_present(d, on, i, last_on + 1, t))
                memset(on[i] + last_on + 1, 1, (size_t)(t - last_on - 1));
            last_on = t;
        }
    }
}

/* Whether spot i's sighting (box a) gives way to spot j's (box b): b is
 * the larger (the whole mark, where i may have learnt a part), or as large
 * and j was found first. */
static int gives_way(um_box a, um_box b, int i, int j)
{
    int64_t area_a = (int64_t)(a.x2 - a.x1) * (a.y2 - a.y1), area_b = (int64_t)(b.x2 - b.x1) * (b.y2 - b.y1);
    return area_b > area_a || (area_b == area_a && j < i);
}

/* Two spots of one mark seen in the same frame over the same place (their
 * boxes overlapping over half of the smaller) are one mark found twice: a
 * sunset pan's mark, found at its third place by two spots, was taken off
 * twice there, 60 levels too dark. One sighting stays (gives_way). */
static void drop_doubled_sightings(const um_detector *d, uint8_t **on)
{
    for (int i = 0; i < d->nb_spots; i++)
        for (int j = 0; j < d->nb_spots && !d->spots[i].discarded; j++) {
            if (j == i || d->spots[j].discarded || d->spots[j].mark != d->spots[i].mark)
                continue;
            for (int64_t t = 0; t < d->frames; t++) {
                if (!on[i][t] || !on[j][t])
                    continue;
                um_box a = spot_box(d, &d->spots[i], t), b = spot_box(d, &d->spots[j], t);
                if (det_overlap_of_smaller(a, b) >= 0.5 && gives_way(a, b, i, j))
                    on[i][t] = 0;
            }
        }
}

void det_build_timeline(um_detector *d)
{
    int64_t frames = d->frames;
    uint8_t **on = um_xcalloc((size_t)d->nb_spots + 1, sizeof(*on));
    for (int i = 0; i < d->nb_spots; i++) {
        det_spot *s = &d->spots[i];
        det_spot_reserve(s, frames);
        det_spot_box_from_evidence(d, s);
        on[i] = um_xmalloc((size_t)(frames ? frames : 1));
        int64_t n = presence(d, s, on[i]);
        s->present_frames = n;
        s->discarded = n == 0;
    }
    group_marks(d);
    complete_partial_still_spots(d);
    for (int i = 0; i < d->nb_spots; i++)
        if (!d->spots[i].discarded)
            det_spot_estimate_matte(d, &d->spots[i]);
    drop_chroma_sightings_elsewhere(d, on);
    fill_unexplained_gaps(d, on);
    for (int i = 0; i < d->nb_spots; i++)
        if (!d->spots[i].discarded)
            settle_placement(&d->spots[i], on[i], frames);
    drop_doubled_sightings(d, on);
    for (int i = 0; i < d->nb_spots; i++) {
        d->spots[i].present_frames = 0;
        for (int64_t t = 0; t < frames && !d->spots[i].discarded; t++)
            d->spots[i].present_frames += on[i][t];
        d->spots[i].discarded |= d->spots[i].present_frames == 0;
    }
    int64_t total = 0;
    for (int i = 0; i < d->nb_spots; i++)
        total += d->spots[i].present_frames;
    d->boxes = um_xmalloc((size_t)(total ? total : 1) * sizeof(um_box));
    d->box_first = um_xmalloc((size_t)(frames + 1) * sizeof(int64_t));
    size_t nb = (size_t)(total ? total : 1);
    d->box_spot = um_xmalloc(nb);
    d->box_scale = um_xmalloc(nb);
    d->box_dx = um_xmalloc(nb * sizeof(int32_t));
    d->box_dy = um_xmalloc(nb * sizeof(int32_t));
    for (int i = 0; i < d->nb_spots; i++)
        if (!d->spots[i].discarded)
            det_build_shapes(d, &d->spots[i]);
    int64_t k = 0;
    for (int64_t t = 0; t < frames; t++) {
        d->box_first[t] = k;
        for (int i = 0; i < d->nb_spots; i++) {
            if (!on[i][t])
                continue;
            um_box full = unclipped_box(d, &d->spots[i], t);
            d->boxes[k] = spot_box(d, &d->spots[i], t);
            d->box_spot[k] = (int8_t)i;
            d->box_scale[k] = d->spots[i].scale_idx[t];
            d->box_dx[k] = d->boxes[k].x1 - full.x1;
            d->box_dy[k] = d->boxes[k].y1 - full.y1;
            k++;
        }
    }
    d->box_first[frames] = k;
    for (int i = 0; i < d->nb_spots; i++) {
        if (!d->spots[i].discarded) {
            d->public_index[d->nb_public] = i;
            add_public_spot(d, &d->spots[i], on[i], d->spots[i].present_frames);
        }
        free(on[i]);
    }
    free(on);
}
