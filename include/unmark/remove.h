/*
 * unmark — remove: takes the watermark out of frames.
 *
 * Two ways, per region:
 *   - restoring: a semi-transparent mark mixes with the picture,
 *     J = a W + (1 - a) I. Its matte (a per pixel and W per plane, fitted
 *     from many frames of the video: um_matte_fit_*) inverts the blend and
 *     gives the picture back; only where a is so high that inverting would
 *     amplify noise too much (the residue) is the picture filled instead;
 *   - filling: user-named regions (rectangles, optionally limited in time,
 *     and a mask image) and marks without a matte are filled from their
 *     surroundings with the inpainting kernel.
 * Both work per plane on the decoded planes. Inpainting plans are built once
 * per set of active regions and reused for every frame that shares it.
 */
#ifndef UNMARK_REMOVE_H
#define UNMARK_REMOVE_H

#include <stddef.h>
#include <stdint.h>

#include "unmark/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A mark's matte: its opacity per pixel and colour per plane. */
typedef struct um_matte um_matte;

typedef struct {
    int x, y, w, h;     /* pixels */
    double start, end;  /* seconds; end < 0: to the end */
    /* Optional: which pixels of the rectangle to fill (w x h, shape_stride
     * apart, nonzero = fill); NULL fills the whole rectangle. */
    const uint8_t *shape;
    ptrdiff_t shape_stride;
    /* Optional, for the boxes given to um_remove_frame (detections): the
     * mark's matte; the box is then restored rather than filled, wherever
     * it lies within a few pixels of where the matte was fitted (elsewhere
     * it is filled). Ignored on the config's regions. */
    const um_matte *matte;
} um_region;

/* Parses "x,y,w,h" or "x,y,w,h@START-END" (START/END in seconds, either may
 * be empty: "@5-" means from 5 s on). UM_ERR_USAGE on a malformed string. */
int um_remove_parse_region(const char *text, um_region *region, um_error *err);

typedef struct um_remover um_remover;

typedef enum {
    UM_METHOD_AUTO = 0,  /* restore where a matte is known, fill the residue and the rest */
    UM_METHOD_UNBLEND,   /* restore as far as possible: residue only where a is nearly 1 */
    UM_METHOD_INPAINT    /* fill everything; mattes are ignored */
} um_remove_method;

/* Parses "auto", "unblend" or "inpaint". UM_ERR_USAGE otherwise. */
int um_remove_parse_method(const char *text, um_remove_method *method, um_error *err);

typedef struct {
    const um_region *regions;
    int nb_regions;
    const uint8_t *mask;    /* optional, mask_w x mask_h, nonzero = remove */
    int mask_w, mask_h;
    int transparent;        /* record the removed area in frame->removed */
    um_remove_method method;
} um_remove_config;

/* Checks the regions and mask against the frame size (UM_ERR_USAGE when one
 * lies outside the frame or the mask's size differs) and builds the remover. */
int um_remove_create(um_remover **remover, const um_remove_config *config, int width, int height,
                     um_error *err);
/* Boxes a frame may add (from detection); more are ignored. */
#define UM_REMOVE_MAX_BOXES 16

/* Fills the regions active at frame->time, and the frame's own boxes (from
 * detection; may be NULL), in place, with what the frames before tell.
 * Frames come in display order. */
int um_remove_frame(um_remover *remover, um_frame *frame, const um_region *boxes, int nb_boxes,
                    um_error *err);
/*
 * Restored areas are settled with what the frames after them tell too:
 * um_remove_settle rewrites a frame that went through um_remove_frame,
 * in place, once the next um_remove_lookahead(remover) frames have been
 * through it as well (or the video ended). Frames are settled in order; a
 * frame settled later than that keeps what um_remove_frame gave it.
 * The look-ahead is UM_REMOVE_LOOKAHEAD frames, or 0 with --transparent
 * (the mask frame->removed points at is the remover's, and later frames
 * may replace it).
 */
#define UM_REMOVE_LOOKAHEAD 8
int um_remove_lookahead(const um_remover *remover);
void um_remove_settle(um_remover *remover, um_frame *frame);
void um_remove_free(um_remover **remover);

/* ---- fitting a matte ------------------------------------------------- */
typedef struct um_matte_fit um_matte_fit;

/* A fit for frames of width x height. */
um_matte_fit *um_matte_fit_new(int width, int height);
/* Declares a spot: the box where a mark stands (frame pixels), which mark it
 * is (spots of one mark share its colour), and its shape (box-sized,
 * nonzero where the mark may be, shape_stride apart; NULL: all the box).
 * Returns the spot's index. */
int um_matte_fit_add_spot(um_matte_fit *fit, um_box box, int mark, const uint8_t *shape,
                          ptrdiff_t shape_stride);
/* Adds a frame in which the mark clearly stands at spot `spot` (keeps a
 * crop of it; at most 64 per spot, later ones are ignored). The frame may
 * itself be a crop (um_frame x0, y0) that covers um_matte_fit_needs(fit,
 * spot, 0); one that does not is ignored. */
void um_matte_fit_add_sample(um_matte_fit *fit, int spot, const um_frame *frame);
/* Adds a frame in which no mark stands over spot `spot` (the mark shows
 * elsewhere, or not at all), keeping at most 8, as a sample is kept. Over a
 * still camera these show the very picture under the mark: samples whose
 * picture around the mark matches them are fitted against it. */
void um_matte_fit_add_clear(um_matte_fit *fit, int spot, const um_frame *frame);
/* The frame area that a sample of spot (following = 0) or a frame given to
 * its tracked background (following = 1) must cover. */
um_box um_matte_fit_needs(const um_matte_fit *fit, int spot, int following);
/* The most of a width x height frame that the fit reads for a mark at box
 * (for a sample of it, or with following also for its tracked background):
 * what a caller keeping crops for the fit must keep. */
um_box um_matte_fit_reach(um_box box, int width, int height, int following);
int um_matte_fit_samples(const um_matte_fit *fit, int spot);
/* Declares that a spot's mark never leaves its place (a TV bug): the fit
 * then learns the scene behind it from the camera's motion, out of every
 * frame given to um_matte_fit_add_frame, and fits the matte against the
 * true picture wherever the camera has shown it beside the mark. */
void um_matte_fit_track_background(um_matte_fit *fit, int spot);
int um_matte_fit_tracks_background(const um_matte_fit *fit, int spot);
/* Gives tracked spot `spot` the next frame of the video, in order, before
 * that frame's um_matte_fit_add_sample calls (other spots ignore it). The
 * frame may be a crop that covers um_matte_fit_needs(fit, spot, 1); from
 * one that does not, the scene behind the mark is no longer followed. */
void um_matte_fit_add_frame(um_matte_fit *fit, int spot, const um_frame *frame);
/* A mark's matte given from outside (detect --save-template writes it,
 * remove --template reads it): its opacity on the luma grid, 0..255, and
 * its colour W per plane in 8-bit units: Y, U, V (full_range: spanning
 * 0-255, as JPEG's) or, with rgb, G, B, R. It is converted for pictures of
 * another kind; a chroma W < 0 is unknown and taken for a white or grey
 * mark's. */
typedef struct {
    int width, height;
    const uint8_t *alpha;
    ptrdiff_t stride;
    double colour[3];
    int rgb, full_range;
} um_matte_template;

/* Gives a spot the mark's matte as known beforehand (copied), `scale` times
 * its size in the frame. A spot with too few samples to fit its own matte
 * (a single picture) then gets the template's, placed on its samples to
 * the sub-pixel where un-blending it leaves the least trace of the mark. */
void um_matte_fit_set_template(um_matte_fit *fit, int spot, const um_matte_template *t, double scale);
/* Solves every spot: mattes[i] (free with um_matte_free) or NULL where there
 * were too few samples (fewer than UM_MATTE_FIT_MIN_SAMPLES) and no
 * template. */
#define UM_MATTE_FIT_MIN_SAMPLES 6
void um_matte_fit_solve(um_matte_fit *fit, um_matte **mattes);
void um_matte_fit_free(um_matte_fit **fit);
void um_matte_free(um_matte **matte);
/* The colour W per plane (sample units; 0 for a plane the matte lacks) and
 * the frame area the matte covers. */
void um_matte_describe(const um_matte *matte, double colour[3], um_box *crop);
/* The matte as a template (what detect --save-template writes): t->alpha
 * is the luma opacity over the matte's crop, owned by the caller (free()),
 * t->colour in 8-bit units. */
void um_matte_export(const um_matte *matte, um_matte_template *t);

/* Draws the boxes' outlines on the frame instead of removing anything
 * (detect --overlay). */
void um_remove_outline(um_frame *frame, const um_region *boxes, int nb_boxes);

#ifdef __cplusplus
}
#endif
#endif
