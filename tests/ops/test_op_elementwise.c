/* test_op_elementwise.c — activations (SiLU, GELU erf and tanh forms, quick-GELU), GEGLU, the
 * affine scale, broadcast add/mul/sub (time-embedding injection [N,C,H,W] + [N,C,1,1], per-channel
 * and scalar b, b of lower rank) and concat along channels and the last axis, against
 * double-precision references at odd sizes (scalar builds) and sizes divisible by 4 (texel builds
 * on CPU devices), with large |x| (saturation must not give NaN), plus argument errors. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "ops/op_elementwise.h"

static evk_tensor new_tensor(evk_context *ctx, int ndim, const int64_t *shape, const float *data) {
    evk_tensor t;
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, ndim, shape, &t));
    if (data) TEST_OK(evk_tensor_upload_f32(ctx, &t, data));
    else test_poison(ctx, &t.buf);
    return t;
}

static double ref_act(evk_activation act, double x) {
    switch (act) {
    case EVK_ACT_SILU: return x / (1.0 + exp(-x));
    case EVK_ACT_GELU: return 0.5 * x * (1.0 + erf(x / sqrt(2.0)));
    case EVK_ACT_GELU_TANH: return 0.5 * x * (1.0 + tanh(sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
    case EVK_ACT_QUICK_GELU: return x / (1.0 + exp(-1.702 * x));
    default: return NAN;
    }
}

static evk_stream *begin(evk_context *ctx) {
    evk_stream *s;
    TEST_OK(evk_stream_create(ctx, &s));
    TEST_OK(evk_stream_begin(s));
    return s;
}

static void finish(evk_context *ctx, evk_stream *s, const evk_tensor *out, const double *ref, size_t n, const char *what) {
    TEST_OK(evk_stream_run(s));
    float *got = malloc(n * 4);
    TEST_OK(evk_tensor_download_f32(ctx, out, got));
    test_assert_close(got, ref, n, 1e-5, what);
    test_assert_no_validation(ctx);
    free(got);
    evk_stream_destroy(s);
}

static void test_activations(void **state) {
    evk_context *ctx = *state;
    const int64_t sizes[2][3] = {{3, 37, 11}, {2, 40, 64}};
    for (int si = 0; si < 2; si++)
        for (int a = 0; EVK_ACT_HAS_KERNEL(a); a++) {
            test_rng rng = {(uint64_t)(10 + a + 10 * si)};
            size_t n = (size_t)(sizes[si][0] * sizes[si][1] * sizes[si][2]);
            float *x = malloc(n * 4);
            double *ref = malloc(n * sizeof(double));
            test_rng_fill(&rng, x, n, -6.0f, 6.0f);
            x[0] = 90.0f; x[1] = -90.0f; x[2] = 1e-4f; /* saturation, tiny input */
            for (size_t i = 0; i < n; i++) ref[i] = ref_act((evk_activation)a, x[i]);
            evk_tensor tx = new_tensor(ctx, 3, sizes[si], x), ty = new_tensor(ctx, 3, sizes[si], NULL);
            evk_stream *s = begin(ctx);
            TEST_OK(evk_op_activation(s, (evk_activation)a, &tx, &ty));
            char what[64];
            snprintf(what, sizeof what, "%s n=%zu", evk_activation_name((evk_activation)a), n);
            finish(ctx, s, &ty, ref, n, what);
            /* in place */
            s = begin(ctx);
            TEST_OK(evk_op_activation(s, (evk_activation)a, &tx, &tx));
            finish(ctx, s, &tx, ref, n, what);
            evk_tensor_free(ctx, &tx);
            evk_tensor_free(ctx, &ty);
            free(x); free(ref);
        }
}

static void test_geglu_and_scale(void **state) {
    evk_context *ctx = *state;
    const int64_t F[2] = {13, 64};
    for (int fi = 0; fi < 2; fi++) {
        test_rng rng = {(uint64_t)(40 + fi)};
        int64_t rows = 37, sx[3] = {1, rows, 2 * F[fi]}, sy[3] = {1, rows, F[fi]};
        size_t nx = (size_t)(rows * 2 * F[fi]), ny = (size_t)(rows * F[fi]);
        float *x = malloc(nx * 4);
        double *ref = malloc(nx * sizeof(double));
        test_rng_fill(&rng, x, nx, -4.0f, 4.0f);
        for (int64_t r = 0; r < rows; r++)
            for (int64_t j = 0; j < F[fi]; j++)
                ref[r * F[fi] + j] = (double)x[r * 2 * F[fi] + j] * ref_act(EVK_ACT_GELU, x[r * 2 * F[fi] + F[fi] + j]);
        evk_tensor tx = new_tensor(ctx, 3, sx, x), ty = new_tensor(ctx, 3, sy, NULL);
        evk_stream *s = begin(ctx);
        TEST_OK(evk_op_geglu(s, &tx, &ty));
        finish(ctx, s, &ty, ref, ny, F[fi] == 13 ? "geglu F=13" : "geglu F=64");
        for (size_t i = 0; i < nx; i++) ref[i] = -0.75 * x[i] + 0.125;
        evk_tensor tz = new_tensor(ctx, 3, sx, NULL);
        s = begin(ctx);
        TEST_OK(evk_op_scale(s, &tx, -0.75f, 0.125f, &tz));
        finish(ctx, s, &tz, ref, nx, "scale");
        evk_tensor_free(ctx, &tx);
        evk_tensor_free(ctx, &ty);
        evk_tensor_free(ctx, &tz);
        free(x); free(ref);
    }
}

typedef struct bcast_case { int na; int64_t a[4]; int nb; int64_t b[4]; } bcast_case;

static void test_broadcast_binary(void **state) {
    evk_context *ctx = *state;
    const bcast_case cases[] = {
        {4, {2, 7, 5, 3}, 4, {2, 7, 1, 1}}, /* time embedding injection */
        {4, {2, 7, 5, 3}, 4, {2, 7, 5, 3}}, /* residual */
        {4, {2, 7, 5, 3}, 1, {3}},          /* last-dim bias, lower rank */
        {4, {2, 7, 5, 3}, 4, {1, 7, 1, 3}}, /* alternating runs */
        {3, {3, 11, 9}, 1, {1}},            /* scalar */
        {4, {2, 1, 5, 3}, 4, {1, 1, 5, 1}},
        {4, {2, 7, 4, 5}, 4, {2, 7, 1, 1}}, /* innermost run of 20: vec4 build, b broadcast inside */
        {4, {2, 3, 5, 8}, 1, {8}},          /* vec4 build, b kept inside */
        {4, {3, 1, 4, 4}, 4, {3, 1, 4, 4}},
    };
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++)
        for (int op = 0; op < 3; op++) {
            const bcast_case *c = &cases[ci];
            test_rng rng = {100 + ci * 3 + (uint64_t)op};
            int64_t na = 1, nb = 1;
            for (int i = 0; i < c->na; i++) na *= c->a[i];
            for (int i = 0; i < c->nb; i++) nb *= c->b[i];
            float *a = malloc(na * 4), *b = malloc(nb * 4);
            double *ref = malloc(na * sizeof(double));
            test_rng_fill(&rng, a, na, -2.0f, 2.0f);
            test_rng_fill(&rng, b, nb, -2.0f, 2.0f);
            int64_t bd[4];
            for (int i = 0; i < c->na; i++) bd[i] = i - (c->na - c->nb) >= 0 ? c->b[i - (c->na - c->nb)] : 1;
            for (int64_t i = 0; i < na; i++) {
                int64_t rem = i, bi = 0, bs = 1;
                for (int d = c->na - 1; d >= 0; d--) {
                    int64_t coord = rem % c->a[d];
                    rem /= c->a[d];
                    if (bd[d] != 1) bi += coord * bs;
                    bs *= bd[d];
                }
                double x = a[i], y = b[bi];
                ref[i] = op == 0 ? x + y : op == 1 ? x * y : x - y;
            }
            evk_tensor ta = new_tensor(ctx, c->na, c->a, a), tb = new_tensor(ctx, c->nb, c->b, b);
            evk_tensor to = new_tensor(ctx, c->na, c->a, NULL);
            evk_stream *s = begin(ctx);
            TEST_OK((op == 0 ? evk_op_add : op == 1 ? evk_op_mul : evk_op_sub)(s, &ta, &tb, &to));
            char what[64];
            snprintf(what, sizeof what, "binary op %d case %zu", op, ci);
            finish(ctx, s, &to, ref, (size_t)na, what);
            evk_tensor_free(ctx, &ta);
            evk_tensor_free(ctx, &tb);
            evk_tensor_free(ctx, &to);
            free(a); free(b); free(ref);
        }
}

static void test_concat(void **state) {
    evk_context *ctx = *state;
    for (int ci = 0; ci < 2; ci++) {
        int axis = ci == 0 ? 1 : -1;
        int64_t sa[4] = {2, 5, 7, 3}, sb[4] = {2, 5, 7, 3}, so[4] = {2, 5, 7, 3};
        int ax = ci == 0 ? 1 : 3;
        sb[ax] = ci == 0 ? 9 : 4;
        so[ax] = sa[ax] + sb[ax];
        int64_t na = 2 * 5 * 7 * 3, nb = na / sa[ax] * sb[ax], no = na + nb;
        test_rng rng = {200 + (uint64_t)ci};
        float *a = malloc(na * 4), *b = malloc(nb * 4);
        double *ref = malloc(no * sizeof(double));
        test_rng_fill(&rng, a, na, -1.0f, 1.0f);
        test_rng_fill(&rng, b, nb, -1.0f, 1.0f);
        int64_t inner = 1, outer = 1;
        for (int i = ax + 1; i < 4; i++) inner *= sa[i];
        for (int i = 0; i < ax; i++) outer *= sa[i];
        int64_t ia = sa[ax] * inner, ib = sb[ax] * inner, k = 0;
        for (int64_t r = 0; r < outer; r++) {
            for (int64_t j = 0; j < ia; j++) ref[k++] = a[r * ia + j];
            for (int64_t j = 0; j < ib; j++) ref[k++] = b[r * ib + j];
        }
        evk_tensor ta = new_tensor(ctx, 4, sa, a), tb = new_tensor(ctx, 4, sb, b), to = new_tensor(ctx, 4, so, NULL);
        evk_stream *s = begin(ctx);
        TEST_OK(evk_op_concat(s, &ta, &tb, axis, &to));
        finish(ctx, s, &to, ref, (size_t)no, ci == 0 ? "concat channels" : "concat last");
        evk_tensor_free(ctx, &ta);
        evk_tensor_free(ctx, &tb);
        evk_tensor_free(ctx, &to);
        free(a); free(b); free(ref);
    }
}

static void test_errors(void **state) {
    evk_context *ctx = *state;
    int64_t s1[4] = {2, 4, 3, 3}, s2[4] = {2, 3, 1, 1}, s3[3] = {2, 4, 5};
    evk_tensor a, b, c;
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 4, s1, &a));
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 4, s2, &b));
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 3, s3, &c));
    evk_stream *s = begin(ctx);
    assert_int_equal(evk_op_add(s, &a, &b, &a), EVK_ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(evk_error_message(), "does not broadcast"));
    assert_int_equal(evk_op_activation(s, EVK_ACT_SILU, &a, &b), EVK_ERROR_INVALID_ARGUMENT);
    assert_int_equal(evk_op_activation(s, (evk_activation)99, &a, &a), EVK_ERROR_INVALID_ARGUMENT);
    assert_int_equal(evk_op_geglu(s, &c, &c), EVK_ERROR_INVALID_ARGUMENT);
    assert_int_equal(evk_op_concat(s, &a, &b, 1, &a), EVK_ERROR_INVALID_ARGUMENT);
    assert_int_equal(evk_op_concat(s, &a, &a, 4, &a), EVK_ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(evk_error_message(), "axis 4"));
    assert_int_equal(evk_op_scale(s, &a, NAN, 0.0f, &a), EVK_ERROR_INVALID_ARGUMENT);
    assert_int_equal(evk_stream_dispatch_count(s), 0);
    TEST_OK(evk_stream_run(s));
    evk_stream_destroy(s);
    evk_tensor_free(ctx, &a);
    evk_tensor_free(ctx, &b);
    evk_tensor_free(ctx, &c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_activations), cmocka_unit_test(test_geglu_and_scale),
        cmocka_unit_test(test_broadcast_binary), cmocka_unit_test(test_concat), cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, test_group_setup, test_group_teardown);
}
