/* harness.c — shared test support; see harness.h. */
#include "harness.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void test_on_validation(void *user, const char *message) {
    (void)user;
    fprintf(stderr, "VALIDATION: %s\n", message);
}

evk_context *test_context_create_with(evk_context_config config) {
    config.validation = true;
    config.on_validation_message = test_on_validation;
    evk_context *ctx = NULL;
    evk_status s = evk_context_create(&config, &ctx);
    if (s != EVK_OK) {
        fail_msg("evk_context_create: %s: %s", evk_status_name(s), evk_error_message());
        return NULL;
    }
    return ctx;
}

evk_context *test_context_create(void) {
    evk_context_config config = {0};
    return test_context_create_with(config);
}

void test_assert_no_validation(const evk_context *ctx) {
    uint32_t n = evk_context_validation_count(ctx);
    if (n) fail_msg("%u validation-layer message(s) (printed above)", n);
}

void test_context_destroy(evk_context *ctx) {
    if (!ctx) return;
    uint32_t n = evk_context_validation_count(ctx);
    evk_context_destroy(ctx);
    if (n) fail_msg("%u validation-layer message(s) (printed above)", n);
}

int test_group_setup(void **state) {
    evk_context_config config = {0};
    config.validation = true;
    config.on_validation_message = test_on_validation;
    evk_context *ctx = NULL;
    evk_status s = evk_context_create(&config, &ctx);
    if (s) {
        fprintf(stderr, "evk_context_create: %s\n", evk_error_message());
        return -1;
    }
    *state = ctx;
    return 0;
}

int test_group_teardown(void **state) {
    evk_context *ctx = *state;
    uint32_t n = ctx ? evk_context_validation_count(ctx) : 0;
    evk_context_destroy(ctx);
    if (n) fprintf(stderr, "%u validation-layer message(s) during this group\n", n);
    return n ? -1 : 0;
}

uint64_t test_rng_u64(test_rng *r) {
    uint64_t z = (r->state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

double test_rng_uniform(test_rng *r) { return (test_rng_u64(r) >> 11) * (1.0 / 9007199254740992.0); }

double test_rng_normal(test_rng *r) {
    double u1 = test_rng_uniform(r), u2 = test_rng_uniform(r);
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

void test_rng_fill(test_rng *r, float *out, size_t n, float lo, float hi) {
    for (size_t i = 0; i < n; i++) {
        float v;
        do v = (float)(lo + (hi - lo) * test_rng_uniform(r));
        while (v == 0.0f);
        out[i] = v;
    }
}

void test_poison(evk_context *ctx, const evk_buffer *buf) {
    evk_stream *s;
    TEST_OK(evk_stream_create(ctx, &s));
    TEST_OK(evk_stream_begin(s));
    TEST_OK(evk_op_fill_bits(s, buf, 0, buf->size / 4, TEST_POISON_BITS));
    TEST_OK(evk_stream_run(s));
    evk_stream_destroy(s);
}

double test_rel_l2(const float *got, const double *ref, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(got[i])) return INFINITY;
        double d = got[i] - ref[i];
        num += d * d;
        den += ref[i] * ref[i];
    }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

void test_assert_close(const float *got, const double *ref, size_t n, double tol, const char *what) {
    for (size_t i = 0; i < n; i++)
        if (!isfinite(got[i])) fail_msg("%s: element %zu is %f (poisoned or NaN)", what, i, got[i]);
    double e = test_rel_l2(got, ref, n);
    if (!(e <= tol)) fail_msg("%s: relative L2 error %.3g > %.3g", what, e, tol);
}

const char *test_data_path(const char *name, char *buf, size_t n) {
    const char *dir = getenv("EVOKE_TEST_DATA");
    snprintf(buf, n, "%s/%s", dir ? dir : "tests/data", name);
    return buf;
}
