/*
 * The writer: encode the processed frames (NVENC, else libx264; PNG, JPEG or
 * WebP for images), carry every audio and subtitle stream across bit-exact
 * where the container takes it and converted where it does not, and mux.
 * The encoder opens at the first frame, when its format is known; packets of
 * other streams that arrive before then wait in a small, capped queue.
 */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libavutil/opt.h>
#include <libavutil/pixdesc.h>

#include "media/media_internal.h"
#include "media/stream_convert.h"

/* Packets of other streams allowed to wait for the first video frame. */
#define MAX_PENDING_PACKETS 4096
/* Frames the encoder may hold back (lookahead, B-frames) while we remember
 * their durations. */
#define DURATION_RING 256

typedef struct {
    AVStream *out;            /* NULL: the stream is not carried */
    um_stream_convert *conv;  /* non-NULL: converted, not copied */
} out_stream;

struct um_media_writer {
    const um_media_reader *reader;
    um_media_options opts;
    char target[4096];        /* the name the user gave, for messages */
    AVFormatContext *oc;
    AVStream *video_out;
    AVCodecContext *enc;
    out_stream *streams;      /* by input stream index */
    int header_written;
    int is_image;
    AVPacket **pending;
    int nb_pending;
    AVPacket *pkt;
    AVFrame *enc_frame;       /* the frame converted to the encoder's format */
    struct SwsContext *sws;
    int64_t ring_pts[DURATION_RING], ring_duration[DURATION_RING];
    unsigned ring_next;
    char encode_path[128];
};

int um_media_is_image_path(const char *path)
{
    const char *dot = strrchr(path, '.');
    if (!dot)
        return 0;
    static const char *const ext[] = {".png", ".jpg", ".jpeg", ".webp"};
    for (size_t i = 0; i < sizeof(ext) / sizeof(ext[0]); i++)
        if (strcasecmp(dot, ext[i]) == 0)
            return 1;
    return 0;
}

static int write_packet(um_media_writer *w, AVPacket *pkt, um_error *err)
{
    int ret = av_interleaved_write_frame(w->oc, pkt);
    if (ret < 0) {
        um_error_av(err, UM_ERR_OUTPUT, ret, "cannot write %s", w->target);
        return -1;
    }
    return 0;
}

static int emit_converted(void *opaque, AVPacket *pkt, um_error *err)
{
    return write_packet(opaque, pkt, err);
}

static int is_matroska(const AVOutputFormat *f) { return strstr(f->name, "matroska") != NULL; }
static int is_mov_family(const AVOutputFormat *f)
{
    return strcmp(f->name, "mp4") == 0 || strcmp(f->name, "mov") == 0 || strcmp(f->name, "ipod") == 0;
}

/* Copies the stream-level side data that describes the picture (rotation,
 * HDR mastering, stereo 3D), not the codec's. */
static void copy_video_side_data(const AVStream *in, AVStream *out)
{
    for (int i = 0; i < in->nb_side_data; i++) {
        const AVPacketSideData *sd = &in->side_data[i];
        if (sd->type == AV_PKT_DATA_CPB_PROPERTIES)
            continue;
        uint8_t *dst = av_stream_new_side_data(out, sd->type, sd->size);
        if (dst)
            memcpy(dst, sd->data, sd->size);
    }
}

static int add_copied_stream(um_media_writer *w, const AVStream *in, um_error *err)
{
    AVStream *out = avformat_new_stream(w->oc, NULL);
    if (!out || avcodec_parameters_copy(out->codecpar, in->codecpar) < 0) {
        um_error_set(err, UM_ERR_OTHER, "cannot add stream #%d to %s", in->index, w->target);
        return -1;
    }
    out->codecpar->codec_tag = 0;
    out->time_base = in->time_base;
    out->disposition = in->disposition;
    av_dict_copy(&out->metadata, in->metadata, 0);
    w->streams[in->index].out = out;
    return 0;
}

static int add_converted_stream(um_media_writer *w, const AVStream *in, um_error *err)
{
    AVStream *out = avformat_new_stream(w->oc, NULL);
    if (!out) {
        um_error_set(err, UM_ERR_OTHER, "cannot add stream #%d to %s", in->index, w->target);
        return -1;
    }
    out->disposition = in->disposition;
    av_dict_copy(&out->metadata, in->metadata, 0);
    if (um_stream_convert_open(&w->streams[in->index].conv, in, w->oc->oformat, out, err) < 0)
        return -1;
    w->streams[in->index].out = out;
    um_log(UM_LOG_INFO, "%s stream #%d (%s) cannot go into %s as it is: converting it to %s",
           av_get_media_type_string(in->codecpar->codec_type), in->index,
           avcodec_get_name(in->codecpar->codec_id), w->oc->oformat->name,
           um_stream_convert_codec_name(w->streams[in->index].conv));
    return 0;
}

/* Decides, for a stream other than the video, whether it is copied,
 * converted or (only for kinds no container here can carry) left out. */
static int add_other_stream(um_media_writer *w, const AVStream *in, um_error *err)
{
    enum AVMediaType type = in->codecpar->codec_type;
    const char *kind = av_get_media_type_string(type);
    const char *codec = avcodec_get_name(in->codecpar->codec_id);
    if (type == AVMEDIA_TYPE_AUDIO || type == AVMEDIA_TYPE_SUBTITLE) {
        int fits = avformat_query_codec(w->oc->oformat, in->codecpar->codec_id, FF_COMPLIANCE_NORMAL);
        return fits != 0 ? add_copied_stream(w, in, err) : add_converted_stream(w, in, err);
    }
    if (type == AVMEDIA_TYPE_ATTACHMENT && is_matroska(w->oc->oformat))
        return add_copied_stream(w, in, err);
    um_log(UM_LOG_INFO, "%s stream #%d (%s) is not carried into %s", kind ? kind : "unknown",
           in->index, codec, w->oc->oformat->name);
    return 0;
}

static int add_video_stream(um_media_writer *w, const AVStream *in, um_error *err)
{
    w->video_out = avformat_new_stream(w->oc, NULL);
    if (!w->video_out) {
        um_error_set(err, UM_ERR_OTHER, "cannot add the video stream to %s", w->target);
        return -1;
    }
    w->video_out->time_base = in->time_base;
    w->video_out->disposition = in->disposition;
    av_dict_copy(&w->video_out->metadata, in->metadata, 0);
    copy_video_side_data(in, w->video_out);
    w->streams[in->index].out = w->video_out;
    return 0;
}

/* Copies the chapters that overlap the part read (all of them without a
 * trim), moved and cut to its timeline. */
static void copy_chapters(AVFormatContext *oc, const AVFormatContext *ic, const um_media_options *o)
{
    int64_t origin = ic->start_time != AV_NOPTS_VALUE ? ic->start_time : 0;
    int64_t start = o->start > 0 ? origin + (int64_t)(o->start * AV_TIME_BASE) : 0;
    int64_t end = o->end > 0 ? origin + (int64_t)(o->end * AV_TIME_BASE) : INT64_MAX;
    for (unsigned i = 0; i < ic->nb_chapters; i++) {
        const AVChapter *in = ic->chapters[i];
        int64_t shift = av_rescale_q(start, AV_TIME_BASE_Q, in->time_base);
        int64_t limit = end == INT64_MAX ? INT64_MAX : av_rescale_q(end, AV_TIME_BASE_Q, in->time_base);
        if (in->end <= shift || in->start >= limit)
            continue;
        AVChapter *out = av_mallocz(sizeof(*out));
        if (!out)
            return;
        out->id = in->id;
        out->time_base = in->time_base;
        out->start = FFMAX(in->start, shift) - shift;
        out->end = FFMIN(in->end, limit) - shift;
        av_dict_copy(&out->metadata, in->metadata, 0);
        if (av_dynarray_add_nofree(&oc->chapters, (int *)&oc->nb_chapters, out) < 0) {
            av_dict_free(&out->metadata);
            av_free(out);
            return;
        }
    }
}

static int create_output(um_media_writer *w, const char *path, const char *hint, um_error *err)
{
    /* Images go through image2 (one file, one picture): the guess for .webp
     * would be the animated WebP muxer. */
    const char *format = w->opts.format ? w->opts.format : um_media_is_image_path(hint) ? "image2" : NULL;
    int ret = avformat_alloc_output_context2(&w->oc, NULL, format, hint);
    if (ret < 0 || !w->oc) {
        if (w->opts.format)
            um_error_set(err, UM_ERR_USAGE, "unknown output format \"%s\" (--format)", w->opts.format);
        else
            um_error_set(err, UM_ERR_USAGE,
                         "cannot tell the output format from the name %s: use .mp4, .mov, .mkv, .png, .jpg or .webp, or --format",
                         hint);
        return -1;
    }
    w->is_image = strcmp(w->oc->oformat->name, "image2") == 0;
    if (!w->is_image &&
        avformat_query_codec(w->oc->oformat, AV_CODEC_ID_H264, FF_COMPLIANCE_NORMAL) == 0) {
        um_error_set(err, UM_ERR_USAGE, "the %s container cannot carry H.264 video: write .mp4, .mov or .mkv",
                     w->oc->oformat->name);
        return -1;
    }
    /* The muxer reopens its url for faststart's second pass: the temp file. */
    av_freep(&w->oc->url);
    w->oc->url = av_strdup(path);
    ret = avio_open(&w->oc->pb, path, AVIO_FLAG_WRITE);
    if (ret < 0) {
        um_error_av(err, UM_ERR_OUTPUT, ret, "cannot create %s", path);
        return -1;
    }
    return 0;
}

int um_media_writer_open(um_media_writer **writer, const char *path, const char *format_hint_path,
                         const um_media_reader *reader, const um_media_options *o, um_error *err)
{
    um_media_writer *w = um_xcalloc(1, sizeof(*w));
    w->reader = reader;
    w->opts = *o;
    snprintf(w->target, sizeof(w->target), "%s", format_hint_path);
    if (create_output(w, path, format_hint_path, err) < 0)
        goto fail;
    if (w->is_image && !reader->info.is_image) {
        um_error_set(err, UM_ERR_USAGE, "cannot write the video %s as the image %s: use a video container",
                     reader->path, w->target);
        goto fail;
    }
    if (um_media_options_check(o, "", err) < 0)
        goto fail;
    if (w->opts.transparent && !(w->is_image && av_guess_codec(w->oc->oformat, NULL, format_hint_path,
                                                              NULL, AVMEDIA_TYPE_VIDEO) == AV_CODEC_ID_PNG)) {
        um_error_set(err, UM_ERR_USAGE, "--transparent needs a PNG output, not %s", w->target);
        goto fail;
    }
    const AVFormatContext *ic = reader->fmt;
    w->streams = um_xcalloc(ic->nb_streams, sizeof(*w->streams));
    for (unsigned i = 0; i < ic->nb_streams; i++) {
        const AVStream *in = ic->streams[i];
        int ret = in == reader->video ? add_video_stream(w, in, err)
                  : w->is_image       ? 0
                                      : add_other_stream(w, in, err);
        if (ret < 0)
            goto fail;
    }
    if (!w->is_image) {
        av_dict_copy(&w->oc->metadata, ic->metadata, 0);
        copy_chapters(w->oc, ic, &w->opts);
    }
    w->pkt = av_packet_alloc();
    w->pending = um_xcalloc(MAX_PENDING_PACKETS, sizeof(*w->pending));
    *writer = w;
    return 0;
fail:
    um_media_writer_close(&w);
    return -1;
}

/* ---- the video encoder ------------------------------------------------ */

static int codec_takes_format(const AVCodec *codec, enum AVPixelFormat fmt)
{
    for (const enum AVPixelFormat *p = codec->pix_fmts; p && *p != AV_PIX_FMT_NONE; p++)
        if (*p == fmt)
            return 1;
    return 0;
}

/* The picture's size in the output: the options' width and height, one of
 * them 0 following the other in the input's shape (rounded to even, as
 * 4:2:0 wants), both 0 the input's own. */
static void output_size(const um_media_options *o, const AVFrame *f, int *width, int *height)
{
    *width = o->width ? o->width : f->width;
    *height = o->height ? o->height : f->height;
    if (o->width && !o->height)
        *height = FFMAX(2, (int)lrint((double)f->height * o->width / f->width / 2) * 2);
    else if (o->height && !o->width)
        *width = FFMAX(2, (int)lrint((double)f->width * o->height / f->height / 2) * 2);
}

/* The format the encoder gets: the working format itself when it can take
 * it; 4:4:4 when the chroma of an odd-sized picture cannot be subsampled
 * (H.264 4:2:0 needs even sizes); else the closest the encoder offers. */
static enum AVPixelFormat encoder_format(const um_media_writer *w, const AVCodec *codec, const AVFrame *f)
{
    const AVPixFmtDescriptor *d = av_pix_fmt_desc_get(f->format);
    if (w->opts.transparent)
        return AV_PIX_FMT_RGBA;
    int width, height;
    output_size(&w->opts, f, &width, &height);
    int odd = ((width & 1) && d->log2_chroma_w) || ((height & 1) && d->log2_chroma_h);
    if (odd && !w->is_image) {
        enum AVPixelFormat full = d->comp[0].depth > 8 ? AV_PIX_FMT_YUV444P10 : AV_PIX_FMT_YUV444P;
        if (codec_takes_format(codec, full))
            return full;
    }
    if (codec_takes_format(codec, f->format))
        return f->format;
    return avcodec_find_best_pix_fmt_of_list(codec->pix_fmts, f->format,
                                             (d->flags & AV_PIX_FMT_FLAG_ALPHA) != 0, NULL);
}

static void configure_encoder(um_media_writer *w, AVCodecContext *enc, const AVFrame *f,
                              enum AVPixelFormat fmt)
{
    const AVStream *in = w->reader->video;
    output_size(&w->opts, f, &enc->width, &enc->height);
    enc->pix_fmt = fmt;
    enc->time_base = in->time_base;
    AVRational rate = in->avg_frame_rate.num ? in->avg_frame_rate : in->r_frame_rate;
    if (rate.num && rate.den)
        enc->framerate = rate;
    AVRational sar = f->sample_aspect_ratio.num ? f->sample_aspect_ratio : in->codecpar->sample_aspect_ratio;
    if (enc->width != f->width || enc->height != f->height) {
        /* A new size keeps the picture's display shape, as FFmpeg's scale filter does. */
        sar = sar.num ? sar : (AVRational){1, 1};
        av_reduce(&sar.num, &sar.den, (int64_t)sar.num * enc->height * f->width,
                  (int64_t)sar.den * enc->width * f->height, INT_MAX);
        if (sar.num == sar.den)
            sar = (AVRational){0, 1};
    }
    enc->sample_aspect_ratio = sar;
    enc->color_primaries = f->color_primaries;
    enc->color_trc = f->color_trc;
    enc->colorspace = f->colorspace;
    enc->color_range = f->color_range;
    enc->chroma_sample_location = f->chroma_location;
    if (w->oc->oformat->flags & AVFMT_GLOBALHEADER)
        enc->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    if (enc->codec_id == AV_CODEC_ID_MJPEG) {
        /* JPEG at a fixed high quality: the picture is what the user keeps. */
        enc->flags |= AV_CODEC_FLAG_QSCALE;
        enc->global_quality = FF_QP2LAMBDA * 2;
    }
    enc->thread_count = 0;
}

static int open_encoder(um_media_writer *w, const AVCodec *codec, const AVFrame *f,
                        AVDictionary **opts, um_error *err)
{
    w->enc = avcodec_alloc_context3(codec);
    if (!w->enc) {
        um_error_set(err, UM_ERR_OTHER, "cannot allocate the %s encoder", codec->name);
        return -1;
    }
    configure_encoder(w, w->enc, f, encoder_format(w, codec, f));
    um_log_ffmpeg_clear();
    int ret = avcodec_open2(w->enc, codec, opts);
    av_dict_free(opts);
    if (ret < 0) {
        const char *detail = um_log_ffmpeg_last();
        um_error_av(err, UM_ERR_OUTPUT, ret, "cannot open the %s encoder for %s%s%s", codec->name,
                    w->target, *detail ? ": " : "", detail);
        avcodec_free_context(&w->enc);
        return -1;
    }
    return 0;
}

static int open_nvenc(um_media_writer *w, const AVFrame *f, um_error *err)
{
    const AVCodec *codec = avcodec_find_encoder_by_name("h264_nvenc");
    if (!codec) {
        um_error_set(err, UM_ERR_OUTPUT, "this FFmpeg has no h264_nvenc encoder");
        return -1;
    }
    AVDictionary *opts = NULL;
    static const char *const settings[][2] = {
        {"preset", "p4"}, {"tune", "hq"}, {"rc", "vbr"}, {"cq", "16"}, {"b", "0"},
        {"multipass", "fullres"}, {"spatial-aq", "1"}, {"temporal-aq", "1"},
    };
    for (size_t i = 0; i < sizeof(settings) / sizeof(settings[0]); i++)
        av_dict_set(&opts, settings[i][0], settings[i][1], 0);
    if (open_encoder(w, codec, f, &opts, err) < 0)
        return -1;
    snprintf(w->encode_path, sizeof(w->encode_path), "h264_nvenc preset p4 cq 16 (%s)",
             av_get_pix_fmt_name(w->enc->pix_fmt));
    return 0;
}

static int open_x264(um_media_writer *w, const AVFrame *f, um_error *err)
{
    const AVCodec *codec = avcodec_find_encoder_by_name("libx264");
    if (!codec) {
        um_error_set(err, UM_ERR_OUTPUT, "this FFmpeg has no libx264 encoder");
        return -1;
    }
    const char *preset = w->opts.preset ? w->opts.preset : w->opts.fast ? "veryfast" : "slow";
    int crf = w->opts.crf >= 0 ? w->opts.crf : 16;
    char crf_text[16];
    snprintf(crf_text, sizeof(crf_text), "%d", crf);
    AVDictionary *opts = NULL;
    av_dict_set(&opts, "preset", preset, 0);
    av_dict_set(&opts, "tune", "film", 0);
    av_dict_set(&opts, "crf", crf_text, 0);
    if (open_encoder(w, codec, f, &opts, err) < 0)
        return -1;
    snprintf(w->encode_path, sizeof(w->encode_path), "libx264 preset %s crf %d tune film (%s)", preset,
             crf, av_get_pix_fmt_name(w->enc->pix_fmt));
    return 0;
}

/* NVENC first when asked (or auto); when it cannot open, libx264 takes over
 * right here, the rest of the pipeline carrying on. */
static int open_video_encoder(um_media_writer *w, const AVFrame *f, um_error *err)
{
    if (w->opts.encoder != UM_ENCODER_X264) {
        um_error nverr = {0};
        if (open_nvenc(w, f, &nverr) == 0)
            return 0;
        um_log(UM_LOG_WARN, "NVENC unavailable (%s): falling back to libx264", nverr.msg);
    }
    return open_x264(w, f, err);
}

static int open_image_encoder(um_media_writer *w, const AVFrame *f, um_error *err)
{
    enum AVCodecID id = av_guess_codec(w->oc->oformat, NULL, w->target, NULL, AVMEDIA_TYPE_VIDEO);
    const AVCodec *codec = id == AV_CODEC_ID_WEBP ? avcodec_find_encoder_by_name("libwebp")
                                                  : avcodec_find_encoder(id);
    if (!codec) {
        um_error_set(err, UM_ERR_OUTPUT, "no image encoder for %s", w->target);
        return -1;
    }
    AVDictionary *opts = NULL;
    if (id == AV_CODEC_ID_WEBP)
        av_dict_set(&opts, "quality", "95", 0);
    if (open_encoder(w, codec, f, &opts, err) < 0)
        return -1;
    snprintf(w->encode_path, sizeof(w->encode_path), "%s (%s)", codec->name,
             av_get_pix_fmt_name(w->enc->pix_fmt));
    return 0;
}

/* Sets up conversion into the encoder's format and size when they differ
 * from the working frame's (odd sizes, 10-bit for NVENC, RGB for images,
 * a new size asked for). */
static int prepare_conversion(um_media_writer *w, const AVFrame *f, um_error *err)
{
    if (w->enc->pix_fmt == f->format && w->enc->width == f->width && w->enc->height == f->height)
        return 0;
    w->sws = sws_getContext(f->width, f->height, f->format, w->enc->width, w->enc->height, w->enc->pix_fmt,
                            SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT, NULL, NULL, NULL);
    w->enc_frame = av_frame_alloc();
    if (!w->sws || !w->enc_frame) {
        um_error_set(err, UM_ERR_OTHER, "cannot convert %s to %s for the encoder",
                     av_get_pix_fmt_name(f->format), av_get_pix_fmt_name(w->enc->pix_fmt));
        return -1;
    }
    w->enc_frame->format = w->enc->pix_fmt;
    w->enc_frame->width = w->enc->width;
    w->enc_frame->height = w->enc->height;
    if (av_frame_get_buffer(w->enc_frame, 0) < 0) {
        um_error_set(err, UM_ERR_OTHER, "cannot allocate a frame for the encoder");
        return -1;
    }
    return 0;
}

static int write_header(um_media_writer *w, um_error *err)
{
    int ret = avcodec_parameters_from_context(w->video_out->codecpar, w->enc);
    if (ret < 0) {
        um_error_av(err, UM_ERR_OTHER, ret, "cannot describe the video stream of %s", w->target);
        return -1;
    }
    w->video_out->time_base = w->enc->time_base;
    w->video_out->avg_frame_rate = w->reader->video->avg_frame_rate;
    w->video_out->sample_aspect_ratio = w->enc->sample_aspect_ratio;
    AVDictionary *opts = NULL;
    if (is_mov_family(w->oc->oformat))
        av_dict_set(&opts, "movflags", "+faststart", 0);
    if (w->is_image)
        av_dict_set(&opts, "update", "1", 0);
    ret = avformat_write_header(w->oc, &opts);
    av_dict_free(&opts);
    if (ret < 0) {
        um_error_av(err, UM_ERR_OUTPUT, ret, "cannot write the header of %s", w->target);
        return -1;
    }
    w->header_written = 1;
    return 0;
}

static int write_passthrough(um_media_writer *w, AVPacket *pkt, const AVStream *in, um_error *err)
{
    out_stream *os = &w->streams[in->index];
    if (!os->out)
        return 0;
    if (os->conv)
        return um_stream_convert_send(os->conv, pkt, emit_converted, w, err);
    av_packet_rescale_ts(pkt, in->time_base, os->out->time_base);
    pkt->stream_index = os->out->index;
    pkt->pos = -1;
    return write_packet(w, pkt, err);
}

static int flush_pending(um_media_writer *w, um_error *err)
{
    int result = 0;
    for (int i = 0; i < w->nb_pending; i++) {
        AVPacket *pkt = w->pending[i];
        if (result == 0 &&
            write_passthrough(w, pkt, w->reader->fmt->streams[pkt->stream_index], err) < 0)
            result = -1;
        av_packet_free(&w->pending[i]);
    }
    w->nb_pending = 0;
    return result;
}

static int start_video(um_media_writer *w, const AVFrame *f, um_error *err)
{
    int ret = w->is_image ? open_image_encoder(w, f, err) : open_video_encoder(w, f, err);
    if (ret < 0 || prepare_conversion(w, f, err) < 0 || write_header(w, err) < 0)
        return -1;
    return flush_pending(w, err);
}

/* Encoders drop the frame duration; the muxer needs it for the last frame
 * (the video's length) and for VFR. Remember it by pts until the packet
 * comes out. */
static void remember_duration(um_media_writer *w, int64_t pts, int64_t duration)
{
    w->ring_pts[w->ring_next % DURATION_RING] = pts;
    w->ring_duration[w->ring_next % DURATION_RING] = duration;
    w->ring_next++;
}

static int64_t recall_duration(const um_media_writer *w, int64_t pts)
{
    for (unsigned i = 0; i < DURATION_RING; i++)
        if (w->ring_pts[i] == pts)
            return w->ring_duration[i];
    return 0;
}

static int drain_encoder(um_media_writer *w, um_error *err)
{
    for (;;) {
        int ret = avcodec_receive_packet(w->enc, w->pkt);
        if (ret == AVERROR(EAGAIN) || ret == AVERROR_EOF)
            return 0;
        if (ret < 0) {
            um_error_av(err, UM_ERR_OUTPUT, ret, "cannot encode the video of %s", w->target);
            return -1;
        }
        if (w->pkt->duration <= 0)
            w->pkt->duration = recall_duration(w, w->pkt->pts);
        av_packet_rescale_ts(w->pkt, w->enc->time_base, w->video_out->time_base);
        w->pkt->stream_index = w->video_out->index;
        if (write_packet(w, w->pkt, err) < 0)
            return -1;
    }
}

/* --transparent: alpha 0 where the watermark was removed. */
static void apply_removed_alpha(AVFrame *rgba, const um_frame *frame)
{
    for (int y = 0; y < rgba->height; y++) {
        uint8_t *row = rgba->data[0] + (ptrdiff_t)y * rgba->linesize[0];
        const uint8_t *removed = frame->removed + (ptrdiff_t)y * frame->removed_stride;
        for (int x = 0; x < rgba->width; x++)
            if (removed[x])
                row[4 * x + 3] = 0;
    }
}

int um_media_writer_frame(um_media_writer *w, const um_media_held *held, um_error *err)
{
    AVFrame *f = held->frame;
    const um_frame *frame = &held->view;
    if (!w->enc && start_video(w, f, err) < 0)
        return -1;
    AVFrame *in = f;
    if (w->sws) {
        int ret = av_frame_make_writable(w->enc_frame);
        if (ret < 0) {
            um_error_av(err, UM_ERR_OTHER, ret, "cannot get a frame for the encoder");
            return -1;
        }
        sws_scale(w->sws, (const uint8_t *const *)f->data, f->linesize, 0, f->height,
                  w->enc_frame->data, w->enc_frame->linesize);
        av_frame_copy_props(w->enc_frame, f);
        w->enc_frame->sample_aspect_ratio = w->enc->sample_aspect_ratio;
        in = w->enc_frame;
        if (w->opts.transparent && frame->removed)
            apply_removed_alpha(in, frame);
    }
    in->pict_type = AV_PICTURE_TYPE_NONE;
    remember_duration(w, in->pts, f->pkt_duration);
    int ret = avcodec_send_frame(w->enc, in);
    if (ret < 0) {
        um_error_av(err, UM_ERR_OUTPUT, ret, "cannot encode a frame of %s", w->target);
        return -1;
    }
    return drain_encoder(w, err);
}

int um_media_writer_packet(um_media_writer *w, um_media_packet *packet, um_error *err)
{
    if (w->header_written)
        return write_passthrough(w, packet->pkt, packet->stream, err);
    if (!w->streams[packet->stream->index].out)
        return 0;
    if (w->nb_pending >= MAX_PENDING_PACKETS) {
        um_error_set(err, UM_ERR_INPUT, "%s: no video frame among its first %d packets",
                     w->reader->path, MAX_PENDING_PACKETS);
        return -1;
    }
    w->pending[w->nb_pending++] = av_packet_clone(packet->pkt);
    return 0;
}

int um_media_writer_finish(um_media_writer *w, um_error *err)
{
    if (!w->enc) {
        um_error_set(err, UM_ERR_INPUT, "cannot use input %s: no video frame could be decoded",
                     w->reader->path);
        return -1;
    }
    int ret = avcodec_send_frame(w->enc, NULL);
    if (ret < 0 && ret != AVERROR_EOF) {
        um_error_av(err, UM_ERR_OUTPUT, ret, "cannot finish encoding %s", w->target);
        return -1;
    }
    if (drain_encoder(w, err) < 0)
        return -1;
    for (unsigned i = 0; i < w->reader->fmt->nb_streams; i++)
        if (w->streams[i].conv && um_stream_convert_send(w->streams[i].conv, NULL, emit_converted, w, err) < 0)
            return -1;
    ret = av_write_trailer(w->oc);
    if (ret < 0) {
        um_error_av(err, UM_ERR_OUTPUT, ret, "cannot finish writing %s", w->target);
        return -1;
    }
    ret = avio_closep(&w->oc->pb);
    if (ret < 0) {
        um_error_av(err, UM_ERR_OUTPUT, ret, "cannot close %s", w->target);
        return -1;
    }
    return 0;
}

const char *um_media_writer_encode_path(const um_media_writer *w) { return w->encode_path; }

void um_media_writer_close(um_media_writer **writer)
{
    um_media_writer *w = *writer;
    if (!w)
        return;
    for (int i = 0; i < w->nb_pending; i++)
        av_packet_free(&w->pending[i]);
    free(w->pending);
    if (w->streams)
        for (unsigned i = 0; i < w->reader->fmt->nb_streams; i++)
            um_stream_convert_free(&w->streams[i].conv);
    free(w->streams);
    avcodec_free_context(&w->enc);
    if (w->oc) {
        avio_closep(&w->oc->pb);
        avformat_free_context(w->oc);
    }
    av_packet_free(&w->pkt);
    av_frame_free(&w->enc_frame);
    sws_freeContext(w->sws);
    free(w);
    *writer = NULL;
}
