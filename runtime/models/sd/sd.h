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

/* `path`: a diffusers folder, or a single-file .safetensors checkpoint (options->config_dir: where configs and tokenizer come from; NULL: built in for SD 1.x / 2.x).
 * options may be NULL (f32 weights, the UNet config's sample size, whole-image decoding). */
evk_status evk_sd_load(evk_context *ctx, const char *path, const evk_model_options *options, evk_sd **out);
/* Destroys the model too. */
void evk_sd_destroy(evk_sd *sd);

/* The model to search with (owned by sd; a model from evk_sd_model_load owns its evk_sd). */
evk_model *evk_sd_model(evk_sd *sd);

/* Encode a prompt into `out` (allocated here: f32 [1, L, cross_attention_dim]; free with
 * evk_tensor_free). A prompt longer than the context is truncated and *truncated is set. */
evk_status evk_sd_encode_prompt(evk_sd *sd, const char *prompt, evk_tensor *out, bool *truncated);

/* A sampler configuration following the scheduler config: β schedule and range, prediction
 * type, spacing, steps_offset, set_alpha_to_one. kind: DDIM (η as given), DDPM or LCM. */
evk_status evk_sd_sampler_config(const evk_sd *sd, evk_sampler_kind kind, uint32_t steps, double eta,
                                 evk_sampler_config *out);

/* The registry entry (models/registry.c): a folder with model_index.json, or a safetensors file
 * with a UNet under "model.diffusion_model."; the loader returns the model, which owns the rest. */
bool evk_sd_probe(const char *path);
evk_status evk_sd_model_load(evk_context *ctx, const char *path, const evk_model_options *options, evk_model **out);

#ifdef __cplusplus
}
#endif
#endif
