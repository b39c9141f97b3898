/* op_embedding.c — checks and dispatch of shaders/embedding/embedding.comp. The frequency ratio
 * base = e^(−ln(max_period)/(half − shift)) is computed here in double and handed to the kernel as
 * two floats, so every device derives the same frequencies. */
#include "ops/op_embedding.h"

#include <math.h>

#include "ops/ops_internal.h"

evk_status evk_op_timestep_embedding(evk_stream *s, const evk_tensor *timesteps, const evk_embedding_params *params,
                                     const evk_tensor *out) {
    evk_embedding_params none = {0};
    if (!params) params = &none;
    if (!timesteps || !out) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "timestep_embedding: timesteps and out are required");
    char a[96], b[96];
    int64_t n = evk_tensor_numel(timesteps);
    if (timesteps->dtype != EVK_DTYPE_F32 || n < 1 || !(timesteps->ndim == 1 || (timesteps->ndim == 2 && timesteps->shape[1] == 1)))
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "timestep_embedding: timesteps has shape %s (%s), expected f32 [N] or [N, 1]",
                        evk_tensor_shape_str(timesteps, a, sizeof a), evk_dtype_name(timesteps->dtype));
    if (out->dtype != EVK_DTYPE_F32 || out->ndim != 2 || out->shape[0] != n || out->shape[1] < 2)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "timestep_embedding: out has shape %s (%s), expected f32 [%lld, dim >= 2]",
                        evk_tensor_shape_str(out, b, sizeof b), evk_dtype_name(out->dtype), (long long)n);
    const int64_t dim = out->shape[1], half = dim / 2;
    double period = params->max_period != 0.0f ? params->max_period : 10000.0;
    double scale = params->scale != 0.0f ? params->scale : 1.0;
    double denom = (double)half - params->downscale_freq_shift;
    if (!(period > 0.0) || !isfinite(period) || !isfinite(scale) || !isfinite(params->downscale_freq_shift) || denom == 0.0)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT,
                        "timestep_embedding: max_period %g must be positive and dim/2 - shift (%lld - %g) nonzero", period,
                        (long long)half, params->downscale_freq_shift);
    if (n * dim > 0xffffffffLL)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "timestep_embedding: %lld x %lld outputs exceed 32-bit indexing",
                        (long long)n, (long long)dim);
    double base = exp(-log(period) / denom);
    float hi = (float)base, lo = (float)(base - (double)hi);
    evk_context *ctx = evk_stream_context(s);
    evk_pipeline_desc desc = {.shader = "embedding", .binding_count = 2, .push_size = 28, .spec_count = 1, .spec = {64}};
    evk_pipeline *pipe;
    EVK_TRY(evk_pipeline_get(ctx, &desc, &pipe));
    evk_binding bind[2] = {{.buffer = timesteps->buf, .range = evk_tensor_bytes(timesteps), .access = EVK_ACCESS_READ},
                           {.buffer = out->buf, .range = evk_tensor_bytes(out), .access = EVK_ACCESS_WRITE}};
    struct { uint32_t n, dim, half_dim, flip; float base_hi, base_lo, scale; } push = {
        (uint32_t)n, (uint32_t)dim, (uint32_t)half, params->flip_sin_to_cos ? 1u : 0u, hi, lo, (float)scale};
    evk_dispatch d = {.pipeline = pipe, .bindings = bind, .binding_count = 2, .push = &push, .push_size = sizeof push,
                      .label = "timestep_embedding"};
    evk__grid_1d((uint64_t)(n * dim), 64, d.groups);
    return evk_stream_dispatch(s, &d);
}
