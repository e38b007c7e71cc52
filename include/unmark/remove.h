/*
 * unmark — remove: takes the watermark out of frames.
 *
 * The first remover fills user-named regions (rectangles, optionally limited
 * in time, and a mask image) from their surroundings with the inpainting
 * kernel, per plane, on the decoded planes. Plans are built once per set of
 * active regions and reused for every frame that shares it.
 */
#ifndef UNMARK_REMOVE_H
#define UNMARK_REMOVE_H

#include <stddef.h>
#include <stdint.h>

#include "unmark/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int x, y, w, h;     /* pixels */
    double start, end;  /* seconds; end < 0: to the end */
    /* Optional: which pixels of the rectangle to fill (w x h, shape_stride
     * apart, nonzero = fill); NULL fills the whole rectangle. */
    const uint8_t *shape;
    ptrdiff_t shape_stride;
} um_region;

/* Parses "x,y,w,h" or "x,y,w,h@START-END" (START/END in seconds, either may
 * be empty: "@5-" means from 5 s on). UM_ERR_USAGE on a malformed string. */
int um_remove_parse_region(const char *text, um_region *region, um_error *err);

typedef struct um_remover um_remover;

typedef struct {
    const um_region *regions;
    int nb_regions;
    const uint8_t *mask;    /* optional, mask_w x mask_h, nonzero = remove */
    int mask_w, mask_h;
    int transparent;        /* record the removed area in frame->removed */
} um_remove_config;

/* Checks the regions and mask against the frame size (UM_ERR_USAGE when one
 * lies outside the frame or the mask's size differs) and builds the remover. */
int um_remove_create(um_remover **remover, const um_remove_config *config, int width, int height,
                     um_error *err);
/* Boxes a frame may add (from detection); more are ignored. */
#define UM_REMOVE_MAX_BOXES 16

/* Fills the regions active at frame->time, and the frame's own boxes (from
 * detection; may be NULL), in place. */
int um_remove_frame(um_remover *remover, um_frame *frame, const um_region *boxes, int nb_boxes,
                    um_error *err);
void um_remove_free(um_remover **remover);

/* Draws the boxes' outlines on the frame instead of removing anything
 * (detect --overlay). */
void um_remove_outline(um_frame *frame, const um_region *boxes, int nb_boxes);

#ifdef __cplusplus
}
#endif
#endif
