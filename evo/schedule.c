/* schedule.c — search configuration: defaults, the NFE budget (individuals for Best-of-N and
 * particles, a scaled population schedule for EvoSearch), validation with one-line messages,
 * the EvoSearch NFE formula, and the host side of FK resampling (weights, ESS, multinomial). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "search.h"

static const char *evk__method_names[] = {"sample", "bon", "fk", "evo"};
static const char *evk__potential_names[] = {"diff", "max", "add"};

const char *evk_search_method_name(evk_search_method m) { return (unsigned)m < 4 ? evk__method_names[m] : "?"; }
const char *evk_fk_potential_name(evk_fk_potential p) { return (unsigned)p < 3 ? evk__potential_names[p] : "?"; }

bool evk_search_method_parse(const char *name, evk_search_method *out) {
    for (int i = 0; i < 4; i++)
        if (name && !strcmp(name, evk__method_names[i])) return *out = (evk_search_method)i, true;
    return false;
}

bool evk_fk_potential_parse(const char *name, evk_fk_potential *out) {
    for (int i = 0; i < 3; i++)
        if (name && !strcmp(name, evk__potential_names[i])) return *out = (evk_fk_potential)i, true;
    return false;
}

uint64_t evk_evo_nfe(uint32_t T, const uint32_t *S, uint32_t K, const uint32_t *P) {
    if (K == 0) return 0;
    uint64_t n = (uint64_t)P[0] * S[0];
    for (uint32_t g = 0; g < K; g++) n += (uint64_t)P[g] * (T - S[g]);
    for (uint32_t g = 0; g + 1 < K; g++) n += (uint64_t)P[g + 1] * (S[g + 1] - S[g]);
    return n + (uint64_t)P[K] * (T - S[K - 1]);
}

static uint32_t evk__cost(const evk_search_config *c) { return c->guidance > 0 ? 2 : 1; }

uint64_t evk_search_planned_nfe(const evk_search_config *c, uint32_t T) {
    if (c->method == EVK_SEARCH_EVO)
        return evk__cost(c) * evk_evo_nfe(T, c->evolution_schedule, c->evolution_count, c->population_schedule);
    return (uint64_t)evk__cost(c) * c->n * T;
}

/* SD2.1 reference shape at T = 50 (DESIGN "Search") */
static const uint32_t evk__default_s[4] = {0, 20, 30, 40}, evk__default_p[5] = {42, 26, 26, 26, 30};

evk_status evk_search_resolve(const evk_search_config *in, uint32_t T, evk_search_config *out) {
    evk_search_config c = *in;
    if (T < 1) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "search: the sampler has no steps");
    if ((unsigned)c.method > EVK_SEARCH_EVO) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "search: unknown method %d", (int)c.method);
    const char *name = evk_search_method_name(c.method);
    uint64_t cost = evk__cost(&c), per_traj = cost * T;
    if (c.nfe && c.nfe < per_traj)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "NFE budget %llu is too small for one trajectory (%u steps%s need %llu)",
                        (unsigned long long)c.nfe, T, cost == 2 ? " with guidance" : "", (unsigned long long)per_traj);
    if (c.mutation_rate == 0) c.mutation_rate = 0.2;
    if (c.tournament_fraction == 0) c.tournament_fraction = 0.9;
    if (c.fk_lambda == 0) c.fk_lambda = 10;
    if (c.fk_interval == 0) c.fk_interval = 5;
    if (c.fk_start == 0) c.fk_start = 0.4;
    if (c.fk_end == 0) c.fk_end = 0.9;
    if (c.fk_ess_fraction == 0) c.fk_ess_fraction = 0.5;
    if (!(c.mutation_rate > 0 && c.mutation_rate <= 1))
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "mutation rate %g outside (0, 1]", c.mutation_rate);
    if (!(c.tournament_fraction > 0 && c.tournament_fraction <= 1))
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "tournament fraction %g outside (0, 1]", c.tournament_fraction);
    if (!isfinite(c.fk_lambda) || (unsigned)c.fk_potential > EVK_FK_ADD || !(c.fk_start >= 0 && c.fk_end <= 1 && c.fk_start <= c.fk_end) ||
        !(c.fk_ess_fraction > 0 && c.fk_ess_fraction <= 1))
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "particle sampling: lambda %g, potential %d, window %g..%g, ESS fraction %g are not usable",
                        c.fk_lambda, (int)c.fk_potential, c.fk_start, c.fk_end, c.fk_ess_fraction);
    if (!(c.guidance >= 0 && isfinite(c.guidance))) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "guidance scale %g", (double)c.guidance);

    if (c.method != EVK_SEARCH_EVO) {
        if (c.nfe && c.n) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "%s: give the population (--n) or the NFE budget (--nfe), not both", name);
        if (c.nfe) c.n = (uint32_t)(c.nfe / per_traj > 0x7fffffffu ? 0x7fffffffu : c.nfe / per_traj);
        if (!c.n) c.n = 16;
        *out = c;
        return EVK_OK;
    }
    /* EvoSearch schedules */
    uint32_t K = c.evolution_count;
    if (K > EVK_SEARCH_MAX_GENERATIONS) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "evolution schedule has %u steps, at most %d", K, EVK_SEARCH_MAX_GENERATIONS);
    if (K == 0) {
        K = c.evolution_count = 4;
        for (int i = 0; i < 4; i++) c.evolution_schedule[i] = (uint32_t)lround((double)evk__default_s[i] * T / 50.0);
        for (uint32_t i = 1; i < K; i++)
            if (c.evolution_schedule[i] <= c.evolution_schedule[i - 1] || c.evolution_schedule[K - 1] >= T)
                return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "evo: %u steps are too few for the default evolution schedule (0,20,30,40 of 50); give one", T);
    }
    for (uint32_t i = 0; i < K; i++) {
        if (i && c.evolution_schedule[i] <= c.evolution_schedule[i - 1])
            return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "evolution schedule must be strictly increasing (%u follows %u)", c.evolution_schedule[i],
                            c.evolution_schedule[i - 1]);
        if (c.evolution_schedule[i] >= T)
            return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "evolution schedule step %u is not below the %u sampling steps", c.evolution_schedule[i], T);
    }
    bool default_p = c.population_count == 0;
    if (default_p) {
        if (K != 4) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "evo: an evolution schedule of %u steps needs a population schedule of %u sizes", K, K + 1);
        c.population_count = 5;
        memcpy(c.population_schedule, evk__default_p, sizeof evk__default_p);
    }
    if (c.population_count != K + 1)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "population schedule has %u sizes, the evolution schedule of %u steps needs %u", c.population_count,
                        K, K + 1);
    for (uint32_t i = 0; i <= K; i++)
        if (c.population_schedule[i] < 1) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "population schedule size %u is 0", i);
    double scale = 1;
    if (c.nfe) {
        uint64_t base = cost * evk_evo_nfe(T, c.evolution_schedule, K, c.population_schedule);
        scale = (double)c.nfe / (double)base;
        for (uint32_t i = 0; i <= K; i++) {
            double p = floor(c.population_schedule[i] * scale + 1e-9);
            if (p < 1 || p > 1e7)
                return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "NFE budget %llu cannot be spread over this schedule (population %u would be %.0f)",
                                (unsigned long long)c.nfe, i, p);
            c.population_schedule[i] = (uint32_t)p;
        }
    }
    uint32_t min_child = UINT32_MAX;
    for (uint32_t i = 1; i <= K; i++) min_child = c.population_schedule[i] < min_child ? c.population_schedule[i] : min_child;
    if (c.population_schedule[0] < min_child) min_child = c.population_schedule[0];
    if (c.elites == EVK_ELITES_NONE) c.elites = 0;
    else if (c.elites == 0) {
        long e = lround(5 * scale);
        if (e < 1) e = 1;
        if (e >= (long)min_child) e = (long)min_child - 1;
        c.elites = (uint32_t)e;
    } else if (c.elites >= min_child)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "%u elites leave no room in a population of %u (elites must be fewer)", c.elites, min_child);
    if (c.n) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "evo: --n does not apply (use --population-schedule or --nfe)");
    *out = c;
    return EVK_OK;
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
