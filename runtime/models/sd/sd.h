/* sd.h — Stable-Diffusion-family pipelines read from diffusers folders, as evoke models.
 *
 * A folder with model_index.json, unet/, text_encoder/, tokenizer/, scheduler/ and (for latent
 * models) vae/ is loaded with each component's own config, the way diffusers reads it: the
 * UNet's channels and sample size, the scheduler's β schedule, prediction type, timestep
 * spacing, steps_offset and set_alpha_to_one, the tokenizer's special tokens and padding. The
 * result is an evk_model (family "sd") whose forward is the UNet and whose decode turns a
 * sample into an image in [0, 1] (VAE decoder for latent models, the sample itself for pixel
 * models), so every search method runs on it unchanged; prompts become conditioning tensors
 * through the text encoder.
 *
 * A single-file checkpoint (.safetensors with the original CompVis / Stability names, as released
 * and as UIs save them) is read through the name maps of sd_keys.h. Such a file carries no
 * configs and no tokenizer: without `config_dir` the version (SD 1.x or 2.x) is told from its
 * tensors and built-in configs and the built-in CLIP vocabulary are used (sd_builtin.h,
 * clip_vocab.h); with it — as diffusers' from_single_file(config=...) — a folder of the same
 * model family supplies them (the diffusers layout, weights not needed). */
#ifndef EVK_SD_H
#define EVK_SD_H

#include "formats/config.h"
#include "models/model.h"
#include "samplers/sampler.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct evk_sd evk_sd;

/* Zero is a valid default: f32 weights, the UNet config's sample size. */
typedef struct evk_sd_options {
    evk_dtype storage;      /* weights of matrices and kernels: f32 (0) or f16 */
    uint32_t width, height; /* image size in pixels; 0: sample_size × VAE factor */
    const char *config_dir; /* single-file checkpoints: where configs and tokenizer come from (NULL: built in) */
    uint32_t vae_tile;      /* latent models: decode in tiles of this many latents (0: whole images) */
} evk_sd_options;

/* `path`: a diffusers folder, or a single-file .safetensors checkpoint (options->config_dir optional). */

evk_status evk_sd_load(evk_context *ctx, const char *folder, const evk_sd_options *options, evk_sd **out);
void evk_sd_destroy(evk_sd *sd);

/* The model to search with (owned by sd). */
evk_model *evk_sd_model(evk_sd *sd);
const evk_scheduler_config *evk_sd_scheduler(const evk_sd *sd);
/* Image size in pixels and the VAE's downsampling factor (1 for pixel models). */
void evk_sd_image_size(const evk_sd *sd, uint32_t *width, uint32_t *height, uint32_t *vae_factor);

/* Decode `count` samples from host memory ([count, C·h·w] as searches return them) to [0, 1] RGB
 * images on the host ([count, 3, H, W]): the VAE for latent models, x / 2 + 0.5 for pixel models. */
evk_status evk_sd_decode_host(evk_sd *sd, const float *samples, uint32_t count, float *images);

/* Encode a prompt into `out` (allocated here: f32 [1, L, cross_attention_dim]; free with
 * evk_tensor_free). A prompt longer than the context is truncated and *truncated is set. */
evk_status evk_sd_encode_prompt(evk_sd *sd, const char *prompt, evk_tensor *out, bool *truncated);

/* A sampler configuration following the scheduler config: β schedule and range, prediction
 * type, spacing, steps_offset, set_alpha_to_one. kind: DDIM (η as given), DDPM or LCM. */
evk_status evk_sd_sampler_config(const evk_sd *sd, evk_sampler_kind kind, uint32_t steps, double eta,
                                 evk_sampler_config *out);

#ifdef __cplusplus
}
#endif
#endif
