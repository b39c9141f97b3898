/* registry.c — the model families evoke knows, one line each, and evk_model_load, which hands a
 * path to the first family whose probe accepts it. Adding a family is a folder under models/ and
 * a line here; nothing else in the runtime, and nothing in the CLI, names a family. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "models/gmm/gmm.h"
#include "models/mmdit/sd3.h"
#include "models/model.h"
#include "models/sd/sd.h"
#include "models/video/modelscope.h"
#include "models/video/vc2.h"

static const evk_model_family evk__families[] = {
    {"gmm", "an exact Gaussian mixture: a JSON file {\"family\":\"gmm\",...}", evk_gmm_probe, evk_gmm_model_load},
    /* before "sd", whose probe takes any diffusers folder */
    {"sd3", "Stable Diffusion 3 / 3.5: a diffusers StableDiffusion3Pipeline folder (model_index.json, transformer/, "
            "text_encoder/, text_encoder_2/, tokenizer/, tokenizer_2/, vae/, scheduler/), or a single-file "
            "sd3_medium / sd3.5_medium .safetensors with such a folder as --config", evk_sd3_probe, evk_sd3_model_load},
    {"modelscope", "ModelScope text-to-video: a diffusers TextToVideoSDPipeline folder (model_index.json, unet/ with a "
                   "UNet3DConditionModel, text_encoder/, tokenizer/, vae/, scheduler/)", evk_modelscope_probe, evk_modelscope_model_load},
    /* before sd too: its checkpoints also hold a UNet under model.diffusion_model. */
    {"vc2", "VideoCrafter2 / T2V-Turbo (lvdm): a model.ckpt / .pt / .safetensors checkpoint whose UNet has temporal "
            "blocks, with its lvdm .yaml (--config, or beside it with the same name; VideoCrafter2's built in)",
     evk_vc2_probe, evk_vc2_model_load},
    {"sd", "Stable Diffusion: a diffusers folder (model_index.json, unet/, text_encoder/, ...) or a single-file "
           ".safetensors checkpoint with a config folder of the same model", evk_sd_probe, evk_sd_model_load},
};
#define EVK__FAMILY_COUNT (sizeof evk__families / sizeof evk__families[0])

const evk_model_family *evk_model_families(size_t *count) {
    if (count) *count = EVK__FAMILY_COUNT;
    return evk__families;
}

evk_status evk_model_load(evk_context *ctx, const char *path, const evk_model_options *options, evk_model **out) {
    *out = NULL;
    if (!ctx || !path || !*path) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "evk_model_load: a context and a path are required");
    struct stat sb;
    if (stat(path, &sb) != 0)
        return errno == ENOENT || errno == ENOTDIR ? evk_fail(EVK_ERROR_INVALID_ARGUMENT, "no such file or directory: %s", path)
                                                   : evk_fail(EVK_ERROR_IO, "cannot read %s: %s", path, strerror(errno));
    const evk_model_options none = {0};
    for (size_t i = 0; i < EVK__FAMILY_COUNT; i++)
        if (evk__families[i].probe(path)) {
            const evk_model_options *o = options ? options : &none;
            if (o->lora && strcmp(evk__families[i].name, "vc2") && strcmp(evk__families[i].name, "modelscope"))
                return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "%s (%s): --lora merges T2V-Turbo's LoRA list into a VideoCrafter2 (vc2) or "
                                "ModelScope (modelscope) UNet; this family takes no LoRA", path, evk__families[i].name);
            EVK_TRY(evk__families[i].load(ctx, path, o, out));
            /* options a family did not take are refused, never ignored: frames and fps are for
             * video models (a video family checks its own values); another file's denoiser is
             * read by the families that have one (sd, sd3, vc2, modelscope) and refused by gmm */
            const evk_model_info *mi = evk_model_get_info(*out);
            const char *opt = o->frames ? "frames" : o->fps ? "a frame rate" : NULL;
            if (!mi->frames && opt) {
                const char *kind = mi->image_width ? "images" : "samples"; /* read before the model goes */
                evk_model_destroy(*out);
                *out = NULL;
                return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "%s (%s) makes %s, not videos: %s (--%s) applies to video models", path,
                                evk__families[i].name, kind, opt, o->frames ? "frames" : "fps");
            }
            return EVK_OK;
        }
    char names[256] = "";
    for (size_t i = 0, n = 0; i < EVK__FAMILY_COUNT && n < sizeof names; i++)
        n += (size_t)snprintf(names + n, sizeof names - n, "%s%s", i ? ", " : "", evk__families[i].name);
    return evk_fail(EVK_ERROR_FORMAT, "%s is not a model evoke knows (families: %s)", path, names);
}
