/* test_stream.c — command streams: 1000 dispatches in one submission, barriers only where a
 * hazard exists, copies, profiling rows, views bound at any row, and misuse reported as
 * errors. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "ops/op_elementwise.h"
#include "ops/op_reduce.h"

static void test_thousand_dispatches(void **state) {
    evk_context *ctx = *state;
    const uint32_t n = 1000, words = 37;
    evk_buffer b;
    TEST_OK(evk_buffer_alloc(ctx, (uint64_t)n * words * 4, &b));
    evk_stream *s;
    TEST_OK(evk_stream_create(ctx, &s));
    TEST_OK(evk_stream_begin(s));
    for (uint32_t i = 0; i < n; i++) TEST_OK(evk_op_fill_ramp(s, &b, (uint64_t)i * words, words, (float)i, 1.0f / 64));
    assert_int_equal(evk_stream_dispatch_count(s), n);
    TEST_OK(evk_stream_run(s));
    float *host = malloc((size_t)n * words * 4);
    TEST_OK(evk_buffer_download(ctx, &b, 0, host, (uint64_t)n * words * 4));
    for (uint32_t i = 0; i < n; i++)
        for (uint32_t j = 0; j < words; j++)
            if (host[i * words + j] != (float)i + j / 64.0f) fail_msg("dispatch %u word %u wrong", i, j);
    free(host);
    evk_stream_destroy(s);
    evk_buffer_free(ctx, &b);
}

static void test_barriers_follow_hazards(void **state) {
    evk_context *ctx = *state;
    evk_buffer a, b;
    TEST_OK(evk_buffer_alloc(ctx, 4096, &a));
    TEST_OK(evk_buffer_alloc(ctx, 4096, &b));
    evk_stream *s;
    TEST_OK(evk_stream_create(ctx, &s));
    TEST_OK(evk_stream_begin(s));
    /* fill binds the whole buffer for writing: a then b are independent, a again is a hazard */
    TEST_OK(evk_op_fill_bits(s, &a, 0, 1024, 1));
    TEST_OK(evk_op_fill_bits(s, &b, 0, 1024, 2));
    assert_int_equal(evk_stream_barrier_count(s), 0);
    TEST_OK(evk_op_fill_bits(s, &a, 0, 1024, 3));
    assert_int_equal(evk_stream_barrier_count(s), 1);
    /* copy b -> a after writing both: RAW on b and WAW on a */
    TEST_OK(evk_stream_copy(s, &b, 8, &a, 16, 64));
    assert_int_equal(evk_stream_barrier_count(s), 2);
    TEST_OK(evk_stream_run(s));
    uint32_t host[1024];
    TEST_OK(evk_buffer_download(ctx, &a, 0, host, sizeof host));
    for (int i = 0; i < 1024; i++) assert_int_equal(host[i], (i >= 4 && i < 20) ? 2u : 3u);
    /* the stream can be reused */
    TEST_OK(evk_stream_begin(s));
    TEST_OK(evk_op_fill_bits(s, &a, 0, 1024, 7));
    TEST_OK(evk_stream_run(s));
    TEST_OK(evk_buffer_download(ctx, &a, 0, host, 16));
    assert_int_equal(host[3], 7);
    evk_stream_destroy(s);
    evk_buffer_free(ctx, &a);
    evk_buffer_free(ctx, &b);
}

static void test_profiling_rows(void **state) {
    (void)state;
    evk_context_config config = {.profile = true};
    evk_context *ctx = test_context_create_with(config);
    if (!evk_context_device(ctx)->features.timestamps) {
        test_context_destroy(ctx);
        skip();
    }
    evk_buffer b;
    TEST_OK(evk_buffer_alloc(ctx, 1 << 20, &b));
    evk_stream *s;
    TEST_OK(evk_stream_create(ctx, &s));
    TEST_OK(evk_stream_begin(s));
    for (int i = 0; i < 3000; i++) TEST_OK(evk_op_fill_bits(s, &b, 0, 1 << 18, (uint32_t)i)); /* > one query pool */
    TEST_OK(evk_stream_run(s));
    uint32_t n;
    const evk_profile_row *rows = evk_profile_rows(ctx, &n);
    assert_int_equal(n, 1);
    assert_string_equal(rows[0].label, "fill");
    assert_int_equal(rows[0].calls, 3000);
    assert_true(rows[0].total_ms > 0);
    assert_true(evk_stream_gpu_ms(s) >= rows[0].total_ms * 0.5);
    uint32_t last;
    TEST_OK(evk_buffer_download(ctx, &b, 4, &last, 4));
    assert_int_equal(last, 2999);
    evk_stream_destroy(s);
    evk_buffer_free(ctx, &b);
    test_context_destroy(ctx);
}

static void test_misuse_is_reported(void **state) {
    evk_context *ctx = *state;
    evk_stream *s;
    evk_buffer b;
    TEST_OK(evk_buffer_alloc(ctx, 64, &b));
    TEST_OK(evk_stream_create(ctx, &s));
    assert_int_equal(evk_op_fill_bits(s, &b, 0, 16, 0), EVK_ERROR_INVALID_ARGUMENT); /* not recording */
    TEST_OK(evk_stream_begin(s));
    assert_int_equal(evk_op_fill_bits(s, &b, 0, 17, 0), EVK_ERROR_INVALID_ARGUMENT); /* out of range */
    evk_pipeline_desc d = {.shader = "fill", .binding_count = 1, .push_size = 16, .spec_count = 2, .spec = {64, 0}};
    evk_pipeline *p;
    TEST_OK(evk_pipeline_get(ctx, &d, &p));
    evk_binding bind = {.buffer = b};
    evk_dispatch wrong = {.pipeline = p, .bindings = &bind, .binding_count = 1, .push_size = 4, .push = "abcd"};
    assert_int_equal(evk_stream_dispatch(s, &wrong), EVK_ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(evk_error_message(), "push"));
    TEST_OK(evk_stream_run(s)); /* an empty submission is fine */
    evk_stream_destroy(s);
    evk_buffer_free(ctx, &b);
}

/* Host data recorded into the stream lands in order with the dispatches around it. */
static void test_update_in_order(void **state) {
    evk_context *ctx = *state;
    evk_buffer b;
    TEST_OK(evk_buffer_alloc(ctx, 4 * 70000, &b));
    uint32_t *data = malloc(4 * 70000), *host = malloc(4 * 70000);
    for (uint32_t i = 0; i < 70000; i++) data[i] = 3 * i + 1;
    evk_stream *s;
    TEST_OK(evk_stream_create(ctx, &s));
    TEST_OK(evk_stream_begin(s));
    TEST_OK(evk_op_fill_bits(s, &b, 0, 70000, 5));
    TEST_OK(evk_stream_update(s, &b, 8, data, 4 * 69990)); /* more than one 64 KiB command */
    data[0] = 77; /* captured at record time: later host changes do not matter */
    TEST_OK(evk_op_fill_bits(s, &b, 69998, 2, 9));
    TEST_OK(evk_stream_run(s));
    TEST_OK(evk_buffer_download(ctx, &b, 0, host, 4 * 70000));
    assert_int_equal(host[0], 5);
    assert_int_equal(host[1], 5);
    assert_int_equal(host[2], 1);
    for (uint32_t i = 2; i < 69992; i++)
        if (host[i] != 3 * (i - 2) + 1 && !(i == 2)) fail_msg("word %u is %u", i, host[i]);
    assert_int_equal(host[69998], 9);
    assert_int_equal(host[69999], 9);
    TEST_OK(evk_stream_begin(s));
    assert_int_equal(evk_stream_update(s, &b, 2, data, 8), EVK_ERROR_INVALID_ARGUMENT);
    TEST_OK(evk_stream_run(s));
    evk_stream_destroy(s);
    evk_buffer_free(ctx, &b);
    free(data);
    free(host);
}

/* Row views at every offset (4 bytes in, 8, 12, ...), read and written by kernels that bind them
 * directly: the results match a host reference and no element outside a written view moves. */
static void test_views_at_any_row(void **state) {
    evk_context *ctx = *state;
    enum { N = 64 };
    float hx[N], hy[N], got[N];
    test_rng rng = {11};
    test_rng_fill(&rng, hx, N, -2.0f, 2.0f);
    test_rng_fill(&rng, hy, N, -2.0f, 2.0f);
    evk_tensor x, y;
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 1, (int64_t[]){N}, &x));
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 1, (int64_t[]){N}, &y));
    evk_stream *s;
    TEST_OK(evk_stream_create(ctx, &s));
    for (int64_t row = 1; row < 8; row++) {
        for (int64_t len = 1; len <= 9; len += 4) {
            TEST_OK(evk_tensor_upload_f32(ctx, &x, hx));
            TEST_OK(evk_tensor_upload_f32(ctx, &y, hy));
            evk_tensor xv, yv, zv;
            TEST_OK(evk_tensor_rows(&x, row + 1, len, &xv));
            TEST_OK(evk_tensor_rows(&y, row, len, &yv));
            TEST_OK(evk_tensor_rows(&y, row + 20, len, &zv));
            TEST_OK(evk_stream_begin(s));
            TEST_OK(evk_op_scale(s, &xv, 2.0f, 1.0f, &yv)); /* y[row+i] = 2 x[row+1+i] + 1 */
            TEST_OK(evk_op_scale(s, &zv, -1.0f, 0.0f, &zv)); /* in place */
            TEST_OK(evk_op_add(s, &yv, &zv, &zv));            /* z += y */
            TEST_OK(evk_stream_run(s));
            TEST_OK(evk_tensor_download_f32(ctx, &y, got));
            for (int64_t i = 0; i < N; i++) {
                double ref = hy[i];
                if (i >= row && i < row + len) ref = 2.0 * hx[i + 1] + 1.0;
                if (i >= row + 20 && i < row + 20 + len) ref = -(double)hy[i] + (2.0 * hx[i - 19] + 1.0);
                if (fabs((double)got[i] - ref) > 1e-6 * (1.0 + fabs(ref)))
                    fail_msg("row %lld len %lld: element %lld is %g, expected %g", (long long)row, (long long)len, (long long)i,
                             got[i], ref);
            }
        }
    }
    evk_stream_destroy(s);
    evk_tensor_free(ctx, &x);
    evk_tensor_free(ctx, &y);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_thousand_dispatches),
        cmocka_unit_test(test_barriers_follow_hazards),
        cmocka_unit_test(test_profiling_rows),
        cmocka_unit_test(test_misuse_is_reported),
        cmocka_unit_test(test_update_in_order),
        cmocka_unit_test(test_views_at_any_row),
    };
    return cmocka_run_group_tests(tests, test_group_setup, test_group_teardown);
}
