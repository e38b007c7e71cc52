/* The worker thread of the detection and removal passes (frame_worker.c),
 * on frames decoded from moving.mp4 and held: it visits every frame put,
 * in order, with its samples as they were decoded; the other streams'
 * packets (cfr.mp4's audio) in their place among the frames, with their
 * data as read; its first failure reaches the decoding side and stops it;
 * a pass that fails drops what is still queued. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "itest.h"
#include "media/media_internal.h"
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
        um_frame_worker *w = um_frame_worker_start(visit, NULL, &v);
        um_error err = {0};
        for (int i = 0; i < FRAMES; i++) {
            um_frame *f = it_read_frame(r);
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
    um_frame_worker *w = um_frame_worker_start(visit, NULL, &v);
    um_error err = {0};
    int put = 0;
    while (put < FRAMES) {
        it_read_frame(r);
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
    um_frame_worker *w = um_frame_worker_start(visit, NULL, &v);
    um_error err = {0};
    for (int i = 0; i < 5; i++) {
        it_read_frame(r);
        assert_int_equal(um_frame_worker_put(w, um_media_reader_hold(r), &err), 0);
    }
    um_frame_worker_free(&w);
    assert_null(w);
    /* The frame being visited is finished; the rest are let go unvisited
     * (the sanitizer build checks that they are released). */
    assert_true(v.nb < 5);
    um_media_reader_close(&r);
}

/* What the items of a file were, in order: a frame's index, or a
 * packet's stream, timestamp and a sum of its bytes. */
typedef struct {
    int is_packet;
    int64_t index_or_pts;
    int stream;
    uint32_t sum;
} item_seen;

#define ITEMS 400

typedef struct {
    item_seen seen[ITEMS];
    int nb;
} items;

static item_seen packet_seen(const um_media_packet *p)
{
    item_seen s = {1, p->pkt->pts, p->stream->index, 0};
    for (int i = 0; i < p->pkt->size; i++)
        s.sum = s.sum * 31 + p->pkt->data[i];
    return s;
}

static int same_item(const item_seen *a, const item_seen *b)
{
    return a->is_packet == b->is_packet && a->index_or_pts == b->index_or_pts && a->stream == b->stream &&
           a->sum == b->sum;
}

static int note_frame(void *opaque, um_media_held *held, um_error *err)
{
    (void)err;
    items *v = opaque;
    struct timespec pause = {0, 1000000}; /* slower than reading: the queue fills */
    nanosleep(&pause, NULL);
    if (v->nb < ITEMS)
        v->seen[v->nb++] = (item_seen){0, um_media_held_frame(held)->index, -1, 0};
    um_media_held_release(&held);
    return 0;
}

static int note_packet(void *opaque, um_media_packet *packet, um_error *err)
{
    (void)err;
    items *v = opaque;
    if (v->nb < ITEMS)
        v->seen[v->nb++] = packet_seen(packet);
    return 0;
}

static void test_packets_keep_their_place(void **state)
{
    (void)state;
    static items v, expected;
    memset(&v, 0, sizeof(v));
    memset(&expected, 0, sizeof(expected));
    um_media_reader *r = NULL;
    um_media_options o;
    um_error err = {0};
    um_media_options_init(&o);
    o.hwdec = UM_HWDEC_NONE;
    assert_int_equal(um_media_reader_open(&r, it_media("cfr.mp4"), &o, &err), 0);
    um_frame_worker *w = um_frame_worker_start(note_frame, note_packet, &v);
    int packets = 0;
    um_frame *frame;
    um_media_packet *packet;
    int item;
    while ((item = it_read_next(r, &frame, &packet)) != UM_MEDIA_EOF) {
        assert_true(expected.nb < ITEMS);
        if (item == UM_MEDIA_FRAME) {
            expected.seen[expected.nb++] = (item_seen){0, frame->index, -1, 0};
            assert_int_equal(um_frame_worker_put(w, um_media_reader_hold(r), &err), 0);
        } else {
            expected.seen[expected.nb++] = packet_seen(packet);
            assert_int_equal(um_frame_worker_put_packet(w, packet, &err), 0);
            packets++;
        }
    }
    assert_int_equal(um_frame_worker_finish(&w, &err), 0);
    um_media_reader_close(&r);
    assert_true(packets > 10);
    assert_int_equal(v.nb, expected.nb);
    for (int i = 0; i < v.nb; i++)
        if (!same_item(&v.seen[i], &expected.seen[i]))
            fail_msg("item %d: %s %lld (sum %u), expected %s %lld (sum %u)", i,
                     v.seen[i].is_packet ? "packet" : "frame", (long long)v.seen[i].index_or_pts, v.seen[i].sum,
                     expected.seen[i].is_packet ? "packet" : "frame", (long long)expected.seen[i].index_or_pts,
                     expected.seen[i].sum);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_visits_every_frame_in_order),
        cmocka_unit_test(test_failure_reaches_the_decoder),
        cmocka_unit_test(test_failed_pass_drops_the_queue),
        cmocka_unit_test(test_packets_keep_their_place),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
