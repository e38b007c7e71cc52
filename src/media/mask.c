/* Loading a mask image (--mask): any format the reader takes, brought to one
 * byte a pixel, white meaning "remove". */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libswscale/swscale.h>

#include "media/media_internal.h"

/* Converts the reader's current frame to packed 8-bit grey. */
static int frame_to_grey(const AVFrame *f, uint8_t **grey_out, um_error *err)
{
    struct SwsContext *sws = sws_getContext(f->width, f->height, f->format, f->width, f->height,
                                            AV_PIX_FMT_GRAY8, SWS_POINT, NULL, NULL, NULL);
    if (!sws) {
        um_error_set(err, UM_ERR_OTHER, "cannot convert the picture to grey");
        return -1;
    }
    uint8_t *grey = um_xmalloc((size_t)f->width * f->height);
    uint8_t *dst[4] = {grey};
    int dst_stride[4] = {f->width};
    sws_scale(sws, (const uint8_t *const *)f->data, f->linesize, 0, f->height, dst, dst_stride);
    sws_freeContext(sws);
    *grey_out = grey;
    return 0;
}

int um_media_load_grey(const char *path, uint8_t **grey, int *w, int *h, um_error *err)
{
    um_media_options o;
    um_media_options_init(&o);
    o.hwdec = UM_HWDEC_NONE;
    um_media_reader *r = NULL;
    int result = -1;
    if (um_media_reader_open(&r, path, &o, err) < 0)
        goto fail;
    um_frame *frame = NULL;
    um_media_packet *packet = NULL;
    int item;
    while ((item = um_media_reader_next(r, &frame, &packet, err)) == UM_MEDIA_PACKET)
        ;
    if (item != UM_MEDIA_FRAME) {
        um_error_set(err, UM_ERR_INPUT, "%s holds no picture", path);
        goto fail;
    }
    if (frame_to_grey(r->current, grey, err) < 0)
        goto fail;
    *w = frame->width;
    *h = frame->height;
    result = 0;
fail:
    um_media_reader_close(&r);
    return result;
}

int um_media_load_mask(const char *path, uint8_t **mask, int *w, int *h, um_error *err)
{
    um_error lerr = {0};
    if (um_media_load_grey(path, mask, w, h, &lerr) < 0) {
        um_error_set(err, UM_ERR_USAGE, "cannot use the mask %s: %s", path, lerr.msg);
        return -1;
    }
    for (size_t i = 0; i < (size_t)*w * *h; i++)
        (*mask)[i] = (*mask)[i] >= 128;
    return 0;
}

int um_media_save_grey_png(const char *path, const uint8_t *data, int w, int h, ptrdiff_t stride,
                           um_error *err)
{
    const AVCodec *codec = avcodec_find_encoder(AV_CODEC_ID_PNG);
    AVCodecContext *enc = codec ? avcodec_alloc_context3(codec) : NULL;
    AVFrame *frame = av_frame_alloc();
    AVPacket *pkt = av_packet_alloc();
    FILE *f = NULL;
    int result = -1, ret;
    if (!enc || !frame || !pkt) {
        um_error_set(err, UM_ERR_OTHER, "cannot set up a PNG encoder for %s", path);
        goto fail;
    }
    enc->width = w;
    enc->height = h;
    enc->pix_fmt = AV_PIX_FMT_GRAY8;
    enc->time_base = (AVRational){1, 1};
    if ((ret = avcodec_open2(enc, codec, NULL)) < 0) {
        um_error_av(err, UM_ERR_OTHER, ret, "cannot open the PNG encoder for %s", path);
        goto fail;
    }
    frame->format = AV_PIX_FMT_GRAY8;
    frame->width = w;
    frame->height = h;
    if (av_frame_get_buffer(frame, 0) < 0) {
        um_error_set(err, UM_ERR_OTHER, "cannot allocate a picture for %s", path);
        goto fail;
    }
    for (int y = 0; y < h; y++)
        memcpy(frame->data[0] + (ptrdiff_t)y * frame->linesize[0], data + (ptrdiff_t)y * stride, (size_t)w);
    if ((ret = avcodec_send_frame(enc, frame)) < 0 || (ret = avcodec_receive_packet(enc, pkt)) < 0) {
        um_error_av(err, UM_ERR_OTHER, ret, "cannot encode %s", path);
        goto fail;
    }
    f = fopen(path, "wb");
    if (!f || fwrite(pkt->data, 1, (size_t)pkt->size, f) != (size_t)pkt->size || fclose(f) != 0) {
        um_error_set(err, UM_ERR_OUTPUT, "cannot write %s: %s", path, strerror(errno));
        f = NULL;
        goto fail;
    }
    f = NULL;
    result = 0;
fail:
    if (f)
        fclose(f);
    av_packet_free(&pkt);
    av_frame_free(&frame);
    avcodec_free_context(&enc);
    return result;
}
