/* modelscope.c — UNet3DConditionModel: weight loading by diffusers names and the forward pass
 * (frames folded into the batch; temporal convolutions and transformers between the spatial
 * layers). See modelscope.h. */
#include "models/video/modelscope.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/unet_levels.h"
#include "ops/op_embedding.h"

struct evk_ms_unet {
    evk_context *ctx;
    evk_unet3d_config cfg;
    evk_conv2d conv_in, conv_out;
    evk_linear time_1, time_2, cond_proj;
    evk_transformer transformer_in;
    evk_unet_levels levels;
    evk_norm norm_out;
};

/* ---- loading ---------------------------------------------------------------------------------- */

/* One layer of a block: resnets.<l>, temp_convs.<l> and (attn) attentions.<l> and
 * temp_attentions.<l>. UNetMidBlock3DCrossAttn's resnets take mid_block_scale_factor and its
 * Transformer2DModel keeps the block's default Linear projections. */
static evk_status evk__layer_load(void *user, evk_weights *ws, const evk_unet_site *at, evk_dtype st, evk_unet_layer *l) {
    const evk_unet3d_config *c = user;
    bool mid = at->part == EVK_UNET_PART_MID;
    char bp[32], p[300];
    evk_unet_diffusers_block(at, bp, sizeof bp);
    snprintf(p, sizeof p, "%s.resnets.%d", bp, at->layer);
    EVK_TRY(evk_resnet_load(ws, p, at->in, at->out, at->temb, c->norm_num_groups, c->norm_eps, mid ? c->mid_block_scale_factor : 1,
                            st, &l->resnet));
    snprintf(p, sizeof p, "%s.temp_convs.%d", bp, at->layer);
    l->has_tconv = true;
    EVK_TRY(evk_temporal_conv_load(ws, p, at->out, c->norm_num_groups, st, &l->tconv));
    if (!at->attn) return EVK_OK;
    int out = at->out;
    evk_transformer_config tc = {.channels = out, .heads = out / c->attention_head_dim, .head_dim = c->attention_head_dim,
                                 .layers = 1, .context_dim = c->cross_attention_dim, .groups = c->norm_num_groups,
                                 .norm_eps = 1e-6f, .conv_proj = !mid};
    snprintf(p, sizeof p, "%s.attentions.%d", bp, at->layer);
    l->has_spatial = l->has_temporal = true;
    EVK_TRY(evk_transformer_load(ws, p, &tc, st, &l->spatial));
    tc.context_dim = 0; /* double_self_attention: attn2 attends to the frames again */
    tc.conv_proj = false;
    snprintf(p, sizeof p, "%s.temp_attentions.%d", bp, at->layer);
    return evk_transformer_load(ws, p, &tc, st, &l->temporal);
}

static evk_status evk__ms_load_all(evk_ms_unet *u, evk_weights *ws, evk_dtype st) {
    const evk_unet3d_config *c = &u->cfg;
    int nb = c->num_blocks, c0 = c->block_out_channels[0], temb = 4 * c0;
    if (nb < 1 || nb > EVK_CONFIG_MAX_BLOCKS || c->layers_per_block < 1 || c->layers_per_block + 1 > EVK_UNET_MAX_LAYERS)
        return evk_fail(EVK_ERROR_FORMAT, "UNet3D: %d blocks of %d layers", nb, c->layers_per_block);
    EVK_TRY(evk_conv2d_load(ws, "conv_in", c->in_channels, c0, 3, 1, 1, true, st, &u->conv_in));
    EVK_TRY(evk_linear_load(ws, "time_embedding.linear_1", c0, temb, true, st, &u->time_1));
    EVK_TRY(evk_linear_load(ws, "time_embedding.linear_2", temb, temb, true, st, &u->time_2));
    if (c->time_cond_proj_dim)
        EVK_TRY(evk_linear_load(ws, "time_embedding.cond_proj", c->time_cond_proj_dim, c0, false, st, &u->cond_proj));
    evk_transformer_config tin = {.channels = c0, .heads = 8, .head_dim = c->attention_head_dim, .layers = 1,
                                  .groups = c->norm_num_groups, .norm_eps = 1e-6f};
    EVK_TRY(evk_transformer_load(ws, "transformer_in", &tin, st, &u->transformer_in));
    evk_unet_levels_desc d = {.levels = nb, .in_channels = c0, .temb = temb, .mid = true, .mid_attn = true,
                              .downsample_padding = c->downsample_padding, .user = (void *)c, .load_layer = evk__layer_load,
                              .resample_name = evk_unet_diffusers_resample_name};
    for (int i = 0; i < nb; i++) {
        d.channels[i] = c->block_out_channels[i];
        d.layers[i] = c->layers_per_block;
        d.down_attn[i] = c->down_block_types[i] == EVK_UNET_CROSS_ATTN_DOWN_BLOCK;
        d.up_attn[i] = c->up_block_types[i] == EVK_UNET_CROSS_ATTN_UP_BLOCK;
    }
    EVK_TRY(evk_unet_levels_load(&d, ws, st, &u->levels));
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
    evk_unet_levels_free(u->ctx, &u->levels);
    evk_norm_free(u->ctx, &u->norm_out);
    free(u);
}

const evk_unet3d_config *evk_ms_unet_get_config(const evk_ms_unet *u) { return &u->cfg; }

int evk_ms_unet_downsamplings(const evk_ms_unet *u) { return u->cfg.num_blocks - 1; }

/* ---- forward ---------------------------------------------------------------------------------- */

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
    int64_t B = x->shape[0], F = x->shape[2], c0 = c->block_out_channels[0];

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
    evk_tensor temb = evk_nn_time_mlp(&nn, &tp, &u->time_1, &u->time_2);
    evk_tensor temb_act1 = evk_nn_activation(&nn, &temb, EVK_ACT_SILU);
    evk_nn_free(&nn, &temb);
    evk_tensor temb_act = evk_nn_repeat_frames(&nn, &temb_act1, F);
    evk_nn_free(&nn, &temb_act1);
    evk_tensor ctx = evk_nn_repeat_frames(&nn, context, F);

    evk_tensor xf = evk_nn_fold_frames(&nn, x); /* [B·F, C, H, W] */
    evk_tensor h0 = evk_nn_conv2d(&nn, &xf, &u->conv_in);
    evk_nn_free(&nn, &xf);
    evk_tensor h = evk_nn_transformer_temporal(&nn, &u->transformer_in, &h0, (int)F);
    evk_nn_free(&nn, &h0);

    h = evk_unet_levels_forward(&nn, &u->levels, h, &temb_act, &ctx, (int)F);
    evk_nn_free(&nn, &temb_act);
    evk_nn_free(&nn, &ctx);
    evk_tensor n = evk_nn_group_norm(&nn, &h, &u->norm_out, true);
    evk_nn_free(&nn, &h);
    evk_tensor o = evk_nn_conv2d(&nn, &n, &u->conv_out);
    evk_nn_free(&nn, &n);
    evk_nn_unfold_frames(&nn, &o, F, out);
    evk_nn_free(&nn, &o);
    return nn.status;
}
