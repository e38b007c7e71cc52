/* The removal pass taking the frames detection decoded last instead of
 * decoding them again (frame_tail.c, um_media_reader_use_tail): the frames
 * and other streams' packets a reader hands out with a tail are those it
 * decodes without one, on files with a variable frame rate, two audio
 * tracks and subtitles, 10 bits, and a trim; a tail that does not follow on
 * is let go; the tail keeps the last frames under its byte limit; a reader
 * that hands out only the tail names the tail's decode path; and `remove`
 * writes the same file with and without the cache. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "itest.h"
#include "media/media_internal.h"
#include "pipeline/pipeline_internal.h"

#define MAX_ITEMS 4096

/* What a reader hands out, reduced to comparable lines: frames (index,
 * time, pixels) and packets (stream, timestamps, bytes), each list in its
 * own order (a tail interleaves them a little differently). */
typedef struct {
    uint64_t frames[MAX_ITEMS], packets[MAX_ITEMS];
    int nb_frames, nb_packets;
} digest;

static uint64_t mix(uint64_t h, const void *data, size_t size)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < size; i++)
        h = (h ^ p[i]) * 1099511628211ULL;
    return h;
}

static uint64_t frame_line(const um_frame *f)
{
    uint64_t h = mix(14695981039346656037ULL, &f->index, sizeof(f->index));
    h = mix(h, &f->time, sizeof(f->time));
    int bytes = f->depth > 8 ? 2 : 1;
    for (int p = 0; p < f->nb_planes; p++) {
        int w = p && !f->is_rgb ? -(-f->width >> f->log2_chroma_w) : f->width;
        int rows = p && !f->is_rgb ? -(-f->height >> f->log2_chroma_h) : f->height;
        for (int y = 0; y < rows; y++)
            h = mix(h, f->data[p] + (size_t)y * f->linesize[p], (size_t)w * bytes);
    }
    return h;
}

static uint64_t packet_line(const um_media_packet *m)
{
    const AVPacket *p = m->pkt;
    uint64_t h = mix(14695981039346656037ULL, &m->stream->index, sizeof(int));
    h = mix(h, &p->pts, sizeof(p->pts));
    h = mix(h, &p->dts, sizeof(p->dts));
    return mix(h, p->data, (size_t)p->size);
}

static um_media_options options(int analysis, double start, double end)
{
    um_media_options o;
    um_media_options_init(&o);
    o.hwdec = UM_HWDEC_NONE;
    o.analysis = analysis;
    o.start = start;
    o.end = end;
    return o;
}

/* Reads path to its end into d; with tail (count frames, decoded_by's), the
 * reader takes them. Each frame is written into, as the removal pass does.
 * The reader's decode path at the end goes into decode_path when given. */
static void read_all(const char *path, const um_media_options *o, um_media_held **tail, int count,
                     const char *decoded_by, digest *d, char decode_path[128])
{
    um_media_reader *r = NULL;
    um_error err = {0};
    assert_int_equal(um_media_reader_open(&r, path, o, &err), 0);
    if (tail)
        um_media_reader_use_tail(r, tail, count, decoded_by);
    memset(d, 0, sizeof(*d));
    for (;;) {
        um_frame *frame = NULL;
        um_media_packet *packet = NULL;
        int item = um_media_reader_next(r, &frame, &packet, &err);
        assert_true(item >= 0);
        if (item == UM_MEDIA_EOF)
            break;
        if (item == UM_MEDIA_FRAME) {
            assert_true(d->nb_frames < MAX_ITEMS);
            d->frames[d->nb_frames++] = frame_line(frame);
            frame->data[0][0] ^= 0x5a; /* writable, as a decoded frame */
        } else {
            assert_true(d->nb_packets < MAX_ITEMS);
            d->packets[d->nb_packets++] = packet_line(packet);
        }
    }
    if (decode_path)
        snprintf(decode_path, 128, "%s", um_media_reader_decode_path(r));
    um_media_reader_close(&r);
}

typedef struct {
    um_media_tail *tail;
    const um_media_reader *reader;
} keeping;

static int keep_frame(void *opaque, um_frame *frame, um_error *err)
{
    (void)frame;
    (void)err;
    keeping *k = opaque;
    um_media_tail_keep(k->tail, k->reader);
    return 0;
}

/* Decodes path exactly (as detection inside remove does, through the same
 * loop), keeping its last frames within limit bytes; returns how many,
 * *tail the frames, *bytes what one takes, and checks that the tail names
 * the reader's decode path. */
static int decode_tail(const char *path, const um_media_options *o, int64_t limit, um_media_held ***tail,
                       int64_t *bytes)
{
    um_media_options exact = *o;
    exact.analysis = UM_MEDIA_LOOK_EXACT;
    um_media_tail *t = um_media_tail_new(limit);
    um_media_reader *r = NULL;
    um_error err = {0};
    assert_int_equal(um_media_reader_open(&r, path, &exact, &err), 0);
    keeping k = {t, r};
    um_pass_report report = {"detect", -1, NULL, NULL, NULL, NULL};
    assert_int_equal(um_pipeline_each_frame(r, &report, keep_frame, &k, &err), 0);
    assert_string_equal(um_media_tail_decode_path(t), um_media_reader_decode_path(r));
    um_media_reader_close(&r);
    int n = um_media_tail_take(t, tail);
    if (bytes)
        *bytes = um_media_tail_frame_bytes(t);
    um_media_tail_free(&t);
    return n;
}

static void assert_same(const digest *a, const digest *b)
{
    assert_int_equal(a->nb_frames, b->nb_frames);
    assert_int_equal(a->nb_packets, b->nb_packets);
    for (int i = 0; i < a->nb_frames; i++)
        assert_true(a->frames[i] == b->frames[i]);
    for (int i = 0; i < a->nb_packets; i++)
        assert_true(a->packets[i] == b->packets[i]);
}

static void test_tail_reads_as_decoding(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        double start, end;
        int tail_frames; /* how many the limit lets the tail keep; -1: all */
    } cases[] = {
        {"vfr.mkv", 0, 0, 10},      {"twoaudio.mkv", 0, 0, 20}, {"tenbit.mp4", 0, 0, 5},
        {"cfr.mp4", 0.5, 1.5, 8},   {"cfr.mp4", 0, 0, -1},      {"moving.mp4", 0, 0, 1},
    };
    static digest plain, tailed;
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        const char *path = it_media(cases[k].name);
        um_media_options o = options(0, cases[k].start, cases[k].end);
        read_all(path, &o, NULL, 0, "", &plain, NULL);
        assert_true(plain.nb_frames > 1);
        um_media_held **frames = NULL;
        int64_t bytes = 0;
        assert_int_equal(decode_tail(path, &o, 1, &frames, &bytes), 0); /* no frame fits in a byte */
        assert_true(bytes > 1);
        int want = cases[k].tail_frames < 0 ? plain.nb_frames : cases[k].tail_frames;
        um_media_held **tail = NULL;
        int n = decode_tail(path, &o, want * bytes + bytes - 1, &tail, NULL);
        assert_int_equal(n, want);
        for (int i = 0; i < n; i++)
            assert_int_equal(um_media_held_frame(tail[i])->index, plain.nb_frames - n + i);
        read_all(path, &o, tail, n, "", &tailed, NULL);
        print_message("%s (%g-%g s): %d frames, the last %d from the tail, %d packets\n", cases[k].name,
                      cases[k].start, cases[k].end, plain.nb_frames, n, plain.nb_packets);
        assert_same(&plain, &tailed);
    }
}

/* A tail that does not carry on from the frames decoded (another file's)
 * is let go with a warning, and the frames are decoded. */
static void test_foreign_tail_is_let_go(void **state)
{
    (void)state;
    static digest plain, tailed;
    um_media_options o = options(0, 0, 0);
    read_all(it_media("cfr.mp4"), &o, NULL, 0, "", &plain, NULL);
    um_media_held **tail = NULL;
    int n = decode_tail(it_media("vfr.mkv"), &o, (int64_t)1 << 30, &tail, NULL);
    assert_true(n > 1);
    /* Renumbered to start where cfr.mp4's last frames would. */
    for (int i = 0; i < n; i++)
        um_media_held_frame(tail[i])->index = plain.nb_frames - 1 + i;
    read_all(it_media("cfr.mp4"), &o, tail, n, "", &tailed, NULL);
    assert_same(&plain, &tailed);
}

/* How a reader's frames were decoded: FFmpeg says whether NVDEC takes a
 * stream on its first frame, so a reader that decodes none (the tail holds
 * them all) names the tail's path, and one that decodes the frames before
 * the tail keeps its own. The tail's path here is a label no decoder of this
 * machine gives, to tell the two apart. */
static void test_tail_names_its_decoding(void **state)
{
    (void)state;
    static const struct {
        int tail_frames; /* -1: all */
        const char *path;
    } cases[] = {{-1, "h264 (tail's decoder)"}, {3, "h264 (software)"}};
    const char *path = it_media("cfr.mp4");
    um_media_options o = options(0, 0, 0);
    static digest read;
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        um_media_held **tail = NULL;
        int all = decode_tail(path, &o, (int64_t)1 << 30, &tail, NULL);
        int n = cases[k].tail_frames < 0 ? all : cases[k].tail_frames;
        for (int i = 0; i < all - n; i++)
            um_media_held_release(&tail[i]);
        memmove(tail, tail + (all - n), (size_t)n * sizeof(*tail));
        char decode_path[128];
        read_all(path, &o, tail, n, "h264 (tail's decoder)", &read, decode_path);
        assert_int_equal(read.nb_frames, all);
        assert_string_equal(decode_path, cases[k].path);
    }
}

/* remove writes the same frames and packets whether the removal pass
 * decodes everything (--frame-cache 0) or takes detection's last frames;
 * a bad size is a usage error naming the flag. */
static void test_remove_same_with_cache(void **state)
{
    const char *cached = it_join(*state, "cached.mkv"), *decoded = it_join(*state, "decoded.mkv");
    it_result r;
    IT_RUN(&r, "remove", it_media("marked.mp4"), "-o", cached, "--crf", "0", "--preset", "ultrafast",
           "--frame-cache", "256M", "-v");
    IT_EXPECT_STATUS(&r, 0);
    IT_CHECK(strstr(r.err, "frames come from detection's decode") != NULL, "no tail used:\n%s", r.err);
    it_result_free(&r);
    IT_RUN(&r, "remove", it_media("marked.mp4"), "-o", decoded, "--crf", "0", "--preset", "ultrafast",
           "--frame-cache", "0", "-v");
    IT_EXPECT_STATUS(&r, 0);
    IT_CHECK(strstr(r.err, "frames come from detection's decode") == NULL, "a tail used:\n%s", r.err);
    it_result_free(&r);
    static digest a, b;
    um_media_options o = options(0, 0, 0);
    read_all(cached, &o, NULL, 0, "", &a, NULL);
    read_all(decoded, &o, NULL, 0, "", &b, NULL);
    assert_same(&a, &b);
    IT_RUN(&r, "remove", it_media("marked.mp4"), "-o", "/tmp/unused-unmark.mp4", "--frame-cache", "lots");
    IT_EXPECT_STATUS(&r, 2);
    IT_CHECK(strstr(r.err, "--frame-cache \"lots\"") != NULL, "no mention of the flag:\n%s", r.err);
    it_result_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tail_reads_as_decoding),
        cmocka_unit_test(test_foreign_tail_is_let_go),
        cmocka_unit_test(test_tail_names_its_decoding),
        cmocka_unit_test_setup_teardown(test_remove_same_with_cache, it_setup_tmpdir, it_teardown_tmpdir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
