/* op_fill.c — the fill kernel's C entry (patterns beyond one binding in several dispatches), and
 * the 1-D grid helper the elementwise kernels share. */
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
    evk_context *ctx = evk_stream_context(s);
    evk_pipeline *pipe;
    evk_pipeline_desc desc = {.shader = "fill", .binding_count = 1, .push_size = 16, .spec_count = 2, .spec = {local, mode}};
    EVK_TRY(evk_pipeline_get(ctx, &desc, &pipe));
    /* ranges larger than one binding (maxStorageBufferRange) go in several dispatches, each bound
     * from the aligned offset at or below its first word */
    const evk_device_info *info = evk_context_device(ctx);
    const uint64_t align = info->min_storage_buffer_offset_alignment > 4 ? info->min_storage_buffer_offset_alignment : 4;
    const uint64_t chunk = (info->max_storage_buffer_range - align) / 4;
    /* a ramp's values count from its first word, which a later chunk cannot see */
    if (mode == 1 && count > chunk)
        return evk_fail(EVK_ERROR_UNSUPPORTED, "fill: a ramp of %llu words exceeds one binding (%llu bytes)", (unsigned long long)count,
                        (unsigned long long)info->max_storage_buffer_range);
    for (uint64_t w0 = 0; w0 < count; w0 += chunk) {
        const uint64_t n = count - w0 < chunk ? count - w0 : chunk, first = (offset_words + w0) * 4, start = first / align * align;
        evk_binding b = {.buffer = *buf, .offset = start, .range = first + n * 4 - start, .access = EVK_ACCESS_WRITE};
        struct { uint32_t offset, count, bits; float step; } push = {(uint32_t)((first - start) / 4), (uint32_t)n, bits, step};
        evk_dispatch d = {.pipeline = pipe, .bindings = &b, .binding_count = 1, .push = &push, .push_size = sizeof push};
        evk__grid_1d(n, local, d.groups);
        EVK_TRY(evk_stream_dispatch(s, &d));
    }
    return EVK_OK;
}

evk_status evk_op_fill_bits(evk_stream *s, const evk_buffer *buf, uint64_t offset_words, uint64_t count, uint32_t bits) {
    return evk__fill(s, buf, offset_words, count, bits, 0.0f, 0);
}

evk_status evk_op_fill_ramp(evk_stream *s, const evk_buffer *buf, uint64_t offset_words, uint64_t count, float start, float step) {
    uint32_t bits;
    memcpy(&bits, &start, 4);
    return evk__fill(s, buf, offset_words, count, bits, step, 1);
}
