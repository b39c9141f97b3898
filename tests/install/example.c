/* example.c — the smallest program on the installed library: load the shipped Gaussian-mixture
 * model and its reward, run Best-of-N (seed 1, 20 DDIM steps, 320 model evaluations) and print
 * the best reward. tests/cli/cli_install.sh builds it against an installed evoke (pkg-config and
 * find_package) and checks the reward against `evoke generate` with the same settings.
 *   example assets/gmm/toy2d.json assets/gmm/toy2d_reward.json */
#include <stdio.h>

#include <evoke/evoke.h>

int main(int argc, char **argv) {
    if (argc != 3) return fprintf(stderr, "usage: example MODEL.json REWARD.json\n"), 2;
    evk_context *ctx = NULL;
    evk_model *model = NULL;
    evk_reward *reward = NULL;
    evk_sampler *sampler = NULL;
    evk_search_result *res = NULL;
    evk_status st = evk_context_create(NULL, &ctx);
    if (!st) st = evk_model_load(ctx, argv[1], NULL, &model);
    if (!st) st = evk_reward_load(ctx, argv[2], &reward);
    if (!st) {
        const evk_model_info *mi = evk_model_get_info(model);
        evk_sampler_config sampling = {.kind = EVK_SAMPLER_DDIM, .schedule = mi->schedule, .prediction = mi->prediction,
                                       .steps = 20, .eta = 1, .spacing = EVK_SPACING_TRAILING};
        st = evk_sampler_create(&sampling, &sampler);
    }
    evk_search_config search = {.method = EVK_SEARCH_BON, .nfe = 320, .seed = 1};
    if (!st) st = evk_search_run(ctx, model, sampler, reward, &search, &res);
    if (!st) printf("best reward %.6g, NFE %llu\n", res->best_reward, (unsigned long long)res->nfe);
    else fprintf(stderr, "example: %s\n", evk_error_message());
    evk_search_result_free(res);
    evk_sampler_destroy(sampler);
    evk_reward_destroy(reward);
    evk_model_destroy(model);
    evk_context_destroy(ctx);
    return st ? 1 : 0;
}
