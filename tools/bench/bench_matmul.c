/* bench_matmul.c — `evoke bench` cases for evk_op_matmul: square products (1024³, 2048³), the
 * Linear-layer shape of an SD attention projection (4096 tokens × 320 → 1280, weights [out, in]),
 * each with f32 and with f16 weights, and a small case for --quick; and the dequantising matmul
 * (GGUF Q8_0 / Q4_K weights kept quantised) at SD 1.5 UNet shapes beside f32 and f16: the
 * projection above (K = 320 holds no Q4_K blocks) and the feed-forward output of the 64×64 level
 * (4096 tokens × 1280 → 320); and a product of 32 columns (1280 × 1280 by 1280 × 32, one of the 16
 * Winograd products of an 8×8 map at batch 2, which the CPU kernel's narrow tile serves). Bytes count
 * the weights as stored. */
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "ops/op_matmul.h"

typedef struct mm_params {
    int64_t m, k, n;
    bool transpose_b;
    evk_dtype weights;
    uint32_t quant; /* EVK_DTYPE_QUANT: the ggml block type (8 Q8_0, 12 Q4_K) */
} mm_params;

/* Random blocks of a quantised [n, k] weight: random bits, finite f16 scales. */
static evk_status mm_fill_quant(evk_context *ctx, const evk_tensor *t) {
    uint32_t elems, bytes;
    evk_quant_block(t->quant, &elems, &bytes);
    const uint64_t size = evk_tensor_bytes(t), nblocks = size / bytes;
    uint8_t *h = malloc(size);
    if (!h) return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (uint64_t i = 0; i < size; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        h[i] = (uint8_t)(x >> 56);
    }
    for (uint64_t b = 0; b < nblocks; b++)
        for (int f = 0; f < (elems == 256 ? 2 : 1); f++) {
            uint16_t v = evk_f32_to_f16(0.01f * (float)((b * 7 + (uint64_t)f) % 13) - 0.06f);
            memcpy(h + b * bytes + 2 * f, &v, 2);
        }
    evk_status st = evk_buffer_upload(ctx, &t->buf, 0, h, size);
    free(h);
    return st;
}

typedef struct mm_state {
    const mm_params *p;
    evk_tensor a, b, c;
} mm_state;

static evk_status mm_setup(evk_context *ctx, const void *params, void **state) {
    const mm_params *p = params;
    mm_state *st = calloc(1, sizeof *st);
    if (!st) return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    st->p = p;
    *state = st;
    int64_t sa[2] = {p->m, p->k}, sc[2] = {p->m, p->n};
    int64_t sb[2] = {p->transpose_b ? p->n : p->k, p->transpose_b ? p->k : p->n};
    EVK_TRY(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 2, sa, &st->a));
    if (p->weights == EVK_DTYPE_QUANT) EVK_TRY(evk_tensor_alloc_quant(ctx, p->quant, 2, sb, &st->b));
    else EVK_TRY(evk_tensor_alloc(ctx, p->weights, 2, sb, &st->b));
    EVK_TRY(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 2, sc, &st->c));
    EVK_TRY(bench_fill_uniform(ctx, &st->a, -1.0f, 1.0f, 1));
    if (p->weights == EVK_DTYPE_QUANT) return mm_fill_quant(ctx, &st->b);
    return bench_fill_uniform(ctx, &st->b, -1.0f, 1.0f, 2);
}

static evk_status mm_record(evk_stream *s, void *state) {
    mm_state *st = state;
    evk_matmul_params prm = {.transpose_b = st->p->transpose_b};
    return evk_op_matmul(s, &st->a, &st->b, NULL, &st->c, &prm);
}

static void mm_teardown(evk_context *ctx, void *state) {
    mm_state *st = state;
    if (!st) return;
    evk_tensor_free(ctx, &st->a);
    evk_tensor_free(ctx, &st->b);
    evk_tensor_free(ctx, &st->c);
    free(st);
}

#define MM_FLOPS(m, k, n) (2.0 * (m) * (k) * (n))
#define MM_BYTES(m, k, n, wb) (4.0 * (m) * (k) + (double)(wb) * (k) * (n) + 4.0 * (m) * (n))
#define MM_CASE(name, shape, dt, var, m, k, n, wb) \
    {name, shape, dt, MM_FLOPS(m, k, n), MM_BYTES(m, k, n, wb), &var, mm_setup, mm_record, mm_teardown}

static const mm_params p192 = {192, 192, 192, false, EVK_DTYPE_F32, 0};
static const mm_params p1024 = {1024, 1024, 1024, false, EVK_DTYPE_F32, 0};
static const mm_params p1024h = {1024, 1024, 1024, false, EVK_DTYPE_F16, 0};
static const mm_params p2048 = {2048, 2048, 2048, false, EVK_DTYPE_F32, 0};
static const mm_params p2048h = {2048, 2048, 2048, false, EVK_DTYPE_F16, 0};
static const mm_params plin = {4096, 320, 1280, true, EVK_DTYPE_F32, 0};
static const mm_params plinh = {4096, 320, 1280, true, EVK_DTYPE_F16, 0};
static const mm_params plinq8 = {4096, 320, 1280, true, EVK_DTYPE_QUANT, 8};
static const mm_params pff = {4096, 1280, 320, true, EVK_DTYPE_F32, 0};
static const mm_params pffh = {4096, 1280, 320, true, EVK_DTYPE_F16, 0};
static const mm_params pffq8 = {4096, 1280, 320, true, EVK_DTYPE_QUANT, 8};
static const mm_params pffq4k = {4096, 1280, 320, true, EVK_DTYPE_QUANT, 12};
static const mm_params pnarrow = {1280, 1280, 32, false, EVK_DTYPE_F32, 0};

/* dtype "f16" = f16 weights (B), f32 activations and output; "q8_0" / "q4_k" likewise (weight
 * bytes per element: 34/32, 144/256) */
static const bench_case matmul_cases[] = {
    MM_CASE("matmul", "192x192x192", "f32", p192, 192, 192, 192, 4),
    MM_CASE("matmul", "1024x1024x1024", "f32", p1024, 1024, 1024, 1024, 4),
    MM_CASE("matmul", "1024x1024x1024", "f16", p1024h, 1024, 1024, 1024, 2),
    MM_CASE("matmul", "2048x2048x2048", "f32", p2048, 2048, 2048, 2048, 4),
    MM_CASE("matmul", "2048x2048x2048", "f16", p2048h, 2048, 2048, 2048, 2),
    MM_CASE("matmul", "4096x320x1280", "f32", plin, 4096, 320, 1280, 4),
    MM_CASE("matmul", "4096x320x1280", "f16", plinh, 4096, 320, 1280, 2),
    MM_CASE("matmul", "4096x320x1280", "q8_0", plinq8, 4096, 320, 1280, 34.0 / 32),
    MM_CASE("matmul", "4096x1280x320", "f32", pff, 4096, 1280, 320, 4),
    MM_CASE("matmul", "4096x1280x320", "f16", pffh, 4096, 1280, 320, 2),
    MM_CASE("matmul", "4096x1280x320", "q8_0", pffq8, 4096, 1280, 320, 34.0 / 32),
    MM_CASE("matmul", "4096x1280x320", "q4_k", pffq4k, 4096, 1280, 320, 144.0 / 256),
    MM_CASE("matmul", "1280x1280x32", "f32", pnarrow, 1280, 1280, 32, 4),
};
BENCH_REGISTER(matmul_cases)
