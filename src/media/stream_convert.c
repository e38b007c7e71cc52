/*
 * Converting a passed-through stream that the output container cannot take
 * as it is: PCM (or any decodable) audio becomes AAC, a text subtitle becomes
 * mov_text in MP4/MOV or the first text codec another container accepts.
 *
 * Audio path: decoder -> swresample (to the encoder's sample format, rate
 * and layout) -> AVAudioFifo -> AAC encoder in frames of its frame_size.
 * Timestamps are not carried through the decoder: the first input packet's
 * pts (rescaled to 1/sample_rate) is the pts of the first sample, and every
 * later frame's pts is that origin plus the samples sent so far, so the audio
 * cannot drift against the video. The encoder's first packet then has pts
 * origin - initial_padding (1024 samples of AAC priming), so the first real
 * decoded sample lands exactly on the origin; where that pts is negative the
 * MP4 muxer trims the priming with an edit list, otherwise the priming plays
 * as near-silence just before the origin.
 *
 * Subtitle path: avcodec_decode_subtitle2 -> avcodec_encode_subtitle, one
 * output packet per cue, with the input packet's pts and duration.
 *
 * Out-of-memory: NULL from an FFmpeg allocator aborts (alloc_check), as the
 * um_x* allocators do; AVERROR(ENOMEM) returned by an FFmpeg call is
 * reported like any other FFmpeg error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libavutil/audio_fifo.h>
#include <libavutil/avstring.h>
#include <libavutil/channel_layout.h>
#include <libavutil/mathematics.h>
#include <libavutil/mem.h>
#include <libavutil/samplefmt.h>
#include <libswresample/swresample.h>

#include "media/stream_convert.h"

/* Largest encoded subtitle cue; a mov_text sample is 16-bit-length text plus
 * style boxes, so a real cue is far below this. */
#define SUB_MAX_PACKET (64 * 1024)
/* AAC bit rate per stereo pair, and the cap for many channels. */
#define AAC_BITRATE_PER_PAIR 128000
#define AAC_BITRATE_MAX 512000

struct um_stream_convert {
    enum AVMediaType type;
    int in_index;            /* input stream index, for messages */
    AVStream *out_stream;    /* its time_base is read at every emit */
    AVCodecContext *dec;
    AVCodecContext *enc;
    AVPacket *in_pkt;        /* writable reference to the packet being fed */
    AVPacket *out_pkt;
    AVFrame *frame;          /* decoded audio */
    int flushed;

    /* audio */
    struct SwrContext *swr;
    AVChannelLayout swr_in_layout; /* what swr was set up for */
    enum AVSampleFormat swr_in_fmt;
    int swr_in_rate;
    AVAudioFifo *fifo;
    int frame_size;          /* samples per encoder frame */
    int64_t next_pts;        /* next frame's pts in enc->time_base; NOPTS before the first packet */

    /* subtitles */
    AVRational sub_tb;       /* the input's time base, which cue packets are built in */
};

/*
 * The error for a stream no codec the container takes can carry; shared by
 * video/data streams and by audio/subtitles with no usable encoder.
 */
static void set_cannot_convert(um_error *err, const AVStream *in_stream, const AVOutputFormat *out_fmt,
                               const char *why)
{
    const char *type = av_get_media_type_string(in_stream->codecpar->codec_type);
    um_error_set(err, UM_ERR_OUTPUT, "cannot convert %s stream #%d (%s) for %s%s%s", type ? type : "unknown",
                 in_stream->index, avcodec_get_name(in_stream->codecpar->codec_id), out_fmt->name,
                 why ? ": " : "", why ? why : "");
}

/*
 * Opens the input stream's decoder with its parameters and time base, so
 * frames and subtitles come out with the stream's timing. A stream that
 * cannot be decoded is an input problem (UM_ERR_INPUT).
 */
static int open_decoder(um_stream_convert *conv, const AVStream *in_stream, um_error *err)
{
    int result = -1;
    const AVCodecParameters *par = in_stream->codecpar;
    const char *name = avcodec_get_name(par->codec_id);
    const AVCodec *codec = avcodec_find_decoder(par->codec_id);
    if (!codec) {
        um_error_set(err, UM_ERR_INPUT, "cannot convert stream #%d: no %s decoder in this FFmpeg build",
                     in_stream->index, name);
        goto fail;
    }
    conv->dec = um_check_alloc(avcodec_alloc_context3(codec), "a decoder context");
    int ret = avcodec_parameters_to_context(conv->dec, par);
    if (ret < 0) {
        um_error_av(err, UM_ERR_INPUT, ret, "cannot set up the %s decoder for stream #%d", name, in_stream->index);
        goto fail;
    }
    conv->dec->pkt_timebase = in_stream->time_base;
    ret = avcodec_open2(conv->dec, codec, NULL);
    if (ret < 0) {
        um_error_av(err, UM_ERR_INPUT, ret, "cannot open the %s decoder for stream #%d", name, in_stream->index);
        goto fail;
    }
    result = 0;
fail:
    return result;
}

/*
 * The supported rate of codec closest to rate (rate itself when the codec
 * lists none), since AAC only carries its table of rates.
 */
static int nearest_sample_rate(const AVCodec *codec, int rate)
{
    if (!codec->supported_samplerates)
        return rate;
    int best = codec->supported_samplerates[0];
    for (const int *r = codec->supported_samplerates; *r; r++) {
        if (llabs((long long)*r - rate) < llabs((long long)best - rate))
            best = *r;
    }
    return best;
}

/*
 * Copies layout into dst, replacing an unspecified-order layout (only a
 * channel count, as PCM in some containers has) with FFmpeg's default
 * layout for that count: neither the AAC encoder nor swresample can use an
 * unspecified one.
 */
static int usable_layout(AVChannelLayout *dst, const AVChannelLayout *layout)
{
    av_channel_layout_uninit(dst);
    if (layout->order == AV_CHANNEL_ORDER_UNSPEC) {
        av_channel_layout_default(dst, layout->nb_channels);
        return 0;
    }
    return av_channel_layout_copy(dst, layout);
}

/*
 * Allocates the audio encoder context for one attempt at opening it with
 * the given layout: fltp (the encoder's first format), the chosen rate, a
 * bit rate of 128 kb/s per stereo pair up to 512 kb/s, time base
 * 1/sample_rate (the unit of the running sample count) and a global header
 * when the muxer wants one (MP4 needs the AudioSpecificConfig in extradata).
 */
static int try_open_audio_encoder(um_stream_convert *conv, const AVCodec *codec, const AVChannelLayout *layout,
                                  int rate, const AVOutputFormat *out_fmt)
{
    avcodec_free_context(&conv->enc);
    AVCodecContext *enc = um_check_alloc(avcodec_alloc_context3(codec), "an encoder context");
    conv->enc = enc;
    int ret = av_channel_layout_copy(&enc->ch_layout, layout);
    if (ret < 0)
        return ret;
    enc->sample_fmt = codec->sample_fmts ? codec->sample_fmts[0] : AV_SAMPLE_FMT_FLTP;
    enc->sample_rate = rate;
    enc->time_base = (AVRational){1, rate};
    int64_t bit_rate = (int64_t)AAC_BITRATE_PER_PAIR * layout->nb_channels / 2;
    enc->bit_rate = bit_rate > AAC_BITRATE_MAX ? AAC_BITRATE_MAX : bit_rate;
    if (out_fmt->flags & AVFMT_GLOBALHEADER)
        enc->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    return avcodec_open2(enc, codec, NULL);
}

/*
 * Opens the AAC encoder keeping the input's layout; when the encoder
 * refuses it (a layout it has no channel configuration or PCE for, or more
 * than 8 channels), retries with FFmpeg's default layout for the channel
 * count (at most 8), which swresample then remaps or downmixes to.
 */
static int open_audio_encoder(um_stream_convert *conv, const AVCodec *codec, const AVChannelLayout *in_layout,
                              int rate, const AVOutputFormat *out_fmt, um_error *err)
{
    int result = -1;
    AVChannelLayout fallback = {0};
    int ret = try_open_audio_encoder(conv, codec, in_layout, rate, out_fmt);
    if (ret < 0) {
        av_channel_layout_default(&fallback, in_layout->nb_channels < 8 ? in_layout->nb_channels : 8);
        if (av_channel_layout_compare(&fallback, in_layout) != 0) {
            char from[64], to[64];
            av_channel_layout_describe(in_layout, from, sizeof(from));
            av_channel_layout_describe(&fallback, to, sizeof(to));
            um_log(UM_LOG_WARN, "audio stream #%d: the %s encoder cannot take channel layout %s, using %s",
                   conv->in_index, codec->name, from, to);
            ret = try_open_audio_encoder(conv, codec, &fallback, rate, out_fmt);
        }
    }
    if (ret < 0) {
        um_error_av(err, UM_ERR_OUTPUT, ret, "cannot open the %s encoder for audio stream #%d (%d Hz, %d channels)",
                    codec->name, conv->in_index, rate, in_layout->nb_channels);
        goto fail;
    }
    result = 0;
fail:
    av_channel_layout_uninit(&fallback);
    return result;
}

/*
 * Sets up the audio path: decoder, AAC encoder at the input's rate (or the
 * nearest AAC rate) and layout, and the fifo; fills out_stream from the
 * encoder. swresample is set up later, from the first decoded frame, since
 * the decoder's output format is only known then.
 */
static int open_audio(um_stream_convert *conv, const AVStream *in_stream, const AVOutputFormat *out_fmt,
                      um_error *err)
{
    int result = -1;
    AVChannelLayout in_layout = {0};
    const AVCodecParameters *par = in_stream->codecpar;
    if (avformat_query_codec(out_fmt, AV_CODEC_ID_AAC, FF_COMPLIANCE_NORMAL) == 0) {
        set_cannot_convert(err, in_stream, out_fmt, "the container does not take AAC");
        goto fail;
    }
    const AVCodec *codec = avcodec_find_encoder_by_name("aac");
    if (!codec)
        codec = avcodec_find_encoder(AV_CODEC_ID_AAC);
    if (!codec) {
        set_cannot_convert(err, in_stream, out_fmt, "no AAC encoder in this FFmpeg build");
        goto fail;
    }
    if (par->sample_rate <= 0 || par->ch_layout.nb_channels <= 0) {
        um_error_set(err, UM_ERR_INPUT, "cannot convert audio stream #%d (%s): unknown sample rate or channel count",
                     in_stream->index, avcodec_get_name(par->codec_id));
        goto fail;
    }
    if (open_decoder(conv, in_stream, err) < 0)
        goto fail;
    int ret = usable_layout(&in_layout, &par->ch_layout);
    if (ret < 0) {
        um_error_av(err, UM_ERR_INPUT, ret, "cannot read the channel layout of audio stream #%d", in_stream->index);
        goto fail;
    }
    int rate = nearest_sample_rate(codec, par->sample_rate);
    if (rate != par->sample_rate)
        um_log(UM_LOG_WARN, "audio stream #%d: %s cannot carry %d Hz, resampling to %d Hz", in_stream->index,
               codec->name, par->sample_rate, rate);
    if (open_audio_encoder(conv, codec, &in_layout, rate, out_fmt, err) < 0)
        goto fail;

    AVCodecContext *enc = conv->enc;
    conv->frame_size = enc->frame_size > 0 ? enc->frame_size : 1024;
    conv->fifo = um_check_alloc(av_audio_fifo_alloc(enc->sample_fmt, enc->ch_layout.nb_channels, conv->frame_size * 2),
                             "an audio fifo");
    conv->frame = um_check_alloc(av_frame_alloc(), "a frame");
    conv->next_pts = AV_NOPTS_VALUE;
    ret = avcodec_parameters_from_context(conv->out_stream->codecpar, enc);
    if (ret < 0) {
        um_error_av(err, UM_ERR_OUTPUT, ret, "cannot set the parameters of output stream #%d", conv->out_stream->index);
        goto fail;
    }
    conv->out_stream->time_base = enc->time_base;
    result = 0;
fail:
    av_channel_layout_uninit(&in_layout);
    return result;
}

/*
 * The subtitle encoder for out_fmt: mov_text for the MP4/QuickTime family
 * (the only text codec those muxers write), else the first of subrip, ass,
 * webvtt and mov_text the muxer says it accepts. AV_CODEC_ID_NONE if none.
 */
static enum AVCodecID pick_subtitle_codec(const AVOutputFormat *out_fmt)
{
    static const enum AVCodecID mp4_family[] = {AV_CODEC_ID_MOV_TEXT, AV_CODEC_ID_NONE};
    static const enum AVCodecID others[] = {AV_CODEC_ID_SUBRIP, AV_CODEC_ID_ASS, AV_CODEC_ID_WEBVTT,
                                            AV_CODEC_ID_MOV_TEXT, AV_CODEC_ID_NONE};
    const enum AVCodecID *ids = av_match_name(out_fmt->name, "mp4,mov,ipod,3gp,3g2,psp,ismv") ? mp4_family : others;
    for (; *ids != AV_CODEC_ID_NONE; ids++) {
        if (avformat_query_codec(out_fmt, *ids, FF_COMPLIANCE_NORMAL) == 1 && avcodec_find_encoder(*ids))
            return *ids;
    }
    return AV_CODEC_ID_NONE;
}

/*
 * Sets up the subtitle path for a text subtitle: decoder (which turns any
 * text format into ASS events and gives an ASS header), the chosen encoder
 * with that header (the text encoders need it to open), and out_stream in
 * the input's time base. Bitmap subtitles cannot become text: UM_ERR_OUTPUT.
 */
static int open_subtitle(um_stream_convert *conv, const AVStream *in_stream, const AVOutputFormat *out_fmt,
                         um_error *err)
{
    int result = -1;
    const AVCodecDescriptor *desc = avcodec_descriptor_get(in_stream->codecpar->codec_id);
    if (!desc || !(desc->props & AV_CODEC_PROP_TEXT_SUB)) {
        set_cannot_convert(err, in_stream, out_fmt,
                           desc && (desc->props & AV_CODEC_PROP_BITMAP_SUB)
                               ? "bitmap subtitles cannot be turned into a text format the container takes"
                               : "not a text subtitle");
        goto fail;
    }
    enum AVCodecID id = pick_subtitle_codec(out_fmt);
    if (id == AV_CODEC_ID_NONE) {
        set_cannot_convert(err, in_stream, out_fmt, "the container takes none of subrip, ass, webvtt, mov_text");
        goto fail;
    }
    if (open_decoder(conv, in_stream, err) < 0)
        goto fail;
    if (!conv->dec->subtitle_header || conv->dec->subtitle_header_size <= 0) {
        um_error_set(err, UM_ERR_INPUT, "cannot convert subtitle stream #%d (%s): its decoder gives no ASS header",
                     in_stream->index, avcodec_get_name(in_stream->codecpar->codec_id));
        goto fail;
    }
    /* By name first: AV_CODEC_ID_SUBRIP's first encoder is the legacy "srt". */
    const AVCodec *codec = avcodec_find_encoder_by_name(avcodec_get_name(id));
    if (!codec)
        codec = avcodec_find_encoder(id);
    AVCodecContext *enc = um_check_alloc(avcodec_alloc_context3(codec), "an encoder context");
    conv->enc = enc;
    size_t header_size = (size_t)conv->dec->subtitle_header_size;
    enc->subtitle_header = um_check_alloc(av_mallocz(header_size + 1), "a subtitle header");
    memcpy(enc->subtitle_header, conv->dec->subtitle_header, header_size);
    enc->subtitle_header_size = conv->dec->subtitle_header_size;
    conv->sub_tb = in_stream->time_base.num > 0 && in_stream->time_base.den > 0 ? in_stream->time_base
                                                                                : (AVRational){1, 1000};
    enc->time_base = conv->sub_tb;
    if (out_fmt->flags & AVFMT_GLOBALHEADER)
        enc->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    int ret = avcodec_open2(enc, codec, NULL);
    if (ret < 0) {
        um_error_av(err, UM_ERR_OUTPUT, ret, "cannot open the %s encoder for subtitle stream #%d", codec->name,
                    in_stream->index);
        goto fail;
    }
    ret = avcodec_parameters_from_context(conv->out_stream->codecpar, enc);
    if (ret < 0) {
        um_error_av(err, UM_ERR_OUTPUT, ret, "cannot set the parameters of output stream #%d", conv->out_stream->index);
        goto fail;
    }
    conv->out_stream->time_base = conv->sub_tb;
    result = 0;
fail:
    return result;
}

int um_stream_convert_open(um_stream_convert **conv, const AVStream *in_stream, const AVOutputFormat *out_fmt,
                           AVStream *out_stream, um_error *err)
{
    int result = -1;
    um_stream_convert *c = um_xcalloc(1, sizeof(*c));
    *conv = NULL;
    c->type = in_stream->codecpar->codec_type;
    c->in_index = in_stream->index;
    c->out_stream = out_stream;
    c->in_pkt = um_check_alloc(av_packet_alloc(), "a packet");
    c->out_pkt = um_check_alloc(av_packet_alloc(), "a packet");
    if (c->type == AVMEDIA_TYPE_AUDIO) {
        if (open_audio(c, in_stream, out_fmt, err) < 0)
            goto fail;
    } else if (c->type == AVMEDIA_TYPE_SUBTITLE) {
        if (open_subtitle(c, in_stream, out_fmt, err) < 0)
            goto fail;
    } else {
        set_cannot_convert(err, in_stream, out_fmt, NULL);
        goto fail;
    }
    *conv = c;
    c = NULL;
    result = 0;
fail:
    um_stream_convert_free(&c);
    return result;
}

const char *um_stream_convert_codec_name(const um_stream_convert *conv)
{
    return conv && conv->enc ? avcodec_get_name(conv->enc->codec_id) : "none";
}

/*
 * Hands conv->out_pkt (timestamps in from_tb) to emit, rescaled into
 * out_stream->time_base as it is now: avformat_write_header may have
 * changed it since open. The packet is unreferenced afterwards, so emit may
 * take its reference (av_interleaved_write_frame does) or leave it.
 */
static int emit_packet(um_stream_convert *conv, AVRational from_tb, um_stream_convert_emit emit, void *opaque,
                       um_error *err)
{
    AVPacket *pkt = conv->out_pkt;
    av_packet_rescale_ts(pkt, from_tb, conv->out_stream->time_base);
    pkt->stream_index = conv->out_stream->index;
    int ret = emit(opaque, pkt, err);
    av_packet_unref(pkt);
    if (ret < 0) {
        um_error_set(err, UM_ERR_OUTPUT, "cannot write a converted packet of stream #%d", conv->in_index);
        return -1;
    }
    return 0;
}

/*
 * Sends one frame (NULL: end of stream) to the audio encoder and emits
 * every packet it has ready.
 */
static int encode_audio_frame(um_stream_convert *conv, const AVFrame *frame, um_stream_convert_emit emit,
                              void *opaque, um_error *err)
{
    int ret = avcodec_send_frame(conv->enc, frame);
    if (ret < 0) {
        um_error_av(err, UM_ERR_OUTPUT, ret, "cannot encode audio stream #%d as %s", conv->in_index,
                    conv->enc->codec->name);
        return -1;
    }
    for (;;) {
        ret = avcodec_receive_packet(conv->enc, conv->out_pkt);
        if (ret == AVERROR(EAGAIN) || ret == AVERROR_EOF)
            return 0;
        if (ret < 0) {
            um_error_av(err, UM_ERR_OUTPUT, ret, "cannot encode audio stream #%d as %s", conv->in_index,
                        conv->enc->codec->name);
            return -1;
        }
        if (emit_packet(conv, conv->enc->time_base, emit, opaque, err) < 0)
            return -1;
    }
}

/*
 * Encodes whole encoder frames from the fifo; with final, also the short
 * remainder (padded with silence to a full frame for an encoder that
 * cannot take a small last frame; AAC can). Each frame's pts is the
 * running sample count, which is what keeps the audio in sync.
 */
static int encode_from_fifo(um_stream_convert *conv, int final, um_stream_convert_emit emit, void *opaque,
                            um_error *err)
{
    int result = -1;
    AVCodecContext *enc = conv->enc;
    AVFrame *frame = NULL;
    int flexible = enc->codec->capabilities & (AV_CODEC_CAP_SMALL_LAST_FRAME | AV_CODEC_CAP_VARIABLE_FRAME_SIZE);
    for (;;) {
        int have = av_audio_fifo_size(conv->fifo);
        if (have == 0 || (have < conv->frame_size && !final))
            break;
        int n = have < conv->frame_size ? have : conv->frame_size;
        frame = um_check_alloc(av_frame_alloc(), "a frame");
        frame->nb_samples = n < conv->frame_size && !flexible ? conv->frame_size : n;
        frame->format = enc->sample_fmt;
        frame->sample_rate = enc->sample_rate;
        int ret = av_channel_layout_copy(&frame->ch_layout, &enc->ch_layout);
        if (ret >= 0)
            ret = av_frame_get_buffer(frame, 0);
        if (ret < 0) {
            um_error_av(err, UM_ERR_OTHER, ret, "cannot allocate an audio frame for stream #%d", conv->in_index);
            goto fail;
        }
        if (av_audio_fifo_read(conv->fifo, (void **)frame->extended_data, n) != n) {
            um_error_set(err, UM_ERR_OTHER, "cannot read %d samples from the audio fifo of stream #%d", n,
                         conv->in_index);
            goto fail;
        }
        if (frame->nb_samples > n)
            av_samples_set_silence(frame->extended_data, n, frame->nb_samples - n, enc->ch_layout.nb_channels,
                                   enc->sample_fmt);
        frame->pts = conv->next_pts;
        conv->next_pts += frame->nb_samples;
        if (encode_audio_frame(conv, frame, emit, opaque, err) < 0)
            goto fail;
        av_frame_free(&frame);
    }
    result = 0;
fail:
    av_frame_free(&frame);
    return result;
}

/*
 * (Re)creates the resampler for the format of frame; a stream whose format
 * changes mid-way gets the old resampler's buffered samples drained into
 * the fifo first (by the caller). The frame's unspecified layout, if any,
 * is read as the default layout for its channel count.
 */
static int setup_resampler(um_stream_convert *conv, const AVFrame *frame, um_error *err)
{
    int result = -1;
    swr_free(&conv->swr);
    int ret = usable_layout(&conv->swr_in_layout, &frame->ch_layout);
    if (ret < 0) {
        um_error_av(err, UM_ERR_INPUT, ret, "cannot read the channel layout of audio stream #%d", conv->in_index);
        goto fail;
    }
    conv->swr_in_fmt = frame->format;
    conv->swr_in_rate = frame->sample_rate;
    ret = swr_alloc_set_opts2(&conv->swr, &conv->enc->ch_layout, conv->enc->sample_fmt, conv->enc->sample_rate,
                              &conv->swr_in_layout, conv->swr_in_fmt, conv->swr_in_rate, 0, NULL);
    if (ret >= 0)
        ret = swr_init(conv->swr);
    if (ret < 0) {
        char layout[64];
        av_channel_layout_describe(&conv->swr_in_layout, layout, sizeof(layout));
        um_error_av(err, UM_ERR_INPUT, ret, "cannot resample audio stream #%d from %s %d Hz %s", conv->in_index,
                    av_get_sample_fmt_name(conv->swr_in_fmt) ? av_get_sample_fmt_name(conv->swr_in_fmt) : "?",
                    conv->swr_in_rate, layout);
        goto fail;
    }
    result = 0;
fail:
    return result;
}

/*
 * Whether frame's format differs from the one the resampler was set up
 * for (always true before the first frame).
 */
static int resampler_stale(const um_stream_convert *conv, const AVFrame *frame)
{
    AVChannelLayout layout = {0};
    if (!conv->swr)
        return 1;
    if (frame->format != conv->swr_in_fmt || frame->sample_rate != conv->swr_in_rate)
        return 1;
    if (usable_layout(&layout, &frame->ch_layout) < 0)
        return 1;
    int differs = av_channel_layout_compare(&layout, &conv->swr_in_layout) != 0;
    av_channel_layout_uninit(&layout);
    return differs;
}

/*
 * Converts frame (NULL: drain what the resampler still holds) to the
 * encoder's format and appends it to the fifo.
 */
static int resample_to_fifo(um_stream_convert *conv, const AVFrame *frame, um_error *err)
{
    int result = -1;
    uint8_t **buf = NULL;
    const AVCodecContext *enc = conv->enc;
    int in_samples = frame ? frame->nb_samples : 0;
    int room = swr_get_out_samples(conv->swr, in_samples);
    if (room < 0) {
        um_error_av(err, UM_ERR_OTHER, room, "cannot resample audio stream #%d", conv->in_index);
        goto fail;
    }
    if (room == 0)
        return 0;
    int ret = av_samples_alloc_array_and_samples(&buf, NULL, enc->ch_layout.nb_channels, room, enc->sample_fmt, 0);
    if (ret < 0) {
        um_error_av(err, UM_ERR_OTHER, ret, "cannot allocate %d samples to resample audio stream #%d", room,
                    conv->in_index);
        goto fail;
    }
    int n = swr_convert(conv->swr, buf, room, frame ? (const uint8_t **)frame->extended_data : NULL, in_samples);
    if (n < 0) {
        um_error_av(err, UM_ERR_OTHER, n, "cannot resample audio stream #%d", conv->in_index);
        goto fail;
    }
    if (n > 0 && av_audio_fifo_write(conv->fifo, (void **)buf, n) != n) {
        um_error_set(err, UM_ERR_OTHER, "cannot buffer %d samples of audio stream #%d", n, conv->in_index);
        goto fail;
    }
    result = 0;
fail:
    if (buf)
        av_freep(&buf[0]);
    av_freep(&buf);
    return result;
}

/*
 * Takes one decoded frame through the resampler into the fifo and encodes
 * every whole encoder frame that is then ready.
 */
static int process_audio_frame(um_stream_convert *conv, const AVFrame *frame, um_stream_convert_emit emit,
                               void *opaque, um_error *err)
{
    if (resampler_stale(conv, frame)) {
        if (conv->swr && resample_to_fifo(conv, NULL, err) < 0)
            return -1;
        if (setup_resampler(conv, frame, err) < 0)
            return -1;
    }
    if (resample_to_fifo(conv, frame, err) < 0)
        return -1;
    return encode_from_fifo(conv, 0, emit, opaque, err);
}

/*
 * Sends pkt (NULL: drain) to the audio decoder and processes every frame
 * it returns. A packet the decoder rejects fails the stream: skipping it
 * would shift all later audio against the video.
 */
static int decode_audio(um_stream_convert *conv, const AVPacket *pkt, um_stream_convert_emit emit, void *opaque,
                        um_error *err)
{
    int ret = avcodec_send_packet(conv->dec, pkt);
    if (ret < 0) {
        um_error_av(err, UM_ERR_INPUT, ret, "cannot decode audio stream #%d (%s)", conv->in_index,
                    conv->dec->codec->name);
        return -1;
    }
    for (;;) {
        ret = avcodec_receive_frame(conv->dec, conv->frame);
        if (ret == AVERROR(EAGAIN) || ret == AVERROR_EOF)
            return 0;
        if (ret < 0) {
            um_error_av(err, UM_ERR_INPUT, ret, "cannot decode audio stream #%d (%s)", conv->in_index,
                        conv->dec->codec->name);
            return -1;
        }
        ret = process_audio_frame(conv, conv->frame, emit, opaque, err);
        av_frame_unref(conv->frame);
        if (ret < 0)
            return -1;
    }
}

/*
 * Audio send: the first packet fixes the timestamp origin (its pts, or dts,
 * or 0, in 1/sample_rate); NULL drains decoder, resampler, fifo and encoder
 * in that order.
 */
static int send_audio(um_stream_convert *conv, const AVPacket *pkt, um_stream_convert_emit emit, void *opaque,
                      um_error *err)
{
    if (pkt) {
        if (conv->next_pts == AV_NOPTS_VALUE) {
            int64_t origin = pkt->pts != AV_NOPTS_VALUE ? pkt->pts : pkt->dts != AV_NOPTS_VALUE ? pkt->dts : 0;
            conv->next_pts = av_rescale_q(origin, conv->dec->pkt_timebase, conv->enc->time_base);
        }
        return decode_audio(conv, pkt, emit, opaque, err);
    }
    if (decode_audio(conv, NULL, emit, opaque, err) < 0)
        return -1;
    if (conv->swr && resample_to_fifo(conv, NULL, err) < 0)
        return -1;
    if (encode_from_fifo(conv, 1, emit, opaque, err) < 0)
        return -1;
    return encode_audio_frame(conv, NULL, emit, opaque, err);
}

/*
 * The pts and duration (in the input's time base) of the cue decoded from
 * pkt: the packet's pts (or dts) moved by the cue's start_display_time, and
 * the packet's duration, or the cue's own display time when the packet has
 * none. Also rebases the cue to start at 0, which avcodec_encode_subtitle
 * requires. Returns 0, or -1 when the packet has no timestamp at all.
 */
static int cue_timing(const um_stream_convert *conv, const AVPacket *pkt, AVSubtitle *sub, int64_t *pts,
                      int64_t *duration)
{
    AVRational ms = {1, 1000};
    int64_t base = pkt->pts != AV_NOPTS_VALUE ? pkt->pts : pkt->dts;
    if (base == AV_NOPTS_VALUE)
        return -1;
    *pts = base + av_rescale_q(sub->start_display_time, ms, conv->sub_tb);
    *duration = pkt->duration;
    if (*duration <= 0 && sub->end_display_time != UINT32_MAX && sub->end_display_time > sub->start_display_time)
        *duration = av_rescale_q(sub->end_display_time - sub->start_display_time, ms, conv->sub_tb);
    if (sub->end_display_time != UINT32_MAX)
        sub->end_display_time -= sub->start_display_time;
    sub->start_display_time = 0;
    return 0;
}

/*
 * Encodes one decoded cue into conv->out_pkt (at most SUB_MAX_PACKET bytes)
 * and emits it with the given timing.
 */
static int encode_cue(um_stream_convert *conv, const AVSubtitle *sub, int64_t pts, int64_t duration,
                      um_stream_convert_emit emit, void *opaque, um_error *err)
{
    AVPacket *out = conv->out_pkt;
    int ret = av_new_packet(out, SUB_MAX_PACKET);
    if (ret < 0) {
        um_error_av(err, UM_ERR_OTHER, ret, "cannot allocate a subtitle packet for stream #%d", conv->in_index);
        return -1;
    }
    ret = avcodec_encode_subtitle(conv->enc, out->data, out->size, sub);
    if (ret < 0) {
        av_packet_unref(out);
        um_error_av(err, UM_ERR_OUTPUT, ret, "cannot encode a cue of subtitle stream #%d as %s (at most %d bytes)",
                    conv->in_index, conv->enc->codec->name, SUB_MAX_PACKET);
        return -1;
    }
    av_shrink_packet(out, ret);
    out->pts = pts;
    out->dts = pts;
    out->duration = duration;
    out->flags |= AV_PKT_FLAG_KEY;
    return emit_packet(conv, conv->sub_tb, emit, opaque, err);
}

/*
 * Subtitle send: decodes the cue in pkt and emits it re-encoded. Text
 * decoders hold nothing back, so NULL (flush) has nothing to do. A cue the
 * decoder rejects, or one without a timestamp, is skipped with a warning:
 * each cue carries its own timing, so losing one shifts nothing else.
 */
static int send_subtitle(um_stream_convert *conv, const AVPacket *pkt, um_stream_convert_emit emit, void *opaque,
                         um_error *err)
{
    int result = -1;
    AVSubtitle sub = {0};
    int got = 0;
    if (!pkt)
        return 0;
    int ret = av_packet_ref(conv->in_pkt, pkt);
    if (ret < 0) {
        um_error_av(err, UM_ERR_OTHER, ret, "cannot reference a packet of subtitle stream #%d", conv->in_index);
        return -1;
    }
    ret = avcodec_decode_subtitle2(conv->dec, &sub, &got, conv->in_pkt);
    if (ret < 0) {
        um_log(UM_LOG_WARN, "subtitle stream #%d: skipping a cue the %s decoder rejects", conv->in_index,
               conv->dec->codec->name);
        result = 0;
        goto fail;
    }
    if (!got || sub.num_rects == 0) {
        result = 0;
        goto fail;
    }
    int64_t pts, duration;
    if (cue_timing(conv, conv->in_pkt, &sub, &pts, &duration) < 0) {
        um_log(UM_LOG_WARN, "subtitle stream #%d: skipping a cue without a timestamp", conv->in_index);
        result = 0;
        goto fail;
    }
    if (encode_cue(conv, &sub, pts, duration, emit, opaque, err) < 0)
        goto fail;
    result = 0;
fail:
    if (got)
        avsubtitle_free(&sub);
    av_packet_unref(conv->in_pkt);
    return result;
}

int um_stream_convert_send(um_stream_convert *conv, const AVPacket *in_pkt, um_stream_convert_emit emit,
                           void *opaque, um_error *err)
{
    if (conv->flushed) {
        if (!in_pkt)
            return 0;
        um_error_set(err, UM_ERR_OTHER, "stream #%d: packet sent to the converter after it was flushed",
                     conv->in_index);
        return -1;
    }
    if (!in_pkt)
        conv->flushed = 1;
    if (conv->type == AVMEDIA_TYPE_AUDIO)
        return send_audio(conv, in_pkt, emit, opaque, err);
    return send_subtitle(conv, in_pkt, emit, opaque, err);
}

void um_stream_convert_free(um_stream_convert **conv)
{
    um_stream_convert *c = *conv;
    if (!c)
        return;
    avcodec_free_context(&c->dec);
    avcodec_free_context(&c->enc);
    av_packet_free(&c->in_pkt);
    av_packet_free(&c->out_pkt);
    av_frame_free(&c->frame);
    swr_free(&c->swr);
    av_channel_layout_uninit(&c->swr_in_layout);
    if (c->fifo)
        av_audio_fifo_free(c->fifo);
    free(c);
    *conv = NULL;
}
