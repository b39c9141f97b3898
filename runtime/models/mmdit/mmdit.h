/* mmdit.h — diffusers' SD3Transformer2DModel (MMDiT, and SD3.5's MMDiT-X) on the GPU.
 *
 * As diffusers v0.31 computes it: PatchEmbed (a p×p stride-p convolution, tokens in row-major
 * patch order, plus the 2-D sin-cos position table of pos_embed_max_size² positions cropped to the
 * centre h×w), CombinedTimestepTextProjEmbeddings (256-channel sinusoid of the timestep, flipped to
 * [cos | sin], through a SiLU MLP, plus the pooled text through another), the context embedder,
 * then JointTransformerBlocks: AdaLayerNormZero modulation of both streams (the last block's
 * context stream AdaLayerNormContinuous and "pre-only": it feeds keys and values and is dropped),
 * joint attention over [image tokens ; text tokens] (queries, keys and values of each stream from
 * its own projections, RMS-normed per head with qk_norm "rms_norm"), gated residuals, GELU-tanh
 * feed-forwards; dual_attention_layers add a second self-attention over the image tokens
 * (SD35AdaLayerNormZeroX's extra shift, scale and gate). Out: AdaLayerNormContinuous, a linear to
 * p·p·C per token, unpatchify. Weights keep diffusers' names (the transformer folder's safetensors). */
#ifndef EVK_MMDIT_H
#define EVK_MMDIT_H

#include <stdbool.h>

#include "core/stream.h"
#include "core/tensor.h"
#include "formats/config.h"
#include "formats/weights.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct evk_mmdit evk_mmdit;

/* Load every weight (matrices in `storage`: f32, f16, or EVK_DTYPE_QUANT for "as stored": GGUF
 * quantised matrices stay quantised on the device and run through the dequantising matmul, see
 * nn.h) and build the position table cropped to
 * a latent of height × width pixels (multiples of patch_size, at most pos_embed_max_size patches). */
evk_status evk_mmdit_load(evk_context *ctx, const evk_mmdit_config *cfg, evk_weights *ws, evk_dtype storage, int height,
                          int width, evk_mmdit **out);
/* The same from a single-file checkpoint with the original MMDiT names (sd3_medium*.safetensors,
 * sd3.5_medium.safetensors): `ws` routed through evk_mmdit_use_original_names; the
 * [shift | scale] order of the original AdaLayerNormContinuous projections is read as stored. */
evk_status evk_mmdit_load_original(evk_context *ctx, const evk_mmdit_config *cfg, evk_weights *ws, evk_dtype storage,
                                   int height, int width, evk_mmdit **out);
/* mmdit_keys.c: route diffusers names to the original ones ("joint_blocks.N.x_block.attn.qkv"
 * thirds, ...; under "model.diffusion_model." when the file has that prefix, as single-file
 * checkpoints and stable-diffusion.cpp's GGUF files do, bare as in ComfyUI-GGUF's), and whether a
 * weight set holds such a checkpoint. */
evk_status evk_mmdit_use_original_names(evk_weights *ws);
bool evk_mmdit_is_original(const evk_weights *ws);
void evk_mmdit_destroy(evk_mmdit *m);
const evk_mmdit_config *evk_mmdit_get_config(const evk_mmdit *m);

/* Record out = transformer(x, timestep, context, pooled): x, out f32 [B, C, height, width] (the
 * load size); timestep f32 [B] (1000·σ); context f32 [B, L, joint_attention_dim]; pooled f32
 * [B, pooled_projection_dim]. */
evk_status evk_mmdit_forward(evk_mmdit *m, evk_stream *s, const evk_tensor *x, const evk_tensor *timestep,
                             const evk_tensor *context, const evk_tensor *pooled, const evk_tensor *out);

#ifdef __cplusplus
}
#endif
#endif
