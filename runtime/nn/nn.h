/* nn.h — building blocks for recording networks: a sticky-error graph builder and layers.
 *
 * Network code (CLIP encoders, the UNet, the VAE decoder) is long chains of kernels. evk_nn
 * keeps the stream and the first failure: every call after a failure does nothing and returns an
 * empty tensor, so a forward pass reads as straight-line code and checks once at the end.
 * Intermediate tensors are allocated from the arena and freed as soon as their last use is
 * recorded — freed ranges are reused within the same stream, ordered by its barriers — so peak
 * device memory follows the live activations, not the whole graph. Layers hold their weights
 * as evk_tensors loaded by name from an evk_weights set (diffusers/transformers names). */
#ifndef EVK_NN_H
#define EVK_NN_H

#include <stdbool.h>

#include "ops/op_attention.h"
#include "ops/op_elementwise.h"
#include "core/stream.h"
#include "core/tensor.h"
#include "formats/weights.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct evk_nn {
    evk_context *ctx;
    evk_stream *s;
    evk_status status; /* first failure; EVK_OK while everything recorded */
} evk_nn;

void evk_nn_init(evk_nn *nn, evk_stream *s);
/* Record a failure (first one wins; its message stays in evk_error_message()). */
void evk_nn_fail(evk_nn *nn, evk_status status);

/* Shapes as literals: evk_nn_new(nn, EVK_SHAPE(2, 77, 768)). */
#define EVK_SHAPE(...) (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), (const int64_t[]){__VA_ARGS__}

/* A new f32 tensor (empty after a failure). */
evk_tensor evk_nn_new(evk_nn *nn, int ndim, const int64_t *shape);
void evk_nn_free(evk_nn *nn, evk_tensor *t);
/* The same storage with another shape (same element count). */
evk_tensor evk_nn_view(evk_nn *nn, const evk_tensor *t, int ndim, const int64_t *shape);

/* ---- layers and their weights ------------------------------------------------------------ */

typedef struct evk_linear { evk_tensor w, b; int in, out; } evk_linear;       /* y = x·Wᵀ + b */
/* A 3×3 stride-1 convolution with 16+ channels in and out keeps its weights only in Winograd form
 * (`wino`, [16, out, in], made at load by evk_op_conv2d_winograd_weights; `w` is then empty). */
typedef struct evk_conv2d { evk_tensor w, b, wino; int in, out, k, stride, pad; } evk_conv2d;
typedef struct evk_norm { evk_tensor gamma, beta; int channels, groups; float eps; } evk_norm;

/* Weight loading: `prefix` + ".weight" / ".bias". Matrices and kernels go to `storage` (f32 or
 * f16); biases and norm parameters stay f32. storage EVK_DTYPE_QUANT loads them as the file
 * stores them (evk_weights_get): a quantised GGUF linear weight stays quantised in device memory
 * and evk_nn_linear runs the dequantising matmul on it; F16 weights stay f16, others f32.
 * Convolution kernels (rows of k·k elements, which hold no GGUF blocks) are then f16 when the file
 * stores F16 or quantised values (dequantised at load), else f32. */
evk_status evk_linear_load(evk_weights *ws, const char *prefix, int in, int out, bool bias, evk_dtype storage,
                           evk_linear *out_layer);
evk_status evk_conv2d_load(evk_weights *ws, const char *prefix, int in, int out, int k, int stride, int pad,
                           bool bias, evk_dtype storage, evk_conv2d *out_layer);
evk_status evk_norm_load(evk_weights *ws, const char *prefix, int channels, int groups, float eps, evk_norm *out_layer);
void evk_linear_free(evk_context *ctx, evk_linear *l);
void evk_conv2d_free(evk_context *ctx, evk_conv2d *l);
void evk_norm_free(evk_context *ctx, evk_norm *l);

/* diffusers' ResnetBlock2D ("default" time conditioning): h = conv1(silu(norm1 x));
 * h += time_emb_proj(silu(temb))[:, :, None, None] when the block has one; h = conv2(silu(norm2 h));
 * out = (shortcut(x) or x) + h, divided by output_scale. The UNet's blocks have a time
 * projection, the VAE's do not (temb_dim 0). */
typedef struct evk_resnet {
    evk_norm norm1, norm2;
    evk_conv2d conv1, conv2, shortcut; /* shortcut.w empty when in == out */
    evk_linear time_proj;              /* empty without time conditioning */
    float output_scale;
} evk_resnet;

evk_status evk_resnet_load(evk_weights *ws, const char *prefix, int in, int out, int temb_dim, int groups, float eps,
                           float output_scale, evk_dtype storage, evk_resnet *out_block);
void evk_resnet_free(evk_context *ctx, evk_resnet *r);
/* A new tensor; x is left alone. temb_act = silu(temb) [B, T], or NULL for blocks without it. */
evk_tensor evk_nn_resnet(evk_nn *nn, const evk_resnet *r, const evk_tensor *x, const evk_tensor *temb_act);

/* x [..., in] -> [..., out] */
evk_tensor evk_nn_linear(evk_nn *nn, const evk_tensor *x, const evk_linear *l);
/* x [N, C, H, W] -> [N, out, H', W'] */
evk_tensor evk_nn_conv2d(evk_nn *nn, const evk_tensor *x, const evk_conv2d *l);
/* Upsample2D: the layer over x's nearest-neighbour 2× upsampling, which is never stored (the
 * upsampled map of a 512² VAE decode is 256 MiB) */
evk_tensor evk_nn_upsample2x_conv2d(evk_nn *nn, const evk_tensor *x, const evk_conv2d *l);
/* conv(SiLU?(group_norm(x))): with Winograd weights the norm is folded into the convolution's
 * read (evk_op_group_norm_affine, evk_conv2d_params.input_affine) and the normalised map is never
 * stored; otherwise the two layers one after the other */
evk_tensor evk_nn_norm_conv2d(evk_nn *nn, const evk_tensor *x, const evk_norm *norm, bool silu, const evk_conv2d *l);
/* group norm over [N, C, ...] (groups from the layer), optionally followed by SiLU */
evk_tensor evk_nn_group_norm(evk_nn *nn, const evk_tensor *x, const evk_norm *l, bool silu);
/* layer norm over the last dim */
evk_tensor evk_nn_layer_norm(evk_nn *nn, const evk_tensor *x, const evk_norm *l);
evk_tensor evk_nn_activation(evk_nn *nn, const evk_tensor *x, evk_activation act);
evk_tensor evk_nn_geglu(evk_nn *nn, const evk_tensor *x);
/* a += b (b broadcast to a's shape) */
void evk_nn_add_into(evk_nn *nn, const evk_tensor *a, const evk_tensor *b);
/* a ++ b along dim 1 (channels of NCHW) */
evk_tensor evk_nn_concat_channels(evk_nn *nn, const evk_tensor *a, const evk_tensor *b);
/* [B, R, C] -> [B, C, R], given as batch, rows, cols; the result has shape `ndim`/`shape`. */
evk_tensor evk_nn_transpose(evk_nn *nn, const evk_tensor *x, int64_t batch, int64_t rows, int64_t cols, int ndim,
                            const int64_t *shape);
/* Multi-head attention on projections laid out [B, L, heads·D]: returns [B, Lq, heads·D]. */
evk_tensor evk_nn_attention(evk_nn *nn, const evk_tensor *q, const evk_tensor *k, const evk_tensor *v, int heads,
                            bool causal);

#ifdef __cplusplus
}
#endif
#endif
