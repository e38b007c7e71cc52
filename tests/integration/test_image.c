/*
 * Integration tests of image jobs: PNG, JPEG and WebP in give the same
 * format out with the region filled; --transparent; --mask.
 */
#include "itest.h"

#include <stdio.h>
#include <string.h>

/* The region removed, and the white rectangle of mask.png. */
static const it_rect REGION = {100, 80, 60, 40};
#define REGION_ARG "100,80,60,40"
/* Pixels around a region the filling may touch (mask growth, codec blocks). */
#define MARGIN 16
#define MIN_MAD_IN 3.0

/* An image format: the extension, the codec the output must have, and the
 * least PSNR outside the region (lossless PNG keeps it exact; JPEG and
 * WebP re-encode). */
typedef struct {
    const char *ext;
    const char *codec;
    double min_psnr_out;
} image_case;

static const image_case image_cases[] = {
    {"png", "png", 60.0},
    {"jpg", "mjpeg", 30.0},
    {"webp", "webp", 30.0},
};

/* Runs remove with extra args (NULL-terminated) and expects exit 0. */
static void run_ok(const char *in, const char *out, const char *const *extra)
{
    const char *args[16] = {"remove", in, "-o", out};
    size_t n = 4;
    for (size_t i = 0; extra[i] && n < 15; i++)
        args[n++] = extra[i];
    args[n] = NULL;
    it_snapshot before;
    IT_CHECK(it_snapshot_take(in, &before) == 0, "cannot read %s", in);
    it_result r;
    it_run(&r, args);
    IT_EXPECT_STATUS(&r, 0);
    IT_CHECK(it_snapshot_same(in, &before), "%s: the input changed", r.cmd);
    it_snapshot_free(&before);
    it_result_free(&r);
}

/* Fails unless out has one frame like in, with rect changed and (when
 * min_psnr > 0) the rest kept. */
static void expect_region_removed(const char *in, const char *out, it_rect rect, double min_psnr)
{
    it_cmp c;
    IT_CHECK(it_compare_luma(in, out, rect, MARGIN, &c) == 0, "cannot compare %s and %s", in, out);
    IT_CHECK(c.n == 1 && c.n_a == 1 && c.n_b == 1, "frames: %zu in, %zu out", c.n_a, c.n_b);
    print_message("%s: PSNR outside %.2f dB, MAD inside %.2f\n", out, c.f[0].psnr_out,
                  c.f[0].mad_in);
    IT_CHECK(min_psnr <= 0 || c.f[0].psnr_out >= min_psnr, "PSNR outside %.2f dB < %.1f", c.f[0].psnr_out, min_psnr);
    IT_CHECK(c.f[0].mad_in > MIN_MAD_IN, "region unchanged: MAD %.2f", c.f[0].mad_in);
    it_cmp_free(&c);
}

static void test_image_formats(void **state)
{
    static const char *const extra[] = {"--region", REGION_ARG, NULL};
    for (size_t i = 0; i < sizeof image_cases / sizeof image_cases[0]; i++) {
        const image_case *c = &image_cases[i];
        char in_name[32], out_name[32];
        snprintf(in_name, sizeof in_name, "image.%s", c->ext);
        snprintf(out_name, sizeof out_name, "out.%s", c->ext);
        const char *in = it_media(in_name);
        const char *out = it_join(*state, out_name);
        run_ok(in, out, extra);
        it_props p;
        IT_CHECK(it_probe(out, &p) == 0, "cannot read %s", out);
        IT_CHECK(strcmp(p.codec, c->codec) == 0, "%s: codec %s, want %s", out, p.codec, c->codec);
        IT_CHECK(p.width == 320 && p.height == 240, "%s: size %dx%d", out, p.width, p.height);
        expect_region_removed(in, out, REGION, c->min_psnr_out);
        IT_CHECK(it_count_stray(*state) == 0, "temporary files left");
    }
}

static void test_transparent_png(void **state)
{
    static const char *const extra[] = {"--region", REGION_ARG, "--transparent", NULL};
    const char *out = it_join(*state, "out.png");
    run_ok(it_media("image.png"), out, extra);
    it_alpha a;
    IT_CHECK(it_alpha_stats(out, REGION, MARGIN, &a) == 0, "cannot decode %s", out);
    IT_CHECK(strcmp(a.pix_fmt, "rgba") == 0 || strcmp(a.pix_fmt, "rgba64be") == 0,
             "pix_fmt %s, want RGBA", a.pix_fmt);
    IT_CHECK(a.max_in == 0, "alpha inside the region up to %d, want 0", a.max_in);
    IT_CHECK(a.min_out == 255, "alpha outside the region down to %d, want 255", a.min_out);
}

/* Without --transparent a PNG keeps no alpha (or an opaque one). */
static void test_opaque_png(void **state)
{
    static const char *const extra[] = {"--region", REGION_ARG, NULL};
    const char *out = it_join(*state, "out.png");
    run_ok(it_media("image.png"), out, extra);
    it_alpha a;
    IT_CHECK(it_alpha_stats(out, REGION, MARGIN, &a) == 0, "cannot decode %s", out);
    IT_CHECK(a.min_in == 255 && a.min_out == 255, "transparent pixels without --transparent");
}

static void test_mask(void **state)
{
    static const char *extra[] = {"--mask", NULL, NULL};
    extra[1] = it_media("mask.png");
    const char *in = it_media("image.png");
    const char *out = it_join(*state, "out.png");
    run_ok(in, out, extra);
    expect_region_removed(in, out, REGION, 60.0);
}

/* A region and a mask together fill both. */
static void test_mask_and_region(void **state)
{
    static const char *extra[] = {"--mask", NULL, "--region", "200,145,60,50", NULL};
    static const it_rect second = {200, 145, 60, 50};
    extra[1] = it_media("mask.png");
    const char *in = it_media("image.png");
    const char *out = it_join(*state, "out.png");
    run_ok(in, out, extra);
    /* Each rectangle lies outside the other's: only the change is judged. */
    expect_region_removed(in, out, REGION, 0);
    expect_region_removed(in, out, second, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_image_formats, it_setup_tmpdir, it_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(test_transparent_png, it_setup_tmpdir, it_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(test_opaque_png, it_setup_tmpdir, it_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(test_mask, it_setup_tmpdir, it_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(test_mask_and_region, it_setup_tmpdir, it_teardown_tmpdir),
    };
    return cmocka_run_group_tests_name("integration.image", tests, NULL, NULL);
}
