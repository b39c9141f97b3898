/* op_layout.c — C entries of the layout kernels (shaders/layout/layout.comp). */
#include "ops/op_layout.h"

#include "ops/ops_internal.h"

static const uint32_t EVK__LAYOUT_LOCAL = 256;

static evk_status evk__layout_dispatch(evk_stream *s, const char *shader, uint32_t nb, const evk_binding *b,
                                       const void *push, uint32_t push_size, uint64_t count) {
    evk_pipeline *pipe;
    evk_pipeline_desc desc = {.shader = shader, .binding_count = nb, .push_size = push_size, .spec_count = 1,
                              .spec = {EVK__LAYOUT_LOCAL}};
    EVK_TRY(evk_pipeline_get(evk_stream_context(s), &desc, &pipe));
    evk_dispatch d = {.pipeline = pipe, .bindings = b, .binding_count = nb, .push = push, .push_size = push_size};
    evk__grid_1d(count, EVK__LAYOUT_LOCAL, d.groups);
    return evk_stream_dispatch(s, &d);
}

evk_status evk_op_transpose(evk_stream *s, const evk_tensor *x, int64_t batch, int64_t rows, int64_t cols, evk_tensor *y) {
    int64_t n = batch * rows * cols;
    if (batch <= 0 || rows <= 0 || cols <= 0 || n != evk_tensor_numel(x) || n != evk_tensor_numel(y) ||
        x->dtype != EVK_DTYPE_F32 || y->dtype != EVK_DTYPE_F32 || n > 0xffffffffll)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT,
                        "transpose: [%lld, %lld, %lld] does not match x (%lld elements, %s) and y (%lld elements, %s)",
                        (long long)batch, (long long)rows, (long long)cols, (long long)evk_tensor_numel(x),
                        evk_dtype_name(x->dtype), (long long)evk_tensor_numel(y), evk_dtype_name(y->dtype));
    evk_binding b[2] = {{.buffer = x->buf, .access = EVK_ACCESS_READ}, {.buffer = y->buf, .access = EVK_ACCESS_WRITE}};
    uint32_t push[3] = {(uint32_t)batch, (uint32_t)rows, (uint32_t)cols};
    return evk__layout_dispatch(s, "layout_transpose", 2, b, push, sizeof push, (uint64_t)n);
}

evk_status evk_op_gather_rows(evk_stream *s, const evk_tensor *table, const evk_tensor *index, evk_tensor *y) {
    if (table->ndim != 2 || table->dtype != EVK_DTYPE_F32 || index->dtype != EVK_DTYPE_I32 || y->dtype != EVK_DTYPE_F32 ||
        y->ndim != 2 || y->shape[0] != evk_tensor_numel(index) || y->shape[1] != table->shape[1])
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT,
                        "gather_rows: table must be f32 [R, W], index i32 [N], y f32 [N, W]; got table rank %d (%s), "
                        "index %lld (%s), y rank %d", table->ndim, evk_dtype_name(table->dtype),
                        (long long)evk_tensor_numel(index), evk_dtype_name(index->dtype), y->ndim);
    /* tables beyond one binding (CLIP's 49408×768 token embedding is 145 MiB; lavapipe binds
     * 128 MiB) are gathered in row windows, each dispatch writing the rows it holds */
    const evk_device_info *info = evk_context_device(evk_stream_context(s));
    uint64_t row_bytes = (uint64_t)table->shape[1] * 4, align = info->min_storage_buffer_offset_alignment;
    uint64_t total = (uint64_t)table->shape[0], per = info->max_storage_buffer_range / row_bytes;
    while (per > 1 && (per * row_bytes) % align) per--;
    if (per == 0 || (per * row_bytes) % align)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "gather_rows: rows of %llu bytes cannot be bound (range %llu, alignment %llu)",
                        (unsigned long long)row_bytes, (unsigned long long)info->max_storage_buffer_range, (unsigned long long)align);
    for (uint64_t r0 = 0; r0 < total; r0 += per) {
        uint64_t n = total - r0 < per ? total - r0 : per;
        evk_binding b[3] = {{.buffer = table->buf, .offset = r0 * row_bytes, .range = n * row_bytes, .access = EVK_ACCESS_READ},
                            {.buffer = index->buf, .access = EVK_ACCESS_READ},
                            {.buffer = y->buf, .access = EVK_ACCESS_WRITE}};
        uint32_t push[5] = {(uint32_t)y->shape[0], (uint32_t)y->shape[1], (uint32_t)n, (uint32_t)r0, (uint32_t)total};
        EVK_TRY(evk__layout_dispatch(s, "layout_gather", 3, b, push, sizeof push, (uint64_t)evk_tensor_numel(y)));
    }
    return EVK_OK;
}


evk_status evk_op_unpatchify(evk_stream *s, const evk_tensor *x, int64_t h, int64_t w, int64_t patch, evk_tensor *y) {
    int64_t B = y->ndim == 4 ? y->shape[0] : 0, C = y->ndim == 4 ? y->shape[1] : 0;
    if (x->dtype != EVK_DTYPE_F32 || y->dtype != EVK_DTYPE_F32 || y->ndim != 4 || h < 1 || w < 1 || patch < 1 ||
        y->shape[2] != h * patch || y->shape[3] != w * patch || evk_tensor_numel(x) != evk_tensor_numel(y) ||
        x->ndim != 3 || x->shape[0] != B || x->shape[1] != h * w || x->shape[2] != patch * patch * C ||
        evk_tensor_numel(y) > 0xffffffffll) {
        char sx[96], sy[96];
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT,
                        "unpatchify: x %s (%s) and y %s (%s) for a %lldx%lld grid of %lld-pixel patches: expected f32 x [B, h*w, p*p*C] "
                        "and y [B, C, h*p, w*p]", evk_tensor_shape_str(x, sx, sizeof sx), evk_dtype_name(x->dtype),
                        evk_tensor_shape_str(y, sy, sizeof sy), evk_dtype_name(y->dtype), (long long)h, (long long)w, (long long)patch);
    }
    evk_binding b[2] = {{.buffer = x->buf, .access = EVK_ACCESS_READ}, {.buffer = y->buf, .access = EVK_ACCESS_WRITE}};
    uint32_t push[5] = {(uint32_t)B, (uint32_t)C, (uint32_t)h, (uint32_t)w, (uint32_t)patch};
    return evk__layout_dispatch(s, "layout_unpatchify", 2, b, push, sizeof push, (uint64_t)evk_tensor_numel(y));
}
