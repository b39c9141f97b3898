/* transformer.c — spatial and temporal latent-diffusion transformers (see transformer.h). */
#include "nn/transformer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A Linear layer whose weight may be stored as a 1×1 convolution ([out, in, 1] or [out, in, 1, 1]). */
static evk_status evk__linear_load_1x1(evk_weights *ws, const char *prefix, int in, int out, evk_dtype st, evk_linear *l) {
    char n[320];
    snprintf(n, sizeof n, "%.300s.weight", prefix);
    int nd = 0;
    int64_t shape[EVK_ST_MAX_DIMS];
    if (!evk_weights_has(ws, n) || evk_weights_shape(ws, n, &nd, shape) || nd <= 2 || nd > 4)
        return evk_linear_load(ws, prefix, in, out, true, st, l); /* its own message when absent or mis-shaped */
    memset(l, 0, sizeof *l);
    l->in = in;
    l->out = out;
    int64_t want[4] = {out, in, 1, 1}, bs[1] = {out};
    EVK_TRY(evk_weights_get(ws, n, nd, want, st, &l->w));
    l->w.ndim = 2; /* [out, in, 1(, 1)] holds the same elements as [out, in] */
    snprintf(n, sizeof n, "%.300s.bias", prefix);
    return evk_weights_get(ws, n, 1, bs, EVK_DTYPE_F32, &l->b);
}

evk_status evk_transformer_load(evk_weights *ws, const char *p, const evk_transformer_config *cfg, evk_dtype st,
                                evk_transformer *t) {
    memset(t, 0, sizeof *t);
    t->cfg = *cfg;
    evk_transformer_config *c = &t->cfg;
    if (c->heads <= 0 || c->layers <= 0 || c->channels <= 0)
        return evk_fail(EVK_ERROR_FORMAT, "%s: %d heads, %d layers, %d channels", p, c->heads, c->layers, c->channels);
    if (!c->head_dim) {
        if (c->channels % c->heads)
            return evk_fail(EVK_ERROR_FORMAT, "%s: %d channels are not divisible into %d attention heads", p, c->channels, c->heads);
        c->head_dim = c->channels / c->heads;
    }
    if (c->groups <= 0 || c->channels % c->groups)
        return evk_fail(EVK_ERROR_FORMAT, "%s: %d channels are not divisible into %d groups", p, c->channels, c->groups);
    int d = t->inner = c->heads * c->head_dim, ch = c->channels;
    char n[320];
#define _N(...) (snprintf(n, sizeof n, __VA_ARGS__), n)
#define _T(x) EVK_TRY(x)
    _T(evk_norm_load(ws, _N("%s.norm", p), ch, c->groups, c->norm_eps, &t->norm));
    if (c->conv_proj) {
        /* 1×1 Conv2d weights are applied as convolutions (before the token transpose); Conv1d ones
         * (the temporal form) as Linear layers on the tokens */
        int64_t shape[EVK_ST_MAX_DIMS];
        int nd = 0;
        bool conv2d = evk_weights_has(ws, _N("%s.proj_in.weight", p)) && !evk_weights_shape(ws, n, &nd, shape) && nd == 4;
        if (conv2d) {
            _T(evk_conv2d_load(ws, _N("%s.proj_in", p), ch, d, 1, 1, 0, true, st, &t->proj_in_conv));
            _T(evk_conv2d_load(ws, _N("%s.proj_out", p), d, ch, 1, 1, 0, true, st, &t->proj_out_conv));
        } else {
            _T(evk__linear_load_1x1(ws, _N("%s.proj_in", p), ch, d, st, &t->proj_in));
            _T(evk__linear_load_1x1(ws, _N("%s.proj_out", p), d, ch, st, &t->proj_out));
        }
    } else {
        _T(evk_linear_load(ws, _N("%s.proj_in", p), ch, d, true, st, &t->proj_in));
        _T(evk_linear_load(ws, _N("%s.proj_out", p), d, ch, true, st, &t->proj_out));
    }
    t->block = calloc((size_t)c->layers, sizeof *t->block);
    if (!t->block) return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    for (int i = 0; i < c->layers; i++) {
        evk_transformer_block *b = &t->block[i];
        char bp[256];
        snprintf(bp, sizeof bp, "%.200s.transformer_blocks.%d", p, i);
        _T(evk_norm_load(ws, _N("%s.norm1", bp), d, 1, 1e-5f, &b->norm1));
        _T(evk_norm_load(ws, _N("%s.norm2", bp), d, 1, 1e-5f, &b->norm2));
        _T(evk_norm_load(ws, _N("%s.norm3", bp), d, 1, 1e-5f, &b->norm3));
        char q[300], k[300], v[300], o[300];
        for (int a = 1; a <= 2; a++) {
            snprintf(q, sizeof q, "%s.attn%d.to_q", bp, a);
            snprintf(k, sizeof k, "%s.attn%d.to_k", bp, a);
            snprintf(v, sizeof v, "%s.attn%d.to_v", bp, a);
            snprintf(o, sizeof o, "%s.attn%d.to_out.0", bp, a);
            int ctx = a == 2 && c->context_dim ? c->context_dim : d;
            _T(evk_attention_block_load(ws, &(evk_attention_names){q, k, v, o}, d, ctx, c->heads, false, false, st,
                                        a == 1 ? &b->attn1 : &b->attn2));
        }
        _T(evk_linear_load(ws, _N("%s.ff.net.0.proj", bp), d, 8 * d, true, st, &b->ff_in));
        _T(evk_linear_load(ws, _N("%s.ff.net.2", bp), 4 * d, d, true, st, &b->ff_out));
    }
#undef _T
#undef _N
    return EVK_OK;
}

void evk_transformer_free(evk_context *ctx, evk_transformer *t) {
    evk_norm_free(ctx, &t->norm);
    evk_conv2d_free(ctx, &t->proj_in_conv);
    evk_conv2d_free(ctx, &t->proj_out_conv);
    evk_linear_free(ctx, &t->proj_in);
    evk_linear_free(ctx, &t->proj_out);
    for (int i = 0; t->block && i < t->cfg.layers; i++) {
        evk_transformer_block *b = &t->block[i];
        evk_norm_free(ctx, &b->norm1);
        evk_norm_free(ctx, &b->norm2);
        evk_norm_free(ctx, &b->norm3);
        evk_attention_block_free(ctx, &b->attn1);
        evk_attention_block_free(ctx, &b->attn2);
        evk_linear_free(ctx, &b->ff_in);
        evk_linear_free(ctx, &b->ff_out);
    }
    free(t->block);
    t->block = NULL;
}

/* The blocks on tokens h [N, L, inner], in place; context NULL: attn2 is self-attention. */
static void evk__blocks(evk_nn *nn, const evk_transformer *t, evk_tensor *h, const evk_tensor *context) {
    for (int i = 0; i < t->cfg.layers; i++) {
        const evk_transformer_block *b = &t->block[i];
        evk_tensor x1 = evk_nn_layer_norm(nn, h, &b->norm1);
        evk_nn_attention_block_add(nn, &b->attn1, h, &x1, NULL);
        evk_nn_free(nn, &x1);
        evk_tensor x2 = evk_nn_layer_norm(nn, h, &b->norm2);
        evk_nn_attention_block_add(nn, &b->attn2, h, &x2, context);
        evk_nn_free(nn, &x2);
        evk_tensor x3 = evk_nn_layer_norm(nn, h, &b->norm3);
        evk_tensor f = evk_nn_linear(nn, &x3, &b->ff_in);
        evk_nn_free(nn, &x3);
        evk_tensor g = evk_nn_geglu(nn, &f);
        evk_nn_free(nn, &f);
        evk_tensor o = evk_nn_linear(nn, &g, &b->ff_out);
        evk_nn_free(nn, &g);
        evk_nn_add_into(nn, h, &o);
        evk_nn_free(nn, &o);
    }
}

evk_tensor evk_nn_transformer_spatial(evk_nn *nn, const evk_transformer *t, const evk_tensor *x, const evk_tensor *context) {
    int64_t B = x->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3], L = H * W, D = t->inner;
    bool conv = t->proj_in_conv.w.buf.block != NULL;
    if (!nn->status && (x->ndim != 4 || C != t->cfg.channels || (t->cfg.context_dim && !context)))
        evk_nn_fail(nn, evk_fail(EVK_ERROR_INVALID_ARGUMENT, "transformer: x must be [N, %d, H, W]%s", t->cfg.channels,
                                 t->cfg.context_dim ? " with a context" : ""));
    evk_tensor n = evk_nn_group_norm(nn, x, &t->norm, false);
    evk_tensor h;
    if (conv) {
        evk_tensor p = evk_nn_conv2d(nn, &n, &t->proj_in_conv);
        h = evk_nn_transpose(nn, &p, B, D, L, EVK_SHAPE(B, L, D));
        evk_nn_free(nn, &p);
    } else {
        evk_tensor tr = evk_nn_transpose(nn, &n, B, C, L, EVK_SHAPE(B, L, C));
        h = evk_nn_linear(nn, &tr, &t->proj_in);
        evk_nn_free(nn, &tr);
    }
    evk_nn_free(nn, &n);
    evk__blocks(nn, t, &h, t->cfg.context_dim ? context : NULL);
    evk_tensor out;
    if (conv) {
        evk_tensor tr = evk_nn_transpose(nn, &h, B, L, D, EVK_SHAPE(B, D, H, W));
        out = evk_nn_conv2d(nn, &tr, &t->proj_out_conv);
        evk_nn_free(nn, &tr);
    } else {
        evk_tensor p = evk_nn_linear(nn, &h, &t->proj_out);
        out = evk_nn_transpose(nn, &p, B, L, C, EVK_SHAPE(B, C, H, W));
        evk_nn_free(nn, &p);
    }
    evk_nn_free(nn, &h);
    evk_nn_add_into(nn, &out, x);
    return out;
}

evk_tensor evk_nn_transformer_temporal(evk_nn *nn, const evk_transformer *t, const evk_tensor *x, int frames) {
    int64_t F = frames, C = x->shape[1], H = x->shape[2], W = x->shape[3], L = H * W;
    if (!nn->status && (x->ndim != 4 || C != t->cfg.channels || F <= 0 || x->shape[0] % F || t->cfg.context_dim ||
                        t->proj_in_conv.w.buf.block))
        evk_nn_fail(nn, evk_fail(EVK_ERROR_INVALID_ARGUMENT,
                                 "temporal transformer: x must be [B·%d, %d, H, W], self-attention, Linear or Conv1d projections",
                                 frames, t->cfg.channels));
    int64_t B = nn->status ? 1 : x->shape[0] / F;
    /* [B, F, C·L] -> [B, C·L, F] = [B, C, L·F]: the clip's GroupNorm, then tokens [B·L, F, C] */
    evk_tensor xt = evk_nn_transpose(nn, x, B, F, C * L, EVK_SHAPE(B, C, L * F));
    evk_tensor n = evk_nn_group_norm(nn, &xt, &t->norm, false);
    evk_tensor tok = evk_nn_transpose(nn, &n, B, C, L * F, EVK_SHAPE(B * L, F, C));
    evk_nn_free(nn, &n);
    evk_tensor h = evk_nn_linear(nn, &tok, &t->proj_in);
    evk_nn_free(nn, &tok);
    evk__blocks(nn, t, &h, NULL);
    evk_tensor p = evk_nn_linear(nn, &h, &t->proj_out); /* [B·L, F, C] */
    evk_nn_free(nn, &h);
    evk_tensor pt = evk_nn_transpose(nn, &p, B, L * F, C, EVK_SHAPE(B, C, L * F));
    evk_nn_free(nn, &p);
    evk_nn_add_into(nn, &pt, &xt);
    evk_nn_free(nn, &xt);
    evk_tensor out = evk_nn_transpose(nn, &pt, B, C * L, F, EVK_SHAPE(B * F, C, H, W));
    evk_nn_free(nn, &pt);
    return out;
}
