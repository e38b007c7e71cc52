/* Loading a mask image (--mask): any format the reader takes, brought to one
 * byte a pixel, white meaning "remove". */
#include <stdlib.h>
#include <string.h>

#include <libswscale/swscale.h>

#include "media/media_internal.h"

/* Converts the reader's current frame to packed 8-bit grey, thresholded. */
static int frame_to_mask(const AVFrame *f, uint8_t **mask, um_error *err)
{
    struct SwsContext *sws = sws_getContext(f->width, f->height, f->format, f->width, f->height,
                                            AV_PIX_FMT_GRAY8, SWS_POINT, NULL, NULL, NULL);
    if (!sws) {
        um_error_set(err, UM_ERR_OTHER, "cannot convert the mask to grey");
        return -1;
    }
    uint8_t *grey = um_xmalloc((size_t)f->width * f->height);
    uint8_t *dst[4] = {grey};
    int dst_stride[4] = {f->width};
    sws_scale(sws, (const uint8_t *const *)f->data, f->linesize, 0, f->height, dst, dst_stride);
    sws_freeContext(sws);
    for (size_t i = 0; i < (size_t)f->width * f->height; i++)
        grey[i] = grey[i] >= 128;
    *mask = grey;
    return 0;
}

int um_media_load_mask(const char *path, uint8_t **mask, int *w, int *h, um_error *err)
{
    um_media_options o;
    um_media_options_init(&o);
    o.hwdec = UM_HWDEC_NONE;
    um_media_reader *r = NULL;
    um_error rerr = {0};
    int result = -1;
    if (um_media_reader_open(&r, path, &o, &rerr) < 0)
        goto fail;
    um_frame *frame = NULL;
    um_media_packet *packet = NULL;
    int item;
    while ((item = um_media_reader_next(r, &frame, &packet, &rerr)) == UM_MEDIA_PACKET)
        ;
    if (item != UM_MEDIA_FRAME)
        goto fail;
    if (frame_to_mask(r->current, mask, &rerr) < 0)
        goto fail;
    *w = frame->width;
    *h = frame->height;
    result = 0;
fail:
    if (result < 0)
        um_error_set(err, UM_ERR_USAGE, "cannot use the mask %s: %s", path,
                     rerr.msg[0] ? rerr.msg : "it holds no picture");
    um_media_reader_close(&r);
    return result;
}
