/* The region parser and the region remover, on synthetic planes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "unmark/remove.h"

typedef struct {
    const char *text;
    int ok;
    um_region want;
} region_case;

static const region_case region_cases[] = {
    {"1,2,3,4", 1, {1, 2, 3, 4, 0, -1, NULL, 0, NULL}},
    {"10,20,30,40@1.5-3", 1, {10, 20, 30, 40, 1.5, 3, NULL, 0, NULL}},
    {"10,20,30,40@5-", 1, {10, 20, 30, 40, 5, -1, NULL, 0, NULL}},
    {"10,20,30,40@-2.25", 1, {10, 20, 30, 40, 0, 2.25, NULL, 0, NULL}},
    {"1,2,3", 0, {0}},
    {"a,b,c,d", 0, {0}},
    {"1,2,0,5", 0, {0}},
    {"1,2,5,0", 0, {0}},
    {"-1,2,3,4", 0, {0}},
    {"1,2,3,4@5-2", 0, {0}},
    {"1,2,3,4@5", 0, {0}},
    {"1,2,3,4@x-y", 0, {0}},
    {"1,2,3,4,", 0, {0}},
    {"1,2,3,4 ", 0, {0}},
    {"", 0, {0}},
};

static void test_parse_region_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(region_cases) / sizeof(region_cases[0]); i++) {
        const region_case *c = &region_cases[i];
        um_region r;
        um_error err = {0};
        int ret = um_remove_parse_region(c->text, &r, &err);
        if (!c->ok) {
            assert_int_equal(ret, -1);
            assert_int_equal(err.status, UM_ERR_USAGE);
            assert_non_null(strstr(err.msg, "--region"));
            continue;
        }
        assert_int_equal(ret, 0);
        assert_int_equal(r.x, c->want.x);
        assert_int_equal(r.y, c->want.y);
        assert_int_equal(r.w, c->want.w);
        assert_int_equal(r.h, c->want.h);
        assert_true(r.start == c->want.start);
        assert_true(r.end == c->want.end);
    }
}

/* A 4:2:0 8-bit frame over caller-owned planes with a padded stride. */
typedef struct {
    um_frame f;
    uint8_t *planes[3];
} test_frame;

enum { W = 64, H = 48, STRIDE = 80 };

static void frame_init(test_frame *t, uint8_t value)
{
    memset(t, 0, sizeof(*t));
    t->f.width = W;
    t->f.height = H;
    t->f.nb_planes = 3;
    t->f.depth = 8;
    t->f.log2_chroma_w = t->f.log2_chroma_h = 1;
    for (int p = 0; p < 3; p++) {
        t->planes[p] = malloc((size_t)STRIDE * H);
        memset(t->planes[p], value, (size_t)STRIDE * H);
        t->f.data[p] = t->planes[p];
        t->f.linesize[p] = STRIDE;
    }
}

static void frame_free(test_frame *t)
{
    for (int p = 0; p < 3; p++)
        free(t->planes[p]);
}

static void poke_region(test_frame *t, int x, int y, int w, int h, uint8_t v)
{
    for (int j = y; j < y + h; j++)
        memset(t->planes[0] + (size_t)j * STRIDE + x, v, (size_t)w);
}

static int luma(const test_frame *t, int x, int y) { return t->planes[0][(size_t)y * STRIDE + x]; }

/* A bright "mark" on a flat frame is filled back to the flat value inside
 * the region, and nothing outside it changes. */
static void test_remover_fills_region_only(void **state)
{
    (void)state;
    um_region regions[1];
    um_error err = {0};
    assert_int_equal(um_remove_parse_region("20,10,12,8", &regions[0], &err), 0);
    um_remove_config c = {.regions = regions, .nb_regions = 1};
    um_remover *r = NULL;
    assert_int_equal(um_remove_create(&r, &c, W, H, &err), 0);
    test_frame t;
    frame_init(&t, 90);
    poke_region(&t, 20, 10, 12, 8, 250);
    poke_region(&t, 0, 40, 4, 4, 7); /* outside: must stay */
    assert_int_equal(um_remove_frame(r, &t.f, NULL, 0, &err), 0);
    for (int y = 10; y < 18; y++)
        for (int x = 20; x < 32; x++)
            assert_int_equal(luma(&t, x, y), 90);
    assert_int_equal(luma(&t, 1, 41), 7);
    assert_null(t.f.removed);
    frame_free(&t);
    um_remove_free(&r);
}

/* A region limited in time leaves frames outside its span untouched. */
static void test_remover_respects_time_span(void **state)
{
    (void)state;
    um_region regions[1];
    um_error err = {0};
    assert_int_equal(um_remove_parse_region("8,8,8,8@1-2", &regions[0], &err), 0);
    um_remove_config c = {.regions = regions, .nb_regions = 1, .transparent = 1};
    um_remover *r = NULL;
    assert_int_equal(um_remove_create(&r, &c, W, H, &err), 0);
    static const struct { double t; int filled; } times[] = {{0.5, 0}, {1.0, 1}, {1.99, 1}, {2.0, 0}};
    for (size_t i = 0; i < sizeof(times) / sizeof(times[0]); i++) {
        test_frame tf;
        frame_init(&tf, 60);
        poke_region(&tf, 8, 8, 8, 8, 200);
        tf.f.time = times[i].t;
        assert_int_equal(um_remove_frame(r, &tf.f, NULL, 0, &err), 0);
        assert_int_equal(luma(&tf, 11, 11), times[i].filled ? 60 : 200);
        if (times[i].filled) {
            assert_non_null(tf.f.removed);
            assert_int_equal(tf.f.removed[11 * tf.f.removed_stride + 11] != 0, 1);
            assert_int_equal(tf.f.removed[0], 0);
        }
        frame_free(&tf);
    }
    um_remove_free(&r);
}

/* A frame's box with a shape fills only the shape's pixels: the rest of
 * the box is picture and stays as it was. */
static void test_remover_fills_box_shape_only(void **state)
{
    (void)state;
    um_error err = {0};
    um_remove_config c = {0};
    um_remover *r = NULL;
    assert_int_equal(um_remove_create(&r, &c, W, H, &err), 0);
    test_frame t;
    frame_init(&t, 90);
    poke_region(&t, 20, 10, 8, 8, 250);   /* the mark: the box's left half */
    poke_region(&t, 28, 10, 8, 8, 40);    /* picture inside the box */
    uint8_t shape[8 * 16] = {0};
    for (int y = 0; y < 8; y++)
        memset(shape + y * 16, 1, 8);
    um_region box = {20, 10, 16, 8, 0, -1, shape, 16, NULL};
    assert_int_equal(um_remove_frame(r, &t.f, &box, 1, &err), 0);
    assert_int_not_equal(luma(&t, 23, 13), 250);
    for (int y = 10; y < 18; y++)
        for (int x = 28; x < 36; x++)
            assert_int_equal(luma(&t, x, y), 40);
    frame_free(&t);
    um_remove_free(&r);
}

static void test_remover_rejects_bad_geometry(void **state)
{
    (void)state;
    um_region outside = {W + 5, 0, 4, 4, 0, -1, NULL, 0, NULL};
    um_error err = {0};
    um_remover *r = NULL;
    um_remove_config c = {.regions = &outside, .nb_regions = 1};
    assert_int_equal(um_remove_create(&r, &c, W, H, &err), -1);
    assert_int_equal(err.status, UM_ERR_USAGE);
    assert_null(r);

    uint8_t mask[4 * 4] = {0};
    um_remove_config m = {.mask = mask, .mask_w = 4, .mask_h = 4};
    um_error_clear(&err);
    assert_int_equal(um_remove_create(&r, &m, W, H, &err), -1);
    assert_int_equal(err.status, UM_ERR_USAGE);
    assert_non_null(strstr(err.msg, "4x4"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_region_table),
        cmocka_unit_test(test_remover_fills_region_only),
        cmocka_unit_test(test_remover_respects_time_span),
        cmocka_unit_test(test_remover_rejects_bad_geometry),
        cmocka_unit_test(test_remover_fills_box_shape_only),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
