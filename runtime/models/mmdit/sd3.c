/* sd3.c — the "sd3" model family (see sd3.h): loading a StableDiffusion3Pipeline folder, prompt
 * encoding with the two CLIP encoders (T5 slot zero-filled), the transformer forward on packed
 * conditioning, guided forwards in one batched call, VAE decoding with shift_factor, and the
 * flow sampler of the scheduler config. */
#include "models/mmdit/sd3.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "formats/config.h"
#include "formats/safetensors.h"
#include "formats/tokenizer.h"
#include "formats/weights.h"
#include "models/clip/clip.h"
#include "models/mmdit/mmdit.h"
#include "models/sd/sd_keys.h"
#include "models/sd/vae.h"
#include "nn/nn.h"
#include "ops/op_axpbz.h"
#include "ops/op_image.h"
#include "ops/op_reduce.h"
#include "samplers/sampler.h"

#define EVK__SD3_TOKENS 77 /* the pipeline's tokenizer_max_length: each CLIP's and the zero T5 slot */

typedef struct evk__sd3_text {
    evk_clip_text_config cfg;
    evk_weights *ws;
    evk_clip_text *enc;
    evk_linear proj; /* text_projection (no bias) */
    evk_tokenizer *tok;
} evk__sd3_text;

typedef struct evk_sd3 {
    evk_context *ctx;
    char folder[512];
    evk_mmdit_config tcfg;
    evk_scheduler_config sched;
    evk_vae_config vae_cfg;
    evk_weights *tweights, *vae_weights;
    evk_sd_keys vae_keys; /* single files: the VAE's original names (must outlive vae_weights) */
    char single[512];     /* a single-file checkpoint, or "" for a folder */
    evk_mmdit *transformer;
    evk_vae_decoder *vae;
    evk__sd3_text text[2];
    evk_model *model;
    evk_model_info info;
    uint32_t width, height, factor;
    int ctx_rows, rows; /* conditioning: context rows (154) and all rows (+ pooled) */
} evk_sd3;

static bool evk__is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* ---- the model family ------------------------------------------------------------------------ */

/* From packed conditioning cond [1 or B, rows, J]: context [B, ctx_rows, J] and pooled [B, P]. */
static evk_status evk__sd3_unpack(evk_sd3 *m, evk_stream *s, const evk_tensor *cond, int64_t B, evk_tensor *context,
                                  evk_tensor *pooled) {
    const int64_t J = m->tcfg.joint_attention_dim, P = m->tcfg.pooled_projection_dim;
    if (!cond || !cond->buf.block || cond->ndim != 3 || cond->shape[1] != m->rows || cond->shape[2] != J ||
        (cond->shape[0] != 1 && cond->shape[0] != B))
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "sd3 model: the prompt encoding must be [1 or B, %d, %lld] (evk_model_encode_prompt)",
                        m->rows, (long long)J);
    uint64_t item = (uint64_t)m->rows * J * 4, src_stride = cond->shape[0] == 1 ? 0 : item;
    EVK_TRY(evk_tensor_alloc(m->ctx, EVK_DTYPE_F32, 3, (int64_t[]){B, m->ctx_rows, J}, context));
    evk_status st = evk_tensor_alloc(m->ctx, EVK_DTYPE_F32, 2, (int64_t[]){B, P}, pooled);
    if (!st) st = evk_stream_copy_strided(s, &cond->buf, 0, src_stride, &context->buf, 0, (uint64_t)m->ctx_rows * J * 4,
                                          (uint64_t)m->ctx_rows * J * 4, (uint64_t)B);
    if (!st) st = evk_stream_copy_strided(s, &cond->buf, (uint64_t)m->ctx_rows * J * 4, src_stride, &pooled->buf, 0,
                                          (uint64_t)P * 4, (uint64_t)P * 4, (uint64_t)B);
    return st;
}

static evk_status evk__sd3_run(evk_sd3 *m, evk_stream *s, const evk_tensor *x, const evk_tensor *t, const evk_tensor *context,
                               const evk_tensor *pooled, const evk_tensor *out) {
    int64_t B = x->shape[0];
    const evk_model_info *mi = &m->info;
    int64_t shape[4] = {B, mi->sample_shape[0], mi->sample_shape[1], mi->sample_shape[2]};
    evk_tensor x4, o4;
    EVK_TRY(evk_tensor_reshape(x, 4, shape, &x4));
    EVK_TRY(evk_tensor_reshape(out, 4, shape, &o4));
    return evk_mmdit_forward(m->transformer, s, &x4, t, context, pooled, &o4);
}

static evk_status evk__sd3_forward(void *impl, evk_stream *s, const evk_model_input *in, const evk_tensor *out) {
    evk_sd3 *m = impl;
    int64_t B = in->x->shape[0];
    evk_tensor context, pooled;
    memset(&context, 0, sizeof context), memset(&pooled, 0, sizeof pooled);
    evk_status st = evk__sd3_unpack(m, s, in->cond, B, &context, &pooled);
    if (!st) st = evk__sd3_run(m, s, in->x, in->timestep, &context, &pooled, out);
    evk_tensor_free(m->ctx, &context); /* reuse inside the stream is ordered by its barriers */
    evk_tensor_free(m->ctx, &pooled);
    return st;
}

/* Classifier-free guidance in one transformer call over [uncond half; cond half], as the pipeline
 * batches it: out = u + w·(c − u). */
static evk_status evk__sd3_forward_guided(void *impl, evk_stream *s, const evk_model_input *in, const evk_tensor *uncond, float w,
                                          const evk_tensor *out) {
    evk_sd3 *m = impl;
    int64_t B = in->x->shape[0], n = evk_model_sample_numel(m->model);
    const int64_t J = m->tcfg.joint_attention_dim, P = m->tcfg.pooled_projection_dim;
    evk_tensor x2, t2, c2, p2, o2, ch[2], ph[2];
    memset(&x2, 0, sizeof x2), memset(&t2, 0, sizeof t2), memset(&c2, 0, sizeof c2), memset(&p2, 0, sizeof p2);
    memset(&o2, 0, sizeof o2), memset(ch, 0, sizeof ch), memset(ph, 0, sizeof ph);
    uint64_t xb = (uint64_t)(B * n) * 4;
    evk_status st = evk_tensor_alloc(m->ctx, EVK_DTYPE_F32, 2, (int64_t[]){2 * B, n}, &x2);
    if (!st) st = evk_tensor_alloc(m->ctx, EVK_DTYPE_F32, 1, (int64_t[]){2 * B}, &t2);
    if (!st) st = evk_tensor_alloc(m->ctx, EVK_DTYPE_F32, 3, (int64_t[]){2 * B, m->ctx_rows, J}, &c2);
    if (!st) st = evk_tensor_alloc(m->ctx, EVK_DTYPE_F32, 2, (int64_t[]){2 * B, P}, &p2);
    if (!st) st = evk_tensor_alloc(m->ctx, EVK_DTYPE_F32, 2, (int64_t[]){2 * B, n}, &o2);
    for (int h = 0; h < 2 && !st; h++) {
        st = evk_stream_copy(s, &in->x->buf, 0, &x2.buf, h * xb, xb);
        if (!st) st = evk_stream_copy(s, &in->timestep->buf, 0, &t2.buf, (uint64_t)(h * B) * 4, (uint64_t)B * 4);
        if (!st) st = evk__sd3_unpack(m, s, h ? in->cond : uncond, B, &ch[h], &ph[h]);
        if (!st) st = evk_stream_copy(s, &ch[h].buf, 0, &c2.buf, (uint64_t)h * evk_tensor_bytes(&ch[h]), evk_tensor_bytes(&ch[h]));
        if (!st) st = evk_stream_copy(s, &ph[h].buf, 0, &p2.buf, (uint64_t)h * evk_tensor_bytes(&ph[h]), evk_tensor_bytes(&ph[h]));
    }
    for (int h = 0; h < 2; h++) evk_tensor_free(m->ctx, &ch[h]), evk_tensor_free(m->ctx, &ph[h]);
    if (!st) st = evk__sd3_run(m, s, &x2, &t2, &c2, &p2, &o2);
    evk_tensor u, c;
    if (!st) st = evk_tensor_rows(&o2, 0, B, &u);
    if (!st) st = evk_tensor_rows(&o2, B, B, &c);
    if (!st) st = evk_op_guidance_combine(s, &c, &u, w, out);
    evk_tensor *tmp[] = {&x2, &t2, &c2, &p2, &o2};
    for (int i = 0; i < 5; i++) evk_tensor_free(m->ctx, tmp[i]);
    return st;
}

/* latents -> VAE (latents / scaling_factor + shift_factor) -> x / 2 + 0.5 clamped to [0, 1] */
static evk_status evk__sd3_decode(void *impl, evk_stream *s, const evk_tensor *x0, const evk_tensor *out) {
    evk_sd3 *m = impl;
    int64_t B = x0->shape[0];
    evk_tensor lat, img;
    EVK_TRY(evk_tensor_reshape(x0, 4, (int64_t[]){B, m->info.sample_shape[0], m->info.sample_shape[1], m->info.sample_shape[2]}, &lat));
    EVK_TRY(evk_tensor_alloc(m->ctx, EVK_DTYPE_F32, 4, (int64_t[]){B, 3, m->height, m->width}, &img));
    evk_status st = evk_vae_decode(m->vae, s, &lat, &img);
    if (!st) st = evk_op_affine_clamp(s, &img, 0.5f, 0.5f, 0.0f, 1.0f, out);
    evk_tensor_free(m->ctx, &img);
    return st;
}

/* One CLIP: ids of the prompt (77, padded as its tokenizer says), the penultimate hidden states
 * [77, D] and the projected pooled output [P] into host arrays. */
static evk_status evk__sd3_clip(evk_sd3 *m, evk__sd3_text *t, const char *prompt, float *hidden, float *pooled, bool *truncated) {
    int32_t ids[EVK__SD3_TOKENS];
    evk_tokenize_info info;
    EVK_TRY(evk_tokenizer_encode(t->tok, prompt ? prompt : "", ids, EVK__SD3_TOKENS, &info));
    if (truncated && info.truncated) *truncated = true;
    int64_t D = t->cfg.hidden_size;
    evk_tensor h, p, pr;
    memset(&h, 0, sizeof h), memset(&p, 0, sizeof p), memset(&pr, 0, sizeof pr);
    evk_stream *s = NULL;
    evk_status st = evk_tensor_alloc(m->ctx, EVK_DTYPE_F32, 3, (int64_t[]){1, EVK__SD3_TOKENS, D}, &h);
    if (!st) st = evk_tensor_alloc(m->ctx, EVK_DTYPE_F32, 2, (int64_t[]){1, D}, &p);
    if (!st) st = evk_stream_create(m->ctx, &s);
    if (!st) st = evk_stream_begin(s);
    if (!st) st = evk_clip_text_forward_penultimate(t->enc, s, ids, 1, EVK__SD3_TOKENS, &h, &p);
    if (!st) {
        evk_nn nn;
        evk_nn_init(&nn, s);
        pr = evk_nn_linear(&nn, &p, &t->proj);
        st = nn.status;
    }
    if (!st) st = evk_stream_run(s);
    if (!st) st = evk_tensor_download_f32(m->ctx, &h, hidden);
    if (!st) st = evk_tensor_download_f32(m->ctx, &pr, pooled);
    evk_stream_destroy(s);
    evk_tensor_free(m->ctx, &h);
    evk_tensor_free(m->ctx, &p);
    evk_tensor_free(m->ctx, &pr);
    return st;
}

static evk_status evk__sd3_encode(void *impl, const char *prompt, evk_tensor *out, bool *truncated) {
    evk_sd3 *m = impl;
    memset(out, 0, sizeof *out);
    if (truncated) *truncated = false;
    const int64_t J = m->tcfg.joint_attention_dim;
    int D0 = m->text[0].cfg.hidden_size, D1 = m->text[1].cfg.hidden_size;
    int P0 = m->text[0].cfg.projection_dim, P1 = m->text[1].cfg.projection_dim;
    float *packed = calloc((size_t)m->rows * J, sizeof *packed);
    float *h0 = malloc((size_t)EVK__SD3_TOKENS * D0 * 4), *h1 = malloc((size_t)EVK__SD3_TOKENS * D1 * 4);
    float *p0 = malloc((size_t)P0 * 4), *p1 = malloc((size_t)P1 * 4);
    evk_status st = packed && h0 && h1 && p0 && p1 ? EVK_OK : evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    if (!st) st = evk__sd3_clip(m, &m->text[0], prompt, h0, p0, truncated);
    if (!st) st = evk__sd3_clip(m, &m->text[1], prompt, h1, p1, truncated);
    if (!st) {
        /* rows 0..76: [CLIP-L | CLIP-G | zeros to J]; rows 77..153: the T5 slot (zeros); then pooled */
        for (int r = 0; r < EVK__SD3_TOKENS; r++) {
            memcpy(packed + (size_t)r * J, h0 + (size_t)r * D0, (size_t)D0 * 4);
            memcpy(packed + (size_t)r * J + D0, h1 + (size_t)r * D1, (size_t)D1 * 4);
        }
        float *pooled = packed + (size_t)m->ctx_rows * J;
        memcpy(pooled, p0, (size_t)P0 * 4);
        memcpy(pooled + P0, p1, (size_t)P1 * 4);
        st = evk_tensor_alloc(m->ctx, EVK_DTYPE_F32, 3, (int64_t[]){1, m->rows, J}, out);
        if (!st) st = evk_tensor_upload_f32(m->ctx, out, packed);
        if (st) evk_tensor_free(m->ctx, out);
    }
    free(packed), free(h0), free(h1), free(p0), free(p1);
    return st;
}

/* The stochastic flow step (what searches need) on the scheduler's grid; `euler` is its ODE step. */
static evk_status evk__sd3_sampler(void *impl, uint32_t steps, evk_sampler_config *out) {
    evk_sd3 *m = impl;
    memset(out, 0, sizeof *out);
    out->kind = EVK_SAMPLER_FLOW_SDE;
    out->schedule = EVK_SCHEDULE_FLOW;
    out->prediction = EVK_OUTPUT_FLOW;
    out->steps = steps;
    out->shift = m->sched.shift;
    out->train_timesteps = (uint32_t)m->sched.num_train_timesteps;
    out->diffusers_flow = true;
    return EVK_OK;
}

static void evk__sd3_free(void *impl) {
    evk_sd3 *m = impl;
    evk_mmdit_destroy(m->transformer);
    evk_vae_decoder_destroy(m->vae);
    evk_weights_close(m->tweights);
    evk_weights_close(m->vae_weights);
    for (int i = 0; i < 2; i++) {
        evk_linear_free(m->ctx, &m->text[i].proj);
        evk_clip_text_destroy(m->text[i].enc);
        evk_weights_close(m->text[i].ws);
        evk_tokenizer_destroy(m->text[i].tok);
    }
    free(m);
}

/* ---- loading ---------------------------------------------------------------------------------- */

static evk_status evk__sd3_text_load(evk_sd3 *m, int i, evk_dtype st) {
    static const char *const enc[2] = {"text_encoder", "text_encoder_2"}, *const tok[2] = {"tokenizer", "tokenizer_2"};
    evk__sd3_text *t = &m->text[i];
    char path[700];
    snprintf(path, sizeof path, "%s/%s/config.json", m->folder, enc[i]);
    EVK_TRY(evk_clip_text_config_load(path, &t->cfg));
    if (t->cfg.max_position_embeddings < EVK__SD3_TOKENS)
        return evk_fail(EVK_ERROR_FORMAT, "%s: %d positions, the pipeline encodes %d tokens", path, t->cfg.max_position_embeddings,
                        EVK__SD3_TOKENS);
    snprintf(path, sizeof path, "%s/%s", m->folder, tok[i]);
    EVK_TRY(evk_tokenizer_load(path, &t->tok));
    snprintf(path, sizeof path, "%s/%s", m->folder, enc[i]);
    EVK_TRY(evk_weights_open(m->ctx, path, &t->ws));
    EVK_TRY(evk_clip_text_load(m->ctx, &t->cfg, t->ws, st, &t->enc));
    return evk_linear_load(t->ws, "text_projection", t->cfg.hidden_size, t->cfg.projection_dim, false, st, &t->proj);
}

static evk_status evk__sd3_load(evk_sd3 *m, const evk_model_options *opt) {
    char path[700];
    if (!evk__is_dir(m->folder)) { /* a single file: configs, tokenizers and text encoders from --config */
        snprintf(m->single, sizeof m->single, "%s", m->folder);
        if (!opt || !opt->config_dir)
            return evk_fail(EVK_ERROR_INVALID_ARGUMENT,
                            "%s: a single-file SD3 checkpoint needs a config folder (--config DIR: a diffusers StableDiffusion3Pipeline "
                            "folder of the same model for the configs, tokenizers and text encoders)", m->single);
        snprintf(m->folder, sizeof m->folder, "%s", opt->config_dir);
    }
    const char *f = m->folder;
    evk_model_index mi;
    snprintf(path, sizeof path, "%s/model_index.json", f);
    EVK_TRY(evk_model_index_load(path, &mi));
    snprintf(path, sizeof path, "%s/transformer/config.json", f);
    EVK_TRY(evk_mmdit_config_load(path, &m->tcfg));
    snprintf(path, sizeof path, "%s/scheduler/scheduler_config.json", f);
    EVK_TRY(evk_scheduler_config_load(path, &m->sched));
    if (!m->sched.flow)
        return evk_fail(EVK_ERROR_FORMAT, "%s: scheduler %s; SD3 pipelines use FlowMatchEulerDiscreteScheduler", path, m->sched.class_name);
    snprintf(path, sizeof path, "%s/vae/config.json", f);
    EVK_TRY(evk_vae_config_load(path, &m->vae_cfg));
    if (m->vae_cfg.latent_channels != m->tcfg.in_channels || m->tcfg.out_channels != m->tcfg.in_channels)
        return evk_fail(EVK_ERROR_FORMAT, "%s: the VAE has %d latent channels but the transformer takes %d and makes %d", f,
                        m->vae_cfg.latent_channels, m->tcfg.in_channels, m->tcfg.out_channels);
    evk_dtype st = opt && opt->storage == EVK_DTYPE_F16 ? EVK_DTYPE_F16 : EVK_DTYPE_F32;
    for (int i = 0; i < 2; i++) EVK_TRY(evk__sd3_text_load(m, i, st));
    const evk_clip_text_config *a = &m->text[0].cfg, *b = &m->text[1].cfg;
    if (a->hidden_size + b->hidden_size > m->tcfg.joint_attention_dim || a->projection_dim + b->projection_dim != m->tcfg.pooled_projection_dim)
        return evk_fail(EVK_ERROR_FORMAT,
                        "%s: the text encoders make %d + %d channels and %d + %d pooled; the transformer takes up to %d and exactly %d",
                        f, a->hidden_size, b->hidden_size, a->projection_dim, b->projection_dim, m->tcfg.joint_attention_dim,
                        m->tcfg.pooled_projection_dim);
    if (m->single[0]) {
        EVK_TRY(evk_weights_open(m->ctx, m->single, &m->vae_weights));
        if (evk_weights_has(m->vae_weights, "first_stage_model.decoder.conv_in.weight")) { /* the file's own VAE */
            EVK_TRY(evk_sd_keys_vae(&m->vae_cfg, &m->vae_keys));
            evk_weights_use_sd_keys(m->vae_weights, &m->vae_keys);
        } else {
            evk_weights_close(m->vae_weights);
            m->vae_weights = NULL;
        }
    }
    if (!m->vae_weights) {
        snprintf(path, sizeof path, "%s/vae", f);
        EVK_TRY(evk_weights_open(m->ctx, path, &m->vae_weights));
    }
    EVK_TRY(evk_vae_decoder_load(m->ctx, &m->vae_cfg, m->vae_weights, st, &m->vae));
    if (opt && opt->vae_tile) {
        evk_vae_decode_options vo = {.tile_latent = opt->vae_tile};
        evk_vae_decoder_set_options(m->vae, &vo);
    }
    m->factor = (uint32_t)evk_vae_decoder_upscale(m->vae);
    uint32_t multiple = m->factor * (uint32_t)m->tcfg.patch_size, native = (uint32_t)m->tcfg.sample_size * m->factor;
    m->width = opt && opt->width ? opt->width : native;
    m->height = opt && opt->height ? opt->height : native;
    if (m->width % multiple || m->height % multiple)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "image size %ux%u: width and height must be multiples of %u for this model", m->width,
                        m->height, multiple);
    const char *tw = opt && opt->diffusion_model ? opt->diffusion_model : m->single[0] ? m->single : NULL;
    if (tw) EVK_TRY(evk_weights_open(m->ctx, tw, &m->tweights));
    else {
        snprintf(path, sizeof path, "%s/transformer", f);
        EVK_TRY(evk_weights_open(m->ctx, path, &m->tweights));
    }
    int lh = (int)(m->height / m->factor), lw = (int)(m->width / m->factor);
    const evk_dtype tst = evk_weights_storage(m->tweights, st);
    evk_status ls;
    if (evk_mmdit_is_original(m->tweights)) { /* original MMDiT names (single files, GGUF files) */
        EVK_TRY(evk_mmdit_use_original_names(m->tweights));
        ls = evk_mmdit_load_original(m->ctx, &m->tcfg, m->tweights, tst, lh, lw, &m->transformer);
    } else {
        ls = evk_mmdit_load(m->ctx, &m->tcfg, m->tweights, tst, lh, lw, &m->transformer);
    }
    if (ls && opt && opt->diffusion_model) return evk_fail_context(ls, "%s (--diffusion-model)", opt->diffusion_model);
    if (ls) return ls;
    m->ctx_rows = 2 * EVK__SD3_TOKENS;
    m->rows = m->ctx_rows + (m->tcfg.pooled_projection_dim + m->tcfg.joint_attention_dim - 1) / m->tcfg.joint_attention_dim;
    evk_model_info info = {
        .family = "sd3",
        .schedule = EVK_SCHEDULE_FLOW,
        .prediction = EVK_OUTPUT_FLOW,
        .sample_ndim = 3,
        .sample_shape = {m->tcfg.in_channels, m->height / m->factor, m->width / m->factor},
        .conditional = true,
        .image_width = m->width,
        .image_height = m->height,
    };
    /* a forward's activations, roughly: tokens × (4·D MLP + a dozen D-wide tensors) */
    uint64_t tokens = (uint64_t)(m->height / m->factor / m->tcfg.patch_size) * (m->width / m->factor / m->tcfg.patch_size) + 154;
    info.scratch_per_item = tokens * 4 * 16 * (uint64_t)m->tcfg.caption_projection_dim;
    m->info = info;
    return EVK_OK;
}

evk_status evk_sd3_model_load(evk_context *ctx, const char *path, const evk_model_options *options, evk_model **out) {
    *out = NULL;
    evk_sd3 *m = calloc(1, sizeof *m);
    if (!m) return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    m->ctx = ctx;
    snprintf(m->folder, sizeof m->folder, "%s", path);
    evk_status s = evk__sd3_load(m, options);
    if (s) {
        evk__sd3_free(m);
        return s;
    }
    evk_model_ops ops = {.forward = evk__sd3_forward, .forward_guided = evk__sd3_forward_guided, .decode = evk__sd3_decode,
                         .encode_prompt = evk__sd3_encode, .sampler_config = evk__sd3_sampler, .destroy = evk__sd3_free,
                         .decoded_ndim = 3, .decoded_shape = {3, m->height, m->width}};
    s = evk_model_create(ctx, &ops, &m->info, m, &m->model); /* on failure m is freed already */
    if (s) return s;
    *out = m->model;
    return EVK_OK;
}

void evk_sd3_cond_rows(const evk_model *model, int *context_rows, int *rows) {
    const evk_sd3 *m = evk_model_impl(model);
    if (context_rows) *context_rows = m->ctx_rows;
    if (rows) *rows = m->rows;
}

/* A diffusers folder whose model_index.json names StableDiffusion3Pipeline or an
 * SD3Transformer2DModel transformer, or a single-file checkpoint with MMDiT joint blocks. */
bool evk_sd3_probe(const char *path) {
    if (!evk__is_dir(path)) { /* a safetensors file whose header names MMDiT joint blocks */
        struct stat sb;
        evk_safetensors *st;
        if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode) || evk_safetensors_open(path, &st) != EVK_OK) return false;
        bool mmdit = false;
        for (size_t i = 0; i < evk_safetensors_count(st) && !mmdit; i++)
            mmdit = !strncmp(evk_safetensors_at(st, i)->name, "model.diffusion_model.joint_blocks.", 35);
        evk_safetensors_close(st);
        return mmdit;
    }
    char p[700];
    snprintf(p, sizeof p, "%s/model_index.json", path);
    evk_model_index mi;
    if (evk_model_index_load(p, &mi) != EVK_OK) return false;
    if (!strcmp(mi.class_name, "StableDiffusion3Pipeline")) return true;
    const char *tc = evk_model_index_class(&mi, "transformer");
    return tc && !strcmp(tc, "SD3Transformer2DModel");
}
