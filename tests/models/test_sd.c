/* test_sd.c — the shipped text-to-image model (assets/tiny-sd) through the C pipeline against
 * what the PyTorch training code computes from the same files (assets/tiny-sd/golden.safetensors,
 * written by tools/train/export.py): prompt encodings, one UNet call with a prompt shared by the
 * batch, the DDIM timesteps the scheduler config implies, and a whole 10-step guided DDIM (η = 0)
 * sample from the same initial noise. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "rewards/analytic.h"
#include "rewards/reward.h"
#include "samplers/sampler.h"
#include "search.h"
#include "models/sd/sd_keys.h"
#include <cjson/cJSON.h>
#include "models/sd/sd.h"
#include "formats/weights.h"

static char model_dir[512], golden_path[600];

static int setup(void **state) {
    const char *src = getenv("EVOKE_SOURCE_DIR");
    snprintf(model_dir, sizeof model_dir, "%s/assets/tiny-sd", src ? src : ".");
    snprintf(golden_path, sizeof golden_path, "%s/golden.safetensors", model_dir);
    return test_group_setup(state);
}

static float *read_all(evk_weights *ws, const char *name, int64_t *numel) {
    const evk_st_tensor *t = evk_weights_lookup(ws, name, NULL);
    if (!t) fail_msg("golden tensor '%s' is absent", name);
    float *v = malloc((size_t)t->numel * sizeof *v);
    assert_non_null(v);
    TEST_OK(evk_weights_read_f32(ws, name, t->ndim, t->shape, v));
    *numel = (int64_t)t->numel;
    return v;
}

static double compare(evk_context *ctx, const evk_tensor *t, const float *want, int64_t n, const char *what) {
    assert_int_equal(evk_tensor_numel(t), n);
    float *got = malloc((size_t)n * sizeof *got);
    double *ref = malloc((size_t)n * sizeof *ref);
    TEST_OK(evk_tensor_download_f32(ctx, t, got));
    for (int64_t i = 0; i < n; i++) ref[i] = want[i];
    double e = test_rel_l2(got, ref, (size_t)n);
    print_message("  %-28s rel L2 %.3g\n", what, e);
    free(got);
    free(ref);
    return e;
}

static void test_pipeline_matches_pytorch(void **state) {
    evk_context *ctx = *state;
    evk_safetensors *gst;
    if (evk_safetensors_open(golden_path, &gst) != EVK_OK) skip(); /* assets not present in this checkout */
    const char *prompt = evk_safetensors_metadata(gst, "prompt");
    assert_non_null(prompt);
    char prompt_copy[256];
    snprintf(prompt_copy, sizeof prompt_copy, "%s", prompt);
    evk_safetensors_close(gst);
    evk_weights *g;
    TEST_OK(evk_weights_open(ctx, golden_path, &g));
    evk_sd *sd;
    TEST_OK(evk_sd_load(ctx, model_dir, NULL, &sd));
    evk_model *model = evk_sd_model(sd);

    /* prompt encodings: golden rows 0 (prompt) and 1 (empty) */
    evk_tensor cond, uncond;
    TEST_OK(evk_sd_encode_prompt(sd, prompt_copy, &cond, NULL));
    TEST_OK(evk_sd_encode_prompt(sd, "", &uncond, NULL));
    int64_t n;
    float *hid = read_all(g, "text_last_hidden_state", &n);
    int64_t row = n / 2;
    assert_true(compare(ctx, &cond, hid, row, "text encoder (prompt)") <= 1e-4);
    assert_true(compare(ctx, &uncond, hid + row, row, "text encoder (empty)") <= 1e-4);
    free(hid);

    /* one UNet call, the prompt shared by a batch of two */
    int64_t nx;
    float *x = read_all(g, "unet_sample", &nx), *want = read_all(g, "unet_out", &n);
    float ts[2] = {999, 500}, one[2] = {1, 1};
    evk_tensor xt, out, tt, at, st;
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 2, (int64_t[]){2, nx / 2}, &xt));
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 2, (int64_t[]){2, nx / 2}, &out));
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 1, (int64_t[]){2}, &tt));
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 1, (int64_t[]){2}, &at));
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 1, (int64_t[]){2}, &st));
    TEST_OK(evk_tensor_upload_f32(ctx, &xt, x));
    TEST_OK(evk_tensor_upload_f32(ctx, &tt, ts));
    TEST_OK(evk_tensor_upload_f32(ctx, &at, one));
    TEST_OK(evk_tensor_upload_f32(ctx, &st, one));
    test_poison(ctx, &out.buf);
    evk_stream *s;
    TEST_OK(evk_stream_create(ctx, &s));
    TEST_OK(evk_stream_begin(s));
    evk_model_input in = {.x = &xt, .timestep = &tt, .alpha = &at, .sigma = &st, .cond = &cond};
    TEST_OK(evk_model_forward(model, s, &in, &out));
    TEST_OK(evk_stream_run(s));
    assert_true(compare(ctx, &out, want, n, "UNet, shared prompt") <= 1e-4);
    free(want);

    /* the scheduler config's DDIM timesteps, then a guided 10-step sample from unet_sample[0] */
    evk_sampler_config sc;
    TEST_OK(evk_sd_sampler_config(sd, EVK_SAMPLER_DDIM, 10, 0.0, &sc));
    evk_sampler *sampler;
    TEST_OK(evk_sampler_create(&sc, &sampler));
    const evk_st_tensor *gts = evk_weights_lookup(g, "ddim_timesteps", NULL);
    assert_non_null(gts);
    assert_int_equal(gts->numel, 10);
    for (uint32_t i = 0; i < 10; i++) {
        int64_t t;
        memcpy(&t, gts->data + 8 * i, 8); /* I64 */
        if ((double)t != evk_sampler_get_step(sampler, i)->timestep)
            fail_msg("DDIM step %u: timestep %g, diffusers-style scheduler says %lld", i, evk_sampler_get_step(sampler, i)->timestep,
                     (long long)t);
    }
    evk_tensor x1, m1, scratch, t1, a1, s1;
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 2, (int64_t[]){1, nx / 2}, &x1));
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 2, (int64_t[]){1, nx / 2}, &m1));
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 2, (int64_t[]){1, nx / 2}, &scratch));
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 1, (int64_t[]){1}, &t1));
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 1, (int64_t[]){1}, &a1));
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 1, (int64_t[]){1}, &s1));
    TEST_OK(evk_tensor_upload_f32(ctx, &x1, x));
    for (uint32_t i = 0; i < 10; i++) {
        const evk_sampler_step *stp = evk_sampler_get_step(sampler, i);
        float tv = (float)stp->timestep, av = (float)stp->alpha, sv = (float)stp->sigma;
        TEST_OK(evk_stream_begin(s));
        TEST_OK(evk_stream_update(s, &t1.buf, 0, &tv, 4));
        TEST_OK(evk_stream_update(s, &a1.buf, 0, &av, 4));
        TEST_OK(evk_stream_update(s, &s1.buf, 0, &sv, 4));
        evk_model_input in1 = {.x = &x1, .timestep = &t1, .alpha = &a1, .sigma = &s1, .cond = &cond};
        TEST_OK(evk_model_forward_guided(model, s, &in1, &uncond, 3.0f, &scratch, &m1));
        TEST_OK(evk_op_sampler_step(s, sampler, i, &x1, &m1, NULL));
        TEST_OK(evk_stream_run(s));
    }
    want = read_all(g, "ddim_cfg_x0", &n);
    assert_true(compare(ctx, &x1, want, n, "10-step guided DDIM sample") <= 1e-3);

    /* the same sample through the search layer, its initial noise given (what --latents does) */
    evk_reward *reward; /* any reward will do for one trajectory */
    double *dir = calloc((size_t)(nx / 2), sizeof *dir);
    dir[0] = 1;
    TEST_OK(evk_reward_analytic_create(ctx, EVK_REWARD_LINEAR, (uint32_t)(nx / 2), dir, 0, &reward));
    free(dir);
    evk_search_config cfg = {.method = EVK_SEARCH_SAMPLE, .n = 1, .guidance = 3.0f, .cond = &cond, .uncond = &uncond,
                             .initial_noise = x, .initial_count = 1};
    evk_search_result *res = NULL;
    TEST_OK(evk_search_run(ctx, model, sampler, reward, &cfg, &res));
    double *ref = malloc((size_t)n * sizeof *ref);
    for (int64_t i = 0; i < n; i++) ref[i] = want[i];
    double e = test_rel_l2(res->best_sample, ref, (size_t)n);
    print_message("  %-28s rel L2 %.3g\n", "search, given initial noise", e);
    assert_true(e <= 1e-3);
    free(ref);
    evk_search_result_free(res);
    evk_reward_destroy(reward);
    free(want);
    free(x);
    assert_int_equal(evk_context_validation_count(ctx), 0);
    evk_tensor *all[] = {&cond, &uncond, &xt, &out, &tt, &at, &st, &x1, &m1, &scratch, &t1, &a1, &s1};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) evk_tensor_free(ctx, all[i]);
    evk_sampler_destroy(sampler);
    evk_stream_destroy(s);
    evk_weights_close(g);
    evk_sd_destroy(sd);
}

/* Write every tensor of `ws` under the name `keys` maps it to (diffusers -> original names). */
static void append_mapped(evk_weights *ws, const evk_sd_keys *keys, cJSON *header, FILE *data, size_t *offset) {
    for (size_t i = 0; i < evk_weights_count(ws); i++) {
        const evk_st_tensor *t = evk_weights_at(ws, i);
        evk_weight_ref ref;
        TEST_OK(evk_sd_keys_map(keys, t->name, &ref));
        assert_true(ref.split_parts <= 1);
        float *v = malloc((size_t)t->numel * sizeof *v + 4);
        TEST_OK(evk_weights_read_f32(ws, t->name, t->ndim, t->shape, v));
        cJSON *o = cJSON_CreateObject(), *shape = cJSON_AddArrayToObject(o, "shape"), *offs = cJSON_AddArrayToObject(o, "data_offsets");
        cJSON_AddStringToObject(o, "dtype", "F32");
        for (int d = 0; d < t->ndim; d++) cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)t->shape[d]));
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)*offset));
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)(*offset + t->numel * 4)));
        cJSON_AddItemToObject(header, ref.name, o);
        fwrite(v, 4, t->numel, data);
        *offset += t->numel * 4;
        free(v);
    }
}

/* The shipped model converted to one file with the original CompVis names loads through the
 * single-file path (configs and tokenizer from the folder) and computes the same. */
static void test_single_file(void **state) {
    evk_context *ctx = *state;
    char path[700];
    snprintf(path, sizeof path, "%s/unet", model_dir);
    evk_weights *uw, *tw;
    if (evk_weights_open(ctx, path, &uw) != EVK_OK) skip();
    snprintf(path, sizeof path, "%s/text_encoder", model_dir);
    TEST_OK(evk_weights_open(ctx, path, &tw));
    evk_unet_config ucfg;
    snprintf(path, sizeof path, "%s/unet/config.json", model_dir);
    TEST_OK(evk_unet_config_load(path, &ucfg));
    evk_sd_keys ku, kt = {.part = EVK_SD_PART_TEXT_CLIP};
    TEST_OK(evk_sd_keys_unet(&ucfg, &ku));
    snprintf(kt.clip_prefix, sizeof kt.clip_prefix, "cond_stage_model.transformer.");
    snprintf(kt.scope, sizeof kt.scope, "cond_stage_model.");
    char data_path[] = "/tmp/evoke-single-XXXXXX", file[64];
    int fd = mkstemp(data_path);
    assert_true(fd >= 0);
    close(fd);
    FILE *data = fopen(data_path, "wb");
    cJSON *header = cJSON_CreateObject();
    size_t offset = 0;
    append_mapped(uw, &ku, header, data, &offset);
    append_mapped(tw, &kt, header, data, &offset);
    fclose(data);
    evk_weights_close(uw);
    evk_weights_close(tw);
    char *h = cJSON_PrintUnformatted(header);
    cJSON_Delete(header);
    size_t hl = strlen(h), pad = (8 - hl % 8) % 8;
    snprintf(file, sizeof file, "%s.safetensors", data_path);
    FILE *f = fopen(file, "wb"), *d = fopen(data_path, "rb");
    uint64_t len = hl + pad;
    fwrite(&len, 8, 1, f);
    fwrite(h, 1, hl, f);
    for (size_t i = 0; i < pad; i++) fputc(' ', f);
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, d)) > 0) fwrite(buf, 1, n, f);
    fclose(d);
    fclose(f);
    free(h);
    remove(data_path);

    /* without a config folder it is detected as SD 1.x (a CLIP text encoder) and read with SD
     * 1.5's built-in configs, which its tiny shapes do not fit: an error naming both; with the
     * folder: the same numbers as the folder */
    evk_sd *single = NULL, *folder = NULL;
    assert_int_not_equal(evk_sd_load(ctx, file, NULL, &single), EVK_OK);
    assert_null(single);
    assert_non_null(strstr(evk_error_message(), "built-in SD 1.x configs"));
    printf("  without a config folder: %s\n", evk_error_message());
    evk_model_options so = {.config_dir = model_dir};
    TEST_OK(evk_sd_load(ctx, file, &so, &single));
    TEST_OK(evk_sd_load(ctx, model_dir, NULL, &folder));
    evk_tensor ca, cb;
    TEST_OK(evk_sd_encode_prompt(single, "a red circle left of a blue square", &ca, NULL));
    TEST_OK(evk_sd_encode_prompt(folder, "a red circle left of a blue square", &cb, NULL));
    int64_t nc = evk_tensor_numel(&ca);
    float *a = malloc(sizeof(float) * (size_t)nc), *b = malloc(sizeof(float) * (size_t)nc);
    TEST_OK(evk_tensor_download_f32(ctx, &ca, a));
    TEST_OK(evk_tensor_download_f32(ctx, &cb, b));
    assert_memory_equal(a, b, sizeof(float) * (size_t)nc);
    free(a), free(b);
    /* one UNet call through each */
    evk_model *ms = evk_sd_model(single), *mf = evk_sd_model(folder);
    int64_t sn = evk_model_sample_numel(ms);
    float *x = malloc(sizeof(float) * (size_t)sn), tv = 500, one = 1;
    test_rng rng = {5};
    for (int64_t i = 0; i < sn; i++) x[i] = (float)test_rng_normal(&rng);
    evk_tensor xt, t, al, sg, os, of;
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 2, (int64_t[]){1, sn}, &xt));
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 2, (int64_t[]){1, sn}, &os));
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 2, (int64_t[]){1, sn}, &of));
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 1, (int64_t[]){1}, &t));
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 1, (int64_t[]){1}, &al));
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 1, (int64_t[]){1}, &sg));
    TEST_OK(evk_tensor_upload_f32(ctx, &xt, x));
    TEST_OK(evk_tensor_upload_f32(ctx, &t, &tv));
    TEST_OK(evk_tensor_upload_f32(ctx, &al, &one));
    TEST_OK(evk_tensor_upload_f32(ctx, &sg, &one));
    evk_stream *s;
    TEST_OK(evk_stream_create(ctx, &s));
    TEST_OK(evk_stream_begin(s));
    evk_model_input in_s = {.x = &xt, .timestep = &t, .alpha = &al, .sigma = &sg, .cond = &ca};
    evk_model_input in_f = {.x = &xt, .timestep = &t, .alpha = &al, .sigma = &sg, .cond = &cb};
    TEST_OK(evk_model_forward(ms, s, &in_s, &os));
    TEST_OK(evk_model_forward(mf, s, &in_f, &of));
    TEST_OK(evk_stream_run(s));
    float *ys = malloc(sizeof(float) * (size_t)sn), *yf = malloc(sizeof(float) * (size_t)sn);
    TEST_OK(evk_tensor_download_f32(ctx, &os, ys));
    TEST_OK(evk_tensor_download_f32(ctx, &of, yf));
    assert_memory_equal(ys, yf, sizeof(float) * (size_t)sn);
    free(x), free(ys), free(yf);
    evk_tensor *all[] = {&ca, &cb, &xt, &t, &al, &sg, &os, &of};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) evk_tensor_free(ctx, all[i]);
    evk_stream_destroy(s);
    evk_sd_destroy(single);
    evk_sd_destroy(folder);
    remove(file);
}

static void test_bad_folders(void **state) {
    evk_context *ctx = *state;
    evk_sd *sd = NULL;
    assert_int_not_equal(evk_sd_load(ctx, "/nonexistent/model", NULL, &sd), EVK_OK);
    assert_null(sd);
    assert_non_null(strstr(evk_error_message(), "/nonexistent/model"));
    char dir[] = "/tmp/evoke-sd-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[600];
    snprintf(path, sizeof path, "%s/model_index.json", dir);
    FILE *f = fopen(path, "w");
    fputs("{\"_class_name\": \"StableDiffusionPipeline\", \"unet\": [\"diffusers\", \"UNet2DConditionModel\"]}", f);
    fclose(f);
    assert_int_not_equal(evk_sd_load(ctx, dir, NULL, &sd), EVK_OK); /* no unet/config.json */
    assert_non_null(strstr(evk_error_message(), "unet"));
    remove(path);
    rmdir(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pipeline_matches_pytorch),
        cmocka_unit_test(test_single_file),
        cmocka_unit_test(test_bad_folders),
    };
    return cmocka_run_group_tests(tests, setup, test_group_teardown);
}
