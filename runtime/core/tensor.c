/* tensor.c — tensor bookkeeping, f16/bf16 conversion and typed host transfers. */
#include "core/tensor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t evk_dtype_size(evk_dtype d) {
    switch (d) {
    case EVK_DTYPE_F16:
    case EVK_DTYPE_BF16: return 2;
    case EVK_DTYPE_QUANT: return 0;
    default: return 4;
    }
}

const char *evk_dtype_name(evk_dtype d) {
    static const char *names[EVK_DTYPE_COUNT] = {"f32", "f16", "bf16", "i32", "u32", "quant"};
    return (unsigned)d < EVK_DTYPE_COUNT ? names[d] : "?";
}

int64_t evk_tensor_numel(const evk_tensor *t) {
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
    return n;
}

static const struct {
    uint32_t type, elems, bytes;
    const char *name;
} evk__quant_types[] = {
    {2, 32, 18, "Q4_0"}, {3, 32, 20, "Q4_1"}, {6, 32, 22, "Q5_0"}, {7, 32, 24, "Q5_1"},
    {8, 32, 34, "Q8_0"}, {12, 256, 144, "Q4_K"}, {13, 256, 176, "Q5_K"}, {14, 256, 210, "Q6_K"},
};

bool evk_quant_block(uint32_t quant, uint32_t *elems, uint32_t *bytes) {
    for (size_t i = 0; i < sizeof evk__quant_types / sizeof *evk__quant_types; i++)
        if (evk__quant_types[i].type == quant) {
            if (elems) *elems = evk__quant_types[i].elems;
            if (bytes) *bytes = evk__quant_types[i].bytes;
            return true;
        }
    return false;
}

const char *evk_quant_name(uint32_t quant) {
    for (size_t i = 0; i < sizeof evk__quant_types / sizeof *evk__quant_types; i++)
        if (evk__quant_types[i].type == quant) return evk__quant_types[i].name;
    return "?";
}

uint64_t evk_tensor_bytes(const evk_tensor *t) {
    if (t->dtype == EVK_DTYPE_QUANT) {
        uint32_t elems = 1, bytes = 0;
        evk_quant_block(t->quant, &elems, &bytes);
        return (uint64_t)evk_tensor_numel(t) / elems * bytes;
    }
    return (uint64_t)evk_tensor_numel(t) * evk_dtype_size(t->dtype);
}

const char *evk_tensor_shape_str(const evk_tensor *t, char *buf, size_t n) {
    size_t used = 0;
    buf[0] = 0;
    for (int i = 0; i < t->ndim && used < n; i++)
        used += (size_t)snprintf(buf + used, n - used, i ? "x%lld" : "%lld", (long long)t->shape[i]);
    return buf;
}

static evk_status evk__shape_check(int ndim, const int64_t *shape) {
    if (ndim < 1 || ndim > EVK_MAX_DIMS) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "tensor rank %d outside 1..%d", ndim, EVK_MAX_DIMS);
    for (int i = 0; i < ndim; i++)
        if (shape[i] <= 0 || shape[i] > (1ll << 40))
            return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "tensor dimension %d is %lld", i, (long long)shape[i]);
    return EVK_OK;
}

evk_status evk_tensor_alloc(evk_context *ctx, evk_dtype dtype, int ndim, const int64_t *shape, evk_tensor *out) {
    memset(out, 0, sizeof *out);
    EVK_TRY(evk__shape_check(ndim, shape));
    if ((unsigned)dtype >= EVK_DTYPE_COUNT || dtype == EVK_DTYPE_QUANT)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "evk_tensor_alloc: dtype %d is not an element type (quantised tensors: evk_tensor_alloc_quant)",
                        (int)dtype);
    out->dtype = dtype;
    out->ndim = ndim;
    memcpy(out->shape, shape, (size_t)ndim * sizeof *shape);
    evk_status s = evk_buffer_alloc(ctx, evk_tensor_bytes(out), &out->buf);
    if (s) {
        char sh[128];
        return evk_fail_context(s, "allocating a %s tensor of shape %s", evk_dtype_name(dtype), evk_tensor_shape_str(out, sh, sizeof sh));
    }
    return EVK_OK;
}

evk_status evk_tensor_alloc_quant(evk_context *ctx, uint32_t quant, int ndim, const int64_t *shape, evk_tensor *out) {
    memset(out, 0, sizeof *out);
    EVK_TRY(evk__shape_check(ndim, shape));
    uint32_t elems, bytes;
    if (!evk_quant_block(quant, &elems, &bytes))
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "evk_tensor_alloc_quant: ggml type %u is not a block type evoke reads", (unsigned)quant);
    if (shape[ndim - 1] % elems)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "evk_tensor_alloc_quant: rows of %lld elements are no multiple of the %s block (%u)",
                        (long long)shape[ndim - 1], evk_quant_name(quant), (unsigned)elems);
    out->dtype = EVK_DTYPE_QUANT;
    out->quant = quant;
    out->ndim = ndim;
    memcpy(out->shape, shape, (size_t)ndim * sizeof *shape);
    /* whole 32-bit words: the kernels read the blocks as a uint array */
    evk_status s = evk_buffer_alloc(ctx, (evk_tensor_bytes(out) + 3) / 4 * 4, &out->buf);
    if (s) {
        char sh[128];
        return evk_fail_context(s, "allocating a %s tensor of shape %s", evk_quant_name(quant), evk_tensor_shape_str(out, sh, sizeof sh));
    }
    return EVK_OK;
}

void evk_tensor_free(evk_context *ctx, evk_tensor *t) {
    if (!t) return;
    evk_buffer_free(ctx, &t->buf);
    memset(t, 0, sizeof *t);
}

evk_status evk_tensor_reshape(const evk_tensor *t, int ndim, const int64_t *shape, evk_tensor *out) {
    EVK_TRY(evk__shape_check(ndim, shape));
    evk_tensor r = *t;
    r.ndim = ndim;
    memcpy(r.shape, shape, (size_t)ndim * sizeof *shape);
    uint32_t elems = 1;
    if (t->dtype == EVK_DTYPE_QUANT && evk_quant_block(t->quant, &elems, NULL) && shape[ndim - 1] % elems) {
        char a[128];
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "cannot reshape a %s tensor to %s: rows must hold whole blocks of %u", evk_quant_name(t->quant),
                        evk_tensor_shape_str(&r, a, sizeof a), (unsigned)elems);
    }
    if (evk_tensor_numel(&r) != evk_tensor_numel(t)) {
        char a[128], b[128];
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "cannot reshape %s to %s", evk_tensor_shape_str(t, a, sizeof a),
                        evk_tensor_shape_str(&r, b, sizeof b));
    }
    *out = r;
    return EVK_OK;
}

uint16_t evk_f32_to_f16(float x) {
    uint32_t f;
    memcpy(&f, &x, 4);
    uint32_t sign = (f >> 16) & 0x8000u, e = (f >> 23) & 0xffu, m = f & 0x7fffffu;
    if (e == 0xff) return (uint16_t)(sign | 0x7c00u | (m ? 0x200u : 0)); /* inf / nan */
    int32_t ne = (int32_t)e - 127 + 15;
    if (ne >= 31) return (uint16_t)(sign | 0x7c00u);                    /* overflow -> inf */
    if (ne <= 0) {                                                     /* subnormal or zero */
        if (ne < -10) return (uint16_t)sign;
        m |= 0x800000u;
        uint32_t shift = (uint32_t)(14 - ne);
        uint32_t half = m >> shift, rem = m & ((1u << shift) - 1), mid = 1u << (shift - 1);
        if (rem > mid || (rem == mid && (half & 1))) half++;
        return (uint16_t)(sign | half);
    }
    uint32_t half = sign | ((uint32_t)ne << 10) | (m >> 13), rem = m & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (half & 1))) half++; /* may carry into the exponent: correct */
    return (uint16_t)half;
}

float evk_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, m = h & 0x3ffu, f;
    if (e == 0) {
        if (!m) f = sign;
        else {
            e = 127 - 15 + 1;
            while (!(m & 0x400u)) m <<= 1, e--;
            f = sign | (e << 23) | ((m & 0x3ffu) << 13);
        }
    } else if (e == 31) f = sign | 0x7f800000u | (m << 13);
    else f = sign | ((e - 15 + 127) << 23) | (m << 13);
    float x;
    memcpy(&x, &f, 4);
    return x;
}

uint16_t evk_f32_to_bf16(float x) {
    uint32_t f;
    memcpy(&f, &x, 4);
    if ((f & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((f >> 16) | 0x40u); /* quiet nan */
    f += 0x7fffu + ((f >> 16) & 1u);
    return (uint16_t)(f >> 16);
}

float evk_bf16_to_f32(uint16_t h) {
    uint32_t f = (uint32_t)h << 16;
    float x;
    memcpy(&x, &f, 4);
    return x;
}

evk_status evk_tensor_upload_f32(evk_context *ctx, const evk_tensor *t, const float *src) {
    int64_t n = evk_tensor_numel(t);
    if (t->dtype == EVK_DTYPE_F32) return evk_buffer_upload(ctx, &t->buf, 0, src, (uint64_t)n * 4);
    if (t->dtype != EVK_DTYPE_F16 && t->dtype != EVK_DTYPE_BF16)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "evk_tensor_upload_f32: %s tensor is not a float tensor", evk_dtype_name(t->dtype));
    uint16_t *tmp = malloc((size_t)n * 2);
    if (!tmp) return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory converting %lld values", (long long)n);
    for (int64_t i = 0; i < n; i++) tmp[i] = t->dtype == EVK_DTYPE_F16 ? evk_f32_to_f16(src[i]) : evk_f32_to_bf16(src[i]);
    evk_status s = evk_buffer_upload(ctx, &t->buf, 0, tmp, (uint64_t)n * 2);
    free(tmp);
    return s;
}

evk_status evk_tensor_download_f32(evk_context *ctx, const evk_tensor *t, float *dst) {
    int64_t n = evk_tensor_numel(t);
    if (t->dtype == EVK_DTYPE_F32) return evk_buffer_download(ctx, &t->buf, 0, dst, (uint64_t)n * 4);
    if (t->dtype != EVK_DTYPE_F16 && t->dtype != EVK_DTYPE_BF16)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "evk_tensor_download_f32: %s tensor is not a float tensor", evk_dtype_name(t->dtype));
    uint16_t *tmp = malloc((size_t)n * 2);
    if (!tmp) return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory converting %lld values", (long long)n);
    evk_status s = evk_buffer_download(ctx, &t->buf, 0, tmp, (uint64_t)n * 2);
    for (int64_t i = 0; !s && i < n; i++) dst[i] = t->dtype == EVK_DTYPE_F16 ? evk_f16_to_f32(tmp[i]) : evk_bf16_to_f32(tmp[i]);
    free(tmp);
    return s;
}
