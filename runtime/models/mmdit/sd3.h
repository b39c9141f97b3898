/* sd3.h — Stable Diffusion 3 / 3.5 pipelines (diffusers StableDiffusion3Pipeline folders) as
 * evoke models: family "sd3".
 *
 * A folder with model_index.json (class StableDiffusion3Pipeline), transformer/ (an
 * SD3Transformer2DModel), text_encoder/ and text_encoder_2/ (CLIPTextModelWithProjection: CLIP-L
 * and OpenCLIP-G), tokenizer/ and tokenizer_2/, vae/ (the 16-channel AutoencoderKL with
 * shift_factor) and scheduler/ (FlowMatchEulerDiscreteScheduler). Prompts are encoded as the
 * pipeline does with text_encoder_3 = None: each CLIP's penultimate hidden states (77 tokens)
 * concatenated on channels and zero-padded to joint_attention_dim, followed by 77 zero rows in
 * the T5 slot; the pooled outputs (text_projection of the end-of-text state) concatenated. A
 * folder that also has text_encoder_3 (T5) is read the same way: T5 is not run, exactly as
 * diffusers' from_pretrained(..., text_encoder_3=None, tokenizer_3=None).
 *
 * A single-file checkpoint (sd3_medium*.safetensors, sd3.5_medium.safetensors: the original
 * "model.diffusion_model.joint_blocks..." names, mapped by mmdit_keys.c, and its VAE under
 * "first_stage_model." when it has one) is read with a config folder (options->config_dir, the CLI's
 * --config) of the same model for the configs, tokenizers and text encoders, as for SD 1.x / 2.x.
 *
 * The model's conditioning tensor packs both: [1, 154 + R, joint_attention_dim], the 154 context
 * rows, then the pooled vector in the first pooled_projection_dim values of R more rows. The
 * forward is the transformer's flow velocity; the default sampler is the stochastic flow step on
 * the scheduler's σ grid (shift from scheduler_config.json), `euler` its deterministic step. */
#ifndef EVK_SD3_H
#define EVK_SD3_H

#include "models/model.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The registry entry (models/registry.c). */
bool evk_sd3_probe(const char *path);
evk_status evk_sd3_model_load(evk_context *ctx, const char *path, const evk_model_options *options, evk_model **out);

/* Rows of the packed conditioning of a model from evk_sd3_model_load: context rows (154) and all rows. */
void evk_sd3_cond_rows(const evk_model *m, int *context_rows, int *rows);

#ifdef __cplusplus
}
#endif
#endif
