/* openclip_names.c — transformers' CLIP parameter names -> OpenCLIP's (open_clip state dicts as
 * HPSv2 ships them, InternVid's ViCLIP, VideoCrafter2's text tower): the towers under their roots,
 * transformer.resblocks.N, and q/k/v as thirds of the fused in_proj weight and bias. Names only: no
 * device code, so the file parsers' fuzz harnesses link it. */
#include "models/clip/openclip_names.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool evk__lit(const char **s, const char *lit) {
    size_t n = strlen(lit);
    if (strncmp(*s, lit, n)) return false;
    *s += n;
    return true;
}

static evk_status evk__out(evk_weight_ref *ref, const char *req, const char *fmt, const char *a, const char *b) {
    int n = snprintf(ref->name, sizeof ref->name, fmt, a, b);
    if (n < 0 || (size_t)n >= sizeof ref->name) return evk_fail(EVK_ERROR_FORMAT, "OpenCLIP name for %s is too long", req);
    return EVK_OK;
}

/* encoder.layers.N.<transformers> -> <root>transformer.resblocks.N.<open_clip> */
static evk_status evk__map_layer(const char *root, const char *req, const char *s, evk_weight_ref *ref) {
    char *end;
    long i = strtol(s, &end, 10);
    if (end == s || *end != '.' || i < 0) return evk_fail(EVK_ERROR_FORMAT, "OpenCLIP map: no rule for %s", req);
    s = end + 1;
    char base[220];
    snprintf(base, sizeof base, "%stransformer.resblocks.%ld.", root, i);
    static const char *const same[][2] = {
        {"layer_norm1.", "ln_1."}, {"layer_norm2.", "ln_2."}, {"mlp.fc1.", "mlp.c_fc."}, {"mlp.fc2.", "mlp.c_proj."},
        {"self_attn.out_proj.", "attn.out_proj."},
    };
    for (int k = 0; k < 5; k++)
        if (!strncmp(s, same[k][0], strlen(same[k][0]))) {
            char tail[120];
            snprintf(tail, sizeof tail, "%s%s", same[k][1], s + strlen(same[k][0]));
            return evk__out(ref, req, "%s%s", base, tail);
        }
    static const char *const qkv[] = {"self_attn.q_proj.", "self_attn.k_proj.", "self_attn.v_proj."};
    for (int k = 0; k < 3; k++)
        if (!strncmp(s, qkv[k], strlen(qkv[k]))) {
            const char *p = s + strlen(qkv[k]);
            if (strcmp(p, "weight") && strcmp(p, "bias")) break;
            ref->split_parts = 3; /* in_proj_weight is [q; k; v] stacked along dim 0 */
            ref->split_index = k;
            return evk__out(ref, req, "%sattn.in_proj_%s", base, p);
        }
    return evk_fail(EVK_ERROR_FORMAT, "OpenCLIP map: no rule for %s", req);
}

evk_status evk_openclip_map_names(const char *vision_root, const char *text_root, const char *name, evk_weight_ref *ref) {
    memset(ref, 0, sizeof *ref);
    const char *s = name;
    if (evk__lit(&s, "vision_model.")) {
        const char *V = vision_root;
        if (!strcmp(s, "embeddings.patch_embedding.weight")) {
            ref->squeeze = true; /* ViCLIP's Conv3d kernel [D, 3, 1, p, p] */
            return evk__out(ref, name, "%s%s", V, "conv1.weight");
        }
        if (!strcmp(s, "embeddings.class_embedding")) return evk__out(ref, name, "%s%s", V, "class_embedding");
        if (!strcmp(s, "embeddings.position_embedding.weight")) return evk__out(ref, name, "%s%s", V, "positional_embedding");
        if (evk__lit(&s, "pre_layrnorm.")) return evk__out(ref, name, "%sln_pre.%s", V, s);
        if (evk__lit(&s, "post_layernorm.")) return evk__out(ref, name, "%sln_post.%s", V, s);
        if (evk__lit(&s, "encoder.layers.")) return evk__map_layer(V, name, s, ref);
        return evk_fail(EVK_ERROR_FORMAT, "OpenCLIP map: no rule for %s", name);
    }
    if (!strncmp(s, "text_model.", 11)) return evk_openclip_map_text(text_root, name, ref);
    return evk__out(ref, name, "%s%s", "", name); /* file names pass through */
}

evk_status evk_openclip_map_text(const char *root, const char *name, evk_weight_ref *ref) {
    memset(ref, 0, sizeof *ref);
    const char *s = name;
    if (evk__lit(&s, "text_model.")) {
        if (!strcmp(s, "embeddings.token_embedding.weight")) return evk__out(ref, name, "%s%s", root, "token_embedding.weight");
        if (!strcmp(s, "embeddings.position_embedding.weight")) return evk__out(ref, name, "%s%s", root, "positional_embedding");
        if (evk__lit(&s, "final_layer_norm.")) return evk__out(ref, name, "%sln_final.%s", root, s);
        if (evk__lit(&s, "encoder.layers.")) return evk__map_layer(root, name, s, ref);
    }
    return evk_fail(EVK_ERROR_FORMAT, "OpenCLIP map: no rule for %s", name);
}

