/* test_pytorch.c — PyTorch checkpoints as weight sets: files written by the real torch.save
 * (tools/ref/fixtures_pytorch.py) read through evk_weights and compared value for value with
 * what the script wrote (an expectation file per checkpoint, read by the independent safetensors
 * reader), through the host and the device, views and non-contiguous strides included; and every
 * hostile file (a global that would run a command, deep nesting, huge declared sizes, truncated,
 * overlapping, deflated or altered archives, the legacy format) refused with EVK_ERROR_FORMAT and
 * a message naming the file and the problem. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "formats/pytorch.h"
#include "formats/safetensors.h"
#include "formats/weights.h"

/* Every tensor of `file` against `file`.expect.safetensors; returns the weight set. */
static evk_weights *check_against_expect(evk_context *ctx, const char *file) {
    char path[512], epath[600];
    test_data_path(file, path, sizeof path);
    snprintf(epath, sizeof epath, "%s.expect.safetensors", path);
    evk_weights *ws;
    evk_safetensors *ex;
    TEST_OK(evk_weights_open(ctx, path, &ws));
    TEST_OK(evk_safetensors_open(epath, &ex));
    if (evk_weights_count(ws) != evk_safetensors_count(ex))
        fail_msg("%s: %zu tensors, expected %zu", file, evk_weights_count(ws), evk_safetensors_count(ex));
    for (size_t i = 0; i < evk_safetensors_count(ex); i++) {
        const evk_st_tensor *want = evk_safetensors_at(ex, i);
        const evk_st_tensor *got = evk_weights_lookup(ws, want->name, NULL);
        if (!got) fail_msg("%s: tensor '%s' not found", file, want->name);
        assert_int_equal(got->ndim, want->ndim);
        for (int d = 0; d < want->ndim; d++) assert_int_equal(got->shape[d], want->shape[d]);
        assert_int_equal(got->numel, want->numel);
        if (want->dtype == EVK_ST_F32) {
            float *v = malloc(want->numel * 4 + 4);
            for (uint64_t k = 0; k < want->numel; k++) v[k] = -12345.0f;
            TEST_OK(evk_weights_read_f32(ws, want->name, want->ndim, want->shape, v));
            if (want->numel && memcmp(v, want->data, want->numel * 4)) {
                for (uint64_t k = 0; k < want->numel; k++) {
                    float w;
                    memcpy(&w, want->data + 4 * k, 4);
                    if (memcmp(&v[k], &w, 4)) fail_msg("%s: '%s'[%llu] = %.9g, expected %.9g", file, want->name, (unsigned long long)k, v[k], w);
                }
            }
            free(v);
        } else {
            /* integer and bool tensors: the same dtype and bytes (all are contiguous here) */
            assert_int_equal(got->dtype, want->dtype);
            assert_null(got->strides);
            if (memcmp(got->data, want->data, want->end - want->begin)) fail_msg("%s: '%s' bytes differ", file, want->name);
        }
    }
    evk_safetensors_close(ex);
    return ws;
}

static void test_checkpoints_match_torch(void **state) {
    (void)state;
    const char *files[] = {"pytorch/dtypes.pt", "pytorch/lightning.ckpt", "pytorch/module.pth", "pytorch/nested.pt",
                           "pytorch/views.pt", "pytorch/lora_list.pt", "pytorch/zip64.pt"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) evk_weights_close(check_against_expect(NULL, files[i]));

    /* the state dict of a wrapped checkpoint is found without its wrapper's name */
    char path[512];
    evk_pytorch *pt;
    TEST_OK(evk_pytorch_open(test_data_path("pytorch/lightning.ckpt", path, sizeof path), &pt));
    assert_non_null(evk_pytorch_find(pt, "0.weight"));
    assert_null(evk_pytorch_find(pt, "state_dict.0.weight"));
    assert_null(evk_pytorch_find(pt, "optimizer_states.0.state.0.exp_avg"));
    assert_int_equal(evk_pytorch_find(pt, "0.weight")->dtype, EVK_ST_F32);
    evk_pytorch_close(pt);

    /* views keep their storage: offsets land inside the shared entry, strides only where needed */
    TEST_OK(evk_pytorch_open(test_data_path("pytorch/views.pt", path, sizeof path), &pt));
    const evk_st_tensor *base = evk_pytorch_find(pt, "base"), *row = evk_pytorch_find(pt, "row");
    const evk_st_tensor *t = evk_pytorch_find(pt, "t"), *ex = evk_pytorch_find(pt, "expand"), *blk = evk_pytorch_find(pt, "block");
    assert_non_null(base);
    assert_null(base->strides);
    assert_null(row->strides);
    assert_ptr_equal(row->data, base->data + 6 * 4);
    assert_non_null(t->strides);
    assert_int_equal(t->strides[0], 1);
    assert_int_equal(t->strides[1], 6);
    assert_int_equal(ex->strides[0], 0);
    assert_int_equal(ex->strides[1], 0);
    assert_ptr_equal(blk->data, base->data + 8 * 4);
    /* a slice of a strided read starts at the right element */
    float part[3];
    TEST_OK(evk_st_convert(t, 9, 3, EVK_DTYPE_F32, part)); /* t[2][1], t[2][2], t[2][3] = base[8], base[14], base[20] */
    float b[24];
    TEST_OK(evk_st_convert(base, 0, 24, EVK_DTYPE_F32, b));
    assert_true(part[0] == b[8] && part[1] == b[14] && part[2] == b[20]);
    evk_pytorch_close(pt);
}

/* Through the device: f32 and f16 storage, contiguous and strided sources. */
static void test_device_upload(void **state) {
    evk_context *ctx = *state;
    const char *files[] = {"pytorch/dtypes.pt", "pytorch/views.pt"};
    const char *names[][4] = {{"f32", "f16", "bf16", "f64"}, {"t", "block", "expand", "half"}};
    for (int f = 0; f < 2; f++) {
        evk_weights *ws = check_against_expect(ctx, files[f]);
        for (int k = 0; k < 4; k++) {
            int ndim;
            int64_t shape[EVK_ST_MAX_DIMS];
            TEST_OK(evk_weights_shape(ws, names[f][k], &ndim, shape));
            int64_t n = 1;
            for (int i = 0; i < ndim; i++) n *= shape[i];
            float *want = malloc((size_t)n * 4), *got = malloc((size_t)n * 4);
            uint16_t *bits = malloc((size_t)n * 2);
            TEST_OK(evk_weights_read_f32(ws, names[f][k], ndim, shape, want));
            evk_tensor t;
            TEST_OK(evk_weights_get(ws, names[f][k], ndim, shape, EVK_DTYPE_F32, &t));
            test_poison(ctx, &t.buf);
            evk_tensor_free(ctx, &t);
            TEST_OK(evk_weights_get(ws, names[f][k], ndim, shape, EVK_DTYPE_F32, &t));
            TEST_OK(evk_tensor_download_f32(ctx, &t, got));
            for (int64_t i = 0; i < n; i++)
                if (memcmp(&got[i], &want[i], 4)) fail_msg("%s '%s'[%lld] on the device: %.9g, expected %.9g", files[f], names[f][k],
                                                           (long long)i, got[i], want[i]);
            evk_tensor_free(ctx, &t);
            TEST_OK(evk_weights_get(ws, names[f][k], ndim, shape, EVK_DTYPE_F16, &t));
            TEST_OK(evk_buffer_download(ctx, &t.buf, 0, bits, (uint64_t)n * 2));
            for (int64_t i = 0; i < n; i++)
                if (bits[i] != evk_f32_to_f16(want[i])) fail_msg("%s '%s'[%lld] as f16: 0x%04x, expected 0x%04x", files[f], names[f][k],
                                                                  (long long)i, bits[i], evk_f32_to_f16(want[i]));
            evk_tensor_free(ctx, &t);
            free(want);
            free(got);
            free(bits);
        }
        evk_weights_close(ws);
    }
    test_assert_no_validation(ctx);
}

static void test_hostile_files(void **state) {
    (void)state;
    static const struct { const char *file, *n1, *n2; } cases[] = {
        {"evil_global.pt", "global 'posix.system'", "pickle byte 13"},
        {"bad_global_storage.pt", "collections.OrderedDict", "not a storage type"},
        {"deep_marks.pt", "MARKs nested deeper than 256", "data.pkl"},
        {"deep_nesting.pt", "nested deeper than 32", "a.a.a.a"},
        {"huge_size.pt", "tensor 'w'", "reaches past the 6 elements"},
        {"huge_storage.pt", "tensor 'w'", "storage size 2305843009213693952 is invalid"},
        {"size_mismatch.pt", "declares 100 F32 elements", "holds 24 bytes"},
        {"truncated.pt", "end-of-central-directory", NULL},
        {"overlap.pt", "overlap", "archive/data/000"},
        {"deflated.pt", "is deflated", "re-save"},
        {"bad_crc.pt", "CRC-32", "data.pkl"},
        {"legacy.pt", "legacy PyTorch format", "_use_new_zipfile_serialization=True"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char name[128], path[512];
        snprintf(name, sizeof name, "pytorch/%s", cases[i].file);
        test_data_path(name, path, sizeof path);
        evk_weights *ws = NULL;
        evk_status s = evk_weights_open(NULL, path, &ws);
        const char *m = evk_error_message();
        if (s != EVK_ERROR_FORMAT) fail_msg("%s: expected EVK_ERROR_FORMAT, got %s (%s)", cases[i].file, evk_status_name(s), m);
        assert_null(ws);
        if (!strstr(m, path)) fail_msg("%s: message does not name the file: %s", cases[i].file, m);
        if (!strstr(m, cases[i].n1)) fail_msg("%s: message lacks '%s': %s", cases[i].file, cases[i].n1, m);
        if (cases[i].n2 && !strstr(m, cases[i].n2)) fail_msg("%s: message lacks '%s': %s", cases[i].file, cases[i].n2, m);
        if (strchr(m, '\n')) fail_msg("%s: message is not one line: %s", cases[i].file, m);
    }
    evk_weights *ws = NULL;
    assert_int_equal(evk_weights_open(NULL, "/nonexistent/model.ckpt", &ws), EVK_ERROR_IO);
}

/* Every prefix of a good checkpoint, and every single-byte change to its zip structure and
 * pickle, either reads or fails with a message: never a crash (run under ASan in the sanitizer
 * build), never another status. */
static void test_damage_sweep(void **state) {
    (void)state;
    char path[512];
    FILE *f = fopen(test_data_path("pytorch/views.pt", path, sizeof path), "rb");
    assert_non_null(f);
    uint8_t *buf = malloc(1 << 16);
    size_t n = fread(buf, 1, 1 << 16, f);
    fclose(f);
    assert_true(n > 0 && n < (1 << 16));
    for (size_t len = 0; len < n; len++) {
        evk_pytorch *pt = NULL;
        evk_status s = evk_pytorch_parse(buf, len, "cut.pt", &pt);
        if (s != EVK_ERROR_FORMAT) fail_msg("prefix of %zu bytes: %s (%s)", len, evk_status_name(s), evk_error_message());
    }
    int accepted = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t old = buf[i];
        buf[i] = (uint8_t)(old ^ 0x5a);
        evk_pytorch *pt = NULL;
        evk_status s = evk_pytorch_parse(buf, n, "flip.pt", &pt);
        if (s == EVK_OK) {
            accepted++;
            for (size_t k = 0; k < evk_pytorch_count(pt); k++) {
                const evk_st_tensor *t = evk_pytorch_at(pt, k);
                float *v = malloc(t->numel * 4 + 4);
                if (evk_st_dtype_is_float(t->dtype)) TEST_OK(evk_st_convert(t, 0, t->numel, EVK_DTYPE_F32, v));
                free(v);
            }
            evk_pytorch_close(pt);
        } else if (s != EVK_ERROR_FORMAT) {
            fail_msg("byte %zu changed: %s (%s)", i, evk_status_name(s), evk_error_message());
        }
        buf[i] = old;
    }
    assert_true(accepted > 0); /* changes to tensor data and padding are not the reader's business */
    free(buf);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_checkpoints_match_torch),
        cmocka_unit_test(test_device_upload),
        cmocka_unit_test(test_hostile_files),
        cmocka_unit_test(test_damage_sweep),
    };
    return cmocka_run_group_tests(tests, test_group_setup, test_group_teardown);
}
