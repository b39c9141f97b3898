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

/* How conv2d computes a 3×3 stride-1 convolution. Winograd F(2×2, 3×3) turns each 2×2 output
 * tile into 16 products of transformed weights and inputs (2.25× fewer multiplies than the
 * direct sum): an input transform (padding and patch gather included), 16 batched products
 * (evk_op_matmul, in the kernel family `variant` picks) and an output transform that adds the
 * bias and writes NCHW. Its error against the exact sum is a small multiple of the direct
 * kernel's (tests/ops/test_op_conv.c states the bounds). */
/* AUTO's smallest channel count (in and out) for Winograd: it wins from a UNet's 256–320 channels
 * and loses at 32 on lavapipe (bench/CONV.md). evk_conv2d_load transforms weights from this size. */
#define EVK_CONV_WINOGRAD_MIN_CHANNELS 128

typedef enum evk_conv_algorithm {
    EVK_CONV_AUTO = 0,  /* Winograd for 3×3 stride-1 when C, O ≥ EVK_CONV_WINOGRAD_MIN_CHANNELS and Ho·Wo ≥ 64, or
                           whenever winograd_w is given; direct otherwise */
    EVK_CONV_DIRECT,    /* the implicit GEMM */
    EVK_CONV_WINOGRAD,  /* 3×3, stride 1 only */
} evk_conv_algorithm;

typedef struct evk_conv2d_params {
    uint32_t stride;            /* 0 is taken as 1 */
    uint32_t padding;           /* zeros added on every side */
    evk_kernel_variant variant; /* AUTO unless a test or benchmark wants one family */
    evk_conv_algorithm algorithm;
    /* optional: the weights already in Winograd form (evk_op_conv2d_winograd_weights), made once
     * per weight tensor; without them the Winograd path transforms w into a scratch tensor on
     * every call. With them, w may be NULL. */
    const evk_tensor *winograd_w;
    /* 0 or 1: none; 2: convolve x's nearest-neighbour 2× upsampling (x[…, i / 2, j / 2], what a
     * UNet's or VAE's Upsample2D feeds its convolution) without storing it: the Winograd input
     * transform reads x through it. The direct kernel upsamples into scratch first. */
    uint32_t upsample;
    /* optional, Winograd only: a group norm folded into the read. [N, C, 2] pairs (a, b) from
     * evk_op_group_norm_affine; every input value x becomes x·a + b, then SiLU with input_silu,
     * before the convolution (the zero padding stays zero, as after a norm): ResnetBlock2D's
     * norm → SiLU → conv without the normalised map in memory. */
    const evk_tensor *input_affine;
    bool input_silu;
} evk_conv2d_params;

/* Record y = conv2d(x, w) + bias.
 * x: f32 [N, C, H, W]; w: f32/f16 [O, C, kh, kw] (or NULL with params->winograd_w); bias: f32 [O]
 * or NULL; y: f32 [N, O, Ho, Wo] with Ho = (u·H + 2·padding − kh) / stride + 1 (likewise Wo), u
 * the upsampling factor (1 or 2).
 * params may be NULL (stride 1, no padding). */
evk_status evk_op_conv2d(evk_stream *s, const evk_tensor *x, const evk_tensor *w, const evk_tensor *bias,
                         const evk_tensor *y, const evk_conv2d_params *params);

/* Record u = the Winograd F(2×2, 3×3) form of 3×3 weights: u[ξ][o][c] = (G·w[o][c]·Gᵀ)[ξ/4][ξ%4]
 * with G = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1]. w: f32/f16 [O, C, 3, 3]; u: f32 or f16 [16, O, C] (f16
 * rounds the transformed values: see the error bounds in tests/ops/test_op_conv.c). */
evk_status evk_op_conv2d_winograd_weights(evk_stream *s, const evk_tensor *w, const evk_tensor *u);

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
