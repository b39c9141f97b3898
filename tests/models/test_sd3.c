/* test_sd3.c — the "sd3" family against diffusers v0.31's own code (tools/ref/fixtures_sd3.py):
 * an SD3.0-style transformer call (no qk norm, no dual attention, a non-square latent with a
 * short text context); then the MMDiT-X pipeline folder tests/data/nets/sd3 loaded through the
 * registry: both prompt encodings (penultimate CLIP states concatenated and zero-padded, the
 * zero T5 slot, projected pooled outputs), one transformer call with packed conditioning, the
 * FlowMatchEulerDiscreteScheduler σ grid and timesteps, every guided Euler step (model output
 * and the latents after it, each from the reference's previous latents), and the VAE decode with
 * shift_factor; the same transformer from a single-file checkpoint with the original MMDiT names
 * and the folder as its config; each within 1e-3 relative L2 error. Last, a quantised GGUF
 * transformer (tests/data/nets/sd3_gguf.gguf, ComfyUI-GGUF's layout: bare original names, Q8_0 /
 * Q4_K joint-block matrices, F16 embedders, F32 vectors; tools/ref/fixtures_sd3_gguf.py) loaded
 * as stored, dequantised to f32 and to f16: every tensor but the stored position table is read,
 * the quantised load takes the fewest device bytes, and its output equals the dequantised f32
 * one (the pipeline against diffusers on the dequantised weights is tests/cli/cli_sd3.sh). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "models/mmdit/mmdit.h"
#include "models/mmdit/sd3.h"
#include "models/model.h"
#include "net_fixture.h"
#include "samplers/sampler.h"

#define TOL 1e-3

static void run_stream(evk_context *ctx, evk_stream **s) {
    TEST_OK(evk_stream_create(ctx, s));
    TEST_OK(evk_stream_begin(*s));
}

static void test_plain_transformer(void **state) {
    evk_context *ctx = *state;
    char path[512];
    evk_mmdit_config cfg;
    TEST_OK(evk_mmdit_config_load(fixture_path("sd3_plain.json", path, sizeof path), &cfg));
    assert_false(cfg.qk_norm_rms);
    evk_weights *ws = fixture_open(ctx, "sd3_plain");
    int64_t sx[4] = {3, 16, 10, 6}, st[1] = {3}, sc[3] = {3, 20, 32}, sp[2] = {3, 32};
    float *x = fixture_read(ws, "fixture.x", 4, sx), *t = fixture_read(ws, "fixture.t", 1, st);
    float *c = fixture_read(ws, "fixture.context", 3, sc), *p = fixture_read(ws, "fixture.pooled", 2, sp);
    float *want = fixture_read(ws, "fixture.out", 4, sx);
    evk_mmdit *m;
    TEST_OK(evk_mmdit_load(ctx, &cfg, ws, EVK_DTYPE_F32, 10, 6, &m));
    evk_tensor tx = fixture_upload(ctx, x, 4, sx), tt = fixture_upload(ctx, t, 1, st), tc = fixture_upload(ctx, c, 3, sc);
    evk_tensor tp = fixture_upload(ctx, p, 2, sp), out = fixture_output(ctx, 4, sx);
    evk_stream *s;
    run_stream(ctx, &s);
    TEST_OK(evk_mmdit_forward(m, s, &tx, &tt, &tc, &tp, &out));
    TEST_OK(evk_stream_run(s));
    double e = fixture_error(ctx, &out, want, "plain transformer");
    printf("  SD3 transformer (plain, 3x16x10x6, 20 text tokens): rel L2 %.2e\n", e);
    assert_true(e < TOL);
    /* f16 weight storage: the same call within f16 rounding */
    evk_mmdit *m16;
    TEST_OK(evk_mmdit_load(ctx, &cfg, ws, EVK_DTYPE_F16, 10, 6, &m16));
    TEST_OK(evk_stream_begin(s));
    TEST_OK(evk_mmdit_forward(m16, s, &tx, &tt, &tc, &tp, &out));
    TEST_OK(evk_stream_run(s));
    double e16 = fixture_error(ctx, &out, want, "plain transformer f16");
    printf("  the same with f16 weights: rel L2 %.2e\n", e16);
    assert_true(e16 < 5e-3);
    evk_mmdit_destroy(m16);
    /* a latent of another size than the one the position table was cropped for is an error */
    evk_tensor bad;
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 4, (int64_t[]){3, 16, 10, 8}, &bad));
    assert_int_equal(evk_mmdit_forward(m, s, &bad, &tt, &tc, &tp, &out), EVK_ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(evk_error_message(), "SD3 transformer"));
    test_assert_no_validation(ctx);
    evk_stream_destroy(s);
    evk_tensor *ts[] = {&tx, &tt, &tc, &tp, &out, &bad};
    for (int i = 0; i < 6; i++) evk_tensor_free(ctx, ts[i]);
    evk_mmdit_destroy(m);
    evk_weights_close(ws);
    free(x), free(t), free(c), free(p), free(want);
}

/* Packed conditioning [B, rows, 32] from a context [B, 154, 32] and pooled [B, 32]. */
static float *pack(const float *context, const float *pooled, int B, int rows) {
    float *o = calloc((size_t)B * rows * 32, sizeof *o);
    assert_non_null(o);
    for (int b = 0; b < B; b++) {
        memcpy(o + (size_t)b * rows * 32, context + (size_t)b * 154 * 32, 154 * 32 * sizeof *o);
        memcpy(o + ((size_t)b * rows + 154) * 32, pooled + (size_t)b * 32, 32 * sizeof *o);
    }
    return o;
}

static double host_rel(const float *got, const float *want, size_t n) {
    double *ref = malloc(n * sizeof *ref);
    assert_non_null(ref);
    for (size_t i = 0; i < n; i++) ref[i] = want[i];
    double e = test_rel_l2(got, ref, n);
    free(ref);
    return e;
}

static void test_pipeline(void **state) {
    evk_context *ctx = *state;
    char dir[512];
    fixture_path("sd3", dir, sizeof dir);
    evk_model_options opt = {.width = 24, .height = 16};
    evk_model *m;
    TEST_OK(evk_model_load(ctx, dir, &opt, &m));
    assert_string_equal(evk_model_get_info(m)->family, "sd3");
    int ctx_rows = 0, rows = 0;
    evk_sd3_cond_rows(m, &ctx_rows, &rows);
    assert_int_equal(ctx_rows, 154);
    assert_int_equal(rows, 155);
    evk_weights *fx = fixture_open(ctx, "sd3_fixture");
    const char *A = "a red circle left of a blue square";

    /* prompt encodings */
    evk_tensor cond, uncond;
    TEST_OK(evk_model_encode_prompt(m, A, &cond, NULL));
    TEST_OK(evk_model_encode_prompt(m, "", &uncond, NULL));
    assert_int_equal(cond.shape[1], rows);
    const char *names[2][2] = {{"prompt_embeds", "pooled"}, {"negative_prompt_embeds", "negative_pooled"}};
    const evk_tensor *enc[2] = {&cond, &uncond};
    float *got = malloc((size_t)rows * 32 * sizeof *got);
    for (int k = 0; k < 2; k++) {
        float *pe = fixture_read(fx, names[k][0], 3, (int64_t[]){1, 154, 32});
        float *pp = fixture_read(fx, names[k][1], 2, (int64_t[]){1, 32});
        TEST_OK(evk_tensor_download_f32(ctx, enc[k], got));
        double e1 = host_rel(got, pe, 154 * 32), e2 = host_rel(got + 154 * 32, pp, 32);
        for (int i = 77 * 32; i < 154 * 32; i++) assert_true(got[i] == 0.0f); /* the T5 slot */
        printf("  %s: embeds rel L2 %.2e, pooled %.2e\n", k ? "negative prompt \"\"" : "prompt", e1, e2);
        assert_true(e1 < TOL && e2 < TOL);
        free(pe), free(pp);
    }
    free(got);

    /* one transformer call with packed conditioning (two items, their own contexts) */
    int64_t sx[4] = {2, 16, 8, 12}, sf[2] = {2, 16 * 8 * 12};
    float *x = fixture_read(fx, "call_x", 4, sx), *t = fixture_read(fx, "call_t", 1, (int64_t[]){2});
    float *c = fixture_read(fx, "call_context", 3, (int64_t[]){2, 154, 32}), *p = fixture_read(fx, "call_pooled", 2, (int64_t[]){2, 32});
    float *want = fixture_read(fx, "call_out", 4, sx), *packed = pack(c, p, 2, rows);
    evk_tensor tx = fixture_upload(ctx, x, 2, sf), tt = fixture_upload(ctx, t, 1, (int64_t[]){2});
    evk_tensor tc = fixture_upload(ctx, packed, 3, (int64_t[]){2, rows, 32}), out = fixture_output(ctx, 2, sf);
    evk_stream *s;
    run_stream(ctx, &s);
    evk_model_input in = {.x = &tx, .timestep = &tt, .alpha = &tt, .sigma = &tt, .cond = &tc};
    TEST_OK(evk_model_forward(m, s, &in, &out));
    TEST_OK(evk_stream_run(s));
    double e = fixture_error(ctx, &out, want, "transformer call");
    printf("  MMDiT-X transformer call (2x16x8x12): rel L2 %.2e\n", e);
    assert_true(e < TOL);
    free(x), free(t), free(c), free(p), free(want), free(packed);
    evk_tensor_free(ctx, &tx), evk_tensor_free(ctx, &tt), evk_tensor_free(ctx, &tc), evk_tensor_free(ctx, &out);

    /* the scheduler: σ grid and timesteps as FlowMatchEulerDiscreteScheduler(shift 3) */
    evk_sampler_config sc;
    TEST_OK(evk_model_sampler_config(m, 3, &sc));
    assert_int_equal(sc.kind, EVK_SAMPLER_FLOW_SDE);
    sc.kind = EVK_SAMPLER_EULER;
    evk_sampler *smp;
    TEST_OK(evk_sampler_create(&sc, &smp));
    float *sig = fixture_read(fx, "sigmas", 1, (int64_t[]){4}), *ts = fixture_read(fx, "timesteps", 1, (int64_t[]){3});
    for (uint32_t i = 0; i < 3; i++) {
        const evk_sampler_step *stp = evk_sampler_get_step(smp, i);
        assert_true(fabs(stp->sigma - sig[i]) < 1e-6 && fabs(stp->sigma_next - sig[i + 1]) < 1e-6);
        assert_true(fabs(stp->timestep - ts[i]) < 1e-3);
    }
    free(sig), free(ts);

    /* guided Euler steps (cfg 4), each from the reference's latents before it */
    int64_t s1[2] = {1, 16 * 8 * 12};
    float *lat = fixture_read(fx, "latents", 4, (int64_t[]){1, 16, 8, 12});
    for (uint32_t i = 0; i < 3; i++) {
        char n1[32], n2[32];
        snprintf(n1, sizeof n1, "noise_pred.%u", i);
        snprintf(n2, sizeof n2, "latents.%u", i);
        float *wp = fixture_read(fx, n1, 4, (int64_t[]){1, 16, 8, 12}), *wl = fixture_read(fx, n2, 4, (int64_t[]){1, 16, 8, 12});
        float tv = (float)evk_sampler_get_step(smp, i)->timestep;
        evk_tensor lx = fixture_upload(ctx, lat, 2, s1), lt = fixture_upload(ctx, &tv, 1, (int64_t[]){1});
        evk_tensor pred = fixture_output(ctx, 2, s1), scratch = fixture_output(ctx, 2, s1);
        TEST_OK(evk_stream_begin(s));
        evk_model_input gi = {.x = &lx, .timestep = &lt, .alpha = &lt, .sigma = &lt, .cond = &cond};
        TEST_OK(evk_model_forward_guided(m, s, &gi, &uncond, 4.0f, &scratch, &pred));
        TEST_OK(evk_stream_run(s));
        double ep = fixture_error(ctx, &pred, wp, n1);
        TEST_OK(evk_stream_begin(s));
        TEST_OK(evk_op_sampler_step(s, smp, i, &lx, &pred, NULL));
        TEST_OK(evk_stream_run(s));
        double el = fixture_error(ctx, &lx, wl, n2);
        printf("  step %u (t = %.4f): guided velocity rel L2 %.2e, latents %.2e\n", i, (double)tv, ep, el);
        assert_true(ep < TOL && el < TOL);
        memcpy(lat, wl, sizeof(float) * 16 * 8 * 12);
        evk_tensor_free(ctx, &lx), evk_tensor_free(ctx, &lt), evk_tensor_free(ctx, &pred), evk_tensor_free(ctx, &scratch);
        free(wp), free(wl);
    }

    /* decode: latents / scaling + shift -> VAE -> [0, 1]; the pipeline's image is HWC */
    float *img = fixture_read(fx, "image", 4, (int64_t[]){1, 16, 24, 3});
    float *chw = malloc(3 * 16 * 24 * sizeof *chw);
    for (int y = 0; y < 16; y++)
        for (int xx = 0; xx < 24; xx++)
            for (int ch = 0; ch < 3; ch++) chw[(ch * 16 + y) * 24 + xx] = img[(y * 24 + xx) * 3 + ch];
    evk_tensor lx = fixture_upload(ctx, lat, 2, s1), dec = fixture_output(ctx, 2, (int64_t[]){1, 3 * 16 * 24});
    TEST_OK(evk_stream_begin(s));
    TEST_OK(evk_model_decode(m, s, &lx, &dec));
    TEST_OK(evk_stream_run(s));
    double ed = fixture_error(ctx, &dec, chw, "decoded image");
    printf("  decode (shift_factor, 16x24): rel L2 %.2e\n", ed);
    assert_true(ed < TOL);
    test_assert_no_validation(ctx);
    evk_tensor_free(ctx, &lx), evk_tensor_free(ctx, &dec);
    free(img), free(chw), free(lat);
    evk_stream_destroy(s);
    evk_sampler_destroy(smp);
    evk_tensor_free(ctx, &cond);
    evk_tensor_free(ctx, &uncond);
    evk_weights_close(fx);
    evk_model_destroy(m);
}

/* The MMDiT-X transformer as a single-file checkpoint with the original names (fused qkv,
 * [shift | scale] continuous norms) and the folder as its config: the same call. */
static void test_single_file(void **state) {
    evk_context *ctx = *state;
    char dir[512], file[512];
    fixture_path("sd3", dir, sizeof dir);
    fixture_path("sd3_single.safetensors", file, sizeof file);
    assert_true(evk_sd3_probe(file));
    evk_model *m = NULL;
    evk_model_options opt = {.width = 24, .height = 16};
    assert_int_equal(evk_model_load(ctx, file, &opt, &m), EVK_ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(evk_error_message(), "needs a config folder"));
    opt.config_dir = dir;
    TEST_OK(evk_model_load(ctx, file, &opt, &m));
    assert_string_equal(evk_model_get_info(m)->family, "sd3");
    int rows = 0;
    evk_sd3_cond_rows(m, NULL, &rows);
    evk_weights *fx = fixture_open(ctx, "sd3_fixture");
    int64_t sx[4] = {2, 16, 8, 12}, sf[2] = {2, 16 * 8 * 12};
    float *x = fixture_read(fx, "call_x", 4, sx), *t = fixture_read(fx, "call_t", 1, (int64_t[]){2});
    float *c = fixture_read(fx, "call_context", 3, (int64_t[]){2, 154, 32}), *p = fixture_read(fx, "call_pooled", 2, (int64_t[]){2, 32});
    float *want = fixture_read(fx, "call_out", 4, sx), *packed = pack(c, p, 2, rows);
    evk_tensor tx = fixture_upload(ctx, x, 2, sf), tt = fixture_upload(ctx, t, 1, (int64_t[]){2});
    evk_tensor tc = fixture_upload(ctx, packed, 3, (int64_t[]){2, rows, 32}), out = fixture_output(ctx, 2, sf);
    evk_stream *s;
    run_stream(ctx, &s);
    evk_model_input in = {.x = &tx, .timestep = &tt, .alpha = &tt, .sigma = &tt, .cond = &tc};
    TEST_OK(evk_model_forward(m, s, &in, &out));
    TEST_OK(evk_stream_run(s));
    double e = fixture_error(ctx, &out, want, "single-file transformer call");
    printf("  single-file (original names) transformer call: rel L2 %.2e\n", e);
    assert_true(e < TOL);
    test_assert_no_validation(ctx);
    evk_stream_destroy(s);
    free(x), free(t), free(c), free(p), free(want), free(packed);
    evk_tensor_free(ctx, &tx), evk_tensor_free(ctx, &tt), evk_tensor_free(ctx, &tc), evk_tensor_free(ctx, &out);
    evk_weights_close(fx);
    evk_model_destroy(m);
}

static void test_bad_sizes(void **state) {
    evk_context *ctx = *state;
    char dir[512];
    fixture_path("sd3", dir, sizeof dir);
    evk_model *m = NULL;
    evk_model_options opt = {.width = 22, .height = 16}; /* not a multiple of VAE factor × patch (4) */
    assert_int_equal(evk_model_load(ctx, dir, &opt, &m), EVK_ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(evk_error_message(), "multiples of 4"));
    opt.width = 72; /* 36 latents = 18 patches > pos_embed_max_size 16 */
    assert_int_equal(evk_model_load(ctx, dir, &opt, &m), EVK_ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(evk_error_message(), "pos_embed_max_size"));
    assert_null(m);
}

/* One call of the GGUF transformer with weights in `storage` on fixed inputs: the output into
 * `got` (malloc'd) and the device bytes the weights took. */
static float *gguf_call(evk_context *ctx, const evk_mmdit_config *cfg, evk_dtype storage, uint64_t *bytes) {
    char path[512];
    evk_weights *ws;
    TEST_OK(evk_weights_open(ctx, fixture_path("sd3_gguf.gguf", path, sizeof path), &ws));
    assert_true(evk_mmdit_is_original(ws));
    TEST_OK(evk_mmdit_use_original_names(ws));
    evk_memory_stats m0, m1;
    evk_memory_get_stats(ctx, &m0);
    evk_mmdit *m;
    TEST_OK(evk_mmdit_load_original(ctx, cfg, ws, storage, 8, 12, &m));
    evk_memory_get_stats(ctx, &m1);
    *bytes = m1.in_use - m0.in_use;
    const char *unused[4];
    size_t nu = evk_weights_unused(ws, unused, 4);
    if (nu != 1 || strcmp(unused[0], "pos_embed")) fail_msg("%zu tensors never read, e.g. %s", nu, nu ? unused[0] : "-");
    int64_t sx[4] = {2, 16, 8, 12}, st[1] = {2}, sc[3] = {2, 30, 32}, sp[2] = {2, 32};
    size_t nx = 2 * 16 * 8 * 12, nc = 2 * 30 * 32;
    float *x = malloc(nx * 4), t[2] = {1000.0f, 371.25f}, *c = malloc(nc * 4), p[64];
    test_rng r = {13};
    for (size_t i = 0; i < nx; i++) x[i] = (float)test_rng_normal(&r);
    for (size_t i = 0; i < nc; i++) c[i] = (float)test_rng_normal(&r);
    for (size_t i = 0; i < 64; i++) p[i] = (float)test_rng_normal(&r);
    evk_tensor tx = fixture_upload(ctx, x, 4, sx), tt = fixture_upload(ctx, t, 1, st), tc = fixture_upload(ctx, c, 3, sc);
    evk_tensor tp = fixture_upload(ctx, p, 2, sp), out = fixture_output(ctx, 4, sx);
    evk_stream *s;
    run_stream(ctx, &s);
    TEST_OK(evk_mmdit_forward(m, s, &tx, &tt, &tc, &tp, &out));
    TEST_OK(evk_stream_run(s));
    float *got = malloc(nx * 4);
    TEST_OK(evk_tensor_download_f32(ctx, &out, got));
    for (size_t i = 0; i < nx; i++)
        if (!isfinite(got[i])) fail_msg("non-finite output at %zu", i);
    test_assert_no_validation(ctx);
    evk_stream_destroy(s);
    evk_tensor *ts[] = {&tx, &tt, &tc, &tp, &out};
    for (int i = 0; i < 5; i++) evk_tensor_free(ctx, ts[i]);
    evk_mmdit_destroy(m);
    evk_weights_close(ws);
    free(x), free(c);
    return got;
}

static void test_gguf_as_stored(void **state) {
    evk_context *ctx = *state;
    char path[512];
    evk_mmdit_config cfg;
    TEST_OK(evk_mmdit_config_load(fixture_path("sd3_gguf.json", path, sizeof path), &cfg));
    uint64_t bq, b16, b32;
    float *q = gguf_call(ctx, &cfg, EVK_DTYPE_QUANT, &bq), *f32 = gguf_call(ctx, &cfg, EVK_DTYPE_F32, &b32);
    float *f16 = gguf_call(ctx, &cfg, EVK_DTYPE_F16, &b16);
    size_t n = 2 * 16 * 8 * 12;
    double eq = host_rel(q, f32, n), e16 = host_rel(f16, f32, n);
    printf("  GGUF transformer as stored (Q8_0/Q4_K/F16): %llu device bytes; dequantised f16 %llu, f32 %llu\n",
           (unsigned long long)bq, (unsigned long long)b16, (unsigned long long)b32);
    printf("  as stored vs dequantised f32: rel L2 %.2e; f16 vs f32 %.2e\n", eq, e16);
    /* the same weight values (quantised values are exact in f32): only summation order differs */
    if (!(eq < 1e-5)) fail_msg("as stored vs dequantised f32: rel L2 %.3g", eq);
    if (!(e16 < 5e-3)) fail_msg("f16 vs f32: rel L2 %.3g", e16);
    if (!(bq < b16 && b16 < b32)) fail_msg("device bytes: as stored %llu, f16 %llu, f32 %llu", (unsigned long long)bq,
                                           (unsigned long long)b16, (unsigned long long)b32);
    free(q), free(f16), free(f32);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_transformer),
        cmocka_unit_test(test_pipeline),
        cmocka_unit_test(test_single_file),
        cmocka_unit_test(test_bad_sizes),
        cmocka_unit_test(test_gguf_as_stored),
    };
    return cmocka_run_group_tests(tests, test_group_setup, test_group_teardown);
}
