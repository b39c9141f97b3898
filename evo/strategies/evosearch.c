/* evosearch.c — EvoSearch (DESIGN "Search"): an evolution schedule S = [s_0 < … < s_{K−1}] and
 * a population schedule P = [p_0 … p_K]; each generation's population is rolled out to the end
 * (archiving the states entering every later s_h, tagged with the rollout's final reward), then
 * the next one is drawn from the pool archived at s_g: e elites unmutated, the other slots the
 * best of a random subset (tournament), mutated (first generation √(1−β²)·x + β·ε, later
 * x + σ_{s_g}·ε), resuming at s_g. NFE = evk_evo_nfe. Under a budget the small-budget rule
 * (evk__evo_budget, evo/search.h) keeps every generation at P_min = max(6, 2·elites + 2) or more:
 * the larger populations shrink first, then the latest evolution steps are dropped, and below one
 * generation of P_min the search is Best-of-N (one generation, the same trajectories), so a small
 * budget never buys a 2-individual "evolution". Over several ranks (shard.h) each rolls
 * out and archives its block of every generation; the scores are gathered, every rank selects the
 * same parents, and a child whose parent lives on another rank receives its state from there. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/op_layout.h"
#include "ops/op_random.h"
#include "ops/op_reduce.h"
#include "engine.h"
#include "search.h"
#include "strategy.h"

uint64_t evk_evo_nfe(uint32_t T, const uint32_t *S, uint32_t K, const uint32_t *P) {
    if (K == 0) return (uint64_t)P[0] * T; /* one generation: p_0 trajectories */
    uint64_t n = (uint64_t)P[0] * S[0];
    for (uint32_t g = 0; g < K; g++) n += (uint64_t)P[g] * (T - S[g]);
    for (uint32_t g = 0; g + 1 < K; g++) n += (uint64_t)P[g + 1] * (S[g + 1] - S[g]);
    return n + (uint64_t)P[K] * (T - S[K - 1]);
}

/* SD2.1 reference shape at T = 50 (DESIGN "Search"); the video shape is built in evk__evo_resolve */
static const uint32_t evk__default_s[4] = {0, 20, 30, 40}, evk__default_p[5] = {42, 26, 26, 26, 30};
/* the paper's FLUX.1-dev settings at T = 50, the defaults for flow-matching models */
static const uint32_t evk__flow_s[4] = {5, 20, 30, 40}, evk__flow_p[5] = {14, 7, 7, 7, 10};

/* EVK_SEARCH_EVO_MIN_POPULATION (search.h) is the smallest population a generation may have under
 * a budget: below 2·elites + 2 (and 6) a generation has too few mutants beside its elites to select
 * from, and spending its NFE on more trajectories of the generations kept buys more
 * (bench/PROMPTS.md, "Small budgets"). */

/* Populations for the first k evolution steps of c's schedules (p_0 … p_{k−1}, then the final
 * p_K) at `scale`, floored and raised to pmin; their NFE per guidance pass. */
static uint64_t evk__evo_fit(const evk_search_config *c, uint32_t T, uint32_t k, double scale, uint32_t pmin, uint32_t *out) {
    for (uint32_t i = 0; i <= k; i++) {
        double p = floor(c->population_schedule[i == k ? c->evolution_count : i] * scale + 1e-9);
        out[i] = p < pmin ? pmin : p > 1e7 ? 10000000u : (uint32_t)p;
    }
    return evk_evo_nfe(T, c->evolution_schedule, k, out);
}

/* The budget rule. Scale the population schedule to the budget; when a population would fall
 * below pmin, keep every population at pmin or more and shrink the larger ones first (the largest
 * scale that fits); when even pmin everywhere does not fit, drop the latest evolution step (and
 * its generation) and try again; when not one generation of pmin fits, run one generation of as
 * many trajectories as the budget pays for (Best-of-N). Returns the scale used (0 for the
 * fallback). */
static double evk__evo_budget(evk_search_config *c, uint32_t T, uint64_t budget, uint32_t pmin) {
    uint32_t K = c->evolution_count, p[EVK_SEARCH_MAX_GENERATIONS + 1];
    for (uint32_t k = K; k >= 1; k--) {
        if (evk__evo_fit(c, T, k, 0, pmin, p) > budget) continue; /* pmin everywhere is too much */
        /* the plain proportional scale of these generations, then the largest that fits */
        double lo = 0, hi = (double)budget / (double)evk__evo_fit(c, T, k, 1, 1, p);
        if (evk__evo_fit(c, T, k, hi, pmin, p) > budget) {
            for (int it = 0; it < 60; it++) {
                double mid = 0.5 * (lo + hi);
                if (evk__evo_fit(c, T, k, mid, pmin, p) <= budget) lo = mid;
                else hi = mid;
            }
            hi = lo;
        }
        evk__evo_fit(c, T, k, hi, pmin, p);
        c->evolution_count = k, c->population_count = k + 1;
        memcpy(c->population_schedule, p, (k + 1) * sizeof *p);
        return hi;
    }
    c->evolution_count = 0, c->population_count = 1;
    c->population_schedule[0] = (uint32_t)(budget / T > 10000000u ? 10000000u : budget / T);
    return 0;
}

static evk_status evk__evo_resolve(evk_search_config *c, uint32_t T) {
    uint32_t K = c->evolution_count;
    if (K > EVK_SEARCH_MAX_GENERATIONS) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "evolution schedule has %u steps, at most %d", K, EVK_SEARCH_MAX_GENERATIONS);
    /* no evolution step and one population size: a single generation (what the budget rule
       falls back to) */
    bool single = K == 0 && c->population_count == 1;
    bool video = c->evo_shape == EVK_EVO_SHAPE_VIDEO && K == 0 && !single && c->population_count == 0;
    if (video) {
        /* the Wan shape: fractions of T, floored; no two evolution steps at one step, none at the
           last step (a few-step sampler such as LCM injects no noise there to mutate with) */
        static const double frac[4] = {0.1, 0.4, 0.6, 0.9};
        for (int i = 0; i < 4; i++) {
            uint32_t s = (uint32_t)floor(frac[i] * T + 1e-9);
            if ((K && s <= c->evolution_schedule[K - 1]) || T < 2 || s > T - 2) continue;
            c->evolution_schedule[K++] = s;
        }
        if (!K)
            return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "evo: %u step%s leave no step to evolve at (the video schedule needs 2 or more)", T,
                            T == 1 ? "" : "s");
        c->evolution_count = K;
        c->population_count = K + 1;
        for (uint32_t i = 0; i <= K; i++) c->population_schedule[i] = i ? 5 : 10;
    }
    if (K == 0 && !single) {
        K = c->evolution_count = 4;
        const uint32_t *ds = (c->evo_shape == EVK_EVO_SHAPE_FLOW) ? evk__flow_s : evk__default_s;
        for (int i = 0; i < 4; i++) c->evolution_schedule[i] = (uint32_t)lround((double)ds[i] * T / 50.0);
        for (uint32_t i = 1; i < K; i++)
            if (c->evolution_schedule[i] <= c->evolution_schedule[i - 1] || c->evolution_schedule[K - 1] >= T)
                return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "evo: %u steps are too few for the default evolution schedule (%s of 50); give one "
                                "(--evolution-schedule, with --population-schedule one entry longer)", T,
                                (c->evo_shape == EVK_EVO_SHAPE_FLOW) ? "5,20,30,40" : "0,20,30,40");
    }
    for (uint32_t i = 0; i < K; i++) {
        if (i && c->evolution_schedule[i] <= c->evolution_schedule[i - 1])
            return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "evolution schedule must be strictly increasing (%u follows %u)", c->evolution_schedule[i],
                            c->evolution_schedule[i - 1]);
        if (c->evolution_schedule[i] >= T)
            return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "evolution schedule step %u is not below the %u sampling steps", c->evolution_schedule[i], T);
    }
    bool default_p = c->population_count == 0;
    if (default_p) {
        if (K != 4) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "evo: an evolution schedule of %u steps needs a population schedule of %u sizes", K, K + 1);
        c->population_count = 5;
        memcpy(c->population_schedule, (c->evo_shape == EVK_EVO_SHAPE_FLOW) ? evk__flow_p : evk__default_p, sizeof evk__default_p);
    }
    if (c->population_count != K + 1)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "population schedule has %u sizes, the evolution schedule of %u steps needs %u", c->population_count,
                        K, K + 1);
    for (uint32_t i = 0; i <= K; i++)
        if (c->population_schedule[i] < 1) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "population schedule size %u is 0", i);
    bool given_elites = c->elites != 0 && c->elites != EVK_ELITES_NONE;
    double scale = 1;
    if (c->nfe && K > 0) {
        uint32_t pmin = EVK_SEARCH_EVO_MIN_POPULATION;
        if (given_elites && c->elites < (UINT32_MAX - 2) / 2 && 2 * c->elites + 2 > pmin) pmin = 2 * c->elites + 2;
        scale = evk__evo_budget(c, T, c->nfe / evk__search_cost(c), pmin);
        K = c->evolution_count;
    } else if (c->nfe) { /* an explicit single generation: as many trajectories as the budget pays for */
        c->population_schedule[0] = (uint32_t)(c->nfe / evk__search_cost(c) / T > 10000000u ? 10000000u : c->nfe / evk__search_cost(c) / T);
    }
    if (K == 0) { /* one generation: no selection, so no elites (the budget's fallback drops them) */
        if (given_elites && single) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "evo: %u elites need an evolution step (a single generation has none)", c->elites);
        c->elites = 0;
    } else {
        uint32_t min_child = UINT32_MAX;
        for (uint32_t i = 0; i <= K; i++) min_child = c->population_schedule[i] < min_child ? c->population_schedule[i] : min_child;
        if (c->elites == EVK_ELITES_NONE) c->elites = 0;
        else if (c->elites == 0) {
            /* 5 at the reference shape, scaled with it; under the budget rule at most (p − 2)/2 so that
               every generation keeps more mutants than elites */
            long e = lround((c->evo_shape == EVK_EVO_SHAPE_VIDEO ? 2 : c->evo_shape == EVK_EVO_SHAPE_FLOW ? 3 : 5) * scale),
                 cap = c->nfe ? ((long)min_child - 2) / 2 : (long)min_child - 1;
            if (e > cap) e = cap;
            if (e < 1) e = 1;
            if (e >= (long)min_child) e = (long)min_child - 1;
            c->elites = (uint32_t)e;
        } else if (c->elites >= min_child)
            return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "%u elites leave no room in a population of %u (elites must be fewer)", c->elites, min_child);
    }
    if (c->n) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "evo: --n does not apply (use --population-schedule or --nfe)");
    return EVK_OK;
}

/* A pool entry for ranking: its rollout's reward and its archive row. Sorting these, rather than
 * indices through a file-scope pointer to the rewards, keeps a search free of global state so that
 * searches in several threads do not race. Order: reward descending (NaN last), then row. */
typedef struct evk__pool_entry {
    float tag;
    uint32_t row;
} evk__pool_entry;

static int evk__pool_cmp(const void *a, const void *b) {
    const evk__pool_entry *p = a, *q = b;
    float x = p->tag, y = q->tag;
    if (isnan(x) != isnan(y)) return isnan(x) ? 1 : -1;
    if (!isnan(x) && x != y) return x > y ? -1 : 1;
    return (p->row > q->row) - (p->row < q->row);
}

/* Where pool row i (generations 0, 1, … in order, P[g] individuals each) lives: its rank, and
 * (*row) its row in that rank's archive, which holds its block of every generation in order. */
static uint32_t evk__evo_locate(const evk_shard *sh, const uint32_t *P, uint32_t i, uint32_t *row) {
    uint32_t g = 0, base = 0;
    while (i >= base + P[g]) base += P[g++];
    uint32_t local, owner = evk_shard_owner(sh, P[g], i - base, &local), lbase = 0;
    for (uint32_t h = 0; h < g; h++) {
        uint32_t f, n;
        evk_shard_block(P[h], evk_shard_size(sh), owner, &f, &n);
        lbase += n;
    }
    *row = lbase + local;
    return owner;
}

static evk_status evk__run_evo(evk__run *R) {
    evk__engine *e = &R->e;
    const evk_search_config *c = e->cfg;
    evk_shard *sh = e->shard;
    const uint32_t K = c->evolution_count, T = e->T, *S = c->evolution_schedule, *P = c->population_schedule;
    /* cap/count: the pools over all ranks (selection); lcap/lcount: this rank's archive rows */
    uint32_t pmax = 0, lpmax = 1, cap[EVK_SEARCH_MAX_GENERATIONS], count[EVK_SEARCH_MAX_GENERATIONS] = {0}, total_cap = 0;
    uint32_t lcap[EVK_SEARCH_MAX_GENERATIONS], lcount[EVK_SEARCH_MAX_GENERATIONS] = {0}, first, cnt;
    for (uint32_t g = 0; g <= K; g++) {
        pmax = P[g] > pmax ? P[g] : pmax;
        evk_shard_range(sh, P[g], &first, &cnt);
        lpmax = cnt > lpmax ? cnt : lpmax;
    }
    for (uint32_t h = 0; h < K; h++) {
        cap[h] = lcap[h] = 0;
        for (uint32_t g = 0; g <= h; g++) {
            evk_shard_range(sh, P[g], &first, &cnt);
            cap[h] += P[g], lcap[h] += cnt;
        }
        total_cap += cap[h];
    }
    evk_tensor x, sc, idx, coef, arch[EVK_SEARCH_MAX_GENERATIONS];
    memset(arch, 0, sizeof arch), memset(&x, 0, sizeof x), memset(&sc, 0, sizeof sc), memset(&idx, 0, sizeof idx), memset(&coef, 0, sizeof coef);
    float *tags[EVK_SEARCH_MAX_GENERATIONS] = {0}, *hcoef = malloc(2 * pmax * sizeof(float));
    /* (+1: a single generation, K = 0, has no pool) */
    uint32_t *order = malloc((total_cap + 1) * sizeof *order), *scratch = malloc((total_cap + 1) * sizeof *scratch),
             *perm = malloc((total_cap + 1) * sizeof *perm);
    uint32_t *src_rank = malloc(pmax * sizeof *src_rank), *src_row = malloc(pmax * sizeof *src_row);
    evk__pool_entry *pool = malloc((total_cap + 1) * sizeof *pool);
    evk_status st = hcoef && order && scratch && perm && src_rank && src_row && pool ? EVK_OK : evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    if (!st) st = evk__alloc_rows(e->ctx, lpmax, e->numel, &x);
    if (!st) st = evk__alloc_rows(e->ctx, lpmax, 1, &sc);
    if (!st) st = evk__alloc_rows(e->ctx, lpmax, 2, &coef);
    if (!st) {
        int64_t s1[1] = {pmax};
        st = evk_tensor_alloc(e->ctx, EVK_DTYPE_I32, 1, s1, &idx);
    }
    for (uint32_t h = 0; h < K && !st; h++) {
        st = evk__alloc_rows(e->ctx, lcap[h] ? lcap[h] : 1, e->numel, &arch[h]);
        if (!st && !(tags[h] = malloc(cap[h] * sizeof(float)))) st = evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    /* generation 0 starts from noise at step 0; the children of generation g resume at s_g. This
     * rank holds individuals [first, first + cnt) of each population (global ids ids + first …). */
    uint32_t pop = P[0], next_id = P[0], ids = 0, start = 0, first_level = 0;
    evk_shard_range(sh, pop, &first, &cnt);
    if (!st) st = evk__engine_noise(e, &x, 0, cnt, first);
    for (uint32_t g = 0; g <= K && !st; g++) {
        /* roll out to the end, archiving the states entering s_h for h >= first_level */
        evk__archive_point pts[EVK_SEARCH_MAX_GENERATIONS];
        uint32_t np = 0;
        for (uint32_t h = first_level; h < K; h++) pts[np++] = (evk__archive_point){S[h], &arch[h], lcount[h]};
        st = evk__engine_denoise(e, &x, 0, cnt, ids + first, start, T, pts, np, NULL, 0);
        if (!st) st = evk__engine_score(e, &x, 0, cnt, &sc);
        if (!st) st = evk__engine_run(e);
        if (!st) st = evk__collect(R, &sc, pop, g, g < K ? S[g] : T, &x, true, 0, false);
        if (st || g == K) break;
        for (uint32_t h = first_level; h < K; h++) {
            memcpy(tags[h] + count[h], R->host_scores, pop * sizeof(float));
            count[h] += pop, lcount[h] += cnt;
        }
        /* selection from the pool at s_g (the same on every rank): elites, then tournaments over
         * a random subset */
        uint32_t M = count[g], kids = P[g + 1], el = c->elites < kids ? c->elites : kids - 1;
        if (el > M) el = M;
        for (uint32_t i = 0; i < M; i++) pool[i] = (evk__pool_entry){tags[g][i], i};
        qsort(pool, M, sizeof *pool, evk__pool_cmp);
        for (uint32_t i = 0; i < M; i++) order[i] = pool[i].row;
        uint32_t keep = (uint32_t)lround(c->tournament_fraction * M);
        if (keep < 1) keep = 1;
        for (uint32_t i = 0; i < M; i++) perm[i] = i, scratch[i] = 0;
        for (uint32_t j = 0; j < kids; j++) {
            uint32_t parent;
            if (j < el) {
                parent = order[j];
            } else {
                /* the best of a random `keep`-subset = the first of the sorted pool not among the
                 * M − keep excluded ones (drawn without replacement by a partial shuffle) */
                evk_noise_key key = {.seed = c->seed, .stream = g, .counter = j, .domain = EVK_NOISE_HOST};
                uint32_t excl = M - keep;
                for (uint32_t d = 0; d < excl; d++) { /* partial Fisher-Yates over the ranks */
                    uint32_t r = d + (uint32_t)(evk_random_uniform_host(&key, d) * (M - d));
                    uint32_t t = perm[d];
                    perm[d] = perm[r], perm[r] = t;
                    scratch[perm[d]] = 1;
                }
                uint32_t i = 0;
                while (scratch[i]) i++;
                for (uint32_t d = 0; d < excl; d++) scratch[perm[d]] = 0;
                parent = order[i];
            }
            src_rank[j] = evk__evo_locate(sh, P, parent, &src_row[j]);
            /* coefficients: elites unchanged; first generation √(1−β²)·x + β·ε, later x + σ_{s_g}·ε */
            double beta = c->mutation_rate, sig = evk_sampler_noise_std(e->sampler, S[g]);
            hcoef[2 * j] = j < el ? 1.0f : g == 0 ? (float)sqrt(1 - beta * beta) : 1.0f;
            hcoef[2 * j + 1] = j < el ? 0.0f : g == 0 ? (float)beta : (float)sig;
        }
        /* the parents' states into this rank's block of the children (arch[g] is not written while
         * it is read), then the mutation, keyed by the children's global ids */
        uint32_t kf, kc;
        evk_shard_range(sh, kids, &kf, &kc);
        st = evk__engine_move_rows(e, &arch[g], lcount[g], kids, src_rank, src_row, &idx, &x);
        evk_tensor cv, xv;
        if (!st && kc) st = evk_tensor_rows(&coef, 0, kc, &cv);
        if (!st && kc) st = evk_tensor_rows(&x, 0, kc, &xv);
        if (!st && kc) st = evk_tensor_upload_f32(e->ctx, &cv, hcoef + 2 * kf);
        if (!st && kc) st = evk__engine_begin(e);
        evk_noise_key mk = {.seed = c->seed, .stream = next_id + kf, .counter = g, .domain = EVK_NOISE_MUTATION};
        if (!st && kc) st = evk_op_mutate_affine(e->s, &xv, &cv, &mk);
        pop = kids, ids = next_id, next_id += kids, start = S[g], first_level = g + 1, first = kf, cnt = kc;
    }
    if (!st) st = evk__finish(R, &x, pop);
    evk_tensor_free(e->ctx, &x), evk_tensor_free(e->ctx, &sc), evk_tensor_free(e->ctx, &idx), evk_tensor_free(e->ctx, &coef);
    for (uint32_t h = 0; h < K; h++) {
        if (arch[h].buf.block) evk_tensor_free(e->ctx, &arch[h]);
        free(tags[h]);
    }
    free(hcoef), free(order), free(scratch), free(perm), free(src_rank), free(src_row), free(pool);
    return st;
}

static uint64_t evk__evo_planned(const evk_search_config *c, uint32_t T) {
    return evk_evo_nfe(T, c->evolution_schedule, c->evolution_count, c->population_schedule);
}

static uint32_t evk__evo_population(const evk_search_config *c) {
    uint32_t pmax = c->n;
    for (uint32_t g = 0; g <= c->evolution_count; g++) pmax = c->population_schedule[g] > pmax ? c->population_schedule[g] : pmax;
    return pmax;
}

static cJSON *evk__u32_array(const uint32_t *v, uint32_t n) {
    cJSON *a = cJSON_CreateArray();
    for (uint32_t i = 0; a && i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber(v[i]));
    return a;
}

static void evk__evo_report(const evk_search_config *c, cJSON *p) {
    cJSON_AddItemToObject(p, "evolution_schedule", evk__u32_array(c->evolution_schedule, c->evolution_count));
    cJSON_AddItemToObject(p, "population_schedule", evk__u32_array(c->population_schedule, c->population_count));
    cJSON_AddNumberToObject(p, "elites", c->elites);
    cJSON_AddNumberToObject(p, "mutation_rate", c->mutation_rate);
    cJSON_AddNumberToObject(p, "tournament_fraction", c->tournament_fraction);
    if (c->evolution_count == 0)
        cJSON_AddStringToObject(p, "note", "single generation (Best-of-N): the budget pays for no generation of the smallest population");
}

const evk__strategy evk__strategy_evo = {"evo", "EvoSearch", evk__evo_resolve, evk__evo_planned, evk__evo_population, evk__run_evo,
                                         evk__evo_report, NULL};
