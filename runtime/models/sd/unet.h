/* unet.h — diffusers' UNet2DConditionModel on the GPU, built from its config.json.
 *
 * Down blocks (CrossAttnDownBlock2D, DownBlock2D), the mid block (UNetMidBlock2DCrossAttn or
 * UNetMidBlock2D), up blocks (CrossAttnUpBlock2D, UpBlock2D) with ResnetBlock2D,
 * Transformer2DModel (1×1-conv or linear projections, self- and cross-attention, GEGLU
 * feed-forward), strided-conv downsamplers, nearest ×2 + conv upsamplers and skip concatenation,
 * all with diffusers' tensor names. One forward call covers a whole batch: the population of a
 * search, with per-item timesteps, and cond + uncond halves for classifier-free guidance. */
#ifndef EVK_UNET_H
#define EVK_UNET_H

#include "formats/config.h"
#include "nn/nn.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct evk_unet evk_unet;

/* `storage`: dtype of conv kernels and linear weights (f32 or f16, or EVK_DTYPE_QUANT: as the
 * file stores them, quantised GGUF linear weights kept quantised; see evk_linear_load). Unsupported config values
 * (scale-shift time conditioning, class embeddings, only-cross-attention) are rejected here. */
evk_status evk_unet_load(evk_context *ctx, const evk_unet_config *cfg, evk_weights *ws, evk_dtype storage, evk_unet **out);
void evk_unet_destroy(evk_unet *u);
const evk_unet_config *evk_unet_get_config(const evk_unet *u);
/* Number of 2× downsamplings (the latent size must be a multiple of 2^this). */
int evk_unet_downsamplings(const evk_unet *u);

/* Record out = unet(x, t, context): x f32 [B, in, H, W], t f32 [B] (timesteps), context f32
 * [B, L, cross_attention_dim] (NULL only for a UNet without cross-attention), out f32 [B, out, H, W]. */
evk_status evk_unet_forward(evk_unet *u, evk_stream *s, const evk_tensor *x, const evk_tensor *t,
                            const evk_tensor *context, const evk_tensor *out);

#ifdef __cplusplus
}
#endif
#endif
