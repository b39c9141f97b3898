/* openclip.h — CLIP towers stored in OpenCLIP's layout (open_clip's CLIP state dict, HPSv2's
 * `HPS_v2.1_compressed.pt`, InternVid's ViCLIP `.pth`), read through the transformers-named CLIP
 * code of clip.h by a name map.
 *
 * A tower lives under a root in the file ("visual." and "" in open_clip, "vision_encoder." and
 * "text_encoder." in ViCLIP), found by its tensor names, whatever wraps them ("module.", "model."):
 *   vision: conv1.weight [D, 3, p, p] (ViCLIP: [D, 3, 1, p, p]), class_embedding [D],
 *           positional_embedding [g·g + 1, D], ln_pre, transformer.resblocks.N.{ln_1, ln_2,
 *           attn.in_proj_weight/bias [3D, D] (q; k; v), attn.out_proj, mlp.c_fc, mlp.c_proj},
 *           ln_post, proj [D, E] (applied as x · proj), and for ViCLIP
 *           temporal_positional_embedding [1, T, D];
 *   text:   token_embedding.weight [V, W], positional_embedding [L, W], the same resblocks
 *           (causal), ln_final, text_projection [W, E]; the pooled token is the argmax of the ids.
 * Every size comes from the shapes; what shapes cannot tell (head counts, the MLP activation) comes
 * from the caller's defaults, overridden by an optional config.json beside the weights:
 *   {"vision_heads": H, "text_heads": H, "quick_gelu": true|false}
 * (all keys optional; any other key is refused; parsed by formats/config.h). Layer norms use eps 1e-5 (torch's default). */
#ifndef EVK_OPENCLIP_H
#define EVK_OPENCLIP_H

#include <stdbool.h>

#include "formats/config.h"
#include "formats/weights.h"
#include "models/clip/clip.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What shapes cannot tell, as the caller's defaults. */
typedef struct evk_openclip_defaults {
    const char *vision_root, *text_root; /* "visual.", "" (open_clip); "vision_encoder.", "text_encoder." (ViCLIP) */
    int vision_heads, text_heads;
    bool quick_gelu;
} evk_openclip_defaults;

typedef struct evk_openclip {
    evk_clip_config cfg;        /* the towers as transformers configs (legacy_eos: argmax pooling) */
    int frames;                 /* temporal_positional_embedding's T (0: none) */
    char vision[160], text[160]; /* the towers' full name prefixes in the file */
} evk_openclip;

/* Find the towers in ws, read their sizes, apply config_path (NULL or absent: the defaults) and
 * route ws's transformers names to the file's (evk_clip_text_load / evk_clip_vision_load then
 * work on ws). `oc` must outlive ws's use. */
evk_status evk_openclip_open(evk_weights *ws, const char *config_path, const evk_openclip_defaults *d, evk_openclip *oc);

/* The projections (proj, text_projection, transposed into linear layers) and logit_scale. */
evk_status evk_openclip_projections(evk_weights *ws, const evk_openclip *oc, evk_clip_projections *out);

/* ViCLIP: the temporal position table of the vision tower (temporal_positional_embedding). */
evk_status evk_openclip_temporal(evk_weights *ws, const evk_openclip *oc, evk_clip_vision *vision);

#ifdef __cplusplus
}
#endif
#endif
