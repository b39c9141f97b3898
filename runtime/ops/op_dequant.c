/* op_dequant.c — checks and dispatch of shaders/linear/dequant.comp (one variant per block type).
 * Tensors larger than a storage binding (128 MiB on lavapipe) go in chunks of whole blocks whose
 * input and output byte offsets both keep the device's binding alignment. */
#include "ops/op_dequant.h"

#include "ops/ops_internal.h"

static const struct {
    uint32_t type;
    const char *shader, *name;
    uint32_t block, bytes;
} evk__dequant_kinds[] = {
    {2, "dequant_q4_0", "Q4_0", 32, 18},   {3, "dequant_q4_1", "Q4_1", 32, 20},   {6, "dequant_q5_0", "Q5_0", 32, 22},
    {7, "dequant_q5_1", "Q5_1", 32, 24},   {8, "dequant_q8_0", "Q8_0", 32, 34},   {12, "dequant_q4_k", "Q4_K", 256, 144},
    {13, "dequant_q5_k", "Q5_K", 256, 176}, {14, "dequant_q6_k", "Q6_K", 256, 210},
};
#define EVK__DEQUANT_KINDS (sizeof evk__dequant_kinds / sizeof *evk__dequant_kinds)

bool evk_op_dequant_supports(uint32_t type) {
    for (size_t i = 0; i < EVK__DEQUANT_KINDS; i++)
        if (evk__dequant_kinds[i].type == type) return true;
    return false;
}

evk_status evk_op_dequant(evk_stream *s, uint32_t type, const evk_buffer *blocks, const evk_tensor *out) {
    if (!blocks || !out) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "dequant: blocks and out are required");
    size_t k = 0;
    while (k < EVK__DEQUANT_KINDS && evk__dequant_kinds[k].type != type) k++;
    if (k == EVK__DEQUANT_KINDS) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "dequant: no kernel for ggml type %u", (unsigned)type);
    const uint64_t block = evk__dequant_kinds[k].block, bytes = evk__dequant_kinds[k].bytes;
    const char *name = evk__dequant_kinds[k].name;
    char sh[96];
    int64_t n = evk_tensor_numel(out);
    if (out->dtype != EVK_DTYPE_F32 || n < 1 || n % (int64_t)block)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "dequant %s: out has shape %s (%s), expected f32 with a multiple of %llu elements",
                        name, evk_tensor_shape_str(out, sh, sizeof sh), evk_dtype_name(out->dtype), (unsigned long long)block);
    const uint64_t nblocks = (uint64_t)n / block, need = (nblocks * bytes + 3) / 4 * 4;
    if (blocks->size < need)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "dequant %s: %llu blocks need %llu bytes, the buffer holds %llu", name,
                        (unsigned long long)nblocks, (unsigned long long)need, (unsigned long long)blocks->size);
    evk_context *ctx = evk_stream_context(s);
    const evk_device_info *info = evk_context_device(ctx);
    uint64_t align = info->min_storage_buffer_offset_alignment < 4 ? 4 : info->min_storage_buffer_offset_alignment;
    uint64_t cap = info->max_storage_buffer_range - 4; /* room for the input's rounding to words */
    if (cap > 0x7fffffffull) cap = 0x7fffffffull;
    /* blocks per chunk: a multiple of `step` so both offsets stay aligned */
    uint64_t step = 1;
    const uint64_t units[2] = {bytes, block * 4};
    for (int i = 0; i < 2; i++) {
        uint64_t m = align / evk__gcd(units[i], align);
        step = step / evk__gcd(step, m) * m;
    }
    uint64_t chunk = cap / (block * 4);
    chunk = chunk / step * step;
    if (chunk == 0) return evk_fail(EVK_ERROR_UNSUPPORTED, "dequant %s: the device's binding limits cannot hold one chunk", name);
    evk_pipeline_desc desc = {.shader = evk__dequant_kinds[k].shader, .binding_count = 2, .push_size = 4, .spec_count = 1, .spec = {64}};
    evk_pipeline *pipe;
    EVK_TRY(evk_pipeline_get(ctx, &desc, &pipe));
    for (uint64_t first = 0; first < nblocks; first += chunk) {
        uint64_t count = nblocks - first < chunk ? nblocks - first : chunk;
        uint64_t in_off = first * bytes, in_len = (count * bytes + 3) / 4 * 4;
        evk_binding bind[2] = {
            {.buffer = *blocks, .offset = in_off, .range = in_len, .access = EVK_ACCESS_READ},
            {.buffer = out->buf, .offset = first * block * 4, .range = count * block * 4, .access = EVK_ACCESS_WRITE}};
        uint32_t push = (uint32_t)(count * block);
        evk_dispatch d = {.pipeline = pipe, .bindings = bind, .binding_count = 2, .push = &push, .push_size = sizeof push,
                          .label = "dequant"};
        evk__grid_1d(count * block, 64, d.groups);
        EVK_TRY(evk_stream_dispatch(s, &d));
    }
    return EVK_OK;
}
