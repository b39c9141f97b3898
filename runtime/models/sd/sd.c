/* sd.c — diffusers Stable-Diffusion-style folders: component loading, prompt encoding, the
 * "sd" model family (UNet forward, decode to [0, 1] images, prompts, the scheduler's sampler)
 * and its registry entry (probe and loader). */
#include "models/sd/sd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "formats/safetensors.h"
#include "models/clip/clip.h"
#include "ops/op_image.h"
#include "ops/op_layout.h"
#include "ops/op_reduce.h"
#include "models/sd/sd_builtin.h"
#include "models/sd/sd_keys.h"
#include "models/sd/sd_parts.h"
#include "formats/clip_vocab.h"
#include "formats/tokenizer.h"
#include "models/sd/unet.h"
#include "models/sd/vae.h"

struct evk_sd {
    evk_context *ctx;
    char folder[512];
    evk_unet_config unet_cfg;
    evk_clip_text_config text_cfg;
    evk_scheduler_config sched;
    evk_weights *unet_weights, *text_weights, *vae_weights;
    evk_sd_keys unet_keys, text_keys, vae_keys; /* single-file name maps (must outlive the weight sets) */
    evk_vae_config vae_cfg;
    evk_vae_decoder *vae; /* NULL: a pixel-space model */
    evk_unet *unet;
    evk_clip_text *text;
    evk_tokenizer *tok;
    evk_model *model;    /* owns this evk_sd (its destroy callback frees it) */
    evk_model_info info; /* what the model was created with */
    uint32_t width, height, factor;
};

static bool evk__is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* ---- the model family ---------------------------------------------------------------------- */

static evk_status evk__sd_forward(void *impl, evk_stream *s, const evk_model_input *in, const evk_tensor *out) {
    evk_sd *sd = impl;
    const evk_tensor *cond = in->cond;
    EVK_TRY(evk_sd_check_cond(cond, "sd", "cond"));
    int64_t B = in->x->shape[0], L = cond->shape[1], D = cond->shape[2];
    /* searches hand over flat rows [B, C·H·W]: view them as images */
    const evk_model_info *mi = evk_model_get_info(sd->model);
    int64_t shape[4] = {B, mi->sample_shape[0], mi->sample_shape[1], mi->sample_shape[2]};
    evk_tensor x4, o4, ctx;
    EVK_TRY(evk_tensor_reshape(in->x, 4, shape, &x4));
    EVK_TRY(evk_tensor_reshape(out, 4, shape, &o4));
    if (cond->shape[0] == B) return evk_unet_forward(sd->unet, s, &x4, in->timestep, cond, &o4);
    /* one prompt shared by the batch: replicate its rows (small next to the UNet's work) */
    EVK_TRY(evk_tensor_alloc(sd->ctx, EVK_DTYPE_F32, 3, (int64_t[]){B, L, D}, &ctx));
    evk_status st = evk_sd_broadcast_rows(sd->ctx, s, cond, B, &ctx);
    if (!st) st = evk_unet_forward(sd->unet, s, &x4, in->timestep, &ctx, &o4);
    evk_tensor_free(sd->ctx, &ctx);
    return st;
}

static evk_status evk__sd_net(void *user, evk_stream *s, const evk_tensor *x, const evk_tensor *t, const evk_tensor *cond,
                              const evk_tensor *out) {
    evk_sd *sd = user;
    return evk_unet_forward(sd->unet, s, x, t, cond, out);
}

/* Classifier-free guidance in one UNet pass over [uncond half; cond half]. */
static evk_status evk__sd_forward_guided(void *impl, evk_stream *s, const evk_model_input *in, const evk_tensor *uncond, float w,
                                         const evk_tensor *out) {
    evk_sd *sd = impl;
    const evk_model_info *mi = evk_model_get_info(sd->model);
    return evk_sd_forward_guided(sd->ctx, s, in, uncond, w, mi->sample_ndim, mi->sample_shape, "sd", evk__sd_net, sd, out);
}

/* Samples to [0, 1] images: latent models through the VAE decoder (which unscales the latents),
 * pixel models directly; then diffusers' postprocess (x / 2 + 0.5, clamped). */
static evk_status evk__sd_decode(void *impl, evk_stream *s, const evk_tensor *x0, const evk_tensor *out) {
    evk_sd *sd = impl;
    if (!sd->vae) return evk_op_affine_clamp(s, x0, 0.5f, 0.5f, 0.0f, 1.0f, out);
    const evk_model_info *mi = evk_model_get_info(sd->model);
    int64_t B = x0->shape[0];
    evk_tensor lat, img;
    EVK_TRY(evk_tensor_reshape(x0, 4, (int64_t[]){B, mi->sample_shape[0], mi->sample_shape[1], mi->sample_shape[2]}, &lat));
    EVK_TRY(evk_tensor_alloc(sd->ctx, EVK_DTYPE_F32, 4, (int64_t[]){B, 3, sd->height, sd->width}, &img));
    evk_status st = evk_vae_decode(sd->vae, s, &lat, &img);
    if (!st) st = evk_op_affine_clamp(s, &img, 0.5f, 0.5f, 0.0f, 1.0f, out);
    evk_tensor_free(sd->ctx, &img); /* reuse inside the stream is ordered by its barriers */
    return st;
}

static evk_status evk__sd_encode(void *impl, const char *prompt, evk_tensor *out, bool *truncated) {
    return evk_sd_encode_prompt(impl, prompt, out, truncated);
}

/* The scheduler config's DDIM with η = 1 (what searches need; deterministic runs set η = 0). */
static evk_status evk__sd_default_sampler(void *impl, uint32_t steps, evk_sampler_config *out) {
    return evk_sd_sampler_config(impl, EVK_SAMPLER_DDIM, steps, 1.0, out);
}

/* Everything but the model object; the model owns the evk_sd once it exists, so that a model from
 * the registry is destroyed with evk_model_destroy alone. */
static void evk__sd_free(void *impl) {
    evk_sd *sd = impl;
    evk_unet_destroy(sd->unet);
    evk_vae_decoder_destroy(sd->vae);
    evk_weights_close(sd->vae_weights);
    evk_clip_text_destroy(sd->text);
    evk_weights_close(sd->unet_weights);
    evk_weights_close(sd->text_weights);
    evk_tokenizer_destroy(sd->tok);
    free(sd);
}

/* ---- loading ---------------------------------------------------------------------------------- */

void evk_sd_destroy(evk_sd *sd) {
    if (!sd) return;
    if (sd->model) evk_model_destroy(sd->model); /* frees sd through evk__sd_free */
    else evk__sd_free(sd);
}

/* Weights of one component: its diffusers folder, or the single file through a name map. */
static evk_status evk__sd_weights(evk_sd *sd, const char *folder, const char *single, const char *component, evk_weights **out) {
    char path[700];
    if (!single) {
        snprintf(path, sizeof path, "%s/%s", folder, component);
        return evk_weights_open(sd->ctx, path, out);
    }
    return evk_weights_open(sd->ctx, single, out);
}

static bool evk__sd_has_quant(const evk_weights *ws) {
    for (size_t i = 0; i < evk_weights_count(ws); i++)
        if (evk_weights_at(ws, i)->dtype == EVK_ST_QUANT) return true;
    return false;
}

static bool evk__sd_has_name(const evk_weights *ws, const char *prefix) {
    size_t n = strlen(prefix);
    for (size_t i = 0; i < evk_weights_count(ws); i++)
        if (!strncmp(evk_weights_at(ws, i)->name, prefix, n)) return true;
    return false;
}

/* The UNet from a file of its own (--diffusion-model: GGUF, safetensors or a PyTorch checkpoint),
 * under the original names (input_blocks / middle_block / output_blocks, as stable-diffusion.cpp
 * and ComfyUI-GGUF files store them) or diffusers ones, with or without the
 * "model.diffusion_model." prefix of whole checkpoints. The other components come from the model
 * path. */
static evk_status evk__sd_unet_file(evk_sd *sd, const char *file) {
    EVK_TRY(evk_weights_open(sd->ctx, file, &sd->unet_weights));
    const char *P = "model.diffusion_model.";
    bool prefixed = evk__sd_has_name(sd->unet_weights, P);
    char probe[64];
    snprintf(probe, sizeof probe, "%sinput_blocks.", prefixed ? P : "");
    if (evk__sd_has_name(sd->unet_weights, probe)) { /* original names */
        EVK_TRY(evk_sd_keys_unet(&sd->unet_cfg, &sd->unet_keys));
        if (!prefixed) sd->unet_keys.unet_prefix[0] = sd->unet_keys.scope[0] = 0;
        evk_weights_use_sd_keys(sd->unet_weights, &sd->unet_keys);
        return EVK_OK;
    }
    snprintf(probe, sizeof probe, "%sconv_in.", prefixed ? P : "");
    if (!evk__sd_has_name(sd->unet_weights, probe))
        return evk_fail(EVK_ERROR_FORMAT, "%s: not a UNet (no %sinput_blocks.* nor %sconv_in.* tensors)", file, prefixed ? P : "",
                        prefixed ? P : "");
    if (prefixed) EVK_TRY(evk_weights_set_prefix(sd->unet_weights, P));
    return EVK_OK;
}

static evk_status evk__sd_load(evk_sd *sd, const char *path_in, const evk_model_options *opt) {
    char path[700];
    const char *single = evk__is_dir(path_in) ? NULL : path_in;
    const char *folder = path_in;
    bool builtin = false; /* a single file alone: configs and tokenizer built in (sd_builtin.h) */
    bool latent;
    if (single) {
        struct stat sb;
        if (stat(single, &sb) != 0 || !S_ISREG(sb.st_mode))
            return evk_fail(EVK_ERROR_IO, "no model at %s (expected a diffusers folder or a .safetensors checkpoint)", single);
        if (opt && opt->config_dir) folder = opt->config_dir;
        else builtin = true;
    }
    if (builtin) {
        EVK_TRY(evk_weights_open(sd->ctx, single, &sd->unet_weights));
        if (!evk_sd_is_single_file(sd->unet_weights))
            return evk_fail(EVK_ERROR_FORMAT, "%s: no UNet under \"model.diffusion_model.\": not a single-file Stable Diffusion checkpoint",
                            single);
        evk_sd_version version;
        EVK_TRY(evk_sd_detect_version(sd->unet_weights, single, &version));
        evk_sd_builtin b;
        EVK_TRY(evk_sd_builtin_configs(version, &b));
        sd->unet_cfg = b.unet;
        sd->text_cfg = b.text;
        sd->vae_cfg = b.vae;
        sd->sched = b.scheduler;
        EVK_TRY(evk_tokenizer_load_builtin(&b.tokenizer, &sd->tok));
        latent = true;
    } else {
        evk_model_index mi;
        snprintf(path, sizeof path, "%s/model_index.json", folder);
        EVK_TRY(evk_model_index_load(path, &mi));
        snprintf(path, sizeof path, "%s/vae", folder);
        latent = evk_model_index_class(&mi, "vae") != NULL || evk__is_dir(path);
        snprintf(path, sizeof path, "%s/unet/config.json", folder);
        EVK_TRY(evk_unet_config_load(path, &sd->unet_cfg));
        snprintf(path, sizeof path, "%s/text_encoder/config.json", folder);
        EVK_TRY(evk_clip_text_config_load(path, &sd->text_cfg));
        snprintf(path, sizeof path, "%s/scheduler/scheduler_config.json", folder);
        EVK_TRY(evk_scheduler_config_load(path, &sd->sched));
        snprintf(path, sizeof path, "%s/tokenizer", folder);
        EVK_TRY(evk_tokenizer_load(path, &sd->tok));
        if (latent) {
            snprintf(path, sizeof path, "%s/vae/config.json", folder);
            EVK_TRY(evk_vae_config_load(path, &sd->vae_cfg));
        }
    }
    if (sd->unet_cfg.cross_attention_dim[0] != sd->text_cfg.hidden_size)
        return evk_fail(EVK_ERROR_FORMAT, "%s: the UNet attends to %d-wide text states but the text encoder makes %d", folder,
                        sd->unet_cfg.cross_attention_dim[0], sd->text_cfg.hidden_size);
    evk_dtype st = opt && opt->storage == EVK_DTYPE_F16 ? EVK_DTYPE_F16 : EVK_DTYPE_F32;
    const char *own_unet = opt && opt->diffusion_model && *opt->diffusion_model ? opt->diffusion_model : NULL;
    if (own_unet) {
        evk_weights_close(sd->unet_weights); /* a single file's own UNet (read for its version) is not used */
        sd->unet_weights = NULL;
        EVK_TRY(evk__sd_unet_file(sd, own_unet));
    } else if (!sd->unet_weights) {
        EVK_TRY(evk__sd_weights(sd, folder, single, "unet", &sd->unet_weights));
    }
    EVK_TRY(evk__sd_weights(sd, folder, single, "text_encoder", &sd->text_weights));
    if (single) {
        if (!own_unet) {
            if (!evk_sd_is_single_file(sd->unet_weights))
                return evk_fail(EVK_ERROR_FORMAT, "%s: no UNet under \"model.diffusion_model.\": not a single-file Stable Diffusion checkpoint",
                                single);
            EVK_TRY(evk_sd_keys_unet(&sd->unet_cfg, &sd->unet_keys));
            evk_weights_use_sd_keys(sd->unet_weights, &sd->unet_keys);
        }
        EVK_TRY(evk_sd_keys_text(sd->text_weights, &sd->text_keys));
        evk_weights_use_sd_keys(sd->text_weights, &sd->text_keys);
    }
    /* GGUF files with quantised tensors: the UNet's weights as stored, quantised linear weights
     * kept quantised in device memory (nn.h) */
    evk_dtype ust = evk__sd_has_quant(sd->unet_weights) ? EVK_DTYPE_QUANT : st;
    evk_status ls = evk_unet_load(sd->ctx, &sd->unet_cfg, sd->unet_weights, ust, &sd->unet);
    if (ls && own_unet) return evk_fail_context(ls, "%s (--diffusion-model)", own_unet);
    if (ls && builtin)
        return evk_fail_context(ls, "%s read with the built-in SD %d.x configs (give --config with a folder of its family if it "
                                    "has other shapes)", single, sd->text_cfg.hidden_size == 768 ? 1 : 2);
    if (ls) return ls;
    EVK_TRY(evk_clip_text_load(sd->ctx, &sd->text_cfg, sd->text_weights, st, &sd->text));
    sd->factor = 1;
    if (latent) {
        EVK_TRY(evk__sd_weights(sd, folder, single, "vae", &sd->vae_weights));
        if (single) {
            EVK_TRY(evk_sd_keys_vae(&sd->vae_cfg, &sd->vae_keys));
            evk_weights_use_sd_keys(sd->vae_weights, &sd->vae_keys);
        }
        EVK_TRY(evk_vae_decoder_load(sd->ctx, &sd->vae_cfg, sd->vae_weights, st, &sd->vae));
        sd->factor = (uint32_t)evk_vae_decoder_upscale(sd->vae);
        if (opt && opt->vae_tile) {
            evk_vae_decode_options vo = {.tile_latent = opt->vae_tile};
            evk_vae_decoder_set_options(sd->vae, &vo);
        }
        if (sd->vae_cfg.latent_channels != sd->unet_cfg.in_channels)
            return evk_fail(EVK_ERROR_FORMAT, "%s: the VAE has %d latent channels but the UNet takes %d", folder,
                            sd->vae_cfg.latent_channels, sd->unet_cfg.in_channels);
    }
    uint32_t multiple = sd->factor << evk_unet_downsamplings(sd->unet);
    uint32_t native = (uint32_t)(sd->unet_cfg.sample_size > 0 ? sd->unet_cfg.sample_size : 64) * sd->factor;
    sd->width = opt && opt->width ? opt->width : native;
    sd->height = opt && opt->height ? opt->height : native;
    if (sd->width % multiple || sd->height % multiple)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "image size %ux%u: width and height must be multiples of %u for this model",
                        sd->width, sd->height, multiple);
    evk_model_info info = {
        .family = "sd",
        .schedule = EVK_SCHEDULE_VP,
        .prediction = sd->sched.prediction_type,
        .sample_ndim = 3,
        .sample_shape = {sd->unet_cfg.in_channels, sd->height / sd->factor, sd->width / sd->factor},
        .conditional = true,
        .image_width = sd->width,
        .image_height = sd->height,
    };
    /* a forward's activations, roughly: the widest level's channels × pixels × a few tensors */
    info.scratch_per_item = (uint64_t)16 * 4 * sd->unet_cfg.block_out_channels[0] * (sd->width / sd->factor) *
                            (sd->height / sd->factor);
    sd->info = info;
    return EVK_OK;
}

evk_status evk_sd_load(evk_context *ctx, const char *folder, const evk_model_options *options, evk_sd **out) {
    *out = NULL;
    evk_sd *sd = calloc(1, sizeof *sd);
    if (!sd) return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    sd->ctx = ctx;
    snprintf(sd->folder, sizeof sd->folder, "%s", folder);
    evk_status s = evk__sd_load(sd, folder, options);
    if (s) {
        evk__sd_free(sd);
        return s;
    }
    evk_model_ops ops = {.forward = evk__sd_forward, .forward_guided = evk__sd_forward_guided, .decode = evk__sd_decode,
                         .encode_prompt = evk__sd_encode, .sampler_config = evk__sd_default_sampler, .destroy = evk__sd_free,
                         .decoded_ndim = 3, .decoded_shape = {3, sd->height, sd->width}};
    evk_model *m;
    s = evk_model_create(ctx, &ops, &sd->info, sd, &m); /* on failure sd is freed already */
    if (s) return s;
    sd->model = m;
    *out = sd;
    return EVK_OK;
}

/* A diffusers pipeline folder, or a safetensors file holding a UNet under the original
 * "model.diffusion_model." names (the header alone is read: the file is mapped, not loaded). */
bool evk_sd_probe(const char *path) {
    struct stat sb;
    if (stat(path, &sb) != 0) return false;
    if (S_ISDIR(sb.st_mode)) {
        char index[700];
        snprintf(index, sizeof index, "%s/model_index.json", path);
        if (stat(index, &sb) != 0 || !S_ISREG(sb.st_mode)) return false;
        /* a video pipeline's 3-D UNet belongs to the modelscope family */
        evk_model_index mi;
        if (evk_model_index_load(index, &mi) != EVK_OK) return true; /* the loader reports what is wrong */
        const char *unet = evk_model_index_class(&mi, "unet");
        return !(unet && !strcmp(unet, "UNet3DConditionModel")) && strcmp(mi.class_name, "TextToVideoSDPipeline") != 0;
    }
    evk_safetensors *st;
    if (!S_ISREG(sb.st_mode) || evk_safetensors_open(path, &st) != EVK_OK) return false;
    bool unet = false, video = false;
    for (size_t i = 0; i < evk_safetensors_count(st) && !video; i++) {
        const char *n = evk_safetensors_at(st, i)->name;
        if (strncmp(n, "model.diffusion_model.", 22)) continue;
        unet = true;
        video = strstr(n, ".temopral_conv.") || !strncmp(n + 22, "init_attn.", 10); /* a video UNet (vc2 family) */
    }
    evk_safetensors_close(st);
    return unet && !video;
}

evk_status evk_sd_model_load(evk_context *ctx, const char *path, const evk_model_options *options, evk_model **out) {
    *out = NULL;
    evk_sd *sd;
    EVK_TRY(evk_sd_load(ctx, path, options, &sd));
    *out = sd->model; /* owns sd */
    return EVK_OK;
}

evk_model *evk_sd_model(evk_sd *sd) { return sd->model; }

evk_status evk_sd_encode_prompt(evk_sd *sd, const char *prompt, evk_tensor *out, bool *truncated) {
    return evk_sd_encode_text(sd->ctx, sd->tok, sd->text, prompt, out, truncated);
}

evk_status evk_sd_sampler_config(const evk_sd *sd, evk_sampler_kind kind, uint32_t steps, double eta, evk_sampler_config *out) {
    return evk_sd_scheduler_sampler(&sd->sched, sd->folder, evk_model_get_info(sd->model)->prediction, kind, steps, eta, out);
}
