/* test_op_layout.c — transpose and row gather against host references on odd sizes, with
 * poisoned outputs and every element checked. */
#include <stdlib.h>

#include "harness.h"
#include "ops/op_layout.h"

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

/* A table beyond one storage binding (CLIP-L's token embedding, 145 MiB; lavapipe binds 128 MiB):
 * gathered in row windows. */
static void test_gather_large_table(void **state) {
    evk_context *ctx = *state;
    const int64_t R = 49408, W = 768, N = 9;
    if ((uint64_t)R * W * 4 <= evk_context_device(ctx)->max_storage_buffer_range) skip();
    evk_tensor table, index, y;
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 2, (int64_t[]){R, W}, &table));
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_I32, 1, (int64_t[]){N}, &index));
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 2, (int64_t[]){N, W}, &y));
    float *th = malloc(sizeof(float) * (size_t)(R * W)), got[9 * 768];
    for (int64_t i = 0; i < R * W; i++) th[i] = (float)(i % 100003) + 0.5f; /* row-and-column dependent */
    const int32_t ih[9] = {0, 49407, 43690, 43689, 1, 20000, 43691, 49406, 7};
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
            if (got[i * W + j] != th[(int64_t)ih[i] * W + j]) fail_msg("large gather: row %d (index %d) col %d", i, ih[i], j);
    evk_stream_destroy(s);
    evk_tensor_free(ctx, &table);
    evk_tensor_free(ctx, &index);
    evk_tensor_free(ctx, &y);
    free(th);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_transpose),
        cmocka_unit_test(test_gather),
        cmocka_unit_test(test_gather_large_table),
    };
    return cmocka_run_group_tests(tests, test_group_setup, test_group_teardown);
}
