/*
 * Tests for the stream converter: PCM -> AAC (timing, duration, that the
 * audio survives), text subtitles -> mov_text / webvtt / subrip, and the
 * refusals (video, bitmap subtitles). Streams are synthesised in memory: an
 * output context gives a real AVOutputFormat and out stream, an input
 * context only serves to own a fake input AVStream.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <libavutil/channel_layout.h>
#include <libavutil/intreadwrite.h>

#include "media/stream_convert.h"

#define MAX_PKTS 1024
#define TWO_PI 6.283185307179586

/* What the emit callback saw: the packets (taken over, as
 * av_interleaved_write_frame would) and the out time base at each call. */
typedef struct {
    AVPacket *pkts[MAX_PKTS];
    int n;
    const AVStream *out;
} sink;

typedef struct {
    AVFormatContext *oc, *ic;
    AVStream *in, *out;
} streams;

/* Takes the packet's reference, leaving pkt blank, to check that the
 * converter copes with a callback that consumes the packet. */
static int collect(void *opaque, AVPacket *pkt, um_error *err)
{
    sink *s = opaque;
    (void)err;
    assert_true(s->n < MAX_PKTS);
    assert_int_equal(pkt->stream_index, s->out->index);
    AVPacket *copy = av_packet_alloc();
    assert_non_null(copy);
    av_packet_move_ref(copy, pkt);
    s->pkts[s->n++] = copy;
    return 0;
}

static int refuse(void *opaque, AVPacket *pkt, um_error *err)
{
    (void)opaque;
    (void)pkt;
    um_error_set(err, UM_ERR_OUTPUT, "disk full");
    return -1;
}

static void sink_free(sink *s)
{
    for (int i = 0; i < s->n; i++)
        av_packet_free(&s->pkts[i]);
    s->n = 0;
}

/* An output context of the given container with one stream, and a fake
 * input stream of the given type and codec. */
static void streams_make(streams *s, const char *container, enum AVMediaType type, enum AVCodecID id,
                         AVRational tb)
{
    memset(s, 0, sizeof(*s));
    assert_true(avformat_alloc_output_context2(&s->oc, NULL, container, NULL) >= 0);
    s->out = avformat_new_stream(s->oc, NULL);
    assert_non_null(s->out);
    s->ic = avformat_alloc_context();
    assert_non_null(s->ic);
    s->in = avformat_new_stream(s->ic, NULL);
    assert_non_null(s->in);
    s->in->time_base = tb;
    s->in->codecpar->codec_type = type;
    s->in->codecpar->codec_id = id;
}

static void streams_free(streams *s)
{
    avformat_free_context(s->oc);
    avformat_free_context(s->ic);
}

/* ---- PCM -> AAC ------------------------------------------------------ */

typedef struct {
    enum AVCodecID codec;       /* pcm_s16le or pcm_f32le */
    int rate, channels;
    int unspec_layout;          /* only a channel count, no layout */
    AVRational in_tb;
    int64_t start_pts;          /* in in_tb */
    int seconds;
    AVRational out_tb_after_open; /* {0,0}: leave out_stream->time_base as set */
    /* expected */
    int out_rate;
    int64_t bit_rate;
} pcm_case;

/* One packet of 440 Hz sine at half scale, the same on every channel,
 * starting at sample `first`. */
static AVPacket *sine_packet(const pcm_case *pc, int64_t first, int samples)
{
    int bps = pc->codec == AV_CODEC_ID_PCM_S16LE ? 2 : 4;
    AVPacket *pkt = av_packet_alloc();
    assert_non_null(pkt);
    assert_int_equal(av_new_packet(pkt, samples * pc->channels * bps), 0);
    for (int i = 0; i < samples; i++) {
        double v = 0.5 * sin(TWO_PI * 440.0 * (double)(first + i) / pc->rate);
        for (int c = 0; c < pc->channels; c++) {
            uint8_t *p = pkt->data + ((size_t)i * pc->channels + c) * bps;
            if (bps == 2) {
                AV_WL16(p, (uint16_t)(int16_t)lrint(v * 32767));
            } else {
                union { float f; uint32_t u; } u = {.f = (float)v};
                AV_WL32(p, u.u);
            }
        }
    }
    pkt->pts = pkt->dts = pc->start_pts + av_rescale_q(first, (AVRational){1, pc->rate}, pc->in_tb);
    pkt->duration = av_rescale_q(samples, (AVRational){1, pc->rate}, pc->in_tb);
    return pkt;
}

/* Decodes the emitted AAC and checks the first channel is still a 440 Hz
 * sine of amplitude 0.5: RMS and zero crossings over the middle half. */
static void check_decoded_sine(const streams *s, const sink *sk, int64_t expected_samples)
{
    const AVCodec *codec = avcodec_find_decoder(AV_CODEC_ID_AAC);
    AVCodecContext *dec = avcodec_alloc_context3(codec);
    assert_non_null(dec);
    assert_true(avcodec_parameters_to_context(dec, s->out->codecpar) >= 0);
    assert_true(avcodec_open2(dec, codec, NULL) >= 0);
    AVFrame *frame = av_frame_alloc();
    float *pcm = calloc((size_t)expected_samples + 4096, sizeof(float));
    assert_non_null(pcm);
    int64_t n = 0;
    for (int i = 0; i <= sk->n; i++) {
        assert_true(avcodec_send_packet(dec, i < sk->n ? sk->pkts[i] : NULL) >= 0);
        while (avcodec_receive_frame(dec, frame) >= 0) {
            assert_int_equal(frame->format, AV_SAMPLE_FMT_FLTP);
            for (int j = 0; j < frame->nb_samples && n < expected_samples + 4096; j++)
                pcm[n++] = ((const float *)frame->extended_data[0])[j];
            av_frame_unref(frame);
        }
    }
    int rate = s->out->codecpar->sample_rate;
    int64_t from = 1024 + expected_samples / 4, to = 1024 + expected_samples * 3 / 4;
    assert_true(n >= to);
    double sum = 0;
    int crossings = 0;
    for (int64_t j = from; j < to; j++) {
        sum += (double)pcm[j] * pcm[j];
        if ((pcm[j - 1] < 0) != (pcm[j] < 0))
            crossings++;
    }
    double rms = sqrt(sum / (double)(to - from));
    assert_true(fabs(rms - 0.5 / sqrt(2)) < 0.02);
    double expected_crossings = 2 * 440.0 * (double)(to - from) / rate;
    assert_true(fabs(crossings - expected_crossings) <= 4);
    free(pcm);
    av_frame_free(&frame);
    avcodec_free_context(&dec);
}

static void run_pcm_case(const pcm_case *pc)
{
    streams s;
    streams_make(&s, "mp4", AVMEDIA_TYPE_AUDIO, pc->codec, pc->in_tb);
    AVCodecParameters *par = s.in->codecpar;
    par->sample_rate = pc->rate;
    if (pc->unspec_layout)
        par->ch_layout = (AVChannelLayout){.order = AV_CHANNEL_ORDER_UNSPEC, .nb_channels = pc->channels};
    else
        av_channel_layout_default(&par->ch_layout, pc->channels);
    par->format = pc->codec == AV_CODEC_ID_PCM_S16LE ? AV_SAMPLE_FMT_S16 : AV_SAMPLE_FMT_FLT;
    par->bits_per_coded_sample = pc->codec == AV_CODEC_ID_PCM_S16LE ? 16 : 32;

    um_error err = {0};
    um_stream_convert *conv = NULL;
    assert_int_equal(um_stream_convert_open(&conv, s.in, s.oc->oformat, s.out, &err), 0);
    assert_non_null(conv);
    assert_string_equal(um_stream_convert_codec_name(conv), "aac");
    const AVCodecParameters *op = s.out->codecpar;
    assert_int_equal(op->codec_type, AVMEDIA_TYPE_AUDIO);
    assert_int_equal(op->codec_id, AV_CODEC_ID_AAC);
    assert_int_equal(op->sample_rate, pc->out_rate);
    assert_int_equal(op->ch_layout.nb_channels, pc->channels);
    assert_int_equal(op->bit_rate, pc->bit_rate);
    assert_int_equal(op->frame_size, 1024);
    assert_true(op->extradata_size >= 2); /* AudioSpecificConfig, for the MP4 header */
    /* FFmpeg's native AAC encoder primes with one frame of padding. */
    assert_int_equal(op->initial_padding, 1024);
    assert_int_equal(s.out->time_base.num, 1);
    assert_int_equal(s.out->time_base.den, pc->out_rate);
    if (pc->out_tb_after_open.den) /* as avformat_write_header may do */
        s.out->time_base = pc->out_tb_after_open;
    AVRational out_tb = s.out->time_base;

    sink sk = {.out = s.out};
    int64_t total = (int64_t)pc->rate * pc->seconds;
    for (int64_t first = 0; first < total; first += 1000) {
        AVPacket *pkt = sine_packet(pc, first, (int)(total - first < 1000 ? total - first : 1000));
        assert_int_equal(um_stream_convert_send(conv, pkt, collect, &sk, &err), 0);
        av_packet_free(&pkt);
    }
    assert_int_equal(um_stream_convert_send(conv, NULL, collect, &sk, &err), 0);
    int after_flush = sk.n;
    assert_int_equal(um_stream_convert_send(conv, NULL, collect, &sk, &err), 0); /* flushing again: nothing */
    assert_int_equal(sk.n, after_flush);
    assert_int_equal(err.status, UM_OK);

    /* Timing, in samples of the output rate. */
    AVRational sr = {1, pc->out_rate};
    int64_t origin = av_rescale_q(pc->start_pts, pc->in_tb, sr);
    int64_t out_samples = av_rescale(total, pc->out_rate, pc->rate);
    assert_true(sk.n > 0);
    assert_int_equal(sk.pkts[0]->pts, av_rescale_q(origin - 1024, sr, out_tb));
    for (int i = 0; i < sk.n; i++) {
        const AVPacket *p = sk.pkts[i];
        assert_int_equal(p->dts, p->pts);
        assert_true(p->duration > 0);
        assert_true(p->size > 0);
        if (i > 0) {
            assert_true(p->pts > sk.pkts[i - 1]->pts);
            assert_int_equal(p->pts, sk.pkts[i - 1]->pts + sk.pkts[i - 1]->duration); /* no gaps */
        }
    }
    const AVPacket *last = sk.pkts[sk.n - 1];
    int64_t end = av_rescale_q(last->pts + last->duration, out_tb, sr);
    int64_t start = av_rescale_q(sk.pkts[0]->pts, out_tb, sr);
    /* Priming plus every input sample (resampling may add or drop a few). */
    assert_true(llabs(end - start - (1024 + out_samples)) <= (pc->rate == pc->out_rate ? 0 : 16));
    assert_int_equal(sk.n, (1024 + out_samples + 1023) / 1024);

    check_decoded_sine(&s, &sk, out_samples);

    AVPacket *late = sine_packet(pc, total, 1000);
    assert_int_equal(um_stream_convert_send(conv, late, collect, &sk, &err), -1);
    assert_int_equal(err.status, UM_ERR_OTHER);
    av_packet_free(&late);

    sink_free(&sk);
    um_stream_convert_free(&conv);
    assert_null(conv);
    um_stream_convert_free(&conv);
    streams_free(&s);
}

/* The brief's case: stereo s16 48 kHz in 1/48000, starting at 0.5 s. */
static void test_pcm_s16_to_aac(void **state)
{
    (void)state;
    pcm_case pc = {.codec = AV_CODEC_ID_PCM_S16LE, .rate = 48000, .channels = 2, .in_tb = {1, 48000},
                   .start_pts = 24000, .seconds = 1, .out_rate = 48000, .bit_rate = 128000};
    run_pcm_case(&pc);
}

/* A millisecond input time base (Matroska-like) whose packet timestamps
 * round, and an out time base changed after open: the output must still
 * advance by samples and arrive in the changed time base. */
static void test_pcm_ms_timebase_and_changed_out_tb(void **state)
{
    (void)state;
    pcm_case pc = {.codec = AV_CODEC_ID_PCM_S16LE, .rate = 48000, .channels = 2, .in_tb = {1, 1000},
                   .start_pts = 1500, .seconds = 1, .out_tb_after_open = {1, 90000}, .out_rate = 48000,
                   .bit_rate = 128000};
    run_pcm_case(&pc);
}

/* A rate AAC cannot carry goes to the nearest one it can (50 kHz -> 48 kHz),
 * through the resampler and its drain; mono gets half the stereo rate. */
static void test_pcm_f32_mono_unsupported_rate(void **state)
{
    (void)state;
    pcm_case pc = {.codec = AV_CODEC_ID_PCM_F32LE, .rate = 50000, .channels = 1, .in_tb = {1, 50000},
                   .start_pts = 0, .seconds = 1, .out_rate = 48000, .bit_rate = 64000};
    run_pcm_case(&pc);
}

/* Six channels given only as a count become 5.1; the bit rate scales with
 * the channels (3 pairs = 384 kb/s). */
static void test_pcm_six_channels_unspecified_layout(void **state)
{
    (void)state;
    pcm_case pc = {.codec = AV_CODEC_ID_PCM_S16LE, .rate = 44100, .channels = 6, .unspec_layout = 1,
                   .in_tb = {1, 44100}, .start_pts = 0, .seconds = 1, .out_rate = 44100, .bit_rate = 384000};
    run_pcm_case(&pc);
}

/* An emit failure is reported as the callback's error, not overwritten. */
static void test_emit_error_propagates(void **state)
{
    (void)state;
    streams s;
    streams_make(&s, "mp4", AVMEDIA_TYPE_AUDIO, AV_CODEC_ID_PCM_S16LE, (AVRational){1, 48000});
    s.in->codecpar->sample_rate = 48000;
    av_channel_layout_default(&s.in->codecpar->ch_layout, 2);
    s.in->codecpar->format = AV_SAMPLE_FMT_S16;
    um_error err = {0};
    um_stream_convert *conv = NULL;
    assert_int_equal(um_stream_convert_open(&conv, s.in, s.oc->oformat, s.out, &err), 0);
    pcm_case pc = {.codec = AV_CODEC_ID_PCM_S16LE, .rate = 48000, .channels = 2, .in_tb = {1, 48000}};
    int rc = 0;
    for (int64_t first = 0; first < 48000 && rc == 0; first += 1000) {
        AVPacket *pkt = sine_packet(&pc, first, 1000);
        rc = um_stream_convert_send(conv, pkt, refuse, NULL, &err);
        av_packet_free(&pkt);
    }
    assert_int_equal(rc, -1);
    assert_int_equal(err.status, UM_ERR_OUTPUT);
    assert_string_equal(err.msg, "disk full");
    um_stream_convert_free(&conv);
    streams_free(&s);
}

/* ---- subtitles ------------------------------------------------------- */

static AVPacket *text_packet(const char *data, size_t size, int64_t pts, int64_t duration)
{
    AVPacket *pkt = av_packet_alloc();
    assert_non_null(pkt);
    assert_int_equal(av_new_packet(pkt, (int)size), 0);
    memcpy(pkt->data, data, size);
    pkt->pts = pkt->dts = pts;
    pkt->duration = duration;
    return pkt;
}

static void test_subrip_to_mov_text(void **state)
{
    (void)state;
    streams s;
    streams_make(&s, "mp4", AVMEDIA_TYPE_SUBTITLE, AV_CODEC_ID_SUBRIP, (AVRational){1, 1000});
    um_error err = {0};
    um_stream_convert *conv = NULL;
    assert_int_equal(um_stream_convert_open(&conv, s.in, s.oc->oformat, s.out, &err), 0);
    assert_string_equal(um_stream_convert_codec_name(conv), "mov_text");
    assert_int_equal(s.out->codecpar->codec_type, AVMEDIA_TYPE_SUBTITLE);
    assert_int_equal(s.out->codecpar->codec_id, AV_CODEC_ID_MOV_TEXT);
    assert_true(s.out->codecpar->extradata_size > 0); /* the tx3g sample description */
    assert_int_equal(s.out->time_base.num, 1);
    assert_int_equal(s.out->time_base.den, 1000);
    s.out->time_base = (AVRational){1, 90000}; /* as avformat_write_header may do */

    sink sk = {.out = s.out};
    static const char *cues[] = {"Hello", "World <i>x</i>"};
    static const int64_t pts[] = {1000, 3000}, dur[] = {1500, 2000};
    for (int i = 0; i < 2; i++) {
        AVPacket *pkt = text_packet(cues[i], strlen(cues[i]), pts[i], dur[i]);
        assert_int_equal(um_stream_convert_send(conv, pkt, collect, &sk, &err), 0);
        av_packet_free(&pkt);
    }
    assert_int_equal(um_stream_convert_send(conv, NULL, collect, &sk, &err), 0);
    assert_int_equal(err.status, UM_OK);
    assert_int_equal(sk.n, 2);

    /* mov_text sample: 16-bit big-endian text length, the text, then boxes. */
    assert_int_equal(sk.pkts[0]->pts, 90000);
    assert_int_equal(sk.pkts[0]->dts, 90000);
    assert_int_equal(sk.pkts[0]->duration, 135000);
    assert_int_equal(sk.pkts[0]->size, 2 + 5);
    assert_int_equal(AV_RB16(sk.pkts[0]->data), 5);
    assert_memory_equal(sk.pkts[0]->data + 2, "Hello", 5);

    assert_int_equal(sk.pkts[1]->pts, 270000);
    assert_int_equal(sk.pkts[1]->duration, 180000);
    assert_int_equal(AV_RB16(sk.pkts[1]->data), 7);
    assert_memory_equal(sk.pkts[1]->data + 2, "World x", 7);
    assert_true(sk.pkts[1]->size > 2 + 7);                   /* a style box for the italics */
    assert_memory_equal(sk.pkts[1]->data + 2 + 7 + 4, "styl", 4);

    sink_free(&sk);
    um_stream_convert_free(&conv);
    streams_free(&s);
}

/* A container other than MP4/MOV gets the first of subrip, ass, webvtt,
 * mov_text it accepts: the webvtt muxer takes only webvtt. */
static void test_subrip_to_webvtt_container(void **state)
{
    (void)state;
    streams s;
    streams_make(&s, "webvtt", AVMEDIA_TYPE_SUBTITLE, AV_CODEC_ID_SUBRIP, (AVRational){1, 1000});
    um_error err = {0};
    um_stream_convert *conv = NULL;
    assert_int_equal(um_stream_convert_open(&conv, s.in, s.oc->oformat, s.out, &err), 0);
    assert_string_equal(um_stream_convert_codec_name(conv), "webvtt");
    assert_int_equal(s.out->codecpar->codec_id, AV_CODEC_ID_WEBVTT);
    sink sk = {.out = s.out};
    AVPacket *pkt = text_packet("Hi <b>there</b>", 15, 2500, 1000);
    assert_int_equal(um_stream_convert_send(conv, pkt, collect, &sk, &err), 0);
    av_packet_free(&pkt);
    assert_int_equal(sk.n, 1);
    assert_int_equal(sk.pkts[0]->pts, 2500);
    assert_int_equal(sk.pkts[0]->duration, 1000);
    assert_int_equal(sk.pkts[0]->size, (int)strlen("Hi <b>there</b>"));
    assert_memory_equal(sk.pkts[0]->data, "Hi <b>there</b>", sk.pkts[0]->size);
    sink_free(&sk);
    um_stream_convert_free(&conv);
    streams_free(&s);
}

/* mov_text (from an MP4) into Matroska becomes subrip, the first it takes. */
static void test_mov_text_to_matroska(void **state)
{
    (void)state;
    streams s;
    streams_make(&s, "matroska", AVMEDIA_TYPE_SUBTITLE, AV_CODEC_ID_MOV_TEXT, (AVRational){1, 1000});
    um_error err = {0};
    um_stream_convert *conv = NULL;
    assert_int_equal(um_stream_convert_open(&conv, s.in, s.oc->oformat, s.out, &err), 0);
    assert_string_equal(um_stream_convert_codec_name(conv), "subrip");
    sink sk = {.out = s.out};
    AVPacket *pkt = text_packet("\x00\x05Hello", 7, 400, 600);
    assert_int_equal(um_stream_convert_send(conv, pkt, collect, &sk, &err), 0);
    av_packet_free(&pkt);
    assert_int_equal(sk.n, 1);
    assert_int_equal(sk.pkts[0]->pts, 400);
    assert_int_equal(sk.pkts[0]->duration, 600);
    assert_int_equal(sk.pkts[0]->size, 5);
    assert_memory_equal(sk.pkts[0]->data, "Hello", 5);
    sink_free(&sk);
    um_stream_convert_free(&conv);
    streams_free(&s);
}

/* ---- refusals -------------------------------------------------------- */

static void expect_refusal(const char *container, enum AVMediaType type, enum AVCodecID id, const char *msg)
{
    streams s;
    streams_make(&s, container, type, id, (AVRational){1, 1000});
    if (type == AVMEDIA_TYPE_VIDEO) {
        s.in->codecpar->width = 64;
        s.in->codecpar->height = 64;
    }
    um_error err = {0};
    um_stream_convert *conv = (um_stream_convert *)&s; /* must be reset to NULL */
    assert_int_equal(um_stream_convert_open(&conv, s.in, s.oc->oformat, s.out, &err), -1);
    assert_null(conv);
    assert_int_equal(err.status, UM_ERR_OUTPUT);
    if (!strstr(err.msg, msg))
        fail_msg("message \"%s\" lacks \"%s\"", err.msg, msg);
    streams_free(&s);
}

static void test_video_is_refused(void **state)
{
    (void)state;
    expect_refusal("mp4", AVMEDIA_TYPE_VIDEO, AV_CODEC_ID_H264, "cannot convert video stream #0 (h264) for mp4");
}

static void test_bitmap_subtitle_is_refused(void **state)
{
    (void)state;
    expect_refusal("mp4", AVMEDIA_TYPE_SUBTITLE, AV_CODEC_ID_HDMV_PGS_SUBTITLE,
                   "cannot convert subtitle stream #0 (hdmv_pgs_subtitle) for mp4: bitmap subtitles");
}

static void test_data_stream_is_refused(void **state)
{
    (void)state;
    expect_refusal("mp4", AVMEDIA_TYPE_DATA, AV_CODEC_ID_BIN_DATA, "cannot convert data stream #0 (bin_data) for mp4");
}

int main(void)
{
    av_log_set_level(AV_LOG_ERROR);
    um_log_set_level(UM_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pcm_s16_to_aac),
        cmocka_unit_test(test_pcm_ms_timebase_and_changed_out_tb),
        cmocka_unit_test(test_pcm_f32_mono_unsupported_rate),
        cmocka_unit_test(test_pcm_six_channels_unspecified_layout),
        cmocka_unit_test(test_emit_error_propagates),
        cmocka_unit_test(test_subrip_to_mov_text),
        cmocka_unit_test(test_subrip_to_webvtt_container),
        cmocka_unit_test(test_mov_text_to_matroska),
        cmocka_unit_test(test_video_is_refused),
        cmocka_unit_test(test_bitmap_subtitle_is_refused),
        cmocka_unit_test(test_data_stream_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
