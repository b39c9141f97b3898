/* test_unet_gguf.c — a UNet from a quantised GGUF file (tests/data/nets/unet_gguf.gguf, made by
 * tools/ref/fixtures_unet_gguf.py the way stable-diffusion.cpp stores one: original
 * "model.diffusion_model." names, Q8_0 and Q4_K matrices, F16 convolution kernels, F32 biases and
 * norms) against PyTorch's output on the dequantised weights: read with the weights as stored
 * (quantised matrices stay quantised on the device and the dequantising matmul reads them), and
 * dequantised at load to f32 and to f16, with the device bytes of each; then the same file as the
 * --diffusion-model of a pipeline folder (the shipped tiny-sd's text encoder, tokenizer and
 * scheduler with this UNet's config), through the model interface, and a file that is no UNet
 * rejected with a message. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "formats/config.h"
#include "formats/weights.h"
#include "harness.h"
#include "models/model.h"
#include "models/sd/sd.h"
#include "models/sd/sd_keys.h"
#include "models/sd/unet.h"

static char gguf_path[600], config_path[600];

static int setup(void **state) {
    test_data_path("nets/unet_gguf.gguf", gguf_path, sizeof gguf_path);
    test_data_path("nets/unet_gguf.json", config_path, sizeof config_path);
    return test_group_setup(state);
}

typedef struct fixture {
    float *sample, *timestep, *ctx, *out;
    int64_t n_sample, n_ctx;
} fixture;

static float *read_tensor(evk_weights *ws, const char *name, int64_t *numel) {
    const evk_st_tensor *t = evk_weights_lookup(ws, name, NULL);
    if (!t) fail_msg("fixture tensor '%s' is absent", name);
    float *v = malloc((size_t)t->numel * sizeof *v);
    assert_non_null(v);
    TEST_OK(evk_weights_read_f32(ws, name, t->ndim, t->shape, v));
    if (numel) *numel = (int64_t)t->numel;
    return v;
}

static void fixture_load(fixture *f) {
    evk_weights *ws;
    TEST_OK(evk_weights_open(NULL, gguf_path, &ws));
    f->sample = read_tensor(ws, "fixture.sample", &f->n_sample);
    f->timestep = read_tensor(ws, "fixture.timestep", NULL);
    f->ctx = read_tensor(ws, "fixture.encoder_hidden_states", &f->n_ctx);
    f->out = read_tensor(ws, "fixture.out", NULL);
    evk_weights_close(ws);
}

static void fixture_free(fixture *f) { free(f->sample), free(f->timestep), free(f->ctx), free(f->out); }

static double rel_err(const float *got, const float *want, int64_t n) {
    double *ref = malloc(sizeof(double) * (size_t)n);
    for (int64_t i = 0; i < n; i++) ref[i] = want[i];
    double e = test_rel_l2(got, ref, (size_t)n);
    free(ref);
    return e;
}

/* One UNet forward on the fixture's inputs; returns the relative L2 error and the device bytes
 * the loaded weights took. */
static double run_unet(evk_context *ctx, const fixture *f, evk_dtype storage, uint64_t *weight_bytes) {
    evk_unet_config cfg;
    TEST_OK(evk_unet_config_load(config_path, &cfg));
    evk_weights *ws;
    TEST_OK(evk_weights_open(ctx, gguf_path, &ws));
    evk_sd_keys keys;
    TEST_OK(evk_sd_keys_unet(&cfg, &keys));
    evk_weights_use_sd_keys(ws, &keys);
    evk_memory_stats m0, m1;
    evk_memory_get_stats(ctx, &m0);
    evk_unet *u;
    TEST_OK(evk_unet_load(ctx, &cfg, ws, storage, &u));
    evk_memory_get_stats(ctx, &m1);
    *weight_bytes = m1.in_use - m0.in_use;
    /* every UNet tensor of the file is read */
    const char *unused[4];
    size_t nu = evk_weights_unused(ws, unused, 4);
    if (nu) fail_msg("%zu UNet tensors never read, e.g. %s", nu, unused[0]);
    const int64_t B = 2, xs[4] = {B, 3, 8, 8}, cs[3] = {B, 8, 64};
    evk_tensor x, t, c, y;
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 4, xs, &x));
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 1, &B, &t));
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 3, cs, &c));
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 4, xs, &y));
    TEST_OK(evk_tensor_upload_f32(ctx, &x, f->sample));
    TEST_OK(evk_tensor_upload_f32(ctx, &t, f->timestep));
    TEST_OK(evk_tensor_upload_f32(ctx, &c, f->ctx));
    test_poison(ctx, &y.buf);
    evk_stream *s;
    TEST_OK(evk_stream_create(ctx, &s));
    TEST_OK(evk_stream_begin(s));
    TEST_OK(evk_unet_forward(u, s, &x, &t, &c, &y));
    TEST_OK(evk_stream_run(s));
    float *got = malloc(sizeof(float) * (size_t)f->n_sample);
    TEST_OK(evk_tensor_download_f32(ctx, &y, got));
    double e = rel_err(got, f->out, f->n_sample);
    free(got);
    evk_stream_destroy(s);
    evk_tensor *all[] = {&x, &t, &c, &y};
    for (int i = 0; i < 4; i++) evk_tensor_free(ctx, all[i]);
    evk_unet_destroy(u);
    evk_weights_close(ws);
    test_assert_no_validation(ctx);
    return e;
}

static void test_unet_as_stored(void **state) {
    evk_context *ctx = *state;
    fixture f;
    fixture_load(&f);
    uint64_t bq, b16, b32;
    double eq = run_unet(ctx, &f, EVK_DTYPE_QUANT, &bq);
    double e32 = run_unet(ctx, &f, EVK_DTYPE_F32, &b32);
    double e16 = run_unet(ctx, &f, EVK_DTYPE_F16, &b16);
    printf("  weights as stored (Q8_0/Q4_K matrices, F16 kernels): %llu device bytes, relative error %.3g\n",
           (unsigned long long)bq, eq);
    printf("  dequantised to f32: %llu bytes, error %.3g; to f16: %llu bytes, error %.3g\n", (unsigned long long)b32, e32,
           (unsigned long long)b16, e16);
    if (!(eq <= 1e-3)) fail_msg("quantised UNet: relative L2 error %.3g > 1e-3", eq);
    /* the same numbers as the f32 weights: every value is exact in both, only summation order differs */
    if (!(eq <= 1e-5)) fail_msg("quantised UNet: relative L2 error %.3g > 1e-5 (f32 dequantised: %.3g)", eq, e32);
    if (!(e32 <= 1e-5)) fail_msg("dequantised f32 UNet: relative L2 error %.3g > 1e-5", e32);
    if (!(e16 <= 5e-3)) fail_msg("dequantised f16 UNet: relative L2 error %.3g > 5e-3", e16);
    /* the quantised matrices take about a quarter (Q8_0) / an eighth (Q4_K) of f32 */
    if (!(bq < b16 && b16 < b32)) fail_msg("device bytes: as stored %llu, f16 %llu, f32 %llu", (unsigned long long)bq,
                                           (unsigned long long)b16, (unsigned long long)b32);
    fixture_free(&f);
}

/* A pipeline folder (the shipped tiny-sd's text encoder, tokenizer and scheduler) whose unet/
 * holds only this UNet's config: the weights must come from --diffusion-model. */
static void make_pipeline(char *dir) {
    const char *src = getenv("EVOKE_SOURCE_DIR");
    char path[800], target[800];
    assert_non_null(mkdtemp(dir));
    const char *links[] = {"model_index.json", "text_encoder", "tokenizer", "scheduler"};
    for (int i = 0; i < 4; i++) {
        snprintf(target, sizeof target, "%s/assets/tiny-sd/%s", src ? src : ".", links[i]);
        snprintf(path, sizeof path, "%s/%s", dir, links[i]);
        assert_int_equal(symlink(target, path), 0);
    }
    snprintf(path, sizeof path, "%s/unet", dir);
    assert_int_equal(mkdir(path, 0755), 0);
    snprintf(path, sizeof path, "%s/unet/config.json", dir);
    FILE *in = fopen(config_path, "rb"), *out = fopen(path, "wb");
    assert_non_null(in);
    assert_non_null(out);
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0) fwrite(buf, 1, n, out);
    fclose(in);
    fclose(out);
}

static void remove_pipeline(const char *dir) {
    const char *names[] = {"model_index.json", "text_encoder", "tokenizer", "scheduler", "unet/config.json", "unet"};
    char path[800];
    for (int i = 0; i < 6; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        remove(path);
    }
    remove(dir);
}

static void test_diffusion_model_option(void **state) {
    evk_context *ctx = *state;
    fixture f;
    fixture_load(&f);
    char dir[] = "/tmp/evoke-gguf-XXXXXX";
    make_pipeline(dir);
    /* without the option the folder has no UNet weights */
    evk_sd *sd = NULL;
    assert_int_not_equal(evk_sd_load(ctx, dir, NULL, &sd), EVK_OK);
    evk_model_options opt = {.diffusion_model = gguf_path};
    TEST_OK(evk_sd_load(ctx, dir, &opt, &sd));
    evk_model *m = evk_sd_model(sd);
    const int64_t B = 2, n = evk_model_sample_numel(m);
    assert_int_equal(B * n, f.n_sample);
    evk_tensor x, t, c, y, one;
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 2, (int64_t[]){B, n}, &x));
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 1, &B, &t));
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 1, &B, &one));
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 3, (int64_t[]){B, 8, 64}, &c));
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 2, (int64_t[]){B, n}, &y));
    const float ones[2] = {1, 1};
    TEST_OK(evk_tensor_upload_f32(ctx, &x, f.sample));
    TEST_OK(evk_tensor_upload_f32(ctx, &t, f.timestep));
    TEST_OK(evk_tensor_upload_f32(ctx, &one, ones));
    TEST_OK(evk_tensor_upload_f32(ctx, &c, f.ctx));
    test_poison(ctx, &y.buf);
    evk_stream *s;
    TEST_OK(evk_stream_create(ctx, &s));
    TEST_OK(evk_stream_begin(s));
    evk_model_input in = {.x = &x, .timestep = &t, .alpha = &one, .sigma = &one, .cond = &c};
    TEST_OK(evk_model_forward(m, s, &in, &y));
    TEST_OK(evk_stream_run(s));
    float *got = malloc(sizeof(float) * (size_t)f.n_sample);
    TEST_OK(evk_tensor_download_f32(ctx, &y, got));
    double e = rel_err(got, f.out, f.n_sample);
    printf("  --diffusion-model %s: relative error %.3g\n", "unet_gguf.gguf", e);
    if (!(e <= 1e-5)) fail_msg("sd model with a GGUF UNet: relative L2 error %.3g > 1e-5", e);
    free(got);
    evk_stream_destroy(s);
    evk_tensor *all[] = {&x, &t, &c, &y, &one};
    for (int i = 0; i < 5; i++) evk_tensor_free(ctx, all[i]);
    evk_sd_destroy(sd);
    /* a GGUF that holds no UNet: an error naming the file */
    char other[600];
    test_data_path("gguf/q8_0.gguf", other, sizeof other);
    opt.diffusion_model = other;
    sd = NULL;
    assert_int_not_equal(evk_sd_load(ctx, dir, &opt, &sd), EVK_OK);
    assert_null(sd);
    assert_non_null(strstr(evk_error_message(), "q8_0.gguf"));
    printf("  not a UNet: %s\n", evk_error_message());
    remove_pipeline(dir);
    fixture_free(&f);
    test_assert_no_validation(ctx);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unet_as_stored),
        cmocka_unit_test(test_diffusion_model_option),
    };
    return cmocka_run_group_tests(tests, setup, test_group_teardown);
}
