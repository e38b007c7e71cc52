/* `remove --method`: restoring (inverting the blend with a matte fitted
 * from the video) against filling, on marked.mp4, whose clean original
 * (moving.mp4) is known; and the flag's usage errors. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "itest.h"

/* marked.mp4 (make_media.sh): 25 fps, 150 frames; a 75%-opaque white "Sora"
 * at 20,20 for frames 0-74 and at 360,200 for frames 75-149. The boxes
 * below hold its glyphs. */
static const struct {
    int first, last;
    it_rect box;
} stays[] = {{5, 70, {20, 24, 70, 18}}, {80, 145, {360, 204, 70, 18}}};

/* Mean, over the frames where the mark stands still, of the luma
 * difference to the clean clip inside its box. */
static double mean_error(const char *path)
{
    double sum = 0;
    int n = 0;
    for (size_t k = 0; k < sizeof(stays) / sizeof(stays[0]); k++) {
        it_cmp c;
        assert_int_equal(it_compare_luma(path, it_media("moving.mp4"), stays[k].box, 8, &c), 0);
        assert_int_equal(c.n, 150);
        for (int i = stays[k].first; i <= stays[k].last; i++, n++)
            sum += c.f[i].mad_in;
        it_cmp_free(&c);
    }
    return sum / n;
}

static void run_remove(const char *out, const char *method, it_result *r)
{
    IT_RUN(r, "remove", it_media("marked.mp4"), "-o", out, "--fast", "--method", method);
    IT_EXPECT_STATUS(r, 0);
}

/* Restoring brings the picture back far closer than filling can guess it:
 * the matte is fitted (and said so) and the error in the mark's box is a
 * fraction of the fill's, and small in levels (5.5 measured: the clip's
 * coding noise, amplified by 1 / (1 - a) = 4 under the strokes). */
static void test_unblend_beats_inpaint(void **state)
{
    const char *restored = it_join(*state, "restored.mp4"), *filled = it_join(*state, "filled.mp4");
    it_result r;
    run_remove(restored, "auto", &r);
    IT_CHECK(IT_HAS_LINE(r.err, "unmark: matte: mark 0", "fitted from"), "no matte line in:\n%s", r.err);
    it_result_free(&r);
    run_remove(filled, "inpaint", &r);
    IT_CHECK(!IT_HAS_LINE(r.err, "unmark: matte:", "fitted"), "inpaint fitted a matte:\n%s", r.err);
    it_result_free(&r);
    double marked = mean_error(it_media("marked.mp4")), unblend = mean_error(restored),
           inpaint = mean_error(filled);
    print_message("mean luma error in the box: marked %.2f, inpaint %.2f, unblend %.2f\n", marked,
                  inpaint, unblend);
    IT_CHECK(unblend < 0.4 * inpaint, "unblend %.2f is not well below inpaint %.2f", unblend, inpaint);
    IT_CHECK(unblend < 7.0, "unblend leaves %.2f levels of error", unblend);
}

/* --method unblend restores too (only the nearly opaque residue differs). */
static void test_method_unblend(void **state)
{
    const char *out = it_join(*state, "unblend.mp4");
    it_result r;
    run_remove(out, "unblend", &r);
    it_result_free(&r);
    double error = mean_error(out);
    IT_CHECK(error < 7.0, "--method unblend leaves %.2f levels of error", error);
}

/* The matte fit reads the crops detection kept instead of decoding the
 * video again (no "decoding ... again" line), and restores as well as from
 * a second decode (--matte-cache 0): their samples differ a little, not
 * their error. */
static void test_matte_from_kept_crops(void **state)
{
    const char *kept = it_join(*state, "kept.mp4"), *decoded = it_join(*state, "decoded.mp4");
    it_result r;
    run_remove(kept, "auto", &r);
    IT_CHECK(!strstr(r.err, "again"), "the matte pass decoded again:\n%s", r.err);
    IT_CHECK(IT_HAS_LINE(r.err, "unmark: matte: mark 0", "fitted from"), "no fit in:\n%s", r.err);
    it_result_free(&r);
    IT_RUN(&r, "remove", it_media("marked.mp4"), "-o", decoded, "--fast", "--matte-cache", "0");
    IT_EXPECT_STATUS(&r, 0);
    it_result_free(&r);
    double from_kept = mean_error(kept), from_decode = mean_error(decoded);
    print_message("mean luma error in the box: from kept crops %.2f, decoded again %.2f\n", from_kept,
                  from_decode);
    IT_CHECK(fabs(from_kept - from_decode) < 0.5, "kept crops %.2f against %.2f decoded", from_kept,
             from_decode);
}

static void test_method_usage_errors(void **state)
{
    (void)state;
    it_result r;
    IT_RUN(&r, "remove", it_media("marked.mp4"), "-o", "/tmp/unused-unmark.mp4", "--matte-cache", "lots");
    IT_EXPECT_STATUS(&r, 2);
    IT_CHECK(strstr(r.err, "--matte-cache \"lots\"") != NULL, "no mention of the flag:\n%s", r.err);
    it_result_free(&r);
    IT_RUN(&r, "remove", it_media("marked.mp4"), "-o", "/tmp/unused-unmark.mp4", "--method", "blend");
    IT_EXPECT_STATUS(&r, 2);
    IT_CHECK(strstr(r.err, "--method blend") != NULL, "no mention of the flag:\n%s", r.err);
    it_result_free(&r);
    setenv("UNMARK_METHOD", "smear", 1);
    IT_RUN(&r, "remove", it_media("marked.mp4"), "-o", "/tmp/unused-unmark.mp4");
    unsetenv("UNMARK_METHOD");
    IT_EXPECT_STATUS(&r, 2);
    IT_CHECK(strstr(r.err, "smear") != NULL, "no mention of the value:\n%s", r.err);
    it_result_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_method_usage_errors),
        cmocka_unit_test_setup_teardown(test_unblend_beats_inpaint, it_setup_tmpdir, it_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(test_method_unblend, it_setup_tmpdir, it_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(test_matte_from_kept_crops, it_setup_tmpdir, it_teardown_tmpdir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
