/* test_sd_builtin.c — single-file checkpoints without a config folder: which Stable Diffusion a
 * file holds, told from synthetic tensor lists written as small safetensors files (real SD
 * checkpoints are gigabytes: only the names and the cross-attention width matter), and the
 * built-in SD 1.5 / 2.1 configs checked against the diffusers values they stand for. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "formats/weights.h"
#include "models/sd/sd_builtin.h"

#define XATTN_K "model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight"

typedef struct synth_tensor { const char *name; int64_t rows, cols; } synth_tensor;

/* A safetensors file of f32 zero tensors [rows, cols] (cols 0: 1-D) with these names. */
static void write_synthetic(const char *path, const synth_tensor *t, int n) {
    char header[4096] = "{";
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        size_t bytes = (size_t)(t[i].rows * (t[i].cols ? t[i].cols : 1)) * 4;
        char e[512];
        if (t[i].cols)
            snprintf(e, sizeof e, "%s\"%s\":{\"dtype\":\"F32\",\"shape\":[%lld,%lld],\"data_offsets\":[%zu,%zu]}", i ? "," : "", t[i].name,
                     (long long)t[i].rows, (long long)t[i].cols, off, off + bytes);
        else
            snprintf(e, sizeof e, "%s\"%s\":{\"dtype\":\"F32\",\"shape\":[%lld],\"data_offsets\":[%zu,%zu]}", i ? "," : "", t[i].name,
                     (long long)t[i].rows, off, off + bytes);
        strcat(header, e);
        off += bytes;
    }
    strcat(header, "}");
    size_t hl = strlen(header);
    while (hl % 8) header[hl++] = ' ';
    header[hl] = 0;
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    uint64_t len = hl;
    fwrite(&len, 8, 1, f);
    fwrite(header, 1, hl, f);
    for (size_t i = 0; i < off; i++) fputc(0, f);
    fclose(f);
}

/* Detect the version of a synthetic file; returns the status, *v the version. */
static evk_status detect(evk_context *ctx, const synth_tensor *t, int n, evk_sd_version *v) {
    char path[] = "/tmp/evoke-detect-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    write_synthetic(path, t, n);
    evk_weights *ws;
    TEST_OK(evk_weights_open(ctx, path, &ws));
    evk_status s = evk_sd_detect_version(ws, "synthetic.safetensors", v);
    evk_weights_close(ws);
    remove(path);
    return s;
}

static void test_detect_versions(void **state) {
    evk_context *ctx = *state;
    evk_sd_version v;
    /* SD 1.x: transformers CLIP text encoder, 768-wide context */
    const synth_tensor sd1[] = {{"model.diffusion_model.input_blocks.0.0.weight", 4, 9},
                                {XATTN_K, 4, 768},
                                {"cond_stage_model.transformer.text_model.embeddings.token_embedding.weight", 3, 2},
                                {"first_stage_model.decoder.conv_in.bias", 8, 0}};
    TEST_OK(detect(ctx, sd1, 4, &v));
    assert_int_equal(v, EVK_SD_VERSION_1);
    /* SD 2.x: OpenCLIP text encoder, 1024-wide context */
    const synth_tensor sd2[] = {{"model.diffusion_model.input_blocks.0.0.weight", 4, 9},
                                {XATTN_K, 4, 1024},
                                {"cond_stage_model.model.token_embedding.weight", 3, 2}};
    TEST_OK(detect(ctx, sd2, 3, &v));
    assert_int_equal(v, EVK_SD_VERSION_2);
    /* the UNet alone decides when the text encoder is absent; the text encoder alone likewise */
    const synth_tensor unet_only[] = {{XATTN_K, 2, 1024}};
    TEST_OK(detect(ctx, unet_only, 1, &v));
    assert_int_equal(v, EVK_SD_VERSION_2);
    const synth_tensor text_only[] = {{"model.diffusion_model.out.2.bias", 4, 0},
                                      {"cond_stage_model.transformer.text_model.final_layer_norm.bias", 4, 0}};
    TEST_OK(detect(ctx, text_only, 2, &v));
    assert_int_equal(v, EVK_SD_VERSION_1);
    /* disagreement, SDXL, and nothing to go by: errors that say what to do */
    const synth_tensor mixed[] = {{XATTN_K, 4, 1024}, {"cond_stage_model.transformer.text_model.final_layer_norm.bias", 4, 0}};
    assert_int_equal(detect(ctx, mixed, 2, &v), EVK_ERROR_FORMAT);
    assert_non_null(strstr(evk_error_message(), "--config"));
    assert_int_equal(v, EVK_SD_VERSION_UNKNOWN);
    const synth_tensor xl[] = {{XATTN_K, 4, 2048}, {"conditioner.embedders.0.transformer.text_model.final_layer_norm.bias", 4, 0}};
    assert_int_equal(detect(ctx, xl, 2, &v), EVK_ERROR_UNSUPPORTED);
    assert_non_null(strstr(evk_error_message(), "SDXL"));
    const synth_tensor none[] = {{"model.diffusion_model.out.2.bias", 4, 0}, {XATTN_K, 4, 512}};
    assert_int_equal(detect(ctx, none, 2, &v), EVK_ERROR_FORMAT);
    assert_non_null(strstr(evk_error_message(), "cannot tell"));
}

static void test_builtin_configs(void **state) {
    (void)state;
    evk_sd_builtin b1, b2;
    TEST_OK(evk_sd_builtin_configs(EVK_SD_VERSION_1, &b1));
    TEST_OK(evk_sd_builtin_configs(EVK_SD_VERSION_2, &b2));
    /* SD 1.5: 8 heads at every level (160 wide at 1280 channels), 768-wide context, ε, 512² */
    assert_int_equal(b1.unet.cross_attention_dim[0], 768);
    for (int i = 0; i < 3; i++) assert_int_equal(b1.unet.num_attention_heads[i], 8);
    assert_int_equal(b1.unet.block_out_channels[3], 1280);
    assert_int_equal(b1.unet.sample_size, 64);
    assert_false(b1.unet.use_linear_projection);
    assert_int_equal(b1.text.hidden_size, 768);
    assert_int_equal(b1.text.num_hidden_layers, 12);
    assert_int_equal(b1.scheduler.prediction_type, EVK_OUTPUT_EPS);
    assert_int_equal(b1.scheduler.steps_offset, 1);
    assert_false(b1.scheduler.set_alpha_to_one);
    assert_string_equal(b1.tokenizer.pad.content, "<|endoftext|>");
    /* SD 2.1 (768-v): heads of 64, 1024-wide context, linear projections, v-prediction, 768² */
    assert_int_equal(b2.unet.cross_attention_dim[0], 1024);
    assert_int_equal(b2.unet.num_attention_heads[0], 5);
    assert_int_equal(b2.unet.num_attention_heads[2], 20);
    assert_true(b2.unet.use_linear_projection);
    assert_int_equal(b2.unet.sample_size, 96);
    assert_int_equal(b2.text.hidden_size, 1024);
    assert_int_equal(b2.text.num_hidden_layers, 23);
    assert_int_equal(b2.scheduler.prediction_type, EVK_OUTPUT_V);
    assert_string_equal(b2.tokenizer.pad.content, "!");
    for (int k = 0; k < 2; k++) {
        const evk_vae_config *vc = k ? &b2.vae : &b1.vae;
        assert_int_equal(vc->num_blocks, 4);
        assert_int_equal(vc->block_out_channels[3], 512);
        assert_true(vc->scaling_factor > 0.18214f && vc->scaling_factor < 0.18216f);
    }
    assert_int_equal(evk_sd_builtin_configs(EVK_SD_VERSION_UNKNOWN, &b1), EVK_ERROR_INVALID_ARGUMENT);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_detect_versions),
        cmocka_unit_test(test_builtin_configs),
    };
    return cmocka_run_group_tests(tests, test_group_setup, test_group_teardown);
}
