/*
 * unmark — media: reading and writing video and image files through FFmpeg's
 * libraries, as a stream of frames with bounded memory.
 *
 * A reader demuxes the input, decodes its best video stream (NVDEC when asked
 * and able, software otherwise) into planar um_frames, and hands every other
 * stream's packets through untouched. A writer encodes frames (NVENC when
 * asked and able, libx264 otherwise; PNG, JPEG or WebP for images), copies
 * the passed-through packets bit-exact where the container takes them and
 * converts them where it does not, and muxes. Timestamps, durations,
 * rotation, colour tags and sample aspect ratio travel with the frames.
 */
#ifndef UNMARK_MEDIA_H
#define UNMARK_MEDIA_H

#include <stddef.h>
#include <stdint.h>

#include "unmark/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { UM_HWDEC_AUTO = 0, UM_HWDEC_CUDA, UM_HWDEC_NONE } um_hwdec;
typedef enum { UM_ENCODER_AUTO = 0, UM_ENCODER_NVENC, UM_ENCODER_X264 } um_encoder;

#define UM_MEDIA_LOOK_EXACT 2

typedef struct {
    um_hwdec hwdec;
    um_encoder encoder;
    const char *preset;  /* libx264 preset; NULL: "slow" ("veryfast" with fast) */
    int crf;             /* libx264 CRF; < 0: 16 */
    int fast;            /* pick a fast preset */
    const char *format;  /* muxer name; NULL: from the output's extension */
    int transparent;     /* image output: PNG with the removed area transparent */
    int analysis;        /* frames are only looked at, never written: 1 also
                            decodes faster (no deblocking), trading exactness
                            for speed; UM_MEDIA_LOOK_EXACT keeps every pixel
                            as the removal pass will see it */
    /* Trim: only the part from start to end (seconds from the file's
     * beginning; end 0: to the end) is read, and its timestamps start at 0.
     * Video is cut at frames, copied audio and subtitles at packets. */
    double start, end;
    /* Output size in pixels; 0: the input's. With one of them 0 the other
     * keeps the picture's shape (rounded to even). Display aspect is kept. */
    int width, height;
} um_media_options;

void um_media_options_init(um_media_options *o);
/* Checks the trim and size options on their own (UM_ERR_USAGE, naming the
 * option as flag_prefix + "start", e.g. "--start" or "transcode_config."). */
int um_media_options_check(const um_media_options *o, const char *flag_prefix, um_error *err);

/* ---- hardware --------------------------------------------------------- */
typedef struct {
    int gpu_count;
    char gpu_name[128];
    uint64_t gpu_memory;      /* bytes, of GPU 0 */
    char reason[256];         /* why no GPU was found, when gpu_count == 0 */
    int ffmpeg_cuda;          /* this FFmpeg can decode through CUDA (NVDEC) */
    int ffmpeg_nvenc;         /* this FFmpeg has the h264_nvenc encoder */
} um_media_hw;

/* Looks for an NVIDIA GPU through the driver (libcuda, loaded at run time:
 * nothing is needed at build time). Never fails; fills reason instead. */
void um_media_hw_probe(um_media_hw *hw);
/* One line such as "NVIDIA H100 80GB HBM3 (79.1 GiB)" or "none (reason)". */
void um_media_hw_describe(const um_media_hw *hw, char *buf, size_t cap);

/* ---- probing ---------------------------------------------------------- */
typedef struct {
    int index;
    char type[16];       /* "video", "audio", "subtitle", "data", "attachment" */
    char codec[32];
    char language[16];
    int channels, sample_rate;   /* audio */
    int64_t bit_rate;
} um_media_stream_info;

#define UM_MEDIA_MAX_STREAMS 64

typedef struct {
    char path[4096];
    char format[64];
    int is_image;
    double duration;        /* seconds; 0 if unknown */
    int width, height;
    char codec[32];
    char pix_fmt[32];
    int depth;              /* bits per sample */
    double fps;             /* average frame rate; 0 if unknown */
    int vfr;                /* frame rate looks variable */
    int64_t frame_count;    /* from the container, else counted; -1 unknown */
    double rotation;        /* degrees, counter-clockwise, from the display matrix */
    char color_primaries[32], color_transfer[32], color_space[32], color_range[16];
    int sar_num, sar_den;
    int video_index;
    int nb_streams;
    um_media_stream_info streams[UM_MEDIA_MAX_STREAMS];
    int audio_tracks;
    int subtitle_tracks;
} um_media_info;

/* Opens path, reads its headers and the stream layout. count_frames: when
 * the container does not say, count video packets (a demux pass, no decode). */
int um_media_probe(const char *path, int count_frames, um_media_info *info, um_error *err);

/* ---- reading ---------------------------------------------------------- */
typedef struct um_media_reader um_media_reader;
/* A packet of a stream other than the decoded video; opaque. */
typedef struct um_media_packet um_media_packet;

typedef enum { UM_MEDIA_EOF = 0, UM_MEDIA_FRAME, UM_MEDIA_PACKET } um_media_item;

int um_media_reader_open(um_media_reader **reader, const char *path, const um_media_options *o,
                         um_error *err);
/*
 * Reads the next item: a decoded video frame (*frame points at the reader's
 * planar frame, valid until the next call) or a packet of another stream
 * (*packet, likewise). Returns the item kind, or -1 on error.
 */
int um_media_reader_next(um_media_reader *reader, um_frame **frame, um_media_packet **packet,
                         um_error *err);
/*
 * Keeps the frame last read (not a packet) beyond the next call, without a
 * copy: the buffer is shared, and the reader takes new ones meanwhile. The
 * held frame's samples may be changed where the reader's may: not when it
 * was opened for analysis, whose frames are the decoder's own. Release it
 * when done.
 */
typedef struct um_media_held um_media_held;
um_media_held *um_media_reader_hold(const um_media_reader *reader);
um_frame *um_media_held_frame(um_media_held *held);
void um_media_held_release(um_media_held **held);
/*
 * The last frames of a decoding pass, copied (not held: see tail.c) into at
 * most limit bytes, the oldest let go first; for a later pass over the same
 * input. um_media_tail_keep copies the frame reader handed out last;
 * um_media_tail_take hands over those kept, oldest first, and returns how
 * many; um_media_tail_clear lets them go (a pass starts over);
 * um_media_tail_frame_bytes is what one frame takes (0 before the first);
 * um_media_tail_decode_path says how the frames were decoded, as
 * um_media_reader_decode_path did ("" before the first).
 */
typedef struct um_media_tail um_media_tail;
um_media_tail *um_media_tail_new(int64_t limit);
void um_media_tail_keep(um_media_tail *tail, const um_media_reader *reader);
int um_media_tail_take(um_media_tail *tail, um_media_held ***frames);
void um_media_tail_clear(um_media_tail *tail);
int64_t um_media_tail_frame_bytes(const um_media_tail *tail);
const char *um_media_tail_decode_path(const um_media_tail *tail);
void um_media_tail_free(um_media_tail **tail);
/*
 * Gives the reader the last `count` frames of its input as an earlier pass
 * decoded them (um_media_tail_take from a pass with the same input and
 * options, opened for UM_MEDIA_LOOK_EXACT; oldest first, consecutive, ending
 * at the video's last frame). From the first of them on, the reader stops
 * decoding video and hands these out instead, each as writable as a decoded
 * one, while other streams' packets still come from the file. It takes over
 * the frames and the array (freed with the reader). decoded_by is how they
 * were decoded (um_media_tail_decode_path): the reader's decode path when it
 * hands them out without having decoded a frame itself.
 */
void um_media_reader_use_tail(um_media_reader *reader, um_media_held **tail, int count,
                             const char *decoded_by);
const um_media_info *um_media_reader_info(const um_media_reader *reader);
/* The decode path taken, e.g. "h264 (software)" or "h264 (cuda)". */
const char *um_media_reader_decode_path(const um_media_reader *reader);
/* Frames expected in total (for progress); -1 unknown. */
int64_t um_media_reader_expected_frames(const um_media_reader *reader);
void um_media_reader_close(um_media_reader **reader);

/* ---- writing ---------------------------------------------------------- */
typedef struct um_media_writer um_media_writer;

/*
 * Prepares to write path (a temporary file, usually) in the container named
 * by format_hint_path's extension or o->format. The encoder opens at the
 * first frame, when its format is known.
 */
int um_media_writer_open(um_media_writer **writer, const char *path, const char *format_hint_path,
                         const um_media_reader *reader, const um_media_options *o, um_error *err);
/* Encodes a frame held from the writer's reader, in display order. */
int um_media_writer_frame(um_media_writer *writer, const um_media_held *frame, um_error *err);
int um_media_writer_packet(um_media_writer *writer, um_media_packet *packet, um_error *err);
/* Flushes the encoders and writes the trailer. */
int um_media_writer_finish(um_media_writer *writer, um_error *err);
/* The encode path taken, e.g. "libx264 preset slow crf 16"; "" before the first frame. */
const char *um_media_writer_encode_path(const um_media_writer *writer);
void um_media_writer_close(um_media_writer **writer);

/* True if the path's extension (or format) names an image: png, jpg, jpeg, webp. */
int um_media_is_image_path(const char *path);

/* Loads the first picture of an image file as 8-bit grey (w x h bytes,
 * rows packed; free with free()). */
int um_media_load_grey(const char *path, uint8_t **grey, int *w, int *h, um_error *err);

/* Loads an image file as an 8-bit grey mask (w x h bytes, rows packed).
 * Used by --mask: white (>= 128) means remove. */
int um_media_load_mask(const char *path, uint8_t **mask, int *w, int *h, um_error *err);

/* Writes an 8-bit grey picture as a PNG file (templates, masks). */
int um_media_save_grey_png(const char *path, const uint8_t *data, int w, int h, ptrdiff_t stride,
                           um_error *err);

#ifdef __cplusplus
}
#endif
#endif
