/* op_elementwise.c — shape checks and dispatch for shaders/elementwise/activation.comp, elementwise.comp and
 * concat.comp. Activations use the texel-buffer build on CPU devices when the element count (and
 * for gated ones the half width) divides by 4. */
#include "ops/op_elementwise.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>

#include "ops/ops_internal.h"

#define EVK__EW_WG 256u

static const char *const evk__act_names[EVK_ACT_COUNT] = {"silu", "gelu", "gelu_tanh", "quick_gelu", "mish", "relu", "none"};

const char *evk_activation_name(evk_activation act) {
    return (unsigned)act < EVK_ACT_COUNT ? evk__act_names[act] : "unknown";
}

/* Units (elements, rows, slices) per dispatch so that no binding exceeds the device's binding
 * limits (maxStorageBufferRange is 128 MiB on lavapipe; a VAE feature map at 512x512 is larger)
 * and every chunk's byte offset keeps the binding alignment. unit_bytes[i] is binding i's bytes per
 * unit (0: the binding is not split). `multiple` forces a multiple of that many units. Returns 0
 * (with a message) when even one unit does not fit. */
static uint64_t evk__ew_chunk_units(const char *op, evk_context *ctx, const uint64_t *unit_bytes, int n, uint64_t multiple) {
    const evk_device_info *info = evk_context_device(ctx);
    uint64_t align = info->min_storage_buffer_offset_alignment > info->min_texel_buffer_offset_alignment
                         ? info->min_storage_buffer_offset_alignment : info->min_texel_buffer_offset_alignment;
    if (align < 4) align = 4;
    uint64_t cap = info->max_storage_buffer_range;
    if ((uint64_t)info->max_texel_buffer_elements * 16 < cap) cap = (uint64_t)info->max_texel_buffer_elements * 16;
    if (cap > 0xffffffffull) cap = 0xffffffffull;
    uint64_t step = multiple ? multiple : 1, widest = 0;
    for (int i = 0; i < n; i++) {
        if (!unit_bytes[i]) continue;
        uint64_t m = align / evk__gcd(unit_bytes[i], align);
        step = step / evk__gcd(step, m) * m;
        if (unit_bytes[i] > widest) widest = unit_bytes[i];
    }
    uint64_t units = widest ? cap / widest / step * step : UINT64_MAX;
    if (units == 0) evk_fail(EVK_ERROR_INVALID_ARGUMENT, "%s: a unit of %llu bytes (x%llu for alignment) exceeds the device's binding limit of %llu bytes",
                             op, (unsigned long long)widest, (unsigned long long)step, (unsigned long long)cap);
    return units;
}

static evk_status evk__ew_same(const char *op, const char *name, const evk_tensor *t, const evk_tensor *like,
                               const char *like_name) {
    bool same = t->ndim == like->ndim;
    for (int i = 0; same && i < t->ndim; i++) same = t->shape[i] == like->shape[i];
    if (!same) {
        char a[96], b[96];
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "%s: %s has shape %s, expected %s like %s", op, name,
                        evk_tensor_shape_str(t, a, sizeof a), evk_tensor_shape_str(like, b, sizeof b), like_name);
    }
    return EVK_OK;
}

static evk_status evk__ew_unary(evk_stream *s, const char *op, uint32_t code, uint32_t gated, const evk_tensor *x,
                                const evk_tensor *out, uint64_t count, uint64_t width, float alpha, float beta) {
    if (count == 0) return EVK_OK;
    evk_context *ctx = evk_stream_context(s);
    const evk_device_info *info = evk_context_device(ctx);
    uint32_t align = info->min_texel_buffer_offset_alignment ? info->min_texel_buffer_offset_alignment : 1;
    bool cpu = evk_context_is_cpu(ctx) && count % 4 == 0 && (!gated || width % 4 == 0) && x->buf.offset % align == 0;
    evk_pipeline_desc desc = {.shader = cpu ? "activation_cpu" : "activation_any", .binding_count = 2, .push_size = 16,
                              .spec_count = 3, .spec = {EVK__EW_WG, code, gated}};
    if (cpu) desc.kinds[0] = EVK_BINDING_TEXEL_RGBA32F;
    evk_pipeline *pipe;
    EVK_TRY(evk_pipeline_get(ctx, &desc, &pipe));
    /* split into chunks of whole units: elements (whole vec4s) or, gated, rows of width outputs */
    const uint64_t unit_out = gated ? width : 1, units = count / unit_out;
    const uint64_t unit_bytes[2] = {(gated ? 2 : 1) * unit_out * 4, unit_out * 4};
    uint64_t chunk = evk__ew_chunk_units(op, ctx, unit_bytes, 2, cpu && !gated ? 4 : 1);
    if (chunk == 0) return EVK_ERROR_INVALID_ARGUMENT;
    const uint32_t div = cpu ? 4 : 1;
    for (uint64_t u0 = 0; u0 < units; u0 += chunk) {
        uint64_t nu = units - u0 < chunk ? units - u0 : chunk;
        evk_binding b[2] = {{.buffer = x->buf, .offset = u0 * unit_bytes[0], .range = nu * unit_bytes[0], .access = EVK_ACCESS_READ},
                            {.buffer = out->buf, .offset = u0 * unit_bytes[1], .range = nu * unit_bytes[1], .access = EVK_ACCESS_WRITE}};
        struct { uint32_t count, width; float alpha, beta; } push = {(uint32_t)(nu * unit_out / div), (uint32_t)(width / div), alpha, beta};
        evk_dispatch d = {.pipeline = pipe, .bindings = b, .binding_count = 2, .push = &push, .push_size = sizeof push, .label = op};
        evk__grid_1d(push.count, EVK__EW_WG, d.groups);
        EVK_TRY(evk_stream_dispatch(s, &d));
    }
    return EVK_OK;
}

evk_status evk_op_activation(evk_stream *s, evk_activation act, const evk_tensor *x, const evk_tensor *out) {
    const char *op = evk_activation_name(act);
    if (!EVK_ACT_HAS_KERNEL(act)) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "activation: no kernel for '%s' (%d)", op, (int)act);
    EVK_TRY(evk__check_f32(op, "x", x));
    EVK_TRY(evk__check_f32(op, "out", out));
    EVK_TRY(evk__ew_same(op, "out", out, x, "x"));
    return evk__ew_unary(s, op, (uint32_t)act, 0, x, out, (uint64_t)evk_tensor_numel(x), 1, 1.0f, 0.0f);
}

evk_status evk_op_scale(evk_stream *s, const evk_tensor *x, float alpha, float beta, const evk_tensor *out) {
    const char *op = "scale";
    EVK_TRY(evk__check_f32(op, "x", x));
    EVK_TRY(evk__check_f32(op, "out", out));
    EVK_TRY(evk__ew_same(op, "out", out, x, "x"));
    if (!isfinite(alpha) || !isfinite(beta))
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "scale: alpha %g and beta %g must be finite", alpha, beta);
    return evk__ew_unary(s, op, 4, 0, x, out, (uint64_t)evk_tensor_numel(x), 1, alpha, beta);
}

evk_status evk_op_gated(evk_stream *s, evk_activation act, const evk_tensor *x, const evk_tensor *out) {
    const char *op = act == EVK_ACT_GELU ? "geglu" : "gated";
    if (!EVK_ACT_HAS_KERNEL(act)) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "gated: no kernel for activation '%s' (%d)", evk_activation_name(act), (int)act);
    EVK_TRY(evk__check_f32(op, "x", x));
    EVK_TRY(evk__check_f32(op, "out", out));
    int64_t last = x->ndim ? x->shape[x->ndim - 1] : 0;
    bool ok = x->ndim >= 1 && last % 2 == 0 && out->ndim == x->ndim && out->shape[x->ndim - 1] * 2 == last;
    for (int i = 0; ok && i + 1 < x->ndim; i++) ok = out->shape[i] == x->shape[i];
    if (!ok) {
        char a[96], b[96];
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "%s: x %s and out %s: expected x [..., 2F] and out [..., F]", op,
                        evk_tensor_shape_str(x, a, sizeof a), evk_tensor_shape_str(out, b, sizeof b));
    }
    if (x->buf.block == out->buf.block && x->buf.offset == out->buf.offset)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "%s: out cannot be x (rows shrink)", op);
    return evk__ew_unary(s, op, (uint32_t)act, 1, x, out, (uint64_t)evk_tensor_numel(out), (uint64_t)(last / 2), 1.0f, 0.0f);
}

evk_status evk_op_geglu(evk_stream *s, const evk_tensor *x, const evk_tensor *out) {
    return evk_op_gated(s, EVK_ACT_GELU, x, out);
}

static evk_status evk__ew_binary(evk_stream *s, const char *op, uint32_t code, const evk_tensor *a, const evk_tensor *b,
                                 const evk_tensor *out) {
    EVK_TRY(evk__check_f32(op, "a", a));
    EVK_TRY(evk__check_f32(op, "b", b));
    EVK_TRY(evk__check_f32(op, "out", out));
    EVK_TRY(evk__ew_same(op, "out", out, a, "a"));
    /* align b to the right of a; each b dim equals a's or is 1 */
    bool ok = b->ndim <= a->ndim;
    int64_t bd[EVK_MAX_DIMS];
    for (int i = 0; ok && i < a->ndim; i++) {
        int j = i - (a->ndim - b->ndim);
        bd[i] = j >= 0 ? b->shape[j] : 1;
        ok = bd[i] == a->shape[i] || bd[i] == 1;
    }
    if (!ok) {
        char sa[96], sb[96];
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "%s: b has shape %s, which does not broadcast to a's %s", op,
                        evk_tensor_shape_str(b, sb, sizeof sb), evk_tensor_shape_str(a, sa, sizeof sa));
    }
    int64_t count = evk_tensor_numel(a);
    if (count == 0) return EVK_OK;
    /* collapse into runs of dims that are all kept or all broadcast (size-1 dims of a vanish) */
    uint32_t dims[6] = {0}, strides[6] = {0};
    int n = 0, last_kind = -1;
    for (int i = 0; i < a->ndim; i++) {
        if (a->shape[i] == 1) continue;
        int kind = bd[i] == 1 ? 0 : 1;
        if (kind == last_kind) dims[n - 1] *= (uint32_t)a->shape[i];
        else {
            dims[n] = (uint32_t)a->shape[i];
            strides[n] = (uint32_t)kind; /* temporary: 1 kept, 0 broadcast */
            n++;
            last_kind = kind;
        }
    }
    if (n == 0) { dims[0] = 1; strides[0] = 0; n = 1; }
    /* b's stride of each run: product of the kept runs after it */
    uint64_t st = 1;
    for (int i = n - 1; i >= 0; i--) {
        bool kept = strides[i] != 0;
        strides[i] = kept ? (uint32_t)st : 0;
        if (kept) st *= dims[i];
    }
    evk_context *ctx = evk_stream_context(s);
    const bool vec4 = dims[n - 1] % 4 == 0;
    evk_pipeline_desc desc = {.shader = vec4 ? "elementwise_vec4" : "elementwise_any", .binding_count = 3, .push_size = 56,
                              .spec_count = 2, .spec = {EVK__EW_WG, code}};
    evk_pipeline *pipe;
    EVK_TRY(evk_pipeline_get(ctx, &desc, &pipe));
    /* split along the outermost run: a chunk of its slices maps to one contiguous range of a, out
     * and (when that run is not broadcast) b */
    const uint64_t inner = (uint64_t)count / dims[0];
    const uint64_t unit_bytes[3] = {inner * 4, strides[0] ? (uint64_t)strides[0] * 4 : 0, inner * 4};
    uint64_t chunk = evk__ew_chunk_units(op, ctx, unit_bytes, 3, n == 1 ? 4 : 1);
    if (chunk == 0) return EVK_ERROR_INVALID_ARGUMENT;
    for (uint64_t u0 = 0; u0 < dims[0]; u0 += chunk) {
        uint64_t nu = dims[0] - u0 < chunk ? dims[0] - u0 : chunk;
        evk_binding bind[3] = {
            {.buffer = a->buf, .offset = u0 * unit_bytes[0], .range = nu * unit_bytes[0], .access = EVK_ACCESS_READ},
            {.buffer = b->buf, .offset = u0 * unit_bytes[1], .range = unit_bytes[1] ? nu * unit_bytes[1] : evk_tensor_bytes(b),
             .access = EVK_ACCESS_READ},
            {.buffer = out->buf, .offset = u0 * unit_bytes[2], .range = nu * unit_bytes[2], .access = EVK_ACCESS_WRITE}};
        uint64_t cnt = nu * inner;
        struct { uint32_t count, ndim, dims[6], bstride[6]; } push = {(uint32_t)(vec4 ? cnt / 4 : cnt), (uint32_t)n, {0}, {0}};
        for (int i = 0; i < 6; i++) {
            push.dims[i] = i < n ? dims[i] : 1;
            push.bstride[i] = i < n ? strides[i] : 0;
        }
        push.dims[0] = (uint32_t)nu;
        evk_dispatch d = {.pipeline = pipe, .bindings = bind, .binding_count = 3, .push = &push, .push_size = sizeof push, .label = op};
        evk__grid_1d(push.count, EVK__EW_WG, d.groups);
        EVK_TRY(evk_stream_dispatch(s, &d));
    }
    return EVK_OK;
}

evk_status evk_op_add(evk_stream *s, const evk_tensor *a, const evk_tensor *b, const evk_tensor *out) {
    return evk__ew_binary(s, "add", 0, a, b, out);
}
evk_status evk_op_mul(evk_stream *s, const evk_tensor *a, const evk_tensor *b, const evk_tensor *out) {
    return evk__ew_binary(s, "mul", 1, a, b, out);
}
evk_status evk_op_sub(evk_stream *s, const evk_tensor *a, const evk_tensor *b, const evk_tensor *out) {
    return evk__ew_binary(s, "sub", 2, a, b, out);
}

evk_status evk_op_concat(evk_stream *s, const evk_tensor *a, const evk_tensor *b, int axis, const evk_tensor *out) {
    const char *op = "concat";
    EVK_TRY(evk__check_f32(op, "a", a));
    EVK_TRY(evk__check_f32(op, "b", b));
    EVK_TRY(evk__check_f32(op, "out", out));
    int ax = axis < 0 ? axis + a->ndim : axis;
    if (ax < 0 || ax >= a->ndim)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "concat: axis %d outside a's %d dims", axis, a->ndim);
    bool ok = b->ndim == a->ndim && out->ndim == a->ndim;
    for (int i = 0; ok && i < a->ndim; i++)
        ok = i == ax ? out->shape[i] == a->shape[i] + b->shape[i] : (b->shape[i] == a->shape[i] && out->shape[i] == a->shape[i]);
    if (!ok) {
        char sa[96], sb[96], so[96];
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "concat: a %s ++ b %s along axis %d cannot give out %s", evk_tensor_shape_str(a, sa, sizeof sa),
                        evk_tensor_shape_str(b, sb, sizeof sb), axis, evk_tensor_shape_str(out, so, sizeof so));
    }
    int64_t inner = 1;
    for (int i = ax + 1; i < a->ndim; i++) inner *= a->shape[i];
    int64_t count = evk_tensor_numel(out);
    if (count == 0) return EVK_OK;
    if (evk_tensor_numel(a) == 0) return evk_stream_copy(s, &b->buf, 0, &out->buf, 0, evk_tensor_bytes(b));
    if (evk_tensor_numel(b) == 0) return evk_stream_copy(s, &a->buf, 0, &out->buf, 0, evk_tensor_bytes(a));
    evk_context *ctx = evk_stream_context(s);
    evk_pipeline_desc desc = {.shader = "concat", .binding_count = 3, .push_size = 12, .spec_count = 1, .spec = {EVK__EW_WG}};
    evk_pipeline *pipe;
    EVK_TRY(evk_pipeline_get(ctx, &desc, &pipe));
    const uint64_t ia = (uint64_t)(a->shape[ax] * inner), ib = (uint64_t)(b->shape[ax] * inner), rows = (uint64_t)count / (ia + ib);
    const uint64_t unit_bytes[3] = {ia * 4, ib * 4, (ia + ib) * 4};
    uint64_t chunk = evk__ew_chunk_units(op, ctx, unit_bytes, 3, 1);
    if (chunk == 0) return EVK_ERROR_INVALID_ARGUMENT;
    for (uint64_t r0 = 0; r0 < rows; r0 += chunk) {
        uint64_t nr = rows - r0 < chunk ? rows - r0 : chunk;
        evk_binding bind[3] = {
            {.buffer = a->buf, .offset = r0 * unit_bytes[0], .range = nr * unit_bytes[0], .access = EVK_ACCESS_READ},
            {.buffer = b->buf, .offset = r0 * unit_bytes[1], .range = nr * unit_bytes[1], .access = EVK_ACCESS_READ},
            {.buffer = out->buf, .offset = r0 * unit_bytes[2], .range = nr * unit_bytes[2], .access = EVK_ACCESS_WRITE}};
        struct { uint32_t count, inner_a, inner_b; } push = {(uint32_t)(nr * (ia + ib)), (uint32_t)ia, (uint32_t)ib};
        evk_dispatch d = {.pipeline = pipe, .bindings = bind, .binding_count = 3, .push = &push, .push_size = sizeof push, .label = op};
        evk__grid_1d(push.count, EVK__EW_WG, d.groups);
        EVK_TRY(evk_stream_dispatch(s, &d));
    }
    return EVK_OK;
}
