/* test_gguf.c — the GGUF reader, host dequantisation and GGUF weight sets, on the files
 * tools/ref/fixtures_gguf.py writes: every supported type (random blocks with edge-case scales)
 * dequantised block by block and compared bit for bit with llama.cpp gguf-py's dequantisation,
 * from whole tensors and from ranges that start and end inside blocks, to f32 and f16, on the host
 * and uploaded to the device; raw blocks handed over unchanged; metadata of every value type;
 * the device kernel (ops/op_dequant.h) against the same references, split into several
 * dispatches too; a valid file whose type evoke cannot dequantise; every prefix of a valid file;
 * ComfyUI-GGUF's original-shape keys; and hostile files,
 * each of which must fail with EVK_ERROR_FORMAT and a message naming the file and the problem. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "formats/gguf.h"
#include "formats/weights.h"
#include "ops/op_dequant.h"

static const struct {
    const char *file;
    uint32_t type;
    uint32_t version, alignment;
} types[] = {
    {"f32", EVK_GGUF_F32, 3, 32},   {"f16", EVK_GGUF_F16, 3, 32},   {"bf16", EVK_GGUF_BF16, 3, 32},
    {"q8_0", EVK_GGUF_Q8_0, 2, 32}, {"q4_0", EVK_GGUF_Q4_0, 3, 32}, {"q4_1", EVK_GGUF_Q4_1, 3, 32},
    {"q5_0", EVK_GGUF_Q5_0, 3, 32}, {"q5_1", EVK_GGUF_Q5_1, 3, 32}, {"q4_k", EVK_GGUF_Q4_K, 3, 64},
    {"q5_k", EVK_GGUF_Q5_K, 3, 32}, {"q6_k", EVK_GGUF_Q6_K, 3, 32},
};
#define NTYPES (sizeof types / sizeof *types)

static const char *gguf_path(const char *name, char *buf, size_t n) {
    char rel[128];
    snprintf(rel, sizeof rel, "gguf/%s.gguf", name);
    return test_data_path(rel, buf, n);
}

/* Bitwise equality (so -0 and +0 differ), reported per block. */
static void check_bits(const float *got, const float *want, size_t n, uint32_t block, const char *what) {
    for (size_t i = 0; i < n; i++) {
        uint32_t a, b;
        memcpy(&a, &got[i], 4);
        memcpy(&b, &want[i], 4);
        if (a != b)
            fail_msg("%s: element %zu (block %zu) is %.9g (0x%08x), gguf-py gives %.9g (0x%08x)", what, i, i / block, got[i], a, want[i], b);
    }
}

static void test_types_host(void **state) {
    (void)state;
    for (size_t k = 0; k < NTYPES; k++) {
        char path[512];
        gguf_path(types[k].file, path, sizeof path);
        evk_gguf *g;
        TEST_OK(evk_gguf_open(path, &g));
        assert_int_equal(evk_gguf_version(g), types[k].version);
        assert_int_equal(evk_gguf_alignment(g), types[k].alignment);
        assert_int_equal(evk_gguf_count(g), 2);
        const evk_st_tensor *w = evk_gguf_find(g, "w"), *ref = evk_gguf_find(g, "ref");
        assert_non_null(w);
        assert_non_null(ref);
        assert_ptr_equal(evk_gguf_at(g, 0), w); /* info order */
        assert_int_equal(ref->dtype, EVK_ST_F32);
        uint32_t block, bytes;
        assert_true(evk_gguf_type_block(types[k].type, &block, &bytes));
        if (block > 1) {
            assert_int_equal(w->dtype, EVK_ST_QUANT);
            assert_int_equal(w->quant, types[k].type);
        }
        /* row-major shape: GGUF's ne[] reversed */
        assert_int_equal(w->ndim, 2);
        assert_int_equal(w->shape[0], ref->shape[0]);
        assert_int_equal(w->shape[1], ref->shape[1]);
        assert_int_equal(w->end - w->begin, w->numel / block * bytes);
        assert_int_equal(w->shape[1] % block, 0);
        size_t n = (size_t)w->numel;
        const float *want = (const float *)ref->data; /* aligned: data offsets are multiples of 32 */
        float *got = malloc(n * 4);
        uint16_t *half = malloc(n * 2);
        for (size_t i = 0; i < n; i++) got[i] = NAN;
        TEST_OK(evk_st_convert(w, 0, n, EVK_DTYPE_F32, got));
        check_bits(got, want, n, block, types[k].file);
        /* ranges that begin and end inside blocks */
        uint64_t spans[][2] = {{1, block + 5}, {block - 1, 2}, {n - 3, 3}, {block + 3, n - block - 7}, {0, 1}};
        for (size_t r = 0; r < sizeof spans / sizeof *spans; r++) {
            uint64_t first = spans[r][0], count = spans[r][1];
            if (first + count > n) continue;
            for (size_t i = 0; i < count; i++) got[i] = NAN;
            TEST_OK(evk_st_convert(w, first, count, EVK_DTYPE_F32, got));
            check_bits(got, want + first, count, block, types[k].file);
            TEST_OK(evk_st_convert(w, first, count, EVK_DTYPE_F16, half));
            for (size_t i = 0; i < count; i++)
                if (half[i] != evk_f32_to_f16(want[first + i]))
                    fail_msg("%s as f16 [%llu]: 0x%04x, expected 0x%04x", types[k].file, (unsigned long long)(first + i), half[i],
                             evk_f32_to_f16(want[first + i]));
        }
        assert_int_equal(evk_st_convert(w, n - 2, 3, EVK_DTYPE_F32, got), EVK_ERROR_INVALID_ARGUMENT);
        int64_t shape[2] = {w->shape[0], w->shape[1]};
        evk_gguf_close(g);

        /* the same through a weight set (no device: host reads) */
        evk_weights *ws;
        TEST_OK(evk_weights_open(NULL, path, &ws));
        for (size_t i = 0; i < n; i++) got[i] = NAN;
        TEST_OK(evk_weights_read_f32(ws, "w", 2, shape, got));
        float *want2 = malloc(n * 4);
        TEST_OK(evk_weights_read_f32(ws, "ref", 2, shape, want2));
        check_bits(got, want2, n, block, types[k].file);
        evk_weight_raw raw;
        TEST_OK(evk_weights_raw(ws, "w", 2, shape, &raw));
        assert_int_equal(raw.size, n / block * bytes);
        assert_int_equal(raw.ndim, 2);
        assert_int_equal(raw.shape[1], shape[1]);
        if (block > 1) assert_int_equal(raw.quant, types[k].type);
        int64_t wrong[2] = {shape[0], shape[1] + 1};
        assert_int_equal(evk_weights_read_f32(ws, "w", 2, wrong, got), EVK_ERROR_FORMAT);
        assert_non_null(strstr(evk_error_message(), "'w'"));
        assert_int_equal(evk_weights_unused(ws, NULL, 0), 0);
        evk_weights_close(ws);
        free(want2);
        free(half);
        free(got);
    }
}

static void test_types_device(void **state) {
    evk_context *ctx = *state;
    for (size_t k = 0; k < NTYPES; k++) {
        char path[512];
        evk_weights *ws;
        TEST_OK(evk_weights_open(ctx, gguf_path(types[k].file, path, sizeof path), &ws));
        int ndim;
        int64_t shape[EVK_ST_MAX_DIMS];
        TEST_OK(evk_weights_shape(ws, "w", &ndim, shape));
        size_t n = (size_t)(shape[0] * shape[1]);
        float *want = malloc(n * 4), *got = malloc(n * 4);
        uint16_t *bits = malloc(n * 2);
        TEST_OK(evk_weights_read_f32(ws, "ref", ndim, shape, want));
        evk_tensor t;
        TEST_OK(evk_weights_get(ws, "w", ndim, shape, EVK_DTYPE_F32, &t));
        for (size_t i = 0; i < n; i++) got[i] = NAN;
        TEST_OK(evk_tensor_download_f32(ctx, &t, got));
        uint32_t block;
        assert_true(evk_gguf_type_block(types[k].type, &block, NULL));
        check_bits(got, want, n, block, types[k].file);
        evk_tensor_free(ctx, &t);
        TEST_OK(evk_weights_get(ws, "w", ndim, shape, EVK_DTYPE_F16, &t));
        TEST_OK(evk_buffer_download(ctx, &t.buf, 0, bits, (uint64_t)n * 2));
        for (size_t i = 0; i < n; i++)
            if (bits[i] != evk_f32_to_f16(want[i])) fail_msg("%s on the device as f16 [%zu]: 0x%04x, expected 0x%04x", types[k].file, i,
                                                             bits[i], evk_f32_to_f16(want[i]));
        evk_tensor_free(ctx, &t);
        free(bits);
        free(got);
        free(want);
        evk_weights_close(ws);
    }
}

/* The device kernel on the raw blocks (as evk_weights_raw hands them over, tiled `reps` times)
 * equals gguf-py's values bit for bit. */
static void dequant_on_device(evk_context *ctx, size_t k, int reps) {
    char path[512];
    evk_weights *ws;
    TEST_OK(evk_weights_open(ctx, gguf_path(types[k].file, path, sizeof path), &ws));
    int ndim;
    int64_t shape[EVK_ST_MAX_DIMS];
    TEST_OK(evk_weights_shape(ws, "w", &ndim, shape));
    size_t n = (size_t)(shape[0] * shape[1]);
    evk_weight_raw raw;
    TEST_OK(evk_weights_raw(ws, "w", ndim, shape, &raw));
    float *ref = malloc(n * 4);
    TEST_OK(evk_weights_read_f32(ws, "ref", ndim, shape, ref));
    size_t bytes = (size_t)raw.size * (size_t)reps, padded = (bytes + 3) / 4 * 4;
    uint8_t *host = calloc(1, padded);
    for (int r = 0; r < reps; r++) memcpy(host + (size_t)raw.size * (size_t)r, raw.data, (size_t)raw.size);
    evk_buffer blocks;
    TEST_OK(evk_buffer_alloc(ctx, padded, &blocks));
    TEST_OK(evk_buffer_upload(ctx, &blocks, 0, host, padded));
    int64_t oshape[2] = {shape[0] * reps, shape[1]};
    evk_tensor out;
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 2, oshape, &out));
    test_poison(ctx, &out.buf);
    evk_stream *s;
    TEST_OK(evk_stream_create(ctx, &s));
    TEST_OK(evk_stream_begin(s));
    TEST_OK(evk_op_dequant(s, types[k].type, &blocks, &out));
    TEST_OK(evk_stream_run(s));
    float *got = malloc(n * (size_t)reps * 4);
    TEST_OK(evk_tensor_download_f32(ctx, &out, got));
    uint32_t block;
    assert_true(evk_gguf_type_block(types[k].type, &block, NULL));
    for (int r = 0; r < reps; r++) check_bits(got + n * (size_t)r, ref, n, block, types[k].file);
    /* an output whose size is not whole blocks is refused */
    int64_t odd[1] = {(int64_t)block + 1};
    evk_tensor bad;
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 1, odd, &bad));
    TEST_OK(evk_stream_begin(s));
    assert_int_equal(evk_op_dequant(s, types[k].type, &blocks, &bad), EVK_ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(evk_error_message(), "multiple of"));
    TEST_OK(evk_stream_run(s));
    evk_tensor_free(ctx, &bad);
    evk_stream_destroy(s);
    evk_tensor_free(ctx, &out);
    evk_buffer_free(ctx, &blocks);
    free(got);
    free(host);
    free(ref);
    evk_weights_close(ws);
}

static void test_device_dequant(void **state) {
    evk_context *ctx = *state;
    for (size_t k = 0; k < NTYPES; k++) {
        if (evk_op_dequant_supports(types[k].type)) {
            dequant_on_device(ctx, k, 37); /* thousands of elements, an odd number of workgroups */
        } else {
            assert_true(types[k].type == EVK_GGUF_F32 || types[k].type == EVK_GGUF_F16 || types[k].type == EVK_GGUF_BF16);
        }
        /* Q4_K once more with 17 M outputs (68 MiB), more than one row of 65,535 workgroups: several
         * dispatches (a single 2-D grid lost invocations on lavapipe, see op_dequant.c) */
        if (types[k].type == EVK_GGUF_Q4_K) dequant_on_device(ctx, k, 16650);
    }
}

static void test_metadata(void **state) {
    (void)state;
    char path[512];
    evk_gguf *g;
    TEST_OK(evk_gguf_open(gguf_path("meta", path, sizeof path), &g));
    assert_int_equal(evk_gguf_kv_count(g), 22);
    assert_string_equal(evk_gguf_kv_at(g, 0)->key, "general.architecture");
    static const struct { const char *key; int64_t v; } ints[] = {
        {"v.u8", 200}, {"v.i8", -100}, {"v.u16", 60000}, {"v.i16", -30000}, {"v.u32", 4000000000ll},
        {"v.i32", -2000000000ll}, {"v.bool", 1}, {"v.i64", -(1ll << 62)},
    };
    for (size_t i = 0; i < sizeof ints / sizeof *ints; i++) {
        const evk_gguf_kv *kv = evk_gguf_kv_find(g, ints[i].key);
        assert_non_null(kv);
        int64_t v;
        if (!evk_gguf_kv_int(kv, 0, &v) || v != ints[i].v) fail_msg("%s: expected %lld", ints[i].key, (long long)ints[i].v);
        assert_false(evk_gguf_kv_int(kv, 1, &v));
    }
    int64_t iv;
    double d;
    const evk_gguf_kv *u64 = evk_gguf_kv_find(g, "v.u64");
    assert_int_equal(u64->type, EVK_GGUF_UINT64);
    assert_false(evk_gguf_kv_int(u64, 0, &iv)); /* 2^63 + 5 does not fit */
    assert_true(evk_gguf_kv_float(u64, 0, &d) && d == 9223372036854775813.0);
    assert_true(evk_gguf_kv_float(evk_gguf_kv_find(g, "v.f32"), 0, &d) && d == 1.5);
    assert_true(evk_gguf_kv_float(evk_gguf_kv_find(g, "v.f64"), 0, &d) && d == -0.125);
    assert_false(evk_gguf_kv_int(evk_gguf_kv_find(g, "v.f32"), 0, &iv));
    uint64_t pos = 0;
    size_t len;
    const evk_gguf_kv *str = evk_gguf_kv_find(g, "v.str");
    const char *s = evk_gguf_kv_next_string(str, &pos, &len);
    assert_true(s && len == 6 && !memcmp(s, "h\xc3\xa9llo", 6));
    assert_null(evk_gguf_kv_next_string(str, &pos, &len));
    /* arrays */
    const evk_gguf_kv *a = evk_gguf_kv_find(g, "a.u8");
    assert_int_equal(a->type, EVK_GGUF_ARRAY);
    assert_int_equal(a->elem, EVK_GGUF_UINT8);
    assert_int_equal(a->count, 3);
    assert_true(evk_gguf_kv_int(a, 2, &iv) && iv == 255);
    a = evk_gguf_kv_find(g, "a.i16");
    assert_true(evk_gguf_kv_int(a, 0, &iv) && iv == -2);
    a = evk_gguf_kv_find(g, "a.i32");
    assert_true(a->count == 4 && evk_gguf_kv_int(a, 3, &iv) && iv == 2147483647);
    assert_false(evk_gguf_kv_int(a, 4, &iv));
    a = evk_gguf_kv_find(g, "a.f32");
    assert_true(evk_gguf_kv_float(a, 1, &d) && d == -2.0);
    a = evk_gguf_kv_find(g, "a.bool");
    assert_true(evk_gguf_kv_int(a, 1, &iv) && iv == 0);
    a = evk_gguf_kv_find(g, "a.u64");
    assert_true(evk_gguf_kv_int(a, 0, &iv) && iv == (1ll << 40));
    a = evk_gguf_kv_find(g, "a.f64");
    assert_true(evk_gguf_kv_float(a, 0, &d) && d == 3.5);
    a = evk_gguf_kv_find(g, "a.empty");
    assert_true(a->count == 0 && a->elem == EVK_GGUF_INT32 && !evk_gguf_kv_int(a, 0, &iv));
    a = evk_gguf_kv_find(g, "a.str");
    const char *want[] = {"alpha", "", "gamma"};
    pos = 0;
    for (int i = 0; i < 3; i++) {
        s = evk_gguf_kv_next_string(a, &pos, &len);
        assert_non_null(s);
        assert_int_equal(len, strlen(want[i]));
        assert_memory_equal(s, want[i], len);
    }
    assert_null(evk_gguf_kv_next_string(a, &pos, &len));
    assert_null(evk_gguf_kv_find(g, "general.alignment"));
    assert_null(evk_gguf_kv_find(g, "v"));
    /* a 2x3 tensor is stored with ne = [3, 2] */
    const evk_st_tensor *t = evk_gguf_find(g, "t");
    assert_true(t && t->ndim == 2 && t->shape[0] == 2 && t->shape[1] == 3 && t->dtype == EVK_ST_F32);
    float v[6];
    TEST_OK(evk_st_convert(t, 0, 6, EVK_DTYPE_F32, v));
    for (int i = 0; i < 6; i++) assert_true(v[i] == (float)i - 2.5f);
    assert_null(evk_gguf_find(g, "missing"));
    evk_gguf_close(g);
}

static void test_unsupported_type(void **state) {
    (void)state;
    char path[512];
    evk_weights *ws;
    TEST_OK(evk_weights_open(NULL, gguf_path("unsupported", path, sizeof path), &ws));
    const evk_st_tensor *q2 = evk_weights_lookup(ws, "q2", NULL);
    assert_true(q2 && q2->dtype == EVK_ST_QUANT && q2->quant == EVK_GGUF_Q2_K && q2->numel == 1024);
    float buf[1024];
    int64_t shape[2] = {2, 512};
    assert_int_equal(evk_weights_read_f32(ws, "q2", 2, shape, buf), EVK_ERROR_FORMAT);
    assert_non_null(strstr(evk_error_message(), "'q2'"));
    assert_non_null(strstr(evk_error_message(), "Q2_K"));
    evk_weight_raw raw;
    assert_int_equal(evk_weights_raw(ws, "q2", 2, shape, &raw), EVK_ERROR_FORMAT);
    assert_int_equal(evk_st_convert(q2, 0, 4, EVK_DTYPE_F32, buf), EVK_ERROR_FORMAT);
    int64_t four[1] = {4};
    TEST_OK(evk_weights_read_f32(ws, "f", 1, four, buf));
    assert_true(buf[0] == 1.0f && buf[3] == 1.0f);
    evk_weights_close(ws);
}

/* Every strict prefix of a valid file that cuts into its header or tensor data is refused. */
static void test_prefixes(void **state) {
    (void)state;
    char path[512];
    gguf_path("q5_1", path, sizeof path);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    uint8_t *bytes = malloc(8192);
    size_t size = fread(bytes, 1, 8192, f);
    fclose(f);
    evk_gguf *g;
    TEST_OK(evk_gguf_parse(bytes, size, "q5_1", &g));
    const evk_st_tensor *last = evk_gguf_find(g, "ref");
    size_t data_end = (size_t)(last->data - bytes) + (size_t)(last->end - last->begin);
    evk_gguf_close(g);
    for (size_t n = 0; n < size; n++) {
        uint8_t *copy = malloc(n ? n : 1); /* exact-size copies, so ASan sees any read past the end */
        memcpy(copy, bytes, n);
        evk_status s = evk_gguf_parse(copy, n, "prefix", &g);
        if (n < data_end) {
            if (s != EVK_ERROR_FORMAT) fail_msg("prefix of %zu bytes: %s (%s)", n, evk_status_name(s), evk_error_message());
        } else {
            TEST_OK(s);
            evk_gguf_close(g);
        }
        free(copy);
    }
    free(bytes);
}

/* IEEE half to float, written out here rather than taken from core/ (evk_f16_to_f32) so the
 * reference below does not share code with the dequantisation it checks. */
static float half_to_float(uint16_t h) {
    int e = h >> 10 & 31, m = h & 1023;
    float v = e == 0 ? ldexpf((float)m, -24) : e == 31 ? (m ? NAN : INFINITY) : ldexpf((float)(m | 1024), e - 25);
    return h >> 15 ? -v : v;
}

/* ComfyUI-GGUF's comfy.gguf.orig_shape keys: a tensor stored [2, 3] that is [1, 2, 1, 3, 1] (five
 * dimensions, beyond GGUF's four), a Q8_0 kernel stored as rows of 256 that is [8, 4, 4, 4], whose
 * rows of 4 hold no blocks (so "as stored" dequantises it to f16) and whose values are the blocks'
 * in the same order; a tensor without a key keeps its shape. */
static void test_orig_shape(void **state) {
    evk_context *ctx = *state;
    char path[512];
    gguf_path("orig_shape", path, sizeof path);
    evk_gguf *g;
    TEST_OK(evk_gguf_open(path, &g));
    const evk_st_tensor *five = evk_gguf_find(g, "five"), *kernel = evk_gguf_find(g, "kernel"), *plain = evk_gguf_find(g, "plain");
    assert_non_null(five), assert_non_null(kernel), assert_non_null(plain);
    const int64_t want5[5] = {1, 2, 1, 3, 1}, want4[4] = {8, 4, 4, 4};
    assert_int_equal(five->ndim, 5);
    assert_memory_equal(five->shape, want5, sizeof want5);
    assert_int_equal(kernel->ndim, 4);
    assert_memory_equal(kernel->shape, want4, sizeof want4);
    assert_int_equal(kernel->dtype, EVK_ST_QUANT);
    assert_int_equal(plain->ndim, 2);
    assert_true(plain->shape[0] == 2 && plain->shape[1] == 3);
    /* the kernel's values: its 16 Q8_0 blocks dequantised in file order */
    float blocks[512], got[512];
    for (int b = 0; b < 16; b++) {
        const uint8_t *q = kernel->data + 34 * b;
        uint16_t h = (uint16_t)(q[0] | q[1] << 8);
        float d = half_to_float(h);
        for (int k = 0; k < 32; k++) blocks[32 * b + k] = d * (float)(int8_t)q[2 + k];
    }
    evk_gguf_close(g);
    evk_weights *ws;
    TEST_OK(evk_weights_open(ctx, path, &ws));
    evk_tensor t;
    TEST_OK(evk_weights_get(ws, "kernel", 4, want4, EVK_DTYPE_QUANT, &t));
    assert_int_equal(t.dtype, EVK_DTYPE_F16);
    evk_tensor_free(ctx, &t);
    TEST_OK(evk_weights_get(ws, "kernel", 4, want4, EVK_DTYPE_F32, &t));
    TEST_OK(evk_tensor_download_f32(ctx, &t, got));
    check_bits(got, blocks, 512, 32, "kernel under its original shape");
    evk_tensor_free(ctx, &t);
    TEST_OK(evk_weights_get(ws, "five", 5, want5, EVK_DTYPE_F32, &t));
    evk_tensor_free(ctx, &t);
    evk_weights_close(ws);
    test_assert_no_validation(ctx);
}

static void test_bad_files(void **state) {
    (void)state;
    static const struct { const char *file, *m1, *m2; } bad[] = {
        {"bad_magic", "not a GGUF file", NULL},
        {"bad_short", "truncated GGUF header", NULL},
        {"bad_v1", "version 1", "not supported"},
        {"bad_bigendian", "big-endian", NULL},
        {"bad_v9", "unknown GGUF version 9", NULL},
        {"bad_tensor_count", "tensor count 4611686018427387904", NULL},
        {"bad_kv_count", "key/value count 1099511627776", NULL},
        {"bad_key_len", "key 0 of 1 runs past the end", NULL},
        {"bad_string_len", "metadata 'k'", "string of 1125899906842624 bytes runs past the end"},
        {"bad_array_count", "metadata 'k'", "array of 1099511627776 UINT32 elements"},
        {"bad_nested_array", "metadata 'k'", "arrays of arrays"},
        {"bad_value_type", "metadata 'k'", "unknown value type 13"},
        {"bad_bool", "metadata 'flag'", "BOOL value 2"},
        {"bad_dup_key", "key 'general.name' appears twice", NULL},
        {"bad_alignment_type", "'general.alignment' is UINT64, not UINT32", NULL},
        {"bad_alignment_value", "'general.alignment' is 48, not a power of two", NULL},
        {"bad_rank", "tensor 'a'", "rank 5"},
        {"bad_dim", "tensor 'a'", "dimension 0 is -3"},
        {"bad_type", "tensor 'a'", "unknown ggml type 4"},
        {"bad_block", "tensor 'a'", "row length 20 is not a multiple of the Q8_0 block size 32"},
        {"bad_offset_align", "tensor 'b'", "offset 8 is not a multiple of the alignment 32"},
        {"bad_truncated", "tensor 'a'", "run past"},
        {"bad_overlap", "overlap tensor", NULL},
        {"bad_dup_name", "tensor 'a' appears twice", NULL},
        {"bad_overflow", "tensor 'a'", "element count overflows"},
        {"bad_empty_name", "tensor 0", "name is empty"},
        {"bad_trailing", "bytes past the last tensor", NULL},
        {"bad_gap", "tensor 'b'", "32 unused bytes"},
        {"bad_name_nul", "tensor 0", "NUL byte"},
        {"bad_info_truncated", "tensor info 0 of 1 runs past the end", NULL},
        {"bad_orig_shape_type", "'comfy.gguf.orig_shape.a' (the original shape of tensor 'a')", "not an array of 1 to 8 integers"},
        {"bad_orig_shape_count", "'comfy.gguf.orig_shape.a'", "a shape of 8 elements, but tensor 'a' holds 6"},
        {"bad_orig_shape_dim", "'comfy.gguf.orig_shape.a'", "dimension 0 is -2"},
        {"bad_orig_shape_rank", "'comfy.gguf.orig_shape.a'", "not an array of 1 to 8 integers"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char path[512];
        gguf_path(bad[i].file, path, sizeof path);
        evk_gguf *g = (evk_gguf *)1;
        evk_status s = evk_gguf_open(path, &g);
        if (s != EVK_ERROR_FORMAT) fail_msg("%s: expected EVK_ERROR_FORMAT, got %s (%s)", bad[i].file, evk_status_name(s), evk_error_message());
        assert_null(g);
        const char *m = evk_error_message();
        if (!strstr(m, path)) fail_msg("%s: message does not name the file: %s", bad[i].file, m);
        if (!strstr(m, bad[i].m1)) fail_msg("%s: message lacks '%s': %s", bad[i].file, bad[i].m1, m);
        if (bad[i].m2 && !strstr(m, bad[i].m2)) fail_msg("%s: message lacks '%s': %s", bad[i].file, bad[i].m2, m);
        /* and through a weight set, which must not take it for safetensors */
        evk_weights *ws = NULL;
        if (strcmp(bad[i].file, "bad_magic") && strcmp(bad[i].file, "bad_short")) {
            assert_int_equal(evk_weights_open(NULL, path, &ws), EVK_ERROR_FORMAT);
            assert_null(ws);
            if (!strstr(evk_error_message(), bad[i].m1)) fail_msg("%s via weights: %s", bad[i].file, evk_error_message());
        }
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_types_host),
        cmocka_unit_test(test_types_device),
        cmocka_unit_test(test_device_dequant),
        cmocka_unit_test(test_metadata),
        cmocka_unit_test(test_unsupported_type),
        cmocka_unit_test(test_prefixes),
        cmocka_unit_test(test_orig_shape),
        cmocka_unit_test(test_bad_files),
    };
    return cmocka_run_group_tests(tests, test_group_setup, test_group_teardown);
}
