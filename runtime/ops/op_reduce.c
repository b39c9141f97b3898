/* op_reduce.c — row views, per-row reductions, cosine similarity, argmax and top-k
 * (shaders/reduce/reduce.comp and shaders/reduce/reduce_select.comp). */
#include "ops/op_reduce.h"

#include <stdio.h>
#include <string.h>

#include "ops/ops_internal.h"

int64_t evk_tensor_row_numel(const evk_tensor *t) {
    if (t->ndim < 1 || t->shape[0] <= 0) return 0;
    return evk_tensor_numel(t) / t->shape[0];
}

evk_status evk_tensor_rows(const evk_tensor *t, int64_t row0, int64_t rows, evk_tensor *out) {
    if (!t || t->ndim < 1 || row0 < 0 || rows <= 0 || row0 + rows > t->shape[0])
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "row view [%lld, %lld) outside a tensor of %lld rows", (long long)row0,
                        (long long)(row0 + rows), (long long)(t && t->ndim ? t->shape[0] : 0));
    uint64_t row_bytes = (uint64_t)evk_tensor_row_numel(t) * evk_dtype_size(t->dtype);
    evk_tensor v = *t;
    v.shape[0] = rows;
    v.buf.offset += (uint64_t)row0 * row_bytes;
    v.buf.size = (uint64_t)rows * row_bytes;
    *out = v;
    return EVK_OK;
}

evk_status evk__shape_fail(const char *op, const char *what, const evk_tensor *t, const char *expect) {
    char sh[128];
    if (!t || !t->buf.block) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "%s: %s is missing, expected %s", op, what, expect);
    return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "%s: %s is %s %s, expected %s", op, what, evk_dtype_name(t->dtype),
                    evk_tensor_shape_str(t, sh, sizeof sh), expect);
}

evk_status evk__bind_view(evk_context *ctx, const evk_tensor *t, evk_access access, const char *what, evk_binding *b,
                          uint32_t *elem_offset) {
    if (!t || !t->buf.block) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "%s: no tensor", what);
    if (evk_dtype_size(t->dtype) != 4) return evk__shape_fail("binding", what, t, "a 32-bit dtype");
    uint64_t bytes = evk_tensor_bytes(t);
    if (bytes > t->buf.size) return evk__shape_fail("binding", what, t, "a shape that fits its buffer");
    uint64_t align = evk_context_device(ctx)->min_storage_buffer_offset_alignment;
    if (align < 4) align = 4;
    uint64_t start = t->buf.offset, base = start - start % align, delta = start - base;
    if (delta % 4) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "%s: offset %llu is not a multiple of 4 bytes", what, (unsigned long long)start);
    memset(b, 0, sizeof *b);
    b->buffer = t->buf;
    b->buffer.offset = base;
    b->buffer.size = bytes + delta;
    b->offset = 0;
    b->range = bytes + delta;
    b->access = access;
    *elem_offset = (uint32_t)(delta / 4);
    return EVK_OK;
}

static int evk__is_f32(const evk_tensor *t) { return t && t->buf.block && t->dtype == EVK_DTYPE_F32 && t->ndim >= 1; }

/* Workgroup-per-row grid: row = group.x + group.y * groups.x. */
static void evk__grid_rows(uint64_t rows, uint32_t groups[3]) { evk__grid_1d(rows, 1, groups); }

static evk_status evk__rows_dispatch(evk_stream *s, const char *shader, uint32_t mode, const evk_tensor *a, const evk_tensor *b,
                                     const evk_tensor *out, uint32_t rows, uint32_t cols, uint32_t b_shared) {
    evk_context *ctx = evk_stream_context(s);
    const uint32_t local = 64;
    uint32_t nb = b ? 3 : 2;
    evk_pipeline_desc desc = {.shader = shader, .binding_count = nb, .push_size = 24, .spec_count = 2, .spec = {local, mode}};
    evk_pipeline *pipe;
    EVK_TRY(evk_pipeline_get(ctx, &desc, &pipe));
    evk_binding bind[3];
    uint32_t off[3] = {0, 0, 0};
    EVK_TRY(evk__bind_view(ctx, a, EVK_ACCESS_READ, "input", &bind[0], &off[0]));
    if (b) EVK_TRY(evk__bind_view(ctx, b, EVK_ACCESS_READ, "second input", &bind[1], &off[1]));
    EVK_TRY(evk__bind_view(ctx, out, EVK_ACCESS_WRITE, "output", &bind[nb - 1], &off[2]));
    struct { uint32_t rows, cols, a_off, b_off, out_off, b_shared; } push = {rows, cols, off[0], off[1], off[2], b_shared};
    evk_dispatch d = {.pipeline = pipe, .bindings = bind, .binding_count = nb, .push = &push, .push_size = sizeof push};
    evk__grid_rows(rows, d.groups);
    return evk_stream_dispatch(s, &d);
}

evk_status evk_op_reduce_rows(evk_stream *s, const evk_tensor *x, evk_reduce_op op, const evk_tensor *out) {
    if (!evk__is_f32(x)) return evk__shape_fail("reduce_rows", "x", x, "an f32 tensor");
    if ((unsigned)op > EVK_REDUCE_MAX) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "reduce_rows: unknown reduction %d", (int)op);
    int64_t rows = x->shape[0], cols = evk_tensor_row_numel(x);
    char want[64];
    snprintf(want, sizeof want, "f32 with %lld elements", (long long)rows);
    if (!evk__is_f32(out) || evk_tensor_numel(out) != rows) return evk__shape_fail("reduce_rows", "out", out, want);
    if (rows > 0xffffffffll || cols > 0xffffffffll) return evk__shape_fail("reduce_rows", "x", x, "fewer than 2^32 rows and columns");
    return evk__rows_dispatch(s, "reduce_rows", (uint32_t)op, x, NULL, out, (uint32_t)rows, (uint32_t)cols, 0);
}

evk_status evk_op_cosine_rows(evk_stream *s, const evk_tensor *a, const evk_tensor *b, const evk_tensor *out) {
    if (!evk__is_f32(a)) return evk__shape_fail("cosine_rows", "a", a, "an f32 tensor");
    int64_t rows = a->shape[0], cols = evk_tensor_row_numel(a);
    char want[96];
    snprintf(want, sizeof want, "f32 with %lld or 1 rows of %lld elements", (long long)rows, (long long)cols);
    if (!evk__is_f32(b) || evk_tensor_row_numel(b) != cols || (b->shape[0] != rows && b->shape[0] != 1))
        return evk__shape_fail("cosine_rows", "b", b, want);
    snprintf(want, sizeof want, "f32 with %lld elements", (long long)rows);
    if (!evk__is_f32(out) || evk_tensor_numel(out) != rows) return evk__shape_fail("cosine_rows", "out", out, want);
    if (rows > 0xffffffffll || cols > 0xffffffffll) return evk__shape_fail("cosine_rows", "a", a, "fewer than 2^32 rows and columns");
    return evk__rows_dispatch(s, "reduce_cosine", 0, a, b, out, (uint32_t)rows, (uint32_t)cols, b->shape[0] == 1 && rows != 1);
}

static int evk__is_index(const evk_tensor *t) {
    return t && t->buf.block && (t->dtype == EVK_DTYPE_U32 || t->dtype == EVK_DTYPE_I32) && t->ndim >= 1;
}

static evk_status evk__select_dispatch(evk_stream *s, const char *shader, const evk_tensor *in, const evk_tensor *o1,
                                       const evk_tensor *o2, const void *push, uint32_t push_size, uint64_t invocations,
                                       uint32_t local, evk_access o1_access) {
    evk_context *ctx = evk_stream_context(s);
    evk_pipeline_desc desc = {.shader = shader, .binding_count = 3, .push_size = push_size, .spec_count = 1, .spec = {local}};
    evk_pipeline *pipe;
    EVK_TRY(evk_pipeline_get(ctx, &desc, &pipe));
    evk_binding bind[3];
    uint32_t off[3];
    EVK_TRY(evk__bind_view(ctx, in, EVK_ACCESS_READ, "input", &bind[0], &off[0]));
    EVK_TRY(evk__bind_view(ctx, o1, o1_access, "first output", &bind[1], &off[1]));
    EVK_TRY(evk__bind_view(ctx, o2, EVK_ACCESS_WRITE, "second output", &bind[2], &off[2]));
    uint32_t p[16];
    memcpy(p, push, push_size);
    p[0] = off[0], p[1] = off[1], p[2] = off[2]; /* every select push starts with the three offsets */
    evk_dispatch d = {.pipeline = pipe, .bindings = bind, .binding_count = 3, .push = p, .push_size = push_size};
    evk__grid_1d(invocations, local, d.groups);
    return evk_stream_dispatch(s, &d);
}

evk_status evk_op_argmax(evk_stream *s, const evk_tensor *x, const evk_tensor *index, const evk_tensor *value) {
    if (!evk__is_f32(x) || evk_tensor_numel(x) > 0xffffffffll) return evk__shape_fail("argmax", "x", x, "an f32 tensor");
    if (!evk__is_index(index)) return evk__shape_fail("argmax", "index", index, "u32 with at least 1 element");
    if (!evk__is_f32(value)) return evk__shape_fail("argmax", "value", value, "f32 with at least 1 element");
    evk_tensor i1 = *index, v1 = *value;
    i1.ndim = v1.ndim = 1;
    i1.shape[0] = v1.shape[0] = 1;
    struct { uint32_t x_off, i_off, v_off, n; } push = {0, 0, 0, (uint32_t)evk_tensor_numel(x)};
    /* one workgroup scans everything: the arrays ranked in a search are a few thousand long */
    return evk__select_dispatch(s, "reduce_select_argmax", x, &i1, &v1, &push, sizeof push, 256, 256, EVK_ACCESS_WRITE);
}

evk_status evk_op_topk(evk_stream *s, const evk_tensor *x, uint32_t k, const evk_tensor *indices, const evk_tensor *values) {
    if (!evk__is_f32(x)) return evk__shape_fail("topk", "x", x, "an f32 tensor");
    int64_t n = evk_tensor_numel(x);
    if (n > (int64_t)EVK_TOPK_MAX) return evk__shape_fail("topk", "x", x, "at most 2^20 elements");
    if (k == 0 || k > n)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "topk: k = %u, expected 1..%lld (the number of elements)", k, (long long)n);
    char want[64];
    snprintf(want, sizeof want, "u32 with at least %u elements", k);
    if (!evk__is_index(indices) || evk_tensor_numel(indices) < k) return evk__shape_fail("topk", "indices", indices, want);
    snprintf(want, sizeof want, "f32 with at least %u elements", k);
    if (!evk__is_f32(values) || evk_tensor_numel(values) < k) return evk__shape_fail("topk", "values", values, want);
    evk_tensor ik = *indices, vk = *values;
    ik.ndim = vk.ndim = 1;
    ik.shape[0] = vk.shape[0] = k;
    struct { uint32_t x_off, i_off, v_off, n, k; } push = {0, 0, 0, (uint32_t)n, k};
    return evk__select_dispatch(s, "reduce_select_topk", x, &ik, &vk, &push, sizeof push, (uint64_t)n, 128, EVK_ACCESS_WRITE);
}

