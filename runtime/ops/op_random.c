/* op_random.c — Philox-4x32-10 on the host, the host mirror of the device Gaussian transform,
 * and the C entries of shaders/random/random.comp (noise and affine mutations). */
#include "ops/op_random.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ops/op_reduce.h"
#include "ops/ops_internal.h"

void evk_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]) {
    uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3], k0 = key[0], k1 = key[1];
    for (int r = 0; r < 10; r++) {
        uint64_t p0 = (uint64_t)0xD2511F53u * c0, p1 = (uint64_t)0xCD9E8D57u * c2;
        uint32_t hi0 = (uint32_t)(p0 >> 32), lo0 = (uint32_t)p0, hi1 = (uint32_t)(p1 >> 32), lo1 = (uint32_t)p1;
        c0 = hi1 ^ c1 ^ k0;
        c1 = lo1;
        c2 = hi0 ^ c3 ^ k1;
        c3 = lo0;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    out[0] = c0, out[1] = c1, out[2] = c2, out[3] = c3;
}

/* The functions below repeat shaders/random.glsl operation by operation, in float (this file is
 * compiled as ISO C, where GCC and Clang do not contract a*b+c into an fma). */
static float evk__bits_float(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
static uint32_t evk__float_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }

static float evk__rand_log(float u) {
    uint32_t bits = evk__float_bits(u);
    int e = (int)(bits >> 23) - 127;
    float m = evk__bits_float((bits & 0x7fffffu) | 0x3f800000u);
    if (m > 1.41421354f) { m = m * 0.5f; e += 1; }
    float x = m - 1.0f;
    float q = -0.076385922729969025f;
    q = q * x + 0.12914170324802399f;
    q = q * x + -0.13240842521190643f;
    q = q * x + 0.14180079102516174f;
    q = q * x + -0.16609126329421997f;
    q = q * x + 0.20002071559429169f;
    q = q * x + -0.25001585483551025f;
    q = q * x + 0.33333325386047363f;
    q = q * x + -0.49999988079071045f;
    q = q * x + 1.0f;
    return (float)e * 0.69314718246459961f + x * q;
}

static float evk__rand_sqrt(float y) {
    float r = evk__bits_float(0x5f3759dfu - (evk__float_bits(y) >> 1));
    float h = 0.5f * y;
    r = r * (1.5f - h * r * r);
    r = r * (1.5f - h * r * r);
    r = r * (1.5f - h * r * r);
    return y * r;
}

static void evk__box_muller(uint32_t a, uint32_t b, float z[2]) {
    float u = ((float)(a >> 9) + 0.5f) * 1.1920928955078125e-07f;
    float rad = evk__rand_sqrt(-2.0f * evk__rand_log(u));
    uint32_t quadrant = b >> 30;
    float f = ((float)((b >> 7) & 0x7fffffu) + 0.5f) * 1.1920928955078125e-07f;
    float g = f * f;
    float sp = -3.4347215205343673e-06f;
    sp = sp * g + 0.00016026232333388180f;
    sp = sp * g + -0.0046816649846732616f;
    sp = sp * g + 0.079692609608173370f;
    sp = sp * g + -0.64596408605575562f;
    sp = sp * g + 1.5707963705062866f;
    float sn = sp * f;
    float cs = -2.3848328055464663e-05f;
    cs = cs * g + 0.00091778661590069532f;
    cs = cs * g + -0.020862746983766556f;
    cs = cs * g + 0.25366935133934021f;
    cs = cs * g + -1.2337005138397217f;
    cs = cs * g + 1.0f;
    float c, s;
    switch (quadrant) {
    case 0: c = cs, s = sn; break;
    case 1: c = -sn, s = cs; break;
    case 2: c = -cs, s = -sn; break;
    default: c = sn, s = -cs; break;
    }
    z[0] = rad * c;
    z[1] = rad * s;
}

void evk_random_normal_host(const evk_noise_key *key, uint32_t row, uint64_t first, size_t n, float *out) {
    uint32_t k[2] = {(uint32_t)key->seed, (uint32_t)(key->seed >> 32)};
    uint64_t e = first, end = first + n;
    while (e < end) {
        uint32_t ctr[4] = {(uint32_t)(e >> 2), key->counter, key->stream + row, key->domain}, w[4];
        evk_philox4x32_10(ctr, k, w);
        float z[4];
        evk__box_muller(w[0], w[1], z);
        evk__box_muller(w[2], w[3], z + 2);
        for (uint64_t j = e & 3; j < 4 && e < end; j++, e++) *out++ = z[j];
    }
}

double evk_random_uniform_host(const evk_noise_key *key, uint64_t index) {
    uint32_t k[2] = {(uint32_t)key->seed, (uint32_t)(key->seed >> 32)};
    uint32_t ctr[4] = {(uint32_t)index, key->counter ^ (uint32_t)(index >> 32), key->stream, key->domain}, w[4];
    evk_philox4x32_10(ctr, k, w);
    uint64_t bits = ((uint64_t)w[0] << 21) ^ (uint64_t)(w[1] >> 11); /* 53 bits */
    return (double)(bits & ((1ull << 53) - 1)) * (1.0 / 9007199254740992.0);
}

typedef struct evk__random_push {
    uint32_t seed_lo, seed_hi, stream0, counter, domain;
    uint32_t rows, cols, x_off, p_off, per_row;
    float a, b;
} evk__random_push;

static evk_status evk__random(evk_stream *s, const char *op, const evk_tensor *x, const evk_tensor *param, uint32_t per_row,
                              float a, float b, const evk_noise_key *key) {
    if (!key) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "%s: no noise key", op);
    if (!x || !x->buf.block || x->dtype != EVK_DTYPE_F32 || x->ndim < 1) return evk__shape_fail(op, "x", x, "an f32 tensor");
    int64_t rows = x->shape[0], cols = evk_tensor_row_numel(x);
    int64_t blocks = (cols + 3) / 4;
    if (rows * blocks > 0xffffffffll || cols > 0xfffffff0ll) return evk__shape_fail(op, "x", x, "fewer than 2^32 groups of 4 elements");
    evk_context *ctx = evk_stream_context(s);
    const uint32_t local = 128;
    uint32_t nb = per_row || param ? 2 : 1;
    int affine = !!strcmp(op, "random_normal");
    evk_pipeline_desc desc = {.shader = affine ? "random_affine" : "random_noise", .binding_count = affine ? 2 : 1,
                              .push_size = sizeof(evk__random_push), .spec_count = 1, .spec = {local}};
    evk_pipeline *pipe;
    EVK_TRY(evk_pipeline_get(ctx, &desc, &pipe));
    evk__random_push push = {(uint32_t)key->seed, (uint32_t)(key->seed >> 32), key->stream, key->counter, key->domain,
                             (uint32_t)rows, (uint32_t)cols, 0, 0, per_row, a, b};
    evk_binding bind[2];
    EVK_TRY(evk__bind_view(ctx, x, affine ? EVK_ACCESS_READ_WRITE : EVK_ACCESS_WRITE, "x", &bind[0], &push.x_off));
    if (affine) {
        if (nb == 2) EVK_TRY(evk__bind_view(ctx, param, EVK_ACCESS_READ, "mutation parameters", &bind[1], &push.p_off));
        else bind[1] = bind[0], bind[1].access = EVK_ACCESS_READ_WRITE; /* unused by the shader when per_row == 0 */
    }
    evk_dispatch d = {.pipeline = pipe, .bindings = bind, .binding_count = desc.binding_count, .push = &push,
                      .push_size = sizeof push};
    evk__grid_1d((uint64_t)(rows * blocks), local, d.groups);
    return evk_stream_dispatch(s, &d);
}

evk_status evk_op_random_normal(evk_stream *s, const evk_tensor *x, const evk_noise_key *key) {
    return evk__random(s, "random_normal", x, NULL, 0, 0.0f, 0.0f, key);
}

evk_status evk_op_mutate_vp(evk_stream *s, const evk_tensor *x, double beta, const evk_noise_key *key) {
    if (!(beta >= 0.0 && beta <= 1.0))
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "mutate_vp: mutation rate beta = %g, expected 0 <= beta <= 1", beta);
    return evk__random(s, "mutate_vp", x, NULL, 0, (float)sqrt(1.0 - beta * beta), (float)beta, key);
}

evk_status evk_op_mutate_add(evk_stream *s, const evk_tensor *x, const evk_tensor *sigma, float sigma_all,
                             const evk_noise_key *key) {
    if (sigma) {
        char want[64];
        snprintf(want, sizeof want, "f32 with %lld elements (one per row)", (long long)(x && x->ndim ? x->shape[0] : 0));
        if (!sigma->buf.block || sigma->dtype != EVK_DTYPE_F32 || !x || evk_tensor_numel(sigma) != (x->ndim ? x->shape[0] : -1))
            return evk__shape_fail("mutate_add", "sigma", sigma, want);
        return evk__random(s, "mutate_add", x, sigma, 2, 1.0f, 0.0f, key);
    }
    return evk__random(s, "mutate_add", x, NULL, 0, 1.0f, sigma_all, key);
}

evk_status evk_op_mutate_affine(evk_stream *s, const evk_tensor *x, const evk_tensor *coef, const evk_noise_key *key) {
    char want[64];
    snprintf(want, sizeof want, "f32 [%lld, 2]", (long long)(x && x->ndim ? x->shape[0] : 0));
    if (!coef || !coef->buf.block || coef->dtype != EVK_DTYPE_F32 || !x || !x->ndim || evk_tensor_numel(coef) != 2 * x->shape[0])
        return evk__shape_fail("mutate_affine", "coef", coef, want);
    return evk__random(s, "mutate_affine", x, coef, 1, 1.0f, 0.0f, key);
}
