/* gguf_quant.c — ggml's type table and the host dequantisation of the block types evoke reads
 * (see gguf_quant.h).
 *
 * Each block decoder writes one whole block of floats; a range that starts or ends inside a
 * block decodes that block into a scratch buffer and copies the part asked for, so callers may
 * stream any element range (weight uploads go in fixed-size chunks that ignore block
 * boundaries). Every product is written in the order ggml's dequantize_row_* evaluates it (the
 * K-quants form d·scale first, then multiply by the quant and subtract dmin·min), and the build is
 * strict C17, where floating-point contraction is off, so the results are the float32 values
 * ggml and gguf-py compute, not merely close to them. */
#include "formats/gguf_quant.h"

#include <string.h>

static const struct {
    const char *name;
    uint32_t block, bytes;
    bool dequant;
} evk__gguf_types[EVK_GGUF_TYPE_END] = {
    [EVK_GGUF_F32] = {"F32", 1, 4, true},           [EVK_GGUF_F16] = {"F16", 1, 2, true},
    [EVK_GGUF_Q4_0] = {"Q4_0", 32, 18, true},       [EVK_GGUF_Q4_1] = {"Q4_1", 32, 20, true},
    [EVK_GGUF_Q5_0] = {"Q5_0", 32, 22, true},       [EVK_GGUF_Q5_1] = {"Q5_1", 32, 24, true},
    [EVK_GGUF_Q8_0] = {"Q8_0", 32, 34, true},       [EVK_GGUF_Q8_1] = {"Q8_1", 32, 36, false},
    [EVK_GGUF_Q2_K] = {"Q2_K", 256, 84, false},     [EVK_GGUF_Q3_K] = {"Q3_K", 256, 110, false},
    [EVK_GGUF_Q4_K] = {"Q4_K", 256, 144, true},     [EVK_GGUF_Q5_K] = {"Q5_K", 256, 176, true},
    [EVK_GGUF_Q6_K] = {"Q6_K", 256, 210, true},     [EVK_GGUF_Q8_K] = {"Q8_K", 256, 292, false},
    [EVK_GGUF_IQ2_XXS] = {"IQ2_XXS", 256, 66, false}, [EVK_GGUF_IQ2_XS] = {"IQ2_XS", 256, 74, false},
    [EVK_GGUF_IQ3_XXS] = {"IQ3_XXS", 256, 98, false}, [EVK_GGUF_IQ1_S] = {"IQ1_S", 256, 50, false},
    [EVK_GGUF_IQ4_NL] = {"IQ4_NL", 32, 18, false},  [EVK_GGUF_IQ3_S] = {"IQ3_S", 256, 110, false},
    [EVK_GGUF_IQ2_S] = {"IQ2_S", 256, 82, false},   [EVK_GGUF_IQ4_XS] = {"IQ4_XS", 256, 136, false},
    [EVK_GGUF_I8] = {"I8", 1, 1, false},            [EVK_GGUF_I16] = {"I16", 1, 2, false},
    [EVK_GGUF_I32] = {"I32", 1, 4, false},          [EVK_GGUF_I64] = {"I64", 1, 8, false},
    [EVK_GGUF_F64] = {"F64", 1, 8, false},          [EVK_GGUF_IQ1_M] = {"IQ1_M", 256, 56, false},
    [EVK_GGUF_BF16] = {"BF16", 1, 2, true},         [EVK_GGUF_TQ1_0] = {"TQ1_0", 256, 54, false},
    [EVK_GGUF_TQ2_0] = {"TQ2_0", 256, 66, false},   [EVK_GGUF_MXFP4] = {"MXFP4", 32, 17, false},
};

const char *evk_gguf_type_name(uint32_t type) { return type < EVK_GGUF_TYPE_END ? evk__gguf_types[type].name : NULL; }

bool evk_gguf_type_block(uint32_t type, uint32_t *elems, uint32_t *bytes) {
    if (type >= EVK_GGUF_TYPE_END || !evk__gguf_types[type].name) return false;
    if (elems) *elems = evk__gguf_types[type].block;
    if (bytes) *bytes = evk__gguf_types[type].bytes;
    return true;
}

bool evk_gguf_type_can_dequant(uint32_t type) { return type < EVK_GGUF_TYPE_END && evk__gguf_types[type].dequant; }

static float evk__h(const uint8_t *p) { return evk_f16_to_f32((uint16_t)(p[0] | p[1] << 8)); }

/* block_q4_0: d (f16), qs[16]; element j is the low nibble of qs[j], element j+16 the high one */
static void evk__deq_q4_0(const uint8_t *b, float *y) {
    float d = evk__h(b);
    for (int j = 0; j < 16; j++) {
        y[j] = d * (float)((b[2 + j] & 0xF) - 8);
        y[j + 16] = d * (float)((b[2 + j] >> 4) - 8);
    }
}

/* block_q4_1: d, m (f16), qs[16] */
static void evk__deq_q4_1(const uint8_t *b, float *y) {
    float d = evk__h(b), m = evk__h(b + 2);
    for (int j = 0; j < 16; j++) {
        y[j] = d * (float)(b[4 + j] & 0xF) + m;
        y[j + 16] = d * (float)(b[4 + j] >> 4) + m;
    }
}

/* block_q5_0: d (f16), qh (u32: the fifth bit of element j is bit j), qs[16] */
static void evk__deq_q5_0(const uint8_t *b, float *y) {
    float d = evk__h(b);
    uint32_t qh = (uint32_t)b[2] | (uint32_t)b[3] << 8 | (uint32_t)b[4] << 16 | (uint32_t)b[5] << 24;
    for (int j = 0; j < 16; j++) {
        int x0 = (b[6 + j] & 0xF) | (int)((qh >> j) & 1) << 4;
        int x1 = (b[6 + j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4;
        y[j] = d * (float)(x0 - 16);
        y[j + 16] = d * (float)(x1 - 16);
    }
}

/* block_q5_1: d, m (f16), qh (u32), qs[16] */
static void evk__deq_q5_1(const uint8_t *b, float *y) {
    float d = evk__h(b), m = evk__h(b + 2);
    uint32_t qh = (uint32_t)b[4] | (uint32_t)b[5] << 8 | (uint32_t)b[6] << 16 | (uint32_t)b[7] << 24;
    for (int j = 0; j < 16; j++) {
        int x0 = (b[8 + j] & 0xF) | (int)((qh >> j) & 1) << 4;
        int x1 = (b[8 + j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4;
        y[j] = d * (float)x0 + m;
        y[j + 16] = d * (float)x1 + m;
    }
}

/* block_q8_0: d (f16), qs[32] (int8) */
static void evk__deq_q8_0(const uint8_t *b, float *y) {
    float d = evk__h(b);
    for (int j = 0; j < 32; j++) y[j] = (float)(int8_t)b[2 + j] * d;
}

/* The 6-bit scale and min of sub-block j (0..7) of a Q4_K/Q5_K block (12 packed bytes). */
static void evk__scale_min_k4(int j, const uint8_t *q, int *sc, int *m) {
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
        *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

/* block_q4_K: d, dmin (f16), scales[12], qs[128]; 8 sub-blocks of 32, two per 32 bytes of qs */
static void evk__deq_q4_k(const uint8_t *b, float *y) {
    float d = evk__h(b), dmin = evk__h(b + 2);
    const uint8_t *scales = b + 4, *q = b + 16;
    for (int j = 0, is = 0; j < 256; j += 64, is += 2, q += 32) {
        int sc, m;
        evk__scale_min_k4(is, scales, &sc, &m);
        float d1 = d * (float)sc, m1 = dmin * (float)m;
        evk__scale_min_k4(is + 1, scales, &sc, &m);
        float d2 = d * (float)sc, m2 = dmin * (float)m;
        for (int l = 0; l < 32; l++) y[j + l] = d1 * (float)(q[l] & 0xF) - m1;
        for (int l = 0; l < 32; l++) y[j + 32 + l] = d2 * (float)(q[l] >> 4) - m2;
    }
}

/* block_q5_K: d, dmin (f16), scales[12], qh[32], qs[128]; bit 2i / 2i+1 of qh[l] is the fifth
 * bit of sub-block 2i / 2i+1 */
static void evk__deq_q5_k(const uint8_t *b, float *y) {
    float d = evk__h(b), dmin = evk__h(b + 2);
    const uint8_t *scales = b + 4, *qh = b + 16, *ql = b + 48;
    unsigned u1 = 1, u2 = 2;
    for (int j = 0, is = 0; j < 256; j += 64, is += 2, ql += 32, u1 <<= 2, u2 <<= 2) {
        int sc, m;
        evk__scale_min_k4(is, scales, &sc, &m);
        float d1 = d * (float)sc, m1 = dmin * (float)m;
        evk__scale_min_k4(is + 1, scales, &sc, &m);
        float d2 = d * (float)sc, m2 = dmin * (float)m;
        for (int l = 0; l < 32; l++) y[j + l] = d1 * (float)((ql[l] & 0xF) + (qh[l] & u1 ? 16 : 0)) - m1;
        for (int l = 0; l < 32; l++) y[j + 32 + l] = d2 * (float)((ql[l] >> 4) + (qh[l] & u2 ? 16 : 0)) - m2;
    }
}

/* block_q6_K: ql[128], qh[64], scales[16] (int8), d (f16); two halves of 128 elements */
static void evk__deq_q6_k(const uint8_t *b, float *y) {
    const uint8_t *ql = b, *qh = b + 128;
    const int8_t *sc = (const int8_t *)(b + 192);
    float d = evk__h(b + 208);
    for (int n = 0; n < 256; n += 128, ql += 64, qh += 32, sc += 8) {
        for (int l = 0; l < 32; l++) {
            int is = l / 16;
            int q1 = (int)((ql[l] & 0xF) | ((qh[l] >> 0) & 3) << 4) - 32;
            int q2 = (int)((ql[l + 32] & 0xF) | ((qh[l] >> 2) & 3) << 4) - 32;
            int q3 = (int)((ql[l] >> 4) | ((qh[l] >> 4) & 3) << 4) - 32;
            int q4 = (int)((ql[l + 32] >> 4) | ((qh[l] >> 6) & 3) << 4) - 32;
            y[n + l] = (d * (float)sc[is]) * (float)q1;
            y[n + l + 32] = (d * (float)sc[is + 2]) * (float)q2;
            y[n + l + 64] = (d * (float)sc[is + 4]) * (float)q3;
            y[n + l + 96] = (d * (float)sc[is + 6]) * (float)q4;
        }
    }
}

static void evk__deq_f32(const uint8_t *b, float *y) {
    uint32_t u = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
    memcpy(y, &u, 4);
}
static void evk__deq_f16(const uint8_t *b, float *y) { *y = evk__h(b); }
static void evk__deq_bf16(const uint8_t *b, float *y) { *y = evk_bf16_to_f32((uint16_t)(b[0] | b[1] << 8)); }

typedef void (*evk__deq_fn)(const uint8_t *, float *);

static evk__deq_fn evk__decoder(uint32_t type) {
    switch (type) {
    case EVK_GGUF_F32: return evk__deq_f32;
    case EVK_GGUF_F16: return evk__deq_f16;
    case EVK_GGUF_BF16: return evk__deq_bf16;
    case EVK_GGUF_Q4_0: return evk__deq_q4_0;
    case EVK_GGUF_Q4_1: return evk__deq_q4_1;
    case EVK_GGUF_Q5_0: return evk__deq_q5_0;
    case EVK_GGUF_Q5_1: return evk__deq_q5_1;
    case EVK_GGUF_Q8_0: return evk__deq_q8_0;
    case EVK_GGUF_Q4_K: return evk__deq_q4_k;
    case EVK_GGUF_Q5_K: return evk__deq_q5_k;
    case EVK_GGUF_Q6_K: return evk__deq_q6_k;
    default: return NULL;
    }
}

evk_status evk_gguf_dequant(uint32_t type, const uint8_t *data, uint64_t first, uint64_t count, evk_dtype to, void *dst) {
    evk__deq_fn fn = evk__decoder(type);
    if (!fn) {
        const char *n = evk_gguf_type_name(type);
        if (n) return evk_fail(EVK_ERROR_FORMAT, "GGUF type %s cannot be dequantised (evoke reads F32, F16, BF16, Q8_0, Q4_0, "
                                                      "Q4_1, Q5_0, Q5_1, Q4_K, Q5_K and Q6_K)", n);
        return evk_fail(EVK_ERROR_FORMAT, "GGUF type %u is not a ggml type", (unsigned)type);
    }
    if (to != EVK_DTYPE_F32 && to != EVK_DTYPE_F16)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "dequantising %s: storage dtype %s is not f32 or f16", evk_gguf_type_name(type),
                        evk_dtype_name(to));
    const uint64_t block = evk__gguf_types[type].block, bytes = evk__gguf_types[type].bytes;
    float tmp[256];
    float *f32 = to == EVK_DTYPE_F32 ? dst : NULL;
    uint16_t *f16 = to == EVK_DTYPE_F16 ? dst : NULL;
    uint64_t end = first + count, out = 0;
    for (uint64_t blk = first / block; out < count; blk++) {
        uint64_t b0 = blk * block, lo = first > b0 ? first - b0 : 0, hi = end - b0 < block ? end - b0 : block;
        if (f32 && lo == 0 && hi == block) {
            fn(data + blk * bytes, f32 + out); /* whole block straight into the output */
        } else {
            fn(data + blk * bytes, tmp);
            for (uint64_t i = lo; i < hi; i++) {
                if (f32) f32[out + i - lo] = tmp[i];
                else f16[out + i - lo] = evk_f32_to_f16(tmp[i]);
            }
        }
        out += hi - lo;
    }
    return EVK_OK;
}
