/* test_search.c — the search layer on the exact mixture: NFE counted exactly as the DESIGN
 * formula (SD2.1 defaults at T = 50 → 5000 = Best-of-100, guidance counting 2), same seed →
 * identical results, chunked = unchunked for every method, EvoSearch beating Best-of-N at equal
 * NFE over 16 seeds on the shipped toy, FK's weight / ESS / resampling bookkeeping on known
 * weights, analytic rewards against double references, configuration errors, and two searches
 * running at once in two threads giving exactly their sequential results (no global state). */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "ops/op_reduce.h"
#include "search.h"

typedef struct toy {
    evk_model *model;
    evk_reward *reward;
} toy;

static toy load_toy(evk_context *ctx, const char *name) {
    char mp[512], rp[512];
    const char *src = getenv("EVOKE_SOURCE_DIR");
    snprintf(mp, sizeof mp, "%s/assets/gmm/%s.json", src ? src : ".", name);
    snprintf(rp, sizeof rp, "%s/assets/gmm/%s_reward.json", src ? src : ".", name);
    toy t;
    TEST_OK(evk_model_load(ctx, mp, NULL, &t.model));
    TEST_OK(evk_reward_load(ctx, rp, &t.reward));
    return t;
}

static void free_toy(toy *t) {
    evk_model_destroy(t->model);
    evk_reward_destroy(t->reward);
}

static evk_sampler *ddim(const evk_model *m, uint32_t T) {
    const evk_model_info *mi = evk_model_get_info(m);
    evk_sampler_config c = {.kind = EVK_SAMPLER_DDIM, .schedule = mi->schedule, .prediction = mi->prediction, .steps = T, .eta = 1,
                            .spacing = EVK_SPACING_TRAILING};
    evk_sampler *s;
    TEST_OK(evk_sampler_create(&c, &s));
    return s;
}

static evk_search_result *run(evk_context *ctx, toy *t, evk_sampler *smp, evk_search_config c) {
    evk_search_result *r;
    TEST_OK(evk_search_run(ctx, t->model, smp, t->reward, &c, &r));
    return r;
}

static void test_nfe_accounting(void **state) {
    evk_context *ctx = *state;
    const uint32_t S[4] = {0, 20, 30, 40}, P[5] = {42, 26, 26, 26, 30};
    assert_int_equal(evk_evo_nfe(50, S, 4, P), 5000);
    toy t = load_toy(ctx, "toy2d");
    evk_sampler *smp = ddim(t.model, 50);
    /* defaults at T = 50 with a budget of 5000: the SD2.1 schedule itself, and Best-of-100 */
    evk_search_config c = {.method = EVK_SEARCH_EVO, .nfe = 5000, .seed = 1}, rc;
    TEST_OK(evk_search_resolve(&c, 50, &rc));
    assert_int_equal(rc.evolution_count, 4);
    assert_memory_equal(rc.evolution_schedule, S, sizeof S);
    assert_memory_equal(rc.population_schedule, P, sizeof P);
    assert_int_equal(rc.elites, 5);
    assert_int_equal(evk_search_planned_nfe(&rc, 50), 5000);
    /* flow models: the paper's FLUX shape (5,20,30,40; 14,7,7,7,10; 3 elites), scaled to T */
    const uint32_t FS[4] = {5, 20, 30, 40}, FP[5] = {14, 7, 7, 7, 10}, FS25[4] = {3, 10, 15, 20};
    evk_search_config cf = {.method = EVK_SEARCH_EVO, .seed = 1, .evo_shape = EVK_EVO_SHAPE_FLOW}, rf;
    TEST_OK(evk_search_resolve(&cf, 50, &rf));
    assert_memory_equal(rf.evolution_schedule, FS, sizeof FS);
    assert_memory_equal(rf.population_schedule, FP, sizeof FP);
    assert_int_equal(rf.elites, 3);
    assert_int_equal(evk_search_planned_nfe(&rf, 50), evk_evo_nfe(50, FS, 4, FP));
    TEST_OK(evk_search_resolve(&cf, 25, &rf));
    assert_memory_equal(rf.evolution_schedule, FS25, sizeof FS25);
    evk_search_result *r = run(ctx, &t, smp, c);
    assert_int_equal(r->nfe, 5000);
    assert_int_equal(r->reward_calls, 42 + 26 * 3 + 30);
    assert_int_equal(r->generation_count, 5);
    assert_int_equal(r->generations[4].nfe, 5000);
    assert_int_equal(r->population_size, 30);
    /* one submission per rollout (+ the last best-sample copy): it does not grow with the population */
    assert_true(r->submissions <= 6);
    evk_search_result_free(r);
    c.method = EVK_SEARCH_BON;
    r = run(ctx, &t, smp, c);
    assert_int_equal(r->config.n, 100);
    assert_int_equal(r->nfe, 5000);
    assert_int_equal(r->reward_calls, 100);
    evk_search_result_free(r);
    c.method = EVK_SEARCH_FK;
    r = run(ctx, &t, smp, c);
    assert_int_equal(r->nfe, 5000);
    assert_int_equal(r->generation_count, 7); /* resampling at 20, 25, ..., 45, then the final scoring */
    assert_int_equal(r->reward_calls, 700);
    evk_search_result_free(r);
    evk_sampler_destroy(smp);

    /* a non-default schedule: NFE = 5·3 + 5·7 + 4·3 + 4·(7−3) + 6·(10−7) = 96 */
    smp = ddim(t.model, 10);
    c = (evk_search_config){.method = EVK_SEARCH_EVO, .evolution_count = 2, .evolution_schedule = {3, 7}, .population_count = 3,
                            .population_schedule = {5, 4, 6}, .elites = 1, .seed = 9};
    r = run(ctx, &t, smp, c);
    assert_int_equal(r->nfe, 96);
    assert_int_equal(r->nfe, evk_search_planned_nfe(&r->config, 10));
    evk_search_result_free(r);
    /* the budget scales the population schedule and never overspends */
    c.nfe = 500;
    TEST_OK(evk_search_resolve(&c, 10, &rc));
    assert_true(evk_search_planned_nfe(&rc, 10) <= 500 && evk_search_planned_nfe(&rc, 10) > 400);
    /* guidance doubles the count; the mixture ignores conditioning, so the samples are the same */
    evk_search_config b = {.method = EVK_SEARCH_BON, .n = 6, .seed = 4};
    evk_search_result *r1 = run(ctx, &t, smp, b);
    b.guidance = 3.0f;
    evk_search_result *r2 = run(ctx, &t, smp, b);
    assert_int_equal(r1->nfe, 60);
    assert_int_equal(r2->nfe, 120);
    assert_memory_equal(r1->population, r2->population, 6 * 2 * sizeof(float));
    evk_search_result_free(r1), evk_search_result_free(r2);
    evk_sampler_destroy(smp);
    free_toy(&t);
}

static void assert_same_result(const evk_search_result *a, const evk_search_result *b, const char *what) {
    if (a->nfe != b->nfe || a->population_size != b->population_size || a->generation_count != b->generation_count)
        fail_msg("%s: sizes differ", what);
    if (memcmp(a->population, b->population, (size_t)a->population_size * a->sample_numel * 4) ||
        memcmp(a->population_rewards, b->population_rewards, a->population_size * 4) ||
        memcmp(a->best_sample, b->best_sample, a->sample_numel * 4) || a->best_reward != b->best_reward)
        fail_msg("%s: populations or best samples differ", what);
    for (uint32_t i = 0; i < a->generation_count; i++) {
        const evk_search_generation *x = &a->generations[i], *y = &b->generations[i];
        if (x->index != y->index || x->step != y->step || x->population != y->population || x->best != y->best || x->mean != y->mean ||
            x->min != y->min || x->nfe != y->nfe || x->ess != y->ess || x->resampled != y->resampled)
            fail_msg("%s: generation %u differs", what, i);
    }
}

static void test_deterministic_and_chunked(void **state) {
    evk_context *ctx = *state;
    toy t = load_toy(ctx, "toy64d");
    evk_sampler *smp = ddim(t.model, 12);
    for (int m = EVK_SEARCH_BON; m <= EVK_SEARCH_EVO; m++) {
        evk_search_config c = {.method = (evk_search_method)m, .nfe = 12 * 40, .seed = 77};
        evk_search_result *a = run(ctx, &t, smp, c), *b = run(ctx, &t, smp, c);
        assert_same_result(a, b, "same seed");
        c.chunk = 7; /* not a divisor of any population */
        evk_search_result *d = run(ctx, &t, smp, c);
        assert_int_equal(d->chunk, 7);
        assert_same_result(a, d, "chunked");
        c.chunk = 0;
        c.seed = 78;
        evk_search_result *e = run(ctx, &t, smp, c);
        assert_true(memcmp(a->population, e->population, 4 * 64) != 0);
        evk_search_result_free(a), evk_search_result_free(b), evk_search_result_free(d), evk_search_result_free(e);
    }
    evk_sampler_destroy(smp);
    free_toy(&t);
}

/* The small-budget rule (evo/search.h): with a budget, every population is at least 6 (and
 * 2·elites + 2); populations shrink towards that first, then the latest evolution steps go, and
 * below one generation of 6 the search is one generation of budget/(T·cost) trajectories. The
 * expected schedules are worked out by hand from the NFE formula at T = 8 (the shipped model's
 * steps; S = 0,3,5,6 is the default 0,20,30,40 of 50 scaled to 8). */
static void test_evo_small_budgets(void **state) {
    evk_context *ctx = *state;
    const uint32_t T = 8;
    const uint64_t budgets[] = {16, 80, 160, 190, 192, 250, 252, 300, 312, 320, 400, 800, 1600};
    for (size_t b = 0; b < sizeof budgets / sizeof *budgets; b++) {
        evk_search_config c = {.method = EVK_SEARCH_EVO, .nfe = budgets[b], .guidance = 2, .seed = 3}, rc;
        TEST_OK(evk_search_resolve(&c, T, &rc));
        uint64_t planned = evk_search_planned_nfe(&rc, T);
        assert_true(planned <= budgets[b]);
        assert_int_equal(planned, 2 * evk_evo_nfe(T, rc.evolution_schedule, rc.evolution_count, rc.population_schedule));
        if (rc.evolution_count == 0) {
            /* the fallback spends every whole trajectory the budget pays for */
            assert_int_equal(rc.population_count, 1);
            assert_int_equal(rc.population_schedule[0], budgets[b] / (2 * T));
            assert_int_equal(rc.elites, 0);
            continue;
        }
        assert_int_equal(rc.population_count, rc.evolution_count + 1);
        static const uint32_t S[4] = {0, 3, 5, 6};
        for (uint32_t g = 0; g <= rc.evolution_count; g++) {
            assert_true(rc.population_schedule[g] >= 6);
            assert_true(rc.elites >= 1 && 2 * rc.elites + 2 <= rc.population_schedule[g]);
        }
        for (uint32_t g = 0; g < rc.evolution_count; g++) assert_int_equal(rc.evolution_schedule[g], S[g]);
        /* one more individual in the smallest population would overspend, or the rule would not
           have dropped a generation: the budget is used, not wasted */
        assert_true(planned + 2 * 2 * T > budgets[b] || rc.evolution_count == 4);
    }
    /* by hand: 6 everywhere costs 2·6·(8+8+5+3+2) = 312 for four generations, 288 for three
       (0,3,5), 252 for two (0,3), 192 for one (0); below 192 one generation of budget/16; at 251
       one generation has room for p_0 = ⌊42·125/576⌋ = 9 beside p_1 = 6 */
    struct {
        uint64_t nfe;
        uint32_t k, p0;
    } want[] = {{80, 0, 5}, {160, 0, 10}, {191, 0, 11}, {192, 1, 6}, {251, 1, 9}, {252, 2, 6}, {288, 3, 6}, {312, 4, 6}};
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        evk_search_config c = {.method = EVK_SEARCH_EVO, .nfe = want[i].nfe, .guidance = 2}, rc;
        TEST_OK(evk_search_resolve(&c, T, &rc));
        if (rc.evolution_count != want[i].k || rc.population_schedule[0] != want[i].p0)
            fail_msg("budget %llu: %u evolution steps, p_0 = %u; expected %u, %u", (unsigned long long)want[i].nfe, rc.evolution_count,
                     rc.population_schedule[0], want[i].k, want[i].p0);
    }
    /* above the rule's reach the schedule is the plain proportional one: 800 NFE gives 20,12,12,12,14 */
    evk_search_config c = {.method = EVK_SEARCH_EVO, .nfe = 800, .guidance = 2}, rc;
    TEST_OK(evk_search_resolve(&c, T, &rc));
    assert_memory_equal(rc.population_schedule, ((uint32_t[]){20, 12, 12, 12, 14}), 5 * sizeof(uint32_t));
    assert_int_equal(rc.elites, 2);
    /* given elites raise the minimum to 2·elites + 2 */
    c = (evk_search_config){.method = EVK_SEARCH_EVO, .nfe = 800, .guidance = 2, .elites = 7};
    TEST_OK(evk_search_resolve(&c, T, &rc));
    for (uint32_t g = 0; g <= rc.evolution_count; g++) assert_true(rc.population_schedule[g] >= 16);
    assert_true(evk_search_planned_nfe(&rc, T) <= 800);
    /* ... and below one generation of them the fallback has no elites */
    c = (evk_search_config){.method = EVK_SEARCH_EVO, .nfe = 160, .guidance = 2, .elites = 2};
    TEST_OK(evk_search_resolve(&c, T, &rc));
    assert_int_equal(rc.evolution_count, 0);
    assert_int_equal(rc.elites, 0);

    /* runs spend exactly what they planned: a dropped-generation schedule and the fallback, on the
       toy mixture without guidance (cost 1) */
    toy t = load_toy(ctx, "toy2d");
    evk_sampler *smp = ddim(t.model, T);
    const uint64_t run_budgets[] = {60, 110, 140};
    for (size_t i = 0; i < 3; i++) {
        c = (evk_search_config){.method = EVK_SEARCH_EVO, .nfe = run_budgets[i], .seed = 5};
        evk_search_result *r = run(ctx, &t, smp, c);
        assert_int_equal(r->nfe, evk_search_planned_nfe(&r->config, T));
        assert_true(r->nfe <= run_budgets[i]);
        assert_int_equal(r->generation_count, r->config.evolution_count + 1);
        for (uint32_t g = 0; g < r->generation_count; g++) assert_true(r->generations[g].population >= (r->config.evolution_count ? 6u : 1u));
        if (r->config.evolution_count == 0) {
            /* the fallback is Best-of-N: the same trajectories, bit for bit */
            evk_search_result *b = run(ctx, &t, smp, (evk_search_config){.method = EVK_SEARCH_BON, .nfe = run_budgets[i], .seed = 5});
            assert_int_equal(b->nfe, r->nfe);
            assert_true(b->best_reward == r->best_reward);
            assert_memory_equal(b->best_sample, r->best_sample, (size_t)r->sample_numel * sizeof(float));
            evk_search_result_free(b);
        }
        evk_search_result_free(r);
    }
    evk_sampler_destroy(smp);
    free_toy(&t);
}

/* The video shape (the Wan setting S = 5,20,30,45 of 50, P = 10,5,5,5,5, 2 elites) at 50 steps
 * and scaled to few-step samplers: floor(f·T), strictly increasing, at most T − 2; worked by hand. */
static void test_evo_video_shape(void **state) {
    (void)state;
    struct {
        uint32_t T, k, s[4];
    } want[] = {{50, 4, {5, 20, 30, 45}}, {4, 3, {0, 1, 2}}, {8, 3, {0, 3, 4}}, {6, 3, {0, 2, 3}}, {2, 1, {0}}, {16, 4, {1, 6, 9, 14}}};
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        evk_search_config c = {.method = EVK_SEARCH_EVO, .evo_shape = EVK_EVO_SHAPE_VIDEO}, rc;
        TEST_OK(evk_search_resolve(&c, want[i].T, &rc));
        if (rc.evolution_count != want[i].k) fail_msg("T = %u: %u evolution steps, expected %u", want[i].T, rc.evolution_count, want[i].k);
        assert_memory_equal(rc.evolution_schedule, want[i].s, want[i].k * sizeof(uint32_t));
        assert_int_equal(rc.population_count, want[i].k + 1);
        assert_int_equal(rc.population_schedule[0], 10);
        for (uint32_t g = 1; g <= want[i].k; g++) assert_int_equal(rc.population_schedule[g], 5);
        assert_int_equal(rc.elites, 2);
    }
    /* 4-step LCM: NFE = 10·4 + 5·3 + 5·2 + (5 + 5) + 5·2 = 85 (no guidance: T2V-Turbo guides through its embedding) */
    evk_search_config c = {.method = EVK_SEARCH_EVO, .evo_shape = EVK_EVO_SHAPE_VIDEO}, rc;
    TEST_OK(evk_search_resolve(&c, 4, &rc));
    assert_int_equal(evk_search_planned_nfe(&rc, 4), 85);
    /* one step leaves nothing to evolve at; the image shape is unchanged by the field */
    assert_int_equal(evk_search_resolve(&c, 1, &rc), EVK_ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(evk_error_message(), "leave no step to evolve at"));
    c.evo_shape = EVK_EVO_SHAPE_IMAGE;
    TEST_OK(evk_search_resolve(&c, 50, &rc));
    assert_memory_equal(rc.evolution_schedule, ((uint32_t[]){0, 20, 30, 40}), 4 * sizeof(uint32_t));
    assert_int_equal(rc.elites, 5);
    /* under a budget the video shape follows the small-budget rule like the image one */
    c = (evk_search_config){.method = EVK_SEARCH_EVO, .evo_shape = EVK_EVO_SHAPE_VIDEO, .nfe = 200};
    TEST_OK(evk_search_resolve(&c, 8, &rc));
    assert_true(evk_search_planned_nfe(&rc, 8) <= 200);
    for (uint32_t g = 0; g <= rc.evolution_count; g++) assert_true(rc.population_schedule[g] >= 6);
}

static void test_evo_beats_best_of_n(void **state) {
    evk_context *ctx = *state;
    toy t = load_toy(ctx, "toy2d");
    const uint32_t T = 20, seeds = 16;
    evk_sampler *smp = ddim(t.model, T);
    double sum[2] = {0}, sq[2] = {0};
    for (uint32_t s = 0; s < seeds; s++)
        for (int k = 0; k < 2; k++) {
            evk_search_config c = {.method = k ? EVK_SEARCH_EVO : EVK_SEARCH_BON, .nfe = 100 * T, .seed = 1000 + s};
            evk_search_result *r = run(ctx, &t, smp, c);
            assert_int_equal(r->nfe, 100 * T);
            sum[k] += r->best_reward;
            sq[k] += r->best_reward * r->best_reward;
            evk_search_result_free(r);
        }
    double mb = sum[0] / seeds, me = sum[1] / seeds;
    double sb = sqrt(fmax(sq[0] / seeds - mb * mb, 0)), se = sqrt(fmax(sq[1] / seeds - me * me, 0));
    double stderr_diff = sqrt((sb * sb + se * se) / seeds);
    print_message("best reward over %u seeds at NFE %u: Best-of-N %.4f ± %.4f, EvoSearch %.4f ± %.4f\n", seeds, 100 * T, mb, sb, me, se);
    if (!(me - mb > 3 * stderr_diff && me - mb > 0.1))
        fail_msg("EvoSearch %.4f does not beat Best-of-N %.4f by a clear margin (3 standard errors = %.4f)", me, mb, 3 * stderr_diff);
    evk_sampler_destroy(smp);
    free_toy(&t);
}

static void test_fk_round(void **state) {
    (void)state;
    evk_noise_key key = {.seed = 5, .domain = EVK_NOISE_HOST};
    uint32_t anc[4];
    double ess;
    bool res;
    /* equal rewards: weights stay uniform, ESS = n, nobody is resampled, r_prev follows */
    double r0[4] = {0.3, 0.3, 0.3, 0.3}, st[4] = {0, 0, 0, 0}, w[4] = {1, 1, 1, 1};
    TEST_OK(evk_fk_round(4, r0, st, w, EVK_FK_DIFF, 10, 0.5, &key, anc, &ess, &res));
    assert_true(fabs(ess - 4) < 1e-12 && !res);
    for (int i = 0; i < 4; i++) assert_true(anc[i] == (uint32_t)i && st[i] == 0.3);
    /* known weights 1 : 2 : 3 : 4 (λ = 1, diff potential): ESS = 1 / Σ p² = 1 / 0.3 */
    double r1[4] = {0.3, 0.3 + log(2.0), 0.3 + log(3.0), 0.3 + log(4.0)};
    TEST_OK(evk_fk_round(4, r1, st, w, EVK_FK_DIFF, 1, 0.5, &key, anc, &ess, &res));
    assert_true(fabs(ess - 1 / 0.3) < 1e-9 && !res);
    /* weights accumulate while not resampling: times 4 : 3 : 2 : 1 gives 4 : 6 : 6 : 4 */
    double r2[4] = {r1[0] + log(4.0), r1[1] + log(3.0), r1[2] + log(2.0), r1[3]};
    TEST_OK(evk_fk_round(4, r2, st, w, EVK_FK_DIFF, 1, 0.5, &key, anc, &ess, &res));
    double p[4] = {0.2, 0.3, 0.3, 0.2}, want = 1 / (p[0] * p[0] + p[1] * p[1] + p[2] * p[2] + p[3] * p[3]);
    assert_true(fabs(ess - want) < 1e-9 && !res);
    /* one dominant particle: ESS ≈ 1 < n/2, everyone descends from it, weights reset, state follows */
    double r3[4] = {r2[0], r2[1], r2[2] + 5, r2[3]};
    TEST_OK(evk_fk_round(4, r3, st, w, EVK_FK_DIFF, 10, 0.5, &key, anc, &ess, &res));
    assert_true(res && ess < 1.01);
    for (int i = 0; i < 4; i++) assert_true(anc[i] == 2 && w[i] == 1 && st[i] == r3[2]);
    /* NaN → weight 0, clamp at 1e10; multinomial frequencies follow the weights */
    enum { N = 20000 };
    double *rr = malloc(N * sizeof *rr), *ss = calloc(N, sizeof *ss), *ww = malloc(N * sizeof *ww);
    uint32_t *aa = malloc(N * sizeof *aa);
    for (int i = 0; i < N; i++) rr[i] = i % 4 == 3 ? NAN : i % 4 == 0 ? log(3.0) : 0.0, ww[i] = 1;
    rr[7] = 1e9; /* exp overflows: clamped to 1e10, dominates but does not break the sums */
    TEST_OK(evk_fk_round(N, rr, ss, ww, EVK_FK_DIFF, 1, 1.0, &key, aa, &ess, &res));
    assert_true(res);
    assert_int_equal(aa[0], 7);
    for (int i = 0; i < N; i++) rr[i] = i % 4 == 3 ? NAN : i % 4 == 0 ? log(3.0) : 0.0, ww[i] = 1, ss[i] = 0;
    TEST_OK(evk_fk_round(N, rr, ss, ww, EVK_FK_DIFF, 1, 1.0, &key, aa, &ess, &res));
    int counts[4] = {0};
    for (int i = 0; i < N; i++) counts[aa[i] % 4]++;
    assert_int_equal(counts[3], 0);
    /* weights 3 : 1 : 1 : 0 → 0.6, 0.2, 0.2 */
    assert_true(fabs(counts[0] / (double)N - 0.6) < 0.015 && fabs(counts[1] / (double)N - 0.2) < 0.015);
    /* ESS = 1 / Σ p² = (N/4) / (0.6² + 0.2² + 0.2²) */
    assert_true(fabs(ess - (N / 4) / 0.44) < 1e-6 * N);
    free(rr), free(ss), free(ww), free(aa);
}

static void test_rewards(void **state) {
    evk_context *ctx = *state;
    const int64_t N = 53, D = 7;
    test_rng rng = {12};
    float *x = malloc(N * D * 4), got[64];
    double ref[64];
    test_rng_fill(&rng, x, N * D, -2, 2);
    evk_reward *r;
    TEST_OK(evk_reward_parse(ctx,
                             "{\"type\":\"sum\",\"terms\":["
                             "{\"weight\":0.5,\"reward\":{\"type\":\"linear\",\"direction\":[1,-2,0.5,0.25,3,-1,0.1]}},"
                             "{\"weight\":2,\"reward\":{\"type\":\"gaussian_bump\",\"center\":[0.1,0.2,0.3,-0.4,0.5,0.6,-0.7],\"width\":1.5}},"
                             "{\"weight\":-1,\"reward\":{\"type\":\"neg_distance\",\"center\":[1,1,1,1,1,1,1]}}]}",
                             "test", &r));
    assert_int_equal(evk_reward_sample_numel(r), D);
    evk_tensor tx, to;
    int64_t sx[2] = {N, D}, so[1] = {N};
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 2, sx, &tx));
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 1, so, &to));
    TEST_OK(evk_tensor_upload_f32(ctx, &tx, x));
    test_poison(ctx, &to.buf);
    evk_stream *s;
    TEST_OK(evk_stream_create(ctx, &s));
    TEST_OK(evk_stream_begin(s));
    TEST_OK(evk_reward_evaluate(r, s, &tx, &to));
    TEST_OK(evk_stream_run(s));
    TEST_OK(evk_tensor_download_f32(ctx, &to, got));
    static const double dir[7] = {1, -2, 0.5, 0.25, 3, -1, 0.1}, cen[7] = {0.1, 0.2, 0.3, -0.4, 0.5, 0.6, -0.7};
    for (int64_t i = 0; i < N; i++) {
        double lin = 0, b = 0, d = 0;
        for (int64_t k = 0; k < D; k++) {
            double v = x[i * D + k];
            lin += dir[k] * v, b += (v - cen[k]) * (v - cen[k]), d += (v - 1) * (v - 1);
        }
        ref[i] = 0.5 * lin + 2 * exp(-b / (2 * 1.5 * 1.5)) + sqrt(d);
        double host;
        TEST_OK(evk_reward_eval_host(r, x + i * D, D, &host));
        assert_true(fabs(host - ref[i]) < 1e-9);
    }
    test_assert_close(got, ref, N, 1e-5, "sum reward");
    /* shape and format errors */
    evk_tensor bad;
    TEST_OK(evk_tensor_reshape(&tx, 1, (int64_t[]){N * D}, &bad));
    TEST_OK(evk_stream_begin(s));
    assert_int_equal(evk_reward_evaluate(r, s, &bad, &to), EVK_ERROR_INVALID_ARGUMENT);
    TEST_OK(evk_stream_run(s));
    evk_reward *r2;
    assert_int_equal(evk_reward_parse(ctx, "{\"type\":\"gaussian_bump\",\"center\":[1]}", "t", &r2), EVK_ERROR_FORMAT);
    assert_non_null(strstr(evk_error_message(), "width"));
    assert_int_equal(evk_reward_parse(ctx, "{\"type\":\"cosine\"}", "t", &r2), EVK_ERROR_FORMAT);
    assert_int_equal(evk_reward_parse(ctx, "{\"type\":\"sum\",\"terms\":[{\"weight\":1,\"reward\":{\"type\":\"linear\",\"direction\":[1]}},"
                                           "{\"weight\":1,\"reward\":{\"type\":\"linear\",\"direction\":[1,2]}}]}", "t", &r2),
                     EVK_ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(evk_error_message(), "term 1"));
    assert_int_equal(evk_reward_parse(ctx, "[1,2", "t", &r2), EVK_ERROR_FORMAT);
    evk_stream_destroy(s);
    evk_tensor_free(ctx, &tx), evk_tensor_free(ctx, &to);
    evk_reward_destroy(r);
    free(x);
}

static void expect_bad(const evk_search_config *c, uint32_t T, const char *needle) {
    evk_search_config out;
    assert_int_equal(evk_search_resolve(c, T, &out), EVK_ERROR_INVALID_ARGUMENT);
    if (!strstr(evk_error_message(), needle)) fail_msg("message '%s' lacks '%s'", evk_error_message(), needle);
}

static void test_bad_configurations(void **state) {
    evk_context *ctx = *state;
    expect_bad(&(evk_search_config){.method = EVK_SEARCH_EVO, .evolution_count = 3, .evolution_schedule = {0, 20, 20}, .population_count = 4,
                                    .population_schedule = {4, 4, 4, 4}}, 50, "increasing");
    expect_bad(&(evk_search_config){.method = EVK_SEARCH_EVO, .evolution_count = 2, .evolution_schedule = {0, 50}, .population_count = 3,
                                    .population_schedule = {4, 4, 4}}, 50, "not below");
    expect_bad(&(evk_search_config){.method = EVK_SEARCH_EVO, .evolution_count = 2, .evolution_schedule = {0, 10}, .population_count = 2,
                                    .population_schedule = {4, 4}}, 50, "needs 3");
    expect_bad(&(evk_search_config){.method = EVK_SEARCH_EVO, .evolution_count = 2, .evolution_schedule = {0, 10}, .population_count = 3,
                                    .population_schedule = {8, 4, 6}, .elites = 4}, 50, "elites");
    expect_bad(&(evk_search_config){.method = EVK_SEARCH_BON, .nfe = 49}, 50, "too small for one trajectory");
    expect_bad(&(evk_search_config){.method = EVK_SEARCH_EVO, .evolution_count = 0, .population_count = 1, .population_schedule = {8},
                                    .elites = 2}, 50, "need an evolution step");
    expect_bad(&(evk_search_config){.method = EVK_SEARCH_BON, .nfe = 500, .n = 10}, 50, "not both");
    /* a reward for other dimensions */
    toy t = load_toy(ctx, "toy2d");
    evk_reward *r64;
    TEST_OK(evk_reward_parse(ctx, "{\"type\":\"linear\",\"direction\":[1,2,3]}", "t", &r64));
    evk_sampler *smp = ddim(t.model, 5);
    evk_search_result *res = NULL;
    evk_search_config c = {.method = EVK_SEARCH_BON, .n = 2};
    assert_int_equal(evk_search_run(ctx, t.model, smp, r64, &c, &res), EVK_ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(evk_error_message(), "dimension mismatch"));
    assert_null(res);
    evk_reward_destroy(r64);
    evk_sampler_destroy(smp);
    free_toy(&t);
}

/* One search on its own context, with no cmocka calls (it runs in a thread): status only. */
typedef struct search_job {
    evk_context *ctx;
    const char *toy;
    evk_search_config config;
    evk_search_result *result;
    evk_status status;
} search_job;

static void *search_job_run(void *arg) {
    search_job *j = arg;
    char mp[512], rp[512];
    const char *src = getenv("EVOKE_SOURCE_DIR");
    snprintf(mp, sizeof mp, "%s/assets/gmm/%s.json", src ? src : ".", j->toy);
    snprintf(rp, sizeof rp, "%s/assets/gmm/%s_reward.json", src ? src : ".", j->toy);
    evk_model *model = NULL;
    evk_reward *reward = NULL;
    evk_sampler *smp = NULL;
    j->result = NULL;
    j->status = evk_model_load(j->ctx, mp, NULL, &model);
    if (!j->status) j->status = evk_reward_load(j->ctx, rp, &reward);
    if (!j->status) {
        const evk_model_info *mi = evk_model_get_info(model);
        evk_sampler_config c = {.kind = EVK_SAMPLER_DDIM, .schedule = mi->schedule, .prediction = mi->prediction, .steps = 12,
                                .eta = 1, .spacing = EVK_SPACING_TRAILING};
        j->status = evk_sampler_create(&c, &smp);
    }
    if (!j->status) j->status = evk_search_run(j->ctx, model, smp, reward, &j->config, &j->result);
    evk_sampler_destroy(smp);
    evk_reward_destroy(reward);
    evk_model_destroy(model);
    return NULL;
}

/* Two EvoSearch runs (different models, pools and seeds) in two threads at once, each on its own
 * context, equal bit for bit to the same runs one after the other. */
static void test_concurrent_searches(void **state) {
    (void)state;
    search_job jobs[2] = {
        {.toy = "toy2d", .config = {.method = EVK_SEARCH_EVO, .evolution_count = 3, .evolution_schedule = {0, 4, 8},
                                    .population_count = 4, .population_schedule = {24, 12, 12, 16}, .elites = 2, .seed = 5}},
        {.toy = "toy64d", .config = {.method = EVK_SEARCH_EVO, .evolution_count = 2, .evolution_schedule = {2, 6},
                                     .population_count = 3, .population_schedule = {20, 14, 18}, .elites = 3, .seed = 9}},
    };
    evk_search_result *sequential[2];
    for (int i = 0; i < 2; i++) {
        jobs[i].ctx = test_context_create();
        search_job_run(&jobs[i]);
        if (jobs[i].status) fail_msg("sequential %s: %s", jobs[i].toy, evk_error_message());
        sequential[i] = jobs[i].result;
    }
    pthread_t th[2];
    for (int i = 0; i < 2; i++) assert_int_equal(pthread_create(&th[i], NULL, search_job_run, &jobs[i]), 0);
    for (int i = 0; i < 2; i++) assert_int_equal(pthread_join(th[i], NULL), 0);
    for (int i = 0; i < 2; i++) {
        if (jobs[i].status) fail_msg("concurrent %s failed (status %s)", jobs[i].toy, evk_status_name(jobs[i].status));
        assert_same_result(jobs[i].result, sequential[i], jobs[i].toy);
        evk_search_result_free(jobs[i].result);
        evk_search_result_free(sequential[i]);
        test_context_destroy(jobs[i].ctx);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nfe_accounting),
        cmocka_unit_test(test_deterministic_and_chunked),
        cmocka_unit_test(test_evo_small_budgets),
        cmocka_unit_test(test_evo_video_shape),
        cmocka_unit_test(test_evo_beats_best_of_n),
        cmocka_unit_test(test_fk_round),
        cmocka_unit_test(test_rewards),
        cmocka_unit_test(test_bad_configurations),
        cmocka_unit_test(test_concurrent_searches),
    };
    return cmocka_run_group_tests(tests, test_group_setup, test_group_teardown);
}
