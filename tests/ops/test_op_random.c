/* test_op_random.c — Philox-4x32-10 against Random123's known-answer vectors; device noise equal
 * bit for bit to the host mirror, whatever rows are dispatched together and wherever a view
 * starts; the float transform against a double-precision Box-Muller; moments and a
 * Kolmogorov-Smirnov test of 10^6 device samples against N(0, 1); mutations against double
 * references, the variance-preserving mutation keeping N(0, I), and bad arguments. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "ops/op_random.h"
#include "ops/op_reduce.h"

static void test_philox_kat(void **state) {
    (void)state;
    /* Random123 kat_vectors: "philox4x32 10 <ctr x4> <key x2> <expected x4>" */
    static const uint32_t kat[3][10] = {
        {0, 0, 0, 0, 0, 0, 0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8},
        {0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd},
        {0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0, 0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1},
    };
    for (int i = 0; i < 3; i++) {
        uint32_t out[4];
        evk_philox4x32_10(kat[i], kat[i] + 4, out);
        for (int j = 0; j < 4; j++)
            if (out[j] != kat[i][6 + j]) fail_msg("KAT %d word %d: %08x, expected %08x", i, j, out[j], kat[i][6 + j]);
    }
}

/* Device noise for a [rows, cols] tensor, downloaded. */
static float *device_noise(evk_context *ctx, int64_t rows, int64_t cols, const evk_noise_key *key) {
    evk_tensor t;
    int64_t shape[2] = {rows, cols};
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 2, shape, &t));
    test_poison(ctx, &t.buf);
    evk_stream *s;
    TEST_OK(evk_stream_create(ctx, &s));
    TEST_OK(evk_stream_begin(s));
    TEST_OK(evk_op_random_normal(s, &t, key));
    TEST_OK(evk_stream_run(s));
    float *h = malloc((size_t)(rows * cols) * 4);
    TEST_OK(evk_tensor_download_f32(ctx, &t, h));
    evk_stream_destroy(s);
    evk_tensor_free(ctx, &t);
    return h;
}

static void test_noise_matches_host_mirror(void **state) {
    evk_context *ctx = *state;
    const int64_t rows = 37, cols = 1001; /* cols not a multiple of 4 */
    evk_noise_key key = {.seed = 0x0123456789abcdefull, .stream = 1000, .counter = 17, .domain = EVK_NOISE_SAMPLER};
    float *dev = device_noise(ctx, rows, cols, &key);
    float *host = malloc(cols * 4);
    for (int64_t r = 0; r < rows; r++) {
        evk_random_normal_host(&key, (uint32_t)r, 0, (size_t)cols, host);
        for (int64_t c = 0; c < cols; c++)
            if (memcmp(&dev[r * cols + c], &host[c], 4))
                fail_msg("row %lld col %lld: device %.9g, host mirror %.9g", (long long)r, (long long)c, dev[r * cols + c], host[c]);
    }
    /* any starting element on the host gives the same values */
    float part[7];
    evk_random_normal_host(&key, 3, 998, 3, part);
    assert_memory_equal(part, &dev[3 * cols + 998], 12);
    /* a different counter, stream or domain changes everything */
    evk_noise_key k2 = key;
    k2.counter++;
    evk_random_normal_host(&k2, 0, 0, 7, part);
    int same = 0;
    for (int i = 0; i < 7; i++) same += part[i] == dev[i];
    assert_true(same < 2);
    free(host);
    free(dev);
}

static void test_noise_independent_of_dispatch(void **state) {
    evk_context *ctx = *state;
    const int64_t rows = 29, cols = 67;
    evk_noise_key key = {.seed = 42, .stream = 5, .counter = 3, .domain = EVK_NOISE_INITIAL};
    float *full = device_noise(ctx, rows, cols, &key);
    /* the same rows drawn as chunks of 1, 4 and 11 rows, at unaligned offsets of one buffer */
    static const int64_t chunk_sizes[] = {1, 4, 11};
    evk_tensor t;
    int64_t shape[2] = {rows, cols};
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 2, shape, &t));
    float *got = malloc((size_t)(rows * cols) * 4);
    evk_stream *s;
    TEST_OK(evk_stream_create(ctx, &s));
    for (int c = 0; c < 3; c++) {
        test_poison(ctx, &t.buf);
        TEST_OK(evk_stream_begin(s));
        for (int64_t r0 = 0; r0 < rows; r0 += chunk_sizes[c]) {
            int64_t n = rows - r0 < chunk_sizes[c] ? rows - r0 : chunk_sizes[c];
            evk_tensor v;
            TEST_OK(evk_tensor_rows(&t, r0, n, &v));
            evk_noise_key k = key;
            k.stream = key.stream + (uint32_t)r0;
            TEST_OK(evk_op_random_normal(s, &v, &k));
        }
        TEST_OK(evk_stream_run(s));
        TEST_OK(evk_tensor_download_f32(ctx, &t, got));
        if (memcmp(got, full, (size_t)(rows * cols) * 4)) fail_msg("chunks of %lld rows differ from one dispatch", (long long)chunk_sizes[c]);
    }
    evk_stream_destroy(s);
    evk_tensor_free(ctx, &t);
    free(got);
    free(full);
}

static void test_transform_against_double(void **state) {
    (void)state;
    /* the polynomial log / sqrt / sin / cos against libm in double, on 200000 Philox outputs */
    evk_noise_key key = {.seed = 7, .stream = 0, .counter = 0, .domain = 9};
    uint32_t k[2] = {7, 0};
    double worst = 0;
    for (uint32_t b = 0; b < 50000; b++) {
        uint32_t ctr[4] = {b, 0, 0, 9}, w[4];
        evk_philox4x32_10(ctr, k, w);
        float z[4];
        evk_random_normal_host(&key, 0, (uint64_t)b * 4, 4, z);
        for (int p = 0; p < 2; p++) {
            uint32_t a = w[2 * p], c = w[2 * p + 1];
            double u = ((double)(a >> 9) + 0.5) / 8388608.0;
            double angle = ((double)(c >> 30) + ((double)((c >> 7) & 0x7fffffu) + 0.5) / 8388608.0) * (M_PI / 2);
            double r = sqrt(-2.0 * log(u));
            double ref[2] = {r * cos(angle), r * sin(angle)};
            for (int q = 0; q < 2; q++) {
                double e = fabs(z[2 * p + q] - ref[q]) / (1.0 + fabs(ref[q]));
                if (e > worst) worst = e;
            }
        }
    }
    if (worst > 2e-6) fail_msg("float transform differs from double Box-Muller by %.3g", worst);
}

static double normal_cdf(double x) { return 0.5 * erfc(-x / sqrt(2.0)); }
static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* mean, variance, skewness, kurtosis within ~5 standard errors; KS statistic under the 0.1 % level */
static void check_standard_normal(float *v, size_t n, const char *what) {
    double m1 = 0, m2 = 0, m3 = 0, m4 = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(v[i])) fail_msg("%s: element %zu is %f", what, i, v[i]);
        m1 += v[i];
    }
    m1 /= n;
    for (size_t i = 0; i < n; i++) {
        double d = v[i] - m1;
        m2 += d * d, m3 += d * d * d, m4 += d * d * d * d;
    }
    m2 /= n, m3 /= n, m4 /= n;
    double skew = m3 / pow(m2, 1.5), kurt = m4 / (m2 * m2);
    double se = 1.0 / sqrt((double)n);
    if (fabs(m1) > 5 * se || fabs(m2 - 1) > 5 * sqrt(2.0) * se || fabs(skew) > 5 * sqrt(6.0) * se || fabs(kurt - 3) > 5 * sqrt(24.0) * se)
        fail_msg("%s: mean %.5f var %.5f skew %.5f kurtosis %.5f (n = %zu)", what, m1, m2, skew, kurt, n);
    qsort(v, n, sizeof *v, cmp_float);
    double d = 0;
    for (size_t i = 0; i < n; i++) {
        double f = normal_cdf(v[i]);
        double a = fabs(f - (double)i / n), b = fabs((double)(i + 1) / n - f);
        if (a > d) d = a;
        if (b > d) d = b;
    }
    double crit = 1.949 / sqrt((double)n); /* alpha = 0.001 */
    if (d > crit) fail_msg("%s: Kolmogorov-Smirnov D = %.5f > %.5f", what, d, crit);
    print_message("%s: mean %.5f var %.5f skew %.5f kurt %.5f KS D %.5f (crit %.5f)\n", what, m1, m2, skew, kurt, d, crit);
}

static void test_noise_moments_and_ks(void **state) {
    evk_context *ctx = *state;
    const int64_t rows = 1000, cols = 1000;
    evk_noise_key key = {.seed = 2025, .stream = 0, .counter = 1, .domain = EVK_NOISE_INITIAL};
    float *v = device_noise(ctx, rows, cols, &key);
    check_standard_normal(v, (size_t)(rows * cols), "noise");
    free(v);
}

static void test_mutations(void **state) {
    evk_context *ctx = *state;
    const int64_t rows = 500, cols = 2003;
    const size_t n = (size_t)(rows * cols);
    evk_noise_key k0 = {.seed = 11, .stream = 0, .counter = 0, .domain = EVK_NOISE_INITIAL};
    evk_noise_key km = {.seed = 11, .stream = 0, .counter = 4, .domain = EVK_NOISE_MUTATION};
    evk_tensor x, sig, coef;
    int64_t shape[2] = {rows, cols}, srow[1] = {rows}, scoef[2] = {rows, 2};
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 2, shape, &x));
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 1, srow, &sig));
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 2, scoef, &coef));
    float *x0 = malloc(n * 4), *got = malloc(n * 4), *z = malloc(cols * 4);
    double *ref = malloc(n * 8);
    evk_stream *s;
    TEST_OK(evk_stream_create(ctx, &s));

    /* variance-preserving: x' = sqrt(1 - b^2) x + b eps stays N(0, 1) and correlates sqrt(1 - b^2) */
    const double beta = 0.2;
    TEST_OK(evk_stream_begin(s));
    TEST_OK(evk_op_random_normal(s, &x, &k0));
    TEST_OK(evk_stream_run(s));
    TEST_OK(evk_tensor_download_f32(ctx, &x, x0));
    TEST_OK(evk_stream_begin(s));
    TEST_OK(evk_op_mutate_vp(s, &x, beta, &km));
    TEST_OK(evk_stream_run(s));
    TEST_OK(evk_tensor_download_f32(ctx, &x, got));
    double corr = 0;
    for (int64_t r = 0; r < rows; r++) {
        evk_random_normal_host(&km, (uint32_t)r, 0, (size_t)cols, z);
        for (int64_t c = 0; c < cols; c++) {
            ref[r * cols + c] = sqrt(1 - beta * beta) * x0[r * cols + c] + beta * z[c];
            corr += (double)got[r * cols + c] * x0[r * cols + c];
        }
    }
    test_assert_close(got, ref, n, 1e-6, "mutate_vp");
    corr /= n;
    if (fabs(corr - sqrt(1 - beta * beta)) > 0.01) fail_msg("mutate_vp: correlation %.4f, expected %.4f", corr, sqrt(1 - beta * beta));
    check_standard_normal(got, n, "mutate_vp");

    /* additive with sigma per row, on random (never zero) states */
    test_rng rng = {99};
    float *sh = malloc(rows * 4), *ch = malloc(rows * 8);
    test_rng_fill(&rng, x0, n, -3.0f, 3.0f);
    test_rng_fill(&rng, sh, (size_t)rows, 0.05f, 2.0f);
    TEST_OK(evk_tensor_upload_f32(ctx, &x, x0));
    TEST_OK(evk_tensor_upload_f32(ctx, &sig, sh));
    TEST_OK(evk_stream_begin(s));
    TEST_OK(evk_op_mutate_add(s, &x, &sig, 0.0f, &km));
    TEST_OK(evk_stream_run(s));
    TEST_OK(evk_tensor_download_f32(ctx, &x, got));
    for (int64_t r = 0; r < rows; r++) {
        evk_random_normal_host(&km, (uint32_t)r, 0, (size_t)cols, z);
        for (int64_t c = 0; c < cols; c++) ref[r * cols + c] = x0[r * cols + c] + (double)sh[r] * z[c];
    }
    test_assert_close(got, ref, n, 1e-6, "mutate_add");

    /* affine per row; rows with (1, 0) are left bit for bit */
    for (int64_t r = 0; r < rows; r++) {
        ch[2 * r] = r % 3 ? 0.9f : 1.0f;
        ch[2 * r + 1] = r % 3 ? 0.3f + 0.001f * (float)r : 0.0f;
    }
    TEST_OK(evk_tensor_upload_f32(ctx, &x, x0));
    TEST_OK(evk_tensor_upload_f32(ctx, &coef, ch));
    TEST_OK(evk_stream_begin(s));
    TEST_OK(evk_op_mutate_affine(s, &x, &coef, &km));
    TEST_OK(evk_stream_run(s));
    TEST_OK(evk_tensor_download_f32(ctx, &x, got));
    for (int64_t r = 0; r < rows; r++) {
        evk_random_normal_host(&km, (uint32_t)r, 0, (size_t)cols, z);
        for (int64_t c = 0; c < cols; c++) ref[r * cols + c] = (double)ch[2 * r] * x0[r * cols + c] + (double)ch[2 * r + 1] * z[c];
        if (r % 3 == 0 && memcmp(&got[r * cols], &x0[r * cols], cols * 4)) fail_msg("affine row %lld with (1, 0) changed", (long long)r);
    }
    test_assert_close(got, ref, n, 1e-6, "mutate_affine");

    /* bad arguments: a clear message, nothing recorded */
    TEST_OK(evk_stream_begin(s));
    evk_tensor short_sig;
    TEST_OK(evk_tensor_rows(&sig, 0, rows - 1, &short_sig));
    assert_int_equal(evk_op_mutate_add(s, &x, &short_sig, 0.0f, &km), EVK_ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(evk_error_message(), "sigma"));
    assert_int_equal(evk_op_mutate_vp(s, &x, 1.5, &km), EVK_ERROR_INVALID_ARGUMENT);
    assert_int_equal(evk_op_random_normal(s, &x, NULL), EVK_ERROR_INVALID_ARGUMENT);
    assert_int_equal(evk_stream_dispatch_count(s), 0);
    TEST_OK(evk_stream_run(s));

    evk_stream_destroy(s);
    evk_tensor_free(ctx, &x);
    evk_tensor_free(ctx, &sig);
    evk_tensor_free(ctx, &coef);
    free(x0), free(got), free(z), free(ref), free(sh), free(ch);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_philox_kat),
        cmocka_unit_test(test_transform_against_double),
        cmocka_unit_test(test_noise_matches_host_mirror),
        cmocka_unit_test(test_noise_independent_of_dispatch),
        cmocka_unit_test(test_noise_moments_and_ks),
        cmocka_unit_test(test_mutations),
    };
    return cmocka_run_group_tests(tests, test_group_setup, test_group_teardown);
}
