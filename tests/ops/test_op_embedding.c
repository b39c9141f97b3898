/* test_op_embedding.c — sinusoidal timestep embeddings against the double-precision formula of
 * diffusers' get_timestep_embedding: both orders, shifts 0 and 1, scale, another max_period, odd
 * dims (zero last column), per-sample timesteps up to 1000 and guidance-style arguments (w·1000 up
 * to 15000), and argument errors; plus nearest ×2 upsampling and 2×2 average pooling at odd sizes. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "ops/op_embedding.h"
#include "ops/op_resample.h"

static void embedding_case(evk_context *ctx, int64_t n, int64_t dim, evk_embedding_params p, float tmax, uint64_t seed) {
    test_rng rng = {seed};
    float *t = malloc(n * 4), *got = malloc(n * dim * 4);
    double *ref = malloc(n * dim * sizeof(double));
    test_rng_fill(&rng, t, n, 0.0f, tmax);
    t[0] = 999.0f;
    if (n > 1) t[1] = 1.0f;
    double period = p.max_period != 0.0f ? p.max_period : 10000.0, scale = p.scale != 0.0f ? p.scale : 1.0;
    int64_t half = dim / 2;
    for (int64_t r = 0; r < n; r++)
        for (int64_t j = 0; j < dim; j++) {
            double v = 0.0;
            if (j < 2 * half) {
                int64_t i = j < half ? j : j - half;
                double arg = scale * t[r] * exp(-log(period) * i / (half - (double)p.downscale_freq_shift));
                bool first = j < half;
                bool sinus = first != p.flip_sin_to_cos;
                v = sinus ? sin(arg) : cos(arg);
            }
            ref[r * dim + j] = v;
        }
    int64_t st[1] = {n}, so[2] = {n, dim};
    evk_tensor tt, to;
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 1, st, &tt));
    TEST_OK(evk_tensor_upload_f32(ctx, &tt, t));
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 2, so, &to));
    test_poison(ctx, &to.buf);
    evk_stream *s;
    TEST_OK(evk_stream_create(ctx, &s));
    TEST_OK(evk_stream_begin(s));
    TEST_OK(evk_op_timestep_embedding(s, &tt, &p, &to));
    TEST_OK(evk_stream_run(s));
    TEST_OK(evk_tensor_download_f32(ctx, &to, got));
    char what[128];
    snprintf(what, sizeof what, "embedding n%lld dim%lld flip%d shift%g scale%g period%g tmax%g", (long long)n,
             (long long)dim, (int)p.flip_sin_to_cos, p.downscale_freq_shift, p.scale, p.max_period, tmax);
    test_assert_close(got, ref, (size_t)(n * dim), 1e-6, what);
    double worst = 0;
    for (int64_t i = 0; i < n * dim; i++) worst = fmax(worst, fabs(got[i] - ref[i]));
    if (worst > 2e-6) fail_msg("%s: max abs error %.3g", what, worst);
    if (dim % 2)
        for (int64_t r = 0; r < n; r++) assert_true(got[r * dim + dim - 1] == 0.0f);
    test_assert_no_validation(ctx);
    evk_stream_destroy(s);
    evk_tensor_free(ctx, &tt);
    evk_tensor_free(ctx, &to);
    free(t); free(got); free(ref);
}

static void test_embedding(void **state) {
    evk_context *ctx = *state;
    evk_embedding_params sd = {.flip_sin_to_cos = true, .downscale_freq_shift = 0.0f};
    embedding_case(ctx, 37, 320, sd, 1000.0f, 1);
    evk_embedding_params dflt = {.downscale_freq_shift = 1.0f};
    embedding_case(ctx, 5, 256, dflt, 1000.0f, 2);
    evk_embedding_params odd = {.flip_sin_to_cos = true, .downscale_freq_shift = 1.0f, .scale = 2.5f, .max_period = 500.0f};
    embedding_case(ctx, 9, 33, odd, 1000.0f, 3);
    evk_embedding_params guidance = {.flip_sin_to_cos = true};
    embedding_case(ctx, 11, 256, guidance, 15000.0f, 4);
}

static void test_embedding_errors(void **state) {
    evk_context *ctx = *state;
    int64_t st[1] = {4}, so[2] = {4, 2}, sbad[2] = {3, 8};
    evk_tensor t, o, bad;
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 1, st, &t));
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 2, so, &o));
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 2, sbad, &bad));
    evk_stream *s;
    TEST_OK(evk_stream_create(ctx, &s));
    TEST_OK(evk_stream_begin(s));
    assert_int_equal(evk_op_timestep_embedding(s, &t, NULL, &bad), EVK_ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(evk_error_message(), "expected f32 [4, dim >= 2]"));
    evk_embedding_params p = {.downscale_freq_shift = 1.0f}; /* dim 2: half - shift = 0 */
    assert_int_equal(evk_op_timestep_embedding(s, &t, &p, &o), EVK_ERROR_INVALID_ARGUMENT);
    assert_int_equal(evk_stream_dispatch_count(s), 0);
    TEST_OK(evk_stream_run(s));
    evk_stream_destroy(s);
    evk_tensor_free(ctx, &t);
    evk_tensor_free(ctx, &o);
    evk_tensor_free(ctx, &bad);
}

static void resample_case(evk_context *ctx, int up, int64_t N, int64_t C, int64_t H, int64_t W, uint64_t seed) {
    int64_t OH = up ? 2 * H : H / 2, OW = up ? 2 * W : W / 2;
    size_t nx = (size_t)(N * C * H * W), ny = (size_t)(N * C * OH * OW);
    test_rng rng = {seed};
    float *x = malloc(nx * 4), *got = malloc(ny * 4);
    double *ref = malloc(ny * sizeof(double));
    test_rng_fill(&rng, x, nx, -1.0f, 1.0f);
    for (int64_t pl = 0; pl < N * C; pl++)
        for (int64_t y = 0; y < OH; y++)
            for (int64_t xx = 0; xx < OW; xx++) {
                const float *src = x + pl * H * W;
                ref[(pl * OH + y) * OW + xx] =
                    up ? src[(y / 2) * W + xx / 2]
                       : 0.25 * ((double)src[2 * y * W + 2 * xx] + src[2 * y * W + 2 * xx + 1] + src[(2 * y + 1) * W + 2 * xx] +
                                 src[(2 * y + 1) * W + 2 * xx + 1]);
            }
    int64_t sx[4] = {N, C, H, W}, sy[4] = {N, C, OH, OW};
    evk_tensor tx, ty;
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 4, sx, &tx));
    TEST_OK(evk_tensor_upload_f32(ctx, &tx, x));
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 4, sy, &ty));
    test_poison(ctx, &ty.buf);
    evk_stream *s;
    TEST_OK(evk_stream_create(ctx, &s));
    TEST_OK(evk_stream_begin(s));
    TEST_OK(up ? evk_op_upsample_nearest2x(s, &tx, &ty) : evk_op_avgpool2x2(s, &tx, &ty));
    TEST_OK(evk_stream_run(s));
    TEST_OK(evk_tensor_download_f32(ctx, &ty, got));
    test_assert_close(got, ref, ny, 1e-6, up ? "upsample" : "avgpool");
    test_assert_no_validation(ctx);
    /* wrong output shape */
    TEST_OK(evk_stream_begin(s));
    assert_int_equal(up ? evk_op_upsample_nearest2x(s, &tx, &tx) : evk_op_avgpool2x2(s, &tx, &tx), EVK_ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(evk_error_message(), "found"));
    TEST_OK(evk_stream_run(s));
    evk_stream_destroy(s);
    evk_tensor_free(ctx, &tx);
    evk_tensor_free(ctx, &ty);
    free(x); free(got); free(ref);
}

static void test_resample(void **state) {
    resample_case(*state, 1, 2, 3, 7, 5, 10);
    resample_case(*state, 0, 2, 3, 7, 9, 11); /* odd: last row and column dropped */
    resample_case(*state, 0, 1, 4, 16, 12, 12);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_embedding),
        cmocka_unit_test(test_embedding_errors),
        cmocka_unit_test(test_resample),
    };
    return cmocka_run_group_tests(tests, test_group_setup, test_group_teardown);
}
