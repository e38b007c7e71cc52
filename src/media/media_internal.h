/*
 * Private to the media module: the reader's state, which the writer reads to
 * set up its streams (it is always bound to the reader that feeds it).
 */
#ifndef UNMARK_MEDIA_INTERNAL_H
#define UNMARK_MEDIA_INTERNAL_H

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libswscale/swscale.h>

#include "unmark/media.h"

struct um_media_packet {
    AVPacket *pkt;
    const AVStream *stream;  /* the input stream it belongs to */
};

struct um_media_held {
    AVFrame *frame;     /* a new reference to the buffers the view points into */
    um_frame view;
};

struct um_media_reader {
    AVFormatContext *fmt;
    AVStream *video;
    AVCodecContext *dec;
    AVPacket *pkt;
    AVFrame *decoded;     /* straight from the decoder */
    AVFrame *transferred; /* a hardware frame brought to system memory */
    AVFrame *work;        /* conversion target when decoded frames are not planar */
    AVFrame *current;     /* the frame behind the view last handed out */
    struct SwsContext *sws;
    enum AVPixelFormat sws_from;
    um_frame view;
    um_media_packet packet_item;
    um_media_info info;
    char path[4096];
    char decode_path[128];
    int analysis;         /* frames are only read: no private copies */
    int input_done;       /* demuxer at its end, decoder being drained */
    int64_t next_index;
    int64_t start_pts;    /* first frame's pts, the origin of um_frame.time */
    int64_t last_pts, last_duration;
    int64_t packets_sent, decode_errors;
    /* Trim (um_media_options start/end), in AV_TIME_BASE units from the
     * file's beginning; trim_end 0: none. origin is the file's start time. */
    int64_t trim_origin, trim_start, trim_end;
    int video_done;       /* the video passed trim_end: only other streams' packets up to it remain */
    /* The last frames, decoded by an earlier pass (um_media_reader_use_tail):
     * handed out from tail[0]'s index on instead of decoding; tail_current
     * is the one handed out last, which r->current points into. */
    um_media_held **tail;
    int nb_tail, tail_next;
    char tail_decode_path[128]; /* how the tail was decoded */
    um_media_held *tail_current;
};

/* Points h's view at h's frame, as frame index of the video at time
 * (seconds): after its buffers were given or replaced. */
void um_media_held_view(um_media_held *h, int64_t index, double time);
/* Fills info from an opened and probed format context. */
void um_media_fill_info(AVFormatContext *fmt, int video_index, um_media_info *info);
/* The planar format frames of fmt are processed in: fmt itself when it is
 * already planar with byte-aligned native samples, else its nearest such. */
enum AVPixelFormat um_media_working_format(enum AVPixelFormat fmt);
/* Fills a um_frame view of an AVFrame in a working format. */
void um_media_frame_view(const AVFrame *frame, um_frame *view);
/* Opens path for reading and finds its streams, with a clear error on failure. */
int um_media_open_input(AVFormatContext **fmt, const char *path, um_error *err);
/* The best video stream of fmt (not cover art), or -1 with err set. */
int um_media_find_video(AVFormatContext *fmt, const char *path, um_error *err);

#endif
