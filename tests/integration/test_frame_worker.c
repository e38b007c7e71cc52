/* The worker thread of the detection pass (frame_worker.c), on frames
 * decoded from moving.mp4 and held: it visits every frame put, in order,
 * with its samples as they were decoded; its first failure reaches the
 * decoding side and stops it; a pass that fails drops what is still
 * queued. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "itest.h"
#include "pipeline/pipeline_internal.h"

#define FRAMES 40

/* What a visit saw; read by the test once the worker is stopped. */
typedef struct {
    int64_t order[FRAMES];
    int nb;
    int fail_at;      /* this frame's visit fails (-1: none) */
    long sleep_ns;    /* each visit takes this long */
    uint32_t sums[FRAMES];
} visits;

static uint32_t luma_sum(const um_frame *f)
{
    uint32_t s = 0;
    for (int y = 0; y < f->height; y++)
        for (int x = 0; x < f->width; x++)
            s = s * 31 + f->data[0][(size_t)y * f->linesize[0] + x];
    return s;
}

static int visit(void *opaque, um_media_held *held, um_error *err)
{
    visits *v = opaque;
    const um_frame *f = um_media_held_frame(held);
    struct timespec pause = {0, v->sleep_ns};
    nanosleep(&pause, NULL);
    int ok = f->index != v->fail_at;
    if (ok) {
        v->order[v->nb++] = f->index;
        v->sums[f->index] = luma_sum(f);
    } else {
        um_error_set(err, UM_ERR_OTHER, "visit of frame %d failed", (int)f->index);
    }
    um_media_held_release(&held);
    return ok ? 0 : -1;
}

static um_media_reader *open_moving(void)
{
    um_media_reader *r = NULL;
    um_media_options o;
    um_error err = {0};
    um_media_options_init(&o);
    o.analysis = UM_MEDIA_LOOK_EXACT;
    o.hwdec = UM_HWDEC_NONE;
    assert_int_equal(um_media_reader_open(&r, it_media("moving.mp4"), &o, &err), 0);
    return r;
}

static um_frame *next_frame(um_media_reader *r)
{
    um_frame *frame = NULL;
    um_media_packet *packet = NULL;
    um_error err = {0};
    int item;
    while ((item = um_media_reader_next(r, &frame, &packet, &err)) == UM_MEDIA_PACKET)
        ;
    assert_int_equal(item, UM_MEDIA_FRAME);
    return frame;
}

static void test_visits_every_frame_in_order(void **state)
{
    (void)state;
    /* A slow worker fills the queue: the decoder waits, and frames held in
     * it keep their samples while the decoder goes on. */
    static const long sleeps[] = {0, 2000000};
    for (size_t k = 0; k < sizeof(sleeps) / sizeof(sleeps[0]); k++) {
        visits v = {.fail_at = -1, .sleep_ns = sleeps[k]};
        uint32_t expected[FRAMES];
        um_media_reader *r = open_moving();
        um_frame_worker *w = um_frame_worker_start(visit, &v);
        um_error err = {0};
        for (int i = 0; i < FRAMES; i++) {
            um_frame *f = next_frame(r);
            expected[i] = luma_sum(f);
            assert_int_equal(um_frame_worker_put(w, um_media_reader_hold(r), &err), 0);
        }
        assert_int_equal(um_frame_worker_finish(&w, &err), 0);
        assert_null(w);
        assert_int_equal(v.nb, FRAMES);
        for (int i = 0; i < FRAMES; i++) {
            assert_int_equal(v.order[i], i);
            assert_int_equal(v.sums[i], expected[i]);
        }
        um_media_reader_close(&r);
    }
}

static void test_failure_reaches_the_decoder(void **state)
{
    (void)state;
    visits v = {.fail_at = 5};
    um_media_reader *r = open_moving();
    um_frame_worker *w = um_frame_worker_start(visit, &v);
    um_error err = {0};
    int put = 0;
    while (put < FRAMES) {
        next_frame(r);
        if (um_frame_worker_put(w, um_media_reader_hold(r), &err) < 0)
            break;
        put++;
    }
    /* Waiting on a full queue, the decoder learns of it within a queue's
     * length; else at the end. */
    if (put == FRAMES)
        assert_int_equal(um_frame_worker_finish(&w, &err), -1);
    else
        um_frame_worker_free(&w);
    assert_null(w);
    assert_string_equal(err.msg, "visit of frame 5 failed");
    assert_int_equal(v.nb, 5);
    um_media_reader_close(&r);
}

static void test_failed_pass_drops_the_queue(void **state)
{
    (void)state;
    visits v = {.fail_at = -1, .sleep_ns = 50000000};
    um_media_reader *r = open_moving();
    um_frame_worker *w = um_frame_worker_start(visit, &v);
    um_error err = {0};
    for (int i = 0; i < 5; i++) {
        next_frame(r);
        assert_int_equal(um_frame_worker_put(w, um_media_reader_hold(r), &err), 0);
    }
    um_frame_worker_free(&w);
    assert_null(w);
    /* The frame being visited is finished; the rest are let go unvisited
     * (the sanitizer build checks that they are released). */
    assert_true(v.nb < 5);
    um_media_reader_close(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_visits_every_frame_in_order),
        cmocka_unit_test(test_failure_reaches_the_decoder),
        cmocka_unit_test(test_failed_pass_drops_the_queue),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
