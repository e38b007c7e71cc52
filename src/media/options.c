/*
 * The media options' defaults, and the checks the trim and size options
 * need before any file is opened, so a bad value is refused by name.
 */
#include <math.h>
#include <string.h>

#include "unmark/media.h"

/* Sizes beyond this are refused: no encoder here takes them. */
#define MAX_SIDE 16384

void um_media_options_init(um_media_options *o)
{
    memset(o, 0, sizeof(*o));
    o->crf = -1;
}

static int check_side(int v, const char *prefix, const char *name, um_error *err)
{
    if (v == 0 || (v >= 2 && v <= MAX_SIDE))
        return 0;
    um_error_set(err, UM_ERR_USAGE, "%s%s: %d pixels is out of range: give 2 to %d (or 0 to keep the input's)",
                 prefix, name, v, MAX_SIDE);
    return -1;
}

int um_media_options_check(const um_media_options *o, const char *prefix, um_error *err)
{
    if (!isfinite(o->start) || o->start < 0) {
        um_error_set(err, UM_ERR_USAGE, "%sstart: must be a time in seconds, 0 or more", prefix);
        return -1;
    }
    if (!isfinite(o->end) || o->end < 0 || (o->end > 0 && o->end <= o->start)) {
        um_error_set(err, UM_ERR_USAGE, "%send: must be a time in seconds after start (%g s), or 0 for the end",
                     prefix, o->start);
        return -1;
    }
    if (check_side(o->width, prefix, "width", err) < 0 || check_side(o->height, prefix, "height", err) < 0)
        return -1;
    if ((o->width || o->height) && o->transparent) {
        um_error_set(err, UM_ERR_USAGE, "%swidth/height: a transparent PNG keeps the input's size", prefix);
        return -1;
    }
    return 0;
}
