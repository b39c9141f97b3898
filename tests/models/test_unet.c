/* test_unet.c — UNet2DConditionModel against tools/ref/unet.py on the fixtures of
 * tests/data/nets: an SD 1.5-structured UNet (1×1-conv projections, heads as an int) and an SD
 * 2.1-structured one (linear projections, per-block heads, upcast attention), batches with
 * per-item timesteps and contexts, f32 and f16 weight storage, every checkpoint tensor read; a
 * 4-step DDIM run with classifier-free guidance (guidance and scheduler on the host in double)
 * against the reference pipeline's latents after every step; missing and mis-shaped tensors
 * named in the error. */
#include "net_fixture.h"
#include "formats/config.h"
#include "models/sd/unet.h"

typedef struct unet_case {
    const char *name;
    int64_t batch, hw, ctx_len, ctx_dim;
} unet_case;

static const unet_case CASES[] = {
    {"unet_sd15", 2, 8, 77, 32},
    {"unet_sd21", 3, 16, 77, 48},
};

static void load_config(const char *name, evk_unet_config *cfg) {
    char rel[64], path[512];
    snprintf(rel, sizeof rel, "%s.json", name);
    TEST_OK(evk_unet_config_load(fixture_path(rel, path, sizeof path), cfg));
}

/* Run the UNet on the case's fixture inputs; returns the relative L2 error of the output. */
static double run_case(evk_context *ctx, const unet_case *c, evk_dtype storage) {
    evk_weights *ws = fixture_open(ctx, c->name);
    evk_unet_config cfg;
    load_config(c->name, &cfg);
    const int64_t xs[4] = {c->batch, 4, c->hw, c->hw}, ts[1] = {c->batch}, cs[3] = {c->batch, c->ctx_len, c->ctx_dim};
    float *x = fixture_read(ws, "fixture.sample", 4, xs), *t = fixture_read(ws, "fixture.timestep", 1, ts),
          *cx = fixture_read(ws, "fixture.encoder_hidden_states", 3, cs), *want = fixture_read(ws, "fixture.out", 4, xs);
    evk_unet *u;
    TEST_OK(evk_unet_load(ctx, &cfg, ws, storage, &u));
    fixture_assert_all_used(ws, c->name);
    evk_tensor tx = fixture_upload(ctx, x, 4, xs), tt = fixture_upload(ctx, t, 1, ts), tc = fixture_upload(ctx, cx, 3, cs),
               out = fixture_output(ctx, 4, xs);
    evk_stream *s;
    TEST_OK(evk_stream_create(ctx, &s));
    TEST_OK(evk_stream_begin(s));
    TEST_OK(evk_unet_forward(u, s, &tx, &tt, &tc, &out));
    TEST_OK(evk_stream_run(s));
    char what[96];
    snprintf(what, sizeof what, "%s (%s weights)", c->name, evk_dtype_name(storage));
    double e = fixture_error(ctx, &out, want, what);
    printf("  %-40s rel L2 %.3g\n", what, e);
    evk_stream_destroy(s);
    evk_tensor_free(ctx, &tx);
    evk_tensor_free(ctx, &tt);
    evk_tensor_free(ctx, &tc);
    evk_tensor_free(ctx, &out);
    evk_unet_destroy(u);
    free(x);
    free(t);
    free(cx);
    free(want);
    evk_weights_close(ws);
    return e;
}

static void test_unet_sd15(void **state) {
    double e = run_case(*state, &CASES[0], EVK_DTYPE_F32);
    if (!(e <= 1e-4)) fail_msg("unet_sd15 f32: relative L2 error %.3g > 1e-4", e);
    e = run_case(*state, &CASES[0], EVK_DTYPE_F16);
    if (!(e <= 5e-3)) fail_msg("unet_sd15 f16 weights: relative L2 error %.3g > 5e-3", e);
}

static void test_unet_sd21(void **state) {
    double e = run_case(*state, &CASES[1], EVK_DTYPE_F32);
    if (!(e <= 1e-4)) fail_msg("unet_sd21 f32: relative L2 error %.3g > 1e-4", e);
    e = run_case(*state, &CASES[1], EVK_DTYPE_F16);
    if (!(e <= 5e-3)) fail_msg("unet_sd21 f16 weights: relative L2 error %.3g > 5e-3", e);
}

/* DDIM (diffusers' DDIMScheduler: scaled_linear betas, set_alpha_to_one false, epsilon) in double. */
static double alpha_cumprod(int t) {
    const double s0 = sqrt(0.00085), s1 = sqrt(0.012);
    double a = 1.0;
    for (int i = 0; i <= t; i++) {
        double b = s0 + (s1 - s0) * i / 999.0;
        a *= 1.0 - b * b;
    }
    return a;
}

/* The sd_pipeline_ddim case: the UNet (fed the reference's text embeddings) in a 4-step DDIM loop
 * with guidance 7.5 on the [uncond, cond] batch, compared after every step. */
static void test_unet_ddim_pipeline(void **state) {
    evk_context *ctx = *state;
    evk_weights *pipe = fixture_open(ctx, "sd_pipeline_ddim");
    evk_weights *ws = fixture_open(ctx, "unet_sd15");
    evk_unet_config cfg;
    load_config("unet_sd15", &cfg);
    evk_unet *u;
    TEST_OK(evk_unet_load(ctx, &cfg, ws, EVK_DTYPE_F32, &u));
    const int64_t B = 2, n = B * 4 * 8 * 8;
    const int64_t ls[4] = {B, 4, 8, 8}, xs[4] = {2 * B, 4, 8, 8}, cs[3] = {2 * B, 77, 32}, ts[1] = {2 * B};
    float *lat = fixture_read(pipe, "fixture.noise", 4, ls), *cx = fixture_read(pipe, "fixture.encoder_hidden_states", 3, cs);
    int64_t nsteps = 0;
    int32_t *steps = fixture_read_i32(pipe, "fixture.timesteps", &nsteps);
    assert_int_equal(nsteps, 4);
    const int32_t want_steps[4] = {751, 501, 251, 1}; /* leading spacing, steps_offset 1 */
    assert_memory_equal(steps, want_steps, sizeof want_steps);
    evk_tensor tc = fixture_upload(ctx, cx, 3, cs), tx, tt, out;
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 4, xs, &tx));
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 1, ts, &tt));
    out = fixture_output(ctx, 4, xs);
    float *x2 = malloc(sizeof(float) * 2 * n), *o = malloc(sizeof(float) * 2 * n);
    evk_stream *s;
    TEST_OK(evk_stream_create(ctx, &s));
    for (int i = 0; i < 4; i++) {
        const int t = steps[i], prev = t - 1000 / 4;
        memcpy(x2, lat, sizeof(float) * n); /* [x, x] */
        memcpy(x2 + n, lat, sizeof(float) * n);
        float tv[4] = {(float)t, (float)t, (float)t, (float)t};
        TEST_OK(evk_tensor_upload_f32(ctx, &tx, x2));
        TEST_OK(evk_tensor_upload_f32(ctx, &tt, tv));
        TEST_OK(evk_stream_begin(s));
        TEST_OK(evk_unet_forward(u, s, &tx, &tt, &tc, &out));
        TEST_OK(evk_stream_run(s));
        TEST_OK(evk_tensor_download_f32(ctx, &out, o));
        const double a = alpha_cumprod(t), ap = prev >= 0 ? alpha_cumprod(prev) : alpha_cumprod(0);
        double *eps = malloc(sizeof(double) * n), *ref = malloc(sizeof(double) * n);
        char name[64];
        snprintf(name, sizeof name, "fixture.noise_pred.%d", i);
        float *want_eps = fixture_read(pipe, name, 4, ls);
        snprintf(name, sizeof name, "fixture.latents.%d", i);
        float *want_lat = fixture_read(pipe, name, 4, ls);
        float *eps_f = malloc(sizeof(float) * n);
        for (int64_t j = 0; j < n; j++) {
            eps[j] = o[j] + 7.5 * ((double)o[n + j] - o[j]); /* uncond + g (cond - uncond) */
            eps_f[j] = (float)eps[j];
            const double x0 = (lat[j] - sqrt(1 - a) * eps[j]) / sqrt(a);
            lat[j] = (float)(sqrt(ap) * x0 + sqrt(1 - ap) * eps[j]);
            ref[j] = want_lat[j];
        }
        double *ref_eps = malloc(sizeof(double) * n);
        for (int64_t j = 0; j < n; j++) ref_eps[j] = want_eps[j];
        const double ee = test_rel_l2(eps_f, ref_eps, (size_t)n), el = test_rel_l2(lat, ref, (size_t)n);
        printf("  ddim step %d (t=%d): guided eps rel L2 %.3g, latents rel L2 %.3g\n", i, t, ee, el);
        if (!(ee <= 1e-4) || !(el <= 1e-4)) fail_msg("DDIM step %d: eps error %.3g, latents error %.3g (> 1e-4)", i, ee, el);
        free(eps);
        free(ref);
        free(ref_eps);
        free(eps_f);
        free(want_eps);
        free(want_lat);
    }
    float *final = fixture_read(pipe, "fixture.final_latents", 4, ls);
    double *ref = malloc(sizeof(double) * n);
    for (int64_t j = 0; j < n; j++) ref[j] = final[j];
    test_assert_close(lat, ref, (size_t)n, 1e-4, "final latents");
    free(ref);
    free(final);
    evk_stream_destroy(s);
    evk_tensor_free(ctx, &tx);
    evk_tensor_free(ctx, &tt);
    evk_tensor_free(ctx, &tc);
    evk_tensor_free(ctx, &out);
    free(x2);
    free(o);
    free(lat);
    free(cx);
    free(steps);
    evk_unet_destroy(u);
    evk_weights_close(ws);
    evk_weights_close(pipe);
}

static void expect_named_error(evk_context *ctx, evk_weights *ws, const evk_unet_config *cfg, const char *needle,
                               const char *what) {
    evk_unet *u = (evk_unet *)&u;
    evk_status s = evk_unet_load(ctx, cfg, ws, EVK_DTYPE_F32, &u);
    if (s == EVK_OK) fail_msg("%s: loading succeeded", what);
    assert_null(u);
    if (!strstr(evk_error_message(), needle)) fail_msg("%s: message lacks '%s': %s", what, needle, evk_error_message());
    printf("  %-24s %s\n", what, evk_error_message());
}

static void test_unet_bad_weights(void **state) {
    evk_context *ctx = *state;
    evk_weights *ws = fixture_open(ctx, "unet_sd21");
    evk_unet_config cfg;
    load_config("unet_sd21", &cfg);
    const char *deep = "up_blocks.2.attentions.1.transformer_blocks.0.attn2.to_k.weight";
    fixture_map m = {.from = {deep}, .to = {NULL}, .count = 1};
    evk_weights_set_map(ws, fixture_map_fn, &m, NULL);
    expect_named_error(ctx, ws, &cfg, deep, "missing tensor");
    fixture_map m2 = {.from = {"conv_in.weight"}, .to = {"conv_out.weight"}, .count = 1};
    evk_weights_set_map(ws, fixture_map_fn, &m2, NULL);
    expect_named_error(ctx, ws, &cfg, "conv_in.weight", "mis-shaped tensor");
    /* cross_attention_dim that does not match the checkpoint */
    evk_weights_set_map(ws, NULL, NULL, NULL);
    for (int i = 0; i < cfg.num_blocks; i++) cfg.cross_attention_dim[i] = 32;
    expect_named_error(ctx, ws, &cfg, "attn2.to_k.weight", "wrong cross_attention_dim");
    evk_weights_close(ws);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unet_sd15),
        cmocka_unit_test(test_unet_sd21),
        cmocka_unit_test(test_unet_ddim_pipeline),
        cmocka_unit_test(test_unet_bad_weights),
    };
    return cmocka_run_group_tests(tests, test_group_setup, test_group_teardown);
}
