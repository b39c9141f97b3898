/* test_op_layout.c — transpose and row gather against host references on odd sizes, with
 * poisoned outputs and every element checked. */
#include <stdlib.h>

#include "harness.h"
#include "op_layout.h"

static void test_transpose(void **state) {
    evk_context *ctx = *state;
    const int64_t B = 3, R = 37, C = 53;
    int64_t shape[3] = {B, R, C}, tshape[3] = {B, C, R};
    evk_tensor x, y;
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 3, shape, &x));
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 3, tshape, &y));
    size_t n = (size_t)(B * R * C);
    float *h = malloc(n * 4), *got = malloc(n * 4);
    test_rng rng = {7};
    test_rng_fill(&rng, h, n, -2, 2);
    TEST_OK(evk_tensor_upload_f32(ctx, &x, h));
    test_poison(ctx, &y.buf);
    evk_stream *s;
    TEST_OK(evk_stream_create(ctx, &s));
    TEST_OK(evk_stream_begin(s));
    TEST_OK(evk_op_transpose(s, &x, B, R, C, &y));
    TEST_OK(evk_stream_run(s));
    TEST_OK(evk_tensor_download_f32(ctx, &y, got));
    for (int64_t b = 0; b < B; b++)
        for (int64_t r = 0; r < R; r++)
            for (int64_t c = 0; c < C; c++)
                if (got[(b * C + c) * R + r] != h[(b * R + r) * C + c]) fail_msg("transpose (%lld,%lld,%lld)", (long long)b, (long long)r, (long long)c);
    assert_int_equal(evk_op_transpose(s, &x, B, R, C + 1, &y), EVK_ERROR_INVALID_ARGUMENT);
    evk_stream_destroy(s);
    evk_tensor_free(ctx, &x);
    evk_tensor_free(ctx, &y);
    free(h);
    free(got);
}

static void test_gather(void **state) {
    evk_context *ctx = *state;
    const int64_t R = 49, W = 19, N = 23;
    int64_t ts[2] = {R, W}, is[1] = {N}, ys[2] = {N, W};
    evk_tensor table, index, y;
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 2, ts, &table));
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_I32, 1, is, &index));
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 2, ys, &y));
    float th[R * W], got[N * W];
    int32_t ih[N];
    test_rng rng = {11};
    test_rng_fill(&rng, th, (size_t)(R * W), -1, 1);
    for (int i = 0; i < N; i++) ih[i] = (int32_t)(test_rng_u64(&rng) % R);
    ih[0] = 0;
    ih[N - 1] = (int32_t)R - 1;
    TEST_OK(evk_tensor_upload_f32(ctx, &table, th));
    TEST_OK(evk_buffer_upload(ctx, &index.buf, 0, ih, sizeof ih));
    test_poison(ctx, &y.buf);
    evk_stream *s;
    TEST_OK(evk_stream_create(ctx, &s));
    TEST_OK(evk_stream_begin(s));
    TEST_OK(evk_op_gather_rows(s, &table, &index, &y));
    TEST_OK(evk_stream_run(s));
    TEST_OK(evk_tensor_download_f32(ctx, &y, got));
    for (int i = 0; i < N; i++)
        for (int j = 0; j < W; j++)
            if (got[i * W + j] != th[ih[i] * W + j]) fail_msg("gather row %d col %d", i, j);
    assert_int_equal(evk_op_gather_rows(s, &table, &table, &y), EVK_ERROR_INVALID_ARGUMENT);
    evk_stream_destroy(s);
    evk_tensor_free(ctx, &table);
    evk_tensor_free(ctx, &index);
    evk_tensor_free(ctx, &y);
}

static void test_im2col(void **state) {
    evk_context *ctx = *state;
    const int64_t N = 2, C = 3, H = 7, W = 5;
    const uint32_t cases[3][3] = {{3, 1, 1}, {3, 2, 1}, {2, 1, 0}}; /* k, stride, pad */
    float xh[N * C * H * W];
    test_rng rng = {5};
    test_rng_fill(&rng, xh, (size_t)(N * C * H * W), -1, 1);
    evk_tensor x;
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 4, (int64_t[]){N, C, H, W}, &x));
    TEST_OK(evk_tensor_upload_f32(ctx, &x, xh));
    for (int t = 0; t < 3; t++) {
        uint32_t k = cases[t][0], st = cases[t][1], pad = cases[t][2];
        int64_t ho = (H + 2 * pad - k) / st + 1, wo = (W + 2 * pad - k) / st + 1, width = C * k * k;
        evk_tensor cols;
        TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 3, (int64_t[]){N, ho * wo, width}, &cols));
        test_poison(ctx, &cols.buf);
        evk_stream *s;
        TEST_OK(evk_stream_create(ctx, &s));
        TEST_OK(evk_stream_begin(s));
        TEST_OK(evk_op_im2col(s, &x, k, st, pad, &cols));
        TEST_OK(evk_stream_run(s));
        float *got = malloc(sizeof(float) * (size_t)(N * ho * wo * width));
        TEST_OK(evk_tensor_download_f32(ctx, &cols, got));
        for (int64_t b = 0; b < N; b++)
            for (int64_t r = 0; r < ho * wo; r++)
                for (int64_t c = 0; c < C; c++)
                    for (uint32_t ky = 0; ky < k; ky++)
                        for (uint32_t kx = 0; kx < k; kx++) {
                            int64_t y = (r / wo) * st + ky - pad, xx = (r % wo) * st + kx - pad;
                            float want = (y >= 0 && y < H && xx >= 0 && xx < W) ? xh[((b * C + c) * H + y) * W + xx] : 0.0f;
                            float g = got[(b * ho * wo + r) * width + (c * k + ky) * k + kx];
                            if (g != want) fail_msg("im2col k%u s%u p%u: (%lld,%lld,%lld,%u,%u) %f != %f", k, st, pad, (long long)b,
                                                    (long long)r, (long long)c, ky, kx, g, want);
                        }
        free(got);
        evk_stream_destroy(s);
        evk_tensor_free(ctx, &cols);
    }
    evk_tensor_free(ctx, &x);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_transpose),
        cmocka_unit_test(test_gather),
        cmocka_unit_test(test_im2col),
    };
    return cmocka_run_group_tests(tests, test_group_setup, test_group_teardown);
}
