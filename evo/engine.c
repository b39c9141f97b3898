/* engine.c — the trajectory engine: chunked model calls, sampler steps, archive copies, x̂0
 * predictions and reward scoring recorded into one stream per rollout. See engine.h. */
#include "engine.h"

#include <math.h>
#include "search.h"
#include "strategy.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ops/op_fill.h"
#include "ops/op_layout.h"
#include "ops/op_reduce.h"

static double evk__now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

evk_status evk__engine_init(evk__engine *e, evk_context *ctx, evk_model *model, const evk_sampler *sampler, evk_reward *reward,
                            const evk_search_config *cfg, uint32_t population_max) {
    memset(e, 0, sizeof *e);
    e->ctx = ctx, e->model = model, e->sampler = sampler, e->reward = reward, e->cfg = cfg, e->shard = cfg->shard;
    e->T = evk_sampler_steps(sampler);
    e->cost = evk__search_cost(cfg);
    e->numel = evk_model_sample_numel(model);
    e->decoded_numel = evk_model_decoded_numel(model);
    /* chunk: the option, else the population, bounded by the binding range and a quarter of the
     * memory budget for the per-item scratch */
    const evk_device_info *dev = evk_context_device(ctx);
    uint64_t item = (uint64_t)e->numel * 4 * (1 + (e->cost == 2)) + 12 + evk_model_get_info(model)->scratch_per_item +
                    (evk_model_has_decode(model) ? (uint64_t)e->decoded_numel * 4 : 0);
    evk_memory_stats ms;
    evk_memory_get_stats(ctx, &ms);
    uint64_t chunk = cfg->chunk ? cfg->chunk : population_max;
    if (chunk > population_max) chunk = population_max;
    uint64_t by_range = dev->max_storage_buffer_range / ((uint64_t)(e->decoded_numel > e->numel ? e->decoded_numel : e->numel) * 4);
    if (chunk > by_range) chunk = by_range;
    if (ms.budget && chunk > ms.budget / 4 / item) chunk = ms.budget / 4 / item;
    if (chunk < 1)
        return evk_fail(EVK_ERROR_OUT_OF_DEVICE_MEMORY,
                        "out of device memory: the search needs %.1f MiB of scratch per individual, more than a quarter of the "
                        "memory budget (%.1f MiB) allows", item / 1048576.0, ms.budget / 1048576.0);
    e->chunk = (uint32_t)chunk;
    int64_t sh[EVK_MAX_DIMS] = {(int64_t)chunk, e->numel}, s1[1] = {(int64_t)chunk};
    EVK_TRY(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 2, sh, &e->out));
    if (e->cost == 2) EVK_TRY(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 2, sh, &e->out_u));
    /* the noise level of every step for up to `chunk` items, uploaded once: no per-step fills.
     * Rows are padded to 64 values so every row view starts at an aligned offset. */
    (void)s1;
    e->level_stride = ((int64_t)chunk + 63) / 64 * 64;
    int64_t sl[2] = {3 * (int64_t)e->T, e->level_stride};
    EVK_TRY(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 2, sl, &e->levels));
    float *lv = malloc((size_t)(sl[0] * sl[1]) * sizeof *lv);
    if (!lv) return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    for (uint32_t i = 0; i < e->T; i++) {
        const evk_sampler_step *st = evk_sampler_get_step(sampler, i);
        for (int64_t r = 0; r < e->level_stride; r++) {
            lv[(0 * e->T + i) * e->level_stride + r] = (float)st->timestep;
            lv[(1 * e->T + i) * e->level_stride + r] = (float)st->alpha;
            lv[(2 * e->T + i) * e->level_stride + r] = (float)st->sigma;
        }
    }
    evk_status ls = evk_tensor_upload_f32(ctx, &e->levels, lv);
    free(lv);
    EVK_TRY(ls);
    if (evk_model_has_decode(model)) {
        int64_t sd[2] = {(int64_t)chunk, e->decoded_numel};
        EVK_TRY(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 2, sd, &e->dec));
    }
    if (cfg->step_noise && cfg->step_noise_count) {
        /* uploaded once: row i·count + n is step i of trajectory n */
        int64_t sn[2] = {(int64_t)e->T * cfg->step_noise_count, e->numel};
        EVK_TRY(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 2, sn, &e->step_noise));
        EVK_TRY(evk_tensor_upload_f32(ctx, &e->step_noise, cfg->step_noise));
    }
    int64_t sb[2] = {1, e->numel};
    EVK_TRY(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 2, sb, &e->best));
    if (evk_model_has_decode(model)) {
        int64_t sbd[2] = {1, e->decoded_numel};
        EVK_TRY(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 2, sbd, &e->best_dec));
    }
    return evk_stream_create(ctx, &e->s);
}

void evk__engine_destroy(evk__engine *e) {
    if (e->s) {
        evk_stream_wait(e->s, 0);
        evk_stream_destroy(e->s);
    }
    evk_tensor *ts[] = {&e->out, &e->out_u, &e->levels, &e->dec, &e->step_noise, &e->best, &e->best_dec};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++)
        if (ts[i]->buf.block) evk_tensor_free(e->ctx, ts[i]);
}

evk_status evk__engine_begin(evk__engine *e) {
    if (e->recording) return EVK_OK;
    EVK_TRY(evk_stream_begin(e->s));
    e->recording = true;
    e->stage_t0 = evk__now();
    return EVK_OK;
}

/* With stage timing: run what is recorded (the stage), add its time to the sums and tell the
 * caller's callback. Without: nothing (the rollout stays one submission). */
static evk_status evk__engine_stage(evk__engine *e, evk_search_stage_kind kind, uint32_t step, uint32_t population) {
    evk_search_stage_times *t = e->times;
    if (!t || !e->recording) return EVK_OK;
    EVK_TRY(evk__engine_run(e));
    evk_search_stage st = {kind, step, population, evk__now() - e->stage_t0, -1.0};
    double gpu_ms = evk_stream_gpu_ms(e->s);
    if (gpu_ms >= 0) st.gpu_seconds = gpu_ms / 1e3;
    double add_gpu = st.gpu_seconds >= 0 ? st.gpu_seconds : 0;
    if (kind == EVK_STAGE_STEP && step < t->step_count) {
        t->step_seconds[step] += st.seconds;
        if (st.gpu_seconds >= 0) t->step_gpu_seconds[step] = (t->step_gpu_seconds[step] < 0 ? 0 : t->step_gpu_seconds[step]) + add_gpu;
        t->step_runs[step]++;
    } else if (kind == EVK_STAGE_DECODE) {
        t->decode_seconds += st.seconds, t->decode_gpu_seconds += add_gpu, t->decode_runs++;
    } else if (kind == EVK_STAGE_REWARD) {
        t->reward_seconds += st.seconds, t->reward_gpu_seconds += add_gpu, t->reward_runs++;
    }
    if (e->cfg->stage) e->cfg->stage(e->cfg->user, &st);
    return EVK_OK;
}

evk_status evk__engine_run(evk__engine *e) {
    if (!e->recording) return EVK_OK;
    e->dispatches += evk_stream_dispatch_count(e->s);
    e->recording = false;
    EVK_TRY(evk_stream_submit(e->s));
    e->submissions++;
    double t0 = evk__now();
    evk_status st = evk_stream_wait(e->s, 0);
    e->wait_seconds += evk__now() - t0;
    return st;
}

evk_status evk__engine_noise(evk__engine *e, const evk_tensor *x, int64_t row0, int64_t n, uint32_t id0) {
    if (n == 0) return EVK_OK; /* a rank without individuals in this population */
    EVK_TRY(evk__engine_begin(e));
    e->dec_rows = 0; /* states change: what dec holds no longer matches them */
    for (int64_t c = 0; c < n; c += e->chunk) {
        int64_t m = n - c < e->chunk ? n - c : e->chunk;
        evk_tensor v;
        EVK_TRY(evk_tensor_rows(x, row0 + c, m, &v));
        evk_noise_key k = {.seed = e->cfg->seed, .stream = id0 + (uint32_t)c, .counter = 0, .domain = EVK_NOISE_INITIAL};
        EVK_TRY(evk_op_random_normal(e->s, &v, &k));
    }
    /* given initial noise replaces the draws of its trajectories (written in stream order) */
    for (int64_t r = 0; e->cfg->initial_noise && r < n; r++) {
        uint64_t id = (uint64_t)id0 + (uint64_t)r;
        if (id >= e->cfg->initial_count) continue;
        uint64_t bytes = (uint64_t)e->numel * 4;
        EVK_TRY(evk_stream_update(e->s, &x->buf, (uint64_t)(row0 + r) * bytes, e->cfg->initial_noise + id * (uint64_t)e->numel, bytes));
    }
    return EVK_OK;
}

/* [m] view of the levels of kind k (0 timestep, 1 alpha, 2 sigma) at step i */
static evk_tensor evk__level(const evk__engine *e, int k, uint32_t i, int64_t m) {
    evk_tensor v = e->levels;
    v.ndim = 1;
    v.shape[0] = m;
    v.buf.offset += (uint64_t)(((int64_t)k * e->T + i) * e->level_stride) * 4;
    v.buf.size = (uint64_t)m * 4;
    return v;
}

evk_status evk__engine_denoise(evk__engine *e, const evk_tensor *x, int64_t row0, int64_t n, uint32_t id0, uint32_t from, uint32_t to,
                               const evk__archive_point *archive, uint32_t archive_count, const evk_tensor *x0, uint32_t x0_step) {
    if (from > to || to > e->T) return evk_fail(EVK_ERROR_INTERNAL, "search: steps [%u, %u) outside 0..%u", from, to, e->T);
    EVK_TRY(evk__engine_begin(e));
    e->dec_rows = 0;
    uint64_t rowbytes = (uint64_t)e->numel * 4;
    for (uint32_t i = from; i <= to; i++) {
        for (uint32_t a = 0; a < archive_count && n > 0; a++)
            if (archive[a].step == i)
                EVK_TRY(evk_stream_copy(e->s, &x->buf, (uint64_t)row0 * rowbytes, &archive[a].dst->buf, (uint64_t)archive[a].row * rowbytes,
                                        (uint64_t)n * rowbytes));
        if (i == to) break;
        for (int64_t c = 0; c < n; c += e->chunk) {
            int64_t m = n - c < e->chunk ? n - c : e->chunk;
            evk_tensor xv, ov, ouv, tv = evk__level(e, 0, i, m), av = evk__level(e, 1, i, m), bv = evk__level(e, 2, i, m);
            EVK_TRY(evk_tensor_rows(x, row0 + c, m, &xv));
            EVK_TRY(evk_tensor_rows(&e->out, 0, m, &ov));
            evk_model_input in = {.x = &xv, .timestep = &tv, .alpha = &av, .sigma = &bv, .cond = e->cfg->cond, .guidance = e->cfg->guidance};
            /* each trajectory's own w (ids rise with rows), and the step's motion scale */
            float wrow[64], *wv = NULL;
            uint64_t gid = (uint64_t)id0 + (uint64_t)c;
            if (e->cfg->guidance_items && gid < e->cfg->guidance_count) {
                wv = m <= 64 ? wrow : malloc((size_t)m * sizeof *wv);
                if (!wv) return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
                for (int64_t r = 0; r < m; r++)
                    wv[r] = gid + (uint64_t)r < e->cfg->guidance_count ? e->cfg->guidance_items[gid + (uint64_t)r] : e->cfg->guidance;
                in.guidance_items = wv;
            }
            if (e->cfg->motion) {
                const evk_sampler_config *sc = evk_sampler_get_config(e->sampler);
                double threshold = (double)(sc->train_timesteps ? sc->train_timesteps : 1000) * (1.0 - e->cfg->motion_percentage);
                in.motion = true;
                in.motion_guidance = evk_sampler_get_step(e->sampler, i)->timestep < threshold ? 0.0f : e->cfg->motion_guidance;
            }
            if (e->cost == 2) {
                EVK_TRY(evk_tensor_rows(&e->out_u, 0, m, &ouv));
                evk_status fs = evk_model_forward_guided(e->model, e->s, &in, e->cfg->uncond, e->cfg->guidance, &ouv, &ov);
                if (wv && wv != wrow) free(wv);
                EVK_TRY(fs);
            } else {
                evk_status fs = evk_model_forward(e->model, e->s, &in, &ov);
                if (wv && wv != wrow) free(wv);
                EVK_TRY(fs);
            }
            if (x0 && i == x0_step) {
                evk_tensor pv;
                EVK_TRY(evk_tensor_rows(x0, c, m, &pv));
                EVK_TRY(evk_op_sampler_x0(e->s, e->sampler, i, &xv, &ov, &pv));
            }
            /* rows whose trajectories have given noise (a prefix: ids rise with rows) step with it */
            uint64_t id = (uint64_t)id0 + (uint64_t)c, given_n = e->cfg->step_noise_count;
            int64_t g = e->step_noise.buf.block && id < given_n ? (int64_t)(given_n - id < (uint64_t)m ? given_n - id : (uint64_t)m) : 0;
            if (g > 0) {
                evk_tensor xg, og, zg;
                EVK_TRY(evk_tensor_rows(&xv, 0, g, &xg));
                EVK_TRY(evk_tensor_rows(&ov, 0, g, &og));
                EVK_TRY(evk_tensor_rows(&e->step_noise, (int64_t)(i * given_n + id), g, &zg));
                EVK_TRY(evk_op_sampler_step_given(e->s, e->sampler, i, &xg, &og, &zg));
            }
            if (g < m) {
                evk_tensor xd = xv, od = ov;
                if (g > 0) {
                    EVK_TRY(evk_tensor_rows(&xv, g, m - g, &xd));
                    EVK_TRY(evk_tensor_rows(&ov, g, m - g, &od));
                }
                evk_noise_key k = {.seed = e->cfg->seed, .stream = id0 + (uint32_t)(c + g), .counter = i, .domain = EVK_NOISE_SAMPLER};
                EVK_TRY(evk_op_sampler_step(e->s, e->sampler, i, &xd, &od, &k));
            }
        }
        e->nfe += (uint64_t)n * e->cost;
        e->steps_recorded++;
        if (e->times) {
            EVK_TRY(evk__engine_stage(e, EVK_STAGE_STEP, i, (uint32_t)n));
            EVK_TRY(evk__engine_begin(e));
        }
    }
    return EVK_OK;
}

evk_status evk__engine_score(evk__engine *e, const evk_tensor *x, int64_t row0, int64_t n, const evk_tensor *scores) {
    if (n == 0) return EVK_OK;
    EVK_TRY(evk__engine_begin(e));
    for (int64_t c = 0; c < n; c += e->chunk) {
        int64_t m = n - c < e->chunk ? n - c : e->chunk;
        evk_tensor xv, sv;
        EVK_TRY(evk_tensor_rows(x, row0 + c, m, &xv));
        EVK_TRY(evk_tensor_rows(scores, c, m, &sv));
        if (!e->reward) {
            EVK_TRY(evk_op_fill_bits(e->s, &sv.buf, 0, (uint64_t)m, 0)); /* 0.0f */
        } else if (evk_model_has_decode(e->model)) {
            evk_tensor dv;
            EVK_TRY(evk_tensor_rows(&e->dec, 0, m, &dv));
            EVK_TRY(evk_model_decode(e->model, e->s, &xv, &dv));
            if (e->times) {
                EVK_TRY(evk__engine_stage(e, EVK_STAGE_DECODE, 0, (uint32_t)m));
                EVK_TRY(evk__engine_begin(e));
            }
            EVK_TRY(evk_reward_evaluate(e->reward, e->s, &dv, &sv));
            e->dec_src = x->buf, e->dec_row0 = row0 + c, e->dec_rows = m; /* the last chunk stays in dec */
        } else {
            EVK_TRY(evk_reward_evaluate(e->reward, e->s, &xv, &sv));
        }
        if (e->times && e->reward) {
            EVK_TRY(evk__engine_stage(e, EVK_STAGE_REWARD, 0, (uint32_t)m));
            EVK_TRY(evk__engine_begin(e));
        }
    }
    if (e->reward) e->reward_calls += (uint64_t)n;
    return EVK_OK;
}

evk_status evk__engine_offer_best(evk__engine *e, const evk_tensor *x, int64_t row, double reward, uint32_t owner) {
    if (e->have_best && !(reward > e->best_reward)) return EVK_OK;
    e->best_owner = owner;
    if (!x) { /* another rank's sample */
        e->have_best = true, e->best_reward = reward, e->best_dec_ready = false;
        return EVK_OK;
    }
    EVK_TRY(evk__engine_begin(e));
    uint64_t rowbytes = (uint64_t)e->numel * 4;
    EVK_TRY(evk_stream_copy(e->s, &x->buf, (uint64_t)row * rowbytes, &e->best.buf, 0, rowbytes));
    e->have_best = true;
    e->best_reward = reward;
    e->best_dec_ready = false;
    if (e->best_dec.buf.block && e->dec_rows && e->dec_src.block == x->buf.block && e->dec_src.offset == x->buf.offset &&
        row >= e->dec_row0 && row < e->dec_row0 + e->dec_rows) {
        uint64_t decbytes = (uint64_t)e->decoded_numel * 4;
        EVK_TRY(evk_stream_copy(e->s, &e->dec.buf, (uint64_t)(row - e->dec_row0) * decbytes, &e->best_dec.buf, 0, decbytes));
        e->best_dec_ready = true;
    }
    return EVK_OK;
}

evk_status evk__engine_decode_best(evk__engine *e) {
    if (!e->best_dec.buf.block || !e->have_best || e->best_dec_ready || e->best_owner != evk_shard_rank(e->shard)) return EVK_OK;
    if (e->times) EVK_TRY(evk__engine_run(e)); /* what was recorded before is not the decode's */
    EVK_TRY(evk__engine_begin(e));
    EVK_TRY(evk_model_decode(e->model, e->s, &e->best, &e->best_dec));
    e->best_dec_ready = true;
    return evk__engine_stage(e, EVK_STAGE_DECODE, 0, 1);
}

evk_status evk__engine_move_rows(evk__engine *e, const evk_tensor *src, int64_t src_rows, uint32_t n, const uint32_t *src_rank,
                                 const uint32_t *src_row, const evk_tensor *idx, const evk_tensor *dst) {
    if (evk_shard_size(e->shard) == 1) {
        int32_t *h = malloc((n ? n : 1) * sizeof *h);
        if (!h) return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
        for (uint32_t j = 0; j < n; j++) h[j] = (int32_t)src_row[j];
        evk_status st = evk_buffer_upload(e->ctx, &idx->buf, 0, h, n * sizeof *h);
        free(h);
        evk_tensor iv, sv, dv;
        EVK_TRY(st);
        EVK_TRY(evk_tensor_rows(idx, 0, n, &iv));
        EVK_TRY(evk_tensor_rows(src, 0, src_rows, &sv));
        EVK_TRY(evk_tensor_rows(dst, 0, n, &dv));
        EVK_TRY(evk__engine_begin(e));
        return evk_op_gather_rows(e->s, &sv, &iv, &dv);
    }
    /* several ranks: this rank's source rows to the host, the exchange, its block back up */
    uint32_t first, count;
    evk_shard_range(e->shard, n, &first, &count);
    EVK_TRY(evk__engine_run(e));
    size_t row = (size_t)e->numel * sizeof(float);
    float *hs = malloc(src_rows ? (size_t)src_rows * row : 1), *hd = malloc(count ? (size_t)count * row : 1);
    evk_status st = hs && hd ? EVK_OK : evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    evk_tensor v;
    if (!st && src_rows && !(st = evk_tensor_rows(src, 0, src_rows, &v))) st = evk_tensor_download_f32(e->ctx, &v, hs);
    if (!st) st = evk_shard_exchange_rows(e->shard, n, src_rank, src_row, hs, row, hd, "transfer of parent states");
    if (!st && count && !(st = evk_tensor_rows(dst, 0, count, &v))) st = evk_tensor_upload_f32(e->ctx, &v, hd);
    free(hs), free(hd);
    return st;
}

/* ---- a strategy's run: the shared parts -------------------------------------------------------- */

static double evk__clock(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

evk_status evk__alloc_rows(evk_context *ctx, int64_t rows, int64_t numel, evk_tensor *t) {
    int64_t sh[2] = {rows, numel};
    return evk_tensor_alloc(ctx, EVK_DTYPE_F32, 2, sh, t);
}

evk_status evk__scores(evk__run *R, const evk_tensor *scores, uint32_t n) {
    evk_shard *sh = R->e.shard;
    uint32_t first, count;
    evk_shard_range(sh, n, &first, &count);
    evk_tensor sv;
    float *mine = evk_shard_size(sh) == 1 ? R->host_scores : R->local_scores;
    if (count) {
        EVK_TRY(evk_tensor_rows(scores, 0, count, &sv));
        EVK_TRY(evk_tensor_download_f32(R->e.ctx, &sv, mine));
    }
    EVK_TRY(evk_shard_gather(sh, mine, sizeof(float), n, R->host_scores, false, "all-gather of scores"));
    uint64_t counts[2] = {R->e.nfe, R->e.reward_calls};
    EVK_TRY(evk_shard_sum_u64(sh, counts, 2, "sum of evaluation counts"));
    R->nfe = counts[0], R->reward_calls = counts[1];
    return EVK_OK;
}

/* Record a generation entry and offer the best individual (final samples only). */
evk_status evk__collect(evk__run *R, const evk_tensor *scores, uint32_t n, uint32_t index, uint32_t step, const evk_tensor *x,
                               bool final, double ess, bool resampled) {
    if (scores) EVK_TRY(evk__scores(R, scores, n));
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
    if (final && arg >= 0) {
        uint32_t local, owner = evk_shard_owner(R->e.shard, n, (uint32_t)arg, &local);
        bool mine = owner == evk_shard_rank(R->e.shard);
        EVK_TRY(evk__engine_offer_best(&R->e, mine ? x : NULL, local, best, owner));
    }
    evk_search_result *res = R->res;
    if (res->generation_count == R->gen_cap) {
        uint32_t cap = R->gen_cap ? 2 * R->gen_cap : 16;
        evk_search_generation *g = realloc(res->generations, cap * sizeof *g);
        if (!g) return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
        res->generations = g, R->gen_cap = cap;
    }
    res->generations[res->generation_count++] = (evk_search_generation){index, step, n, best, sum / finite, worst, R->nfe, ess, resampled};
    const evk_search_config *c = R->e.cfg;
    if (c->progress) {
        evk_search_progress p = {c->method, index, step, n, R->nfe, R->e.have_best ? R->e.best_reward : best};
        c->progress(c->user, &p);
    }
    return EVK_OK;
}

/* Download the final population (rows [0, n) of x) and its scores into the result. */
evk_status evk__finish(evk__run *R, const evk_tensor *x, uint32_t n) {
    evk_search_result *res = R->res;
    evk__engine *e = &R->e;
    EVK_TRY(evk__engine_decode_best(e));
    EVK_TRY(evk__engine_run(e)); /* a pending best-sample copy or decode */
    evk_shard *sh = e->shard;
    bool single = evk_shard_size(sh) == 1, owner = e->best_owner == evk_shard_rank(sh);
    uint32_t first, count;
    evk_shard_range(sh, n, &first, &count);
    size_t row = (size_t)e->numel * sizeof(float);
    res->population_size = n;
    res->population = calloc((size_t)n, row);
    res->population_rewards = malloc(n * sizeof(float));
    res->best_sample = malloc(row);
    float *mine = single ? res->population : malloc(count ? count * row : 1);
    evk_status st = res->population && res->population_rewards && res->best_sample && mine ? EVK_OK
                                                                                            : evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    evk_tensor xv;
    if (!st && count && !(st = evk_tensor_rows(x, 0, count, &xv))) st = evk_tensor_download_f32(e->ctx, &xv, mine);
    if (!st) st = evk_shard_gather(sh, mine, row, n, res->population, true, "gather of the final population");
    if (!single) free(mine);
    EVK_TRY(st);
    memcpy(res->population_rewards, R->host_scores, n * sizeof(float));
    if (owner) EVK_TRY(evk_tensor_download_f32(e->ctx, &e->best, res->best_sample));
    EVK_TRY(evk_shard_broadcast(sh, res->best_sample, row, e->best_owner, "broadcast of the best sample"));
    if (e->best_dec.buf.block) {
        res->decoded_numel = e->decoded_numel;
        if (!(res->best_decoded = malloc((size_t)e->decoded_numel * sizeof(float))))
            return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
        if (owner) EVK_TRY(evk_tensor_download_f32(e->ctx, &e->best_dec, res->best_decoded));
        EVK_TRY(evk_shard_broadcast(sh, res->best_decoded, (size_t)e->decoded_numel * sizeof(float), e->best_owner,
                                    "broadcast of the best sample's decode"));
    }
    res->best_reward = e->best_reward;
    return EVK_OK;
}

evk_status evk__search_execute(evk_context *ctx, evk_model *model, const evk_sampler *sampler, evk_reward *reward,
                               const evk__strategy *strategy, evk_search_result *res) {
    const evk_search_config *c = &res->config;
    uint32_t T = evk_sampler_steps(sampler);
    evk_status st;
    uint32_t pmax = strategy->population_max(c);
    evk__run R = {.res = res};
    evk_pipeline_stats ps0, ps1;
    evk_pipeline_get_stats(ctx, &ps0);
    double t0 = evk__clock();
    st = evk__engine_init(&R.e, ctx, model, sampler, reward, c, pmax);
    if (!st && (!(R.host_scores = malloc(pmax * sizeof(float))) || !(R.local_scores = malloc(pmax * sizeof(float)))))
        st = evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    if (!st && c->stage_times) {
        evk_search_stage_times *t = &res->stage_times;
        t->timed = true;
        t->step_count = T;
        t->step_seconds = calloc(T ? T : 1, sizeof *t->step_seconds);
        t->step_gpu_seconds = malloc((T ? T : 1) * sizeof *t->step_gpu_seconds);
        t->step_runs = calloc(T ? T : 1, sizeof *t->step_runs);
        if (!t->step_seconds || !t->step_gpu_seconds || !t->step_runs) st = evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
        for (uint32_t i = 0; !st && i < T; i++) t->step_gpu_seconds[i] = -1;
        if (!st && !evk_context_profiling(ctx)) t->decode_gpu_seconds = t->reward_gpu_seconds = -1;
        R.e.times = t;
    }
    res->steps = T;
    res->sample_numel = evk_model_sample_numel(model);
    if (!st) st = strategy->run(&R);
    res->wall_seconds = evk__clock() - t0;
    evk_pipeline_get_stats(ctx, &ps1);
    res->pipeline_seconds = (ps1.create_ms - ps0.create_ms) / 1e3;
    res->wait_seconds = R.e.wait_seconds;
    bool single = evk_shard_size(c->shard) == 1;
    res->nfe = single ? R.e.nfe : R.nfe;
    res->reward_calls = single ? R.e.reward_calls : R.reward_calls;
    res->submissions = R.e.submissions;
    res->steps_recorded = R.e.steps_recorded;
    res->dispatches = R.e.dispatches;
    res->chunk = R.e.chunk;
    evk__engine_destroy(&R.e);
    free(R.host_scores);
    free(R.local_scores);
    return st;
}
