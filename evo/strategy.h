/* strategy.h — the search strategy table (private to evo/). A strategy is a name, how it fills in
 * and checks its part of a configuration for T steps, its planned NFE, the largest population it
 * holds, what it adds to a report, and its run on the trajectory engine (engine.h, evk__run). The
 * table is in search.c, indexed by evk_search_method; each strategy lives in strategies/. */
#ifndef EVK_STRATEGY_H
#define EVK_STRATEGY_H

#include <cjson/cJSON.h>

#include "core/context.h"
#include "models/model.h"
#include "rewards/reward.h"
#include "samplers/sampler.h"

/* search.h's and engine.h's types, declared rather than included: search.c includes this header
 * and the engine (engine.c) runs what it describes. */
typedef struct evk_search_config evk_search_config;
typedef struct evk__run evk__run;


/* search.h's types, declared rather than included: search.c includes this header. */
typedef struct evk_search_result evk_search_result;
typedef struct evk_search_generation evk_search_generation;

typedef struct evk__strategy {
    const char *name;  /* as --method takes it */
    const char *title; /* for people: tables and figures */
    /* The strategy's part of evk_search_resolve: c has the shared defaults filled and checked. */
    evk_status (*resolve)(evk_search_config *c, uint32_t T);
    /* Model evaluations per guidance pass of a resolved configuration (evk_search_planned_nfe
     * multiplies by the cost of guidance). */
    uint64_t (*planned_nfe)(const evk_search_config *c, uint32_t T);
    /* The largest population of a resolved configuration. */
    uint32_t (*population_max)(const evk_search_config *c);
    evk_status (*run)(evk__run *R);
    /* The strategy's parameters and per-generation fields in a report (either may be NULL). */
    void (*report_parameters)(const evk_search_config *c, cJSON *parameters);
    void (*report_generation)(const evk_search_generation *g, uint32_t T, cJSON *entry);
} evk__strategy;

/* The table entry of a method (NULL when out of range). */
const evk__strategy *evk__strategy_get(int method);

extern const evk__strategy evk__strategy_sample, evk__strategy_bon, evk__strategy_fk, evk__strategy_evo;

/* (engine.c) Run a resolved configuration (res->config) with its strategy, filling res. */
evk_status evk__search_execute(evk_context *ctx, evk_model *model, const evk_sampler *sampler, evk_reward *reward,
                               const evk__strategy *strategy, evk_search_result *res);
/* Shared by the strategies (engine.c). */
evk_status evk__alloc_rows(evk_context *ctx, int64_t rows, int64_t numel, evk_tensor *t);
/* Read back this rank's block of a population of n's scores (rows [0, block) of scores) and
 * gather every rank's into R->host_scores; the NFE and reward calls so far likewise. */
evk_status evk__scores(evk__run *R, const evk_tensor *scores, uint32_t n);
/* Record a generation entry from n scores (read first with evk__scores, or here when scores is
 * not NULL) and offer the best individual of x, this rank's block (final samples only). */
evk_status evk__collect(evk__run *R, const evk_tensor *scores, uint32_t n, uint32_t index, uint32_t step, const evk_tensor *x,
                        bool final, double ess, bool resampled);
/* The final population of n (this rank's block: rows of x) and its scores into the result:
 * the population on rank 0, the best sample on every rank. */
evk_status evk__finish(evk__run *R, const evk_tensor *x, uint32_t n);
/* (schedule.c) A population of n individuals for sample / bon / fk from --n or the NFE budget. */
evk_status evk__resolve_population(evk_search_config *c, uint32_t T);
/* (schedule.c) Model calls per evaluation: 2 with guidance. */
uint32_t evk__search_cost(const evk_search_config *c);

#endif
