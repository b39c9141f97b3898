/* clip_reward.h — private to the CLIP-embedding rewards (clip_score.c, aesthetic.c): the state
 * both share, a score = scale · cos(image embedding, target) + bias, and its constructor. */
#ifndef EVK_CLIP_REWARD_H
#define EVK_CLIP_REWARD_H

#include "formats/config.h"
#include "models/clip/clip.h"
#include "rewards/reward.h"

typedef struct evk__clip_reward {
    evk_context *ctx;
    evk_clip_config cfg;
    evk_clip_preprocess_config pre;
    evk_weights *ws;
    evk_clip_vision *vision;
    evk_clip_projections proj;
    evk_tensor text_embed; /* [1, P]: the target row (prompt embedding, or the collapsed head) */
    float scale, bias;
    uint32_t height, width; /* images scored */
    int64_t resized_h, resized_w;
} evk__clip_reward;

/* The CLIP folder's configs, preprocessing geometry, vision tower and projections; the target row
 * (text_embed) is the caller's to fill. */
evk_status evk__clip_reward_open(evk_context *ctx, const char *folder, uint32_t height, uint32_t width, evk__clip_reward **out);
void evk__clip_reward_destroy(void *impl);
extern const evk_reward_ops evk__clip_reward_ops;

#endif
