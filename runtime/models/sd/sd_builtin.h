/* sd_builtin.h — which Stable Diffusion a single-file checkpoint holds, told from its tensors, and
 * the diffusers configs of that version built in, so `--model sd15.safetensors` needs no config
 * folder (as stable-diffusion.cpp and diffusers' from_single_file without config=).
 *
 * Detection (stable-diffusion.cpp's and diffusers' rules): the text encoder's names — a
 * transformers CLIPTextModel under "cond_stage_model.transformer." is SD 1.x, an OpenCLIP
 * transformer under "cond_stage_model.model." is SD 2.x — and the UNet's first cross-attention
 * key projection, whose input width is the text width (768: SD 1.x, 1024: SD 2.x). Both must
 * agree; SDXL ("conditioner.embedders.") and anything else is refused with a message asking for a
 * config folder.
 *
 * Built-in configs: SD 1.x = runwayml/stable-diffusion-v1-5 (ε-prediction, 512×512, PNDM's
 * scheduler config: scaled-linear β 0.00085–0.012, leading spacing, steps_offset 1). SD 2.x =
 * stabilityai/stable-diffusion-2-1 (v-prediction, 768×768, 23 text layers: the penultimate
 * OpenCLIP layer, "!" as pad token) — the default diffusers picks for a 2.x single file. A 2.x
 * checkpoint alone cannot say whether it is the 768-v model or the ε-prediction 512-base one;
 * base checkpoints need --config with the 2-1-base folder. */
#ifndef EVK_SD_BUILTIN_H
#define EVK_SD_BUILTIN_H

#include "core/status.h"
#include "formats/config.h"
#include "formats/weights.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum evk_sd_version {
    EVK_SD_VERSION_UNKNOWN = 0,
    EVK_SD_VERSION_1, /* SD 1.x: CLIP ViT-L/14 text, context 768 */
    EVK_SD_VERSION_2, /* SD 2.x: OpenCLIP ViT-H/14 text, context 1024 */
} evk_sd_version;

/* From the raw tensor names and shapes of a single-file checkpoint. `label` names it in
 * messages. */
evk_status evk_sd_detect_version(const evk_weights *ws, const char *label, evk_sd_version *out);

/* The built-in diffusers configs of `version` (any pointer may be NULL). */
typedef struct evk_sd_builtin {
    evk_unet_config unet;
    evk_clip_text_config text;
    evk_vae_config vae;
    evk_scheduler_config scheduler;
    evk_tokenizer_config tokenizer;
} evk_sd_builtin;
evk_status evk_sd_builtin_configs(evk_sd_version version, evk_sd_builtin *out);

const char *evk_sd_version_name(evk_sd_version version);

#ifdef __cplusplus
}
#endif
#endif
