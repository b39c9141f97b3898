/* test_op_mmdit.c — the MMDiT kernels against double-precision references at odd sizes:
 * modulation x·(1 + scale) + shift and the gated residual h += gate·y with chunks read out of a
 * [B, K·D] projection (out of place and in place), RMS norm over the last dim (both builds: row
 * lengths that divide by 4 and ones that do not; a large common offset), unpatchify for several
 * patch sizes on non-square grids, and argument errors. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "ops/op_layout.h"
#include "ops/op_modulate.h"
#include "ops/op_norm.h"

static evk_tensor new_tensor(evk_context *ctx, int ndim, const int64_t *shape, const float *data) {
    evk_tensor t;
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, ndim, shape, &t));
    if (data) TEST_OK(evk_tensor_upload_f32(ctx, &t, data));
    else test_poison(ctx, &t.buf);
    return t;
}

static void check(evk_context *ctx, const evk_tensor *t, const double *ref, size_t n, double tol, const char *what) {
    float *got = malloc(n * sizeof *got);
    TEST_OK(evk_tensor_download_f32(ctx, t, got));
    test_assert_close(got, ref, n, tol, what);
    free(got);
}

static void modulate_case(evk_context *ctx, int64_t B, int64_t L, int64_t D, int64_t K, uint32_t sc, uint32_t sh, uint32_t gate,
                          bool in_place, uint64_t seed) {
    test_rng rng = {seed};
    size_t n = (size_t)(B * L * D), ne = (size_t)(B * K * D);
    float *x = malloc(n * 4), *y = malloc(n * 4), *e = malloc(ne * 4);
    double *ref = malloc(n * sizeof *ref), *gref = malloc(n * sizeof *gref);
    test_rng_fill(&rng, x, n, -2.0f, 2.0f);
    test_rng_fill(&rng, y, n, -2.0f, 2.0f);
    test_rng_fill(&rng, e, ne, -1.5f, 1.5f);
    for (int64_t b = 0; b < B; b++)
        for (int64_t l = 0; l < L; l++)
            for (int64_t d = 0; d < D; d++) {
                size_t i = (size_t)((b * L + l) * D + d);
                const float *row = e + b * K * D;
                ref[i] = (double)x[i] * (1.0 + row[sc * D + d]) + row[sh * D + d];
                gref[i] = (double)x[i] + (double)row[gate * D + d] * y[i];
            }
    int64_t sx[3] = {B, L, D}, se[2] = {B, K * D};
    evk_tensor tx = new_tensor(ctx, 3, sx, x), te = new_tensor(ctx, 2, se, e), ty = new_tensor(ctx, 3, sx, y);
    evk_tensor to = in_place ? tx : new_tensor(ctx, 3, sx, NULL);
    evk_stream *s;
    TEST_OK(evk_stream_create(ctx, &s));
    TEST_OK(evk_stream_begin(s));
    TEST_OK(evk_op_modulate(s, &tx, &te, sc, sh, &to));
    TEST_OK(evk_stream_run(s));
    char what[128];
    snprintf(what, sizeof what, "modulate %lldx%lldx%lld K%lld (%u, %u)%s", (long long)B, (long long)L, (long long)D, (long long)K, sc, sh,
             in_place ? " in place" : "");
    check(ctx, &to, ref, n, 1e-6, what);
    /* gate: h = x (fresh upload) += emb[gate]·y */
    evk_tensor th = new_tensor(ctx, 3, sx, x);
    TEST_OK(evk_stream_begin(s));
    TEST_OK(evk_op_gate_add(s, &th, &ty, &te, gate));
    TEST_OK(evk_stream_run(s));
    snprintf(what, sizeof what, "gate_add %lldx%lldx%lld K%lld gate %u", (long long)B, (long long)L, (long long)D, (long long)K, gate);
    check(ctx, &th, gref, n, 1e-6, what);
    test_assert_no_validation(ctx);
    evk_stream_destroy(s);
    evk_tensor_free(ctx, &tx), evk_tensor_free(ctx, &te), evk_tensor_free(ctx, &ty), evk_tensor_free(ctx, &th);
    if (!in_place) evk_tensor_free(ctx, &to);
    free(x), free(y), free(e), free(ref), free(gref);
}

static void test_modulate(void **state) {
    evk_context *ctx = *state;
    modulate_case(ctx, 3, 7, 13, 6, 1, 0, 2, false, 1);  /* AdaLayerNormZero chunks */
    modulate_case(ctx, 2, 5, 16, 9, 7, 6, 8, false, 2);  /* SD3.5's second attention chunks */
    modulate_case(ctx, 1, 33, 24, 2, 0, 1, 1, true, 3);  /* AdaLayerNormContinuous (scale, shift), in place */
    modulate_case(ctx, 4, 1, 5, 3, 2, 2, 0, false, 4);
}

static void rms_case(evk_context *ctx, int64_t rows, int64_t F, float eps, float offset, bool in_place, uint64_t seed) {
    test_rng rng = {seed};
    size_t n = (size_t)(rows * F);
    float *x = malloc(n * 4), *g = malloc((size_t)F * 4);
    double *ref = malloc(n * sizeof *ref);
    test_rng_fill(&rng, x, n, -2.0f, 2.0f);
    for (size_t i = 0; i < n; i++) x[i] += offset;
    test_rng_fill(&rng, g, (size_t)F, 0.5f, 1.5f);
    for (int64_t r = 0; r < rows; r++) {
        double ms = 0;
        for (int64_t i = 0; i < F; i++) ms += (double)x[r * F + i] * x[r * F + i];
        ms /= (double)F;
        for (int64_t i = 0; i < F; i++) ref[r * F + i] = x[r * F + i] / sqrt(ms + eps) * g[i];
    }
    int64_t sx[2] = {rows, F}, sg[1] = {F};
    evk_tensor tx = new_tensor(ctx, 2, sx, x), tg = new_tensor(ctx, 1, sg, g);
    evk_tensor ty = in_place ? tx : new_tensor(ctx, 2, sx, NULL);
    evk_stream *s;
    TEST_OK(evk_stream_create(ctx, &s));
    TEST_OK(evk_stream_begin(s));
    TEST_OK(evk_op_rms_norm(s, &tx, &tg, eps, &ty));
    TEST_OK(evk_stream_run(s));
    char what[96];
    snprintf(what, sizeof what, "rms_norm %lldx%lld eps %g offset %g", (long long)rows, (long long)F, eps, offset);
    check(ctx, &ty, ref, n, 1e-5, what);
    test_assert_no_validation(ctx);
    evk_stream_destroy(s);
    evk_tensor_free(ctx, &tx), evk_tensor_free(ctx, &tg);
    if (!in_place) evk_tensor_free(ctx, &ty);
    free(x), free(g), free(ref);
}

static void test_rms_norm(void **state) {
    evk_context *ctx = *state;
    rms_case(ctx, 37, 64, 1e-6f, 0.0f, false, 5); /* CPU build (F % 4 == 0): SD3.5's head dim */
    rms_case(ctx, 11, 13, 1e-6f, 0.0f, false, 6); /* odd row: scalar build */
    rms_case(ctx, 5, 8, 1e-5f, 50.0f, true, 7);   /* large offset, in place */
    rms_case(ctx, 3, 1000, 1e-6f, 0.0f, false, 8);
}

static void unpatchify_case(evk_context *ctx, int64_t B, int64_t C, int64_t h, int64_t w, int64_t p, uint64_t seed) {
    test_rng rng = {seed};
    size_t n = (size_t)(B * C * h * w * p * p);
    float *x = malloc(n * 4);
    double *ref = malloc(n * sizeof *ref);
    test_rng_fill(&rng, x, n, -1.0f, 1.0f);
    /* diffusers: x.reshape(B, h, w, p, p, C); einsum("nhwpqc->nchpwq"); reshape(B, C, h·p, w·p) */
    for (int64_t b = 0; b < B; b++)
        for (int64_t i = 0; i < h; i++)
            for (int64_t j = 0; j < w; j++)
                for (int64_t pi = 0; pi < p; pi++)
                    for (int64_t qi = 0; qi < p; qi++)
                        for (int64_t c = 0; c < C; c++) {
                            size_t src = (size_t)(((((b * h + i) * w + j) * p + pi) * p + qi) * C + c);
                            size_t dst = (size_t)(((b * C + c) * h * p + i * p + pi) * w * p + j * p + qi);
                            ref[dst] = x[src];
                        }
    int64_t sx[3] = {B, h * w, p * p * C}, sy[4] = {B, C, h * p, w * p};
    evk_tensor tx = new_tensor(ctx, 3, sx, x), ty = new_tensor(ctx, 4, sy, NULL);
    evk_stream *s;
    TEST_OK(evk_stream_create(ctx, &s));
    TEST_OK(evk_stream_begin(s));
    TEST_OK(evk_op_unpatchify(s, &tx, h, w, p, &ty));
    TEST_OK(evk_stream_run(s));
    char what[96];
    snprintf(what, sizeof what, "unpatchify B%lld C%lld %lldx%lld p%lld", (long long)B, (long long)C, (long long)h, (long long)w, (long long)p);
    check(ctx, &ty, ref, n, 0.0, what);
    test_assert_no_validation(ctx);
    evk_stream_destroy(s);
    evk_tensor_free(ctx, &tx), evk_tensor_free(ctx, &ty);
    free(x), free(ref);
}

static void test_unpatchify(void **state) {
    evk_context *ctx = *state;
    unpatchify_case(ctx, 2, 5, 3, 4, 2, 9);
    unpatchify_case(ctx, 1, 16, 5, 3, 2, 10);
    unpatchify_case(ctx, 3, 3, 2, 7, 3, 11);
    unpatchify_case(ctx, 1, 7, 4, 4, 1, 12);
}

static void test_errors(void **state) {
    evk_context *ctx = *state;
    evk_tensor x, e, e2, g, y;
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 3, (int64_t[]){2, 5, 8}, &x));
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 2, (int64_t[]){2, 48}, &e));
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 2, (int64_t[]){2, 44}, &e2));
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 1, (int64_t[]){7}, &g));
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 4, (int64_t[]){2, 2, 4, 5}, &y));
    evk_stream *s;
    TEST_OK(evk_stream_create(ctx, &s));
    TEST_OK(evk_stream_begin(s));
    assert_int_equal(evk_op_modulate(s, &x, &e, 6, 0, &x), EVK_ERROR_INVALID_ARGUMENT); /* chunk 6 of 6 */
    assert_non_null(strstr(evk_error_message(), "chunks below K"));
    assert_int_equal(evk_op_modulate(s, &x, &e2, 1, 0, &x), EVK_ERROR_INVALID_ARGUMENT); /* 44 is not K·8 */
    assert_int_equal(evk_op_modulate(s, &x, &e, 1, 0, &e), EVK_ERROR_INVALID_ARGUMENT);
    assert_int_equal(evk_op_gate_add(s, &x, &x, &e, 2), EVK_ERROR_INVALID_ARGUMENT); /* h is y */
    assert_int_equal(evk_op_rms_norm(s, &x, &g, 1e-6f, &x), EVK_ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(evk_error_message(), "gamma"));
    assert_int_equal(evk_op_rms_norm(s, &x, &g, 0.0f, &x), EVK_ERROR_INVALID_ARGUMENT);
    assert_int_equal(evk_op_unpatchify(s, &x, 2, 2, 2, &y), EVK_ERROR_INVALID_ARGUMENT); /* 5 tokens, 2x2 grid */
    assert_non_null(strstr(evk_error_message(), "unpatchify"));
    assert_int_equal(evk_stream_dispatch_count(s), 0);
    TEST_OK(evk_stream_run(s));
    evk_stream_destroy(s);
    evk_tensor_free(ctx, &x), evk_tensor_free(ctx, &e), evk_tensor_free(ctx, &e2), evk_tensor_free(ctx, &g), evk_tensor_free(ctx, &y);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_modulate),
        cmocka_unit_test(test_rms_norm),
        cmocka_unit_test(test_unpatchify),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, test_group_setup, test_group_teardown);
}
