/* op_norm.h — normalisations and softmax: row reductions followed by a per-row rewrite.
 *
 * Group norm follows torch.nn.GroupNorm over NCHW (N, C, spatial...): statistics per (n, group)
 * over C/G channels × all spatial positions, biased variance, then the per-channel affine
 * gamma/beta, optionally followed by SiLU (ResnetBlock2D's norm → SiLU, fused). Layer norm follows
 * torch.nn.LayerNorm over the last dim; RMS norm is diffusers' RMSNorm (no centring, no bias). Softmax is over the last dim; a row that is -inf
 * everywhere becomes zeros (PyTorch would give NaN). f32 storage and math; out may be the same
 * tensor as x (in place). On CPU devices the texel-buffer/subgroup builds are chosen when the row
 * length (and the spatial size for group norm) is divisible by 4. */
#ifndef EVK_OP_NORM_H
#define EVK_OP_NORM_H

#include <stdbool.h>

#include "core/stream.h"
#include "core/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* x, out: f32 [N, C, ...] (ndim >= 2); gamma, beta: f32 [C]; C % groups == 0; eps > 0
 * (diffusers: 1e-5 in ResnetBlock2D's and Transformer2DModel's GroupNorm, 1e-6 in the VAE). */
evk_status evk_op_group_norm(evk_stream *s, const evk_tensor *x, const evk_tensor *gamma, const evk_tensor *beta,
                             uint32_t groups, float eps, bool silu, const evk_tensor *out);
/* Group norm's statistics as a per-channel affine map instead of the normalised tensor:
 * out[n, c] = (a, b) with a = gamma[c]·rstd(n, g), b = beta[c] − mean(n, g)·a, so that
 * group_norm(x)[n, c, ...] = x[n, c, ...]·a + b (a consumer applies it while it reads x: see
 * evk_conv2d_params.input_affine). x: f32 [N, C, ...]; out: f32 [N, C, 2]; the rest as above. */
evk_status evk_op_group_norm_affine(evk_stream *s, const evk_tensor *x, const evk_tensor *gamma, const evk_tensor *beta,
                                    uint32_t groups, float eps, const evk_tensor *out);
/* x, out: f32 [..., F]; gamma, beta: f32 [F]; eps > 0 (CLIP: 1e-5). */
evk_status evk_op_layer_norm(evk_stream *s, const evk_tensor *x, const evk_tensor *gamma, const evk_tensor *beta,
                             float eps, const evk_tensor *out);
/* x, out: f32 [..., F]; gamma: f32 [F]: out = x / sqrt(mean(x²) + eps) · gamma over the last dim
 * (diffusers' RMSNorm with a weight; SD3.5's query/key norm uses eps 1e-6). */
evk_status evk_op_rms_norm(evk_stream *s, const evk_tensor *x, const evk_tensor *gamma, float eps, const evk_tensor *out);
/* x, out: f32 [..., F]: out = exp(x - max) / sum over the last dim. */
evk_status evk_op_softmax(evk_stream *s, const evk_tensor *x, const evk_tensor *out);

#ifdef __cplusplus
}
#endif
#endif
