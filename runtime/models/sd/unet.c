/* unet.c — UNet2DConditionModel: weight loading by diffusers names and the forward pass. */
#include "models/sd/unet.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/transformer.h"
#include "ops/op_embedding.h"

#define EVK__UNET_MAX_LAYERS 8

typedef struct evk__unet_block {
    int layers;
    bool attn;
    evk_resnet resnet[EVK__UNET_MAX_LAYERS];
    evk_transformer transformer[EVK__UNET_MAX_LAYERS];
    bool resample; /* downsampler / upsampler present */
    evk_conv2d resample_conv;
} evk__unet_block;

struct evk_unet {
    evk_context *ctx;
    evk_unet_config cfg;
    evk_conv2d conv_in, conv_out;
    evk_linear time_1, time_2;
    evk__unet_block down[EVK_CONFIG_MAX_BLOCKS], up[EVK_CONFIG_MAX_BLOCKS], mid;
    bool mid_present;
    evk_norm norm_out;
};

/* ---- loading ---------------------------------------------------------------------------------- */

static evk_status evk__resnet_load(evk_weights *ws, const char *p, int in, int out, int temb, const evk_unet_config *c,
                                   evk_dtype st, evk_resnet *r) {
    return evk_resnet_load(ws, p, in, out, temb, c->norm_num_groups, c->norm_eps, c->resnet_out_scale_factor, st, r);
}

static evk_status evk__transformer_load(evk_weights *ws, const char *p, int channels, int heads, int layers, int cross,
                                        const evk_unet_config *c, evk_dtype st, evk_transformer *t) {
    /* Transformer2DModel's GroupNorm has eps 1e-6 whatever the UNet's norm_eps */
    evk_transformer_config tc = {.channels = channels, .heads = heads, .layers = layers, .context_dim = cross,
                                 .groups = c->norm_num_groups, .norm_eps = 1e-6f, .conv_proj = !c->use_linear_projection};
    return evk_transformer_load(ws, p, &tc, st, t);
}

static void evk__block_free(evk_context *ctx, evk__unet_block *b) {
    for (int i = 0; i < b->layers; i++) {
        evk_resnet_free(ctx, &b->resnet[i]);
        evk_transformer_free(ctx, &b->transformer[i]);
    }
    /* the mid block has one resnet more than attentions */
    evk_resnet_free(ctx, &b->resnet[b->layers]);
    evk_conv2d_free(ctx, &b->resample_conv);
}

static evk_status evk__unet_check(const evk_unet_config *c) {
    if (c->resnet_scale_shift) return evk_fail(EVK_ERROR_UNSUPPORTED, "UNet: resnet_time_scale_shift \"scale_shift\" is not supported");
    if (c->time_cond_proj_dim) return evk_fail(EVK_ERROR_UNSUPPORTED, "UNet: time_cond_proj_dim is not supported yet");
    if (c->center_input_sample) return evk_fail(EVK_ERROR_UNSUPPORTED, "UNet: center_input_sample is not supported");
    if (c->resnet_skip_time_act) return evk_fail(EVK_ERROR_UNSUPPORTED, "UNet: resnet_skip_time_act is not supported");
    if (c->act_fn != EVK_ACT_SILU) return evk_fail(EVK_ERROR_UNSUPPORTED, "UNet: act_fn '%s' is not supported (silu only)", evk_activation_name(c->act_fn));
    if (c->conv_in_kernel != 3 || c->conv_out_kernel != 3) return evk_fail(EVK_ERROR_UNSUPPORTED, "UNet: conv_in/out kernels other than 3");
    if (c->num_blocks < 1 || c->num_blocks > EVK_CONFIG_MAX_BLOCKS) return evk_fail(EVK_ERROR_FORMAT, "UNet: %d blocks", c->num_blocks);
    for (int i = 0; i < c->num_blocks; i++) {
        if (c->only_cross_attention[i]) return evk_fail(EVK_ERROR_UNSUPPORTED, "UNet: only_cross_attention is not supported");
        if (c->layers_per_block[i] < 1 || c->layers_per_block[i] + 1 > EVK__UNET_MAX_LAYERS)
            return evk_fail(EVK_ERROR_FORMAT, "UNet: layers_per_block %d in block %d", c->layers_per_block[i], i);
        if (c->norm_num_groups <= 0 || c->block_out_channels[i] % c->norm_num_groups)
            return evk_fail(EVK_ERROR_FORMAT, "UNet: block_out_channels %d not divisible by norm_num_groups %d",
                            c->block_out_channels[i], c->norm_num_groups);
    }
    return EVK_OK;
}

static evk_status evk__unet_load_all(evk_unet *u, evk_weights *ws, evk_dtype st) {
    const evk_unet_config *c = &u->cfg;
    EVK_TRY(evk__unet_check(c));
    int nb = c->num_blocks, c0 = c->block_out_channels[0];
    int temb = c->time_embedding_dim ? c->time_embedding_dim : 4 * c0;
    char p[256];
    EVK_TRY(evk_conv2d_load(ws, "conv_in", c->in_channels, c0, 3, 1, 1, true, st, &u->conv_in));
    EVK_TRY(evk_linear_load(ws, "time_embedding.linear_1", c0, temb, true, st, &u->time_1));
    EVK_TRY(evk_linear_load(ws, "time_embedding.linear_2", temb, temb, true, st, &u->time_2));
    int ch = c0;
    for (int i = 0; i < nb; i++) {
        evk__unet_block *b = &u->down[i];
        int in = ch, out = c->block_out_channels[i];
        b->layers = c->layers_per_block[i];
        b->attn = c->down_block_types[i] == EVK_UNET_CROSS_ATTN_DOWN_BLOCK;
        if (!b->attn && c->down_block_types[i] != EVK_UNET_DOWN_BLOCK)
            return evk_fail(EVK_ERROR_UNSUPPORTED, "UNet: down block type %s", evk_unet_block_name(c->down_block_types[i]));
        for (int l = 0; l < b->layers; l++) {
            snprintf(p, sizeof p, "down_blocks.%d.resnets.%d", i, l);
            EVK_TRY(evk__resnet_load(ws, p, l ? out : in, out, temb, c, st, &b->resnet[l]));
            if (b->attn) {
                snprintf(p, sizeof p, "down_blocks.%d.attentions.%d", i, l);
                EVK_TRY(evk__transformer_load(ws, p, out, c->num_attention_heads[i], c->transformer_layers_per_block[i],
                                              c->cross_attention_dim[i], c, st, &b->transformer[l]));
            }
        }
        b->resample = i != nb - 1;
        if (b->resample) {
            snprintf(p, sizeof p, "down_blocks.%d.downsamplers.0.conv", i);
            EVK_TRY(evk_conv2d_load(ws, p, out, out, 3, 2, c->downsample_padding, true, st, &b->resample_conv));
        }
        ch = out;
    }
    int top = c->block_out_channels[nb - 1];
    u->mid_present = c->mid_block_type != EVK_UNET_MID_NONE;
    if (u->mid_present) {
        evk__unet_block *m = &u->mid;
        m->layers = 1;
        m->attn = c->mid_block_type == EVK_UNET_MID_CROSS_ATTN;
        for (int l = 0; l < 2; l++) {
            snprintf(p, sizeof p, "mid_block.resnets.%d", l);
            EVK_TRY(evk__resnet_load(ws, p, top, top, temb, c, st, &m->resnet[l]));
        }
        if (m->attn)
            EVK_TRY(evk__transformer_load(ws, "mid_block.attentions.0", top, c->num_attention_heads[nb - 1],
                                          c->transformer_layers_per_block[nb - 1], c->cross_attention_dim[nb - 1], c, st,
                                          &m->transformer[0]));
    }
    /* up blocks: reversed channel list; resnet l takes prev/out + the matching skip */
    int prev = top;
    for (int i = 0; i < nb; i++) {
        int r = nb - 1 - i; /* the down block this one mirrors */
        evk__unet_block *b = &u->up[i];
        int out = c->block_out_channels[r], skip_in = c->block_out_channels[r > 0 ? r - 1 : 0];
        b->layers = c->layers_per_block[r] + 1;
        b->attn = c->up_block_types[i] == EVK_UNET_CROSS_ATTN_UP_BLOCK;
        if (!b->attn && c->up_block_types[i] != EVK_UNET_UP_BLOCK)
            return evk_fail(EVK_ERROR_UNSUPPORTED, "UNet: up block type %s", evk_unet_block_name(c->up_block_types[i]));
        for (int l = 0; l < b->layers; l++) {
            int skip = l == b->layers - 1 ? skip_in : out, rin = l == 0 ? prev : out;
            snprintf(p, sizeof p, "up_blocks.%d.resnets.%d", i, l);
            EVK_TRY(evk__resnet_load(ws, p, rin + skip, out, temb, c, st, &b->resnet[l]));
            if (b->attn) {
                snprintf(p, sizeof p, "up_blocks.%d.attentions.%d", i, l);
                EVK_TRY(evk__transformer_load(ws, p, out, c->num_attention_heads[r], c->transformer_layers_per_block[r],
                                              c->cross_attention_dim[r], c, st, &b->transformer[l]));
            }
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

evk_status evk_unet_load(evk_context *ctx, const evk_unet_config *cfg, evk_weights *ws, evk_dtype storage, evk_unet **out) {
    *out = NULL;
    evk_unet *u = calloc(1, sizeof *u);
    if (!u) return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    u->ctx = ctx;
    u->cfg = *cfg;
    evk_status s = evk__unet_load_all(u, ws, storage);
    if (s) {
        evk_unet_destroy(u);
        return evk_fail_context(s, "loading the UNet");
    }
    *out = u;
    return EVK_OK;
}

void evk_unet_destroy(evk_unet *u) {
    if (!u) return;
    evk_conv2d_free(u->ctx, &u->conv_in);
    evk_conv2d_free(u->ctx, &u->conv_out);
    evk_linear_free(u->ctx, &u->time_1);
    evk_linear_free(u->ctx, &u->time_2);
    for (int i = 0; i < EVK_CONFIG_MAX_BLOCKS; i++) {
        evk__block_free(u->ctx, &u->down[i]);
        evk__block_free(u->ctx, &u->up[i]);
    }
    evk__block_free(u->ctx, &u->mid);
    evk_norm_free(u->ctx, &u->norm_out);
    free(u);
}

const evk_unet_config *evk_unet_get_config(const evk_unet *u) { return &u->cfg; }

int evk_unet_downsamplings(const evk_unet *u) { return u->cfg.num_blocks - 1; }

/* ---- forward ---------------------------------------------------------------------------------- */

/* Replace *h by f(*h), freeing the old tensor. */
static void evk__replace(evk_nn *nn, evk_tensor *h, evk_tensor next) {
    evk_nn_free(nn, h);
    *h = next;
}

evk_status evk_unet_forward(evk_unet *u, evk_stream *s, const evk_tensor *x, const evk_tensor *t, const evk_tensor *context,
                            const evk_tensor *out) {
    const evk_unet_config *c = &u->cfg;
    int nb = c->num_blocks, factor = 1 << (nb - 1);
    if (x->ndim != 4 || x->shape[1] != c->in_channels || x->shape[2] % factor || x->shape[3] % factor ||
        evk_tensor_numel(t) != x->shape[0] || out->ndim != 4 || out->shape[0] != x->shape[0] ||
        out->shape[1] != c->out_channels || out->shape[2] != x->shape[2] || out->shape[3] != x->shape[3])
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT,
                        "UNet: x must be [B, %d, H, W] with H, W multiples of %d, t [B] and out [B, %d, H, W]", c->in_channels,
                        factor, c->out_channels);
    if (context && (context->ndim != 3 || context->shape[0] != x->shape[0] || context->shape[2] != c->cross_attention_dim[0]))
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "UNet: context must be [B, L, %d]", c->cross_attention_dim[0]);
    evk_nn nn;
    evk_nn_init(&nn, s);
    int64_t B = x->shape[0], c0 = c->block_out_channels[0];
    /* time embedding: sinusoidal -> linear -> SiLU -> linear; resnets take silu(temb) */
    evk_tensor tp = evk_nn_new(&nn, EVK_SHAPE(B, c0));
    evk_embedding_params ep = {.flip_sin_to_cos = c->flip_sin_to_cos, .downscale_freq_shift = c->freq_shift};
    if (!nn.status) evk_nn_fail(&nn, evk_op_timestep_embedding(s, t, &ep, &tp));
    evk_tensor t1 = evk_nn_linear(&nn, &tp, &u->time_1);
    evk_nn_free(&nn, &tp);
    evk_tensor t1a = evk_nn_activation(&nn, &t1, EVK_ACT_SILU);
    evk_nn_free(&nn, &t1);
    evk_tensor temb = evk_nn_linear(&nn, &t1a, &u->time_2);
    evk_nn_free(&nn, &t1a);
    evk_tensor temb_act = evk_nn_activation(&nn, &temb, EVK_ACT_SILU);
    evk_nn_free(&nn, &temb);

    evk_tensor skips[EVK_CONFIG_MAX_BLOCKS * (EVK__UNET_MAX_LAYERS + 1) + 1];
    int nskip = 0;
    evk_tensor h = evk_nn_conv2d(&nn, x, &u->conv_in);
    skips[nskip++] = h;
    for (int i = 0; i < nb; i++) {
        const evk__unet_block *b = &u->down[i];
        for (int l = 0; l < b->layers; l++) {
            h = evk_nn_resnet(&nn, &b->resnet[l], &h, &temb_act);
            if (b->attn) evk__replace(&nn, &h, evk_nn_transformer_spatial(&nn, &b->transformer[l], &h, context));
            skips[nskip++] = h; /* kept for the up path; freed there */
        }
        if (b->resample) {
            h = evk_nn_conv2d(&nn, &h, &b->resample_conv);
            skips[nskip++] = h;
        }
    }
    /* h aliases the last skip: take a fresh copy path through the mid block */
    if (u->mid_present) {
        const evk__unet_block *m = &u->mid;
        evk_tensor r = evk_nn_resnet(&nn, &m->resnet[0], &h, &temb_act);
        if (m->attn) evk__replace(&nn, &r, evk_nn_transformer_spatial(&nn, &m->transformer[0], &r, context));
        evk__replace(&nn, &r, evk_nn_resnet(&nn, &m->resnet[1], &r, &temb_act));
        h = r;
    } else {
        evk_tensor r = evk_nn_new(&nn, h.ndim, h.shape);
        if (!nn.status) evk_nn_fail(&nn, evk_op_scale(s, &h, 1.0f, 0.0f, &r));
        h = r;
    }
    for (int i = 0; i < nb; i++) {
        const evk__unet_block *b = &u->up[i];
        for (int l = 0; l < b->layers; l++) {
            evk_tensor skip = skips[--nskip];
            evk_tensor cat = evk_nn_concat_channels(&nn, &h, &skip);
            evk_nn_free(&nn, &skip);
            evk_nn_free(&nn, &h);
            h = evk_nn_resnet(&nn, &b->resnet[l], &cat, &temb_act);
            evk_nn_free(&nn, &cat);
            if (b->attn) evk__replace(&nn, &h, evk_nn_transformer_spatial(&nn, &b->transformer[l], &h, context));
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
    evk_tensor n = evk_nn_group_norm(&nn, &h, &u->norm_out, true);
    evk_nn_free(&nn, &h);
    evk_tensor o = evk_nn_conv2d(&nn, &n, &u->conv_out);
    if (!nn.status) evk_nn_fail(&nn, evk_op_scale(s, &o, 1.0f, 0.0f, out));
    evk_nn_free(&nn, &o);
    evk_nn_free(&nn, &n);
    return nn.status;
}
