/* search.h — test-time search over denoising trajectories: plain sampling, Best-of-N, particle
 * sampling (FK steering) and EvoSearch, all at an exact, reported NFE.
 *
 * A search runs a model + sampler + reward on one device. Populations stay on the GPU for the
 * whole search (initial noise, sampler noise and mutations are Philox draws keyed by (seed,
 * trajectory, step), generated there); rewards are computed there and only scores come back,
 * from which the host picks elites, parents and particle ancestors (indices go back). Model
 * calls run in chunks of at most `chunk` individuals with results identical to one call, and a
 * whole rollout — every step, archive copy and the final scoring — is one queue submission.
 * NFE = one model evaluation of one individual at one step (classifier-free guidance counts 2).
 * EvoSearch: evolution schedule S = [s_0 < … < s_{K−1}], population schedule P = [p_0 … p_K],
 * NFE = p_0·s_0 + Σ_g p_g·(T−s_g) + Σ_{g<K−1} p_{g+1}·(s_{g+1}−s_g) + p_K·(T−s_{K−1}); with no
 * evolution step (K = 0) a single generation, NFE = p_0·T.
 * EvoSearch under a budget (`nfe`): the population schedule is scaled to the budget, but no
 * population goes below P_min = max(6, 2·elites + 2) — a smaller generation has almost nothing
 * beside its elites to select from. When the proportional scaling would go below P_min the larger
 * populations shrink first (the largest common scale that fits, every population raised to
 * P_min); when even P_min everywhere does not fit, the latest evolution step and its generation
 * are dropped and the rest scaled again; when not one generation of P_min fits, the search is a
 * single generation of ⌊budget/(T·cost)⌋ trajectories — Best-of-N, the same trajectories bit for
 * bit — and the report says so. At T = 8 with guidance (the shipped model) that is Best-of-N below
 * 192 NFE, one generation from 192, two from 252, three from 288, all four from 312. */
#ifndef EVK_SEARCH_H
#define EVK_SEARCH_H

#include <stdbool.h>
#include <stdint.h>

#include "models/model.h"
#include "rewards/reward.h"
#include "samplers/sampler.h"
#include "shard.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A strategy: its index in the strategy table (evo/search.c, evo/strategies/). */
typedef enum evk_search_method {
    EVK_SEARCH_SAMPLE = 0, /* N independent samples, no selection */
    EVK_SEARCH_BON,        /* Best-of-N */
    EVK_SEARCH_FK,         /* particle sampling (FK steering) */
    EVK_SEARCH_EVO,        /* EvoSearch */
} evk_search_method;

typedef enum evk_fk_potential {
    EVK_FK_DIFF = 0, /* w = exp(λ·(r − r_prev)) */
    EVK_FK_MAX,      /* w = exp(λ·max(r, r_prev)) */
    EVK_FK_ADD,      /* w = exp(λ·(r + r_prev)) */
} evk_fk_potential;

/* EvoSearch's default schedules when none are given (evosearch.c; docs/ENGINEERING.md). */
typedef enum evk_evo_shape {
    EVK_EVO_SHAPE_AUTO = 0, /* video when the model makes videos, flow for flow-matching samplers
                               (evk_search_run), else image */
    EVK_EVO_SHAPE_IMAGE,    /* S = 0,20,30,40 of 50 steps, P = 42,26,26,26,30, 5 elites (SD2.1) */
    /* the Wan video setting: S = 5,20,30,45 of 50 (floor(f·T) for f = 0.1, 0.4, 0.6, 0.9 at T steps,
     * kept while strictly increasing and at most T − 2), P = 10 then 5 per later generation, 2
     * elites; at 4 steps S = 0,1,2 (P = 10,5,5,5), at 8 S = 0,3,4 */
    EVK_EVO_SHAPE_VIDEO,
    /* the paper's FLUX.1-dev setting, the default for flow-matching models: S = 5,20,30,40 of 50,
     * P = 14,7,7,7,10, 3 elites, scaled to T like the image shape */
    EVK_EVO_SHAPE_FLOW,
} evk_evo_shape;

#define EVK_SEARCH_MAX_GENERATIONS 64
/* the small-budget rule's smallest EvoSearch generation under a budget (P_min without given elites) */
#define EVK_SEARCH_EVO_MIN_POPULATION 6u
#define EVK_ELITES_NONE UINT32_MAX

/* One timed stage of a search (evk_search_config.stage_times): a denoising step over a
 * population (every chunk of it), the decode of samples, or their reward; evk_generate also
 * reports the model load and the prompt encoding (population: prompts encoded) through it. */
typedef enum evk_search_stage_kind {
    EVK_STAGE_STEP = 0,
    EVK_STAGE_DECODE,
    EVK_STAGE_REWARD,
    EVK_STAGE_LOAD,
    EVK_STAGE_TEXT,
} evk_search_stage_kind;

typedef struct evk_search_stage {
    evk_search_stage_kind kind;
    uint32_t step;         /* EVK_STAGE_STEP: the step index (0 .. T-1) */
    uint32_t population;   /* individuals the stage covered */
    double seconds;        /* host clock: from the stage's first recorded command to the end of its wait */
    double gpu_seconds;    /* the submission's GPU time from timestamp queries (first to last), when the
                              context profiles (EVOKE_PROFILE / evk_context_config.profile); else -1 */
} evk_search_stage;

typedef struct evk_search_progress {
    evk_search_method method;
    uint32_t generation;   /* evo: generation (K = the final population); fk: resampling round */
    uint32_t step;         /* denoising step the scored population came from */
    uint32_t population;
    uint64_t nfe;          /* so far */
    double best_reward;    /* best so far */
} evk_search_progress;

/* Zero fields take the defaults in brackets. */
typedef struct evk_search_config {
    evk_search_method method;
    uint64_t seed;
    uint64_t nfe;                /* budget: sample/bon/fk get nfe/(T·cost) individuals, evo scales
                                    its population schedule to spend at most this (the small-budget
                                    rule above); 0: as given */
    uint32_t n;                  /* sample / bon / fk population [nfe-derived, else 16] */
    /* EvoSearch. Empty schedules: the SD2.1 shape (S = 0,20,30,40 at T = 50, scaled to T;
       P = 42,26,26,26,30, scaled to the budget), or for videos and flow models the shapes of
       evo_shape. */
    uint32_t evolution_count, population_count;
    uint32_t evolution_schedule[EVK_SEARCH_MAX_GENERATIONS];
    uint32_t population_schedule[EVK_SEARCH_MAX_GENERATIONS + 1];
    uint32_t elites;             /* [5 (video shape: 2, flow shape: 3); with the default shape scaled with it]; EVK_ELITES_NONE: none */
    evk_evo_shape evo_shape;     /* the default schedules' shape [auto] */
    double mutation_rate;        /* β [0.2] */
    double tournament_fraction;  /* parents: best of a random subset of this fraction of the pool [0.9] */
    /* particle sampling */
    double fk_lambda;            /* λ [10] */
    evk_fk_potential fk_potential;
    uint32_t fk_interval;        /* resample every this many steps [5] */
    double fk_start, fk_end;     /* from / to this fraction of the trajectory [0.4, 0.9] */
    double fk_ess_fraction;      /* resample when ESS < this·N [0.5] */
    /* classifier-free guidance: w > 0 makes every evaluation two model calls (cond, uncond) —
     * except for a guidance-embedded model (evk_model_info.guidance_embedded), which takes w as an
     * input: one call per evaluation, w passed as told (evk_search_run sets the flag below) */
    float guidance;
    bool guidance_embedded;
    /* Guidance-embedded models: trajectory k's own w for k < guidance_count ([guidance_count] on
     * the host), e.g. a batch or a Best-of-N pool over several w; later trajectories take
     * `guidance`. sample and bon only (fk and evo move states between trajectories). */
    const float *guidance_items;
    uint32_t guidance_count;
    /* T2V-Turbo-v2's motion guidance (models with evk_model_info.motion_guidance): every step
     * tells the network motion_guidance while its timestep ≥ train_timesteps·(1 − motion_percentage)
     * and 0 after, as T2VTurboVC2Pipeline's use_motion_cond does; off: no motion condition. */
    bool motion;
    float motion_guidance;
    double motion_percentage;
    const evk_tensor *cond, *uncond; /* [1, ...] shared by all, or NULL */
    /* Initial noise x_T of trajectories 0 .. initial_count-1 ([initial_count, sample numel] on the
     * host) instead of Philox draws, e.g. latents given to a diffusers pipeline; NULL: drawn. */
    const float *initial_noise;
    uint32_t initial_count;
    /* The noise z each sampler step injects into trajectories 0 .. step_noise_count-1
     * ([T, step_noise_count, sample numel] on the host, entry [i, n] for step i of trajectory n)
     * instead of Philox draws, e.g. the torch.randn a reference pipeline draws between steps;
     * NULL: drawn. Plain sampling (EVK_SEARCH_SAMPLE) only: searches refuse it. */
    const float *step_noise;
    uint32_t step_noise_count;
    /* execution */
    uint32_t chunk;              /* most individuals per model call [as many as memory allows] */
    /* The group this search is one rank of (shard.h): each rank denoises and scores its block of
     * every population, with results bit-identical to one device; NULL: this device alone. Every
     * rank runs evk_search_run with the same configuration; rank 0's result holds the final
     * population (elsewhere it is left zero) and every rank's the best sample. */
    evk_shard *shard;
    void (*progress)(void *user, const evk_search_progress *p);
    void *user;
    /* Time every stage: the engine then submits at each stage's end (every denoising step, each
     * decode, each reward) instead of once per rollout, and reports each to `stage` (may be NULL)
     * and sums them into the result's stage_times. */
    bool stage_times;
    void (*stage)(void *user, const evk_search_stage *st);
} evk_search_config;

/* Sums of the timed stages (evk_search_config.stage_times); all zero when not timed. The
 * generate layer adds the model load and text encoding, which happen before the search. */
typedef struct evk_search_stage_times {
    bool timed;
    double load_seconds;          /* model load (evk_generate) */
    double text_seconds;          /* prompt (and negative prompt) encoding (evk_generate) */
    uint32_t step_count;          /* T */
    double *step_seconds;         /* [T]: each step's time summed over every population it ran on */
    double *step_gpu_seconds;     /* [T]; -1 where not profiled */
    uint32_t *step_runs;          /* [T]: how many times the step ran (searches revisit steps) */
    double decode_seconds, decode_gpu_seconds;
    uint32_t decode_runs;
    double reward_seconds, reward_gpu_seconds;
    uint32_t reward_runs;
} evk_search_stage_times;

typedef struct evk_search_generation {
    uint32_t index;       /* evo: generation (K: final population); fk: resampling round; else 0 */
    uint32_t step;        /* denoising step of the scored states (T: final samples) */
    uint32_t population;
    double best, mean, min;
    uint64_t nfe;         /* spent so far */
    double ess;           /* fk: effective sample size of the round's weights; else 0 */
    bool resampled;       /* fk: whether the round resampled */
} evk_search_generation;

typedef struct evk_search_result {
    evk_search_config config;   /* resolved: sizes, schedules and defaults filled in */
    uint32_t steps;             /* T */
    uint64_t nfe;               /* exact count of model evaluations (per individual, per step) */
    uint64_t reward_calls;      /* samples scored */
    double wall_seconds;        /* whole search, from the first recording to the last read-back */
    double wait_seconds;        /* of which the host waited for the GPU */
    double pipeline_seconds;    /* of which pipelines were created (once per process and kernel) */
    uint32_t submissions;       /* queue submissions */
    uint64_t steps_recorded;    /* denoising steps recorded (a step over a population counts once) */
    uint64_t dispatches;
    uint32_t chunk;             /* individuals per model call used */
    double best_reward;         /* 0 without a reward */
    int64_t sample_numel;
    float *best_sample;         /* [sample_numel]: the best final sample ever scored (without a reward: the first) */
    int64_t decoded_numel;      /* models that decode (evk_model_has_decode); else 0 */
    float *best_decoded;        /* [decoded_numel]: best_sample decoded as the reward saw it (images: RGB
                                   [3, H, W] in [0, 1]), decoded once; NULL for models without decode */
    uint32_t population_size;
    float *population;          /* [population_size, sample_numel]: the final population */
    float *population_rewards;  /* [population_size] */
    uint32_t generation_count;
    evk_search_generation *generations;
    evk_search_stage_times stage_times;
} evk_search_result;

/* Fill in defaults and the budget, and check everything (schedules increasing and below T,
 * elites below every later population, the budget enough for one trajectory, ...); a bad
 * configuration is EVK_ERROR_INVALID_ARGUMENT with a one-line message. */
evk_status evk_search_resolve(const evk_search_config *in, uint32_t steps, evk_search_config *out);
/* NFE of a resolved configuration at T steps (before running). */
uint64_t evk_search_planned_nfe(const evk_search_config *resolved, uint32_t steps);
/* The EvoSearch formula. */
uint64_t evk_evo_nfe(uint32_t steps, const uint32_t *evolution, uint32_t k, const uint32_t *population);

/* Run a search; *out is the result (free with evk_search_result_free). reward may be NULL for
 * EVK_SEARCH_SAMPLE (plain sampling: no scores, reward_calls 0); the other methods need one. */
evk_status evk_search_run(evk_context *ctx, evk_model *model, const evk_sampler *sampler, evk_reward *reward,
                          const evk_search_config *config, evk_search_result **out);
void evk_search_result_free(evk_search_result *r);

/* The strategies, in table order (evk_search_method values): names for help texts and messages. */
uint32_t evk_search_method_count(void);
const char *evk_search_method_name(evk_search_method m);
const char *evk_search_method_title(evk_search_method m); /* "Best-of-N", ... */
bool evk_search_method_parse(const char *name, evk_search_method *out);
const char *evk_fk_potential_name(evk_fk_potential p);
bool evk_fk_potential_parse(const char *name, evk_fk_potential *out);

/* One FK resampling round on the host, in double. rewards[n]: the particles' scores now;
 * state[n]: the potential's running value (r_prev; updated); weights[n]: accumulated weights
 * since the last resampling (updated; all 1 at the start). Computes the incremental weights
 * (clamped to [0, 1e10], NaN → 0), the effective sample size 1/Σŵ² of the normalised
 * accumulated weights, and when it is below ess_fraction·n draws n ancestors multinomially with
 * replacement (uniforms from key), resets the weights to 1 and carries state along ancestry.
 * ancestors[i] = i when not resampling. */
evk_status evk_fk_round(uint32_t n, const double *rewards, double *state, double *weights, evk_fk_potential potential,
                        double lambda, double ess_fraction, const evk_noise_key *key, uint32_t *ancestors, double *ess,
                        bool *resampled);

/* Write the report JSON (atomically: a temporary file renamed over `path`). `model_path`,
 * `reward_path` and `sampler` describe the run (any may be NULL). */
evk_status evk_search_report_write(const evk_search_result *r, const char *path, const char *model_path, const char *reward_path,
                                   const evk_sampler *sampler);

#ifdef __cplusplus
}
#endif
#endif
