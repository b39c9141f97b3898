/* generate.c — evk_generate: load a model through the registry, encode the prompt, make the
 * model's sampler, load the reward, and run the search (or plain sampling); see generate.h.
 * Checks that need no device come first, then the ones that need the loaded model, so a bad
 * request fails before any denoising. */
#include "generate.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double evk__generate_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

void evk_generation_free(evk_generation *g) {
    if (!g) return;
    evk_search_result_free(g->result);
    evk_sampler_destroy(g->sampler);
    evk_model_destroy(g->model);
    free(g);
}

/* Conditioning of the run: the prompt's encoding, and the negative prompt's under guidance. */
static evk_status evk__generate_prompts(evk_generation *g, const evk_generate_config *c, evk_search_config *sc, evk_tensor *cond,
                                        evk_tensor *uncond) {
    bool takes = evk_model_takes_prompt(g->model);
    if (takes && !c->prompt)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "a prompt is required: %s is conditioned on text", c->model);
    if (!takes && (c->prompt || c->negative_prompt))
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "%s takes no prompt", c->model);
    float w = c->no_guidance ? 0.0f : c->guidance > 0 ? c->guidance : takes ? 7.5f : 0.0f;
    bool embedded = evk_model_get_info(g->model)->guidance_embedded;
    sc->guidance_embedded = embedded;
    /* guidance 1 is the conditional model alone; a guidance-embedded model is told w as it is */
    sc->guidance = w == 1.0f && !embedded ? 0.0f : w;
    if (!takes) return EVK_OK;
    EVK_TRY(evk_model_encode_prompt(g->model, c->prompt, cond, &g->prompt_truncated));
    sc->cond = cond;
    if (sc->guidance > 0 && !embedded) {
        EVK_TRY(evk_model_encode_prompt(g->model, c->negative_prompt, uncond, NULL));
        sc->uncond = uncond;
    }
    return EVK_OK;
}

/* "a, b, c" of n dimensions into buf */
static void evk__dims(char *buf, size_t size, const uint64_t *a, const int64_t *b, uint32_t n) {
    buf[0] = 0;
    for (uint32_t i = 0; i < n && i < 8; i++)
        snprintf(buf + strlen(buf), size - strlen(buf), "%s%llu", i ? ", " : "", a ? (unsigned long long)a[i] : (unsigned long long)b[i]);
}

/* The given per-step noise: [steps, N, ...sample] or [steps, ...sample], finite, plain sampling. */
static evk_status evk__generate_noise(const evk_generate_config *c, evk_model *model, uint32_t steps, evk_search_config *sc) {
    const char *what = c->noise_name ? c->noise_name : "step noise";
    if (sc->method != EVK_SEARCH_SAMPLE)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "%s: given step noise applies to plain sampling (method sample), not to %s", what,
                        evk_search_method_name(sc->method));
    const evk_model_info *mi = evk_model_get_info(model);
    uint64_t per = (uint64_t)evk_model_sample_numel(model) * steps;
    bool ok = c->noise_values && c->noise_values % per == 0;
    if (ok && c->noise_ndim) {
        uint32_t nd = (uint32_t)mi->sample_ndim, lead = c->noise_ndim == nd + 2 ? 2 : 1;
        ok = (c->noise_ndim == nd + 1 || c->noise_ndim == nd + 2) && c->noise_shape[0] == steps;
        for (uint32_t i = 0; ok && i < nd; i++) ok = c->noise_shape[lead + i] == (uint64_t)mi->sample_shape[i];
    }
    if (!ok) {
        char want[96], got[128] = "";
        evk__dims(want, sizeof want, NULL, mi->sample_shape, (uint32_t)mi->sample_ndim);
        if (c->noise_ndim) evk__dims(got, sizeof got, c->noise_shape, NULL, c->noise_ndim);
        else snprintf(got, sizeof got, "%llu values", (unsigned long long)c->noise_values);
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "%s has shape [%s]; %u step%s of the model's samples are [%u, N, %s] or [%u, %s]",
                        what, got, steps, steps == 1 ? "" : "s", steps, want, steps, want);
    }
    for (uint64_t i = 0; i < c->noise_values; i++)
        if (!isfinite(c->noise[i])) return evk_fail(EVK_ERROR_NUMERIC, "%s: value %llu is not finite", what, (unsigned long long)i);
    sc->step_noise = c->noise;
    sc->step_noise_count = (uint32_t)(c->noise_values / per);
    return EVK_OK;
}

static evk_status evk__generate_run(evk_context *ctx, const evk_generate_config *c, evk_generation *g, evk_tensor *cond,
                                    evk_tensor *uncond) {
    uint32_t steps = c->steps ? c->steps : 50;
    evk_search_config sc = c->search, resolved;
    if (!c->reward) {
        if (sc.method != EVK_SEARCH_SAMPLE)
            return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "%s ranks samples by a reward, and none was given",
                            evk_search_method_name(sc.method));
        if (!sc.n && !sc.nfe) sc.n = 1; /* plain generation: one image */
    }
    /* the search configuration before any device work (again once the model is known: a
     * guidance-embedded model spends one call per evaluation, so the budget is checked at that
     * cost here and at the model's own in evk_search_run) */
    sc.guidance = c->no_guidance || c->guidance == 1.0f ? 0.0f : c->guidance;
    /* (and the default EvoSearch shape depends on the model — image, video or flow — so any of
       them may do here) */
    evk_search_config pre = sc;
    pre.guidance_embedded = true;
    evk_status rs = evk_search_resolve(&pre, steps, &resolved);
    for (int shape = EVK_EVO_SHAPE_VIDEO; rs && pre.evo_shape == EVK_EVO_SHAPE_AUTO && shape <= EVK_EVO_SHAPE_FLOW; shape++) {
        evk_search_config other = pre;
        other.evo_shape = (evk_evo_shape)shape;
        if (evk_search_resolve(&other, steps, &resolved) == EVK_OK) rs = EVK_OK;
    }
    if (rs) EVK_TRY(evk_search_resolve(&pre, steps, &resolved)); /* the image shape's message */
    double t0 = evk__generate_now();
    EVK_TRY(evk_model_load(ctx, c->model, &c->model_options, &g->model));
    const double load_seconds = evk__generate_now() - t0;
    bool images = evk_model_image_size(g->model, &g->width, &g->height);
    if (c->need_images && !images) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "%s makes no images", c->model);
    g->frames = evk_model_get_info(g->model)->frames;
    if (c->check_model) EVK_TRY(c->check_model(c->user, g->model));
    t0 = evk__generate_now();
    EVK_TRY(evk__generate_prompts(g, c, &sc, cond, uncond));
    evk_model_release_prompt_encoder(g->model); /* every prompt is encoded: its memory serves the run */
    const double text_seconds = evk__generate_now() - t0;
    if (sc.stage_times && sc.stage) {
        sc.stage(sc.user, &(evk_search_stage){.kind = EVK_STAGE_LOAD, .seconds = load_seconds, .gpu_seconds = -1});
        if (evk_model_takes_prompt(g->model))
            sc.stage(sc.user, &(evk_search_stage){.kind = EVK_STAGE_TEXT, .population = sc.uncond ? 2 : 1, .seconds = text_seconds, .gpu_seconds = -1});
    }
    if (c->latents) {
        uint64_t per = (uint64_t)evk_model_sample_numel(g->model);
        const char *what = c->latents_name ? c->latents_name : "initial noise";
        if (!c->latent_values || c->latent_values % per)
            return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "%s holds %llu values, not a whole number of samples of %llu values", what,
                            (unsigned long long)c->latent_values, (unsigned long long)per);
        const evk_model_info *mi = evk_model_get_info(g->model);
        if (c->latent_ndim) {
            /* the layout too, not only the count */
            uint32_t lead = c->latent_ndim == (uint32_t)mi->sample_ndim + 1 ? 1 : 0;
            bool same = c->latent_ndim == (uint32_t)mi->sample_ndim + lead;
            for (int i = 0; same && i < mi->sample_ndim; i++) same = c->latent_shape[lead + i] == (uint64_t)mi->sample_shape[i];
            if (!same) {
                char want[96] = "", got[96] = "";
                for (int i = 0; i < mi->sample_ndim; i++)
                    snprintf(want + strlen(want), sizeof want - strlen(want), "%s%lld", i ? ", " : "", (long long)mi->sample_shape[i]);
                for (uint32_t i = 0; i < c->latent_ndim && i < 8; i++)
                    snprintf(got + strlen(got), sizeof got - strlen(got), "%s%llu", i ? ", " : "", (unsigned long long)c->latent_shape[i]);
                return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "%s has shape [%s]; the model's samples are [N, %s] or [%s]", what, got, want, want);
            }
        }
        for (uint64_t i = 0; i < c->latent_values; i++)
            if (!isfinite(c->latents[i])) return evk_fail(EVK_ERROR_NUMERIC, "%s: value %llu is not finite", what, (unsigned long long)i);
        sc.initial_noise = c->latents;
        sc.initial_count = (uint32_t)(c->latent_values / per);
    }
    if (c->noise) EVK_TRY(evk__generate_noise(c, g->model, steps, &sc));
    evk_sampler_config smc;
    EVK_TRY(evk_model_sampler_config(g->model, steps, &smc));
    if (c->adjust_sampler) c->adjust_sampler(c->user, &smc);
    if (c->check_sampler) EVK_TRY(c->check_sampler(c->user, &smc));
    EVK_TRY(evk_sampler_create(&smc, &g->sampler));
    evk_reward *reward = NULL;
    if (c->reward) {
        evk_reward_options ro = {.prompt = c->prompt, .image_height = g->height, .image_width = g->width, .frames = g->frames};
        EVK_TRY(evk_reward_load_with(ctx, c->reward, &ro, &reward));
    }
    evk_status st = evk_search_run(ctx, g->model, g->sampler, reward, &sc, &g->result);
    if (g->result) {
        g->result->stage_times.load_seconds = load_seconds;
        g->result->stage_times.text_seconds = text_seconds;
    }
    g->scored = reward != NULL;
    evk_reward_destroy(reward);
    return st;
}

evk_status evk_generate(evk_context *ctx, const evk_generate_config *config, evk_generation **out) {
    *out = NULL;
    if (!ctx || !config || !config->model) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "evk_generate: a context and a model path are required");
    evk_generation *g = calloc(1, sizeof *g);
    if (!g) return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    evk_tensor cond, uncond;
    memset(&cond, 0, sizeof cond);
    memset(&uncond, 0, sizeof uncond);
    evk_status st = evk__generate_run(ctx, config, g, &cond, &uncond);
    if (cond.buf.block) evk_tensor_free(ctx, &cond);
    if (uncond.buf.block) evk_tensor_free(ctx, &uncond);
    if (st) {
        evk_generation_free(g);
        return st;
    }
    *out = g;
    return EVK_OK;
}
