/*
 * Opening inputs and describing them: streams, size, rate, frame count,
 * rotation and colour. Shared by `unmark probe` and the reader.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <libavutil/display.h>
#include <libavutil/imgutils.h>
#include <libavutil/pixdesc.h>

#include "media/media_internal.h"

/* Larger than any real video (16K); anything above is a broken or hostile
 * header, refused before a frame is allocated. */
#define MAX_DIMENSION 16384

int um_media_open_input(AVFormatContext **fmt, const char *path, um_error *err)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        um_error_set(err, UM_ERR_INPUT, "cannot read input %s: %s", path, strerror(errno));
        return -1;
    }
    if (S_ISDIR(st.st_mode)) {
        um_error_set(err, UM_ERR_INPUT, "cannot read input %s: it is a directory", path);
        return -1;
    }
    if (st.st_size == 0) {
        um_error_set(err, UM_ERR_INPUT, "cannot read input %s: the file is empty", path);
        return -1;
    }
    int ret = avformat_open_input(fmt, path, NULL, NULL);
    if (ret < 0) {
        um_error_av(err, UM_ERR_INPUT, ret, "cannot read input %s: FFmpeg cannot open it as media",
                    path);
        return -1;
    }
    ret = avformat_find_stream_info(*fmt, NULL);
    if (ret < 0) {
        um_error_av(err, UM_ERR_INPUT, ret, "cannot read input %s: its streams could not be analysed",
                    path);
        avformat_close_input(fmt);
        return -1;
    }
    return 0;
}

int um_media_find_video(AVFormatContext *fmt, const char *path, um_error *err)
{
    int best = -1;
    for (unsigned i = 0; i < fmt->nb_streams; i++) {
        const AVStream *st = fmt->streams[i];
        if (st->codecpar->codec_type != AVMEDIA_TYPE_VIDEO ||
            (st->disposition & AV_DISPOSITION_ATTACHED_PIC))
            continue;
        best = av_find_best_stream(fmt, AVMEDIA_TYPE_VIDEO, -1, -1, NULL, 0);
        if (best < 0 || (fmt->streams[best]->disposition & AV_DISPOSITION_ATTACHED_PIC))
            best = (int)i;
        break;
    }
    if (best < 0) {
        um_error_set(err, UM_ERR_INPUT, "cannot use input %s: it has no video stream", path);
        return -1;
    }
    const AVCodecParameters *par = fmt->streams[best]->codecpar;
    if (par->width <= 0 || par->height <= 0 || par->width > MAX_DIMENSION ||
        par->height > MAX_DIMENSION || av_image_check_size(par->width, par->height, 0, NULL) < 0) {
        um_error_set(err, UM_ERR_INPUT,
                     "cannot use input %s: its video size %dx%d is not valid (at most %dx%d)", path,
                     par->width, par->height, MAX_DIMENSION, MAX_DIMENSION);
        return -1;
    }
    if (!avcodec_find_decoder(par->codec_id)) {
        um_error_set(err, UM_ERR_INPUT, "cannot use input %s: no decoder for its video codec (%s)",
                     path, par->codec_id == AV_CODEC_ID_NONE ? "unknown to FFmpeg"
                                                             : avcodec_get_name(par->codec_id));
        return -1;
    }
    return best;
}

static void copy_name(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src ? src : "unknown");
}

static void fill_stream_info(const AVStream *st, um_media_stream_info *si)
{
    const AVCodecParameters *par = st->codecpar;
    si->index = st->index;
    const char *type = av_get_media_type_string(par->codec_type);
    copy_name(si->type, sizeof(si->type), type);
    copy_name(si->codec, sizeof(si->codec), avcodec_get_name(par->codec_id));
    const AVDictionaryEntry *lang = av_dict_get(st->metadata, "language", NULL, 0);
    copy_name(si->language, sizeof(si->language), lang ? lang->value : "und");
    si->channels = par->ch_layout.nb_channels;
    si->sample_rate = par->sample_rate;
    si->bit_rate = par->bit_rate;
}

static double stream_rotation(const AVStream *st)
{
    const uint8_t *matrix = av_stream_get_side_data(st, AV_PKT_DATA_DISPLAYMATRIX, NULL);
    if (!matrix)
        return 0;
    double r = av_display_rotation_get((const int32_t *)matrix);
    return isnan(r) ? 0 : r;
}

static void fill_video_info(AVFormatContext *fmt, const AVStream *st, um_media_info *info)
{
    const AVCodecParameters *par = st->codecpar;
    info->width = par->width;
    info->height = par->height;
    copy_name(info->codec, sizeof(info->codec), avcodec_get_name(par->codec_id));
    const AVPixFmtDescriptor *desc = av_pix_fmt_desc_get(par->format);
    copy_name(info->pix_fmt, sizeof(info->pix_fmt), desc ? desc->name : NULL);
    info->depth = desc ? desc->comp[0].depth : 8;
    AVRational rate = st->avg_frame_rate.num ? st->avg_frame_rate : st->r_frame_rate;
    info->fps = rate.num && rate.den ? av_q2d(rate) : 0;
    /* r_frame_rate is the lowest rate that represents every timestamp; when it
     * is well above the average rate, the frames are not evenly spaced. */
    info->vfr = st->r_frame_rate.num && st->avg_frame_rate.num &&
                av_q2d(st->r_frame_rate) > av_q2d(st->avg_frame_rate) * 1.01;
    info->frame_count = st->nb_frames > 0 ? st->nb_frames : -1;
    info->rotation = stream_rotation(st);
    copy_name(info->color_primaries, sizeof(info->color_primaries),
              av_color_primaries_name(par->color_primaries));
    copy_name(info->color_transfer, sizeof(info->color_transfer),
              av_color_transfer_name(par->color_trc));
    copy_name(info->color_space, sizeof(info->color_space), av_color_space_name(par->color_space));
    copy_name(info->color_range, sizeof(info->color_range), av_color_range_name(par->color_range));
    AVRational sar = av_guess_sample_aspect_ratio(fmt, (AVStream *)st, NULL);
    info->sar_num = sar.num ? sar.num : 1;
    info->sar_den = sar.num ? sar.den : 1;
    if (st->duration != AV_NOPTS_VALUE && info->duration <= 0)
        info->duration = st->duration * av_q2d(st->time_base);
}

void um_media_fill_info(AVFormatContext *fmt, int video_index, um_media_info *info)
{
    memset(info, 0, sizeof(*info));
    copy_name(info->path, sizeof(info->path), fmt->url);
    copy_name(info->format, sizeof(info->format), fmt->iformat->name);
    info->is_image = strstr(fmt->iformat->name, "_pipe") != NULL ||
                     strcmp(fmt->iformat->name, "image2") == 0;
    info->duration = fmt->duration > 0 ? (double)fmt->duration / AV_TIME_BASE : 0;
    info->video_index = video_index;
    for (unsigned i = 0; i < fmt->nb_streams && i < UM_MEDIA_MAX_STREAMS; i++) {
        const AVStream *st = fmt->streams[i];
        fill_stream_info(st, &info->streams[i]);
        info->nb_streams++;
        if (st->codecpar->codec_type == AVMEDIA_TYPE_AUDIO)
            info->audio_tracks++;
        if (st->codecpar->codec_type == AVMEDIA_TYPE_SUBTITLE)
            info->subtitle_tracks++;
    }
    if (video_index >= 0)
        fill_video_info(fmt, fmt->streams[video_index], info);
    if (info->is_image)
        info->frame_count = 1;
}

/* Counts the video stream's packets with a demux pass (exact for every
 * container, and cheap: nothing is decoded), and sees from the spacing of
 * their decode timestamps whether the frame rate varies. */
static void count_video_packets(AVFormatContext *fmt, int video_index, um_media_info *info)
{
    AVPacket *pkt = av_packet_alloc();
    if (!pkt)
        return;
    int64_t count = 0, last_dts = AV_NOPTS_VALUE, min_step = INT64_MAX, max_step = 0;
    while (av_read_frame(fmt, pkt) >= 0) {
        if (pkt->stream_index == video_index) {
            count++;
            if (pkt->dts != AV_NOPTS_VALUE && last_dts != AV_NOPTS_VALUE && pkt->dts > last_dts) {
                int64_t step = pkt->dts - last_dts;
                min_step = step < min_step ? step : min_step;
                max_step = step > max_step ? step : max_step;
            }
            if (pkt->dts != AV_NOPTS_VALUE)
                last_dts = pkt->dts;
        }
        av_packet_unref(pkt);
    }
    av_packet_free(&pkt);
    info->frame_count = count;
    if (max_step > 0 && (double)max_step > (double)min_step * 1.01 + 1)
        info->vfr = 1;
    if (info->vfr && count > 0 && info->duration > 0)
        info->fps = (double)count / info->duration;
}

int um_media_probe(const char *path, int count_frames, um_media_info *info, um_error *err)
{
    AVFormatContext *fmt = NULL;
    if (um_media_open_input(&fmt, path, err) < 0)
        return -1;
    int video_index = um_media_find_video(fmt, path, err);
    if (video_index < 0) {
        avformat_close_input(&fmt);
        return -1;
    }
    um_media_fill_info(fmt, video_index, info);
    copy_name(info->path, sizeof(info->path), path);
    if (info->frame_count < 0 && count_frames)
        count_video_packets(fmt, video_index, info);
    avformat_close_input(&fmt);
    return 0;
}

/* Planar formats whose samples the kernels can address directly. */
static int is_workable(const AVPixFmtDescriptor *d)
{
    if (!(d->flags & AV_PIX_FMT_FLAG_PLANAR) || (d->flags & (AV_PIX_FMT_FLAG_BE |
        AV_PIX_FMT_FLAG_PAL | AV_PIX_FMT_FLAG_HWACCEL | AV_PIX_FMT_FLAG_BITSTREAM | AV_PIX_FMT_FLAG_FLOAT)))
        return 0;
    for (int c = 0; c < d->nb_components; c++) {
        int bytes = d->comp[c].depth > 8 ? 2 : 1;
        if (d->comp[c].shift || d->comp[c].offset || d->comp[c].step != bytes ||
            d->comp[c].depth != d->comp[0].depth)
            return 0;
    }
    /* One component a plane (G, B, R for RGB, as in GBRP). */
    return av_pix_fmt_count_planes(av_pix_fmt_desc_get_id(d)) == d->nb_components;
}

enum AVPixelFormat um_media_working_format(enum AVPixelFormat fmt)
{
    const AVPixFmtDescriptor *d = av_pix_fmt_desc_get(fmt);
    if (!d)
        return AV_PIX_FMT_NONE;
    if (is_workable(d))
        return fmt;
    int deep = d->comp[0].depth > 8;
    int alpha = (d->flags & AV_PIX_FMT_FLAG_ALPHA) != 0;
    if ((d->flags & AV_PIX_FMT_FLAG_RGB) || (d->flags & AV_PIX_FMT_FLAG_PAL))
        return alpha ? (deep ? AV_PIX_FMT_GBRAP16 : AV_PIX_FMT_GBRAP)
                     : (deep ? AV_PIX_FMT_GBRP16 : AV_PIX_FMT_GBRP);
    if (d->nb_components <= 2)
        return deep ? AV_PIX_FMT_GRAY16 : AV_PIX_FMT_GRAY8;
    if (alpha)
        return deep ? AV_PIX_FMT_YUVA444P16 : AV_PIX_FMT_YUVA420P;
    /* Keep the subsampling and depth of semi-planar and packed YUV. */
    static const struct { int w, h, deep; enum AVPixelFormat fmt; } yuv[] = {
        {1, 1, 0, AV_PIX_FMT_YUV420P},     {1, 0, 0, AV_PIX_FMT_YUV422P},
        {0, 0, 0, AV_PIX_FMT_YUV444P},     {1, 1, 1, AV_PIX_FMT_YUV420P10},
        {1, 0, 1, AV_PIX_FMT_YUV422P10},   {0, 0, 1, AV_PIX_FMT_YUV444P10},
    };
    for (size_t i = 0; i < sizeof(yuv) / sizeof(yuv[0]); i++)
        if (yuv[i].w == d->log2_chroma_w && yuv[i].h == d->log2_chroma_h && yuv[i].deep == deep)
            return d->comp[0].depth > 10 ? AV_PIX_FMT_YUV444P16 : yuv[i].fmt;
    return deep ? AV_PIX_FMT_YUV444P16 : AV_PIX_FMT_YUV444P;
}

/* The J formats are full range YUV whatever the frame's range field says. */
static int is_jpeg_format(int format)
{
    return format == AV_PIX_FMT_YUVJ420P || format == AV_PIX_FMT_YUVJ422P || format == AV_PIX_FMT_YUVJ444P ||
           format == AV_PIX_FMT_YUVJ440P || format == AV_PIX_FMT_YUVJ411P;
}

void um_media_frame_view(const AVFrame *frame, um_frame *view)
{
    const AVPixFmtDescriptor *d = av_pix_fmt_desc_get(frame->format);
    memset(view, 0, sizeof(*view));
    view->width = frame->width;
    view->height = frame->height;
    view->nb_planes = d->nb_components;
    view->depth = d->comp[0].depth;
    view->log2_chroma_w = d->log2_chroma_w;
    view->log2_chroma_h = d->log2_chroma_h;
    view->is_rgb = (d->flags & AV_PIX_FMT_FLAG_RGB) != 0;
    view->full_range = !view->is_rgb && (frame->color_range == AVCOL_RANGE_JPEG || is_jpeg_format(frame->format));
    view->has_alpha = (d->flags & AV_PIX_FMT_FLAG_ALPHA) != 0;
    for (int p = 0; p < view->nb_planes && p < 4; p++) {
        view->data[p] = frame->data[p];
        view->linesize[p] = frame->linesize[p];
    }
}
