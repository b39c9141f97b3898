/* op_axpbz.c — C entries of shaders/samplers/sampler.comp: out = a·x + b·m + c·z with Philox noise
 * z, which every sampler step is (samplers/sampler.c supplies a, b, c per step), and its
 * guidance build out = u + w·(c − u). */
#include "ops/op_axpbz.h"

#include <stdio.h>

#include "ops/op_reduce.h"
#include "ops/ops_internal.h"

typedef struct evk__axpbz_push {
    uint32_t seed_lo, seed_hi, stream0, counter, domain;
    uint32_t rows, cols, x_off, m_off, o_off, noisy;
    float a, b, c;
} evk__axpbz_push;

static evk_status evk__axpbz_run(evk_stream *st, const char *op, const char *shader, const evk_tensor *x, const evk_tensor *m,
                                        const evk_tensor *out, float a, float b, float c, const evk_noise_key *key) {
    if (!x || !x->buf.block || x->dtype != EVK_DTYPE_F32 || x->ndim < 1) return evk__shape_fail(op, "x", x, "an f32 tensor");
    char sh[128], want[160];
    snprintf(want, sizeof want, "f32 %s (the shape of x)", evk_tensor_shape_str(x, sh, sizeof sh));
    int64_t rows = x->shape[0], cols = evk_tensor_row_numel(x);
    if (!m || !m->buf.block || m->dtype != EVK_DTYPE_F32 || m->ndim < 1 || m->shape[0] != rows || evk_tensor_row_numel(m) != cols)
        return evk__shape_fail(op, "model output", m, want);
    if (!out || !out->buf.block || out->dtype != EVK_DTYPE_F32 || out->ndim < 1 || out->shape[0] != rows || evk_tensor_row_numel(out) != cols)
        return evk__shape_fail(op, "out", out, want);
    int64_t blocks = (cols + 3) / 4;
    if (rows * blocks > 0xffffffffll || rows * cols > 0xffffffffll) return evk__shape_fail(op, "x", x, "fewer than 2^32 elements");
    if (c != 0.0f && !key) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "%s: a noisy step needs a noise key", op);
    evk_context *ctx = evk_stream_context(st);
    const uint32_t local = 128;
    evk_pipeline_desc desc = {.shader = shader, .binding_count = 3, .push_size = sizeof(evk__axpbz_push), .spec_count = 1, .spec = {local}};
    evk_pipeline *pipe;
    EVK_TRY(evk_pipeline_get(ctx, &desc, &pipe));
    evk__axpbz_push push = {0};
    if (key) {
        push.seed_lo = (uint32_t)key->seed, push.seed_hi = (uint32_t)(key->seed >> 32);
        push.stream0 = key->stream, push.counter = key->counter, push.domain = key->domain;
    }
    push.rows = (uint32_t)rows, push.cols = (uint32_t)cols, push.noisy = c != 0.0f;
    push.a = a, push.b = b, push.c = c;
    evk_binding bind[3];
    EVK_TRY(evk__bind_view(ctx, x, EVK_ACCESS_READ, "x", &bind[0], &push.x_off));
    EVK_TRY(evk__bind_view(ctx, m, EVK_ACCESS_READ, "model output", &bind[1], &push.m_off));
    EVK_TRY(evk__bind_view(ctx, out, EVK_ACCESS_WRITE, "out", &bind[2], &push.o_off));
    evk_dispatch d = {.pipeline = pipe, .bindings = bind, .binding_count = 3, .push = &push, .push_size = sizeof push};
    evk__grid_1d((uint64_t)(rows * blocks), local, d.groups);
    return evk_stream_dispatch(st, &d);
}

evk_status evk__axpbz_dispatch(evk_stream *st, const char *op, const evk_tensor *x, const evk_tensor *m, const evk_tensor *out,
                               float a, float b, float c, const evk_noise_key *key) {
    return evk__axpbz_run(st, op, "sampler_step", x, m, out, a, b, c, key);
}

evk_status evk_op_axpbz(evk_stream *st, const evk_tensor *x, const evk_tensor *m, float a, float b, float c,
                        const evk_noise_key *key, const evk_tensor *out) {
    return evk__axpbz_run(st, "axpbz", "sampler_step", x, m, out, a, b, c, key);
}

evk_status evk_op_guidance_combine(evk_stream *st, const evk_tensor *cond, const evk_tensor *uncond, float w, const evk_tensor *out) {
    return evk__axpbz_run(st, "guidance", "sampler_cfg", cond, uncond, out, w, 0.0f, 0.0f, NULL);
}
