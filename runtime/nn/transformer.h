/* transformer.h — the transformer of latent-diffusion UNets, over the pixels of an image or over
 * the frames of a video.
 *
 * One layout serves diffusers' Transformer2DModel and TransformerTemporalModel and the original
 * (CompVis / lvdm) SpatialTransformer and TemporalTransformer, which share their tensor names:
 * GroupNorm → proj_in → `layers` BasicTransformerBlocks (LayerNorm → self-attention, LayerNorm →
 * attention over a context (cross) or over the tokens again (self), LayerNorm → GEGLU
 * feed-forward, each a residual) → proj_out, plus the input. Projections are Linear, or 1×1
 * convolutions (Conv2d [out, in, 1, 1] or Conv1d [out, in, 1] weights). The inner width
 * heads · head_dim may differ from the input's channels (lvdm's init_attn: 320 → 8 × 64).
 *
 * Spatial form: x [N, C, H, W], attention over the H·W pixels of each item, GroupNorm per item.
 * Temporal form (attn2 self-attention too): x [B·F, C, H, W] holding B clips of F consecutive frames (the frames folded into
 * the batch as video UNets keep them); attention over the F frames at each pixel of a clip, and
 * the GroupNorm's statistics over the whole clip ([B, C, F, H, W] as torch sees it). */
#ifndef EVK_NN_TRANSFORMER_H
#define EVK_NN_TRANSFORMER_H

#include <stdbool.h>

#include "nn/attention.h"
#include "nn/nn.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct evk_transformer_config {
    int channels;      /* input / output channels */
    int heads;         /* attention heads */
    int head_dim;      /* channels per head; 0: channels / heads */
    int layers;        /* BasicTransformerBlocks */
    int context_dim;   /* attn2's context channels; 0: attn2 attends to the tokens themselves */
    int groups;        /* GroupNorm groups */
    float norm_eps;    /* GroupNorm eps (1e-6 in every UNet transformer) */
    bool conv_proj;    /* proj_in / proj_out are 1×1 convolutions instead of Linear */
} evk_transformer_config;

typedef struct evk_transformer_block {
    evk_norm norm1, norm2, norm3;
    evk_attention_block attn1, attn2;
    evk_linear ff_in, ff_out;
} evk_transformer_block;

typedef struct evk_transformer {
    evk_transformer_config cfg; /* head_dim resolved */
    int inner;                  /* heads · head_dim */
    evk_norm norm;
    evk_conv2d proj_in_conv, proj_out_conv; /* Conv2d projections (spatial form) */
    evk_linear proj_in, proj_out;           /* Linear, or Conv1d / Conv2d 1×1 read as Linear */
    evk_transformer_block *block;
} evk_transformer;

/* Load the weights under `prefix` (".norm", ".proj_in", ".transformer_blocks.<i>.attn1.to_q", ...).
 * `storage`: dtype of matrices (f32 or f16). On failure what was loaded stays in *out: free it
 * with evk_transformer_free (safe on a partly loaded or zeroed transformer). */
evk_status evk_transformer_load(evk_weights *ws, const char *prefix, const evk_transformer_config *cfg, evk_dtype storage,
                                evk_transformer *out);
void evk_transformer_free(evk_context *ctx, evk_transformer *t);

/* x [N, C, H, W], context [N, L, context_dim] (NULL when context_dim is 0) -> a new x + T(x). */
evk_tensor evk_nn_transformer_spatial(evk_nn *nn, const evk_transformer *t, const evk_tensor *x, const evk_tensor *context);
/* x [B·F, C, H, W] -> a new x + T(x), attention along the `frames` frames of each clip at each
 * pixel; self-attention only (context_dim 0), as in every video UNet evoke runs. */
evk_tensor evk_nn_transformer_temporal(evk_nn *nn, const evk_transformer *t, const evk_tensor *x, int frames);

#ifdef __cplusplus
}
#endif
#endif
