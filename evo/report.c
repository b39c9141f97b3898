/* report.c — the search report as JSON: method, every parameter, exact NFE and reward calls,
 * timing, the best sample, the final population with its rewards, and one entry per generation
 * or resampling round. Written to a temporary file and renamed, so a reader never sees half a
 * report and a failed run leaves no file behind. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/file.h"
#include "search.h"
#include "strategy.h"

static cJSON *evk__float_array(const float *v, int64_t n) {
    cJSON *a = cJSON_CreateArray();
    for (int64_t i = 0; a && i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber((double)v[i]));
    return a;
}

evk_status evk_search_report_write(const evk_search_result *r, const char *path, const char *model_path, const char *reward_path,
                                   const evk_sampler *sampler) {
    const evk_search_config *c = &r->config;
    cJSON *root = cJSON_CreateObject();
    if (!root) return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory writing a report");
    cJSON_AddStringToObject(root, "method", evk_search_method_name(c->method));
    cJSON *p = cJSON_AddObjectToObject(root, "parameters");
    if (model_path) cJSON_AddStringToObject(p, "model", model_path);
    if (reward_path) cJSON_AddStringToObject(p, "reward", reward_path);
    cJSON_AddNumberToObject(p, "steps", r->steps);
    char seed[24]; /* exact: a JSON double would round seeds above 2^53 */
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)c->seed);
    cJSON_AddRawToObject(p, "seed", seed);
    if (sampler) {
        const evk_sampler_config *sc = evk_sampler_get_config(sampler);
        cJSON_AddStringToObject(p, "sampler", evk_sampler_kind_name(sc->kind));
        cJSON_AddNumberToObject(p, "eta", sc->eta);
        cJSON_AddStringToObject(p, "schedule", evk_schedule_name(sc->schedule));
        cJSON_AddStringToObject(p, "prediction", evk_model_output_name(sc->prediction));
        if (sc->schedule == EVK_SCHEDULE_FLOW) cJSON_AddNumberToObject(p, "shift", sc->shift);
    }
    cJSON_AddNumberToObject(p, "nfe_budget", (double)c->nfe);
    if (c->guidance > 0) cJSON_AddNumberToObject(p, "guidance", c->guidance);
    cJSON_AddNumberToObject(p, "chunk", r->chunk);
    const evk__strategy *strategy = evk__strategy_get(c->method);
    if (strategy && strategy->report_parameters) strategy->report_parameters(c, p);
    cJSON_AddNumberToObject(root, "nfe", (double)r->nfe);
    cJSON_AddNumberToObject(root, "reward_calls", (double)r->reward_calls);
    cJSON_AddNumberToObject(root, "wall_seconds", r->wall_seconds);
    cJSON_AddNumberToObject(root, "gpu_wait_seconds", r->wait_seconds);
    cJSON_AddNumberToObject(root, "pipeline_create_seconds", r->pipeline_seconds);
    cJSON_AddNumberToObject(root, "submissions", r->submissions);
    cJSON_AddNumberToObject(root, "denoising_steps_recorded", (double)r->steps_recorded);
    cJSON_AddNumberToObject(root, "dispatches", (double)r->dispatches);
    const evk_search_stage_times *t = &r->stage_times;
    if (t->timed) {
        /* seconds by host clock; gpu_seconds from timestamp queries when the context profiled, else null */
        cJSON *so = cJSON_AddObjectToObject(root, "stages");
        cJSON_AddNumberToObject(so, "load_seconds", t->load_seconds);
        cJSON_AddNumberToObject(so, "text_seconds", t->text_seconds);
        cJSON *steps = cJSON_AddArrayToObject(so, "steps");
        for (uint32_t i = 0; steps && i < t->step_count; i++) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddNumberToObject(o, "step", i);
            cJSON_AddNumberToObject(o, "runs", t->step_runs[i]);
            cJSON_AddNumberToObject(o, "seconds", t->step_seconds[i]);
            if (t->step_gpu_seconds[i] >= 0) cJSON_AddNumberToObject(o, "gpu_seconds", t->step_gpu_seconds[i]);
            else cJSON_AddNullToObject(o, "gpu_seconds");
            cJSON_AddItemToArray(steps, o);
        }
        const char *names[2] = {"decode", "reward"};
        const double secs[2] = {t->decode_seconds, t->reward_seconds}, gpu[2] = {t->decode_gpu_seconds, t->reward_gpu_seconds};
        const uint32_t runs[2] = {t->decode_runs, t->reward_runs};
        for (int k = 0; k < 2; k++) {
            char key[32];
            snprintf(key, sizeof key, "%s_runs", names[k]);
            cJSON_AddNumberToObject(so, key, runs[k]);
            snprintf(key, sizeof key, "%s_seconds", names[k]);
            cJSON_AddNumberToObject(so, key, secs[k]);
            snprintf(key, sizeof key, "%s_gpu_seconds", names[k]);
            if (gpu[k] >= 0) cJSON_AddNumberToObject(so, key, gpu[k]);
            else cJSON_AddNullToObject(so, key);
        }
    }
    bool scored = r->reward_calls > 0; /* plain sampling without a reward has no rewards to report */
    if (scored) cJSON_AddNumberToObject(root, "best_reward", r->best_reward);
    else cJSON_AddNullToObject(root, "best_reward");
    cJSON_AddItemToObject(root, "best_sample", evk__float_array(r->best_sample, r->sample_numel));
    cJSON *pop = cJSON_AddArrayToObject(root, "population");
    for (uint32_t i = 0; pop && i < r->population_size; i++)
        cJSON_AddItemToArray(pop, evk__float_array(r->population + (size_t)i * r->sample_numel, r->sample_numel));
    if (scored) cJSON_AddItemToObject(root, "population_rewards", evk__float_array(r->population_rewards, r->population_size));
    else cJSON_AddNullToObject(root, "population_rewards");
    cJSON *gens = cJSON_AddArrayToObject(root, "generations");
    for (uint32_t i = 0; gens && i < r->generation_count; i++) {
        const evk_search_generation *g = &r->generations[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "index", g->index);
        cJSON_AddNumberToObject(o, "step", g->step);
        cJSON_AddNumberToObject(o, "population", g->population);
        if (scored) {
            cJSON_AddNumberToObject(o, "best_reward", g->best);
            cJSON_AddNumberToObject(o, "mean_reward", g->mean);
            cJSON_AddNumberToObject(o, "min_reward", g->min);
        }
        cJSON_AddNumberToObject(o, "nfe", (double)g->nfe);
        if (strategy && strategy->report_generation) strategy->report_generation(g, r->steps, o);
        cJSON_AddItemToArray(gens, o);
    }
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    if (!text) return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory writing a report");
    /* the one atomic writer: a temporary file beside the report, renamed into place, removed on
     * failure and on SIGINT/SIGTERM; errors name the user's path */
    size_t len = strlen(text);
    text[len] = '\n'; /* cJSON_Print's terminating NUL becomes the final newline */
    evk_status st = evk_file_write_atomic(path, text, len + 1);
    if (st) evk_fail_context(st, "report");
    free(text);
    return st;
}
