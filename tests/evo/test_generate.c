/* test_generate.c — evk_generate, the one-call front door, against the same run assembled by
 * hand from the pieces (registry load, the model's sampler, reward, search): identical samples
 * and rewards; plain sampling without a reward; initial noise taken as given; and the requests a
 * model does not fit refused before any denoising, with one-line messages. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "generate.h"
#include "harness.h"

static const char *asset(const char *name, char *buf, size_t n) {
    const char *src = getenv("EVOKE_SOURCE_DIR");
    snprintf(buf, n, "%s/assets/%s", src ? src : ".", name);
    return buf;
}

static void test_same_as_by_hand(void **state) {
    evk_context *ctx = *state;
    char model[512], reward[512];
    asset("gmm/toy2d.json", model, sizeof model);
    asset("gmm/toy2d_reward.json", reward, sizeof reward);
    evk_generate_config c = {.model = model, .reward = reward, .steps = 20,
                             .search = {.method = EVK_SEARCH_EVO, .nfe = 800, .seed = 4}};
    evk_generation *g;
    TEST_OK(evk_generate(ctx, &c, &g));
    assert_true(g->scored);
    assert_int_equal(g->width, 0);

    evk_model *m;
    evk_reward *r;
    evk_sampler *s;
    evk_sampler_config sc;
    evk_search_result *want;
    TEST_OK(evk_model_load(ctx, model, NULL, &m));
    TEST_OK(evk_reward_load(ctx, reward, &r));
    TEST_OK(evk_model_sampler_config(m, 20, &sc));
    TEST_OK(evk_sampler_create(&sc, &s));
    TEST_OK(evk_search_run(ctx, m, s, r, &c.search, &want));
    const evk_search_result *got = g->result;
    assert_int_equal(got->nfe, want->nfe);
    assert_int_equal(got->population_size, want->population_size);
    assert_true(got->best_reward == want->best_reward);
    assert_memory_equal(got->best_sample, want->best_sample, sizeof(float) * (size_t)want->sample_numel);
    assert_memory_equal(got->population, want->population, sizeof(float) * (size_t)want->sample_numel * want->population_size);
    evk_search_result_free(want);
    evk_sampler_destroy(s);
    evk_reward_destroy(r);
    evk_model_destroy(m);
    evk_generation_free(g);
}

static void deterministic(void *user, evk_sampler_config *c) {
    (void)user;
    c->eta = 0;
}

static void test_plain_sampling_and_noise(void **state) {
    evk_context *ctx = *state;
    char model[512];
    asset("gmm/toy2d.json", model, sizeof model);
    /* initial noise of two samples and η = 0: the seed no longer matters */
    float noise[4] = {0.3f, -1.2f, 2.0f, 0.7f};
    evk_generate_config c = {.model = model, .steps = 10, .latents = noise, .latent_values = 4, .search = {.n = 2, .seed = 1},
                             .adjust_sampler = deterministic};
    evk_generation *a, *b;
    TEST_OK(evk_generate(ctx, &c, &a));
    assert_false(a->scored);
    assert_true(evk_sampler_get_config(a->sampler)->eta == 0.0);
    assert_int_equal(a->result->reward_calls, 0);
    assert_int_equal(a->result->population_size, 2);
    assert_int_equal(a->result->nfe, 20);
    assert_memory_equal(a->result->best_sample, a->result->population, 2 * sizeof(float)); /* the first */
    c.search.seed = 99;
    TEST_OK(evk_generate(ctx, &c, &b));
    assert_memory_equal(a->result->population, b->result->population, 4 * sizeof(float));
    evk_generation_free(b);
    /* a different start gives a different sample */
    noise[0] = -2.0f;
    TEST_OK(evk_generate(ctx, &c, &b));
    assert_memory_not_equal(a->result->population, b->result->population, 2 * sizeof(float));
    evk_generation_free(b);
    /* neither initial noise nor n: one sample */
    evk_generate_config one = {.model = model, .steps = 10};
    evk_generation *o;
    TEST_OK(evk_generate(ctx, &one, &o));
    assert_int_equal(o->result->population_size, 1);
    assert_int_equal(o->result->nfe, 10);
    evk_generation_free(o);
    evk_generation_free(a);
}

static void test_refusals(void **state) {
    evk_context *ctx = *state;
    char model[512];
    asset("gmm/toy2d.json", model, sizeof model);
    evk_generation *g = (evk_generation *)1;
    evk_generate_config search = {.model = model, .search = {.method = EVK_SEARCH_BON, .n = 4}};
    assert_int_equal(evk_generate(ctx, &search, &g), EVK_ERROR_INVALID_ARGUMENT);
    assert_null(g);
    assert_non_null(strstr(evk_error_message(), "reward"));
    evk_generate_config prompt = {.model = model, .prompt = "a red circle"};
    assert_int_equal(evk_generate(ctx, &prompt, &g), EVK_ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(evk_error_message(), "takes no prompt"));
    evk_generate_config images = {.model = model, .need_images = true};
    assert_int_equal(evk_generate(ctx, &images, &g), EVK_ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(evk_error_message(), "makes no images"));
    float noise[3] = {0, 1, 2};
    evk_generate_config odd = {.model = model, .latents = noise, .latent_values = 3};
    assert_int_equal(evk_generate(ctx, &odd, &g), EVK_ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(evk_error_message(), "whole number of samples"));
    evk_generate_config missing = {.model = "/nonexistent/model.json"};
    assert_int_equal(evk_generate(ctx, &missing, &g), EVK_ERROR_INVALID_ARGUMENT);
    assert_string_equal(evk_error_message(), "no such file or directory: /nonexistent/model.json");
    assert_null(g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_as_by_hand),
        cmocka_unit_test(test_plain_sampling_and_noise),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, test_group_setup, test_group_teardown);
}
