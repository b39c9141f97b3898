/* reward.h — the reward interface and registry: a batch of decoded samples in, one float per
 * sample out, on the GPU.
 *
 * A reward is an object with one call that RECORDS out[n] (+)= weight · r(sample n) into a
 * stream, so searches read back only scores. Families wrap their state with evk_reward_create and
 * a table of callbacks, and are found by their JSON "type" through the registry in reward.c (one
 * line per type): analytic.h (linear, gaussian_bump, neg_distance), clip_score.h, aesthetic.h,
 * sum.h (weighted sums, e.g. T2V-Turbo's mixed image-text + video-text reward) and frames.h
 * (a video's reward as an image reward's mean over its frames). */
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
    /* Optional: r(sample) on the host in double (numel elements). */
    evk_status (*eval_host)(void *impl, const float *sample, int64_t numel, double *out);
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

/* Host evaluation in double, for references and reports (analytic rewards and sums of them);
 * EVK_ERROR_UNSUPPORTED for rewards without one. */
evk_status evk_reward_eval_host(const evk_reward *r, const float *sample, int64_t numel, double *out);

/* What model-based rewards need to know besides their JSON: the prompt they score against, the
 * size of the images they will see, and the folder relative paths in the JSON start from. */
typedef struct evk_reward_options {
    const char *prompt;
    uint32_t image_height, image_width;
    const char *base_dir; /* NULL: the JSON file's folder (load) or the working directory (parse) */
    /* Videos: samples are clips of this many frames [frames, 3, image_height, image_width]; every
     * image reward in the JSON then scores a clip as its mean over the frames (rewards/frames.h).
     * 0: samples are single images (or not pictures). */
    uint32_t frames;
} evk_reward_options;

/* Parse a reward from JSON text / load it from a file: analytic rewards, clip_score, aesthetic and sums.
 * The _with forms pass what model-based rewards need (options may be NULL). */
evk_status evk_reward_parse_with(evk_context *ctx, const char *json, const char *what, const evk_reward_options *options,
                                 evk_reward **out);
evk_status evk_reward_load_with(evk_context *ctx, const char *path, const evk_reward_options *options, evk_reward **out);
evk_status evk_reward_parse(evk_context *ctx, const char *json, const char *what, evk_reward **out);
evk_status evk_reward_load(evk_context *ctx, const char *path, evk_reward **out);

/* The JSON "type"s the parser knows, in table order (for help texts and messages). */
uint32_t evk_reward_type_count(void);
const char *evk_reward_type_name(uint32_t i); /* NULL past the end */

#ifdef __cplusplus
}
#endif
#endif
