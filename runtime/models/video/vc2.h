/* vc2.h — the "vc2" model family: VideoCrafter2 checkpoints and the T2V-Turbo students made from
 * them (lvdm's LatentDiffusion: the 3-D UNet of vc2_unet.h, the OpenCLIP text tower, SD's
 * AutoencoderKL applied frame by frame).
 *
 * A model is a checkpoint: VideoCrafter2's model.ckpt (PyTorch zip, state dict under
 * "state_dict") or a safetensors copy, with model.diffusion_model.* (the UNet, recognised by its
 * temporal blocks), first_stage_model.* and cond_stage_model.model.* tensors. Its configuration
 * is lvdm's yaml: given with --config FILE.yaml (evk_model_options.config_dir naming a file), else
 * the file beside the checkpoint with its name and the extension .yaml, else VideoCrafter2's own
 * inference_t2v_512_v2.0.yaml (built in). The text tower's shape comes from
 * cond_stage_config.params.arch: ViT-H-14 is built in, any other arch is read from <arch>.json (an
 * open_clip model config) beside the yaml; the tokenizer is OpenCLIP's (built in) unless a
 * tokenizer/ folder (CLIP BPE files) lies beside the yaml. evk_model_options.diffusion_model replaces the UNet's
 * weights by those of another file (a T2V-Turbo UNet / unet_mg.pt state dict, with or without the
 * model.diffusion_model. prefix); a UNet with time_cond_proj.weight takes the guidance scale
 * through its w-embedding (evk_model_info.guidance_embedded, LCM sampler by default), one without
 * is the teacher (DDIM, classifier-free guidance).
 *
 * Samples are lvdm's latent clips [4, F, h, w] per batch item ([B, C, F, H, W] as lvdm holds them,
 * so latents saved from the reference pipelines load as they are); decoded samples are [F, 3, H, W]
 * in [0, 1] ((x + 1) / 2, clamped), decoded frame by frame in chunks that fit the memory budget. */
#ifndef EVK_VC2_H
#define EVK_VC2_H

#include <stdbool.h>

#include "formats/yaml.h"
#include "models/model.h"
#include "models/video/vc2_unet.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct evk_vc2 evk_vc2;

/* Registry entry points. */
bool evk_vc2_probe(const char *path);
evk_status evk_vc2_model_load(evk_context *ctx, const char *path, const evk_model_options *options, evk_model **out);
/* The UNet's configuration from an lvdm yaml: model.params.unet_config.params over lvdm's defaults
 * (what the loader reads; tools/bench/vc2_bench.c reads it the same way). */
evk_status evk_vc2_unet_config_from_yaml(const evk_yaml *y, evk_vc2_unet_config *c);

/* The family state of a model loaded by evk_vc2_model_load (NULL for other families). */
evk_vc2 *evk_vc2_of(evk_model *m);
evk_vc2_unet *evk_vc2_get_unet(evk_vc2 *v);
/* Encode prompts into [n, 77, D] (open_clip.tokenize + the tower, penultimate layer, ln_final). */
evk_status evk_vc2_encode_prompts(evk_vc2 *v, const char *const *prompts, int n, evk_tensor *out);
/* Token ids as open_clip.tokenize gives them (77 per prompt, zero padded). */
evk_status evk_vc2_tokenize(evk_vc2 *v, const char *prompt, int32_t *ids77);
/* Record the decode of latent clips x0 [B, 4, F, h, w] into lvdm's raw decoder output
 * [B·F, 3, H, W] (before (x + 1) / 2), frames in chunks of at most `chunk` (0: as memory allows). */
evk_status evk_vc2_decode_raw(evk_vc2 *v, evk_stream *s, const evk_tensor *x0, uint32_t chunk, const evk_tensor *out);

#ifdef __cplusplus
}
#endif
#endif
