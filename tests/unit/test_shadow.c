/*
 * Unit tests of the drop-shadow model (src/remove/matte_shadow.c): its
 * layer, its blend, and its fit from the sums of (1) of a mark whose
 * pictures are known exactly, with and without a shadow.
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
#include "remove/remove_internal.h"

enum { W = 64, H = 32, SAMPLES = 30 };

/* The layer of a one-pixel mark: k at the offset, unblurred; blurred, the
 * same mass around it. */
static void test_shadow_layer_moves_and_blurs(void **state)
{
    (void)state;
    static float mark[W * H], layer[W * H];
    mark[10 * W + 20] = 1;
    um_shadow hard = {0.5, 0, 2, 1, 235, 16};
    um_shadow_layer(&hard, mark, W, H, layer);
    double mass = 0;
    for (int k = 0; k < W * H; k++)
        mass += layer[k];
    assert_float_equal(layer[11 * W + 22], 0.5, 1e-6);
    assert_float_equal(mass, 0.5, 1e-6);

    um_shadow soft = {0.5, 1.5, -3, 2, 235, 16};
    um_shadow_layer(&soft, mark, W, H, layer);
    mass = 0;
    int peak = 0;
    for (int k = 0; k < W * H; k++) {
        mass += layer[k];
        peak = layer[k] > layer[peak] ? k : peak;
    }
    assert_int_equal(peak, 12 * W + 17);
    assert_float_equal(mass, 0.5, 1e-3);
    assert_true(layer[peak] < 0.1);
}

/* The two layers' blend: a = m + s (1 - m), a Wx = m W + (1 - m) s K. */
static void test_shadow_compose_blends_layers(void **state)
{
    (void)state;
    static const struct {
        float m, s, alpha, colour;
    } cases[] = {
        {0.5f, 0.4f, 0.7f, (0.5f * 235 + 0.5f * 0.4f * 16) / 0.7f},
        {0.0f, 0.5f, 0.5f, 16},
        {0.8f, 0.0f, 0.8f, 235},
        {0.0f, 0.0f, 0.0f, 235},
    };
    um_shadow model = {0.5, 1, 1, 1, 235, 16};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        float alpha, colour;
        um_shadow_compose(&model, &cases[i].m, &cases[i].s, 1, &alpha, &colour);
        assert_float_equal(alpha, cases[i].alpha, 1e-5);
        assert_float_equal(colour, cases[i].colour, 1e-3);
    }
}

/* A mark of two soft bars ("= "), opacity 0.75 in their middle. */
static void draw_mark(float *m)
{
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            double in_x = fmin(x - 12.0, 50.0 - x), in_y = fmin(fabs(y - 11.0), fabs(y - 20.0));
            double edge = fmin(in_x + 0.5, 2.5 - in_y);
            m[y * W + x] = (float)(0.75 * fmin(1, fmax(0, edge)));
        }
}

/*
 * The sums of (1) for a mark of opacity m with a shadow from model (none
 * at strength 0) over SAMPLES pictures known exactly (Î = I), each pixel's
 * own, with +-1 level of noise on J; and the one-W opacity at colour.
 */
static void mark_sums(const float *m, const um_shadow *model, double colour, um_matte_sums *sums, float *one)
{
    static float layer[W * H], alpha[W * H], wx[W * H];
    um_shadow_layer(model, m, W, H, layer);
    um_shadow_compose(model, m, layer, W * H, alpha, wx);
    uint32_t rng = 7u;
    memset(sums, 0, W * H * sizeof(*sums));
    for (int t = 0; t < SAMPLES; t++)
        for (int k = 0; k < W * H; k++) {
            double i = 20 + it_rng_next(&rng) % 201, noise = (double)(it_rng_next(&rng) % 3) - 1;
            double d = alpha[k] * (wx[k] - i) + noise;
            um_matte_sums *s = &sums[k];
            s->n += 1;
            s->i += i;
            s->ii += i * i;
            s->d += d;
            s->di += d * i;
            s->dd += d * d;
        }
    for (int k = 0; k < W * H; k++) {
        const um_matte_sums *s = &sums[k];
        double num = colour * s->d - s->di, den = colour * colour * s->n - 2 * colour * s->i + s->ii;
        one[k] = (float)fmin(1, fmax(0, num / den));
    }
}

/* A shadowed mark: the fit finds the shadow's layout and both colours, and
 * placed, gives back the mark's opacity. */
static void test_shadow_fit_finds_layout(void **state)
{
    (void)state;
    static float m[W * H], one[W * H], layer[W * H];
    static um_matte_sums sums[W * H];
    static uint8_t strokes[W * H];
    draw_mark(m);
    um_shadow truth = {0.6, 1.5, 2, 2, 235, 16};
    mark_sums(m, &truth, 206, sums, one);
    for (int k = 0; k < W * H; k++)
        strokes[k] = m[k] > 0;
    um_shadow_spot spot = {W, H, sums, strokes};
    um_shadow fit;
    assert_int_equal(um_shadow_fit(&spot, one, 206, 255, &fit), 1);
    assert_float_equal(fit.strength, truth.strength, 0.051);
    assert_float_equal(fit.blur, truth.blur, 1e-9);
    assert_int_equal(fit.dx, truth.dx);
    assert_int_equal(fit.dy, truth.dy);
    assert_float_equal(fit.colour, truth.colour, 3);
    assert_float_equal(fit.dark, truth.dark, 6);

    um_shadow_place(&fit, &spot, one, layer);
    double error = 0;
    for (int k = 0; k < W * H; k++)
        error = fmax(error, fabs(one[k] - m[k]));
    assert_true(error < 0.05);
}

/* A mark with no shadow keeps its one W. */
static void test_shadow_fit_refuses_plain_mark(void **state)
{
    (void)state;
    static float m[W * H], one[W * H];
    static um_matte_sums sums[W * H];
    draw_mark(m);
    um_shadow none = {0, 0, 0, 0, 235, 16};
    mark_sums(m, &none, 235, sums, one);
    um_shadow_spot spot = {W, H, sums, NULL};
    um_shadow fit;
    assert_int_equal(um_shadow_fit(&spot, one, 235, 255, &fit), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shadow_layer_moves_and_blurs),
        cmocka_unit_test(test_shadow_compose_blends_layers),
        cmocka_unit_test(test_shadow_fit_finds_layout),
        cmocka_unit_test(test_shadow_fit_refuses_plain_mark),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
