/* op_modulate.c — shape checks and dispatch for shaders/elementwise/modulate.comp (see
 * op_modulate.h). Tensors are bound whole (an MMDiT's [2, 4096, 1536] activations at 1024² are
 * 48 MiB) or, beyond the device's binding range, one batch item per dispatch. */
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

/* Bindings b[0..2] cover whole tensors; `rows_of` says which are per-item [B, L, D] operands (the
 * others are emb [B, K·D]). Tensors beyond one binding are dispatched a batch item at a time, at
 * offsets that keep the device's alignment. */
static evk_status evk__mod_dispatch(evk_stream *s, const char *shader, const evk_binding *b, const bool *per_item, const evk_tensor *x,
                                    const evk_tensor *emb, uint32_t a, uint32_t bb) {
    evk_context *ctx = evk_stream_context(s);
    const evk_device_info *info = evk_context_device(ctx);
    uint64_t n = (uint64_t)evk_tensor_numel(x);
    if (n == 0) return EVK_OK;
    const uint64_t B = (uint64_t)x->shape[0], per = (uint64_t)(x->shape[1] * x->shape[2]), es = (uint64_t)emb->shape[1];
    const uint32_t D = (uint32_t)x->shape[2];
    uint64_t align = info->min_storage_buffer_offset_alignment ? info->min_storage_buffer_offset_alignment : 4;
    bool whole = per * B * 4 <= info->max_storage_buffer_range;
    if (!whole && (per * 4 > info->max_storage_buffer_range || (per * 4) % align || (es * 4) % align))
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "%s: [%llu, %llu] operands exceed the device's binding limit (%llu bytes) and cannot be split by item",
                        shader, (unsigned long long)B, (unsigned long long)per, (unsigned long long)info->max_storage_buffer_range);
    uint64_t items = whole ? B : 1;
    struct { uint32_t count, per, dim, estride, off_a, off_b; } push = {(uint32_t)(items * per), (uint32_t)per, D, (uint32_t)es, a * D, bb * D};
    evk_pipeline_desc desc = {.shader = shader, .binding_count = 3, .push_size = sizeof push, .spec_count = 1, .spec = {EVK__MOD_WG}};
    evk_pipeline *pipe;
    EVK_TRY(evk_pipeline_get(ctx, &desc, &pipe));
    for (uint64_t i0 = 0; i0 < B; i0 += items) {
        evk_binding c[3];
        for (int k = 0; k < 3; k++) {
            c[k] = b[k];
            uint64_t unit = per_item[k] ? per * 4 : es * 4;
            c[k].offset = i0 * unit;
            c[k].range = items * unit;
        }
        evk_dispatch d = {.pipeline = pipe, .bindings = c, .binding_count = 3, .push = &push, .push_size = sizeof push, .label = shader};
        evk__grid_1d(items * per, EVK__MOD_WG, d.groups);
        EVK_TRY(evk_stream_dispatch(s, &d));
    }
    return EVK_OK;
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
    static const bool per_item[3] = {true, false, true};
    return evk__mod_dispatch(s, "modulate_modulate", b, per_item, x, emb, scale, shift);
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
    static const bool per_item[3] = {true, true, false};
    return evk__mod_dispatch(s, "modulate_gate", b, per_item, h, emb, gate, 0);
}
