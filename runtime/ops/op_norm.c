/* op_norm.c — shape checks and dispatch of the row-reduction kernels in shaders/norm/norm.comp (group
 * norm, layer norm, softmax), choosing the CPU build (texel reads, one subgroup per row) on CPU
 * devices whose subgroup size is fixed and whose rows split into whole vec4s. */
#include "ops/op_norm.h"

#include "ops/ops_internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static bool evk__norm_same_shape(const evk_tensor *a, const evk_tensor *b) {
    if (a->ndim != b->ndim) return false;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i]) return false;
    return true;
}

static evk_status evk__norm_check_vec(const char *op, const char *name, const evk_tensor *t, int64_t n) {
    EVK_TRY(evk__check_f32(op, name, t));
    if (evk_tensor_numel(t) != n) {
        char sb[96];
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "%s: %s has shape %s, expected %lld elements", op, name,
                        evk_tensor_shape_str(t, sb, sizeof sb), (long long)n);
    }
    return EVK_OK;
}

static evk_status evk__norm_check_out(const char *op, const evk_tensor *x, const evk_tensor *out) {
    EVK_TRY(evk__check_f32(op, "out", out));
    if (!evk__norm_same_shape(x, out)) {
        char a[96], b[96];
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "%s: out has shape %s, expected %s like x", op,
                        evk_tensor_shape_str(out, a, sizeof a), evk_tensor_shape_str(x, b, sizeof b));
    }
    return EVK_OK;
}

typedef struct evk__row_job {
    const char *base;         /* "norm_group", "norm_group_affine", "norm_layer", "norm_softmax" */
    const evk_tensor *x, *gamma, *beta, *out;
    bool affine_out;          /* norm_group_affine: out is [N, C, 2], bound whole, indexed by the global row */
    uint64_t rows, len, inner, cpg, groups;
    float eps;
    uint32_t act;
} evk__row_job;

static evk_status evk__row_dispatch(evk_stream *s, const evk__row_job *j) {
    evk_context *ctx = evk_stream_context(s);
    const evk_device_info *info = evk_context_device(ctx);
    /* Rows per dispatch: a tensor larger than one binding (maxStorageBufferRange, 128 MiB on
     * lavapipe; a VAE feature map at 512x512 is bigger) is split into row ranges whose byte
     * offsets keep the binding alignment. */
    const uint64_t row_bytes = j->len * 4;
    uint64_t align = info->min_storage_buffer_offset_alignment > info->min_texel_buffer_offset_alignment
                         ? info->min_storage_buffer_offset_alignment : info->min_texel_buffer_offset_alignment;
    if (align < 4) align = 4;
    uint64_t cap = info->max_storage_buffer_range;
    if ((uint64_t)info->max_texel_buffer_elements * 16 < cap) cap = (uint64_t)info->max_texel_buffer_elements * 16;
    if (cap > 0xffffffffull) cap = 0xffffffffull; /* 32-bit indexing inside a dispatch */
    uint64_t step = align / evk__gcd(row_bytes, align);
    uint64_t chunk = cap / row_bytes / step * step;
    if (chunk == 0)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "%s: one row of %llu bytes exceeds the device's binding limit (%llu bytes)",
                        j->base, (unsigned long long)row_bytes, (unsigned long long)cap);
    bool cpu = evk_context_is_cpu(ctx) && info->features.subgroup_arithmetic && info->subgroup_size >= 4 &&
               info->min_subgroup_size == info->max_subgroup_size && info->subgroup_size == info->max_subgroup_size &&
               j->len % 4 == 0 && j->inner % 4 == 0 &&
               j->x->buf.offset % (info->min_texel_buffer_offset_alignment ? info->min_texel_buffer_offset_alignment : 1) == 0;
    char name[64];
    snprintf(name, sizeof name, "%s%s", j->base, cpu ? "_cpu" : "");
    const bool affine = j->gamma != NULL;
    evk_pipeline_desc desc = {.shader = name, .binding_count = affine ? 4 : 2, .push_size = 28, .spec_count = 2,
                              .spec = {cpu ? info->subgroup_size : 256u, j->act}};
    if (cpu) desc.kinds[0] = EVK_BINDING_TEXEL_RGBA32F;
    evk_pipeline *pipe;
    EVK_TRY(evk_pipeline_get(ctx, &desc, &pipe));
    for (uint64_t row0 = 0; row0 < j->rows; row0 += chunk) {
        uint64_t rows = j->rows - row0 < chunk ? j->rows - row0 : chunk;
        evk_binding b[4] = {
            {.buffer = j->x->buf, .offset = row0 * row_bytes, .range = rows * row_bytes, .access = EVK_ACCESS_READ},
            {.buffer = j->out->buf, .offset = j->affine_out ? 0 : row0 * row_bytes, .range = j->affine_out ? evk_tensor_bytes(j->out) : rows * row_bytes,
             .access = EVK_ACCESS_WRITE},
        };
        if (affine) {
            b[2] = (evk_binding){.buffer = j->gamma->buf, .range = evk_tensor_bytes(j->gamma), .access = EVK_ACCESS_READ};
            b[3] = (evk_binding){.buffer = j->beta->buf, .range = evk_tensor_bytes(j->beta), .access = EVK_ACCESS_READ};
        }
        struct { uint32_t rows, len, inner, cpg, groups; float eps; uint32_t row0; } push = {
            (uint32_t)rows, (uint32_t)j->len, (uint32_t)j->inner, (uint32_t)j->cpg, (uint32_t)j->groups, j->eps, (uint32_t)row0};
        evk_dispatch d = {.pipeline = pipe, .bindings = b, .binding_count = desc.binding_count, .push = &push,
                          .push_size = sizeof push, .label = name};
        d.groups[0] = rows < 65535 ? (uint32_t)rows : 65535u;
        d.groups[1] = (uint32_t)((rows + d.groups[0] - 1) / d.groups[0]);
        d.groups[2] = 1;
        EVK_TRY(evk_stream_dispatch(s, &d));
    }
    return EVK_OK;
}

/* The checks and the row job both group-norm ops share; *done: nothing to compute (empty x). */
static evk_status evk__group_norm_job(const char *op, const evk_tensor *x, const evk_tensor *gamma, const evk_tensor *beta, uint32_t groups,
                                      float eps, evk__row_job *j, bool *done) {
    EVK_TRY(evk__check_f32(op, "x", x));
    if (x->ndim < 2) {
        char sb[96];
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "%s: x has shape %s, expected [N, C, spatial...]", op,
                        evk_tensor_shape_str(x, sb, sizeof sb));
    }
    const int64_t N = x->shape[0], C = x->shape[1];
    int64_t S = 1;
    for (int i = 2; i < x->ndim; i++) S *= x->shape[i];
    if (groups == 0 || C % groups != 0)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "%s: %lld channels do not split into %u groups", op, (long long)C, groups);
    if (!(eps > 0.0f) || !isfinite(eps)) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "%s: eps %g must be positive", op, eps);
    EVK_TRY(evk__norm_check_vec(op, "gamma", gamma, C));
    EVK_TRY(evk__norm_check_vec(op, "beta", beta, C));
    *done = N * C * S == 0;
    *j = (evk__row_job){.base = "norm_group", .x = x, .gamma = gamma, .beta = beta, .rows = (uint64_t)(N * groups),
                        .len = (uint64_t)(C / groups * S), .inner = (uint64_t)S, .cpg = (uint64_t)(C / groups), .groups = groups, .eps = eps};
    return EVK_OK;
}

evk_status evk_op_group_norm(evk_stream *s, const evk_tensor *x, const evk_tensor *gamma, const evk_tensor *beta,
                             uint32_t groups, float eps, bool silu, const evk_tensor *out) {
    evk__row_job j;
    bool done = false;
    EVK_TRY(evk__group_norm_job("group_norm", x, gamma, beta, groups, eps, &j, &done));
    EVK_TRY(evk__norm_check_out("group_norm", x, out));
    if (done) return EVK_OK;
    j.out = out;
    j.act = silu ? 1u : 0u;
    return evk__row_dispatch(s, &j);
}

evk_status evk_op_group_norm_affine(evk_stream *s, const evk_tensor *x, const evk_tensor *gamma, const evk_tensor *beta,
                                    uint32_t groups, float eps, const evk_tensor *out) {
    const char *op = "group_norm_affine";
    evk__row_job j;
    bool done = false;
    EVK_TRY(evk__group_norm_job(op, x, gamma, beta, groups, eps, &j, &done));
    EVK_TRY(evk__check_f32(op, "out", out));
    if (out->ndim != 3 || out->shape[0] != x->shape[0] || out->shape[1] != x->shape[1] || out->shape[2] != 2) {
        char sb[96];
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "%s: out has shape %s, expected [%lld, %lld, 2]", op, evk_tensor_shape_str(out, sb, sizeof sb),
                        (long long)x->shape[0], (long long)x->shape[1]);
    }
    if (evk__ranges_overlap(out, x)) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "%s: out overlaps x", op);
    if (done) return EVK_OK;
    j.base = "norm_group_affine";
    j.out = out;
    j.affine_out = true;
    return evk__row_dispatch(s, &j);
}

evk_status evk_op_layer_norm(evk_stream *s, const evk_tensor *x, const evk_tensor *gamma, const evk_tensor *beta,
                             float eps, const evk_tensor *out) {
    const char *op = "layer_norm";
    EVK_TRY(evk__check_f32(op, "x", x));
    if (x->ndim < 1) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "%s: x has no dims", op);
    const int64_t F = x->shape[x->ndim - 1];
    if (!(eps > 0.0f) || !isfinite(eps)) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "%s: eps %g must be positive", op, eps);
    EVK_TRY(evk__norm_check_vec(op, "gamma", gamma, F));
    EVK_TRY(evk__norm_check_vec(op, "beta", beta, F));
    EVK_TRY(evk__norm_check_out(op, x, out));
    int64_t n = evk_tensor_numel(x);
    if (n == 0) return EVK_OK;
    evk__row_job j = {.base = "norm_layer", .x = x, .gamma = gamma, .beta = beta, .out = out, .rows = (uint64_t)(n / F),
                      .len = (uint64_t)F, .inner = (uint64_t)F, .cpg = 1, .groups = 1, .eps = eps};
    return evk__row_dispatch(s, &j);
}

evk_status evk_op_rms_norm(evk_stream *s, const evk_tensor *x, const evk_tensor *gamma, float eps, const evk_tensor *out) {
    const char *op = "rms_norm";
    EVK_TRY(evk__check_f32(op, "x", x));
    if (x->ndim < 1) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "%s: x has no dims", op);
    const int64_t F = x->shape[x->ndim - 1];
    if (!(eps > 0.0f) || !isfinite(eps)) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "%s: eps %g must be positive", op, eps);
    EVK_TRY(evk__norm_check_vec(op, "gamma", gamma, F));
    EVK_TRY(evk__norm_check_out(op, x, out));
    int64_t n = evk_tensor_numel(x);
    if (n == 0) return EVK_OK;
    /* the kernel's beta binding is not read by the RMS build: gamma fills it */
    evk__row_job j = {.base = "norm_rms", .x = x, .gamma = gamma, .beta = gamma, .out = out, .rows = (uint64_t)(n / F),
                      .len = (uint64_t)F, .inner = (uint64_t)F, .cpg = 1, .groups = 1, .eps = eps};
    return evk__row_dispatch(s, &j);
}

evk_status evk_op_softmax(evk_stream *s, const evk_tensor *x, const evk_tensor *out) {
    const char *op = "softmax";
    EVK_TRY(evk__check_f32(op, "x", x));
    if (x->ndim < 1) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "%s: x has no dims", op);
    EVK_TRY(evk__norm_check_out(op, x, out));
    const int64_t F = x->shape[x->ndim - 1];
    int64_t n = evk_tensor_numel(x);
    if (n == 0) return EVK_OK;
    evk__row_job j = {.base = "norm_softmax", .x = x, .out = out, .rows = (uint64_t)(n / F), .len = (uint64_t)F,
                      .inner = (uint64_t)F, .cpg = 1, .groups = 1};
    return evk__row_dispatch(s, &j);
}
