/* openclip_names.h — the name map from transformers' CLIP (the names clip.h loads) to OpenCLIP's
 * (open_clip and InternVid ViCLIP state dicts, VideoCrafter2's `cond_stage_model.model.*`):
 *   vision_model.embeddings.patch_embedding.weight -> <vision>conv1.weight (ViCLIP's Conv3d kernel
 *     squeezed), class_embedding, positional_embedding, ln_pre, ln_post;
 *   text_model.embeddings.{token,position}_embedding -> <text>token_embedding.weight,
 *     positional_embedding; final_layer_norm -> ln_final;
 *   encoder.layers.N.{layer_norm1, layer_norm2, mlp.fc1, mlp.fc2, self_attn.out_proj} ->
 *     transformer.resblocks.N.{ln_1, ln_2, mlp.c_fc, mlp.c_proj, attn.out_proj};
 *   self_attn.{q,k,v}_proj.{weight,bias} -> attn.in_proj_{weight,bias}, third 0, 1 or 2.
 * Any other vision_/text_model name is EVK_ERROR_FORMAT; other names pass through unchanged. */
#ifndef EVK_OPENCLIP_NAMES_H
#define EVK_OPENCLIP_NAMES_H

#include "core/status.h"
#include "formats/weights.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Both towers, under their roots in the file (e.g. "visual." and ""). */
evk_status evk_openclip_map_names(const char *vision_root, const char *text_root, const char *name, evk_weight_ref *ref);
/* The text tower alone (VideoCrafter2's, under "cond_stage_model.model."). */
evk_status evk_openclip_map_text(const char *root, const char *name, evk_weight_ref *ref);

#ifdef __cplusplus
}
#endif
#endif
