/* engine.h — the trajectory engine behind every search strategy (private to evo/).
 *
 * Holds the per-chunk scratch (model output, noise levels), one command stream, and the
 * counters a report needs. Everything it records goes into the current submission: denoising
 * a row range of a population tensor from one step to another (model calls in chunks, archive
 * copies on entering chosen steps, optionally the x̂0 prediction at one step), scoring rows with
 * the reward, and copying the best sample — and, for models that decode, the best sample's decode,
 * taken from the reward's own decoding when it is still there, so the best image is decoded once;
 * `evk__engine_run` submits once and waits. Without a reward (plain sampling) scores are 0. */
#ifndef EVK_ENGINE_H
#define EVK_ENGINE_H

#include "core/stream.h"
#include "core/tensor.h"
#include "models/model.h"
#include "rewards/reward.h"
#include "samplers/sampler.h"
#include "shard.h"

/* search.h's types, declared rather than included (search.h is the layer's interface; the
 * engine is below it). */
typedef struct evk_search_config evk_search_config;
typedef struct evk_search_result evk_search_result;
typedef struct evk_search_stage_times evk_search_stage_times;

typedef struct evk__archive_point {
    uint32_t step;           /* copy the rows entering this step */
    const evk_tensor *dst;   /* into rows [row, row + n) of dst */
    int64_t row;
} evk__archive_point;

typedef struct evk__engine {
    evk_context *ctx;
    evk_model *model;
    const evk_sampler *sampler;
    evk_reward *reward;
    const evk_search_config *cfg;
    uint32_t T, cost, chunk;
    int64_t numel, decoded_numel;
    evk_stream *s;
    bool recording;
    evk_tensor out, out_u, dec;             /* [chunk, ...] scratch */
    evk_tensor levels;                      /* [3·T, stride]: timestep, alpha, sigma of every step, per item */
    int64_t level_stride;
    evk_tensor step_noise;                  /* [T·count, numel]: the given per-step noise (cfg->step_noise) */
    evk_tensor best;                        /* [1, numel] */
    evk_tensor best_dec;                    /* [1, decoded numel]: models with decode */
    bool best_dec_ready;                    /* best_dec is the decode of best (else decoded at the end) */
    /* the rows of which tensor `dec` holds decoded since the last scoring (dec_rows 0: none) */
    evk_buffer dec_src;
    int64_t dec_row0, dec_rows;
    bool have_best;
    double best_reward;
    uint32_t best_owner;                    /* the rank whose `best` holds the best sample */
    evk_shard *shard;                       /* cfg->shard: the group (NULL: this device alone) */
    uint64_t nfe, reward_calls, steps_recorded, dispatches;
    uint32_t submissions;
    double wait_seconds;
    /* stage timing (cfg->stage_times): where the current stage began, and the sums */
    double stage_t0;
    evk_search_stage_times *times;
} evk__engine;

evk_status evk__engine_init(evk__engine *e, evk_context *ctx, evk_model *model, const evk_sampler *sampler, evk_reward *reward,
                            const evk_search_config *cfg, uint32_t population_max);
void evk__engine_destroy(evk__engine *e);
/* Start recording if not already. */
evk_status evk__engine_begin(evk__engine *e);
/* Submit what was recorded and wait. */
evk_status evk__engine_run(evk__engine *e);
/* Record initial noise x_T for rows [row0, row0+n) of x with trajectory ids id0 + r. */
evk_status evk__engine_noise(evk__engine *e, const evk_tensor *x, int64_t row0, int64_t n, uint32_t id0);
/* Record steps [from, to) for rows [row0, row0+n) of x (trajectory ids id0 + r), copying rows
 * into archive points on entering their steps; when x0 is given, the x̂0 prediction of step
 * x0_step is written to its rows [0, n). */
evk_status evk__engine_denoise(evk__engine *e, const evk_tensor *x, int64_t row0, int64_t n, uint32_t id0, uint32_t from, uint32_t to,
                               const evk__archive_point *archive, uint32_t archive_count, const evk_tensor *x0, uint32_t x0_step);
/* Record scores[0..n) = reward(decode(rows [row0, row0+n) of x)). */
evk_status evk__engine_score(evk__engine *e, const evk_tensor *x, int64_t row0, int64_t n, const evk_tensor *scores);
/* After scores are read back: remember row `row` of x as the best sample if it beats the best
 * (and its decode, copied from the scoring's when x was not changed since). The sample is rank
 * `owner`'s: elsewhere (x NULL) only the reward and the owner are remembered. */
evk_status evk__engine_offer_best(evk__engine *e, const evk_tensor *x, int64_t row, double reward, uint32_t owner);
/* Rows of dst [0, this rank's block of n) = source rows: destination j (of n, global) takes row
 * src_row[j] of rank src_rank[j]'s src. One device: a gather recorded on the device through idx
 * (i32, at least n entries); several: what was recorded runs, and rows travel through the host. */
evk_status evk__engine_move_rows(evk__engine *e, const evk_tensor *src, int64_t src_rows, uint32_t n, const uint32_t *src_rank,
                                 const uint32_t *src_row, const evk_tensor *idx, const evk_tensor *dst);
/* Record the decode of the best sample into best_dec unless the scoring's decode was kept. */
evk_status evk__engine_decode_best(evk__engine *e);

/* One strategy's run: the engine, the result being filled and host scratch. */
typedef struct evk__run {
    evk__engine e;
    evk_search_result *res;
    uint32_t gen_cap;
    float *host_scores;        /* the latest scores of the whole population (every rank's block) */
    float *local_scores;       /* this rank's block of them */
    uint64_t nfe, reward_calls; /* over every rank, as of the latest evk__scores */
} evk__run;

#endif
