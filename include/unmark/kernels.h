/*
 * unmark — kernels: pure pixel algorithms on (pointer, stride, width, height,
 * params). No FFmpeg, no frames, no allocation in the per-frame calls.
 *
 * Inpainting (Telea, "An Image Inpainting Technique Based on the Fast
 * Marching Method", 2004) is split in two: a plan, built once per mask, holds
 * the fast-marching order and the geometric weights, which depend on the mask
 * alone; applying the plan to a plane is then a cheap pass that costs
 * pixels x neighbours, the same for every frame of a video.
 */
#ifndef UNMARK_KERNELS_H
#define UNMARK_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct um_inpaint_plan um_inpaint_plan;

/*
 * Builds the plan for filling every pixel where mask != 0 (mask is w x h
 * bytes, mask_stride apart) from the known pixels around it, looking up to
 * radius pixels away. Returns NULL only when the mask selects nothing.
 * Pixels of the mask touching the plane's border are filled too.
 */
um_inpaint_plan *um_kernel_inpaint_plan(const uint8_t *mask, ptrdiff_t mask_stride, int w, int h,
                                        int radius);
void um_kernel_inpaint_plan_free(um_inpaint_plan *plan);
/* Number of pixels the plan fills. */
size_t um_kernel_inpaint_plan_size(const um_inpaint_plan *plan);

/* Fills the masked pixels of an 8-bit plane of the plan's size, in place. */
void um_kernel_inpaint_u8(const um_inpaint_plan *plan, uint8_t *plane, ptrdiff_t stride);
/* Same for 9..16-bit samples (stride in bytes); results clamp to max_value. */
void um_kernel_inpaint_u16(const um_inpaint_plan *plan, uint16_t *plane, ptrdiff_t stride,
                           int max_value);

/*
 * Subsamples a luma-sized mask (w x h) to a chroma plane's grid: a chroma
 * sample is masked when any luma pixel it covers is. out is
 * ceil(w / 2^log2_w) x ceil(h / 2^log2_h) bytes, out_stride apart.
 */
void um_kernel_mask_subsample(const uint8_t *mask, ptrdiff_t mask_stride, int w, int h, int log2_w,
                              int log2_h, uint8_t *out, ptrdiff_t out_stride);

/* Grows a mask by r pixels (square neighbourhood), from src into dst; both
 * w x h. Used to cover a mark's soft edge. */
void um_kernel_mask_dilate(const uint8_t *src, ptrdiff_t src_stride, int w, int h, int r,
                           uint8_t *dst, ptrdiff_t dst_stride);

#ifdef __cplusplus
}
#endif
#endif
