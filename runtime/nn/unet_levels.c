/* unet_levels.c — loading and running a UNet's levels (see unet_levels.h), the temporal
 * convolution block and the small tensor helpers the UNet families share. */
#include "nn/unet_levels.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/op_conv.h"
#include "ops/op_layout.h"

/* ---- temporal convolution --------------------------------------------------------------------- */

evk_status evk_temporal_conv_load(evk_weights *ws, const char *prefix, int ch, int groups, evk_dtype st, evk_temporal_conv *t) {
    char n[320];
    for (int i = 0; i < 4; i++) {
        snprintf(n, sizeof n, "%.260s.conv%d.0", prefix, i + 1);
        EVK_TRY(evk_norm_load(ws, n, ch, groups, 1e-5f, &t->norm[i])); /* nn.GroupNorm's default eps */
        snprintf(n, sizeof n, "%.260s.conv%d.%d.weight", prefix, i + 1, i ? 3 : 2);
        EVK_TRY(evk_weights_get(ws, n, 5, (int64_t[]){ch, ch, 3, 1, 1}, st, &t->w[i]));
        snprintf(n, sizeof n, "%.260s.conv%d.%d.bias", prefix, i + 1, i ? 3 : 2);
        EVK_TRY(evk_weights_get(ws, n, 1, (int64_t[]){ch}, EVK_DTYPE_F32, &t->b[i]));
    }
    return EVK_OK;
}

void evk_temporal_conv_free(evk_context *ctx, evk_temporal_conv *t) {
    for (int i = 0; i < 4; i++) {
        evk_norm_free(ctx, &t->norm[i]);
        evk_tensor_free(ctx, &t->w[i]);
        evk_tensor_free(ctx, &t->b[i]);
    }
}

/* GroupNorm (+ SiLU) of x [B·F, C, H, W] with statistics over each clip's F frames, as torch's
 * GroupNorm on [B, C, F, H, W]: within a group the order of elements does not matter, so the
 * frames move innermost ([B, C·H·W, F]), the norm runs per clip, and they move back. */
static evk_tensor evk__clip_group_norm(evk_nn *nn, const evk_tensor *x, const evk_norm *n, int64_t F) {
    int64_t C = x->shape[1], L = x->shape[2] * x->shape[3], B = nn->status ? 1 : x->shape[0] / F;
    evk_tensor xt = evk_nn_transpose(nn, x, B, F, C * L, EVK_SHAPE(B, C, L * F));
    evk_tensor nt = evk_nn_group_norm(nn, &xt, n, true);
    evk_nn_free(nn, &xt);
    evk_tensor out = evk_nn_transpose(nn, &nt, B, C * L, F, x->ndim, x->shape);
    evk_nn_free(nn, &nt);
    return out;
}

/* h ← h + conv4(conv3(conv2(conv1(h)))) over the frames of each clip. */
static void evk__temporal_conv_forward(evk_nn *nn, const evk_temporal_conv *t, evk_tensor *h, int64_t F) {
    evk_tensor cur = *h, owned = {0};
    evk_temporal_conv_params tp = {.frames = (uint32_t)F};
    for (int i = 0; i < 4; i++) {
        evk_tensor a = evk__clip_group_norm(nn, &cur, &t->norm[i], F);
        evk_tensor y = evk_nn_new(nn, cur.ndim, cur.shape);
        if (!nn->status) evk_nn_fail(nn, evk_op_temporal_conv(nn->s, &a, &t->w[i], &t->b[i], &y, &tp));
        evk_nn_free(nn, &a);
        evk_nn_free(nn, &owned);
        owned = cur = y;
    }
    evk_nn_add_into(nn, h, &owned);
    evk_nn_free(nn, &owned);
}

/* ---- loading ---------------------------------------------------------------------------------- */

static void evk__layer_free(evk_context *ctx, evk_unet_layer *l) {
    evk_resnet_free(ctx, &l->resnet);
    evk_temporal_conv_free(ctx, &l->tconv);
    evk_transformer_free(ctx, &l->spatial);
    evk_transformer_free(ctx, &l->temporal);
}

static void evk__level_free(evk_context *ctx, evk_unet_level *b) {
    for (int i = 0; i < EVK_UNET_MAX_LAYERS; i++) evk__layer_free(ctx, &b->layer[i]);
    evk_conv2d_free(ctx, &b->resample_conv);
}

void evk_unet_levels_free(evk_context *ctx, evk_unet_levels *u) {
    for (int i = 0; i < EVK_UNET_MAX_LEVELS; i++) {
        evk__level_free(ctx, &u->down[i]);
        evk__level_free(ctx, &u->up[i]);
    }
    evk__level_free(ctx, &u->mid);
}

void evk_unet_diffusers_block(const evk_unet_site *at, char *buf, size_t cap) {
    if (at->part == EVK_UNET_PART_MID) snprintf(buf, cap, "mid_block");
    else snprintf(buf, cap, "%s_blocks.%d", at->part == EVK_UNET_PART_DOWN ? "down" : "up", at->block);
}

void evk_unet_diffusers_resample_name(void *user, const evk_unet_site *at, char *buf, size_t cap) {
    (void)user;
    bool down = at->part == EVK_UNET_PART_DOWN;
    snprintf(buf, cap, "%s_blocks.%d.%s.0.conv", down ? "down" : "up", at->block, down ? "downsamplers" : "upsamplers");
}

static evk_status evk__resample_load(const evk_unet_levels_desc *d, evk_weights *ws, evk_unet_site *at, evk_dtype st,
                                     evk_unet_level *b) {
    char name[256];
    b->resample = at->block != d->levels - 1;
    if (!b->resample) return EVK_OK;
    at->layer = b->layers;
    d->resample_name(d->user, at, name, sizeof name);
    bool down = at->part == EVK_UNET_PART_DOWN;
    return evk_conv2d_load(ws, name, at->out, at->out, 3, down ? 2 : 1, down ? d->downsample_padding : 1, true, st,
                           &b->resample_conv);
}

evk_status evk_unet_levels_load(const evk_unet_levels_desc *d, evk_weights *ws, evk_dtype st, evk_unet_levels *u) {
    memset(u, 0, sizeof *u);
    int nb = d->levels;
    if (nb < 1 || nb > EVK_UNET_MAX_LEVELS) return evk_fail(EVK_ERROR_FORMAT, "UNet: %d levels (1..%d)", nb, EVK_UNET_MAX_LEVELS);
    for (int i = 0; i < nb; i++)
        if (d->layers[i] < 1 || d->layers[i] + 1 > EVK_UNET_MAX_LAYERS)
            return evk_fail(EVK_ERROR_FORMAT, "UNet: %d layers in level %d (1..%d)", d->layers[i], i, EVK_UNET_MAX_LAYERS - 1);
    u->levels = nb;
    /* the skips' channels, pushed on the way down and taken on the way up */
    int skips[EVK_UNET_MAX_LEVELS * (EVK_UNET_MAX_LAYERS + 1) + 1], nskip = 0, ch = d->in_channels;
    skips[nskip++] = ch;
    for (int i = 0; i < nb; i++) {
        evk_unet_level *b = &u->down[i];
        evk_unet_site at = {.part = EVK_UNET_PART_DOWN, .block = i, .level = i, .out = d->channels[i], .temb = d->temb,
                            .attn = d->down_attn[i]};
        b->layers = d->layers[i];
        for (int l = 0; l < b->layers; l++) {
            at.layer = l, at.in = ch;
            EVK_TRY(d->load_layer(d->user, ws, &at, st, &b->layer[l]));
            skips[nskip++] = ch = at.out;
        }
        EVK_TRY(evk__resample_load(d, ws, &at, st, b));
        if (b->resample) skips[nskip++] = ch;
    }
    u->mid_present = d->mid;
    if (d->mid) {
        evk_unet_site at = {.part = EVK_UNET_PART_MID, .level = nb - 1, .in = ch, .out = ch, .temb = d->temb, .attn = d->mid_attn};
        u->mid.layers = 2;
        EVK_TRY(d->load_layer(d->user, ws, &at, st, &u->mid.layer[0]));
        at.layer = 1, at.attn = false;
        EVK_TRY(d->load_layer(d->user, ws, &at, st, &u->mid.layer[1]));
    }
    for (int i = 0; i < nb; i++) {
        int r = nb - 1 - i; /* the down level this one mirrors */
        evk_unet_level *b = &u->up[i];
        evk_unet_site at = {.part = EVK_UNET_PART_UP, .block = i, .level = r, .out = d->channels[r], .temb = d->temb,
                            .attn = d->up_attn[i]};
        b->layers = d->layers[r] + 1;
        for (int l = 0; l < b->layers; l++) {
            at.layer = l, at.in = ch + skips[--nskip];
            EVK_TRY(d->load_layer(d->user, ws, &at, st, &b->layer[l]));
            ch = at.out;
        }
        EVK_TRY(evk__resample_load(d, ws, &at, st, b));
    }
    return EVK_OK;
}

/* ---- forward ---------------------------------------------------------------------------------- */

/* Replace *h by next, freeing the old tensor. */
static void evk__replace(evk_nn *nn, evk_tensor *h, evk_tensor next) {
    evk_nn_free(nn, h);
    *h = next;
}

/* ResNet [→ temporal conv] [→ spatial transformer] [→ temporal transformer]; a new tensor. */
static evk_tensor evk__layer_forward(evk_nn *nn, const evk_unet_layer *l, const evk_tensor *x, const evk_tensor *temb_act,
                                     const evk_tensor *context, int F) {
    evk_tensor h = evk_nn_resnet(nn, &l->resnet, x, temb_act);
    if (l->has_tconv) evk__temporal_conv_forward(nn, &l->tconv, &h, F);
    if (l->has_spatial) evk__replace(nn, &h, evk_nn_transformer_spatial(nn, &l->spatial, &h, context));
    if (l->has_temporal) evk__replace(nn, &h, evk_nn_transformer_temporal(nn, &l->temporal, &h, F));
    return h;
}

evk_tensor evk_unet_levels_forward(evk_nn *nn, const evk_unet_levels *u, evk_tensor h, const evk_tensor *temb_act,
                                   const evk_tensor *context, int F) {
    evk_tensor skips[EVK_UNET_MAX_LEVELS * (EVK_UNET_MAX_LAYERS + 1) + 1];
    int nskip = 0;
    skips[nskip++] = h;
    for (int i = 0; i < u->levels; i++) {
        const evk_unet_level *b = &u->down[i];
        for (int l = 0; l < b->layers; l++) {
            h = evk__layer_forward(nn, &b->layer[l], &h, temb_act, context, F);
            skips[nskip++] = h; /* kept for the up path; freed there */
        }
        if (b->resample) {
            h = evk_nn_conv2d(nn, &h, &b->resample_conv);
            skips[nskip++] = h;
        }
    }
    /* h aliases the last skip: the mid block (or a copy) makes a tensor of its own */
    if (u->mid_present) {
        evk_tensor r = evk__layer_forward(nn, &u->mid.layer[0], &h, temb_act, context, F);
        evk__replace(nn, &r, evk__layer_forward(nn, &u->mid.layer[1], &r, temb_act, context, F));
        h = r;
    } else {
        evk_tensor r = evk_nn_new(nn, h.ndim, h.shape);
        if (!nn->status) evk_nn_fail(nn, evk_op_scale(nn->s, &h, 1.0f, 0.0f, &r));
        h = r;
    }
    for (int i = 0; i < u->levels; i++) {
        const evk_unet_level *b = &u->up[i];
        for (int l = 0; l < b->layers; l++) {
            evk_tensor skip = skips[--nskip];
            evk_tensor cat = evk_nn_concat_channels(nn, &h, &skip);
            evk_nn_free(nn, &skip);
            evk_nn_free(nn, &h);
            h = evk__layer_forward(nn, &b->layer[l], &cat, temb_act, context, F);
            evk_nn_free(nn, &cat);
        }
        if (b->resample) {
            evk_tensor up = evk_nn_upsample2x_conv2d(nn, &h, &b->resample_conv);
            evk_nn_free(nn, &h);
            h = up;
        }
    }
    while (nskip > 0) evk_nn_free(nn, &skips[--nskip]); /* only after a failure */
    return h;
}

/* ---- helpers ---------------------------------------------------------------------------------- */

evk_tensor evk_nn_time_mlp(evk_nn *nn, evk_tensor *x, const evk_linear *l1, const evk_linear *l2) {
    evk_tensor t1 = evk_nn_linear(nn, x, l1);
    evk_nn_free(nn, x);
    evk_tensor t1a = evk_nn_activation(nn, &t1, EVK_ACT_SILU);
    evk_nn_free(nn, &t1);
    evk_tensor t2 = evk_nn_linear(nn, &t1a, l2);
    evk_nn_free(nn, &t1a);
    return t2;
}

evk_tensor evk_nn_fold_frames(evk_nn *nn, const evk_tensor *x) {
    int64_t B = x->shape[0], C = x->shape[1], F = x->shape[2], H = x->shape[3], W = x->shape[4];
    /* [B, C, F, H·W] -> [B, F, H·W, C] -> [B·F, C, H, W] */
    evk_tensor xa = evk_nn_transpose(nn, x, B, C, F * H * W, EVK_SHAPE(B, F * H * W, C));
    evk_tensor xf = evk_nn_transpose(nn, &xa, B * F, H * W, C, EVK_SHAPE(B * F, C, H, W));
    evk_nn_free(nn, &xa);
    return xf;
}

void evk_nn_unfold_frames(evk_nn *nn, const evk_tensor *h, int64_t F, const evk_tensor *out) {
    int64_t N = h->shape[0], C = h->shape[1], L = h->shape[2] * h->shape[3], B = nn->status ? 1 : N / F;
    /* [B, F, C, H·W] -> [B, F·H·W, C] -> [B, C, F, H·W] */
    evk_tensor a = evk_nn_transpose(nn, h, N, C, L, EVK_SHAPE(B, F * L, C));
    if (!nn->status) evk_nn_fail(nn, evk_op_transpose(nn->s, &a, B, F * L, C, (evk_tensor *)out));
    evk_nn_free(nn, &a);
}

evk_tensor evk_nn_repeat_frames(evk_nn *nn, const evk_tensor *src, int64_t F) {
    int64_t shape[EVK_MAX_DIMS];
    memcpy(shape, src->shape, sizeof shape);
    int64_t R = src->shape[0], W = evk_tensor_numel(src) / (R ? R : 1);
    shape[0] = R * F;
    evk_tensor out = evk_nn_new(nn, src->ndim, shape);
    if (nn->status) return out;
    int32_t *rows = malloc((size_t)(R * F) * sizeof *rows);
    if (!rows) {
        evk_nn_fail(nn, evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory"));
        return out;
    }
    for (int64_t i = 0; i < R * F; i++) rows[i] = (int32_t)(i / F);
    evk_tensor idx, table, flat;
    evk_status st = evk_tensor_alloc(nn->ctx, EVK_DTYPE_I32, 1, (int64_t[]){R * F}, &idx);
    if (!st) st = evk_stream_update(nn->s, &idx.buf, 0, rows, (uint64_t)(R * F) * 4);
    free(rows);
    if (!st) st = evk_tensor_reshape(src, 2, (int64_t[]){R, W}, &table);
    if (!st) st = evk_tensor_reshape(&out, 2, (int64_t[]){R * F, W}, &flat);
    if (!st) st = evk_op_gather_rows(nn->s, &table, &idx, &flat);
    if (idx.buf.block) evk_tensor_free(nn->ctx, &idx); /* reuse inside the stream is ordered by its barriers */
    if (st) evk_nn_fail(nn, st);
    return out;
}
