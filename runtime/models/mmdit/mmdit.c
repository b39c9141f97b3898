/* mmdit.c — SD3Transformer2DModel (see mmdit.h): weights, the cropped sin-cos position table
 * (computed on the host as diffusers' get_2d_sincos_pos_embed does), and the forward pass,
 * recorded with the nn builder. Modulation chunks are read in place from each block's
 * conditioning projection (ops/op_modulate.h); the joint attention runs the fused kernel once
 * per query stream over the concatenated keys and values, so no split of the joint output is
 * needed. */
#include "models/mmdit/mmdit.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/nn.h"
#include "ops/op_elementwise.h"
#include "ops/op_embedding.h"
#include "ops/op_layout.h"
#include "ops/op_modulate.h"
#include "ops/op_norm.h"

#define EVK__MMDIT_EPS 1e-6f

typedef struct evk__mmdit_attn {
    evk_linear q, k, v, o;       /* to_q, to_k, to_v, to_out.0 */
    evk_linear aq, ak, av, ao;   /* add_{q,k,v}_proj, to_add_out (ao empty when context_pre_only; all empty for attn2) */
    evk_tensor nq, nk, naq, nak; /* RMS weights [head_dim] (empty without qk_norm) */
} evk__mmdit_attn;

typedef struct evk__mmdit_block {
    evk_linear norm1, norm1_ctx; /* AdaLN projections: 6·D (9·D dual) and 6·D (2·D pre-only) */
    evk__mmdit_attn attn, attn2;
    evk_linear ff0, ff2, cff0, cff2; /* ff.net.0.proj, ff.net.2, ff_context.* (absent pre-only) */
    bool dual, pre_only;
} evk__mmdit_block;

struct evk_mmdit {
    evk_context *ctx;
    evk_mmdit_config cfg;
    int D, heads, hd, height, width; /* latent size the position table was cropped for */
    evk_conv2d patch;
    evk_tensor pos; /* [h·w, D] */
    evk_linear t1, t2, p1, p2, context, norm_out, proj_out;
    evk_tensor ones, zeros; /* the affine of LayerNorm(elementwise_affine=False) */
    evk__mmdit_block *blocks;
    bool original; /* AdaLayerNormContinuous projections stored [shift | scale] (single files) */
};

const evk_mmdit_config *evk_mmdit_get_config(const evk_mmdit *m) { return &m->cfg; }

/* diffusers' get_2d_sincos_pos_embed(D, max, base_size) row for grid position (row r, column c):
 * [1-D embedding of the column coordinate | 1-D embedding of the row coordinate], each
 * [sin(pos·ω) | cos(pos·ω)] with ω_i = 10000^(−i/(D/4)); coordinates k / (max / base_size) in f32. */
static void evk__pos_row(int D, int max, int base, int r, int c, float *out) {
    int quarter = D / 4, half = D / 2;
    float div = (float)((double)max / base);
    float coord[2] = {(float)c / div, (float)r / div};
    for (int h = 0; h < 2; h++)
        for (int i = 0; i < quarter; i++) {
            double omega = 1.0 / pow(10000.0, (double)i / (half / 2.0));
            double a = (double)coord[h] * omega;
            out[h * half + i] = (float)sin(a);
            out[h * half + quarter + i] = (float)cos(a);
        }
}

static evk_status evk__attn_load(evk_weights *ws, const char *p, const evk_mmdit_config *c, bool joint, bool pre_only,
                                 evk_dtype st, evk__mmdit_attn *a) {
    char n[256];
    int D = c->num_attention_heads * c->attention_head_dim, hd = c->attention_head_dim;
    const char *names[4] = {"to_q", "to_k", "to_v", "to_out.0"};
    evk_linear *dst[4] = {&a->q, &a->k, &a->v, &a->o};
    for (int i = 0; i < 4; i++) {
        snprintf(n, sizeof n, "%s.%s", p, names[i]);
        EVK_TRY(evk_linear_load(ws, n, D, D, true, st, dst[i]));
    }
    if (joint) {
        const char *an[4] = {"add_q_proj", "add_k_proj", "add_v_proj", "to_add_out"};
        evk_linear *ad[4] = {&a->aq, &a->ak, &a->av, &a->ao};
        for (int i = 0; i < (pre_only ? 3 : 4); i++) {
            snprintf(n, sizeof n, "%s.%s", p, an[i]);
            EVK_TRY(evk_linear_load(ws, n, D, D, true, st, ad[i]));
        }
    }
    if (c->qk_norm_rms) {
        const char *nn_[4] = {"norm_q", "norm_k", "norm_added_q", "norm_added_k"};
        evk_tensor *nd[4] = {&a->nq, &a->nk, &a->naq, &a->nak};
        for (int i = 0; i < (joint ? 4 : 2); i++) {
            snprintf(n, sizeof n, "%s.%s.weight", p, nn_[i]);
            EVK_TRY(evk_weights_get(ws, n, 1, (int64_t[]){hd}, EVK_DTYPE_F32, nd[i]));
        }
    }
    return EVK_OK;
}

static void evk__attn_free(evk_context *ctx, evk__mmdit_attn *a) {
    evk_linear *l[8] = {&a->q, &a->k, &a->v, &a->o, &a->aq, &a->ak, &a->av, &a->ao};
    for (int i = 0; i < 8; i++) evk_linear_free(ctx, l[i]);
    evk_tensor *t[4] = {&a->nq, &a->nk, &a->naq, &a->nak};
    for (int i = 0; i < 4; i++) evk_tensor_free(ctx, t[i]);
}

static evk_status evk__block_load(evk_weights *ws, const evk_mmdit_config *c, int i, evk_dtype st, evk__mmdit_block *b) {
    char p[128], n[256];
    int D = c->num_attention_heads * c->attention_head_dim;
    b->dual = c->dual_attention[i];
    b->pre_only = i == c->num_layers - 1;
    snprintf(p, sizeof p, "transformer_blocks.%d", i);
    snprintf(n, sizeof n, "%s.norm1.linear", p);
    EVK_TRY(evk_linear_load(ws, n, D, (b->dual ? 9 : 6) * D, true, st, &b->norm1));
    snprintf(n, sizeof n, "%s.norm1_context.linear", p);
    EVK_TRY(evk_linear_load(ws, n, D, (b->pre_only ? 2 : 6) * D, true, st, &b->norm1_ctx));
    snprintf(n, sizeof n, "%s.attn", p);
    EVK_TRY(evk__attn_load(ws, n, c, true, b->pre_only, st, &b->attn));
    if (b->dual) {
        snprintf(n, sizeof n, "%s.attn2", p);
        EVK_TRY(evk__attn_load(ws, n, c, false, false, st, &b->attn2));
    }
    snprintf(n, sizeof n, "%s.ff.net.0.proj", p);
    EVK_TRY(evk_linear_load(ws, n, D, 4 * D, true, st, &b->ff0));
    snprintf(n, sizeof n, "%s.ff.net.2", p);
    EVK_TRY(evk_linear_load(ws, n, 4 * D, D, true, st, &b->ff2));
    if (!b->pre_only) {
        snprintf(n, sizeof n, "%s.ff_context.net.0.proj", p);
        EVK_TRY(evk_linear_load(ws, n, D, 4 * D, true, st, &b->cff0));
        snprintf(n, sizeof n, "%s.ff_context.net.2", p);
        EVK_TRY(evk_linear_load(ws, n, 4 * D, D, true, st, &b->cff2));
    }
    return EVK_OK;
}

static void evk__block_free(evk_context *ctx, evk__mmdit_block *b) {
    evk_linear *l[6] = {&b->norm1, &b->norm1_ctx, &b->ff0, &b->ff2, &b->cff0, &b->cff2};
    for (int i = 0; i < 6; i++) evk_linear_free(ctx, l[i]);
    evk__attn_free(ctx, &b->attn);
    evk__attn_free(ctx, &b->attn2);
}

void evk_mmdit_destroy(evk_mmdit *m) {
    if (!m) return;
    if (m->blocks)
        for (int i = 0; i < m->cfg.num_layers; i++) evk__block_free(m->ctx, &m->blocks[i]);
    free(m->blocks);
    evk_conv2d_free(m->ctx, &m->patch);
    evk_linear *l[7] = {&m->t1, &m->t2, &m->p1, &m->p2, &m->context, &m->norm_out, &m->proj_out};
    for (int i = 0; i < 7; i++) evk_linear_free(m->ctx, l[i]);
    evk_tensor_free(m->ctx, &m->pos);
    evk_tensor_free(m->ctx, &m->ones);
    evk_tensor_free(m->ctx, &m->zeros);
    free(m);
}

static evk_status evk__mmdit_load(evk_mmdit *m, evk_weights *ws, evk_dtype st) {
    const evk_mmdit_config *c = &m->cfg;
    int D = m->D, p = c->patch_size;
    if (m->height % p || m->width % p || m->height / p > c->pos_embed_max_size || m->width / p > c->pos_embed_max_size)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT,
                        "SD3 transformer: a %dx%d latent must be a multiple of the patch size %d and at most %d patches a side "
                        "(pos_embed_max_size)", m->width, m->height, p, c->pos_embed_max_size);
    EVK_TRY(evk_conv2d_load(ws, "pos_embed.proj", c->in_channels, D, p, p, 0, true, st, &m->patch));
    EVK_TRY(evk_linear_load(ws, "time_text_embed.timestep_embedder.linear_1", 256, D, true, st, &m->t1));
    EVK_TRY(evk_linear_load(ws, "time_text_embed.timestep_embedder.linear_2", D, D, true, st, &m->t2));
    EVK_TRY(evk_linear_load(ws, "time_text_embed.text_embedder.linear_1", c->pooled_projection_dim, D, true, st, &m->p1));
    EVK_TRY(evk_linear_load(ws, "time_text_embed.text_embedder.linear_2", D, D, true, st, &m->p2));
    EVK_TRY(evk_linear_load(ws, "context_embedder", c->joint_attention_dim, c->caption_projection_dim, true, st, &m->context));
    EVK_TRY(evk_linear_load(ws, "norm_out.linear", D, 2 * D, true, st, &m->norm_out));
    EVK_TRY(evk_linear_load(ws, "proj_out", D, p * p * c->out_channels, true, st, &m->proj_out));
    m->blocks = calloc((size_t)c->num_layers, sizeof *m->blocks);
    if (!m->blocks) return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    for (int i = 0; i < c->num_layers; i++) EVK_TRY(evk__block_load(ws, c, i, st, &m->blocks[i]));
    /* the position table, cropped to the centre h×w of the max×max grid */
    int h = m->height / p, w = m->width / p, max = c->pos_embed_max_size, base = c->sample_size / p;
    if (base < 1) base = 1;
    int top = (max - h) / 2, left = (max - w) / 2;
    float *tab = malloc((size_t)h * w * D * sizeof *tab), *ones = malloc((size_t)D * sizeof *ones);
    if (!tab || !ones) {
        free(tab), free(ones);
        return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    for (int r = 0; r < h; r++)
        for (int q = 0; q < w; q++) evk__pos_row(D, max, base, top + r, left + q, tab + ((size_t)r * w + q) * D);
    for (int i = 0; i < D; i++) ones[i] = 1.0f;
    evk_status s = evk_tensor_alloc(m->ctx, EVK_DTYPE_F32, 2, (int64_t[]){(int64_t)h * w, D}, &m->pos);
    if (!s) s = evk_tensor_upload_f32(m->ctx, &m->pos, tab);
    if (!s) s = evk_tensor_alloc(m->ctx, EVK_DTYPE_F32, 1, (int64_t[]){D}, &m->ones);
    if (!s) s = evk_tensor_upload_f32(m->ctx, &m->ones, ones);
    memset(ones, 0, (size_t)D * sizeof *ones);
    if (!s) s = evk_tensor_alloc(m->ctx, EVK_DTYPE_F32, 1, (int64_t[]){D}, &m->zeros);
    if (!s) s = evk_tensor_upload_f32(m->ctx, &m->zeros, ones);
    free(tab);
    free(ones);
    return s;
}

static evk_status evk__mmdit_create(evk_context *ctx, const evk_mmdit_config *cfg, evk_weights *ws, evk_dtype storage, int height,
                                    int width, bool original, evk_mmdit **out);

evk_status evk_mmdit_load(evk_context *ctx, const evk_mmdit_config *cfg, evk_weights *ws, evk_dtype storage, int height,
                          int width, evk_mmdit **out) {
    return evk__mmdit_create(ctx, cfg, ws, storage, height, width, false, out);
}

evk_status evk_mmdit_load_original(evk_context *ctx, const evk_mmdit_config *cfg, evk_weights *ws, evk_dtype storage,
                                   int height, int width, evk_mmdit **out) {
    return evk__mmdit_create(ctx, cfg, ws, storage, height, width, true, out);
}

static evk_status evk__mmdit_create(evk_context *ctx, const evk_mmdit_config *cfg, evk_weights *ws, evk_dtype storage, int height,
                                    int width, bool original, evk_mmdit **out) {
    *out = NULL;
    evk_mmdit *m = calloc(1, sizeof *m);
    if (!m) return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    m->ctx = ctx;
    m->cfg = *cfg;
    m->heads = cfg->num_attention_heads;
    m->hd = cfg->attention_head_dim;
    m->D = m->heads * m->hd;
    m->height = height, m->width = width;
    m->original = original;
    evk_status s = evk__mmdit_load(m, ws, storage == EVK_DTYPE_F16 || storage == EVK_DTYPE_QUANT ? storage : EVK_DTYPE_F32);
    if (s) {
        evk_mmdit_destroy(m);
        return s;
    }
    *out = m;
    return EVK_OK;
}

/* ---- forward ---------------------------------------------------------------------------------- */

static void evk__step(evk_nn *nn, evk_status s) {
    if (s && !nn->status) evk_nn_fail(nn, s);
}

/* LayerNorm(elementwise_affine=False, eps=1e-6) of x into a new tensor */
static evk_tensor evk__ln(evk_nn *nn, const evk_mmdit *m, const evk_tensor *x) {
    evk_tensor y = evk_nn_new(nn, x->ndim, x->shape);
    if (!nn->status) evk__step(nn, evk_op_layer_norm(nn->s, x, &m->ones, &m->zeros, EVK__MMDIT_EPS, &y));
    return y;
}

/* x·(1 + emb[scale]) + emb[shift] into a new tensor */
static evk_tensor evk__mod(evk_nn *nn, const evk_tensor *x, const evk_tensor *emb, uint32_t scale, uint32_t shift) {
    evk_tensor y = evk_nn_new(nn, x->ndim, x->shape);
    if (!nn->status) evk__step(nn, evk_op_modulate(nn->s, x, emb, scale, shift, &y));
    return y;
}

/* a projection, RMS-normed per head when the block has a query/key norm */
static evk_tensor evk__proj(evk_nn *nn, const evk_mmdit *m, const evk_tensor *x, const evk_linear *l, const evk_tensor *rms) {
    evk_tensor y = evk_nn_linear(nn, x, l);
    if (rms && rms->buf.block && !nn->status) {
        evk_tensor v = evk_nn_view(nn, &y, EVK_SHAPE(evk_tensor_numel(&y) / m->hd, m->hd));
        if (!nn->status) evk__step(nn, evk_op_rms_norm(nn->s, &v, rms, EVK__MMDIT_EPS, &v));
    }
    return y;
}

/* the feed-forward (GELU-tanh MLP, 4× wide) of x; h += emb[gate] · ff(x·(1 + emb[scale]) + emb[shift]) */
static void evk__ff(evk_nn *nn, const evk_mmdit *m, const evk_tensor *h, const evk_tensor *emb, const evk_linear *f0,
                    const evk_linear *f2) {
    evk_tensor n = evk__ln(nn, m, h);
    evk_tensor x = evk__mod(nn, &n, emb, 4, 3);
    evk_nn_free(nn, &n);
    evk_tensor a = evk_nn_linear(nn, &x, f0);
    evk_nn_free(nn, &x);
    if (!nn->status) evk__step(nn, evk_op_activation(nn->s, EVK_ACT_GELU_TANH, &a, &a));
    evk_tensor y = evk_nn_linear(nn, &a, f2);
    evk_nn_free(nn, &a);
    if (!nn->status) evk__step(nn, evk_op_gate_add(nn->s, h, &y, emb, 5));
    evk_nn_free(nn, &y);
}

static void evk__mmdit_block_fwd(evk_nn *nn, const evk_mmdit *m, const evk__mmdit_block *b, const evk_tensor *h, const evk_tensor *c,
                       const evk_tensor *temb_act) {
    const evk__mmdit_attn *a = &b->attn;
    evk_tensor e = evk_nn_linear(nn, temb_act, &b->norm1);      /* [B, 6D | 9D] */
    evk_tensor ec = evk_nn_linear(nn, temb_act, &b->norm1_ctx); /* [B, 6D | 2D] */
    evk_tensor n = evk__ln(nn, m, h);
    evk_tensor nx = evk__mod(nn, &n, &e, 1, 0);
    evk_tensor nx2;
    memset(&nx2, 0, sizeof nx2);
    if (b->dual) nx2 = evk__mod(nn, &n, &e, 7, 6);
    evk_nn_free(nn, &n);
    evk_tensor nc = evk__ln(nn, m, c);
    evk_tensor ncx = !b->pre_only ? evk__mod(nn, &nc, &ec, 1, 0) : m->original ? evk__mod(nn, &nc, &ec, 1, 0) : evk__mod(nn, &nc, &ec, 0, 1);
    evk_nn_free(nn, &nc);
    /* joint attention: keys and values of [image ; text] */
    evk_tensor q = evk__proj(nn, m, &nx, &a->q, &a->nq);
    evk_tensor k = evk__proj(nn, m, &nx, &a->k, &a->nk);
    evk_tensor v = evk__proj(nn, m, &nx, &a->v, NULL);
    evk_nn_free(nn, &nx);
    evk_tensor ck = evk__proj(nn, m, &ncx, &a->ak, &a->nak);
    evk_tensor cv = evk__proj(nn, m, &ncx, &a->av, NULL);
    int64_t B = h->shape[0], Li = h->shape[1], Lt = c->shape[1];
    evk_tensor K = evk_nn_new(nn, EVK_SHAPE(B, Li + Lt, m->D)), V = evk_nn_new(nn, EVK_SHAPE(B, Li + Lt, m->D));
    if (!nn->status) evk__step(nn, evk_op_concat(nn->s, &k, &ck, 1, &K));
    if (!nn->status) evk__step(nn, evk_op_concat(nn->s, &v, &cv, 1, &V));
    evk_nn_free(nn, &k), evk_nn_free(nn, &ck), evk_nn_free(nn, &v), evk_nn_free(nn, &cv);
    evk_tensor cq;
    memset(&cq, 0, sizeof cq);
    if (!b->pre_only) cq = evk__proj(nn, m, &ncx, &a->aq, &a->naq); /* the last block's text queries are unused */
    evk_nn_free(nn, &ncx);
    evk_tensor ai = evk_nn_attention(nn, &q, &K, &V, m->heads, false);
    evk_nn_free(nn, &q);
    evk_tensor oi = evk_nn_linear(nn, &ai, &a->o);
    evk_nn_free(nn, &ai);
    if (!nn->status) evk__step(nn, evk_op_gate_add(nn->s, h, &oi, &e, 2));
    evk_nn_free(nn, &oi);
    if (!b->pre_only) {
        evk_tensor ac = evk_nn_attention(nn, &cq, &K, &V, m->heads, false);
        evk_nn_free(nn, &cq);
        evk_tensor oc = evk_nn_linear(nn, &ac, &a->ao);
        evk_nn_free(nn, &ac);
        if (!nn->status) evk__step(nn, evk_op_gate_add(nn->s, c, &oc, &ec, 2));
        evk_nn_free(nn, &oc);
    }
    evk_nn_free(nn, &K), evk_nn_free(nn, &V);
    if (b->dual) { /* SD3.5: self-attention of the image tokens on the second modulation */
        const evk__mmdit_attn *a2 = &b->attn2;
        evk_tensor q2 = evk__proj(nn, m, &nx2, &a2->q, &a2->nq);
        evk_tensor k2 = evk__proj(nn, m, &nx2, &a2->k, &a2->nk);
        evk_tensor v2 = evk__proj(nn, m, &nx2, &a2->v, NULL);
        evk_nn_free(nn, &nx2);
        evk_tensor a2o = evk_nn_attention(nn, &q2, &k2, &v2, m->heads, false);
        evk_nn_free(nn, &q2), evk_nn_free(nn, &k2), evk_nn_free(nn, &v2);
        evk_tensor o2 = evk_nn_linear(nn, &a2o, &a2->o);
        evk_nn_free(nn, &a2o);
        if (!nn->status) evk__step(nn, evk_op_gate_add(nn->s, h, &o2, &e, 8));
        evk_nn_free(nn, &o2);
    }
    evk__ff(nn, m, h, &e, &b->ff0, &b->ff2);
    if (!b->pre_only) evk__ff(nn, m, c, &ec, &b->cff0, &b->cff2);
    evk_nn_free(nn, &e);
    evk_nn_free(nn, &ec);
}

evk_status evk_mmdit_forward(evk_mmdit *m, evk_stream *s, const evk_tensor *x, const evk_tensor *timestep,
                             const evk_tensor *context, const evk_tensor *pooled, const evk_tensor *out) {
    const evk_mmdit_config *c = &m->cfg;
    int64_t B = x->ndim == 4 ? x->shape[0] : 0;
    if (x->ndim != 4 || x->shape[1] != c->in_channels || x->shape[2] != m->height || x->shape[3] != m->width ||
        out->ndim != 4 || out->shape[0] != B || out->shape[1] != c->out_channels || out->shape[2] != m->height ||
        out->shape[3] != m->width || evk_tensor_numel(timestep) != B || context->ndim != 3 || context->shape[0] != B ||
        context->shape[2] != c->joint_attention_dim || evk_tensor_numel(pooled) != B * c->pooled_projection_dim) {
        char sx[96], sc[96];
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT,
                        "SD3 transformer: x %s and context %s; expected x [B, %d, %d, %d], context [B, L, %d], timestep [B], "
                        "pooled [B, %d] and out [B, %d, %d, %d]", evk_tensor_shape_str(x, sx, sizeof sx),
                        evk_tensor_shape_str(context, sc, sizeof sc), c->in_channels, m->height, m->width,
                        c->joint_attention_dim, c->pooled_projection_dim, c->out_channels, m->height, m->width);
    }
    int p = c->patch_size, gh = m->height / p, gw = m->width / p;
    int64_t Li = (int64_t)gh * gw, D = m->D;
    evk_nn nn;
    evk_nn_init(&nn, s);
    /* patch embedding + position table */
    evk_tensor pe = evk_nn_conv2d(&nn, x, &m->patch); /* [B, D, gh, gw] */
    evk_tensor h = evk_nn_transpose(&nn, &pe, B, D, Li, EVK_SHAPE(B, Li, D));
    evk_nn_free(&nn, &pe);
    evk_nn_add_into(&nn, &h, &m->pos);
    /* conditioning: timestep MLP + pooled-text MLP; every modulation reads silu(temb) */
    evk_tensor tp = evk_nn_new(&nn, EVK_SHAPE(B, 256));
    evk_embedding_params ep = {.flip_sin_to_cos = true, .downscale_freq_shift = 0.0f};
    evk_tensor tv = evk_nn_view(&nn, timestep, EVK_SHAPE(B));
    if (!nn.status) evk__step(&nn, evk_op_timestep_embedding(s, &tv, &ep, &tp));
    evk_tensor t1 = evk_nn_linear(&nn, &tp, &m->t1);
    evk_nn_free(&nn, &tp);
    if (!nn.status) evk__step(&nn, evk_op_activation(s, EVK_ACT_SILU, &t1, &t1));
    evk_tensor temb = evk_nn_linear(&nn, &t1, &m->t2);
    evk_nn_free(&nn, &t1);
    evk_tensor pv = evk_nn_view(&nn, pooled, EVK_SHAPE(B, c->pooled_projection_dim));
    evk_tensor p1 = evk_nn_linear(&nn, &pv, &m->p1);
    if (!nn.status) evk__step(&nn, evk_op_activation(s, EVK_ACT_SILU, &p1, &p1));
    evk_tensor p2 = evk_nn_linear(&nn, &p1, &m->p2);
    evk_nn_free(&nn, &p1);
    evk_nn_add_into(&nn, &temb, &p2);
    evk_nn_free(&nn, &p2);
    if (!nn.status) evk__step(&nn, evk_op_activation(s, EVK_ACT_SILU, &temb, &temb));
    /* text tokens */
    evk_tensor ctx = evk_nn_linear(&nn, context, &m->context);
    for (int i = 0; i < c->num_layers && !nn.status; i++) evk__mmdit_block_fwd(&nn, m, &m->blocks[i], &h, &ctx, &temb);
    evk_nn_free(&nn, &ctx);
    /* out: AdaLayerNormContinuous (scale, shift), projection, unpatchify */
    evk_tensor eo = evk_nn_linear(&nn, &temb, &m->norm_out);
    evk_nn_free(&nn, &temb);
    evk_tensor n = evk__ln(&nn, m, &h);
    evk_nn_free(&nn, &h);
    evk_tensor nx = m->original ? evk__mod(&nn, &n, &eo, 1, 0) : evk__mod(&nn, &n, &eo, 0, 1); /* [scale | shift] or [shift | scale] */
    evk_nn_free(&nn, &n);
    evk_nn_free(&nn, &eo);
    evk_tensor po = evk_nn_linear(&nn, &nx, &m->proj_out);
    evk_nn_free(&nn, &nx);
    if (!nn.status) {
        evk_tensor o = *out;
        evk__step(&nn, evk_op_unpatchify(s, &po, gh, gw, p, &o));
    }
    evk_nn_free(&nn, &po);
    return nn.status;
}
