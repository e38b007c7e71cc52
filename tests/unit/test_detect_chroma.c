/*
 * Detection by the mark's chroma edges: a coloured, static mark over a
 * textured picture of its own brightness, where its luma edges drown, and
 * then over a flat grey one, where the luma learns it. The frames before
 * the luma could see it must be found by the chroma (the mark would flash
 * back in the output for seconds otherwise). Synthetic 4:2:0 frames; no
 * files are read. Also the kernel that brings the chroma onto the
 * detection grid.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "itest.h"

#include "unmark/detect.h"
#include "unmark/kernels.h"

enum { WIDTH = 640, HEIGHT = 360, FRAMES = 240, TEXTURED = 120, TEX = 1024 };
enum { MARK_X = 48, MARK_Y = 272, MARK_W = 120, MARK_H = 56 };

/* The mark's colour (Y, Cb, Cr): a yellow about as bright as the texture. */
static const double mark_colour[3] = {170, 40, 150};

/* The mark's opacity at (x, y) of its box: a faint plate with an "H" of
 * opaque bars on it. */
static double mark_alpha(int x, int y)
{
    if (x < 0 || y < 0 || x >= MARK_W || y >= MARK_H)
        return 0;
    int bar = (x >= 30 && x < 40) || (x >= 80 && x < 90) || (x >= 30 && x < 90 && y >= 24 && y < 32);
    int inside = y >= 10 && y < 46;
    return bar && inside ? 0.65 : 0.25;
}

typedef struct {
    uint8_t *texture;                 /* TEX x TEX luma blocks, panned under the frame */
    uint8_t *planes[3];
    um_frame f;
    int grey_world;                   /* chroma flat 128 everywhere, the mark's too */
} clip;

static void clip_init(clip *c, int grey_world)
{
    memset(c, 0, sizeof(*c));
    c->grey_world = grey_world;
    c->texture = malloc((size_t)TEX * TEX);
    assert_non_null(c->texture);
    uint32_t seed = 7;
    for (int by = 0; by < TEX; by += 8)
        for (int bx = 0; bx < TEX; bx += 8) {
            uint8_t v = (uint8_t)(135 + it_rng_next(&seed) % 71); /* 135..205, mean 170 */
            for (int y = by; y < by + 8; y++)
                memset(c->texture + (size_t)y * TEX + bx, v, 8);
        }
    c->f.width = WIDTH;
    c->f.height = HEIGHT;
    c->f.nb_planes = 3;
    c->f.depth = 8;
    c->f.log2_chroma_w = c->f.log2_chroma_h = 1;
    for (int p = 0; p < 3; p++) {
        int w = p ? WIDTH / 2 : WIDTH, h = p ? HEIGHT / 2 : HEIGHT;
        c->planes[p] = malloc((size_t)w * h);
        assert_non_null(c->planes[p]);
        c->f.data[p] = c->planes[p];
        c->f.linesize[p] = w;
    }
}

static void clip_free(clip *c)
{
    free(c->texture);
    for (int p = 0; p < 3; p++)
        free(c->planes[p]);
}

static uint8_t blend(double a, double w, double i) { return (uint8_t)lrint(a * w + (1 - a) * i); }

/* Frame i: the texture panning by 2 pixels a frame under a yellowish tint
 * for the first TEXTURED frames, then flat grey with a little noise; the
 * mark blended into every plane. */
static void render(clip *c, int i)
{
    uint32_t seed = 1000u + (uint32_t)i;
    int textured = i < TEXTURED;
    for (int y = 0; y < HEIGHT; y++)
        for (int x = 0; x < WIDTH; x++) {
            double under = textured ? c->texture[(size_t)((y + i) % TEX) * TEX + (x + 2 * i) % TEX]
                                    : 110 + (double)(it_rng_next(&seed) % 7) - 3;
            c->planes[0][y * WIDTH + x] = blend(mark_alpha(x - MARK_X, y - MARK_Y), mark_colour[0], under);
        }
    for (int p = 1; p < 3; p++)
        for (int y = 0; y < HEIGHT / 2; y++)
            for (int x = 0; x < WIDTH / 2; x++) {
                double under = c->grey_world || !textured ? 128 : p == 1 ? 100 : 140;
                double w = c->grey_world ? 128 : mark_colour[p];
                c->planes[p][y * (WIDTH / 2) + x] = blend(mark_alpha(2 * x - MARK_X, 2 * y - MARK_Y), w, under);
            }
    c->f.index = i;
    c->f.time = i / 30.0;
}

static void push_clip(um_detector *d, clip *c)
{
    um_error err = {0};
    for (int i = 0; i < FRAMES; i++) {
        render(c, i);
        if (um_detect_push(d, &c->f, &err) != 0)
            fail_msg("push: %s", err.msg);
    }
    if (um_detect_finish(d, &err) != 0)
        fail_msg("finish: %s", err.msg);
}

/* Detects over the clip as the pipeline does (a second pass when asked
 * for) and counts the frames, of all and of the textured ones, whose boxes
 * hold the mark's centre. */
static void detect_clip(int grey_world, int *found, int *found_textured)
{
    clip c;
    clip_init(&c, grey_world);
    um_detect_options o;
    um_detect_options_init(&o);
    um_error err = {0};
    um_detector *d = NULL;
    assert_int_equal(um_detect_create(&d, WIDTH, HEIGHT, 30.0, &o, &err), 0);
    push_clip(d, &c);
    if (um_detect_wants_second_pass(d)) {
        um_detector *again = NULL;
        assert_int_equal(um_detect_create_from(&again, d, &err), 0);
        um_detect_free(&d);
        d = again;
        push_clip(d, &c);
    }
    *found = *found_textured = 0;
    int cx = MARK_X + MARK_W / 2, cy = MARK_Y + MARK_H / 2;
    for (int i = 0; i < FRAMES; i++) {
        const um_box *boxes;
        int n = um_detect_frame_boxes(d, i, &boxes), hit = 0;
        for (int k = 0; k < n; k++)
            hit |= boxes[k].x1 <= cx && cx < boxes[k].x2 && boxes[k].y1 <= cy && cy < boxes[k].y2;
        *found += hit;
        *found_textured += hit && i < TEXTURED;
    }
    if (getenv("UNMARK_TEST_VERBOSE"))
        printf("%s: mark found in %d of %d frames, %d of the %d textured ones\n",
               grey_world ? "grey world" : "colour", *found, FRAMES, *found_textured, TEXTURED);
    um_detect_free(&d);
    clip_free(&c);
}

static void test_coloured_mark_found_where_luma_drowns(void **state)
{
    (void)state;
    int found, textured;
    detect_clip(0, &found, &textured);
    assert_true(textured >= TEXTURED * 95 / 100);
    assert_true(found >= FRAMES * 95 / 100);
}

/* The control: without colour the same mark is learnt over the grey part
 * only, so the frames over the texture are the chroma's doing above. */
static void test_luma_alone_misses_it_over_the_texture(void **state)
{
    (void)state;
    int found, textured;
    detect_clip(1, &found, &textured);
    assert_true(found >= (FRAMES - TEXTURED) * 8 / 10);
    assert_true(textured <= TEXTURED / 2);
}

typedef struct {
    const char *name;
    int log2, factor, cw, dw;
    uint8_t src[8];
    uint8_t want[8];
} grid_case;

/* One row of chroma onto the detection grid, each cell the mean of the
 * chroma samples under it. */
static const grid_case grid_cases[] = {
    {"4:2:0 halved: one sample a cell", 1, 2, 4, 4, {10, 20, 30, 40}, {10, 20, 30, 40}},
    {"4:2:0 at full size: each sample twice", 1, 1, 3, 6, {10, 20, 30}, {10, 10, 20, 20, 30, 30}},
    {"4:2:0 by three: one or two samples", 1, 3, 6, 4, {10, 20, 30, 40, 50, 60}, {15, 25, 45, 55}},
    {"4:4:4 halved: pairs", 0, 2, 6, 3, {10, 20, 30, 50, 60, 60}, {15, 40, 60}},
};

static void test_chroma_to_grid(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof(grid_cases) / sizeof(grid_cases[0]); k++) {
        const grid_case *c = &grid_cases[k];
        uint8_t out[8] = {0};
        um_kernel_chroma_to_grid(c->src, 8, 8, c->log2, c->log2, c->cw, 1, c->factor, c->dw, 1, out, 8);
        for (int x = 0; x < c->dw; x++)
            if (out[x] != c->want[x])
                fail_msg("%s: cell %d is %d, expected %d", c->name, x, out[x], c->want[x]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chroma_to_grid),
        cmocka_unit_test(test_coloured_mark_found_where_luma_drowns),
        cmocka_unit_test(test_luma_alone_misses_it_over_the_texture),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
