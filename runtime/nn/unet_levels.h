/* unet_levels.h — the level structure every UNet evoke runs shares, loaded and run once for all:
 * diffusers' UNet2DConditionModel (models/sd/unet.c), diffusers' UNet3DConditionModel
 * (models/video/modelscope.c) and lvdm's openaimodel3d.UNetModel (models/video/vc2_unet.c).
 *
 * A UNet here is: down levels of layers, each layer a ResNet [→ temporal convolution]
 * [→ spatial transformer [→ temporal transformer]], every level but the last ending in a strided
 * 3×3 conv; a mid block (layer 0 with attention, layer 1 a ResNet alone; or none); up levels of
 * one layer more, each layer taking the matching skip concatenated on channels, every level but
 * the last ending in nearest ×2 + 3×3 conv. The skips are conv_in's output (whatever the family
 * runs after it) and every layer's and downsampler's output. The walker owns the loops, the
 * channel bookkeeping and the skips; a family says which levels have attention and fills each
 * layer through a hook that knows its tensor names (diffusers' down_blocks.i.resnets.l, lvdm's
 * input_blocks.k.0, ...) and layer settings. Frames are folded into the batch ([B·F, C, H, W]);
 * a 2-D UNet has no temporal layers and one frame.
 *
 * Also here: the pieces the video UNets share around the levels (the temporal convolution block,
 * the time-embedding MLP, frame folding and per-frame row repeats). */
#ifndef EVK_UNET_LEVELS_H
#define EVK_UNET_LEVELS_H

#include <stddef.h>

#include "nn/nn.h"
#include "nn/transformer.h"

#ifdef __cplusplus
extern "C" {
#endif

#define EVK_UNET_MAX_LEVELS 8
#define EVK_UNET_MAX_LAYERS 9 /* per level: a down level's layers + 1 */

/* TemporalConvLayer (diffusers) / TemporalConvBlock (lvdm): x + conv4(conv3(conv2(conv1(x)))),
 * conv<i> = GroupNorm over each clip → SiLU → Conv3d (3, 1, 1). */
typedef struct evk_temporal_conv {
    evk_norm norm[4];
    evk_tensor w[4], b[4]; /* [C, C, 3, 1, 1], [C] */
} evk_temporal_conv;

/* Weights "<prefix>.conv<i>.0" (GroupNorm, eps 1e-5) and "<prefix>.conv<i>.<2 or 3>.weight/bias"
 * (the Conv3d; conv1 has no Dropout before it). */
evk_status evk_temporal_conv_load(evk_weights *ws, const char *prefix, int channels, int groups, evk_dtype storage,
                                  evk_temporal_conv *out);
void evk_temporal_conv_free(evk_context *ctx, evk_temporal_conv *t);

typedef struct evk_unet_layer {
    evk_resnet resnet;
    bool has_tconv, has_spatial, has_temporal;
    evk_temporal_conv tconv;
    evk_transformer spatial, temporal;
} evk_unet_layer;

typedef struct evk_unet_level {
    int layers;
    evk_unet_layer layer[EVK_UNET_MAX_LAYERS];
    bool resample; /* downsampler / upsampler present */
    evk_conv2d resample_conv;
} evk_unet_level;

typedef enum evk_unet_part { EVK_UNET_PART_DOWN, EVK_UNET_PART_MID, EVK_UNET_PART_UP } evk_unet_part;

/* Where a layer (or a resample conv: layer = the block's layer count) sits, for the family's hooks. */
typedef struct evk_unet_site {
    evk_unet_part part;
    int block;   /* index in its path: down i is level i, up i is level levels − 1 − i; mid 0 */
    int level;   /* the resolution level (mid: levels − 1): the down level whose settings apply */
    int layer;   /* within the block */
    int in, out; /* the ResNet's input channels (the skip included) and output channels */
    int temb;    /* time-embedding width */
    bool attn;   /* transformers after the ResNet */
} evk_unet_site;

typedef struct evk_unet_levels_desc {
    int levels;
    int in_channels;                      /* conv_in's output channels */
    int temb;                             /* time-embedding width */
    int channels[EVK_UNET_MAX_LEVELS];    /* output channels of each level */
    int layers[EVK_UNET_MAX_LEVELS];      /* layers of each down level (its up level has one more) */
    bool down_attn[EVK_UNET_MAX_LEVELS];  /* by down block */
    bool up_attn[EVK_UNET_MAX_LEVELS];    /* by up block (deepest first) */
    bool mid, mid_attn;                   /* a mid block; with attention */
    int downsample_padding;
    void *user;
    /* Fill one layer: the ResNet, and the temporal conv / transformers it has (setting has_*). */
    evk_status (*load_layer)(void *user, evk_weights *ws, const evk_unet_site *at, evk_dtype storage, evk_unet_layer *out);
    /* The tensor name (without ".weight") of a block's downsampler / upsampler conv. */
    void (*resample_name)(void *user, const evk_unet_site *at, char *buf, size_t cap);
} evk_unet_levels_desc;

typedef struct evk_unet_levels {
    int levels;
    evk_unet_level down[EVK_UNET_MAX_LEVELS], up[EVK_UNET_MAX_LEVELS], mid;
    bool mid_present;
} evk_unet_levels;

/* diffusers' block names: "down_blocks.<i>", "mid_block", "up_blocks.<i>". */
void evk_unet_diffusers_block(const evk_unet_site *at, char *buf, size_t cap);
/* A resample_name hook for diffusers' names: "<block>.downsamplers.0.conv" / "<block>.upsamplers.0.conv". */
void evk_unet_diffusers_resample_name(void *user, const evk_unet_site *at, char *buf, size_t cap);

/* Load the levels in order (down, mid, up). On failure what was loaded stays in *out (zeroed
 * first): free it with evk_unet_levels_free. */
evk_status evk_unet_levels_load(const evk_unet_levels_desc *d, evk_weights *ws, evk_dtype storage, evk_unet_levels *out);
void evk_unet_levels_free(evk_context *ctx, evk_unet_levels *u);

/* The down path, mid block and up path on h (conv_in's output, taken over: it is the first skip
 * and freed here); temb_act [B·F, temb] (the activated time embedding), context [B·F, L, D] for
 * the spatial transformers (NULL without cross-attention). Returns a new tensor. */
evk_tensor evk_unet_levels_forward(evk_nn *nn, const evk_unet_levels *u, evk_tensor h, const evk_tensor *temb_act,
                                   const evk_tensor *context, int frames);

/* The time-embedding MLP linear_2(SiLU(linear_1(x))); x is freed. */
evk_tensor evk_nn_time_mlp(evk_nn *nn, evk_tensor *x, const evk_linear *l1, const evk_linear *l2);

/* [B, C, F, H, W] -> [B·F, C, H, W] (a new tensor). */
evk_tensor evk_nn_fold_frames(evk_nn *nn, const evk_tensor *x);
/* h [B·F, C, H, W] -> out [B, C, F, H, W] (recorded into out). */
void evk_nn_unfold_frames(evk_nn *nn, const evk_tensor *h, int64_t frames, const evk_tensor *out);
/* src [B, ...] -> [B·F, ...]: each row repeated F times (torch's repeat_interleave on dim 0). */
evk_tensor evk_nn_repeat_frames(evk_nn *nn, const evk_tensor *src, int64_t frames);

#ifdef __cplusplus
}
#endif
#endif
