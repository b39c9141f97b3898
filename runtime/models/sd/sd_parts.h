/* sd_parts.h — pieces of diffusers' Stable-Diffusion-style pipelines shared by the families built
 * from SD's components (the "sd" image family, ModelScope text-to-video): prompt encoding with a
 * CLIP tokenizer and CLIPTextModel, the scheduler config's sampler, classifier-free guidance as
 * one batched network pass, and conditioning rows shared by a batch. */
#ifndef EVK_SD_PARTS_H
#define EVK_SD_PARTS_H

#include "formats/config.h"
#include "formats/tokenizer.h"
#include "models/clip/clip.h"
#include "models/model.h"
#include "samplers/sampler.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Encode a prompt (NULL: "") as the pipelines' encode_prompt does: tokens padded to the text
 * encoder's max_position_embeddings, last_hidden_state [1, L, hidden_size] allocated into `out`
 * (free with evk_tensor_free); a prompt longer than the context is truncated and *truncated set. */
evk_status evk_sd_encode_text(evk_context *ctx, const evk_tokenizer *tok, evk_clip_text *text, const char *prompt,
                              evk_tensor *out, bool *truncated);

/* A sampler configuration following a scheduler config (β schedule and range, spacing,
 * steps_offset, set_alpha_to_one, LCM's original_inference_steps); `folder` names the model in
 * messages about settings evoke does not implement. kind: DDIM (η as given), DDPM or LCM. */
evk_status evk_sd_scheduler_sampler(const evk_scheduler_config *c, const char *folder, evk_model_output prediction,
                                    evk_sampler_kind kind, uint32_t steps, double eta, evk_sampler_config *out);

/* Record dst [B, ...] = src ([B, ...] copied, or [1, ...] repeated B times). */
evk_status evk_sd_broadcast_rows(evk_context *ctx, evk_stream *s, const evk_tensor *src, int64_t B, const evk_tensor *dst);

/* The prompt encoding a model's forward takes: [B or 1, L, D]. */
evk_status evk_sd_check_cond(const evk_tensor *cond, const char *family, const char *what);

/* The network of a guided pass: out = net(x, t, cond) on a batch of 2B ([uncond; cond] halves).
 * x and out are [2B, ...sample shape], t [2B], cond [2B, L, D]. */
typedef evk_status (*evk_sd_net_fn)(void *user, evk_stream *s, const evk_tensor *x, const evk_tensor *t, const evk_tensor *cond,
                                    const evk_tensor *out);

/* Classifier-free guidance in one network pass over [uncond half; cond half]:
 * out = ε_u + w·(ε_c − ε_u). sample_ndim / sample_shape: one sample's shape (net's view of x). */
evk_status evk_sd_forward_guided(evk_context *ctx, evk_stream *s, const evk_model_input *in, const evk_tensor *uncond, float w,
                                 int sample_ndim, const int64_t *sample_shape, const char *family, evk_sd_net_fn net, void *user,
                                 const evk_tensor *out);

#ifdef __cplusplus
}
#endif
#endif
