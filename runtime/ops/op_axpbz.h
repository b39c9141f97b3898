/* op_axpbz.h — the kernel every sampler step is made of, out = a·x + b·m + c·z (z Philox noise
 * keyed per row), and classifier-free guidance out = uncond + w·(cond − uncond). Both live here,
 * below models and samplers, so that a model combining its guidance passes does not depend on
 * the samplers that call it. */
#ifndef EVK_OP_AXPBZ_H
#define EVK_OP_AXPBZ_H

#include "core/stream.h"
#include "core/tensor.h"
#include "ops/op_random.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Record out = a·x + b·m + c·z (z keyed by key when c != 0); out may be x. x, m, out: f32 with the
 * same rows and elements per row. */
evk_status evk_op_axpbz(evk_stream *st, const evk_tensor *x, const evk_tensor *m, float a, float b, float c,
                        const evk_noise_key *key, const evk_tensor *out);
/* Record classifier-free guidance: out = uncond + w·(cond − uncond) (out may alias either input). */
evk_status evk_op_guidance_combine(evk_stream *st, const evk_tensor *cond, const evk_tensor *uncond, float w, const evk_tensor *out);

#ifdef __cplusplus
}
#endif
#endif
