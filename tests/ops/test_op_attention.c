/* test_op_attention.c — fused attention against a double-precision reference: every head dim the
 * UNet and CLIP use (32, 40, 64, 80, 96, 128, SD 1.5's 160) plus odd ones and large ones up to the
 * limit of 256, self and cross (Lk = 53, 77), one query,
 * a long sequence, additive and causal masks (including a fully masked row, which must give zeros
 * rather than NaN), both kernels (tiled and rows, the latter with 1 and 4 query rows per lane) on
 * the same inputs, and shape errors.
 * Tolerance: rel L2 2e-5 — the kernel sums Lk exponentials and Lk·D products in f32 in a different
 * order from the reference and uses the device's exp2 (a few ulp), so errors grow like √Lk·ε. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "ops/op_attention.h"

typedef struct att_case {
    int64_t B, Lq, Lk, H, D;
    float scale;       /* 0: default */
    int mask;          /* 0 none, 1 causal as an additive -inf mask, 2 random finite mask + one fully masked row */
    bool causal;       /* causal flag */
    float amp;         /* input amplitude (large values exercise the running-max rescale) */
    evk_attention_impl impl;
} att_case;

static void reference(const att_case *c, const float *q, const float *k, const float *v, const float *mask,
                      double *out) {
    double scale = c->scale != 0.0f ? c->scale : 1.0 / sqrt((double)c->D);
    double *sc = malloc(sizeof(double) * c->Lk);
    for (int64_t b = 0; b < c->B; b++)
        for (int64_t h = 0; h < c->H; h++)
            for (int64_t i = 0; i < c->Lq; i++) {
                const float *qi = q + ((b * c->Lq + i) * c->H + h) * c->D;
                double mx = -INFINITY;
                for (int64_t j = 0; j < c->Lk; j++) {
                    const float *kj = k + ((b * c->Lk + j) * c->H + h) * c->D;
                    double d = 0;
                    for (int64_t e = 0; e < c->D; e++) d += (double)qi[e] * kj[e];
                    d *= scale;
                    if (mask) d += mask[i * c->Lk + j];
                    if (c->causal && j > i) d = -INFINITY;
                    sc[j] = d;
                    if (d > mx) mx = d;
                }
                double *o = out + ((b * c->Lq + i) * c->H + h) * c->D;
                for (int64_t e = 0; e < c->D; e++) o[e] = 0;
                if (mx == -INFINITY) continue; /* fully masked: zeros by definition */
                double sum = 0;
                for (int64_t j = 0; j < c->Lk; j++) {
                    double w = exp(sc[j] - mx);
                    sum += w;
                    const float *vj = v + ((b * c->Lk + j) * c->H + h) * c->D;
                    for (int64_t e = 0; e < c->D; e++) o[e] += w * vj[e];
                }
                for (int64_t e = 0; e < c->D; e++) o[e] /= sum;
            }
    free(sc);
}

static void upload_new(evk_context *ctx, int ndim, const int64_t *shape, const float *data, evk_tensor *t) {
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, ndim, shape, t));
    TEST_OK(evk_tensor_upload_f32(ctx, t, data));
}

static void run_case(evk_context *ctx, const att_case *c, uint64_t seed) {
    test_rng rng = {seed};
    size_t nq = (size_t)(c->B * c->Lq * c->H * c->D), nk = (size_t)(c->B * c->Lk * c->H * c->D);
    float *q = malloc(nq * 4), *k = malloc(nk * 4), *v = malloc(nk * 4), *got = malloc(nq * 4);
    float *mask = NULL;
    double *ref = malloc(nq * sizeof(double));
    test_rng_fill(&rng, q, nq, -c->amp, c->amp);
    test_rng_fill(&rng, k, nk, -c->amp, c->amp);
    test_rng_fill(&rng, v, nk, -1.0f, 1.0f);
    if (c->mask) {
        mask = malloc((size_t)(c->Lq * c->Lk) * 4);
        if (c->mask == 1) {
            for (int64_t i = 0; i < c->Lq; i++)
                for (int64_t j = 0; j < c->Lk; j++) mask[i * c->Lk + j] = j > i ? -INFINITY : 0.0f;
        } else {
            test_rng_fill(&rng, mask, (size_t)(c->Lq * c->Lk), -3.0f, 1.0f);
            for (int64_t j = 0; j < c->Lk; j++) mask[(c->Lq / 2) * c->Lk + j] = -INFINITY;
        }
    }
    reference(c, q, k, v, mask, ref);

    int64_t sq[4] = {c->B, c->Lq, c->H, c->D}, sk[4] = {c->B, c->Lk, c->H, c->D}, sm[2] = {c->Lq, c->Lk};
    evk_tensor tq, tk, tv, to, tm = {0};
    upload_new(ctx, 4, sq, q, &tq);
    upload_new(ctx, 4, sk, k, &tk);
    upload_new(ctx, 4, sk, v, &tv);
    if (mask) upload_new(ctx, 2, sm, mask, &tm);
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 4, sq, &to));
    test_poison(ctx, &to.buf);
    evk_stream *s;
    TEST_OK(evk_stream_create(ctx, &s));
    TEST_OK(evk_stream_begin(s));
    evk_attention_params p = {.scale = c->scale, .mask = mask ? &tm : NULL, .causal = c->causal, .impl = c->impl};
    TEST_OK(evk_op_attention(s, &tq, &tk, &tv, &to, &p));
    TEST_OK(evk_stream_run(s));
    TEST_OK(evk_tensor_download_f32(ctx, &to, got));
    char what[160];
    snprintf(what, sizeof what, "attention B%lld Lq%lld Lk%lld H%lld D%lld mask%d causal%d impl%d", (long long)c->B,
             (long long)c->Lq, (long long)c->Lk, (long long)c->H, (long long)c->D, c->mask, (int)c->causal, (int)c->impl);
    test_assert_close(got, ref, nq, 2e-5, what);
    if (c->mask == 2) /* the fully masked row is exactly zero */
        for (int64_t b = 0; b < c->B; b++)
            for (int64_t h = 0; h < c->H; h++)
                for (int64_t e = 0; e < c->D; e++)
                    assert_true(got[((b * c->Lq + c->Lq / 2) * c->H + h) * c->D + e] == 0.0f);
    test_assert_no_validation(ctx);
    evk_stream_destroy(s);
    evk_tensor_free(ctx, &tq);
    evk_tensor_free(ctx, &tk);
    evk_tensor_free(ctx, &tv);
    evk_tensor_free(ctx, &to);
    if (mask) evk_tensor_free(ctx, &tm);
    free(q); free(k); free(v); free(got); free(mask); free(ref);
}

/* This file tests the rows kernel (the one CPU devices run) and the automatic choice;
 * test_op_attention_tiled.c includes it with ATT_TILED defined to run the same cases on the tiled
 * kernel. Two programs because lavapipe compiles every (kernel, head dim, mask) pipeline afresh
 * and one program with both would pass the per-test time budget. */
#ifdef ATT_TILED
#define IMPL EVK_ATTENTION_TILED
#else
#define IMPL EVK_ATTENTION_ROWS
#endif

static void test_head_dims_cross(void **state) {
#ifdef ATT_TILED
    /* lavapipe compiles the tiled kernel slowly at large head dims (every shared-memory access
     * becomes per-lane code): one dim per tile-size regime and the unaligned 24 */
    const int64_t dims[] = {24, 40, 64, 80};
#else
    const int64_t dims[] = {32, 40, 64, 80, 96, 128, 24};
#endif
    for (size_t di = 0; di < sizeof dims / sizeof dims[0]; di++) {
        att_case c = {.B = 2, .Lq = 37, .Lk = 53, .H = 3, .D = dims[di], .amp = 1.0f, .impl = IMPL};
        run_case(*state, &c, 100 + di);
    }
#ifndef ATT_TILED
    /* Lq >= 64 puts 4 query rows on each lane of the rows kernel (its pipelines compile slowly on
     * lavapipe: the smallest and largest usual head dims; D = 64 comes with the masks) */
    const int64_t dims4[] = {40, 128};
    for (size_t di = 0; di < sizeof dims4 / sizeof dims4[0]; di++) {
        att_case c4 = {.B = 1, .Lq = 71, .Lk = 53, .H = 2, .D = dims4[di], .amp = 1.0f, .impl = IMPL};
        run_case(*state, &c4, 150 + di);
    }
#endif
}

static void test_odd_head_dims(void **state) {
    /* head dims that are not multiples of 4 (single-float rows in the rows kernel) */
#ifdef ATT_TILED
    const int64_t dims[] = {13, 50};
#else
    const int64_t dims[] = {1, 13, 50, 127};
#endif
    for (size_t di = 0; di < sizeof dims / sizeof dims[0]; di++) {
        att_case c = {.B = 1, .Lq = 19, .Lk = 23, .H = 2, .D = dims[di], .amp = 1.0f, .impl = IMPL};
        run_case(*state, &c, 200 + di);
    }
    att_case c = {.B = 1, .Lq = 19, .Lk = 23, .H = 2, .D = 32, .amp = 1.0f}; /* automatic choice */
    run_case(*state, &c, 210);
}

static void test_large_head_dims(void **state) {
    /* SD 1.5's 1280-channel levels (8 heads of 160) and the rest of the range up to 256, on odd
     * sequence lengths; 250 is not a multiple of 4 (single-float rows in the rows kernel) */
#ifdef ATT_TILED
    const int64_t dims[] = {160, 256};
#else
    const int64_t dims[] = {160, 200, 256, 250};
#endif
    for (size_t di = 0; di < sizeof dims / sizeof dims[0]; di++) {
        att_case c = {.B = 2, .Lq = 13, .Lk = 29, .H = 2, .D = dims[di], .amp = 1.0f, .impl = IMPL};
        run_case(*state, &c, 600 + di);
    }
#ifdef ATT_TILED
    att_case c = {.B = 1, .Lq = 21, .Lk = 77, .H = 3, .D = 200, .amp = 1.0f, .impl = IMPL};
#else
    /* Lq >= 64: 4 query rows per lane; cross-attention to 77 text tokens */
    att_case c = {.B = 1, .Lq = 67, .Lk = 77, .H = 2, .D = 160, .amp = 1.0f, .impl = IMPL};
#endif
    run_case(*state, &c, 650);
}

static void test_masks(void **state) {
    {
        /* CLIP text encoder: causal mask as -inf above the diagonal, L = 77, 12 heads of 64 */
        att_case c1 = {.B = 2, .Lq = 77, .Lk = 77, .H = 4, .D = 64, .mask = 1, .amp = 1.5f, .impl = IMPL};
        run_case(*state, &c1, 300 );
        att_case c2 = {.B = 2, .Lq = 77, .Lk = 77, .H = 3, .D = 40, .causal = true, .amp = 1.5f, .impl = IMPL};
        run_case(*state, &c2, 310 );
        att_case c3 = {.B = 1, .Lq = 29, .Lk = 41, .H = 2, .D = 32, .mask = 2, .amp = 1.0f, .impl = IMPL};
        run_case(*state, &c3, 320 );
    }
}

static void test_single_query_and_cross77(void **state) {
    {
        att_case c1 = {.B = 3, .Lq = 1, .Lk = 61, .H = 5, .D = 64, .amp = 1.0f, .impl = IMPL};
        run_case(*state, &c1, 400 );
        att_case c2 = {.B = 2, .Lq = 45, .Lk = 77, .H = 8, .D = 40, .scale = 0.3f, .amp = 2.0f, .impl = IMPL};
        run_case(*state, &c2, 410 );
        att_case c3 = {.B = 2, .Lq = 16, .Lk = 16, .H = 5, .D = 64, .amp = 1.0f, .impl = IMPL}; /* temporal */
        run_case(*state, &c3, 420 );
    }
}

static void test_long_sequence(void **state) {
    att_case c = {.B = 1, .Lq = 300, .Lk = 301, .H = 2, .D = 40, .amp = 3.0f, .impl = IMPL};
    run_case(*state, &c, 500);
}

static void test_shape_errors(void **state) {
    evk_context *ctx = *state;
    int64_t sq[4] = {2, 5, 3, 8}, sk[4] = {2, 7, 3, 8}, sbad[4] = {2, 7, 4, 8}, sbig[4] = {1, 4, 1, 260}, sm[2] = {5, 6};
    evk_tensor q, k, v, bad, big, m;
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 4, sq, &q));
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 4, sk, &k));
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 4, sk, &v));
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 4, sbad, &bad));
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 4, sbig, &big));
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 2, sm, &m));
    evk_stream *s;
    TEST_OK(evk_stream_create(ctx, &s));
    TEST_OK(evk_stream_begin(s));
    assert_int_equal(evk_op_attention(s, &q, &bad, &v, &q, NULL), EVK_ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(evk_error_message(), "k has shape 2x7x4x8"));
    assert_int_equal(evk_op_attention(s, &q, &k, &v, &k, NULL), EVK_ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(evk_error_message(), "out"));
    assert_int_equal(evk_op_attention(s, &big, &big, &big, &big, NULL), EVK_ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(evk_error_message(), "head dim 260"));
    evk_attention_params p = {.mask = &m};
    assert_int_equal(evk_op_attention(s, &q, &k, &v, &q, &p), EVK_ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(evk_error_message(), "mask"));
    evk_attention_params pi = {.impl = (evk_attention_impl)7};
    assert_int_equal(evk_op_attention(s, &q, &k, &v, &q, &pi), EVK_ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(evk_error_message(), "unknown kernel"));
    assert_int_equal(evk_stream_dispatch_count(s), 0);
    TEST_OK(evk_stream_run(s));
    evk_stream_destroy(s);
    evk_tensor *all[] = {&q, &k, &v, &bad, &big, &m};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) evk_tensor_free(ctx, all[i]);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_head_dims_cross),   cmocka_unit_test(test_odd_head_dims),
        cmocka_unit_test(test_large_head_dims),   cmocka_unit_test(test_masks),
        cmocka_unit_test(test_single_query_and_cross77),
        cmocka_unit_test(test_long_sequence),     cmocka_unit_test(test_shape_errors),
    };
    return cmocka_run_group_tests(tests, test_group_setup, test_group_teardown);
}
