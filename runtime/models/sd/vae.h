/* vae.h — the decoder of diffusers' AutoencoderKL on the GPU: final latents to image.
 *
 * Built from vae/config.json (evk_vae_config) and the checkpoint's decoder tensors under their
 * diffusers names (post_quant_conv.*, decoder.conv_in, decoder.mid_block.{resnets.0,
 * attentions.0, resnets.1}, decoder.up_blocks.N.{resnets.M, upsamplers.0.conv},
 * decoder.conv_norm_out, decoder.conv_out); pre-0.14 attention names (query/key/value/proj_attn)
 * are accepted too, and single-file checkpoints go through the weight set's name map. Every
 * GroupNorm of the decoder uses eps 1e-6 (diffusers' fixed value, not a config key).
 *
 * evk_vae_decode does what a diffusers pipeline does with its final latents: it divides them by
 * scaling_factor (and adds shift_factor when the config has one) BEFORE post_quant_conv, so the
 * caller passes the sampler's latents unchanged. The image is the decoder's raw output, about
 * -1..1, not clamped: the caller maps it to pixels (evk_op_postprocess or (x + 1) / 2).
 *
 * The mid block's attention has one head as wide as the deepest block (512 channels in SD),
 * beyond the fused attention kernel's head-dimension limit; it then runs as q·kᵀ → softmax → ·v
 * with matmuls, over chunks of query rows so the score matrix stays within a memory budget
 * (a 64×64 latent is 4096 tokens). Large images can also be decoded in overlapping tiles. */
#ifndef EVK_VAE_H
#define EVK_VAE_H

#include <stdbool.h>
#include <stdint.h>

#include "formats/config.h"
#include "nn/nn.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct evk_vae_decoder evk_vae_decoder;

/* `storage`: dtype of conv kernels and linear weights (EVK_DTYPE_F32 or EVK_DTYPE_F16); norms
 * and biases stay f32. A missing or mis-shaped tensor fails with its name; an unsupported
 * config (act_fn other than silu) is EVK_ERROR_UNSUPPORTED. */
evk_status evk_vae_decoder_load(evk_context *ctx, const evk_vae_config *cfg, evk_weights *ws, evk_dtype storage,
                                evk_vae_decoder **out);
void evk_vae_decoder_destroy(evk_vae_decoder *dec);
const evk_vae_config *evk_vae_decoder_config(const evk_vae_decoder *dec);
/* Image pixels per latent pixel: 2^(number of blocks - 1) (8 for SD). */
int evk_vae_decoder_upscale(const evk_vae_decoder *dec);

typedef struct evk_vae_decode_options {
    /* Mid-block attention: query rows per chunk of the matmul path (0: as many as fit in
     * attention_budget bytes of scores) and that budget (0: 256 MiB). */
    int64_t attention_rows;
    uint64_t attention_budget;
    /* Use the matmul path even when the fused attention kernel could run (tests, benchmarks). */
    bool attention_matmul;
    /* Tiled decoding for large images, as diffusers' AutoencoderKL.tiled_decode: latents larger
     * than tile_latent on a side are decoded in tiles of tile_latent latents overlapping by
     * tile_overlap (0: 0.25), their seams blended linearly. 0: no tiling, unless the latents
     * are so large that the mid-block attention's operands exceed one binding (then tiles of
     * up to 64 latents; everything else splits exactly, see vae.c). Peak memory then follows
     * one tile instead of the whole image. */
    int64_t tile_latent;
    double tile_overlap;
} evk_vae_decode_options;

/* Options for later evk_vae_decode calls (NULL restores the defaults). */
void evk_vae_decoder_set_options(evk_vae_decoder *dec, const evk_vae_decode_options *opt);

/* Record image = decoder(post_quant_conv(latents / scaling_factor [+ shift_factor])).
 * latents: f32 [B, latent_channels, h, w]; image: f32 [B, out_channels, h·up, w·up] with
 * up = evk_vae_decoder_upscale(). The latents are not modified. */
evk_status evk_vae_decode(evk_vae_decoder *dec, evk_stream *s, const evk_tensor *latents, const evk_tensor *image);

#ifdef __cplusplus
}
#endif
#endif
