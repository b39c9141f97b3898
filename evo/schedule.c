/* schedule.c — search configuration: the defaults and checks every strategy shares, then the
 * strategy's own part (its entry in the table: populations from the NFE budget for sample / bon /
 * fk here, EvoSearch's schedules in strategies/evosearch.c), and the planned NFE. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "search.h"
#include "strategy.h"

uint32_t evk__search_cost(const evk_search_config *c) { return c->guidance > 0 && !c->guidance_embedded ? 2 : 1; }

uint64_t evk_search_planned_nfe(const evk_search_config *c, uint32_t T) {
    const evk__strategy *s = evk__strategy_get(c->method);
    return s ? evk__search_cost(c) * s->planned_nfe(c, T) : 0;
}

evk_status evk_search_resolve(const evk_search_config *in, uint32_t T, evk_search_config *out) {
    evk_search_config c = *in;
    if (T < 1) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "search: the sampler has no steps");
    const evk__strategy *strategy = evk__strategy_get(c.method);
    if (!strategy) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "search: unknown method %d", (int)c.method);
    uint64_t cost = evk__search_cost(&c), per_traj = cost * T;
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

    for (uint32_t k = 0; c.guidance_items && k < c.guidance_count; k++)
        if (!(c.guidance_items[k] >= 0 && isfinite(c.guidance_items[k])))
            return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "guidance scale %g (item %u)", (double)c.guidance_items[k], k);
    if (c.guidance_items && c.guidance_count && c.method != EVK_SEARCH_SAMPLE && c.method != EVK_SEARCH_BON)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "%s: a w per item applies to sample and bon only (fk and evo move states between "
                        "trajectories)", evk_search_method_name(c.method));
    if (c.motion && !(isfinite(c.motion_guidance) && c.motion_percentage >= 0 && c.motion_percentage <= 1))
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "motion guidance %g with percentage %g (0..1)", (double)c.motion_guidance,
                        (double)c.motion_percentage);
    if (c.step_noise && c.method != EVK_SEARCH_SAMPLE)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "%s: given step noise applies to plain sampling only (searches draw their own)",
                        evk_search_method_name(c.method));
    EVK_TRY(strategy->resolve(&c, T));
    *out = c;
    return EVK_OK;
}

evk_status evk__resolve_population(evk_search_config *c, uint32_t T) {
    const uint64_t per_traj = (uint64_t)evk__search_cost(c) * T;
    if (c->nfe && c->n)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "%s: give the population (--n) or the NFE budget (--nfe), not both",
                        evk_search_method_name(c->method));
    if (c->nfe) c->n = (uint32_t)(c->nfe / per_traj > 0x7fffffffu ? 0x7fffffffu : c->nfe / per_traj);
    if (!c->n) c->n = 16;
    return EVK_OK;
}
