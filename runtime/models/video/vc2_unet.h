/* vc2_unet.h — lvdm's 3-D UNet (openaimodel3d.UNetModel) as VideoCrafter2 and T2V-Turbo run it.
 *
 * The SD 2.x spatial layout (ResBlocks, SpatialTransformers with self- and cross-attention,
 * strided-conv downsamplers, nearest ×2 + conv upsamplers, skip concatenation) with the frames of
 * each clip folded into the batch, plus: a TemporalConvBlock (`temopral_conv`: 4 × [GroupNorm
 * over the clip → SiLU → Conv3d (3, 1, 1)] + identity) after every ResBlock, a TemporalTransformer
 * (self-attention over the frames at each pixel) after every SpatialTransformer, `init_attn` (a
 * TemporalTransformer of 8 heads with Conv1d projections) after conv_in, the fps embedding
 * (sinusoid → MLP, added after time_embed) and T2V-Turbo's `time_cond_proj` (Linear 256 → model
 * channels, no bias, applied to the w-embedding and added to the timestep sinusoid before
 * time_embed). T2V-Turbo-v2's motion_cond_proj / combine_proj run when the input carries motion
 * guidance scales (off otherwise, as upstream without a motion condition). Tensor names are lvdm's, below the weight
 * set's prefix ("model.diffusion_model." in a VideoCrafter2 checkpoint). */
#ifndef EVK_VC2_UNET_H
#define EVK_VC2_UNET_H

#include <stdbool.h>

#include "nn/nn.h"

#ifdef __cplusplus
extern "C" {
#endif

#define EVK_VC2_MAX_LEVELS 6

/* unet_config.params of the yaml, with lvdm's defaults for absent keys. */
typedef struct evk_vc2_unet_config {
    int in_channels, out_channels, model_channels;
    int num_res_blocks;
    int levels, channel_mult[EVK_VC2_MAX_LEVELS];
    int n_attention_resolutions, attention_resolutions[EVK_VC2_MAX_LEVELS + 2];
    int num_heads, num_head_channels; /* -1: unset */
    int transformer_depth, temporal_transformer_depth;
    int context_dim;
    bool use_linear, temporal_conv, temporal_attention, temporal_selfatt_only, addition_attention, fps_cond;
    /* refused when set (not in any VideoCrafter2 / T2V-Turbo config) */
    bool use_relative_position, use_causal_attention, use_scale_shift_norm, resblock_updown, tempspatial_aware,
        use_image_attention;
    int dims;
    bool conv_resample;
    int time_cond_proj_dim;   /* 0: none (from the checkpoint: the tensor's presence decides) */
    int motion_cond_proj_dim; /* 0: none */
} evk_vc2_unet_config;

/* lvdm's defaults (UNetModel.__init__): dims 2, conv_resample, depth 1, temporal attention, ... */
void evk_vc2_unet_config_default(evk_vc2_unet_config *c);

typedef struct evk_vc2_unet evk_vc2_unet;

/* Load with names below ws's prefix. `storage`: dtype of matrices and kernels (f32 or f16). */
evk_status evk_vc2_unet_load(evk_context *ctx, const evk_vc2_unet_config *cfg, evk_weights *ws, evk_dtype storage,
                             evk_vc2_unet **out);
void evk_vc2_unet_destroy(evk_vc2_unet *u);
const evk_vc2_unet_config *evk_vc2_unet_get_config(const evk_vc2_unet *u);

typedef struct evk_vc2_unet_input {
    const evk_tensor *x;       /* f32 [B, C, F, H, W] (lvdm's layout) */
    const evk_tensor *t;       /* f32 [B] timesteps */
    const evk_tensor *context; /* f32 [B, L, context_dim] */
    float fps;                 /* frame rate told to the fps embedding (fps_cond) */
    bool has_guidance;         /* time_cond_proj: apply it to the w-embedding of `guidance` */
    float guidance;            /* w, passed raw (7.5), embedded as T2V-Turbo does */
    const float *guidance_items; /* [B] on the host: each item's own w (overrides guidance); NULL: guidance */
    /* T2V-Turbo-v2's motion guidance (needs has_guidance and motion_cond_proj): per item, the
     * motion scale embedded like w; combine_proj(cat[time_cond_proj(w-emb), motion_cond_proj(m-emb)])
     * replaces time_cond_proj's term. NULL: off. */
    const float *motion_guidance; /* [B] on the host */
} evk_vc2_unet_input;

/* Record out [B, out_channels, F, H, W] = unet(in). */
evk_status evk_vc2_unet_forward(evk_vc2_unet *u, evk_stream *s, const evk_vc2_unet_input *in, const evk_tensor *out);

/* T2V-Turbo's get_w_embedding(w, 256): [sin | cos] of (w·1000)·exp(−ln(10⁴)·i / (half − 1)),
 * computed in f32 as torch does (out: dim floats). */
void evk_vc2_w_embedding(float w, int dim, float *out);

#ifdef __cplusplus
}
#endif
#endif
