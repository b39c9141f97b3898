/* vc2_unet.c — lvdm's openaimodel3d.UNetModel: loading by lvdm names and the forward pass. */
#include "models/video/vc2_unet.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/transformer.h"
#include "ops/op_conv.h"
#include "ops/op_embedding.h"
#include "ops/op_layout.h"
#include "ops/op_norm.h"

#define EVK__VC2_MAX_LAYERS 4 /* modules in one TimestepEmbedSequential */
#define EVK__VC2_MAX_BLOCKS (1 + EVK_VC2_MAX_LEVELS * 9)

typedef struct evk__tconv { /* TemporalConvBlock */
    evk_norm norm[4];
    evk_tensor w[4], b[4]; /* Conv3d [C, C, 3, 1, 1] */
} evk__tconv;

typedef struct evk__vres {
    evk_resnet r;
    bool temporal;
    evk__tconv tc;
} evk__vres;

typedef enum evk__vkind { EVK__V_NONE = 0, EVK__V_RES, EVK__V_SPATIAL, EVK__V_TEMPORAL, EVK__V_DOWN, EVK__V_UP, EVK__V_CONV_IN } evk__vkind;

typedef struct evk__vlayer {
    evk__vkind kind;
    evk__vres res;
    evk_transformer tr;
    evk_conv2d conv;
} evk__vlayer;

typedef struct evk__vblock {
    int n;
    evk__vlayer layer[EVK__VC2_MAX_LAYERS];
} evk__vblock;

struct evk_vc2_unet {
    evk_context *ctx;
    evk_vc2_unet_config cfg;
    evk_linear time_1, time_2, fps_1, fps_2, time_cond, motion_cond, combine;
    bool init_attn_present;
    evk_transformer init_attn;
    int n_in, n_out;
    evk__vblock in[EVK__VC2_MAX_BLOCKS], mid, out[EVK__VC2_MAX_BLOCKS];
    evk_norm norm_out;
    evk_conv2d conv_out;
};

void evk_vc2_unet_config_default(evk_vc2_unet_config *c) {
    memset(c, 0, sizeof *c);
    c->num_heads = -1, c->num_head_channels = -1;
    c->transformer_depth = 1, c->temporal_transformer_depth = 1;
    c->temporal_attention = true, c->temporal_selfatt_only = true, c->use_relative_position = true;
    c->dims = 2, c->conv_resample = true;
    c->levels = 4;
    int m[4] = {1, 2, 4, 8};
    memcpy(c->channel_mult, m, sizeof m);
}

const evk_vc2_unet_config *evk_vc2_unet_get_config(const evk_vc2_unet *u) { return &u->cfg; }

/* ---- loading ---------------------------------------------------------------------------------- */

#define _N(...) (snprintf(n, sizeof n, __VA_ARGS__), n)

static evk_status evk__vres_load(evk_weights *ws, const char *p, int in, int out, int temb, bool temporal, evk_dtype st,
                                 evk__vres *v) {
    char n[320];
    evk_resnet *r = &v->r;
    r->output_scale = 1.0f;
    EVK_TRY(evk_norm_load(ws, _N("%s.in_layers.0", p), in, 32, 1e-5f, &r->norm1));
    EVK_TRY(evk_conv2d_load(ws, _N("%s.in_layers.2", p), in, out, 3, 1, 1, true, st, &r->conv1));
    EVK_TRY(evk_linear_load(ws, _N("%s.emb_layers.1", p), temb, out, true, st, &r->time_proj));
    EVK_TRY(evk_norm_load(ws, _N("%s.out_layers.0", p), out, 32, 1e-5f, &r->norm2));
    EVK_TRY(evk_conv2d_load(ws, _N("%s.out_layers.3", p), out, out, 3, 1, 1, true, st, &r->conv2));
    if (in != out) EVK_TRY(evk_conv2d_load(ws, _N("%s.skip_connection", p), in, out, 1, 1, 0, true, st, &r->shortcut));
    v->temporal = temporal;
    if (temporal) {
        /* conv1 = (GroupNorm, SiLU, Conv3d); conv2..4 = (GroupNorm, SiLU, Dropout, Conv3d) */
        for (int k = 0; k < 4; k++) {
            EVK_TRY(evk_norm_load(ws, _N("%s.temopral_conv.conv%d.0", p, k + 1), out, 32, 1e-5f, &v->tc.norm[k]));
            int64_t ws5[5] = {out, out, 3, 1, 1}, bs[1] = {out};
            EVK_TRY(evk_weights_get(ws, _N("%s.temopral_conv.conv%d.%d.weight", p, k + 1, k ? 3 : 2), 5, ws5, st, &v->tc.w[k]));
            EVK_TRY(evk_weights_get(ws, _N("%s.temopral_conv.conv%d.%d.bias", p, k + 1, k ? 3 : 2), 1, bs, EVK_DTYPE_F32, &v->tc.b[k]));
        }
    }
    return EVK_OK;
}

static void evk__vres_free(evk_context *ctx, evk__vres *v) {
    evk_resnet_free(ctx, &v->r);
    for (int k = 0; k < 4; k++) {
        evk_norm_free(ctx, &v->tc.norm[k]);
        evk_tensor_free(ctx, &v->tc.w[k]);
        evk_tensor_free(ctx, &v->tc.b[k]);
    }
}

static void evk__vblock_free(evk_context *ctx, evk__vblock *b) {
    for (int i = 0; i < b->n; i++) {
        evk__vlayer *l = &b->layer[i];
        evk__vres_free(ctx, &l->res);
        evk_transformer_free(ctx, &l->tr);
        evk_conv2d_free(ctx, &l->conv);
    }
    b->n = 0;
}

/* heads and head width at `ch` channels, as UNetModel.__init__ picks them */
static void evk__vheads(const evk_vc2_unet_config *c, int ch, int *heads, int *dim) {
    if (c->num_head_channels == -1) *heads = c->num_heads, *dim = c->num_heads > 0 ? ch / c->num_heads : 0;
    else *heads = c->num_head_channels > 0 ? ch / c->num_head_channels : 0, *dim = c->num_head_channels;
}

/* ResBlock [+ SpatialTransformer + TemporalTransformer] at `p` (the TimestepEmbedSequential) */
static evk_status evk__vstage_load(evk_weights *ws, const char *p, const evk_vc2_unet_config *c, int in, int out, int temb, bool attn,
                                   evk_dtype st, evk__vblock *b) {
    char n[320];
    evk__vlayer *l = &b->layer[b->n++];
    l->kind = EVK__V_RES;
    EVK_TRY(evk__vres_load(ws, _N("%s.0", p), in, out, temb, c->temporal_conv, st, &l->res));
    if (!attn) return EVK_OK;
    int heads, dim;
    evk__vheads(c, out, &heads, &dim);
    l = &b->layer[b->n++];
    l->kind = EVK__V_SPATIAL;
    evk_transformer_config tc = {.channels = out, .heads = heads, .head_dim = dim, .layers = c->transformer_depth,
                                 .context_dim = c->context_dim, .groups = 32, .norm_eps = 1e-6f, .conv_proj = !c->use_linear};
    EVK_TRY(evk_transformer_load(ws, _N("%s.1", p), &tc, st, &l->tr));
    if (!c->temporal_attention) return EVK_OK;
    l = &b->layer[b->n++];
    l->kind = EVK__V_TEMPORAL;
    tc.layers = c->temporal_transformer_depth;
    tc.context_dim = 0; /* temporal_selfatt_only */
    return evk_transformer_load(ws, _N("%s.2", p), &tc, st, &l->tr);
}

static evk_status evk__vc2_check(const evk_vc2_unet_config *c) {
    const char *bad = c->use_relative_position ? "use_relative_position" : c->use_causal_attention ? "use_causal_attention"
                    : c->use_scale_shift_norm ? "use_scale_shift_norm" : c->resblock_updown ? "resblock_updown"
                    : c->tempspatial_aware ? "tempspatial_aware" : c->use_image_attention ? "use_image_attention"
                    : !c->temporal_selfatt_only ? "temporal_selfatt_only false" : !c->conv_resample ? "conv_resample false" : NULL;
    if (bad) return evk_fail(EVK_ERROR_UNSUPPORTED, "3-D UNet: %s is not supported (no VideoCrafter2 / T2V-Turbo config sets it)", bad);
    if (c->dims != 2) return evk_fail(EVK_ERROR_UNSUPPORTED, "3-D UNet: dims %d (VideoCrafter2 uses 2-D convolutions per frame)", c->dims);
    if (c->levels < 1 || c->levels > EVK_VC2_MAX_LEVELS) return evk_fail(EVK_ERROR_FORMAT, "3-D UNet: %d levels (1..%d)", c->levels, EVK_VC2_MAX_LEVELS);
    if (c->num_res_blocks < 1 || c->num_res_blocks > 8) return evk_fail(EVK_ERROR_FORMAT, "3-D UNet: num_res_blocks %d", c->num_res_blocks);
    if (c->model_channels <= 0 || c->model_channels % 32 || c->in_channels <= 0 || c->out_channels <= 0 || c->context_dim <= 0)
        return evk_fail(EVK_ERROR_FORMAT, "3-D UNet: model_channels %d (a multiple of 32), in/out channels %d/%d, context_dim %d",
                        c->model_channels, c->in_channels, c->out_channels, c->context_dim);
    for (int i = 0; i < c->levels; i++)
        if (c->channel_mult[i] < 1 || c->channel_mult[i] > 64) return evk_fail(EVK_ERROR_FORMAT, "3-D UNet: channel_mult %d", c->channel_mult[i]);
    if (c->num_head_channels == -1 ? c->num_heads <= 0 : c->num_head_channels <= 0)
        return evk_fail(EVK_ERROR_FORMAT, "3-D UNet: either num_heads or num_head_channels must be set");
    if (c->addition_attention && c->num_head_channels <= 0)
        return evk_fail(EVK_ERROR_FORMAT, "3-D UNet: addition_attention needs num_head_channels (init_attn's head width)");
    if (c->transformer_depth < 1 || c->temporal_transformer_depth < 1 || c->transformer_depth > 16 || c->temporal_transformer_depth > 16)
        return evk_fail(EVK_ERROR_FORMAT, "3-D UNet: transformer depth %d / %d", c->transformer_depth, c->temporal_transformer_depth);
    return EVK_OK;
}

static evk_status evk__vc2_load_all(evk_vc2_unet *u, evk_weights *ws, evk_dtype st) {
    const evk_vc2_unet_config *c = &u->cfg;
    EVK_TRY(evk__vc2_check(c));
    char n[320];
    int mc = c->model_channels, temb = 4 * mc;
    EVK_TRY(evk_linear_load(ws, "time_embed.0", mc, temb, true, st, &u->time_1));
    EVK_TRY(evk_linear_load(ws, "time_embed.2", temb, temb, true, st, &u->time_2));
    if (c->fps_cond) {
        EVK_TRY(evk_linear_load(ws, "fps_embedding.0", mc, temb, true, st, &u->fps_1));
        EVK_TRY(evk_linear_load(ws, "fps_embedding.2", temb, temb, true, st, &u->fps_2));
    }
    if (c->time_cond_proj_dim) EVK_TRY(evk_linear_load(ws, "time_cond_proj", c->time_cond_proj_dim, mc, false, st, &u->time_cond));
    if (c->motion_cond_proj_dim) {
        EVK_TRY(evk_linear_load(ws, "motion_cond_proj", c->motion_cond_proj_dim, mc, false, st, &u->motion_cond));
        EVK_TRY(evk_linear_load(ws, "combine_proj", 2 * mc, mc, false, st, &u->combine));
    }
    /* input blocks */
    evk__vblock *b = &u->in[0];
    b->layer[0].kind = EVK__V_CONV_IN;
    b->n = 1;
    EVK_TRY(evk_conv2d_load(ws, "input_blocks.0.0", c->in_channels, mc, 3, 1, 1, true, st, &b->layer[0].conv));
    if (c->addition_attention) {
        u->init_attn_present = true;
        evk_transformer_config tc = {.channels = mc, .heads = 8, .head_dim = c->num_head_channels, .layers = c->transformer_depth,
                                     .context_dim = 0, .groups = 32, .norm_eps = 1e-6f, .conv_proj = true};
        EVK_TRY(evk_transformer_load(ws, "init_attn.0", &tc, st, &u->init_attn));
    }
    int chans[EVK__VC2_MAX_BLOCKS], nch = 0, ch = mc, ds = 1, k = 1;
    chans[nch++] = mc;
    for (int level = 0; level < c->levels; level++) {
        for (int r = 0; r < c->num_res_blocks; r++) {
            bool attn = false;
            for (int a = 0; a < c->n_attention_resolutions; a++) attn |= c->attention_resolutions[a] == ds;
            int out = c->channel_mult[level] * mc;
            snprintf(n, sizeof n, "input_blocks.%d", k);
            EVK_TRY(evk__vstage_load(ws, n, c, ch, out, temb, attn, st, &u->in[k]));
            ch = out;
            chans[nch++] = ch;
            k++;
        }
        if (level != c->levels - 1) {
            evk__vblock *d = &u->in[k];
            d->n = 1;
            d->layer[0].kind = EVK__V_DOWN;
            EVK_TRY(evk_conv2d_load(ws, _N("input_blocks.%d.0.op", k), ch, ch, 3, 2, 1, true, st, &d->layer[0].conv));
            chans[nch++] = ch;
            k++;
            ds *= 2;
        }
    }
    u->n_in = k;
    /* middle: ResBlock, SpatialTransformer, [TemporalTransformer], ResBlock (always with attention) */
    EVK_TRY(evk__vstage_load(ws, "middle_block", c, ch, ch, temb, true, st, &u->mid));
    evk__vlayer *l = &u->mid.layer[u->mid.n++];
    l->kind = EVK__V_RES;
    EVK_TRY(evk__vres_load(ws, _N("middle_block.%d", c->temporal_attention ? 3 : 2), ch, ch, temb, c->temporal_conv, st, &l->res));
    /* output blocks */
    k = 0;
    for (int level = c->levels - 1; level >= 0; level--) {
        for (int i = 0; i <= c->num_res_blocks; i++) {
            int ich = chans[--nch], out = c->channel_mult[level] * mc;
            bool attn = false;
            for (int a = 0; a < c->n_attention_resolutions; a++) attn |= c->attention_resolutions[a] == ds;
            snprintf(n, sizeof n, "output_blocks.%d", k);
            EVK_TRY(evk__vstage_load(ws, n, c, ch + ich, out, temb, attn, st, &u->out[k]));
            ch = out;
            if (level && i == c->num_res_blocks) {
                evk__vblock *ob = &u->out[k];
                l = &ob->layer[ob->n++];
                l->kind = EVK__V_UP;
                EVK_TRY(evk_conv2d_load(ws, _N("output_blocks.%d.%d.conv", k, ob->n - 1), ch, ch, 3, 1, 1, true, st, &l->conv));
                ds /= 2;
            }
            k++;
        }
    }
    u->n_out = k;
    EVK_TRY(evk_norm_load(ws, "out.0", ch, 32, 1e-5f, &u->norm_out));
    EVK_TRY(evk_conv2d_load(ws, "out.2", mc, c->out_channels, 3, 1, 1, true, st, &u->conv_out));
    return EVK_OK;
}
#undef _N

evk_status evk_vc2_unet_load(evk_context *ctx, const evk_vc2_unet_config *cfg, evk_weights *ws, evk_dtype storage,
                             evk_vc2_unet **out) {
    *out = NULL;
    evk_vc2_unet *u = calloc(1, sizeof *u);
    if (!u) return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    u->ctx = ctx;
    u->cfg = *cfg;
    evk_status s = evk__vc2_load_all(u, ws, storage);
    if (s) {
        evk_vc2_unet_destroy(u);
        return evk_fail_context(s, "loading the 3-D UNet");
    }
    *out = u;
    return EVK_OK;
}

void evk_vc2_unet_destroy(evk_vc2_unet *u) {
    if (!u) return;
    evk_linear *ls[] = {&u->time_1, &u->time_2, &u->fps_1, &u->fps_2, &u->time_cond, &u->motion_cond, &u->combine};
    for (size_t i = 0; i < sizeof ls / sizeof *ls; i++) evk_linear_free(u->ctx, ls[i]);
    evk_transformer_free(u->ctx, &u->init_attn);
    for (int i = 0; i < EVK__VC2_MAX_BLOCKS; i++) {
        evk__vblock_free(u->ctx, &u->in[i]);
        evk__vblock_free(u->ctx, &u->out[i]);
    }
    evk__vblock_free(u->ctx, &u->mid);
    evk_norm_free(u->ctx, &u->norm_out);
    evk_conv2d_free(u->ctx, &u->conv_out);
    free(u);
}

/* ---- forward ---------------------------------------------------------------------------------- */

void evk_vc2_w_embedding(float w, int dim, float *out) {
    int half = dim / 2;
    float e = logf(10000.0f) / (float)(half - 1);
    float ws = w * 1000.0f;
    for (int i = 0; i < half; i++) {
        float f = expf((float)i * -e);
        float a = ws * f;
        out[i] = (float)sin((double)a);
        out[half + i] = (float)cos((double)a);
    }
    if (dim % 2) out[dim - 1] = 0.0f;
}

/* GroupNorm over whole clips of x [B·F, C, H, W] (optionally + SiLU): a new tensor, same layout. */
static evk_tensor evk__clip_norm(evk_nn *nn, const evk_tensor *x, int64_t F, const evk_norm *norm, bool silu) {
    int64_t N = x->shape[0], C = x->shape[1], L = x->shape[2] * x->shape[3], B = N / F;
    evk_tensor xt = evk_nn_transpose(nn, x, B, F, C * L, EVK_SHAPE(B, C, L * F));
    evk_tensor n = evk_nn_group_norm(nn, &xt, norm, silu);
    evk_nn_free(nn, &xt);
    evk_tensor out = evk_nn_transpose(nn, &n, B, C * L, F, EVK_SHAPE(N, C, x->shape[2], x->shape[3]));
    evk_nn_free(nn, &n);
    return out;
}

/* TemporalConvBlock on h (in place: h ← h + convs(h)). */
static void evk__tconv_forward(evk_nn *nn, const evk__tconv *tc, evk_tensor *h, int64_t F) {
    evk_tensor cur = *h, owned = {0};
    for (int k = 0; k < 4; k++) {
        evk_tensor a = evk__clip_norm(nn, &cur, F, &tc->norm[k], true);
        evk_tensor y = evk_nn_new(nn, cur.ndim, cur.shape);
        evk_temporal_conv_params tp = {.frames = (uint32_t)F};
        if (!nn->status) evk_nn_fail(nn, evk_op_temporal_conv(nn->s, &a, &tc->w[k], &tc->b[k], &y, &tp));
        evk_nn_free(nn, &a);
        evk_nn_free(nn, &owned);
        owned = y;
        cur = y;
    }
    evk_nn_add_into(nn, h, &owned);
    evk_nn_free(nn, &owned);
}

/* Replace *h by next, freeing the old tensor. */
static void evk__vreplace(evk_nn *nn, evk_tensor *h, evk_tensor next) {
    evk_nn_free(nn, h);
    *h = next;
}

static void evk__vblock_forward(evk_nn *nn, const evk__vblock *b, evk_tensor *h, const evk_tensor *temb_act, const evk_tensor *ctx,
                                int64_t F) {
    for (int i = 0; i < b->n; i++) {
        const evk__vlayer *l = &b->layer[i];
        switch (l->kind) {
        case EVK__V_RES:
            evk__vreplace(nn, h, evk_nn_resnet(nn, &l->res.r, h, temb_act));
            if (l->res.temporal) evk__tconv_forward(nn, &l->res.tc, h, F);
            break;
        case EVK__V_SPATIAL: evk__vreplace(nn, h, evk_nn_transformer_spatial(nn, &l->tr, h, ctx)); break;
        case EVK__V_TEMPORAL: evk__vreplace(nn, h, evk_nn_transformer_temporal(nn, &l->tr, h, (int)F)); break;
        case EVK__V_DOWN:
        case EVK__V_CONV_IN: evk__vreplace(nn, h, evk_nn_conv2d(nn, h, &l->conv)); break;
        case EVK__V_UP: {
            evk_tensor up = evk_nn_upsample2x(nn, h);
            evk__vreplace(nn, h, evk_nn_conv2d(nn, &up, &l->conv));
            evk_nn_free(nn, &up);
            break;
        }
        default: break;
        }
    }
}

/* rows [B·R, W] of dst = src rows [B, ...] repeated: dst row (b·R + r) = src row b (per `inner`
 * rows of width W: dst [(b·R + r)·inner + j] = src [b·inner + j]). */
static void evk__repeat_rows(evk_nn *nn, const evk_tensor *src, int64_t B, int64_t R, int64_t inner, int64_t W, const evk_tensor *dst) {
    if (nn->status) return;
    int64_t n = B * R * inner;
    int32_t *rows = malloc((size_t)n * sizeof *rows);
    if (!rows) {
        evk_nn_fail(nn, evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory"));
        return;
    }
    for (int64_t i = 0; i < n; i++) rows[i] = (int32_t)((i / (R * inner)) * inner + i % inner);
    evk_tensor idx, table, flat;
    evk_status st = evk_tensor_alloc(nn->ctx, EVK_DTYPE_I32, 1, (int64_t[]){n}, &idx);
    if (!st) st = evk_stream_update(nn->s, &idx.buf, 0, rows, (uint64_t)n * 4);
    free(rows);
    if (!st) st = evk_tensor_reshape(src, 2, (int64_t[]){B * inner, W}, &table);
    if (!st) st = evk_tensor_reshape(dst, 2, (int64_t[]){n, W}, &flat);
    if (!st) st = evk_op_gather_rows(nn->s, &table, &idx, &flat);
    evk_tensor_free(nn->ctx, &idx);
    if (st) evk_nn_fail(nn, st);
}

evk_status evk_vc2_unet_forward(evk_vc2_unet *u, evk_stream *s, const evk_vc2_unet_input *in, const evk_tensor *out) {
    const evk_vc2_unet_config *c = &u->cfg;
    const evk_tensor *x = in->x;
    int factor = 1 << (c->levels - 1);
    if (x->ndim != 5 || x->shape[1] != c->in_channels || x->shape[3] % factor || x->shape[4] % factor || !in->t ||
        evk_tensor_numel(in->t) != x->shape[0] || out->ndim != 5 || out->shape[0] != x->shape[0] || out->shape[1] != c->out_channels ||
        out->shape[2] != x->shape[2] || out->shape[3] != x->shape[3] || out->shape[4] != x->shape[4])
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT,
                        "3-D UNet: x must be [B, %d, F, H, W] with H, W multiples of %d, t [B] and out [B, %d, F, H, W]", c->in_channels,
                        factor, c->out_channels);
    if (!in->context || in->context->ndim != 3 || in->context->shape[0] != x->shape[0] || in->context->shape[2] != c->context_dim)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "3-D UNet: context must be [B, L, %d]", c->context_dim);
    if (in->has_guidance && !c->time_cond_proj_dim)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "3-D UNet: a guidance embedding needs time_cond_proj, which this UNet lacks");
    if (in->motion_guidance && (!in->has_guidance || c->motion_cond_proj_dim != c->time_cond_proj_dim))
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "3-D UNet: motion guidance needs a guidance embedding and motion_cond_proj "
                                                    "(T2V-Turbo-v2), which this UNet lacks");
    evk_nn nn;
    evk_nn_init(&nn, s);
    int64_t B = x->shape[0], C = x->shape[1], F = x->shape[2], H = x->shape[3], W = x->shape[4], L = H * W, mc = c->model_channels;
    int64_t N = B * F, T = 4 * mc, Lc = in->context->shape[1], D = in->context->shape[2];
    /* embeddings: time_embed(sin(t) + time_cond_proj(w-emb)) [+ fps_embedding(sin(fps))] */
    evk_tensor tp = evk_nn_new(&nn, EVK_SHAPE(B, mc));
    evk_embedding_params ep = {.flip_sin_to_cos = true, .downscale_freq_shift = 0};
    if (!nn.status) evk_nn_fail(&nn, evk_op_timestep_embedding(s, in->t, &ep, &tp));
    if (in->has_guidance) {
        int dim = c->time_cond_proj_dim;
        float *we = malloc((size_t)(B * dim) * sizeof *we);
        if (!we) evk_nn_fail(&nn, evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory"));
        else {
            for (int64_t b = 0; b < B; b++) {
                if (in->guidance_items || !b) evk_vc2_w_embedding(in->guidance_items ? in->guidance_items[b] : in->guidance, dim, we + b * dim);
                else memcpy(we + b * dim, we, (size_t)dim * sizeof *we);
            }
        }
        evk_tensor wt = evk_nn_new(&nn, EVK_SHAPE(B, dim));
        if (!nn.status) evk_nn_fail(&nn, evk_stream_update(s, &wt.buf, 0, we, (uint64_t)(B * dim) * 4));
        free(we);
        evk_tensor wc = evk_nn_linear(&nn, &wt, &u->time_cond);
        evk_nn_free(&nn, &wt);
        if (in->motion_guidance) {
            /* combine_proj(cat[time_cond_proj(w-emb), motion_cond_proj(m-emb)]) */
            float *me = malloc((size_t)(B * dim) * sizeof *me);
            if (!me) evk_nn_fail(&nn, evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory"));
            for (int64_t b = 0; me && b < B; b++) evk_vc2_w_embedding(in->motion_guidance[b], dim, me + b * dim);
            evk_tensor mt = evk_nn_new(&nn, EVK_SHAPE(B, dim));
            if (!nn.status) evk_nn_fail(&nn, evk_stream_update(s, &mt.buf, 0, me, (uint64_t)(B * dim) * 4));
            free(me);
            evk_tensor mc1 = evk_nn_linear(&nn, &mt, &u->motion_cond);
            evk_nn_free(&nn, &mt);
            evk_tensor cat = evk_nn_concat_channels(&nn, &wc, &mc1);
            evk_nn_free(&nn, &mc1);
            evk_nn_free(&nn, &wc);
            wc = evk_nn_linear(&nn, &cat, &u->combine);
            evk_nn_free(&nn, &cat);
        }
        evk_nn_add_into(&nn, &tp, &wc);
        evk_nn_free(&nn, &wc);
    }
    evk_tensor t1 = evk_nn_linear(&nn, &tp, &u->time_1);
    evk_nn_free(&nn, &tp);
    evk_tensor t1a = evk_nn_activation(&nn, &t1, EVK_ACT_SILU);
    evk_nn_free(&nn, &t1);
    evk_tensor emb = evk_nn_linear(&nn, &t1a, &u->time_2);
    evk_nn_free(&nn, &t1a);
    if (c->fps_cond) {
        float *fv = malloc((size_t)B * sizeof *fv);
        if (!fv) evk_nn_fail(&nn, evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory"));
        for (int64_t b = 0; fv && b < B; b++) fv[b] = in->fps;
        evk_tensor ft = evk_nn_new(&nn, EVK_SHAPE(B));
        if (!nn.status) evk_nn_fail(&nn, evk_stream_update(s, &ft.buf, 0, fv, (uint64_t)B * 4));
        free(fv);
        evk_tensor fe = evk_nn_new(&nn, EVK_SHAPE(B, mc));
        if (!nn.status) evk_nn_fail(&nn, evk_op_timestep_embedding(s, &ft, &ep, &fe));
        evk_nn_free(&nn, &ft);
        evk_tensor f1 = evk_nn_linear(&nn, &fe, &u->fps_1);
        evk_nn_free(&nn, &fe);
        evk_tensor f1a = evk_nn_activation(&nn, &f1, EVK_ACT_SILU);
        evk_nn_free(&nn, &f1);
        evk_tensor f2 = evk_nn_linear(&nn, &f1a, &u->fps_2);
        evk_nn_free(&nn, &f1a);
        evk_nn_add_into(&nn, &emb, &f2);
        evk_nn_free(&nn, &f2);
    }
    evk_tensor emb_act = evk_nn_activation(&nn, &emb, EVK_ACT_SILU);
    evk_nn_free(&nn, &emb);
    /* per frame: embeddings and context repeated F times (repeat_interleave) */
    evk_tensor temb = evk_nn_new(&nn, EVK_SHAPE(N, T));
    evk__repeat_rows(&nn, &emb_act, B, F, 1, T, &temb);
    evk_nn_free(&nn, &emb_act);
    evk_tensor ctx = evk_nn_new(&nn, EVK_SHAPE(N, Lc, D));
    evk__repeat_rows(&nn, in->context, B, F, Lc, D, &ctx);
    /* [B, C, F, H·W] -> [B, C, H·W, F] -> [B, F, C·H·W] = [B·F, C, H, W] */
    evk_tensor x1 = evk_nn_transpose(&nn, x, B * C, F, L, EVK_SHAPE(B, C, L, F));
    evk_tensor h = evk_nn_transpose(&nn, &x1, B, C * L, F, EVK_SHAPE(N, C, H, W));
    evk_nn_free(&nn, &x1);

    evk_tensor skips[EVK__VC2_MAX_BLOCKS];
    int nskip = 0;
    for (int i = 0; i < u->n_in; i++) {
        if (i == 0) {
            evk__vreplace(&nn, &h, evk_nn_conv2d(&nn, &h, &u->in[0].layer[0].conv));
            if (u->init_attn_present) evk__vreplace(&nn, &h, evk_nn_transformer_temporal(&nn, &u->init_attn, &h, (int)F));
        } else {
            evk__vblock_forward(&nn, &u->in[i], &h, &temb, &ctx, F);
        }
        /* the skip keeps its own copy: the next block replaces h */
        evk_tensor k = evk_nn_new(&nn, h.ndim, h.shape);
        if (!nn.status) evk_nn_fail(&nn, evk_stream_copy(s, &h.buf, 0, &k.buf, 0, evk_tensor_bytes(&h)));
        skips[nskip++] = k;
    }
    evk__vblock_forward(&nn, &u->mid, &h, &temb, &ctx, F);
    for (int i = 0; i < u->n_out; i++) {
        evk_tensor skip = skips[--nskip];
        evk_tensor cat = evk_nn_concat_channels(&nn, &h, &skip);
        evk_nn_free(&nn, &skip);
        evk__vreplace(&nn, &h, cat);
        evk__vblock_forward(&nn, &u->out[i], &h, &temb, &ctx, F);
    }
    while (nskip > 0) evk_nn_free(&nn, &skips[--nskip]);
    evk_nn_free(&nn, &temb);
    evk_nn_free(&nn, &ctx);
    evk_tensor n = evk_nn_group_norm(&nn, &h, &u->norm_out, true);
    evk_nn_free(&nn, &h);
    evk_tensor o = evk_nn_conv2d(&nn, &n, &u->conv_out);
    evk_nn_free(&nn, &n);
    /* [B, F, C·H·W] -> [B, C·H·W, F] = [B, C, H·W, F] -> [B, C, F, H·W] */
    int64_t Co = c->out_channels;
    evk_tensor o1 = evk_nn_transpose(&nn, &o, B, F, Co * L, EVK_SHAPE(B, Co, L, F));
    evk_nn_free(&nn, &o);
    if (!nn.status) evk_nn_fail(&nn, evk_op_transpose(s, &o1, B * Co, L, F, (evk_tensor *)out));
    evk_nn_free(&nn, &o1);
    return nn.status;
}
