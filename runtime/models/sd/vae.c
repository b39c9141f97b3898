/* vae.c — AutoencoderKL's decoder: weight loading by diffusers names and the forward pass (see
 * vae.h). Layers come from nn.h; activations are freed as soon as their last use is recorded, so
 * peak memory is a few full-resolution feature maps of the widest up block. */
#include "models/sd/vae.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/attention.h"
#include "ops/op_image.h"
#include "ops/op_matmul.h"
#include "ops/op_norm.h"

#define EVK__VAE_MAX_LAYERS 8
#define EVK__VAE_EPS 1e-6f /* every GroupNorm of diffusers' Decoder */
#define EVK__VAE_ATTENTION_BUDGET (256ull << 20)

typedef struct evk__vae_attention {
    evk_norm norm;
    evk_attention_block block; /* one head over the channels */
} evk__vae_attention;

typedef struct evk__vae_up {
    int layers;
    evk_resnet resnet[EVK__VAE_MAX_LAYERS];
    bool upsample;
    evk_conv2d upsample_conv;
} evk__vae_up;

struct evk_vae_decoder {
    evk_context *ctx;
    evk_vae_config cfg;
    evk_vae_decode_options opt;
    bool post_quant;
    evk_conv2d post_quant_conv, conv_in, conv_out;
    evk_resnet mid[2];
    bool mid_attention;
    evk__vae_attention attention;
    evk__vae_up up[EVK_CONFIG_MAX_BLOCKS];
    evk_norm norm_out;
};

/* ---- loading ---------------------------------------------------------------------------------- */

static evk_status evk__vae_resnet_load(evk_weights *ws, const char *p, int in, int out, int groups, evk_dtype st, evk_resnet *r) {
    return evk_resnet_load(ws, p, in, out, 0, groups, EVK__VAE_EPS, 1.0f, st, r);
}

static evk_status evk__vae_attention_load(evk_weights *ws, const char *p, int ch, int groups, evk_dtype st,
                                          evk__vae_attention *a) {
    char n[256];
    /* diffusers < 0.14 saved this block as group_norm/query/key/value/proj_attn */
    snprintf(n, sizeof n, "%s.to_q.weight", p);
    bool legacy = !evk_weights_has(ws, n);
    if (legacy) {
        snprintf(n, sizeof n, "%s.query.weight", p);
        legacy = evk_weights_has(ws, n);
    }
#define _N(s) (snprintf(n, sizeof n, "%s.%s", p, s), n)
    EVK_TRY(evk_norm_load(ws, _N("group_norm"), ch, groups, EVK__VAE_EPS, &a->norm));
#undef _N
    char q[300], k[300], v[300], o[300];
    snprintf(q, sizeof q, "%s.%s", p, legacy ? "query" : "to_q");
    snprintf(k, sizeof k, "%s.%s", p, legacy ? "key" : "to_k");
    snprintf(v, sizeof v, "%s.%s", p, legacy ? "value" : "to_v");
    snprintf(o, sizeof o, "%s.%s", p, legacy ? "proj_attn" : "to_out.0");
    EVK_TRY(evk_attention_block_load(ws, &(evk_attention_names){q, k, v, o}, ch, ch, 1, true, false, st, &a->block));
    return EVK_OK;
}

static evk_status evk__vae_check(const evk_vae_config *c) {
    if (c->num_blocks < 1 || c->num_blocks > EVK_CONFIG_MAX_BLOCKS)
        return evk_fail(EVK_ERROR_FORMAT, "VAE: %d blocks (1..%d supported)", c->num_blocks, EVK_CONFIG_MAX_BLOCKS);
    if (c->act_fn != EVK_ACT_SILU)
        return evk_fail(EVK_ERROR_UNSUPPORTED, "VAE: act_fn '%s' is not supported (silu only)", evk_activation_name(c->act_fn));
    if (c->layers_per_block < 0 || c->layers_per_block + 1 > EVK__VAE_MAX_LAYERS)
        return evk_fail(EVK_ERROR_FORMAT, "VAE: layers_per_block %d (0..%d supported)", c->layers_per_block,
                        EVK__VAE_MAX_LAYERS - 1);
    if (c->latent_channels < 1 || c->out_channels < 1)
        return evk_fail(EVK_ERROR_FORMAT, "VAE: latent_channels %d, out_channels %d", c->latent_channels, c->out_channels);
    if (!(c->scaling_factor > 0.0f) || !isfinite(c->scaling_factor))
        return evk_fail(EVK_ERROR_FORMAT, "VAE: scaling_factor %g must be positive", (double)c->scaling_factor);
    for (int i = 0; i < c->num_blocks; i++)
        if (c->norm_num_groups <= 0 || c->block_out_channels[i] <= 0 || c->block_out_channels[i] % c->norm_num_groups)
            return evk_fail(EVK_ERROR_FORMAT, "VAE: block_out_channels %d not divisible by norm_num_groups %d",
                            c->block_out_channels[i], c->norm_num_groups);
    return EVK_OK;
}

static evk_status evk__vae_load_all(evk_vae_decoder *d, evk_weights *ws, evk_dtype st) {
    const evk_vae_config *c = &d->cfg;
    EVK_TRY(evk__vae_check(c));
    const int nb = c->num_blocks, g = c->norm_num_groups, top = c->block_out_channels[nb - 1];
    char p[256];
    d->post_quant = c->use_post_quant_conv;
    if (d->post_quant)
        EVK_TRY(evk_conv2d_load(ws, "post_quant_conv", c->latent_channels, c->latent_channels, 1, 1, 0, true, st,
                                &d->post_quant_conv));
    EVK_TRY(evk_conv2d_load(ws, "decoder.conv_in", c->latent_channels, top, 3, 1, 1, true, st, &d->conv_in));
    EVK_TRY(evk__vae_resnet_load(ws, "decoder.mid_block.resnets.0", top, top, g, st, &d->mid[0]));
    d->mid_attention = c->mid_block_add_attention;
    if (d->mid_attention)
        EVK_TRY(evk__vae_attention_load(ws, "decoder.mid_block.attentions.0", top, g, st, &d->attention));
    EVK_TRY(evk__vae_resnet_load(ws, "decoder.mid_block.resnets.1", top, top, g, st, &d->mid[1]));
    /* up blocks run the channel list reversed; each but the last ends in nearest ×2 + conv */
    int prev = top;
    for (int i = 0; i < nb; i++) {
        evk__vae_up *u = &d->up[i];
        const int out = c->block_out_channels[nb - 1 - i];
        u->layers = c->layers_per_block + 1;
        for (int l = 0; l < u->layers; l++) {
            snprintf(p, sizeof p, "decoder.up_blocks.%d.resnets.%d", i, l);
            EVK_TRY(evk__vae_resnet_load(ws, p, l ? out : prev, out, g, st, &u->resnet[l]));
        }
        u->upsample = i != nb - 1;
        if (u->upsample) {
            snprintf(p, sizeof p, "decoder.up_blocks.%d.upsamplers.0.conv", i);
            EVK_TRY(evk_conv2d_load(ws, p, out, out, 3, 1, 1, true, st, &u->upsample_conv));
        }
        prev = out;
    }
    const int c0 = c->block_out_channels[0];
    EVK_TRY(evk_norm_load(ws, "decoder.conv_norm_out", c0, g, EVK__VAE_EPS, &d->norm_out));
    EVK_TRY(evk_conv2d_load(ws, "decoder.conv_out", c0, c->out_channels, 3, 1, 1, true, st, &d->conv_out));
    return EVK_OK;
}

evk_status evk_vae_decoder_load(evk_context *ctx, const evk_vae_config *cfg, evk_weights *ws, evk_dtype storage,
                                evk_vae_decoder **out) {
    if (!out) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "evk_vae_decoder_load: out is NULL");
    *out = NULL;
    if (!ctx || !cfg || !ws) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "evk_vae_decoder_load: ctx, cfg and ws are required");
    if (storage != EVK_DTYPE_F32 && storage != EVK_DTYPE_F16)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "VAE: weight storage must be f32 or f16, not %s", evk_dtype_name(storage));
    evk_vae_decoder *d = calloc(1, sizeof *d);
    if (!d) return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    d->ctx = ctx;
    d->cfg = *cfg;
    evk_status s = evk__vae_load_all(d, ws, storage);
    if (s) {
        evk_vae_decoder_destroy(d);
        return evk_fail_context(s, "loading the VAE decoder");
    }
    *out = d;
    return EVK_OK;
}

void evk_vae_decoder_destroy(evk_vae_decoder *d) {
    if (!d) return;
    evk_context *ctx = d->ctx;
    evk_conv2d_free(ctx, &d->post_quant_conv);
    evk_conv2d_free(ctx, &d->conv_in);
    evk_conv2d_free(ctx, &d->conv_out);
    for (int i = 0; i < 2; i++) evk_resnet_free(ctx, &d->mid[i]);
    evk_norm_free(ctx, &d->attention.norm);
    evk_attention_block_free(ctx, &d->attention.block);
    for (int i = 0; i < EVK_CONFIG_MAX_BLOCKS; i++) {
        for (int l = 0; l < EVK__VAE_MAX_LAYERS; l++) evk_resnet_free(ctx, &d->up[i].resnet[l]);
        evk_conv2d_free(ctx, &d->up[i].upsample_conv);
    }
    evk_norm_free(ctx, &d->norm_out);
    free(d);
}

const evk_vae_config *evk_vae_decoder_config(const evk_vae_decoder *d) { return &d->cfg; }

int evk_vae_decoder_upscale(const evk_vae_decoder *d) { return 1 << (d->cfg.num_blocks - 1); }

void evk_vae_decoder_set_options(evk_vae_decoder *d, const evk_vae_decode_options *opt) {
    if (opt) d->opt = *opt;
    else memset(&d->opt, 0, sizeof d->opt);
}

/* ---- forward ---------------------------------------------------------------------------------- */

/* Replace *h by next, freeing the old tensor. */
static void evk__vae_replace(evk_nn *nn, evk_tensor *h, evk_tensor next) {
    evk_nn_free(nn, h);
    *h = next;
}

/* t with its dim 1 cut to `rows` (a prefix of the same storage). */
static evk_tensor evk__vae_rows(const evk_tensor *t, int64_t rows) {
    evk_tensor v = *t;
    v.shape[1] = rows;
    return v;
}

/* Single-head attention q, k, v [B, L, C] -> [B, L, C] as matmuls: scores = q·kᵀ/√C, softmax,
 * ·v. Query rows go in chunks whose [B, rows, L] scores fit the budget; each chunk's rows are
 * copied out of q and its result copied into place (copies have no offset alignment rules). */
static evk_tensor evk__vae_attention_matmul(evk_nn *nn, const evk_tensor *q, const evk_tensor *k, const evk_tensor *v,
                                            const evk_vae_decode_options *opt) {
    const int64_t B = q->shape[0], L = q->shape[1], C = q->shape[2];
    uint64_t budget = opt->attention_budget ? opt->attention_budget : EVK__VAE_ATTENTION_BUDGET;
    /* a chunk's scores are bound whole by the matmul and the softmax */
    const uint64_t bind_max = evk_context_device(nn->ctx)->max_storage_buffer_range;
    if (budget > bind_max) budget = bind_max;
    int64_t rows = opt->attention_rows > 0 ? opt->attention_rows : (int64_t)(budget / ((uint64_t)B * (uint64_t)L * 4u));
    if (rows < 1) rows = 1;
    if (rows > L) rows = L;
    evk_matmul_params qk = {.transpose_b = true, .alpha = 1.0f / sqrtf((float)C)}, pv = {0};
    evk_tensor out = evk_nn_new(nn, EVK_SHAPE(B, L, C));
    if (rows == L) {
        evk_tensor sc = evk_nn_new(nn, EVK_SHAPE(B, L, L));
        if (!nn->status) evk_nn_fail(nn, evk_op_matmul(nn->s, q, k, NULL, &sc, &qk));
        if (!nn->status) evk_nn_fail(nn, evk_op_softmax(nn->s, &sc, &sc));
        if (!nn->status) evk_nn_fail(nn, evk_op_matmul(nn->s, &sc, v, NULL, &out, &pv));
        evk_nn_free(nn, &sc);
        return out;
    }
    evk_tensor qc = evk_nn_new(nn, EVK_SHAPE(B, rows, C)), sc = evk_nn_new(nn, EVK_SHAPE(B, rows, L)),
               oc = evk_nn_new(nn, EVK_SHAPE(B, rows, C));
    const uint64_t row_bytes = (uint64_t)C * 4u;
    for (int64_t r0 = 0; r0 < L && !nn->status; r0 += rows) {
        const int64_t n = r0 + rows <= L ? rows : L - r0;
        evk_tensor qn = evk__vae_rows(&qc, n), sn = evk__vae_rows(&sc, n), on = evk__vae_rows(&oc, n);
        for (int64_t b = 0; b < B && !nn->status; b++)
            evk_nn_fail(nn, evk_stream_copy(nn->s, &q->buf, (uint64_t)(b * L + r0) * row_bytes, &qc.buf,
                                            (uint64_t)(b * n) * row_bytes, (uint64_t)n * row_bytes));
        if (!nn->status) evk_nn_fail(nn, evk_op_matmul(nn->s, &qn, k, NULL, &sn, &qk));
        if (!nn->status) evk_nn_fail(nn, evk_op_softmax(nn->s, &sn, &sn));
        if (!nn->status) evk_nn_fail(nn, evk_op_matmul(nn->s, &sn, v, NULL, &on, &pv));
        for (int64_t b = 0; b < B && !nn->status; b++)
            evk_nn_fail(nn, evk_stream_copy(nn->s, &oc.buf, (uint64_t)(b * n) * row_bytes, &out.buf,
                                            (uint64_t)(b * L + r0) * row_bytes, (uint64_t)n * row_bytes));
    }
    evk_nn_free(nn, &qc);
    evk_nn_free(nn, &sc);
    evk_nn_free(nn, &oc);
    return out;
}

/* The attention core: the fused kernel where the channels fit one head of it, else matmuls. */
static evk_tensor evk__vae_attention_core(evk_nn *nn, const evk_tensor *q, const evk_tensor *k, const evk_tensor *v, int heads,
                                          bool causal, const void *user) {
    const evk_vae_decode_options *opt = user;
    if (!opt->attention_matmul && q->shape[2] <= EVK_ATTENTION_MAX_HEAD_DIM) return evk_nn_attention(nn, q, k, v, heads, causal);
    return evk__vae_attention_matmul(nn, q, k, v, opt);
}

/* The mid block's spatial self-attention: x + to_out(attn(group_norm(x) as [B, HW, C])). */
static evk_tensor evk__vae_attention_forward(evk_nn *nn, const evk__vae_attention *a, const evk_tensor *x,
                                             const evk_vae_decode_options *opt) {
    const int64_t B = x->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3], L = H * W;
    evk_tensor n = evk_nn_group_norm(nn, x, &a->norm, false);
    evk_tensor t = evk_nn_transpose(nn, &n, B, C, L, EVK_SHAPE(B, L, C));
    evk_nn_free(nn, &n);
    evk_tensor o = evk_nn_attention_block(nn, &a->block, &t, NULL, evk__vae_attention_core, opt);
    evk_nn_free(nn, &t);
    evk_tensor out = evk_nn_transpose(nn, &o, B, L, C, EVK_SHAPE(B, C, H, W));
    evk_nn_free(nn, &o);
    evk_nn_add_into(nn, &out, x);
    return out;
}

/* The decoder proper on unscaled latents z [B, C, h, w] -> a new tensor [B, 3, h·up, w·up]. */
static evk_tensor evk__vae_decode_z(evk_vae_decoder *d, evk_nn *nn, const evk_tensor *z_in) {
    const evk_vae_config *c = &d->cfg;
    evk_tensor z = *z_in, owned;
    memset(&owned, 0, sizeof owned);
    if (d->post_quant) z = owned = evk_nn_conv2d(nn, z_in, &d->post_quant_conv);
    evk_tensor h0 = evk_nn_conv2d(nn, &z, &d->conv_in);
    evk_nn_free(nn, &owned);
    evk__vae_replace(nn, &h0, evk_nn_resnet(nn, &d->mid[0], &h0, NULL));
    if (d->mid_attention) evk__vae_replace(nn, &h0, evk__vae_attention_forward(nn, &d->attention, &h0, &d->opt));
    evk__vae_replace(nn, &h0, evk_nn_resnet(nn, &d->mid[1], &h0, NULL));
    for (int i = 0; i < c->num_blocks; i++) {
        const evk__vae_up *u = &d->up[i];
        for (int l = 0; l < u->layers; l++) evk__vae_replace(nn, &h0, evk_nn_resnet(nn, &u->resnet[l], &h0, NULL));
        if (u->upsample) {
            evk__vae_replace(nn, &h0, evk_nn_upsample2x_conv2d(nn, &h0, &u->upsample_conv));
        }
    }
    evk__vae_replace(nn, &h0, evk_nn_group_norm(nn, &h0, &d->norm_out, true));
    evk__vae_replace(nn, &h0, evk_nn_conv2d(nn, &h0, &d->conv_out));
    return h0;
}

/* diffusers' tiled_decode: tiles start every int(tile·(1 − overlap)) latents; each decoded tile
 * has its first rows blended with the (already blended) tile above and its first columns with
 * the tile to its left, then its top-left tile_sample − blend pixels are kept. */
static evk_status evk__vae_decode_tiled(evk_vae_decoder *d, evk_nn *nn, const evk_tensor *z, int64_t tl, const evk_tensor *image) {
    const int64_t up = evk_vae_decoder_upscale(d), B = z->shape[0], C = z->shape[1], h = z->shape[2], w = z->shape[3];
    const int64_t ts = tl * up;
    const double f = d->opt.tile_overlap > 0 ? d->opt.tile_overlap : 0.25;
    const int64_t step = (int64_t)((double)tl * (1 - f)), blend = (int64_t)((double)ts * f), limit = ts - blend;
    if (step < 1 || limit < 1)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "VAE tiled decode: tiles of %lld latents with overlap %g leave no step", (long long)tl, f);
    const int64_t rows = (h + step - 1) / step, cols = (w + step - 1) / step;
    evk_tensor *tiles = calloc((size_t)(rows * cols), sizeof *tiles);
    if (!tiles) return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    static const float zero[3] = {0, 0, 0}, one[3] = {1, 1, 1};
    int64_t oy = 0;
    for (int64_t i = 0; i < rows && !nn->status; i++) {
        int64_t ox = 0, kept_h = 0;
        for (int64_t j = 0; j < cols && !nn->status; j++) {
            int64_t y0 = i * step, x0 = j * step, th = h - y0 < tl ? h - y0 : tl, tw = w - x0 < tl ? w - x0 : tl;
            evk_tensor zt = evk_nn_new(nn, EVK_SHAPE(B, C, th, tw));
            if (!nn->status) evk_nn_fail(nn, evk_op_crop_normalize(nn->s, z, (uint32_t)y0, (uint32_t)x0, zero, one, &zt));
            evk_tensor *t = &tiles[i * cols + j];
            *t = evk__vae_decode_z(d, nn, &zt);
            evk_nn_free(nn, &zt);
            if (nn->status) break;
            int64_t ht = t->shape[2], wt = t->shape[3];
            if (i > 0) {
                const evk_tensor *a = &tiles[(i - 1) * cols + j];
                int64_t e = blend < a->shape[2] ? blend : a->shape[2];
                if (ht < e) e = ht;
                if (e > 0) evk_nn_fail(nn, evk_op_blend_seam(nn->s, a, t, (uint32_t)e, true));
            }
            if (j > 0 && !nn->status) {
                const evk_tensor *a = &tiles[i * cols + j - 1];
                int64_t e = blend < a->shape[3] ? blend : a->shape[3];
                if (wt < e) e = wt;
                if (e > 0) evk_nn_fail(nn, evk_op_blend_seam(nn->s, a, t, (uint32_t)e, false));
            }
            int64_t kh = ht < limit ? ht : limit, kw = wt < limit ? wt : limit;
            if (!nn->status) evk_nn_fail(nn, evk_op_place(nn->s, t, (uint32_t)kh, (uint32_t)kw, (uint32_t)oy, (uint32_t)ox, image));
            ox += kw;
            kept_h = kh;
            /* the row above is no longer needed once this tile has blended with it */
            if (i > 0) evk_nn_free(nn, &tiles[(i - 1) * cols + j]);
        }
        oy += kept_h;
    }
    for (int64_t k = 0; k < rows * cols; k++) evk_nn_free(nn, &tiles[k]);
    free(tiles);
    return nn->status;
}

/* Everything in the decoder but its mid-block attention splits exactly when a tensor exceeds
 * one binding (convolutions in windows of rows, norms, upsampling and elementwise ops in
 * chunks), so images decode in one pass as far as that attention allows: its keys and values
 * [B, h·w, C] attend over the whole latent and are bound whole. Beyond that (at SD's 512
 * channels and lavapipe's 128 MiB: more than 65,536 latent pixels per batch, a 2048×2048 image)
 * the decode falls back to diffusers' tiled_decode, which differs from one pass near the seams;
 * the tile is the largest of at most 64 latents (diffusers' default) whose attention fits.
 * Returns 0 when no tiling is needed. */
static int64_t evk__vae_auto_tile(const evk_vae_decoder *d, int64_t B, int64_t h, int64_t w) {
    if (!d->mid_attention) return 0;
    const uint64_t limit = evk_context_device(d->ctx)->max_storage_buffer_range;
    const uint64_t per_pixel = (uint64_t)B * (uint64_t)d->cfg.block_out_channels[d->cfg.num_blocks - 1] * 4u;
    if ((uint64_t)(h * w) * per_pixel <= limit) return 0;
    int64_t t = 64;
    while (t > 4 && (uint64_t)(t * t) * per_pixel > limit) t /= 2;
    return t;
}

evk_status evk_vae_decode(evk_vae_decoder *d, evk_stream *s, const evk_tensor *latents, const evk_tensor *image) {
    if (!d || !s || !latents || !image) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "evk_vae_decode: NULL argument");
    const evk_vae_config *c = &d->cfg;
    const int up = evk_vae_decoder_upscale(d);
    char a[96], b[96];
    if (latents->dtype != EVK_DTYPE_F32 || latents->ndim != 4 || latents->shape[1] != c->latent_channels ||
        latents->shape[0] < 1 || latents->shape[2] < 1 || latents->shape[3] < 1)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "VAE decode: latents are %s (%s), expected f32 [B, %d, h, w]",
                        evk_tensor_shape_str(latents, a, sizeof a), evk_dtype_name(latents->dtype), c->latent_channels);
    const int64_t B = latents->shape[0], h = latents->shape[2], w = latents->shape[3];
    if (image->dtype != EVK_DTYPE_F32 || image->ndim != 4 || image->shape[0] != B || image->shape[1] != c->out_channels ||
        image->shape[2] != h * up || image->shape[3] != w * up)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "VAE decode: image is %s (%s), expected f32 [%lld, %d, %lld, %lld] for latents %s",
                        evk_tensor_shape_str(image, a, sizeof a), evk_dtype_name(image->dtype), (long long)B,
                        c->out_channels, (long long)(h * up), (long long)(w * up),
                        evk_tensor_shape_str(latents, b, sizeof b));
    evk_nn nn;
    evk_nn_init(&nn, s);
    /* the pipeline's unscaling: z = latents / scaling_factor (+ shift_factor) */
    evk_tensor z = evk_nn_new(&nn, latents->ndim, latents->shape);
    if (!nn.status)
        evk_nn_fail(&nn, evk_op_scale(s, latents, 1.0f / c->scaling_factor, c->has_shift_factor ? c->shift_factor : 0.0f, &z));
    int64_t tile = d->opt.tile_latent;
    if (tile <= 0) tile = evk__vae_auto_tile(d, B, h, w);
    if (tile > 0 && (h > tile || w > tile)) {
        if (!nn.status) evk_nn_fail(&nn, evk__vae_decode_tiled(d, &nn, &z, tile, image));
        evk_nn_free(&nn, &z);
        return nn.status;
    }
    evk_tensor h0 = evk__vae_decode_z(d, &nn, &z);
    evk_nn_free(&nn, &z);
    if (!nn.status) evk_nn_fail(&nn, evk_stream_copy(s, &h0.buf, 0, &image->buf, 0, evk_tensor_bytes(image)));
    evk_nn_free(&nn, &h0);
    return nn.status;
}
