/* mmdit_keys.c — diffusers SD3Transformer2DModel names -> the original MMDiT names of single-file
 * checkpoints (sd3_medium*.safetensors, sd3.5_medium.safetensors: "model.diffusion_model."
 * joint_blocks / x_block / context_block / fused qkv) and of the GGUF files made from them
 * (stable-diffusion.cpp keeps the "model.diffusion_model." prefix, ComfyUI-GGUF's converter strips
 * it: "joint_blocks.0.x_block.attn.qkv.weight"), as diffusers v0.31's
 * convert_sd3_transformer_checkpoint_to_diffusers reads them: to_q / to_k / to_v are thirds of
 * attn.qkv; the [scale | shift] projections of AdaLayerNormContinuous (norm_out and the last
 * block's context norm) are stored [shift | scale], which the network handles by reading its
 * modulation chunks the other way round (evk_mmdit_load_original). */
#include <stdio.h>
#include <string.h>

#include "models/mmdit/mmdit.h"

#define EVK__P "model.diffusion_model."

static const struct { const char *from, *to; } evk__top[] = {
    {"pos_embed.proj.", "x_embedder.proj."},
    {"time_text_embed.timestep_embedder.linear_1.", "t_embedder.mlp.0."},
    {"time_text_embed.timestep_embedder.linear_2.", "t_embedder.mlp.2."},
    {"time_text_embed.text_embedder.linear_1.", "y_embedder.mlp.0."},
    {"time_text_embed.text_embedder.linear_2.", "y_embedder.mlp.2."},
    {"context_embedder.", "context_embedder."},
    {"norm_out.linear.", "final_layer.adaLN_modulation.1."},
    {"proj_out.", "final_layer.linear."},
};

/* block-relative names: diffusers suffix -> original suffix, and which third of a fused qkv */
static const struct { const char *from, *to; int third; } evk__block_names[] = {
    {"attn.to_q.", "x_block.attn.qkv.", 0},          {"attn.to_k.", "x_block.attn.qkv.", 1},
    {"attn.to_v.", "x_block.attn.qkv.", 2},          {"attn.add_q_proj.", "context_block.attn.qkv.", 0},
    {"attn.add_k_proj.", "context_block.attn.qkv.", 1}, {"attn.add_v_proj.", "context_block.attn.qkv.", 2},
    {"attn.norm_q.", "x_block.attn.ln_q.", -1},      {"attn.norm_k.", "x_block.attn.ln_k.", -1},
    {"attn.norm_added_q.", "context_block.attn.ln_q.", -1}, {"attn.norm_added_k.", "context_block.attn.ln_k.", -1},
    {"attn.to_out.0.", "x_block.attn.proj.", -1},    {"attn.to_add_out.", "context_block.attn.proj.", -1},
    {"attn2.to_q.", "x_block.attn2.qkv.", 0},        {"attn2.to_k.", "x_block.attn2.qkv.", 1},
    {"attn2.to_v.", "x_block.attn2.qkv.", 2},        {"attn2.norm_q.", "x_block.attn2.ln_q.", -1},
    {"attn2.norm_k.", "x_block.attn2.ln_k.", -1},    {"attn2.to_out.0.", "x_block.attn2.proj.", -1},
    {"norm1.linear.", "x_block.adaLN_modulation.1.", -1},
    {"norm1_context.linear.", "context_block.adaLN_modulation.1.", -1},
    {"ff.net.0.proj.", "x_block.mlp.fc1.", -1},      {"ff.net.2.", "x_block.mlp.fc2.", -1},
    {"ff_context.net.0.proj.", "context_block.mlp.fc1.", -1}, {"ff_context.net.2.", "context_block.mlp.fc2.", -1},
};

static evk_status evk__map(const void *user, const char *name, evk_weight_ref *ref) {
    (void)user;
    memset(ref, 0, sizeof *ref);
    for (size_t i = 0; i < sizeof evk__top / sizeof *evk__top; i++) {
        size_t n = strlen(evk__top[i].from);
        if (!strncmp(name, evk__top[i].from, n)) {
            snprintf(ref->name, sizeof ref->name, "%s%s", evk__top[i].to, name + n);
            return EVK_OK;
        }
    }
    int layer, used = 0;
    if (sscanf(name, "transformer_blocks.%d.%n", &layer, &used) == 1 && used > 0)
        for (size_t i = 0; i < sizeof evk__block_names / sizeof *evk__block_names; i++) {
            size_t n = strlen(evk__block_names[i].from);
            if (!strncmp(name + used, evk__block_names[i].from, n)) {
                snprintf(ref->name, sizeof ref->name, "joint_blocks.%d.%s%s", layer, evk__block_names[i].to, name + used + n);
                if (evk__block_names[i].third >= 0) ref->split_parts = 3, ref->split_index = evk__block_names[i].third;
                return EVK_OK;
            }
        }
    return evk_fail(EVK_ERROR_FORMAT, "SD3 single-file checkpoint: no original name for the transformer weight '%s'", name);
}

#define EVK__PROBE "joint_blocks.0.x_block.attn.qkv.weight"

evk_status evk_mmdit_use_original_names(evk_weights *ws) {
    bool prefixed = evk_weights_has(ws, EVK__P EVK__PROBE);
    if (prefixed) EVK_TRY(evk_weights_set_prefix(ws, EVK__P));
    evk_weights_set_map(ws, evk__map, NULL, "");
    return EVK_OK;
}

bool evk_mmdit_is_original(const evk_weights *ws) {
    return evk_weights_has(ws, EVK__P EVK__PROBE) || evk_weights_has(ws, EVK__PROBE);
}
