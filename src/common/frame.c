/* Geometry helpers of the planar frame view. */
#include "unmark/common.h"

static int is_chroma_plane(const um_frame *f, int p)
{
    return (p == 1 || p == 2) && !f->is_rgb;
}

int um_frame_plane_width(const um_frame *f, int p)
{
    if (!is_chroma_plane(f, p))
        return f->width;
    return (f->width + (1 << f->log2_chroma_w) - 1) >> f->log2_chroma_w;
}

int um_frame_plane_height(const um_frame *f, int p)
{
    if (!is_chroma_plane(f, p))
        return f->height;
    return (f->height + (1 << f->log2_chroma_h) - 1) >> f->log2_chroma_h;
}
