/* sd_parts.c — prompt encoding, the scheduler's sampler, batched guidance and shared
 * conditioning rows for the families built from SD's components (see sd_parts.h). */
#include "models/sd/sd_parts.h"

#include <stdlib.h>
#include <string.h>

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

evk_status evk_sd_scheduler_sampler(const evk_scheduler_config *c, const char *folder, evk_model_output prediction,
                                    evk_sampler_kind kind, uint32_t steps, double eta, evk_sampler_config *out) {
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
    out->prediction = prediction;
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

evk_status evk_sd_broadcast_rows(evk_context *ctx, evk_stream *s, const evk_tensor *src, int64_t B, const evk_tensor *dst) {
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

evk_status evk_sd_check_cond(const evk_tensor *cond, const char *family, const char *what) {
    if (!cond || !cond->buf.block) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "%s model: a prompt encoding (%s) is required", family, what);
    if (cond->ndim != 3) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "%s model: %s must be [B or 1, L, D]", family, what);
    return EVK_OK;
}

evk_status evk_sd_forward_guided(evk_context *ctx, evk_stream *s, const evk_model_input *in, const evk_tensor *uncond, float w,
                                 int sample_ndim, const int64_t *sample_shape, const char *family, evk_sd_net_fn net, void *user,
                                 const evk_tensor *out) {
    EVK_TRY(evk_sd_check_cond(in->cond, family, "cond"));
    EVK_TRY(evk_sd_check_cond(uncond, family, "uncond"));
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
        if (!st) st = evk_sd_broadcast_rows(ctx, s, h ? in->cond : uncond, B, &half);
    }
    if (!st) st = net(user, s, &x2, &t2, &c2, &o2);
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
