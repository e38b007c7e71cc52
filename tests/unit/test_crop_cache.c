/* The crops the detection pass keeps for the matte pass (crop_cache.c):
 * what is kept for a mark and where it comes from, the delay line that
 * keeps a mark found late from where it showed up, and the memory limit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pipeline/pipeline_internal.h"

#define W 320
#define H 240

typedef struct {
    um_frame f;
    uint8_t *planes[3];
} test_frame;

/* A value that differs with the plane, the place and the frame, so that a
 * crop read from the wrong place or frame shows. */
static uint8_t pattern(int p, int x, int y, int64_t t)
{
    return (uint8_t)(x * 7 + y * 13 + p * 50 + t * 3);
}

static void frame_make(test_frame *t, int64_t index)
{
    memset(t, 0, sizeof(*t));
    t->f.width = W;
    t->f.height = H;
    t->f.nb_planes = 3;
    t->f.depth = 8;
    t->f.log2_chroma_w = t->f.log2_chroma_h = 1;
    t->f.index = index;
    for (int p = 0; p < 3; p++) {
        int pw = p ? W / 2 : W, ph = p ? H / 2 : H;
        t->planes[p] = malloc((size_t)pw * ph);
        t->f.data[p] = t->planes[p];
        t->f.linesize[p] = pw;
        for (int y = 0; y < ph; y++)
            for (int x = 0; x < pw; x++)
                t->planes[p][y * pw + x] = pattern(p, x, y, index);
    }
}

static void frame_free(test_frame *t)
{
    for (int p = 0; p < 3; p++)
        free(t->planes[p]);
}

/* Whether the cache gives frame t's pixels over all of need, from the
 * right places. */
static int holds(const um_crop_cache *c, int64_t t, um_box need)
{
    um_frame crop;
    if (!um_crop_cache_find(c, t, need, &crop))
        return 0;
    assert_int_equal(crop.index, t);
    for (int p = 0; p < 3; p++) {
        int s = p ? 1 : 0;
        for (int y = need.y1 >> s; y < need.y2 >> s; y++)
            for (int x = need.x1 >> s; x < need.x2 >> s; x++) {
                uint8_t got = crop.data[p][(y - (crop.y0 >> s)) * crop.linesize[p] + (x - (crop.x0 >> s))];
                assert_int_equal(got, pattern(p, x, y, t));
            }
    }
    return 1;
}

static const um_box mark = {100, 80, 160, 110};

/* Pushes frames 0..frames-1; the mark is live from frame `found` on. */
static void push_frames(um_crop_cache *c, int frames, int found, int steady)
{
    um_detect_live live = {mark, steady};
    for (int i = 0; i < frames; i++) {
        test_frame t;
        frame_make(&t, i);
        um_crop_cache_keep(c, &t.f, &live, i >= found);
        frame_free(&t);
    }
}

static void test_keeps_what_the_fit_reads(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        int steady;
        int holds_sample, holds_surroundings;
    } cases[] = {
        {"a mark that hops: a sample's crop only", 0, 1, 0},
        {"a mark that may never leave: the scene around it too", 1, 1, 1},
    };
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        um_crop_cache *c = um_crop_cache_new(64 << 20);
        um_crop_cache_hold_back(c, 0);
        push_frames(c, 4, 0, cases[k].steady);
        for (int64_t t = 0; t < 4; t++) {
            assert_int_equal(holds(c, t, um_matte_fit_reach(mark, W, H, 0)), cases[k].holds_sample);
            assert_int_equal(holds(c, t, um_matte_fit_reach(mark, W, H, 1)), cases[k].holds_surroundings);
        }
        assert_false(holds(c, 4, um_matte_fit_reach(mark, W, H, 0)));
        assert_false(holds(c, 0, (um_box){0, 0, 40, 40}));
        um_crop_cache_free(&c);
        assert_null(c);
    }
}

/* A mark found at frame 10 has been showing for a while: the frames held
 * back give its crops from frame 10 - delay on, not before. */
static void test_mark_found_late(void **state)
{
    (void)state;
    static const struct {
        int delay, first_kept;
    } cases[] = {{0, 10}, {4, 6}, {10, 0}, {30, 0}};
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        um_crop_cache *c = um_crop_cache_new(64 << 20);
        um_crop_cache_hold_back(c, cases[k].delay);
        push_frames(c, 20, 10, 0);
        for (int64_t t = 0; t < 20; t++)
            assert_int_equal(holds(c, t, um_matte_fit_reach(mark, W, H, 0)), t >= cases[k].first_kept);
        um_crop_cache_free(&c);
    }
}

/* Past the limit the kept frames thin out evenly (every 2nd, 4th...) and
 * the memory stays under it; a limit that one frame passes keeps nothing,
 * and so does none at all. */
static void test_memory_limit(void **state)
{
    (void)state;
    um_box sample = um_matte_fit_reach(mark, W, H, 0);
    int64_t crop = (int64_t)(sample.x2 - sample.x1) * (sample.y2 - sample.y1) * 3 / 2;
    static const struct {
        int64_t crops;      /* the limit, in crops */
        int step;           /* every step-th frame kept; 0: none */
    } cases[] = {{100, 1}, {40, 1}, {20, 2}, {10, 4}, {0, 0}};
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        int64_t limit = cases[k].crops * crop;
        um_crop_cache *c = um_crop_cache_new(limit);
        um_crop_cache_hold_back(c, 0);
        push_frames(c, 40, 0, 0);
        assert_true(um_crop_cache_bytes(c) <= limit);
        for (int64_t t = 0; t < 40; t++)
            assert_int_equal(holds(c, t, sample), cases[k].step && t % cases[k].step == 0);
        um_crop_cache_free(&c);
    }
    um_crop_cache *c = um_crop_cache_new(crop / 2);
    um_crop_cache_hold_back(c, 0);
    push_frames(c, 4, 0, 0);
    assert_int_equal(um_crop_cache_bytes(c), 0);
    assert_false(holds(c, 0, sample));
    um_crop_cache_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keeps_what_the_fit_reads),
        cmocka_unit_test(test_mark_found_late),
        cmocka_unit_test(test_memory_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
