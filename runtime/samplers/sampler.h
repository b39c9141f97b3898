/* sampler.h — denoising samplers as per-step coefficient tables and one kernel per step.
 *
 * Every sampler here is linear in the state x, the model output m and fresh noise z, so step i
 * is x ← A_i·x + B_i·m + C_i·z with (A_i, B_i, C_i) computed on the host in double from the
 * schedule, the model's prediction type and the sampler's rule; C_i is the standard deviation
 * of the noise the step injects (the σ EvoSearch's later-generation mutation uses). Kinds:
 *  - VP diffusion (scaled-linear β 0.00085 → 0.012 over 1000 steps): DDIM with η (η = 1 is the
 *    stochastic sampler searches use; "ddpm" is DDIM with η = 1, which equals DDPM's posterior
 *    step), "leading" / "trailing" / "linspace" timestep spacing, steps_offset and
 *    set_alpha_to_one as diffusers' DDIMScheduler; LCM multistep (T2V-Turbo: timesteps from 50
 *    origin steps, boundary scalings c_skip = 0.25/(s²+0.25), c_out = s/√(s²+0.25), s = 10t).
 *  - Flow matching (x_t = (1−σ)x0 + σε, σ from 1 to 0 with shift σ' = sσ/(1+(s−1)σ)): Euler ODE
 *    and the first-order stochastic SDE-DPM-Solver++ step.
 * The x̂0 prediction of a step (what particle samplers score) is the same kernel with C = 0. */
#ifndef EVK_SAMPLER_H
#define EVK_SAMPLER_H

#include <stdbool.h>
#include <stdint.h>

#include "core/stream.h"
#include "core/tensor.h"
#include "formats/diffusion.h"
#include "ops/op_axpbz.h"
#include "ops/op_random.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum evk_sampler_kind {
    EVK_SAMPLER_DDIM = 0,
    EVK_SAMPLER_DDPM,     /* DDIM with η = 1 */
    EVK_SAMPLER_EULER,    /* flow matching, deterministic */
    EVK_SAMPLER_FLOW_SDE, /* flow matching, stochastic SDE-DPM-Solver++ (first order) */
    EVK_SAMPLER_LCM,      /* latent consistency multistep */
} evk_sampler_kind;

/* Zero fields take the defaults in brackets. */
typedef struct evk_sampler_config {
    evk_sampler_kind kind;
    evk_schedule schedule;        /* the model's: VP for ddim/ddpm/lcm, FLOW for euler/flow-sde */
    evk_model_output prediction;    /* the model's output */
    uint32_t steps;               /* T (required) */
    double eta;                   /* DDIM η [0]; ddpm uses 1 */
    evk_spacing spacing; /* DDIM [leading] */
    uint32_t steps_offset;        /* DDIM [0] (SD2.1 uses 1) */
    bool set_alpha_to_one;        /* DDIM: ᾱ after the last step is 1 instead of ᾱ_0 */
    uint32_t train_timesteps;     /* [1000] */
    double beta_start, beta_end;  /* [0.00085, 0.012] */
    evk_beta_schedule beta_schedule; /* [scaled linear] */
    double shift;                 /* flow timestep shift [1] */
    uint32_t lcm_origin_steps;    /* LCM [50] */
    /* DDIM as lvdm runs it with use_scale (VideoCrafter2's yaml: scale_b 0.7): x̂0 is divided by
     * s(t) and re-scaled by s(t_prev) in the update, s(t) = linspace(1, scale_b, mid)[t] for t < mid,
     * else scale_b (lvdm's scale_arr, mid_step 400). scale_b 0: off [0]; mid 0: 400. */
    double x0_scale_b;
    uint32_t x0_scale_mid;
} evk_sampler_config;

typedef struct evk_sampler_step {
    double timestep;              /* told to the model (VP: train timestep, flow: 1000·σ) */
    double alpha, sigma;          /* x_t = alpha·x0 + sigma·ε entering the step */
    double alpha_next, sigma_next;/* level the step lands on (the last step lands on the sample) */
    double noise_std;             /* C: std of the noise injected */
    double a, b;                  /* x ← a·x + b·m + noise_std·z */
    double x0_a, x0_b;            /* x̂0 = x0_a·x + x0_b·m */
} evk_sampler_step;

typedef struct evk_sampler evk_sampler;

evk_status evk_sampler_create(const evk_sampler_config *config, evk_sampler **out);
void evk_sampler_destroy(evk_sampler *s);
const evk_sampler_config *evk_sampler_get_config(const evk_sampler *s);
uint32_t evk_sampler_steps(const evk_sampler *s);
/* Coefficients of step i (0 <= i < T), NULL outside. */
const evk_sampler_step *evk_sampler_get_step(const evk_sampler *s, uint32_t i);
/* Std of the noise step i injects (0 for deterministic steps and outside 0..T-1). */
double evk_sampler_noise_std(const evk_sampler *s, uint32_t i);
/* Std of the initial noise x_T (1 for every sampler here). */
double evk_sampler_init_sigma(const evk_sampler *s);
const char *evk_sampler_kind_name(evk_sampler_kind k);
/* "ddim" → EVK_SAMPLER_DDIM etc.; false if unknown. */
bool evk_sampler_kind_parse(const char *name, evk_sampler_kind *out);

/* Record step i in place on x (f32 [B, ...]) with model output m (same shape); the noise of row r
 * is keyed by key (stream + r); key may be NULL only for a deterministic step. */
evk_status evk_op_sampler_step(evk_stream *st, const evk_sampler *s, uint32_t i, const evk_tensor *x, const evk_tensor *m,
                               const evk_noise_key *key);
/* Record step i in place on x with the noise given: x ← a·x + b·m + c_i·z, z (same shape as x) the
 * standard-normal draws of the rows (e.g. a reference pipeline's); z is not read when c_i = 0. */
evk_status evk_op_sampler_step_given(evk_stream *st, const evk_sampler *s, uint32_t i, const evk_tensor *x, const evk_tensor *m,
                                     const evk_tensor *z);
/* Record out = x̂0 prediction of step i from x and m. */
evk_status evk_op_sampler_x0(evk_stream *st, const evk_sampler *s, uint32_t i, const evk_tensor *x, const evk_tensor *m,
                             const evk_tensor *out);
#ifdef __cplusplus
}
#endif
#endif
