/* op_elementwise.h — activations, GEGLU, binary ops with broadcasting, affine scale, concat.
 *
 * The glue between the UNet's and CLIP's big kernels: SiLU (ResnetBlock2D, time embedding),
 * GELU in its erf and tanh forms, quick-GELU (CLIP), GEGLU (Transformer2DModel's feed-forward),
 * a + b / a · b / a − b with b broadcast numpy-style to a's shape (time-embedding injection
 * [N,C,H,W] + [N,C,1,1], residuals), y = α·x + β, and concatenation along an axis (skip
 * connections). f32 storage and math. Outputs may be the same tensor as the first input when the
 * shapes match (in place); they must not partly overlap an input. */
#ifndef EVK_OP_ELEMENTWISE_H
#define EVK_OP_ELEMENTWISE_H

#include "core/stream.h"
#include "core/tensor.h"
#include "ops/activation.h"

#ifdef __cplusplus
extern "C" {
#endif

/* out = act(x); same shape. */
evk_status evk_op_activation(evk_stream *s, evk_activation act, const evk_tensor *x, const evk_tensor *out);
/* x [..., 2F] -> out [..., F]: out = x[..., :F] · act(x[..., F:]) (GEGLU with act = GELU). */
evk_status evk_op_gated(evk_stream *s, evk_activation act, const evk_tensor *x, const evk_tensor *out);
/* diffusers GEGLU: evk_op_gated with EVK_ACT_GELU. */
evk_status evk_op_geglu(evk_stream *s, const evk_tensor *x, const evk_tensor *out);
/* out = alpha·x + beta; same shape. */
evk_status evk_op_scale(evk_stream *s, const evk_tensor *x, float alpha, float beta, const evk_tensor *out);

/* out = a + b, a · b, a − b: out has a's shape; b has at most a's rank and each of its dims
 * (aligned to the right) equals a's or is 1. */
evk_status evk_op_add(evk_stream *s, const evk_tensor *a, const evk_tensor *b, const evk_tensor *out);
evk_status evk_op_mul(evk_stream *s, const evk_tensor *a, const evk_tensor *b, const evk_tensor *out);
evk_status evk_op_sub(evk_stream *s, const evk_tensor *a, const evk_tensor *b, const evk_tensor *out);

/* out = a ++ b along axis (negative counts from the end): all dims but axis equal. */
evk_status evk_op_concat(evk_stream *s, const evk_tensor *a, const evk_tensor *b, int axis, const evk_tensor *out);

#ifdef __cplusplus
}
#endif
#endif
