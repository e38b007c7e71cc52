/*
 * Integration tests of video jobs: what goes in comes out with the same
 * frames, timestamps, streams and tags, the regions are filled and the rest
 * of the picture is kept; --overwrite; an interrupted job leaves nothing.
 */
#include "itest.h"

#include <libavutil/avutil.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* The region every test removes: textured testsrc2 content, away from the
 * borders. */
static const it_rect REGION = {100, 80, 60, 40};
#define REGION_ARG "100,80,60,40"
/* Pixels around a region the filling (mask growth, codec blocks) may touch. */
#define MARGIN 16
/* Quality outside the region, and change inside it, that a run must meet. */
#define MIN_PSNR_OUT 40.0
#define MIN_MAD_IN 3.0
/* Timestamp tolerance in the same container type, and in Matroska (ms). */
#define TOL_SAME 1e-6
#define TOL_MKV (1e-3 + 1e-6)

/* Runs remove on a media file into dir/out with the region and --fast plus
 * extra args (NULL-terminated); expects exit 0 and returns the output path. */
static const char *run_ok(const char *dir, const char *media, const char *out_name,
                          const char *const *extra, it_result *r)
{
    const char *in = it_media(media);
    const char *out = it_join(dir, out_name);
    const char *args[24] = {"remove", in, "-o", out, "--fast"};
    size_t n = 5;
    for (size_t i = 0; extra && extra[i] && n < 23; i++)
        args[n++] = extra[i];
    args[n] = NULL;
    it_snapshot before;
    IT_CHECK(it_snapshot_take(in, &before) == 0, "cannot read %s", in);
    it_run(r, args);
    IT_EXPECT_STATUS(r, 0);
    IT_CHECK(it_exists(out), "%s: no output", r->cmd);
    IT_CHECK(it_count_stray(dir) == 0, "%s: temporary files left in %s", r->cmd, dir);
    IT_CHECK(it_snapshot_same(in, &before), "%s: the input changed", r->cmd);
    it_snapshot_free(&before);
    return out;
}

/* Runs with the standard region; frees the result. */
static const char *run_region(const char *dir, const char *media, const char *out_name)
{
    static const char *const extra[] = {"--region", REGION_ARG, NULL};
    it_result r;
    const char *out = run_ok(dir, media, out_name, extra, &r);
    it_result_free(&r);
    return out;
}

/* Fails unless out has in's frame count and per-frame timestamps within tol. */
static void expect_same_times(const char *in, const char *out, double tol)
{
    it_times a, b;
    IT_CHECK(it_video_times(in, &a) == 0, "cannot decode %s", in);
    IT_CHECK(it_video_times(out, &b) == 0, "cannot decode %s", out);
    IT_CHECK(a.n > 0 && a.n == b.n, "frame count: input %zu, output %zu", a.n, b.n);
    long i = it_times_mismatch(&a, &b, tol);
    IT_CHECK(i < 0, "frame %ld: input at %.6f s, output at %.6f s", i, a.t[i], b.t[i]);
    IT_CHECK(b.decode_errors == 0, "%d decode errors in %s", b.decode_errors, out);
    it_times_free(&a);
    it_times_free(&b);
}

/* Fails unless the nth stream of a type has the same packets in both files. */
static void expect_same_packets(const char *in, const char *out, int type, int nth)
{
    it_packets a, b;
    IT_CHECK(it_stream_packets(in, type, nth, &a) == 0, "no stream %d/%d in %s", type, nth, in);
    IT_CHECK(it_stream_packets(out, type, nth, &b) == 0, "no stream %d/%d in %s", type, nth, out);
    IT_CHECK(a.n > 0, "stream %d/%d of %s has no packets", type, nth, in);
    long i = it_packets_mismatch(&a, &b);
    IT_CHECK(i < 0, "stream %d/%d: packet %ld differs (%zu packets in, %zu out)", type, nth, i,
             a.n, b.n);
    it_packets_free(&a);
    it_packets_free(&b);
}

/* Fails unless the region changed in every frame and the rest kept its
 * quality. */
static void expect_region_removed(const char *in, const char *out, it_rect rect, double min_psnr)
{
    it_cmp c;
    IT_CHECK(it_compare_luma(in, out, rect, MARGIN, &c) == 0, "cannot compare %s and %s", in, out);
    IT_CHECK(c.n > 0 && c.n_a == c.n_b, "frames: %zu in, %zu out", c.n_a, c.n_b);
    double psnr = it_cmp_min_psnr_out(&c), mad = it_cmp_min_mad_in(&c);
    print_message("%s: min PSNR outside %.2f dB, min MAD inside %.2f\n", out, psnr, mad);
    IT_CHECK(psnr >= min_psnr, "PSNR outside the region %.2f dB < %.1f", psnr, min_psnr);
    IT_CHECK(mad > MIN_MAD_IN, "the region did not change: mean abs difference %.2f", mad);
    it_cmp_free(&c);
}

/* ---- containers and streams ------------------------------------------------ */

static void test_cfr_mp4(void **state)
{
    const char *in = it_media("cfr.mp4");
    const char *out = run_region(*state, "cfr.mp4", "out.mp4");
    expect_same_times(in, out, TOL_SAME);
    expect_same_packets(in, out, AVMEDIA_TYPE_AUDIO, 0);
    expect_region_removed(in, out, REGION, MIN_PSNR_OUT);
    it_props p;
    IT_CHECK(it_probe(out, &p) == 0, "cannot read %s", out);
    IT_CHECK(strcmp(p.codec, "h264") == 0 && strcmp(p.pix_fmt, "yuv420p") == 0,
             "video %s %s", p.codec, p.pix_fmt);
    IT_CHECK(p.width == 320 && p.height == 240, "size %dx%d", p.width, p.height);
    IT_CHECK(p.nb_audio == 1 && strcmp(p.audio_codec[0], "aac") == 0, "audio: %d, %s", p.nb_audio,
             p.audio_codec[0]);
}

/* The media itself must be variable-rate for the next test to mean anything. */
static void expect_vfr(const char *path)
{
    it_times t;
    IT_CHECK(it_video_times(path, &t) == 0 && t.n > 3, "cannot decode %s", path);
    double d0 = t.t[1] - t.t[0];
    int varies = 0;
    for (size_t i = 2; i < t.n; i++)
        varies |= fabs((t.t[i] - t.t[i - 1]) - d0) > 0.005;
    it_times_free(&t);
    IT_CHECK(varies, "%s has constant frame durations", path);
}

static void test_vfr_mkv(void **state)
{
    const char *in = it_media("vfr.mkv");
    expect_vfr(in);
    const char *out = run_region(*state, "vfr.mkv", "out.mkv");
    expect_same_times(in, out, TOL_MKV);
    expect_vfr(out);
    expect_region_removed(in, out, REGION, MIN_PSNR_OUT);
}

static void test_noaudio(void **state)
{
    const char *in = it_media("noaudio.mp4");
    const char *out = run_region(*state, "noaudio.mp4", "out.mp4");
    expect_same_times(in, out, TOL_SAME);
    it_props p;
    IT_CHECK(it_probe(out, &p) == 0, "cannot read %s", out);
    IT_CHECK(p.nb_streams == 1 && p.nb_video == 1 && p.nb_audio == 0, "streams: %d (%d audio)",
             p.nb_streams, p.nb_audio);
}

static void test_two_audio_and_subtitles(void **state)
{
    const char *in = it_media("twoaudio.mkv");
    const char *out = run_region(*state, "twoaudio.mkv", "out.mkv");
    it_props p;
    IT_CHECK(it_probe(out, &p) == 0, "cannot read %s", out);
    IT_CHECK(p.nb_audio == 2, "audio tracks: %d", p.nb_audio);
    IT_CHECK(strcmp(p.audio_codec[0], "aac") == 0 && strcmp(p.audio_codec[1], "flac") == 0,
             "audio codecs %s, %s", p.audio_codec[0], p.audio_codec[1]);
    IT_CHECK(p.nb_subtitle == 1 && strcmp(p.subtitle_codec[0], "subrip") == 0, "subtitles: %d %s",
             p.nb_subtitle, p.subtitle_codec[0]);
    expect_same_packets(in, out, AVMEDIA_TYPE_AUDIO, 0);
    expect_same_packets(in, out, AVMEDIA_TYPE_AUDIO, 1);
    expect_same_packets(in, out, AVMEDIA_TYPE_SUBTITLE, 0);
    expect_same_times(in, out, TOL_SAME);
}

/* True if some stderr line mentions a conversion (any case). */
static int mentions_conversion(const char *err)
{
    for (const char *p = err; *p; p++) {
        if (strncasecmp(p, "convert", 7) == 0)
            return 1;
    }
    return 0;
}

static void test_pcm_to_mp4_converts(void **state)
{
    static const char *const extra[] = {"--region", REGION_ARG, NULL};
    const char *in = it_media("pcm.mov");
    it_result r;
    const char *out = run_ok(*state, "pcm.mov", "out.mp4", extra, &r);
    IT_CHECK(mentions_conversion(r.err), "no log line about converting the PCM track: %s", r.err);
    it_result_free(&r);
    it_props p;
    IT_CHECK(it_probe(out, &p) == 0, "cannot read %s", out);
    IT_CHECK(p.nb_audio == 1 && strcmp(p.audio_codec[0], "aac") == 0, "audio: %d %s", p.nb_audio,
             p.audio_codec[0]);
    expect_same_times(in, out, TOL_SAME);
}

static void test_pcm_to_mov_copies(void **state)
{
    const char *in = it_media("pcm.mov");
    const char *out = run_region(*state, "pcm.mov", "out.mov");
    expect_same_packets(in, out, AVMEDIA_TYPE_AUDIO, 0);
    expect_same_times(in, out, TOL_SAME);
}

/* ---- tags, depth, size ---------------------------------------------------- */

static void test_rotation_colour_sar(void **state)
{
    const char *in = it_media("rot90.mp4");
    const char *out = run_region(*state, "rot90.mp4", "out.mp4");
    it_props a, b;
    IT_CHECK(it_probe(in, &a) == 0 && it_probe(out, &b) == 0, "cannot read the files");
    IT_CHECK(a.has_rotation && fabs(fabs(a.rotation) - 90) < 0.01, "input rotation %.1f",
             a.rotation);
    IT_CHECK(b.has_rotation && fabs(b.rotation - a.rotation) < 0.01, "rotation: in %.1f, out %.1f",
             a.rotation, b.rotation);
    IT_CHECK(b.color_primaries == a.color_primaries && b.color_trc == a.color_trc &&
                 b.color_space == a.color_space && b.color_range == a.color_range,
             "colour tags in %d/%d/%d/%d, out %d/%d/%d/%d", a.color_primaries, a.color_trc,
             a.color_space, a.color_range, b.color_primaries, b.color_trc, b.color_space,
             b.color_range);
    IT_CHECK(b.sar_num * 3 == b.sar_den * 4 && b.sar_num > 0, "SAR %d:%d", b.sar_num, b.sar_den);
    IT_CHECK(b.width == a.width && b.height == a.height, "size %dx%d", b.width, b.height);
    expect_same_times(in, out, TOL_SAME);
}

static void test_tenbit(void **state)
{
    const char *in = it_media("tenbit.mp4");
    const char *out = run_region(*state, "tenbit.mp4", "out.mp4");
    it_props p;
    IT_CHECK(it_probe(out, &p) == 0, "cannot read %s", out);
    IT_CHECK(strcmp(p.pix_fmt, "yuv420p10le") == 0, "pix_fmt %s", p.pix_fmt);
    expect_same_times(in, out, TOL_SAME);
    expect_region_removed(in, out, REGION, MIN_PSNR_OUT);
}

static void test_odd_size(void **state)
{
    const char *in = it_media("odd.mkv");
    const char *out = run_region(*state, "odd.mkv", "out.mkv");
    it_props p;
    IT_CHECK(it_probe(out, &p) == 0, "cannot read %s", out);
    IT_CHECK(p.width == 321 && p.height == 241, "size %dx%d", p.width, p.height);
    expect_same_times(in, out, TOL_SAME);
    expect_region_removed(in, out, REGION, MIN_PSNR_OUT);
}

/* ---- regions ------------------------------------------------------------------ */

/* Frames whose time is within one frame of a span's edge are not judged. */
#define EDGE 0.045

/* A --region time span and the span it means, in seconds (an empty side is
 * open: 0 or the end). */
typedef struct {
    const char *arg;
    double start, end;
    int min_inside, min_outside;    /* frames of cfr.mp4 (50, 25 fps) judged */
} span_case;

static const span_case span_cases[] = {
    {REGION_ARG "@0.6-1.2", 0.6, 1.2, 10, 30},
    {REGION_ARG "@1.0-", 1.0, 100.0, 20, 20},
    {REGION_ARG "@-0.8", 0.0, 0.8, 15, 25},
};

/* Judges one span case's output frame by frame; returns the failures. */
static int judge_span(const span_case *sc, const it_cmp *c)
{
    int fails = 0, inside = 0, outside = 0;
    for (size_t i = 0; i < c->n; i++) {
        const it_frame_cmp *f = &c->f[i];
        if (f->time > sc->start + EDGE && f->time < sc->end - EDGE) {
            inside++;
            IT_SOFT(&fails, f->mad_in > MIN_MAD_IN, "%s: frame at %.2f s inside the span: region "
                    "unchanged (MAD %.2f)", sc->arg, f->time, f->mad_in);
        } else if (f->time < sc->start - EDGE || f->time > sc->end + EDGE) {
            outside++;
            IT_SOFT(&fails, f->psnr_in >= MIN_PSNR_OUT, "%s: frame at %.2f s outside the span: "
                    "region changed (PSNR %.2f dB)", sc->arg, f->time, f->psnr_in);
        }
        IT_SOFT(&fails, f->psnr_out >= MIN_PSNR_OUT, "%s: frame at %.2f s: PSNR outside %.2f dB",
                sc->arg, f->time, f->psnr_out);
    }
    print_message("%s: judged %d frames inside, %d outside\n", sc->arg, inside, outside);
    IT_SOFT(&fails, inside >= sc->min_inside && outside >= sc->min_outside,
            "%s: judged %d frames inside, %d outside", sc->arg, inside, outside);
    return fails;
}

static void test_region_time_span(void **state)
{
    const char *in = it_media("cfr.mp4");
    int fails = 0;
    for (size_t i = 0; i < sizeof span_cases / sizeof span_cases[0]; i++) {
        const char *extra[] = {"--region", span_cases[i].arg, "--overwrite", NULL};
        it_result r;
        const char *out = run_ok(*state, "cfr.mp4", "out.mp4", extra, &r);
        it_result_free(&r);
        it_cmp c;
        IT_CHECK(it_compare_luma(in, out, REGION, MARGIN, &c) == 0, "cannot compare");
        IT_CHECK(c.n == 50 && c.n_b == 50, "frames: %zu", c.n_b);
        fails += judge_span(&span_cases[i], &c);
        it_cmp_free(&c);
    }
    IT_CHECK(fails == 0, "%d failed checks", fails);
}

static void test_two_regions(void **state)
{
    static const char *const extra[] = {"--region", REGION_ARG, "--region", "200,150,50,40", NULL};
    static const it_rect second = {200, 150, 50, 40};
    const char *in = it_media("cfr.mp4");
    it_result r;
    const char *out = run_ok(*state, "cfr.mp4", "out.mp4", extra, &r);
    it_result_free(&r);
    it_cmp a, b;
    IT_CHECK(it_compare_luma(in, out, REGION, MARGIN, &a) == 0, "cannot compare");
    IT_CHECK(it_compare_luma(in, out, second, MARGIN, &b) == 0, "cannot compare");
    IT_CHECK(it_cmp_min_mad_in(&a) > MIN_MAD_IN, "first region unchanged");
    IT_CHECK(it_cmp_min_mad_in(&b) > MIN_MAD_IN, "second region unchanged");
    it_cmp_free(&a);
    it_cmp_free(&b);
}

/* ---- overwrite and interruption ------------------------------------------------ */

static void test_overwrite(void **state)
{
    static const char *const extra[] = {"--region", REGION_ARG, "--overwrite", NULL};
    const char *out = it_join(*state, "out.mp4");
    static const char old[] = "old content\n";
    IT_CHECK(it_write_file(out, old, sizeof old - 1) == 0, "cannot write %s", out);
    it_result r;
    run_ok(*state, "noaudio.mp4", "out.mp4", extra, &r);
    it_result_free(&r);
    IT_CHECK(it_video_valid(out), "the overwritten output is not a valid video");
}

/* Waits up to limit seconds for a progress event in the stderr file; true
 * once one is there. */
static int wait_for_progress(const char *err_path, double limit)
{
    struct timespec step = {0, 20 * 1000 * 1000};
    for (double waited = 0; waited < limit; waited += 0.02) {
        char *text = (char *)it_read_file(err_path, NULL);
        int seen = text && strstr(text, "\"progress\"") != NULL;
        free(text);
        if (seen)
            return 1;
        nanosleep(&step, NULL);
    }
    return 0;
}

static void test_interrupt_leaves_nothing(void **state)
{
    const char *dir = *state;
    /* The output goes to its own folder so the logs do not count as strays.
     * (it_join's buffers are a ring of 16: these stay valid below.) */
    const char *result_dir = it_join(dir, "result");
    const char *out = it_join(result_dir, "out.mp4");
    const char *out_log = it_join(dir, "stdout.txt");
    const char *err_log = it_join(dir, "stderr.txt");
    IT_CHECK(mkdir(result_dir, 0755) == 0, "cannot make %s", result_dir);
    const char *args[] = {"remove", it_media("long.mp4"), "-o", out, "--region", REGION_ARG,
                          "--preset", "veryslow", "--encoder", "x264", "--json", NULL};
    pid_t pid = it_spawn(args, out_log, err_log);
    IT_CHECK(pid > 0, "cannot start the binary");
    int progressed = wait_for_progress(err_log, 30);
    kill(pid, SIGINT);
    int status = it_wait(pid);
    char *err = (char *)it_read_file(err_log, NULL);
    print_message("interrupted run: exit %d, progress seen %d\n", status, progressed);
    IT_CHECK(progressed, "no progress event within 30 s: %s", err ? err : "");
    IT_CHECK(status != 0, "exit 0 after SIGINT mid-job: %s", err ? err : "");
    IT_EXPECT_NO_OUTPUT(result_dir, out);
    IT_CHECK(it_count_entries(result_dir) == 0, "files left in %s", result_dir);
    free(err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_cfr_mp4, it_setup_tmpdir, it_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(test_vfr_mkv, it_setup_tmpdir, it_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(test_noaudio, it_setup_tmpdir, it_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(test_two_audio_and_subtitles, it_setup_tmpdir,
                                        it_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(test_pcm_to_mp4_converts, it_setup_tmpdir, it_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(test_pcm_to_mov_copies, it_setup_tmpdir, it_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(test_rotation_colour_sar, it_setup_tmpdir, it_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(test_tenbit, it_setup_tmpdir, it_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(test_odd_size, it_setup_tmpdir, it_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(test_region_time_span, it_setup_tmpdir, it_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(test_two_regions, it_setup_tmpdir, it_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(test_overwrite, it_setup_tmpdir, it_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(test_interrupt_leaves_nothing, it_setup_tmpdir,
                                        it_teardown_tmpdir),
    };
    return cmocka_run_group_tests_name("integration.pipeline", tests, NULL, NULL);
}
