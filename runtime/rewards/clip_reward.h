/* clip_reward.h — private to the CLIP-embedding rewards (clip_score.c, aesthetic.c): the state
 * both share, a score = scale · cos(image embedding, target) + bias, and its constructor. */
#ifndef EVK_CLIP_REWARD_H
#define EVK_CLIP_REWARD_H

#include "formats/config.h"
#include "formats/tokenizer.h"
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
    int64_t top, left;      /* the crop's corner in the resized image, or (letterbox) the resized image's place */
    bool letterbox;         /* open_clip's ResizeMaxSize: pad the resized image to S×S with zeros */
    /* video-text rewards (ViCLIP): clips of `clip_frames` frames, `pick` [T] of them scored */
    uint32_t clip_frames, *pick;
} evk__clip_reward;

/* The CLIP folder's configs, preprocessing geometry, vision tower and projections; the target row
 * (text_embed) is the caller's to fill. */
evk_status evk__clip_reward_open(evk_context *ctx, const char *folder, uint32_t height, uint32_t width, evk__clip_reward **out);
void evk__clip_reward_destroy(void *impl);
/* images f32 [n, 3·H·W] -> preprocessed pixels [n, 3, S, S] (resize, then crop or letterbox, normalise). */
evk_tensor evk__clip_reward_pixels(evk_nn *nn, const evk__clip_reward *r, const evk_tensor *images);
/* out (+)= weight · (scale · cos(pooled · visual projection, text_embed) + bias); pooled [n, D] is freed. */
void evk__clip_reward_score(evk_nn *nn, const evk__clip_reward *r, evk_tensor *pooled, const evk_tensor *out, float weight, bool accumulate);
/* text_embed = the prompt's projected text embedding (the text tower is loaded from r->ws and dropped). */
evk_status evk__clip_reward_embed_prompt(evk__clip_reward *r, const evk_tokenizer *tok, const char *prompt);
extern const evk_reward_ops evk__clip_reward_ops;

#endif
