/* op_modulate.h — the adaptive-norm arithmetic of MMDiT (SD3) blocks: shift/scale modulation
 * x·(1 + scale) + shift and the gated residual h += gate·y, with scale, shift and gate read as
 * chunks of one conditioning projection emb [B, K·D] (diffusers' AdaLayerNormZero splits its
 * linear output into K = 6 chunks — shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp,
 * gate_mlp — 9 for SD3.5's dual-attention blocks, 2 (scale, shift) for AdaLayerNormContinuous).
 * f32 storage and math. */
#ifndef EVK_OP_MODULATE_H
#define EVK_OP_MODULATE_H

#include "core/stream.h"
#include "core/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* x, out: f32 [B, L, D] (out may be x); emb: f32 [B, K·D]; scale and shift: chunk indices < K.
 * out[b, l, :] = x[b, l, :] · (1 + emb[b, scale·D : (scale+1)·D]) + emb[b, shift·D : (shift+1)·D]. */
evk_status evk_op_modulate(evk_stream *s, const evk_tensor *x, const evk_tensor *emb, uint32_t scale, uint32_t shift,
                           const evk_tensor *out);
/* h, y: f32 [B, L, D] (distinct); emb: f32 [B, K·D]; gate < K: h[b, l, :] += emb[b, gate·D : (gate+1)·D] · y[b, l, :]. */
evk_status evk_op_gate_add(evk_stream *s, const evk_tensor *h, const evk_tensor *y, const evk_tensor *emb, uint32_t gate);

#ifdef __cplusplus
}
#endif
#endif
