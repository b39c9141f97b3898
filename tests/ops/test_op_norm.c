/* test_op_norm.c — group norm (with and without fused SiLU, and as per-channel scale and shift
 * pairs, also beyond one binding), layer norm and softmax against
 * double-precision references, at odd sizes that exercise both builds (CPU texel/subgroup rows
 * when lengths divide by 4, scalar rows otherwise), inputs with a large common offset (a
 * E[x²]−E[x]² variance would lose digits there), -inf softmax entries and a fully -inf row, in-place
 * use, and argument errors. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "ops/op_norm.h"

static evk_tensor new_tensor(evk_context *ctx, int ndim, const int64_t *shape, const float *data) {
    evk_tensor t;
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, ndim, shape, &t));
    if (data) TEST_OK(evk_tensor_upload_f32(ctx, &t, data));
    else test_poison(ctx, &t.buf);
    return t;
}

static void group_norm_case(evk_context *ctx, int64_t N, int64_t C, int64_t H, int64_t W, uint32_t G, float eps,
                            bool silu, float offset, bool in_place, uint64_t seed) {
    test_rng rng = {seed};
    size_t n = (size_t)(N * C * H * W);
    float *x = malloc(n * 4), *g = malloc(C * 4), *b = malloc(C * 4), *got = malloc(n * 4);
    double *ref = malloc(n * sizeof(double)), *ref_ab = malloc((size_t)(N * C * 2) * sizeof(double));
    test_rng_fill(&rng, x, n, -2.0f, 2.0f);
    for (size_t i = 0; i < n; i++) x[i] += offset;
    test_rng_fill(&rng, g, C, 0.5f, 1.5f);
    test_rng_fill(&rng, b, C, -0.5f, 0.5f);
    int64_t S = H * W, cpg = C / G;
    for (int64_t nn = 0; nn < N; nn++)
        for (int64_t gg = 0; gg < G; gg++) {
            const float *xr = x + (nn * C + gg * cpg) * S;
            double mean = 0, var = 0;
            for (int64_t i = 0; i < cpg * S; i++) mean += xr[i];
            mean /= (double)(cpg * S);
            for (int64_t i = 0; i < cpg * S; i++) var += (xr[i] - mean) * (xr[i] - mean);
            var /= (double)(cpg * S);
            for (int64_t c = 0; c < cpg; c++) {
                int64_t ch = gg * cpg + c;
                ref_ab[2 * (nn * C + ch)] = g[ch] / sqrt(var + eps);
                ref_ab[2 * (nn * C + ch) + 1] = b[ch] - mean * g[ch] / sqrt(var + eps);
            }
            for (int64_t c = 0; c < cpg; c++)
                for (int64_t s = 0; s < S; s++) {
                    int64_t ch = gg * cpg + c;
                    double y = (xr[c * S + s] - mean) / sqrt(var + eps) * g[ch] + b[ch];
                    if (silu) y = y / (1.0 + exp(-y));
                    ref[(nn * C + ch) * S + s] = y;
                }
        }
    int64_t sx[4] = {N, C, H, W}, sc[1] = {C};
    evk_tensor tx = new_tensor(ctx, 4, sx, x), tg = new_tensor(ctx, 1, sc, g), tb = new_tensor(ctx, 1, sc, b);
    evk_tensor ty = in_place ? tx : new_tensor(ctx, 4, sx, NULL);
    int64_t sab[3] = {N, C, 2};
    evk_tensor tab = new_tensor(ctx, 3, sab, NULL);
    evk_stream *s;
    TEST_OK(evk_stream_create(ctx, &s));
    TEST_OK(evk_stream_begin(s));
    /* the per-channel affine form first (it reads x before an in-place norm overwrites it) */
    TEST_OK(evk_op_group_norm_affine(s, &tx, &tg, &tb, G, eps, &tab));
    TEST_OK(evk_op_group_norm(s, &tx, &tg, &tb, G, eps, silu, &ty));
    TEST_OK(evk_stream_run(s));
    TEST_OK(evk_tensor_download_f32(ctx, &ty, got));
    char what[128];
    snprintf(what, sizeof what, "group_norm %lldx%lldx%lldx%lld G%u silu%d offset%g", (long long)N, (long long)C,
             (long long)H, (long long)W, G, (int)silu, offset);
    test_assert_close(got, ref, n, 1e-5, what);
    float *ab = malloc((size_t)(N * C * 2) * 4);
    TEST_OK(evk_tensor_download_f32(ctx, &tab, ab));
    snprintf(what, sizeof what, "group_norm_affine %lldx%lldx%lldx%lld G%u offset%g", (long long)N, (long long)C, (long long)H, (long long)W,
             G, offset);
    test_assert_close(ab, ref_ab, (size_t)(N * C * 2), 1e-5, what);
    free(ab);
    free(ref_ab);
    evk_tensor_free(ctx, &tab);
    test_assert_no_validation(ctx);
    evk_stream_destroy(s);
    evk_tensor_free(ctx, &tx);
    evk_tensor_free(ctx, &tg);
    evk_tensor_free(ctx, &tb);
    if (!in_place) evk_tensor_free(ctx, &ty);
    free(x); free(g); free(b); free(got); free(ref);
}

static void test_group_norm(void **state) {
    evk_context *ctx = *state;
    group_norm_case(ctx, 2, 64, 12, 12, 32, 1e-5f, false, 0.0f, false, 1);  /* CPU build (S % 4 == 0) */
    group_norm_case(ctx, 2, 64, 12, 12, 32, 1e-5f, true, 0.0f, false, 2);
    group_norm_case(ctx, 3, 30, 7, 9, 5, 1e-6f, true, 0.0f, false, 3);      /* odd spatial: scalar build */
    group_norm_case(ctx, 1, 96, 9, 8, 32, 1e-5f, false, 100.0f, false, 4);  /* large offset */
    group_norm_case(ctx, 2, 40, 5, 4, 8, 1e-5f, true, 0.5f, true, 5);       /* in place */
    group_norm_case(ctx, 1, 320, 16, 16, 32, 1e-5f, true, 0.0f, false, 6);
}

static void layer_norm_case(evk_context *ctx, int64_t rows, int64_t F, float eps, float offset, uint64_t seed) {
    test_rng rng = {seed};
    size_t n = (size_t)(rows * F);
    float *x = malloc(n * 4), *g = malloc(F * 4), *b = malloc(F * 4), *got = malloc(n * 4);
    double *ref = malloc(n * sizeof(double));
    test_rng_fill(&rng, x, n, -2.0f, 2.0f);
    for (size_t i = 0; i < n; i++) x[i] += offset;
    test_rng_fill(&rng, g, F, 0.5f, 1.5f);
    test_rng_fill(&rng, b, F, -0.5f, 0.5f);
    for (int64_t r = 0; r < rows; r++) {
        double mean = 0, var = 0;
        for (int64_t i = 0; i < F; i++) mean += x[r * F + i];
        mean /= F;
        for (int64_t i = 0; i < F; i++) var += (x[r * F + i] - mean) * (x[r * F + i] - mean);
        var /= F;
        for (int64_t i = 0; i < F; i++) ref[r * F + i] = (x[r * F + i] - mean) / sqrt(var + eps) * g[i] + b[i];
    }
    int64_t sx[3] = {1, rows, F}, sf[1] = {F};
    evk_tensor tx = new_tensor(ctx, 3, sx, x), tg = new_tensor(ctx, 1, sf, g), tb = new_tensor(ctx, 1, sf, b);
    evk_tensor ty = new_tensor(ctx, 3, sx, NULL);
    evk_stream *s;
    TEST_OK(evk_stream_create(ctx, &s));
    TEST_OK(evk_stream_begin(s));
    TEST_OK(evk_op_layer_norm(s, &tx, &tg, &tb, eps, &ty));
    TEST_OK(evk_stream_run(s));
    TEST_OK(evk_tensor_download_f32(ctx, &ty, got));
    char what[96];
    snprintf(what, sizeof what, "layer_norm %lldx%lld offset %g", (long long)rows, (long long)F, offset);
    test_assert_close(got, ref, n, 1e-5, what);
    test_assert_no_validation(ctx);
    evk_stream_destroy(s);
    evk_tensor_free(ctx, &tx);
    evk_tensor_free(ctx, &tg);
    evk_tensor_free(ctx, &tb);
    evk_tensor_free(ctx, &ty);
    free(x); free(g); free(b); free(got); free(ref);
}

static void test_layer_norm(void **state) {
    layer_norm_case(*state, 77, 768, 1e-5f, 0.0f, 11);  /* CLIP text width */
    layer_norm_case(*state, 13, 37, 1e-5f, 0.0f, 12);   /* odd width: scalar build */
    layer_norm_case(*state, 5, 1028, 1e-6f, 50.0f, 13); /* large offset */
    layer_norm_case(*state, 3, 1, 1e-5f, 0.0f, 14);     /* one element: output is beta */
}

static void softmax_case(evk_context *ctx, int64_t rows, int64_t F, float amp, bool with_inf, uint64_t seed) {
    test_rng rng = {seed};
    size_t n = (size_t)(rows * F);
    float *x = malloc(n * 4), *got = malloc(n * 4);
    double *ref = malloc(n * sizeof(double));
    test_rng_fill(&rng, x, n, -amp, amp);
    if (with_inf) {
        for (int64_t r = 0; r < rows; r++) x[r * F + (r * 7) % F] = -INFINITY; /* one -inf per row */
        for (int64_t i = 0; i < F; i++) x[(rows - 1) * F + i] = -INFINITY;     /* last row all -inf */
    }
    for (int64_t r = 0; r < rows; r++) {
        double mx = -INFINITY, sum = 0;
        for (int64_t i = 0; i < F; i++) mx = fmax(mx, x[r * F + i]);
        for (int64_t i = 0; i < F; i++) sum += mx == -INFINITY ? 0 : exp(x[r * F + i] - mx);
        for (int64_t i = 0; i < F; i++) ref[r * F + i] = mx == -INFINITY ? 0.0 : exp(x[r * F + i] - mx) / sum;
    }
    int64_t sx[2] = {rows, F};
    evk_tensor tx = new_tensor(ctx, 2, sx, x), ty = new_tensor(ctx, 2, sx, NULL);
    evk_stream *s;
    TEST_OK(evk_stream_create(ctx, &s));
    TEST_OK(evk_stream_begin(s));
    TEST_OK(evk_op_softmax(s, &tx, &ty));
    TEST_OK(evk_stream_run(s));
    TEST_OK(evk_tensor_download_f32(ctx, &ty, got));
    char what[96];
    snprintf(what, sizeof what, "softmax %lldx%lld amp %g inf %d", (long long)rows, (long long)F, amp, (int)with_inf);
    test_assert_close(got, ref, n, 1e-5, what);
    if (with_inf)
        for (int64_t i = 0; i < F; i++) assert_true(got[(rows - 1) * F + i] == 0.0f);
    test_assert_no_validation(ctx);
    evk_stream_destroy(s);
    evk_tensor_free(ctx, &tx);
    evk_tensor_free(ctx, &ty);
    free(x); free(got); free(ref);
}

static void test_softmax(void **state) {
    softmax_case(*state, 37, 77, 4.0f, false, 21);
    softmax_case(*state, 19, 1024, 30.0f, true, 22);
    softmax_case(*state, 5, 333, 80.0f, true, 23); /* wide range: the running max must rescale */
    softmax_case(*state, 300, 8, 2.0f, false, 24);
}

/* group_norm_affine over a tensor larger than one binding (16 KiB here): dispatches of row
 * ranges, each writing its rows' pairs into the one [N, C, 2] output at their global place */
static void test_group_norm_affine_beyond_binding_limit(void **state) {
    (void)state;
    evk_context *ctx = test_context_create_with((evk_context_config){.binding_limit = 16 << 10});
    group_norm_case(ctx, 3, 12, 24, 24, 3, 1e-5f, false, 0.0f, false, 7); /* rows of 4·576 floats, 9 KiB */
    group_norm_case(ctx, 2, 10, 15, 13, 5, 1e-6f, true, 0.0f, false, 8);  /* scalar build */
    evk_context_destroy(ctx);
}

static void test_errors(void **state) {
    evk_context *ctx = *state;
    int64_t sx[4] = {2, 30, 4, 4}, sc[1] = {30}, sc2[1] = {31}, sy[4] = {2, 30, 4, 5};
    evk_tensor x, g, g2, y;
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 4, sx, &x));
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 1, sc, &g));
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 1, sc2, &g2));
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 4, sy, &y));
    evk_stream *s;
    TEST_OK(evk_stream_create(ctx, &s));
    TEST_OK(evk_stream_begin(s));
    assert_int_equal(evk_op_group_norm(s, &x, &g, &g, 32, 1e-5f, false, &x), EVK_ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(evk_error_message(), "32 groups"));
    assert_int_equal(evk_op_group_norm(s, &x, &g2, &g, 5, 1e-5f, false, &x), EVK_ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(evk_error_message(), "gamma"));
    assert_int_equal(evk_op_group_norm(s, &x, &g, &g, 5, 0.0f, false, &x), EVK_ERROR_INVALID_ARGUMENT);
    assert_int_equal(evk_op_group_norm(s, &x, &g, &g, 5, 1e-5f, false, &y), EVK_ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(evk_error_message(), "out has shape 2x30x4x5"));
    assert_int_equal(evk_op_group_norm_affine(s, &x, &g, &g, 5, 1e-5f, &y), EVK_ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(evk_error_message(), "expected [2, 30, 2]"));
    evk_tensor ab;
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 3, (int64_t[]){2, 30, 2}, &ab));
    assert_int_equal(evk_op_group_norm_affine(s, &x, &g, &g, 7, 1e-5f, &ab), EVK_ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(evk_error_message(), "7 groups"));
    evk_tensor_free(ctx, &ab);
    assert_int_equal(evk_op_layer_norm(s, &x, &g, &g, 1e-5f, &x), EVK_ERROR_INVALID_ARGUMENT);
    assert_int_equal(evk_op_softmax(s, &x, &y), EVK_ERROR_INVALID_ARGUMENT);
    assert_int_equal(evk_stream_dispatch_count(s), 0);
    TEST_OK(evk_stream_run(s));
    evk_stream_destroy(s);
    evk_tensor_free(ctx, &x);
    evk_tensor_free(ctx, &g);
    evk_tensor_free(ctx, &g2);
    evk_tensor_free(ctx, &y);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_group_norm),
        cmocka_unit_test(test_group_norm_affine_beyond_binding_limit),
        cmocka_unit_test(test_layer_norm),
        cmocka_unit_test(test_softmax),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, test_group_setup, test_group_teardown);
}
