/* diffusion.h — the vocabulary diffusion configs, models and samplers share: what a model
 * predicts, its noise schedule, the β schedule and the timestep spacing. One set of enums, read
 * by the config parser (formats/config.c) and used as they are by models and samplers, so no
 * layer translates another's names by hand. Zero is each enum's most common value. */
#ifndef EVK_DIFFUSION_H
#define EVK_DIFFUSION_H

#ifdef __cplusplus
extern "C" {
#endif

/* What a model's forward returns (the diffusers "prediction_type", plus flow velocity). */
typedef enum evk_model_output {
    EVK_OUTPUT_EPS = 0, /* ε ("epsilon") */
    EVK_OUTPUT_V,       /* v = a·ε − b·x0 (VP, "v_prediction") */
    EVK_OUTPUT_X0,      /* x0 ("sample") */
    EVK_OUTPUT_FLOW,    /* velocity ε − x0 (flow matching) */
} evk_model_output;

typedef enum evk_schedule {
    EVK_SCHEDULE_VP = 0, /* x_t = √ᾱ·x0 + √(1−ᾱ)·ε */
    EVK_SCHEDULE_FLOW,   /* x_t = (1−σ)·x0 + σ·ε */
} evk_schedule;

/* β schedule of VP diffusion (diffusers' "beta_schedule"). */
typedef enum evk_beta_schedule {
    EVK_BETA_SCALED_LINEAR = 0, /* β = linspace(√β0, √β1, N)² (Stable Diffusion) */
    EVK_BETA_LINEAR,            /* β = linspace(β0, β1, N) (DDPM) */
    EVK_BETA_SQUAREDCOS_CAP_V2, /* read from configs; no sampler here uses it yet */
} evk_beta_schedule;

/* Timestep spacing of DDIM (diffusers' "timestep_spacing"). */
typedef enum evk_spacing {
    EVK_SPACING_LEADING = 0,
    EVK_SPACING_TRAILING,
    EVK_SPACING_LINSPACE,
} evk_spacing;

const char *evk_model_output_name(evk_model_output p);   /* "eps", "v", "x0", "flow" */
const char *evk_schedule_name(evk_schedule s);           /* "vp", "flow" */
const char *evk_beta_schedule_name(evk_beta_schedule b); /* diffusers' names */
const char *evk_spacing_name(evk_spacing s);             /* diffusers' names */

#ifdef __cplusplus
}
#endif
#endif
