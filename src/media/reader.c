/*
 * The reader: demux, decode the video (NVDEC or software), hand out planar
 * frames one at a time, and pass every other stream's packets through.
 * Memory is a handful of frames and packets, whatever the video's length.
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libavutil/hwcontext.h>
#include <libavutil/imgutils.h>
#include <libavutil/pixdesc.h>

#include "media/media_internal.h"

/* Beyond this many undecodable packets the input is called corrupt rather
 * than damaged in places. */
#define MAX_DECODE_ERRORS 100
/* After a trimmed video's end, packets of other streams are still read
 * until one lies this far (AV_TIME_BASE units) beyond it: muxers interleave
 * streams only roughly. */
#define TRIM_TAIL (2 * AV_TIME_BASE)

/* The input the last "NVDEC cannot take" warning on this thread named: a job
 * decodes its input once per pass, each pass on the job's own thread, and
 * the reason is worth one line, not one per pass. */
static _Thread_local char format_fallback_logged_for[4096];

static enum AVPixelFormat get_cuda_format(AVCodecContext *dec, const enum AVPixelFormat *fmts)
{
    um_media_reader *r = dec->opaque;
    for (const enum AVPixelFormat *p = fmts; *p != AV_PIX_FMT_NONE; p++)
        if (*p == AV_PIX_FMT_CUDA)
            return *p;
    /* NVDEC cannot take this stream (10-bit 4:2:2, say): decode it in software. */
    if (strcmp(format_fallback_logged_for, r->path) != 0) {
        um_log(UM_LOG_WARN, "NVDEC cannot decode %s %s from %s: falling back to software decoding",
               avcodec_get_name(dec->codec_id), av_get_pix_fmt_name(dec->sw_pix_fmt), r->path);
        snprintf(format_fallback_logged_for, sizeof(format_fallback_logged_for), "%s", r->path);
    }
    snprintf(r->decode_path, sizeof(r->decode_path), "%s (software; NVDEC cannot take %s)",
             dec->codec->name, av_get_pix_fmt_name(dec->sw_pix_fmt));
    for (const enum AVPixelFormat *p = fmts; *p != AV_PIX_FMT_NONE; p++) {
        const AVPixFmtDescriptor *d = av_pix_fmt_desc_get(*p);
        if (!(d->flags & AV_PIX_FMT_FLAG_HWACCEL))
            return *p;
    }
    return AV_PIX_FMT_NONE;
}

static int codec_supports_cuda(const AVCodec *codec)
{
    for (int i = 0;; i++) {
        const AVCodecHWConfig *cfg = avcodec_get_hw_config(codec, i);
        if (!cfg)
            return 0;
        if ((cfg->methods & AV_CODEC_HW_CONFIG_METHOD_HW_DEVICE_CTX) &&
            cfg->device_type == AV_HWDEVICE_TYPE_CUDA)
            return 1;
    }
}

/* One CUDA device for the whole process, made at the first reader that
 * wants it: a job opens a reader per pass, each new context costs a few
 * hundred milliseconds (on an H100, p1's remove with NVDEC took 7.5 and 8.1 s
 * with a context per reader, 7.0 and 6.2 s with this one), and decoders may
 * share a device. NULL when
 * CUDA could not be had; then the reason was logged once, and no later
 * reader retries. The reference lives as long as the process. */
static pthread_once_t cuda_device_once = PTHREAD_ONCE_INIT;
static AVBufferRef *cuda_device;

static void open_cuda_device(void)
{
    um_log_ffmpeg_clear();
    int ret = av_hwdevice_ctx_create(&cuda_device, AV_HWDEVICE_TYPE_CUDA, NULL, NULL, 0);
    if (ret < 0) {
        char why[AV_ERROR_MAX_STRING_SIZE];
        av_strerror(ret, why, sizeof(why));
        const char *detail = um_log_ffmpeg_last();
        /* Every fallback is a warning, whether CUDA was asked for or only tried. */
        um_log(UM_LOG_WARN, "CUDA decoding unavailable (%s%s%s): falling back to software decoding", why,
               *detail ? ": " : "", detail);
        cuda_device = NULL;
    }
}

/* Attaches the process's CUDA device to the decoder when able; otherwise
 * leaves the decoder in software, the reason logged. */
static void try_cuda_decoding(um_media_reader *r, const AVCodec *codec)
{
    if (!codec_supports_cuda(codec)) {
        um_log(UM_LOG_WARN, "CUDA decoding unavailable: FFmpeg's %s decoder has no CUDA support; using software decoding",
               codec->name);
        return;
    }
    pthread_once(&cuda_device_once, open_cuda_device);
    if (!cuda_device)
        return;
    r->dec->hw_device_ctx = um_check_alloc(av_buffer_ref(cuda_device), "a CUDA device reference");
    r->dec->get_format = get_cuda_format;
    snprintf(r->decode_path, sizeof(r->decode_path), "%s (cuda)", codec->name);
}

static int open_decoder(um_media_reader *r, const um_media_options *o, um_error *err)
{
    const AVCodec *codec = avcodec_find_decoder(r->video->codecpar->codec_id);
    r->dec = avcodec_alloc_context3(codec);
    if (!r->dec) {
        um_error_set(err, UM_ERR_OTHER, "cannot allocate a decoder");
        return -1;
    }
    int ret = avcodec_parameters_to_context(r->dec, r->video->codecpar);
    if (ret < 0) {
        um_error_av(err, UM_ERR_INPUT, ret, "cannot set up the %s decoder for %s", codec->name, r->path);
        return -1;
    }
    r->dec->opaque = r;
    r->dec->pkt_timebase = r->video->time_base;
    r->dec->thread_count = 0;
    r->analysis = o->analysis;
    if (o->analysis && o->analysis != UM_MEDIA_LOOK_EXACT) {
        r->dec->skip_loop_filter = AVDISCARD_ALL;
        r->dec->flags2 |= AV_CODEC_FLAG2_FAST;
    }
    snprintf(r->decode_path, sizeof(r->decode_path), "%s (software)", codec->name);
    if (o->hwdec != UM_HWDEC_NONE)
        try_cuda_decoding(r, codec);
    ret = avcodec_open2(r->dec, codec, NULL);
    if (ret < 0) {
        um_error_av(err, UM_ERR_INPUT, ret, "cannot open the %s decoder for %s", codec->name, r->path);
        return -1;
    }
    return 0;
}

static int64_t expected_frames(const um_media_reader *r)
{
    int trimmed = r->trim_start > 0 || r->trim_end > 0;
    if (!trimmed && r->info.frame_count > 0)
        return r->info.frame_count;
    double end = r->trim_end > 0 && (r->info.duration <= 0 || r->trim_end < r->info.duration * AV_TIME_BASE)
                     ? (double)r->trim_end / AV_TIME_BASE
                     : r->info.duration;
    double span = end - (double)r->trim_start / AV_TIME_BASE;
    if (span > 0 && r->info.fps > 0)
        return (int64_t)(span * r->info.fps + 0.5);
    return -1;
}

/* Sets up trimming: refuses a start past the end, and seeks to the key
 * frame before the start (frames before it are then decoded and dropped).
 * A failed seek only costs time: reading from the beginning is as exact. */
static int setup_trim(um_media_reader *r, const um_media_options *o, um_error *err)
{
    r->trim_origin = r->fmt->start_time != AV_NOPTS_VALUE ? r->fmt->start_time : 0;
    r->trim_start = (int64_t)llround(o->start * AV_TIME_BASE);
    r->trim_end = (int64_t)llround(o->end * AV_TIME_BASE);
    if (r->trim_start > 0 && r->info.duration > 0 && o->start >= r->info.duration) {
        um_error_set(err, UM_ERR_USAGE, "cannot start at %g s: %s is only %.3f s long", o->start, r->path,
                     r->info.duration);
        return -1;
    }
    if (r->trim_start <= 0 || r->info.is_image)
        return 0;
    int64_t target = r->trim_origin + r->trim_start;
    int ret = avformat_seek_file(r->fmt, -1, INT64_MIN, target, target, 0);
    if (ret < 0)
        um_log(UM_LOG_INFO, "%s: cannot seek to %g s; reading from the beginning instead", r->path, o->start);
    return 0;
}

int um_media_reader_open(um_media_reader **reader, const char *path, const um_media_options *o,
                         um_error *err)
{
    um_media_reader *r = um_xcalloc(1, sizeof(*r));
    snprintf(r->path, sizeof(r->path), "%s", path);
    r->start_pts = AV_NOPTS_VALUE;
    r->last_pts = AV_NOPTS_VALUE;
    if (um_media_open_input(&r->fmt, path, err) < 0)
        goto fail;
    int video_index = um_media_find_video(r->fmt, path, err);
    if (video_index < 0)
        goto fail;
    r->video = r->fmt->streams[video_index];
    um_media_fill_info(r->fmt, video_index, &r->info);
    snprintf(r->info.path, sizeof(r->info.path), "%s", path);
    if (open_decoder(r, o, err) < 0 || setup_trim(r, o, err) < 0)
        goto fail;
    r->pkt = av_packet_alloc();
    r->decoded = av_frame_alloc();
    r->transferred = av_frame_alloc();
    r->work = av_frame_alloc();
    if (!r->pkt || !r->decoded || !r->transferred || !r->work) {
        um_error_set(err, UM_ERR_OTHER, "cannot allocate frames");
        goto fail;
    }
    *reader = r;
    return 0;
fail:
    um_media_reader_close(&r);
    return -1;
}

/* Brings a decoded frame to system memory, in a planar working format. */
static int to_working_frame(um_media_reader *r, AVFrame **out, um_error *err)
{
    AVFrame *src = r->decoded;
    if (src->format == AV_PIX_FMT_CUDA) {
        av_frame_unref(r->transferred);
        int ret = av_hwframe_transfer_data(r->transferred, src, 0);
        if (ret < 0) {
            um_error_av(err, UM_ERR_OTHER, ret, "cannot copy a decoded frame from the GPU");
            return -1;
        }
        av_frame_copy_props(r->transferred, src);
        src = r->transferred;
    }
    enum AVPixelFormat want = um_media_working_format(src->format);
    if (want == AV_PIX_FMT_NONE) {
        um_error_set(err, UM_ERR_INPUT, "cannot process pixel format %d of %s", src->format, r->path);
        return -1;
    }
    if (want == src->format) {
        /* Decoders keep references to their frames; write into a copy,
         * unless the frames are only looked at. */
        int ret = r->analysis ? 0 : av_frame_make_writable(src);
        if (ret < 0) {
            um_error_av(err, UM_ERR_OTHER, ret, "cannot get a writable frame");
            return -1;
        }
        *out = src;
        return 0;
    }
    if (!r->sws || r->sws_from != src->format || r->work->width != src->width ||
        r->work->height != src->height) {
        sws_freeContext(r->sws);
        r->sws = sws_getContext(src->width, src->height, src->format, src->width, src->height, want,
                                SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT, NULL, NULL, NULL);
        r->sws_from = src->format;
        av_frame_unref(r->work);
        r->work->format = want;
        r->work->width = src->width;
        r->work->height = src->height;
        if (!r->sws || av_frame_get_buffer(r->work, 0) < 0) {
            um_error_set(err, UM_ERR_OTHER, "cannot convert %s frames to %s",
                         av_get_pix_fmt_name(src->format), av_get_pix_fmt_name(want));
            return -1;
        }
    }
    /* The encoder may still hold the previous frame's buffer. */
    int ret = av_frame_make_writable(r->work);
    if (ret < 0) {
        um_error_av(err, UM_ERR_OTHER, ret, "cannot get a writable frame");
        return -1;
    }
    sws_scale(r->sws, (const uint8_t *const *)src->data, src->linesize, 0, src->height, r->work->data,
              r->work->linesize);
    av_frame_copy_props(r->work, src);
    *out = r->work;
    return 0;
}

/* ---- trimming ---------------------------------------------------------- */
typedef enum { TRIM_BEFORE = -1, TRIM_INSIDE = 0, TRIM_AFTER = 1 } trim_place;

/* A timestamp in AV_TIME_BASE units from the file's beginning. */
static int64_t file_time(const um_media_reader *r, int64_t ts, AVRational tb)
{
    return av_rescale_q(ts, tb, AV_TIME_BASE_Q) - r->trim_origin;
}

static trim_place place_in_trim(const um_media_reader *r, int64_t ts, AVRational tb)
{
    if (ts == AV_NOPTS_VALUE)
        return TRIM_INSIDE;
    int64_t t = file_time(r, ts, tb);
    /* Without a start, nothing is before it: not even the negative times of
     * an audio codec's priming samples. */
    if (r->trim_start > 0 && t < r->trim_start)
        return TRIM_BEFORE;
    return r->trim_end > 0 && t >= r->trim_end ? TRIM_AFTER : TRIM_INSIDE;
}

/* What a trimmed stream's timestamps lose, so that the part kept starts at 0. */
static int64_t trim_shift(const um_media_reader *r, AVRational tb)
{
    return r->trim_start > 0 ? av_rescale_q(r->trim_origin + r->trim_start, AV_TIME_BASE_Q, tb) : 0;
}

static trim_place frame_place(const um_media_reader *r)
{
    const AVFrame *f = r->decoded;
    int64_t ts = f->best_effort_timestamp != AV_NOPTS_VALUE ? f->best_effort_timestamp : f->pts;
    return place_in_trim(r, ts, r->video->time_base);
}

/* Gives every frame a strictly increasing timestamp: the encoder and muxer
 * need one, and the decoder's best guess is missing on some inputs. */
static int64_t frame_timestamp(um_media_reader *r, const AVFrame *f)
{
    int64_t pts = f->best_effort_timestamp;
    if (pts == AV_NOPTS_VALUE)
        pts = f->pts;
    if (r->last_pts != AV_NOPTS_VALUE && (pts == AV_NOPTS_VALUE || pts <= r->last_pts))
        pts = r->last_pts + (r->last_duration > 0 ? r->last_duration : 1);
    if (pts == AV_NOPTS_VALUE)
        pts = 0;
    return pts;
}

static int hand_out_frame(um_media_reader *r, um_frame **frame, um_error *err)
{
    if (r->next_index == 0 && r->decoded->format == AV_PIX_FMT_CUDA)
        um_log(UM_LOG_DEBUG, "NVDEC decodes %s", r->path);
    AVFrame *f = NULL;
    if (to_working_frame(r, &f, err) < 0)
        return -1;
    if (r->next_index > 0 && (f->width != r->view.width || f->height != r->view.height)) {
        um_error_set(err, UM_ERR_INPUT, "cannot process %s: its video size changes mid-stream (%dx%d to %dx%d)",
                     r->path, r->view.width, r->view.height, f->width, f->height);
        return -1;
    }
    int64_t pts = frame_timestamp(r, f);
    f->pts = pts - trim_shift(r, r->video->time_base);
    if (r->start_pts == AV_NOPTS_VALUE)
        r->start_pts = pts;
    r->last_duration = f->pkt_duration;
    r->last_pts = pts;
    r->current = f;
    um_media_frame_view(f, &r->view);
    r->view.index = r->next_index++;
    r->view.time = (double)(pts - r->start_pts) * av_q2d(r->video->time_base);
    *frame = &r->view;
    return UM_MEDIA_FRAME;
}

/* Sends the packet in r->pkt to the decoder, tolerating damaged packets up to
 * a limit (FFmpeg conceals them as well as it can). */
static int send_video_packet(um_media_reader *r, const AVPacket *pkt, um_error *err)
{
    int ret = avcodec_send_packet(r->dec, pkt);
    if (ret >= 0 || ret == AVERROR(EAGAIN) || ret == AVERROR_EOF)
        return 0;
    if (ret == AVERROR_INVALIDDATA && ++r->decode_errors <= MAX_DECODE_ERRORS) {
        um_log(UM_LOG_WARN, "damaged video packet in %s skipped", r->path);
        return 0;
    }
    um_error_av(err, UM_ERR_INPUT, ret, "cannot decode the video of %s", r->path);
    return -1;
}

static int receive_frame(um_media_reader *r, um_error *err)
{
    av_frame_unref(r->decoded);
    int ret = avcodec_receive_frame(r->dec, r->decoded);
    if (ret == 0 || ret == AVERROR(EAGAIN) || ret == AVERROR_EOF)
        return ret;
    if (ret == AVERROR_INVALIDDATA && ++r->decode_errors <= MAX_DECODE_ERRORS) {
        um_log(UM_LOG_WARN, "damaged video frame in %s skipped", r->path);
        return AVERROR(EAGAIN);
    }
    um_error_av(err, UM_ERR_INPUT, ret, "cannot decode the video of %s", r->path);
    return ret;
}

static int is_passed_through(const AVStream *st)
{
    enum AVMediaType t = st->codecpar->codec_type;
    return t == AVMEDIA_TYPE_AUDIO || t == AVMEDIA_TYPE_SUBTITLE;
}

/* A packet of another stream: handed out (shifted) when inside the trim.
 * Once the video is done, the first packet well past the end ends the read. */
static int take_packet(um_media_reader *r, const AVStream *st, um_media_packet **packet)
{
    AVPacket *p = r->pkt;
    int64_t ts = p->pts != AV_NOPTS_VALUE ? p->pts : p->dts;
    trim_place place = place_in_trim(r, ts, st->time_base);
    if (place == TRIM_AFTER && r->video_done && file_time(r, ts, st->time_base) >= r->trim_end + TRIM_TAIL)
        r->input_done = 1;
    if (place != TRIM_INSIDE)
        return 0;
    int64_t shift = trim_shift(r, st->time_base);
    if (p->pts != AV_NOPTS_VALUE)
        p->pts -= shift;
    if (p->dts != AV_NOPTS_VALUE)
        p->dts -= shift;
    r->packet_item.pkt = p;
    r->packet_item.stream = st;
    *packet = &r->packet_item;
    return 1;
}

static int end_of_input(um_media_reader *r, um_error *err)
{
    if (r->next_index > 0)
        return UM_MEDIA_EOF;
    if (r->trim_start > 0 || r->trim_end > 0)
        um_error_set(err, UM_ERR_USAGE, "cannot use input %s: no video frame lies between %g s and %s", r->path,
                     (double)r->trim_start / AV_TIME_BASE, r->trim_end > 0 ? "the end asked for" : "its end");
    else
        um_error_set(err, UM_ERR_INPUT, "cannot use input %s: no video frame could be decoded", r->path);
    return -1;
}

enum { VIDEO_NEEDS_INPUT, VIDEO_FRAME, VIDEO_END };

/* The next decoded frame inside the trim (VIDEO_FRAME), VIDEO_NEEDS_INPUT
 * when the decoder wants more packets, VIDEO_END past the video's end, or
 * -1 on error. */
static int next_video_frame(um_media_reader *r, um_error *err)
{
    while (!r->video_done) {
        int ret = receive_frame(r, err);
        if (ret == AVERROR(EAGAIN))
            return VIDEO_NEEDS_INPUT;
        if (ret == AVERROR_EOF)
            return VIDEO_END;
        if (ret < 0)
            return -1;
        trim_place place = frame_place(r);
        if (place == TRIM_INSIDE)
            return VIDEO_FRAME;
        if (place == TRIM_AFTER)
            r->video_done = 1;
    }
    return r->input_done ? VIDEO_END : VIDEO_NEEDS_INPUT;
}

/* The next packet of the file into r->pkt: 1, or 0 at its end (input_done
 * set), or -1 on a read error. */
static int read_packet(um_media_reader *r, um_error *err)
{
    av_packet_unref(r->pkt);
    int ret = av_read_frame(r->fmt, r->pkt);
    if (ret == AVERROR_EOF || (ret < 0 && avio_feof(r->fmt->pb))) {
        r->input_done = 1;
        return 0;
    }
    if (ret < 0) {
        um_error_av(err, UM_ERR_INPUT, ret, "cannot read %s", r->path);
        return -1;
    }
    return 1;
}

/* ---- the tail an earlier pass decoded ---------------------------------- */
static void drop_tail(um_media_reader *r)
{
    for (int i = r->tail_next; i < r->nb_tail; i++)
        um_media_held_release(&r->tail[i]);
    free(r->tail);
    r->tail = NULL;
    r->nb_tail = r->tail_next = 0;
}

void um_media_reader_use_tail(um_media_reader *r, um_media_held **tail, int count, const char *decoded_by)
{
    drop_tail(r);
    if (count <= 0) {
        free(tail);
        return;
    }
    r->tail = tail;
    r->nb_tail = count;
    snprintf(r->tail_decode_path, sizeof(r->tail_decode_path), "%s", decoded_by);
}

/* Whether the decoded frames have reached the tail: the next frame is its
 * first. The tail must carry on from the last frame decoded; if it does not
 * (it came from another input, say), it is let go and decoding goes on. */
static int reached_tail(um_media_reader *r)
{
    if (!r->tail)
        return 0;
    if (r->tail_next > 0)
        return 1; /* handing it out already */
    if (r->next_index < r->tail[0]->view.index)
        return 0;
    const AVFrame *first = r->tail[0]->frame;
    int64_t last = r->last_pts == AV_NOPTS_VALUE ? AV_NOPTS_VALUE
                                                 : r->last_pts - trim_shift(r, r->video->time_base);
    if (r->next_index != r->tail[0]->view.index || (last != AV_NOPTS_VALUE && first->pts <= last)) {
        um_log(UM_LOG_WARN, "%s: the frames kept from detection do not follow frame %lld; decoding them again",
               r->path, (long long)r->next_index - 1);
        drop_tail(r);
        return 0;
    }
    r->video_done = 1; /* other streams' packets then end at a trim's end, as after the video's */
    /* A reader that decodes no frame itself never learns whether NVDEC
     * takes the stream (FFmpeg asks on the first frame): the tail's decoder
     * did. */
    if (r->next_index == 0 && r->tail_decode_path[0])
        memcpy(r->decode_path, r->tail_decode_path, sizeof(r->decode_path));
    return 1;
}

/* Hands out the tail's next frame as the reader's current one. */
static int hand_out_tail_frame(um_media_reader *r, um_frame **frame, um_error *err)
{
    um_media_held_release(&r->tail_current);
    um_media_held *h = r->tail[r->tail_next];
    r->tail[r->tail_next++] = NULL;
    r->tail_current = h;
    /* A frame given may share its buffers (held from another reader, say). */
    int ret = r->analysis ? 0 : av_frame_make_writable(h->frame);
    if (ret < 0) {
        um_error_av(err, UM_ERR_OTHER, ret, "cannot get a writable frame");
        return -1;
    }
    um_media_held_view(h, h->view.index, h->view.time);
    r->current = h->frame;
    r->view = h->view;
    r->next_index++;
    *frame = &r->view;
    return UM_MEDIA_FRAME;
}

/* Past the tail's start: video packets are read but not decoded, each
 * standing for the tail's next frame (so the streams stay interleaved about
 * as in the file), and what is left of the tail comes out at the end. */
static int next_from_tail(um_media_reader *r, um_frame **frame, um_media_packet **packet, um_error *err)
{
    for (;;) {
        if (r->input_done)
            return r->tail_next < r->nb_tail ? hand_out_tail_frame(r, frame, err) : UM_MEDIA_EOF;
        int ret = read_packet(r, err);
        if (ret < 0)
            return -1;
        if (ret == 0)
            continue;
        const AVStream *st = r->fmt->streams[r->pkt->stream_index];
        if (st == r->video) {
            if (r->tail_next < r->nb_tail)
                return hand_out_tail_frame(r, frame, err);
        } else if (is_passed_through(st) && take_packet(r, st, packet)) {
            return UM_MEDIA_PACKET;
        }
    }
}

int um_media_reader_next(um_media_reader *r, um_frame **frame, um_media_packet **packet,
                         um_error *err)
{
    if (reached_tail(r))
        return next_from_tail(r, frame, packet, err);
    for (;;) {
        int ret = next_video_frame(r, err);
        if (ret == VIDEO_FRAME)
            return hand_out_frame(r, frame, err);
        if (ret == VIDEO_END)
            return end_of_input(r, err);
        if (ret < 0)
            return -1;
        if (r->input_done) {
            if (send_video_packet(r, NULL, err) < 0)
                return -1;
            continue;
        }
        ret = read_packet(r, err);
        if (ret < 0)
            return -1;
        if (ret == 0)
            continue;
        const AVStream *st = r->fmt->streams[r->pkt->stream_index];
        if (st == r->video && !r->video_done) {
            r->packets_sent++;
            if (send_video_packet(r, r->pkt, err) < 0)
                return -1;
        } else if (st != r->video && is_passed_through(st) && take_packet(r, st, packet)) {
            return UM_MEDIA_PACKET;
        }
    }
}

const um_media_info *um_media_reader_info(const um_media_reader *r) { return &r->info; }
um_media_held *um_media_reader_hold(const um_media_reader *r)
{
    um_media_held *h = um_xcalloc(1, sizeof(*h));
    h->frame = um_check_alloc(av_frame_clone(r->current), "a held frame");
    h->view = r->view;
    return h;
}

um_frame *um_media_held_frame(um_media_held *h) { return &h->view; }

void um_media_held_view(um_media_held *h, int64_t index, double time)
{
    um_media_frame_view(h->frame, &h->view);
    h->view.index = index;
    h->view.time = time;
}

void um_media_held_release(um_media_held **h)
{
    if (!*h)
        return;
    av_frame_free(&(*h)->frame);
    free(*h);
    *h = NULL;
}

const char *um_media_reader_decode_path(const um_media_reader *r) { return r->decode_path; }
int64_t um_media_reader_expected_frames(const um_media_reader *r) { return expected_frames(r); }

void um_media_reader_close(um_media_reader **reader)
{
    um_media_reader *r = *reader;
    if (!r)
        return;
    if (r->decode_errors)
        um_log(UM_LOG_WARN, "%s: %lld damaged video packets or frames were skipped", r->path,
               (long long)r->decode_errors);
    drop_tail(r);
    um_media_held_release(&r->tail_current);
    avcodec_free_context(&r->dec);
    avformat_close_input(&r->fmt);
    av_packet_free(&r->pkt);
    av_frame_free(&r->decoded);
    av_frame_free(&r->transferred);
    av_frame_free(&r->work);
    sws_freeContext(r->sws);
    free(r);
    *reader = NULL;
}
