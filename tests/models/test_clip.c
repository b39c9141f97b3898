/* test_clip.c — the CLIP towers against tools/ref/clip.py on the fixtures of tests/data/nets:
 * SD 1.x-style text encoder (quick_gelu, legacy eos = argmax of the ids, padded with eos) and
 * SD 2.x-style (gelu, new-style eos that is not the highest id, padded with 0), last hidden state
 * and pooled output in f32 and f16 weight storage; a CLIPModel (text and vision towers,
 * projections; logits printed); the SD pipeline's prompt embeddings; every
 * checkpoint tensor read; missing and mis-shaped tensors named in the error. */
#include "net_fixture.h"
#include "models/clip/clip.h"
#include "formats/config.h"

static void load_text_config(const char *name, evk_clip_text_config *cfg) {
    char rel[64], path[512];
    snprintf(rel, sizeof rel, "%s.json", name);
    TEST_OK(evk_clip_text_config_load(fixture_path(rel, path, sizeof path), cfg));
}

/* Encode `ids` [B, 77] with the text tower of `ws`; errors of hidden / pooled against the names. */
static void run_text(evk_context *ctx, evk_weights *ws, const evk_clip_text_config *cfg, evk_dtype storage,
                     const int32_t *ids, int B, const char *hidden_name, const char *pooled_name, double *eh, double *ep) {
    evk_clip_text *m;
    TEST_OK(evk_clip_text_load(ctx, cfg, ws, storage, &m));
    const int64_t D = cfg->hidden_size, hs[3] = {B, 77, D}, ps[2] = {B, D};
    evk_tensor hidden = fixture_output(ctx, 3, hs), pooled = fixture_output(ctx, 2, ps);
    evk_stream *s;
    TEST_OK(evk_stream_create(ctx, &s));
    TEST_OK(evk_stream_begin(s));
    TEST_OK(evk_clip_text_forward(m, s, ids, B, 77, 0, &hidden, pooled_name ? &pooled : NULL));
    TEST_OK(evk_stream_run(s));
    float *want = fixture_read(ws, hidden_name, 3, hs);
    *eh = fixture_error(ctx, &hidden, want, hidden_name);
    free(want);
    if (pooled_name) {
        want = fixture_read(ws, pooled_name, 2, ps);
        *ep = fixture_error(ctx, &pooled, want, pooled_name);
        free(want);
    }
    evk_stream_destroy(s);
    evk_tensor_free(ctx, &hidden);
    evk_tensor_free(ctx, &pooled);
    evk_clip_text_destroy(m);
}

static void text_case(evk_context *ctx, const char *name, const int32_t want_pos[2]) {
    evk_weights *ws = fixture_open(ctx, name);
    evk_clip_text_config cfg;
    load_text_config(name, &cfg);
    int64_t n = 0;
    int32_t *ids = fixture_read_i32(ws, "fixture.input_ids", &n);
    assert_int_equal(n, 2 * 77);
    int32_t pos[2];
    evk_clip_text_eos_positions(&cfg, ids, 2, 77, pos);
    if (pos[0] != want_pos[0] || pos[1] != want_pos[1])
        fail_msg("%s: pooled positions %d, %d; transformers takes %d, %d", name, pos[0], pos[1], want_pos[0], want_pos[1]);
    const evk_dtype st[2] = {EVK_DTYPE_F32, EVK_DTYPE_F16};
    const double tol[2] = {1e-4, 5e-3};
    for (int k = 0; k < 2; k++) {
        double eh = 0, ep = 0;
        run_text(ctx, ws, &cfg, st[k], ids, 2, "fixture.last_hidden_state", "fixture.pooler_output", &eh, &ep);
        if (k == 0) fixture_assert_all_used(ws, name);
        printf("  %-16s %s weights: last_hidden_state rel L2 %.3g, pooled %.3g\n", name, evk_dtype_name(st[k]), eh, ep);
        if (!(eh <= tol[k]) || !(ep <= tol[k]))
            fail_msg("%s (%s weights): hidden error %.3g, pooled error %.3g > %.3g", name, evk_dtype_name(st[k]), eh, ep, tol[k]);
    }
    free(ids);
    evk_weights_close(ws);
}

/* legacy config (eos_token_id 2): argmax of the ids = the first eos (999) */
static void test_clip_text_sd15(void **state) { text_case(*state, "clip_text_sd15", (const int32_t[2]){4, 2}); }

/* new-style config (eos 998): the first 998, not the 999 before it */
static void test_clip_text_sd21(void **state) { text_case(*state, "clip_text_sd21", (const int32_t[2]){3, 4}); }

/* The prompt embeddings of the sd_pipeline_ddim case: [uncond, cond] through clip_text_sd15. */
static void test_clip_pipeline_embeddings(void **state) {
    evk_context *ctx = *state;
    evk_weights *pipe = fixture_open(ctx, "sd_pipeline_ddim");
    evk_weights *ws = fixture_open(ctx, "clip_text_sd15");
    evk_clip_text_config cfg;
    load_text_config("clip_text_sd15", &cfg);
    int64_t n1 = 0, n2 = 0;
    int32_t *cond = fixture_read_i32(pipe, "fixture.input_ids", &n1), *uncond = fixture_read_i32(pipe, "fixture.uncond_input_ids", &n2);
    assert_int_equal(n1, 2 * 77);
    assert_int_equal(n2, 2 * 77);
    int32_t ids[4 * 77];
    memcpy(ids, uncond, sizeof(int32_t) * 2 * 77);
    memcpy(ids + 2 * 77, cond, sizeof(int32_t) * 2 * 77);
    evk_clip_text *m;
    TEST_OK(evk_clip_text_load(ctx, &cfg, ws, EVK_DTYPE_F32, &m));
    const int64_t hs[3] = {4, 77, 32};
    evk_tensor hidden = fixture_output(ctx, 3, hs);
    evk_stream *s;
    TEST_OK(evk_stream_create(ctx, &s));
    TEST_OK(evk_stream_begin(s));
    TEST_OK(evk_clip_text_forward(m, s, ids, 4, 77, 0, &hidden, NULL));
    TEST_OK(evk_stream_run(s));
    float *want = fixture_read(pipe, "fixture.encoder_hidden_states", 3, hs);
    double e = fixture_error(ctx, &hidden, want, "pipeline prompt embeddings");
    printf("  pipeline prompt embeddings [uncond, cond]: rel L2 %.3g\n", e);
    if (!(e <= 1e-4)) fail_msg("pipeline prompt embeddings: relative L2 error %.3g > 1e-4", e);
    free(want);
    free(cond);
    free(uncond);
    evk_stream_destroy(s);
    evk_tensor_free(ctx, &hidden);
    evk_clip_text_destroy(m);
    evk_weights_close(ws);
    evk_weights_close(pipe);
}

static void test_clipmodel(void **state) {
    evk_context *ctx = *state;
    evk_weights *ws = fixture_open(ctx, "clipmodel");
    char path[512];
    evk_clip_config cfg;
    TEST_OK(evk_clip_config_load(fixture_path("clipmodel.json", path, sizeof path), &cfg));
    int64_t n = 0;
    int32_t *ids = fixture_read_i32(ws, "fixture.input_ids", &n);
    assert_int_equal(n, 3 * 77);
    const int64_t ps[4] = {2, 3, 32, 32}, tp[2] = {3, 32}, vp[2] = {2, 32}, te[2] = {3, 24}, ie[2] = {2, 24}, lg[2] = {2, 3};
    float *px = fixture_read(ws, "fixture.pixel_values", 4, ps);
    evk_clip_text *text;
    evk_clip_vision *vision;
    evk_clip_projections proj;
    TEST_OK(evk_clip_text_load(ctx, &cfg.text, ws, EVK_DTYPE_F32, &text));
    TEST_OK(evk_clip_vision_load(ctx, &cfg.vision, ws, EVK_DTYPE_F32, &vision));
    TEST_OK(evk_clip_projections_load(&cfg, ws, EVK_DTYPE_F32, &proj));
    evk_tensor images = fixture_upload(ctx, px, 4, ps), tpool = fixture_output(ctx, 2, tp),
               vpool = fixture_output(ctx, 2, vp);
    evk_stream *s;
    TEST_OK(evk_stream_create(ctx, &s));
    TEST_OK(evk_stream_begin(s));
    TEST_OK(evk_clip_text_forward(text, s, ids, 3, 77, 0, NULL, &tpool));
    TEST_OK(evk_clip_vision_forward(vision, s, &images, &vpool));
    evk_nn nn;
    evk_nn_init(&nn, s);
    evk_tensor temb = evk_nn_linear(&nn, &tpool, &proj.text), iemb = evk_nn_linear(&nn, &vpool, &proj.visual);
    TEST_OK(nn.status);
    TEST_OK(evk_stream_run(s));
    float *want = fixture_read(ws, "fixture.vision_pooler_output", 2, vp);
    double ev = fixture_error(ctx, &vpool, want, "vision pooled");
    free(want);
    want = fixture_read(ws, "fixture.text_embeds", 2, te);
    double et = fixture_error(ctx, &temb, want, "text_embeds");
    free(want);
    want = fixture_read(ws, "fixture.image_embeds", 2, ie);
    double ei = fixture_error(ctx, &iemb, want, "image_embeds");
    free(want);
    /* logits_per_image = exp(logit_scale) · cos(image, text), from the embeddings computed here */
    float ht[3 * 24], hi[2 * 24], logits[6];
    TEST_OK(evk_tensor_download_f32(ctx, &temb, ht));
    TEST_OK(evk_tensor_download_f32(ctx, &iemb, hi));
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 3; j++) {
            double d = 0, a = 0, b = 0;
            for (int k = 0; k < 24; k++) {
                d += (double)hi[i * 24 + k] * ht[j * 24 + k];
                a += (double)hi[i * 24 + k] * hi[i * 24 + k];
                b += (double)ht[j * 24 + k] * ht[j * 24 + k];
            }
            logits[i * 3 + j] = (float)(exp(proj.logit_scale) * d / sqrt(a * b));
        }
    want = fixture_read(ws, "fixture.logits_per_image", 2, lg);
    double ref[6];
    for (int i = 0; i < 6; i++) ref[i] = want[i];
    double el = test_rel_l2(logits, ref, 6);
    free(want);
    printf("  clipmodel: vision pooled %.3g, text_embeds %.3g, image_embeds %.3g, logits_per_image %.3g (logit_scale %g)\n",
           ev, et, ei, el, (double)proj.logit_scale);
    if (!(ev <= 1e-4) || !(et <= 1e-4) || !(ei <= 1e-4) || !(el <= 1e-4))
        fail_msg("clipmodel: vision pooled %.3g, text_embeds %.3g, image_embeds %.3g, logits %.3g (> 1e-4)", ev, et, ei, el);
    const char *unused[8];
    size_t nu = evk_weights_unused(ws, unused, 8);
    for (size_t i = 0; i < nu && i < 8; i++)
        if (strncmp(unused[i], "fixture.", 8) != 0) fail_msg("clipmodel: weight '%s' never read", unused[i]);
    evk_stream_destroy(s);
    evk_tensor_free(ctx, &images);
    evk_tensor_free(ctx, &tpool);
    evk_tensor_free(ctx, &vpool);
    evk_tensor_free(ctx, &temb);
    evk_tensor_free(ctx, &iemb);
    evk_clip_projections_free(ctx, &proj);
    evk_clip_vision_destroy(vision);
    evk_clip_text_destroy(text);
    free(px);
    free(ids);
    evk_weights_close(ws);
}

static void test_clip_bad_weights(void **state) {
    evk_context *ctx = *state;
    evk_weights *ws = fixture_open(ctx, "clip_text_sd21");
    evk_clip_text_config cfg;
    load_text_config("clip_text_sd21", &cfg);
    const char *deep = "text_model.encoder.layers.1.mlp.fc2.bias";
    fixture_map m = {.from = {deep}, .to = {NULL}, .count = 1};
    evk_weights_set_map(ws, fixture_map_fn, &m, NULL);
    evk_clip_text *t = (evk_clip_text *)&t;
    assert_int_not_equal(evk_clip_text_load(ctx, &cfg, ws, EVK_DTYPE_F32, &t), EVK_OK);
    assert_null(t);
    if (!strstr(evk_error_message(), deep)) fail_msg("missing tensor: %s", evk_error_message());
    printf("  missing tensor    %s\n", evk_error_message());
    const char *q = "text_model.encoder.layers.0.self_attn.q_proj.weight";
    fixture_map m2 = {.from = {q}, .to = {"text_model.encoder.layers.0.mlp.fc1.weight"}, .count = 1};
    evk_weights_set_map(ws, fixture_map_fn, &m2, NULL);
    assert_int_not_equal(evk_clip_text_load(ctx, &cfg, ws, EVK_DTYPE_F32, &t), EVK_OK);
    assert_null(t);
    if (!strstr(evk_error_message(), q)) fail_msg("mis-shaped tensor: %s", evk_error_message());
    printf("  mis-shaped tensor %s\n", evk_error_message());
    evk_weights_close(ws);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_clip_text_sd15),
        cmocka_unit_test(test_clip_text_sd21),
        cmocka_unit_test(test_clip_pipeline_embeddings),
        cmocka_unit_test(test_clipmodel),
        cmocka_unit_test(test_clip_bad_weights),
    };
    return cmocka_run_group_tests(tests, test_group_setup, test_group_teardown);
}
