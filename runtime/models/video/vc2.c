/* vc2.c — the "vc2" model family: VideoCrafter2 / T2V-Turbo checkpoints (see vc2.h). */
#include "models/video/vc2.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/file.h"
#include "formats/clip_vocab.h"
#include "formats/config.h"
#include "formats/tokenizer.h"
#include "formats/weights.h"
#include "formats/yaml.h"
#include "models/clip/clip.h"
#include "models/sd/sd_keys.h"
#include "models/sd/vae.h"
#include "models/video/lora_list.h"
#include "ops/op_image.h"
#include "ops/op_layout.h"
#include "ops/op_reduce.h"
#include "samplers/sampler.h"

/* VideoCrafter2's configs/inference_t2v_512_v2.0.yaml (the keys evoke reads) */
static const char evk__vc2_builtin_yaml[] =
    "model:\n"
    "  target: lvdm.models.ddpm3d.LatentDiffusion\n"
    "  params:\n"
    "    linear_start: 0.00085\n"
    "    linear_end: 0.012\n"
    "    timesteps: 1000\n"
    "    image_size: [40, 64]\n"
    "    channels: 4\n"
    "    scale_factor: 0.18215\n"
    "    use_scale: true\n"
    "    scale_b: 0.7\n"
    "    unet_config:\n"
    "      target: lvdm.modules.networks.openaimodel3d.UNetModel\n"
    "      params:\n"
    "        in_channels: 4\n"
    "        out_channels: 4\n"
    "        model_channels: 320\n"
    "        attention_resolutions: [4, 2, 1]\n"
    "        num_res_blocks: 2\n"
    "        channel_mult: [1, 2, 4, 4]\n"
    "        num_head_channels: 64\n"
    "        transformer_depth: 1\n"
    "        context_dim: 1024\n"
    "        use_linear: true\n"
    "        use_checkpoint: true\n"
    "        temporal_conv: true\n"
    "        temporal_attention: true\n"
    "        temporal_selfatt_only: true\n"
    "        use_relative_position: false\n"
    "        use_causal_attention: false\n"
    "        temporal_length: 16\n"
    "        addition_attention: true\n"
    "        fps_cond: true\n"
    "    first_stage_config:\n"
    "      target: lvdm.models.autoencoder.AutoencoderKL\n"
    "      params:\n"
    "        embed_dim: 4\n"
    "        ddconfig:\n"
    "          double_z: true\n"
    "          z_channels: 4\n"
    "          resolution: 512\n"
    "          in_channels: 3\n"
    "          out_ch: 3\n"
    "          ch: 128\n"
    "          ch_mult: [1, 2, 4, 4]\n"
    "          num_res_blocks: 2\n"
    "          attn_resolutions: []\n"
    "    cond_stage_config:\n"
    "      target: lvdm.modules.encoders.condition.FrozenOpenCLIPEmbedder\n"
    "      params:\n"
    "        freeze: true\n"
    "        layer: penultimate\n";

struct evk_vc2 {
    evk_context *ctx;
    char label[600];
    evk_vc2_unet_config ucfg;
    evk_clip_text_config text_cfg;
    evk_vae_config vae_cfg;
    double beta_start, beta_end;
    int train_timesteps, temporal_length, image_h, image_w;
    bool use_scale;
    double scale_b;
    int scale_mid;
    evk_weights *unet_ws, *text_ws, *vae_ws;
    evk_sd_keys text_keys, vae_keys;
    evk_vc2_unet *unet;
    evk_clip_text *text;
    evk_tokenizer *tok;
    evk_vae_decoder *vae;
    evk_model *model;
    evk_model_info info;
    uint32_t width, height, frames, factor;
    float fps;
};

static bool evk__vc2_is_file(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISREG(sb.st_mode);
}

static bool evk__vc2_ends(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

/* ---- probe ------------------------------------------------------------------------------------ */

/* A checkpoint whose UNet (model.diffusion_model.*) has lvdm's temporal blocks. */
bool evk_vc2_probe(const char *path) {
    if (!evk__vc2_is_file(path)) return false;
    static const char *const ext[] = {".ckpt", ".pt", ".pth", ".bin", ".safetensors"};
    bool known = false;
    for (size_t i = 0; i < sizeof ext / sizeof *ext; i++) known |= evk__vc2_ends(path, ext[i]);
    if (!known) return false;
    evk_weights *ws;
    if (evk_weights_open(NULL, path, &ws) != EVK_OK) {
        evk_error_clear();
        return false;
    }
    bool unet = false, temporal = false;
    for (size_t i = 0; i < evk_weights_count(ws) && !(unet && temporal); i++) {
        const char *n = evk_weights_at(ws, i)->name;
        if (strncmp(n, "model.diffusion_model.", 22)) continue;
        unet = true;
        temporal |= strstr(n, ".temopral_conv.") != NULL || !strncmp(n + 22, "init_attn.", 10);
    }
    evk_weights_close(ws);
    return unet && temporal;
}

/* ---- configuration ---------------------------------------------------------------------------- */

#define EVK__P "model.params."
#define EVK__U "model.params.unet_config.params."

evk_status evk_vc2_unet_config_from_yaml(const evk_yaml *y, evk_vc2_unet_config *c) {
    evk_vc2_unet_config_default(c);
    long long v;
    struct { const char *k; int *dst; } ints[] = {
        {"in_channels", &c->in_channels}, {"out_channels", &c->out_channels}, {"model_channels", &c->model_channels},
        {"num_res_blocks", &c->num_res_blocks}, {"num_heads", &c->num_heads}, {"num_head_channels", &c->num_head_channels},
        {"transformer_depth", &c->transformer_depth}, {"temporal_transformer_depth", &c->temporal_transformer_depth},
        {"context_dim", &c->context_dim}, {"dims", &c->dims}, {"time_cond_proj_dim", &c->time_cond_proj_dim},
        {"motion_cond_proj_dim", &c->motion_cond_proj_dim},
    };
    char key[160];
    for (size_t i = 0; i < sizeof ints / sizeof *ints; i++) {
        snprintf(key, sizeof key, EVK__U "%s", ints[i].k);
        v = *ints[i].dst;
        EVK_TRY(evk_yaml_get_int(y, NULL, key, &v));
        if (v < -1 || v > 1 << 20) return evk_fail(EVK_ERROR_FORMAT, "%s: %s = %lld", evk_yaml_label(y), key, v);
        *ints[i].dst = (int)v;
    }
    struct { const char *k; bool *dst; } bools[] = {
        {"use_linear", &c->use_linear}, {"temporal_conv", &c->temporal_conv}, {"temporal_attention", &c->temporal_attention},
        {"temporal_selfatt_only", &c->temporal_selfatt_only}, {"addition_attention", &c->addition_attention},
        {"fps_cond", &c->fps_cond}, {"use_relative_position", &c->use_relative_position},
        {"use_causal_attention", &c->use_causal_attention}, {"use_scale_shift_norm", &c->use_scale_shift_norm},
        {"resblock_updown", &c->resblock_updown}, {"tempspatial_aware", &c->tempspatial_aware},
        {"use_image_attention", &c->use_image_attention}, {"conv_resample", &c->conv_resample},
    };
    for (size_t i = 0; i < sizeof bools / sizeof *bools; i++) {
        snprintf(key, sizeof key, EVK__U "%s", bools[i].k);
        EVK_TRY(evk_yaml_get_bool(y, NULL, key, bools[i].dst));
    }
    long long list[16];
    int n = 0;
    EVK_TRY(evk_yaml_get_ints(y, NULL, EVK__U "channel_mult", list, EVK_VC2_MAX_LEVELS, &n));
    if (n) {
        c->levels = n;
        for (int i = 0; i < n; i++) c->channel_mult[i] = (int)(list[i] > 0 && list[i] < 1000 ? list[i] : 0);
    }
    EVK_TRY(evk_yaml_get_ints(y, NULL, EVK__U "attention_resolutions", list, EVK_VC2_MAX_LEVELS + 2, &n));
    c->n_attention_resolutions = n;
    for (int i = 0; i < n; i++) c->attention_resolutions[i] = (int)(list[i] > 0 && list[i] < 1 << 20 ? list[i] : 0);
    if (c->time_cond_proj_dim < 0) c->time_cond_proj_dim = 0;
    if (c->motion_cond_proj_dim < 0) c->motion_cond_proj_dim = 0;
    return EVK_OK;
}

static evk_status evk__vc2_target(const evk_yaml *y, const char *key, const char *want) {
    char t[200] = "";
    EVK_TRY(evk_yaml_get_str(y, NULL, key, t, sizeof t));
    if (!t[0] || !evk__vc2_ends(t, want))
        return evk_fail(EVK_ERROR_UNSUPPORTED, "%s: %s is \"%s\"; evoke's vc2 family runs %s", evk_yaml_label(y), key, t, want);
    return EVK_OK;
}

/* The text tower: arch json (open_clip's format) -> a CLIPTextConfig, `layer` last/penultimate. */
static evk_status evk__vc2_text_config(evk_vc2 *v, const evk_yaml *y, const char *yaml_path) {
    char arch[96] = "ViT-H-14", layer[32] = "last";
    EVK_TRY(evk_yaml_get_str(y, NULL, EVK__P "cond_stage_config.params.arch", arch, sizeof arch));
    EVK_TRY(evk_yaml_get_str(y, NULL, EVK__P "cond_stage_config.params.layer", layer, sizeof layer));
    int skip = !strcmp(layer, "penultimate") ? 1 : !strcmp(layer, "last") ? 0 : -1;
    if (skip < 0) return evk_fail(EVK_ERROR_UNSUPPORTED, "%s: cond_stage_config.params.layer \"%s\" (last or penultimate)", evk_yaml_label(y), layer);
    int width = 1024, heads = 16, layers = 24, ctx = 77, vocab = 49408;
    double mlp = 4.0;
    bool quick = false;
    if (strcmp(arch, "ViT-H-14")) {
        if (!yaml_path) return evk_fail(EVK_ERROR_UNSUPPORTED, "built-in config: text arch %s is not built in", arch);
        if (strchr(arch, '/') || strstr(arch, ".."))
            return evk_fail(EVK_ERROR_FORMAT, "%s: cond_stage_config.params.arch \"%s\" is not a plain name", yaml_path, arch);
        char path[900];
        const char *slash = strrchr(yaml_path, '/');
        int dir = slash ? (int)(slash - yaml_path) : 0;
        snprintf(path, sizeof path, "%.*s%s%s.json", dir, yaml_path, slash ? "/" : "", arch);
        char *text;
        evk_status st = evk_file_read_text(path, 1 << 20, &text);
        if (st)
            return evk_fail_context(st, "the text tower %s is not built in (ViT-H-14 is): its open_clip config %s", arch, path);
        cJSON *root = cJSON_Parse(text);
        free(text);
        cJSON *tc = root ? cJSON_GetObjectItemCaseSensitive(root, "text_cfg") : NULL;
        if (!cJSON_IsObject(tc)) {
            cJSON_Delete(root);
            return evk_fail(EVK_ERROR_FORMAT, "%s: not an open_clip model config (no \"text_cfg\" object)", path);
        }
        struct { const char *k; int *dst; } f[] = {{"width", &width}, {"heads", &heads}, {"layers", &layers},
                                                   {"context_length", &ctx}, {"vocab_size", &vocab}};
        st = EVK_OK;
        for (size_t i = 0; i < 5 && !st; i++) {
            cJSON *it = cJSON_GetObjectItemCaseSensitive(tc, f[i].k);
            if (!it) continue;
            if (!cJSON_IsNumber(it) || it->valuedouble < 1 || it->valuedouble > 1e6 || it->valuedouble != (int)it->valuedouble)
                st = evk_fail(EVK_ERROR_FORMAT, "%s: text_cfg.%s is not a positive integer", path, f[i].k);
            else *f[i].dst = (int)it->valuedouble;
        }
        cJSON *m = cJSON_GetObjectItemCaseSensitive(tc, "mlp_ratio");
        if (!st && m) {
            if (!cJSON_IsNumber(m) || m->valuedouble <= 0) st = evk_fail(EVK_ERROR_FORMAT, "%s: text_cfg.mlp_ratio", path);
            else mlp = m->valuedouble;
        }
        cJSON *q = cJSON_GetObjectItemCaseSensitive(root, "quick_gelu");
        if (!st && q) quick = cJSON_IsTrue(q);
        static const char *const unsupported[] = {"ls_init_value", "hf_model_name", "proj", "pooler_type", "embed_cls", "no_causal_mask",
                                                  "norm_kwargs", "act_kwargs"};
        for (size_t i = 0; i < sizeof unsupported / sizeof *unsupported && !st; i++) {
            cJSON *it = cJSON_GetObjectItemCaseSensitive(tc, unsupported[i]);
            if (it && !cJSON_IsNull(it) && !cJSON_IsFalse(it))
                st = evk_fail(EVK_ERROR_UNSUPPORTED, "%s: text_cfg.%s is not supported", path, unsupported[i]);
        }
        cJSON_Delete(root);
        EVK_TRY(st);
    }
    if (layers - skip < 1) return evk_fail(EVK_ERROR_FORMAT, "text arch %s: %d layers", arch, layers);
    char json[600];
    snprintf(json, sizeof json,
             "{\"hidden_act\":\"%s\",\"hidden_size\":%d,\"intermediate_size\":%d,\"layer_norm_eps\":1e-05,"
             "\"max_position_embeddings\":%d,\"num_attention_heads\":%d,\"num_hidden_layers\":%d,\"vocab_size\":%d,"
             "\"bos_token_id\":49406,\"eos_token_id\":49407,\"pad_token_id\":0,\"projection_dim\":%d}",
             quick ? "quick_gelu" : "gelu", width, (int)(width * mlp + 0.5), ctx, heads, layers - skip, vocab, width);
    return evk_clip_text_config_parse(json, arch, &v->text_cfg);
}

static evk_status evk__vc2_config(evk_vc2 *v, const evk_yaml *y, const char *yaml_path) {
    EVK_TRY(evk__vc2_target(y, "model.params.unet_config.target", "openaimodel3d.UNetModel"));
    EVK_TRY(evk__vc2_target(y, "model.params.first_stage_config.target", "AutoencoderKL"));
    EVK_TRY(evk__vc2_target(y, "model.params.cond_stage_config.target", "FrozenOpenCLIPEmbedder"));
    EVK_TRY(evk_vc2_unet_config_from_yaml(y, &v->ucfg));
    v->beta_start = 0.00085, v->beta_end = 0.012;
    long long T = 1000, tl = 16;
    EVK_TRY(evk_yaml_get_float(y, NULL, EVK__P "linear_start", &v->beta_start));
    EVK_TRY(evk_yaml_get_float(y, NULL, EVK__P "linear_end", &v->beta_end));
    EVK_TRY(evk_yaml_get_int(y, NULL, EVK__P "timesteps", &T));
    EVK_TRY(evk_yaml_get_int(y, NULL, EVK__U "temporal_length", &tl));
    EVK_TRY(evk_yaml_get_bool(y, NULL, EVK__P "use_scale", &v->use_scale));
    double scale_a = 1.0;
    long long mid = 400;
    v->scale_b = 0.3; /* LatentDiffusion's defaults: scale_a 1, scale_b 0.3, mid_step 400 */
    EVK_TRY(evk_yaml_get_float(y, NULL, EVK__P "scale_a", &scale_a));
    EVK_TRY(evk_yaml_get_float(y, NULL, EVK__P "scale_b", &v->scale_b));
    EVK_TRY(evk_yaml_get_int(y, NULL, EVK__P "mid_step", &mid));
    if (v->use_scale && (scale_a != 1.0 || !(v->scale_b > 0 && v->scale_b <= 100) || mid < 1 || mid > 100000))
        return evk_fail(EVK_ERROR_UNSUPPORTED, "%s: use_scale with scale_a %g, scale_b %g, mid_step %lld (evoke: scale_a 1, 0 < scale_b)",
                        evk_yaml_label(y), scale_a, v->scale_b, mid);
    v->scale_mid = (int)mid;
    if (T < 2 || T > 100000 || tl < 1 || tl > 4096 || !(v->beta_start > 0 && v->beta_end > v->beta_start && v->beta_end < 1))
        return evk_fail(EVK_ERROR_FORMAT, "%s: timesteps %lld, temporal_length %lld, linear_start/end %g/%g", evk_yaml_label(y), T, tl,
                        v->beta_start, v->beta_end);
    v->train_timesteps = (int)T, v->temporal_length = (int)tl;
    long long sz[2];
    int n = 0;
    const evk_yaml_node *is = evk_yaml_find(y, NULL, EVK__P "image_size");
    if (is && evk_yaml_node_kind(is) == EVK_YAML_SCALAR) {
        EVK_TRY(evk_yaml_get_int(y, NULL, EVK__P "image_size", &sz[0]));
        sz[1] = sz[0], n = 2;
    } else {
        EVK_TRY(evk_yaml_get_ints(y, NULL, EVK__P "image_size", sz, 2, &n));
    }
    if (n == 0) sz[0] = 40, sz[1] = 64, n = 2;
    if (n != 2 || sz[0] < 1 || sz[1] < 1 || sz[0] > 4096 || sz[1] > 4096)
        return evk_fail(EVK_ERROR_FORMAT, "%s: image_size must be [h, w] latents", evk_yaml_label(y));
    v->image_h = (int)sz[0], v->image_w = (int)sz[1];
    /* the VAE: lvdm's ddconfig as a diffusers AutoencoderKL config */
    long long ch = 128, nrb = 2, z = 4, out_ch = 3, mult[EVK_CONFIG_MAX_BLOCKS];
    int nm = 0;
    double scale = 0.18215;
    const char *D = "model.params.first_stage_config.params.ddconfig.";
    char key[200];
    snprintf(key, sizeof key, "%sch", D);
    EVK_TRY(evk_yaml_get_int(y, NULL, key, &ch));
    snprintf(key, sizeof key, "%snum_res_blocks", D);
    EVK_TRY(evk_yaml_get_int(y, NULL, key, &nrb));
    snprintf(key, sizeof key, "%sz_channels", D);
    EVK_TRY(evk_yaml_get_int(y, NULL, key, &z));
    snprintf(key, sizeof key, "%sout_ch", D);
    EVK_TRY(evk_yaml_get_int(y, NULL, key, &out_ch));
    snprintf(key, sizeof key, "%sch_mult", D);
    EVK_TRY(evk_yaml_get_ints(y, NULL, key, mult, EVK_CONFIG_MAX_BLOCKS, &nm));
    long long attn[4];
    int na = 0;
    snprintf(key, sizeof key, "%sattn_resolutions", D);
    EVK_TRY(evk_yaml_get_ints(y, NULL, key, attn, 4, &na));
    if (na) return evk_fail(EVK_ERROR_UNSUPPORTED, "%s: %s (attention inside the VAE's resolution levels) is not supported", evk_yaml_label(y), key);
    EVK_TRY(evk_yaml_get_float(y, NULL, EVK__P "scale_factor", &scale));
    if (!nm) nm = 4, mult[0] = 1, mult[1] = 2, mult[2] = 4, mult[3] = 4;
    if (ch < 1 || ch > 4096 || nrb < 1 || nrb > 8 || z < 1 || z > 64 || out_ch != 3 || !(scale > 0))
        return evk_fail(EVK_ERROR_FORMAT, "%s: first_stage_config ch %lld, num_res_blocks %lld, z_channels %lld, out_ch %lld", evk_yaml_label(y),
                        ch, nrb, z, out_ch);
    char boc[200] = "", types[400] = "", dtypes[400] = "";
    for (int i = 0; i < nm; i++) {
        if (mult[i] < 1 || mult[i] > 64) return evk_fail(EVK_ERROR_FORMAT, "%s: ch_mult %lld", evk_yaml_label(y), mult[i]);
        snprintf(boc + strlen(boc), sizeof boc - strlen(boc), "%s%lld", i ? "," : "", ch * mult[i]);
        snprintf(types + strlen(types), sizeof types - strlen(types), "%s\"UpDecoderBlock2D\"", i ? "," : "");
        snprintf(dtypes + strlen(dtypes), sizeof dtypes - strlen(dtypes), "%s\"DownEncoderBlock2D\"", i ? "," : "");
    }
    char json[1200 + sizeof boc + sizeof types + sizeof dtypes];
    snprintf(json, sizeof json,
             "{\"_class_name\":\"AutoencoderKL\",\"act_fn\":\"silu\",\"block_out_channels\":[%s],\"in_channels\":3,"
             "\"latent_channels\":%lld,\"layers_per_block\":%lld,\"norm_num_groups\":32,\"out_channels\":3,\"scaling_factor\":%.9g,"
             "\"up_block_types\":[%s],\"down_block_types\":[%s]}",
             boc, z, nrb, scale, types, dtypes);
    EVK_TRY(evk_vae_config_parse(json, "first_stage_config", &v->vae_cfg));
    return evk__vc2_text_config(v, y, yaml_path);
}

/* ---- the model -------------------------------------------------------------------------------- */

static evk_status evk__vc2_check_cond(const evk_tensor *cond, int64_t B, int D) {
    if (!cond || !cond->buf.block) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "vc2 model: a prompt encoding is required");
    if (cond->ndim != 3 || (cond->shape[0] != B && cond->shape[0] != 1) || cond->shape[2] != D)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "vc2 model: the prompt encoding must be [B or 1, L, %d]", D);
    return EVK_OK;
}

static evk_status evk__vc2_forward_rows(evk_vc2 *v, evk_stream *s, const evk_model_input *in, evk_vc2_unet_input *ui, const evk_tensor *o5);

static evk_status evk__vc2_forward(void *impl, evk_stream *s, const evk_model_input *in, const evk_tensor *out) {
    evk_vc2 *v = impl;
    const evk_model_info *mi = &v->info;
    int64_t B = in->x->shape[0];
    EVK_TRY(evk__vc2_check_cond(in->cond, B, v->ucfg.context_dim));
    int64_t shape[5] = {B, mi->sample_shape[0], mi->sample_shape[1], mi->sample_shape[2], mi->sample_shape[3]};
    evk_tensor x5, o5;
    EVK_TRY(evk_tensor_reshape(in->x, 5, shape, &x5));
    EVK_TRY(evk_tensor_reshape(out, 5, shape, &o5));
    if (in->motion && !mi->motion_guidance)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "vc2 model: motion guidance needs T2V-Turbo-v2's motion_cond_proj, which this UNet lacks");
    float *motion = NULL;
    if (in->motion) {
        if (!(motion = malloc((size_t)B * sizeof *motion))) return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
        for (int64_t b = 0; b < B; b++) motion[b] = in->motion_guidance;
    }
    evk_vc2_unet_input ui = {.x = &x5, .t = in->timestep, .context = in->cond, .fps = v->fps, .has_guidance = mi->guidance_embedded,
                             .guidance = in->guidance, .guidance_items = in->guidance_items, .motion_guidance = motion};
    evk_status st = evk__vc2_forward_rows(v, s, in, &ui, &o5);
    free(motion);
    return st;
}

/* The UNet call, the prompt's rows replicated when one prompt serves the batch. */
static evk_status evk__vc2_forward_rows(evk_vc2 *v, evk_stream *s, const evk_model_input *in, evk_vc2_unet_input *ui, const evk_tensor *o5) {
    int64_t B = in->x->shape[0];
    evk_tensor ctx;
    if (in->cond->shape[0] == B) return evk_vc2_unet_forward(v->unet, s, ui, o5);
    /* one prompt for the batch: its rows replicated */
    int64_t L = in->cond->shape[1], D = in->cond->shape[2];
    EVK_TRY(evk_tensor_alloc(v->ctx, EVK_DTYPE_F32, 3, (int64_t[]){B, L, D}, &ctx));
    evk_status st = EVK_OK;
    for (int64_t b = 0; b < B && !st; b++)
        st = evk_stream_copy(s, &in->cond->buf, 0, &ctx.buf, (uint64_t)(b * L * D) * 4, (uint64_t)(L * D) * 4);
    ui->context = &ctx;
    if (!st) st = evk_vc2_unet_forward(v->unet, s, ui, o5);
    evk_tensor_free(v->ctx, &ctx);
    return st;
}

evk_status evk_vc2_decode_raw(evk_vc2 *v, evk_stream *s, const evk_tensor *x0, uint32_t chunk, const evk_tensor *out) {
    const evk_model_info *mi = &v->info;
    int64_t B = x0->shape[0], C = mi->sample_shape[0], F = mi->sample_shape[1], h = mi->sample_shape[2], w = mi->sample_shape[3];
    int64_t N = B * F, H = v->height, W = v->width;
    if (evk_tensor_numel(x0) != B * C * F * h * w || evk_tensor_numel(out) != N * 3 * H * W)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "vc2 decode: latents [B, %lld, %lld, %lld, %lld] and frames [B·%lld, 3, %lld, %lld]",
                        (long long)C, (long long)F, (long long)h, (long long)w, (long long)F, (long long)H, (long long)W);
    if (!chunk) {
        /* the decoder's widest level at full resolution, a few tensors of it per frame */
        evk_memory_stats ms;
        evk_memory_get_stats(v->ctx, &ms);
        uint64_t per = (uint64_t)v->vae_cfg.block_out_channels[0] * (uint64_t)(H * W) * 4 * 6;
        uint64_t c = ms.budget ? ms.budget / 4 / (per ? per : 1) : (uint64_t)N;
        chunk = (uint32_t)(c < 1 ? 1 : c > (uint64_t)N ? (uint64_t)N : c);
    }
    /* [B, C, F, h·w] -> [B, C, h·w, F] -> [B, F, C·h·w] = [B·F, C, h, w] */
    evk_tensor t1, lat;
    EVK_TRY(evk_tensor_alloc(v->ctx, EVK_DTYPE_F32, 4, (int64_t[]){B, C, h * w, F}, &t1));
    evk_status st = evk_tensor_alloc(v->ctx, EVK_DTYPE_F32, 4, (int64_t[]){N, C, h, w}, &lat);
    if (!st) st = evk_op_transpose(s, x0, B * C, F, h * w, &t1);
    if (!st) st = evk_op_transpose(s, &t1, B, C * h * w, F, &lat);
    evk_tensor img;
    if (!st) st = evk_tensor_reshape(out, 4, (int64_t[]){N, 3, H, W}, &img);
    for (int64_t f = 0; f < N && !st; f += chunk) {
        int64_t m = N - f < (int64_t)chunk ? N - f : (int64_t)chunk;
        evk_tensor lv, iv;
        st = evk_tensor_rows(&lat, f, m, &lv);
        if (!st) st = evk_tensor_rows(&img, f, m, &iv);
        if (!st) st = evk_vae_decode(v->vae, s, &lv, &iv);
    }
    evk_tensor_free(v->ctx, &t1);
    evk_tensor_free(v->ctx, &lat);
    return st;
}

static evk_status evk__vc2_decode(void *impl, evk_stream *s, const evk_tensor *x0, const evk_tensor *out) {
    evk_vc2 *v = impl;
    int64_t B = x0->shape[0], N = B * v->frames;
    evk_tensor img;
    EVK_TRY(evk_tensor_alloc(v->ctx, EVK_DTYPE_F32, 4, (int64_t[]){N, 3, v->height, v->width}, &img));
    evk_status st = evk_vc2_decode_raw(v, s, x0, 0, &img);
    if (!st) st = evk_op_affine_clamp(s, &img, 0.5f, 0.5f, 0.0f, 1.0f, out);
    evk_tensor_free(v->ctx, &img);
    return st;
}

evk_status evk_vc2_tokenize(evk_vc2 *v, const char *prompt, int32_t *ids) {
    int L = v->text_cfg.max_position_embeddings;
    evk_tokenize_info info;
    return evk_tokenizer_encode(v->tok, prompt ? prompt : "", ids, (size_t)L, &info);
}

evk_status evk_vc2_encode_prompts(evk_vc2 *v, const char *const *prompts, int n, evk_tensor *out) {
    memset(out, 0, sizeof *out);
    int L = v->text_cfg.max_position_embeddings;
    int32_t *ids = malloc((size_t)L * (size_t)n * sizeof *ids);
    if (!ids) return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    evk_status s = EVK_OK;
    for (int i = 0; i < n && !s; i++) s = evk_vc2_tokenize(v, prompts[i], ids + (size_t)i * L);
    if (!s) s = evk_tensor_alloc(v->ctx, EVK_DTYPE_F32, 3, (int64_t[]){n, L, v->text_cfg.hidden_size}, out);
    evk_stream *st = NULL;
    if (!s) s = evk_stream_create(v->ctx, &st);
    if (!s) s = evk_stream_begin(st);
    if (!s) s = evk_clip_text_forward(v->text, st, ids, n, L, 0, out, NULL);
    if (!s) s = evk_stream_run(st);
    evk_stream_destroy(st);
    free(ids);
    if (s) evk_tensor_free(v->ctx, out);
    return s;
}

static evk_status evk__vc2_encode(void *impl, const char *prompt, evk_tensor *out, bool *truncated) {
    evk_vc2 *v = impl;
    if (truncated) {
        int L = v->text_cfg.max_position_embeddings;
        int32_t *ids = malloc((size_t)L * sizeof *ids);
        if (!ids) return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
        evk_tokenize_info info;
        evk_status s = evk_tokenizer_encode(v->tok, prompt ? prompt : "", ids, (size_t)L, &info);
        free(ids);
        EVK_TRY(s);
        *truncated = info.truncated > 0;
    }
    return evk_vc2_encode_prompts(v, &prompt, 1, out);
}

/* The student: T2V-Turbo's LCM (50 origin steps); the teacher: lvdm's DDIM (uniform, +1, with the
 * yaml's use_scale x̂0 rescaling). η = 1. */
static evk_status evk__vc2_sampler(void *impl, uint32_t steps, evk_sampler_config *out) {
    evk_vc2 *v = impl;
    memset(out, 0, sizeof *out);
    out->kind = v->info.guidance_embedded ? EVK_SAMPLER_LCM : EVK_SAMPLER_DDIM;
    out->schedule = EVK_SCHEDULE_VP;
    out->prediction = EVK_OUTPUT_EPS;
    out->steps = steps;
    out->eta = 1.0;
    out->spacing = EVK_SPACING_LEADING;
    out->steps_offset = 1;
    out->set_alpha_to_one = false;
    out->train_timesteps = (uint32_t)v->train_timesteps;
    out->beta_start = v->beta_start;
    out->beta_end = v->beta_end;
    out->beta_schedule = EVK_BETA_SCALED_LINEAR;
    out->lcm_origin_steps = 50;
    if (v->use_scale) out->x0_scale_b = v->scale_b, out->x0_scale_mid = (uint32_t)v->scale_mid; /* lvdm's DDIM */
    return EVK_OK;
}

static void evk__vc2_free(void *impl) {
    evk_vc2 *v = impl;
    evk_vc2_unet_destroy(v->unet);
    evk_clip_text_destroy(v->text);
    evk_vae_decoder_destroy(v->vae);
    evk_tokenizer_destroy(v->tok);
    evk_weights_close(v->unet_ws);
    evk_weights_close(v->text_ws);
    evk_weights_close(v->vae_ws);
    free(v);
}

/* The yaml to read: --config FILE, else <checkpoint>.yaml, else NULL (built in). */
static void evk__vc2_yaml_path(const char *ckpt, const evk_model_options *opt, char *out, size_t cap) {
    out[0] = 0;
    if (opt && opt->config_dir) {
        snprintf(out, cap, "%s", opt->config_dir);
        return;
    }
    const char *dot = strrchr(ckpt, '.'), *slash = strrchr(ckpt, '/');
    int stem = dot && (!slash || dot > slash) ? (int)(dot - ckpt) : (int)strlen(ckpt);
    snprintf(out, cap, "%.*s.yaml", stem, ckpt);
    if (!evk__vc2_is_file(out)) out[0] = 0;
}

/* ---- T2V-Turbo v1's LoRA list ------------------------------------------------------------------ */

/* The attribute names of lvdm's UNet modules in the order their __init__ registers them (see
 * lora_list.h). utils/lora.py inject_trainable_lora_extended walks UNetModel.named_modules() and
 * gives every nn.Linear, nn.Conv2d and nn.Conv3d (not Conv1d: init_attn's projections) a pair. */
static const char *const evk__vc2_module_order[] = {
    /* UNetModel */
    "time_embed", "fps_embedding", "time_cond_proj", "motion_cond_proj", "combine_proj", "input_blocks", "init_attn",
    "middle_block", "output_blocks", "out",
    /* ResBlock, TemporalConvBlock */
    "in_layers", "h_upd", "x_upd", "emb_layers", "out_layers", "skip_connection", "temopral_conv", "conv1", "conv2", "conv3",
    "conv4",
    /* SpatialTransformer / TemporalTransformer, BasicTransformerBlock, CrossAttention */
    "norm", "proj_in", "transformer_blocks", "proj_out", "attn1", "ff", "attn2", "norm1", "norm2", "norm3", "to_q", "to_k",
    "to_v", "to_out", "to_k_ip", "to_v_ip",
    /* FeedForward, GEGLU, Downsample, Upsample */
    "net", "proj", "op", "conv",
};
static const evk_lora_layout evk__vc2_lora_layout = {"lvdm's UNetModel", evk__vc2_module_order,
                                                     sizeof evk__vc2_module_order / sizeof *evk__vc2_module_order, "time_cond_proj",
                                                     "T2V-Turbo's merged UNet (t2v_turbo_vc2.pt / unet_mg.pt)"};

static evk_status evk__vc2_load(evk_vc2 *v, const char *path, const evk_model_options *opt) {
    if (!evk__vc2_is_file(path)) return evk_fail(EVK_ERROR_IO, "no checkpoint at %s", path);
    char yp[700];
    evk__vc2_yaml_path(path, opt, yp, sizeof yp);
    evk_yaml *y = NULL;
    if (yp[0]) {
        struct stat sb;
        if (stat(yp, &sb) == 0 && S_ISDIR(sb.st_mode))
            return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "%s: give the model's lvdm .yaml config (a file), not a folder", yp);
        EVK_TRY(evk_yaml_load(yp, &y));
    } else {
        EVK_TRY(evk_yaml_parse(evk__vc2_builtin_yaml, "built-in VideoCrafter2 config (inference_t2v_512_v2.0.yaml)", &y));
    }
    evk_status st = evk__vc2_config(v, y, yp[0] ? yp : NULL);
    evk_yaml_free(y);
    EVK_TRY(st);
    evk_dtype sto = opt && opt->storage == EVK_DTYPE_F16 ? EVK_DTYPE_F16 : EVK_DTYPE_F32;
    /* the UNet: the checkpoint's, or the --diffusion-model file's (prefix or not) */
    const char *upath = opt && opt->diffusion_model ? opt->diffusion_model : path;
    EVK_TRY(evk_weights_open(v->ctx, upath, &v->unet_ws));
    /* T2V-Turbo v1's unet_lora.pt (an unnamed list of LoRA pairs), as --lora or as --diffusion-model
     * (then merged over the checkpoint's own UNet) */
    const char *lpath = opt ? opt->lora : NULL;
    if (upath != path && evk_lora_list_is(v->unet_ws)) {
        if (lpath) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "%s (--diffusion-model) is a LoRA list, and --lora gives another", upath);
        lpath = upath;
        upath = path;
        evk_weights_close(v->unet_ws);
        v->unet_ws = NULL;
        EVK_TRY(evk_weights_open(v->ctx, upath, &v->unet_ws));
    }
    bool prefixed = false;
    for (size_t i = 0; i < evk_weights_count(v->unet_ws) && !prefixed; i++)
        prefixed = !strncmp(evk_weights_at(v->unet_ws, i)->name, "model.diffusion_model.", 22);
    if (upath == path && !prefixed) return evk_fail(EVK_ERROR_FORMAT, "%s: no UNet under \"model.diffusion_model.\"", path);
    if (prefixed) EVK_TRY(evk_weights_set_prefix(v->unet_ws, "model.diffusion_model."));
    if (lpath) EVK_TRY(evk_lora_list_apply(v->unet_ws, upath, lpath, &evk__vc2_lora_layout));
    /* time_cond_proj / motion_cond_proj: present iff the weights hold them */
    int nd;
    int64_t sh[EVK_ST_MAX_DIMS];
    struct { const char *name; int *dim; const char *key; } conds[] = {
        {"time_cond_proj.weight", &v->ucfg.time_cond_proj_dim, "time_cond_proj_dim"},
        {"motion_cond_proj.weight", &v->ucfg.motion_cond_proj_dim, "motion_cond_proj_dim"},
    };
    for (int i = 0; i < 2; i++) {
        if (evk_weights_has(v->unet_ws, conds[i].name)) {
            EVK_TRY(evk_weights_shape(v->unet_ws, conds[i].name, &nd, sh));
            if (nd != 2 || sh[0] != v->ucfg.model_channels || sh[1] < 1 || sh[1] > 65536)
                return evk_fail(EVK_ERROR_FORMAT, "%s: %s%s has the wrong shape (expected [%d, dim])", upath, prefixed ? "model.diffusion_model." : "",
                                conds[i].name, v->ucfg.model_channels);
            if (*conds[i].dim && *conds[i].dim != sh[1])
                return evk_fail(EVK_ERROR_FORMAT, "%s: %s is [%lld, %lld] but the config says %s %d", upath, conds[i].name, (long long)sh[0],
                                (long long)sh[1], conds[i].key, *conds[i].dim);
            *conds[i].dim = (int)sh[1];
        } else if (*conds[i].dim) {
            return evk_fail(EVK_ERROR_FORMAT, "%s: the config sets %s %d but the weights hold no %s%s", upath, conds[i].key, *conds[i].dim,
                            prefixed ? "model.diffusion_model." : "", conds[i].name);
        }
    }
    st = evk_vc2_unet_load(v->ctx, &v->ucfg, v->unet_ws, evk_weights_storage(v->unet_ws, sto), &v->unet);
    if (st && prefixed) return evk_fail_context(st, "UNet tensor names below \"model.diffusion_model.\"");
    if (st) return st;
    if (lpath) { /* the merged layers' f32 copies are on the device now */
        evk_weights_close(v->unet_ws);
        v->unet_ws = NULL;
    }
    /* the text tower and the VAE from the checkpoint, through the original-name maps */
    EVK_TRY(evk_weights_open(v->ctx, path, &v->text_ws));
    EVK_TRY(evk_sd_keys_text(v->text_ws, &v->text_keys));
    if (v->text_keys.part != EVK_SD_PART_TEXT_OPENCLIP)
        return evk_fail(EVK_ERROR_FORMAT, "%s: the text encoder is not an OpenCLIP tower (cond_stage_model.model.*)", path);
    evk_weights_use_sd_keys(v->text_ws, &v->text_keys);
    if (v->text_cfg.hidden_size != v->ucfg.context_dim)
        return evk_fail(EVK_ERROR_FORMAT, "%s: the UNet attends to %d-wide text but the text tower is %d wide", path, v->ucfg.context_dim,
                        v->text_cfg.hidden_size);
    st = evk_clip_text_load(v->ctx, &v->text_cfg, v->text_ws, sto, &v->text);
    if (st) return evk_fail_context(st, "the OpenCLIP text tower (cond_stage_model.model.*)");
    /* the tokenizer: a tokenizer/ folder beside the yaml when there is one (a model trained with
     * its own vocabulary, as the tiny video default), else OpenCLIP's, built in */
    st = evk_tokenizer_load_openclip(yp[0] ? yp : NULL, v->text_cfg.max_position_embeddings, &v->tok);
    if (st) return evk_fail_context(st, "the tokenizer for %s", yp[0] ? yp : path);
    EVK_TRY(evk_weights_open(v->ctx, path, &v->vae_ws));
    EVK_TRY(evk_sd_keys_vae(&v->vae_cfg, &v->vae_keys));
    evk_weights_use_sd_keys(v->vae_ws, &v->vae_keys);
    st = evk_vae_decoder_load(v->ctx, &v->vae_cfg, v->vae_ws, sto, &v->vae);
    if (st) return evk_fail_context(st, "the VAE (first_stage_model.*)");
    if (opt && opt->vae_tile) {
        evk_vae_decode_options vo = {.tile_latent = opt->vae_tile};
        evk_vae_decoder_set_options(v->vae, &vo);
    }
    if (v->vae_cfg.latent_channels != v->ucfg.in_channels)
        return evk_fail(EVK_ERROR_FORMAT, "%s: the VAE has %d latent channels but the UNet takes %d", path, v->vae_cfg.latent_channels,
                        v->ucfg.in_channels);
    v->factor = (uint32_t)evk_vae_decoder_upscale(v->vae);
    uint32_t multiple = v->factor << (v->ucfg.levels - 1);
    v->width = opt && opt->width ? opt->width : (uint32_t)v->image_w * v->factor;
    v->height = opt && opt->height ? opt->height : (uint32_t)v->image_h * v->factor;
    if (v->width % multiple || v->height % multiple)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "video size %ux%u: width and height must be multiples of %u for this model", v->width,
                        v->height, multiple);
    v->frames = opt && opt->frames ? opt->frames : (uint32_t)v->temporal_length;
    if (v->frames > 1024) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "%u frames (at most 1024)", v->frames);
    v->fps = opt && opt->fps ? (float)opt->fps : 16.0f; /* T2V-Turbo's pipelines: fps 16 */
    evk_model_info info = {
        .family = "vc2",
        .schedule = EVK_SCHEDULE_VP,
        .prediction = EVK_OUTPUT_EPS,
        .sample_ndim = 4,
        .sample_shape = {v->ucfg.in_channels, v->frames, v->height / v->factor, v->width / v->factor},
        .conditional = true,
        .image_width = v->width,
        .image_height = v->height,
        .frames = v->frames,
        .fps = (uint32_t)v->fps,
        .guidance_embedded = v->ucfg.time_cond_proj_dim > 0,
        .motion_guidance = v->ucfg.time_cond_proj_dim > 0 && v->ucfg.motion_cond_proj_dim == v->ucfg.time_cond_proj_dim,
    };
    info.scratch_per_item = (uint64_t)24 * 4 * v->ucfg.model_channels * v->frames * (v->width / v->factor) * (v->height / v->factor);
    v->info = info;
    return EVK_OK;
}

static const evk_model_ops *evk__vc2_ops(void);

evk_status evk_vc2_model_load(evk_context *ctx, const char *path, const evk_model_options *options, evk_model **out) {
    *out = NULL;
    evk_vc2 *v = calloc(1, sizeof *v);
    if (!v) return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    v->ctx = ctx;
    snprintf(v->label, sizeof v->label, "%s", path);
    evk_status s = evk__vc2_load(v, path, options);
    if (s) {
        evk__vc2_free(v);
        return s;
    }
    evk_model_ops ops = *evk__vc2_ops();
    ops.decoded_ndim = 4;
    ops.decoded_shape[0] = v->frames, ops.decoded_shape[1] = 3, ops.decoded_shape[2] = v->height, ops.decoded_shape[3] = v->width;
    EVK_TRY(evk_model_create(ctx, &ops, &v->info, v, &v->model)); /* on failure v is freed already */
    *out = v->model;
    return EVK_OK;
}

static const evk_model_ops evk__vc2_model_ops = {.forward = evk__vc2_forward, .decode = evk__vc2_decode, .encode_prompt = evk__vc2_encode,
                                                 .sampler_config = evk__vc2_sampler, .destroy = evk__vc2_free};

static const evk_model_ops *evk__vc2_ops(void) { return &evk__vc2_model_ops; }

evk_vc2 *evk_vc2_of(evk_model *m) {
    const evk_model_info *mi = evk_model_get_info(m);
    return mi && mi->family && !strcmp(mi->family, "vc2") ? evk_model_impl(m) : NULL;
}

evk_vc2_unet *evk_vc2_get_unet(evk_vc2 *v) { return v->unet; }
