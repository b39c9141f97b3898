/* search.c — the strategies on top of the trajectory engine: plain sampling and Best-of-N,
 * particle sampling (FK steering) and EvoSearch, plus the result they hand back. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine.h"
#include "ops/op_layout.h"
#include "ops/op_reduce.h"

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

typedef struct evk__run {
    evk__engine e;
    evk_search_result *res;
    uint32_t gen_cap;
    float *host_scores;
} evk__run;

static evk_status evk__alloc_rows(evk_context *ctx, int64_t rows, int64_t numel, evk_tensor *t) {
    int64_t sh[2] = {rows, numel};
    return evk_tensor_alloc(ctx, EVK_DTYPE_F32, 2, sh, t);
}

/* Read n scores back, record a generation entry and offer the best row of x (final samples only). */
static evk_status evk__collect(evk__run *R, const evk_tensor *scores, uint32_t n, uint32_t index, uint32_t step, const evk_tensor *x,
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
static evk_status evk__finish(evk__run *R, const evk_tensor *x, uint32_t n) {
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

static evk_status evk__run_bon(evk__run *R) {
    evk__engine *e = &R->e;
    uint32_t n = e->cfg->n;
    evk_tensor x, sc;
    memset(&x, 0, sizeof x), memset(&sc, 0, sizeof sc);
    evk_status st = evk__alloc_rows(e->ctx, n, e->numel, &x);
    if (!st) st = evk__alloc_rows(e->ctx, n, 1, &sc);
    if (!st) st = evk__engine_noise(e, &x, 0, n, 0);
    if (!st) st = evk__engine_denoise(e, &x, 0, n, 0, 0, e->T, NULL, 0, NULL, 0);
    if (!st) st = evk__engine_score(e, &x, 0, n, &sc);
    if (!st) st = evk__engine_run(e);
    if (!st) st = evk__collect(R, &sc, n, 0, e->T, &x, true, 0, false);
    if (!st) st = evk__finish(R, &x, n);
    evk_tensor_free(e->ctx, &x);
    evk_tensor_free(e->ctx, &sc);
    return st;
}

static evk_status evk__run_fk(evk__run *R) {
    evk__engine *e = &R->e;
    const evk_search_config *c = e->cfg;
    uint32_t n = c->n, T = e->T;
    evk_tensor x[2], x0, sc, anc;
    memset(x, 0, sizeof x), memset(&x0, 0, sizeof x0), memset(&sc, 0, sizeof sc), memset(&anc, 0, sizeof anc);
    double *state = calloc(n, sizeof *state), *w = malloc(n * sizeof *w), *rw = malloc(n * sizeof *rw);
    uint32_t *ancestors = malloc(n * sizeof *ancestors);
    int32_t *anc32 = malloc(n * sizeof *anc32);
    evk_status st = state && w && rw && ancestors && anc32 ? EVK_OK : evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    for (uint32_t i = 0; i < n && w; i++) w[i] = 1;
    if (!st) st = evk__alloc_rows(e->ctx, n, e->numel, &x[0]);
    if (!st) st = evk__alloc_rows(e->ctx, n, e->numel, &x[1]);
    if (!st) st = evk__alloc_rows(e->ctx, n, e->numel, &x0);
    if (!st) st = evk__alloc_rows(e->ctx, n, 1, &sc);
    if (!st) {
        int64_t s1[1] = {n};
        st = evk_tensor_alloc(e->ctx, EVK_DTYPE_I32, 1, s1, &anc);
    }
    int cur = 0;
    if (!st) st = evk__engine_noise(e, &x[0], 0, n, 0);
    uint32_t first = (uint32_t)lround(c->fk_start * T), last = (uint32_t)lround(c->fk_end * T), step = 0, round = 0;
    for (uint32_t r = first; !st && r <= last && r < T; r += c->fk_interval) {
        /* steps up to r, with the x̂0 prediction at r, then score it */
        st = evk__engine_denoise(e, &x[cur], 0, n, 0, step, r + 1, NULL, 0, &x0, r);
        if (!st) st = evk__engine_score(e, &x0, 0, n, &sc);
        if (!st) st = evk__engine_run(e);
        step = r + 1;
        if (st) break;
        evk_tensor sv;
        st = evk_tensor_rows(&sc, 0, n, &sv);
        if (!st) st = evk_tensor_download_f32(e->ctx, &sv, R->host_scores);
        for (uint32_t i = 0; !st && i < n; i++) rw[i] = R->host_scores[i];
        double ess = 0;
        bool resampled = false;
        evk_noise_key key = {.seed = c->seed, .stream = round, .counter = r, .domain = EVK_NOISE_HOST};
        if (!st) st = evk_fk_round(n, rw, state, w, c->fk_potential, c->fk_lambda, c->fk_ess_fraction, &key, ancestors, &ess, &resampled);
        if (!st) st = evk__collect(R, &sc, n, round, r, NULL, false, ess, resampled);
        if (!st && resampled) {
            for (uint32_t i = 0; i < n; i++) anc32[i] = (int32_t)ancestors[i];
            st = evk_buffer_upload(e->ctx, &anc.buf, 0, anc32, n * sizeof *anc32);
            if (!st) st = evk__engine_begin(e);
            if (!st) st = evk_op_gather_rows(e->s, &x[cur], &anc, &x[1 - cur]);
            cur = 1 - cur;
        }
        round++;
    }
    if (!st) st = evk__engine_denoise(e, &x[cur], 0, n, 0, step, T, NULL, 0, NULL, 0);
    if (!st) st = evk__engine_score(e, &x[cur], 0, n, &sc);
    if (!st) st = evk__engine_run(e);
    if (!st) st = evk__collect(R, &sc, n, round, T, &x[cur], true, 0, false);
    if (!st) st = evk__finish(R, &x[cur], n);
    evk_tensor_free(e->ctx, &x[0]), evk_tensor_free(e->ctx, &x[1]), evk_tensor_free(e->ctx, &x0);
    evk_tensor_free(e->ctx, &sc), evk_tensor_free(e->ctx, &anc);
    free(state), free(w), free(rw), free(ancestors), free(anc32);
    return st;
}

/* pool entry order: reward descending, then archive row */
static const float *evk__sort_tags;
static int evk__pool_cmp(const void *a, const void *b) {
    uint32_t i = *(const uint32_t *)a, j = *(const uint32_t *)b;
    float x = evk__sort_tags[i], y = evk__sort_tags[j];
    if (isnan(x) != isnan(y)) return isnan(x) ? 1 : -1;
    if (!isnan(x) && x != y) return x > y ? -1 : 1;
    return (i > j) - (i < j);
}

static evk_status evk__run_evo(evk__run *R) {
    evk__engine *e = &R->e;
    const evk_search_config *c = e->cfg;
    const uint32_t K = c->evolution_count, T = e->T, *S = c->evolution_schedule, *P = c->population_schedule;
    uint32_t pmax = 0, cap[EVK_SEARCH_MAX_GENERATIONS], count[EVK_SEARCH_MAX_GENERATIONS] = {0}, total_cap = 0;
    for (uint32_t g = 0; g <= K; g++) pmax = P[g] > pmax ? P[g] : pmax;
    for (uint32_t h = 0; h < K; h++) {
        cap[h] = 0;
        for (uint32_t g = 0; g <= h; g++) cap[h] += P[g];
        total_cap += cap[h];
    }
    evk_tensor x, sc, idx, coef, arch[EVK_SEARCH_MAX_GENERATIONS];
    memset(arch, 0, sizeof arch), memset(&x, 0, sizeof x), memset(&sc, 0, sizeof sc), memset(&idx, 0, sizeof idx), memset(&coef, 0, sizeof coef);
    float *tags[EVK_SEARCH_MAX_GENERATIONS] = {0}, *hcoef = malloc(2 * pmax * sizeof(float));
    uint32_t *order = malloc(total_cap * sizeof *order), *scratch = malloc(total_cap * sizeof *scratch), *perm = malloc(total_cap * sizeof *perm);
    int32_t *hidx = malloc(pmax * sizeof *hidx);
    evk_status st = hcoef && order && scratch && perm && hidx ? EVK_OK : evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    if (!st) st = evk__alloc_rows(e->ctx, pmax, e->numel, &x);
    if (!st) st = evk__alloc_rows(e->ctx, pmax, 1, &sc);
    if (!st) st = evk__alloc_rows(e->ctx, pmax, 2, &coef);
    if (!st) {
        int64_t s1[1] = {pmax};
        st = evk_tensor_alloc(e->ctx, EVK_DTYPE_I32, 1, s1, &idx);
    }
    for (uint32_t h = 0; h < K && !st; h++) {
        st = evk__alloc_rows(e->ctx, cap[h], e->numel, &arch[h]);
        if (!st && !(tags[h] = malloc(cap[h] * sizeof(float)))) st = evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    /* generation 0 starts from noise at step 0; the children of generation g resume at s_g */
    uint32_t pop = P[0], next_id = P[0], ids = 0, start = 0, first_level = 0;
    if (!st) st = evk__engine_noise(e, &x, 0, pop, 0);
    for (uint32_t g = 0; g <= K && !st; g++) {
        /* roll out to the end, archiving the states entering s_h for h >= first_level */
        evk__archive_point pts[EVK_SEARCH_MAX_GENERATIONS];
        uint32_t np = 0;
        for (uint32_t h = first_level; h < K; h++) pts[np++] = (evk__archive_point){S[h], &arch[h], count[h]};
        st = evk__engine_denoise(e, &x, 0, pop, ids, start, T, pts, np, NULL, 0);
        if (!st) st = evk__engine_score(e, &x, 0, pop, &sc);
        if (!st) st = evk__engine_run(e);
        if (!st) st = evk__collect(R, &sc, pop, g, g < K ? S[g] : T, &x, true, 0, false);
        if (st || g == K) break;
        for (uint32_t h = first_level; h < K; h++) {
            memcpy(tags[h] + count[h], R->host_scores, pop * sizeof(float));
            count[h] += pop;
        }
        /* selection from the pool at s_g: elites, then tournaments over a random subset */
        uint32_t M = count[g], kids = P[g + 1], el = c->elites < kids ? c->elites : kids - 1;
        if (el > M) el = M;
        for (uint32_t i = 0; i < M; i++) order[i] = i;
        evk__sort_tags = tags[g];
        qsort(order, M, sizeof *order, evk__pool_cmp);
        uint32_t keep = (uint32_t)lround(c->tournament_fraction * M);
        if (keep < 1) keep = 1;
        for (uint32_t i = 0; i < M; i++) perm[i] = i, scratch[i] = 0;
        for (uint32_t j = 0; j < kids; j++) {
            if (j < el) {
                hidx[j] = (int32_t)order[j];
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
                hidx[j] = (int32_t)order[i];
            }
            /* coefficients: elites unchanged; first generation √(1−β²)·x + β·ε, later x + σ_{s_g}·ε */
            double beta = c->mutation_rate, sig = evk_sampler_noise_std(e->sampler, S[g]);
            hcoef[2 * j] = j < el ? 1.0f : g == 0 ? (float)sqrt(1 - beta * beta) : 1.0f;
            hcoef[2 * j + 1] = j < el ? 0.0f : g == 0 ? (float)beta : (float)sig;
        }
        evk_tensor iv, cv, xv;
        st = evk_tensor_rows(&idx, 0, kids, &iv);
        if (!st) st = evk_tensor_rows(&coef, 0, kids, &cv);
        if (!st) st = evk_tensor_rows(&x, 0, kids, &xv);
        if (!st) st = evk_buffer_upload(e->ctx, &idx.buf, 0, hidx, kids * sizeof *hidx);
        if (!st) st = evk_tensor_upload_f32(e->ctx, &cv, hcoef);
        if (!st) st = evk__engine_begin(e);
        /* gather the pool rows into the population (arch[g] is not written while it is read) */
        if (!st) {
            evk_tensor src;
            st = evk_tensor_rows(&arch[g], 0, M, &src);
            if (!st) st = evk_op_gather_rows(e->s, &src, &iv, &xv);
        }
        evk_noise_key mk = {.seed = c->seed, .stream = next_id, .counter = g, .domain = EVK_NOISE_MUTATION};
        if (!st) st = evk_op_mutate_affine(e->s, &xv, &cv, &mk);
        pop = kids, ids = next_id, next_id += kids, start = S[g], first_level = g + 1;
    }
    if (!st) st = evk__finish(R, &x, pop);
    evk_tensor_free(e->ctx, &x), evk_tensor_free(e->ctx, &sc), evk_tensor_free(e->ctx, &idx), evk_tensor_free(e->ctx, &coef);
    for (uint32_t h = 0; h < K; h++) {
        if (arch[h].buf.block) evk_tensor_free(e->ctx, &arch[h]);
        free(tags[h]);
    }
    free(hcoef), free(order), free(scratch), free(perm), free(hidx);
    return st;
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
    uint32_t pmax = c->n;
    if (c->method == EVK_SEARCH_EVO)
        for (uint32_t g = 0; g <= c->evolution_count; g++) pmax = c->population_schedule[g] > pmax ? c->population_schedule[g] : pmax;
    evk__run R = {.res = res};
    evk_pipeline_stats ps0, ps1;
    evk_pipeline_get_stats(ctx, &ps0);
    double t0 = evk__clock();
    st = evk__engine_init(&R.e, ctx, model, sampler, reward, c, pmax);
    if (!st && !(R.host_scores = malloc(pmax * sizeof(float)))) st = evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    res->steps = T;
    res->sample_numel = evk_model_sample_numel(model);
    if (!st) {
        if (c->method == EVK_SEARCH_FK) st = evk__run_fk(&R);
        else if (c->method == EVK_SEARCH_EVO) st = evk__run_evo(&R);
        else st = evk__run_bon(&R);
    }
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
