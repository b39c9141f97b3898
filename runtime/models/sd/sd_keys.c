/* sd_keys.c — the diffusers -> original checkpoint name rules (see sd_keys.h).
 *
 * Names are taken apart left to right: a literal prefix, a block index, a layer index, the rest.
 * Indices are checked against the config so that a request for a block the model does not have
 * is an error here rather than a silent read of a neighbouring tensor. */
#include "models/sd/sd_keys.h"
#include "models/clip/openclip_names.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Match `prefix` then a decimal number then '.'; advances *s. */
static bool evk__num(const char **s, const char *prefix, int *out) {
    size_t n = strlen(prefix);
    if (strncmp(*s, prefix, n)) return false;
    const char *p = *s + n;
    if (*p < '0' || *p > '9') return false;
    long v = 0;
    while (*p >= '0' && *p <= '9') {
        v = v * 10 + (*p++ - '0');
        if (v > 1000000) return false;
    }
    if (*p != '.') return false;
    *out = (int)v;
    *s = p + 1;
    return true;
}

static bool evk__lit(const char **s, const char *prefix) {
    size_t n = strlen(prefix);
    if (strncmp(*s, prefix, n)) return false;
    *s += n;
    return true;
}

static evk_status evk__out(evk_weight_ref *ref, const char *name, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static evk_status evk__out(evk_weight_ref *ref, const char *name, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(ref->name, sizeof ref->name, fmt, ap);
    va_end(ap);
    if (n < 0 || n >= (int)sizeof ref->name) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "tensor name '%.100s' is too long", name);
    return EVK_OK;
}

static evk_status evk__no_rule(const char *what, const char *name, const char *why) {
    return evk_fail(EVK_ERROR_FORMAT, "%s: no single-file checkpoint name for '%s' (%s)", what, name, why);
}

/* UNet resnet: diffusers sub-name -> ldm sub-name */
static const char *evk__unet_resnet(const char *rest, const char **tail) {
    static const char *const map[][2] = {
        {"norm1.", "in_layers.0."},  {"conv1.", "in_layers.2."},    {"time_emb_proj.", "emb_layers.1."},
        {"norm2.", "out_layers.0."}, {"conv2.", "out_layers.3."},   {"conv_shortcut.", "skip_connection."},
    };
    for (size_t i = 0; i < sizeof map / sizeof *map; i++)
        if (!strncmp(rest, map[i][0], strlen(map[i][0]))) {
            *tail = rest + strlen(map[i][0]);
            return map[i][1];
        }
    return NULL;
}

static evk_status evk__map_unet(const evk_sd_keys *k, const char *name, evk_weight_ref *ref) {
    const char *s = name, *tail;
    const char *P = k->unet_prefix;
    int b, j, L = k->layers_per_block;
    if (evk__lit(&s, "conv_in.")) return evk__out(ref, name, "%sinput_blocks.0.0.%s", P, s);
    if (evk__lit(&s, "time_embedding.linear_1.")) return evk__out(ref, name, "%stime_embed.0.%s", P, s);
    if (evk__lit(&s, "time_embedding.linear_2.")) return evk__out(ref, name, "%stime_embed.2.%s", P, s);
    if (evk__lit(&s, "conv_norm_out.")) return evk__out(ref, name, "%sout.0.%s", P, s);
    if (evk__lit(&s, "conv_out.")) return evk__out(ref, name, "%sout.2.%s", P, s);
    if (evk__num(&s, "down_blocks.", &b)) {
        if (b >= k->num_blocks) return evk__no_rule("unet", name, "no such down block");
        if (evk__num(&s, "resnets.", &j)) {
            const char *r = evk__unet_resnet(s, &tail);
            if (j >= L || !r) return evk__no_rule("unet", name, "no such resnet layer or parameter");
            return evk__out(ref, name, "%sinput_blocks.%d.0.%s%s", P, b * (L + 1) + j + 1, r, tail);
        }
        if (evk__num(&s, "attentions.", &j)) {
            if (j >= L || !k->down_attn[b]) return evk__no_rule("unet", name, "this block has no such attention");
            return evk__out(ref, name, "%sinput_blocks.%d.1.%s", P, b * (L + 1) + j + 1, s);
        }
        if (evk__lit(&s, "downsamplers.0.conv.")) {
            if (b == k->num_blocks - 1) return evk__no_rule("unet", name, "the last down block has no downsampler");
            return evk__out(ref, name, "%sinput_blocks.%d.0.op.%s", P, (b + 1) * (L + 1), s);
        }
        return evk__no_rule("unet", name, "unknown down-block member");
    }
    if (evk__num(&s, "up_blocks.", &b)) {
        if (b >= k->num_blocks) return evk__no_rule("unet", name, "no such up block");
        if (evk__num(&s, "resnets.", &j)) {
            const char *r = evk__unet_resnet(s, &tail);
            if (j > L || !r) return evk__no_rule("unet", name, "no such resnet layer or parameter");
            return evk__out(ref, name, "%soutput_blocks.%d.0.%s%s", P, b * (L + 1) + j, r, tail);
        }
        if (evk__num(&s, "attentions.", &j)) {
            if (j > L || !k->up_attn[b]) return evk__no_rule("unet", name, "this block has no such attention");
            return evk__out(ref, name, "%soutput_blocks.%d.1.%s", P, b * (L + 1) + j, s);
        }
        if (evk__lit(&s, "upsamplers.0.conv.")) {
            if (b == k->num_blocks - 1) return evk__no_rule("unet", name, "the last up block has no upsampler");
            /* the upsampler follows the resnet (index 1) or the resnet and the attention (index 2) */
            return evk__out(ref, name, "%soutput_blocks.%d.%d.conv.%s", P, b * (L + 1) + L, k->up_attn[b] ? 2 : 1, s);
        }
        return evk__no_rule("unet", name, "unknown up-block member");
    }
    if (evk__lit(&s, "mid_block.")) {
        if (evk__num(&s, "resnets.", &j)) {
            const char *r = evk__unet_resnet(s, &tail);
            if (j > 1 || !r) return evk__no_rule("unet", name, "no such mid-block resnet");
            return evk__out(ref, name, "%smiddle_block.%d.%s%s", P, j == 0 ? 0 : k->mid_attn ? 2 : 1, r, tail);
        }
        if (evk__lit(&s, "attentions.0.")) {
            if (!k->mid_attn) return evk__no_rule("unet", name, "the mid block has no attention");
            return evk__out(ref, name, "%smiddle_block.1.%s", P, s);
        }
    }
    return evk__no_rule("unet", name, "unknown UNet parameter");
}

static evk_status evk__vae_resnet(const char *name, const char *s, evk_weight_ref *ref, const char *base) {
    if (!strncmp(s, "conv_shortcut.", 14)) return evk__out(ref, name, "%snin_shortcut.%s", base, s + 14);
    static const char *const same[] = {"norm1.", "conv1.", "norm2.", "conv2."};
    for (int i = 0; i < 4; i++)
        if (!strncmp(s, same[i], strlen(same[i]))) return evk__out(ref, name, "%s%s", base, s);
    return evk__no_rule("vae", name, "unknown resnet parameter");
}

static evk_status evk__map_vae(const evk_sd_keys *k, const char *name, evk_weight_ref *ref) {
    const char *s = name;
    const char *P = "first_stage_model.";
    char base[160];
    int b, j;
    if (evk__lit(&s, "quant_conv.") || evk__lit(&s, "post_quant_conv.")) return evk__out(ref, name, "%s%s", P, name);
    const char *coder = evk__lit(&s, "encoder.") ? "encoder" : evk__lit(&s, "decoder.") ? "decoder" : NULL;
    if (!coder) return evk__no_rule("vae", name, "unknown VAE parameter");
    if (evk__lit(&s, "conv_in.") || evk__lit(&s, "conv_out.")) return evk__out(ref, name, "%s%s", P, name);
    if (evk__lit(&s, "conv_norm_out.")) return evk__out(ref, name, "%s%s.norm_out.%s", P, coder, s);
    if (evk__lit(&s, "mid_block.")) {
        if (evk__num(&s, "resnets.", &j)) {
            if (j > 1) return evk__no_rule("vae", name, "no such mid-block resnet");
            snprintf(base, sizeof base, "%s%s.mid.block_%d.", P, coder, j + 1);
            return evk__vae_resnet(name, s, ref, base);
        }
        if (evk__lit(&s, "attentions.0.")) {
            static const char *const attn[][2] = {
                {"group_norm.", "norm."}, {"to_q.", "q."}, {"to_k.", "k."}, {"to_v.", "v."}, {"to_out.0.", "proj_out."},
            };
            for (int i = 0; i < 5; i++)
                if (!strncmp(s, attn[i][0], strlen(attn[i][0]))) {
                    ref->squeeze = i > 0; /* 1x1 convolutions in the original, linear layers in diffusers */
                    return evk__out(ref, name, "%s%s.mid.attn_1.%s%s", P, coder, attn[i][1], s + strlen(attn[i][0]));
                }
        }
        return evk__no_rule("vae", name, "unknown mid-block parameter");
    }
    bool enc = coder[0] == 'e';
    if (evk__num(&s, enc ? "down_blocks." : "up_blocks.", &b)) {
        if (b >= k->vae_blocks) return evk__no_rule("vae", name, "no such block");
        int ob = enc ? b : k->vae_blocks - 1 - b; /* the decoder's blocks are stored deepest-last */
        if (evk__num(&s, "resnets.", &j)) {
            snprintf(base, sizeof base, "%s%s.%s.%d.block.%d.", P, coder, enc ? "down" : "up", ob, j);
            return evk__vae_resnet(name, s, ref, base);
        }
        if (evk__lit(&s, enc ? "downsamplers.0.conv." : "upsamplers.0.conv.")) {
            if (b == k->vae_blocks - 1) return evk__no_rule("vae", name, "the last block has no resampler");
            return evk__out(ref, name, "%s%s.%s.%d.%s.conv.%s", P, coder, enc ? "down" : "up", ob, enc ? "downsample" : "upsample", s);
        }
    }
    return evk__no_rule("vae", name, "unknown VAE parameter");
}

evk_status evk_sd_keys_map(const void *keys, const char *name, evk_weight_ref *ref) {
    const evk_sd_keys *k = keys;
    memset(ref, 0, sizeof *ref);
    switch (k->part) {
    case EVK_SD_PART_UNET: return evk__map_unet(k, name, ref);
    case EVK_SD_PART_VAE: return evk__map_vae(k, name, ref);
    case EVK_SD_PART_TEXT_CLIP:
        if (strncmp(name, "text_model.", 11)) return evk__no_rule("text encoder", name, "not under text_model.");
        return evk__out(ref, name, "%s%s", k->clip_prefix, name + 11);
    case EVK_SD_PART_TEXT_OPENCLIP: return evk_openclip_map_text("cond_stage_model.model.", name, ref);
    }
    return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "evk_sd_keys_map: unknown part %d", (int)k->part);
}

evk_status evk_sd_keys_unet(const evk_unet_config *cfg, evk_sd_keys *out) {
    memset(out, 0, sizeof *out);
    out->part = EVK_SD_PART_UNET;
    out->num_blocks = cfg->num_blocks;
    out->layers_per_block = cfg->layers_per_block[0];
    for (int i = 0; i < cfg->num_blocks; i++) {
        if (cfg->layers_per_block[i] != out->layers_per_block)
            return evk_fail(EVK_ERROR_UNSUPPORTED, "single-file checkpoints need the same layers_per_block in every block (block %d has %d, block 0 %d)",
                            i, cfg->layers_per_block[i], out->layers_per_block);
        out->down_attn[i] = cfg->down_block_types[i] == EVK_UNET_CROSS_ATTN_DOWN_BLOCK;
        out->up_attn[i] = cfg->up_block_types[i] == EVK_UNET_CROSS_ATTN_UP_BLOCK;
    }
    if (cfg->mid_block_type == EVK_UNET_MID_NONE) return evk_fail(EVK_ERROR_UNSUPPORTED, "single-file checkpoints always have a mid block");
    out->mid_attn = cfg->mid_block_type == EVK_UNET_MID_CROSS_ATTN;
    strcpy(out->scope, "model.diffusion_model.");
    strcpy(out->unet_prefix, out->scope);
    return EVK_OK;
}

evk_status evk_sd_keys_vae(const evk_vae_config *cfg, evk_sd_keys *out) {
    memset(out, 0, sizeof *out);
    out->part = EVK_SD_PART_VAE;
    out->vae_blocks = cfg->num_blocks;
    strcpy(out->scope, "first_stage_model.");
    return EVK_OK;
}

evk_status evk_sd_keys_text(const evk_weights *ws, evk_sd_keys *out) {
    memset(out, 0, sizeof *out);
    strcpy(out->scope, "cond_stage_model.");
    /* found by raw file names: no map is consulted */
    int clip = 0, clip_old = 0, open_clip = 0;
    for (size_t i = 0; i < evk_weights_count(ws); i++) {
        const char *n = evk_weights_at(ws, i)->name;
        if (!strncmp(n, "cond_stage_model.transformer.text_model.", 40)) clip++;
        else if (!strncmp(n, "cond_stage_model.transformer.", 29)) clip_old++; /* older transformers: no "text_model." */
        else if (!strncmp(n, "cond_stage_model.model.", 23)) open_clip++;
    }
    if ((clip || clip_old) && open_clip)
        return evk_fail(EVK_ERROR_FORMAT, "the checkpoint holds both a CLIP (cond_stage_model.transformer.*) and an OpenCLIP "
                                          "(cond_stage_model.model.*) text encoder");
    if (clip || clip_old) {
        out->part = EVK_SD_PART_TEXT_CLIP;
        strcpy(out->clip_prefix, clip ? "cond_stage_model.transformer.text_model." : "cond_stage_model.transformer.");
        return EVK_OK;
    }
    if (open_clip) {
        out->part = EVK_SD_PART_TEXT_OPENCLIP;
        return EVK_OK;
    }
    return evk_fail(EVK_ERROR_FORMAT, "no text encoder found in the checkpoint (neither cond_stage_model.transformer.* (CLIP, SD 1.x) "
                                      "nor cond_stage_model.model.* (OpenCLIP, SD 2.x))");
}

bool evk_sd_is_single_file(const evk_weights *ws) {
    for (size_t i = 0; i < evk_weights_count(ws); i++)
        if (!strncmp(evk_weights_at(ws, i)->name, "model.diffusion_model.", 22)) return true;
    return false;
}

void evk_weights_use_sd_keys(evk_weights *ws, const evk_sd_keys *keys) { evk_weights_set_map(ws, evk_sd_keys_map, keys, keys->scope); }
