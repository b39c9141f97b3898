/* modelscope.c — UNet3DConditionModel: weight loading by diffusers names and the forward pass
 * (frames folded into the batch; temporal convolutions and transformers between the spatial
 * layers). See modelscope.h. */
#include "models/video/modelscope.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/transformer.h"
#include "ops/op_conv.h"
#include "ops/op_embedding.h"
#include "ops/op_layout.h"

#define EVK__MS_MAX_LAYERS 8

/* TemporalConvLayer: conv<i> = Sequential(GroupNorm, SiLU, [Dropout,] Conv3d (3, 1, 1)). */
typedef struct evk__tconv {
    evk_norm norm[4];
    evk_tensor w[4], b[4]; /* [C, C, 3, 1, 1], [C] */
    int channels;
} evk__tconv;

typedef struct evk__ms_block {
    int layers;
    bool attn;
    evk_resnet resnet[EVK__MS_MAX_LAYERS];
    evk__tconv tconv[EVK__MS_MAX_LAYERS];
    evk_transformer spatial[EVK__MS_MAX_LAYERS], temporal[EVK__MS_MAX_LAYERS];
    bool resample;
    evk_conv2d resample_conv;
} evk__ms_block;

struct evk_ms_unet {
    evk_context *ctx;
    evk_unet3d_config cfg;
    evk_conv2d conv_in, conv_out;
    evk_linear time_1, time_2, cond_proj;
    evk_transformer transformer_in;
    evk__ms_block down[EVK_CONFIG_MAX_BLOCKS], up[EVK_CONFIG_MAX_BLOCKS], mid;
    evk_norm norm_out;
};

/* ---- loading ---------------------------------------------------------------------------------- */

static evk_status evk__tconv_load(evk_weights *ws, const char *p, int ch, const evk_unet3d_config *c, evk_dtype st,
                                  evk__tconv *t) {
    char n[320];
    t->channels = ch;
    /* the Sequential index of the Conv3d: conv1 has no Dropout before it */
    static const int conv_index[4] = {2, 3, 3, 3};
    for (int i = 0; i < 4; i++) {
        snprintf(n, sizeof n, "%.260s.conv%d.0", p, i + 1);
        EVK_TRY(evk_norm_load(ws, n, ch, c->norm_num_groups, 1e-5f, &t->norm[i])); /* nn.GroupNorm's default eps */
        snprintf(n, sizeof n, "%.260s.conv%d.%d.weight", p, i + 1, conv_index[i]);
        EVK_TRY(evk_weights_get(ws, n, 5, (int64_t[]){ch, ch, 3, 1, 1}, st, &t->w[i]));
        snprintf(n, sizeof n, "%.260s.conv%d.%d.bias", p, i + 1, conv_index[i]);
        EVK_TRY(evk_weights_get(ws, n, 1, (int64_t[]){ch}, EVK_DTYPE_F32, &t->b[i]));
    }
    return EVK_OK;
}

static void evk__tconv_free(evk_context *ctx, evk__tconv *t) {
    for (int i = 0; i < 4; i++) {
        evk_norm_free(ctx, &t->norm[i]);
        evk_tensor_free(ctx, &t->w[i]);
        evk_tensor_free(ctx, &t->b[i]);
    }
}

static void evk__block_free(evk_context *ctx, evk__ms_block *b) {
    for (int i = 0; i < EVK__MS_MAX_LAYERS; i++) {
        evk_resnet_free(ctx, &b->resnet[i]);
        evk__tconv_free(ctx, &b->tconv[i]);
        evk_transformer_free(ctx, &b->spatial[i]);
        evk_transformer_free(ctx, &b->temporal[i]);
    }
    evk_conv2d_free(ctx, &b->resample_conv);
}

/* One layer of a block: resnet, temporal conv and (attn) the spatial and temporal transformers. */
static evk_status evk__layer_load(evk_weights *ws, const char *bp, int l, int in, int out, int temb, bool attn, bool linear_proj,
                                  float scale, const evk_unet3d_config *c, evk_dtype st, evk__ms_block *b) {
    char p[300];
    snprintf(p, sizeof p, "%.200s.resnets.%d", bp, l);
    EVK_TRY(evk_resnet_load(ws, p, in, out, temb, c->norm_num_groups, c->norm_eps, scale, st, &b->resnet[l]));
    snprintf(p, sizeof p, "%.200s.temp_convs.%d", bp, l);
    EVK_TRY(evk__tconv_load(ws, p, out, c, st, &b->tconv[l]));
    if (!attn) return EVK_OK;
    evk_transformer_config tc = {.channels = out, .heads = out / c->attention_head_dim, .head_dim = c->attention_head_dim,
                                 .layers = 1, .context_dim = c->cross_attention_dim, .groups = c->norm_num_groups,
                                 .norm_eps = 1e-6f, .conv_proj = !linear_proj};
    snprintf(p, sizeof p, "%.200s.attentions.%d", bp, l);
    EVK_TRY(evk_transformer_load(ws, p, &tc, st, &b->spatial[l]));
    tc.context_dim = 0; /* double_self_attention: attn2 attends to the frames again */
    tc.conv_proj = false;
    snprintf(p, sizeof p, "%.200s.temp_attentions.%d", bp, l);
    return evk_transformer_load(ws, p, &tc, st, &b->temporal[l]);
}

static evk_status evk__ms_load_all(evk_ms_unet *u, evk_weights *ws, evk_dtype st) {
    const evk_unet3d_config *c = &u->cfg;
    int nb = c->num_blocks, c0 = c->block_out_channels[0], temb = 4 * c0;
    if (nb < 1 || nb > EVK_CONFIG_MAX_BLOCKS || c->layers_per_block < 1 || c->layers_per_block + 1 > EVK__MS_MAX_LAYERS)
        return evk_fail(EVK_ERROR_FORMAT, "UNet3D: %d blocks of %d layers", nb, c->layers_per_block);
    EVK_TRY(evk_conv2d_load(ws, "conv_in", c->in_channels, c0, 3, 1, 1, true, st, &u->conv_in));
    EVK_TRY(evk_linear_load(ws, "time_embedding.linear_1", c0, temb, true, st, &u->time_1));
    EVK_TRY(evk_linear_load(ws, "time_embedding.linear_2", temb, temb, true, st, &u->time_2));
    if (c->time_cond_proj_dim)
        EVK_TRY(evk_linear_load(ws, "time_embedding.cond_proj", c->time_cond_proj_dim, c0, false, st, &u->cond_proj));
    evk_transformer_config tin = {.channels = c0, .heads = 8, .head_dim = c->attention_head_dim, .layers = 1,
                                  .groups = c->norm_num_groups, .norm_eps = 1e-6f};
    EVK_TRY(evk_transformer_load(ws, "transformer_in", &tin, st, &u->transformer_in));
    char p[256];
    int ch = c0;
    for (int i = 0; i < nb; i++) {
        evk__ms_block *b = &u->down[i];
        int out = c->block_out_channels[i];
        b->layers = c->layers_per_block;
        b->attn = c->down_block_types[i] == EVK_UNET_CROSS_ATTN_DOWN_BLOCK;
        snprintf(p, sizeof p, "down_blocks.%d", i);
        for (int l = 0; l < b->layers; l++) EVK_TRY(evk__layer_load(ws, p, l, l ? out : ch, out, temb, b->attn, false, 1, c, st, b));
        b->resample = i != nb - 1;
        if (b->resample) {
            snprintf(p, sizeof p, "down_blocks.%d.downsamplers.0.conv", i);
            EVK_TRY(evk_conv2d_load(ws, p, out, out, 3, 2, c->downsample_padding, true, st, &b->resample_conv));
        }
        ch = out;
    }
    /* UNetMidBlock3DCrossAttn: resnet, temp conv, then (spatial, temporal, resnet, temp conv);
     * its Transformer2DModel keeps the block's default Linear projections */
    int top = c->block_out_channels[nb - 1];
    evk__ms_block *m = &u->mid;
    m->layers = 2;
    m->attn = true;
    EVK_TRY(evk__layer_load(ws, "mid_block", 0, top, top, temb, true, true, c->mid_block_scale_factor, c, st, m));
    EVK_TRY(evk__layer_load(ws, "mid_block", 1, top, top, temb, false, true, c->mid_block_scale_factor, c, st, m));
    int prev = top;
    for (int i = 0; i < nb; i++) {
        int r = nb - 1 - i;
        evk__ms_block *b = &u->up[i];
        int out = c->block_out_channels[r], skip_in = c->block_out_channels[r > 0 ? r - 1 : 0];
        b->layers = c->layers_per_block + 1;
        b->attn = c->up_block_types[i] == EVK_UNET_CROSS_ATTN_UP_BLOCK;
        snprintf(p, sizeof p, "up_blocks.%d", i);
        for (int l = 0; l < b->layers; l++) {
            int skip = l == b->layers - 1 ? skip_in : out, rin = l == 0 ? prev : out;
            EVK_TRY(evk__layer_load(ws, p, l, rin + skip, out, temb, b->attn, false, 1, c, st, b));
        }
        b->resample = i != nb - 1;
        if (b->resample) {
            snprintf(p, sizeof p, "up_blocks.%d.upsamplers.0.conv", i);
            EVK_TRY(evk_conv2d_load(ws, p, out, out, 3, 1, 1, true, st, &b->resample_conv));
        }
        prev = out;
    }
    EVK_TRY(evk_norm_load(ws, "conv_norm_out", c0, c->norm_num_groups, c->norm_eps, &u->norm_out));
    EVK_TRY(evk_conv2d_load(ws, "conv_out", c0, c->out_channels, 3, 1, 1, true, st, &u->conv_out));
    return EVK_OK;
}

evk_status evk_ms_unet_load(evk_context *ctx, const evk_unet3d_config *cfg, evk_weights *ws, evk_dtype storage, evk_ms_unet **out) {
    *out = NULL;
    evk_ms_unet *u = calloc(1, sizeof *u);
    if (!u) return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    u->ctx = ctx;
    u->cfg = *cfg;
    evk_status s = evk__ms_load_all(u, ws, storage);
    if (s) {
        evk_ms_unet_destroy(u);
        return evk_fail_context(s, "loading the UNet3DConditionModel");
    }
    *out = u;
    return EVK_OK;
}

void evk_ms_unet_destroy(evk_ms_unet *u) {
    if (!u) return;
    evk_conv2d_free(u->ctx, &u->conv_in);
    evk_conv2d_free(u->ctx, &u->conv_out);
    evk_linear_free(u->ctx, &u->time_1);
    evk_linear_free(u->ctx, &u->time_2);
    evk_linear_free(u->ctx, &u->cond_proj);
    evk_transformer_free(u->ctx, &u->transformer_in);
    for (int i = 0; i < EVK_CONFIG_MAX_BLOCKS; i++) {
        evk__block_free(u->ctx, &u->down[i]);
        evk__block_free(u->ctx, &u->up[i]);
    }
    evk__block_free(u->ctx, &u->mid);
    evk_norm_free(u->ctx, &u->norm_out);
    free(u);
}

const evk_unet3d_config *evk_ms_unet_get_config(const evk_ms_unet *u) { return &u->cfg; }

int evk_ms_unet_downsamplings(const evk_ms_unet *u) { return u->cfg.num_blocks - 1; }

/* ---- forward ---------------------------------------------------------------------------------- */

/* GroupNorm (+ SiLU) of x [B·F, C, H, W] with statistics over each clip's F frames, as torch's
 * GroupNorm on [B, C, F, H, W]: within a group the order of elements does not matter, so the
 * frames move innermost ([B, C·H·W, F]), the norm runs per clip, and they move back. */
static evk_tensor evk__clip_group_norm(evk_nn *nn, const evk_tensor *x, const evk_norm *n, bool silu, int64_t F) {
    int64_t C = x->shape[1], L = x->shape[2] * x->shape[3], B = nn->status ? 1 : x->shape[0] / F;
    evk_tensor xt = evk_nn_transpose(nn, x, B, F, C * L, EVK_SHAPE(B, C, L * F));
    evk_tensor nt = evk_nn_group_norm(nn, &xt, n, silu);
    evk_nn_free(nn, &xt);
    evk_tensor out = evk_nn_transpose(nn, &nt, B, C * L, F, x->ndim, x->shape);
    evk_nn_free(nn, &nt);
    return out;
}

/* TemporalConvLayer: x + conv4(conv3(conv2(conv1(x)))) over the frames of each clip; a new tensor. */
static evk_tensor evk__tconv_forward(evk_nn *nn, const evk__tconv *t, const evk_tensor *x, int64_t F) {
    evk_tensor h = evk_nn_view(nn, x, x->ndim, x->shape), prev = {0};
    evk_temporal_conv_params tp = {.frames = (uint32_t)F};
    for (int i = 0; i < 4; i++) {
        evk_tensor n = evk__clip_group_norm(nn, &h, &t->norm[i], true, F);
        if (i) evk_nn_free(nn, &prev);
        evk_tensor y = evk_nn_new(nn, x->ndim, x->shape);
        if (!nn->status) evk_nn_fail(nn, evk_op_temporal_conv(nn->s, &n, &t->w[i], &t->b[i], &y, &tp));
        evk_nn_free(nn, &n);
        h = prev = y;
    }
    evk_nn_add_into(nn, &h, x);
    return h;
}

/* dst [R·repeat, W] with dst[i] = src[i / repeat] (torch's repeat_interleave along dim 0). */
static evk_tensor evk__repeat_rows(evk_nn *nn, const evk_tensor *src, int64_t R, int64_t W, int64_t repeat, int ndim,
                                   const int64_t *shape) {
    evk_tensor out = evk_nn_new(nn, ndim, shape);
    if (nn->status) return out;
    int32_t *rows = malloc((size_t)(R * repeat) * sizeof *rows);
    if (!rows) {
        evk_nn_fail(nn, evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory"));
        return out;
    }
    for (int64_t i = 0; i < R * repeat; i++) rows[i] = (int32_t)(i / repeat);
    evk_tensor idx, table, flat;
    evk_status st = evk_tensor_alloc(nn->ctx, EVK_DTYPE_I32, 1, (int64_t[]){R * repeat}, &idx);
    if (!st) st = evk_stream_update(nn->s, &idx.buf, 0, rows, (uint64_t)(R * repeat) * 4);
    free(rows);
    if (!st) st = evk_tensor_reshape(src, 2, (int64_t[]){R, W}, &table);
    if (!st) st = evk_tensor_reshape(&out, 2, (int64_t[]){R * repeat, W}, &flat);
    if (!st) st = evk_op_gather_rows(nn->s, &table, &idx, &flat);
    if (idx.buf.block) evk_tensor_free(nn->ctx, &idx); /* reuse inside the stream is ordered by its barriers */
    if (st) evk_nn_fail(nn, st);
    return out;
}

/* Replace *h by next, freeing the old tensor. */
static void evk__replace(evk_nn *nn, evk_tensor *h, evk_tensor next) {
    evk_nn_free(nn, h);
    *h = next;
}

/* resnet → temporal conv (→ spatial transformer → temporal transformer); a new tensor. */
static evk_tensor evk__layer_forward(evk_nn *nn, const evk__ms_block *b, int l, bool attn, const evk_tensor *x,
                                     const evk_tensor *temb_act, const evk_tensor *context, int64_t F) {
    evk_tensor h = evk_nn_resnet(nn, &b->resnet[l], x, temb_act);
    evk__replace(nn, &h, evk__tconv_forward(nn, &b->tconv[l], &h, F));
    if (attn) {
        evk__replace(nn, &h, evk_nn_transformer_spatial(nn, &b->spatial[l], &h, context));
        evk__replace(nn, &h, evk_nn_transformer_temporal(nn, &b->temporal[l], &h, (int)F));
    }
    return h;
}

evk_status evk_ms_unet_forward(evk_ms_unet *u, evk_stream *s, const evk_tensor *x, const evk_tensor *t, const evk_tensor *context,
                               const evk_tensor *timestep_cond, const evk_tensor *out) {
    const evk_unet3d_config *c = &u->cfg;
    int nb = c->num_blocks, factor = 1 << (nb - 1);
    if (x->ndim != 5 || x->shape[1] != c->in_channels || x->shape[3] % factor || x->shape[4] % factor ||
        evk_tensor_numel(t) != x->shape[0] || out->ndim != 5 || out->shape[0] != x->shape[0] || out->shape[1] != c->out_channels ||
        out->shape[2] != x->shape[2] || out->shape[3] != x->shape[3] || out->shape[4] != x->shape[4])
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT,
                        "UNet3D: x must be [B, %d, F, H, W] with H, W multiples of %d, t [B] and out [B, %d, F, H, W]", c->in_channels,
                        factor, c->out_channels);
    if (!context || context->ndim != 3 || context->shape[0] != x->shape[0] || context->shape[2] != c->cross_attention_dim)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "UNet3D: context must be [B, L, %d]", c->cross_attention_dim);
    if (!c->time_cond_proj_dim != !timestep_cond ||
        (timestep_cond && (evk_tensor_numel(timestep_cond) != x->shape[0] * c->time_cond_proj_dim)))
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT,
                        c->time_cond_proj_dim ? "UNet3D: this UNet needs timestep_cond [B, %d] (the guidance-scale embedding)"
                                              : "UNet3D: this UNet takes no timestep_cond (it has no time_embedding.cond_proj)%.0d",
                        c->time_cond_proj_dim);
    evk_nn nn;
    evk_nn_init(&nn, s);
    int64_t B = x->shape[0], Cin = x->shape[1], F = x->shape[2], H = x->shape[3], W = x->shape[4], c0 = c->block_out_channels[0];
    int64_t T = 4 * c0, L = context->shape[1], D = context->shape[2];

    /* time embedding: sinusoid [cos | sin] (+ cond_proj(timestep_cond)) -> linear -> SiLU -> linear;
     * the resnets take silu(temb), one row per frame */
    evk_tensor tp = evk_nn_new(&nn, EVK_SHAPE(B, c0));
    evk_embedding_params ep = {.flip_sin_to_cos = true, .downscale_freq_shift = 0};
    if (!nn.status) evk_nn_fail(&nn, evk_op_timestep_embedding(s, t, &ep, &tp));
    if (timestep_cond) {
        evk_tensor tc = evk_nn_view(&nn, timestep_cond, EVK_SHAPE(B, c->time_cond_proj_dim));
        evk_tensor cp = evk_nn_linear(&nn, &tc, &u->cond_proj);
        evk_nn_add_into(&nn, &tp, &cp);
        evk_nn_free(&nn, &cp);
    }
    evk_tensor t1 = evk_nn_linear(&nn, &tp, &u->time_1);
    evk_nn_free(&nn, &tp);
    evk_tensor t1a = evk_nn_activation(&nn, &t1, EVK_ACT_SILU);
    evk_nn_free(&nn, &t1);
    evk_tensor temb = evk_nn_linear(&nn, &t1a, &u->time_2);
    evk_nn_free(&nn, &t1a);
    evk_tensor temb_act1 = evk_nn_activation(&nn, &temb, EVK_ACT_SILU);
    evk_nn_free(&nn, &temb);
    evk_tensor temb_act = evk__repeat_rows(&nn, &temb_act1, B, T, F, EVK_SHAPE(B * F, T));
    evk_nn_free(&nn, &temb_act1);
    evk_tensor ctx = evk__repeat_rows(&nn, context, B, L * D, F, EVK_SHAPE(B * F, L, D));

    /* [B, C, F, H·W] -> [B, F, C, H·W] = [B·F, C, H, W] */
    evk_tensor xa = evk_nn_transpose(&nn, x, B, Cin, F * H * W, EVK_SHAPE(B, F * H * W, Cin));
    evk_tensor xf = evk_nn_transpose(&nn, &xa, B * F, H * W, Cin, EVK_SHAPE(B * F, Cin, H, W));
    evk_nn_free(&nn, &xa);
    evk_tensor h0 = evk_nn_conv2d(&nn, &xf, &u->conv_in);
    evk_nn_free(&nn, &xf);
    evk_tensor h = evk_nn_transformer_temporal(&nn, &u->transformer_in, &h0, (int)F);
    evk_nn_free(&nn, &h0);

    evk_tensor skips[EVK_CONFIG_MAX_BLOCKS * (EVK__MS_MAX_LAYERS + 1) + 1];
    int nskip = 0;
    skips[nskip++] = h;
    for (int i = 0; i < nb; i++) {
        const evk__ms_block *b = &u->down[i];
        for (int l = 0; l < b->layers; l++) {
            h = evk__layer_forward(&nn, b, l, b->attn, &h, &temb_act, &ctx, F);
            skips[nskip++] = h; /* kept for the up path; freed there */
        }
        if (b->resample) {
            h = evk_nn_conv2d(&nn, &h, &b->resample_conv);
            skips[nskip++] = h;
        }
    }
    {
        const evk__ms_block *m = &u->mid;
        evk_tensor r = evk__layer_forward(&nn, m, 0, true, &h, &temb_act, &ctx, F);
        evk__replace(&nn, &r, evk__layer_forward(&nn, m, 1, false, &r, &temb_act, &ctx, F));
        h = r;
    }
    for (int i = 0; i < nb; i++) {
        const evk__ms_block *b = &u->up[i];
        for (int l = 0; l < b->layers; l++) {
            evk_tensor skip = skips[--nskip];
            evk_tensor cat = evk_nn_concat_channels(&nn, &h, &skip);
            evk_nn_free(&nn, &skip);
            evk_nn_free(&nn, &h);
            h = evk__layer_forward(&nn, b, l, b->attn, &cat, &temb_act, &ctx, F);
            evk_nn_free(&nn, &cat);
        }
        if (b->resample) {
            evk_tensor up = evk_nn_upsample2x(&nn, &h);
            evk_nn_free(&nn, &h);
            h = evk_nn_conv2d(&nn, &up, &b->resample_conv);
            evk_nn_free(&nn, &up);
        }
    }
    while (nskip > 0) evk_nn_free(&nn, &skips[--nskip]); /* only after a failure */
    evk_nn_free(&nn, &temb_act);
    evk_nn_free(&nn, &ctx);
    evk_tensor n = evk_nn_group_norm(&nn, &h, &u->norm_out, true);
    evk_nn_free(&nn, &h);
    evk_tensor o = evk_nn_conv2d(&nn, &n, &u->conv_out);
    evk_nn_free(&nn, &n);
    /* [B, F, C, H·W] -> [B, C, F, H·W] */
    int64_t Co = c->out_channels;
    evk_tensor oa = evk_nn_transpose(&nn, &o, B * F, Co, H * W, EVK_SHAPE(B, F * H * W, Co));
    evk_nn_free(&nn, &o);
    if (!nn.status) evk_nn_fail(&nn, evk_op_transpose(s, &oa, B, F * H * W, Co, (evk_tensor *)out));
    evk_nn_free(&nn, &oa);
    return nn.status;
}
