/* test_op_split.c — tensors larger than one binding: on devices whose maxStorageBufferRange is
 * small (128 MiB on lavapipe, less than a VAE feature map at 512x512), group norm + SiLU, a
 * broadcast add, SiLU and 2x2 average pooling must split their dispatches into aligned chunks and
 * still match the double-precision reference everywhere (chunk seams included). Skipped where the
 * limit is so large that exceeding it would need gigabytes. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "harness.h"
#include "ops/op_elementwise.h"
#include "ops/op_norm.h"
#include "ops/op_resample.h"

static void test_beyond_binding_limit(void **state) {
    evk_context *ctx = *state;
    const evk_device_info *info = evk_context_device(ctx);
    if (info->max_storage_buffer_range > (512ull << 20)) {
        print_message("maxStorageBufferRange %llu: splitting not exercised on this device\n",
                      (unsigned long long)info->max_storage_buffer_range);
        skip();
    }
    /* C x H x W floats just over the limit; H and W even for the pooling, rows not a power of 2 */
    const int64_t C = 32, W = 1030;
    int64_t H = (int64_t)(info->max_storage_buffer_range / 4 / (uint64_t)(C * W)) + 6;
    H += H % 2;
    const size_t n = (size_t)(C * H * W), S = (size_t)(H * W);
    float *x = malloc(n * 4), *got = malloc(n * 4), *g = malloc(C * 4), *bt = malloc(C * 4), *bias = malloc(C * 4);
    assert_non_null(x);
    assert_non_null(got);
    test_rng rng = {77};
    test_rng_fill(&rng, x, n, -1.5f, 2.5f);
    test_rng_fill(&rng, g, C, 0.5f, 1.5f);
    test_rng_fill(&rng, bt, C, -0.5f, 0.5f);
    test_rng_fill(&rng, bias, C, -1.0f, 1.0f);
    const uint32_t G = 8;
    const int64_t cpg = C / G;

    int64_t sx[4] = {1, C, H, W}, sc[1] = {C}, sb[4] = {1, C, 1, 1}, sy[4] = {1, C, H / 2, W / 2};
    evk_tensor tx, tg, tb, tbias, ty;
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 4, sx, &tx));
    TEST_OK(evk_tensor_upload_f32(ctx, &tx, x));
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 1, sc, &tg));
    TEST_OK(evk_tensor_upload_f32(ctx, &tg, g));
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 1, sc, &tb));
    TEST_OK(evk_tensor_upload_f32(ctx, &tb, bt));
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 4, sb, &tbias));
    TEST_OK(evk_tensor_upload_f32(ctx, &tbias, bias));
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 4, sy, &ty));
    test_poison(ctx, &ty.buf);
    evk_stream *s;
    TEST_OK(evk_stream_create(ctx, &s));
    TEST_OK(evk_stream_begin(s));
    TEST_OK(evk_op_group_norm(s, &tx, &tg, &tb, G, 1e-5f, true, &tx)); /* in place */
    TEST_OK(evk_op_add(s, &tx, &tbias, &tx));
    TEST_OK(evk_op_activation(s, EVK_ACT_SILU, &tx, &tx));
    TEST_OK(evk_op_avgpool2x2(s, &tx, &ty));
    assert_true(evk_stream_dispatch_count(s) > 4); /* at least one op was split */
    TEST_OK(evk_stream_run(s));
    TEST_OK(evk_tensor_download_f32(ctx, &tx, got));

    /* reference, in place in x (as doubles would need twice the memory, round to float after
     * each op only where the kernel does too: nowhere, so keep each value's chain in double) */
    double num = 0, den = 0;
    for (uint32_t gg = 0; gg < G; gg++) {
        const float *xr = x + (size_t)gg * cpg * S;
        double mean = 0, var = 0;
        for (size_t i = 0; i < (size_t)cpg * S; i++) mean += xr[i];
        mean /= (double)(cpg * S);
        for (size_t i = 0; i < (size_t)cpg * S; i++) var += (xr[i] - mean) * (xr[i] - mean);
        var /= (double)(cpg * S);
        double rstd = 1.0 / sqrt(var + 1e-5);
        for (int64_t c = gg * cpg; c < (gg + 1) * cpg; c++)
            for (size_t i = 0; i < S; i++) {
                size_t k = (size_t)c * S + i;
                double y = (x[k] - mean) * rstd * g[c] + bt[c];
                y = y / (1.0 + exp(-y)) + bias[c];
                y = y / (1.0 + exp(-y));
                if (!isfinite(got[k])) fail_msg("element %zu is %f (poisoned or NaN)", k, got[k]);
                num += (got[k] - y) * (got[k] - y);
                den += y * y;
                x[k] = (float)y; /* keeps the chain for the pooling check */
            }
    }
    double e = sqrt(num / den);
    if (!(e <= 1e-5)) fail_msg("group_norm+add+silu on %zu floats: relative L2 %.3g", n, e);
    float *py = malloc((size_t)(C * (H / 2) * (W / 2)) * 4);
    TEST_OK(evk_tensor_download_f32(ctx, &ty, py));
    num = den = 0;
    for (int64_t c = 0; c < C; c++)
        for (int64_t yy = 0; yy < H / 2; yy++)
            for (int64_t xx = 0; xx < W / 2; xx++) {
                const float *p = x + (size_t)c * S;
                double r = 0.25 * ((double)p[2 * yy * W + 2 * xx] + p[2 * yy * W + 2 * xx + 1] + p[(2 * yy + 1) * W + 2 * xx] +
                                   p[(2 * yy + 1) * W + 2 * xx + 1]);
                float v = py[(c * (H / 2) + yy) * (W / 2) + xx];
                if (!isfinite(v)) fail_msg("pooled element is %f (poisoned or NaN)", v);
                num += (v - r) * (v - r);
                den += r * r;
            }
    e = sqrt(num / den);
    if (!(e <= 1e-5)) fail_msg("avgpool after split ops: relative L2 %.3g", e);
    test_assert_no_validation(ctx);
    evk_stream_destroy(s);
    evk_tensor *all[] = {&tx, &tg, &tb, &tbias, &ty};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) evk_tensor_free(ctx, all[i]);
    free(x); free(got); free(g); free(bt); free(bias); free(py);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_beyond_binding_limit)};
    return cmocka_run_group_tests(tests, test_group_setup, test_group_teardown);
}
