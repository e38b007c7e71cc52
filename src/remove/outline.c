/* Drawing boxes on a frame (detect --overlay): a two-pixel outline, white in
 * luma and green in chroma, so a person can check what detection found. */
#include <string.h>

#include "unmark/remove.h"

static void put_sample(const um_frame *f, int p, int x, int y, int value8)
{
    uint8_t *row = f->data[p] + (ptrdiff_t)y * f->linesize[p];
    if (f->depth > 8)
        ((uint16_t *)row)[x] = (uint16_t)(value8 << (f->depth - 8));
    else
        row[x] = (uint8_t)value8;
}

/* The colour of an outline in plane p: bright green as Y'CbCr (or G, B, R). */
static int outline_value(const um_frame *f, int p)
{
    static const int yuv[4] = {200, 60, 40, 255}, gbr[4] = {255, 0, 0, 255};
    return f->is_rgb ? gbr[p] : yuv[p];
}

static void outline_plane(const um_frame *f, int p, const um_region *b)
{
    int sx = um_frame_plane_log2_w(f, p), sy = um_frame_plane_log2_h(f, p);
    int pw = um_frame_plane_width(f, p), ph = um_frame_plane_height(f, p);
    int x1 = b->x >> sx, y1 = b->y >> sy, x2 = (b->x + b->w - 1) >> sx, y2 = (b->y + b->h - 1) >> sy;
    int thick = sx || sy ? 1 : 2, v = outline_value(f, p);
    for (int y = y1; y <= y2; y++)
        for (int x = x1; x <= x2; x++) {
            int edge = x - x1 < thick || x2 - x < thick || y - y1 < thick || y2 - y < thick;
            if (edge && x >= 0 && y >= 0 && x < pw && y < ph)
                put_sample(f, p, x, y, v);
        }
}

void um_remove_outline(um_frame *f, const um_region *boxes, int nb_boxes)
{
    for (int i = 0; i < nb_boxes; i++)
        for (int p = 0; p < f->nb_planes && p < 3; p++)
            outline_plane(f, p, &boxes[i]);
}
