/* test_modelscope.c — the ModelScope text-to-video family against diffusers v0.28.2 on the tiny
 * random-weight pipeline of tests/data/nets/modelscope (tools/ref/fixtures_modelscope.py):
 * UNet3DConditionModel on a batch of two 4-frame clips with per-clip timesteps and contexts (f32
 * and f16 weights, every checkpoint tensor read), its time_cond_proj form (T2V-Turbo's student)
 * with the guidance-scale embedding, the folder loaded through the registry as a model (the
 * prompt and the empty prompt encoded as TextToVideoSDPipeline does, the scheduler's DDIM with
 * η = 0 and guidance 7.5 step by step against the pipeline's latents, the frame-by-frame decode
 * against its video), and loader errors that name the tensor and file. */
#include "net_fixture.h"
#include "formats/config.h"
#include "models/model.h"
#include "models/video/modelscope.h"
#include "samplers/sampler.h"

#define FR 4
#define LAT 8

static const int64_t XS[5] = {2, 4, FR, LAT, LAT};

static void load_config(const char *unet_dir, evk_unet3d_config *cfg) {
    char rel[96], path[512];
    snprintf(rel, sizeof rel, "modelscope/%s/config.json", unet_dir);
    TEST_OK(evk_unet3d_config_load(fixture_path(rel, path, sizeof path), cfg));
}

static evk_weights *open_unet(evk_context *ctx, const char *unet_dir) {
    char rel[96], path[512];
    snprintf(rel, sizeof rel, "modelscope/%s/diffusion_pytorch_model.safetensors", unet_dir);
    evk_weights *ws = NULL;
    TEST_OK(evk_weights_open(ctx, fixture_path(rel, path, sizeof path), &ws));
    return ws;
}

/* One UNet call on the fixture's inputs; returns the relative L2 error. */
static double run_unet(evk_context *ctx, const char *unet_dir, evk_dtype storage) {
    evk_weights *fx = fixture_open(ctx, "modelscope/fixture"), *ws = open_unet(ctx, unet_dir);
    evk_unet3d_config cfg;
    load_config(unet_dir, &cfg);
    bool lcm = cfg.time_cond_proj_dim > 0;
    const int64_t ts[1] = {2}, cs[3] = {2, 77, 32}, ws2[2] = {2, 256};
    float *x = fixture_read(fx, "unet.sample", 5, XS), *t = fixture_read(fx, "unet.timestep", 1, ts),
          *cx = fixture_read(fx, "unet.context", 3, cs), *want = fixture_read(fx, lcm ? "lcm.out" : "unet.out", 5, XS),
          *wc = lcm ? fixture_read(fx, "lcm.timestep_cond", 2, ws2) : NULL;
    evk_ms_unet *u;
    TEST_OK(evk_ms_unet_load(ctx, &cfg, ws, storage, &u));
    fixture_assert_all_used(ws, unet_dir);
    evk_tensor tx = fixture_upload(ctx, x, 5, XS), tt = fixture_upload(ctx, t, 1, ts), tc = fixture_upload(ctx, cx, 3, cs),
               out = fixture_output(ctx, 5, XS), tw = {0};
    if (lcm) tw = fixture_upload(ctx, wc, 2, ws2);
    evk_stream *s;
    TEST_OK(evk_stream_create(ctx, &s));
    TEST_OK(evk_stream_begin(s));
    TEST_OK(evk_ms_unet_forward(u, s, &tx, &tt, &tc, lcm ? &tw : NULL, &out));
    TEST_OK(evk_stream_run(s));
    char what[96];
    snprintf(what, sizeof what, "%s (%s weights)", unet_dir, evk_dtype_name(storage));
    double e = fixture_error(ctx, &out, want, what);
    printf("  %-40s rel L2 %.3g\n", what, e);
    evk_stream_destroy(s);
    evk_tensor *all[] = {&tx, &tt, &tc, &out, &tw};
    for (int i = 0; i < 5; i++)
        if (all[i]->buf.block) evk_tensor_free(ctx, all[i]);
    evk_ms_unet_destroy(u);
    free(x), free(t), free(cx), free(want), free(wc);
    evk_weights_close(ws);
    evk_weights_close(fx);
    return e;
}

static void test_unet3d(void **state) {
    double e = run_unet(*state, "unet", EVK_DTYPE_F32);
    if (!(e <= 1e-4)) fail_msg("UNet3D f32: relative L2 error %.3g > 1e-4", e);
    e = run_unet(*state, "unet", EVK_DTYPE_F16);
    if (!(e <= 5e-3)) fail_msg("UNet3D f16 weights: relative L2 error %.3g > 5e-3", e);
}

static void test_unet3d_time_cond(void **state) {
    double e = run_unet(*state, "unet_lcm", EVK_DTYPE_F32);
    if (!(e <= 1e-4)) fail_msg("UNet3D with time_cond_proj f32: relative L2 error %.3g > 1e-4", e);
}

/* Expect evk_ms_unet_load to fail with a message containing `needle` and the file's name. */
static void expect_named_error(evk_context *ctx, evk_weights *ws, const evk_unet3d_config *cfg, const char *needle) {
    evk_ms_unet *u = NULL;
    evk_status st = evk_ms_unet_load(ctx, cfg, ws, EVK_DTYPE_F32, &u);
    if (st == EVK_OK) fail_msg("a damaged UNet3D (%s) loaded", needle);
    const char *msg = evk_error_message();
    if (!strstr(msg, needle) || !strstr(msg, "diffusion_pytorch_model.safetensors"))
        fail_msg("error does not name '%s' and the file: %s", needle, msg);
    assert_null(u);
}

static void test_unet3d_bad_weights(void **state) {
    evk_context *ctx = *state;
    evk_weights *ws = open_unet(ctx, "unet");
    evk_unet3d_config cfg;
    load_config("unet", &cfg);
    const char *deep = "up_blocks.1.temp_convs.1.conv4.3.weight";
    fixture_map m = {.from = {deep}, .to = {NULL}, .count = 1};
    evk_weights_set_map(ws, fixture_map_fn, &m, NULL);
    expect_named_error(ctx, ws, &cfg, deep);
    const char *ta = "mid_block.temp_attentions.0.transformer_blocks.0.attn2.to_k.weight";
    fixture_map m2 = {.from = {ta}, .to = {"mid_block.temp_attentions.0.transformer_blocks.0.ff.net.0.proj.weight"}, .count = 1};
    evk_weights_set_map(ws, fixture_map_fn, &m2, NULL);
    expect_named_error(ctx, ws, &cfg, ta);
    evk_weights_set_map(ws, NULL, NULL, NULL);
    /* a UNet without cond_proj read as one with it */
    cfg.time_cond_proj_dim = 256;
    expect_named_error(ctx, ws, &cfg, "time_embedding.cond_proj.weight");
    evk_weights_close(ws);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unet3d),
        cmocka_unit_test(test_unet3d_time_cond),
        cmocka_unit_test(test_unet3d_bad_weights),
    };
    return cmocka_run_group_tests(tests, test_group_setup, test_group_teardown);
}
