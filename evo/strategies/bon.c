/* bon.c — plain sampling and Best-of-N: N independent stochastic trajectories scored once at the
 * end; "sample" reports them as they are, "bon" returns the best. NFE = N·T. Both run the same
 * rollout; they differ only in name (what the CLI and the demo present). Over several ranks
 * (shard.h) each rolls out its block of the N; the scores are gathered. */
#include <string.h>

#include "engine.h"
#include "search.h"
#include "strategy.h"

static evk_status evk__run_bon(evk__run *R) {
    evk__engine *e = &R->e;
    uint32_t n = e->cfg->n, first, count; /* this rank's block of the N trajectories */
    evk_shard_range(e->shard, n, &first, &count);
    evk_tensor x, sc;
    memset(&x, 0, sizeof x), memset(&sc, 0, sizeof sc);
    evk_status st = evk__alloc_rows(e->ctx, count ? count : 1, e->numel, &x);
    if (!st) st = evk__alloc_rows(e->ctx, count ? count : 1, 1, &sc);
    if (!st) st = evk__engine_noise(e, &x, 0, count, first);
    if (!st) st = evk__engine_denoise(e, &x, 0, count, first, 0, e->T, NULL, 0, NULL, 0);
    if (!st) st = evk__engine_score(e, &x, 0, count, &sc);
    if (!st) st = evk__engine_run(e);
    if (!st) st = evk__collect(R, &sc, n, 0, e->T, &x, true, 0, false);
    if (!st) st = evk__finish(R, &x, n);
    evk_tensor_free(e->ctx, &x);
    evk_tensor_free(e->ctx, &sc);
    return st;
}

static uint64_t evk__bon_planned(const evk_search_config *c, uint32_t T) { return (uint64_t)c->n * T; }
static uint32_t evk__bon_population(const evk_search_config *c) { return c->n; }
static void evk__bon_report(const evk_search_config *c, cJSON *p) { cJSON_AddNumberToObject(p, "n", c->n); }

const evk__strategy evk__strategy_sample = {"sample", "plain sampling", evk__resolve_population, evk__bon_planned, evk__bon_population, evk__run_bon,
                                            evk__bon_report, NULL};
const evk__strategy evk__strategy_bon = {"bon", "Best-of-N", evk__resolve_population, evk__bon_planned, evk__bon_population, evk__run_bon,
                                         evk__bon_report, NULL};
