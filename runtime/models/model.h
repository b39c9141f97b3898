/* model.h — the model interface: one call that maps a batch of states to the model's output.
 *
 * A model is an object with one forward call: given states x_t [B, ...sample shape], the noise
 * level of each batch item (the timestep the network is told, and the signal and noise scales
 * a, b of x_t = a·x0 + b·ε) and optional conditioning [B, ...], it RECORDS into a stream the
 * computation of its output — ε, v, x0 or the flow velocity ε − x0, as the model declares.
 * Samplers turn that output into x̂0 and ε̂; the search engine never looks inside a model.
 * Families register through evk_model_create with a table of callbacks; the exact Gaussian
 * mixture (model_gmm.c) is the first. Classifier-free guidance is two forward calls (cond and
 * uncond, counted as 2 NFE by searches) combined as ε̂ = ε_u + w·(ε_c − ε_u). */
#ifndef EVK_MODEL_H
#define EVK_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "core/stream.h"
#include "core/tensor.h"
#include "formats/diffusion.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct evk_model evk_model;

typedef struct evk_model_input {
    const evk_tensor *x;        /* f32 [B, ...sample shape]: the states x_t */
    const evk_tensor *timestep; /* f32 [B]: the timestep told to the network (VP: 0..999, flow: 1000·σ) */
    const evk_tensor *alpha;    /* f32 [B]: signal scale a */
    const evk_tensor *sigma;    /* f32 [B]: noise scale b */
    const evk_tensor *cond;     /* [B, ...] or [1, ...] (shared) conditioning, or NULL (unconditional) */
} evk_model_input;

typedef struct evk_model_info {
    const char *family;          /* "gmm", "sd", ... */
    evk_schedule schedule;
    evk_model_output prediction;
    int sample_ndim;             /* shape of one sample (without the batch dimension) */
    int64_t sample_shape[EVK_MAX_DIMS - 1];
    bool conditional;            /* reads cond */
    uint64_t scratch_per_item;   /* device bytes a forward needs per batch item (chunk sizing) */
} evk_model_info;

/* What a model family provides. `impl` is the family's own state. */
typedef struct evk_model_ops {
    /* Record out[B, ...] = model output for in (shapes already checked). */
    evk_status (*forward)(void *impl, evk_stream *s, const evk_model_input *in, const evk_tensor *out);
    /* Optional: record guided output out = ε_u + w·(ε_c − ε_u) in one batched pass (cond and
     * uncond halves of one call); NULL: two forward calls. */
    evk_status (*forward_guided)(void *impl, evk_stream *s, const evk_model_input *in, const evk_tensor *uncond, float w,
                                 const evk_tensor *out);
    /* Record the decoded sample a reward sees (e.g. a VAE decode); NULL: the sample itself. */
    evk_status (*decode)(void *impl, evk_stream *s, const evk_tensor *x0, const evk_tensor *out);
    /* Shape of one decoded sample; used only when decode is set. */
    int decoded_ndim;
    int64_t decoded_shape[EVK_MAX_DIMS - 1];
    void (*destroy)(void *impl);
} evk_model_ops;

/* Wrap a family's implementation (ops and info are copied; impl is owned from now on, also on failure). */
evk_status evk_model_create(evk_context *ctx, const evk_model_ops *ops, const evk_model_info *info, void *impl, evk_model **out);
void evk_model_destroy(evk_model *m);
/* Load a model file; the JSON "family" picks the loader ("gmm"). Errors name the file. */
evk_status evk_model_load(evk_context *ctx, const char *path, evk_model **out);

const evk_model_info *evk_model_get_info(const evk_model *m);
/* The state handed to evk_model_create (for a family's own accessors). */
void *evk_model_impl(const evk_model *m);
int64_t evk_model_sample_numel(const evk_model *m);
/* Elements of one decoded sample (what rewards score). */
int64_t evk_model_decoded_numel(const evk_model *m);
bool evk_model_has_decode(const evk_model *m);

/* Record the forward call after checking every shape. */
evk_status evk_model_forward(evk_model *m, evk_stream *s, const evk_model_input *in, const evk_tensor *out);
/* Record classifier-free guidance: out = ε_u + w·(ε_c − ε_u), with ε_c from in->cond and ε_u from
 * `uncond` (either may be NULL for an unconditional model); scratch has out's shape. */
evk_status evk_model_forward_guided(evk_model *m, evk_stream *s, const evk_model_input *in, const evk_tensor *uncond,
                                    float w, const evk_tensor *scratch, const evk_tensor *out);
/* Record the decode (a copy-free no-op is not possible: without a decoder this copies x0 to out). */
evk_status evk_model_decode(evk_model *m, evk_stream *s, const evk_tensor *x0, const evk_tensor *out);

/* ---- the exact Gaussian mixture (model_gmm.c) ------------------------------------------------
 * p(x0) = Σ_k w_k N(μ_k, s_k² I) in D dimensions. Its optimal denoiser is closed-form: given
 * x_t = a·x0 + b·ε, component k has posterior weight ∝ w_k N(x_t; a μ_k, (a² s_k² + b²) I) and
 * E[x0 | x_t, k] = μ_k + a s_k² (x_t − a μ_k) / (a² s_k² + b²); a shader computes the softmax and
 * the weighted means for the whole batch. Model file (JSON):
 *   {"family":"gmm","dim":D,"schedule":"vp"|"flow","prediction":"eps"|"v"|"x0"|"flow",
 *    "components":[{"weight":w,"mean":[...D],"std":s}, ...]}                                   */
#define EVK_GMM_MAX_COMPONENTS 32

typedef struct evk_gmm_desc {
    uint32_t dim, components;
    const double *weights; /* [K], positive (normalised on creation) */
    const double *means;   /* [K, D] */
    const double *stds;    /* [K], positive */
    evk_schedule schedule;
    evk_model_output prediction;
} evk_gmm_desc;

evk_status evk_model_gmm_create(evk_context *ctx, const evk_gmm_desc *desc, evk_model **out);
/* Parse a mixture from JSON text (`what` names it in messages). */
evk_status evk_model_gmm_parse(evk_context *ctx, const char *json, const char *what, evk_model **out);
/* The mixture behind a gmm model (NULL for other families); arrays live as long as the model. */
const evk_gmm_desc *evk_model_gmm_desc(const evk_model *m);

#ifdef __cplusplus
}
#endif
#endif
