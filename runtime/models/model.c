/* model.c — the model object: shape checks around a family's forward call, classifier-free
 * guidance as two calls plus a combine kernel, decoding (recorded, or from and to the host), and
 * the family's prompt encoder and default sampler behind checked calls. Which family a path
 * holds is models/registry.c's business; this file knows none. */
#include "models/model.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/file.h"
#include "ops/op_reduce.h"
#include "ops/op_axpbz.h"
#include "ops/ops_internal.h"

struct evk_model {
    evk_context *ctx;
    evk_model_ops ops;
    evk_model_info info;
    void *impl;
    bool prompt_encoder_released;
};

evk_status evk_model_create(evk_context *ctx, const evk_model_ops *ops, const evk_model_info *info, void *impl, evk_model **out) {
    *out = NULL;
    if (!ops || !ops->forward || !info || info->sample_ndim < 1 || info->sample_ndim > EVK_MAX_DIMS - 1) {
        if (ops && ops->destroy && impl) ops->destroy(impl);
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "evk_model_create: a forward callback and a sample shape of rank 1..%d are required",
                        EVK_MAX_DIMS - 1);
    }
    /* images are what decode makes: RGB [3, H, W] (video models: [frames, 3, H, W]) */
    if (info->image_width || info->image_height) {
        int64_t n = 1, frames = info->frames ? info->frames : 1;
        for (int i = 0; ops->decode && i < ops->decoded_ndim; i++) n *= ops->decoded_shape[i];
        if (!ops->decode || !info->image_width || !info->image_height ||
            n != frames * 3 * (int64_t)info->image_width * info->image_height) {
            if (ops->destroy && impl) ops->destroy(impl);
            return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "evk_model_create (%s): %lld frames of %ux%u need a decode to %lldx3x%ux%u values",
                            info->family ? info->family : "?", (long long)frames, info->image_width, info->image_height,
                            (long long)frames, info->image_height, info->image_width);
        }
    }
    evk_model *m = calloc(1, sizeof *m);
    if (!m) {
        if (ops->destroy && impl) ops->destroy(impl);
        return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory creating a model");
    }
    m->ctx = ctx;
    m->ops = *ops;
    m->info = *info;
    m->impl = impl;
    *out = m;
    return EVK_OK;
}

void evk_model_destroy(evk_model *m) {
    if (!m) return;
    if (m->ops.destroy && m->impl) m->ops.destroy(m->impl);
    free(m);
}

const evk_model_info *evk_model_get_info(const evk_model *m) { return &m->info; }
void *evk_model_impl(const evk_model *m) { return m->impl; }
evk_context *evk_model_context(const evk_model *m) { return m->ctx; }
bool evk_model_takes_prompt(const evk_model *m) { return m->ops.encode_prompt != NULL; }

bool evk_model_image_size(const evk_model *m, uint32_t *width, uint32_t *height) {
    bool images = m->info.image_width > 0 && m->info.image_height > 0;
    if (width) *width = images ? m->info.image_width : 0;
    if (height) *height = images ? m->info.image_height : 0;
    return images;
}

evk_status evk_model_encode_prompt(evk_model *m, const char *prompt, evk_tensor *out, bool *truncated) {
    memset(out, 0, sizeof *out);
    if (truncated) *truncated = false;
    if (!m->ops.encode_prompt)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "the %s model takes no prompt", m->info.family);
    if (m->prompt_encoder_released)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "the %s model's prompt encoder was released (evk_model_release_prompt_encoder)", m->info.family);
    return m->ops.encode_prompt(m->impl, prompt ? prompt : "", out, truncated);
}

void evk_model_release_prompt_encoder(evk_model *m) {
    if (!m || !m->ops.release_prompt_encoder || m->prompt_encoder_released) return;
    m->ops.release_prompt_encoder(m->impl);
    m->prompt_encoder_released = true;
}

evk_status evk_model_sampler_config(const evk_model *m, uint32_t steps, struct evk_sampler_config *out) {
    if (!m->ops.sampler_config)
        return evk_fail(EVK_ERROR_UNSUPPORTED, "the %s model names no default sampler", m->info.family);
    if (steps < 1) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "%s model: a sampler needs at least one step", m->info.family);
    return m->ops.sampler_config(m->impl, steps, out);
}

int64_t evk_model_sample_numel(const evk_model *m) {
    int64_t n = 1;
    for (int i = 0; i < m->info.sample_ndim; i++) n *= m->info.sample_shape[i];
    return n;
}

bool evk_model_has_decode(const evk_model *m) { return m->ops.decode != NULL; }

int64_t evk_model_decoded_numel(const evk_model *m) {
    if (!m->ops.decode) return evk_model_sample_numel(m);
    int64_t n = 1;
    for (int i = 0; i < m->ops.decoded_ndim; i++) n *= m->ops.decoded_shape[i];
    return n;
}

static evk_status evk__check_batch(const char *what, const evk_tensor *t, int64_t batch, int64_t per_item, bool need) {
    char want[96];
    snprintf(want, sizeof want, "f32 [%lld%s] (%lld values per item)", (long long)batch, per_item > 1 ? ", ..." : "",
             (long long)per_item);
    if (!t || !t->buf.block) return need ? evk__shape_fail("model forward", what, t, want) : EVK_OK;
    if (t->dtype != EVK_DTYPE_F32 || t->ndim < 1 || t->shape[0] != batch || evk_tensor_row_numel(t) != per_item)
        return evk__shape_fail("model forward", what, t, want);
    return EVK_OK;
}

static evk_status evk__check_forward(evk_model *m, const evk_model_input *in, const evk_tensor *out) {
    if (!in || !in->x || !in->x->buf.block || in->x->ndim < 1)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "model forward (%s): no input states", m->info.family);
    int64_t batch = in->x->shape[0], d = evk_model_sample_numel(m);
    EVK_TRY(evk__check_batch("x", in->x, batch, d, true));
    EVK_TRY(evk__check_batch("timestep", in->timestep, batch, 1, true));
    EVK_TRY(evk__check_batch("alpha", in->alpha, batch, 1, true));
    EVK_TRY(evk__check_batch("sigma", in->sigma, batch, 1, true));
    EVK_TRY(evk__check_batch("out", out, batch, d, true));
    if (in->cond && in->cond->buf.block && in->cond->shape[0] != batch && in->cond->shape[0] != 1)
        return evk__shape_fail("model forward", "cond", in->cond, "one row per batch item, or one row shared by all");
    return EVK_OK;
}

evk_status evk_model_forward(evk_model *m, evk_stream *s, const evk_model_input *in, const evk_tensor *out) {
    EVK_TRY(evk__check_forward(m, in, out));
    return m->ops.forward(m->impl, s, in, out);
}

evk_status evk_model_forward_guided(evk_model *m, evk_stream *s, const evk_model_input *in, const evk_tensor *uncond,
                                    float w, const evk_tensor *scratch, const evk_tensor *out) {
    if (m->ops.forward_guided && in->cond && in->cond->buf.block && uncond && uncond->buf.block) {
        EVK_TRY(evk__check_forward(m, in, out));
        if (uncond->shape[0] != in->x->shape[0] && uncond->shape[0] != 1)
            return evk__shape_fail("model forward", "uncond", uncond, "one row per batch item, or one row shared by all");
        return m->ops.forward_guided(m->impl, s, in, uncond, w, out);
    }
    evk_model_input u = *in;
    u.cond = uncond;
    EVK_TRY(evk_model_forward(m, s, in, out));          /* ε_c */
    EVK_TRY(evk_model_forward(m, s, &u, scratch));      /* ε_u */
    return evk_op_guidance_combine(s, out, scratch, w, out);
}

evk_status evk_model_decode(evk_model *m, evk_stream *s, const evk_tensor *x0, const evk_tensor *out) {
    int64_t batch = x0 && x0->ndim ? x0->shape[0] : 0;
    EVK_TRY(evk__check_batch("decode input", x0, batch, evk_model_sample_numel(m), true));
    EVK_TRY(evk__check_batch("decode output", out, batch, evk_model_decoded_numel(m), true));
    if (m->ops.decode) return m->ops.decode(m->impl, s, x0, out);
    if (x0->buf.block == out->buf.block && x0->buf.offset == out->buf.offset) return EVK_OK;
    return evk_stream_copy(s, &x0->buf, 0, &out->buf, 0, evk_tensor_bytes(x0));
}

evk_status evk_model_decode_host(evk_model *m, const float *samples, uint32_t count, float *out) {
    if (!count) return EVK_OK;
    int64_t n = evk_model_sample_numel(m), d = evk_model_decoded_numel(m);
    if (!m->ops.decode) {
        memcpy(out, samples, (size_t)count * (size_t)n * sizeof *out);
        return EVK_OK;
    }
    evk_tensor x, y;
    memset(&x, 0, sizeof x);
    memset(&y, 0, sizeof y);
    evk_stream *s = NULL;
    evk_status st = evk_tensor_alloc(m->ctx, EVK_DTYPE_F32, 2, (int64_t[]){count, n}, &x);
    if (!st) st = evk_tensor_alloc(m->ctx, EVK_DTYPE_F32, 2, (int64_t[]){count, d}, &y);
    if (!st) st = evk_tensor_upload_f32(m->ctx, &x, samples);
    if (!st) st = evk_stream_create(m->ctx, &s);
    if (!st) st = evk_stream_begin(s);
    if (!st) st = evk_model_decode(m, s, &x, &y);
    if (!st) st = evk_stream_run(s);
    if (!st) st = evk_tensor_download_f32(m->ctx, &y, out);
    evk_stream_destroy(s);
    if (x.buf.block) evk_tensor_free(m->ctx, &x);
    if (y.buf.block) evk_tensor_free(m->ctx, &y);
    return st;
}
