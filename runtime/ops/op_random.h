/* op_random.h — counter-based Gaussian noise (Philox-4x32-10) and population mutations.
 *
 * Noise is a pure function of a key: (seed, stream, counter, domain) and the element index. A
 * search keys it by (seed, individual, step), so the same seed gives the same noise on every
 * device and at every batch or chunk size: row r of a dispatch uses stream `stream + r`, and the
 * transform from Philox words to normals uses only correctly rounded float adds and multiplies
 * (see shaders/random.glsl), which this file mirrors on the host bit for bit. Mutations are
 * the affine form x' = a_r·x + b_r·ε with a_r, b_r per row (variance-preserving
 * √(1−β²)·x + β·ε, or additive x + σ_r·ε). */
#ifndef EVK_OP_RANDOM_H
#define EVK_OP_RANDOM_H

#include <stddef.h>
#include <stdint.h>

#include "core/stream.h"
#include "core/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What the noise is for: keeps different uses of one (seed, stream, counter) independent. */
enum {
    EVK_NOISE_INITIAL = 1,  /* x_T of a trajectory */
    EVK_NOISE_SAMPLER = 2,  /* noise a stochastic sampler step injects */
    EVK_NOISE_MUTATION = 3, /* mutation of an individual */
    EVK_NOISE_HOST = 4,     /* host-side draws (selection, resampling) */
};

typedef struct evk_noise_key {
    uint64_t seed;
    uint32_t stream;  /* stream of the first row; row r uses stream + r */
    uint32_t counter; /* e.g. the denoising step */
    uint32_t domain;  /* EVK_NOISE_* */
} evk_noise_key;

/* Philox-4x32-10: out = bijection of ctr under key (Salmon et al., SC'11; Random123's layout). */
void evk_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]);
/* Host mirror of the device noise: n values of row `row` starting at element `first` (any
 * first, any n). Bit-identical to what evk_op_random_normal writes there. */
void evk_random_normal_host(const evk_noise_key *key, uint32_t row, uint64_t first, size_t n, float *out);
/* Uniform double in [0, 1) from (key, row = 0, index): for host-side decisions (selection). */
double evk_random_uniform_host(const evk_noise_key *key, uint64_t index);

/* Record: every element of x (f32, rows = shape[0]) = N(0, 1) noise of its (row, element). */
evk_status evk_op_random_normal(evk_stream *s, const evk_tensor *x, const evk_noise_key *key);
/* Record, in place: x = sqrt(1 - beta^2) * x + beta * eps (0 <= beta <= 1), keeps N(0, I). */
evk_status evk_op_mutate_vp(evk_stream *s, const evk_tensor *x, double beta, const evk_noise_key *key);
/* Record, in place: x[r] = x[r] + sigma[r] * eps; sigma: f32 with one value per row of x, or
 * NULL to use sigma_all for every row. */
evk_status evk_op_mutate_add(evk_stream *s, const evk_tensor *x, const evk_tensor *sigma, float sigma_all,
                             const evk_noise_key *key);
/* Record, in place: x[r] = coef[r][0] * x[r] + coef[r][1] * eps; coef: f32 [rows, 2]. A row with
 * (1, 0) is left exactly as it was. */
evk_status evk_op_mutate_affine(evk_stream *s, const evk_tensor *x, const evk_tensor *coef, const evk_noise_key *key);

#ifdef __cplusplus
}
#endif
#endif
