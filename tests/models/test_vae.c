/* test_vae.c — the AutoencoderKL decoder against tools/ref/vae.py on the `vae` fixture
 * (tests/data/nets) and on the final latents of the sd_pipeline_ddim case: f32 and f16 weight
 * storage, the chunked matmul attention path (query rows not dividing the token count), pre-0.14
 * attention tensor names, feature maps larger than one binding decoded in one call as if unsplit,
 * every checkpoint tensor read, missing and mis-shaped tensors named in
 * the error, bad config and bad shapes rejected. */
#include "net_fixture.h"
#include "formats/config.h"
#include "models/sd/vae.h"

typedef struct vae_case {
    evk_vae_config cfg;
    float *latents, *image;
    int64_t lat_shape[4], img_shape[4];
} vae_case;

static void vae_case_load(vae_case *c, evk_weights *ws) {
    char path[512];
    TEST_OK(evk_vae_config_load(fixture_path("vae.json", path, sizeof path), &c->cfg));
    const int64_t ls[4] = {2, 4, 8, 8}, is[4] = {2, 3, 16, 16};
    memcpy(c->lat_shape, ls, sizeof ls);
    memcpy(c->img_shape, is, sizeof is);
    c->latents = fixture_read(ws, "fixture.latents", 4, ls);
    c->image = fixture_read(ws, "fixture.image", 4, is);
}

static void vae_case_free(vae_case *c) {
    free(c->latents);
    free(c->image);
}

/* Decode the fixture's latents with `dec` and return the relative L2 error of the image. */
static double decode_error(evk_context *ctx, evk_vae_decoder *dec, const vae_case *c, const char *what) {
    evk_tensor lat = fixture_upload(ctx, c->latents, 4, c->lat_shape), img = fixture_output(ctx, 4, c->img_shape);
    evk_stream *s;
    TEST_OK(evk_stream_create(ctx, &s));
    TEST_OK(evk_stream_begin(s));
    TEST_OK(evk_vae_decode(dec, s, &lat, &img));
    TEST_OK(evk_stream_run(s));
    double e = fixture_error(ctx, &img, c->image, what);
    /* the latents are an input: decoding must leave them as they were */
    float *after = malloc(sizeof(float) * 2 * 4 * 8 * 8);
    TEST_OK(evk_tensor_download_f32(ctx, &lat, after));
    assert_memory_equal(after, c->latents, sizeof(float) * 2 * 4 * 8 * 8);
    free(after);
    evk_stream_destroy(s);
    evk_tensor_free(ctx, &lat);
    evk_tensor_free(ctx, &img);
    printf("  %-40s rel L2 %.3g\n", what, e);
    return e;
}

static void test_vae_decode_f32_f16(void **state) {
    evk_context *ctx = *state;
    evk_weights *ws = fixture_open(ctx, "vae");
    vae_case c;
    vae_case_load(&c, ws);
    evk_vae_decoder *dec;
    TEST_OK(evk_vae_decoder_load(ctx, &c.cfg, ws, EVK_DTYPE_F32, &dec));
    fixture_assert_all_used(ws, "vae");
    assert_int_equal(evk_vae_decoder_upscale(dec), 2);
    assert_int_equal(evk_vae_decoder_config(dec)->latent_channels, 4);
    double e = decode_error(ctx, dec, &c, "vae f32");
    if (!(e <= 1e-4)) fail_msg("vae f32: relative L2 error %.3g > 1e-4", e);
    evk_vae_decoder_destroy(dec);

    TEST_OK(evk_vae_decoder_load(ctx, &c.cfg, ws, EVK_DTYPE_F16, &dec));
    e = decode_error(ctx, dec, &c, "vae f16 weights");
    if (!(e <= 5e-3)) fail_msg("vae f16 weights: relative L2 error %.3g > 5e-3", e);
    evk_vae_decoder_destroy(dec);
    vae_case_free(&c);
    evk_weights_close(ws);
}

/* The last stage of the sd_pipeline_ddim case: its final latents through the vae case's decoder. */
static void test_vae_pipeline_image(void **state) {
    evk_context *ctx = *state;
    evk_weights *ws = fixture_open(ctx, "vae"), *pipe = fixture_open(ctx, "sd_pipeline_ddim");
    vae_case c;
    vae_case_load(&c, ws);
    free(c.latents);
    free(c.image);
    c.latents = fixture_read(pipe, "fixture.final_latents", 4, c.lat_shape);
    c.image = fixture_read(pipe, "fixture.image", 4, c.img_shape);
    evk_vae_decoder *dec;
    TEST_OK(evk_vae_decoder_load(ctx, &c.cfg, ws, EVK_DTYPE_F32, &dec));
    double e = decode_error(ctx, dec, &c, "sd_pipeline_ddim final image");
    if (!(e <= 1e-4)) fail_msg("pipeline image: relative L2 error %.3g > 1e-4", e);
    evk_vae_decoder_destroy(dec);
    vae_case_free(&c);
    evk_weights_close(pipe);
    evk_weights_close(ws);
}

/* The path real VAEs take (one 512-wide head): matmul + softmax over chunks of query rows. */
static void test_vae_attention_matmul_chunks(void **state) {
    evk_context *ctx = *state;
    evk_weights *ws = fixture_open(ctx, "vae");
    vae_case c;
    vae_case_load(&c, ws);
    evk_vae_decoder *dec;
    TEST_OK(evk_vae_decoder_load(ctx, &c.cfg, ws, EVK_DTYPE_F32, &dec));
    /* whole rows at once, then 5-row chunks (64 tokens: 12 full chunks and one of 4), then a
     * byte budget that allows 3 rows */
    evk_vae_decode_options o = {.attention_matmul = true};
    const struct { int64_t rows; uint64_t budget; const char *what; } runs[] = {
        {0, 0, "vae matmul attention"},
        {5, 0, "vae matmul attention, 5-row chunks"},
        {0, 2 * 64 * 4 * 3 + 7, "vae matmul attention, 3-row budget"},
    };
    for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
        o.attention_rows = runs[i].rows;
        o.attention_budget = runs[i].budget;
        evk_vae_decoder_set_options(dec, &o);
        double e = decode_error(ctx, dec, &c, runs[i].what);
        if (!(e <= 1e-4)) fail_msg("%s: relative L2 error %.3g > 1e-4", runs[i].what, e);
    }
    evk_vae_decoder_set_options(dec, NULL);
    evk_vae_decoder_destroy(dec);
    vae_case_free(&c);
    evk_weights_close(ws);
}

/* A checkpoint saved by diffusers < 0.14 names the attention query/key/value/proj_attn: this map
 * hides the modern names and serves the legacy ones from the stored modern tensors. */
static evk_status legacy_map_fn(const void *user, const char *name, evk_weight_ref *ref) {
    (void)user;
    static const char *const pairs[][2] = {{".to_q.", ".query."}, {".to_k.", ".key."}, {".to_v.", ".value."},
                                           {".to_out.0.", ".proj_attn."}};
    memset(ref, 0, sizeof *ref);
    snprintf(ref->name, sizeof ref->name, "%s", name);
    if (strncmp(name, "decoder.mid_block.attentions.0.", 31) != 0) return EVK_OK;
    for (int i = 0; i < 4; i++) {
        const char *hit = strstr(name, pairs[i][0]);
        if (hit) snprintf(ref->name, sizeof ref->name, "absent.tensor");
        hit = strstr(name, pairs[i][1]);
        if (hit) snprintf(ref->name, sizeof ref->name, "%.*s%s%s", (int)(hit - name), name, pairs[i][0],
                          hit + strlen(pairs[i][1]));
    }
    return EVK_OK;
}

static void test_vae_legacy_attention_names(void **state) {
    evk_context *ctx = *state;
    evk_weights *ws = fixture_open(ctx, "vae");
    vae_case c;
    vae_case_load(&c, ws);
    evk_weights_set_map(ws, legacy_map_fn, NULL, NULL);
    assert_false(evk_weights_has(ws, "decoder.mid_block.attentions.0.to_q.weight"));
    assert_true(evk_weights_has(ws, "decoder.mid_block.attentions.0.query.weight"));
    evk_vae_decoder *dec;
    TEST_OK(evk_vae_decoder_load(ctx, &c.cfg, ws, EVK_DTYPE_F32, &dec));
    double e = decode_error(ctx, dec, &c, "vae, pre-0.14 attention names");
    if (!(e <= 1e-4)) fail_msg("legacy names: relative L2 error %.3g > 1e-4", e);
    evk_vae_decoder_destroy(dec);
    vae_case_free(&c);
    evk_weights_close(ws);
}

/* Loading must fail with `status` and a message naming `needle`. */
static void expect_load_error(evk_context *ctx, evk_weights *ws, const evk_vae_config *cfg, evk_status status,
                              const char *needle, const char *what) {
    evk_vae_decoder *dec = (evk_vae_decoder *)&dec;
    evk_status s = evk_vae_decoder_load(ctx, cfg, ws, EVK_DTYPE_F32, &dec);
    if (s != status) fail_msg("%s: expected %s, got %s (%s)", what, evk_status_name(status), evk_status_name(s), evk_error_message());
    assert_null(dec);
    if (!strstr(evk_error_message(), needle)) fail_msg("%s: message lacks '%s': %s", what, needle, evk_error_message());
    printf("  %-40s %s\n", what, evk_error_message());
}

/* Tiled decoding (tiles of 8 latents, overlap 0.25 over 20×20 latents: uneven last tiles) against
 * diffusers' tiled_decode in tools/ref/vae.py (tools/ref/fixtures_vae_tiled.py). */
static void test_vae_tiled(void **state) {
    evk_context *ctx = *state;
    evk_weights *ws = fixture_open(ctx, "vae"), *tw = fixture_open(ctx, "vae_tiled");
    char path[512];
    evk_vae_config cfg;
    TEST_OK(evk_vae_config_load(fixture_path("vae.json", path, sizeof path), &cfg));
    evk_vae_decoder *dec;
    TEST_OK(evk_vae_decoder_load(ctx, &cfg, ws, EVK_DTYPE_F32, &dec));
    const int64_t ls[4] = {1, 4, 20, 20}, is[4] = {1, 3, 40, 40};
    float *lat = fixture_read(tw, "fixture.latents", 4, ls), *want = fixture_read(tw, "fixture.tiled_image", 4, is);
    evk_tensor lt = fixture_upload(ctx, lat, 4, ls), img = fixture_output(ctx, 4, is);
    evk_vae_decode_options opt = {.tile_latent = 8, .tile_overlap = 0.25};
    evk_vae_decoder_set_options(dec, &opt);
    evk_stream *s;
    TEST_OK(evk_stream_create(ctx, &s));
    TEST_OK(evk_stream_begin(s));
    TEST_OK(evk_vae_decode(dec, s, &lt, &img));
    TEST_OK(evk_stream_run(s));
    double e = fixture_error(ctx, &img, want, "tiled decode");
    printf("  %-40s rel L2 %.3g\n", "tiled decode (8-latent tiles)", e);
    assert_true(e <= 1e-4);
    evk_stream_destroy(s);
    evk_tensor_free(ctx, &lt);
    evk_tensor_free(ctx, &img);
    free(lat);
    free(want);
    evk_vae_decoder_destroy(dec);
    evk_weights_close(ws);
    evk_weights_close(tw);
}

/* Decode `batch` copies of 1×4×20×20 latents (images 40×40) in `ctx` with options `opt` (NULL:
 * defaults); returns the first image (malloc'd) and the number of dispatches the decode recorded.
 * Every image of the batch must equal the first. */
static float *decode_20(evk_context *ctx, const float *lat, int64_t batch, const evk_vae_decode_options *opt, uint32_t *dispatches) {
    evk_weights *ws = fixture_open(ctx, "vae");
    char path[512];
    evk_vae_config cfg;
    TEST_OK(evk_vae_config_load(fixture_path("vae.json", path, sizeof path), &cfg));
    evk_vae_decoder *dec;
    TEST_OK(evk_vae_decoder_load(ctx, &cfg, ws, EVK_DTYPE_F32, &dec));
    evk_vae_decoder_set_options(dec, opt);
    const size_t nl = 4 * 20 * 20, ni = 3 * 40 * 40;
    const int64_t ls[4] = {batch, 4, 20, 20}, is[4] = {batch, 3, 40, 40};
    float *lats = malloc(sizeof(float) * nl * (size_t)batch), *out = malloc(sizeof(float) * ni * (size_t)batch);
    assert_non_null(lats);
    assert_non_null(out);
    for (int64_t b = 0; b < batch; b++) memcpy(lats + (size_t)b * nl, lat, sizeof(float) * nl);
    evk_tensor lt = fixture_upload(ctx, lats, 4, ls), img = fixture_output(ctx, 4, is);
    evk_stream *s;
    TEST_OK(evk_stream_create(ctx, &s));
    TEST_OK(evk_stream_begin(s));
    TEST_OK(evk_vae_decode(dec, s, &lt, &img));
    *dispatches = evk_stream_dispatch_count(s);
    TEST_OK(evk_stream_run(s));
    TEST_OK(evk_tensor_download_f32(ctx, &img, out));
    for (int64_t b = 1; b < batch; b++) assert_memory_equal(out + (size_t)b * ni, out, sizeof(float) * ni);
    test_assert_no_validation(ctx);
    evk_stream_destroy(s);
    evk_tensor_free(ctx, &lt);
    evk_tensor_free(ctx, &img);
    evk_vae_decoder_destroy(dec);
    evk_weights_close(ws);
    free(lats);
    return out;
}

/* Feature maps larger than one binding, as a 512×512 decode's are on lavapipe (128 MiB): a
 * context whose bindings are capped at 90 KiB, below the decoder's 40×40 maps (153 and 307 KB)
 * and its 20×20 convolution inputs as texel buffers, must decode in one call, without tiling,
 * to the image of the unsplit decode: convolutions in windows of rows, group norms, upsampling
 * and adds in chunks. A batch of two no longer fits the mid-block attention's operands
 * ([2, 400, 48], 154 KB) in one binding; only there the decode falls back to tiles (8 latents,
 * the largest power of two that fits) and must give diffusers' tiled_decode image. */
static void test_vae_beyond_binding_limit(void **state) {
    evk_context *ctx = *state;
    evk_weights *tw = fixture_open(ctx, "vae_tiled");
    const int64_t ls[4] = {1, 4, 20, 20}, is[4] = {1, 3, 40, 40};
    float *lat = fixture_read(tw, "fixture.latents", 4, ls), *want = fixture_read(tw, "fixture.tiled_image", 4, is);
    uint32_t n_whole, n_split, n_auto;
    float *whole = decode_20(ctx, lat, 1, NULL, &n_whole);
    evk_context *small = test_context_create_with((evk_context_config){.binding_limit = 90 << 10});
    float *split = decode_20(small, lat, 1, NULL, &n_split);
    float *autot = decode_20(small, lat, 2, NULL, &n_auto);
    evk_context_destroy(small);
    printf("  %-40s %u dispatches (unsplit %u)\n", "decode with 90 KiB bindings", n_split, n_whole);
    assert_true(n_split > n_whole);
    const size_t ni = 3 * 40 * 40;
    double *ref = malloc(sizeof(double) * ni);
    for (size_t i = 0; i < ni; i++) ref[i] = whole[i];
    /* the same products summed in the same order: equal up to the last bits */
    test_assert_close(split, ref, ni, 1e-6, "VAE decode, split vs unsplit");
    for (size_t i = 0; i < ni; i++) ref[i] = want[i];
    test_assert_close(autot, ref, ni, 1e-4, "VAE decode, automatic tiles vs diffusers' tiled_decode");
    free(ref);
    free(whole);
    free(split);
    free(autot);
    free(want);
    free(lat);
    evk_weights_close(tw);
}

static void test_vae_bad_weights_and_config(void **state) {
    evk_context *ctx = *state;
    evk_weights *ws = fixture_open(ctx, "vae");
    vae_case c;
    vae_case_load(&c, ws);
    /* a missing tensor deep in the network */
    fixture_map m = {.from = {"decoder.up_blocks.1.resnets.1.norm2.bias"}, .to = {NULL}, .count = 1};
    evk_weights_set_map(ws, fixture_map_fn, &m, NULL);
    expect_load_error(ctx, ws, &c.cfg, EVK_ERROR_FORMAT, "decoder.up_blocks.1.resnets.1.norm2.bias", "missing tensor");
    /* a mis-shaped one: conv_out's kernel where conv_in's is expected */
    fixture_map m2 = {.from = {"decoder.conv_in.weight"}, .to = {"decoder.conv_out.weight"}, .count = 1};
    evk_weights_set_map(ws, fixture_map_fn, &m2, NULL);
    evk_vae_decoder *dec = NULL;
    evk_status s = evk_vae_decoder_load(ctx, &c.cfg, ws, EVK_DTYPE_F32, &dec);
    assert_int_not_equal(s, EVK_OK);
    assert_null(dec);
    if (!strstr(evk_error_message(), "decoder.conv_in.weight")) fail_msg("mis-shaped: %s", evk_error_message());
    printf("  %-40s %s\n", "mis-shaped tensor", evk_error_message());
    evk_weights_set_map(ws, NULL, NULL, NULL);
    /* a config that does not match the checkpoint: the first mismatching tensor is named */
    evk_vae_config wrong = c.cfg;
    wrong.block_out_channels[1] = 32;
    s = evk_vae_decoder_load(ctx, &wrong, ws, EVK_DTYPE_F32, &dec);
    assert_int_not_equal(s, EVK_OK);
    if (!strstr(evk_error_message(), "decoder.conv_in.weight")) fail_msg("wrong width: %s", evk_error_message());
    wrong = c.cfg;
    wrong.act_fn = EVK_ACT_GELU;
    expect_load_error(ctx, ws, &wrong, EVK_ERROR_UNSUPPORTED, "act_fn", "unsupported act_fn");
    wrong = c.cfg;
    wrong.norm_num_groups = 5;
    expect_load_error(ctx, ws, &wrong, EVK_ERROR_FORMAT, "norm_num_groups", "groups not dividing channels");
    wrong = c.cfg;
    wrong.scaling_factor = 0.0f;
    expect_load_error(ctx, ws, &wrong, EVK_ERROR_FORMAT, "scaling_factor", "zero scaling_factor");
    assert_int_equal(evk_vae_decoder_load(ctx, &c.cfg, ws, EVK_DTYPE_I32, &dec), EVK_ERROR_INVALID_ARGUMENT);
    assert_null(dec);
    vae_case_free(&c);
    evk_weights_close(ws);
}

static void test_vae_bad_shapes(void **state) {
    evk_context *ctx = *state;
    evk_weights *ws = fixture_open(ctx, "vae");
    vae_case c;
    vae_case_load(&c, ws);
    evk_vae_decoder *dec;
    TEST_OK(evk_vae_decoder_load(ctx, &c.cfg, ws, EVK_DTYPE_F32, &dec));
    evk_stream *s;
    TEST_OK(evk_stream_create(ctx, &s));
    TEST_OK(evk_stream_begin(s));
    const struct { int64_t lat[4], img[4]; const char *needle; } bad[] = {
        {{2, 3, 8, 8}, {2, 3, 16, 16}, "latents"},   /* wrong latent channels */
        {{2, 4, 8, 8}, {2, 3, 8, 8}, "image"},       /* image not upscaled */
        {{2, 4, 8, 8}, {1, 3, 16, 16}, "image"},     /* batch differs */
        {{2, 4, 8, 8}, {2, 4, 16, 16}, "image"},     /* channels differ */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        evk_tensor lat, img;
        TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 4, bad[i].lat, &lat));
        TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 4, bad[i].img, &img));
        assert_int_equal(evk_vae_decode(dec, s, &lat, &img), EVK_ERROR_INVALID_ARGUMENT);
        if (!strstr(evk_error_message(), bad[i].needle)) fail_msg("case %zu: %s", i, evk_error_message());
        evk_tensor_free(ctx, &lat);
        evk_tensor_free(ctx, &img);
    }
    assert_int_equal(evk_stream_dispatch_count(s), 0);
    TEST_OK(evk_stream_run(s));
    evk_stream_destroy(s);
    evk_vae_decoder_destroy(dec);
    vae_case_free(&c);
    evk_weights_close(ws);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vae_decode_f32_f16),
        cmocka_unit_test(test_vae_pipeline_image),
        cmocka_unit_test(test_vae_attention_matmul_chunks),
        cmocka_unit_test(test_vae_legacy_attention_names),
        cmocka_unit_test(test_vae_tiled),
        cmocka_unit_test(test_vae_beyond_binding_limit),
        cmocka_unit_test(test_vae_bad_weights_and_config),
        cmocka_unit_test(test_vae_bad_shapes),
    };
    return cmocka_run_group_tests(tests, test_group_setup, test_group_teardown);
}
