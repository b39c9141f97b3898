/* test_op_image.c — image kernels against double-precision references: affine + clamp, PIL-style
 * bicubic resize (shrinking and enlarging, odd sizes), center crop with normalisation. */
#include <math.h>
#include <stdlib.h>

#include "harness.h"
#include "ops/op_image.h"

static double ref_cubic(double t) {
    const double a = -0.5;
    t = fabs(t);
    if (t < 1) return ((a + 2) * t - (a + 3)) * t * t + 1;
    if (t < 2) return (((t - 5) * t + 8) * t - 4) * a;
    return 0;
}

/* one axis of PIL's ImagingResample in double: src has `n` samples with stride `stride` */
static double ref_tap(const double *src, long stride, long n_in, long n_out, long o) {
    double scale = (double)n_in / n_out, fs = scale > 1 ? scale : 1, support = 2 * fs, center = (o + 0.5) * scale;
    long lo = (long)(center - support + 0.5), hi = (long)(center + support + 0.5);
    if (lo < 0) lo = 0;
    if (hi > n_in) hi = n_in;
    double acc = 0, ws = 0;
    for (long j = lo; j < hi; j++) {
        double w = ref_cubic((j - center + 0.5) / fs);
        acc += w * src[j * stride];
        ws += w;
    }
    return acc / ws;
}

static void check_resize(evk_context *ctx, long P, long H, long W, long HO, long WO) {
    evk_tensor x, y;
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 3, (int64_t[]){P, H, W}, &x));
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 3, (int64_t[]){P, HO, WO}, &y));
    float *h = malloc(sizeof(float) * P * H * W), *got = malloc(sizeof(float) * P * HO * WO);
    double *hd = malloc(sizeof(double) * P * H * W), *mid = malloc(sizeof(double) * P * H * WO), *ref = malloc(sizeof(double) * P * HO * WO);
    test_rng rng = {(uint64_t)(H * 131 + W)};
    test_rng_fill(&rng, h, (size_t)(P * H * W), 0.01f, 1.0f);
    for (long i = 0; i < P * H * W; i++) hd[i] = h[i];
    for (long p = 0; p < P; p++)
        for (long r = 0; r < H; r++)
            for (long o = 0; o < WO; o++) mid[(p * H + r) * WO + o] = ref_tap(hd + (p * H + r) * W, 1, W, WO, o);
    for (long p = 0; p < P; p++)
        for (long o = 0; o < HO; o++)
            for (long c = 0; c < WO; c++) ref[(p * HO + o) * WO + c] = ref_tap(mid + p * H * WO + c, WO, H, HO, o);
    TEST_OK(evk_tensor_upload_f32(ctx, &x, h));
    test_poison(ctx, &y.buf);
    evk_stream *s;
    TEST_OK(evk_stream_create(ctx, &s));
    TEST_OK(evk_stream_begin(s));
    TEST_OK(evk_op_resize_bicubic(s, &x, NULL, &y));
    TEST_OK(evk_stream_run(s));
    TEST_OK(evk_tensor_download_f32(ctx, &y, got));
    test_assert_close(got, ref, (size_t)(P * HO * WO), 1e-5, "resize");
    evk_stream_destroy(s);
    evk_tensor_free(ctx, &x);
    evk_tensor_free(ctx, &y);
    free(h), free(got), free(hd), free(mid), free(ref);
}

static void test_resize(void **state) {
    check_resize(*state, 3, 13, 17, 7, 9);   /* shrink: antialiased taps */
    check_resize(*state, 2, 11, 9, 29, 31);  /* enlarge */
    check_resize(*state, 3, 32, 32, 32, 32); /* identity size */
    int64_t oh, ow;
    evk_image_resize_shape(480, 640, 224, &oh, &ow);
    assert_int_equal(oh, 224);
    assert_int_equal(ow, 298); /* int(224 * 640 / 480) */
}

static void test_affine_clamp_and_crop(void **state) {
    evk_context *ctx = *state;
    const long B = 2, C = 3, H = 9, W = 11, CH = 5, CW = 7, top = 2, left = 3;
    evk_tensor x, y, z;
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 4, (int64_t[]){B, C, H, W}, &x));
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 4, (int64_t[]){B, C, H, W}, &y));
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 4, (int64_t[]){B, C, CH, CW}, &z));
    long n = B * C * H * W, m = B * C * CH * CW;
    float *h = malloc(sizeof(float) * n), *gy = malloc(sizeof(float) * n), *gz = malloc(sizeof(float) * m);
    double *ry = malloc(sizeof(double) * n), *rz = malloc(sizeof(double) * m);
    test_rng rng = {3};
    test_rng_fill(&rng, h, (size_t)n, -1.6f, 1.6f);
    const float mean[3] = {0.48145466f, 0.4578275f, 0.40821073f}, sd[3] = {0.26862954f, 0.26130258f, 0.27577711f};
    for (long i = 0; i < n; i++) {
        double v = 0.5 * h[i] + 0.5;
        ry[i] = v < 0 ? 0 : v > 1 ? 1 : v;
    }
    for (long b = 0; b < B; b++)
        for (long c = 0; c < C; c++)
            for (long r = 0; r < CH; r++)
                for (long q = 0; q < CW; q++)
                    rz[((b * C + c) * CH + r) * CW + q] = (ry[((b * C + c) * H + r + top) * W + q + left] - (double)mean[c]) / (double)sd[c];
    TEST_OK(evk_tensor_upload_f32(ctx, &x, h));
    test_poison(ctx, &y.buf);
    test_poison(ctx, &z.buf);
    evk_stream *s;
    TEST_OK(evk_stream_create(ctx, &s));
    TEST_OK(evk_stream_begin(s));
    TEST_OK(evk_op_affine_clamp(s, &x, 0.5f, 0.5f, 0.0f, 1.0f, &y));
    TEST_OK(evk_op_crop_normalize(s, &y, (uint32_t)top, (uint32_t)left, mean, sd, &z));
    TEST_OK(evk_stream_run(s));
    TEST_OK(evk_tensor_download_f32(ctx, &y, gy));
    TEST_OK(evk_tensor_download_f32(ctx, &z, gz));
    test_assert_close(gy, ry, (size_t)n, 1e-6, "affine_clamp");
    test_assert_close(gz, rz, (size_t)m, 1e-5, "crop_normalize");
    /* a crop that does not fit is an error */
    TEST_OK(evk_stream_begin(s));
    assert_int_equal(evk_op_crop_normalize(s, &y, (uint32_t)H, 0, mean, sd, &z), EVK_ERROR_INVALID_ARGUMENT);
    TEST_OK(evk_stream_run(s));
    evk_stream_destroy(s);
    evk_tensor_free(ctx, &x);
    evk_tensor_free(ctx, &y);
    evk_tensor_free(ctx, &z);
    free(h), free(gy), free(gz), free(ry), free(rz);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resize),
        cmocka_unit_test(test_affine_clamp_and_crop),
    };
    return cmocka_run_group_tests(tests, test_group_setup, test_group_teardown);
}
