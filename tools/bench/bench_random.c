/* bench_random.c — `evoke bench` cases for the search kernels: Philox noise and the two
 * mutations on a population of 32 video-latent-sized individuals (4×4×64×64 each), one sampler
 * step over it, per-row reductions, argmax / top-k over a few thousand scores, and the exact
 * Gaussian-mixture denoiser on 1024 individuals in 64 dimensions. */
#include <stdlib.h>

#include "bench.h"
#include "models/gmm/gmm.h"
#include "models/model.h"
#include "ops/op_random.h"
#include "ops/op_reduce.h"
#include "samplers/sampler.h"

typedef struct rb_params {
    int kind;          /* see rb_record */
    int64_t rows, cols;
} rb_params;

typedef struct rb_state {
    const rb_params *p;
    evk_tensor x, y, s, i, v, lt, la, lb;
    evk_sampler *smp;
    evk_model *gmm;
} rb_state;

enum { RB_NOISE, RB_MUT_VP, RB_MUT_ADD, RB_STEP, RB_L2, RB_ARGMAX, RB_TOPK, RB_GMM };

static evk_status rb_setup(evk_context *ctx, const void *params, void **state) {
    const rb_params *p = params;
    rb_state *st = calloc(1, sizeof *st);
    if (!st) return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    st->p = p;
    *state = st;
    int64_t sh[2] = {p->rows, p->cols}, sr[1] = {p->rows}, sk[1] = {64};
    EVK_TRY(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 2, sh, &st->x));
    EVK_TRY(bench_fill_uniform(ctx, &st->x, -2, 2, 1));
    EVK_TRY(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 1, sr, &st->s));
    EVK_TRY(bench_fill_uniform(ctx, &st->s, 0.1f, 1, 2));
    if (p->kind == RB_STEP || p->kind == RB_GMM) {
        EVK_TRY(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 2, sh, &st->y));
        EVK_TRY(bench_fill_uniform(ctx, &st->y, -2, 2, 3));
        evk_sampler_config c = {.kind = EVK_SAMPLER_DDIM, .steps = 50, .eta = 1};
        EVK_TRY(evk_sampler_create(&c, &st->smp));
    }
    if (p->kind == RB_ARGMAX || p->kind == RB_TOPK) {
        EVK_TRY(evk_tensor_alloc(ctx, EVK_DTYPE_U32, 1, sk, &st->i));
        EVK_TRY(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 1, sk, &st->v));
    }
    if (p->kind == RB_GMM) {
        double w[3] = {0.6, 0.35, 0.05}, sd[3] = {0.5, 0.5, 0.4}, *mu = calloc(3 * (size_t)p->cols, sizeof *mu);
        if (!mu) return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
        mu[0] = -1.5, mu[p->cols] = 1, mu[p->cols + 1] = -1.2, mu[2 * p->cols] = 2, mu[2 * p->cols + 1] = 2;
        evk_gmm_desc d = {.dim = (uint32_t)p->cols, .components = 3, .weights = w, .means = mu, .stds = sd};
        evk_status s = evk_model_gmm_create(ctx, &d, &st->gmm);
        free(mu);
        EVK_TRY(s);
        EVK_TRY(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 1, sr, &st->lt));
        EVK_TRY(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 1, sr, &st->la));
        EVK_TRY(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 1, sr, &st->lb));
        EVK_TRY(bench_fill_uniform(ctx, &st->lt, 500, 501, 4));
        EVK_TRY(bench_fill_uniform(ctx, &st->la, 0.5f, 0.6f, 5));
        EVK_TRY(bench_fill_uniform(ctx, &st->lb, 0.8f, 0.85f, 6));
    }
    return EVK_OK;
}

static evk_status rb_record(evk_stream *s, void *state) {
    rb_state *st = state;
    evk_noise_key key = {.seed = 1, .stream = 0, .counter = 7, .domain = EVK_NOISE_SAMPLER};
    evk_tensor flat;
    switch (st->p->kind) {
    case RB_NOISE: return evk_op_random_normal(s, &st->x, &key);
    case RB_MUT_VP: return evk_op_mutate_vp(s, &st->x, 0.2, &key);
    case RB_MUT_ADD: return evk_op_mutate_add(s, &st->x, &st->s, 0, &key);
    case RB_STEP: return evk_op_sampler_step(s, st->smp, 20, &st->x, &st->y, &key);
    case RB_L2: return evk_op_reduce_rows(s, &st->x, EVK_REDUCE_L2, &st->s);
    case RB_ARGMAX:
        EVK_TRY(evk_tensor_reshape(&st->x, 1, (int64_t[]){st->p->rows * st->p->cols}, &flat));
        return evk_op_argmax(s, &flat, &st->i, &st->v);
    case RB_TOPK:
        EVK_TRY(evk_tensor_reshape(&st->x, 1, (int64_t[]){st->p->rows * st->p->cols}, &flat));
        return evk_op_topk(s, &flat, 32, &st->i, &st->v);
    default: {
        evk_model_input in = {.x = &st->x, .timestep = &st->lt, .alpha = &st->la, .sigma = &st->lb};
        return evk_model_forward(st->gmm, s, &in, &st->y);
    }
    }
}

static void rb_teardown(evk_context *ctx, void *state) {
    rb_state *st = state;
    if (!st) return;
    evk_tensor *ts[] = {&st->x, &st->y, &st->s, &st->i, &st->v, &st->lt, &st->la, &st->lb};
    for (size_t k = 0; k < sizeof ts / sizeof ts[0]; k++)
        if (ts[k]->buf.block) evk_tensor_free(ctx, ts[k]);
    evk_sampler_destroy(st->smp);
    evk_model_destroy(st->gmm);
    free(st);
}

#define POP (32.0 * 4 * 4 * 64 * 64)
static const rb_params p_noise = {RB_NOISE, 32, 4 * 4 * 64 * 64}, p_vp = {RB_MUT_VP, 32, 4 * 4 * 64 * 64},
                       p_add = {RB_MUT_ADD, 32, 4 * 4 * 64 * 64}, p_step = {RB_STEP, 32, 4 * 4 * 64 * 64},
                       p_l2 = {RB_L2, 32, 4 * 4 * 64 * 64}, p_arg = {RB_ARGMAX, 1, 4096}, p_topk = {RB_TOPK, 1, 4096},
                       p_gmm = {RB_GMM, 1024, 64};

static const bench_case random_cases[] = {
    {"random", "32x4x4x64x64", "f32", 0, 4 * POP, &p_noise, rb_setup, rb_record, rb_teardown},
    {"mutate_vp", "32x4x4x64x64", "f32", 3 * POP, 8 * POP, &p_vp, rb_setup, rb_record, rb_teardown},
    {"mutate_add", "32x4x4x64x64", "f32", 2 * POP, 8 * POP + 128, &p_add, rb_setup, rb_record, rb_teardown},
    {"sampler_step", "32x4x4x64x64", "f32", 5 * POP, 12 * POP, &p_step, rb_setup, rb_record, rb_teardown},
    {"reduce_l2", "32x65536", "f32", 2 * POP, 4 * POP + 128, &p_l2, rb_setup, rb_record, rb_teardown},
    {"argmax", "4096", "f32", 0, 4 * 4096, &p_arg, rb_setup, rb_record, rb_teardown},
    {"topk", "4096,k=32", "f32", 4096.0 * 4096, 4 * 4096, &p_topk, rb_setup, rb_record, rb_teardown},
    {"gmm", "1024x64,K=3", "f32", 1024.0 * 3 * 64 * 8, 2 * 4 * 1024.0 * 64, &p_gmm, rb_setup, rb_record, rb_teardown},
};
BENCH_REGISTER(random_cases)
