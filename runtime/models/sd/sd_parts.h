/* sd_parts.h — pieces of diffusers' Stable-Diffusion-style pipelines shared by the families built
 * from SD's components (the "sd" image family, ModelScope text-to-video): prompt encoding with a
 * CLIP tokenizer and CLIPTextModel, the scheduler config's sampler, classifier-free guidance as
 * one batched network pass, and conditioning rows shared by a batch; and evk_sd_pipe, the
 * pipeline object both families are: a folder's text encoder, tokenizer, scheduler and VAE, the
 * UNet's weights (the folder's or a --diffusion-model file's), the image size, and the model
 * callbacks that are the same for both: the forward (a prompt shared by the batch replicated),
 * classifier-free guidance as one batched UNet pass, prompt encoding and destroy. */
#ifndef EVK_SD_PARTS_H
#define EVK_SD_PARTS_H

#include "formats/config.h"
#include "formats/tokenizer.h"
#include "models/clip/clip.h"
#include "models/model.h"
#include "models/sd/vae.h"
#include "samplers/sampler.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Encode a prompt (NULL: "") as the pipelines' encode_prompt does: tokens padded to the text
 * encoder's max_position_embeddings, last_hidden_state [1, L, hidden_size] allocated into `out`
 * (free with evk_tensor_free); a prompt longer than the context is truncated and *truncated set. */
evk_status evk_sd_encode_text(evk_context *ctx, const evk_tokenizer *tok, evk_clip_text *text, const char *prompt,
                              evk_tensor *out, bool *truncated);

/* ---- the pipeline ------------------------------------------------------------------------------
 *
 * A family's object starts with an evk_sd_pipe (its first member, so that the model's impl is the
 * pipe); evk_sd_pipe_build makes it and the family's load function fills it through the calls
 * below. */
typedef struct evk_sd_pipe evk_sd_pipe;

/* The family's UNet on x and out (flat rows [B, …] or shaped) with cond [B, L, D]; w: the
 * guidance scale, for a guidance-embedded UNet (0 in guided passes), and w_items: one scale per
 * row instead, or NULL. */
typedef evk_status (*evk_sd_pipe_net_fn)(evk_sd_pipe *p, evk_stream *s, const evk_tensor *x, const evk_tensor *t,
                                         const evk_tensor *cond, float w, const float *w_items, const evk_tensor *out);

struct evk_sd_pipe {
    evk_context *ctx;
    char folder[512];
    evk_clip_text_config text_cfg;
    evk_scheduler_config sched;
    evk_vae_config vae_cfg;
    evk_weights *unet_weights, *text_weights, *vae_weights;
    evk_clip_text *text;
    evk_tokenizer *tok;
    evk_vae_decoder *vae; /* NULL: a pixel-space model */
    evk_model *model;     /* owns the pipe (its destroy callback frees it) */
    evk_model_info info;  /* what the model is created with */
    uint32_t width, height, factor;
    evk_sd_pipe_net_fn net;
    void (*destroy_unet)(evk_sd_pipe *p);
};

/* Fills a family's object: sets net, destroy_unet (first, so that a failure frees what was
 * loaded), the components and p->info, and the family's callbacks in `ops` (decode,
 * sampler_config) with the decoded shape. */
typedef evk_status (*evk_sd_pipe_load_fn)(evk_sd_pipe *p, const char *path, const evk_model_options *opt, evk_model_ops *ops);

/* A family's model: a zeroed object of `size` bytes (its evk_sd_pipe first) for `path`, filled by
 * `load`, then created as p->model (which owns it) with the shared forward, guided forward,
 * prompt encoding and destroy. On failure everything is freed and *out is NULL. */
evk_status evk_sd_pipe_build(evk_context *ctx, size_t size, const char *path, const evk_model_options *opt, evk_sd_pipe_load_fn load,
                             evk_sd_pipe **out);
/* Everything the pipe holds and the object itself (a built pipe: destroy its model instead). */
void evk_sd_pipe_free(evk_sd_pipe *p);

bool evk_sd_is_dir(const char *path);

/* Reads the UNet's config (<folder>/unet/config.json: `path`) into the family's object. */
typedef evk_status (*evk_sd_pipe_config_fn)(evk_sd_pipe *p, const char *path);

/* Read <folder>/model_index.json, the UNet's config (through `unet_config`),
 * text_encoder/config.json, scheduler/scheduler_config.json, tokenizer/ and, for a latent model
 * (a "vae" in the index, a vae/ folder, or need_vae), vae/config.json; *latent says which. */
evk_status evk_sd_pipe_read_folder(evk_sd_pipe *p, const char *folder, evk_sd_pipe_config_fn unet_config, bool need_vae, bool *latent);

/* Open a component's weights: the single file when given, else <folder>/<component>. */
evk_status evk_sd_pipe_open(evk_sd_pipe *p, const char *single, const char *component, evk_weights **out);

/* Called for a --diffusion-model file under the original names (input_blocks.*, ...): map them
 * (sd_keys.h); `prefixed`: the names carry "model.diffusion_model.". */
typedef evk_status (*evk_sd_original_names_fn)(void *user, evk_weights *ws, bool prefixed);

/* The UNet's weights into p->unet_weights from `file` (--diffusion-model: GGUF, safetensors or a
 * PyTorch checkpoint) under diffusers names or, through `original` (NULL: refused), the
 * original ones, with or without the "model.diffusion_model." prefix of whole checkpoints. */
evk_status evk_sd_pipe_open_unet_file(evk_sd_pipe *p, const char *file, evk_sd_original_names_fn original, void *user);

/* The UNet's cross-attention width against the text encoder's and (latent) its input channels
 * against the VAE's latent channels, from the configs; `folder` names the model in messages. */
evk_status evk_sd_pipe_check(const evk_sd_pipe *p, const char *folder, int cross_dim, int in_channels, bool latent);

/* The VAE decoder from p->vae_weights (opened) with `storage` and decode tiles of `tile` latents
 * (0: whole images); sets p->factor. */
evk_status evk_sd_pipe_load_vae(evk_sd_pipe *p, evk_dtype storage, uint32_t tile);

/* p->width / height: the options' or sample_size · factor, multiples of factor << downsamplings
 * (`what`: "image" or "video" in the message). */
evk_status evk_sd_pipe_size(evk_sd_pipe *p, const evk_model_options *opt, int sample_size, int downsamplings, const char *what);

/* A sampler configuration following the scheduler config (β schedule and range, spacing,
 * steps_offset, set_alpha_to_one, LCM's original_inference_steps) and the model's prediction
 * type; settings evoke does not implement are refused naming the folder. kind: DDIM (η as
 * given), DDPM or LCM. */
evk_status evk_sd_pipe_sampler(const evk_sd_pipe *p, evk_sampler_kind kind, uint32_t steps, double eta, evk_sampler_config *out);

#ifdef __cplusplus
}
#endif
#endif
