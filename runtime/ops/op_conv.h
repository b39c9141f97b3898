/* op_conv.h — 2-D convolution (NCHW) and temporal convolution over the frames of a video.
 *
 * Both are implicit GEMMs: output channels × output pixels × (input channels · taps), with the
 * input patches gathered while they are loaded and never written out. conv2d is the UNet/VAE
 * convolution (any kernel size, stride, zero padding, groups = 1); the temporal convolution is
 * a video UNet's Conv3d with kernel (3, 1, 1): three taps along the frames of each clip, zero
 * past its first and last frame. Weights may be f32 or f16 (storage only; sums are f32); input,
 * bias and output are f32. Like matmul, a GPU kernel (shared-memory tiles) and a CPU kernel
 * (texel-buffer loads, register tiles) exist and are chosen from the device. */
#ifndef EVK_OP_CONV_H
#define EVK_OP_CONV_H

#include <stdint.h>

#include "core/stream.h"
#include "core/tensor.h"
#include "ops/op_variant.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct evk_conv2d_params {
    uint32_t stride;            /* 0 is taken as 1 */
    uint32_t padding;           /* zeros added on every side */
    evk_kernel_variant variant; /* AUTO unless a test or benchmark wants one family */
} evk_conv2d_params;

/* Record y = conv2d(x, w) + bias.
 * x: f32 [N, C, H, W]; w: f32/f16 [O, C, kh, kw]; bias: f32 [O] or NULL;
 * y: f32 [N, O, Ho, Wo] with Ho = (H + 2·padding − kh) / stride + 1 (likewise Wo).
 * params may be NULL (stride 1, no padding). */
evk_status evk_op_conv2d(evk_stream *s, const evk_tensor *x, const evk_tensor *w, const evk_tensor *bias,
                         const evk_tensor *y, const evk_conv2d_params *params);

typedef struct evk_temporal_conv_params {
    uint32_t frames;            /* F: frames per clip (required) */
    evk_kernel_variant variant;
} evk_temporal_conv_params;

/* Record y[b, f] = Σ_t w[:, :, t] · x[b, f + t − 1] + bias (zero outside 0 ≤ f + t − 1 < F).
 * x: f32 [B·F, C, H, W] with frames innermost of the batch; w: f32/f16 [O, C, 3] or
 * [O, C, 3, 1, 1]; bias: f32 [O] or NULL; y: f32 [B·F, O, H, W]. */
evk_status evk_op_temporal_conv(evk_stream *s, const evk_tensor *x, const evk_tensor *w, const evk_tensor *bias,
                                const evk_tensor *y, const evk_temporal_conv_params *params);

#ifdef __cplusplus
}
#endif
#endif
