/*
 * Integration-test helpers: run the unmark binary, inspect the files it
 * writes through FFmpeg's libraries, and manage scratch folders.
 *
 * The binary's path comes from $UNMARK_BIN and the test media folder from
 * $UNMARK_TEST_MEDIA (both set by CTest). Every helper that can fail returns
 * 0 on success and -1 on failure, after printing why on stderr.
 */
#ifndef UNMARK_ITEST_H
#define UNMARK_ITEST_H

/* cmocka needs these before its own header. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <sys/types.h>
#include <time.h>

/* ---- environment --------------------------------------------------------- */

/* The unmark binary under test ($UNMARK_BIN). */
const char *it_bin(void);
/* Path of a file in the test media folder. The result lives in a ring of
 * static buffers: valid for the next 15 calls of it_media/it_join. */
const char *it_media(const char *name);
/* dir + "/" + name, in the same ring of static buffers as it_media. */
const char *it_join(const char *dir, const char *name);
/* True when the binary reports an NVIDIA GPU (probe --json: hardware.count > 0);
 * the fallback warnings are only expected without one. */
int it_have_gpu(void);

/* ---- running the binary -------------------------------------------------- */

typedef struct {
    int status;     /* exit code; 128 + signal number if it was killed */
    char *out;      /* captured stdout, NUL-terminated */
    char *err;      /* captured stderr, NUL-terminated */
    char cmd[2048]; /* the command line, for failure messages */
} it_result;

/* Runs the binary with args (NULL-terminated, without argv[0]), waits, and
 * captures its output. Returns the exit status (also in r->status), or -1 if
 * it could not be started. */
int it_run(it_result *r, const char *const *args);
/* Frees the captured output. */
void it_result_free(it_result *r);
/* Convenience: IT_RUN(&r, "remove", in, "-o", out) */
#define IT_RUN(r, ...) it_run((r), (const char *const[]){__VA_ARGS__, NULL})

/* Starts the binary without waiting; stdout and stderr go to the named files.
 * Returns the pid or -1. */
pid_t it_spawn(const char *const *args, const char *out_path, const char *err_path);
/* Waits for a spawned process; returns its status as it_result.status does. */
int it_wait(pid_t pid);

/* Fails the current test with the command, expected and actual status, and
 * the captured output, unless r->status == expected. */
#define IT_EXPECT_STATUS(r, expected) it_expect_status((r), (expected), __FILE__, __LINE__)
void it_expect_status(const it_result *r, int expected, const char *file, int line);

/* Fails the current test unless path is absent and dir holds no temporary
 * file of unmark's (what a failed run must leave behind). */
#define IT_EXPECT_NO_OUTPUT(dir, path) it_expect_no_output((dir), (path), __FILE__, __LINE__)
void it_expect_no_output(const char *dir, const char *path, const char *file, int line);

/* cmocka setup and teardown: a fresh scratch folder path in *state,
 * removed afterwards. */
int it_setup_tmpdir(void **state);
int it_teardown_tmpdir(void **state);

/* Fails the current test with a formatted message unless cond holds. */
#define IT_CHECK(cond, ...)                                                              \
    do {                                                                                 \
        if (!(cond)) {                                                                   \
            print_error("%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);         \
            fail_msg(__VA_ARGS__);                                                       \
        }                                                                                \
    } while (0)

/* Like IT_CHECK, but only prints the failure and counts it in *fails, so a
 * table-driven test reports every failing case; end the test with
 * IT_CHECK(fails == 0, ...). */
#define IT_SOFT(fails, cond, ...)                                                        \
    do {                                                                                 \
        if (!(cond)) {                                                                   \
            print_error("%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);         \
            print_error(__VA_ARGS__);                                                    \
            print_error("\n");                                                           \
            (*(fails))++;                                                                \
        }                                                                                \
    } while (0)

/* ---- text and JSON ------------------------------------------------------- */

/* True if some line of text starts with prefix and contains every needle
 * (NULL-terminated list). */
int it_has_line(const char *text, const char *prefix, const char *const *needles);
#define IT_HAS_LINE(text, prefix, ...) it_has_line((text), (prefix), (const char *const[]){__VA_ARGS__, NULL})
/* Copy of a JSON text with the whitespace outside strings removed, so that
 * members read as "key":value (malloc'd). */
char *it_json_compact(const char *json);
/* True if the compacted json contains frag (frag written compactly); a frag
 * ending in a number or literal matches only a whole value. */
int it_json_has(const char *json, const char *frag);
/* Reads the first number member named key ("key":NUMBER) anywhere in json. */
int it_json_number(const char *json, const char *key, double *value);
/* Reads the first string member named key ("key":"...") anywhere in json;
 * escapes are copied as written. */
int it_json_string(const char *json, const char *key, char *buf, size_t cap);
/* Checks that every non-empty line of text is one JSON object with an
 * "event" member; on failure copies the first bad line into bad. */
int it_all_lines_json(const char *text, char *bad, size_t cap);
/* The first line of text whose compacted form contains frag, compacted
 * (malloc'd), or NULL. */
char *it_find_json_line(const char *text, const char *frag);

/* ---- files and folders --------------------------------------------------- */

/* Makes a fresh scratch folder under $TMPDIR (or /tmp); malloc'd path. */
char *it_tmpdir(void);
/* Removes a folder and everything in it (unless $ITEST_KEEP is set). */
void it_rmtree(const char *dir);
/* True if path exists (any type, links not followed). */
int it_exists(const char *path);
/* Reads a whole file (malloc'd, NUL-terminated); NULL on failure. */
unsigned char *it_read_file(const char *path, size_t *size);
/* Copies a file, keeping nothing but its bytes. */
int it_copy_file(const char *src, const char *dst);
/* Writes bytes to a file, replacing it. */
int it_write_file(const char *path, const void *data, size_t size);
/* Number of entries in dir that look like unmark's temporary files
 * (".NAME.unmark-XXXX"): names starting with '.' that contain "unmark". */
int it_count_stray(const char *dir);
/* Number of entries in dir other than "." and "..". */
int it_count_entries(const char *dir);

/* A file's bytes and modification time, to check that it was not touched. */
typedef struct {
    unsigned char *data;
    size_t size;
    struct timespec mtime;
} it_snapshot;

int it_snapshot_take(const char *path, it_snapshot *s);
/* True if path still has the snapshot's bytes and mtime. */
int it_snapshot_same(const char *path, const it_snapshot *s);
void it_snapshot_free(it_snapshot *s);

/* ---- media inspection ---------------------------------------------------- */

/* Container and stream facts read through libavformat. */
typedef struct {
    char format[64];        /* demuxer name, e.g. "mov,mp4,m4a,3gp,3g2,mj2" */
    int nb_streams;
    int nb_video, nb_audio, nb_subtitle;
    char audio_codec[8][32];    /* per audio stream, in order */
    char subtitle_codec[8][32];
    /* the best video stream: */
    int width, height;
    char codec[32];
    char pix_fmt[32];
    int has_rotation;
    double rotation;        /* av_display_rotation_get(), degrees */
    int color_primaries, color_trc, color_space, color_range;   /* AVCOL_* */
    int sar_num, sar_den;
} it_props;

int it_probe(const char *path, it_props *p);

/* Per-frame timestamps of the best video stream, in seconds, display order
 * (best_effort_timestamp x time base). */
typedef struct {
    double *t;
    size_t n;
    int decode_errors;      /* packets or frames the decoder rejected */
} it_times;

int it_video_times(const char *path, it_times *out);
void it_times_free(it_times *t);
/* Index of the first pair of timestamps further apart than tol, or -1 when
 * all match (counts must match too: a count mismatch returns the shorter
 * count). */
long it_times_mismatch(const it_times *a, const it_times *b, double tol);

/* True if the file opens, has a video stream and decodes at least one frame
 * without decode errors. */
int it_video_valid(const char *path);

/* All packets of the nth stream of a media type (0-based among streams of
 * that type), in file order. */
typedef struct {
    size_t n;
    size_t *size;
    uint8_t **data;
} it_packets;

int it_stream_packets(const char *path, int media_type, int nth, it_packets *out);
void it_packets_free(it_packets *p);
/* Index of the first packet that differs (count or bytes), or -1. */
long it_packets_mismatch(const it_packets *a, const it_packets *b);

/* A rectangle in luma pixels. */
typedef struct {
    int x, y, w, h;
} it_rect;

/* Luma comparison of one frame pair. PSNR is 8-bit (after conversion to
 * grey) and capped at 100 dB for identical areas. */
typedef struct {
    double time;        /* of frame a, seconds */
    double psnr_in;     /* inside the rectangle */
    double psnr_out;    /* outside the rectangle grown by the margin */
    double mad_in;      /* mean absolute difference inside the rectangle */
} it_frame_cmp;

typedef struct {
    it_frame_cmp *f;
    size_t n;           /* frame pairs compared: the shorter video's count */
    size_t n_a, n_b;    /* frames decoded from each */
} it_cmp;

/* Decodes both files and compares luma frame by frame (in display order).
 * The videos must have the same size. */
int it_compare_luma(const char *a, const char *b, it_rect rect, int margin, it_cmp *out);
void it_cmp_free(it_cmp *c);
/* Smallest psnr_out over all frames. */
double it_cmp_min_psnr_out(const it_cmp *c);
/* Smallest mad_in over all frames. */
double it_cmp_min_mad_in(const it_cmp *c);

/* Alpha statistics of the first frame of an image with alpha: min and max
 * alpha inside rect, and outside rect grown by margin. pix_fmt receives the
 * decoded format's name. */
typedef struct {
    char pix_fmt[32];
    int min_in, max_in, min_out, max_out;
} it_alpha;

int it_alpha_stats(const char *path, it_rect rect, int margin, it_alpha *out);

/* ---- synthetic pictures ---------------------------------------------------- */

/* xorshift32: the next value of a tiny generator, so that synthetic clips
 * and pictures are the same on every libc. *state must not be 0. */
uint32_t it_rng_next(uint32_t *state);

#endif
