/* reward.h — rewards: a batch of decoded samples in, one float per sample out, on the GPU.
 *
 * A reward is an object with one call that RECORDS out[n] (+)= weight · r(sample n) into a
 * stream, so searches read back only scores. Families plug in through evk_reward_create with a
 * table of callbacks (CLIP-style scores and aesthetic heads come next); rewards combine as
 * weighted sums ("sum"), e.g. T2V-Turbo's mixed image-text + video-text reward. The analytic
 * family scores vectors (the Gaussian-mixture toy) and is loaded from JSON:
 *   {"type":"linear","direction":[...]}                  r = d·x
 *   {"type":"gaussian_bump","center":[...],"width":w}    r = exp(−|x − c|² / 2w²)
 *   {"type":"neg_distance","center":[...]}               r = −|x − c|
 *   {"type":"sum","terms":[{"weight":a,"reward":{...}}, ...]}   r = Σ a_i r_i              */
#ifndef EVK_REWARD_H
#define EVK_REWARD_H

#include <stdbool.h>
#include <stdint.h>

#include "core/stream.h"
#include "core/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct evk_reward evk_reward;

typedef struct evk_reward_ops {
    /* Record out[n] = (accumulate ? out[n] : 0) + weight · r(samples[n]) for every row n of
     * samples (f32 [N, ...]); out is f32 [N]. Shapes are checked before the call. */
    evk_status (*evaluate)(void *impl, evk_stream *s, const evk_tensor *samples, const evk_tensor *out, float weight,
                           bool accumulate);
    void (*destroy)(void *impl);
} evk_reward_ops;

/* Wrap a family's reward; `name` is copied; `sample_numel` is the elements per sample it expects
 * (0: any). impl is owned from now on (destroyed on failure too). */
evk_status evk_reward_create(evk_context *ctx, const evk_reward_ops *ops, const char *name, int64_t sample_numel, void *impl,
                             evk_reward **out);
void evk_reward_destroy(evk_reward *r);
const char *evk_reward_name(const evk_reward *r);
/* Elements per sample this reward scores (0: any). */
int64_t evk_reward_sample_numel(const evk_reward *r);

/* Record out[n] = r(samples[n]). */
evk_status evk_reward_evaluate(evk_reward *r, evk_stream *s, const evk_tensor *samples, const evk_tensor *out);
/* Record out[n] = (accumulate ? out[n] : 0) + weight · r(samples[n]). */
evk_status evk_reward_evaluate_into(evk_reward *r, evk_stream *s, const evk_tensor *samples, const evk_tensor *out, float weight,
                                    bool accumulate);

/* Weighted sum of rewards; takes ownership of the terms (also on failure). */
evk_status evk_reward_sum(evk_context *ctx, uint32_t count, evk_reward **terms, const double *weights, evk_reward **out);

typedef enum evk_analytic_kind {
    EVK_REWARD_LINEAR = 0,
    EVK_REWARD_GAUSSIAN_BUMP,
    EVK_REWARD_NEG_DISTANCE,
} evk_analytic_kind;

/* An analytic reward on vectors of `dim` elements; vec is the direction or the center. */
evk_status evk_reward_analytic_create(evk_context *ctx, evk_analytic_kind kind, uint32_t dim, const double *vec, double width,
                                      evk_reward **out);
/* Host evaluation of an analytic (or sum-of-analytic) reward, in double, for references and
 * reports; EVK_ERROR_UNSUPPORTED for other families. */
evk_status evk_reward_eval_host(const evk_reward *r, const float *sample, int64_t numel, double *out);
/* What model-based rewards need to know besides their JSON: the prompt they score against, the
 * size of the images they will see, and the folder relative paths in the JSON start from. */
typedef struct evk_reward_options {
    const char *prompt;
    uint32_t image_height, image_width;
    const char *base_dir; /* NULL: the JSON file's folder (load) or the working directory (parse) */
} evk_reward_options;

/* CLIP score: cosine of the prompt's and each image's CLIPModel embeddings (transformers folder:
 * config.json, model.safetensors, preprocessor_config.json, tokenizer files). Samples are [0, 1]
 * RGB images [N, 3·height·width]. JSON: {"type":"clip_score","model":DIR}. */
evk_status evk_reward_clip_score_create(evk_context *ctx, const char *folder, const char *prompt, uint32_t height,
                                        uint32_t width, evk_reward **out);

/* LAION-style aesthetic predictor: an MLP of linear layers ("layers.N.weight"/"layers.N.bias",
 * no activations, as the released head) on the L2-normalised CLIP image embedding of a CLIPModel
 * folder. JSON: {"type":"aesthetic","clip":DIR,"head":FILE.safetensors}. */
evk_status evk_reward_aesthetic_create(evk_context *ctx, const char *clip_folder, const char *head_path, uint32_t height,
                                       uint32_t width, evk_reward **out);

/* Parse a reward from JSON text / load it from a file: analytic rewards, clip_score, aesthetic and sums.
 * The _with forms pass what model-based rewards need (options may be NULL). */
evk_status evk_reward_parse_with(evk_context *ctx, const char *json, const char *what, const evk_reward_options *options,
                                 evk_reward **out);
evk_status evk_reward_load_with(evk_context *ctx, const char *path, const evk_reward_options *options, evk_reward **out);
evk_status evk_reward_parse(evk_context *ctx, const char *json, const char *what, evk_reward **out);
evk_status evk_reward_load(evk_context *ctx, const char *path, evk_reward **out);

#ifdef __cplusplus
}
#endif
#endif
