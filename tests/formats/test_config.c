/* test_config.c — diffusers / transformers configs of SD 1.5, SD 2.1, SD-Turbo and CLIP parse to
 * the values the Python libraries use (explicit keys and constructor defaults), bad values are
 * refused with messages naming file, key and value, and the single-file checkpoint name map gives
 * the original names of known tensors of real SD 1.x / 2.x checkpoints. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/config.h"
#include "harness.h"
#include "models/sd/sd_keys.h"
#include "formats/tokenizer.h"
#include "formats/weights.h"

static const char *cfg(const char *name, char *buf, size_t n) {
    char rel[256];
    snprintf(rel, sizeof rel, "configs/%s", name);
    return test_data_path(rel, buf, n);
}

static void test_model_index(void **state) {
    (void)state;
    char p[512];
    evk_model_index mi;
    TEST_OK(evk_model_index_load(cfg("sd15/model_index.json", p, sizeof p), &mi));
    assert_string_equal(mi.class_name, "StableDiffusionPipeline");
    assert_int_equal(mi.count, 7);
    assert_string_equal(evk_model_index_class(&mi, "unet"), "UNet2DConditionModel");
    assert_string_equal(evk_model_index_class(&mi, "scheduler"), "PNDMScheduler");
    assert_string_equal(evk_model_index_class(&mi, "text_encoder"), "CLIPTextModel");
    assert_null(evk_model_index_class(&mi, "nope"));
    TEST_OK(evk_model_index_load(cfg("sd-turbo/model_index.json", p, sizeof p), &mi));
    assert_null(evk_model_index_class(&mi, "safety_checker")); /* [null, null] */
    assert_string_equal(evk_model_index_class(&mi, "scheduler"), "EulerDiscreteScheduler");
    assert_int_equal(evk_model_index_parse("{\"unet\": [\"diffusers\", \"UNet2DConditionModel\"]}", "x.json", &mi), EVK_ERROR_FORMAT);
    assert_non_null(strstr(evk_error_message(), "_class_name"));
    assert_int_equal(evk_model_index_parse("{\"_class_name\": \"P\", \"unet\": [\"diffusers\"]}", "x.json", &mi), EVK_ERROR_FORMAT);
    assert_non_null(strstr(evk_error_message(), "\"unet\""));
}

static void test_unet_configs(void **state) {
    (void)state;
    char p[512];
    evk_unet_config c;
    TEST_OK(evk_unet_config_load(cfg("sd15/unet_config.json", p, sizeof p), &c));
    assert_int_equal(c.num_blocks, 4);
    assert_int_equal(c.sample_size, 64);
    assert_int_equal(c.in_channels, 4);
    int boc[4] = {320, 640, 1280, 1280};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(c.block_out_channels[i], boc[i]);
        assert_int_equal(c.num_attention_heads[i], 8); /* attention_head_dim 8 = 8 heads */
        assert_int_equal(c.cross_attention_dim[i], 768);
        assert_int_equal(c.layers_per_block[i], 2);
        assert_int_equal(c.transformer_layers_per_block[i], 1);
        assert_false(c.only_cross_attention[i]);
    }
    assert_int_equal(c.down_block_types[0], EVK_UNET_CROSS_ATTN_DOWN_BLOCK);
    assert_int_equal(c.down_block_types[3], EVK_UNET_DOWN_BLOCK);
    assert_int_equal(c.up_block_types[0], EVK_UNET_UP_BLOCK);
    assert_int_equal(c.up_block_types[3], EVK_UNET_CROSS_ATTN_UP_BLOCK);
    assert_int_equal(c.mid_block_type, EVK_UNET_MID_CROSS_ATTN);
    assert_false(c.use_linear_projection);
    assert_false(c.upcast_attention);
    assert_true(c.flip_sin_to_cos);
    assert_true(c.freq_shift == 0);
    assert_int_equal(c.norm_num_groups, 32);
    assert_true(c.norm_eps == 1e-5f);
    assert_int_equal(c.act_fn, EVK_ACT_SILU);
    assert_int_equal(c.time_embedding_dim, 1280); /* defaults to 4 x block_out_channels[0] */
    assert_int_equal(c.time_cond_proj_dim, 0);
    assert_false(c.resnet_scale_shift);
    assert_int_equal(c.mid_block_only_cross_attention, 0);
    assert_int_equal(c.conv_in_kernel, 3);

    TEST_OK(evk_unet_config_load(cfg("sd21/unet_config.json", p, sizeof p), &c));
    int heads[4] = {5, 10, 20, 20};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(c.num_attention_heads[i], heads[i]);
        assert_int_equal(c.block_out_channels[i] / c.num_attention_heads[i], 64); /* head dim 64 everywhere */
        assert_int_equal(c.cross_attention_dim[i], 1024);
    }
    assert_int_equal(c.sample_size, 96);
    assert_true(c.use_linear_projection);
    assert_true(c.upcast_attention);

    evk_unet_config t;
    TEST_OK(evk_unet_config_load(cfg("sd-turbo/unet_config.json", p, sizeof p), &t));
    assert_int_equal(t.sample_size, 64);
    assert_true(t.use_linear_projection);
    assert_false(t.upcast_attention); /* null -> the default */
    for (int i = 0; i < 4; i++) assert_int_equal(t.num_attention_heads[i], heads[i]);
    assert_int_equal(t.time_embedding_dim, 1280);

    /* an empty object: every constructor default */
    TEST_OK(evk_unet_config_parse("{}", "empty.json", &c));
    evk_unet_config d;
    evk_unet_config_default(&d);
    assert_memory_equal(&c, &d, sizeof c);
    assert_int_equal(c.cross_attention_dim[0], 1280);
    assert_int_equal(c.sample_size, 0);

    /* mid_block_only_cross_attention follows a bool only_cross_attention when null */
    TEST_OK(evk_unet_config_parse("{\"only_cross_attention\": true}", "x.json", &c));
    assert_int_equal(c.mid_block_only_cross_attention, 1);
    TEST_OK(evk_unet_config_parse("{\"only_cross_attention\": [true, false, false, false]}", "x.json", &c));
    assert_int_equal(c.mid_block_only_cross_attention, 0);
    assert_true(c.only_cross_attention[0]);
    assert_false(c.only_cross_attention[1]);
    TEST_OK(evk_unet_config_parse("{\"resnet_time_scale_shift\": \"scale_shift\", \"act_fn\": \"swish\", \"time_cond_proj_dim\": 256}", "x.json", &c));
    assert_true(c.resnet_scale_shift);
    assert_int_equal(c.act_fn, EVK_ACT_SILU);
    assert_int_equal(c.time_cond_proj_dim, 256);
}

/* Every rejection names the file, the key and the value. */
static void expect_unet_error(const char *json, const char *key, const char *value) {
    evk_unet_config c;
    evk_status s = evk_unet_config_parse(json, "unet/config.json", &c);
    if (s != EVK_ERROR_FORMAT) fail_msg("%s: expected EVK_ERROR_FORMAT, got %s", json, evk_status_name(s));
    const char *m = evk_error_message();
    if (!strstr(m, "unet/config.json") || !strstr(m, key) || (value && !strstr(m, value)))
        fail_msg("%s: message should name the file, %s and %s: %s", json, key, value ? value : "", m);
}

static void test_unet_rejections(void **state) {
    (void)state;
    expect_unet_error("{\"class_embed_type\": \"timestep\"}", "class_embed_type", "timestep");
    expect_unet_error("{\"addition_embed_type\": \"text_time\"}", "addition_embed_type", "text_time");
    expect_unet_error("{\"time_embedding_type\": \"fourier\"}", "time_embedding_type", "fourier");
    expect_unet_error("{\"act_fn\": \"tanh\"}", "act_fn", "tanh");
    expect_unet_error("{\"resnet_time_scale_shift\": \"ada_group\"}", "resnet_time_scale_shift", "ada_group");
    expect_unet_error("{\"mid_block_type\": \"UNetMidBlock2DSimpleCrossAttn\"}", "mid_block_type", "UNetMidBlock2DSimpleCrossAttn");
    expect_unet_error("{\"down_block_types\": [\"CrossAttnDownBlock2D\", \"SimpleCrossAttnDownBlock2D\", \"DownBlock2D\", \"DownBlock2D\"]}",
                      "down_block_types", "SimpleCrossAttnDownBlock2D");
    expect_unet_error("{\"dual_cross_attention\": true}", "dual_cross_attention", "true");
    expect_unet_error("{\"num_attention_heads\": 8}", "num_attention_heads", "8");
    expect_unet_error("{\"attention_type\": \"gated\"}", "attention_type", "gated");
    expect_unet_error("{\"encoder_hid_dim_type\": \"text_proj\"}", "encoder_hid_dim_type", "text_proj");
    expect_unet_error("{\"attention_head_dim\": [5, 10]}", "attention_head_dim", "[5,10]");
    expect_unet_error("{\"attention_head_dim\": \"eight\"}", "attention_head_dim", "eight");
    expect_unet_error("{\"layers_per_block\": 2.5}", "layers_per_block", "2.5");
    expect_unet_error("{\"use_linear_projection\": 1}", "use_linear_projection", "1");
    expect_unet_error("{\"transformer_layers_per_block\": [[1], [2], [3], [4]]}", "transformer_layers_per_block", NULL);
    expect_unet_error("{\"block_out_channels\": [320, 640]}", "block_out_channels", NULL);
    expect_unet_error("{\"up_block_types\": [\"UpBlock2D\"]}", "up_block_types", NULL);
    expect_unet_error("{\"block_out_channels\": [320, 640, 1280, 1000]}", "channels", "1000");
    evk_unet_config c;
    assert_int_equal(evk_unet_config_parse("{\"a\": ", "unet/config.json", &c), EVK_ERROR_FORMAT);
    assert_non_null(strstr(evk_error_message(), "not valid JSON"));
    assert_int_equal(evk_unet_config_load("/nonexistent/config.json", &c), EVK_ERROR_IO);
}

static void test_vae_and_text_configs(void **state) {
    (void)state;
    char p[512];
    evk_vae_config v;
    TEST_OK(evk_vae_config_load(cfg("sd15/vae_config.json", p, sizeof p), &v));
    assert_int_equal(v.num_blocks, 4);
    assert_int_equal(v.block_out_channels[0], 128);
    assert_int_equal(v.block_out_channels[3], 512);
    assert_int_equal(v.layers_per_block, 2);
    assert_int_equal(v.latent_channels, 4);
    assert_true(v.scaling_factor == 0.18215f); /* absent in the file: the default */
    assert_false(v.has_shift_factor);
    assert_true(v.use_quant_conv && v.use_post_quant_conv && v.mid_block_add_attention && v.force_upcast);
    TEST_OK(evk_vae_config_load(cfg("sd21/vae_config.json", p, sizeof p), &v));
    assert_int_equal(v.sample_size, 768);
    TEST_OK(evk_vae_config_parse("{\"scaling_factor\": 0.13025, \"shift_factor\": 0.0609, \"force_upcast\": false}", "x", &v));
    assert_true(v.has_shift_factor && fabsf(v.shift_factor - 0.0609f) < 1e-7f && !v.force_upcast);
    assert_int_equal(v.num_blocks, 1);
    assert_int_equal(evk_vae_config_parse("{\"block_out_channels\": [128, 256], \"up_block_types\": [\"UpDecoderBlock2D\", \"UpDecoderBlock2D\"], "
                                          "\"down_block_types\": [\"DownEncoderBlock2D\", \"DownEncoderBlock3D\"]}", "vae/config.json", &v),
                     EVK_ERROR_FORMAT);
    assert_non_null(strstr(evk_error_message(), "DownEncoderBlock3D"));

    evk_clip_text_config t;
    TEST_OK(evk_clip_text_config_load(cfg("sd15/text_encoder_config.json", p, sizeof p), &t));
    assert_int_equal(t.hidden_size, 768);
    assert_int_equal(t.intermediate_size, 3072);
    assert_int_equal(t.num_hidden_layers, 12);
    assert_int_equal(t.num_attention_heads, 12);
    assert_int_equal(t.max_position_embeddings, 77);
    assert_int_equal(t.hidden_act, EVK_ACT_QUICK_GELU);
    assert_int_equal(t.eos_token_id, 2);
    assert_true(t.legacy_eos);
    assert_int_equal(t.vocab_size, 49408);
    TEST_OK(evk_clip_text_config_load(cfg("sd21/text_encoder_config.json", p, sizeof p), &t));
    assert_int_equal(t.hidden_size, 1024);
    assert_int_equal(t.num_hidden_layers, 23); /* SD 2.x uses the penultimate OpenCLIP layer */
    assert_int_equal(t.hidden_act, EVK_ACT_GELU);
    assert_int_equal(t.projection_dim, 512);
    TEST_OK(evk_clip_text_config_parse("{}", "x", &t));
    assert_int_equal(t.hidden_size, 512);
    assert_int_equal(t.eos_token_id, 49407);
    assert_false(t.legacy_eos);
    assert_int_equal(evk_clip_text_config_parse("{\"hidden_act\": \"swiglu\"}", "text_encoder/config.json", &t), EVK_ERROR_FORMAT);
    assert_non_null(strstr(evk_error_message(), "text_encoder/config.json"));
    assert_non_null(strstr(evk_error_message(), "hidden_act"));
    assert_non_null(strstr(evk_error_message(), "swiglu"));

    evk_clip_config c;
    TEST_OK(evk_clip_config_load(cfg("clip-vit-b32/config.json", p, sizeof p), &c));
    assert_int_equal(c.text.hidden_size, 512); /* text_config_dict lists only a few keys: defaults */
    assert_int_equal(c.text.eos_token_id, 2);
    assert_int_equal(c.vision.patch_size, 32);
    assert_int_equal(c.vision.image_size, 224);
    assert_int_equal(c.vision.hidden_size, 768);
    assert_int_equal(c.projection_dim, 512);
    assert_true(fabsf(c.logit_scale_init_value - 2.6592f) < 1e-6f);
    TEST_OK(evk_clip_config_load(cfg("clip-vit-b32/config_large.json", p, sizeof p), &c));
    assert_int_equal(c.text.hidden_size, 768);
    assert_int_equal(c.vision.patch_size, 14);
    assert_int_equal(c.vision.num_hidden_layers, 24);
    assert_int_equal(c.projection_dim, 768);
    /* the text config of a full CLIPModel file is found by the text-only parser too */
    TEST_OK(evk_clip_text_config_load(cfg("clip-vit-b32/config_large.json", p, sizeof p), &t));
    assert_int_equal(t.hidden_size, 768);
    assert_int_equal(evk_clip_config_parse("{\"vision_config\": {\"image_size\": 224, \"patch_size\": 30}}", "config.json", &c), EVK_ERROR_FORMAT);
    assert_non_null(strstr(evk_error_message(), "patch_size"));
}

static void test_preprocess_and_scheduler(void **state) {
    (void)state;
    char p[512];
    evk_clip_preprocess_config a, b;
    TEST_OK(evk_clip_preprocess_config_load(cfg("sd15/preprocessor_config.json", p, sizeof p), &a));
    TEST_OK(evk_clip_preprocess_config_load(cfg("clip-vit-b32/preprocessor_config.json", p, sizeof p), &b));
    /* the old int form and the new dict form mean the same */
    assert_memory_equal(&a, &b, sizeof a);
    assert_int_equal(a.shortest_edge, 224);
    assert_int_equal(a.crop_height, 224);
    assert_int_equal(a.crop_width, 224);
    assert_int_equal(a.resample, EVK_RESAMPLE_BICUBIC);
    assert_true(fabsf(a.rescale_factor - 1.0f / 255) < 1e-9f);
    assert_true(a.image_mean[0] == 0.48145466f && a.image_std[2] == 0.27577711f);
    TEST_OK(evk_clip_preprocess_config_parse("{\"size\": {\"height\": 256, \"width\": 320}, \"crop_size\": 200, \"do_normalize\": false}", "x", &a));
    assert_int_equal(a.shortest_edge, 0);
    assert_int_equal(a.resize_height, 256);
    assert_int_equal(a.resize_width, 320);
    assert_int_equal(a.crop_height, 200);
    assert_false(a.do_normalize);
    assert_int_equal(evk_clip_preprocess_config_parse("{\"size\": {\"longest_edge\": 3}}", "preprocessor_config.json", &a), EVK_ERROR_FORMAT);
    assert_non_null(strstr(evk_error_message(), "size"));

    evk_scheduler_config s;
    TEST_OK(evk_scheduler_config_load(cfg("sd15/scheduler_config.json", p, sizeof p), &s));
    assert_string_equal(s.class_name, "PNDMScheduler");
    assert_true(s.beta_start == 0.00085 && s.beta_end == 0.012);
    assert_int_equal(s.beta_schedule, EVK_BETA_SCALED_LINEAR);
    assert_int_equal(s.prediction_type, EVK_OUTPUT_EPS);
    assert_int_equal(s.timestep_spacing, EVK_SPACING_LEADING); /* PNDM's default */
    assert_int_equal(s.steps_offset, 1);
    assert_false(s.set_alpha_to_one);
    TEST_OK(evk_scheduler_config_load(cfg("sd21/scheduler_config.json", p, sizeof p), &s));
    assert_int_equal(s.prediction_type, EVK_OUTPUT_V);
    assert_int_equal(s.timestep_spacing, EVK_SPACING_LEADING);
    assert_false(s.clip_sample);
    assert_false(s.set_alpha_to_one);
    TEST_OK(evk_scheduler_config_load(cfg("sd-turbo/scheduler_config.json", p, sizeof p), &s));
    assert_int_equal(s.timestep_spacing, EVK_SPACING_TRAILING);
    assert_int_equal(s.prediction_type, EVK_OUTPUT_EPS);
    /* class defaults when keys are absent */
    TEST_OK(evk_scheduler_config_parse("{\"_class_name\": \"DDIMScheduler\"}", "x", &s));
    assert_true(s.beta_start == 0.0001 && s.beta_end == 0.02);
    assert_int_equal(s.beta_schedule, EVK_BETA_LINEAR);
    assert_true(s.set_alpha_to_one && s.clip_sample);
    assert_int_equal(s.timestep_spacing, EVK_SPACING_LEADING);
    TEST_OK(evk_scheduler_config_parse("{\"_class_name\": \"EulerDiscreteScheduler\"}", "x", &s));
    assert_int_equal(s.timestep_spacing, EVK_SPACING_LINSPACE);
    TEST_OK(evk_scheduler_config_parse("{\"_class_name\": \"LCMScheduler\"}", "x", &s));
    assert_true(s.beta_start == 0.00085 && s.beta_schedule == EVK_BETA_SCALED_LINEAR && s.original_inference_steps == 50);
    assert_int_equal(evk_scheduler_config_parse("{\"_class_name\": \"DDIMScheduler\", \"prediction_type\": \"flow\"}", "scheduler_config.json", &s),
                     EVK_ERROR_FORMAT);
    assert_non_null(strstr(evk_error_message(), "scheduler_config.json"));
    assert_non_null(strstr(evk_error_message(), "prediction_type"));
    assert_non_null(strstr(evk_error_message(), "flow"));
    assert_int_equal(evk_scheduler_config_parse("{\"_class_name\": \"DDIMScheduler\", \"beta_schedule\": \"sigmoid\"}", "s.json", &s), EVK_ERROR_FORMAT);
    assert_non_null(strstr(evk_error_message(), "sigmoid"));
    assert_int_equal(evk_scheduler_config_parse("{\"_class_name\": \"DDIMScheduler\", \"timestep_spacing\": \"karras\"}", "s.json", &s), EVK_ERROR_FORMAT);
    assert_non_null(strstr(evk_error_message(), "karras"));
    assert_int_equal(evk_scheduler_config_parse("{\"_class_name\": \"FooScheduler\"}", "s.json", &s), EVK_ERROR_FORMAT);
    assert_non_null(strstr(evk_error_message(), "FooScheduler"));
    assert_int_equal(evk_scheduler_config_parse("{\"_class_name\": \"DDIMScheduler\", \"trained_betas\": [0.1]}", "s.json", &s), EVK_ERROR_FORMAT);
    assert_non_null(strstr(evk_error_message(), "trained_betas"));
}

static void test_tokenizer_configs(void **state) {
    (void)state;
    char p[512], dir[512];
    evk_tokenizer_config t;
    snprintf(dir, sizeof dir, "%s", cfg("sd15", p, sizeof p));
    TEST_OK(evk_tokenizer_config_load(dir, &t));
    assert_int_equal(t.model_max_length, 77);
    assert_string_equal(t.bos.content, "<|startoftext|>");
    assert_string_equal(t.eos.content, "<|endoftext|>");
    assert_string_equal(t.pad.content, "<|endoftext|>");
    assert_true(t.do_lower_case);
    snprintf(dir, sizeof dir, "%s", cfg("sd21", p, sizeof p));
    TEST_OK(evk_tokenizer_config_load(dir, &t));
    assert_string_equal(t.pad.content, "!"); /* special_tokens_map.json overrides tokenizer_config.json */
    TEST_OK(evk_tokenizer_config_parse("{\"model_max_length\": 1e30, \"added_tokens_decoder\": {\"49406\": {\"content\": \"<|startoftext|>\"}}}", NULL,
                                       "x", &t));
    assert_int_equal(t.model_max_length, 77);
    assert_int_equal(t.added_count, 1);
    assert_int_equal(t.added[0].id, 49406);
    assert_int_equal(evk_tokenizer_config_parse("{\"pad_token\": 7}", NULL, "tok", &t), EVK_ERROR_FORMAT);
    assert_non_null(strstr(evk_error_message(), "tok/tokenizer_config.json"));
    assert_non_null(strstr(evk_error_message(), "pad_token"));
}

typedef struct { const char *diffusers, *original; } pair;

static void check_pairs(const evk_sd_keys *k, const pair *pairs, size_t n) {
    for (size_t i = 0; i < n; i++) {
        evk_weight_ref ref;
        TEST_OK(evk_sd_keys_map(k, pairs[i].diffusers, &ref));
        if (strcmp(ref.name, pairs[i].original)) fail_msg("%s -> %s, expected %s", pairs[i].diffusers, ref.name, pairs[i].original);
    }
}

static void test_sd_keys(void **state) {
    (void)state;
    char p[512];
    evk_unet_config u;
    TEST_OK(evk_unet_config_load(cfg("sd15/unet_config.json", p, sizeof p), &u));
    evk_sd_keys k;
    TEST_OK(evk_sd_keys_unet(&u, &k));
    /* names as they are in the released v1-5-pruned checkpoints */
    static const pair unet[] = {
        {"conv_in.weight", "model.diffusion_model.input_blocks.0.0.weight"},
        {"time_embedding.linear_1.weight", "model.diffusion_model.time_embed.0.weight"},
        {"time_embedding.linear_2.bias", "model.diffusion_model.time_embed.2.bias"},
        {"down_blocks.0.resnets.0.norm1.weight", "model.diffusion_model.input_blocks.1.0.in_layers.0.weight"},
        {"down_blocks.0.resnets.0.conv1.weight", "model.diffusion_model.input_blocks.1.0.in_layers.2.weight"},
        {"down_blocks.0.resnets.1.time_emb_proj.bias", "model.diffusion_model.input_blocks.2.0.emb_layers.1.bias"},
        {"down_blocks.0.attentions.1.transformer_blocks.0.attn1.to_q.weight",
         "model.diffusion_model.input_blocks.2.1.transformer_blocks.0.attn1.to_q.weight"},
        {"down_blocks.0.attentions.0.proj_in.weight", "model.diffusion_model.input_blocks.1.1.proj_in.weight"},
        {"down_blocks.0.downsamplers.0.conv.weight", "model.diffusion_model.input_blocks.3.0.op.weight"},
        {"down_blocks.1.resnets.0.conv_shortcut.weight", "model.diffusion_model.input_blocks.4.0.skip_connection.weight"},
        {"down_blocks.2.attentions.1.transformer_blocks.0.ff.net.0.proj.weight",
         "model.diffusion_model.input_blocks.8.1.transformer_blocks.0.ff.net.0.proj.weight"},
        {"down_blocks.2.downsamplers.0.conv.bias", "model.diffusion_model.input_blocks.9.0.op.bias"},
        {"down_blocks.3.resnets.1.conv2.weight", "model.diffusion_model.input_blocks.11.0.out_layers.3.weight"},
        {"mid_block.resnets.0.norm2.bias", "model.diffusion_model.middle_block.0.out_layers.0.bias"},
        {"mid_block.attentions.0.transformer_blocks.0.attn2.to_k.weight",
         "model.diffusion_model.middle_block.1.transformer_blocks.0.attn2.to_k.weight"},
        {"mid_block.resnets.1.conv1.weight", "model.diffusion_model.middle_block.2.in_layers.2.weight"},
        {"up_blocks.0.resnets.0.conv_shortcut.weight", "model.diffusion_model.output_blocks.0.0.skip_connection.weight"},
        {"up_blocks.0.resnets.2.conv2.weight", "model.diffusion_model.output_blocks.2.0.out_layers.3.weight"},
        {"up_blocks.0.upsamplers.0.conv.weight", "model.diffusion_model.output_blocks.2.1.conv.weight"},
        {"up_blocks.1.attentions.0.norm.weight", "model.diffusion_model.output_blocks.3.1.norm.weight"},
        {"up_blocks.1.upsamplers.0.conv.bias", "model.diffusion_model.output_blocks.5.2.conv.bias"},
        {"up_blocks.2.upsamplers.0.conv.weight", "model.diffusion_model.output_blocks.8.2.conv.weight"},
        {"up_blocks.3.attentions.2.proj_out.bias", "model.diffusion_model.output_blocks.11.1.proj_out.bias"},
        {"up_blocks.3.resnets.2.time_emb_proj.weight", "model.diffusion_model.output_blocks.11.0.emb_layers.1.weight"},
        {"conv_norm_out.weight", "model.diffusion_model.out.0.weight"},
        {"conv_out.bias", "model.diffusion_model.out.2.bias"},
    };
    check_pairs(&k, unet, sizeof unet / sizeof *unet);
    static const char *const no_rule[] = {
        "down_blocks.3.attentions.0.norm.weight", "down_blocks.3.downsamplers.0.conv.weight", "up_blocks.3.upsamplers.0.conv.weight",
        "up_blocks.0.attentions.0.norm.weight",   "down_blocks.4.resnets.0.conv1.weight",     "down_blocks.0.resnets.2.conv1.weight",
        "up_blocks.0.resnets.3.conv1.weight",     "mid_block.resnets.2.conv1.weight",         "down_blocks.0.resnets.0.conv9.weight",
        "add_embedding.linear_1.weight",          "down_blocks.x.resnets.0.conv1.weight",
    };
    for (size_t i = 0; i < sizeof no_rule / sizeof *no_rule; i++) {
        evk_weight_ref ref;
        if (evk_sd_keys_map(&k, no_rule[i], &ref) != EVK_ERROR_FORMAT) fail_msg("%s mapped to %s", no_rule[i], ref.name);
        assert_non_null(strstr(evk_error_message(), no_rule[i]));
    }

    /* a tiny config: 2 blocks, 1 layer each, attention only in the outer blocks, plain mid block */
    TEST_OK(evk_unet_config_parse("{\"block_out_channels\": [32, 64], \"layers_per_block\": 1, \"attention_head_dim\": 2,"
                                  "\"norm_num_groups\": 8, \"down_block_types\": [\"CrossAttnDownBlock2D\", \"DownBlock2D\"],"
                                  "\"up_block_types\": [\"UpBlock2D\", \"CrossAttnUpBlock2D\"], \"mid_block_type\": \"UNetMidBlock2D\"}",
                                  "tiny", &u));
    TEST_OK(evk_sd_keys_unet(&u, &k));
    static const pair tiny[] = {
        {"down_blocks.0.resnets.0.conv1.weight", "model.diffusion_model.input_blocks.1.0.in_layers.2.weight"},
        {"down_blocks.0.attentions.0.proj_in.weight", "model.diffusion_model.input_blocks.1.1.proj_in.weight"},
        {"down_blocks.0.downsamplers.0.conv.weight", "model.diffusion_model.input_blocks.2.0.op.weight"},
        {"down_blocks.1.resnets.0.conv1.weight", "model.diffusion_model.input_blocks.3.0.in_layers.2.weight"},
        {"mid_block.resnets.0.conv1.weight", "model.diffusion_model.middle_block.0.in_layers.2.weight"},
        {"mid_block.resnets.1.conv1.weight", "model.diffusion_model.middle_block.1.in_layers.2.weight"},
        {"up_blocks.0.resnets.1.conv1.weight", "model.diffusion_model.output_blocks.1.0.in_layers.2.weight"},
        {"up_blocks.0.upsamplers.0.conv.weight", "model.diffusion_model.output_blocks.1.1.conv.weight"},
        {"up_blocks.1.resnets.0.conv1.weight", "model.diffusion_model.output_blocks.2.0.in_layers.2.weight"},
        {"up_blocks.1.attentions.1.proj_out.weight", "model.diffusion_model.output_blocks.3.1.proj_out.weight"},
    };
    check_pairs(&k, tiny, sizeof tiny / sizeof *tiny);
    evk_weight_ref ref;
    assert_int_equal(evk_sd_keys_map(&k, "mid_block.attentions.0.norm.weight", &ref), EVK_ERROR_FORMAT);
    TEST_OK(evk_unet_config_parse("{\"layers_per_block\": [2, 2, 1, 2]}", "x", &u));
    assert_int_equal(evk_sd_keys_unet(&u, &k), EVK_ERROR_UNSUPPORTED);

    evk_vae_config v;
    TEST_OK(evk_vae_config_load(cfg("sd15/vae_config.json", p, sizeof p), &v));
    TEST_OK(evk_sd_keys_vae(&v, &k));
    static const pair vae[] = {
        {"decoder.conv_in.weight", "first_stage_model.decoder.conv_in.weight"},
        {"decoder.up_blocks.0.resnets.0.conv1.weight", "first_stage_model.decoder.up.3.block.0.conv1.weight"},
        {"decoder.up_blocks.0.upsamplers.0.conv.weight", "first_stage_model.decoder.up.3.upsample.conv.weight"},
        {"decoder.up_blocks.2.resnets.0.conv_shortcut.weight", "first_stage_model.decoder.up.1.block.0.nin_shortcut.weight"},
        {"decoder.up_blocks.3.resnets.2.norm2.bias", "first_stage_model.decoder.up.0.block.2.norm2.bias"},
        {"decoder.mid_block.resnets.0.norm1.weight", "first_stage_model.decoder.mid.block_1.norm1.weight"},
        {"decoder.mid_block.resnets.1.conv2.weight", "first_stage_model.decoder.mid.block_2.conv2.weight"},
        {"decoder.mid_block.attentions.0.group_norm.bias", "first_stage_model.decoder.mid.attn_1.norm.bias"},
        {"decoder.mid_block.attentions.0.to_q.weight", "first_stage_model.decoder.mid.attn_1.q.weight"},
        {"decoder.mid_block.attentions.0.to_v.bias", "first_stage_model.decoder.mid.attn_1.v.bias"},
        {"decoder.mid_block.attentions.0.to_out.0.weight", "first_stage_model.decoder.mid.attn_1.proj_out.weight"},
        {"decoder.conv_norm_out.weight", "first_stage_model.decoder.norm_out.weight"},
        {"decoder.conv_out.bias", "first_stage_model.decoder.conv_out.bias"},
        {"post_quant_conv.weight", "first_stage_model.post_quant_conv.weight"},
        {"quant_conv.bias", "first_stage_model.quant_conv.bias"},
        {"encoder.down_blocks.0.downsamplers.0.conv.weight", "first_stage_model.encoder.down.0.downsample.conv.weight"},
        {"encoder.down_blocks.1.resnets.0.conv_shortcut.bias", "first_stage_model.encoder.down.1.block.0.nin_shortcut.bias"},
        {"encoder.conv_norm_out.weight", "first_stage_model.encoder.norm_out.weight"},
    };
    check_pairs(&k, vae, sizeof vae / sizeof *vae);
    TEST_OK(evk_sd_keys_map(&k, "decoder.mid_block.attentions.0.to_k.weight", &ref));
    assert_true(ref.squeeze);
    TEST_OK(evk_sd_keys_map(&k, "decoder.mid_block.attentions.0.group_norm.weight", &ref));
    assert_false(ref.squeeze);
    assert_int_equal(evk_sd_keys_map(&k, "decoder.up_blocks.3.upsamplers.0.conv.weight", &ref), EVK_ERROR_FORMAT);

    evk_sd_keys text = {.part = EVK_SD_PART_TEXT_CLIP};
    strcpy(text.clip_prefix, "cond_stage_model.transformer.text_model.");
    static const pair clip[] = {
        {"text_model.encoder.layers.11.mlp.fc2.weight", "cond_stage_model.transformer.text_model.encoder.layers.11.mlp.fc2.weight"},
        {"text_model.embeddings.token_embedding.weight", "cond_stage_model.transformer.text_model.embeddings.token_embedding.weight"},
        {"text_model.final_layer_norm.bias", "cond_stage_model.transformer.text_model.final_layer_norm.bias"},
    };
    check_pairs(&text, clip, 3);
    evk_sd_keys oc = {.part = EVK_SD_PART_TEXT_OPENCLIP};
    static const pair open_clip[] = {
        {"text_model.embeddings.token_embedding.weight", "cond_stage_model.model.token_embedding.weight"},
        {"text_model.embeddings.position_embedding.weight", "cond_stage_model.model.positional_embedding"},
        {"text_model.final_layer_norm.weight", "cond_stage_model.model.ln_final.weight"},
        {"text_model.encoder.layers.22.mlp.fc1.weight", "cond_stage_model.model.transformer.resblocks.22.mlp.c_fc.weight"},
        {"text_model.encoder.layers.0.mlp.fc2.bias", "cond_stage_model.model.transformer.resblocks.0.mlp.c_proj.bias"},
        {"text_model.encoder.layers.3.layer_norm1.weight", "cond_stage_model.model.transformer.resblocks.3.ln_1.weight"},
        {"text_model.encoder.layers.3.layer_norm2.bias", "cond_stage_model.model.transformer.resblocks.3.ln_2.bias"},
        {"text_model.encoder.layers.7.self_attn.out_proj.weight", "cond_stage_model.model.transformer.resblocks.7.attn.out_proj.weight"},
        {"text_model.encoder.layers.7.self_attn.q_proj.weight", "cond_stage_model.model.transformer.resblocks.7.attn.in_proj_weight"},
        {"text_model.encoder.layers.7.self_attn.v_proj.bias", "cond_stage_model.model.transformer.resblocks.7.attn.in_proj_bias"},
    };
    check_pairs(&oc, open_clip, sizeof open_clip / sizeof *open_clip);
    TEST_OK(evk_sd_keys_map(&oc, "text_model.encoder.layers.7.self_attn.k_proj.weight", &ref));
    assert_int_equal(ref.split_parts, 3);
    assert_int_equal(ref.split_index, 1);
    TEST_OK(evk_sd_keys_map(&oc, "text_model.encoder.layers.7.self_attn.v_proj.bias", &ref));
    assert_int_equal(ref.split_index, 2);
    assert_int_equal(evk_sd_keys_map(&oc, "text_model.encoder.layers.7.self_attn.q_proj.scale", &ref), EVK_ERROR_FORMAT);
    assert_int_equal(evk_sd_keys_map(&oc, "vision_model.embeddings.patch_embedding.weight", &ref), EVK_ERROR_FORMAT);
}

/* The shipped tiny text-to-image model (assets/tiny-sd), when present: its configs parse, its
 * weights validate and hold the tensors the configs imply, its tokenizer loads. */
static void test_shipped_tiny_sd(void **state) {
    (void)state;
    const char *src = getenv("EVOKE_SOURCE_DIR");
    char root[512], p[600];
    snprintf(root, sizeof root, "%s/assets/tiny-sd", src ? src : ".");
    snprintf(p, sizeof p, "%s/model_index.json", root);
    FILE *f = fopen(p, "r");
    if (!f) {
        skip();
        return;
    }
    fclose(f);
    evk_model_index mi;
    TEST_OK(evk_model_index_load(p, &mi));
    assert_string_equal(evk_model_index_class(&mi, "unet"), "UNet2DConditionModel");
    evk_unet_config u;
    snprintf(p, sizeof p, "%s/unet/config.json", root);
    TEST_OK(evk_unet_config_load(p, &u));
    evk_clip_text_config t;
    snprintf(p, sizeof p, "%s/text_encoder/config.json", root);
    TEST_OK(evk_clip_text_config_load(p, &t));
    evk_scheduler_config sc;
    snprintf(p, sizeof p, "%s/scheduler/scheduler_config.json", root);
    TEST_OK(evk_scheduler_config_load(p, &sc));
    evk_tokenizer *tok;
    snprintf(p, sizeof p, "%s/tokenizer", root);
    TEST_OK(evk_tokenizer_load(p, &tok));
    assert_int_equal(evk_tokenizer_vocab_size(tok), t.vocab_size);
    assert_int_equal(evk_tokenizer_eos(tok), t.eos_token_id);
    evk_tokenizer_destroy(tok);
    evk_weights *ws;
    snprintf(p, sizeof p, "%s/unet", root);
    TEST_OK(evk_weights_open(NULL, p, &ws));
    int nd;
    int64_t shape[EVK_ST_MAX_DIMS];
    TEST_OK(evk_weights_shape(ws, "conv_in.weight", &nd, shape));
    assert_int_equal(nd, 4);
    assert_int_equal(shape[0], u.block_out_channels[0]);
    assert_int_equal(shape[1], u.in_channels);
    TEST_OK(evk_weights_shape(ws, "conv_out.weight", &nd, shape));
    assert_int_equal(shape[0], u.out_channels);
    for (int b = 0; b < u.num_blocks; b++) {
        char name[128];
        snprintf(name, sizeof name, "down_blocks.%d.attentions.0.proj_in.weight", b);
        assert_int_equal(evk_weights_has(ws, name), u.down_block_types[b] == EVK_UNET_CROSS_ATTN_DOWN_BLOCK);
        snprintf(name, sizeof name, "up_blocks.%d.resnets.%d.conv1.weight", b, u.layers_per_block[b]);
        assert_true(evk_weights_has(ws, name)); /* up blocks have one more layer */
    }
    evk_weights_close(ws);
    snprintf(p, sizeof p, "%s/text_encoder", root);
    TEST_OK(evk_weights_open(NULL, p, &ws));
    TEST_OK(evk_weights_shape(ws, "text_model.embeddings.token_embedding.weight", &nd, shape));
    assert_int_equal(shape[0], t.vocab_size);
    assert_int_equal(shape[1], t.hidden_size);
    evk_weights_close(ws);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_model_index),       cmocka_unit_test(test_unet_configs),
        cmocka_unit_test(test_unet_rejections),   cmocka_unit_test(test_vae_and_text_configs),
        cmocka_unit_test(test_preprocess_and_scheduler), cmocka_unit_test(test_tokenizer_configs),
        cmocka_unit_test(test_sd_keys),           cmocka_unit_test(test_shipped_tiny_sd),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
