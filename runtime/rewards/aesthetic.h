/* aesthetic.h — the aesthetic-head reward (aesthetic.c). */
#ifndef EVK_REWARD_AESTHETIC_H
#define EVK_REWARD_AESTHETIC_H

#include "rewards/reward.h"

#ifdef __cplusplus
extern "C" {
#endif

/* LAION-style aesthetic predictor: an MLP of linear layers ("layers.N.weight"/"layers.N.bias",
 * no activations, as the released head) on the L2-normalised CLIP image embedding of a CLIPModel
 * folder. JSON: {"type":"aesthetic","clip":DIR,"head":FILE.safetensors}. */
evk_status evk_reward_aesthetic_create(evk_context *ctx, const char *clip_folder, const char *head_path, uint32_t height,
                                       uint32_t width, evk_reward **out);

#ifdef __cplusplus
}
#endif
#endif
