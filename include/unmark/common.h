/*
 * unmark — common: errors, logging, memory and the frame view shared by
 * every module.
 *
 * Errors: every fallible call returns 0 on success or -1 on failure and fills
 * a um_error that says what failed and why, and which class of failure it is
 * (the CLI maps the class to its exit code). Out-of-memory is not an error
 * path: the um_x* allocators abort, as Redis does, so error paths stay for
 * real errors.
 */
#ifndef UNMARK_COMMON_H
#define UNMARK_COMMON_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define UM_VERSION "0.1.0"

/* Failure classes; the values are the CLI's exit codes. */
typedef enum {
    UM_OK = 0,
    UM_ERR_OTHER = 1,
    UM_ERR_USAGE = 2,  /* bad flags or arguments */
    UM_ERR_INPUT = 3,  /* input unreadable, corrupt or unsupported */
    UM_ERR_OUTPUT = 4  /* output cannot be written */
} um_status;

typedef struct {
    um_status status;
    char msg[1024];
} um_error;

/* Records a failure; the first one recorded wins, so a cleanup path cannot
 * overwrite the root cause. */
void um_error_set(um_error *err, um_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Same, appending FFmpeg's text for averr (an AVERROR code). */
void um_error_av(um_error *err, um_status status, int averr, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void um_error_clear(um_error *err);

/* Allocation that aborts on out-of-memory. */
void *um_xmalloc(size_t n);
void *um_xcalloc(size_t count, size_t size);
void *um_xrealloc(void *p, size_t n);
char *um_xstrdup(const char *s);
/* Gives the memory malloc keeps free back to the kernel (glibc; elsewhere
 * nothing): `unmark` keeps up to 1 GiB of freed heap for its next pass
 * (src/cli/huge_pages.c), which a worker waiting for its next job should
 * not hold on to. */
void um_memory_give_back(void);
/* The machine's physical memory in bytes, 0 when it cannot be told. */
int64_t um_physical_memory(void);
/* Faulting in fresh heap ahead of need, on a thread of its own
 * (src/common/prefault.c): only once enabled, which the program does when
 * glibc keeps freed memory for reuse. um_memory_prefault starts the thread,
 * which asks size(ctx) how many bytes (0: none), touches them and frees
 * them again; NULL when not enabled or no thread could start. Join it
 * before ctx goes away. */
typedef struct um_prefault um_prefault;
void um_memory_prefault_enable(int on);
um_prefault *um_memory_prefault(size_t (*size)(void *ctx), void *ctx);
void um_memory_prefault_join(um_prefault **prefault);

/* Aborts, naming what, when another library's allocator returned NULL. */
void *um_check_alloc(void *p, const char *what);

/* ---- logging -------------------------------------------------------- */
typedef enum { UM_LOG_QUIET = -1, UM_LOG_ERROR = 0, UM_LOG_WARN, UM_LOG_INFO, UM_LOG_DEBUG } um_log_level;

void um_log_set_level(um_log_level level);
um_log_level um_log_get_level(void);
/* JSON mode: every log line becomes {"event":"log","level":...,"message":...}. */
void um_log_set_json(int on);
int um_log_is_json(void);
/* Called before each log line is written, so a progress bar can clear its
 * line first. NULL to unset. */
void um_log_set_interrupt_hook(void (*hook)(void));
void um_log(um_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Writes one JSON object line on stderr (json_body is the object's members,
 * already encoded, without braces). Used for progress and result events. */
void um_log_json_event(const char *event, const char *json_body);
/* Routes FFmpeg's own log (av_log) into um_log at debug level, and keeps
 * the last error or warning line it printed, because FFmpeg's return codes
 * are often generic ("Generic error in an external library") while the log
 * says what really happened ("Cannot load libcuda.so.1"). */
void um_log_capture_ffmpeg(void);
/* The last FFmpeg error/warning line since the last clear ("" if none). */
const char *um_log_ffmpeg_last(void);
void um_log_ffmpeg_clear(void);
/* Appends s to buf (capacity cap) as a JSON string literal with quotes. */
void um_json_escape(char *buf, size_t cap, const char *s);

/* Sorts v (n values) and returns its median, the upper one of the middle
 * two when n is even; 0 when n is 0. */
double um_median_in_place(double *v, size_t n);

/* ---- parallel loops --------------------------------------------------- */
/* Threads a parallel loop uses: one per online core. */
int um_parallel_threads(void);
/* Calls fn(ctx, i) for every i in [0, n), on the calling thread and up to
 * one helper thread per other core, each taking the next i when free: list
 * the biggest items first. fn must be safe to run concurrently with itself
 * on distinct items. Returns when every item is done. */
void um_parallel_for(int n, void (*fn)(void *ctx, int item), void *ctx);

/* A box in pixels; x2, y2 exclusive. */
typedef struct {
    int x1, y1, x2, y2;
} um_box;

/* ---- frames ---------------------------------------------------------- */
/*
 * A decoded picture in planar form, as every processor sees it. Samples are
 * uint8_t when depth == 8 and native-endian uint16_t when depth > 8. Plane 0
 * is luma (or G for RGB); planes 1 and 2 are chroma (B, R), subsampled by
 * log2_chroma_w/h; a last plane is alpha when has_alpha.
 */
typedef struct {
    int width, height;
    int nb_planes;
    int depth;
    int log2_chroma_w, log2_chroma_h;
    int is_rgb;
    int full_range;  /* YUV spanning 0-255 (JPEG), not 16-235/240 */
    int has_alpha;
    uint8_t *data[4];
    ptrdiff_t linesize[4];
    /* Where pixel 0,0 sits in the video's frame: 0,0 but for a crop of it
     * (the matte pass reads crops that detection kept), whose corner is on
     * the chroma grid. Only readers that say so accept a crop. */
    int x0, y0;
    int64_t index;  /* display order, from 0 */
    double time;    /* seconds from the stream's start */
    /* Optional: width x height bytes, nonzero where a processor removed the
     * watermark; the writer uses it for --transparent. NULL if unused. */
    uint8_t *removed;
    ptrdiff_t removed_stride;
} um_frame;

/* Width and height of plane p. */
int um_frame_plane_width(const um_frame *f, int p);
int um_frame_plane_height(const um_frame *f, int p);
/* How plane p is subsampled against luma: log2 of its horizontal and
 * vertical factors (0 but on the chroma planes of YUV). */
int um_frame_plane_log2_w(const um_frame *f, int p);
int um_frame_plane_log2_h(const um_frame *f, int p);
/* Whether f (a whole frame, or a crop of one placed at x0, y0) holds all of
 * box (frame pixels). */
int um_frame_covers(const um_frame *f, um_box box);
/* The area boxes a and b have in common: 0 when they do not overlap. */
int64_t um_box_overlap(um_box a, um_box b);
/* b grown by `by` on every side, each edge then clamped to 0 .. width or
 * 0 .. height. */
um_box um_box_grown(um_box b, int by, int width, int height);

#ifdef __cplusplus
}
#endif
#endif
