/* attention.c — the shared attention block (attention.h): projections, the attention core and
 * the output projection, freeing each temporary as soon as its last use is recorded. */
#include "nn/attention.h"

#include <stdio.h>
#include <string.h>

evk_status evk_attention_block_load(evk_weights *ws, const evk_attention_names *names, int dim, int context_dim, int heads,
                                    bool qkv_bias, bool causal, evk_dtype storage, evk_attention_block *out) {
    memset(out, 0, sizeof *out);
    out->heads = heads;
    out->causal = causal;
    EVK_TRY(evk_linear_load(ws, names->q, dim, dim, qkv_bias, storage, &out->q));
    EVK_TRY(evk_linear_load(ws, names->k, context_dim, dim, qkv_bias, storage, &out->k));
    EVK_TRY(evk_linear_load(ws, names->v, context_dim, dim, qkv_bias, storage, &out->v));
    EVK_TRY(evk_linear_load(ws, names->o, dim, dim, true, storage, &out->o));
    return EVK_OK;
}

void evk_attention_block_free(evk_context *ctx, evk_attention_block *a) {
    evk_linear_free(ctx, &a->q);
    evk_linear_free(ctx, &a->k);
    evk_linear_free(ctx, &a->v);
    evk_linear_free(ctx, &a->o);
}

static evk_tensor evk__fused(evk_nn *nn, const evk_tensor *q, const evk_tensor *k, const evk_tensor *v, int heads, bool causal,
                             const void *user) {
    (void)user;
    return evk_nn_attention(nn, q, k, v, heads, causal);
}

evk_tensor evk_nn_attention_block(evk_nn *nn, const evk_attention_block *a, const evk_tensor *x, const evk_tensor *context,
                                  evk_attention_core core, const void *user) {
    if (!context) context = x;
    if (!core) core = evk__fused;
    evk_tensor q = evk_nn_linear(nn, x, &a->q), k = evk_nn_linear(nn, context, &a->k), v = evk_nn_linear(nn, context, &a->v);
    evk_tensor att = core(nn, &q, &k, &v, a->heads, a->causal, user);
    evk_nn_free(nn, &q);
    evk_nn_free(nn, &k);
    evk_nn_free(nn, &v);
    evk_tensor o = evk_nn_linear(nn, &att, &a->o);
    evk_nn_free(nn, &att);
    return o;
}

void evk_nn_attention_block_add(evk_nn *nn, const evk_attention_block *a, evk_tensor *h, const evk_tensor *x,
                                const evk_tensor *context) {
    evk_tensor o = evk_nn_attention_block(nn, a, x, context, NULL, NULL);
    evk_nn_add_into(nn, h, &o);
    evk_nn_free(nn, &o);
}
