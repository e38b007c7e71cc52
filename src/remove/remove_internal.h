/*
 * Private to the remove module: a mark's matte as the fit leaves it and the
 * remover uses it.
 */
#ifndef UNMARK_REMOVE_INTERNAL_H
#define UNMARK_REMOVE_INTERNAL_H

#include "unmark/remove.h"

#define MATTE_MAX_PLANES 3

struct um_matte {
    um_box crop;                    /* frame pixels covered, aligned to the chroma grid */
    um_box mark;                    /* the detected box the matte was fitted at */
    int nb_planes;                  /* colour planes with an alpha below */
    int px[MATTE_MAX_PLANES], py[MATTE_MAX_PLANES]; /* the crop's corner in each plane */
    int pw[MATTE_MAX_PLANES], ph[MATTE_MAX_PLANES]; /* its size in each plane */
    float *alpha[MATTE_MAX_PLANES]; /* opacity per plane sample, 0..1 */
    float colour[MATTE_MAX_PLANES]; /* W per plane, in sample units */
};

#endif
