/* sd_builtin.c — SD 1.x / 2.x told apart from a single file's tensors, and their diffusers configs
 * as JSON text parsed by the ordinary config parsers (see sd_builtin.h for the rules and the
 * choices). The JSON is that of the diffusers repositories named below, trimmed to the keys the
 * parsers read. */
#include "models/sd/sd_builtin.h"

#include <string.h>

#define EVK__SD_XATTN_K "model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight"

/* runwayml/stable-diffusion-v1-5 */
static const char evk__sd1_unet[] =
    "{\"_class_name\":\"UNet2DConditionModel\",\"act_fn\":\"silu\",\"attention_head_dim\":8,"
    "\"block_out_channels\":[320,640,1280,1280],\"center_input_sample\":false,\"cross_attention_dim\":768,"
    "\"down_block_types\":[\"CrossAttnDownBlock2D\",\"CrossAttnDownBlock2D\",\"CrossAttnDownBlock2D\",\"DownBlock2D\"],"
    "\"downsample_padding\":1,\"flip_sin_to_cos\":true,\"freq_shift\":0,\"in_channels\":4,\"layers_per_block\":2,"
    "\"mid_block_scale_factor\":1,\"norm_eps\":1e-05,\"norm_num_groups\":32,\"out_channels\":4,\"sample_size\":64,"
    "\"up_block_types\":[\"UpBlock2D\",\"CrossAttnUpBlock2D\",\"CrossAttnUpBlock2D\",\"CrossAttnUpBlock2D\"]}";
static const char evk__sd1_text[] =
    "{\"architectures\":[\"CLIPTextModel\"],\"bos_token_id\":0,\"eos_token_id\":2,\"hidden_act\":\"quick_gelu\","
    "\"hidden_size\":768,\"intermediate_size\":3072,\"layer_norm_eps\":1e-05,\"max_position_embeddings\":77,"
    "\"model_type\":\"clip_text_model\",\"num_attention_heads\":12,\"num_hidden_layers\":12,\"pad_token_id\":1,"
    "\"projection_dim\":768,\"vocab_size\":49408}";
static const char evk__sd1_scheduler[] =
    "{\"_class_name\":\"PNDMScheduler\",\"beta_end\":0.012,\"beta_schedule\":\"scaled_linear\",\"beta_start\":0.00085,"
    "\"clip_sample\":false,\"num_train_timesteps\":1000,\"set_alpha_to_one\":false,\"skip_prk_steps\":true,"
    "\"steps_offset\":1,\"trained_betas\":null}";
/* stabilityai/stable-diffusion-2-1 */
static const char evk__sd2_unet[] =
    "{\"_class_name\":\"UNet2DConditionModel\",\"act_fn\":\"silu\",\"attention_head_dim\":[5,10,20,20],"
    "\"block_out_channels\":[320,640,1280,1280],\"center_input_sample\":false,\"cross_attention_dim\":1024,"
    "\"down_block_types\":[\"CrossAttnDownBlock2D\",\"CrossAttnDownBlock2D\",\"CrossAttnDownBlock2D\",\"DownBlock2D\"],"
    "\"downsample_padding\":1,\"dual_cross_attention\":false,\"flip_sin_to_cos\":true,\"freq_shift\":0,\"in_channels\":4,"
    "\"layers_per_block\":2,\"mid_block_scale_factor\":1,\"norm_eps\":1e-05,\"norm_num_groups\":32,\"out_channels\":4,"
    "\"sample_size\":96,\"up_block_types\":[\"UpBlock2D\",\"CrossAttnUpBlock2D\",\"CrossAttnUpBlock2D\",\"CrossAttnUpBlock2D\"],"
    "\"upcast_attention\":true,\"use_linear_projection\":true}";
static const char evk__sd2_text[] =
    "{\"architectures\":[\"CLIPTextModel\"],\"bos_token_id\":0,\"eos_token_id\":2,\"hidden_act\":\"gelu\","
    "\"hidden_size\":1024,\"intermediate_size\":4096,\"layer_norm_eps\":1e-05,\"max_position_embeddings\":77,"
    "\"model_type\":\"clip_text_model\",\"num_attention_heads\":16,\"num_hidden_layers\":23,\"pad_token_id\":1,"
    "\"projection_dim\":512,\"vocab_size\":49408}";
static const char evk__sd2_scheduler[] =
    "{\"_class_name\":\"DDIMScheduler\",\"beta_end\":0.012,\"beta_schedule\":\"scaled_linear\",\"beta_start\":0.00085,"
    "\"clip_sample\":false,\"num_train_timesteps\":1000,\"prediction_type\":\"v_prediction\",\"set_alpha_to_one\":false,"
    "\"skip_prk_steps\":true,\"steps_offset\":1,\"trained_betas\":null}";
/* both: AutoencoderKL of SD (sample_size 512 / 768 does not enter the decoder) */
static const char evk__sd_vae[] =
    "{\"_class_name\":\"AutoencoderKL\",\"act_fn\":\"silu\",\"block_out_channels\":[128,256,512,512],"
    "\"down_block_types\":[\"DownEncoderBlock2D\",\"DownEncoderBlock2D\",\"DownEncoderBlock2D\",\"DownEncoderBlock2D\"],"
    "\"in_channels\":3,\"latent_channels\":4,\"layers_per_block\":2,\"norm_num_groups\":32,\"out_channels\":3,"
    "\"sample_size\":512,\"scaling_factor\":0.18215,"
    "\"up_block_types\":[\"UpDecoderBlock2D\",\"UpDecoderBlock2D\",\"UpDecoderBlock2D\",\"UpDecoderBlock2D\"]}";

const char *evk_sd_version_name(evk_sd_version v) {
    return v == EVK_SD_VERSION_1 ? "SD 1.x" : v == EVK_SD_VERSION_2 ? "SD 2.x" : "unknown";
}

evk_status evk_sd_detect_version(const evk_weights *ws, const char *label, evk_sd_version *out) {
    *out = EVK_SD_VERSION_UNKNOWN;
    if (!label) label = "checkpoint";
    int clip = 0, open_clip = 0, sdxl = 0;
    int64_t context = 0;
    for (size_t i = 0; i < evk_weights_count(ws); i++) {
        const evk_st_tensor *t = evk_weights_at(ws, i);
        if (!strncmp(t->name, "cond_stage_model.transformer.", 29)) clip++;
        else if (!strncmp(t->name, "cond_stage_model.model.", 23)) open_clip++;
        else if (!strncmp(t->name, "conditioner.embedders.", 22)) sdxl++;
        else if (!strcmp(t->name, EVK__SD_XATTN_K) && t->ndim == 2) context = t->shape[1];
    }
    if (sdxl)
        return evk_fail(EVK_ERROR_UNSUPPORTED, "%s: an SDXL checkpoint (conditioner.embedders.*), which evoke does not run yet", label);
    const evk_sd_version by_text = clip && !open_clip ? EVK_SD_VERSION_1 : open_clip && !clip ? EVK_SD_VERSION_2 : EVK_SD_VERSION_UNKNOWN;
    const evk_sd_version by_unet = context == 768 ? EVK_SD_VERSION_1 : context == 1024 ? EVK_SD_VERSION_2 : EVK_SD_VERSION_UNKNOWN;
    if (by_text && by_unet && by_text != by_unet)
        return evk_fail(EVK_ERROR_FORMAT, "%s: its text encoder is %s's but its UNet attends to %lld-wide text (%s's); give --config", label,
                        evk_sd_version_name(by_text), (long long)context, evk_sd_version_name(by_unet));
    *out = by_text ? by_text : by_unet;
    if (!*out)
        return evk_fail(EVK_ERROR_FORMAT,
                        "%s: cannot tell which Stable Diffusion this is (no CLIP / OpenCLIP text encoder under cond_stage_model., "
                        "%s has %s); give --config with a diffusers folder of the same family", label, EVK__SD_XATTN_K,
                        context ? "an unknown width" : "no 2-D weight");
    return EVK_OK;
}

evk_status evk_sd_builtin_configs(evk_sd_version v, evk_sd_builtin *out) {
    if (v != EVK_SD_VERSION_1 && v != EVK_SD_VERSION_2)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "evk_sd_builtin_configs: unknown Stable Diffusion version %d", (int)v);
    const bool two = v == EVK_SD_VERSION_2;
    memset(out, 0, sizeof *out);
    EVK_TRY(evk_unet_config_parse(two ? evk__sd2_unet : evk__sd1_unet, "built-in UNet config", &out->unet));
    EVK_TRY(evk_clip_text_config_parse(two ? evk__sd2_text : evk__sd1_text, "built-in text encoder config", &out->text));
    EVK_TRY(evk_vae_config_parse(evk__sd_vae, "built-in VAE config", &out->vae));
    EVK_TRY(evk_scheduler_config_parse(two ? evk__sd2_scheduler : evk__sd1_scheduler, "built-in scheduler config", &out->scheduler));
    EVK_TRY(evk_tokenizer_config_parse(NULL, two ? "{\"pad_token\":\"!\"}" : NULL, "built-in tokenizer config", &out->tokenizer));
    return EVK_OK;
}
