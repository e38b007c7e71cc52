/* The crops the detection pass keeps for the matte pass (crop_cache.c), on
 * frames decoded from moving.mp4: what is kept for a mark and where it
 * comes from, the delay line (the decoder's own frames, held) that keeps a
 * mark found late from where it showed up, and the memory limit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "itest.h"
#include "pipeline/pipeline_internal.h"

/* moving.mp4 (make_media.sh): 480x270, 4:2:0, 8 bits. */
#define W 480
#define H 270
#define FRAMES 40

/* The frames as decoded, to check the crops against. */
static uint8_t *decoded[FRAMES][3];

/* Whether the cache gives frame t's pixels over all of need, from the
 * right places. */
static int holds(const um_crop_cache *c, int64_t t, um_box need)
{
    um_frame crop;
    if (!um_crop_cache_find(c, t, need, &crop))
        return 0;
    assert_int_equal(crop.index, t);
    for (int p = 0; p < 3; p++) {
        int s = p ? 1 : 0, pw = p ? W / 2 : W;
        for (int y = need.y1 >> s; y < need.y2 >> s; y++)
            for (int x = need.x1 >> s; x < need.x2 >> s; x++) {
                uint8_t got = crop.data[p][(y - (crop.y0 >> s)) * crop.linesize[p] + (x - (crop.x0 >> s))];
                assert_int_equal(got, decoded[t][p][y * pw + x]);
            }
    }
    return 1;
}

static void remember(const um_frame *f)
{
    assert_int_equal(f->width, W);
    assert_int_equal(f->height, H);
    for (int p = 0; p < 3; p++) {
        int pw = p ? W / 2 : W, ph = p ? H / 2 : H;
        free(decoded[f->index][p]);
        decoded[f->index][p] = malloc((size_t)pw * ph);
        for (int y = 0; y < ph; y++)
            memcpy(decoded[f->index][p] + y * pw, f->data[p] + y * f->linesize[p], (size_t)pw);
    }
}

static const um_box mark = {100, 80, 160, 110};

/* Decodes frames 0..frames-1 of moving.mp4 into the cache, as detection
 * does; the mark is live from frame `found` on, or with found == frames,
 * found only when detection finishes. */
static void push_frames(um_crop_cache *c, int frames, int found, int steady)
{
    um_media_reader *r = NULL;
    um_media_options o;
    um_error err = {0};
    um_media_options_init(&o);
    o.analysis = UM_MEDIA_LOOK_EXACT;
    o.hwdec = UM_HWDEC_NONE;
    assert_int_equal(um_media_reader_open(&r, it_media("moving.mp4"), &o, &err), 0);
    um_detect_live live = {mark, steady};
    for (int i = 0; i < frames; i++) {
        um_frame *frame = NULL;
        um_media_packet *packet = NULL;
        int item;
        while ((item = um_media_reader_next(r, &frame, &packet, &err)) == UM_MEDIA_PACKET)
            ;
        assert_int_equal(item, UM_MEDIA_FRAME);
        assert_int_equal(frame->index, i);
        remember(frame);
        um_crop_cache_keep(c, um_media_reader_hold(r), &live, i >= found);
    }
    um_crop_cache_finish(c, &live, found <= frames);
    um_media_reader_close(&r);
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
        assert_false(holds(c, 0, (um_box){W - 40, H - 40, W, H}));
        um_crop_cache_free(&c);
        assert_null(c);
    }
}

/* A mark found late has been showing for a while: the frames held back
 * give its crops from `delay` frames before it was found on, not before.
 * One found only when the detector finishes (it showed at the very end,
 * found = 20) is kept from the frames still held back too. */
static void test_mark_found_late(void **state)
{
    (void)state;
    static const struct {
        int found, delay, first_kept;
    } cases[] = {{10, 0, 10}, {10, 4, 6}, {10, 10, 0}, {10, 30, 0}, {20, 0, 20}, {20, 4, 16}, {20, 30, 0}};
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        um_crop_cache *c = um_crop_cache_new(64 << 20);
        um_crop_cache_hold_back(c, cases[k].delay);
        push_frames(c, 20, cases[k].found, 0);
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
    } cases[] = {{100, 1}, {FRAMES, 1}, {FRAMES / 2, 2}, {FRAMES / 4, 4}, {0, 0}};
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        int64_t limit = cases[k].crops * crop;
        um_crop_cache *c = um_crop_cache_new(limit);
        um_crop_cache_hold_back(c, 0);
        push_frames(c, FRAMES, 0, 0);
        assert_true(um_crop_cache_bytes(c) <= limit);
        for (int64_t t = 0; t < FRAMES; t++)
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

static int free_decoded(void **state)
{
    (void)state;
    for (int t = 0; t < FRAMES; t++)
        for (int p = 0; p < 3; p++)
            free(decoded[t][p]);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keeps_what_the_fit_reads),
        cmocka_unit_test(test_mark_found_late),
        cmocka_unit_test(test_memory_limit),
    };
    return cmocka_run_group_tests(tests, NULL, free_decoded);
}
