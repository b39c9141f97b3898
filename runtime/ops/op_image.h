/* op_image.h — image kernels between models and rewards: a sample to a [0, 1] image, PIL-style
 * bicubic resizing, center crop with per-channel normalisation, and the whole CLIP image
 * preprocessing (transformers' CLIPImageProcessor: resize the shortest side, center crop,
 * (x − mean) / std) done on the GPU so a population never leaves the device. */
#ifndef EVK_OP_IMAGE_H
#define EVK_OP_IMAGE_H

#include <stdbool.h>

#include "core/stream.h"
#include "core/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* out = clamp(a·x + b, lo, hi), elementwise (out may be x). A model sample in [−1, 1] becomes an
 * image with a = 0.5, b = 0.5, lo = 0, hi = 1 (diffusers' postprocess). */
evk_status evk_op_affine_clamp(evk_stream *s, const evk_tensor *x, float a, float b, float lo, float hi, const evk_tensor *out);

/* x [..., H, W] -> out [..., H', W'] with PIL's bicubic filter (a = −0.5, support widened by the
 * shrink factor), horizontal then vertical; `tmp` holds [..., H, W'] (NULL: allocated and freed
 * inside the stream). Equal sizes copy. */
evk_status evk_op_resize_bicubic(evk_stream *s, const evk_tensor *x, const evk_tensor *tmp, const evk_tensor *out);

/* x [B, C, H, W] -> out [B, C, ch, cw]: rows top.., cols left.., then (v − mean[c]) / std[c]
 * (C ≤ 3 uses the first C entries; more channels reuse the last). */
evk_status evk_op_crop_normalize(evk_stream *s, const evk_tensor *x, uint32_t top, uint32_t left, const float mean[3],
                                 const float std[3], const evk_tensor *out);

/* Seam blending of tiled decoding, in place on b ([..., Hb, Wb]) from its neighbour a ([..., Ha, Wa]):
 * vertical: b's first `extent` rows = a's last `extent` rows · (1 − y/extent) + b · (y/extent)
 * (Wa = Wb); horizontal: the same with columns (Ha = Hb). extent ≤ min(Ha, Hb) (resp. widths). */
evk_status evk_op_blend_seam(evk_stream *s, const evk_tensor *a, const evk_tensor *b, uint32_t extent, bool vertical);
/* image[..., oy + y, ox + x] = tile[..., y, x] for y < h, x < w. */
evk_status evk_op_place(evk_stream *s, const evk_tensor *tile, uint32_t h, uint32_t w, uint32_t oy, uint32_t ox,
                        const evk_tensor *image);

/* The size transformers' shortest-edge resize produces: the short side becomes `shortest`, the
 * long side int(shortest · long / short). */
void evk_image_resize_shape(int64_t h, int64_t w, int64_t shortest, int64_t *out_h, int64_t *out_w);

#ifdef __cplusplus
}
#endif
#endif
