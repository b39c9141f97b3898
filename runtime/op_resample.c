/* op_resample.c — shape checks and dispatch of shaders/resample.comp. */
#include "op_resample.h"

#include <stdbool.h>

#include "op_fill.h" /* evk_grid_1d */

static evk_status _evk_resample(evk_stream *s, const char *op, uint32_t mode, const evk_tensor *x, const evk_tensor *out) {
    if (!x || !out) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "%s: x and out are required", op);
    char a[96], b[96];
    if (x->dtype != EVK_DTYPE_F32 || x->ndim < 2)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "%s: x has shape %s (%s), expected f32 [..., H, W]", op,
                        evk_tensor_shape_str(x, a, sizeof a), evk_dtype_name(x->dtype));
    const int nd = x->ndim;
    const int64_t H = x->shape[nd - 2], W = x->shape[nd - 1];
    const int64_t OH = mode == 0 ? 2 * H : H / 2, OW = mode == 0 ? 2 * W : W / 2;
    bool ok = out->dtype == EVK_DTYPE_F32 && out->ndim == nd && out->shape[nd - 2] == OH && out->shape[nd - 1] == OW;
    for (int i = 0; ok && i < nd - 2; i++) ok = out->shape[i] == x->shape[i];
    if (!ok || (mode == 1 && (H < 2 || W < 2)))
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "%s: x %s gives out [..., %lld, %lld], found %s (%s)", op,
                        evk_tensor_shape_str(x, a, sizeof a), (long long)OH, (long long)OW,
                        evk_tensor_shape_str(out, b, sizeof b), evk_dtype_name(out->dtype));
    int64_t count = evk_tensor_numel(out);
    if (count == 0) return EVK_OK;
    if (count > 0xffffffffLL || evk_tensor_numel(x) > 0xffffffffLL)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "%s: %lld outputs exceed 32-bit indexing", op, (long long)count);
    evk_pipeline_desc desc = {.shader = "resample", .binding_count = 2, .push_size = 20, .spec_count = 2, .spec = {256, mode}};
    evk_pipeline *pipe;
    EVK_TRY(evk_pipeline_get(evk_stream_context(s), &desc, &pipe));
    evk_binding bind[2] = {{.buffer = x->buf, .range = evk_tensor_bytes(x), .access = EVK_ACCESS_READ},
                           {.buffer = out->buf, .range = evk_tensor_bytes(out), .access = EVK_ACCESS_WRITE}};
    struct { uint32_t count, h, w, oh, ow; } push = {(uint32_t)count, (uint32_t)H, (uint32_t)W, (uint32_t)OH, (uint32_t)OW};
    evk_dispatch d = {.pipeline = pipe, .bindings = bind, .binding_count = 2, .push = &push, .push_size = sizeof push, .label = op};
    evk_grid_1d((uint64_t)count, 256, d.groups);
    return evk_stream_dispatch(s, &d);
}

evk_status evk_op_upsample_nearest2x(evk_stream *s, const evk_tensor *x, const evk_tensor *out) {
    return _evk_resample(s, "upsample_nearest2x", 0, x, out);
}

evk_status evk_op_avgpool2x2(evk_stream *s, const evk_tensor *x, const evk_tensor *out) {
    return _evk_resample(s, "avgpool2x2", 1, x, out);
}
