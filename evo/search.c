/* search.c — the search dispatcher: the strategy table (one line per strategy in strategies/),
 * what every run shares (score collection, the final population, the result and its timings),
 * and evk_search_run, which resolves a configuration and hands it to its strategy. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ops/op_reduce.h"
#include "strategy.h"

/* The strategy table, indexed by evk_search_method: adding a strategy is its file in
 * strategies/ and one line here (and its value in search.h). */
static const evk__strategy *const evk__strategies[] = {&evk__strategy_sample, &evk__strategy_bon, &evk__strategy_fk, &evk__strategy_evo};
#define EVK__STRATEGIES (sizeof evk__strategies / sizeof evk__strategies[0])

const evk__strategy *evk__strategy_get(evk_search_method m) { return (unsigned)m < EVK__STRATEGIES ? evk__strategies[m] : NULL; }

uint32_t evk_search_method_count(void) { return (uint32_t)EVK__STRATEGIES; }
const char *evk_search_method_name(evk_search_method m) { return (unsigned)m < EVK__STRATEGIES ? evk__strategies[m]->name : "?"; }
const char *evk_search_method_title(evk_search_method m) { return (unsigned)m < EVK__STRATEGIES ? evk__strategies[m]->title : "?"; }

bool evk_search_method_parse(const char *name, evk_search_method *out) {
    for (uint32_t i = 0; i < EVK__STRATEGIES; i++)
        if (name && !strcmp(name, evk__strategies[i]->name)) return *out = (evk_search_method)i, true;
    return false;
}

static double evk__clock(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

void evk_search_result_free(evk_search_result *r) {
    if (!r) return;
    free(r->best_sample);
    free(r->population);
    free(r->population_rewards);
    free(r->generations);
    free(r);
}

evk_status evk__alloc_rows(evk_context *ctx, int64_t rows, int64_t numel, evk_tensor *t) {
    int64_t sh[2] = {rows, numel};
    return evk_tensor_alloc(ctx, EVK_DTYPE_F32, 2, sh, t);
}

/* Read n scores back, record a generation entry and offer the best row of x (final samples only). */
evk_status evk__collect(evk__run *R, const evk_tensor *scores, uint32_t n, uint32_t index, uint32_t step, const evk_tensor *x,
                               bool final, double ess, bool resampled) {
    evk_tensor sv;
    EVK_TRY(evk_tensor_rows(scores, 0, n, &sv));
    EVK_TRY(evk_tensor_download_f32(R->e.ctx, &sv, R->host_scores));
    double best = -INFINITY, worst = INFINITY, sum = 0;
    int64_t arg = -1;
    uint32_t finite = 0;
    for (uint32_t i = 0; i < n; i++) {
        double v = R->host_scores[i];
        if (isnan(v)) continue;
        finite++;
        sum += v;
        if (arg < 0 || v > best) best = v, arg = i;
        if (v < worst) worst = v;
    }
    if (!finite) return evk_fail(EVK_ERROR_NUMERIC, "search: every reward of a population of %u is NaN (step %u)", n, step);
    if (final && arg >= 0) EVK_TRY(evk__engine_offer_best(&R->e, x, arg, best));
    evk_search_result *res = R->res;
    if (res->generation_count == R->gen_cap) {
        uint32_t cap = R->gen_cap ? 2 * R->gen_cap : 16;
        evk_search_generation *g = realloc(res->generations, cap * sizeof *g);
        if (!g) return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
        res->generations = g, R->gen_cap = cap;
    }
    res->generations[res->generation_count++] = (evk_search_generation){index, step, n, best, sum / finite, worst, R->e.nfe, ess, resampled};
    const evk_search_config *c = R->e.cfg;
    if (c->progress) {
        evk_search_progress p = {c->method, index, step, n, R->e.nfe, R->e.have_best ? R->e.best_reward : best};
        c->progress(c->user, &p);
    }
    return EVK_OK;
}

/* Download the final population (rows [0, n) of x) and its scores into the result. */
evk_status evk__finish(evk__run *R, const evk_tensor *x, uint32_t n) {
    evk_search_result *res = R->res;
    evk__engine *e = &R->e;
    EVK_TRY(evk__engine_run(e)); /* a pending best-sample copy */
    res->population_size = n;
    res->population = malloc((size_t)n * e->numel * sizeof(float));
    res->population_rewards = malloc(n * sizeof(float));
    res->best_sample = malloc(e->numel * sizeof(float));
    if (!res->population || !res->population_rewards || !res->best_sample) return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    evk_tensor xv;
    EVK_TRY(evk_tensor_rows(x, 0, n, &xv));
    EVK_TRY(evk_tensor_download_f32(e->ctx, &xv, res->population));
    memcpy(res->population_rewards, R->host_scores, n * sizeof(float));
    EVK_TRY(evk_tensor_download_f32(e->ctx, &e->best, res->best_sample));
    res->best_reward = e->best_reward;
    return EVK_OK;
}

evk_status evk_search_run(evk_context *ctx, evk_model *model, const evk_sampler *sampler, evk_reward *reward,
                          const evk_search_config *config, evk_search_result **out) {
    *out = NULL;
    if (!ctx || !model || !sampler || !reward || !config) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "search: model, sampler, reward and configuration are required");
    const evk_sampler_config *sc = evk_sampler_get_config(sampler);
    const evk_model_info *mi = evk_model_get_info(model);
    if (sc->schedule != mi->schedule || sc->prediction != mi->prediction)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "search: the sampler was made for a %s/%s model, the model is %s/%s", evk_schedule_name(sc->schedule),
                        evk_model_output_name(sc->prediction), evk_schedule_name(mi->schedule), evk_model_output_name(mi->prediction));
    int64_t want = evk_reward_sample_numel(reward), have = evk_model_decoded_numel(model);
    if (want && want != have)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "dimension mismatch: the reward scores samples of %lld values, the model makes %lld",
                        (long long)want, (long long)have);
    evk_search_result *res = calloc(1, sizeof *res);
    if (!res) return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    uint32_t T = evk_sampler_steps(sampler);
    evk_status st = evk_search_resolve(config, T, &res->config);
    if (st) {
        free(res);
        return st;
    }
    const evk_search_config *c = &res->config;
    const evk__strategy *strategy = evk__strategy_get(c->method);
    uint32_t pmax = strategy->population_max(c);
    evk__run R = {.res = res};
    evk_pipeline_stats ps0, ps1;
    evk_pipeline_get_stats(ctx, &ps0);
    double t0 = evk__clock();
    st = evk__engine_init(&R.e, ctx, model, sampler, reward, c, pmax);
    if (!st && !(R.host_scores = malloc(pmax * sizeof(float)))) st = evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    res->steps = T;
    res->sample_numel = evk_model_sample_numel(model);
    if (!st) st = strategy->run(&R);
    res->wall_seconds = evk__clock() - t0;
    evk_pipeline_get_stats(ctx, &ps1);
    res->pipeline_seconds = (ps1.create_ms - ps0.create_ms) / 1e3;
    res->wait_seconds = R.e.wait_seconds;
    res->nfe = R.e.nfe;
    res->reward_calls = R.e.reward_calls;
    res->submissions = R.e.submissions;
    res->steps_recorded = R.e.steps_recorded;
    res->dispatches = R.e.dispatches;
    res->chunk = R.e.chunk;
    evk__engine_destroy(&R.e);
    free(R.host_scores);
    if (st) {
        evk_search_result_free(res);
        return st;
    }
    *out = res;
    return EVK_OK;
}
