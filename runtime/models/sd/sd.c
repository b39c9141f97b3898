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
    evk_sd_pipe pipe; /* first: the model's impl */
    evk_unet_config unet_cfg;
    evk_sd_keys unet_keys, text_keys, vae_keys; /* single-file name maps (must outlive the weight sets) */
    evk_unet *unet;
};

/* ---- the model family ---------------------------------------------------------------------- */

/* Searches hand over flat rows [B, C·H·W]: the UNet sees them as images. */
static evk_status evk__sd_net(evk_sd_pipe *p, evk_stream *s, const evk_tensor *x, const evk_tensor *t, const evk_tensor *cond, float w,
                              const float *w_items, const evk_tensor *out) {
    (void)w, (void)w_items;
    const int64_t *ss = p->info.sample_shape;
    int64_t shape[4] = {x->shape[0], ss[0], ss[1], ss[2]};
    evk_tensor x4, o4;
    EVK_TRY(evk_tensor_reshape(x, 4, shape, &x4));
    EVK_TRY(evk_tensor_reshape(out, 4, shape, &o4));
    return evk_unet_forward(((evk_sd *)p)->unet, s, &x4, t, cond, &o4);
}

/* Samples to [0, 1] images: latent models through the VAE decoder (which unscales the latents),
 * pixel models directly; then diffusers' postprocess (x / 2 + 0.5, clamped). */
static evk_status evk__sd_decode(void *impl, evk_stream *s, const evk_tensor *x0, const evk_tensor *out) {
    evk_sd_pipe *p = impl;
    if (!p->vae) return evk_op_affine_clamp(s, x0, 0.5f, 0.5f, 0.0f, 1.0f, out);
    const int64_t *ss = p->info.sample_shape;
    int64_t B = x0->shape[0];
    evk_tensor lat, img;
    EVK_TRY(evk_tensor_reshape(x0, 4, (int64_t[]){B, ss[0], ss[1], ss[2]}, &lat));
    EVK_TRY(evk_tensor_alloc(p->ctx, EVK_DTYPE_F32, 4, (int64_t[]){B, 3, p->height, p->width}, &img));
    evk_status st = evk_vae_decode(p->vae, s, &lat, &img);
    if (!st) st = evk_op_affine_clamp(s, &img, 0.5f, 0.5f, 0.0f, 1.0f, out);
    evk_tensor_free(p->ctx, &img); /* reuse inside the stream is ordered by its barriers */
    return st;
}

/* The scheduler config's DDIM with η = 1 (what searches need; deterministic runs set η = 0). */
static evk_status evk__sd_default_sampler(void *impl, uint32_t steps, evk_sampler_config *out) {
    return evk_sd_pipe_sampler(impl, EVK_SAMPLER_DDIM, steps, 1.0, out);
}

static void evk__sd_destroy_unet(evk_sd_pipe *p) { evk_unet_destroy(((evk_sd *)p)->unet); }

/* ---- loading ---------------------------------------------------------------------------------- */

void evk_sd_destroy(evk_sd *sd) {
    if (!sd) return;
    if (sd->pipe.model) evk_model_destroy(sd->pipe.model); /* frees sd through evk_sd_pipe_free */
    else evk_sd_pipe_free(&sd->pipe);
}

/* A --diffusion-model file under the original names (input_blocks / middle_block /
 * output_blocks, as stable-diffusion.cpp and ComfyUI-GGUF files store them): read through the
 * single-file name map. */
static evk_status evk__sd_original_names(void *user, evk_weights *ws, bool prefixed) {
    evk_sd *sd = user;
    EVK_TRY(evk_sd_keys_unet(&sd->unet_cfg, &sd->unet_keys));
    if (!prefixed) sd->unet_keys.unet_prefix[0] = sd->unet_keys.scope[0] = 0;
    evk_weights_use_sd_keys(ws, &sd->unet_keys);
    return EVK_OK;
}

static evk_status evk__sd_unet_config(evk_sd_pipe *p, const char *path) {
    return evk_unet_config_load(path, &((evk_sd *)p)->unet_cfg);
}

static evk_status evk__sd_load(evk_sd_pipe *p, const char *path_in, const evk_model_options *opt, evk_model_ops *ops) {
    evk_sd *sd = (evk_sd *)p;
    p->net = evk__sd_net;
    p->destroy_unet = evk__sd_destroy_unet;
    const char *single = evk_sd_is_dir(path_in) ? NULL : path_in;
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
        EVK_TRY(evk_weights_open(p->ctx, single, &p->unet_weights));
        if (!evk_sd_is_single_file(p->unet_weights))
            return evk_fail(EVK_ERROR_FORMAT, "%s: no UNet under \"model.diffusion_model.\": not a single-file Stable Diffusion checkpoint",
                            single);
        evk_sd_version version;
        EVK_TRY(evk_sd_detect_version(p->unet_weights, single, &version));
        evk_sd_builtin b;
        EVK_TRY(evk_sd_builtin_configs(version, &b));
        sd->unet_cfg = b.unet;
        p->text_cfg = b.text;
        p->vae_cfg = b.vae;
        p->sched = b.scheduler;
        EVK_TRY(evk_tokenizer_load_builtin(&b.tokenizer, &p->tok));
        latent = true;
    } else {
        EVK_TRY(evk_sd_pipe_read_folder(p, folder, evk__sd_unet_config, false, &latent));
    }
    EVK_TRY(evk_sd_pipe_check(p, folder, sd->unet_cfg.cross_attention_dim[0], sd->unet_cfg.in_channels, latent));
    evk_dtype st = opt && opt->storage == EVK_DTYPE_F16 ? EVK_DTYPE_F16 : EVK_DTYPE_F32;
    const char *own_unet = opt && opt->diffusion_model && *opt->diffusion_model ? opt->diffusion_model : NULL;
    if (own_unet) {
        evk_weights_close(p->unet_weights); /* a single file's own UNet (read for its version) is not used */
        p->unet_weights = NULL;
        EVK_TRY(evk_sd_pipe_open_unet_file(p, own_unet, evk__sd_original_names, sd));
    } else if (!p->unet_weights) {
        EVK_TRY(evk_sd_pipe_open(p, single, "unet", &p->unet_weights));
    }
    EVK_TRY(evk_sd_pipe_open(p, single, "text_encoder", &p->text_weights));
    if (single) {
        if (!own_unet) {
            if (!evk_sd_is_single_file(p->unet_weights))
                return evk_fail(EVK_ERROR_FORMAT, "%s: no UNet under \"model.diffusion_model.\": not a single-file Stable Diffusion checkpoint",
                                single);
            EVK_TRY(evk_sd_keys_unet(&sd->unet_cfg, &sd->unet_keys));
            evk_weights_use_sd_keys(p->unet_weights, &sd->unet_keys);
        }
        EVK_TRY(evk_sd_keys_text(p->text_weights, &sd->text_keys));
        evk_weights_use_sd_keys(p->text_weights, &sd->text_keys);
    }
    evk_status ls = evk_unet_load(p->ctx, &sd->unet_cfg, p->unet_weights, evk_weights_storage(p->unet_weights, st), &sd->unet);
    if (ls && own_unet) return evk_fail_context(ls, "%s (--diffusion-model)", own_unet);
    if (ls && builtin)
        return evk_fail_context(ls, "%s read with the built-in SD %d.x configs (give --config with a folder of its family if it "
                                    "has other shapes)", single, p->text_cfg.hidden_size == 768 ? 1 : 2);
    if (ls) return ls;
    p->factor = 1;
    if (latent) {
        EVK_TRY(evk_sd_pipe_open(p, single, "vae", &p->vae_weights));
        if (single) {
            EVK_TRY(evk_sd_keys_vae(&p->vae_cfg, &sd->vae_keys));
            evk_weights_use_sd_keys(p->vae_weights, &sd->vae_keys);
        }
        EVK_TRY(evk_sd_pipe_load_vae(p, st, opt ? opt->vae_tile : 0));
    }
    /* the text encoder last: its weights then fill the newest blocks of the arena, which a
     * one-shot generation hands back whole once the prompts are encoded (release_prompt_encoder) */
    EVK_TRY(evk_clip_text_load(p->ctx, &p->text_cfg, p->text_weights, st, &p->text));
    int sample = sd->unet_cfg.sample_size > 0 ? sd->unet_cfg.sample_size : 64;
    EVK_TRY(evk_sd_pipe_size(p, opt, sample, evk_unet_downsamplings(sd->unet), "image"));
    evk_model_info info = {
        .family = "sd",
        .schedule = EVK_SCHEDULE_VP,
        .prediction = p->sched.prediction_type,
        .sample_ndim = 3,
        .sample_shape = {sd->unet_cfg.in_channels, p->height / p->factor, p->width / p->factor},
        .conditional = true,
        .image_width = p->width,
        .image_height = p->height,
    };
    /* a forward's activations, roughly: the widest level's channels × pixels × a few tensors */
    info.scratch_per_item = (uint64_t)16 * 4 * sd->unet_cfg.block_out_channels[0] * (p->width / p->factor) *
                            (p->height / p->factor);
    p->info = info;
    ops->decode = evk__sd_decode;
    ops->sampler_config = evk__sd_default_sampler;
    ops->decoded_ndim = 3;
    memcpy(ops->decoded_shape, (int64_t[]){3, p->height, p->width}, 3 * sizeof(int64_t));
    return EVK_OK;
}

evk_status evk_sd_load(evk_context *ctx, const char *folder, const evk_model_options *options, evk_sd **out) {
    return evk_sd_pipe_build(ctx, sizeof **out, folder, options, evk__sd_load, (evk_sd_pipe **)out);
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
    *out = sd->pipe.model; /* owns sd */
    return EVK_OK;
}

evk_model *evk_sd_model(evk_sd *sd) { return sd->pipe.model; }

evk_status evk_sd_encode_prompt(evk_sd *sd, const char *prompt, evk_tensor *out, bool *truncated) {
    return evk_sd_encode_text(sd->pipe.ctx, sd->pipe.tok, sd->pipe.text, prompt, out, truncated);
}

evk_status evk_sd_sampler_config(const evk_sd *sd, evk_sampler_kind kind, uint32_t steps, double eta, evk_sampler_config *out) {
    return evk_sd_pipe_sampler(&sd->pipe, kind, steps, eta, out);
}
