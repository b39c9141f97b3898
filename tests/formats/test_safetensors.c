/* test_safetensors.c — the safetensors reader and weight sets: files written by the Python
 * reference (every dtype conversion checked bit for bit against numpy/torch rounding, on the
 * device and on the host), sharded folders, prefixes, single-file name maps with fused-tensor
 * splits and 1x1-conv reshapes, streamed uploads bounded by one chunk, and every kind of damaged
 * file (each must fail with EVK_ERROR_FORMAT and a message naming the file, the tensor and the
 * problem). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "formats/safetensors.h"
#include "models/sd/sd_keys.h"
#include "formats/weights.h"

static char tmpdir[64];

static const char *tmp_path(const char *name, char *buf, size_t n) {
    snprintf(buf, n, "%s/%s", tmpdir, name);
    return buf;
}

/* header text + `data_len` bytes of data (+ `extra` trailing bytes), header length optional override */
static void write_st(const char *path, const char *header, size_t data_len, size_t extra, long long header_len_override) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    uint64_t n = header_len_override >= 0 ? (uint64_t)header_len_override : strlen(header);
    uint8_t len[8];
    for (int i = 0; i < 8; i++) len[i] = (uint8_t)(n >> (8 * i));
    fwrite(len, 1, 8, f);
    fwrite(header, 1, strlen(header), f);
    for (size_t i = 0; i < data_len + extra; i++) fputc((int)(i * 37 & 0xff), f);
    fclose(f);
}

/* Open must fail with FORMAT and a message holding every `needles` entry. */
static void expect_bad(const char *name, const char *header, size_t data_len, size_t extra, long long len_override, const char *n1,
                       const char *n2) {
    char path[256];
    tmp_path(name, path, sizeof path);
    write_st(path, header, data_len, extra, len_override);
    evk_safetensors *st = NULL;
    evk_status s = evk_safetensors_open(path, &st);
    if (s != EVK_ERROR_FORMAT) fail_msg("%s: expected EVK_ERROR_FORMAT, got %s (%s)", name, evk_status_name(s), evk_error_message());
    assert_null(st);
    const char *m = evk_error_message();
    if (!strstr(m, path)) fail_msg("%s: message does not name the file: %s", name, m);
    if (n1 && !strstr(m, n1)) fail_msg("%s: message lacks '%s': %s", name, n1, m);
    if (n2 && !strstr(m, n2)) fail_msg("%s: message lacks '%s': %s", name, n2, m);
    remove(path);
}

static void test_bad_files(void **state) {
    (void)state;
    const char *ok = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
                     "\"b\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[24,32]}}";
    /* the well-formed version opens */
    char path[256];
    write_st(tmp_path("ok.safetensors", path, sizeof path), ok, 32, 0, -1);
    evk_safetensors *st;
    TEST_OK(evk_safetensors_open(path, &st));
    assert_int_equal(evk_safetensors_count(st), 2);
    evk_safetensors_close(st);
    remove(path);

    expect_bad("truncated", ok, 28, 0, -1, "'b'", "truncated");
    expect_bad("trailing", ok, 32, 5, -1, "past the last tensor", NULL);
    expect_bad("header_past_end", ok, 0, 0, 5000, "runs past the end", NULL);
    expect_bad("header_huge", ok, 32, 0, 200ll * 1000 * 1000, "exceeds", NULL);
    expect_bad("tiny", "", 0, 0, 3, "runs past the end", NULL);
    expect_bad("overlap",
               "{\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
               "\"b\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[16,24]}}",
               24, 0, -1, "overlap", "'a'");
    expect_bad("gap",
               "{\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
               "\"b\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[28,36]}}",
               36, 0, -1, "gap", "'b'");
    expect_bad("bad_dtype", "{\"a\":{\"dtype\":\"F33\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, 0, -1, "unknown dtype", "'a'");
    expect_bad("size_mismatch", "{\"weight\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,20]}}", 20, 0, -1, "'weight'",
               "needs 24 bytes");
    expect_bad("duplicate",
               "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
               "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
               8, 0, -1, "'a' appears twice", NULL);
    expect_bad("not_json", "{\"a\": [1, 2", 0, 0, -1, "not valid JSON", NULL);
    expect_bad("not_object", "[1,2,3]", 0, 0, -1, "JSON object", NULL);
    expect_bad("negative_dim", "{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4, 0, -1, "'a'", "dimension 0");
    expect_bad("fraction", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4.5]}}", 4, 0, -1, "'a'", "data_offsets");
    expect_bad("reversed", "{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,0]}}", 4, 0, -1, "'a'", "end before");
    expect_bad("no_dtype", "{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, 0, -1, "'a'", "dtype");
    expect_bad("bad_meta", "{\"__metadata__\":{\"k\":3}}", 0, 0, -1, "metadata", NULL);
    expect_bad("overflow", "{\"a\":{\"dtype\":\"F64\",\"shape\":[281474976710656,281474976710656],\"data_offsets\":[0,8]}}", 8, 0,
               -1, "'a'", "overflow");
    expect_bad("garbage_after", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}} x", 4, 0, -1, "after", NULL);

    /* padding spaces after the JSON are fine, and so is a file holding no tensors */
    write_st(tmp_path("pad.safetensors", path, sizeof path), "{\"__metadata__\":{\"k\":\"v\"}}      ", 0, 0, -1);
    TEST_OK(evk_safetensors_open(path, &st));
    assert_int_equal(evk_safetensors_count(st), 0);
    assert_string_equal(evk_safetensors_metadata(st, "k"), "v");
    evk_safetensors_close(st);
    remove(path);

    assert_int_equal(evk_safetensors_open("/nonexistent/x.safetensors", &st), EVK_ERROR_IO);
    assert_non_null(strstr(evk_error_message(), "/nonexistent/x.safetensors"));
}

static void check_equal_f32(const float *got, const float *want, size_t n, const char *what) {
    for (size_t i = 0; i < n; i++)
        if (memcmp(&got[i], &want[i], 4)) fail_msg("%s[%zu]: %.9g, expected %.9g", what, i, got[i], want[i]);
}

/* Every float tensor converted to f32 and f16 storage, on the host and through the device. */
static void test_mixed_conversions(void **state) {
    evk_context *ctx = *state;
    char path[512];
    test_data_path("safetensors/mixed.safetensors", path, sizeof path);
    evk_weights *ws;
    TEST_OK(evk_weights_open(ctx, path, &ws));
    assert_int_equal(evk_weights_count(ws), 13);
    const char *srcs[] = {"w.f32", "w.f16", "w.bf16", "w.f64"};
    for (int k = 0; k < 4; k++) {
        int ndim;
        int64_t shape[EVK_ST_MAX_DIMS];
        TEST_OK(evk_weights_shape(ws, srcs[k], &ndim, shape));
        int64_t n = 1;
        for (int i = 0; i < ndim; i++) n *= shape[i];
        float *want = malloc((size_t)n * 4), *got = malloc((size_t)n * 4);
        char en[64];
        /* f32 storage */
        snprintf(en, sizeof en, "expect.f32.%s", srcs[k]);
        if (k == 0) TEST_OK(evk_weights_read_f32(ws, "w.f32", ndim, shape, want));
        else TEST_OK(evk_weights_read_f32(ws, en, ndim, shape, want));
        for (size_t i = 0; i < (size_t)n; i++) got[i] = NAN;
        TEST_OK(evk_weights_read_f32(ws, srcs[k], ndim, shape, got));
        check_equal_f32(got, want, (size_t)n, srcs[k]);
        evk_tensor t;
        TEST_OK(evk_weights_get(ws, srcs[k], ndim, shape, EVK_DTYPE_F32, &t));
        assert_int_equal(t.dtype, EVK_DTYPE_F32);
        assert_int_equal(t.ndim, ndim);
        for (size_t i = 0; i < (size_t)n; i++) got[i] = NAN;
        TEST_OK(evk_tensor_download_f32(ctx, &t, got));
        check_equal_f32(got, want, (size_t)n, srcs[k]);
        evk_tensor_free(ctx, &t);
        /* f16 storage: bits equal to numpy's float16 rounding */
        snprintf(en, sizeof en, "expect.f16.%s", srcs[k]);
        if (k == 1) TEST_OK(evk_weights_read_f32(ws, "w.f16", ndim, shape, want));
        else TEST_OK(evk_weights_read_f32(ws, en, ndim, shape, want));
        TEST_OK(evk_weights_get(ws, srcs[k], ndim, shape, EVK_DTYPE_F16, &t));
        assert_int_equal(t.dtype, EVK_DTYPE_F16);
        uint16_t *bits = malloc((size_t)n * 2);
        TEST_OK(evk_buffer_download(ctx, &t.buf, 0, bits, (uint64_t)n * 2));
        for (size_t i = 0; i < (size_t)n; i++)
            if (bits[i] != evk_f32_to_f16(want[i])) fail_msg("%s as f16 [%zu]: 0x%04x, expected 0x%04x", srcs[k], i, bits[i], evk_f32_to_f16(want[i]));
        free(bits);
        evk_tensor_free(ctx, &t);
        free(want);
        free(got);
    }
    /* scalar: rank 0 in the file, requested as rank 0 (delivered as one element) */
    float v = 0;
    TEST_OK(evk_weights_read_f32(ws, "scalar", 0, NULL, &v));
    assert_true(v == 2.5f);
    /* metadata and dtypes come through */
    const evk_st_tensor *ids = evk_weights_lookup(ws, "ids", NULL);
    assert_non_null(ids);
    assert_int_equal(ids->dtype, EVK_ST_I64);
    for (int i = 0; i < 5; i++) {
        int64_t x;
        memcpy(&x, ids->data + 8 * i, 8);
        assert_int_equal(x, i * 7 - 3);
    }
    const evk_st_tensor *e = evk_weights_lookup(ws, "empty", NULL);
    assert_non_null(e);
    assert_int_equal(e->numel, 0);
    /* errors name the tensor and both shapes */
    evk_tensor t;
    int64_t wrong[3] = {3, 5, 6};
    assert_int_equal(evk_weights_get(ws, "w.f32", 3, wrong, EVK_DTYPE_F32, &t), EVK_ERROR_FORMAT);
    assert_non_null(strstr(evk_error_message(), "'w.f32'"));
    assert_non_null(strstr(evk_error_message(), "[3, 5, 7]"));
    assert_non_null(strstr(evk_error_message(), "[3, 5, 6]"));
    int64_t two[2] = {15, 7};
    assert_int_equal(evk_weights_get(ws, "w.f32", 2, two, EVK_DTYPE_F32, &t), EVK_ERROR_FORMAT);
    int64_t any[3] = {3, -1, 7};
    TEST_OK(evk_weights_get(ws, "w.f32", 3, any, EVK_DTYPE_F32, &t));
    assert_int_equal(t.shape[1], 5);
    evk_tensor_free(ctx, &t);
    assert_int_equal(evk_weights_get(ws, "down_blocks.9.missing.weight", 1, two, EVK_DTYPE_F32, &t), EVK_ERROR_FORMAT);
    assert_non_null(strstr(evk_error_message(), "'down_blocks.9.missing.weight' is missing"));
    assert_non_null(strstr(evk_error_message(), "mixed.safetensors"));
    int64_t five[1] = {5};
    assert_int_equal(evk_weights_get(ws, "ids", 1, five, EVK_DTYPE_F32, &t), EVK_ERROR_FORMAT);
    assert_non_null(strstr(evk_error_message(), "I64"));
    assert_int_equal(evk_weights_get(ws, "w.f32", 3, any, EVK_DTYPE_I32, &t), EVK_ERROR_INVALID_ARGUMENT);
    /* the unused report: everything not fetched */
    const char *names[16];
    size_t n = evk_weights_unused(ws, names, 16);
    assert_int_equal(n, 13 - 4 - 1 - 6); /* 4 sources, the scalar, 6 expectations were read */
    for (size_t i = 0; i < n; i++) assert_true(!strcmp(names[i], "ids") || !strcmp(names[i], "empty"));
    evk_weights_reset_used(ws);
    assert_int_equal(evk_weights_unused(ws, NULL, 0), 13);
    evk_weights_close(ws);
}

static void test_sharded_and_prefix(void **state) {
    evk_context *ctx = *state;
    char path[512];
    test_data_path("safetensors/sharded", path, sizeof path);
    evk_weights *ws;
    TEST_OK(evk_weights_open(ctx, path, &ws)); /* folder -> model.safetensors.index.json */
    assert_int_equal(evk_weights_count(ws), 4);
    TEST_OK(evk_weights_set_prefix(ws, "text_model."));
    float a[12], c[10], b[4];
    int64_t sa[2] = {3, 4}, sc[2] = {2, 5}, sb[1] = {4};
    TEST_OK(evk_weights_read_f32(ws, "a.weight", 2, sa, a));
    TEST_OK(evk_weights_read_f32(ws, "c.weight", 2, sc, c));
    for (int i = 0; i < 12; i++) {
        double x = sin(0.37 * i + 5) * 3.5 + 0.01 * (i % 7);
        assert_true(fabs(a[i] - x) < 1e-6);
    }
    for (int i = 0; i < 10; i++) assert_true(fabs(c[i] - (sin(0.37 * i + 7) * 4.5 + 0.01 * (i % 7))) < 1e-6);
    const char *names[8];
    size_t n = evk_weights_unused(ws, names, 8); /* in the prefix's scope only: vision_model.d is not listed */
    assert_int_equal(n, 1);
    assert_string_equal(names[0], "text_model.b.bias");
    TEST_OK(evk_weights_read_f32(ws, "b.bias", 1, sb, b));
    assert_int_equal(evk_weights_unused(ws, NULL, 0), 0);
    assert_int_equal(evk_weights_read_f32(ws, "d", 1, sb, b), EVK_ERROR_FORMAT);
    assert_non_null(strstr(evk_error_message(), "stored as 'text_model.d'"));
    evk_weights_close(ws);

    /* an index naming a file outside its folder, or a tensor its shard lacks, is refused */
    char ip[256], sp[256];
    tmp_path("bad.index.json", ip, sizeof ip);
    FILE *f = fopen(ip, "w");
    fputs("{\"weight_map\": {\"x\": \"../etc/passwd\"}}", f);
    fclose(f);
    assert_int_equal(evk_weights_open(ctx, ip, &ws), EVK_ERROR_FORMAT);
    assert_non_null(strstr(evk_error_message(), "../etc/passwd"));
    write_st(tmp_path("shard.safetensors", sp, sizeof sp), "{\"y\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, 0, -1);
    f = fopen(ip, "w");
    fputs("{\"weight_map\": {\"x\": \"shard.safetensors\"}}", f);
    fclose(f);
    assert_int_equal(evk_weights_open(ctx, ip, &ws), EVK_ERROR_FORMAT);
    assert_non_null(strstr(evk_error_message(), "'x'"));
    remove(ip);
    /* the same name in two files */
    const char *two[2] = {sp, sp};
    assert_int_equal(evk_weights_open_files(ctx, two, 2, &ws), EVK_ERROR_FORMAT);
    assert_non_null(strstr(evk_error_message(), "'y'"));
    remove(sp);
    /* a folder with no weights */
    assert_int_equal(evk_weights_open(ctx, tmpdir, &ws), EVK_ERROR_IO);
    assert_non_null(strstr(evk_error_message(), "no weights"));
}

/* Fused OpenCLIP in_proj split into q/k/v, and the VAE's 1x1-conv attention read as linear. */
static void test_single_file_transforms(void **state) {
    evk_context *ctx = *state;
    char path[512];
    test_data_path("safetensors/single_file_tiny.safetensors", path, sizeof path);
    evk_weights *ws, *raw;
    TEST_OK(evk_weights_open(ctx, path, &ws));
    TEST_OK(evk_weights_open(NULL, path, &raw));
    evk_sd_keys text;
    TEST_OK(evk_sd_keys_text(ws, &text));
    assert_int_equal(text.part, EVK_SD_PART_TEXT_OPENCLIP);
    evk_weights_use_sd_keys(ws, &text);
    const char *parts[3] = {"q_proj", "k_proj", "v_proj"};
    for (int k = 0; k < 3; k++) {
        for (int isb = 0; isb < 2; isb++) {
            char name[128], en[64];
            snprintf(name, sizeof name, "text_model.encoder.layers.0.self_attn.%s.%s", parts[k], isb ? "bias" : "weight");
            snprintf(en, sizeof en, "expect.%s.%s", parts[k], isb ? "bias" : "weight");
            int64_t shape[2] = {8, 8};
            float want[64], got[64];
            TEST_OK(evk_weights_read_f32(raw, en, isb ? 1 : 2, shape, want));
            evk_tensor t;
            TEST_OK(evk_weights_get(ws, name, isb ? 1 : 2, shape, EVK_DTYPE_F32, &t));
            TEST_OK(evk_tensor_download_f32(ctx, &t, got));
            check_equal_f32(got, want, isb ? 8 : 64, name);
            evk_tensor_free(ctx, &t);
        }
    }
    int64_t bad[2] = {24, 8};
    evk_tensor t;
    assert_int_equal(evk_weights_get(ws, "text_model.encoder.layers.0.self_attn.q_proj.weight", 2, bad, EVK_DTYPE_F32, &t), EVK_ERROR_FORMAT);
    assert_non_null(strstr(evk_error_message(), "splitting"));
    /* only the fused tensors were in scope and both were used */
    assert_int_equal(evk_weights_unused(ws, NULL, 0), 0);
    evk_weights_close(ws);

    TEST_OK(evk_weights_open(ctx, path, &ws));
    evk_vae_config vc;
    evk_vae_config_default(&vc);
    vc.num_blocks = 2;
    evk_sd_keys vk;
    TEST_OK(evk_sd_keys_vae(&vc, &vk));
    evk_weights_use_sd_keys(ws, &vk);
    int64_t lin[2] = {8, 8};
    float want[64], got[64];
    TEST_OK(evk_weights_read_f32(raw, "expect.to_q.weight", 2, lin, want));
    TEST_OK(evk_weights_get(ws, "decoder.mid_block.attentions.0.to_q.weight", 2, lin, EVK_DTYPE_F32, &t));
    TEST_OK(evk_tensor_download_f32(ctx, &t, got));
    check_equal_f32(got, want, 64, "to_q");
    evk_tensor_free(ctx, &t);
    int64_t lin_bad[2] = {8, 4};
    assert_int_equal(evk_weights_get(ws, "decoder.mid_block.attentions.0.to_q.weight", 2, lin_bad, EVK_DTYPE_F32, &t), EVK_ERROR_FORMAT);
    assert_non_null(strstr(evk_error_message(), "[8, 8, 1, 1]"));
    evk_weights_close(ws);
    evk_weights_close(raw);
}

/* A tensor larger than one chunk: uploaded piecewise, host chunk bounded, every element right. */
static void test_streamed_upload(void **state) {
    evk_context *ctx = *state;
    const int64_t rows = 1237, cols = 1031; /* 1.27 M elements, 2.5 MB as F16: several small chunks */
    char header[256], path[256];
    uint64_t bytes = (uint64_t)(rows * cols) * 2;
    snprintf(header, sizeof header, "{\"big\":{\"dtype\":\"F16\",\"shape\":[%lld,%lld],\"data_offsets\":[0,%llu]}}", (long long)rows,
             (long long)cols, (unsigned long long)bytes);
    tmp_path("big.safetensors", path, sizeof path);
    FILE *f = fopen(path, "wb");
    uint64_t hl = strlen(header);
    uint8_t len[8];
    for (int i = 0; i < 8; i++) len[i] = (uint8_t)(hl >> (8 * i));
    fwrite(len, 1, 8, f);
    fwrite(header, 1, hl, f);
    test_rng rng = {42};
    uint16_t *h = malloc(bytes);
    for (int64_t i = 0; i < rows * cols; i++) h[i] = evk_f32_to_f16((float)test_rng_normal(&rng));
    fwrite(h, 1, bytes, f);
    fclose(f);
    evk_safetensors *st;
    TEST_OK(evk_safetensors_open(path, &st));
    const evk_st_tensor *t = evk_safetensors_find(st, "big");
    assert_non_null(t);
    evk_buffer buf;
    TEST_OK(evk_buffer_alloc(ctx, (uint64_t)rows * cols * 4 + 64, &buf));
    test_poison(ctx, &buf);
    /* 3000-byte chunks (750 floats: not a divisor of anything), into offset 16 */
    TEST_OK(evk_st_upload(ctx, t, 0, (uint64_t)(rows * cols), EVK_DTYPE_F32, &buf, 16, 3000));
    float *got = malloc((size_t)(rows * cols) * 4 + 64);
    TEST_OK(evk_buffer_download(ctx, &buf, 0, got, (uint64_t)rows * cols * 4 + 64));
    uint32_t poison;
    memcpy(&poison, &got[0], 4);
    assert_int_equal(poison, TEST_POISON_BITS);
    for (int64_t i = 0; i < rows * cols; i++) {
        float want = evk_f16_to_f32(h[i]);
        if (memcmp(&got[4 + i], &want, 4)) fail_msg("big[%lld]: %g, expected %g", (long long)i, got[4 + i], want);
    }
    memcpy(&poison, &got[4 + rows * cols], 4);
    assert_int_equal(poison, TEST_POISON_BITS);
    evk_buffer_free(ctx, &buf);
    /* through a weight set with the default chunk: host memory stays at one chunk (4 MiB), not the 5 MB tensor */
    evk_weights *ws;
    TEST_OK(evk_weights_open(ctx, path, &ws));
    evk_tensor tt;
    int64_t shape[2] = {rows, cols};
    TEST_OK(evk_weights_get(ws, "big", 2, shape, EVK_DTYPE_F32, &tt));
    assert_true(evk_st_upload_peak_chunk() <= (4u << 20));
    assert_true(evk_tensor_bytes(&tt) > (4u << 20));
    TEST_OK(evk_tensor_download_f32(ctx, &tt, got));
    for (int64_t i = 0; i < rows * cols; i++)
        if (got[i] != evk_f16_to_f32(h[i])) fail_msg("weights big[%lld] wrong", (long long)i);
    evk_tensor_free(ctx, &tt);
    evk_weights_close(ws);
    evk_safetensors_close(st);
    free(got);
    free(h);
    remove(path);
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/evoke-st-XXXXXX");
    if (!mkdtemp(tmpdir)) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_mixed_conversions),
        cmocka_unit_test(test_sharded_and_prefix),
        cmocka_unit_test(test_single_file_transforms),
        cmocka_unit_test(test_streamed_upload),
    };
    int rc = cmocka_run_group_tests(tests, test_group_setup, test_group_teardown);
    rmdir(tmpdir);
    return rc;
}
