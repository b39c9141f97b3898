/* op_fill.c — the fill kernel's C entry. */
#include "ops/op_fill.h"

#include <string.h>
#include "ops/ops_internal.h"

static evk_status evk__fill(evk_stream *s, const evk_buffer *buf, uint64_t offset_words, uint64_t count, uint32_t bits,
                            float step, uint32_t mode) {
    if (count == 0) return EVK_OK;
    if (!buf || (offset_words + count) * 4 > buf->size || offset_words + count > 0xffffffffu)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "fill: %llu words at word %llu outside a buffer of %llu bytes",
                        (unsigned long long)count, (unsigned long long)offset_words,
                        (unsigned long long)(buf ? buf->size : 0));
    const uint32_t local = 256;
    evk_pipeline *pipe;
    evk_pipeline_desc desc = {.shader = "fill", .binding_count = 1, .push_size = 16, .spec_count = 2, .spec = {local, mode}};
    EVK_TRY(evk_pipeline_get(evk_stream_context(s), &desc, &pipe));
    evk_binding b = {.buffer = *buf, .access = EVK_ACCESS_WRITE};
    struct { uint32_t offset, count, bits; float step; } push = {(uint32_t)offset_words, (uint32_t)count, bits, step};
    evk_dispatch d = {.pipeline = pipe, .bindings = &b, .binding_count = 1, .push = &push, .push_size = sizeof push};
    evk__grid_1d(count, local, d.groups);
    return evk_stream_dispatch(s, &d);
}

evk_status evk_op_fill_bits(evk_stream *s, const evk_buffer *buf, uint64_t offset_words, uint64_t count, uint32_t bits) {
    return evk__fill(s, buf, offset_words, count, bits, 0.0f, 0);
}

evk_status evk_op_fill_ramp(evk_stream *s, const evk_buffer *buf, uint64_t offset_words, uint64_t count, float start, float step) {
    uint32_t bits;
    memcpy(&bits, &start, 4);
    return evk__fill(s, buf, offset_words, count, bits, step, 1);
}
