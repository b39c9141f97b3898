/* test_reward_video.c — the video rewards of rewards/openclip_reward.h on tiny random-weight models
 * (tests/data/nets/vrewards, made by tools/ref/fixtures_video_rewards.py from the upstream HPSv2 and
 * T2V-Turbo reward code): HPSv2 per frame on a batch of frames, HPSv2 as a clip's frame mean,
 * ViCLIP and T2V-Turbo's mixed reward (1 · HPSv2 frame mean + 2 · ViCLIP), each on a population of
 * two clips in one call, alone and accumulating; the PickScore-layout CLIPModel folder through
 * clip_score; and the refusals (images given to ViCLIP, clips shorter than its 8 frames, a bad
 * config.json, unknown keys, a checkpoint of another layout). */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/file.h"
#include "formats/png.h"
#include "harness.h"
#include "models/clip/openclip.h"
#include "rewards/openclip_reward.h"
#include "rewards/reward.h"

enum { F = 17, H = 12, W = 20, FN = 3 * H * W, N = 2 };

static char dir[512];
static cJSON *expected;
static float clips[N * F * FN]; /* [N, F, 3, H, W] */

static int setup(void **state) {
    test_data_path("nets/vrewards", dir, sizeof dir);
    char path[700], *text;
    snprintf(path, sizeof path, "%s/expected.json", dir);
    if (evk_file_read_text(path, 1 << 20, &text)) return -1;
    expected = cJSON_Parse(text);
    free(text);
    for (int n = 0; n < N; n++) {
        evk_npy a;
        snprintf(path, sizeof path, "%s/clip%d.npy", dir, n);
        if (evk_npy_read_f32(path, &a) || a.count != (uint64_t)F * FN) return -1;
        for (int f = 0; f < F; f++)
            for (int i = 0; i < H * W; i++)
                for (int c = 0; c < 3; c++) clips[((size_t)(n * F + f) * 3 + c) * H * W + i] = a.data[((size_t)f * H * W + i) * 3 + c];
        evk_npy_free(&a);
    }
    return expected ? test_group_setup(state) : -1;
}

static int teardown(void **state) {
    cJSON_Delete(expected);
    return test_group_teardown(state);
}

static const char *prompt(void) { return cJSON_GetObjectItem(expected, "prompt")->valuestring; }

static void want(const char *key, double *out, int n) {
    const cJSON *a = cJSON_GetObjectItem(expected, key);
    assert_int_equal(cJSON_GetArraySize(a), n);
    for (int i = 0; i < n; i++) out[i] = cJSON_GetArrayItem(a, i)->valuedouble;
}

/* scores of n samples, out (+)= weight · r, on the GPU */
static void evaluate(evk_context *ctx, evk_reward *r, const float *x, int64_t n, int64_t numel, float weight, bool acc, float *out) {
    evk_tensor t, s;
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 2, (int64_t[]){n, numel}, &t));
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 1, (int64_t[]){n}, &s));
    TEST_OK(evk_tensor_upload_f32(ctx, &t, x));
    if (acc) TEST_OK(evk_tensor_upload_f32(ctx, &s, out));
    else test_poison(ctx, &s.buf);
    evk_stream *st;
    TEST_OK(evk_stream_create(ctx, &st));
    TEST_OK(evk_stream_begin(st));
    TEST_OK(evk_reward_evaluate_into(r, st, &t, &s, weight, acc));
    TEST_OK(evk_stream_run(st));
    TEST_OK(evk_tensor_download_f32(ctx, &s, out));
    evk_stream_destroy(st);
    evk_tensor_free(ctx, &t);
    evk_tensor_free(ctx, &s);
}

static evk_reward *load(evk_context *ctx, const char *file, uint32_t frames, uint32_t h, uint32_t w) {
    char path[700];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    evk_reward_options ro = {.prompt = prompt(), .image_height = h, .image_width = w, .frames = frames};
    evk_reward *r = NULL;
    TEST_OK(evk_reward_load_with(ctx, path, &ro, &r));
    return r;
}

/* HPSv2 on the 34 frames of both clips as one batch of images (letterboxed 12×20 → 10×16 in 16×16) */
static void test_hpsv2_frames(void **state) {
    evk_context *ctx = *state;
    evk_reward *r = load(ctx, "hpsv2.json", 0, H, W);
    assert_int_equal(evk_reward_sample_numel(r), FN);
    double ref[N * F];
    const cJSON *pf = cJSON_GetObjectItem(expected, "hpsv2_per_frame");
    for (int n = 0; n < N; n++)
        for (int f = 0; f < F; f++) ref[n * F + f] = cJSON_GetArrayItem(cJSON_GetArrayItem(pf, n), f)->valuedouble;
    float got[N * F];
    evaluate(ctx, r, clips, N * F, FN, 1.0f, false, got);
    printf("HPSv2 per frame: relative L2 %.3g\n", test_rel_l2(got, ref, N * F));
    test_assert_close(got, ref, N * F, 1e-4, "HPSv2 per frame");
    evk_reward_destroy(r);
    test_assert_no_validation(ctx);
}

/* the clip rewards on a population of two clips, alone and accumulating with a weight */
static void check_clips(evk_context *ctx, const char *file, const char *key) {
    evk_reward *r = load(ctx, file, F, H, W);
    assert_int_equal(evk_reward_sample_numel(r), F * FN);
    double ref[N], ref2[N];
    want(key, ref, N);
    float got[N], acc[N] = {0.25f, -0.5f};
    evaluate(ctx, r, clips, N, F * FN, 1.0f, false, got);
    printf("%s over %d clips: relative L2 %.3g\n", key, N, test_rel_l2(got, ref, N));
    test_assert_close(got, ref, N, 1e-4, key);
    for (int n = 0; n < N; n++) ref2[n] = acc[n] + 0.5 * ref[n];
    evaluate(ctx, r, clips, N, F * FN, 0.5f, true, acc);
    test_assert_close(acc, ref2, N, 1e-4, key);
    evk_reward_destroy(r);
    test_assert_no_validation(ctx);
}

static void test_hpsv2_clips(void **state) { check_clips(*state, "hpsv2.json", "hpsv2"); }
static void test_viclip(void **state) { check_clips(*state, "viclip.json", "viclip"); }
static void test_mixed(void **state) { check_clips(*state, "mixed.json", "mixed"); }

/* PickScore's layout (a transformers CLIPModel folder without tokenizer or preprocessor files) */
static void test_pickscore_layout(void **state) {
    evk_context *ctx = *state;
    evk_npy a;
    char path[700];
    snprintf(path, sizeof path, "%s/square.npy", dir);
    TEST_OK(evk_npy_read_f32(path, &a));
    assert_int_equal(a.count, 4 * 24 * 24 * 3);
    float x[4 * 3 * 24 * 24];
    for (int f = 0; f < 4; f++)
        for (int i = 0; i < 24 * 24; i++)
            for (int c = 0; c < 3; c++) x[(f * 3 + c) * 24 * 24 + i] = a.data[(f * 24 * 24 + i) * 3 + c];
    evk_npy_free(&a);
    double ref[4];
    want("square_per_frame", ref, 4);
    const char *files[] = {"pickscore.json", "hpsv2.json"};
    for (int k = 0; k < 2; k++) {
        evk_reward *r = load(ctx, files[k], 0, 24, 24);
        float got[4];
        evaluate(ctx, r, x, 4, 3 * 24 * 24, 1.0f, false, got);
        printf("%s on square frames: relative L2 %.3g\n", files[k], test_rel_l2(got, ref, 4));
        test_assert_close(got, ref, 4, 1e-4, files[k]);
        evk_reward_destroy(r);
    }
    test_assert_no_validation(ctx);
}

static void test_refusals(void **state) {
    evk_context *ctx = *state;
    char path[700];
    evk_reward *r = NULL;
    evk_reward_options img = {.prompt = prompt(), .image_height = H, .image_width = W};
    snprintf(path, sizeof path, "%s/viclip.json", dir);
    assert_int_equal(evk_reward_load_with(ctx, path, &img, &r), EVK_ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(evk_error_message(), "scores videos, and these samples are not videos"));
    evk_reward_options few = {.prompt = prompt(), .image_height = H, .image_width = W, .frames = 7};
    assert_int_equal(evk_reward_load_with(ctx, path, &few, &r), EVK_ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(evk_error_message(), "the model takes 8 frames, the clips have 7"));
    evk_reward_options noprompt = {.image_height = H, .image_width = W, .frames = F};
    assert_int_equal(evk_reward_load_with(ctx, path, &noprompt, &r), EVK_ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(evk_error_message(), "a prompt is required"));
    /* unknown keys; a checkpoint of the other layout */
    evk_reward_options ro = {.prompt = prompt(), .image_height = H, .image_width = W, .frames = F, .base_dir = dir};
    assert_int_equal(evk_reward_parse_with(ctx, "{\"type\":\"hpsv2\",\"model\":\"hpsv2_tiny/HPS_v2.1_compressed.pt\",\"scale\":2}", "t",
                                           &ro, &r),
                     EVK_ERROR_FORMAT);
    assert_non_null(strstr(evk_error_message(), "unknown key \"scale\""));
    assert_int_equal(evk_reward_parse_with(ctx, "{\"type\":\"hpsv2\",\"model\":\"viclip_tiny/viclip.pth\"}", "t", &ro, &r), EVK_ERROR_FORMAT);
    assert_non_null(strstr(evk_error_message(), "no tensor named ...visual.conv1.weight"));
    assert_null(r);
    /* config.json overrides */
    evk_openclip_config d = {.vision_heads = 16, .text_heads = 16};
    TEST_OK(evk_openclip_config_parse("{\"vision_heads\":4,\"text_heads\":2,\"quick_gelu\":true}", "c", &d));
    assert_int_equal(d.vision_heads, 4);
    assert_int_equal(d.text_heads, 2);
    assert_true(d.quick_gelu);
    assert_int_equal(evk_openclip_config_parse("{\"vision_heads\":0}", "c", &d), EVK_ERROR_FORMAT);
    assert_int_equal(evk_openclip_config_parse("{\"heads\":2}", "c", &d), EVK_ERROR_FORMAT);
    assert_non_null(strstr(evk_error_message(), "unknown key \"heads\""));
    assert_int_equal(evk_openclip_config_parse("[1]", "c", &d), EVK_ERROR_FORMAT);
    /* heads that do not divide the width (config.json saying 3) */
    char tmp[] = "/tmp/evk_vrewardsXXXXXX";
    assert_non_null(mkdtemp(tmp));
    char src[700], dst[700], cfg[700];
    snprintf(src, sizeof src, "%s/hpsv2_tiny/HPS_v2.1_compressed.pt", dir);
    snprintf(dst, sizeof dst, "%s/hps.pt", tmp);
    snprintf(cfg, sizeof cfg, "%s/config.json", tmp);
    uint8_t *bytes;
    size_t size;
    TEST_OK(evk_file_read(src, 64 << 20, &bytes, &size));
    TEST_OK(evk_file_write_atomic(dst, bytes, size));
    free(bytes);
    TEST_OK(evk_file_write_atomic(cfg, "{\"vision_heads\":3}", 18));
    assert_int_not_equal(evk_reward_hpsv2_create(ctx, dst, prompt(), H, W, &r), EVK_OK);
    assert_non_null(strstr(evk_error_message(), "not divisible by 3 / 16 heads"));
    unlink(dst), unlink(cfg), rmdir(tmp);
    test_assert_no_validation(ctx);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_hpsv2_frames), cmocka_unit_test(test_hpsv2_clips), cmocka_unit_test(test_viclip),
                                       cmocka_unit_test(test_mixed),        cmocka_unit_test(test_pickscore_layout), cmocka_unit_test(test_refusals)};
    return cmocka_run_group_tests(tests, setup, teardown);
}
