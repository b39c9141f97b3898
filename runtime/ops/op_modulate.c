/* op_modulate.c — shape checks and dispatch for shaders/elementwise/modulate.comp (see
 * op_modulate.h). Tensors are bound whole; one larger than the device's binding range is an
 * error naming it (an MMDiT's [2, 4096, 1536] activations at 1024² are 48 MiB). */
#include "ops/op_modulate.h"

#include <stdio.h>

#include "ops/ops_internal.h"

#define EVK__MOD_WG 256u

static evk_status evk__mod_check(const char *op, const evk_tensor *x, const evk_tensor *emb, uint32_t a, uint32_t b) {
    EVK_TRY(evk__check_f32(op, "x", x));
    EVK_TRY(evk__check_f32(op, "emb", emb));
    char sx[96], se[96];
    if (x->ndim != 3 || emb->ndim != 2 || emb->shape[0] != x->shape[0] || x->shape[2] < 1 || emb->shape[1] % x->shape[2] ||
        (int64_t)a >= emb->shape[1] / x->shape[2] || (int64_t)b >= emb->shape[1] / x->shape[2])
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "%s: x %s and emb %s with chunks %u, %u: expected x [B, L, D] and emb [B, K·D] with chunks below K",
                        op, evk_tensor_shape_str(x, sx, sizeof sx), evk_tensor_shape_str(emb, se, sizeof se), a, b);
    if (evk_tensor_numel(x) > 0xffffffffll || evk_tensor_numel(emb) > 0xffffffffll)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "%s: more than 2^32 elements", op);
    return EVK_OK;
}

static evk_status evk__mod_dispatch(evk_stream *s, const char *shader, const evk_binding *b, const evk_tensor *x,
                                    const evk_tensor *emb, uint32_t a, uint32_t bb) {
    evk_context *ctx = evk_stream_context(s);
    const evk_device_info *info = evk_context_device(ctx);
    for (int i = 0; i < 3; i++)
        if (b[i].buffer.size > info->max_storage_buffer_range)
            return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "%s: an operand of %llu bytes exceeds the device's binding limit (%llu bytes)",
                            shader, (unsigned long long)b[i].buffer.size, (unsigned long long)info->max_storage_buffer_range);
    uint64_t n = (uint64_t)evk_tensor_numel(x);
    if (n == 0) return EVK_OK;
    uint32_t D = (uint32_t)x->shape[2];
    struct { uint32_t count, per, dim, estride, off_a, off_b; } push = {(uint32_t)n, (uint32_t)(x->shape[1] * D), D,
                                                                       (uint32_t)emb->shape[1], a * D, bb * D};
    evk_pipeline_desc desc = {.shader = shader, .binding_count = 3, .push_size = sizeof push, .spec_count = 1, .spec = {EVK__MOD_WG}};
    evk_pipeline *pipe;
    EVK_TRY(evk_pipeline_get(ctx, &desc, &pipe));
    evk_dispatch d = {.pipeline = pipe, .bindings = b, .binding_count = 3, .push = &push, .push_size = sizeof push, .label = shader};
    evk__grid_1d(n, EVK__MOD_WG, d.groups);
    return evk_stream_dispatch(s, &d);
}

evk_status evk_op_modulate(evk_stream *s, const evk_tensor *x, const evk_tensor *emb, uint32_t scale, uint32_t shift,
                           const evk_tensor *out) {
    const char *op = "modulate";
    EVK_TRY(evk__mod_check(op, x, emb, scale, shift));
    EVK_TRY(evk__check_f32(op, "out", out));
    if (evk_tensor_numel(out) != evk_tensor_numel(x)) return evk__shape_fail(op, "out", out, "x's shape");
    if (evk__ranges_overlap(out, emb)) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "%s: out overlaps emb", op);
    if (evk__ranges_overlap(out, x) && (out->buf.block != x->buf.block || out->buf.offset != x->buf.offset))
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "%s: out partly overlaps x", op);
    evk_binding b[3] = {{.buffer = x->buf, .access = EVK_ACCESS_READ},
                        {.buffer = emb->buf, .access = EVK_ACCESS_READ},
                        {.buffer = out->buf, .access = EVK_ACCESS_WRITE}};
    return evk__mod_dispatch(s, "modulate_modulate", b, x, emb, scale, shift);
}

evk_status evk_op_gate_add(evk_stream *s, const evk_tensor *h, const evk_tensor *y, const evk_tensor *emb, uint32_t gate) {
    const char *op = "gate_add";
    EVK_TRY(evk__mod_check(op, h, emb, gate, gate));
    EVK_TRY(evk__check_f32(op, "y", y));
    if (evk_tensor_numel(y) != evk_tensor_numel(h)) return evk__shape_fail(op, "y", y, "h's shape");
    if (evk__ranges_overlap(h, y) || evk__ranges_overlap(h, emb))
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "%s: h overlaps y or emb", op);
    evk_binding b[3] = {{.buffer = h->buf, .access = EVK_ACCESS_READ_WRITE},
                        {.buffer = y->buf, .access = EVK_ACCESS_READ},
                        {.buffer = emb->buf, .access = EVK_ACCESS_READ}};
    return evk__mod_dispatch(s, "modulate_gate", b, h, emb, gate, 0);
}
