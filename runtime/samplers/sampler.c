/* sampler.c — timestep tables and per-step coefficients of every sampler (in double), and the
 * steps, recorded with the a·x + b·m + c·z kernel (ops/op_axpbz.h). See sampler.h for the formulas'
 * sources. */
#include "samplers/sampler.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/op_reduce.h"
#include "ops/ops_internal.h"

struct evk_sampler {
    evk_sampler_config config;
    uint32_t steps;
    evk_sampler_step *table;
};

const char *evk_sampler_kind_name(evk_sampler_kind k) {
    static const char *names[] = {"ddim", "ddpm", "euler", "flow-sde", "lcm"};
    return (unsigned)k < 5 ? names[k] : "?";
}

bool evk_sampler_kind_parse(const char *name, evk_sampler_kind *out) {
    for (int k = 0; k < 5; k++)
        if (name && !strcmp(name, evk_sampler_kind_name((evk_sampler_kind)k))) {
            *out = (evk_sampler_kind)k;
            return true;
        }
    return false;
}

/* x̂0 = px·x + pm·m and ε̂ = qx·x + qm·m at level (a, b) for a prediction type. */
static void evk__convert(evk_model_output pred, double a, double b, double *px, double *pm, double *qx, double *qm) {
    switch (pred) {
    case EVK_OUTPUT_EPS: *px = 1 / a, *pm = -b / a, *qx = 0, *qm = 1; break;
    case EVK_OUTPUT_V: *px = a, *pm = -b, *qx = b, *qm = a; break;       /* a² + b² = 1 */
    case EVK_OUTPUT_X0: *px = 0, *pm = 1, *qx = 1 / b, *qm = -a / b; break;
    case EVK_OUTPUT_FLOW: *px = 1, *pm = -b, *qx = 1, *qm = a; break;    /* a + b = 1 */
    }
}

/* Fill a, b, x0_a, x0_b from x_next = cx·x + c0·x̂0 + ce·ε̂ (+ noise). */
static void evk__finish(evk_sampler_step *st, evk_model_output pred, double cx, double c0, double ce) {
    double px = 0, pm = 0, qx = 0, qm = 0;
    evk__convert(pred, st->alpha, st->sigma, &px, &pm, &qx, &qm);
    st->a = cx + c0 * px + ce * qx;
    st->b = c0 * pm + ce * qm;
    st->x0_a = px;
    st->x0_b = pm;
}

/* lvdm's scale_arr[t]: linspace(1, scale_b, mid) then scale_b */
static double evk__x0_scale(const evk_sampler_config *c, long t) {
    long mid = c->x0_scale_mid ? (long)c->x0_scale_mid : 400;
    if (t >= mid) return c->x0_scale_b;
    return mid > 1 ? 1.0 + (c->x0_scale_b - 1.0) * (double)t / (double)(mid - 1) : 1.0;
}

evk_status evk_sampler_create(const evk_sampler_config *cfg, evk_sampler **out) {
    *out = NULL;
    if (!cfg) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "sampler: no configuration");
    evk_sampler_config c = *cfg;
    const char *name = evk_sampler_kind_name(c.kind);
    if ((unsigned)c.kind > EVK_SAMPLER_LCM) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "sampler: unknown kind %d", (int)c.kind);
    if (c.steps < 1 || c.steps > 100000) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "sampler %s: %u steps, expected 1..100000", name, c.steps);
    if (!c.train_timesteps) c.train_timesteps = 1000;
    if (c.beta_start == 0) c.beta_start = 0.00085;
    if (c.beta_end == 0) c.beta_end = 0.012;
    if (c.shift == 0) c.shift = 1;
    if (!c.lcm_origin_steps) c.lcm_origin_steps = 50;
    if (c.kind == EVK_SAMPLER_DDPM) c.eta = 1;
    bool flow = c.kind == EVK_SAMPLER_EULER || c.kind == EVK_SAMPLER_FLOW_SDE;
    if (flow != (c.schedule == EVK_SCHEDULE_FLOW))
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "sampler %s needs a %s model, this one uses the %s schedule (%s)", name,
                        flow ? "flow-matching" : "VP-diffusion", evk_schedule_name(c.schedule),
                        flow ? "use ddim, ddpm or lcm" : "use euler or flow-sde");
    if (flow ? (c.prediction != EVK_OUTPUT_FLOW && c.prediction != EVK_OUTPUT_X0) : c.prediction == EVK_OUTPUT_FLOW)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "sampler %s: prediction %s does not go with the %s schedule", name,
                        evk_model_output_name(c.prediction), evk_schedule_name(c.schedule));
    if (!(c.eta >= 0 && c.eta <= 10)) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "sampler %s: eta = %g, expected 0..10", name, c.eta);
    if (!(c.x0_scale_b >= 0 && c.x0_scale_b <= 100)) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "sampler %s: x0 scale %g", name, c.x0_scale_b);
    if (c.x0_scale_b > 0 && c.kind != EVK_SAMPLER_DDIM && c.kind != EVK_SAMPLER_DDPM) c.x0_scale_b = 0; /* lvdm's DDIM only */
    if (!(c.shift > 0 && c.shift < 1e6)) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "sampler %s: shift = %g, expected > 0", name, c.shift);
    if ((unsigned)c.spacing > EVK_SPACING_LINSPACE) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "sampler %s: unknown spacing", name);
    if (c.beta_schedule != EVK_BETA_SCALED_LINEAR && c.beta_schedule != EVK_BETA_LINEAR)
        return evk_fail(EVK_ERROR_UNSUPPORTED, "sampler %s: beta schedule '%s' is not supported (linear, scaled_linear)", name,
                        evk_beta_schedule_name(c.beta_schedule));
    uint32_t N = c.train_timesteps, T = c.steps;
    if (!flow && T > N) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "sampler %s: %u steps exceed the %u training timesteps", name, T, N);
    if (c.kind == EVK_SAMPLER_LCM && (c.lcm_origin_steps > N || T > c.lcm_origin_steps))
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "sampler lcm: %u steps from %u origin steps (at most %u)", T, c.lcm_origin_steps,
                        c.lcm_origin_steps);
    if (!(c.beta_start > 0 && c.beta_end > c.beta_start && c.beta_end < 1))
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "sampler %s: betas %g -> %g, expected 0 < start < end < 1", name, c.beta_start, c.beta_end);

    evk_sampler *s = calloc(1, sizeof *s);
    double *abar = malloc(N * sizeof *abar);
    long *ts = malloc((T + 1) * sizeof *ts);
    if (s) s->table = calloc(T, sizeof *s->table);
    if (!s || !abar || !ts || !s->table) {
        free(abar), free(ts);
        evk_sampler_destroy(s);
        return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory creating a sampler");
    }
    s->config = c;
    s->steps = T;
    /* scaled-linear β: (linspace(√β0, √β1, N))²; linear β: linspace(β0, β1, N); ᾱ_t = Π (1 − β_i) */
    double prod = 1;
    for (uint32_t i = 0; i < N; i++) {
        double u = N > 1 ? (double)i / (N - 1) : 0, beta;
        if (c.beta_schedule == EVK_BETA_LINEAR) {
            beta = c.beta_start + (c.beta_end - c.beta_start) * u;
        } else {
            double r = sqrt(c.beta_start) + (sqrt(c.beta_end) - sqrt(c.beta_start)) * u;
            beta = r * r;
        }
        prod *= 1 - beta;
        abar[i] = prod;
    }
    if (flow) {
        for (uint32_t i = 0; i < T; i++) {
            double sg = 1 - (double)i / T, sn = 1 - (double)(i + 1) / T;
            sg = c.shift * sg / (1 + (c.shift - 1) * sg);
            sn = c.shift * sn / (1 + (c.shift - 1) * sn);
            evk_sampler_step *st = &s->table[i];
            st->timestep = 1000 * sg;
            st->alpha = 1 - sg, st->sigma = sg, st->alpha_next = 1 - sn, st->sigma_next = sn;
            if (c.kind == EVK_SAMPLER_EULER) {
                /* x + (σn − σ)·v with v = ε̂ − x̂0 */
                evk__finish(st, c.prediction, 1, -(sn - sg), sn - sg);
                st->noise_std = 0;
            } else {
                /* ρ = e^{−h} = (σn/αn)/(σ/α); x ← (σn/σ)ρ·x + αn(1−ρ²)·x̂0 + σn√(1−ρ²)·z */
                double an = 1 - sn, al = 1 - sg;
                double rho = sn > 0 && al > 0 ? (sn * al) / (an * sg) : 0;
                evk__finish(st, c.prediction, sg > 0 ? sn / sg * rho : 0, an * (1 - rho * rho), 0);
                st->noise_std = sn * sqrt(1 - rho * rho);
            }
        }
    } else if (c.kind == EVK_SAMPLER_LCM) {
        uint32_t cstep = N / c.lcm_origin_steps, skip = c.lcm_origin_steps / T;
        for (uint32_t i = 0; i < T; i++) ts[i] = (long)(c.lcm_origin_steps - i * skip) * cstep - 1;
        for (uint32_t i = 0; i < T; i++) {
            evk_sampler_step *st = &s->table[i];
            long t = ts[i];
            double ab = abar[t], abn = i + 1 < T ? abar[ts[i + 1]] : 1.0;
            st->timestep = (double)t;
            st->alpha = sqrt(ab), st->sigma = sqrt(1 - ab), st->alpha_next = sqrt(abn), st->sigma_next = sqrt(1 - abn);
            double sc = 10.0 * t, cskip = 0.25 / (sc * sc + 0.25), cout = sc / sqrt(sc * sc + 0.25);
            /* denoised = c_out·x̂0 + c_skip·x; x ← √ᾱn·denoised + √(1−ᾱn)·z (the last step keeps denoised) */
            evk__finish(st, c.prediction, st->alpha_next * cskip, st->alpha_next * cout, 0);
            st->noise_std = st->sigma_next;
        }
    } else {
        /* DDIM timesteps as diffusers' DDIMScheduler.set_timesteps */
        for (uint32_t i = 0; i < T; i++) {
            long t;
            if (c.spacing == EVK_SPACING_LEADING) t = (long)(T - 1 - i) * (long)(N / T) + (long)c.steps_offset;
            else if (c.spacing == EVK_SPACING_TRAILING) t = lround((double)N - (double)i * ((double)N / T)) - 1;
            else t = lround((double)(N - 1) * (double)(T - 1 - i) / (T > 1 ? T - 1 : 1));
            if (t < 0) t = 0;
            if (t > (long)N - 1) t = (long)N - 1;
            ts[i] = t;
        }
        double final_abar = c.set_alpha_to_one ? 1.0 : abar[0];
        for (uint32_t i = 0; i < T; i++) {
            evk_sampler_step *st = &s->table[i];
            long t = ts[i], prev = t - (long)(N / T);
            double ab = abar[t], abp = prev >= 0 ? abar[prev] : final_abar;
            st->timestep = (double)t;
            st->alpha = sqrt(ab), st->sigma = sqrt(1 - ab), st->alpha_next = sqrt(abp), st->sigma_next = sqrt(1 - abp);
            /* σ = η·√((1−ᾱp)/(1−ᾱ))·√(1−ᾱ/ᾱp); x ← √ᾱp·x̂0 + √(1−ᾱp−σ²)·ε̂ + σ·z */
            double var = (1 - abp) / (1 - ab) * (1 - ab / abp);
            double sd = c.eta * sqrt(var > 0 ? var : 0);
            double dir = 1 - abp - sd * sd;
            /* lvdm's use_scale: x̂0 / s(t), and s(t_prev)·x̂0 / s(t) in the update */
            double r = 1, s_t = 1;
            if (c.x0_scale_b > 0) {
                s_t = evk__x0_scale(&c, t);
                r = (prev >= 0 ? evk__x0_scale(&c, prev) : 1.0) / s_t;
            }
            evk__finish(st, c.prediction, 0, sqrt(abp) * r, sqrt(dir > 0 ? dir : 0));
            st->x0_a /= s_t, st->x0_b /= s_t;
            st->noise_std = sd;
        }
    }
    free(abar);
    free(ts);
    *out = s;
    return EVK_OK;
}

void evk_sampler_destroy(evk_sampler *s) {
    if (!s) return;
    free(s->table);
    free(s);
}

const evk_sampler_config *evk_sampler_get_config(const evk_sampler *s) { return &s->config; }
uint32_t evk_sampler_steps(const evk_sampler *s) { return s->steps; }
const evk_sampler_step *evk_sampler_get_step(const evk_sampler *s, uint32_t i) { return i < s->steps ? &s->table[i] : NULL; }
double evk_sampler_noise_std(const evk_sampler *s, uint32_t i) { return i < s->steps ? s->table[i].noise_std : 0.0; }
double evk_sampler_init_sigma(const evk_sampler *s) { (void)s; return 1.0; }

evk_status evk_op_sampler_step(evk_stream *st, const evk_sampler *s, uint32_t i, const evk_tensor *x, const evk_tensor *m,
                               const evk_noise_key *key) {
    if (!s || i >= s->steps)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "sampler step %u outside 0..%u", i, s ? s->steps - 1 : 0);
    const evk_sampler_step *t = &s->table[i];
    return evk__axpbz_dispatch(st, "sampler step", x, m, x, (float)t->a, (float)t->b, (float)t->noise_std, key);
}

evk_status evk_op_sampler_step_given(evk_stream *st, const evk_sampler *s, uint32_t i, const evk_tensor *x, const evk_tensor *m,
                                     const evk_tensor *z) {
    if (!s || i >= s->steps)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "sampler step %u outside 0..%u", i, s ? s->steps - 1 : 0);
    const evk_sampler_step *t = &s->table[i];
    EVK_TRY(evk__axpbz_dispatch(st, "sampler step", x, m, x, (float)t->a, (float)t->b, 0.0f, NULL));
    if (t->noise_std == 0) return EVK_OK;
    return evk__axpbz_dispatch(st, "sampler step noise", x, z, x, 1.0f, (float)t->noise_std, 0.0f, NULL);
}

evk_status evk_op_sampler_x0(evk_stream *st, const evk_sampler *s, uint32_t i, const evk_tensor *x, const evk_tensor *m,
                             const evk_tensor *out) {
    if (!s || i >= s->steps)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "sampler x0 at step %u outside 0..%u", i, s ? s->steps - 1 : 0);
    const evk_sampler_step *t = &s->table[i];
    return evk__axpbz_dispatch(st, "sampler x0", x, m, out, (float)t->x0_a, (float)t->x0_b, 0.0f, NULL);
}
