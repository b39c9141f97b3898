/* modelscope_family.c — diffusers TextToVideoSDPipeline folders as evoke models (family
 * "modelscope"): component loading, the UNet3D forward (plain and guided), prompt encoding, the
 * chunked frame-by-frame VAE decode and the scheduler's sampler, built from the pieces the SD
 * family shares (models/sd/sd_parts.h). See modelscope.h. */
#include "models/video/modelscope.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/tokenizer.h"
#include "models/clip/clip.h"
#include "models/sd/sd_parts.h"
#include "models/sd/vae.h"
#include "models/video/lora_list.h"
#include "models/video/vc2_unet.h"
#include "ops/op_image.h"
#include "ops/op_layout.h"
#include "ops/op_reduce.h"

#define EVK__MS_DEFAULT_FRAMES 16

struct evk_ms {
    evk_sd_pipe pipe; /* first: the model's impl */
    evk_unet3d_config unet_cfg;
    evk_ms_unet *unet;
    uint32_t frames, decode_chunk;
};

/* ---- the model -------------------------------------------------------------------------------- */

/* The UNet on x and out (flat rows [B, 4·F·h·w] or [B, 4, F, h, w]) with cond [B, L, D] (one
 * per clip); a guidance-embedded UNet is told w through T2V-Turbo's w-embedding. */
static evk_status evk__ms_net(evk_sd_pipe *p, evk_stream *s, const evk_tensor *x, const evk_tensor *t, const evk_tensor *cond,
                              float guidance, const float *items, const evk_tensor *out) {
    evk_ms *ms = (evk_ms *)p;
    const int64_t *ss = p->info.sample_shape;
    int64_t B = x->shape[0], shape[5] = {B, ss[0], ss[1], ss[2], ss[3]};
    evk_tensor x5, o5;
    EVK_TRY(evk_tensor_reshape(x, 5, shape, &x5));
    EVK_TRY(evk_tensor_reshape(out, 5, shape, &o5));
    if (!p->info.guidance_embedded) return evk_ms_unet_forward(ms->unet, s, &x5, t, cond, NULL, &o5);
    int P = ms->unet_cfg.time_cond_proj_dim;
    float *rows = malloc((size_t)(B * P) * sizeof *rows);
    if (!rows) return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    for (int64_t b = 0; b < B; b++) { /* w per item when given */
        if (items || !b) evk_vc2_w_embedding(items ? items[b] : guidance, P, rows + b * P);
        else memcpy(rows + b * P, rows, (size_t)P * sizeof *rows);
    }
    evk_tensor w;
    evk_status st = evk_tensor_alloc(p->ctx, EVK_DTYPE_F32, 2, (int64_t[]){B, P}, &w);
    if (!st) st = evk_stream_update(s, &w.buf, 0, rows, (uint64_t)(B * P) * 4);
    free(rows);
    if (!st) st = evk_ms_unet_forward(ms->unet, s, &x5, t, cond, &w, &o5);
    if (w.buf.block) evk_tensor_free(p->ctx, &w); /* reuse inside the stream is ordered by its barriers */
    return st;
}

/* Clips of latents [B, 4, F, h, w] to videos [B, F, 3, H, W] in [0, 1]: the frames move into the
 * batch ([B·F, 4, h, w], as TextToVideoSDPipeline.decode_latents reshapes them), the VAE decodes
 * them `decode_chunk` frames per call, then (x / 2 + 0.5) clamped, as the video processor does. */
static evk_status evk__ms_decode(void *impl, evk_stream *s, const evk_tensor *x0, const evk_tensor *out) {
    evk_ms *ms = impl;
    int64_t B = x0->shape[0], C = ms->pipe.info.sample_shape[0], F = ms->frames, h = ms->pipe.info.sample_shape[2],
            w = ms->pipe.info.sample_shape[3], N = B * F;
    evk_tensor lat = {0}, img = {0}, rows_in, rows_out;
    evk_status st = evk_tensor_alloc(ms->pipe.ctx, EVK_DTYPE_F32, 4, (int64_t[]){N, C, h, w}, &lat);
    /* [B, C, F, h·w] -> [B, F, h·w, C]... as two transposes: [B, F·h·w, C], then [B·F, C, h·w] */
    evk_tensor tmp = {0};
    if (!st) st = evk_tensor_alloc(ms->pipe.ctx, EVK_DTYPE_F32, 3, (int64_t[]){B, F * h * w, C}, &tmp);
    if (!st) st = evk_op_transpose(s, x0, B, C, F * h * w, &tmp);
    if (!st) st = evk_op_transpose(s, &tmp, N, h * w, C, &lat);
    if (tmp.buf.block) evk_tensor_free(ms->pipe.ctx, &tmp);
    if (!st) st = evk_tensor_alloc(ms->pipe.ctx, EVK_DTYPE_F32, 4, (int64_t[]){N, 3, ms->pipe.height, ms->pipe.width}, &img);
    int64_t chunk = ms->decode_chunk ? ms->decode_chunk : 1;
    for (int64_t f0 = 0; f0 < N && !st; f0 += chunk) {
        int64_t n = N - f0 < chunk ? N - f0 : chunk;
        st = evk_tensor_rows(&lat, f0, n, &rows_in);
        if (!st) st = evk_tensor_rows(&img, f0, n, &rows_out);
        if (!st) st = evk_vae_decode(ms->pipe.vae, s, &rows_in, &rows_out);
    }
    if (!st) st = evk_op_affine_clamp(s, &img, 0.5f, 0.5f, 0.0f, 1.0f, out);
    if (lat.buf.block) evk_tensor_free(ms->pipe.ctx, &lat); /* reuse inside the stream is ordered by its barriers */
    if (img.buf.block) evk_tensor_free(ms->pipe.ctx, &img);
    return st;
}

/* The scheduler config's DDIM with η = 1 (what searches need; deterministic runs set η = 0); a
 * T2V-Turbo student: its LCM multistep sampler over the same β schedule (50 origin steps unless
 * the scheduler config says original_inference_steps). */
static evk_status evk__ms_default_sampler(void *impl, uint32_t steps, evk_sampler_config *out) {
    evk_sd_pipe *p = impl;
    bool lcm = p->info.guidance_embedded;
    EVK_TRY(evk_sd_pipe_sampler(p, lcm ? EVK_SAMPLER_LCM : EVK_SAMPLER_DDIM, steps, 1.0, out));
    if (lcm && !out->lcm_origin_steps) out->lcm_origin_steps = 50;
    return EVK_OK;
}

static void evk__ms_destroy_unet(evk_sd_pipe *p) { evk_ms_unet_destroy(((evk_ms *)p)->unet); }

/* ---- loading ---------------------------------------------------------------------------------- */

/* Frames per VAE call: decoder activations per frame are, roughly, the widest decoder level at
 * full size a few times over; as many frames as fit EVK_MS_DECODE_BUDGET. */
static uint32_t evk__ms_auto_chunk(const evk_ms *ms) {
    int widest = 0;
    for (int i = 0; i < ms->pipe.vae_cfg.num_blocks; i++)
        if (ms->pipe.vae_cfg.block_out_channels[i] > widest) widest = ms->pipe.vae_cfg.block_out_channels[i];
    uint64_t per_frame = (uint64_t)4 * 4 * (uint64_t)(widest > 0 ? widest : 1) * ms->pipe.width * ms->pipe.height;
    uint64_t chunk = EVK_MS_DECODE_BUDGET / per_frame;
    return (uint32_t)(chunk < 1 ? 1 : chunk > 1024 ? 1024 : chunk);
}

static evk_status evk__ms_unet_config(evk_sd_pipe *p, const char *path) {
    return evk_unet3d_config_load(path, &((evk_ms *)p)->unet_cfg);
}

/* T2V-Turbo v1's LoRA list (lora_list.h) over diffusers' UNet3DConditionModel: the attribute names
 * of its modules in registration order (UNet3DConditionModel registers up_blocks before
 * mid_block; TimestepEmbedding, Transformer2D/TransformerTemporalModel, BasicTransformerBlock,
 * Attention, FeedForward/GEGLU, the 3-D blocks, ResnetBlock2D, TemporalConvLayer, Down/Upsample2D).
 * T2V-Turbo's app_ms.py injects into every Linear/Conv2d/Conv3d below "UNet3DConditionModel". */
static const char *const evk__ms_module_order[] = {
    "conv_in", "time_embedding", "linear_1", "cond_proj", "linear_2", "transformer_in", "down_blocks", "up_blocks", "mid_block",
    "conv_out", "proj_in", "transformer_blocks", "proj_out", "attn1", "attn2", "ff", "to_q", "to_k", "to_v", "to_out", "net",
    "proj", "resnets", "temp_convs", "attentions", "temp_attentions", "downsamplers", "upsamplers", "conv1", "time_emb_proj",
    "conv2", "conv3", "conv4", "conv_shortcut", "conv",
};
static const evk_lora_layout evk__ms_lora_layout = {"diffusers' UNet3DConditionModel", evk__ms_module_order,
                                                    sizeof evk__ms_module_order / sizeof *evk__ms_module_order,
                                                    "time_embedding.cond_proj", "a merged T2V-Turbo (MS) UNet"};

/* The UNet's weights: the folder's unet/, or --diffusion-model's file; T2V-Turbo v1's LoRA list
 * (--lora, or a list given as --diffusion-model, then over the folder's UNet) merged over them. */
static evk_status evk__ms_open_unet(evk_sd_pipe *p, const char *folder, const evk_model_options *opt) {
    const char *upath = opt->diffusion_model, *lpath = opt->lora;
    bool list = false;
    if (upath) EVK_TRY(evk_lora_list_file_is(upath, &list));
    if (list) {
        if (lpath) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "%s (--diffusion-model) is a LoRA list, and --lora gives another", upath);
        lpath = upath, upath = NULL;
    }
    if (upath) EVK_TRY(evk_sd_pipe_open_unet_file(p, upath, NULL, NULL));
    else EVK_TRY(evk_sd_pipe_open(p, NULL, "unet", &p->unet_weights));
    if (!lpath) return EVK_OK;
    char own[700];
    snprintf(own, sizeof own, "%s/unet", folder);
    return evk_lora_list_apply(p->unet_weights, upath ? upath : own, lpath, &evk__ms_lora_layout);
}

static evk_status evk__ms_load(evk_sd_pipe *p, const char *folder, const evk_model_options *opt, evk_model_ops *ops) {
    evk_ms *ms = (evk_ms *)p;
    p->net = evk__ms_net;
    p->destroy_unet = evk__ms_destroy_unet;
    if (!evk_sd_is_dir(folder))
        return evk_fail(EVK_ERROR_FORMAT, "%s: a ModelScope text-to-video model is a diffusers folder (model_index.json, unet/, ...)",
                        folder);
    bool latent;
    EVK_TRY(evk_sd_pipe_read_folder(p, folder, evk__ms_unet_config, true, &latent));
    EVK_TRY(evk_sd_pipe_check(p, folder, ms->unet_cfg.cross_attention_dim, ms->unet_cfg.in_channels, true));
    evk_dtype st = opt->storage == EVK_DTYPE_F16 ? EVK_DTYPE_F16 : EVK_DTYPE_F32;
    EVK_TRY(evk__ms_open_unet(p, folder, opt));
    /* T2V-Turbo's ModelScope student: time_cond_proj exists when the weights hold its tensor (a
     * merged UNet given with --diffusion-model over the teacher's folder says so only there) */
    const char *cp = "time_embedding.cond_proj.weight";
    int nd = 0;
    int64_t cps[EVK_ST_MAX_DIMS];
    if (!ms->unet_cfg.time_cond_proj_dim && evk_weights_has(p->unet_weights, cp) &&
        !evk_weights_shape(p->unet_weights, cp, &nd, cps) && nd == 2 && cps[1] > 0 && cps[1] <= 1 << 16)
        ms->unet_cfg.time_cond_proj_dim = (int)cps[1];
    EVK_TRY(evk_ms_unet_load(p->ctx, &ms->unet_cfg, p->unet_weights, evk_weights_storage(p->unet_weights, st), &ms->unet));
    EVK_TRY(evk_sd_pipe_open(p, NULL, "text_encoder", &p->text_weights));
    EVK_TRY(evk_clip_text_load(p->ctx, &p->text_cfg, p->text_weights, st, &p->text));
    EVK_TRY(evk_sd_pipe_open(p, NULL, "vae", &p->vae_weights));
    EVK_TRY(evk_sd_pipe_load_vae(p, st, opt->vae_tile));
    int sample = ms->unet_cfg.sample_size > 0 ? ms->unet_cfg.sample_size : 32;
    EVK_TRY(evk_sd_pipe_size(p, opt, sample, evk_ms_unet_downsamplings(ms->unet), "video"));
    ms->frames = opt->frames ? opt->frames : EVK__MS_DEFAULT_FRAMES;
    if (ms->frames > 1024) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "%u frames: at most 1024", ms->frames);
    if (opt->fps) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "--fps: ModelScope text-to-video is not conditioned on a frame rate");
    uint32_t h = p->height / p->factor, w = p->width / p->factor;
    evk_model_info info = {
        .family = "modelscope",
        .schedule = EVK_SCHEDULE_VP,
        .prediction = p->sched.prediction_type,
        .sample_ndim = 4,
        .sample_shape = {ms->unet_cfg.in_channels, ms->frames, h, w},
        .conditional = true,
        .image_width = p->width,
        .image_height = p->height,
        .frames = ms->frames,
        .guidance_embedded = ms->unet_cfg.time_cond_proj_dim > 0,
    };
    /* a forward's activations, roughly: the widest level's channels × pixels × frames × a few tensors */
    info.scratch_per_item = (uint64_t)24 * 4 * ms->unet_cfg.block_out_channels[0] * h * w * ms->frames;
    p->info = info;
    ms->decode_chunk = evk__ms_auto_chunk(ms);
    ops->decode = evk__ms_decode;
    ops->sampler_config = evk__ms_default_sampler;
    ops->decoded_ndim = 4;
    memcpy(ops->decoded_shape, (int64_t[]){ms->frames, 3, p->height, p->width}, 4 * sizeof(int64_t));
    return EVK_OK;
}

evk_status evk_modelscope_model_load(evk_context *ctx, const char *path, const evk_model_options *options, evk_model **out) {
    *out = NULL;
    const evk_model_options none = {0};
    evk_sd_pipe *p;
    EVK_TRY(evk_sd_pipe_build(ctx, sizeof(evk_ms), path, options ? options : &none, evk__ms_load, &p));
    *out = p->model;
    return EVK_OK;
}

void evk_modelscope_set_decode_chunk(evk_model *m, uint32_t frames) {
    evk_ms *ms = evk_model_impl(m);
    ms->decode_chunk = frames ? frames : evk__ms_auto_chunk(ms);
}

/* A diffusers folder whose pipeline is TextToVideoSDPipeline or whose UNet is a UNet3DConditionModel. */
bool evk_modelscope_probe(const char *path) {
    if (!evk_sd_is_dir(path)) return false;
    char index[700];
    snprintf(index, sizeof index, "%s/model_index.json", path);
    evk_model_index mi;
    if (evk_model_index_load(index, &mi) != EVK_OK) return false;
    const char *unet = evk_model_index_class(&mi, "unet");
    return !strcmp(mi.class_name, "TextToVideoSDPipeline") || (unet && !strcmp(unet, "UNet3DConditionModel"));
}
