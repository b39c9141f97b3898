/* fk.c — particle sampling (FK steering): N particles; at resampling steps (every fk_interval
 * steps from fk_start to fk_end of the trajectory) the decoded x̂0 prediction is scored, weighted
 * by the potential (w = exp(λ·(r − r_prev)) "diff", "max", "add"; clamped to [0, 1e10], NaN → 0),
 * and when the effective sample size 1/Σŵ² drops below fk_ess_fraction·N the particles are
 * resampled multinomially with replacement. NFE = N·T. Over several ranks (shard.h) each holds a
 * block of the particles; the scores are gathered, every rank draws the same ancestors, and a
 * particle whose ancestor lives on another rank receives its state from there. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/op_layout.h"
#include "ops/op_reduce.h"
#include "engine.h"
#include "search.h"
#include "strategy.h"

static const char *evk__potential_names[] = {"diff", "max", "add"};

const char *evk_fk_potential_name(evk_fk_potential p) { return (unsigned)p < 3 ? evk__potential_names[p] : "?"; }

bool evk_fk_potential_parse(const char *name, evk_fk_potential *out) {
    for (int i = 0; i < 3; i++)
        if (name && !strcmp(name, evk__potential_names[i])) return *out = (evk_fk_potential)i, true;
    return false;
}

evk_status evk_fk_round(uint32_t n, const double *rewards, double *state, double *weights, evk_fk_potential potential,
                        double lambda, double ess_fraction, const evk_noise_key *key, uint32_t *ancestors, double *ess,
                        bool *resampled) {
    if (n == 0) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "fk: no particles");
    double *next = malloc(n * sizeof *next), *cdf = malloc(n * sizeof *cdf);
    if (!next || !cdf) {
        free(next), free(cdf);
        return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    double total = 0;
    for (uint32_t i = 0; i < n; i++) {
        double r = rewards[i], v, w;
        switch (potential) {
        case EVK_FK_MAX: v = fmax(r, state[i]); w = exp(lambda * v); break;
        case EVK_FK_ADD: v = r + state[i]; w = exp(lambda * v); break;
        default: v = r; w = exp(lambda * (r - state[i])); break;
        }
        if (isnan(w)) w = 0;
        w = fmin(fmax(w, 0), 1e10);
        next[i] = v;
        weights[i] *= w;
        total += weights[i];
    }
    /* normalised weights (uniform when every weight vanished) */
    double sq = 0;
    if (!(total > 0) || !isfinite(total)) {
        for (uint32_t i = 0; i < n; i++) weights[i] = 1;
        total = n;
    }
    for (uint32_t i = 0; i < n; i++) {
        double p = weights[i] / total;
        sq += p * p;
        cdf[i] = (i ? cdf[i - 1] : 0) + p;
        weights[i] = p * n; /* rescaled so products of many rounds stay in range */
    }
    *ess = 1 / sq;
    *resampled = *ess < ess_fraction * n;
    if (*resampled) {
        for (uint32_t j = 0; j < n; j++) {
            double u = evk_random_uniform_host(key, j) * cdf[n - 1];
            uint32_t lo = 0, hi = n - 1;
            while (lo < hi) { /* first i with cdf[i] > u: its weight is > 0 */
                uint32_t mid = (lo + hi) / 2;
                if (cdf[mid] > u) hi = mid;
                else lo = mid + 1;
            }
            ancestors[j] = lo;
        }
        for (uint32_t j = 0; j < n; j++) cdf[j] = next[ancestors[j]];
        for (uint32_t j = 0; j < n; j++) state[j] = cdf[j], weights[j] = 1;
    } else {
        for (uint32_t j = 0; j < n; j++) ancestors[j] = j, state[j] = next[j];
    }
    free(next), free(cdf);
    return EVK_OK;
}

static evk_status evk__run_fk(evk__run *R) {
    evk__engine *e = &R->e;
    const evk_search_config *c = e->cfg;
    uint32_t n = c->n, T = e->T, first, count; /* this rank's block of the N particles */
    evk_shard_range(e->shard, n, &first, &count);
    uint32_t rows = count ? count : 1;
    evk_tensor x[2], x0, sc, anc;
    memset(x, 0, sizeof x), memset(&x0, 0, sizeof x0), memset(&sc, 0, sizeof sc), memset(&anc, 0, sizeof anc);
    double *state = calloc(n, sizeof *state), *w = malloc(n * sizeof *w), *rw = malloc(n * sizeof *rw);
    uint32_t *ancestors = malloc(n * sizeof *ancestors), *src_rank = malloc(n * sizeof *src_rank), *src_row = malloc(n * sizeof *src_row);
    evk_status st = state && w && rw && ancestors && src_rank && src_row ? EVK_OK : evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    for (uint32_t i = 0; i < n && w; i++) w[i] = 1;
    if (!st) st = evk__alloc_rows(e->ctx, rows, e->numel, &x[0]);
    if (!st) st = evk__alloc_rows(e->ctx, rows, e->numel, &x[1]);
    if (!st) st = evk__alloc_rows(e->ctx, rows, e->numel, &x0);
    if (!st) st = evk__alloc_rows(e->ctx, rows, 1, &sc);
    if (!st) {
        int64_t s1[1] = {n};
        st = evk_tensor_alloc(e->ctx, EVK_DTYPE_I32, 1, s1, &anc);
    }
    int cur = 0;
    if (!st) st = evk__engine_noise(e, &x[0], 0, count, first);
    uint32_t r0 = (uint32_t)lround(c->fk_start * T), last = (uint32_t)lround(c->fk_end * T), step = 0, round = 0;
    for (uint32_t r = r0; !st && r <= last && r < T; r += c->fk_interval) {
        /* steps up to r, with the x̂0 prediction at r, then score it */
        st = evk__engine_denoise(e, &x[cur], 0, count, first, step, r + 1, NULL, 0, &x0, r);
        if (!st) st = evk__engine_score(e, &x0, 0, count, &sc);
        if (!st) st = evk__engine_run(e);
        step = r + 1;
        if (st) break;
        st = evk__scores(R, &sc, n); /* every particle's score, on every rank */
        for (uint32_t i = 0; !st && i < n; i++) rw[i] = R->host_scores[i];
        double ess = 0;
        bool resampled = false;
        evk_noise_key key = {.seed = c->seed, .stream = round, .counter = r, .domain = EVK_NOISE_HOST};
        if (!st) st = evk_fk_round(n, rw, state, w, c->fk_potential, c->fk_lambda, c->fk_ess_fraction, &key, ancestors, &ess, &resampled);
        if (!st) st = evk__collect(R, NULL, n, round, r, NULL, false, ess, resampled);
        if (!st && resampled) { /* ancestors on another rank arrive from there */
            for (uint32_t i = 0; i < n; i++) src_rank[i] = evk_shard_owner(e->shard, n, ancestors[i], &src_row[i]);
            st = evk__engine_move_rows(e, &x[cur], count, n, src_rank, src_row, &anc, &x[1 - cur]);
            cur = 1 - cur;
        }
        round++;
    }
    if (!st) st = evk__engine_denoise(e, &x[cur], 0, count, first, step, T, NULL, 0, NULL, 0);
    if (!st) st = evk__engine_score(e, &x[cur], 0, count, &sc);
    if (!st) st = evk__engine_run(e);
    if (!st) st = evk__collect(R, &sc, n, round, T, &x[cur], true, 0, false);
    if (!st) st = evk__finish(R, &x[cur], n);
    evk_tensor_free(e->ctx, &x[0]), evk_tensor_free(e->ctx, &x[1]), evk_tensor_free(e->ctx, &x0);
    evk_tensor_free(e->ctx, &sc), evk_tensor_free(e->ctx, &anc);
    free(state), free(w), free(rw), free(ancestors), free(src_rank), free(src_row);
    return st;
}

static uint64_t evk__fk_planned(const evk_search_config *c, uint32_t T) { return (uint64_t)c->n * T; }
static uint32_t evk__fk_population(const evk_search_config *c) { return c->n; }

static void evk__fk_report(const evk_search_config *c, cJSON *p) {
    cJSON_AddNumberToObject(p, "n", c->n);
    cJSON_AddNumberToObject(p, "lambda", c->fk_lambda);
    cJSON_AddStringToObject(p, "potential", evk_fk_potential_name(c->fk_potential));
    cJSON_AddNumberToObject(p, "resample_interval", c->fk_interval);
    cJSON_AddNumberToObject(p, "resample_start", c->fk_start);
    cJSON_AddNumberToObject(p, "resample_end", c->fk_end);
    cJSON_AddNumberToObject(p, "ess_fraction", c->fk_ess_fraction);
}

static void evk__fk_report_generation(const evk_search_generation *g, uint32_t T, cJSON *o) {
    if (g->step >= T) return; /* the final samples are not a resampling round */
    cJSON_AddNumberToObject(o, "ess", g->ess);
    cJSON_AddBoolToObject(o, "resampled", g->resampled);
}

const evk__strategy evk__strategy_fk = {"fk", "FK particles", evk__resolve_population, evk__fk_planned, evk__fk_population, evk__run_fk,
                                        evk__fk_report, evk__fk_report_generation};
