/* test_reward_clip.c — CLIP-based rewards on the shipped tiny CLIP (assets/tiny-clip): the
 * aesthetic head (an MLP of linear layers on the normalised image embedding, collapsed to one
 * vector at load) against the MLP evaluated layer by layer in double on embeddings computed
 * with the CLIP towers directly; the CLIP score against the cosine of the towers' embeddings;
 * and a head that does not chain is rejected with a message. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "models/clip/clip.h"
#include "harness.h"
#include "rewards/aesthetic.h"
#include "rewards/clip_score.h"
#include "rewards/reward.h"
#include "formats/tokenizer.h"

static char clip_dir[512];

static int setup(void **state) {
    const char *src = getenv("EVOKE_SOURCE_DIR");
    snprintf(clip_dir, sizeof clip_dir, "%s/assets/tiny-clip", src ? src : ".");
    return test_group_setup(state);
}

/* A small safetensors file of F32 tensors (enough of the format for a test). */
static void write_safetensors(const char *path, int count, const char *const *names, const int64_t (*shapes)[2],
                              const int *ndims, float *const *data) {
    char header[4096];
    size_t off = 0, hl = (size_t)snprintf(header, sizeof header, "{");
    for (int i = 0; i < count; i++) {
        int64_t n = 1;
        char shape[64];
        if (ndims[i] == 2) snprintf(shape, sizeof shape, "%lld,%lld", (long long)shapes[i][0], (long long)shapes[i][1]);
        else snprintf(shape, sizeof shape, "%lld", (long long)shapes[i][0]);
        for (int d = 0; d < ndims[i]; d++) n *= shapes[i][d];
        hl += (size_t)snprintf(header + hl, sizeof header - hl, "%s\"%s\":{\"dtype\":\"F32\",\"shape\":[%s],\"data_offsets\":[%zu,%zu]}",
                               i ? "," : "", names[i], shape, off, off + (size_t)n * 4);
        off += (size_t)n * 4;
    }
    hl += (size_t)snprintf(header + hl, sizeof header - hl, "}");
    while (hl % 8) header[hl++] = ' ';
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    uint64_t len = hl;
    fwrite(&len, 8, 1, f);
    fwrite(header, 1, hl, f);
    for (int i = 0; i < count; i++) {
        int64_t n = 1;
        for (int d = 0; d < ndims[i]; d++) n *= shapes[i][d];
        fwrite(data[i], 4, (size_t)n, f);
    }
    fclose(f);
}

static void test_aesthetic_and_clip_score(void **state) {
    evk_context *ctx = *state;
    char cfg_path[600];
    snprintf(cfg_path, sizeof cfg_path, "%s/config.json", clip_dir);
    evk_clip_config cfg;
    if (evk_clip_config_load(cfg_path, &cfg) != EVK_OK) skip(); /* assets absent */
    const int64_t P = cfg.projection_dim, S = cfg.vision.image_size, N = 3;
    /* a head P -> 12 -> 5 -> 1 with biases, LAION names (gaps in the numbering like the real one) */
    const int64_t dims[4] = {P, 12, 5, 1};
    const char *names[6] = {"layers.0.weight", "layers.0.bias", "layers.2.weight", "layers.2.bias", "layers.4.weight", "layers.4.bias"};
    int64_t shapes[6][2];
    int ndims[6];
    float *data[6];
    test_rng rng = {99};
    for (int l = 0; l < 3; l++) {
        shapes[2 * l][0] = dims[l + 1], shapes[2 * l][1] = dims[l], ndims[2 * l] = 2;
        shapes[2 * l + 1][0] = dims[l + 1], shapes[2 * l + 1][1] = 0, ndims[2 * l + 1] = 1;
        data[2 * l] = malloc(sizeof(float) * (size_t)(dims[l + 1] * dims[l]));
        data[2 * l + 1] = malloc(sizeof(float) * (size_t)dims[l + 1]);
        test_rng_fill(&rng, data[2 * l], (size_t)(dims[l + 1] * dims[l]), -0.5f, 0.5f);
        test_rng_fill(&rng, data[2 * l + 1], (size_t)dims[l + 1], -0.5f, 0.5f);
    }
    char head[] = "/tmp/evoke-head-XXXXXX.safetensors";
    int fd = mkstemps(head, 12);
    assert_true(fd >= 0);
    close(fd);
    write_safetensors(head, 6, names, (const int64_t(*)[2])shapes, ndims, data);

    /* images in [0, 1] at the tower's size: the preprocessing is then normalisation only */
    float *img = malloc(sizeof(float) * (size_t)(N * 3 * S * S));
    test_rng_fill(&rng, img, (size_t)(N * 3 * S * S), 0.01f, 0.99f);
    evk_tensor x, scores;
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 2, (int64_t[]){N, 3 * S * S}, &x));
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 1, (int64_t[]){N}, &scores));
    TEST_OK(evk_tensor_upload_f32(ctx, &x, img));

    /* reference embeddings straight from the towers */
    evk_weights *ws;
    TEST_OK(evk_weights_open(ctx, clip_dir, &ws));
    evk_clip_vision *vision;
    evk_clip_projections proj;
    TEST_OK(evk_clip_vision_load(ctx, &cfg.vision, ws, EVK_DTYPE_F32, &vision));
    TEST_OK(evk_clip_projections_load(&cfg, ws, EVK_DTYPE_F32, &proj));
    float *pix = malloc(sizeof(float) * (size_t)(N * 3 * S * S));
    char pre_path[600];
    snprintf(pre_path, sizeof pre_path, "%s/preprocessor_config.json", clip_dir);
    evk_clip_preprocess_config pre;
    TEST_OK(evk_clip_preprocess_config_load(pre_path, &pre));
    for (int64_t i = 0; i < N * 3 * S * S; i++) {
        int c = (int)((i / (S * S)) % 3);
        pix[i] = (img[i] - pre.image_mean[c]) / pre.image_std[c];
    }
    evk_tensor pt, pooled, emb;
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 4, (int64_t[]){N, 3, S, S}, &pt));
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 2, (int64_t[]){N, cfg.vision.hidden_size}, &pooled));
    TEST_OK(evk_tensor_upload_f32(ctx, &pt, pix));
    evk_stream *s;
    TEST_OK(evk_stream_create(ctx, &s));
    TEST_OK(evk_stream_begin(s));
    TEST_OK(evk_clip_vision_forward(vision, s, &pt, &pooled));
    evk_nn nn;
    evk_nn_init(&nn, s);
    emb = evk_nn_linear(&nn, &pooled, &proj.visual);
    TEST_OK(nn.status);
    TEST_OK(evk_stream_run(s));
    float *e = malloc(sizeof(float) * (size_t)(N * P));
    TEST_OK(evk_tensor_download_f32(ctx, &emb, e));
    double ref[3];
    for (int64_t n = 0; n < N; n++) {
        double in[512], out[512], norm = 0;
        for (int64_t i = 0; i < P; i++) norm += (double)e[n * P + i] * e[n * P + i];
        for (int64_t i = 0; i < P; i++) in[i] = e[n * P + i] / sqrt(norm);
        int64_t w = P;
        for (int l = 0; l < 3; l++) {
            for (int64_t o = 0; o < dims[l + 1]; o++) {
                out[o] = data[2 * l + 1][o];
                for (int64_t k = 0; k < w; k++) out[o] += (double)data[2 * l][o * w + k] * in[k];
            }
            w = dims[l + 1];
            memcpy(in, out, sizeof(double) * (size_t)w);
        }
        ref[n] = in[0];
    }

    evk_reward *r;
    TEST_OK(evk_reward_aesthetic_create(ctx, clip_dir, head, (uint32_t)S, (uint32_t)S, &r));
    test_poison(ctx, &scores.buf);
    TEST_OK(evk_stream_begin(s));
    TEST_OK(evk_reward_evaluate(r, s, &x, &scores));
    TEST_OK(evk_stream_run(s));
    float got[3];
    TEST_OK(evk_tensor_download_f32(ctx, &scores, got));
    test_assert_close(got, ref, 3, 1e-5, "aesthetic head");
    evk_reward_destroy(r);

    /* clip_score = cos(image embedding, prompt embedding) */
    const char *prompt = "a red circle on the left";
    evk_tokenizer *tok;
    TEST_OK(evk_tokenizer_load(clip_dir, &tok));
    int32_t ids[77];
    TEST_OK(evk_tokenizer_encode(tok, prompt, ids, 77, NULL));
    evk_tokenizer_destroy(tok);
    evk_clip_text *text;
    TEST_OK(evk_clip_text_load(ctx, &cfg.text, ws, EVK_DTYPE_F32, &text));
    evk_tensor tpool;
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 2, (int64_t[]){1, cfg.text.hidden_size}, &tpool));
    TEST_OK(evk_stream_begin(s));
    TEST_OK(evk_clip_text_forward(text, s, ids, 1, 77, 0, NULL, &tpool));
    evk_nn_init(&nn, s);
    evk_tensor temb = evk_nn_linear(&nn, &tpool, &proj.text);
    TEST_OK(nn.status);
    TEST_OK(evk_stream_run(s));
    float *t = malloc(sizeof(float) * (size_t)P);
    TEST_OK(evk_tensor_download_f32(ctx, &temb, t));
    for (int64_t n = 0; n < N; n++) {
        double d = 0, a = 0, b = 0;
        for (int64_t i = 0; i < P; i++) d += (double)e[n * P + i] * t[i], a += (double)e[n * P + i] * e[n * P + i], b += (double)t[i] * t[i];
        ref[n] = d / sqrt(a * b);
    }
    TEST_OK(evk_reward_clip_score_create(ctx, clip_dir, prompt, (uint32_t)S, (uint32_t)S, &r));
    test_poison(ctx, &scores.buf);
    TEST_OK(evk_stream_begin(s));
    TEST_OK(evk_reward_evaluate(r, s, &x, &scores));
    TEST_OK(evk_stream_run(s));
    TEST_OK(evk_tensor_download_f32(ctx, &scores, got));
    test_assert_close(got, ref, 3, 1e-5, "clip score");
    evk_reward_destroy(r);

    /* a head whose widths do not chain is an error naming the layer */
    shapes[2][1] = 7;
    write_safetensors(head, 6, names, (const int64_t(*)[2])shapes, ndims, data);
    assert_int_equal(evk_reward_aesthetic_create(ctx, clip_dir, head, (uint32_t)S, (uint32_t)S, &r), EVK_ERROR_FORMAT);
    assert_non_null(strstr(evk_error_message(), "layers.2.weight"));
    remove(head);

    for (int i = 0; i < 6; i++) free(data[i]);
    free(img), free(pix), free(e), free(t);
    evk_tensor *all[] = {&x, &scores, &pt, &pooled, &emb, &tpool, &temb};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) evk_tensor_free(ctx, all[i]);
    evk_clip_text_destroy(text);
    evk_clip_vision_destroy(vision);
    evk_clip_projections_free(ctx, &proj);
    evk_weights_close(ws);
    evk_stream_destroy(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_aesthetic_and_clip_score)};
    return cmocka_run_group_tests(tests, setup, test_group_teardown);
}
