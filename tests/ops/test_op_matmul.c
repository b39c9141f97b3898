/* test_op_matmul.c — evk_op_matmul against a double-precision reference: sizes that are no
 * multiple of any tile, every transpose combination, bias on and off, B shared by the batch,
 * f16 storage for A and B, both kernel families (GPU shared-memory tiles and CPU texel-buffer
 * register tiles, forced so both run on any device), outputs poisoned and every element checked,
 * and bad shapes rejected with a message. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "ops/op_matmul.h"

typedef struct mm_case {
    int64_t m, k, n, batch, batch_b;
    bool ta, tb, bias;
    evk_dtype da, db;
    evk_kernel_variant variant;
    float alpha;
} mm_case;

static float round_to(evk_dtype dt, float v) { return dt == EVK_DTYPE_F16 ? evk_f16_to_f32(evk_f32_to_f16(v)) : v; }

static void run_case(evk_context *ctx, const mm_case *t) {
    test_rng rng = {.state = (uint64_t)(t->m * 131 + t->k * 17 + t->n + t->ta * 2 + t->tb * 5 + t->batch_b * 7)};
    const int64_t M = t->m, K = t->k, N = t->n;
    size_t na = (size_t)(t->batch * M * K), nb = (size_t)(t->batch_b * K * N), nc = (size_t)(t->batch * M * N);
    float *ha = malloc(na * 4), *hb = malloc(nb * 4), *hbias = malloc((size_t)N * 4), *hc = malloc(nc * 4);
    double *ref = malloc(nc * sizeof *ref);
    test_rng_fill(&rng, ha, na, -1.0f, 1.0f);
    test_rng_fill(&rng, hb, nb, -1.0f, 1.0f);
    test_rng_fill(&rng, hbias, (size_t)N, -2.0f, 2.0f);
    for (size_t i = 0; i < na; i++) ha[i] = round_to(t->da, ha[i]);
    for (size_t i = 0; i < nb; i++) hb[i] = round_to(t->db, hb[i]);

    for (int64_t z = 0; z < t->batch; z++) {
        const float *A = ha + z * M * K, *B = hb + (t->batch_b > 1 ? z : 0) * K * N;
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) {
                double acc = 0;
                for (int64_t k = 0; k < K; k++) {
                    double av = t->ta ? A[k * M + i] : A[i * K + k];
                    double bv = t->tb ? B[j * K + k] : B[k * N + j];
                    acc += av * bv;
                }
                ref[(z * M + i) * N + j] = (t->alpha ? t->alpha : 1.0) * acc + (t->bias ? hbias[j] : 0.0);
            }
    }

    evk_tensor a, b, bias, c;
    int64_t sa[3] = {t->batch, t->ta ? K : M, t->ta ? M : K};
    int64_t sb[3] = {t->batch_b, t->tb ? N : K, t->tb ? K : N};
    int64_t sc[3] = {t->batch, M, N};
    TEST_OK(evk_tensor_alloc(ctx, t->da, 3, sa, &a));
    /* a shared B is given as a plain 2-D weight matrix */
    TEST_OK(evk_tensor_alloc(ctx, t->db, t->batch_b > 1 ? 3 : 2, t->batch_b > 1 ? sb : sb + 1, &b));
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 1, &N, &bias));
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 3, sc, &c));
    TEST_OK(evk_tensor_upload_f32(ctx, &a, ha));
    TEST_OK(evk_tensor_upload_f32(ctx, &b, hb));
    TEST_OK(evk_tensor_upload_f32(ctx, &bias, hbias));
    test_poison(ctx, &c.buf);

    evk_stream *s;
    TEST_OK(evk_stream_create(ctx, &s));
    TEST_OK(evk_stream_begin(s));
    evk_matmul_params p = {.transpose_a = t->ta, .transpose_b = t->tb, .alpha = t->alpha, .variant = t->variant};
    TEST_OK(evk_op_matmul(s, &a, &b, t->bias ? &bias : NULL, &c, &p));
    TEST_OK(evk_stream_run(s));
    TEST_OK(evk_tensor_download_f32(ctx, &c, hc));
    char what[160];
    snprintf(what, sizeof what, "matmul %s M=%lld K=%lld N=%lld batch %lld/%lld ta=%d tb=%d bias=%d a=%s b=%s", t->variant == EVK_KERNEL_CPU ? "cpu" : "gpu",
             (long long)M, (long long)K, (long long)N, (long long)t->batch, (long long)t->batch_b, t->ta, t->tb, t->bias,
             evk_dtype_name(t->da), evk_dtype_name(t->db));
    /* operands are rounded to their storage type above, so f16 only adds summation error */
    double tol = (t->da == EVK_DTYPE_F16 || t->db == EVK_DTYPE_F16) ? 2e-3 : 1e-5;
    test_assert_close(hc, ref, nc, tol, what);
    test_assert_no_validation(ctx);

    evk_stream_destroy(s);
    evk_tensor_free(ctx, &a);
    evk_tensor_free(ctx, &b);
    evk_tensor_free(ctx, &bias);
    evk_tensor_free(ctx, &c);
    free(ha); free(hb); free(hbias); free(hc); free(ref);
}

/* Every transpose combination, each with bias on and shared B and with bias off and batched B,
 * at odd and at multiple-of-4 sizes (the CPU kernel reads four elements per fetch only in the
 * latter). */
static void sweep(evk_context *ctx, evk_kernel_variant variant, int64_t m, int64_t k, int64_t n) {
    for (int combo = 0; combo < 8; combo++) {
        mm_case t = {.m = m, .k = k, .n = n, .batch = 3, .batch_b = (combo & 4) ? 1 : 3, .ta = combo & 1, .tb = (combo & 2) != 0,
                     .bias = (combo & 4) != 0, .da = EVK_DTYPE_F32, .db = EVK_DTYPE_F32, .variant = variant};
        run_case(ctx, &t);
    }
}

static void test_cpu_odd(void **state) { sweep(*state, EVK_KERNEL_CPU, 37, 53, 29); }
/* aligned sizes: every transpose combination (bias and sharing are independent of alignment) */
static void test_cpu_aligned(void **state) {
    for (int combo = 0; combo < 4; combo++) {
        mm_case t = {.m = 36, .k = 52, .n = 28, .batch = 3, .batch_b = 1, .ta = combo & 1, .tb = (combo & 2) != 0, .bias = true,
                     .da = EVK_DTYPE_F32, .db = EVK_DTYPE_F32, .variant = EVK_KERNEL_CPU};
        run_case(*state, &t);
    }
}
static void test_gpu_odd(void **state) { sweep(*state, EVK_KERNEL_GPU, 37, 53, 29); }

static void test_f16_storage(void **state) {
    evk_context *ctx = *state;
    const evk_kernel_variant vs[2] = {EVK_KERNEL_CPU, EVK_KERNEL_GPU};
    for (int v = 0; v < 2; v++)
        for (int combo = 0; combo < 4; combo += 3) {
            /* f16 weights (the usual case) plain with odd K and transposed with K in fours; f16
             * activations too */
            mm_case t = {.m = 37, .k = (combo & 2) ? 52 : 53, .n = 29, .batch = 2, .batch_b = 1, .ta = false, .tb = combo & 1, .bias = true,
                         .da = EVK_DTYPE_F32, .db = EVK_DTYPE_F16, .variant = vs[v]};
            run_case(ctx, &t);
            t.da = EVK_DTYPE_F16;
            t.ta = combo & 1;
            t.batch_b = 2;
            run_case(ctx, &t);
        }
}

/* Several workgroups in every direction, a K tail, alpha, and the Linear-layer shape (shared
 * transposed weights folded into one tall product). */
static void test_larger_and_linear(void **state) {
    evk_context *ctx = *state;
    const evk_kernel_variant vs[2] = {EVK_KERNEL_CPU, EVK_KERNEL_GPU};
    for (int v = 0; v < 2; v++) {
        mm_case t = {.m = 150, .k = 67, .n = 133, .batch = 2, .batch_b = 2, .alpha = 0.5f, .da = EVK_DTYPE_F32, .db = EVK_DTYPE_F32,
                     .variant = vs[v]};
        run_case(ctx, &t);
        mm_case lin = {.m = 77, .k = 64, .n = 40, .batch = 2, .batch_b = 1, .tb = true, .bias = true, .da = EVK_DTYPE_F32,
                       .db = EVK_DTYPE_F16, .variant = vs[v]};
        run_case(ctx, &lin);
    }
    /* big and aligned (the usual case for model layers): the shuffle build where the device has
     * one, else the large tile; transposed A, the large tile everywhere */
    mm_case big = {.m = 256, .k = 128, .n = 264, .batch = 1, .batch_b = 1, .bias = true, .da = EVK_DTYPE_F32, .db = EVK_DTYPE_F32,
                   .variant = EVK_KERNEL_CPU};
    run_case(ctx, &big);
    big.ta = true;
    run_case(ctx, &big);
    /* automatic choice */
    mm_case t = {.m = 5, .k = 3, .n = 7, .batch = 1, .batch_b = 1, .bias = true, .da = EVK_DTYPE_F32, .db = EVK_DTYPE_F32};
    run_case(ctx, &t);
}

static void test_bad_shapes(void **state) {
    evk_context *ctx = *state;
    evk_tensor a, b, c, bias, ci;
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 2, (int64_t[]){4, 6}, &a));
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 2, (int64_t[]){5, 3}, &b));
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 2, (int64_t[]){4, 3}, &c));
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 1, (int64_t[]){4}, &bias));
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_I32, 2, (int64_t[]){4, 3}, &ci));
    evk_stream *s;
    TEST_OK(evk_stream_create(ctx, &s));
    TEST_OK(evk_stream_begin(s));
    assert_int_equal(evk_op_matmul(s, &a, &b, NULL, &c, NULL), EVK_ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(evk_error_message(), "inner dimensions"));
    evk_matmul_params tb = {.transpose_b = true};
    evk_tensor b2;
    TEST_OK(evk_tensor_reshape(&b, 2, (int64_t[]){3, 5}, &b2));
    assert_int_equal(evk_op_matmul(s, &a, &b2, NULL, &c, &tb), EVK_ERROR_INVALID_ARGUMENT); /* K 6 vs 5 */
    evk_tensor b3;
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 2, (int64_t[]){6, 3}, &b3));
    assert_int_equal(evk_op_matmul(s, &a, &b3, &bias, &c, NULL), EVK_ERROR_INVALID_ARGUMENT); /* bias 4, N 3 */
    assert_non_null(strstr(evk_error_message(), "bias"));
    assert_int_equal(evk_op_matmul(s, &a, &b3, NULL, &ci, NULL), EVK_ERROR_INVALID_ARGUMENT); /* c not f32 */
    assert_int_equal(evk_op_matmul(s, &a, &b3, NULL, &a, NULL), EVK_ERROR_INVALID_ARGUMENT);  /* wrong shape / aliasing */
    assert_int_equal(evk_op_matmul(s, &a, &b3, NULL, NULL, NULL), EVK_ERROR_INVALID_ARGUMENT);
    TEST_OK(evk_op_matmul(s, &a, &b3, NULL, &c, NULL));
    TEST_OK(evk_stream_run(s));
    evk_stream_destroy(s);
    evk_tensor_free(ctx, &a);
    evk_tensor_free(ctx, &b);
    evk_tensor_free(ctx, &b3);
    evk_tensor_free(ctx, &c);
    evk_tensor_free(ctx, &ci);
    evk_tensor_free(ctx, &bias);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cpu_odd),          cmocka_unit_test(test_cpu_aligned),
        cmocka_unit_test(test_gpu_odd),          cmocka_unit_test(test_f16_storage),
        cmocka_unit_test(test_larger_and_linear), cmocka_unit_test(test_bad_shapes),
    };
    return cmocka_run_group_tests(tests, test_group_setup, test_group_teardown);
}
