/* test_op_matmul_quant.c — the dequantising matmul (evk_op_matmul with GGUF block-quantised
 * weights) against a double-precision product with the dequantised weights: every block type
 * (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K, Q6_K) from random blocks (every bit random except
 * the f16 scales, drawn finite), the weights dequantised on the host by formats/gguf_quant.h (the
 * reference checked against gguf-py), odd M and N, K several blocks, bias on and off, a batched
 * A folded into one product, f16 activations, both kernel families (GPU shared-memory tiles and
 * CPU register tiles, forced so both run on any device) and the CPU kernel's large tile; outputs
 * poisoned, every element checked against a bound that scales with its terms; misuse rejected. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/gguf_quant.h"
#include "harness.h"
#include "ops/op_matmul.h"

typedef struct qtype {
    uint32_t type;
    const char *name;
    uint32_t block, bytes;
    int f16_fields[2]; /* byte offsets of the f16 scales in a block; -1: none */
} qtype;

static const qtype types[] = {
    {EVK_GGUF_Q4_0, "Q4_0", 32, 18, {0, -1}},    {EVK_GGUF_Q4_1, "Q4_1", 32, 20, {0, 2}},    {EVK_GGUF_Q5_0, "Q5_0", 32, 22, {0, -1}},
    {EVK_GGUF_Q5_1, "Q5_1", 32, 24, {0, 2}},     {EVK_GGUF_Q8_0, "Q8_0", 32, 34, {0, -1}},   {EVK_GGUF_Q4_K, "Q4_K", 256, 144, {0, 2}},
    {EVK_GGUF_Q5_K, "Q5_K", 256, 176, {0, 2}},   {EVK_GGUF_Q6_K, "Q6_K", 256, 210, {208, -1}},
};
#define NTYPES (sizeof types / sizeof *types)

typedef struct qcase {
    const qtype *t;
    int64_t m, n, k, batch;
    bool bias;
    evk_dtype da;
    evk_kernel_variant variant;
} qcase;

static void run_case(evk_context *ctx, const qcase *c) {
    const qtype *t = c->t;
    const int64_t M = c->m, N = c->n, K = c->k, rows = c->batch * M;
    test_rng rng = {.state = (uint64_t)(t->type * 7919 + M * 131 + N * 17 + K + c->bias)};
    const size_t nblocks = (size_t)(N * K / t->block), wbytes = nblocks * t->bytes;
    uint8_t *blocks = malloc(wbytes);
    float *w = malloc((size_t)(N * K) * 4), *ha = malloc((size_t)(rows * K) * 4), *hbias = malloc((size_t)N * 4);
    float *hc = malloc((size_t)(rows * N) * 4);
    double *ref = malloc((size_t)(rows * N) * sizeof *ref), *mag = malloc((size_t)(rows * N) * sizeof *mag);
    for (size_t i = 0; i < wbytes; i++) blocks[i] = (uint8_t)(test_rng_u64(&rng) >> 56);
    /* K-quant scales multiply 6-bit sub-scales: keep products of order one */
    const double scale = t->block == 256 ? 1.0 / 64 : 1.0 / 16;
    for (size_t b = 0; b < nblocks; b++)
        for (int f = 0; f < 2; f++)
            if (t->f16_fields[f] >= 0) {
                uint16_t h = evk_f32_to_f16((float)((test_rng_uniform(&rng) * 2 - 1) * scale));
                memcpy(blocks + b * t->bytes + t->f16_fields[f], &h, 2);
            }
    TEST_OK(evk_gguf_dequant(t->type, blocks, 0, (uint64_t)(N * K), EVK_DTYPE_F32, w));
    test_rng_fill(&rng, ha, (size_t)(rows * K), -1.0f, 1.0f);
    if (c->da == EVK_DTYPE_F16)
        for (int64_t i = 0; i < rows * K; i++) ha[i] = evk_f16_to_f32(evk_f32_to_f16(ha[i]));
    test_rng_fill(&rng, hbias, (size_t)N, -2.0f, 2.0f);
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < N; j++) {
            double acc = 0, m = 0;
            for (int64_t k = 0; k < K; k++) {
                double p = (double)ha[i * K + k] * w[j * K + k];
                acc += p;
                m += fabs(p);
            }
            ref[i * N + j] = acc + (c->bias ? hbias[j] : 0.0);
            mag[i * N + j] = m + (c->bias ? fabs(hbias[j]) : 0.0);
        }

    evk_tensor a, wq, bias, out;
    TEST_OK(evk_tensor_alloc(ctx, c->da, 3, (int64_t[]){c->batch, M, K}, &a));
    TEST_OK(evk_tensor_alloc_quant(ctx, t->type, 2, (int64_t[]){N, K}, &wq));
    assert_int_equal(evk_tensor_bytes(&wq), wbytes);
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 1, &N, &bias));
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 3, (int64_t[]){c->batch, M, N}, &out));
    TEST_OK(evk_tensor_upload_f32(ctx, &a, ha));
    TEST_OK(evk_buffer_upload(ctx, &wq.buf, 0, blocks, wbytes));
    TEST_OK(evk_tensor_upload_f32(ctx, &bias, hbias));
    test_poison(ctx, &out.buf);
    evk_stream *s;
    TEST_OK(evk_stream_create(ctx, &s));
    TEST_OK(evk_stream_begin(s));
    evk_matmul_params p = {.transpose_b = true, .variant = c->variant};
    TEST_OK(evk_op_matmul(s, &a, &wq, c->bias ? &bias : NULL, &out, &p));
    TEST_OK(evk_stream_run(s));
    TEST_OK(evk_tensor_download_f32(ctx, &out, hc));
    char what[160];
    snprintf(what, sizeof what, "matmul %s %s M=%lld N=%lld K=%lld batch %lld bias=%d a=%s", t->name,
             c->variant == EVK_KERNEL_CPU ? "cpu" : c->variant == EVK_KERNEL_GPU ? "gpu" : "auto", (long long)M, (long long)N,
             (long long)K, (long long)c->batch, c->bias, evk_dtype_name(c->da));
    /* f32 sums of exact products: each element within a few ulps of its terms' magnitude */
    for (int64_t i = 0; i < rows * N; i++)
        if (!(fabs(hc[i] - ref[i]) <= 1e-5 * mag[i] + 1e-6))
            fail_msg("%s: element %lld (row %lld, col %lld) is %.9g, reference %.9g (terms' magnitude %.3g)", what, (long long)i,
                     (long long)(i / N), (long long)(i % N), (double)hc[i], ref[i], mag[i]);
    test_assert_close(hc, ref, (size_t)(rows * N), 1e-5, what);
    test_assert_no_validation(ctx);
    evk_stream_destroy(s);
    evk_tensor_free(ctx, &a);
    evk_tensor_free(ctx, &wq);
    evk_tensor_free(ctx, &bias);
    evk_tensor_free(ctx, &out);
    free(blocks), free(w), free(ha), free(hbias), free(hc), free(ref), free(mag);
}

/* Every type, odd M and N, K three blocks (32-blocks) or two (K-quants); bias on with a batched
 * A, bias off with a single one. */
static void sweep(evk_context *ctx, evk_kernel_variant variant) {
    for (size_t i = 0; i < NTYPES; i++) {
        qcase c = {.t = &types[i], .m = 37, .n = 29, .k = types[i].block == 256 ? 512 : 96, .batch = 2, .bias = true,
                   .da = EVK_DTYPE_F32, .variant = variant};
        run_case(ctx, &c);
        c.m = 5, c.n = 67, c.batch = 1, c.bias = false;
        run_case(ctx, &c);
    }
}

static void test_cpu_kernel(void **state) { sweep(*state, EVK_KERNEL_CPU); }
static void test_gpu_kernel(void **state) { sweep(*state, EVK_KERNEL_GPU); }

/* f16 activations (the GPU family hands them to the CPU kernel), the automatic choice, and a
 * product big enough for the CPU kernel's large tile. */
static void test_f16_auto_large(void **state) {
    evk_context *ctx = *state;
    qcase c = {.t = &types[4], .m = 19, .n = 33, .k = 64, .batch = 1, .bias = true, .da = EVK_DTYPE_F16, .variant = EVK_KERNEL_CPU};
    run_case(ctx, &c);
    c.variant = EVK_KERNEL_GPU;
    run_case(ctx, &c);
    c.t = &types[5], c.k = 256, c.da = EVK_DTYPE_F32, c.variant = EVK_KERNEL_AUTO;
    run_case(ctx, &c);
    qcase big = {.t = &types[5], .m = 67, .n = 130, .k = 1024, .batch = 1, .bias = true, .da = EVK_DTYPE_F32, .variant = EVK_KERNEL_CPU};
    run_case(ctx, &big);
}

static void test_misuse(void **state) {
    evk_context *ctx = *state;
    evk_tensor a, wq, c, w3;
    assert_int_equal(evk_tensor_alloc_quant(ctx, EVK_GGUF_Q8_0, 2, (int64_t[]){4, 48}, &wq), EVK_ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(evk_error_message(), "block"));
    assert_int_equal(evk_tensor_alloc_quant(ctx, EVK_GGUF_Q2_K, 2, (int64_t[]){4, 256}, &wq), EVK_ERROR_INVALID_ARGUMENT);
    assert_int_equal(evk_tensor_alloc(ctx, EVK_DTYPE_QUANT, 2, (int64_t[]){4, 32}, &wq), EVK_ERROR_INVALID_ARGUMENT);
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 2, (int64_t[]){3, 64}, &a));
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 2, (int64_t[]){3, 4}, &c));
    TEST_OK(evk_tensor_alloc_quant(ctx, EVK_GGUF_Q8_0, 2, (int64_t[]){4, 64}, &wq));
    TEST_OK(evk_tensor_alloc_quant(ctx, EVK_GGUF_Q8_0, 3, (int64_t[]){1, 4, 64}, &w3));
    assert_int_equal(evk_tensor_bytes(&wq), 4 * 2 * 34);
    float host[4 * 64];
    assert_int_equal(evk_tensor_download_f32(ctx, &wq, host), EVK_ERROR_INVALID_ARGUMENT);
    evk_tensor r;
    assert_int_equal(evk_tensor_reshape(&wq, 2, (int64_t[]){16, 16}, &r), EVK_ERROR_INVALID_ARGUMENT);
    evk_stream *s;
    TEST_OK(evk_stream_create(ctx, &s));
    TEST_OK(evk_stream_begin(s));
    assert_int_equal(evk_op_matmul(s, &a, &wq, NULL, &c, NULL), EVK_ERROR_INVALID_ARGUMENT); /* not transposed */
    assert_non_null(strstr(evk_error_message(), "transposed"));
    evk_matmul_params tb = {.transpose_b = true};
    assert_int_equal(evk_op_matmul(s, &a, &w3, NULL, &c, &tb), EVK_ERROR_INVALID_ARGUMENT); /* not 2-D */
    evk_tensor bad = wq;
    bad.quant = EVK_GGUF_Q2_K;
    assert_int_equal(evk_op_matmul(s, &a, &bad, NULL, &c, &tb), EVK_ERROR_INVALID_ARGUMENT);
    assert_int_equal(evk_op_matmul(s, &wq, &wq, NULL, &c, &tb), EVK_ERROR_INVALID_ARGUMENT); /* a quantised */
    TEST_OK(evk_stream_run(s));
    evk_stream_destroy(s);
    evk_tensor_free(ctx, &a);
    evk_tensor_free(ctx, &c);
    evk_tensor_free(ctx, &wq);
    evk_tensor_free(ctx, &w3);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cpu_kernel),
        cmocka_unit_test(test_gpu_kernel),
        cmocka_unit_test(test_f16_auto_large),
        cmocka_unit_test(test_misuse),
    };
    return cmocka_run_group_tests(tests, test_group_setup, test_group_teardown);
}
