/* test_registry.c — the model registry and the model interface a program drives: evk_model_load
 * picks the family by probing (the mixture's JSON, the shipped diffusers folder, a single-file
 * checkpoint's header), refuses missing paths and files no family knows with the documented
 * messages, and the interface calls (prompt encoding, default sampler, image size, decoding from
 * the host) give what the family's own calls and an independent reference give. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "models/gmm/gmm.h"
#include "models/model.h"
#include "models/mmdit/sd3.h"
#include "models/sd/sd.h"
#include "models/video/modelscope.h"
#include "samplers/sampler.h"

static const char *asset(const char *name, char *buf, size_t n) {
    const char *src = getenv("EVOKE_SOURCE_DIR");
    snprintf(buf, n, "%s/assets/%s", src ? src : ".", name);
    return buf;
}

static bool exists(const char *path) { return access(path, F_OK) == 0; }

/* A minimal safetensors file with one f32 scalar tensor of the given name. */
static void write_safetensors(const char *path, const char *tensor) {
    char header[256];
    int n = snprintf(header, sizeof header, "{\"%s\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}", tensor);
    while (n % 8) header[n++] = ' '; /* the format pads the header with spaces */
    uint64_t len = (uint64_t)n;
    float v = 1.5f;
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(&len, 8, 1, f), 1);
    assert_int_equal(fwrite(header, 1, (size_t)n, f), (size_t)n);
    assert_int_equal(fwrite(&v, 4, 1, f), 1);
    fclose(f);
}

static void test_families_and_probes(void **state) {
    (void)state;
    size_t n;
    const evk_model_family *f = evk_model_families(&n);
    assert_int_equal(n, 5);
    assert_string_equal(f[0].name, "gmm");
    assert_string_equal(f[1].name, "sd3"); /* before "sd", which takes any diffusers folder */
    assert_string_equal(f[2].name, "modelscope");
    assert_string_equal(f[3].name, "vc2");
    assert_string_equal(f[4].name, "sd");
    char gmm[512], sd[512], reward[512];
    asset("gmm/toy2d.json", gmm, sizeof gmm);
    asset("tiny-sd", sd, sizeof sd);
    asset("gmm/toy2d_reward.json", reward, sizeof reward);
    assert_true(evk_gmm_probe(gmm));
    assert_false(evk_sd_probe(gmm));
    assert_false(evk_gmm_probe(reward)); /* JSON, but not a mixture */
    assert_false(evk_sd_probe(reward));
    if (exists(sd)) {
        assert_true(evk_sd_probe(sd));
        assert_false(evk_gmm_probe(sd));
        assert_false(evk_sd3_probe(sd)); /* a UNet pipeline is not SD3 */
        assert_false(evk_modelscope_probe(sd));
    }
    char sd3[512];
    assert_true(evk_sd3_probe(test_data_path("nets/sd3", sd3, sizeof sd3)));
    assert_false(evk_sd3_probe(gmm));
    /* a text-to-video folder (a 3-D UNet) is the modelscope family's, not sd's */
    char video[512];
    test_data_path("nets/modelscope", video, sizeof video);
    assert_true(evk_modelscope_probe(video));
    assert_false(evk_sd_probe(video));
    assert_false(evk_sd3_probe(video));
    assert_false(evk_modelscope_probe(gmm));
    /* single files: the header decides, not the name */
    char unet[] = "/tmp/evoke-registry-XXXXXX";
    int fd = mkstemp(unet);
    assert_true(fd >= 0);
    close(fd);
    write_safetensors(unet, "model.diffusion_model.input_blocks.0.0.weight");
    assert_true(evk_sd_probe(unet));
    assert_false(evk_gmm_probe(unet));
    write_safetensors(unet, "text_model.embeddings.position_ids");
    assert_false(evk_sd_probe(unet));
    remove(unet);
}

static void test_load_errors(void **state) {
    evk_context *ctx = *state;
    evk_model *m = (evk_model *)1;
    assert_int_equal(evk_model_load(ctx, "/nonexistent/evoke-model", NULL, &m), EVK_ERROR_INVALID_ARGUMENT);
    assert_null(m);
    assert_string_equal(evk_error_message(), "no such file or directory: /nonexistent/evoke-model");
    char reward[512], want[700];
    asset("gmm/toy2d_reward.json", reward, sizeof reward);
    assert_int_equal(evk_model_load(ctx, reward, NULL, &m), EVK_ERROR_FORMAT);
    snprintf(want, sizeof want, "%s is not a model evoke knows (families: gmm, sd3, modelscope, vc2, sd)", reward);
    assert_string_equal(evk_error_message(), want);
    /* a folder without model_index.json */
    assert_int_equal(evk_model_load(ctx, "/tmp", NULL, &m), EVK_ERROR_FORMAT);
    assert_non_null(strstr(evk_error_message(), "is not a model evoke knows"));
    /* a mixture refuses the image options instead of ignoring them */
    char gmm[512];
    asset("gmm/toy2d.json", gmm, sizeof gmm);
    evk_model_options o = {.width = 64};
    assert_int_equal(evk_model_load(ctx, gmm, &o, &m), EVK_ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(evk_error_message(), "image options"));
    assert_null(m);
}

static void test_gmm_interface(void **state) {
    evk_context *ctx = *state;
    char gmm[512];
    asset("gmm/toy2d.json", gmm, sizeof gmm);
    evk_model *m;
    TEST_OK(evk_model_load(ctx, gmm, NULL, &m));
    assert_string_equal(evk_model_get_info(m)->family, "gmm");
    assert_non_null(evk_model_gmm_desc(m));
    assert_false(evk_model_takes_prompt(m));
    uint32_t w = 1, h = 1;
    assert_false(evk_model_image_size(m, &w, &h));
    assert_int_equal(w, 0);
    assert_int_equal(h, 0);
    evk_tensor t;
    assert_int_equal(evk_model_encode_prompt(m, "a red circle", &t, NULL), EVK_ERROR_INVALID_ARGUMENT);
    assert_null(t.buf.block);
    /* the sampler the toy experiments use: DDIM η = 1 on trailing timesteps */
    evk_sampler_config c;
    TEST_OK(evk_model_sampler_config(m, 50, &c));
    assert_int_equal(c.kind, EVK_SAMPLER_DDIM);
    assert_int_equal(c.schedule, evk_model_get_info(m)->schedule);
    assert_int_equal(c.prediction, evk_model_get_info(m)->prediction);
    assert_int_equal(c.steps, 50);
    assert_true(c.eta == 1.0);
    assert_int_equal(c.spacing, EVK_SPACING_TRAILING);
    evk_sampler *s;
    TEST_OK(evk_sampler_create(&c, &s));
    evk_sampler_destroy(s);
    /* without a decoder, decoding from the host is the samples themselves */
    float x[6] = {0.25f, -3.5f, 7.0f, 1e-3f, -0.5f, 2.0f}, y[6];
    TEST_OK(evk_model_decode_host(m, x, 3, y));
    assert_memory_equal(x, y, sizeof x);
    evk_model_destroy(m);
}

static void test_sd_interface(void **state) {
    evk_context *ctx = *state;
    char dir[512];
    asset("tiny-sd", dir, sizeof dir);
    char index[600];
    snprintf(index, sizeof index, "%s/model_index.json", dir);
    if (!exists(index)) skip();
    evk_model *m;
    TEST_OK(evk_model_load(ctx, dir, NULL, &m));
    const evk_model_info *mi = evk_model_get_info(m);
    assert_string_equal(mi->family, "sd");
    assert_true(evk_model_takes_prompt(m));
    uint32_t w, h;
    assert_true(evk_model_image_size(m, &w, &h));
    assert_int_equal(w, 32);
    assert_int_equal(h, 32);
    assert_int_equal(mi->sample_ndim, 3);
    assert_int_equal(evk_model_decoded_numel(m), 3 * 32 * 32);

    /* the interface gives what the family's own calls give */
    evk_sd *sd;
    TEST_OK(evk_sd_load(ctx, dir, NULL, &sd));
    evk_tensor a, b;
    bool truncated = true;
    TEST_OK(evk_model_encode_prompt(m, "a red circle left of a blue square", &a, &truncated));
    assert_false(truncated);
    TEST_OK(evk_sd_encode_prompt(sd, "a red circle left of a blue square", &b, NULL));
    int64_t n = evk_tensor_numel(&a);
    assert_int_equal(n, evk_tensor_numel(&b));
    float *ha = malloc(sizeof(float) * (size_t)n), *hb = malloc(sizeof(float) * (size_t)n);
    TEST_OK(evk_tensor_download_f32(ctx, &a, ha));
    TEST_OK(evk_tensor_download_f32(ctx, &b, hb));
    assert_memory_equal(ha, hb, sizeof(float) * (size_t)n);
    free(ha), free(hb);
    evk_tensor_free(ctx, &a);
    evk_tensor_free(ctx, &b);
    evk_sampler_config got, want;
    TEST_OK(evk_model_sampler_config(m, 8, &got));
    TEST_OK(evk_sd_sampler_config(sd, EVK_SAMPLER_DDIM, 8, 1.0, &want));
    assert_int_equal(got.kind, want.kind);
    assert_int_equal(got.prediction, want.prediction);
    assert_int_equal(got.spacing, want.spacing);
    assert_int_equal(got.steps_offset, want.steps_offset);
    assert_int_equal(got.set_alpha_to_one, want.set_alpha_to_one);
    assert_int_equal(got.beta_schedule, want.beta_schedule);
    assert_true(got.eta == 1.0 && got.beta_start == want.beta_start && got.beta_end == want.beta_end && got.steps == 8);
    evk_sd_destroy(sd);

    /* decoding from the host: a pixel model's postprocess clamp(x / 2 + 0.5, 0, 1), in double */
    int64_t sn = evk_model_sample_numel(m);
    float *x = malloc(sizeof(float) * (size_t)(2 * sn)), *img = malloc(sizeof(float) * (size_t)(2 * sn));
    double *ref = malloc(sizeof(double) * (size_t)(2 * sn));
    test_rng rng = {11};
    test_rng_fill(&rng, x, (size_t)(2 * sn), -1.6f, 1.6f);
    for (int64_t i = 0; i < 2 * sn; i++) ref[i] = fmin(1.0, fmax(0.0, 0.5 * x[i] + 0.5));
    TEST_OK(evk_model_decode_host(m, x, 2, img));
    for (int64_t i = 0; i < 2 * sn; i++) assert_true(fabs(img[i] - ref[i]) <= 1e-6);
    free(x), free(img), free(ref);

    /* a released prompt encoder gives its memory back and refuses further prompts by name; the
     * rest of the model keeps working */
    evk_memory_stats before, after;
    evk_memory_get_stats(ctx, &before);
    evk_model_release_prompt_encoder(m);
    evk_memory_get_stats(ctx, &after);
    assert_true(after.in_use < before.in_use);
    evk_model_release_prompt_encoder(m); /* twice is harmless */
    assert_int_equal(evk_model_encode_prompt(m, "a red circle", &a, NULL), EVK_ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(evk_error_message(), "prompt encoder was released"));
    float one[3 * 32 * 32] = {0}, px[3 * 32 * 32];
    TEST_OK(evk_model_decode_host(m, one, 1, px));
    assert_true(px[0] == 0.5f);
    evk_model_destroy(m); /* frees the whole pipeline: no evk_sd to destroy */
}

static evk_status no_forward(void *impl, evk_stream *s, const evk_model_input *in, const evk_tensor *out) {
    (void)impl, (void)s, (void)in, (void)out;
    return EVK_OK;
}

static evk_status no_decode(void *impl, evk_stream *s, const evk_tensor *x0, const evk_tensor *out) {
    (void)impl, (void)s, (void)x0, (void)out;
    return EVK_OK;
}

static int destroyed;
static void count_destroy(void *impl) { (void)impl, destroyed++; }

/* A model that says it makes images must decode to RGB of that size; the family's state is
 * released on refusal as on success. */
static void test_image_models_decode(void **state) {
    evk_context *ctx = *state;
    evk_model_info info = {.family = "test", .sample_ndim = 1, .sample_shape = {12}, .image_width = 2, .image_height = 2};
    evk_model_ops none = {.forward = no_forward, .destroy = count_destroy};
    evk_model_ops wrong = {.forward = no_forward, .decode = no_decode, .destroy = count_destroy, .decoded_ndim = 1, .decoded_shape = {11}};
    evk_model *m = (evk_model *)1;
    int token;
    destroyed = 0;
    assert_int_equal(evk_model_create(ctx, &none, &info, &token, &m), EVK_ERROR_INVALID_ARGUMENT);
    assert_null(m);
    assert_int_equal(evk_model_create(ctx, &wrong, &info, &token, &m), EVK_ERROR_INVALID_ARGUMENT);
    assert_int_equal(destroyed, 2);
    wrong.decoded_shape[0] = 12;
    TEST_OK(evk_model_create(ctx, &wrong, &info, &token, &m));
    uint32_t w, h;
    assert_true(evk_model_image_size(m, &w, &h));
    assert_int_equal(w * h, 4);
    evk_model_destroy(m);
    assert_int_equal(destroyed, 3);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_families_and_probes),
        cmocka_unit_test(test_load_errors),
        cmocka_unit_test(test_gmm_interface),
        cmocka_unit_test(test_sd_interface),
        cmocka_unit_test(test_image_models_decode),
    };
    return cmocka_run_group_tests(tests, test_group_setup, test_group_teardown);
}
