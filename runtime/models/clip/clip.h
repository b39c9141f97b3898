/* clip.h — transformers' CLIP towers: CLIPTextModel (the text encoder of Stable Diffusion and of
 * CLIP rewards) and the CLIP vision tower with both projections (CLIPModel), on the GPU.
 *
 * Weights keep the transformers names ("text_model.encoder.layers.0.self_attn.q_proj.weight",
 * "vision_model.embeddings.patch_embedding.weight", "text_projection.weight", ...), read from an
 * evk_weights set; a key prefix lets the same code read other layouts. The text tower returns
 * the final-layer-normed last hidden state [B, L, D] (what SD's UNet attends to; `clip_skip`
 * takes an earlier layer instead, still final-normed, as diffusers does) and, when asked, the
 * pooled output at each sequence's end-of-text token. The vision tower takes images already
 * preprocessed to [B, 3, S, S] and returns the pooled, post-layernormed class token. */
#ifndef EVK_CLIP_H
#define EVK_CLIP_H

#include "formats/config.h"
#include "nn/nn.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct evk_clip_text evk_clip_text;
typedef struct evk_clip_vision evk_clip_vision;

/* Load a text tower. `prefix` is prepended to the transformers names ("" for a CLIPTextModel
 * file, also "" for a CLIPModel file, whose text tower has the same "text_model." names).
 * `storage` is the dtype of matrices (f32 or f16). */
evk_status evk_clip_text_load(evk_context *ctx, const evk_clip_text_config *cfg, evk_weights *ws, evk_dtype storage,
                              evk_clip_text **out);
void evk_clip_text_destroy(evk_clip_text *m);
const evk_clip_text_config *evk_clip_text_get_config(const evk_clip_text *m);

/* Record the encoder for ids [B, L] (host array of B·L token ids, L ≤ max_position_embeddings).
 * hidden: f32 [B, L, hidden_size] (may be NULL); pooled: f32 [B, hidden_size] (may be NULL).
 * clip_skip 0 = last layer. Ids are checked against the vocabulary on the host. */
evk_status evk_clip_text_forward(evk_clip_text *m, evk_stream *s, const int32_t *ids, int batch, int length,
                                 int clip_skip, const evk_tensor *hidden, const evk_tensor *pooled);

/* The same encoder returning what SD3 reads: the penultimate layer's output without the final
 * norm (transformers' hidden_states[-2]) [B, L, hidden_size], and the pooled output (may be NULL). */
evk_status evk_clip_text_forward_penultimate(evk_clip_text *m, evk_stream *s, const int32_t *ids, int batch, int length,
                                             const evk_tensor *penultimate, const evk_tensor *pooled);

evk_status evk_clip_vision_load(evk_context *ctx, const evk_clip_vision_config *cfg, evk_weights *ws, evk_dtype storage,
                                evk_clip_vision **out);
void evk_clip_vision_destroy(evk_clip_vision *m);
/* images f32 [B, C, S, S] preprocessed (S = image_size) -> pooled f32 [B, hidden_size]. */
evk_status evk_clip_vision_forward(evk_clip_vision *m, evk_stream *s, const evk_tensor *images, const evk_tensor *pooled);

/* ViCLIP's video form of the tower (InternVid): a clip's T frames are patchified one by one, each
 * patch token gets the spatial position row and the frame's temporal row, and one sequence per clip
 * holds frame 0's class token then, for each patch n, its T frames (n-major), attended jointly.
 * `table` is f32 [T·(P + 1), D]: row t·(P + 1) + j = position[j] + (j > 0 ? temporal[t] : 0). */
evk_status evk_clip_vision_set_video(evk_clip_vision *m, int frames, const float *table);
/* frames f32 [B·T, C, S, S] (clip b's frame t at row b·T + t, preprocessed) -> pooled f32 [B, hidden_size]. */
evk_status evk_clip_vision_forward_video(evk_clip_vision *m, evk_stream *s, const evk_tensor *frames, const evk_tensor *pooled);

/* The projections of a CLIPModel: "text_projection.weight" [P, Dt], "visual_projection.weight" [P, Dv]. */
/* logit_scale: the log of the logits' temperature (logits = exp(logit_scale) · cos), from the
 * checkpoint's "logit_scale" scalar, else the config's logit_scale_init_value. */
typedef struct evk_clip_projections { evk_linear text, visual; float logit_scale; } evk_clip_projections;
evk_status evk_clip_projections_load(const evk_clip_config *cfg, evk_weights *ws, evk_dtype storage,
                                     evk_clip_projections *out);
void evk_clip_projections_free(evk_context *ctx, evk_clip_projections *p);

/* Positions of the pooled token per sequence, as transformers picks them: the argmax of the ids
 * for legacy configs (eos_token_id == 2), else the first eos_token_id (or the last position). */
void evk_clip_text_eos_positions(const evk_clip_text_config *cfg, const int32_t *ids, int batch, int length,
                                 int32_t *positions);

#ifdef __cplusplus
}
#endif
#endif
