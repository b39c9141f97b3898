/* search.c — the search dispatcher: the strategy table (one line per strategy in strategies/) and
 * evk_search_run, which checks the pieces, resolves the configuration and hands it to its strategy
 * (run on the engine by evk__search_execute, engine.c). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/op_reduce.h"
#include "search.h"
#include "strategy.h"

/* The strategy table, indexed by evk_search_method: adding a strategy is its file in
 * strategies/ and one line here (and its value in search.h). */
static const evk__strategy *const evk__strategies[] = {&evk__strategy_sample, &evk__strategy_bon, &evk__strategy_fk, &evk__strategy_evo};
#define EVK__STRATEGIES (sizeof evk__strategies / sizeof evk__strategies[0])

const evk__strategy *evk__strategy_get(int method) { return (unsigned)method < EVK__STRATEGIES ? evk__strategies[method] : NULL; }

uint32_t evk_search_method_count(void) { return (uint32_t)EVK__STRATEGIES; }
const char *evk_search_method_name(evk_search_method m) { return (unsigned)m < EVK__STRATEGIES ? evk__strategies[m]->name : "?"; }
const char *evk_search_method_title(evk_search_method m) { return (unsigned)m < EVK__STRATEGIES ? evk__strategies[m]->title : "?"; }

bool evk_search_method_parse(const char *name, evk_search_method *out) {
    for (uint32_t i = 0; i < EVK__STRATEGIES; i++)
        if (name && !strcmp(name, evk__strategies[i]->name)) return *out = (evk_search_method)i, true;
    return false;
}

void evk_search_result_free(evk_search_result *r) {
    if (!r) return;
    free(r->best_sample);
    free(r->best_decoded);
    free(r->population);
    free(r->population_rewards);
    free(r->generations);
    free(r->stage_times.step_seconds);
    free(r->stage_times.step_gpu_seconds);
    free(r->stage_times.step_runs);
    free(r);
}

evk_status evk_search_run(evk_context *ctx, evk_model *model, const evk_sampler *sampler, evk_reward *reward,
                          const evk_search_config *config, evk_search_result **out) {
    *out = NULL;
    if (!ctx || !model || !sampler || !config) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "search: model, sampler and configuration are required");
    if (!reward && config->method != EVK_SEARCH_SAMPLE)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "search: %s ranks samples by a reward, and none was given", evk_search_method_name(config->method));
    const evk_sampler_config *sc = evk_sampler_get_config(sampler);
    const evk_model_info *mi = evk_model_get_info(model);
    if (sc->schedule != mi->schedule || sc->prediction != mi->prediction)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "search: the sampler was made for a %s/%s model, the model is %s/%s", evk_schedule_name(sc->schedule),
                        evk_model_output_name(sc->prediction), evk_schedule_name(mi->schedule), evk_model_output_name(mi->prediction));
    int64_t want = reward ? evk_reward_sample_numel(reward) : 0, have = evk_model_decoded_numel(model);
    if (want && want != have)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "dimension mismatch: the reward scores samples of %lld values, the model makes %lld",
                        (long long)want, (long long)have);
    if (config->motion && !mi->motion_guidance)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "search: motion guidance needs a T2V-Turbo-v2 UNet (motion_cond_proj); this model has none");
    if (config->guidance_items && config->guidance_count && !mi->guidance_embedded)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "search: a w per item needs a guidance-embedded model (w through time_cond_proj); "
                        "classifier-free guidance takes one w");
    evk_search_result *res = calloc(1, sizeof *res);
    if (!res) return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    uint32_t T = evk_sampler_steps(sampler);
    evk_search_config cfg = *config;
    cfg.guidance_embedded = mi->guidance_embedded;
    if (cfg.evo_shape == EVK_EVO_SHAPE_AUTO)
        cfg.evo_shape = mi->frames ? EVK_EVO_SHAPE_VIDEO
                        : evk_sampler_get_config(sampler)->schedule == EVK_SCHEDULE_FLOW ? EVK_EVO_SHAPE_FLOW
                                                                                        : EVK_EVO_SHAPE_IMAGE;
    evk_status st = evk_search_resolve(&cfg, T, &res->config);
    if (st) {
        free(res);
        return st;
    }
    const evk_search_config *c = &res->config;
    st = evk__search_execute(ctx, model, sampler, reward, evk__strategy_get(c->method), res);
    if (st) {
        evk_search_result_free(res);
        return st;
    }
    *out = res;
    return EVK_OK;
}
