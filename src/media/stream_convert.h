/*
 * Private to the media module: converting a passed-through stream that the
 * output container cannot take as it is (PCM audio into MP4 becomes AAC; a
 * text subtitle into MP4/MOV becomes mov_text).
 */
#ifndef UNMARK_MEDIA_STREAM_CONVERT_H
#define UNMARK_MEDIA_STREAM_CONVERT_H

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>

#include "unmark/common.h"

typedef struct um_stream_convert um_stream_convert;

/* Called for every packet the converter produces. pkt's timestamps are in
 * out_stream->time_base as it is at the time of the call (the converter keeps
 * its own time base and rescales each packet, so a time base that
 * avformat_write_header changed after open is honoured), and stream_index is
 * out_stream->index. emit may take pkt's reference (av_interleaved_write_frame
 * does) or leave it; the converter unreferences pkt afterwards either way.
 * Returns 0 or -1 (with err filled). */
typedef int (*um_stream_convert_emit)(void *opaque, AVPacket *pkt, um_error *err);

/*
 * Chooses the codec out_fmt takes for in_stream's media type (AAC for audio,
 * mov_text for text subtitles in MP4/MOV, else the first of subrip, ass,
 * webvtt, mov_text the muxer accepts), opens decoder and encoder, and fills
 * out_stream->codecpar (with extradata: call it before
 * avformat_write_header) and out_stream->time_base. out_stream is kept and
 * read at every emit, so it must outlive conv; in_stream is not kept.
 * UM_ERR_INPUT if the stream cannot be decoded, UM_ERR_OUTPUT if no codec
 * the container takes can carry it (video, data, bitmap subtitles). On
 * failure *conv is NULL.
 */
int um_stream_convert_open(um_stream_convert **conv, const AVStream *in_stream,
                           const AVOutputFormat *out_fmt, AVStream *out_stream, um_error *err);
/* The output codec's name ("aac", "mov_text", "subrip", ...), for the log line
 * that says the stream was converted. */
const char *um_stream_convert_codec_name(const um_stream_convert *conv);
/* Feeds one packet of the input stream (timestamps in in_stream->time_base);
 * NULL flushes (drains decoder, resampler and encoder); a second flush does
 * nothing, a packet after a flush is an error. Produced packets go to emit,
 * with timestamps in out_stream->time_base; emit may be called from any call,
 * the first included (a subtitle cue comes out at once), so write the header
 * before feeding packets.
 * Audio: the first packet's pts is the first sample's time; later packets'
 * timestamps are not read (audio advances by its samples, so gaps in the
 * input are closed up, not kept). The first AAC packet's pts is that time
 * minus initial_padding (1024 samples of priming), so the first real decoded
 * sample lands exactly on it (a negative pts becomes an MP4 edit list).
 * A packet the decoder rejects fails the stream (UM_ERR_INPUT).
 * Subtitles: one packet per cue, with the input packet's pts and duration;
 * a cue that cannot be decoded or has no timestamp is skipped with a
 * warning. */
int um_stream_convert_send(um_stream_convert *conv, const AVPacket *in_pkt,
                           um_stream_convert_emit emit, void *opaque, um_error *err);
void um_stream_convert_free(um_stream_convert **conv);

#endif
