/* frames.h — video rewards from image rewards: a clip's reward is the mean of an image reward
 * over its frames (frames.c).
 *
 * A clip is [frames, 3, H, W] in [0, 1] (what video models decode); the wrapped reward scores
 * single frames [3, H, W]. Every frame is scored, or, with a cap of K < frames, K frames picked
 * deterministically, evenly spaced and including the first and the last (frame round(k·(F−1)/(K−1))
 * for k = 0..K−1; K = 1: the middle frame ⌊(F−1)/2⌋). All picked frames of a batch of clips go
 * through the image reward in one call, on the GPU, and only the means come back.
 * JSON: {"type":"frame_mean","reward":{...an image reward...},"max_frames":K} (max_frames
 * optional); and when the reward options name a frame count (evk_reward_options.frames, set for
 * video models), every image reward of a JSON file — alone or a term of a sum — is wrapped so
 * without being asked, so the same reward files score images and videos. */
#ifndef EVK_REWARD_FRAMES_H
#define EVK_REWARD_FRAMES_H

#include "rewards/reward.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The mean of `image` (scoring samples of frame_numel values; takes ownership, also on failure)
 * over `frames` frames per clip, at most max_frames of them (0: all). */
evk_status evk_reward_frame_mean(evk_context *ctx, evk_reward *image, uint32_t frames, int64_t frame_numel, uint32_t max_frames,
                                 evk_reward **out);
/* The frame indices a cap picks (out holds min(frames, max_frames or frames) entries); returns their count. */
uint32_t evk_reward_frame_pick(uint32_t frames, uint32_t max_frames, uint32_t *out);

#ifdef __cplusplus
}
#endif
#endif
