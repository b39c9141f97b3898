/* modelscope.h — diffusers' UNet3DConditionModel (ModelScope text-to-video) on the GPU, built
 * from its config.json and the checkpoint's diffusers tensor names.
 *
 * The spatial layers are SD's: frames are folded into the batch ([B, C, F, H, W] becomes
 * [B·F, C, H, W]) and run through ResnetBlock2D, Transformer2DModel (1×1-conv projections in the
 * down and up blocks, Linear ones in the mid block), strided-conv downsamplers and nearest ×2 +
 * conv upsamplers. The temporal layers mix the frames of each clip: a TemporalConvLayer
 * (`temp_convs.N`: four GroupNorm → SiLU → Conv3d (3, 1, 1) stages plus the identity, the
 * GroupNorms' statistics over the whole clip) after every ResNet, a TransformerTemporalModel
 * (`temp_attentions.N`: attention over the F frames at each pixel, attn1 and attn2 both
 * self-attention) after every spatial transformer, and `transformer_in` (8 heads) after conv_in.
 * In these blocks `attention_head_dim` is the width of a head: heads = channels / it.
 *
 * With time_cond_proj_dim (T2V-Turbo's ModelScope student) the time embedding adds
 * cond_proj(timestep_cond) — a bias-free Linear of the guidance-scale embedding — to the timestep
 * sinusoid before its MLP. Dropouts are inference no-ops. One forward call covers a batch of
 * clips with per-clip timesteps and contexts. */
#ifndef EVK_MODELSCOPE_H
#define EVK_MODELSCOPE_H

#include "formats/config.h"
#include "models/model.h"
#include "nn/nn.h"
#include "samplers/sampler.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct evk_ms_unet evk_ms_unet;

/* `storage`: dtype of conv kernels and linear weights (f32 or f16). A missing or mis-shaped
 * tensor fails naming it and the weight file. */
evk_status evk_ms_unet_load(evk_context *ctx, const evk_unet3d_config *cfg, evk_weights *ws, evk_dtype storage,
                            evk_ms_unet **out);
void evk_ms_unet_destroy(evk_ms_unet *u);
const evk_unet3d_config *evk_ms_unet_get_config(const evk_ms_unet *u);
/* Number of 2× downsamplings (the latent size must be a multiple of 2^this). */
int evk_ms_unet_downsamplings(const evk_ms_unet *u);

/* Record out = unet(x, t, context[, timestep_cond]).
 * x f32 [B, in, F, H, W] (diffusers' latent layout), t f32 [B] timesteps, context f32
 * [B, L, cross_attention_dim], timestep_cond f32 [B, time_cond_proj_dim] (required exactly when
 * the UNet has cond_proj, else NULL), out f32 [B, out, F, H, W]. */
evk_status evk_ms_unet_forward(evk_ms_unet *u, evk_stream *s, const evk_tensor *x, const evk_tensor *t,
                               const evk_tensor *context, const evk_tensor *timestep_cond, const evk_tensor *out);

/* ---- the "modelscope" family (modelscope_family.c) ------------------------------------------
 *
 * A diffusers TextToVideoSDPipeline folder (model_index.json; unet/ holding a
 * UNet3DConditionModel, text_encoder/ a CLIPTextModel, tokenizer/, vae/ an AutoencoderKL,
 * scheduler/) as an evk_model: one sample is a clip of latents [4, F, h, w] (diffusers'
 * [B, C, F, H, W] per item, so .npy latents load as they are); the forward is the UNet (guided
 * passes batch [uncond; cond]); prompts are the text encoder's last_hidden_state, as the pipeline
 * hands them to the UNet; decoding runs the VAE frame by frame, in chunks of frames that fit
 * memory, to [F, 3, H, W] in [0, 1]; the default sampler is the scheduler config's DDIM.
 * Options: frames (0: 16, the pipeline's default), width / height (0: the UNet's sample_size ×
 * the VAE's upscale), storage, vae_tile, diffusion_model (the UNet's weights from another
 * file with the same diffusers names, with or without the "model.diffusion_model." prefix). A UNet with time_cond_proj (T2V-Turbo's ModelScope
 * student: in its config, or its time_embedding.cond_proj tensor in the weights) is
 * guidance-embedded: one call per step, w told through T2V-Turbo's w-embedding of
 * evk_model_input.guidance, and its default sampler is T2V-Turbo's LCM. */
typedef struct evk_ms evk_ms;

/* Frames per VAE call when decoding: as many as fit this many bytes of decoder activations. */
#define EVK_MS_DECODE_BUDGET (256ull << 20)

bool evk_modelscope_probe(const char *path);
evk_status evk_modelscope_model_load(evk_context *ctx, const char *path, const evk_model_options *options, evk_model **out);
/* Frames per VAE call the model decodes with (for tests: 0 restores the budget's choice). */
void evk_modelscope_set_decode_chunk(evk_model *m, uint32_t frames);

#ifdef __cplusplus
}
#endif
#endif
