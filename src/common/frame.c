/* Geometry helpers of the planar frame view. */
#include "unmark/common.h"

static int is_chroma_plane(const um_frame *f, int p)
{
    return (p == 1 || p == 2) && !f->is_rgb;
}

int um_frame_plane_log2_w(const um_frame *f, int p)
{
    return is_chroma_plane(f, p) ? f->log2_chroma_w : 0;
}

int um_frame_plane_log2_h(const um_frame *f, int p)
{
    return is_chroma_plane(f, p) ? f->log2_chroma_h : 0;
}

int um_frame_plane_width(const um_frame *f, int p)
{
    int s = um_frame_plane_log2_w(f, p);
    return (f->width + (1 << s) - 1) >> s;
}

int um_frame_plane_height(const um_frame *f, int p)
{
    int s = um_frame_plane_log2_h(f, p);
    return (f->height + (1 << s) - 1) >> s;
}

int um_frame_covers(const um_frame *f, um_box box)
{
    return box.x1 >= f->x0 && box.y1 >= f->y0 && box.x2 <= f->x0 + f->width && box.y2 <= f->y0 + f->height;
}

int64_t um_box_overlap(um_box a, um_box b)
{
    int w = (a.x2 < b.x2 ? a.x2 : b.x2) - (a.x1 > b.x1 ? a.x1 : b.x1);
    int h = (a.y2 < b.y2 ? a.y2 : b.y2) - (a.y1 > b.y1 ? a.y1 : b.y1);
    return w > 0 && h > 0 ? (int64_t)w * h : 0;
}

static int clamp_to(int v, int hi) { return v < 0 ? 0 : v > hi ? hi : v; }

um_box um_box_grown(um_box b, int by, int width, int height)
{
    return (um_box){clamp_to(b.x1 - by, width), clamp_to(b.y1 - by, height), clamp_to(b.x2 + by, width),
                    clamp_to(b.y2 + by, height)};
}
