/*
 * Integration tests of failures: unreadable or unsupported inputs (exit 3)
 * and unwritable outputs (exit 4). Every failure must leave no output and no
 * temporary file behind, and must not touch the input.
 */
#include "itest.h"

#include <libavformat/avformat.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* How a bad input may end. */
typedef enum {
    FAIL_ONLY,         /* exit 3 */
    FAIL_OR_VALID,     /* exit 3, or exit 0 with a valid output video */
    FAIL_IF_UNOPENABLE /* exit 3 if libavformat cannot open it, else as FAIL_OR_VALID */
} bad_outcome;

typedef struct {
    const char *file;   /* in the media folder; NULL: the media folder itself */
    bad_outcome outcome;
} bad_case;

static const bad_case bad_cases[] = {
    {"empty.mp4", FAIL_ONLY},
    {"text.mp4", FAIL_ONLY},
    {"truncated.mp4", FAIL_IF_UNOPENABLE},
    {"corrupt.mp4", FAIL_OR_VALID},
    {"huge.y4m", FAIL_ONLY},
    {"does-not-exist.mp4", FAIL_ONLY},
    {"audioonly.wav", FAIL_ONLY},
    {"unsupported.mkv", FAIL_ONLY},
    {NULL, FAIL_ONLY},
};

/* True if libavformat can open path and find its streams. */
static int avformat_can_open(const char *path)
{
    AVFormatContext *fmt = NULL;
    if (avformat_open_input(&fmt, path, NULL, NULL) < 0)
        return 0;
    int ok = avformat_find_stream_info(fmt, NULL) >= 0;
    avformat_close_input(&fmt);
    return ok;
}

/* The outcome to expect for a case, resolving FAIL_IF_UNOPENABLE. */
static bad_outcome resolve_outcome(const bad_case *c, const char *in)
{
    if (c->outcome != FAIL_IF_UNOPENABLE)
        return c->outcome;
    return avformat_can_open(in) ? FAIL_OR_VALID : FAIL_ONLY;
}

/* Path of a case's input. */
static const char *case_input(const bad_case *c)
{
    if (c->file)
        return it_media(c->file);
    return getenv("UNMARK_TEST_MEDIA");
}

/* True if a failed run printed an error line naming the input. */
static int error_names(const it_result *r, const char *in)
{
    char copy[PATH_MAX];
    snprintf(copy, sizeof copy, "%s", in);
    return IT_HAS_LINE(r->err, "unmark: error: ", basename(copy));
}

/* Checks one bad input through remove, writing dir/out-INDEX.mp4 (each case
 * its own name: a readable damaged input may leave a valid output). */
static void check_bad_remove(const char *dir, const bad_case *c, size_t index, int *fails)
{
    char out_name[32];
    snprintf(out_name, sizeof out_name, "out-%zu.mp4", index);
    const char *in = case_input(c);
    const char *out = it_join(dir, out_name);
    bad_outcome outcome = resolve_outcome(c, in);
    it_snapshot before;
    int had_input = it_snapshot_take(in, &before) == 0;
    it_result r;
    IT_RUN(&r, "remove", in, "-o", out, "--region", "10,10,20,20", "--fast");
    print_message("bad input %s: exit %d\n", c->file ? c->file : "(a folder)", r.status);
    if (outcome == FAIL_ONLY || r.status != 0) {
        IT_SOFT(fails, r.status == 3, "%s: exit %d, want 3; stderr: %s", r.cmd, r.status, r.err);
        IT_SOFT(fails, error_names(&r, in), "%s: no error line naming the input: %s", r.cmd, r.err);
        IT_SOFT(fails, !it_exists(out), "%s: %s exists after a failure", r.cmd, out);
    } else {
        IT_SOFT(fails, it_video_valid(out), "%s: exit 0 but the output is not a valid video", r.cmd);
    }
    IT_SOFT(fails, it_count_stray(dir) == 0, "%s: temporary files left in %s", r.cmd, dir);
    if (had_input && c->file)
        IT_SOFT(fails, it_snapshot_same(in, &before), "%s: the input changed", r.cmd);
    it_snapshot_free(&before);
    it_result_free(&r);
}

static void test_bad_inputs_remove(void **state)
{
    int fails = 0;
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++)
        check_bad_remove(*state, &bad_cases[i], i, &fails);
    IT_CHECK(fails == 0, "%d failed checks", fails);
}

/* probe fails the same way on unreadable inputs (readable damaged ones may
 * probe fine). */
static void test_bad_inputs_probe(void **state)
{
    (void)state;
    int fails = 0;
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
        const bad_case *c = &bad_cases[i];
        const char *in = case_input(c);
        if (resolve_outcome(c, in) != FAIL_ONLY)
            continue;
        it_result r;
        IT_RUN(&r, "probe", in);
        IT_SOFT(&fails, r.status == 3, "%s: exit %d, want 3; stderr: %s", r.cmd, r.status, r.err);
        IT_SOFT(&fails, error_names(&r, in), "%s: no error line naming the input: %s", r.cmd, r.err);
        it_result_free(&r);
    }
    IT_CHECK(fails == 0, "%d failed checks", fails);
}

/* The truncated file has its index at the end, cut off: it is unreadable,
 * and the case above must then have expected exit 3 (guards the table). */
static void test_truncated_is_unreadable(void **state)
{
    (void)state;
    IT_CHECK(!avformat_can_open(it_media("truncated.mp4")),
             "truncated.mp4 opens: make_media.sh no longer makes an unreadable file");
    IT_CHECK(avformat_can_open(it_media("corrupt.mp4")), "corrupt.mp4 should open");
}

/* ---- output errors --------------------------------------------------------- */

/* Copies cfr.mp4 into dir/sub/in.mp4 and returns that path. */
static const char *private_input(const char *dir)
{
    const char *sub = it_join(dir, "sub");
    mkdir(sub, 0755);
    const char *in = it_join(sub, "in.mp4");
    IT_CHECK(it_copy_file(it_media("cfr.mp4"), in) == 0, "cannot copy the input");
    return in;
}

/* Runs remove from in to out (with --overwrite if asked); expects exit 4, an
 * error line, and in untouched. */
static void expect_output_error(const char *in, const char *out, int overwrite)
{
    it_snapshot before;
    IT_CHECK(it_snapshot_take(in, &before) == 0, "cannot read %s", in);
    it_result r;
    if (overwrite)
        IT_RUN(&r, "remove", in, "-o", out, "--region", "10,10,20,20", "--fast", "--overwrite");
    else
        IT_RUN(&r, "remove", in, "-o", out, "--region", "10,10,20,20", "--fast");
    IT_EXPECT_STATUS(&r, 4);
    char copy[PATH_MAX];
    snprintf(copy, sizeof copy, "%s", out);
    IT_CHECK(IT_HAS_LINE(r.err, "unmark: error: ", basename(copy)),
             "%s: no error line naming the output: %s", r.cmd, r.err);
    IT_CHECK(it_snapshot_same(in, &before), "%s: the input changed", r.cmd);
    it_snapshot_free(&before);
    it_result_free(&r);
}

static void test_missing_output_folder(void **state)
{
    const char *dir = *state;
    const char *in = private_input(dir);
    const char *missing = it_join(dir, "no-such-folder");
    const char *out = it_join(missing, "out.mp4");
    expect_output_error(in, out, 0);
    IT_CHECK(!it_exists(missing), "the missing folder was created");
    IT_CHECK(it_count_entries(dir) == 1, "stray files in %s", dir);
}

/* The output named by several spellings of the input's own path, with and
 * without --overwrite. */
static void test_output_is_input(void **state)
{
    const char *dir = *state;
    const char *in = private_input(dir);
    char spelled[3][PATH_MAX];
    snprintf(spelled[0], PATH_MAX, "%s", in);
    snprintf(spelled[1], PATH_MAX, "%s/./sub/../sub/in.mp4", dir);
    snprintf(spelled[2], PATH_MAX, "%s//sub///in.mp4", dir);
    for (int i = 0; i < 3; i++) {
        for (int overwrite = 0; overwrite <= 1; overwrite++) {
            print_message("output %s, overwrite %d\n", spelled[i], overwrite);
            expect_output_error(in, spelled[i], overwrite);
            IT_CHECK(it_count_entries(it_join(dir, "sub")) == 1, "stray files beside the input");
        }
    }
}

static void test_output_exists(void **state)
{
    const char *dir = *state;
    const char *in = private_input(dir);
    const char *out = it_join(dir, "out.mp4");
    static const char existing[] = "an existing file that must survive\n";
    IT_CHECK(it_write_file(out, existing, sizeof existing - 1) == 0, "cannot write %s", out);
    it_snapshot before;
    IT_CHECK(it_snapshot_take(out, &before) == 0, "cannot read %s", out);
    expect_output_error(in, out, 0);
    IT_CHECK(it_snapshot_same(out, &before), "the existing output changed");
    IT_CHECK(it_count_stray(dir) == 0, "temporary files left in %s", dir);
    it_snapshot_free(&before);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_truncated_is_unreadable),
        cmocka_unit_test_setup_teardown(test_bad_inputs_remove, it_setup_tmpdir, it_teardown_tmpdir),
        cmocka_unit_test(test_bad_inputs_probe),
        cmocka_unit_test_setup_teardown(test_missing_output_folder, it_setup_tmpdir, it_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(test_output_is_input, it_setup_tmpdir, it_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(test_output_exists, it_setup_tmpdir, it_teardown_tmpdir),
    };
    return cmocka_run_group_tests_name("integration.badinput", tests, NULL, NULL);
}
