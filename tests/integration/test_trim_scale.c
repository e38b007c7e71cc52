/*
 * Integration tests of trimming (--start/--end) and resizing
 * (--width/--height): the frames kept are exactly those FFmpeg's trim filter
 * keeps, timestamps start at 0, copied audio is cut with the video and stays
 * in sync, chapters move with the cut, and the display shape is kept.
 */
#include "itest.h"

#include <libavutil/avutil.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Runs an ffmpeg command line (quietly); 0 when it succeeded. */
static int ffmpeg(const char *args)
{
    char cmd[4200];
    snprintf(cmd, sizeof(cmd), "ffmpeg -nostdin -hide_banner -loglevel error -y %s", args);
    return system(cmd) == 0 ? 0 : -1;
}

/* The time of the first audio packet, as ffprobe reads it. */
static int first_audio_time(const char *path, double *t)
{
    char cmd[4096];
    snprintf(cmd, sizeof(cmd),
             "ffprobe -v error -select_streams a:0 -show_entries packet=pts_time -of csv=p=0 '%s' | head -1",
             path);
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    int ok = fscanf(p, "%lf", t) == 1;
    pclose(p);
    return ok ? 0 : -1;
}

/* --start 0.5 --end 1.5 keeps the frames trim=0.5:1.5 keeps (0.52 s to
 * 1.48 s: 0.5 falls between frames), each moved back by 0.5 s. */
static void test_trim_frames(void **state)
{
    const char *in = it_media("cfr.mp4");
    const char *out = it_join(*state, "trim.mp4");
    const char *ref = it_join(*state, "ref.mkv");
    char args[4096];
    snprintf(args, sizeof(args), "-i '%s' -vf trim=start=0.5:end=1.5,setpts=PTS-STARTPTS -an -c:v ffv1 '%s'",
             in, ref);
    IT_CHECK(ffmpeg(args) == 0, "ffmpeg could not make the reference %s", ref);
    it_result r;
    IT_RUN(&r, "remove", in, "-o", out, "--start", "0.5", "--end", "1.5", "--crf", "10");
    IT_EXPECT_STATUS(&r, 0);
    it_result_free(&r);

    it_times t;
    IT_CHECK(it_video_times(out, &t) == 0, "cannot read %s", out);
    IT_CHECK(t.n == 25, "%zu frames, expected 25 (0.52 s to 1.48 s at 25 fps)", t.n);
    IT_CHECK(t.t[0] > 0.019 && t.t[0] < 0.021, "first frame at %f s, expected 0.02", t.t[0]);
    it_times_free(&t);

    it_cmp c;
    IT_CHECK(it_compare_luma(out, ref, (it_rect){0, 0, 1, 1}, 0, &c) == 0, "cannot compare");
    IT_CHECK(c.n_a == c.n_b, "%zu frames against the reference's %zu", c.n_a, c.n_b);
    double worst = it_cmp_min_psnr_out(&c);
    it_cmp_free(&c);
    /* A frame off by one differs by far more (the pattern moves). */
    IT_CHECK(worst > 38, "a frame differs from the reference's: %.1f dB", worst);
}

/* The copied audio is cut with the video: about 1 s of it, starting at 0. */
static void test_trim_audio(void **state)
{
    const char *in = it_media("cfr.mp4");
    const char *out = it_join(*state, "trim.mp4");
    it_result r;
    IT_RUN(&r, "remove", in, "-o", out, "--start", "0.5", "--end", "1.5", "--fast");
    IT_EXPECT_STATUS(&r, 0);
    it_result_free(&r);
    it_packets whole, cut;
    IT_CHECK(it_stream_packets(in, AVMEDIA_TYPE_AUDIO, 0, &whole) == 0, "cannot read %s", in);
    IT_CHECK(it_stream_packets(out, AVMEDIA_TYPE_AUDIO, 0, &cut) == 0, "cannot read %s", out);
    /* 48 kHz AAC: 1024 samples (21.3 ms) a packet, 47 to the second. */
    IT_CHECK(cut.n >= 45 && cut.n <= 49, "%zu audio packets (of %zu), expected about 47", cut.n, whole.n);
    it_packets_free(&whole);
    it_packets_free(&cut);
    double first = -1;
    IT_CHECK(first_audio_time(out, &first) == 0, "cannot read the audio of %s", out);
    IT_CHECK(first >= 0 && first < 0.03, "audio starts at %f s, expected within a packet of 0", first);
}

/* Chapters move with the cut and are clipped to it. */
static void test_trim_chapters(void **state)
{
    const char *meta = it_join(*state, "chapters.txt");
    const char *in = it_join(*state, "chapters.mkv");
    const char *out = it_join(*state, "out.mkv");
    const char *text = ";FFMETADATA1\n[CHAPTER]\nTIMEBASE=1/1000\nSTART=0\nEND=1000\ntitle=one\n"
                       "[CHAPTER]\nTIMEBASE=1/1000\nSTART=1000\nEND=2000\ntitle=two\n";
    IT_CHECK(it_write_file(meta, text, strlen(text)) == 0, "cannot write %s", meta);
    char args[4096];
    snprintf(args, sizeof(args), "-i '%s' -i '%s' -map_metadata 1 -map_chapters 1 -c copy '%s'",
             it_media("cfr.mp4"), meta, in);
    IT_CHECK(ffmpeg(args) == 0, "ffmpeg could not make %s", in);
    it_result r;
    IT_RUN(&r, "remove", in, "-o", out, "--start", "1.5", "--fast");
    IT_EXPECT_STATUS(&r, 0);
    it_result_free(&r);
    char cmd[4096];
    snprintf(cmd, sizeof(cmd),
             "ffprobe -v error -show_entries chapter=start_time,end_time:chapter_tags=title -of csv=p=0 '%s'", out);
    FILE *p = popen(cmd, "r");
    char line[256] = "", rest[256] = "";
    IT_CHECK(p && fgets(line, sizeof(line), p), "no chapter in %s", out);
    int more = fgets(rest, sizeof(rest), p) != NULL;
    pclose(p);
    double start = -1, end = -1;
    char title[64] = "";
    IT_CHECK(sscanf(line, "%lf,%lf,%63s", &start, &end, title) == 3, "chapter line: %s", line);
    IT_CHECK(!more, "a second chapter survived: %s", rest);
    IT_CHECK(strcmp(title, "two") == 0 && start < 0.001 && end > 0.49 && end < 0.51,
             "chapter \"%s\" %f-%f, expected \"two\" 0-0.5", title, start, end);
}

/* One side given: the other follows the picture's shape; both given: the
 * display shape is kept through the sample aspect ratio. */
static void test_scale(void **state)
{
    static const struct {
        const char *flag, *value;
        const char *flag2, *value2;
        int width, height, sar_num, sar_den;
    } cases[] = {
        {"--width", "160", NULL, NULL, 160, 120, 0, 0},
        {"--height", "100", NULL, NULL, 134, 100, 0, 0},
        {"--width", "320", "--height", "120", 320, 120, 1, 2},
    };
    int fails = 0;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *out = it_join(*state, "scaled.mp4");
        it_result r;
        if (cases[i].flag2)
            IT_RUN(&r, "remove", it_media("cfr.mp4"), "-o", out, "--overwrite", "--fast", cases[i].flag,
                   cases[i].value, cases[i].flag2, cases[i].value2);
        else
            IT_RUN(&r, "remove", it_media("cfr.mp4"), "-o", out, "--overwrite", "--fast", cases[i].flag,
                   cases[i].value);
        IT_EXPECT_STATUS(&r, 0);
        it_result_free(&r);
        it_props p;
        IT_CHECK(it_probe(out, &p) == 0, "cannot read %s", out);
        /* 134x100 is not quite 4:3: the SAR makes up the rest (200:201). */
        double sar = p.sar_num > 0 && p.sar_den > 0 ? (double)p.sar_num / p.sar_den : 1;
        int sar_ok = cases[i].sar_num == 0 ? sar > 0.99 && sar < 1.01
                                           : p.sar_num * cases[i].sar_den == p.sar_den * cases[i].sar_num;
        IT_SOFT(&fails, p.width == cases[i].width && p.height == cases[i].height && sar_ok,
                "%s %s: %dx%d SAR %d:%d, expected %dx%d SAR %d:%d", cases[i].flag, cases[i].value, p.width,
                p.height, p.sar_num, p.sar_den, cases[i].width, cases[i].height, cases[i].sar_num,
                cases[i].sar_den);
    }
    IT_CHECK(fails == 0, "%d size cases failed", fails);
}

/* Bad trims and sizes: usage errors naming the flag, and nothing written. */
static void test_bad_values(void **state)
{
    static const struct {
        const char *flag, *value, *flag2, *value2, *says;
    } cases[] = {
        {"--start", "7", NULL, NULL, "only 2.0"},
        {"--start", "1", "--end", "0.5", "--end"},
        {"--start", "-1", NULL, NULL, "--start"},
        {"--end", "1:75", NULL, NULL, "--end"},
        {"--width", "1", NULL, NULL, "--width"},
        {"--height", "x", NULL, NULL, "--height"},
    };
    int fails = 0;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *out = it_join(*state, "bad.mp4");
        it_result r;
        if (cases[i].flag2)
            IT_RUN(&r, "remove", it_media("cfr.mp4"), "-o", out, cases[i].flag, cases[i].value,
                   cases[i].flag2, cases[i].value2);
        else
            IT_RUN(&r, "remove", it_media("cfr.mp4"), "-o", out, cases[i].flag, cases[i].value);
        IT_SOFT(&fails, r.status == 2 && strstr(r.err, cases[i].says),
                "%s %s: exit %d, stderr %s (expected 2 and \"%s\")", cases[i].flag, cases[i].value, r.status,
                r.err, cases[i].says);
        it_result_free(&r);
        IT_EXPECT_NO_OUTPUT(*state, out);
    }
    IT_CHECK(fails == 0, "%d bad values were not refused as expected", fails);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_trim_frames, it_setup_tmpdir, it_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(test_trim_audio, it_setup_tmpdir, it_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(test_trim_chapters, it_setup_tmpdir, it_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(test_scale, it_setup_tmpdir, it_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(test_bad_values, it_setup_tmpdir, it_teardown_tmpdir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
