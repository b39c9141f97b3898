/* sd_parts.c — prompt encoding, the scheduler's sampler, batched guidance and shared
 * conditioning rows for the families built from SD's components (see sd_parts.h). */
#include "models/sd/sd_parts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ops/op_axpbz.h"
#include "ops/op_layout.h"
#include "ops/op_reduce.h"

evk_status evk_sd_encode_text(evk_context *ctx, const evk_tokenizer *tok, evk_clip_text *text, const char *prompt,
                              evk_tensor *out, bool *truncated) {
    memset(out, 0, sizeof *out);
    const evk_clip_text_config *tc = evk_clip_text_get_config(text);
    int L = tc->max_position_embeddings;
    int32_t *ids = malloc((size_t)L * sizeof *ids);
    if (!ids) return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    evk_tokenize_info info;
    evk_status s = evk_tokenizer_encode(tok, prompt ? prompt : "", ids, (size_t)L, &info);
    if (truncated) *truncated = info.truncated > 0;
    if (!s) s = evk_tensor_alloc(ctx, EVK_DTYPE_F32, 3, (int64_t[]){1, L, tc->hidden_size}, out);
    evk_stream *st = NULL;
    if (!s) s = evk_stream_create(ctx, &st);
    if (!s) s = evk_stream_begin(st);
    if (!s) s = evk_clip_text_forward(text, st, ids, 1, L, 0, out, NULL);
    if (!s) s = evk_stream_run(st);
    evk_stream_destroy(st);
    free(ids);
    if (s) evk_tensor_free(ctx, out);
    return s;
}

/* Record dst [B, ...] = src ([B, ...] copied, or [1, ...] repeated B times). */
static evk_status evk__broadcast_rows(evk_context *ctx, evk_stream *s, const evk_tensor *src, int64_t B, const evk_tensor *dst) {
    int64_t row = evk_tensor_numel(src) / src->shape[0];
    if (src->shape[0] == B) return evk_stream_copy(s, &src->buf, 0, &dst->buf, 0, (uint64_t)(B * row) * 4);
    /* one row shared by the batch: gather it B times (small next to a network's work) */
    int32_t *rows = malloc((size_t)B * sizeof *rows);
    if (!rows) return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    for (int64_t i = 0; i < B; i++) rows[i] = 0;
    evk_tensor idx, table, flat;
    evk_status st = evk_tensor_alloc(ctx, EVK_DTYPE_I32, 1, (int64_t[]){B}, &idx);
    if (!st) st = evk_stream_update(s, &idx.buf, 0, rows, (uint64_t)B * 4);
    free(rows);
    if (st) return st;
    st = evk_tensor_reshape(src, 2, (int64_t[]){1, row}, &table);
    if (!st) st = evk_tensor_reshape(dst, 2, (int64_t[]){B, row}, &flat);
    if (!st) st = evk_op_gather_rows(s, &table, &idx, &flat);
    evk_tensor_free(ctx, &idx); /* reuse inside the stream is ordered by its barriers */
    return st;
}

/* The prompt encoding a model's forward takes: [B or 1, L, D]. */
static evk_status evk__check_cond(const evk_tensor *cond, const char *family, const char *what) {
    if (!cond || !cond->buf.block) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "%s model: a prompt encoding (%s) is required", family, what);
    if (cond->ndim != 3) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "%s model: %s must be [B or 1, L, D]", family, what);
    return EVK_OK;
}

/* ---- the pipeline ------------------------------------------------------------------------------ */

void evk_sd_pipe_free(evk_sd_pipe *p) {
    if (p->destroy_unet) p->destroy_unet(p);
    evk_vae_decoder_destroy(p->vae);
    evk_clip_text_destroy(p->text);
    evk_weights_close(p->unet_weights);
    evk_weights_close(p->text_weights);
    evk_weights_close(p->vae_weights);
    evk_tokenizer_destroy(p->tok);
    free(p);
}

bool evk_sd_is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

evk_status evk_sd_pipe_read_folder(evk_sd_pipe *p, const char *folder, evk_sd_pipe_config_fn unet_config, bool need_vae, bool *latent) {
    char path[700];
    evk_model_index mi;
    snprintf(path, sizeof path, "%s/model_index.json", folder);
    EVK_TRY(evk_model_index_load(path, &mi));
    snprintf(path, sizeof path, "%s/unet/config.json", folder);
    EVK_TRY(unet_config(p, path));
    snprintf(path, sizeof path, "%s/vae", folder);
    *latent = need_vae || evk_model_index_class(&mi, "vae") != NULL || evk_sd_is_dir(path);
    snprintf(path, sizeof path, "%s/text_encoder/config.json", folder);
    EVK_TRY(evk_clip_text_config_load(path, &p->text_cfg));
    snprintf(path, sizeof path, "%s/scheduler/scheduler_config.json", folder);
    EVK_TRY(evk_scheduler_config_load(path, &p->sched));
    snprintf(path, sizeof path, "%s/tokenizer", folder);
    EVK_TRY(evk_tokenizer_load(path, &p->tok));
    if (!*latent) return EVK_OK;
    snprintf(path, sizeof path, "%s/vae/config.json", folder);
    return evk_vae_config_load(path, &p->vae_cfg);
}

evk_status evk_sd_pipe_open(evk_sd_pipe *p, const char *single, const char *component, evk_weights **out) {
    char path[700];
    if (single) return evk_weights_open(p->ctx, single, out);
    snprintf(path, sizeof path, "%s/%s", p->folder, component);
    return evk_weights_open(p->ctx, path, out);
}

static bool evk__has_name(const evk_weights *ws, const char *prefix) {
    size_t n = strlen(prefix);
    for (size_t i = 0; i < evk_weights_count(ws); i++)
        if (!strncmp(evk_weights_at(ws, i)->name, prefix, n)) return true;
    return false;
}

evk_status evk_sd_pipe_open_unet_file(evk_sd_pipe *p, const char *file, evk_sd_original_names_fn original, void *user) {
    EVK_TRY(evk_weights_open(p->ctx, file, &p->unet_weights));
    const char *P = "model.diffusion_model.";
    bool prefixed = evk__has_name(p->unet_weights, P);
    char probe[64];
    snprintf(probe, sizeof probe, "%sinput_blocks.", prefixed ? P : "");
    if (evk__has_name(p->unet_weights, probe)) { /* original names */
        if (original) return original(user, p->unet_weights, prefixed);
        return evk_fail(EVK_ERROR_FORMAT, "%s: a UNet under the original names (%sinput_blocks.*); this model reads diffusers names "
                        "(conv_in.*, down_blocks.*)", file, prefixed ? P : "");
    }
    snprintf(probe, sizeof probe, "%sconv_in.", prefixed ? P : "");
    if (!evk__has_name(p->unet_weights, probe))
        return evk_fail(EVK_ERROR_FORMAT, "%s: not a UNet (no %sinput_blocks.* nor %sconv_in.* tensors)", file, prefixed ? P : "",
                        prefixed ? P : "");
    if (prefixed) EVK_TRY(evk_weights_set_prefix(p->unet_weights, P));
    return EVK_OK;
}

evk_status evk_sd_pipe_check(const evk_sd_pipe *p, const char *folder, int cross_dim, int in_channels, bool latent) {
    if (cross_dim != p->text_cfg.hidden_size)
        return evk_fail(EVK_ERROR_FORMAT, "%s: the UNet attends to %d-wide text states but the text encoder makes %d", folder, cross_dim,
                        p->text_cfg.hidden_size);
    if (latent && p->vae_cfg.latent_channels != in_channels)
        return evk_fail(EVK_ERROR_FORMAT, "%s: the VAE has %d latent channels but the UNet takes %d", folder, p->vae_cfg.latent_channels,
                        in_channels);
    return EVK_OK;
}

evk_status evk_sd_pipe_load_vae(evk_sd_pipe *p, evk_dtype st, uint32_t tile) {
    EVK_TRY(evk_vae_decoder_load(p->ctx, &p->vae_cfg, p->vae_weights, st, &p->vae));
    p->factor = (uint32_t)evk_vae_decoder_upscale(p->vae);
    if (tile) {
        evk_vae_decode_options vo = {.tile_latent = tile};
        evk_vae_decoder_set_options(p->vae, &vo);
    }
    return EVK_OK;
}

evk_status evk_sd_pipe_size(evk_sd_pipe *p, const evk_model_options *opt, int sample_size, int downsamplings, const char *what) {
    uint32_t multiple = p->factor << downsamplings, native = (uint32_t)sample_size * p->factor;
    p->width = opt && opt->width ? opt->width : native;
    p->height = opt && opt->height ? opt->height : native;
    if (p->width % multiple || p->height % multiple)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "%s size %ux%u: width and height must be multiples of %u for this model", what,
                        p->width, p->height, multiple);
    return EVK_OK;
}

evk_status evk_sd_pipe_sampler(const evk_sd_pipe *p, evk_sampler_kind kind, uint32_t steps, double eta, evk_sampler_config *out) {
    const evk_scheduler_config *c = &p->sched;
    const char *folder = p->folder;
    if (c->beta_schedule != EVK_BETA_LINEAR && c->beta_schedule != EVK_BETA_SCALED_LINEAR)
        return evk_fail(EVK_ERROR_UNSUPPORTED, "%s/scheduler: beta_schedule '%s' is not supported", folder,
                        evk_beta_schedule_name(c->beta_schedule));
    if (c->clip_sample)
        return evk_fail(EVK_ERROR_UNSUPPORTED, "%s/scheduler: clip_sample true (clamping x̂0) is not supported; Stable Diffusion's own configs set it false",
                        folder);
    if (c->thresholding || c->rescale_betas_zero_snr)
        return evk_fail(EVK_ERROR_UNSUPPORTED, "%s/scheduler: thresholding and rescale_betas_zero_snr are not supported", folder);
    memset(out, 0, sizeof *out);
    out->kind = kind;
    out->schedule = EVK_SCHEDULE_VP;
    out->prediction = p->info.prediction;
    out->steps = steps;
    out->eta = eta;
    out->spacing = c->timestep_spacing;
    out->steps_offset = (uint32_t)c->steps_offset;
    out->set_alpha_to_one = c->set_alpha_to_one;
    out->train_timesteps = (uint32_t)c->num_train_timesteps;
    out->beta_start = c->beta_start;
    out->beta_end = c->beta_end;
    out->beta_schedule = c->beta_schedule;
    if (c->original_inference_steps > 0) out->lcm_origin_steps = (uint32_t)c->original_inference_steps;
    return EVK_OK;
}

/* The UNet with cond [B or 1, L, D]: one prompt shared by the batch has its rows replicated
 * (small next to the UNet's work). */
static evk_status evk__pipe_forward(void *impl, evk_stream *s, const evk_model_input *in, const evk_tensor *out) {
    evk_sd_pipe *p = impl;
    const evk_tensor *cond = in->cond;
    EVK_TRY(evk__check_cond(cond, p->info.family, "cond"));
    int64_t B = in->x->shape[0], L = cond->shape[1], D = cond->shape[2];
    if (cond->shape[0] == B) return p->net(p, s, in->x, in->timestep, cond, in->guidance, in->guidance_items, out);
    evk_tensor ctx;
    EVK_TRY(evk_tensor_alloc(p->ctx, EVK_DTYPE_F32, 3, (int64_t[]){B, L, D}, &ctx));
    evk_status st = evk__broadcast_rows(p->ctx, s, cond, B, &ctx);
    if (!st) st = p->net(p, s, in->x, in->timestep, &ctx, in->guidance, in->guidance_items, out);
    evk_tensor_free(p->ctx, &ctx);
    return st;
}

/* Classifier-free guidance in one UNet pass over [uncond half; cond half]: out = ε_u + w·(ε_c − ε_u). */
static evk_status evk__pipe_forward_guided(void *impl, evk_stream *s, const evk_model_input *in, const evk_tensor *uncond, float w,
                                           const evk_tensor *out) {
    evk_sd_pipe *p = impl;
    evk_context *ctx = p->ctx;
    const char *family = p->info.family;
    int sample_ndim = p->info.sample_ndim;
    const int64_t *sample_shape = p->info.sample_shape;
    EVK_TRY(evk__check_cond(in->cond, family, "cond"));
    EVK_TRY(evk__check_cond(uncond, family, "uncond"));
    int64_t B = in->x->shape[0], n = 1, L = in->cond->shape[1], D = in->cond->shape[2];
    for (int i = 0; i < sample_ndim; i++) n *= sample_shape[i];
    if (uncond->shape[1] != L || uncond->shape[2] != D)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "%s model: cond and uncond encodings differ in shape", family);
    int64_t xshape[EVK_MAX_DIMS];
    xshape[0] = 2 * B;
    memcpy(xshape + 1, sample_shape, (size_t)sample_ndim * sizeof *xshape);
    evk_tensor x2, t2, c2, o2, half;
    memset(&x2, 0, sizeof x2), memset(&t2, 0, sizeof t2), memset(&c2, 0, sizeof c2), memset(&o2, 0, sizeof o2);
    uint64_t xb = (uint64_t)(B * n) * 4;
    evk_status st = evk_tensor_alloc(ctx, EVK_DTYPE_F32, sample_ndim + 1, xshape, &x2);
    if (!st) st = evk_tensor_alloc(ctx, EVK_DTYPE_F32, 1, (int64_t[]){2 * B}, &t2);
    if (!st) st = evk_tensor_alloc(ctx, EVK_DTYPE_F32, 3, (int64_t[]){2 * B, L, D}, &c2);
    if (!st) st = evk_tensor_alloc(ctx, EVK_DTYPE_F32, sample_ndim + 1, xshape, &o2);
    for (int h = 0; h < 2 && !st; h++) {
        st = evk_stream_copy(s, &in->x->buf, 0, &x2.buf, h * xb, xb);
        if (!st) st = evk_stream_copy(s, &in->timestep->buf, 0, &t2.buf, (uint64_t)(h * B) * 4, (uint64_t)B * 4);
        if (!st) st = evk_tensor_rows(&c2, h * B, B, &half);
        if (!st) st = evk__broadcast_rows(ctx, s, h ? in->cond : uncond, B, &half);
    }
    if (!st) st = p->net(p, s, &x2, &t2, &c2, 0, NULL, &o2);
    evk_tensor u, c, o2f;
    if (!st) st = evk_tensor_reshape(&o2, 2, (int64_t[]){2 * B, n}, &o2f);
    if (!st) st = evk_tensor_rows(&o2f, 0, B, &u);
    if (!st) st = evk_tensor_rows(&o2f, B, B, &c);
    if (!st) st = evk_op_guidance_combine(s, &c, &u, w, out);
    evk_tensor *tmp[] = {&x2, &t2, &c2, &o2};
    for (int i = 0; i < 4; i++)
        if (tmp[i]->buf.block) evk_tensor_free(ctx, tmp[i]);
    return st;
}

static evk_status evk__pipe_encode(void *impl, const char *prompt, evk_tensor *out, bool *truncated) {
    evk_sd_pipe *p = impl;
    return evk_sd_encode_text(p->ctx, p->tok, p->text, prompt, out, truncated);
}

static void evk__pipe_release_text(void *impl) {
    evk_sd_pipe *p = impl;
    evk_clip_text_destroy(p->text);
    p->text = NULL;
    evk_weights_close(p->text_weights);
    p->text_weights = NULL;
    evk_memory_trim(p->ctx); /* the blocks only the text encoder used go back to the driver */
}

static void evk__pipe_destroy(void *impl) { evk_sd_pipe_free(impl); }

evk_status evk_sd_pipe_build(evk_context *ctx, size_t size, const char *path, const evk_model_options *opt, evk_sd_pipe_load_fn load,
                             evk_sd_pipe **out) {
    *out = NULL;
    evk_sd_pipe *p = calloc(1, size);
    if (!p) return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    p->ctx = ctx;
    snprintf(p->folder, sizeof p->folder, "%s", path);
    evk_model_ops ops = {.forward = evk__pipe_forward, .forward_guided = evk__pipe_forward_guided, .encode_prompt = evk__pipe_encode,
                         .release_prompt_encoder = evk__pipe_release_text,
                         .destroy = evk__pipe_destroy};
    evk_status s = load(p, path, opt, &ops);
    if (s) {
        evk_sd_pipe_free(p);
        return s;
    }
    EVK_TRY(evk_model_create(ctx, &ops, &p->info, p, &p->model)); /* on failure p is freed already */
    *out = p;
    return EVK_OK;
}
