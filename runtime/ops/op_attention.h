/* op_attention.h — fused scaled-dot-product attention (self and cross, many heads).
 *
 * out = softmax(q·kᵀ·scale + mask)·v for every (batch, head), computed with an online softmax
 * so the Lq×Lk score matrix never exists: memory stays O(L·D), which is what lets a 64×64 latent
 * (L = 4096) attend on small devices. Operands use the [B, L, H, D] layout the UNet's and CLIP's
 * projections produce (no transposes): q [B, Lq, H, D], k and v [B, Lk, H, D], out [B, Lq, H, D].
 * f32 storage only (f32 math); D from 1 to 256 (SD 1.5's 1280-channel levels use 8 heads of 160). Two kernels share the algorithm: a shared-memory
 * tiled one for GPUs and a texel-buffer, barrier-free one chosen on CPU devices (lavapipe). */
#ifndef EVK_OP_ATTENTION_H
#define EVK_OP_ATTENTION_H

#include <stdbool.h>

#include "core/stream.h"
#include "core/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

#define EVK_ATTENTION_MAX_HEAD_DIM 256

typedef enum evk_attention_impl {
    EVK_ATTENTION_AUTO = 0, /* rows on CPU devices when the layout allows it, else tiled */
    EVK_ATTENTION_TILED,    /* shared-memory K/V tiles (GPUs) */
    EVK_ATTENTION_ROWS,     /* texel-buffer rows, no shared memory (CPU devices) */
} evk_attention_impl;

/* Usable zero-initialised: scale 1/sqrt(D), no mask, not causal, automatic kernel. */
typedef struct evk_attention_params {
    float scale;              /* 0: 1/sqrt(D) */
    const evk_tensor *mask;   /* NULL, or f32 additive mask [Lq, Lk] or [B, Lq, Lk] (-inf allowed) */
    bool causal;              /* key j is masked for query i when j > i (top-left aligned, as
                                 PyTorch's is_causal); combines with mask */
    evk_attention_impl impl;
} evk_attention_params;

/* Record attention. A query row whose scores are all -inf (fully masked) yields zeros, never NaN.
 * params may be NULL. */
evk_status evk_op_attention(evk_stream *s, const evk_tensor *q, const evk_tensor *k, const evk_tensor *v,
                            const evk_tensor *out, const evk_attention_params *params);

#ifdef __cplusplus
}
#endif
#endif
