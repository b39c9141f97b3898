/* clip_score.h — the CLIP score reward (clip_score.c). */
#ifndef EVK_REWARD_CLIP_SCORE_H
#define EVK_REWARD_CLIP_SCORE_H

#include "rewards/reward.h"

#ifdef __cplusplus
extern "C" {
#endif

/* CLIP score: cosine of the prompt's and each image's CLIPModel embeddings (transformers folder:
 * config.json, model.safetensors, preprocessor_config.json, tokenizer files). Samples are [0, 1]
 * RGB images [N, 3·height·width]. JSON: {"type":"clip_score","model":DIR}. */
evk_status evk_reward_clip_score_create(evk_context *ctx, const char *folder, const char *prompt, uint32_t height,
                                        uint32_t width, evk_reward **out);

#ifdef __cplusplus
}
#endif
#endif
