/* vc2_unet.c — lvdm's openaimodel3d.UNetModel: loading by lvdm names and the forward pass. */
#include "models/video/vc2_unet.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/unet_levels.h"
#include "ops/op_embedding.h"

struct evk_vc2_unet {
    evk_context *ctx;
    evk_vc2_unet_config cfg;
    evk_linear time_1, time_2, fps_1, fps_2, time_cond, motion_cond, combine;
    evk_conv2d conv_in;
    bool init_attn_present;
    evk_transformer init_attn;
    evk_unet_levels levels;
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

/* heads and head width at `ch` channels, as UNetModel.__init__ picks them */
static void evk__vheads(const evk_vc2_unet_config *c, int ch, int *heads, int *dim) {
    if (c->num_head_channels == -1) *heads = c->num_heads, *dim = c->num_heads > 0 ? ch / c->num_heads : 0;
    else *heads = c->num_head_channels > 0 ? ch / c->num_head_channels : 0, *dim = c->num_head_channels;
}

/* The TimestepEmbedSequential a layer lives in: input_blocks.<k> (conv_in is 0), middle_block,
 * output_blocks.<k>; num_res_blocks (+ 1 going up) layers and then the resample per level. */
static void evk__vstage(const evk_vc2_unet_config *c, const evk_unet_site *at, char *buf, size_t cap) {
    int per = c->num_res_blocks + 1;
    if (at->part == EVK_UNET_PART_DOWN) snprintf(buf, cap, "input_blocks.%d", 1 + at->block * per + at->layer);
    else if (at->part == EVK_UNET_PART_UP) snprintf(buf, cap, "output_blocks.%d", at->block * per + at->layer);
    else snprintf(buf, cap, "middle_block");
}

/* Downsample: input_blocks.<k>.0.op after the level's layers; Upsample: the last module of the
 * level's last output block. */
static void evk__vresample_name(void *user, const evk_unet_site *at, char *buf, size_t cap) {
    const evk_vc2_unet_config *c = user;
    evk_unet_site last = *at;
    last.layer -= at->part == EVK_UNET_PART_UP;
    char p[64];
    evk__vstage(c, &last, p, sizeof p);
    if (at->part == EVK_UNET_PART_DOWN) snprintf(buf, cap, "%s.0.op", p);
    else snprintf(buf, cap, "%s.%d.conv", p, at->attn ? (c->temporal_attention ? 3 : 2) : 1);
}

/* ResBlock <stage>.0 (its TemporalConvBlock `temopral_conv` inside) [+ SpatialTransformer .1 +
 * TemporalTransformer .2]; the middle block's second ResBlock follows its transformers. */
static evk_status evk__vlayer_load(void *user, evk_weights *ws, const evk_unet_site *at, evk_dtype st, evk_unet_layer *l) {
    const evk_vc2_unet_config *c = user;
    char p[64], n[320];
    evk__vstage(c, at, p, sizeof p);
    int in = at->in, out = at->out;
    int res = at->part == EVK_UNET_PART_MID && at->layer ? (c->temporal_attention ? 3 : 2) : 0;
    evk_resnet *r = &l->resnet;
    r->output_scale = 1.0f;
    EVK_TRY(evk_norm_load(ws, _N("%s.%d.in_layers.0", p, res), in, 32, 1e-5f, &r->norm1));
    EVK_TRY(evk_conv2d_load(ws, _N("%s.%d.in_layers.2", p, res), in, out, 3, 1, 1, true, st, &r->conv1));
    EVK_TRY(evk_linear_load(ws, _N("%s.%d.emb_layers.1", p, res), at->temb, out, true, st, &r->time_proj));
    EVK_TRY(evk_norm_load(ws, _N("%s.%d.out_layers.0", p, res), out, 32, 1e-5f, &r->norm2));
    EVK_TRY(evk_conv2d_load(ws, _N("%s.%d.out_layers.3", p, res), out, out, 3, 1, 1, true, st, &r->conv2));
    if (in != out) EVK_TRY(evk_conv2d_load(ws, _N("%s.%d.skip_connection", p, res), in, out, 1, 1, 0, true, st, &r->shortcut));
    l->has_tconv = c->temporal_conv;
    if (c->temporal_conv) EVK_TRY(evk_temporal_conv_load(ws, _N("%s.%d.temopral_conv", p, res), out, 32, st, &l->tconv));
    if (!at->attn) return EVK_OK;
    int heads, dim;
    evk__vheads(c, out, &heads, &dim);
    evk_transformer_config tc = {.channels = out, .heads = heads, .head_dim = dim, .layers = c->transformer_depth,
                                 .context_dim = c->context_dim, .groups = 32, .norm_eps = 1e-6f, .conv_proj = !c->use_linear};
    l->has_spatial = true;
    EVK_TRY(evk_transformer_load(ws, _N("%s.1", p), &tc, st, &l->spatial));
    if (!c->temporal_attention) return EVK_OK;
    tc.layers = c->temporal_transformer_depth;
    tc.context_dim = 0; /* temporal_selfatt_only */
    l->has_temporal = true;
    return evk_transformer_load(ws, _N("%s.2", p), &tc, st, &l->temporal);
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
    EVK_TRY(evk_conv2d_load(ws, "input_blocks.0.0", c->in_channels, mc, 3, 1, 1, true, st, &u->conv_in));
    if (c->addition_attention) {
        u->init_attn_present = true;
        evk_transformer_config tc = {.channels = mc, .heads = 8, .head_dim = c->num_head_channels, .layers = c->transformer_depth,
                                     .context_dim = 0, .groups = 32, .norm_eps = 1e-6f, .conv_proj = true};
        EVK_TRY(evk_transformer_load(ws, "init_attn.0", &tc, st, &u->init_attn));
    }
    /* attention at the levels whose downsampling factor attention_resolutions lists */
    evk_unet_levels_desc d = {.levels = c->levels, .in_channels = mc, .temb = temb, .mid = true, .mid_attn = true,
                              .downsample_padding = 1, .user = (void *)c, .load_layer = evk__vlayer_load,
                              .resample_name = evk__vresample_name};
    for (int i = 0; i < c->levels; i++) {
        d.channels[i] = c->channel_mult[i] * mc;
        d.layers[i] = c->num_res_blocks;
        for (int a = 0; a < c->n_attention_resolutions; a++) {
            d.down_attn[i] |= c->attention_resolutions[a] == 1 << i;
            d.up_attn[i] |= c->attention_resolutions[a] == 1 << (c->levels - 1 - i);
        }
    }
    EVK_TRY(evk_unet_levels_load(&d, ws, st, &u->levels));
    EVK_TRY(evk_norm_load(ws, "out.0", d.channels[0], 32, 1e-5f, &u->norm_out));
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
    evk_conv2d_free(u->ctx, &u->conv_in);
    evk_transformer_free(u->ctx, &u->init_attn);
    evk_unet_levels_free(u->ctx, &u->levels);
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
    int64_t B = x->shape[0], F = x->shape[2], mc = c->model_channels;
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
    evk_tensor emb = evk_nn_time_mlp(&nn, &tp, &u->time_1, &u->time_2);
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
        evk_tensor f2 = evk_nn_time_mlp(&nn, &fe, &u->fps_1, &u->fps_2);
        evk_nn_add_into(&nn, &emb, &f2);
        evk_nn_free(&nn, &f2);
    }
    evk_tensor emb_act = evk_nn_activation(&nn, &emb, EVK_ACT_SILU);
    evk_nn_free(&nn, &emb);
    /* per frame: embeddings and context repeated F times (repeat_interleave) */
    evk_tensor temb = evk_nn_repeat_frames(&nn, &emb_act, F);
    evk_nn_free(&nn, &emb_act);
    evk_tensor ctx = evk_nn_repeat_frames(&nn, in->context, F);
    evk_tensor xf = evk_nn_fold_frames(&nn, x); /* [B·F, C, H, W] */
    evk_tensor h = evk_nn_conv2d(&nn, &xf, &u->conv_in);
    evk_nn_free(&nn, &xf);
    if (u->init_attn_present) {
        evk_tensor h1 = evk_nn_transformer_temporal(&nn, &u->init_attn, &h, (int)F);
        evk_nn_free(&nn, &h);
        h = h1;
    }
    h = evk_unet_levels_forward(&nn, &u->levels, h, &temb, &ctx, (int)F);
    evk_nn_free(&nn, &temb);
    evk_nn_free(&nn, &ctx);
    evk_tensor n = evk_nn_group_norm(&nn, &h, &u->norm_out, true);
    evk_nn_free(&nn, &h);
    evk_tensor o = evk_nn_conv2d(&nn, &n, &u->conv_out);
    evk_nn_free(&nn, &n);
    evk_nn_unfold_frames(&nn, &o, F, out);
    evk_nn_free(&nn, &o);
    return nn.status;
}
