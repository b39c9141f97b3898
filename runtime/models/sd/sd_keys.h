/* sd_keys.h — diffusers tensor names -> the original CompVis / Stability names of single-file
 * Stable Diffusion checkpoints, so one network loader reads both layouts.
 *
 * A single-file checkpoint (.safetensors as released for SD 1.x / 2.x, or saved by the usual UIs)
 * holds the UNet under "model.diffusion_model." (input_blocks / middle_block / output_blocks with
 * in_layers / out_layers / emb_layers resnets), the VAE under "first_stage_model." (encoder.down /
 * decoder.up with the up blocks stored in reverse order, nin_shortcut, q/k/v/proj_out attention
 * as 1×1 convolutions) and the text encoder under "cond_stage_model.": for SD 1.x a transformers
 * CLIPTextModel ("cond_stage_model.transformer.text_model."), for SD 2.x an OpenCLIP transformer
 * ("cond_stage_model.model.", resblocks with fused in_proj q/k/v weights, ln_1/ln_2, c_fc/c_proj).
 * The rules are those of diffusers' single-file conversion, run in the other direction and on
 * demand: a map is built from the component's config (block counts, which blocks have attention)
 * and translates one requested name at a time into an evk_weight_ref (file name, which third of a
 * fused tensor, whether a 1×1 conv stands for a linear weight). */
#ifndef EVK_SD_KEYS_H
#define EVK_SD_KEYS_H

#include <stdbool.h>

#include "formats/config.h"
#include "formats/weights.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum evk_sd_part {
    EVK_SD_PART_UNET = 0,
    EVK_SD_PART_VAE,
    EVK_SD_PART_TEXT_CLIP,      /* SD 1.x: transformers CLIPTextModel inside the checkpoint */
    EVK_SD_PART_TEXT_OPENCLIP,  /* SD 2.x: OpenCLIP ViT-H text transformer */
} evk_sd_part;

typedef struct evk_sd_keys {
    evk_sd_part part;
    /* UNet */
    int num_blocks;
    int layers_per_block;               /* the same for every block in the original layout */
    bool down_attn[EVK_CONFIG_MAX_BLOCKS], up_attn[EVK_CONFIG_MAX_BLOCKS];
    bool mid_attn;
    char unet_prefix[32];               /* before the original names: "model.diffusion_model." in a
                                           whole checkpoint, "" in a UNet-only file */
    /* VAE */
    int vae_blocks;
    /* text encoder: where "text_model." lives (CLIP) */
    char clip_prefix[64];
    char scope[64];                     /* file prefix of this component's tensors */
} evk_sd_keys;

/* (unet_prefix and scope "model.diffusion_model."; a UNet-only file clears both.) */
evk_status evk_sd_keys_unet(const evk_unet_config *cfg, evk_sd_keys *out);
evk_status evk_sd_keys_vae(const evk_vae_config *cfg, evk_sd_keys *out);
/* Which text encoder a checkpoint holds, from its tensor names. */
evk_status evk_sd_keys_text(const evk_weights *ws, evk_sd_keys *out);

/* Whether the weight set looks like a single-file SD checkpoint (has a UNet under
 * "model.diffusion_model."). */
bool evk_sd_is_single_file(const evk_weights *ws);

/* evk_weights_map_fn: `keys` is an evk_sd_keys. */
evk_status evk_sd_keys_map(const void *keys, const char *name, evk_weight_ref *ref);

/* Route ws's lookups through the map (keys must outlive ws's use). */
void evk_weights_use_sd_keys(evk_weights *ws, const evk_sd_keys *keys);

#ifdef __cplusplus
}
#endif
#endif
