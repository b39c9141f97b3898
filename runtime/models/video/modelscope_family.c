/* modelscope_family.c — diffusers TextToVideoSDPipeline folders as evoke models (family
 * "modelscope"): component loading, the UNet3D forward (plain and guided), prompt encoding, the
 * chunked frame-by-frame VAE decode and the scheduler's sampler, built from the pieces the SD
 * family shares (models/sd/sd_parts.h). See modelscope.h. */
#include "models/video/modelscope.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "formats/tokenizer.h"
#include "models/clip/clip.h"
#include "models/sd/sd_parts.h"
#include "models/sd/vae.h"
#include "models/video/vc2_unet.h"
#include "ops/op_image.h"
#include "ops/op_layout.h"
#include "ops/op_reduce.h"

#define EVK__MS_DEFAULT_FRAMES 16

struct evk_ms {
    evk_context *ctx;
    char folder[512];
    evk_unet3d_config unet_cfg;
    evk_clip_text_config text_cfg;
    evk_scheduler_config sched;
    evk_vae_config vae_cfg;
    evk_weights *unet_weights, *text_weights, *vae_weights;
    evk_ms_unet *unet;
    evk_clip_text *text;
    evk_tokenizer *tok;
    evk_vae_decoder *vae;
    evk_model *model;
    evk_model_info info;
    uint32_t width, height, frames, factor, decode_chunk;
};

static bool evk__is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* ---- the model -------------------------------------------------------------------------------- */

/* The UNet on x and out (flat rows [B, 4·F·h·w] or [B, 4, F, h, w]) with cond [B, L, D] (one
 * per clip); a guidance-embedded UNet is told w through T2V-Turbo's w-embedding. */
static evk_status evk__ms_unet(evk_ms *ms, evk_stream *s, const evk_tensor *x, const evk_tensor *t, const evk_tensor *cond,
                               float guidance, const float *items, const evk_tensor *out) {
    const int64_t *ss = ms->info.sample_shape;
    int64_t B = x->shape[0], shape[5] = {B, ss[0], ss[1], ss[2], ss[3]};
    evk_tensor x5, o5;
    EVK_TRY(evk_tensor_reshape(x, 5, shape, &x5));
    EVK_TRY(evk_tensor_reshape(out, 5, shape, &o5));
    if (!ms->info.guidance_embedded) return evk_ms_unet_forward(ms->unet, s, &x5, t, cond, NULL, &o5);
    int P = ms->unet_cfg.time_cond_proj_dim;
    float *rows = malloc((size_t)(B * P) * sizeof *rows);
    if (!rows) return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    for (int64_t b = 0; b < B; b++) { /* w per item when given */
        if (items || !b) evk_vc2_w_embedding(items ? items[b] : guidance, P, rows + b * P);
        else memcpy(rows + b * P, rows, (size_t)P * sizeof *rows);
    }
    evk_tensor w;
    evk_status st = evk_tensor_alloc(ms->ctx, EVK_DTYPE_F32, 2, (int64_t[]){B, P}, &w);
    if (!st) st = evk_stream_update(s, &w.buf, 0, rows, (uint64_t)(B * P) * 4);
    free(rows);
    if (!st) st = evk_ms_unet_forward(ms->unet, s, &x5, t, cond, &w, &o5);
    if (w.buf.block) evk_tensor_free(ms->ctx, &w); /* reuse inside the stream is ordered by its barriers */
    return st;
}

static evk_status evk__ms_net(void *user, evk_stream *s, const evk_tensor *x, const evk_tensor *t, const evk_tensor *cond,
                              const evk_tensor *out) {
    return evk__ms_unet(user, s, x, t, cond, 0, NULL, out);
}

static evk_status evk__ms_forward(void *impl, evk_stream *s, const evk_model_input *in, const evk_tensor *out) {
    evk_ms *ms = impl;
    const evk_tensor *cond = in->cond;
    EVK_TRY(evk_sd_check_cond(cond, "modelscope", "cond"));
    int64_t B = in->x->shape[0], L = cond->shape[1], D = cond->shape[2];
    if (cond->shape[0] == B) return evk__ms_unet(ms, s, in->x, in->timestep, cond, in->guidance, in->guidance_items, out);
    evk_tensor ctx;
    EVK_TRY(evk_tensor_alloc(ms->ctx, EVK_DTYPE_F32, 3, (int64_t[]){B, L, D}, &ctx));
    evk_status st = evk_sd_broadcast_rows(ms->ctx, s, cond, B, &ctx);
    if (!st) st = evk__ms_unet(ms, s, in->x, in->timestep, &ctx, in->guidance, in->guidance_items, out);
    evk_tensor_free(ms->ctx, &ctx);
    return st;
}

static evk_status evk__ms_forward_guided(void *impl, evk_stream *s, const evk_model_input *in, const evk_tensor *uncond, float w,
                                         const evk_tensor *out) {
    evk_ms *ms = impl;
    return evk_sd_forward_guided(ms->ctx, s, in, uncond, w, ms->info.sample_ndim, ms->info.sample_shape, "modelscope",
                                 evk__ms_net, ms, out);
}

/* Clips of latents [B, 4, F, h, w] to videos [B, F, 3, H, W] in [0, 1]: the frames move into the
 * batch ([B·F, 4, h, w], as TextToVideoSDPipeline.decode_latents reshapes them), the VAE decodes
 * them `decode_chunk` frames per call, then (x / 2 + 0.5) clamped, as the video processor does. */
static evk_status evk__ms_decode(void *impl, evk_stream *s, const evk_tensor *x0, const evk_tensor *out) {
    evk_ms *ms = impl;
    int64_t B = x0->shape[0], C = ms->info.sample_shape[0], F = ms->frames, h = ms->info.sample_shape[2],
            w = ms->info.sample_shape[3], N = B * F;
    evk_tensor lat = {0}, img = {0}, rows_in, rows_out;
    evk_status st = evk_tensor_alloc(ms->ctx, EVK_DTYPE_F32, 4, (int64_t[]){N, C, h, w}, &lat);
    /* [B, C, F, h·w] -> [B, F, h·w, C]... as two transposes: [B, F·h·w, C], then [B·F, C, h·w] */
    evk_tensor tmp = {0};
    if (!st) st = evk_tensor_alloc(ms->ctx, EVK_DTYPE_F32, 3, (int64_t[]){B, F * h * w, C}, &tmp);
    if (!st) st = evk_op_transpose(s, x0, B, C, F * h * w, &tmp);
    if (!st) st = evk_op_transpose(s, &tmp, N, h * w, C, &lat);
    if (tmp.buf.block) evk_tensor_free(ms->ctx, &tmp);
    if (!st) st = evk_tensor_alloc(ms->ctx, EVK_DTYPE_F32, 4, (int64_t[]){N, 3, ms->height, ms->width}, &img);
    int64_t chunk = ms->decode_chunk ? ms->decode_chunk : 1;
    for (int64_t f0 = 0; f0 < N && !st; f0 += chunk) {
        int64_t n = N - f0 < chunk ? N - f0 : chunk;
        st = evk_tensor_rows(&lat, f0, n, &rows_in);
        if (!st) st = evk_tensor_rows(&img, f0, n, &rows_out);
        if (!st) st = evk_vae_decode(ms->vae, s, &rows_in, &rows_out);
    }
    if (!st) st = evk_op_affine_clamp(s, &img, 0.5f, 0.5f, 0.0f, 1.0f, out);
    if (lat.buf.block) evk_tensor_free(ms->ctx, &lat); /* reuse inside the stream is ordered by its barriers */
    if (img.buf.block) evk_tensor_free(ms->ctx, &img);
    return st;
}

static evk_status evk__ms_encode(void *impl, const char *prompt, evk_tensor *out, bool *truncated) {
    evk_ms *ms = impl;
    return evk_sd_encode_text(ms->ctx, ms->tok, ms->text, prompt, out, truncated);
}

/* The scheduler config's DDIM with η = 1 (what searches need; deterministic runs set η = 0); a
 * T2V-Turbo student: its LCM multistep sampler over the same β schedule (50 origin steps unless
 * the scheduler config says original_inference_steps). */
static evk_status evk__ms_default_sampler(void *impl, uint32_t steps, evk_sampler_config *out) {
    evk_ms *ms = impl;
    bool lcm = ms->info.guidance_embedded;
    EVK_TRY(evk_sd_scheduler_sampler(&ms->sched, ms->folder, ms->info.prediction, lcm ? EVK_SAMPLER_LCM : EVK_SAMPLER_DDIM, steps,
                                     1.0, out));
    if (lcm && !out->lcm_origin_steps) out->lcm_origin_steps = 50;
    return EVK_OK;
}

static void evk__ms_free(void *impl) {
    evk_ms *ms = impl;
    evk_ms_unet_destroy(ms->unet);
    evk_vae_decoder_destroy(ms->vae);
    evk_clip_text_destroy(ms->text);
    evk_weights_close(ms->unet_weights);
    evk_weights_close(ms->text_weights);
    evk_weights_close(ms->vae_weights);
    evk_tokenizer_destroy(ms->tok);
    free(ms);
}

/* ---- loading ---------------------------------------------------------------------------------- */

/* Frames per VAE call: decoder activations per frame are, roughly, the widest decoder level at
 * full size a few times over; as many frames as fit EVK_MS_DECODE_BUDGET. */
static uint32_t evk__ms_auto_chunk(const evk_ms *ms) {
    int widest = 0;
    for (int i = 0; i < ms->vae_cfg.num_blocks; i++)
        if (ms->vae_cfg.block_out_channels[i] > widest) widest = ms->vae_cfg.block_out_channels[i];
    uint64_t per_frame = (uint64_t)4 * 4 * (uint64_t)(widest > 0 ? widest : 1) * ms->width * ms->height;
    uint64_t chunk = EVK_MS_DECODE_BUDGET / per_frame;
    return (uint32_t)(chunk < 1 ? 1 : chunk > 1024 ? 1024 : chunk);
}

static evk_status evk__ms_load(evk_ms *ms, const char *folder, const evk_model_options *opt) {
    char path[700];
    if (!evk__is_dir(folder))
        return evk_fail(EVK_ERROR_FORMAT, "%s: a ModelScope text-to-video model is a diffusers folder (model_index.json, unet/, ...)",
                        folder);
    evk_model_index mi;
    snprintf(path, sizeof path, "%s/model_index.json", folder);
    EVK_TRY(evk_model_index_load(path, &mi));
    snprintf(path, sizeof path, "%s/unet/config.json", folder);
    EVK_TRY(evk_unet3d_config_load(path, &ms->unet_cfg));
    snprintf(path, sizeof path, "%s/text_encoder/config.json", folder);
    EVK_TRY(evk_clip_text_config_load(path, &ms->text_cfg));
    snprintf(path, sizeof path, "%s/scheduler/scheduler_config.json", folder);
    EVK_TRY(evk_scheduler_config_load(path, &ms->sched));
    snprintf(path, sizeof path, "%s/tokenizer", folder);
    EVK_TRY(evk_tokenizer_load(path, &ms->tok));
    snprintf(path, sizeof path, "%s/vae/config.json", folder);
    EVK_TRY(evk_vae_config_load(path, &ms->vae_cfg));
    if (ms->unet_cfg.cross_attention_dim != ms->text_cfg.hidden_size)
        return evk_fail(EVK_ERROR_FORMAT, "%s: the UNet attends to %d-wide text states but the text encoder makes %d", folder,
                        ms->unet_cfg.cross_attention_dim, ms->text_cfg.hidden_size);
    if (ms->vae_cfg.latent_channels != ms->unet_cfg.in_channels)
        return evk_fail(EVK_ERROR_FORMAT, "%s: the VAE has %d latent channels but the UNet takes %d", folder,
                        ms->vae_cfg.latent_channels, ms->unet_cfg.in_channels);
    evk_dtype st = opt->storage == EVK_DTYPE_F16 ? EVK_DTYPE_F16 : EVK_DTYPE_F32;
    if (opt->diffusion_model) {
        EVK_TRY(evk_weights_open(ms->ctx, opt->diffusion_model, &ms->unet_weights));
    } else {
        snprintf(path, sizeof path, "%s/unet", folder);
        EVK_TRY(evk_weights_open(ms->ctx, path, &ms->unet_weights));
    }
    /* T2V-Turbo's ModelScope student: time_cond_proj exists when the weights hold its tensor (a
     * merged UNet given with --diffusion-model over the teacher's folder says so only there) */
    const char *cp = "time_embedding.cond_proj.weight";
    int nd = 0;
    int64_t cps[EVK_ST_MAX_DIMS];
    if (!ms->unet_cfg.time_cond_proj_dim && evk_weights_has(ms->unet_weights, cp) &&
        !evk_weights_shape(ms->unet_weights, cp, &nd, cps) && nd == 2 && cps[1] > 0 && cps[1] <= 1 << 16)
        ms->unet_cfg.time_cond_proj_dim = (int)cps[1];
    EVK_TRY(evk_ms_unet_load(ms->ctx, &ms->unet_cfg, ms->unet_weights, st, &ms->unet));
    snprintf(path, sizeof path, "%s/text_encoder", folder);
    EVK_TRY(evk_weights_open(ms->ctx, path, &ms->text_weights));
    EVK_TRY(evk_clip_text_load(ms->ctx, &ms->text_cfg, ms->text_weights, st, &ms->text));
    snprintf(path, sizeof path, "%s/vae", folder);
    EVK_TRY(evk_weights_open(ms->ctx, path, &ms->vae_weights));
    EVK_TRY(evk_vae_decoder_load(ms->ctx, &ms->vae_cfg, ms->vae_weights, st, &ms->vae));
    if (opt->vae_tile) {
        evk_vae_decode_options vo = {.tile_latent = opt->vae_tile};
        evk_vae_decoder_set_options(ms->vae, &vo);
    }
    ms->factor = (uint32_t)evk_vae_decoder_upscale(ms->vae);
    uint32_t multiple = ms->factor << evk_ms_unet_downsamplings(ms->unet);
    uint32_t native = (uint32_t)(ms->unet_cfg.sample_size > 0 ? ms->unet_cfg.sample_size : 32) * ms->factor;
    ms->width = opt->width ? opt->width : native;
    ms->height = opt->height ? opt->height : native;
    ms->frames = opt->frames ? opt->frames : EVK__MS_DEFAULT_FRAMES;
    if (ms->width % multiple || ms->height % multiple)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "video size %ux%u: width and height must be multiples of %u for this model",
                        ms->width, ms->height, multiple);
    if (ms->frames > 1024) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "%u frames: at most 1024", ms->frames);
    if (opt->fps) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "--fps: ModelScope text-to-video is not conditioned on a frame rate");
    uint32_t h = ms->height / ms->factor, w = ms->width / ms->factor;
    evk_model_info info = {
        .family = "modelscope",
        .schedule = EVK_SCHEDULE_VP,
        .prediction = ms->sched.prediction_type,
        .sample_ndim = 4,
        .sample_shape = {ms->unet_cfg.in_channels, ms->frames, h, w},
        .conditional = true,
        .image_width = ms->width,
        .image_height = ms->height,
        .frames = ms->frames,
        .guidance_embedded = ms->unet_cfg.time_cond_proj_dim > 0,
    };
    /* a forward's activations, roughly: the widest level's channels × pixels × frames × a few tensors */
    info.scratch_per_item = (uint64_t)24 * 4 * ms->unet_cfg.block_out_channels[0] * h * w * ms->frames;
    ms->info = info;
    ms->decode_chunk = evk__ms_auto_chunk(ms);
    return EVK_OK;
}

evk_status evk_modelscope_model_load(evk_context *ctx, const char *path, const evk_model_options *options, evk_model **out) {
    *out = NULL;
    const evk_model_options none = {0};
    if (!options) options = &none;
    evk_ms *ms = calloc(1, sizeof *ms);
    if (!ms) return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    ms->ctx = ctx;
    snprintf(ms->folder, sizeof ms->folder, "%s", path);
    evk_status s = evk__ms_load(ms, path, options);
    if (s) {
        evk__ms_free(ms);
        return s;
    }
    evk_model_ops ops = {.forward = evk__ms_forward, .forward_guided = evk__ms_forward_guided, .decode = evk__ms_decode,
                         .encode_prompt = evk__ms_encode, .sampler_config = evk__ms_default_sampler, .destroy = evk__ms_free,
                         .decoded_ndim = 4, .decoded_shape = {ms->frames, 3, ms->height, ms->width}};
    evk_model *m;
    EVK_TRY(evk_model_create(ctx, &ops, &ms->info, ms, &m)); /* on failure ms is freed already */
    ms->model = m;
    *out = m;
    return EVK_OK;
}

void evk_modelscope_set_decode_chunk(evk_model *m, uint32_t frames) {
    evk_ms *ms = evk_model_impl(m);
    ms->decode_chunk = frames ? frames : evk__ms_auto_chunk(ms);
}

/* A diffusers folder whose pipeline is TextToVideoSDPipeline or whose UNet is a UNet3DConditionModel. */
bool evk_modelscope_probe(const char *path) {
    if (!evk__is_dir(path)) return false;
    char index[700];
    snprintf(index, sizeof index, "%s/model_index.json", path);
    evk_model_index mi;
    if (evk_model_index_load(index, &mi) != EVK_OK) return false;
    const char *unet = evk_model_index_class(&mi, "unet");
    return !strcmp(mi.class_name, "TextToVideoSDPipeline") || (unet && !strcmp(unet, "UNet3DConditionModel"));
}
