/* test_reward_frames.c — video rewards from image rewards (rewards/frames.h): which frames a cap
 * picks; the GPU mean over the picked frames of a batch of clips against the per-frame rewards
 * summed in double on the host, for every cap, alone and accumulating into a weighted sum; the
 * JSON forms (an image reward wrapped by itself when the options name frames, an explicit
 * frame_mean with max_frames inside a sum) against the host evaluation; and the refusals. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "rewards/analytic.h"
#include "rewards/frames.h"
#include "rewards/reward.h"

enum { F = 5, N = 3, H = 2, W = 3, FN = 3 * H * W };

/* scores of n clips on the GPU */
static void evaluate(evk_context *ctx, evk_reward *r, const float *clips, int64_t n, int64_t numel, float *out) {
    evk_tensor x, s;
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 2, (int64_t[]){n, numel}, &x));
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 1, (int64_t[]){n}, &s));
    TEST_OK(evk_tensor_upload_f32(ctx, &x, clips));
    test_poison(ctx, &s.buf);
    evk_stream *st;
    TEST_OK(evk_stream_create(ctx, &st));
    TEST_OK(evk_stream_begin(st));
    TEST_OK(evk_reward_evaluate(r, st, &x, &s));
    TEST_OK(evk_stream_run(st));
    TEST_OK(evk_tensor_download_f32(ctx, &s, out));
    evk_stream_destroy(st);
    evk_tensor_free(ctx, &x);
    evk_tensor_free(ctx, &s);
}

static void test_pick(void **state) {
    (void)state;
    uint32_t p[16];
    assert_int_equal(evk_reward_frame_pick(16, 4, p), 4);
    assert_int_equal(p[0], 0), assert_int_equal(p[1], 5), assert_int_equal(p[2], 10), assert_int_equal(p[3], 15);
    assert_int_equal(evk_reward_frame_pick(5, 1, p), 1);
    assert_int_equal(p[0], 2);
    assert_int_equal(evk_reward_frame_pick(3, 0, p), 3);
    assert_int_equal(p[2], 2);
    assert_int_equal(evk_reward_frame_pick(3, 7, p), 3);
    assert_int_equal(evk_reward_frame_pick(8, 3, p), 3);
    assert_int_equal(p[0], 0), assert_int_equal(p[1], 4), assert_int_equal(p[2], 7); /* round(3.5) = 4 */
}

static void test_mean_over_frames(void **state) {
    evk_context *ctx = *state;
    test_rng rng = {7};
    double dir[FN];
    for (int i = 0; i < FN; i++) dir[i] = test_rng_normal(&rng);
    float clips[N * F * FN];
    test_rng_fill(&rng, clips, N * F * FN, 0.0f, 1.0f);
    const uint32_t caps[] = {0, 1, 2, 4, 5, 9};
    for (size_t c = 0; c < sizeof caps / sizeof caps[0]; c++) {
        evk_reward *lin, *r;
        TEST_OK(evk_reward_analytic_create(ctx, EVK_REWARD_LINEAR, FN, dir, 0, &lin));
        TEST_OK(evk_reward_frame_mean(ctx, lin, F, FN, caps[c], &r));
        assert_int_equal(evk_reward_sample_numel(r), F * FN);
        uint32_t pick[F], k = evk_reward_frame_pick(F, caps[c], pick);
        double want[N];
        for (int n = 0; n < N; n++) {
            double acc = 0;
            for (uint32_t j = 0; j < k; j++)
                for (int i = 0; i < FN; i++) acc += dir[i] * clips[(n * F + pick[j]) * FN + i];
            want[n] = acc / k;
            double host;
            TEST_OK(evk_reward_eval_host(r, clips + n * F * FN, F * FN, &host));
            assert_true(fabs(host - want[n]) <= 1e-12 * (1 + fabs(want[n])));
        }
        float got[N];
        evaluate(ctx, r, clips, N, F * FN, got);
        char what[64];
        snprintf(what, sizeof what, "frame_mean, max_frames %u", caps[c]);
        test_assert_close(got, want, N, 1e-5, what);
        evk_reward_destroy(r);
    }
    test_assert_no_validation(ctx);
}

static void test_json(void **state) {
    evk_context *ctx = *state;
    test_rng rng = {11};
    float clips[N * F * FN];
    test_rng_fill(&rng, clips, N * F * FN, 0.0f, 1.0f);
    /* 0.5 · linear (wrapped by itself: all frames) + 2 · frame_mean of neg_distance over frames 0 and 4 */
    char json[4096], *p = json;
    double dir[FN], ctr[FN];
    p += sprintf(p, "{\"type\":\"sum\",\"terms\":[{\"weight\":0.5,\"reward\":{\"type\":\"linear\",\"direction\":[");
    for (int i = 0; i < FN; i++) p += sprintf(p, "%s%.6f", i ? "," : "", dir[i] = (double)(float)test_rng_normal(&rng));
    p += sprintf(p, "]}},{\"weight\":2,\"reward\":{\"type\":\"frame_mean\",\"max_frames\":2,\"reward\":{\"type\":\"neg_distance\",\"center\":[");
    for (int i = 0; i < FN; i++) p += sprintf(p, "%s%.6f", i ? "," : "", ctr[i] = (double)(float)test_rng_uniform(&rng));
    sprintf(p, "]}}}]}");
    /* the JSON's decimals are what the reward holds */
    for (int i = 0; i < FN; i++) {
        char b[32];
        snprintf(b, sizeof b, "%.6f", dir[i]), dir[i] = atof(b);
        snprintf(b, sizeof b, "%.6f", ctr[i]), ctr[i] = atof(b);
    }
    evk_reward_options ro = {.image_height = H, .image_width = W, .frames = F};
    evk_reward *r;
    TEST_OK(evk_reward_parse_with(ctx, json, "test", &ro, &r));
    assert_int_equal(evk_reward_sample_numel(r), F * FN);
    double want[N];
    for (int n = 0; n < N; n++) {
        const float *c = clips + n * F * FN;
        double lin = 0, d0 = 0, d4 = 0;
        for (int f = 0; f < F; f++)
            for (int i = 0; i < FN; i++) lin += dir[i] * c[f * FN + i];
        for (int i = 0; i < FN; i++) {
            d0 += (c[i] - ctr[i]) * (c[i] - ctr[i]);
            d4 += (c[4 * FN + i] - ctr[i]) * (c[4 * FN + i] - ctr[i]);
        }
        want[n] = 0.5 * lin / F + 2 * (-sqrt(d0) - sqrt(d4)) / 2;
        double host;
        TEST_OK(evk_reward_eval_host(r, c, F * FN, &host));
        assert_true(fabs(host - want[n]) <= 1e-9 * (1 + fabs(want[n])));
    }
    float got[N];
    evaluate(ctx, r, clips, N, F * FN, got);
    test_assert_close(got, want, N, 1e-5, "sum of frame rewards from JSON");
    evk_reward_destroy(r);

    /* images: no wrapping, a frame_mean is refused; a bad cap is refused */
    evk_reward_options img = {.image_height = H, .image_width = W};
    const char *lin1 = "{\"type\":\"linear\",\"direction\":[1,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]}";
    TEST_OK(evk_reward_parse_with(ctx, lin1, "test", &img, &r));
    assert_int_equal(evk_reward_sample_numel(r), FN);
    evk_reward_destroy(r);
    char bad[256];
    snprintf(bad, sizeof bad, "{\"type\":\"frame_mean\",\"reward\":%s}", lin1);
    assert_int_equal(evk_reward_parse_with(ctx, bad, "test", &img, &r), EVK_ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(evk_error_message(), "scores videos, and these samples are not videos"));
    snprintf(bad, sizeof bad, "{\"type\":\"frame_mean\",\"max_frames\":0,\"reward\":%s}", lin1);
    assert_int_equal(evk_reward_parse_with(ctx, bad, "test", &ro, &r), EVK_ERROR_FORMAT);
    assert_non_null(strstr(evk_error_message(), "\"max_frames\" must be an integer from 1"));
    /* an image reward of another size than the frames is not wrapped, and scores nothing here */
    const char *lin2 = "{\"type\":\"frame_mean\",\"reward\":{\"type\":\"linear\",\"direction\":[1,2]}}";
    assert_int_equal(evk_reward_parse_with(ctx, lin2, "test", &ro, &r), EVK_ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(evk_error_message(), "scores samples of 2 values, a frame has 18"));
    test_assert_no_validation(ctx);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_pick), cmocka_unit_test(test_mean_over_frames), cmocka_unit_test(test_json)};
    return cmocka_run_group_tests(tests, test_group_setup, test_group_teardown);
}
