/* unet.c — UNet2DConditionModel: weight loading by diffusers names and the forward pass. */
#include "models/sd/unet.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/unet_levels.h"
#include "ops/op_embedding.h"

struct evk_unet {
    evk_context *ctx;
    evk_unet_config cfg;
    evk_conv2d conv_in, conv_out;
    evk_linear time_1, time_2;
    evk_unet_levels levels;
    evk_norm norm_out;
};

/* ---- loading ---------------------------------------------------------------------------------- */

/* resnets.<l> [+ attentions.<l>: Transformer2DModel, whose GroupNorm has eps 1e-6 whatever the UNet's norm_eps] */
static evk_status evk__layer_load(void *user, evk_weights *ws, const evk_unet_site *at, evk_dtype st, evk_unet_layer *l) {
    const evk_unet_config *c = user;
    char bp[32], p[256];
    evk_unet_diffusers_block(at, bp, sizeof bp);
    snprintf(p, sizeof p, "%s.resnets.%d", bp, at->layer);
    EVK_TRY(evk_resnet_load(ws, p, at->in, at->out, at->temb, c->norm_num_groups, c->norm_eps, c->resnet_out_scale_factor, st,
                            &l->resnet));
    if (!at->attn) return EVK_OK;
    int v = at->level;
    evk_transformer_config tc = {.channels = at->out, .heads = c->num_attention_heads[v], .layers = c->transformer_layers_per_block[v],
                                 .context_dim = c->cross_attention_dim[v], .groups = c->norm_num_groups, .norm_eps = 1e-6f,
                                 .conv_proj = !c->use_linear_projection};
    snprintf(p, sizeof p, "%s.attentions.%d", bp, at->layer);
    l->has_spatial = true;
    return evk_transformer_load(ws, p, &tc, st, &l->spatial);
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
        if (c->layers_per_block[i] < 1 || c->layers_per_block[i] + 1 > EVK_UNET_MAX_LAYERS)
            return evk_fail(EVK_ERROR_FORMAT, "UNet: layers_per_block %d in block %d", c->layers_per_block[i], i);
        if (c->norm_num_groups <= 0 || c->block_out_channels[i] % c->norm_num_groups)
            return evk_fail(EVK_ERROR_FORMAT, "UNet: block_out_channels %d not divisible by norm_num_groups %d",
                            c->block_out_channels[i], c->norm_num_groups);
        if (c->down_block_types[i] != EVK_UNET_CROSS_ATTN_DOWN_BLOCK && c->down_block_types[i] != EVK_UNET_DOWN_BLOCK)
            return evk_fail(EVK_ERROR_UNSUPPORTED, "UNet: down block type %s", evk_unet_block_name(c->down_block_types[i]));
        if (c->up_block_types[i] != EVK_UNET_CROSS_ATTN_UP_BLOCK && c->up_block_types[i] != EVK_UNET_UP_BLOCK)
            return evk_fail(EVK_ERROR_UNSUPPORTED, "UNet: up block type %s", evk_unet_block_name(c->up_block_types[i]));
    }
    return EVK_OK;
}

static evk_status evk__unet_load_all(evk_unet *u, evk_weights *ws, evk_dtype st) {
    const evk_unet_config *c = &u->cfg;
    EVK_TRY(evk__unet_check(c));
    int nb = c->num_blocks, c0 = c->block_out_channels[0];
    int temb = c->time_embedding_dim ? c->time_embedding_dim : 4 * c0;
    EVK_TRY(evk_conv2d_load(ws, "conv_in", c->in_channels, c0, 3, 1, 1, true, st, &u->conv_in));
    EVK_TRY(evk_linear_load(ws, "time_embedding.linear_1", c0, temb, true, st, &u->time_1));
    EVK_TRY(evk_linear_load(ws, "time_embedding.linear_2", temb, temb, true, st, &u->time_2));
    evk_unet_levels_desc d = {.levels = nb, .in_channels = c0, .temb = temb, .mid = c->mid_block_type != EVK_UNET_MID_NONE,
                              .mid_attn = c->mid_block_type == EVK_UNET_MID_CROSS_ATTN, .downsample_padding = c->downsample_padding,
                              .user = (void *)c, .load_layer = evk__layer_load, .resample_name = evk_unet_diffusers_resample_name};
    for (int i = 0; i < nb; i++) {
        d.channels[i] = c->block_out_channels[i];
        d.layers[i] = c->layers_per_block[i];
        d.down_attn[i] = c->down_block_types[i] == EVK_UNET_CROSS_ATTN_DOWN_BLOCK;
        d.up_attn[i] = c->up_block_types[i] == EVK_UNET_CROSS_ATTN_UP_BLOCK;
    }
    EVK_TRY(evk_unet_levels_load(&d, ws, st, &u->levels));
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
    evk_unet_levels_free(u->ctx, &u->levels);
    evk_norm_free(u->ctx, &u->norm_out);
    free(u);
}

const evk_unet_config *evk_unet_get_config(const evk_unet *u) { return &u->cfg; }

int evk_unet_downsamplings(const evk_unet *u) { return u->cfg.num_blocks - 1; }

/* ---- forward ---------------------------------------------------------------------------------- */

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
    evk_tensor temb = evk_nn_time_mlp(&nn, &tp, &u->time_1, &u->time_2);
    evk_tensor temb_act = evk_nn_activation(&nn, &temb, EVK_ACT_SILU);
    evk_nn_free(&nn, &temb);

    evk_tensor h0 = evk_nn_conv2d(&nn, x, &u->conv_in);
    evk_tensor h = evk_unet_levels_forward(&nn, &u->levels, h0, &temb_act, context, 1);
    evk_nn_free(&nn, &temb_act);
    evk_tensor n = evk_nn_group_norm(&nn, &h, &u->norm_out, true);
    evk_nn_free(&nn, &h);
    evk_tensor o = evk_nn_conv2d(&nn, &n, &u->conv_out);
    if (!nn.status) evk_nn_fail(&nn, evk_op_scale(s, &o, 1.0f, 0.0f, out));
    evk_nn_free(&nn, &o);
    evk_nn_free(&nn, &n);
    return nn.status;
}
