/* nn.c — the sticky-error graph builder and the layers networks are made of (see nn.h). */
#include "nn/nn.h"

#include <stdio.h>
#include <string.h>

#include "ops/op_conv.h"
#include "ops/op_layout.h"
#include "ops/op_matmul.h"
#include "ops/op_norm.h"

void evk_nn_init(evk_nn *nn, evk_stream *s) {
    nn->ctx = evk_stream_context(s);
    nn->s = s;
    nn->status = EVK_OK;
}

void evk_nn_fail(evk_nn *nn, evk_status status) {
    if (nn->status == EVK_OK) nn->status = status;
}

static bool evk__nn_step(evk_nn *nn, evk_status status) {
    if (status != EVK_OK) evk_nn_fail(nn, status);
    return nn->status == EVK_OK;
}

evk_tensor evk_nn_new(evk_nn *nn, int ndim, const int64_t *shape) {
    evk_tensor t;
    memset(&t, 0, sizeof t);
    if (nn->status) return t;
    evk__nn_step(nn, evk_tensor_alloc(nn->ctx, EVK_DTYPE_F32, ndim, shape, &t));
    return t;
}

void evk_nn_free(evk_nn *nn, evk_tensor *t) { evk_tensor_free(nn->ctx, t); }

evk_tensor evk_nn_view(evk_nn *nn, const evk_tensor *t, int ndim, const int64_t *shape) {
    evk_tensor v;
    memset(&v, 0, sizeof v);
    if (nn->status) return v;
    evk__nn_step(nn, evk_tensor_reshape(t, ndim, shape, &v));
    return v;
}

/* ---- weights ------------------------------------------------------------------------------- */

#define EVK__NAME_MAX 320

/* "prefix.suffix" into name (EVK__NAME_MAX bytes), or an error naming the over-long name. */
static evk_status evk__param_name(const char *prefix, const char *suffix, char *name) {
    if (snprintf(name, EVK__NAME_MAX, "%s.%s", prefix, suffix) >= EVK__NAME_MAX)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "weight name %.200s.%s is longer than %d bytes", prefix, suffix, EVK__NAME_MAX - 1);
    return EVK_OK;
}

static evk_status evk__param(evk_weights *ws, const char *prefix, const char *suffix, int ndim, const int64_t *shape,
                             evk_dtype storage, evk_tensor *out) {
    char name[EVK__NAME_MAX];
    EVK_TRY(evk__param_name(prefix, suffix, name));
    return evk_weights_get(ws, name, ndim, shape, storage, out);
}

evk_status evk_linear_load(evk_weights *ws, const char *prefix, int in, int out, bool bias, evk_dtype storage,
                           evk_linear *l) {
    memset(l, 0, sizeof *l);
    l->in = in;
    l->out = out;
    int64_t ws_shape[2] = {out, in}, bs[1] = {out};
    EVK_TRY(evk__param(ws, prefix, "weight", 2, ws_shape, storage, &l->w));
    if (bias) EVK_TRY(evk__param(ws, prefix, "bias", 1, bs, EVK_DTYPE_F32, &l->b));
    return EVK_OK;
}

evk_status evk_conv2d_load(evk_weights *ws, const char *prefix, int in, int out, int k, int stride, int pad,
                           bool bias, evk_dtype storage, evk_conv2d *l) {
    memset(l, 0, sizeof *l);
    *l = (evk_conv2d){.in = in, .out = out, .k = k, .stride = stride, .pad = pad};
    int64_t shape[4] = {out, in, k, k}, bs[1] = {out};
    evk_context *ctx = evk_weights_context(ws);
    /* "as stored": kernels of k·k-element rows hold no GGUF blocks, so the convolution takes the
     * file's float type, or f16 for quantised values (dequantised on the host); Winograd too */
    if (storage == EVK_DTYPE_QUANT) {
        char name[EVK__NAME_MAX];
        EVK_TRY(evk__param_name(prefix, "weight", name));
        const evk_st_tensor *t = evk_weights_lookup(ws, name, NULL);
        storage = t ? evk_weights_float_dtype(t) : EVK_DTYPE_F32; /* absent: the read below says so */
    }
    const bool winograd = k == 3 && stride == 1 && in >= EVK_CONV_WINOGRAD_MIN_CHANNELS && out >= EVK_CONV_WINOGRAD_MIN_CHANNELS &&
                          (storage == EVK_DTYPE_F32 || storage == EVK_DTYPE_F16) &&
                          (uint64_t)16 * (uint64_t)out * (uint64_t)in * evk_dtype_size(storage) <= evk_context_device(ctx)->max_storage_buffer_range;
    /* Winograd weights (op_conv.h), made once here from the plain ones, which are then dropped,
     * so the layer holds 16/9 of its weights, not 25/9 (the 16 products bind them whole: one
     * binding). They are allocated first: the plain ones, read after them, leave no hole in the
     * arena when they go (the next layer's weights take their place). */
    evk_status st = winograd ? evk_tensor_alloc(ctx, storage, 3, (int64_t[]){16, out, in}, &l->wino) : EVK_OK;
    if (!st) st = evk__param(ws, prefix, "weight", 4, shape, storage, &l->w);
    if (!st && winograd) {
        evk_stream *s = NULL;
        st = evk_stream_create(ctx, &s);
        if (!st) st = evk_stream_begin(s);
        if (!st) st = evk_op_conv2d_winograd_weights(s, &l->w, &l->wino);
        if (!st) st = evk_stream_run(s);
        evk_stream_destroy(s);
        if (!st) evk_tensor_free(ctx, &l->w);
    }
    if (!st && bias) st = evk__param(ws, prefix, "bias", 1, bs, EVK_DTYPE_F32, &l->b);
    if (st) evk_conv2d_free(ctx, l);
    return st;
}

evk_status evk_norm_load(evk_weights *ws, const char *prefix, int channels, int groups, float eps, evk_norm *l) {
    memset(l, 0, sizeof *l);
    l->channels = channels;
    l->groups = groups;
    l->eps = eps;
    int64_t shape[1] = {channels};
    EVK_TRY(evk__param(ws, prefix, "weight", 1, shape, EVK_DTYPE_F32, &l->gamma));
    EVK_TRY(evk__param(ws, prefix, "bias", 1, shape, EVK_DTYPE_F32, &l->beta));
    return EVK_OK;
}

void evk_linear_free(evk_context *ctx, evk_linear *l) {
    evk_tensor_free(ctx, &l->w);
    evk_tensor_free(ctx, &l->b);
}

void evk_conv2d_free(evk_context *ctx, evk_conv2d *l) {
    evk_tensor_free(ctx, &l->w);
    evk_tensor_free(ctx, &l->wino);
    evk_tensor_free(ctx, &l->b);
}

void evk_norm_free(evk_context *ctx, evk_norm *l) {
    evk_tensor_free(ctx, &l->gamma);
    evk_tensor_free(ctx, &l->beta);
}

/* ---- layers --------------------------------------------------------------------------------- */

evk_tensor evk_nn_linear(evk_nn *nn, const evk_tensor *x, const evk_linear *l) {
    evk_tensor y;
    memset(&y, 0, sizeof y);
    if (nn->status) return y;
    int64_t shape[EVK_MAX_DIMS];
    memcpy(shape, x->shape, sizeof shape);
    shape[x->ndim - 1] = l->out;
    /* the matmul wants the matrix in the last two dims: view x as [rows, in] */
    int64_t rows = evk_tensor_numel(x) / x->shape[x->ndim - 1];
    evk_tensor x2 = evk_nn_view(nn, x, EVK_SHAPE(rows, x->shape[x->ndim - 1]));
    y = evk_nn_new(nn, x->ndim, shape);
    if (nn->status) return y;
    evk_tensor y2 = evk_nn_view(nn, &y, EVK_SHAPE(rows, l->out));
    evk_matmul_params p = {.transpose_b = true};
    evk__nn_step(nn, evk_op_matmul(nn->s, &x2, &l->w, l->b.buf.block ? &l->b : NULL, &y2, &p));
    return y;
}

/* One conv2d layer: the input read through a nearest 2^up_shift upsampling, and, when affine is
 * given (Winograd layers only), through x·a + b per (image, channel) and optionally SiLU. */
static evk_tensor evk__nn_conv2d(evk_nn *nn, const evk_tensor *x, const evk_conv2d *l, uint32_t up_shift, const evk_tensor *affine,
                                 bool silu) {
    evk_tensor y;
    memset(&y, 0, sizeof y);
    if (nn->status) return y;
    if (x->ndim != 4 || x->shape[1] != l->in) {
        evk_nn_fail(nn, evk_fail(EVK_ERROR_INVALID_ARGUMENT, "conv2d: input of rank %d with %lld channels, expected NCHW with %d",
                                 x->ndim, (long long)(x->ndim > 1 ? x->shape[1] : 0), l->in));
        return y;
    }
    int64_t h = x->shape[2] << up_shift, w = x->shape[3] << up_shift;
    int64_t ho = (h + 2 * l->pad - l->k) / l->stride + 1, wo = (w + 2 * l->pad - l->k) / l->stride + 1;
    y = evk_nn_new(nn, EVK_SHAPE(x->shape[0], l->out, ho, wo));
    if (nn->status) return y;
    evk_conv2d_params p = {.stride = (uint32_t)l->stride, .padding = (uint32_t)l->pad, .winograd_w = l->wino.buf.block ? &l->wino : NULL,
                           .upsample = up_shift ? 2 : 0, .input_affine = affine, .input_silu = silu};
    evk__nn_step(nn, evk_op_conv2d(nn->s, x, l->wino.buf.block ? NULL : &l->w, l->b.buf.block ? &l->b : NULL, &y, &p));
    return y;
}

evk_tensor evk_nn_conv2d(evk_nn *nn, const evk_tensor *x, const evk_conv2d *l) { return evk__nn_conv2d(nn, x, l, 0, NULL, false); }

evk_tensor evk_nn_upsample2x_conv2d(evk_nn *nn, const evk_tensor *x, const evk_conv2d *l) {
    return evk__nn_conv2d(nn, x, l, 1, NULL, false);
}

evk_tensor evk_nn_norm_conv2d(evk_nn *nn, const evk_tensor *x, const evk_norm *norm, bool silu, const evk_conv2d *l) {
    evk_tensor y;
    memset(&y, 0, sizeof y);
    if (nn->status) return y;
    if (!l->wino.buf.block || x->ndim != 4) {
        evk_tensor h = evk_nn_group_norm(nn, x, norm, silu);
        y = evk_nn_conv2d(nn, &h, l);
        evk_nn_free(nn, &h);
        return y;
    }
    evk_tensor ab = evk_nn_new(nn, EVK_SHAPE(x->shape[0], x->shape[1], 2));
    if (nn->status) return y;
    evk__nn_step(nn, evk_op_group_norm_affine(nn->s, x, &norm->gamma, &norm->beta, (uint32_t)norm->groups, norm->eps, &ab));
    y = evk__nn_conv2d(nn, x, l, 0, &ab, silu);
    evk_nn_free(nn, &ab);
    return y;
}

evk_tensor evk_nn_group_norm(evk_nn *nn, const evk_tensor *x, const evk_norm *l, bool silu) {
    evk_tensor y = evk_nn_new(nn, x->ndim, x->shape);
    if (nn->status) return y;
    evk__nn_step(nn, evk_op_group_norm(nn->s, x, &l->gamma, &l->beta, (uint32_t)l->groups, l->eps, silu, &y));
    return y;
}

evk_tensor evk_nn_layer_norm(evk_nn *nn, const evk_tensor *x, const evk_norm *l) {
    evk_tensor y = evk_nn_new(nn, x->ndim, x->shape);
    if (nn->status) return y;
    evk__nn_step(nn, evk_op_layer_norm(nn->s, x, &l->gamma, &l->beta, l->eps, &y));
    return y;
}

evk_tensor evk_nn_activation(evk_nn *nn, const evk_tensor *x, evk_activation act) {
    evk_tensor y = evk_nn_new(nn, x->ndim, x->shape);
    if (nn->status) return y;
    evk__nn_step(nn, evk_op_activation(nn->s, act, x, &y));
    return y;
}

evk_tensor evk_nn_geglu(evk_nn *nn, const evk_tensor *x) {
    int64_t shape[EVK_MAX_DIMS];
    memcpy(shape, x->shape, sizeof shape);
    shape[x->ndim - 1] /= 2;
    evk_tensor y = evk_nn_new(nn, x->ndim, shape);
    if (nn->status) return y;
    evk__nn_step(nn, evk_op_geglu(nn->s, x, &y));
    return y;
}

void evk_nn_add_into(evk_nn *nn, const evk_tensor *a, const evk_tensor *b) {
    if (nn->status) return;
    evk__nn_step(nn, evk_op_add(nn->s, a, b, a));
}

evk_tensor evk_nn_concat_channels(evk_nn *nn, const evk_tensor *a, const evk_tensor *b) {
    int64_t shape[EVK_MAX_DIMS];
    memcpy(shape, a->shape, sizeof shape);
    shape[1] = a->shape[1] + b->shape[1];
    evk_tensor y = evk_nn_new(nn, a->ndim, shape);
    if (nn->status) return y;
    evk__nn_step(nn, evk_op_concat(nn->s, a, b, 1, &y));
    return y;
}

evk_tensor evk_nn_transpose(evk_nn *nn, const evk_tensor *x, int64_t batch, int64_t rows, int64_t cols, int ndim,
                            const int64_t *shape) {
    evk_tensor y = evk_nn_new(nn, ndim, shape);
    if (nn->status) return y;
    evk__nn_step(nn, evk_op_transpose(nn->s, x, batch, rows, cols, &y));
    return y;
}

evk_tensor evk_nn_attention(evk_nn *nn, const evk_tensor *q, const evk_tensor *k, const evk_tensor *v, int heads,
                            bool causal) {
    evk_tensor y;
    memset(&y, 0, sizeof y);
    if (nn->status) return y;
    int64_t B = q->shape[0], Lq = q->shape[1], Lk = k->shape[1], D = q->shape[2] / heads;
    evk_tensor q4 = evk_nn_view(nn, q, EVK_SHAPE(B, Lq, heads, D));
    evk_tensor k4 = evk_nn_view(nn, k, EVK_SHAPE(B, Lk, heads, D));
    evk_tensor v4 = evk_nn_view(nn, v, EVK_SHAPE(B, Lk, heads, D));
    y = evk_nn_new(nn, EVK_SHAPE(B, Lq, heads, D));
    if (nn->status) return y;
    evk_attention_params p = {.causal = causal};
    evk__nn_step(nn, evk_op_attention(nn->s, &q4, &k4, &v4, &y, &p));
    evk_tensor y3 = evk_nn_view(nn, &y, EVK_SHAPE(B, Lq, heads * D));
    return nn->status ? y : y3;
}

/* ---- ResnetBlock2D ---------------------------------------------------------------------------- */

evk_status evk_resnet_load(evk_weights *ws, const char *p, int in, int out, int temb_dim, int groups, float eps,
                           float output_scale, evk_dtype st, evk_resnet *r) {
    char n[320];
    memset(r, 0, sizeof *r);
    r->output_scale = output_scale;
#define _N(s) (snprintf(n, sizeof n, "%.256s.%s", p, s), n)
    EVK_TRY(evk_norm_load(ws, _N("norm1"), in, groups, eps, &r->norm1));
    EVK_TRY(evk_conv2d_load(ws, _N("conv1"), in, out, 3, 1, 1, true, st, &r->conv1));
    if (temb_dim > 0) EVK_TRY(evk_linear_load(ws, _N("time_emb_proj"), temb_dim, out, true, st, &r->time_proj));
    EVK_TRY(evk_norm_load(ws, _N("norm2"), out, groups, eps, &r->norm2));
    EVK_TRY(evk_conv2d_load(ws, _N("conv2"), out, out, 3, 1, 1, true, st, &r->conv2));
    if (in != out) EVK_TRY(evk_conv2d_load(ws, _N("conv_shortcut"), in, out, 1, 1, 0, true, st, &r->shortcut));
#undef _N
    return EVK_OK;
}

void evk_resnet_free(evk_context *ctx, evk_resnet *r) {
    evk_norm_free(ctx, &r->norm1);
    evk_norm_free(ctx, &r->norm2);
    evk_conv2d_free(ctx, &r->conv1);
    evk_conv2d_free(ctx, &r->conv2);
    evk_conv2d_free(ctx, &r->shortcut);
    evk_linear_free(ctx, &r->time_proj);
}

evk_tensor evk_nn_resnet(evk_nn *nn, const evk_resnet *r, const evk_tensor *x, const evk_tensor *temb_act) {
    evk_tensor h = evk_nn_norm_conv2d(nn, x, &r->norm1, true, &r->conv1);
    if (r->time_proj.w.buf.block && temb_act) {
        evk_tensor tp = evk_nn_linear(nn, temb_act, &r->time_proj); /* [B, C] */
        evk_tensor tp4 = evk_nn_view(nn, &tp, EVK_SHAPE(tp.shape[0], tp.shape[1], 1, 1));
        evk_nn_add_into(nn, &h, &tp4);
        evk_nn_free(nn, &tp);
    }
    evk_tensor out = evk_nn_norm_conv2d(nn, &h, &r->norm2, true, &r->conv2);
    evk_nn_free(nn, &h);
    if (r->shortcut.w.buf.block) {
        evk_tensor sc = evk_nn_conv2d(nn, x, &r->shortcut);
        evk_nn_add_into(nn, &out, &sc);
        evk_nn_free(nn, &sc);
    } else {
        evk_nn_add_into(nn, &out, x);
    }
    if (r->output_scale != 1.0f && r->output_scale != 0.0f && !nn->status)
        evk_nn_fail(nn, evk_op_scale(nn->s, &out, 1.0f / r->output_scale, 0.0f, &out));
    return out;
}
