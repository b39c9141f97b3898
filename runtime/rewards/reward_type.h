/* reward_type.h — private to runtime/rewards/: what a reward family registers (its JSON "type"
 * and a parser that builds the reward through the family's public constructor), the parse state
 * passed down nested sums, and the registry's entries (the table is in reward.c). */
#ifndef EVK_REWARD_TYPE_H
#define EVK_REWARD_TYPE_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "core/context.h"
#include "core/status.h"

/* reward.h's types, declared rather than included: reward.c includes this header, and the
 * registry must not include what includes it. */
typedef struct evk_reward evk_reward;
struct evk_reward_options;

typedef struct evk__reward_json {
    evk_context *ctx;
    const char *what;                 /* the file or label, for messages */
    const struct evk_reward_options *opt; /* may be NULL */
    int depth;                        /* nesting of sums */
} evk__reward_json;

typedef struct evk_reward_type {
    const char *type; /* the JSON "type" */
    /* Build the reward of JSON object o (at `path`, for messages). */
    evk_status (*parse)(const cJSON *o, const char *path, const evk__reward_json *j, evk_reward **out);
} evk_reward_type;

/* The dispatcher (reward.c), for families that hold other rewards (sum). */
evk_status evk__reward_from_json(const cJSON *o, const char *path, const evk__reward_json *j, evk_reward **out);
/* A path from the JSON, relative to the options' base_dir unless absolute. */
void evk__reward_resolve(const evk__reward_json *j, const char *rel, char *out, size_t size);

extern const evk_reward_type evk__reward_type_linear, evk__reward_type_gaussian_bump, evk__reward_type_neg_distance,
    evk__reward_type_clip_score, evk__reward_type_aesthetic, evk__reward_type_sum, evk__reward_type_frame_mean,
    evk__reward_type_hpsv2, evk__reward_type_viclip;
/* (frames.c) Values of one video frame when the options name a frame count and an image size; else 0. */
int64_t evk__reward_frame_numel(const evk__reward_json *j);
/* (frames.c) The frame-mean wrapper the dispatcher puts around image rewards for videos (declared
 * for reward.c here as in rewards/frames.h, so that reward and frames do not include each other). */
evk_status evk_reward_frame_mean(evk_context *ctx, evk_reward *image, uint32_t frames, int64_t frame_numel, uint32_t max_frames,
                                 evk_reward **out);

#endif
