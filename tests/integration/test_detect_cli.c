/* `unmark detect`: the JSON contract on a clip with a known hopping mark,
 * nothing on a clean moving clip, and its usage errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "itest.h"

/* marked.mp4 (make_media.sh): 25 fps, 150 frames; "Sora" at 20,20 for
 * frames 0-74 and at 360,200 for frames 75-149, about 80x25 pixels. */
static const struct {
    int first, last, x, y;
} mark_stays[] = {{0, 74, 20, 20}, {75, 149, 360, 200}};

/* The boxes list of frame i in the compact JSON, or NULL. */
static const char *frame_boxes(const char *json, int i)
{
    char key[64];
    snprintf(key, sizeof(key), "{\"index\":%d,", i);
    const char *at = strstr(json, key);
    return at ? strstr(at, "\"boxes\":[") : NULL;
}

/* True if the frame's first box holds the mark's text at x,y. */
static int first_box_covers(const char *boxes, int x, int y)
{
    int x1, y1, x2, y2;
    if (!boxes || sscanf(boxes, "\"boxes\":[[%d,%d,%d,%d]", &x1, &y1, &x2, &y2) != 4)
        return 0;
    return x1 <= x + 2 && y1 <= y + 4 && x2 >= x + 70 && y2 >= y + 20 && x2 - x1 < 120 &&
           y2 - y1 < 50;
}

static void test_detect_json_follows_the_mark(void **state)
{
    (void)state;
    it_result r;
    IT_RUN(&r, "detect", it_media("marked.mp4"), "--json", "-q");
    IT_EXPECT_STATUS(&r, 0);
    char *json = it_json_compact(r.out);
    assert_true(it_json_has(json, "\"width\":480"));
    assert_true(it_json_has(json, "\"height\":270"));
    assert_non_null(frame_boxes(json, 149));
    assert_null(frame_boxes(json, 150));
    int misses = 0;
    for (size_t k = 0; k < sizeof(mark_stays) / sizeof(mark_stays[0]); k++)
        for (int i = mark_stays[k].first; i <= mark_stays[k].last; i++)
            if (!first_box_covers(frame_boxes(json, i), mark_stays[k].x, mark_stays[k].y)) {
                if (misses++ < 5)
                    print_error("frame %d: %.80s\n", i, frame_boxes(json, i) ? frame_boxes(json, i) : "(none)");
            }
    assert_int_equal(misses, 0);
    free(json);
    it_result_free(&r);
}

static void test_detect_clean_clip_has_no_box(void **state)
{
    (void)state;
    it_result r;
    IT_RUN(&r, "detect", it_media("moving.mp4"), "--json", "-q");
    IT_EXPECT_STATUS(&r, 0);
    char *json = it_json_compact(r.out);
    assert_non_null(frame_boxes(json, 0));
    assert_null(strstr(json, "\"boxes\":[["));
    assert_true(it_json_has(json, "\"marks\":[]"));
    free(json);
    it_result_free(&r);
}

/* remove with detection on by default: inside the mark's box, on every
 * frame that shows it, the output is closer to the clean clip than the
 * marked input was, and over each stay much closer (inpainting a fine
 * periodic pattern is not exact: under 60% of the input's difference). */
static void test_remove_detects_by_default(void **state)
{
    const char *out = it_join(*state, "clean.mp4");
    it_result r;
    IT_RUN(&r, "remove", it_media("marked.mp4"), "-o", out, "--fast", "-q");
    IT_EXPECT_STATUS(&r, 0);
    it_result_free(&r);
    for (size_t k = 0; k < sizeof(mark_stays) / sizeof(mark_stays[0]); k++) {
        it_rect box = {mark_stays[k].x, mark_stays[k].y + 4, 70, 18};
        it_cmp before, after;
        assert_int_equal(it_compare_luma(it_media("marked.mp4"), it_media("moving.mp4"), box, 8, &before), 0);
        assert_int_equal(it_compare_luma(out, it_media("moving.mp4"), box, 8, &after), 0);
        assert_int_equal(after.n, 150);
        double sum_after = 0, sum_before = 0;
        for (int i = mark_stays[k].first; i <= mark_stays[k].last; i++) {
            if (after.f[i].mad_in >= before.f[i].mad_in)
                print_error("frame %d: mean difference to clean %.1f, marked input %.1f\n", i,
                            after.f[i].mad_in, before.f[i].mad_in);
            assert_true(after.f[i].mad_in < before.f[i].mad_in);
            sum_after += after.f[i].mad_in;
            sum_before += before.f[i].mad_in;
        }
        assert_true(sum_after < 0.6 * sum_before);
        it_cmp_free(&before);
        it_cmp_free(&after);
    }
}

/* --detect none is a plain re-encode of a clip with no region given: the
 * output stays far closer to the marked input than to the clean clip. */
static void test_remove_detect_none_leaves_the_mark(void **state)
{
    const char *out = it_join(*state, "same.mp4");
    it_result r;
    IT_RUN(&r, "remove", it_media("marked.mp4"), "-o", out, "--fast", "-q", "--detect", "none");
    IT_EXPECT_STATUS(&r, 0);
    it_result_free(&r);
    it_cmp to_marked, to_clean;
    it_rect box = {20, 24, 70, 18};
    assert_int_equal(it_compare_luma(out, it_media("marked.mp4"), box, 8, &to_marked), 0);
    assert_int_equal(it_compare_luma(out, it_media("moving.mp4"), box, 8, &to_clean), 0);
    for (int i = 0; i < 75; i++)
        assert_true(to_marked.f[i].mad_in * 3 < to_clean.f[i].mad_in);
    it_cmp_free(&to_marked);
    it_cmp_free(&to_clean);
}

/* --overlay writes the clip with the boxes drawn: every frame kept, with its
 * timestamp, and the picture changed only near the mark. */
static void test_detect_overlay(void **state)
{
    const char *out = it_join(*state, "overlay.mp4");
    it_result r;
    IT_RUN(&r, "detect", it_media("marked.mp4"), "--overlay", out, "-q");
    IT_EXPECT_STATUS(&r, 0);
    it_result_free(&r);
    it_times a, b;
    assert_int_equal(it_video_times(it_media("marked.mp4"), &a), 0);
    assert_int_equal(it_video_times(out, &b), 0);
    assert_int_equal(it_times_mismatch(&a, &b, 1e-6), -1);
    it_times_free(&a);
    it_times_free(&b);
    it_cmp c;
    it_rect box = {10, 10, 100, 44};
    assert_int_equal(it_compare_luma(out, it_media("marked.mp4"), box, 6, &c), 0);
    assert_true(it_cmp_min_psnr_out(&c) > 30);
    assert_true(c.f[10].mad_in > 2); /* the outline is there */
    it_cmp_free(&c);
    IT_RUN(&r, "detect", it_media("marked.mp4"), "--overlay", out, "-q");
    IT_EXPECT_STATUS(&r, 4); /* exists, no --overwrite */
    it_result_free(&r);
}

/* --save-template writes the fitted matte as a PNG the size its JSON says
 * (the mark, 80 x 25, and a margin), with the mark's colour on every plane:
 * the test mark is white (luma ~235, neutral chroma). */
static void test_detect_save_template(void **state)
{
    const char *dir = it_join(*state, "tpl");
    it_result r;
    IT_RUN(&r, "detect", it_media("marked.mp4"), "--save-template", dir, "-q");
    IT_EXPECT_STATUS(&r, 0);
    it_result_free(&r);
    size_t size;
    char *json = (char *)it_read_file(it_join(dir, "template.json"), &size);
    assert_non_null(json);
    double w, h, colour;
    assert_true(it_json_has(json, "\"alpha\":\"mark0_alpha.png\""));
    assert_int_equal(it_json_number(json, "width", &w), 0);
    assert_int_equal(it_json_number(json, "height", &h), 0);
    assert_int_equal(it_json_number(json, "colour_luma", &colour), 0);
    assert_true(colour > 190 && colour <= 255);
    const char *planes = strstr(json, "\"colour\":[");
    assert_non_null(planes);
    double y, u, v;
    assert_int_equal(sscanf(planes, "\"colour\":[%lf,%lf,%lf]", &y, &u, &v), 3);
    assert_true(fabs(y - colour) < 0.1);
    assert_true(fabs(u - 128) < 8 && fabs(v - 128) < 8);
    assert_true(it_json_has(json, "\"rgb\":false"));
    it_props p;
    assert_int_equal(it_probe(it_join(dir, "mark0_alpha.png"), &p), 0);
    assert_int_equal(p.width, (int)w);
    assert_int_equal(p.height, (int)h);
    assert_true(w >= 80 && w <= 110 && h >= 25 && h <= 50);
    free(json);
}

/* A template saved from the video finds the mark in a still, which has no
 * time to learn from, and un-blends it: against the picture under the mark
 * (under_mark.png) the result is far closer than a fill of the mark's
 * shape (--method inpaint); measured: mean difference 4.7 against 11.3
 * (47.7 with the mark).
 * Without a template nothing changes beyond the PNG round trip. */
static void test_remove_still_with_template(void **state)
{
    const char *dir = it_join(*state, "tpl");
    it_result r;
    IT_RUN(&r, "detect", it_media("marked.mp4"), "--save-template", dir, "-q");
    IT_EXPECT_STATUS(&r, 0);
    it_result_free(&r);
    char with[512], filled[512], without[512];
    snprintf(with, sizeof(with), "%s", it_join(*state, "with.png"));
    snprintf(filled, sizeof(filled), "%s", it_join(*state, "filled.png"));
    snprintf(without, sizeof(without), "%s", it_join(*state, "without.png"));
    IT_RUN(&r, "remove", it_media("marked.png"), "-o", with, "--template", dir, "-q");
    IT_EXPECT_STATUS(&r, 0);
    it_result_free(&r);
    IT_RUN(&r, "remove", it_media("marked.png"), "-o", filled, "--template", dir, "--method", "inpaint", "-q");
    IT_EXPECT_STATUS(&r, 0);
    it_result_free(&r);
    IT_RUN(&r, "remove", it_media("marked.png"), "-o", without, "-q");
    IT_EXPECT_STATUS(&r, 0);
    it_result_free(&r);
    it_rect box = {21, 19, 80, 25};
    it_cmp marked, a, fill, b;
    assert_int_equal(it_compare_luma(it_media("marked.png"), it_media("under_mark.png"), box, 8, &marked), 0);
    assert_int_equal(it_compare_luma(with, it_media("under_mark.png"), box, 8, &a), 0);
    assert_int_equal(it_compare_luma(filled, it_media("under_mark.png"), box, 8, &fill), 0);
    assert_int_equal(it_compare_luma(without, it_media("marked.png"), box, 8, &b), 0);
    if (getenv("UNMARK_TEST_VERBOSE"))
        printf("still: mean difference in the box %.2f marked, %.2f un-blended, %.2f filled\n",
               marked.f[0].mad_in, a.f[0].mad_in, fill.f[0].mad_in);
    assert_true(marked.f[0].mad_in > 15);               /* the mark is there */
    assert_true(a.f[0].mad_in < 0.6 * fill.f[0].mad_in); /* un-blended, not filled */
    assert_true(a.f[0].mad_in < 6);
    assert_true(a.f[0].psnr_out >= marked.f[0].psnr_out - 0.01); /* nothing else changed */
    assert_true(b.f[0].mad_in < 1);                     /* no template: left alone */
    it_cmp_free(&marked);
    it_cmp_free(&a);
    it_cmp_free(&fill);
    it_cmp_free(&b);
    IT_RUN(&r, "remove", it_media("marked.png"), "-o", it_join(*state, "x.png"), "--template",
           it_join(*state, "missing"), "-q");
    IT_EXPECT_STATUS(&r, 2);
    it_result_free(&r);
}

static void test_detect_usage_errors(void **state)
{
    (void)state;
    static const char *const bad[][2] = {
        {"--scales", "0"}, {"--scales", "1,,2"}, {"--max-area", "0"}, {"--max-area", "150"},
        {"--memory-limit", "lots"}, {"--memory-limit", "1"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        it_result r;
        IT_RUN(&r, "detect", it_media("marked.mp4"), bad[i][0], bad[i][1], "-q");
        IT_EXPECT_STATUS(&r, 2);
        it_result_free(&r);
    }
    it_result r;
    IT_RUN(&r, "remove", it_media("marked.mp4"), "-o", "x.mp4", "--detect", "maybe");
    IT_EXPECT_STATUS(&r, 2);
    it_result_free(&r);
    IT_RUN(&r, "detect", it_media("empty.mp4"));
    IT_EXPECT_STATUS(&r, 3);
    it_result_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_detect_json_follows_the_mark),
        cmocka_unit_test(test_detect_clean_clip_has_no_box),
        cmocka_unit_test(test_detect_usage_errors),
        cmocka_unit_test_setup_teardown(test_detect_overlay, it_setup_tmpdir, it_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(test_detect_save_template, it_setup_tmpdir, it_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(test_remove_still_with_template, it_setup_tmpdir, it_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(test_remove_detects_by_default, it_setup_tmpdir, it_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(test_remove_detect_none_leaves_the_mark, it_setup_tmpdir,
                                        it_teardown_tmpdir),
    };
    return cmocka_run_group_tests_name("integration.detect", tests, NULL, NULL);
}
