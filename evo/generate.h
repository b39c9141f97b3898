/* generate.h — the library's front door: what `evoke generate` does, in one call.
 *
 * Model path + prompt + method + budget + reward path in, images and the search result out:
 * the model is loaded through the registry (any family), the prompt encoded if the model takes
 * one, the model's own sampler used (with the caller's changes), and a search run — or plain
 * sampling when no reward is given. Embedding evoke:
 *
 *     evk_context *ctx;
 *     evk_context_create(&(evk_context_config){0}, &ctx);
 *     evk_generate_config c = {.model = "assets/tiny-sd", .prompt = "a red circle",
 *                              .reward = "assets/tiny-clip-reward.json", .steps = 8,
 *                              .search = {.method = EVK_SEARCH_EVO, .nfe = 160}};
 *     evk_generation *g;
 *     if (evk_generate(ctx, &c, &g) == EVK_OK) {
 *         // g->result->best_decoded: RGB [3, g->height, g->width] in [0, 1]
 *         // (video models, g->frames > 0: [g->frames, 3, g->height, g->width])
 *         evk_generation_free(g);
 *     }
 *     evk_context_destroy(ctx);                                                               */
#ifndef EVK_GENERATE_H
#define EVK_GENERATE_H

#include "models/model.h"
#include "rewards/reward.h"
#include "samplers/sampler.h"
#include "search.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Zero fields take the defaults in brackets. */
typedef struct evk_generate_config {
    const char *model;                 /* path of any model the registry knows (required) */
    evk_model_options model_options;
    const char *prompt;                /* required by text-conditioned models, refused by others */
    const char *negative_prompt;       /* the unconditional prompt of guidance [""] */
    const char *reward;                /* reward file; NULL: plain sampling (method sample only) */
    uint32_t steps;                    /* denoising steps [50] */
    /* classifier-free guidance scale [7.5 for text-conditioned models, none for others];
     * no_guidance: none whatever the model (a scale of 1 is none too: one model call) */
    float guidance;
    bool no_guidance;
    /* method, seed, budget and the methods' parameters; guidance, cond and uncond are filled in
     * here, and without a reward n defaults to 1 (one image) */
    evk_search_config search;
    /* initial noise of the first trajectories: a whole number of samples ([N, ...sample shape]) */
    const float *latents;
    uint64_t latent_values;
    /* their layout when known (e.g. a .npy's shape): [N, ...sample shape] or one [...sample shape];
     * latent_ndim 0: only the count is checked */
    uint32_t latent_ndim;
    const uint64_t *latent_shape;
    const char *latents_name; /* names them in messages (e.g. the .npy file); NULL: "initial noise" */
    /* the noise every sampler step injects, for the first trajectories, instead of Philox draws
     * (plain sampling only): [steps, N, ...sample shape] or [steps, ...sample shape] (N = 1);
     * entry [i, n] is the standard-normal z of step i of trajectory n (x ← a·x + b·m + c_i·z),
     * ignored by steps that inject no noise. Layout checked like the latents' */
    const float *noise;
    uint64_t noise_values;
    uint32_t noise_ndim;
    const uint64_t *noise_shape;
    const char *noise_name; /* names it in messages; NULL: "step noise" */
    /* fail before any work unless the model makes images */
    bool need_images;
    /* changes to the model's default sampler (e.g. the kind or η), called before it is made */
    void (*adjust_sampler)(void *user, evk_sampler_config *config);
    /* optional: refuse the loaded model (e.g. an output format it cannot fill), called right after
     * loading, before any denoising */
    evk_status (*check_model)(void *user, const evk_model *model);
    /* optional: refuse the final sampler configuration (e.g. an option its kind does not read),
     * called after adjust_sampler, before any denoising */
    evk_status (*check_sampler)(void *user, const evk_sampler_config *config);
    void *user;
} evk_generate_config;

typedef struct evk_generation {
    evk_model *model;            /* loaded from config->model (decode more samples with it) */
    evk_sampler *sampler;        /* what denoised */
    evk_search_result *result;   /* best sample, best_decoded (images), population, NFE, ... */
    uint32_t width, height;      /* image (video: frame) size when the model makes pictures; else 0 */
    uint32_t frames;             /* video models: frames per clip (best_decoded is [frames, 3, H, W]); else 0 */
    bool scored;                 /* a reward ranked the samples (else rewards are 0) */
    bool prompt_truncated;       /* the prompt was cut to the model's context */
} evk_generation;

/* Run it; *out is the generation (free with evk_generation_free). Bad configurations and
 * models that do not fit them (a prompt for a model without one, no prompt for one that needs
 * it, a search without a reward) are EVK_ERROR_INVALID_ARGUMENT with a one-line message. */
evk_status evk_generate(evk_context *ctx, const evk_generate_config *config, evk_generation **out);
void evk_generation_free(evk_generation *g);

#ifdef __cplusplus
}
#endif
#endif
