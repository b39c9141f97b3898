/* gmm.h — the exact Gaussian mixture as an evoke model family ("gmm").
 *
 * p(x0) = Σ_k w_k N(μ_k, s_k² I) in D dimensions. Its optimal denoiser is closed-form: given
 * x_t = a·x0 + b·ε, component k has posterior weight ∝ w_k N(x_t; a μ_k, (a² s_k² + b²) I) and
 * E[x0 | x_t, k] = μ_k + a s_k² (x_t − a μ_k) / (a² s_k² + b²); a shader computes the softmax and
 * the weighted means for the whole batch. Nothing is learned, so searches on it are measured
 * against ground truth. Model file (JSON):
 *   {"family":"gmm","dim":D,"schedule":"vp"|"flow","prediction":"eps"|"v"|"x0"|"flow",
 *    "components":[{"weight":w,"mean":[...D],"std":s}, ...]}                                   */
#ifndef EVK_GMM_H
#define EVK_GMM_H

#include "models/model.h"

#ifdef __cplusplus
extern "C" {
#endif

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

/* The family's registry entry (models/registry.c): a JSON file whose "family" is "gmm", and its
 * loader (the mixture takes none of the image options). */
bool evk_gmm_probe(const char *path);
evk_status evk_gmm_model_load(evk_context *ctx, const char *path, const evk_model_options *options, evk_model **out);

#ifdef __cplusplus
}
#endif
#endif
