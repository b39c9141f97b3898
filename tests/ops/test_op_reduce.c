/* test_op_reduce.c — per-row sum / mean / L2 / max, cosine similarity of rows (paired and against
 * one shared row), argmax and top-k (with ties and NaN) against double-precision references on
 * random inputs, through row views at unaligned offsets, outputs poisoned first; bad shapes. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "ops/op_reduce.h"

static evk_tensor alloc2(evk_context *ctx, evk_dtype dt, int64_t r, int64_t c) {
    evk_tensor t;
    int64_t shape[2] = {r, c};
    TEST_OK(evk_tensor_alloc(ctx, dt, c ? 2 : 1, shape, &t));
    return t;
}

static void test_reduce_rows(void **state) {
    evk_context *ctx = *state;
    const int64_t rows = 37, cols = 1001, pad = 3;
    test_rng rng = {1};
    float *x = malloc((size_t)((rows + pad) * cols) * 4), got[64];
    test_rng_fill(&rng, x, (size_t)((rows + pad) * cols), -2.0f, 2.0f);
    evk_tensor big = alloc2(ctx, EVK_DTYPE_F32, rows + pad, cols), out = alloc2(ctx, EVK_DTYPE_F32, rows + 5, 0), xv, ov;
    TEST_OK(evk_tensor_upload_f32(ctx, &big, x));
    TEST_OK(evk_tensor_rows(&big, pad, rows, &xv));  /* starts 3·1001·4 bytes in: unaligned */
    TEST_OK(evk_tensor_rows(&out, 1, rows, &ov));
    evk_stream *s;
    TEST_OK(evk_stream_create(ctx, &s));
    for (int op = 0; op <= EVK_REDUCE_MAX; op++) {
        test_poison(ctx, &out.buf);
        TEST_OK(evk_stream_begin(s));
        TEST_OK(evk_op_reduce_rows(s, &xv, (evk_reduce_op)op, &ov));
        TEST_OK(evk_stream_run(s));
        TEST_OK(evk_tensor_download_f32(ctx, &out, got));
        double ref[64];
        for (int64_t r = 0; r < rows; r++) {
            const float *row = x + (pad + r) * cols;
            double acc = op == EVK_REDUCE_MAX ? -INFINITY : 0;
            for (int64_t c = 0; c < cols; c++) {
                if (op == EVK_REDUCE_L2) acc += (double)row[c] * row[c];
                else if (op == EVK_REDUCE_MAX) acc = row[c] > acc ? row[c] : acc;
                else acc += row[c];
            }
            ref[r] = op == EVK_REDUCE_MEAN ? acc / cols : op == EVK_REDUCE_L2 ? sqrt(acc) : acc;
        }
        uint32_t poison = TEST_POISON_BITS;
        assert_memory_equal(&got[0], &poison, 4);            /* the row before the view is untouched */
        assert_memory_equal(&got[rows + 1], &poison, 4);     /* and the row after */
        char what[32];
        snprintf(what, sizeof what, "reduce op %d", op);
        test_assert_close(got + 1, ref, (size_t)rows, 2e-6, what);
    }
    /* wrong output size */
    TEST_OK(evk_stream_begin(s));
    assert_int_equal(evk_op_reduce_rows(s, &xv, EVK_REDUCE_SUM, &out), EVK_ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(evk_error_message(), "out"));
    TEST_OK(evk_stream_run(s));
    evk_stream_destroy(s);
    evk_tensor_free(ctx, &big);
    evk_tensor_free(ctx, &out);
    free(x);
}

static void test_cosine_rows(void **state) {
    evk_context *ctx = *state;
    const int64_t rows = 23, cols = 515;
    test_rng rng = {2};
    float *a = malloc((size_t)(rows * cols) * 4), *b = malloc((size_t)(rows * cols) * 4), got[32];
    test_rng_fill(&rng, a, (size_t)(rows * cols), -1.0f, 1.0f);
    test_rng_fill(&rng, b, (size_t)(rows * cols), -1.0f, 1.0f);
    for (int64_t c = 0; c < cols; c++) a[5 * cols + c] = 0.5f * b[5 * cols + c] + 0.01f * a[5 * cols + c]; /* near-parallel */
    evk_tensor ta = alloc2(ctx, EVK_DTYPE_F32, rows, cols), tb = alloc2(ctx, EVK_DTYPE_F32, rows, cols), to = alloc2(ctx, EVK_DTYPE_F32, rows, 0), tb1;
    TEST_OK(evk_tensor_upload_f32(ctx, &ta, a));
    TEST_OK(evk_tensor_upload_f32(ctx, &tb, b));
    TEST_OK(evk_tensor_rows(&tb, 7, 1, &tb1));
    evk_stream *s;
    TEST_OK(evk_stream_create(ctx, &s));
    for (int shared = 0; shared < 2; shared++) {
        test_poison(ctx, &to.buf);
        TEST_OK(evk_stream_begin(s));
        TEST_OK(evk_op_cosine_rows(s, &ta, shared ? &tb1 : &tb, &to));
        TEST_OK(evk_stream_run(s));
        TEST_OK(evk_tensor_download_f32(ctx, &to, got));
        double ref[32];
        for (int64_t r = 0; r < rows; r++) {
            const float *br = b + (shared ? 7 : r) * cols;
            double ab = 0, aa = 0, bb = 0;
            for (int64_t c = 0; c < cols; c++) ab += (double)a[r * cols + c] * br[c], aa += (double)a[r * cols + c] * a[r * cols + c], bb += (double)br[c] * br[c];
            ref[r] = ab / sqrt(aa * bb);
        }
        test_assert_close(got, ref, (size_t)rows, 2e-6, shared ? "cosine (shared row)" : "cosine");
        assert_true(shared || got[5] > 0.99f);
    }
    TEST_OK(evk_stream_begin(s));
    evk_tensor tb2;
    TEST_OK(evk_tensor_rows(&tb, 0, 2, &tb2));
    assert_int_equal(evk_op_cosine_rows(s, &ta, &tb2, &to), EVK_ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(evk_error_message(), "b is f32 2x515"));
    TEST_OK(evk_stream_run(s));
    evk_stream_destroy(s);
    evk_tensor_free(ctx, &ta), evk_tensor_free(ctx, &tb), evk_tensor_free(ctx, &to);
    free(a), free(b);
}

/* reference rank order: value descending, index ascending, NaN last */
static const float *g_vals;
static int rank_cmp(const void *pa, const void *pb) {
    uint32_t i = *(const uint32_t *)pa, j = *(const uint32_t *)pb;
    float a = g_vals[i], b = g_vals[j];
    if (isnan(a) != isnan(b)) return isnan(a) ? 1 : -1;
    if (!isnan(a) && a != b) return a > b ? -1 : 1;
    return (i > j) - (i < j);
}

static void test_argmax_topk(void **state) {
    evk_context *ctx = *state;
    const uint32_t n = 2999, k = 17;
    test_rng rng = {3};
    float *x = malloc(n * 4);
    test_rng_fill(&rng, x, n, -10.0f, 10.0f);
    x[100] = x[2000] = 50.0f;      /* tie for the maximum: the lower index wins */
    x[5] = x[6] = 40.0f;           /* tie inside the top-k */
    x[7] = NAN, x[2998] = NAN;     /* ignored by argmax, ranked last */
    uint32_t *order = malloc(n * 4);
    for (uint32_t i = 0; i < n; i++) order[i] = i;
    g_vals = x;
    qsort(order, n, 4, rank_cmp);

    evk_tensor tx = alloc2(ctx, EVK_DTYPE_F32, n, 0), ti = alloc2(ctx, EVK_DTYPE_U32, 32, 0), tv = alloc2(ctx, EVK_DTYPE_F32, 32, 0);
    TEST_OK(evk_tensor_upload_f32(ctx, &tx, x));
    evk_stream *s;
    TEST_OK(evk_stream_create(ctx, &s));
    test_poison(ctx, &ti.buf);
    test_poison(ctx, &tv.buf);
    TEST_OK(evk_stream_begin(s));
    TEST_OK(evk_op_argmax(s, &tx, &ti, &tv));
    TEST_OK(evk_stream_run(s));
    uint32_t idx[32];
    float val[32];
    TEST_OK(evk_buffer_download(ctx, &ti.buf, 0, idx, sizeof idx));
    TEST_OK(evk_tensor_download_f32(ctx, &tv, val));
    assert_int_equal(idx[0], 100);
    assert_true(val[0] == 50.0f);
    assert_int_equal(idx[1], TEST_POISON_BITS);

    for (uint32_t kk = 1; kk <= k; kk += 16) {
        test_poison(ctx, &ti.buf);
        test_poison(ctx, &tv.buf);
        TEST_OK(evk_stream_begin(s));
        TEST_OK(evk_op_topk(s, &tx, kk, &ti, &tv));
        TEST_OK(evk_stream_run(s));
        TEST_OK(evk_buffer_download(ctx, &ti.buf, 0, idx, sizeof idx));
        TEST_OK(evk_tensor_download_f32(ctx, &tv, val));
        for (uint32_t j = 0; j < kk; j++) {
            if (idx[j] != order[j]) fail_msg("top-%u slot %u: index %u, expected %u", kk, j, idx[j], order[j]);
            assert_true(val[j] == x[order[j]]);
        }
        assert_int_equal(idx[kk], TEST_POISON_BITS);
    }
    /* the whole array: a full ranking with NaN at the end */
    evk_tensor ai = alloc2(ctx, EVK_DTYPE_U32, n, 0), av = alloc2(ctx, EVK_DTYPE_F32, n, 0);
    TEST_OK(evk_stream_begin(s));
    TEST_OK(evk_op_topk(s, &tx, n, &ai, &av));
    TEST_OK(evk_stream_run(s));
    uint32_t *all = malloc(n * 4);
    TEST_OK(evk_buffer_download(ctx, &ai.buf, 0, all, n * 4));
    assert_memory_equal(all, order, n * 4);
    assert_int_equal(all[n - 2], 7);
    assert_int_equal(all[n - 1], 2998);

    TEST_OK(evk_stream_begin(s));
    assert_int_equal(evk_op_topk(s, &tx, 0, &ti, &tv), EVK_ERROR_INVALID_ARGUMENT);
    assert_int_equal(evk_op_topk(s, &tx, 33, &ti, &tv), EVK_ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(evk_error_message(), "indices"));
    assert_int_equal(evk_op_argmax(s, &tx, &tv, &tv), EVK_ERROR_INVALID_ARGUMENT);
    TEST_OK(evk_stream_run(s));
    evk_stream_destroy(s);
    evk_tensor_free(ctx, &tx), evk_tensor_free(ctx, &ti), evk_tensor_free(ctx, &tv), evk_tensor_free(ctx, &ai), evk_tensor_free(ctx, &av);
    free(x), free(order), free(all);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reduce_rows),
        cmocka_unit_test(test_cosine_rows),
        cmocka_unit_test(test_argmax_topk),
    };
    return cmocka_run_group_tests(tests, test_group_setup, test_group_teardown);
}
