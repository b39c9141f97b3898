/* openclip_reward.h — rewards on OpenCLIP-layout checkpoints (openclip_reward.c):
 *
 *  - hpsv2: HPSv2 / HPSv2.1 (an open_clip ViT-H/14 state dict, `HPS_v2.1_compressed.pt`), scored as
 *    the HPSv2 code and T2V-Turbo's get_hpsv2_fn score it: the image resized with its long side to
 *    the tower's size S (bicubic, antialiased as torchvision does; sizes round(side · S / long)),
 *    padded to S×S with zeros (centred: pad // 2 above and to the left), normalised with OpenAI
 *    CLIP's mean/std; the score is cos(image features, prompt features). An image reward: a
 *    video's score is its mean over the frames (rewards/frames.h). JSON {"type":"hpsv2","model":FILE}.
 *  - viclip: InternVid's ViCLIP (T2V-Turbo's viclip/, the released `.pth` {"model": state dict}),
 *    a video-text reward: T of the clip's F frames (T from temporal_positional_embedding, 8 in the
 *    release), frames k·(F // T) for k < T (T2V-Turbo's pick with its random start fixed at 0; F ≥ T),
 *    each resized with its short side to S (rounded sizes, as ResizeCropMinSize does) and cropped
 *    S×S at the centre (upstream crops at random), normalised with ImageNet's mean/std; the score is
 *    cos(video features, prompt features) with the prompt in ViCLIP's 32-token context.
 *    JSON {"type":"viclip","model":FILE}.
 * Sizes come from the tensor shapes; head counts and the activation from the defaults (HPSv2:
 * ViT-H-14's 16 / 16 heads, GELU; ViCLIP: ViT-L/14's 16 vision / 12 text heads, quick GELU) or a
 * config.json beside the weights (models/clip/openclip.h). Samples are [0, 1] RGB: images
 * [N, 3·H·W], clips [N, F·3·H·W] (frame-major). A T2V-Turbo mixed reward is a sum of the two
 * (rewards/sum.h): {"type":"sum","terms":[{"weight":1,"reward":{"type":"hpsv2",...}},
 * {"weight":2,"reward":{"type":"viclip",...}}]}. */
#ifndef EVK_REWARD_OPENCLIP_H
#define EVK_REWARD_OPENCLIP_H

#include "rewards/reward.h"

#ifdef __cplusplus
extern "C" {
#endif

evk_status evk_reward_hpsv2_create(evk_context *ctx, const char *path, const char *prompt, uint32_t height, uint32_t width,
                                   evk_reward **out);
evk_status evk_reward_viclip_create(evk_context *ctx, const char *path, const char *prompt, uint32_t frames, uint32_t height,
                                    uint32_t width, evk_reward **out);

#ifdef __cplusplus
}
#endif
#endif
