/* test_modelscope.c — the ModelScope text-to-video family against diffusers v0.28.2 on the tiny
 * random-weight pipeline of tests/data/nets/modelscope (tools/ref/fixtures_modelscope.py):
 * UNet3DConditionModel on a batch of two 4-frame clips with per-clip timesteps and contexts (f32
 * and f16 weights, every checkpoint tensor read), its time_cond_proj form (T2V-Turbo's student)
 * with the guidance-scale embedding, the folder loaded through the registry as a model (the
 * prompt and the empty prompt encoded as TextToVideoSDPipeline does, the scheduler's DDIM with
 * η = 0 and guidance 7.5 step by step against the pipeline's latents, the frame-by-frame decode
 * against its video), the student's UNet given as the denoiser's weights (guidance-embedded, LCM
 * by default, one call with w = 7.5), T2V-Turbo's own MS LCM pipeline step by step
 * (tools/ref/fixtures_modelscope_lcm.py), and loader errors that name the tensor and file. */
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

/* Relative L2 error of a device tensor against the expected floats, printed. */
static double compare(evk_context *ctx, const evk_tensor *got, const float *want, const char *what) {
    double e = fixture_error(ctx, got, want, what);
    printf("  %-40s rel L2 %.3g\n", what, e);
    return e;
}

static double compare_host(const float *got, const float *want, size_t n, const char *what) {
    double *ref = malloc(n * sizeof *ref);
    assert_non_null(ref);
    for (size_t i = 0; i < n; i++) ref[i] = want[i];
    double e = test_rel_l2(got, ref, n);
    printf("  %-40s rel L2 %.3g\n", what, e);
    free(ref);
    return e;
}

static evk_model *load_model(evk_context *ctx) {
    char path[512];
    evk_model_options opt = {.frames = FR, .width = 2 * LAT, .height = 2 * LAT};
    evk_model *m = NULL;
    TEST_OK(evk_model_load(ctx, fixture_path("modelscope", path, sizeof path), &opt, &m));
    return m;
}

/* The folder through the registry: prompts, the guided DDIM steps, the decode. */
static void test_pipeline(void **state) {
    evk_context *ctx = *state;
    evk_model *model = load_model(ctx);
    const evk_model_info *mi = evk_model_get_info(model);
    assert_string_equal(mi->family, "modelscope");
    assert_int_equal(mi->frames, FR);
    assert_int_equal(mi->sample_ndim, 4);
    const int64_t want_shape[4] = {4, FR, LAT, LAT};
    assert_memory_equal(mi->sample_shape, want_shape, sizeof want_shape);
    assert_int_equal(evk_model_decoded_numel(model), FR * 3 * 4 * LAT * LAT);
    evk_weights *fx = fixture_open(ctx, "modelscope/fixture");

    /* prompts as TextToVideoSDPipeline.encode_prompt makes them */
    const int64_t es[3] = {1, 77, 32};
    evk_tensor cond, uncond;
    TEST_OK(evk_model_encode_prompt(model, "a red circle on the left", &cond, NULL));
    TEST_OK(evk_model_encode_prompt(model, "", &uncond, NULL));
    float *want = fixture_read(fx, "text", 3, es);
    assert_true(compare(ctx, &cond, want, "text encoder (prompt)") <= 1e-4);
    free(want);
    want = fixture_read(fx, "uncond_text", 3, es);
    assert_true(compare(ctx, &uncond, want, "text encoder (empty prompt)") <= 1e-4);
    free(want);

    /* the scheduler's DDIM, η = 0, guidance 7.5, from the pipeline's initial latents */
    evk_sampler_config sc;
    TEST_OK(evk_model_sampler_config(model, 3, &sc));
    sc.eta = 0;
    evk_sampler *sampler;
    TEST_OK(evk_sampler_create(&sc, &sampler));
    int64_t nsteps = 0;
    int32_t *steps = fixture_read_i32(fx, "timesteps", &nsteps);
    assert_int_equal(nsteps, 3);
    for (uint32_t i = 0; i < 3; i++)
        if ((double)steps[i] != evk_sampler_get_step(sampler, i)->timestep)
            fail_msg("DDIM step %u: timestep %g, diffusers says %d", i, evk_sampler_get_step(sampler, i)->timestep, steps[i]);
    const int64_t ls[5] = {1, 4, FR, LAT, LAT}, n = 4 * FR * LAT * LAT;
    float *lat = fixture_read(fx, "latents", 5, ls);
    evk_tensor x = fixture_upload(ctx, lat, 2, (int64_t[]){1, n}), m = fixture_output(ctx, 2, (int64_t[]){1, n}),
               scratch = fixture_output(ctx, 2, (int64_t[]){1, n}), t1, a1, s1;
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 1, (int64_t[]){1}, &t1));
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 1, (int64_t[]){1}, &a1));
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 1, (int64_t[]){1}, &s1));
    evk_stream *s;
    TEST_OK(evk_stream_create(ctx, &s));
    double worst = 0;
    for (uint32_t i = 0; i < 3; i++) {
        const evk_sampler_step *stp = evk_sampler_get_step(sampler, i);
        float tv = (float)stp->timestep, av = (float)stp->alpha, sv = (float)stp->sigma;
        TEST_OK(evk_stream_begin(s));
        TEST_OK(evk_stream_update(s, &t1.buf, 0, &tv, 4));
        TEST_OK(evk_stream_update(s, &a1.buf, 0, &av, 4));
        TEST_OK(evk_stream_update(s, &s1.buf, 0, &sv, 4));
        evk_model_input in = {.x = &x, .timestep = &t1, .alpha = &a1, .sigma = &s1, .cond = &cond};
        TEST_OK(evk_model_forward_guided(model, s, &in, &uncond, 7.5f, &scratch, &m));
        TEST_OK(evk_op_sampler_step(s, sampler, i, &x, &m, NULL));
        TEST_OK(evk_stream_run(s));
        char name[32], what[64];
        snprintf(name, sizeof name, "noise_pred.%u", i);
        snprintf(what, sizeof what, "step %u: guided noise prediction", i);
        want = fixture_read(fx, name, 5, ls);
        double e = compare(ctx, &m, want, what);
        free(want);
        snprintf(name, sizeof name, "latents.%u", i);
        snprintf(what, sizeof what, "step %u: latents", i);
        want = fixture_read(fx, name, 5, ls);
        double e2 = compare(ctx, &x, want, what);
        free(want);
        worst = e > worst ? e : worst;
        worst = e2 > worst ? e2 : worst;
    }
    if (!(worst <= 1e-3)) fail_msg("DDIM steps: relative L2 error %.3g > 1e-3", worst);

    /* decode: the video the pipeline returns ([F, H, W, 3] in [0, 1]), from our final latents and
     * from the pipeline's; frames per VAE call do not change a bit */
    const int64_t dn = FR * 3 * 4 * LAT * LAT;
    float *ours = malloc(sizeof(float) * (size_t)n), *video = malloc(sizeof(float) * (size_t)dn),
          *video1 = malloc(sizeof(float) * (size_t)dn);
    TEST_OK(evk_tensor_download_f32(ctx, &x, ours));
    float *ref = fixture_read(fx, "latents.2", 5, ls), *raw = fixture_read(fx, "video_raw", 5, (int64_t[]){1, 3, FR, 2 * LAT, 2 * LAT});
    const int64_t H = 2 * LAT, W = 2 * LAT;
    float *want_video = malloc(sizeof(float) * (size_t)dn);
    for (int64_t c = 0; c < 3; c++) /* the pipeline's [3, F, H, W] before postprocessing -> [F, 3, H, W] in [0, 1] */
        for (int64_t f = 0; f < FR; f++)
            for (int64_t p = 0; p < H * W; p++) {
                float v = raw[(c * FR + f) * H * W + p] * 0.5f + 0.5f;
                want_video[(f * 3 + c) * H * W + p] = v < 0 ? 0 : v > 1 ? 1 : v;
            }
    TEST_OK(evk_model_decode_host(model, ref, 1, video));
    assert_true(compare_host(video, want_video, (size_t)dn, "decode of the pipeline's latents") <= 1e-4);
    TEST_OK(evk_model_decode_host(model, ours, 1, video));
    assert_true(compare_host(video, want_video, (size_t)dn, "video (ours end to end)") <= 1e-3);
    evk_modelscope_set_decode_chunk(model, 3); /* 3 + 1 frames */
    TEST_OK(evk_model_decode_host(model, ours, 1, video1));
    assert_memory_equal(video, video1, sizeof(float) * (size_t)dn);
    evk_modelscope_set_decode_chunk(model, 0);

    assert_int_equal(evk_context_validation_count(ctx), 0);
    evk_tensor *all[] = {&cond, &uncond, &x, &m, &scratch, &t1, &a1, &s1};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) evk_tensor_free(ctx, all[i]);
    free(ours), free(video), free(video1), free(ref), free(raw), free(want_video), free(lat), free(steps);
    evk_sampler_destroy(sampler);
    evk_stream_destroy(s);
    evk_weights_close(fx);
    evk_model_destroy(model);
}

/* One call of a guidance-embedded model (the folder with `opt`'s UNet) on the fixture's first clip
 * at t = 999 with w = 7.5, against `want_name` of the fixture file `ref`; returns the rel. L2. */
static double run_student(evk_context *ctx, const evk_model_options *opt, const char *ref, const char *want_name, const char *what) {
    char path[512];
    evk_model *model = NULL;
    TEST_OK(evk_model_load(ctx, fixture_path("modelscope", path, sizeof path), opt, &model));
    const evk_model_info *mi = evk_model_get_info(model);
    assert_true(mi->guidance_embedded);
    evk_sampler_config sc;
    TEST_OK(evk_model_sampler_config(model, 4, &sc));
    assert_int_equal(sc.kind, EVK_SAMPLER_LCM);
    assert_int_equal(sc.lcm_origin_steps, 50);
    evk_weights *fx = fixture_open(ctx, "modelscope/fixture"), *rx = fixture_open(ctx, ref);
    const int64_t n = 4 * FR * LAT * LAT;
    float *x = fixture_read(fx, "unet.sample", 5, XS), *cx = fixture_read(fx, "unet.context", 3, (int64_t[]){2, 77, 32}),
          *want = fixture_read(rx, want_name, 5, XS);
    float t = 999, one = 1;
    evk_tensor tx = fixture_upload(ctx, x, 2, (int64_t[]){1, n}), tc = fixture_upload(ctx, cx, 3, (int64_t[]){1, 77, 32}),
               tt = fixture_upload(ctx, &t, 1, (int64_t[]){1}), ta = fixture_upload(ctx, &one, 1, (int64_t[]){1}),
               out = fixture_output(ctx, 2, (int64_t[]){1, n});
    evk_stream *s;
    TEST_OK(evk_stream_create(ctx, &s));
    TEST_OK(evk_stream_begin(s));
    evk_model_input in = {.x = &tx, .timestep = &tt, .alpha = &ta, .sigma = &ta, .cond = &tc, .guidance = 7.5f};
    TEST_OK(evk_model_forward(model, s, &in, &out));
    TEST_OK(evk_stream_run(s));
    double e = compare(ctx, &out, want, what);
    assert_int_equal(evk_context_validation_count(ctx), 0);
    evk_tensor *all[] = {&tx, &tc, &tt, &ta, &out};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) evk_tensor_free(ctx, all[i]);
    free(x), free(cx), free(want);
    evk_stream_destroy(s);
    if (rx != fx) evk_weights_close(rx);
    evk_weights_close(fx);
    evk_model_destroy(model);
    return e;
}

/* T2V-Turbo's ModelScope student through the family: the teacher's folder with the student's
 * UNet weights (--diffusion-model), whose cond_proj tensor makes the model guidance-embedded;
 * one call with w = 7.5 equals diffusers' UNet given T2V-Turbo's w-embedding of 7.5. */
static void test_student(void **state) {
    char weights[512];
    evk_model_options opt = {.frames = FR, .width = 2 * LAT, .height = 2 * LAT,
                             .diffusion_model = fixture_path("modelscope/unet_lcm/diffusion_pytorch_model.safetensors", weights,
                                                             sizeof weights)};
    assert_true(run_student(*state, &opt, "modelscope/fixture", "lcm.out", "student, w = 7.5 (first clip)") <= 1e-4);
}

/* T2V-Turbo (MS) v1's LoRA list (fixtures_modelscope_lora.py: upstream's LoraHandler +
 * collapse_lora, as app_ms.py loads it) merged at load over the student's UNet; the list over the
 * teacher's UNet (no time_embedding.cond_proj: upstream's random-weight case), a file that is no
 * list, another UNet's list, and two lists at once refused. */
static void test_lora(void **state) {
    evk_context *ctx = *state;
    char weights[512], list[512], other[512], path[512];
    fixture_path("modelscope/unet_lcm/diffusion_pytorch_model.safetensors", weights, sizeof weights);
    fixture_path("modelscope/unet_lora.pt", list, sizeof list);
    fixture_path("vc2/vc2_tiny_lora.pt", other, sizeof other);
    fixture_path("modelscope", path, sizeof path);
    evk_model_options opt = {.frames = FR, .width = 2 * LAT, .height = 2 * LAT, .diffusion_model = weights, .lora = list};
    assert_true(run_student(ctx, &opt, "modelscope/lora_ref", "lora.out", "student + LoRA list, w = 7.5") <= 1e-4);
    struct { const char *dm, *lora; evk_status want; const char *says; } bad[] = {
        {list, NULL, EVK_ERROR_INVALID_ARGUMENT, "time_embedding.cond_proj with random weights"},
        {NULL, list, EVK_ERROR_INVALID_ARGUMENT, "time_embedding.cond_proj with random weights"},
        {weights, weights, EVK_ERROR_FORMAT, "is not T2V-Turbo's LoRA list"},
        {weights, other, EVK_ERROR_FORMAT, "Linear/Conv2d/Conv3d layers"},
        {list, list, EVK_ERROR_INVALID_ARGUMENT, "is a LoRA list, and --lora gives another"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        evk_model_options o = {.frames = FR, .width = 2 * LAT, .height = 2 * LAT, .diffusion_model = bad[i].dm, .lora = bad[i].lora};
        evk_model *m = NULL;
        assert_int_equal(evk_model_load(ctx, path, &o, &m), bad[i].want);
        assert_null(m);
        printf("  -> %s\n", evk_error_message());
        assert_non_null(strstr(evk_error_message(), bad[i].says));
    }
    assert_int_equal(evk_context_validation_count(ctx), 0);
}

/* T2V-Turbo's own MS pipeline (T2VTurboMSPipeline + T2VTurboScheduler, fixtures_modelscope_lcm.py):
 * the timesteps, each step's UNet output at the pipeline's state, each update with the pipeline's
 * own noise (the scheduler's x ← a·x + b·ε̂ + c·z), the last x̂0 and its video. */
static void test_student_lcm(void **state) {
    evk_context *ctx = *state;
    char path[512], weights[512];
    evk_model_options opt = {.frames = FR, .width = 2 * LAT, .height = 2 * LAT,
                             .diffusion_model = fixture_path("modelscope/unet_lcm/diffusion_pytorch_model.safetensors", weights,
                                                             sizeof weights)};
    evk_model *model = NULL;
    TEST_OK(evk_model_load(ctx, fixture_path("modelscope", path, sizeof path), &opt, &model));
    evk_sampler_config sc;
    TEST_OK(evk_model_sampler_config(model, 4, &sc));
    evk_sampler *smp;
    TEST_OK(evk_sampler_create(&sc, &smp));
    evk_weights *fx = fixture_open(ctx, "modelscope/lcm_ref"), *tf = fixture_open(ctx, "modelscope/fixture");
    float *ts = fixture_read(fx, "lcm.timesteps", 1, (int64_t[]){4});
    for (uint32_t i = 0; i < 4; i++) assert_true(fabs(evk_sampler_get_step(smp, i)->timestep - ts[i]) < 1e-9);
    const int64_t n = 4 * FR * LAT * LAT, one5[5] = {1, 4, FR, LAT, LAT};
    float *text = fixture_read(tf, "text", 3, (int64_t[]){1, 77, 32});
    evk_tensor cond = fixture_upload(ctx, text, 3, (int64_t[]){1, 77, 32});
    evk_stream *s;
    TEST_OK(evk_stream_create(ctx, &s));
    float *pred = malloc((size_t)n * sizeof *pred), *upd = malloc((size_t)n * sizeof *upd), *last = NULL;
    for (uint32_t i = 0; i < 4; i++) {
        char name[64], what[64];
        snprintf(name, sizeof name, "lcm.x.%u", i);
        float *x = fixture_read(fx, name, 5, one5);
        snprintf(name, sizeof name, "lcm.pred.%u", i);
        float *want = fixture_read(fx, name, 5, one5);
        float tv = (float)evk_sampler_get_step(smp, i)->timestep, one = 1;
        evk_tensor tx = fixture_upload(ctx, x, 2, (int64_t[]){1, n}), tt = fixture_upload(ctx, &tv, 1, (int64_t[]){1}),
                   ta = fixture_upload(ctx, &one, 1, (int64_t[]){1}), out = fixture_output(ctx, 2, (int64_t[]){1, n});
        evk_model_input in = {.x = &tx, .timestep = &tt, .alpha = &ta, .sigma = &ta, .cond = &cond, .guidance = 7.5f};
        TEST_OK(evk_stream_begin(s));
        TEST_OK(evk_model_forward(model, s, &in, &out));
        TEST_OK(evk_stream_run(s));
        snprintf(what, sizeof what, "MS LCM step %u (t %g): UNet", i, (double)tv);
        assert_true(compare(ctx, &out, want, what) <= 1e-3);
        TEST_OK(evk_tensor_download_f32(ctx, &out, pred));
        const evk_sampler_step *st = evk_sampler_get_step(smp, i);
        snprintf(name, sizeof name, "lcm.noise.%u", i);
        float *z = fixture_read(fx, name, 5, one5);
        snprintf(name, sizeof name, "lcm.%s.%u", i < 3 ? "x" : "denoised", i < 3 ? i + 1 : i);
        float *next = fixture_read(fx, name, 5, one5);
        for (int64_t k = 0; k < n; k++) upd[k] = (float)(st->a * x[k] + st->b * pred[k] + st->noise_std * z[k]);
        snprintf(what, sizeof what, "MS LCM step %u: update", i);
        assert_true(compare_host(upd, next, (size_t)n, what) <= 1e-3);
        if (i == 3) assert_true(st->noise_std == 0.0); /* the last step returns x̂0 */
        free(x), free(want), free(z);
        if (i == 3) last = next;
        else free(next);
        evk_tensor *all[] = {&tx, &tt, &ta, &out};
        for (size_t k = 0; k < 4; k++) evk_tensor_free(ctx, all[k]);
    }
    /* the video: decode of the last x̂0 ([F, 3, H, W]) against the pipeline's [F, H, W, 3] */
    const int H = 2 * LAT, W = 2 * LAT;
    float *vid = fixture_read(fx, "lcm.video", 4, (int64_t[]){FR, H, W, 3});
    float *got = malloc((size_t)FR * 3 * H * W * sizeof *got), *ref = malloc((size_t)FR * 3 * H * W * sizeof *ref);
    TEST_OK(evk_model_decode_host(model, last, 1, got));
    for (int f = 0; f < FR; f++)
        for (int ch = 0; ch < 3; ch++)
            for (int p = 0; p < H * W; p++) ref[(f * 3 + ch) * H * W + p] = vid[(f * H * W + p) * 3 + ch];
    assert_true(compare_host(got, ref, (size_t)FR * 3 * H * W, "MS LCM video (decode)") <= 1e-3);
    assert_int_equal(evk_context_validation_count(ctx), 0);
    free(got), free(ref), free(vid), free(last), free(pred), free(upd), free(ts), free(text);
    evk_tensor_free(ctx, &cond);
    evk_stream_destroy(s);
    evk_sampler_destroy(smp);
    evk_weights_close(fx), evk_weights_close(tf);
    evk_model_destroy(model);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unet3d),
        cmocka_unit_test(test_unet3d_time_cond),
        cmocka_unit_test(test_unet3d_bad_weights),
        cmocka_unit_test(test_pipeline),
        cmocka_unit_test(test_student),
        cmocka_unit_test(test_lora),
        cmocka_unit_test(test_student_lcm),
    };
    return cmocka_run_group_tests(tests, test_group_setup, test_group_teardown);
}
