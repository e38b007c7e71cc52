/*
 * Integration tests of the command line: version, help, usage errors, probe,
 * log format (plain and --json), and the hardware fallbacks on a machine
 * without an NVIDIA GPU.
 */
#include "itest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* True if haystack contains needle, ignoring case. */
static int contains_nocase(const char *haystack, const char *needle)
{
    size_t n = strlen(needle);
    for (const char *p = haystack; *p; p++) {
        if (strncasecmp(p, needle, n) == 0)
            return 1;
    }
    return 0;
}

/* Fails unless every non-empty stderr line is a plain log line. */
static void expect_plain_log_lines(const it_result *r)
{
    const char *p = r->err;
    while (*p) {
        const char *end = strchr(p, '\n');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        IT_CHECK(len == 0 || strncmp(p, "unmark: ", 8) == 0,
                 "%s: stderr line does not start with \"unmark: \": %.*s", r->cmd, (int)len, p);
        p += len + (end ? 1 : 0);
    }
}

/* ---- version and help ----------------------------------------------------- */

static void test_version(void **state)
{
    (void)state;
    it_result r;
    IT_RUN(&r, "--version");
    IT_EXPECT_STATUS(&r, 0);
    IT_CHECK(strstr(r.out, "unmark 0.1.0") != NULL, "stdout: %s", r.out);
    it_result_free(&r);
}

/* A help invocation and a word its usage text must contain. */
typedef struct {
    const char *args[3];
    const char *must_contain;
} help_case;

static const help_case help_cases[] = {
    {{"help", NULL, NULL}, "remove"},
    {{"help", NULL, NULL}, "probe"},
    {{"help", "remove", NULL}, "--region"},
    {{"help", "probe", NULL}, "probe"},
    {{"remove", "--help", NULL}, "--region"},
    {{"probe", "--help", NULL}, "probe"},
};

static void test_help(void **state)
{
    (void)state;
    int fails = 0;
    for (size_t i = 0; i < sizeof help_cases / sizeof help_cases[0]; i++) {
        const help_case *c = &help_cases[i];
        it_result r;
        it_run(&r, c->args);
        IT_SOFT(&fails, r.status == 0, "%s: exit %d, want 0; stderr: %s", r.cmd, r.status, r.err);
        IT_SOFT(&fails, contains_nocase(r.out, "usage"), "%s: no usage on stdout: %s", r.cmd, r.out);
        IT_SOFT(&fails, strstr(r.out, c->must_contain) != NULL, "%s: stdout lacks %s: %s", r.cmd,
                c->must_contain, r.out);
        it_result_free(&r);
    }
    IT_CHECK(fails == 0, "%d failed checks", fails);
}

/* ---- usage errors --------------------------------------------------------- */

/* Arguments after "unmark"; "IN" and "OUT" are replaced by the input and the
 * output path, "MASK" by the wrong-size mask. */
typedef struct {
    const char *what;
    const char *args[12];
} usage_case;

static const usage_case usage_cases[] = {
    {"unknown command", {"frobnicate", NULL}},
    {"unknown global flag", {"--bogus", NULL}},
    {"unknown remove flag", {"remove", "IN", "-o", "OUT", "--bogus", NULL}},
    {"unknown probe flag", {"probe", "IN", "--bogus", NULL}},
    {"probe without input", {"probe", NULL}},
    {"help for an unknown command", {"help", "frobnicate", NULL}},
    {"remove without -o", {"remove", "IN", "--region", "10,10,20,20", NULL}},
    {"remove without input", {"remove", "-o", "OUT", NULL}},
    {"-o without a value", {"remove", "IN", "-o", NULL}},
    {"region with 3 numbers", {"remove", "IN", "-o", "OUT", "--region", "1,2,3", NULL}},
    {"region not numbers", {"remove", "IN", "-o", "OUT", "--region", "a,b,c,d", NULL}},
    {"region of zero width", {"remove", "IN", "-o", "OUT", "--region", "1,2,0,5", NULL}},
    {"region ending before it starts", {"remove", "IN", "-o", "OUT", "--region", "1,2,3,4@5-2", NULL}},
    {"region fully off the frame", {"remove", "IN", "-o", "OUT", "--region", "400,10,20,20", NULL}},
    {"region without a value", {"remove", "IN", "-o", "OUT", "--region", NULL}},
    {"crf not a number", {"remove", "IN", "-o", "OUT", "--region", "10,10,20,20", "--crf", "abc", NULL}},
    {"crf out of range", {"remove", "IN", "-o", "OUT", "--region", "10,10,20,20", "--crf", "1000", NULL}},
    {"crf with trailing junk", {"remove", "IN", "-o", "OUT", "--region", "10,10,20,20", "--crf", "12x", NULL}},
    {"unknown encoder", {"remove", "IN", "-o", "OUT", "--region", "10,10,20,20", "--encoder", "foo", NULL}},
    {"unknown hwdec", {"remove", "IN", "-o", "OUT", "--region", "10,10,20,20", "--hwdec", "foo", NULL}},
    {"mask of another size", {"remove", "IN", "-o", "OUT", "--mask", "MASK", NULL}},
};

/* Substitutes the placeholders of a usage case into args. */
static void fill_args(const char *const *tmpl, const char **args, const char *in, const char *out,
                      const char *mask)
{
    size_t i = 0;
    for (; tmpl[i]; i++) {
        if (strcmp(tmpl[i], "IN") == 0)
            args[i] = in;
        else if (strcmp(tmpl[i], "OUT") == 0)
            args[i] = out;
        else if (strcmp(tmpl[i], "MASK") == 0)
            args[i] = mask;
        else
            args[i] = tmpl[i];
    }
    args[i] = NULL;
}

static void test_usage_errors(void **state)
{
    const char *dir = *state;
    const char *out = it_join(dir, "out.png");
    const char *in = it_media("image.png");
    const char *mask = it_media("mask_small.png");
    int fails = 0;
    for (size_t i = 0; i < sizeof usage_cases / sizeof usage_cases[0]; i++) {
        const usage_case *c = &usage_cases[i];
        const char *args[13];
        fill_args(c->args, args, in, out, mask);
        it_result r;
        it_run(&r, args);
        IT_SOFT(&fails, r.status == 2, "%s (%s): exit %d, want 2; stderr: %s", r.cmd, c->what,
                r.status, r.err);
        IT_SOFT(&fails, IT_HAS_LINE(r.err, "unmark: error: ", ""), "%s (%s): no error line: %s",
                r.cmd, c->what, r.err);
        IT_SOFT(&fails, !it_exists(out) && it_count_stray(dir) == 0, "%s (%s): left output files",
                r.cmd, c->what);
        unlink(out);
        it_result_free(&r);
    }
    IT_CHECK(fails == 0, "%d failed checks", fails);
}

/* A region reaching past the frame's edge: a usage error (exit 2), or, if
 * the binary clips it, a warning that names the region and a valid output. */
static void test_region_partly_outside(void **state)
{
    const char *dir = *state;
    const char *out = it_join(dir, "out.png");
    it_result r;
    IT_RUN(&r, "remove", it_media("image.png"), "-o", out, "--region", "300,200,50,50");
    print_message("region partly outside: exit %d\n", r.status);
    if (r.status == 2) {
        IT_CHECK(IT_HAS_LINE(r.err, "unmark: error: ", "300,200,50,50"), "no error: %s", r.err);
        IT_EXPECT_NO_OUTPUT(dir, out);
    } else {
        IT_EXPECT_STATUS(&r, 0);
        IT_CHECK(IT_HAS_LINE(r.err, "unmark: warning: ", "300,200,50,50"), "clipped silently: %s",
                 r.err);
        IT_CHECK(it_exists(out), "no output");
    }
    it_result_free(&r);
}

/* With --json, a usage error is reported as an error event with status 2. */
static void test_usage_error_json(void **state)
{
    const char *dir = *state;
    const char *out = it_join(dir, "out.png");
    it_result r;
    IT_RUN(&r, "remove", "--json", it_media("image.png"), "-o", out, "--region", "1,2,3");
    IT_EXPECT_STATUS(&r, 2);
    char bad[512] = "";
    IT_CHECK(it_all_lines_json(r.err, bad, sizeof bad), "non-JSON stderr line: %s", bad);
    IT_CHECK(it_json_has(r.err, "{\"event\":\"error\",\"status\":2"), "no error event: %s", r.err);
    IT_EXPECT_NO_OUTPUT(dir, out);
    it_result_free(&r);
}

/* ---- probe ---------------------------------------------------------------- */

/* A probe --json case: the file and members its output must contain. */
typedef struct {
    const char *file;
    const char *frags[10];
} probe_case;

static const probe_case probe_cases[] = {
    {"cfr.mp4",
     {"\"width\":320", "\"height\":240", "\"codec\":\"h264\"", "\"pix_fmt\":\"yuv420p\"",
      "\"depth\":8", "\"vfr\":false", "\"frame_count\":50", "\"audio_tracks\":1",
      "\"is_image\":false", "\"subtitle_tracks\":0"}},
    {"vfr.mkv", {"\"vfr\":true", "\"audio_tracks\":0", "\"frame_count\":45"}},
    {"twoaudio.mkv",
     {"\"audio_tracks\":2", "\"subtitle_tracks\":1", "\"language\":\"fra\"", "\"type\":\"subtitle\"",
      "\"codec\":\"flac\"", "\"channels\":1", "\"sample_rate\":44100"}},
    {"rot90.mp4",
     {"\"sar\":\"4:3\"", "\"primaries\":\"bt709\"", "\"transfer\":\"bt709\"", "\"space\":\"bt709\"",
      "\"range\":\"tv\""}},
    {"tenbit.mp4", {"\"depth\":10", "\"pix_fmt\":\"yuv420p10le\""}},
    {"odd.mkv", {"\"width\":321", "\"height\":241", "\"codec\":\"ffv1\""}},
    {"image.png", {"\"is_image\":true", "\"width\":320", "\"codec\":\"png\""}},
    {"image.jpg", {"\"is_image\":true"}},
    {"image.webp", {"\"is_image\":true"}},
};

/* Members every probe --json object has. */
static const char *const probe_keys[] = {
    "path", "format", "is_image", "duration", "width", "height", "codec", "pix_fmt", "depth",
    "fps", "vfr", "frame_count", "rotation", "color", "primaries", "transfer", "space", "range",
    "sar", "streams", "index", "type", "audio_tracks", "subtitle_tracks", "hardware", "gpu", "count",
};

/* Fails unless probe --json printed one object with every key. */
static void expect_probe_keys(const it_result *r)
{
    char *c = it_json_compact(r->out);
    size_t len = strlen(c);
    IT_CHECK(len > 2 && c[0] == '{' && c[len - 1] == '}', "%s: not one JSON object: %s", r->cmd, r->out);
    for (size_t i = 0; i < sizeof probe_keys / sizeof probe_keys[0]; i++) {
        char key[64];
        snprintf(key, sizeof key, "\"%s\":", probe_keys[i]);
        IT_CHECK(strstr(c, key) != NULL, "%s: no %s member: %s", r->cmd, key, r->out);
    }
    free(c);
}

static void test_probe_json(void **state)
{
    (void)state;
    int fails = 0;
    for (size_t i = 0; i < sizeof probe_cases / sizeof probe_cases[0]; i++) {
        const probe_case *c = &probe_cases[i];
        it_result r;
        IT_RUN(&r, "probe", it_media(c->file), "--json");
        IT_EXPECT_STATUS(&r, 0);
        expect_probe_keys(&r);
        for (size_t k = 0; k < 10 && c->frags[k]; k++)
            IT_SOFT(&fails, it_json_has(r.out, c->frags[k]), "%s: lacks %s: %s", r.cmd,
                    c->frags[k], r.out);
        it_result_free(&r);
    }
    IT_CHECK(fails == 0, "%d failed checks", fails);
}

/* Numbers in probe --json: fps, duration and rotation. */
static void test_probe_json_numbers(void **state)
{
    (void)state;
    it_result r;
    double fps = 0, duration = 0, rotation = 0;
    IT_RUN(&r, "probe", it_media("cfr.mp4"), "--json");
    IT_EXPECT_STATUS(&r, 0);
    IT_CHECK(it_json_number(r.out, "fps", &fps) == 0 && fps > 24.99 && fps < 25.01, "fps: %s", r.out);
    IT_CHECK(it_json_number(r.out, "duration", &duration) == 0 && duration > 1.9 && duration < 2.1,
             "duration: %s", r.out);
    it_result_free(&r);

    IT_RUN(&r, "probe", it_media("rot90.mp4"), "--json");
    IT_EXPECT_STATUS(&r, 0);
    IT_CHECK(it_json_number(r.out, "rotation", &rotation) == 0 &&
                 (rotation == 90 || rotation == -90 || rotation == 270),
             "rotation: %s", r.out);
    it_result_free(&r);
}

static void test_probe_plain(void **state)
{
    (void)state;
    it_result r;
    IT_RUN(&r, "probe", it_media("cfr.mp4"));
    IT_EXPECT_STATUS(&r, 0);
    IT_CHECK(strstr(r.out, "320") && strstr(r.out, "240") && strstr(r.out, "h264"),
             "plain probe lacks size or codec: %s", r.out);
    it_result_free(&r);
}

/* glibc's malloc tuning (huge pages, one arena, zeroed blocks, large
 * blocks from the heap, freed memory kept): on unless the environment says
 * no, each tunable the user's own where GLIBC_TUNABLES sets it (see
 * src/cli/huge_pages.c).
 * Expected: "huge_pages", "one_malloc_arena", "malloc_zeroes",
 * "malloc_reuses_large_blocks", "malloc_keeps_freed_memory", t or f each. */
typedef struct {
    const char *unmark_huge_pages; /* NULL: unset */
    const char *glibc_tunables;    /* NULL: unset */
    const char *expect;
} huge_pages_case;

static const huge_pages_case huge_pages_cases[] = {
    {NULL, NULL, "ttttt"},
    {"1", "glibc.malloc.check=0", "ttttt"},
    {"0", NULL, "fffff"},
    {"no", "glibc.malloc.check=0", "fffff"},
    {NULL, "glibc.malloc.hugetlb=0", "ftttt"},
    {NULL, "glibc.malloc.arena_max=4", "tfttt"},
    {NULL, "glibc.malloc.perturb=7", "ttftt"},
    {NULL, "glibc.malloc.mmap_threshold=131072", "tttft"},
    {NULL, "glibc.malloc.trim_threshold=131072", "ttttf"},
    {NULL, "glibc.malloc.arena_max=1:glibc.malloc.hugetlb=0:glibc.malloc.perturb=255", "ftttt"},
    {"maybe", NULL, "fffff"},
};

static void set_or_unset(const char *name, const char *value)
{
    if (value)
        setenv(name, value, 1);
    else
        unsetenv(name);
}

static void test_probe_huge_pages(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof huge_pages_cases / sizeof huge_pages_cases[0]; i++) {
        const huge_pages_case *c = &huge_pages_cases[i];
        set_or_unset("UNMARK_HUGE_PAGES", c->unmark_huge_pages);
        set_or_unset("GLIBC_TUNABLES", c->glibc_tunables);
        it_result r;
        IT_RUN(&r, "probe", it_media("cfr.mp4"), "--json");
        unsetenv("UNMARK_HUGE_PAGES");
        unsetenv("GLIBC_TUNABLES");
        IT_EXPECT_STATUS(&r, 0);
        static const char *const members[] = {"huge_pages", "one_malloc_arena", "malloc_zeroes",
                                              "malloc_reuses_large_blocks", "malloc_keeps_freed_memory"};
        for (int m = 0; m < 5; m++) {
            char want[64];
            snprintf(want, sizeof(want), "\"%s\":%s", members[m], c->expect[m] == 't' ? "true" : "false");
            IT_CHECK(it_json_has(r.out, want), "UNMARK_HUGE_PAGES=%s GLIBC_TUNABLES=%s: not %s: %s",
                     c->unmark_huge_pages ? c->unmark_huge_pages : "(unset)",
                     c->glibc_tunables ? c->glibc_tunables : "(unset)", want, r.out);
        }
        if (c->unmark_huge_pages && strcmp(c->unmark_huge_pages, "maybe") == 0)
            IT_CHECK(strstr(r.err, "UNMARK_HUGE_PAGES") != NULL, "no warning for \"maybe\": %s", r.err);
        it_result_free(&r);
    }
}

/* ---- logs ----------------------------------------------------------------- */

static void test_plain_logs(void **state)
{
    const char *out = it_join(*state, "out.mp4");
    it_result r;
    IT_RUN(&r, "remove", it_media("noaudio.mp4"), "-o", out, "--region", "10,10,40,30", "--fast");
    IT_EXPECT_STATUS(&r, 0);
    IT_CHECK(IT_HAS_LINE(r.err, "unmark: hardware: ", "decode:", "encode:"),
             "no hardware line: %s", r.err);
    expect_plain_log_lines(&r);
    IT_CHECK(it_video_valid(out), "output not a valid video");
    it_result_free(&r);
}

/* Counts the non-empty lines of a text. */
static int count_lines(const char *text)
{
    int n = 0;
    for (const char *p = text; *p; p++)
        n += *p == '\n' && p != text && p[-1] != '\n';
    return n + (*text && text[strlen(text) - 1] != '\n');
}

static void test_verbose(void **state)
{
    const char *out = it_join(*state, "out.mp4");
    it_result plain, verbose;
    IT_RUN(&plain, "remove", it_media("noaudio.mp4"), "-o", out, "--region", "10,10,40,30",
           "--fast", "--overwrite");
    IT_EXPECT_STATUS(&plain, 0);
    IT_RUN(&verbose, "remove", it_media("noaudio.mp4"), "-o", out, "--region", "10,10,40,30",
           "--fast", "--overwrite", "-v");
    IT_EXPECT_STATUS(&verbose, 0);
    expect_plain_log_lines(&verbose);
    IT_CHECK(count_lines(verbose.err) > count_lines(plain.err), "-v logs %d lines, default %d",
             count_lines(verbose.err), count_lines(plain.err));
    it_result_free(&plain);
    it_result_free(&verbose);
}

static void test_quiet(void **state)
{
    const char *out = it_join(*state, "out.mp4");
    it_result r;
    IT_RUN(&r, "remove", it_media("noaudio.mp4"), "-o", out, "--region", "10,10,40,30", "--fast",
           "--encoder", "x264", "--hwdec", "none", "-q");
    IT_EXPECT_STATUS(&r, 0);
    IT_CHECK(!IT_HAS_LINE(r.err, "unmark: hardware: ", ""), "-q still logs info: %s", r.err);
    IT_CHECK(r.err[0] == '\0', "-q with nothing to warn about still logs: %s", r.err);
    IT_CHECK(it_exists(out), "no output");
    it_result_free(&r);
}

/* Fails unless a --json run's stderr is all events and ends with a done
 * event for out with the given frame count. */
static void expect_json_done(const it_result *r, const char *out, int frames)
{
    char bad[512] = "", frag[4200];
    IT_CHECK(it_all_lines_json(r->err, bad, sizeof bad), "non-JSON stderr line: %s", bad);
    char *done = it_find_json_line(r->err, "\"event\":\"done\"");
    IT_CHECK(done != NULL, "no done event: %s", r->err);
    snprintf(frag, sizeof frag, "\"frames\":%d", frames);
    IT_CHECK(it_json_has(done, frag), "done event: %s, want %s", done, frag);
    snprintf(frag, sizeof frag, "\"output\":\"%s\"", out);
    IT_CHECK(strstr(done, frag) != NULL, "done event: %s, want %s", done, frag);
    IT_CHECK(strstr(done, "\"seconds\":") && strstr(done, "\"decode\":\"") &&
                 strstr(done, "\"encode\":\""),
             "done event lacks members: %s", done);
    free(done);
}

static void test_json_logs(void **state)
{
    const char *out = it_join(*state, "out.mp4");
    it_result r;
    IT_RUN(&r, "remove", it_media("cfr.mp4"), "-o", out, "--region", "10,10,40,30", "--fast",
           "--json");
    IT_EXPECT_STATUS(&r, 0);
    expect_json_done(&r, out, 50);
    IT_CHECK(it_json_has(r.err, "{\"event\":\"log\",\"level\":\"info\",\"message\":\"hardware: "),
             "no hardware info event: %s", r.err);
    char *progress = it_find_json_line(r.err, "\"event\":\"progress\"");
    if (progress) {
        IT_CHECK(strstr(progress, "\"frames\":") && strstr(progress, "\"total\":") &&
                     strstr(progress, "\"fps\":") && strstr(progress, "\"eta\":"),
                 "progress event lacks members: %s", progress);
    }
    free(progress);
    IT_CHECK(!strstr(r.err, "unmark: "), "plain text in JSON mode: %s", r.err);
    it_result_free(&r);
}

/* Paths with quotes and backslashes are escaped in JSON events. */
static void test_json_escapes_paths(void **state)
{
    const char *out = it_join(*state, "we\"ird\\name.mp4");
    it_result r;
    IT_RUN(&r, "remove", it_media("noaudio.mp4"), "-o", out, "--region", "10,10,40,30", "--fast",
           "--json");
    IT_EXPECT_STATUS(&r, 0);
    char bad[512] = "";
    IT_CHECK(it_all_lines_json(r.err, bad, sizeof bad), "non-JSON stderr line: %s", bad);
    char *done = it_find_json_line(r.err, "\"event\":\"done\"");
    IT_CHECK(done && strstr(done, "we\\\"ird\\\\name.mp4\""), "path not escaped: %s", r.err);
    IT_CHECK(it_exists(out), "no output");
    free(done);
    it_result_free(&r);
}

static void test_json_error_event(void **state)
{
    const char *out = it_join(*state, "out.mp4");
    const char *missing = it_join(*state, "missing.mp4");
    it_result r;
    IT_RUN(&r, "remove", missing, "-o", out, "--region", "10,10,40,30", "--json");
    IT_EXPECT_STATUS(&r, 3);
    char bad[512] = "";
    IT_CHECK(it_all_lines_json(r.err, bad, sizeof bad), "non-JSON stderr line: %s", bad);
    char *ev = it_find_json_line(r.err, "{\"event\":\"error\",\"status\":3,\"message\":\"");
    IT_CHECK(ev != NULL, "no error event: %s", r.err);
    IT_CHECK(strstr(ev, "missing.mp4") != NULL, "error event does not name the file: %s", ev);
    free(ev);
    IT_EXPECT_NO_OUTPUT(*state, out);
    it_result_free(&r);
}

/* ---- hardware fallbacks ----------------------------------------------------- */

/* A hardware option, and the words its fallback warning must contain on a
 * machine without a GPU (NULL: no warning expected). */
typedef struct {
    const char *args[4];
    const char *warn1, *warn2;
} fallback_case;

static const fallback_case fallback_cases[] = {
    {{"--encoder", "nvenc", NULL}, "NVENC", "libx264"},
    {{"--encoder", "auto", NULL}, "NVENC", "libx264"},
    {{NULL}, "NVENC", "libx264"},   /* the default is auto */
    {{"--hwdec", "cuda", NULL}, "CUDA", "software"},
};

/* Runs remove on noaudio.mp4 with extra args; returns the status. */
static int run_remove_extra(it_result *r, const char *out, const char *const *extra)
{
    const char *args[16] = {"remove", it_media("noaudio.mp4"), "-o", out, "--region",
                            "10,10,40,30", "--fast", "--overwrite"};
    size_t n = 8;
    for (size_t i = 0; extra[i] && n < 15; i++)
        args[n++] = extra[i];
    args[n] = NULL;
    return it_run(r, args);
}

static void test_hw_fallbacks(void **state)
{
    if (it_have_gpu()) {
        print_message("an NVIDIA GPU is present: the fallbacks are not exercised\n");
        skip();
    }
    const char *out = it_join(*state, "out.mp4");
    int fails = 0;
    for (size_t i = 0; i < sizeof fallback_cases / sizeof fallback_cases[0]; i++) {
        const fallback_case *c = &fallback_cases[i];
        it_result r;
        run_remove_extra(&r, out, c->args);
        IT_SOFT(&fails, r.status == 0, "%s: exit %d, want 0; stderr: %s", r.cmd, r.status, r.err);
        IT_SOFT(&fails, IT_HAS_LINE(r.err, "unmark: warning: ", c->warn1, c->warn2),
                "%s: no warning with %s and %s: %s", r.cmd, c->warn1, c->warn2, r.err);
        IT_SOFT(&fails, r.status != 0 || it_video_valid(out), "%s: output not a valid video",
                r.cmd);
        unlink(out);
        it_result_free(&r);
    }
    IT_CHECK(fails == 0, "%d failed checks", fails);
}

/* Explicit software paths warn about nothing. */
static void test_software_no_warning(void **state)
{
    const char *out = it_join(*state, "out.mp4");
    const char *extra[] = {"--encoder", "x264", "--hwdec", "none", NULL};
    it_result r;
    run_remove_extra(&r, out, extra);
    IT_EXPECT_STATUS(&r, 0);
    IT_CHECK(!IT_HAS_LINE(r.err, "unmark: warning: ", ""), "unexpected warning: %s", r.err);
    IT_CHECK(IT_HAS_LINE(r.err, "unmark: hardware: ", "libx264"), "hardware line: %s", r.err);
    it_result_free(&r);
}

/* ---- encoder settings and format ------------------------------------------ */

/* Runs remove with a preset and CRF; returns the output's size. */
static size_t encode_with(void **state, const char *name, const char *preset, const char *crf)
{
    const char *out = it_join(*state, name);
    it_result r;
    IT_RUN(&r, "remove", it_media("cfr.mp4"), "-o", out, "--region", "10,10,40,30", "--encoder",
           "x264", "--preset", preset, "--crf", crf, "--json");
    IT_EXPECT_STATUS(&r, 0);
    char *done = it_find_json_line(r.err, "\"event\":\"done\"");
    char want[64];
    snprintf(want, sizeof want, "crf %s", crf);
    IT_CHECK(done && strstr(done, preset) && strstr(done, want), "done event %s lacks %s and %s",
             done ? done : r.err, preset, want);
    free(done);
    it_result_free(&r);
    size_t size = 0;
    free(it_read_file(out, &size));
    return size;
}

static void test_preset_crf(void **state)
{
    size_t fine = encode_with(state, "fine.mp4", "ultrafast", "10");
    size_t coarse = encode_with(state, "coarse.mp4", "ultrafast", "40");
    IT_CHECK(coarse > 0 && coarse < fine, "crf 40 (%zu bytes) not smaller than crf 10 (%zu)",
             coarse, fine);
}

/* --format picks the muxer when the extension does not say. */
static void test_format_flag(void **state)
{
    const char *out = it_join(*state, "out.bin");
    it_result r;
    IT_RUN(&r, "remove", it_media("noaudio.mp4"), "-o", out, "--region", "10,10,40,30", "--fast",
           "--format", "matroska");
    IT_EXPECT_STATUS(&r, 0);
    it_props p;
    IT_CHECK(it_probe(out, &p) == 0, "cannot read %s", out);
    IT_CHECK(strstr(p.format, "matroska") != NULL, "format %s", p.format);
    it_result_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_version),
        cmocka_unit_test(test_help),
        cmocka_unit_test_setup_teardown(test_usage_errors, it_setup_tmpdir, it_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(test_region_partly_outside, it_setup_tmpdir,
                                        it_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(test_usage_error_json, it_setup_tmpdir, it_teardown_tmpdir),
        cmocka_unit_test(test_probe_json),
        cmocka_unit_test(test_probe_json_numbers),
        cmocka_unit_test(test_probe_plain),
        cmocka_unit_test(test_probe_huge_pages),
        cmocka_unit_test_setup_teardown(test_plain_logs, it_setup_tmpdir, it_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(test_verbose, it_setup_tmpdir, it_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(test_quiet, it_setup_tmpdir, it_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(test_json_escapes_paths, it_setup_tmpdir,
                                        it_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(test_json_logs, it_setup_tmpdir, it_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(test_json_error_event, it_setup_tmpdir, it_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(test_hw_fallbacks, it_setup_tmpdir, it_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(test_software_no_warning, it_setup_tmpdir, it_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(test_preset_crf, it_setup_tmpdir, it_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(test_format_flag, it_setup_tmpdir, it_teardown_tmpdir),
    };
    return cmocka_run_group_tests_name("integration.cli", tests, NULL, NULL);
}
