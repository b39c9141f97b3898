/* test_vc2.c — the vc2 family (VideoCrafter2 / T2V-Turbo) against T2V-Turbo's own lvdm code on a
 * tiny random-weight model (tests/data/nets/vc2, written by tools/ref/fixtures_vc2.py): the
 * tokenizer and the OpenCLIP text tower, one 3-D UNet call of the teacher (fps 8) and of the
 * T2V-Turbo student (time_cond_proj, w-embedding), each step of T2V-Turbo's LCM scheduler with the
 * reference's own injected noise, the frame-by-frame decode (chunked or not: the same bits),
 * a quantised GGUF teacher UNet kept quantised on the device (tools/ref/fixtures_vc2_gguf.py),
 * T2V-Turbo v1's LoRA list merged at load with a w per batch item (tools/ref/fixtures_vc2_v2.py),
 * and loader errors for hostile configs and weight files (the message names the tensor and the file). */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "net_fixture.h"
#include "formats/tokenizer.h"
#include "models/model.h"
#include "models/sd/sd.h"
#include "models/video/vc2.h"
#include "samplers/sampler.h"

#define TOL 1e-3

static char dir[512], ckpt[600], yaml[600], turbo[600], ref[600];

static int setup(void **state) {
    fixture_path("vc2", dir, sizeof dir);
    snprintf(ckpt, sizeof ckpt, "%s/vc2_tiny.ckpt", dir);
    snprintf(yaml, sizeof yaml, "%s/vc2_tiny.yaml", dir);
    snprintf(turbo, sizeof turbo, "%s/vc2_tiny_turbo_unet.pt", dir);
    snprintf(ref, sizeof ref, "%s/vc2_tiny_ref.safetensors", dir);
    return test_group_setup(state);
}

static evk_model *load(evk_context *ctx, const char *diffusion_model) {
    evk_model_options o = {.config_dir = yaml, .diffusion_model = diffusion_model, .frames = 4};
    evk_model *m = NULL;
    TEST_OK(evk_model_load(ctx, ckpt, &o, &m));
    return m;
}

/* The fixture's UNet (vc2_tiny.yaml's unet_config), for loading one without the model interface. */
static void tiny_unet_config(evk_vc2_unet_config *uc) {
    evk_vc2_unet_config_default(uc);
    uc->in_channels = uc->out_channels = 4, uc->model_channels = 32, uc->num_res_blocks = 1, uc->levels = 2;
    uc->channel_mult[0] = uc->channel_mult[1] = 1;
    uc->n_attention_resolutions = 1, uc->attention_resolutions[0] = 1;
    uc->num_head_channels = 8, uc->context_dim = 8, uc->use_linear = true, uc->temporal_conv = true;
    uc->use_relative_position = false, uc->addition_attention = true, uc->fps_cond = true;
}

static evk_weights *open_ref(evk_context *ctx) {
    evk_weights *ws = NULL;
    TEST_OK(evk_weights_open(ctx, ref, &ws));
    return ws;
}

static void check(double e, const char *what) {
    print_message("  %-26s rel L2 %.3g\n", what, e);
    if (!(e <= TOL)) fail_msg("%s: relative L2 error %g > %g", what, e, TOL);
}

static void test_probe_and_info(void **state) {
    evk_context *ctx = *state;
    assert_true(evk_vc2_probe(ckpt));
    assert_false(evk_vc2_probe(turbo)); /* a UNet state dict alone (no prefix) is no model */
    assert_false(evk_vc2_probe(yaml));
    evk_model *m = load(ctx, NULL);
    const evk_model_info *mi = evk_model_get_info(m);
    assert_string_equal(mi->family, "vc2");
    assert_int_equal(mi->sample_ndim, 4);
    assert_int_equal(mi->sample_shape[0], 4);
    assert_int_equal(mi->sample_shape[1], 4);
    assert_int_equal(mi->sample_shape[2], 8);
    assert_int_equal(mi->frames, 4);
    assert_int_equal(mi->image_width, 16);
    assert_false(mi->guidance_embedded);
    evk_sampler_config sc;
    TEST_OK(evk_model_sampler_config(m, 4, &sc));
    assert_int_equal(sc.kind, EVK_SAMPLER_DDIM);
    evk_model_destroy(m);
    m = load(ctx, turbo);
    assert_true(evk_model_get_info(m)->guidance_embedded);
    TEST_OK(evk_model_sampler_config(m, 4, &sc));
    assert_int_equal(sc.kind, EVK_SAMPLER_LCM);
    evk_model_destroy(m);
    test_assert_no_validation(ctx);
}

/* A one-tensor safetensors file named `name` (what the probes read: the header). */
static void write_one_tensor(const char *path, const char *name) {
    char header[400];
    int n = snprintf(header, sizeof header, "{\"%s\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", name);
    while (n % 8) header[n++] = ' ';
    uint64_t len = (uint64_t)n;
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fwrite(&len, 8, 1, f);
    fwrite(header, 1, (size_t)n, f);
    float zero = 0;
    fwrite(&zero, 4, 1, f);
    fclose(f);
}

/* The sd family does not claim a video checkpoint, and vc2 does not claim an image one. */
static void test_probe_families(void **state) {
    (void)state;
    char path[300];
    snprintf(path, sizeof path, "%s/evoke_vc2_probe_%d.safetensors", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (int)getpid());
    write_one_tensor(path, "model.diffusion_model.input_blocks.1.0.temopral_conv.conv1.0.weight");
    assert_true(evk_vc2_probe(path));
    assert_false(evk_sd_probe(path));
    write_one_tensor(path, "model.diffusion_model.init_attn.0.norm.weight");
    assert_true(evk_vc2_probe(path));
    assert_false(evk_sd_probe(path));
    write_one_tensor(path, "model.diffusion_model.input_blocks.1.0.in_layers.0.weight");
    assert_false(evk_vc2_probe(path));
    assert_true(evk_sd_probe(path));
    unlink(path);
}

static void test_text(void **state) {
    evk_context *ctx = *state;
    evk_model *m = load(ctx, NULL);
    evk_vc2 *v = evk_vc2_of(m);
    assert_non_null(v);
    evk_weights *ws = open_ref(ctx);
    int64_t n;
    int32_t *ids = fixture_read_i32(ws, "text.ids", &n);
    assert_int_equal(n, 2 * 77);
    int32_t got[77];
    TEST_OK(evk_vc2_tokenize(v, "a red fox running through snow, cinematic", got));
    assert_memory_equal(got, ids, sizeof got);
    TEST_OK(evk_vc2_tokenize(v, "", got));
    assert_memory_equal(got, ids + 77, sizeof got);
    const char *prompts[2] = {"a red fox running through snow, cinematic", ""};
    evk_tensor out;
    TEST_OK(evk_vc2_encode_prompts(v, prompts, 2, &out));
    float *want = fixture_read(ws, "text.out", 3, (int64_t[]){2, 77, 8});
    check(fixture_error(ctx, &out, want, "text"), "text (penultimate, ln_final)");
    evk_tensor_free(ctx, &out);
    free(want);
    free(ids);
    evk_weights_close(ws);
    evk_model_destroy(m);
    test_assert_no_validation(ctx);
}

/* one UNet call: the teacher at fps 8 (both items), the student per item with its own w */
static void test_unet(void **state) {
    evk_context *ctx = *state;
    evk_weights *ws = open_ref(ctx);
    int64_t xs[5] = {2, 4, 4, 8, 8}, ones[5] = {1, 4, 4, 8, 8};
    float *x = fixture_read(ws, "unet.x", 5, xs), *t = fixture_read(ws, "unet.t", 1, (int64_t[]){2});
    float *c = fixture_read(ws, "unet.context", 3, (int64_t[]){2, 77, 8});
    float *o8 = fixture_read(ws, "unet.out_fps8", 5, xs), *ot = fixture_read(ws, "unet.out_turbo", 5, xs);
    float *w = fixture_read(ws, "unet.w", 1, (int64_t[]){2}), *wemb = fixture_read(ws, "unet.w_embedding", 2, (int64_t[]){2, 256});
    /* the w-embedding, as T2V-Turbo's get_w_embedding computes it (in f32: its arguments reach
     * 7500 rad, where one f32 ulp of the argument, 5e-4, is the agreement to expect) */
    float mine[256];
    for (int b = 0; b < 2; b++) {
        evk_vc2_w_embedding(w[b], 256, mine);
        for (int i = 0; i < 256; i++)
            if (fabsf(mine[i] - wemb[b * 256 + i]) > 2e-3f) fail_msg("w-embedding of %g, element %d: %g vs %g", w[b], i, mine[i], wemb[b * 256 + i]);
    }
    evk_tensor tx = fixture_upload(ctx, x, 5, xs), tt = fixture_upload(ctx, t, 1, (int64_t[]){2});
    evk_tensor tc = fixture_upload(ctx, c, 3, (int64_t[]){2, 77, 8}), out = fixture_output(ctx, 5, xs);
    evk_model *m = load(ctx, NULL);
    evk_stream *s;
    TEST_OK(evk_stream_create(ctx, &s));
    TEST_OK(evk_stream_begin(s));
    evk_vc2_unet_input ui = {.x = &tx, .t = &tt, .context = &tc, .fps = 8};
    TEST_OK(evk_vc2_unet_forward(evk_vc2_get_unet(evk_vc2_of(m)), s, &ui, &out));
    TEST_OK(evk_stream_run(s));
    check(fixture_error(ctx, &out, o8, "unet"), "UNet (teacher, fps 8)");
    /* without a time_cond_proj the UNet refuses a guidance embedding */
    ui.has_guidance = true;
    assert_int_equal(evk_vc2_unet_forward(evk_vc2_get_unet(evk_vc2_of(m)), s, &ui, &out), EVK_ERROR_INVALID_ARGUMENT);
    evk_model_destroy(m);
    m = load(ctx, turbo);
    for (int b = 0; b < 2; b++) {
        evk_tensor xb = fixture_upload(ctx, x + b * 1024, 5, ones), tb = fixture_upload(ctx, t + b, 1, (int64_t[]){1});
        evk_tensor cb = fixture_upload(ctx, c + b * 77 * 8, 3, (int64_t[]){1, 77, 8}), ob = fixture_output(ctx, 5, ones);
        /* through the model interface: one call, w as the input's guidance */
        evk_tensor xf, of;
        TEST_OK(evk_tensor_reshape(&xb, 2, (int64_t[]){1, 1024}, &xf));
        TEST_OK(evk_tensor_reshape(&ob, 2, (int64_t[]){1, 1024}, &of));
        evk_model_input in = {.x = &xf, .timestep = &tb, .alpha = &tb, .sigma = &tb, .cond = &cb, .guidance = w[b]};
        TEST_OK(evk_stream_begin(s));
        TEST_OK(evk_model_forward(m, s, &in, &of));
        TEST_OK(evk_stream_run(s));
        char what[64];
        snprintf(what, sizeof what, "UNet (student, w %g)", (double)w[b]);
        check(fixture_error(ctx, &ob, ot + b * 1024, what), what);
        evk_tensor_free(ctx, &xb), evk_tensor_free(ctx, &tb), evk_tensor_free(ctx, &cb), evk_tensor_free(ctx, &ob);
    }
    evk_model_destroy(m);
    /* T2V-Turbo-v2: the student's weights plus motion_cond_proj / combine_proj, motion scales 0.1, 0 */
    char motion[700];
    snprintf(motion, sizeof motion, "%s/vc2_tiny_motion.safetensors", dir);
    const char *files[2] = {turbo, motion};
    evk_weights *mw = NULL;
    TEST_OK(evk_weights_open_files(ctx, files, 2, &mw));
    evk_vc2_unet_config uc;
    tiny_unet_config(&uc);
    uc.time_cond_proj_dim = uc.motion_cond_proj_dim = 256;
    evk_vc2_unet *u2 = NULL;
    TEST_OK(evk_vc2_unet_load(ctx, &uc, mw, EVK_DTYPE_F32, &u2));
    float *om = fixture_read(ws, "unet.out_motion", 5, xs), *mg = fixture_read(ws, "unet.motion_gs", 1, (int64_t[]){2});
    for (int b = 0; b < 2; b++) {
        evk_tensor xb = fixture_upload(ctx, x + b * 1024, 5, ones), tb = fixture_upload(ctx, t + b, 1, (int64_t[]){1});
        evk_tensor cb = fixture_upload(ctx, c + b * 77 * 8, 3, (int64_t[]){1, 77, 8}), ob = fixture_output(ctx, 5, ones);
        evk_vc2_unet_input mi = {.x = &xb, .t = &tb, .context = &cb, .fps = 16, .has_guidance = true, .guidance = w[b],
                                 .motion_guidance = mg + b};
        TEST_OK(evk_stream_begin(s));
        TEST_OK(evk_vc2_unet_forward(u2, s, &mi, &ob));
        TEST_OK(evk_stream_run(s));
        char what[64];
        snprintf(what, sizeof what, "UNet (v2, motion %g)", (double)mg[b]);
        check(fixture_error(ctx, &ob, om + b * 1024, what), what);
        evk_tensor_free(ctx, &xb), evk_tensor_free(ctx, &tb), evk_tensor_free(ctx, &cb), evk_tensor_free(ctx, &ob);
    }
    fixture_assert_all_used(mw, "v2 UNet");
    evk_vc2_unet_destroy(u2);
    evk_weights_close(mw);
    free(om), free(mg);
    evk_stream_destroy(s);
    evk_tensor_free(ctx, &tx), evk_tensor_free(ctx, &tt), evk_tensor_free(ctx, &tc), evk_tensor_free(ctx, &out);
    free(x), free(t), free(c), free(o8), free(ot), free(w), free(wemb);
    evk_weights_close(ws);
    test_assert_no_validation(ctx);
}

/* The teacher UNet from a quantised GGUF file (fixtures_vc2_gguf.py: Q8_0 matrices, F16 kernels,
 * F32 biases and norms, the checkpoint's own names, ComfyUI-GGUF's orig_shape keys for the
 * reshaped and the 5-D kernels) as --diffusion-model: its matrices stay blocks on the device (fewer
 * bytes than the same file dequantised at load to f32), its output is the dequantised weights'
 * output up to the f16 rounding of its convolution kernels (as stored, kernels of quantised files
 * are dequantised to f16: 3e-4 here), and lvdm's output on the unquantised weights lies within the
 * quantisation error. */
static void test_gguf(void **state) {
    evk_context *ctx = *state;
    char gguf[700];
    snprintf(gguf, sizeof gguf, "%s/vc2_tiny_unet_q8.gguf", dir);
    evk_weights *ws = open_ref(ctx);
    int64_t xs[5] = {2, 4, 4, 8, 8};
    float *x = fixture_read(ws, "unet.x", 5, xs), *t = fixture_read(ws, "unet.t", 1, (int64_t[]){2});
    float *c = fixture_read(ws, "unet.context", 3, (int64_t[]){2, 77, 8}), *o8 = fixture_read(ws, "unet.out_fps8", 5, xs);
    evk_tensor tx = fixture_upload(ctx, x, 5, xs), tt = fixture_upload(ctx, t, 1, (int64_t[]){2});
    evk_tensor tc = fixture_upload(ctx, c, 3, (int64_t[]){2, 77, 8});
    evk_tensor outs[2] = {fixture_output(ctx, 5, xs), fixture_output(ctx, 5, xs)};
    evk_vc2_unet_input ui = {.x = &tx, .t = &tt, .context = &tc, .fps = 8};
    evk_stream *s;
    TEST_OK(evk_stream_create(ctx, &s));
    /* the UNet alone, as stored and dequantised to f32 at load, with the device bytes of each */
    evk_vc2_unet_config uc;
    tiny_unet_config(&uc);
    uint64_t bytes[2];
    const evk_dtype storage[2] = {EVK_DTYPE_QUANT, EVK_DTYPE_F32};
    for (int i = 0; i < 2; i++) {
        evk_weights *gw = NULL;
        TEST_OK(evk_weights_open(ctx, gguf, &gw));
        TEST_OK(evk_weights_set_prefix(gw, "model.diffusion_model."));
        assert_int_equal(evk_weights_storage(gw, EVK_DTYPE_F32), EVK_DTYPE_QUANT);
        evk_memory_stats m0, m1;
        evk_memory_get_stats(ctx, &m0);
        evk_vc2_unet *u = NULL;
        TEST_OK(evk_vc2_unet_load(ctx, &uc, gw, storage[i], &u));
        evk_memory_get_stats(ctx, &m1);
        bytes[i] = m1.in_use - m0.in_use;
        fixture_assert_all_used(gw, "GGUF UNet");
        TEST_OK(evk_stream_begin(s));
        TEST_OK(evk_vc2_unet_forward(u, s, &ui, &outs[i]));
        TEST_OK(evk_stream_run(s));
        evk_vc2_unet_destroy(u);
        evk_weights_close(gw);
    }
    size_t n = (size_t)evk_tensor_numel(&outs[1]);
    float *deq = malloc(n * sizeof(float));
    assert_non_null(deq);
    TEST_OK(evk_tensor_download_f32(ctx, &outs[1], deq));
    double e_deq = fixture_error(ctx, &outs[0], deq, "GGUF UNet as stored");
    print_message("  GGUF UNet: %llu device bytes as stored, %llu dequantised to f32; as stored vs dequantised rel L2 %.3g\n",
                  (unsigned long long)bytes[0], (unsigned long long)bytes[1], e_deq);
    if (!(e_deq <= 2e-3)) fail_msg("GGUF UNet: the blocks read on the device give %g from the dequantised weights' output", e_deq);
    if (!(bytes[0] < bytes[1] * 3 / 4)) fail_msg("GGUF UNet: %llu device bytes as stored, %llu at f32", (unsigned long long)bytes[0], (unsigned long long)bytes[1]);
    /* through the model interface (--diffusion-model), against lvdm on the unquantised weights */
    evk_model *m = load(ctx, gguf);
    test_poison(ctx, &outs[0].buf);
    TEST_OK(evk_stream_begin(s));
    TEST_OK(evk_vc2_unet_forward(evk_vc2_get_unet(evk_vc2_of(m)), s, &ui, &outs[0]));
    TEST_OK(evk_stream_run(s));
    double e_model = fixture_error(ctx, &outs[0], deq, "GGUF UNet (--diffusion-model)"), e_lvdm = fixture_error(ctx, &outs[0], o8, "GGUF UNet vs lvdm");
    print_message("  --diffusion-model GGUF: vs dequantised %.3g, vs lvdm's unquantised output %.3g\n", e_model, e_lvdm);
    if (!(e_model <= 2e-3)) fail_msg("--diffusion-model GGUF: %g from the dequantised weights' output", e_model);
    if (!(e_lvdm > 1e-6 && e_lvdm <= 3e-2)) fail_msg("--diffusion-model GGUF: %g from lvdm's unquantised output", e_lvdm);
    evk_model_destroy(m);
    evk_stream_destroy(s);
    for (int i = 0; i < 2; i++) evk_tensor_free(ctx, &outs[i]);
    evk_tensor_free(ctx, &tx), evk_tensor_free(ctx, &tt), evk_tensor_free(ctx, &tc);
    free(x), free(t), free(c), free(o8), free(deq);
    evk_weights_close(ws);
    test_assert_no_validation(ctx);
}

/* T2V-Turbo v1's LoRA list merged at load (fixtures_vc2_v2.py: upstream's LoraHandler +
 * collapse_lora over a student whose embeddings show in its output), one call with a w per item
 * through the model interface; the list over a base without time_cond_proj (upstream's
 * random-weight case) and files that are no list refused. */
static void test_lora(void **state) {
    evk_context *ctx = *state;
    char lora[700], lref[700], v2[700], v2yaml[700];
    snprintf(lora, sizeof lora, "%s/vc2_tiny_lora.pt", dir);
    snprintf(lref, sizeof lref, "%s/vc2_tiny_v2_ref.safetensors", dir);
    snprintf(v2, sizeof v2, "%s/vc2_tiny_v2_unet.safetensors", dir);
    snprintf(v2yaml, sizeof v2yaml, "%s/vc2_tiny_v2.yaml", dir);
    evk_weights *ws = NULL;
    TEST_OK(evk_weights_open(ctx, lref, &ws));
    int64_t xs[5] = {2, 4, 4, 8, 8}, flat[2] = {2, 1024};
    float *x = fixture_read(ws, "lora.x", 5, xs), *t = fixture_read(ws, "lora.t", 1, (int64_t[]){2});
    float *c = fixture_read(ws, "lora.context", 3, (int64_t[]){2, 77, 8}), *w = fixture_read(ws, "lora.w", 1, (int64_t[]){2});
    float *ref_out = fixture_read(ws, "lora.out", 5, xs);
    evk_model_options o = {.config_dir = v2yaml, .diffusion_model = v2, .lora = lora, .frames = 4, .fps = 16};
    evk_model *m = NULL;
    TEST_OK(evk_model_load(ctx, ckpt, &o, &m));
    evk_tensor tx = fixture_upload(ctx, x, 2, flat), tt = fixture_upload(ctx, t, 1, (int64_t[]){2});
    evk_tensor tc = fixture_upload(ctx, c, 3, (int64_t[]){2, 77, 8}), out = fixture_output(ctx, 2, flat);
    evk_stream *s;
    TEST_OK(evk_stream_create(ctx, &s));
    /* both items in one call, each with its own w (7.5 and 3) */
    evk_model_input in = {.x = &tx, .timestep = &tt, .alpha = &tt, .sigma = &tt, .cond = &tc, .guidance = 99, .guidance_items = w};
    TEST_OK(evk_stream_begin(s));
    TEST_OK(evk_model_forward(m, s, &in, &out));
    TEST_OK(evk_stream_run(s));
    check(fixture_error(ctx, &out, ref_out, "lora"), "UNet + LoRA list, w 7.5 | 3");
    /* one w for both (7.5): the second item then differs from the reference */
    in.guidance_items = NULL, in.guidance = w[0];
    TEST_OK(evk_stream_begin(s));
    TEST_OK(evk_model_forward(m, s, &in, &out));
    TEST_OK(evk_stream_run(s));
    float *got = malloc(2048 * sizeof *got);
    TEST_OK(evk_tensor_download_f32(ctx, &out, got));
    double num = 0, den = 0;
    for (int i = 1024; i < 2048; i++) num += (got[i] - ref_out[i]) * (double)(got[i] - ref_out[i]), den += ref_out[i] * (double)ref_out[i];
    print_message("  one w for both: item 2 moves by %.3g\n", sqrt(num / den));
    assert_true(sqrt(num / den) > 1e-2);
    free(got);
    evk_stream_destroy(s);
    evk_model_destroy(m);
    /* a UNet without motion_cond_proj: motion guidance refused */
    m = load(ctx, turbo);
    assert_false(evk_model_get_info(m)->motion_guidance);
    evk_model_destroy(m);
    /* the list as --diffusion-model over the checkpoint's own UNet (no time_cond_proj): refused */
    evk_model_options o2 = {.config_dir = v2yaml, .diffusion_model = lora};
    assert_int_equal(evk_model_load(ctx, ckpt, &o2, &m), EVK_ERROR_INVALID_ARGUMENT);
    print_message("  -> %s\n", evk_error_message());
    assert_non_null(strstr(evk_error_message(), "time_cond_proj with random weights"));
    /* a file that is no list as --lora; a list of another UNet (the tiny teacher's: fewer layers) */
    evk_model_options o3 = {.config_dir = v2yaml, .diffusion_model = v2, .lora = v2};
    assert_int_equal(evk_model_load(ctx, ckpt, &o3, &m), EVK_ERROR_FORMAT);
    print_message("  -> %s\n", evk_error_message());
    evk_model_options o4 = {.config_dir = yaml, .diffusion_model = turbo, .lora = lora};
    assert_int_equal(evk_model_load(ctx, ckpt, &o4, &m), EVK_ERROR_FORMAT);
    print_message("  -> %s\n", evk_error_message());
    assert_non_null(strstr(evk_error_message(), "Linear/Conv2d/Conv3d layers"));
    evk_tensor_free(ctx, &tx), evk_tensor_free(ctx, &tt), evk_tensor_free(ctx, &tc), evk_tensor_free(ctx, &out);
    free(x), free(t), free(c), free(w), free(ref_out);
    evk_weights_close(ws);
    test_assert_no_validation(ctx);
}

/* T2V-Turbo's LCM: timesteps, each step's model output and update (with the reference's noise),
 * the last x̂0 and its decode. */
static void test_lcm(void **state) {
    evk_context *ctx = *state;
    evk_weights *ws = open_ref(ctx);
    evk_model *m = load(ctx, turbo);
    evk_sampler_config sc;
    TEST_OK(evk_model_sampler_config(m, 4, &sc));
    evk_sampler *smp;
    TEST_OK(evk_sampler_create(&sc, &smp));
    float *ts = fixture_read(ws, "lcm.timesteps", 1, (int64_t[]){4});
    for (uint32_t i = 0; i < 4; i++) assert_true(fabs(evk_sampler_get_step(smp, i)->timestep - ts[i]) < 1e-9);
    float *cond_text = fixture_read(ws, "text.out", 3, (int64_t[]){2, 77, 8});
    evk_tensor cond = fixture_upload(ctx, cond_text, 3, (int64_t[]){1, 77, 8});
    int64_t xs[2] = {1, 1024};
    evk_stream *s;
    TEST_OK(evk_stream_create(ctx, &s));
    float *pred = malloc(1024 * sizeof *pred), *last = NULL;
    for (uint32_t i = 0; i < 4; i++) {
        char n[64];
        snprintf(n, sizeof n, "lcm.x.%u", i);
        float *x = fixture_read(ws, n, 5, (int64_t[]){1, 4, 4, 8, 8});
        snprintf(n, sizeof n, "lcm.pred.%u", i);
        float *want = fixture_read(ws, n, 5, (int64_t[]){1, 4, 4, 8, 8});
        evk_tensor tx = fixture_upload(ctx, x, 2, xs), out = fixture_output(ctx, 2, xs);
        float tv = (float)evk_sampler_get_step(smp, i)->timestep;
        evk_tensor tt = fixture_upload(ctx, &tv, 1, (int64_t[]){1});
        evk_model_input in = {.x = &tx, .timestep = &tt, .alpha = &tt, .sigma = &tt, .cond = &cond, .guidance = 7.5f};
        TEST_OK(evk_stream_begin(s));
        TEST_OK(evk_model_forward(m, s, &in, &out));
        TEST_OK(evk_stream_run(s));
        snprintf(n, sizeof n, "LCM step %u: model", i);
        check(fixture_error(ctx, &out, want, n), n);
        TEST_OK(evk_tensor_download_f32(ctx, &out, pred));
        /* the step: x ← a·x + b·ε̂ + noise_std·z with the reference's own z */
        const evk_sampler_step *st = evk_sampler_get_step(smp, i);
        snprintf(n, sizeof n, "lcm.noise.%u", i);
        float *z = fixture_read(ws, n, 5, (int64_t[]){1, 4, 4, 8, 8});
        snprintf(n, sizeof n, i < 3 ? "lcm.x.%u" : "lcm.denoised.%u", i < 3 ? i + 1 : i);
        float *next = fixture_read(ws, n, 5, (int64_t[]){1, 4, 4, 8, 8});
        double *got = malloc(1024 * sizeof *got);
        float *gotf = malloc(1024 * sizeof *gotf);
        for (int k = 0; k < 1024; k++) {
            got[k] = st->a * x[k] + st->b * want[k] + st->noise_std * z[k];
            gotf[k] = (float)got[k];
        }
        double *rd = malloc(1024 * sizeof *rd);
        for (int k = 0; k < 1024; k++) rd[k] = next[k];
        double e = test_rel_l2(gotf, rd, 1024);
        snprintf(n, sizeof n, "LCM step %u: update", i);
        check(e, n);
        if (i == 3) assert_true(st->noise_std == 0.0); /* the last step returns x̂0 (denoised) */
        free(got), free(gotf), free(rd), free(z), free(x), free(want);
        if (i == 3) last = next;
        else free(next);
        evk_tensor_free(ctx, &tx), evk_tensor_free(ctx, &out), evk_tensor_free(ctx, &tt);
    }
    /* the video: decode of the last x̂0, [F, 3, H, W] in [0, 1] against lvdm's [F, H, W, 3] */
    float *vid = fixture_read(ws, "lcm.video", 4, (int64_t[]){4, 16, 16, 3});
    float *got = malloc(4 * 3 * 256 * sizeof *got);
    TEST_OK(evk_model_decode_host(m, last, 1, got));
    double *rd = malloc(4 * 3 * 256 * sizeof *rd);
    for (int f = 0; f < 4; f++)
        for (int ch = 0; ch < 3; ch++)
            for (int p = 0; p < 256; p++) rd[(f * 3 + ch) * 256 + p] = vid[(f * 256 + p) * 3 + ch];
    check(test_rel_l2(got, rd, 4 * 3 * 256), "LCM video (decode)");
    free(rd), free(got), free(vid), free(last), free(pred), free(ts), free(cond_text);
    evk_tensor_free(ctx, &cond);
    evk_stream_destroy(s);
    evk_sampler_destroy(smp);
    evk_model_destroy(m);
    evk_weights_close(ws);
    test_assert_no_validation(ctx);
}

/* decode_first_stage_2DAE: 1/0.18215, frame by frame; chunks of 1 or 3 frames give the same bits */
static void test_decode(void **state) {
    evk_context *ctx = *state;
    evk_weights *ws = open_ref(ctx);
    evk_model *m = load(ctx, NULL);
    evk_vc2 *v = evk_vc2_of(m);
    int64_t zs[5] = {1, 4, 4, 8, 8}, is[4] = {4, 3, 16, 16};
    float *z = fixture_read(ws, "decode.z", 5, zs), *want = fixture_read(ws, "decode.video", 5, (int64_t[]){1, 3, 4, 16, 16});
    float *perm = malloc(4 * 3 * 256 * sizeof *perm);
    for (int ch = 0; ch < 3; ch++)
        for (int f = 0; f < 4; f++) memcpy(perm + (f * 3 + ch) * 256, want + (ch * 4 + f) * 256, 256 * sizeof *perm);
    evk_tensor tz = fixture_upload(ctx, z, 5, zs);
    float *bits[3];
    uint32_t chunks[3] = {0, 1, 3};
    evk_stream *s;
    TEST_OK(evk_stream_create(ctx, &s));
    for (int k = 0; k < 3; k++) {
        evk_tensor out = fixture_output(ctx, 4, is);
        TEST_OK(evk_stream_begin(s));
        TEST_OK(evk_vc2_decode_raw(v, s, &tz, chunks[k], &out));
        TEST_OK(evk_stream_run(s));
        if (k == 0) check(fixture_error(ctx, &out, perm, "decode"), "decode (frame by frame)");
        bits[k] = malloc(4 * 3 * 256 * sizeof(float));
        TEST_OK(evk_tensor_download_f32(ctx, &out, bits[k]));
        evk_tensor_free(ctx, &out);
    }
    assert_memory_equal(bits[0], bits[1], 4 * 3 * 256 * sizeof(float));
    assert_memory_equal(bits[0], bits[2], 4 * 3 * 256 * sizeof(float));
    for (int k = 0; k < 3; k++) free(bits[k]);
    evk_stream_destroy(s);
    evk_tensor_free(ctx, &tz);
    free(z), free(want), free(perm);
    evk_model_destroy(m);
    evk_weights_close(ws);
    test_assert_no_validation(ctx);
}

static char tmpdir[256];

/* A copy of the fixture yaml with one line replaced, written to `out` (in a folder that also
 * holds the text tower's VC2Tiny.json). */
static void yaml_variant(const char *from, const char *to, char *out, size_t n) {
    if (!tmpdir[0]) {
        snprintf(tmpdir, sizeof tmpdir, "%s/evoke_vc2_XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
        assert_non_null(mkdtemp(tmpdir));
        char src[700], dst[700], jb[4096];
        snprintf(src, sizeof src, "%s/VC2Tiny.json", dir);
        snprintf(dst, sizeof dst, "%s/VC2Tiny.json", tmpdir);
        FILE *a = fopen(src, "rb"), *b = fopen(dst, "wb");
        assert_non_null(a);
        assert_non_null(b);
        size_t k = fread(jb, 1, sizeof jb, a);
        fwrite(jb, 1, k, b);
        fclose(a);
        fclose(b);
    }
    FILE *f = fopen(yaml, "rb");
    assert_non_null(f);
    char buf[8192];
    size_t len = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[len] = 0;
    char *at = strstr(buf, from);
    if (!at) fail_msg("yaml has no '%s'", from);
    snprintf(out, n, "%s/variant.yaml", tmpdir);
    f = fopen(out, "wb");
    assert_non_null(f);
    fwrite(buf, 1, (size_t)(at - buf), f);
    fputs(to, f);
    fputs(at + strlen(from), f);
    fclose(f);
}

static void expect_error(evk_context *ctx, const char *cfg, const char *dm, evk_status code, const char *a, const char *b) {
    evk_model_options o = {.config_dir = cfg, .diffusion_model = dm};
    evk_model *m = NULL;
    evk_status st = evk_model_load(ctx, ckpt, &o, &m);
    const char *msg = evk_error_message();
    print_message("  -> %s\n", msg);
    assert_int_equal(st, code);
    assert_null(m);
    if (a && !strstr(msg, a)) fail_msg("message lacks '%s': %s", a, msg);
    if (b && !strstr(msg, b)) fail_msg("message lacks '%s': %s", b, msg);
}

static void test_hostile(void **state) {
    evk_context *ctx = *state;
    char p[600];
    /* wrong shapes: a config wider than the weights */
    yaml_variant("model_channels: 32", "model_channels: 64", p, sizeof p);
    expect_error(ctx, p, NULL, EVK_ERROR_FORMAT, "'time_embed.0.weight' has shape [128, 32], expected [256, 64]", "vc2_tiny.ckpt");
    /* missing tensors: a config with more blocks than the checkpoint holds */
    yaml_variant("num_res_blocks: 1\n        channel_mult", "num_res_blocks: 2\n        channel_mult", p, sizeof p);
    expect_error(ctx, p, NULL, EVK_ERROR_FORMAT, "input_blocks.", "vc2_tiny.ckpt");
    /* time_cond_proj promised by the config but absent from the weights */
    yaml_variant("fps_cond: true", "fps_cond: true\n        time_cond_proj_dim: 256", p, sizeof p);
    expect_error(ctx, p, NULL, EVK_ERROR_FORMAT, "time_cond_proj", "vc2_tiny.ckpt");
    /* unsupported settings and malformed yaml */
    yaml_variant("use_relative_position: false", "use_relative_position: true", p, sizeof p);
    expect_error(ctx, p, NULL, EVK_ERROR_UNSUPPORTED, "use_relative_position", NULL);
    yaml_variant("model_channels: 32", "model_channels: [32", p, sizeof p);
    expect_error(ctx, p, NULL, EVK_ERROR_FORMAT, "variant.yaml:", "unterminated flow sequence");
    yaml_variant("arch: VC2Tiny", "arch: NoSuchArch", p, sizeof p);
    expect_error(ctx, p, NULL, EVK_ERROR_IO, "NoSuchArch.json", NULL);
    /* a tokenizer/ folder beside the yaml replaces OpenCLIP's built-in tokenizer (this one pads
     * with <|endoftext|>, OpenCLIP with id 0) */
    yaml_variant("arch: VC2Tiny", "arch: VC2Tiny", p, sizeof p);
    char tdir[300], tf[400], src[600];
    snprintf(tdir, sizeof tdir, "%s/tokenizer", tmpdir);
    assert_int_equal(mkdir(tdir, 0700), 0);
    static const char *const tfiles[] = {"vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json"};
    for (int i = 0; i < 4; i++) {
        snprintf(tf, sizeof tf, "tokenizer/%s", tfiles[i]);
        FILE *a = fopen(test_data_path(tf, src, sizeof src), "rb");
        snprintf(tf, sizeof tf, "%s/%s", tdir, tfiles[i]);
        FILE *b = fopen(tf, "wb");
        assert_non_null(a);
        assert_non_null(b);
        char cb[4096];
        size_t k;
        while ((k = fread(cb, 1, sizeof cb, a)) > 0) assert_int_equal(fwrite(cb, 1, k, b), k);
        fclose(a);
        fclose(b);
    }
    evk_model_options o = {.config_dir = p, .frames = 2};
    evk_model *m = NULL;
    TEST_OK(evk_model_load(ctx, ckpt, &o, &m));
    evk_tokenizer *tok = NULL;
    TEST_OK(evk_tokenizer_load(tdir, &tok));
    int32_t got[77], want[77];
    evk_tokenize_info info;
    TEST_OK(evk_tokenizer_encode(tok, "a red fox running", want, 77, &info));
    TEST_OK(evk_vc2_tokenize(evk_vc2_of(m), "a red fox running", got));
    assert_memory_equal(got, want, sizeof got);
    assert_int_not_equal(got[76], 0);
    evk_tokenizer_destroy(tok);
    evk_model_destroy(m);
    m = NULL;
    for (int i = 0; i < 4; i++) {
        snprintf(tf, sizeof tf, "%s/%s", tdir, tfiles[i]);
        unlink(tf);
    }
    rmdir(tdir);
    /* the yaml beside the checkpoint (same name) is found without --config */
    o = (evk_model_options){.frames = 2};
    TEST_OK(evk_model_load(ctx, ckpt, &o, &m));
    assert_int_equal(evk_model_get_info(m)->sample_shape[1], 2);
    evk_model_destroy(m);
    /* another name and no yaml: VideoCrafter2's built-in config, whose shapes this file lacks */
    char link[700];
    snprintf(link, sizeof link, "%s/other.ckpt", tmpdir);
    char abs_ckpt[PATH_MAX];
    assert_non_null(realpath(ckpt, abs_ckpt));
    assert_int_equal(symlink(abs_ckpt, link), 0);
    o.frames = 0;
    evk_status st = evk_model_load(ctx, link, &o, &m);
    print_message("  -> %s\n", evk_error_message());
    assert_int_equal(st, EVK_ERROR_FORMAT);
    assert_non_null(strstr(evk_error_message(), "expected [1280, 320]"));
    unlink(link);
    /* a --diffusion-model file without the UNet */
    expect_error(ctx, yaml, ref, EVK_ERROR_FORMAT, "'time_embed.0.weight' is missing", "vc2_tiny_ref.safetensors");
    unlink(p);
    char j[300];
    snprintf(j, sizeof j, "%s/VC2Tiny.json", tmpdir);
    unlink(j);
    rmdir(tmpdir);
    test_assert_no_validation(ctx);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_probe_and_info), cmocka_unit_test(test_probe_families), cmocka_unit_test(test_text), cmocka_unit_test(test_unet), cmocka_unit_test(test_gguf),
        cmocka_unit_test(test_lora),          cmocka_unit_test(test_lcm),           cmocka_unit_test(test_decode), cmocka_unit_test(test_hostile),
    };
    return cmocka_run_group_tests(tests, setup, test_group_teardown);
}
