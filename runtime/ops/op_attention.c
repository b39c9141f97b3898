/* op_attention.c — shape checks, kernel choice and dispatch of the fused attention kernel
 * (shaders/attention/attention.comp). CPU devices take the rows kernel (vec4 rows when the head dim is a
 * multiple of 4, single floats otherwise) when every operand fits the device's texel-buffer
 * limits; otherwise, and on GPUs, the tiled kernel runs. */
#include "ops/op_attention.h"

#include <math.h>
#include <stdio.h>

#define EVK__ATT_WG_TILED 64u
#define EVK__ATT_WG_ROWS 16u

static evk_status evk__att_shape_fail(const char *name, const evk_tensor *t, const char *want) {
    char sb[96];
    return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "attention: %s has shape %s (%s), expected %s", name,
                    evk_tensor_shape_str(t, sb, sizeof sb), evk_dtype_name(t->dtype), want);
}

static bool evk__att_texel_ok(const evk_device_info *info, const evk_tensor *t, uint64_t texel_bytes) {
    uint64_t texels = evk_tensor_bytes(t) / texel_bytes;
    return texels > 0 && texels <= info->max_texel_buffer_elements &&
           (info->min_texel_buffer_offset_alignment == 0 || t->buf.offset % info->min_texel_buffer_offset_alignment == 0);
}

evk_status evk_op_attention(evk_stream *s, const evk_tensor *q, const evk_tensor *k, const evk_tensor *v,
                            const evk_tensor *out, const evk_attention_params *params) {
    evk_attention_params none = {0};
    if (!params) params = &none;
    if (!q || !k || !v || !out) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "attention: q, k, v and out are required");
    if (q->ndim != 4 || q->dtype != EVK_DTYPE_F32) return evk__att_shape_fail("q", q, "f32 [B, Lq, H, D]");
    const int64_t B = q->shape[0], Lq = q->shape[1], H = q->shape[2], D = q->shape[3];
    if (D < 1 || D > EVK_ATTENTION_MAX_HEAD_DIM)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "attention: head dim %lld of q is outside 1..%d", (long long)D,
                        EVK_ATTENTION_MAX_HEAD_DIM);
    if (k->ndim != 4 || k->dtype != EVK_DTYPE_F32 || k->shape[0] != B || k->shape[2] != H || k->shape[3] != D) {
        char want[160];
        snprintf(want, sizeof want, "f32 [%lld, Lk, %lld, %lld]", (long long)B, (long long)H, (long long)D);
        return evk__att_shape_fail("k", k, want);
    }
    const int64_t Lk = k->shape[1];
    if (v->ndim != 4 || v->dtype != EVK_DTYPE_F32 || v->shape[0] != B || v->shape[1] != Lk || v->shape[2] != H ||
        v->shape[3] != D) {
        char want[160];
        snprintf(want, sizeof want, "f32 %lldx%lldx%lldx%lld like k", (long long)B, (long long)Lk, (long long)H, (long long)D);
        return evk__att_shape_fail("v", v, want);
    }
    if (out->ndim != 4 || out->dtype != EVK_DTYPE_F32 || out->shape[0] != B || out->shape[1] != Lq ||
        out->shape[2] != H || out->shape[3] != D) {
        char want[160];
        snprintf(want, sizeof want, "f32 %lldx%lldx%lldx%lld like q", (long long)B, (long long)Lq, (long long)H, (long long)D);
        return evk__att_shape_fail("out", out, want);
    }
    if (B < 1 || Lq < 1 || Lk < 1 || H < 1)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "attention: empty operand (B %lld, Lq %lld, Lk %lld, H %lld)",
                        (long long)B, (long long)Lq, (long long)Lk, (long long)H);
    uint32_t mask_batch_stride = 0;
    const evk_tensor *mask = params->mask;
    if (mask) {
        bool two = mask->ndim == 2 && mask->shape[0] == Lq && mask->shape[1] == Lk;
        bool three = mask->ndim == 3 && mask->shape[0] == B && mask->shape[1] == Lq && mask->shape[2] == Lk;
        if (mask->dtype != EVK_DTYPE_F32 || !(two || three)) {
            char want[160];
            snprintf(want, sizeof want, "f32 [%lld, %lld] or [%lld, %lld, %lld]", (long long)Lq, (long long)Lk,
                     (long long)B, (long long)Lq, (long long)Lk);
            return evk__att_shape_fail("mask", mask, want);
        }
        if (three) mask_batch_stride = (uint32_t)(Lq * Lk);
    }
    if (B * Lq * H * D > 0xffffffffLL || B * Lk * H * D > 0xffffffffLL || B * H > 65535LL * 65535LL)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "attention: operands of %lldx%lldx%lldx%lld / Lk %lld exceed 32-bit indexing",
                        (long long)B, (long long)Lq, (long long)H, (long long)D, (long long)Lk);
    float scale = params->scale != 0.0f ? params->scale : (float)(1.0 / sqrt((double)D));
    if (!isfinite(scale)) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "attention: scale %g is not finite", scale);

    evk_context *ctx = evk_stream_context(s);
    const evk_device_info *info = evk_context_device(ctx);
    const bool anyd = D % 4 != 0; /* rows of single floats (R32F) instead of vec4s */
    const uint64_t tb = anyd ? 4 : 16;
    bool rows_ok = evk__att_texel_ok(info, q, tb) && evk__att_texel_ok(info, k, tb) && evk__att_texel_ok(info, v, tb) &&
                   (!mask || evk__att_texel_ok(info, mask, 4));
    evk_attention_impl impl = params->impl;
    if (impl == EVK_ATTENTION_AUTO) impl = evk_context_is_cpu(ctx) && rows_ok ? EVK_ATTENTION_ROWS : EVK_ATTENTION_TILED;
    if (impl == EVK_ATTENTION_ROWS && !rows_ok)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT,
                        "attention: the rows kernel needs operands within the device's texel-buffer limits (%u texels, "
                        "%u-byte alignment)", info->max_texel_buffer_elements, info->min_texel_buffer_offset_alignment);
    if (impl != EVK_ATTENTION_ROWS && impl != EVK_ATTENTION_TILED)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "attention: unknown kernel choice %d", (int)impl);

    const uint32_t d4 = (uint32_t)((D + 3) / 4);
    const bool rows = impl == EVK_ATTENTION_ROWS;
    const uint32_t wg = rows ? EVK__ATT_WG_ROWS : EVK__ATT_WG_TILED;
    /* rows kernel: 4 query rows per lane, or 1 when the sequence is too short to fill them
     * (temporal attention over 16 frames would leave 3/4 of the lanes idle) */
    const uint32_t qpl = rows && !anyd && Lq >= 4 * (int64_t)wg ? 4u : 1u;
    /* key tile: two tiles of TC·D4 vec4 must fit shared memory (16 KiB at D = 128, 32 KiB at 256;
     * fewer keys per tile where the device has less) */
    uint32_t tc = d4 <= 16 ? 32 : 16;
    while (tc > 4 && 2ull * tc * d4 * 16 > info->max_shared_memory) tc /= 2;
    evk_pipeline_desc desc = {.shader = rows ? (anyd ? "attention_rows_anyd" : qpl == 4 ? "attention_rows" : "attention_rows_q1")
                                     : "attention_tiled", .binding_count = 5, .push_size = 28,
                              .spec_count = 5, .spec = {wg, d4, mask ? 1u : 0u, params->causal ? 1u : 0u, tc}};
    if (rows) {
        desc.kinds[0] = desc.kinds[1] = desc.kinds[2] = anyd ? EVK_BINDING_TEXEL_R32F : EVK_BINDING_TEXEL_RGBA32F;
        desc.kinds[4] = EVK_BINDING_TEXEL_R32F;
    }
    evk_pipeline *pipe;
    EVK_TRY(evk_pipeline_get(ctx, &desc, &pipe));
    const evk_tensor *mt = mask ? mask : q; /* unused binding when there is no mask */
    evk_binding b[5] = {
        {.buffer = q->buf, .range = evk_tensor_bytes(q), .access = EVK_ACCESS_READ},
        {.buffer = k->buf, .range = evk_tensor_bytes(k), .access = EVK_ACCESS_READ},
        {.buffer = v->buf, .range = evk_tensor_bytes(v), .access = EVK_ACCESS_READ},
        {.buffer = out->buf, .range = evk_tensor_bytes(out), .access = EVK_ACCESS_WRITE},
        /* without a mask, one texel of q: a whole-q R32F view could pass the texel limit */
        {.buffer = mt->buf, .range = mask ? evk_tensor_bytes(mt) : 4, .access = EVK_ACCESS_READ},
    };
    struct {
        uint32_t lq, lk, heads, d;
        float scale_log2;
        uint32_t mask_batch_stride, batch;
    } push = {(uint32_t)Lq, (uint32_t)Lk, (uint32_t)H, (uint32_t)D, scale * 1.4426950408889634f, mask_batch_stride,
              (uint32_t)B};
    uint64_t bh = (uint64_t)(B * H);
    evk_dispatch d = {.pipeline = pipe, .bindings = b, .binding_count = 5, .push = &push, .push_size = sizeof push,
                      .label = desc.shader};
    d.groups[0] = (uint32_t)((Lq + wg * qpl - 1) / (wg * qpl));
    d.groups[1] = bh < 65535 ? (uint32_t)bh : 65535u;
    d.groups[2] = (uint32_t)((bh + d.groups[1] - 1) / d.groups[1]);
    return evk_stream_dispatch(s, &d);
}
