/* attention.h — the attention block every network here uses: q = x·Wqᵀ (+b), k, v from the
 * context (x itself for self-attention), multi-head scaled-dot-product attention, then the output
 * projection. The UNet's transformer blocks (self and cross), CLIP's encoder layers (causal for
 * text) and the VAE's mid-block attention are this block with different weight names; the VAE
 * supplies its own attention core for shapes the fused kernel does not take. */
#ifndef EVK_NN_ATTENTION_H
#define EVK_NN_ATTENTION_H

#include <stdbool.h>

#include "nn/nn.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct evk_attention_block {
    evk_linear q, k, v, o;
    int heads;
    bool causal;
} evk_attention_block;

/* Weight names of the four projections, each a prefix for ".weight" / ".bias". */
typedef struct evk_attention_names { const char *q, *k, *v, *o; } evk_attention_names;

/* Load a block of `dim` channels whose keys and values come from a context of `context_dim`
 * channels (dim for self-attention). q/k/v carry a bias when qkv_bias; the output always does. */
evk_status evk_attention_block_load(evk_weights *ws, const evk_attention_names *names, int dim, int context_dim, int heads,
                                    bool qkv_bias, bool causal, evk_dtype storage, evk_attention_block *out);
void evk_attention_block_free(evk_context *ctx, evk_attention_block *a);

/* The attention core: q [B, Lq, heads·D], k and v [B, Lk, heads·D] -> a new [B, Lq, heads·D]. */
typedef evk_tensor (*evk_attention_core)(evk_nn *nn, const evk_tensor *q, const evk_tensor *k, const evk_tensor *v, int heads,
                                         bool causal, const void *user);

/* x [B, L, dim], context [B, Lk, context_dim] or NULL (self-attention) -> a new [B, L, dim]: the
 * output projection of the attention. core NULL: the fused kernel (evk_nn_attention). */
evk_tensor evk_nn_attention_block(evk_nn *nn, const evk_attention_block *a, const evk_tensor *x, const evk_tensor *context,
                                  evk_attention_core core, const void *user);
/* h += evk_nn_attention_block(a, x, context) with the fused kernel (the residual form). */
void evk_nn_attention_block_add(evk_nn *nn, const evk_attention_block *a, evk_tensor *h, const evk_tensor *x,
                                const evk_tensor *context);

#ifdef __cplusplus
}
#endif
#endif
