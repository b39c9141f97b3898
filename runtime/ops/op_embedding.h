/* op_embedding.h — sinusoidal embeddings of timesteps (and of other scalars: guidance scale,
 * fps), as diffusers' get_timestep_embedding(timesteps, embedding_dim, flip_sin_to_cos,
 * downscale_freq_shift, scale, max_period). Timesteps come from a device tensor with one float per
 * sample, so every individual of a search population can sit at its own step. */
#ifndef EVK_OP_EMBEDDING_H
#define EVK_OP_EMBEDDING_H

#include <stdbool.h>

#include "core/stream.h"
#include "core/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* diffusers' defaults are flip false, shift 1, scale 1, max_period 10000; SD's UNet uses
 * flip_sin_to_cos = true and freq_shift = 0. A zeroed struct means: no flip, shift 0, scale 1,
 * max_period 10000. */
typedef struct evk_embedding_params {
    bool flip_sin_to_cos;       /* [cos | sin] instead of [sin | cos] */
    float downscale_freq_shift; /* freq_i = exp(-ln(max_period)·i / (dim/2 - shift)) */
    float scale;                /* 0: 1 */
    float max_period;           /* 0: 10000 */
} evk_embedding_params;

/* timesteps: f32 with N elements ([N] or [N, 1]); out: f32 [N, dim], dim >= 2. Odd dims get a
 * zero last column. Accurate to ~1e-7 against the double-precision formula for |scale·t| < 1e5.
 * params may be NULL. */
evk_status evk_op_timestep_embedding(evk_stream *s, const evk_tensor *timesteps, const evk_embedding_params *params,
                                     const evk_tensor *out);

#ifdef __cplusplus
}
#endif
#endif
