/* test_op_grid.c — 1-D kernels whose grid spills into a second row of workgroups (more than
 * 65,535 groups: evk__grid_1d lays them out as 65,535 x rows). Every element of a fill, a
 * broadcast add and a Q8_0 dequantisation just past that size is checked against a host
 * reference, with outputs poisoned from the host first (not by the fill kernel under test), so
 * an invocation that computes the wrong flat index or never runs leaves a visible hole. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "ops/op_dequant.h"
#include "ops/op_elementwise.h"

/* Host-side poison, so the kernels under test do not poison their own outputs. */
static void evk__poison_host(evk_context *ctx, const evk_buffer *buf) {
    size_t n = (size_t)(buf->size / 4);
    uint32_t *p = malloc(n * 4);
    assert_non_null(p);
    for (size_t i = 0; i < n; i++) p[i] = TEST_POISON_BITS;
    TEST_OK(evk_buffer_upload(ctx, buf, 0, p, n * 4));
    free(p);
}

/* The op's count needs more groups of `local` invocations than one row of the grid holds. */
static void evk__assert_two_rows(uint64_t count, uint32_t local) {
    assert_true((count + local - 1) / local > 65535);
}

/* Fill 65,535 x 256 + 1,000,003 words (second row: 1,000,003 of 16.7 M invocations) plus an
 * untouched guard word on either side. */
static void test_fill_two_rows(void **state) {
    evk_context *ctx = *state;
    const uint64_t n = 65535ull * 256 + 1000003, total = n + 2;
    evk__assert_two_rows(n, 256);
    evk_buffer b;
    TEST_OK(evk_buffer_alloc(ctx, total * 4, &b));
    evk__poison_host(ctx, &b);
    evk_stream *s;
    TEST_OK(evk_stream_create(ctx, &s));
    TEST_OK(evk_stream_begin(s));
    TEST_OK(evk_op_fill_bits(s, &b, 1, n, 0x12345678u));
    TEST_OK(evk_stream_run(s));
    uint32_t *h = malloc(total * 4);
    assert_non_null(h);
    TEST_OK(evk_buffer_download(ctx, &b, 0, h, total * 4));
    assert_int_equal(h[0], TEST_POISON_BITS);
    assert_int_equal(h[total - 1], TEST_POISON_BITS);
    uint64_t bad = 0, first = 0;
    for (uint64_t i = 1; i <= n; i++)
        if (h[i] != 0x12345678u && !bad++) first = i - 1;
    if (bad) fail_msg("fill: %llu of %llu words not written, the first at word %llu", (unsigned long long)bad,
                      (unsigned long long)n, (unsigned long long)first);
    free(h);
    evk_stream_destroy(s);
    evk_buffer_free(ctx, &b);
}

/* out[r, c] = a[r, c] + b[c] over 17.3 M floats: a's values are distinct per element and b's
 * per column, so a misplaced index shows up as a wrong sum, not only as a missing one. The
 * element count is odd, so CPU devices take the scalar kernel too (their vec4 variant needs a
 * quarter of the invocations and would stay within one row). */
static void test_add_two_rows(void **state) {
    evk_context *ctx = *state;
    const int64_t C = 999, R = 17301;
    const size_t n = (size_t)(R * C);
    evk__assert_two_rows(n, 256);
    float *a = malloc(n * 4), *bias = malloc(C * 4), *got = malloc(n * 4);
    assert_non_null(a);
    assert_non_null(got);
    for (size_t i = 0; i < n; i++) a[i] = (float)(i % 8388608u) * 0.25f; /* exact, distinct within 2^23 */
    for (int64_t c = 0; c < C; c++) bias[c] = 4194304.0f + (float)c;
    int64_t sa[2] = {R, C}, sb[1] = {C};
    evk_tensor ta, tb, tout;
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 2, sa, &ta));
    TEST_OK(evk_tensor_upload_f32(ctx, &ta, a));
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 1, sb, &tb));
    TEST_OK(evk_tensor_upload_f32(ctx, &tb, bias));
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 2, sa, &tout));
    evk__poison_host(ctx, &tout.buf);
    evk_stream *s;
    TEST_OK(evk_stream_create(ctx, &s));
    TEST_OK(evk_stream_begin(s));
    TEST_OK(evk_op_add(s, &ta, &tb, &tout));
    assert_int_equal(evk_stream_dispatch_count(s), 1); /* one dispatch, two rows of groups */
    TEST_OK(evk_stream_run(s));
    TEST_OK(evk_tensor_download_f32(ctx, &tout, got));
    size_t bad = 0, first = 0;
    for (size_t i = 0; i < n; i++) {
        float want = a[i] + bias[i % (size_t)C];
        if (memcmp(&got[i], &want, 4) && !bad++) first = i;
    }
    if (bad) fail_msg("add: %zu of %zu elements wrong, the first at %zu (got %g, want %g)", bad, n, first,
                      (double)got[first], (double)(a[first] + bias[first % (size_t)C]));
    free(a);
    free(bias);
    free(got);
    evk_stream_destroy(s);
    evk_tensor_free(ctx, &ta);
    evk_tensor_free(ctx, &tb);
    evk_tensor_free(ctx, &tout);
}

/* Q8_0 (GGUF type 8: an f16 scale and 32 int8 per 34-byte block) over 5.2 M elements, past the
 * 65,535 x 64 invocations of one row of the kernel's 64-wide groups. Scales are powers of two,
 * so every product is exact. */
static void test_dequant_two_rows(void **state) {
    evk_context *ctx = *state;
    const size_t nblocks = 163000, n = nblocks * 32, bytes = nblocks * 34;
    evk__assert_two_rows(n, 64);
    uint8_t *q = calloc((bytes + 3) / 4 * 4, 1);
    float *got = malloc(n * 4);
    assert_non_null(q);
    assert_non_null(got);
    test_rng rng = {2026};
    for (size_t k = 0; k < nblocks; k++) {
        uint16_t e = (uint16_t)(15 + (int)(k % 7) - 3); /* 2^-3 .. 2^3 */
        uint16_t h16 = (uint16_t)(e << 10);
        memcpy(q + k * 34, &h16, 2);
        for (int j = 0; j < 32; j++) q[k * 34 + 2 + j] = (uint8_t)(test_rng_u64(&rng) & 0xff);
    }
    evk_buffer blocks;
    TEST_OK(evk_buffer_alloc(ctx, (bytes + 3) / 4 * 4, &blocks));
    TEST_OK(evk_buffer_upload(ctx, &blocks, 0, q, (bytes + 3) / 4 * 4));
    int64_t so[1] = {(int64_t)n};
    evk_tensor out;
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 1, so, &out));
    evk__poison_host(ctx, &out.buf);
    evk_stream *s;
    TEST_OK(evk_stream_create(ctx, &s));
    TEST_OK(evk_stream_begin(s));
    TEST_OK(evk_op_dequant(s, 8, &blocks, &out));
    assert_int_equal(evk_stream_dispatch_count(s), 1); /* one dispatch, two rows of groups */
    TEST_OK(evk_stream_run(s));
    TEST_OK(evk_tensor_download_f32(ctx, &out, got));
    size_t bad = 0, first = 0;
    for (size_t i = 0; i < n; i++) {
        size_t k = i / 32;
        float want = ldexpf((float)(int8_t)q[k * 34 + 2 + i % 32], (int)(k % 7) - 3);
        if (memcmp(&got[i], &want, 4) && !bad++) first = i;
    }
    if (bad) fail_msg("dequant Q8_0: %zu of %zu elements wrong, the first at %zu (got %g)", bad, n, first, (double)got[first]);
    free(q);
    free(got);
    evk_stream_destroy(s);
    evk_buffer_free(ctx, &blocks);
    evk_tensor_free(ctx, &out);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fill_two_rows),
        cmocka_unit_test(test_add_two_rows),
        cmocka_unit_test(test_dequant_two_rows),
    };
    return cmocka_run_group_tests(tests, test_group_setup, test_group_teardown);
}
