/* test_search_decode.c — what a search hands back besides the best sample: the best sample
 * decoded (as its reward saw it, decoded once on the device whether or not it was still in the
 * scoring scratch), checked against a double reference of the decoder for every method, with
 * the population in one chunk and in many; and plain sampling without a reward (no scores, the
 * first sample as the result) while the ranking methods refuse to run without one. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "ops/op_image.h"
#include "search.h"

/* The shipped 64-D toy mixture behind a decoder clamp(x / 4 + 0.5, 0, 1): a model whose decoded
 * samples differ from its samples, as a VAE's do. (64 dimensions: rows of a chunked population
 * start at the 16-byte offsets elementwise kernels bind.) */
typedef struct decoded_toy {
    evk_model *inner;
} decoded_toy;

static evk_status toy_forward(void *impl, evk_stream *s, const evk_model_input *in, const evk_tensor *out) {
    return evk_model_forward(((decoded_toy *)impl)->inner, s, in, out);
}

static evk_status toy_decode(void *impl, evk_stream *s, const evk_tensor *x0, const evk_tensor *out) {
    (void)impl;
    return evk_op_affine_clamp(s, x0, 0.25f, 0.5f, 0.0f, 1.0f, out);
}

static void toy_destroy(void *impl) {
    decoded_toy *t = impl;
    evk_model_destroy(t->inner);
    free(t);
}

static evk_model *load_decoded_toy(evk_context *ctx) {
    char path[512];
    const char *src = getenv("EVOKE_SOURCE_DIR");
    snprintf(path, sizeof path, "%s/assets/gmm/toy64d.json", src ? src : ".");
    decoded_toy *t = calloc(1, sizeof *t);
    TEST_OK(evk_model_load(ctx, path, NULL, &t->inner));
    evk_model_info info = *evk_model_get_info(t->inner);
    evk_model_ops ops = {.forward = toy_forward, .decode = toy_decode, .destroy = toy_destroy, .decoded_ndim = 1,
                         .decoded_shape = {info.sample_shape[0]}};
    evk_model *m;
    TEST_OK(evk_model_create(ctx, &ops, &info, t, &m));
    return m;
}

static double center(int64_t i) { return 0.3 + 0.01 * (double)i; }

static evk_reward *load_reward(evk_context *ctx) {
    char path[512];
    /* scores the decoded values: a centre inside [0, 1]^64 keeps the ranking informative */
    snprintf(path, sizeof path, "/tmp/evoke-decode-reward-%d.json", (int)getpid());
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("{\"type\":\"neg_distance\",\"center\":[", f);
    for (int i = 0; i < 64; i++) fprintf(f, "%s%g", i ? "," : "", center(i));
    fputs("]}", f);
    fclose(f);
    evk_reward *r;
    TEST_OK(evk_reward_load(ctx, path, &r));
    remove(path);
    return r;
}

static evk_sampler *ddim(const evk_model *m, uint32_t T) {
    const evk_model_info *mi = evk_model_get_info(m);
    evk_sampler_config c = {.kind = EVK_SAMPLER_DDIM, .schedule = mi->schedule, .prediction = mi->prediction, .steps = T, .eta = 1,
                            .spacing = EVK_SPACING_TRAILING};
    evk_sampler *s;
    TEST_OK(evk_sampler_create(&c, &s));
    return s;
}

/* best_decoded against the decoder in double, and the best reward against the reward of it. */
static void check_best_decoded(const evk_search_result *r, bool scored) {
    assert_non_null(r->best_decoded);
    assert_int_equal(r->decoded_numel, r->sample_numel);
    double d2 = 0;
    for (int64_t i = 0; i < r->decoded_numel; i++) {
        double want = fmin(1.0, fmax(0.0, 0.25 * r->best_sample[i] + 0.5));
        assert_true(fabs(r->best_decoded[i] - want) <= 1e-6);
        d2 += (r->best_decoded[i] - center(i)) * (r->best_decoded[i] - center(i));
    }
    if (scored) assert_true(fabs(r->best_reward - -sqrt(d2)) <= 1e-5);
}

static void test_best_decoded(void **state) {
    evk_context *ctx = *state;
    evk_model *m = load_decoded_toy(ctx);
    evk_reward *rw = load_reward(ctx);
    evk_sampler *s = ddim(m, 20);
    const evk_search_method methods[] = {EVK_SEARCH_BON, EVK_SEARCH_FK, EVK_SEARCH_EVO};
    /* chunk 0: the whole population in one call; 19: the best is in the last chunk's decodes about
     * half the time (kept from the scoring), else decoded again at the end */
    const uint32_t chunks[] = {0, 5, 19};
    for (size_t k = 0; k < sizeof methods / sizeof methods[0]; k++)
        for (size_t ci = 0; ci < 3; ci++)
            for (uint64_t seed = 7; seed < 10; seed++) {
            evk_search_config c = {.method = methods[k], .seed = seed, .nfe = 740, .chunk = chunks[ci]};
            evk_search_result *r;
            TEST_OK(evk_search_run(ctx, m, s, rw, &c, &r));
            check_best_decoded(r, true);
            float top = -INFINITY;
            for (uint32_t i = 0; i < r->population_size; i++) top = fmaxf(top, r->population_rewards[i]);
            assert_true(r->best_reward >= top - 1e-6);
            evk_search_result_free(r);
            }
    evk_sampler_destroy(s);
    evk_reward_destroy(rw);
    evk_model_destroy(m);
}

static void test_sampling_without_reward(void **state) {
    evk_context *ctx = *state;
    evk_model *m = load_decoded_toy(ctx);
    evk_sampler *s = ddim(m, 10);
    evk_search_config c = {.method = EVK_SEARCH_SAMPLE, .seed = 3, .n = 3};
    evk_search_result *r;
    TEST_OK(evk_search_run(ctx, m, s, NULL, &c, &r));
    assert_int_equal(r->reward_calls, 0);
    assert_int_equal(r->nfe, 30);
    assert_int_equal(r->population_size, 3);
    assert_memory_equal(r->best_sample, r->population, sizeof(float) * (size_t)r->sample_numel); /* the first */
    check_best_decoded(r, false);
    evk_search_result_free(r);
    /* the same trajectories as with a reward: sampling does not depend on scoring */
    evk_reward *rw = load_reward(ctx);
    evk_search_result *r2;
    TEST_OK(evk_search_run(ctx, m, s, rw, &c, &r2));
    TEST_OK(evk_search_run(ctx, m, s, NULL, &c, &r));
    assert_memory_equal(r->population, r2->population, sizeof(float) * 3 * (size_t)r->sample_numel);
    evk_search_result_free(r);
    evk_search_result_free(r2);
    /* ranking needs a reward */
    const evk_search_method rank[] = {EVK_SEARCH_BON, EVK_SEARCH_FK, EVK_SEARCH_EVO};
    for (size_t k = 0; k < 3; k++) {
        evk_search_config b = {.method = rank[k], .seed = 3, .nfe = 300};
        r = (evk_search_result *)1;
        assert_int_equal(evk_search_run(ctx, m, s, NULL, &b, &r), EVK_ERROR_INVALID_ARGUMENT);
        assert_null(r);
        assert_non_null(strstr(evk_error_message(), "reward"));
    }
    evk_reward_destroy(rw);
    evk_sampler_destroy(s);
    evk_model_destroy(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_best_decoded),
        cmocka_unit_test(test_sampling_without_reward),
    };
    return cmocka_run_group_tests(tests, test_group_setup, test_group_teardown);
}
