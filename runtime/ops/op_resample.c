/* op_resample.c — shape checks and dispatch of shaders/layout/resample.comp. */
#include "ops/op_resample.h"

#include <stdbool.h>

#include "ops/ops_internal.h"

static evk_status evk__resample(evk_stream *s, const char *op, uint32_t mode, const evk_tensor *x, const evk_tensor *out) {
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
    evk_context *ctx = evk_stream_context(s);
    evk_pipeline_desc desc = {.shader = "resample", .binding_count = 2, .push_size = 20, .spec_count = 2, .spec = {256, mode}};
    evk_pipeline *pipe;
    EVK_TRY(evk_pipeline_get(ctx, &desc, &pipe));
    /* whole planes per dispatch, so no binding passes the device's limit (maxStorageBufferRange:
     * 128 MiB on lavapipe, less than a 256-channel 512x512 map) and chunk offsets stay aligned */
    const evk_device_info *info = evk_context_device(ctx);
    const uint64_t in_plane = (uint64_t)(H * W) * 4, out_plane = (uint64_t)(OH * OW) * 4;
    const uint64_t planes = (uint64_t)(evk_tensor_numel(x) / (H * W));
    uint64_t align = info->min_storage_buffer_offset_alignment < 4 ? 4 : info->min_storage_buffer_offset_alignment;
    uint64_t cap = info->max_storage_buffer_range > 0xffffffffull ? 0xffffffffull : info->max_storage_buffer_range;
    uint64_t step = 1;
    while ((step * in_plane) % align || (step * out_plane) % align) step++;
    uint64_t widest = in_plane > out_plane ? in_plane : out_plane;
    uint64_t chunk = cap / widest / step * step;
    if (chunk == 0)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "%s: one %lldx%lld plane exceeds the device's binding limit of %llu bytes",
                        op, (long long)OH, (long long)OW, (unsigned long long)cap);
    for (uint64_t p0 = 0; p0 < planes; p0 += chunk) {
        uint64_t np = planes - p0 < chunk ? planes - p0 : chunk;
        evk_binding bind[2] = {{.buffer = x->buf, .offset = p0 * in_plane, .range = np * in_plane, .access = EVK_ACCESS_READ},
                               {.buffer = out->buf, .offset = p0 * out_plane, .range = np * out_plane, .access = EVK_ACCESS_WRITE}};
        struct { uint32_t count, h, w, oh, ow; } push = {(uint32_t)(np * out_plane / 4), (uint32_t)H, (uint32_t)W, (uint32_t)OH, (uint32_t)OW};
        evk_dispatch d = {.pipeline = pipe, .bindings = bind, .binding_count = 2, .push = &push, .push_size = sizeof push, .label = op};
        evk__grid_1d(push.count, 256, d.groups);
        EVK_TRY(evk_stream_dispatch(s, &d));
    }
    return EVK_OK;
}

evk_status evk_op_upsample_nearest2x(evk_stream *s, const evk_tensor *x, const evk_tensor *out) {
    return evk__resample(s, "upsample_nearest2x", 0, x, out);
}

evk_status evk_op_avgpool2x2(evk_stream *s, const evk_tensor *x, const evk_tensor *out) {
    return evk__resample(s, "avgpool2x2", 1, x, out);
}
